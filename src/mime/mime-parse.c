/* SPDX-License-Identifier: MIT */
/*
 * mime_parse(): one pass over a delivered message producing the IMAP
 * BODYSTRUCTURE / BODY / ENVELOPE and the decoded header fields.
 *
 * The MIME tree is walked over the raw bytes (header block, then multipart
 * delimiters per RFC 2046 section 5.1.1, then message/rfc822 bodies as
 * messages) because IMAP wants sizes and line counts of each part exactly
 * as the octets appear in the message; GMime would hand back re-encoded
 * objects. GMime does the field-level work it is good at: Content-Type and
 * Content-Disposition parameters (RFC 2231), RFC 2047 decoding, address
 * lists for display, dates. Nothing here fails on bad input: every part
 * still yields syntactically valid IMAP.
 */
#include "mime/mime.h"
#include "mime/mime-private.h"
#include "lib/util.h"

#include <gmime/gmime.h>
#include <string.h>

/* Nesting beyond this is flattened into a leaf (stack and output bound). */
#define MIME_MAX_DEPTH 32
/* Leaf parts beyond this are not described (IMAP clients choke first). */
#define MIME_MAX_PARTS 10000
/* RFC 2046 says 70; be lenient, but bound the memcmp. */
#define MIME_MAX_BOUNDARY 200

struct walk {
	const char *base;
	struct buf *bs;   /* BODYSTRUCTURE */
	struct buf *body; /* BODY */
	unsigned n_parts;
};

void mime_init(void)
{
	g_mime_init();
}

void mime_deinit(void)
{
	g_mime_shutdown();
}

/* Append to both outputs. */
static void out_both(struct walk *w, const char *s)
{
	buf_append_str(w->bs, s);
	buf_append_str(w->body, s);
}

static void out_both_string(struct walk *w, const char *s)
{
	mime_imap_nstring(w->bs, s);
	mime_imap_nstring(w->body, s);
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;
	const char *p = s, *end = s + len;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	if (len > 0 && s[len - 1] != '\n')
		n++; /* a last line without its newline still counts */
	return n;
}

static bool is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* "type/subtype" at the start (after white space), both tokens. */
static bool content_type_valid(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!is_token_char(*p))
		return false;
	while (is_token_char(*p))
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '/')
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	return is_token_char(*p);
}

/*
 * The part's Content-Type, with RFC 2045's default (text/plain;
 * charset=us-ascii) for an absent or unreadable one, and RFC 2046's
 * message/rfc822 default inside multipart/digest.
 */
static GMimeContentType *part_content_type(const struct mime_headers *h, bool digest)
{
	char *v = mime_headers_get(h, "Content-Type");
	GMimeContentType *ct;
	if (v != NULL && content_type_valid(v))
		ct = g_mime_content_type_parse(NULL, v);
	else
		ct = g_mime_content_type_parse(
			NULL, digest ? "message/rfc822" : "text/plain; charset=us-ascii");
	free(v);
	if (ct == NULL) /* not expected from GMime, but never crash on it */
		ct = g_mime_content_type_new("text", "plain");
	return ct;
}

static char *lower_dup(const char *s)
{
	return str_lower(xstrdup(s != NULL ? s : ""));
}

/* ("name" "value" ...) or NIL. */
static void write_params(struct buf *out, GMimeParamList *list)
{
	int n = list != NULL ? g_mime_param_list_length(list) : 0;
	if (n <= 0) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	for (int i = 0; i < n; i++) {
		GMimeParam *p = g_mime_param_list_get_parameter_at(list, i);
		const char *name = g_mime_param_get_name(p);
		const char *value = g_mime_param_get_value(p);
		if (i > 0)
			buf_append_str(out, " ");
		mime_imap_string(out, name != NULL ? name : "");
		buf_append_str(out, " ");
		mime_imap_string(out, value != NULL ? value : "");
	}
	buf_append_str(out, ")");
}

/* body-fld-dsp: ("disposition" params) or NIL. */
static void write_disposition(struct buf *out, const struct mime_headers *h)
{
	char *v = mime_headers_get(h, "Content-Disposition");
	GMimeContentDisposition *d = v != NULL ? g_mime_content_disposition_parse(NULL, v) : NULL;
	const char *name = d != NULL ? g_mime_content_disposition_get_disposition(d) : NULL;
	if (name == NULL || *name == '\0') {
		buf_append_str(out, "NIL");
	} else {
		buf_append_str(out, "(");
		mime_imap_string(out, name);
		buf_append_str(out, " ");
		write_params(out, g_mime_content_disposition_get_parameters(d));
		buf_append_str(out, ")");
	}
	if (d != NULL)
		g_object_unref(d);
	free(v);
}

/* body-fld-lang: NIL, one string, or a list of the comma-separated tags. */
static void write_language(struct buf *out, const struct mime_headers *h)
{
	char *v = mime_headers_get(h, "Content-Language");
	char *tags[64];
	size_t n = 0;
	char *save = NULL;
	for (char *t = v != NULL ? strtok_r(v, ", \t", &save) : NULL; t != NULL && n < 64;
	     t = strtok_r(NULL, ", \t", &save))
		tags[n++] = t;
	if (n == 0) {
		buf_append_str(out, "NIL");
	} else if (n == 1) {
		mime_imap_string(out, tags[0]);
	} else {
		buf_append_str(out, "(");
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_append_str(out, " ");
			mime_imap_string(out, tags[i]);
		}
		buf_append_str(out, ")");
	}
	free(v);
}

static void write_header_nstring(struct buf *out, const struct mime_headers *h, const char *name)
{
	char *v = mime_headers_get(h, name);
	mime_imap_nstring(out, v);
	free(v);
}

/* Extension data shared by leaves and multiparts: dsp, lang, location. */
static void write_ext_tail(struct buf *out, const struct mime_headers *h)
{
	buf_append_str(out, " ");
	write_disposition(out, h);
	buf_append_str(out, " ");
	write_language(out, h);
	buf_append_str(out, " ");
	write_header_nstring(out, h, "Content-Location");
}

/* The transfer encoding's first token, "7BIT" by default. */
static char *part_encoding(const struct mime_headers *h)
{
	char *v = mime_headers_get(h, "Content-Transfer-Encoding");
	if (v != NULL) {
		v[strcspn(v, " \t;(")] = '\0';
		if (*v != '\0')
			return v;
		free(v);
	}
	return xstrdup("7BIT");
}

static void walk_part(struct walk *w, size_t start, size_t end, bool digest, int depth);

/* An empty text/plain part: a multipart must hold at least one body. */
static void write_empty_part(struct walk *w)
{
	out_both(w, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0");
	buf_append_str(w->bs, " NIL NIL NIL NIL");
	out_both(w, ")");
	w->n_parts++;
}

/*
 * If a delimiter line for boundary starts at p, return true with *close
 * set for the close delimiter and *next at the following line. RFC 2046
 * 5.1.1's note to implementors: a line need only start with "--boundary"
 * ("--boundary trailing text" is a delimiter, "--boundary--x" the close
 * delimiter), which is also how GMime and Dovecot read real mail.
 */
static bool delimiter_at(const char *base, size_t p, size_t end, const char *boundary, size_t blen,
			 bool *close, size_t *next)
{
	if (end - p < blen + 2 || base[p] != '-' || base[p + 1] != '-' ||
	    memcmp(base + p + 2, boundary, blen) != 0)
		return false;
	size_t r = p + 2 + blen;
	*close = end - r >= 2 && base[r] == '-' && base[r + 1] == '-';
	const char *nl = memchr(base + r, '\n', end - r);
	*next = nl != NULL ? (size_t)(nl - base) + 1 : end;
	return true;
}

/* The line break before a delimiter belongs to the delimiter. */
static size_t part_end_before(const char *base, size_t part_start, size_t delim)
{
	if (delim > part_start && base[delim - 1] == '\n')
		delim--;
	if (delim > part_start && base[delim - 1] == '\r')
		delim--;
	return delim;
}

/* The children of a multipart body [start, end); returns how many. */
static unsigned walk_children(struct walk *w, size_t start, size_t end, const char *boundary,
			      bool digest, int depth)
{
	size_t blen = strlen(boundary);
	unsigned n = 0;
	bool in_part = false;
	size_t part_start = 0;
	for (size_t p = start; p < end;) {
		bool close;
		size_t next;
		if (delimiter_at(w->base, p, end, boundary, blen, &close, &next)) {
			if (in_part && w->n_parts < MIME_MAX_PARTS) {
				walk_part(w, part_start, part_end_before(w->base, part_start, p),
					  digest, depth + 1);
				n++;
			}
			if (close)
				return n;
			in_part = true;
			part_start = next;
			p = next;
			continue;
		}
		const char *nl = memchr(w->base + p, '\n', end - p);
		p = nl != NULL ? (size_t)(nl - w->base) + 1 : end;
	}
	/* no close delimiter: the last part runs to the end */
	if (in_part && w->n_parts < MIME_MAX_PARTS) {
		walk_part(w, part_start, end, digest, depth + 1);
		n++;
	}
	return n;
}

static void walk_multipart(struct walk *w, const struct mime_headers *h, GMimeContentType *ct,
			   const char *subtype, size_t body, size_t end, int depth)
{
	const char *boundary = g_mime_content_type_get_parameter(ct, "boundary");
	out_both(w, "(");
	unsigned n = 0;
	if (boundary != NULL && *boundary != '\0' && strlen(boundary) <= MIME_MAX_BOUNDARY)
		n = walk_children(w, body, end, boundary, strcmp(subtype, "digest") == 0, depth);
	if (n == 0)
		write_empty_part(w);
	out_both(w, " ");
	out_both_string(w, subtype);
	buf_append_str(w->bs, " ");
	write_params(w->bs, g_mime_content_type_get_parameters(ct));
	write_ext_tail(w->bs, h);
	out_both(w, ")");
}

/* body-fields: params id description encoding size. */
static void write_body_fields(struct walk *w, const struct mime_headers *h, GMimeContentType *ct,
			      size_t size)
{
	struct buf *outs[2] = {w->bs, w->body};
	char *enc = part_encoding(h);
	for (int i = 0; i < 2; i++) {
		struct buf *out = outs[i];
		buf_append_str(out, " ");
		write_params(out, g_mime_content_type_get_parameters(ct));
		buf_append_str(out, " ");
		write_header_nstring(out, h, "Content-ID");
		buf_append_str(out, " ");
		write_header_nstring(out, h, "Content-Description");
		buf_append_str(out, " ");
		mime_imap_string(out, enc);
		buf_printf(out, " %zu", size);
	}
	free(enc);
}

/* Envelope, body and lines of an encapsulated message/rfc822. */
static void walk_message_body(struct walk *w, size_t body, size_t end, int depth)
{
	struct mime_headers inner;
	mime_headers_parse(w->base + body, end - body, &inner);
	out_both(w, " ");
	mime_imap_envelope(w->bs, &inner);
	mime_imap_envelope(w->body, &inner);
	mime_headers_free(&inner);
	out_both(w, " ");
	walk_part(w, body, end, false, depth + 1);
}

static void walk_leaf(struct walk *w, const struct mime_headers *h, GMimeContentType *ct,
		      const char *type, const char *subtype, size_t body, size_t end, int depth)
{
	bool is_msg = strcmp(type, "message") == 0 &&
		(strcmp(subtype, "rfc822") == 0 || strcmp(subtype, "global") == 0) &&
		depth < MIME_MAX_DEPTH;
	out_both(w, "(");
	out_both_string(w, type);
	out_both(w, " ");
	out_both_string(w, subtype);
	write_body_fields(w, h, ct, end - body);
	if (is_msg)
		walk_message_body(w, body, end, depth);
	else
		w->n_parts++;
	if (is_msg || strcmp(type, "text") == 0) {
		char lines[32];
		snprintf(lines, sizeof(lines), " %zu", count_lines(w->base + body, end - body));
		out_both(w, lines);
	}
	buf_append_str(w->bs, " ");
	write_header_nstring(w->bs, h, "Content-MD5");
	write_ext_tail(w->bs, h);
	out_both(w, ")");
}

/* One entity [start, end): header block, then body by type. */
static void walk_part(struct walk *w, size_t start, size_t end, bool digest, int depth)
{
	struct mime_headers h;
	size_t body = start + mime_headers_parse(w->base + start, end - start, &h);
	GMimeContentType *ct = part_content_type(&h, digest);
	char *type = lower_dup(g_mime_content_type_get_media_type(ct));
	char *subtype = lower_dup(g_mime_content_type_get_media_subtype(ct));
	if (strcmp(type, "multipart") == 0 && depth < MIME_MAX_DEPTH)
		walk_multipart(w, &h, ct, subtype, body, end, depth);
	else
		walk_leaf(w, &h, ct, strcmp(type, "multipart") == 0 ? "application" : type,
			  strcmp(type, "multipart") == 0 ? "octet-stream" : subtype, body, end,
			  depth);
	free(type);
	free(subtype);
	g_object_unref(ct);
	mime_headers_free(&h);
}

/* ----------------------------------------------------------------------
 * Decoded fields for search, sort and the webmail
 */

static char *decode_text(const char *raw)
{
	if (raw == NULL)
		return NULL;
	char *d = g_mime_utils_header_decode_text(NULL, raw);
	char *r = xstrdup(d != NULL ? d : raw);
	g_free(d);
	return r;
}

/* Address list in display form ("Name <a@b>, ..."), decoded. */
static char *decode_addresses(const char *raw)
{
	if (raw == NULL)
		return NULL;
	InternetAddressList *list = internet_address_list_parse(NULL, raw);
	char *r;
	if (list != NULL && internet_address_list_length(list) > 0) {
		char *s = internet_address_list_to_string(list, NULL, FALSE);
		r = xstrdup(s != NULL ? s : "");
		g_free(s);
	} else {
		r = decode_text(raw);
	}
	if (list != NULL)
		g_object_unref(list);
	return r;
}

static time_t decode_date(const char *raw)
{
	if (raw == NULL)
		return 0;
	GDateTime *dt = g_mime_utils_header_decode_date(raw);
	if (dt == NULL)
		return 0;
	gint64 t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	return t > 0 ? (time_t)t : 0;
}

static void decode_fields(const struct mime_headers *h, struct mime_parsed *r)
{
	char *v = mime_headers_get(h, "Subject");
	r->subject = decode_text(v);
	free(v);

	static const char *const names[] = {"From", "To", "Cc"};
	char **dest[] = {&r->from, &r->to, &r->cc};
	for (size_t i = 0; i < 3; i++) {
		v = mime_headers_get(h, names[i]);
		*dest[i] = decode_addresses(v);
		free(v);
	}

	v = mime_headers_get(h, "Message-ID");
	if (v != NULL) {
		char *id = g_mime_utils_decode_message_id(v);
		r->message_id = (id != NULL && *id != '\0') ? xstrdup(id) : NULL;
		g_free(id);
		free(v);
	}

	v = mime_headers_get(h, "Date");
	r->date = decode_date(v);
	free(v);
}

int mime_parse(const char *data, size_t len, struct mime_parsed *r)
{
	memset(r, 0, sizeof(*r));
	if (data == NULL)
		len = 0;
	struct buf env, bs, body;
	buf_init(&env);
	buf_init(&bs);
	buf_init(&body);

	struct mime_headers h;
	mime_headers_parse(data != NULL ? data : "", len, &h);
	mime_imap_envelope(&env, &h);
	decode_fields(&h, r);
	mime_headers_free(&h);

	struct walk w = {data != NULL ? data : "", &bs, &body, 0};
	walk_part(&w, 0, len, false, 0);

	r->envelope = xstrdup(buf_cstr(&env));
	r->bodystructure = xstrdup(buf_cstr(&bs));
	r->body = xstrdup(buf_cstr(&body));
	r->n_parts = w.n_parts;
	mime_text_extract(data, len, &r->text);
	buf_deinit(&env);
	buf_deinit(&bs);
	buf_deinit(&body);
	return 0;
}

void mime_parsed_free(struct mime_parsed *r)
{
	free(r->envelope);
	free(r->bodystructure);
	free(r->body);
	free(r->subject);
	free(r->from);
	free(r->to);
	free(r->cc);
	free(r->message_id);
	mime_text_free(&r->text);
	memset(r, 0, sizeof(*r));
}

/* ----------------------------------------------------------------------
 * ---- Added for IMAP FETCH BODY[section] (imap/imap-fetch-section.c) ----
 * mime_part_locate() follows the walk above (same Content-Type defaults,
 * same delimiter rules, same depth limits) to find one part by its IMAP
 * number, so that what FETCH returns agrees with the BODYSTRUCTURE.
 */

struct loc_entity {
	size_t start, end;
	int depth;
	bool digest; /* a child of multipart/digest */
};

struct loc_info {
	size_t body;
	enum mime_part_kind kind;
	bool digest_children;
	char *boundary; /* MULTIPART with a usable boundary, else NULL */
	char encoding[32];
};

/* What walk_part would make of e. */
static void loc_parse(const char *base, const struct loc_entity *e, struct loc_info *li)
{
	struct mime_headers h;
	memset(li, 0, sizeof(*li));
	li->body = e->start + mime_headers_parse(base + e->start, e->end - e->start, &h);
	GMimeContentType *ct = part_content_type(&h, e->digest);
	char *type = lower_dup(g_mime_content_type_get_media_type(ct));
	char *subtype = lower_dup(g_mime_content_type_get_media_subtype(ct));
	li->kind = MIME_PART_LEAF;
	if (strcmp(type, "multipart") == 0 && e->depth < MIME_MAX_DEPTH) {
		const char *b = g_mime_content_type_get_parameter(ct, "boundary");
		li->kind = MIME_PART_MULTIPART;
		li->digest_children = strcmp(subtype, "digest") == 0;
		if (b != NULL && *b != '\0' && strlen(b) <= MIME_MAX_BOUNDARY)
			li->boundary = xstrdup(b);
	} else if (strcmp(type, "message") == 0 &&
		   (strcmp(subtype, "rfc822") == 0 || strcmp(subtype, "global") == 0) &&
		   e->depth < MIME_MAX_DEPTH) {
		li->kind = MIME_PART_MESSAGE;
	}
	char *enc = str_lower(part_encoding(&h));
	snprintf(li->encoding, sizeof(li->encoding), "%s", enc);
	free(enc);
	free(type);
	free(subtype);
	g_object_unref(ct);
	mime_headers_free(&h);
}

/*
 * Child n (1-based) of a multipart body [start, end), delimited as in
 * walk_children. A multipart without any child is shown with one empty
 * text/plain part: its child 1 is an empty range at the end.
 */
static bool loc_child(const char *base, size_t start, size_t end, const char *boundary, unsigned n,
		      size_t *cs, size_t *ce)
{
	size_t blen = boundary != NULL ? strlen(boundary) : 0;
	unsigned count = 0;
	bool in_part = false, closed = false;
	size_t part_start = 0;
	for (size_t p = start; boundary != NULL && p < end;) {
		bool close;
		size_t next;
		if (delimiter_at(base, p, end, boundary, blen, &close, &next)) {
			if (in_part && ++count == n) {
				*cs = part_start;
				*ce = part_end_before(base, part_start, p);
				return true;
			}
			if (close) {
				closed = true;
				break;
			}
			in_part = true;
			part_start = next;
			p = next;
			continue;
		}
		const char *nl = memchr(base + p, '\n', end - p);
		p = nl != NULL ? (size_t)(nl - base) + 1 : end;
	}
	/* no close delimiter: the last part runs to the end */
	if (!closed && in_part && ++count == n) {
		*cs = part_start;
		*ce = end;
		return true;
	}
	if (count == 0 && n == 1) {
		*cs = *ce = end;
		return true;
	}
	return false;
}

/* One step down the path from e (number n); false when there is no such part. */
static bool loc_step(const char *base, struct loc_entity *e, const struct loc_info *li,
		     bool *msg_root, unsigned n)
{
	size_t cs, ce;
	bool root = *msg_root;
	*msg_root = false;
	if (li->kind == MIME_PART_MULTIPART) {
		if (!loc_child(base, li->body, e->end, li->boundary, n, &cs, &ce))
			return false;
		*e = (struct loc_entity){cs, ce, e->depth + 1, li->digest_children};
		return true;
	}
	if (root) /* a message whose body is one part: part 1 is that body */
		return n == 1;
	if (li->kind != MIME_PART_MESSAGE)
		return false;
	struct loc_entity inner = {li->body, e->end, e->depth + 1, false};
	struct loc_info ii;
	loc_parse(base, &inner, &ii);
	bool ok;
	if (ii.kind == MIME_PART_MULTIPART) {
		ok = loc_child(base, ii.body, inner.end, ii.boundary, n, &cs, &ce);
		if (ok)
			*e = (struct loc_entity){cs, ce, inner.depth + 1, ii.digest_children};
	} else {
		ok = n == 1;
		*e = inner;
	}
	free(ii.boundary);
	return ok;
}

int mime_part_locate(const char *data, size_t len, const unsigned *path, size_t depth,
		     struct mime_part_loc *r)
{
	memset(r, 0, sizeof(*r));
	if (data == NULL)
		len = 0;
	const char *base = data != NULL ? data : "";
	struct loc_entity e = {0, len, 0, false};
	bool msg_root = true;
	for (size_t i = 0;; i++) {
		struct loc_info li;
		loc_parse(base, &e, &li);
		if (i == depth) {
			r->header_start = e.start;
			r->body_start = li.body;
			r->end = e.end;
			r->kind = li.kind;
			memcpy(r->encoding, li.encoding, sizeof(r->encoding));
			if (depth == 0) { /* the message itself */
				r->header_start = r->body_start = 0;
				r->kind = MIME_PART_MESSAGE;
			}
			if (r->kind == MIME_PART_MESSAGE) {
				struct mime_headers h;
				r->msg_body = r->body_start +
					mime_headers_parse(base + r->body_start,
							   r->end - r->body_start, &h);
				mime_headers_free(&h);
			}
			free(li.boundary);
			return 1;
		}
		bool ok = loc_step(base, &e, &li, &msg_root, path[i]);
		free(li.boundary);
		if (!ok)
			return 0;
	}
}
/* ---- end of FETCH block ---- */

/* The first mailbox of list, descending into groups; NULL when none. */
static InternetAddressMailbox *first_mailbox(InternetAddressList *list, unsigned depth)
{
	int n = list != NULL ? internet_address_list_length(list) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a))
			return INTERNET_ADDRESS_MAILBOX(a);
		if (INTERNET_ADDRESS_IS_GROUP(a) && depth < 4) {
			InternetAddressMailbox *m = first_mailbox(
				internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)),
				depth + 1);
			if (m != NULL)
				return m;
		}
	}
	return NULL;
}

char *mime_address_display(const char *list)
{
	if (list == NULL || *list == '\0')
		return xstrdup("");
	InternetAddressList *l = internet_address_list_parse(NULL, list);
	InternetAddressMailbox *m = first_mailbox(l, 0);
	const char *name = m != NULL ? internet_address_get_name(INTERNET_ADDRESS(m)) : NULL;
	const char *addr = m != NULL ? internet_address_mailbox_get_addr(m) : NULL;
	char *r = xstrdup(name != NULL && *name != '\0' ? name : addr != NULL ? addr : "");
	if (l != NULL)
		g_object_unref(l);
	return r;
}
