/* SPDX-License-Identifier: MIT */
/*
 * Shared and public folders over IMAP: RFC 4314 ACL (GETACL, SETACL,
 * DELETEACL, LISTRIGHTS, MYRIGHTS; RIGHTS=texk), the RFC 2342 namespaces
 * through which other accounts' mailboxes are named, and the rights checks
 * the commands call. Names: the personal namespace is the account's own
 * mailboxes; "Other Users/OWNER/NAME" is OWNER's mailbox NAME, and
 * "Shared Folders/DOMAIN/NAME" is the public folder NAME of DOMAIN
 * (store-acl.c has the model). A mailbox the user may not look up ('l')
 * leaves no trace: every command answers as if it did not exist. The
 * rights on the selected mailbox are read again before each command and
 * before each update sent to the client, so a revocation takes effect on
 * the next command (NO [NOPERM]) and no data follows it.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- names ------------------------------------------------------------- */

/*
 * name = ROOT "/" WHO "/" REST? 1 with who (size bytes) and *rest_r, 0
 * when name is not under root or names only ROOT or ROOT/WHO.
 */
static int split_root(const char *name, const char *root, char *who, size_t size,
		      const char **rest_r)
{
	size_t n = strlen(root);
	if (strncasecmp(name, root, n) != 0 || name[n] != '/')
		return 0;
	const char *w = name + n + 1, *slash = strchr(w, '/');
	if (slash == NULL || slash == w || (size_t)(slash - w) >= size || slash[1] == '\0')
		return 0;
	memcpy(who, w, (size_t)(slash - w));
	who[slash - w] = '\0';
	*rest_r = slash + 1;
	return 1;
}

bool imap_acl_name_shared(const char *name)
{
	static const char *const roots[] = {IMAP_NS_OTHER, IMAP_NS_SHARED};
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t n = strlen(roots[i]);
		if (strncasecmp(name, roots[i], n) == 0 && (name[n] == '/' || name[n] == '\0'))
			return true;
	}
	return false;
}

/* The owner account of a shared name, and the mailbox name in it: 1 / 0 / -1. */
static int shared_owner(struct imap_session *s, const char *name, int64_t *owner_r,
			const char **rest_r)
{
	char who[320];
	if (split_root(name, IMAP_NS_OTHER, who, sizeof(who), rest_r) > 0) {
		struct store_account a;
		int r = store_account_get(s->store, who, &a);
		if (r <= 0 || a.id == s->account.id)
			return r;
		*owner_r = a.id;
		return 1;
	}
	if (split_root(name, IMAP_NS_SHARED, who, sizeof(who), rest_r) > 0) {
		const char *error;
		return store_public_owner(s->store, who, false, owner_r, &error);
	}
	return 0;
}

int imap_mailbox_lookup(struct imap_session *s, const char *name, struct store_mailbox *mb_r,
			uint32_t *rights_r)
{
	*rights_r = 0;
	/*
	 * store_mailbox_find: the mailbox row only. store_mailbox_get would
	 * count and sum the mailbox's messages, for every APPEND and COPY:
	 * quadratic in a large mailbox, and no caller reads those counts.
	 */
	if (!imap_acl_name_shared(name)) {
		int r = store_mailbox_find(s->store, s->account.id, name, mb_r);
		if (r > 0)
			*rights_r = STORE_RIGHTS_ALL;
		return r;
	}
	int64_t owner = 0;
	const char *rest;
	int r = shared_owner(s, name, &owner, &rest);
	if (r <= 0)
		return r;
	if ((r = store_mailbox_find(s->store, owner, rest, mb_r)) <= 0)
		return r;
	if ((r = store_acl_rights(s->store, mb_r->id, s->account.id, rights_r)) <= 0)
		return r;
	/* No right to look it up: no trace of it. */
	return (*rights_r & STORE_RIGHT_LOOKUP) != 0 ? 1 : 0;
}

char *imap_acl_external_name(const struct store_shared_mailbox *m)
{
	return xasprintf("%s/%s/%s", m->public_folder ? IMAP_NS_SHARED : IMAP_NS_OTHER, m->owner,
			 m->mailbox.name);
}

int imap_acl_parent_create(struct imap_session *s, const char *name, int64_t *owner_r,
			   const char **rest_r)
{
	int64_t owner = 0;
	const char *rest;
	int r = shared_owner(s, name, &owner, &rest);
	if (r <= 0)
		return r;
	/* Top-level names of others (and public folders) are the owner's or the CLI's. */
	const char *slash = strrchr(rest, '/');
	if (slash == NULL)
		return 0;
	char *parent = xasprintf("%.*s", (int)(slash - name), name);
	struct store_mailbox mb;
	uint32_t rights;
	r = imap_mailbox_lookup(s, parent, &mb, &rights);
	free(parent);
	if (r <= 0)
		return r;
	if ((rights & STORE_RIGHT_CREATE) == 0)
		return 2;
	*owner_r = owner;
	*rest_r = rest;
	return 1;
}

/* --- rights on the selected mailbox ------------------------------------- */

void imap_acl_selected(struct imap_session *s, const struct store_mailbox *mb, uint32_t rights)
{
	s->view_shared = mb->account_id != s->account.id;
	s->view_rights = rights;
}

bool imap_acl_view_ok(struct imap_session *s)
{
	if (s->view == NULL || !s->view_shared)
		return true;
	uint32_t rights = 0;
	int r = store_acl_rights(s->store, s->view->mailbox_id, s->account.id, &rights);
	if (r < 0)
		return false;
	if (r > 0)
		s->view_rights = rights;
	/* Gone: the view's own sync reports that. */
	return r == 0 ||
		(rights & (STORE_RIGHT_LOOKUP | STORE_RIGHT_READ)) ==
		(STORE_RIGHT_LOOKUP | STORE_RIGHT_READ);
}

bool imap_acl_may(const struct imap_session *s, uint32_t rights)
{
	return s->view == NULL || !s->view_shared || (s->view_rights & rights) == rights;
}

bool imap_acl_command_allowed(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	unsigned f = cmd->def->flags;
	/* Commands of the selected state only, but CLOSE and UNSELECT. */
	if ((f & IMAP_CMD_STATE_SELECTED) == 0 || (f & IMAP_CMD_STATE_AUTH) != 0 ||
	    strcmp(cmd->name, "CLOSE") == 0 || strcmp(cmd->name, "UNSELECT") == 0)
		return true;
	if (imap_acl_view_ok(s))
		return true;
	log_info("imap.acl_denied", "session=%s mailbox_id=%" PRId64 " command=%s", s->session_id,
		 s->view->mailbox_id, cmd->name);
	return false;
}

/* --- the ACL commands ---------------------------------------------------- */

/*
 * The mailbox argument of an ACL command, resolved: 1 with *mb_r and
 * rights, 0 after a NO was queued.
 */
static int acl_mailbox(struct imap_cmd *cmd, struct buf *out, const struct imap_arg *arg,
		       struct store_mailbox *mb_r, uint32_t *rights_r, char **name_r)
{
	struct imap_session *s = cmd->session;
	const char *wire, *error;
	if (!imap_arg_get_astring(arg, &wire)) {
		imap_cmd_bad(cmd, out, "Missing mailbox name");
		return 0;
	}
	if (imap_mailbox_name_from_client(s, wire, name_r, &error) < 0) {
		imap_cmd_no(cmd, out, "[NONEXISTENT] %s", error);
		return 0;
	}
	int r = imap_mailbox_lookup(s, *name_r, mb_r, rights_r);
	if (r <= 0) {
		if (r < 0)
			imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
		else
			imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
		free(*name_r);
		*name_r = NULL;
		return 0;
	}
	return 1;
}

/* Owner identifier of a mailbox for GETACL / LISTRIGHTS ("" for public). */
static void owner_identifier(struct imap_session *s, const struct store_mailbox *mb, char *out,
			     size_t size)
{
	struct store_account a;
	out[0] = '\0';
	if (store_account_get_by_id(s->store, mb->account_id, &a) > 0 && a.address[0] != '@')
		snprintf(out, size, "%s", a.address);
}

struct acl_write {
	struct imap_session *s;
	struct buf *out;
};

static void acl_entry_cb(void *ctx, const char *identifier, uint32_t rights)
{
	struct acl_write *w = ctx;
	char text[16];
	store_rights_format(rights, text);
	buf_append(w->out, " ", 1);
	imap_write_astring(w->out, identifier, strlen(identifier), w->s->utf8_accept);
	buf_printf(w->out, " %s", text[0] != '\0' ? text : "\"\"");
}

enum imap_cmd_ret cmd_getacl(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct store_mailbox mb;
	uint32_t rights;
	char *name;
	if (!acl_mailbox(cmd, out, &cmd->args[0], &mb, &rights, &name))
		return IMAP_CMD_DONE;
	if (!imap_arg_is_eol(&cmd->args[1])) {
		free(name);
		return imap_cmd_bad(cmd, out, "GETACL takes one mailbox");
	}
	if ((rights & STORE_RIGHT_ADMIN) == 0) {
		free(name);
		return imap_cmd_no(cmd, out, "[NOPERM] Administer right needed");
	}
	struct buf line;
	buf_init(&line);
	buf_append_str(&line, "* ACL ");
	imap_write_mailbox_name(s, &line, name);
	char owner[320];
	owner_identifier(s, &mb, owner, sizeof(owner));
	struct acl_write w = {s, &line};
	if (owner[0] != '\0')
		acl_entry_cb(&w, owner, STORE_RIGHTS_ALL);
	int r = store_acl_list(s->store, mb.id, acl_entry_cb, &w);
	free(name);
	if (r < 0) {
		buf_deinit(&line);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the ACL");
	}
	buf_append(&line, "\r\n", 2);
	buf_append(out, line.data, line.len);
	buf_deinit(&line);
	return imap_cmd_ok(cmd, out, "GETACL completed");
}

/* An identifier argument; negative rights ("-user") are not supported. */
static int acl_identifier(struct imap_cmd *cmd, struct buf *out, const struct imap_arg *arg,
			  const char **id_r)
{
	if (!imap_arg_get_astring(arg, id_r) || (*id_r)[0] == '\0') {
		imap_cmd_bad(cmd, out, "Missing identifier");
		return 0;
	}
	if ((*id_r)[0] == '-') {
		imap_cmd_no(cmd, out, "[CANNOT] Negative rights are not supported");
		return 0;
	}
	return 1;
}

static enum imap_cmd_ret acl_store_error(struct imap_cmd *cmd, struct buf *out, const char *error)
{
	if (strstr(error, "owner") != NULL)
		return imap_cmd_no(cmd, out, "[CANNOT] The owner's rights cannot be changed");
	if (strstr(error, "no such user") != NULL)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such user");
	return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot change the ACL");
}

/* SETACL mailbox identifier [+-]rights, DELETEACL mailbox identifier. */
static enum imap_cmd_ret acl_change(struct imap_cmd *cmd, struct buf *out, bool del)
{
	struct imap_session *s = cmd->session;
	const char *id, *text = NULL, *error;
	size_t want = del ? 2 : 3;
	if (imap_args_count(cmd->args) != want)
		return imap_cmd_bad(cmd, out,
				    del ? "Usage: DELETEACL mailbox identifier"
					: "Usage: SETACL mailbox identifier rights");
	if (!del && !imap_arg_get_astring(&cmd->args[2], &text))
		return imap_cmd_bad(cmd, out, "Invalid rights");
	uint32_t change = 0;
	char mode = 0;
	if (text != NULL) {
		if (text[0] == '+' || text[0] == '-')
			mode = *text++;
		if (store_rights_parse(text, &change) < 0)
			return imap_cmd_bad(cmd, out, "Invalid rights (RFC 4314: lrswipkxtea)");
	}
	if (!acl_identifier(cmd, out, &cmd->args[1], &id))
		return IMAP_CMD_DONE;
	struct store_mailbox mb;
	uint32_t rights;
	char *name;
	if (!acl_mailbox(cmd, out, &cmd->args[0], &mb, &rights, &name))
		return IMAP_CMD_DONE;
	free(name);
	if ((rights & STORE_RIGHT_ADMIN) == 0)
		return imap_cmd_no(cmd, out, "[NOPERM] Administer right needed");
	if (mode != 0) {
		/* Relative change: start from the identifier's own grant. */
		struct acl_find f = {.identifier = id};
		if (store_acl_list(s->store, mb.id, imap_acl_find_cb, &f) < 0)
			return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the ACL");
		change = mode == '+' ? f.rights | change : f.rights & ~change;
	}
	if (store_acl_set(s->store, mb.id, id, del ? 0 : change, &error) < 0)
		return acl_store_error(cmd, out, error);
	char q[LOG_QUOTE_SIZE(64)];
	log_info("imap.setacl", "session=%s mailbox_id=%" PRId64 " identifier=%s rights=%u",
		 s->session_id, mb.id, log_quote(q, sizeof(q), id), (unsigned)change);
	return imap_cmd_ok(cmd, out, "%s completed", cmd->name);
}

void imap_acl_find_cb(void *ctx, const char *identifier, uint32_t rights)
{
	struct acl_find *f = ctx;
	if (strcasecmp(f->identifier, identifier) == 0)
		f->rights = rights;
}

enum imap_cmd_ret cmd_setacl(struct imap_cmd *cmd, struct buf *out)
{
	return acl_change(cmd, out, false);
}

enum imap_cmd_ret cmd_deleteacl(struct imap_cmd *cmd, struct buf *out)
{
	return acl_change(cmd, out, true);
}

enum imap_cmd_ret cmd_listrights(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *id;
	if (imap_args_count(cmd->args) != 2)
		return imap_cmd_bad(cmd, out, "Usage: LISTRIGHTS mailbox identifier");
	if (!acl_identifier(cmd, out, &cmd->args[1], &id))
		return IMAP_CMD_DONE;
	struct store_mailbox mb;
	uint32_t rights;
	char *name;
	if (!acl_mailbox(cmd, out, &cmd->args[0], &mb, &rights, &name))
		return IMAP_CMD_DONE;
	if ((rights & STORE_RIGHT_ADMIN) == 0) {
		free(name);
		return imap_cmd_no(cmd, out, "[NOPERM] Administer right needed");
	}
	char owner[320];
	owner_identifier(s, &mb, owner, sizeof(owner));
	buf_append_str(out, "* LISTRIGHTS ");
	imap_write_mailbox_name(s, out, name);
	buf_append(out, " ", 1);
	imap_write_astring(out, id, strlen(id), s->utf8_accept);
	/* The owner always has every right; anyone else may get each one. */
	if (owner[0] != '\0' && strcasecmp(owner, id) == 0)
		buf_append_str(out, " lrswipkxtea\r\n");
	else
		buf_append_str(out, " \"\" l r s w i p k x t e a\r\n");
	free(name);
	return imap_cmd_ok(cmd, out, "LISTRIGHTS completed");
}

enum imap_cmd_ret cmd_myrights(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	if (imap_args_count(cmd->args) != 1)
		return imap_cmd_bad(cmd, out, "Usage: MYRIGHTS mailbox");
	struct store_mailbox mb;
	uint32_t rights;
	char *name;
	if (!acl_mailbox(cmd, out, &cmd->args[0], &mb, &rights, &name))
		return IMAP_CMD_DONE;
	char text[16];
	store_rights_format(rights, text);
	buf_append_str(out, "* MYRIGHTS ");
	imap_write_mailbox_name(s, out, name);
	buf_printf(out, " %s\r\n", text[0] != '\0' ? text : "\"\"");
	free(name);
	return imap_cmd_ok(cmd, out, "MYRIGHTS completed");
}
