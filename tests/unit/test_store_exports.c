/* SPDX-License-Identifier: MIT */
/*
 * test_store_exports.c - unit tests of src/store/exports.c: the archive's
 * row (put, get, replace), the exporter's queue (a running export before a
 * scheduled one, grace respected, erasures never), deleting an archive
 * (once, key box wiped), the expired ones, the live-file check, the
 * downloads count and the rate limit's query; and the exporter's sweep of
 * export.dir (jobs/exporter.c), which keeps only the archives rows name
 * and never looks at names it does not make, and export.dir's lock.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "jobs/exporter.h"
#include "store/store.h"
#include "testutil.h"

static int
setup(void **state)
{
	return tu_store_setup(state, "exports");
}

static int
teardown(void **state)
{
	return tu_store_teardown(state);
}

/* Insert a request of @kind for @subject in @state_name at @now (grace @grace); its id. */
static int64_t
add(struct store *st, const char *code, const char *kind, const char *subject,
    const char *state_name, int64_t now, int64_t grace)
{
	struct store_request_new n = {
	    .code = code,
	    .kind = kind,
	    .scope = "account",
	    .source = "app",
	    .policy = "p",
	    .subject = subject,
	    .state = state_name,
	    .actor = "app:test",
	    .box = (const uint8_t *)"box",
	    .boxlen = 3,
	    .now = now,
	    .due_at = now + 1000,
	};
	struct lethe_err err = {0};
	int64_t id = 0;

	if (strcmp(state_name, "scheduled") == 0)
		n.not_before = now + grace;
	assert_int_equal(store_request_insert(st, &n, &id, &err), LETHE_OK);
	return id;
}

/* Move request @id from @from to @to. */
static void
move(struct store *st, int64_t id, const char *from, const char *to, int64_t now)
{
	struct store_transition t = {
	    .from = from,
	    .to = to,
	    .actor = "lethe",
	    .now = now,
	    .not_before = -1,
	    .expires_at = -1,
	    .effects = -1,
	};
	struct lethe_err err = {0};
	bool applied = false;

	assert_int_equal(store_request_transition(st, id, &t, &applied, &err), LETHE_OK);
	assert_true(applied);
}

/* An archive row of request @id named @file, made at @now, expiring at @exp. */
static void
put(struct store *st, int64_t id, const char *file, int64_t now, int64_t exp)
{
	struct store_export e;
	struct lethe_err err = {0};

	memset(&e, 0, sizeof(e));
	e.request_id = id;
	snprintf(e.file, sizeof(e.file), "%s", file);
	memset(e.key_box, 0xab, 72);
	e.key_boxlen = 72;
	e.bytes = 1234;
	snprintf(e.sha256, sizeof(e.sha256), "%064d", 7);
	e.rows = 12;
	e.media = 3;
	e.detail = (char *)"{\"rows\": 12}";
	e.created_at = now;
	e.expires_at = exp;
	assert_int_equal(store_export_put(st, &e, &err), LETHE_OK);
}

static void
test_store_export_put_get(void **state)
{
	struct tu_store *f = *state;
	struct store_export e;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "c1", "export", "s1", "scheduled", 100, 0);

	assert_int_equal(store_export_get(f->st, id, &e, &err), LETHE_E_NOTFOUND);
	put(f->st, id, "1-aa.lx", 200, 900);
	assert_int_equal(store_export_get(f->st, id, &e, &err), LETHE_OK);
	assert_int_equal(e.request_id, id);
	assert_string_equal(e.file, "1-aa.lx");
	assert_int_equal(e.key_boxlen, 72);
	assert_int_equal(e.key_box[71], 0xab);
	assert_int_equal(e.bytes, 1234);
	assert_int_equal(e.rows, 12);
	assert_int_equal(e.media, 3);
	assert_string_equal(e.detail, "{\"rows\": 12}");
	assert_int_equal(e.created_at, 200);
	assert_int_equal(e.expires_at, 900);
	assert_int_equal(e.downloads, 0);
	assert_int_equal(e.deleted_at, 0);
	store_export_clear(&e);
	assert_null(e.detail);
	/* A rebuilt archive replaces the row. */
	put(f->st, id, "1-bb.lx", 300, 1000);
	assert_int_equal(store_export_get(f->st, id, &e, &err), LETHE_OK);
	assert_string_equal(e.file, "1-bb.lx");
	store_export_clear(&e);
}

static void
test_store_export_next_order(void **state)
{
	struct tu_store *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	uint8_t *box = NULL;
	size_t len = 0;
	int64_t erasure = add(f->st, "c0", "erasure", "s0", "scheduled", 100, 0);
	int64_t later = add(f->st, "c1", "export", "s1", "scheduled", 100, 500);
	int64_t due = add(f->st, "c2", "export", "s2", "scheduled", 100, 0);
	int64_t run;

	(void)erasure;
	/* Only exports whose grace ended: the erasure is the runner's, the other waits. */
	assert_int_equal(store_export_next(f->st, 0, 200, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, due);
	assert_string_equal(r.kind, "export");
	assert_int_equal(len, 3);
	free(box);
	/* A running one (a crash's) comes first. */
	run = add(f->st, "c3", "export", "s3", "scheduled", 100, 0);
	move(f->st, run, "scheduled", "running", 150);
	assert_int_equal(store_export_next(f->st, 0, 200, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, run);
	assert_string_equal(r.state, "running");
	free(box);
	/* Past it (it failed this round): the scheduled ones. */
	assert_int_equal(store_export_next(f->st, run, 200, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, due);
	free(box);
	move(f->st, due, "scheduled", "cancelled", 160);
	move(f->st, run, "running", "completed", 160);
	assert_int_equal(store_export_next(f->st, 0, 200, &r, &box, &len, &err), LETHE_E_NOTFOUND);
	assert_null(box);
	assert_int_equal(store_export_next(f->st, 0, 600, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, later);
	free(box);
	/* The runner never takes an export. */
	assert_int_equal(store_request_next(f->st, 0, 600, true, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, erasure);
	free(box);
}

/* store_export_fn: count and remember the last. */
struct seen {
	int n;          /* calls */
	int64_t id;     /* last request */
	char file[128]; /* last file */
};

static void
on_expired(void *arg, int64_t request_id, const char *file)
{
	struct seen *s = arg;

	s->n++;
	s->id = request_id;
	snprintf(s->file, sizeof(s->file), "%s", file);
}

static void
test_store_export_delete_expire(void **state)
{
	struct tu_store *f = *state;
	struct store_export e;
	struct lethe_err err = {0};
	struct seen s = {0};
	char file[128];
	bool live = false;
	int64_t a = add(f->st, "c1", "export", "s1", "scheduled", 100, 0);
	int64_t b = add(f->st, "c2", "export", "s2", "scheduled", 100, 0);

	put(f->st, a, "a.lx", 100, 500);
	put(f->st, b, "b.lx", 100, 900);
	assert_int_equal(store_export_expired(f->st, 499, 10, on_expired, &s, &err), LETHE_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(store_export_expired(f->st, 500, 10, on_expired, &s, &err), LETHE_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.id, a);
	assert_string_equal(s.file, "a.lx");
	/* Downloads are counted while the archive exists. */
	assert_int_equal(store_export_downloaded(f->st, a, &err), LETHE_OK);
	assert_int_equal(store_export_downloaded(f->st, a, &err), LETHE_OK);
	assert_int_equal(store_export_file_live(f->st, "a.lx", &live, &err), LETHE_OK);
	assert_true(live);
	/* Deleted once: the file name comes back to be unlinked, the key is gone. */
	assert_int_equal(store_export_delete(f->st, a, 510, file, sizeof(file), &err), LETHE_OK);
	assert_string_equal(file, "a.lx");
	assert_int_equal(store_export_delete(f->st, a, 520, file, sizeof(file), &err), LETHE_OK);
	assert_string_equal(file, "");
	assert_int_equal(store_export_get(f->st, a, &e, &err), LETHE_OK);
	assert_int_equal(e.deleted_at, 510);
	assert_int_equal(e.key_boxlen, 0);
	assert_int_equal(e.downloads, 2);
	store_export_clear(&e);
	assert_int_equal(store_export_downloaded(f->st, a, &err), LETHE_OK);
	assert_int_equal(store_export_get(f->st, a, &e, &err), LETHE_OK);
	assert_int_equal(e.downloads, 2);
	store_export_clear(&e);
	assert_int_equal(store_export_file_live(f->st, "a.lx", &live, &err), LETHE_OK);
	assert_false(live);
	assert_int_equal(store_export_file_live(f->st, "nothing.lx", &live, &err), LETHE_OK);
	assert_false(live);
	/* A deleted archive is not expired again; the other is, once due. */
	s.n = 0;
	assert_int_equal(store_export_expired(f->st, 1000, 10, on_expired, &s, &err), LETHE_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.id, b);
	/* No archive at all: nothing to delete. */
	assert_int_equal(store_export_delete(f->st, 999, 510, file, sizeof(file), &err), LETHE_OK);
	assert_string_equal(file, "");
}

static void
test_store_export_recent(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t latest = -1;
	int64_t a, c;

	assert_int_equal(store_export_recent(f->st, "s1", 0, &latest, &err), LETHE_OK);
	assert_int_equal(latest, 0);
	a = add(f->st, "c1", "export", "s1", "scheduled", 100, 0);
	add(f->st, "c2", "erasure", "s1", "scheduled", 300, 0);
	add(f->st, "c3", "export", "s2", "scheduled", 400, 0);
	assert_int_equal(store_export_recent(f->st, "s1", 50, &latest, &err), LETHE_OK);
	assert_int_equal(latest, 100);
	/* Outside the window. */
	assert_int_equal(store_export_recent(f->st, "s1", 101, &latest, &err), LETHE_OK);
	assert_int_equal(latest, 0);
	/* A completed one counts; a cancelled, refused, expired or failed one does not. */
	move(f->st, a, "scheduled", "running", 110);
	move(f->st, a, "running", "completed", 120);
	c = add(f->st, "c4", "export", "s1", "scheduled", 200, 0);
	assert_int_equal(store_export_recent(f->st, "s1", 50, &latest, &err), LETHE_OK);
	assert_int_equal(latest, 200);
	move(f->st, c, "scheduled", "cancelled", 210);
	assert_int_equal(store_export_recent(f->st, "s1", 50, &latest, &err), LETHE_OK);
	assert_int_equal(latest, 100);
	move(f->st, a, "completed", "failed", 220);
	assert_int_equal(store_export_recent(f->st, "s1", 50, &latest, &err), LETHE_OK);
	assert_int_equal(latest, 0);
}

/* Write an empty file @name in @dir. */
static void
touch(const char *dir, const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

static bool
exists(const char *dir, const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0;
}

static void
test_exporter_sweep_keeps_live_archives(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	char dir[128];
	char file[128];
	int64_t n = -1;
	int64_t a = add(f->st, "c1", "export", "s1", "scheduled", 100, 0);
	int64_t b = add(f->st, "c2", "export", "s2", "scheduled", 100, 0);

	snprintf(dir, sizeof(dir), "%s/exports", f->dir);
	/* No directory yet: nothing to do. */
	assert_int_equal(exporter_sweep(f->st, dir, 0, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	put(f->st, a, "1-0123456789abcdef.lx", 100, 900);
	put(f->st, b, "2-0123456789abcdef.lx", 100, 900);
	assert_int_equal(store_export_delete(f->st, b, 200, file, sizeof(file), &err), LETHE_OK);
	touch(dir, "1-0123456789abcdef.lx");
	/* Its row was deleted: a cancel's file left behind. */
	touch(dir, "2-0123456789abcdef.lx");
	/* No row: a crash between the rename and the commit. */
	touch(dir, "3-fedcba9876543210.lx");
	touch(dir, "4-00000000deadbeef.lx.part"); /* a crash while building */
	/* Not names the exporter makes: left alone, whatever they end with. */
	touch(dir, "README.txt");
	touch(dir, "backup.lx");
	touch(dir, "notes.part");
	touch(dir, "5-0123456789ABCDEF.lx");
	touch(dir, "6-0123456789abcde.lx");
	touch(dir, "7-0123456789abcdef.lx.old");
	touch(dir, "-0123456789abcdef.lx");
	assert_int_equal(exporter_sweep(f->st, dir, 0, &n, &err), LETHE_OK);
	assert_int_equal(n, 3);
	assert_true(exists(dir, "1-0123456789abcdef.lx"));
	assert_false(exists(dir, "2-0123456789abcdef.lx"));
	assert_false(exists(dir, "3-fedcba9876543210.lx"));
	assert_false(exists(dir, "4-00000000deadbeef.lx.part"));
	assert_true(exists(dir, "README.txt"));
	assert_true(exists(dir, "backup.lx"));
	assert_true(exists(dir, "notes.part"));
	assert_true(exists(dir, "5-0123456789ABCDEF.lx"));
	assert_true(exists(dir, "6-0123456789abcde.lx"));
	assert_true(exists(dir, "7-0123456789abcdef.lx.old"));
	assert_true(exists(dir, "-0123456789abcdef.lx"));
}

/* export.dir's lock: made 0700 if missing, one holder at a time, free again once released. */
static void
test_exporter_dir_lock(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct stat sb;
	char dir[128];
	int fd = -1, fd2 = -1;

	snprintf(dir, sizeof(dir), "%s/exports-locked", f->dir);
	assert_int_equal(exporter_dir_lock(dir, NULL, &fd, &err), LETHE_OK);
	assert_true(fd >= 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_true(exists(dir, ".lethe.lock"));
	/* Another holder (another open file, as another process has) is refused. */
	assert_int_equal(exporter_dir_lock(dir, NULL, &fd2, &err), LETHE_E_BUSY);
	assert_int_equal(fd2, -1);
	assert_non_null(strstr(err.msg, "is used by another lethe"));
	/* The sweep never takes the lock file for an archive. */
	assert_int_equal(exporter_sweep(f->st, dir, 0, NULL, &err), LETHE_OK);
	assert_true(exists(dir, ".lethe.lock"));
	exporter_dir_unlock(fd);
	assert_int_equal(exporter_dir_lock(dir, NULL, &fd2, &err), LETHE_OK);
	exporter_dir_unlock(fd2);
	/* A file where the dir should be: a clear error, no lock. */
	snprintf(dir, sizeof(dir), "%s/exports-locked/.lethe.lock", f->dir);
	assert_int_equal(exporter_dir_lock(dir, NULL, &fd, &err), LETHE_E_IO);
	assert_int_equal(fd, -1);
}

/* A PostgreSQL store's workers share the lock; another store and a SQLite lethe are refused. */
static void
test_exporter_dir_lock_shared(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	char dir[128];
	int fd = -1, fd2 = -1, fd3 = -1;

	snprintf(dir, sizeof(dir), "%s/exports-shared", f->dir);
	assert_int_equal(exporter_dir_lock(dir, "store A", &fd, &err), LETHE_OK);
	assert_int_equal(exporter_dir_lock(dir, "store A", &fd2, &err), LETHE_OK);
	assert_true(fd >= 0 && fd2 >= 0);
	assert_int_equal(exporter_dir_lock(dir, "store B", &fd3, &err), LETHE_E_BUSY);
	assert_int_equal(fd3, -1);
	assert_non_null(strstr(err.msg, "another state store"));
	assert_int_equal(exporter_dir_lock(dir, NULL, &fd3, &err), LETHE_E_BUSY);
	assert_int_equal(fd3, -1);
	exporter_dir_unlock(fd);
	exporter_dir_unlock(fd2);
	/* All gone: another store may have it, and writes its own id. */
	assert_int_equal(exporter_dir_lock(dir, "store B", &fd3, &err), LETHE_OK);
	assert_int_equal(exporter_dir_lock(dir, "store A", &fd, &err), LETHE_E_BUSY);
	exporter_dir_unlock(fd3);
	/* A SQLite lethe's exclusive lock keeps the workers out. */
	assert_int_equal(exporter_dir_lock(dir, NULL, &fd, &err), LETHE_OK);
	assert_int_equal(exporter_dir_lock(dir, "store A", &fd2, &err), LETHE_E_BUSY);
	exporter_dir_unlock(fd);
}

/* With a grace period the sweep keeps young files (a sibling's fresh archive). */
static void
test_exporter_sweep_grace(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	char dir[128], path[256];
	int64_t n = -1;

	snprintf(dir, sizeof(dir), "%s/exports-grace", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	touch(dir, "3-fedcba9876543210.lx");      /* renamed, not yet committed */
	touch(dir, "4-00000000deadbeef.lx.part"); /* being written */
	touch(dir, "5-fedcba9876543210.lx");
	snprintf(path, sizeof(path), "%s/5-fedcba9876543210.lx", dir);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(exporter_sweep(f->st, dir, 600, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_true(exists(dir, "3-fedcba9876543210.lx"));
	assert_true(exists(dir, "4-00000000deadbeef.lx.part"));
	assert_false(exists(dir, "5-fedcba9876543210.lx"));
	assert_int_equal(exporter_sweep(f->st, dir, 0, &n, &err), LETHE_OK);
	assert_int_equal(n, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_store_export_put_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_export_next_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_export_delete_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_export_recent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exporter_sweep_keeps_live_archives, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_exporter_dir_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exporter_dir_lock_shared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exporter_sweep_grace, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
