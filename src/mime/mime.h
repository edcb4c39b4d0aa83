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

#include <stddef.h>
#include <time.h>

struct mime_parsed {
	char *envelope;      /* "(date subject (from) (sender) ... message-id)" */
	char *bodystructure; /* with extension data */
	char *body;          /* BODY (no extension data) */
	char *subject;       /* decoded to UTF-8, or NULL */
	char *from;          /* decoded display form, or NULL */
	char *to;
	char *cc;
	char *message_id;
	time_t date;         /* from Date:, 0 when absent or invalid */
	unsigned n_parts;    /* leaf parts, for sanity checks */
};

/* Once per process, before any thread parses (GMime global state). */
void mime_init(void);
void mime_deinit(void);

/* Parse data; fills *r (caller frees with mime_parsed_free). 0 or -1. */
int mime_parse(const char *data, size_t len, struct mime_parsed *r);
void mime_parsed_free(struct mime_parsed *r);

/*
 * RFC 5321/5322 address check used by SMTP for MAIL FROM / RCPT TO
 * paths: local@domain with a dot-atom or quoted-string local part (UTF-8
 * allowed when utf8 is non-zero) and a domain of LDH labels or an address
 * literal. Returns 1 valid, 0 invalid.
 */
int mime_address_valid(const char *addr, int utf8);

#endif
