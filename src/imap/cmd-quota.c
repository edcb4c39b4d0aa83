/* SPDX-License-Identifier: MIT */
/*
 * QUOTA (RFC 9208, and the RFC 2087 forms older clients send, which share
 * its syntax): GETQUOTAROOT, GETQUOTA, SETQUOTA, and the STATUS item
 * DELETED-STORAGE (written by cmd-status.c in the same units, imap_quota_kib).
 * facteur has one quota per account, on the sum of its message sizes, set
 * by the administrator (`facteur user quota ADDRESS SIZE`). So there is one
 * quota root, named "", which governs every mailbox of the account (a
 * mailbox shared by another account counts against its owner, whose root
 * is "Other Users/OWNER" or "Shared Folders/DOMAIN"), and
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t imap_quota_kib(uint64_t bytes)
{
	return bytes / 1024 + (bytes % 1024 != 0 ? 1 : 0);
}

/*
 * The numbers of an account: 1 with a quota, 0 unlimited, -1 store error
 * or account gone.
 */
static int quota_read(struct imap_session *s, int64_t account_id, struct store_account *a)
{
	int r = store_account_get_by_id(s->store, account_id, a);
	if (r <= 0)
		return -1;
	return a->quota_bytes > 0 ? 1 : 0;
}

/*
 * The quota root of an account: "" for the session's own; the owner of a
 * mailbox shared with it is "Other Users/OWNER" (a public folder's,
 * "Shared Folders/DOMAIN"), the prefix of its mailboxes' names (RFC 2342).
 */
static void quota_root(struct imap_session *s, const struct store_account *a, char *out,
		       size_t size)
{
	if (a->id == s->account.id)
		snprintf(out, size, "%s", "");
	else if (a->address[0] == '@')
		snprintf(out, size, "%s/%s", IMAP_NS_SHARED, a->address + 1);
	else
		snprintf(out, size, "%s/%s", IMAP_NS_OTHER, a->address);
}

static void quota_write(struct buf *out, const char *root, const struct store_account *a)
{
	uint64_t used = a->used_bytes > 0 ? (uint64_t)a->used_bytes : 0;
	buf_printf(out, "* QUOTA \"%s\" (STORAGE %" PRIu64 " %" PRIu64 ")\r\n", root,
		   imap_quota_kib(used), imap_quota_kib((uint64_t)a->quota_bytes));
}

/* GETQUOTAROOT mailbox: a shared mailbox counts against its owner (RFC 4314). */
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
	uint32_t rights = 0;
	int r = imap_mailbox_lookup(s, name, &m, &rights);
	if (r <= 0) {
		free(name);
		if (r < 0)
			return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	}
	struct store_account a;
	int q = quota_read(s, m.account_id, &a);
	if (q < 0) {
		free(name);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the quota");
	}
	char root[400];
	quota_root(s, &a, root, sizeof(root));
	buf_append_str(out, "* QUOTAROOT ");
	imap_write_mailbox_name(s, out, name);
	free(name);
	if (q > 0) {
		buf_printf(out, " \"%s\"\r\n", root);
		quota_write(out, root, &a);
	} else {
		buf_append_str(out, "\r\n");
	}
	return imap_cmd_ok(cmd, out, "GETQUOTAROOT completed");
}

/* Find the owner whose quota root is root among those sharing with the session. */
struct root_find {
	struct imap_session *s;
	const char *root;
	int64_t owner;
};

static void root_match(void *ctx, const struct store_shared_mailbox *m)
{
	struct root_find *f = ctx;
	char root[400];
	if (!(m->rights & STORE_RIGHT_LOOKUP))
		return;
	snprintf(root, sizeof(root), "%s/%s", m->public_folder ? IMAP_NS_SHARED : IMAP_NS_OTHER,
		 m->owner);
	if (strcmp(root, f->root) == 0)
		f->owner = m->mailbox.account_id;
}

/*
 * GETQUOTA quota-root: "" (the session's own), or the root of an owner
 * who shares a mailbox the session may look up (no trace of the others).
 */
enum imap_cmd_ret cmd_getquota(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *root;
	if (!imap_arg_get_astring(&cmd->args[0], &root))
		return imap_cmd_bad(cmd, out, "Missing quota root");
	if (!imap_arg_is_eol(&cmd->args[1]))
		return imap_cmd_bad(cmd, out, "Unexpected arguments");
	struct root_find f = {s, root, root[0] == '\0' ? s->account.id : 0};
	if (f.owner == 0 && store_acl_shared_list(s->store, s->account.id, root_match, &f) < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the quota");
	if (f.owner == 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such quota root");
	struct store_account a;
	int q = quota_read(s, f.owner, &a);
	if (q < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the quota");
	if (q == 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such quota root");
	quota_write(out, root, &a);
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
