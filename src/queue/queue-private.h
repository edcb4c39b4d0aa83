/* SPDX-License-Identifier: MIT */
/*
 * Internals of the queue module: the asynchronous resolver the manager
 * drives from its epoll loop (queue-dns.c) and the per-destination
 * concurrency window (queue-sched.c). Nothing outside src/queue/ (and its
 * unit tests) includes this header.
 */
#ifndef FACTEUR_QUEUE_PRIVATE_H
#define FACTEUR_QUEUE_PRIVATE_H

#include "queue/queue.h"

#include <sys/socket.h>

/* Hosts tried per destination and addresses kept per host. */
#define QUEUE_DNS_MAX_HOSTS 10
#define QUEUE_DNS_MAX_ADDRS 32

struct queue_dns;

struct queue_dns_addr {
	struct sockaddr_storage sa; /* port not set */
	socklen_t salen;
	char host[256]; /* the MX host name (for SNI, logs, DSNs) */
};

enum queue_dns_status {
	QUEUE_DNS_OK,       /* addrs holds at least one address */
	QUEUE_DNS_TEMPFAIL, /* try again later */
	QUEUE_DNS_PERMFAIL, /* bounce: no such domain, null MX */
};

struct queue_dns_result {
	enum queue_dns_status status;
	char error[256];              /* "5.1.10 null MX: ..." style reason when not OK */
	struct queue_dns_addr *addrs; /* in preference order, owned by the resolver */
	size_t n_addrs;
};

/* Called once per lookup from queue_dns_process; r is valid during the call. */
typedef void queue_dns_cb(void *ctx, const struct queue_dns_result *r);

/*
 * A resolver: forward = "" uses /etc/resolv.conf, else "IP[@PORT]" (every
 * query goes there). Returns 0, or -1 with a malloc'd *error_r.
 */
int queue_dns_create(const char *forward, struct queue_dns **dns_r, char **error_r);
/* Cancels every lookup (no callbacks) and frees; NULLs *dns. */
void queue_dns_destroy(struct queue_dns **dns);
/* The fd to watch for readability. */
int queue_dns_fd(struct queue_dns *dns);
/* Run callbacks of finished lookups (call when the fd is readable, and after starting lookups). */
void queue_dns_process(struct queue_dns *dns);

/*
 * Where mail for domain goes (RFC 5321 5.1): MX hosts by preference, the
 * domain itself when it has no MX, none for a null MX (RFC 7505); an
 * address literal "[1.2.3.4]" / "[IPv6:...]" directly. Then the A and
 * AAAA records of each host. The callback never runs inside this call.
 * Returns 0 or -1 (could not start: the callback will not run).
 */
int queue_dns_resolve_domain(struct queue_dns *dns, const char *domain, queue_dns_cb *cb,
			     void *ctx);
/* Only the addresses of host (a smarthost), or the literal address itself. */
int queue_dns_resolve_host(struct queue_dns *dns, const char *host, queue_dns_cb *cb, void *ctx);

/*
 * Parse an MX rdata (preference, uncompressed wire name) into *pref_r and
 * name (size 256, "" for the root: null MX). Returns 0 or -1 (malformed).
 * Exposed for the unit tests.
 */
int queue_dns_parse_mx(const unsigned char *rdata, size_t len, unsigned *pref_r, char *name);

/* --- per-destination concurrency (queue-sched.c) ------------------------- */

/*
 * How many connections one destination may have, grown while it keeps up
 * and shrunk when it does not (slow start, as Postfix does it): the window
 * starts at queue_initial_per_destination, gains one connection after as
 * many successful deliveries as it has connections (one "round"), loses
 * one per failure (connection refused or lost, TLS or session error, a
 * message refused with 4xx), never below 1 nor above the cap
 * (queue_max_per_destination).
 */
struct queue_window {
	unsigned cur;    /* connections allowed now */
	unsigned max;    /* the cap */
	unsigned credit; /* successes since cur last grew */
};

/* Start at initial, clamped to 1..max (max 0 counts as 1). */
void queue_window_init(struct queue_window *w, unsigned initial, unsigned max);
/* One message delivered (at least one recipient took it). */
void queue_window_success(struct queue_window *w);
/* One failure the destination is to blame for. */
void queue_window_failure(struct queue_window *w);

/* What the scheduler knows about a destination and the whole manager. */
struct queue_dest_load {
	size_t pending;     /* messages waiting for a connection */
	unsigned waiting;   /* connections being set up, not yet carrying one */
	unsigned busy;      /* connections carrying a message */
	unsigned active;    /* this destination's connections, in any state */
	unsigned total;     /* connections of every destination */
	unsigned total_max; /* queue_max_connections */
};

/*
 * New connections to open now, within the window and the total cap: one
 * per message that neither a connection being set up nor a busy one (when
 * it is done with its message) will take. A message that can wait one
 * delivery on a busy connection waits: on a fast destination that is
 * sooner than a new TCP and TLS handshake, and the connections stay few;
 * a backlog that grows faster than the connections drain it opens more.
 * (Idle connections get pending messages before this is asked.)
 */
unsigned queue_window_to_open(const struct queue_window *w, const struct queue_dest_load *l);

#endif
