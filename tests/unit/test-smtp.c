/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the SMTP engine and its parser, driven through fake hooks
 * with no socket: MX and submission sessions, pipelining, feeding a whole
 * session one byte at a time, every SMTP smuggling variant, STARTTLS
 * injection, line/size/recipient/error limits, AUTH PLAIN and LOGIN, sender
 * ownership and BDAT chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/server-ctx.h"
#include "lib/spool.h"
#include "mime/mime.h"
#include "store/store.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "smtp/smtp-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* --- fake hooks -------------------------------------------------------- */

struct fake {
	int auth_calls;
	char auth_user[512];
	int deliver_calls;
	enum smtp_deliver_result deliver_result;
	struct buf msg; /* last delivered data */
	size_t return_path_len;
	char sender[SMTP_ADDRESS_MAX];
	int64_t accounts[64];
	size_t n_accounts;
	char remote[8][SMTP_ADDRESS_MAX];
	size_t n_remote;
	char queue_id[80];
	int pending_polls; /* answer PENDING this many more times */
	char helo[256];
	char deliver_user[SMTP_ADDRESS_MAX];
	bool had_auth_user;
};

static enum smtp_auth_result fake_auth(void *ctx, const char *ip, const char *user,
				       const char *password, struct smtp_account *a)
{
	struct fake *f = ctx;
	f->auth_calls++;
	snprintf(f->auth_user, sizeof(f->auth_user), "%s", user);
	if (strcmp(user, "blocked@example.org") == 0)
		return SMTP_AUTH_TEMPFAIL;
	if (strcmp(user, "alice@example.org") != 0 || strcmp(password, "secret") != 0)
		return SMTP_AUTH_FAILED;
	a->id = 1;
	snprintf(a->address, sizeof(a->address), "alice@example.org");
	return SMTP_AUTH_OK;
}

static enum smtp_rcpt_status fake_rcpt(void *ctx, const char *addr, struct smtp_rcpt_targets *t)
{
	const char *at = strrchr(addr, '@');
	if (strcasecmp(addr, "postmaster@mx.example.org") == 0) {
		t->accounts[t->n_accounts++] = 3;
		return SMTP_RCPT_LOCAL;
	}
	if (at == NULL || strcasecmp(at + 1, "example.org") != 0)
		return SMTP_RCPT_NOT_LOCAL;
	size_t ul = (size_t)(at - addr);
	if (ul == 5 && strncasecmp(addr, "alice", 5) == 0) {
		t->accounts[t->n_accounts++] = 1;
	} else if (ul == 3 && strncasecmp(addr, "bob", 3) == 0) {
		t->accounts[t->n_accounts++] = 2;
	} else if (ul == 5 && strncasecmp(addr, "group", 5) == 0) {
		t->accounts[t->n_accounts++] = 1;
		t->accounts[t->n_accounts++] = 2;
		t->remote[t->n_remote++] = xstrdup("friend@remote.net");
	} else if (ul == 4 && strncasecmp(addr, "full", 4) == 0) {
		return SMTP_RCPT_OVER_QUOTA;
	} else if (ul == 4 && strncasecmp(addr, "fail", 4) == 0) {
		t->remote[t->n_remote++] = xstrdup("leak-check@remote.net");
		return SMTP_RCPT_TEMPFAIL;
	} else {
		return SMTP_RCPT_UNKNOWN_USER;
	}
	return SMTP_RCPT_LOCAL;
}

static int fake_sender(void *ctx, const char *addr, int64_t id, const char *login)
{
	(void)login;
	if (strcmp(addr, "fail@example.org") == 0)
		return -1;
	return strcmp(addr, "alias-of-alice@example.org") == 0 && id == 1;
}

static enum smtp_deliver_result fake_deliver(void *ctx, const struct smtp_delivery *d)
{
	struct fake *f = ctx;
	f->deliver_calls++;
	snprintf(f->helo, sizeof(f->helo), "%s", d->helo ? d->helo : "");
	f->had_auth_user = d->auth_user != NULL;
	snprintf(f->deliver_user, sizeof(f->deliver_user), "%s", d->auth_user ? d->auth_user : "");
	if (f->pending_polls > 0) {
		f->pending_polls--;
		return SMTP_DELIVER_PENDING;
	}
	if (f->deliver_result == SMTP_DELIVER_REJECT || f->deliver_result == SMTP_DELIVER_DEFER)
		snprintf(d->reason, d->reason_size, "Rejected by policy of\r\nx.test");
	buf_clear(&f->msg);
	buf_append(&f->msg, d->data, d->len);
	buf_cstr(&f->msg);
	f->return_path_len = d->return_path_len;
	snprintf(f->sender, sizeof(f->sender), "%s", d->sender);
	snprintf(f->queue_id, sizeof(f->queue_id), "%s", d->queue_id);
	f->n_accounts = d->n_accounts < 64 ? d->n_accounts : 64;
	memcpy(f->accounts, d->accounts, f->n_accounts * sizeof(int64_t));
	f->n_remote = d->n_remote < 8 ? d->n_remote : 8;
	for (size_t i = 0; i < f->n_remote; i++)
		snprintf(f->remote[i], SMTP_ADDRESS_MAX, "%s", d->remote[i]);
	return f->deliver_result;
}

/* --- harness ----------------------------------------------------------- */

struct h {
	struct config cfg;
	struct conn_info info;
	struct fake fake;
	struct smtp_session *s;
	struct buf in, out;
	enum conn_result last;
};

static struct h *h_new(const char *listener, bool tls, bool loopback)
{
	struct h *h = xcalloc(1, sizeof(*h));
	config_defaults(&h->cfg);
	free(h->cfg.hostname);
	h->cfg.hostname = xstrdup("mx.example.org");
	h->cfg.max_message_size = 1000;
	h->cfg.max_recipients = 5;
	h->cfg.smtp_max_line = 128;
	h->info.peer_ip = loopback ? "127.0.0.1" : "192.0.2.1";
	h->info.peer_loopback = loopback;
	h->info.tls = tls;
	h->info.tls_available = true;
	h->info.session_id = "sess1";
	h->info.listener = listener;
	buf_init(&h->in);
	buf_init(&h->out);
	buf_init(&h->fake.msg);
	return h;
}

static void h_open(struct h *h)
{
	h->s = smtp_session_create(&h->cfg, &h->info,
				   &(struct smtp_hooks){.ctx = &h->fake,
							.auth = fake_auth,
							.rcpt = fake_rcpt,
							.sender = fake_sender,
							.deliver = fake_deliver},
				   &h->out);
}

static struct h *h_start(const char *listener, bool tls, bool loopback)
{
	struct h *h = h_new(listener, tls, loopback);
	h_open(h);
	return h;
}

static void h_free(struct h *h)
{
	smtp_session_destroy(&h->s);
	buf_deinit(&h->in);
	buf_deinit(&h->out);
	buf_deinit(&h->fake.msg);
	config_deinit(&h->cfg);
	free(h);
}

static enum conn_result h_feed_n(struct h *h, const char *data, size_t len)
{
	buf_append(&h->in, data, len);
	h->last = smtp_session_input(h->s, &h->in, &h->out);
	return h->last;
}

static enum conn_result h_feed(struct h *h, const char *data)
{
	return h_feed_n(h, data, strlen(data));
}

/* The output so far as a C string, then forget it. Caller frees. */
static char *h_take(struct h *h)
{
	char *s = xstrndup(h->out.data ? h->out.data : "", h->out.len);
	buf_clear(&h->out);
	return s;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Feed data and expect exactly this output. */
static void expect(struct h *h, const char *data, const char *want)
{
	h_feed(h, data);
	char *got = h_take(h);
	assert_string_equal(got, want);
	free(got);
}

/* Feed data and expect the output to start with prefix. */
static void expect_prefix(struct h *h, const char *data, const char *prefix)
{
	h_feed(h, data);
	char *got = h_take(h);
	if (strncmp(got, prefix, strlen(prefix)) != 0)
		fail_msg("got \"%s\", want prefix \"%s\"", got, prefix);
	free(got);
}

static void b64(const void *in, size_t len, char *out, size_t outsz)
{
	assert_true(auth_base64_encode(in, len, out, outsz) >= 0);
}

/* --- parser ------------------------------------------------------------ */

static void test_parse_cmdline(void **state)
{
	struct smtp_cmdline c;
	char l1[] = "mail FROM:<a@b>  ";
	assert_int_equal(smtp_parse_cmdline(l1, &c), 0);
	assert_string_equal(c.verb, "MAIL");
	assert_string_equal(c.args, "FROM:<a@b>");
	char l2[] = "QUIT";
	assert_int_equal(smtp_parse_cmdline(l2, &c), 0);
	assert_null(c.args);
	char l3[] = "QU1T";
	assert_int_equal(smtp_parse_cmdline(l3, &c), -1);
	char l4[] = "";
	assert_int_equal(smtp_parse_cmdline(l4, &c), -1);
	char l5[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	assert_int_equal(smtp_parse_cmdline(l5, &c), -1);
	char l6[] = " NOOP";
	assert_int_equal(smtp_parse_cmdline(l6, &c), -1);
}

static void test_parse_path(void **state)
{
	struct smtp_path p;
	const char *why;
	char a1[] = "FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8";
	assert_int_equal(smtp_parse_path(a1, "FROM", &p, &why), 0);
	assert_string_equal(p.address, "a@b.example");
	assert_int_equal(p.n_params, 3);
	assert_string_equal(p.params[0].key, "SIZE");
	assert_string_equal(p.params[0].value, "100");
	assert_string_equal(p.params[1].value, "8BITMIME");
	assert_null(p.params[2].value);

	char a2[] = "from: <>";
	assert_int_equal(smtp_parse_path(a2, "FROM", &p, &why), 0);
	assert_string_equal(p.address, "");

	char a3[] = "TO:<\"john >doe\"@x.example>";
	assert_int_equal(smtp_parse_path(a3, "TO", &p, &why), 0);
	assert_string_equal(p.address, "\"john >doe\"@x.example");

	char a4[] = "TO:<@relay.example,@r2.example:u@x.example>";
	assert_int_equal(smtp_parse_path(a4, "TO", &p, &why), 0);
	assert_string_equal(p.address, "u@x.example");

	const char *bad[] = {
		"TO:u@x.example",
		"TO:<u@x.example",
		"TO:<u@x.example>junk",
		"TO <u@x.example>",
		"FROM:<u@x.example>",
		"TO:<u x@y>",
		"TO:<u@x> =1",
		"TO:<u@x> A=",
		"TO:<u@x> A=b=c",
		"TO:<@r:>",
		"TO:<u@x> A B C D E F G H I",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char tmp[128];
		snprintf(tmp, sizeof(tmp), "%s", bad[i]);
		if (smtp_parse_path(tmp, "TO", &p, &why) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	char longp[600] = "TO:<";
	memset(longp + 4, 'a', 400);
	strcpy(longp + 404, "@x>");
	assert_int_equal(smtp_parse_path(longp, "TO", &p, &why), -1);
}

static void test_parse_numbers(void **state)
{
	uint64_t n;
	bool last;
	assert_int_equal(smtp_parse_number("0", &n), 0);
	assert_int_equal(smtp_parse_number("18446744073709551615", &n), 0);
	assert_true(n == UINT64_MAX);
	assert_int_equal(smtp_parse_number("18446744073709551616", &n), -1);
	assert_int_equal(smtp_parse_number("", &n), -1);
	assert_int_equal(smtp_parse_number("12a", &n), -1);
	assert_int_equal(smtp_parse_number("-1", &n), -1);
	assert_int_equal(smtp_parse_bdat("42", &n, &last), 0);
	assert_true(n == 42 && !last);
	assert_int_equal(smtp_parse_bdat("7 last", &n, &last), 0);
	assert_true(n == 7 && last);
	assert_int_equal(smtp_parse_bdat("7 LAST x", &n, &last), -1);
	assert_int_equal(smtp_parse_bdat("x", &n, &last), -1);
	assert_int_equal(smtp_parse_bdat(NULL, &n, &last), -1);
	assert_int_equal(smtp_parse_bdat("99999999999999999999999", &n, &last), -1);
	assert_true(smtp_helo_valid("client.example"));
	assert_true(smtp_helo_valid("[192.0.2.1]"));
	assert_false(smtp_helo_valid("bad name"));
	assert_false(smtp_helo_valid("x(y)"));
	assert_false(smtp_helo_valid(""));
}

/* --- MX sessions ------------------------------------------------------- */

static void test_mx_happy(void **state)
{
	struct h *h = h_start("smtp", false, false);
	char *greet = h_take(h);
	assert_string_equal(greet, "220 mx.example.org ESMTP facteur\r\n");
	free(greet);
	expect(h, "EHLO client.example\r\n",
	       "250-mx.example.org Hello client.example\r\n250-PIPELINING\r\n"
	       "250-SIZE 1000\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	       "250-STARTTLS\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n");
	expect(h, "MAIL FROM:<sender@remote.net> BODY=8BITMIME SIZE=100\r\n", "250 2.1.0 Ok\r\n");
	expect(h, "RCPT TO:<Alice@Example.org>\r\n", "250 2.1.5 Ok\r\n");
	expect(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_DATA);
	expect(h, "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n",
	       "250 2.0.0 Ok: queued as sess1.1\r\n");
	assert_int_equal(h->fake.deliver_calls, 1);
	assert_int_equal(h->fake.n_accounts, 1);
	assert_int_equal(h->fake.accounts[0], 1);
	assert_int_equal(h->fake.n_remote, 0);
	const char *m = h->fake.msg.data;
	const char *head = "Return-Path: <sender@remote.net>\r\nReceived: from "
			   "client.example ([192.0.2.1])\r\n\tby mx.example.org "
			   "(facteur) with ESMTP id sess1.1\r\n\tfor <Alice@Example.org>;\r\n\t";
	assert_memory_equal(m, head, strlen(head));
	assert_int_equal(h->fake.return_path_len, strlen("Return-Path: <sender@remote.net>\r\n"));
	const char *body = strstr(m, "+0000\r\n");
	assert_non_null(body);
	assert_string_equal(body + 7, "Subject: hi\r\n\r\n.dot\r\nbody\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	expect(h, "QUIT\r\n", "221 2.0.0 mx.example.org Bye\r\n");
	assert_int_equal(h->last, CONN_CLOSE);
	assert_int_equal(h_feed(h, "NOOP\r\n"), CONN_CLOSE);
	h_free(h);
}

static const char pipelined[] = "EHLO client.example\r\n"
				"MAIL FROM:<>\r\n"
				"RCPT TO:<alice@example.org>\r\n"
				"RCPT TO:<nobody@example.org>\r\n"
				"RCPT TO:<bob@example.org>\r\n"
				"RCPT TO:<group@example.org>\r\n"
				"DATA\r\n"
				"Subject: p\r\n\r\nline\r\n.\r\n"
				"RSET\r\nNOOP\r\nHELP\r\nVRFY x\r\nEXPN x\r\n"
				"MAIL FROM:<a@remote.net>\r\nRCPT TO:<bob@example.org>\r\n"
				"BDAT 10\r\n0123456789BDAT 5 LAST\r\nabcde"
				"QUIT\r\n";

static void test_pipelining(void **state)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	assert_int_equal(h_feed(h, pipelined), CONN_CLOSE);
	char *out = h_take(h);
	const char *want_tail = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n"
				"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
				"354 End data with <CR><LF>.<CR><LF>\r\n"
				"250 2.0.0 Ok: queued as sess1.1\r\n"
				"250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n";
	assert_non_null(strstr(out, want_tail));
	assert_non_null(strstr(out, "252 2.5.2"));
	assert_non_null(strstr(out, "502 5.5.1 EXPN"));
	assert_non_null(strstr(out,
			       "250 2.0.0 10 octets received\r\n"
			       "250 2.0.0 Ok: queued as sess1.2\r\n"
			       "221 2.0.0 mx.example.org Bye\r\n"));
	free(out);
	/* the BDAT message, to bob only */
	assert_int_equal(h->fake.deliver_calls, 2);
	assert_int_equal(h->fake.n_accounts, 1);
	assert_int_equal(h->fake.accounts[0], 2);
	assert_non_null(strstr(h->fake.msg.data, "+0000\r\n0123456789abcde"));
	h_free(h);
}

/* The first message (DATA) of the pipelined session: targets deduplicated. */
static void test_pipelining_targets(void **state)
{
	struct h *h = h_start("smtp", false, false);
	const char *first = strstr(pipelined, "RSET");
	h_feed_n(h, pipelined, (size_t)(first - pipelined));
	assert_int_equal(h->fake.deliver_calls, 1);
	assert_int_equal(h->fake.n_accounts, 2); /* alice, bob; group adds nothing new */
	assert_int_equal(h->fake.n_remote, 1);
	assert_string_equal(h->fake.remote[0], "friend@remote.net");
	assert_string_equal(h->fake.sender, "");
	/* several recipients: no "for" clause */
	assert_null(strstr(h->fake.msg.data, "\tfor <"));
	h_free(h);
}

/* A session mixing everything, fed whole and one byte at a time. */
static const char transcript[] =
	"EHLO client.example\r\n"
	"NOOP\r\n"
	"MAIL FROM:<a@remote.net> SIZE=20\r\n"
	"RCPT TO:<alice@example.org>\r\n"
	"DATA\r\n"
	"Subject: a\r\n\r\n..x\r\n.y\r\nbare\nlf\r\n.\r\n"
	"MAIL FROM:<a@remote.net>\r\n"
	"RCPT TO:<alice@example.org>\r\n"
	"DATA\r\n"
	"Subject: b\r\n\r\nhello\r\n\r\n.\r\n"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
	"NO\rOP\r\n"
	"NOOP\n"
	"MAIL FROM:<a@remote.net>\r\n"
	"RCPT TO:<bob@example.org>\r\n"
	"BDAT 3\r\nabcBDAT 0 LAST\r\n"
	"MAIL FROM:<a@remote.net>\r\n"
	"RCPT TO:<bob@example.org>\r\n"
	"BDAT 2000\r\n"
	"RSET\r\n"
	"QUIT\r\n";

static char *run_transcript(bool bytewise, struct buf *bodies)
{
	struct h *h = h_start("smtp", false, false);
	const char *p = transcript;
	size_t len = sizeof(transcript) - 1;
	if (bytewise) {
		for (size_t i = 0; i < len && h->last != CONN_CLOSE; i++)
			h_feed_n(h, p + i, 1);
	} else {
		h_feed_n(h, p, len);
	}
	buf_append_str(bodies, strstr(h->fake.msg.data, "+0000\r\n"));
	char *out = h_take(h);
	h_free(h);
	return out;
}

static void test_byte_at_a_time(void **state)
{
	struct buf b1, b2;
	buf_init(&b1);
	buf_init(&b2);
	char *whole = run_transcript(false, &b1);
	char *bytes = run_transcript(true, &b2);
	assert_string_equal(whole, bytes);
	assert_string_equal(buf_cstr(&b1), buf_cstr(&b2));
	assert_int_equal(count(whole, "queued as"), 2);
	assert_int_equal(count(whole, "550 5.6.11"), 1);
	assert_int_equal(count(whole, "Line too long"), 1);
	assert_int_equal(count(whole, "Bare CR not allowed"), 1);
	assert_int_equal(count(whole, "Bare LF not allowed"), 1);
	/* BDAT 2000 is refused; RSET and QUIT are then swallowed as its octets */
	assert_int_equal(count(whole, "552 5.3.4"), 1);
	assert_null(strstr(whole, "221"));
	free(whole);
	free(bytes);
	buf_deinit(&b1);
	buf_deinit(&b2);
}

/* --- SMTP smuggling ---------------------------------------------------- */

static void smuggle(const char *fake_end)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	struct buf in;
	buf_init(&in);
	buf_printf(&in,
		   "EHLO c.example\r\nMAIL FROM:<a@remote.net>\r\n"
		   "RCPT TO:<alice@example.org>\r\nDATA\r\n"
		   "Subject: x\r\n\r\nfirst%s"
		   "MAIL FROM:<evil@remote.net>\r\nRCPT TO:<bob@example.org>\r\n"
		   "DATA\r\nsmuggled\r\n.\r\nNOOP\r\n",
		   fake_end);
	h_feed_n(h, in.data, in.len);
	char *out = h_take(h);
	/* one MAIL, one RCPT accepted; the hidden ones were message text */
	assert_int_equal(count(out, "250 2.1.0"), 1);
	assert_int_equal(count(out, "250 2.1.5"), 1);
	assert_int_equal(count(out, "354 "), 1);
	assert_int_equal(count(out, "550 5.6.11"), 1);
	assert_int_equal(h->fake.deliver_calls, 0);
	/* the NOOP after the real end is a command again */
	assert_non_null(strstr(out,
			       "550 5.6.11 Bare CR or LF in message; lines must end "
			       "with CRLF\r\n250 2.0.0 Ok\r\n"));
	free(out);
	buf_deinit(&in);
	h_free(h);
}

static void test_smuggling(void **state)
{
	const char *variants[] = {
		"\n.\n",       "\r\n.\n",   "\n.\r\n", "\r.\r",       "\r.\r\n",     "\r\n.\r",
		"\r\n.\r\r\n", "\n.\n\r\n", ".\n",     "\r\n.\n\r\n", "\r\n\r.\r\n", "\n\r\n.\n",
	};
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		smuggle(variants[i]);
}

/* "\r\n.\r\n" inside a clean message: the real end, nothing smuggled. */
static void test_dot_handling(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h,
	       "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n"
	       "DATA\r\n.\r\n");
	char *out = h_take(h);
	assert_non_null(strstr(out, "queued as sess1.1"));
	free(out);
	assert_string_equal(strstr(h->fake.msg.data, "+0000\r\n") + 7, "");
	h_feed(h,
	       "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n"
	       "DATA\r\n...\r\n. \r\n.x\r\n\r\n.\r\n");
	assert_string_equal(strstr(h->fake.msg.data, "+0000\r\n") + 7, "..\r\n \r\nx\r\n\r\n");
	h_free(h);
}

/* --- STARTTLS ---------------------------------------------------------- */

static void test_starttls_injection(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c.example\r\n");
	free(h_take(h));
	assert_int_equal(h_feed(h, "STARTTLS\r\nEHLO x\r\n"), CONN_STARTTLS);
	char *out = h_take(h);
	assert_string_equal(out, "220 2.0.0 Ready to start TLS\r\n");
	free(out);
	/* the injected EHLO is still in the buffer, untouched */
	assert_int_equal(h->in.len, strlen("EHLO x\r\n"));
	assert_memory_equal(h->in.data, "EHLO x\r\n", h->in.len);
	buf_clear(&h->in); /* what the connection layer does */
	h->info.tls = true;
	smtp_session_tls_started(h->s, &h->out);
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_INIT);
	expect(h, "MAIL FROM:<a@remote.net>\r\n", "503 5.5.1 Bad sequence of commands\r\n");
	h_feed(h, "EHLO c.example\r\n");
	out = h_take(h);
	assert_null(strstr(out, "STARTTLS"));
	free(out);
	expect(h, "STARTTLS\r\n", "503 5.5.1 TLS already active\r\n");
	h_feed(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\n");
	assert_non_null(strstr(h->fake.msg.data, "with ESMTPS id"));
	h_free(h);
}

static void test_starttls_unavailable(void **state)
{
	struct h *h = h_new("smtp", false, false);
	h->info.tls_available = false;
	h_open(h);
	h_feed(h, "EHLO c\r\n");
	char *out = h_take(h);
	assert_null(strstr(out, "STARTTLS"));
	free(out);
	expect(h, "STARTTLS\r\n", "454 4.7.0 TLS not available\r\n");
	expect(h, "STARTTLS now\r\n", "501 5.5.4 Syntax error in parameters or arguments\r\n");
	h_free(h);
}

/* --- input hygiene ----------------------------------------------------- */

static void test_long_lines(void **state)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	char line[512];
	/* exactly the cap, CRLF included: accepted */
	memset(line, ' ', sizeof(line));
	memcpy(line, "NOOP", 4);
	memcpy(line + 126, "\r\n", 3);
	expect(h, line, "250 2.0.0 Ok\r\n");
	/* one more: refused before the newline arrives */
	memset(line, 'A', sizeof(line));
	h_feed_n(h, line, 127);
	char *out = h_take(h);
	assert_string_equal(out, "");
	free(out);
	h_feed_n(h, line, 1);
	out = h_take(h);
	assert_string_equal(out, "500 5.5.2 Line too long\r\n");
	free(out);
	/* the rest of that line is skipped, however long */
	for (int i = 0; i < 20; i++)
		h_feed_n(h, line, sizeof(line));
	expect(h, "MORE\rJUNK\r\nNOOP\r\n", "250 2.0.0 Ok\r\n");
	h_free(h);
}

static void test_bad_terminators(void **state)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	h_feed_n(h, "NO\0OP\r\n", 7);
	char *out = h_take(h);
	assert_string_equal(out, "500 5.5.2 NUL not allowed in commands\r\n");
	free(out);
	expect(h, "NOOP\n", "500 5.5.2 Bare LF not allowed; end commands with CRLF\r\n");
	expect(h, "\n", "500 5.5.2 Bare LF not allowed; end commands with CRLF\r\n");
	expect(h, "NOOP\rRSET\r\n", "500 5.5.2 Bare CR not allowed; end commands with CRLF\r\n");
	expect(h, "NOOP\r", "");
	expect(h, "NOOP\r\n", "500 5.5.2 Bare CR not allowed; end commands with CRLF\r\n");
	expect(h, "\r\n", "500 5.5.2 Syntax error, command unrecognized\r\n");
	expect(h, "FOO\r\n", "500 5.5.2 Command unrecognized\r\n");
	h_free(h);
}

static void test_error_limit(void **state)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	for (int i = 0; i < 9; i++)
		assert_int_equal(h_feed(h, "FOO\r\n"), CONN_OK);
	assert_int_equal(h_feed(h, "FOO\r\nNOOP\r\n"), CONN_CLOSE);
	char *out = h_take(h);
	assert_int_equal(count(out, "500 5.5.2"), 10);
	assert_non_null(strstr(out, "421 4.7.0 mx.example.org Too many errors"));
	assert_null(strstr(out, "250"));
	free(out);
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_CLOSED);
	h_free(h);
}

static void test_timeout(void **state)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	assert_int_equal(smtp_session_idle_timeout(h->s), 300);
	h_feed(h,
	       "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n"
	       "DATA\r\npartial");
	free(h_take(h));
	smtp_session_timeout(h->s, &h->out);
	char *out = h_take(h);
	assert_string_equal(out, "421 4.4.2 mx.example.org Idle timeout, closing connection\r\n");
	free(out);
	assert_int_equal(h_feed(h, "\r\n.\r\n"), CONN_CLOSE);
	assert_int_equal(h->fake.deliver_calls, 0);
	h_free(h);
}

static void test_sequence(void **state)
{
	struct h *h = h_start("smtp", false, false);
	free(h_take(h));
	const char *bad = "503 5.5.1 Bad sequence of commands\r\n";
	expect(h, "MAIL FROM:<a@remote.net>\r\n", bad);
	expect(h, "EHLO\r\n", "501 5.5.4 Syntax error in parameters or arguments\r\n");
	expect(h, "EHLO bad(name)\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
	expect(h, "HELO c.example\r\n", "250 mx.example.org\r\n");
	expect(h, "RCPT TO:<alice@example.org>\r\n", bad);
	expect(h, "DATA\r\n", bad);
	expect(h, "MAIL FROM:<a@remote.net> SIZE=10\r\n", "555 5.5.4 Parameters need EHLO\r\n");
	expect(h, "MAIL FROM:<a@remote.net>\r\n", "250 2.1.0 Ok\r\n");
	expect(h, "MAIL FROM:<a@remote.net>\r\n", bad);
	expect(h, "AUTH PLAIN\r\n", "502 5.5.1 AUTH not available on this port\r\n");
	expect(h, "RSET\r\n", "250 2.0.0 Ok\r\n");
	expect(h, "RSET x\r\n", "501 5.5.4 Syntax error in parameters or arguments\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	h_free(h);
}

/* --- MX recipient policy and sizes ------------------------------------- */

static void test_mx_recipients(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\n");
	free(h_take(h));
	expect(h, "RCPT TO:<x@remote.net>\r\n", "554 5.7.1 Relay access denied\r\n");
	expect(h, "RCPT TO:<nobody@example.org>\r\n", "550 5.1.1 User unknown\r\n");
	expect(h, "RCPT TO:<full@example.org>\r\n", "452 4.2.2 Mailbox full\r\n");
	expect(h, "RCPT TO:<fail@example.org>\r\n", "451 4.3.0 Temporary lookup failure\r\n");
	expect(h, "RCPT TO:<not an address>\r\n",
	       "501 5.5.4 Syntax error in address; use RCPT TO:<address>\r\n");
	expect(h, "RCPT TO:<a..b@example.org>\r\n", "501 5.1.3 Bad address syntax\r\n");
	expect(h, "RCPT TO:<>\r\n", "501 5.1.3 Bad address syntax\r\n");
	expect(h, "RCPT TO:<alice@example.org> NOTIFY=NEVER\r\n",
	       "555 5.5.4 Unsupported parameter\r\n");
	expect(h, "RCPT TO:<\xc3\xa9t\xc3\xa9@example.org>\r\n",
	       "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
	expect(h, "RCPT TO:<Postmaster>\r\n", "250 2.1.5 Ok\r\n");
	expect(h, "RSET\r\n", "250 2.0.0 Ok\r\n");
	h_free(h);
}

/* <postmaster> goes to the configured postmaster_address. */
static void test_bare_postmaster(void **state)
{
	struct h *h = h_new("smtp", false, false);
	free(h->cfg.postmaster_address);
	h->cfg.postmaster_address = xstrdup("bob@example.org");
	h_open(h);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\n");
	free(h_take(h));
	expect(h, "RCPT TO:<postmaster>\r\n", "250 2.1.5 Ok\r\n");
	expect(h, "RCPT TO:<postmaster@elsewhere.net>\r\n", "554 5.7.1 Relay access denied\r\n");
	h_feed(h, "DATA\r\nx\r\n.\r\n");
	assert_int_equal(h->fake.n_accounts, 1);
	assert_int_equal(h->fake.accounts[0], 2);
	h_free(h);
}

static void test_too_many_recipients(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\n");
	free(h_take(h));
	for (int i = 0; i < 5; i++)
		expect(h, "RCPT TO:<alice@example.org>\r\n", "250 2.1.5 Ok\r\n");
	expect(h, "RCPT TO:<bob@example.org>\r\n", "452 4.5.3 Too many recipients\r\n");
	h_feed(h, "DATA\r\nx\r\n.\r\n");
	assert_int_equal(h->fake.n_accounts, 1);
	h_free(h);
}

/*
 * RFC 5321 4.5.3.1.10: 452 for too many recipients is not an error. A
 * client pipelining far more recipients than the cap keeps its
 * transaction; only past the overshoot allowance do the 452s count.
 */
static void test_recipient_overshoot(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h->cfg.recipient_overshoot = 30;
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\n");
	free(h_take(h));
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 5 + 30; i++)
		buf_append_str(&b, "RCPT TO:<alice@example.org>\r\n");
	buf_append_str(&b, "DATA\r\nx\r\n.\r\n");
	assert_int_equal(h_feed_n(h, b.data, b.len), CONN_OK);
	char *out = h_take(h);
	assert_int_equal(count(out, "250 2.1.5 Ok"), 5);
	assert_int_equal(count(out, "452 4.5.3 Too many recipients"), 30);
	assert_null(strstr(out, "421"));
	assert_non_null(strstr(out, "250 2.0.0 Ok: queued as"));
	free(out);
	assert_int_equal(h->fake.deliver_calls, 1);
	/* past the overshoot, each further 452 counts: the tenth closes */
	buf_clear(&b);
	buf_append_str(&b, "MAIL FROM:<a@remote.net>\r\n");
	for (int i = 0; i < 5 + 30 + 10; i++)
		buf_append_str(&b, "RCPT TO:<alice@example.org>\r\n");
	assert_int_equal(h_feed_n(h, b.data, b.len), CONN_CLOSE);
	out = h_take(h);
	assert_int_equal(count(out, "452 4.5.3 Too many recipients"), 40);
	assert_non_null(strstr(out, "421 4.7.0 mx.example.org Too many errors"));
	free(out);
	buf_deinit(&b);
	h_free(h);
}

static void test_mail_params(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\n");
	free(h_take(h));
	expect(h, "MAIL FROM:<a@remote.net> SIZE=1001\r\n",
	       "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
	expect(h, "MAIL FROM:<a@remote.net> SIZE=abc\r\n", "501 5.5.4 Bad SIZE value\r\n");
	expect(h, "MAIL FROM:<a@remote.net> SIZE\r\n", "501 5.5.4 Bad SIZE value\r\n");
	expect(h, "MAIL FROM:<a@remote.net> BODY=BINARYMIME\r\n",
	       "501 5.5.4 Unsupported BODY value\r\n");
	expect(h, "MAIL FROM:<a@remote.net> FOO=BAR\r\n", "555 5.5.4 Unsupported parameter\r\n");
	expect(h, "MAIL FROM:<a@remote.net> SMTPUTF8=1\r\n", "555 5.5.4 Unsupported parameter\r\n");
	expect(h, "MAIL FROM:<\xc3\xa9@remote.net>\r\n",
	       "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
	expect(h, "MAIL FROM:<a@remote.net> BODY=7BIT AUTH=<>\r\n", "250 2.1.0 Ok\r\n");
	expect(h, "RSET\r\n", "250 2.0.0 Ok\r\n");
	expect(h, "MAIL FROM:<\xc3\xa9t\xc3\xa9@remote.net> SMTPUTF8\r\n", "250 2.1.0 Ok\r\n");
	expect(h, "RCPT TO:<alice@example.org>\r\n", "250 2.1.5 Ok\r\n");
	h_feed(h, "DATA\r\nx\r\n.\r\n");
	assert_non_null(strstr(h->fake.msg.data, "with UTF8SMTP id"));
	h_free(h);
}

static void test_data_too_big(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
	free(h_take(h));
	char chunk[100];
	memset(chunk, 'x', sizeof(chunk) - 2);
	memcpy(chunk + 98, "\r\n", 2);
	for (int i = 0; i < 50; i++)
		h_feed_n(h, chunk, sizeof(chunk));
	char *out = h_take(h);
	assert_string_equal(out, "");
	free(out);
	expect(h, "MAIL FROM:<x@y.example>\r\n.\r\nNOOP\r\n",
	       "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	       "250 2.0.0 Ok\r\n");
	assert_int_equal(h->fake.deliver_calls, 0);
	/* at the cap exactly: accepted */
	h_feed(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
	free(h_take(h));
	for (int i = 0; i < 10; i++)
		h_feed_n(h, chunk, sizeof(chunk));
	expect_prefix(h, ".\r\n", "250 2.0.0 Ok: queued");
	h_free(h);
}

/* A message the spool cannot hold is swallowed and refused with 452; the session goes on. */
static void test_spool_budget(void **state)
{
	spool_configure(256, 1 << 20, 600);
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
	free(h_take(h));
	char chunk[100];
	memset(chunk, 'x', sizeof(chunk) - 2);
	memcpy(chunk + 98, "\r\n", 2);
	for (int i = 0; i < 8; i++)
		h_feed_n(h, chunk, sizeof(chunk));
	char *out = h_take(h);
	assert_string_equal(out, "");
	free(out);
	expect(h, ".\r\nNOOP\r\n", "452 4.3.1 Insufficient system storage\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(h->fake.deliver_calls, 0);
	assert_int_equal(spool_unauth_used(), 0);
	/* Within the budget: delivered whole, though past the memory threshold. */
	h_feed(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
	free(h_take(h));
	for (int i = 0; i < 3; i++)
		h_feed_n(h, chunk, sizeof(chunk));
	expect_prefix(h, ".\r\n", "250 2.0.0 Ok: queued");
	assert_int_equal(h->fake.deliver_calls, 1);
	assert_true(h->fake.msg.len > 300);
	assert_memory_equal(h->fake.msg.data + h->fake.msg.len - 100, chunk, 100);
	h_free(h);
	spool_configure(0, 0, 0);
}

static void test_deliver_failures(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\n");
	free(h_take(h));
	h->fake.deliver_result = SMTP_DELIVER_TEMPFAIL;
	expect(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\n",
	       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	       "451 4.3.0 Temporary failure, try again later\r\n");
	h->fake.deliver_result = SMTP_DELIVER_QUOTA;
	expect_prefix(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n",
		      "250 2.1.0");
	expect(h, "x\r\n.\r\n", "552 5.2.2 Mailbox full\r\n");
	h_free(h);
}

/*
 * The asynchronous deliver hook: PENDING makes the engine wait (CONN_WAIT,
 * pipelined input left alone) and resume polls the hook until it answers.
 */
static void test_deliver_pending(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO client.test\r\n");
	free(h_take(h));
	h->fake.pending_polls = 3;
	assert_int_equal(h_feed(h,
				"MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n"
				"DATA\r\nhello\r\n.\r\nNOOP\r\n"),
			 CONN_WAIT);
	char *got = h_take(h);
	assert_string_equal(got,
			    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			    "354 End data with <CR><LF>.<CR><LF>\r\n");
	free(got);
	assert_int_equal(h->in.len, 6); /* NOOP waits for the reply */
	assert_int_equal(h->fake.deliver_calls, 1);
	assert_string_equal(h->fake.helo, "client.test");
	assert_false(h->fake.had_auth_user);
	/* more input while waiting is not read */
	assert_int_equal(h_feed(h, "RSET\r\n"), CONN_WAIT);
	assert_int_equal(h->in.len, 12);
	assert_int_equal(smtp_session_resume(h->s, &h->out), CONN_WAIT);
	assert_int_equal(smtp_session_resume(h->s, &h->out), CONN_WAIT);
	assert_int_equal(h->out.len, 0);
	assert_int_equal(smtp_session_resume(h->s, &h->out), CONN_OK);
	assert_int_equal(h->fake.deliver_calls, 4);
	expect(h, "", "250 2.0.0 Ok: queued as sess1.1\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
	assert_non_null(strstr(h->fake.msg.data, "hello\r\n"));
	/* nothing waits: resume is a no-op */
	assert_int_equal(smtp_session_resume(h->s, &h->out), CONN_OK);
	assert_int_equal(h->out.len, 0);

	h_free(h);

	/* a refusal by policy, with the hook's text sanitised */
	h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n");
	free(h_take(h));
	h->fake.pending_polls = 1;
	h->fake.deliver_result = SMTP_DELIVER_REJECT;
	assert_int_equal(h_feed(h, "BDAT 3 LAST\r\nx\r\n"), CONN_WAIT);
	assert_int_equal(h->out.len, 0);
	assert_int_equal(smtp_session_resume(h->s, &h->out), CONN_OK);
	expect(h, "", "550 5.7.1 Rejected by policy of??x.test\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	h_free(h);

	/* a deferral by policy (greylisting): 451 4.7.1 with the same text rules */
	h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n");
	free(h_take(h));
	h->fake.deliver_result = SMTP_DELIVER_DEFER;
	h_feed(h, "BDAT 3 LAST\r\nx\r\n");
	expect(h, "", "451 4.7.1 Rejected by policy of??x.test\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	h_free(h);
}

/* The connection's idle timeout (or a shutdown) while a message waits. */
static void test_deliver_pending_timeout(void **state)
{
	struct h *h = h_start("submission", true, false);
	h_feed(h,
	       "EHLO c\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\n"
	       "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n");
	free(h_take(h));
	h->fake.pending_polls = 100;
	assert_int_equal(h_feed(h, "DATA\r\nx\r\n.\r\n"), CONN_WAIT);
	assert_true(h->fake.had_auth_user);
	assert_string_equal(h->fake.deliver_user, "alice@example.org");
	free(h_take(h));
	smtp_session_timeout(h->s, &h->out);
	char *got = h_take(h);
	assert_non_null(strstr(got, "421 4.4.2"));
	free(got);
	assert_int_equal(smtp_session_resume(h->s, &h->out), CONN_CLOSE);
	assert_int_equal(smtp_session_input(h->s, &h->in, &h->out), CONN_CLOSE);
	assert_int_equal(h->fake.deliver_calls, 1);
	h_free(h);
}

/* --- BDAT -------------------------------------------------------------- */

static void test_bdat(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\n");
	free(h_take(h));
	/* no transaction: refused, and the octets are not commands */
	expect(h, "BDAT 6\r\nQUIT\r\nNOOP\r\n",
	       "503 5.5.1 Bad sequence of commands\r\n250 2.0.0 Ok\r\n");
	expect(h, "BDAT x\r\n", "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
	h_feed(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n");
	free(h_take(h));
	expect(h, "BDAT 4\r\nab\r\n", "250 2.0.0 4 octets received\r\n");
	expect(h, "DATA\r\n", "503 5.5.1 Bad sequence of commands\r\n");
	expect(h, "BDAT 3 LAST\r\n.\r\n", "250 2.0.0 Ok: queued as sess1.1\r\n");
	assert_string_equal(strstr(h->fake.msg.data, "+0000\r\n") + 7, "ab\r\n.\r\n");
	expect(h, "BDAT 1 LAST\r\nx", "503 5.5.1 Bad sequence of commands\r\n");
	/* oversized chunk: 552, its octets skipped, the transaction gone */
	h_feed(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n");
	free(h_take(h));
	expect(h, "BDAT 600\r\n", "");
	char junk[600];
	memset(junk, 'j', sizeof(junk));
	h_feed_n(h, junk, sizeof(junk));
	char *out = h_take(h);
	assert_string_equal(out, "250 2.0.0 600 octets received\r\n");
	free(out);
	expect(h, "BDAT 500\r\n", "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	h_feed_n(h, junk, 400);
	h_feed_n(h, "QUIT\r\n", 6); /* inside the 500 octets */
	h_feed_n(h, junk, 94);
	out = h_take(h);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(h->last, CONN_OK);
	expect(h, "BDAT 5 LAST\r\n12345NOOP\r\n",
	       "503 5.5.1 Bad sequence of commands\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(h->fake.deliver_calls, 1);
	h_free(h);
}

/* NUL in a message body is refused at its end, in DATA and in BDAT. */
static void test_nul_in_message(void **state)
{
	struct h *h = h_start("smtp", false, false);
	h_feed(h, "EHLO c\r\nMAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n");
	free(h_take(h));
	static const char data[] = "DATA\r\nSubject: x\r\n\r\nab\0cd\r\n.\r\n";
	h_feed_n(h, data, sizeof(data) - 1);
	char *out = h_take(h);
	assert_string_equal(out,
			    "354 End data with <CR><LF>.<CR><LF>\r\n"
			    "550 5.6.0 NUL character in message not allowed\r\n");
	free(out);
	h_feed(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n");
	free(h_take(h));
	h_feed_n(h, "BDAT 4 LAST\r\na\0\r\n", 17);
	out = h_take(h);
	assert_string_equal(out, "550 5.6.0 NUL character in message not allowed\r\n");
	free(out);
	assert_int_equal(h->fake.deliver_calls, 0);
	/* the session goes on: a clean message is delivered */
	expect(h, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n",
	       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	expect_prefix(h, "ok\r\n.\r\n", "250 2.0.0 Ok: queued");
	h_free(h);
}

/* --- submission -------------------------------------------------------- */

static void test_submission_auth_required(void **state)
{
	struct h *h = h_start("submission", false, true);
	h_feed(h, "EHLO c\r\n");
	char *out = h_take(h);
	assert_non_null(strstr(out, "250-AUTH PLAIN LOGIN\r\n"));
	free(out);
	expect(h, "MAIL FROM:<alice@example.org>\r\n", "530 5.7.0 Authentication required\r\n");
	expect(h, "RCPT TO:<alice@example.org>\r\n", "503 5.5.1 Bad sequence of commands\r\n");
	h_free(h);
}

static void test_encryption_required(void **state)
{
	struct h *h = h_start("submission", false, false); /* not loopback */
	h_feed(h, "EHLO c\r\n");
	char *out = h_take(h);
	assert_null(strstr(out, "AUTH"));
	assert_non_null(strstr(out, "STARTTLS"));
	free(out);
	expect(h, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\n",
	       "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
	assert_int_equal(h->fake.auth_calls, 0);
	/* after STARTTLS it is offered */
	assert_int_equal(h_feed(h, "STARTTLS\r\n"), CONN_STARTTLS);
	h->info.tls = true;
	smtp_session_tls_started(h->s, &h->out);
	h_feed(h, "EHLO c\r\n");
	out = h_take(h);
	assert_non_null(strstr(out, "AUTH PLAIN LOGIN"));
	free(out);
	h_free(h);
}

static void test_auth_plain(void **state)
{
	struct h *h = h_start("submissions", true, false);
	char good[128], bad[128];
	b64("\0alice@example.org\0secret", 25, good, sizeof(good));
	b64("\0alice@example.org\0wrong", 24, bad, sizeof(bad));
	h_feed(h, "EHLO c\r\n");
	char *out = h_take(h);
	assert_null(strstr(out, "STARTTLS"));
	assert_non_null(strstr(out, "AUTH PLAIN LOGIN"));
	free(out);
	expect(h, "AUTH PLAIN\r\n", "334 \r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_AUTH);
	expect(h, "*\r\n", "501 5.7.0 Authentication cancelled\r\n");
	expect(h, "AUTH PLAIN\r\n", "334 \r\n");
	expect(h, "!!!notbase64\r\n", "501 5.5.2 Cannot decode response\r\n");
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "AUTH PLAIN %s\r\n", bad);
	expect(h, cmd, "535 5.7.8 Authentication credentials invalid\r\n");
	assert_false(smtp_session_authenticated(h->s));
	expect(h, "AUTH PLAIN =\r\n", "501 5.5.2 Cannot decode response\r\n");
	expect(h, "AUTH CRAM-MD5\r\n", "504 5.5.4 Unrecognized authentication type\r\n");
	expect(h, "AUTH\r\n", "501 5.5.4 Syntax error in parameters or arguments\r\n");
	expect(h, "AUTH PLAIN\r\n", "334 \r\n");
	snprintf(cmd, sizeof(cmd), "%s\r\n", good);
	expect(h, cmd, "235 2.7.0 Authentication successful\r\n");
	assert_true(smtp_session_authenticated(h->s));
	assert_string_equal(h->fake.auth_user, "alice@example.org");
	expect(h, "AUTH PLAIN\r\n", "503 5.5.1 Already authenticated\r\n");
	h_free(h);
}

static void test_submission_sender(void **state)
{
	struct h *h = h_start("submissions", true, false);
	char good[128], cmd[256];
	b64("\0alice@example.org\0secret", 25, good, sizeof(good));
	snprintf(cmd, sizeof(cmd), "EHLO c\r\nAUTH PLAIN %s\r\n", good);
	h_feed(h, cmd);
	free(h_take(h));
	assert_true(smtp_session_authenticated(h->s));
	/* sender ownership */
	expect(h, "MAIL FROM:<bob@example.org>\r\n",
	       "553 5.7.1 Sender address not owned by authenticated user\r\n");
	expect(h, "MAIL FROM:<>\r\n", "553 5.7.1 Null sender not allowed on submission\r\n");
	expect(h, "MAIL FROM:<fail@example.org>\r\n", "451 4.3.0 Temporary lookup failure\r\n");
	expect(h, "MAIL FROM:<alias-of-alice@example.org>\r\n", "250 2.1.0 Ok\r\n");
	expect(h, "RSET\r\n", "250 2.0.0 Ok\r\n");
	expect(h, "MAIL FROM:<ALICE@example.org>\r\n", "250 2.1.0 Ok\r\n");
	/* authenticated: remote recipients are queued */
	expect(h, "RCPT TO:<x@remote.net>\r\n", "250 2.1.5 Ok\r\n");
	expect(h, "RCPT TO:<bob@example.org>\r\n", "250 2.1.5 Ok\r\n");
	expect(h, "RCPT TO:<nobody@example.org>\r\n", "550 5.1.1 User unknown\r\n");
	expect_prefix(h, "DATA\r\nSubject: s\r\n\r\nhi\r\n.\r\n", "354");
	assert_int_equal(h->fake.deliver_calls, 1);
	assert_int_equal(h->fake.n_remote, 1);
	assert_string_equal(h->fake.remote[0], "x@remote.net");
	assert_int_equal(h->fake.n_accounts, 1);
	assert_int_equal(h->fake.accounts[0], 2);
	assert_true(strncmp(h->fake.msg.data + h->fake.return_path_len, "Received: ", 10) == 0);
	assert_non_null(strstr(h->fake.msg.data, "with ESMTPSA id"));
	h_free(h);
}

static void test_auth_login(void **state)
{
	struct h *h = h_start("submission", false, true); /* loopback, cleartext allowed */
	char user[64], pass[64], wrong[64];
	char line[256];
	b64("alice@example.org", 17, user, sizeof(user));
	b64("secret", 6, pass, sizeof(pass));
	b64("nope", 4, wrong, sizeof(wrong));
	h_feed(h, "EHLO c\r\n");
	free(h_take(h));
	expect(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", user);
	expect(h, line, "334 UGFzc3dvcmQ6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", wrong);
	expect(h, line, "535 5.7.8 Authentication credentials invalid\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	snprintf(line, sizeof(line), "AUTH LOGIN %s\r\n", user);
	expect(h, line, "334 UGFzc3dvcmQ6\r\n");
	expect(h, "*\r\n", "501 5.7.0 Authentication cancelled\r\n");
	expect(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	expect(h, "=\r\n", "501 5.5.2 Cannot decode response\r\n");
	/* pipelined: AUTH LOGIN, user, password in one buffer */
	snprintf(line, sizeof(line), "AUTH LOGIN\r\n%s\r\n%s\r\n", user, pass);
	expect(h, line,
	       "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
	       "235 2.7.0 Authentication successful\r\n");
	assert_true(smtp_session_authenticated(h->s));
	h_free(h);
}

/*
 * A scripted SCRAM hook (the exchange itself is tested in test-scram.c and
 * test_scram.py): a first message gets "c2Vy", then "Z29vZA==" succeeds
 * and anything else fails. Checks the engine: EHLO lists, -PLUS only on
 * TLS with a binding, 334 challenges, "*" and the flags passed.
 */
static int scram_starts, scram_plus;

static enum smtp_auth_result fake_scram(void *ctx, struct auth_scram_io *step,
					struct smtp_account *account_r)
{
	snprintf(step->user, sizeof(step->user), "alice@example.org");
	if (step->start) {
		scram_starts++;
		scram_plus = step->plus;
		snprintf(step->challenge, sizeof(step->challenge), "c2Vy");
		return SMTP_AUTH_PENDING;
	}
	if (strcmp(step->in, "Z29vZA==") != 0)
		return SMTP_AUTH_FAILED;
	account_r->id = 7;
	snprintf(account_r->address, sizeof(account_r->address), "alice@example.org");
	return SMTP_AUTH_OK;
}

static void test_auth_scram(void **state)
{
	struct h *h = h_new("submission", false, true);
	h->info.binding.exporter_len = 32;
	h->s = smtp_session_create(&h->cfg, &h->info,
				   &(struct smtp_hooks){.ctx = &h->fake,
							.auth = fake_auth,
							.rcpt = fake_rcpt,
							.sender = fake_sender,
							.deliver = fake_deliver,
							.scram = fake_scram},
				   &h->out);
	free(h_take(h));
	h_feed(h, "EHLO c\r\n");
	char *ehlo = h_take(h);
	assert_non_null(strstr(ehlo, "250-AUTH PLAIN LOGIN SCRAM-SHA-256\r\n"));
	free(ehlo);
	expect(h, "AUTH SCRAM-SHA-256-PLUS\r\n", "504 5.5.4 Unrecognized authentication type\r\n");
	expect(h, "AUTH SCRAM-SHA-256\r\n", "334 \r\n");
	expect(h, "Zmlyc3Q=\r\n", "334 c2Vy\r\n");
	assert_int_equal(scram_starts, 1);
	assert_false(scram_plus);
	expect(h, "*\r\n", "501 5.7.0 Authentication cancelled\r\n");
	expect(h, "AUTH SCRAM-SHA-256 Zmlyc3Q=\r\n", "334 c2Vy\r\n");
	expect(h, "YmFk\r\n", "535 5.7.8 Authentication credentials invalid\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	/* on TLS with a binding, -PLUS is offered and passed on */
	h->info.tls = true;
	h_feed(h, "EHLO c\r\n");
	ehlo = h_take(h);
	assert_non_null(strstr(ehlo, "250-AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n"));
	free(ehlo);
	expect(h, "AUTH SCRAM-SHA-256-PLUS Zmlyc3Q=\r\nZ29vZA==\r\n",
	       "334 c2Vy\r\n235 2.7.0 Authentication successful\r\n");
	assert_true(scram_plus);
	assert_true(smtp_session_authenticated(h->s));
	h_free(h);
}

static void test_auth_blocked(void **state)
{
	struct h *h = h_start("submission", true, false);
	char resp[128], line[200];
	b64("\0blocked@example.org\0x", 22, resp, sizeof(resp));
	snprintf(line, sizeof(line), "EHLO c\r\nAUTH PLAIN %s\r\n", resp);
	h_feed(h, line);
	char *out = h_take(h);
	assert_non_null(strstr(out, "454 4.7.0 Temporary authentication failure\r\n"));
	free(out);
	/* a line error during the SASL exchange ends it */
	expect(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	expect(h, "abc\n", "500 5.5.2 Bare LF not allowed; end commands with CRLF\r\n");
	assert_int_equal(smtp_session_state(h->s), SMTP_STATE_READY);
	h_free(h);
}

/* STARTTLS forgets authentication (RFC 3207 section 4.2). */
static void test_tls_resets_auth(void **state)
{
	struct h *h = h_start("submission", false, true);
	char good[128], line[200];
	b64("\0alice@example.org\0secret", 25, good, sizeof(good));
	snprintf(line, sizeof(line), "EHLO c\r\nAUTH PLAIN %s\r\n", good);
	h_feed(h, line);
	assert_true(smtp_session_authenticated(h->s));
	assert_int_equal(h_feed(h, "STARTTLS\r\n"), CONN_STARTTLS);
	h->info.tls = true;
	smtp_session_tls_started(h->s, &h->out);
	assert_false(smtp_session_authenticated(h->s));
	free(h_take(h));
	expect(h, "EHLO c\r\nMAIL FROM:<alice@example.org>\r\n",
	       "250-mx.example.org Hello c\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	       "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n"
	       "250-SMTPUTF8\r\n250 CHUNKING\r\n530 5.7.0 Authentication required\r\n");
	h_free(h);
}

/* --- smtp_proto against a real store (smtp-service.c) ------------------ */

struct svc {
	char dir[64];
	struct store *store;
	struct config cfg;
	struct server_ctx ctx;
	struct conn_info info;
	void *session;
	struct buf in, out;
	int64_t alice, bob;
};

static void svc_open(struct svc *v, const char *listener, bool tls)
{
	memset(&v->info, 0, sizeof(v->info));
	v->info.peer_ip = "192.0.2.7";
	v->info.tls = tls;
	v->info.tls_available = true;
	v->info.session_id = "svc1";
	v->info.listener = listener;
	buf_init(&v->in);
	buf_init(&v->out);
	v->session = smtp_proto.open(&v->ctx, &v->info, &v->out);
}

static void svc_close(struct svc *v)
{
	smtp_proto.close(v->session);
	buf_deinit(&v->in);
	buf_deinit(&v->out);
}

static char *svc_feed(struct svc *v, const char *data)
{
	buf_append_str(&v->in, data);
	smtp_proto.input(v->session, &v->in, &v->out);
	char *s = xstrndup(v->out.data, v->out.len);
	buf_clear(&v->out);
	return s;
}

static void queue_cb(void *ctx, const struct store_queue_entry *e)
{
	struct store_queue_entry *last = ctx;
	*last = *e;
}

/* Read a whole blob into a malloc'd string. */
static char *blob_read(struct store *st, const char *blob_id)
{
	int fd = store_blob_open(st, blob_id);
	assert_true(fd >= 0);
	struct buf b;
	buf_init(&b);
	char tmp[4096];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(&b, tmp, (size_t)n);
	close(fd);
	char *s = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return s;
}

static void test_service_store(void **state)
{
	struct svc v;
	const char *err = NULL;
	char hash[AUTH_HASH_MAX];
	memset(&v, 0, sizeof(v));
	snprintf(v.dir, sizeof(v.dir), "/tmp/facteur-smtp-XXXXXX");
	assert_non_null(mkdtemp(v.dir));
	assert_int_equal(store_open(v.dir, &v.store, &err), 0);
	assert_int_equal(store_domain_add(v.store, "example.org", &err), 0);
	assert_int_equal(auth_password_hash("secret", hash, sizeof(hash)), 0);
	assert_int_equal(store_account_add(v.store, "alice@example.org", hash, &v.alice, &err), 0);
	assert_int_equal(store_account_add(v.store, "bob@example.org", hash, &v.bob, &err), 0);
	config_defaults(&v.cfg);
	v.ctx.config = &v.cfg;
	v.ctx.store = v.store;
	v.ctx.wake_fd = -1;

	/* MX: local delivery, unknown user, relay denied */
	svc_open(&v, "smtp", false);
	free(svc_feed(&v, "EHLO c.example\r\n"));
	char *out = svc_feed(&v,
			     "MAIL FROM:<a@remote.net>\r\nRCPT TO:<alice@example.org>\r\n"
			     "RCPT TO:<Bob@Example.org>\r\nRCPT TO:<nobody@example.org>\r\n"
			     "RCPT TO:<x@remote.net>\r\nDATA\r\n"
			     "Subject: hello\r\nFrom: a@remote.net\r\n\r\nbody\r\n.\r\n");
	assert_non_null(strstr(out, "550 5.1.1 User unknown\r\n554 5.7.1 Relay access denied"));
	assert_non_null(strstr(out, "250 2.0.0 Ok: queued as svc1.1\r\n"));
	free(out);
	svc_close(&v);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(v.store, v.bob, "INBOX", &mb), 1);
	assert_int_equal(mb.messages, 1);
	struct store_message *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list(v.store, mb.id, &msgs, &n), 0);
	assert_int_equal(n, 1);
	char *blob = blob_read(v.store, msgs[0].blob_id);
	free(msgs);
	const char *head = "Return-Path: <a@remote.net>\r\nReceived: from c.example ([192.0.2.7])";
	assert_memory_equal(blob, head, strlen(head));
	assert_non_null(strstr(blob, "\r\n\r\nbody\r\n"));
	free(blob);

	/* submission over TLS: AUTH, a remote recipient is queued */
	svc_open(&v, "submissions", true);
	char resp[128], line[256];
	b64("\0alice@example.org\0secret", 25, resp, sizeof(resp));
	snprintf(line, sizeof(line), "EHLO c\r\nAUTH PLAIN %s\r\n", resp);
	free(svc_feed(&v, line));
	out = svc_feed(&v,
		       "MAIL FROM:<alice@example.org>\r\nRCPT TO:<x@remote.net>\r\n"
		       "DATA\r\nSubject: out\r\n\r\nhi\r\n.\r\n");
	assert_non_null(strstr(out, "250 2.0.0 Ok: queued as svc1.1"));
	free(out);
	struct store_queue_entry qe;
	memset(&qe, 0, sizeof(qe));
	assert_int_equal(store_queue_list(v.store, queue_cb, &qe), 0);
	assert_string_equal(qe.recipient, "x@remote.net");
	assert_string_equal(qe.sender, "alice@example.org");
	blob = blob_read(v.store, qe.blob_id);
	head = "Received: from c ([192.0.2.7])";
	assert_memory_equal(blob, head, strlen(head));
	assert_non_null(strstr(blob, "with ESMTPSA"));
	free(blob);
	/* no second AUTH; bob over quota at RCPT; a sender not owned */
	b64("\0alice@example.org\0wrong", 24, resp, sizeof(resp));
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", resp);
	out = svc_feed(&v, line);
	assert_string_equal(out, "503 5.5.1 Already authenticated\r\n");
	free(out);
	assert_int_equal(store_account_set_quota(v.store, "bob@example.org", 1, &err), 0);
	out = svc_feed(&v, "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n");
	assert_string_equal(out, "250 2.1.0 Ok\r\n452 4.2.2 Mailbox full\r\n");
	free(out);
	out = svc_feed(&v, "RSET\r\nMAIL FROM:<bob@example.org>\r\n");
	assert_string_equal(out,
			    "250 2.0.0 Ok\r\n553 5.7.1 Sender address not owned "
			    "by authenticated user\r\n");
	free(out);
	svc_close(&v);

	svc_open(&v, "submission", true);
	snprintf(line, sizeof(line), "EHLO c\r\nAUTH PLAIN %s\r\n", resp);
	out = svc_feed(&v, line);
	assert_non_null(strstr(out, "535 5.7.8"));
	free(out);
	svc_close(&v);

	store_close(&v.store);
	config_deinit(&v.cfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v.dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mime_init();
	auth_ratelimit_configure(5, 60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cmdline),
		cmocka_unit_test(test_parse_path),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_mx_happy),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_pipelining_targets),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_dot_handling),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_unavailable),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_bad_terminators),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_mx_recipients),
		cmocka_unit_test(test_bare_postmaster),
		cmocka_unit_test(test_too_many_recipients),
		cmocka_unit_test(test_recipient_overshoot),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_data_too_big),
		cmocka_unit_test(test_spool_budget),
		cmocka_unit_test(test_deliver_failures),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_nul_in_message),
		cmocka_unit_test(test_submission_auth_required),
		cmocka_unit_test(test_encryption_required),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_submission_sender),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_scram),
		cmocka_unit_test(test_auth_blocked),
		cmocka_unit_test(test_tls_resets_auth),
		cmocka_unit_test(test_service_store),
		cmocka_unit_test(test_deliver_pending),
		cmocka_unit_test(test_deliver_pending_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
