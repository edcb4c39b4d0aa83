/* SPDX-License-Identifier: MIT */
/*
 * Internals of the ManageSieve module: the pure command parser
 * (managesieve-parse.c: an atom, then quoted strings, literals and
 * numbers, with caps checked before the bytes arrive), and the session
 * engine (managesieve-session.c), which reaches the password check through
 * hooks (the auth pool in the daemon, a fake in unit tests and the fuzzer)
 * and the scripts through the store's Sieve functions.
 */
#ifndef FACTEUR_MANAGESIEVE_PRIVATE_H
#define FACTEUR_MANAGESIEVE_PRIVATE_H

#include "auth/auth.h"
#include "lib/buf.h"
#include "net/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct managesieve_session;

#define MANAGESIEVE_MAX_ARGS 4
#define MANAGESIEVE_NAME_MAX 31
/* Bytes of a command outside its literals; tighter before authentication. */
#define MANAGESIEVE_LINE_MAX 8192
#define MANAGESIEVE_LINE_MAX_PREAUTH 1024
/* Bytes of one literal before authentication (an AUTHENTICATE response). */
#define MANAGESIEVE_LITERAL_MAX_PREAUTH 8192
#define MANAGESIEVE_MAX_ERRORS 20
#define MANAGESIEVE_TIMEOUT 600         /* seconds idle after login */
#define MANAGESIEVE_TIMEOUT_PREAUTH 120 /* ... and before */

/* One argument: a string (quoted or literal) or a number. */
struct managesieve_arg {
	bool is_number;
	uint64_t number;
	char *str; /* NUL-terminated copy (strings may hold NUL: see len) */
	size_t len;
};

struct managesieve_cmd {
	char name[MANAGESIEVE_NAME_MAX + 1]; /* upper-cased; "" for a bare line */
	struct managesieve_arg args[MANAGESIEVE_MAX_ARGS];
	unsigned n_args;
};

/* Where the parser gave up, and how to skip past the bad command. */
struct managesieve_parse_error {
	const char *text; /* static */
	const char *code; /* a response code ("QUOTA/MAXSIZE") or NULL */
	/*
	 * Bytes to skip (may be more than were given: a literal refused
	 * before its bytes arrived), after which the input is discarded up
	 * to and including the next LF.
	 */
	size_t skip;
};

/*
 * Parse one command from data[0..len). bare: a line of arguments with no
 * command name (the client's answer in a SASL exchange). Caps: line_max
 * bytes outside literals, literal_max bytes per literal (both checked as
 * soon as the bytes, or the literal's announced size, are seen). Returns
 * the bytes consumed (> 0) with *cmd filled (free it with
 * managesieve_cmd_clear), 0 when more input is needed, or -1 with *err.
 */
long managesieve_parse(const char *data, size_t len, bool bare, size_t line_max, size_t literal_max,
		       struct managesieve_cmd *cmd, struct managesieve_parse_error *err);
void managesieve_cmd_clear(struct managesieve_cmd *cmd);

/* Append s as a protocol string: quoted, or a literal when it cannot be. */
void managesieve_put_string(struct buf *out, const char *s, size_t len);

enum managesieve_login_result {
	MANAGESIEVE_LOGIN_OK,
	MANAGESIEVE_LOGIN_FAILED,
	MANAGESIEVE_LOGIN_TEMPFAIL,
	MANAGESIEVE_LOGIN_BLOCKED,
	/* Checked elsewhere: the engine waits (CONN_WAIT), then asks login_poll. */
	MANAGESIEVE_LOGIN_PENDING,
};

/* How the engine checks passwords; ctx is the pointer given to create. */
struct managesieve_hooks {
	/* On OK, *account_r is the account the scripts belong to. */
	enum managesieve_login_result (*login)(void *ctx, const char *user, const char *password,
					       int64_t *account_r);
	/* After PENDING: the outcome, or PENDING again while the check runs. */
	enum managesieve_login_result (*login_poll)(void *ctx, int64_t *account_r);
	/*
	 * Optional (NULL: SCRAM-SHA-256 is not offered): one SCRAM message.
	 * PENDING: send step->challenge and feed the answer; OK: as login.
	 */
	enum managesieve_login_result (*scram)(void *ctx, struct auth_scram_io *step,
					       int64_t *account_r);
};

struct managesieve_settings {
	const struct config *config; /* the plaintext_auth policy */
	struct store *store;
	const char *session_id; /* copied */
	const char *peer_ip;    /* copied */
	bool peer_loopback;
	bool tls;           /* already encrypted */
	bool tls_available; /* STARTTLS may be offered */
};

/* Create a session and queue its greeting (the capabilities) in out. */
struct managesieve_session *managesieve_session_create(const struct managesieve_settings *settings,
						       const struct managesieve_hooks *hooks,
						       void *ctx, struct buf *out);
void managesieve_session_destroy(struct managesieve_session **s);
/*
 * conn_proto.input: CONN_STARTTLS after the OK to STARTTLS, CONN_CLOSE
 * after LOGOUT or too many errors, CONN_WAIT while a login is checked
 * (call resume until it returns something else).
 */
enum conn_result managesieve_session_input(struct managesieve_session *s, struct buf *in,
					   struct buf *out);
enum conn_result managesieve_session_resume(struct managesieve_session *s, struct buf *out);
/* After the TLS handshake: the capabilities are sent again (RFC 5804 2.2). */
void managesieve_session_tls_started(struct managesieve_session *s, struct buf *out);
void managesieve_session_timeout(struct managesieve_session *s, struct buf *out);
int managesieve_session_idle_timeout(const struct managesieve_session *s);
bool managesieve_session_authenticated(const struct managesieve_session *s);

#endif
