/* SPDX-License-Identifier: MIT */
/*
 * NAMESPACE (RFC 2342, RFC 9051 6.3.10): one personal namespace with an
 * empty prefix and '/' as hierarchy delimiter; no other users' or shared
 * namespaces yet (shared folders come later).
 */
#include "imap/imap-private.h"

enum imap_cmd_ret cmd_namespace(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(cmd->args))
		return imap_cmd_bad(cmd, out, "NAMESPACE takes no arguments");
	buf_append_str(out, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	return imap_cmd_ok(cmd, out, "NAMESPACE completed");
}
