/* SPDX-License-Identifier: MIT */
/*
 * export_zip.c - the archive engine's zip writer (docs/internals/export.md):
 * libarchive writes the zip as a stream through our write callback, which
 * hashes every byte (the zip's SHA-256) and hands it to the sink; each
 * entry's bytes are hashed as they are written (the manifest's checksums).
 * Entries of unknown size (the tables) get a data descriptor; nothing
 * seeks.  JSON and HTML are deflated at level 1, media stored as they are.
 *
 * All of that runs in a thread of its own, fed by a bounded queue: the
 * export's thread reads rows and writes JSON into a buffer, hands the full
 * buffer over and takes an empty one.  Thread safety: the queue, the spare
 * buffers and the writer's result are under pipe->mu; libarchive, the
 * hashes, the sink and x->files are the writer thread's alone until
 * export_zip_sync() or the join (both under the mutex, so what it wrote
 * is visible after).  The writer reports failures into its own error,
 * copied to x->err by the next call of the export's thread.
 */
#include "util/fmacros.h"

#include <pthread.h>

#include "engine/export_internal.h"
#include "engine/export_lib.h"
#include "util/mem.h"

/* zlib level of the deflated entries: level 1 keeps up with the database (docs/export.md). */
#define EXPORT_DEFLATE_LEVEL "1"

enum zip_cmd { ZIP_BEGIN, ZIP_DATA, ZIP_END, ZIP_CLOSE };

/* libarchive's functions: loaded (export_lib()) before the first zip is started. */
static const struct export_lib *
ar(void)
{
	return export_lib(NULL);
}

/* One piece of work for the writer. */
struct zip_item {
	enum zip_cmd cmd;      /* what */
	char *path;            /* ZIP_BEGIN: the entry's path (owned) */
	int64_t size;          /* ZIP_BEGIN: its size, or -1 */
	bool store;            /* ZIP_BEGIN: stored, not deflated */
	bool unlisted;         /* ZIP_END: not in the manifest's files */
	struct export_buf buf; /* ZIP_DATA: the bytes (owned) */
};

struct export_pipe {
	pthread_t th;                              /* the writer */
	bool started;                              /* th runs (to be joined) */
	pthread_mutex_t mu;                        /* guards what follows */
	pthread_cond_t cv_put;                     /* room in the queue, or the writer idle */
	pthread_cond_t cv_get;                     /* an item queued, or quit */
	struct zip_item q[EXPORT_QUEUE];           /* the queue (ring) */
	size_t head;                               /* its first item */
	size_t n;                                  /* items in it */
	bool busy;                                 /* the writer is working on an item */
	bool quit;                                 /* stop now (abort) */
	lethe_rc rc;                               /* the writer's first failure */
	struct lethe_err err;                      /* its detail */
	struct export_buf spare[EXPORT_QUEUE + 2]; /* empty buffers to hand back */
	size_t nspare;                             /* how many */
	/* The writer's own (no lock): */
	struct archive *a;           /* libarchive's writer */
	crypto_hash_sha256_state zh; /* SHA-256 of the zip */
	int64_t zbytes;              /* its bytes so far */
	crypto_hash_sha256_state eh; /* SHA-256 of the open entry */
	int64_t ebytes;              /* its bytes so far */
	char *epath;                 /* its path */
	lethe_rc sink_rc;            /* the sink's first failure */
	bool discard;                /* aborting: bytes are dropped, not sunk */
};

/* ---- the writer thread ------------------------------------------------------ */

static la_ssize_t
zip_write_cb(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct export_ctx *x = arg;
	struct export_pipe *p = x->pipe;
	lethe_rc rc;

	(void)a;
	if (p->discard)
		return (la_ssize_t)len;
	crypto_hash_sha256_update(&p->zh, buf, len);
	p->zbytes += (int64_t)len;
	rc = x->sink(x->sink_arg, buf, len, &p->err);
	if (rc != LETHE_OK) {
		if (p->sink_rc == LETHE_OK)
			p->sink_rc = rc;
		return -1;
	}
	return (la_ssize_t)len;
}

/* The failure of a libarchive call: the sink's if it failed, else libarchive's (no data). */
static lethe_rc
zip_fail(struct export_pipe *p, const char *what)
{
	if (p->sink_rc != LETHE_OK)
		return p->sink_rc;
	return lethe_err_set(&p->err, LETHE_E_INTERNAL, "export: the zip writer failed (%s)", what);
}

static lethe_rc
zip_begin(struct export_ctx *x, struct zip_item *it)
{
	struct export_pipe *p = x->pipe;
	struct archive_entry *e;
	int r;

	if ((it->store ? ar()->write_zip_set_compression_store(p->a)
	               : ar()->write_zip_set_compression_deflate(p->a)) != ARCHIVE_OK)
		return zip_fail(p, "compression");
	e = ar()->entry_new();
	ar()->entry_set_pathname(e, it->path);
	ar()->entry_set_filetype(e, AE_IFREG);
	ar()->entry_set_perm(e, 0644);
	ar()->entry_set_mtime(e, (time_t)x->now, 0);
	if (it->size >= 0)
		ar()->entry_set_size(e, it->size);
	r = ar()->write_header(p->a, e);
	ar()->entry_free(e);
	if (r != ARCHIVE_OK)
		return zip_fail(p, "entry header");
	free(p->epath);
	p->epath = it->path;
	it->path = NULL;
	crypto_hash_sha256_init(&p->eh);
	p->ebytes = 0;
	return LETHE_OK;
}

static lethe_rc
zip_data(struct export_pipe *p, const struct export_buf *b)
{
	const char *c = b->p;
	size_t n = b->n;

	crypto_hash_sha256_update(&p->eh, (const unsigned char *)b->p, b->n);
	p->ebytes += (int64_t)b->n;
	while (n > 0) {
		la_ssize_t w = ar()->write_data(p->a, c, n);

		if (w <= 0)
			return zip_fail(p, "data");
		c += w;
		n -= (size_t)w;
	}
	return LETHE_OK;
}

static lethe_rc
zip_end(struct export_ctx *x, bool unlisted)
{
	struct export_pipe *p = x->pipe;
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];

	if (ar()->write_finish_entry(p->a) != ARCHIVE_OK)
		return zip_fail(p, "entry end");
	crypto_hash_sha256_final(&p->eh, sum);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	if (!unlisted)
		json_array_append_new(x->files,
		                      json_pack("{s:s, s:I, s:s}", "path", p->epath, "bytes",
		                                (json_int_t)p->ebytes, "sha256", hex));
	return LETHE_OK;
}

static lethe_rc
zip_close(struct export_ctx *x)
{
	struct export_pipe *p = x->pipe;
	unsigned char sum[crypto_hash_sha256_BYTES];

	if (ar()->write_close(p->a) != ARCHIVE_OK)
		return zip_fail(p, "close");
	crypto_hash_sha256_final(&p->zh, sum);
	sodium_bin2hex(x->res->sha256, sizeof(x->res->sha256), sum, sizeof(sum));
	x->res->bytes = p->zbytes;
	return LETHE_OK;
}

static void *
zip_thread(void *arg)
{
	struct export_ctx *x = arg;
	struct export_pipe *p = x->pipe;
	bool closed = false;

	while (!closed) {
		struct zip_item it;
		lethe_rc rc = LETHE_OK, failed;

		pthread_mutex_lock(&p->mu);
		while (p->n == 0 && !p->quit)
			pthread_cond_wait(&p->cv_get, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		it = p->q[p->head];
		p->head = (p->head + 1) % EXPORT_QUEUE;
		p->n--;
		p->busy = true;
		failed = p->rc;
		pthread_cond_broadcast(&p->cv_put);
		pthread_mutex_unlock(&p->mu);
		/* After a failure the rest is thrown away: the caller hears of it at its next call.
		 */
		if (failed == LETHE_OK) {
			switch (it.cmd) {
			case ZIP_BEGIN:
				rc = zip_begin(x, &it);
				break;
			case ZIP_DATA:
				rc = zip_data(p, &it.buf);
				break;
			case ZIP_END:
				rc = zip_end(x, it.unlisted);
				break;
			case ZIP_CLOSE:
				rc = zip_close(x);
				break;
			}
		}
		closed = it.cmd == ZIP_CLOSE;
		free(it.path);
		pthread_mutex_lock(&p->mu);
		if (rc != LETHE_OK && p->rc == LETHE_OK)
			p->rc = rc;
		if (it.buf.p != NULL && p->nspare < EXPORT_QUEUE + 2) {
			it.buf.n = 0;
			p->spare[p->nspare++] = it.buf;
		} else {
			free(it.buf.p);
		}
		p->busy = false;
		pthread_cond_broadcast(&p->cv_put);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* ---- the export's side -------------------------------------------------------- */

/* The writer's failure into x->err (call under p->mu). */
static lethe_rc
pipe_failed(struct export_ctx *x)
{
	struct export_pipe *p = x->pipe;

	*x->err = p->err;
	x->err->rc = p->rc;
	return p->rc;
}

/* Queue @it (its path and buffer are the writer's from now on, even on failure). */
static lethe_rc
pipe_put(struct export_ctx *x, struct zip_item *it)
{
	struct export_pipe *p = x->pipe;
	lethe_rc rc = LETHE_OK;

	pthread_mutex_lock(&p->mu);
	while (p->n == EXPORT_QUEUE && p->rc == LETHE_OK)
		pthread_cond_wait(&p->cv_put, &p->mu);
	if (p->rc != LETHE_OK) {
		rc = pipe_failed(x);
		free(it->path);
		free(it->buf.p);
	} else {
		p->q[(p->head + p->n) % EXPORT_QUEUE] = *it;
		p->n++;
		pthread_cond_signal(&p->cv_get);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

lethe_rc
export_zip_open(struct export_ctx *x)
{
	struct export_pipe *p = xcalloc(1, sizeof(*p));

	x->pipe = p;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_put, NULL);
	pthread_cond_init(&p->cv_get, NULL);
	crypto_hash_sha256_init(&p->zh);
	if (export_lib(x->err) == NULL)
		return x->err != NULL ? x->err->rc : LETHE_E_INTERNAL;
	p->a = ar()->write_new();
	if (p->a == NULL)
		return lethe_err_set(x->err, LETHE_E_INTERNAL, "export: cannot start the zip");
	if (ar()->write_set_format_zip(p->a) != ARCHIVE_OK ||
	    ar()->write_set_format_option(p->a, "zip", "compression-level", EXPORT_DEFLATE_LEVEL) !=
	        ARCHIVE_OK ||
	    ar()->write_set_bytes_per_block(p->a, EXPORT_FLUSH) != ARCHIVE_OK ||
	    ar()->write_set_bytes_in_last_block(p->a, 1) != ARCHIVE_OK)
		return lethe_err_set(x->err, LETHE_E_INTERNAL, "export: the zip writer failed (%s)",
		                     "options");
	/* Opening writes nothing yet (the first block goes out with the first entry). */
	if (ar()->write_open2(p->a, x, NULL, zip_write_cb, NULL, NULL) != ARCHIVE_OK) {
		if (p->sink_rc != LETHE_OK) {
			*x->err = p->err;
			return p->sink_rc;
		}
		return lethe_err_set(x->err, LETHE_E_INTERNAL, "export: the zip writer failed (%s)",
		                     "open");
	}
	if (pthread_create(&p->th, NULL, zip_thread, x) != 0)
		return lethe_err_set(x->err, LETHE_E_INTERNAL,
		                     "export: cannot start the zip writer");
	p->started = true;
	return LETHE_OK;
}

lethe_rc
export_entry_begin(struct export_ctx *x, const char *path, int64_t size, bool store)
{
	struct zip_item it = {.cmd = ZIP_BEGIN, .size = size, .store = store};

	it.path = xstrdup(path);
	x->out.n = 0;
	x->ebytes = 0;
	return pipe_put(x, &it);
}

lethe_rc
export_entry_flush(struct export_ctx *x, size_t at_least)
{
	struct export_pipe *p = x->pipe;
	struct zip_item it = {.cmd = ZIP_DATA};

	if (x->out.n == 0 || x->out.n < at_least)
		return LETHE_OK;
	x->ebytes += (int64_t)x->out.n;
	it.buf = x->out;
	pthread_mutex_lock(&p->mu);
	if (p->nspare > 0)
		x->out = p->spare[--p->nspare];
	else
		memset(&x->out, 0, sizeof(x->out));
	pthread_mutex_unlock(&p->mu);
	x->out.n = 0;
	return pipe_put(x, &it);
}

lethe_rc
export_entry_end(struct export_ctx *x, bool unlisted)
{
	struct zip_item it = {.cmd = ZIP_END, .unlisted = unlisted};
	lethe_rc rc = export_entry_flush(x, 0);

	if (rc != LETHE_OK)
		return rc;
	return pipe_put(x, &it);
}

lethe_rc
export_zip_sync(struct export_ctx *x)
{
	struct export_pipe *p = x->pipe;
	lethe_rc rc = LETHE_OK;

	pthread_mutex_lock(&p->mu);
	while ((p->n > 0 || p->busy) && p->rc == LETHE_OK)
		pthread_cond_wait(&p->cv_put, &p->mu);
	if (p->rc != LETHE_OK)
		rc = pipe_failed(x);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

lethe_rc
export_zip_close(struct export_ctx *x)
{
	struct export_pipe *p = x->pipe;
	struct zip_item it = {.cmd = ZIP_CLOSE};
	lethe_rc rc = pipe_put(x, &it);

	if (rc != LETHE_OK)
		return rc;
	pthread_join(p->th, NULL);
	p->started = false;
	if (p->rc != LETHE_OK)
		rc = pipe_failed(x);
	return rc;
}

void
export_zip_abort(struct export_ctx *x)
{
	struct export_pipe *p = x->pipe;
	size_t i;

	if (p == NULL)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->quit = true;
		pthread_cond_broadcast(&p->cv_get);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->th, NULL);
	}
	for (i = 0; i < p->n; i++) {
		free(p->q[(p->head + i) % EXPORT_QUEUE].path);
		free(p->q[(p->head + i) % EXPORT_QUEUE].buf.p);
	}
	for (i = 0; i < p->nspare; i++)
		free(p->spare[i].p);
	if (p->a != NULL) {
		/*
		 * Closed with its output discarded (the caller throws the sink's
		 * bytes away), so libarchive frees what it opened: archive_write_fail()
		 * then free would leave its output buffer behind.
		 */
		p->discard = true;
		ar()->write_close(p->a);
		ar()->write_free(p->a);
	}
	free(p->epath);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv_put);
	pthread_cond_destroy(&p->cv_get);
	free(p);
	x->pipe = NULL;
}
