/* SPDX-License-Identifier: MIT */
/*
 * Updating search contexts (RFC 5267 4.3, CONTEXT=SEARCH): a SEARCH with
 * RETURN (UPDATE) leaves its program and its result (UIDs) here, and
 * every sync of the view (imap-view.c) keeps the result up to date,
 * telling the client with unsolicited "* ESEARCH (TAG "t") [UID] ADDTO (0
 * set)" and "REMOVEFROM (0 set)" (position 0: a SEARCH result has no
 * order but the mailbox's). REMOVEFROM for expunged messages goes before
 * their EXPUNGE, ADDTO for new ones after EXISTS, so sequence numbers are
 * valid when read. Only the messages a sync reports as new or changed are
 * evaluated again, from their data (not the full-text index), never the
 * whole mailbox. Keys that depend on time alone (YOUNGER, OLDER) are not
 * re-evaluated as time passes, only when the message changes. Contexts
 * end with CANCELUPDATE or when the mailbox is left.
 */
#include "imap/imap-private.h"

#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

struct imap_context {
	struct imap_context *next;
	char *tag;
	bool uid; /* UID SEARCH: sets of UIDs, else sequence numbers */
	struct imap_search_program *prog;
	uint32_t *uids; /* the result, ascending */
	size_t n, cap;
};

static void context_free(struct imap_context *c)
{
	imap_search_program_free(&c->prog);
	free(c->uids);
	free(c->tag);
	free(c);
}

void imap_context_free_all(struct imap_session *s)
{
	while (s->contexts != NULL) {
		struct imap_context *c = s->contexts;
		s->contexts = c->next;
		context_free(c);
	}
}

bool imap_context_tag_used(const struct imap_session *s, const char *tag)
{
	for (const struct imap_context *c = s->contexts; c != NULL; c = c->next)
		if (strcmp(c->tag, tag) == 0)
			return true;
	return false;
}

void imap_context_add_search(struct imap_cmd *cmd, struct buf *out,
			     struct imap_search_program **prog, const uint32_t *uids, size_t n)
{
	struct imap_session *s = cmd->session;
	size_t count = 0;
	for (const struct imap_context *c = s->contexts; c != NULL; c = c->next)
		count++;
	if (count >= IMAP_CONTEXT_MAX) {
		/* RFC 5267 4.3.1: the search is answered, without updates. */
		buf_append_str(out, "* NO [NOUPDATE ");
		imap_write_string(out, cmd->tag, strlen(cmd->tag), false);
		buf_printf(out, "] At most %d updating contexts\r\n", IMAP_CONTEXT_MAX);
		return;
	}
	struct imap_context *c = xcalloc(1, sizeof(*c));
	c->tag = xstrdup(cmd->tag);
	c->uid = cmd->uid;
	c->prog = *prog;
	*prog = NULL;
	c->cap = n > 0 ? n : 4;
	c->uids = xcalloc(c->cap, sizeof(*c->uids));
	memcpy(c->uids, uids, n * sizeof(*uids));
	c->n = n;
	c->next = s->contexts;
	s->contexts = c;
}

/* "* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (0 set)" */
static void context_write(const struct imap_context *c, struct buf *out, const char *what,
			  const uint32_t *vals, size_t n)
{
	buf_append_str(out, "* ESEARCH (TAG ");
	imap_write_string(out, c->tag, strlen(c->tag), false);
	buf_printf(out, ")%s %s (0 ", c->uid ? " UID" : "", what);
	imap_ordered_set_write(out, vals, n);
	buf_append_str(out, ")\r\n");
}

static bool context_has(const struct imap_context *c, uint32_t uid, size_t *idx_r)
{
	return imap_uid_find(c->uids, c->n, uid, idx_r);
}

static void context_remove(struct imap_context *c, size_t idx)
{
	memmove(c->uids + idx, c->uids + idx + 1, (c->n - idx - 1) * sizeof(*c->uids));
	c->n--;
}

static void context_insert(struct imap_context *c, uint32_t uid)
{
	size_t i = c->n;
	while (i > 0 && c->uids[i - 1] > uid)
		i--;
	if (c->n == c->cap) {
		c->cap *= 2;
		c->uids = xrealloc(c->uids, c->cap * sizeof(*c->uids));
	}
	memmove(c->uids + i + 1, c->uids + i, (c->n - i) * sizeof(*c->uids));
	c->uids[i] = uid;
	c->n++;
}

void imap_context_expunged(struct imap_session *s, struct buf *out)
{
	const struct imap_view *v = s->view;
	if (s->contexts == NULL || v == NULL || v->n_pending_expunges == 0)
		return;
	uint32_t *vals = xcalloc(v->n_pending_expunges, sizeof(*vals));
	for (struct imap_context *c = s->contexts; c != NULL; c = c->next) {
		size_t n = 0, idx;
		for (size_t i = 0; i < v->count; i++) {
			if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0 ||
			    !context_has(c, v->uids[i], &idx))
				continue;
			context_remove(c, idx);
			/* The numbers the client knows until it reads the EXPUNGEs. */
			vals[n++] = c->uid ? v->uids[i] : (uint32_t)(i + 1);
		}
		if (n > 0)
			context_write(c, out, "REMOVEFROM", vals, n);
	}
	free(vals);
}

/* Ascending UIDs or sequence numbers: both follow the view's order. */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void imap_context_changed(struct imap_session *s, struct buf *out,
			  const struct store_message_ex *const *msgs, size_t n)
{
	if (s->contexts == NULL || n == 0)
		return;
	uint32_t *added = xcalloc(n, sizeof(*added));
	uint32_t *removed = xcalloc(n, sizeof(*removed));
	for (struct imap_context *c = s->contexts; c != NULL; c = c->next) {
		size_t n_add = 0, n_rem = 0, idx;
		for (size_t i = 0; i < n; i++) {
			uint32_t uid = msgs[i]->msg.uid, seq = imap_view_seq(s->view, uid);
			if (seq == 0)
				continue;
			bool match = imap_search_match_one(s, c->prog, msgs[i], seq);
			bool had = context_has(c, uid, &idx);
			if (match && !had) {
				context_insert(c, uid);
				added[n_add++] = c->uid ? uid : seq;
			} else if (!match && had) {
				context_remove(c, idx);
				removed[n_rem++] = c->uid ? uid : seq;
			}
		}
		qsort(removed, n_rem, sizeof(*removed), cmp_u32);
		qsort(added, n_add, sizeof(*added), cmp_u32);
		if (n_rem > 0)
			context_write(c, out, "REMOVEFROM", removed, n_rem);
		if (n_add > 0)
			context_write(c, out, "ADDTO", added, n_add);
	}
	free(added);
	free(removed);
}

/* CANCELUPDATE "tag" *(SP "tag") (RFC 5267 4.3.5). */
enum imap_cmd_ret cmd_cancelupdate(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *tag;
	if (imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "CANCELUPDATE needs the tags of searches");
	for (const struct imap_arg *a = cmd->args; !imap_arg_is_eol(a); a++) {
		if (a->type != IMAP_ARG_QUOTED || !imap_arg_get_string(a, &tag))
			return imap_cmd_bad(cmd, out, "CANCELUPDATE takes quoted tags");
		if (!imap_context_tag_used(s, tag))
			return imap_cmd_no(cmd, out, "[NONEXISTENT] No such updating context");
	}
	for (const struct imap_arg *a = cmd->args; !imap_arg_is_eol(a); a++) {
		imap_arg_get_string(a, &tag);
		for (struct imap_context **pp = &s->contexts; *pp != NULL; pp = &(*pp)->next) {
			if (strcmp((*pp)->tag, tag) == 0) {
				struct imap_context *c = *pp;
				*pp = c->next;
				context_free(c);
				break;
			}
		}
	}
	return imap_cmd_ok(cmd, out, "CANCELUPDATE completed");
}
