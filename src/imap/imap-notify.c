/* SPDX-License-Identifier: MIT */
/*
 * NOTIFY (RFC 5465): the client names groups of mailboxes (SELECTED or
 * SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES) and
 * the events it wants about each; the server then sends them by itself,
 * between commands and during IDLE, not only at command boundaries.
 *
 * How changes are found: the change hub (store-notify.c) carries no data,
 * so the session keeps a small picture of what it watches and compares.
 * It waits (struct store_waiter, no descriptor) on its own account and on
 * the owner of every mailbox shared with it, and on the selected mailbox;
 * the connection's poll hook (about every 200 ms, imap_notify_poll) tests
 * the flags and, when one was set, lists the mailboxes again (one query
 * for the account, one for the shared ones) and compares them with the
 * picture: a new id is a created mailbox, a missing one a deleted one, a
 * new name a rename (MailboxName: LIST, with \NonExistent or OLDNAME); a
 * moved HIGHESTMODSEQ or UIDNEXT reads the mailbox's STATUS numbers, and
 * a change of MESSAGES/UIDNEXT/UIDVALIDITY is told as STATUS for
 * MessageNew/MessageExpunge, of UNSEEN/HIGHESTMODSEQ for FlagChange; the
 * subscription list is compared the same way (SubscriptionChange: LIST
 * with or without \Subscribed). METADATA entries are read again only when
 * the store's metadata generation moved, and compared as (name, size,
 * hash) per mailbox and for the server (unsolicited METADATA with the
 * changed entry names). The selected mailbox is synced like IDLE does
 * (EXPUNGE held back with SELECTED-DELAYED), and MessageNew's fetch
 * attributes run as an internal UID FETCH of the new messages.
 * ACL: only the account's own mailboxes and those it may look up ('l')
 * are watched; STATUS and METADATA of a shared one need 'r' too.
 * Bounds: at most NOTIFY_MAX_NAMES mailbox names in one command and
 * NOTIFY_MAX_OWNERS other owners watched; when more than
 * NOTIFY_OUTPUT_MAX octets wait unsent, the server says
 * "* OK [NOTIFICATIONOVERFLOW]" and stops notifying (as NOTIFY NONE).
 * AnnotationChange needs per-message annotations (RFC 5257), which
 * facteur does not have: NO [BADEVENT].
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOTIFY_MAX_NAMES 200
#define NOTIFY_MAX_FILTERS 20
#define NOTIFY_MAX_OWNERS 64
#define NOTIFY_OUTPUT_MAX (1024 * 1024)

enum notify_event {
	EV_MESSAGE_NEW = 1 << 0,
	EV_MESSAGE_EXPUNGE = 1 << 1,
	EV_FLAG_CHANGE = 1 << 2,
	EV_ANNOTATION_CHANGE = 1 << 3,
	EV_MAILBOX_NAME = 1 << 4,
	EV_SUBSCRIPTION_CHANGE = 1 << 5,
	EV_MAILBOX_METADATA = 1 << 6,
	EV_SERVER_METADATA = 1 << 7,
};

static const struct {
	const char *name;
	uint32_t bit;
} event_names[] = {
	{"MessageNew", EV_MESSAGE_NEW},
	{"MessageExpunge", EV_MESSAGE_EXPUNGE},
	{"FlagChange", EV_FLAG_CHANGE},
	{"AnnotationChange", EV_ANNOTATION_CHANGE},
	{"MailboxName", EV_MAILBOX_NAME},
	{"SubscriptionChange", EV_SUBSCRIPTION_CHANGE},
	{"MailboxMetadataChange", EV_MAILBOX_METADATA},
	{"ServerMetadataChange", EV_SERVER_METADATA},
};
#define EV_SUPPORTED (0xffu & ~(uint32_t)EV_ANNOTATION_CHANGE)
#define EV_MESSAGE (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE | EV_FLAG_CHANGE)

enum notify_kind {
	NK_SELECTED,
	NK_SELECTED_DELAYED,
	NK_INBOXES,
	NK_PERSONAL,
	NK_SUBSCRIBED,
	NK_SUBTREE,
	NK_MAILBOXES,
};

/* Subscribed names. */
struct notify_strs {
	char **v;
	size_t n, cap;
};

static void strs_add(struct notify_strs *l, const char *str)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(str);
}

static void strs_free(struct notify_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct notify_strs){0};
}

struct notify_filter {
	enum notify_kind kind;
	char **names; /* SUBTREE, MAILBOXES: UTF-8 names as the client sees them */
	size_t n_names;
	uint32_t events;
};

/* What the session last knew of one watched mailbox. */
struct notify_mbox {
	int64_t id;
	char *name; /* as the client sees it (UTF-8) */
	bool own;
	uint32_t rights;
	uint64_t highestmodseq;
	uint32_t uidnext;
	bool have_status;
	struct store_mailbox_status st;
	char *meta; /* entry digest, NULL when not read */
};

struct notify_list {
	struct notify_mbox *v;
	size_t n, cap;
};

struct imap_notify {
	struct notify_filter filters[NOTIFY_MAX_FILTERS];
	size_t n_filters;
	int selected; /* -1 none, else NK_SELECTED or NK_SELECTED_DELAYED */
	uint32_t selected_events;
	char *fetch_att; /* MessageNew's attributes for the selected mailbox, or NULL */
	struct store_waiter *owners[NOTIFY_MAX_OWNERS + 1]; /* [0]: own account */
	size_t n_owners;
	struct store_waiter sel_waiter;
	struct notify_list mbs;
	struct notify_strs subs;
	uint64_t md_gen;
	uint64_t acl_gen; /* store_acl_generation at the last rescan */
	char *server_meta;
};

/* --- freeing ----------------------------------------------------------- */

static void list_free(struct notify_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].meta);
	}
	free(l->v);
	*l = (struct notify_list){0};
}

void imap_notify_free(struct imap_notify **np)
{
	struct imap_notify *n = *np;
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n_owners; i++) {
		store_notify_unwait(n->owners[i]);
		free(n->owners[i]);
	}
	store_notify_unwait(&n->sel_waiter);
	for (size_t i = 0; i < n->n_filters; i++) {
		for (size_t k = 0; k < n->filters[i].n_names; k++)
			free(n->filters[i].names[k]);
		free(n->filters[i].names);
	}
	list_free(&n->mbs);
	strs_free(&n->subs);
	free(n->fetch_att);
	free(n->server_meta);
	free(n);
	*np = NULL;
}

/* --- matching ------------------------------------------------------------ */

static bool subscribed(const struct imap_notify *n, const char *name)
{
	for (size_t i = 0; i < n->subs.n; i++) {
		if (strcmp(n->subs.v[i], name) == 0)
			return true;
	}
	return false;
}

static bool filter_match(const struct imap_notify *n, const struct notify_filter *f,
			 const char *name, bool own)
{
	switch (f->kind) {
	case NK_INBOXES:
		return own && strcmp(name, "INBOX") == 0;
	case NK_PERSONAL:
		return own;
	case NK_SUBSCRIBED:
		return subscribed(n, name);
	case NK_SUBTREE:
		for (size_t i = 0; i < f->n_names; i++) {
			size_t len = strlen(f->names[i]);
			if (strncmp(name, f->names[i], len) == 0 &&
			    (name[len] == '\0' || name[len] == '/'))
				return true;
		}
		return false;
	case NK_MAILBOXES:
		for (size_t i = 0; i < f->n_names; i++) {
			if (strcmp(name, f->names[i]) == 0)
				return true;
		}
		return false;
	default:
		return false;
	}
}

/* The events wanted about a mailbox other than the selected one. */
static uint32_t events_for(const struct imap_notify *n, const char *name, bool own)
{
	uint32_t ev = 0;
	for (size_t i = 0; i < n->n_filters; i++) {
		if (filter_match(n, &n->filters[i], name, own))
			ev |= n->filters[i].events;
	}
	return ev;
}

static uint32_t events_any(const struct imap_notify *n)
{
	uint32_t ev = 0;
	for (size_t i = 0; i < n->n_filters; i++)
		ev |= n->filters[i].events;
	return ev;
}

/* --- the picture of the watched mailboxes ------------------------------- */

static struct notify_mbox *list_add(struct notify_list *l, int64_t id, const char *name, bool own,
				    uint32_t rights, uint64_t hms, uint32_t uidnext)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct notify_mbox *m = &l->v[l->n++];
	*m = (struct notify_mbox){
		.id = id,
		.name = xstrdup(name),
		.own = own,
		.rights = rights,
		.highestmodseq = hms,
		.uidnext = uidnext,
	};
	return m;
}

static void own_cb(void *ctx, const struct store_mailbox *m)
{
	list_add(ctx, m->id, m->name, true, STORE_RIGHTS_ALL, m->highestmodseq, m->uidnext);
}

struct shared_ctx {
	struct notify_list *l;
	int64_t owners[NOTIFY_MAX_OWNERS];
	size_t n_owners;
};

static void shared_cb(void *ctx, const struct store_shared_mailbox *m)
{
	struct shared_ctx *c = ctx;
	if ((m->rights & STORE_RIGHT_LOOKUP) == 0)
		return;
	char *name = imap_acl_external_name(m);
	list_add(c->l, m->mailbox.id, name, false, m->rights, m->mailbox.highestmodseq,
		 m->mailbox.uidnext);
	free(name);
	for (size_t i = 0; i < c->n_owners; i++) {
		if (c->owners[i] == m->mailbox.account_id)
			return;
	}
	if (c->n_owners < NOTIFY_MAX_OWNERS)
		c->owners[c->n_owners++] = m->mailbox.account_id;
}

static void sub_cb(void *ctx, const char *name)
{
	strs_add(ctx, name);
}

static bool waiting_on(const struct imap_notify *n, int64_t account)
{
	for (size_t i = 0; i < n->n_owners; i++) {
		if (n->owners[i]->account_id == account)
			return true;
	}
	return false;
}

static void wait_on(struct imap_notify *n, int64_t account)
{
	if (waiting_on(n, account) || n->n_owners > NOTIFY_MAX_OWNERS)
		return;
	struct store_waiter *w = xcalloc(1, sizeof(*w));
	store_notify_wait_account(w, account);
	n->owners[n->n_owners++] = w;
}

/* List what is watched now: 0 / -1. */
static int read_list(struct imap_session *s, struct notify_list *l, struct notify_strs *subs)
{
	struct imap_notify *n = s->notify;
	struct shared_ctx sc = {.l = l};
	n->acl_gen = store_acl_generation();
	if (store_mailbox_list(s->store, s->account.id, own_cb, l) < 0 ||
	    store_acl_shared_list(s->store, s->account.id, shared_cb, &sc) < 0 ||
	    store_subscription_list(s->store, s->account.id, sub_cb, subs) < 0)
		return -1;
	wait_on(n, s->account.id);
	for (size_t i = 0; i < sc.n_owners; i++)
		wait_on(n, sc.owners[i]);
	return 0;
}

/* --- metadata digests ----------------------------------------------------- */

static uint64_t fnv(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static void digest_cb(void *ctx, const char *name, const char *value, size_t len)
{
	buf_printf(ctx, "%s %zu %016" PRIx64 "\n", name, len, fnv(value, len));
}

/* "name size hash\n" per entry the account sees, in name order (malloc'd). */
static char *meta_digest(struct imap_session *s, int64_t mailbox_id)
{
	struct buf b;
	buf_init(&b);
	if (store_metadata_get(s->store, mailbox_id, s->account.id, "", 0, digest_cb, &b) < 0) {
		buf_deinit(&b);
		return NULL;
	}
	char *d = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return d;
}

/* Does the space-separated list out[start..len) hold name (nlen octets)? */
static bool names_have(const struct buf *out, size_t start, const char *name, size_t nlen)
{
	size_t i = start;
	while (i < out->len) {
		const char *sp = memchr(out->data + i, ' ', out->len - i);
		size_t end = sp != NULL ? (size_t)(sp - out->data) : out->len;
		if (end - i == nlen && memcmp(out->data + i, name, nlen) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/* Is the line (len octets, '\n' included) one of digest's lines? */
static bool digest_has(const char *digest, const char *line, size_t len)
{
	for (const char *q = digest; *q != '\0';) {
		const char *qe = strchr(q, '\n');
		if ((size_t)(qe - q) + 1 == len && memcmp(line, q, len) == 0)
			return true;
		q = qe + 1;
	}
	return false;
}

/* The entry names whose line differs between two digests, space-separated. */
static void digest_diff(const char *a, const char *b, struct buf *out)
{
	size_t start = out->len;
	const char *d[2] = {a != NULL ? a : "", b != NULL ? b : ""};
	for (int side = 0; side < 2; side++) {
		for (const char *p = d[side]; *p != '\0';) {
			size_t len = (size_t)(strchr(p, '\n') - p) + 1;
			size_t nlen = strcspn(p, " ");
			/* A changed entry shows on both sides: named once. */
			if (!digest_has(d[1 - side], p, len) && !names_have(out, start, p, nlen)) {
				if (out->len > start)
					buf_append(out, " ", 1);
				buf_append(out, p, nlen);
			}
			p += len;
		}
	}
}

static void write_metadata_change(struct imap_session *s, struct buf *out, const char *name,
				  const char *old, const char *now)
{
	struct buf names;
	buf_init(&names);
	digest_diff(old, now, &names);
	if (names.len > 0) {
		buf_append_str(out, "* METADATA ");
		if (name == NULL)
			buf_append_str(out, "\"\"");
		else
			imap_write_mailbox_name(s, out, name);
		buf_append(out, " ", 1);
		buf_append(out, names.data, names.len);
		buf_append_str(out, "\r\n");
	}
	buf_deinit(&names);
}

/* --- writing events ----------------------------------------------------- */

static void write_status(struct imap_session *s, struct buf *out, const struct notify_mbox *m)
{
	buf_append_str(out, "* STATUS ");
	imap_write_mailbox_name(s, out, m->name);
	buf_printf(out,
		   " (MESSAGES %" PRIu32 " UIDNEXT %" PRIu32 " UIDVALIDITY %" PRIu32
		   " UNSEEN %" PRIu32,
		   m->st.messages, m->st.uidnext, m->st.uidvalidity, m->st.unseen);
	if (s->condstore)
		buf_printf(out, " HIGHESTMODSEQ %" PRIu64, m->st.highestmodseq);
	buf_append_str(out, ")\r\n");
}

static void write_list(struct imap_session *s, struct buf *out, const char *attrs, const char *name,
		       const char *old_name)
{
	buf_printf(out, "* LIST (%s) \"/\" ", attrs);
	imap_write_mailbox_name(s, out, name);
	if (old_name != NULL) {
		buf_append_str(out, " (\"OLDNAME\" (");
		imap_write_mailbox_name(s, out, old_name);
		buf_append_str(out, "))");
	}
	buf_append_str(out, "\r\n");
}

static bool is_selected(const struct imap_session *s, int64_t id)
{
	return s->state == IMAP_STATE_SELECTED && s->view != NULL && s->view->mailbox_id == id;
}

/* Read m's STATUS numbers: true when they could be read. */
static bool read_status(struct imap_session *s, struct notify_mbox *m)
{
	if ((m->rights & STORE_RIGHT_READ) == 0)
		return false;
	m->have_status = store_mailbox_status(s->store, m->id, &m->st) > 0;
	return m->have_status;
}

/* One mailbox present before and now: what changed in it. */
static void compare_mailbox(struct imap_session *s, struct buf *out, struct notify_mbox *old,
			    struct notify_mbox *now, bool md_moved)
{
	struct imap_notify *n = s->notify;
	uint32_t ev = events_for(n, now->name, now->own) | events_for(n, old->name, old->own);
	if (strcmp(old->name, now->name) != 0 && (ev & EV_MAILBOX_NAME) != 0)
		write_list(s, out, "", now->name, old->name);
	now->have_status = old->have_status;
	now->st = old->st;
	bool moved = old->highestmodseq != now->highestmodseq || old->uidnext != now->uidnext;
	if (moved && (ev & EV_MESSAGE) != 0 && !is_selected(s, now->id)) {
		struct store_mailbox_status was = old->st;
		bool had = old->have_status;
		if (read_status(s, now) && had) {
			bool msgs = was.messages != now->st.messages ||
				was.uidnext != now->st.uidnext ||
				was.uidvalidity != now->st.uidvalidity;
			bool flags = was.unseen != now->st.unseen ||
				was.highestmodseq != now->st.highestmodseq;
			if ((msgs && (ev & (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE)) != 0) ||
			    (flags && (ev & EV_FLAG_CHANGE) != 0))
				write_status(s, out, now);
		}
	}
	now->meta = old->meta;
	old->meta = NULL;
	if (md_moved && (ev & EV_MAILBOX_METADATA) != 0 && (now->rights & STORE_RIGHT_READ) != 0) {
		char *d = meta_digest(s, now->id);
		if (d != NULL) {
			write_metadata_change(s, out, now->name, now->meta, d);
			free(now->meta);
			now->meta = d;
		}
	}
}

static struct notify_mbox *list_find(struct notify_list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].id == id)
			return &l->v[i];
	}
	return NULL;
}

static void compare_subscriptions(struct imap_session *s, struct buf *out,
				  const struct notify_strs *was)
{
	struct imap_notify *n = s->notify;
	const struct notify_strs *lists[2] = {&n->subs, was};
	for (int side = 0; side < 2; side++) {
		for (size_t i = 0; i < lists[side]->n; i++) {
			const char *name = lists[side]->v[i];
			bool other = false;
			for (size_t k = 0; k < lists[1 - side]->n && !other; k++)
				other = strcmp(lists[1 - side]->v[k], name) == 0;
			if (other)
				continue;
			/* Filters match either picture (SUBSCRIBED before or after). */
			struct notify_mbox *m = NULL;
			for (size_t k = 0; k < n->mbs.n && m == NULL; k++) {
				if (strcmp(n->mbs.v[k].name, name) == 0)
					m = &n->mbs.v[k];
			}
			bool own = m == NULL || m->own;
			uint32_t ev = 0;
			for (size_t f = 0; f < n->n_filters; f++) {
				if (n->filters[f].kind == NK_SUBSCRIBED ||
				    filter_match(n, &n->filters[f], name, own))
					ev |= n->filters[f].events;
			}
			if ((ev & EV_SUBSCRIPTION_CHANGE) != 0)
				write_list(s, out, side == 0 ? "\\Subscribed" : "", name, NULL);
		}
	}
}

/* Read the watched state again and tell what changed (emit false: only read). */
static int rescan(struct imap_session *s, struct buf *out, bool emit)
{
	struct imap_notify *n = s->notify;
	struct notify_list now = {0};
	struct notify_strs was = n->subs;
	n->subs = (struct notify_strs){0};
	if (read_list(s, &now, &n->subs) < 0) {
		list_free(&now);
		strs_free(&n->subs);
		n->subs = was;
		return -1;
	}
	uint64_t gen = store_metadata_generation();
	bool md_moved = gen != n->md_gen || !emit;
	n->md_gen = gen;
	for (size_t i = 0; i < now.n; i++) {
		struct notify_mbox *m = &now.v[i];
		struct notify_mbox *old = emit ? list_find(&n->mbs, m->id) : NULL;
		if (old != NULL) {
			compare_mailbox(s, out, old, m, md_moved);
			continue;
		}
		uint32_t ev = events_for(n, m->name, m->own);
		if (emit && (ev & EV_MAILBOX_NAME) != 0)
			write_list(s, out, "", m->name, NULL);
		if ((ev & EV_MESSAGE) != 0)
			read_status(s, m);
		if ((ev & EV_MAILBOX_METADATA) != 0 && (m->rights & STORE_RIGHT_READ) != 0)
			m->meta = meta_digest(s, m->id);
	}
	for (size_t i = 0; emit && i < n->mbs.n; i++) {
		struct notify_mbox *old = &n->mbs.v[i];
		if (list_find(&now, old->id) == NULL &&
		    (events_for(n, old->name, old->own) & EV_MAILBOX_NAME) != 0)
			write_list(s, out, "\\NonExistent", old->name, NULL);
	}
	if (emit)
		compare_subscriptions(s, out, &was);
	strs_free(&was);
	list_free(&n->mbs);
	n->mbs = now;
	if (md_moved && (events_any(n) & EV_SERVER_METADATA) != 0) {
		char *d = meta_digest(s, 0);
		if (d != NULL) {
			if (emit)
				write_metadata_change(s, out, NULL, n->server_meta, d);
			free(n->server_meta);
			n->server_meta = d;
		}
	}
	return 0;
}

/* --- the selected mailbox ------------------------------------------------- */

/* UID FETCH of the view's messages from index from on, untagged output only. */
static void fetch_new(struct imap_session *s, struct buf *out, size_t from)
{
	struct imap_notify *n = s->notify;
	uint32_t *uids = xcalloc(s->view->count - from, sizeof(*uids));
	size_t k = 0;
	for (size_t i = from; i < s->view->count; i++) {
		if ((s->view->flags[i] & IMAP_VIEW_EXPUNGED) == 0)
			uids[k++] = s->view->uids[i];
	}
	if (k == 0) {
		free(uids);
		return;
	}
	struct buf text, tmp;
	buf_init(&text);
	buf_init(&tmp);
	buf_append_str(&text, "N FETCH ");
	imap_seqset_write(&text, uids, k);
	buf_printf(&text, " %s\r\n", n->fetch_att);
	free(uids);
	struct imap_parser_limits lim = {
		.line_max = IMAP_LINE_MAX,
		.literal_max = IMAP_LITERAL_MAX,
		.append_literal_max = IMAP_LITERAL_MAX,
		.command_max = IMAP_LINE_MAX * 2,
	};
	struct imap_parser *p = imap_parser_create(&lim);
	const char *tag, *name, *error;
	const struct imap_arg *args;
	if (imap_parser_scan(p, &text, &tmp) == IMAP_SCAN_COMMAND &&
	    imap_parser_parse(p, &tag, &name, &args, &error) == 0) {
		buf_clear(&tmp);
		struct imap_cmd c = {
			.session = s,
			.def = imap_command_find("FETCH"),
			.tag = "N",
			.name = "FETCH",
			.args = args,
			.uid = true,
		};
		enum imap_cmd_ret r = cmd_fetch(&c, &tmp);
		while (r == IMAP_CMD_MORE && c.func != NULL) {
			imap_cmd_func_t *f = c.func;
			c.func = NULL;
			r = f(&c, &tmp);
		}
		if (c.free_context != NULL && c.context != NULL)
			c.free_context(c.context);
		imap_cmd_write_release(&c);
		/* Keep the untagged responses, drop the tagged line. */
		size_t end = tmp.len >= 2 ? tmp.len - 2 : 0, cut = 0;
		for (size_t i = end; i >= 2; i--) {
			if (tmp.data[i - 2] == '\r' && tmp.data[i - 1] == '\n') {
				cut = i;
				break;
			}
		}
		buf_append(out, tmp.data, cut);
	}
	imap_parser_destroy(&p);
	buf_deinit(&text);
	buf_deinit(&tmp);
}

static void sync_selected(struct imap_session *s, struct buf *out)
{
	struct imap_notify *n = s->notify;
	if (s->view == NULL || !imap_acl_view_ok(s))
		return;
	size_t before = s->view->count;
	if (imap_view_sync(s, out, n->selected == NK_SELECTED) < 0)
		return;
	if (n->fetch_att != NULL && s->view->count > before)
		fetch_new(s, out, before);
}

/* --- polling ---------------------------------------------------------------- */

enum conn_result imap_notify_poll(struct imap_session *s, struct buf *out)
{
	struct imap_notify *n = s->notify;
	if (n == NULL || s->closing)
		return CONN_OK;
	bool in_idle = s->cmd_active && s->cmd.line_func != NULL;
	if (s->cmd_active && !in_idle)
		return CONN_OK;
	if (out->len > NOTIFY_OUTPUT_MAX) {
		log_info("imap.notify_overflow", "session=%s", s->session_id);
		buf_append_str(out,
			       "* OK [NOTIFICATIONOVERFLOW] Too many events; NOTIFY is off\r\n");
		imap_notify_free(&s->notify);
		return CONN_OK;
	}
	/* Follow the selected mailbox. */
	int64_t sel = s->state == IMAP_STATE_SELECTED && s->view != NULL ? s->view->mailbox_id : 0;
	bool sel_fired = false;
	if (n->selected >= 0 && n->sel_waiter.mailbox_id != sel) {
		store_notify_unwait(&n->sel_waiter);
		if (sel > 0)
			store_notify_wait(&n->sel_waiter, sel);
	} else if (sel > 0 && n->selected >= 0) {
		sel_fired = store_waiter_fired(&n->sel_waiter);
	}
	bool fired = false;
	for (size_t i = 0; i < n->n_owners; i++)
		fired |= store_waiter_fired(n->owners[i]);
	/* A grant or revoke anywhere: the shared mailboxes may have changed. */
	fired |= store_acl_generation() != n->acl_gen;
	if (sel_fired)
		sync_selected(s, out);
	if (fired && rescan(s, out, true) < 0)
		log_warn("imap.notify_error", "session=%s", s->session_id);
	return CONN_OK;
}

/* --- NOTIFY SET / NONE ------------------------------------------------------ */

static bool fetch_att_ok(const char *a)
{
	static const char *const plain[] = {
		"FLAGS",         "INTERNALDATE",  "RFC822.SIZE", "ENVELOPE", "BODY",
		"BODYSTRUCTURE", "UID",           "MODSEQ",      "SAVEDATE", "EMAILID",
		"THREADID",      "RFC822.HEADER", "ALL",         "FAST",     "FULL",
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (strcasecmp(a, plain[i]) == 0)
			return true;
	}
	/* Sections only in forms that do not set \Seen. */
	return strncasecmp(a, "BODY.PEEK[", 10) == 0 || strncasecmp(a, "BINARY.PEEK[", 12) == 0 ||
		strncasecmp(a, "BINARY.SIZE[", 12) == 0;
}

struct notify_parse {
	struct imap_notify *n;
	size_t n_names;
	bool bad_event; /* a known event this server does not offer */
	const char *error;
};

static int parse_events(struct imap_session *s, struct notify_parse *p, struct notify_filter *f,
			const struct imap_arg *arg)
{
	const struct imap_arg *list;
	if (imap_arg_atom_equals(arg, "NONE"))
		return 0;
	size_t count;
	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		p->error = "Expected a list of events or NONE";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		const char *name;
		if (!imap_arg_get_atom(&list[i], &name)) {
			p->error = "Invalid event";
			return -1;
		}
		uint32_t bit = 0;
		for (size_t k = 0; k < sizeof(event_names) / sizeof(event_names[0]); k++) {
			if (strcasecmp(name, event_names[k].name) == 0)
				bit = event_names[k].bit;
		}
		if (bit == 0) {
			p->error = "Unknown event";
			return -1;
		}
		if ((bit & EV_SUPPORTED) == 0)
			p->bad_event = true;
		f->events |= bit;
		if (bit != EV_MESSAGE_NEW || list[i + 1].type != IMAP_ARG_LIST)
			continue;
		/* MessageNew (fetch-att ...): the selected mailbox only. */
		i++;
		if (f->kind != NK_SELECTED && f->kind != NK_SELECTED_DELAYED) {
			p->error = "Fetch attributes are for the selected mailbox only";
			return -1;
		}
		const struct imap_arg *atts;
		size_t n_atts;
		imap_arg_get_list(&list[i], &atts, &n_atts);
		struct buf b;
		buf_init(&b);
		buf_append(&b, "(", 1);
		for (size_t k = 0; k < n_atts; k++) {
			const char *a;
			if (!imap_arg_get_atom(&atts[k], &a) || !fetch_att_ok(a)) {
				buf_deinit(&b);
				p->error = "Invalid fetch attribute (sections need .PEEK)";
				return -1;
			}
			if (k > 0)
				buf_append(&b, " ", 1);
			buf_append_str(&b, a);
		}
		buf_append(&b, ")", 1);
		if (n_atts > 0) {
			free(p->n->fetch_att);
			p->n->fetch_att = xstrdup(buf_cstr(&b));
		}
		buf_deinit(&b);
	}
	uint32_t msg = f->events & (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE);
	if ((msg != 0 && msg != (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE)) ||
	    ((f->events & (EV_FLAG_CHANGE | EV_ANNOTATION_CHANGE)) != 0 && msg == 0)) {
		p->error = "MessageNew and MessageExpunge go together, and FlagChange needs both";
		return -1;
	}
	(void)s;
	return 0;
}

static int parse_names(struct imap_session *s, struct notify_parse *p, struct notify_filter *f,
		       const struct imap_arg *arg)
{
	const struct imap_arg *list = arg;
	size_t count = 1;
	if (arg->type == IMAP_ARG_LIST && !imap_arg_get_list(arg, &list, &count))
		return -1;
	if (count == 0) {
		p->error = "Expected one or more mailboxes";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		const char *wire;
		char *name;
		if (!imap_arg_get_astring(&list[i], &wire)) {
			p->error = "Expected a mailbox name";
			return -1;
		}
		if (++p->n_names > NOTIFY_MAX_NAMES) {
			p->error = "Too many mailbox names";
			return -1;
		}
		if (imap_mailbox_name_from_client(s, wire, &name, &p->error) < 0)
			return -1;
		f->names = xrealloc(f->names, (f->n_names + 1) * sizeof(*f->names));
		f->names[f->n_names++] = name;
	}
	return 0;
}

static const struct {
	const char *name;
	enum notify_kind kind;
} kind_names[] = {
	{"SELECTED", NK_SELECTED},     {"SELECTED-DELAYED", NK_SELECTED_DELAYED},
	{"INBOXES", NK_INBOXES},       {"PERSONAL", NK_PERSONAL},
	{"SUBSCRIBED", NK_SUBSCRIBED}, {"SUBTREE", NK_SUBTREE},
	{"MAILBOXES", NK_MAILBOXES},
};

/* One "(filter events)" group. */
static int parse_group(struct imap_session *s, struct notify_parse *p, const struct imap_arg *arg)
{
	const struct imap_arg *list;
	size_t count;
	const char *kname;
	if (!imap_arg_get_list(arg, &list, &count) || count < 2 ||
	    !imap_arg_get_atom(&list[0], &kname)) {
		p->error = "Expected (filter events)";
		return -1;
	}
	int kind = -1;
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcasecmp(kname, kind_names[i].name) == 0)
			kind = (int)kind_names[i].kind;
	}
	if (kind < 0) {
		p->error = "Unknown mailbox filter";
		return -1;
	}
	struct imap_notify *n = p->n;
	if (n->n_filters == NOTIFY_MAX_FILTERS) {
		p->error = "Too many filters";
		return -1;
	}
	struct notify_filter *f = &n->filters[n->n_filters++];
	f->kind = (enum notify_kind)kind;
	size_t ev_at = 1;
	if (kind == NK_SUBTREE || kind == NK_MAILBOXES) {
		if (count != 3 || parse_names(s, p, f, &list[1]) < 0) {
			p->error = p->error != NULL ? p->error : "Expected mailboxes and events";
			return -1;
		}
		ev_at = 2;
	} else if (count != 2) {
		p->error = "Expected (filter events)";
		return -1;
	}
	if (parse_events(s, p, f, &list[ev_at]) < 0)
		return -1;
	if (kind == NK_SELECTED || kind == NK_SELECTED_DELAYED) {
		if (n->selected >= 0) {
			p->error = "SELECTED given twice";
			return -1;
		}
		n->selected = kind;
		n->selected_events = f->events;
		n->n_filters--; /* kept apart from the mailbox filters */
	}
	return 0;
}

static void status_initial(struct imap_session *s, struct buf *out)
{
	struct imap_notify *n = s->notify;
	for (size_t i = 0; i < n->mbs.n; i++) {
		struct notify_mbox *m = &n->mbs.v[i];
		if ((events_for(n, m->name, m->own) & EV_MESSAGE) != 0 && m->have_status &&
		    !is_selected(s, m->id))
			write_status(s, out, m);
	}
}

/* NOTIFY NONE | NOTIFY SET [STATUS] group... */
enum imap_cmd_ret cmd_notify(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *args = cmd->args;
	if (imap_arg_atom_equals(&args[0], "NONE")) {
		if (!imap_arg_is_eol(&args[1]))
			return imap_cmd_bad(cmd, out, "NOTIFY NONE takes no arguments");
		imap_notify_free(&s->notify);
		return imap_cmd_ok(cmd, out, "NOTIFY done");
	}
	if (!imap_arg_atom_equals(&args[0], "SET"))
		return imap_cmd_bad(cmd, out, "Expected NOTIFY SET or NOTIFY NONE");
	size_t i = 1;
	bool status = false;
	if (imap_arg_atom_equals(&args[i], "STATUS")) {
		status = true;
		i++;
	}
	if (imap_arg_is_eol(&args[i]))
		return imap_cmd_bad(cmd, out, "Expected at least one event group");
	struct imap_notify *n = xcalloc(1, sizeof(*n));
	n->selected = -1;
	struct notify_parse p = {.n = n};
	for (; !imap_arg_is_eol(&args[i]); i++) {
		if (parse_group(s, &p, &args[i]) < 0) {
			imap_notify_free(&n);
			return imap_cmd_bad(cmd, out, "%s", p.error);
		}
	}
	if (p.bad_event) {
		imap_notify_free(&n);
		return imap_cmd_no(
			cmd, out,
			"[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName"
			" SubscriptionChange MailboxMetadataChange ServerMetadataChange)]"
			" AnnotationChange is not supported");
	}
	/* The new settings replace the old ones (RFC 5465 3). */
	imap_notify_free(&s->notify);
	s->notify = n;
	if (rescan(s, out, false) < 0) {
		imap_notify_free(&s->notify);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailboxes");
	}
	if (n->selected >= 0 && s->view != NULL)
		store_notify_wait(&n->sel_waiter, s->view->mailbox_id);
	if (status)
		status_initial(s, out);
	return imap_cmd_ok(cmd, out, "NOTIFY done");
}
