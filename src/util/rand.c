/* SPDX-License-Identifier: MIT */
/*
 * rand.c - per-thread ChaCha20 generator with fast key erasure (see rand.h).
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "util/rand.h"

#define RAND_BUF 512 /* keystream bytes per refill, after the next key */

struct rand_state {
	uint8_t key[crypto_stream_chacha20_KEYBYTES]; /* the next refill's key */
	uint8_t buf[RAND_BUF];                        /* keystream not handed out yet */
	size_t pos;                                   /* bytes of buf handed out */
	size_t since_seed;                            /* bytes since the kernel keyed it */
	unsigned gen;                                 /* fork generation it was keyed in */
	int seeded;                                   /* key is set */
};

static _Thread_local struct rand_state rs;
static atomic_uint fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
	atomic_fetch_add(&fork_gen, 1);
}

static void
register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

/* New keystream: the first 32 bytes replace the key, the rest is served. */
static void
refill(void)
{
	static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	uint8_t block[crypto_stream_chacha20_KEYBYTES + RAND_BUF];
	unsigned gen = atomic_load(&fork_gen);

	if (!rs.seeded || rs.gen != gen || rs.since_seed >= RAND_RESEED_BYTES) {
		pthread_once(&atfork_once, register_atfork);
		randombytes_buf(rs.key, sizeof(rs.key));
		rs.seeded = 1;
		rs.gen = gen;
		rs.since_seed = 0;
	}
	/* A key is used once, so a fixed nonce is safe. */
	crypto_stream_chacha20(block, sizeof(block), nonce, rs.key);
	memcpy(rs.key, block, sizeof(rs.key));
	memcpy(rs.buf, block + sizeof(rs.key), RAND_BUF);
	sodium_memzero(block, sizeof(block));
	rs.pos = 0;
}

void
rand_bytes(void *out, size_t n)
{
	if (n > RAND_BUF / 4) {
		randombytes_buf(out, n);
		return;
	}
	if (!rs.seeded || rs.pos + n > RAND_BUF || rs.gen != atomic_load(&fork_gen))
		refill();
	memcpy(out, rs.buf + rs.pos, n);
	sodium_memzero(rs.buf + rs.pos, n);
	rs.pos += n;
	rs.since_seed += n;
}
