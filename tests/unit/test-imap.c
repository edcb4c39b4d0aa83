/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the IMAP engine's foundation: the command reader (whole
 * input and one byte at a time give the same commands; literals of every
 * kind, caps, "+ Ready for literal" exactly once, refused commands skipped
 * to their real end; quoted strings, nested lists, section specs; bad
 * syntax of every kind), sequence sets, modified UTF-7, and whole sessions
 * on a real store in a temporary directory: greeting, CAPABILITY, LOGIN,
 * AUTHENTICATE PLAIN (SASL-IR and continuation), ENABLE, ID, LOGOUT,
 * STARTTLS injection, wrong states, the BAD limit, and the selected view's
 * untagged EXISTS / EXPUNGE / FETCH FLAGS updates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/spool.h"
#include "lib/util.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- parser helpers ------------------------------------------------------------ */

static const struct imap_parser_limits test_limits = {
	.line_max = 1024,
	.literal_max = 2048,
	.append_literal_max = 100000,
	.command_max = 200000,
};

static void dump_args(const struct imap_arg *a, struct buf *t)
{
	for (; a->type != IMAP_ARG_EOL; a++) {
		switch (a->type) {
		case IMAP_ARG_ATOM:
			buf_printf(t, " A<%s>", a->str);
			break;
		case IMAP_ARG_NIL:
			buf_append_str(t, " NIL");
			break;
		case IMAP_ARG_QUOTED:
			buf_printf(t, " Q<%s>", a->str);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(t, " L%s%zu<", a->literal8 ? "8:" : ":", a->len);
			for (size_t i = 0; i < a->len; i++)
				buf_append(t, a->str[i] == '\0' ? "~" : &a->str[i], 1);
			buf_append_str(t, ">");
			break;
		case IMAP_ARG_LIST:
			buf_append_str(t, " (");
			dump_args(a->list, t);
			buf_append_str(t, " )");
			break;
		default:
			break;
		}
	}
}

/*
 * Scan and parse everything in in; append one line per command to t:
 * "CMD tag NAME args", "BAD tag error", "REJ tag reply" or "FATAL reply".
 * The parser's output ("+ Ready...") is appended to out.
 */
static void drain(struct imap_parser *p, struct buf *in, struct buf *out, struct buf *t)
{
	for (;;) {
		enum imap_scan_result r = imap_parser_scan(p, in, out);
		if (r == IMAP_SCAN_MORE)
			return;
		const char *tag, *name, *error, *msg;
		const struct imap_arg *args;
		if (r == IMAP_SCAN_COMMAND) {
			if (imap_parser_parse(p, &tag, &name, &args, &error) < 0) {
				buf_printf(t, "BAD %s %s\n", tag, error);
			} else {
				buf_printf(t, "CMD %s %s", tag, name);
				dump_args(args, t);
				buf_append_str(t, "\n");
			}
		} else {
			msg = imap_parser_error(p, &tag);
			buf_printf(t, "%s %s %s\n", r == IMAP_SCAN_FATAL ? "FATAL" : "REJ", tag,
				   msg);
			if (r == IMAP_SCAN_FATAL)
				return;
		}
	}
}

/* Transcript of data fed at once (step 0) or step bytes at a time. */
static char *run_parser_with(const struct imap_parser_limits *limits, const char *data, size_t len,
			     size_t step, char **out_r)
{
	struct imap_parser *p = imap_parser_create(limits);
	struct buf in, out, t;
	buf_init(&in);
	buf_init(&out);
	buf_init(&t);
	if (step == 0)
		step = len;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		buf_append(&in, data + off, n);
		drain(p, &in, &out, &t);
	}
	imap_parser_destroy(&p);
	char *res = xstrdup(buf_cstr(&t));
	if (out_r != NULL)
		*out_r = xstrdup(buf_cstr(&out));
	buf_deinit(&in);
	buf_deinit(&out);
	buf_deinit(&t);
	return res;
}

static char *run_parser(const char *data, size_t len, size_t step, char **out_r)
{
	return run_parser_with(&test_limits, data, len, step, out_r);
}

static void expect_parse(const char *data, const char *want)
{
	char *got = run_parser(data, strlen(data), 0, NULL);
	if (strcmp(got, want) != 0)
		fail_msg("input %s\n got: %s\nwant: %s", data, got, want);
	free(got);
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* --- parser tests ---------------------------------------------------------------- */

static const char stream[] =
	"a1 NOOP\r\n"
	"a2 LOGIN {5}\r\nalice \"s3\\\"cret\\\\\"\r\n"
	"a3 FETCH 1:*,7 (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> (X (Y)))\r\n"
	"a4 APPEND INBOX (\\Seen) {11+}\r\nhello world\r\n"
	"a5 SEARCH CHARSET UTF-8 SUBJECT {3-}\r\nabc NIL nil \"\"\r\n"
	"a6 APPEND Drafts ~{4}\r\na\0b\0\r\n"
	"a7 FOO {0}\r\n\r\n"
	"a8 x (a\r\n"
	"* NOOP\r\n"
	"a9 LIST \"\" *\r\n";

static const char stream_want[] =
	"CMD a1 NOOP\n"
	"CMD a2 LOGIN L:5<alice> Q<s3\"cret\\>\n"
	"CMD a3 FETCH A<1:*,7> ( A<FLAGS> A<BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>> "
	"( A<X> ( A<Y> ) ) )\n"
	"CMD a4 APPEND A<INBOX> ( A<\\Seen> ) L:11<hello world>\n"
	"CMD a5 SEARCH A<CHARSET> A<UTF-8> A<SUBJECT> L:3<abc> NIL NIL Q<>\n"
	"CMD a6 APPEND A<Drafts> L8:4<a~b~>\n"
	"CMD a7 FOO L:0<>\n"
	"BAD a8 Missing ) or space in list\n"
	"BAD * Invalid tag\n"
	"CMD a9 LIST Q<> A<*>\n";

static void test_parser_stream(void **state)
{
	char *whole = run_parser(stream, sizeof(stream) - 1, 0, NULL);
	assert_string_equal(whole, stream_want);
	for (size_t step = 1; step <= 7; step++) {
		char *out;
		char *t = run_parser(stream, sizeof(stream) - 1, step, &out);
		assert_string_equal(t, stream_want);
		/*
		 * Two synchronising literals ({5}, ~{4}; {0} needs none): one "+"
		 * each, unless the chunk holding the LF already holds the literal.
		 */
		size_t plus = count_str(out, "+ Ready for literal\r\n");
		if (step <= 4 ? plus != 2 : plus > 2)
			fail_msg("step %zu: out=%s", step, out);
		free(t);
		free(out);
	}
	free(whole);
}

/*
 * APPEND literals read into a spool (issue 9 item 4): the same commands
 * come out, whole or byte by byte, with a threshold so small that the
 * messages go to files; other commands' literals stay in memory.
 */
static void test_parser_spooled_stream(void **state)
{
	struct imap_parser_limits l = test_limits;
	l.spool_append = true;
	spool_configure(4, 1 << 20, 1 << 20);
	for (size_t step = 0; step <= 7; step++) {
		char *t = run_parser_with(&l, stream, sizeof(stream) - 1, step, NULL);
		assert_string_equal(t, stream_want);
		free(t);
	}
	/* The literal's value is in a file of the spool, NUL-terminated. */
	struct imap_parser *p = imap_parser_create(&l);
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	buf_append_str(&in, "a APPEND {5}\r\nINBOX {90000+}\r\n");
	for (size_t i = 0; i < 90000; i++)
		buf_append(&in, i % 2 ? "y" : "x", 1);
	buf_append_str(&in, "\r\n");
	assert_int_equal(imap_parser_scan(p, &in, &out), IMAP_SCAN_COMMAND);
	const char *tag, *name, *error;
	const struct imap_arg *args;
	assert_int_equal(imap_parser_parse(p, &tag, &name, &args, &error), 0);
	assert_string_equal(args[0].str, "INBOX");
	assert_non_null(args[1].spool);
	assert_true(spool_fd(args[1].spool) >= 0);
	assert_int_equal(args[1].len, 90000);
	assert_int_equal(args[1].str[90000], '\0');
	assert_memory_equal(args[1].str + 89998, "xy", 2);
	/* The parser's memory stays small: the message is not in it. */
	assert_true(spool_memory_used() < 4096);
	imap_parser_destroy(&p);
	assert_int_equal(spool_memory_used(), 0);
	buf_deinit(&in);
	buf_deinit(&out);
	spool_configure(0, 0, 0);
}

/*
 * The spool cannot take the message (its directory is not one): the
 * APPEND is refused with NO and skipped to its end, the next command runs.
 */
static void test_parser_spool_failure(void **state)
{
	struct imap_parser_limits l = test_limits;
	l.spool_append = true;
	l.spool_dir = "/dev/null";
	spool_configure(16, 1 << 20, 1 << 20);
	static const char in[] = "a APPEND INBOX {40+}\r\n"
				 "0123456789012345678901234567890123456789\r\n"
				 "b APPEND INBOX {3+}\r\nabc\r\n"
				 "c NOOP\r\n";
	for (size_t step = 0; step <= 5; step++) {
		char *t = run_parser_with(&l, in, sizeof(in) - 1, step, NULL);
		assert_string_equal(t,
				    "REJ a NO [LIMIT] Cannot hold the message now (cannot create "
				    "a spool file)\n"
				    "CMD b APPEND A<INBOX> L:3<abc>\n"
				    "CMD c NOOP\n");
		free(t);
	}
	spool_configure(0, 0, 0);
}

static void test_parser_literal_plus_once(void **state)
{
	struct imap_parser *p = imap_parser_create(&test_limits);
	struct buf in, out, t;
	buf_init(&in);
	buf_init(&out);
	buf_init(&t);
	buf_append_str(&in, "a LOGIN {3}\r\n");
	drain(p, &in, &out, &t);
	assert_string_equal(buf_cstr(&out), "+ Ready for literal\r\n");
	buf_append_str(&in, "b");
	drain(p, &in, &out, &t);
	buf_append_str(&in, "ob");
	drain(p, &in, &out, &t);
	buf_append_str(&in, " {2}\r\n");
	drain(p, &in, &out, &t);
	assert_int_equal(count_str(buf_cstr(&out), "+ Ready"), 2);
	buf_append_str(&in, "pw\r\nb NOOP\r\n");
	drain(p, &in, &out, &t);
	assert_int_equal(count_str(buf_cstr(&out), "+ Ready"), 2);
	assert_string_equal(buf_cstr(&t), "CMD a LOGIN L:3<bob> L:2<pw>\nCMD b NOOP\n");
	assert_int_equal(in.len, 0);
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&out);
	buf_deinit(&t);
}

static void test_parser_oversized(void **state)
{
	/* Synchronising: refused at once, no "+", the command ends there. */
	char *out;
	char *t = run_parser("a LOGIN {5000}\r\nb NOOP\r\n", 24, 0, &out);
	assert_string_equal(t, "REJ a NO [TOOBIG] Literal too big\nCMD b NOOP\n");
	assert_string_equal(out, "");
	free(t);
	free(out);
	/* APPEND has the bigger cap. */
	t = run_parser("a APPEND INBOX {5000}\r\n", 23, 0, &out);
	assert_string_equal(t, "");
	assert_string_equal(out, "+ Ready for literal\r\n");
	free(t);
	free(out);
	/* Non-synchronising: read, thrown away, BAD; the stream stays in step. */
	struct buf in;
	buf_init(&in);
	buf_append_str(&in, "a LOGIN {5000+}\r\n");
	for (int i = 0; i < 5000; i++)
		buf_append(&in, i % 50 == 0 ? "\n" : "x", 1);
	buf_append_str(&in, " \"x\"\r\nb NOOP\r\n");
	for (size_t step = 0; step <= 1000; step += 997) {
		t = run_parser(in.data, in.len, step, &out);
		assert_string_equal(t, "REJ a BAD [TOOBIG] Literal too big\nCMD b NOOP\n");
		assert_string_equal(out, "");
		free(t);
		free(out);
	}
	buf_deinit(&in);
	/* Over the whole-command cap. */
	struct imap_parser_limits small = test_limits;
	small.command_max = 100;
	struct imap_parser *p = imap_parser_create(&small);
	struct buf o, tt;
	buf_init(&in);
	buf_init(&o);
	buf_init(&tt);
	buf_append_str(&in, "a LOGIN {60+}\r\n");
	for (int i = 0; i < 60; i++)
		buf_append(&in, "y", 1);
	buf_append_str(&in, " {60}\r\nc NOOP\r\n");
	drain(p, &in, &o, &tt);
	assert_string_equal(buf_cstr(&tt), "REJ a NO [TOOBIG] Literal too big\nCMD c NOOP\n");
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&o);
	buf_deinit(&tt);
	/*
	 * Commands other than APPEND hold their literals in memory: their
	 * own, smaller cap (plain_command_max) refuses a SEARCH that
	 * piles literals up, while APPEND keeps command_max.
	 */
	small = test_limits;
	small.plain_command_max = 3000;
	p = imap_parser_create(&small);
	buf_init(&in);
	buf_init(&o);
	buf_init(&tt);
	for (int k = 0; k < 2; k++) {
		buf_append_str(&in, k == 0 ? "a SEARCH" : "b APPEND INBOX");
		for (int l = 0; l < 2; l++) {
			buf_append_str(&in, " TEXT {2000+}\r\n");
			for (int i = 0; i < 2000; i++)
				buf_append(&in, "w", 1);
		}
		buf_append_str(&in, "\r\n");
	}
	drain(p, &in, &o, &tt);
	const char *want = "REJ a BAD [TOOBIG] Literal too big\n"
			   "CMD b APPEND A<INBOX> A<TEXT> L:2000<w";
	assert_memory_equal(buf_cstr(&tt), want, strlen(want));
	assert_non_null(strstr(buf_cstr(&tt), "w> A<TEXT> L:2000<w"));
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&o);
	buf_deinit(&tt);
}

static void test_parser_line_too_long(void **state)
{
	struct buf in;
	buf_init(&in);
	buf_append_str(&in, "a LOGIN ");
	for (int i = 0; i < 3000; i++)
		buf_append(&in, "z", 1);
	buf_append_str(&in, " {3+}\r\nabc\r\nb NOOP\r\n");
	for (size_t step = 0; step <= 500; step += 250) {
		char *t = run_parser(in.data, in.len, step, NULL);
		assert_string_equal(t, "REJ a BAD Line too long\nCMD b NOOP\n");
		free(t);
	}
	buf_deinit(&in);
	/* A long line that never ends is not buffered. */
	struct imap_parser *p = imap_parser_create(&test_limits);
	struct buf out, t;
	buf_init(&in);
	buf_init(&out);
	buf_init(&t);
	for (int i = 0; i < 100; i++) {
		for (int k = 0; k < 1000; k++)
			buf_append(&in, "q", 1);
		drain(p, &in, &out, &t);
		assert_int_equal(in.len, 0);
	}
	assert_string_equal(buf_cstr(&t), "");
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&out);
	buf_deinit(&t);
}

static void test_parser_bad_syntax(void **state)
{
	expect_parse("a NOOP (\r\n", "BAD a Invalid characters in argument\n");
	expect_parse("a NOOP )\r\n", "BAD a Invalid characters in argument\n");
	expect_parse("a NOOP (x))\r\n", "BAD a Unexpected characters after argument\n");
	expect_parse("a NOOP (x\r\n", "BAD a Missing ) or space in list\n");
	expect_parse("a+b NOOP\r\n", "BAD * Invalid tag\n");
	expect_parse("+ NOOP\r\n", "BAD * Invalid tag\n");
	expect_parse("\r\n", "BAD * Invalid tag\n");
	expect_parse("a\r\n", "BAD * Invalid tag\n");
	expect_parse("a NO.OP\r\n", "BAD a Invalid command name\n");
	expect_parse("a NOOP  x\r\n", "BAD a Invalid characters in argument\n");
	expect_parse("a NOOP x \r\n", "BAD a Invalid characters in argument\n");
	expect_parse("a NOOP \"x\\y\"\r\n", "BAD a Invalid escape in quoted string\n");
	expect_parse("a NOOP x{3}y\r\n", "BAD a Unexpected characters after argument\n");
	expect_parse("a NOOP BODY[HEADER\r\n", "BAD a Unterminated [ in argument\n");
	expect_parse("a NOOP caf\xc3\xa9\r\n", "BAD a Unexpected characters after argument\n");
	/* Refused while reading. */
	expect_parse("a NOOP x\ny NOOP\r\n", "REJ a BAD Line must end with CRLF\nCMD y NOOP\n");
	expect_parse("a NOOP \"x\r\nb NOOP\r\n",
		     "REJ a BAD Unterminated quoted string\nCMD b NOOP\n");
	expect_parse("a NOOP x\ry\r\n", "REJ a BAD CR without LF\n");
	char nul[] = "a NOOP x\0y\r\nb NOOP\r\n";
	char *t = run_parser(nul, sizeof(nul) - 1, 0, NULL);
	assert_string_equal(t, "REJ a BAD NUL in command\nCMD b NOOP\n");
	free(t);
	char nul_lit[] = "a NOOP {3+}\r\nx\0y\r\nb NOOP\r\n";
	t = run_parser(nul_lit, sizeof(nul_lit) - 1, 0, NULL);
	assert_string_equal(t, "REJ a BAD NUL in literal\nCMD b NOOP\n");
	free(t);
	/* A literal size that cannot be read: sync refused, non-sync fatal. */
	expect_parse("a NOOP {123456789012345678901}\r\nb NOOP\r\n",
		     "REJ a BAD Literal size unreadable\nCMD b NOOP\n");
	expect_parse("a NOOP {123456789012345678901+}\r\nb NOOP\r\n",
		     "FATAL a BAD Literal size unreadable\n");
	/* Deep nesting is bounded. */
	struct buf deep;
	buf_init(&deep);
	buf_append_str(&deep, "a NOOP ");
	for (int i = 0; i < 40; i++)
		buf_append(&deep, "(", 1);
	for (int i = 0; i < 40; i++)
		buf_append(&deep, ")", 1);
	buf_append_str(&deep, "\r\n");
	expect_parse(buf_cstr(&deep), "BAD a Lists nested too deeply\n");
	buf_deinit(&deep);
}

static void test_parser_accessors(void **state)
{
	struct imap_parser *p = imap_parser_create(&test_limits);
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	static const char cmd[] = "t1 X atom \"q\" {2+}\r\nli NIL (a b) ~{1+}\r\n\0\r\n";
	buf_append(&in, cmd, sizeof(cmd) - 1);
	assert_int_equal(imap_parser_scan(p, &in, &out), IMAP_SCAN_COMMAND);
	const char *tag, *name, *err, *s;
	const struct imap_arg *a, *list;
	size_t n;
	assert_int_equal(imap_parser_parse(p, &tag, &name, &a, &err), 0);
	assert_int_equal(imap_args_count(a), 6);
	assert_true(imap_arg_get_atom(&a[0], &s));
	assert_true(imap_arg_atom_equals(&a[0], "ATOM"));
	assert_false(imap_arg_get_string(&a[0], &s));
	assert_true(imap_arg_get_astring(&a[0], &s));
	assert_true(imap_arg_get_string(&a[1], &s));
	assert_string_equal(s, "q");
	assert_true(imap_arg_get_astring(&a[2], &s));
	assert_string_equal(s, "li");
	assert_true(imap_arg_get_nstring(&a[3], &s));
	assert_null(s);
	assert_true(imap_arg_get_astring(&a[3], &s));
	assert_string_equal(s, "NIL");
	assert_false(imap_arg_get_atom(&a[3], &s));
	assert_true(imap_arg_get_list(&a[4], &list, &n));
	assert_int_equal(n, 2);
	assert_true(imap_arg_is_eol(&list[2]));
	/* A binary literal holding NUL is no string. */
	assert_false(imap_arg_get_astring(&a[5], &s));
	assert_true(a[5].literal8);
	assert_true(imap_arg_is_eol(&a[6]));
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&out);
}

static void test_parser_read_line(void **state)
{
	struct imap_parser *p = imap_parser_create(&test_limits);
	struct buf in;
	buf_init(&in);
	const char *line;
	size_t len;
	buf_append_str(&in, "dGVz");
	assert_int_equal(imap_parser_read_line(p, &in, &line, &len), 0);
	buf_append_str(&in, "dA==\r\nnext");
	assert_int_equal(imap_parser_read_line(p, &in, &line, &len), 1);
	assert_string_equal(line, "dGVzdA==");
	assert_int_equal(len, 8);
	assert_string_equal(buf_cstr(&in), "next");
	buf_append_str(&in, "\n");
	assert_int_equal(imap_parser_read_line(p, &in, &line, &len), -1);
	for (int i = 0; i < 2000; i++)
		buf_append(&in, "x", 1);
	assert_int_equal(imap_parser_read_line(p, &in, &line, &len), 0);
	assert_int_equal(in.len, 0);
	buf_append_str(&in, "\r\nok\r\n");
	assert_int_equal(imap_parser_read_line(p, &in, &line, &len), -1);
	assert_int_equal(imap_parser_read_line(p, &in, &line, &len), 1);
	assert_string_equal(line, "ok");
	imap_parser_destroy(&p);
	buf_deinit(&in);
}

/* --- sequence sets --------------------------------------------------------------- */

static void test_seqset(void **state)
{
	struct imap_seqset set;
	const char *err;
	assert_int_equal(imap_seqset_parse("1,3:5,7:*", 10, &set, &err), 0);
	assert_int_equal(set.count, 3);
	assert_true(imap_seqset_contains(&set, 1));
	assert_false(imap_seqset_contains(&set, 2));
	assert_true(imap_seqset_contains(&set, 4));
	assert_true(imap_seqset_contains(&set, 10));
	assert_false(imap_seqset_contains(&set, 11));
	assert_int_equal(imap_seqset_size(&set), 8);
	imap_seqset_free(&set);

	/* Reversed and overlapping ranges are normalised and merged. */
	assert_int_equal(imap_seqset_parse("5:3,4,9,8,2", 0, &set, &err), 0);
	assert_int_equal(set.count, 2);
	assert_int_equal(set.ranges[0].lo, 2);
	assert_int_equal(set.ranges[0].hi, 5);
	assert_int_equal(set.ranges[1].lo, 8);
	assert_int_equal(set.ranges[1].hi, 9);
	uint64_t pos = 0;
	uint32_t v, seen[8];
	size_t n = 0;
	while (imap_seqset_next(&set, &pos, &v) && n < 8)
		seen[n++] = v;
	assert_int_equal(n, 6);
	assert_int_equal(seen[0], 2);
	assert_int_equal(seen[5], 9);
	imap_seqset_free(&set);

	/* "*" against an empty mailbox matches nothing that exists. */
	assert_int_equal(imap_seqset_parse("1:*", 0, &set, &err), 0);
	assert_false(imap_seqset_contains(&set, 2));
	imap_seqset_free(&set);

	/* Highest value iterates without wrapping. */
	assert_int_equal(imap_seqset_parse("4294967294:4294967295", 0, &set, &err), 0);
	pos = 0;
	n = 0;
	while (imap_seqset_next(&set, &pos, &v))
		n++;
	assert_int_equal(n, 2);
	imap_seqset_free(&set);

	assert_int_equal(imap_seqset_parse("$", 5, &set, &err), 0);
	assert_true(set.saved);
	imap_seqset_free(&set);

	const char *bad[] = {"",  "0",     "4294967296", "99999999999", "1:0", "1,",  ",1", "1::2",
			     "a", "1:2:3", "1,$",        "-1",          "01",  "1 2", "*:", "$$"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_seqset_parse(bad[i], 10, &set, &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(set.ranges);
	}

	/* Too many ranges. */
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < IMAP_SEQSET_MAX_RANGES + 1; i++)
		buf_printf(&b, "%s%d", i ? "," : "", 2 * i + 1);
	assert_int_equal(imap_seqset_parse(buf_cstr(&b), 10, &set, &err), -1);
	buf_deinit(&b);

	uint32_t uids[] = {1, 2, 3, 5, 7, 8, 8, 4294967295u};
	buf_init(&b);
	imap_seqset_write(&b, uids, 8);
	assert_string_equal(buf_cstr(&b), "1:3,5,7:8,4294967295");
	buf_deinit(&b);
}

/* --- modified UTF-7 -------------------------------------------------------------- */

static void utf7_pair(const char *utf8, const char *utf7)
{
	struct buf b;
	buf_init(&b);
	assert_int_equal(imap_utf8_to_utf7(utf8, &b), 0);
	assert_string_equal(buf_cstr(&b), utf7);
	buf_clear(&b);
	assert_int_equal(imap_utf7_to_utf8(utf7, &b), 0);
	assert_string_equal(buf_cstr(&b), utf8);
	buf_deinit(&b);
}

static void test_utf7(void **state)
{
	utf7_pair("Entwürfe", "Entw&APw-rfe");
	utf7_pair("台北", "&U,BTFw-");
	utf7_pair("&", "&-");
	utf7_pair("a&b&&", "a&-b&-&-");
	utf7_pair("INBOX/Sent", "INBOX/Sent");
	utf7_pair("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	utf7_pair("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail"); /* U+1F4E7, a surrogate pair */
	utf7_pair("", "");

	const char *bad7[] = {
		"&",               /* unterminated */
		"&U,BTFw",         /* no '-' */
		"&AGE-",           /* 'a' encoded: not the shortest form */
		"&ACY-",           /* '&' encoded instead of "&-" */
		"&APw-&APw-",      /* two adjacent runs */
		"&APx-",           /* non-zero padding bits */
		"&APwA-",          /* 6 padding bits: not the shortest form */
		"&2D0-",           /* lone high surrogate */
		"&3KcA-",          /* lone low surrogate */
		"&AAA-",           /* U+0000 */
		"&A/w-",           /* '/' is not modified base64 */
		"Entw\xc3\xbcrfe", /* raw 8-bit */
		"tab\there",       /* control character */
		"&-&=-",
	};
	for (size_t i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++) {
		struct buf b;
		buf_init(&b);
		buf_append_str(&b, "keep");
		if (imap_utf7_to_utf8(bad7[i], &b) != -1)
			fail_msg("accepted \"%s\"", bad7[i]);
		assert_string_equal(buf_cstr(&b), "keep");
		buf_deinit(&b);
	}
	const char *bad8[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		struct buf b;
		buf_init(&b);
		assert_int_equal(imap_utf8_to_utf7(bad8[i], &b), -1);
		assert_int_equal(b.len, 0);
		buf_deinit(&b);
	}
}

/* --- sessions ---------------------------------------------------------------------- */

static char store_dir[] = "/tmp/facteur-imap-test-XXXXXX";
static struct store *store;
static struct config cfg;
static int64_t alice_id;

static int group_setup(void **state)
{
	const char *err;
	char hash[AUTH_HASH_MAX];
	log_set_level(LOG_ERROR);
	config_defaults(&cfg);
	auth_ratelimit_configure(1000, 60);
	if (mkdtemp(store_dir) == NULL || store_open(store_dir, &store, &err) < 0 ||
	    store_domain_add(store, "example.org", &err) < 0 ||
	    auth_password_hash("s3cret pw", hash, sizeof(hash)) < 0 ||
	    store_account_add(store, "alice@example.org", hash, &alice_id, &err) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	store_close(&store);
	config_deinit(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct tsess {
	struct imap_session *s;
	struct buf in, out;
};

/* A fake password check: no argon2 per test, same result mapping. */
static enum auth_result fake_login(void *ctx, struct store *st, const char *ip, const char *user,
				   const char *password, struct store_account *account_r)
{
	if (strcmp(user, "tempfail@example.org") == 0)
		return AUTH_ERROR;
	if (strcmp(user, "alice@example.org") != 0 || strcmp(password, "s3cret pw") != 0)
		return AUTH_FAILED;
	return store_account_get(st, user, account_r) == 1 ? AUTH_OK : AUTH_ERROR;
}

static void ts_open(struct tsess *t, bool loopback, bool tls_available, bool real_auth)
{
	struct imap_settings set = {
		.config = &cfg,
		.store = store,
		.session_id = "test",
		.peer_ip = loopback ? "127.0.0.1" : "192.0.2.1",
		.peer_loopback = loopback,
		.tls_available = tls_available,
		.login = real_auth ? NULL : fake_login,
	};
	buf_init(&t->in);
	buf_init(&t->out);
	t->s = imap_session_create(&set, &t->out);
}

static void ts_close(struct tsess *t)
{
	imap_session_destroy(&t->s);
	assert_null(t->s);
	buf_deinit(&t->in);
	buf_deinit(&t->out);
}

/* Feed data; clear the output first; drive MORE to completion. */
static enum conn_result ts_feed(struct tsess *t, const char *data)
{
	buf_clear(&t->out);
	buf_append_str(&t->in, data);
	enum conn_result r = imap_session_input(t->s, &t->in, &t->out);
	while (r == CONN_MORE)
		r = imap_session_resume(t->s, &t->out);
	return r;
}

static const char *ts_out(struct tsess *t)
{
	return buf_cstr(&t->out);
}

#define assert_out_has(t, str)                                                                     \
	do {                                                                                       \
		if (strstr(ts_out(t), (str)) == NULL)                                              \
			fail_msg("output lacks \"%s\":\n%s", (str), ts_out(t));                    \
	} while (0)

static void test_session_greeting_capability(void **state)
{
	struct tsess t;
	ts_open(&t, true, true, false);
	assert_true(strncmp(ts_out(&t), "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ", 37) == 0);
	assert_out_has(&t, " STARTTLS AUTH=PLAIN AUTH=SCRAM-SHA-256] facteur IMAP4rev2 ready\r\n");
	assert_int_equal(imap_session_idle_timeout(t.s), IMAP_TIMEOUT_PREAUTH);
	assert_int_equal(ts_feed(&t, "c1 CAPABILITY\r\n"), CONN_OK);
	assert_out_has(&t, "* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE");
	assert_out_has(&t, "\r\nc1 OK CAPABILITY completed\r\n");
	assert_int_equal(ts_feed(&t, "c2 capability extra\r\n"), CONN_OK);
	assert_string_equal(ts_out(&t), "c2 BAD CAPABILITY takes no arguments\r\n");
	assert_int_equal(ts_feed(&t, "c3 NOOP\r\nc4 ID NIL\r\n"), CONN_OK);
	assert_string_equal(ts_out(&t),
			    "c3 OK NOOP completed\r\n* ID (\"name\" \"facteur\")\r\n"
			    "c4 OK ID completed\r\n");
	ts_feed(&t, "c5 ID (\"name\" \"imaplib\" \"version\" NIL)\r\n");
	assert_out_has(&t, "c5 OK");
	ts_feed(&t, "c6 ID (\"name\")\r\n");
	assert_out_has(&t, "c6 BAD");
	ts_feed(&t, "c7 ID\r\n");
	assert_out_has(&t, "c7 BAD");
	assert_int_equal(ts_feed(&t, "c8 LOGOUT\r\n"), CONN_CLOSE);
	assert_string_equal(ts_out(&t),
			    "* BYE facteur IMAP server logging out\r\n"
			    "c8 OK LOGOUT completed\r\n");
	/* Nothing is read after LOGOUT. */
	assert_int_equal(ts_feed(&t, "c9 NOOP\r\n"), CONN_CLOSE);
	assert_string_equal(ts_out(&t), "");
	ts_close(&t);
}

static void test_session_login(void **state)
{
	struct tsess t;
	ts_open(&t, true, false, true);
	assert_true(strstr(ts_out(&t), "STARTTLS") == NULL);
	ts_feed(&t, "a1 LOGIN alice@example.org \"wrong\"\r\n");
	assert_string_equal(ts_out(&t), "a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
	ts_feed(&t, "a2 LOGIN nobody@example.org x\r\n");
	assert_string_equal(ts_out(&t), "a2 NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
	ts_feed(&t, "a3 LOGIN alice@example.org\r\n");
	assert_out_has(&t, "a3 BAD");
	ts_feed(&t, "a4 ENABLE CONDSTORE\r\n");
	assert_string_equal(ts_out(&t), "a4 BAD ENABLE not allowed in not authenticated state\r\n");
	ts_feed(&t, "a5 LOGIN {17}\r\n");
	assert_string_equal(ts_out(&t), "+ Ready for literal\r\n");
	ts_feed(&t, "alice@example.org \"s3cret pw\"\r\n");
	assert_out_has(&t, "a5 OK [CAPABILITY IMAP4rev1 ");
	assert_out_has(&t, "] Logged in\r\n");
	assert_true(strstr(ts_out(&t), "AUTH=PLAIN") == NULL);
	assert_int_equal(t.s->state, IMAP_STATE_AUTHENTICATED);
	assert_int_equal(t.s->account.id, alice_id);
	assert_string_equal(t.s->account.password_hash, "");
	assert_int_equal(imap_session_idle_timeout(t.s), IMAP_TIMEOUT_AUTH);
	ts_feed(&t, "a6 LOGIN alice@example.org x\r\n");
	assert_string_equal(ts_out(&t), "a6 BAD LOGIN not allowed in authenticated state\r\n");
	ts_feed(&t, "a7 STARTTLS\r\n");
	assert_out_has(&t, "a7 BAD");
	ts_feed(&t, "a8 ENABLE CONDSTORE X-UNKNOWN QRESYNC condstore\r\n");
	assert_string_equal(ts_out(&t),
			    "* ENABLED CONDSTORE QRESYNC\r\na8 OK ENABLE completed\r\n");
	assert_true(t.s->condstore && t.s->qresync);
	ts_feed(&t, "a9 ENABLE\r\n");
	assert_out_has(&t, "a9 BAD");
	ts_close(&t);
}

static void test_session_plaintext_refused(void **state)
{
	struct tsess t;
	ts_open(&t, false, true, false);
	assert_out_has(&t, " STARTTLS LOGINDISABLED]");
	ts_feed(&t, "a LOGIN alice@example.org \"s3cret pw\"\r\n");
	assert_string_equal(ts_out(&t),
			    "a NO [PRIVACYREQUIRED] Authentication needs TLS: use STARTTLS\r\n");
	ts_feed(&t, "b AUTHENTICATE PLAIN\r\n");
	assert_out_has(&t, "b NO [PRIVACYREQUIRED]");
	assert_int_equal(t.s->state, IMAP_STATE_NOT_AUTHENTICATED);
	/* After TLS, the same login works and STARTTLS is no longer offered. */
	imap_session_tls_started(t.s, &t.out);
	ts_feed(&t, "c CAPABILITY\r\n");
	assert_out_has(&t, " AUTH=PLAIN AUTH=SCRAM-SHA-256\r\n");
	assert_true(strstr(ts_out(&t), "STARTTLS") == NULL);
	ts_feed(&t, "d STARTTLS\r\n");
	assert_string_equal(ts_out(&t), "d BAD TLS is already active\r\n");
	ts_feed(&t, "e LOGIN alice@example.org \"s3cret pw\"\r\n");
	assert_out_has(&t, "e OK [CAPABILITY");
	ts_close(&t);
}

static void test_session_authenticate(void **state)
{
	struct tsess t;
	/* "\0alice@example.org\0s3cret pw" */
	const char *good = "AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwdw==";
	char line[256];
	ts_open(&t, true, false, true);
	snprintf(line, sizeof(line), "a AUTHENTICATE PLAIN %s\r\n", good);
	ts_feed(&t, line);
	assert_out_has(&t, "a OK [CAPABILITY");
	assert_int_equal(t.s->state, IMAP_STATE_AUTHENTICATED);
	ts_close(&t);

	ts_open(&t, true, false, false);
	ts_feed(&t, "b authenticate plain\r\n");
	assert_string_equal(ts_out(&t), "+ \r\n");
	/* The answer may arrive in pieces. */
	ts_feed(&t, "AGFsaWNl");
	assert_string_equal(ts_out(&t), "");
	snprintf(line, sizeof(line), "%s\r\nc NOOP\r\n", good + 8);
	ts_feed(&t, line);
	assert_out_has(&t, "b OK [CAPABILITY");
	assert_out_has(&t, "] Logged in\r\nc OK NOOP completed\r\n");
	ts_close(&t);

	ts_open(&t, true, false, false);
	ts_feed(&t, "c AUTHENTICATE PLAIN\r\n*\r\n");
	assert_string_equal(ts_out(&t), "+ \r\nc BAD Authentication cancelled\r\n");
	ts_feed(&t, "d AUTHENTICATE PLAIN\r\n!!!\r\n");
	assert_string_equal(ts_out(&t), "+ \r\nd BAD Invalid base64 in PLAIN response\r\n");
	ts_feed(&t, "e AUTHENTICATE PLAIN =\r\n");
	assert_out_has(&t, "e NO [AUTHENTICATIONFAILED]");
	/* "\0alice@example.org\0bad" */
	ts_feed(&t, "f AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGJhZA==\r\n");
	assert_string_equal(ts_out(&t), "f NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
	/* "\0tempfail@example.org\0x" */
	ts_feed(&t, "g AUTHENTICATE PLAIN AHRlbXBmYWlsQGV4YW1wbGUub3JnAHg=\r\n");
	assert_string_equal(ts_out(&t),
			    "g NO [UNAVAILABLE] Authentication unavailable, try later\r\n");
	ts_feed(&t, "h AUTHENTICATE CRAM-MD5\r\n");
	assert_out_has(&t, "h NO");
	ts_feed(&t, "i AUTHENTICATE PLAIN a b\r\n");
	assert_out_has(&t, "i BAD");
	/* A NUL in the continuation line is refused. */
	buf_clear(&t.out);
	ts_feed(&t, "j AUTHENTICATE PLAIN\r\n");
	buf_append(&t.in, "a\0b\r\n", 5);
	imap_session_input(t.s, &t.in, &t.out);
	assert_string_equal(ts_out(&t), "+ \r\nj BAD Invalid continuation line\r\n");
	ts_close(&t);
}

static void test_session_starttls_injection(void **state)
{
	struct tsess t;
	ts_open(&t, false, true, false);
	assert_int_equal(ts_feed(&t, "a STARTTLS\r\nb NOOP\r\n"), CONN_STARTTLS);
	assert_string_equal(ts_out(&t), "a OK Begin TLS negotiation now\r\n");
	/* b NOOP was not processed: it is left for the connection to drop. */
	assert_string_equal(buf_cstr(&t.in), "b NOOP\r\n");
	buf_clear(&t.in);
	imap_session_tls_started(t.s, &t.out);
	assert_true(t.s->tls);
	ts_close(&t);

	/* Without a certificate STARTTLS is refused, and nothing is skipped. */
	ts_open(&t, false, false, false);
	assert_int_equal(ts_feed(&t, "a STARTTLS\r\nb NOOP\r\n"), CONN_OK);
	assert_string_equal(ts_out(&t), "a NO TLS is not available\r\nb OK NOOP completed\r\n");
	ts_close(&t);
}

static void test_session_wrong_state_and_limits(void **state)
{
	struct tsess t;
	ts_open(&t, true, false, false);
	ts_feed(&t, "a FROBNICATE\r\n");
	assert_string_equal(ts_out(&t), "a BAD Unknown command\r\n");
	ts_feed(&t, "b UID NOOP\r\n");
	assert_string_equal(ts_out(&t), "b BAD Unknown command\r\n");
	ts_feed(&t, "c UID\r\n");
	assert_string_equal(ts_out(&t), "c BAD Missing UID command\r\n");
	ts_feed(&t, "d LOGIN {9000}\r\n");
	assert_string_equal(ts_out(&t), "d NO [TOOBIG] Literal too big\r\n");
	/* Pre-auth line cap: 8 KiB. */
	struct buf big;
	buf_init(&big);
	buf_append_str(&big, "e LOGIN ");
	for (int i = 0; i < 9000; i++)
		buf_append(&big, "u", 1);
	buf_append_str(&big, " p\r\n");
	ts_feed(&t, buf_cstr(&big));
	assert_string_equal(ts_out(&t), "e BAD Line too long\r\n");
	buf_deinit(&big);
	/* NO [TOOBIG] is no BAD. */
	assert_int_equal(t.s->bad_count, 4);
	/* The tenth BAD closes the session. */
	enum conn_result r = ts_feed(&t, "1 X\r\n2 X\r\n3 X\r\n4 X\r\n5 X\r\n6 X\r\n7 X\r\n");
	assert_int_equal(r, CONN_CLOSE);
	assert_out_has(&t, "6 BAD Unknown command\r\n* BYE Too many invalid commands\r\n");
	assert_true(strstr(ts_out(&t), "7 BAD") == NULL);
	ts_close(&t);

	/* Idle timeout: a goodbye, then nothing more. */
	ts_open(&t, true, false, false);
	buf_clear(&t.out);
	imap_session_timeout(t.s, &t.out);
	assert_string_equal(ts_out(&t), "* BYE Autologout; idle for too long\r\n");
	assert_int_equal(ts_feed(&t, "a NOOP\r\n"), CONN_CLOSE);
	ts_close(&t);
}

/* The same conversation fed at once and one byte at a time. */
static void test_session_bytewise(void **state)
{
	static const char conv[] =
		"a CAPABILITY\r\nb LOGIN {17+}\r\nalice@example.org {9}\r\ns3cret pw\r\n"
		"c ENABLE UTF8=ACCEPT\r\nd NOOP\r\ne BOGUS (\r\nf ID NIL\r\ng LOGOUT\r\n";
	struct tsess whole, bytes;
	ts_open(&whole, true, false, false);
	ts_open(&bytes, true, false, false);
	buf_clear(&whole.out);
	buf_clear(&bytes.out);
	buf_append_str(&whole.in, conv);
	assert_int_equal(imap_session_input(whole.s, &whole.in, &whole.out), CONN_CLOSE);
	enum conn_result r = CONN_OK;
	for (size_t i = 0; i < sizeof(conv) - 1; i++) {
		buf_append(&bytes.in, &conv[i], 1);
		r = imap_session_input(bytes.s, &bytes.in, &bytes.out);
		if (r != CONN_OK)
			break;
	}
	assert_int_equal(r, CONN_CLOSE);
	/* Byte by byte, the {9} literal was not there yet: one "+" more. */
	const char *plus = strstr(buf_cstr(&bytes.out), "+ Ready for literal\r\n");
	assert_non_null(plus);
	size_t off = (size_t)(plus - bytes.out.data);
	memmove(bytes.out.data + off, plus + 21, bytes.out.len - off - 21);
	bytes.out.len -= 21;
	assert_string_equal(buf_cstr(&bytes.out), buf_cstr(&whole.out));
	assert_non_null(strstr(buf_cstr(&whole.out), "* ENABLED UTF8=ACCEPT\r\n"));
	ts_close(&whole);
	ts_close(&bytes);
}

/* The selected view: updates appear after NOOP, held-back expunges. */
static void test_session_view_updates(void **state)
{
	const char *err;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct store_mailbox mb;
	uint32_t uid1, uid2, uid3, uid4;
	struct store_parsed parsed = {0};
	assert_int_equal(store_deliver(store, msg, sizeof(msg) - 1, &parsed, &alice_id, 1,
				       "Archive", 1000, 0, &uid1, &err),
			 0);
	assert_int_equal(store_deliver(store, msg, sizeof(msg) - 1, &parsed, &alice_id, 1,
				       "Archive", 1000, 0, &uid2, &err),
			 0);
	assert_int_equal(store_deliver(store, msg, sizeof(msg) - 1, &parsed, &alice_id, 1,
				       "Archive", 1000, 0, &uid3, &err),
			 0);

	struct tsess t;
	ts_open(&t, true, false, false);
	ts_feed(&t, "a LOGIN alice@example.org \"s3cret pw\"\r\n");
	assert_int_equal(store_mailbox_get(store, alice_id, "Archive", &mb), 1);
	struct imap_view *view;
	assert_int_equal(imap_view_load(store, &mb, false, &view), 0);
	assert_int_equal(view->count, 3);
	assert_int_equal(imap_view_seq(view, uid2), 2);
	assert_int_equal(imap_view_seq(view, 999), 0);
	t.s->view = view;
	imap_session_set_state(t.s, IMAP_STATE_SELECTED);

	ts_feed(&t, "b NOOP\r\n");
	assert_string_equal(ts_out(&t), "b OK NOOP completed\r\n");

	/* Another session: flag change, expunge of the first, a new message. */
	assert_int_equal(store_message_set_flags(store, mb.id, uid3, STORE_FLAG_SEEN, &err), 0);
	assert_int_equal(store_message_expunge(store, mb.id, &uid1, 1, &err), 0);
	assert_int_equal(store_deliver(store, msg, sizeof(msg) - 1, &parsed, &alice_id, 1,
				       "Archive", 1000, 0, &uid4, &err),
			 0);

	/* During a FETCH by sequence number the expunge must wait. */
	buf_clear(&t.out);
	assert_int_equal(imap_view_sync(t.s, &t.out, false), 0);
	/* The new message is \Recent here: no session was shown it before. */
	assert_string_equal(ts_out(&t),
			    "* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n* 4 EXISTS\r\n* 1 RECENT\r\n");
	assert_int_equal(view->n_pending_expunges, 1);

	ts_feed(&t, "c NOOP\r\n");
	assert_string_equal(ts_out(&t), "* 1 EXPUNGE\r\nc OK NOOP completed\r\n");
	assert_int_equal(view->count, 3);
	assert_int_equal(view->uids[0], uid2);

	/* QRESYNC: VANISHED, and MODSEQ in FETCH. */
	t.s->qresync = t.s->condstore = true;
	uint32_t both[] = {uid2, uid3};
	assert_int_equal(store_message_set_flags(store, mb.id, uid4, STORE_FLAG_FLAGGED, &err), 0);
	assert_int_equal(store_message_expunge(store, mb.id, both, 2, &err), 0);
	ts_feed(&t, "d NOOP\r\n");
	assert_true(strncmp(ts_out(&t), "* VANISHED 2:3\r\n* 1 FETCH (UID 4 MODSEQ (", 41) == 0);
	assert_out_has(&t, ") FLAGS (\\Flagged \\Recent))\r\nd OK NOOP completed\r\n");

	ts_feed(&t, "e LOGOUT\r\n");
	assert_null(t.s->view);
	ts_close(&t);
}

static void test_mailbox_names(void **state)
{
	struct tsess t;
	char *name;
	const char *err;
	ts_open(&t, true, false, false);
	assert_int_equal(imap_mailbox_name_from_client(t.s, "Entw&APw-rfe", &name, &err), 0);
	assert_string_equal(name, "Entwürfe");
	free(name);
	assert_int_equal(imap_mailbox_name_from_client(t.s, "inbox", &name, &err), 0);
	assert_string_equal(name, "INBOX");
	free(name);
	assert_int_equal(imap_mailbox_name_from_client(t.s, "InBoX/sub", &name, &err), 0);
	assert_string_equal(name, "INBOX/sub");
	free(name);
	assert_int_equal(imap_mailbox_name_from_client(t.s, "INBOXES", &name, &err), 0);
	assert_string_equal(name, "INBOXES");
	free(name);
	const char *bad[] = {"",      "a//b", "/a", "a/",           "../x",
			     "a/./b", "a*",   "x%", "Entw\xc3\xbc", "&AGE-"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_mailbox_name_from_client(t.s, bad[i], &name, &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	struct buf b;
	buf_init(&b);
	imap_write_mailbox_name(t.s, &b, "Entwürfe");
	assert_string_equal(buf_cstr(&b), "Entw&APw-rfe");
	buf_clear(&b);
	imap_write_mailbox_name(t.s, &b, "My Mail");
	assert_string_equal(buf_cstr(&b), "\"My Mail\"");
	t.s->utf8_accept = true;
	buf_clear(&b);
	imap_write_mailbox_name(t.s, &b, "Entwürfe");
	assert_string_equal(buf_cstr(&b), "\"Entwürfe\"");
	assert_int_equal(imap_mailbox_name_from_client(t.s, "Entwürfe", &name, &err), 0);
	free(name);
	assert_int_equal(imap_mailbox_name_from_client(t.s, "Entw\xc3", &name, &err), -1);
	buf_deinit(&b);
	ts_close(&t);
}

static void test_write_strings(void **state)
{
	struct buf b;
	buf_init(&b);
	imap_write_astring(&b, "atom", 4, false);
	buf_append(&b, " ", 1);
	imap_write_astring(&b, "nil", 3, false);
	buf_append(&b, " ", 1);
	imap_write_astring(&b, "a \"q\" \\", 7, false);
	buf_append(&b, " ", 1);
	imap_write_string(&b, "l1\r\nl2", 6, false);
	buf_append(&b, " ", 1);
	imap_write_nstring(&b, NULL, 0, false);
	buf_append(&b, " ", 1);
	imap_write_string(&b, "é", 2, false);
	buf_append(&b, " ", 1);
	imap_write_string(&b, "é", 2, true);
	buf_append(&b, " ", 1);
	imap_write_astring(&b, "", 0, false);
	buf_append(&b, " ", 1);
	imap_write_flags(&b, STORE_FLAG_SEEN | STORE_FLAG_DELETED);
	assert_string_equal(buf_cstr(&b),
			    "atom \"nil\" \"a \\\"q\\\" \\\\\" {6}\r\nl1\r\nl2 NIL "
			    "{2}\r\né \"é\" \"\" (\\Deleted \\Seen)");
	buf_deinit(&b);
}

/* Stored IMAP syntax written out: runs copied whole, 8-bit strings as literals for rev1. */
static void syntax_case(const char *in, bool utf8, const char *want)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "pre ");
	imap_write_syntax(&b, in, utf8);
	assert_string_equal(buf_cstr(&b), want);
	buf_deinit(&b);
}

static void test_write_syntax(void **state)
{
	syntax_case("", false, "pre ");
	syntax_case("(NIL NIL (1 2))", false, "pre (NIL NIL (1 2))");
	syntax_case("(\"a \\\"b\\\" \\\\c\" NIL)", false, "pre (\"a \\\"b\\\" \\\\c\" NIL)");
	/* 8-bit: a literal of the unescaped value for rev1, as it is for UTF8=ACCEPT */
	syntax_case("(\"caf\xc3\xa9 \\\"x\\\"\" NIL)", false, "pre ({9}\r\ncaf\xc3\xa9 \"x\" NIL)");
	syntax_case("(\"caf\xc3\xa9\" NIL)", true, "pre (\"caf\xc3\xa9\" NIL)");
	/* a literal in the text is copied whole, quotes and braces inside included */
	syntax_case("({3}\r\n\"{\" \"b\")", false, "pre ({3}\r\n\"{\" \"b\")");
	/* a brace that starts no literal is text */
	syntax_case("({x} {12}\r\nab)", false, "pre ({x} {12}\r\nab)");
	/* an unterminated string is copied to the end */
	syntax_case("(\"abc", false, "pre (\"abc");
	syntax_case("(\"ab\xc3\xa9\\", false, "pre ({5}\r\nab\xc3\xa9\\");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_stream),
		cmocka_unit_test(test_parser_spooled_stream),
		cmocka_unit_test(test_parser_spool_failure),
		cmocka_unit_test(test_parser_literal_plus_once),
		cmocka_unit_test(test_parser_oversized),
		cmocka_unit_test(test_parser_line_too_long),
		cmocka_unit_test(test_parser_bad_syntax),
		cmocka_unit_test(test_parser_accessors),
		cmocka_unit_test(test_parser_read_line),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_utf7),
		cmocka_unit_test(test_write_strings),
		cmocka_unit_test(test_session_greeting_capability),
		cmocka_unit_test(test_session_login),
		cmocka_unit_test(test_session_plaintext_refused),
		cmocka_unit_test(test_session_authenticate),
		cmocka_unit_test(test_session_starttls_injection),
		cmocka_unit_test(test_session_wrong_state_and_limits),
		cmocka_unit_test(test_session_bytewise),
		cmocka_unit_test(test_session_view_updates),
		cmocka_unit_test(test_mailbox_names),
		cmocka_unit_test(test_write_syntax),
	};
	return cmocka_run_group_tests_name("imap", tests, group_setup, group_teardown);
}
