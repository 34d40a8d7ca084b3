/* SPDX-License-Identifier: MIT */
/*
 * sealstream.h - a file encrypted in chunks: what an export archive is at
 * rest (docs/export.md, docs/internals/export.md).
 *
 * libsodium's secretstream (XChaCha20-Poly1305) under a key of the file's
 * own.  Layout: the magic "LETHESS1" (8 bytes), the secretstream header
 * (24 bytes), then chunks, each a 4-byte big-endian ciphertext length and
 * the ciphertext (at most SEALSTREAM_CHUNK bytes of plaintext plus 17);
 * the last chunk carries the FINAL tag.  A file cut short, with chunks
 * reordered, dropped or edited, or opened with another key, fails to read
 * (LETHE_E_FORBIDDEN), never yields wrong bytes.  Memory is one chunk
 * whatever the file's size.  Not thread-safe per stream.
 */
#ifndef LETHE_SEALSTREAM_H
#define LETHE_SEALSTREAM_H

#include "util/fmacros.h"
#include "util/rc.h"

#define SEALSTREAM_KEY_LEN 32    /* bytes of a stream's key */
#define SEALSTREAM_CHUNK 65536   /* plaintext bytes per chunk at most */
#define SEALSTREAM_HEADER_LEN 32 /* magic and secretstream header */

struct sealstream_w;
struct sealstream_r;

/* A fresh random key for one stream. */
void sealstream_keygen(uint8_t key[SEALSTREAM_KEY_LEN]);
/*
 * Start writing an encrypted stream to @fd (which the caller owns and
 * closes) under @key: writes the header.  NULL with @err set on failure.
 */
struct sealstream_w *sealstream_w_open(int fd, const uint8_t key[SEALSTREAM_KEY_LEN],
                                       struct lethe_err *err);
/* Append @len bytes (buffered into chunks).  LETHE_E_IO on a write error (disk full). */
lethe_rc sealstream_write(struct sealstream_w *w, const void *buf, size_t len,
                          struct lethe_err *err);
/* Write the last chunk (FINAL) and free @w; the caller then fsyncs and closes @fd. */
lethe_rc sealstream_w_finish(struct sealstream_w *w, struct lethe_err *err);
/* Free @w without finishing (the file is then unreadable past its last chunk). */
void sealstream_w_abort(struct sealstream_w *w);

/* Start reading the stream at @fd under @key: checks the header.  NULL with @err set. */
struct sealstream_r *sealstream_r_open(int fd, const uint8_t key[SEALSTREAM_KEY_LEN],
                                       struct lethe_err *err);
/*
 * Up to @cap bytes of plaintext into @buf, *@n of them; *@n = 0 only at the
 * verified end (the FINAL chunk read).  LETHE_E_FORBIDDEN if the file does
 * not verify (cut short, edited, another key), LETHE_E_IO on a read error.
 */
lethe_rc sealstream_read(struct sealstream_r *r, void *buf, size_t cap, size_t *n,
                         struct lethe_err *err);
void sealstream_r_close(struct sealstream_r *r);

#endif /* LETHE_SEALSTREAM_H */
