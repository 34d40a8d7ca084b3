/* SPDX-License-Identifier: MIT */
/*
 * lease.c - the owner text of a lease and its liveness check (see lease.h).
 *
 * The state store compares owner texts as opaque strings; only the
 * take-over of a dead holder's lease looks inside, through
 * lease_owner_dead(): a holder on this host whose pid no longer exists
 * (kill(pid, 0) fails with ESRCH), or a run of this very process that
 * ended without giving its lease back (lease_owner_abandon(): the store
 * could not be reached to release it).  A holder on another host is never
 * declared dead: its lease has to lapse.
 *
 * The abandoned owners are a small ring under a mutex (the oldest are
 * forgotten: their leases lapse as any other).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/hash.h"
#include "util/lease.h"

#define ABANDONED_MAX 16 /* abandoned owner texts remembered */

static pthread_mutex_t abandoned_mu = PTHREAD_MUTEX_INITIALIZER;
static char abandoned[ABANDONED_MAX][LEASE_OWNER_MAX];
static unsigned abandoned_next;

void
lease_owner_abandon(const char *owner)
{
	pthread_mutex_lock(&abandoned_mu);
	snprintf(abandoned[abandoned_next % ABANDONED_MAX], LEASE_OWNER_MAX, "%s", owner);
	abandoned_next++;
	pthread_mutex_unlock(&abandoned_mu);
}

/* True if @owner is an owner text of this process that lease_owner_abandon() was given. */
static bool
abandoned_here(const char *owner)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&abandoned_mu);
	for (i = 0; i < ABANDONED_MAX && !found; i++)
		found = abandoned[i][0] != '\0' && strcmp(abandoned[i], owner) == 0;
	pthread_mutex_unlock(&abandoned_mu);
	return found;
}

void
lease_owner_format(char *out, size_t cap)
{
	char host[256] = "localhost";
	uint8_t nonce[8];
	char hex[2 * sizeof(nonce) + 1];

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	hash_key_random_bytes(nonce, sizeof(nonce));
	hash_hex(nonce, sizeof(nonce), hex);
	snprintf(out, cap, "%s:%ld:%s", host, (long)getpid(), hex);
}

bool
lease_owner_parse(const char *owner, char *host, size_t cap, long *pid)
{
	const char *colon = strchr(owner, ':');
	char *end = NULL;
	size_t n;
	long p;

	if (colon == NULL || colon == owner)
		return false;
	n = (size_t)(colon - owner);
	if (n >= cap || colon[1] < '0' || colon[1] > '9')
		return false;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || p <= 0 || (*end != ':' && *end != '\0'))
		return false;
	memcpy(host, owner, n);
	host[n] = '\0';
	*pid = p;
	return true;
}

bool
lease_owner_dead(const char *owner)
{
	char host[256] = "", theirs[256];
	long pid;

	if (!lease_owner_parse(owner, theirs, sizeof(theirs), &pid) ||
	    gethostname(host, sizeof(host) - 1) != 0 || strcmp(theirs, host) != 0)
		return false;
	if (pid == (long)getpid())
		return abandoned_here(owner);
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}
