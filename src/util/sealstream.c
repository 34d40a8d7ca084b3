/* SPDX-License-Identifier: MIT */
/*
 * sealstream.c - a file encrypted in chunks with libsodium's secretstream
 * (XChaCha20-Poly1305): what an export archive is at rest.  The layout and
 * the guarantees are in sealstream.h; the reasons in docs/internals/export.md.
 *
 * The writer buffers one chunk of plaintext and pushes it (TAG_MESSAGE)
 * when the next byte arrives, so the last chunk, pushed by finish with
 * TAG_FINAL, is never empty unless the whole stream is.  The reader pulls
 * one chunk at a time and fails closed: a length out of range, a short
 * read, a chunk that does not verify, the end of the file before the FINAL
 * chunk or any byte after it is LETHE_E_FORBIDDEN.  Memory: two chunk
 * buffers per stream.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sodium.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/sealstream.h"

#define SS_MAGIC "LETHESS1"
#define SS_MAGIC_LEN 8
#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_CIPHER_MAX (SEALSTREAM_CHUNK + SS_ABYTES)

_Static_assert(SS_MAGIC_LEN + crypto_secretstream_xchacha20poly1305_HEADERBYTES ==
                   SEALSTREAM_HEADER_LEN,
               "header length");
_Static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == SEALSTREAM_KEY_LEN, "key length");

struct sealstream_w {
	int fd;                                         /* where chunks go (caller's) */
	crypto_secretstream_xchacha20poly1305_state st; /* the stream's state */
	uint8_t plain[SEALSTREAM_CHUNK];                /* plaintext not yet pushed */
	size_t fill;                                    /* bytes in plain */
	uint8_t cipher[4 + SS_CIPHER_MAX];              /* one framed chunk */
};

struct sealstream_r {
	int fd;                                         /* where chunks come from (caller's) */
	crypto_secretstream_xchacha20poly1305_state st; /* the stream's state */
	uint8_t plain[SEALSTREAM_CHUNK];                /* the current chunk's plaintext */
	size_t len;                                     /* bytes in plain */
	size_t pos;                                     /* bytes of plain handed out */
	bool final;                                     /* the FINAL chunk was read */
	bool failed;                                    /* a failure was reported: stay failed */
	uint8_t cipher[SS_CIPHER_MAX];                  /* one chunk's ciphertext */
};

void
sealstream_keygen(uint8_t key[SEALSTREAM_KEY_LEN])
{
	crypto_secretstream_xchacha20poly1305_keygen(key);
}

/* Write all @len bytes of @p to @fd; LETHE_E_IO (errno kept in the message) if not. */
static lethe_rc
ss_write_all(int fd, const uint8_t *p, size_t len, struct lethe_err *err)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lethe_err_set(err, LETHE_E_IO, "cannot write the encrypted file: %s",
			                     n < 0 ? strerror(errno) : "no progress");
		p += n;
		len -= (size_t)n;
	}
	return LETHE_OK;
}

/*
 * Read up to @len bytes into @p; *@got gets how many (fewer only at the
 * end of the file).  LETHE_E_IO on a read error.
 */
static lethe_rc
ss_read_full(int fd, uint8_t *p, size_t len, size_t *got, struct lethe_err *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return lethe_err_set(err, LETHE_E_IO, "cannot read the encrypted file: %s",
			                     strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return LETHE_OK;
}

struct sealstream_w *
sealstream_w_open(int fd, const uint8_t key[SEALSTREAM_KEY_LEN], struct lethe_err *err)
{
	uint8_t head[SEALSTREAM_HEADER_LEN];
	struct sealstream_w *w;

	if (sodium_init() < 0) {
		lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	memcpy(head, SS_MAGIC, SS_MAGIC_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&w->st, head + SS_MAGIC_LEN, key);
	if (ss_write_all(fd, head, sizeof(head), err) != LETHE_OK) {
		sealstream_w_abort(w);
		return NULL;
	}
	return w;
}

/* Encrypt and write the buffered plaintext as one chunk tagged @tag; empties the buffer. */
static lethe_rc
ss_push(struct sealstream_w *w, unsigned char tag, struct lethe_err *err)
{
	unsigned long long clen = 0;

	crypto_secretstream_xchacha20poly1305_push(&w->st, w->cipher + 4, &clen, w->plain, w->fill,
	                                           NULL, 0, tag);
	w->cipher[0] = (uint8_t)(clen >> 24);
	w->cipher[1] = (uint8_t)(clen >> 16);
	w->cipher[2] = (uint8_t)(clen >> 8);
	w->cipher[3] = (uint8_t)clen;
	w->fill = 0;
	return ss_write_all(w->fd, w->cipher, 4 + (size_t)clen, err);
}

lethe_rc
sealstream_write(struct sealstream_w *w, const void *buf, size_t len, struct lethe_err *err)
{
	const uint8_t *p = buf;
	lethe_rc rc;

	while (len > 0) {
		size_t n;

		if (w->fill == SEALSTREAM_CHUNK) {
			rc = ss_push(w, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, err);
			if (rc != LETHE_OK)
				return rc;
		}
		n = SEALSTREAM_CHUNK - w->fill;
		if (n > len)
			n = len;
		memcpy(w->plain + w->fill, p, n);
		w->fill += n;
		p += n;
		len -= n;
	}
	return LETHE_OK;
}

lethe_rc
sealstream_w_finish(struct sealstream_w *w, struct lethe_err *err)
{
	lethe_rc rc = ss_push(w, crypto_secretstream_xchacha20poly1305_TAG_FINAL, err);

	sealstream_w_abort(w);
	return rc;
}

void
sealstream_w_abort(struct sealstream_w *w)
{
	if (w == NULL)
		return;
	sodium_memzero(w, sizeof(*w));
	free(w);
}

struct sealstream_r *
sealstream_r_open(int fd, const uint8_t key[SEALSTREAM_KEY_LEN], struct lethe_err *err)
{
	uint8_t head[SEALSTREAM_HEADER_LEN];
	struct sealstream_r *r;
	size_t got = 0;

	if (sodium_init() < 0) {
		lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
		return NULL;
	}
	if (ss_read_full(fd, head, sizeof(head), &got, err) != LETHE_OK)
		return NULL;
	if (got != sizeof(head) || memcmp(head, SS_MAGIC, SS_MAGIC_LEN) != 0) {
		lethe_err_set(err, LETHE_E_FORBIDDEN, "not an encrypted archive (bad header)");
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&r->st, head + SS_MAGIC_LEN, key) !=
	    0) {
		sealstream_r_close(r);
		lethe_err_set(err, LETHE_E_FORBIDDEN, "not an encrypted archive (bad header)");
		return NULL;
	}
	return r;
}

/* Read, verify and decrypt the next chunk into r->plain. */
static lethe_rc
ss_pull(struct sealstream_r *r, struct lethe_err *err)
{
	uint8_t lenb[4];
	unsigned long long mlen = 0;
	unsigned char tag = 0;
	size_t got = 0, clen;
	lethe_rc rc;

	rc = ss_read_full(r->fd, lenb, sizeof(lenb), &got, err);
	if (rc != LETHE_OK)
		return rc;
	if (got != sizeof(lenb))
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the encrypted archive is cut short (no final chunk)");
	clen = (size_t)lenb[0] << 24 | (size_t)lenb[1] << 16 | (size_t)lenb[2] << 8 | lenb[3];
	if (clen < SS_ABYTES || clen > SS_CIPHER_MAX)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the encrypted archive does not verify (bad chunk length)");
	rc = ss_read_full(r->fd, r->cipher, clen, &got, err);
	if (rc != LETHE_OK)
		return rc;
	if (got != clen)
		return lethe_err_set(err, LETHE_E_FORBIDDEN, "the encrypted archive is cut short");
	if (crypto_secretstream_xchacha20poly1305_pull(&r->st, r->plain, &mlen, &tag, r->cipher,
	                                               clen, NULL, 0) != 0)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the encrypted archive does not verify (edited, reordered or "
		                     "another key)");
	r->len = (size_t)mlen;
	r->pos = 0;
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		uint8_t extra;

		r->final = true;
		rc = ss_read_full(r->fd, &extra, 1, &got, err);
		if (rc == LETHE_OK && got != 0)
			rc = lethe_err_set(err, LETHE_E_FORBIDDEN,
			                   "the encrypted archive has bytes after its final chunk");
		return rc;
	}
	if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the encrypted archive does not verify (unexpected tag)");
	return LETHE_OK;
}

lethe_rc
sealstream_read(struct sealstream_r *r, void *buf, size_t cap, size_t *n, struct lethe_err *err)
{
	lethe_rc rc;

	*n = 0;
	if (r->failed)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the encrypted archive does not verify");
	while (r->pos == r->len && !r->final) {
		rc = ss_pull(r, err);
		if (rc != LETHE_OK) {
			r->failed = true;
			r->len = r->pos = 0;
			return rc;
		}
	}
	if (r->pos == r->len)
		return LETHE_OK;
	*n = r->len - r->pos < cap ? r->len - r->pos : cap;
	memcpy(buf, r->plain + r->pos, *n);
	r->pos += *n;
	return LETHE_OK;
}

void
sealstream_r_close(struct sealstream_r *r)
{
	if (r == NULL)
		return;
	sodium_memzero(r, sizeof(*r));
	free(r);
}
