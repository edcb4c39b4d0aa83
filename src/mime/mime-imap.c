/* SPDX-License-Identifier: MIT */
/*
 * IMAP wire syntax for what mime/ computes: strings (quoted, or literals
 * when CR/LF make quoting impossible) and the ENVELOPE structure of RFC
 * 3501 section 7.4.2 / RFC 9051 section 7.5.2. Envelope strings are the
 * unfolded header values as sent (encoded-words are left for the client to
 * decode, as the RFC intends); 8-bit UTF-8 is stored quoted, which
 * IMAP4rev2 and UTF8=ACCEPT allow; for IMAP4rev1 sessions imap/ turns such
 * strings into literals when it sends them (imap_write_syntax).
 */
#include "mime/mime-private.h"
#include "lib/util.h"

#include <string.h>

void mime_imap_string(struct buf *out, const char *s)
{
	size_t len = strlen(s); /* NULs cannot be present past this point */
	if (!mime_utf8_valid(s, len)) {
		/* e.g. an RFC 2231 value in a charset GMime could not convert */
		char *copy = xstrdup(s);
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)copy[i] >= 0x80)
				copy[i] = '?';
		mime_imap_string(out, copy);
		free(copy);
		return;
	}
	if (memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_reserve(out, len + 2);
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, &s[i], 1);
	}
	buf_append(out, "\"", 1);
}

void mime_imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		mime_imap_string(out, s);
}

/* Write the header field name as an nstring; NIL when absent. */
static void header_nstring(struct buf *out, const struct mime_headers *h, const char *name)
{
	char *v = mime_headers_get(h, name);
	mime_imap_nstring(out, v);
	free(v);
}

/*
 * Write the address list of field name. Returns false (and writes nothing)
 * when the field is absent or holds no address, so the caller can apply
 * the Sender/Reply-To default.
 */
static bool header_addresses(struct buf *out, const struct mime_headers *h, const char *name)
{
	char *v = mime_headers_get(h, name);
	if (v == NULL)
		return false;
	struct buf tmp;
	buf_init(&tmp);
	size_t n = mime_imap_address_list(&tmp, v);
	free(v);
	if (n > 0)
		buf_append(out, tmp.data, tmp.len);
	buf_deinit(&tmp);
	return n > 0;
}

void mime_imap_envelope(struct buf *out, const struct mime_headers *h)
{
	buf_append_str(out, "(");
	header_nstring(out, h, "Date");
	buf_append_str(out, " ");
	header_nstring(out, h, "Subject");
	buf_append_str(out, " ");

	struct buf from;
	buf_init(&from);
	if (!header_addresses(&from, h, "From"))
		buf_append_str(&from, "NIL");
	buf_append(out, from.data, from.len);

	/* RFC 3501: absent or empty Sender / Reply-To take From's value */
	static const char *const defaulted[] = {"Sender", "Reply-To"};
	for (size_t i = 0; i < 2; i++) {
		buf_append_str(out, " ");
		if (!header_addresses(out, h, defaulted[i]))
			buf_append(out, from.data, from.len);
	}
	buf_deinit(&from);

	static const char *const lists[] = {"To", "Cc", "Bcc"};
	for (size_t i = 0; i < 3; i++) {
		buf_append_str(out, " ");
		if (!header_addresses(out, h, lists[i]))
			buf_append_str(out, "NIL");
	}
	buf_append_str(out, " ");
	header_nstring(out, h, "In-Reply-To");
	buf_append_str(out, " ");
	header_nstring(out, h, "Message-ID");
	buf_append_str(out, ")");
}
