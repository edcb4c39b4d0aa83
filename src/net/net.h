/* SPDX-License-Identifier: MIT */
/*
 * The daemon's network core: listeners bound once, then one epoll loop per
 * worker thread. Every loop watches every listening socket (EPOLLEXCLUSIVE,
 * so one loop wakes per new connection) and owns the connections it
 * accepts for their whole life. Each connection carries a protocol engine
 * (struct conn_proto in conn.h) that it feeds bytes and flushes; TLS,
 * timers, back-pressure and the STARTTLS upgrade live here, never in the
 * engines.
 */
#ifndef FACTEUR_NET_H
#define FACTEUR_NET_H

#include "lib/config.h"
#include "net/conn.h"

#include <openssl/ssl.h>

struct net_server;
struct server_ctx;

struct net_worker_hooks {
	/* Called in each worker thread before its loop starts. */
	int (*init)(int worker_id, struct server_ctx *ctx, const char **error_r);
	void (*deinit)(struct server_ctx *ctx);
};

/*
 * Bind every listener of cfg (before any privilege drop) and load TLS.
 * protos maps each listener kind to its engine; a NULL entry means the kind
 * is not served (a listener configured for it is an error).
 */
int net_server_create(const struct config *cfg,
		      const struct conn_proto *const protos[LISTENER_KIND_COUNT],
		      struct net_server **server_r, char **error_r);
/*
 * Start the workers and block until net_server_stop. Returns 0 when
 * stopped cleanly, -1 if a worker could not start.
 */
int net_server_run(struct net_server *server, const struct net_worker_hooks *hooks, char **error_r);
/* Async-signal-safe: ask every loop to stop (connections get a goodbye). */
void net_server_stop(struct net_server *server);
/*
 * Read tls_cert and tls_key again (SIGHUP, a renewed certificate): new
 * connections and STARTTLS use them, those in progress keep theirs. On
 * failure the old certificate stays. 1 reloaded, 0 no TLS configured.
 */
int net_server_reload_tls(struct net_server *server, char **error_r);
void net_server_destroy(struct net_server **server);

/* Ports actually bound (useful when the configuration said port 0). */
int net_server_listener_port(const struct net_server *server, size_t i);

/* TLS context for servers: TLS 1.2+, modern ciphers. NULL + error. */
SSL_CTX *net_tls_server_ctx(const char *cert, const char *key, char **error_r);
/*
 * Write a new self-signed certificate (EC P-256, 10 years, CN and SAN
 * hostname, localhost, 127.0.0.1, ::1) to cert_path and its key (mode
 * 0600) to key_path. Returns 0 or -1.
 */
int net_tls_make_self_signed(const char *hostname, const char *cert_path, const char *key_path,
			     char **error_r);

#endif
