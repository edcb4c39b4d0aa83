/* SPDX-License-Identifier: MIT */
/*
 * FETCH body sections: the section-spec grammar of RFC 9051 (and RFC 3516
 * for BINARY), and extraction from the raw message. Part boundaries come
 * from mime_part_locate(), the same walk over the raw bytes that produced
 * the stored BODYSTRUCTURE, so BODY[2.1] is exactly the part the client saw
 * described. What a section selects is kept as a list of byte ranges of the
 * mapped blob (a few for HEADER.FIELDS, one otherwise) or as an encoded
 * range plus a resumable decoder (BINARY), and streamed in pieces.
 */
#include "imap/imap-fetch-section.h"

#include "lib/util.h"
#include "mime/mime-private.h"
#include "mime/mime.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* --- parsing ----------------------------------------------------------------- */

/* nz-number (or number when zero_ok) of at most max; advances *p. */
static int parse_number(const char **p, bool zero_ok, uint64_t max, uint64_t *n_r)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s) ||
	    (*s == '0' && (!zero_ok || isdigit((unsigned char)s[1]))))
		return -1;
	uint64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	if (v == 0 && !zero_ok)
		return -1;
	*n_r = v;
	*p = s;
	return 0;
}

static bool keyword_at(const char **p, const char *kw)
{
	size_t n = strlen(kw);
	if (strncasecmp(*p, kw, n) != 0)
		return false;
	*p += n;
	return true;
}

/* A header field name: printable ASCII without ':' (RFC 5322 ftext). */
static bool field_char(unsigned char c)
{
	return c > 32 && c < 127 && c != ':';
}

static void add_field(struct imap_section *sec, const char *name, size_t len)
{
	sec->fields = xrealloc(sec->fields, (sec->n_fields + 1) * sizeof(*sec->fields));
	sec->fields[sec->n_fields++] = xstrndup(name, len);
}

/*
 * One header-fld-name (astring): an atom, or a quoted string whose
 * content is a field name. Atoms stop at ' ', ')' and atom-specials.
 */
static int parse_field_name(const char **p, struct imap_section *sec)
{
	const char *s = *p;
	char name[IMAP_SECTION_MAX_FIELD_LEN + 1];
	size_t len = 0;
	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
				s++;
			if (!field_char((unsigned char)*s) || len == IMAP_SECTION_MAX_FIELD_LEN)
				return -1;
			name[len++] = *s;
		}
		s++;
	} else {
		while (*s != '\0' && strchr(" ()]{%*\"\\", *s) == NULL) {
			if (!field_char((unsigned char)*s) || len == IMAP_SECTION_MAX_FIELD_LEN)
				return -1;
			name[len++] = *s++;
		}
	}
	if (len == 0 || sec->n_fields == IMAP_SECTION_MAX_FIELDS)
		return -1;
	add_field(sec, name, len);
	*p = s;
	return 0;
}

/* SP "(" header-fld-name *(SP header-fld-name) ")" */
static int parse_header_list(const char **p, struct imap_section *sec)
{
	const char *s = *p;
	if (*s++ != ' ' || *s++ != '(')
		return -1;
	for (;;) {
		if (parse_field_name(&s, sec) < 0)
			return -1;
		if (*s == ')')
			break;
		if (*s++ != ' ')
			return -1;
	}
	*p = s + 1;
	return 0;
}

/* section-msgtext, or "MIME" when after a part number. */
static int parse_section_text(const char **p, struct imap_section *sec, bool mime_ok)
{
	if (keyword_at(p, "HEADER.FIELDS.NOT")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		return parse_header_list(p, sec);
	}
	if (keyword_at(p, "HEADER.FIELDS")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS;
		return parse_header_list(p, sec);
	}
	if (keyword_at(p, "HEADER"))
		sec->text = IMAP_SECTION_HEADER;
	else if (keyword_at(p, "TEXT"))
		sec->text = IMAP_SECTION_TEXT;
	else if (mime_ok && keyword_at(p, "MIME"))
		sec->text = IMAP_SECTION_MIME;
	else
		return -1;
	return 0;
}

/* What is inside the brackets, up to the ']'. */
static int parse_section_spec(const char **p, struct imap_section *sec)
{
	const char *s = *p;
	while (isdigit((unsigned char)*s)) {
		uint64_t n;
		if (sec->depth == IMAP_SECTION_MAX_DEPTH ||
		    parse_number(&s, false, UINT32_MAX, &n) < 0)
			return -1;
		sec->path[sec->depth++] = (unsigned)n;
		if (*s != '.')
			break;
		s++;
		if (!isdigit((unsigned char)*s)) {
			/* "1.HEADER": a text specifier follows the numbers */
			if (sec->binary || parse_section_text(&s, sec, true) < 0)
				return -1;
			break;
		}
	}
	if (sec->depth == 0 && *s != ']') {
		if (sec->binary || parse_section_text(&s, sec, false) < 0)
			return -1;
	}
	*p = s;
	return 0;
}

int imap_section_parse(const char *spec, bool binary, bool allow_partial, struct imap_section *sec,
		       const char **error_r)
{
	memset(sec, 0, sizeof(*sec));
	sec->binary = binary;
	const char *p = spec;
	*error_r = "Invalid section";
	if (*p++ != '[' || parse_section_spec(&p, sec) < 0 || *p++ != ']')
		return -1;
	if (*p == '<') {
		*error_r = "Invalid partial";
		if (!allow_partial)
			return -1;
		p++;
		if (parse_number(&p, true, INT64_MAX, &sec->offset) < 0 || *p++ != '.' ||
		    parse_number(&p, false, INT64_MAX, &sec->length) < 0 || *p++ != '>')
			return -1;
		sec->partial = true;
	}
	if (*p != '\0') {
		*error_r = "Junk after section";
		return -1;
	}
	return 0;
}

void imap_section_free(struct imap_section *sec)
{
	for (size_t i = 0; i < sec->n_fields; i++)
		free(sec->fields[i]);
	free(sec->fields);
	sec->fields = NULL;
	sec->n_fields = 0;
}

static void write_field_name(struct buf *out, const char *name)
{
	bool atom = *name != '\0';
	for (const char *c = name; *c != '\0'; c++)
		atom &= strchr("()]{%*\"\\", *c) == NULL;
	if (atom) {
		buf_append_str(out, name);
		return;
	}
	buf_append(out, "\"", 1);
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, c, 1);
	}
	buf_append(out, "\"", 1);
}

void imap_section_write(const struct imap_section *sec, bool with_origin, struct buf *out)
{
	static const char *const names[] = {
		[IMAP_SECTION_ALL] = "",
		[IMAP_SECTION_HEADER] = "HEADER",
		[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAP_SECTION_TEXT] = "TEXT",
		[IMAP_SECTION_MIME] = "MIME",
	};
	buf_append(out, "[", 1);
	for (size_t i = 0; i < sec->depth; i++)
		buf_printf(out, "%s%u", i > 0 ? "." : "", sec->path[i]);
	if (sec->depth > 0 && sec->text != IMAP_SECTION_ALL)
		buf_append(out, ".", 1);
	buf_append_str(out, names[sec->text]);
	if (sec->n_fields > 0) {
		buf_append_str(out, " (");
		for (size_t i = 0; i < sec->n_fields; i++) {
			if (i > 0)
				buf_append(out, " ", 1);
			write_field_name(out, sec->fields[i]);
		}
		buf_append(out, ")", 1);
	}
	buf_append(out, "]", 1);
	if (sec->partial && with_origin)
		buf_printf(out, "<%llu>", (unsigned long long)sec->offset);
}

/* --- decoding (RFC 2045 6.7, 6.8) --------------------------------------------- */

enum { QP_NORMAL, QP_EQ, QP_EQ_HEX, QP_EQ_CR, QP_EQ_WS };

void imap_decoder_init(struct imap_decoder *d, enum imap_section_enc enc)
{
	memset(d, 0, sizeof(*d));
	d->enc = enc;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Padding or the end: emit the bytes that a partial quantum holds. */
static size_t b64_flush(struct imap_decoder *d, char *out)
{
	size_t o = 0;
	if (d->n == 2) {
		out[o++] = (char)(d->acc >> 4);
	} else if (d->n == 3) {
		out[o++] = (char)(d->acc >> 10);
		out[o++] = (char)(d->acc >> 2);
	}
	d->n = 0;
	d->acc = 0;
	return o;
}

/* Characters outside the alphabet are ignored, as RFC 2045 asks. */
static size_t b64_run(struct imap_decoder *d, const char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '=') {
			o += b64_flush(d, out + o);
			continue;
		}
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			continue;
		d->acc = (d->acc << 6) | (uint32_t)v;
		if (++d->n == 4) {
			out[o++] = (char)(d->acc >> 16);
			out[o++] = (char)(d->acc >> 8);
			out[o++] = (char)d->acc;
			d->n = 0;
			d->acc = 0;
		}
	}
	return o;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)toupper(c);
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t qp_flush_ws(struct imap_decoder *d, char *out)
{
	size_t n = d->n_ws;
	memcpy(out, d->ws, n);
	d->n_ws = 0;
	return n;
}

/* One character in QP_NORMAL. White space is held until we know it is
 * not trailing (trailing white space is transport padding: dropped). */
static size_t qp_normal(struct imap_decoder *d, unsigned char c, char *out)
{
	size_t o = 0;
	if (c == '=') {
		d->state = QP_EQ;
	} else if (c == ' ' || c == '\t') {
		if (d->n_ws == sizeof(d->ws))
			o += qp_flush_ws(d, out);
		d->ws[d->n_ws++] = (char)c;
	} else if (c == '\r' || c == '\n') {
		d->n_ws = 0;
		out[o++] = (char)c;
	} else {
		o += qp_flush_ws(d, out);
		out[o++] = (char)c;
	}
	return o;
}

static size_t qp_char(struct imap_decoder *d, unsigned char c, char *out)
{
	size_t o = 0;
	int h;
	switch (d->state) {
	case QP_EQ:
		o += qp_flush_ws(d, out);
		if ((h = hex_value(c)) >= 0) {
			d->hex = (unsigned)h;
			d->state = QP_EQ_HEX;
		} else if (c == '\r') {
			d->state = QP_EQ_CR;
		} else if (c == '\n') {
			d->state = QP_NORMAL; /* soft line break */
		} else if (c == ' ' || c == '\t') {
			d->state = QP_EQ_WS;
		} else {
			out[o++] = '='; /* not an escape: keep it as it is */
			d->state = QP_NORMAL;
			o += qp_normal(d, c, out + o);
		}
		return o;
	case QP_EQ_HEX:
		d->state = QP_NORMAL;
		if ((h = hex_value(c)) >= 0) {
			out[o++] = (char)(d->hex << 4 | (unsigned)h);
			return o;
		}
		out[o++] = '=';
		out[o++] = "0123456789ABCDEF"[d->hex];
		return o + qp_normal(d, c, out + o);
	case QP_EQ_CR:
		d->state = QP_NORMAL;
		return c == '\n' ? 0 : qp_normal(d, c, out);
	case QP_EQ_WS:
		if (c == ' ' || c == '\t')
			return 0;
		if (c == '\r') {
			d->state = QP_EQ_CR;
			return 0;
		}
		d->state = QP_NORMAL;
		return c == '\n' ? 0 : qp_normal(d, c, out);
	default:
		return qp_normal(d, c, out);
	}
}

size_t imap_decoder_run(struct imap_decoder *d, const char *in, size_t len, char *out)
{
	if (d->enc == IMAP_SECTION_ENC_BASE64)
		return b64_run(d, in, len, out);
	if (d->enc == IMAP_SECTION_ENC_IDENTITY) {
		memcpy(out, in, len);
		return len;
	}
	size_t o = 0;
	for (size_t i = 0; i < len; i++)
		o += qp_char(d, (unsigned char)in[i], out + o);
	return o;
}

size_t imap_decoder_finish(struct imap_decoder *d, char *out)
{
	size_t o = 0;
	if (d->enc == IMAP_SECTION_ENC_BASE64)
		return b64_flush(d, out);
	if (d->enc != IMAP_SECTION_ENC_QP)
		return 0;
	if (d->state == QP_EQ) {
		out[o++] = '=';
	} else if (d->state == QP_EQ_HEX) {
		out[o++] = '=';
		out[o++] = "0123456789ABCDEF"[d->hex];
	}
	d->state = QP_NORMAL;
	d->n_ws = 0; /* trailing white space at the very end */
	return o;
}

/* --- selecting the data ------------------------------------------------------- */

#define DECODE_CHUNK 4096
#define DECODE_OUT (2 * DECODE_CHUNK + 70)

static void add_seg(struct imap_section_body *b, const char *ptr, size_t len)
{
	if (len == 0)
		return;
	if (b->n_segs == b->cap_segs) {
		b->cap_segs = b->cap_segs == 0 ? 4 : b->cap_segs * 2;
		b->segs = xrealloc(b->segs, b->cap_segs * sizeof(*b->segs));
	}
	b->segs[b->n_segs++] = (struct imap_section_seg){ptr, len};
	b->full_size += len;
}

static bool field_listed(const struct imap_section *sec, const struct mime_field *f)
{
	for (size_t i = 0; i < sec->n_fields; i++) {
		if (strlen(sec->fields[i]) == f->name_len &&
		    strncasecmp(sec->fields[i], f->name, f->name_len) == 0)
			return true;
	}
	return false;
}

/*
 * HEADER.FIELDS [.NOT]: the chosen fields of the header [start, end) as
 * they appear (folded lines and line ends included), then a blank line.
 */
static void select_fields(struct imap_section_body *b, const struct imap_section *sec,
			  const char *data, size_t start, size_t end)
{
	struct mime_headers h;
	mime_headers_parse(data + start, end - start, &h);
	bool want = sec->text == IMAP_SECTION_HEADER_FIELDS;
	for (size_t i = 0; i < h.count; i++) {
		const struct mime_field *f = &h.fields[i];
		if (field_listed(sec, f) != want)
			continue;
		const char *fend = f->value + f->value_len;
		const char *limit = data + end;
		if (fend < limit && *fend == '\r')
			fend++;
		if (fend < limit && *fend == '\n')
			fend++;
		add_seg(b, f->name, (size_t)(fend - f->name));
	}
	mime_headers_free(&h);
	add_seg(b, "\r\n", 2);
}

static int encoding_of(const struct mime_part_loc *loc, enum imap_section_enc *enc_r)
{
	*enc_r = IMAP_SECTION_ENC_IDENTITY;
	if (loc->kind != MIME_PART_LEAF)
		return 0; /* a multipart or message is never encoded (RFC 2045 6.4) */
	if (strcmp(loc->encoding, "base64") == 0)
		*enc_r = IMAP_SECTION_ENC_BASE64;
	else if (strcmp(loc->encoding, "quoted-printable") == 0)
		*enc_r = IMAP_SECTION_ENC_QP;
	else if (strcmp(loc->encoding, "7bit") != 0 && strcmp(loc->encoding, "8bit") != 0 &&
		 strcmp(loc->encoding, "binary") != 0)
		return -1;
	return 0;
}

/* A first pass over the encoded data: decoded size and NULs. */
static void measure_decoded(struct imap_section_body *b)
{
	struct imap_decoder d = b->dec;
	char *tmp = xmalloc(DECODE_OUT);
	for (size_t pos = 0; pos < b->src_len; pos += DECODE_CHUNK) {
		size_t n = b->src_len - pos < DECODE_CHUNK ? b->src_len - pos : DECODE_CHUNK;
		size_t o = imap_decoder_run(&d, b->src + pos, n, tmp);
		b->full_size += o;
		b->has_nul |= memchr(tmp, '\0', o) != NULL;
	}
	size_t o = imap_decoder_finish(&d, tmp);
	b->full_size += o;
	b->has_nul |= memchr(tmp, '\0', o) != NULL;
	free(tmp);
}

/* BINARY: the part's content (body) without its transfer encoding. */
static int select_binary(struct imap_section_body *b, const struct imap_section *sec,
			 const char *data, const struct mime_part_loc *loc)
{
	enum imap_section_enc enc = IMAP_SECTION_ENC_IDENTITY;
	if (sec->depth > 0 && encoding_of(loc, &enc) < 0)
		return -1;
	size_t start = sec->depth > 0 ? loc->body_start : 0;
	b->binary = true;
	if (enc == IMAP_SECTION_ENC_IDENTITY) {
		add_seg(b, data + start, loc->end - start);
		b->has_nul = memchr(data + start, '\0', loc->end - start) != NULL;
		return 0;
	}
	b->src = data + start;
	b->src_len = loc->end - start;
	imap_decoder_init(&b->dec, enc);
	measure_decoded(b);
	b->pending = xmalloc(DECODE_OUT);
	return 0;
}

/* The ranges of a BODY section, on a located part. */
static void select_ranges(struct imap_section_body *b, const struct imap_section *sec,
			  const char *data, const struct mime_part_loc *loc)
{
	bool msg = loc->kind == MIME_PART_MESSAGE;
	switch (sec->text) {
	case IMAP_SECTION_ALL:
		add_seg(b, data + loc->body_start, loc->end - loc->body_start);
		break;
	case IMAP_SECTION_MIME:
		add_seg(b, data + loc->header_start, loc->body_start - loc->header_start);
		break;
	case IMAP_SECTION_HEADER:
		if (!msg)
			b->nil = true;
		else
			add_seg(b, data + loc->body_start, loc->msg_body - loc->body_start);
		break;
	case IMAP_SECTION_TEXT:
		if (!msg)
			b->nil = true;
		else
			add_seg(b, data + loc->msg_body, loc->end - loc->msg_body);
		break;
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		if (!msg)
			b->nil = true;
		else
			select_fields(b, sec, data, loc->body_start, loc->msg_body);
		break;
	}
}

/* Move the range cursor forward by n bytes (the partial's offset). */
static void segs_skip(struct imap_section_body *b, uint64_t n)
{
	while (n > 0 && b->seg_idx < b->n_segs) {
		size_t left = b->segs[b->seg_idx].len - b->seg_off;
		if (n < left) {
			b->seg_off += (size_t)n;
			return;
		}
		n -= left;
		b->seg_idx++;
		b->seg_off = 0;
	}
}

int imap_section_body_init(struct imap_section_body *b, const struct imap_section *sec,
			   const char *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	if (data == NULL)
		data = "";
	struct mime_part_loc loc;
	if (mime_part_locate(data, len, sec->path, sec->depth, &loc) == 0) {
		b->nil = true;
		return 0;
	}
	if (sec->binary) {
		if (select_binary(b, sec, data, &loc) < 0)
			return -1;
	} else {
		select_ranges(b, sec, data, &loc);
	}
	if (b->nil)
		return 0;
	uint64_t start = 0;
	b->size = b->full_size;
	if (sec->partial) {
		start = sec->offset < b->full_size ? sec->offset : b->full_size;
		b->size = b->full_size - start;
		if (b->size > sec->length)
			b->size = sec->length;
	}
	if (b->src != NULL)
		b->skip = start; /* decoded bytes are skipped while streaming */
	else
		segs_skip(b, start);
	return 0;
}

/* Ranges: copy from the cursor. */
static size_t read_segs(struct imap_section_body *b, struct buf *out, size_t max)
{
	size_t done = 0;
	while (done < max && b->seg_idx < b->n_segs) {
		const struct imap_section_seg *sg = &b->segs[b->seg_idx];
		size_t n = sg->len - b->seg_off;
		if (n > max - done)
			n = max - done;
		buf_append(out, sg->ptr + b->seg_off, n);
		done += n;
		b->seg_off += n;
		if (b->seg_off == sg->len) {
			b->seg_idx++;
			b->seg_off = 0;
		}
	}
	return done;
}

/* Decode the next chunk of input into pending; false at the end. */
static bool decode_more(struct imap_section_body *b)
{
	if (b->src_pos > b->src_len)
		return false;
	size_t n = b->src_len - b->src_pos;
	if (n > DECODE_CHUNK)
		n = DECODE_CHUNK;
	b->pend_off = 0;
	if (n == 0) {
		b->pend_len = imap_decoder_finish(&b->dec, b->pending);
		b->src_pos = b->src_len + 1; /* finished */
	} else {
		b->pend_len = imap_decoder_run(&b->dec, b->src + b->src_pos, n, b->pending);
		b->src_pos += n;
	}
	return true;
}

/* Decoded data: skip up to the window, then copy from pending. */
static size_t read_decoded(struct imap_section_body *b, struct buf *out, size_t max)
{
	size_t done = 0;
	while (done < max) {
		if (b->pend_off == b->pend_len && !decode_more(b))
			break;
		size_t n = b->pend_len - b->pend_off;
		if (b->skip > 0) {
			size_t k = b->skip < n ? (size_t)b->skip : n;
			b->skip -= k;
			b->pend_off += k;
			continue;
		}
		if (n > max - done)
			n = max - done;
		buf_append(out, b->pending + b->pend_off, n);
		b->pend_off += n;
		done += n;
	}
	return done;
}

bool imap_section_body_read(struct imap_section_body *b, struct buf *out, size_t max)
{
	uint64_t left = b->size - b->sent;
	if (max > left)
		max = (size_t)left;
	size_t before = out->len;
	size_t n = b->src != NULL ? read_decoded(b, out, max) : read_segs(b, out, max);
	if (!b->binary && n > 0) {
		/* A literal may not hold NUL (RFC 9051 4.3): send 0x80 instead. */
		char *p = out->data + before, *end = p + n;
		while ((p = memchr(p, '\0', (size_t)(end - p))) != NULL)
			*p++ = (char)0x80;
	}
	b->sent += n;
	if (n < max) {
		/* The data ended early (cannot happen: sizes were measured); pad to keep the literal's length. */
		size_t pad = max - n;
		buf_reserve(out, pad);
		memset(out->data + out->len, ' ', pad);
		out->len += pad;
		b->sent += pad;
	}
	return b->sent >= b->size;
}

void imap_section_body_free(struct imap_section_body *b)
{
	free(b->segs);
	free(b->pending);
	memset(b, 0, sizeof(*b));
}
