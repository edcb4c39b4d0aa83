/* SPDX-License-Identifier: MIT */
/* Unit tests for src/lib: buffers, sanitising, configuration parsing, the LRU map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/lru.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_buf(void **state)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%04d", i);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.data + 3996, "0999", 4);
	buf_consume(&b, 3990);
	assert_int_equal(b.len, 10);
	assert_string_equal(buf_cstr(&b), "9709980999");
	buf_clear(&b);
	assert_int_equal(buf_find_lf(&b), -1);
	buf_append_str(&b, "abc\r\ndef");
	assert_int_equal(buf_find_lf(&b), 4);
	/* A size no allocation can meet fails, the buffer as it was. */
	assert_int_equal(buf_try_reserve(&b, SIZE_MAX / 2 + 1), -1);
	assert_int_equal(buf_try_append(&b, "x", SIZE_MAX - 4), -1);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_try_append(&b, "gh", 2), 0);
	assert_string_equal(buf_cstr(&b), "abc\r\ndefgh");
	buf_deinit(&b);
}

static void test_sanitize(void **state)
{
	char out[8];
	str_sanitize(out, sizeof(out),
		     "a\r\nb\x80"
		     "cdefgh",
		     10);
	assert_string_equal(out, "a??b?cd");
}

/* A quoted log value can never close its field or forge another one. */
static void test_log_quote(void **state)
{
	char out[LOG_QUOTE_SIZE(64)];
	assert_string_equal(log_quote(out, sizeof(out), "x\" ip=203.0.113.9 y\\"),
			    "\"x\\\" ip=203.0.113.9 y\\\\\"");
	assert_string_equal(log_quote(out, sizeof(out), "a\r\nb\x80\x7f"),
			    "\"a\\x0d\\x0ab\\x80\\x7f\"");
	assert_string_equal(log_quote(out, sizeof(out), NULL), "\"\"");
	assert_string_equal(log_quote_n(out, sizeof(out), "a\0b", 3), "\"a\\x00b\"");
	/* cut to fit, marked with "...", the closing quote kept */
	char small[10];
	assert_string_equal(log_quote(small, sizeof(small), "abcdefghij"), "\"abcd...\"");
	assert_string_equal(log_quote(small, sizeof(small), "abcdefg"), "\"abcdefg\"");
	assert_string_equal(log_quote(small, sizeof(small), "abcd\"\"\"\""), "\"abcd...\"");
	for (size_t n = 6; n <= sizeof(small); n++) {
		log_quote(small, n, "\"\"\"\"\"\"\"\"\"\"\x01\x02");
		size_t len = strlen(small);
		assert_true(len < n);
		assert_int_equal(small[0], '"');
		assert_int_equal(small[len - 1], '"');
		assert_true(len < 2 || small[len - 2] != '\\');
	}
}

static char *write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/facteur-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, text, strlen(text)), 0);
	close(fd);
	return path;
}

static int load(const char *text, struct config *c, char **err)
{
	char *path = write_tmp(text);
	config_defaults(c);
	int r = config_load(c, path, err);
	unlink(path);
	free(path);
	return r;
}

static void test_config_good(void **state)
{
	struct config c;
	char *err = NULL;
	int r = load("# comment\nhostname = mx.example.org\n"
		     "listen.smtp = 127.0.0.1:2525, [::1]:2526\n"
		     "listen.pop3 = 0.0.0.0:110\n"
		     "max_message_size = 10M\nplaintext_auth = never\nworkers = 3\n",
		     &c, &err);
	assert_int_equal(r, 0);
	assert_string_equal(c.hostname, "mx.example.org");
	assert_int_equal(c.n_listeners, 3);
	assert_string_equal(c.listeners[1].address, "::1");
	assert_int_equal(c.listeners[1].port, 2526);
	assert_int_equal(c.listeners[2].kind, LISTENER_POP3);
	assert_int_equal(c.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c.workers, 3);
	assert_false(config_auth_allowed(&c, false, true));
	assert_true(config_auth_allowed(&c, true, false));
	assert_int_equal(c.auth_cache_ttl, 300); /* the default */
	config_deinit(&c);
	assert_int_equal(load("listen.smtp = 127.0.0.1:25\nauth_cache_ttl = 0\n", &c, &err), 0);
	assert_int_equal(c.auth_cache_ttl, 0);
	config_deinit(&c);
}

static void expect_error(const char *text, const char *fragment)
{
	struct config c;
	char *err = NULL;
	assert_int_equal(load(text, &c, &err), -1);
	assert_non_null(err);
	if (strstr(err, fragment) == NULL)
		fail_msg("error '%s' lacks '%s'", err, fragment);
	free(err);
	config_deinit(&c);
}

static void test_config_errors(void **state)
{
	expect_error("bogus = 1\nlisten.smtp = 127.0.0.1:25\n", ":1: bogus: unknown key");
	expect_error("listen.smtp = 127.0.0.1:99999\n", ":1: listen.smtp");
	expect_error("listen.imap4 = 127.0.0.1:1\n", "unknown listener kind");
	expect_error("listen.smtp = 127.0.0.1:25\nmax_recipients = 0\n", ":2:");
	expect_error("listen.smtp = 127.0.0.1:25\nmax_message_size = 12Q\n", ":2:");
	expect_error("hostname\n", ":1: expected key = value");
	expect_error("hostname = x\n", "no listen");
	expect_error("listen.pop3s = 127.0.0.1:995\n", "needs tls_cert");
	expect_error("listen.smtp = 127.0.0.1:25\nplaintext_auth = sometimes\n",
		     "never, loopback or always");
	expect_error("listen.smtp = 127.0.0.1:25\ntls_cert = /x\n", "go together");
	expect_error("listen.smtp = 127.0.0.1:25\nauth_cache_ttl = 3601\n", ":2:");
}

static const char *lru_str(struct lru *l, const char *key)
{
	return lru_get(l, key, strlen(key), NULL);
}

static void lru_put_str(struct lru *l, const char *key, const char *value)
{
	assert_int_equal(lru_put(l, key, strlen(key), value, strlen(value) + 1), 1);
}

static void test_lru_basic(void **state)
{
	struct lru *l = lru_create(10, 1 << 20, false);
	assert_null(lru_str(l, "a"));
	lru_put_str(l, "a", "one");
	lru_put_str(l, "b", "two");
	size_t len = 0;
	assert_string_equal(lru_get(l, "a", 1, &len), "one");
	assert_int_equal(len, 4);
	/* replacing keeps one entry, with the new value */
	lru_put_str(l, "a", "uno");
	assert_int_equal(lru_count(l), 2);
	assert_string_equal(lru_str(l, "a"), "uno");
	assert_int_equal(lru_bytes(l), 2 * LRU_ENTRY_OVERHEAD + 1 + 4 + 1 + 4);
	/* keys are bytes: a prefix or an embedded NUL is another key */
	assert_null(lru_get(l, "ab", 2, NULL));
	assert_int_equal(lru_put(l, "a\0b", 3, "x", 2), 1);
	assert_string_equal(lru_get(l, "a\0b", 3, NULL), "x");
	assert_string_equal(lru_str(l, "a"), "uno");
	/* an empty value is a value */
	assert_int_equal(lru_put(l, "e", 1, NULL, 0), 1);
	assert_non_null(lru_get(l, "e", 1, &len));
	assert_int_equal(len, 0);
	assert_true(lru_remove(l, "a", 1));
	assert_false(lru_remove(l, "a", 1));
	assert_null(lru_str(l, "a"));
	assert_int_equal(lru_count(l), 3);
	lru_clear(l);
	assert_int_equal(lru_count(l), 0);
	assert_int_equal(lru_bytes(l), 0);
	assert_int_equal(lru_evictions(l), 0);
	lru_destroy(&l);
	assert_null(l);
	lru_destroy(&l); /* NULL is fine */
}

/* The entry bound drops the least recently used; a lookup counts as a use. */
static void test_lru_entry_bound(void **state)
{
	struct lru *l = lru_create(3, 1 << 20, true);
	lru_put_str(l, "1", "a");
	lru_put_str(l, "2", "b");
	lru_put_str(l, "3", "c");
	assert_non_null(lru_str(l, "1")); /* 2 is now the oldest */
	lru_put_str(l, "4", "d");
	assert_int_equal(lru_count(l), 3);
	assert_int_equal(lru_evictions(l), 1);
	assert_null(lru_str(l, "2"));
	assert_non_null(lru_str(l, "1"));
	assert_non_null(lru_str(l, "3"));
	assert_non_null(lru_str(l, "4"));
	/* order now (newest first) 4 3 1: two more inserts drop 1 then 3 */
	lru_put_str(l, "5", "e");
	assert_null(lru_str(l, "1"));
	lru_put_str(l, "6", "f");
	assert_null(lru_str(l, "3"));
	assert_int_equal(lru_count(l), 3);
	assert_int_equal(lru_evictions(l), 3);
	lru_destroy(&l);

	/* a cache of no entries stores nothing */
	l = lru_create(0, 1 << 20, false);
	assert_int_equal(lru_put(l, "k", 1, "v", 1), 0);
	assert_null(lru_get(l, "k", 1, NULL));
	lru_destroy(&l);
}

/* The byte bound: evict until the newcomer fits; too big alone: not kept. */
static void test_lru_byte_bound(void **state)
{
	char value[200];
	memset(value, 'v', sizeof(value));
	size_t one = LRU_ENTRY_OVERHEAD + 2 + sizeof(value);
	struct lru *l = lru_create(1000, 3 * one, false);
	assert_int_equal(lru_put(l, "k1", 2, value, sizeof(value)), 1);
	assert_int_equal(lru_put(l, "k2", 2, value, sizeof(value)), 1);
	assert_int_equal(lru_put(l, "k3", 2, value, sizeof(value)), 1);
	assert_int_equal(lru_bytes(l), 3 * one);
	assert_int_equal(lru_put(l, "k4", 2, value, sizeof(value)), 1);
	assert_int_equal(lru_count(l), 3);
	assert_true(lru_bytes(l) <= 3 * one);
	assert_null(lru_get(l, "k1", 2, NULL));
	/* one big entry pushes out as many as it needs */
	char big[2 * 200 + 100];
	memset(big, 'b', sizeof(big));
	assert_int_equal(lru_put(l, "kb", 2, big, sizeof(big)), 1);
	assert_true(lru_bytes(l) <= 3 * one);
	assert_int_equal(lru_count(l), 1);
	assert_non_null(lru_get(l, "kb", 2, NULL));
	/* larger than the whole bound: refused, and the old entry of the key goes */
	char huge[4 * 200];
	memset(huge, 'h', sizeof(huge));
	assert_int_equal(lru_put(l, "kb", 2, huge, sizeof(huge)), 0);
	assert_null(lru_get(l, "kb", 2, NULL));
	assert_int_equal(lru_count(l), 0);
	assert_int_equal(lru_bytes(l), 0);
	lru_destroy(&l);
}

/* Many entries: the table grows, everything stays findable, bounds hold. */
static void test_lru_many(void **state)
{
	struct lru *l = lru_create(5000, 1 << 30, false);
	char key[32];
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(lru_put(l, key, (size_t)n, &i, sizeof(i)), 1);
	}
	assert_int_equal(lru_count(l), 5000);
	assert_int_equal(lru_evictions(l), 15000);
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		size_t len;
		const void *v = lru_get(l, key, (size_t)n, &len);
		if (i < 15000) {
			assert_null(v);
		} else {
			assert_non_null(v);
			assert_int_equal(len, sizeof(int));
			int got;
			memcpy(&got, v, sizeof(got)); /* values are not aligned */
			assert_int_equal(got, i);
		}
	}
	for (int i = 15000; i < 20000; i += 2) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		assert_true(lru_remove(l, key, (size_t)n));
	}
	assert_int_equal(lru_count(l), 2500);
	lru_destroy(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_log_quote),
		cmocka_unit_test(test_config_good),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_lru_basic),
		cmocka_unit_test(test_lru_entry_bound),
		cmocka_unit_test(test_lru_byte_bound),
		cmocka_unit_test(test_lru_many),
	};
	return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
