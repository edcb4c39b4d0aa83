/* SPDX-License-Identifier: MIT */
/*
 * IDLE (RFC 2177, RFC 9051 6.3.13): the client says IDLE, gets "+ idling"
 * and waits; the server pushes EXISTS, EXPUNGE (VANISHED) and FETCH FLAGS
 * as other sessions or SMTP deliveries change the selected mailbox, until
 * the client sends DONE. The wake-up path: while idling, the session's
 * idle context is a waiter (struct store_waiter) in the store's
 * notification hub, hung in the list of its mailbox; a commit on that
 * mailbox sets its flag. The connection layer calls the engine's poll hook
 * about every 200 ms between commands (imap-service.c), and
 * imap_idle_poll() compares the view with the store only when the flag was
 * set. So a delivery shows within a fraction of a second, and an idle
 * session costs no descriptor and no syscall per tick: at 100,000 idlers an
 * eventfd each would have been 100,000 more descriptors and 500,000
 * read() calls a second.
 * Outside IDLE, updates are reported only at command boundaries.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <strings.h>

struct idle_ctx {
	struct store_waiter waiter;
};

static void idle_free(void *context)
{
	struct idle_ctx *ctx = context;
	/* Out of the list first: the hub may touch it from another thread. */
	store_notify_unwait(&ctx->waiter);
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
	if (s->view != NULL)
		store_notify_wait(&ctx->waiter, s->view->mailbox_id);
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
	/* NOTIFY's events go out between commands as well as in IDLE. */
	size_t before = out->len;
	imap_notify_poll(s, out);
	if (out->len != before)
		imap_session_rest(s, CONN_OK);
	if (s->closing || !s->cmd_active || s->cmd.line_func != idle_done || s->view == NULL)
		return CONN_OK;
	struct idle_ctx *ctx = s->cmd.context;
	if (!store_waiter_fired(&ctx->waiter))
		return CONN_OK;
	imap_cmd_sync(&s->cmd, out);
	imap_session_rest(s, CONN_OK);
	return CONN_OK;
}
