/* SPDX-License-Identifier: MIT */
/*
 * QUOTA (RFC 9208, and the RFC 2087 forms older clients send, which share
 * its syntax): GETQUOTAROOT, GETQUOTA, SETQUOTA, and the STATUS item
 * DELETED-STORAGE (written by cmd-status.c in the same units, imap_quota_kib).
 * facteur has one quota per account, on the sum of its message sizes, set
 * by the administrator (`facteur user quota ADDRESS SIZE`). So there is one
 * quota root, named "", which governs every mailbox of the account, and
 * one resource, STORAGE, counted in units of 1024 octets (rounded up, so a
 * non-empty account never reads as 0). An account without a quota has no
 * quota root at all: GETQUOTAROOT lists none and GETQUOTA "" is NO
 * [NONEXISTENT], since RFC 9208 has no way to say "used N of unlimited".
 * The numbers are read afresh from the store on each command, not from
 * the account copied at login, so deliveries and expunges show at once.
 * SETQUOTA is refused: users may not raise their own quota, and the server
 * does not advertise QUOTASET.
 */
#include "imap/imap-private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

uint64_t imap_quota_kib(uint64_t bytes)
{
	return bytes / 1024 + (bytes % 1024 != 0 ? 1 : 0);
}

/*
 * The current account numbers: 1 with a quota, 0 unlimited, -1 store
 * error or account gone.
 */
static int quota_read(struct imap_session *s, struct store_account *a)
{
	int r = store_account_get_by_id(s->store, s->account.id, a);
	if (r <= 0)
		return -1;
	return a->quota_bytes > 0 ? 1 : 0;
}

static void quota_write(struct buf *out, const struct store_account *a)
{
	uint64_t used = a->used_bytes > 0 ? (uint64_t)a->used_bytes : 0;
	buf_printf(out, "* QUOTA \"\" (STORAGE %" PRIu64 " %" PRIu64 ")\r\n", imap_quota_kib(used),
		   imap_quota_kib((uint64_t)a->quota_bytes));
}

/* GETQUOTAROOT mailbox */
enum imap_cmd_ret cmd_getquotaroot(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *wire, *error;
	if (!imap_arg_get_astring(&cmd->args[0], &wire))
		return imap_cmd_bad(cmd, out, "Missing mailbox name");
	if (!imap_arg_is_eol(&cmd->args[1]))
		return imap_cmd_bad(cmd, out, "Unexpected arguments");
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] %s", error);
	struct store_mailbox m;
	int r = store_mailbox_get(s->store, s->account.id, name, &m);
	if (r <= 0) {
		free(name);
		if (r < 0)
			return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	}
	struct store_account a;
	int q = quota_read(s, &a);
	if (q < 0) {
		free(name);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the quota");
	}
	buf_append_str(out, "* QUOTAROOT ");
	imap_write_mailbox_name(s, out, name);
	free(name);
	if (q > 0) {
		buf_append_str(out, " \"\"\r\n");
		quota_write(out, &a);
	} else {
		buf_append_str(out, "\r\n");
	}
	return imap_cmd_ok(cmd, out, "GETQUOTAROOT completed");
}

/* GETQUOTA quota-root */
enum imap_cmd_ret cmd_getquota(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *root;
	if (!imap_arg_get_astring(&cmd->args[0], &root))
		return imap_cmd_bad(cmd, out, "Missing quota root");
	if (!imap_arg_is_eol(&cmd->args[1]))
		return imap_cmd_bad(cmd, out, "Unexpected arguments");
	struct store_account a;
	int q = quota_read(s, &a);
	if (q < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the quota");
	if (root[0] != '\0' || q == 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such quota root");
	quota_write(out, &a);
	return imap_cmd_ok(cmd, out, "GETQUOTA completed");
}

/* A number64 (RFC 9208): 1 to 19 digits, at most 2^63 - 1. */
static bool quota_number64(const char *str)
{
	size_t n = strlen(str);
	if (n == 0 || n > 19 || strspn(str, "0123456789") != n)
		return false;
	return n < 19 || strcmp(str, "9223372036854775807") <= 0;
}

/*
 * SETQUOTA quota-root (resource limit ...). The syntax is checked first so
 * a malformed command still gets BAD; a well-formed one is refused.
 */
enum imap_cmd_ret cmd_setquota(struct imap_cmd *cmd, struct buf *out)
{
	const char *root, *atom;
	const struct imap_arg *list;
	size_t count;
	if (!imap_arg_get_astring(&cmd->args[0], &root))
		return imap_cmd_bad(cmd, out, "Missing quota root");
	if (!imap_arg_get_list(&cmd->args[1], &list, &count) || count % 2 != 0)
		return imap_cmd_bad(cmd, out, "Expected a list of resource limit pairs");
	if (!imap_arg_is_eol(&cmd->args[2]))
		return imap_cmd_bad(cmd, out, "Unexpected arguments");
	for (size_t i = 0; i < count; i += 2) {
		if (!imap_arg_get_atom(&list[i], &atom) ||
		    !imap_arg_get_atom(&list[i + 1], &atom) || !quota_number64(atom))
			return imap_cmd_bad(cmd, out, "Invalid resource limit");
	}
	return imap_cmd_no(cmd, out, "[NOPERM] Quotas are set by the administrator");
}
