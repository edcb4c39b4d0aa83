/* SPDX-License-Identifier: MIT */
/* Internals shared by server.c (listeners, workers) and connection.c. */
#ifndef FACTEUR_NET_PRIVATE_H
#define FACTEUR_NET_PRIVATE_H

#include "lib/server-ctx.h"
#include "net/net.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct listener {
	int fd;
	enum listener_kind kind;
	int port;
	const struct conn_proto *proto;
};

struct worker {
	struct net_server *server;
	int id;
	int epfd;
	int stopfd; /* eventfd: the stop request */
	struct server_ctx ctx;
	struct conn *conns; /* doubly linked list of live connections */
	unsigned n_conns;
	unsigned n_ready;               /* connections with buffered input to go on with */
	int spare_fd;                   /* kept open to accept-and-refuse when out of fds */
	int64_t listen_paused_until;    /* 0, or when to watch the listeners again */
	unsigned accepted_since_trim;   /* connections accepted since the last malloc_trim */
	int64_t last_accept, last_trim; /* ms */
	bool stopping;
};

struct net_server {
	const struct config *cfg;
	struct listener listeners[CONFIG_MAX_LISTENERS];
	size_t n_listeners;
	SSL_CTX *tls; /* swapped by net_server_reload_tls, under tls_lock */
	pthread_mutex_t tls_lock;
	struct worker *workers;
	atomic_int n_workers;     /* read by net_server_stop from the signal thread */
	atomic_bool stop;         /* workers also poll it: a stop during start-up is kept */
	unsigned max_conns;       /* per worker: max_connections, or less if fds are short */
	atomic_bool fd_exhausted; /* an episode is on: logged once at its start */
};

void conn_accept(struct worker *w, struct listener *l);
/* A TLS session on the server's current certificate (NULL: out of memory). */
struct ssl_st *net_server_ssl_new(struct net_server *s);
/* Stop or start watching every listener (out of descriptors: back off). */
void worker_listeners_watch(struct worker *w, bool on);
void conn_event(struct conn *c, uint32_t events);
/*
 * Go on with every connection that ran out of rounds with input still
 * buffered (conn_progress marks them): the worker calls it each turn and
 * does not sleep in epoll_wait while any is left.
 */
void conn_run_ready(struct worker *w);
/* Called about every 200 ms: idle timeouts and engine polls. */
void conn_tick(struct worker *w, int64_t now_ms);
/* Resume every connection waiting after CONN_WAIT (on a wake-up or tick). */
void conn_resume_waiting(struct worker *w, int64_t now_ms);
/* Stop: send goodbyes, flush briefly, close everything. */
void conn_close_all(struct worker *w);

/* Per-address connection counting across all workers (IPv6: per /64). */
bool conn_limit_acquire(const char *ip, unsigned max);
void conn_limit_release(const char *ip);
/* The channel bindings of ssl, once its handshake is complete (tls.c). */
struct conn_tls_binding;
void net_tls_binding(struct ssl_st *ssl, struct conn_tls_binding *b);

#endif
