/* SPDX-License-Identifier: MIT */
/*
 * FETCH body sections (RFC 9051 6.4.5, RFC 3516): parsing the section
 * spec of BODY[...]<o.n>, BINARY[...]<o.n> and BINARY.SIZE[...], writing
 * it back as the response names it, and extracting what it selects from
 * the raw message bytes: byte ranges of the blob (header, text, MIME
 * header, one part, chosen header fields) or, for BINARY, the part's
 * content with its transfer encoding removed. Extraction streams: the
 * selected bytes are appended in pieces of a caller-chosen size, so a
 * 50 MB part never sits in memory. Used by cmd-fetch.c and its fuzzer.
 */
#ifndef FACTEUR_IMAP_FETCH_SECTION_H
#define FACTEUR_IMAP_FETCH_SECTION_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_SECTION_MAX_DEPTH 32   /* numbers in "1.2.3" */
#define IMAP_SECTION_MAX_FIELDS 256 /* names in HEADER.FIELDS (...) */
#define IMAP_SECTION_MAX_FIELD_LEN 256

enum imap_section_text {
	IMAP_SECTION_ALL, /* BODY[] or BODY[1.2]: the whole message / part */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

struct imap_section {
	bool binary; /* BINARY / BINARY.PEEK / BINARY.SIZE: decode the CTE */
	unsigned path[IMAP_SECTION_MAX_DEPTH];
	size_t depth;
	enum imap_section_text text;
	char **fields; /* HEADER.FIELDS[.NOT] names, as the client sent them */
	size_t n_fields;
	bool partial; /* <offset.length> */
	uint64_t offset;
	uint64_t length;
};

/*
 * Parse spec, the text that follows BODY, BODY.PEEK, BINARY, BINARY.PEEK
 * or BINARY.SIZE in a fetch attribute: "[" section "]" then, when
 * allow_partial, an optional "<offset.length>" (length non-zero). With
 * binary only a part number list is allowed in the brackets. Returns 0,
 * or -1 with *error_r (a static message for a BAD reply); free with
 * imap_section_free either way.
 */
int imap_section_parse(const char *spec, bool binary, bool allow_partial,
		       struct imap_section *sec_r, const char **error_r);
void imap_section_free(struct imap_section *sec);

/*
 * "[1.HEADER.FIELDS (Subject From)]" as the response names the section;
 * "<offset>" follows when it was partial and with_origin (BODY, not BINARY).
 */
void imap_section_write(const struct imap_section *sec, bool with_origin, struct buf *out);

/* One piece of the selected data: bytes of the blob or a constant. */
struct imap_section_seg {
	const char *ptr;
	size_t len;
};

enum imap_section_enc {
	IMAP_SECTION_ENC_IDENTITY,
	IMAP_SECTION_ENC_BASE64,
	IMAP_SECTION_ENC_QP,
};

/* A resumable base64 / quoted-printable decoder. */
struct imap_decoder {
	enum imap_section_enc enc;
	uint32_t acc;
	unsigned n;
	int state;
	unsigned hex;
	size_t n_ws;
	char ws[64];
};

/* What a section selects from one message, ready to be streamed. */
struct imap_section_body {
	bool nil;           /* no such part: the response is NIL */
	bool binary;        /* literal8 when has_nul */
	bool has_nul;       /* the (decoded) data holds NUL bytes */
	uint64_t full_size; /* before <offset.length> (BINARY.SIZE) */
	uint64_t size;      /* bytes to send */
	uint64_t sent;
	/* Byte ranges (identity data). */
	struct imap_section_seg *segs;
	size_t n_segs;
	size_t cap_segs;
	size_t seg_idx;
	size_t seg_off;
	/* Decoded data: input [src, src + src_len) through dec. */
	const char *src;
	size_t src_len;
	size_t src_pos;
	uint64_t skip; /* decoded bytes before the window, still to drop */
	struct imap_decoder dec;
	char *pending; /* decoded bytes not yet sent: [pend_off, pend_len) */
	size_t pend_off;
	size_t pend_len;
};

/*
 * Select sec from the message data[0..len) (which must stay mapped while
 * b is used). Returns 0 (b->nil when the part does not exist or the
 * section does not apply to it), or -1 when BINARY meets a transfer
 * encoding it cannot decode (NO [UNKNOWN-CTE]). Free b with
 * imap_section_body_free either way.
 */
int imap_section_body_init(struct imap_section_body *b, const struct imap_section *sec,
			   const char *data, size_t len);
/*
 * Append up to max bytes of what remains to out (NUL bytes become 0x80
 * unless binary). Returns true once all b->size bytes were appended.
 */
bool imap_section_body_read(struct imap_section_body *b, struct buf *out, size_t max);
void imap_section_body_free(struct imap_section_body *b);

/* Decoder primitives, exposed for the tests. out must hold 2 * len + 70 bytes. */
void imap_decoder_init(struct imap_decoder *d, enum imap_section_enc enc);
size_t imap_decoder_run(struct imap_decoder *d, const char *in, size_t len, char *out);
/* The end of input: flush what is held. out holds at least 70 bytes. */
size_t imap_decoder_finish(struct imap_decoder *d, char *out);

#endif
