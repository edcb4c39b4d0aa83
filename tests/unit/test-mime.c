/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/mime: ENVELOPE, BODYSTRUCTURE and BODY text checked
 * exactly on small hand-made messages (sizes and line counts included),
 * RFC 2047 decoding, escaping, defaults for missing headers, malformed and
 * hostile input (every output must still be valid IMAP syntax), and the
 * SMTP address check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "mime/mime.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------
 * A small checker of IMAP syntax: lists, NIL, numbers, quoted strings,
 * literals; enough to prove an output can be read back.
 */
static bool imap_value(const char **p, const char *end, int depth);

static bool imap_list(const char **p, const char *end, int depth)
{
	if (depth > 200 || *p >= end || **p != '(')
		return false;
	(*p)++;
	bool first = true;
	while (*p < end && **p != ')') {
		/* items are separated by one space, except lists after lists */
		if (!first && **p == ' ')
			(*p)++;
		if (!imap_value(p, end, depth + 1))
			return false;
		first = false;
	}
	if (*p >= end)
		return false;
	(*p)++;
	return true;
}

static bool imap_quoted(const char **p, const char *end)
{
	for ((*p)++; *p < end && **p != '"'; (*p)++) {
		if (**p == '\r' || **p == '\n' || **p == '\0')
			return false;
		if (**p == '\\') {
			(*p)++;
			if (*p >= end || (**p != '"' && **p != '\\'))
				return false;
		}
	}
	if (*p >= end)
		return false;
	(*p)++;
	return true;
}

static bool imap_literal(const char **p, const char *end)
{
	char *num_end;
	unsigned long n = strtoul(*p + 1, &num_end, 10);
	if (num_end == *p + 1 || end - num_end < 3 || memcmp(num_end, "}\r\n", 3) != 0)
		return false;
	*p = num_end + 3;
	if ((unsigned long)(end - *p) < n || memchr(*p, '\0', n) != NULL)
		return false;
	*p += n;
	return true;
}

static bool imap_value(const char **p, const char *end, int depth)
{
	if (*p >= end)
		return false;
	if (**p == '(')
		return imap_list(p, end, depth);
	if (**p == '"')
		return imap_quoted(p, end);
	if (**p == '{')
		return imap_literal(p, end);
	if (end - *p >= 3 && memcmp(*p, "NIL", 3) == 0) {
		*p += 3;
		return true;
	}
	if (**p < '0' || **p > '9')
		return false;
	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	return true;
}

static void assert_imap_list(const char *s)
{
	const char *p = s, *end = s + strlen(s);
	if (!imap_list(&p, end, 0) || p != end)
		fail_msg("invalid IMAP syntax at offset %td: %s", p - s, s);
}

/* Parse and check the three structures are valid IMAP. */
static void parse(const char *msg, size_t len, struct mime_parsed *r)
{
	assert_int_equal(mime_parse(msg, len, r), 0);
	assert_non_null(r->envelope);
	assert_non_null(r->bodystructure);
	assert_non_null(r->body);
	assert_imap_list(r->envelope);
	assert_imap_list(r->bodystructure);
	assert_imap_list(r->body);
}

static void parse_str(const char *msg, struct mime_parsed *r)
{
	parse(msg, strlen(msg), r);
}

/* ------------------------------------------------------------------ */

static void test_simple(void **state)
{
	const char *msg = "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
			  "To: Mary Smith <mary@x.test>, jdoe@example.org\r\n"
			  "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <big@example.net>\r\n"
			  "Subject: Hello\r\n"
			  " folded\r\n"
			  "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
			  "Message-ID: <1234@local.machine.example>\r\n"
			  "In-Reply-To: <1233@local.machine.example>\r\n"
			  "\r\n"
			  "Hi.\r\n"
			  "\r\n"
			  "See you.\r\n";
	struct mime_parsed r;
	parse_str(msg, &r);
	assert_string_equal(
		r.envelope,
		"(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Hello folded\" "
		"((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
		"((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
		"((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
		"((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")) "
		"((NIL NIL \"boss\" \"nil.test\")"
		"(\"Giant; \\\"Big\\\" Box\" NIL \"big\" \"example.net\")) "
		"NIL \"<1233@local.machine.example>\" \"<1234@local.machine.example>\")");
	assert_string_equal(r.bodystructure,
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 17 3 "
			    "NIL NIL NIL NIL)");
	assert_string_equal(
		r.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 17 3)");
	assert_string_equal(r.subject, "Hello folded");
	assert_string_equal(r.from, "\"Joe Q. Public\" <john.q.public@example.com>");
	assert_string_equal(r.to, "Mary Smith <mary@x.test>, jdoe@example.org");
	assert_non_null(r.cc);
	assert_string_equal(r.message_id, "1234@local.machine.example");
	assert_int_equal(r.date, 1057049557);
	assert_int_equal(r.n_parts, 1);
	mime_parsed_free(&r);
}

static void test_sender_reply_to_groups(void **state)
{
	const char *msg =
		"From: a@b.test\r\n"
		"Sender: s@b.test\r\n"
		"Reply-To:\r\n"
		"To: A Group:Ed Jones <c@a.test>,joe@where.test;, undisclosed-recipients:;\r\n"
		"Bcc: joe@x.test (Joe Bloggs), <@r1.test,@r2.test:k@y.test>, bare\r\n"
		"\r\n";
	struct mime_parsed r;
	parse_str(msg, &r);
	assert_string_equal(r.envelope,
			    "(NIL NIL ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"s\" \"b.test\")) "
			    "((NIL NIL \"a\" \"b.test\")) "
			    "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
			    "(NIL NIL \"joe\" \"where.test\")(NIL NIL NIL NIL)"
			    "(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL "
			    "((\"Joe Bloggs\" NIL \"joe\" \"x.test\")"
			    "(NIL \"@r1.test,@r2.test\" \"k\" \"y.test\")"
			    "(NIL NIL \"bare\" \"MISSING_DOMAIN\")) NIL NIL)");
	assert_string_equal(r.bodystructure,
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 "
			    "NIL NIL NIL NIL)");
	mime_parsed_free(&r);
}

static const char multipart_msg[] = "From: a@b.c\r\n"
				    "Subject: multi\r\n"
				    "MIME-Version: 1.0\r\n"
				    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
				    "\r\n"
				    "preamble\r\n"
				    "--XX\r\n"
				    "Content-Type: text/plain; charset=utf-8\r\n"
				    "\r\n"
				    "hello\r\n"
				    "world\r\n"
				    "--XX\r\n"
				    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
				    "Content-Transfer-Encoding: base64\r\n"
				    "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
				    "Content-ID: <part2@b.c>\r\n"
				    "Content-Language: en, fr\r\n"
				    "\r\n"
				    "AAECAw==\r\n"
				    "--XX\r\n"
				    "Content-Type: message/rfc822\r\n"
				    "\r\n"
				    "From: x@y.z\r\n"
				    "Subject: inner\r\n"
				    "\r\n"
				    "inner body\r\n"
				    "--XX--\r\n"
				    "epilogue\r\n";

static void test_multipart(void **state)
{
	struct mime_parsed r;
	parse(multipart_msg, sizeof(multipart_msg) - 1, &r);
	const char *inner_env =
		"(NIL \"inner\" ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) "
		"((NIL NIL \"x\" \"y.z\")) NIL NIL NIL NIL NIL)";
	char expect[2048];
	snprintf(expect, sizeof(expect),
		 "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 12 2 "
		 "NIL NIL NIL NIL)"
		 "(\"application\" \"octet-stream\" (\"name\" \"a.bin\") \"<part2@b.c>\" NIL "
		 "\"base64\" 8 NIL (\"attachment\" (\"filename\" \"a.bin\")) "
		 "(\"en\" \"fr\") NIL)"
		 "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 41 %s "
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 10 1 "
		 "NIL NIL NIL NIL) 4 NIL NIL NIL NIL) "
		 "\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)",
		 inner_env);
	assert_string_equal(r.bodystructure, expect);
	snprintf(expect, sizeof(expect),
		 "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 12 2)"
		 "(\"application\" \"octet-stream\" (\"name\" \"a.bin\") \"<part2@b.c>\" NIL "
		 "\"base64\" 8)"
		 "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 41 %s "
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 10 1) 4) "
		 "\"mixed\")",
		 inner_env);
	assert_string_equal(r.body, expect);
	assert_int_equal(r.n_parts, 3);
	mime_parsed_free(&r);
}

/* A message/rfc822 holding a multipart, inside a multipart; LF-only lines. */
static void test_nested(void **state)
{
	const char *msg = "Content-Type: multipart/mixed; boundary=outer\n"
			  "\n"
			  "--outer\n"
			  "Content-Type: message/rfc822\n"
			  "\n"
			  "Subject: in\n"
			  "Content-Type: multipart/alternative; boundary=inner\n"
			  "\n"
			  "--inner\n"
			  "\n"
			  "plain\n"
			  "--inner\n"
			  "Content-Type: text/html\n"
			  "\n"
			  "<b>x</b>\n"
			  "--inner--\n"
			  "--outer--\n";
	struct mime_parsed r;
	parse_str(msg, &r);
	assert_string_equal(r.body,
			    "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 131 "
			    "(NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) "
			    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 5 1)"
			    "(\"text\" \"html\" NIL NIL NIL \"7BIT\" 8 1) \"alternative\") 11) "
			    "\"mixed\")");
	assert_int_equal(r.n_parts, 2);
	mime_parsed_free(&r);
}

static void test_digest_default(void **state)
{
	const char *msg = "Content-Type: multipart/digest; boundary=d\r\n"
			  "\r\n"
			  "--d\r\n"
			  "\r\n"
			  "Subject: one\r\n"
			  "\r\n"
			  "x\r\n"
			  "--d--\r\n";
	struct mime_parsed r;
	parse_str(msg, &r);
	assert_string_equal(
		r.body,
		"((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 17 "
		"(NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1 1) 3) "
		"\"digest\")");
	mime_parsed_free(&r);
}

static void test_encoded_words(void **state)
{
	const char *msg = "Subject: =?UTF-8?B?w6l0w6k=?= =?ISO-8859-1?Q?caf=E9?=\r\n"
			  "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\r\n"
			  "To: =?broken?= <x@y.test>\r\n"
			  "\r\n";
	struct mime_parsed r;
	parse_str(msg, &r);
	assert_string_equal(r.subject, "étécafé");
	assert_string_equal(r.from, "André <andre@example.com>");
	assert_non_null(r.to);
	/* the envelope keeps encoded-words for the client to decode */
	assert_non_null(strstr(r.envelope, "\"=?UTF-8?B?w6l0w6k=?= =?ISO-8859-1?Q?caf=E9?=\""));
	assert_non_null(strstr(r.envelope, "((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\""));
	mime_parsed_free(&r);
}

static void test_escaping_and_8bit(void **state)
{
	const char *msg = "Subject: say \"hi\" \\o/\r\n"
			  "To: \xc3\xa9l\xc3\xa8"
			  "ve <eleve@example.com>\r\n"
			  "Cc: caf\xe9"
			  " <c@example.com>\r\n"
			  "Content-Type: application/x; name*=us-ascii''a%0D%0Ab\r\n"
			  "\r\n";
	struct mime_parsed r;
	parse_str(msg, &r);
	assert_non_null(strstr(r.envelope, "\"say \\\"hi\\\" \\\\o/\""));
	/* UTF-8 is sent quoted as is; Latin-1 is converted to UTF-8 */
	assert_non_null(strstr(r.envelope,
			       "((\"\xc3\xa9l\xc3\xa8"
			       "ve\" NIL \"eleve\""));
	assert_non_null(strstr(r.envelope, "((\"caf\xc3\xa9\" NIL \"c\""));
	/* a CR LF inside a value forces a literal */
	assert_non_null(strstr(r.bodystructure, "(\"name\" {4}\r\na\r\nb)"));
	assert_string_equal(r.subject, "say \"hi\" \\o/");
	mime_parsed_free(&r);

	/* bytes GMime cannot convert never reach the client as invalid UTF-8 */
	parse_str("Content-Type: application/x; name*=x-nonsense''%FF%FEab\r\n\r\n", &r);
	assert_non_null(strstr(r.bodystructure, "(\"name\" \"??ab\")"));
	mime_parsed_free(&r);
}

static void test_missing_headers(void **state)
{
	struct mime_parsed r;
	const char *nil_env = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";
	parse_str("", &r);
	assert_string_equal(r.envelope, nil_env);
	assert_string_equal(r.bodystructure,
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 "
			    "NIL NIL NIL NIL)");
	assert_null(r.subject);
	assert_null(r.from);
	assert_null(r.message_id);
	assert_int_equal(r.date, 0);
	mime_parsed_free(&r);

	/* no header block at all: the whole message is the body */
	parse_str("just a body line\r\nand another", &r);
	assert_string_equal(r.envelope, nil_env);
	assert_string_equal(
		r.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 29 2)");
	mime_parsed_free(&r);

	parse_str("Date: not a date\r\n\r\nx", &r);
	assert_int_equal(r.date, 0);
	assert_non_null(strstr(r.envelope, "(\"not a date\" NIL"));
	mime_parsed_free(&r);
}

static void test_broken_multipart(void **state)
{
	struct mime_parsed r;
	/* no boundary parameter: one empty part keeps the syntax valid */
	parse_str("Content-Type: multipart/mixed\r\n\r\nbody\r\n", &r);
	assert_string_equal(r.body,
			    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) "
			    "\"mixed\")");
	mime_parsed_free(&r);

	/* boundary never appears */
	parse_str("Content-Type: multipart/mixed; boundary=zz\r\n\r\nbody\r\n", &r);
	assert_non_null(strstr(r.body, "\"mixed\")"));
	mime_parsed_free(&r);

	/* no close delimiter: the last part runs to the end */
	parse_str("Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nabc", &r);
	assert_string_equal(r.body,
			    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3 1) "
			    "\"mixed\")");
	mime_parsed_free(&r);

	/*
	 * A longer line starting with the boundary is a delimiter too (RFC
	 * 2046 5.1.1: the whole line need not match): two empty parts.
	 */
	parse_str("Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\n"
		  "--zzz\r\n--zz--\r\n",
		  &r);
	assert_string_equal(r.body,
			    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)"
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) "
			    "\"mixed\")");
	mime_parsed_free(&r);

	/* invalid Content-Type falls back to text/plain */
	parse_str("Content-Type: garbage\r\n\r\nx", &r);
	assert_string_equal(r.body,
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 1 1)");
	mime_parsed_free(&r);
}

/* Locate part path (depth numbers) of msg; fails the test when absent. */
static struct mime_part_loc locate(const char *msg, const unsigned *path, size_t depth)
{
	struct mime_part_loc loc;
	assert_int_equal(mime_part_locate(msg, strlen(msg), path, depth, &loc), 1);
	return loc;
}

/* Malformed mail as it is found in the wild, read as it was meant. */
static void test_malformed_real_world(void **state)
{
	struct mime_parsed r;
	/* An unindented folded line does not end the header. */
	static const char folded[] = "From: a@example.net\r\n"
				     "X-Long: first part\r\n"
				     "second part without indentation\r\n"
				     "Subject: still here\r\n"
				     "Content-Type: text/html; charset=utf-8\r\n"
				     "\r\n<p>body</p>\r\n";
	parse_str(folded, &r);
	assert_string_equal(r.subject, "still here");
	assert_non_null(strstr(r.envelope, "NIL \"still here\" (("));
	assert_string_equal(r.body,
			    "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 13 1)");
	mime_parsed_free(&r);
	/* BODY[HEADER] is the whole header with its blank line. */
	struct mime_part_loc loc = locate(folded, NULL, 0);
	assert_int_equal(loc.msg_body, strlen(folded) - strlen("<p>body</p>\r\n"));

	/* Delimiters with trailing text; a close delimiter with junk after it. */
	static const char delims[] = "Content-Type: multipart/mixed; boundary=\"bb\"\r\n\r\n"
				     "preamble\r\n"
				     "--bb this text is ignored\r\n"
				     "Content-Type: text/plain\r\n\r\none\r\n"
				     "--bb\t\r\n"
				     "Content-Type: text/plain\r\n\r\ntwo\r\n"
				     "--bb--junk\r\n"
				     "epilogue line 1\r\nepilogue line 2\r\n";
	parse_str(delims, &r);
	assert_string_equal(r.body,
			    "((\"text\" \"plain\" NIL NIL NIL \"7BIT\" 3 1)"
			    "(\"text\" \"plain\" NIL NIL NIL \"7BIT\" 3 1) \"mixed\")");
	mime_parsed_free(&r);
	/* The epilogue is not part of the last part, FETCH agrees. */
	loc = locate(delims, (const unsigned[]){2}, 1);
	assert_int_equal(loc.end - loc.body_start, 3);
	assert_memory_equal(delims + loc.body_start, "two", 3);
	/* Without trailing junk too. */
	parse_str("Content-Type: multipart/mixed; boundary=bb\r\n\r\n--bb\r\n\r\nlast\r\n"
		  "--bb--\r\nepilogue\r\n",
		  &r);
	assert_non_null(strstr(r.body, "\"7BIT\" 4 1) \"mixed\")"));
	mime_parsed_free(&r);

	/* A message/rfc822 part starting with an mbox "From " line. */
	static const char mbox[] = "From: outer@example.net\r\nSubject: outer\r\n"
				   "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				   "--b\r\nContent-Type: message/rfc822\r\n\r\n"
				   "From inner@example.org Sat Dec  5 14:00:00 2026\r\n"
				   "From: Inner <inner@example.org>\r\n"
				   "Subject: inner subject\r\n"
				   "Content-Type: multipart/alternative; boundary=c\r\n\r\n"
				   "--c\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
				   "--c\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n"
				   "--c--\r\n"
				   "--b--\r\n";
	parse_str(mbox, &r);
	assert_string_equal(r.subject, "outer");
	assert_non_null(strstr(r.bodystructure,
			       "NIL \"inner subject\" ((\"Inner\" NIL \"inner\" "
			       "\"example.org\"))"));
	assert_non_null(strstr(r.body,
			       "((\"text\" \"plain\" NIL NIL NIL \"7BIT\" 5 1)"
			       "(\"text\" \"html\" NIL NIL NIL \"7BIT\" 11 1) \"alternative\")"));
	assert_imap_list(r.bodystructure);
	mime_parsed_free(&r);
	loc = locate(mbox, (const unsigned[]){1, 2}, 2);
	assert_memory_equal(mbox + loc.body_start, "<b>html</b>", loc.end - loc.body_start);

	/* A body without any header is still a body. */
	parse_str("just a body line\r\nKey: value\r\n", &r);
	assert_non_null(strstr(r.body, "\"7BIT\" 30 2)"));
	mime_parsed_free(&r);
}

static void test_deep_nesting(void **state)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 200; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i,
			   i);
	buf_append_str(&b, "\r\nleaf\r\n");
	struct mime_parsed r;
	parse(b.data, b.len, &r);
	mime_parsed_free(&r);

	buf_clear(&b);
	for (int i = 0; i < 200; i++)
		buf_append_str(&b, "Content-Type: message/rfc822\r\n\r\n");
	parse(b.data, b.len, &r);
	mime_parsed_free(&r);
	buf_deinit(&b);
}

static void test_garbage(void **state)
{
	static const char *const inputs[] = {
		"\0\0\0\0",
		"From: <<<@@@>>>,,,;;;:::\r\n\r\n",
		"From: \"unterminated <a@b>\r\nTo: (unterminated comment\r\n\r\n",
		"To: ((((((((((nested)))))\r\nCc: [lit\r\n\r\n",
		"Subject: =?UTF-8?B?!!!?= =?x?q?=ZZ?=\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n----\r\n",
		"Content-Type: text/plain; charset=\"\r\n\r\n",
		"Content-Type: /\r\nContent-Disposition: ;;;\r\nContent-Language: ,,,\r\n\r\n",
		" leading continuation\r\n\r\n",
		"\xff\xfe\xfd: \xff\r\n\r\n\xff",
		"Subject: a\rb\r\nFrom: x\r@y\r\n\r\n",
		"Content-Type: message/rfc822\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\n--a--",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct mime_parsed r;
		size_t len = i == 0 ? 4 : strlen(inputs[i]);
		parse(inputs[i], len, &r);
		mime_parsed_free(&r);
	}

	/* NULs inside header values are dropped, not truncating */
	static const char nul_subject[] = "Subject: a\0b\r\n\r\n";
	struct mime_parsed r;
	parse(nul_subject, sizeof(nul_subject) - 1, &r);
	assert_non_null(strstr(r.envelope, "\"ab\""));
	mime_parsed_free(&r);

	/* pseudo-random bytes, biased toward MIME syntax */
	static const char alphabet[] = "-:;=\"<>@()\r\n \t\\abcXY/\x80\xc3\xa9\0";
	unsigned seed = 12345;
	char data[600];
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(round % 599) + 1;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			data[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		parse(data, len, &r);
		mime_parsed_free(&r);
	}
}

static void test_address_valid(void **state)
{
	static const struct {
		const char *addr;
		int utf8;
		int valid;
	} cases[] = {
		{"user@example.com", 0, 1},
		{"first.last+tag@sub.example.co.uk", 0, 1},
		{"!#$%&'*+-/=?^_`{|}~@example.com", 0, 1},
		{"\"john doe\"@example.com", 0, 1},
		{"\"a\\\"b\"@example.com", 0, 1},
		{"\"\"@example.com", 0, 1},
		{"user@[192.0.2.1]", 0, 1},
		{"user@[IPv6:2001:db8::1]", 0, 1},
		{"postmaster@localhost", 0, 1},
		{"u@a-b.c", 0, 1},
		{"\xc3\xa9l\xc3\xa8"
		 "ve@\xc3\xa9"
		 "cole.fr",
		 1, 1},
		{"\"\xc3\xa9\"@example.com", 1, 1},
		{"", 0, 0},
		{"user", 0, 0},
		{"@example.com", 0, 0},
		{"user@", 0, 0},
		{".user@example.com", 0, 0},
		{"user.@example.com", 0, 0},
		{"us..er@example.com", 0, 0},
		{"us er@example.com", 0, 0},
		{"user@exa mple.com", 0, 0},
		{"user@@example.com", 0, 0},
		{"a@b@example.com", 0, 0},
		{"user@-example.com", 0, 0},
		{"user@example-.com", 0, 0},
		{"user@example..com", 0, 0},
		{"user@example.com.", 0, 0},
		{"user@.example.com", 0, 0},
		{"user@exa_mple.com", 0, 0},
		{"user@[300.0.2.1]", 0, 0},
		{"user@[IPv6:zz::1]", 0, 0},
		{"user@[192.0.2.1", 0, 0},
		{"\"unterminated@example.com", 0, 0},
		{"\"a\"b@example.com", 0, 0},
		{"\"a\rb\"@example.com", 0, 0},
		{"<user@example.com>", 0, 0},
		{"user@example.com\r\n", 0, 0},
		{"\xc3\xa9l\xc3\xa8"
		 "ve@example.com",
		 0, 0},
		{"user@\xc3\xa9"
		 "cole.fr",
		 0, 0},
		{"\xc3@example.com", 1, 0},         /* truncated UTF-8 */
		{"\xc0\xafx@example.com", 1, 0},    /* overlong */
		{"\xed\xa0\x80@example.com", 1, 0}, /* surrogate */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = mime_address_valid(cases[i].addr, cases[i].utf8);
		if (got != cases[i].valid)
			fail_msg("case %zu \"%s\" utf8=%d: got %d", i, cases[i].addr, cases[i].utf8,
				 got);
	}
	assert_int_equal(mime_address_valid(NULL, 1), 0);

	/* length limits: 64 for the local part, 63 per label, 254 overall */
	char addr[400];
	memset(addr, 'a', 64);
	strcpy(addr + 64, "@example.com");
	assert_int_equal(mime_address_valid(addr, 0), 1);
	memset(addr, 'a', 65);
	strcpy(addr + 65, "@example.com");
	assert_int_equal(mime_address_valid(addr, 0), 0);
	strcpy(addr, "u@");
	memset(addr + 2, 'b', 63);
	strcpy(addr + 65, ".com");
	assert_int_equal(mime_address_valid(addr, 0), 1);
	memset(addr + 2, 'b', 64);
	strcpy(addr + 66, ".com");
	assert_int_equal(mime_address_valid(addr, 0), 0);
	strcpy(addr, "u@");
	for (int i = 0; i < 70; i++)
		strcat(addr, "abc.");
	strcat(addr, "com");
	assert_int_equal(mime_address_valid(addr, 0), 0);
}

static int setup(void **state)
{
	mime_init();
	return 0;
}

static int teardown(void **state)
{
	mime_deinit();
	return 0;
}

/* From:/Sender: addresses for the submission check (issue 9 item 11). */
static void test_author_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		int result;
		const char *addrs; /* space-separated, or NULL on -1 */
	} cases[] = {
		{"From: Alice <alice@a.test>\r\nTo: x@y.test\r\n\r\nFrom: bob@b.test\r\n", 1,
		 "alice@a.test"},
		{"From: alice@a.test,\r\n bob@b.test\r\nSender: carol@c.test\r\n\r\n", 1,
		 "alice@a.test bob@b.test carol@c.test"},
		{"From: team: alice@a.test, Bob <bob@b.test>;\r\n\r\n", 1,
		 "alice@a.test bob@b.test"},
		{"From: \"alice@a.test\" <bob@b.test>\r\n\r\n", 1, "bob@b.test"},
		{"Subject: none\r\n\r\nbody", 0, ""},
		{"Sender: carol@c.test\r\n\r\n", 0, "carol@c.test"},
		{"From: a@a.test\r\nFrom: b@b.test\r\n\r\n", -1, NULL},
		{"Sender: a@a.test\r\nsender: b@b.test\r\n\r\n", -1, NULL},
		{"From: not an address\r\n\r\n", -1, NULL},
		{"From: \r\n\r\n", -1, NULL},
		{"From: undisclosed-senders:;\r\n\r\n", -1, NULL},
		{"From: alice\r\n\r\n", -1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **addrs;
		size_t n;
		const char *error = NULL;
		int r = mime_author_addresses(cases[i].msg, strlen(cases[i].msg), &addrs, &n,
					      &error);
		if (r != cases[i].result)
			fail_msg("case %zu: %d, want %d", i, r, cases[i].result);
		if (r < 0) {
			assert_non_null(error);
			assert_null(addrs);
			continue;
		}
		char joined[256] = "";
		for (size_t k = 0; k < n; k++) {
			strcat(joined, k ? " " : "");
			strcat(joined, addrs[k]);
		}
		assert_string_equal(joined, cases[i].addrs);
		mime_addresses_free(&addrs, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_sender_reply_to_groups),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_digest_default),
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_escaping_and_8bit),
		cmocka_unit_test(test_missing_headers),
		cmocka_unit_test(test_broken_multipart),
		cmocka_unit_test(test_malformed_real_world),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_address_valid),
		cmocka_unit_test(test_author_addresses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
