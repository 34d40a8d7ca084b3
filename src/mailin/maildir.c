/* SPDX-License-Identifier: MIT */
/*
 * maildir.c - the Maildir reader of the privacy mailbox (mailin.h): the
 * files of new/ then cur/, oldest first, each delivered through
 * service_mailin_deliver() and unlinked only once that is durable.  An
 * flock on DIR/.lethe-intake.lock keeps two readers (two `lethe
 * mail-intake`, or one and `lethe serve`) from delivering a file twice at
 * the same time; the keyed hash of the service makes a redelivery after a
 * crash a duplicate.
 */
#include "util/fmacros.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mailin/mailin.h"
#include "util/log.h"
#include "util/mem.h"

#define LOCK_NAME ".lethe-intake.lock"
/* A file modified less than this long ago (ms) may still be written: the next pass. */
#define SETTLE_MS 2000

static const char *const outcome_names[MAILIN_NOUTCOMES] = {
    "request", "review", "status", "unmatched", "robot", "refused", "duplicate",
};

const char *
mailin_outcome_name(int i)
{
	return i >= 0 && i < MAILIN_NOUTCOMES ? outcome_names[i] : "";
}

/* Whether @dir/@sub is a directory. */
static bool
is_subdir(const char *dir, const char *sub)
{
	char *p = xasprintf("%s/%s", dir, sub);
	struct stat st;
	bool ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return ok;
}

lethe_rc
mailin_maildir_lock(const char *dir, int *lockfd, struct lethe_err *err)
{
	struct stat st;
	char *path = NULL;
	int fd = -1;
	lethe_rc rc = LETHE_OK;

	*lockfd = -1;
	if (stat(dir, &st) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "Maildir %s: %s", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || !is_subdir(dir, "new") || !is_subdir(dir, "cur")) {
		rc = lethe_err_set(err, LETHE_E_IO,
		                   "Maildir %s: not a Maildir (a directory with new/ and cur/)",
		                   dir);
		goto out;
	}
	path = xasprintf("%s/%s", dir, LOCK_NAME);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			rc = lethe_err_set(err, LETHE_E_BUSY,
			                   "Maildir %s: another lethe reads it (%s is locked); one "
			                   "reader per Maildir",
			                   dir, path);
		else
			rc = lethe_err_set(err, LETHE_E_IO, "%s: flock: %s", path, strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	*lockfd = fd;
out:
	free(path);
	return rc;
}

void
mailin_maildir_unlock(int lockfd)
{
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
}

/* A file of the Maildir waiting to be read. */
struct entry {
	char *name;
	int64_t mtime_ns;
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The regular files of @sub (names not starting with "."), oldest first, into *@out. */
static lethe_rc
list_sub(const char *sub, struct entry **out, size_t *n, struct lethe_err *err)
{
	DIR *d = opendir(sub);
	struct dirent *de;
	struct entry *v = NULL;
	size_t cap = 0, len = 0;

	*out = NULL;
	*n = 0;
	if (d == NULL)
		return lethe_err_set(err, LETHE_E_IO, "%s: %s", sub, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue; /* gone meanwhile, or not a message */
		v = xgrow(v, &cap, len + 1, sizeof(*v));
		v[len].name = xstrdup(de->d_name);
		v[len].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		len++;
	}
	closedir(d);
	if (len > 1)
		qsort(v, len, sizeof(*v), entry_cmp);
	*out = v;
	*n = len;
	return LETHE_OK;
}

/* Wipe and free @n bytes of a message at @p (personal data). */
static void
raw_free(char *p, size_t n)
{
	if (p != NULL) {
		sodium_memzero(p, n);
		free(p);
	}
}

/*
 * Grow the buffer *@b holding @got bytes to @cap bytes (+1): a new one,
 * the old wiped before it is freed (a realloc would leave it in freed heap).
 */
static char *
raw_grow(char *b, size_t got, size_t cap)
{
	char *p = xmalloc(cap + 1);

	memcpy(p, b, got);
	raw_free(b, got);
	return p;
}

/*
 * Read at most @max bytes of @path into a new buffer (*@raw, *@len; free
 * it with raw_free()): 1.  0 when the file is gone or not readable
 * (skipped: logged without its name's content beyond the path the
 * operator gave), -1 when its size or mtime changed while it was read
 * (still being written in place: left for the next pass).
 */
static int
read_file(const char *path, size_t max, char **raw, size_t *len)
{
	struct stat st, st2;
	size_t cap, got = 0;
	char *b = NULL;
	int fd;
	int ok = 0;

	*raw = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("Maildir: %s not readable, left", path);
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	cap = st.st_size > 0 && (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
	b = xmalloc(cap + 1);
	while (got < max) {
		ssize_t r;

		if (got == cap) {
			cap = cap + 65536 < max ? cap + 65536 : max;
			b = raw_grow(b, got, cap);
		}
		r = read(fd, b + got, (cap < max ? cap : max) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_warn("Maildir: %s not readable, left", path);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (fstat(fd, &st2) != 0 || st2.st_size != st.st_size ||
	    st2.st_mtim.tv_sec != st.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
		ok = -1;
		goto out;
	}
	*raw = b;
	*len = got;
	b = NULL;
	ok = 1;
out:
	raw_free(b, got);
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * Whether a file modified at @mtime_ns (epoch ns) has settled: not modified
 * within SETTLE_MS of now (the real clock, the file system's; either way,
 * so an mtime far in the future does not hold a file forever).  A file
 * written in place (cp, some fetchers) is thus not read half-written.
 */
static bool
settled(int64_t mtime_ns)
{
	struct timespec ts;
	int64_t age_ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	age_ms = ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - mtime_ns) / 1000000;
	return age_ms >= SETTLE_MS || age_ms <= -SETTLE_MS;
}

/* Count the result of a delivery that returned LETHE_OK. */
static void
count_ok(struct mailin_counts *c, const struct service_mailin_result *r)
{
	int i;

	for (i = 0; i < MAILIN_NOUTCOMES; i++)
		if (strcmp(r->outcome, outcome_names[i]) == 0)
			c->outcome[i]++;
	if (strcmp(r->outcome, "duplicate") == 0)
		c->duplicates++;
	else if (strcmp(r->outcome, "refused") == 0)
		c->refused++;
	else
		c->delivered++;
}

static struct log_limit fail_lim = LOG_LIMIT_INIT(3, 600000);

/* Deliver the files of @dir/@subname; counts into @c. */
static lethe_rc
pass_sub(struct service *svc, const char *dir, const char *subname, int64_t max_size,
         const atomic_bool *stop, struct mailin_counts *c, struct lethe_err *err)
{
	char *sub = xasprintf("%s/%s", dir, subname);
	struct entry *v = NULL;
	size_t n = 0, i, waiting = 0;
	lethe_rc rc;

	rc = list_sub(sub, &v, &n, err);
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		char *path;
		char *raw = NULL;
		size_t len = 0;
		struct service_mailin_result res;
		struct lethe_err derr = {0};
		lethe_rc drc;
		int r;

		if (stop != NULL && atomic_load(stop))
			break;
		if (!settled(v[i].mtime_ns)) {
			waiting++;
			continue;
		}
		path = xasprintf("%s/%s", sub, v[i].name);
		r = read_file(path, (size_t)max_size + 1, &raw, &len);
		if (r <= 0) {
			waiting += r < 0;
			free(path);
			continue;
		}
		memset(&res, 0, sizeof(res));
		drc = service_mailin_deliver(svc, raw, len, NULL, "maildir", &res, &derr);
		raw_free(raw, len);
		if (drc == LETHE_OK) {
			/* Durable: the file goes (gone already is fine: another reader's crash). */
			if (unlink(path) != 0 && errno != ENOENT)
				log_warn("Maildir: %s recorded as mail %lld but not removed", path,
				         (long long)res.id);
			count_ok(c, &res);
			log_info("Maildir: a message of %zu bytes: %s (mail %lld)", len,
			         res.outcome, (long long)res.id);
		} else {
			c->failed++;
			/* Retried every pass (mailbox.poll): the same file would log every
			 * few seconds while the cause lasts. */
			log_warnx_limited(
			    &fail_lim,
			    "Maildir: a message of %zu bytes stays for the next pass: %s", len,
			    derr.msg);
		}
		free(path);
	}
	if (waiting > 0)
		log_info("Maildir: %zu files of %s/ still being written (modified less than %d ms "
		         "ago, or while read): left for the next pass",
		         waiting, subname, SETTLE_MS);
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	free(sub);
	return rc;
}

lethe_rc
mailin_maildir_pass(struct service *svc, const char *dir, int64_t max_size, const atomic_bool *stop,
                    struct mailin_counts *c, struct lethe_err *err)
{
	lethe_rc rc;

	rc = pass_sub(svc, dir, "new", max_size, stop, c, err);
	if (rc == LETHE_OK)
		rc = pass_sub(svc, dir, "cur", max_size, stop, c, err);
	return rc;
}
