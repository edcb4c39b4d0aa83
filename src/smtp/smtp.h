/* SPDX-License-Identifier: MIT */
/*
 * The SMTP server: MX (port 25), submission (587, STARTTLS then AUTH) and
 * submissions (465, implicit TLS). The session engine (smtp-session.c) is a
 * pure state machine: it is fed bytes from a struct buf and appends replies
 * to another, and reaches the outside world only through the hooks below,
 * so unit tests and the fuzzer drive it with fake hooks and no socket.
 * smtp-service.c wires those hooks to store/, auth/ and mime/ and exports
 * smtp_proto for the connection layer.
 */
#ifndef FACTEUR_SMTP_H
#define FACTEUR_SMTP_H

#include "auth/auth.h"
#include "lib/buf.h"
#include "net/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct spool;
struct smtp_session;

/* Room for one address (store_account.address is 320 bytes). */
#define SMTP_ADDRESS_MAX 320
/* Most targets one RCPT may expand to (aliases). */
#define SMTP_RCPT_MAX_TARGETS 32

enum smtp_state {
	SMTP_STATE_INIT,   /* greeted; waiting for HELO/EHLO */
	SMTP_STATE_READY,  /* HELO/EHLO done, no transaction */
	SMTP_STATE_MAIL,   /* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,   /* at least one recipient accepted */
	SMTP_STATE_DATA,   /* reading a DATA body up to CRLF.CRLF */
	SMTP_STATE_BDAT,   /* reading the octets of one BDAT chunk */
	SMTP_STATE_CHUNK,  /* between BDAT chunks (before LAST) */
	SMTP_STATE_AUTH,   /* waiting for a SASL continuation line */
	SMTP_STATE_CLOSED, /* QUIT, 421 or timeout: no more input */
	SMTP_STATE_COUNT,
};

struct smtp_account {
	int64_t id;
	char address[SMTP_ADDRESS_MAX];
};

enum smtp_auth_result {
	SMTP_AUTH_OK,
	SMTP_AUTH_FAILED,   /* unknown user or wrong password: 535 */
	SMTP_AUTH_TEMPFAIL, /* store error: 454 */
	SMTP_AUTH_BLOCKED,  /* rate limited: 454 */
	/*
	 * The check goes on elsewhere (the auth pool): the engine returns
	 * CONN_WAIT and asks auth_poll on each smtp_session_resume.
	 */
	SMTP_AUTH_PENDING,
};

enum smtp_rcpt_status {
	SMTP_RCPT_LOCAL,        /* ours: targets filled in */
	SMTP_RCPT_UNKNOWN_USER, /* our domain, no such user */
	SMTP_RCPT_NOT_LOCAL,    /* not one of our domains */
	SMTP_RCPT_OVER_QUOTA,   /* a target account is full */
	SMTP_RCPT_TEMPFAIL,     /* store error */
};

/*
 * What one recipient resolved to. remote[] strings are malloc'd by the
 * hook; the engine takes ownership of them whatever the status.
 */
struct smtp_rcpt_targets {
	int64_t accounts[SMTP_RCPT_MAX_TARGETS];
	size_t n_accounts;
	char *remote[SMTP_RCPT_MAX_TARGETS];
	size_t n_remote;
};

/* One accepted message, handed to the deliver hook. */
struct smtp_delivery {
	const char *queue_id;
	const char *sender;      /* "" for the null sender <> */
	const int64_t *accounts; /* local accounts, no duplicates */
	/* The RCPT TO address that led to each account (Sieve's envelope
	 * "to"); may be NULL. */
	const char *const *account_rcpts;
	size_t n_accounts;
	const char *const *remote; /* remote recipients, no duplicates */
	size_t n_remote;
	/*
	 * The message with "Return-Path:" and "Received:" prepended. The
	 * local copy is all of data; the queued copy (remote recipients)
	 * starts at data + return_path_len, since Return-Path belongs to the
	 * final delivery only.
	 */
	const char *data;
	size_t len;
	size_t return_path_len;
	/*
	 * Where data lives: a spool (lib/spool.h) whose file the store writer
	 * can map instead of copying the bytes. May be NULL (data in memory).
	 */
	const struct spool *body;
	const char *helo;      /* the HELO/EHLO argument */
	const char *auth_user; /* the authenticated account's address, or NULL */
	int64_t auth_account;  /* ... and its id */
	/*
	 * For SMTP_DELIVER_REJECT (DEFER) the hook may write the reply text
	 * that follows "550 5.7.1 " ("451 4.7.1 ") here (NUL-terminated, at most reason_size).
	 */
	char *reason;
	size_t reason_size;
};

enum smtp_deliver_result {
	SMTP_DELIVER_OK,       /* durable (fsynced): 250 may go out */
	SMTP_DELIVER_TEMPFAIL, /* 451 4.3.0 */
	SMTP_DELIVER_QUOTA,    /* 552 5.2.2 */
	SMTP_DELIVER_REJECT,   /* 550 5.7.1 with d->reason: refused by policy */
	SMTP_DELIVER_DEFER,    /* 451 4.7.1 with d->reason: policy says later (greylisting) */
	/*
	 * Work goes on elsewhere (a thread verifying the message): the engine
	 * returns CONN_WAIT and, on each smtp_session_resume, calls deliver
	 * again with the same delivery until it answers something else. The
	 * session may be destroyed in between; the hook's owner must then let
	 * go of that work itself.
	 */
	SMTP_DELIVER_PENDING,
};

/*
 * The engine's only ways out. Every hook is required but scram; ctx is passed back
 * unchanged. Hooks run synchronously inside smtp_session_input().
 */
struct smtp_hooks {
	void *ctx;
	/* Check a password (SASL already decoded). Fills *account_r on OK. */
	enum smtp_auth_result (*auth)(void *ctx, const char *peer_ip, const char *user,
				      const char *password, struct smtp_account *account_r);
	/*
	 * After auth answered PENDING: the outcome (filling *account_r on
	 * OK), or PENDING while the check runs. Only needed by an auth hook
	 * that answers PENDING.
	 */
	enum smtp_auth_result (*auth_poll)(void *ctx, struct smtp_account *account_r);
	/* Resolve a syntactically valid recipient address. */
	enum smtp_rcpt_status (*rcpt)(void *ctx, const char *address,
				      struct smtp_rcpt_targets *targets_r);
	/*
	 * May the account (account_id, login) send as address (other than
	 * its own address, which the engine accepts itself), e.g. as an
	 * alias? 1 yes, 0 no, -1 temporary error.
	 */
	int (*sender)(void *ctx, const char *address, int64_t account_id, const char *login);
	/* Deliver and queue durably; return only once it is on disk. */
	enum smtp_deliver_result (*deliver)(void *ctx, const struct smtp_delivery *d);
	/*
	 * Optional (NULL: SCRAM is not offered): one SCRAM-SHA-256(-PLUS)
	 * message. PENDING here means "send step->challenge in a 334 and feed
	 * the answer"; OK fills *account_r; anything else ends the exchange.
	 */
	enum smtp_auth_result (*scram)(void *ctx, struct auth_scram_io *step,
				       struct smtp_account *account_r);
	/*
	 * Optional (NULL: no limits): may the authenticated account send one
	 * more message to recipients recipients? Asked at MAIL (recipients 0:
	 * also the moment to read the account's own limits again) and at each
	 * RCPT. 1 yes; 0 no, why says which limit; -1 temporary error.
	 */
	int (*limit)(void *ctx, const struct smtp_account *account, unsigned recipients, char *why,
		     size_t whysz);
	/* Optional: count a message the account sent (after its 250). */
	void (*charge)(void *ctx, const struct smtp_account *account, unsigned recipients);
};

/*
 * Create a session for one connection and queue the 220 greeting in out.
 * cfg, info and the strings they point to must outlive the session; info
 * is read live (info->tls changes after STARTTLS). hooks is copied. The
 * listener kind comes from info->listener ("smtp", "submission",
 * "submissions"; anything else is treated as "smtp").
 */
struct smtp_session *smtp_session_create(const struct config *cfg, const struct conn_info *info,
					 const struct smtp_hooks *hooks, struct buf *out);
void smtp_session_destroy(struct smtp_session **s);

/*
 * Handle every complete command (and DATA/BDAT octets) in `in`, consuming
 * what was handled and appending replies to out. Returns CONN_OK (feed more
 * later), CONN_STARTTLS (the 220 is queued and `in` holds only what followed
 * the STARTTLS line, which the caller must discard), CONN_WAIT (the deliver
 * or auth hook answered PENDING: feed nothing, call smtp_session_resume until it
 * returns something else; unread bytes stay in `in`) or CONN_CLOSE (QUIT,
 * too many errors; the session accepts no more input).
 */
enum conn_result smtp_session_input(struct smtp_session *s, struct buf *in, struct buf *out);
/*
 * After CONN_WAIT: ask the deliver hook again (or auth_poll). CONN_WAIT while it is still
 * pending; otherwise the reply to the message is queued and CONN_OK (feed
 * the input again) or CONN_CLOSE is returned. CONN_OK when nothing waits.
 */
enum conn_result smtp_session_resume(struct smtp_session *s, struct buf *out);
/* The TLS handshake succeeded: forget HELO/AUTH state (RFC 3207). */
void smtp_session_tls_started(struct smtp_session *s, struct buf *out);
/* Idle timeout: queue 421 4.4.2; the session is closed afterwards. */
void smtp_session_timeout(struct smtp_session *s, struct buf *out);
/* Seconds of idleness allowed (config smtp_timeout). */
int smtp_session_idle_timeout(const struct smtp_session *s);

enum smtp_state smtp_session_state(const struct smtp_session *s);
bool smtp_session_authenticated(const struct smtp_session *s);
const char *smtp_state_name(enum smtp_state state);

/* The protocol as the connection layer sees it (smtp-service.c). */
extern const struct conn_proto smtp_proto;

#endif
