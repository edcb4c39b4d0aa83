/* SPDX-License-Identifier: MIT */
/*
 * The selected mailbox as the client knows it: UIDs in sequence order and
 * the flags last reported, loaded from store_message_list at SELECT and
 * brought up to date after each command by comparing it with the store.
 * The differences become the untagged EXPUNGE (VANISHED under QRESYNC),
 * FETCH FLAGS and EXISTS responses, sent only where the RFC allows them:
 * an expunge seen during a FETCH, STORE or SEARCH by sequence number is
 * held back (the message keeps its sequence number) until a later
 * command may announce it.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void view_reserve(struct imap_view *v, size_t n)
{
	if (n <= v->cap)
		return;
	size_t cap = v->cap == 0 ? 16 : v->cap;
	while (cap < n)
		cap *= 2;
	v->uids = xrealloc(v->uids, cap * sizeof(v->uids[0]));
	v->flags = xrealloc(v->flags, cap * sizeof(v->flags[0]));
	v->modseqs = xrealloc(v->modseqs, cap * sizeof(v->modseqs[0]));
	v->cap = cap;
}

static void view_append(struct imap_view *v, const struct store_message *m)
{
	view_reserve(v, v->count + 1);
	v->uids[v->count] = m->uid;
	v->flags[v->count] = m->flags & ~IMAP_VIEW_EXPUNGED;
	v->modseqs[v->count] = m->modseq;
	v->count++;
}

int imap_view_load(struct store *store, const struct store_mailbox *mailbox,
		   bool read_only, struct imap_view **view_r)
{
	struct store_message *msgs = NULL;
	size_t n = 0;
	*view_r = NULL;
	if (store_message_list(store, mailbox->id, &msgs, &n) < 0)
		return -1;
	struct imap_view *v = xcalloc(1, sizeof(*v));
	v->mailbox_id = mailbox->id;
	snprintf(v->name, sizeof(v->name), "%s", mailbox->name);
	v->uidvalidity = mailbox->uidvalidity;
	v->uidnext = mailbox->uidnext;
	v->highestmodseq = mailbox->highestmodseq;
	v->read_only = read_only;
	view_reserve(v, n);
	for (size_t i = 0; i < n; i++)
		view_append(v, &msgs[i]);
	free(msgs);
	*view_r = v;
	return 0;
}

void imap_view_free(struct imap_view **vp)
{
	struct imap_view *v = *vp;
	if (v == NULL)
		return;
	free(v->uids);
	free(v->flags);
	free(v->modseqs);
	free(v);
	*vp = NULL;
}

uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t i;
	return imap_uid_find(v->uids, v->count, uid, &i) ? (uint32_t)(i + 1) : 0;
}

/*
 * Report and drop the messages marked expunged. EXPUNGE numbers are given
 * in ascending order, each one already counting the removals before it.
 * With QRESYNC enabled, one VANISHED response carries the UIDs instead.
 */
static void view_report_expunges(struct imap_session *s, struct buf *out)
{
	struct imap_view *v = s->view;
	uint32_t *gone = s->qresync ? xcalloc(v->n_pending_expunges, sizeof(*gone)) : NULL;
	size_t n_gone = 0, w = 0;
	for (size_t i = 0; i < v->count; i++) {
		if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0) {
			v->uids[w] = v->uids[i];
			v->flags[w] = v->flags[i];
			v->modseqs[w] = v->modseqs[i];
			w++;
			continue;
		}
		if (gone != NULL)
			gone[n_gone++] = v->uids[i];
		else
			buf_printf(out, "* %zu EXPUNGE\r\n", w + 1);
	}
	if (gone != NULL && n_gone > 0) {
		/* The QRESYNC hook: RFC 7162 3.2.10. */
		buf_append_str(out, "* VANISHED ");
		imap_seqset_write(out, gone, n_gone);
		buf_append_str(out, "\r\n");
	}
	free(gone);
	v->count = w;
	v->n_pending_expunges = 0;
}

/*
 * FETCH FLAGS is the whole flag list: the keywords come from the store's
 * listing (m), which the view does not keep (cmd-select.c's note: keyword
 * changes must reach other sessions too).
 */
static void view_report_flags(struct imap_session *s, struct buf *out, size_t idx,
			      const struct store_message_ex *m)
{
	const struct imap_view *v = s->view;
	buf_printf(out, "* %zu FETCH (UID %" PRIu32 " ", idx + 1, v->uids[idx]);
	if (s->condstore)
		buf_printf(out, "MODSEQ (%" PRIu64 ") ", v->modseqs[idx]);
	buf_append_str(out, "FLAGS ");
	struct buf tmp;
	buf_init(&tmp);
	imap_write_flags(&tmp, v->flags[idx]);
	buf_append(out, tmp.data, tmp.len - 1); /* without ')' */
	if (m->keywords != NULL && m->keywords[0] != '\0') {
		if (tmp.len > 2)
			buf_append(out, " ", 1);
		buf_append_str(out, m->keywords);
	}
	buf_deinit(&tmp);
	buf_append_str(out, "))\r\n");
}

/*
 * Walk the view and the store's list (both in UID order) together: mark
 * what vanished, note changed flags (changed[i] = index in msgs + 1), and
 * return the index in msgs of the first message the view has never seen.
 * A new MODSEQ with the same system flags is a keyword change: reported too.
 */
static size_t view_merge(struct imap_view *v, const struct store_message_ex *msgs,
			 size_t n, size_t *changed)
{
	size_t i = 0, j = 0;
	while (i < v->count) {
		if (j < n && msgs[j].msg.uid < v->uids[i]) {
			j++; /* older than what we know: cannot happen, skip */
			continue;
		}
		if (j < n && msgs[j].msg.uid == v->uids[i]) {
			const struct store_message *m = &msgs[j].msg;
			uint32_t known = v->flags[i] & ~IMAP_VIEW_EXPUNGED;
			if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0 &&
			    (known != m->flags || v->modseqs[i] != m->modseq)) {
				changed[i] = j + 1;
				v->flags[i] = m->flags & ~IMAP_VIEW_EXPUNGED;
				v->modseqs[i] = m->modseq;
			}
			i++, j++;
			continue;
		}
		if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0) {
			v->flags[i] |= IMAP_VIEW_EXPUNGED;
			v->n_pending_expunges++;
		}
		i++;
	}
	uint32_t last = v->count > 0 ? v->uids[v->count - 1] : 0;
	while (j < n && msgs[j].msg.uid <= last)
		j++;
	return j;
}

/* Nothing changed since the view was last brought up to date? */
static bool view_unchanged(struct imap_session *s, struct store_mailbox *mb_r,
			   bool *have_mb_r)
{
	const struct imap_view *v = s->view;
	*have_mb_r = store_mailbox_get(s->store, s->account.id, v->name, mb_r) == 1 &&
		     mb_r->id == v->mailbox_id;
	return *have_mb_r && mb_r->highestmodseq == v->highestmodseq &&
	       mb_r->uidnext == v->uidnext;
}

int imap_view_sync(struct imap_session *s, struct buf *out, bool allow_expunge)
{
	struct imap_view *v = s->view;
	if (v == NULL)
		return 0;
	struct store_mailbox mb;
	bool have_mb;
	if (view_unchanged(s, &mb, &have_mb)) {
		if (allow_expunge && v->n_pending_expunges > 0)
			view_report_expunges(s, out);
		return 0;
	}
	/*
	 * A renamed or deleted mailbox is not found by name: its id still
	 * lists what is left of it (nothing, once deleted).
	 */
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	if (store_message_list_full(s->store, v->mailbox_id, &msgs, &n) < 0)
		return -1;
	size_t *changed = xcalloc(v->count + 1, sizeof(*changed));
	size_t first_new = view_merge(v, msgs, n, changed);
	/*
	 * Expunges first; changed[] is compacted the same way so that the
	 * FETCH responses below use the sequence numbers the client now has.
	 */
	if (allow_expunge && v->n_pending_expunges > 0) {
		size_t w = 0;
		for (size_t i = 0; i < v->count; i++) {
			if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0)
				changed[w++] = changed[i];
		}
		view_report_expunges(s, out);
	}
	for (size_t i = 0; i < v->count; i++) {
		if (changed[i] != 0 && (v->flags[i] & IMAP_VIEW_EXPUNGED) == 0)
			view_report_flags(s, out, i, &msgs[changed[i] - 1]);
	}
	free(changed);
	size_t before = v->count;
	for (size_t j = first_new; j < n; j++)
		view_append(v, &msgs[j].msg);
	if (v->count != before)
		buf_printf(out, "* %zu EXISTS\r\n", v->count);
	if (have_mb) {
		v->highestmodseq = mb.highestmodseq;
		v->uidnext = mb.uidnext;
	} else {
		for (size_t j = 0; j < n; j++) {
			if (msgs[j].msg.modseq > v->highestmodseq)
				v->highestmodseq = msgs[j].msg.modseq;
		}
		if (n > 0 && msgs[n - 1].msg.uid >= v->uidnext)
			v->uidnext = msgs[n - 1].msg.uid + 1;
	}
	store_message_ex_free(&msgs, n);
	return 0;
}
