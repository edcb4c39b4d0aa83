/* SPDX-License-Identifier: MIT */
/*
 * Mailbox management: CREATE (RFC 9051 6.3.4, with CREATE-SPECIAL-USE of
 * RFC 6154), DELETE (6.3.5), RENAME (6.3.6), SUBSCRIBE and UNSUBSCRIBE
 * (6.3.7-6.3.8). Names arrive through imap_mailbox_name_from_client, which
 * decodes mUTF-7 or takes UTF-8 and refuses traversal, control characters
 * and wildcards; the store checks them again. CREATE and RENAME make the
 * missing superior names of the new name, as RFC 9051 says they SHOULD.
 * DELETE removes only the named mailbox: its children stay, and its name
 * lives on as a non-existent parent (\Noselect), which itself cannot be
 * deleted while it has children (NO [HASCHILDREN], RFC 9051 6.3.5). Store
 * errors become the response codes of RFC 5530 (ALREADYEXISTS,
 * NONEXISTENT, CANNOT) and RFC 6154 (USEATTR).
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Special-use attributes a client may ask CREATE for (RFC 6154 2). */
static const char *const special_uses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash",
};

/* The store's static messages we recognise, with their response code. */
static const char *store_error_code(const char *error)
{
	static const struct {
		const char *text, *code;
	} map[] = {
		{"already exists", "ALREADYEXISTS"},
		{"no such mailbox", "NONEXISTENT"},
		{"special-use", "USEATTR"},
		{"invalid mailbox name", "CANNOT"},
		{"too long", "CANNOT"},
		{"into itself", "CANNOT"},
		{"cannot be deleted", "CANNOT"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (error != NULL && strstr(error, map[i].text) != NULL)
			return map[i].code;
	}
	return NULL;
}

static enum imap_cmd_ret store_failed(struct imap_cmd *cmd, struct buf *out, const char *error)
{
	const char *code = store_error_code(error);
	if (code != NULL)
		return imap_cmd_no(cmd, out, "[%s] %s", code, error);
	char q[LOG_QUOTE_SIZE(128)];
	log_warn("imap.store_error", "session=%s command=%s error=%s", cmd->session->session_id,
		 cmd->name, log_quote(q, sizeof(q), error != NULL ? error : "?"));
	return imap_cmd_no(cmd, out, "[SERVERBUG] %s failed", cmd->name);
}

static void log_mailbox(const struct imap_cmd *cmd, const char *event, const char *name,
			const char *to)
{
	char a[LOG_QUOTE_SIZE(160)], b[LOG_QUOTE_SIZE(160)];
	log_quote(a, sizeof(a), name);
	if (to != NULL)
		log_info(event, "session=%s mailbox=%s to=%s", cmd->session->session_id, a,
			 log_quote(b, sizeof(b), to));
	else
		log_info(event, "session=%s mailbox=%s", cmd->session->session_id, a);
}

/*
 * Prefixes kept for other users' and shared namespaces (RFC 2342): "#..."
 * and "~user" as IMAP servers commonly name them, and the first-level
 * "Other Users" and "Shared Folders". A personal folder named so would
 * collide with them once shared folders exist.
 */
static bool name_reserved(const char *name)
{
	static const char *const roots[] = {"Other Users", "Shared Folders"};
	if (name[0] == '#' || name[0] == '~')
		return true;
	size_t n = strcspn(name, "/");
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (n == strlen(roots[i]) && strncasecmp(name, roots[i], n) == 0)
			return true;
	return false;
}

static const char reserved_message[] =
	"Reserved name: \"#\", \"~\", \"Other Users\" and \"Shared Folders\" "
	"are kept for shared namespaces";

/*
 * A name for a new mailbox: a trailing delimiter only declares the
 * intent to create children under it (RFC 9051 6.3.4), so it is dropped.
 * Reserved namespace prefixes are refused.
 */
static int new_name_from_client(const struct imap_session *s, const char *wire, char **name_r,
				const char **error_r)
{
	size_t len = strlen(wire);
	char *w = xstrdup(wire);
	if (len > 1 && w[len - 1] == '/')
		w[len - 1] = '\0';
	int r = imap_mailbox_name_from_client(s, w, name_r, error_r);
	free(w);
	if (r == 0 && name_reserved(*name_r)) {
		free(*name_r);
		*name_r = NULL;
		*error_r = reserved_message;
		return -1;
	}
	return r;
}

/* Create the missing superior names of name; a failure here is not fatal. */
static void create_parents(struct imap_session *s, const char *name)
{
	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		char *parent = xstrndup(name, (size_t)(p - name));
		struct store_mailbox m;
		const char *error;
		if (store_mailbox_get(s->store, s->account.id, parent, &m) == 0 &&
		    store_mailbox_create(s->store, s->account.id, parent, NULL, &error) < 0)
			log_debug("imap.create_parent_failed", "session=%s", s->session_id);
		free(parent);
	}
}

/* The canonical spelling of a special-use attribute, or NULL. */
static const char *special_use_find(const char *attr)
{
	for (size_t i = 0; i < sizeof(special_uses) / sizeof(special_uses[0]); i++) {
		if (strcasecmp(attr, special_uses[i]) == 0)
			return special_uses[i];
	}
	return NULL;
}

/*
 * CREATE's optional "(USE (\Sent))" (RFC 6154 3). Returns 0 with
 * *use_r (NULL when none), -1 for BAD, -2 for NO [USEATTR].
 */
static int parse_create_params(const struct imap_arg *arg, const char **use_r, const char **error_r)
{
	const struct imap_arg *list, *uses;
	size_t n_uses;
	*use_r = NULL;
	if (imap_arg_is_eol(arg))
		return 0;
	if (!imap_arg_get_list(arg, &list, NULL) || !imap_arg_is_eol(&arg[1])) {
		*error_r = "Invalid CREATE parameters";
		return -1;
	}
	for (; !imap_arg_is_eol(list); list += 2) {
		if (!imap_arg_atom_equals(list, "USE") ||
		    !imap_arg_get_list(&list[1], &uses, &n_uses)) {
			*error_r = "Unknown CREATE parameter";
			return -1;
		}
		for (; !imap_arg_is_eol(uses); uses++) {
			const char *attr, *use;
			if (!imap_arg_get_atom(uses, &attr)) {
				*error_r = "Invalid USE attribute";
				return -1;
			}
			if ((use = special_use_find(attr)) == NULL) {
				*error_r = "Unsupported special-use attribute";
				return -2;
			}
			if (*use_r != NULL && *use_r != use) {
				*error_r = "A mailbox takes only one special-use attribute";
				return -2;
			}
			*use_r = use;
		}
	}
	return 0;
}

/* CREATE in another account's mailboxes: the 'k' right on the parent. */
static enum imap_cmd_ret create_shared(struct imap_cmd *cmd, struct buf *out, const char *name)
{
	struct imap_session *s = cmd->session;
	int64_t owner;
	const char *rest, *error;
	struct store_mailbox m;
	uint32_t rights;
	int r = imap_mailbox_lookup(s, name, &m, &rights);
	if (r > 0)
		return imap_cmd_no(cmd, out, "[ALREADYEXISTS] Mailbox already exists");
	if (r == 0)
		r = imap_acl_parent_create(s, name, &owner, &rest);
	if (r < 0)
		return store_failed(cmd, out, "database error");
	if (r == 2)
		return imap_cmd_no(cmd, out, "[NOPERM] Create right needed on the parent");
	if (r == 0)
		return imap_cmd_no(cmd, out, "[CANNOT] %s", reserved_message);
	if (store_mailbox_create(s->store, owner, rest, NULL, &error) < 0)
		return store_failed(cmd, out, error);
	log_mailbox(cmd, "imap.mailbox_create", name, NULL);
	return imap_cmd_ok(cmd, out, "CREATE completed");
}

/* CREATE mailbox [(USE (attr))] */
enum imap_cmd_ret cmd_create(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *wire, *use, *error;
	if (!imap_arg_get_astring(&cmd->args[0], &wire))
		return imap_cmd_bad(cmd, out, "Missing mailbox name");
	int pr = parse_create_params(&cmd->args[1], &use, &error);
	if (pr == -1)
		return imap_cmd_bad(cmd, out, "%s", error);
	if (pr == -2)
		return imap_cmd_no(cmd, out, "[USEATTR] %s", error);
	char *name = NULL;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) == 0 && use == NULL &&
	    imap_acl_name_shared(name)) {
		enum imap_cmd_ret ret = create_shared(cmd, out, name);
		free(name);
		return ret;
	}
	free(name);
	if (new_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[CANNOT] %s", error);
	struct store_mailbox m;
	int r = store_mailbox_get(s->store, s->account.id, name, &m);
	if (r != 0) {
		free(name);
		return r > 0 ? imap_cmd_no(cmd, out, "[ALREADYEXISTS] Mailbox already exists")
			     : store_failed(cmd, out, "database error");
	}
	create_parents(s, name);
	if (store_mailbox_create(s->store, s->account.id, name, use, &error) < 0) {
		free(name);
		return store_failed(cmd, out, error);
	}
	log_mailbox(cmd, "imap.mailbox_create", name, NULL);
	free(name);
	return imap_cmd_ok(cmd, out, "CREATE completed");
}

struct children_ctx {
	const char *prefix;
	size_t len;
	bool found;
};

static void children_cb(void *ctx, const struct store_mailbox *m)
{
	struct children_ctx *c = ctx;
	if (strncmp(m->name, c->prefix, c->len) == 0 && m->name[c->len] == '/')
		c->found = true;
}

/* 1 if some mailbox lives below name, 0 if none, -1 on a store error. */
static int has_children(struct imap_session *s, const char *name)
{
	struct children_ctx c = {.prefix = name, .len = strlen(name)};
	if (store_mailbox_list(s->store, s->account.id, children_cb, &c) < 0)
		return -1;
	return c.found ? 1 : 0;
}

/* DELETE of another account's mailbox: the 'x' right on it. */
static enum imap_cmd_ret delete_shared(struct imap_cmd *cmd, struct buf *out, const char *name)
{
	struct imap_session *s = cmd->session;
	struct store_mailbox m;
	uint32_t rights;
	const char *error;
	int r = imap_mailbox_lookup(s, name, &m, &rights);
	if (r <= 0)
		return r < 0 ? store_failed(cmd, out, "database error")
			     : imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	if ((rights & STORE_RIGHT_DELETE_MAILBOX) == 0)
		return imap_cmd_no(cmd, out, "[NOPERM] Delete right needed");
	if (store_mailbox_delete(s->store, m.account_id, m.name, &error) < 0)
		return store_failed(cmd, out, error);
	log_mailbox(cmd, "imap.mailbox_delete", name, NULL);
	return imap_cmd_ok(cmd, out, "DELETE completed");
}

/* DELETE mailbox */
enum imap_cmd_ret cmd_delete(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *wire, *error;
	if (!imap_arg_get_astring(&cmd->args[0], &wire) || !imap_arg_is_eol(&cmd->args[1]))
		return imap_cmd_bad(cmd, out, "DELETE takes one mailbox name");
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] %s", error);
	if (strcmp(name, "INBOX") == 0) {
		free(name);
		return imap_cmd_no(cmd, out, "[CANNOT] INBOX cannot be deleted");
	}
	struct store_mailbox m;
	if (imap_acl_name_shared(name)) {
		enum imap_cmd_ret ret = delete_shared(cmd, out, name);
		free(name);
		return ret;
	}
	int r = store_mailbox_get(s->store, s->account.id, name, &m);
	if (r == 0) {
		/* A \Noselect parent: RFC 9051 6.3.5 makes deleting it an error. */
		r = has_children(s, name);
		free(name);
		if (r > 0)
			return imap_cmd_no(cmd, out,
					   "[HASCHILDREN] Mailbox does not exist but has children");
		return r < 0 ? store_failed(cmd, out, "database error")
			     : imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	}
	if (r < 0 || store_mailbox_delete(s->store, s->account.id, name, &error) < 0) {
		free(name);
		return store_failed(cmd, out, r < 0 ? "database error" : error);
	}
	log_mailbox(cmd, "imap.mailbox_delete", name, NULL);
	free(name);
	return imap_cmd_ok(cmd, out, "DELETE completed");
}

/* The selected mailbox (or one of its parents) was renamed: follow it. */
static void view_renamed(struct imap_session *s, const char *from, const char *to)
{
	struct imap_view *v = s->view;
	size_t flen = strlen(from);
	if (v == NULL || strcmp(from, "INBOX") == 0 || strncmp(v->name, from, flen) != 0 ||
	    (v->name[flen] != '\0' && v->name[flen] != '/'))
		return;
	char *n = xasprintf("%s%s", to, v->name + flen);
	if (strlen(n) < sizeof(v->name))
		memcpy(v->name, n, strlen(n) + 1);
	free(n);
}

/*
 * RENAME of a mailbox of another account (RFC 4314 4): 'x' on it and 'k'
 * on the new name's parent, which must be in the same owner's tree (a
 * mailbox never changes hands); a top-level name there is the owner's to
 * choose, so it is refused like CREATE refuses it.
 */
static enum imap_cmd_ret rename_shared(struct imap_cmd *cmd, struct buf *out, const char *from,
				       const char *wto)
{
	struct imap_session *s = cmd->session;
	struct store_mailbox m, t;
	uint32_t rights;
	const char *error, *rest;
	int64_t owner = 0;
	int r = imap_mailbox_lookup(s, from, &m, &rights);
	if (r <= 0)
		return r < 0 ? store_failed(cmd, out, "database error")
			     : imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	if ((rights & STORE_RIGHT_DELETE_MAILBOX) == 0)
		return imap_cmd_no(cmd, out, "[NOPERM] Delete right needed on the mailbox");
	char *to;
	if (imap_mailbox_name_from_client(s, wto, &to, &error) < 0)
		return imap_cmd_no(cmd, out, "[CANNOT] %s", error);
	enum imap_cmd_ret ret;
	r = imap_acl_name_shared(to) ? imap_acl_parent_create(s, to, &owner, &rest) : 0;
	if (r < 0)
		ret = store_failed(cmd, out, "database error");
	else if (r == 2)
		ret = imap_cmd_no(cmd, out, "[NOPERM] Create right needed on the new parent");
	else if (r == 0 || owner != m.account_id)
		ret = imap_cmd_no(cmd, out, "[CANNOT] A mailbox stays in its owner's tree");
	else if ((r = store_mailbox_get(s->store, owner, rest, &t)) != 0)
		ret = r > 0 ? imap_cmd_no(cmd, out, "[ALREADYEXISTS] Mailbox already exists")
			    : store_failed(cmd, out, "database error");
	else if (store_mailbox_rename(s->store, owner, m.name, rest, &error) < 0)
		ret = store_failed(cmd, out, error);
	else {
		view_renamed(s, from, to);
		log_mailbox(cmd, "imap.mailbox_rename", from, to);
		ret = imap_cmd_ok(cmd, out, "RENAME completed");
	}
	free(to);
	return ret;
}

/* RENAME from to */
enum imap_cmd_ret cmd_rename(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *wfrom, *wto, *error;
	if (!imap_arg_get_astring(&cmd->args[0], &wfrom) ||
	    !imap_arg_get_astring(&cmd->args[1], &wto) || !imap_arg_is_eol(&cmd->args[2]))
		return imap_cmd_bad(cmd, out, "RENAME takes two mailbox names");
	char *from, *to;
	if (imap_mailbox_name_from_client(s, wfrom, &from, &error) < 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] %s", error);
	if (imap_acl_name_shared(from)) {
		enum imap_cmd_ret ret = rename_shared(cmd, out, from, wto);
		free(from);
		return ret;
	}
	if (new_name_from_client(s, wto, &to, &error) < 0) {
		free(from);
		return imap_cmd_no(cmd, out, "[CANNOT] %s", error);
	}
	struct store_mailbox m;
	enum imap_cmd_ret ret;
	int r = store_mailbox_get(s->store, s->account.id, from, &m);
	if (r == 0) {
		ret = imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	} else if (r > 0 && (r = store_mailbox_get(s->store, s->account.id, to, &m)) > 0) {
		ret = imap_cmd_no(cmd, out, "[ALREADYEXISTS] Mailbox already exists");
	} else if (r < 0) {
		ret = store_failed(cmd, out, "database error");
	} else if (store_mailbox_rename(s->store, s->account.id, from, to, &error) < 0) {
		ret = store_failed(cmd, out, error);
	} else {
		create_parents(s, to);
		view_renamed(s, from, to);
		log_mailbox(cmd, "imap.mailbox_rename", from, to);
		ret = imap_cmd_ok(cmd, out, "RENAME completed");
	}
	free(from);
	free(to);
	return ret;
}

static enum imap_cmd_ret subscribe(struct imap_cmd *cmd, struct buf *out, bool on)
{
	struct imap_session *s = cmd->session;
	const char *wire, *error;
	if (!imap_arg_get_astring(&cmd->args[0], &wire) || !imap_arg_is_eol(&cmd->args[1]))
		return imap_cmd_bad(cmd, out, "%s takes one mailbox name", cmd->name);
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[CANNOT] %s", error);
	/*
	 * A subscription need not name an existing mailbox (RFC 9051 6.3.7),
	 * and dropping one that is not there is not an error either.
	 */
	int r = store_mailbox_subscribe(s->store, s->account.id, name, on, &error);
	free(name);
	if (r < 0)
		return store_failed(cmd, out, error);
	return imap_cmd_ok(cmd, out, "%s completed", cmd->name);
}

enum imap_cmd_ret cmd_subscribe(struct imap_cmd *cmd, struct buf *out)
{
	return subscribe(cmd, out, true);
}

enum imap_cmd_ret cmd_unsubscribe(struct imap_cmd *cmd, struct buf *out)
{
	return subscribe(cmd, out, false);
}
