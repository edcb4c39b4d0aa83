/* SPDX-License-Identifier: MIT */
/*
 * The bridge from a parse (mime.h) to what the store keeps with a blob
 * (store.h), for the callers above both layers that deliver or append a
 * message (SMTP, IMAP APPEND, queue DSNs). A header only, so that neither
 * mime/ nor store/ depends on the other.
 */
#ifndef FACTEUR_MIME_MIME_STORE_H
#define FACTEUR_MIME_MIME_STORE_H

#include "mime/mime.h"
#include "store/store.h"

/* A view of mp's strings: valid until mime_parsed_free(mp). */
static inline struct store_parsed mime_store_parsed(const struct mime_parsed *mp)
{
	return (struct store_parsed){
		.envelope = mp->envelope,
		.bodystructure = mp->bodystructure,
		.body = mp->body,
		.subject = mp->subject,
		.from = mp->from,
		.to = mp->to,
		.cc = mp->cc,
		.message_id = mp->message_id,
		.date = mp->date,
		.text_hdr = mp->text.hdr,
		.text_body = mp->text.body,
		.text_parts = mp->text.parts,
		.preview = mp->text.preview,
	};
}

#endif
