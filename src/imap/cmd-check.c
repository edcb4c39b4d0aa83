/* SPDX-License-Identifier: MIT */
/*
 * CHECK (RFC 3501 6.4.1; dropped from IMAP4rev2 but still sent by rev1
 * clients): a checkpoint of the selected mailbox. Every change is already
 * durable when its command is answered, so there is nothing to flush and
 * CHECK behaves like NOOP: it reports the pending mailbox updates.
 */
#include "imap/imap-private.h"

enum imap_cmd_ret cmd_check(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "CHECK takes no arguments");
	return imap_cmd_ok(cmd, out, "CHECK completed");
}
