/* SPDX-License-Identifier: MIT */
/*
 * disconnect.c - disconnecting a channel (see disconnect.h).
 *
 * Order of writes, so that a crash at any instant loses no revocation:
 *   1. app database: BEGIN (write lock held from the start); read the
 *      channel's platform, account and tokens; wipe tokens and apply the
 *      map's disconnect effects (not yet committed);
 *   2. state store, one durable transaction: the disconnect record
 *      (state staged, the sealed channel id, a keyed hash of the token read)
 *      and its jobs (staged, secrets sealed);
 *   3. app database: COMMIT;
 *   4. state store: the record becomes disconnected, its jobs pending.
 * disconnect_recover() finishes what a crash interrupted between 2 and 4.
 * Identifiers from the data map are quoted; every value is bound.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <sodium.h>

#include "engine/disconnect.h"
#include "engine/revoke.h"
#include "jobs/outbox.h"
#include "platform/platform.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SQL_CAP (64u * 1024)
#define UNSUB_MAX 32     /* webhook subscriptions unsubscribed per disconnect */
#define IDENTITY_MAX 256 /* channels one deauthorization disconnects */
#define PURGE_SCOPE "channel"

/* The state store failing around a disconnect: one line each, rate-limited (recovery acts). */
static struct log_limit disc_log = LOG_LIMIT_INIT(10, 60000.);

bool
disconnect_id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0, i;
	bool nonzero = false;

	if (n == 0 || n > DISCONNECT_ID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)id[i]))
			return false;
		nonzero = nonzero || id[i] != '0';
	}
	return nonzero && (n < DISCONNECT_ID_MAX || strcmp(id, "9223372036854775807") <= 0);
}

void
disconnect_subject(const uint8_t key[HASH_KEY_LEN], const char *id, char *out)
{
	char *v = xasprintf("channel\x1f%s", id);

	hash_keyed(key, v, strlen(v), out);
	free(v);
}

/* The channel id as a bound value: an integer when it is one (disconnect_id_ok). */
static struct appdb_val
chan_val(const char *id)
{
	struct appdb_val a = {.type = APPDB_TEXT, .s = id};

	if (disconnect_id_ok(id)) {
		a.type = APPDB_INT;
		a.i = strtoll(id, NULL, 10);
	}
	return a;
}

/* A growing list of bound values for one statement. */
struct params {
	struct appdb_val v[128]; /* the values */
	size_t n;                /* used */
};

static lethe_rc
param_add(struct appdb *db, struct buf *b, struct params *p, struct appdb_val v,
          struct lethe_err *err)
{
	if (p->n >= sizeof(p->v) / sizeof(p->v[0]))
		return lethe_err_set(err, LETHE_E_DATAMAP,
		                     "too many values in a disconnect statement");
	p->v[p->n++] = v;
	return appdb_param(db, b, (int)p->n);
}

/* " AND col IN (values)" for each condition. */
static lethe_rc
conds_sql(struct appdb *db, struct buf *b, struct params *p, const struct dm_cond *c, size_t n,
          struct lethe_err *err)
{
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < n; i++) {
		buf_adds(b, " AND ");
		appdb_quote(db, b, c[i].column);
		buf_adds(b, " IN (");
		for (j = 0; rc == LETHE_OK && j < c[i].nvalues; j++) {
			if (j > 0)
				buf_adds(b, ", ");
			rc = param_add(db, b, p, dm_value_val(&c[i].values[j]), err);
		}
		buf_adds(b, ")");
	}
	return rc;
}

/*
 * " WHERE" rows of @t belonging to channel @id: the channel table by its
 * key, another table by @column (naming the channel key) or else by its
 * parent link to the channel table.
 */
static lethe_rc
match_sql(struct appdb *db, const struct datamap *dm, const struct dm_table *t, const char *column,
          const char *id, struct buf *b, struct params *p, struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	const struct dm_link *l = t->disc_link;
	lethe_rc rc;

	buf_adds(b, " WHERE ");
	if (t == ch) {
		appdb_quote(db, b, ch->key);
		buf_adds(b, " = ");
		return param_add(db, b, p, chan_val(id), err);
	}
	if (column != NULL) {
		appdb_quote(db, b, column);
		buf_adds(b, " = ");
		return param_add(db, b, p, chan_val(id), err);
	}
	if (l == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL, "table '%s' has no channel link",
		                     t->name);
	appdb_quote(db, b, l->column);
	buf_adds(b, " IN (SELECT ");
	appdb_quote(db, b, l->references ? l->references : ch->key);
	buf_adds(b, " FROM ");
	appdb_quote(db, b, ch->name);
	buf_adds(b, " WHERE ");
	appdb_quote(db, b, ch->key);
	buf_adds(b, " = ");
	rc = param_add(db, b, p, chan_val(id), err);
	buf_adds(b, ")");
	return rc;
}

/* What the channel row holds. */
struct chan_row {
	bool found;        /* the row exists */
	char platform[32]; /* platform name as stored (cut) */
	char account[256]; /* account id as stored, "" if NULL */
	bool account_bad;  /* the account id is too long to carry (never cut) */
	char *token;       /* the revoke token, NULL if none (wiped by chan_row_free) */
	bool token_bad;    /* a revoke token is there but too long for a job */
	int64_t tokens;    /* token columns that are not NULL */
};

static void
chan_row_free(struct chan_row *c)
{
	if (c->token != NULL) {
		sodium_memzero(c->token, strlen(c->token));
		free(c->token);
	}
	memset(c, 0, sizeof(*c));
}

/* @v as text into @out (@n bytes); false (and "") if it does not fit whole. */
static bool
val_text(const struct appdb_val *v, char *out, size_t n)
{
	int len = 0;

	if (v->type == APPDB_TEXT)
		len = snprintf(out, n, "%s", v->s);
	else if (v->type == APPDB_INT)
		len = snprintf(out, n, "%lld", (long long)v->i);
	else
		out[0] = '\0';
	if (len < 0 || (size_t)len >= n) {
		out[0] = '\0';
		return false;
	}
	return true;
}

/* A token value read from the app database: *@out a copy, or @bad if it cannot be carried. */
static void
token_read(const struct appdb_val *v, char **out, bool *bad)
{
	*out = NULL;
	*bad = false;
	if (v->type != APPDB_TEXT || (v->s[0] == '\0' && !v->blob))
		return;
	if (v->blob || strlen(v->s) >= OUTBOX_TOKEN_MAX)
		*bad = true;
	else
		*out = xstrdup(v->s);
}

/* Read the channel row @id (inside the caller's transaction). */
static lethe_rc
chan_read(const struct datamap *dm, struct appdb *db, const char *id, struct chan_row *out,
          struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	struct appdb_stmt *q = NULL;
	struct appdb_val v;
	struct params p;
	struct buf b;
	size_t i;
	enum appdb_step step;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	p.n = 0;
	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT ");
	appdb_quote(db, &b, ch->conn.platform);
	buf_adds(&b, ", ");
	appdb_quote(db, &b, ch->conn.account);
	buf_adds(&b, ", ");
	appdb_quote(db, &b, ch->conn.revoke_token);
	for (i = 0; i < ch->ntokens; i++) {
		buf_adds(&b, i == 0 ? ", (" : " + (");
		appdb_quote(db, &b, ch->tokens[i]);
		buf_adds(&b, " IS NOT NULL)");
	}
	buf_adds(&b, " FROM ");
	appdb_quote(db, &b, ch->name);
	rc = match_sql(db, dm, ch, NULL, id, &b, &p, err);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, buf_str(&b), &q, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, q, p.v, p.n);
	if (rc == LETHE_OK) {
		step = appdb_step(db, q, err);
		if (step == APPDB_ERROR) {
			rc = LETHE_E_DB;
		} else if (step == APPDB_ROW) {
			out->found = true;
			appdb_column(db, q, 0, &v);
			val_text(&v, out->platform, sizeof(out->platform));
			appdb_column(db, q, 1, &v);
			out->account_bad = !val_text(&v, out->account, sizeof(out->account));
			appdb_column(db, q, 2, &v);
			token_read(&v, &out->token, &out->token_bad);
			appdb_column(db, q, 3, &v);
			out->tokens = v.type == APPDB_INT ? v.i : 0;
		}
	}
	if (q != NULL)
		appdb_finalize(db, q);
	buf_free(&b);
	return rc;
}

/* One webhook subscription to remove. */
struct unsub {
	char *account; /* the page/account id */
	char *token;   /* its own (Page) token, NULL: the channel's revoke token (wiped on free) */
};

static void
unsubs_free(struct unsub *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].account);
		if (v[i].token != NULL)
			sodium_memzero(v[i].token, strlen(v[i].token));
		free(v[i].token);
	}
	free(v);
}

/*
 * The webhook subscriptions of channel @id to remove; more than UNSUB_MAX, an
 * account id that does not fit or a Page token too long to carry is an error
 * (nothing is skipped silently).
 */
static lethe_rc
unsub_accounts(const struct datamap *dm, struct appdb *db, const char *id, struct unsub **out,
               size_t *n, struct lethe_err *err)
{
	struct appdb_stmt *q = NULL;
	struct appdb_val v;
	char acc[256];
	struct params p;
	struct buf b;
	size_t i;
	lethe_rc rc = LETHE_OK;

	*out = xcalloc(UNSUB_MAX, sizeof(**out));
	*n = 0;
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];
		enum appdb_step step;
		char *tok = NULL;
		bool bad = false;

		if (!t->unsub.present)
			continue;
		p.n = 0;
		buf_init(&b, SQL_CAP);
		buf_adds(&b, "SELECT ");
		appdb_quote(db, &b, t->unsub.account);
		buf_adds(&b, ", ");
		if (t->unsub.token != NULL)
			appdb_quote(db, &b, t->unsub.token);
		else
			buf_adds(&b, "NULL");
		buf_adds(&b, " FROM ");
		appdb_quote(db, &b, t->name);
		rc = match_sql(db, dm, t, NULL, id, &b, &p, err);
		if (rc == LETHE_OK)
			rc = conds_sql(db, &b, &p, t->unsub.when, t->unsub.nwhen, err);
		buf_adds(&b, " ORDER BY ");
		appdb_quote(db, &b, t->key);
		if (rc == LETHE_OK)
			rc = appdb_prepare(db, buf_str(&b), &q, err);
		if (rc == LETHE_OK)
			rc = appdb_bind_all(db, q, p.v, p.n);
		while (rc == LETHE_OK) {
			step = appdb_step(db, q, err);
			if (step == APPDB_ERROR)
				rc = LETHE_E_DB;
			if (step != APPDB_ROW)
				break;
			appdb_column(db, q, 0, &v);
			if (!val_text(&v, acc, sizeof(acc)))
				rc = lethe_err_set(err, LETHE_E_INVALID,
				                   "a webhook subscription's account id in '%s' is "
				                   "longer than %zu bytes; nothing changed",
				                   t->name, sizeof(acc) - 1);
			if (rc != LETHE_OK || acc[0] == '\0')
				continue;
			appdb_column(db, q, 1, &v);
			token_read(&v, &tok, &bad);
			if (bad)
				rc = lethe_err_set(
				    err, LETHE_E_INVALID,
				    "a Page token in '%s' is binary or %d bytes or longer "
				    "and cannot be carried by a job; nothing changed",
				    t->name, OUTBOX_TOKEN_MAX);
			else if (*n >= UNSUB_MAX)
				rc = lethe_err_set(
				    err, LETHE_E_INVALID,
				    "the channel has more than %d webhook subscriptions "
				    "to remove; nothing changed",
				    UNSUB_MAX);
			if (rc != LETHE_OK) {
				if (tok != NULL)
					sodium_memzero(tok, strlen(tok));
				free(tok);
				continue;
			}
			(*out)[*n].account = xstrdup(acc);
			(*out)[(*n)++].token = tok;
		}
		if (q != NULL)
			appdb_finalize(db, q);
		q = NULL;
		buf_free(&b);
	}
	return rc;
}

/* The "set" of @t's disconnect as a JSON object. */
static json_t *
set_json(const struct dm_table *t)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < t->ndisc; i++) {
		const struct dm_anon_col *a = &t->disc[i];

		if (a->how == DM_ANON_NULL)
			json_object_set_new(o, a->column, json_null());
		else if (a->set.is_int)
			json_object_set_new(o, a->column, json_integer(a->set.i));
		else
			json_object_set_new(o, a->column, json_string(a->set.s));
	}
	return o;
}

/* UPDATE one table's rows of channel @id as its disconnect says; *@rows changed. */
static lethe_rc
apply_table(const struct datamap *dm, struct appdb *db, const struct dm_table *t, const char *id,
            int64_t *rows, struct lethe_err *err)
{
	bool is_ch = t == dm->channel;
	struct params p;
	struct buf b;
	size_t i, n = 0;
	lethe_rc rc = LETHE_OK;

	p.n = 0;
	*rows = 0;
	buf_init(&b, SQL_CAP);
	buf_adds(&b, "UPDATE ");
	appdb_quote(db, &b, t->name);
	buf_adds(&b, " SET ");
	for (i = 0; is_ch && i < t->ntokens; i++, n++) {
		if (n > 0)
			buf_adds(&b, ", ");
		appdb_quote(db, &b, t->tokens[i]);
		buf_adds(&b, " = NULL");
	}
	for (i = 0; rc == LETHE_OK && i < t->ndisc; i++, n++) {
		if (n > 0)
			buf_adds(&b, ", ");
		appdb_quote(db, &b, t->disc[i].column);
		buf_adds(&b, " = ");
		if (t->disc[i].how == DM_ANON_NULL)
			buf_adds(&b, "NULL");
		else
			rc = param_add(db, &b, &p, dm_value_val(&t->disc[i].set), err);
	}
	if (rc == LETHE_OK)
		rc = match_sql(db, dm, t, t->disc_column, id, &b, &p, err);
	if (rc == LETHE_OK)
		rc = conds_sql(db, &b, &p, t->disc_when, t->ndisc_when, err);
	/* Count only rows that change: a rule already disabled is not disabled again. */
	if (rc == LETHE_OK && !is_ch && t->ndisc > 0) {
		buf_adds(&b, " AND NOT (");
		for (i = 0; rc == LETHE_OK && i < t->ndisc; i++) {
			if (i > 0)
				buf_adds(&b, " AND ");
			appdb_quote(db, &b, t->disc[i].column);
			buf_adds(&b, " IS ");
			if (t->disc[i].how == DM_ANON_NULL)
				buf_adds(&b, "NULL");
			else
				rc = param_add(db, &b, &p, dm_value_val(&t->disc[i].set), err);
		}
		buf_adds(&b, ")");
	}
	if (rc == LETHE_OK && n > 0)
		rc = appdb_exec(db, buf_str(&b), p.v, p.n, rows, err);
	buf_free(&b);
	return rc;
}

/*
 * Wipe the channel's tokens and apply every disconnect effect, inside the
 * caller's transaction; @effects gets {"tokens_wiped", "tables": [...]}.
 */
static lethe_rc
apply_effects(const struct datamap *dm, struct appdb *db, const char *id, int64_t tokens,
              json_t *effects, struct lethe_err *err)
{
	json_t *list = json_array();
	size_t i;
	lethe_rc rc = LETHE_OK;

	json_object_set_new(effects, "tokens_wiped", json_integer(tokens));
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];
		int64_t rows = 0;

		if (t != dm->channel && t->ndisc == 0)
			continue;
		rc = apply_table(dm, db, t, id, &rows, err);
		if (rc == LETHE_OK && t->ndisc > 0)
			json_array_append_new(list,
			                      json_pack("{s:s, s:o, s:I}", "table", t->name, "set",
			                                set_json(t), "rows", (json_int_t)rows));
	}
	json_object_set_new(effects, "tables", list);
	return rc;
}

/* A finished job (no call to make): recorded so the channel's state shows it. */
static lethe_rc
job_done(struct store *st, int64_t disc, const char *kind, const char *platform,
         const char *outcome, const char *reason, int64_t now_ms, struct lethe_err *err)
{
	struct store_outbox j;
	lethe_rc rc;

	memset(&j, 0, sizeof(j));
	rc = store_outbox_add(st, disc, kind, platform, "done", now_ms, NULL, 0, &j.id, err);
	snprintf(j.state, sizeof(j.state), "done");
	snprintf(j.outcome, sizeof(j.outcome), "%s", outcome);
	snprintf(j.reason, sizeof(j.reason), "%s", reason);
	j.next_at_ms = now_ms;
	if (rc == LETHE_OK)
		rc = store_outbox_update(st, &j, NULL, now_ms, err);
	return rc;
}

/* A job with a call to make, its secrets sealed; staged until the app commit. */
static lethe_rc
job_staged(const struct disconnect_opts *o, struct store *st, int64_t disc, const char *kind,
           const char *platform, const struct outbox_payload *pl, int64_t now_ms,
           struct lethe_err *err)
{
	size_t len = 0;
	uint8_t *box = outbox_seal(o->outbox_key, kind, pl, &len);
	lethe_rc rc;

	rc = store_outbox_add(st, disc, kind, platform, "staged", now_ms, box, len, NULL, err);
	sodium_memzero(box, len);
	free(box);
	return rc;
}

/*
 * Queue the jobs of a disconnect (inside the caller's state store
 * transaction).  The unsubscribes come first: a Facebook revoke invalidates
 * every token of the person, the Page token the unsubscribe needs too; the
 * outbox claims a revoke only once its sibling unsubscribes ended.
 */
static lethe_rc
queue_jobs(const struct disconnect_opts *o, const struct datamap *dm, struct store *st,
           int64_t disc, const char *id, const char *source, const struct chan_row *c,
           const struct unsub *unsubs, size_t nunsubs, int64_t now_ms, struct lethe_err *err)
{
	const char *canon = platform_canonical(c->platform);
	bool deauth = strcmp(source, "deauthorize") == 0;
	struct outbox_payload *pl = xcalloc(1, sizeof(*pl));
	char reason[160];
	size_t i;
	lethe_rc rc = LETHE_OK;

	snprintf(pl->channel, sizeof(pl->channel), "%s", id);
	for (i = 0; rc == LETHE_OK && !deauth && i < nunsubs; i++) {
		const char *tok = unsubs[i].token != NULL ? unsubs[i].token : c->token;

		if (canon == NULL || !platform_supports(canon, PLATFORM_UNSUBSCRIBE)) {
			rc = job_done(st, disc, "unsubscribe", canon, "unsupported",
			              "the platform documents no call to remove this subscription",
			              now_ms, err);
		} else if (tok == NULL) {
			rc = job_done(st, disc, "unsubscribe", canon, "no_token",
			              "no token to call the platform with", now_ms, err);
		} else {
			snprintf(pl->token, sizeof(pl->token), "%s", tok);
			snprintf(pl->account, sizeof(pl->account), "%s", unsubs[i].account);
			rc = job_staged(o, st, disc, "unsubscribe", canon, pl, now_ms, err);
		}
	}
	memset(pl->token, 0, sizeof(pl->token));
	pl->account[0] = '\0';
	if (rc != LETHE_OK) {
		/* nothing more */
	} else if (deauth) {
		rc =
		    job_done(st, disc, "revoke", canon, "already_revoked",
		             "Meta deauthorized the app: its tokens are already invalid; the token "
		             "was deleted",
		             now_ms, err);
	} else if (c->token == NULL && canon != NULL && strcmp(canon, "facebook") == 0 &&
	           c->account[0] != '\0' && platform_has_app_token(o->platforms, canon)) {
		/* No user token: Facebook removes the permissions with the app token. */
		snprintf(pl->account, sizeof(pl->account), "%s", c->account);
		rc = job_staged(o, st, disc, "revoke", canon, pl, now_ms, err);
	} else if (c->token == NULL) {
		rc = job_done(st, disc, "revoke", canon, "no_token",
		              "the channel held no token to revoke", now_ms, err);
	} else if (canon == NULL) {
		rc = job_done(st, disc, "revoke", NULL, "unsupported",
		              "lethe knows no revoke call for this platform; the token was deleted",
		              now_ms, err);
	} else if (!platform_supports(canon, PLATFORM_REVOKE)) {
		snprintf(reason, sizeof(reason),
		         "%s documents no revoke endpoint; the token was deleted",
		         platform_label(canon, false));
		rc = job_done(st, disc, "revoke", canon, "unsupported", reason, now_ms, err);
	} else {
		snprintf(pl->token, sizeof(pl->token), "%s", c->token);
		snprintf(pl->account, sizeof(pl->account), "%s", c->account);
		rc = job_staged(o, st, disc, "revoke", canon, pl, now_ms, err);
	}
	if (rc == LETHE_OK && !deauth && datamap_scope(dm, PURGE_SCOPE) != NULL) {
		memset(pl->token, 0, sizeof(pl->token));
		pl->account[0] = '\0';
		rc = job_staged(o, st, disc, "purge", NULL, pl, now_ms, err);
	}
	sodium_memzero(pl, sizeof(*pl));
	free(pl);
	return rc;
}

/* Keyed hash of @token under the outbox key ("" for none). */
static void
token_mac(const struct disconnect_opts *o, const char *token, char *out)
{
	out[0] = '\0';
	if (token != NULL)
		hash_keyed(o->outbox_key, token, strlen(token), out);
}

lethe_rc
disconnect_channel(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
                   struct store *st, const char *id, const char *source, int64_t *disc,
                   bool *already, struct lethe_err *err)
{
	char subject[HASH_TEXT_LEN + 1];
	struct store_disc prev, d;
	struct chan_row c;
	struct outbox_payload *pl = NULL;
	struct unsub *unsubs = NULL;
	size_t nunsubs = 0;
	json_t *effects = NULL;
	bool have_prev = false, app_open = false, st_open = false;
	int64_t now = time_now(), now_ms = (int64_t)time_now() * 1000;
	lethe_rc rc;

	*disc = 0;
	*already = false;
	memset(&c, 0, sizeof(c));
	memset(&prev, 0, sizeof(prev));
	memset(&d, 0, sizeof(d));
	if (dm->channel == NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "the data map has no channel table (give one table "
		                     "'connection:')");
	disconnect_subject(o->key, id, subject);
	/*
	 * The app write lock first: a disconnect of the same channel by another
	 * process has then either finished or not started, and its record says so.
	 * Its commit is durable (a power loss must not undo what the state store,
	 * FULL, says happened).
	 */
	appdb_durable(db, true);
	rc = appdb_begin_write(db, err);
	app_open = rc == LETHE_OK;
	if (rc == LETHE_OK) {
		rc = store_disc_find(st, subject, &prev, err);
		have_prev = rc == LETHE_OK;
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	if (rc == LETHE_OK && have_prev && strcmp(prev.state, "staged") == 0)
		rc = lethe_err_set(err, LETHE_E_BUSY,
		                   "a disconnect of this channel is in progress; try again");
	if (rc == LETHE_OK)
		rc = chan_read(dm, db, id, &c, err);
	if (rc == LETHE_OK && !c.found && !have_prev)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no channel with this id");
	if (rc == LETHE_OK && have_prev && c.tokens == 0) {
		/* Also when the row is gone since (erased): its disconnect stands. */
		/* Disconnected before and not reconnected since: the same state again. */
		*already = true;
		*disc = prev.id;
		goto out;
	}
	/* A value a job cannot carry whole: refused, never cut or treated as "no token". */
	if (rc == LETHE_OK && c.account_bad && strcmp(source, "deauthorize") != 0)
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "the channel's account id is longer than %zu bytes; nothing "
		                   "changed",
		                   sizeof(c.account) - 1);
	if (rc == LETHE_OK && c.token_bad && strcmp(source, "deauthorize") != 0)
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "the channel's token is binary or %d bytes or longer and cannot "
		                   "be carried by a revoke job; nothing changed",
		                   OUTBOX_TOKEN_MAX);
	if (rc == LETHE_OK && strcmp(source, "deauthorize") != 0)
		rc = unsub_accounts(dm, db, id, &unsubs, &nunsubs, err);
	effects = json_object();
	if (rc == LETHE_OK)
		rc = apply_effects(dm, db, id, c.tokens, effects, err);

	/* The jobs are durable before the commit that removes the token. */
	if (rc == LETHE_OK)
		rc = store_set_durable(st, err);
	if (rc == LETHE_OK)
		rc = store_begin(st, err);
	st_open = rc == LETHE_OK;
	if (rc == LETHE_OK) {
		size_t len = 0;
		const char *canon = platform_canonical(c.platform);

		pl = xcalloc(1, sizeof(*pl));
		snprintf(pl->channel, sizeof(pl->channel), "%s", id);
		snprintf(d.subject, sizeof(d.subject), "%s", subject);
		snprintf(d.state, sizeof(d.state), "staged");
		snprintf(d.source, sizeof(d.source), "%s", source);
		snprintf(d.platform, sizeof(d.platform), "%s", canon ? canon : c.platform);
		d.requested_at = now;
		d.effects = json_dumps(effects, JSON_COMPACT);
		token_mac(o, c.token, d.token_mac);
		d.box = outbox_seal(o->outbox_key, "channel", pl, &len);
		d.boxlen = len;
		rc = store_disc_add(st, &d, disc, err);
	}
	if (rc == LETHE_OK)
		rc = queue_jobs(o, dm, st, *disc, id, source, &c, unsubs, nunsubs, now_ms, err);
	if (rc == LETHE_OK)
		rc = store_commit(st, err);
	st_open = st_open && rc != LETHE_OK;
	if (st_open)
		store_rollback(st);
	if (rc == LETHE_OK) {
		rc = appdb_commit(db, err);
		app_open = false;
		if (rc != LETHE_OK) {
			struct lethe_err e2 = {0};

			/*
			 * The token stays: so must not its jobs.  Aborted first (one
			 * statement), so that recovery drops the record and never
			 * applies it again, then dropped whole.
			 */
			appdb_rollback(db);
			if (store_disc_abort(st, *disc, &e2) != LETHE_OK)
				log_warnx_limited(
				    &disc_log,
				    "disconnect %lld: the app commit failed and the staged "
				    "record cannot be marked aborted (%s); recovery may apply "
				    "this disconnect again",
				    (long long)*disc, e2.msg);
			else if (store_disc_drop(st, *disc, &e2) != LETHE_OK)
				log_warnx_limited(
				    &disc_log,
				    "disconnect %lld: the app commit failed; the aborted "
				    "record cannot be dropped now (%s); recovery drops it",
				    (long long)*disc, e2.msg);
			*disc = 0;
		}
	}
	if (rc == LETHE_OK) {
		struct lethe_err e2 = {0};

		/* The app commit happened: the disconnect stands whatever follows. */
		if (store_disc_ready(st, *disc, now, now_ms, &e2) != LETHE_OK)
			log_warnx_limited(
			    &disc_log,
			    "disconnect %lld: tokens wiped, but its jobs cannot be released "
			    "now (%s); recovery releases them",
			    (long long)*disc, e2.msg);
		else
			log_info("channel disconnect %lld (%s): tokens wiped, jobs queued",
			         (long long)*disc, source);
	}
out:
	if (app_open)
		appdb_rollback(db);
	appdb_durable(db, false);
	if (pl != NULL) {
		sodium_memzero(pl, sizeof(*pl));
		free(pl);
	}
	free(d.effects);
	if (d.box != NULL)
		free(d.box);
	json_decref(effects);
	unsubs_free(unsubs, nunsubs);
	chan_row_free(&c);
	store_disc_clear(&prev);
	return rc;
}

/*
 * One page of the channels linked to identity @value by link @l, keys above
 * @after in key order: at most IDENTITY_MAX ids into @ids (*@nids).
 */
static lethe_rc
identity_page(const struct datamap *dm, struct appdb *db, const struct dm_link *l,
              const char *value, int64_t after, char **ids, size_t *nids, struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	struct appdb_stmt *q = NULL;
	struct params p;
	struct buf b;
	char key[64];
	lethe_rc rc;

	*nids = 0;
	p.n = 0;
	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT ");
	appdb_quote(db, &b, ch->key);
	buf_adds(&b, " FROM ");
	appdb_quote(db, &b, ch->name);
	buf_adds(&b, " WHERE ");
	appdb_quote(db, &b, l->column);
	buf_adds(&b, " = ");
	rc = param_add(db, &b, &p, (struct appdb_val){.type = APPDB_TEXT, .s = value}, err);
	buf_adds(&b, " AND ");
	appdb_quote(db, &b, ch->key);
	buf_adds(&b, " > ");
	if (rc == LETHE_OK)
		rc = param_add(db, &b, &p, (struct appdb_val){.type = APPDB_INT, .i = after}, err);
	if (rc == LETHE_OK)
		rc = conds_sql(db, &b, &p, l->when, l->nwhen, err);
	buf_adds(&b, " ORDER BY ");
	appdb_quote(db, &b, ch->key);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, buf_str(&b), &q, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, q, p.v, p.n);
	while (rc == LETHE_OK && *nids < IDENTITY_MAX) {
		struct appdb_val v;
		enum appdb_step step = appdb_step(db, q, err);

		if (step == APPDB_ERROR)
			rc = LETHE_E_DB;
		if (step != APPDB_ROW)
			break;
		appdb_column(db, q, 0, &v);
		if (val_text(&v, key, sizeof(key)) && disconnect_id_ok(key))
			ids[(*nids)++] = xstrdup(key);
		else
			log_warnx("disconnect: a channel of table '%s' has a key that is not a "
			          "positive integer; skipped",
			          ch->name);
	}
	if (q != NULL)
		appdb_finalize(db, q);
	buf_free(&b);
	return rc;
}

lethe_rc
disconnect_identity(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
                    struct store *st, const char *kind, const char *value, int64_t *rows,
                    struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	char **ids = NULL;
	size_t nids = 0, i, k;
	lethe_rc rc = LETHE_OK;

	*rows = 0;
	if (ch == NULL)
		return revoke_tokens(dm, db, kind, value, rows, err);
	ids = xcalloc(IDENTITY_MAX, sizeof(char *));
	for (i = 0; rc == LETHE_OK && i < ch->nlinks; i++) {
		const struct dm_link *l = &ch->links[i];
		int64_t after = 0, last;

		if (l->kind != DM_LINK_IDENTITY || strcmp(l->identity, kind) != 0)
			continue;
		/* Page by key: every linked channel, however many, is disconnected. */
		do {
			rc = identity_page(dm, db, l, value, after, ids, &nids, err);
			for (k = 0; rc == LETHE_OK && k < nids; k++) {
				int64_t disc = 0;
				bool already = false;

				rc = disconnect_channel(o, dm, db, st, ids[k], "deauthorize", &disc,
				                        &already, err);
				if (rc == LETHE_OK && !already)
					(*rows)++;
			}
			last = after;
			if (nids > 0)
				after = strtoll(ids[nids - 1], NULL, 10);
			for (k = 0; k < nids; k++)
				free(ids[k]);
			/* Keys that do not compare as integers would page forever. */
		} while (rc == LETHE_OK && nids == IDENTITY_MAX && after > last);
		nids = 0;
	}
	free(ids);
	return rc;
}

/*
 * What recovery does with staged disconnect @d whose channel row is @c: redo
 * (the app commit never happened), drop (reconnected since) or, when no
 * token column is left, nothing but release its jobs (it committed).
 */
enum recover_act { RECOVER_READY, RECOVER_REDO, RECOVER_DROP };

static enum recover_act
recover_decide(const struct disconnect_opts *o, const struct store_disc *d,
               const struct chan_row *c)
{
	char mac[HASH_TEXT_LEN + 1];

	/* The row gone (erased since) or every token column empty: it committed. */
	if (!c->found || c->tokens == 0)
		return RECOVER_READY;
	if (c->token_bad)
		return RECOVER_DROP;
	if (d->token_mac[0] == '\0')
		/* No revoke token was read: the same still holds only if there is none now. */
		return c->token == NULL ? RECOVER_REDO : RECOVER_DROP;
	if (c->token == NULL)
		return RECOVER_DROP;
	token_mac(o, c->token, mac);
	return strcmp(mac, d->token_mac) == 0 ? RECOVER_REDO : RECOVER_DROP;
}

static const char *
recover_str(enum recover_act a)
{
	return a == RECOVER_DROP   ? "not applied and the channel holds its tokens: dropped"
	       : a == RECOVER_REDO ? "applied again"
	                           : "it had committed";
}

lethe_rc
disconnect_recover(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
                   struct store *st, int64_t min_age_s, int *fixed, struct lethe_err *err)
{
	int64_t after = 0, now = time_now(), unstaged = 0;
	lethe_rc rc;

	*fixed = 0;
	/* Jobs an interrupted release or drop left staged. */
	rc = store_outbox_unstage(st, (int64_t)now * 1000, &unstaged, err);
	if (rc == LETHE_OK && unstaged > 0)
		log_info("outbox: %lld staged job(s) of finished disconnects repaired",
		         (long long)unstaged);
	while (rc == LETHE_OK && dm->channel != NULL) {
		struct store_disc d;
		struct outbox_payload *pl = NULL;
		struct chan_row c;
		enum recover_act act = RECOVER_READY;
		int64_t njobs = 0;

		rc = store_disc_next_staged(st, after, &d, err);
		if (rc == LETHE_E_NOTFOUND) {
			rc = LETHE_OK;
			break;
		}
		if (rc != LETHE_OK)
			break;
		after = d.id;
		memset(&c, 0, sizeof(c));
		pl = xcalloc(1, sizeof(*pl));
		if (strcmp(d.state, "aborted") == 0) {
			/* Its app commit failed and the caller was told so: never redone. */
			act = RECOVER_DROP;
			goto act;
		}
		if (d.requested_at > now - min_age_s)
			goto next;
		rc = store_disc_job_count(st, d.id, &njobs, err);
		if (rc == LETHE_OK && njobs == 0) {
			/* A drop that was cut short: the record without its jobs. */
			act = RECOVER_DROP;
			goto act;
		}
		if (rc == LETHE_OK &&
		    outbox_open(o->outbox_key, "channel", d.box, d.boxlen, pl) != LETHE_OK) {
			log_warnx("disconnect %lld: its channel id cannot be opened under this "
			          "outbox key; left staged for a process with the right key",
			          (long long)d.id);
			goto next;
		}
		appdb_durable(db, true);
		if (rc == LETHE_OK)
			rc = appdb_begin_write(db, err);
		if (rc == LETHE_OK)
			rc = chan_read(dm, db, pl->channel, &c, err);
		if (rc == LETHE_OK)
			act = recover_decide(o, &d, &c);
		if (rc == LETHE_OK && act == RECOVER_REDO) {
			json_t *effects = json_object();

			/* The app commit never happened: apply the disconnect again. */
			rc = apply_effects(dm, db, pl->channel, c.tokens, effects, err);
			json_decref(effects);
		}
		if (rc == LETHE_OK && act == RECOVER_REDO)
			rc = appdb_commit(db, err);
		else
			appdb_rollback(db);
		if (rc != LETHE_OK)
			appdb_rollback(db);
		appdb_durable(db, false);
	act:
		if (rc == LETHE_OK && act == RECOVER_DROP)
			rc = store_disc_drop(st, d.id, err);
		else if (rc == LETHE_OK)
			rc =
			    store_disc_ready(st, d.id, time_now(), (int64_t)time_now() * 1000, err);
		if (rc == LETHE_OK) {
			(*fixed)++;
			log_info("disconnect %lld: recovered after a crash (%s)", (long long)d.id,
			         recover_str(act));
		}
	next:
		if (rc != LETHE_OK)
			appdb_rollback(db);
		chan_row_free(&c);
		sodium_memzero(pl, sizeof(*pl));
		free(pl);
		store_disc_clear(&d);
	}
	return rc;
}

/* ---- state ------------------------------------------------------------------ */

static void
iso_time(int64_t t, char *out, size_t n)
{
	char s[32];

	time_format(t, s, sizeof(s));
	if (strlen(s) == 19)
		s[10] = 'T';
	snprintf(out, n, "%sZ", s);
}

const char *
disconnect_job_state(const struct store_outbox *j)
{
	/* Success is "done"; the other ways a job ended say which. */
	if (strcmp(j->state, "done") == 0 && j->outcome[0] != '\0' &&
	    strcmp(j->outcome, "revoked") != 0 && strcmp(j->outcome, "unsubscribed") != 0 &&
	    strcmp(j->outcome, "purged") != 0)
		return j->outcome;
	if (strcmp(j->state, "pending") == 0 && j->attempts > 0)
		return "retrying";
	return j->state;
}

/* The state one job shows. */
static json_t *
job_json(const struct store_outbox *j)
{
	json_t *o = json_object();
	char when[40];
	const char *state = disconnect_job_state(j);

	json_object_set_new(o, "state", json_string(state));
	if (j->outcome[0] != '\0')
		json_object_set_new(o, "outcome", json_string(j->outcome));
	json_object_set_new(o, "attempts", json_integer(j->attempts));
	if (strcmp(state, "retrying") == 0 || strcmp(j->state, "pending") == 0) {
		iso_time(j->next_at_ms / 1000, when, sizeof(when));
		json_object_set_new(o, "next_try", json_string(when));
	}
	if (j->finished_at_ms > 0) {
		iso_time(j->finished_at_ms / 1000, when, sizeof(when));
		json_object_set_new(o, "finished_at", json_string(when));
	}
	if (j->http_status > 0)
		json_object_set_new(o, "http_status", json_integer(j->http_status));
	if (j->reason[0] != '\0')
		json_object_set_new(o, "detail", json_string(j->reason));
	json_object_set_new(o, "job", json_integer(j->id));
	return o;
}

/* Collects a disconnect's jobs into the state JSON. */
struct state_acc {
	struct store *st;  /* for purge steps */
	json_t *root;      /* the state object */
	json_t *unsub;     /* the unsubscribe list */
	int64_t purge_job; /* erase job of the purge, 0 if none */
	json_t *purge;     /* the purge object, or NULL */
};

static void
on_job(void *arg, const struct store_outbox *j)
{
	struct state_acc *a = arg;

	if (strcmp(j->kind, "revoke") == 0) {
		json_object_set_new(a->root, "revoke", job_json(j));
	} else if (strcmp(j->kind, "unsubscribe") == 0) {
		json_array_append_new(a->unsub, job_json(j));
	} else if (strcmp(j->kind, "purge") == 0) {
		a->purge = job_json(j);
		a->purge_job = j->erase_job;
		json_object_set_new(a->root, "purge", a->purge);
	}
}

static void
on_step(void *arg, const char *table, const char *action, int64_t done, int64_t hold_until)
{
	json_t *tables = arg;

	(void)action;
	(void)hold_until;
	json_object_set_new(tables, table, json_integer(done));
}

lethe_rc
disconnect_state(const struct disconnect_opts *opts, const struct datamap *dm, struct appdb *db,
                 struct store *st, const char *id, json_t **out, struct lethe_err *err)
{
	char subject[HASH_TEXT_LEN + 1], when[40];
	struct store_disc d;
	struct chan_row c;
	struct state_acc acc;
	bool have = false;
	json_t *o = NULL;
	lethe_rc rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	if (dm->channel == NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "the data map has no channel table (give one table "
		                     "'connection:')");
	disconnect_subject(opts->key, id, subject);
	rc = chan_read(dm, db, id, &c, err);
	if (rc == LETHE_OK) {
		rc = store_disc_find(st, subject, &d, err);
		have = rc == LETHE_OK;
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	if (rc == LETHE_OK && !have && !c.found)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no channel with this id");
	if (rc != LETHE_OK)
		goto out;
	o = json_object();
	json_object_set_new(o, "channel", json_string(id));
	if (!have || (c.found && c.tokens > 0 && strcmp(d.state, "disconnected") == 0)) {
		/* Never disconnected, or connected again since. */
		const char *canon = c.found ? platform_canonical(c.platform) : NULL;

		json_object_set_new(o, "state", json_string("connected"));
		json_object_set_new(o, "platform",
		                    json_string(canon     ? canon
		                                : c.found ? c.platform
		                                          : ""));
		*out = o;
		goto out;
	}
	json_object_set_new(
	    o, "state",
	    json_string(strcmp(d.state, "staged") == 0 ? "disconnecting" : "disconnected"));
	json_object_set_new(o, "platform", json_string(d.platform));
	json_object_set_new(o, "source", json_string(d.source));
	iso_time(d.requested_at, when, sizeof(when));
	json_object_set_new(o, "requested_at", json_string(when));
	if (d.disconnected_at > 0) {
		iso_time(d.disconnected_at, when, sizeof(when));
		json_object_set_new(o, "disconnected_at", json_string(when));
	}
	json_object_set_new(o, "effects",
	                    d.effects ? json_loads(d.effects, 0, NULL) : json_object());
	memset(&acc, 0, sizeof(acc));
	acc.st = st;
	acc.root = o;
	acc.unsub = json_array();
	json_object_set_new(o, "unsubscribe", acc.unsub);
	rc = store_outbox_list(st, d.id, NULL, on_job, &acc, err);
	if (rc == LETHE_OK && acc.purge != NULL) {
		json_t *tables = json_object();

		json_object_set_new(acc.purge, "tables", tables);
		if (acc.purge_job > 0)
			rc = store_meta_steps(st, acc.purge_job, on_step, tables, err);
	}
	if (rc == LETHE_OK)
		*out = o;
	else
		json_decref(o);
out:
	chan_row_free(&c);
	store_disc_clear(&d);
	return rc;
}
