/* SPDX-License-Identifier: MIT */
/*
 * SELECT and EXAMINE (RFC 9051 6.3.2-6.3.3), with the CONDSTORE and QRESYNC
 * select parameters of RFC 7162. Opening a mailbox loads the session's
 * view (imap-view.c) and announces what the client needs to work with it:
 * FLAGS, EXISTS, for IMAP4rev1 clients RECENT and UNSEEN, PERMANENTFLAGS,
 * UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ (the store keeps MODSEQs for every
 * mailbox, so it is always announced) and MAILBOXID (RFC 8474; the store's
 * mailbox id is the object id). A QRESYNC client also gets VANISHED
 * (EARLIER) and FETCH for what changed since the state it remembers. A
 * mailbox already selected is closed first, and "* OK [CLOSED]" marks the
 * boundary between the two mailboxes' responses (RFC 7162 3.2.11).
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* What the client asked for beyond the mailbox name. */
struct select_params {
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;
	uint64_t modseq;
	const char *known_uids; /* NULL: every UID below UIDNEXT */
};

/* A number of 1..max in an atom ("nz-number" / "mod-sequence-value"). */
static bool parse_number(const struct imap_arg *arg, uint64_t max, uint64_t *n_r)
{
	const char *s;
	if (!imap_arg_get_atom(arg, &s) || s[0] < '1' || s[0] > '9' || strlen(s) > 20)
		return false;
	uint64_t v = 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return false;
	*n_r = v;
	return true;
}

/* A sequence set atom, checked for syntax only. */
static bool valid_seqset(const struct imap_arg *arg)
{
	const char *text, *error;
	struct imap_seqset set;
	if (!imap_arg_get_atom(arg, &text) || imap_seqset_parse(text, 1, &set, &error) < 0)
		return false;
	bool ok = !set.saved;
	imap_seqset_free(&set);
	return ok;
}

/*
 * QRESYNC (uidvalidity modseq [known-uids [(known-seqs known-uids)]]).
 * The sequence match data only helps servers that forget expunges; the
 * store logs them all, so it is checked and then ignored.
 */
static bool parse_qresync(const struct imap_arg *arg, struct select_params *p, const char **error_r)
{
	const struct imap_arg *l;
	size_t n;
	uint64_t v;
	*error_r = "Invalid QRESYNC parameter";
	if (!imap_arg_get_list(arg, &l, &n) || n < 2 || n > 4)
		return false;
	if (!parse_number(&l[0], UINT32_MAX, &v))
		return false;
	p->uidvalidity = (uint32_t)v;
	if (!parse_number(&l[1], INT64_MAX, &p->modseq))
		return false;
	if (n >= 3) {
		if (!valid_seqset(&l[2]))
			return false;
		imap_arg_get_atom(&l[2], &p->known_uids);
	}
	if (n == 4) {
		const struct imap_arg *m;
		size_t mn;
		if (!imap_arg_get_list(&l[3], &m, &mn) || mn != 2 || !valid_seqset(&m[0]) ||
		    !valid_seqset(&m[1]))
			return false;
	}
	p->qresync = true;
	return true;
}

static bool parse_params(const struct imap_session *s, const struct imap_arg *args,
			 struct select_params *p, const char **error_r)
{
	*p = (struct select_params){0};
	if (imap_arg_is_eol(&args[0]))
		return true;
	const struct imap_arg *l;
	size_t n;
	if (!imap_arg_get_list(&args[0], &l, &n) || !imap_arg_is_eol(&args[1])) {
		*error_r = "Invalid arguments";
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&l[i], "CONDSTORE")) {
			p->condstore = true;
		} else if (imap_arg_atom_equals(&l[i], "QRESYNC")) {
			/* RFC 7162 3.2.5: only after ENABLE QRESYNC. */
			if (!s->qresync) {
				*error_r = "QRESYNC is not enabled";
				return false;
			}
			if (p->qresync || i + 1 >= n || !parse_qresync(&l[++i], p, error_r))
				return false;
		} else {
			*error_r = "Unknown select parameter";
			return false;
		}
	}
	return true;
}

/*
 * "(\Answered ... kw1 kw2)": system flag bits then the keywords string
 * (space-separated, may be NULL or "").
 */
static void write_flags_keywords(struct buf *out, uint32_t flags, const char *keywords)
{
	struct buf tmp;
	buf_init(&tmp);
	imap_write_flags(&tmp, flags);
	/* Drop the closing parenthesis, add the keywords, close again. */
	buf_append(out, tmp.data, tmp.len - 1);
	if (keywords != NULL && keywords[0] != '\0') {
		if (tmp.len > 2)
			buf_append(out, " ", 1);
		buf_append_str(out, keywords);
	}
	buf_append(out, ")", 1);
	buf_deinit(&tmp);
}

/* Sequence number of the first message without \Seen, 0 if none. */
static uint32_t first_unseen(const struct imap_view *v)
{
	for (size_t i = 0; i < v->count; i++) {
		if ((v->flags[i] & STORE_FLAG_SEEN) == 0)
			return (uint32_t)(i + 1);
	}
	return 0;
}

/* RFC 7162 3.2.5.2: what was expunged since the client's MODSEQ. */
static int qresync_vanished(struct imap_session *s, const struct select_params *p, struct buf *out)
{
	const struct imap_view *v = s->view;
	uint32_t *uids = NULL;
	size_t n = 0;
	if (store_mailbox_vanished_since(s->store, v->mailbox_id, p->modseq, &uids, &n) < 0)
		return -1;
	struct imap_seqset known = {0};
	const char *error;
	if (p->known_uids != NULL &&
	    imap_seqset_parse(p->known_uids, v->uidnext > 1 ? v->uidnext - 1 : 1, &known, &error) <
		    0) {
		free(uids);
		return -1;
	}
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (p->known_uids == NULL || imap_seqset_contains(&known, uids[i]))
			uids[w++] = uids[i];
	}
	if (w > 0) {
		buf_append_str(out, "* VANISHED (EARLIER) ");
		imap_seqset_write(out, uids, w);
		buf_append_str(out, "\r\n");
	}
	imap_seqset_free(&known);
	free(uids);
	return 0;
}

/* RFC 7162 3.2.5.2: flags changed since the client's MODSEQ. */
static int qresync_changed(struct imap_session *s, const struct select_params *p, struct buf *out)
{
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	if (store_message_changed_since(s->store, s->view->mailbox_id, p->modseq, &msgs, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t seq = imap_view_seq(s->view, msgs[i].msg.uid);
		if (seq == 0)
			continue; /* arrived after the view was loaded: EXISTS covers it */
		buf_printf(out, "* %" PRIu32 " FETCH (UID %" PRIu32 " FLAGS ", seq,
			   msgs[i].msg.uid);
		write_flags_keywords(out, msgs[i].msg.flags, msgs[i].keywords);
		buf_printf(out, " MODSEQ (%" PRIu64 "))\r\n", msgs[i].msg.modseq);
	}
	store_message_ex_free(&msgs, n);
	return 0;
}

/* The untagged responses that describe a freshly opened mailbox. */
static int select_announce(struct imap_session *s, const struct select_params *p, struct buf *out)
{
	struct imap_view *v = s->view;
	/* The list may be newer than the mailbox row read before it. */
	if (v->count > 0 && v->uids[v->count - 1] >= v->uidnext)
		v->uidnext = v->uids[v->count - 1] + 1;
	for (size_t i = 0; i < v->count; i++) {
		if (v->modseqs[i] > v->highestmodseq)
			v->highestmodseq = v->modseqs[i];
	}
	imap_view_write_flag_lists(s, out);
	buf_printf(out, "* %zu EXISTS\r\n", v->count);
	if (!s->rev2) {
		if (imap_view_claim_recent(s, 0) < 0)
			return -1;
		buf_printf(out, "* %zu RECENT\r\n", imap_view_recent_count(v));
		uint32_t unseen = first_unseen(v);
		if (unseen > 0)
			buf_printf(out, "* OK [UNSEEN %" PRIu32 "] First unseen\r\n", unseen);
	}
	buf_printf(out, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid\r\n", v->uidvalidity);
	buf_printf(out, "* OK [UIDNEXT %" PRIu32 "] Predicted next UID\r\n", v->uidnext);
	buf_printf(out, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest\r\n", v->highestmodseq);
	buf_printf(out, "* OK [MAILBOXID (M%" PRId64 ")] Ok\r\n", v->mailbox_id);
	if (!p->qresync || p->uidvalidity != v->uidvalidity)
		return 0;
	if (qresync_vanished(s, p, out) < 0 || qresync_changed(s, p, out) < 0)
		return -1;
	return 0;
}

/* Leave the selected mailbox, if any, saying so (RFC 7162 3.2.11). */
static void select_close_current(struct imap_session *s, struct buf *out)
{
	if (s->state != IMAP_STATE_SELECTED)
		return;
	imap_session_set_state(s, IMAP_STATE_AUTHENTICATED);
	buf_append_str(out, "* OK [CLOSED] Previous mailbox closed\r\n");
}

static enum imap_cmd_ret select_open(struct imap_cmd *cmd, struct buf *out, bool read_only)
{
	struct imap_session *s = cmd->session;
	const char *wire, *error = "Invalid arguments";
	struct select_params p;
	if (!imap_arg_get_astring(&cmd->args[0], &wire) ||
	    !parse_params(s, &cmd->args[1], &p, &error))
		return imap_cmd_bad(cmd, out, "%s", error);
	select_close_current(s, out);
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[CANNOT] %s", error);
	struct store_mailbox mb;
	uint32_t rights;
	int r = imap_mailbox_lookup(s, name, &mb, &rights);
	free(name);
	if (r == 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	if (r > 0 && (rights & STORE_RIGHT_READ) == 0)
		return imap_cmd_no(cmd, out, "[NOPERM] Read right needed");
	/* RFC 4314 4: without any right to change it, a mailbox opens read-only. */
	if ((rights &
	     (STORE_RIGHT_SEEN | STORE_RIGHT_WRITE | STORE_RIGHT_DELETE_MESSAGE |
	      STORE_RIGHT_EXPUNGE)) == 0)
		read_only = true;
	struct imap_view *view = NULL;
	if (r < 0 || imap_view_load(s->store, &mb, read_only, &view) < 0)
		return imap_cmd_no(cmd, out, "[UNAVAILABLE] Cannot open mailbox");
	if (p.condstore || p.qresync)
		imap_session_condstore_enable(s);
	s->view = view;
	imap_session_set_state(s, IMAP_STATE_SELECTED);
	imap_acl_selected(s, &mb, rights);
	if (select_announce(s, &p, out) < 0) {
		imap_session_set_state(s, IMAP_STATE_AUTHENTICATED);
		return imap_cmd_no(cmd, out, "[UNAVAILABLE] Cannot open mailbox");
	}
	log_debug("imap.select", "session=%s mailbox_id=%" PRId64 " read_only=%d messages=%zu",
		  s->session_id, view->mailbox_id, read_only ? 1 : 0, view->count);
	return imap_cmd_ok(cmd, out, "[%s] %s completed", read_only ? "READ-ONLY" : "READ-WRITE",
			   read_only ? "EXAMINE" : "SELECT");
}

enum imap_cmd_ret cmd_select(struct imap_cmd *cmd, struct buf *out)
{
	return select_open(cmd, out, false);
}

enum imap_cmd_ret cmd_examine(struct imap_cmd *cmd, struct buf *out)
{
	return select_open(cmd, out, true);
}
