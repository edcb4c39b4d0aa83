/* SPDX-License-Identifier: MIT */
/*
 * The searchable text of a message, as IMAP SEARCH and JMAP filters read
 * it and as the full-text index stores it: three case-folded UTF-8 texts
 * (the top-level header fields with RFC 2047 words decoded; the content of
 * the text and message parts with transfer encodings and charsets undone;
 * the header fields of the sub-parts and inner messages). Computed once at
 * delivery for the index, and on the fly for a message not indexed yet,
 * by this one function, so that both give the same answers. Folding is
 * ASCII plus Unicode simple lower-case (GLib); bytes that are not UTF-8
 * become U+FFFD and NULs are dropped, so the texts are valid UTF-8 that
 * SQLite's trigram tokenizer reads exactly as memmem() would.
 */
#include "mime/mime.h"

#include "lib/buf.h"
#include "lib/util.h"

#include <gmime/gmime.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* One UTF-8 sequence at s (len > 0): its length, or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	size_t n;
	uint32_t cp, min;
	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

void mime_text_fold(const char *str, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)str;
	buf_reserve(out, len + 1);
	for (size_t i = 0; i < len;) {
		if (s[i] < 0x80) {
			char c = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
			if (c != '\0')
				buf_append(out, &c, 1);
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			buf_append(out, "\xef\xbf\xbd", 3); /* U+FFFD */
			i++;
			continue;
		}
		char enc[8];
		int m = g_unichar_to_utf8(g_unichar_tolower(cp), enc);
		buf_append(out, enc, (size_t)m);
		i += n;
	}
	buf_cstr(out);
}

size_t mime_text_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

size_t mime_text_header_len(const char *d, size_t len)
{
	if (len >= 2 && d[0] == '\r' && d[1] == '\n')
		return 2;
	if (len >= 1 && d[0] == '\n')
		return 1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (d[i] != '\n')
			continue;
		if (d[i + 1] == '\n')
			return i + 2;
		if (d[i + 1] == '\r' && i + 2 < len && d[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

bool mime_text_each_header(const char *d, size_t len, mime_text_header_cb *cb, void *ctx)
{
	struct buf v;
	buf_init(&v);
	size_t i = 0;
	bool stop = false;
	while (i < len && !stop) {
		size_t eol = i;
		while (eol < len && d[eol] != '\n')
			eol++;
		const char *colon = memchr(d + i, ':', eol - i);
		if (colon == NULL || colon == d + i || d[i] == ' ' || d[i] == '\t') {
			i = eol + 1;
			continue;
		}
		size_t nlen = (size_t)(colon - (d + i));
		const char *name = d + i;
		buf_clear(&v);
		size_t p = (size_t)(colon - d) + 1;
		for (;;) {
			size_t e = p;
			while (e < len && d[e] != '\n')
				e++;
			size_t seg = e - p;
			if (seg > 0 && d[p + seg - 1] == '\r')
				seg--;
			for (size_t j = 0; j < seg; j++)
				if (d[p + j] != '\0')
					buf_append(&v, d + p + j, 1);
			p = e + 1;
			if (p >= len || (d[p] != ' ' && d[p] != '\t'))
				break;
		}
		i = p;
		while (nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
			nlen--;
		stop = cb(ctx, name, nlen, buf_cstr(&v));
	}
	buf_deinit(&v);
	return stop;
}

void mime_text_fold_header_value(const char *raw, struct buf *out)
{
	while (*raw == ' ' || *raw == '\t')
		raw++;
	char *dec = g_mime_utils_header_decode_text(NULL, raw);
	const char *t = dec != NULL ? dec : raw;
	mime_text_fold(t, strlen(t), out);
	g_free(dec);
}

static bool hdr_text_cb(void *ctx, const char *name, size_t nlen, const char *value)
{
	struct buf *out = ctx;
	mime_text_fold(name, nlen, out);
	buf_append(out, ": ", 2);
	mime_text_fold_header_value(value, out);
	buf_append(out, "\n", 1);
	return false;
}

struct body_walk {
	struct buf *out;  /* the parts' content */
	struct buf *hdrs; /* the parts' header fields (TEXT) */
	unsigned depth;
	char *preview; /* of the first text/plain or text/html part not an attachment */
};

static const struct {
	const char *name;
	const char *text;
} entities[] = {
	{"&amp;", "&"},   {"&lt;", "<"},  {"&gt;", ">"},
	{"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "},
};

char *mime_text_html_strip(const char *html)
{
	size_t len = strlen(html);
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		if (html[i] == '<') {
			bool skip_body = g_ascii_strncasecmp(html + i, "<style", 6) == 0 ||
				g_ascii_strncasecmp(html + i, "<script", 7) == 0;
			bool block = g_ascii_strncasecmp(html + i, "<br", 3) == 0 ||
				g_ascii_strncasecmp(html + i, "</p", 3) == 0 ||
				g_ascii_strncasecmp(html + i, "</div", 5) == 0;
			const char *close = skip_body
				? (html[i + 2] == 't' || html[i + 2] == 'T' ? "</style"
									    : "</script")
				: NULL;
			const char *e = strchr(html + i, '>');
			if (e == NULL)
				break;
			i = (size_t)(e - html) + 1;
			if (close != NULL) {
				const char *c = strcasestr(html + i, close);
				if (c == NULL)
					break;
				e = strchr(c, '>');
				if (e == NULL)
					break;
				i = (size_t)(e - html) + 1;
			}
			if (block)
				out[o++] = '\n';
			continue;
		}
		if (html[i] == '&') {
			bool done = false;
			for (size_t k = 0; k < sizeof(entities) / sizeof(entities[0]) && !done;
			     k++) {
				size_t n = strlen(entities[k].name);
				if (g_ascii_strncasecmp(html + i, entities[k].name, n) == 0) {
					out[o++] = entities[k].text[0];
					i += n;
					done = true;
				}
			}
			if (done)
				continue;
		}
		out[o++] = html[i++];
	}
	out[o] = '\0';
	return out;
}

char *mime_text_preview(const char *text, size_t max_chars)
{
	char *out = xmalloc(max_chars * 4 + 1);
	size_t o = 0, chars = 0;
	bool space = false;
	for (const char *p = text; *p != '\0' && chars < max_chars;) {
		if (isspace((unsigned char)*p)) {
			space = o > 0;
			p++;
			continue;
		}
		if (space) {
			out[o++] = ' ';
			chars++;
			space = false;
			if (chars >= max_chars)
				break;
		}
		const char *next = g_utf8_next_char(p);
		memcpy(out + o, p, (size_t)(next - p));
		o += (size_t)(next - p);
		chars++;
		p = next;
	}
	out[o] = '\0';
	return out;
}

/* The preview of a text part's decoded text (HTML stripped). */
static char *part_preview(GMimeObject *part, const char *text)
{
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	const char *sub = ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
	if (sub == NULL || (strcasecmp(sub, "plain") != 0 && strcasecmp(sub, "html") != 0))
		return NULL;
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(part);
	if (d != NULL && g_mime_content_disposition_is_attachment(d))
		return NULL;
	char *valid = g_utf8_make_valid(text, -1);
	char *plain = strcasecmp(sub, "html") == 0 ? mime_text_html_strip(valid) : NULL;
	char *r = mime_text_preview(plain != NULL ? plain : valid, MIME_PREVIEW_MAX);
	free(plain);
	g_free(valid);
	return r;
}

static void body_part_cb(GMimeObject *parent, GMimeObject *part, gpointer data);

/* Every header field of object, "name: decoded value\n", folded. */
static void body_headers(GMimeObject *object, struct buf *out)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(object);
	int n = list != NULL ? g_mime_header_list_get_count(list) : 0;
	for (int i = 0; i < n && out->len < MIME_TEXT_MAX; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = g_mime_header_get_name(h);
		const char *value = g_mime_header_get_raw_value(h);
		mime_text_fold(name != NULL ? name : "", name != NULL ? strlen(name) : 0, out);
		buf_append(out, ": ", 2);
		mime_text_fold_header_value(value != NULL ? value : "", out);
		buf_append(out, "\n", 1);
	}
}

/*
 * The body of an inner message is the outer message's body: its header
 * fields go with the parts' headers (TEXT), its parts are walked. The top
 * message's own header is read from the raw bytes (hdr).
 */
static void body_walk_message(GMimeMessage *msg, struct body_walk *w)
{
	if (msg == NULL || w->depth >= 8)
		return;
	if (w->depth > 0)
		body_headers(GMIME_OBJECT(msg), w->hdrs);
	w->depth++;
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	if (top != NULL && !GMIME_IS_MULTIPART(top))
		body_part_cb(NULL, top, w);
	else
		g_mime_message_foreach(msg, body_part_cb, w);
	w->depth--;
}

/*
 * A leaf of type message but not message/rfc822 (delivery-status, disposition-
 * notification, ...): its content with the transfer encoding undone. Such
 * parts are text in all but name; other types (images, PDFs) are skipped,
 * as Dovecot does.
 */
static void body_message_leaf(GMimePart *part, struct buf *out)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	if (content == NULL)
		return;
	GMimeStream *mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(content, mem) >= 0) {
		GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		if (bytes != NULL && bytes->len > 0) {
			mime_text_fold((const char *)bytes->data, bytes->len, out);
			buf_append(out, "\n", 1);
		}
	}
	g_object_unref(mem);
}

static void body_part_cb(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct body_walk *w = data;
	if (w->out->len >= MIME_TEXT_MAX)
		return;
	/* Sub-parts' MIME headers are part of the message body (RFC 3501 TEXT). */
	if (parent != NULL || w->depth > 1)
		body_headers(part, w->hdrs);
	if (GMIME_IS_MESSAGE_PART(part)) {
		body_walk_message(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part)), w);
		return;
	}
	if (GMIME_IS_TEXT_PART(part)) {
		char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
		if (text == NULL)
			return;
		mime_text_fold(text, strlen(text), w->out);
		buf_append(w->out, "\n", 1);
		if (w->preview == NULL)
			w->preview = part_preview(part, text);
		g_free(text);
		return;
	}
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	const char *type = ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
	if (GMIME_IS_PART(part) && type != NULL && strcasecmp(type, "message") == 0)
		body_message_leaf(GMIME_PART(part), w->out);
}

static char *buf_take(struct buf *b, size_t *len_r)
{
	buf_cstr(b);
	*len_r = b->len;
	return b->data != NULL ? b->data : xstrdup("");
}

void mime_text_extract(const char *data, size_t len, struct mime_text *r)
{
	struct buf hdr, body, parts;
	buf_init(&hdr);
	buf_init(&body);
	buf_init(&parts);
	if (data == NULL)
		len = 0;
	mime_text_each_header(data, mime_text_header_len(data, len), hdr_text_cb, &hdr);
	if (len > 0) {
		/* GMime reads from a stream: a memory stream over a copy. */
		GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
		GMimeParser *parser = g_mime_parser_new_with_stream(stream);
		GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
		struct body_walk w = {.out = &body, .hdrs = &parts};
		body_walk_message(msg, &w);
		r->preview = w.preview;
		if (msg != NULL)
			g_object_unref(msg);
		g_object_unref(parser);
		g_object_unref(stream);
	}
	r->hdr = buf_take(&hdr, &r->hdr_len);
	r->body = buf_take(&body, &r->body_len);
	r->parts = buf_take(&parts, &r->parts_len);
	if (r->preview == NULL)
		r->preview = xstrdup("");
}

void mime_text_free(struct mime_text *r)
{
	free(r->hdr);
	free(r->body);
	free(r->parts);
	free(r->preview);
	*r = (struct mime_text){0};
}
