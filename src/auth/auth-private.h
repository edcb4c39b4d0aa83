/* SPDX-License-Identifier: MIT */
/*
 * Internals of auth/: one-time libsodium initialisation shared by the
 * password and base64 code, the refusal log lines, and SCRAM's state.
 */
#ifndef FACTEUR_AUTH_PRIVATE_H
#define FACTEUR_AUTH_PRIVATE_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

struct conn_tls_binding;

/* sodium_init() once per process (thread-safe). 0, or -1 if it failed. */
int auth_sodium_init(void);

/* The log lines of a refusal, shared by every mechanism (auth-login.c). */
void auth_log_blocked(const char *ip, const char *limit);
void auth_log_failed(const char *ip, const char *user, const char *why);

/* --- the login cache (auth-cache.c) ------------------------------------------ */

/* An address longer than this is never cached (the byte bound's unit). */
#define AUTH_ADDRESS_MAX 320
/*
 * Did address log in with this password against this stored hash less
 * than the TTL ago? Expired entries go when looked at. false when off.
 */
bool auth_cache_hit(const char *address, const char *hash, const char *password);
/* A verification just succeeded: remember it for the TTL. */
void auth_cache_remember(const char *address, const char *hash, const char *password);
/* Entries held (for tests). */
size_t auth_cache_count(void);

/* --- SCRAM internals (auth-scram.c), here for the unit tests ------------------ */

#define SCRAM_KEY_LEN 32
#define AUTH_SCRAM_USER_MAX 320

struct auth_scram_keys {
	unsigned iterations;
	unsigned char salt[64];
	size_t salt_len;
	unsigned char stored_key[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN];
};

enum auth_scram_state {
	AUTH_SCRAM_FIRST,    /* waiting for client-first-message */
	AUTH_SCRAM_FINAL,    /* server-first sent, waiting for client-final */
	AUTH_SCRAM_VERIFIED, /* proof good, "v=" sent, waiting for the empty answer */
	AUTH_SCRAM_OVER,
};

struct auth_scram {
	enum auth_scram_state state;
	bool plus;                              /* the mechanism is -PLUS */
	const struct conn_tls_binding *binding; /* NULL without TLS */
	const unsigned char *cb_data;           /* the binding the client chose */
	size_t cb_len;
	char ip[64];
	char user[AUTH_SCRAM_USER_MAX];    /* as decoded from n= */
	char address[AUTH_SCRAM_USER_MAX]; /* lower-cased, "" if not an address */
	const char *why;                   /* reason= of a failure */
	const char *why_unknown;           /* ... when the account had no secrets */
	bool known;                        /* account has SCRAM secrets */
	struct store_account account;
	struct auth_scram_keys keys;
	char gs2[AUTH_SCRAM_USER_MAX + 64]; /* gs2-header as received */
	size_t gs2_len;
	char bare[1100]; /* client-first-message-bare */
	size_t bare_len;
	char nonce[256]; /* client nonce, then + server nonce */
	char server_first[400];
	char msg[400]; /* the challenge to send */
	size_t msg_len;
};

/* Salt, StoredKey and ServerKey of password. 0 or -1. */
int auth_scram_keys_derive(const char *password, const unsigned char *salt, size_t salt_len,
			   unsigned iterations, struct auth_scram_keys *k);
/* Parse client-first-message into s (user, nonce, gs2 header). 0 or -1 (s->why). */
int auth_scram_read_first(struct auth_scram *s, const char *in, size_t len);
/* Build server-first-message in s->msg from keys and our nonce. 0 or -1. */
int auth_scram_write_first(struct auth_scram *s, const struct auth_scram_keys *keys,
			   const char *server_nonce);
/* Check client-final-message; on 0, s->msg holds server-final ("v="). -1 (s->why). */
int auth_scram_read_final(struct auth_scram *s, const char *in, size_t len);

#endif
