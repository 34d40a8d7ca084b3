/* SPDX-License-Identifier: MIT */
/*
 * ledger.c - the ledger of erased people (see ledger.h): before an erasure,
 * the person's rows of each table with identity links as keyed hashes;
 * after a restore, finding those rows again in the app database.
 *
 * Every hash is hash_keyed() under the anonymize key over a
 * domain-separated input ("ledger-key:TABLE:KEY", "ledger-id:KIND:VALUE"),
 * so a ledger entry can be told from any other keyed hash lethe writes
 * (the anonymized columns, the subjects) and says nothing without the key.
 * Values read from the app database live in memory only as long as needed
 * and are wiped (sodium_memzero) when freed; none is ever logged.
 *
 * Collecting reads the app database into a bounded list first
 * (ledger_collect()), then writes it to the state store in short
 * transactions (ledger_record()), so the state store's write lock is never
 * held while the app database is read.  In a relation table (one identity
 * kind linked through several columns: inviter, invitee) only the columns
 * naming the request's own person are recorded.
 *
 * Finding: each table is read in key order, LEDGER_BATCH rows per
 * statement (keyset: "key > last key"), so a large table never holds a
 * read transaction long; the batch's rows are copied out, their keys
 * hashed, and the ledger looked up for those key hashes only (one
 * statement per batch, the primary key covers it), so memory stays
 * O(LEDGER_BATCH) whatever the ledger's size.  Identity values are hashed
 * only on a key hit; a restore request takes only values whose hash is in
 * the entry's set.
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "db/sql.h"
#include "engine/ledger.h"
#include "engine/request.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define SQL_CAP (64u * 1024)
#define ID_HASH_MAX 128 /* bytes of "KIND:anon:..." */

/* ---- hashing --------------------------------------------------------------- */

/* Keyed hash of "@domain@a:@b" into @out. */
static void
hash_domain(const uint8_t key[HASH_KEY_LEN], const char *domain, const char *a, const char *b,
            char *out)
{
	size_t nd = strlen(domain), na = strlen(a), nb = strlen(b);
	size_t n = nd + na + 1 + nb;
	char *in = xmalloc(n + 1);

	memcpy(in, domain, nd);
	memcpy(in + nd, a, na);
	in[nd + na] = ':';
	memcpy(in + nd + na + 1, b, nb);
	in[n] = '\0';
	hash_keyed(key, in, n, out);
	sodium_memzero(in, n);
	free(in);
}

void
ledger_key_hash(const uint8_t key[HASH_KEY_LEN], const char *table, const char *value, char *out)
{
	hash_domain(key, "ledger-key:", table, value, out);
}

bool
ledger_id_hash(const uint8_t key[HASH_KEY_LEN], const char *kind, const char *value, char *out,
               size_t cap)
{
	char h[HASH_TEXT_LEN + 1];
	int w;

	hash_domain(key, "ledger-id:", kind, value, h);
	w = snprintf(out, cap, "%s:%s", kind, h);
	return w > 0 && (size_t)w < cap;
}

/*
 * The text form of @v that the ledger hashes, into @tmp (@cap bytes) or
 * borrowed from @v: an integer in decimal, text as it is; NULL if @v is
 * NULL (no value).
 */
static const char *
val_text(const struct appdb_val *v, char *tmp, size_t cap)
{
	switch (v->type) {
	case APPDB_INT:
		snprintf(tmp, cap, "%lld", (long long)v->i);
		return tmp;
	case APPDB_REAL:
		snprintf(tmp, cap, "%.17g", v->r);
		return tmp;
	case APPDB_TEXT:
		return v->s;
	case APPDB_NULL:
		break;
	}
	return NULL;
}

/* ---- the statement that reads a table's rows ------------------------------------ */

/* True if @t has an identity link. */
static bool
has_identity(const struct dm_table *t)
{
	size_t i;

	for (i = 0; i < t->nlinks; i++)
		if (t->links[i].kind == DM_LINK_IDENTITY)
			return true;
	return false;
}

/*
 * Start @q with "SELECT key, <one column per link>" of @t: link i's column
 * when its 'when' conditions hold, else NULL (not an identity of its kind),
 * or NULL for a parent link.  Result column 1 + i is link i's value.
 */
static void
select_ids(struct sql *q, const struct dm_table *t)
{
	size_t i;

	sql_add(q, "SELECT ");
	sql_ident(q, t->key);
	for (i = 0; i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];

		sql_add(q, ", ");
		if (l->kind != DM_LINK_IDENTITY) {
			sql_add(q, "NULL");
		} else if (l->nwhen == 0) {
			sql_ident(q, l->column);
		} else {
			sql_add(q, "CASE WHEN ");
			sql_true(q);
			plan_add_conds(q, l->when, l->nwhen);
			sql_add(q, " THEN ");
			sql_ident(q, l->column);
			sql_add(q, " END");
		}
	}
	sql_add(q, " FROM ");
	sql_ident(q, t->name);
}

/* True if link @l of @t names the row by its key (user_id on users.id). */
static bool
key_link(const struct dm_table *t, const struct dm_link *l)
{
	return l->kind == DM_LINK_IDENTITY && strcmp(l->column, t->key) == 0;
}

/* ---- collecting, before an erasure --------------------------------------------------- */

/*
 * True if @t links one identity kind through more than one column
 * (invites: inviter_email, invitee_email): a row of it relates people, so
 * only its columns naming the request's own person are theirs.
 */
static bool
relation_table(const struct dm_table *t)
{
	size_t i, j;

	for (i = 0; i < t->nlinks; i++)
		for (j = i + 1; j < t->nlinks; j++)
			if (t->links[i].kind == DM_LINK_IDENTITY &&
			    t->links[j].kind == DM_LINK_IDENTITY &&
			    strcmp(t->links[i].identity, t->links[j].identity) == 0 &&
			    strcmp(t->links[i].column, t->links[j].column) != 0)
				return true;
	return false;
}

/* True if @h is one of the @n hashes @own. */
static bool
own_has(char (*own)[ID_HASH_MAX], size_t n, const char *h)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(own[i], h) == 0)
			return true;
	return false;
}

/*
 * The ids JSON of the current row of @stmt (columns as select_ids()):
 * every identity value of the row, or in a relation table only those
 * that hash to one of the request's own @own (@nown); caller frees.
 */
static char *
row_ids_json(struct appdb *db, struct appdb_stmt *stmt, const struct dm_table *t,
             const uint8_t key[HASH_KEY_LEN], bool relation, char (*own)[ID_HASH_MAX], size_t nown)
{
	json_t *arr = json_array();
	char tmp[32], h[ID_HASH_MAX];
	char *s;
	size_t i, j;

	for (i = 0; i < t->nlinks; i++) {
		struct appdb_val v;
		const char *text;
		bool dup = false;

		if (t->links[i].kind != DM_LINK_IDENTITY)
			continue;
		appdb_column(db, stmt, (int)(1 + i), &v);
		text = val_text(&v, tmp, sizeof(tmp));
		if (text == NULL || text[0] == '\0' ||
		    !ledger_id_hash(key, t->links[i].identity, text, h, sizeof(h)))
			continue;
		if (relation && !own_has(own, nown, h))
			continue; /* another person's column of a relation */
		for (j = 0; j < json_array_size(arr); j++)
			if (strcmp(json_string_value(json_array_get(arr, j)), h) == 0)
				dup = true;
		if (!dup)
			json_array_append_new(arr, json_string(h));
	}
	sodium_memzero(tmp, sizeof(tmp));
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
}

/* Add the entries of plan step @s (rows of the person the erasure removes or changes) to @out. */
static lethe_rc
collect_step(const struct plan_step *s, struct appdb *db, const uint8_t key[HASH_KEY_LEN],
             char (*own)[ID_HASH_MAX], size_t nown, struct ledger_entries *out,
             struct lethe_err *err)
{
	const struct dm_table *t = s->table;
	bool relation = relation_table(t);
	struct appdb_stmt *stmt = NULL;
	enum appdb_step r = APPDB_DONE;
	int64_t rows = 0;
	struct sql q;
	lethe_rc rc;

	/*
	 * The step's predicate first (its placeholders number from 1), in a
	 * common table expression: the person's rows, capped, then their
	 * identity columns.
	 */
	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "WITH ledger_rows(k) AS (SELECT ");
	sql_ident(&q, t->key);
	sql_add(&q, " FROM ");
	sql_ident(&q, t->name);
	sql_add(&q, " WHERE ");
	sql_fragment(&q, s->where, s->params, s->nparams);
	sql_add(&q, " ORDER BY ");
	sql_ident(&q, t->key);
	sql_addf(&q, " LIMIT %d) ", LEDGER_ROWS_MAX + 1);
	select_ids(&q, t);
	sql_add(&q, " WHERE ");
	sql_ident(&q, t->key);
	sql_add(&q, " IN (SELECT k FROM ledger_rows) ORDER BY ");
	sql_ident(&q, t->key);
	rc = sql_rc(&q);
	if (rc != LETHE_OK) {
		rc = lethe_err_set(err, rc, "ledger: the statement for %s is too long", t->name);
		goto out;
	}
	rc = appdb_prepare(db, sql_str(&q), &stmt, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, stmt, sql_vals(&q), sql_nvals(&q));
	while (rc == LETHE_OK && (r = appdb_step(db, stmt, err)) == APPDB_ROW) {
		char tmp[32];
		struct ledger_entry *e;
		struct appdb_val v;
		const char *text;

		if (rows == LEDGER_ROWS_MAX) {
			log_warnx("the person has more than %d rows in %s: the ledger records "
			          "the first %d",
			          LEDGER_ROWS_MAX, t->name, LEDGER_ROWS_MAX);
			break;
		}
		appdb_column(db, stmt, 0, &v);
		text = val_text(&v, tmp, sizeof(tmp));
		if (text == NULL)
			continue;
		out->e = xgrow(out->e, &out->cap, out->n + 1, sizeof(*out->e));
		e = &out->e[out->n++];
		e->table = t->name;
		ledger_key_hash(key, t->name, text, e->key_hash);
		e->ids = row_ids_json(db, stmt, t, key, relation, own, nown);
		if (e->ids == NULL)
			e->ids = xstrdup("[]");
		rows++;
	}
	if (rc == LETHE_OK && r == APPDB_ERROR)
		rc = err->rc != LETHE_OK ? err->rc : LETHE_E_DB;
out:
	if (stmt != NULL)
		appdb_finalize(db, stmt);
	sql_free(&q);
	return rc;
}

lethe_rc
ledger_collect(const struct datamap *dm, struct appdb *db, const uint8_t key[HASH_KEY_LEN],
               const char *scope, const struct plan_id *ids, size_t nids,
               struct ledger_entries *out, struct lethe_err *err)
{
	char(*own)[ID_HASH_MAX] = xcalloc(nids > 0 ? nids : 1, ID_HASH_MAX);
	struct plan *p = NULL;
	size_t i, nown = 0;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	/* The request's own identities, as the ledger hashes them. */
	for (i = 0; i < nids; i++)
		if (ids[i].kind != NULL && ids[i].value != NULL &&
		    ledger_id_hash(key, ids[i].kind, ids[i].value, own[nown], ID_HASH_MAX))
			nown++;
	/* The erasure's own plan: its steps select exactly the rows it removes or changes. */
	rc = plan_build_any(dm, db, scope, ids, nids, 0, false, &p, err);
	for (i = 0; rc == LETHE_OK && i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];

		if (!s->reachable || s->part->action == DM_RETAIN || !has_identity(s->table))
			continue;
		rc = collect_step(s, db, key, own, nown, out, err);
	}
	plan_free(p);
	sodium_memzero(own, (nids > 0 ? nids : 1) * ID_HASH_MAX);
	free(own);
	if (rc != LETHE_OK)
		ledger_entries_free(out);
	return rc;
}

lethe_rc
ledger_record(struct store *st, const struct ledger_entries *in, const char *scope,
              int64_t request_id, int64_t now, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;
	size_t i = 0;

	/* LEDGER_BATCH entries per transaction: the write lock is held briefly each time. */
	while (rc == LETHE_OK && i < in->n) {
		size_t end = i + LEDGER_BATCH < in->n ? i + LEDGER_BATCH : in->n;

		rc = store_begin(st, err);
		for (; rc == LETHE_OK && i < end; i++)
			rc = store_ledger_add(st, in->e[i].table, in->e[i].key_hash, in->e[i].ids,
			                      scope, request_id, now, err);
		if (rc == LETHE_OK)
			rc = store_commit(st, err);
		else
			store_rollback(st);
	}
	return rc;
}

void
ledger_entries_free(struct ledger_entries *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->e[i].ids);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* ---- finding, after a restore ---------------------------------------------------------- */

/* An erased entry of the batch being looked at. */
struct entry {
	char key_hash[HASH_TEXT_LEN + 1]; /* keyed hash of the row's key */
	char *ids;                        /* its identity hashes (JSON array) */
	char scope[64];                   /* the scope of its request */
	int64_t request_id;               /* the request that erased it */
	size_t next;                      /* next entry of its bucket, or SIZE_MAX */
};

/* The erased entries of one batch's keys, by key hash. */
struct entry_set {
	struct entry *e; /* the entries, in store order (key hash, request) */
	size_t n, cap;   /* number of them, capacity */
	size_t *bucket;  /* first entry of each bucket, or SIZE_MAX */
	size_t nbucket;  /* a power of two */
};

static void
entry_on(void *arg, const char *key_hash, const char *ids_json, const char *scope,
         int64_t request_id)
{
	struct entry_set *s = arg;
	struct entry *e;

	if (strlen(key_hash) != HASH_TEXT_LEN)
		return; /* not an entry lethe wrote */
	s->e = xgrow(s->e, &s->cap, s->n + 1, sizeof(*s->e));
	e = &s->e[s->n++];
	memcpy(e->key_hash, key_hash, HASH_TEXT_LEN + 1);
	e->ids = xstrdup(ids_json);
	snprintf(e->scope, sizeof(e->scope), "%s", scope);
	e->request_id = request_id;
	e->next = SIZE_MAX;
}

/* The bucket of key hash @kh ("anon:" and hex digits: already uniform). */
static size_t
bucket_of(const char *kh, size_t nbucket)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; kh[i] != '\0'; i++)
		h = (h ^ (unsigned char)kh[i]) * 1099511628211ULL;
	return (size_t)(h & (nbucket - 1));
}

/* Index @s's entries; the last entry of a chain is pushed first so chains keep store order. */
static void
entry_set_index(struct entry_set *s)
{
	size_t i;

	free(s->bucket);
	s->nbucket = 16;
	while (s->nbucket < s->n * 2)
		s->nbucket *= 2;
	s->bucket = xmalloc(s->nbucket * sizeof(*s->bucket));
	for (i = 0; i < s->nbucket; i++)
		s->bucket[i] = SIZE_MAX;
	for (i = s->n; i-- > 0;) {
		size_t b = bucket_of(s->e[i].key_hash, s->nbucket);

		s->e[i].next = s->bucket[b];
		s->bucket[b] = i;
	}
}

/* Empty @s for the next batch (its memory kept). */
static void
entry_set_clear(struct entry_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->e[i].ids);
	s->n = 0;
}

static void
entry_set_free(struct entry_set *s)
{
	entry_set_clear(s);
	free(s->e);
	free(s->bucket);
	memset(s, 0, sizeof(*s));
}

/* True if identity hash @h is in the JSON array @ids. */
static bool
ids_has(json_t *ids, const char *h)
{
	size_t i;

	for (i = 0; i < json_array_size(ids); i++) {
		const char *x = json_string_value(json_array_get(ids, i));

		if (x != NULL && strcmp(x, h) == 0)
			return true;
	}
	return false;
}

/*
 * True if the row whose identity hashes (links other than the key) are
 * @hashes (@nh) is the person of entry @e: one of them is one of the
 * entry's.  An entry with no identity but its key's never matches: a key
 * alone cannot tell the person from someone who took the key since.
 */
static bool
entry_matches(const struct entry *e, char (*hashes)[ID_HASH_MAX], size_t nh)
{
	json_t *ids = json_loads(e->ids, 0, NULL);
	bool match = false;
	size_t i;

	for (i = 0; ids != NULL && i < nh && !match; i++)
		match = ids_has(ids, hashes[i]);
	json_decref(ids);
	return match;
}

/* Find (or add) the hit of @request_id in @out. */
static struct ledger_hit *
hit_of(struct ledger_found *out, size_t *cap, int64_t request_id, const char *scope)
{
	struct ledger_hit *h;
	size_t i;

	for (i = 0; i < out->nhits; i++)
		if (out->hits[i].request_id == request_id)
			return &out->hits[i];
	out->hits = xgrow(out->hits, cap, out->nhits + 1, sizeof(*out->hits));
	h = &out->hits[out->nhits++];
	memset(h, 0, sizeof(*h));
	h->request_id = request_id;
	snprintf(h->scope, sizeof(h->scope), "%s", scope);
	h->ids = xcalloc(REQUEST_IDS_MAX, sizeof(*h->ids));
	return h;
}

static void
count_add(struct ledger_found *out, size_t *cap, const char *table, const char *scope)
{
	struct ledger_count *c;
	size_t i;

	for (i = 0; i < out->ncounts; i++)
		if (strcmp(out->counts[i].table, table) == 0 &&
		    strcmp(out->counts[i].scope, scope) == 0) {
			out->counts[i].rows++;
			return;
		}
	out->counts = xgrow(out->counts, cap, out->ncounts + 1, sizeof(*out->counts));
	c = &out->counts[out->ncounts++];
	c->table = table;
	snprintf(c->scope, sizeof(c->scope), "%s", scope);
	c->rows = 1;
}

/* True if @s may name a person in a request: 1..REQUEST_ID_VALUE_MAX bytes, no control character.
 */
static bool
value_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > REQUEST_ID_VALUE_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* A row of a batch, copied out of the statement: vals[0] the key, vals[1 + i] link i's value. */
struct brow {
	char **vals;                      /* owned, wiped when freed; NULL: no value */
	char key_hash[HASH_TEXT_LEN + 1]; /* keyed hash of the key ("" if the key is NULL) */
};

/*
 * Add to hit @h the identities of row @row of @t of the kinds its scope
 * @sc accepts whose hash is in entry @e's set (values of the erased person
 * only, never another person's column of the row): those of links on the
 * key only, when there are any (they name this row and no other), else
 * all; a kind already named keeps its first value.
 */
static void
hit_add_ids(struct ledger_hit *h, const struct dm_scope *sc, const struct dm_table *t,
            const struct entry *e, const struct brow *row, const uint8_t key[HASH_KEY_LEN])
{
	json_t *ids;
	bool *ok, keyed = false;
	size_t i, j;

	if (sc == NULL || t->nlinks == 0)
		return;
	ids = json_loads(e->ids, 0, NULL);
	ok = xcalloc(t->nlinks, sizeof(*ok));
	for (i = 0; ids != NULL && i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];
		const char *v = row->vals[1 + i];
		char hh[ID_HASH_MAX];

		if (l->kind != DM_LINK_IDENTITY || !dm_scope_has_identity(sc, l->identity) ||
		    v == NULL || !value_ok(v) ||
		    !ledger_id_hash(key, l->identity, v, hh, sizeof(hh)))
			continue;
		ok[i] = ids_has(ids, hh);
		keyed = keyed || (ok[i] && key_link(t, l));
	}
	for (i = 0; i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];
		bool named = false;

		if (!ok[i] || (keyed && !key_link(t, l)))
			continue;
		for (j = 0; j < h->nids; j++)
			if (strcmp(h->ids[j].kind, l->identity) == 0)
				named = true;
		if (!named && h->nids < REQUEST_IDS_MAX) {
			h->ids[h->nids].kind = l->identity;
			h->ids[h->nids].value = xstrdup(row->vals[1 + i]);
			h->nids++;
		}
	}
	free(ok);
	json_decref(ids);
}

/* Row @row of @t against @set; adds a found row to @out. */
static void
find_row(const struct datamap *dm, const struct dm_table *t, const struct brow *row,
         const uint8_t key[HASH_KEY_LEN], const struct entry_set *set, struct ledger_found *out,
         size_t *hcap, size_t *ccap)
{
	char hashes[REQUEST_IDS_MAX * 4][ID_HASH_MAX];
	const struct entry *e, *found = NULL;
	struct ledger_hit *h;
	size_t nh = 0, i;
	bool hashed = false;

	if (row->key_hash[0] == '\0' || set->n == 0)
		return;
	i = set->bucket[bucket_of(row->key_hash, set->nbucket)];
	for (; i != SIZE_MAX && found == NULL; i = set->e[i].next) {
		e = &set->e[i];
		if (strcmp(e->key_hash, row->key_hash) != 0)
			continue;
		/* A key hit: this row's identities other than its key, hashed once. */
		if (!hashed) {
			size_t l;

			hashed = true;
			for (l = 0; l < t->nlinks && nh < sizeof(hashes) / sizeof(hashes[0]); l++) {
				const char *it = row->vals[1 + l];

				if (t->links[l].kind != DM_LINK_IDENTITY ||
				    key_link(t, &t->links[l]))
					continue;
				if (it != NULL && it[0] != '\0' &&
				    ledger_id_hash(key, t->links[l].identity, it, hashes[nh],
				                   sizeof(hashes[nh])))
					nh++;
			}
		}
		if (entry_matches(e, hashes, nh))
			found = e;
	}
	if (found == NULL)
		return;
	h = hit_of(out, hcap, found->request_id, found->scope);
	h->rows++;
	hit_add_ids(h, datamap_scope(dm, found->scope), t, found, row, key);
	count_add(out, ccap, t->name, found->scope);
}

/* Wipe and free the @n rows of a batch (each with @nvals values). */
static void
batch_clear(struct brow *rows, size_t n, size_t nvals)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < nvals; j++)
			if (rows[i].vals[j] != NULL) {
				sodium_memzero(rows[i].vals[j], strlen(rows[i].vals[j]));
				free(rows[i].vals[j]);
				rows[i].vals[j] = NULL;
			}
	}
}

/*
 * Read the next batch of @t (keys after @last, if it is not NULL) into
 * @rows (LEDGER_BATCH rows of @nvals values); *@n gets the rows read and
 * @last the batch's last key.
 */
static lethe_rc
read_batch(const struct dm_table *t, struct appdb *db, const uint8_t key[HASH_KEY_LEN],
           struct sql *q, struct appdb_val *last, char **last_text, struct brow *rows, size_t nvals,
           size_t *n, struct lethe_err *err)
{
	struct appdb_stmt *stmt = NULL;
	enum appdb_step r = APPDB_DONE;
	lethe_rc rc;

	*n = 0;
	sql_reset(q);
	select_ids(q, t);
	if (last->type != APPDB_NULL) {
		sql_add(q, " WHERE ");
		sql_ident(q, t->key);
		sql_add(q, " > ");
		sql_value(q, *last);
	}
	sql_add(q, " ORDER BY ");
	sql_ident(q, t->key);
	sql_addf(q, " LIMIT %d", LEDGER_BATCH);
	rc = sql_rc(q);
	if (rc != LETHE_OK)
		return lethe_err_set(err, rc, "ledger: the statement for %s is too long", t->name);
	rc = appdb_prepare(db, sql_str(q), &stmt, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, stmt, sql_vals(q), sql_nvals(q));
	while (rc == LETHE_OK && *n < LEDGER_BATCH &&
	       (r = appdb_step(db, stmt, err)) == APPDB_ROW) {
		struct brow *row = &rows[(*n)++];
		struct appdb_val k;
		size_t j;

		for (j = 0; j < nvals; j++) {
			struct appdb_val v;
			char tmp[32];
			const char *text;

			appdb_column(db, stmt, (int)j, &v);
			text = val_text(&v, tmp, sizeof(tmp));
			row->vals[j] = text != NULL ? xstrdup(text) : NULL;
			sodium_memzero(tmp, sizeof(tmp));
		}
		row->key_hash[0] = '\0';
		if (row->vals[0] != NULL)
			ledger_key_hash(key, t->name, row->vals[0], row->key_hash);
		/* The batch's last key, copied: the next batch starts after it. */
		appdb_column(db, stmt, 0, &k);
		free(*last_text);
		*last_text = NULL;
		*last = k;
		if (k.type == APPDB_TEXT) {
			*last_text = xstrdup(k.s);
			last->s = *last_text;
		}
	}
	if (rc == LETHE_OK && r == APPDB_ERROR)
		rc = err->rc != LETHE_OK ? err->rc : LETHE_E_DB;
	if (stmt != NULL)
		appdb_finalize(db, stmt);
	return rc;
}

/* Scan @t for rows of its erased entries, looking the ledger up one batch of keys at a time. */
static lethe_rc
find_table(const struct datamap *dm, const struct dm_table *t, struct appdb *db, struct store *st,
           const uint8_t key[HASH_KEY_LEN], const volatile int *stop, struct ledger_found *out,
           size_t *hcap, size_t *ccap, struct lethe_err *err)
{
	size_t nvals = 1 + t->nlinks, i;
	struct brow *rows = xcalloc(LEDGER_BATCH, sizeof(*rows));
	const char **khs = xcalloc(LEDGER_BATCH, sizeof(*khs));
	struct appdb_val last = {.type = APPDB_NULL};
	char *last_text = NULL;
	struct entry_set set;
	int64_t entries = 0;
	struct sql q;
	lethe_rc rc;

	memset(&set, 0, sizeof(set));
	for (i = 0; i < LEDGER_BATCH; i++)
		rows[i].vals = xcalloc(nvals, sizeof(char *));
	sql_init(&q, db, SQL_CAP);
	rc = store_ledger_count(st, t->name, &entries, err);
	if (rc != LETHE_OK || entries == 0)
		goto out;
	out->entries += entries;
	for (;;) {
		size_t n = 0, nk = 0;

		if (stop != NULL && *stop) {
			rc = lethe_err_set(err, LETHE_E_UNAVAILABLE, "stopping");
			break;
		}
		rc = read_batch(t, db, key, &q, &last, &last_text, rows, nvals, &n, err);
		for (i = 0; rc == LETHE_OK && i < n; i++)
			if (rows[i].key_hash[0] != '\0')
				khs[nk++] = rows[i].key_hash;
		/* The ledger's entries of this batch's keys only: memory stays O(LEDGER_BATCH). */
		entry_set_clear(&set);
		if (rc == LETHE_OK && nk > 0)
			rc = store_ledger_lookup(st, t->name, khs, nk, entry_on, &set, err);
		if (rc == LETHE_OK && set.n > 0) {
			entry_set_index(&set);
			for (i = 0; i < n; i++)
				find_row(dm, t, &rows[i], key, &set, out, hcap, ccap);
		}
		out->scanned += (int64_t)n;
		batch_clear(rows, n, nvals);
		if (rc != LETHE_OK || n < LEDGER_BATCH || last.type == APPDB_NULL)
			break;
	}
out:
	batch_clear(rows, LEDGER_BATCH, nvals);
	for (i = 0; i < LEDGER_BATCH; i++)
		free(rows[i].vals);
	free(rows);
	free(khs);
	free(last_text);
	sql_free(&q);
	entry_set_free(&set);
	return rc;
}

static int
hit_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct ledger_hit *)a)->request_id;
	int64_t y = ((const struct ledger_hit *)b)->request_id;

	return x < y ? -1 : x > y;
}

lethe_rc
ledger_find(const struct datamap *dm, struct appdb *db, struct store *st,
            const uint8_t key[HASH_KEY_LEN], const volatile int *stop, struct ledger_found *out,
            struct lethe_err *err)
{
	size_t hcap = 0, ccap = 0, i;
	lethe_rc rc = LETHE_OK;

	memset(out, 0, sizeof(*out));
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++)
		if (has_identity(&dm->tables[i]))
			rc = find_table(dm, &dm->tables[i], db, st, key, stop, out, &hcap, &ccap,
			                err);
	if (rc != LETHE_OK) {
		ledger_found_free(out);
		return rc;
	}
	if (out->nhits > 1)
		qsort(out->hits, out->nhits, sizeof(*out->hits), hit_cmp);
	return LETHE_OK;
}

void
ledger_found_free(struct ledger_found *f)
{
	size_t i, j;

	for (i = 0; i < f->nhits; i++) {
		for (j = 0; j < f->hits[i].nids; j++) {
			char *v = (char *)f->hits[i].ids[j].value;

			sodium_memzero(v, strlen(v));
			free(v);
		}
		free(f->hits[i].ids);
	}
	free(f->hits);
	free(f->counts);
	memset(f, 0, sizeof(*f));
}
