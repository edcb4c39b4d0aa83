/* SPDX-License-Identifier: MIT */
/*
 * Authentication: password hashing (argon2id through libsodium), SASL
 * PLAIN / LOGIN decoding, failure rate limiting per client address and per
 * account, and the one sequence every protocol uses to check a user name
 * and password against the store: auth_check_start/finish, which hash in
 * the auth pool while the session waits (CONN_WAIT), or auth_login, which
 * does it all in the caller. auth/ sits just above store/ (it reads
 * accounts) and below the protocol engines.
 */
#ifndef FACTEUR_AUTH_H
#define FACTEUR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_account;
struct config;

/* Size of an encoded argon2id hash string, NUL included. */
#define AUTH_HASH_MAX 128

/*
 * Hash password with argon2id (t=2, m=19 MiB, p=1) into out (size
 * AUTH_HASH_MAX), "$argon2id$v=19$..." encoding. Returns 0 or -1.
 */
int auth_password_hash(const char *password, char *out, size_t outsz);
/* Constant-time verification. true only for a match. */
bool auth_password_verify(const char *hash, const char *password);

/*
 * Base64 (RFC 4648, standard alphabet, padding required, no whitespace).
 * decode: returns the decoded length, or -1 if the input is invalid or
 * does not fit in outsz (out is always NUL-terminated on success).
 */
long auth_base64_decode(const char *in, size_t inlen, char *out, size_t outsz);
/* encode: writes a NUL-terminated string; returns its length or -1. */
long auth_base64_encode(const void *in, size_t inlen, char *out, size_t outsz);

/*
 * Decode a SASL PLAIN response (RFC 4616) already base64-decoded:
 * authzid NUL authcid NUL passwd. Each output has room for 512 bytes.
 * Returns 0, or -1 if malformed (missing NULs, empty authcid/passwd,
 * a field too long, or an authzid that differs from authcid).
 */
int auth_sasl_plain_parse(const char *msg, size_t len, char *authcid_r, char *passwd_r);

/*
 * Rate limiting: process-wide, thread-safe. Per client address (an IPv6
 * address counts for its /64, see addr_limit_key): ...
 */
void auth_ratelimit_configure(unsigned max_failures, unsigned window_seconds);
/* true when ip has had too many recent failures and must wait. */
bool auth_ratelimit_blocked(const char *ip);
void auth_ratelimit_failure(const char *ip);
/* A success forgets ip's failures. */
void auth_ratelimit_success(const char *ip);
/*
 * ... and per account (failures to one address from any number of
 * clients; unknown addresses count too, so a block reveals nothing). A
 * success does not reset it. address is compared lower-cased.
 */
void auth_ratelimit_account_configure(unsigned max_failures, unsigned window_seconds);
bool auth_ratelimit_account_blocked(const char *address);
void auth_ratelimit_account_failure(const char *address);

enum auth_result {
	AUTH_OK = 1,
	AUTH_FAILED = 0,   /* unknown user or wrong password: same answer */
	AUTH_ERROR = -1,   /* store error: temporary failure */
	AUTH_BLOCKED = -2, /* rate limited: temporary failure, try later */
	AUTH_PENDING = 2,  /* auth_check_start: the check runs in the pool */
};

/*
 * Check user/password for a client at ip: rate limit, account lookup
 * (user lower-cased; a bare "user" with no '@' is not accepted), constant
 * time verification (a dummy verification runs for unknown users so
 * timing does not reveal which accounts exist), failure recorded.
 * On AUTH_OK, *account_r is filled.
 */
enum auth_result auth_login(struct store *store, const char *ip, const char *user,
			    const char *password, struct store_account *account_r);

/* --- checks off the event loop ---------------------------------------------- */

struct auth_pool;
struct auth_check;

/*
 * Start `threads` threads that hash for checks, at most hashes_per_ip of them
 * at once for one client address key (0: no cap). 0, or -1 with a
 * malloc'd *error_r.
 */
int auth_pool_create(unsigned threads, unsigned hashes_per_ip, struct auth_pool **pool_r,
		     char **error_r);
/* Stop and join; checks still held by sessions stay valid (never done). */
void auth_pool_destroy(struct auth_pool **pool);
/* The most checks seen hashing at once: in all, and for one address key. */
void auth_pool_peaks(struct auth_pool *pool, unsigned *total_r, unsigned *per_ip_r);

/*
 * auth_login's checks, with the verification in pool (NULL: in the caller,
 * as auth_login). Returns AUTH_PENDING with *check_r set: poll it with
 * auth_check_finish, which the pool thread announces by calling
 * wake(wake_arg) (e.g. server_ctx_wake). Any other result is final
 * (*check_r NULL; on AUTH_OK *account_r is filled). AUTH_ERROR also when
 * the pool's queue is full. The limiters and the log are updated by the
 * check itself, whether or not anyone polls it.
 */
enum auth_result auth_check_start(struct auth_pool *pool, struct store *store, const char *ip,
				  const char *user, const char *password, void (*wake)(void *arg),
				  void *wake_arg, struct auth_check **check_r,
				  struct store_account *account_r);
/*
 * AUTH_PENDING while the check runs; otherwise its result (*account_r
 * filled on AUTH_OK, password hash included: clear it) and *check is freed
 * and NULLed.
 */
enum auth_result auth_check_finish(struct auth_check **check, struct store_account *account_r);
/* Let go of a check (its session went away); it still runs and counts. */
void auth_check_abort(struct auth_check **check);

/*
 * The one name of an outcome in every protocol's login log line
 * (result=ok, failed, blocked, tempfail), so log readers need no table
 * per protocol.
 */
const char *auth_result_name(enum auth_result r);

/* --- who a submitting user may write as (auth-sender.c) ------------------- */

/*
 * May the account (account_id, its login address) use addr as MAIL FROM,
 * From: or Sender:? Its own address, an address the store delivers to it
 * (alias, sub-address, catch-all), the email of one of its JMAP
 * identities, or a "login:address" / "login:@domain" entry of
 * cfg->submission_from_exceptions (cfg may be NULL). Compared without
 * case. 1 yes, 0 no, -1 store error.
 */
int auth_sender_allowed(struct store *store, const struct config *cfg, int64_t account_id,
			const char *login, const char *addr);
/*
 * Every author address of msg[0..len) (mime_author_addresses: From: and
 * Sender:, group members included) must pass auth_sender_allowed. 1 yes
 * (also when there is no From: field); 0 no, with the reason written to
 * why (sanitized, for a reply); -1 store error.
 */
int auth_sender_check_message(struct store *store, const struct config *cfg, int64_t account_id,
			      const char *login, const char *msg, size_t len, char *why,
			      size_t whysz);

#endif
