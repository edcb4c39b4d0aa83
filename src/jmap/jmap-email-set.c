/* SPDX-License-Identifier: MIT */
/*
 * Email/set (keywords and mailboxIds patches, drafts created from JSON
 * with attachments by blobId, destroy), Email/import, Email/copy and
 * Email/parse. Keywords map to IMAP flags ($seen \Seen, $answered,
 * $flagged, $draft) and keywords; \Deleted has no JMAP keyword and is kept
 * as it is. Each Email lives in exactly one mailbox (maxMailboxesPerEmail
 * is 1): changing mailboxIds moves the message and keeps its id. Created
 * messages are written by GMime with CRLF line ends and stored like an
 * IMAP APPEND (durable before the answer).
 */
#include "jmap/jmap-private.h"

#include "filter/filter.h"
#include "lib/server-ctx.h"

#include "lib/util.h"
#include "mime/mime-store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- keywords ---------------------------------------------------------- */

static const struct {
	uint32_t flag;
	const char *kw;
} sysflags[] = {
	{STORE_FLAG_SEEN, "$seen"},
	{STORE_FLAG_ANSWERED, "$answered"},
	{STORE_FLAG_FLAGGED, "$flagged"},
	{STORE_FLAG_DRAFT, "$draft"},
};

/*
 * A keywords object into flags and other keywords (pointers into kw's
 * keys, at most max). 0 / -1 invalid keyword (*bad_r names it).
 */
static int keywords_split(json_t *kw, uint32_t *flags_r, const char **other, size_t max,
			  size_t *n_r, const char **bad_r)
{
	const char *key;
	json_t *v;
	*flags_r = 0;
	*n_r = 0;
	json_object_foreach(kw, key, v)
	{
		if (!json_is_true(v)) {
			*bad_r = key;
			return -1;
		}
		bool sys = false;
		for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]) && !sys; i++)
			if (strcasecmp(sysflags[i].kw, key) == 0) {
				*flags_r |= sysflags[i].flag;
				sys = true;
			}
		if (sys)
			continue;
		if (!store_keyword_valid(key) || *n_r >= max) {
			*bad_r = key;
			return -1;
		}
		other[(*n_r)++] = key;
	}
	return 0;
}

/* --- update ------------------------------------------------------------- */

static json_t *one_email(struct jmap_ctx *c, int64_t id, struct store_jmap_email **e_r, size_t *n_r)
{
	if (jmap_emails(c, &id, 1, 0, 0, e_r, n_r) < 0)
		return jmap_set_error("serverFail", NULL, NULL);
	if (*n_r == 0) {
		store_jmap_emails_free(e_r, 0); /* the (empty) array */
		return jmap_set_error("notFound", NULL, NULL);
	}
	return NULL;
}

/* Apply "name" or "name/key" patches to obj (a keywords or mailboxIds object). */
static int patch_apply(json_t *obj, const char *prop, const char *path, json_t *v)
{
	size_t plen = strlen(prop);
	if (strcmp(path, prop) == 0) {
		if (!json_is_object(v))
			return -1;
		json_object_clear(obj);
		json_object_update(obj, v);
		return 0;
	}
	if (strncmp(path, prop, plen) != 0 || path[plen] != '/' || path[plen + 1] == '\0')
		return -1;
	const char *key = path + plen + 1;
	if (json_is_true(v))
		json_object_set_new(obj, key, json_true());
	else if (json_is_null(v))
		json_object_del(obj, key);
	else
		return -1;
	return 0;
}

/* The two RFC 4314 rights removing a message takes (flag, then expunge). */
#define REMOVE_RIGHTS (STORE_RIGHT_DELETE_MESSAGE | STORE_RIGHT_EXPUNGE)

/*
 * A move into or out of Junk teaches rspamd (filter_learn_class), as an
 * IMAP MOVE does; the blob is read and posted in the filter's threads.
 */
static void email_learn(struct jmap_ctx *c, const struct store_jmap_email *e, int64_t dst)
{
	struct filter *f = c->r->ctx != NULL ? c->r->ctx->filter : NULL;
	struct store_mailbox from, to;
	if (!filter_learns(f) || store_mailbox_head(c->store, e->msg.mailbox_id, &from) <= 0 ||
	    store_mailbox_head(c->store, dst, &to) <= 0)
		return;
	int learn = filter_learn_class(&from, &to);
	int fd = learn >= 0 ? store_blob_open(c->store, e->msg.blob_id) : -1;
	if (fd >= 0)
		filter_learn(f, learn == 1, &fd, 1, "jmap.email_set");
}

/* Do the keywords of e differ from flags + other, apart from \Seen? */
static bool keywords_differ(const struct store_jmap_email *e, uint32_t flags,
			    const char *const *other, size_t n_other)
{
	uint32_t mask = ~(uint32_t)(STORE_FLAG_SEEN | STORE_FLAG_DELETED);
	if ((e->msg.flags & mask) != (flags & mask))
		return true;
	size_t have = 0;
	const char *k = e->keywords != NULL ? e->keywords : "";
	while (*k != '\0') {
		size_t len = strcspn(k, " ");
		bool found = false;
		for (size_t i = 0; i < n_other && !found; i++)
			found = strlen(other[i]) == len && strncasecmp(other[i], k, len) == 0;
		if (!found)
			return true;
		have++;
		k += len;
		k += *k == ' ';
	}
	return have != n_other;
}

/*
 * The rights an update of e takes (RFC 8621 2, myRights; RFC 4314): s to
 * change $seen, w for the other keywords, t and e to take it out of its
 * mailbox and i to put it in another. NULL, or a forbidden SetError.
 */
static json_t *update_allowed(struct jmap_ctx *c, const struct store_jmap_email *e, uint32_t flags,
			      const char *const *other, size_t n_other, int64_t dst)
{
	uint32_t have = jmap_rights(c, e->msg.mailbox_id);
	if (((flags ^ e->msg.flags) & STORE_FLAG_SEEN) && !(have & STORE_RIGHT_SEEN))
		return jmap_set_error("forbidden", "no right to change $seen here", "keywords");
	if (keywords_differ(e, flags, other, n_other) && !(have & STORE_RIGHT_WRITE))
		return jmap_set_error("forbidden", "no right to change keywords here", "keywords");
	if (dst != e->msg.mailbox_id) {
		if ((have & REMOVE_RIGHTS) != REMOVE_RIGHTS)
			return jmap_set_error("forbidden", "no right to remove from this mailbox",
					      "mailboxIds");
		if (!(jmap_rights(c, dst) & STORE_RIGHT_INSERT))
			return jmap_set_error("forbidden", "no right to add to that mailbox",
					      "mailboxIds");
	}
	return NULL;
}

json_t *jmap_email_update_one(struct jmap_ctx *c, int64_t id, json_t *patch)
{
	struct store_jmap_email *e;
	size_t n;
	json_t *err = one_email(c, id, &e, &n);
	if (err != NULL)
		return err;
	char mid[24];
	jmap_id(mid, sizeof(mid), 'm', e->msg.mailbox_id);
	json_t *kw = jmap_keywords_json(e->msg.flags, e->keywords);
	json_t *mb = json_pack("{s:b}", mid, 1);
	bool kw_changed = false, mb_changed = false;
	const char *path;
	json_t *v;
	json_object_foreach(patch, path, v)
	{
		if (strncmp(path, "keywords", 8) == 0 && patch_apply(kw, "keywords", path, v) == 0)
			kw_changed = true;
		else if (strncmp(path, "mailboxIds", 10) == 0 &&
			 patch_apply(mb, "mailboxIds", path, v) == 0)
			mb_changed = true;
		else {
			err = jmap_set_error("invalidProperties",
					     "only keywords and mailboxIds "
					     "can be changed",
					     path);
			goto out;
		}
	}
	const char *other[STORE_MAILBOX_KEYWORDS_MAX];
	size_t n_other;
	uint32_t flags;
	const char *bad = NULL, *error = NULL;
	if (keywords_split(kw, &flags, other, STORE_MAILBOX_KEYWORDS_MAX, &n_other, &bad) < 0) {
		err = jmap_set_error("invalidProperties", "invalid keyword", "keywords");
		goto out;
	}
	int64_t dst = 0;
	if (mb_changed) {
		const char *key;
		json_t *x;
		size_t count = 0;
		json_object_foreach(mb, key, x)
		{
			count++;
			if (!json_is_true(x) || !jmap_id_parse(c, key, 'm', &dst))
				count = 99;
		}
		if (count == 0) {
			err = jmap_set_error("invalidProperties", "an Email must be in a mailbox",
					     "mailboxIds");
			goto out;
		}
		if (count > 1) {
			err = jmap_set_error("tooManyMailboxes", "an Email is in one mailbox",
					     "mailboxIds");
			goto out;
		}
	}
	if ((err = update_allowed(c, e, kw_changed ? flags : e->msg.flags, other, n_other,
				  mb_changed ? dst : e->msg.mailbox_id)) != NULL)
		goto out;
	if (kw_changed &&
	    store_message_set_flags_keywords(c->store, e->msg.mailbox_id, e->msg.uid,
					     flags | (e->msg.flags & STORE_FLAG_DELETED), other,
					     n_other, 0, NULL, &error) < 0) {
		err = jmap_set_error(error != NULL && strstr(error, "keyword") ? "invalidProperties"
									       : "serverFail",
				     error, "keywords");
		goto out;
	}
	if (mb_changed && dst != e->msg.mailbox_id) {
		if (store_jmap_email_move(c->store, c->account_id, id, dst, &error) < 0)
			err = jmap_set_error(error != NULL && strstr(error, "mailbox")
						     ? "invalidProperties"
						     : "serverFail",
					     error, "mailboxIds");
		else
			email_learn(c, e, dst);
	}
out:
	json_decref(kw);
	json_decref(mb);
	store_jmap_emails_free(&e, n);
	return err;
}

json_t *jmap_email_destroy_one(struct jmap_ctx *c, int64_t id)
{
	struct store_jmap_email *e;
	size_t n;
	const char *error;
	json_t *err = one_email(c, id, &e, &n);
	if (err == NULL && (jmap_rights(c, e->msg.mailbox_id) & REMOVE_RIGHTS) != REMOVE_RIGHTS)
		err = jmap_set_error("forbidden", "no right to remove from this mailbox", NULL);
	if (err == NULL &&
	    store_message_expunge(c->store, e->msg.mailbox_id, &e->msg.uid, 1, &error) < 0)
		err = jmap_set_error("serverFail", error, NULL);
	store_jmap_emails_free(&e, n);
	return err;
}

/* --- storing ------------------------------------------------------------ */

int jmap_append(struct jmap_ctx *c, int64_t mailbox_id, const char *data, size_t len,
		json_t *keywords, time_t received, int64_t *id_r, const char **error_r)
{
	const char *other[STORE_MAILBOX_KEYWORDS_MAX];
	size_t n_other = 0;
	uint32_t flags = 0, uid;
	const char *bad;
	struct mime_parsed mp;

	if (keywords != NULL &&
	    keywords_split(keywords, &flags, other, STORE_MAILBOX_KEYWORDS_MAX, &n_other, &bad) <
		    0) {
		*error_r = "invalid keyword";
		return -1;
	}
	memset(&mp, 0, sizeof(mp));
	if (mime_parse(data, len, &mp) < 0) {
		*error_r = "the message cannot be parsed";
		return -1;
	}
	struct store_parsed sp = mime_store_parsed(&mp);
	int r = store_append(c->store, c->account_id, mailbox_id, data, len, &sp, flags, other,
			     n_other, received, &uid, NULL, error_r);
	mime_parsed_free(&mp);
	if (r < 0 || store_jmap_email_id(c->store, mailbox_id, uid, id_r) <= 0)
		return -1;
	jmap_thread_sync(c, 0);
	return 0;
}

json_t *jmap_email_created(struct jmap_ctx *c, int64_t id)
{
	struct store_jmap_email *e;
	size_t n;
	char eid[24], tid[24], bid[80];
	if (jmap_emails(c, &id, 1, 0, 0, &e, &n) < 0 || n == 0)
		return jmap_set_error("serverFail", NULL, NULL);
	jmap_id(eid, sizeof(eid), 'e', id);
	jmap_id(tid, sizeof(tid), 't', e->thread_id ? e->thread_id : id);
	snprintf(bid, sizeof(bid), "B%s", e->msg.blob_id);
	json_t *j = json_pack("{s:s s:s s:s s:I}", "id", eid, "blobId", bid, "threadId", tid,
			      "size", (json_int_t)e->msg.size);
	store_jmap_emails_free(&e, n);
	return j;
}

/* The one mailbox of a mailboxIds object, resolving "#creation" ids. */
static json_t *single_mailbox(struct jmap_ctx *c, json_t *mb, int64_t *id_r)
{
	if (!json_is_object(mb) || json_object_size(mb) == 0)
		return jmap_set_error("invalidProperties", "mailboxIds is required", "mailboxIds");
	if (json_object_size(mb) > 1)
		return jmap_set_error("tooManyMailboxes", NULL, "mailboxIds");
	const char *key = json_object_iter_key(json_object_iter(mb));
	if (!jmap_id_parse(c, key, 'm', id_r) || jmap_rights(c, *id_r) == 0)
		return jmap_set_error("invalidProperties", "no such mailbox", "mailboxIds");
	if (!(jmap_rights(c, *id_r) & STORE_RIGHT_INSERT))
		return jmap_set_error("forbidden", "no right to add to this mailbox", "mailboxIds");
	return NULL;
}

/* Keywords of a new message in a shared mailbox: $seen needs s, the others w. */
static json_t *create_keywords_allowed(struct jmap_ctx *c, int64_t mbox, json_t *kw)
{
	uint32_t have = jmap_rights(c, mbox);
	const char *key;
	json_t *v;
	json_object_foreach(kw, key, v)
	{
		uint32_t need =
			strcasecmp(key, "$seen") == 0 ? STORE_RIGHT_SEEN : STORE_RIGHT_WRITE;
		if (json_is_true(v) && !(have & need))
			return jmap_set_error("forbidden", "no right to set this keyword here",
					      "keywords");
	}
	return NULL;
}

/* --- create: JSON to RFC 5322 ------------------------------------------ */

static void set_addresses(GMimeMessage *msg, GMimeAddressType type, json_t *list)
{
	InternetAddressList *l = g_mime_message_get_addresses(msg, type);
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a)
	{
		const char *email = json_string_value(json_object_get(a, "email"));
		const char *name = json_string_value(json_object_get(a, "name"));
		if (email == NULL)
			continue;
		InternetAddress *ia = internet_address_mailbox_new(name, email);
		internet_address_list_add(l, ia);
		g_object_unref(ia);
	}
}

static void set_msgids(GMimeObject *o, const char *header, json_t *ids)
{
	struct buf b;
	buf_init(&b);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) if (json_is_string(v))
		buf_printf(&b, "%s<%s>", b.len ? " " : "", json_string_value(v));
	if (b.len > 0)
		g_mime_object_set_header(o, header, buf_cstr(&b), NULL);
	buf_deinit(&b);
}

static const char *body_text(json_t *email, json_t *part)
{
	const char *pid = json_string_value(json_object_get(part, "partId"));
	json_t *bv = json_object_get(json_object_get(email, "bodyValues"), pid ? pid : "");
	return json_string_value(json_object_get(bv, "value"));
}

static GMimeObject *text_part(const char *subtype, const char *text)
{
	GMimeTextPart *t = g_mime_text_part_new_with_subtype(subtype);
	g_mime_text_part_set_text(t, text);
	return GMIME_OBJECT(t);
}

static GMimeObject *attachment_part(struct jmap_ctx *c, json_t *a, json_t **err_r)
{
	struct buf data;
	char type[128];
	buf_init(&data);
	const char *bid = json_string_value(json_object_get(a, "blobId"));
	if (jmap_blob_read(c->store, c->account_id, bid, &data, type, sizeof(type)) <= 0) {
		buf_deinit(&data);
		*err_r = jmap_set_error("blobNotFound", bid, "attachments");
		return NULL;
	}
	const char *t = json_string_value(json_object_get(a, "type"));
	char *slash = NULL;
	char mt[128];
	snprintf(mt, sizeof(mt), "%s", t != NULL ? t : type);
	if ((slash = strchr(mt, '/')) == NULL)
		snprintf(mt, sizeof(mt), "application/octet-stream"), slash = strchr(mt, '/');
	*slash = '\0';
	GMimePart *p = g_mime_part_new_with_type(mt, slash + 1);
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(data.data ? data.data : "", data.len);
	GMimeDataWrapper *w =
		g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_object_unref(s);
	buf_deinit(&data);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	const char *name = json_string_value(json_object_get(a, "name"));
	const char *disp = json_string_value(json_object_get(a, "disposition"));
	g_mime_object_set_disposition(GMIME_OBJECT(p), disp != NULL ? disp : "attachment");
	if (name != NULL)
		g_mime_part_set_filename(p, name);
	const char *cid = json_string_value(json_object_get(a, "cid"));
	if (cid != NULL)
		g_mime_object_set_content_id(GMIME_OBJECT(p), cid);
	return GMIME_OBJECT(p);
}

static GMimeObject *multipart(const char *subtype, GMimeObject *a, GMimeObject *b)
{
	GMimeMultipart *m = g_mime_multipart_new_with_subtype(subtype);
	g_mime_multipart_add(m, a);
	g_mime_multipart_add(m, b);
	g_object_unref(a);
	g_object_unref(b);
	return GMIME_OBJECT(m);
}

/* The body of a created email from textBody / htmlBody / attachments. */
static GMimeObject *create_body(struct jmap_ctx *c, json_t *email, json_t **err_r)
{
	json_t *tb = json_array_get(json_object_get(email, "textBody"), 0);
	json_t *hb = json_array_get(json_object_get(email, "htmlBody"), 0);
	const char *text = tb ? body_text(email, tb) : NULL;
	const char *html = hb ? body_text(email, hb) : NULL;
	if ((tb != NULL && text == NULL) || (hb != NULL && html == NULL)) {
		*err_r = jmap_set_error("invalidProperties", "body part without bodyValues",
					"bodyValues");
		return NULL;
	}
	GMimeObject *body;
	if (text != NULL && html != NULL)
		body = multipart("alternative", text_part("plain", text), text_part("html", html));
	else if (html != NULL)
		body = text_part("html", html);
	else
		body = text_part("plain", text != NULL ? text : "");
	json_t *atts = json_object_get(email, "attachments");
	if (json_array_size(atts) == 0)
		return body;
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mixed, body);
	g_object_unref(body);
	size_t i;
	json_t *a;
	json_array_foreach(atts, i, a)
	{
		GMimeObject *p = attachment_part(c, a, err_r);
		if (p == NULL) {
			g_object_unref(mixed);
			return NULL;
		}
		g_mime_multipart_add(mixed, p);
		g_object_unref(p);
	}
	return GMIME_OBJECT(mixed);
}

static const char *const create_props[] = {"mailboxIds",  "keywords",   "receivedAt", "from",
					   "to",          "cc",         "bcc",        "replyTo",
					   "sender",      "subject",    "sentAt",     "messageId",
					   "inReplyTo",   "references", "textBody",   "htmlBody",
					   "attachments", "bodyValues", NULL};

/* Addresses must be plain addresses: nothing that could end a header line. */
static bool addresses_ok(json_t *list)
{
	size_t i;
	json_t *a;
	if (list != NULL && !json_is_array(list) && !json_is_null(list))
		return false;
	json_array_foreach(list, i, a)
	{
		const char *email = json_string_value(json_object_get(a, "email"));
		const char *name = json_string_value(json_object_get(a, "name"));
		if (email == NULL || !mime_address_valid(email, 1) ||
		    (name != NULL && strpbrk(name, "\r\n") != NULL))
			return false;
	}
	return true;
}

/* Header values given as text may not contain line breaks (header injection). */
static const char *create_check(json_t *email)
{
	static const char *const addr_props[] = {"from", "to", "cc", "bcc", "replyTo", "sender"};
	for (size_t i = 0; i < sizeof(addr_props) / sizeof(addr_props[0]); i++)
		if (!addresses_ok(json_object_get(email, addr_props[i])))
			return addr_props[i];
	const char *key;
	json_t *v;
	json_object_foreach(email, key, v)
	{
		const char *s = json_string_value(v);
		if ((strcmp(key, "subject") == 0 || strncmp(key, "header:", 7) == 0) &&
		    (s == NULL || strpbrk(s, "\r\n") != NULL))
			return key;
	}
	return NULL;
}

static bool create_prop_ok(const char *key)
{
	struct jmap_hprop h;
	for (size_t i = 0; create_props[i] != NULL; i++)
		if (strcmp(create_props[i], key) == 0)
			return true;
	return jmap_hprop_parse(key, &h) && (h.form == JMAP_HF_RAW || h.form == JMAP_HF_TEXT) &&
		!h.all;
}

static GMimeMessage *create_message(struct jmap_ctx *c, json_t *email, json_t **err_r)
{
	GMimeMessage *msg = g_mime_message_new(TRUE);
	GMimeObject *o = GMIME_OBJECT(msg);
	set_addresses(msg, GMIME_ADDRESS_TYPE_FROM, json_object_get(email, "from"));
	set_addresses(msg, GMIME_ADDRESS_TYPE_TO, json_object_get(email, "to"));
	set_addresses(msg, GMIME_ADDRESS_TYPE_CC, json_object_get(email, "cc"));
	set_addresses(msg, GMIME_ADDRESS_TYPE_BCC, json_object_get(email, "bcc"));
	set_addresses(msg, GMIME_ADDRESS_TYPE_REPLY_TO, json_object_get(email, "replyTo"));
	set_addresses(msg, GMIME_ADDRESS_TYPE_SENDER, json_object_get(email, "sender"));
	const char *subject = json_string_value(json_object_get(email, "subject"));
	if (subject != NULL)
		g_mime_message_set_subject(msg, subject, "utf-8");
	time_t sent = time(NULL);
	jmap_date_parse(json_string_value(json_object_get(email, "sentAt")), &sent);
	GDateTime *dt = g_date_time_new_from_unix_utc(sent);
	g_mime_message_set_date(msg, dt);
	g_date_time_unref(dt);
	const char *mid = json_string_value(json_array_get(json_object_get(email, "messageId"), 0));
	char gen[160];
	if (mid == NULL) {
		char tok[25];
		random_token(tok, 24);
		const char *at = c->r->username ? strrchr(c->r->username, '@') : NULL;
		snprintf(gen, sizeof(gen), "%s@%s", tok, at ? at + 1 : "facteur.invalid");
		mid = gen;
	}
	g_mime_message_set_message_id(msg, mid);
	set_msgids(o, "In-Reply-To", json_object_get(email, "inReplyTo"));
	set_msgids(o, "References", json_object_get(email, "references"));
	const char *key;
	json_t *v;
	json_object_foreach(email, key, v)
	{
		struct jmap_hprop h;
		if (jmap_hprop_parse(key, &h) && json_is_string(v))
			g_mime_object_append_header(o, h.name, json_string_value(v), "utf-8");
	}
	GMimeObject *body = create_body(c, email, err_r);
	if (body == NULL) {
		g_object_unref(msg);
		return NULL;
	}
	g_mime_message_set_mime_part(msg, body);
	g_object_unref(body);
	return msg;
}

static json_t *email_create(struct jmap_ctx *c, const char *cid, json_t *email)
{
	const char *key;
	json_t *v, *err = NULL;
	int64_t mbox = 0, id = 0;
	const char *error = NULL;

	json_object_foreach(email, key, v) if (!create_prop_ok(key)) return jmap_set_error(
		"invalidProperties", "cannot be set on create", key);
	if ((err = single_mailbox(c, json_object_get(email, "mailboxIds"), &mbox)) != NULL ||
	    (err = create_keywords_allowed(c, mbox, json_object_get(email, "keywords"))) != NULL)
		return err;
	const char *bad = create_check(email);
	if (bad != NULL)
		return jmap_set_error("invalidProperties", "invalid value", bad);
	GMimeMessage *msg = create_message(c, email, &err);
	if (msg == NULL)
		return err;
	GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	GMimeStream *s = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, s);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	time_t received = 0;
	jmap_date_parse(json_string_value(json_object_get(email, "receivedAt")), &received);
	json_t *kw = json_object_get(email, "keywords");
	if (jmap_append(c, mbox, (const char *)bytes->data, bytes->len,
			json_is_object(kw) ? kw : NULL, received, &id, &error) < 0)
		err = jmap_set_error(
			error && strstr(error, "quota")             ? "overQuota"
				: error && strstr(error, "keyword") ? "invalidProperties"
				: error && strstr(error, "mailbox") ? "invalidProperties"
								    : "serverFail",
			error, NULL);
	g_object_unref(s);
	g_mime_format_options_free(fo);
	g_object_unref(msg);
	if (err != NULL)
		return err;
	json_t *j = jmap_email_created(c, id);
	const char *eid = json_string_value(json_object_get(j, "id"));
	if (eid != NULL)
		jmap_created(c, cid, eid);
	return j;
}

/* --- Email/set ---------------------------------------------------------- */

int jmap_email_set(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ifInState", "create",
					    "update",    "destroy",   NULL};
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
	if (jmap_state_check(c, args, STORE_JMAP_EMAIL, &old, res_r) < 0)
		return -1;
	json_t *created = json_object(), *not_created = json_object();
	json_t *updated = json_object(), *not_updated = json_object();
	json_t *destroyed = json_array(), *not_destroyed = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(create, key, v)
	{
		json_t *r = json_is_object(v) ? email_create(c, key, v)
					      : jmap_set_error("invalidProperties", NULL, NULL);
		json_object_set_new(json_object_get(r, "type") ? not_created : created, key, r);
	}
	json_object_foreach(update, key, v)
	{
		int64_t id = 0;
		json_t *r = !jmap_id_parse(c, key, 'e', &id)
			? jmap_set_error("notFound", NULL, NULL)
			: !json_is_object(v) ? jmap_set_error("invalidPatch", NULL, NULL)
					     : jmap_email_update_one(c, id, v);
		json_object_set_new(r ? not_updated : updated, key, r ? r : json_null());
	}
	size_t i;
	json_array_foreach(destroy, i, v)
	{
		int64_t id = 0;
		const char *s = json_string_value(v);
		json_t *r = !jmap_id_parse(c, s, 'e', &id) ? jmap_set_error("notFound", NULL, NULL)
							   : jmap_email_destroy_one(c, id);
		if (r != NULL)
			json_object_set_new(not_destroyed, s ? s : "", r);
		else
			json_array_append(destroyed, v);
	}
	json_t *new_state = jmap_state_get(c, STORE_JMAP_EMAIL);
	*res_r = json_pack("{s:s s:o s:o s:o s:o s:o s:o s:o s:o}", "accountId", c->account,
			   "oldState", old ? old : json_null(), "newState",
			   new_state ? new_state : json_null(), "created", created, "notCreated",
			   not_created, "updated", updated, "notUpdated", not_updated, "destroyed",
			   destroyed, "notDestroyed", not_destroyed);
	return 0;
}

/* --- Email/import, Email/copy, Email/parse ----------------------------- */

static json_t *import_one(struct jmap_ctx *c, const char *cid, json_t *spec)
{
	int64_t mbox = 0, id = 0;
	const char *error = NULL;
	json_t *err = single_mailbox(c, json_object_get(spec, "mailboxIds"), &mbox);
	if (err != NULL)
		return err;
	struct buf data;
	buf_init(&data);
	const char *bid = json_string_value(json_object_get(spec, "blobId"));
	if (jmap_blob_read(c->store, c->account_id, bid, &data, NULL, 0) <= 0) {
		buf_deinit(&data);
		return jmap_set_error("blobNotFound", NULL, "blobId");
	}
	time_t received = 0;
	jmap_date_parse(json_string_value(json_object_get(spec, "receivedAt")), &received);
	json_t *kw = json_object_get(spec, "keywords");
	if (jmap_append(c, mbox, data.data ? data.data : "", data.len,
			json_is_object(kw) ? kw : NULL, received, &id, &error) < 0)
		err = jmap_set_error(error && strstr(error, "quota") ? "overQuota"
								     : "invalidProperties",
				     error, NULL);
	buf_deinit(&data);
	if (err != NULL)
		return err;
	json_t *j = jmap_email_created(c, id);
	const char *eid = json_string_value(json_object_get(j, "id"));
	if (eid != NULL)
		jmap_created(c, cid, eid);
	return j;
}

int jmap_email_import(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ifInState", "emails", NULL};
	if (jmap_check_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *emails = json_object_get(args, "emails");
	if (!json_is_object(emails))
		return jmap_fail(res_r, "invalidArguments", "emails");
	if (json_object_size(emails) > JMAP_MAX_OBJECTS_SET)
		return jmap_fail(res_r, "requestTooLarge", NULL);
	json_t *old;
	if (jmap_state_check(c, args, STORE_JMAP_EMAIL, &old, res_r) < 0)
		return -1;
	json_t *created = json_object(), *not_created = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(emails, key, v)
	{
		json_t *r = json_is_object(v) ? import_one(c, key, v)
					      : jmap_set_error("invalidProperties", NULL, NULL);
		json_object_set_new(json_object_get(r, "type") ? not_created : created, key, r);
	}
	json_t *new_state = jmap_state_get(c, STORE_JMAP_EMAIL);
	*res_r = json_pack("{s:s s:o s:o s:o s:o}", "accountId", c->account, "oldState",
			   old ? old : json_null(), "newState", new_state ? new_state : json_null(),
			   "created", created, "notCreated", not_created);
	return 0;
}

/*
 * Email/copy (RFC 8621 4.7) between the user's own account and one that
 * shares mailboxes with the user (or two of those), either way. Each
 * Email is read in fromAccountId, where the user must be allowed to read
 * its mailbox, then stored anew in accountId: the insert right on its one
 * mailbox, $seen needing s there and other keywords w, as for a create.
 * Keywords and receivedAt are the original's unless the create object
 * gives them. onSuccessDestroyOriginal then removes the copied originals
 * in an implicit Email/set on fromAccountId (t and e rights there, as for
 * any destroy; destroyFromIfInState is its ifInState): a move between
 * accounts.
 */
struct copy_item {
	const char *cid;
	int64_t from_id;
	json_t *spec;
	json_t *keywords;
	time_t received;
	struct buf data;
	json_t *result; /* the created object or a SetError */
};

/* Switch c to the account named by args' member key; 0 / -1 (*res_r set). */
static int copy_account(struct jmap_ctx *c, const char *account, const char *not_found,
			json_t **res_r)
{
	json_t *a = json_pack("{s:s}", "accountId", account);
	json_t *err = NULL;
	int r = jmap_check_mail_account(c, a, &err);
	json_decref(a);
	if (r == 0)
		return 0;
	const char *type = json_string_value(json_object_get(err, "type"));
	bool missing = type != NULL && strcmp(type, "accountNotFound") == 0;
	if (missing) {
		json_decref(err);
		return jmap_fail(res_r, not_found, NULL);
	}
	*res_r = err;
	return -1;
}

/* Read the original of it in the current (source) account. */
static void copy_read(struct jmap_ctx *c, struct copy_item *it)
{
	const char *id = json_string_value(json_object_get(it->spec, "id"));
	struct store_jmap_email *e = NULL;
	size_t n = 0;
	if (id == NULL || !jmap_id_parse(c, id, 'e', &it->from_id)) {
		it->result = jmap_set_error("notFound", "no such Email", "id");
		return;
	}
	if ((it->result = one_email(c, it->from_id, &e, &n)) != NULL)
		return;
	char bid[80];
	snprintf(bid, sizeof(bid), "B%s", e->msg.blob_id);
	if (jmap_blob_read(c->store, c->account_id, bid, &it->data, NULL, 0) <= 0)
		it->result = jmap_set_error("serverFail", "the message cannot be read", NULL);
	json_t *kw = json_object_get(it->spec, "keywords");
	it->keywords = json_is_object(kw) ? json_incref(kw)
					  : jmap_keywords_json(e->msg.flags, e->keywords);
	it->received = e->msg.internal_date;
	jmap_date_parse(json_string_value(json_object_get(it->spec, "receivedAt")), &it->received);
	store_jmap_emails_free(&e, n);
}

/* Store the copy of it in the current (target) account. */
static void copy_write(struct jmap_ctx *c, struct copy_item *it)
{
	int64_t mbox = 0, id = 0;
	const char *error = NULL;
	if ((it->result = single_mailbox(c, json_object_get(it->spec, "mailboxIds"), &mbox)) !=
		    NULL ||
	    (it->result = create_keywords_allowed(c, mbox, it->keywords)) != NULL)
		return;
	if (jmap_append(c, mbox, it->data.data ? it->data.data : "", it->data.len, it->keywords,
			it->received, &id, &error) < 0) {
		it->result = jmap_set_error(error && strstr(error, "quota") ? "overQuota"
									    : "invalidProperties",
					    error, NULL);
		return;
	}
	it->result = jmap_email_created(c, id);
	const char *eid = json_string_value(json_object_get(it->result, "id"));
	if (eid != NULL)
		jmap_created(c, it->cid, eid);
}

/* onSuccessDestroyOriginal: an implicit Email/set in the source account. */
static void copy_destroy_originals(struct jmap_ctx *c, json_t *args, struct copy_item *v, size_t n)
{
	json_t *res = NULL, *old = NULL;
	json_t *st = json_pack("{s:O}", "ifInState",
			       json_object_get(args, "destroyFromIfInState") ?: json_null());
	if (jmap_state_check(c, st, STORE_JMAP_EMAIL, &old, &res) < 0) {
		json_decref(st);
		json_array_append_new(c->followups, json_pack("[s o s]", "error", res, c->call_id));
		return;
	}
	json_decref(st);
	json_t *destroyed = json_array(), *not_destroyed = json_object();
	for (size_t i = 0; i < n; i++) {
		if (json_object_get(v[i].result, "type") != NULL)
			continue; /* not copied: the original stays */
		char eid[24];
		jmap_id(eid, sizeof(eid), 'e', v[i].from_id);
		json_t *err = jmap_email_destroy_one(c, v[i].from_id);
		if (err != NULL)
			json_object_set_new(not_destroyed, eid, err);
		else
			json_array_append_new(destroyed, json_string(eid));
	}
	json_t *new_state = jmap_state_get(c, STORE_JMAP_EMAIL);
	json_t *set =
		json_pack("{s:s s:o s:o s:o s:o}", "accountId", c->account, "oldState",
			  old ? old : json_null(), "newState", new_state ? new_state : json_null(),
			  "destroyed", destroyed, "notDestroyed", not_destroyed);
	json_array_append_new(c->followups, json_pack("[s o s]", "Email/set", set, c->call_id));
}

int jmap_email_copy(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"fromAccountId",
					    "ifFromInState",
					    "accountId",
					    "ifInState",
					    "create",
					    "onSuccessDestroyOriginal",
					    "destroyFromIfInState",
					    NULL};
	if (jmap_check_args(args, known, res_r) < 0)
		return -1;
	const char *from = json_string_value(json_object_get(args, "fromAccountId"));
	const char *to = json_string_value(json_object_get(args, "accountId"));
	json_t *create = json_object_get(args, "create");
	json_t *destroy_orig = json_object_get(args, "onSuccessDestroyOriginal");
	if (from == NULL || to == NULL)
		return jmap_fail(res_r, "invalidArguments", "fromAccountId and accountId");
	if (!json_is_object(create) || (destroy_orig != NULL && !json_is_boolean(destroy_orig)))
		return jmap_fail(res_r, "invalidArguments", "create or onSuccessDestroyOriginal");
	if (strcmp(from, to) == 0)
		return jmap_fail(res_r, "invalidArguments",
				 "fromAccountId must differ from accountId");
	if (json_object_size(create) > JMAP_MAX_OBJECTS_SET)
		return jmap_fail(res_r, "requestTooLarge", NULL);
	json_t *old = NULL;
	/* The target first: its errors are the method's own. */
	if (copy_account(c, to, "accountNotFound", res_r) < 0 ||
	    jmap_state_check(c, args, STORE_JMAP_EMAIL, &old, res_r) < 0)
		return -1;
	json_decref(old);
	json_t *from_state = json_pack("{s:O}", "ifInState",
				       json_object_get(args, "ifFromInState") ?: json_null());
	if (copy_account(c, from, "fromAccountNotFound", res_r) < 0 ||
	    jmap_state_check(c, from_state, STORE_JMAP_EMAIL, &old, res_r) < 0) {
		json_decref(from_state);
		return -1;
	}
	json_decref(from_state);
	json_decref(old);
	size_t n = json_object_size(create), k = 0;
	struct copy_item *v = xcalloc(n + 1, sizeof(*v));
	const char *key;
	json_t *spec;
	json_object_foreach(create, key, spec)
	{
		struct copy_item *it = &v[k++];
		it->cid = key;
		it->spec = spec;
		buf_init(&it->data);
		if (json_is_object(spec))
			copy_read(c, it);
		else
			it->result = jmap_set_error("invalidProperties", NULL, NULL);
	}
	int ret = copy_account(c, to, "accountNotFound", res_r);
	if (ret == 0) {
		old = jmap_state_get(c, STORE_JMAP_EMAIL);
		json_t *created = json_object(), *not_created = json_object();
		for (size_t i = 0; i < n; i++) {
			if (v[i].result == NULL)
				copy_write(c, &v[i]);
			bool failed = json_object_get(v[i].result, "type") != NULL;
			json_object_set(failed ? not_created : created, v[i].cid, v[i].result);
		}
		json_t *new_state = jmap_state_get(c, STORE_JMAP_EMAIL);
		*res_r = json_pack("{s:s s:s s:o s:o s:o s:o}", "fromAccountId", from, "accountId",
				   c->account, "oldState", old ? old : json_null(), "newState",
				   new_state ? new_state : json_null(), "created", created,
				   "notCreated", not_created);
		json_t *ignored = NULL;
		if (json_is_true(destroy_orig) && json_object_size(created) > 0 &&
		    copy_account(c, from, "fromAccountNotFound", &ignored) == 0)
			copy_destroy_originals(c, args, v, n);
		json_decref(ignored);
	}
	for (size_t i = 0; i < n; i++) {
		buf_deinit(&v[i].data);
		json_decref(v[i].keywords);
		json_decref(v[i].result);
	}
	free(v);
	return ret;
}

int jmap_email_parse(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId",
					    "blobIds",
					    "properties",
					    "bodyProperties",
					    "fetchTextBodyValues",
					    "fetchHTMLBodyValues",
					    "fetchAllBodyValues",
					    "maxBodyValueBytes",
					    NULL};
	if (jmap_check_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *ids = json_object_get(args, "blobIds");
	if (!json_is_array(ids))
		return jmap_fail(res_r, "invalidArguments", "blobIds");
	if (json_array_size(ids) > JMAP_MAX_OBJECTS_GET)
		return jmap_fail(res_r, "requestTooLarge", NULL);
	json_t *parsed = json_object(), *not_parsable = json_array(), *not_found = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		const char *bid = json_string_value(v);
		char type[128];
		uint64_t size;
		if (bid == NULL || bid[0] != 'B' || strlen(bid) != 1 + STORE_BLOB_ID_LEN ||
		    store_jmap_blob_access(c->store, c->account_id, bid + 1, type, sizeof(type),
					   &size) <= 0) {
			json_array_append(not_found, v);
			continue;
		}
		struct jmap_msg m;
		if (jmap_msg_open(c->store, bid + 1, false, &m) < 0) {
			jmap_msg_close(&m);
			json_array_append(not_parsable, v);
			continue;
		}
		json_t *j = json_pack("{s:O s:n s:n s:n s:n s:I}", "blobId", v, "id", "threadId",
				      "mailboxIds", "keywords", "size", (json_int_t)size);
		static const struct {
			const char *prop, *header;
			enum jmap_hform form;
		} hs[] = {{"subject", "Subject", JMAP_HF_TEXT},
			  {"from", "From", JMAP_HF_ADDRESSES},
			  {"to", "To", JMAP_HF_ADDRESSES},
			  {"cc", "Cc", JMAP_HF_ADDRESSES},
			  {"messageId", "Message-ID", JMAP_HF_MSGIDS},
			  {"sentAt", "Date", JMAP_HF_DATE}};
		for (size_t k = 0; k < sizeof(hs) / sizeof(hs[0]); k++) {
			struct jmap_hprop h = {.form = hs[k].form};
			snprintf(h.name, sizeof(h.name), "%s", hs[k].header);
			json_object_set_new(j, hs[k].prop,
					    jmap_header_value(GMIME_OBJECT(m.msg), &h));
		}
		struct jmap_part *root = jmap_parts(&m);
		char *preview = jmap_preview(root);
		json_object_set_new(j, "preview", json_string(preview));
		free(preview);
		jmap_part_free(&root);
		jmap_msg_close(&m);
		json_object_set_new(parsed, bid, j);
	}
	*res_r = json_pack("{s:s s:o s:o s:o}", "accountId", c->account, "parsed", parsed,
			   "notParsable", not_parsable, "notFound", not_found);
	return 0;
}
