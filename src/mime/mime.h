/* SPDX-License-Identifier: MIT */
/*
 * MIME parsing at delivery, through GMime 3. A message is parsed once when
 * it arrives; what IMAP FETCH, SEARCH and the webmail need later is
 * computed here and stored with the blob: the IMAP ENVELOPE and
 * BODYSTRUCTURE in wire syntax, and decoded header fields. Pure: no I/O.
 * Malformed input never fails the parse: it yields what can be read
 * (a message with no headers still gets a valid ENVELOPE of NILs and a
 * text/plain BODYSTRUCTURE).
 */
#ifndef FACTEUR_MIME_H
#define FACTEUR_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;

/*
 * The searchable text of a message (mime-text.c), case-folded UTF-8
 * without NULs, each NUL-terminated: what IMAP SEARCH TEXT/BODY and JMAP
 * text filters match and what the full-text index holds.
 */
struct mime_text {
	char *hdr;   /* top-level fields: "name: decoded value\n" per field */
	char *body;  /* text and message parts, decoded (BODY) */
	char *parts; /* header fields of sub-parts and inner messages */
	size_t hdr_len, body_len, parts_len;
	/*
	 * Not folded: the preview (IMAP PREVIEW, RFC 8970) of the first
	 * text/plain or text/html part that is not an attachment, HTML
	 * stripped, white space collapsed, at most MIME_PREVIEW_MAX
	 * characters of UTF-8; "" when there is no such part.
	 */
	char *preview;
};
#define MIME_PREVIEW_MAX 256
/* Body text beyond this is not searched (per message). */
#define MIME_TEXT_MAX (64u * 1024 * 1024)

struct mime_parsed {
	char *envelope;      /* "(date subject (from) (sender) ... message-id)" */
	char *bodystructure; /* with extension data */
	char *body;          /* BODY (no extension data) */
	char *subject;       /* decoded to UTF-8, or NULL */
	char *from;          /* decoded display form, or NULL */
	char *to;
	char *cc;
	char *message_id;
	time_t date;           /* from Date:, 0 when absent or invalid */
	unsigned n_parts;      /* leaf parts, for sanity checks */
	struct mime_text text; /* for the full-text index */
};

/* Once per process, before any thread parses (GMime global state). */
void mime_init(void);
void mime_deinit(void);

/* Parse data; fills *r (caller frees with mime_parsed_free). 0 or -1. */
int mime_parse(const char *data, size_t len, struct mime_parsed *r);
void mime_parsed_free(struct mime_parsed *r);

/* The searchable text of data (never fails; free with mime_text_free). */
void mime_text_extract(const char *data, size_t len, struct mime_text *r);
void mime_text_free(struct mime_text *r);
/*
 * Fold UTF-8 for case-insensitive matching (ASCII and Unicode simple
 * lower-case) into out; invalid bytes become U+FFFD, NULs are dropped.
 */
void mime_text_fold(const char *s, size_t len, struct buf *out);
/* Code points in valid UTF-8 s[0..len). */
size_t mime_text_chars(const char *s, size_t len);
/* HTML to text: tags, style and script dropped, a few entities decoded (malloc'd). */
char *mime_text_html_strip(const char *html);
/*
 * text (valid UTF-8) with white space runs made one space, leading ones
 * dropped, cut at max_chars characters (malloc'd).
 */
char *mime_text_preview(const char *text, size_t max_chars);
/* RFC 2047 words decoded, 8-bit text made UTF-8, then folded into out. */
void mime_text_fold_header_value(const char *raw, struct buf *out);
/* End of the top header block of d: the offset after its blank line (or len). */
size_t mime_text_header_len(const char *d, size_t len);
/*
 * Call cb for each field of a header block d[0..len): its name and its
 * unfolded raw value (NULs dropped); a callback returning true stops the
 * walk, and then so does this function (returns true).
 */
typedef bool mime_text_header_cb(void *ctx, const char *name, size_t nlen, const char *value);
bool mime_text_each_header(const char *d, size_t len, mime_text_header_cb *cb, void *ctx);

/*
 * RFC 5321/5322 address check used by SMTP for MAIL FROM / RCPT TO
 * paths: local@domain with a dot-atom or quoted-string local part (UTF-8
 * allowed when utf8 is non-zero) and a domain of LDH labels or an address
 * literal. Returns 1 valid, 0 invalid.
 */
int mime_address_valid(const char *addr, int utf8);

/*
 * The author addresses of a message: every mailbox of its From: and
 * Sender: fields (group members included), read from the header block of
 * msg[0..len). *addrs_r is a malloc'd array of n malloc'd strings (free
 * with mime_addresses_free). Returns 1 when there is a From: field, 0
 * when there is none (Sender: may still have given addresses), -1 with a
 * static reason in *error_r (two From: or Sender: fields, a field without
 * a valid address).
 */
int mime_author_addresses(const char *msg, size_t len, char ***addrs_r, size_t *n_r,
			  const char **error_r);
void mime_addresses_free(char ***addrs, size_t n);

/*
 * RFC 5957 display form of the first address of a decoded address list
 * (struct mime_parsed's from/to: "Name <a@b>, ..."): its display name when
 * it has a non-empty one, else its addr-spec; the first member of a group
 * counts as the first address. malloc'd; "" when there is no address
 * (list NULL included).
 */
char *mime_address_display(const char *list);

/* ---- Added for IMAP FETCH BODY[section] (imap/imap-fetch-section.c) ---- */
/*
 * Locating a part on the raw bytes with the same walk that produced the
 * BODYSTRUCTURE, so that part numbers, sizes and boundaries agree.
 */
enum mime_part_kind {
	MIME_PART_LEAF,
	MIME_PART_MULTIPART,
	MIME_PART_MESSAGE, /* message/rfc822 or message/global */
};

struct mime_part_loc {
	size_t header_start; /* the part's MIME header: [header_start, body_start) */
	size_t body_start;   /* the part's body: [body_start, end) */
	size_t end;
	/* MESSAGE: the encapsulated message's header is [body_start, msg_body). */
	size_t msg_body;
	enum mime_part_kind kind;
	char encoding[32]; /* Content-Transfer-Encoding, lower-case ("7bit" default) */
};

/*
 * Find part path[0].path[1]... (IMAP section numbering, RFC 9051 6.4.5)
 * of the message data[0..len). depth 0 means the message itself (kind
 * MESSAGE, header_start = body_start = 0). Returns 1 found, 0 no such part.
 */
int mime_part_locate(const char *data, size_t len, const unsigned *path, size_t depth,
		     struct mime_part_loc *r);
/* ---- end of FETCH block ---- */

#endif
