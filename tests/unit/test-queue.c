/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of outbound delivery without a network: the SMTP client
 * engine fed server transcripts (whole and one byte at a time) including
 * STARTTLS, AUTH, PIPELINING, HELO fallback, 8BITMIME/SMTPUTF8 refusals,
 * per-recipient results, RSET between messages, garbage and over-long
 * replies; body normalisation and dot-stuffing across chunk boundaries;
 * whether a reused session's transaction was answered (a stale idle
 * connection); the back-off schedule; the per-destination slow-start
 * window and how many connections it opens; DSNs parsed back with
 * mime_parse; MX rdata parsing; and the store's queue functions for the
 * delivery thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "queue/queue-private.h"
#include "queue/queue.h"
#include "store/store.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* --- a transcript driver ---------------------------------------------------- */

static struct queue_client_params plain_params = {.helo_name = "a.test", .tls_possible = true};

/* Feed server bytes whole or one at a time; the last status. */
static enum queue_client_status feed(struct queue_client *c, const char *bytes, bool bytewise,
				     struct buf *out)
{
	struct buf in;
	buf_init(&in);
	enum queue_client_status st = QUEUE_CLIENT_MORE;
	size_t n = strlen(bytes);
	if (!bytewise) {
		buf_append(&in, bytes, n);
		st = queue_client_input(c, &in, out);
	} else {
		for (size_t i = 0; i < n; i++) {
			buf_append(&in, bytes + i, 1);
			st = queue_client_input(c, &in, out);
			if (st != QUEUE_CLIENT_MORE)
				break;
		}
	}
	buf_deinit(&in);
	return st;
}

/* Expect exactly this client output since the last check, then clear it. */
static void expect_out(struct buf *out, const char *want)
{
	assert_int_equal(out->len, strlen(want));
	assert_memory_equal(out->data, want, out->len);
	buf_clear(out);
}

static const char *ehlo_full = "250-mx.b.test hello\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
			       "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";

static struct queue_client *ready_client(bool bytewise, const char *ehlo, struct buf *out)
{
	struct queue_client *c = queue_client_create(&plain_params);
	assert_int_equal(feed(c, "220 mx.b.test ESMTP\r\n", bytewise, out), QUEUE_CLIENT_MORE);
	expect_out(out, "EHLO a.test\r\n");
	assert_int_equal(feed(c, ehlo, bytewise, out), QUEUE_CLIENT_READY);
	expect_out(out, "");
	return c;
}

static void session_pipelined(bool bytewise)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = ready_client(bytewise, ehlo_full, &out);
	const char *rcpts[] = {"x@b.test", "y@b.test"};
	struct queue_client_msg m = {
		.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 2, .size = 10, .eight_bit = true};
	assert_int_equal(queue_client_mail(c, &m, &out), QUEUE_CLIENT_MORE);
	expect_out(&out,
		   "MAIL FROM:<s@a.test> SIZE=10 BODY=8BITMIME\r\n"
		   "RCPT TO:<x@b.test>\r\nRCPT TO:<y@b.test>\r\n");
	assert_int_equal(feed(c, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n",
			      bytewise, &out),
			 QUEUE_CLIENT_MORE);
	expect_out(&out, "DATA\r\n");
	assert_int_equal(feed(c, "354 go ahead\r\n", bytewise, &out), QUEUE_CLIENT_BODY);
	assert_int_equal(queue_client_body(c, "Subject: x\n\n.hidden\r\nend", 24, false, &out),
			 QUEUE_CLIENT_BODY);
	assert_int_equal(queue_client_body(c, NULL, 0, true, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "Subject: x\r\n\r\n..hidden\r\nend\r\n.\r\n");
	assert_int_equal(feed(c, "250 2.0.0 queued as 1\r\n", bytewise, &out), QUEUE_CLIENT_DONE);
	const struct queue_client_result *r = queue_client_results(c);
	assert_int_equal(r[0].code, 250);
	assert_string_equal(r[0].text, "250 2.0.0 queued as 1");
	assert_int_equal(r[1].code, 550);
	assert_string_equal(r[1].text, "550 5.1.1 no such user");

	/* A second message on the same session: RSET first. */
	const char *one[] = {"z@b.test"};
	struct queue_client_msg m2 = {.sender = "", .rcpts = one, .n_rcpts = 1, .size = 3};
	assert_int_equal(queue_client_mail(c, &m2, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "RSET\r\n");
	assert_int_equal(feed(c, "250 flushed\r\n", bytewise, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "MAIL FROM:<> SIZE=3\r\nRCPT TO:<z@b.test>\r\n");
	assert_int_equal(feed(c, "250 ok\r\n451 4.7.1 greylisted\r\n", bytewise, &out),
			 QUEUE_CLIENT_DONE);
	assert_int_equal(queue_client_results(c)[0].code, 451);
	expect_out(&out, "");

	queue_client_quit(c, &out);
	expect_out(&out, "QUIT\r\n");
	assert_int_equal(feed(c, "221 bye\r\n", bytewise, &out), QUEUE_CLIENT_CLOSED);
	assert_null(queue_client_error(c, NULL));
	queue_client_destroy(&c);
	assert_null(c);
	buf_deinit(&out);
}

static void test_client_pipelined(void **state)
{
	session_pipelined(false);
}

static void test_client_bytewise(void **state)
{
	session_pipelined(true);
}

static void test_client_no_pipelining(void **state)
{
	struct buf out;
	buf_init(&out);
	/* Multi-line greeting too. */
	struct queue_client *c = queue_client_create(&plain_params);
	assert_int_equal(feed(c, "220-mx\r\n220 welcome\r\n", false, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "EHLO a.test\r\n");
	assert_int_equal(feed(c, "250-mx\r\n250 8BITMIME\r\n", false, &out), QUEUE_CLIENT_READY);
	const char *rcpts[] = {"x@b.test", "y@b.test"};
	struct queue_client_msg m = {.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 2};
	assert_int_equal(queue_client_mail(c, &m, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "MAIL FROM:<s@a.test>\r\n");
	assert_int_equal(feed(c, "250 ok\r\n", false, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "RCPT TO:<x@b.test>\r\n");
	assert_int_equal(feed(c, "250 ok\r\n", false, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "RCPT TO:<y@b.test>\r\n");
	assert_int_equal(feed(c, "250 ok\r\n", false, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "DATA\r\n");
	assert_int_equal(feed(c, "354 go\r\n", false, &out), QUEUE_CLIENT_BODY);
	assert_int_equal(queue_client_body(c, "hi\r\n", 4, true, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "hi\r\n.\r\n");
	/* A temporary refusal at the end decides every accepted recipient. */
	assert_int_equal(feed(c, "452 4.3.1 disk full\r\n", false, &out), QUEUE_CLIENT_DONE);
	assert_int_equal(queue_client_results(c)[0].code, 452);
	assert_int_equal(queue_client_results(c)[1].code, 452);
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void test_client_mail_refused(void **state)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = ready_client(false, ehlo_full, &out);
	const char *rcpts[] = {"x@b.test", "y@b.test"};
	struct queue_client_msg m = {.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 2};
	assert_int_equal(queue_client_mail(c, &m, &out), QUEUE_CLIENT_MORE);
	buf_clear(&out);
	/* MAIL refused: the pipelined RCPTs get 503, MAIL's code decides. */
	assert_int_equal(feed(c, "553 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n", false, &out),
			 QUEUE_CLIENT_MORE);
	assert_int_equal(feed(c, "503 5.5.1 no MAIL\r\n", false, &out), QUEUE_CLIENT_DONE);
	expect_out(&out, ""); /* no DATA */
	assert_int_equal(queue_client_results(c)[0].code, 553);
	assert_int_equal(queue_client_results(c)[1].code, 553);
	assert_string_equal(queue_client_results(c)[1].text, "553 5.7.1 sender refused");
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void test_client_starttls(void **state)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = queue_client_create(&plain_params);
	feed(c, "220 mx\r\n", false, &out);
	buf_clear(&out);
	assert_int_equal(feed(c, "250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n", false, &out),
			 QUEUE_CLIENT_MORE);
	expect_out(&out, "STARTTLS\r\n");
	assert_int_equal(feed(c, "220 2.0.0 ready\r\n", false, &out), QUEUE_CLIENT_STARTTLS);
	assert_false(queue_client_has_tls(c));
	assert_int_equal(queue_client_tls_started(c, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "EHLO a.test\r\n");
	/* STARTTLS is advertised again after TLS: not repeated. */
	assert_int_equal(feed(c, "250-mx\r\n250 STARTTLS\r\n", false, &out), QUEUE_CLIENT_READY);
	assert_true(queue_client_has_tls(c));
	expect_out(&out, "");
	queue_client_destroy(&c);

	/* Refused STARTTLS: no plaintext fallback, a temporary failure. */
	c = queue_client_create(&plain_params);
	feed(c, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n", false, &out);
	buf_clear(&out);
	assert_int_equal(feed(c, "454 4.7.0 TLS not available\r\n", false, &out),
			 QUEUE_CLIENT_CLOSED);
	int code = 0;
	assert_non_null(queue_client_error(c, &code));
	assert_int_equal(code, 454);
	queue_client_destroy(&c);

	/* Without a TLS context STARTTLS is not attempted. */
	struct queue_client_params p = {.helo_name = "a.test"};
	c = queue_client_create(&p);
	assert_int_equal(feed(c, "220 mx\r\n250-mx\r\n250 STARTTLS\r\n", false, &out),
			 QUEUE_CLIENT_READY);
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void test_client_auth(void **state)
{
	struct buf out;
	buf_init(&out);
	struct queue_client_params p = {.helo_name = "a.test",
					.tls_possible = true,
					.tls_required = true,
					.auth_user = "u",
					.auth_password = "p"};
	struct queue_client *c = queue_client_create(&p);
	assert_int_equal(feed(c, "220 relay\r\n250-relay\r\n250 AUTH PLAIN LOGIN\r\n", false, &out),
			 QUEUE_CLIENT_CLOSED);
	assert_string_equal(queue_client_error(c, NULL), "STARTTLS required but not offered");
	queue_client_destroy(&c);

	c = queue_client_create(&p);
	feed(c, "220 relay\r\n250-relay\r\n250-STARTTLS\r\n250 AUTH LOGIN PLAIN\r\n", false, &out);
	assert_int_equal(feed(c, "220 go\r\n", false, &out), QUEUE_CLIENT_STARTTLS);
	buf_clear(&out);
	queue_client_tls_started(c, &out);
	buf_clear(&out);
	assert_int_equal(feed(c, "250-relay\r\n250 AUTH LOGIN PLAIN\r\n", false, &out),
			 QUEUE_CLIENT_MORE);
	expect_out(&out, "AUTH PLAIN AHUAcA==\r\n");
	assert_int_equal(feed(c, "235 2.7.0 ok\r\n", false, &out), QUEUE_CLIENT_READY);
	queue_client_destroy(&c);

	/* Bad credentials end the session (temporary: configuration). */
	c = queue_client_create(&p);
	feed(c, "220 relay\r\n250-relay\r\n250 STARTTLS\r\n220 go\r\n", false, &out);
	queue_client_tls_started(c, &out);
	feed(c, "250-relay\r\n250 AUTH PLAIN\r\n", false, &out);
	assert_int_equal(feed(c, "535 5.7.8 bad\r\n", false, &out), QUEUE_CLIENT_CLOSED);
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void test_client_helo_and_8bit(void **state)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = queue_client_create(&plain_params);
	feed(c, "220 old\r\n", false, &out);
	buf_clear(&out);
	assert_int_equal(feed(c, "502 5.5.2 what\r\n", false, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "HELO a.test\r\n");
	assert_int_equal(feed(c, "250 old\r\n", false, &out), QUEUE_CLIENT_READY);
	const char *rcpts[] = {"x@b.test"};
	struct queue_client_msg m = {
		.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 1, .eight_bit = true};
	assert_int_equal(queue_client_mail(c, &m, &out), QUEUE_CLIENT_DONE);
	expect_out(&out, "");
	assert_int_equal(queue_client_results(c)[0].code, 554);
	assert_non_null(strstr(queue_client_results(c)[0].text, "8BITMIME"));
	/* An UTF-8 address needs SMTPUTF8. */
	const char *u[] = {"j\xc3\xb6rg@b.test"};
	struct queue_client_msg m2 = {.sender = "s@a.test", .rcpts = u, .n_rcpts = 1};
	assert_int_equal(queue_client_mail(c, &m2, &out), QUEUE_CLIENT_DONE);
	assert_non_null(strstr(queue_client_results(c)[0].text, "SMTPUTF8"));
	/* Still usable: a 7-bit message goes, without RSET (nothing was sent). */
	struct queue_client_msg m3 = {.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 1};
	assert_int_equal(queue_client_mail(c, &m3, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "MAIL FROM:<s@a.test>\r\n");
	queue_client_destroy(&c);

	/* With SMTPUTF8 advertised the parameter is sent. */
	c = ready_client(false, ehlo_full, &out);
	assert_int_equal(queue_client_mail(c, &m2, &out), QUEUE_CLIENT_MORE);
	assert_non_null(strstr(out.data, " SMTPUTF8\r\n"));
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void expect_fail(const char *server, int want_code)
{
	struct buf out;
	buf_init(&out);
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct queue_client *c = queue_client_create(&plain_params);
		assert_int_equal(feed(c, server, bytewise, &out), QUEUE_CLIENT_CLOSED);
		int code = -1;
		assert_non_null(queue_client_error(c, &code));
		assert_int_equal(code, want_code);
		/* Dead: more input changes nothing. */
		assert_int_equal(feed(c, "250 ok\r\n", false, &out), QUEUE_CLIENT_CLOSED);
		queue_client_destroy(&c);
		buf_clear(&out);
	}
	buf_deinit(&out);
}

static void test_client_garbage(void **state)
{
	expect_fail("hello there\r\n", 0);
	expect_fail("220 mx\r\n25\r\n", 0);
	expect_fail("2200 mx\r\n", 0);
	expect_fail("220-mx\r\n250 mx\r\n", 0); /* code changes mid-reply */
	expect_fail("554 5.3.2 go away\r\n", 554);
	expect_fail("421 4.3.2 shutting down\r\n", 421);
	expect_fail("220 mx\r\n451 4.3.0 try later\r\n", 451);
	expect_fail("120 mx\r\n", 0);
	expect_fail("220 mx\r\n6xx\r\n", 0);

	/* A reply nobody asked for. */
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	struct queue_client *c = queue_client_create(&plain_params);
	buf_append_str(&in, "220 mx\r\n250 mx\r\n250 extra\r\n");
	assert_int_equal(queue_client_input(c, &in, &out), QUEUE_CLIENT_READY);
	assert_int_equal(queue_client_input(c, &in, &out), QUEUE_CLIENT_CLOSED);
	queue_client_destroy(&c);

	/* A line past the cap fails before its newline arrives. */
	buf_clear(&in);
	c = queue_client_create(&plain_params);
	buf_append_str(&in, "220 ");
	for (int i = 0; i < QUEUE_CLIENT_MAX_LINE; i++)
		buf_append(&in, "x", 1);
	assert_int_equal(queue_client_input(c, &in, &out), QUEUE_CLIENT_CLOSED);
	queue_client_destroy(&c);

	/* Too many lines in one reply. */
	c = queue_client_create(&plain_params);
	buf_clear(&in);
	buf_append_str(&in, "220 mx\r\n");
	for (int i = 0; i < QUEUE_CLIENT_MAX_LINES + 1; i++)
		buf_append_str(&in, "250-X\r\n");
	assert_int_equal(queue_client_input(c, &in, &out), QUEUE_CLIENT_CLOSED);
	queue_client_destroy(&c);

	/* NUL and control bytes in reply text are sanitised, not fatal. */
	c = queue_client_create(&plain_params);
	buf_clear(&in);
	buf_append(&in, "220 m\0x\x1b\r\n", 9);
	assert_int_equal(queue_client_input(c, &in, &out), QUEUE_CLIENT_MORE);
	queue_client_destroy(&c);
	buf_deinit(&in);
	buf_deinit(&out);
}

static void test_client_abort_mid_transaction(void **state)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = ready_client(false, ehlo_full, &out);
	const char *rcpts[] = {"x@b.test", "y@b.test", "z@b.test"};
	struct queue_client_msg m = {.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 3};
	queue_client_mail(c, &m, &out);
	assert_true(queue_client_in_transaction(c));
	assert_int_equal(feed(c, "250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n", false, &out),
			 QUEUE_CLIENT_MORE);
	queue_client_abort(c, "connection lost");
	const struct queue_client_result *r = queue_client_results(c);
	assert_int_equal(r[0].code, 451); /* unknown outcome: temporary */
	assert_string_equal(r[0].text, "connection lost");
	assert_int_equal(r[1].code, 550); /* refused at RCPT: stays refused */
	assert_int_equal(r[2].code, 451); /* no reply yet */
	queue_client_destroy(&c);

	/* 421 while waiting for the end-of-data reply. */
	buf_clear(&out);
	c = ready_client(false, ehlo_full, &out);
	queue_client_mail(c, &m, &out);
	feed(c, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", false, &out);
	queue_client_body(c, "x", 1, true, &out);
	assert_int_equal(feed(c, "421 4.4.2 timeout\r\n", false, &out), QUEUE_CLIENT_CLOSED);
	assert_int_equal(queue_client_results(c)[1].code, 451);
	/* Methods on a dead engine are harmless. */
	assert_int_equal(queue_client_mail(c, &m, &out), QUEUE_CLIENT_CLOSED);
	queue_client_quit(c, &out);
	queue_client_destroy(&c);
	buf_deinit(&out);
}

/*
 * A session that sat idle is reused: until the server answers the RSET, a
 * failure means the message was never offered (the manager requeues it);
 * once it answered, a failure counts as an attempt.
 */
static void test_client_txn_answered(void **state)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = ready_client(false, ehlo_full, &out);
	const char *rcpts[] = {"x@b.test"};
	struct queue_client_msg m = {.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 1};
	assert_false(queue_client_txn_answered(c));
	queue_client_mail(c, &m, &out);
	assert_false(queue_client_txn_answered(c)); /* EHLO's reply does not count */
	feed(c, "250 ok\r\n250 ok\r\n354 go\r\n", false, &out);
	assert_true(queue_client_txn_answered(c));
	queue_client_body(c, "x", 1, true, &out);
	assert_int_equal(feed(c, "250 queued\r\n", false, &out), QUEUE_CLIENT_DONE);
	buf_clear(&out);

	/* The second message, after the idle time: RSET, and the server is gone. */
	assert_int_equal(queue_client_mail(c, &m, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "RSET\r\n");
	assert_false(queue_client_txn_answered(c));
	queue_client_abort(c, "connection lost");
	assert_false(queue_client_txn_answered(c));
	assert_int_equal(queue_client_results(c)[0].code, 451);
	queue_client_destroy(&c);

	/* Gone after the RSET was answered: a real attempt. */
	c = ready_client(true, ehlo_full, &out);
	queue_client_mail(c, &m, &out);
	feed(c, "250 ok\r\n250 ok\r\n354 go\r\n", true, &out);
	queue_client_body(c, "x", 1, true, &out);
	feed(c, "250 queued\r\n", true, &out);
	queue_client_mail(c, &m, &out);
	buf_clear(&out);
	assert_int_equal(feed(c, "250 flushed\r\n", true, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, "MAIL FROM:<s@a.test> SIZE=0\r\nRCPT TO:<x@b.test>\r\n");
	assert_true(queue_client_txn_answered(c));
	/* A 421 (the server's idle timeout) as the RSET's answer is a failure too. */
	queue_client_destroy(&c);
	c = ready_client(false, ehlo_full, &out);
	queue_client_mail(c, &m, &out);
	feed(c, "250 ok\r\n250 ok\r\n354 go\r\n", false, &out);
	queue_client_body(c, "x", 1, true, &out);
	feed(c, "250 queued\r\n", false, &out);
	queue_client_mail(c, &m, &out);
	assert_int_equal(feed(c, "421 4.4.2 idle timeout\r\n", false, &out), QUEUE_CLIENT_CLOSED);
	assert_true(queue_client_txn_answered(c));
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void body_case(const char *const *chunks, size_t n, const char *want)
{
	struct buf out;
	buf_init(&out);
	struct queue_client *c = ready_client(false, ehlo_full, &out);
	const char *rcpts[] = {"x@b.test"};
	struct queue_client_msg m = {.sender = "s@a.test", .rcpts = rcpts, .n_rcpts = 1};
	queue_client_mail(c, &m, &out);
	feed(c, "250 ok\r\n250 ok\r\n354 go\r\n", false, &out);
	buf_clear(&out);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(queue_client_body(c, chunks[i], strlen(chunks[i]), false, &out),
				 QUEUE_CLIENT_BODY);
	assert_int_equal(queue_client_body(c, "", 0, true, &out), QUEUE_CLIENT_MORE);
	expect_out(&out, want);
	queue_client_destroy(&c);
	buf_deinit(&out);
}

static void test_client_body(void **state)
{
	const char *a[] = {"a\r", "\nb"};
	body_case(a, 2, "a\r\nb\r\n.\r\n");
	const char *b[] = {"x\r"};
	body_case(b, 1, "x\r\n.\r\n");
	const char *c[] = {"a\rb\n.\n", ".", "."};
	body_case(c, 3, "a\r\nb\r\n..\r\n...\r\n.\r\n");
	body_case(NULL, 0, ".\r\n");
	const char *d[] = {".\r\n", "\r\n.x"};
	body_case(d, 2, "..\r\n\r\n..x\r\n.\r\n");
	const char *e[] = {"line1\r\n"};
	body_case(e, 1, "line1\r\n.\r\n");
}

/* --- back-off -------------------------------------------------------------- */

static void test_backoff(void **state)
{
	assert_int_equal(queue_backoff(1, 300, 14400), 300);
	assert_int_equal(queue_backoff(2, 300, 14400), 600);
	assert_int_equal(queue_backoff(3, 300, 14400), 1200);
	assert_int_equal(queue_backoff(6, 300, 14400), 9600);
	assert_int_equal(queue_backoff(7, 300, 14400), 14400);
	assert_int_equal(queue_backoff(100000, 300, 14400), 14400);
	assert_int_equal(queue_backoff(0, 300, 14400), 300);
	assert_int_equal(queue_backoff(1, 0, 0), 1);
	assert_int_equal(queue_backoff(5, 1, 2), 2);
	assert_int_equal(queue_backoff(40, 4000000000u, 4000000000u), 4000000000LL);
}

/* --- DSN -------------------------------------------------------------------- */

/* --- the slow-start window ---------------------------------------------------- */

static void test_window_slow_start(void **state)
{
	struct queue_window w;
	queue_window_init(&w, 5, 20);
	assert_int_equal(w.cur, 5);
	/* One more connection per round: 5 deliveries, then 6, then 7 ... */
	for (int i = 0; i < 4; i++)
		queue_window_success(&w);
	assert_int_equal(w.cur, 5);
	queue_window_success(&w);
	assert_int_equal(w.cur, 6);
	for (int i = 0; i < 6; i++)
		queue_window_success(&w);
	assert_int_equal(w.cur, 7);
	/* Up to the cap, never past it. */
	for (int i = 0; i < 1000; i++)
		queue_window_success(&w);
	assert_int_equal(w.cur, 20);
	/* A failure gives one back and the round starts again. */
	queue_window_failure(&w);
	assert_int_equal(w.cur, 19);
	for (int i = 0; i < 18; i++)
		queue_window_success(&w);
	queue_window_failure(&w);
	assert_int_equal(w.cur, 18);
	for (int i = 0; i < 17; i++)
		queue_window_success(&w);
	assert_int_equal(w.cur, 18);
	queue_window_success(&w);
	assert_int_equal(w.cur, 19);
	/* Never below one connection: a dead destination is still tried. */
	for (int i = 0; i < 100; i++)
		queue_window_failure(&w);
	assert_int_equal(w.cur, 1);
	queue_window_success(&w);
	assert_int_equal(w.cur, 2);
}

static void test_window_bounds(void **state)
{
	struct queue_window w;
	queue_window_init(&w, 5, 3); /* initial above the cap */
	assert_int_equal(w.cur, 3);
	queue_window_success(&w);
	assert_int_equal(w.cur, 3);
	queue_window_init(&w, 0, 10);
	assert_int_equal(w.cur, 1);
	queue_window_init(&w, 4, 0);
	assert_int_equal(w.max, 1);
	assert_int_equal(w.cur, 1);
	queue_window_init(&w, 1, 1);
	queue_window_failure(&w);
	queue_window_success(&w);
	assert_int_equal(w.cur, 1);
}

static void test_window_to_open(void **state)
{
	struct queue_window w;
	queue_window_init(&w, 5, 20);
	struct queue_dest_load l = {.pending = 100, .total_max = 100};
	/* A burst: the window's worth, not one per message. */
	assert_int_equal(queue_window_to_open(&w, &l), 5);
	/* Fewer messages than the window: one connection each. */
	l.pending = 2;
	assert_int_equal(queue_window_to_open(&w, &l), 2);
	/* Connections being set up will take messages: none more for them. */
	l.waiting = 2;
	l.active = 2;
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	l.pending = 10;
	assert_int_equal(queue_window_to_open(&w, &l), 3);
	/*
	 * Busy connections take the next messages when done: open only for
	 * the excess (a trickle waits one delivery; a backlog opens more).
	 */
	l = (struct queue_dest_load){.pending = 2, .busy = 3, .active = 3, .total_max = 100};
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	l.pending = 3;
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	l.pending = 4;
	assert_int_equal(queue_window_to_open(&w, &l), 1);
	l.pending = 40;
	assert_int_equal(queue_window_to_open(&w, &l), 2);
	l.waiting = 1;
	l.active = 4;
	assert_int_equal(queue_window_to_open(&w, &l), 1);
	/* The window is full (busy and idle ones alike count). */
	l.waiting = 0;
	l.active = 5;
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	/* It shrank below what is open: wait until some close. */
	queue_window_failure(&w);
	queue_window_failure(&w);
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	/* The total cap wins over the window. */
	queue_window_init(&w, 10, 20);
	l = (struct queue_dest_load){.pending = 50, .active = 1, .total = 97, .total_max = 100};
	assert_int_equal(queue_window_to_open(&w, &l), 3);
	l.total = 100;
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	l.total = 120; /* the cap was lowered under a running manager */
	assert_int_equal(queue_window_to_open(&w, &l), 0);
	/* Nothing pending: nothing to open. */
	l = (struct queue_dest_load){.pending = 0, .total_max = 100};
	assert_int_equal(queue_window_to_open(&w, &l), 0);
}

/* The keys of outbound connections: defaults, values, bounds. */
static int load_config(const char *text, struct config *c, char **err)
{
	char path[] = "/tmp/facteur-queue-conf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_defaults(c);
	int r = config_load(c, path, err);
	unlink(path);
	return r;
}

static void test_config_keys(void **state)
{
	struct config c;
	char *err = NULL;
	assert_int_equal(load_config("listen.smtp = 127.0.0.1:25\n", &c, &err), 0);
	assert_int_equal(c.queue_idle_time, 2);
	assert_int_equal(c.queue_initial_per_destination, 5);
	assert_int_equal(c.queue_max_per_destination, 20);
	assert_int_equal(c.queue_max_connections, 100);
	config_deinit(&c);
	assert_int_equal(load_config("listen.smtp = 127.0.0.1:25\nqueue_idle_time = 0\n"
				     "queue_initial_per_destination = 2\n",
				     &c, &err),
			 0);
	assert_int_equal(c.queue_idle_time, 0);
	assert_int_equal(c.queue_initial_per_destination, 2);
	config_deinit(&c);
	const char *bad[] = {"queue_idle_time = 301\n", "queue_initial_per_destination = 0\n",
			     "queue_idle_time = -1\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "listen.smtp = 127.0.0.1:25\n%s", bad[i]);
		err = NULL;
		assert_int_equal(load_config(text, &c, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, ":2:"));
		free(err);
		config_deinit(&c);
	}
}

static void test_dsn_status(void **state)
{
	char s[16];
	queue_dsn_status(550, "550 5.1.1 no such user", s);
	assert_string_equal(s, "5.1.1");
	queue_dsn_status(550, "550 no such user", s);
	assert_string_equal(s, "5.0.0");
	queue_dsn_status(451, "451 4.7.1 greylisted", s);
	assert_string_equal(s, "4.7.1");
	queue_dsn_status(451, "451 5.7.1 mismatched class", s);
	assert_string_equal(s, "4.0.0");
	queue_dsn_status(0, NULL, s);
	assert_string_equal(s, "4.0.0");
	queue_dsn_status(554, "554 5.6.3x", s);
	assert_string_equal(s, "5.0.0");
	assert_int_equal(queue_headers_len("A: b\r\n\r\nbody", 13), 6);
	assert_int_equal(queue_headers_len("A: b\n\nbody", 10), 5);
	assert_int_equal(queue_headers_len("A: b", 4), 4);
}

static void test_dsn_build(void **state)
{
	const char *orig = "From: <s@a.test>\r\nSubject: hi\r\nX-Bad: \x01\xff\r\n";
	struct queue_dsn_rcpt rs[] = {
		{"x@b.test", "5.1.1", "mx.b.test", "550 5.1.1 no such user"},
		/* A hostile reply tries to start a header and a part. */
		{"y@b.test", "5.0.0", NULL, "550 x\r\nInjected: yes\r\n--=_facteur_\r\n"},
	};
	struct queue_dsn d = {
		.action = QUEUE_DSN_FAILED,
		.reporting_mta = "mx.a.test",
		.sender = "s@a.test",
		.arrival = 1700000000,
		.retry_until = 1700500000,
		.now = 1700001000,
		.rcpts = rs,
		.n_rcpts = 2,
		.headers = orig,
		.headers_len = strlen(orig),
	};
	struct buf out;
	buf_init(&out);
	queue_dsn_build(&d, &out);
	const char *t = buf_cstr(&out);
	assert_has(t, "To: <s@a.test>\r\n");
	assert_has(t, "Auto-Submitted: auto-replied\r\n");
	assert_has(t, "Content-Type: multipart/report; report-type=delivery-status;");
	assert_has(t, "Reporting-MTA: dns; mx.a.test\r\n");
	assert_has(
		t,
		"Final-Recipient: rfc822; x@b.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
		"Remote-MTA: dns; mx.b.test\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n");
	assert_null(strstr(t, "\r\nInjected"));
	assert_has(t, "Subject: hi\r\nX-Bad: ??\r\n");
	for (size_t i = 0; i < out.len; i++) /* 7-bit, CRLF only */
		if ((unsigned char)t[i] >= 0x80 || (t[i] == '\n' && (i == 0 || t[i - 1] != '\r')))
			fail_msg("bad byte at %zu", i);

	struct mime_parsed mp;
	memset(&mp, 0, sizeof(mp));
	assert_int_equal(mime_parse(out.data, out.len, &mp), 0);
	assert_non_null(mp.bodystructure);
	assert_has(mp.bodystructure, "\"report\" (\"report-type\" \"delivery-status\"");
	assert_has(mp.bodystructure, "(\"message\" \"delivery-status\"");
	assert_has(mp.bodystructure, "(\"text\" \"rfc822-headers\"");
	assert_int_equal(mp.n_parts, 3);
	assert_string_equal(mp.subject, "Undelivered Mail Returned to Sender");
	mime_parsed_free(&mp);

	/* Delayed: Will-Retry-Until, a non-ASCII recipient as utf-8. */
	struct queue_dsn_rcpt r2 = {"j\xc3\xb6rg@b.test", "4.4.1", NULL, "connection refused"};
	d.action = QUEUE_DSN_DELAYED;
	d.rcpts = &r2;
	d.n_rcpts = 1;
	d.headers = NULL;
	buf_clear(&out);
	queue_dsn_build(&d, &out);
	t = buf_cstr(&out);
	assert_has(t, "Action: delayed\r\nStatus: 4.4.1\r\n");
	assert_has(t, "Final-Recipient: utf-8; j\xc3\xb6rg@b.test\r\n");
	assert_has(t, "Diagnostic-Code: X-facteur; connection refused\r\n");
	assert_has(t, "Will-Retry-Until: ");
	memset(&mp, 0, sizeof(mp));
	assert_int_equal(mime_parse(out.data, out.len, &mp), 0);
	assert_has(mp.bodystructure, "(\"message\" \"delivery-status\"");
	mime_parsed_free(&mp);
	buf_deinit(&out);
}

/* --- MX rdata ------------------------------------------------------------------ */

static void test_parse_mx(void **state)
{
	unsigned pref;
	char name[256];
	const unsigned char mx[] = {0, 10, 2, 'm', 'x', 1, 'b', 4, 't', 'e', 's', 't', 0};
	assert_int_equal(queue_dns_parse_mx(mx, sizeof(mx), &pref, name), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(name, "mx.b.test");
	const unsigned char null_mx[] = {0, 0, 0};
	assert_int_equal(queue_dns_parse_mx(null_mx, sizeof(null_mx), &pref, name), 0);
	assert_int_equal(pref, 0);
	assert_string_equal(name, "");
	const unsigned char trunc[] = {0, 10, 5, 'm', 'x'};
	assert_int_equal(queue_dns_parse_mx(trunc, sizeof(trunc), &pref, name), -1);
	const unsigned char trailing[] = {0, 10, 0, 'x'};
	assert_int_equal(queue_dns_parse_mx(trailing, sizeof(trailing), &pref, name), -1);
	const unsigned char ptr[] = {0, 10, 0xc0, 12};
	assert_int_equal(queue_dns_parse_mx(ptr, sizeof(ptr), &pref, name), -1);
	const unsigned char bad[] = {0, 10, 2, 'a', ' ', 0};
	assert_int_equal(queue_dns_parse_mx(bad, sizeof(bad), &pref, name), -1);
	assert_int_equal(queue_dns_parse_mx(mx, 2, &pref, name), -1);
	unsigned char longname[400];
	longname[0] = 0;
	longname[1] = 1;
	size_t n = 2;
	for (int l = 0; l < 5; l++) { /* 5 labels of 60: over 255 */
		longname[n++] = 60;
		memset(longname + n, 'a', 60);
		n += 60;
	}
	longname[n++] = 0;
	assert_int_equal(queue_dns_parse_mx(longname, n, &pref, name), -1);
}

/* --- the store's queue functions --------------------------------------------- */

static void test_store_queue(void **state)
{
	struct tu_fixture *f = tu_fixture_create("queue", false);
	assert_non_null(f);
	*state = f;
	int efd = eventfd(0, EFD_NONBLOCK);
	store_queue_wakeup_fd(efd);
	const char *err = NULL;
	const char *rcpts[] = {"x@b.test", "y@c.test"};
	const char *msg = "Subject: q\r\n\r\nbody\r\n";
	time_t queued = time(NULL); /* the second may turn before now is read below */
	assert_int_equal(store_queue_add(f->store, "s@a.test", rcpts, 2, msg, strlen(msg), &err),
			 0);
	uint64_t v = 0;
	assert_int_equal(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(v, 1);
	store_queue_wakeup_fd(-1);
	close(efd);
	assert_int_equal(tu_count_blobs(f->dir), 1);

	struct store_queue_delivery *due = NULL;
	size_t n = 0;
	time_t now = time(NULL);
	assert_int_equal(store_queue_due(f->store, now, 10, &due, &n), 0);
	assert_int_equal(n, 2);
	int64_t id0 = due[0].e.id, id1 = due[1].e.id;
	assert_string_equal(due[0].e.recipient, "x@b.test");
	assert_false(due[0].delay_notified);
	free(due);

	assert_int_equal(store_queue_defer(f->store, id0, now + 600, "451 later", &err), 0);
	assert_int_equal(store_queue_set_delay_notified(f->store, id0, &err), 0);
	struct store_queue_delivery d;
	assert_int_equal(store_queue_get(f->store, id0, &d), 1);
	assert_int_equal(d.e.attempts, 1);
	assert_int_equal(d.e.next_attempt, now + 600);
	assert_string_equal(d.e.last_error, "451 later");
	assert_true(d.delay_notified);
	assert_int_equal(store_queue_get(f->store, 999999, &d), 0);
	/* A vanished entry is no error. */
	assert_int_equal(store_queue_defer(f->store, 999999, now, "x", &err), 0);

	assert_int_equal(store_queue_due(f->store, now, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].e.id, id1);
	free(due);
	time_t when = 0;
	assert_int_equal(store_queue_next_attempt(f->store, &when), 1);
	assert_in_range(when, queued, now);

	/* retry one / flush all */
	assert_int_equal(store_queue_reschedule(f->store, id0, now - 5, &err), 1);
	assert_int_equal(store_queue_reschedule(f->store, 999999, now, &err), 0);
	assert_int_equal(store_queue_reschedule(f->store, 0, now + 1, &err), 2);
	assert_int_equal(store_queue_due(f->store, now, 10, &due, &n), 0);
	assert_int_equal(n, 0);
	free(due);
	assert_int_equal(store_queue_due(f->store, now + 1, 1, &due, &n), 0);
	assert_int_equal(n, 1); /* limit */
	free(due);

	/* The blob goes with its last row. */
	assert_int_equal(store_queue_delete(f->store, id0, &err), 0);
	assert_int_equal(tu_count_blobs(f->dir), 1);
	assert_int_equal(store_queue_delete(f->store, id1, &err), 0);
	assert_int_equal(tu_count_blobs(f->dir), 0);
	assert_int_equal(store_queue_next_attempt(f->store, &when), 0);

	/*
	 * Several entries in one transaction: two recipients of one blob and
	 * one of another, with an id that is already gone; each blob goes
	 * once, with its last row, and nothing else.
	 */
	const char *three[] = {"a@b.test", "b@b.test", "c@b.test"};
	const char *other = "Subject: r\r\n\r\nother\r\n";
	assert_int_equal(store_queue_add(f->store, "s@a.test", three, 3, msg, strlen(msg), &err),
			 0);
	assert_int_equal(store_queue_add(f->store, "", three, 1, other, strlen(other), &err), 0);
	assert_int_equal(store_queue_due(f->store, now + 1, 10, &due, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tu_count_blobs(f->dir), 2);
	int64_t batch[] = {due[0].e.id, due[1].e.id, 999999, due[3].e.id};
	int64_t kept = due[2].e.id;
	assert_string_equal(due[3].e.sender, "");
	free(due);
	assert_int_equal(store_queue_delete_many(f->store, batch, 0, &err), 0);
	assert_int_equal(store_queue_delete_many(f->store, batch, 4, &err), 0);
	assert_int_equal(store_queue_due(f->store, now + 1, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].e.id, kept);
	free(due);
	assert_int_equal(tu_count_blobs(f->dir), 1); /* the first blob, still queued */
	assert_int_equal(store_queue_delete_many(f->store, &kept, 1, &err), 0);
	assert_int_equal(tu_count_blobs(f->dir), 0);
	assert_int_equal(store_queue_next_attempt(f->store, &when), 0);
}

int main(void)
{
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_pipelined),
		cmocka_unit_test(test_client_bytewise),
		cmocka_unit_test(test_client_no_pipelining),
		cmocka_unit_test(test_client_mail_refused),
		cmocka_unit_test(test_client_starttls),
		cmocka_unit_test(test_client_auth),
		cmocka_unit_test(test_client_helo_and_8bit),
		cmocka_unit_test(test_client_garbage),
		cmocka_unit_test(test_client_abort_mid_transaction),
		cmocka_unit_test(test_client_txn_answered),
		cmocka_unit_test(test_client_body),
		cmocka_unit_test(test_window_slow_start),
		cmocka_unit_test(test_window_bounds),
		cmocka_unit_test(test_window_to_open),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_dsn_status),
		cmocka_unit_test(test_dsn_build),
		cmocka_unit_test(test_parse_mx),
		cmocka_unit_test_teardown(test_store_queue, tu_teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
