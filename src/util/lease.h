/* SPDX-License-Identifier: MIT */
/*
 * lease.h - who holds a lease, and whether that holder is still alive.
 *
 * A job of the state store (an erase job, an outbox job) is run by one
 * process at a time, the one whose owner text is in the job's lease_owner
 * column.  The owner text is "host:pid:nNS:nonce": the host name, the
 * process id, the inode number of its pid namespace (readlink
 * /proc/self/ns/pid, 0 if unknown) and 16 random hex digits (two runs of
 * one process, or a reused pid, never look alike).  A lease whose holder
 * runs on this host, in this pid namespace, and whose process no longer
 * exists can be taken over at once instead of waiting for it to lapse.
 * Older texts "host:pid:nonce" name no namespace: their leases lapse.  This module is the only
 * place that writes or reads that format. Thread-safe: no state of its own.
 */
#ifndef LETHE_UTIL_LEASE_H
#define LETHE_UTIL_LEASE_H

#include "util/fmacros.h"

#include <stdbool.h>
#include <stddef.h>

/* Enough for any owner text: a host name (at most 255 bytes), pid, namespace and nonce. */
#define LEASE_OWNER_MAX 320

/*
 * Write a new owner text for this process into @out (@cap bytes, at least
 * LEASE_OWNER_MAX to never truncate): "host:pid:nNS:nonce" with a fresh
 * nonce.
 * Call once per run and keep the text for the run's claims and releases.
 */
void lease_owner_format(char *out, size_t cap);

/*
 * Split owner text @owner into its host (into @host, @cap bytes) and its
 * process id (*@pid).  False if @owner does not have the form "host:pid" or
 * "host:pid:..." with a positive decimal pid, or the host does not fit.
 */
bool lease_owner_parse(const char *owner, char *host, size_t cap, long *pid);

/*
 * The inode number of this process's pid namespace (readlink
 * /proc/self/ns/pid), or 0 if it cannot be read (no /proc).
 */
unsigned long long lease_pidns_here(void);

/*
 * The pid namespace inode named in owner text @owner ("host:pid:nNS:..."),
 * or 0 if it names none (an older "host:pid:nonce" text, or not an owner).
 */
unsigned long long lease_owner_pidns(const char *owner);

/*
 * True if @owner names a process of this host and of this pid namespace
 * that no longer exists (it crashed or was killed), or a run of this
 * process given to lease_owner_abandon(): its lease may be taken over at
 * once.  False for a live process, another host, another (or no named)
 * pid namespace, or text that is not an owner.
 */
bool lease_owner_dead(const char *owner);
/*
 * The run of this process whose owner text is @owner ended without giving
 * its lease back (the state store could not be reached): a later run of
 * this process may take that lease over at once (lease_owner_dead()).
 * Thread-safe.
 */
void lease_owner_abandon(const char *owner);

#endif /* LETHE_UTIL_LEASE_H */
