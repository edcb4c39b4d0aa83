/* SPDX-License-Identifier: MIT */
/*
 * SEARCH and UID SEARCH (RFC 9051 6.4.4), with ESEARCH return options
 * (RFC 4731: MIN MAX ALL COUNT), SEARCHRES (RFC 5182: SAVE keeps the
 * result for "$") and CONDSTORE's (MODSEQ n) (RFC 7162 3.1.5). The program
 * is parsed and evaluated by imap-search.c; this file picks the response
 * form: "* SEARCH" for rev1 clients that did not ask for RETURN, "* ESEARCH"
 * otherwise (IMAP4rev2 has no SEARCH response).
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static void search_limits(const struct imap_session *s, struct imap_search_limits *lim)
{
	const struct imap_view *v = s->view;
	lim->n_messages = (uint32_t)v->count;
	lim->max_uid = v->count > 0 ? v->uids[v->count - 1] : 0;
}

static void save_result(struct imap_session *s, const struct imap_search_options *o,
			const struct imap_search_result *r)
{
	free(s->saved_uids);
	s->saved_uids = NULL;
	s->n_saved_uids = 0;
	if (r == NULL || r->n == 0)
		return;
	s->saved_uids = xcalloc(r->n, sizeof(*s->saved_uids));
	/* RFC 5182 2.1: SAVE with MIN and/or MAX only keeps those. */
	if ((o->ret_min || o->ret_max) && !o->ret_all && !o->ret_count) {
		if (o->ret_min)
			s->saved_uids[s->n_saved_uids++] = r->matches[0].uid;
		if (o->ret_max && (!o->ret_min || r->n > 1))
			s->saved_uids[s->n_saved_uids++] = r->matches[r->n - 1].uid;
		return;
	}
	for (size_t i = 0; i < r->n; i++)
		s->saved_uids[s->n_saved_uids++] = r->matches[i].uid;
}

static uint32_t match_value(const struct imap_cmd *cmd, const struct imap_search_match *m)
{
	return cmd->uid ? m->uid : m->seq;
}

/* " n": a SEARCH answer may list 100,000 numbers, so no printf per number. */
static void append_number(struct buf *out, uint32_t v)
{
	char tmp[12];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	tmp[--i] = ' ';
	buf_append(out, tmp + i, sizeof(tmp) - i);
}

static void write_search(struct imap_cmd *cmd, struct buf *out,
			 const struct imap_search_program *prog, const struct imap_search_result *r)
{
	uint64_t modseq = 0;
	buf_append_str(out, "* SEARCH");
	for (size_t i = 0; i < r->n; i++) {
		append_number(out, match_value(cmd, &r->matches[i]));
		if (r->matches[i].modseq > modseq)
			modseq = r->matches[i].modseq;
	}
	if (prog->uses_modseq && r->n > 0)
		buf_printf(out, " (MODSEQ %llu)", (unsigned long long)modseq);
	buf_append_str(out, "\r\n");
}

void imap_ordered_set_write(struct buf *out, const uint32_t *vals, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && vals[j + 1] == vals[j] + 1)
			j++;
		buf_printf(out, i == 0 ? "%u" : ",%u", vals[i]);
		if (j > i)
			buf_printf(out, ":%u", vals[j]);
		i = j + 1;
	}
}

static void max_modseq(uint64_t *m, const uint64_t *modseqs, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (modseqs[i] > *m)
			*m = modseqs[i];
}

void imap_esearch_write(struct imap_cmd *cmd, struct buf *out, const struct imap_search_options *o,
			bool with_modseq, const uint32_t *vals, const uint64_t *modseqs, size_t n)
{
	buf_append_str(out, "* ESEARCH (TAG ");
	imap_write_string(out, cmd->tag, strlen(cmd->tag), false);
	buf_append_str(out, ")");
	if (cmd->uid)
		buf_append_str(out, " UID");
	/* RFC 4731 3.2: the highest MODSEQ of the messages returned. */
	uint64_t modseq = 0;
	if (n > 0 && o->ret_min) {
		buf_printf(out, " MIN %u", vals[0]);
		max_modseq(&modseq, modseqs, 0, 1);
	}
	if (n > 0 && o->ret_max) {
		buf_printf(out, " MAX %u", vals[n - 1]);
		max_modseq(&modseq, modseqs, n - 1, n);
	}
	if (o->ret_count)
		buf_printf(out, " COUNT %zu", n);
	if (o->ret_all || o->ret_count)
		max_modseq(&modseq, modseqs, 0, n);
	if (n > 0 && o->ret_all) {
		buf_append_str(out, " ALL ");
		imap_ordered_set_write(out, vals, n);
	}
	if (o->ret_partial) {
		/* RFC 5267 4.4: the range as asked, and what of it exists (or NIL). */
		buf_printf(out, " PARTIAL (%u:%u ", o->partial_lo, o->partial_hi);
		size_t lo = o->partial_lo - 1, hi = o->partial_hi < n ? o->partial_hi : n;
		if (lo < hi) {
			imap_ordered_set_write(out, vals + lo, hi - lo);
			max_modseq(&modseq, modseqs, lo, hi);
		} else {
			buf_append_str(out, "NIL");
		}
		buf_append_str(out, ")");
	}
	if (with_modseq && modseq > 0)
		buf_printf(out, " MODSEQ %llu", (unsigned long long)modseq);
	buf_append_str(out, "\r\n");
}

/* The ESEARCH of a SEARCH: matches in sequence order. */
static void write_esearch(struct imap_cmd *cmd, struct buf *out,
			  const struct imap_search_options *o,
			  const struct imap_search_program *prog,
			  const struct imap_search_result *r)
{
	uint32_t *vals = xcalloc(r->n > 0 ? r->n : 1, sizeof(*vals));
	uint64_t *modseqs = xcalloc(r->n > 0 ? r->n : 1, sizeof(*modseqs));
	for (size_t i = 0; i < r->n; i++) {
		vals[i] = match_value(cmd, &r->matches[i]);
		modseqs[i] = r->matches[i].modseq;
	}
	imap_esearch_write(cmd, out, o, prog->uses_modseq, vals, modseqs, r->n);
	free(vals);
	free(modseqs);
}

/* A SEARCH in progress: it runs in slices of IMAP_SLICE_US between loop turns. */
struct search_ctx {
	struct imap_search_options o;
	struct imap_search_program *prog;
	struct imap_search_result r;
};

static void search_ctx_free(void *context)
{
	struct search_ctx *c = context;
	imap_search_result_free(&c->r);
	imap_search_program_free(&c->prog);
	free(c);
}

static enum imap_cmd_ret search_failed(struct imap_cmd *cmd, struct buf *out, const char *error)
{
	struct search_ctx *c = cmd->context;
	if (c->o.ret_save)
		save_result(cmd->session, &c->o, NULL);
	log_warn("imap.search_failed", "session=%s", cmd->session->session_id);
	return imap_cmd_no(cmd, out, "[SERVERBUG] %s", error);
}

static enum imap_cmd_ret search_continue(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct search_ctx *c = cmd->context;
	const char *error;
	int r = imap_search_step(s, c->prog, &c->r, imap_now_us() + IMAP_SLICE_US, &error);
	if (r < 0)
		return search_failed(cmd, out, error);
	if (r == 0) {
		cmd->func = search_continue;
		return IMAP_CMD_YIELD;
	}
	const struct imap_search_options *o = &c->o;
	bool only_save = o->ret_save && !o->ret_min && !o->ret_max && !o->ret_all && !o->ret_count;
	if (!o->esearch && !s->rev2)
		write_search(cmd, out, c->prog, &c->r);
	else if (!o->esearch)
		write_esearch(cmd, out, &(struct imap_search_options){.ret_all = true}, c->prog,
			      &c->r);
	else if (!only_save)
		write_esearch(cmd, out, o, c->prog, &c->r);
	if (o->ret_save)
		save_result(s, o, &c->r);
	if (o->ret_update) {
		uint32_t *uids = xcalloc(c->r.n > 0 ? c->r.n : 1, sizeof(*uids));
		for (size_t i = 0; i < c->r.n; i++)
			uids[i] = c->r.matches[i].uid;
		imap_context_add_search(cmd, out, &c->prog, uids, c->r.n);
		free(uids);
	}
	return imap_cmd_ok(cmd, out, "%sSEARCH completed", cmd->uid ? "UID " : "");
}

enum imap_cmd_ret cmd_search(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	/* New messages first, so the program's '*' and results cover them. */
	imap_cmd_sync(cmd, out);
	struct imap_search_limits lim;
	search_limits(s, &lim);
	struct search_ctx *c = xcalloc(1, sizeof(*c));
	cmd->context = c;
	cmd->free_context = search_ctx_free;
	const char *error;
	if (imap_search_parse_command(cmd->args, &lim, &c->o, &c->prog, &error) < 0) {
		if (c->o.bad_charset)
			return imap_cmd_no(cmd, out, "[BADCHARSET (UTF-8 US-ASCII)] %s", error);
		return imap_cmd_bad(cmd, out, "%s", error);
	}
	/* RFC 5267 4.3: the tag names the context; a live one cannot be reused. */
	if (c->o.ret_update && imap_context_tag_used(s, cmd->tag))
		return imap_cmd_bad(cmd, out, "Tag reuse: an updating context has this tag");
	if (c->prog->uses_modseq)
		imap_session_condstore_enable(s); /* RFC 7162 3.1: a CONDSTORE-enabling command */
	if (imap_search_begin(s, c->prog, &c->r, &error) < 0)
		return search_failed(cmd, out, error);
	return search_continue(cmd, out);
}
