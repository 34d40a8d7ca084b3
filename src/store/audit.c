/* SPDX-License-Identifier: MIT */
/*
 * audit.c - the audit chain in the state store (store.h "audit chain",
 * docs/internals/proof.md): appending entries in the transaction of the
 * change they record (reading them back, the head and the checkpoints are
 * audit_read.c's).
 *
 * An entry's body is canonical JSON (object keys sorted, no whitespace,
 * integers only) written here field by field rather than through jansson,
 * so that an append stays within a few microseconds: read the head (last
 * seq and hash) under the write lock, build the body with the next seq in
 * it, hash = BLAKE2b-256(previous hash || body), insert.  seq is the
 * table's primary key, so a stale append fails instead of forking the
 * chain.  No personal data enters a body: the subject is already a keyed
 * hash, a free-text reason enters only as its keyed hash `reason_mac`
 * under the anonymize key (store_audit_set_key()).
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdlib.h>

#include "store/store_internal.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/mem.h"

#define AUDIT_BODY_MAX (1024 * 1024) /* an entry's body at most */
#define AUDIT_MEMBERS_MAX 64         /* members of an entry store_audit_append() sorts */

/* The reason_mac key: the anonymize key, set once per process before appends. */
static uint8_t audit_key[HASH_KEY_LEN];
static bool audit_keyed;

void
store_audit_set_key(const uint8_t key[32])
{
	memcpy(audit_key, key, HASH_KEY_LEN);
	audit_keyed = true;
}

/* ---- canonical JSON, by hand ------------------------------------------------ */

/* Append the JSON string of @s (escaped as jansson and Python escape it). */
static lethe_rc
j_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	lethe_rc rc = buf_add(b, "\"", 1);

	for (; rc == LETHE_OK && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = buf_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (rc == LETHE_OK)
			rc = buf_add(b, esc, n);
	}
	if (rc == LETHE_OK)
		rc = buf_add(b, run, (size_t)(s - run));
	if (rc == LETHE_OK)
		rc = buf_add(b, "\"", 1);
	return rc;
}

/* Append the decimal digits of @v. */
static lethe_rc
j_int(struct buf *b, int64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		tmp[--i] = '-';
	return buf_add(b, tmp + i, sizeof(tmp) - i);
}

/* Append the member `"@key":` (after a comma unless @b holds only the opening brace). */
static lethe_rc
j_key(struct buf *b, const char *key)
{
	char tmp[40];
	size_t n = strlen(key), i = 0;

	if (n > sizeof(tmp) - 4)
		return LETHE_E_TOOBIG; /* lethe's own keys are short */
	if (b->len > 1)
		tmp[i++] = ',';
	tmp[i++] = '"';
	memcpy(tmp + i, key, n);
	i += n;
	tmp[i++] = '"';
	tmp[i++] = ':';
	return buf_add(b, tmp, i);
}

static lethe_rc
m_str(struct buf *b, const char *key, const char *v, lethe_rc rc)
{
	if (rc == LETHE_OK)
		rc = j_key(b, key);
	return rc == LETHE_OK ? j_string(b, v != NULL ? v : "") : rc;
}

static lethe_rc
m_int(struct buf *b, const char *key, int64_t v, lethe_rc rc)
{
	if (rc == LETHE_OK)
		rc = j_key(b, key);
	return rc == LETHE_OK ? j_int(b, v) : rc;
}

/* ---- appending ---------------------------------------------------------------- */

/* The body buffer of @st, emptied: kept between appends so that one allocates nothing. */
static struct buf *
body_buf(struct store *st)
{
	struct buf *b = &st->audit_buf;

	if (b->cap == 0)
		buf_init(b, AUDIT_BODY_MAX);
	buf_reset(b);
	return b;
}

/* What an entry's row holds besides its body and hash (its body says the same). */
struct entry_cols {
	int64_t request_id; /* 0: none (NULL) */
	const char *type;   /* request, erase_step, scan, reapply... */
	const char *state;  /* NULL: none */
	int64_t at;         /* epoch s */
};

/* Write the body of the entry of seq @seq into @b (empty); LETHE_E_TOOBIG if too long. */
typedef lethe_rc (*body_fn)(struct buf *b, int64_t seq, const void *arg);

/* sq_watch_txn() callback: a statement that opens, ends or undoes part of a transaction. */
static void
head_watch(void *ctx)
{
	struct store *st = ctx;

	st->audit_head.valid = false;
}

void
store__audit_watch(struct store *st)
{
	st->audit_head.valid = false;
	sq_watch_txn(st->c, head_watch, st);
}

/*
 * The head the next append extends into st->audit_head: the one this write
 * transaction last read or wrote (kept until a statement opens, ends or
 * rolls back a transaction or savepoint, or an append fails), else read
 * now, under the caller's write lock.
 */
static lethe_rc
head_load(struct store *st, struct lethe_err *err)
{
	bool in_tx = sq_in_txn(st->c);
	lethe_rc rc;

	if (st->audit_head.valid && in_tx)
		return LETHE_OK;
	st->audit_head.valid = false;
	rc = store_audit_head(st, &st->audit_head.seq, st->audit_head.hash, err);
	st->audit_head.valid = rc == LETHE_OK && in_tx;
	return rc;
}

/*
 * Append one entry (@c, its body written by @build for the next seq) at
 * the head, in the caller's transaction: hash = BLAKE2b-256(head's hash ||
 * body), insert, and the entry is the head.  *@seq (may be NULL) gets its
 * seq.  seq being the primary key, a stale head fails rather than forks.
 */
static lethe_rc
chain_append(struct store *st, const struct entry_cols *c, body_fn build, const void *arg,
             int64_t *seq, struct lethe_err *err)
{
	struct buf *b = body_buf(st);
	crypto_generichash_state h;
	uint8_t hash[STORE_AUDIT_HASH];
	int64_t next;
	lethe_rc rc;

	rc = head_load(st, err);
	next = st->audit_head.seq + 1;
	if (rc == LETHE_OK) {
		rc = build(b, next, arg);
		if (rc == LETHE_E_TOOBIG)
			rc = lethe_err_set(err, LETHE_E_TOOBIG, "audit: an entry is too long");
	}
	if (rc == LETHE_OK) {
		crypto_generichash_init(&h, NULL, 0, sizeof(hash));
		crypto_generichash_update(&h, st->audit_head.hash, sizeof(hash));
		crypto_generichash_update(&h, (const unsigned char *)b->data, b->len);
		crypto_generichash_final(&h, hash, sizeof(hash));
		rc =
		    store__execf(st, err,
		                 "INSERT INTO audit (seq, at, request_id, type, state, body, hash) "
		                 "VALUES (?1, ?2, nullif(?3, 0), ?4, ?5, ?6, ?7)",
		                 "iiitttb", next, c->at, c->request_id, c->type, c->state, b->data,
		                 (const void *)hash, sizeof(hash));
	}
	if (rc != LETHE_OK) {
		st->audit_head.valid = false;
		return rc;
	}
	st->audit_head.seq = next;
	memcpy(st->audit_head.hash, hash, sizeof(hash));
	if (seq != NULL)
		*seq = next;
	return LETHE_OK;
}

/* The facts of a request event and its request, for a "request" entry. */
struct event_facts {
	int64_t request_id, at, received_at, due_at;
	char *state, *actor, *reason, *app, *kind, *scope, *source, *subject;
};

static void
request_row(struct sq_stmt *q, void *arg)
{
	struct event_facts *f = arg;

	f->app = store__col_dup(q, 0);
	f->kind = store__col_dup(q, 1);
	f->scope = store__col_dup(q, 2);
	f->source = store__col_dup(q, 3);
	f->subject = store__col_dup(q, 4);
	f->received_at = sq_col_int(q, 5);
	f->due_at = sq_col_int(q, 6);
}

static void
event_facts_clear(struct event_facts *f)
{
	free(f->state);
	free(f->actor);
	free(f->reason);
	free(f->app);
	free(f->kind);
	free(f->scope);
	free(f->source);
	free(f->subject);
}

/* A request entry's body (a body_fn over a struct event_facts): its members in sorted order. */
static lethe_rc
request_body(struct buf *b, int64_t seq, const void *arg)
{
	const struct event_facts *f = arg;
	lethe_rc rc = buf_add(b, "{", 1);

	rc = m_str(b, "actor", f->actor, rc);
	rc = m_str(b, "app", f->app, rc);
	rc = m_int(b, "at", f->at, rc);
	rc = m_int(b, "due_at", f->due_at, rc);
	rc = m_str(b, "kind", f->kind, rc);
	/* (reason_mac sorts before received_at: "rea" < "rec".) */
	if (f->reason != NULL && f->reason[0] != '\0' && audit_keyed) {
		char mac[HASH_TEXT_LEN + 1];
		char *text = xasprintf("lethe-audit-reason:%s", f->reason);

		hash_keyed(audit_key, text, strlen(text), mac);
		free(text);
		rc = m_str(b, "reason_mac", mac, rc);
	}
	rc = m_int(b, "received_at", f->received_at, rc);
	rc = m_int(b, "request", f->request_id, rc);
	rc = m_str(b, "scope", f->scope, rc);
	rc = m_int(b, "seq", seq, rc);
	rc = m_str(b, "source", f->source, rc);
	rc = m_str(b, "state", f->state, rc);
	rc = m_str(b, "subject", f->subject, rc);
	rc = m_str(b, "type", "request", rc);
	if (rc == LETHE_OK)
		rc = buf_add(b, "}", 1);
	return rc;
}

/* Append the "request" entry of @f (its request's facts read into it). */
static lethe_rc
audit_request(struct store *st, struct event_facts *f, struct lethe_err *err)
{
	struct entry_cols c = {
	    .request_id = f->request_id, .type = "request", .state = f->state, .at = f->at};
	lethe_rc rc;

	rc =
	    store__one(st, err, "reading a request", request_row, f,
	               "SELECT app, coalesce(kind, ''), coalesce(scope, ''), coalesce(source, ''), "
	               "subject, received_at, coalesce(due_at, 0) FROM requests WHERE id = ?1",
	               "i", f->request_id);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_INTERNAL, "audit: request %lld vanished",
		                     (long long)f->request_id);
	if (rc != LETHE_OK)
		return rc;
	return chain_append(st, &c, request_body, f, NULL, err);
}

lethe_rc
store__audit_request(struct store *st, int64_t id, int64_t at, const char *state, const char *actor,
                     const char *reason, struct lethe_err *err)
{
	struct event_facts f = {.request_id = id, .at = at};
	lethe_rc rc;

	f.state = xstrdup(state);
	f.actor = xstrdup(actor != NULL ? actor : "");
	f.reason = reason != NULL ? xstrdup(reason) : NULL;
	rc = audit_request(st, &f, err);
	event_facts_clear(&f);
	return rc;
}

/* One step of a job, for its "erase_step" entry. */
struct job_step {
	char *name, *action;
	int64_t rows, media, missing, until;
};

/* The steps of job @job (in their order) into *@out, *@n. */
static lethe_rc
job_steps(struct store *st, int64_t job, struct job_step **out, size_t *n, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	size_t cap = 0;
	lethe_rc rc;

	*out = NULL;
	*n = 0;
#define STEPS(instr)                                                                               \
	"SELECT s.table_name, s.action, s.done, s.media, s.media_missing, (SELECT max(until) "     \
	"FROM holds h WHERE h.job_id = s.job_id AND h.table_name = " STORE_STEP_TABLE(             \
	    instr) ") "                                                                            \
	           "FROM job_steps s WHERE s.job_id = ?1 ORDER BY s.rowid"
	rc = store__prepf(st, &q, err, SQ2(st->c, STEPS("instr"), STEPS("strpos")), "i", job);
#undef STEPS
	while (store__row(st, q, &rc, err, "reading a job's steps")) {
		struct job_step *s;

		*out = xgrow(*out, &cap, *n + 1, sizeof(**out));
		s = &(*out)[(*n)++];
		s->name = store__col_dup(q, 0);
		s->action = store__col_dup(q, 1);
		s->rows = sq_col_int(q, 2);
		s->media = sq_col_int(q, 3);
		s->missing = sq_col_int(q, 4);
		s->until = sq_col_int(q, 5);
	}
	store__unprep(st, q);
	return rc;
}

/* An entry of an erase job: one of its steps, or its scan. */
struct job_entry {
	const struct job_step *step;   /* the step, or NULL for the scan */
	const struct store_scan *scan; /* the scan, when step is NULL */
	int64_t request_id, job, now;
};

/* An "erase_step" entry's body (a body_fn over a struct job_entry). */
static lethe_rc
step_body(struct buf *b, int64_t seq, const void *arg)
{
	const struct job_entry *j = arg;
	const struct job_step *s = j->step;
	const char *hash = s->name != NULL ? strchr(s->name, '#') : NULL;
	char *table = s->name == NULL ? xstrdup("")
	              : hash != NULL  ? xstrndup(s->name, (size_t)(hash - s->name))
	                              : xstrdup(s->name);
	lethe_rc rc = buf_add(b, "{", 1);

	rc = m_str(b, "action", s->action, rc);
	rc = m_int(b, "at", j->now, rc);
	rc = m_int(b, "job", j->job, rc);
	rc = m_int(b, "media", s->media, rc);
	rc = m_int(b, "media_missing", s->missing, rc);
	rc = m_str(b, "part", s->name, rc);
	rc = m_int(b, "request", j->request_id, rc);
	rc = m_int(b, "rows", s->rows, rc);
	rc = m_int(b, "seq", seq, rc);
	rc = m_str(b, "table", table, rc);
	rc = m_str(b, "type", "erase_step", rc);
	if (s->until > 0)
		rc = m_int(b, "until", s->until, rc);
	if (rc == LETHE_OK)
		rc = buf_add(b, "}", 1);
	free(table);
	return rc;
}

/* A "scan" entry's body (a body_fn over a struct job_entry). */
static lethe_rc
scan_body(struct buf *b, int64_t seq, const void *arg)
{
	const struct job_entry *j = arg;
	const struct store_scan *s = j->scan;
	lethe_rc rc = buf_add(b, "{", 1);

	rc = m_int(b, "at", j->now, rc);
	rc = m_int(b, "job", j->job, rc);
	rc = m_int(b, "request", j->request_id, rc);
	rc = m_str(b, "result", s->result, rc);
	rc = m_int(b, "rows", s->rows, rc);
	rc = m_int(b, "secure_delete", s->secure_delete, rc);
	rc = m_int(b, "seq", seq, rc);
	rc = m_int(b, "tables", s->tables, rc);
	rc = m_str(b, "type", "scan", rc);
	rc = m_str(b, "wal", s->wal, rc);
	if (rc == LETHE_OK)
		rc = buf_add(b, "}", 1);
	return rc;
}

lethe_rc
store_audit_job(struct store *st, int64_t request_id, int64_t job_id, const struct store_scan *scan,
                int64_t now, struct lethe_err *err)
{
	struct job_step *steps = NULL;
	struct job_entry j = {.request_id = request_id, .job = job_id, .now = now};
	struct entry_cols c = {.request_id = request_id, .type = "erase_step", .at = now};
	size_t i, n = 0;
	bool own = false;
	lethe_rc rc = LETHE_OK;

	if (job_id == 0 && scan == NULL)
		return LETHE_OK;
	if (job_id != 0)
		rc = job_steps(st, job_id, &steps, &n, err);
	if (rc == LETHE_OK)
		rc = store__tx_begin(st, &own, err);
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		j.step = &steps[i];
		rc = chain_append(st, &c, step_body, &j, NULL, err);
	}
	if (rc == LETHE_OK && scan != NULL) {
		j.step = NULL;
		j.scan = scan;
		j.job = scan->job_id != 0 ? scan->job_id : job_id;
		c.type = "scan";
		rc = chain_append(st, &c, scan_body, &j, NULL, err);
	}
	if (own)
		rc = store__tx_end(st, own, rc, err);
	for (i = 0; i < n; i++) {
		free(steps[i].name);
		free(steps[i].action);
	}
	free(steps);
	return rc;
}

/* One member of an entry being assembled: its key and its whole text ("key":value). */
struct member {
	const char *key; /* not NUL-terminated: @keylen bytes */
	size_t keylen;
	const char *text;
	size_t len;
};

/* Keys in byte order (short keys: a loop beats a call to memcmp). */
static int
member_cmp(const struct member *x, const struct member *y)
{
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen, i;

	for (i = 0; i < n; i++)
		if (x->key[i] != y->key[i])
			return (unsigned char)x->key[i] < (unsigned char)y->key[i] ? -1 : 1;
	return x->keylen < y->keylen ? -1 : x->keylen > y->keylen;
}

/*
 * Split @fields (JSON object members without braces) into @m; false if it
 * is not a list of "key":value members.
 */
static bool
split_members(const char *fields, struct member *m, size_t cap, size_t *n)
{
	const char *p = fields;

	*n = 0;
	while (*p != '\0') {
		const char *start = p;
		int depth = 0;

		if (*p != '"' || *n >= cap)
			return false;
		m[*n].key = ++p;
		while (*p != '\0' && *p != '"')
			p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
		if (*p != '"' || p[1] != ':')
			return false;
		m[*n].keylen = (size_t)(p - m[*n].key);
		p += 2;
		/* A number: its digits (the common case, without the scan below). */
		while ((*p >= '0' && *p <= '9') || *p == '-')
			p++;
		for (; *p != '\0'; p++) {
			if (*p == '"') {
				/* A string: to its closing quote, one not escaped by an odd run of
				 * '\'. */
				const char *q = p;

				while ((q = strchr(q + 1, '"')) != NULL) {
					const char *e = q;

					while (e > p + 1 && e[-1] == '\\')
						e--;
					if ((q - e) % 2 == 0)
						break;
				}
				if (q == NULL)
					return false;
				p = q;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth < 0)
					return false;
			} else if (*p == ',' && depth == 0) {
				break;
			}
		}
		if (depth != 0 || p == start)
			return false;
		m[*n].text = start;
		m[*n].len = (size_t)(p - start);
		(*n)++;
		if (*p == ',')
			p++;
	}
	return true;
}

/* lethe's own members of an appended entry, in their sorted order. */
static const struct member own_keys[] = {
    {.key = "at", .keylen = 2},    {.key = "request", .keylen = 7}, {.key = "seq", .keylen = 3},
    {.key = "state", .keylen = 5}, {.key = "type", .keylen = 4},
};
#define OWN_KEYS (sizeof(own_keys) / sizeof(own_keys[0]))

/* An entry store_audit_append() writes: the caller's members (sorted) and lethe's own. */
struct append_entry {
	const struct member *m;
	size_t n;
	const struct entry_cols *c;
};

/* Whether own member @k is in the entry of @c (request and state are optional). */
static bool
own_present(const struct entry_cols *c, size_t k)
{
	return (k != 1 || c->request_id != 0) && (k != 3 || c->state != NULL);
}

/* The body of an appended entry (a body_fn): the caller's members merged with lethe's. */
static lethe_rc
append_body(struct buf *b, int64_t seq, const void *arg)
{
	const struct append_entry *a = arg;
	const struct entry_cols *c = a->c;
	lethe_rc rc = buf_add(b, "{", 1);
	size_t i = 0, k;

	for (k = 0; rc == LETHE_OK && k <= OWN_KEYS; k++) {
		/* The caller's members before own key k: runs adjacent in @fields in one copy. */
		while (rc == LETHE_OK && i < a->n &&
		       (k == OWN_KEYS || member_cmp(&a->m[i], &own_keys[k]) < 0)) {
			const char *start = a->m[i].text;
			size_t len = a->m[i].len;

			for (i++; i < a->n && a->m[i].text == start + len + 1 &&
			          (k == OWN_KEYS || member_cmp(&a->m[i], &own_keys[k]) < 0);
			     i++)
				len += 1 + a->m[i].len;
			if (b->len > 1)
				rc = buf_add(b, ",", 1);
			if (rc == LETHE_OK)
				rc = buf_add(b, start, len);
		}
		if (k == OWN_KEYS || !own_present(c, k))
			continue;
		if (k == 0 || k == 1 || k == 2)
			rc = m_int(b, own_keys[k].key,
			           k == 0   ? c->at
			           : k == 1 ? c->request_id
			                    : seq,
			           rc);
		else
			rc = m_str(b, own_keys[k].key, k == 3 ? c->state : c->type, rc);
	}
	if (rc == LETHE_OK)
		rc = buf_add(b, "}", 1);
	return rc;
}

lethe_rc
store_audit_append(struct store *st, int64_t request_id, const char *type, const char *state,
                   int64_t now, const char *fields, int64_t *seq, struct lethe_err *err)
{
	struct member m[AUDIT_MEMBERS_MAX];
	struct entry_cols c = {.request_id = request_id, .type = type, .state = state, .at = now};
	struct append_entry a = {.m = m, .c = &c};
	size_t i, k;
	bool own = false;
	lethe_rc rc;

	if (seq != NULL)
		*seq = 0;
	if (fields != NULL && !split_members(fields, m, AUDIT_MEMBERS_MAX, &a.n))
		return lethe_err_set(err, LETHE_E_INTERNAL,
		                     "audit: the fields of a %s entry are not JSON members", type);
	/* Sorted already, as the contract asks, this is one pass. */
	for (i = 1; i < a.n; i++) {
		struct member x = m[i];

		for (k = i; k > 0 && member_cmp(&m[k - 1], &x) > 0; k--)
			m[k] = m[k - 1];
		m[k] = x;
	}
	/* No member twice, nor one of lethe's own: one walk along both sorted lists. */
	for (i = 0, k = 0; i < a.n; i++) {
		bool twice = i > 0 && member_cmp(&m[i - 1], &m[i]) == 0;

		while (k < OWN_KEYS && member_cmp(&own_keys[k], &m[i]) < 0)
			k++;
		if (twice ||
		    (k < OWN_KEYS && own_present(&c, k) && member_cmp(&own_keys[k], &m[i]) == 0))
			return lethe_err_set(err, LETHE_E_INTERNAL,
			                     "audit: a %s entry names a member twice", type);
	}
	rc = store__tx_begin(st, &own, err);
	if (rc == LETHE_OK)
		rc = chain_append(st, &c, append_body, &a, seq, err);
	return store__tx_end(st, own, rc, err);
}
