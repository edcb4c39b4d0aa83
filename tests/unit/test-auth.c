/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/auth: argon2id hashing and verification (including
 * malformed hashes), strict base64, SASL PLAIN decoding, the per-address
 * rate limiter with its back-off, auth_login() against a real store in
 * a temporary directory, and the login cache (hits, misses, password
 * change, limiters first, expiry, the entry bound, off).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "auth/auth-private.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void test_password(void **state)
{
	char hash[AUTH_HASH_MAX], hash2[AUTH_HASH_MAX];
	assert_int_equal(auth_password_hash("correct horse", hash, sizeof(hash)), 0);
	assert_true(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	assert_true(auth_password_verify(hash, "correct horse"));
	assert_false(auth_password_verify(hash, "correct horsE"));
	assert_false(auth_password_verify(hash, ""));
	assert_false(auth_password_verify(hash, NULL));
	/* salted: the same password hashes differently */
	assert_int_equal(auth_password_hash("correct horse", hash2, sizeof(hash2)), 0);
	assert_string_not_equal(hash, hash2);
	assert_true(auth_password_verify(hash2, "correct horse"));
	/* an empty password still hashes and verifies */
	assert_int_equal(auth_password_hash("", hash2, sizeof(hash2)), 0);
	assert_true(auth_password_verify(hash2, ""));
	assert_false(auth_password_verify(hash2, "x"));
	/* output too small */
	assert_int_equal(auth_password_hash("x", hash2, 64), -1);
	assert_int_equal(auth_password_hash(NULL, hash2, sizeof(hash2)), -1);
}

static void test_password_malformed(void **state)
{
	char hash[AUTH_HASH_MAX];
	assert_int_equal(auth_password_hash("pw", hash, sizeof(hash)), 0);
	char bad[AUTH_HASH_MAX + 64];
	static const char *const malformed[] = {
		"",
		"pw",
		"$argon2id$",
		"$argon2id$v=19$m=19456,t=2,p=1$",
		"$argon2id$v=19$m=19456,t=2,p=1$!!!!$????",
		"$2y$10$abcdefghijklmnopqrstuuVZ3J8T9vGJ8yP4wBGW0Hc1cqWqP3m2C",
		"{PLAIN}pw",
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_false(auth_password_verify(malformed[i], "pw"));
	assert_false(auth_password_verify(NULL, "pw"));
	/* truncated and tampered versions of a real hash */
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(hash) - 5, hash);
	assert_false(auth_password_verify(bad, "pw"));
	snprintf(bad, sizeof(bad), "%s", hash);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	assert_false(auth_password_verify(bad, "pw"));
	/* an over-long string is refused before libsodium reads it */
	memset(bad, 'A', sizeof(bad) - 1);
	memcpy(bad, "$argon2id$", 10);
	bad[sizeof(bad) - 1] = '\0';
	assert_false(auth_password_verify(bad, "pw"));
}

static void test_base64(void **state)
{
	char out[64];
	assert_int_equal(auth_base64_encode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(auth_base64_encode("f", 1, out, sizeof(out)), 4);
	assert_string_equal(out, "Zg==");
	assert_int_equal(auth_base64_encode("foobar", 6, out, sizeof(out)), 8);
	assert_string_equal(out, "Zm9vYmFy");
	assert_int_equal(auth_base64_encode("foobar", 6, out, 8), -1); /* no room for NUL */

	static const char *const vectors[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	for (size_t i = 0; i < 7; i++) {
		char enc[32], dec[32];
		long n = auth_base64_encode(vectors[i], strlen(vectors[i]), enc, sizeof(enc));
		assert_true(n >= 0);
		assert_int_equal(auth_base64_decode(enc, (size_t)n, dec, sizeof(dec)),
				 (long)strlen(vectors[i]));
		assert_string_equal(dec, vectors[i]);
	}
	/* binary with NULs round-trips */
	unsigned char bin[256];
	char enc[400], dec[300];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	long n = auth_base64_encode(bin, sizeof(bin), enc, sizeof(enc));
	assert_int_equal(n, 344);
	assert_int_equal(auth_base64_decode(enc, (size_t)n, dec, sizeof(dec)), 256);
	assert_memory_equal(dec, bin, 256);

	static const char *const invalid[] = {
		"Zg",         "Zg=",      "Zh==", "Z===",     "Zm9v YmFy", "Zm9vYmFy\r\n",
		"Zm9v\nYmFy", "Zm9v-_Fy", "====", "Zg==Zg==", "Zm9vY",     "*m9v",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (auth_base64_decode(invalid[i], strlen(invalid[i]), out, sizeof(out)) != -1)
			fail_msg("accepted invalid base64 \"%s\"", invalid[i]);
	}
	/* does not fit: 6 bytes need 7 with the NUL */
	assert_int_equal(auth_base64_decode("Zm9vYmFy", 8, out, 6), -1);
	assert_int_equal(auth_base64_decode("Zm9vYmFy", 8, out, 7), 6);
	assert_int_equal(auth_base64_decode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void test_sasl_plain(void **state)
{
	char user[512], pass[512];
	static const char good[] = "\0user@example.com\0secret";
	assert_int_equal(auth_sasl_plain_parse(good, sizeof(good) - 1, user, pass), 0);
	assert_string_equal(user, "user@example.com");
	assert_string_equal(pass, "secret");

	static const char same_authz[] = "user@example.com\0User@Example.com\0pw";
	assert_int_equal(auth_sasl_plain_parse(same_authz, sizeof(same_authz) - 1, user, pass), 0);
	assert_string_equal(user, "User@Example.com");

	static const char other_authz[] = "admin@example.com\0user@example.com\0pw";
	assert_int_equal(auth_sasl_plain_parse(other_authz, sizeof(other_authz) - 1, user, pass),
			 -1);
	static const char no_nul[] = "user@example.com";
	assert_int_equal(auth_sasl_plain_parse(no_nul, sizeof(no_nul) - 1, user, pass), -1);
	static const char one_nul[] = "\0user@example.com";
	assert_int_equal(auth_sasl_plain_parse(one_nul, sizeof(one_nul) - 1, user, pass), -1);
	static const char empty_pass[] = "\0user@example.com\0";
	assert_int_equal(auth_sasl_plain_parse(empty_pass, sizeof(empty_pass) - 1, user, pass), -1);
	static const char empty_user[] = "\0\0secret";
	assert_int_equal(auth_sasl_plain_parse(empty_user, sizeof(empty_user) - 1, user, pass), -1);
	static const char three_nul[] = "\0user\0pass\0word";
	assert_int_equal(auth_sasl_plain_parse(three_nul, sizeof(three_nul) - 1, user, pass), -1);
	assert_int_equal(auth_sasl_plain_parse("", 0, user, pass), -1);
	assert_int_equal(auth_sasl_plain_parse(NULL, 0, user, pass), -1);

	/* 511 bytes fit in 512 with the NUL; 512 do not */
	char msg[1100];
	size_t len = 0;
	msg[len++] = '\0';
	memset(msg + len, 'u', 511);
	len += 511;
	msg[len++] = '\0';
	memset(msg + len, 'p', 511);
	len += 511;
	assert_int_equal(auth_sasl_plain_parse(msg, len, user, pass), 0);
	assert_int_equal(strlen(user), 511);
	assert_int_equal(strlen(pass), 511);
	msg[len++] = 'p';
	assert_int_equal(auth_sasl_plain_parse(msg, len, user, pass), -1);
	memset(msg, 'u', 600);
	msg[600] = '\0';
	msg[601] = 'p';
	assert_int_equal(auth_sasl_plain_parse(msg + 1, 601, user, pass), -1);
}

static void test_ratelimit(void **state)
{
	auth_ratelimit_configure(3, 1);
	const char *ip = "192.0.2.1";
	assert_false(auth_ratelimit_blocked(ip));
	auth_ratelimit_failure(ip);
	auth_ratelimit_failure(ip);
	assert_false(auth_ratelimit_blocked(ip));
	auth_ratelimit_failure(ip);
	assert_true(auth_ratelimit_blocked(ip));
	/* other addresses are not affected */
	assert_false(auth_ratelimit_blocked("192.0.2.2"));
	assert_false(auth_ratelimit_blocked(NULL));

	/* success clears the entry */
	auth_ratelimit_success(ip);
	assert_false(auth_ratelimit_blocked(ip));
	auth_ratelimit_failure(ip);
	auth_ratelimit_failure(ip);
	assert_false(auth_ratelimit_blocked(ip));

	/* failures spread over more than the window do not add up */
	const char *slow = "2001:db8::1";
	auth_ratelimit_failure(slow);
	auth_ratelimit_failure(slow);
	sleep_ms(1100);
	auth_ratelimit_failure(slow);
	assert_false(auth_ratelimit_blocked(slow));
}

static void test_ratelimit_backoff(void **state)
{
	auth_ratelimit_configure(2, 1);
	const char *ip = "198.51.100.7";
	auth_ratelimit_failure(ip);
	auth_ratelimit_failure(ip);
	assert_true(auth_ratelimit_blocked(ip)); /* blocked for 1 s */
	sleep_ms(1100);
	assert_false(auth_ratelimit_blocked(ip));
	/* one more failure right after the block: now 2 s */
	auth_ratelimit_failure(ip);
	assert_true(auth_ratelimit_blocked(ip));
	sleep_ms(1100);
	assert_true(auth_ratelimit_blocked(ip));
	sleep_ms(1000);
	assert_false(auth_ratelimit_blocked(ip));
	/* and 4 s after the next */
	auth_ratelimit_failure(ip);
	sleep_ms(3000);
	assert_true(auth_ratelimit_blocked(ip));
	auth_ratelimit_success(ip);
	assert_false(auth_ratelimit_blocked(ip));
	auth_ratelimit_configure(5, 60);
}

static void test_ratelimit_bounded(void **state)
{
	auth_ratelimit_configure(1, 60);
	char ip[64];
	/* more distinct addresses than the table holds: the oldest go */
	for (int i = 0; i < 70000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		auth_ratelimit_failure(ip);
	}
	assert_false(auth_ratelimit_blocked("10.0.0.0"));
	assert_true(auth_ratelimit_blocked(ip));
	/* over-long keys are truncated, not overflowed */
	char long_ip[300];
	memset(long_ip, '1', sizeof(long_ip) - 1);
	long_ip[sizeof(long_ip) - 1] = '\0';
	auth_ratelimit_failure(long_ip);
	assert_true(auth_ratelimit_blocked(long_ip));
	auth_ratelimit_configure(5, 60);
	assert_false(auth_ratelimit_blocked(ip));
}

/* A store in dir (mkdtemp'd) with example.com and alice@example.com ("s3cret", *hash). */
static struct store *alice_store(char *dir, char hash[AUTH_HASH_MAX], int64_t *id_r)
{
	assert_non_null(mkdtemp(dir));
	struct store *store = NULL;
	const char *error = NULL;
	if (store_open(dir, &store, &error) < 0)
		fail_msg("store_open: %s", error);
	assert_int_equal(store_domain_add(store, "example.com", &error), 0);
	assert_int_equal(auth_password_hash("s3cret", hash, AUTH_HASH_MAX), 0);
	assert_int_equal(store_account_add(store, "alice@example.com", hash, id_r, &error), 0);
	return store;
}

static void test_login(void **state)
{
	char dir[] = "/tmp/facteur-test-auth-XXXXXX";
	const char *error = NULL;
	char hash[AUTH_HASH_MAX];
	int64_t id = 0;
	struct store *store = alice_store(dir, hash, &id);

	auth_ratelimit_configure(3, 60);
	struct store_account acct;
	const char *ip = "127.0.0.2";
	memset(&acct, 0, sizeof(acct));
	assert_int_equal(auth_login(store, ip, "Alice@Example.COM", "s3cret", &acct), AUTH_OK);
	assert_int_equal(acct.id, id);
	assert_string_equal(acct.address, "alice@example.com");

	assert_int_equal(auth_login(store, ip, "alice@example.com", "wrong", &acct), AUTH_FAILED);
	assert_int_equal(auth_login(store, ip, "bob@example.com", "s3cret", &acct), AUTH_FAILED);
	/* a bare user name is not accepted */
	assert_int_equal(auth_login(store, ip, "alice", "s3cret", &acct), AUTH_FAILED);
	/* three failures: blocked, even with the right password */
	assert_int_equal(auth_login(store, ip, "alice@example.com", "s3cret", &acct), AUTH_BLOCKED);
	/* another address still gets in, and a success clears its record */
	assert_int_equal(auth_login(store, "127.0.0.3", "alice@example.com", "", &acct),
			 AUTH_FAILED);
	assert_int_equal(auth_login(store, "127.0.0.3", "alice@example.com", "s3cret", &acct),
			 AUTH_OK);
	assert_int_equal(auth_login(store, "127.0.0.3", NULL, "s3cret", &acct), AUTH_FAILED);
	char long_user[400];
	memset(long_user, 'a', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	long_user[10] = '@';
	assert_int_equal(auth_login(store, "127.0.0.3", long_user, "s3cret", &acct), AUTH_FAILED);

	/* an account with a malformed stored hash never authenticates */
	assert_int_equal(store_account_add(store, "carol@example.com", "garbage", NULL, &error), 0);
	assert_int_equal(auth_login(store, "127.0.0.4", "carol@example.com", "garbage", &acct),
			 AUTH_FAILED);

	store_close(&store);
	auth_ratelimit_configure(5, 60);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The cache itself: what hits, what misses, the LRU bound, expiry, off. */
static void test_login_cache_entries(void **state)
{
	assert_int_equal(auth_cache_configure(60, 3), 0);
	assert_false(auth_cache_hit("a@x.example", "$h1", "pw"));
	auth_cache_remember("a@x.example", "$h1", "pw");
	assert_int_equal(auth_cache_count(), 1);
	assert_true(auth_cache_hit("a@x.example", "$h1", "pw"));
	assert_false(auth_cache_hit("a@x.example", "$h1", "pW"));
	assert_false(auth_cache_hit("a@x.example", "$h1", "pw "));
	assert_false(auth_cache_hit("a@x.example", "$h2", "pw")); /* password changed */
	assert_false(auth_cache_hit("b@x.example", "$h1", "pw"));
	/* the fields are bound apart: moving bytes across them misses */
	auth_cache_remember("c@x.example", "$h", "1pw");
	assert_false(auth_cache_hit("c@x.example", "$h1", "pw"));
	/* bound of 3: the least recently used goes */
	auth_cache_remember("b@x.example", "$h1", "pw");
	assert_true(auth_cache_hit("a@x.example", "$h1", "pw")); /* c is now the oldest */
	auth_cache_remember("d@x.example", "$h1", "pw");
	assert_int_equal(auth_cache_count(), 3);
	assert_false(auth_cache_hit("c@x.example", "$h", "1pw"));
	assert_true(auth_cache_hit("a@x.example", "$h1", "pw"));
	assert_true(auth_cache_hit("b@x.example", "$h1", "pw"));
	assert_true(auth_cache_hit("d@x.example", "$h1", "pw"));
	/* a new login replaces the account's entry (one per account) */
	auth_cache_remember("a@x.example", "$h2", "new");
	assert_int_equal(auth_cache_count(), 3);
	assert_false(auth_cache_hit("a@x.example", "$h1", "pw"));
	assert_true(auth_cache_hit("a@x.example", "$h2", "new"));
	/* nothing kept for an empty address or hash */
	auth_cache_remember("", "$h1", "pw");
	auth_cache_remember("e@x.example", "", "pw");
	assert_false(auth_cache_hit("", "$h1", "pw"));
	assert_false(auth_cache_hit("e@x.example", "", "pw"));

	/* expiry: gone after the TTL, and dropped when looked at */
	assert_int_equal(auth_cache_configure(1, 10), 0);
	assert_int_equal(auth_cache_count(), 0); /* configuring empties it */
	auth_cache_remember("a@x.example", "$h1", "pw");
	assert_true(auth_cache_hit("a@x.example", "$h1", "pw"));
	sleep_ms(1100);
	assert_false(auth_cache_hit("a@x.example", "$h1", "pw"));
	assert_int_equal(auth_cache_count(), 0);

	/* off */
	assert_int_equal(auth_cache_configure(0, 10), 0);
	auth_cache_remember("a@x.example", "$h1", "pw");
	assert_int_equal(auth_cache_count(), 0);
	assert_false(auth_cache_hit("a@x.example", "$h1", "pw"));
}

/* auth_login and auth_check_start with the cache. */
static void test_login_cache(void **state)
{
	char dir[] = "/tmp/facteur-test-authcache-XXXXXX";
	const char *error = NULL;
	char hash[AUTH_HASH_MAX];
	struct store *store = alice_store(dir, hash, NULL);
	/* "garbage" verifies nothing: a login for dave can only succeed from the cache */
	assert_int_equal(store_account_add(store, "dave@example.com", "garbage", NULL, &error), 0);
	auth_ratelimit_configure(3, 60);
	auth_ratelimit_account_configure(20, 60);
	assert_int_equal(auth_cache_configure(60, 100), 0);
	struct store_account acct;
	memset(&acct, 0, sizeof(acct));

	/* a successful check fills the cache; a failed one does not */
	assert_int_equal(auth_login(store, "127.0.1.1", "alice@example.com", "nope", &acct),
			 AUTH_FAILED);
	assert_int_equal(auth_cache_count(), 0);
	assert_int_equal(auth_login(store, "127.0.1.1", "Alice@example.com", "s3cret", &acct),
			 AUTH_OK);
	assert_int_equal(auth_cache_count(), 1);
	assert_true(auth_cache_hit("alice@example.com", hash, "s3cret"));

	/* the cache path of auth_login: dave's "garbage" hash, remembered */
	assert_int_equal(auth_login(store, "127.0.1.1", "dave@example.com", "pw", &acct),
			 AUTH_FAILED);
	auth_cache_remember("dave@example.com", "garbage", "pw");
	memset(&acct, 0, sizeof(acct));
	assert_int_equal(auth_login(store, "127.0.1.1", "DAVE@example.com", "pw", &acct), AUTH_OK);
	assert_string_equal(acct.address, "dave@example.com");
	assert_string_equal(acct.password_hash, "garbage");
	/* ... the same in a pool: final at once, nothing to wait for */
	struct auth_pool *pool = NULL;
	char *perr = NULL;
	assert_int_equal(auth_pool_create(1, 2, &pool, &perr), 0);
	struct auth_check *check = (struct auth_check *)1;
	memset(&acct, 0, sizeof(acct));
	assert_int_equal(auth_check_start(pool, store, "127.0.1.1", "dave@example.com", "pw", NULL,
					  NULL, &check, &acct),
			 AUTH_OK);
	assert_null(check);
	assert_string_equal(acct.address, "dave@example.com");
	/* a wrong password still misses (and the pool hashes it) */
	assert_int_equal(auth_check_start(pool, store, "127.0.1.1", "dave@example.com", "pW", NULL,
					  NULL, &check, &acct),
			 AUTH_PENDING);
	while (auth_check_finish(&check, &acct) == AUTH_PENDING)
		sleep_ms(5);
	assert_null(check);
	auth_pool_destroy(&pool);

	/* the limiters come first: a blocked address is refused despite a hit */
	for (int i = 0; i < 3; i++)
		assert_int_equal(auth_login(store, "127.0.1.2", "dave@example.com", "bad", &acct),
				 AUTH_FAILED);
	assert_int_equal(auth_login(store, "127.0.1.2", "dave@example.com", "pw", &acct),
			 AUTH_BLOCKED);

	/* a password change takes effect at once: the stored hash is in the tag */
	char hash2[AUTH_HASH_MAX];
	assert_int_equal(auth_password_hash("n3w", hash2, sizeof(hash2)), 0);
	assert_int_equal(store_account_set_password(store, "alice@example.com", hash2, &error), 0);
	assert_int_equal(auth_login(store, "127.0.1.3", "alice@example.com", "s3cret", &acct),
			 AUTH_FAILED);
	assert_int_equal(auth_login(store, "127.0.1.3", "alice@example.com", "n3w", &acct),
			 AUTH_OK);
	assert_true(auth_cache_hit("alice@example.com", hash2, "n3w"));
	assert_false(auth_cache_hit("alice@example.com", hash, "s3cret"));

	store_close(&store);
	auth_cache_configure(0, 0);
	auth_ratelimit_configure(5, 60);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_password_malformed),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_sasl_plain),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_ratelimit_backoff),
		cmocka_unit_test(test_ratelimit_bounded),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_login_cache_entries),
		cmocka_unit_test(test_login_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
