/* SPDX-License-Identifier: MIT */
/*
 * Internals of the POP3 module: the pure session engine (pop3-session.c),
 * which never touches a socket, the store or auth_login() but reaches them
 * through a hooks struct so that unit tests and the fuzzer drive it with
 * in-memory fakes; and the process-wide maildrop lock (pop3-lock.c) that
 * keeps one POP3 session per account, as RFC 1939 requires.
 */
#ifndef FACTEUR_POP3_PRIVATE_H
#define FACTEUR_POP3_PRIVATE_H

#include "auth/auth.h"
#include "lib/buf.h"
#include "net/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct pop3_session;

/* After this many -ERR replies the session is closed ("too many errors"). */
#define POP3_MAX_ERRORS 10
/* Output produced per input()/resume() call while streaming RETR/TOP. */
#define POP3_STREAM_SLICE (64 * 1024)

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
};

/* What the engine needs to know about its configuration and connection. */
struct pop3_settings {
	/* pop3_max_line, pop3_timeout and the plaintext_auth policy. */
	const struct config *config;
	const char *session_id; /* copied; used in every log line */
	const char *peer_ip;    /* copied; passed to the login hook's logs */
	bool peer_loopback;
	bool tls;           /* already encrypted (pop3s) */
	bool tls_available; /* STLS may be offered (pop3 with a certificate) */
	/* The connection's TLS channel bindings (SCRAM-SHA-256-PLUS); may be NULL. */
	const struct conn_tls_binding *binding;
};

enum pop3_login_result {
	POP3_LOGIN_OK,       /* authenticated and the maildrop is locked */
	POP3_LOGIN_FAILED,   /* unknown user or wrong password */
	POP3_LOGIN_TEMPFAIL, /* store error */
	POP3_LOGIN_IN_USE,   /* another POP3 session holds the maildrop */
	POP3_LOGIN_BLOCKED,  /* rate limited */
	/* The check goes on elsewhere: the engine waits (CONN_WAIT), then asks login_poll. */
	POP3_LOGIN_PENDING,
};

struct pop3_maildrop_msg {
	uint32_t uid;
	uint64_t size; /* stored size, CRLF line ends: what RETR sends */
};

/*
 * How the engine reaches the world. ctx is the pointer given to
 * pop3_session_create. None of these may call back into the engine.
 */

struct pop3_hooks {
	/*
	 * Check user/password and, on success, lock the account's maildrop
	 * (the lock is the hooks' to release when the session closes).
	 */
	enum pop3_login_result (*login)(void *ctx, const char *user, const char *password);
	/*
	 * After login answered PENDING: the outcome, or PENDING again while
	 * the check runs. Needed only by hooks that answer PENDING.
	 */
	enum pop3_login_result (*login_poll)(void *ctx);
	/*
	 * Load the maildrop after a successful login: messages in UID
	 * order in a malloc'd array that the engine frees. Returns 0 or -1.
	 */
	int (*list)(void *ctx, uint32_t *uidvalidity_r, struct pop3_maildrop_msg **msgs_r,
		    size_t *n_r);
	/* Open one message's content read-only: an fd the engine closes, or -1. */
	int (*open_blob)(void *ctx, uint32_t uid);
	/*
	 * Remove these messages (UIDs) in one transaction, all or none.
	 * Returns 0, or -1 with a message in *error_r.
	 */
	int (*expunge)(void *ctx, const uint32_t *uids, size_t n, const char **error_r);
	/*
	 * Optional (NULL: SCRAM is not offered): one SCRAM-SHA-256(-PLUS)
	 * message. PENDING: send step->challenge and feed the answer; OK: as
	 * login (maildrop locked); anything else ends the exchange.
	 */
	enum pop3_login_result (*scram)(void *ctx, struct auth_scram_io *step);
};

/*
 * Create a session and queue its greeting in out. settings is copied;
 * settings->config and hooks must outlive the session.
 */
struct pop3_session *pop3_session_create(const struct pop3_settings *settings,
					 const struct pop3_hooks *hooks, void *ctx,
					 struct buf *out);
/*
 * Release the session: an open stream is closed, marked deletions are
 * forgotten (only QUIT applies them). Sets *s to NULL.
 */
void pop3_session_destroy(struct pop3_session **s);

/*
 * Handle every complete command line in `in`, consuming it, with the
 * contract of conn_proto.input: CONN_MORE while a RETR/TOP is streamed
 * (further commands wait in `in`; call resume until it returns something
 * else, then input again with what is left), CONN_STARTTLS after the +OK
 * to STLS (nothing after the STLS line is consumed), CONN_CLOSE after QUIT
 * or too many errors, CONN_WAIT while the login hook's check runs (call
 * resume until it returns something else; the commands after it wait in
 * `in`).
 */
enum conn_result pop3_session_input(struct pop3_session *s, struct buf *in, struct buf *out);
/* Produce the next slice (about POP3_STREAM_SLICE bytes) of a stream, or poll a login. */
enum conn_result pop3_session_resume(struct pop3_session *s, struct buf *out);
/* The TLS handshake after STLS succeeded: the session is now encrypted. */
void pop3_session_tls_started(struct pop3_session *s, struct buf *out);
/* Idle timeout: queue a goodbye. The session is closed without UPDATE. */
void pop3_session_timeout(struct pop3_session *s, struct buf *out);
/* Seconds of inactivity allowed (pop3_timeout). */
int pop3_session_idle_timeout(const struct pop3_session *s);
enum pop3_state pop3_session_state(const struct pop3_session *s);
const char *pop3_state_name(enum pop3_state state);

/*
 * The maildrop lock: a process-wide, thread-safe set of account ids with
 * an open POP3 session. acquire returns 1 when the caller now holds the
 * lock, 0 when another session does. release of an id not held is a no-op.
 * (Several facteur nodes sharing one database do not see each other's
 * locks.)
 */
int pop3_lock_acquire(int64_t account_id);
void pop3_lock_release(int64_t account_id);
/* Number of locks held (for tests). */
size_t pop3_lock_count(void);

#endif
