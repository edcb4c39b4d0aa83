/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of IMAP conformance defects found by an outside conformance
 * run and a comparison with Dovecot (issue 8, part 2), one test per
 * defect: '[' in mailbox names, NIL as a STORE keyword, partial BINARY
 * origins, the pre-login ID line, MOVE into the selected mailbox, SORT
 * SUBJECT with i;ascii-casemap, the HIGHESTMODSEQ announcement when
 * CONDSTORE is enabled by use, new keywords announced to every session,
 * 7-bit quoted strings for IMAP4rev1 sessions, SEARCH BODY/TEXT over
 * text parts only, subscriptions, \Recent, and FETCH of a message another
 * session expunged. Each test drives real sessions over a real store in a
 * mkdtemp directory, commands fed whole or byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cmd(struct tu_session *f, const char *line)
{
	return tu_imap_cmd(&f->x, line);
}

static int setup(void **state)
{
	return tu_session_setup(state, "imap-conform");
}

static int teardown(void **state)
{
	return tu_session_teardown(state);
}

/* Feed line one byte at a time; returns everything written. */
static const char *cmd_bytewise(struct tu_session *f, const char *line, struct buf *all)
{
	buf_clear(all);
	for (size_t i = 0; line[i] != '\0'; i++)
		buf_append_str(all, tu_imap_feed(&f->x, line + i, 1));
	return buf_cstr(all);
}

/* Defect 4: '[' is an atom character outside FETCH section specs. */
static void test_bracket_in_mailbox_name(void **state)
{
	struct tu_session *f = *state;
	struct buf all;
	buf_init(&all);
	assert_has(cmd_bytewise(f, "c1 CREATE a[b\r\n", &all), "c1 OK");
	assert_has(cmd(f, "c2 CREATE x[y]z\r\n"), "c2 OK");
	assert_has(cmd(f, "c3 LIST \"\" *\r\n"), "* LIST (\\HasNoChildren) \"/\" a[b\r\n");
	assert_has(cmd(f, "c4 LIST \"\" *\r\n"), "\"/\" x[y]z\r\n");
	assert_has(cmd_bytewise(f, "c5 SELECT a[b\r\n", &all), "c5 OK [READ-WRITE]");
	assert_has(cmd(f, "c6 STATUS x[y]z (MESSAGES)\r\n"), "* STATUS x[y]z (MESSAGES 0)");
	assert_has(cmd(f, "c7 RENAME a[b a[c\r\n"), "c7 OK");
	/* Section specs still hold spaces and lists. */
	tu_deliver_subject(f->t, "a[c", "hello", 0);
	assert_has(cmd(f, "c8 SELECT a[c\r\n"), "c8 OK");
	assert_has(cmd(f, "c9 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n"),
		   "BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: hello\r\n\r\n");
	assert_has(cmd(f, "c10 FETCH 1 BODY[HEADER\r\n"), "c10 BAD");
	buf_deinit(&all);
}

/* Defect 5: NIL is a valid keyword atom in STORE, APPEND and SEARCH. */
static void test_store_nil_keyword(void **state)
{
	struct tu_session *f = *state;
	struct buf all;
	buf_init(&all);
	tu_deliver_subject(f->t, NULL, "one", 0);
	tu_deliver_subject(f->t, NULL, "two", 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	const char *r = cmd_bytewise(f, "a STORE 1 +FLAGS NIL\r\n", &all);
	assert_has(r, "* 1 FETCH (FLAGS (NIL))");
	assert_has(r, "a OK");
	assert_has(cmd(f, "b STORE 2 FLAGS (\\Seen nil)\r\n"), "* 2 FETCH (FLAGS (\\Seen NIL))");
	assert_has(cmd(f, "c SEARCH KEYWORD NIL\r\n"), "* SEARCH 1 2\r\n");
	assert_has(cmd(f, "d STORE 1 -FLAGS (NIL)\r\n"), "* 1 FETCH (FLAGS ())");
	assert_has(cmd(f, "e SEARCH KEYWORD NIL\r\n"), "* SEARCH 2\r\n");
	assert_has(cmd(f, "f APPEND INBOX (NIL \\Flagged) {3}\r\nx\r\n\r\n"), "f OK");
	assert_has(cmd(f, "g FETCH 3 FLAGS\r\n"), "NIL");
	/* What is still not a keyword. */
	assert_has(cmd(f, "h STORE 1 +FLAGS \"NIL\"\r\n"), "h BAD");
	assert_has(cmd(f, "i STORE 1 +FLAGS\r\n"), "i BAD");
	buf_deinit(&all);
}

/* Defect 3: a partial BINARY answer carries its origin octet. */
static void test_partial_binary_origin(void **state)
{
	struct tu_session *f = *state;
	static const char msg[] = "From: x@example.net\r\nSubject: b\r\nMIME-Version: 1.0\r\n"
				  "Content-Type: multipart/mixed; boundary=bb\r\n\r\n"
				  "--bb\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
				  "--bb\r\nContent-Type: application/octet-stream\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\nMDEyMzQ1Njc4OQ==\r\n"
				  "--bb--\r\n";
	tu_deliver(f->t, NULL, msg, sizeof(msg) - 1, 0, 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	const char *r = cmd(f, "a FETCH 1 (BINARY.PEEK[2]<0.7>)\r\n");
	assert_has(r, "BINARY[2]<0> {7}\r\n0123456)");
	r = cmd(f, "b FETCH 1 (BINARY.PEEK[2]<3.100> BINARY.SIZE[2])\r\n");
	assert_has(r, "BINARY[2]<3> {7}\r\n3456789");
	assert_has(r, "BINARY.SIZE[2] 10");
	/* Without a partial, no origin. */
	assert_has(cmd(f, "c FETCH 1 (BINARY.PEEK[1])\r\n"), "BINARY[1] {5}\r\nfirst)");
	/* An origin past the end: an empty string, still with its origin. */
	assert_has(cmd(f, "d FETCH 1 (BINARY.PEEK[2]<20.5>)\r\n"), "BINARY[2]<20> ");
}

/* "tag ID (...)" with n pairs, fields of 30 octets, values of vlen octets. */
static void id_command(struct buf *b, const char *tag, int n, size_t vlen, bool literals)
{
	buf_clear(b);
	buf_printf(b, "%s ID (", tag);
	for (int i = 0; i < n; i++) {
		buf_printf(b, "%s\"field-%023d\" ", i > 0 ? " " : "", i);
		if (literals)
			buf_printf(b, "{%zu+}\r\n", vlen);
		else
			buf_append(b, "\"", 1);
		for (size_t k = 0; k < vlen; k++)
			buf_append(b, "v", 1);
		if (!literals)
			buf_append(b, "\"", 1);
	}
	buf_append_str(b, ")\r\n");
}

/* Defect 6: ID before login with RFC 2971's maximum fits; other caps stay. */
static void test_id_maximum_before_login(void **state)
{
	struct tu_session *f = *state;
	struct tu_imap x;
	tu_imap_open(&x, f->t, false, NULL);
	struct buf b, all;
	buf_init(&b);
	buf_init(&all);
	id_command(&b, "a", 30, 1024, false);
	assert_true(b.len > 30000);
	/* In slices of 1000 bytes, as a network would deliver it. */
	for (size_t i = 0; i < b.len; i += 1000)
		buf_append_str(&all,
			       tu_imap_feed(&x, b.data + i, b.len - i < 1000 ? b.len - i : 1000));
	assert_has(buf_cstr(&all), "* ID (");
	assert_has(buf_cstr(&all), "a OK");
	id_command(&b, "b", 30, 1024, true);
	assert_has(tu_imap_feed(&x, b.data, b.len), "b OK");
	/* Beyond RFC 2971's limits: a clear BAD, the session goes on. */
	id_command(&b, "c", 31, 1024, false);
	assert_has(tu_imap_feed(&x, b.data, b.len), "c BAD");
	id_command(&b, "d", 30, 3000, false);
	assert_has(tu_imap_feed(&x, b.data, b.len), "d BAD Line too long");
	/* Any other command keeps the small pre-login line cap. */
	buf_clear(&b);
	buf_append_str(&b, "e NOOP ");
	for (int i = 0; i < 9000; i++)
		buf_append(&b, "x", 1);
	buf_append_str(&b, "\r\n");
	assert_has(tu_imap_feed(&x, b.data, b.len), "e BAD Line too long");
	assert_has(tu_imap_cmd(&x, "f NOOP\r\n"), "f OK");
	buf_deinit(&b);
	buf_deinit(&all);
	tu_imap_close(&x);
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Defect 9: the first CONDSTORE-enabling command while selected. */
static void test_condstore_enable_announces(void **state)
{
	struct tu_session *f = *state;
	tu_deliver_subject(f->t, NULL, "one", 0);
	tu_deliver_subject(f->t, NULL, "two", 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	const char *r = cmd(f, "a FETCH 1 (MODSEQ)\r\n");
	assert_has(r, "* 1 FETCH (MODSEQ (");
	const char *ok = strstr(r, "* OK [HIGHESTMODSEQ ");
	assert_non_null(ok);
	assert_true(ok < strstr(r, "a OK"));
	/* The value is the mailbox's. */
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->t->store, f->t->acc, "INBOX", &mb), 1);
	char want[64];
	snprintf(want, sizeof(want), "* OK [HIGHESTMODSEQ %llu]",
		 (unsigned long long)mb.highestmodseq);
	assert_has(r, want);
	/* Only the first time. */
	assert_lacks(cmd(f, "b FETCH 2 (MODSEQ)\r\n"), "HIGHESTMODSEQ");
	assert_lacks(cmd(f, "c STORE 1 (UNCHANGEDSINCE 99999) +FLAGS (x)\r\n"), "HIGHESTMODSEQ");

	/* Other sessions: STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS. */
	struct tu_imap x;
	tu_imap_open(&x, f->t, true, "s SELECT INBOX\r\n");
	r = tu_imap_cmd(&x, "d STORE 2 (UNCHANGEDSINCE 99999) +FLAGS (y)\r\n");
	assert_int_equal(count_str(r, "[HIGHESTMODSEQ "), 1);
	tu_imap_close(&x);
	tu_imap_open(&x, f->t, true, "s SELECT INBOX\r\n");
	r = tu_imap_cmd(&x, "e SEARCH MODSEQ 1\r\n");
	assert_has(r, "* SEARCH 1 2 (MODSEQ ");
	assert_int_equal(count_str(r, "* OK [HIGHESTMODSEQ "), 1);
	assert_lacks(tu_imap_cmd(&x, "f FETCH 1 (MODSEQ)\r\n"), "[HIGHESTMODSEQ");
	tu_imap_close(&x);
	/* Not selected: nothing to announce, SELECT says it itself. */
	tu_imap_open(&x, f->t, true, NULL);
	r = tu_imap_cmd(&x, "g STATUS INBOX (HIGHESTMODSEQ)\r\n");
	assert_lacks(r, "* OK [HIGHESTMODSEQ");
	r = tu_imap_cmd(&x, "h SELECT INBOX\r\n");
	assert_int_equal(count_str(r, "* OK [HIGHESTMODSEQ "), 1);
	assert_lacks(tu_imap_cmd(&x, "i FETCH 1 (MODSEQ)\r\n"), "[HIGHESTMODSEQ");
	tu_imap_close(&x);
	tu_imap_open(&x, f->t, true, "s SELECT INBOX\r\n");
	r = tu_imap_cmd(&x, "j STATUS INBOX (HIGHESTMODSEQ)\r\n");
	assert_int_equal(count_str(r, "* OK [HIGHESTMODSEQ "), 1);
	tu_imap_close(&x);
}

/* Defect 8: SORT compares with i;ascii-casemap, which maps to upper case. */
static void test_sort_ascii_casemap(void **state)
{
	struct tu_session *f = *state;
	static const char *const subjects[] = {"apple",  "_x", "Zebra",    "0num",
					       "~tilde", "[x", "Re: ZEBRA"};
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
		tu_deliver_subject(f->t, NULL, subjects[i], 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	/* "0NUM" "APPLE" "ZEBRA" "ZEBRA" "[X" "_X" "~TILDE" as octets. */
	assert_has(cmd(f, "a SORT (SUBJECT) UTF-8 ALL\r\n"), "* SORT 4 1 3 7 6 2 5\r\n");
	assert_has(cmd(f, "b SORT (REVERSE SUBJECT) US-ASCII ALL\r\n"), "* SORT 5 2 6 3 7 1 4\r\n");
	/* THREAD ORDEREDSUBJECT groups by the same comparison. */
	assert_has(cmd(f, "c THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"), "(3 7)");
}

/* Defect 2: CREATE does not subscribe; LSUB and RECURSIVEMATCH show parents. */
static void test_create_does_not_subscribe(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a CREATE Lists/Dev/Core\r\n"), "a OK");
	const char *r = cmd(f, "b LSUB \"\" *\r\n");
	assert_has(r, "* LSUB () \"/\" INBOX\r\n"); /* the account's defaults are */
	assert_lacks(r, "Lists");
	assert_lacks(cmd(f, "c LIST (SUBSCRIBED) \"\" *\r\n"), "Lists");
	assert_has(cmd(f, "d LIST \"\" Lists* RETURN (SUBSCRIBED)\r\n"),
		   "* LIST (\\HasNoChildren) \"/\" Lists/Dev/Core\r\n");
	/* Only SUBSCRIBE subscribes. */
	assert_has(cmd(f, "e SUBSCRIBE Lists/Dev/Core\r\n"), "e OK");
	r = cmd(f, "f LSUB \"\" *\r\n");
	assert_has(r, "* LSUB () \"/\" Lists/Dev/Core\r\n");
	assert_lacks(r, "\"/\" Lists\r\n");
	assert_lacks(r, "\"/\" Lists/Dev\r\n");
	/* The unsubscribed (existing) parents stand in for the child under '%'. */
	r = cmd(f, "g LSUB \"\" %\r\n");
	assert_has(r, "* LSUB (\\Noselect) \"/\" Lists\r\n");
	assert_lacks(r, "Lists/");
	assert_has(cmd(f, "h LSUB \"\" Lists/%\r\n"), "* LSUB (\\Noselect) \"/\" Lists/Dev\r\n");
	r = cmd(f, "i LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
	assert_has(r, "* LIST (\\HasChildren) \"/\" Lists (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	r = cmd(f, "j LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Lists/%\r\n");
	assert_has(r,
		   "* LIST (\\HasChildren) \"/\" Lists/Dev (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	/* A subscribed parent is listed as itself, without CHILDINFO. */
	assert_has(cmd(f, "k SUBSCRIBE Lists\r\n"), "k OK");
	r = cmd(f, "l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
	assert_has(r,
		   "* LIST (\\HasChildren \\Subscribed) \"/\" Lists (\"CHILDINFO\" "
		   "(\"SUBSCRIBED\"))\r\n");
	assert_has(cmd(f, "m LSUB \"\" %\r\n"), "* LSUB () \"/\" Lists\r\n");
}

/* Defect 7: MOVE into the selected mailbox is COPY + expunge. */
static void test_move_into_selected(void **state)
{
	struct tu_session *f = *state;
	for (int i = 0; i < 3; i++)
		tu_deliver_subject(f->t, NULL, i == 1 ? "moved" : "stays", 0);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->t->store, f->t->acc, "INBOX", &mb), 1);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	struct tu_imap y;
	tu_imap_open(&y, f->t, true, "s SELECT INBOX\r\n");
	assert_has(cmd(f, "a STORE 2 +FLAGS (\\Flagged $Work)\r\n"), "a OK");
	const char *r = cmd(f, "b MOVE 2 INBOX\r\n");
	char want[96];
	snprintf(want, sizeof(want), "* OK [COPYUID %u 2 4] Moved\r\n", mb.uidvalidity);
	assert_has(r, want);
	assert_has(r, "* 2 EXPUNGE\r\n");
	assert_has(r, "* 3 EXISTS\r\n");
	assert_true(strstr(r, "COPYUID") < strstr(r, "EXPUNGE"));
	assert_true(strstr(r, "EXPUNGE") < strstr(r, "EXISTS"));
	assert_has(r, "b OK MOVE completed");
	r = cmd(f, "c FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])\r\n");
	assert_has(
		r,
		"* 3 FETCH (UID 4 FLAGS (\\Flagged \\Recent $Work) BODY[HEADER.FIELDS (Subject)] "
		"{18}\r\nSubject: moved\r\n\r\n)");
	assert_has(r, "* 2 FETCH (UID 3 ");
	/* The other session sees the same: the old one gone, a new one. */
	r = tu_imap_cmd(&y, "n NOOP\r\n");
	assert_has(r, "* 2 EXPUNGE\r\n");
	assert_has(r, "* 3 EXISTS\r\n");
	/* UID MOVE of everything, the rev2 way (byte by byte). */
	struct buf all;
	buf_init(&all);
	snprintf(want, sizeof(want), "* OK [COPYUID %u 1,3:4 5:7] Moved\r\n", mb.uidvalidity);
	assert_has(cmd_bytewise(f, "d UID MOVE 1:* INBOX\r\n", &all), want);
	assert_has(buf_cstr(&all), "d OK MOVE completed");
	assert_has(cmd(f, "e UID SEARCH ALL\r\n"), "* SEARCH 5 6 7\r\n");
	buf_deinit(&all);
	tu_imap_close(&y);
}

/* Defect 10: a keyword new to the mailbox is announced to every session. */
static void test_new_keyword_announced(void **state)
{
	struct tu_session *f = *state;
	tu_deliver_subject(f->t, NULL, "one", 0);
	tu_deliver_subject(f->t, NULL, "two", 0);
	const char *r = cmd(f, "s SELECT INBOX\r\n");
	assert_has(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
	struct tu_imap y;
	tu_imap_open(&y, f->t, true, "s SELECT INBOX\r\n");
	r = cmd(f, "a STORE 1 +FLAGS ($new)\r\n");
	const char *flags =
		strstr(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $new)\r\n");
	const char *perm = strstr(r,
				  "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
				  "\\Draft $new \\*)]");
	const char *fetch = strstr(r, "* 1 FETCH (FLAGS ($new))");
	assert_non_null(flags);
	assert_non_null(perm);
	assert_non_null(fetch);
	assert_true(flags < perm && perm < fetch);
	/* Once only. */
	assert_lacks(cmd(f, "b STORE 2 +FLAGS ($new)\r\n"), "* FLAGS");
	/* The other session gets it before its FETCH, on NOOP or on FETCH. */
	r = tu_imap_cmd(&y, "c FETCH 1:2 FLAGS\r\n");
	flags = strstr(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $new)\r\n");
	fetch = strstr(r, "FETCH (FLAGS ($new))");
	assert_non_null(flags);
	assert_non_null(fetch);
	assert_true(flags < fetch);
	assert_has(r, "* OK [PERMANENTFLAGS (");
	assert_lacks(tu_imap_cmd(&y, "d NOOP\r\n"), "* FLAGS");
	/* A keyword from another session's STORE reaches this one at NOOP. */
	assert_has(tu_imap_cmd(&y, "e STORE 2 +FLAGS (Other)\r\n"), "$new Other)\r\n");
	r = cmd(f, "f NOOP\r\n");
	flags = strstr(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $new Other)\r\n");
	fetch = strstr(r, "* 2 FETCH (UID 2 FLAGS ($new Other))");
	assert_non_null(flags);
	assert_non_null(fetch);
	assert_true(flags < fetch);
	/* APPEND with a new keyword: announced before EXISTS's FETCH too. */
	assert_has(tu_imap_cmd(&y, "g APPEND INBOX (Third) {3}\r\nx\r\n\r\n"), "g OK");
	assert_has(cmd(f, "h NOOP\r\n"), "$new Other Third)\r\n");
	tu_imap_close(&y);
}

/* Fails the test when a quoted string of an IMAP response holds 8-bit octets. */
static void assert_quoted_7bit(const char *r)
{
	for (const char *p = r; *p != '\0'; p++) {
		if (*p == '{') {
			char *end;
			unsigned long long n = strtoull(p + 1, &end, 10);
			if (end != p + 1 && strncmp(end, "}\r\n", 3) == 0) {
				p = end + 2 + n;
				continue;
			}
		}
		if (*p != '"')
			continue;
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\')
				p++;
			if ((unsigned char)*p >= 0x80)
				fail_msg("8-bit octet in a quoted string at offset %td of:\n%s",
					 p - r, r);
		}
	}
}

/* Defect 11: IMAP4rev1 sessions get 8-bit values as literals, not quoted. */
static void test_rev1_quoted_strings_7bit(void **state)
{
	struct tu_session *f = *state;
	static const char msg[] =
		"From: J\xc3\xb6rg <jorg@example.net>\r\nTo: a@example.org\r\n"
		"Subject: caf\xc3\xa9 \"quoted\"\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=bb\r\n\r\n"
		"--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"
		"--bb\r\nContent-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
		"Content-Disposition: attachment; filename=\"=?utf-8?q?na=C3=AFve.pdf?=\"\r\n\r\n"
		"JVBERi0=\r\n--bb--\r\n";
	tu_deliver(f->t, NULL, msg, sizeof(msg) - 1, 0, 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	const char *r = cmd(f, "a FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)\r\n");
	assert_has(r, "a OK");
	assert_quoted_7bit(r);
	/* The values are all there, as literals. */
	assert_has(r, "{14}\r\ncaf\xc3\xa9 \"quoted\"");
	assert_has(r, "{5}\r\nJ\xc3\xb6rg");
	assert_has(r, "{12}\r\nr\xc3\xa9sum\xc3\xa9.pdf");
	assert_has(r, "{10}\r\nna\xc3\xafve.pdf");
	/* 7-bit values stay quoted. */
	assert_has(r, "\"jorg\" \"example.net\"");

	/* A session that enabled UTF8=ACCEPT gets them quoted. */
	struct tu_imap y;
	tu_imap_open(&y, f->t, true, NULL);
	assert_has(tu_imap_cmd(&y, "e ENABLE UTF8=ACCEPT\r\n"), "e OK");
	assert_has(tu_imap_cmd(&y, "s SELECT INBOX\r\n"), "s OK");
	r = tu_imap_cmd(&y, "b FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n");
	assert_has(r, "\"caf\xc3\xa9 \\\"quoted\\\"\"");
	assert_has(r, "\"r\xc3\xa9sum\xc3\xa9.pdf\"");
	tu_imap_close(&y);
}

/* Defect 12: a header with a stray unindented line, as FETCH sees it. */
static void test_fetch_malformed_header(void **state)
{
	struct tu_session *f = *state;
	static const char msg[] = "From: a@example.net\r\n"
				  "X-Long: first part\r\n"
				  "second part without indentation\r\n"
				  "Subject: kept\r\n\r\nbody\r\n";
	tu_deliver(f->t, NULL, msg, sizeof(msg) - 1, 0, 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	const char *r = cmd(f,
			    "a FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
			    "ENVELOPE)\r\n");
	char want[256];
	snprintf(want, sizeof(want), "BODY[HEADER] {%zu}\r\n%.*s", sizeof(msg) - 1 - 6,
		 (int)(sizeof(msg) - 1 - 6), msg);
	assert_has(r, want);
	assert_has(r, "{17}\r\nSubject: kept\r\n\r\n");
	assert_has(r, "ENVELOPE (NIL \"kept\" ((NIL NIL \"a\" \"example.net\"))");
	assert_has(cmd(f, "b SEARCH SUBJECT kept\r\n"), "* SEARCH 1\r\n");
}

/* Defect 13: BODY reads message parts; TEXT reads the parts' headers. */
static void test_search_body_text_parts(void **state)
{
	struct tu_session *f = *state;
	static const char bounce[] =
		"From: MAILER-DAEMON@example.net\r\nSubject: Undelivered Mail\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
		"--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
		"--r\r\nContent-Type: message/delivery-status\r\n\r\n"
		"Reporting-MTA: dns; mx.example.net\r\n\r\n"
		"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
		"--r\r\nContent-Type: message/rfc822\r\n\r\n"
		"From: a@example.org\r\nSubject: the original zanzibar\r\n\r\nOriginal quokka "
		"text\r\n"
		"--r--\r\n";
	static const char attach[] =
		"From: b@example.net\r\nSubject: with attachment\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
		"--m\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n"
		"--m\r\nContent-Type: application/pdf\r\n"
		"Content-Disposition: attachment; filename=\"quarterly-report.pdf\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
		"--m--\r\n";
	tu_deliver(f->t, NULL, bounce, sizeof(bounce) - 1, 0, 0);
	tu_deliver(f->t, NULL, attach, sizeof(attach) - 1, 0, 0);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	/* The delivery-status part is searched by BODY and TEXT. */
	assert_has(cmd(f, "a SEARCH BODY \"Reporting-MTA\"\r\n"), "* SEARCH 1\r\n");
	assert_has(cmd(f, "b SEARCH BODY \"status: 5.1.1\"\r\n"), "* SEARCH 1\r\n");
	assert_has(cmd(f, "c SEARCH TEXT gone@example.net\r\n"), "* SEARCH 1\r\n");
	/* The returned message: its text, and for TEXT its header. */
	assert_has(cmd(f, "d SEARCH BODY quokka\r\n"), "* SEARCH 1\r\n");
	assert_has(cmd(f, "e SEARCH TEXT zanzibar\r\n"), "* SEARCH 1\r\n");
	/* A part's MIME header: TEXT finds it, BODY (the content) does not. */
	assert_has(cmd(f, "g SEARCH TEXT quarterly-report\r\n"), "* SEARCH 2\r\n");
	assert_has(cmd(f, "h SEARCH BODY quarterly-report\r\n"), "* SEARCH\r\n");
	assert_has(cmd(f, "i SEARCH TEXT \"message/delivery-status\"\r\n"), "* SEARCH 1\r\n");
	/* The top header is TEXT's, not BODY's. */
	assert_has(cmd(f, "j SEARCH BODY \"with attachment\"\r\n"), "* SEARCH\r\n");
	assert_has(cmd(f, "k SEARCH TEXT \"with attachment\"\r\n"), "* SEARCH 2\r\n");
	assert_has(cmd(f, "l SEARCH BODY \"see the file\"\r\n"), "* SEARCH 2\r\n");
}

/*
 * Start "FETCH 1:3 BODY.PEEK[]" on three 100 KB messages in f's session,
 * stop after its first slice, expunge all three through the store (as
 * another session would), then finish the FETCH. Returns its output.
 */
static const char *fetch_across_expunge(struct tu_session *f, struct buf *all)
{
	struct buf body;
	buf_init(&body);
	for (int i = 0; i < 2000; i++)
		buf_printf(&body, "line %04d of a long message body, padded to fifty\r\n", i);
	uint32_t uids[3];
	for (int i = 0; i < 3; i++) {
		struct buf msg;
		buf_init(&msg);
		buf_printf(&msg, "From: x@example.net\r\nSubject: big %d\r\n\r\n%s", i,
			   buf_cstr(&body));
		uids[i] = tu_deliver(f->t, NULL, msg.data, msg.len, 0, 0);
		buf_deinit(&msg);
	}
	buf_deinit(&body);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	struct buf in;
	buf_init(&in);
	buf_clear(all);
	buf_append_str(&in, "a FETCH 1:3 BODY.PEEK[]\r\n");
	enum conn_result r = imap_session_input(f->x.s, &in, all);
	assert_int_equal(r, CONN_MORE);
	assert_lacks(buf_cstr(all), "a OK");
	const char *error;
	assert_int_equal(store_message_expunge(f->t->store, f->t->inbox, uids, 3, &error), 0);
	while (r == CONN_MORE)
		r = imap_session_resume(f->x.s, all);
	buf_deinit(&in);
	return buf_cstr(all);
}

/* Defect 14: a message expunged meanwhile stays readable (grace period). */
static void test_fetch_during_expunge_held(void **state)
{
	struct tu_session *f = *state;
	struct buf all;
	buf_init(&all);
	store_blob_grace_set(3600);
	const char *r = fetch_across_expunge(f, &all);
	store_blob_grace_set(0);
	assert_has(r, "* 1 FETCH (BODY[] {");
	assert_has(r, "* 2 FETCH (BODY[] {");
	assert_has(r, "* 3 FETCH (BODY[] {");
	assert_has(r, "Subject: big 2\r\n");
	assert_lacks(r, "NIL");
	assert_has(r, "a OK FETCH completed");
	/* The blobs are held: no listing refers to them, the files are there. */
	assert_int_equal(tu_count_blobs(f->t->dir), 3);
	/* The session learns of the expunge at its next command. */
	assert_has(cmd(f, "b NOOP\r\n"), "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n");
	/* Holds last their time: a later expunge without a grace period
	 * deletes its own blob only. */
	tu_deliver_subject(f->t, NULL, "small", 0);
	const char *error;
	assert_int_equal(
		store_message_expunge(f->t->store, f->t->inbox, (uint32_t[]){4}, 1, &error), 0);
	assert_int_equal(tu_count_blobs(f->t->dir), 3);
	buf_deinit(&all);
}

/* Defect 14: without a grace period, a clear NO, never NIL with OK. */
static void test_fetch_during_expunge_unheld(void **state)
{
	struct tu_session *f = *state;
	struct buf all;
	buf_init(&all);
	const char *r = fetch_across_expunge(f, &all);
	assert_has(r, "* 1 FETCH (BODY[] {");
	assert_lacks(r, "NIL");
	assert_lacks(r, "* 3 FETCH");
	assert_has(r, "a NO [EXPUNGEISSUED]");
	assert_int_equal(tu_count_blobs(f->t->dir), 0);
	buf_deinit(&all);
}

/* Defect 1: \Recent for IMAP4rev1 sessions, one session per message. */
static void test_recent(void **state)
{
	struct tu_session *f = *state;
	f->t->deliver_recent = true;
	for (int i = 0; i < 3; i++)
		tu_deliver_subject(f->t, NULL, "r", 0);
	struct tu_imap b, c;
	tu_imap_open(&b, f->t, true, NULL);
	tu_imap_open(&c, f->t, true, NULL);
	assert_has(tu_imap_cmd(&b, "s STATUS INBOX (RECENT MESSAGES)\r\n"),
		   "(RECENT 3 MESSAGES 3)");
	/* The first SELECT gets them. */
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "* 3 RECENT\r\n");
	assert_has(cmd(f, "a FETCH 1:* FLAGS\r\n"), "* 2 FETCH (FLAGS (\\Recent))\r\n");
	assert_has(cmd(f, "b STORE 2 +FLAGS (\\Seen)\r\n"), "* 2 FETCH (FLAGS (\\Seen \\Recent))");
	assert_has(cmd(f, "c SEARCH RECENT\r\n"), "* SEARCH 1 2 3\r\n");
	assert_has(cmd(f, "d SEARCH NEW\r\n"), "* SEARCH 1 3\r\n");
	assert_has(cmd(f, "e SEARCH OLD\r\n"), "* SEARCH\r\n");
	assert_has(cmd(f, "f STORE 1 +FLAGS (\\Recent)\r\n"), "f BAD");
	/* Nobody else does. */
	assert_has(tu_imap_cmd(&b, "t STATUS INBOX (RECENT)\r\n"), "(RECENT 0)");
	assert_has(tu_imap_cmd(&b, "s SELECT INBOX\r\n"), "* 0 RECENT\r\n");
	assert_has(tu_imap_cmd(&b, "a FETCH 1 FLAGS\r\n"), "* 1 FETCH (FLAGS ())\r\n");
	assert_has(tu_imap_cmd(&b, "b SEARCH OLD\r\n"), "* SEARCH 1 2 3\r\n");
	assert_has(tu_imap_cmd(&b, "c SEARCH RECENT\r\n"), "* SEARCH\r\n");
	/* A new message: STATUS counts it until a session is shown it. */
	tu_deliver_subject(f->t, NULL, "r4", 0);
	assert_has(tu_imap_cmd(&c, "t STATUS INBOX (RECENT)\r\n"), "(RECENT 1)");
	/* EXAMINE shows it without taking it. */
	assert_has(tu_imap_cmd(&c, "e EXAMINE INBOX\r\n"), "* 1 RECENT\r\n");
	assert_has(tu_imap_cmd(&c, "f SEARCH RECENT\r\n"), "* SEARCH 4\r\n");
	const char *r = tu_imap_cmd(&b, "d NOOP\r\n");
	assert_has(r, "* 4 EXISTS\r\n* 1 RECENT\r\n");
	r = cmd(f, "g NOOP\r\n");
	assert_has(r, "* 4 EXISTS\r\n* 3 RECENT\r\n");
	assert_has(cmd(f, "h SEARCH RECENT\r\n"), "* SEARCH 1 2 3\r\n");
	assert_has(tu_imap_cmd(&b, "e FETCH 4 FLAGS\r\n"), "* 4 FETCH (FLAGS (\\Recent))");
	/* \Recent stays for the session, not across sessions. */
	assert_has(tu_imap_cmd(&b, "f SELECT INBOX\r\n"), "* 0 RECENT\r\n");
	tu_imap_close(&b);
	tu_imap_close(&c);
	/* IMAP4rev2 sessions neither see nor take \Recent. */
	tu_deliver_subject(f->t, NULL, "r5", 0);
	tu_imap_open(&c, f->t, true, NULL);
	assert_has(tu_imap_cmd(&c, "e ENABLE IMAP4rev2\r\n"), "e OK");
	r = tu_imap_cmd(&c, "s SELECT INBOX\r\n");
	assert_lacks(r, "RECENT");
	assert_lacks(tu_imap_cmd(&c, "a FETCH 5 FLAGS\r\n"), "Recent");
	tu_imap_close(&c);
	assert_has(cmd(f, "i NOOP\r\n"), "* 5 EXISTS\r\n* 4 RECENT\r\n");
}

/* Defect 14: a message another session expunged is fetched as it was. */
static void test_fetch_expunged_by_other(void **state)
{
	struct tu_session *f = *state;
	for (int i = 0; i < 3; i++)
		tu_deliver_subject(f->t, NULL, i == 1 ? "second" : "other", 0);
	store_blob_grace_set(3600);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	struct tu_imap y;
	tu_imap_open(&y, f->t, true, "s SELECT INBOX\r\n");
	assert_has(tu_imap_cmd(&y, "a STORE 2 +FLAGS.SILENT (\\Deleted $Kw)\r\n"), "a OK");
	assert_has(tu_imap_cmd(&y, "b EXPUNGE\r\n"), "* 2 EXPUNGE");
	/* This session was not told: FETCH by sequence number answers it. */
	const char *r = cmd(f,
			    "a FETCH 2 (UID FLAGS RFC822.SIZE ENVELOPE "
			    "BODY.PEEK[HEADER.FIELDS (Subject)])\r\n");
	assert_has(r, "* 2 FETCH (UID 2 FLAGS (\\Deleted $Kw) RFC822.SIZE ");
	assert_has(r, "\"second\"");
	assert_has(r, "{19}\r\nSubject: second\r\n\r\n");
	assert_has(r, "a OK FETCH completed");
	assert_lacks(r, "EXPUNGE");
	/* Not PEEK: \Seen cannot be set on it any more, the data still comes. */
	r = cmd(f, "b FETCH 1:3 (BODY[TEXT])\r\n");
	assert_has(r, "* 2 FETCH (BODY[TEXT] {8}\r\nHello.\r\n)");
	assert_has(r, "b OK");
	/* Told at the next command that allows it; then the numbers move. */
	assert_has(cmd(f, "c NOOP\r\n"), "* 2 EXPUNGE\r\n");
	assert_has(cmd(f, "d FETCH 2 (UID)\r\n"), "* 2 FETCH (UID 3)");
	store_blob_grace_set(0);
	tu_imap_close(&y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bracket_in_mailbox_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_nil_keyword, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_binary_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_maximum_before_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_condstore_enable_announces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sort_ascii_casemap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_does_not_subscribe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_into_selected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_keyword_announced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rev1_quoted_strings_7bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_malformed_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_body_text_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_during_expunge_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_during_expunge_unheld, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_expunged_by_other, setup, teardown),
	};
	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
