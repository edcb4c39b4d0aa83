/* SPDX-License-Identifier: MIT */
/*
 * Sieve: the compiler (valid scripts in the style of the RFC 5228/5230
 * examples, invalid ones with their exact line:column errors, limits),
 * the interpreter (tests, match types, comparators, actions, implicit
 * keep, variables, flags, vacation rules, redirect loop protection,
 * runtime limits), script storage with its one-active rule, and a
 * delivery plan against a real store (fileinto fallback, :create, flags,
 * vacation memory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mime/mime.h"
#include "sieve/sieve.h"
#include "store/store.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char msg1[] = "Return-Path: <alice@example.com>\r\n"
			   "From: Alice <alice@example.com>\r\n"
			   "To: Bob <bob+lists@example.org>, carol@example.net\r\n"
			   "Cc: dave@example.org\r\n"
			   "Subject: [fac] Meeting =?UTF-8?Q?caf=C3=A9?= tomorrow\r\n"
			   "Date: Tue, 03 Mar 2026 14:05:06 +0100\r\n"
			   "Message-ID: <m1@example.com>\r\n"
			   "Received: from a\r\n"
			   "Received: from b\r\n"
			   "Received: from c\r\n"
			   "\r\n"
			   "Hello Bob,\r\nthe budget is attached.\r\n";

static const char msg_multi[] =
	"From: a@example.com\r\nTo: b@example.org\r\nSubject: parts\r\n"
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	"preamble\r\n--b1\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	"Un caf=E9 noir\r\n--b1\r\n"
	"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	"PGh0bWw+PGJvZHk+PHA+QSA8Yj5ib2xkPC9iPiBvZmZlcjwvcD48L2JvZHk+PC9odG1sPg==\r\n--b1\r\n"
	"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	"iVBORw0KGgp4eHh4\r\n--b1--\r\n";

static char *compile_error(const char *src)
{
	struct sieve_script *sc = NULL;
	const char *err = NULL;
	if (sieve_compile(src, strlen(src), &sc, &err) == 0) {
		sieve_script_free(&sc);
		return NULL;
	}
	return strdup(err);
}

static void assert_compiles(const char *src)
{
	char *e = compile_error(src);
	if (e != NULL)
		fail_msg("compile failed: %s\n%s", e, src);
}

static void assert_error(const char *src, const char *want)
{
	char *e = compile_error(src);
	if (e == NULL)
		fail_msg("compiled but should not: %s", src);
	if (strcmp(e, want) != 0)
		fail_msg("error \"%s\", want \"%s\"", e, want);
	free(e);
}

static struct sieve_message m_default(const char *data)
{
	return (struct sieve_message){
		.data = data,
		.len = strlen(data),
		.env_from = "alice@example.com",
		.env_to = "bob+lists@example.org",
		.user = "bob@example.org",
		.now = 1772543106, /* 2026-03-03T13:05:06Z */
	};
}

/* Run src on msg; returns the result (free it) or fails. */
static int run(const char *src, const struct sieve_message *m, struct sieve_result *r)
{
	struct sieve_script *sc = NULL;
	const char *err = NULL;
	if (sieve_compile(src, strlen(src), &sc, &err) < 0)
		fail_msg("compile: %s", err);
	int ret = sieve_execute(sc, m, r, &err);
	sieve_script_free(&sc);
	return ret;
}

/* The actions of src on msg1 as one line: "keep fileinto:X redirect:Y ...". */
static char *actions(const char *src)
{
	struct sieve_message m = m_default(msg1);
	struct sieve_result r;
	if (run(src, &m, &r) < 0) {
		sieve_result_free(&r);
		return strdup("ERROR");
	}
	char out[1024] = "";
	for (size_t i = 0; i < r.n_actions; i++) {
		const struct sieve_action *a = &r.actions[i];
		char one[300];
		const char *k[] = {"keep", "fileinto", "redirect", "reject", "vacation"};
		snprintf(one, sizeof(one), "%s%s%s", k[a->kind],
			 a->mailbox           ? ":"
				 : a->address ? ":"
					      : "",
			 a->mailbox           ? a->mailbox
				 : a->address ? a->address
					      : "");
		for (size_t f = 0; f < a->n_flags; f++) {
			strncat(one, f == 0 ? "[" : ",", sizeof(one) - strlen(one) - 1);
			strncat(one, a->flags[f], sizeof(one) - strlen(one) - 1);
		}
		if (a->n_flags > 0)
			strncat(one, "]", sizeof(one) - strlen(one) - 1);
		if (i > 0)
			strncat(out, " ", sizeof(out) - strlen(out) - 1);
		strncat(out, one, sizeof(out) - strlen(out) - 1);
	}
	sieve_result_free(&r);
	return strdup(out);
}

static void assert_actions(const char *src, const char *want)
{
	char *got = actions(src);
	if (strcmp(got, want) != 0)
		fail_msg("actions \"%s\", want \"%s\"\n%s", got, want, src);
	free(got);
}

/* --- compiler ------------------------------------------------------------ */

static void test_compile_valid(void **state)
{
	/* Shaped like the RFC 5228 section 9 examples. */
	assert_compiles(
		"# a comment\r\n"
		"require [\"fileinto\", \"reject\"];\r\n"
		"if header :is \"Sender\" \"owner-ietf@example.org\" {\r\n"
		"  fileinto \"lists.ietf\";\r\n"
		"} elsif address :domain :is [\"From\", \"To\"] \"example.com\" {\r\n"
		"  keep;\r\n"
		"} elsif anyof (not address :all :contains [\"To\", \"Cc\"] \"me\",\r\n"
		"               header :matches \"subject\" [\"*make*money*\", \"*win*\"]) {\r\n"
		"  fileinto \"spam\";\r\n"
		"} else {\r\n"
		"  fileinto \"personal\";\r\n"
		"}\r\n");
	assert_compiles("/* bracket\n comment */ if size :over 100K { discard; }");
	assert_compiles("require \"vacation\";\n"
			"vacation :days 23 :addresses [\"tjs@example.edu\", \"ts4z@example.edu\"]\n"
			"  \"I'm away until October 19.\";\n");
	assert_compiles(
		"require [\"vacation\", \"variables\"];\n"
		"if header :matches \"subject\" \"*\" { set \"s\" \"${1}\"; }\n"
		"vacation :subject \"Re: ${s}\" :from \"me@example.org\" :mime :handle \"h\"\n"
		"text:\nContent-Type: text/plain\n\nAway.\n..dotted\n.\n;");
	assert_compiles(
		"require [\"imap4flags\", \"fileinto\", \"copy\", \"relational\",\n"
		" \"comparator-i;ascii-numeric\", \"subaddress\", \"envelope\", \"body\",\n"
		" \"date\", \"index\", \"ereject\"];\n"
		"if header :count \"ge\" :comparator \"i;ascii-numeric\" \"received\" \"3\""
		" { addflag \"\\\\Flagged\"; }\n"
		"if envelope :detail \"to\" \"lists\" { fileinto :copy :flags \"x\" \"L\"; }\n"
		"if body :text :contains \"budget\" { setflag \"v\" \"$Work\"; }\n"
		"if date :index 1 :last :zone \"+0000\" \"date\" \"hour\" \"13\" { stop; }\n"
		"if currentdate :value \"gt\" \"year\" \"2000\" { removeflag \"a\"; }\n"
		"if hasflag :contains \"x\" { ereject \"no\"; }\n");
	/* Many LF-only lines in a text: at the very end (each grows to CRLF). */
	char lf_text[700] = "require \"vacation\";\nvacation text:\n";
	for (int i = 0; i < 200; i++)
		strcat(lf_text, "a\n");
	strcat(lf_text, ".\n;");
	assert_compiles(lf_text);
	assert_compiles(""); /* an empty script: implicit keep */
	assert_compiles("if true {}");
}

static void test_compile_errors(void **state)
{
	assert_error("keep", "1:5: expected ';' or '{'");
	assert_error("fileinto \"x\";", "1:1: fileinto needs require \"fileinto\"");
	assert_error("require \"nosuch\";", "1:9: unsupported extension \"nosuch\"");
	assert_error("keep;\nrequire \"fileinto\";",
		     "2:1: require must come before other commands");
	assert_error("if true {\n  keep;\n", "3:1: missing '}'");
	assert_error("if header :is \"a\" { keep; }", "1:4: wrong number of arguments");
	assert_error("if header :frob \"a\" \"b\" { keep; }", "1:11: unknown tag");
	assert_error("elsif true { keep; }", "1:1: elsif without if");
	assert_error("if true { keep; }\nkeep;\nelse { keep; }", "3:1: else without if");
	assert_error("frobnicate;", "1:1: unknown command 'frobnicate'");
	assert_error("if nosuch { keep; }", "1:4: unknown test 'nosuch'");
	assert_error("if size 100 { keep; }", "1:4: size needs :over or :under");
	assert_error("if true\n{ keep; } if", "2:13: expected ';' or '{'");
	assert_error("if (true, ) {}", "1:11: expected a test");
	assert_error("keep \"x;", "1:6: unterminated string");
	assert_error("/* open", "1:1: unterminated comment");
	assert_error("redirect \"nobody\";", "1:10: redirect needs an address");
	assert_error("if header :is :is \"a\" \"b\" {}", "1:15: tag given twice");
	assert_error("if header :count \"ge\" \"a\" \"b\" {}",
		     "1:11: relational tags need require \"relational\"");
	assert_error("keep;\n\n   @", "3:4: unexpected character '@'");
	/* bare LFs become CRLF: the text grows past the source left (a fuzzer find) */
	assert_error("require \"vacation\";\nvacation text:\n\n\n\n\n",
		     "2:10: unterminated multi-line string");
	assert_error("if size :over 99999999999999999999 {}", "1:15: number too large");
	assert_error("require \"vacation\";\nvacation text:\nno end\n",
		     "2:10: unterminated multi-line string");
	assert_error("if header :comparator \"i;bogus\" \"a\" \"b\" {}",
		     "1:23: unknown comparator");
	assert_error("keep { }", "1:1: keep takes no block");
	assert_error("if true;", "1:1: if needs a block");
}

static void test_compile_limits(void **state)
{
	/* Nesting beyond SIEVE_DEPTH_MAX. */
	char deep[2048] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "if true {");
	char *e = compile_error(deep);
	assert_non_null(e);
	assert_non_null(strstr(e, "nesting too deep"));
	free(e);
	char nots[4096] = "if ";
	for (int i = 0; i < 60; i++)
		strcat(nots, "not ");
	strcat(nots, "true {}");
	e = compile_error(nots);
	assert_non_null(strstr(e, "nesting too deep"));
	free(e);
	/* Too big a source. */
	size_t big = SIEVE_SCRIPT_MAX + 1;
	char *src = malloc(big);
	memset(src, ' ', big);
	struct sieve_script *sc = NULL;
	const char *err;
	assert_int_equal(sieve_compile(src, big, &sc, &err), -1);
	assert_string_equal(err, "1:1: script too large");
	free(src);
	assert_int_equal(sieve_compile("keep;\0", 6, &sc, &err), -1);
}

/* --- interpreter --------------------------------------------------------- */

static void test_run_core(void **state)
{
	assert_actions("", "keep");
	assert_actions("discard;", "");
	assert_actions("keep; discard;", "keep");
	assert_actions("require \"fileinto\"; fileinto \"A\"; fileinto \"A\";", "fileinto:A");
	assert_actions("require \"fileinto\";\n"
		       "if header :contains \"subject\" \"[fac]\" { fileinto \"fac\"; stop; }\n"
		       "fileinto \"other\";",
		       "fileinto:fac");
	assert_actions("if header :is \"subject\" \"[fac] Meeting café tomorrow\" { discard; }",
		       "");
	assert_actions("if header :matches \"subject\" \"*MEETING*\" { discard; }", "");
	assert_actions("if header :comparator \"i;octet\" :contains \"subject\" \"MEETING\""
		       " { discard; }",
		       "keep");
	assert_actions("if address :domain :is \"to\" \"example.net\" { discard; }", "");
	assert_actions("if address :localpart :is \"from\" \"alice\" { discard; }", "");
	assert_actions("if address :all :is \"cc\" \"DAVE@example.org\" { discard; }", "");
	assert_actions("if exists [\"From\", \"X-Nope\"] { discard; }", "keep");
	assert_actions("if exists [\"From\", \"Date\"] { discard; }", "");
	assert_actions("if size :over 100 { discard; }", "");
	assert_actions("if size :under 100 { discard; }", "keep");
	assert_actions("if allof (true, false) { discard; }", "keep");
	assert_actions("if anyof (false, true) { discard; }", "");
	assert_actions("if not false { discard; }", "");
	assert_actions("if false { discard; } elsif false { discard; } else { stop; } discard;",
		       "keep");
	assert_actions("if header :matches \"subject\" \"?fac]*\" { discard; }", "");
	assert_actions("if header :matches \"subject\" \"\\\\[fac\\\\]*\" { discard; }", "");
}

static void test_run_extensions(void **state)
{
	assert_actions("require [\"envelope\", \"subaddress\"];\n"
		       "if envelope :detail \"to\" \"lists\" { discard; }",
		       "");
	assert_actions("require [\"envelope\", \"subaddress\"];\n"
		       "if envelope :user \"to\" \"bob\" { discard; }",
		       "");
	assert_actions("require \"subaddress\";\n"
		       "if address :detail \"cc\" \"\" { discard; }",
		       "keep"); /* no '+': no detail at all */
	assert_actions("require [\"fileinto\", \"copy\"]; fileinto :copy \"A\";",
		       "fileinto:A keep");
	assert_actions("require [\"imap4flags\"]; addflag \"\\\\Seen\"; addflag [\"a\", \"b a\"];"
		       " removeflag \"b\";",
		       "keep[\\Seen,a]");
	assert_actions("require [\"imap4flags\", \"fileinto\"]; setflag \"x\";"
		       " fileinto :flags \"y z\" \"F\"; keep;",
		       "fileinto:F[y,z] keep[x]");
	assert_actions("require [\"imap4flags\"]; addflag \"v\" \"q\"; if hasflag \"v\" \"q\""
		       " { discard; }",
		       "");
	assert_actions("require [\"relational\", \"comparator-i;ascii-numeric\"];\n"
		       "if header :count \"eq\" :comparator \"i;ascii-numeric\" \"received\" \"3\""
		       " { discard; }",
		       "");
	assert_actions("require \"relational\";\n"
		       "if address :value \"gt\" :localpart \"from\" \"aaa\" { discard; }",
		       "");
	assert_actions("require \"body\"; if body :contains \"BUDGET\" { discard; }", "");
	assert_actions("require \"body\"; if body :raw :contains \"Hello Bob\" { discard; }", "");
	assert_actions("require \"body\"; if body :content \"image\" :contains \"b\""
		       " { discard; }",
		       "keep");
	assert_actions("require [\"date\", \"index\"];\n"
		       "if date :originalzone \"date\" \"hour\" \"14\" { discard; }",
		       "");
	assert_actions("require \"date\";\n"
		       "if date :zone \"+0000\" \"date\" \"iso8601\" \"2026-03-03T13:05:06+00:00\""
		       " { discard; }",
		       "");
	assert_actions("require \"date\";\n"
		       "if currentdate :zone \"-0500\" \"date\" \"2026-03-03\" { discard; }",
		       "");
	assert_actions("require \"date\";\n"
		       "if date :zone \"+0000\" \"date\" \"weekday\" \"2\" { discard; }",
		       "");
	assert_actions("require \"date\";\n"
		       "if date :zone \"+0000\" \"date\" \"julian\" \"61102\" { discard; }",
		       "");
	assert_actions("require \"date\";\n"
		       "if date :zone \"bogus\" \"date\" \"year\" \"2026\" { discard; }",
		       "keep");
	assert_actions("require \"index\";\n"
		       "if header :index 3 :is \"received\" \"from c\" { discard; }",
		       "");
	assert_actions("require \"index\";\n"
		       "if header :index 1 :last :is \"received\" \"from c\" { discard; }",
		       "");
	assert_actions("require \"reject\"; reject \"go away\";", "reject");
	assert_actions("redirect \"x@example.net\";", "redirect:x@example.net");
	assert_actions("require \"copy\"; redirect :copy \"x@example.net\";",
		       "redirect:x@example.net keep");
}

/* Does src discard msg_multi? */
static bool body_discards(const char *src)
{
	struct sieve_message m = m_default(msg_multi);
	struct sieve_result r;
	assert_int_equal(run(src, &m, &r), 0);
	bool discarded = r.n_actions == 0;
	sieve_result_free(&r);
	return discarded;
}

static void test_run_body(void **state)
{
	/* :text: every text part decoded to UTF-8, HTML as text. */
	assert_true(body_discards("require \"body\";"
				  "if body :text :contains \"caf\xc3\xa9 noir\" { discard; }"));
	assert_true(body_discards("require \"body\";"
				  "if body :text :contains \"A bold offer\" { discard; }"));
	assert_false(body_discards("require \"body\";"
				   "if body :text :contains \"<b>\" { discard; }"));
	assert_false(body_discards("require \"body\";"
				   "if body :text :contains \"preamble\" { discard; }"));
	/* :content: the parts of those types, decoded, HTML kept. */
	assert_true(body_discards("require \"body\";"
				  "if body :content \"text/html\" :contains \"<b>bold</b>\""
				  " { discard; }"));
	assert_false(
		body_discards("require \"body\";"
			      "if body :content \"text/html\" :contains \"noir\" { discard; }"));
	assert_true(body_discards("require \"body\";"
				  "if body :content \"image\" :contains \"PNG\" { discard; }"));
	assert_false(body_discards("require \"body\";"
				   "if body :content \"audio\" :matches \"*\" { discard; }"));
	/* :raw: the body as it is, still encoded. */
	assert_true(body_discards("require \"body\";"
				  "if body :raw :contains \"caf=E9\" { discard; }"));
	/* The default comparator is i;ascii-casemap; i;octet is exact. */
	assert_true(body_discards("require \"body\";"
				  "if body :contains \"UN CAF\" { discard; }"));
	assert_false(
		body_discards("require \"body\";"
			      "if body :comparator \"i;octet\" :contains \"UN CAF\" { discard; }"));
}

static void test_run_variables(void **state)
{
	assert_actions("require [\"variables\", \"fileinto\"];\n"
		       "if header :matches \"subject\" \"[*] *\" {\n"
		       "  set :lower \"list\" \"${1}\"; fileinto \"lists/${list}\"; }",
		       "fileinto:lists/fac");
	assert_actions("require [\"variables\", \"fileinto\"];\n"
		       "set :upperfirst \"a\" \"box\"; set :length \"n\" \"héllo\";"
		       " fileinto \"${a}-${n}-${nosuch}\";",
		       "fileinto:Box-5-");
	assert_actions("require [\"variables\", \"fileinto\"];\n"
		       "set :quotewildcard \"q\" \"a*b\"; fileinto \"${q}\";",
		       "fileinto:a\\*b");
	assert_actions("require [\"variables\"];\n"
		       "set \"x\" \"1\"; if string :is \"${x}\" \"1\" { discard; }",
		       "");
	assert_actions("require [\"variables\", \"relational\"];\n"
		       "if string :count \"eq\" [\"a\", \"\", \"b\"] \"2\" { discard; }",
		       "");
	/* Without variables, ${...} is text. */
	assert_actions("require \"fileinto\"; fileinto \"${1}\";", "fileinto:${1}");
}

static void test_run_vacation(void **state)
{
	const char *vac = "require \"vacation\";\n"
			  "vacation :days 3 :subject \"Away\" \"Back Monday.\";";
	assert_actions(vac, "vacation:alice@example.com keep");
	/* Not addressed to the user: no reply. */
	struct sieve_message m = m_default(msg1);
	m.user = "zed@example.org";
	m.env_to = "zed@example.org";
	struct sieve_result r;
	assert_int_equal(run(vac, &m, &r), 0);
	assert_int_equal(r.n_actions, 1);
	sieve_result_free(&r);
	/* ... unless :addresses says it is. */
	assert_int_equal(run("require \"vacation\";\n"
			     "vacation :addresses \"carol@example.net\" \"x\";",
			     &m, &r),
			 0);
	assert_int_equal(r.n_actions, 2);
	sieve_result_free(&r);
	/* Null sender, lists, bulk, auto-submitted: no reply. */
	static const char *const no_reply[] = {
		"List-Id: <fac.example.org>\r\n",
		"Precedence: bulk\r\n",
		"Auto-Submitted: auto-generated\r\n",
	};
	for (size_t i = 0; i < 3; i++) {
		char *data = malloc(strlen(msg1) + 100);
		strcpy(data, no_reply[i]);
		strcat(data, msg1);
		m = m_default(data);
		assert_int_equal(run(vac, &m, &r), 0);
		assert_int_equal(r.n_actions, 1);
		assert_int_equal(r.actions[0].kind, SIEVE_ACT_KEEP);
		sieve_result_free(&r);
		free(data);
	}
	m = m_default(msg1);
	m.env_from = "";
	assert_int_equal(run(vac, &m, &r), 0);
	assert_int_equal(r.n_actions, 1);
	sieve_result_free(&r);
	m.env_from = "owner-fac@example.com";
	assert_int_equal(run(vac, &m, &r), 0);
	assert_int_equal(r.n_actions, 1);
	sieve_result_free(&r);
	/* The reply itself. */
	m = m_default(msg1);
	assert_int_equal(run(vac, &m, &r), 0);
	assert_int_equal(r.actions[0].kind, SIEVE_ACT_VACATION);
	assert_int_equal(r.actions[0].seconds, 3 * 86400);
	size_t len;
	char *reply = sieve_vacation_reply(&r.actions[0], &m, "mx.example.org", &len);
	assert_non_null(strstr(reply, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(reply, "\r\nSubject: Away\r\n"));
	assert_non_null(strstr(reply, "\r\nTo: <alice@example.com>\r\n"));
	assert_non_null(strstr(reply, "\r\nFrom: bob@example.org\r\n"));
	assert_non_null(strstr(reply, "\r\nIn-Reply-To: <m1@example.com>\r\n"));
	assert_non_null(strstr(reply, "\r\n\r\nBack Monday.\r\n"));
	free(reply);
	sieve_result_free(&r);
	/* Default subject: "Auto: " + the original, encoded when not ASCII. */
	assert_int_equal(run("require \"vacation\"; vacation \"x\";", &m, &r), 0);
	reply = sieve_vacation_reply(&r.actions[0], &m, "h", &len);
	assert_non_null(strstr(reply, "Subject: Auto: =?UTF-8?Q?"));
	assert_int_equal(r.actions[0].seconds, 7 * 86400);
	free(reply);
	sieve_result_free(&r);
	/* :mime: the reason is the body part with its own fields; :from and a
	 * subject cannot smuggle header lines in. */
	assert_int_equal(
		run("require [\"vacation\", \"variables\"];\n"
		    "set \"s\" \"x\";\n"
		    "vacation :mime :from \"Bob <b@example.org>\" :subject \"a\r\nBcc: evil\"\n"
		    "text:\nContent-Type: text/html\n\n<p>away</p>\n.\n;",
		    &m, &r),
		0);
	reply = sieve_vacation_reply(&r.actions[0], &m, "h", &len);
	assert_non_null(strstr(reply, "\r\nFrom: Bob <b@example.org>\r\n"));
	assert_non_null(strstr(reply, "\r\nSubject: a  Bcc: evil\r\n"));
	assert_null(strstr(reply, "\nBcc:"));
	assert_non_null(
		strstr(reply, "MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>away</p>"));
	assert_null(strstr(reply, "text/plain"));
	free(reply);
	sieve_result_free(&r);
	/* Shaped like RFC 5230's examples: the reason picked by a test. */
	assert_int_equal(run("require \"vacation\";\n"
			     "if header :contains \"subject\" \"meeting\" {\n"
			     "  vacation \"Out; ask the team about meetings.\";\n"
			     "} else {\n"
			     "  vacation \"Out; call me at the office.\";\n"
			     "}\n",
			     &m, &r),
			 0);
	assert_string_equal(r.actions[0].text, "Out; ask the team about meetings.");
	sieve_result_free(&r);
	/* One reply per message however many vacation actions run. */
	assert_int_equal(run("require \"vacation\"; vacation \"a\"; vacation \"b\";", &m, &r), 0);
	assert_int_equal(r.n_actions, 2);
	assert_string_equal(r.actions[0].text, "a");
	sieve_result_free(&r);
	/* :seconds (vacation-seconds) and :days 0. */
	assert_int_equal(run("require \"vacation-seconds\"; vacation :seconds 60 \"x\";", &m, &r),
			 0);
	assert_int_equal(r.actions[0].seconds, 60);
	sieve_result_free(&r);
	assert_int_equal(run("require \"vacation\"; vacation :days 0 \"x\";", &m, &r), 0);
	assert_int_equal(r.actions[0].seconds, 86400);
	sieve_result_free(&r);
}

static void test_run_redirect_loop(void **state)
{
	struct sieve_message m = m_default(msg1);
	struct sieve_result r;
	char *hdr = sieve_redirect_header("bob@example.org");
	char *data = malloc(strlen(hdr) + strlen(msg1) + 1);
	strcpy(data, hdr);
	strcat(data, msg1);
	m = m_default(data);
	/* Redirected by this user before: kept, not sent round again. */
	assert_int_equal(run("redirect \"x@example.net\";", &m, &r), 0);
	assert_int_equal(r.n_actions, 1);
	assert_int_equal(r.actions[0].kind, SIEVE_ACT_KEEP);
	sieve_result_free(&r);
	free(data);
	free(hdr);
	/* Too many redirects: a runtime error (the caller keeps). */
	m = m_default(msg1);
	assert_int_equal(run("redirect \"a@x.net\"; redirect \"b@x.net\"; redirect \"c@x.net\";"
			     "redirect \"d@x.net\"; redirect \"e@x.net\";",
			     &m, &r),
			 -1);
	sieve_result_free(&r);
	/* Invalid address from a variable: runtime error. */
	assert_int_equal(
		run("require \"variables\"; set \"a\" \"nope\"; redirect \"${a}\";", &m, &r), -1);
	sieve_result_free(&r);
}

static void test_run_limits(void **state)
{
	struct sieve_message m = m_default(msg1);
	struct sieve_result r;
	/* A :matches that backtracks a lot exhausts the step budget. */
	char *big = malloc(200000);
	memset(big, 'a', 199990);
	strcpy(big + 199990, "\r\n\r\nx");
	char *data = malloc(200100);
	snprintf(data, 200100, "Subject: %s", big);
	m = m_default(data);
	const char *err = NULL;
	struct sieve_script *sc = NULL;
	const char *src = "if header :matches \"subject\" \"*a*a*a*a*a*b\" { discard; }";
	assert_int_equal(sieve_compile(src, strlen(src), &sc, &err), 0);
	assert_int_equal(sieve_execute(sc, &m, &r, &err), -1);
	assert_non_null(strstr(err, "too many steps"));
	sieve_result_free(&r);
	sieve_script_free(&sc);
	free(big);
	free(data);
	/* Body tests cost the message's length: 100 tests on 4 MiB fail, one
	 * is fine. */
	data = malloc(4u << 20);
	memset(data, 'x', 4u << 20);
	memcpy(data, "Subject: big\r\n\r\n", 16);
	data[(4u << 20) - 1] = '\0';
	m = m_default(data);
	char tests100[8192] = "require \"body\";";
	for (int i = 0; i < 100; i++)
		strcat(tests100, "if body :raw :contains \"y\" { discard; }");
	struct sieve_result r1;
	assert_int_equal(
		run("require \"body\"; if body :raw :contains \"y\" { discard; }", &m, &r1), 0);
	assert_int_equal(r1.n_actions, 1);
	sieve_result_free(&r1);
	assert_int_equal(sieve_compile(tests100, strlen(tests100), &sc, &err), 0);
	assert_int_equal(sieve_execute(sc, &m, &r, &err), -1);
	assert_non_null(strstr(err, "too many steps"));
	sieve_result_free(&r);
	sieve_script_free(&sc);
	free(data);
	/* Too many actions. */
	char many[8192] = "require \"fileinto\";";
	for (int i = 0; i < SIEVE_ACTIONS_MAX + 2; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "fileinto \"m%d\";", i);
	m = m_default(msg1);
	assert_int_equal(run(many, &m, &r), -1);
	sieve_result_free(&r);
}

/* --- storage and delivery plans ---------------------------------------- */

static void count_cb(void *ctx, const struct store_sieve_info *i)
{
	int *n = ctx;
	*n += i->active ? 100 : 1;
}

static void test_store_scripts(void **state)
{
	struct tu_fixture *f = tu_fixture_create("sieve-store", true);
	assert_non_null(f);
	const char *err = NULL;
	assert_int_equal(sieve_store_put(f->store, f->acc, "bad", "keep", 4, &err), -1);
	assert_string_equal(err, "1:5: expected ';' or '{'");
	assert_int_equal(sieve_store_put(f->store, f->acc, "a/b", "keep;", 5, &err), -1);
	assert_int_equal(sieve_store_put(f->store, f->acc, "one", "keep;", 5, &err), 0);
	assert_int_equal(sieve_store_put(f->store, f->acc, "two", "discard;", 8, &err), 0);
	char *src = NULL;
	size_t len;
	bool active = true;
	assert_int_equal(store_sieve_get(f->store, f->acc, "two", &src, &len, &active), 1);
	assert_string_equal(src, "discard;");
	assert_false(active);
	free(src);
	assert_int_equal(store_sieve_get(f->store, f->acc, "none", &src, &len, NULL), 0);
	assert_int_equal(store_sieve_active(f->store, f->acc, &src, &len, NULL, 0), 0);
	assert_int_equal(store_sieve_activate(f->store, f->acc, "none", &err), 0);
	assert_int_equal(store_sieve_activate(f->store, f->acc, "one", &err), 1);
	assert_int_equal(store_sieve_activate(f->store, f->acc, "two", &err), 1);
	int n = 0;
	assert_int_equal(store_sieve_list(f->store, f->acc, count_cb, &n), 0);
	assert_int_equal(n, 101); /* one active, one not */
	char name[STORE_SIEVE_NAME_MAX + 1];
	assert_int_equal(store_sieve_active(f->store, f->acc, &src, &len, name, sizeof(name)), 1);
	assert_string_equal(name, "two");
	free(src);
	assert_int_equal(store_sieve_delete(f->store, f->acc, "two", &err), -1);
	assert_int_equal(store_sieve_rename(f->store, f->acc, "two", "one", &err), -1);
	assert_int_equal(store_sieve_rename(f->store, f->acc, "two", "deux", &err), 1);
	assert_int_equal(store_sieve_active(f->store, f->acc, &src, &len, name, sizeof(name)), 1);
	assert_string_equal(name, "deux");
	free(src);
	assert_int_equal(store_sieve_activate(f->store, f->acc, NULL, &err), 1);
	assert_int_equal(store_sieve_delete(f->store, f->acc, "deux", &err), 1);
	assert_int_equal(store_sieve_delete(f->store, f->acc, "deux", &err), 0);
	/* Vacation memory. */
	assert_int_equal(store_sieve_vacation_seen(f->store, f->acc, "h", "x@y", 1000), 0);
	assert_int_equal(
		store_sieve_vacation_record(f->store, f->acc, "h", "x@y", 1000, 2000, &err), 0);
	assert_int_equal(store_sieve_vacation_seen(f->store, f->acc, "h", "x@y", 1000), 1);
	assert_int_equal(store_sieve_vacation_seen(f->store, f->acc, "h", "x@y", 2001), 0);
	assert_int_equal(store_sieve_vacation_seen(f->store, f->acc, "g", "x@y", 1000), 0);
	tu_fixture_destroy(&f);
}

static void test_plan(void **state)
{
	struct tu_fixture *f = tu_fixture_create("sieve-plan", true);
	assert_non_null(f);
	const char *err = NULL;
	struct sieve_plan p;
	struct sieve_message m = m_default(msg1);
	m.user = "a@example.org";
	m.env_to = "a@example.org";
	/* No active script: not scripted. */
	sieve_plan_run(f->store, f->acc, &m, NULL, "mx.example.org", &p);
	assert_false(p.scripted);
	sieve_plan_free(&p);
	const char *src = "require [\"fileinto\", \"imap4flags\", \"vacation\"];\n"
			  "fileinto :flags [\"\\\\Flagged\", \"$Work\"] \"Nosuch\";\n"
			  "fileinto :create \"New/Box\";\n"
			  "fileinto \"Junk\";\n"
			  "vacation :addresses \"carol@example.net\" \"away\";\n"
			  "redirect \"fwd@example.net\";";
	assert_int_equal(sieve_store_put(f->store, f->acc, "s", src, strlen(src), &err), 0);
	assert_int_equal(store_sieve_activate(f->store, f->acc, "s", &err), 1);
	sieve_plan_run(f->store, f->acc, &m, NULL, "mx.example.org", &p);
	assert_true(p.scripted);
	assert_int_equal(p.n_targets, 3);
	struct store_mailbox mb;
	assert_int_equal(p.targets[0].mailbox_id, f->inbox); /* Nosuch: INBOX */
	assert_int_equal(p.targets[0].flags, STORE_FLAG_FLAGGED);
	assert_int_equal(p.targets[0].n_keywords, 1);
	assert_string_equal(p.targets[0].keywords[0], "$Work");
	assert_int_equal(store_mailbox_get(f->store, f->acc, "New/Box", &mb), 1);
	assert_int_equal(p.targets[1].mailbox_id, mb.id);
	assert_int_equal(store_mailbox_get(f->store, f->acc, "Junk", &mb), 1);
	assert_int_equal(p.targets[2].mailbox_id, mb.id);
	assert_int_equal(p.n_out, 2);
	assert_string_equal(p.out[0].recipient, "alice@example.com");
	assert_string_equal(p.out[0].sender, "");
	assert_non_null(strstr(p.out[0].data, "Auto-Submitted: auto-replied"));
	assert_string_equal(p.out[1].recipient, "fwd@example.net");
	assert_null(p.out[1].data);
	assert_string_equal(p.out[1].prefix, "X-Sieve-Redirected-By: a@example.org\r\n");
	assert_int_equal(p.out[1].n_accounts, 0);
	assert_int_equal(p.out[1].n_remote, 1);
	assert_string_equal(p.out[1].remote[0], "fwd@example.net");
	sieve_plan_free(&p);
	/* The second time within :days: no reply. */
	sieve_plan_run(f->store, f->acc, &m, NULL, "mx.example.org", &p);
	assert_int_equal(p.n_out, 1);
	sieve_plan_free(&p);
	/* A redirect to a local address resolves to its account. */
	src = "redirect \"A+x@Example.org\";";
	assert_int_equal(sieve_store_put(f->store, f->acc, "s", src, strlen(src), &err), 0);
	sieve_plan_run(f->store, f->acc, &m, NULL, "mx.example.org", &p);
	assert_int_equal(p.n_targets, 0);
	assert_int_equal(p.n_out, 1);
	assert_int_equal(p.out[0].n_accounts, 1);
	assert_int_equal(p.out[0].accounts[0], f->acc);
	assert_int_equal(p.out[0].n_remote, 0);
	sieve_plan_free(&p);
	/* A script that fails at run time: kept in INBOX. */
	src = "redirect \"a@x.net\"; redirect \"b@x.net\"; redirect \"c@x.net\";"
	      "redirect \"d@x.net\"; redirect \"e@x.net\";";
	assert_int_equal(sieve_store_put(f->store, f->acc, "s", src, strlen(src), &err), 0);
	sieve_plan_run(f->store, f->acc, &m, NULL, "mx.example.org", &p);
	assert_int_equal(p.n_targets, 1);
	assert_int_equal(p.targets[0].mailbox_id, f->inbox);
	assert_int_equal(p.n_out, 0);
	sieve_plan_free(&p);
	/* Reject: the reason, and a notice when it cannot be refused at SMTP time. */
	src = "require \"reject\"; reject \"not here\";";
	assert_int_equal(sieve_store_put(f->store, f->acc, "s", src, strlen(src), &err), 0);
	sieve_plan_run(f->store, f->acc, &m, NULL, "mx.example.org", &p);
	assert_string_equal(p.reject, "not here");
	assert_int_equal(p.n_targets, 0);
	sieve_plan_reject_notice(f->store, &m, "mx.example.org", &p);
	assert_int_equal(p.n_out, 1);
	assert_non_null(strstr(p.out[0].data, "not here"));
	sieve_plan_free(&p);
	tu_fixture_destroy(&f);
}

int main(void)
{
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_valid),     cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_compile_limits),    cmocka_unit_test(test_run_core),
		cmocka_unit_test(test_run_extensions),    cmocka_unit_test(test_run_body),
		cmocka_unit_test(test_run_variables),     cmocka_unit_test(test_run_vacation),
		cmocka_unit_test(test_run_redirect_loop), cmocka_unit_test(test_run_limits),
		cmocka_unit_test(test_store_scripts),     cmocka_unit_test(test_plan),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
