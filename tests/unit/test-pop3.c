/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the POP3 engine (pop3-session.c) and the maildrop lock,
 * driven through fake hooks that keep messages in memory (memfd blobs):
 * whole sessions, byte-at-a-time equivalence, STLS injection, streaming of
 * a 5 MiB message in bounded slices, dot-stuffing, TOP, deletions applied
 * only at QUIT, the IN-USE lock, and bad input of every kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "pop3/pop3-private.h"
#include "pop3/pop3.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FAKE_MAX 8
#define SLICE_BOUND (POP3_STREAM_SLICE + 40 * 1024)

struct fake_msg {
	uint32_t uid;
	const char *data;
	size_t len;
};

struct fake {
	struct fake_msg msgs[FAKE_MAX];
	size_t n;
	uint32_t uidvalidity;
	int64_t account_id;
	bool locked;
	bool fail_list, fail_expunge, fail_open;
	bool tempfail;
	int login_calls;
	int expunge_calls;
	uint32_t expunged[FAKE_MAX];
	size_t n_expunged;
	char last_user[600];
};

static enum pop3_login_result fake_login(void *ctx, const char *user, const char *password)
{
	struct fake *f = ctx;
	f->login_calls++;
	snprintf(f->last_user, sizeof(f->last_user), "%s", user);
	if (f->tempfail)
		return POP3_LOGIN_TEMPFAIL;
	if (strcmp(user, "alice@example.org") != 0 || strcmp(password, "s3cret pw") != 0)
		return POP3_LOGIN_FAILED;
	if (pop3_lock_acquire(f->account_id) == 0)
		return POP3_LOGIN_IN_USE;
	f->locked = true;
	return POP3_LOGIN_OK;
}

static int fake_list(void *ctx, uint32_t *uidvalidity_r, struct pop3_maildrop_msg **msgs_r,
		     size_t *n_r)
{
	struct fake *f = ctx;
	if (f->fail_list)
		return -1;
	struct pop3_maildrop_msg *m = xcalloc(f->n, sizeof(*m));
	for (size_t i = 0; i < f->n; i++) {
		m[i].uid = f->msgs[i].uid;
		m[i].size = f->msgs[i].len;
	}
	*uidvalidity_r = f->uidvalidity;
	*msgs_r = m;
	*n_r = f->n;
	return 0;
}

static int fake_open_blob(void *ctx, uint32_t uid)
{
	struct fake *f = ctx;
	if (f->fail_open)
		return -1;
	for (size_t i = 0; i < f->n; i++) {
		if (f->msgs[i].uid != uid)
			continue;
		int fd = memfd_create("pop3-test", 0);
		if (fd < 0 || write_full(fd, f->msgs[i].data, f->msgs[i].len) < 0 ||
		    lseek(fd, 0, SEEK_SET) != 0)
			return -1;
		return fd;
	}
	return -1;
}

static int fake_expunge(void *ctx, const uint32_t *uids, size_t n, const char **error_r)
{
	struct fake *f = ctx;
	f->expunge_calls++;
	if (f->fail_expunge) {
		*error_r = "disk on fire";
		return -1;
	}
	for (size_t i = 0; i < n && f->n_expunged < FAKE_MAX; i++)
		f->expunged[f->n_expunged++] = uids[i];
	return 0;
}

static const struct pop3_hooks fake_hooks = {
	.login = fake_login,
	.list = fake_list,
	.open_blob = fake_open_blob,
	.expunge = fake_expunge,
};

static const char MSG1[] = "From: a@b\r\nSubject: one\r\n\r\nHello\r\n.dot line\r\n";
static const char MSG2[] = "Subject: two\n\nbare\nlf\n..x\n.\nend";
static const char MSG3[] = "Subject: three\r\n\r\nthird\r\n";

static void fake_init(struct fake *f, int64_t account_id)
{
	memset(f, 0, sizeof(*f));
	f->account_id = account_id;
	f->uidvalidity = 0x5eed;
	f->msgs[0] = (struct fake_msg){7, MSG1, sizeof(MSG1) - 1};
	f->msgs[1] = (struct fake_msg){9, MSG2, sizeof(MSG2) - 1};
	f->msgs[2] = (struct fake_msg){12, MSG3, sizeof(MSG3) - 1};
	f->n = 3;
}

struct harness {
	struct config cfg;
	struct fake fake;
	struct pop3_session *s;
	struct buf in, out;
};

static void harness_start(struct harness *h, bool tls, bool tls_available, bool loopback)
{
	struct pop3_settings set = {
		.config = &h->cfg,
		.session_id = "test",
		.peer_ip = loopback ? "127.0.0.1" : "192.0.2.1",
		.peer_loopback = loopback,
		.tls = tls,
		.tls_available = tls_available,
	};
	buf_init(&h->in);
	buf_init(&h->out);
	h->s = pop3_session_create(&set, &fake_hooks, &h->fake, &h->out);
}

static struct harness *harness_new(int64_t account_id)
{
	struct harness *h = xcalloc(1, sizeof(*h));
	config_defaults(&h->cfg);
	fake_init(&h->fake, account_id);
	harness_start(h, false, true, true);
	return h;
}

/* What the glue's close does: engine first, then the lock. */
static void harness_free(struct harness *h)
{
	pop3_session_destroy(&h->s);
	if (h->fake.locked)
		pop3_lock_release(h->fake.account_id);
	buf_deinit(&h->in);
	buf_deinit(&h->out);
	config_deinit(&h->cfg);
	free(h);
}

/* Drive the engine like net/ does: input, resume while MORE, input again. */
static enum conn_result drive(struct harness *h)
{
	enum conn_result r = pop3_session_input(h->s, &h->in, &h->out);
	for (;;) {
		while (r == CONN_MORE)
			r = pop3_session_resume(h->s, &h->out);
		if (r != CONN_OK || h->in.len == 0)
			return r;
		size_t in_before = h->in.len, out_before = h->out.len;
		r = pop3_session_input(h->s, &h->in, &h->out);
		if (r == CONN_OK && h->in.len == in_before && h->out.len == out_before)
			return r;
	}
}

/* Feed data in pieces of chunk bytes; stops at the first non-OK result. */
static enum conn_result feed(struct harness *h, const char *data, size_t len, size_t chunk)
{
	enum conn_result r = CONN_OK;
	for (size_t off = 0; off < len && r == CONN_OK; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		buf_append(&h->in, data + off, n);
		r = drive(h);
	}
	return r;
}

static enum conn_result send_str(struct harness *h, const char *s)
{
	buf_clear(&h->out);
	return feed(h, s, strlen(s), strlen(s) + 1);
}

static const char *out_str(struct harness *h)
{
	return buf_cstr(&h->out);
}

static void login(struct harness *h)
{
	send_str(h, "USER alice@example.org\r\nPASS s3cret pw\r\n");
	assert_int_equal(pop3_session_state(h->s), POP3_STATE_TRANSACTION);
}

/* --- tests -------------------------------------------------------------- */

static void test_full_session(void **state)
{
	struct harness *h = harness_new(1);
	assert_string_equal(out_str(h), "+OK facteur POP3 server ready\r\n");

	assert_int_equal(send_str(h, "CAPA\r\n"), CONN_OK);
	assert_string_equal(out_str(h),
			    "+OK capability list follows\r\nTOP\r\nUIDL\r\n"
			    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\n"
			    "SASL PLAIN\r\nSTLS\r\nIMPLEMENTATION facteur\r\n.\r\n");
	send_str(h, "USER alice@example.org\r\n");
	assert_string_equal(out_str(h), "+OK send PASS\r\n");
	send_str(h, "PASS s3cret pw\r\n");
	assert_string_equal(out_str(h), "+OK maildrop has 3 messages (101 octets)\r\n");
	send_str(h, "STAT\r\n");
	assert_string_equal(out_str(h), "+OK 3 101\r\n");
	send_str(h, "LIST\r\n");
	assert_string_equal(out_str(h),
			    "+OK 3 messages (101 octets)\r\n"
			    "1 45\r\n2 31\r\n3 25\r\n.\r\n");
	send_str(h, "list 2\r\n");
	assert_string_equal(out_str(h), "+OK 2 31\r\n");
	send_str(h, "UIDL\r\n");
	assert_string_equal(out_str(h),
			    "+OK unique-id listing follows\r\n"
			    "1 00005eed00000007\r\n2 00005eed00000009\r\n"
			    "3 00005eed0000000c\r\n.\r\n");
	send_str(h, "UIDL 3\r\n");
	assert_string_equal(out_str(h), "+OK 3 00005eed0000000c\r\n");
	send_str(h, "RETR 1\r\n");
	assert_string_equal(out_str(h),
			    "+OK 45 octets\r\nFrom: a@b\r\nSubject: one\r\n"
			    "\r\nHello\r\n..dot line\r\n.\r\n");
	send_str(h, "CAPA\r\n");
	assert_null(strstr(out_str(h), "USER"));
	assert_null(strstr(out_str(h), "STLS"));
	send_str(h, "NOOP\r\n");
	assert_string_equal(out_str(h), "+OK\r\n");
	send_str(h, "DELE 3\r\n");
	assert_string_equal(out_str(h), "+OK message 3 deleted\r\n");
	assert_int_equal(send_str(h, "QUIT\r\n"), CONN_CLOSE);
	assert_string_equal(out_str(h),
			    "+OK facteur POP3 server signing off (1 messages deleted)\r\n");
	assert_int_equal(pop3_session_state(h->s), POP3_STATE_UPDATE);
	assert_int_equal(h->fake.expunge_calls, 1);
	assert_int_equal(h->fake.n_expunged, 1);
	assert_int_equal(h->fake.expunged[0], 12);
	/* Nothing is read after QUIT. */
	assert_int_equal(send_str(h, "NOOP\r\n"), CONN_CLOSE);
	assert_int_equal(h->out.len, 0);
	harness_free(h);
}

static void test_quit_in_authorization(void **state)
{
	struct harness *h = harness_new(2);
	assert_int_equal(send_str(h, "QUIT\r\n"), CONN_CLOSE);
	assert_string_equal(out_str(h), "+OK facteur POP3 server signing off\r\n");
	assert_int_equal(h->fake.expunge_calls, 0);
	harness_free(h);
}

/* A session with every kind of command, a big message and bad input. */
static char *script_build(size_t *len_r)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b,
		       "CAPA\r\nAUTH\r\nUSER alice@example.org\r\nPASS wrong\r\n"
		       "USER alice@example.org\r\nPASS s3cret pw\r\nSTAT\r\n"
		       "LIST\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nRETR 4\r\nTOP 2 1\r\n"
		       "TOP 4 0\r\nNOOP\r\nFOO\r\nRETR 1x\r\nDELE 1\r\nLIST 1\r\n"
		       "STAT\r\nRSET\r\nDELE 2\r\n");
	for (int i = 0; i < 600; i++)
		buf_append_str(&b, "x");
	buf_append_str(&b, "\r\nLIST\r\nUIDL\r\nRETR 3\r\nQUIT\r\n");
	*len_r = b.len;
	return b.data;
}

static char *big_message(size_t size, size_t *len_r)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "Subject: big\r\n\r\n");
	for (unsigned i = 0; b.len < size; i++) {
		/* Mixed: dot lines, bare LF lines, long lines. */
		if (i % 7 == 0)
			buf_printf(&b, ".line %u\r\n", i);
		else if (i % 11 == 0)
			buf_printf(&b, "bare %u\n", i);
		else
			buf_printf(&b, "line %u %s\r\n", i, "abcdefghijklmnopqrstuvwxyz0123456789");
	}
	*len_r = b.len;
	return b.data;
}

static char *run_script(size_t chunk, const char *script, size_t len, char *big, size_t big_len,
			uint32_t *expunged_r)
{
	struct harness *h = harness_new(3);
	h->fake.msgs[3] = (struct fake_msg){40, big, big_len};
	h->fake.n = 4;
	buf_clear(&h->out);
	assert_int_equal(feed(h, script, len, chunk), CONN_CLOSE);
	assert_int_equal(h->fake.expunge_calls, 1);
	assert_int_equal(h->fake.n_expunged, 1);
	*expunged_r = h->fake.expunged[0];
	char *res = xstrndup(out_str(h), h->out.len);
	harness_free(h);
	return res;
}

static void test_byte_at_a_time(void **state)
{
	size_t len, big_len;
	char *script = script_build(&len);
	char *big = big_message(300 * 1024, &big_len);
	uint32_t e1, e2, e3;
	char *whole = run_script(len, script, len, big, big_len, &e1);
	char *bytes = run_script(1, script, len, big, big_len, &e2);
	char *sevens = run_script(7, script, len, big, big_len, &e3);
	assert_string_equal(whole, bytes);
	assert_string_equal(whole, sevens);
	assert_int_equal(e1, 9);
	assert_int_equal(e2, 9);
	assert_int_equal(e3, 9);
	assert_non_null(strstr(whole, "-ERR [AUTH] authentication failed\r\n"));
	assert_non_null(strstr(whole, "-ERR line too long\r\n"));
	assert_non_null(strstr(whole, "-ERR unknown command\r\n"));
	assert_non_null(strstr(whole, "-ERR message 1 already deleted\r\n"));
	assert_non_null(strstr(whole, "signing off (1 messages deleted)"));
	free(whole);
	free(bytes);
	free(sevens);
	free(script);
	free(big);
}

static void test_stls_injection(void **state)
{
	struct harness *h = harness_new(4);
	h->cfg.plaintext_auth = PLAINTEXT_AUTH_NEVER;
	buf_clear(&h->out);
	buf_append_str(&h->in, "STLS\r\nCAPA\r\n");
	assert_int_equal(pop3_session_input(h->s, &h->in, &h->out), CONN_STARTTLS);
	assert_string_equal(out_str(h), "+OK begin TLS negotiation\r\n");
	/* CAPA was not processed; net/ discards it. */
	assert_int_equal(h->in.len, 6);
	buf_clear(&h->in);
	buf_clear(&h->out);
	pop3_session_tls_started(h->s, &h->out);
	assert_int_equal(h->out.len, 0);
	send_str(h, "CAPA\r\n");
	assert_null(strstr(out_str(h), "STLS"));
	assert_non_null(strstr(out_str(h), "USER\r\nSASL PLAIN\r\n"));
	send_str(h, "STLS\r\n");
	assert_string_equal(out_str(h), "-ERR already using TLS\r\n");
	login(h);
	send_str(h, "STLS\r\n");
	assert_string_equal(out_str(h), "-ERR STLS not allowed in transaction state\r\n");
	harness_free(h);

	/* No certificate: no STLS. */
	h = xcalloc(1, sizeof(*h));
	config_defaults(&h->cfg);
	fake_init(&h->fake, 4);
	harness_start(h, false, false, true);
	send_str(h, "CAPA\r\n");
	assert_null(strstr(out_str(h), "STLS"));
	assert_int_equal(send_str(h, "STLS\r\n"), CONN_OK);
	assert_string_equal(out_str(h), "-ERR TLS not available\r\n");
	harness_free(h);
}

static void test_dot_stuffing(void **state)
{
	struct harness *h = harness_new(5);
	login(h);
	send_str(h, "RETR 2\r\n");
	assert_string_equal(out_str(h),
			    "+OK 31 octets\r\nSubject: two\r\n\r\nbare\r\n"
			    "lf\r\n...x\r\n..\r\nend\r\n.\r\n");
	static const char odd[] = "a\r\rb\r\n\r\n.\r.\r";
	h->fake.msgs[0] = (struct fake_msg){7, odd, sizeof(odd) - 1};
	send_str(h, "RETR 1\r\n");
	assert_string_equal(out_str(h), "+OK 45 octets\r\na\r\rb\r\n\r\n..\r.\r\n.\r\n");
	static const char empty[] = "";
	h->fake.msgs[0] = (struct fake_msg){7, empty, 0};
	send_str(h, "RETR 1\r\n");
	assert_string_equal(out_str(h), "+OK 45 octets\r\n.\r\n");
	harness_free(h);
}

static void test_big_stream(void **state)
{
	struct harness *h = harness_new(6);
	size_t big_len = 5 * 1024 * 1024;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (i % 80 == 79) ? '\n' : (i % 80 == 0 ? '.' : 'a' + i % 26);
	h->fake.msgs[0] = (struct fake_msg){7, big, big_len};
	login(h);
	buf_clear(&h->out);
	buf_append_str(&h->in, "RETR 1\r\nNOOP\r\n");
	enum conn_result r = pop3_session_input(h->s, &h->in, &h->out);
	assert_int_equal(r, CONN_MORE);
	assert_string_equal(buf_cstr(&h->in), "NOOP\r\n");
	size_t total = 0, slices = 0, lines = 0;
	const char *p = out_str(h);
	assert_memory_equal(p, "+OK 5242880 octets\r\n", 20);
	for (;;) {
		assert_true(h->out.len <= SLICE_BOUND);
		total += h->out.len;
		slices++;
		for (size_t i = 0; i < h->out.len; i++)
			lines += h->out.data[i] == '\n';
		if (r != CONN_MORE)
			break;
		/* input while streaming must not process NOOP either */
		buf_clear(&h->out);
		r = slices % 2 ? pop3_session_resume(h->s, &h->out)
			       : pop3_session_input(h->s, &h->in, &h->out);
		assert_int_equal(h->in.len, 6);
	}
	assert_int_equal(r, CONN_OK);
	assert_true(slices > 60);
	/* +OK line, 65536 lines with '.' doubled and CR added, final dot. */
	size_t n_lines = big_len / 80;
	assert_int_equal(total, 20 + big_len + 2 * n_lines + 3);
	assert_int_equal(lines, 1 + n_lines + 1);
	assert_memory_equal(h->out.data + h->out.len - 3, ".\r\n", 3);
	buf_clear(&h->out);
	assert_int_equal(pop3_session_input(h->s, &h->in, &h->out), CONN_OK);
	assert_string_equal(out_str(h), "+OK\r\n");
	free(big);
	harness_free(h);
}

static void test_top(void **state)
{
	static const char msg[] = "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.l3\r\nl4\r\n";
	static const char nobody[] = "A: 1\r\nB: 2";
	struct harness *h = harness_new(7);
	h->fake.msgs[0] = (struct fake_msg){7, msg, sizeof(msg) - 1};
	h->fake.msgs[1] = (struct fake_msg){9, nobody, sizeof(nobody) - 1};
	login(h);
	send_str(h, "TOP 1 0\r\n");
	assert_string_equal(out_str(h),
			    "+OK top of message 1 follows\r\n"
			    "A: 1\r\nB: 2\r\n\r\n.\r\n");
	send_str(h, "TOP 1 3\r\n");
	assert_string_equal(out_str(h),
			    "+OK top of message 1 follows\r\n"
			    "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n..l3\r\n.\r\n");
	send_str(h, "TOP 1 99999999999\r\n");
	assert_string_equal(out_str(h),
			    "+OK top of message 1 follows\r\n"
			    "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n..l3\r\nl4\r\n.\r\n");
	send_str(h, "TOP 2 1\r\n");
	assert_string_equal(out_str(h),
			    "+OK top of message 2 follows\r\n"
			    "A: 1\r\nB: 2\r\n.\r\n");
	send_str(h, "TOP 1 -1\r\n");
	assert_string_equal(out_str(h), "-ERR invalid line count\r\n");
	send_str(h, "TOP 1\r\n");
	assert_string_equal(out_str(h), "-ERR syntax error in TOP\r\n");
	send_str(h, "TOP 1 2 3\r\n");
	assert_string_equal(out_str(h), "-ERR syntax error in TOP\r\n");
	harness_free(h);
}

static void test_dele_rset_quit(void **state)
{
	struct harness *h = harness_new(8);
	login(h);
	send_str(h, "DELE 1\r\n");
	assert_string_equal(out_str(h), "+OK message 1 deleted\r\n");
	send_str(h, "DELE 1\r\n");
	assert_string_equal(out_str(h), "-ERR message 1 already deleted\r\n");
	send_str(h, "RETR 1\r\n");
	assert_string_equal(out_str(h), "-ERR message 1 already deleted\r\n");
	send_str(h, "STAT\r\n");
	assert_string_equal(out_str(h), "+OK 2 56\r\n");
	send_str(h, "LIST\r\n");
	assert_string_equal(out_str(h), "+OK 2 messages (56 octets)\r\n2 31\r\n3 25\r\n.\r\n");
	send_str(h, "UIDL\r\n");
	assert_null(strstr(out_str(h), "\r\n1 "));
	send_str(h, "RSET\r\n");
	assert_string_equal(out_str(h), "+OK maildrop has 3 messages (101 octets)\r\n");
	send_str(h, "DELE 2\r\nDELE 3\r\n");
	assert_int_equal(h->fake.expunge_calls, 0);
	assert_int_equal(send_str(h, "QUIT\r\n"), CONN_CLOSE);
	assert_int_equal(h->fake.expunge_calls, 1);
	assert_int_equal(h->fake.n_expunged, 2);
	assert_int_equal(h->fake.expunged[0], 9);
	assert_int_equal(h->fake.expunged[1], 12);
	harness_free(h);

	/* Nothing marked: QUIT does not call expunge. */
	h = harness_new(8);
	login(h);
	assert_int_equal(send_str(h, "QUIT\r\n"), CONN_CLOSE);
	assert_string_equal(out_str(h),
			    "+OK facteur POP3 server signing off (0 messages deleted)\r\n");
	assert_int_equal(h->fake.expunge_calls, 0);
	harness_free(h);

	/* Expunge fails: -ERR, close, one attempt only. */
	h = harness_new(8);
	h->fake.fail_expunge = true;
	login(h);
	send_str(h, "DELE 1\r\n");
	assert_int_equal(send_str(h, "QUIT\r\n"), CONN_CLOSE);
	assert_string_equal(out_str(h), "-ERR [SYS/TEMP] could not remove deleted messages\r\n");
	assert_int_equal(h->fake.expunge_calls, 1);
	harness_free(h);
}

static void test_drop_without_quit(void **state)
{
	struct harness *h = harness_new(9);
	login(h);
	send_str(h, "DELE 1\r\nDELE 2\r\n");
	pop3_session_destroy(&h->s);
	assert_int_equal(h->fake.expunge_calls, 0);
	harness_free(h);

	/* Idle timeout: a goodbye, no UPDATE, nothing deleted. */
	h = harness_new(9);
	assert_int_equal(pop3_session_idle_timeout(h->s), 600);
	login(h);
	send_str(h, "DELE 1\r\n");
	buf_clear(&h->out);
	pop3_session_timeout(h->s, &h->out);
	assert_string_equal(out_str(h), "-ERR autologout: idle for too long\r\n");
	assert_int_equal(pop3_session_state(h->s), POP3_STATE_TRANSACTION);
	assert_int_equal(send_str(h, "QUIT\r\n"), CONN_CLOSE);
	assert_int_equal(h->fake.expunge_calls, 0);
	harness_free(h);

	/* Timeout mid-stream: no reply inside the message, fd closed. */
	h = harness_new(9);
	size_t big_len = 1024 * 1024;
	char *big = xcalloc(1, big_len);
	memset(big, 'z', big_len);
	h->fake.msgs[0] = (struct fake_msg){7, big, big_len};
	login(h);
	buf_clear(&h->out);
	buf_append_str(&h->in, "RETR 1\r\n");
	assert_int_equal(pop3_session_input(h->s, &h->in, &h->out), CONN_MORE);
	buf_clear(&h->out);
	pop3_session_timeout(h->s, &h->out);
	assert_int_equal(h->out.len, 0);
	assert_int_equal(pop3_session_resume(h->s, &h->out), CONN_CLOSE);
	harness_free(h);
	free(big);
}

static void test_in_use(void **state)
{
	struct harness *a = harness_new(10);
	struct harness *b = harness_new(10);
	login(a);
	send_str(b, "USER alice@example.org\r\nPASS s3cret pw\r\n");
	assert_string_equal(out_str(b),
			    "+OK send PASS\r\n"
			    "-ERR [IN-USE] maildrop already locked by another session\r\n");
	assert_int_equal(pop3_session_state(b->s), POP3_STATE_AUTHORIZATION);
	assert_int_equal(send_str(a, "QUIT\r\n"), CONN_CLOSE);
	harness_free(a);
	login(b);
	harness_free(b);
	assert_int_equal(pop3_lock_count(), 0);
}

static void test_lock(void **state)
{
	assert_int_equal(pop3_lock_count(), 0);
	for (int64_t i = 200; i > 0; i--)
		assert_int_equal(pop3_lock_acquire(i * 3), 1);
	assert_int_equal(pop3_lock_acquire(300), 0);
	assert_int_equal(pop3_lock_acquire(301), 1);
	assert_int_equal(pop3_lock_count(), 201);
	pop3_lock_release(301);
	pop3_lock_release(302); /* not held: no-op */
	for (int64_t i = 1; i <= 200; i++)
		pop3_lock_release(i * 3);
	assert_int_equal(pop3_lock_count(), 0);
	assert_int_equal(pop3_lock_acquire(300), 1);
	pop3_lock_release(300);
}

static void test_bad_numbers(void **state)
{
	static const struct {
		const char *cmd, *reply;
	} cases[] = {
		{"RETR 0\r\n", "-ERR no such message\r\n"},
		{"RETR -1\r\n", "-ERR invalid message number\r\n"},
		{"RETR 99999999999999999999\r\n", "-ERR invalid message number\r\n"},
		{"RETR 18446744073709551615\r\n", "-ERR no such message\r\n"},
		{"RETR 1x\r\n", "-ERR invalid message number\r\n"},
		{"RETR +1\r\n", "-ERR invalid message number\r\n"},
		{"RETR 4\r\n", "-ERR no such message\r\n"},
		{"RETR\r\n", "-ERR syntax error in RETR\r\n"},
		{"LIST 0\r\n", "-ERR no such message\r\n"},
		{"UIDL 1 2\r\n", "-ERR syntax error in UIDL\r\n"},
		{"DELE x\r\n", "-ERR invalid message number\r\n"},
		{"STAT 1\r\n", "-ERR syntax error in STAT\r\n"},
	};
	struct harness *h;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = harness_new(11);
		login(h);
		send_str(h, cases[i].cmd);
		assert_string_equal(out_str(h), cases[i].reply);
		harness_free(h);
	}
	h = harness_new(11);
	login(h);
	send_str(h, "RETR 01\r\n");
	assert_memory_equal(out_str(h), "+OK 45 octets\r\n", 15);
	harness_free(h);
}

static void test_long_lines(void **state)
{
	struct harness *h = harness_new(12);
	h->cfg.pop3_max_line = 255;
	pop3_session_destroy(&h->s);
	buf_deinit(&h->out);
	harness_start(h, false, true, true);
	char line[600];
	/* 255 bytes with CRLF: accepted (and unknown). */
	memset(line, 'a', 253);
	memcpy(line + 253, "\r\n", 3);
	send_str(h, line);
	assert_string_equal(out_str(h), "-ERR unknown command\r\n");
	/* 256: too long, whole. */
	memset(line, 'a', 254);
	memcpy(line + 254, "\r\n", 3);
	send_str(h, line);
	assert_string_equal(out_str(h), "-ERR line too long\r\n");
	/* 256 byte at a time, then a good command. */
	buf_clear(&h->out);
	assert_int_equal(feed(h, line, strlen(line), 1), CONN_OK);
	assert_string_equal(out_str(h), "-ERR line too long\r\n");
	/* Long line without a newline yet: refused at the cap, rest skipped. */
	memset(line, 'b', 500);
	line[500] = '\0';
	send_str(h, line);
	assert_string_equal(out_str(h), "-ERR line too long\r\n");
	send_str(h, "more junk without newline");
	assert_int_equal(h->out.len, 0);
	send_str(h, "junk end\r\nCAPA\r\n");
	assert_memory_equal(out_str(h), "+OK capability list follows\r\n", 29);
	/* NUL, bare LF, bare CR, empty line. */
	buf_clear(&h->out);
	buf_append(&h->in, "NO\0OP\r\n", 7);
	drive(h);
	assert_string_equal(out_str(h), "-ERR NUL in command\r\n");
	send_str(h, "CAPA\n");
	assert_string_equal(out_str(h), "-ERR line must end with CRLF\r\n");
	send_str(h, "CA\rPA\r\n");
	assert_string_equal(out_str(h), "-ERR bare CR in command\r\n");
	send_str(h, "\r\n");
	assert_string_equal(out_str(h), "-ERR unknown command\r\n");
	send_str(h, "FOO\r\n");
	assert_string_equal(out_str(h), "-ERR unknown command\r\n");
	/* That is the tenth error: the next one closes. */
	assert_int_equal(send_str(h, "NOOP\r\n"), CONN_CLOSE);
	assert_string_equal(out_str(h),
			    "-ERR NOOP not allowed in authorization state\r\n"
			    "-ERR too many errors\r\n");
	harness_free(h);
}

static void test_too_many_errors(void **state)
{
	struct harness *h = harness_new(13);
	buf_clear(&h->out);
	const char *ten = "A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\nH\r\nI\r\nJ\r\nCAPA\r\n";
	buf_append_str(&h->in, ten);
	assert_int_equal(pop3_session_input(h->s, &h->in, &h->out), CONN_CLOSE);
	const char *o = out_str(h);
	size_t n = 0;
	for (const char *p = o; (p = strstr(p, "-ERR unknown command")) != NULL; p++)
		n++;
	assert_int_equal(n, 10);
	assert_non_null(strstr(o, "-ERR too many errors\r\n"));
	assert_null(strstr(o, "capability"));
	buf_clear(&h->out);
	assert_int_equal(pop3_session_input(h->s, &h->in, &h->out), CONN_CLOSE);
	assert_int_equal(h->out.len, 0);
	harness_free(h);
}

/*
 * A scripted SCRAM hook: any first message gets the challenge "c2Vy";
 * then "Z29vZA==" ("good") logs in and anything else fails. The engine's
 * part is tested here (mechanism lists, -PLUS only on TLS with a binding,
 * "+ " without an initial response, "*", the flags passed); the exchange
 * itself is tested in test-scram.c and end to end in test_scram.py.
 */
static int scram_starts, scram_plus;

static enum pop3_login_result fake_scram(void *ctx, struct auth_scram_io *step)
{
	struct fake *f = ctx;
	snprintf(step->user, sizeof(step->user), "alice@example.org");
	if (step->start) {
		scram_starts++;
		scram_plus = step->plus;
		snprintf(step->challenge, sizeof(step->challenge), "c2Vy");
		return POP3_LOGIN_PENDING;
	}
	if (strcmp(step->in, "Z29vZA==") != 0)
		return POP3_LOGIN_FAILED;
	if (pop3_lock_acquire(f->account_id) == 0)
		return POP3_LOGIN_IN_USE;
	f->locked = true;
	return POP3_LOGIN_OK;
}

static const struct pop3_hooks scram_hooks = {
	.login = fake_login,
	.list = fake_list,
	.open_blob = fake_open_blob,
	.expunge = fake_expunge,
	.scram = fake_scram,
};

static void test_scram_engine(void **state)
{
	struct harness *h = harness_new(15);
	pop3_session_destroy(&h->s);
	struct conn_tls_binding binding = {.exporter_len = 32};
	struct pop3_settings set = {
		.config = &h->cfg,
		.session_id = "test",
		.peer_ip = "127.0.0.1",
		.peer_loopback = true,
		.tls_available = true,
		.binding = &binding,
	};
	buf_clear(&h->out);
	h->s = pop3_session_create(&set, &scram_hooks, &h->fake, &h->out);
	send_str(h, "AUTH\r\n");
	assert_string_equal(out_str(h),
			    "+OK SASL mechanisms follow\r\nPLAIN\r\nSCRAM-SHA-256\r\n.\r\n");
	send_str(h, "CAPA\r\n");
	assert_non_null(strstr(out_str(h), "SASL PLAIN SCRAM-SHA-256\r\n"));
	send_str(h, "AUTH SCRAM-SHA-256-PLUS\r\n");
	assert_string_equal(out_str(h), "-ERR unsupported authentication mechanism\r\n");
	assert_int_equal(scram_starts, 0);
	/* without an initial response: "+ ", then the first message */
	send_str(h, "AUTH SCRAM-SHA-256\r\n");
	assert_string_equal(out_str(h), "+ \r\n");
	send_str(h, "Zmlyc3Q=\r\n");
	assert_string_equal(out_str(h), "+ c2Vy\r\n");
	assert_int_equal(scram_starts, 1);
	assert_false(scram_plus);
	send_str(h, "*\r\n");
	assert_string_equal(out_str(h), "-ERR authentication cancelled\r\n");
	/* a new exchange starts afresh; a wrong answer fails */
	send_str(h, "AUTH scram-sha-256 Zmlyc3Q=\r\n");
	assert_string_equal(out_str(h), "+ c2Vy\r\n");
	send_str(h, "YmFk\r\n");
	assert_string_equal(out_str(h), "-ERR [AUTH] authentication failed\r\n");
	assert_int_equal(pop3_session_state(h->s), POP3_STATE_AUTHORIZATION);
	/* after TLS with a binding: -PLUS is offered and passed on */
	pop3_session_tls_started(h->s, &h->out);
	send_str(h, "CAPA\r\n");
	assert_non_null(strstr(out_str(h), "SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n"));
	send_str(h, "AUTH SCRAM-SHA-256-PLUS Zmlyc3Q=\r\n");
	assert_string_equal(out_str(h), "+ c2Vy\r\n");
	assert_int_equal(scram_starts, 3);
	assert_true(scram_plus);
	send_str(h, "Z29vZA==\r\n");
	assert_string_equal(out_str(h), "+OK maildrop has 3 messages (101 octets)\r\n");
	harness_free(h);
}

static void test_auth_failures(void **state)
{
	struct harness *h = harness_new(14);
	send_str(h, "PASS s3cret pw\r\n");
	assert_string_equal(out_str(h), "-ERR send USER first\r\n");
	send_str(h, "USER alice@example.org\r\nPASS bad\r\n");
	assert_string_equal(out_str(h), "+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n");
	/* A failed PASS forgets the user. */
	send_str(h, "PASS s3cret pw\r\n");
	assert_string_equal(out_str(h), "-ERR send USER first\r\n");
	send_str(h, "USER\r\n");
	assert_string_equal(out_str(h), "-ERR syntax error in USER\r\n");
	send_str(h, "AUTH CRAM-MD5\r\n");
	assert_string_equal(out_str(h), "-ERR unsupported authentication mechanism\r\n");
	send_str(h, "AUTH PLAIN\r\n");
	assert_string_equal(out_str(h), "+ \r\n");
	send_str(h, "*\r\n");
	assert_string_equal(out_str(h), "-ERR authentication cancelled\r\n");
	send_str(h, "AUTH PLAIN !!!!\r\n");
	assert_string_equal(out_str(h), "-ERR [AUTH] malformed PLAIN response\r\n");
	send_str(h, "AUTH PLAIN =\r\n");
	assert_string_equal(out_str(h), "-ERR [AUTH] malformed PLAIN response\r\n");
	h->fake.tempfail = true;
	send_str(h, "USER alice@example.org\r\nPASS s3cret pw\r\n");
	assert_string_equal(out_str(h),
			    "+OK send PASS\r\n"
			    "-ERR [SYS/TEMP] authentication unavailable, try later\r\n");
	assert_int_equal(pop3_session_state(h->s), POP3_STATE_AUTHORIZATION);
	h->fake.tempfail = false;
	/* "\0alice@example.org\0s3cret pw" */
	send_str(h, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwdw==\r\n");
	assert_string_equal(out_str(h), "+OK maildrop has 3 messages (101 octets)\r\n");
	assert_string_equal(h->fake.last_user, "alice@example.org");
	harness_free(h);

	/* Continuation form, and a list failure closes the session. */
	h = harness_new(14);
	send_str(h, "AUTH plain\r\n");
	assert_string_equal(out_str(h), "+ \r\n");
	send_str(h, "AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwdw==\r\n");
	assert_string_equal(out_str(h), "+OK maildrop has 3 messages (101 octets)\r\n");
	harness_free(h);

	h = harness_new(14);
	h->fake.fail_list = true;
	assert_int_equal(send_str(h, "USER alice@example.org\r\nPASS s3cret pw\r\n"), CONN_CLOSE);
	assert_string_equal(out_str(h),
			    "+OK send PASS\r\n-ERR [SYS/TEMP] cannot open maildrop\r\n");
	harness_free(h);

	/* A blob that cannot be opened. */
	h = harness_new(14);
	login(h);
	h->fake.fail_open = true;
	assert_int_equal(send_str(h, "RETR 1\r\n"), CONN_OK);
	assert_string_equal(out_str(h), "-ERR [SYS/TEMP] cannot read message 1\r\n");
	harness_free(h);
	assert_int_equal(pop3_lock_count(), 0);
}

static void test_cleartext_refused(void **state)
{
	struct harness *h = xcalloc(1, sizeof(*h));
	config_defaults(&h->cfg); /* plaintext only from loopback */
	fake_init(&h->fake, 15);
	harness_start(h, false, true, false);
	send_str(h, "CAPA\r\n");
	assert_null(strstr(out_str(h), "USER"));
	assert_null(strstr(out_str(h), "SASL"));
	assert_non_null(strstr(out_str(h), "STLS"));
	send_str(h, "USER alice@example.org\r\n");
	assert_string_equal(out_str(h),
			    "-ERR [SYS/PERM] cleartext authentication not allowed, use STLS\r\n");
	send_str(h, "PASS s3cret pw\r\n");
	assert_memory_equal(out_str(h), "-ERR [SYS/PERM]", 15);
	send_str(h, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwdw==\r\n");
	assert_memory_equal(out_str(h), "-ERR [SYS/PERM]", 15);
	assert_int_equal(h->fake.login_calls, 0);
	harness_free(h);

	/* pop3s: already TLS, so allowed from anywhere, and no STLS. */
	h = xcalloc(1, sizeof(*h));
	config_defaults(&h->cfg);
	fake_init(&h->fake, 15);
	harness_start(h, true, false, false);
	send_str(h, "CAPA\r\n");
	assert_non_null(strstr(out_str(h), "USER"));
	assert_null(strstr(out_str(h), "STLS"));
	login(h);
	harness_free(h);
}

/* --- the glue, with the real store and auth ----------------------------- */

struct glue_conn {
	struct conn_info info;
	void *session;
	struct buf in, out;
};

static void glue_open(struct glue_conn *c, struct server_ctx *ctx, const char *listener)
{
	memset(c, 0, sizeof(*c));
	c->info = (struct conn_info){
		.peer_ip = "127.0.0.1",
		.peer_loopback = true,
		.tls = strcmp(listener, "pop3s") == 0,
		.tls_available = true,
		.session_id = "glue",
		.listener = listener,
	};
	buf_init(&c->in);
	buf_init(&c->out);
	c->session = pop3_proto.open(ctx, &c->info, &c->out);
	assert_string_equal(buf_cstr(&c->out), "+OK facteur POP3 server ready\r\n");
}

static enum conn_result glue_send(struct glue_conn *c, const char *text)
{
	buf_clear(&c->out);
	buf_append_str(&c->in, text);
	enum conn_result r = pop3_proto.input(c->session, &c->in, &c->out);
	while (r == CONN_MORE)
		r = pop3_proto.resume(c->session, &c->out);
	return r;
}

static void glue_close(struct glue_conn *c)
{
	pop3_proto.close(c->session);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
}

static void test_glue_store(void **state)
{
	char dir[] = "/tmp/facteur-pop3-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct store *store;
	const char *error;
	assert_int_equal(store_open(dir, &store, &error), 0);
	char hash[AUTH_HASH_MAX];
	int64_t id;
	assert_int_equal(auth_password_hash("pw one", hash, sizeof(hash)), 0);
	assert_int_equal(store_domain_add(store, "example.org", &error), 0);
	assert_int_equal(store_account_add(store, "bob@example.org", hash, &id, &error), 0);
	static const char m1[] = "Subject: 1\r\n\r\n.one\r\n";
	static const char m2[] = "Subject: 2\r\n\r\ntwo\r\n";
	struct store_parsed parsed = {0};
	assert_int_equal(
		store_deliver(store, m1, sizeof(m1) - 1, &parsed, &id, 1, NULL, 0, 0, NULL, &error),
		0);
	assert_int_equal(
		store_deliver(store, m2, sizeof(m2) - 1, &parsed, &id, 1, NULL, 0, 0, NULL, &error),
		0);
	struct config cfg;
	config_defaults(&cfg);
	struct server_ctx ctx = {.config = &cfg, .store = store, .wake_fd = -1};

	struct glue_conn a, b;
	glue_open(&a, &ctx, "pop3");
	glue_send(&a, "CAPA\r\n");
	assert_non_null(strstr(buf_cstr(&a.out), "STLS\r\n"));
	glue_send(&a, "USER bob@example.org\r\nPASS wrong\r\n");
	assert_string_equal(buf_cstr(&a.out),
			    "+OK send PASS\r\n"
			    "-ERR [AUTH] authentication failed\r\n");
	glue_send(&a, "USER bob@example.org\r\nPASS pw one\r\n");
	assert_string_equal(buf_cstr(&a.out),
			    "+OK send PASS\r\n"
			    "+OK maildrop has 2 messages (39 octets)\r\n");
	glue_send(&a, "UIDL\r\n");
	char uidl[200];
	snprintf(uidl, sizeof(uidl), "%s", buf_cstr(&a.out));
	glue_send(&a, "RETR 1\r\n");
	assert_string_equal(buf_cstr(&a.out),
			    "+OK 20 octets\r\nSubject: 1\r\n\r\n"
			    "..one\r\n.\r\n");
	/* A second session on the same account: IN-USE. */
	glue_open(&b, &ctx, "pop3s");
	glue_send(&b, "CAPA\r\n");
	assert_null(strstr(buf_cstr(&b.out), "STLS"));
	glue_send(&b, "USER bob@example.org\r\nPASS pw one\r\n");
	assert_string_equal(buf_cstr(&b.out),
			    "+OK send PASS\r\n-ERR [IN-USE] "
			    "maildrop already locked by another session\r\n");
	glue_close(&b);
	/* Dropped without QUIT: nothing deleted, lock released. */
	glue_send(&a, "DELE 1\r\n");
	glue_close(&a);
	assert_int_equal(pop3_lock_count(), 0);

	glue_open(&a, &ctx, "pop3");
	glue_send(&a, "USER bob@example.org\r\nPASS pw one\r\nUIDL\r\n");
	assert_non_null(strstr(buf_cstr(&a.out), uidl));
	glue_send(&a, "DELE 1\r\n");
	assert_int_equal(glue_send(&a, "QUIT\r\n"), CONN_CLOSE);
	assert_string_equal(buf_cstr(&a.out),
			    "+OK facteur POP3 server signing off (1 messages deleted)\r\n");
	glue_close(&a);

	glue_open(&a, &ctx, "pop3");
	glue_send(&a, "USER bob@example.org\r\nPASS pw one\r\nLIST\r\n");
	assert_string_equal(buf_cstr(&a.out),
			    "+OK send PASS\r\n"
			    "+OK maildrop has 1 messages (19 octets)\r\n"
			    "+OK 1 messages (19 octets)\r\n1 19\r\n.\r\n");
	glue_send(&a, "UIDL 1\r\n");
	/* The second message keeps its unique id. */
	assert_non_null(strstr(uidl, buf_cstr(&a.out) + 6));
	glue_close(&a);
	assert_int_equal(pop3_lock_count(), 0);

	store_close(&store);
	config_deinit(&cfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_quit_in_authorization),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_stls_injection),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_big_stream),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_dele_rset_quit),
		cmocka_unit_test(test_drop_without_quit),
		cmocka_unit_test(test_in_use),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_auth_failures),
		cmocka_unit_test(test_scram_engine),
		cmocka_unit_test(test_cleartext_refused),
		cmocka_unit_test(test_glue_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
