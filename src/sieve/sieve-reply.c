/* SPDX-License-Identifier: MIT */
/*
 * Messages Sieve sends: the vacation reply (RFC 5230 section 5, with the
 * RFC 3834 Auto-Submitted field that keeps other responders from replying
 * to it) and the header a redirect prepends, which marks the hop so that a
 * message coming back to the same user is not redirected again. Pure.
 */
#include "sieve/sieve-private.h"

#include "lib/buf.h"
#include "lib/util.h"
#include "mime/mime.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

char *sieve_redirect_header(const char *user)
{
	return xasprintf("%s: %s\r\n", SIEVE_REDIRECT_HEADER, user);
}

struct orig_fields {
	char *subject;
	char *message_id;
	char *references;
};

static bool orig_cb(void *ctx, const char *name, size_t nlen, const char *value)
{
	struct orig_fields *o = ctx;
	char **slot = nlen == 7 && strncasecmp(name, "subject", 7) == 0  ? &o->subject
		: nlen == 10 && strncasecmp(name, "message-id", 10) == 0 ? &o->message_id
		: nlen == 10 && strncasecmp(name, "references", 10) == 0 ? &o->references
									 : NULL;
	if (slot != NULL && *slot == NULL)
		*slot = sieve_header_decode(value);
	return false;
}

/* Header text without CR/LF (a subject from a script or a message). */
static void append_clean(struct buf *b, const char *s, size_t max)
{
	for (size_t i = 0; s[i] != '\0' && i < max; i++)
		buf_append(b, s[i] == '\r' || s[i] == '\n' ? " " : s + i, 1);
}

/* RFC 2047 encoded-words for a non-ASCII header value. */
static void append_encoded(struct buf *b, const char *s)
{
	bool ascii = true;
	for (const char *p = s; *p != '\0'; p++)
		ascii = ascii && (unsigned char)*p < 0x80;
	if (ascii) {
		append_clean(b, s, 900);
		return;
	}
	buf_append_str(b, "=?UTF-8?Q?");
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && n < 300; p++, n++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'))
			buf_append(b, p, 1);
		else
			buf_printf(b, "=%02X", *p);
	}
	buf_append_str(b, "?=");
}

char *sieve_vacation_reply(const struct sieve_action *a, const struct sieve_message *msg,
			   const char *msgid_domain, size_t *len_r)
{
	struct orig_fields o = {0};
	size_t hl = mime_text_header_len(msg->data, msg->len);
	mime_text_each_header(msg->data, hl, orig_cb, &o);
	struct buf b;
	buf_init(&b);
	char date[64];
	struct tm tm;
	time_t now = msg->now;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	char token[25];
	random_token(token, 24);
	buf_printf(&b, "Date: %s\r\nFrom: ", date);
	append_clean(&b, a->from != NULL ? a->from : msg->user != NULL ? msg->user : "", 300);
	buf_append_str(&b, "\r\nTo: <");
	append_clean(&b, a->address, 300);
	buf_append_str(&b, ">\r\nSubject: ");
	if (a->subject != NULL) {
		append_encoded(&b, a->subject);
	} else {
		buf_append_str(&b, "Auto: ");
		append_encoded(&b, o.subject != NULL ? o.subject : "");
	}
	buf_printf(&b, "\r\nMessage-ID: <%s@%s>\r\n", token, msgid_domain);
	if (o.message_id != NULL) {
		buf_append_str(&b, "In-Reply-To: ");
		append_clean(&b, o.message_id, 900);
		buf_append_str(&b, "\r\nReferences: ");
		if (o.references != NULL) {
			append_clean(&b, o.references, 900);
			buf_append_str(&b, " ");
		}
		append_clean(&b, o.message_id, 900);
		buf_append_str(&b, "\r\n");
	}
	buf_append_str(&b, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	if (a->mime) {
		/* The reason is a MIME entity: its own header fields, then its body. */
		buf_append_str(&b, a->text);
	} else {
		buf_append_str(&b,
			       "Content-Type: text/plain; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: 8bit\r\n\r\n");
		/* Lines end in CRLF whatever the script had. */
		for (const char *p = a->text; *p != '\0'; p++) {
			if (*p == '\n' && (p == a->text || p[-1] != '\r'))
				buf_append_str(&b, "\r");
			buf_append(&b, p, 1);
		}
	}
	if (b.len < 2 || b.data[b.len - 1] != '\n')
		buf_append_str(&b, "\r\n");
	free(o.subject);
	free(o.message_id);
	free(o.references);
	*len_r = b.len;
	char *out = xstrndup(b.data, b.len);
	buf_deinit(&b);
	return out;
}
