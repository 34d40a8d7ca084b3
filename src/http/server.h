/* SPDX-License-Identifier: MIT */
/*
 * server.h - lethe's HTTP server: Meta callbacks, the public status page,
 * health, readiness and metrics.
 *
 * libmicrohttpd with one poll() thread per CPU: event threads never block;
 * handlers that wait on a database run on a worker pool while their
 * connection is suspended, and a data-deletion request waits, suspended,
 * until the intake made it durable (meta/intake.h).  Every handler reaches
 * the databases and the background threads through the service layer
 * (service/service.h), which owns them; the server owns only what is HTTP.
 */
#ifndef LETHE_HTTP_SERVER_H
#define LETHE_HTTP_SERVER_H

#include "config/config.h"
#include "util/rc.h"

#define HTTP_MAX_BODY (64u * 1024) /* larger request bodies get 413 */
#define HTTP_MAX_HEADER 8192u      /* larger request lines and headers get 431 */

struct server;
struct service;

/*
 * Make a server for @cfg on @listen ("ADDR:PORT", "[ADDR]:PORT"; NULL =
 * cfg->listen): checks the address and reads the status template, opens
 * nothing.  @cfg (with secrets and key loaded) must outlive the server.
 * Then server_start(); free with server_stop() in either case.
 */
lethe_rc server_new(const struct lethe_config *cfg, const char *listen, struct server **out,
                    struct lethe_err *err);
/*
 * Start serving the actions of @svc (service_start()): listen and answer.
 * On failure call server_stop() all the same.
 */
lethe_rc server_start(struct server *s, struct service *svc, struct lethe_err *err);
/*
 * Stop accepting, finish requests in flight (service_quiesce() of the
 * service: its pool and intake finish their queues) and free @s.  The
 * service is stopped by its owner afterwards.  NULL is a no-op.
 */
void server_stop(struct server *s);
/*
 * Read the configuration file again (the path server_start was given) and,
 * if it loads, put its api.keys and api.admin_keys in force, with their
 * number (both lists) in *@nkeys;
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
