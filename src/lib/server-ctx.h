/* SPDX-License-Identifier: MIT */
/*
 * What every protocol session can reach: the configuration (shared,
 * read-only) and this worker thread's own store handle. One server_ctx per
 * worker loop; sessions on that loop share it and never touch another's.
 */
#ifndef FACTEUR_LIB_SERVER_CTX_H
#define FACTEUR_LIB_SERVER_CTX_H

struct auth_pool;
struct config;
struct filter;
struct mailauth;
struct store;
struct store_writer;

struct server_ctx {
	const struct config *config;
	struct store *store; /* owned by this worker thread */
	int worker_id;
	struct mailauth *mailauth; /* shared by all workers (DKIM, SPF, DMARC); may be NULL */
	/* rspamd (spam filter and learning), shared by all workers; may be NULL. */
	struct filter *filter;
	/* Password checks, shared by all workers; NULL: hash in the loop (tests). */
	struct auth_pool *auth_pool;
	/* Group commit of deliveries, shared by all workers; NULL: deliver directly. */
	struct store_writer *writer;
	/*
	 * Another thread that finished work a session waits for (CONN_WAIT)
	 * calls server_ctx_wake: the worker then resumes its waiting
	 * connections at once instead of on its next 200 ms tick.
	 */
	int wake_fd; /* eventfd owned by the worker; -1 when none */
};

/* Thread-safe and async-signal-safe; a no-op when wake_fd is -1. */
void server_ctx_wake(const struct server_ctx *ctx);
/* The same as a callback for a pool job's done: arg is the server_ctx. */
void server_ctx_wake_cb(void *arg);

#endif
