/* SPDX-License-Identifier: MIT */
/*
 * server.h - lethe's HTTP server: Meta callbacks, the public status page,
 * health, readiness and metrics.
 *
 * libmicrohttpd with one poll() thread per CPU: event threads never block;
 * handlers that wait on a database run on a worker pool while their
 * connection is suspended, and a data-deletion request waits, suspended,
 * until the intake made it durable (meta/intake.h).  Shared connections to
 * the app database and the state store are each guarded by a mutex; the
 * intake, the runner, the outbox and the sweeper have their own.
 */
#ifndef LETHE_HTTP_SERVER_H
#define LETHE_HTTP_SERVER_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "util/rc.h"

#define HTTP_MAX_BODY (64u * 1024) /* larger request bodies get 413 */
#define HTTP_MAX_HEADER 8192u      /* larger request lines and headers get 431 */

struct server;

/*
 * Start serving on @listen ("ADDR:PORT", "[ADDR]:PORT"; NULL = cfg->listen).
 * @cfg (with secrets and key loaded) and @dm must outlive the server.
 */
lethe_rc server_start(const struct lethe_config *cfg, const struct datamap *dm, const char *listen,
                      struct server **out, struct lethe_err *err);
/* Stop accepting, finish requests in flight, stop the intake and the runner. */
void server_stop(struct server *s);
/*
 * Read the configuration file again (the path server_start was given) and,
 * if it loads, put its api.keys in force, with their number in *@nkeys;
 * requests in flight and background jobs go on untouched, and no other
 * setting changes until the next start.  If it does not load, nothing
 * changes and @err says why.  One caller at a time (the signal thread).
 */
lethe_rc server_reload(struct server *s, size_t *nkeys, struct lethe_err *err);
/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);

/* The one mapping from a result to an HTTP status. */
unsigned http_status_of(lethe_rc rc);

#endif /* LETHE_HTTP_SERVER_H */
