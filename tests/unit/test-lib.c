/* SPDX-License-Identifier: MIT */
/* Unit tests for src/lib: buffers, sanitising, and configuration parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),           cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_log_quote),     cmocka_unit_test(test_config_good),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
