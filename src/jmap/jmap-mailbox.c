/* SPDX-License-Identifier: MIT */
/*
 * Mailbox/get, /changes, /query, /queryChanges and /set over the store's
 * mailboxes. The store names mailboxes by their full path with '/' as the
 * separator; JMAP sees a tree: a mailbox "a/b" whose parent "a" exists has
 * name "b" and parentId of "a" (without such a parent it is top-level and
 * keeps its full name). Roles come from the special-use attribute (INBOX
 * is "inbox"); sortOrder is derived from the role. A rename or a move
 * under another parent is one store rename, which carries the children.
 */
#include "jmap/jmap-private.h"

#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mbox {
	struct store_mailbox m;
	int64_t parent;   /* 0: top-level */
	const char *name; /* inside m.name: the last component, or all of it */
	bool subscribed;
};

struct mbox_list {
	struct mbox *v;
	size_t n, cap;
};

static void mbox_add(void *ctx, const struct store_mailbox *m)
{
	struct mbox_list *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	l->v[l->n++].m = *m;
}

struct sub_ctx {
	struct mbox_list *l;
};

static void sub_mark(void *ctx, const char *name)
{
	struct mbox_list *l = ctx;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].m.name, name) == 0)
			l->v[i].subscribed = true;
}

static struct mbox *mbox_by_name(struct mbox_list *l, const char *name, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i].m.name) == len && strncmp(l->v[i].m.name, name, len) == 0)
			return &l->v[i];
	return NULL;
}

static struct mbox *mbox_by_id(struct mbox_list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].m.id == id)
			return &l->v[i];
	return NULL;
}

/* The user's subscriptions name shared mailboxes as IMAP does (RFC 2342). */
struct shared_sub_ctx {
	struct mbox_list *l;
	struct jmap_ctx *c;
};

static void shared_sub_mark(void *ctx, const char *name)
{
	struct shared_sub_ctx *x = ctx;
	for (size_t i = 0; i < x->c->n_grants; i++) {
		const struct store_shared_mailbox *g = &x->c->grants[i].m;
		char full[1024];
		snprintf(full, sizeof(full), "%s/%s/%s",
			 g->public_folder ? "Shared Folders" : "Other Users", g->owner,
			 g->mailbox.name);
		if (strcmp(full, name) == 0)
			sub_mark(x->l, g->mailbox.name);
	}
}

/*
 * A shared account: the mailboxes the user may look up, with counts as
 * the user sees them (its own \Seen).
 */
static int mbox_load_shared(struct jmap_ctx *c, struct mbox_list *l)
{
	for (size_t i = 0; i < c->n_grants; i++) {
		struct store_mailbox m = c->grants[i].m.mailbox;
		struct store_mailbox_status st;
		if (c->grants[i].m.rights & STORE_RIGHT_READ) {
			if (store_mailbox_status(c->store, m.id, &st) < 0)
				return -1;
			m.messages = st.messages;
			m.unseen = st.unseen;
		}
		mbox_add(l, &m);
	}
	struct shared_sub_ctx x = {l, c};
	return store_subscription_list(c->store, c->user_id, shared_sub_mark, &x);
}

static int mbox_load(struct jmap_ctx *c, struct mbox_list *l)
{
	memset(l, 0, sizeof(*l));
	if (c->shared ? mbox_load_shared(c, l) < 0
		      : store_mailbox_list(c->store, c->account_id, mbox_add, l) < 0 ||
			    store_subscription_list(c->store, c->account_id, sub_mark, l) < 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		struct mbox *b = &l->v[i];
		b->name = b->m.name;
		const char *slash = strrchr(b->m.name, '/');
		if (slash != NULL) {
			struct mbox *p = mbox_by_name(l, b->m.name, (size_t)(slash - b->m.name));
			if (p != NULL) {
				b->parent = p->m.id;
				b->name = slash + 1;
			}
		}
	}
	return 0;
}

static void mbox_free(struct mbox_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static const struct {
	const char *special;
	const char *role;
	int order;
} roles[] = {
	{"", "inbox", 1},      {"\\Drafts", "drafts", 2},
	{"\\Sent", "sent", 3}, {"\\Archive", "archive", 4},
	{"\\Junk", "junk", 5}, {"\\Trash", "trash", 6},
	{"\\All", "all", 7},   {"\\Flagged", "flagged", 8},
};

static const char *mbox_role(const struct mbox *b)
{
	if (strcmp(b->m.name, "INBOX") == 0)
		return "inbox";
	for (size_t i = 1; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcasecmp(b->m.special_use, roles[i].special) == 0)
			return roles[i].role;
	return NULL;
}

static int mbox_sort_order(const struct mbox *b)
{
	const char *role = mbox_role(b);
	for (size_t i = 0; role != NULL && i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].role, role) == 0)
			return roles[i].order;
	return 10;
}

static const char *role_special(const char *role)
{
	for (size_t i = 1; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].role, role) == 0)
			return roles[i].special;
	return NULL;
}

int jmap_mailbox_by_role(struct jmap_ctx *c, const char *role, int64_t *id_r)
{
	struct mbox_list l;
	if (mbox_load(c, &l) < 0) {
		mbox_free(&l);
		return -1;
	}
	int ret = 0;
	for (size_t i = 0; i < l.n && ret == 0; i++) {
		const char *r = mbox_role(&l.v[i]);
		if (r != NULL && strcmp(r, role) == 0) {
			*id_r = l.v[i].m.id;
			ret = 1;
		}
	}
	mbox_free(&l);
	return ret;
}

/* --- Mailbox/get ------------------------------------------------------- */

static const char *const mbox_props[] = {
	"id",           "name",         "parentId",      "role",     "sortOrder",    "totalEmails",
	"unreadEmails", "totalThreads", "unreadThreads", "myRights", "isSubscribed", NULL};

/*
 * myRights (RFC 8621 2) from the user's RFC 4314 rights on the mailbox
 * (all of them on its own): mayRemoveItems needs both t and e, as
 * removing is flagging and expunging; mayRename and mayDelete need x
 * (and are never given for INBOX); maySubmit is for the own account only.
 */
static json_t *mbox_rights_json(struct jmap_ctx *c, const struct mbox *b)
{
	uint32_t r = jmap_rights(c, b->m.id);
	bool inbox = !c->shared && strcmp(b->m.name, "INBOX") == 0;
	uint32_t remove = STORE_RIGHT_DELETE_MESSAGE | STORE_RIGHT_EXPUNGE;
	return json_pack("{s:b s:b s:b s:b s:b s:b s:b s:b s:b}", "mayReadItems",
			 (r & STORE_RIGHT_READ) != 0, "mayAddItems", (r & STORE_RIGHT_INSERT) != 0,
			 "mayRemoveItems", (r & remove) == remove, "maySetSeen",
			 (r & STORE_RIGHT_SEEN) != 0, "maySetKeywords",
			 (r & STORE_RIGHT_WRITE) != 0, "mayCreateChild",
			 (r & STORE_RIGHT_CREATE) != 0, "mayRename",
			 !inbox && (r & STORE_RIGHT_DELETE_MAILBOX) != 0, "mayDelete",
			 !inbox && (r & STORE_RIGHT_DELETE_MAILBOX) != 0, "maySubmit", !c->shared);
}

static json_t *mbox_json(struct jmap_ctx *c, const struct mbox *b, json_t *props)
{
	char id[24], pid[24];
	jmap_id(id, sizeof(id), 'm', b->m.id);
	json_t *j = json_pack("{s:s}", "id", id);
	if (jmap_want(props, "name"))
		json_object_set_new(j, "name", json_string(b->name));
	if (jmap_want(props, "parentId")) {
		jmap_id(pid, sizeof(pid), 'm', b->parent);
		json_object_set_new(j, "parentId", b->parent ? json_string(pid) : json_null());
	}
	if (jmap_want(props, "role")) {
		const char *role = mbox_role(b);
		json_object_set_new(j, "role", role ? json_string(role) : json_null());
	}
	if (jmap_want(props, "sortOrder"))
		json_object_set_new(j, "sortOrder", json_integer(mbox_sort_order(b)));
	if (jmap_want(props, "totalEmails"))
		json_object_set_new(j, "totalEmails", json_integer(b->m.messages));
	if (jmap_want(props, "unreadEmails"))
		json_object_set_new(j, "unreadEmails", json_integer(b->m.unseen));
	if (jmap_want(props, "totalThreads") || jmap_want(props, "unreadThreads")) {
		uint32_t total = 0, unread = 0;
		store_jmap_mailbox_threads(c->store, b->m.id, &total, &unread);
		if (jmap_want(props, "totalThreads"))
			json_object_set_new(j, "totalThreads", json_integer(total));
		if (jmap_want(props, "unreadThreads"))
			json_object_set_new(j, "unreadThreads", json_integer(unread));
	}
	if (jmap_want(props, "myRights"))
		json_object_set_new(j, "myRights", mbox_rights_json(c, b));
	if (jmap_want(props, "isSubscribed"))
		json_object_set_new(j, "isSubscribed", json_boolean(b->subscribed));
	return j;
}

int jmap_mailbox_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ids", "properties", NULL};
	json_t *ids, *props;
	struct mbox_list l;

	if (jmap_check_mail_account(c, args, res_r) < 0 ||
	    jmap_check_args(args, known, res_r) < 0 || jmap_get_ids(args, &ids, res_r) < 0 ||
	    jmap_get_props(args, mbox_props, NULL, &props, res_r) < 0)
		return -1;
	json_t *state = jmap_state_get(c, STORE_JMAP_MAILBOX);
	if (state == NULL || mbox_load(c, &l) < 0) {
		json_decref(state);
		return jmap_fail(res_r, "serverFail", NULL);
	}
	json_t *list = json_array(), *not_found = json_array();
	if (ids == NULL) {
		for (size_t i = 0; i < l.n; i++)
			json_array_append_new(list, mbox_json(c, &l.v[i], props));
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(ids, i, v)
		{
			int64_t id;
			struct mbox *b = NULL;
			if (jmap_id_parse(c, json_string_value(v), 'm', &id))
				b = mbox_by_id(&l, id);
			if (b != NULL)
				json_array_append_new(list, mbox_json(c, b, props));
			else
				json_array_append(not_found, v);
		}
	}
	mbox_free(&l);
	*res_r = json_pack("{s:s s:o s:o s:o}", "accountId", c->account, "state", state, "list",
			   list, "notFound", not_found);
	return 0;
}

int jmap_mailbox_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	return jmap_changes(c, args, STORE_JMAP_MAILBOX, 'm', NULL, res_r);
}

/* --- Mailbox/query ----------------------------------------------------- */

static int mbox_filter_ok(json_t *f, const struct mbox *b, struct jmap_ctx *c)
{
	const char *key;
	json_t *v;
	json_object_foreach(f, key, v)
	{
		if (strcmp(key, "parentId") == 0) {
			int64_t p = 0;
			if (!json_is_null(v) && !jmap_id_parse(c, json_string_value(v), 'm', &p))
				return 0;
			if (b->parent != p)
				return 0;
		} else if (strcmp(key, "name") == 0) {
			if (!jmap_contains_ci(b->name, json_string_value(v)))
				return 0;
		} else if (strcmp(key, "role") == 0) {
			const char *r = mbox_role(b);
			if (json_is_null(v) ? r != NULL
					    : (r == NULL || !json_is_string(v) ||
					       strcmp(r, json_string_value(v)) != 0))
				return 0;
		} else if (strcmp(key, "hasAnyRole") == 0) {
			if ((mbox_role(b) != NULL) != json_is_true(v))
				return 0;
		} else if (strcmp(key, "isSubscribed") == 0) {
			if (b->subscribed != json_is_true(v))
				return 0;
		} else {
			return -1;
		}
	}
	return 1;
}

/* qsort has no context argument: per thread, since every worker may sort. */
static _Thread_local json_t *sort_spec;

static int mbox_cmp(const void *a, const void *b)
{
	const struct mbox *x = a, *y = b;
	size_t i;
	json_t *s;
	json_array_foreach(sort_spec, i, s)
	{
		const char *prop = json_string_value(json_object_get(s, "property"));
		json_t *asc = json_object_get(s, "isAscending");
		int dir = asc == NULL || json_is_true(asc) ? 1 : -1;
		int r = 0;
		if (prop != NULL && strcmp(prop, "name") == 0)
			r = strcasecmp(x->name, y->name);
		else if (prop != NULL && strcmp(prop, "sortOrder") == 0)
			r = mbox_sort_order(x) - mbox_sort_order(y);
		if (r != 0)
			return r * dir;
	}
	return x->m.id < y->m.id ? -1 : x->m.id > y->m.id;
}

/*
 * The mailboxes matching args' filter in args' sort order: *sel_r (of
 * *n_r, pointing into l, which the caller frees with mbox_free). 0 / -1
 * with *res_r set.
 */
static int query_results(struct jmap_ctx *c, json_t *args, struct mbox_list *l, struct mbox **sel_r,
			 size_t *n_r, json_t **res_r)
{
	json_t *filter = json_object_get(args, "filter");
	json_t *sort = json_object_get(args, "sort");
	if ((filter != NULL && !json_is_null(filter) && !json_is_object(filter)) ||
	    (sort != NULL && !json_is_null(sort) && !json_is_array(sort)))
		return jmap_fail(res_r, "invalidArguments", "filter or sort");
	size_t i;
	json_t *s;
	json_array_foreach(sort, i, s)
	{
		const char *p = json_string_value(json_object_get(s, "property"));
		if (p == NULL || (strcmp(p, "name") != 0 && strcmp(p, "sortOrder") != 0))
			return jmap_fail(res_r, "unsupportedSort", NULL);
	}
	if (mbox_load(c, l) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	struct mbox *sel = xcalloc(l->n + 1, sizeof(*sel));
	size_t n = 0;
	for (size_t k = 0; k < l->n; k++) {
		int ok = json_is_object(filter) ? mbox_filter_ok(filter, &l->v[k], c) : 1;
		if (ok < 0) {
			free(sel);
			mbox_free(l);
			return jmap_fail(res_r, "unsupportedFilter", NULL);
		}
		if (ok)
			sel[n++] = l->v[k];
	}
	sort_spec = json_is_array(sort) ? sort : NULL;
	if (n > 1)
		qsort(sel, n, sizeof(*sel), mbox_cmp);
	sort_spec = NULL;
	*sel_r = sel;
	*n_r = n;
	return 0;
}

int jmap_mailbox_query(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId",  "filter",       "sort",  "position",
					    "anchor",     "anchorOffset", "limit", "calculateTotal",
					    "sortAsTree", "filterAsTree", NULL};
	struct mbox_list l = {0};
	struct mbox *sel = NULL;
	size_t n = 0;

	if (jmap_check_mail_account(c, args, res_r) < 0 ||
	    jmap_check_args(args, known, res_r) < 0 ||
	    query_results(c, args, &l, &sel, &n, res_r) < 0)
		return -1;
	json_int_t pos = json_integer_value(json_object_get(args, "position"));
	if (pos < 0)
		pos = (json_int_t)n + pos < 0 ? 0 : (json_int_t)n + pos;
	json_t *lim = json_object_get(args, "limit");
	size_t limit = json_is_integer(lim) && json_integer_value(lim) >= 0
		? (size_t)json_integer_value(lim)
		: n;
	json_t *ids = json_array();
	for (size_t k = (size_t)pos; k < n && json_array_size(ids) < limit; k++) {
		char id[24];
		jmap_id(id, sizeof(id), 'm', sel[k].m.id);
		json_array_append_new(ids, json_string(id));
	}
	free(sel);
	mbox_free(&l);
	json_t *state = jmap_state_get(c, STORE_JMAP_MAILBOX);
	*res_r = json_pack("{s:s s:o s:b s:I s:o}", "accountId", c->account, "queryState",
			   state ? state : json_string("0"), "canCalculateChanges", !c->shared,
			   "position", pos > (json_int_t)n ? (json_int_t)n : pos, "ids", ids);
	if (json_is_true(json_object_get(args, "calculateTotal")))
		json_object_set_new(*res_r, "total", json_integer((json_int_t)n));
	return 0;
}

/*
 * Mailbox/queryChanges (RFC 8620 5.6) from the change log, like
 * Email/queryChanges: a mailbox's place in a result depends on its own
 * name, role and subscription (each change of them is logged) and on
 * whether its parent exists (parentId, and name, which is the full path
 * without a parent). So the mailboxes that may have moved are those the
 * log names since the client's state, the children of those, and the
 * orphans (a '/' in the name, no parent: theirs may have gone). "removed"
 * is each of them that existed then (RFC 8620 allows ids the old results
 * did not hold), "added" each of them in the current results, with its
 * index. In a shared account the user's rights decide what is visible,
 * and rights are not in the log: cannotCalculateChanges there.
 */
#define MAILBOX_CHANGES_MAX 10000

static bool id_in(const struct store_jmap_change *ch, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ch[i].obj == id)
			return true;
	return false;
}

/* One attempt; 1 when the state moved while it ran (try again). */
static int query_changes_once(struct jmap_ctx *c, json_t *args, uint64_t since, size_t max_changes,
			      json_t **res_r)
{
	uint64_t now, floor, after;
	if (store_jmap_state(c->store, c->account_id, STORE_JMAP_MAILBOX, &now, &floor) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	if (since < floor || since > now)
		return jmap_fail(res_r, "cannotCalculateChanges", "sinceQueryState is not known");
	struct store_jmap_change *ch;
	size_t nch;
	if (store_jmap_changes(c->store, c->account_id, STORE_JMAP_MAILBOX, since,
			       MAILBOX_CHANGES_MAX, &ch, &nch) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	if (nch > MAILBOX_CHANGES_MAX) {
		free(ch);
		return jmap_fail(res_r, "cannotCalculateChanges", "too many changes: query again");
	}
	struct mbox_list l = {0};
	struct mbox *sel = NULL;
	size_t n = 0;
	if (query_results(c, args, &l, &sel, &n, res_r) < 0) {
		free(ch);
		return -1;
	}
	json_t *removed = json_array(), *added = json_array();
	char id[24];
	for (size_t i = 0; i < nch; i++) {
		if (ch[i].created > since)
			continue; /* did not exist then */
		jmap_id(id, sizeof(id), 'm', ch[i].obj);
		json_array_append_new(removed, json_string(id));
	}
	/* Not in the log (so existing then) but moved by a parent that came or went. */
	bool *touched = xcalloc(l.n + 1, sizeof(*touched));
	for (size_t k = 0; k < l.n; k++) {
		const struct mbox *b = &l.v[k];
		bool logged = id_in(ch, nch, b->m.id);
		touched[k] = logged || (b->parent != 0 && id_in(ch, nch, b->parent)) ||
			(b->parent == 0 && strchr(b->m.name, '/') != NULL);
		if (touched[k] && !logged) {
			jmap_id(id, sizeof(id), 'm', b->m.id);
			json_array_append_new(removed, json_string(id));
		}
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < l.n && l.v[k].m.id != sel[i].m.id)
			k++;
		if (k == l.n || !touched[k])
			continue;
		jmap_id(id, sizeof(id), 'm', sel[i].m.id);
		json_array_append_new(added,
				      json_pack("{s:s s:I}", "id", id, "index", (json_int_t)i));
	}
	free(touched);
	free(sel);
	mbox_free(&l);
	free(ch);
	int ret = 0;
	if (store_jmap_state(c->store, c->account_id, STORE_JMAP_MAILBOX, &after, NULL) < 0)
		ret = jmap_fail(res_r, "serverFail", NULL);
	else if (after != now)
		ret = 1; /* a commit came between the log and the listing */
	else if (json_array_size(removed) + json_array_size(added) > max_changes)
		ret = jmap_fail(res_r, "tooManyChanges", NULL);
	if (ret != 0) {
		json_decref(removed);
		json_decref(added);
		return ret;
	}
	*res_r = json_pack("{s:s s:o s:o s:o s:o}", "accountId", c->account, "oldQueryState",
			   jmap_state_json(since), "newQueryState", jmap_state_json(now), "removed",
			   removed, "added", added);
	if (json_is_true(json_object_get(args, "calculateTotal")))
		json_object_set_new(*res_r, "total", json_integer((json_int_t)n));
	return 0;
}

int jmap_mailbox_query_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {
		"accountId", "filter",         "sort",       "sinceQueryState", "maxChanges",
		"upToId",    "calculateTotal", "sortAsTree", "filterAsTree",    NULL};
	if (jmap_check_mail_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	size_t max_changes = SIZE_MAX;
	json_t *mc = json_object_get(args, "maxChanges");
	if (mc != NULL && !json_is_null(mc)) {
		if (!json_is_integer(mc) || json_integer_value(mc) <= 0)
			return jmap_fail(res_r, "invalidArguments", "maxChanges must be positive");
		max_changes = (size_t)json_integer_value(mc);
	}
	json_t *since_j = json_object_get(args, "sinceQueryState");
	if (!json_is_string(since_j))
		return jmap_fail(res_r, "invalidArguments", "sinceQueryState is required");
	uint64_t since;
	if (!jmap_state_parse(json_string_value(since_j), &since))
		return jmap_fail(res_r, "cannotCalculateChanges", "unknown sinceQueryState");
	if (c->shared)
		return jmap_fail(res_r, "cannotCalculateChanges", "shared account: query again");
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = query_changes_once(c, args, since, max_changes, res_r);
		if (r <= 0)
			return r;
	}
	return jmap_fail(res_r, "cannotCalculateChanges", "busy: query again");
}

/* --- Mailbox/set ------------------------------------------------------- */

/* Full store name for name under parent (0: top-level) into out. 0 / -1. */
static int full_name(struct mbox_list *l, int64_t parent, const char *name, char *out, size_t size)
{
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL || strlen(name) > 490)
		return -1;
	if (parent == 0) {
		snprintf(out, size, "%s", name);
		return 0;
	}
	struct mbox *p = mbox_by_id(l, parent);
	if (p == NULL)
		return -1;
	if ((size_t)snprintf(out, size, "%s/%s", p->m.name, name) >= size)
		return -1;
	return 0;
}

static json_t *store_set_error(const char *error, const char *prop)
{
	if (error != NULL && strstr(error, "exists") != NULL)
		return jmap_set_error("invalidProperties", error, prop);
	if (error != NULL && strstr(error, "invalid") != NULL)
		return jmap_set_error("invalidProperties", error, prop);
	return jmap_set_error("serverFail", error, NULL);
}

static int parent_arg(struct jmap_ctx *c, json_t *v, int64_t *parent_r)
{
	*parent_r = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	return jmap_id_parse(c, json_string_value(v), 'm', parent_r) ? 0 : -1;
}

static json_t *mbox_create(struct jmap_ctx *c, const char *cid, json_t *obj)
{
	struct mbox_list l;
	char name[512], id[24];
	const char *key;
	json_t *v;
	static const char *const allowed[] = {"name",         "parentId",  "role",
					      "isSubscribed", "sortOrder", NULL};
	json_object_foreach(obj, key, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(allowed[i], key) == 0;
		if (!ok)
			return jmap_set_error("invalidProperties", NULL, key);
	}
	int64_t parent;
	if (parent_arg(c, json_object_get(obj, "parentId"), &parent) < 0)
		return jmap_set_error("invalidProperties", "no such parent", "parentId");
	const char *special = "";
	json_t *role = json_object_get(obj, "role");
	if (role != NULL && !json_is_null(role) &&
	    (!json_is_string(role) || (special = role_special(json_string_value(role))) == NULL))
		return jmap_set_error("invalidProperties", "unsupported role", "role");
	if (mbox_load(c, &l) < 0) {
		mbox_free(&l);
		return jmap_set_error("serverFail", NULL, NULL);
	}
	int r = full_name(&l, parent, json_string_value(json_object_get(obj, "name")), name,
			  sizeof(name));
	mbox_free(&l);
	if (r < 0)
		return jmap_set_error("invalidProperties", "invalid name or parent", "name");
	const char *error;
	if (store_mailbox_create(c->store, c->account_id, name, special, &error) < 0)
		return store_set_error(error, "name");
	struct store_mailbox m;
	if (store_mailbox_get(c->store, c->account_id, name, &m) <= 0)
		return jmap_set_error("serverFail", NULL, NULL);
	/* CREATE does not subscribe (RFC 9051); a folder made in the webmail
	 * is subscribed unless asked otherwise, so IMAP clients show it too. */
	if (!json_is_false(json_object_get(obj, "isSubscribed")))
		store_mailbox_subscribe(c->store, c->account_id, name, true, &error);
	jmap_id(id, sizeof(id), 'm', m.id);
	jmap_created(c, cid, id);
	return json_pack("{s:s}", "id", id);
}

static json_t *mbox_update(struct jmap_ctx *c, int64_t id, json_t *obj)
{
	struct mbox_list l;
	char name[512];
	const char *error;
	json_t *out = NULL;

	if (mbox_load(c, &l) < 0) {
		mbox_free(&l);
		return jmap_set_error("serverFail", NULL, NULL);
	}
	struct mbox *b = mbox_by_id(&l, id);
	if (b == NULL) {
		mbox_free(&l);
		return jmap_set_error("notFound", NULL, NULL);
	}
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "name") == 0 || strcmp(key, "parentId") == 0 ||
		    strcmp(key, "isSubscribed") == 0)
			continue;
		if (strcmp(key, "role") == 0) {
			const char *r = mbox_role(b);
			if ((json_is_null(v) && r == NULL) ||
			    (json_is_string(v) && r != NULL &&
			     strcmp(r, json_string_value(v)) == 0))
				continue;
		}
		if (strcmp(key, "sortOrder") == 0 && json_is_integer(v) &&
		    json_integer_value(v) == mbox_sort_order(b))
			continue;
		mbox_free(&l);
		return jmap_set_error("invalidProperties", "cannot be changed here", key);
	}
	json_t *nv = json_object_get(obj, "name");
	json_t *pv = json_object_get(obj, "parentId");
	if (nv != NULL || pv != NULL) {
		int64_t parent = b->parent;
		if (pv != NULL && parent_arg(c, pv, &parent) < 0) {
			mbox_free(&l);
			return jmap_set_error("invalidProperties", "no such parent", "parentId");
		}
		struct mbox *p = parent ? mbox_by_id(&l, parent) : NULL;
		size_t blen = strlen(b->m.name);
		if (p != NULL &&
		    (p->m.id == id ||
		     (strncmp(p->m.name, b->m.name, blen) == 0 && p->m.name[blen] == '/'))) {
			mbox_free(&l);
			return jmap_set_error("invalidProperties",
					      "a mailbox cannot be its own "
					      "descendant",
					      "parentId");
		}
		const char *newname = nv != NULL ? json_string_value(nv) : b->name;
		if (full_name(&l, parent, newname, name, sizeof(name)) < 0) {
			mbox_free(&l);
			return jmap_set_error("invalidProperties", "invalid name or parent",
					      "name");
		}
		if (strcmp(name, b->m.name) != 0) {
			if (strcmp(b->m.name, "INBOX") == 0) {
				mbox_free(&l);
				return jmap_set_error("forbidden", "INBOX cannot be renamed",
						      "name");
			}
			if (store_mailbox_rename(c->store, c->account_id, b->m.name, name, &error) <
			    0)
				out = store_set_error(error, "name");
			else
				snprintf(b->m.name, sizeof(b->m.name), "%s", name);
		}
	}
	json_t *sv = json_object_get(obj, "isSubscribed");
	if (out == NULL && sv != NULL &&
	    store_mailbox_subscribe(c->store, c->account_id, b->m.name, json_is_true(sv), &error) <
		    0)
		out = store_set_error(error, "isSubscribed");
	mbox_free(&l);
	return out;
}

static json_t *mbox_destroy(struct jmap_ctx *c, int64_t id, bool remove_emails)
{
	struct mbox_list l;
	const char *error;
	json_t *out = NULL;

	if (mbox_load(c, &l) < 0) {
		mbox_free(&l);
		return jmap_set_error("serverFail", NULL, NULL);
	}
	struct mbox *b = mbox_by_id(&l, id);
	if (b == NULL)
		out = jmap_set_error("notFound", NULL, NULL);
	else if (strcmp(b->m.name, "INBOX") == 0)
		out = jmap_set_error("forbidden", "INBOX cannot be destroyed", NULL);
	for (size_t i = 0; out == NULL && i < l.n; i++)
		if (l.v[i].parent == id)
			out = jmap_set_error("mailboxHasChild", NULL, NULL);
	if (out == NULL && b->m.messages > 0 && !remove_emails)
		out = jmap_set_error("mailboxHasEmail", NULL, NULL);
	if (out == NULL && store_mailbox_delete(c->store, c->account_id, b->m.name, &error) < 0)
		out = jmap_set_error("serverFail", error, NULL);
	if (out == NULL)
		store_mailbox_subscribe(c->store, c->account_id, b->m.name, false, &error);
	mbox_free(&l);
	return out;
}

/* The mailboxes of a shared account are made, renamed and deleted by IMAP or the CLI. */
static json_t *shared_forbidden(void)
{
	return jmap_set_error("forbidden", "mailboxes of a shared account cannot be changed here",
			      NULL);
}

int jmap_mailbox_set(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ifInState", "create",
					    "update",    "destroy",   "onDestroyRemoveEmails",
					    NULL};
	if (jmap_check_mail_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *create = json_object_get(args, "create");
	json_t *update = json_object_get(args, "update");
	json_t *destroy = json_object_get(args, "destroy");
	if ((create && !json_is_null(create) && !json_is_object(create)) ||
	    (update && !json_is_null(update) && !json_is_object(update)) ||
	    (destroy && !json_is_null(destroy) && !json_is_array(destroy)))
		return jmap_fail(res_r, "invalidArguments", "create, update or destroy");
	if (json_object_size(create) + json_object_size(update) + json_array_size(destroy) >
	    JMAP_MAX_OBJECTS_SET)
		return jmap_fail(res_r, "requestTooLarge", NULL);
	json_t *old;
	if (jmap_state_check(c, args, STORE_JMAP_MAILBOX, &old, res_r) < 0)
		return -1;
	json_t *created = json_object(), *not_created = json_object();
	json_t *updated = json_object(), *not_updated = json_object();
	json_t *destroyed = json_array(), *not_destroyed = json_object();
	const char *key;
	json_t *v;
	/* Parents before children: creation ids may refer to earlier creations. */
	json_object_foreach(create, key, v)
	{
		json_t *r = c->shared       ? shared_forbidden()
			: json_is_object(v) ? mbox_create(c, key, v)
					    : jmap_set_error("invalidProperties", NULL, NULL);
		json_object_set_new(json_object_get(r, "type") ? not_created : created, key, r);
	}
	json_object_foreach(update, key, v)
	{
		int64_t id = 0;
		json_t *r = !jmap_id_parse(c, key, 'm', &id)
			? jmap_set_error("notFound", NULL, NULL)
			: c->shared          ? shared_forbidden()
			: !json_is_object(v) ? jmap_set_error("invalidPatch", NULL, NULL)
					     : mbox_update(c, id, v);
		json_object_set_new(r ? not_updated : updated, key, r ? r : json_null());
	}
	bool remove = json_is_true(json_object_get(args, "onDestroyRemoveEmails"));
	size_t i;
	json_array_foreach(destroy, i, v)
	{
		int64_t id = 0;
		json_t *r = !jmap_id_parse(c, json_string_value(v), 'm', &id)
			? jmap_set_error("notFound", NULL, NULL)
			: c->shared ? shared_forbidden()
				    : mbox_destroy(c, id, remove);
		if (r != NULL)
			json_object_set_new(not_destroyed, json_string_value(v) ?: "", r);
		else
			json_array_append(destroyed, v);
	}
	json_t *new_state = jmap_state_get(c, STORE_JMAP_MAILBOX);
	*res_r = json_pack("{s:s s:o s:o s:o s:o s:o s:o s:o s:o}", "accountId", c->account,
			   "oldState", old ? old : json_null(), "newState",
			   new_state ? new_state : json_null(), "created", created, "notCreated",
			   not_created, "updated", updated, "notUpdated", not_updated, "destroyed",
			   destroyed, "notDestroyed", not_destroyed);
	return 0;
}
