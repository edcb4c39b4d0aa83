/* SPDX-License-Identifier: MIT */
/*
 * Authentication: password hashing (argon2id through libsodium), SASL
 * PLAIN / LOGIN decoding, per-address failure rate limiting, and
 * auth_login(), the one sequence every protocol uses to check a user name
 * and password against the store. auth/ sits just above store/ (it reads
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

/* Rate limiting: process-wide, thread-safe. */
void auth_ratelimit_configure(unsigned max_failures, unsigned window_seconds);
/* true when ip has had too many recent failures and must wait. */
bool auth_ratelimit_blocked(const char *ip);
void auth_ratelimit_failure(const char *ip);
void auth_ratelimit_success(const char *ip);

enum auth_result {
	AUTH_OK = 1,
	AUTH_FAILED = 0,   /* unknown user or wrong password: same answer */
	AUTH_ERROR = -1,   /* store error: temporary failure */
	AUTH_BLOCKED = -2, /* rate limited: temporary failure, try later */
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

/*
 * The one name of an outcome in every protocol's login log line
 * (result=ok, failed, blocked, tempfail), so log readers need no table
 * per protocol.
 */
const char *auth_result_name(enum auth_result r);

#endif
