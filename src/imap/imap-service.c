/* SPDX-License-Identifier: MIT */
/*
 * The glue between the IMAP engine and the daemon: imap_proto, the
 * conn_proto that net/ drives, builds a session per connection from the
 * worker's server_ctx (configuration, this thread's store, the store
 * writer that commits IMAP changes in groups). STARTTLS is
 * offered only on the "imap" listener; "imaps" is encrypted from the start.
 */
#include "imap/imap.h"
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/server-ctx.h"

#include <string.h>

static void *imap_open(struct server_ctx *ctx, const struct conn_info *info, struct buf *out)
{
	bool starttls_listener = info->listener == NULL || strcmp(info->listener, "imap") == 0;
	struct imap_settings settings = {
		.config = ctx->config,
		.store = ctx->store,
		.session_id = info->session_id,
		.peer_ip = info->peer_ip,
		.peer_loopback = info->peer_loopback,
		.tls = info->tls,
		.tls_available = info->tls_available && starttls_listener,
		.binding = &info->binding,
		.auth_pool = ctx->auth_pool,
		.wake = server_ctx_wake_cb,
		.wake_arg = ctx,
		.writer = ctx->writer,
		.filter = ctx->filter,
		.write_done = server_ctx_wake_cb,
		.write_done_arg = ctx,
	};
	log_debug("imap.open", "session=%s listener=%s tls=%d", info->session_id,
		  info->listener != NULL ? info->listener : "-", info->tls ? 1 : 0);
	return imap_session_create(&settings, out);
}

/*
 * \Seen is per reader on mailboxes of other accounts (store-acl.c): the
 * worker's store handle reads it for this session's account while the
 * session works, and for nobody otherwise (other sessions share it).
 */
static void reader_set(struct imap_session *s, bool on)
{
	if (s->store != NULL)
		store_seen_reader_set(s->store, on ? s->account.id : 0);
}

static enum conn_result imap_input(void *session, struct buf *in, struct buf *out)
{
	reader_set(session, true);
	enum conn_result r = imap_session_input(session, in, out);
	reader_set(session, false);
	return r;
}

static enum conn_result imap_resume(void *session, struct buf *out)
{
	reader_set(session, true);
	enum conn_result r = imap_session_resume(session, out);
	reader_set(session, false);
	return r;
}

static void imap_tls_started(void *session, struct buf *out)
{
	imap_session_tls_started(session, out);
}

static void imap_timeout(void *session, struct buf *out)
{
	imap_session_timeout(session, out);
}

static int imap_idle_timeout(void *session)
{
	return imap_session_idle_timeout(session);
}

/* IDLE's wake-up: see cmd-idle.c. */
static enum conn_result imap_poll(void *session, struct buf *out)
{
	reader_set(session, true);
	enum conn_result r = imap_idle_poll(session, out);
	reader_set(session, false);
	return r;
}

static void imap_close(void *session)
{
	struct imap_session *s = session;
	imap_session_destroy(&s);
}

const struct conn_proto imap_proto = {
	.name = "imap",
	.open = imap_open,
	.input = imap_input,
	.resume = imap_resume,
	.tls_started = imap_tls_started,
	.timeout = imap_timeout,
	.idle_timeout = imap_idle_timeout,
	.poll = imap_poll,
	.close = imap_close,
};
