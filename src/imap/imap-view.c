/* SPDX-License-Identifier: MIT */
/*
 * The selected mailbox as the client knows it: UIDs in sequence order and
 * the flags last reported, loaded from store_message_list at SELECT and
 * brought up to date after each command from what changed in the store
 * since the HIGHESTMODSEQ it last took in (changed rows and the expunge
 * log), so that the cost follows the changes, not the mailbox size.
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
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/*
 * Shared snapshots. Sessions that sit on the same mailbox and were told
 * the same thing hold identical arrays (2,250 messages are 36 KiB each),
 * so between commands a view hands its arrays to a snapshot that every
 * equal view points at (imap_view_compact), and takes a private copy back
 * only before it changes them (view_own): a thousand phones idling on one
 * mailbox keep one copy. A snapshot is immutable once published, so any
 * thread reads it without a lock; the table and the reference counts are
 * behind one mutex, taken only when a view is compacted or copied back.
 */
struct view_snapshot {
	struct view_snapshot *next; /* same hash bucket */
	int64_t mailbox_id;
	uint64_t highestmodseq;
	size_t count;
	unsigned refs;
	uint32_t *uids;
	uint32_t *flags;
	uint64_t *modseqs;
};

#define VIEW_SNAPSHOT_BUCKETS 4096

static pthread_mutex_t snapshot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct view_snapshot *snapshot_table[VIEW_SNAPSHOT_BUCKETS];

static struct view_snapshot **snapshot_bucket(int64_t mailbox_id)
{
	return &snapshot_table[(uint64_t)mailbox_id % VIEW_SNAPSHOT_BUCKETS];
}

static bool snapshot_equals(const struct view_snapshot *sn, const struct imap_view *v)
{
	return sn->mailbox_id == v->mailbox_id && sn->highestmodseq == v->highestmodseq &&
		sn->count == v->count &&
		memcmp(sn->uids, v->uids, v->count * sizeof(v->uids[0])) == 0 &&
		memcmp(sn->flags, v->flags, v->count * sizeof(v->flags[0])) == 0 &&
		memcmp(sn->modseqs, v->modseqs, v->count * sizeof(v->modseqs[0])) == 0;
}

static void snapshot_unref(struct view_snapshot *sn)
{
	pthread_mutex_lock(&snapshot_lock);
	if (--sn->refs == 0) {
		struct view_snapshot **pp = snapshot_bucket(sn->mailbox_id);
		while (*pp != sn)
			pp = &(*pp)->next;
		*pp = sn->next;
	} else {
		sn = NULL;
	}
	pthread_mutex_unlock(&snapshot_lock);
	if (sn != NULL) {
		free(sn->uids);
		free(sn->flags);
		free(sn->modseqs);
		free(sn);
	}
}

/* Before the view's arrays change: make them private again. */
static void view_own(struct imap_view *v)
{
	struct view_snapshot *sn = v->shared;
	if (sn == NULL)
		return;
	size_t cap = v->count + 16;
	uint32_t *uids = xmalloc(cap * sizeof(*uids));
	uint32_t *flags = xmalloc(cap * sizeof(*flags));
	uint64_t *modseqs = xmalloc(cap * sizeof(*modseqs));
	memcpy(uids, v->uids, v->count * sizeof(*uids));
	memcpy(flags, v->flags, v->count * sizeof(*flags));
	memcpy(modseqs, v->modseqs, v->count * sizeof(*modseqs));
	v->uids = uids;
	v->flags = flags;
	v->modseqs = modseqs;
	v->cap = cap;
	v->shared = NULL;
	snapshot_unref(sn);
}

void imap_view_make_private(struct imap_view *v)
{
	if (v != NULL)
		view_own(v);
}

void imap_view_compact(struct imap_view *v)
{
	if (v == NULL || v->shared != NULL || v->count == 0)
		return;
	/* Session-only bits (\Recent, expunges not yet told) are not shared. */
	if (v->n_pending_expunges > 0)
		return;
	for (size_t i = 0; i < v->count; i++) {
		if ((v->flags[i] & IMAP_VIEW_SESSION_BITS) != 0)
			return;
	}
	pthread_mutex_lock(&snapshot_lock);
	struct view_snapshot **bucket = snapshot_bucket(v->mailbox_id), *sn;
	for (sn = *bucket; sn != NULL; sn = sn->next) {
		if (snapshot_equals(sn, v))
			break;
	}
	bool found = sn != NULL;
	if (!found) {
		/* The first of its kind: the view's own arrays become the snapshot. */
		sn = xcalloc(1, sizeof(*sn));
		sn->mailbox_id = v->mailbox_id;
		sn->highestmodseq = v->highestmodseq;
		sn->count = v->count;
		sn->uids = xrealloc(v->uids, v->count * sizeof(v->uids[0]));
		sn->flags = xrealloc(v->flags, v->count * sizeof(v->flags[0]));
		sn->modseqs = xrealloc(v->modseqs, v->count * sizeof(v->modseqs[0]));
		sn->next = *bucket;
		*bucket = sn;
	}
	sn->refs++;
	pthread_mutex_unlock(&snapshot_lock);
	if (found) {
		free(v->uids);
		free(v->flags);
		free(v->modseqs);
	}
	v->uids = sn->uids;
	v->flags = sn->flags;
	v->modseqs = sn->modseqs;
	v->cap = 0;
	v->shared = sn;
}

static void view_reserve(struct imap_view *v, size_t n)
{
	view_own(v);
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
	v->flags[v->count] = m->flags & ~IMAP_VIEW_SESSION_BITS;
	v->modseqs[v->count] = m->modseq;
	v->count++;
}

int imap_view_load(struct store *store, const struct store_mailbox *mailbox, bool read_only,
		   struct imap_view **view_r)
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
	if (v->shared != NULL) {
		snapshot_unref(v->shared);
	} else {
		free(v->uids);
		free(v->flags);
		free(v->modseqs);
	}
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
	view_own(v);
	/* RFC 5267 4.3.4: REMOVEFROM before the EXPUNGE, while the numbers hold. */
	imap_context_expunged(s, out);
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
static size_t view_merge(struct imap_view *v, const struct store_message_ex *msgs, size_t n,
			 size_t *changed)
{
	size_t i = 0, j = 0;
	while (i < v->count) {
		if (j < n && msgs[j].msg.uid < v->uids[i]) {
			j++; /* older than what we know: cannot happen, skip */
			continue;
		}
		if (j < n && msgs[j].msg.uid == v->uids[i]) {
			const struct store_message *m = &msgs[j].msg;
			uint32_t known = v->flags[i] & ~IMAP_VIEW_SESSION_BITS;
			if ((v->flags[i] & IMAP_VIEW_EXPUNGED) == 0 &&
			    (known != m->flags || v->modseqs[i] != m->modseq)) {
				changed[i] = j + 1;
				v->flags[i] = (m->flags & ~IMAP_VIEW_SESSION_BITS) |
					(v->flags[i] & IMAP_VIEW_RECENT);
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

/*
 * CONTEXT=SEARCH (imap-context.c): the messages whose flags changed and
 * the new ones, evaluated again after EXISTS so that ADDTO's sequence
 * numbers are valid (RFC 5267 4.3.3).
 */
static void view_report_contexts(struct imap_session *s, struct buf *out, const size_t *changed,
				 size_t n_changed, const struct store_message_ex *msgs, size_t n,
				 size_t first_new)
{
	const struct imap_view *v = s->view;
	const struct store_message_ex **cand = xcalloc(n > 0 ? n : 1, sizeof(*cand));
	size_t k = 0;
	/* changed[] covers the view as it was before the new messages. */
	for (size_t i = 0; i < n_changed && k < n; i++)
		if (changed[i] != 0 && (v->flags[i] & IMAP_VIEW_EXPUNGED) == 0)
			cand[k++] = &msgs[changed[i] - 1];
	for (size_t j = first_new; j < n; j++)
		cand[k++] = &msgs[j];
	imap_context_changed(s, out, cand, k);
	free(cand);
}

/*
 * Report what view_merge or view_apply found: expunges first (when
 * allowed), then FETCH FLAGS for changed[i] != 0 (index in msgs + 1), then
 * EXISTS for msgs[first_new..n). changed[] is compacted along with the
 * expunges so that the FETCH responses use the sequence numbers the client
 * has once the EXPUNGEs are read.
 */
static void view_report(struct imap_session *s, struct buf *out, bool allow_expunge,
			size_t *changed, const struct store_message_ex *msgs, size_t n,
			size_t first_new)
{
	struct imap_view *v = s->view;
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
	size_t before = v->count;
	for (size_t j = first_new; j < n; j++)
		view_append(v, &msgs[j].msg);
	if (v->count != before) {
		buf_printf(out, "* %zu EXISTS\r\n", v->count);
		if (!s->rev2) {
			if (imap_view_claim_recent(s, before) < 0)
				log_warn("imap.recent_failed", "session=%s", s->session_id);
			buf_printf(out, "* %zu RECENT\r\n", imap_view_recent_count(v));
		}
	}
	if (s->contexts != NULL)
		view_report_contexts(s, out, changed, before, msgs, n, first_new);
}

int imap_view_claim_recent(struct imap_session *s, size_t from)
{
	struct imap_view *v = s->view;
	uint32_t first, end;
	const char *error;
	if (s->rev2 || from >= v->count)
		return 0;
	view_own(v);
	if (store_mailbox_claim_recent(s->store, v->mailbox_id, v->uids[v->count - 1] + 1,
				       !v->read_only, &first, &end, &error) < 0)
		return -1;
	for (size_t i = from; i < v->count; i++) {
		if (v->uids[i] >= first && v->uids[i] < end)
			v->flags[i] |= IMAP_VIEW_RECENT;
	}
	return 0;
}

size_t imap_view_recent_count(const struct imap_view *v)
{
	size_t n = 0;
	for (size_t i = 0; i < v->count; i++)
		n += (v->flags[i] & (IMAP_VIEW_RECENT | IMAP_VIEW_EXPUNGED)) == IMAP_VIEW_RECENT;
	return n;
}

/*
 * The slow path, for a mailbox deleted under the session (its id lists
 * what is left of it: nothing): compare the whole listing with the view.
 */
static int view_sync_full(struct imap_session *s, struct buf *out, bool allow_expunge)
{
	struct imap_view *v = s->view;
	view_own(v);
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	if (store_message_list_full(s->store, v->mailbox_id, &msgs, &n) < 0)
		return -1;
	size_t *changed = xcalloc(v->count + 1, sizeof(*changed));
	size_t first_new = view_merge(v, msgs, n, changed);
	view_report(s, out, allow_expunge, changed, msgs, n, first_new);
	free(changed);
	for (size_t j = 0; j < n; j++) {
		if (msgs[j].msg.modseq > v->highestmodseq)
			v->highestmodseq = msgs[j].msg.modseq;
	}
	if (n > 0 && msgs[n - 1].msg.uid >= v->uidnext)
		v->uidnext = msgs[n - 1].msg.uid + 1;
	store_message_ex_free(&msgs, n);
	return 0;
}

/* Mark the view's messages whose UIDs are in gone (ascending) expunged. */
static void view_mark_vanished(struct imap_view *v, const uint32_t *gone, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t i;
		if (!imap_uid_find(v->uids, v->count, gone[k], &i) ||
		    (v->flags[i] & IMAP_VIEW_EXPUNGED) != 0)
			continue;
		v->flags[i] |= IMAP_VIEW_EXPUNGED;
		v->n_pending_expunges++;
	}
}

/*
 * Apply the rows changed since the view's MODSEQ (UID order): a UID the
 * view holds gets its new flags (changed[i] set when the flags or the
 * MODSEQ differ from what the client was told); a UID above the view's
 * last one is new. Returns the index in msgs of the first new message.
 * A row below the last UID that the view does not hold cannot exist
 * (UIDs only grow, and every older message was seen): it is skipped.
 */
static size_t view_apply(struct imap_view *v, const struct store_message_ex *msgs, size_t n,
			 size_t *changed)
{
	uint32_t last = v->count > 0 ? v->uids[v->count - 1] : 0;
	size_t j = 0;
	for (; j < n && msgs[j].msg.uid <= last; j++) {
		const struct store_message *m = &msgs[j].msg;
		size_t i;
		if (!imap_uid_find(v->uids, v->count, m->uid, &i) ||
		    (v->flags[i] & IMAP_VIEW_EXPUNGED) != 0)
			continue;
		if ((v->flags[i] & ~IMAP_VIEW_SESSION_BITS) != m->flags ||
		    v->modseqs[i] != m->modseq) {
			changed[i] = j + 1;
			v->flags[i] = (m->flags & ~IMAP_VIEW_SESSION_BITS) |
				(v->flags[i] & IMAP_VIEW_RECENT);
			v->modseqs[i] = m->modseq;
		}
	}
	return j;
}

/*
 * The fast path: only what changed since the HIGHESTMODSEQ the view last
 * took in. head was read before the two queries, so every change up to
 * head->highestmodseq is in them (writers commit in MODSEQ order); changes
 * committed meanwhile may show up too and are simply seen again next time
 * (a row already known is not reported twice: its MODSEQ matches).
 */
static int view_sync_incremental(struct imap_session *s, struct buf *out, bool allow_expunge,
				 const struct store_mailbox *head)
{
	struct imap_view *v = s->view;
	uint32_t *gone = NULL;
	size_t n_gone = 0;
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	if (store_mailbox_vanished_since(s->store, v->mailbox_id, v->highestmodseq, &gone,
					 &n_gone) < 0)
		return -1;
	if (store_message_changed_since(s->store, v->mailbox_id, v->highestmodseq, &msgs, &n) < 0) {
		free(gone);
		return -1;
	}
	if (n_gone > 0 || n > 0)
		view_own(v);
	view_mark_vanished(v, gone, n_gone);
	free(gone);
	size_t *changed = xcalloc(v->count + 1, sizeof(*changed));
	size_t first_new = view_apply(v, msgs, n, changed);
	view_report(s, out, allow_expunge, changed, msgs, n, first_new);
	free(changed);
	store_message_ex_free(&msgs, n);
	v->highestmodseq = head->highestmodseq;
	v->uidnext = head->uidnext;
	return 0;
}

int imap_view_sync(struct imap_session *s, struct buf *out, bool allow_expunge)
{
	struct imap_view *v = s->view;
	if (v == NULL)
		return 0;
	/*
	 * One primary-key read after every command; the listings below run
	 * only when another session (or this one) changed the mailbox.
	 */
	struct store_mailbox head;
	int r = store_mailbox_head(s->store, v->mailbox_id, &head);
	if (r < 0)
		return -1;
	if (r > 0 && head.highestmodseq == v->highestmodseq && head.uidnext == v->uidnext) {
		if (allow_expunge && v->n_pending_expunges > 0)
			view_report_expunges(s, out);
		return 0;
	}
	/* A keyword new to the mailbox is announced before a FETCH shows it. */
	if (r > 0 && imap_view_keywords_sync(s, out) < 0)
		return -1;
	/*
	 * A renamed mailbox keeps its id and its MODSEQs: the incremental
	 * path follows it. A deleted one (or one whose UIDVALIDITY changed,
	 * which the store does not do today) is compared in full.
	 */
	if (r == 0 || head.uidvalidity != v->uidvalidity || head.highestmodseq < v->highestmodseq)
		return view_sync_full(s, out, allow_expunge);
	return view_sync_incremental(s, out, allow_expunge, &head);
}

struct keyword_list {
	struct buf text; /* " kw1 kw2" */
	size_t count;
};

static void keyword_cb(void *ctx, const char *keyword)
{
	struct keyword_list *k = ctx;
	buf_append(&k->text, " ", 1);
	buf_append_str(&k->text, keyword);
	k->count++;
}

void imap_view_write_flag_lists(struct imap_session *s, struct buf *out)
{
	static const char sys[] = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
	struct keyword_list k = {.count = 0};
	buf_init(&k.text);
	if (store_mailbox_keywords(s->store, s->view->mailbox_id, keyword_cb, &k) < 0) {
		/* Only the keyword list is lost: the system flags still hold. */
		buf_clear(&k.text);
		k.count = STORE_MAILBOX_KEYWORDS_MAX;
	}
	const char *kw = k.text.len > 0 ? buf_cstr(&k.text) : "";
	buf_printf(out, "* FLAGS (%s%s)\r\n", sys, kw);
	if (s->view->read_only)
		buf_append_str(out, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else
		buf_printf(out, "* OK [PERMANENTFLAGS (%s%s%s)] Flags permitted\r\n", sys, kw,
			   k.count < STORE_MAILBOX_KEYWORDS_MAX ? " \\*" : "");
	s->view->n_keywords = k.count;
	buf_deinit(&k.text);
}

/* Count the mailbox's keywords without building their list. */
static void keyword_count_cb(void *ctx, const char *keyword)
{
	(void)keyword;
	(*(size_t *)ctx)++;
}

int imap_view_keywords_sync(struct imap_session *s, struct buf *out)
{
	size_t n = 0;
	if (s->view == NULL)
		return 0;
	if (store_mailbox_keywords(s->store, s->view->mailbox_id, keyword_count_cb, &n) < 0)
		return -1;
	/* Keywords are never dropped from a mailbox's list: a count says it. */
	if (n != s->view->n_keywords)
		imap_view_write_flag_lists(s, out);
	return 0;
}

size_t imap_view_uid_ranges(const struct imap_view *v, const uint32_t *uids, size_t n,
			    struct store_uid_range *ranges)
{
	size_t k = 0, prev = 0;
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		bool held = imap_uid_find(v->uids, v->count, uids[i], &idx);
		/* Neighbours in the view: nothing the store holds lies between. */
		if (k > 0 && held && idx == prev + 1 && uids[i] > ranges[k - 1].hi) {
			ranges[k - 1].hi = uids[i];
		} else {
			ranges[k++] = (struct store_uid_range){uids[i], uids[i]};
		}
		prev = held ? idx : SIZE_MAX - 1;
	}
	return k;
}
