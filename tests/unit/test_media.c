/* SPDX-License-Identifier: MIT */
/*
 * test_media.c - the media set (media_stores: parsing, names, errors with
 * file:line), store secrets (variable and file, the AWS form, the wipe) and
 * the local kind (remove, probe, open; ".." and symbolic links refused).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/media_use.h"
#include "media/media.h"
#include "media/media_internal.h"
#include "util/mem.h"
#include "util/yamlutil.h"
#include "testutil.h"

/* A fresh directory per test. */
struct fx {
	char dir[64]; /* the test's directory */
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), TU_TMP_PREFIX "media-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
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

/* Parse lethe.yaml text @yaml (media_root @root) into *@out. */
static lethe_rc
parse(const char *dir, const char *root, const char *yaml, struct media_set **out,
      struct lethe_err *err)
{
	struct ydoc y;
	lethe_rc rc;

	memset(err, 0, sizeof(*err));
	rc = ydoc_load(&y, "lethe.yaml", yaml, LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = media_set_parse(dir, root, &y, ydoc_root(&y), out, err);
	ydoc_free(&y);
	return rc;
}

/* @yaml must fail with @what in the message, at "lethe.yaml:@line:". */
static void
parse_fails(const char *yaml, int line, const char *what)
{
	struct media_set *s = (struct media_set *)1;
	struct lethe_err err;
	char at[32];

	assert_int_equal(parse("/tmp", "/tmp", yaml, &s, &err), LETHE_E_CONFIG);
	assert_null(s);
	snprintf(at, sizeof(at), "lethe.yaml:%d: ", line);
	if (strstr(err.msg, at) == NULL || strstr(err.msg, what) == NULL)
		fail_msg("expected '%s' and '%s' in: %s", at, what, err.msg);
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_media_set_parse(void **state)
{
	struct fx *f = *state;
	struct media_set *s = NULL;
	struct lethe_err err;
	const struct media_store *m;

	assert_int_equal(parse(f->dir, "/srv/media",
	                       "app: {}\n"
	                       "media_stores:\n"
	                       "  archive:\n"
	                       "    type: local\n"
	                       "    root: arch\n"
	                       "    retries: 2\n"
	                       "    timeout_ms: 1000\n",
	                       &s, &err),
	                 LETHE_OK);
	assert_int_equal(media_set_count(s), 2);
	m = media_set_at(s, 0);
	assert_string_equal(media_store_name(m), "local");
	assert_ptr_equal(media_set_get(s, NULL), m);
	assert_string_equal(media_store_where(m), "directory /srv/media");
	assert_int_equal(media_store_kind(m), MEDIA_LOCAL);
	assert_true(media_store_probe_cheap(m));
	assert_int_equal(media_store_batch(m), MEDIA_BATCH_MAX);
	m = media_set_get(s, "archive");
	assert_ptr_equal(m, media_set_at(s, 1));
	assert_int_equal(m->retries, 2);
	assert_int_equal(m->timeout_ms, 1000);
	assert_int_equal(m->connect_timeout_ms, 5000);
	assert_int_equal(m->backoff_ms, 200);
	/* A relative root resolves against the configuration's directory. */
	assert_non_null(strstr(media_store_where(m), f->dir));
	assert_non_null(strstr(media_store_where(m), "/arch"));
	assert_null(media_set_get(s, "nope"));
	assert_string_equal(media_kind_str(MEDIA_S3), "s3");
	assert_string_equal(media_kind_str(MEDIA_CLOUDINARY), "cloudinary");
	media_set_free(s);

	/* No media_root, no media_stores: an empty set; a URL media_root makes no store. */
	assert_int_equal(parse(f->dir, NULL, "app: {}\n", &s, &err), LETHE_OK);
	assert_int_equal(media_set_count(s), 0);
	assert_null(media_set_get(s, NULL));
	media_set_free(s);
	assert_int_equal(parse(f->dir, "s3://k:s@b", "app: {}\n", &s, &err), LETHE_OK);
	assert_int_equal(media_set_count(s), 0);
	media_set_free(s);
}

static void
test_media_set_parse_errors(void **state)
{
	(void)state;
	parse_fails("media_stores: [a]\n", 1, "expected a mapping of store names");
	parse_fails("media_stores:\n  local:\n    type: local\n    root: /x\n", 2,
	            "'local' is app.media_root's");
	parse_fails("media_stores:\n  Up:\n    type: local\n    root: /x\n", 2, "1 to 64 of a-z");
	parse_fails("media_stores:\n  a:\n    root: /x\n", 3, "type: is required");
	parse_fails("media_stores:\n  a:\n    type: ftp\n", 3, "unknown type 'ftp'");
	parse_fails("media_stores:\n  a:\n    type: local\n", 3, "root: (a directory) is required");
	parse_fails("media_stores:\n  a:\n    type: local\n    root: /x\n    bucket: b\n", 5,
	            "unknown key 'bucket'");
	parse_fails("media_stores:\n  a:\n    type: local\n    root: /x\n    retries: many\n", 5,
	            "retries: expected an integer");
	parse_fails("media_stores:\n  a:\n    type: local\n    root: s3://b/x\n", 4, "not a URL");
	parse_fails("media_stores:\n  a: local\n", 2, "expected a mapping");
}

static void
test_media_secret(void **state)
{
	struct fx *f = *state;
	struct media_store m = {.name = "uploads"};
	struct media_secret sec = {0};
	struct lethe_err err = {0};
	char path[128], *v;

	setenv("LETHE_TEST_MEDIA_SECRET", "  id:secret\n", 1);
	sec.env = "LETHE_TEST_MEDIA_SECRET";
	v = media_secret_read(&m, &sec, &err);
	assert_non_null(v);
	assert_string_equal(v, "id:secret");
	media_secret_free(v);
	unsetenv("LETHE_TEST_MEDIA_SECRET");
	assert_null(media_secret_read(&m, &sec, &err));
	assert_int_equal(err.rc, LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "'uploads'"));
	assert_non_null(strstr(err.msg, "LETHE_TEST_MEDIA_SECRET is not set"));

	/* AWS: the standard variables, joined as ID:SECRET[:TOKEN]. */
	sec.env = "AWS";
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
	unsetenv("AWS_SESSION_TOKEN");
	v = media_secret_read(&m, &sec, &err);
	assert_string_equal(v, "AKID:SK");
	media_secret_free(v);
	setenv("AWS_SESSION_TOKEN", "TOK", 1);
	v = media_secret_read(&m, &sec, &err);
	assert_string_equal(v, "AKID:SK:TOK");
	media_secret_free(v);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_null(media_secret_read(&m, &sec, &err));
	assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
	assert_null(strstr(err.msg, "AKID"));
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SESSION_TOKEN");

	/* A file: trimmed; empty or missing is a clear error naming the file, not its bytes. */
	snprintf(path, sizeof(path), "%s/cred", f->dir);
	write_file(path, "filekey:filesecret\n");
	sec.env = NULL;
	sec.file = path;
	v = media_secret_read(&m, &sec, &err);
	assert_string_equal(v, "filekey:filesecret");
	media_secret_free(v);
	write_file(path, " \n");
	assert_null(media_secret_read(&m, &sec, &err));
	assert_non_null(strstr(err.msg, "is empty"));
	unlink(path);
	assert_null(media_secret_read(&m, &sec, &err));
	assert_non_null(strstr(err.msg, "cannot read credentials file"));
	assert_non_null(strstr(err.msg, path));
}

/*
 * media_secret_read() hands out a copy of its own, so media_secret_free()
 * can wipe it (sodium_memzero) without touching the environment; what a
 * freed block holds cannot be read back without undefined behaviour.
 */
static void
test_media_secret_copy(void **state)
{
	struct media_store m = {.name = "cdn"};
	struct media_secret sec = {.env = "LETHE_TEST_MEDIA_COPY"};
	struct lethe_err err = {0};
	char *v;

	(void)state;
	setenv("LETHE_TEST_MEDIA_COPY", "cloudinary://k:s@c", 1);
	v = media_secret_read(&m, &sec, &err);
	assert_non_null(v);
	assert_ptr_not_equal(v, getenv("LETHE_TEST_MEDIA_COPY"));
	memset(v, 'x', strlen(v));
	assert_string_equal(getenv("LETHE_TEST_MEDIA_COPY"), "cloudinary://k:s@c");
	media_secret_free(v);
	media_secret_free(NULL);
	unsetenv("LETHE_TEST_MEDIA_COPY");
}

/* What media_wiped_hook saw: the blocks wiped, the largest, and whether all were zero. */
static struct {
	size_t calls;  /* blocks wiped */
	size_t max_n;  /* the largest block's bytes */
	bool all_zero; /* every byte of every block was zero */
} wiped;

static void
wiped_hook(const void *p, size_t n)
{
	const unsigned char *b = p;

	wiped.calls++;
	if (n > wiped.max_n)
		wiped.max_n = n;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			wiped.all_zero = false;
}

/* Read @sec, split it at each ':' as media_s3.c does, free it: all of it zero. */
static void
read_split_free(const struct media_store *m, const struct media_secret *sec, const char *want)
{
	struct lethe_err err = {0};
	char *v = media_secret_read(m, sec, &err), *p;

	assert_non_null(v);
	assert_string_equal(v, want);
	while ((p = strchr(v, ':')) != NULL)
		*p = '\0';
	memset(&wiped, 0, sizeof(wiped));
	wiped.all_zero = true;
	media_secret_free(v);
	assert_int_equal(wiped.calls, 1);
	assert_int_equal(wiped.max_n, MEDIA_SECRET_BUF);
	assert_true(wiped.all_zero);
}

/*
 * A secret split in place (ID\0SECRET\0TOKEN) and trimmed of leading blanks
 * (its bytes moved left) is wiped whole: the block media_secret_free() hands
 * to free() is all zero.  Before, only strlen() of the first piece was.
 */
static void
test_media_secret_wiped(void **state)
{
	struct fx *f = *state;
	struct media_store m = {.name = "uploads"};
	struct media_secret sec = {.env = "LETHE_TEST_MEDIA_WIPE"};
	char path[128];

	media_wiped_hook = wiped_hook;
	setenv("LETHE_TEST_MEDIA_WIPE", "   AKID:the-secret-key:the-session-token\n", 1);
	read_split_free(&m, &sec, "AKID:the-secret-key:the-session-token");
	unsetenv("LETHE_TEST_MEDIA_WIPE");
	sec.env = "AWS";
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
	setenv("AWS_SESSION_TOKEN", "TOK", 1);
	read_split_free(&m, &sec, "AKID:SK:TOK");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	sec.env = NULL;
	snprintf(path, sizeof(path), "%s/cred", f->dir);
	sec.file = path;
	write_file(path, "\t  filekey:filesecret:filetoken  \n");
	read_split_free(&m, &sec, "filekey:filesecret:filetoken");
	media_wiped_hook = NULL;
}

/* media_secret_parse: exactly one of credentials_env and credentials_file. */
static void
test_media_secret_parse(void **state)
{
	struct ydoc y;
	struct media_secret s;
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(
	    ydoc_load(&y, "lethe.yaml", "credentials_file: secrets/s3\n", LETHE_E_CONFIG, &err),
	    LETHE_OK);
	assert_int_equal(media_secret_parse("/etc/lethe", &y, ydoc_root(&y), &s, &err), LETHE_OK);
	assert_null(s.env);
	assert_string_equal(s.file, "/etc/lethe/secrets/s3");
	media_secret_clear(&s);
	assert_null(s.file);
	ydoc_free(&y);
	assert_int_equal(ydoc_load(&y, "lethe.yaml", "credentials_env: A\ncredentials_file: b\n",
	                           LETHE_E_CONFIG, &err),
	                 LETHE_OK);
	assert_int_equal(media_secret_parse("/", &y, ydoc_root(&y), &s, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "not both"));
	ydoc_free(&y);
	assert_int_equal(ydoc_load(&y, "lethe.yaml", "bucket: b\n", LETHE_E_CONFIG, &err),
	                 LETHE_OK);
	assert_int_equal(media_secret_parse("/", &y, ydoc_root(&y), &s, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "lethe.yaml:1: credentials_env or credentials_file"));
	ydoc_free(&y);
}

static void
test_media_local_ops(void **state)
{
	struct fx *f = *state;
	struct media_store *m;
	struct lethe_err err = {0};
	char root[128], p[256], outside[128];
	const char *keys[] = {"u1/a.jpg", "u1/gone.jpg", "nodir/x.jpg", "b.png"};
	enum media_outcome out[4];
	enum media_presence pr[4];
	int64_t size = 0;
	int fd = -1;

	snprintf(root, sizeof(root), "%s/root", f->dir);
	assert_int_equal(mkdir(root, 0700), 0);
	snprintf(p, sizeof(p), "%s/u1", root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/u1/a.jpg", root);
	write_file(p, "AAAA");
	snprintf(p, sizeof(p), "%s/b.png", root);
	write_file(p, "BB");
	m = media_local_new("local", root);
	assert_int_equal(media_set_check(NULL, &err), LETHE_OK);
	assert_int_equal(m->ops->check(m, &err), LETHE_OK);

	assert_int_equal(media_probe(m, keys, 4, pr, &err), LETHE_OK);
	assert_int_equal(pr[0], MEDIA_PRESENT);
	assert_int_equal(pr[1], MEDIA_ABSENT);
	assert_int_equal(pr[2], MEDIA_ABSENT);
	assert_int_equal(pr[3], MEDIA_PRESENT);

	assert_int_equal(media_open(m, "u1/a.jpg", NULL, 1 << 20, &fd, &size, &err), LETHE_OK);
	assert_int_equal(size, 4);
	close(fd);
	assert_int_equal(media_open(m, "u1/a.jpg", NULL, 3, &fd, &size, &err), LETHE_E_TOOBIG);
	assert_int_equal(fd, -1);
	assert_int_equal(media_open(m, "u1", NULL, 1 << 20, &fd, &size, &err), LETHE_E_NOTFOUND);

	/* Removed, or already gone (recorded while present): REMOVED; nothing is FAILED. */
	assert_int_equal(media_remove(m, keys, 4, out, &err), LETHE_OK);
	assert_int_equal(out[0], MEDIA_REMOVED);
	assert_int_equal(out[1], MEDIA_REMOVED);
	assert_int_equal(out[2], MEDIA_REMOVED);
	assert_int_equal(out[3], MEDIA_REMOVED);
	assert_int_equal(media_probe(m, keys, 4, pr, &err), LETHE_OK);
	assert_int_equal(pr[0], MEDIA_ABSENT);
	assert_int_equal(pr[3], MEDIA_ABSENT);

	/* Argument checks: 1..batch keys. */
	assert_int_equal(media_remove(m, keys, 0, out, &err), LETHE_E_INVALID);
	assert_int_equal(media_remove(m, keys, MEDIA_BATCH_MAX + 1, out, &err), LETHE_E_INVALID);

	/* Outside the root: "..", absolute, empty segments, and a symbolic link on the way. */
	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	snprintf(p, sizeof(p), "%s/victim", outside);
	write_file(p, "V");
	snprintf(p, sizeof(p), "%s/link", root);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/filelink", root);
	assert_int_equal(symlink(outside, p), 0);
	{
		const char *bad[] = {"../outside/victim", "link/victim", "/etc/passwd", "a//b"};

		assert_int_equal(media_remove(m, bad, 4, out, &err), LETHE_E_IO);
		assert_int_equal(out[0], MEDIA_FAILED);
		assert_int_equal(out[1], MEDIA_FAILED);
		assert_int_equal(out[2], MEDIA_FAILED);
		assert_int_equal(out[3], MEDIA_FAILED);
		assert_non_null(strstr(err.msg, "media store 'local'"));
		assert_null(strstr(err.msg, "victim"));
		assert_int_equal(media_probe(m, bad, 2, pr, &err), LETHE_E_IO);
		assert_int_equal(pr[0], MEDIA_UNKNOWN);
		assert_int_equal(pr[1], MEDIA_UNKNOWN);
		assert_int_equal(media_open(m, bad[0], NULL, 1 << 20, &fd, &size, &err),
		                 LETHE_E_NOTFOUND);
		assert_int_equal(media_open(m, bad[1], NULL, 1 << 20, &fd, &size, &err),
		                 LETHE_E_NOTFOUND);
	}
	/* A symbolic link as the last segment: never opened; removing unlinks the link only. */
	{
		const char *k[] = {"filelink"};

		assert_int_equal(media_open(m, "filelink", NULL, 1 << 20, &fd, &size, &err),
		                 LETHE_E_NOTFOUND);
		assert_int_equal(media_remove(m, k, 1, out, &err), LETHE_OK);
	}
	snprintf(p, sizeof(p), "%s/victim", outside);
	assert_int_equal(access(p, F_OK), 0);

	/* check: a root that is missing or a file. */
	media_set_free(NULL);
	{
		struct media_store *bad = media_local_new("archive", "/nonexistent/lethe-media");

		assert_int_equal(bad->ops->check(bad, &err), LETHE_E_CONFIG);
		assert_non_null(strstr(err.msg, "media store 'archive'"));
		assert_non_null(strstr(err.msg, "existing directory"));
		bad->ops->free(bad);
		free(bad->name);
		free(bad->where);
		free(bad);
	}
	m->ops->free(m);
	free(m->name);
	free(m->where);
	free(m);
}

/* The engine's side: store names checked, keys grouped by store, chunks of the batch. */
static void
test_media_use(void **state)
{
	struct fx *f = *state;
	struct media_set *set = NULL;
	struct lethe_err err = {0};
	char yaml[512], p[256];
	struct store_media_key k[5] = {
	    {"local", "x1"}, {"arch", "y1"}, {"local", "d/x2"}, {"nope", "z"}, {"arch", "gone"}};
	enum media_outcome out[5];
	bool missing[5];
	struct store_media_key *many;
	enum media_outcome *mout;
	char *cols[] = {"storage_key", "thumb"}, *stores[] = {"local", "arch"};
	struct dm_table t = {.name = "media", .media = cols, .media_store = stores, .nmedia = 2};
	size_t i;

	snprintf(p, sizeof(p), "%s/l", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/l/d", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/l/x1", f->dir);
	write_file(p, "1");
	snprintf(p, sizeof(p), "%s/l/d/x2", f->dir);
	write_file(p, "2");
	snprintf(p, sizeof(p), "%s/a/y1", f->dir);
	write_file(p, "3");
	snprintf(yaml, sizeof(yaml), "media_stores:\n  arch: {type: local, root: a}\n");
	snprintf(p, sizeof(p), "%s/l", f->dir);
	assert_int_equal(parse(f->dir, p, yaml, &set, &err), LETHE_OK);

	assert_int_equal(media_check_table(&t, set, &err), LETHE_OK);
	stores[1] = "cdn";
	assert_int_equal(media_check_table(&t, set, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "table 'media' column 'thumb' names media store 'cdn', "
	                                "which lethe.yaml's media_stores does not define"));
	stores[1] = "arch";
	assert_int_equal(media_check_table(&t, NULL, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "app.media_root is not configured"));

	/* Before the commit: only a cheap store's absent key is missing; an unknown store's is not.
	 */
	media_use_missing(set, k, 5, missing);
	assert_false(missing[0]);
	assert_false(missing[1]);
	assert_false(missing[2]);
	assert_false(missing[3]);
	assert_true(missing[4]);

	assert_int_equal(media_use_remove(set, k, 5, out, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "media store 'nope' is not configured"));
	assert_int_equal(out[0], MEDIA_REMOVED);
	assert_int_equal(out[1], MEDIA_REMOVED);
	assert_int_equal(out[2], MEDIA_REMOVED);
	assert_int_equal(out[3], MEDIA_FAILED);
	assert_int_equal(out[4], MEDIA_REMOVED);
	snprintf(p, sizeof(p), "%s/a/y1", f->dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/l/d/x2", f->dir);
	assert_int_equal(access(p, F_OK), -1);

	/* More keys than one call takes: every one answered, in chunks of the batch. */
	many = xcalloc(2500, sizeof(*many));
	mout = xcalloc(2500, sizeof(*mout));
	for (i = 0; i < 2500; i++) {
		many[i].store = i % 2 ? "arch" : "local";
		many[i].key = "never-there";
	}
	assert_int_equal(media_use_remove(set, many, 2500, mout, &err), LETHE_OK);
	for (i = 0; i < 2500; i++)
		assert_int_equal(mout[i], MEDIA_REMOVED);
	free(many);
	free(mout);
	media_set_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_media_set_parse, setup, teardown),
	    cmocka_unit_test(test_media_set_parse_errors),
	    cmocka_unit_test_setup_teardown(test_media_secret, setup, teardown),
	    cmocka_unit_test(test_media_secret_copy),
	    cmocka_unit_test_setup_teardown(test_media_secret_wiped, setup, teardown),
	    cmocka_unit_test(test_media_secret_parse),
	    cmocka_unit_test_setup_teardown(test_media_local_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_media_use, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
