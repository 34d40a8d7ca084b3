/* SPDX-License-Identifier: MIT */
/*
 * test_intake.c - the Meta request intake (src/meta/intake.c) and its
 * in-memory map of the window's requests (src/meta/seen.c) against a real
 * state store: repeats resolve to the same code in the same group, in later
 * groups, among thousands, and after a restart; the window is honoured;
 * codes sort by time.
 */
#include "util/fmacros.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "meta/intake.h"
#include "meta/requests.h"
#include "meta/seen.h"
#include "store/store.h"
#include "testutil.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define WINDOW 3600 /* repeat window of these tests, seconds */
/* Receipt times near now: the intake rebuilds its index from the window before now. */
static int64_t T0;

/* One request the test waits for. */
struct waiter {
	struct intake_req in; /* submitted; must be first */
	pthread_mutex_t mu;   /* guards done */
	pthread_cond_t cv;    /* done was set */
	bool done;            /* the completion ran */
};

static void
on_done(struct intake_req *in)
{
	struct waiter *w = (struct waiter *)in;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The sealed identity every test request carries (its length is what matters here). */
static const uint8_t test_box[160] = {1, 2, 3, 4};
static size_t test_boxlen = 4;

static void
waiter_init(struct waiter *w, const char *app, const char *subject, int64_t now)
{
	memset(w, 0, sizeof(*w));
	w->in.app = app;
	snprintf(w->in.subject, sizeof(w->in.subject), "%s", subject);
	w->in.box = test_box;
	w->in.boxlen = test_boxlen;
	w->in.now = now;
	w->in.done = on_done;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

static void
waiter_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	assert_int_equal(w->in.rc, LETHE_OK);
}

/* Submit @n requests (subject i = @subjects[i]) at once and wait for all. */
static struct waiter *
submit_all(struct intake *in, const char *app, char (*subjects)[HASH_TEXT_LEN + 1], size_t n,
           int64_t now)
{
	struct waiter *w = xcalloc(n, sizeof(*w));
	size_t i;

	for (i = 0; i < n; i++)
		waiter_init(&w[i], app, subjects[i], now);
	for (i = 0; i < n; i++)
		intake_submit(in, &w[i].in);
	for (i = 0; i < n; i++)
		waiter_wait(&w[i]);
	return w;
}

/* One request, submitted alone; its code goes to @code. */
static bool
submit_one(struct intake *in, const char *app, const char *subject, int64_t now,
           char code[META_CODE_LEN + 1])
{
	struct waiter w;

	waiter_init(&w, app, subject, now);
	intake_submit(in, &w.in);
	waiter_wait(&w);
	memcpy(code, w.in.code, META_CODE_LEN + 1);
	return w.in.created;
}

static void
subject_of(size_t i, char out[HASH_TEXT_LEN + 1])
{
	char id[32];
	uint8_t key[HASH_KEY_LEN] = {7};

	snprintf(id, sizeof(id), "%zu", i);
	meta_subject(key, "facebook", id, out);
}

struct fx {
	char dir[64];   /* temp directory */
	char path[128]; /* state store */
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "%sintake-XXXXXX", TU_TMP_PREFIX);
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

static struct intake *
start(const struct fx *f)
{
	struct intake *in = NULL;
	struct lethe_err err = {0};

	assert_int_equal(intake_start(f->path, f->path, WINDOW, 30 * 86400, NULL, NULL, &in, &err),
	                 LETHE_OK);
	return in;
}

/* A repeat in the same group, and in a later group, gets the first code. */
static void
test_intake_repeat_same_code(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	char subj[3][HASH_TEXT_LEN + 1];
	char code[META_CODE_LEN + 1];
	struct waiter *w;

	subject_of(1, subj[0]);
	subject_of(1, subj[1]);
	subject_of(2, subj[2]);
	w = submit_all(in, "facebook", subj, 3, T0);
	assert_string_equal(w[0].in.code, w[1].in.code);
	assert_string_not_equal(w[0].in.code, w[2].in.code);
	assert_true(w[0].in.created);
	assert_false(w[1].in.created);
	assert_false(submit_one(in, "facebook", subj[0], T0 + 10, code));
	assert_string_equal(code, w[0].in.code);
	/* Same subject text, other app: another request. */
	assert_true(submit_one(in, "instagram", subj[0], T0 + 10, code));
	assert_string_not_equal(code, w[0].in.code);
	free(w);
	intake_free(in);
}

/* Thousands of requests in few groups: repeats of any of them are found. */
static void
test_intake_repeat_many(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	size_t n = 5000, i;
	char(*subj)[HASH_TEXT_LEN + 1] = xcalloc(n, sizeof(*subj));
	char code[META_CODE_LEN + 1];
	struct waiter *w;

	for (i = 0; i < n; i++)
		subject_of(i, subj[i]);
	w = submit_all(in, "facebook", subj, n, T0);
	for (i = 0; i < n; i += 997) {
		assert_false(submit_one(in, "facebook", subj[i], T0 + 1, code));
		assert_string_equal(code, w[i].in.code);
	}
	free(w);
	free(subj);
	intake_free(in);
}

/* After a restart the earlier request is found, by the intake and by a map loaded from the store.
 */
static void
test_intake_repeat_across_restart(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	struct store *st = NULL;
	struct store_request found;
	struct lethe_err err = {0};
	struct seen *sn;
	char subject[HASH_TEXT_LEN + 1];
	char first[META_CODE_LEN + 1], again[META_CODE_LEN + 1];

	subject_of(42, subject);
	assert_true(submit_one(in, "facebook", subject, T0, first));
	intake_free(in);

	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	sn = seen_new();
	assert_int_equal(seen_load(sn, st, T0 - WINDOW, &err), LETHE_OK);
	assert_int_equal(seen_lookup(sn, st, "facebook", subject, T0 - WINDOW, &found, &err),
	                 LETHE_OK);
	assert_string_equal(found.code, first);
	seen_free(sn);
	assert_int_equal(store_request_by_code(st, first, &found, &err), LETHE_OK);
	store_close(st);

	in = start(f);
	assert_false(submit_one(in, "facebook", subject, T0 + 5, again));
	assert_string_equal(again, first);
	intake_free(in);
}

/* The request with @code, read on its own connection. */
static struct store_request
request_of(const struct fx *f, const char *code)
{
	struct store *st = NULL;
	struct store_request r;
	struct lethe_err err = {0};

	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, code, &r, &err), LETHE_OK);
	store_close(st);
	return r;
}

/* The identity box request @id holds while unfinished (length to *@len; caller frees). */
static uint8_t *
box_of(const struct fx *f, int64_t id, size_t *len)
{
	struct store *st = NULL;
	struct store_request r;
	struct lethe_err err = {0};
	uint8_t *box = NULL;

	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_next(st, id - 1, 0, false, &r, &box, len, &err), LETHE_OK);
	assert_int_equal(r.id, id);
	store_close(st);
	return box;
}

/* Record what the runner records for run @run of request @id. */
static void
runner_records(const struct fx *f, int64_t id, const char *state, int64_t job, bool no_data,
               int64_t run)
{
	struct store *st = NULL;
	struct lethe_err err = {0};

	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_meta_update(st, id, state, job, no_data, T0 + 1, run, &err),
	                 LETHE_OK);
	store_close(st);
}

/* Submit a repeat of @subject carrying identity @box; returns its code in @code. */
static bool
submit_box(struct intake *in, const char *subject, int64_t now, const uint8_t *box, size_t len,
           char code[META_CODE_LEN + 1])
{
	struct waiter w;

	waiter_init(&w, "facebook", subject, now);
	w.in.box = box;
	w.in.boxlen = len;
	intake_submit(in, &w.in);
	waiter_wait(&w);
	memcpy(code, w.in.code, META_CODE_LEN + 1);
	return w.in.created;
}

/*
 * A repeat of a finished request (completed, "no data") keeps its code and
 * asks for another run: written to the log before the answer (here the
 * indexer is held, so only a replay can bring it into the store), with the
 * repeat's identity (the finished request's box was wiped).  The store
 * shows the latest run.  A replay does not apply it twice.
 */
static void
test_intake_repeat_reruns_finished(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	struct store *st = NULL;
	struct store_request r;
	struct lethe_err err = {0};
	static const uint8_t box2[8] = {9, 8, 7, 6, 5, 4, 3, 2};
	char subject[HASH_TEXT_LEN + 1];
	char first[META_CODE_LEN + 1], again[META_CODE_LEN + 1];
	uint8_t *box;
	size_t len = 0;
	bool applied = true;

	subject_of(77, subject);
	assert_true(submit_one(in, "facebook", subject, T0, first));
	intake_settle(in, 2000);
	r = request_of(f, first);
	assert_int_equal(r.runs, 1);
	runner_records(f, r.id, "completed", 0, true, 1); /* "no data": the box is wiped */

	intake_hold_index(in, true);
	assert_false(submit_box(in, subject, T0 + 20, box2, sizeof(box2), again));
	assert_string_equal(again, first);
	r = request_of(f, first);
	assert_string_equal(r.state, "completed"); /* only in the log so far */
	intake_free(in);                           /* held: it stays in the log */

	in = start(f); /* replays the log */
	r = request_of(f, first);
	assert_string_equal(r.state, "received");
	assert_int_equal(r.runs, 2);
	assert_int_equal(r.run_at, T0 + 20);
	assert_int_equal(r.received_at, T0);
	assert_false(r.no_data);
	assert_int_equal(r.completed_at, 0);
	box = box_of(f, r.id, &len);
	assert_int_equal(len, sizeof(box2));
	assert_memory_equal(box, box2, sizeof(box2));
	free(box);

	/* The rerun completes; a second replay of the same record changes nothing. */
	runner_records(f, r.id, "completed_with_retention", 3, false, 2);
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(
	    store_meta_rerun(st, first, 2, box2, sizeof(box2), T0 + 20, &applied, &err), LETHE_OK);
	assert_false(applied);
	store_close(st);
	r = request_of(f, first);
	assert_string_equal(r.state, "completed_with_retention");
	assert_int_equal(r.job, 3);

	/* Once indexed, the next repeat reruns it too, without a restart. */
	assert_false(submit_box(in, subject, T0 + 40, box2, sizeof(box2), again));
	assert_string_equal(again, first);
	intake_settle(in, 2000);
	r = request_of(f, first);
	assert_string_equal(r.state, "received");
	assert_int_equal(r.runs, 3);
	assert_int_equal(r.job, 3); /* the earlier run's, until this run has one */
	assert_int_equal(r.run_at, T0 + 40);
	intake_free(in);
}

/*
 * A repeat while the request runs: the run goes on (its tables may have
 * been done before the person's new data came), and the request runs once
 * more after it.  A repeat of a request still in the log is the same run.
 */
/*
 * Two workers read one request; the first runs and finishes it, the second
 * took the lease after that (B1): under the lease it reads the request
 * finished (not runnable), and a stale run's record can never overwrite
 * the result (job, no_data) nor enter a state again.
 */
static void
test_intake_stale_run_keeps_result(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	struct store_request r, now;
	struct store *st = NULL;
	struct lethe_err err = {0};
	char subject[HASH_TEXT_LEN + 1], code[META_CODE_LEN + 1];
	uint8_t *box = NULL;
	size_t len = 0;

	subject_of(79, subject);
	assert_true(submit_one(in, "facebook", subject, T0, code));
	intake_settle(in, 2000);
	r = request_of(f, code);
	assert_true(store_request_runnable(&r, T0));
	/* Worker A runs it: job 5, completed. */
	runner_records(f, r.id, "running", 5, false, 1);
	runner_records(f, r.id, "completed", 5, false, 1);
	/* Worker B, under the lease, reads it again: nothing to run. */
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_get_box(st, r.id, &now, &box, &len, &err), LETHE_OK);
	assert_string_equal(now.state, "completed");
	assert_false(store_request_runnable(&now, T0 + 10));
	assert_null(box);
	store_close(st);
	/* A stale run that still records its end ("no data") changes nothing. */
	runner_records(f, r.id, "running", 0, false, 1);
	runner_records(f, r.id, "completed", 0, true, 1);
	r = request_of(f, code);
	assert_string_equal(r.state, "completed");
	assert_int_equal(r.job, 5);
	assert_false(r.no_data);
	intake_free(in);
}

static void
test_intake_repeat_while_running(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	struct store_request r;
	char subject[HASH_TEXT_LEN + 1], other[HASH_TEXT_LEN + 1];
	char first[META_CODE_LEN + 1], again[META_CODE_LEN + 1];
	uint8_t *box;
	size_t len = 0;

	subject_of(78, subject);
	assert_true(submit_one(in, "facebook", subject, T0, first));
	intake_settle(in, 2000);
	r = request_of(f, first);
	runner_records(f, r.id, "running", 5, false, 1);
	assert_false(submit_one(in, "facebook", subject, T0 + 3, again));
	assert_string_equal(again, first);
	intake_settle(in, 2000);
	r = request_of(f, first);
	assert_string_equal(r.state, "running");
	assert_int_equal(r.runs, 2);
	assert_int_equal(r.job_run, 1);
	assert_int_equal(r.job, 5);
	/* Run 1 ends: not recorded as the end, the request waits for run 2 (box kept). */
	runner_records(f, r.id, "completed", 5, false, 1);
	r = request_of(f, first);
	assert_string_equal(r.state, "received");
	assert_int_equal(r.job, 5);
	assert_int_equal(r.job_run, 1);
	assert_int_equal(r.completed_at, 0);
	box = box_of(f, r.id, &len);
	assert_int_equal(len, test_boxlen);
	free(box);
	runner_records(f, r.id, "completed", 0, true, 2);
	r = request_of(f, first);
	assert_string_equal(r.state, "completed");
	assert_true(r.no_data);

	/* Still in the log (indexer held): the repeat is the same run. */
	intake_hold_index(in, true);
	subject_of(79, other);
	assert_true(submit_one(in, "facebook", other, T0, first));
	assert_false(submit_one(in, "facebook", other, T0 + 1, again));
	assert_string_equal(again, first);
	intake_hold_index(in, false);
	intake_settle(in, 2000);
	r = request_of(f, first);
	assert_int_equal(r.runs, 1);
	assert_string_equal(r.state, "received");
	intake_free(in);
}

/*
 * A "crashed" intake: a child process submits @n requests (subjects
 * 1000 + i), @batch at a time, each carrying @boxlen bytes of identity,
 * with the indexer held (so they are only in the log), writes their codes
 * to @codes and exits without stopping anything.  The child uses no cmocka
 * assertion (it reports by exit status).
 */
static void
crash_with_log(const struct fx *f, size_t n, size_t batch, size_t boxlen,
               char (*codes)[META_CODE_LEN + 1])
{
	int fds[2];
	pid_t pid;
	int status = 0;
	size_t got = 0;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct waiter *w = xcalloc(batch, sizeof(*w));
		struct intake *in = NULL;
		struct lethe_err err = {0};

		close(fds[0]);
		test_boxlen = boxlen;
		if (intake_start(f->path, f->path, WINDOW, 30 * 86400, NULL, NULL, &in, &err) !=
		    LETHE_OK)
			_exit(2);
		intake_hold_index(in, true);
		for (size_t done = 0; done < n; done += batch) {
			size_t k = n - done < batch ? n - done : batch;

			for (size_t i = 0; i < k; i++) {
				char subject[HASH_TEXT_LEN + 1];

				subject_of(1000 + done + i, subject);
				waiter_init(&w[i], "facebook", subject, T0);
			}
			for (size_t i = 0; i < k; i++)
				intake_submit(in, &w[i].in);
			for (size_t i = 0; i < k; i++) {
				pthread_mutex_lock(&w[i].mu);
				while (!w[i].done)
					pthread_cond_wait(&w[i].cv, &w[i].mu);
				pthread_mutex_unlock(&w[i].mu);
				if (w[i].in.rc != LETHE_OK)
					_exit(3);
				if (write(fds[1], w[i].in.code, META_CODE_LEN + 1) !=
				    META_CODE_LEN + 1)
					_exit(4);
			}
		}
		_exit(0); /* no stop, no free: as if killed */
	}
	close(fds[1]);
	while (got < n &&
	       read(fds[0], codes[got], sizeof(codes[got])) == (ssize_t)sizeof(codes[got]))
		got++;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(got, n);
}

/* The end of the groups at the start of log file @path (0: none); *@first gets its first header. */
static long
log_groups_end(const char *path, uint8_t first[32])
{
	FILE *fp = fopen(path, "rb");
	uint8_t h[32];
	long off = 0;

	assert_non_null(fp);
	memset(first, 0, 32);
	while (fseek(fp, off, SEEK_SET) == 0 && fread(h, 1, sizeof(h), fp) == sizeof(h) &&
	       memcmp(h, "LTI1", 4) == 0) {
		if (off == 0)
			memcpy(first, h, 32);
		off += 32 + (long)(h[8] | h[9] << 8 | h[10] << 16 | (uint32_t)h[11] << 24);
	}
	fclose(fp);
	return off;
}

/* True if log file @path holds a group at its start. */
static bool
log_has_groups(const char *path)
{
	uint8_t first[32];

	return log_groups_end(path, first) > 0;
}

/*
 * Requests answered but only in the log when the process died are in the
 * store after the next start, with their codes; repeats find them; the log
 * is emptied.
 */
static void
test_intake_replay_after_crash(void **state)
{
	struct fx *f = *state;
	char codes[40][META_CODE_LEN + 1];
	char subject[HASH_TEXT_LEN + 1], code[META_CODE_LEN + 1];
	struct store_request found;
	struct lethe_err err = {0};
	struct store *st = NULL;
	struct intake *in;
	char *log0 = intake_log_path(f->path, 0);

	crash_with_log(f, 40, 1, 4, codes);
	assert_true(log_has_groups(log0));
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, codes[0], &found, &err), LETHE_E_NOTFOUND);
	store_close(st);

	in = start(f);
	assert_false(log_has_groups(log0));
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	for (size_t i = 0; i < 40; i++) {
		assert_int_equal(store_request_by_code(st, codes[i], &found, &err), LETHE_OK);
		assert_string_equal(found.app, "facebook");
		assert_string_equal(found.state, "received");
		/* Replayed requests are due as the answered ones: the deadline after receipt. */
		assert_int_equal(found.due_at, found.received_at + 30 * 86400);
		assert_string_equal(found.source, "meta");
	}
	store_close(st);
	subject_of(1000 + 17, subject);
	assert_false(submit_one(in, "facebook", subject, T0 + 1, code));
	assert_string_equal(code, codes[17]);
	intake_free(in);
	/* Replayed twice (a crash during the replay): nothing doubles. */
	in = start(f);
	intake_free(in);
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, codes[39], &found, &err), LETHE_OK);
	store_close(st);
	free(log0);
}

/*
 * A torn last group (a write cut short by the crash: never answered) is
 * ignored; the groups before it are replayed.
 */
static void
test_intake_torn_tail(void **state)
{
	struct fx *f = *state;
	char codes[5][META_CODE_LEN + 1];
	struct store_request found;
	struct lethe_err err = {0};
	struct store *st = NULL;
	char *log0 = intake_log_path(f->path, 0);
	uint8_t head[32];
	long end;
	FILE *fp;

	crash_with_log(f, 5, 1, 4, codes);
	end = log_groups_end(log0, head);
	assert_true(end > 0);
	fp = fopen(log0, "r+b");
	assert_non_null(fp);
	/* After the last group: the start of a copy of the first one, cut off. */
	assert_int_equal(fseek(fp, end, SEEK_SET), 0);
	assert_int_equal(fwrite(head, 1, sizeof(head), fp), sizeof(head));
	fclose(fp);
	intake_free(start(f));
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(store_request_by_code(st, codes[i], &found, &err), LETHE_OK);
	store_close(st);
	assert_false(log_has_groups(log0));
	free(log0);
}

/*
 * Past 8 MB the log goes on in the other file.  A crash with the indexer
 * held leaves requests in both files; the next start replays both, the
 * older epoch first (so ids follow receipt order).
 */
static void
test_intake_rotation_replay(void **state)
{
	enum { N = 60000 }; /* records of 250 bytes: > 8 MB */
	struct fx *f = *state;
	char(*codes)[META_CODE_LEN + 1] = xcalloc(N, sizeof(*codes));
	char *log0 = intake_log_path(f->path, 0), *log1 = intake_log_path(f->path, 1);
	struct store_request first, last, found;
	struct lethe_err err = {0};
	struct store *st = NULL;

	crash_with_log(f, N, 2000, sizeof(test_box), codes);
	assert_true(log_has_groups(log0));
	assert_true(log_has_groups(log1));

	intake_free(start(f));
	assert_false(log_has_groups(log0));
	assert_false(log_has_groups(log1));
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	for (size_t i = 0; i < N; i += 997)
		assert_int_equal(store_request_by_code(st, codes[i], &found, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, codes[0], &first, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, codes[N - 1], &last, &err), LETHE_OK);
	assert_true(first.id < last.id);
	store_close(st);
	free(codes);
	free(log0);
	free(log1);
}

/*
 * While INTAKE_PENDING_MAX requests wait for the state store (the indexer is
 * held here; in life the store fails), new requests are refused, and taken
 * again once the indexer catches up.
 */
static void
test_intake_pending_cap(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	size_t batch = 4096, done = 0;
	char(*subj)[HASH_TEXT_LEN + 1] = xcalloc(batch, sizeof(*subj));
	char subject[HASH_TEXT_LEN + 1], code[META_CODE_LEN + 1];
	struct waiter w;

	intake_hold_index(in, true);
	while (done < INTAKE_PENDING_MAX) {
		size_t n = INTAKE_PENDING_MAX - done < batch ? INTAKE_PENDING_MAX - done : batch;

		for (size_t i = 0; i < n; i++)
			subject_of(200000 + done + i, subj[i]);
		free(submit_all(in, "facebook", subj, n, T0));
		done += n;
	}
	subject_of(999999, subject);
	waiter_init(&w, "facebook", subject, T0);
	intake_submit(in, &w.in);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(w.in.rc, LETHE_E_UNAVAILABLE);
	intake_hold_index(in, false);
	intake_settle(in, 10000);
	assert_true(submit_one(in, "facebook", subject, T0, code));
	free(subj);
	intake_free(in);
}

/*
 * An answered request the store does not have yet is found by its code in
 * the intake (a status page asks it: a full disk keeps codes' pages); once
 * indexed, only the store has it.
 */
static void
test_intake_find_code_while_pending(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	char subject[HASH_TEXT_LEN + 1], code[META_CODE_LEN + 1];
	struct intake_found found;
	struct store_request req;
	struct store *st = NULL;
	struct lethe_err err = {0};

	intake_hold_index(in, true);
	subject_of(77, subject);
	assert_true(submit_one(in, "instagram", subject, T0 + 5, code));
	memset(&found, 0, sizeof(found));
	assert_true(intake_find_code(in, code, &found));
	assert_string_equal(found.app, "instagram");
	assert_int_equal(found.received_at, T0 + 5);
	assert_false(intake_find_code(in, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &found));
	assert_null(intake_trouble(in)); /* held, not failing */
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, code, &req, &err), LETHE_E_NOTFOUND);
	intake_hold_index(in, false);
	intake_settle(in, 10000);
	assert_false(intake_find_code(in, code, &found));
	assert_int_equal(store_request_by_code(st, code, &req, &err), LETHE_OK);
	store_close(st);
	intake_free(in);
}

/* The descriptor this process has open on @path (found through /proc), or -1. */
static int
fd_of(const char *path)
{
	char link[64], target[PATH_MAX];
	int fd;

	for (fd = 3; fd < 1024; fd++) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0)
			return fd;
	}
	return -1;
}

/*
 * A write to the intake log that fails answers its group 503 and makes
 * intake_trouble() say so (for /readyz) until a write succeeds again.  The
 * failure is made by putting a read-only descriptor of the same file in
 * place of the log's.
 */
static void
test_intake_write_failure_is_trouble(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	char subject[HASH_TEXT_LEN + 1], code[META_CODE_LEN + 1], log0[PATH_MAX];
	char real[PATH_MAX];
	const char *why;
	struct waiter w;
	int fd, saved, ro;

	snprintf(log0, sizeof(log0), "%s-intake0", f->path);
	assert_non_null(realpath(log0, real));
	fd = fd_of(real);
	assert_true(fd >= 0);
	saved = dup(fd);
	ro = open(real, O_RDONLY | O_CLOEXEC);
	assert_true(saved >= 0 && ro >= 0);
	assert_int_equal(dup2(ro, fd), fd);

	assert_null(intake_trouble(in));
	subject_of(91, subject);
	waiter_init(&w, "facebook", subject, T0 + 1);
	intake_submit(in, &w.in);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(w.in.rc, LETHE_E_IO);
	why = intake_trouble(in);
	assert_non_null(why);
	assert_non_null(strstr(why, "cannot be written"));

	/* The file writable again: the next request is taken and the trouble is gone. */
	assert_int_equal(dup2(saved, fd), fd);
	assert_true(submit_one(in, "facebook", subject, T0 + 2, code));
	assert_null(intake_trouble(in));
	close(saved);
	close(ro);
	intake_free(in);
}

/* True if log file @path holds only zero bytes. */
static bool
log_all_zero(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;
	bool zero = true;

	assert_non_null(fp);
	while (zero && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
		for (size_t i = 0; i < n; i++)
			zero &= buf[i] == 0;
	fclose(fp);
	return zero;
}

/*
 * Once its requests are in the store and the writer has been idle a moment,
 * the log holds nothing of them (no sealed identity outlives its request).
 */
static void
test_intake_scrubs_when_idle(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	char(*subj)[HASH_TEXT_LEN + 1] = xcalloc(500, sizeof(*subj));
	char *log0 = intake_log_path(f->path, 0);
	int waited = 0;

	for (size_t i = 0; i < 500; i++)
		subject_of(7000 + i, subj[i]);
	free(submit_all(in, "facebook", subj, 500, T0));
	assert_false(log_all_zero(log0));
	intake_settle(in, 5000);
	while (!log_all_zero(log0) && waited < 5000) {
		usleep(20000);
		waited += 20;
	}
	assert_true(log_all_zero(log0));
	free(subj);
	free(log0);
	intake_free(in);
}

/* A clean stop leaves everything in the store and both log files empty. */
static void
test_intake_stop_empties_log(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	char(*subj)[HASH_TEXT_LEN + 1] = xcalloc(300, sizeof(*subj));
	struct store_request found;
	struct lethe_err err = {0};
	struct store *st = NULL;
	struct waiter *w;
	char *log0 = intake_log_path(f->path, 0), *log1 = intake_log_path(f->path, 1);

	for (size_t i = 0; i < 300; i++)
		subject_of(5000 + i, subj[i]);
	w = submit_all(in, "instagram", subj, 300, T0);
	assert_true(log_has_groups(log0));
	intake_free(in);
	assert_false(log_has_groups(log0));
	assert_false(log_has_groups(log1));
	assert_int_equal(store_open(f->path, &st, &err), LETHE_OK);
	for (size_t i = 0; i < 300; i += 37)
		assert_int_equal(store_request_by_code(st, w[i].in.code, &found, &err), LETHE_OK);
	store_close(st);
	free(w);
	free(subj);
	free(log0);
	free(log1);
}

/* Outside the repeat window a request is new. */
static void
test_intake_window(void **state)
{
	struct fx *f = *state;
	struct intake *in = start(f);
	char subject[HASH_TEXT_LEN + 1];
	char a[META_CODE_LEN + 1], b[META_CODE_LEN + 1], c[META_CODE_LEN + 1];

	subject_of(7, subject);
	assert_true(submit_one(in, "facebook", subject, T0, a));
	assert_false(submit_one(in, "facebook", subject, T0 + WINDOW, b));
	assert_string_equal(a, b);
	assert_true(submit_one(in, "facebook", subject, T0 + WINDOW + 1, c));
	assert_string_not_equal(a, c);
	intake_free(in);
}

/* The in-memory map: candidates newest first, growth, expiry by id. */
static void
test_seen_map(void **state)
{
	struct seen *sn = seen_new();
	char subject[HASH_TEXT_LEN + 1];
	int64_t ids[4];
	size_t i;

	(void)state;
	for (i = 1; i <= 5000; i++) {
		subject_of(i, subject);
		seen_add(sn, subject, (int64_t)i + 100);
	}
	assert_int_equal(seen_count(sn), 5000);
	subject_of(77, subject);
	assert_int_equal(seen_find(sn, subject, ids, 4), 1);
	assert_int_equal(ids[0], 177);
	/* Same subject again: all, newest first; at most max. */
	seen_add(sn, subject, 9001);
	seen_add(sn, subject, 9000);
	assert_int_equal(seen_find(sn, subject, ids, 4), 3);
	assert_int_equal(ids[0], 9001);
	assert_int_equal(ids[1], 9000);
	assert_int_equal(ids[2], 177);
	assert_int_equal(seen_find(sn, subject, ids, 2), 2);
	assert_int_equal(ids[0], 9001);
	assert_int_equal(ids[1], 9000);
	/* A subject never added: no candidate. */
	subject_of(123456, subject);
	assert_int_equal(seen_find(sn, subject, ids, 4), 0);
	/* Expiry keeps ids from the first one given, and shrinks. */
	seen_expire(sn, 5090);
	assert_int_equal(seen_count(sn), 13);
	subject_of(77, subject);
	assert_int_equal(seen_find(sn, subject, ids, 4), 2);
	assert_int_equal(ids[1], 9000);
	subject_of(4995, subject);
	assert_int_equal(seen_find(sn, subject, ids, 4), 1);
	assert_int_equal(ids[0], 5095);
	/* Everything expired: empty, and new ids are remembered again. */
	seen_expire(sn, INT64_MAX);
	assert_int_equal(seen_count(sn), 0);
	seen_add(sn, subject, 20000);
	assert_int_equal(seen_find(sn, subject, ids, 4), 1);
	assert_int_equal(ids[0], 20000);
	seen_free(sn);
}

/* Codes are well formed, unique, and sort by receipt time. */
static void
test_intake_code_order(void **state)
{
	char a[META_CODE_LEN + 1], b[META_CODE_LEN + 1], c[META_CODE_LEN + 1];

	(void)state;
	meta_code_new(a, T0);
	meta_code_new(b, T0);
	meta_code_new(c, T0 + 2);
	assert_true(meta_code_ok(a));
	assert_true(meta_code_ok(c));
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), META_CODE_LEN);
	/* The same 2 s step (its 6 chars); within it the 1/1024ths come from the real clock. */
	assert_memory_equal(a, b, 6);
	assert_true(strncmp(a, c, META_CODE_TIME) < 0);
	/* The receipt time, back from the code (to 2 s). */
	assert_true(meta_code_time(a) <= T0 && meta_code_time(a) > T0 - 2);
	assert_int_equal(meta_code_time(c) - meta_code_time(a), 2);
	assert_int_equal(meta_code_time("1"), 0);
	/* Codes of the first format (32 chars) are still codes; other lengths are not. */
	assert_true(meta_code_ok("2222223abcdefghijklmnopqrstuvwxy"));
	assert_true(meta_code_ok("2222223abcdefghijklmnopqrstuvwxyz2"));
	assert_false(meta_code_ok("2222223abcdefghijklmnopqrstuvwx"));    /* 31 */
	assert_false(meta_code_ok("2222223abcdefghijklmnopqrstuvwxyz"));  /* 33 */
	assert_false(meta_code_ok("2222223abcdefghijklmnopqrstuvwxyz1")); /* '1' */
	/* Across every digit roll-over of the lowest time digit (25 -> 26 was '2' < 'z'). */
	for (int64_t t = 0; t < 200; t += 2) {
		meta_code_new(a, META_CODE_EPOCH + t);
		meta_code_new(c, META_CODE_EPOCH + t + 2);
		assert_true(strncmp(a, c, META_CODE_TIME) < 0);
	}
}

int
main(void)
{
	T0 = time_now() - 600;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_intake_repeat_same_code, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_find_code_while_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_repeat_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_repeat_across_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_repeat_reruns_finished, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_repeat_while_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_stale_run_keeps_result, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_replay_after_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_stop_empties_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_rotation_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_pending_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_scrubs_when_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intake_write_failure_is_trouble, setup, teardown),
	    cmocka_unit_test(test_intake_code_order),
	    cmocka_unit_test(test_seen_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
