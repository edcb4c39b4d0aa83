/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the mime/ files: the raw header block of one part
 * (located by byte offsets in the original message, so sizes reported to
 * IMAP are exact), IMAP string writers, and the RFC 5322 address-list
 * walker that produces ENVELOPE address structures.
 */
#ifndef FACTEUR_MIME_PRIVATE_H
#define FACTEUR_MIME_PRIVATE_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* One header field: name and raw (still folded) value, as offsets. */
struct mime_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* The header block of one entity. */
struct mime_headers {
	struct mime_field *fields;
	size_t count;
	size_t cap;
};

/*
 * Parse the header block starting at data (len bytes available). Returns
 * the offset where the body starts (after the blank line when there is
 * one). Never fails: a line that is not a header field ends the block.
 */
size_t mime_headers_parse(const char *data, size_t len, struct mime_headers *h);
void mime_headers_free(struct mime_headers *h);
/*
 * The first field called name, unfolded, with NULs dropped, leading and
 * trailing white space trimmed, and converted to UTF-8 when it holds
 * invalid 8-bit bytes. malloc'd; NULL when absent.
 */
char *mime_headers_get(const struct mime_headers *h, const char *name);

/* IMAP string output: quoted, or a literal when CR/LF make quoting
 * impossible; NUL bytes are dropped. nstring writes NIL for NULL. */
void mime_imap_string(struct buf *out, const char *s);
void mime_imap_nstring(struct buf *out, const char *s);

/* Write the ENVELOPE of the entity whose headers are h. */
void mime_imap_envelope(struct buf *out, const struct mime_headers *h);

/*
 * Write an ENVELOPE address list for a raw header value (NULL: NIL).
 * Returns the number of addresses written (groups markers included).
 */
size_t mime_imap_address_list(struct buf *out, const char *value);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool mime_utf8_valid(const char *s, size_t len);

#endif
