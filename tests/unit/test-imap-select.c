/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the selected-mailbox lifecycle: SELECT / EXAMINE (with
 * CONDSTORE and QRESYNC), APPEND, EXPUNGE / UID EXPUNGE, CLOSE / UNSELECT,
 * CHECK and IDLE, driven through imap_session_input with real command
 * bytes against a real store in a mkdtemp directory. Two sessions on one
 * mailbox check that each sees the other's changes where the RFC allows,
 * and IDLE is woken through the store's notification hub and the engine's
 * poll hook. Bad input is tested alongside: wrong states, bad dates,
 * flags and sets, read-only mailboxes, oversized literals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int setup(void **state)
{
	struct tu_fixture *f = tu_fixture_create("imap-select", true);
	if (f == NULL)
		return -1;
	f->config.max_message_size = 4096;
	*state = f;
	return 0;
}

/* --- helpers --------------------------------------------------------------- */

static uint32_t deliver(struct tu_fixture *f, const char *subject, uint32_t flags)
{
	return tu_deliver_subject(f, NULL, subject, flags);
}

static void set_flags(struct tu_fixture *f, uint32_t uid, uint32_t flags)
{
	const char *error = NULL;
	assert_int_equal(store_message_set_flags(f->store, f->inbox, uid, flags, &error), 0);
}

static size_t count_messages(struct tu_fixture *f)
{
	struct store_message *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list(f->store, f->inbox, &msgs, &n), 0);
	free(msgs);
	return n;
}

static const char *feed(struct tu_imap *x, const char *bytes, size_t len)
{
	return tu_imap_feed(x, bytes, len);
}

static const char *cmd(struct tu_imap *x, const char *line)
{
	return tu_imap_cmd(x, line);
}

static void sess_open(struct tu_fixture *f, struct tu_imap *x, bool login)
{
	tu_imap_open(x, f, login, NULL);
}

/* --- SELECT / EXAMINE --------------------------------------------------------- */

static void test_select_responses(void **state)
{
	struct tu_fixture *f = *state;
	deliver(f, "one", STORE_FLAG_SEEN);
	deliver(f, "two", 0);
	deliver(f, "three", STORE_FLAG_SEEN);
	struct tu_imap x;
	sess_open(f, &x, true);
	const char *r = cmd(&x, "a SELECT inbox\r\n");
	assert_has(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
	assert_has(r, "* 3 EXISTS\r\n");
	assert_has(r, "* 0 RECENT\r\n");
	assert_has(r, "* OK [UNSEEN 2]");
	assert_has(r, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]");
	assert_has(r, "* OK [UIDVALIDITY ");
	assert_has(r, "* OK [UIDNEXT 4]");
	assert_has(r, "* OK [HIGHESTMODSEQ ");
	assert_has(r, "* OK [MAILBOXID (M");
	assert_has(r, "a OK [READ-WRITE] SELECT completed\r\n");
	assert_lacks(r, "[CLOSED]");
	assert_int_equal(x.s->state, IMAP_STATE_SELECTED);

	/* Another SELECT closes the first mailbox and says so first. */
	r = cmd(&x, "b SELECT Sent\r\n");
	assert_has(r, "* OK [CLOSED]");
	assert_true(strstr(r, "[CLOSED]") < strstr(r, "* 0 EXISTS"));
	assert_has(r, "b OK [READ-WRITE]");
	assert_lacks(r, "UNSEEN");

	/* A failed SELECT leaves the client in the authenticated state. */
	r = cmd(&x, "c SELECT Nonexistent\r\n");
	assert_has(r, "* OK [CLOSED]");
	assert_has(r, "c NO [NONEXISTENT]");
	assert_int_equal(x.s->state, IMAP_STATE_AUTHENTICATED);
	assert_has(cmd(&x, "d CLOSE\r\n"), "d BAD");
	tu_imap_close(&x);
}

static void test_select_keywords_rev2(void **state)
{
	struct tu_fixture *f = *state;
	uint32_t uid = deliver(f, "one", 0);
	const char *kw[] = {"$Label1"};
	const char *error = NULL;
	assert_int_equal(store_message_set_flags_keywords(f->store, f->inbox, uid, 0, kw, 1, 0,
							  NULL, &error),
			 1);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "e ENABLE IMAP4rev2\r\n"), "e OK");
	const char *r = cmd(&x, "a SELECT INBOX\r\n");
	assert_has(r, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n");
	assert_has(r, "\\Draft $Label1 \\*)]");
	/* IMAP4rev2 dropped RECENT and UNSEEN. */
	assert_lacks(r, "RECENT");
	assert_lacks(r, "UNSEEN");
	tu_imap_close(&x);
}

static void test_examine_read_only(void **state)
{
	struct tu_fixture *f = *state;
	uint32_t uid = deliver(f, "one", STORE_FLAG_DELETED);
	struct tu_imap x;
	sess_open(f, &x, true);
	const char *r = cmd(&x, "a EXAMINE INBOX\r\n");
	assert_has(r, "* OK [PERMANENTFLAGS ()]");
	assert_has(r, "a OK [READ-ONLY] EXAMINE completed");
	assert_true(x.s->view->read_only);
	assert_has(cmd(&x, "b EXPUNGE\r\n"), "b NO [READ-ONLY]");
	assert_has(cmd(&x, "c UID EXPUNGE 1\r\n"), "c NO [READ-ONLY]");
	/* CLOSE on a read-only mailbox removes nothing. */
	assert_has(cmd(&x, "d CLOSE\r\n"), "d OK");
	assert_int_equal(count_messages(f), 1);
	assert_int_equal(x.s->state, IMAP_STATE_AUTHENTICATED);
	(void)uid;
	tu_imap_close(&x);
}

static void test_select_bad_input(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, false);
	assert_has(cmd(&x, "a SELECT INBOX\r\n"), "a BAD");
	assert_has(cmd(&x, "a EXAMINE INBOX\r\n"), "a BAD");
	assert_has(cmd(&x, "l LOGIN a@example.org secret\r\n"), "l OK");
	assert_has(cmd(&x, "b SELECT\r\n"), "b BAD");
	assert_has(cmd(&x, "c SELECT INBOX (FOO)\r\n"), "c BAD");
	assert_has(cmd(&x, "d SELECT INBOX (CONDSTORE) extra\r\n"), "d BAD");
	/* QRESYNC needs ENABLE QRESYNC first (RFC 7162 3.2.5). */
	assert_has(cmd(&x, "e SELECT INBOX (QRESYNC (1 1))\r\n"), "e BAD");
	assert_has(cmd(&x, "f SELECT \"a*b\"\r\n"), "f NO");
	assert_has(cmd(&x, "g SELECT \"&Jjo\"\r\n"), "g NO");
	assert_has(cmd(&x, "q ENABLE QRESYNC\r\n"), "q OK");
	x.s->bad_count = 0; /* ten BADs end the session */
	assert_has(cmd(&x, "h SELECT INBOX (QRESYNC (0 1))\r\n"), "h BAD");
	assert_has(cmd(&x, "i SELECT INBOX (QRESYNC (1))\r\n"), "i BAD");
	assert_has(cmd(&x, "j SELECT INBOX (QRESYNC (1 x))\r\n"), "j BAD");
	assert_has(cmd(&x, "k SELECT INBOX (QRESYNC (1 1 1:x))\r\n"), "k BAD");
	assert_has(cmd(&x, "m SELECT INBOX (QRESYNC (1 1 1:5 (1)))\r\n"), "m BAD");
	assert_has(cmd(&x, "n SELECT INBOX (QRESYNC (1 1) QRESYNC (1 1))\r\n"), "n BAD");
	/* None of these selected anything. */
	assert_int_equal(x.s->state, IMAP_STATE_AUTHENTICATED);
	/* EXPUNGE, CHECK, CLOSE, UNSELECT need a selected mailbox. */
	assert_has(cmd(&x, "o EXPUNGE\r\n"), "o BAD");
	assert_has(cmd(&x, "p CHECK\r\n"), "p BAD");
	assert_has(cmd(&x, "r UNSELECT\r\n"), "r BAD");
	tu_imap_close(&x);
}

static void test_select_condstore(void **state)
{
	struct tu_fixture *f = *state;
	deliver(f, "one", 0);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_false(x.s->condstore);
	const char *r = cmd(&x, "a SELECT INBOX (CONDSTORE)\r\n");
	assert_has(r, "* OK [HIGHESTMODSEQ ");
	assert_has(r, "a OK [READ-WRITE]");
	assert_true(x.s->condstore);
	tu_imap_close(&x);
}

static void test_select_qresync(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 4; i++)
		deliver(f, "m", 0);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "INBOX", &mb), 1);
	uint64_t known = mb.highestmodseq;
	const char *error = NULL;
	uint32_t two = 2;
	assert_int_equal(store_message_expunge(f->store, f->inbox, &two, 1, &error), 0);
	set_flags(f, 3, STORE_FLAG_SEEN);

	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "q ENABLE QRESYNC\r\n"), "q OK");
	char line[256];
	snprintf(line, sizeof(line), "a SELECT INBOX (QRESYNC (%u %llu))\r\n", mb.uidvalidity,
		 (unsigned long long)known);
	const char *r = cmd(&x, line);
	assert_has(r, "* 3 EXISTS\r\n");
	assert_has(r, "* VANISHED (EARLIER) 2\r\n");
	assert_has(r, "* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (");
	assert_true(strstr(r, "VANISHED") < strstr(r, "FETCH"));
	assert_has(r, "a OK [READ-WRITE]");

	/* Known UIDs that exclude 2: nothing vanished that the client knew. */
	snprintf(line, sizeof(line), "b SELECT INBOX (QRESYNC (%u %llu 1,3:4 (1:3 1,3:4)))\r\n",
		 mb.uidvalidity, (unsigned long long)known);
	r = cmd(&x, line);
	assert_has(r, "* OK [CLOSED]");
	assert_lacks(r, "VANISHED");
	assert_has(r, "FETCH (UID 3");

	/* Another UIDVALIDITY: the client must resync in full, no hints. */
	snprintf(line, sizeof(line), "c EXAMINE INBOX (QRESYNC (%u 1))\r\n", mb.uidvalidity + 1);
	r = cmd(&x, line);
	assert_lacks(r, "VANISHED");
	assert_lacks(r, "FETCH");
	assert_has(r, "c OK [READ-ONLY]");

	/* Expunges are now VANISHED, not EXPUNGE. */
	assert_has(cmd(&x, "d SELECT INBOX\r\n"), "d OK");
	set_flags(f, 4, STORE_FLAG_DELETED);
	r = cmd(&x, "e EXPUNGE\r\n");
	assert_has(r, "* VANISHED 4\r\n");
	assert_lacks(r, "EXPUNGE\r\n");
	assert_has(r, "e OK [HIGHESTMODSEQ ");
	tu_imap_close(&x);
}

/* --- APPEND ----------------------------------------------------------------- */

static void test_append(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, true);
	const char *msg = "Subject: appended\r\n\r\nBody\r\n";
	char line[256];
	snprintf(line, sizeof(line),
		 "a APPEND INBOX (\\Seen \\Flagged $Work) \"05-Mar-2024 10:11:12 +0100\" {%zu}\r\n",
		 strlen(msg));
	const char *r = cmd(&x, line);
	assert_has(r, "+ Ready for literal\r\n");
	assert_string_equal(cmd(&x, msg), ""); /* the command is not over yet */
	r = cmd(&x, "\r\n");
	assert_has(r, "a OK [APPENDUID ");
	assert_has(r, " 1] APPEND completed");

	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list_full(f->store, f->inbox, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].msg.flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_string_equal(msgs[0].keywords, "$Work");
	/* 2024-03-05 09:11:12 UTC */
	assert_int_equal((long long)msgs[0].msg.internal_date, 1709629872LL);
	assert_int_equal(msgs[0].msg.size, strlen(msg));
	struct store_parsed_r pr = {0};
	assert_int_equal(store_blob_parsed(f->store, msgs[0].msg.blob_id, &pr), 1);
	assert_non_null(pr.envelope);
	assert_non_null(strstr(pr.envelope, "\"appended\""));
	assert_non_null(pr.bodystructure);
	store_parsed_r_free(&pr);
	store_message_ex_free(&msgs, n);

	/* Space-padded day, no flags, LITERAL+; the date is honoured. */
	r = cmd(&x, "b APPEND INBOX \" 1-Jan-2020 00:00:00 -0000\" {8+}\r\nX: y\r\n\r\n\r\n");
	assert_has(r, "b OK [APPENDUID ");
	assert_lacks(r, "+ Ready");
	/* Only the date, no flags; then only flags. */
	assert_has(cmd(&x, "c APPEND INBOX () {8+}\r\nX: y\r\n\r\n\r\n"), "c OK [APPENDUID");
	assert_int_equal(count_messages(f), 3);
	tu_imap_close(&x);
}

/*
 * MULTIAPPEND (RFC 3502) without a store writer: one direct transaction;
 * each message keeps its own flags and date; APPENDUID gives the UID set.
 */
static void test_multiappend(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a CAPABILITY\r\n"), " MULTIAPPEND");
	const char *r = cmd(&x,
			    "b APPEND INBOX {8+}\r\nX: 1\r\n\r\n (\\Flagged $Work) "
			    "\" 1-Jan-2020 00:00:00 -0000\" {8+}\r\nX: 2\r\n\r\n "
			    "UTF8 (~{8+}\r\nX: 3\r\n\r\n)\r\n");
	assert_has(r, "b OK [APPENDUID ");
	assert_has(r, " 1:3] APPEND completed");
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list_full(f->store, f->inbox, &msgs, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(msgs[0].msg.flags, 0);
	assert_int_equal(msgs[1].msg.flags, STORE_FLAG_FLAGGED);
	assert_string_equal(msgs[1].keywords, "$Work");
	assert_int_equal(msgs[1].msg.internal_date, 1577836800);
	assert_int_equal(msgs[2].msg.size, 8);
	store_message_ex_free(&msgs, n);
	/* A bad date in the second message: BAD, nothing stored. */
	r = cmd(&x, "c APPEND INBOX {8+}\r\nX: 1\r\n\r\n \"bad\" {8+}\r\nX: 2\r\n\r\n\r\n");
	assert_has(r, "c BAD");
	/* Into a mailbox that does not exist: TRYCREATE, nothing stored. */
	r = cmd(&x, "d APPEND Nowhere {8+}\r\nX: 1\r\n\r\n {8+}\r\nX: 2\r\n\r\n\r\n");
	assert_has(r, "d NO [TRYCREATE]");
	assert_int_equal(count_messages(f), 3);
	tu_imap_close(&x);
}

/* The blob of message i (0-based) of INBOX, malloc'd. */
static char *inbox_body(struct tu_fixture *f, size_t i)
{
	struct store_message *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list(f->store, f->inbox, &msgs, &n), 0);
	assert_true(i < n);
	int fd = store_blob_open(f->store, msgs[i].blob_id);
	assert_true(fd >= 0);
	char *b = xcalloc(1, msgs[i].size + 1);
	assert_int_equal(read(fd, b, msgs[i].size), (ssize_t)msgs[i].size);
	close(fd);
	free(msgs);
	return b;
}

/*
 * CATENATE (RFC 4469): TEXT literals and URLs of the user's messages and
 * their sections; bad URLs answer NO [BADURL url] and append nothing; a
 * result past max_message_size (4096 here) is NO [TOOBIG].
 */
static void test_catenate(void **state)
{
	struct tu_fixture *f = *state;
	static const char msg[] = "Subject: src\r\n\r\nthe body\r\n";
	tu_deliver(f, "INBOX", msg, sizeof(msg) - 1, 0, 0);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a CAPABILITY\r\n"), " CATENATE");
	const char *r = cmd(&x,
			    "b APPEND INBOX CATENATE (TEXT {14+}\r\nSubject: new\r\n"
			    " URL \"/INBOX/;UID=1/;SECTION=TEXT\" URL /INBOX/;uid=1)\r\n");
	assert_has(r, "b OK [APPENDUID ");
	char *b = inbox_body(f, 1);
	assert_string_equal(b, "Subject: new\r\nthe body\r\nSubject: src\r\n\r\nthe body\r\n");
	free(b);
	/* MULTIAPPEND with a CATENATE message beside a literal. */
	r = cmd(&x,
		"c APPEND INBOX (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY=%31/;UID=1\")"
		" {8+}\r\nX: y\r\n\r\n\r\n");
	assert_has(r, "c NO [BADURL /INBOX;UIDVALIDITY=%31/;UID=1]");
	static const char *const bad[] = {
		"/INBOX/;UID=9",
		"/Nowhere/;UID=1",
		"imap://demo@h/INBOX/;UID=1",
		"/INBOX/;UID=1/;SECTION=7",
		"/INBOX/;UID=1/;PARTIAL=0.5",
		"/INBOX;UIDVALIDITY=1/;UID=1",
		"//h/INBOX/;UID=1",
		"/INBOX/;UID=0",
		"/IN%00BOX/;UID=1",
		"/INBOX/;UID=1/;SECTION=",
	};
	char line[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "d APPEND INBOX CATENATE (URL \"%s\")\r\n", bad[i]);
		r = cmd(&x, line);
		char want[128];
		snprintf(want, sizeof(want), "d NO [BADURL %s]", bad[i]);
		if (strstr(r, want) == NULL)
			fail_msg("%s: %s", bad[i], r);
	}
	assert_int_equal(count_messages(f), 2);
	/* Malformed part lists are BAD. */
	assert_has(cmd(&x, "e APPEND INBOX CATENATE ()\r\n"), "e BAD");
	assert_has(cmd(&x, "e APPEND INBOX CATENATE (TEXT \"x\")\r\n"), "e BAD");
	assert_has(cmd(&x, "e APPEND INBOX CATENATE (URL)\r\n"), "e BAD");
	x.s->bad_count = 0;
	/* Past 4096 bytes: TOOBIG. */
	struct buf big;
	buf_init(&big);
	buf_append_str(&big, "f APPEND INBOX CATENATE (");
	for (int i = 0; i < 200; i++)
		buf_append_str(&big, "URL /INBOX/;UID=1 ");
	buf_append_str(&big, "TEXT {1+}\r\nx)\r\n");
	assert_has(cmd(&x, buf_cstr(&big)), "f NO [TOOBIG]");
	buf_deinit(&big);
	assert_int_equal(count_messages(f), 2);
	tu_imap_close(&x);
}

static void test_append_selected_exists(void **state)
{
	struct tu_fixture *f = *state;
	deliver(f, "one", 0);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a SELECT INBOX\r\n"), "* 1 EXISTS");
	const char *r = cmd(&x, "b APPEND INBOX {8+}\r\nX: y\r\n\r\n\r\n");
	assert_has(r, "* 2 EXISTS\r\n");
	assert_true(strstr(r, "EXISTS") < strstr(r, "b OK [APPENDUID"));
	/* Appending to a read-only (EXAMINEd) mailbox is allowed: not a change of it. */
	assert_has(cmd(&x, "c EXAMINE INBOX\r\n"), "c OK");
	r = cmd(&x, "d APPEND INBOX {8+}\r\nX: y\r\n\r\n\r\n");
	assert_has(r, "* 3 EXISTS\r\n");
	assert_has(r, "d OK [APPENDUID");
	tu_imap_close(&x);
}

static void test_append_binary_utf8(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, true);
	static const char bin[] = "a APPEND INBOX ~{12+}\r\nX: y\r\n\r\n\0z\r\n\r\n";
	const char *r = feed(&x, bin, sizeof(bin) - 1);
	assert_has(r, "a OK [APPENDUID");
	static const char utf8[] = "b APPEND INBOX UTF8 (~{8+}\r\nX: y\r\n\r\n)\r\n";
	r = feed(&x, utf8, sizeof(utf8) - 1);
	assert_has(r, "b OK [APPENDUID");
	assert_int_equal(count_messages(f), 2);
	/* A NUL in an ordinary literal is refused by the reader. */
	static const char nul[] = "c APPEND INBOX {8+}\r\nX:\0y\r\n\r\n\r\n";
	r = feed(&x, nul, sizeof(nul) - 1);
	assert_has(r, "c BAD");
	assert_int_equal(count_messages(f), 2);
	tu_imap_close(&x);
}

static void test_append_bad_input(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, true);
	static const char *const bad_dates[] = {
		"5-Mar-2024 10:11:12 +0100",   /* day not padded */
		"05-Mar-24 10:11:12 +0100",    /* two-digit year */
		"05-Foo-2024 10:11:12 +0100",  /* month */
		"31-Apr-2024 10:11:12 +0100",  /* no such day */
		"29-Feb-2023 10:11:12 +0100",  /* not a leap year */
		"05-Mar-2024 24:00:00 +0100",  /* hour */
		"05-Mar-2024 10:60:12 +0100",  /* minute */
		"05-Mar-2024 10:11:12 0100",   /* zone sign */
		"05-Mar-2024 10:11:12 +01:00", /* zone form */
		"05-Mar-2024 10:11:12 +0160",  /* zone minutes */
		"05-Mar-2024 10:11:12",        /* no zone */
		"05-Mar-2024T10:11:12 +0100",  /* separator */
		"00-Mar-2024 10:11:12 +0100",  /* day 0 */
		"",
	};
	char line[256];
	for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
		snprintf(line, sizeof(line), "d APPEND INBOX \"%s\" {8+}\r\nX: y\r\n\r\n\r\n",
			 bad_dates[i]);
		const char *r = cmd(&x, line);
		if (strstr(r, "d BAD") == NULL)
			fail_msg("date \"%s\" accepted: %s", bad_dates[i], r);
		x.s->bad_count = 0;
	}
	/* 29 Feb of a leap year is fine. */
	assert_has(
		cmd(&x, "e APPEND INBOX \"29-Feb-2024 23:59:59 -1200\" {8+}\r\nX: y\r\n\r\n\r\n"),
		"e OK");
	/* Flags. */
	assert_has(cmd(&x, "f APPEND INBOX (\\Foo) {8+}\r\nX: y\r\n\r\n\r\n"), "f BAD");
	assert_has(cmd(&x, "g APPEND INBOX (\"quoted\") {8+}\r\nX: y\r\n\r\n\r\n"), "g BAD");
	assert_has(cmd(&x, "h APPEND INBOX (a]b) {8+}\r\nX: y\r\n\r\n\r\n"), "h BAD");
	x.s->bad_count = 0;
	/* \Recent is the server's business: ignored, not refused. */
	assert_has(cmd(&x, "i APPEND INBOX (\\Recent) {8+}\r\nX: y\r\n\r\n\r\n"), "i OK");
	/* The message must be a literal; after it only another message. */
	assert_has(cmd(&x, "j APPEND INBOX \"X: y\"\r\n"), "j BAD");
	assert_has(cmd(&x, "k APPEND INBOX\r\n"), "k BAD");
	size_t before = count_messages(f);
	assert_has(cmd(&x, "m APPEND INBOX {8+}\r\nX: y\r\n\r\n junk\r\n"), "m BAD");
	assert_has(cmd(&x, "m APPEND INBOX {8+}\r\nX: y\r\n\r\n (\\Seen)\r\n"), "m BAD");
	/* MULTIAPPEND, all or nothing: an empty second message fails both. */
	assert_has(cmd(&x, "m APPEND INBOX {8+}\r\nX: y\r\n\r\n {0+}\r\n\r\n"), "m NO");
	assert_int_equal(count_messages(f), before);
	x.s->bad_count = 0;
	/* Missing mailbox: TRYCREATE. Invalid name: NO, no TRYCREATE. */
	const char *r = cmd(&x, "n APPEND Nowhere {8+}\r\nX: y\r\n\r\n\r\n");
	assert_has(r, "n NO [TRYCREATE]");
	r = cmd(&x, "o APPEND \"a//b\" {8+}\r\nX: y\r\n\r\n\r\n");
	assert_has(r, "o NO");
	assert_lacks(r, "TRYCREATE");
	/* Empty message. */
	assert_has(cmd(&x, "p APPEND INBOX {0}\r\n\r\n"), "p NO");
	/* Too big (4096 here): NO [TOOBIG] instead of "+", nothing read. */
	r = cmd(&x, "q APPEND INBOX {5000}\r\n");
	assert_has(r, "q NO [TOOBIG]");
	assert_lacks(r, "+ Ready");
	assert_has(cmd(&x, "s NOOP\r\n"), "s OK");
	/* Before login: the reader's small caps, and the state check. */
	struct tu_imap y;
	sess_open(f, &y, false);
	assert_has(cmd(&y, "a APPEND INBOX {8+}\r\nX: y\r\n\r\n\r\n"), "a BAD");
	tu_imap_close(&y);
	assert_int_equal(count_messages(f), 2);
	tu_imap_close(&x);
}

static void test_append_quota(void **state)
{
	struct tu_fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_account_set_quota(f->store, "a@example.org", 10, &error), 0);
	struct tu_imap x;
	sess_open(f, &x, true);
	const char *r = cmd(&x, "a APPEND INBOX {30+}\r\nSubject: x\r\n\r\n0123456789abcd\r\n\r\n");
	assert_has(r, "a NO [OVERQUOTA]");
	assert_int_equal(count_messages(f), 0);
	tu_imap_close(&x);
}

/* --- EXPUNGE, CLOSE, UNSELECT, CHECK ----------------------------------------------- */

static void test_expunge(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 5; i++)
		deliver(f, "m", 0);
	set_flags(f, 2, STORE_FLAG_DELETED);
	set_flags(f, 3, STORE_FLAG_DELETED | STORE_FLAG_SEEN);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a SELECT INBOX\r\n"), "* 5 EXISTS");
	const char *r = cmd(&x, "b EXPUNGE\r\n");
	/* 2 then 3 (now 2): each number counts the removals before it. */
	assert_has(r, "* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nb OK");
	assert_lacks(r, "HIGHESTMODSEQ");
	assert_int_equal(x.s->view->count, 3);
	assert_int_equal(count_messages(f), 3);
	/* Nothing flagged: nothing happens. */
	r = cmd(&x, "c EXPUNGE\r\n");
	assert_string_equal(r, "c OK Expunge completed\r\n");
	assert_has(cmd(&x, "d EXPUNGE 1\r\n"), "d BAD");
	tu_imap_close(&x);
}

static void test_uid_expunge(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 5; i++)
		deliver(f, "m", STORE_FLAG_DELETED);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a SELECT INBOX (CONDSTORE)\r\n"), "a OK");
	/* Only deleted messages in the set go: 4 (1 stays though deleted). */
	const char *r = cmd(&x, "b UID EXPUNGE 4,9:12\r\n");
	assert_has(r, "* 4 EXPUNGE\r\n");
	assert_has(r, "b OK [HIGHESTMODSEQ ");
	assert_int_equal(count_messages(f), 4);
	/* '*' is the highest UID. */
	r = cmd(&x, "c UID EXPUNGE *\r\n");
	assert_has(r, "* 4 EXPUNGE\r\n");
	assert_int_equal(count_messages(f), 3);
	assert_has(cmd(&x, "d UID EXPUNGE\r\n"), "d BAD");
	assert_has(cmd(&x, "e UID EXPUNGE 0\r\n"), "e BAD");
	assert_has(cmd(&x, "f UID EXPUNGE 1:x\r\n"), "f BAD");
	assert_has(cmd(&x, "g UID EXPUNGE 1 2\r\n"), "g BAD");
	assert_int_equal(count_messages(f), 3);
	tu_imap_close(&x);
}

static void test_close_unselect(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 3; i++)
		deliver(f, "m", 0);
	set_flags(f, 2, STORE_FLAG_DELETED);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a SELECT INBOX\r\n"), "a OK");
	/* UNSELECT removes nothing. */
	const char *r = cmd(&x, "b UNSELECT\r\n");
	assert_string_equal(r, "b OK UNSELECT completed\r\n");
	assert_int_equal(x.s->state, IMAP_STATE_AUTHENTICATED);
	assert_int_equal(count_messages(f), 3);
	/* CLOSE removes \Deleted silently. */
	assert_has(cmd(&x, "c SELECT INBOX\r\n"), "c OK");
	assert_has(cmd(&x, "d CLOSE x\r\n"), "d BAD");
	r = cmd(&x, "e CLOSE\r\n");
	assert_string_equal(r, "e OK CLOSE completed\r\n");
	assert_int_equal(x.s->state, IMAP_STATE_AUTHENTICATED);
	assert_int_equal(count_messages(f), 2);
	assert_has(cmd(&x, "f UNSELECT\r\n"), "f BAD");
	tu_imap_close(&x);
}

static void test_check(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a CHECK\r\n"), "a BAD");
	assert_has(cmd(&x, "b SELECT INBOX\r\n"), "b OK");
	deliver(f, "late", 0);
	const char *r = cmd(&x, "c CHECK\r\n");
	assert_has(r, "* 1 EXISTS\r\n* 0 RECENT\r\nc OK");
	assert_has(cmd(&x, "d CHECK now\r\n"), "d BAD");
	tu_imap_close(&x);
}

/* --- two sessions ------------------------------------------------------------------ */

static void test_two_sessions(void **state)
{
	struct tu_fixture *f = *state;
	deliver(f, "one", 0);
	deliver(f, "two", 0);
	struct tu_imap a, b;
	sess_open(f, &a, true);
	sess_open(f, &b, true);
	assert_has(cmd(&a, "a SELECT INBOX\r\n"), "* 2 EXISTS");
	assert_has(cmd(&b, "a SELECT INBOX\r\n"), "* 2 EXISTS");

	/* a appends; b hears of it at its next command. */
	/* The first session shown it (a) gets its \Recent. */
	assert_has(cmd(&a, "b APPEND INBOX {8+}\r\nX: y\r\n\r\n\r\n"), "* 3 EXISTS\r\n* 1 RECENT");
	assert_has(cmd(&b, "b NOOP\r\n"), "* 3 EXISTS\r\n* 0 RECENT\r\nb OK");
	assert_string_equal(cmd(&b, "c NOOP\r\n"), "c OK NOOP completed\r\n");

	/* a flags 1 deleted and expunges; b gets FETCH then EXPUNGE. */
	set_flags(f, 1, STORE_FLAG_DELETED);
	assert_has(cmd(&b, "d NOOP\r\n"), "* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\n");
	/* a never saw the flag change: the message is gone first. */
	const char *r = cmd(&a, "c EXPUNGE\r\n");
	assert_string_equal(r, "* 1 EXPUNGE\r\nc OK Expunge completed\r\n");
	r = cmd(&b, "e NOOP\r\n");
	assert_has(r, "* 1 EXPUNGE\r\ne OK");
	assert_int_equal(a.s->view->count, 2);
	assert_int_equal(b.s->view->count, 2);
	assert_int_equal(b.s->view->uids[0], 2);

	/* A keyword change alone reaches b; later flag changes keep it. */
	const char *kw[] = {"$Label1"};
	const char *error = NULL;
	assert_int_equal(
		store_message_set_flags_keywords(f->store, f->inbox, 2, 0, kw, 1, 0, NULL, &error),
		1);
	assert_has(cmd(&b, "k NOOP\r\n"), "* 1 FETCH (UID 2 FLAGS ($Label1))\r\n");
	assert_int_equal(store_message_set_flags_keywords(f->store, f->inbox, 2, STORE_FLAG_SEEN,
							  kw, 1, 0, NULL, &error),
			 1);
	assert_has(cmd(&b, "m NOOP\r\n"), "* 1 FETCH (UID 2 FLAGS (\\Seen $Label1))\r\n");
	assert_has(cmd(&a, "n NOOP\r\n"), "* 1 FETCH (UID 2 FLAGS (\\Seen $Label1))\r\n");

	/* Both expunge and append at once: b's numbers stay consistent. */
	set_flags(f, 2, STORE_FLAG_DELETED);
	assert_has(cmd(&a, "d EXPUNGE\r\n"), "* 1 EXPUNGE");
	assert_has(cmd(&a, "e APPEND INBOX {8+}\r\nX: y\r\n\r\n\r\n"), "* 2 EXISTS");
	r = cmd(&b, "f NOOP\r\n");
	assert_has(r, "* 1 EXPUNGE\r\n");
	assert_has(r, "* 2 EXISTS\r\n");
	assert_true(strstr(r, "EXPUNGE") < strstr(r, "EXISTS"));
	tu_imap_close(&a);
	tu_imap_close(&b);
}

/* --- IDLE ------------------------------------------------------------------------- */

static void test_idle(void **state)
{
	struct tu_fixture *f = *state;
	deliver(f, "one", 0);
	struct tu_imap x;
	sess_open(f, &x, true);
	assert_has(cmd(&x, "a SELECT INBOX\r\n"), "* 1 EXISTS");
	const char *r = cmd(&x, "b IDLE\r\n");
	assert_string_equal(r, "+ idling\r\n");

	/* No change: the poll hook says nothing. */
	buf_clear(&x.out);
	assert_int_equal(imap_idle_poll(x.s, &x.out), CONN_OK);
	assert_int_equal(x.out.len, 0);

	/* A delivery wakes the eventfd; the next poll reports it. */
	f->deliver_recent = true;
	deliver(f, "two", 0);
	f->deliver_recent = false;
	assert_int_equal(imap_idle_poll(x.s, &x.out), CONN_OK);
	assert_string_equal(buf_cstr(&x.out), "* 2 EXISTS\r\n* 1 RECENT\r\n");
	buf_clear(&x.out);
	assert_int_equal(imap_idle_poll(x.s, &x.out), CONN_OK);
	assert_int_equal(x.out.len, 0);

	/* Flags and expunges too (expunges are allowed during IDLE). */
	set_flags(f, 1, STORE_FLAG_SEEN);
	imap_idle_poll(x.s, &x.out);
	assert_string_equal(buf_cstr(&x.out), "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n");
	buf_clear(&x.out);
	const char *error = NULL;
	uint32_t one = 1;
	assert_int_equal(store_message_expunge(f->store, f->inbox, &one, 1, &error), 0);
	imap_idle_poll(x.s, &x.out);
	assert_string_equal(buf_cstr(&x.out), "* 1 EXPUNGE\r\n");

	/* Commands are not commands while idling: only DONE ends it. */
	r = cmd(&x, "done\r\n");
	assert_string_equal(r, "b OK IDLE terminated\r\n");
	assert_false(x.s->cmd_active);
	/* Outside IDLE, the poll hook pushes nothing. */
	deliver(f, "three", 0);
	buf_clear(&x.out);
	imap_idle_poll(x.s, &x.out);
	assert_int_equal(x.out.len, 0);
	assert_has(cmd(&x, "c NOOP\r\n"), "* 2 EXISTS");

	/* Anything but DONE ends IDLE with BAD. */
	assert_string_equal(cmd(&x, "d IDLE\r\n"), "+ idling\r\n");
	assert_has(cmd(&x, "e NOOP\r\n"), "d BAD");
	assert_false(x.s->cmd_active);
	assert_has(cmd(&x, "f IDLE now\r\n"), "f BAD");

	/* IDLE before login is refused; in the authenticated state it works. */
	struct tu_imap y;
	sess_open(f, &y, false);
	assert_has(cmd(&y, "a IDLE\r\n"), "a BAD");
	assert_has(cmd(&y, "l LOGIN a@example.org secret\r\n"), "l OK");
	assert_string_equal(cmd(&y, "b IDLE\r\n"), "+ idling\r\n");
	deliver(f, "four", 0);
	buf_clear(&y.out);
	imap_idle_poll(y.s, &y.out);
	assert_int_equal(y.out.len, 0);
	/* Destroying a session in IDLE releases the subscription (ASan checks). */
	tu_imap_close(&y);

	/* IDLE pushes what was pending when it started. */
	deliver(f, "five", 0);
	r = cmd(&x, "g IDLE\r\n");
	/* RECENT counts "two", still \Recent in this session. */
	assert_string_equal(r, "+ idling\r\n* 4 EXISTS\r\n* 1 RECENT\r\n");
	tu_imap_close(&x);
	deliver(f, "six", 0); /* nobody subscribed any more */
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_select_responses, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_select_keywords_rev2, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_examine_read_only, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_select_bad_input, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_select_condstore, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_select_qresync, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_append, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_multiappend, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_catenate, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_append_selected_exists, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_append_binary_utf8, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_append_bad_input, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_append_quota, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_expunge, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_uid_expunge, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_close_unselect, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_two_sessions, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_idle, setup, tu_teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
