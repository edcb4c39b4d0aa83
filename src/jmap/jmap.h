/* SPDX-License-Identifier: MIT */
/*
 * JMAP (RFC 8620 core, RFC 8621 mail, RFC 8621 §8 vacation response) over
 * the store. The module is transport-free: http/ authenticates the
 * request, fills a struct jmap_request and calls one of these functions
 * with the request body; they answer with an HTTP status and a JSON body
 * (or, for downloads, an open blob to stream). Every call runs to
 * completion on the calling worker's store handle.
 */
#ifndef FACTEUR_JMAP_H
#define FACTEUR_JMAP_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct server_ctx;

/* Who is asking, on which worker, and how the client reaches us. */
struct jmap_request {
	struct server_ctx *ctx; /* config, this worker's store, mailauth */
	int64_t account_id;     /* the authenticated account */
	const char *username;   /* its address, e.g. "demo@example.test" */
	const char *base_url;   /* "https://host:port", no trailing '/' */
	const char *session_id; /* for log lines */
};

/* Largest request body jmap_api / jmap_upload accept (maxSizeRequest / maxSizeUpload). */
#define JMAP_MAX_REQUEST_SIZE (10u * 1024 * 1024)
#define JMAP_MAX_UPLOAD_SIZE (50u * 1024 * 1024)

/*
 * GET /.well-known/jmap (and /jmap/session): the session resource.
 * Appends JSON to out; returns the HTTP status (200).
 */
int jmap_session_resource(const struct jmap_request *r, struct buf *out);

/*
 * POST /jmap/api: body is the JSON request object. Appends the JSON
 * response (or an RFC 7807 problem document) to out and returns the HTTP
 * status: 200, or 400 with a problem (urn:ietf:params:jmap:error:notJSON,
 * notRequest, unknownCapability, limit). *content_type_r is set to
 * "application/json" or "application/problem+json". JMAP_API_AGAIN (0):
 * nothing answered yet, a slice of preparatory work is done (threading
 * new messages, JMAP_THREAD_SLICE_US of it); call again with the same
 * request, on the loop's next turn.
 */
#define JMAP_API_AGAIN 0
#define JMAP_THREAD_SLICE_US 5000
int jmap_api(const struct jmap_request *r, const char *body, size_t len, struct buf *out,
	     const char **content_type_r);

/*
 * POST /jmap/upload/{accountId}/: stores body as a blob (fsynced) and
 * appends the upload response JSON ({accountId, blobId, type, size}).
 * Returns 201, or 4xx with a problem document in out.
 */
int jmap_upload(const struct jmap_request *r, const char *account_id, const char *type,
		const char *body, size_t len, struct buf *out);

/* An open blob to stream: fd positioned anywhere, the caller reads len bytes from offset. */
struct jmap_blob {
	int fd;          /* owned by the caller once returned: close it */
	uint64_t offset; /* start of the bytes to send */
	uint64_t len;    /* number of bytes to send */
	char type[128];  /* Content-Type to send */
};

/*
 * GET /jmap/download/{accountId}/{blobId}/{name}?accept={type}: opens the
 * blob (a whole message, or one body part of a message: JMAP blob ids of
 * parts name the message and the part) of the user's account, or of an
 * account that shares with the user a mailbox the user may read holding
 * a message with it. Returns 200 with *blob_r filled, or 404
 * (unknown/not this account's blob), 400 (malformed id).
 */
int jmap_download_open(const struct jmap_request *r, const char *account_id, const char *blob_id,
		       const char *accept_type, struct jmap_blob *blob_r);

/*
 * EventSource push (RFC 8620 §7.3). A stream's types= list and the states
 * it last pushed: only the listed types are reported, and only when their
 * state moved since the previous event.
 */
/* Mailbox Email Thread Identity EmailSubmission VacationResponse EmailDelivery */
#define JMAP_PUSH_TYPES 7
/* Accounts sharing mailboxes with the user whose states a stream follows. */
#define JMAP_PUSH_SHARED_MAX 32
struct jmap_push {
	unsigned mask;                  /* bit i: type i was asked for */
	uint64_t last[JMAP_PUSH_TYPES]; /* states in the last event */
	bool sent;                      /* an event went out: last[] is valid */
	/* The same for each shared account (Mail types only), by account id. */
	struct {
		int64_t id;
		uint64_t last[JMAP_PUSH_TYPES];
	} shared[JMAP_PUSH_SHARED_MAX];
	size_t n_shared;
};

/*
 * Parse types= ("*" for all, else comma-separated type names; names this
 * server has no data type for are ignored, as RFC 8620 lets a client ask
 * for types of other capabilities). Returns 0, or -1 when the list is
 * empty or has an empty item.
 */
int jmap_push_init(struct jmap_push *p, const char *types);

/*
 * Append one "event: state\ndata: {StateChange JSON}\n\n" with the
 * current state of each listed type that changed since the last event
 * (every listed type for the first one), for the user's account and each
 * account sharing mailboxes with the user (Mailbox, Email, Thread and
 * EmailDelivery there). http/ calls it when the stream opens and whenever
 * the change hub reports a commit on the account or a shared mailbox.
 * Returns 1 appended, 0 nothing listed changed (nothing appended), -1 on
 * a store error.
 */
int jmap_push_state(const struct jmap_request *r, struct jmap_push *p, struct buf *out);

/*
 * Upload expiry (jmap-expire.c). jmap_uploads_sweep forgets every upload
 * older than ttl seconds at now (in batches) and deletes the blobs nothing
 * else uses; *n_r gets how many. 0 / -1. The expirer is a thread that does
 * it periodically with its own store handle (cfg->jmap_upload_ttl).
 */
struct config;
struct store;
struct jmap_expirer;
int jmap_uploads_sweep(struct store *s, int64_t now, unsigned ttl, unsigned *n_r,
		       const char **error_r);
int jmap_expirer_start(const struct config *cfg, struct jmap_expirer **e_r, const char **error_r);
void jmap_expirer_stop(struct jmap_expirer **e);

/*
 * The VacationResponse as a Sieve script (jmap-vacation.c): the vacation
 * action, inside "currentdate" tests for the bounds given, with subject
 * (NULL or "": the default "Auto: <subject>"), and the text, the HTML or
 * both (a :mime multipart/alternative reason) as the reason; neither gives
 * JMAP_VACATION_DEFAULT_TEXT. User text is escaped (quoted strings, dot-
 * stuffed text: literals). Returns the malloc'd source and its length.
 */
#define JMAP_VACATION_SCRIPT "jmap-vacation"
#define JMAP_VACATION_DEFAULT_TEXT "I am away and will read your message when I return."
struct jmap_vacation_text {
	bool has_from, has_to;
	time_t from, to; /* replies on or after from, before to */
	const char *subject;
	const char *text_body;
	const char *html_body;
};
char *jmap_vacation_script(const struct jmap_vacation_text *v, size_t *len_r);

#endif
