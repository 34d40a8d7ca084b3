/* SPDX-License-Identifier: MIT */
/*
 * erase_upstream.c - an erasure reaches upstream: at the start of each
 * round of a job whose plan acts on the channel table (the data map's
 * table with `connection:`), before any step deletes the webhook rows an
 * unsubscribe needs, and again before the channel step itself, each of the
 * person's channels is disconnected through disconnect_channel() with
 * source "erase".  Its revoke and unsubscribe jobs are then durable in the
 * outbox, sealed, before the transaction that wipes the tokens commits,
 * with the crash safety of any disconnect (docs/internals/outbox.md); the
 * steps then delete or rewrite rows that hold no token any more.  A
 * channel already disconnected is left as it is (one Meta's deauthorize
 * disconnected gets its unsubscribes now, see disconnect.h), so a resumed
 * erasure, or a verification round, disconnects only channels connected
 * since.  Runs on the executor's connections, between batches.
 *
 * That disconnect leaves the channel row's columns the erasure finds it by
 * as they are, even where the map's `disconnect: set` clears them
 * (disconnect_held_column()): the steps, and a job resumed after a crash,
 * find the row and its children by them.  Once every step of a round ran,
 * erase_disconnect_finish() writes those values to the rows the erasure
 * kept (anonymized, retained); deleted rows need nothing.  Both writes are
 * idempotent, and nothing before the last one unlinks a row, so a crash
 * anywhere leaves every row to be found again.
 */
#include "util/fmacros.h"

#include "engine/batching.h"
#include "engine/erase_internal.h"
#include "engine/plan.h"
#include "engine/revoke.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define PAGE 256             /* channel keys read per statement */
#define STAGED_WAIT_MS 2000. /* wait this long for another process's staged disconnect */
#define STAGED_POLL_MS 10    /* ... looking again this often */

/* One page of the step's channel keys above @after, as text, into @ids (*@n). */
static lethe_rc
page_keys(struct exec *x, const struct plan_step *ps, int64_t after, char **ids, size_t *n)
{
	const struct dm_table *ch = ps->table;
	struct appdb_stmt *q = NULL;
	struct sql b;
	char key[32];
	lethe_rc rc;

	*n = 0;
	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "SELECT ");
	sql_ident(&b, ch->key);
	sql_add(&b, " FROM ");
	sql_ident(&b, ch->name);
	sql_add(&b, " WHERE (");
	sql_fragment(&b, ps->where, ps->params, ps->nparams);
	sql_add(&b, ") AND ");
	sql_ident(&b, ch->key);
	sql_add(&b, " > ");
	sql_value(&b, (struct appdb_val){.type = APPDB_INT, .i = after});
	sql_add(&b, " ORDER BY ");
	sql_ident(&b, ch->key);
	sql_addf(&b, " LIMIT %d", PAGE);
	rc = sql_rc(&b);
	if (rc == LETHE_OK)
		rc = appdb_prepare(x->db, sql_str(&b), &q, x->err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(x->db, q, sql_vals(&b), sql_nvals(&b));
	while (rc == LETHE_OK && *n < PAGE) {
		struct appdb_val v;
		enum appdb_step step = appdb_step(x->db, q, x->err);

		if (step == APPDB_ERROR)
			rc = LETHE_E_DB;
		if (step != APPDB_ROW)
			break;
		appdb_column(x->db, q, 0, &v);
		key[0] = '\0';
		if (v.type == APPDB_INT)
			snprintf(key, sizeof(key), "%lld", (long long)v.i);
		if (disconnect_id_ok(key))
			ids[(*n)++] = xstrdup(key);
		else
			log_warnx(
			    "erase: a row of channel table '%s' has a key that is not a positive "
			    "integer; it is erased without an upstream revocation",
			    ch->name);
	}
	if (q != NULL)
		appdb_finalize(x->db, q);
	sql_free(&b);
	return rc;
}

/* disconnect_channel(), looking again while another process's disconnect of it is staged. */
static lethe_rc
disconnect_one(struct exec *x, const char *id, int64_t *disc, bool *already)
{
	double until = time_mono_ms() + STAGED_WAIT_MS;
	lethe_rc rc;

	for (;;) {
		rc = disconnect_channel(&x->o->disc, x->plan->dm, x->db, x->st, id, "erase", disc,
		                        already, x->err);
		if (rc != LETHE_E_BUSY || time_mono_ms() >= until)
			return rc;
		batching_sleep_ms(STAGED_POLL_MS);
	}
}

void
erase_note_channel(struct exec *x, int64_t key)
{
	size_t lo = 0, hi = x->nchans;

	/* Sorted, no cap: every channel matched is checked (binary search, O(log n) a look). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->chans[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < x->nchans && x->chans[lo] == key)
		return;
	x->chans = xgrow(x->chans, &x->chcap, x->nchans + 1, sizeof(*x->chans));
	/* A step pages its keys in order: the new one is nearly always the last. */
	memmove(x->chans + lo + 1, x->chans + lo, (x->nchans - lo) * sizeof(*x->chans));
	x->chans[lo] = key;
	x->nchans++;
}

lethe_rc
erase_disconnect_channels(struct exec *x, const struct plan_step *ps)
{
	char **ids = xcalloc(PAGE, sizeof(char *));
	int64_t after = 0;
	size_t n = 0, i;
	lethe_rc rc = LETHE_OK;

	do {
		rc = page_keys(x, ps, after, ids, &n);
		if (rc == LETHE_OK && n > 0 && x->o->disc.outbox_key == NULL)
			rc = lethe_err_set(
			    x->err, LETHE_E_CONFIG,
			    "erasing rows of channel table '%s' queues their upstream "
			    "revocations, which needs the outbox key",
			    ps->table->name);
		for (i = 0; rc == LETHE_OK && i < n; i++) {
			int64_t disc = 0;
			bool already = false;

			erase_note_channel(x, strtoll(ids[i], NULL, 10));
			rc = disconnect_one(x, ids[i], &disc, &already);
			/* Erased since it was read (the app, another erasure): nothing to revoke.
			 */
			if (rc == LETHE_E_NOTFOUND)
				rc = LETHE_OK;
			else if (rc == LETHE_OK && !already)
				erase_result_add_disconnect(x->res, disc);
		}
		if (n > 0)
			after = strtoll(ids[n - 1], NULL, 10);
		for (i = 0; i < n; i++)
			free(ids[i]);
	} while (rc == LETHE_OK && n == PAGE);
	free(ids);
	return rc;
}

/* Does a keep rule of @t (any scope) test @column? */
static bool
rule_tests(const struct dm_table *t, const char *column)
{
	size_t i, j, k;

	for (i = 0; i < t->nerase; i++)
		for (j = 0; j < t->erase[i].nparts; j++)
			for (k = 0; k < t->erase[i].parts[j].nwhen; k++)
				if (strcmp(t->erase[i].parts[j].when[k].column, column) == 0)
					return true;
	return false;
}

lethe_rc
erase_disconnect_finish(struct exec *x, const struct plan_step *ps)
{
	const struct dm_table *ch = ps->table;
	struct sql b;
	size_t i, n = 0;
	int64_t rows = 0;
	lethe_rc rc;

	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "UPDATE ");
	sql_ident(&b, ch->name);
	sql_add(&b, " SET ");
	for (i = 0; i < ch->ndisc; i++) {
		/* A column a keep rule tests is the rule's: the kept row must stay kept. */
		if (!disconnect_held_column(x->plan->dm, ch->disc[i].column) ||
		    rule_tests(ch, ch->disc[i].column))
			continue;
		if (n++ > 0)
			sql_add(&b, ", ");
		sql_ident(&b, ch->disc[i].column);
		sql_add(&b, " = ");
		revoke_sql_value(&b, &ch->disc[i]);
	}
	if (n == 0) {
		sql_free(&b);
		return LETHE_OK;
	}
	sql_add(&b, " WHERE (");
	sql_fragment(&b, ps->where, ps->params, ps->nparams);
	sql_add(&b, ")");
	/* Disconnected rows only: a channel connected since keeps its link until its turn. */
	for (i = 0; i < ch->ntokens; i++) {
		sql_add(&b, " AND ");
		sql_ident(&b, ch->tokens[i]);
		sql_add(&b, " IS NULL");
	}
	plan_add_conds(&b, ch->disc_when, ch->ndisc_when);
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(x->err, rc, "the disconnect's update of '%s' is too long", ch->name);
	if (rc == LETHE_OK)
		rc = appdb_begin_write(x->db, x->err);
	if (rc == LETHE_OK) {
		rc = appdb_exec(x->db, sql_str(&b), sql_vals(&b), sql_nvals(&b), &rows, x->err);
		if (rc == LETHE_OK)
			rc = appdb_commit(x->db, x->err);
		if (rc != LETHE_OK)
			appdb_rollback(x->db);
	}
	if (rc == LETHE_OK && rows > 0)
		log_info("%s: the disconnect's set written to %lld kept row(s) after the erasure",
		         ch->name, (long long)rows);
	sql_free(&b);
	return rc;
}

/* *@n: rows of the channel table with key @key (and matching step @ps's predicate if given). */
static lethe_rc
key_count(struct exec *x, const struct plan_step *ps, int64_t key, int64_t *n)
{
	const struct dm_table *ch = x->plan->dm->channel;
	struct sql b;
	lethe_rc rc;

	*n = 0;
	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "SELECT count(*) FROM ");
	sql_ident(&b, ch->name);
	sql_add(&b, " WHERE ");
	if (ps != NULL) {
		sql_add(&b, "(");
		sql_fragment(&b, ps->where, ps->params, ps->nparams);
		sql_add(&b, ") AND ");
	}
	sql_ident(&b, ch->key);
	sql_add(&b, " = ");
	sql_value(&b, (struct appdb_val){.type = APPDB_INT, .i = key});
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(x->err, rc, "the check of '%s' is too long", ch->name);
	else
		rc = appdb_query_int(x->db, sql_str(&b), sql_vals(&b), sql_nvals(&b), n, x->err);
	sql_free(&b);
	return rc;
}

lethe_rc
erase_check_channels(struct exec *x)
{
	const struct plan *p = x->plan;
	const struct dm_table *ch = p->dm->channel;
	size_t i, k;
	lethe_rc rc = LETHE_OK;

	if (ch == NULL || x->nchans == 0)
		return LETHE_OK;
	/* A part that rewrites a column the row is found by unlinks it itself: no telling. */
	for (i = 0; i < p->nsteps; i++) {
		const struct plan_step *ps = &p->steps[i];

		if (ps->table != ch || ps->part->action == DM_DELETE)
			continue;
		for (k = 0; k < ps->part->nanon; k++)
			if (disconnect_held_column(p->dm, ps->part->anon[k].column))
				return LETHE_OK;
	}
	for (k = 0; rc == LETHE_OK && k < x->nchans; k++) {
		int64_t there = 0, matched = 0;

		rc = key_count(x, NULL, x->chans[k], &there);
		for (i = 0; rc == LETHE_OK && there > 0 && matched == 0 && i < p->nsteps; i++)
			if (p->steps[i].table == ch && p->steps[i].reachable)
				rc = key_count(x, &p->steps[i], x->chans[k], &matched);
		/* The key is not named: the log and the request's error are no place for it. */
		if (rc == LETHE_OK && there > 0 && matched == 0)
			rc = lethe_err_set(
			    x->err, LETHE_E_DB,
			    "a channel of the person in table '%s' stopped matching this erasure "
			    "while it ran (a column it is found by changed: the app, or a "
			    "disconnect whose set clears it); the erasure is not reported done. "
			    "Erase it by its channel or by the account",
			    ch->name);
	}
	return rc;
}
