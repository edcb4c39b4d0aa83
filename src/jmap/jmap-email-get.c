/* SPDX-License-Identifier: MIT */
/*
 * Email/get, Email/changes, Thread/get, Thread/changes, and the threading
 * of new messages. An Email is one message row (store_jmap_emails): its id
 * is "e" + the row id, in exactly one mailbox. Threads are assigned lazily
 * at the start of each JMAP request to every message that has none yet:
 * a message joins the thread of the first of its Message-ID, In-Reply-To
 * and References ids already known in the account whose thread has the
 * same base subject (Re:/Fwd:/[list] prefixes removed); otherwise it
 * starts a thread whose id is its own row id. Ids it refers to that are
 * not known yet are recorded too, so a parent that arrives after its
 * reply joins the reply's thread.
 */
#include "jmap/jmap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define THREAD_SYNC_MAX 5000 /* messages threaded per request */
#define THREAD_REFS_MAX 32

/* --- keywords ---------------------------------------------------------- */

static const struct {
	uint32_t flag;
	const char *kw;
} system_keywords[] = {
	{STORE_FLAG_SEEN, "$seen"},
	{STORE_FLAG_ANSWERED, "$answered"},
	{STORE_FLAG_FLAGGED, "$flagged"},
	{STORE_FLAG_DRAFT, "$draft"},
};

json_t *jmap_keywords_json(uint32_t flags, const char *keywords)
{
	json_t *o = json_object();
	for (size_t i = 0; i < sizeof(system_keywords) / sizeof(system_keywords[0]); i++)
		if (flags & system_keywords[i].flag)
			json_object_set_new(o, system_keywords[i].kw, json_true());
	char *copy = xstrdup(keywords != NULL ? keywords : "");
	char *save = NULL;
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		json_object_set_new(o, str_lower(t), json_true());
	free(copy);
	return o;
}

bool jmap_contains_ci(const char *hay, const char *needle)
{
	return hay != NULL && needle != NULL && strcasestr(hay, needle) != NULL;
}

/* --- threading --------------------------------------------------------- */

/* Subject without "Re:", "Fwd:", "Fw:", "[list]" prefixes, lower-cased. */
static void base_subject(const char *subject, char *out, size_t size)
{
	const char *p = subject != NULL ? subject : "";
	for (bool again = true; again;) {
		again = false;
		while (*p == ' ' || *p == '\t')
			p++;
		static const char *const prefixes[] = {"re:", "fwd:", "fw:", "aw:", "tr:", "wg:"};
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
			if (strncasecmp(p, prefixes[i], strlen(prefixes[i])) == 0) {
				p += strlen(prefixes[i]);
				again = true;
			}
		if (*p == '[') {
			const char *e = strchr(p, ']');
			if (e != NULL) {
				p = e + 1;
				again = true;
			}
		}
	}
	snprintf(out, size, "%s", p);
	size_t len = strlen(out);
	while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t'))
		out[--len] = '\0';
	str_lower(out);
}

/* Message-IDs a message names: its own first, then In-Reply-To, References. */
static size_t message_refs(GMimeMessage *msg, char **ids, size_t max)
{
	static const char *const headers[] = {"Message-ID", "In-Reply-To", "References"};
	size_t n = 0;
	for (size_t h = 0; h < 3; h++) {
		const char *v = g_mime_object_get_header(GMIME_OBJECT(msg), headers[h]);
		if (v == NULL)
			continue;
		GMimeReferences *refs = g_mime_references_parse(NULL, v);
		int count = refs != NULL ? g_mime_references_length(refs) : 0;
		/* References: the nearest ancestors (the end of the list) matter most. */
		for (int i = count - 1; i >= 0 && n < max; i--) {
			const char *id = g_mime_references_get_message_id(refs, i);
			if (id != NULL && id[0] != '\0' && strlen(id) < 512)
				ids[n++] = xstrdup(id);
		}
		if (refs != NULL)
			g_mime_references_free(refs);
		if (h == 0 && n == 0 && n < max)
			ids[n++] = NULL; /* no Message-ID: a slot the caller fills */
	}
	return n;
}

static int thread_one(struct jmap_ctx *c, const struct store_jmap_email *e)
{
	char *ids[THREAD_REFS_MAX] = {0};
	size_t n = 0;
	struct jmap_msg m;
	char subject[512], known[512];

	if (jmap_msg_open(c->store, e->msg.blob_id, true, &m) == 0)
		n = message_refs(m.msg, ids, THREAD_REFS_MAX);
	jmap_msg_close(&m);
	if (n == 0)
		n = 1;
	if (ids[0] == NULL) /* no Message-ID: the blob names the message */
		ids[0] = xasprintf("%s@blob.facteur", e->msg.blob_id);
	base_subject(e->subject, subject, sizeof(subject));
	int64_t thread = 0;
	for (size_t i = 0; i < n && thread == 0; i++) {
		int64_t t;
		int r = store_jmap_msgid_thread(c->store, c->account_id, ids[i], &t, known,
						sizeof(known));
		if (r < 0)
			break;
		/* Its own Message-ID seen before (a copy) always joins. */
		if (r > 0 && (i == 0 || strcmp(known, subject) == 0))
			thread = t;
	}
	if (thread == 0)
		thread = e->msg.id;
	const char *error;
	int ret = store_jmap_thread_set(c->store, c->account_id, e->msg.id, thread,
					(const char *const *)ids, n, subject, &error);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	return ret;
}

static int64_t thread_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int jmap_thread_sync(struct jmap_ctx *c, int64_t budget_us)
{
	int64_t *ids;
	size_t n;
	const char *error;
	if (store_jmap_unthreaded(c->store, c->account_id, THREAD_SYNC_MAX, &ids, &n) < 0)
		return -1;
	if (n == 0) {
		free(ids);
		return 1;
	}
	if (store_jmap_batch_begin(c->store, &error) < 0) {
		free(ids);
		return -1;
	}
	int ret = 0;
	int64_t start = thread_now_us();
	size_t i;
	/*
	 * One at a time (bounded memory whatever the number of new
	 * messages), all in one transaction: one commit, not one fsync per
	 * message (20,000 messages APPENDed over IMAP held the loop for
	 * 20 s). Each message sees the ones before it, its parents.
	 */
	for (i = 0; i < n && ret == 0; i++) {
		if (budget_us > 0 && i > 0 && thread_now_us() - start >= budget_us)
			break;
		struct store_jmap_email *e;
		size_t ne;
		if (store_jmap_emails(c->store, c->account_id, &ids[i], 1, 0, 0, &e, &ne) < 0) {
			ret = -1;
			break;
		}
		if (ne == 1)
			ret = thread_one(c, &e[0]);
		store_jmap_emails_free(&e, ne);
	}
	free(ids);
	if (store_jmap_batch_end(c->store, ret == 0, &error) < 0 || ret < 0)
		return -1;
	/* Stopped by the budget, or THREAD_SYNC_MAX of them: maybe more. */
	return i < n || n == THREAD_SYNC_MAX ? 0 : 1;
}

/* --- Email/get --------------------------------------------------------- */

static const char *const email_props[] = {"id",
					  "blobId",
					  "threadId",
					  "mailboxIds",
					  "keywords",
					  "size",
					  "receivedAt",
					  "messageId",
					  "inReplyTo",
					  "references",
					  "sender",
					  "from",
					  "to",
					  "cc",
					  "bcc",
					  "replyTo",
					  "subject",
					  "sentAt",
					  "hasAttachment",
					  "preview",
					  "bodyStructure",
					  "textBody",
					  "htmlBody",
					  "attachments",
					  "bodyValues",
					  "headers",
					  NULL};
static const char *const default_props[] = {
	"id",         "blobId",     "threadId",      "mailboxIds",
	"keywords",   "size",       "receivedAt",    "messageId",
	"inReplyTo",  "references", "sender",        "from",
	"to",         "cc",         "bcc",           "replyTo",
	"subject",    "sentAt",     "hasAttachment", "preview",
	"bodyValues", "textBody",   "htmlBody",      "attachments",
	NULL};
static const char *const body_props[] = {
	"partId",      "blobId", "size",     "headers",  "name",     "type", "charset",
	"disposition", "cid",    "language", "location", "subParts", NULL};
static const char *const default_body_props[] = {"partId",   "blobId",   "size",        "name",
						 "type",     "charset",  "disposition", "cid",
						 "language", "location", NULL};

static bool header_prop(const char *name)
{
	struct jmap_hprop h;
	return jmap_hprop_parse(name, &h) == 1;
}

/* The convenience header properties: which header, in which form. */
static const struct {
	const char *prop;
	const char *header;
	enum jmap_hform form;
} convenience[] = {
	{"messageId", "Message-ID", JMAP_HF_MSGIDS},
	{"inReplyTo", "In-Reply-To", JMAP_HF_MSGIDS},
	{"references", "References", JMAP_HF_MSGIDS},
	{"sender", "Sender", JMAP_HF_ADDRESSES},
	{"from", "From", JMAP_HF_ADDRESSES},
	{"to", "To", JMAP_HF_ADDRESSES},
	{"cc", "Cc", JMAP_HF_ADDRESSES},
	{"bcc", "Bcc", JMAP_HF_ADDRESSES},
	{"replyTo", "Reply-To", JMAP_HF_ADDRESSES},
	{"subject", "Subject", JMAP_HF_TEXT},
	{"sentAt", "Date", JMAP_HF_DATE},
};

struct body_opts {
	json_t *props; /* bodyProperties, NULL: default */
	bool text, html, all;
	size_t max_bytes;
};

static bool body_want(const struct body_opts *o, const char *name)
{
	if (o->props != NULL)
		return jmap_want(o->props, name);
	for (size_t i = 0; default_body_props[i] != NULL; i++)
		if (strcmp(default_body_props[i], name) == 0)
			return true;
	return false;
}

static json_t *nullable(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *part_json(const struct jmap_msg *m, struct jmap_part *p, const struct body_opts *o,
			 bool tree)
{
	json_t *j = json_object();
	bool multi = p->part_id[0] == '\0';
	if (body_want(o, "partId"))
		json_object_set_new(j, "partId", multi ? json_null() : json_string(p->part_id));
	if (body_want(o, "blobId")) {
		char bid[160];
		jmap_part_blob_id(bid, sizeof(bid), m->blob_id, p->part_id);
		json_object_set_new(j, "blobId", multi ? json_null() : json_string(bid));
	}
	if (body_want(o, "size"))
		json_object_set_new(j, "size", json_integer((json_int_t)p->size));
	if (body_want(o, "headers"))
		json_object_set_new(j, "headers", jmap_headers_all(p->obj));
	if (body_want(o, "name"))
		json_object_set_new(j, "name", nullable(p->name));
	if (body_want(o, "type"))
		json_object_set_new(j, "type", json_string(p->type));
	if (body_want(o, "charset"))
		json_object_set_new(j, "charset", nullable(p->charset));
	if (body_want(o, "disposition"))
		json_object_set_new(j, "disposition", nullable(p->disposition));
	if (body_want(o, "cid"))
		json_object_set_new(j, "cid", nullable(p->cid));
	if (body_want(o, "language"))
		json_object_set(j, "language", p->language ? p->language : json_null());
	if (body_want(o, "location"))
		json_object_set_new(j, "location", nullable(p->location));
	if (o->props != NULL) {
		size_t i;
		json_t *v;
		json_array_foreach(o->props, i, v)
		{
			struct jmap_hprop h;
			if (jmap_hprop_parse(json_string_value(v), &h))
				json_object_set_new(j, json_string_value(v),
						    jmap_header_value(p->obj, &h));
		}
	}
	if (tree && multi && (o->props == NULL || jmap_want(o->props, "subParts"))) {
		json_t *subs = json_array();
		for (size_t i = 0; i < p->n_sub; i++)
			json_array_append_new(subs, part_json(m, p->sub[i], o, true));
		json_object_set_new(j, "subParts", subs);
	}
	return j;
}

static json_t *list_json(const struct jmap_msg *m, const struct jmap_part_list *l,
			 const struct body_opts *o)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, part_json(m, l->v[i], o, false));
	return a;
}

static void body_value(json_t *values, struct jmap_part *p, size_t max)
{
	if (strncmp(p->type, "text/", 5) != 0 || json_object_get(values, p->part_id) != NULL)
		return;
	bool problem;
	char *t = jmap_part_text(p, &problem);
	size_t len = strlen(t);
	bool truncated = false;
	if (max > 0 && len > max) {
		len = max;
		while (len > 0 && ((unsigned char)t[len] & 0xc0) == 0x80)
			len--; /* not inside a UTF-8 sequence */
		t[len] = '\0';
		truncated = true;
	}
	json_object_set_new(values, p->part_id,
			    json_pack("{s:s s:b s:b}", "value", t, "isEncodingProblem", problem,
				      "isTruncated", truncated));
	free(t);
}

static void text_parts(struct jmap_part *p, json_t *values, size_t max)
{
	if (p->part_id[0] != '\0')
		body_value(values, p, max);
	for (size_t i = 0; i < p->n_sub; i++)
		text_parts(p->sub[i], values, max);
}

static void email_body(json_t *j, json_t *props, struct jmap_msg *m, const struct body_opts *o)
{
	struct jmap_part *root = jmap_parts(m);
	struct jmap_part_list text = {0}, html = {0}, att = {0};
	jmap_body_lists(root, &text, &html, &att);
	if (jmap_want(props, "bodyStructure"))
		json_object_set_new(j, "bodyStructure", part_json(m, root, o, true));
	if (jmap_want(props, "textBody"))
		json_object_set_new(j, "textBody", list_json(m, &text, o));
	if (jmap_want(props, "htmlBody"))
		json_object_set_new(j, "htmlBody", list_json(m, &html, o));
	if (jmap_want(props, "attachments"))
		json_object_set_new(j, "attachments", list_json(m, &att, o));
	if (jmap_want(props, "bodyValues")) {
		json_t *values = json_object();
		if (o->all)
			text_parts(root, values, o->max_bytes);
		for (size_t i = 0; o->text && i < text.n; i++)
			body_value(values, text.v[i], o->max_bytes);
		for (size_t i = 0; o->html && i < html.n; i++)
			body_value(values, html.v[i], o->max_bytes);
		json_object_set_new(j, "bodyValues", values);
	}
	jmap_part_list_free(&text);
	jmap_part_list_free(&html);
	jmap_part_list_free(&att);
	jmap_part_free(&root);
}

static bool wants_any(json_t *props, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (jmap_want(props, names[i]))
			return true;
	return false;
}

static bool wants_headers(json_t *props)
{
	static const char *const h[] = {
		"messageId", "inReplyTo", "references", "sender", "from",    "to", "cc",
		"bcc",       "replyTo",   "subject",    "sentAt", "headers", NULL};
	if (wants_any(props, h))
		return true;
	size_t i;
	json_t *v;
	json_array_foreach(props, i,
			   v) if (strncmp(json_string_value(v), "header:", 7) == 0) return true;
	return false;
}

static json_t *email_json(struct jmap_ctx *c, const struct store_jmap_email *e, json_t *props,
			  const struct body_opts *o)
{
	char id[24], tid[24], mid[24], bid[80], date[32];
	json_t *j = json_object();
	jmap_id(id, sizeof(id), 'e', e->msg.id);
	json_object_set_new(j, "id", json_string(id));
	if (jmap_want(props, "blobId")) {
		snprintf(bid, sizeof(bid), "B%s", e->msg.blob_id);
		json_object_set_new(j, "blobId", json_string(bid));
	}
	if (jmap_want(props, "threadId")) {
		jmap_id(tid, sizeof(tid), 't', e->thread_id != 0 ? e->thread_id : e->msg.id);
		json_object_set_new(j, "threadId", json_string(tid));
	}
	if (jmap_want(props, "mailboxIds")) {
		jmap_id(mid, sizeof(mid), 'm', e->msg.mailbox_id);
		json_object_set_new(j, "mailboxIds", json_pack("{s:b}", mid, 1));
	}
	if (jmap_want(props, "keywords"))
		json_object_set_new(j, "keywords", jmap_keywords_json(e->msg.flags, e->keywords));
	if (jmap_want(props, "size"))
		json_object_set_new(j, "size", json_integer((json_int_t)e->msg.size));
	if (jmap_want(props, "receivedAt")) {
		jmap_utc_date(date, sizeof(date), e->msg.internal_date);
		json_object_set_new(j, "receivedAt", json_string(date));
	}
	if (jmap_want(props, "preview") || jmap_want(props, "hasAttachment")) {
		char *preview;
		bool has_att;
		jmap_blob_summary(c->store, e->msg.blob_id, &preview, &has_att);
		if (jmap_want(props, "preview"))
			json_object_set_new(j, "preview", json_string(preview ? preview : ""));
		if (jmap_want(props, "hasAttachment"))
			json_object_set_new(j, "hasAttachment", json_boolean(has_att));
		free(preview);
	}
	static const char *const body[] = {"bodyStructure", "textBody",   "htmlBody",
					   "attachments",   "bodyValues", NULL};
	bool want_body = wants_any(props, body);
	if (!want_body && !wants_headers(props))
		return j;
	struct jmap_msg m;
	if (jmap_msg_open(c->store, e->msg.blob_id, !want_body, &m) < 0) {
		jmap_msg_close(&m);
		return j; /* the blob is unreadable: metadata only (logged by the store) */
	}
	for (size_t i = 0; i < sizeof(convenience) / sizeof(convenience[0]); i++) {
		if (!jmap_want(props, convenience[i].prop))
			continue;
		struct jmap_hprop h = {.form = convenience[i].form};
		snprintf(h.name, sizeof(h.name), "%s", convenience[i].header);
		json_object_set_new(j, convenience[i].prop,
				    jmap_header_value(GMIME_OBJECT(m.msg), &h));
	}
	if (jmap_want(props, "headers"))
		json_object_set_new(j, "headers", jmap_headers_all(GMIME_OBJECT(m.msg)));
	size_t i;
	json_t *v;
	json_array_foreach(props, i, v)
	{
		struct jmap_hprop h;
		if (jmap_hprop_parse(json_string_value(v), &h))
			json_object_set_new(j, json_string_value(v),
					    jmap_header_value(GMIME_OBJECT(m.msg), &h));
	}
	if (want_body)
		email_body(j, props, &m, o);
	jmap_msg_close(&m);
	return j;
}

static const char *const get_args[] = {"accountId",
				       "ids",
				       "properties",
				       "bodyProperties",
				       "fetchTextBodyValues",
				       "fetchHTMLBodyValues",
				       "fetchAllBodyValues",
				       "maxBodyValueBytes",
				       NULL};

static bool body_prop_ok(const char *name)
{
	struct jmap_hprop h;
	for (size_t i = 0; body_props[i] != NULL; i++)
		if (strcmp(body_props[i], name) == 0)
			return true;
	return jmap_hprop_parse(name, &h) == 1;
}

static int body_opts_parse(json_t *args, struct body_opts *o, json_t **res_r)
{
	memset(o, 0, sizeof(*o));
	json_t *bp = json_object_get(args, "bodyProperties");
	if (bp != NULL && !json_is_null(bp)) {
		if (!json_is_array(bp))
			return jmap_fail(res_r, "invalidArguments", "bodyProperties");
		size_t i;
		json_t *v;
		json_array_foreach(bp, i,
				   v) if (!json_is_string(v) ||
					  !body_prop_ok(json_string_value(
						  v))) return jmap_fail(res_r, "invalidArguments",
									"unknown body property");
		o->props = bp;
	}
	o->text = json_is_true(json_object_get(args, "fetchTextBodyValues"));
	o->html = json_is_true(json_object_get(args, "fetchHTMLBodyValues"));
	o->all = json_is_true(json_object_get(args, "fetchAllBodyValues"));
	json_t *mx = json_object_get(args, "maxBodyValueBytes");
	o->max_bytes = JMAP_MAX_BODY_VALUE;
	if (mx != NULL && !json_is_null(mx)) {
		if (!json_is_integer(mx) || json_integer_value(mx) < 0)
			return jmap_fail(res_r, "invalidArguments", "maxBodyValueBytes");
		if (json_integer_value(mx) > 0 &&
		    (uint64_t)json_integer_value(mx) < JMAP_MAX_BODY_VALUE)
			o->max_bytes = (size_t)json_integer_value(mx);
	}
	return 0;
}

int jmap_email_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	json_t *ids, *props;
	struct body_opts o;

	if (jmap_check_mail_account(c, args, res_r) < 0 ||
	    jmap_check_args(args, get_args, res_r) < 0 || jmap_get_ids(args, &ids, res_r) < 0 ||
	    jmap_get_props(args, email_props, header_prop, &props, res_r) < 0 ||
	    body_opts_parse(args, &o, res_r) < 0)
		return -1;
	json_t *defaults = NULL;
	if (props == NULL) {
		defaults = json_array();
		for (size_t i = 0; default_props[i] != NULL; i++)
			json_array_append_new(defaults, json_string(default_props[i]));
		props = defaults;
	}
	json_t *state = jmap_state_get(c, STORE_JMAP_EMAIL);
	json_t *list = json_array(), *not_found = json_array();
	struct store_jmap_email *v = NULL;
	size_t n = 0;
	int ret = 0;
	/*
	 * Previews computed here are cached (store_jmap_blob_info_set): in one
	 * transaction, not one fsync per email (500 new emails held the loop
	 * for 2 s). Without it (busy), each is written on its own.
	 */
	const char *error;
	bool batch = store_jmap_batch_begin(c->store, &error) == 0;
	if (ids == NULL) {
		/* All emails: bounded by maxObjectsInGet. */
		ret = jmap_emails(c, NULL, 0, 0, 0, &v, &n);
		if (ret == 0 && n > JMAP_MAX_OBJECTS_GET) {
			if (batch)
				store_jmap_batch_end(c->store, false, &error);
			store_jmap_emails_free(&v, n);
			json_decref(defaults);
			json_decref(list);
			json_decref(not_found);
			json_decref(state);
			return jmap_fail(res_r, "requestTooLarge", NULL);
		}
		for (size_t i = 0; ret == 0 && i < n; i++)
			json_array_append_new(list, email_json(c, &v[i], props, &o));
	} else {
		size_t i;
		json_t *idv;
		json_array_foreach(ids, i, idv)
		{
			int64_t id;
			struct store_jmap_email *e = NULL;
			size_t ne = 0;
			if (jmap_id_parse(c, json_string_value(idv), 'e', &id) &&
			    jmap_emails(c, &id, 1, 0, 0, &e, &ne) == 0 && ne == 1)
				json_array_append_new(list, email_json(c, &e[0], props, &o));
			else
				json_array_append(not_found, idv);
			store_jmap_emails_free(&e, ne);
		}
	}
	if (batch && store_jmap_batch_end(c->store, true, &error) < 0)
		log_warn("jmap.preview_cache", "account=%" PRId64, c->account_id);
	store_jmap_emails_free(&v, n);
	json_decref(defaults);
	if (ret < 0 || state == NULL) {
		json_decref(list);
		json_decref(not_found);
		json_decref(state);
		return jmap_fail(res_r, "serverFail", NULL);
	}
	*res_r = json_pack("{s:s s:o s:o s:o}", "accountId", c->account, "state", state, "list",
			   list, "notFound", not_found);
	return 0;
}

int jmap_email_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	return jmap_changes(c, args, STORE_JMAP_EMAIL, 'e', NULL, res_r);
}

/* --- Thread/get, Thread/changes ---------------------------------------- */

static json_t *thread_emails(struct jmap_ctx *c, int64_t thread)
{
	struct store_jmap_email *v;
	size_t n;
	if (jmap_emails(c, NULL, 0, 0, thread, &v, &n) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char id[24];
		jmap_id(id, sizeof(id), 'e', v[i].msg.id);
		json_array_append_new(a, json_string(id));
	}
	store_jmap_emails_free(&v, n);
	return a;
}

static bool thread_exists(struct jmap_ctx *c, int64_t thread)
{
	json_t *a = thread_emails(c, thread);
	bool yes = a != NULL && json_array_size(a) > 0;
	json_decref(a);
	return yes;
}

int jmap_thread_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ids", "properties", NULL};
	static const char *const props_known[] = {"id", "emailIds", NULL};
	json_t *ids, *props;

	if (jmap_check_mail_account(c, args, res_r) < 0 ||
	    jmap_check_args(args, known, res_r) < 0 || jmap_get_ids(args, &ids, res_r) < 0 ||
	    jmap_get_props(args, props_known, NULL, &props, res_r) < 0)
		return -1;
	if (ids == NULL)
		return jmap_fail(res_r, "requestTooLarge", "Thread/get needs ids");
	json_t *list = json_array(), *not_found = json_array();
	size_t i;
	json_t *idv;
	json_array_foreach(ids, i, idv)
	{
		int64_t t;
		json_t *emails = NULL;
		if (jmap_id_parse(c, json_string_value(idv), 't', &t))
			emails = thread_emails(c, t);
		if (emails == NULL || json_array_size(emails) == 0) {
			json_decref(emails);
			json_array_append(not_found, idv);
			continue;
		}
		json_t *j = json_pack("{s:O}", "id", idv);
		if (jmap_want(props, "emailIds"))
			json_object_set(j, "emailIds", emails);
		json_decref(emails);
		json_array_append_new(list, j);
	}
	json_t *state = jmap_state_get(c, STORE_JMAP_THREAD);
	*res_r = json_pack("{s:s s:o s:o s:o}", "accountId", c->account, "state",
			   state ? state : json_string("0"), "list", list, "notFound", not_found);
	return 0;
}

int jmap_thread_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	return jmap_changes(c, args, STORE_JMAP_THREAD, 't', thread_exists, res_r);
}
