/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the ManageSieve parser and engine (src/managesieve/),
 * driven byte by byte and in one piece against a real store (tu_fixture)
 * with fake login hooks: every command and response code of RFC 5804 we
 * answer, literals {n+} and {n}, the SASL continuation, a login checked
 * elsewhere (CONN_WAIT), STARTTLS, the cleartext policy, and bad input
 * (bare LF, bad escapes, over-long lines, oversized literals, too many
 * errors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "managesieve/managesieve-private.h"
#include "store/store.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define PLAIN_OK "AGFAZXhhbXBsZS5vcmcAcHc="       /* a@example.org / pw */
#define PLAIN_SLOW "AHNsb3dAZXhhbXBsZS5vcmcAcHc=" /* slow@example.org / pw */
#define PLAIN_BAD "AGFAZXhhbXBsZS5vcmcAYmFk"      /* a@example.org / bad */

struct fake {
	int64_t acc;
	int polls; /* PENDING answers left for "slow" */
};

static enum managesieve_login_result fake_login(void *ctx, const char *user, const char *password,
						int64_t *account_r)
{
	struct fake *f = ctx;
	if (strcmp(password, "pw") != 0)
		return MANAGESIEVE_LOGIN_FAILED;
	if (strcmp(user, "slow@example.org") == 0) {
		f->polls = 3;
		return MANAGESIEVE_LOGIN_PENDING;
	}
	if (strcmp(user, "a@example.org") != 0)
		return MANAGESIEVE_LOGIN_FAILED;
	*account_r = f->acc;
	return MANAGESIEVE_LOGIN_OK;
}

static enum managesieve_login_result fake_poll(void *ctx, int64_t *account_r)
{
	struct fake *f = ctx;
	if (f->polls-- > 0)
		return MANAGESIEVE_LOGIN_PENDING;
	*account_r = f->acc;
	return MANAGESIEVE_LOGIN_OK;
}

static const struct managesieve_hooks hooks = {fake_login, fake_poll, NULL};

/* SCRAM in three messages: "c1" (start), "c2", then "" after "s2". */
static enum managesieve_login_result fake_scram(void *ctx, struct auth_scram_io *step,
						int64_t *account_r)
{
	struct fake *f = ctx;
	snprintf(step->user, sizeof(step->user), "a@example.org");
	if (step->start && strcmp(step->in, "YzE=") == 0) {
		snprintf(step->challenge, sizeof(step->challenge), "czE=");
		return MANAGESIEVE_LOGIN_PENDING;
	}
	if (!step->start && strcmp(step->in, "YzI=") == 0) {
		snprintf(step->challenge, sizeof(step->challenge), "czI=");
		return MANAGESIEVE_LOGIN_PENDING;
	}
	if (!step->start && step->in[0] == '\0') {
		*account_r = f->acc;
		return MANAGESIEVE_LOGIN_OK;
	}
	return MANAGESIEVE_LOGIN_FAILED;
}

static const struct managesieve_hooks hooks_scram = {fake_login, fake_poll, fake_scram};

struct t {
	struct tu_fixture *fx;
	struct fake fake;
	const struct managesieve_hooks *hooks; /* NULL: hooks (no SCRAM) */
	struct managesieve_session *s;
	struct buf in, out;
};

static void t_open(struct t *t, bool tls, bool tls_available)
{
	t->fake.acc = t->fx->acc;
	struct managesieve_settings st = {
		.config = &t->fx->config,
		.store = t->fx->store,
		.session_id = "t",
		.peer_ip = "192.0.2.1",
		.tls = tls,
		.tls_available = tls_available,
	};
	buf_init(&t->in);
	buf_init(&t->out);
	t->s = managesieve_session_create(&st, t->hooks != NULL ? t->hooks : &hooks, &t->fake,
					  &t->out);
}

static void t_close(struct t *t)
{
	managesieve_session_destroy(&t->s);
	buf_deinit(&t->in);
	buf_deinit(&t->out);
}

/* Feed bytes (one at a time when bytewise), resuming through CONN_WAIT. */
static enum conn_result t_feed(struct t *t, const char *data, size_t len, bool bytewise)
{
	enum conn_result r = CONN_OK;
	for (size_t i = 0; i < len;) {
		size_t n = bytewise ? 1 : len - i;
		buf_append(&t->in, data + i, n);
		i += n;
		r = managesieve_session_input(t->s, &t->in, &t->out);
		while (r == CONN_WAIT)
			r = managesieve_session_resume(t->s, &t->out);
		if (r == CONN_WAIT || (r == CONN_OK && t->in.len > 0))
			r = managesieve_session_input(t->s, &t->in, &t->out);
		if (r != CONN_OK)
			break;
	}
	return r;
}

/* Send a command, return its output (NUL-terminated, cleared before). */
static const char *t_cmd(struct t *t, const char *cmd, enum conn_result *r_r)
{
	buf_clear(&t->out);
	enum conn_result r = t_feed(t, cmd, strlen(cmd), false);
	if (r_r != NULL)
		*r_r = r;
	return buf_cstr(&t->out);
}

static int setup(void **state)
{
	struct t *t = xcalloc(1, sizeof(*t));
	t->fx = tu_fixture_create("msieve", true);
	if (t->fx == NULL)
		return -1;
	t->fx->config.plaintext_auth = PLAINTEXT_AUTH_ALWAYS;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	tu_fixture_destroy(&t->fx);
	free(t);
	return 0;
}

static void test_parse(void **state)
{
	struct managesieve_cmd cmd;
	struct managesieve_parse_error err;
	const char *in = "putScript \"a\\\"b\\\\\" {5+}\r\nx\r\ny; 12 {0}\r\n\r\n";
	size_t len = strlen(in);
	/* Every proper prefix needs more; the whole parses. */
	for (size_t i = 0; i < len; i++)
		assert_int_equal(managesieve_parse(in, i, false, 1024, 100, &cmd, &err), 0);
	assert_int_equal(managesieve_parse(in, len, false, 1024, 100, &cmd, &err), (long)len);
	assert_string_equal(cmd.name, "PUTSCRIPT");
	assert_int_equal(cmd.n_args, 4);
	assert_string_equal(cmd.args[0].str, "a\"b\\");
	assert_int_equal(cmd.args[1].len, 5);
	assert_memory_equal(cmd.args[1].str, "x\r\ny;", 5);
	assert_true(cmd.args[2].is_number);
	assert_int_equal(cmd.args[2].number, 12);
	assert_int_equal(cmd.args[3].len, 0);
	managesieve_cmd_clear(&cmd);

	/* A bare line (SASL answer). */
	assert_int_equal(managesieve_parse("\"abc\"\r\n", 7, true, 1024, 100, &cmd, &err), 7);
	assert_int_equal(cmd.n_args, 1);
	managesieve_cmd_clear(&cmd);

	static const struct {
		const char *in;
		const char *error;
	} bad[] = {
		{"NOOP\n", "line must end with CRLF"},
		{"NOOP \"a\\x\"\r\n", "bad escape in quoted string"},
		{"NOOP \"a\nb\"\r\n", "bad character in quoted string"},
		{"NOOP  \"a\"\r\n", "expected a string or a number"},
		{"NOOP\"a\"\r\n", "expected a space"},
		{"NOOP {x}\r\n", "malformed literal"},
		{"NOOP {3}x\r\n", "malformed literal"},
		{"1NOOP\r\n", "expected a command name"},
		{"NOOP \"a\" \"b\" \"c\" \"d\" \"e\"\r\n", "too many arguments"},
		{"NOOP 99999999999999999999999\r\n", "number too large"},
		{"NOOP \"a\"\rx\r\n", "bare CR"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long r = managesieve_parse(bad[i].in, strlen(bad[i].in), false, 1024, 100, &cmd,
					   &err);
		assert_int_equal(r, -1);
		assert_string_equal(err.text, bad[i].error);
		assert_true(err.skip <= strlen(bad[i].in));
	}
	/* Caps: before the newline, and a literal refused before its bytes. */
	char line[200];
	memset(line, 'A', sizeof(line));
	assert_int_equal(managesieve_parse(line, sizeof(line), false, 100, 100, &cmd, &err), -1);
	assert_string_equal(err.text, "unknown command");
	memcpy(line, "NOOP \"", 6);
	assert_int_equal(managesieve_parse(line, sizeof(line), false, 100, 100, &cmd, &err), -1);
	assert_string_equal(err.text, "line too long");
	/* ... and the same cap when the whole line came at once. */
	assert_int_equal(
		managesieve_parse("NOOP \"0123456789\"\r\n", 19, false, 16, 100, &cmd, &err), -1);
	assert_string_equal(err.text, "line too long");
	assert_int_equal(managesieve_parse("NOOP {101+}\r\n", 13, false, 100, 100, &cmd, &err), -1);
	assert_string_equal(err.code, "QUOTA/MAXSIZE");
	assert_int_equal(err.skip, 13 + 101);
}

static void test_put_string(void **state)
{
	struct buf b;
	buf_init(&b);
	managesieve_put_string(&b, "a\"b\\c", 5);
	managesieve_put_string(&b, "x\r\ny", 4);
	assert_string_equal(buf_cstr(&b), "\"a\\\"b\\\\c\"{4}\r\nx\r\ny");
	buf_deinit(&b);
}

/* A whole session; its output, for comparing byte-wise and whole feeds. */
static void run_session(struct t *t, bool bytewise, struct buf *all)
{
	static const char *const cmds[] = {
		"AUTHENTICATE \"PLAIN\" \"" PLAIN_OK "\"\r\n",
		"PUTSCRIPT \"one\" {42+}\r\nrequire \"fileinto\";\r\nfileinto \"Archive\";\r\n\r\n",
		"PUTSCRIPT \"two\" {6}\r\nkeep;\n\r\n",
		"PUTSCRIPT \"bad\" \"if true {\"\r\n",
		"CHECKSCRIPT \"fileinto \\\"x\\\";\"\r\n",
		"LISTSCRIPTS\r\n",
		"SETACTIVE \"one\"\r\n",
		"LISTSCRIPTS\r\n",
		"GETSCRIPT \"one\"\r\n",
		"GETSCRIPT \"nosuch\"\r\n",
		"DELETESCRIPT \"one\"\r\n",
		"RENAMESCRIPT \"two\" \"one\"\r\n",
		"RENAMESCRIPT \"nosuch\" \"three\"\r\n",
		"RENAMESCRIPT \"two\" \"three\"\r\n",
		"DELETESCRIPT \"three\"\r\n",
		"SETACTIVE \"nosuch\"\r\n",
		"SETACTIVE \"\"\r\n",
		"DELETESCRIPT \"one\"\r\n",
		"HAVESPACE \"x\" 1000\r\n",
		"HAVESPACE \"x\" 999999999\r\n",
		"NOOP \"tag\"\r\n",
		"UNAUTHENTICATE\r\n",
		"LISTSCRIPTS\r\n",
		"LOGOUT\r\n",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		buf_clear(&t->out);
		enum conn_result r = t_feed(t, cmds[i], strlen(cmds[i]), bytewise);
		assert_int_equal(r, i + 1 == sizeof(cmds) / sizeof(cmds[0]) ? CONN_CLOSE : CONN_OK);
		buf_append(all, t->out.data, t->out.len);
		buf_append_str(all, "|");
	}
}

static void test_session(void **state)
{
	struct t *t = *state;
	struct buf whole, bytes;
	buf_init(&whole);
	buf_init(&bytes);
	t_open(t, false, true);
	assert_non_null(strstr(buf_cstr(&t->out), "\"STARTTLS\"\r\n"));
	assert_non_null(strstr(buf_cstr(&t->out), "\"SIEVE\" \"fileinto envelope"));
	assert_non_null(strstr(buf_cstr(&t->out), "\"VERSION\" \"1.0\"\r\nOK "));
	run_session(t, false, &whole);
	t_close(t);
	/* The same again byte by byte: the store is back to empty. */
	t_open(t, false, true);
	run_session(t, true, &bytes);
	t_close(t);
	assert_string_equal(buf_cstr(&whole), buf_cstr(&bytes));
	const char *expect =
		"OK \"Logged in\"\r\n|"
		"OK \"Script stored\"\r\n|"
		"OK \"Script stored\"\r\n|"
		"NO \"1:10: missing '}'\"\r\n|"
		"NO \"1:1: fileinto needs require \\\"fileinto\\\"\"\r\n|"
		"\"one\"\r\n\"two\"\r\nOK \"Listscripts completed\"\r\n|"
		"OK \"Script activated\"\r\n|"
		"\"one\" ACTIVE\r\n\"two\"\r\nOK \"Listscripts completed\"\r\n|"
		"{42}\r\nrequire \"fileinto\";\r\nfileinto \"Archive\";\r\n\r\nOK \"Getscript "
		"completed\"\r\n|"
		"NO (NONEXISTENT) \"There is no script by that name\"\r\n|"
		"NO (ACTIVE) \"The active script cannot be deleted\"\r\n|"
		"NO (ALREADYEXISTS) \"A script with that name exists\"\r\n|"
		"NO (NONEXISTENT) \"There is no script by that name\"\r\n|"
		"OK \"Script renamed\"\r\n|"
		"OK \"Script deleted\"\r\n|"
		"NO (NONEXISTENT) \"There is no script by that name\"\r\n|"
		"OK \"No script is active\"\r\n|"
		"OK \"Script deleted\"\r\n|"
		"OK \"Putscript would succeed\"\r\n|"
		"NO (QUOTA/MAXSIZE) \"Scripts are limited to 262144 bytes\"\r\n|"
		"OK (TAG \"tag\") \"Done\"\r\n|"
		"OK \"Back to the unauthenticated state\"\r\n|"
		"NO \"LISTSCRIPTS is not allowed before authentication\"\r\n|"
		"OK \"Logout completed\"\r\n|";
	assert_string_equal(buf_cstr(&whole), expect);
	buf_deinit(&whole);
	buf_deinit(&bytes);
}

static void test_sasl(void **state)
{
	struct t *t = *state;
	t_open(t, false, false);
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\"\r\n", NULL), "\"\"\r\n");
	assert_string_equal(t_cmd(t, "\"*\"\r\n", NULL), "NO \"Authentication cancelled\"\r\n");
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\"\r\n", NULL), "\"\"\r\n");
	assert_string_equal(t_cmd(t, "{24+}\r\n" PLAIN_BAD "\r\n", NULL),
			    "NO \"Authentication failed\"\r\n");
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"LOGIN\"\r\n", NULL),
			    "NO \"Unsupported authentication mechanism\"\r\n");
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\" \"!!!\"\r\n", NULL),
			    "NO \"Malformed PLAIN response\"\r\n");
	assert_string_equal(t_cmd(t, "PUTSCRIPT \"a\" \"keep;\"\r\n", NULL),
			    "NO \"PUTSCRIPT is not allowed before authentication\"\r\n");
	/* Checked elsewhere: CONN_WAIT, and the command behind it waits. */
	buf_clear(&t->out);
	const char *two = "AUTHENTICATE \"PLAIN\" \"" PLAIN_SLOW "\"\r\nLISTSCRIPTS\r\n";
	buf_append(&t->in, two, strlen(two));
	assert_int_equal(managesieve_session_input(t->s, &t->in, &t->out), CONN_WAIT);
	assert_int_equal(managesieve_session_input(t->s, &t->in, &t->out), CONN_WAIT);
	assert_string_equal(buf_cstr(&t->in), "LISTSCRIPTS\r\n");
	assert_int_equal(managesieve_session_resume(t->s, &t->out), CONN_WAIT);
	assert_int_equal(managesieve_session_resume(t->s, &t->out), CONN_WAIT);
	assert_int_equal(managesieve_session_resume(t->s, &t->out), CONN_WAIT);
	assert_int_equal(managesieve_session_resume(t->s, &t->out), CONN_OK);
	assert_true(managesieve_session_authenticated(t->s));
	assert_int_equal(managesieve_session_input(t->s, &t->in, &t->out), CONN_OK);
	assert_string_equal(buf_cstr(&t->out),
			    "OK \"Logged in\"\r\nOK \"Listscripts completed\"\r\n");
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\" \"" PLAIN_OK "\"\r\n", NULL),
			    "NO \"AUTHENTICATE is not allowed after authentication\"\r\n");
	t_close(t);
}

static void test_starttls_and_policy(void **state)
{
	struct t *t = *state;
	t->fx->config.plaintext_auth = PLAINTEXT_AUTH_NEVER;
	t_open(t, false, true);
	assert_non_null(strstr(buf_cstr(&t->out), "\"SASL\" \"\"\r\n"));
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\" \"" PLAIN_OK "\"\r\n", NULL),
			    "NO (ENCRYPT-NEEDED) \"Authentication without TLS is not allowed, "
			    "use STARTTLS\"\r\n");
	enum conn_result r;
	assert_string_equal(t_cmd(t, "STARTTLS\r\n", &r), "OK \"Begin TLS negotiation now\"\r\n");
	assert_int_equal(r, CONN_STARTTLS);
	buf_clear(&t->in); /* the connection layer drops what followed */
	buf_clear(&t->out);
	managesieve_session_tls_started(t->s, &t->out);
	const char *caps = buf_cstr(&t->out);
	assert_non_null(strstr(caps, "\"SASL\" \"PLAIN\"\r\n"));
	assert_null(strstr(caps, "STARTTLS"));
	assert_non_null(strstr(caps, "OK \"TLS negotiation successful\"\r\n"));
	assert_string_equal(t_cmd(t, "STARTTLS\r\n", NULL), "NO \"TLS is already active\"\r\n");
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\" \"" PLAIN_OK "\"\r\n", NULL),
			    "OK \"Logged in\"\r\n");
	assert_int_equal(managesieve_session_idle_timeout(t->s), MANAGESIEVE_TIMEOUT);
	buf_clear(&t->out);
	managesieve_session_timeout(t->s, &t->out);
	assert_string_equal(buf_cstr(&t->out), "BYE \"Idle for too long\"\r\n");
	assert_int_equal(t_feed(t, "NOOP\r\n", 6, false), CONN_CLOSE);
	t_close(t);
	t->fx->config.plaintext_auth = PLAINTEXT_AUTH_ALWAYS;
	t_open(t, false, false);
	assert_string_equal(t_cmd(t, "STARTTLS\r\n", NULL), "NO \"TLS is not available\"\r\n");
	t_close(t);
}

static void test_bad_input(void **state)
{
	struct t *t = *state;
	t_open(t, false, false);
	/* An oversized literal before login: refused, its bytes skipped. */
	char big[9000 + 64];
	int n = snprintf(big, sizeof(big), "AUTHENTICATE \"PLAIN\" {9000+}\r\n");
	memset(big + n, 'A', 9000);
	memcpy(big + n + 9000, "\r\nNOOP\r\n", 8);
	buf_clear(&t->out);
	assert_int_equal(t_feed(t, big, (size_t)n + 9008, true), CONN_OK);
	const char *out = buf_cstr(&t->out);
	assert_string_equal(out,
			    "NO (QUOTA/MAXSIZE) \"literal too large\"\r\nOK \"NOOP "
			    "completed\"\r\n");
	assert_string_equal(t_cmd(t, "FROB\r\n", NULL), "NO \"Unknown command\"\r\n");
	assert_string_equal(t_cmd(t, "NOOP \"a\" \"b\"\r\n", NULL),
			    "NO \"Wrong number of arguments to NOOP\"\r\n");
	assert_string_equal(t_cmd(t, "NOOP 5\r\n", NULL), "NO \"Expected a string\"\r\n");
	assert_string_equal(t_cmd(t, "NOOP\n", NULL), "NO \"line must end with CRLF\"\r\n");
	/* A long line before login is cut at the pre-auth cap. */
	char line[MANAGESIEVE_LINE_MAX_PREAUTH + 10];
	memcpy(line, "NOOP \"", 6);
	memset(line + 6, 'x', sizeof(line) - 6);
	buf_clear(&t->out);
	assert_int_equal(t_feed(t, line, sizeof(line), false), CONN_OK);
	assert_string_equal(buf_cstr(&t->out), "NO \"line too long\"\r\n");
	assert_string_equal(t_cmd(t, "\"\r\nNOOP\r\n", NULL), "OK \"NOOP completed\"\r\n");
	/* NUL inside a literal name: an invalid name, not a truncated one. */
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"PLAIN\" \"" PLAIN_OK "\"\r\n", NULL),
			    "OK \"Logged in\"\r\n");
	buf_clear(&t->out);
	assert_int_equal(t_feed(t, "GETSCRIPT {3+}\r\na\0b\r\n", 21, false), CONN_OK);
	assert_string_equal(buf_cstr(&t->out), "NO \"Invalid script name\"\r\n");
	t_close(t);
	/* Too many errors: BYE and close. */
	t_open(t, false, false);
	enum conn_result r = CONN_OK;
	for (int i = 0; i < MANAGESIEVE_MAX_ERRORS && r == CONN_OK; i++)
		t_cmd(t, "FROB\r\n", &r);
	assert_int_equal(r, CONN_CLOSE);
	assert_non_null(strstr(buf_cstr(&t->out), "BYE \"Too many errors\"\r\n"));
	t_close(t);
}

static void test_scram(void **state)
{
	struct t *t = *state;
	t->hooks = &hooks_scram;
	t_open(t, false, false);
	assert_non_null(strstr(buf_cstr(&t->out), "\"SASL\" \"PLAIN SCRAM-SHA-256\"\r\n"));
	/* With an initial response, then a literal answer, then the empty one. */
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"SCRAM-SHA-256\" \"YzE=\"\r\n", NULL),
			    "\"czE=\"\r\n");
	assert_string_equal(t_cmd(t, "{4+}\r\nYzI=\r\n", NULL), "\"czI=\"\r\n");
	assert_string_equal(t_cmd(t, "\"\"\r\n", NULL), "OK \"Logged in\"\r\n");
	assert_true(managesieve_session_authenticated(t->s));
	t_close(t);
	/* Without one: an empty challenge first; a wrong answer fails; "*" cancels. */
	t_open(t, false, false);
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"scram-sha-256\"\r\n", NULL), "\"\"\r\n");
	assert_string_equal(t_cmd(t, "\"YzE=\"\r\n", NULL), "\"czE=\"\r\n");
	assert_string_equal(t_cmd(t, "\"bad\"\r\n", NULL), "NO \"Authentication failed\"\r\n");
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"SCRAM-SHA-256\"\r\n", NULL), "\"\"\r\n");
	assert_string_equal(t_cmd(t, "\"*\"\r\n", NULL), "NO \"Authentication cancelled\"\r\n");
	assert_false(managesieve_session_authenticated(t->s));
	t_close(t);
	/* Not offered without the hook. */
	t->hooks = NULL;
	t_open(t, false, false);
	assert_string_equal(t_cmd(t, "AUTHENTICATE \"SCRAM-SHA-256\" \"YzE=\"\r\n", NULL),
			    "NO \"Unsupported authentication mechanism\"\r\n");
	t_close(t);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_put_string),
		cmocka_unit_test_setup_teardown(test_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sasl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_and_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
