/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for SCRAM-SHA-256(-PLUS) (src/auth/auth-scram.c): the RFC 7677
 * test vector through the message functions, the stored secret format,
 * and whole exchanges against a real store with a client computed here
 * from OpenSSL's primitives: right and wrong passwords, unknown accounts
 * and accounts without secrets, bad nonces and proofs, channel binding
 * (right, wrong, "y" downgrade, "p" without -PLUS), malformed messages and
 * the limiters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "net/conn.h"
#include "store/store.h"
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_rfc7677_vector(void **state)
{
	unsigned char salt[32];
	assert_int_equal(
		auth_base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, (char *)salt, sizeof(salt)), 16);
	struct auth_scram_keys k;
	assert_int_equal(auth_scram_keys_derive("pencil", salt, 16, 4096, &k), 0);
	struct auth_scram *s = auth_scram_create("127.0.0.1", false, NULL);
	const char *first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	assert_int_equal(auth_scram_read_first(s, first, strlen(first)), 0);
	assert_string_equal(auth_scram_user(s), "user");
	assert_int_equal(auth_scram_write_first(s, &k, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"), 0);
	assert_string_equal(s->msg,
			    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	/* a flipped bit of the proof, then a wrong nonce, then the real one */
	const char *bad = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=";
	assert_int_equal(auth_scram_read_final(s, bad, strlen(bad)), -1);
	assert_string_equal(s->why, "bad_proof");
	const char *nonce = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,"
			    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	assert_int_equal(auth_scram_read_final(s, nonce, strlen(nonce)), -1);
	assert_string_equal(s->why, "bad_nonce");
	const char *final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	assert_int_equal(auth_scram_read_final(s, final, strlen(final)), 0);
	assert_string_equal(s->msg, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	auth_scram_destroy(&s);
	assert_null(s);
}

/* SASLprep (RFC 4013): the RFC's own examples, then what it does to keys. */
static void test_saslprep(void **state)
{
	char out[64];
	assert_int_equal(auth_saslprep("I\xC2\xADX", out, sizeof(out)), 0); /* soft hyphen */
	assert_string_equal(out, "IX");
	assert_int_equal(auth_saslprep("user", out, sizeof(out)), 0);
	assert_string_equal(out, "user");
	assert_int_equal(auth_saslprep("USER", out, sizeof(out)), 0); /* no case folding */
	assert_string_equal(out, "USER");
	assert_int_equal(auth_saslprep("\xC2\xAA", out, sizeof(out)), 0); /* NFKC */
	assert_string_equal(out, "a");
	assert_int_equal(auth_saslprep("\xE2\x85\xA8", out, sizeof(out)), 0); /* roman nine */
	assert_string_equal(out, "IX");
	assert_int_equal(auth_saslprep("a\xC2\xA0"
				       "b",
				       out, sizeof(out)),
			 0); /* no-break space */
	assert_string_equal(out, "a b");
	assert_int_equal(auth_saslprep("e\xCC\x81", out, sizeof(out)), 0); /* composed */
	assert_string_equal(out, "\xC3\xA9");
	assert_int_equal(auth_saslprep("\x07", out, sizeof(out)), -1); /* prohibited */
	assert_int_equal(auth_saslprep("\xD8\xA7"
				       "1",
				       out, sizeof(out)),
			 -1);                                              /* bidi rule */
	assert_int_equal(auth_saslprep("\xC2\xAD", out, sizeof(out)), -1); /* empty */
	assert_int_equal(auth_saslprep("\xFF\xFE", out, sizeof(out)), -1); /* not UTF-8 */
	assert_int_equal(auth_saslprep("abcdef", out, 4), -1);             /* too long */

	/* Keys: every spelling of a password gives the prepared one's keys. */
	const unsigned char salt[16] = "0123456789abcdef";
	struct auth_scram_keys a, b;
	assert_int_equal(auth_scram_keys_derive("caf\xC3\xA9 cr\xC3\xA8"
						"me",
						salt, 16, 100, &a),
			 0);
	assert_int_equal(auth_scram_keys_derive("cafe\xCC\x81\xC2\xA0"
						"cre\xCC\x80\xC2\xAD"
						"me",
						salt, 16, 100, &b),
			 0);
	assert_memory_equal(a.stored_key, b.stored_key, sizeof(a.stored_key));
	assert_memory_equal(a.server_key, b.server_key, sizeof(a.server_key));
	/* SASLprep refuses a control character: the bytes as given are used. */
	assert_int_equal(auth_scram_keys_derive("a\x07", salt, 16, 100, &a), 0);
	assert_int_equal(auth_scram_keys_derive("a", salt, 16, 100, &b), 0);
	assert_memory_not_equal(a.stored_key, b.stored_key, sizeof(a.stored_key));

	/* User names are prepared; one SASLprep refuses ends the exchange. */
	struct auth_scram *s = auth_scram_create("127.0.0.1", false, NULL);
	const char *first = "n,,n=us\xC2\xAD"
			    "er,r=abcdef";
	assert_int_equal(auth_scram_read_first(s, first, strlen(first)), 0);
	assert_string_equal(auth_scram_user(s), "user");
	auth_scram_destroy(&s);
	s = auth_scram_create("127.0.0.1", false, NULL);
	first = "n,,n=us\x07"
		"er,r=abcdef";
	assert_int_equal(auth_scram_read_first(s, first, strlen(first)), -1);
	auth_scram_destroy(&s);
}

static void test_secret_format(void **state)
{
	char a[AUTH_SCRAM_SECRET_MAX], b[AUTH_SCRAM_SECRET_MAX];
	assert_int_equal(auth_scram_secret_make("pencil", a, sizeof(a)), 0);
	assert_int_equal(auth_scram_secret_make("pencil", b, sizeof(b)), 0);
	assert_true(strncmp(a, "SCRAM-SHA-256$10000:", 20) == 0);
	assert_string_not_equal(a, b); /* salted */
	assert_null(strstr(a, "pencil"));
	struct auth_scram_keys k, d;
	assert_int_equal(auth_scram_secret_parse(a, &k), 0);
	assert_int_equal(k.iterations, AUTH_SCRAM_ITERATIONS);
	assert_int_equal(k.salt_len, 16);
	assert_int_equal(auth_scram_keys_derive("pencil", k.salt, k.salt_len, k.iterations, &d), 0);
	assert_memory_equal(k.stored_key, d.stored_key, 32);
	assert_memory_equal(k.server_key, d.server_key, 32);
	const char *bad[] = {"", "SCRAM-SHA-256$", "SCRAM-SHA-256$0:AAAA$AAAA:AAAA",
			     "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$x:y",
			     "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(auth_scram_secret_parse(bad[i], &k), -1);
	/* too small an output */
	assert_int_equal(auth_scram_secret_make("pencil", a, 40), -1);
}

/* --- a client, from OpenSSL's primitives ---------------------------------------- */

struct client {
	char first[1024]; /* client-first-message */
	char bare[256];
	char gs2[128];
	const unsigned char *cb;
	size_t cb_len;
};

static void b64(const void *in, size_t len, char *out, size_t outsz)
{
	assert_true(auth_base64_encode(in, len, out, outsz) >= 0);
}

static void client_first(struct client *c, const char *gs2, const char *user)
{
	snprintf(c->gs2, sizeof(c->gs2), "%s", gs2);
	snprintf(c->bare, sizeof(c->bare), "n=%s,r=fyko+d2lbbFgONRv9qkxdawL", user);
	snprintf(c->first, sizeof(c->first), "%s%s", gs2, c->bare);
}

/* client-final-message for server_first with password (nonce_tweak: change the nonce). */
static void client_final(struct client *c, const char *server_first, const char *password,
			 bool nonce_tweak, char *out, size_t outsz)
{
	char nonce[256], salt_b64[128];
	unsigned iter = 0;
	assert_int_equal(sscanf(server_first, "r=%255[^,],s=%127[^,],i=%u", nonce, salt_b64, &iter),
			 3);
	if (nonce_tweak)
		nonce[strlen(nonce) - 1] ^= 1;
	unsigned char salt[64], salted[32], ck[32], sk[32], sig[32], proof[32];
	long sl = auth_base64_decode(salt_b64, strlen(salt_b64), (char *)salt, sizeof(salt));
	assert_true(sl > 0);
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)sl,
					   (int)iter, EVP_sha256(), 32, salted),
			 1);
	unsigned int n = 0;
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, ck, &n);
	EVP_Digest(ck, 32, sk, &n, EVP_sha256(), NULL);
	unsigned char cbind[256];
	memcpy(cbind, c->gs2, strlen(c->gs2));
	if (c->cb_len > 0)
		memcpy(cbind + strlen(c->gs2), c->cb, c->cb_len);
	char cbind_b64[400], without[800], am[2048], proof_b64[64];
	b64(cbind, strlen(c->gs2) + c->cb_len, cbind_b64, sizeof(cbind_b64));
	snprintf(without, sizeof(without), "c=%s,r=%s", cbind_b64, nonce);
	snprintf(am, sizeof(am), "%s,%s,%s", c->bare, server_first, without);
	HMAC(EVP_sha256(), sk, 32, (unsigned char *)am, strlen(am), sig, &n);
	for (int i = 0; i < 32; i++)
		proof[i] = ck[i] ^ sig[i];
	b64(proof, 32, proof_b64, sizeof(proof_b64));
	snprintf(out, outsz, "%s,p=%s", without, proof_b64);
}

struct env {
	struct tu_fixture *f;
	struct conn_tls_binding tls;
};

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->f = tu_fixture_create("scram", true);
	assert_non_null(e->f);
	char hash[AUTH_HASH_MAX];
	const char *err = NULL;
	assert_int_equal(auth_password_hash("pencil", hash, sizeof(hash)), 0);
	assert_int_equal(store_account_set_password(e->f->store, "a@example.org", hash, &err), 0);
	assert_int_equal(auth_scram_store(e->f->store, "a@example.org", "pencil", &err), 0);
	/* b@: password set, but no SCRAM secrets (as before the migration) */
	assert_int_equal(store_account_add(e->f->store, "b@example.org", hash, NULL, &err), 0);
	memset(e->tls.exporter, 0x5a, sizeof(e->tls.exporter));
	e->tls.exporter_len = 32;
	auth_ratelimit_configure(1000, 60);
	auth_ratelimit_account_configure(1000, 60);
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;
	tu_fixture_destroy(&e->f);
	free(e);
	auth_ratelimit_configure(5, 60);
	auth_ratelimit_account_configure(0, 60);
	return 0;
}

/*
 * One whole exchange; returns the final result. *user_r gets the salt
 * line (server-first) when asked.
 */
static enum auth_result exchange(struct env *e, const char *ip, bool plus,
				 const struct conn_tls_binding *tls, struct client *c,
				 const char *password, bool nonce_tweak, char *server_first_r)
{
	struct auth_scram *s = auth_scram_create(ip, plus, tls);
	const char *ch;
	size_t chlen;
	struct store_account acct;
	memset(&acct, 0, sizeof(acct));
	enum auth_result r =
		auth_scram_step(s, e->f->store, c->first, strlen(c->first), &ch, &chlen, &acct);
	if (r == AUTH_PENDING) {
		char sf[512], final[1024];
		snprintf(sf, sizeof(sf), "%.*s", (int)chlen, ch);
		if (server_first_r != NULL)
			strcpy(server_first_r, sf);
		client_final(c, sf, password, nonce_tweak, final, sizeof(final));
		r = auth_scram_step(s, e->f->store, final, strlen(final), &ch, &chlen, &acct);
		if (r == AUTH_PENDING) {
			assert_true(chlen > 2 && strncmp(ch, "v=", 2) == 0);
			r = auth_scram_step(s, e->f->store, "", 0, &ch, &chlen, &acct);
			if (r == AUTH_OK)
				assert_string_equal(acct.address, "a@example.org");
		}
	}
	auth_scram_destroy(&s);
	return r;
}

static void test_exchange(void **state)
{
	struct env *e = *state;
	struct client c = {0};
	char sf1[512], sf2[512];
	client_first(&c, "n,,", "A@example.org");
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", false, NULL), AUTH_OK);
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil!", false, NULL),
			 AUTH_FAILED);
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", true, NULL),
			 AUTH_FAILED);
	/* an authzid naming the same account is fine, another is not */
	client_first(&c, "n,a=a@example.org,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", false, NULL), AUTH_OK);
	client_first(&c, "n,a=b@example.org,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	/* unknown account: a stable salt, then a failure */
	client_first(&c, "n,,", "nobody@example.org");
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", false, sf1),
			 AUTH_FAILED);
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", false, sf2),
			 AUTH_FAILED);
	assert_string_equal(strstr(sf1, ",s="), strstr(sf2, ",s="));
	/* no secrets: the right password still fails */
	client_first(&c, "n,,", "b@example.org");
	assert_int_equal(exchange(e, "10.0.0.1", false, NULL, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	/* setting the password makes them; set_password alone forgets them */
	const char *err = NULL;
	assert_int_equal(auth_scram_store(e->f->store, "b@example.org", "pencil", &err), 0);
	struct store_account acct;
	assert_int_equal(store_account_get(e->f->store, "b@example.org", &acct), 1);
	assert_true(strncmp(acct.scram, "SCRAM-SHA-256$", 14) == 0);
	assert_int_equal(
		store_account_set_password(e->f->store, "b@example.org", acct.password_hash, &err),
		0);
	assert_int_equal(store_account_get(e->f->store, "b@example.org", &acct), 1);
	assert_string_equal(acct.scram, "");
}

static void test_binding(void **state)
{
	struct env *e = *state;
	struct client c = {0};
	/* -PLUS with tls-exporter */
	client_first(&c, "p=tls-exporter,,", "a@example.org");
	c.cb = e->tls.exporter;
	c.cb_len = 32;
	assert_int_equal(exchange(e, "10.0.0.2", true, &e->tls, &c, "pencil", false, NULL),
			 AUTH_OK);
	/* the wrong binding data (another TLS session) */
	unsigned char other[32];
	memset(other, 0x5b, sizeof(other));
	c.cb = other;
	assert_int_equal(exchange(e, "10.0.0.2", true, &e->tls, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	/* a type this connection lacks (tls-unique on TLS 1.3), an unknown one */
	client_first(&c, "p=tls-unique,,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.2", true, &e->tls, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	client_first(&c, "p=tls-server-end-point,,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.2", true, &e->tls, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	/* tls-unique where there is one (TLS 1.2) */
	struct conn_tls_binding t12 = {0};
	memset(t12.unique, 0x33, 12);
	t12.unique_len = 12;
	c.cb = t12.unique;
	c.cb_len = 12;
	client_first(&c, "p=tls-unique,,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.2", true, &t12, &c, "pencil", false, NULL), AUTH_OK);
	/* -PLUS without TLS, "p" with the plain mechanism */
	assert_int_equal(exchange(e, "10.0.0.2", true, NULL, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	assert_int_equal(exchange(e, "10.0.0.2", false, &t12, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	/* "y": the client could bind but thinks we cannot, and we offered -PLUS */
	c.cb_len = 0;
	client_first(&c, "y,,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.2", false, &e->tls, &c, "pencil", false, NULL),
			 AUTH_FAILED);
	/* ... but without TLS "y" is right */
	assert_int_equal(exchange(e, "10.0.0.2", false, NULL, &c, "pencil", false, NULL), AUTH_OK);
	/* a plain exchange on TLS, "n" */
	client_first(&c, "n,,", "a@example.org");
	assert_int_equal(exchange(e, "10.0.0.2", false, &e->tls, &c, "pencil", false, NULL),
			 AUTH_OK);
}

static void test_malformed(void **state)
{
	struct env *e = *state;
	const char *firsts[] = {
		"",
		"x,,n=a@example.org,r=abc",
		"n,n=a@example.org,r=abc",
		"n,,r=abc",
		"n,,n=a@example.org",
		"n,,n=a@example.org,r=",
		"n,,n=a@example.org,r=a b",
		"n,,n=a=2Xb@example.org,r=abc",
		"n,,n=,r=abc",
		"n,,m=ext,n=a@example.org,r=abc",
		"p=,,n=a@example.org,r=abc",
		"n,,n=a@example.org\0,r=abc",
	};
	for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
		struct auth_scram *s = auth_scram_create("10.0.0.3", false, NULL);
		const char *ch = "x";
		size_t chlen = 1;
		struct store_account acct;
		size_t len = i == 11 ? 30 : strlen(firsts[i]);
		assert_int_equal(
			auth_scram_step(s, e->f->store, firsts[i], len, &ch, &chlen, &acct),
			AUTH_FAILED);
		assert_null(ch);
		auth_scram_destroy(&s);
	}
	/* finals: structure errors after a good first message */
	const char *finals[] = {
		"",
		"r=x,p=AAAA",
		"c=biws",
		"c=biws,r=%s",
		"c=biws,r=%s,p=AAAA",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=y",
		"c=bi,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=eSws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	};
	for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
		struct auth_scram *s = auth_scram_create("10.0.0.3", false, NULL);
		const char *ch;
		size_t chlen;
		struct store_account acct;
		const char *first = "n,,n=a@example.org,r=abc";
		assert_int_equal(
			auth_scram_step(s, e->f->store, first, strlen(first), &ch, &chlen, &acct),
			AUTH_PENDING);
		char nonce[128], final[512];
		assert_int_equal(sscanf(ch, "r=%127[^,]", nonce), 1);
		snprintf(final, sizeof(final), finals[i], nonce);
		assert_int_equal(
			auth_scram_step(s, e->f->store, final, strlen(final), &ch, &chlen, &acct),
			AUTH_FAILED);
		/* over: anything more fails */
		assert_int_equal(auth_scram_step(s, e->f->store, "", 0, &ch, &chlen, &acct),
				 AUTH_FAILED);
		auth_scram_destroy(&s);
	}
}

static void test_limiters(void **state)
{
	struct env *e = *state;
	struct client c = {0};
	auth_ratelimit_configure(3, 60);
	client_first(&c, "n,,", "a@example.org");
	for (int i = 0; i < 3; i++)
		assert_int_equal(exchange(e, "10.0.0.9", false, NULL, &c, "wrong", false, NULL),
				 AUTH_FAILED);
	/* blocked, even with the right password; another address is not */
	assert_int_equal(exchange(e, "10.0.0.9", false, NULL, &c, "pencil", false, NULL),
			 AUTH_BLOCKED);
	assert_int_equal(exchange(e, "10.0.0.10", false, NULL, &c, "pencil", false, NULL), AUTH_OK);
	/* per account: failures from many addresses block it for all */
	auth_ratelimit_configure(1000, 60);
	auth_ratelimit_account_configure(4, 60);
	char ip[32];
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "10.1.0.%d", i);
		assert_int_equal(exchange(e, ip, false, NULL, &c, "wrong", false, NULL),
				 AUTH_FAILED);
	}
	assert_int_equal(exchange(e, "10.2.0.1", false, NULL, &c, "pencil", false, NULL),
			 AUTH_BLOCKED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_vector),
		cmocka_unit_test(test_secret_format),
		cmocka_unit_test(test_saslprep),
		cmocka_unit_test_setup_teardown(test_exchange, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_binding, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_malformed, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_limiters, env_setup, env_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
