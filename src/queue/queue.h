/* SPDX-License-Identifier: MIT */
/*
 * Outbound delivery. The queue manager (queue-manager.c) runs in its own
 * thread with its own epoll loop: it scans the store's queue for due
 * entries, groups them by destination domain, resolves MX records with
 * libunbound's asynchronous API (queue-dns.c), and drives non-blocking
 * SMTP client connections whose protocol engine (queue-client.c) is pure:
 * fed the server's bytes, it produces the client's bytes, like the server
 * engines. Failures are retried with exponential back-off; delay notices
 * and bounces are RFC 3464 delivery status notifications (queue-dsn.c).
 */
#ifndef FACTEUR_QUEUE_H
#define FACTEUR_QUEUE_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;

/* --- the manager thread -------------------------------------------------- */
struct queue_manager;

/*
 * Start the delivery thread (it opens its own store handle on
 * cfg->data_dir). cfg must outlive the manager. Returns 0, or -1 with a
 * malloc'd message in *error_r that the caller frees.
 */
int queue_manager_start(const struct config *cfg, struct queue_manager **qm_r, char **error_r);
/*
 * Ask the thread to stop, join it and free everything; NULLs *qm. Open
 * SMTP sessions are dropped: entries not yet acknowledged by a remote 250
 * stay queued. Safe on NULL.
 */
void queue_manager_stop(struct queue_manager **qm);

/* --- retry schedule -------------------------------------------------------- */
/*
 * Delay before the next attempt after `attempts` failed ones (>= 1):
 * retry_min doubled per further failure, capped at retry_max.
 */
time_t queue_backoff(unsigned attempts, unsigned retry_min, unsigned retry_max);

/* --- delivery status notifications (RFC 3464) ----------------------------- */
enum queue_dsn_action { QUEUE_DSN_FAILED, QUEUE_DSN_DELAYED };

struct queue_dsn_rcpt {
	const char *recipient;  /* original recipient address */
	const char *status;     /* "5.1.1", "4.4.1" ... */
	const char *remote_mta; /* host name that answered, or NULL */
	const char *diagnostic; /* the server's reply or our reason, or NULL */
};

struct queue_dsn {
	enum queue_dsn_action action;
	const char *reporting_mta; /* our host name */
	const char *sender;        /* the original envelope sender (gets the DSN) */
	time_t arrival;            /* when it was queued */
	time_t retry_until;        /* delayed: when we give up */
	time_t now;
	const struct queue_dsn_rcpt *rcpts;
	size_t n_rcpts;
	/* The original message's header block (may be NULL); capped inside. */
	const char *headers;
	size_t headers_len;
};

/*
 * Build the complete DSN message (CRLF line ends) into out: a
 * multipart/report; report-type=delivery-status with a human-readable
 * text/plain part, the message/delivery-status part and the original's
 * headers as text/rfc822-headers. Untrusted text (diagnostics, headers
 * lines) is sanitised so it cannot break the structure.
 */
void queue_dsn_build(const struct queue_dsn *d, struct buf *out);

/*
 * The enhanced status code ("5.1.1") of an SMTP reply "550 5.1.1 text",
 * or one derived from its class (5.0.0 / 4.0.0) into out (16 bytes).
 */
void queue_dsn_status(int code, const char *text, char out[16]);

/* The header block of a message (up to and excluding the blank line). */
size_t queue_headers_len(const char *data, size_t len);

/* --- the SMTP client engine ---------------------------------------------- */
/* Longest server reply line we accept (RFC 5321 says 512); longer: garbage. */
#define QUEUE_CLIENT_MAX_LINE 2048
/* Lines of one multi-line reply (EHLO lists): more is garbage. */
#define QUEUE_CLIENT_MAX_LINES 200
/* Recipients per transaction. */
#define QUEUE_CLIENT_MAX_RCPTS 100

struct queue_client;

struct queue_client_params {
	const char *helo_name; /* our host name for EHLO/HELO */
	bool tls_possible;     /* we can do STARTTLS (a client TLS context) */
	bool tls_required;     /* no STARTTLS offered: temporary failure */
	const char *auth_user; /* AUTH PLAIN after STARTTLS (smarthost), or NULL */
	const char *auth_password;
};

enum queue_client_status {
	QUEUE_CLIENT_MORE,     /* feed more server bytes */
	QUEUE_CLIENT_STARTTLS, /* flush out, handshake, then queue_client_tls_started */
	QUEUE_CLIENT_READY,    /* idle: queue_client_mail or queue_client_quit */
	QUEUE_CLIENT_BODY,     /* stream the message with queue_client_body */
	QUEUE_CLIENT_DONE,     /* the message's results are in; now READY */
	QUEUE_CLIENT_CLOSED,   /* finished (QUIT) or failed: queue_client_error */
};

struct queue_client_msg {
	const char *sender; /* "" for <> */
	const char *const *rcpts;
	size_t n_rcpts; /* 1..QUEUE_CLIENT_MAX_RCPTS */
	uint64_t size;  /* for SIZE= */
	bool eight_bit; /* the content has 8-bit bytes: BODY=8BITMIME */
	bool utf8;      /* needs SMTPUTF8 (non-ASCII addresses or headers) */
};

/* The final outcome for one recipient of the current message. */
struct queue_client_result {
	int code;       /* 250 delivered; 4xx temporary; 5xx permanent */
	char text[256]; /* sanitised reply ("550 5.1.1 no such user") or reason */
};

/*
 * Create an engine for a fresh connection (waiting for the greeting).
 * p's strings must outlive it.
 */
struct queue_client *queue_client_create(const struct queue_client_params *p);
void queue_client_destroy(struct queue_client **c);

/*
 * Consume server bytes from in, appending commands to out. Stops at the
 * first status other than MORE; bytes after it stay in in.
 */
enum queue_client_status queue_client_input(struct queue_client *c, struct buf *in,
					    struct buf *out);
/* The TLS handshake after STARTTLS succeeded: EHLO again. Returns MORE. */
enum queue_client_status queue_client_tls_started(struct queue_client *c, struct buf *out);
/*
 * Start a transaction (only when READY). Returns MORE (commands queued)
 * or DONE immediately when the server cannot take this message (8-bit
 * content or SMTPUTF8 not supported: permanent failure of every
 * recipient). msg is copied.
 */
enum queue_client_status queue_client_mail(struct queue_client *c,
					   const struct queue_client_msg *msg, struct buf *out);
/*
 * Message bytes (in BODY): normalises line ends to CRLF and dot-stuffs.
 * Call with eof = true once (n may be 0) to end with CRLF.CRLF; returns
 * MORE then (the DATA reply is awaited), BODY before.
 */
enum queue_client_status queue_client_body(struct queue_client *c, const char *p, size_t n,
					   bool eof, struct buf *out);
/* Say QUIT (only when READY); the engine then waits for 221 and CLOSED. */
void queue_client_quit(struct queue_client *c, struct buf *out);

/* The results of the message just finished (after DONE): n_rcpts entries. */
const struct queue_client_result *queue_client_results(const struct queue_client *c);
/*
 * Why the session ended (after CLOSED): NULL for a clean QUIT, else a
 * sanitised reason. *code_r gets the server's code, or 0 for a local
 * reason (garbage, protocol error); both mean "try again later".
 */
const char *queue_client_error(const struct queue_client *c, int *code_r);
/* The connection dropped (or timed out): fail what is in progress. */
void queue_client_abort(struct queue_client *c, const char *reason);
/* Did the server advertise... (after READY) */
bool queue_client_has_tls(const struct queue_client *c);
/* True while a message is in progress (MAIL sent, results not yet in). */
bool queue_client_in_transaction(const struct queue_client *c);
/*
 * True once the server has answered a command of the current transaction
 * (its RSET or MAIL). Until then, on a session that has been idle, a
 * failure means the server had already closed it: nothing of the message
 * was taken, so the manager hands it to another connection rather than
 * count a failed attempt. Stays as it was when the session fails.
 */
bool queue_client_txn_answered(const struct queue_client *c);

#endif
