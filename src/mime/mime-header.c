/* SPDX-License-Identifier: MIT */
/*
 * Raw header blocks. A part's fields are located by offset in the original
 * message rather than taken from GMime's re-serialised objects, so the
 * body offsets (and hence the sizes and line counts IMAP reports) are the
 * exact octets of the message as delivered. Values are unfolded on demand;
 * 8-bit values that are not UTF-8 are converted through GMime's fallback
 * charsets so everything handed on is valid UTF-8.
 */
#include "mime/mime-private.h"
#include "lib/util.h"

#include <gmime/gmime.h>
#include <string.h>
#include <strings.h>

static bool field_name_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

static void headers_add(struct mime_headers *h, const char *name, size_t name_len,
			const char *value, size_t value_len)
{
	if (h->count == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->fields = xrealloc(h->fields, h->cap * sizeof(*h->fields));
	}
	h->fields[h->count++] = (struct mime_field){name, name_len, value, value_len};
}

/*
 * Add the header line [p, line_end) (no CR/LF) as a field, or return
 * false when it is not one, which ends the header block.
 */
static bool header_line(struct mime_headers *h, const char *p, size_t line_len)
{
	const char *colon = memchr(p, ':', line_len);
	if (colon == NULL)
		return false;
	size_t name_len = (size_t)(colon - p);
	/* obs-field-name allows white space before the colon */
	while (name_len > 0 && (p[name_len - 1] == ' ' || p[name_len - 1] == '\t'))
		name_len--;
	if (!field_name_valid(p, name_len))
		return false;
	headers_add(h, p, name_len, colon + 1, line_len - (size_t)(colon + 1 - p));
	return true;
}

/* An mbox separator ("From sender date") in front of a message's header. */
static bool mbox_from_line(const char *p, size_t line_len)
{
	return line_len >= 5 && memcmp(p, "From ", 5) == 0;
}

/*
 * The header block runs to the blank line. A line that is neither a field
 * nor a continuation (an unindented folded line, an mbox "From " line) is
 * skipped, not taken as the start of the body: the fields after it are
 * kept, as Dovecot and GMime read such mail. Only when the very first line
 * is not a field (nor an mbox separator) has the part no header at all.
 */
size_t mime_headers_parse(const char *data, size_t len, struct mime_headers *h)
{
	size_t pos = 0;
	bool skipped = false; /* a line was skipped: past the first line */
	h->fields = NULL;
	h->count = h->cap = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t eol = nl ? (size_t)(nl - data) : len;
		size_t next = nl ? eol + 1 : len;
		size_t line_len = eol - pos;
		if (line_len > 0 && data[pos + line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			return next; /* the blank line separating the body */
		bool first = h->count == 0 && !skipped;
		if (data[pos] == ' ' || data[pos] == '\t') {
			if (first)
				return pos;
			/* continuation: extend the previous value (if any) */
			if (h->count > 0) {
				struct mime_field *f = &h->fields[h->count - 1];
				f->value_len = (size_t)(data + pos + line_len - f->value);
			}
		} else if (!header_line(h, data + pos, line_len)) {
			if (first && !mbox_from_line(data + pos, line_len))
				return pos;
			skipped = true;
		}
		pos = next;
	}
	return len;
}

void mime_headers_free(struct mime_headers *h)
{
	free(h->fields);
	h->fields = NULL;
	h->count = h->cap = 0;
}

/* Unfold and drop NULs: CR and LF go, the white space after them stays. */
static char *unfold(const char *v, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0')
			out[j++] = v[i];
	}
	size_t start = 0;
	while (start < j && (out[start] == ' ' || out[start] == '\t'))
		start++;
	while (j > start && (out[j - 1] == ' ' || out[j - 1] == '\t'))
		j--;
	memmove(out, out + start, j - start);
	out[j - start] = '\0';
	return out;
}

char *mime_headers_get(const struct mime_headers *h, const char *name)
{
	size_t name_len = strlen(name);
	for (size_t i = 0; i < h->count; i++) {
		const struct mime_field *f = &h->fields[i];
		if (f->name_len != name_len || strncasecmp(f->name, name, name_len) != 0)
			continue;
		char *v = unfold(f->value, f->value_len);
		size_t vlen = strlen(v);
		if (!mime_utf8_valid(v, vlen)) {
			char *u = g_mime_utils_decode_8bit(NULL, v, vlen);
			free(v);
			v = xstrdup(u != NULL ? u : "");
			g_free(u);
			vlen = strlen(v);
		}
		if (!mime_utf8_valid(v, vlen)) {
			/* the conversion should not leave any, but be sure */
			for (size_t j = 0; j < vlen; j++)
				if ((unsigned char)v[j] >= 0x80)
					v[j] = '?';
		}
		return v;
	}
	return NULL;
}
