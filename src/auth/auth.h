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

/*
 * Outbound sending limits (auth-sendlimit.c): what each authenticated
 * account and each domain submitted in the last hour, process-wide and
 * thread-safe. Messages and recipients per hour; 0 is unlimited. An
 * account's own limits (store_account_limits) replace the default where
 * they are >= 0. Domain limits count all of a domain's accounts together.
 */
struct send_limits {
	int64_t messages, recipients;
};
#define SEND_LIMIT_KEY_MAX 324
void send_limit_configure(const struct send_limits *user, const struct send_limits *domain);
/*
 * Would one more message from address (its account's own limits: own, or
 * NULL) to recipients recipients fit? 1 yes; 0 no, why names the limit
 * (a sentence for the SMTP reply).
 */
int send_limit_check(const char *address, const struct send_limits *own, unsigned recipients,
		     char *why, size_t whysz);
/* Count an accepted message of address to recipients recipients. */
void send_limit_charge(const char *address, unsigned recipients);
/* Tests: a clock in milliseconds instead of time_now_ms (NULL: back); forgets the counts. */
void send_limit_clock(int64_t (*clock)(void));

/*
 * The login cache (auth-cache.c): a successful password check is
 * remembered for ttl_seconds as a keyed hash of (address, stored hash,
 * password), at most max_entries accounts (least recently used dropped),
 * so that the same login again within the TTL skips argon2id. 0 seconds
 * or 0 entries: off (the default until called). Empties the cache.
 * Returns 0, or -1 when secure memory for the key cannot be had (off).
 */
int auth_cache_configure(unsigned ttl_seconds, size_t max_entries);
#define AUTH_CACHE_ENTRIES 10000

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

/* --- SCRAM-SHA-256(-PLUS) (RFC 5802, RFC 7677; auth-scram.c) ---------------- */

struct auth_scram;
struct conn_tls_binding;

/* PBKDF2 iterations of the secrets made when a password is set. */
#define AUTH_SCRAM_ITERATIONS 10000
/* Size of the text auth_scram_secret_make writes, NUL included. */
#define AUTH_SCRAM_SECRET_MAX 192

/*
 * The SCRAM-SHA-256 secrets of password with a fresh random salt, as the
 * text stored with the account (store_account_set_scram):
 * "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>", base64 values.
 * The password itself cannot be recovered from it. 0 or -1.
 */
int auth_scram_secret_make(const char *password, char *out, size_t outsz);
/*
 * Make and store the secrets of address's new password (after
 * store_account_add or store_account_set_password, which clears them).
 * 0, or -1 with *error_r.
 */
int auth_scram_store(struct store *store, const char *address, const char *password,
		     const char **error_r);
/*
 * SASLprep (RFC 4013) of the UTF-8 string in, unassigned code points
 * allowed (a query string), into out (size outsz, NUL-terminated): what
 * SCRAM derives its keys from and reads user names as. 0, or -1 when
 * SASLprep refuses it (prohibited character, bidi rule, invalid UTF-8),
 * the result is empty or does not fit.
 */
int auth_saslprep(const char *in, char *out, size_t outsz);
/* Parse that text. 0, or -1 when it is empty or malformed. */
struct auth_scram_keys;
int auth_scram_secret_parse(const char *text, struct auth_scram_keys *k);

/* Whether this TLS connection has a channel binding -PLUS can use. */
bool auth_scram_plus_available(const struct conn_tls_binding *binding);

/*
 * One SCRAM exchange of a client at ip; plus: the mechanism was
 * SCRAM-SHA-256-PLUS; binding: the connection's (NULL without TLS; it
 * must outlive the exchange).
 */
struct auth_scram *auth_scram_create(const char *ip, bool plus,
				     const struct conn_tls_binding *binding);
void auth_scram_destroy(struct auth_scram **s);
/*
 * Feed the client's next message (base64-decoded; the first may be the
 * initial response). AUTH_PENDING: send *challenge_r (*challenge_len_r
 * bytes, owned by s, to be base64-encoded) and feed the answer. AUTH_OK:
 * authenticated, *account_r filled (clear its secrets after use).
 * AUTH_FAILED (malformed message, wrong proof, nonce or channel binding,
 * unknown account: counted by the limiters and logged), AUTH_BLOCKED and
 * AUTH_ERROR are final. No hashing: runs in the worker.
 */
enum auth_result auth_scram_step(struct auth_scram *s, struct store *store, const char *in,
				 size_t len, const char **challenge_r, size_t *challenge_len_r,
				 struct store_account *account_r);
/*
 * The same on a line as the protocols carry it: base64, "=" or nothing for
 * an empty message (invalid base64 fails like a malformed message); the
 * challenge comes back base64-encoded in challenge_r (size bytes; 600 is
 * enough), "" when there is none.
 */
#define AUTH_SCRAM_CHALLENGE_MAX 600
enum auth_result auth_scram_step_b64(struct auth_scram *s, struct store *store, const char *b64,
				     size_t len, char *challenge_r, size_t size,
				     struct store_account *account_r);
/*
 * One SCRAM message as an engine hands it to its service, and what comes
 * back (POP3 and SMTP submission).
 */
struct auth_scram_io {
	bool start;                               /* the first message: a new exchange */
	bool plus;                                /* SCRAM-SHA-256-PLUS (with start) */
	const char *in;                           /* the client's base64 line ("=": empty) */
	char challenge[AUTH_SCRAM_CHALLENGE_MAX]; /* out: base64, with AUTH_PENDING */
	char user[128];                           /* out: the user name given, for the log */
};
/*
 * What the service does with it: with io->start, a new exchange (client
 * ip; binding NULL without TLS) replaces *s; then auth_scram_step_b64.
 * *s stays while AUTH_PENDING and is destroyed (NULLed) on any other
 * result. No exchange and no start: AUTH_FAILED.
 */
enum auth_result auth_scram_feed(struct auth_scram **s, struct auth_scram_io *io, const char *ip,
				 const struct conn_tls_binding *binding, struct store *store,
				 struct store_account *account_r);
/* The user name the client gave ("" before its first message), for logs. */
const char *auth_scram_user(const struct auth_scram *s);

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
