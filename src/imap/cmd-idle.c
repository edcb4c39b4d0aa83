/* SPDX-License-Identifier: MIT */
/*
 * IDLE (RFC 2177, RFC 9051 6.3.13): the client says IDLE, gets "+ idling"
 * and waits; the server pushes EXISTS, EXPUNGE (VANISHED) and FETCH FLAGS
 * as other sessions or SMTP deliveries change the selected mailbox, until
 * the client sends DONE. The wake-up path: while idling, the session holds
 * a non-blocking eventfd subscribed to the mailbox in the store's
 * notification hub; the connection layer calls the engine's poll hook
 * about every 200 ms between commands (imap-service.c), and
 * imap_idle_poll() compares the view with the store only when the eventfd
 * fired. So a delivery shows within a fraction of a second and an idle
 * session costs a read() on an eventfd per tick, not a database query.
 * Outside IDLE, updates are reported only at command boundaries.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct idle_ctx {
	int fd; /* -1: no eventfd could be made; check the store each tick */
	bool subscribed;
};

static void idle_free(void *context)
{
	struct idle_ctx *ctx = context;
	/* Unsubscribe first: the hub may write to fd from another thread. */
	if (ctx->subscribed)
		store_notify_unsubscribe(ctx);
	if (ctx->fd >= 0)
		close(ctx->fd);
	free(ctx);
}

static enum imap_cmd_ret idle_done(struct imap_cmd *cmd, const char *line, size_t len,
				   struct buf *out)
{
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		return imap_cmd_ok(cmd, out, "IDLE terminated");
	return imap_cmd_bad(cmd, out, "Expected DONE");
}

enum imap_cmd_ret cmd_idle(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "IDLE takes no arguments");
	struct idle_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctx->fd < 0)
		log_warn("imap.idle_eventfd", "session=%s", s->session_id);
	if (ctx->fd >= 0 && s->view != NULL) {
		if (store_notify_subscribe(s->view->mailbox_id, ctx->fd, ctx) == 0)
			ctx->subscribed = true;
		else {
			close(ctx->fd);
			ctx->fd = -1;
		}
	}
	cmd->context = ctx;
	cmd->free_context = idle_free;
	cmd->line_func = idle_done;
	buf_append_str(out, "+ idling\r\n");
	/* What changed before the subscription would otherwise wait for DONE. */
	imap_cmd_sync(cmd, out);
	return IMAP_CMD_WAIT_LINE;
}

enum conn_result imap_idle_poll(struct imap_session *s, struct buf *out)
{
	if (s->closing || !s->cmd_active || s->cmd.line_func != idle_done || s->view == NULL)
		return CONN_OK;
	struct idle_ctx *ctx = s->cmd.context;
	if (ctx->fd >= 0) {
		uint64_t events;
		if (read(ctx->fd, &events, sizeof(events)) != (ssize_t)sizeof(events))
			return CONN_OK; /* EAGAIN: nothing happened */
	}
	imap_cmd_sync(&s->cmd, out);
	imap_session_rest(s, CONN_OK);
	return CONN_OK;
}
