/* SPDX-License-Identifier: MIT */
/*
 * CLOSE (RFC 9051 6.4.1) and UNSELECT (6.4.2, RFC 3691): leave the selected
 * mailbox for the authenticated state. CLOSE first removes the messages
 * flagged \Deleted when the mailbox was opened read-write, silently (no
 * EXPUNGE responses: the client is done with the mailbox); UNSELECT never
 * removes anything. Neither reports pending updates: once the mailbox is
 * closed they no longer mean anything to the client.
 */
#include "imap/imap-private.h"

#include "lib/log.h"

#include <inttypes.h>

/* The expunge of CLOSE is durable (or failed): leave the mailbox. */
static enum imap_cmd_ret close_done(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const struct store_write_outcome *o;
	const char *error;
	if (imap_expunge_result(cmd, &o, &error) < 0) {
		/*
		 * The mailbox stays selected: the client may retry, or
		 * UNSELECT knowing that nothing was removed.
		 */
		log_warn("imap.close_error", "session=%s mailbox_id=%" PRId64 " error=\"%s\"",
			 s->session_id, s->view->mailbox_id, error);
		return imap_cmd_no(cmd, out, "[UNAVAILABLE] Expunge failed");
	}
	imap_session_set_state(s, IMAP_STATE_AUTHENTICATED);
	return imap_cmd_ok(cmd, out, "CLOSE completed");
}

enum imap_cmd_ret cmd_close(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "CLOSE takes no arguments");
	if (!s->view->read_only)
		return imap_expunge_deleted(cmd, out, NULL, close_done);
	imap_session_set_state(s, IMAP_STATE_AUTHENTICATED);
	return imap_cmd_ok(cmd, out, "CLOSE completed");
}

enum imap_cmd_ret cmd_unselect(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "UNSELECT takes no arguments");
	imap_session_set_state(cmd->session, IMAP_STATE_AUTHENTICATED);
	return imap_cmd_ok(cmd, out, "UNSELECT completed");
}
