/* SPDX-License-Identifier: MIT */
/*
 * The body test's content (RFC 5173): the leaf parts of a message whose
 * Content-Type matches a list, each decoded from its transfer encoding
 * and, for text, converted to UTF-8 through GMime's filters; with
 * SIEVE_BODY_STRIP, HTML becomes text (the :text transform). Bounded: at
 * most SIEVE_BODY_PARTS parts and SIEVE_BODY_MAX bytes in all; NULs are
 * dropped so that the values are C strings.
 */
#include "sieve/sieve-private.h"

#include "lib/util.h"
#include "mime/mime.h"

#include <gmime/gmime.h>
#include <string.h>
#include <strings.h>

#define SIEVE_BODY_PARTS 256
#define SIEVE_BODY_MAX (4u * 1024 * 1024)

/* "" matches every type, "text" every text/x, "text/plain" itself. */
static bool type_matches(GMimeContentType *ct, char *const *types, size_t n)
{
	const char *t = g_mime_content_type_get_media_type(ct);
	const char *sub = g_mime_content_type_get_media_subtype(ct);
	for (size_t i = 0; i < n; i++) {
		const char *slash = strchr(types[i], '/');
		if (types[i][0] == '\0')
			return true;
		if (slash == NULL && t != NULL && strcasecmp(types[i], t) == 0)
			return true;
		if (slash != NULL && t != NULL && sub != NULL &&
		    strlen(t) == (size_t)(slash - types[i]) &&
		    strncasecmp(types[i], t, strlen(t)) == 0 && strcasecmp(slash + 1, sub) == 0)
			return true;
	}
	return false;
}

/* The decoded content of part, malloc'd without NULs (NULL if none). */
static char *part_text(GMimePart *part, bool text, size_t room)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (w == NULL)
		return NULL;
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeStream *filtered = g_mime_stream_filter_new(mem);
	const char *charset =
		g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	if (text && charset != NULL && strcasecmp(charset, "utf-8") != 0 &&
	    strcasecmp(charset, "us-ascii") != 0) {
		GMimeFilter *f = g_mime_filter_charset_new(charset, "utf-8");
		if (f != NULL) {
			g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), f);
			g_object_unref(f);
		}
	}
	g_mime_data_wrapper_write_to_stream(w, filtered);
	g_mime_stream_flush(filtered);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	size_t n = ba->len < room ? ba->len : room;
	char *out = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (ba->data[i] != '\0')
			out[k++] = (char)ba->data[i];
	}
	out[k] = '\0';
	g_object_unref(filtered);
	g_object_unref(mem);
	return out;
}

void sieve_body_parts(const char *data, size_t len, char *const *types, size_t ntypes, unsigned how,
		      char ***v, size_t *n)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL)
		return;
	GMimePartIter *iter = g_mime_part_iter_new(GMIME_OBJECT(msg));
	size_t total = 0, parts = 0;
	do {
		GMimeObject *cur = g_mime_part_iter_get_current(iter);
		if (cur == NULL || !GMIME_IS_PART(cur))
			continue;
		GMimeContentType *ct = g_mime_object_get_content_type(cur);
		if (ct == NULL || !type_matches(ct, types, ntypes))
			continue;
		bool text = g_mime_content_type_is_type(ct, "text", "*");
		char *s = part_text(GMIME_PART(cur), text, SIEVE_BODY_MAX - total);
		if (s == NULL)
			continue;
		if ((how & SIEVE_BODY_STRIP) && g_mime_content_type_is_type(ct, "text", "html")) {
			char *plain = mime_text_html_strip(s);
			free(s);
			s = plain;
		}
		total += strlen(s);
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = s;
	} while (++parts < SIEVE_BODY_PARTS && total < SIEVE_BODY_MAX &&
		 g_mime_part_iter_next(iter));
	g_mime_part_iter_free(iter);
	g_object_unref(msg);
}
