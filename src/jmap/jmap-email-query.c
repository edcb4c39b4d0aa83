/* SPDX-License-Identifier: MIT */
/*
 * Email/query, Email/queryChanges and SearchSnippet/get. The usual list
 * (one mailbox by receivedAt) is a page read from an index (query_fast).
 * Any other query reads the account's message rows with their stored
 * header fields (one small row per message, never bodies; only the rows
 * the full-text index allows when a text condition must hold), filters
 * them with the FilterCondition tree (text conditions answered by the
 * index, `header` opens one message at a time), sorts, collapses threads,
 * and pages by position or anchor.
 */
#include "jmap/jmap-private.h"

#include "lib/util.h"
#include "mime/mime.h"
#include "search/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The text conditions (text, body, subject, from, to, cc, bcc) match the
 * searchable text of a message (mime_text: folded, what the full-text
 * index holds and IMAP SEARCH matches): a needle of three characters or
 * more is looked up in the index once per query (store_search_match_fields)
 * and each row then only checks a sorted id list; shorter needles and
 * messages the backfill has not indexed yet are checked on the message's
 * own text (its indexed document, else extracted from the blob).
 */
struct text_cond {
	json_t *value; /* the condition's value node: the key of this entry */
	int64_t *ids;  /* matching row ids, ascending */
	size_t n;
};

struct text_index {
	struct text_cond *v;
	size_t n;
	int64_t *pending; /* rows not indexed yet, ascending */
	size_t n_pending;
	bool have_pending;
};

/* What a condition may need from the message content, loaded lazily. */
struct row {
	struct store_jmap_email *e;
	struct jmap_msg m;
	bool opened, open_failed;
	char *body; /* decoded text of the body parts, lazily */
	const struct text_index *ti;
	struct store_search_doc doc; /* searchable text, lazily */
	bool doc_loaded;
};

static GMimeObject *row_msg(struct jmap_ctx *c, struct row *r)
{
	if (!r->opened) {
		r->opened = true;
		r->open_failed = jmap_msg_open(c->store, r->e->msg.blob_id, false, &r->m) < 0;
	}
	return r->open_failed ? NULL : GMIME_OBJECT(r->m.msg);
}

static void body_collect(struct jmap_part *p, struct buf *b)
{
	if (strncmp(p->type, "text/", 5) == 0 && p->part_id[0] != '\0') {
		char *t = jmap_part_text(p, NULL);
		if (strcmp(p->type, "text/html") == 0) {
			char *plain = jmap_html_to_text(t);
			free(t);
			t = plain;
		}
		buf_append_str(b, t);
		buf_append_str(b, "\n");
		free(t);
	}
	for (size_t i = 0; i < p->n_sub; i++)
		body_collect(p->sub[i], b);
}

static const char *row_body(struct jmap_ctx *c, struct row *r)
{
	if (r->body == NULL) {
		struct buf b;
		buf_init(&b);
		if (row_msg(c, r) != NULL) {
			struct jmap_part *root = jmap_parts(&r->m);
			body_collect(root, &b);
			jmap_part_free(&root);
		}
		r->body = xstrdup(b.data != NULL ? buf_cstr(&b) : "");
		buf_deinit(&b);
	}
	return r->body;
}

static void row_release(struct row *r)
{
	jmap_msg_close(&r->m);
	free(r->body);
	r->body = NULL;
	r->opened = r->open_failed = false;
	if (r->doc_loaded)
		store_search_doc_free(&r->doc);
	r->doc_loaded = false;
}

/* The message's searchable text: its indexed document, else extracted from the blob. */
static const struct store_search_doc *row_doc(struct jmap_ctx *c, struct row *r)
{
	if (r->doc_loaded)
		return &r->doc;
	r->doc_loaded = true;
	if (store_search_doc_get(c->store, r->e->msg.blob_id, &r->doc) == 1)
		return &r->doc;
	search_blob_text(c->store, r->e->msg.blob_id, &r->doc);
	return &r->doc;
}

/* The header fields a text condition looks at, and whether it looks at the body. */
static bool text_key(const char *key, const char *const **names_r, size_t *n_r, bool *body_r)
{
	static const char *const all[] = {"from", "to", "cc", "bcc", "subject"};
	*body_r = false;
	*n_r = 1;
	if (strcmp(key, "text") == 0) {
		*names_r = all;
		*n_r = 5;
		*body_r = true;
		return true;
	}
	if (strcmp(key, "body") == 0) {
		*names_r = all;
		*n_r = 0;
		*body_r = true;
		return true;
	}
	for (size_t i = 0; i < 5; i++)
		if (strcmp(key, all[i]) == 0) {
			*names_r = &all[i];
			return true;
		}
	return false;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static bool ids_have(const int64_t *v, size_t n, int64_t id)
{
	return n > 0 && bsearch(&id, v, n, sizeof(*v), cmp_id) != NULL;
}

/* A text condition on row r: 1 match, 0 not. */
static int text_match(struct jmap_ctx *c, const char *key, json_t *v, struct row *r)
{
	const char *const *names;
	size_t n_names;
	bool body;
	text_key(key, &names, &n_names, &body);
	const char *s = json_string_value(v);
	struct buf f;
	buf_init(&f);
	mime_text_fold(s, strlen(s), &f);
	const char *needle = f.data != NULL ? buf_cstr(&f) : "";
	int m = -1;
	if (needle[0] == '\0')
		m = 1;
	for (size_t i = 0; m < 0 && r->ti != NULL && i < r->ti->n; i++)
		if (r->ti->v[i].value == v &&
		    !ids_have(r->ti->pending, r->ti->n_pending, r->e->msg.id))
			m = ids_have(r->ti->v[i].ids, r->ti->v[i].n, r->e->msg.id);
	if (m < 0 && !body && n_names == 1 && strcmp(names[0], "bcc") != 0) {
		/* A short needle in From/To/Cc/Subject: the row has the decoded field. */
		const char *field = strcmp(key, "subject") == 0 ? r->e->subject
			: strcmp(key, "from") == 0              ? r->e->from
			: strcmp(key, "to") == 0                ? r->e->to
								: r->e->cc;
		struct buf g;
		buf_init(&g);
		if (field != NULL)
			mime_text_fold(field, strlen(field), &g);
		m = g.data != NULL && strstr(buf_cstr(&g), needle) != NULL;
		buf_deinit(&g);
	}
	if (m < 0)
		m = store_search_doc_fields_have(row_doc(c, r), names, n_names, body, needle);
	buf_deinit(&f);
	return m;
}

static bool header_contains(struct jmap_ctx *c, struct row *r, const char *name, const char *v)
{
	GMimeObject *o = row_msg(c, r);
	if (o == NULL)
		return false;
	struct jmap_hprop h = {.form = JMAP_HF_TEXT, .all = true};
	snprintf(h.name, sizeof(h.name), "%s", name);
	json_t *vals = jmap_header_value(o, &h);
	bool found = false;
	size_t i;
	json_t *x;
	json_array_foreach(vals, i, x) if (v == NULL || jmap_contains_ci(json_string_value(x), v))
		found = true;
	json_decref(vals);
	return found;
}

static bool has_keyword(const struct store_jmap_email *e, const char *kw)
{
	json_t *k = jmap_keywords_json(e->msg.flags, e->keywords);
	char *lower = str_lower(xstrdup(kw));
	bool yes = json_object_get(k, lower) != NULL;
	free(lower);
	json_decref(k);
	return yes;
}

/* 1 match, 0 no, -1 unsupported condition. */
static int cond_match(struct jmap_ctx *c, json_t *f, struct row *r);

static int op_match(struct jmap_ctx *c, json_t *f, struct row *r)
{
	const char *op = json_string_value(json_object_get(f, "operator"));
	json_t *conds = json_object_get(f, "conditions");
	if (op == NULL || !json_is_array(conds))
		return -1;
	bool and = strcmp(op, "AND") == 0, or = strcmp(op, "OR") == 0, not = strcmp(op, "NOT") == 0;
	if (!and&&! or &&!not )
		return -1;
	size_t i;
	json_t *sub;
	json_array_foreach(conds, i, sub)
	{
		int m = cond_match(c, sub, r);
		if (m < 0)
			return -1;
		if (and&&!m)
			return 0;
		if (or &&m)
			return 1;
		if (not &&m)
			return 0;
	}
	return and || not ? 1 : 0;
}

static int field_match(struct jmap_ctx *c, const char *key, json_t *v, struct row *r)
{
	const struct store_jmap_email *e = r->e;
	const char *s = json_string_value(v);
	time_t t;
	if (strcmp(key, "inMailbox") == 0) {
		int64_t id = 0;
		return jmap_id_parse(c, s, 'm', &id) && id == e->msg.mailbox_id;
	}
	if (strcmp(key, "inMailboxOtherThan") == 0) {
		size_t i;
		json_t *x;
		if (!json_is_array(v))
			return -1;
		json_array_foreach(v, i, x)
		{
			int64_t id;
			if (jmap_id_parse(c, json_string_value(x), 'm', &id) &&
			    id == e->msg.mailbox_id)
				return 0;
		}
		return 1;
	}
	if (strcmp(key, "before") == 0)
		return jmap_date_parse(s, &t) ? e->msg.internal_date < t : -1;
	if (strcmp(key, "after") == 0)
		return jmap_date_parse(s, &t) ? e->msg.internal_date >= t : -1;
	if (strcmp(key, "minSize") == 0)
		return json_is_integer(v) ? (json_int_t)e->msg.size >= json_integer_value(v) : -1;
	if (strcmp(key, "maxSize") == 0)
		return json_is_integer(v) ? (json_int_t)e->msg.size < json_integer_value(v) : -1;
	if (strcmp(key, "hasKeyword") == 0)
		return s != NULL ? has_keyword(e, s) : -1;
	if (strcmp(key, "notKeyword") == 0)
		return s != NULL ? !has_keyword(e, s) : -1;
	const char *const *names;
	size_t n_names;
	bool body;
	if (text_key(key, &names, &n_names, &body))
		return s != NULL ? text_match(c, key, v, r) : -1;
	if (strcmp(key, "hasAttachment") == 0) {
		char *preview;
		bool has;
		if (jmap_blob_summary(c->store, e->msg.blob_id, &preview, &has) < 0)
			return 0;
		free(preview);
		return has == json_is_true(v);
	}
	if (strcmp(key, "header") == 0) {
		if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2)
			return -1;
		const char *name = json_string_value(json_array_get(v, 0));
		const char *val = json_string_value(json_array_get(v, 1));
		if (name == NULL)
			return -1;
		return header_contains(c, r, name, val);
	}
	return -1;
}

/* Content conditions last: they open the message. */
static bool costly(const char *key)
{
	return strcmp(key, "bcc") == 0 || strcmp(key, "body") == 0 || strcmp(key, "text") == 0 ||
		strcmp(key, "header") == 0;
}

static int cond_match(struct jmap_ctx *c, json_t *f, struct row *r)
{
	if (!json_is_object(f))
		return -1;
	if (json_object_get(f, "operator") != NULL)
		return op_match(c, f, r);
	for (int pass = 0; pass < 2; pass++) {
		const char *key;
		json_t *v;
		json_object_foreach(f, key, v)
		{
			if (costly(key) != (pass == 1))
				continue;
			int m = field_match(c, key, v, r);
			if (m <= 0)
				return m;
		}
	}
	return 1;
}

/*
 * The whole filter checked once before any row (so an empty mailbox still
 * answers unsupportedFilter): operators, known conditions, value types.
 */
static bool filter_valid(json_t *f, int depth)
{
	static const char *const strings[] = {"inMailbox", "hasKeyword", "notKeyword", "from",
					      "to",        "cc",         "bcc",        "subject",
					      "body",      "text",       NULL};
	if (!json_is_object(f) || depth > 64)
		return false;
	json_t *op = json_object_get(f, "operator");
	if (op != NULL) {
		const char *o = json_string_value(op);
		json_t *conds = json_object_get(f, "conditions");
		if (o == NULL ||
		    (strcmp(o, "AND") != 0 && strcmp(o, "OR") != 0 && strcmp(o, "NOT") != 0) ||
		    !json_is_array(conds) || json_object_size(f) != 2)
			return false;
		size_t i;
		json_t *sub;
		json_array_foreach(conds, i, sub) if (!filter_valid(sub, depth + 1)) return false;
		return true;
	}
	const char *key;
	json_t *v;
	json_object_foreach(f, key, v)
	{
		bool ok = false;
		time_t t;
		for (size_t i = 0; strings[i] != NULL && !ok; i++)
			ok = strcmp(strings[i], key) == 0 && json_is_string(v);
		if (strcmp(key, "before") == 0 || strcmp(key, "after") == 0)
			ok = jmap_date_parse(json_string_value(v), &t) == 1;
		else if (strcmp(key, "minSize") == 0 || strcmp(key, "maxSize") == 0)
			ok = json_is_integer(v);
		else if (strcmp(key, "hasAttachment") == 0)
			ok = json_is_boolean(v);
		else if (strcmp(key, "inMailboxOtherThan") == 0)
			ok = json_is_array(v);
		else if (strcmp(key, "header") == 0)
			ok = json_is_array(v) && json_array_size(v) >= 1 &&
				json_array_size(v) <= 2 && json_is_string(json_array_get(v, 0)) &&
				(json_array_size(v) == 1 || json_is_string(json_array_get(v, 1)));
		if (!ok)
			return false;
	}
	return true;
}

/* --- sorting ----------------------------------------------------------- */

struct sort_key {
	enum { S_RECEIVED, S_SENT, S_SIZE, S_FROM, S_TO, S_SUBJECT, S_KEYWORD } prop;
	bool asc;
	const char *keyword;
};

/* qsort's comparator has no context argument: per thread, since every worker may sort. */
static _Thread_local struct sort_key *sort_keys;
static _Thread_local size_t n_sort_keys;

static int str_cmp(const char *a, const char *b)
{
	return strcasecmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int email_cmp(const void *pa, const void *pb)
{
	const struct store_jmap_email *a = pa, *b = pb;
	for (size_t i = 0; i < n_sort_keys; i++) {
		const struct sort_key *k = &sort_keys[i];
		int r = 0;
		switch (k->prop) {
		case S_RECEIVED:
			r = (a->msg.internal_date > b->msg.internal_date) -
				(a->msg.internal_date < b->msg.internal_date);
			break;
		case S_SENT:
			r = (a->date > b->date) - (a->date < b->date);
			break;
		case S_SIZE:
			r = (a->msg.size > b->msg.size) - (a->msg.size < b->msg.size);
			break;
		case S_FROM:
			r = str_cmp(a->from, b->from);
			break;
		case S_TO:
			r = str_cmp(a->to, b->to);
			break;
		case S_SUBJECT:
			r = str_cmp(a->subject, b->subject);
			break;
		case S_KEYWORD:
			r = (int)has_keyword(a, k->keyword) - (int)has_keyword(b, k->keyword);
			break;
		}
		if (r != 0)
			return k->asc ? r : -r;
	}
	/* Stable and total: newest row last. */
	return (a->msg.id > b->msg.id) - (a->msg.id < b->msg.id);
}

static int sort_parse(json_t *sort, struct sort_key **keys_r, size_t *n_r)
{
	static const struct {
		const char *name;
		int prop;
	} props[] = {{"receivedAt", S_RECEIVED}, {"sentAt", S_SENT}, {"size", S_SIZE},
		     {"from", S_FROM},           {"to", S_TO},       {"subject", S_SUBJECT},
		     {"hasKeyword", S_KEYWORD}};
	size_t n = json_array_size(sort);
	struct sort_key *k = xcalloc(n + 1, sizeof(*k));
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(sort, i);
		const char *p = json_string_value(json_object_get(s, "property"));
		bool ok = false;
		for (size_t j = 0; p != NULL && j < sizeof(props) / sizeof(props[0]) && !ok; j++)
			if (strcmp(props[j].name, p) == 0) {
				k[i].prop = props[j].prop;
				ok = true;
			}
		json_t *asc = json_object_get(s, "isAscending");
		k[i].asc = asc == NULL || json_is_true(asc);
		k[i].keyword = json_string_value(json_object_get(s, "keyword"));
		if (!ok || (k[i].prop == S_KEYWORD && k[i].keyword == NULL)) {
			free(k);
			return -1;
		}
	}
	*keys_r = k;
	*n_r = n;
	return 0;
}

/* --- Email/query ------------------------------------------------------- */

/* The thread ids already listed while collapsing threads: open addressing
 * over a power-of-two table at most half full, so that collapsing is linear
 * in the mailbox (a scan of the kept rows per row was quadratic: 10,000
 * single-message threads made 50 million comparisons per query). */
struct thread_set {
	int64_t *slot; /* 0 = empty; thread ids are > 0 */
	size_t mask;
};

static void thread_set_init(struct thread_set *t, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	t->slot = xcalloc(cap, sizeof(*t->slot));
	t->mask = cap - 1;
}

/* Add id (> 0); true when it was not there yet. */
static bool thread_set_add(struct thread_set *t, int64_t id)
{
	size_t i = ((uint64_t)id * 0x9E3779B97F4A7C15u) >> 7 & t->mask;
	while (t->slot[i] != 0) {
		if (t->slot[i] == id)
			return false;
		i = (i + 1) & t->mask;
	}
	t->slot[i] = id;
	return true;
}

static void text_index_free(struct text_index *ti)
{
	for (size_t i = 0; i < ti->n; i++)
		free(ti->v[i].ids);
	free(ti->v);
	free(ti->pending);
	memset(ti, 0, sizeof(*ti));
}

/* Look each text condition of three characters or more up in the index. 0 / -1. */
static int text_index_build(struct jmap_ctx *c, json_t *f, struct text_index *ti)
{
	if (!json_is_object(f))
		return 0;
	if (json_object_get(f, "operator") != NULL) {
		size_t i;
		json_t *sub;
		json_array_foreach(json_object_get(f, "conditions"), i, sub)
		{
			if (text_index_build(c, sub, ti) < 0)
				return -1;
		}
		return 0;
	}
	const char *key;
	json_t *v;
	json_object_foreach(f, key, v)
	{
		const char *const *names;
		size_t n_names;
		bool body;
		if (!text_key(key, &names, &n_names, &body) || !json_is_string(v))
			continue;
		struct buf fold;
		buf_init(&fold);
		mime_text_fold(json_string_value(v), strlen(json_string_value(v)), &fold);
		struct text_cond t = {.value = v};
		int ret = 0;
		if (fold.data != NULL && mime_text_chars(fold.data, fold.len) >= 3) {
			if (!ti->have_pending)
				ret = store_search_pending_account(c->store, c->account_id,
								   &ti->pending, &ti->n_pending);
			ti->have_pending = true;
			if (ret == 0)
				ret = store_search_match_fields(c->store, c->account_id, names,
								n_names, body, buf_cstr(&fold),
								&t.ids, &t.n);
			if (ret == 0) {
				ti->v = xrealloc(ti->v, (ti->n + 1) * sizeof(*ti->v));
				ti->v[ti->n++] = t;
			}
		}
		buf_deinit(&fold);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static const struct text_cond *text_cond_of(const struct text_index *ti, json_t *f)
{
	const char *key;
	json_t *v;
	if (json_object_get(f, "operator") != NULL)
		return NULL;
	json_object_foreach(f, key, v) for (size_t i = 0; i < ti->n;
					    i++) if (ti->v[i].value == v) return &ti->v[i];
	return NULL;
}

/*
 * The rows the filter can match at most, when the index knows: those of an
 * indexed condition the whole filter needs (at the top, or directly under a
 * top-level AND) and those not indexed yet (*ids_r malloc'd). false when
 * every row must be read.
 */
static bool text_index_candidates(json_t *f, const struct text_index *ti, int64_t **ids_r,
				  size_t *n_r)
{
	const struct text_cond *t = json_is_object(f) ? text_cond_of(ti, f) : NULL;
	const char *op = json_string_value(json_object_get(f, "operator"));
	if (t == NULL && op != NULL && strcmp(op, "AND") == 0) {
		size_t i;
		json_t *sub;
		json_array_foreach(json_object_get(f, "conditions"), i, sub)
		{
			if (t == NULL && json_is_object(sub))
				t = text_cond_of(ti, sub);
		}
	}
	if (t == NULL)
		return false;
	int64_t *v = xcalloc(t->n + ti->n_pending + 1, sizeof(*v));
	if (t->n > 0)
		memcpy(v, t->ids, t->n * sizeof(*v));
	if (ti->n_pending > 0)
		memcpy(v + t->n, ti->pending, ti->n_pending * sizeof(*v));
	*ids_r = v;
	*n_r = t->n + ti->n_pending; /* the caller sorts and drops duplicates */
	return true;
}

static const char *const query_args[] = {
	"accountId",    "filter", "sort",           "position",        "anchor",
	"anchorOffset", "limit",  "calculateTotal", "collapseThreads", NULL};

/* Filtered, sorted, collapsed emails of the query into (v_r, n_r). 0 / -1. */
static int query_run(struct jmap_ctx *c, json_t *args, struct store_jmap_email **v_r, size_t *n_r,
		     json_t **res_r)
{
	json_t *filter = json_object_get(args, "filter");
	json_t *sort = json_object_get(args, "sort");
	struct sort_key *keys;
	size_t nkeys;
	if ((filter != NULL && !json_is_null(filter) && !json_is_object(filter)) ||
	    (sort != NULL && !json_is_null(sort) && !json_is_array(sort)))
		return jmap_fail(res_r, "invalidArguments", "filter or sort");
	if (json_is_object(filter) && !filter_valid(filter, 0))
		return jmap_fail(res_r, "unsupportedFilter", NULL);
	if (sort_parse(json_is_array(sort) ? sort : NULL, &keys, &nkeys) < 0)
		return jmap_fail(res_r, "unsupportedSort", NULL);
	/* A single inMailbox (the common case) reads only that mailbox. */
	int64_t only = 0;
	const char *in = json_string_value(json_object_get(filter, "inMailbox"));
	if (in != NULL && !jmap_id_parse(c, in, 'm', &only))
		only = -1;
	struct store_jmap_email *v = NULL;
	size_t n = 0;
	struct text_index ti = {0};
	int64_t *cand = NULL;
	size_t n_cand = 0;
	int got = text_index_build(c, filter, &ti);
	if (got == 0 && text_index_candidates(filter, &ti, &cand, &n_cand)) {
		qsort(cand, n_cand, sizeof(*cand), cmp_id);
		size_t u = 0;
		for (size_t i = 0; i < n_cand; i++)
			if (u == 0 || cand[u - 1] != cand[i])
				cand[u++] = cand[i];
		got = u == 0 ? 0 : jmap_emails(c, cand, u, 0, 0, &v, &n);
		free(cand);
	} else if (got == 0)
		got = jmap_emails(c, NULL, 0, only, 0, &v, &n);
	if (got < 0) {
		text_index_free(&ti);
		free(keys);
		return jmap_fail(res_r, "serverFail", NULL);
	}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct row r = {.e = &v[i], .ti = &ti};
		int m = json_is_object(filter) ? cond_match(c, filter, &r) : 1;
		row_release(&r);
		if (m < 0) {
			store_jmap_emails_free(&v, n);
			text_index_free(&ti);
			free(keys);
			return jmap_fail(res_r, "unsupportedFilter", NULL);
		}
		if (m) {
			struct store_jmap_email tmp = v[kept];
			v[kept++] = v[i];
			v[i] = tmp;
		}
	}
	text_index_free(&ti);
	sort_keys = keys;
	n_sort_keys = nkeys;
	if (kept > 1) /* v is NULL when nothing matched */
		qsort(v, kept, sizeof(*v), email_cmp);
	sort_keys = NULL;
	n_sort_keys = 0;
	free(keys);
	if (json_is_true(json_object_get(args, "collapseThreads"))) {
		struct thread_set seen;
		thread_set_init(&seen, kept);
		size_t out = 0;
		for (size_t i = 0; i < kept; i++) {
			if (v[i].thread_id == 0 || thread_set_add(&seen, v[i].thread_id)) {
				struct store_jmap_email tmp = v[out];
				v[out++] = v[i];
				v[i] = tmp;
			}
		}
		free(seen.slot);
		kept = out;
	}
	/* Rows past kept are freed by the caller with n. */
	*v_r = v;
	*n_r = n;
	json_object_set_new(args, "_kept", json_integer((json_int_t)kept));
	return 0;
}

static bool jmap_email_query_can_calculate(json_t *args);

/*
 * The webmail's list (and most clients'): one mailbox, newest or oldest
 * first, maybe threads collapsed, a position. The store reads that page
 * from an index and counts with count(*) (store_jmap_mailbox_page), so the
 * cost does not grow with the mailbox. The answer is the one query_run
 * would give: test_email_query_fast_path compares both on random
 * mailboxes, reaching the general path with the same filter written as an
 * AND of one condition (keep that form out of here). Anything else -
 * another filter or sort, an anchor - takes the general path. 1 answered,
 * 0 not this case, -1 error.
 */
static int query_fast(struct jmap_ctx *c, json_t *args, size_t limit, json_t *state, json_t **res_r)
{
	json_t *filter = json_object_get(args, "filter");
	json_t *sort = json_object_get(args, "sort");
	const char *in = json_string_value(json_object_get(filter, "inMailbox"));
	json_t *key = json_array_get(sort, 0);
	const char *prop = json_string_value(json_object_get(key, "property"));
	json_t *asc = json_object_get(key, "isAscending");
	if (!json_is_object(filter) || json_object_size(filter) != 1 || in == NULL ||
	    !json_is_array(sort) || json_array_size(sort) != 1 || prop == NULL ||
	    strcmp(prop, "receivedAt") != 0 || (asc != NULL && !json_is_boolean(asc)) ||
	    json_object_get(args, "anchor") != NULL)
		return 0;
	/* Another account's mailboxes: rights apply per mailbox (jmap_emails). */
	if (c->shared)
		return 0;
	int64_t mailbox = 0;
	if (!jmap_id_parse(c, in, 'm', &mailbox))
		mailbox = -1;
	bool desc = json_is_false(asc),
	     collapse = json_is_true(json_object_get(args, "collapseThreads"));
	json_int_t pos = json_integer_value(json_object_get(args, "position"));
	bool want_total = json_is_true(json_object_get(args, "calculateTotal"));
	size_t total = 0;
	int64_t *ids = NULL;
	size_t n = 0;
	if (pos < 0) { /* from the end: the total first */
		if (store_jmap_mailbox_page(c->store, c->account_id, mailbox, desc, collapse, 0, 0,
					    &ids, &n, &total) < 0)
			return jmap_fail(res_r, "serverFail", NULL);
		free(ids);
		pos = (json_int_t)total + pos < 0 ? 0 : (json_int_t)total + pos;
		want_total = true;
	}
	if (store_jmap_mailbox_page(c->store, c->account_id, mailbox, desc, collapse, (size_t)pos,
				    limit, &ids, &n, want_total ? &total : NULL) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	if (!want_total && n == 0 && pos > 0) { /* past the end: clamp the position */
		free(ids);
		if (store_jmap_mailbox_page(c->store, c->account_id, mailbox, desc, collapse, 0, 0,
					    &ids, &n, &total) < 0)
			return jmap_fail(res_r, "serverFail", NULL);
		want_total = true;
	}
	if (want_total && pos > (json_int_t)total)
		pos = (json_int_t)total;
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		char id[24];
		jmap_id(id, sizeof(id), 'e', ids[i]);
		json_array_append_new(list, json_string(id));
	}
	free(ids);
	*res_r = json_pack("{s:s s:O s:b s:I s:o}", "accountId", c->account, "queryState", state,
			   "canCalculateChanges", jmap_email_query_can_calculate(args), "position",
			   pos, "ids", list);
	if (json_is_true(json_object_get(args, "calculateTotal")))
		json_object_set_new(*res_r, "total", json_integer((json_int_t)total));
	return 1;
}

int jmap_email_query(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	struct store_jmap_email *v;
	size_t n;

	if (jmap_check_mail_account(c, args, res_r) < 0 ||
	    jmap_check_args(args, query_args, res_r) < 0)
		return -1;
	json_t *lim = json_object_get(args, "limit");
	json_t *posv = json_object_get(args, "position");
	if ((lim != NULL && !json_is_null(lim) &&
	     (!json_is_integer(lim) || json_integer_value(lim) < 0)) ||
	    (posv != NULL && !json_is_null(posv) && !json_is_integer(posv)))
		return jmap_fail(res_r, "invalidArguments", "position or limit");
	json_t *state = jmap_state_get(c, STORE_JMAP_EMAIL);
	if (state == NULL)
		state = json_string("0");
	size_t limit = JMAP_QUERY_MAX_LIMIT;
	if (json_is_integer(lim) && (size_t)json_integer_value(lim) < limit)
		limit = (size_t)json_integer_value(lim);
	int fast = query_fast(c, args, limit, state, res_r);
	if (fast != 0) {
		json_decref(state);
		if (fast > 0 && json_is_integer(lim) &&
		    json_integer_value(lim) > JMAP_QUERY_MAX_LIMIT)
			json_object_set_new(*res_r, "limit", json_integer(JMAP_QUERY_MAX_LIMIT));
		return fast < 0 ? -1 : 0;
	}
	if (query_run(c, args, &v, &n, res_r) < 0) {
		json_decref(state);
		return -1;
	}
	size_t kept = (size_t)json_integer_value(json_object_get(args, "_kept"));
	json_object_del(args, "_kept");
	json_int_t pos = json_integer_value(posv);
	const char *anchor = json_string_value(json_object_get(args, "anchor"));
	if (anchor != NULL) {
		int64_t aid;
		json_int_t found = -1;
		if (jmap_id_parse(c, anchor, 'e', &aid))
			for (size_t i = 0; i < kept && found < 0; i++)
				if (v[i].msg.id == aid)
					found = (json_int_t)i;
		if (found < 0) {
			store_jmap_emails_free(&v, n);
			json_decref(state);
			return jmap_fail(res_r, "anchorNotFound", NULL);
		}
		pos = found + json_integer_value(json_object_get(args, "anchorOffset"));
		if (pos < 0)
			pos = 0;
	} else if (pos < 0) {
		pos = (json_int_t)kept + pos < 0 ? 0 : (json_int_t)kept + pos;
	}
	if (pos > (json_int_t)kept)
		pos = (json_int_t)kept;
	json_t *ids = json_array();
	for (size_t i = (size_t)pos; i < kept && json_array_size(ids) < limit; i++) {
		char id[24];
		jmap_id(id, sizeof(id), 'e', v[i].msg.id);
		json_array_append_new(ids, json_string(id));
	}
	store_jmap_emails_free(&v, n);
	*res_r = json_pack("{s:s s:o s:b s:I s:o}", "accountId", c->account, "queryState", state,
			   "canCalculateChanges", jmap_email_query_can_calculate(args), "position",
			   pos, "ids", ids);
	if (json_is_true(json_object_get(args, "calculateTotal")))
		json_object_set_new(*res_r, "total", json_integer((json_int_t)kept));
	if (json_is_integer(lim) && json_integer_value(lim) > JMAP_QUERY_MAX_LIMIT)
		json_object_set_new(*res_r, "limit", json_integer(JMAP_QUERY_MAX_LIMIT));
	return 0;
}

/*
 * Email/queryChanges (RFC 8620 5.6) from the change log, without keeping
 * old results. Every filter condition and sort key we support depends only
 * on the Email itself, and any change to an Email (keywords, mailboxes,
 * destruction) is in the log: an Email the log does not name since the
 * client's state is in the same place relative to the other unchanged
 * ones. So "removed" is every Email changed since then that existed then
 * (RFC 8620 lets it name ids the old results did not hold), and "added"
 * is every changed Email in the current results, with its index. With
 * collapseThreads, which Email stands for a thread depends on the others:
 * cannotCalculateChanges, as 5.6 allows (Email/query says so in
 * canCalculateChanges). upToId is an optional optimisation: ignored.
 */
#define QUERY_CHANGES_MAX 100000 /* more changes than this: query again */

static bool jmap_email_query_can_calculate(json_t *args)
{
	return !json_is_true(json_object_get(args, "collapseThreads"));
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* One attempt; 1 when the state moved while it ran (try again). */
static int query_changes_once(struct jmap_ctx *c, json_t *args, uint64_t since, size_t max_changes,
			      json_t **res_r)
{
	uint64_t now, floor, after;
	if (store_jmap_state(c->store, c->account_id, STORE_JMAP_EMAIL, &now, &floor) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	if (since < floor || since > now)
		return jmap_fail(res_r, "cannotCalculateChanges", "sinceQueryState is not known");
	struct store_jmap_change *ch;
	size_t nch;
	if (store_jmap_changes(c->store, c->account_id, STORE_JMAP_EMAIL, since, QUERY_CHANGES_MAX,
			       &ch, &nch) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	if (nch > QUERY_CHANGES_MAX) {
		free(ch);
		return jmap_fail(res_r, "cannotCalculateChanges", "too many changes: query again");
	}
	int64_t *changed = xcalloc(nch + 1, sizeof(*changed));
	json_t *removed = json_array(), *added = json_array();
	for (size_t i = 0; i < nch; i++) {
		changed[i] = ch[i].obj;
		if (ch[i].created <= since) {
			char id[24];
			jmap_id(id, sizeof(id), 'e', ch[i].obj);
			json_array_append_new(removed, json_string(id));
		}
	}
	free(ch);
	qsort(changed, nch, sizeof(*changed), id_cmp);
	json_t *qargs =
		json_pack("{s:O s:O}", "filter", json_object_get(args, "filter") ?: json_null(),
			  "sort", json_object_get(args, "sort") ?: json_null());
	struct store_jmap_email *v = NULL;
	size_t n = 0;
	int ret = query_run(c, qargs, &v, &n, res_r);
	size_t kept = ret < 0 ? 0 : (size_t)json_integer_value(json_object_get(qargs, "_kept"));
	json_decref(qargs);
	for (size_t i = 0; ret == 0 && i < kept; i++) {
		if (bsearch(&v[i].msg.id, changed, nch, sizeof(*changed), id_cmp) == NULL)
			continue;
		char id[24];
		jmap_id(id, sizeof(id), 'e', v[i].msg.id);
		json_array_append_new(added,
				      json_pack("{s:s s:I}", "id", id, "index", (json_int_t)i));
	}
	store_jmap_emails_free(&v, n);
	free(changed);
	if (ret == 0 &&
	    store_jmap_state(c->store, c->account_id, STORE_JMAP_EMAIL, &after, NULL) < 0)
		ret = jmap_fail(res_r, "serverFail", NULL);
	if (ret == 0 && after != now)
		ret = 1; /* a commit came between the log and the query */
	if (ret == 0 && json_array_size(removed) + json_array_size(added) > max_changes)
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
		json_object_set_new(*res_r, "total", json_integer((json_int_t)kept));
	return 0;
}

int jmap_email_query_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId",       "filter",          "sort",
					    "sinceQueryState", "maxChanges",      "upToId",
					    "calculateTotal",  "collapseThreads", NULL};
	if (jmap_check_mail_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	size_t max_changes = SIZE_MAX;
	json_t *mc = json_object_get(args, "maxChanges");
	if (mc != NULL && !json_is_null(mc)) {
		if (!json_is_integer(mc) || json_integer_value(mc) <= 0)
			return jmap_fail(res_r, "invalidArguments", "maxChanges must be positive");
		max_changes = (size_t)json_integer_value(mc);
	}
	uint64_t since;
	if (!jmap_state_parse(json_string_value(json_object_get(args, "sinceQueryState")), &since))
		return jmap_fail(res_r, "cannotCalculateChanges", "unknown sinceQueryState");
	if (!jmap_email_query_can_calculate(args))
		return jmap_fail(res_r, "cannotCalculateChanges", "collapseThreads: query again");
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = query_changes_once(c, args, since, max_changes, res_r);
		if (r <= 0)
			return r;
	}
	return jmap_fail(res_r, "cannotCalculateChanges", "busy: query again");
}

/* --- SearchSnippet/get -------------------------------------------------- */

/* Terms of text/body/subject conditions anywhere in the filter. */
static void filter_terms(json_t *f, const char *field, json_t *out)
{
	json_t *conds = json_object_get(f, "conditions");
	size_t i;
	json_t *sub;
	json_array_foreach(conds, i, sub) filter_terms(sub, field, out);
	const char *t = json_string_value(json_object_get(f, field));
	if (t != NULL)
		json_array_append_new(out, json_string(t));
	if (strcmp(field, "subject") != 0 && strcmp(field, "text") != 0)
		return;
	t = json_string_value(json_object_get(f, "text"));
	if (t != NULL && strcmp(field, "subject") == 0)
		json_array_append_new(out, json_string(t));
}

/* Escape s for HTML with each term wrapped in <mark>; NULL if no term occurs. */
static char *highlight(const char *s, json_t *terms, size_t max_chars, bool around)
{
	if (s == NULL)
		return NULL;
	const char *first = NULL;
	size_t i;
	json_t *t;
	json_array_foreach(terms, i, t)
	{
		const char *p = strcasestr(s, json_string_value(t));
		if (p != NULL && (first == NULL || p < first))
			first = p;
	}
	if (first == NULL)
		return NULL;
	const char *start = s;
	if (around)
		for (int back = 0; start < first && first - start > 60 && back < 1; back++)
			start = g_utf8_find_next_char(first - 60, NULL) ?: first;
	struct buf b;
	buf_init(&b);
	size_t chars = 0;
	for (const char *p = start; *p != '\0' && chars < max_chars;) {
		size_t mlen = 0;
		json_array_foreach(terms, i, t)
		{
			size_t tl = strlen(json_string_value(t));
			if (tl > 0 && strncasecmp(p, json_string_value(t), tl) == 0)
				mlen = tl;
		}
		if (mlen > 0)
			buf_append_str(&b, "<mark>");
		size_t take = mlen > 0 ? mlen : (size_t)(g_utf8_next_char(p) - p);
		for (size_t k = 0; k < take && p[k] != '\0'; k++) {
			char ch = p[k];
			if (ch == '<')
				buf_append_str(&b, "&lt;");
			else if (ch == '>')
				buf_append_str(&b, "&gt;");
			else if (ch == '&')
				buf_append_str(&b, "&amp;");
			else if (ch == '\r' || ch == '\n' || ch == '\t')
				buf_append_str(&b, " ");
			else
				buf_append(&b, &ch, 1);
		}
		if (mlen > 0)
			buf_append_str(&b, "</mark>");
		p += take;
		chars++;
	}
	char *out = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return out;
}

/*
 * The body snippet: from the cached preview when a term is there (no
 * parsing); else, only when the searchable text says the body holds a
 * term, from the decoded body (the one case that opens the message).
 */
static char *snippet_body(struct jmap_ctx *c, struct row *r, json_t *terms)
{
	char *preview = NULL, *out = NULL;
	bool has_att;
	if (jmap_blob_summary(c->store, r->e->msg.blob_id, &preview, &has_att) == 0) {
		out = highlight(preview, terms, 256, true);
		free(preview);
	}
	if (out != NULL)
		return out;
	const struct store_search_doc *d = row_doc(c, r);
	bool in_body = false;
	size_t i;
	json_t *t;
	json_array_foreach(terms, i, t)
	{
		struct buf f;
		buf_init(&f);
		mime_text_fold(json_string_value(t), strlen(json_string_value(t)), &f);
		in_body = in_body ||
			(f.len > 0 && d->body != NULL &&
			 memmem(d->body, d->body_len, f.data, f.len) != NULL);
		buf_deinit(&f);
	}
	return in_body ? highlight(row_body(c, r), terms, 256, true) : NULL;
}

int jmap_search_snippet_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "filter", "emailIds", NULL};
	if (jmap_check_mail_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *ids = json_object_get(args, "emailIds");
	if (!json_is_array(ids))
		return jmap_fail(res_r, "invalidArguments", "emailIds");
	if (json_array_size(ids) > JMAP_MAX_OBJECTS_GET)
		return jmap_fail(res_r, "requestTooLarge", NULL);
	json_t *filter = json_object_get(args, "filter");
	json_t *sterms = json_array(), *bterms = json_array();
	filter_terms(filter, "subject", sterms);
	filter_terms(filter, "body", bterms);
	filter_terms(filter, "text", bterms);
	json_t *list = json_array(), *not_found = json_array();
	size_t i;
	json_t *idv;
	json_array_foreach(ids, i, idv)
	{
		int64_t id = 0;
		struct store_jmap_email *e = NULL;
		size_t ne = 0;
		if (!jmap_id_parse(c, json_string_value(idv), 'e', &id) ||
		    jmap_emails(c, &id, 1, 0, 0, &e, &ne) < 0 || ne == 0) {
			json_array_append(not_found, idv);
			store_jmap_emails_free(&e, ne);
			continue;
		}
		struct row r = {.e = &e[0]};
		char *subj = highlight(e[0].subject, sterms, 256, false);
		char *prev = json_array_size(bterms) > 0 ? snippet_body(c, &r, bterms) : NULL;
		json_array_append_new(list,
				      json_pack("{s:O s:o s:o}", "emailId", idv, "subject",
						subj ? json_string(subj) : json_null(), "preview",
						prev ? json_string(prev) : json_null()));
		free(subj);
		free(prev);
		row_release(&r);
		store_jmap_emails_free(&e, ne);
	}
	json_decref(sterms);
	json_decref(bterms);
	*res_r = json_pack("{s:s s:o s:o}", "accountId", c->account, "list", list, "notFound",
			   not_found);
	return 0;
}
