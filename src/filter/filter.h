/* SPDX-License-Identifier: MIT */
/*
 * Spam and virus filtering with rspamd, over its HTTP protocol. On the MX
 * listener every message is posted to rspamd's /checkv2 with the SMTP
 * envelope in request headers (From, Rcpt, IP, Helo, Queue-Id, User); the
 * JSON reply (read with jansson) becomes a verdict: accept, file into Junk
 * with X-Spam-* header fields, reject (550 5.7.1) or try later (451 4.7.1).
 * The HTTP exchange (libcurl's easy interface, with a time budget) runs in
 * a small pool of threads (lib/workpool.h), never in a worker loop: the SMTP
 * session waits for its job with CONN_WAIT. When rspamd does not answer,
 * the configuration says whether mail is accepted unscanned (with a header
 * saying so) or deferred. Learning (a user moving mail into or out of Junk)
 * posts the messages to the controller's /learnspam and /learnham in the
 * same pool; a failure there is logged and never fails the IMAP command.
 */
#ifndef FACTEUR_FILTER_H
#define FACTEUR_FILTER_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct store_mailbox;

enum filter_action {
	FILTER_ACCEPT,   /* deliver to INBOX */
	FILTER_JUNK,     /* deliver to Junk, X-Spam: Yes */
	FILTER_REJECT,   /* 550 5.7.1 message */
	FILTER_TEMPFAIL, /* 451 4.7.1 message */
};

#define FILTER_SYMBOLS_MAX 10

struct filter_verdict {
	enum filter_action action;
	bool scanned;           /* false: rspamd did not answer (see error) */
	double score;           /* rspamd's, when scanned */
	double required;        /* its reject score */
	char rspamd_action[32]; /* "no action", "add header", ...; "" unscanned */
	char message[256];      /* reply text for REJECT and TEMPFAIL, printable ASCII */
	char symbols[512];      /* "NAME(score), ..." highest first, at most FILTER_SYMBOLS_MAX */
	char error[128];        /* why it was not scanned */
};

/*
 * Read a /checkv2 reply into v (scanned = true). rspamd's "reject" becomes
 * FILTER_REJECT, "soft reject" and "greylist" FILTER_TEMPFAIL, "add header"
 * and "rewrite subject" FILTER_JUNK, anything else FILTER_ACCEPT. The reply
 * text is rspamd's messages.smtp_message when it gives one (sanitized),
 * else a default. Returns 0, or -1 with *error_r (static) when the reply
 * is not such a JSON object.
 */
int filter_parse_reply(const char *json, size_t len, struct filter_verdict *v,
		       const char **error_r);

/*
 * The verdict when rspamd cannot be asked or did not answer (error: why,
 * for the log and the header): FILTER_TEMPFAIL when fail_closed, else
 * FILTER_ACCEPT unscanned.
 */
void filter_verdict_unavailable(bool fail_closed, const char *error, struct filter_verdict *v);

/*
 * Append the header fields for v (CRLF-terminated): when scanned,
 * X-Spam-Status, X-Spam-Score, X-Spam-Symbols (when any) and, for Junk,
 * X-Spam: Yes; when not, an X-Spam-Status saying it was not scanned.
 */
void filter_verdict_headers(const struct filter_verdict *v, struct buf *out);

/*
 * Copy msg to out without its X-Spam-* header fields (a sender must not
 * make its own verdict). Returns how many were removed.
 */
size_t filter_strip_headers(const char *msg, size_t len, struct buf *out);

/* --- the daemon's handle: the HTTP threads ------------------------------------ */

struct filter;
struct filter_job;

#define FILTER_RCPT_MAX 50

struct filter_request {
	const char *ip;        /* the client's address */
	const char *helo;      /* HELO/EHLO argument */
	const char *mail_from; /* "" for <> */
	const char *user;      /* authenticated user, or NULL */
	const char *queue_id;
	const char *const *rcpts; /* at most FILTER_RCPT_MAX are sent */
	size_t n_rcpts;
	const char *msg; /* the message, CRLF */
	size_t len;
	/* Called in the pool thread once the verdict is ready (wakes a loop). */
	void (*done)(void *arg);
	void *done_arg;
};

/*
 * Start the threads when cfg->rspamd_url is set; *f_r stays NULL (and 0
 * is returned) when it is not. cfg must outlive the handle. 0, or -1 with
 * a malloc'd *error_r.
 */
int filter_create(const struct config *cfg, struct filter **f_r, char **error_r);
/* Stop and join the threads; jobs still held by sessions stay valid. */
void filter_destroy(struct filter **f);
bool filter_fail_closed(const struct filter *f);

/*
 * Queue a check; everything in req is copied. 0 with a job reference in
 * *job_r, or -1 when too many checks wait (the caller applies
 * filter_verdict_unavailable).
 */
int filter_check_submit(struct filter *f, const struct filter_request *req,
			struct filter_job **job_r);
/* The verdict once the check is done, NULL while it runs. */
const struct filter_verdict *filter_job_verdict(struct filter_job *job);
/* Drop the caller's reference (the check may still run: the pool holds one). */
void filter_job_release(struct filter_job **job);

/*
 * Teach rspamd that the messages read from fds (each open on one message;
 * the filter closes them all, also on failure) are spam or ham, through
 * the controller's /learnspam or /learnham, in a pool thread. A no-op that
 * just closes the fds when rspamd_controller_url is not set; failures are
 * logged. what names the cause in the log ("imap.move", ...).
 */
/* Is learning on (a filter with rspamd_controller_url)? f may be NULL. */
bool filter_learns(const struct filter *f);
void filter_learn(struct filter *f, bool spam, int *fds, size_t n, const char *what);

/*
 * What moving or copying a message from src to dst teaches: 1 spam (into
 * Junk from elsewhere), 0 ham (out of Junk, not to Trash), -1 nothing.
 * A mailbox is Junk (Trash) by its special use or, without one, its name.
 */
int filter_learn_class(const struct store_mailbox *src, const struct store_mailbox *dst);

/*
 * Learn the messages uids of mailbox_id (read with store, in the caller's
 * thread: only their blobs are opened here) as spam or ham: filter_learn.
 */
void filter_learn_messages(struct filter *f, struct store *store, int64_t mailbox_id,
			   const uint32_t *uids, size_t n, bool spam, const char *what);

/*
 * GET url/ping within timeout_s seconds: 1 rspamd answered "pong", -1 not,
 * with a malloc'd *error_r. Blocking: for the CLI only.
 */
int filter_ping(const char *url, unsigned timeout_s, char **error_r);

#endif
