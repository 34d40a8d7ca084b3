/* SPDX-License-Identifier: MIT */
/*
 * rand.h - fast cryptographic random bytes for hot paths.
 *
 * A per-thread ChaCha20 generator with fast key erasure (each refill's
 * first 32 bytes become the next key, and bytes handed out are wiped from
 * the buffer), keyed from the kernel (libsodium's randombytes_buf, i.e.
 * getrandom) and rekeyed from it every RAND_RESEED_BYTES and in a forked
 * child.  Saves a getrandom system call per confirmation code and nonce.
 */
#ifndef LETHE_UTIL_RAND_H
#define LETHE_UTIL_RAND_H

#include <stddef.h>

#define RAND_RESEED_BYTES (64u * 1024) /* kernel entropy at least this often */

/* @n random bytes into @out; large requests go to the kernel directly. */
void rand_bytes(void *out, size_t n);

#endif /* LETHE_UTIL_RAND_H */
