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
 *
 * A SORT with RETURN (UPDATE) (CONTEXT=SORT) also keeps its sorted result
 * (struct imap_sort_order, cmd-sort.c), and its ADDTO/REMOVEFROM carry
 * positions (RFC 5267 4.3.3, 4.3.4): pairs "position set", processed in
 * order, each against the result as the pairs before it left it; a set
 * holds messages that are contiguous in the sort order. Removals are
 * computed and sent before additions, so the positions hold as read.
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
	struct imap_sort_order *order; /* a SORT context: the result in sort order */
};

static void context_free(struct imap_context *c)
{
	imap_sort_order_free(&c->order);
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

/* A new context for cmd's tag, or NULL with NOUPDATE queued (RFC 5267 4.3.1). */
static struct imap_context *context_new(struct imap_cmd *cmd, struct buf *out,
					struct imap_search_program **prog, size_t n)
{
	struct imap_session *s = cmd->session;
	size_t count = 0;
	for (const struct imap_context *c = s->contexts; c != NULL; c = c->next)
		count++;
	if (count >= IMAP_CONTEXT_MAX) {
		/* The search is answered, without updates. */
		buf_append_str(out, "* NO [NOUPDATE ");
		imap_write_string(out, cmd->tag, strlen(cmd->tag), false);
		buf_printf(out, "] At most %d updating contexts\r\n", IMAP_CONTEXT_MAX);
		return NULL;
	}
	struct imap_context *c = xcalloc(1, sizeof(*c));
	c->tag = xstrdup(cmd->tag);
	c->uid = cmd->uid;
	c->prog = *prog;
	*prog = NULL;
	c->cap = n > 0 ? n : 4;
	c->uids = xcalloc(c->cap, sizeof(*c->uids));
	c->n = n;
	c->next = s->contexts;
	s->contexts = c;
	return c;
}

void imap_context_add_search(struct imap_cmd *cmd, struct buf *out,
			     struct imap_search_program **prog, const uint32_t *uids, size_t n)
{
	struct imap_context *c = context_new(cmd, out, prog, n);
	if (c != NULL)
		memcpy(c->uids, uids, n * sizeof(*uids));
}

static int cmp_u32(const void *a, const void *b);

void imap_context_add_sort(struct imap_cmd *cmd, struct buf *out, struct imap_search_program **prog,
			   struct imap_sort_order **order)
{
	size_t n = imap_sort_order_count(*order);
	struct imap_context *c = context_new(cmd, out, prog, n);
	if (c == NULL) {
		imap_sort_order_free(order);
		return;
	}
	for (size_t i = 0; i < n; i++)
		c->uids[i] = imap_sort_order_uid(*order, i);
	qsort(c->uids, n, sizeof(*c->uids), cmp_u32);
	c->order = *order;
	*order = NULL;
}

/*
 * Pairs "position set" of one ADDTO or REMOVEFROM of a SORT context, as
 * they are computed: a value extends the last pair's set when it is the
 * next one in the sort order (ADDTO: at the pair's position plus its
 * length; REMOVEFROM: at the same position, where the next one moved).
 */
struct ctx_pairs {
	struct buf text;
	uint32_t *vals;
	size_t n, cap;
	size_t pos, next; /* the open pair's position, and where its next value goes */
};

static void pairs_flush(struct ctx_pairs *p)
{
	if (p->n == 0)
		return;
	buf_printf(&p->text, "%s%zu ", p->text.len > 0 ? " " : "", p->pos);
	imap_ordered_set_write(&p->text, p->vals, p->n);
	p->n = 0;
}

/* val at 1-based position pos; adding: positions grow along the set. */
static void pairs_add(struct ctx_pairs *p, size_t pos, uint32_t val, bool adding)
{
	if (p->n > 0 && pos != p->next)
		pairs_flush(p);
	if (p->n == 0)
		p->pos = pos;
	if (p->n == p->cap) {
		p->cap = p->cap > 0 ? p->cap * 2 : 8;
		p->vals = xrealloc(p->vals, p->cap * sizeof(*p->vals));
	}
	p->vals[p->n++] = val;
	p->next = adding ? pos + 1 : pos;
}

static void pairs_deinit(struct ctx_pairs *p)
{
	buf_deinit(&p->text);
	free(p->vals);
}

/* "* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (pairs)" */
static void context_write_pairs(const struct imap_context *c, struct buf *out, const char *what,
				struct ctx_pairs *p)
{
	pairs_flush(p);
	if (p->text.len == 0)
		return;
	buf_append_str(out, "* ESEARCH (TAG ");
	imap_write_string(out, c->tag, strlen(c->tag), false);
	buf_printf(out, ")%s %s (", c->uid ? " UID" : "", what);
	buf_append(out, p->text.data, p->text.len);
	buf_append_str(out, ")\r\n");
	buf_clear(&p->text);
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

/* Take uid (at idx in c->uids) out of the result; a SORT context's pair. */
static void context_drop(struct imap_context *c, size_t idx, uint32_t val, struct ctx_pairs *p)
{
	size_t pos;
	if (c->order != NULL && imap_sort_order_find(c->order, c->uids[idx], &pos)) {
		imap_sort_order_remove(c->order, pos);
		pairs_add(p, pos + 1, val, false);
	}
	context_remove(c, idx);
}

void imap_context_expunged(struct imap_session *s, struct buf *out)
{
	const struct imap_view *v = s->view;
	if (s->contexts == NULL || v == NULL || v->n_pending_expunges == 0)
		return;
	uint32_t *vals = xcalloc(v->n_pending_expunges, sizeof(*vals));
	struct ctx_pairs p = {0};
	buf_init(&p.text);
	for (struct imap_context *c = s->contexts; c != NULL; c = c->next) {
		size_t n = 0, idx;
		for (size_t i = 0; i < v->count; i++) {
			if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0 ||
			    !context_has(c, v->uids[i], &idx))
				continue;
			/* The numbers the client knows until it reads the EXPUNGEs. */
			vals[n] = c->uid ? v->uids[i] : (uint32_t)(i + 1);
			context_drop(c, idx, vals[n], &p);
			n++;
		}
		if (c->order != NULL)
			context_write_pairs(c, out, "REMOVEFROM", &p);
		else if (n > 0)
			context_write(c, out, "REMOVEFROM", vals, n);
	}
	pairs_deinit(&p);
	free(vals);
}

/* Ascending UIDs or sequence numbers: both follow the view's order. */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * A SORT context: the removals first, each at its position then, and then
 * the additions, each inserted where it sorts (the positions the client
 * computes when it applies the pairs in order).
 */
static void context_changed_sort(struct imap_session *s, struct imap_context *c, struct buf *out,
				 const struct store_message_ex *const *msgs, const bool *match,
				 size_t n, struct ctx_pairs *p)
{
	size_t idx;
	for (size_t i = 0; i < n; i++) {
		uint32_t uid = msgs[i]->msg.uid, seq = imap_view_seq(s->view, uid);
		if (seq != 0 && !match[i] && context_has(c, uid, &idx))
			context_drop(c, idx, c->uid ? uid : seq, p);
	}
	context_write_pairs(c, out, "REMOVEFROM", p);
	for (size_t i = 0; i < n; i++) {
		uint32_t uid = msgs[i]->msg.uid, seq = imap_view_seq(s->view, uid);
		if (seq == 0 || !match[i] || context_has(c, uid, &idx))
			continue;
		context_insert(c, uid);
		size_t pos = imap_sort_order_insert(c->order, s->store, msgs[i], seq);
		pairs_add(p, pos + 1, c->uid ? uid : seq, true);
	}
	context_write_pairs(c, out, "ADDTO", p);
}

void imap_context_changed(struct imap_session *s, struct buf *out,
			  const struct store_message_ex *const *msgs, size_t n)
{
	if (s->contexts == NULL || n == 0)
		return;
	uint32_t *added = xcalloc(n, sizeof(*added));
	uint32_t *removed = xcalloc(n, sizeof(*removed));
	bool *match = xcalloc(n, sizeof(*match));
	struct ctx_pairs p = {0};
	buf_init(&p.text);
	for (struct imap_context *c = s->contexts; c != NULL; c = c->next) {
		for (size_t i = 0; i < n; i++) {
			uint32_t seq = imap_view_seq(s->view, msgs[i]->msg.uid);
			match[i] = seq != 0 && imap_search_match_one(s, c->prog, msgs[i], seq);
		}
		if (c->order != NULL) {
			context_changed_sort(s, c, out, msgs, match, n, &p);
			continue;
		}
		size_t n_add = 0, n_rem = 0, idx;
		for (size_t i = 0; i < n; i++) {
			uint32_t uid = msgs[i]->msg.uid, seq = imap_view_seq(s->view, uid);
			if (seq == 0)
				continue;
			bool had = context_has(c, uid, &idx);
			if (match[i] && !had) {
				context_insert(c, uid);
				added[n_add++] = c->uid ? uid : seq;
			} else if (!match[i] && had) {
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
	pairs_deinit(&p);
	free(match);
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
