/* SPDX-License-Identifier: MIT */
/*
 * Internals of the SMTP server shared by the engine (smtp-session.c) and the
 * command-line parser (smtp-parser.c): the session structure and the pure
 * parsing functions, exposed here so the unit tests can call them directly.
 * Nothing outside src/smtp/ and tests/ includes this header.
 */
#ifndef FACTEUR_SMTP_PRIVATE_H
#define FACTEUR_SMTP_PRIVATE_H

#include "lib/spool.h"
#include "smtp/smtp.h"
#include "lib/log.h"

/* --- parser (smtp-parser.c) -------------------------------------------- */

#define SMTP_VERB_MAX 16
#define SMTP_MAX_PARAMS 8
#define SMTP_HELO_MAX 255

/* A command line split into its verb (upper-cased) and arguments. */
struct smtp_cmdline {
	char verb[SMTP_VERB_MAX];
	char *args; /* points into the line; NULL when there are none */
};

/* One ESMTP parameter "KEY[=VALUE]" of MAIL or RCPT. */
struct smtp_param {
	const char *key;
	const char *value; /* NULL when there was no '=' */
};

/* A parsed "FROM:<path> params" / "TO:<path> params". */
struct smtp_path {
	char address[SMTP_ADDRESS_MAX]; /* "" for the null path <> */
	struct smtp_param params[SMTP_MAX_PARAMS];
	size_t n_params;
};

/*
 * Split line (no CRLF, no NUL) into verb and args, in place: trailing
 * spaces are cut, the verb is letters only. Returns 0, or -1 when the
 * verb is empty, too long or not alphabetic.
 */
int smtp_parse_cmdline(char *line, struct smtp_cmdline *r);

/*
 * Parse the arguments of MAIL ("FROM") or RCPT ("TO") in place: the
 * keyword and ':' (case-insensitive, spaces after the colon tolerated), an
 * angle-bracketed path (quoted local parts and a source route, which is
 * dropped, allowed) and space-separated ESMTP parameters. Returns 0, or -1
 * with a static reason in *error_r.
 */
int smtp_parse_path(char *args, const char *keyword, struct smtp_path *r, const char **error_r);

/* A decimal number of at most 20 digits that fits in 64 bits. 0 or -1. */
int smtp_parse_number(const char *s, uint64_t *n_r);

/* "n" or "n LAST" (RFC 3030). 0 or -1. */
int smtp_parse_bdat(const char *args, uint64_t *size_r, bool *last_r);

/*
 * Is this HELO/EHLO argument safe to keep and to write into a Received
 * header: 1 to 255 characters of letters, digits and ".-_:[]".
 */
bool smtp_helo_valid(const char *arg);

/* True when s holds a byte >= 0x80. */
bool smtp_has_8bit(const char *s);

/* --- session (smtp-session.c) ------------------------------------------ */

enum smtp_kind {
	SMTP_KIND_MX,
	SMTP_KIND_SUBMISSION,
	SMTP_KIND_SUBMISSIONS,
};

/* Where the DATA scanner is inside the current line. */
enum smtp_data_state {
	SMTP_DATA_BOL,    /* just after CRLF (or at the start) */
	SMTP_DATA_TEXT,   /* inside a line */
	SMTP_DATA_CR,     /* a CR was seen; CRLF if LF follows */
	SMTP_DATA_DOT,    /* "." at the start of a line */
	SMTP_DATA_DOT_CR, /* ".\r" at the start of a line */
};

enum smtp_sasl_step {
	SMTP_SASL_NONE,
	SMTP_SASL_PLAIN,      /* waiting for the PLAIN response */
	SMTP_SASL_LOGIN_USER, /* waiting for the LOGIN user name */
	SMTP_SASL_LOGIN_PASS, /* waiting for the LOGIN password */
	SMTP_SASL_SCRAM,      /* in a SCRAM-SHA-256 exchange */
	SMTP_SASL_SCRAM_PLUS, /* in a SCRAM-SHA-256-PLUS exchange */
};

/* One mail transaction: MAIL, RCPTs, and the message being received. */
struct smtp_txn {
	char sender[SMTP_ADDRESS_MAX];
	bool utf8; /* SMTPUTF8 given on MAIL */
	unsigned n_rcpt;
	unsigned n_overshoot; /* RCPTs refused past max_recipients */
	char first_rcpt[SMTP_ADDRESS_MAX];

	int64_t *accounts;
	char **account_rcpts; /* the RCPT TO that first led to each account */
	size_t n_accounts, cap_accounts;
	char **remote;
	size_t n_remote, cap_remote;

	/* the message: Return-Path + Received + body (capped), spooled */
	struct spool msg;
	bool spool_failed; /* a byte could not be kept: 452 at the end */
	size_t return_path_len;
	uint64_t size; /* body octets received, stored or not */
	bool oversize;
	bool bad_eol; /* a bare CR or LF was seen in DATA */
	bool has_nul; /* a NUL was seen in DATA or BDAT */
	bool bdat;    /* this transaction uses BDAT: DATA is refused */
	enum smtp_data_state dstate;
	uint64_t chunk_left;
	bool chunk_last;
	char queue_id[80];
};

struct smtp_session {
	const struct config *cfg;
	const struct conn_info *info;
	struct smtp_hooks hooks;
	enum smtp_kind kind;
	enum smtp_state state;
	struct buf *out;          /* the caller's output during a call */
	enum conn_result pending; /* what input() returns once it stops */
	unsigned errors;
	size_t max_line;

	char *line;            /* max_line + 1 bytes */
	char *spool_dir;       /* where big messages are spooled (data_dir/blobs/tmp) */
	bool discarding;       /* skipping the rest of a too-long line */
	uint64_t skip;         /* octets of a refused BDAT to swallow */
	bool tls_wait;         /* STARTTLS accepted, handshake pending */
	bool deliver_wait;     /* the deliver hook answered PENDING */
	bool auth_wait;        /* the auth hook answered PENDING */
	const char *auth_mech; /* ... for this mechanism */
	char auth_q_user[LOG_QUOTE_SIZE(128)]; /* ... and user, quoted for the log */

	char helo[SMTP_HELO_MAX + 1];
	bool esmtp;
	bool authenticated;
	struct smtp_account account;
	enum smtp_sasl_step sasl;
	bool scram_start; /* the next SCRAM message begins the exchange */
	char sasl_user[512];

	struct smtp_txn txn;
	unsigned n_txn; /* messages started: part of the queue id */
};

/* --- Sieve at local delivery (smtp-sieve.c) ---------------------------- */

struct store;
struct store_parsed;
struct store_write_request;
struct sieve_plan;

/*
 * A delivery split by Sieve: plain accounts (no active script, or a
 * mailbox bound to an address) are delivered as before; each scripted
 * account has its plan (sieve/sieve.h). copies holds the bytes of queued
 * redirects (prefix + message) while the writes are prepared.
 */
struct smtp_sieve {
	int64_t *plain;
	size_t n_plain;
	struct sieve_plan *plans;
	size_t n_plans;
	char **copies;
	size_t n_copies;
	struct smtp_sieve_local **locals; /* parsed local copies of outbound mail */
	size_t n_locals;
	struct store_write_request *reqs;
	size_t n_reqs;
};

/*
 * Run the active script of each local account of d (keep means mailbox,
 * NULL for INBOX). Returns 1 when the message is to be refused at SMTP
 * time (one recipient, whose script rejected it: reason written to
 * d->reason), else 0.
 */
int smtp_sieve_plan(struct store *s, const char *hostname, const struct smtp_delivery *d,
		    const char *mailbox, struct smtp_sieve *ss);
/*
 * The store writer requests for d after smtp_sieve_plan (in ss->reqs,
 * valid while ss and d live): one DELIVER for the plain accounts and the
 * remote recipients, one APPEND per Sieve target, one DELIVER per queued
 * message. May be none (everything discarded).
 */
void smtp_sieve_requests(struct smtp_sieve *ss, const struct smtp_delivery *d,
			 const struct store_parsed *parsed, const char *mailbox);
/* The same, committed directly (no writer), each step durable. 0 / -1. */
int smtp_sieve_direct(struct store *s, struct smtp_sieve *ss, const struct smtp_delivery *d,
		      const struct store_parsed *parsed, const char *mailbox, const char **error_r);
void smtp_sieve_free(struct smtp_sieve *ss);

#endif
