/* SPDX-License-Identifier: MIT */
/*
 * request.c - the privacy request's state machine and its identities in
 * the state store (see request.h).
 *
 * Identities travel as text, one "kind=value" line each, sorted: kinds are
 * identifiers of the data map (no '=') and values have no control
 * characters (the service checks both), so the text is unambiguous.  It
 * is sealed with meta_box_seal() under its own context string, so a box of
 * a request never opens as a Meta box or a notification address, and the
 * reverse.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "config/config.h"
#include "engine/request.h"
#include "meta/requests.h"
#include "util/buf.h"
#include "util/mem.h"

#define IDS_CONTEXT "lethe-request-ids-v1"
#define NOTIFY_CONTEXT "lethe-request-notify-v1"
/* The longest text of REQUEST_IDS_MAX identities: kind (64), '=', value, '\n' each. */
#define IDS_TEXT_MAX (REQUEST_IDS_MAX * (64 + 2 + REQUEST_ID_VALUE_MAX) + 1)

static const char *const states[] = {
    "received",
    "awaiting_verification",
    "awaiting_review",
    "scheduled",
    "running",
    "completed",
    "completed_with_retention",
    "refused",
    "cancelled",
    "failed",
    "expired",
    "lifted",
};

const struct request_policy *
request_policy_of(const struct lethe_config *cfg, const char *name, const char *kind,
                  const char *scope, const char *source)
{
	size_t i;

	for (i = 0; name != NULL && i < cfg->requests.npolicies; i++)
		if (strcmp(cfg->requests.policies[i].name, name) == 0)
			return &cfg->requests.policies[i];
	return policy_for(cfg, kind, scope != NULL && scope[0] != '\0' ? scope : NULL, source);
}

bool
request_state_ok(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

const char *
request_state_at(size_t i)
{
	_Static_assert(sizeof(states) / sizeof(states[0]) == REQUEST_NSTATES, "REQUEST_NSTATES");
	return i < REQUEST_NSTATES ? states[i] : NULL;
}

bool
request_state_final(const char *s)
{
	/* failed is final for the queue, not for the person: a retry reopens it. */
	return strcmp(s, "completed") == 0 || strcmp(s, "completed_with_retention") == 0 ||
	       strcmp(s, "refused") == 0 || strcmp(s, "cancelled") == 0 ||
	       strcmp(s, "failed") == 0 || strcmp(s, "expired") == 0 || strcmp(s, "lifted") == 0;
}

const char *
request_accepted(const struct request_policy *p)
{
	return p->review ? "awaiting_review" : "scheduled";
}

const char *
request_initial(const struct request_policy *p, bool verified)
{
	return p->verify && !verified ? "awaiting_verification" : request_accepted(p);
}

const char *
request_act_from(enum request_act a, const char *kind)
{
	bool exp = kind != NULL && strcmp(kind, "export") == 0;

	switch (a) {
	case REQUEST_VERIFY:
		return "awaiting_verification";
	case REQUEST_APPROVE:
		return "awaiting_review";
	case REQUEST_REFUSE:
		return "received,awaiting_verification,awaiting_review,scheduled";
	case REQUEST_CANCEL:
		/* An export may be withdrawn while it is built and while its archive waits. */
		return exp ? "received,awaiting_verification,awaiting_review,scheduled,running,"
		             "completed"
		           : "received,awaiting_verification,awaiting_review,scheduled";
	case REQUEST_RETRY:
		return "failed";
	case REQUEST_LIFT:
		/* Only a restriction in force is lifted. */
		return kind != NULL && strcmp(kind, "restriction") == 0 ? "completed" : "";
	case REQUEST_EXTEND:
		return "received,awaiting_verification,awaiting_review,scheduled,running,failed";
	}
	return "";
}

const char *
request_act_to(enum request_act a, const struct request_policy *p)
{
	switch (a) {
	case REQUEST_VERIFY:
		return request_accepted(p);
	case REQUEST_APPROVE:
		return "scheduled";
	case REQUEST_REFUSE:
		return "refused";
	case REQUEST_CANCEL:
		return "cancelled";
	case REQUEST_RETRY:
		return "scheduled";
	case REQUEST_LIFT:
		return "lifted";
	case REQUEST_EXTEND:
		return NULL;
	}
	return NULL;
}

const char *
request_act_name(enum request_act a)
{
	static const char *const names[] = {"verify", "approve", "refuse", "cancel",
	                                    "retry",  "extend",  "lift"};

	return (size_t)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

/* qsort: "kind=value" lines in byte order. */
static int
line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The identities as sorted "kind=value\n" lines into @b. */
static void
ids_text(const struct plan_id *ids, size_t n, struct buf *b)
{
	char *lines[REQUEST_IDS_MAX];
	size_t i, k = n < REQUEST_IDS_MAX ? n : REQUEST_IDS_MAX;

	for (i = 0; i < k; i++) {
		size_t nk = strlen(ids[i].kind), nv = strlen(ids[i].value);

		lines[i] = xmalloc(nk + nv + 2);
		memcpy(lines[i], ids[i].kind, nk);
		lines[i][nk] = '=';
		memcpy(lines[i] + nk + 1, ids[i].value, nv + 1);
	}
	qsort(lines, k, sizeof(lines[0]), line_cmp);
	for (i = 0; i < k; i++) {
		buf_addf(b, "%s\n", lines[i]);
		sodium_memzero(lines[i], strlen(lines[i]));
		free(lines[i]);
	}
}

void
request_subject(const uint8_t key[HASH_KEY_LEN], const struct plan_id *ids, size_t n,
                char out[HASH_TEXT_LEN + 1])
{
	struct buf b;

	buf_init(&b, IDS_TEXT_MAX);
	/* "request" NUL text: never the message of a Meta subject ("meta" NUL ...). */
	buf_add(&b, "request", 8);
	ids_text(ids, n, &b);
	hash_keyed(key, b.data, b.len, out);
	sodium_memzero(b.data, b.len);
	buf_free(&b);
}

uint8_t *
request_ids_seal(const uint8_t key[HASH_KEY_LEN], const struct plan_id *ids, size_t n, size_t *len)
{
	struct buf b;
	uint8_t *box;

	buf_init(&b, IDS_TEXT_MAX);
	ids_text(ids, n, &b);
	box = meta_box_seal(key, IDS_CONTEXT, buf_str(&b), len);
	if (b.data != NULL)
		sodium_memzero(b.data, b.len);
	buf_free(&b);
	return box;
}

lethe_rc
request_ids_open(const uint8_t key[HASH_KEY_LEN], const uint8_t *box, size_t len,
                 struct plan_id **ids, size_t *n)
{
	char *text, *line, *next;
	struct plan_id *out;
	size_t k = 0;
	lethe_rc rc;

	*ids = NULL;
	*n = 0;
	if (len == 0)
		return LETHE_E_NOTFOUND;
	text = xmalloc(IDS_TEXT_MAX);
	rc = meta_box_open(key, IDS_CONTEXT, box, len, text, IDS_TEXT_MAX);
	if (rc != LETHE_OK) {
		free(text);
		return rc;
	}
	out = xcalloc(REQUEST_IDS_MAX, sizeof(*out));
	for (line = text; *line != '\0' && k < REQUEST_IDS_MAX; line = next) {
		char *nl = strchr(line, '\n');
		char *eq = strchr(line, '=');

		next = nl != NULL ? nl + 1 : line + strlen(line);
		if (nl != NULL)
			*nl = '\0';
		if (eq == NULL)
			continue;
		*eq = '\0';
		out[k].kind = xstrdup(line);
		out[k].value = xstrdup(eq + 1);
		k++;
	}
	sodium_memzero(text, IDS_TEXT_MAX);
	free(text);
	*ids = out;
	*n = k;
	return k > 0 ? LETHE_OK : LETHE_E_FORBIDDEN;
}

void
request_ids_free(struct plan_id *ids, size_t n)
{
	size_t i;

	for (i = 0; ids != NULL && i < n; i++) {
		sodium_memzero((char *)ids[i].value, strlen(ids[i].value));
		free((char *)ids[i].value);
		free((char *)ids[i].kind);
	}
	free(ids);
}

uint8_t *
request_notify_seal(const uint8_t key[HASH_KEY_LEN], const char *addr, size_t *len)
{
	return meta_box_seal(key, NOTIFY_CONTEXT, addr, len);
}

lethe_rc
request_notify_open(const uint8_t key[HASH_KEY_LEN], const uint8_t *box, size_t len, char *out,
                    size_t cap)
{
	return meta_box_open(key, NOTIFY_CONTEXT, box, len, out, cap);
}
