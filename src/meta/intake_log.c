/* SPDX-License-Identifier: MIT */
/*
 * intake_log.c - the intake log's file format: writing a group, starting a
 * file over, scrubbing indexed bytes with zeros, and at start replaying
 * both files into the state store (see intake.c for the design).
 *
 * A group is a LOG_HDR header (magic, record count, payload length,
 * epoch, a BLAKE2b checksum of the header's first 16 bytes and the
 * payload) and its records: receipt time (8), app length (1), box length
 * (2, REC_RERUN set for a rerun), code, subject, app, the run number
 * (REC_RUN bytes, reruns only) and the sealed identity.  Integers are
 * little-endian.  Replay reads a file's groups from its start while they
 * carry its first group's epoch and their checksum holds.
 *
 * Thread safety: the functions here run on the committer, or at start and
 * stop when it does not; intake_log_maintain() reads the unindexed counts
 * under in->mu.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/intake_internal.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- the log ------------------------------------------------------------- */

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Room for @more bytes in the group buffer. */
void
intake_buf_reserve(struct intake *in, size_t used, size_t more)
{
	if (used + more <= in->bufcap)
		return;
	while (used + more > in->bufcap)
		in->bufcap = in->bufcap == 0 ? 65536 : in->bufcap * 2;
	in->buf = xrealloc(in->buf, in->bufcap);
}

/* Append the record of @p to the group buffer at @used; returns the new length. */
size_t
intake_rec_put(struct intake *in, size_t used, const struct pend *p)
{
	size_t na = strlen(p->app);
	size_t nr = p->run > 0 ? REC_RUN : 0;
	uint8_t *b;

	intake_buf_reserve(in, used, REC_FIXED + na + nr + p->boxlen);
	b = in->buf + used;
	put_le(b, (uint64_t)p->now, 8);
	b[8] = (uint8_t)na;
	put_le(b + 9, (nr + p->boxlen) | (p->run > 0 ? REC_RERUN : 0), 2);
	memcpy(b + 11, p->code, META_CODE_LEN);
	memcpy(b + 11 + META_CODE_LEN, p->subject, HASH_TEXT_LEN);
	memcpy(b + REC_FIXED, p->app, na);
	if (nr > 0)
		put_le(b + REC_FIXED + na, p->run, REC_RUN);
	memcpy(b + REC_FIXED + na + nr, p->box, p->boxlen);
	return used + REC_FIXED + na + nr + p->boxlen;
}

/* The checksum of a group: its header's first 16 bytes, then the payload. */
static void
group_sum(const uint8_t *hdr, const uint8_t *payload, size_t len, uint8_t out[LOG_SUM])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, NULL, 0, LOG_SUM);
	crypto_generichash_update(&h, hdr, 16);
	crypto_generichash_update(&h, payload, len);
	crypto_generichash_final(&h, out, LOG_SUM);
}

/* Fill the header of a group of @count records, @len payload bytes after it. */
void
intake_group_seal(uint8_t *g, uint32_t count, size_t len, uint32_t epoch)
{
	put_le(g, LOG_MAGIC, 4);
	put_le(g + 4, count, 4);
	put_le(g + 8, len, 4);
	put_le(g + 12, epoch, 4);
	group_sum(g, g + LOG_HDR, len, g + 16);
}

/*
 * Write (@writing) or read all of @n bytes at @off of @fd; false on any
 * error, a short write, or a short read.
 */
static bool
pio_all(int fd, uint8_t *p, size_t n, uint64_t off, bool writing)
{
	while (n > 0) {
		ssize_t r = writing ? pwrite(fd, p, n, (off_t)off) : pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}

bool
intake_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	return pio_all(fd, (uint8_t *)(uintptr_t)p, n, off, true); /* not written to */
}

/*
 * Start file @i over: the next group goes to its start with a new epoch.
 * Nothing is written: replay reads a file only while its groups carry the
 * epoch of its first group, so whatever an earlier epoch left further on
 * is never read again.  (Groups are written in order and each is fsynced
 * before the next is written, so the first group on disk is the newest
 * epoch's if any of that epoch's groups is on disk.)
 */
void
intake_log_reset(struct intake *in, int i)
{
	in->files[i].end = 0;
	if (++in->epoch == 0) /* 0 means "no group" to replay */
		in->epoch = 1;
	in->files[i].epoch = in->epoch;
}

/*
 * Overwrite bytes [@from, hw) of file @i with zeros, top down, at most
 * @budget bytes (all of them if 0), then fsync: records already in the
 * store, whose sealed identities must not outlive their erasure on disk.
 * Committer only (or start and stop), and only for a file whose records
 * are all in the store.  Returns false on an I/O error.
 */
bool
intake_log_scrub(struct intake *in, int i, uint64_t from, uint64_t budget)
{
	static const uint8_t zero[SCRUB_CHUNK];
	struct logfile *f = &in->files[i];
	uint64_t done = 0;

	while (f->hw > from && (budget == 0 || done < budget)) {
		uint64_t n = f->hw - from < SCRUB_CHUNK ? f->hw - from : SCRUB_CHUNK;

		if (!intake_pwrite_all(f->fd, zero, n, f->hw - n)) {
			log_warn("intake: cannot overwrite %s", f->path);
			return false;
		}
		f->hw -= n;
		done += n;
	}
	if (done > 0 && fdatasync(f->fd) != 0) {
		log_warn("intake: cannot sync %s", f->path);
		return false;
	}
	return true;
}

/*
 * Before a group is written: start over a file whose records are all in
 * the store, and switch files once the active one is past LOG_ROTATE (if
 * the other is free).  Under a trickle the active file starts over at
 * every group, so groups keep landing in its first pages.
 */
void
intake_log_maintain(struct intake *in)
{
	int a = in->active, b = 1 - a;
	int64_t ua, ub;

	pthread_mutex_lock(&in->mu);
	ua = in->files[a].unindexed;
	ub = in->files[b].unindexed;
	pthread_mutex_unlock(&in->mu);
	/* Only this thread adds records, so a count seen at 0 stays 0 until it writes. */
	if (in->files[b].end > 0 && ub == 0)
		in->files[b].end = 0; /* free: it gets an epoch when it becomes active */
	if (in->files[a].end >= LOG_ROTATE && in->files[b].end == 0) {
		in->active = b;
		intake_log_reset(in, b);
	} else if (in->files[a].end > 0 && ua == 0) {
		intake_log_reset(in, a);
	}
}

/* ---- start: replay ------------------------------------------------------- */

char *
intake_log_path(const char *path, int i)
{
	return xasprintf("%s-intake%d", path, i);
}

/* True if the @n bytes at @s are printable ASCII without spaces. */
static bool
printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* Insert the records of one group's payload @g (@len bytes, @nrec records) into the store. */
static lethe_rc
replay_group(struct intake *in, const char *path, uint64_t at, const uint8_t *g, size_t len,
             uint32_t nrec, int64_t *count, struct lethe_err *err)
{
	size_t pos = 0;
	lethe_rc rc = LETHE_OK;

	for (uint32_t k = 0; rc == LETHE_OK && k < nrec; k++) {
		const uint8_t *rec = g + pos;
		int64_t id = 0;
		bool added = false, rerun;
		size_t na, nb, nr;
		char code[META_CODE_LEN + 1], subject[HASH_TEXT_LEN + 1], app[LOG_APP_MAX + 1];

		if (len - pos < REC_FIXED)
			goto bad;
		na = rec[8];
		nb = get_le(rec + 9, 2);
		rerun = (nb & REC_RERUN) != 0;
		nb &= ~(size_t)REC_RERUN;
		nr = rerun ? REC_RUN : 0;
		if (len - pos - REC_FIXED < na + nb || na == 0 || nb < nr)
			goto bad;
		memcpy(code, rec + 11, META_CODE_LEN);
		code[META_CODE_LEN] = '\0';
		memcpy(subject, rec + 11 + META_CODE_LEN, HASH_TEXT_LEN);
		subject[HASH_TEXT_LEN] = '\0';
		memcpy(app, rec + REC_FIXED, na);
		app[na] = '\0';
		if (!meta_code_ok(code) || !printable((const uint8_t *)subject, HASH_TEXT_LEN) ||
		    !printable((const uint8_t *)app, na))
			goto bad;
		if (rerun)
			rc = store_meta_rerun(in->ix, code,
			                      (int64_t)get_le(rec + REC_FIXED + na, REC_RUN),
			                      rec + REC_FIXED + na + nr, nb - nr,
			                      (int64_t)get_le(rec, 8), &added, err);
		else
			rc = store_meta_insert_once(
			    in->ix, code, app, subject, rec + REC_FIXED + na, nb,
			    (int64_t)get_le(rec, 8), in->deadline_s, &id, &added, err);
		*count += added;
		pos += REC_FIXED + na + nb;
	}
	return rc;
bad:
	/* The checksum held, so this is no torn write: refuse to guess. */
	return lethe_err_set(err, LETHE_E_IO,
	                     "intake log %s: a bad record in the group at offset %llu; move the "
	                     "file away to start without it (its requests are then lost)",
	                     path, (unsigned long long)at);
}

/*
 * Insert the requests of log file @i into the store (a code already there
 * is skipped): its groups from the start, while each carries the epoch of
 * the first and its checksum holds (the first that does not is where the
 * epoch's writing ended, or a write cut short).  Reads one group at a time.
 */
static lethe_rc
replay(struct intake *in, int i, uint32_t epoch, int64_t *count, struct lethe_err *err)
{
	struct logfile *f = &in->files[i];
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t off = 0;
	struct stat sb;
	lethe_rc rc = LETHE_OK;

	if (fstat(f->fd, &sb) != 0)
		return lethe_err_set(err, LETHE_E_IO, "cannot read %s", f->path);
	while (rc == LETHE_OK && (uint64_t)sb.st_size - off >= LOG_HDR) {
		uint8_t h[LOG_HDR], sum[LOG_SUM];
		size_t len;

		if (!pio_all(f->fd, h, sizeof(h), off, false))
			return lethe_err_set(err, LETHE_E_IO, "cannot read %s", f->path);
		len = get_le(h + 8, 4);
		if (get_le(h, 4) != LOG_MAGIC || get_le(h + 12, 4) != epoch ||
		    len > LOG_MAX_GROUP || len > (uint64_t)sb.st_size - off - LOG_HDR)
			break;
		if (len > cap) {
			cap = len;
			buf = xrealloc(buf, cap);
		}
		if (!pio_all(f->fd, buf, len, off + LOG_HDR, false)) {
			free(buf);
			return lethe_err_set(err, LETHE_E_IO, "cannot read %s", f->path);
		}
		group_sum(h, buf, len, sum);
		if (sodium_memcmp(sum, h + 16, LOG_SUM) != 0)
			break;
		rc = replay_group(in, f->path, off, buf, len, (uint32_t)get_le(h + 4, 4), count,
		                  err);
		off += LOG_HDR + len;
	}
	free(buf);
	return rc;
}

/* The epoch of log file @fd (its first group's), or 0 if it starts with no group. */
static uint32_t
file_epoch(int fd)
{
	uint8_t h[LOG_HDR];

	if (!pio_all(fd, h, sizeof(h), 0, false) || get_le(h, 4) != LOG_MAGIC)
		return 0;
	return (uint32_t)get_le(h + 12, 4);
}

/* Write zeros to file @i up to LOG_PREALLOC: later fsyncs then write data only. */
static bool
log_prealloc(struct intake *in, int i)
{
	static const uint8_t zero[65536];
	struct logfile *f = &in->files[i];
	struct stat sb;
	uint64_t have;

	if (fstat(f->fd, &sb) != 0)
		return false;
	have = (uint64_t)sb.st_size;
	if (have >= LOG_PREALLOC)
		return true;
	for (size_t off = have; off < LOG_PREALLOC; off += sizeof(zero))
		if (!intake_pwrite_all(f->fd, zero, sizeof(zero), off))
			return false;
	return fdatasync(f->fd) == 0;
}

/*
 * Open both log files, move what they hold into the store (the older
 * epoch first, so ids follow receipt order), make that durable, mark the
 * files empty, and write them out to LOG_PREALLOC.
 */
lethe_rc
intake_log_open(struct intake *in, const char *path, struct lethe_err *err)
{
	uint32_t ep[2];
	bool created = false;
	int64_t count = 0;
	lethe_rc rc = LETHE_OK;
	int order[2] = {0, 1};

	for (int i = 0; i < 2; i++) {
		struct logfile *f = &in->files[i];

		f->path = intake_log_path(path, i);
		f->fd = open(f->path, O_RDWR | O_CLOEXEC);
		if (f->fd < 0 && errno == ENOENT) {
			f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			created = true;
		}
		if (f->fd < 0)
			return lethe_err_set(err, LETHE_E_IO, "cannot open the intake log %s: %s",
			                     f->path, strerror(errno));
		if (flock(f->fd, LOCK_EX | LOCK_NB) != 0)
			return lethe_err_set(err, LETHE_E_BUSY,
			                     "the intake log %s is in use (is another lethe serve "
			                     "running on this state store?)",
			                     f->path);
		ep[i] = file_epoch(f->fd);
	}
	if (ep[1] != 0 && (ep[0] == 0 || ep[1] < ep[0])) {
		order[0] = 1;
		order[1] = 0;
	}
	in->epoch = ep[0] > ep[1] ? ep[0] : ep[1];
	if (ep[0] != 0 || ep[1] != 0) {
		rc = store_begin(in->ix, err);
		for (int k = 0; rc == LETHE_OK && k < 2; k++)
			if (ep[order[k]] != 0)
				rc = replay(in, order[k], ep[order[k]], &count, err);
		if (rc == LETHE_OK)
			rc = store_commit(in->ix, err);
		if (rc != LETHE_OK) {
			store_rollback(in->ix);
			return rc;
		}
		if (!store_wal_sync(in->wal))
			return lethe_err_set(err, LETHE_E_IO, "cannot sync the state store's WAL");
		/* Everything is in the store now: no sealed identity stays behind in the log. */
		for (int i = 0; i < 2; i++) {
			struct stat sb;

			if (ep[i] == 0)
				continue; /* a zero first header: scrubbed to the end (top down) */
			if (fstat(in->files[i].fd, &sb) != 0)
				return lethe_err_set(err, LETHE_E_IO, "cannot read %s",
				                     in->files[i].path);
			in->files[i].hw = (uint64_t)sb.st_size;
			if (!intake_log_scrub(in, i, 0, 0))
				return lethe_err_set(err, LETHE_E_IO, "cannot overwrite %s",
				                     in->files[i].path);
		}
		if (count > 0)
			log_info("intake: %lld requests recovered from the intake log",
			         (long long)count);
	}
	for (int i = 0; i < 2; i++)
		if (!log_prealloc(in, i))
			return lethe_err_set(err, LETHE_E_IO, "cannot write the intake log %s: %s",
			                     in->files[i].path, strerror(errno));
	if (created && !store_sync_dir(path))
		return lethe_err_set(err, LETHE_E_IO, "cannot sync the directory of %s", path);
	in->active = 0;
	intake_log_reset(in, 0);
	return LETHE_OK;
}
