/* SPDX-License-Identifier: MIT */
/*
 * lease.c - the owner text of a lease and its liveness check (see lease.h).
 *
 * The state store compares owner texts as opaque strings; only the
 * take-over of a dead holder's lease looks inside, through
 * lease_owner_dead(): a holder on this host and in this pid namespace
 * whose pid no longer exists (kill(pid, 0) fails with ESRCH), or a run of
 * this very process that ended without giving its lease back
 * (lease_owner_abandon(): the store could not be reached to release it).
 * A holder on another host, or in another pid namespace on this host name
 * (containers that share the host's name but not its pids), or one whose
 * text names no namespace (an older lethe), is never declared dead: its
 * lease has to lapse.
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

/* /proc/self/ns/pid is a link to "pid:[4026531836]": the inode number. */
unsigned long long
lease_pidns_here(void)
{
	char link[64];
	ssize_t n = readlink("/proc/self/ns/pid", link, sizeof(link) - 1);
	unsigned long long ino;
	char *end = NULL;

	if (n <= 6 || strncmp(link, "pid:[", 5) != 0)
		return 0;
	link[n] = '\0';
	errno = 0;
	ino = strtoull(link + 5, &end, 10);
	if (errno != 0 || end == link + 5 || strcmp(end, "]") != 0)
		return 0;
	return ino;
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
	snprintf(out, cap, "%s:%ld:n%llu:%s", host, (long)getpid(), lease_pidns_here(), hex);
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

unsigned long long
lease_owner_pidns(const char *owner)
{
	const char *colon = strchr(owner, ':');
	unsigned long long ino;
	char *end = NULL;

	colon = colon != NULL ? strchr(colon + 1, ':') : NULL;
	if (colon == NULL || colon[1] != 'n' || colon[2] < '0' || colon[2] > '9')
		return 0;
	errno = 0;
	ino = strtoull(colon + 2, &end, 10);
	if (errno != 0 || (*end != ':' && *end != '\0'))
		return 0;
	return ino;
}

bool
lease_owner_dead(const char *owner)
{
	char host[256] = "", theirs[256];
	unsigned long long ns;
	long pid;

	if (!lease_owner_parse(owner, theirs, sizeof(theirs), &pid) ||
	    gethostname(host, sizeof(host) - 1) != 0 || strcmp(theirs, host) != 0)
		return false;
	if (pid == (long)getpid() && abandoned_here(owner))
		return true; /* the exact text of a run of this process */
	/* Another pid namespace (or none named): its pids mean nothing here. */
	ns = lease_owner_pidns(owner);
	if (ns == 0 || ns != lease_pidns_here() || pid == (long)getpid())
		return false;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}
