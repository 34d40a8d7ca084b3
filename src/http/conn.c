/* SPDX-License-Identifier: MIT */
/*
 * conn.c - the server's record of its TCP connections and the reaper
 * thread that bounds the time a request may take to arrive.
 *
 * libmicrohttpd's timeout is an idle timeout only: a client sending a byte
 * every 10 s would hold a connection for ever.  Each connection has a
 * struct http_conn (server_internal.h) on the server's list under conn_mu;
 * the event threads set its @since, and the reaper, once every
 * REAP_EVERY_MS, shuts down a connection whose request began to arrive
 * more than ARRIVE_LIMIT_MS ago and is not in yet (reap_slow()).  See
 * docs/internals/server.md.
 */
#include "util/fmacros.h"

#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "http/server_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/*
 * A request must arrive whole (request line, headers, body) within this
 * of its first byte, whatever its pace: libmicrohttpd's timeout is only an
 * idle timeout, which a client sending a byte every 10 s never meets.  The
 * reaper looks once every REAP_EVERY_MS.
 */
#define ARRIVE_LIMIT_MS 15000
#define REAP_EVERY_MS 1000

void
http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
	struct server *s = cls;
	struct http_conn *cn = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		cn = xcalloc(1, sizeof(*cn));
		cn->fd = ci != NULL ? ci->connect_fd : -1;
		atomic_init(&cn->fresh, true);
		atomic_init(&cn->since, (int64_t)time_mono_ms());
		pthread_mutex_lock(&s->conn_mu);
		cn->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = cn;
		s->conns = cn;
		pthread_mutex_unlock(&s->conn_mu);
		*socket_context = cn;
		return;
	}
	if (cn == NULL)
		return;
	pthread_mutex_lock(&s->conn_mu);
	if (cn->prev != NULL)
		cn->prev->next = cn->next;
	else
		s->conns = cn->next;
	if (cn->next != NULL)
		cn->next->prev = cn->prev;
	pthread_mutex_unlock(&s->conn_mu);
	free(cn);
	*socket_context = NULL;
}

/*
 * Has a request begun to arrive on @cn since the reaper last looked (at
 * cn->checked)?  The kernel's count of bytes received says so on a fresh
 * connection; after an answer, the time of the last data received (to a
 * few ms; 10 ms of slack so the previous request's last bytes do not count).
 */
static bool
request_begun(struct http_conn *cn, int64_t now)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (cn->fd < 0 || getsockopt(cn->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return false;
	if (atomic_load_explicit(&cn->fresh, memory_order_relaxed) &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return ti.tcpi_bytes_received > 0;
	return now - (int64_t)ti.tcpi_last_data_recv > cn->checked + 10;
}

/*
 * One pass of the reaper: a connection whose request began to arrive more
 * than ARRIVE_LIMIT_MS ago and is not in yet is shut down (libmicrohttpd
 * then sees the end of its stream and closes it).  A connection that sends
 * nothing is left to libmicrohttpd's idle timeout.  Returns how many were
 * cut.  Costs one getsockopt() per connection waiting for a request whose
 * first byte has not come yet; nothing per request.
 */
static int
reap_slow(struct server *s)
{
	int64_t now = (int64_t)time_mono_ms();
	int cut = 0;

	pthread_mutex_lock(&s->conn_mu);
	for (struct http_conn *cn = s->conns; cn != NULL; cn = cn->next) {
		int64_t since = atomic_load_explicit(&cn->since, memory_order_relaxed);

		if (since == 0) { /* it has its request: handled or answered */
			cn->seen = 0;
			continue;
		}
		if (since != cn->seen) { /* a new wait: from its start or the last answer */
			cn->seen = since;
			cn->checked = since;
			cn->started = 0;
		}
		if (cn->started == 0) {
			if (request_begun(cn, now))
				cn->started = cn->checked; /* its first byte came after that */
			cn->checked = now;
		}
		if (cn->started != 0 && now - cn->started > ARRIVE_LIMIT_MS) {
			shutdown(cn->fd, SHUT_RDWR);
			cn->started = now; /* once */
			cut++;
		}
	}
	pthread_mutex_unlock(&s->conn_mu);
	return cut;
}

void *
http_conn_reaper(void *arg)
{
	static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);
	struct server *s = arg;

	prctl(PR_SET_NAME, "lethe-http-reap", 0, 0, 0);
	pthread_mutex_lock(&s->conn_mu);
	while (!s->reap_stop) {
		struct timespec until;
		int cut;

		time_deadline(&until, REAP_EVERY_MS);
		pthread_cond_timedwait(&s->reap_cv, &s->conn_mu, &until);
		if (s->reap_stop)
			break;
		pthread_mutex_unlock(&s->conn_mu);
		cut = reap_slow(s);
		if (cut > 0)
			log_warnx_limited(&lim,
			                  "closed %d connections whose request took more than %d s "
			                  "to arrive",
			                  cut, ARRIVE_LIMIT_MS / 1000);
		pthread_mutex_lock(&s->conn_mu);
	}
	pthread_mutex_unlock(&s->conn_mu);
	return NULL;
}
