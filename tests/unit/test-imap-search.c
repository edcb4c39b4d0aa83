/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of SEARCH (program parser and evaluator, ESEARCH, SEARCHRES),
 * STORE, COPY/MOVE and SORT/THREAD, driven through imap_session_input with
 * real command bytes against a real store in a mkdtemp directory holding
 * five messages with known headers and bodies (RFC 2047 subjects,
 * quoted-printable and base64 text, Latin-1, an attachment that must not
 * match BODY). Hostile programs are fed too: deep nesting, long OR chains,
 * impossible dates, unknown keys, bad charsets.
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

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2024-01-10 12:00 UTC and days around it, for BEFORE/ON/SINCE. */
#define T_JAN10 ((time_t)1704888000)
#define DAY 86400

static const char msg1[] = "From: Alice <alice@example.net>\r\n"
			   "To: a@example.org\r\n"
			   "Cc: Carol <carol@example.com>\r\n"
			   "Subject: Hello world\r\n"
			   "Date: Mon, 1 Jan 2024 23:30:00 -0500\r\n"
			   "Message-ID: <m1@example.net>\r\n"
			   "X-Tag: alpha\r\n"
			   "\r\n"
			   "A plain body with a banana.\r\n";

static const char msg2[] = "From: Bob <bob@example.net>\r\n"
			   "To: dave@example.org\r\n"
			   "Subject: =?UTF-8?Q?Caf=C3=A9_menu?=\r\n"
			   "Date: Thu, 15 Feb 2024 08:00:00 +0000\r\n"
			   "Message-ID: <m2@example.net>\r\n"
			   "In-Reply-To: <m1@example.net>\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "Content-Transfer-Encoding: quoted-printable\r\n"
			   "\r\n"
			   "cr=C3=A8me br=C3=BBl=C3=A9e soft=\r\n"
			   "break\r\n";

static const char msg3[] = "From: Zed <zed@example.net>\r\n"
			   "To: a@example.org\r\n"
			   "Bcc: hidden@example.org\r\n"
			   "Subject: Re: Hello world\r\n"
			   "Date: Tue, 2 Jan 2024 09:00:00 +0000\r\n"
			   "Message-ID: <m3@example.net>\r\n"
			   "References: <m1@example.net>\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
			   "\r\n"
			   "--b1\r\n"
			   "Content-Type: text/plain\r\n"
			   "Content-Transfer-Encoding: base64\r\n"
			   "\r\n"
			   "c2VjcmV0IHBpbmVhcHBsZQ==\r\n" /* "secret pineapple" */
			   "--b1\r\n"
			   "Content-Type: application/octet-stream\r\n"
			   "Content-Transfer-Encoding: base64\r\n"
			   "\r\n"
			   "a2l3aQ==\r\n" /* "kiwi" */
			   "--b1--\r\n";

static const char msg4_head[] = "From: Yan <yan@example.net>\r\n"
				"To: bea@example.org\r\n"
				"Subject: [list] Fwd: Hello world (fwd)\r\n"
				"Message-ID: <m4@example.net>\r\n"
				"\r\n";

static const char msg5[] = "From: =?ISO-8859-1?Q?J=FCrgen?= <juergen@example.de>\r\n"
			   "To: a@example.org\r\n"
			   "Subject: Zebra\r\n"
			   "Date: Wed, 10 Jan 2024 10:00:00 +0100\r\n"
			   "Message-ID: <m5@example.net>\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: text/plain; charset=iso-8859-1\r\n"
			   "Content-Transfer-Encoding: quoted-printable\r\n"
			   "\r\n"
			   "Gr=FC=DFe aus Berlin\r\n";

static uint32_t deliver_raw(struct tu_fixture *f, const char *msg, size_t len, time_t when,
			    uint32_t flags)
{
	return tu_deliver(f, NULL, msg, len, when, flags);
}

static void deliver_set(struct tu_fixture *f)
{
	deliver_raw(f, msg1, strlen(msg1), T_JAN10 - 5 * DAY, STORE_FLAG_SEEN);
	deliver_raw(f, msg2, strlen(msg2), T_JAN10 - DAY, STORE_FLAG_FLAGGED);
	deliver_raw(f, msg3, strlen(msg3), T_JAN10, STORE_FLAG_SEEN | STORE_FLAG_ANSWERED);
	/* Message 4 is the biggest: 3000 bytes of body. */
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, msg4_head);
	for (int i = 0; i < 50; i++)
		buf_append_str(&b, "0123456789012345678901234567890123456789012345678\r\n");
	deliver_raw(f, b.data, b.len, T_JAN10 + DAY, STORE_FLAG_DELETED);
	buf_deinit(&b);
	deliver_raw(f, msg5, strlen(msg5), T_JAN10 + 2 * DAY, STORE_FLAG_DRAFT);
}

static int setup(void **state)
{
	struct tu_fixture *f = tu_fixture_create("imap-search", true);
	if (f == NULL)
		return -1;
	deliver_set(f);
	*state = f;
	return 0;
}

static const char *cmd(struct tu_imap *x, const char *line)
{
	return tu_imap_cmd(x, line);
}

static void sess_open(struct tu_fixture *f, struct tu_imap *x, const char *select)
{
	tu_imap_open(x, f, true, select);
}

/* "t SEARCH <program>" and check the exact "* SEARCH" line. */
static void expect_search(struct tu_imap *x, const char *program, const char *result)
{
	char line[1024], want[256];
	snprintf(line, sizeof(line), "t SEARCH %s\r\n", program);
	snprintf(want, sizeof(want), "* SEARCH%s\r\nt OK", result);
	const char *r = cmd(x, line);
	if (strstr(r, want) == NULL)
		fail_msg("SEARCH %s: expected \"%s\" in:\n%s", program, want, r);
}

static void expect_bad(struct tu_imap *x, const char *line)
{
	const char *r = cmd(x, line);
	if (strncmp(r, "t BAD", 5) != 0 && strstr(r, "\r\nt BAD") == NULL)
		fail_msg("%s: expected BAD, got:\n%s", line, r);
	x->s->bad_count = 0;
}

/* --- SEARCH: keys ------------------------------------------------------------------ */

static void test_search_flags_and_sets(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	expect_search(&x, "ALL", " 1 2 3 4 5");
	expect_search(&x, "SEEN", " 1 3");
	expect_search(&x, "UNSEEN", " 2 4 5");
	expect_search(&x, "ANSWERED", " 3");
	expect_search(&x, "UNANSWERED", " 1 2 4 5");
	expect_search(&x, "FLAGGED", " 2");
	expect_search(&x, "UNFLAGGED", " 1 3 4 5");
	expect_search(&x, "DELETED", " 4");
	expect_search(&x, "UNDELETED", " 1 2 3 5");
	expect_search(&x, "DRAFT", " 5");
	expect_search(&x, "UNDRAFT", " 1 2 3 4");
	expect_search(&x, "RECENT", "");
	expect_search(&x, "NEW", "");
	expect_search(&x, "OLD", " 1 2 3 4 5");
	expect_search(&x, "2:4", " 2 3 4");
	expect_search(&x, "4:*", " 4 5");
	expect_search(&x, "UID 1,3,5:*", " 1 3 5");
	expect_search(&x, "NOT SEEN", " 2 4 5");
	expect_search(&x, "OR DELETED DRAFT", " 4 5");
	expect_search(&x, "(SEEN ANSWERED)", " 3");
	expect_search(&x, "OR (SEEN ANSWERED) (NOT 1:3)", " 3 4 5");
	expect_search(&x, "SEEN UNSEEN", "");
	expect_search(&x, "LARGER 2000", " 4");
	expect_search(&x, "SMALLER 2000", " 1 2 3 5");
	expect_search(&x, "KEYWORD \\Seen", " 1 3");
	/* UID SEARCH answers UIDs (equal to sequence numbers here). */
	assert_has(cmd(&x, "u UID SEARCH DRAFT\r\n"), "* SEARCH 5\r\nu OK");
	tu_imap_close(&x);
}

static void test_search_dates(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	/* Internal dates: Jan 5, 9, 10, 11, 12 (UTC). */
	expect_search(&x, "BEFORE 10-Jan-2024", " 1 2");
	expect_search(&x, "ON 10-Jan-2024", " 3");
	expect_search(&x, "ON \"10-Jan-2024\"", " 3");
	expect_search(&x, "SINCE 10-Jan-2024", " 3 4 5");
	expect_search(&x, "SINCE 1-Feb-2024", "");
	/* SAVEDATE: today for all of them. */
	expect_search(&x, "SAVEDBEFORE 1-Jan-2020", "");
	expect_search(&x, "SAVEDSINCE 1-Jan-2020", " 1 2 3 4 5");
	expect_search(&x, "SAVEDATESUPPORTED", " 1 2 3 4 5");
	/*
	 * Sent dates as written: 1 Jan (23:30 -0500 is already 2 Jan in
	 * UTC: the written day counts), 15 Feb, 2 Jan, none (internal date
	 * 11 Jan), 10 Jan.
	 */
	expect_search(&x, "SENTON 1-Jan-2024", " 1");
	expect_search(&x, "SENTBEFORE 2-Jan-2024", " 1");
	expect_search(&x, "SENTSINCE 10-Jan-2024", " 2 4 5");
	expect_search(&x, "SENTON 11-Jan-2024", " 4");
	/* Impossible dates are BAD. */
	expect_bad(&x, "t SEARCH BEFORE 32-Jan-2020\r\n");
	expect_bad(&x, "t SEARCH ON 29-Feb-2023\r\n");
	expect_search(&x, "ON 29-Feb-2024", "");
	expect_bad(&x, "t SEARCH SINCE 1-Foo-2020\r\n");
	expect_bad(&x, "t SEARCH SINCE 01-Jan-20\r\n");
	expect_bad(&x, "t SEARCH SINCE 2020-01-01\r\n");
	expect_bad(&x, "t SEARCH SINCE\r\n");
	tu_imap_close(&x);
}

static void test_search_strings(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	expect_search(&x, "SUBJECT hello", " 1 3 4");
	expect_search(&x, "SUBJECT \"HELLO WORLD\"", " 1 3 4");
	expect_search(&x, "FROM alice", " 1");
	expect_search(&x, "FROM example.net", " 1 2 3 4");
	expect_search(&x, "TO dave", " 2");
	expect_search(&x, "CC carol", " 1");
	expect_search(&x, "BCC hidden", " 3");
	expect_search(&x, "HEADER X-Tag alpha", " 1");
	expect_search(&x, "HEADER x-tag \"\"", " 1");
	expect_search(&x, "HEADER Message-ID m4", " 4");
	expect_search(&x, "HEADER References m1@", " 3");
	/* Transfer encodings decoded; attachments not searched as text. */
	expect_search(&x, "BODY banana", " 1");
	expect_search(&x, "BODY softbreak", " 2");
	expect_search(&x, "BODY PINEAPPLE", " 3");
	expect_search(&x, "BODY kiwi", "");
	expect_search(&x, "BODY Hello", "");
	expect_search(&x, "TEXT Hello", " 1 3 4");
	expect_search(&x, "TEXT pineapple", " 3");
	expect_search(&x, "TEXT x-tag", " 1");
	/* UTF-8 needles through literals, with and without CHARSET. */
	const char *r = cmd(&x, "t SEARCH CHARSET UTF-8 SUBJECT {5+}\r\ncaf\xc3\xa9\r\n");
	assert_has(r, "* SEARCH 2\r\nt OK");
	r = cmd(&x, "t SEARCH BODY {7+}\r\nbr\xc3\xbbl\xc3\xa9\r\n");
	assert_has(r, "* SEARCH 2\r\nt OK");
	/* Case folding beyond ASCII; a Latin-1 body and an encoded From. */
	r = cmd(&x, "t SEARCH CHARSET UTF-8 BODY {6+}\r\nGR\xc3\x9c\xc3\x9f\r\n");
	assert_has(r, "* SEARCH 5\r\nt OK");
	r = cmd(&x, "t SEARCH FROM {7+}\r\nJ\xc3\xbcrgen\r\n");
	assert_has(r, "* SEARCH 5\r\nt OK");
	/* A synchronising literal gets its "+" and works the same. */
	r = cmd(&x, "t SEARCH SUBJECT {5}\r\nzebra\r\n");
	assert_has(r, "* SEARCH 5\r\nt OK");
	/* Charsets. */
	expect_search(&x, "CHARSET us-ascii SUBJECT zebra", " 5");
	r = cmd(&x, "t SEARCH CHARSET ISO-8859-1 SUBJECT zebra\r\n");
	assert_has(r, "t NO [BADCHARSET (UTF-8 US-ASCII)]");
	expect_bad(&x, "t SEARCH SUBJECT {2+}\r\n\xc3\x28\r\n");
	tu_imap_close(&x);
}

/* --- SEARCH: the full-text index -------------------------------------------------- */

/* Does any of the texts of blob hold needle (folded), memmem semantics? */
static bool text_holds(struct tu_fixture *f, const char *msg, const char *needle, bool body_only)
{
	struct mime_text t;
	mime_text_extract(msg, strlen(msg), &t);
	bool r = memmem(t.body, t.body_len, needle, strlen(needle)) != NULL ||
		(!body_only &&
		 (memmem(t.hdr, t.hdr_len, needle, strlen(needle)) != NULL ||
		  memmem(t.parts, t.parts_len, needle, strlen(needle)) != NULL));
	mime_text_free(&t);
	return r;
}

/*
 * The index answers exactly what reading the text gives: every substring
 * of 3 to 6 characters of each message's folded text, and some that are
 * nowhere, against mime_text of the same bytes.
 */
static void test_search_index_exact(void **state)
{
	struct tu_fixture *f = *state;
	const char *msgs[] = {msg1, msg2, msg3, msg5};
	const uint32_t uids[] = {1, 2, 3, 5};
	const char *extra[] = {"zzz", "\xc3\xa8me br", "ne.\n", "a \"q", "x-tag: al", "pineapplex"};
	for (size_t m = 0; m < 4; m++) {
		struct mime_text t;
		mime_text_extract(msgs[m], strlen(msgs[m]), &t);
		const char *texts[] = {t.hdr, t.body, t.parts};
		for (size_t c = 0; c < 3; c++) {
			size_t len = strlen(texts[c]);
			for (size_t i = 0; i + 6 <= len; i += 7) {
				char needle[8];
				size_t nl = 3 + i % 4;
				memcpy(needle, texts[c] + i, nl);
				needle[nl] = '\0';
				if (mime_text_chars(needle, nl) < 3 || !imap_utf8_valid(needle, nl))
					continue;
				for (unsigned fields = 1; fields <= 7; fields++) {
					uint32_t *hits = NULL;
					size_t n = 0;
					assert_int_equal(store_search_match(f->store, f->inbox,
									    fields, needle, &hits,
									    &n),
							 0);
					for (size_t k = 0; k < 4; k++) {
						struct mime_text u;
						mime_text_extract(msgs[k], strlen(msgs[k]), &u);
						bool want = ((fields & STORE_SEARCH_HDR) &&
							     strstr(u.hdr, needle)) ||
							((fields & STORE_SEARCH_BODY) &&
							 strstr(u.body, needle)) ||
							((fields & STORE_SEARCH_PARTS) &&
							 strstr(u.parts, needle));
						mime_text_free(&u);
						bool got = imap_uid_find(hits, n, uids[k], NULL);
						if (want != got)
							fail_msg("needle \"%s\" fields %u uid %u: "
								 "index %d, text %d",
								 needle, fields, uids[k], got,
								 want);
					}
					free(hits);
				}
			}
		}
		mime_text_free(&t);
	}
	/* Words of one and two characters: the word index answers any length. */
	for (char a = '0'; a <= 'z'; a++) {
		for (char b = '\0'; b <= 'z'; b = b == '\0' ? '0' : (char)(b + 1)) {
			char w[3] = {a, b, '\0'};
			if (!store_search_word_needle(w) ||
			    (b != '\0' && !store_search_word_needle(w + 1)))
				continue;
			uint32_t *hits = NULL;
			size_t n = 0;
			assert_int_equal(store_search_match(f->store, f->inbox, 7, w, &hits, &n),
					 0);
			for (size_t k = 0; k < 4; k++)
				if (imap_uid_find(hits, n, uids[k], NULL) !=
				    text_holds(f, msgs[k], w, false))
					fail_msg("word \"%s\" uid %u", w, uids[k]);
			free(hits);
			if (b == 'z')
				break;
		}
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		uint32_t *hits = NULL;
		size_t n = 0;
		assert_int_equal(store_search_match(f->store, f->inbox, 7, extra[i], &hits, &n), 0);
		for (size_t k = 0; k < 4; k++)
			assert_int_equal(imap_uid_find(hits, n, uids[k], NULL),
					 text_holds(f, msgs[k], extra[i], false));
		free(hits);
	}
}

/*
 * A message stored without its text (as before schema step 6) waits for
 * the backfill and is still found, read from its blob; an expunge drops
 * the document with the blob.
 */
static void test_search_index_pending(void **state)
{
	struct tu_fixture *f = *state;
	static const char legacy[] = "From: Old <old@example.net>\r\nSubject: From before\r\n"
				     "\r\nAn unindexed aubergine.\r\n";
	const char *error = NULL;
	uint32_t uid = 0;
	assert_int_equal(store_deliver(f->store, legacy, strlen(legacy), NULL, &f->acc, 1, NULL,
				       T_JAN10, 0, &uid, &error),
			 0);
	assert_int_equal(uid, 6);
	uint32_t *pend = NULL;
	size_t n_pend = 0;
	assert_int_equal(store_search_pending_uids(f->store, f->inbox, &pend, &n_pend), 0);
	assert_int_equal(n_pend, 1);
	assert_int_equal(pend[0], 6);
	free(pend);
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	expect_search(&x, "BODY aubergine", " 6");
	expect_search(&x, "TEXT \"from before\"", " 6");
	expect_search(&x, "OR BODY aubergine BODY banana", " 1 6");
	expect_search(&x, "BODY ub", " 6");     /* pending: read from its blob */
	expect_search(&x, "BODY \"e.\"", " 6"); /* two characters, not a word: read */
	/* Expunge message 1: its document goes with its blob. */
	struct store_message_ex *v = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list_full(f->store, f->inbox, &v, &n), 0);
	char blob[STORE_BLOB_ID_LEN + 1];
	memcpy(blob, v[0].msg.blob_id, sizeof(blob));
	store_message_ex_free(&v, n);
	struct store_search_doc d;
	assert_int_equal(store_search_doc_get(f->store, blob, &d), 1);
	store_search_doc_free(&d);
	assert_has(cmd(&x, "t UID STORE 1 +FLAGS (\\Deleted)\r\n"), "t OK");
	assert_has(cmd(&x, "t UID EXPUNGE 1\r\n"), "t OK");
	assert_int_equal(store_search_doc_get(f->store, blob, &d), 0);
	expect_search(&x, "BODY banana", "");
	tu_imap_close(&x);
}

/*
 * Schema step 8 rebuilds the word index, its terms and the mailbox map
 * from the trigram index of a step-7 store; deletes keep both in step.
 */
static void test_search_words_migration(void **state)
{
	struct tu_fixture *f = *state;
	store_close(&f->store);
	char path[128];
	snprintf(path, sizeof(path), "%s/facteur.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "DROP TRIGGER search_words_gone; DROP TABLE search_words;"
			     "DROP TABLE search_terms; DROP TABLE search_mail;"
			     "DROP TRIGGER search_mail_add; DROP TRIGGER search_mail_del;"
			     "DROP TRIGGER search_mail_move; DROP TRIGGER search_mail_indexed;"
			     "ALTER TABLE blobs DROP COLUMN preview;"   /* step 9 */
			     "DROP TABLE metadata;"                     /* step 10 */
			     "ALTER TABLE accounts DROP COLUMN scram;"  /* step 11 */
			     "DROP INDEX messages_date;"                /* step 12 */
			     "DROP TABLE account_limits;"               /* step 13 */
			     "ALTER TABLE queue DROP COLUMN submitter;" /* step 13 */
			     "DROP TABLE sieve_scripts;"                /* step 14 */
			     "DROP TABLE sieve_vacation;"               /* step 14 */
			     "DROP TABLE shared_seen_modseq;"           /* step 15 */
			     "PRAGMA user_version = 7;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	const char *error = NULL;
	assert_int_equal(store_open(f->dir, &f->store, &error), 0);
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	expect_search(&x, "BODY banana", " 1");
	expect_search(&x, "BODY an", " 1");
	expect_search(&x, "TEXT pineapple", " 3");
	expect_search(&x, "TEXT ello", " 1 3 4");
	expect_search(&x, "BODY \"a plain\"", " 1"); /* not a word: the trigram index */
	/* Expunge 1: its words leave with its blob. */
	assert_has(cmd(&x, "t UID STORE 1 +FLAGS (\\Deleted)\r\n"), "t OK");
	assert_has(cmd(&x, "t UID EXPUNGE 1\r\n"), "t OK");
	expect_search(&x, "BODY banana", "");
	/* A new delivery after the upgrade is found by its words. */
	static const char late[] = "Subject: late\r\n\r\nquokka\r\n";
	tu_deliver(f, NULL, late, strlen(late), T_JAN10, 0);
	assert_has(cmd(&x, "t NOOP\r\n"), "t OK");
	expect_search(&x, "BODY quokk", " 5");
	tu_imap_close(&x);
}

/*
 * COPY and MOVE map the copy's UID to the shared document; a needle that
 * is in more than WORDS_PER_QUERY terms and a word in more than
 * SEARCH_LOOKUP_MAX messages (the mailbox scan) give what reading gives.
 */
static void test_search_words_copy_many(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	assert_has(cmd(&x, "t CREATE Other\r\n"), "t OK");
	assert_has(cmd(&x, "t UID COPY 1 Other\r\n"), "t OK");
	assert_has(cmd(&x, "t UID MOVE 3 Other\r\n"), "t OK");
	expect_search(&x, "BODY banana", " 1");
	expect_search(&x, "BODY pineapple", "");
	assert_has(cmd(&x, "t SELECT Other\r\n"), "t OK");
	expect_search(&x, "BODY banana", " 1");
	expect_search(&x, "BODY pineapple", " 2");
	/* 300 terms holding "qx" in one message, the last of them in another. */
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "Subject: terms\r\n\r\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&b, "w%03dqx ", i);
	tu_deliver(f, "Other", b.data, b.len, T_JAN10, 0);
	static const char last[] = "Subject: t\r\n\r\nw299qx\r\n";
	tu_deliver(f, "Other", last, strlen(last), T_JAN10, 0);
	/* 600 messages holding "wombat". */
	for (int i = 0; i < 600; i++) {
		buf_clear(&b);
		buf_printf(&b, "Subject: m%d\r\n\r\nwombat %d\r\n", i, i);
		tu_deliver(f, "Other", b.data, b.len, T_JAN10, 0);
	}
	assert_has(cmd(&x, "t NOOP\r\n"), "t OK");
	expect_search(&x, "BODY qx", " 3 4");
	expect_search(&x, "BODY w299q", " 3 4");
	expect_search(&x, "BODY w150", " 3");
	const char *r = cmd(&x, "t SEARCH RETURN (COUNT MIN MAX) BODY wombat\r\n");
	assert_has(r, "MIN 5 MAX 604 COUNT 600");
	r = cmd(&x, "t SEARCH RETURN (COUNT) TEXT \"wombat 59\"\r\n");
	assert_has(r, "COUNT 11"); /* 59, 590-599 */
	buf_deinit(&b);
	tu_imap_close(&x);
}

/*
 * A search that needs more than one slice yields (CONN_YIELD) and, resumed
 * slice after slice, gives the same answer as in one go.
 */
static void test_search_slices(void **state)
{
	struct tu_fixture *f = *state;
	struct buf big;
	buf_init(&big);
	buf_append_str(&big, "From: <x@example.net>\r\nSubject: big\r\n\r\n");
	for (int i = 0; i < 2000; i++)
		buf_append_str(&big, "lorem ipsum dolor sit amet consectetur\r\n");
	for (int i = 0; i < 60; i++)
		tu_deliver(f, NULL, big.data, big.len, T_JAN10, 0);
	buf_deinit(&big);
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	struct buf line;
	buf_init(&line);
	buf_append_str(&line, "t SEARCH");
	for (int i = 0; i < 400; i++)
		buf_append_str(&line, " NOT BODY \"q.\""); /* read, not indexed */
	buf_append_str(&line, "\r\n");
	struct buf in;
	buf_init(&in);
	buf_append(&in, line.data, line.len);
	buf_clear(&x.out);
	enum conn_result r = imap_session_input(x.s, &in, &x.out);
	unsigned slices = 1;
	while (r == CONN_YIELD) {
		assert_null(strstr(buf_cstr(&x.out), "t OK"));
		r = imap_session_resume(x.s, &x.out);
		slices++;
	}
	assert_int_equal(r, CONN_OK);
	assert_true(slices > 1);
	struct buf want;
	buf_init(&want);
	buf_append_str(&want, "* SEARCH 1 2 3 4 5");
	for (int i = 6; i <= 65; i++)
		buf_printf(&want, " %d", i);
	buf_append_str(&want, "\r\nt OK");
	assert_has(buf_cstr(&x.out), buf_cstr(&want));
	/* SORT and THREAD search in slices too, with the same matches. */
	static const char *const forms[] = {"t SORT (REVERSE ARRIVAL) UTF-8",
					    "t THREAD ORDEREDSUBJECT UTF-8"};
	for (size_t f2 = 0; f2 < 2; f2++) {
		buf_clear(&line);
		buf_append_str(&line, forms[f2]);
		for (int i = 0; i < 400; i++)
			buf_append_str(&line, " NOT BODY \"q.\""); /* read, not indexed */
		buf_append_str(&line, "\r\n");
		buf_clear(&in);
		buf_append(&in, line.data, line.len);
		buf_clear(&x.out);
		r = imap_session_input(x.s, &in, &x.out);
		slices = 1;
		while (r == CONN_YIELD) {
			r = imap_session_resume(x.s, &x.out);
			slices++;
		}
		assert_int_equal(r, CONN_OK);
		assert_true(slices > 1);
		assert_has(buf_cstr(&x.out),
			   f2 == 0 ? "* SORT 5 4 3 6 7 8" : "* THREAD (1 (3)(4))(5)(6 (7)(8)");
		assert_has(buf_cstr(&x.out), f2 == 0 ? "t OK SORT" : "t OK THREAD");
	}
	buf_deinit(&want);
	buf_deinit(&in);
	buf_deinit(&line);
	tu_imap_close(&x);
}

static void test_search_hostile(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	struct buf b;
	buf_init(&b);
	/* NOT NOT ... nests without parentheses. */
	buf_append_str(&b, "t SEARCH");
	for (int i = 0; i < 100; i++)
		buf_append_str(&b, " NOT");
	buf_append_str(&b, " ALL\r\n");
	expect_bad(&x, buf_cstr(&b));
	/* An even count of NOT up to the cap is fine. */
	buf_clear(&b);
	buf_append_str(&b, "t SEARCH");
	for (int i = 0; i < 20; i++)
		buf_append_str(&b, " NOT");
	buf_append_str(&b, " SEEN\r\n");
	assert_has(cmd(&x, buf_cstr(&b)), "* SEARCH 1 3\r\n");
	/* Parentheses 31 deep (the reader's cap) are fine... */
	buf_clear(&b);
	buf_append_str(&b, "t SEARCH ");
	for (int i = 0; i < 31; i++)
		buf_append_str(&b, "(");
	buf_append_str(&b, "DRAFT");
	for (int i = 0; i < 31; i++)
		buf_append_str(&b, ")");
	buf_append_str(&b, "\r\n");
	assert_has(cmd(&x, buf_cstr(&b)), "* SEARCH 5\r\n");
	/* ...but with a NOT inside each they are too deep for the evaluator. */
	buf_clear(&b);
	buf_append_str(&b, "t SEARCH ");
	for (int i = 0; i < 20; i++)
		buf_append_str(&b, "NOT (");
	buf_append_str(&b, "ALL");
	for (int i = 0; i < 20; i++)
		buf_append_str(&b, ")");
	buf_append_str(&b, "\r\n");
	expect_bad(&x, buf_cstr(&b));
	/* A huge flat OR chain is refused by the key cap. */
	buf_clear(&b);
	buf_append_str(&b, "t SEARCH");
	for (int i = 0; i < 400; i++)
		buf_append_str(&b, " (OR SEEN DRAFT)");
	buf_append_str(&b, "\r\n");
	const char *r = cmd(&x, buf_cstr(&b));
	assert_has(r, "t BAD Too many search keys");
	x.s->bad_count = 0;
	buf_deinit(&b);
	expect_bad(&x, "t SEARCH FOO\r\n");
	expect_bad(&x, "t SEARCH\r\n");
	expect_bad(&x, "t SEARCH ()\r\n");
	expect_bad(&x, "t SEARCH OR SEEN\r\n");
	expect_bad(&x, "t SEARCH NOT\r\n");
	expect_bad(&x, "t SEARCH LARGER x\r\n");
	expect_bad(&x, "t SEARCH LARGER 99999999999999999999999\r\n");
	expect_bad(&x, "t SEARCH UID abc\r\n");
	expect_bad(&x, "t SEARCH 1:2:3\r\n");
	expect_bad(&x, "t SEARCH HEADER \"\" x\r\n");
	expect_bad(&x, "t SEARCH HEADER Subject\r\n");
	expect_bad(&x, "t SEARCH KEYWORD \\Bogus\r\n");
	expect_bad(&x, "t SEARCH KEYWORD (a)\r\n");
	expect_bad(&x, "t SEARCH MODSEQ x\r\n");
	expect_bad(&x, "t SEARCH MODSEQ \"/flags/\\\\draft\" bogus 1\r\n");
	expect_bad(&x, "t SEARCH RETURN (BOGUS) ALL\r\n");
	expect_bad(&x, "t SEARCH RETURN ALL\r\n");
	expect_bad(&x, "t SEARCH CHARSET\r\n");
	/* Sequence numbers beyond the mailbox simply do not match. */
	expect_search(&x, "7:9", "");
	tu_imap_close(&x);
	/* SEARCH needs a selected mailbox. */
	sess_open(*state, &x, NULL);
	expect_bad(&x, "t SEARCH ALL\r\n");
	tu_imap_close(&x);
}

/* --- ESEARCH, SEARCHRES, MODSEQ ---------------------------------------------------- */

static void test_esearch(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x, "t SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\") MIN 2 MAX 5 COUNT 3\r\nt OK");
	r = cmd(&x, "t SEARCH RETURN () NOT 3\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\") ALL 1:2,4:5\r\nt OK");
	r = cmd(&x, "t UID SEARCH RETURN (ALL COUNT) 1:3\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\") UID COUNT 3 ALL 1:3\r\n");
	r = cmd(&x, "t SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT nothing-like-it\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\") COUNT 0\r\nt OK");
	/* SAVE alone answers no ESEARCH; "$" is then usable. */
	r = cmd(&x, "t SEARCH RETURN (SAVE) SEEN\r\n");
	assert_lacks(r, "ESEARCH");
	assert_has(r, "t OK");
	expect_search(&x, "$", " 1 3");
	expect_search(&x, "UID $", " 1 3");
	expect_search(&x, "NOT $", " 2 4 5");
	r = cmd(&x, "t STORE $ +FLAGS (\\Flagged)\r\n");
	assert_has(r, "* 1 FETCH (FLAGS (\\Flagged \\Seen))");
	assert_has(r, "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Seen))");
	expect_search(&x, "FLAGGED", " 1 2 3");
	/* SAVE with MIN/MAX keeps only those. */
	r = cmd(&x, "t SEARCH RETURN (SAVE MIN MAX) ALL\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\") MIN 1 MAX 5\r\n");
	expect_search(&x, "$", " 1 5");
	/* A failed search empties the saved result; a BAD leaves it. */
	expect_bad(&x, "t SEARCH RETURN (SAVE) FOO\r\n");
	expect_search(&x, "$", " 1 5");
	/* Leaving the mailbox empties "$" (the UIDs mean nothing elsewhere). */
	assert_has(cmd(&x, "t COPY 1:5 Archive\r\n"), "t OK");
	assert_has(cmd(&x, "t SEARCH RETURN (SAVE) ALL\r\n"), "t OK");
	assert_has(cmd(&x, "s SELECT Archive\r\n"), "s OK");
	expect_search(&x, "$", "");
	expect_search(&x, "ALL", " 1 2 3 4 5");
	/* rev2 clients always get ESEARCH. */
	assert_has(cmd(&x, "e ENABLE IMAP4rev2\r\n"), "e BAD");
	tu_imap_close(&x);
	sess_open(*state, &x, NULL);
	assert_has(cmd(&x, "e ENABLE IMAP4rev2\r\n"), "e OK");
	assert_has(cmd(&x, "s SELECT INBOX\r\n"), "s OK");
	r = cmd(&x, "t SEARCH DRAFT\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\") ALL 5\r\nt OK");
	assert_lacks(r, "* SEARCH");
	r = cmd(&x, "t SEARCH SUBJECT nothing-like-it\r\n");
	assert_has(r, "* ESEARCH (TAG \"t\")\r\nt OK");
	tu_imap_close(&x);
}

static void test_search_modseq(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x, "t FETCH 5 (MODSEQ)\r\n");
	unsigned long long m5 = 0;
	const char *p = strstr(r, "MODSEQ (");
	assert_non_null(p);
	m5 = strtoull(p + 8, NULL, 10);
	char line[128], want[128];
	snprintf(line, sizeof(line), "t SEARCH MODSEQ %llu\r\n", m5);
	snprintf(want, sizeof(want), "* SEARCH 5 (MODSEQ %llu)\r\n", m5);
	assert_has(cmd(&x, line), want);
	snprintf(line, sizeof(line), "t SEARCH MODSEQ \"/flags/\\\\draft\" all %llu\r\n", m5);
	assert_has(cmd(&x, line), want);
	snprintf(line, sizeof(line), "t SEARCH RETURN (COUNT) MODSEQ 1\r\n");
	snprintf(want, sizeof(want), "COUNT 5 MODSEQ %llu\r\n", m5);
	assert_has(cmd(&x, line), want);
	assert_true(x.s->condstore);
	/* Nothing matched: no (MODSEQ) at all. */
	assert_has(cmd(&x, "t SEARCH MODSEQ 999999999\r\n"), "* SEARCH\r\n");
	tu_imap_close(&x);
}

/* --- STORE ------------------------------------------------------------------------ */

static void test_store(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x, "t STORE 2 +FLAGS (\\Seen $Label1)\r\n");
	assert_has(r, "* 2 FETCH (FLAGS (\\Flagged \\Seen $Label1))\r\nt OK");
	r = cmd(&x, "t STORE 2 -FLAGS \\Flagged\r\n");
	assert_has(r, "* 2 FETCH (FLAGS (\\Seen $Label1))\r\n");
	r = cmd(&x, "t STORE 2 FLAGS (\\Draft foo bar)\r\n");
	assert_has(r, "* 2 FETCH (FLAGS (\\Draft bar foo))\r\n");
	expect_search(&x, "KEYWORD foo", " 2");
	expect_search(&x, "KEYWORD FOO", " 2");
	expect_search(&x, "UNKEYWORD foo", " 1 3 4 5");
	expect_search(&x, "KEYWORD $Label1", "");
	expect_bad(&x, "t SEARCH KEYWORD \"$Label1\"\r\n");
	r = cmd(&x, "t STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n");
	assert_lacks(r, "FETCH");
	assert_has(r, "t OK");
	expect_search(&x, "DELETED", " 1 2 4");
	r = cmd(&x, "t UID STORE 5 +FLAGS (\\Seen)\r\n");
	assert_has(r, "* 5 FETCH (FLAGS (\\Seen \\Draft) UID 5)\r\n");
	/* UIDs the mailbox lacks are skipped silently. */
	assert_has(cmd(&x, "t UID STORE 90:99 +FLAGS (\\Seen)\r\n"), "t OK");
	/* Bad input. */
	expect_bad(&x, "t STORE 1 +FLAGS (\\Recent)\r\n");
	expect_bad(&x, "t STORE 1 +FLAGS (\\Bogus)\r\n");
	expect_bad(&x, "t STORE 1 +FLAGS (a\"b)\r\n");
	expect_bad(&x, "t STORE 1 +FLAGS\r\n");
	expect_bad(&x, "t STORE 1 FLAGZ (\\Seen)\r\n");
	expect_bad(&x, "t STORE 9 +FLAGS (\\Seen)\r\n");
	expect_bad(&x, "t STORE x +FLAGS (\\Seen)\r\n");
	expect_bad(&x, "t STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)\r\n");
	expect_bad(&x, "t STORE 1 (BOGUS 1) +FLAGS (\\Seen)\r\n");
	tu_imap_close(&x);
	/* Read-only. */
	sess_open(*state, &x, "s EXAMINE INBOX\r\n");
	assert_has(cmd(&x, "t STORE 1 +FLAGS (\\Seen)\r\n"), "t NO");
	tu_imap_close(&x);
}

static void test_store_unchangedsince(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x, y;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	sess_open(f, &y, "s SELECT INBOX\r\n");
	const char *r = cmd(&x, "t FETCH 1:2 (MODSEQ)\r\n");
	const char *p = strstr(r, "* 2 FETCH");
	assert_non_null(p);
	unsigned long long m2 = strtoull(strstr(p, "MODSEQ (") + 8, NULL, 10);
	/* The other session changes message 1 after we read the MODSEQs. */
	assert_has(cmd(&y, "t STORE 1 +FLAGS (\\Answered)\r\n"), "t OK");
	char line[160];
	snprintf(line, sizeof(line), "t STORE 1:2 (UNCHANGEDSINCE %llu) +FLAGS (\\Deleted)\r\n",
		 m2);
	r = cmd(&x, line);
	assert_has(r, "t OK [MODIFIED 1] Conditional STORE failed");
	assert_has(r, "* 2 FETCH (FLAGS (\\Flagged \\Deleted) MODSEQ (");
	expect_search(&x, "DELETED", " 2 4");
	/* UNCHANGEDSINCE 0 fails for every message. */
	r = cmd(&x, "t UID STORE 3,5 (UNCHANGEDSINCE 0) FLAGS ()\r\n");
	assert_has(r, "t OK [MODIFIED 3,5]");
	/* .SILENT with CONDSTORE still reports the new MODSEQ. */
	r = cmd(&x, "t STORE 3 +FLAGS.SILENT (\\Flagged)\r\n");
	assert_has(r, "* 3 FETCH (MODSEQ (");
	assert_lacks(r, "FLAGS (");
	/* y sees both changes as FETCH FLAGS. */
	r = cmd(&y, "n NOOP\r\n");
	assert_has(r, "* 2 FETCH (UID 2 ");
	assert_has(r, "* 3 FETCH (UID 3 ");
	tu_imap_close(&x);
	tu_imap_close(&y);
}

/* --- COPY / MOVE ------------------------------------------------------------------- */

static void test_copy_move(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x, y;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	sess_open(f, &y, "s SELECT INBOX\r\n");
	struct store_mailbox arch;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "Archive", &arch), 1);
	char want[128];
	const char *r = cmd(&x, "t COPY 2:3 Archive\r\n");
	snprintf(want, sizeof(want), "t OK [COPYUID %u 2:3 1:2] COPY completed", arch.uidvalidity);
	assert_has(r, want);
	r = cmd(&x, "t UID COPY 5,1 Archive\r\n");
	snprintf(want, sizeof(want), "t OK [COPYUID %u 1,5 3:4]", arch.uidvalidity);
	assert_has(r, want);
	assert_has(cmd(&x, "t COPY 1 Nowhere\r\n"), "t NO [TRYCREATE]");
	expect_bad(&x, "t COPY 9 Archive\r\n");
	expect_bad(&x, "t COPY 1\r\n");
	assert_has(cmd(&x, "t UID COPY 77 Archive\r\n"), "t OK");
	/* MOVE: untagged COPYUID, then EXPUNGEs, then the tagged OK. */
	r = cmd(&x, "t MOVE 2,4 Archive\r\n");
	snprintf(want, sizeof(want), "* OK [COPYUID %u 2,4 5:6] Moved\r\n", arch.uidvalidity);
	assert_has(r, want);
	assert_has(r, "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n");
	assert_true(strstr(r, "COPYUID") < strstr(r, "EXPUNGE"));
	assert_has(r, "t OK MOVE completed");
	expect_search(&x, "ALL", " 1 2 3");
	assert_has(cmd(&x, "t UID MOVE 99 INBOX\r\n"), "t OK MOVE completed, nothing to do");
	/* The other session learns of the move. */
	r = cmd(&y, "n NOOP\r\n");
	assert_has(r, "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n");
	/* The copies are where COPYUID said, with their flags. */
	tu_imap_close(&x);
	sess_open(f, &x, "s SELECT Archive\r\n");
	expect_search(&x, "ALL", " 1 2 3 4 5 6");
	assert_has(cmd(&x, "u UID SEARCH DELETED\r\n"), "* SEARCH 6\r\n");
	assert_has(cmd(&x, "u UID SEARCH SUBJECT zebra\r\n"), "* SEARCH 4\r\n");
	/* MOVE needs a writable mailbox. */
	tu_imap_close(&x);
	sess_open(f, &x, "s EXAMINE INBOX\r\n");
	assert_has(cmd(&x, "t MOVE 1 Archive\r\n"), "t NO");
	assert_has(cmd(&x, "t COPY 1 Archive\r\n"), "t OK [COPYUID");
	tu_imap_close(&x);
	tu_imap_close(&y);
}

static void test_copy_quota(void **state)
{
	struct tu_fixture *f = *state;
	const char *error;
	struct store_account a;
	assert_int_equal(store_account_get(f->store, "a@example.org", &a), 1);
	assert_int_equal(
		store_account_set_quota(f->store, "a@example.org", a.used_bytes + 10, &error), 0);
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	assert_has(cmd(&x, "t COPY 1:5 Archive\r\n"), "t NO [OVERQUOTA]");
	/* MOVE within the account does not grow it. */
	assert_has(cmd(&x, "t MOVE 1 Archive\r\n"), "t OK");
	tu_imap_close(&x);
}

/* --- SORT / THREAD ------------------------------------------------------------------ */

static void test_sort(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	assert_has(cmd(&x, "t SORT (ARRIVAL) UTF-8 ALL\r\n"), "* SORT 1 2 3 4 5\r\n");
	assert_has(cmd(&x, "t SORT (REVERSE ARRIVAL) UTF-8 ALL\r\n"), "* SORT 5 4 3 2 1\r\n");
	/* Sent dates: 1 Jan 23:30 -0500 (2 Jan 04:30 UTC), 15 Feb, 2 Jan 09:00, none
	 * (11 Jan internal), 10 Jan 09:00 UTC. */
	assert_has(cmd(&x, "t SORT (DATE) UTF-8 ALL\r\n"), "* SORT 1 3 5 4 2\r\n");
	assert_has(cmd(&x, "t SORT (SIZE) UTF-8 ALL\r\n"), "* SORT 1 5 2 3 4\r\n");
	assert_has(cmd(&x, "t SORT (REVERSE SIZE) UTF-8 1:3\r\n"), "* SORT 3 2 1\r\n");
	/* Base subjects: hello world x3 (ties by number), "café menu", zebra. */
	assert_has(cmd(&x, "t SORT (SUBJECT) UTF-8 ALL\r\n"), "* SORT 2 1 3 4 5\r\n");
	assert_has(cmd(&x, "t SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n"), "* SORT 2 4 3 1 5\r\n");
	/* FROM by mailbox: alice bob juergen yan zed. */
	assert_has(cmd(&x, "t SORT (FROM) UTF-8 ALL\r\n"), "* SORT 1 2 5 4 3\r\n");
	/* TO: a a a bea dave. */
	assert_has(cmd(&x, "t SORT (TO) UTF-8 ALL\r\n"), "* SORT 1 3 5 4 2\r\n");
	/* CC: only message 1 has one; empty sorts first. */
	assert_has(cmd(&x, "t SORT (CC) UTF-8 ALL\r\n"), "* SORT 2 3 4 5 1\r\n");
	assert_has(cmd(&x, "t UID SORT (REVERSE FROM) UTF-8 SEEN\r\n"), "* SORT 3 1\r\n");
	assert_has(cmd(&x, "t SORT (ARRIVAL) UTF-8 SUBJECT nothing\r\n"), "* SORT\r\n");
	expect_bad(&x, "t SORT () UTF-8 ALL\r\n");
	expect_bad(&x, "t SORT (BOGUS) UTF-8 ALL\r\n");
	expect_bad(&x, "t SORT (REVERSE) UTF-8 ALL\r\n");
	expect_bad(&x, "t SORT ARRIVAL UTF-8 ALL\r\n");
	expect_bad(&x, "t SORT (ARRIVAL) UTF-8\r\n");
	expect_bad(&x, "t SORT (ARRIVAL)\r\n");
	assert_has(cmd(&x, "t SORT (ARRIVAL) KOI8-R ALL\r\n"), "t NO [BADCHARSET");
	tu_imap_close(&x);
}

static void test_thread(void **state)
{
	struct tu_imap x;
	sess_open(*state, &x, "s SELECT INBOX\r\n");
	/*
	 * ORDEREDSUBJECT: "hello world" = 1 (2 Jan UTC), 3 (2 Jan 09:00),
	 * 4 (11 Jan); "café menu" = 2 (15 Feb); "zebra" = 5 (10 Jan).
	 * Threads by their first date: hello, zebra, café.
	 */
	assert_has(cmd(&x, "t THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"),
		   "* THREAD (1 (3)(4))(5)(2)\r\n");
	assert_has(cmd(&x, "t THREAD ORDEREDSUBJECT UTF-8 1:3\r\n"), "* THREAD (1 3)(2)\r\n");
	/*
	 * REFERENCES: 2 and 3 reply to 1 (In-Reply-To, References); 4 has
	 * no references but its base subject joins 1's thread as a reply;
	 * 5 stands alone.
	 */
	assert_has(cmd(&x, "t THREAD REFERENCES UTF-8 ALL\r\n"), "* THREAD (1 (3)(4)(2))(5)\r\n");
	assert_has(cmd(&x, "t UID THREAD REFERENCES UTF-8 2:5\r\n"), "* THREAD ");
	assert_has(cmd(&x, "t THREAD REFERENCES UTF-8 SUBJECT nothing\r\n"), "* THREAD \r\n");
	expect_bad(&x, "t THREAD BOGUS UTF-8 ALL\r\n");
	expect_bad(&x, "t THREAD REFERENCES UTF-8\r\n");
	assert_has(cmd(&x, "t THREAD REFERENCES X ALL\r\n"), "t NO [BADCHARSET");
	tu_imap_close(&x);
}

/* --- helpers tested directly ----------------------------------------------------------- */

static void test_helpers(void **state)
{
	(void)state;
	int64_t d;
	assert_true(imap_search_parse_date("1-Jan-1970", &d));
	assert_int_equal(d, 0);
	assert_true(imap_search_parse_date("01-jan-1970", &d));
	assert_true(imap_search_parse_date("29-Feb-2000", &d));
	assert_false(imap_search_parse_date("29-Feb-1900", &d));
	assert_false(imap_search_parse_date("0-Jan-2020", &d));
	assert_false(imap_search_parse_date("31-Apr-2020", &d));
	assert_false(imap_search_parse_date("1-Jan-2020x", &d));
	assert_false(imap_search_parse_date("-Jan-2020", &d));
	assert_false(imap_search_parse_date("", &d));
	assert_true(imap_search_header_day("Tue, 2 Jan 2024 09:00:00 +0000", &d));
	assert_int_equal(d, 19724);
	assert_true(imap_search_header_day("2 Jan 24 09:00", &d));
	assert_int_equal(d, 19724);
	assert_false(imap_search_header_day("garbage", &d));
	assert_true(imap_search_has_keyword("$Junk bar foo", "FOO"));
	assert_false(imap_search_has_keyword("$Junk bar foo", "fo"));
	assert_false(imap_search_has_keyword("", "a"));
	struct buf b;
	buf_init(&b);
	imap_search_fold("AbC \xc3\x89t\xc3\xa9 \xff", 11, &b);
	assert_string_equal(buf_cstr(&b), "abc \xc3\xa9t\xc3\xa9 \xef\xbf\xbd");
	buf_deinit(&b);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helpers),
		cmocka_unit_test_setup_teardown(test_search_flags_and_sets, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_dates, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_strings, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_hostile, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_index_exact, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_index_pending, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_slices, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_words_migration, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_words_copy_many, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_esearch, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_search_modseq, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_store_unchangedsince, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_copy_move, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_copy_quota, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sort, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_thread, setup, tu_teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
