/* SPDX-License-Identifier: MIT */
/*
 * METADATA and METADATA-SERVER (RFC 5464): GETMETADATA with the MAXSIZE
 * and DEPTH options, SETMETADATA, on a mailbox or on the server (mailbox
 * ""). Entries live in the store (store-metadata.c): /private ones per
 * account, /shared ones for every reader. Rights follow RFC 5464 3.3 with
 * the ACL model of imap-acl.c: reading needs 'l' and 'r', writing a
 * /private entry 'l' and 'r' too (it is the reader's own note), writing a
 * /shared one also 'w'; without 'l' the mailbox does not exist. The
 * server's /shared entries are the administrator's: /shared/admin is the
 * postmaster address (configuration), /shared/comment what the store
 * holds; clients may only read them. Limits: a value of at most
 * IMAP_METADATA_MAXSIZE octets ("NO [METADATA MAXSIZE n]") and at most
 * IMAP_METADATA_MAXENTRIES entries per mailbox and scope ("NO [METADATA
 * TOOMANY]"); GETMETADATA's MAXSIZE leaves out longer values and says so
 * with "OK [METADATA LONGENTRIES n]". Private entries are supported, so
 * NOPRIVATE is never the answer.
 */
#include "imap/imap-private.h"

#include "lib/config.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define METADATA_MAX_ENTRIES_ASKED 100 /* entries in one GETMETADATA / SETMETADATA */

bool imap_metadata_entry_valid(const char *name, bool settable)
{
	size_t len = strlen(name);
	if (len == 0 || len > IMAP_METADATA_NAME_MAX || name[len - 1] == '/')
		return false;
	const char *rest;
	if (strncasecmp(name, "/private", 8) == 0)
		rest = name + 8;
	else if (strncasecmp(name, "/shared", 7) == 0)
		rest = name + 7;
	else
		return false;
	/* "/private" and "/shared" themselves only as the root of a DEPTH read. */
	if (*rest == '\0')
		return !settable;
	if (*rest != '/')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '*' || c == '%' || (c == '/' && p[1] == '/'))
			return false;
	}
	return true;
}

void imap_metadata_write_value(struct buf *out, const char *value, size_t len)
{
	if (value == NULL) {
		buf_append_str(out, "NIL");
	} else if (memchr(value, '\0', len) != NULL) {
		buf_printf(out, "~{%zu}\r\n", len);
		buf_append(out, value, len);
	} else {
		imap_write_string(out, value, len, true);
	}
}

/* The mailbox argument: 1 with *mailbox_id_r (0: server) and rights, 0 answered NO. */
static int metadata_mailbox(struct imap_cmd *cmd, struct buf *out, const char *wire,
			    int64_t *mailbox_id_r, uint32_t *rights_r)
{
	struct imap_session *s = cmd->session;
	if (wire[0] == '\0') {
		*mailbox_id_r = 0;
		*rights_r = STORE_RIGHT_LOOKUP | STORE_RIGHT_READ;
		return 1;
	}
	const char *error;
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0) {
		imap_cmd_no(cmd, out, "[NONEXISTENT] %s", error);
		return 0;
	}
	struct store_mailbox m;
	int r = imap_mailbox_lookup(s, name, &m, rights_r);
	free(name);
	if (r <= 0) {
		if (r < 0)
			imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
		else
			imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
		return 0;
	}
	*mailbox_id_r = m.id;
	return 1;
}

/* --- GETMETADATA --------------------------------------------------------- */

struct get_ctx {
	struct buf items; /* "name value" pairs written so far */
	size_t n_items;
	bool limited;     /* MAXSIZE given */
	uint64_t maxsize; /* longer values are left out */
	uint64_t longest; /* the longest value left out */
	bool server;
	bool admin_synth; /* writing the configured /shared/admin */
};

static void get_cb(void *ctx, const char *name, const char *value, size_t len)
{
	struct get_ctx *g = ctx;
	/* The server's /shared/admin is the configured one, whatever is stored. */
	if (g->server && !g->admin_synth && strcmp(name, "/shared/admin") == 0)
		return;
	if (g->limited && len > g->maxsize) {
		if (len > g->longest)
			g->longest = len;
		return;
	}
	if (g->n_items++ > 0)
		buf_append(&g->items, " ", 1);
	imap_write_astring(&g->items, name, strlen(name), false);
	buf_append(&g->items, " ", 1);
	imap_metadata_write_value(&g->items, value, len);
}

/* The server's /shared/admin: where to write to its administrator. */
static char *admin_value(const struct imap_session *s)
{
	const struct config *c = s->config;
	if (c == NULL)
		return NULL;
	if (c->postmaster_address != NULL && c->postmaster_address[0] != '\0')
		return xasprintf("mailto:%s", c->postmaster_address);
	return xasprintf("mailto:postmaster@%s", c->hostname != NULL ? c->hostname : "localhost");
}

/* Does a read of entry at depth reach /shared/admin? */
static bool reaches_admin(const char *entry, int depth)
{
	if (strcasecmp(entry, "/shared/admin") == 0)
		return true;
	return depth != 0 && strcasecmp(entry, "/shared") == 0;
}

static int parse_get_options(const struct imap_arg *list, struct get_ctx *g, int *depth_r,
			     const char **error_r)
{
	const char *opt, *val;
	for (size_t i = 0; !imap_arg_is_eol(&list[i]); i += 2) {
		if (!imap_arg_get_atom(&list[i], &opt) || !imap_arg_get_atom(&list[i + 1], &val)) {
			*error_r = "Invalid GETMETADATA option";
			return -1;
		}
		char *end;
		errno = 0;
		if (strcasecmp(opt, "MAXSIZE") == 0) {
			unsigned long long n = strtoull(val, &end, 10);
			if (*val < '0' || *val > '9' || *end != '\0' || errno != 0 ||
			    n > 0xffffffffull) {
				*error_r = "Invalid MAXSIZE";
				return -1;
			}
			g->limited = true;
			g->maxsize = n;
		} else if (strcasecmp(opt, "DEPTH") == 0) {
			if (strcmp(val, "0") == 0)
				*depth_r = 0;
			else if (strcmp(val, "1") == 0)
				*depth_r = 1;
			else if (strcasecmp(val, "infinity") == 0)
				*depth_r = STORE_METADATA_DEPTH_INFINITY;
			else {
				*error_r = "DEPTH must be 0, 1 or infinity";
				return -1;
			}
		} else {
			*error_r = "Unknown GETMETADATA option";
			return -1;
		}
	}
	return 0;
}

static bool is_option_list(const struct imap_arg *arg)
{
	const struct imap_arg *list;
	return imap_arg_get_list(arg, &list, NULL) &&
		(imap_arg_atom_equals(&list[0], "MAXSIZE") ||
		 imap_arg_atom_equals(&list[0], "DEPTH"));
}

/*
 * GETMETADATA [(options)] mailbox [(options)] entry-or-list: RFC 5464's
 * grammar puts the options first, its examples after the mailbox; both
 * are taken.
 */
enum imap_cmd_ret cmd_getmetadata(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *args = cmd->args, *list;
	struct get_ctx g = {0};
	int depth = 0;
	const char *wire, *error;
	size_t i = 0;
	bool have_options = false;
	if (is_option_list(&args[i]) ||
	    (args[i].type == IMAP_ARG_LIST && args[i].list_count == 0)) {
		if (imap_arg_get_list(&args[i], &list, NULL) &&
		    parse_get_options(list, &g, &depth, &error) < 0)
			return imap_cmd_bad(cmd, out, "%s", error);
		have_options = true;
		i++;
	}
	if (!imap_arg_get_astring(&args[i++], &wire))
		return imap_cmd_bad(cmd, out, "Missing mailbox name");
	if (!have_options && is_option_list(&args[i])) {
		imap_arg_get_list(&args[i++], &list, NULL);
		if (parse_get_options(list, &g, &depth, &error) < 0)
			return imap_cmd_bad(cmd, out, "%s", error);
	}
	if (imap_arg_is_eol(&args[i]))
		return imap_cmd_bad(cmd, out, "Missing entries");
	const struct imap_arg *entries = &args[i];
	size_t n_entries = 1;
	if (imap_arg_get_list(&args[i], &list, &n_entries))
		entries = list;
	if (n_entries == 0 || n_entries > METADATA_MAX_ENTRIES_ASKED ||
	    !imap_arg_is_eol(&args[i + 1]))
		return imap_cmd_bad(cmd, out, "Expected one entry or a list of entries");
	for (size_t k = 0; k < n_entries; k++) {
		const char *e;
		if (!imap_arg_get_astring(&entries[k], &e) || !imap_metadata_entry_valid(e, false))
			return imap_cmd_bad(cmd, out, "Invalid entry name");
	}
	int64_t mailbox_id;
	uint32_t rights;
	if (metadata_mailbox(cmd, out, wire, &mailbox_id, &rights) == 0)
		return IMAP_CMD_DONE;
	if ((rights & STORE_RIGHT_READ) == 0)
		return imap_cmd_no(cmd, out, "[NOPERM] Permission denied");
	buf_init(&g.items);
	g.server = mailbox_id == 0;
	char *admin = g.server ? admin_value(s) : NULL;
	int ret = 0;
	for (size_t k = 0; k < n_entries && ret == 0; k++) {
		const char *e;
		imap_arg_get_astring(&entries[k], &e);
		ret = store_metadata_get(s->store, mailbox_id, s->account.id, e, depth, get_cb, &g);
		if (admin != NULL && reaches_admin(e, depth)) {
			g.admin_synth = true;
			get_cb(&g, "/shared/admin", admin, strlen(admin));
			g.admin_synth = false;
		}
	}
	free(admin);
	if (ret < 0) {
		buf_deinit(&g.items);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the entries");
	}
	if (g.n_items > 0) {
		buf_append_str(out, "* METADATA ");
		if (g.server)
			buf_append_str(out, "\"\"");
		else
			imap_write_astring(out, wire, strlen(wire), s->utf8_accept);
		buf_append_str(out, " (");
		buf_append(out, g.items.data, g.items.len);
		buf_append_str(out, ")\r\n");
	}
	buf_deinit(&g.items);
	if (g.longest > 0)
		return imap_cmd_ok(cmd, out, "[METADATA LONGENTRIES %llu] GETMETADATA done",
				   (unsigned long long)g.longest);
	return imap_cmd_ok(cmd, out, "GETMETADATA done");
}

/* --- SETMETADATA --------------------------------------------------------- */

/* A value: a string (literal8 included, NULs allowed) or NIL. */
static bool get_value(const struct imap_arg *arg, const char **value_r, size_t *len_r)
{
	switch (arg->type) {
	case IMAP_ARG_NIL:
		*value_r = NULL;
		*len_r = 0;
		return true;
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
		*value_r = arg->str;
		*len_r = arg->len;
		return true;
	default:
		return false;
	}
}

/* SETMETADATA mailbox (entry value *(SP entry value)) */
enum imap_cmd_ret cmd_setmetadata(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *list;
	size_t n;
	const char *wire;
	if (!imap_arg_get_astring(&cmd->args[0], &wire))
		return imap_cmd_bad(cmd, out, "Missing mailbox name");
	if (!imap_arg_get_list(&cmd->args[1], &list, &n) || n == 0 || n % 2 != 0 ||
	    !imap_arg_is_eol(&cmd->args[2]))
		return imap_cmd_bad(cmd, out, "Expected a list of entries and values");
	if (n / 2 > METADATA_MAX_ENTRIES_ASKED)
		return imap_cmd_no(cmd, out, "[METADATA TOOMANY] Too many entries");
	struct store_metadata_entry *e = xcalloc(n / 2, sizeof(*e));
	bool shared = false;
	uint64_t longest = 0;
	for (size_t k = 0; k < n / 2; k++) {
		if (!imap_arg_get_astring(&list[2 * k], &e[k].name) ||
		    !imap_metadata_entry_valid(e[k].name, true)) {
			free(e);
			return imap_cmd_bad(cmd, out, "Invalid entry name");
		}
		if (!get_value(&list[2 * k + 1], &e[k].value, &e[k].len)) {
			free(e);
			return imap_cmd_bad(cmd, out, "Invalid value (a string or NIL)");
		}
		shared |= strncasecmp(e[k].name, "/shared", 7) == 0;
		if (e[k].len > longest)
			longest = e[k].len;
	}
	if (longest > IMAP_METADATA_MAXSIZE) {
		free(e);
		return imap_cmd_no(cmd, out, "[METADATA MAXSIZE %u] Value too long",
				   IMAP_METADATA_MAXSIZE);
	}
	int64_t mailbox_id;
	uint32_t rights;
	if (metadata_mailbox(cmd, out, wire, &mailbox_id, &rights) == 0) {
		free(e);
		return IMAP_CMD_DONE;
	}
	uint32_t need = STORE_RIGHT_READ | (shared ? STORE_RIGHT_WRITE : 0);
	if (mailbox_id == 0 && shared) {
		free(e);
		return imap_cmd_no(cmd, out,
				   "[NOPERM] Server /shared entries are set by the administrator");
	}
	if (mailbox_id != 0 && (rights & need) != need) {
		free(e);
		return imap_cmd_no(cmd, out, "[NOPERM] Permission denied");
	}
	const char *error;
	int r = store_metadata_set(s->store, mailbox_id, s->account.id, e, n / 2,
				   IMAP_METADATA_MAXENTRIES, &error);
	free(e);
	if (r == 0)
		return imap_cmd_no(cmd, out, "[METADATA TOOMANY] Too many entries");
	if (r < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot store the entries");
	return imap_cmd_ok(cmd, out, "SETMETADATA done");
}
