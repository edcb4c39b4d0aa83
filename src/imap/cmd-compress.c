/* SPDX-License-Identifier: MIT */
/*
 * COMPRESS DEFLATE (RFC 4978). The session only answers and remembers that
 * compression is on; the connection layer (net/connection.c) does the
 * DEFLATE once the tagged OK has gone out uncompressed.
 */
#include "imap/imap-private.h"

enum imap_cmd_ret cmd_compress(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *alg;
	if (!imap_arg_get_atom(&cmd->args[0], &alg) || !imap_arg_is_eol(&cmd->args[1]))
		return imap_cmd_bad(cmd, out, "Usage: COMPRESS DEFLATE");
	if (!imap_arg_atom_equals(&cmd->args[0], "DEFLATE"))
		return imap_cmd_no(cmd, out, "Unknown compression mechanism");
	if (s->compressed)
		return imap_cmd_no(cmd, out, "[COMPRESSIONACTIVE] Already compressing");
	imap_cmd_ok(cmd, out, "DEFLATE active");
	s->compressed = true;
	return IMAP_CMD_COMPRESS;
}
