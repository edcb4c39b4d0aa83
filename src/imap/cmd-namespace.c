/* SPDX-License-Identifier: MIT */
/*
 * NAMESPACE (RFC 2342, RFC 9051 6.3.10): the personal namespace with an
 * empty prefix, other users' mailboxes under "Other Users/" (then the
 * owner's address) and public folders under "Shared Folders/" (then the
 * domain); '/' is the hierarchy delimiter everywhere (imap-acl.c).
 */
#include "imap/imap-private.h"

enum imap_cmd_ret cmd_namespace(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(cmd->args))
		return imap_cmd_bad(cmd, out, "NAMESPACE takes no arguments");
	buf_append_str(out,
		       "* NAMESPACE ((\"\" \"/\")) ((\"" IMAP_NS_OTHER "/\" \"/\"))"
		       " ((\"" IMAP_NS_SHARED "/\" \"/\"))\r\n");
	return imap_cmd_ok(cmd, out, "NAMESPACE completed");
}
