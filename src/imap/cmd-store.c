/* SPDX-License-Identifier: MIT */
/*
 * STORE and UID STORE (RFC 9051 6.4.6) with CONDSTORE's UNCHANGEDSINCE
 * (RFC 7162 3.2). Every matched message is changed in one store
 * transaction (through the store writer's group commit, imap-write.c, or
 * store_message_update_flags without one); once it is durable the client is then told the
 * new state in untagged FETCH responses, unless it said .SILENT, and the
 * session's view learns what was told so the after-command sync does not
 * repeat it. Changes another session made meanwhile stay visible: when
 * the stored result differs from what this STORE alone would give, the
 * view is left alone and the sync reports the message.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct store_req {
	struct store_flags_update u;
	const char **keywords;
	bool silent;
	bool has_unchangedsince;
};

static const struct {
	const char *name;
	uint32_t bit;
} system_flags[] = {
	{"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_ANSWERED},
	{"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_DELETED},
	{"\\Draft", STORE_FLAG_DRAFT},
};

/* One flag atom: a system flag bit or a keyword. */
static int store_parse_flag(const struct imap_arg *arg, struct store_req *req, const char **error_r)
{
	const char *f;
	if (!imap_arg_get_flag(arg, &f)) {
		*error_r = "Invalid flag";
		return -1;
	}
	if (f[0] == '\\') {
		for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
			if (strcasecmp(f, system_flags[i].name) == 0) {
				req->u.flags |= system_flags[i].bit;
				return 0;
			}
		}
		*error_r = strcasecmp(f, "\\Recent") == 0 ? "\\Recent cannot be stored"
							  : "Invalid system flag";
		return -1;
	}
	if (!store_keyword_valid(f)) {
		*error_r = "Invalid keyword";
		return -1;
	}
	req->keywords[req->u.n_keywords++] = f;
	return 0;
}

static int store_parse_flags(const struct imap_arg *args, struct store_req *req,
			     const char **error_r)
{
	const struct imap_arg *list = args;
	if (args[0].type == IMAP_ARG_LIST) {
		list = args[0].list;
		if (!imap_arg_is_eol(&args[1])) {
			*error_r = "Unexpected arguments after the flag list";
			return -1;
		}
	} else if (imap_arg_is_eol(args)) {
		*error_r = "Missing flags";
		return -1;
	}
	req->keywords = xcalloc(imap_args_count(list) + 1, sizeof(*req->keywords));
	for (; !imap_arg_is_eol(list); list++)
		if (store_parse_flag(list, req, error_r) < 0)
			return -1;
	req->u.keywords = req->keywords;
	return 0;
}

/* "(UNCHANGEDSINCE n)" (RFC 7162 3.2 store-modifier). */
static int store_parse_modifiers(const struct imap_arg *list, struct store_req *req,
				 const char **error_r)
{
	for (; !imap_arg_is_eol(list); list += 2) {
		const char *v;
		char *end;
		if (!imap_arg_atom_equals(list, "UNCHANGEDSINCE") ||
		    !imap_arg_get_atom(&list[1], &v) || v[0] < '0' || v[0] > '9') {
			*error_r = "Invalid STORE modifier";
			return -1;
		}
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (*end != '\0' || errno != 0 || n > INT64_MAX || req->has_unchangedsince) {
			*error_r = "Invalid UNCHANGEDSINCE value";
			return -1;
		}
		req->u.unchangedsince = n;
		req->has_unchangedsince = true;
	}
	return 0;
}

static int store_parse(const struct imap_arg *args, struct store_req *req, const char **error_r)
{
	const char *item;
	if (args->type == IMAP_ARG_LIST) {
		if (store_parse_modifiers(args->list, req, error_r) < 0)
			return -1;
		args++;
	}
	if (!imap_arg_get_atom(args, &item)) {
		*error_r = "Missing STORE data item";
		return -1;
	}
	req->u.op = item[0] == '+' ? STORE_FLAGS_ADD
		: item[0] == '-'   ? STORE_FLAGS_REMOVE
				   : STORE_FLAGS_SET;
	if (item[0] == '+' || item[0] == '-')
		item++;
	if (strcasecmp(item, "FLAGS.SILENT") == 0)
		req->silent = true;
	else if (strcasecmp(item, "FLAGS") != 0) {
		*error_r = "Invalid STORE data item";
		return -1;
	}
	return store_parse_flags(args + 1, req, error_r);
}

/* "\Seen $Junk" for a FETCH FLAGS list. */
static void write_flags_keywords(struct buf *out, uint32_t flags, const char *keywords)
{
	struct buf sys;
	buf_init(&sys);
	imap_write_flags(&sys, flags);
	/* imap_write_flags gives "(...)": splice the keywords before ')'. */
	buf_append(out, sys.data, sys.len - 1);
	if (keywords != NULL && keywords[0] != '\0') {
		if (sys.len > 2)
			buf_append(out, " ", 1);
		buf_append_str(out, keywords);
	}
	buf_append(out, ")", 1);
	buf_deinit(&sys);
}

static uint32_t expected_flags(uint32_t told, const struct store_flags_update *u)
{
	told &= ~IMAP_VIEW_SESSION_BITS;
	switch (u->op) {
	case STORE_FLAGS_ADD:
		return told | u->flags;
	case STORE_FLAGS_REMOVE:
		return told & ~u->flags;
	default:
		return u->flags;
	}
}

static void store_fetch_line(struct imap_cmd *cmd, struct buf *out, uint32_t seq,
			     const struct store_flags_result *res, bool flags)
{
	const char *sep = "";
	buf_printf(out, "* %u FETCH (", seq);
	if (flags) {
		buf_append_str(out, "FLAGS ");
		uint32_t recent = cmd->session->view->flags[seq - 1] & IMAP_VIEW_RECENT;
		write_flags_keywords(out, res->flags | recent, res->keywords);
		sep = " ";
	}
	if (cmd->uid) {
		buf_printf(out, "%sUID %u", sep, res->uid);
		sep = " ";
	}
	if (cmd->session->condstore)
		buf_printf(out, "%sMODSEQ (%llu)", sep, (unsigned long long)res->modseq);
	buf_append_str(out, ")\r\n");
}

static void store_report(struct imap_cmd *cmd, struct buf *out, const struct store_req *req,
			 const struct store_flags_outcome *o)
{
	struct imap_view *v = cmd->session->view;
	if (o->n_results > 0)
		imap_view_make_private(v);
	for (size_t i = 0; i < o->n_results; i++) {
		const struct store_flags_result *res = &o->results[i];
		uint32_t seq = imap_view_seq(v, res->uid);
		if (seq == 0)
			continue;
		bool others = res->changed
			? expected_flags(v->flags[seq - 1], &req->u) != res->flags
			: v->modseqs[seq - 1] != res->modseq;
		if (req->silent) {
			/* Nothing new, or news from others that the sync reports. */
			if (!res->changed || others)
				continue;
			/* RFC 7162 3.2: the new MODSEQ is still sent. */
			if (cmd->session->condstore)
				store_fetch_line(cmd, out, seq, res, false);
		} else {
			store_fetch_line(cmd, out, seq, res, true);
		}
		v->flags[seq - 1] = (v->flags[seq - 1] & IMAP_VIEW_SESSION_BITS) | res->flags;
		v->modseqs[seq - 1] = res->modseq;
	}
}

static void modified_write(struct imap_cmd *cmd, struct buf *out, const uint32_t *uids, size_t n)
{
	uint32_t *vals = xcalloc(n, sizeof(*vals));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t val = cmd->uid ? uids[i] : imap_view_seq(cmd->session->view, uids[i]);
		if (val != 0)
			vals[k++] = val;
	}
	imap_seqset_write(out, vals, k);
	free(vals);
}

static enum imap_cmd_ret store_finish(struct imap_cmd *cmd, struct buf *out,
				      const uint32_t *modified, size_t n_modified)
{
	if (n_modified == 0)
		return imap_cmd_ok(cmd, out, "%sSTORE completed", cmd->uid ? "UID " : "");
	struct buf set;
	buf_init(&set);
	modified_write(cmd, &set, modified, n_modified);
	enum imap_cmd_ret r =
		imap_cmd_ok(cmd, out, "[MODIFIED %s] Conditional STORE failed", buf_cstr(&set));
	buf_deinit(&set);
	return r;
}

/* The command's state while the store writer commits it. */
struct store_ctx {
	struct store_req req;
	uint32_t *uids;
	size_t n;
};

static void store_ctx_free(void *p)
{
	struct store_ctx *c = p;
	free(c->req.keywords);
	free(c->uids);
	free(c);
}

/* The flag change is durable (or failed): tell the client (imap-write.c). */
static enum imap_cmd_ret store_done(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct store_ctx *c = cmd->context;
	const struct store_write_outcome *o;
	const char *error;
	if (imap_cmd_write_result(cmd, &o, &error) < 0) {
		log_warn("imap.store_failed", "session=%s error=\"%s\"", s->session_id, error);
		bool limit = strstr(error, "too many") != NULL;
		return imap_cmd_no(cmd, out, "%s%s", limit ? "[LIMIT] " : "", error);
	}
	if (imap_view_keywords_sync(s, out) < 0)
		log_warn("imap.keywords_failed", "session=%s", s->session_id);
	store_report(cmd, out, &c->req, &o->flags);
	return store_finish(cmd, out, o->flags.modified, o->flags.n_modified);
}

enum imap_cmd_ret cmd_store(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *set, *error;
	if (!imap_arg_get_atom(&cmd->args[0], &set))
		return imap_cmd_bad(cmd, out, "Missing sequence set");
	struct store_ctx *c = xcalloc(1, sizeof(*c));
	cmd->context = c;
	cmd->free_context = store_ctx_free;
	if (store_parse(&cmd->args[1], &c->req, &error) < 0)
		return imap_cmd_bad(cmd, out, "%s", error);
	if (imap_search_resolve_set(s, set, cmd->uid, &c->uids, &c->n, &error) < 0)
		return imap_cmd_bad(cmd, out, "%s", error);
	/* RFC 4314 4: 's' for \Seen, 't' for \Deleted, 'w' for the others. */
	uint32_t need = ((c->req.u.flags & STORE_FLAG_SEEN) ? STORE_RIGHT_SEEN : 0) |
		((c->req.u.flags & STORE_FLAG_DELETED) ? STORE_RIGHT_DELETE_MESSAGE : 0) |
		((c->req.u.flags & ~(uint32_t)(STORE_FLAG_SEEN | STORE_FLAG_DELETED)) ||
				 c->req.u.n_keywords > 0 || c->req.u.op == STORE_FLAGS_SET
			 ? STORE_RIGHT_WRITE
			 : 0);
	if (!imap_acl_may(s, need))
		return imap_cmd_no(cmd, out, "[NOPERM] Permission denied for these flags");
	c->req.u.seen_account = s->account.id;
	if (c->req.has_unchangedsince)
		imap_session_condstore_enable(s); /* RFC 7162 3.1: a CONDSTORE-enabling command */
	/* Every message has a MODSEQ above 0: all fail the test. */
	if (c->req.has_unchangedsince && c->req.u.unchangedsince == 0)
		return store_finish(cmd, out, c->uids, c->n);
	if (c->n == 0)
		return store_finish(cmd, out, NULL, 0);
	struct store_write_request req = {
		.kind = STORE_WRITE_FLAGS,
		.mailbox_id = s->view->mailbox_id,
		.uids = c->uids,
		.n_uids = c->n,
		.update = &c->req.u,
	};
	return imap_cmd_write(cmd, out, &req, store_done);
}
