/* SPDX-License-Identifier: MIT */
/*
 * audit_probe.c - bench/audit's helper: times the audit chain's append
 * against plain inserts of rows of the same size in transactions of the
 * same size, fills a chain for `lethe audit verify`, and reads a chain's
 * rows without hashing them (verify's reference).  Links lethe's core; the
 * state store is opened as lethe opens it.
 *
 *   audit_probe append STATE_DB N BATCH   {"append_us", "ref_us", ...} on stdout
 *   audit_probe fill STATE_DB N BATCH     append N entries (for verify)
 *   audit_probe read STATE_DB             {"read_ms", "rows", "bytes"}
 */
#include "util/fmacros.h"

#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "store/store_internal.h"
#include "util/hash.h"
#include "util/timeutil.h"

/* A request entry's members besides at, seq, state and type (~240 bytes in all). */
#define FIELDS                                                                                     \
	"\"actor\":\"app:bench\",\"app\":\"\",\"due_at\":1799191025,\"kind\":\"erasure\","         \
	"\"received_at\":1796599025,\"scope\":\"account\",\"source\":\"app\",\"subject\":"         \
	"\"anon:3f78e7277e740edfe39b274bbe126342\""

static int
die(const char *what, const struct lethe_err *err)
{
	fprintf(stderr, "audit_probe: %s: %s\n", what, err != NULL ? err->msg : "");
	return 1;
}

static int64_t
arg_int(const char *s)
{
	char *end = NULL;
	long long v = strtoll(s, &end, 10);

	return end != s && *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* Append @n entries in transactions of @batch; the elapsed ms into *@ms. */
static int
append(struct store *st, int64_t n, int64_t batch, double *ms)
{
	struct lethe_err err = {0};
	double t0 = time_mono_ms();
	int64_t i;

	for (i = 0; i < n; i++) {
		if (i % batch == 0 && store_begin(st, &err) != LETHE_OK)
			return die("begin", &err);
		if (store_audit_append(st, i + 1, "request", "completed", 1796599025 + i, FIELDS,
		                       NULL, &err) != LETHE_OK)
			return die("append", &err);
		if ((i + 1) % batch == 0 || i + 1 == n)
			if (store_commit(st, &err) != LETHE_OK)
				return die("commit", &err);
	}
	*ms = time_mono_ms() - t0;
	return 0;
}

/*
 * The reference: @n plain inserts into a table shaped like the chain's
 * (its columns and its index on request_id), of
 * the same body bytes (an entry's, built once) and a 32-byte hash, one
 * prepared statement, in transactions of @batch.
 */
static int
reference(struct store *st, int64_t n, int64_t batch, double *ms)
{
	static const char body[] =
	    "{\"actor\":\"app:bench\",\"app\":\"\",\"at\":1796599025,\"due_at\":1799191025,"
	    "\"kind\":\"erasure\",\"received_at\":1796599025,\"request\":1,\"scope\":\"account\","
	    "\"seq\":1,\"source\":\"app\",\"state\":\"completed\",\"subject\":"
	    "\"anon:3f78e7277e740edfe39b274bbe126342\",\"type\":\"request\"}";
	uint8_t hash[32];
	sqlite3_stmt *q = NULL;
	double t0;
	int64_t i;

	hash_key_random_bytes(hash, sizeof(hash));
	if (sqlite3_exec(
	        sq_sqlite_handle(st->c),
	        "CREATE TABLE IF NOT EXISTS bench_ref (seq INTEGER PRIMARY KEY, at INTEGER "
	        "NOT NULL, request_id INTEGER, type TEXT NOT NULL, state TEXT, body TEXT "
	        "NOT NULL, hash BLOB NOT NULL); CREATE INDEX IF NOT EXISTS "
	        "bench_ref_request ON bench_ref(request_id) WHERE request_id IS NOT "
	        "NULL; DELETE FROM bench_ref",
	        NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        sq_sqlite_handle(st->c),
	        "INSERT INTO bench_ref (seq, at, request_id, type, state, body, hash) "
	        "VALUES (?1, ?2, ?3, 'request', 'completed', ?4, ?5)",
	        -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "audit_probe: reference: %s\n",
		        sqlite3_errmsg(sq_sqlite_handle(st->c)));
		return 1;
	}
	t0 = time_mono_ms();
	for (i = 0; i < n; i++) {
		if (i % batch == 0)
			sqlite3_exec(sq_sqlite_handle(st->c), "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_bind_int64(q, 1, i + 1);
		sqlite3_bind_int64(q, 2, 1796599025 + i);
		sqlite3_bind_int64(q, 3, i + 1);
		sqlite3_bind_text(q, 4, body, (int)sizeof(body) - 1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 5, hash, sizeof(hash), SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE) {
			fprintf(stderr, "audit_probe: reference: %s\n",
			        sqlite3_errmsg(sq_sqlite_handle(st->c)));
			return 1;
		}
		sqlite3_reset(q);
		if ((i + 1) % batch == 0 || i + 1 == n)
			sqlite3_exec(sq_sqlite_handle(st->c), "COMMIT", NULL, NULL, NULL);
	}
	*ms = time_mono_ms() - t0;
	sqlite3_finalize(q);
	return 0;
}

/* Every row of the chain in seq order, its body and hash touched, nothing hashed. */
static int
read_rows(struct store *st)
{
	sqlite3_stmt *q = NULL;
	double t0 = time_mono_ms();
	int64_t rows = 0, bytes = 0;
	unsigned sum = 0;

	if (sqlite3_prepare_v2(sq_sqlite_handle(st->c),
	                       "SELECT seq, body, hash FROM audit ORDER BY seq", -1, &q,
	                       NULL) != SQLITE_OK)
		return 1;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_text(q, 1);
		const unsigned char *h = sqlite3_column_blob(q, 2);
		int n = sqlite3_column_bytes(q, 1);

		sum += (unsigned)b[n / 2] + (h != NULL ? h[0] : 0u);
		bytes += n;
		rows++;
	}
	sqlite3_finalize(q);
	printf("{\"read_ms\": %.1f, \"rows\": %lld, \"bytes\": %lld, \"check\": %u}\n",
	       time_mono_ms() - t0, (long long)rows, (long long)bytes, sum);
	return 0;
}

int
main(int argc, char **argv)
{
	struct lethe_err err = {0};
	struct store *st = NULL;
	double a_ms = 0, r_ms = 0;
	int64_t n = argc >= 4 ? arg_int(argv[3]) : 0, batch = argc >= 5 ? arg_int(argv[4]) : 0;
	int rc = 1;

	if (argc < 3 || hash_init() != LETHE_OK) {
		fprintf(stderr,
		        "usage: audit_probe append|fill STATE_DB N BATCH | read STATE_DB\n");
		return 2;
	}
	if (store_open(argv[2], &st, &err) != LETHE_OK)
		return die("open", &err);
	if (strcmp(argv[1], "read") == 0) {
		rc = read_rows(st);
	} else if (n == 0 || batch == 0) {
		fprintf(stderr, "audit_probe: N and BATCH must be positive integers\n");
		rc = 2;
	} else if (strcmp(argv[1], "fill") == 0) {
		rc = append(st, n, batch, &a_ms);
		if (rc == 0)
			printf("{\"fill_ms\": %.1f, \"n\": %lld}\n", a_ms, (long long)n);
	} else if (strcmp(argv[1], "append") == 0) {
		rc = append(st, n, batch, &a_ms);
		if (rc == 0)
			rc = reference(st, n, batch, &r_ms);
		if (rc == 0)
			printf("{\"n\": %lld, \"batch\": %lld, \"append_us\": %.3f, \"ref_us\": "
			       "%.3f}\n",
			       (long long)n, (long long)batch, a_ms * 1000.0 / (double)n,
			       r_ms * 1000.0 / (double)n);
	}
	store_close(st);
	return rc;
}
