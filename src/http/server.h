/* SPDX-License-Identifier: MIT */
/*
 * server.h - lethe's HTTP server: Meta callbacks, the public status page,
 * health, readiness and metrics.
 *
 * libmicrohttpd in thread-per-connection mode: a callback handler blocks
 * until its request is durable (group commit, see meta/intake.h), which a
 * connection thread may do without stalling others.  Shared connections to
 * the app database (deauthorize) and the state store (status pages) are
 * each guarded by a mutex; the intake and the job runner have their own.
 */
#ifndef LETHE_HTTP_SERVER_H
#define LETHE_HTTP_SERVER_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "util/rc.h"

#define HTTP_MAX_BODY (64u * 1024) /* larger request bodies get 413 */

struct server;

/*
 * Start serving on @listen ("ADDR:PORT", "[ADDR]:PORT"; NULL = cfg->listen).
 * @cfg (with secrets and key loaded) and @dm must outlive the server.
 */
lethe_rc server_start(const struct lethe_config *cfg, const struct datamap *dm, const char *listen,
                      struct server **out, struct lethe_err *err);
/* Stop accepting, finish requests in flight, stop the intake and the runner. */
void server_stop(struct server *s);
/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);

/* The one mapping from a result to an HTTP status. */
unsigned http_status_of(lethe_rc rc);

#endif /* LETHE_HTTP_SERVER_H */
