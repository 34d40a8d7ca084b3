/* SPDX-License-Identifier: MIT */
/*
 * lmtp.c - the LMTP listener of the privacy mailbox (RFC 2033; mailin.h):
 * what Postfix, Exim and Dovecot hand mail to.  One accept thread, one
 * thread per session (at most mailbox.lmtp_connections, kept in slots and
 * joined), a bounded read buffer per session: command lines at most
 * MAILIN_LINE_MAX bytes, the DATA body kept up to mailbox.max_size + 1
 * bytes (the rest read and dropped).  After DATA the message is delivered
 * ONCE through service_mailin_deliver() and every accepted recipient gets
 * the same answer: 250 (stored or a duplicate), 552 (over max_size),
 * 554 (unreadable or too many parts), 451 (anything else: the MTA
 * retries).  PIPELINING needs nothing more than answering each command
 * in order.  Log lines carry no address, header or word of a message.
 * This file holds the sessions, the listeners, start and stop; a
 * session's connection I/O and its DATA body are in lmtp_conn.c
 * (lmtp_internal.h).
 *
 * Thread safety: the accept thread owns the slots' used flags and starts
 * and joins session threads (mailin_lmtp_stop() reads the flags only
 * after joining it); a slot's fd is set and cleared under the listener's
 * mutex (mailin_lmtp_stop() shuts the sockets down under it); the stop
 * flag, a slot's done flag and the count of held body bytes are atomics;
 * everything else of a session is its thread's own.
 */
#include "util/fmacros.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "mailin/lmtp_internal.h"
#include "mailin/mailin.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define GREETING "220 lethe LMTP ready\r\n"

struct mailin_lmtp;

/* One session slot: a thread and its socket. */
struct slot {
	struct mailin_lmtp *l;
	pthread_t th;
	int fd;
	bool used;        /* a thread was started (joined when done or at stop) */
	atomic_bool done; /* the thread finished */
};

struct mailin_lmtp {
	struct service *svc;
	const struct mailbox_config *mb;
	int lfd;         /* the listening socket */
	char *unix_path; /* the socket file to remove at stop, or NULL */
	char addr[300];  /* what was bound, for the log */
	pthread_t accept_th;
	bool accept_started;
	atomic_bool stop;
	pthread_mutex_t mu; /* slots' fd (shutdown at stop) */
	struct slot *slots;
	size_t nslots;
	struct lmtp_limits lim; /* the session timeouts */
	/* Bytes of DATA bodies held by all sessions, at most budget: the
	 * memory of lmtp_connections x max_size is never taken at once. */
	atomic_int_fast64_t inflight;
	int64_t budget; /* MAILIN_INFLIGHT_MAILS x (max_size + 1) */
};

static struct log_limit budget_lim = LOG_LIMIT_INIT(5, 60000);

/* ---- a session ----------------------------------------------------------------- */

/* The transaction of a session. */
struct txn {
	bool lhlo;                    /* LHLO was given */
	bool mail;                    /* MAIL FROM was accepted */
	char from[MAIL_ADDR_MAX + 1]; /* the envelope sender, "" for <> */
	int nrcpt;                    /* accepted recipients */
};

static void
txn_reset(struct txn *t)
{
	bool lhlo = t->lhlo;

	memset(t, 0, sizeof(*t));
	t->lhlo = lhlo;
}

/* Whether @line starts with the command @cmd (case-insensitive), followed by end or space. */
static bool
is_cmd(const char *line, const char *cmd)
{
	size_t n = strlen(cmd);

	return strncasecmp(line, cmd, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

/*
 * Parse "<PATH> PARAMS" after "MAIL FROM:" or "RCPT TO:" (@s): the path
 * between the brackets into @path (at most @cap - 1 bytes), *@params at
 * what follows.  false for a syntax error.
 */
static bool
parse_path(const char *s, char *path, size_t cap, const char **params)
{
	const char *gt;
	size_t n;

	while (*s == ' ')
		s++;
	if (*s != '<')
		return false;
	gt = strchr(s, '>');
	if (gt == NULL)
		return false;
	n = (size_t)(gt - s - 1);
	if (n >= cap)
		return false;
	memcpy(path, s + 1, n);
	path[n] = '\0';
	if (strpbrk(path, " <") != NULL)
		return false;
	*params = gt + 1;
	return true;
}

/* SIZE=n among @params: its value, or -1 when absent; -2 for a bad one. */
static int64_t
param_size(const char *params)
{
	const char *p = params;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, "SIZE=", 5) == 0) {
			char *end = NULL;
			unsigned long long v;

			errno = 0;
			if (!isdigit((unsigned char)p[5]))
				return -2;
			v = strtoull(p + 5, &end, 10);
			if (errno != 0 || (*end != '\0' && *end != ' ') || v > INT64_MAX)
				return INT64_MAX;
			return (int64_t)v;
		}
		while (*p != '\0' && *p != ' ')
			p++;
	}
	return -1;
}

/* @msg made fit for a reply line: controls to spaces, at most 200 bytes. */
static void
reply_text(const char *msg, char *out, size_t cap)
{
	size_t i, max = cap < 201 ? cap - 1 : 200;

	for (i = 0; i < max && msg[i] != '\0'; i++)
		out[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
	out[i] = '\0';
}

/* Deliver the body once and answer every recipient of @t alike. */
static void
deliver(struct mailin_lmtp *l, struct lmtp_conn *c, struct txn *t, struct lmtp_body *b)
{
	struct service_mailin_result res;
	struct lethe_err err = {0};
	char line[320], text[256];
	lethe_rc rc;
	int i;

	memset(&res, 0, sizeof(res));
	if (b->total > (uint64_t)l->mb->max_size) {
		snprintf(line, sizeof(line),
		         "552 5.3.4 message too large (%llu bytes; at most %lld)\r\n",
		         (unsigned long long)b->total, (long long)l->mb->max_size);
		log_info("LMTP: a message of %llu bytes refused: over mailbox.max_size",
		         (unsigned long long)b->total);
	} else if (b->over) {
		snprintf(line, sizeof(line),
		         "452 4.3.1 too many messages at once; try again later\r\n");
		log_warnx_limited(&budget_lim,
		                  "LMTP: a message of %llu bytes not taken (the MTA retries): "
		                  "%lld bytes of messages held already",
		                  (unsigned long long)b->total, (long long)l->budget);
	} else {
		rc = service_mailin_deliver(l->svc, b->p != NULL ? b->p : "", b->len, t->from,
		                            "lmtp", &res, &err);
		reply_text(err.msg, text, sizeof(text));
		if (rc == LETHE_OK) {
			/* No outcome nor mail number: they would reach the MTA's log
			 * and a success DSN (RFC 3461); they are logged here only. */
			snprintf(line, sizeof(line), "250 2.0.0 ok\r\n");
			log_info("LMTP: a message of %zu bytes: %s (mail %lld)", b->len,
			         res.outcome, (long long)res.id);
		} else if (rc == LETHE_E_TOOBIG) {
			snprintf(line, sizeof(line), "552 5.3.4 %s\r\n", text);
			log_info("LMTP: a message of %zu bytes refused: too large", b->len);
		} else if (rc == LETHE_E_INVALID) {
			/* Unreadable, or over max_parts. */
			snprintf(line, sizeof(line), "554 5.6.0 %s\r\n", text);
			log_info("LMTP: a message of %zu bytes refused: %s", b->len, text);
		} else {
			snprintf(line, sizeof(line),
			         "451 4.3.0 temporary failure, try again later\r\n");
			log_warnx("LMTP: a message of %zu bytes not taken (the MTA retries): %s",
			          b->len, text);
		}
	}
	/*
	 * Stored or refused, the message is done with: its bytes go back to the
	 * budget before the answer, so a client that has its 250 finds the room
	 * (freed after it, a new DATA could still get 452 while this thread
	 * waits for a CPU).  The caller's lmtp_body_free() is then a no-op.
	 */
	lmtp_body_free(b);
	for (i = 0; i < t->nrcpt; i++)
		if (!lmtp_conn_write(c, line))
			return;
}

/* Serve one LMTP session on @c until QUIT, EOF, the idle timeout or stop. */
static void
session(struct mailin_lmtp *l, struct lmtp_conn *c)
{
	struct txn t;
	char line[MAILIN_LINE_MAX + 1];
	char reply[256];
	size_t n = 0;

	memset(&t, 0, sizeof(t));
	if (!lmtp_conn_write(c, GREETING))
		return;
	for (;;) {
		int r = lmtp_conn_line(c, line, &n);
		const char *params = NULL;

		if (r == 0)
			return;
		if (r < 0) {
			if (!lmtp_conn_write(c, "500 5.5.6 line too long\r\n"))
				return;
			continue;
		}
		if (is_cmd(line, "LHLO")) {
			if (line[4] == '\0' || line[5] == '\0') {
				lmtp_conn_write(c, "501 5.5.4 LHLO needs a domain\r\n");
				continue;
			}
			memset(&t, 0, sizeof(t));
			t.lhlo = true;
			snprintf(reply, sizeof(reply),
			         "250-lethe\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
			         "250-8BITMIME\r\n250 SIZE %lld\r\n",
			         (long long)l->mb->max_size);
			lmtp_conn_write(c, reply);
		} else if (is_cmd(line, "HELO") || is_cmd(line, "EHLO")) {
			lmtp_conn_write(c, "500 5.5.1 this is LMTP: use LHLO\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			int64_t size;

			if (!t.lhlo) {
				lmtp_conn_write(c, "503 5.5.1 LHLO first\r\n");
				continue;
			}
			if (t.mail) {
				lmtp_conn_write(c, "503 5.5.1 MAIL already given (RSET first)\r\n");
				continue;
			}
			if (!parse_path(line + 10, t.from, sizeof(t.from), &params)) {
				t.from[0] = '\0';
				lmtp_conn_write(
				    c, "501 5.5.4 syntax: MAIL FROM:<address> [SIZE=n]\r\n");
				continue;
			}
			size = param_size(params);
			if (size == -2) {
				t.from[0] = '\0';
				lmtp_conn_write(c, "501 5.5.4 bad SIZE parameter\r\n");
				continue;
			}
			if (size > l->mb->max_size) {
				t.from[0] = '\0';
				snprintf(reply, sizeof(reply),
				         "552 5.3.4 message too large (at most %lld bytes)\r\n",
				         (long long)l->mb->max_size);
				lmtp_conn_write(c, reply);
				continue;
			}
			t.mail = true;
			lmtp_conn_write(c, "250 2.1.0 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			char rcpt[MAIL_ADDR_MAX + 1];

			if (!t.mail) {
				lmtp_conn_write(c, "503 5.5.1 MAIL first\r\n");
				continue;
			}
			if (!parse_path(line + 8, rcpt, sizeof(rcpt), &params) || rcpt[0] == '\0') {
				lmtp_conn_write(c, "501 5.5.4 syntax: RCPT TO:<address>\r\n");
				continue;
			}
			if (t.nrcpt >= MAILIN_RCPT_MAX) {
				lmtp_conn_write(c, "452 4.5.3 too many recipients\r\n");
				continue;
			}
			t.nrcpt++;
			lmtp_conn_write(c, "250 2.1.5 ok\r\n");
		} else if (is_cmd(line, "DATA")) {
			struct lmtp_body b = {.max = (size_t)l->mb->max_size + 1,
			                      .inflight = &l->inflight,
			                      .budget = l->budget};
			bool ok;

			if (t.nrcpt == 0) {
				lmtp_conn_write(c, t.mail ? "503 5.5.1 no valid recipients\r\n"
				                          : "503 5.5.1 MAIL first\r\n");
				continue;
			}
			if (atomic_load(&l->inflight) +
			        (int64_t)(b.max < LMTP_BODY_STEP ? b.max : LMTP_BODY_STEP) >
			    l->budget) {
				/* No room for a body now: the MTA keeps it and retries. */
				lmtp_conn_write(c, "452 4.3.1 too many messages at once; try again "
				                   "later\r\n");
				log_warnx_limited(&budget_lim,
				                  "LMTP: DATA refused for now: %lld bytes of "
				                  "messages held already",
				                  (long long)l->budget);
				continue;
			}
			if (!lmtp_conn_write(c, "354 go ahead; end with <CRLF>.<CRLF>\r\n"))
				return;
			c->data_end = time_mono_ms() + l->lim.data;
			ok = lmtp_body_read(c, &b);
			c->data_end = 0;
			if (!ok) {
				/* Gone mid-message: nothing is delivered, the MTA retries. */
				lmtp_body_free(&b);
				log_info("LMTP: a session ended inside DATA; nothing taken");
				return;
			}
			deliver(l, c, &t, &b);
			lmtp_body_free(&b);
			txn_reset(&t);
		} else if (is_cmd(line, "RSET")) {
			txn_reset(&t);
			lmtp_conn_write(c, "250 2.0.0 ok\r\n");
		} else if (is_cmd(line, "NOOP")) {
			lmtp_conn_write(c, "250 2.0.0 ok\r\n");
		} else if (is_cmd(line, "VRFY")) {
			lmtp_conn_write(c, "252 2.5.0 cannot VRFY; send the mail\r\n");
		} else if (is_cmd(line, "QUIT")) {
			lmtp_conn_write(c, "221 2.0.0 bye\r\n");
			return;
		} else {
			lmtp_conn_write(c, "500 5.5.2 command not recognized\r\n");
		}
		if (c->dead)
			return;
	}
}

static void *
session_main(void *arg)
{
	struct slot *s = arg;
	struct lmtp_conn *c = xcalloc(1, sizeof(*c));

	c->fd = s->fd;
	c->stop = &s->l->stop;
	c->lim = &s->l->lim;
	c->end = time_mono_ms() + s->l->lim.session;
	session(s->l, c);
	if (c->timedout) {
		static const char bye[] = "421 4.4.2 timeout; closing\r\n";

		(void)!send(c->fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		log_info("LMTP: a session closed: timeout (a client too slow, silent, or not "
		         "reading)");
	}
	sodium_memzero(c, sizeof(*c)); /* its read buffer held message bytes */
	free(c);
	pthread_mutex_lock(&s->l->mu);
	close(s->fd);
	s->fd = -1;
	pthread_mutex_unlock(&s->l->mu);
	atomic_store(&s->done, true);
	return NULL;
}

/* Join the finished sessions; the index of a free slot, or -1 when all are busy. */
static int
reap(struct mailin_lmtp *l)
{
	int free_slot = -1;
	size_t i;

	for (i = 0; i < l->nslots; i++) {
		struct slot *s = &l->slots[i];

		if (s->used && atomic_load(&s->done)) {
			pthread_join(s->th, NULL);
			s->used = false;
		}
		if (!s->used && free_slot < 0)
			free_slot = (int)i;
	}
	return free_slot;
}

static void *
accept_main(void *arg)
{
	struct mailin_lmtp *l = arg;
	static struct log_limit busy_lim = LOG_LIMIT_INIT(5, 60000);
	static struct log_limit fd_lim = LOG_LIMIT_INIT(5, 60000);

	while (!atomic_load(&l->stop)) {
		struct pollfd p = {.fd = l->lfd, .events = POLLIN};
		struct slot *s;
		int fd, i;

		if (poll(&p, 1, LMTP_POLL_MS) <= 0)
			continue;
		fd = accept(l->lfd, NULL, NULL);
		if (fd < 0) {
			/* Out of descriptors or memory: the listener stays readable, so
			 * polling again at once would spin; the MTA's connection waits
			 * in the backlog meanwhile. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn_limited(&fd_lim,
				                 "LMTP: cannot accept a connection (retried in "
				                 "%d ms)",
				                 LMTP_POLL_MS);
				(void)poll(NULL, 0, LMTP_POLL_MS);
			}
			continue;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		i = reap(l);
		if (i < 0) {
			static const char busy[] = "421 4.3.2 too busy; try again later\r\n";

			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			log_warnx_limited(&busy_lim,
			                  "LMTP: a connection refused: %lld sessions already "
			                  "(mailbox.lmtp_connections)",
			                  (long long)l->nslots);
			continue;
		}
		s = &l->slots[i];
		pthread_mutex_lock(&l->mu);
		s->fd = fd;
		pthread_mutex_unlock(&l->mu);
		atomic_store(&s->done, false);
		s->used = true;
		if (pthread_create(&s->th, NULL, session_main, s) != 0) {
			s->used = false;
			close(fd);
			s->fd = -1;
			log_warnx("LMTP: cannot start a session thread");
		}
	}
	return NULL;
}

/* ---- listening ------------------------------------------------------------------ */

/*
 * Listen on the Unix socket @path: l->lfd, l->unix_path (removed at stop)
 * and l->addr set on LETHE_OK; on an error nothing is left open or made
 * (the socket closed, the file it bound removed).
 */
static lethe_rc
listen_unix(struct mailin_lmtp *l, const char *path, struct lethe_err *err)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, probe = -1;
	bool bound = false;
	lethe_rc rc = LETHE_OK;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		rc = lethe_err_set(err, LETHE_E_CONFIG, "mailbox.lmtp: unix:%s: path too long",
		                   path);
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rc = lethe_err_set(err, LETHE_E_IO,
			                   "mailbox.lmtp: %s exists and is not a socket", path);
			goto out;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			rc = lethe_err_set(err, LETHE_E_IO,
			                   "mailbox.lmtp: unix:%s: another process listens on it",
			                   path);
			goto out;
		}
		unlink(path); /* stale: left by a lethe that did not stop */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "mailbox.lmtp: cannot listen on unix:%s: %s",
		                   path, strerror(errno));
		goto out;
	}
	bound = true;
	if (chmod(path, 0660) != 0 || listen(fd, 64) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "mailbox.lmtp: cannot listen on unix:%s: %s",
		                   path, strerror(errno));
		goto out;
	}
	l->lfd = fd;
	fd = -1;
	l->unix_path = xstrdup(path);
	snprintf(l->addr, sizeof(l->addr), "unix:%s", path);
out:
	if (probe >= 0)
		close(probe);
	if (fd >= 0) {
		close(fd);
		if (bound)
			unlink(path);
	}
	return rc;
}

/*
 * Listen on TCP @spec ("HOST:PORT", "[V6]:PORT"): l->lfd and l->addr (what
 * was bound) set on LETHE_OK; on an error nothing is left open.
 */
static lethe_rc
listen_tcp(struct mailin_lmtp *l, const char *spec, struct lethe_err *err)
{
	char host[256];
	const char *port, *colon;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	int one = 1, r, fd = -1;
	size_t hn;
	lethe_rc rc = LETHE_OK;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (rb == NULL || rb[1] != ':') {
			rc = lethe_err_set(err, LETHE_E_CONFIG, "mailbox.lmtp: bad address %s",
			                   spec);
			goto out;
		}
		hn = (size_t)(rb - spec - 1);
		colon = rb + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			rc = lethe_err_set(err, LETHE_E_CONFIG, "mailbox.lmtp: bad address %s",
			                   spec);
			goto out;
		}
		hn = (size_t)(colon - spec);
	}
	if (hn >= sizeof(host)) {
		rc = lethe_err_set(err, LETHE_E_CONFIG, "mailbox.lmtp: bad address");
		goto out;
	}
	memcpy(host, spec, hn);
	host[hn] = '\0';
	port = colon + 1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai);
	if (r != 0) {
		ai = NULL;
		rc = lethe_err_set(err, LETHE_E_CONFIG, "mailbox.lmtp: %s:%s: %s", host, port,
		                   gai_strerror(r));
		goto out;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "mailbox.lmtp: cannot listen on %s:%s: %s",
		                   host, port, strerror(errno));
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(l->addr, sizeof(l->addr), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
		         hbuf, pbuf);
	else
		snprintf(l->addr, sizeof(l->addr), "%s:%s", host, port);
	l->lfd = fd;
	fd = -1;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * The session timeouts: MAILIN_*_MS, or, only under a test clock
 * (LETHE_TEST_NOW), LETHE_TEST_LMTP_MS="IDLE,SEND,DATA,SESSION" in
 * milliseconds so a test need not wait minutes.
 */
static void
limits_init(struct lmtp_limits *lim)
{
	const char *v = getenv("LETHE_TEST_LMTP_MS");
	double t[4];
	char *end = NULL;
	int i;

	lim->idle = MAILIN_IDLE_MS;
	lim->send = MAILIN_SEND_MS;
	lim->data = MAILIN_DATA_MS;
	lim->session = MAILIN_SESSION_MS;
	if (v == NULL || !time_is_test_clock())
		return;
	for (i = 0; i < 4; i++) {
		long long x;

		errno = 0;
		x = strtoll(v, &end, 10);
		if (errno != 0 || end == v || x <= 0 || *end != (i < 3 ? ',' : '\0')) {
			log_warnx("LETHE_TEST_LMTP_MS ignored: not IDLE,SEND,DATA,SESSION in ms");
			return;
		}
		t[i] = (double)x;
		v = end + 1;
	}
	lim->idle = t[0];
	lim->send = t[1];
	lim->data = t[2];
	lim->session = t[3];
	log_warnx("LETHE_TEST_LMTP_MS is set: TEST timeouts for LMTP sessions");
}

lethe_rc
mailin_lmtp_start(struct service *svc, const struct mailbox_config *mb, struct mailin_lmtp **out,
                  struct lethe_err *err)
{
	struct mailin_lmtp *l = xcalloc(1, sizeof(*l));
	size_t i;
	lethe_rc rc;

	*out = NULL;
	l->svc = svc;
	l->mb = mb;
	l->lfd = -1;
	limits_init(&l->lim);
	l->budget = MAILIN_INFLIGHT_MAILS * (mb->max_size + 1);
	atomic_init(&l->inflight, 0);
	atomic_init(&l->stop, false);
	pthread_mutex_init(&l->mu, NULL);
	l->nslots = mb->lmtp_connections > 0 ? (size_t)mb->lmtp_connections : 1;
	l->slots = xcalloc(l->nslots, sizeof(*l->slots));
	for (i = 0; i < l->nslots; i++) {
		l->slots[i].l = l;
		l->slots[i].fd = -1;
		atomic_init(&l->slots[i].done, false);
	}
	if (strncmp(mb->lmtp, "unix:", 5) == 0)
		rc = listen_unix(l, mb->lmtp + 5, err);
	else
		rc = listen_tcp(l, mb->lmtp, err);
	if (rc == LETHE_OK) {
		if (pthread_create(&l->accept_th, NULL, accept_main, l) != 0)
			rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the LMTP thread");
		else
			l->accept_started = true;
	}
	if (rc != LETHE_OK) {
		mailin_lmtp_stop(l);
		return rc;
	}
	log_info("LMTP on %s (at most %zu sessions)", l->addr, l->nslots);
	*out = l;
	return LETHE_OK;
}

void
mailin_lmtp_stop(struct mailin_lmtp *l)
{
	size_t i;

	if (l == NULL)
		return;
	atomic_store(&l->stop, true);
	if (l->accept_started)
		pthread_join(l->accept_th, NULL);
	if (l->lfd >= 0)
		close(l->lfd);
	/* Wake the sessions blocked in poll: they see the stop flag or EOF. */
	pthread_mutex_lock(&l->mu);
	for (i = 0; i < l->nslots; i++)
		if (l->slots[i].fd >= 0)
			shutdown(l->slots[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&l->mu);
	for (i = 0; i < l->nslots; i++)
		if (l->slots[i].used)
			pthread_join(l->slots[i].th, NULL);
	if (l->unix_path != NULL) {
		unlink(l->unix_path);
		free(l->unix_path);
	}
	pthread_mutex_destroy(&l->mu);
	free(l->slots);
	free(l);
}
