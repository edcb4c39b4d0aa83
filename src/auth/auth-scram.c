/* SPDX-License-Identifier: MIT */
/*
 * SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802, RFC
 * 7677), with channel binding tls-exporter (RFC 9266) or tls-unique (RFC
 * 5929). The cryptography is OpenSSL's (PBKDF2, HMAC, SHA-256, constant-time
 * comparison); the message syntax is parsed here, strictly. Passwords and
 * user names go through SASLprep (RFC 4013, libidn's stringprep profile)
 * as RFC 5802 2.2 and 5.1 ask, so a password typed with a no-break space,
 * a soft hyphen or in decomposed form gives the same keys as its prepared
 * form, whichever of them the client sends.
 *
 * The server keeps no password: when one is set, auth_scram_secret_make
 * derives salt, iteration count, StoredKey and ServerKey, stored as
 * "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" (base64). Checking
 * a proof then costs two HMACs and one hash, so the exchange runs in the
 * worker; it consults and feeds the same per-address and per-account
 * limiters as auth_check_start. Unknown accounts, and accounts whose
 * password was set before SCRAM secrets existed, get a salt derived from
 * their name with a per-process key and fail at the proof like a wrong
 * password, so the exchange does not reveal which accounts exist.
 */
#include "auth/auth.h"
#include "auth/auth-private.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/conn.h"
#include "store/store.h"

#include <openssl/crypto.h>
#include <stringprep.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCRAM_PREFIX "SCRAM-SHA-256$"
#define SCRAM_SALT_LEN 16
#define SCRAM_NONCE_RAW 18 /* 24 base64 characters */
#define SCRAM_MSG_MAX 1024 /* a client message longer than this is refused */

static unsigned char fake_key[32];
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;
static int fake_status;

static void fake_setup(void)
{
	fake_status = random_bytes(fake_key, sizeof(fake_key));
}

static int hmac(const unsigned char *key, size_t keylen, const void *msg, size_t len,
		unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, len, out, &outlen) == NULL ||
	    outlen != SCRAM_KEY_LEN)
		return -1;
	return 0;
}

static int sha256(const void *msg, size_t len, unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;
	if (EVP_Digest(msg, len, out, &outlen, EVP_sha256(), NULL) != 1 || outlen != SCRAM_KEY_LEN)
		return -1;
	return 0;
}

/* in's SASLprep form, malloc'd (free with prep_free), or NULL. */
static char *saslprep_dup(const char *in)
{
	char *prep = NULL;
	/* Unassigned code points are allowed, as in a query string (RFC 4013
	 * 2.5, RFC 5802 5.1): a password with a newer character must still
	 * derive the keys the client derives. */
	if (stringprep_profile(in, &prep, "SASLprep", 0) != STRINGPREP_OK) {
		free(prep);
		return NULL;
	}
	return prep;
}

static void prep_free(char *prep)
{
	if (prep != NULL) {
		OPENSSL_cleanse(prep, strlen(prep));
		free(prep);
	}
}

int auth_saslprep(const char *in, char *out, size_t outsz)
{
	char *prep = saslprep_dup(in);
	if (prep == NULL)
		return -1;
	size_t n = strlen(prep);
	int ret = n > 0 && n < outsz ? 0 : -1;
	if (ret == 0)
		memcpy(out, prep, n + 1);
	prep_free(prep);
	return ret;
}

int auth_scram_keys_derive(const char *password, const unsigned char *salt, size_t salt_len,
			   unsigned iterations, struct auth_scram_keys *k)
{
	unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	int ret = -1;
	if (salt_len == 0 || salt_len > sizeof(k->salt) || iterations == 0)
		return -1;
	memset(k, 0, sizeof(*k));
	/*
	 * The keys come from the password's SASLprep form, or from its bytes as
	 * given when SASLprep refuses it (a prohibited character, invalid
	 * UTF-8), so that a client which does not prepare still gets in.
	 */
	char *prep = saslprep_dup(password);
	if (prep != NULL && prep[0] != '\0')
		password = prep;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
			      EVP_sha256(), sizeof(salted), salted) == 1 &&
	    hmac(salted, sizeof(salted), "Client Key", 10, client_key) == 0 &&
	    sha256(client_key, sizeof(client_key), k->stored_key) == 0 &&
	    hmac(salted, sizeof(salted), "Server Key", 10, k->server_key) == 0) {
		memcpy(k->salt, salt, salt_len);
		k->salt_len = salt_len;
		k->iterations = iterations;
		ret = 0;
	}
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	prep_free(prep);
	return ret;
}

/* "b64:b64" or "b64$b64" split at sep into two decoded values of fixed size. */
static int decode_exact(const char *in, size_t len, unsigned char *out, size_t outlen)
{
	char tmp[64];
	long n = auth_base64_decode(in, len, tmp, sizeof(tmp));
	if (n < 0 || (size_t)n != outlen)
		return -1;
	memcpy(out, tmp, outlen);
	return 0;
}

int auth_scram_secret_parse(const char *text, struct auth_scram_keys *k)
{
	memset(k, 0, sizeof(*k));
	size_t plen = strlen(SCRAM_PREFIX);
	if (text == NULL || strncmp(text, SCRAM_PREFIX, plen) != 0)
		return -1;
	const char *p = text + plen;
	char *end;
	unsigned long iter = strtoul(p, &end, 10);
	if (end == p || *end != ':' || iter == 0 || iter > 10000000)
		return -1;
	const char *salt = end + 1, *dollar = strchr(salt, '$');
	if (dollar == NULL)
		return -1;
	const char *stored = dollar + 1, *colon = strchr(stored, ':');
	if (colon == NULL)
		return -1;
	char tmp[64];
	long n = auth_base64_decode(salt, (size_t)(dollar - salt), tmp, sizeof(tmp));
	if (n <= 0 || (size_t)n > sizeof(k->salt) ||
	    decode_exact(stored, (size_t)(colon - stored), k->stored_key, SCRAM_KEY_LEN) < 0 ||
	    decode_exact(colon + 1, strlen(colon + 1), k->server_key, SCRAM_KEY_LEN) < 0) {
		memset(k, 0, sizeof(*k));
		return -1;
	}
	memcpy(k->salt, tmp, (size_t)n);
	k->salt_len = (size_t)n;
	k->iterations = (unsigned)iter;
	return 0;
}

int auth_scram_secret_make(const char *password, char *out, size_t outsz)
{
	unsigned char salt[SCRAM_SALT_LEN];
	struct auth_scram_keys k;
	char b_salt[32], b_stored[48], b_server[48];
	if (password == NULL || random_bytes(salt, sizeof(salt)) < 0 ||
	    auth_scram_keys_derive(password, salt, sizeof(salt), AUTH_SCRAM_ITERATIONS, &k) < 0)
		return -1;
	int ret = -1;
	if (auth_base64_encode(salt, sizeof(salt), b_salt, sizeof(b_salt)) >= 0 &&
	    auth_base64_encode(k.stored_key, SCRAM_KEY_LEN, b_stored, sizeof(b_stored)) >= 0 &&
	    auth_base64_encode(k.server_key, SCRAM_KEY_LEN, b_server, sizeof(b_server)) >= 0) {
		int n = snprintf(out, outsz, SCRAM_PREFIX "%u:%s$%s:%s", k.iterations, b_salt,
				 b_stored, b_server);
		ret = n > 0 && (size_t)n < outsz ? 0 : -1;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

int auth_scram_store(struct store *store, const char *address, const char *password,
		     const char **error_r)
{
	char secret[AUTH_SCRAM_SECRET_MAX];
	if (auth_scram_secret_make(password, secret, sizeof(secret)) < 0) {
		*error_r = "SCRAM secret derivation failed";
		return -1;
	}
	int ret = store_account_set_scram(store, address, secret, error_r);
	OPENSSL_cleanse(secret, sizeof(secret));
	return ret;
}

/*
 * Keys that match no password, for names without SCRAM secrets: the salt
 * is the same for a name every time (within this process), as a real one.
 */
static int keys_fake(const char *name, struct auth_scram_keys *k)
{
	pthread_once(&fake_once, fake_setup);
	unsigned char mac[SCRAM_KEY_LEN];
	memset(k, 0, sizeof(*k));
	if (fake_status < 0 || hmac(fake_key, sizeof(fake_key), name, strlen(name), mac) < 0 ||
	    random_bytes(k->stored_key, SCRAM_KEY_LEN) < 0 ||
	    random_bytes(k->server_key, SCRAM_KEY_LEN) < 0)
		return -1;
	memcpy(k->salt, mac, SCRAM_SALT_LEN);
	k->salt_len = SCRAM_SALT_LEN;
	k->iterations = AUTH_SCRAM_ITERATIONS;
	return 0;
}

/* --- messages ----------------------------------------------------------------- */

/*
 * A saslname (RFC 5802 5.1): "=2C" is ',', "=3D" is '=', any other '=',
 * a ',' or a NUL is malformed. Decoded into out (outsz, NUL-terminated).
 */
static int saslname_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t o = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\0' || c == ',')
			return -1;
		if (c == '=') {
			if (i + 2 < len && in[i + 1] == '2' && in[i + 2] == 'C')
				c = ',';
			else if (i + 2 < len && in[i + 1] == '3' && in[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* A nonce: printable ASCII but ','. */
static bool nonce_valid(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	}
	return true;
}

/* The next attribute "x=value" of a message, up to ',' or its end. */
static bool next_attr(const char **p, const char *end, char name, const char **value_r,
		      size_t *len_r)
{
	const char *q = *p;
	if (end - q < 2 || q[0] != name || q[1] != '=')
		return false;
	q += 2;
	const char *comma = memchr(q, ',', (size_t)(end - q));
	const char *stop = comma != NULL ? comma : end;
	*value_r = q;
	*len_r = (size_t)(stop - q);
	*p = comma != NULL ? comma + 1 : end;
	return true;
}

/* Channel-binding data for a cb-name on this connection, or NULL. */
static const unsigned char *binding_data(const struct conn_tls_binding *b, const char *name,
					 size_t len, size_t *len_r)
{
	if (b == NULL)
		return NULL;
	if (len == 12 && memcmp(name, "tls-exporter", 12) == 0 && b->exporter_len > 0) {
		*len_r = b->exporter_len;
		return b->exporter;
	}
	if (len == 10 && memcmp(name, "tls-unique", 10) == 0 && b->unique_len > 0) {
		*len_r = b->unique_len;
		return b->unique;
	}
	return NULL;
}

bool auth_scram_plus_available(const struct conn_tls_binding *b)
{
	return b != NULL && (b->exporter_len > 0 || b->unique_len > 0);
}

int auth_scram_read_first(struct auth_scram *s, const char *in, size_t len)
{
	const char *p = in, *end = in + len;
	s->why = "malformed";
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(in, '\0', len) != NULL)
		return -1;
	/* gs2-cbind-flag */
	if (*p == 'p') {
		const char *name;
		size_t nlen;
		if (!next_attr(&p, end, 'p', &name, &nlen) || nlen == 0)
			return -1;
		s->why = "bad_binding";
		if (!s->plus)
			return -1; /* RFC 5802 6: "p" with a non-PLUS mechanism */
		s->cb_data = binding_data(s->binding, name, nlen, &s->cb_len);
		if (s->cb_data == NULL)
			return -1; /* unsupported channel binding type */
	} else if ((*p == 'n' || *p == 'y') && p + 1 < end && p[1] == ',') {
		s->why = "bad_binding";
		if (s->plus)
			return -1;
		/* "y": the client could bind but thinks we cannot; we offered -PLUS. */
		if (*p == 'y' && auth_scram_plus_available(s->binding))
			return -1;
		p += 2;
	} else {
		return -1;
	}
	s->why = "malformed";
	/* [ authzid ] "," */
	char authzid[AUTH_SCRAM_USER_MAX] = "";
	if (p < end && *p == 'a') {
		const char *v;
		size_t vlen;
		char raw[AUTH_SCRAM_USER_MAX];
		if (!next_attr(&p, end, 'a', &v, &vlen) ||
		    saslname_decode(v, vlen, raw, sizeof(raw)) < 0 ||
		    auth_saslprep(raw, authzid, sizeof(authzid)) < 0)
			return -1;
	} else if (p < end && *p == ',') {
		p++;
	} else {
		return -1;
	}
	s->gs2_len = (size_t)(p - in);
	if (s->gs2_len > sizeof(s->gs2))
		return -1;
	memcpy(s->gs2, in, s->gs2_len);
	/* client-first-message-bare: n=user,r=nonce[,ext]; "m=" is refused. */
	const char *bare = p, *v;
	size_t vlen;
	char raw[AUTH_SCRAM_USER_MAX];
	if (!next_attr(&p, end, 'n', &v, &vlen) || saslname_decode(v, vlen, raw, sizeof(raw)) < 0 ||
	    auth_saslprep(raw, s->user, sizeof(s->user)) < 0)
		return -1; /* RFC 5802 5.1: a name SASLprep refuses ends the exchange */
	if (!next_attr(&p, end, 'r', &v, &vlen) || !nonce_valid(v, vlen) ||
	    vlen >= sizeof(s->nonce) / 2)
		return -1;
	memcpy(s->nonce, v, vlen);
	s->nonce[vlen] = '\0';
	s->bare_len = (size_t)(end - bare);
	memcpy(s->bare, bare, s->bare_len);
	s->bare[s->bare_len] = '\0';
	/* authzid: acting as another account is not supported */
	if (authzid[0] != '\0' && strcasecmp(authzid, s->user) != 0) {
		s->why = "bad_authzid";
		return -1;
	}
	return 0;
}

int auth_scram_write_first(struct auth_scram *s, const struct auth_scram_keys *keys,
			   const char *server_nonce)
{
	char b_salt[64];
	size_t have = strlen(s->nonce);
	if (strlen(server_nonce) + have >= sizeof(s->nonce) ||
	    auth_base64_encode(keys->salt, keys->salt_len, b_salt, sizeof(b_salt)) < 0)
		return -1;
	memcpy(s->nonce + have, server_nonce, strlen(server_nonce) + 1);
	s->keys = *keys;
	int n = snprintf(s->msg, sizeof(s->msg), "r=%s,s=%s,i=%u", s->nonce, b_salt,
			 keys->iterations);
	if (n < 0 || (size_t)n >= sizeof(s->msg))
		return -1;
	s->msg_len = (size_t)n;
	memcpy(s->server_first, s->msg, s->msg_len + 1);
	return 0;
}

int auth_scram_read_final(struct auth_scram *s, const char *in, size_t len)
{
	const char *p = in, *end = in + len, *v;
	size_t vlen;
	s->why = "malformed";
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(in, '\0', len) != NULL)
		return -1;
	/* c= base64(gs2-header [cb-data]) */
	unsigned char expect[sizeof(s->gs2) + 64], got[sizeof(expect) + 4];
	size_t elen = s->gs2_len + s->cb_len;
	memcpy(expect, s->gs2, s->gs2_len);
	if (s->cb_len > 0)
		memcpy(expect + s->gs2_len, s->cb_data, s->cb_len);
	if (!next_attr(&p, end, 'c', &v, &vlen))
		return -1;
	long n = auth_base64_decode(v, vlen, (char *)got, sizeof(got));
	if (n < 0)
		return -1;
	if ((size_t)n != elen || CRYPTO_memcmp(got, expect, elen) != 0) {
		s->why = "bad_binding";
		return -1;
	}
	if (!next_attr(&p, end, 'r', &v, &vlen))
		return -1;
	if (vlen != strlen(s->nonce) || memcmp(v, s->nonce, vlen) != 0) {
		s->why = "bad_nonce";
		return -1;
	}
	/* extensions, then p= last */
	const char *proof_attr = NULL;
	while (p < end) {
		if (end - p >= 2 && p[0] == 'p' && p[1] == '=') {
			proof_attr = p;
			break;
		}
		const char *comma = memchr(p, ',', (size_t)(end - p));
		if (end - p < 2 || p[1] != '=' || comma == NULL)
			return -1;
		p = comma + 1;
	}
	unsigned char proof[SCRAM_KEY_LEN];
	if (proof_attr == NULL || !next_attr(&p, end, 'p', &v, &vlen) || p != end ||
	    memchr(v, ',', vlen) != NULL || decode_exact(v, vlen, proof, sizeof(proof)) < 0)
		return -1;
	/* AuthMessage = bare "," server-first "," final-without-proof */
	size_t without = (size_t)(proof_attr - 1 - in);
	size_t am_len = s->bare_len + 1 + strlen(s->server_first) + 1 + without;
	char *am = xmalloc(am_len + 1);
	snprintf(am, am_len + 1, "%s,%s,%.*s", s->bare, s->server_first, (int)without, in);
	unsigned char sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	unsigned char server_sig[SCRAM_KEY_LEN];
	int ret = -1;
	if (hmac(s->keys.stored_key, SCRAM_KEY_LEN, am, am_len, sig) == 0 &&
	    hmac(s->keys.server_key, SCRAM_KEY_LEN, am, am_len, server_sig) == 0) {
		for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
			client_key[i] = proof[i] ^ sig[i];
		if (sha256(client_key, sizeof(client_key), stored) == 0 &&
		    CRYPTO_memcmp(stored, s->keys.stored_key, SCRAM_KEY_LEN) == 0)
			ret = 0;
	}
	s->why = "bad_proof";
	free(am);
	if (ret == 0) {
		char b64[64];
		if (auth_base64_encode(server_sig, sizeof(server_sig), b64, sizeof(b64)) < 0)
			ret = -1;
		else
			s->msg_len = (size_t)snprintf(s->msg, sizeof(s->msg), "v=%s", b64);
	}
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(sig, sizeof(sig));
	return ret;
}

/* --- the exchange with the store and the limiters -------------------------------- */

struct auth_scram *auth_scram_create(const char *ip, bool plus,
				     const struct conn_tls_binding *binding)
{
	struct auth_scram *s = xcalloc(1, sizeof(*s));
	snprintf(s->ip, sizeof(s->ip), "%s", ip != NULL ? ip : "");
	s->plus = plus;
	s->binding = binding;
	return s;
}

void auth_scram_destroy(struct auth_scram **s)
{
	if (*s == NULL)
		return;
	OPENSSL_cleanse(*s, sizeof(**s));
	free(*s);
	*s = NULL;
}

const char *auth_scram_user(const struct auth_scram *s)
{
	return s->user;
}

/* A failed step: counted and logged like a wrong password. */
static enum auth_result scram_fail(struct auth_scram *s)
{
	auth_ratelimit_failure(s->ip);
	if (s->address[0] != '\0')
		auth_ratelimit_account_failure(s->address);
	auth_log_failed(s->ip, s->address[0] != '\0' ? s->address : s->user, s->why);
	s->state = AUTH_SCRAM_OVER;
	return AUTH_FAILED;
}

/* The client's first message: look the account up, answer with the salt. */
static enum auth_result scram_first(struct auth_scram *s, struct store *store, const char *in,
				    size_t len)
{
	if (auth_ratelimit_blocked(s->ip)) {
		auth_log_blocked(s->ip, "address");
		return AUTH_BLOCKED;
	}
	if (auth_scram_read_first(s, in, len) < 0)
		return scram_fail(s);
	struct auth_scram_keys keys;
	size_t ulen = strlen(s->user);
	s->known = false;
	if (ulen < sizeof(s->address) && strchr(s->user, '@') != NULL) {
		memcpy(s->address, s->user, ulen + 1);
		str_lower(s->address);
		if (auth_ratelimit_account_blocked(s->address)) {
			auth_log_blocked(s->ip, "account");
			return AUTH_BLOCKED;
		}
		int ret = store_account_get(store, s->address, &s->account);
		if (ret < 0) {
			log_error("auth_store_error", "op=account_get");
			return AUTH_ERROR;
		}
		s->known = ret > 0 && auth_scram_secret_parse(s->account.scram, &keys) == 0;
		s->why_unknown = ret == 0 ? "unknown_user" : "no_scram_secret";
	} else {
		s->why_unknown = "bad_user";
	}
	unsigned char raw[SCRAM_NONCE_RAW];
	char nonce[32];
	if ((!s->known && keys_fake(s->address[0] != '\0' ? s->address : s->user, &keys) < 0) ||
	    random_bytes(raw, sizeof(raw)) < 0 ||
	    auth_base64_encode(raw, sizeof(raw), nonce, sizeof(nonce)) < 0 ||
	    auth_scram_write_first(s, &keys, nonce) < 0) {
		OPENSSL_cleanse(&keys, sizeof(keys));
		return AUTH_ERROR;
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	s->state = AUTH_SCRAM_FINAL;
	return AUTH_PENDING;
}

enum auth_result auth_scram_step(struct auth_scram *s, struct store *store, const char *in,
				 size_t len, const char **challenge_r, size_t *challenge_len_r,
				 struct store_account *account_r)
{
	enum auth_result r = AUTH_FAILED;
	*challenge_r = NULL;
	*challenge_len_r = 0;
	switch (s->state) {
	case AUTH_SCRAM_FIRST:
		r = scram_first(s, store, in, len);
		break;
	case AUTH_SCRAM_FINAL:
		/* Blocked meanwhile (a parallel guesser): refuse before checking. */
		if (auth_ratelimit_blocked(s->ip)) {
			auth_log_blocked(s->ip, "address");
			r = AUTH_BLOCKED;
		} else if (auth_scram_read_final(s, in, len) < 0 || !s->known) {
			/* A proof cannot match made-up keys: say why there were no real ones. */
			if (!s->known && strcmp(s->why, "bad_proof") == 0)
				s->why = s->why_unknown;
			r = scram_fail(s);
		} else {
			auth_ratelimit_success(s->ip);
			s->state = AUTH_SCRAM_VERIFIED;
			r = AUTH_PENDING;
		}
		break;
	case AUTH_SCRAM_VERIFIED:
		/* The answer to our "v=": empty (RFC 5802: no further data). */
		if (len != 0) {
			s->why = "malformed";
			r = scram_fail(s);
		} else {
			*account_r = s->account;
			s->state = AUTH_SCRAM_OVER;
			return AUTH_OK;
		}
		break;
	case AUTH_SCRAM_OVER:
		break;
	}
	if (r == AUTH_PENDING) {
		*challenge_r = s->msg;
		*challenge_len_r = s->msg_len;
	} else {
		s->state = AUTH_SCRAM_OVER;
	}
	return r;
}

enum auth_result auth_scram_step_b64(struct auth_scram *s, struct store *store, const char *b64,
				     size_t len, char *challenge_r, size_t size,
				     struct store_account *account_r)
{
	char raw[SCRAM_MSG_MAX + 4];
	const char *ch;
	size_t chlen;
	challenge_r[0] = '\0';
	if (len == 1 && b64[0] == '=')
		len = 0; /* an empty initial response (RFC 4959, RFC 4954) */
	long n = len > 0 ? auth_base64_decode(b64, len, raw, sizeof(raw)) : 0;
	if (n < 0) {
		s->why = "malformed";
		return scram_fail(s);
	}
	enum auth_result r = auth_scram_step(s, store, raw, (size_t)n, &ch, &chlen, account_r);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (r == AUTH_PENDING && auth_base64_encode(ch, chlen, challenge_r, size) < 0)
		return AUTH_ERROR;
	return r;
}

enum auth_result auth_scram_feed(struct auth_scram **s, struct auth_scram_io *io, const char *ip,
				 const struct conn_tls_binding *binding, struct store *store,
				 struct store_account *account_r)
{
	if (io->start) {
		auth_scram_destroy(s);
		*s = auth_scram_create(ip, io->plus, binding);
	}
	if (*s == NULL)
		return AUTH_FAILED;
	enum auth_result r = auth_scram_step_b64(*s, store, io->in, strlen(io->in), io->challenge,
						 sizeof(io->challenge), account_r);
	size_t n = strnlen((*s)->user, sizeof(io->user) - 1); /* cut: it is for the log */
	memcpy(io->user, (*s)->user, n);
	io->user[n] = '\0';
	if (r != AUTH_PENDING)
		auth_scram_destroy(s);
	return r;
}
