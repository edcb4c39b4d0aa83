/* SPDX-License-Identifier: MIT */
/*
 * Reading messages for JMAP through GMime: a blob opened as a GMime
 * message (the full body lazily over the file, or just the header block),
 * the header:NAME:asForm conversions of RFC 8621 4.1.2, the body part tree
 * with IMAP-style part numbers (so a part's blob id names the message and
 * the part), the textBody/htmlBody/attachments algorithm of RFC 8621
 * 4.1.4, decoded text (charsets through GMime), previews, and the per-blob
 * summary (preview, hasAttachment) cached in the store.
 */
#include "jmap/jmap-private.h"

#include "lib/util.h"
#include "mime/mime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_READ_MAX (256u * 1024)

/* --- opening ----------------------------------------------------------- */

static GMimeMessage *parse_stream(GMimeStream *stream)
{
	GMimeParser *p = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_persist_stream(p, TRUE);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	return msg;
}

/* The header block of fd (up to HEADER_READ_MAX bytes) as a message. */
static GMimeMessage *parse_headers(int fd)
{
	char *buf = xmalloc(HEADER_READ_MAX);
	size_t len = 0;
	ssize_t n;
	while (len < HEADER_READ_MAX && (n = read(fd, buf + len, HEADER_READ_MAX - len)) > 0) {
		len += (size_t)n;
		if (memmem(buf, len, "\n\n", 2) != NULL || memmem(buf, len, "\r\n\r\n", 4) != NULL)
			break;
	}
	char *end = memmem(buf, len, "\r\n\r\n", 4);
	char *end2 = memmem(buf, len, "\n\n", 2);
	if (end2 != NULL && (end == NULL || end2 < end))
		len = (size_t)(end2 - buf) + 2;
	else if (end != NULL)
		len = (size_t)(end - buf) + 4;
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(buf, len);
	free(buf);
	GMimeMessage *msg = parse_stream(s);
	g_object_unref(s);
	return msg;
}

int jmap_msg_open(struct store *s, const char *blob_id, bool headers_only, struct jmap_msg *m)
{
	struct stat stb;

	memset(m, 0, sizeof(*m));
	snprintf(m->blob_id, sizeof(m->blob_id), "%s", blob_id);
	int fd = store_blob_open(s, blob_id);
	if (fd < 0)
		return -1;
	if (fstat(fd, &stb) == 0)
		m->size = (uint64_t)stb.st_size;
	if (headers_only) {
		m->msg = parse_headers(fd);
		close(fd);
	} else {
		GMimeStream *stream = g_mime_stream_fs_new(fd); /* owns fd */
		m->msg = parse_stream(stream);
		g_object_unref(stream);
	}
	return m->msg != NULL ? 0 : -1;
}

void jmap_msg_close(struct jmap_msg *m)
{
	if (m->msg != NULL)
		g_object_unref(m->msg);
	m->msg = NULL;
}

/* --- header forms ------------------------------------------------------ */

int jmap_hprop_parse(const char *prop, struct jmap_hprop *h)
{
	static const struct {
		const char *name;
		enum jmap_hform form;
	} forms[] = {
		{"asRaw", JMAP_HF_RAW},
		{"asText", JMAP_HF_TEXT},
		{"asAddresses", JMAP_HF_ADDRESSES},
		{"asGroupedAddresses", JMAP_HF_GROUPED},
		{"asMessageIds", JMAP_HF_MSGIDS},
		{"asDate", JMAP_HF_DATE},
		{"asURLs", JMAP_HF_URLS},
	};
	memset(h, 0, sizeof(*h));
	h->form = JMAP_HF_RAW;
	if (strncmp(prop, "header:", 7) != 0)
		return 0;
	const char *p = prop + 7;
	const char *colon = strchr(p, ':');
	size_t nlen = colon ? (size_t)(colon - p) : strlen(p);
	if (nlen == 0 || nlen >= sizeof(h->name))
		return 0;
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return 0;
	memcpy(h->name, p, nlen);
	h->name[nlen] = '\0';
	p = colon;
	if (p != NULL && strncmp(p, ":as", 3) == 0) {
		const char *next = strchr(p + 1, ':');
		size_t flen = next ? (size_t)(next - p - 1) : strlen(p + 1);
		bool ok = false;
		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]) && !ok; i++)
			if (strlen(forms[i].name) == flen &&
			    memcmp(forms[i].name, p + 1, flen) == 0) {
				h->form = forms[i].form;
				ok = true;
			}
		if (!ok)
			return 0;
		p = next;
	}
	if (p != NULL) {
		if (strcmp(p, ":all") != 0)
			return 0;
		h->all = true;
	}
	return 1;
}

/* The raw value without its terminating line break. */
static char *raw_trim(const char *raw)
{
	size_t len = strlen(raw);
	while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		len--;
	return xstrndup(raw, len);
}

static char *unfold(const char *raw)
{
	char *out = xmalloc(strlen(raw) + 1);
	size_t o = 0;
	for (const char *p = raw; *p != '\0'; p++)
		if (*p != '\r' && *p != '\n')
			out[o++] = *p;
	out[o] = '\0';
	return out;
}

static char *trim(char *s)
{
	char *p = s;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	memmove(s, p, len);
	s[len] = '\0';
	return s;
}

static json_t *mailbox_json(InternetAddress *ia)
{
	const char *name = internet_address_get_name(ia);
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	return json_pack("{s:o s:s}", "name",
			 name != NULL && name[0] != '\0' ? json_string(name) : json_null(), "email",
			 addr != NULL ? addr : "");
}

static void addresses_flat(InternetAddressList *l, json_t *out)
{
	int n = l != NULL ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia))
			addresses_flat(
				internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
				out);
		else if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			json_array_append_new(out, mailbox_json(ia));
	}
}

static json_t *addresses_grouped(InternetAddressList *l)
{
	json_t *out = json_array();
	json_t *loose = NULL;
	int n = l != NULL ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			loose = NULL;
			json_t *members = json_array();
			addresses_flat(
				internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
				members);
			const char *name = internet_address_get_name(ia);
			json_array_append_new(out,
					      json_pack("{s:o s:o}", "name",
							name ? json_string(name) : json_null(),
							"addresses", members));
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			if (loose == NULL) {
				loose = json_array();
				json_array_append_new(
					out, json_pack("{s:n s:o}", "name", "addresses", loose));
			}
			json_array_append_new(loose, mailbox_json(ia));
		}
	}
	return out;
}

static json_t *message_ids(const char *value)
{
	GMimeReferences *refs = g_mime_references_parse(NULL, value);
	int n = refs != NULL ? g_mime_references_length(refs) : 0;
	if (n == 0) {
		if (refs != NULL)
			g_mime_references_free(refs);
		return json_null();
	}
	json_t *out = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(out, json_string(g_mime_references_get_message_id(refs, i)));
	g_mime_references_free(refs);
	return out;
}

static json_t *urls(const char *value)
{
	json_t *out = json_array();
	const char *p = value;
	while ((p = strchr(p, '<')) != NULL) {
		const char *e = strchr(p, '>');
		if (e == NULL)
			break;
		char *u = xstrndup(p + 1, (size_t)(e - p - 1));
		json_array_append_new(out, json_string(trim(u)));
		free(u);
		p = e + 1;
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return json_null();
	}
	return out;
}

static json_t *date_json(const char *value)
{
	GDateTime *dt = g_mime_utils_header_decode_date(value);
	if (dt == NULL)
		return json_null();
	char *s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S%:z");
	g_date_time_unref(dt);
	json_t *out = s != NULL ? json_string(s) : json_null();
	g_free(s);
	return out;
}

/* A string as JSON, replacing invalid UTF-8 (json_string refuses it). */
static json_t *jstr(const char *s)
{
	if (g_utf8_validate(s, -1, NULL))
		return json_string(s);
	char *v = g_utf8_make_valid(s, -1);
	json_t *out = json_string(v);
	g_free(v);
	return out;
}

json_t *jmap_header_convert(const char *raw, enum jmap_hform form)
{
	char *value = unfold(raw);
	json_t *out;
	switch (form) {
	case JMAP_HF_RAW: {
		char *r = raw_trim(raw);
		out = jstr(r);
		free(r);
		break;
	}
	case JMAP_HF_TEXT: {
		char *d = g_mime_utils_header_decode_text(NULL, value);
		char *t = xstrdup(d != NULL ? d : "");
		g_free(d);
		out = jstr(trim(t));
		free(t);
		break;
	}
	case JMAP_HF_ADDRESSES:
	case JMAP_HF_GROUPED: {
		InternetAddressList *l = internet_address_list_parse(NULL, value);
		if (form == JMAP_HF_ADDRESSES) {
			out = json_array();
			addresses_flat(l, out);
		} else {
			out = addresses_grouped(l);
		}
		if (l != NULL)
			g_object_unref(l);
		break;
	}
	case JMAP_HF_MSGIDS:
		out = message_ids(value);
		break;
	case JMAP_HF_DATE:
		out = date_json(value);
		break;
	case JMAP_HF_URLS:
	default:
		out = urls(value);
		break;
	}
	free(value);
	return out;
}

json_t *jmap_header_value(GMimeObject *obj, const struct jmap_hprop *h)
{
	GMimeHeaderList *l = g_mime_object_get_header_list(obj);
	int n = l != NULL ? g_mime_header_list_get_count(l) : 0;
	json_t *all = h->all ? json_array() : NULL;
	const char *last = NULL;
	for (int i = 0; i < n; i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(l, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(hd), h->name) != 0)
			continue;
		const char *raw = g_mime_header_get_raw_value(hd);
		if (raw == NULL)
			raw = "";
		last = raw;
		if (all != NULL)
			json_array_append_new(all, jmap_header_convert(raw, h->form));
	}
	if (all != NULL)
		return all;
	return last != NULL ? jmap_header_convert(last, h->form) : json_null();
}

json_t *jmap_headers_all(GMimeObject *obj)
{
	GMimeHeaderList *l = g_mime_object_get_header_list(obj);
	int n = l != NULL ? g_mime_header_list_get_count(l) : 0;
	json_t *out = json_array();
	for (int i = 0; i < n; i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(l, i);
		const char *raw = g_mime_header_get_raw_value(hd);
		char *v = raw_trim(raw != NULL ? raw : "");
		json_array_append_new(out,
				      json_pack("{s:s s:o}", "name", g_mime_header_get_name(hd),
						"value", jstr(v)));
		free(v);
	}
	return out;
}

/* --- the part tree ------------------------------------------------------ */

static char *opt_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Decoded size of a leaf. */
static uint64_t part_size(GMimeObject *obj)
{
	GMimeStream *null = g_mime_stream_null_new();
	if (GMIME_IS_PART(obj)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));
		if (w != NULL)
			g_mime_data_wrapper_write_to_stream(w, null);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (m != NULL)
			g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, null);
	}
	uint64_t n = GMIME_STREAM_NULL(null)->written;
	g_object_unref(null);
	return n;
}

static json_t *languages(GMimeObject *obj)
{
	const char *v = g_mime_object_get_header(obj, "Content-Language");
	if (v == NULL)
		return json_null();
	json_t *out = json_array();
	char *copy = xstrdup(v);
	char *save = NULL;
	for (char *t = strtok_r(copy, ", \t\r\n", &save); t != NULL;
	     t = strtok_r(NULL, ", \t\r\n", &save))
		json_array_append_new(out, jstr(t));
	free(copy);
	return out;
}

static struct jmap_part *part_new(GMimeObject *obj, const char *number)
{
	struct jmap_part *p = xcalloc(1, sizeof(*p));
	p->obj = obj;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *mt = ct != NULL ? g_mime_content_type_get_mime_type(ct) : NULL;
	snprintf(p->type, sizeof(p->type), "%s", mt != NULL ? mt : "text/plain");
	g_free(mt);
	str_lower(p->type);
	if (GMIME_IS_MULTIPART(obj))
		return p;
	snprintf(p->part_id, sizeof(p->part_id), "%s", number);
	const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
	if (cs != NULL)
		p->charset = xstrdup(cs);
	else if (strncmp(p->type, "text/", 5) == 0)
		p->charset = xstrdup("us-ascii");
	if (GMIME_IS_PART(obj))
		p->name = opt_dup(g_mime_part_get_filename(GMIME_PART(obj)));
	else
		p->name = opt_dup(g_mime_object_get_content_disposition_parameter(obj, "filename"));
	const char *disp = g_mime_object_get_disposition(obj);
	if (disp != NULL)
		p->disposition = str_lower(xstrdup(disp));
	p->cid = opt_dup(g_mime_object_get_content_id(obj));
	const char *loc = g_mime_object_get_header(obj, "Content-Location");
	if (loc != NULL)
		p->location = trim(xstrdup(loc));
	p->language = languages(obj);
	p->size = part_size(obj);
	return p;
}

static struct jmap_part *walk(GMimeObject *obj, const char *number, int depth)
{
	struct jmap_part *p = part_new(obj, number);
	if (!GMIME_IS_MULTIPART(obj) || depth > 32)
		return p;
	int n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
	p->sub = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*p->sub));
	for (int i = 0; i < n; i++) {
		char num[64];
		if (number[0] == '\0')
			snprintf(num, sizeof(num), "%d", i + 1);
		else
			snprintf(num, sizeof(num), "%.50s.%d", number, i + 1);
		p->sub[p->n_sub++] =
			walk(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), num, depth + 1);
	}
	return p;
}

struct jmap_part *jmap_parts(struct jmap_msg *m)
{
	GMimeObject *root = g_mime_message_get_mime_part(m->msg);
	if (root == NULL) {
		/* No body at all: an empty text/plain part, like IMAP shows it. */
		GMimeTextPart *t = g_mime_text_part_new_with_subtype("plain");
		g_mime_text_part_set_text(t, "");
		g_mime_message_set_mime_part(m->msg, GMIME_OBJECT(t));
		g_object_unref(t);
		root = g_mime_message_get_mime_part(m->msg);
	}
	return walk(root, GMIME_IS_MULTIPART(root) ? "" : "1", 0);
}

void jmap_part_free(struct jmap_part **pp)
{
	struct jmap_part *p = *pp;
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_sub; i++)
		jmap_part_free(&p->sub[i]);
	free(p->sub);
	free(p->name);
	free(p->charset);
	free(p->disposition);
	free(p->cid);
	free(p->location);
	json_decref(p->language);
	free(p);
	*pp = NULL;
}

struct jmap_part *jmap_part_find(struct jmap_part *root, const char *part_id)
{
	if (root->part_id[0] != '\0' && strcmp(root->part_id, part_id) == 0)
		return root;
	for (size_t i = 0; i < root->n_sub; i++) {
		struct jmap_part *f = jmap_part_find(root->sub[i], part_id);
		if (f != NULL)
			return f;
	}
	return NULL;
}

/* --- textBody / htmlBody / attachments (RFC 8621 4.1.4) ----------------- */

static void list_add(struct jmap_part_list *l, struct jmap_part *p)
{
	if (l == NULL)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = p;
}

void jmap_part_list_free(struct jmap_part_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool inline_media(const char *type)
{
	return strncmp(type, "image/", 6) == 0 || strncmp(type, "audio/", 6) == 0 ||
		strncmp(type, "video/", 6) == 0;
}

static void parse_structure(struct jmap_part **parts, size_t n, const char *multipart_type,
			    bool in_alternative, struct jmap_part_list *html,
			    struct jmap_part_list *text, struct jmap_part_list *att)
{
	size_t text_len = text ? text->n : (size_t)-1;
	size_t html_len = html ? html->n : (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		struct jmap_part *p = parts[i];
		bool multipart = strncmp(p->type, "multipart/", 10) == 0;
		bool is_inline =
			(p->disposition == NULL || strcmp(p->disposition, "attachment") != 0) &&
			(strcmp(p->type, "text/plain") == 0 || strcmp(p->type, "text/html") == 0 ||
			 inline_media(p->type)) &&
			(i == 0 ||
			 (strcmp(multipart_type, "related") != 0 &&
			  (inline_media(p->type) || p->name == NULL)));
		if (multipart) {
			const char *sub = p->type + 10;
			parse_structure(p->sub, p->n_sub, sub,
					in_alternative || strcmp(sub, "alternative") == 0, html,
					text, att);
		} else if (is_inline) {
			if (strcmp(multipart_type, "alternative") == 0) {
				if (strcmp(p->type, "text/plain") == 0)
					list_add(text, p);
				else if (strcmp(p->type, "text/html") == 0)
					list_add(html, p);
				else
					list_add(att, p);
				continue;
			}
			struct jmap_part_list *t = text, *h = html;
			if (in_alternative) {
				if (strcmp(p->type, "text/plain") == 0)
					h = NULL;
				if (strcmp(p->type, "text/html") == 0)
					t = NULL;
			}
			list_add(t, p);
			list_add(h, p);
			if ((t == NULL || h == NULL) && inline_media(p->type))
				list_add(att, p);
		} else {
			list_add(att, p);
		}
	}
	if (strcmp(multipart_type, "alternative") == 0 && text != NULL && html != NULL) {
		if (text_len == text->n && html_len != html->n)
			for (size_t i = html_len; i < html->n; i++)
				list_add(text, html->v[i]);
		if (html_len == html->n && text_len != text->n)
			for (size_t i = text_len; i < text->n; i++)
				list_add(html, text->v[i]);
	}
}

void jmap_body_lists(struct jmap_part *root, struct jmap_part_list *text,
		     struct jmap_part_list *html, struct jmap_part_list *att)
{
	struct jmap_part *top[1] = {root};
	parse_structure(top, 1, "mixed", false, html, text, att);
}

/* --- text -------------------------------------------------------------- */

char *jmap_part_text(struct jmap_part *p, bool *encoding_problem_r)
{
	if (encoding_problem_r != NULL)
		*encoding_problem_r = false;
	if (!GMIME_IS_TEXT_PART(p->obj))
		return xstrdup("");
	char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(p->obj));
	if (t == NULL) {
		if (encoding_problem_r != NULL)
			*encoding_problem_r = true;
		return xstrdup("");
	}
	char *out;
	if (g_utf8_validate(t, -1, NULL)) {
		out = xstrdup(t);
	} else {
		char *v = g_utf8_make_valid(t, -1);
		out = xstrdup(v);
		g_free(v);
		if (encoding_problem_r != NULL)
			*encoding_problem_r = true;
	}
	g_free(t);
	/* Line ends as the client expects them in JSON: LF. */
	size_t o = 0;
	for (size_t i = 0; out[i] != '\0'; i++)
		if (!(out[i] == '\r' && out[i + 1] == '\n'))
			out[o++] = out[i];
	out[o] = '\0';
	return out;
}

/* The HTML stripping and the preview are shared with IMAP PREVIEW (mime-text.c). */
char *jmap_html_to_text(const char *html)
{
	return mime_text_html_strip(html);
}

char *jmap_preview(struct jmap_part *root)
{
	struct jmap_part_list text = {0}, html = {0}, att = {0};
	char *out = NULL;
	jmap_body_lists(root, &text, &html, &att);
	for (size_t i = 0; i < text.n && out == NULL; i++) {
		struct jmap_part *p = text.v[i];
		if (strcmp(p->type, "text/plain") == 0 || strcmp(p->type, "text/html") == 0) {
			char *t = jmap_part_text(p, NULL);
			if (strcmp(p->type, "text/html") == 0) {
				char *plain = jmap_html_to_text(t);
				free(t);
				t = plain;
			}
			out = mime_text_preview(t, JMAP_PREVIEW_LEN);
			free(t);
		}
	}
	jmap_part_list_free(&text);
	jmap_part_list_free(&html);
	jmap_part_list_free(&att);
	return out != NULL ? out : xstrdup("");
}

void jmap_part_blob_id(char *out, size_t size, const char *blob_id, const char *part_id)
{
	snprintf(out, size, "P%s_%s", blob_id, part_id);
	for (char *p = out + 1 + strlen(blob_id) + 1; *p != '\0'; p++)
		if (*p == '.')
			*p = '_';
}

int jmap_part_write(struct jmap_part *p, int fd)
{
	int dfd = dup(fd);
	if (dfd < 0)
		return -1;
	GMimeStream *out = g_mime_stream_fs_new(dfd);
	int ret = 0;
	if (GMIME_IS_PART(p->obj)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(p->obj));
		if (w != NULL && g_mime_data_wrapper_write_to_stream(w, out) < 0)
			ret = -1;
	} else if (GMIME_IS_MESSAGE_PART(p->obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(p->obj));
		if (m != NULL && g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, out) < 0)
			ret = -1;
	}
	if (g_mime_stream_flush(out) < 0)
		ret = -1;
	g_object_unref(out);
	return ret;
}

int jmap_blob_summary(struct store *s, const char *blob_id, char **preview_r, bool *has_att_r)
{
	*preview_r = NULL;
	*has_att_r = false;
	int r = store_jmap_blob_info(s, blob_id, preview_r, has_att_r);
	if (r != 0)
		return r < 0 ? -1 : 0;
	struct jmap_msg m;
	if (jmap_msg_open(s, blob_id, false, &m) < 0) {
		jmap_msg_close(&m);
		*preview_r = xstrdup("");
		return 0;
	}
	struct jmap_part *root = jmap_parts(&m);
	struct jmap_part_list text = {0}, html = {0}, att = {0};
	jmap_body_lists(root, &text, &html, &att);
	*has_att_r = att.n > 0;
	*preview_r = jmap_preview(root);
	jmap_part_list_free(&text);
	jmap_part_list_free(&html);
	jmap_part_list_free(&att);
	jmap_part_free(&root);
	jmap_msg_close(&m);
	store_jmap_blob_info_set(s, blob_id, *preview_r, *has_att_r);
	return 0;
}
