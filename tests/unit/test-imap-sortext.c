/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the search and sort extensions of issue 8 part 3, driven
 * through imap_session_input with real command bytes (whole, and one byte
 * at a time for the new syntax) against a real store in a mkdtemp
 * directory: WITHIN's YOUNGER/OLDER (RFC 5032), SORT=DISPLAY's
 * DISPLAYFROM/DISPLAYTO (RFC 5957), ESORT and PARTIAL (RFC 5267 3 and
 * 4.4), FETCH PREVIEW (RFC 8970: decoded, HTML stripped, 256 characters,
 * stored at delivery and computed for older messages unless LAZY), the
 * display-name helper, and every refused form (BAD).
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

/* From mailboxes: adams, alice, a; display forms: Zoe Adams, alice@..., Mike. */
static const char msg1[] = "From: \"Zoe Adams\" <adams@example.net>\r\n"
			   "To: Bob <zz@example.org>\r\n"
			   "Subject: one\r\n"
			   "Message-ID: <s1@example.net>\r\n"
			   "\r\n"
			   "First body.\r\n";

static const char msg2[] = "From: alice@example.net\r\n"
			   "To: =?UTF-8?Q?Carl?= <aa@example.org>\r\n"
			   "Subject: two\r\n"
			   "Message-ID: <s2@example.net>\r\n"
			   "\r\n"
			   "Second body.\r\n";

static const char msg3[] = "From: Mike <a@example.net>\r\n"
			   "To: Team: Dan <d@example.org>, Eve <e@example.org>;\r\n"
			   "Subject: three\r\n"
			   "Message-ID: <s3@example.net>\r\n"
			   "\r\n"
			   "Third body.\r\n";

static int setup(void **state)
{
	struct tu_fixture *f = tu_fixture_create("imap-sortext", true);
	if (f == NULL)
		return -1;
	time_t now = time(NULL);
	tu_deliver(f, NULL, msg1, strlen(msg1), now - 10 * 86400, 0);
	tu_deliver(f, NULL, msg2, strlen(msg2), now - 3600, STORE_FLAG_SEEN);
	tu_deliver(f, NULL, msg3, strlen(msg3), now - 60, 0);
	*state = f;
	return 0;
}

static const char *cmd(struct tu_imap *x, const char *line)
{
	return tu_imap_cmd(x, line);
}

/* Feed line one byte at a time; returns everything written (in all). */
static const char *cmd_bytewise(struct tu_imap *x, const char *line, struct buf *all)
{
	buf_clear(all);
	for (size_t i = 0; line[i] != '\0'; i++)
		buf_append_str(all, tu_imap_feed(x, line + i, 1));
	return buf_cstr(all);
}

/* The same answer fed whole and byte by byte. */
static void expect_both(struct tu_imap *x, const char *line, const char *want)
{
	struct buf all;
	buf_init(&all);
	const char *r = cmd(x, line);
	if (strstr(r, want) == NULL)
		fail_msg("%s: expected \"%s\" in:\n%s", line, want, r);
	r = cmd_bytewise(x, line, &all);
	if (strstr(r, want) == NULL)
		fail_msg("%s (bytewise): expected \"%s\" in:\n%s", line, want, r);
	buf_deinit(&all);
}

static void expect_bad(struct tu_imap *x, const char *line, const char *why)
{
	struct buf all;
	buf_init(&all);
	const char *r = cmd_bytewise(x, line, &all);
	/* The tagged reply, with the command's own tag. */
	char want[80];
	snprintf(want, sizeof(want), "%.*s BAD ", (int)strcspn(line, " "), line);
	const char *at = strstr(r, want);
	if (at == NULL || (at != r && at[-1] != '\n'))
		fail_msg("%s: expected %s, got:\n%s", line, want, r);
	if (why != NULL && strstr(r, why) == NULL)
		fail_msg("%s: expected \"%s\" in:\n%s", line, why, r);
	x->s->bad_count = 0;
	buf_deinit(&all);
}

static void test_within(void **state)
{
	struct tu_imap x;
	tu_imap_open(&x, *state, true, "s SELECT INBOX\r\n");
	expect_both(&x, "t SEARCH YOUNGER 7200\r\n", "* SEARCH 2 3\r\nt OK");
	expect_both(&x, "t SEARCH OLDER 7200\r\n", "* SEARCH 1\r\nt OK");
	expect_both(&x, "t SEARCH YOUNGER 30\r\n", "* SEARCH\r\nt OK");
	expect_both(&x, "t SEARCH OLDER 30\r\n", "* SEARCH 1 2 3\r\nt OK");
	expect_both(&x, "t SEARCH NOT YOUNGER 86400\r\n", "* SEARCH 1\r\nt OK");
	expect_both(&x, "t SEARCH YOUNGER 86400 UNSEEN\r\n", "* SEARCH 3\r\nt OK");
	expect_both(&x, "t SEARCH OR OLDER 86400 YOUNGER 120\r\n", "* SEARCH 1 3\r\nt OK");
	expect_both(&x, "t UID SEARCH RETURN (COUNT) younger 4000\r\n",
		    "* ESEARCH (TAG \"t\") UID COUNT 2\r\n");
	/* SORT and THREAD take the keys too. */
	expect_both(&x, "t SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 100000\r\n", "* SORT 3 2\r\n");
	expect_bad(&x, "t SEARCH YOUNGER 0\r\n", "Invalid interval");
	expect_bad(&x, "t SEARCH OLDER -5\r\n", "Invalid interval");
	expect_bad(&x, "t SEARCH OLDER abc\r\n", "Invalid interval");
	expect_bad(&x, "t SEARCH YOUNGER\r\n", "Invalid interval");
	expect_bad(&x, "t SEARCH YOUNGER \"60\"\r\n", "Invalid interval");
	expect_bad(&x, "t SEARCH OLDER 99999999999\r\n", "Invalid interval");
	tu_imap_close(&x);
}

static void test_sort_display(void **state)
{
	struct tu_imap x;
	tu_imap_open(&x, *state, true, "s SELECT INBOX\r\n");
	/* Mailboxes: a (3), adams (1), alice (2). */
	expect_both(&x, "t SORT (FROM) UTF-8 ALL\r\n", "* SORT 3 1 2\r\n");
	/* Display: "alice@example.net" (no name), "Mike", "Zoe Adams". */
	expect_both(&x, "t SORT (DISPLAYFROM) UTF-8 ALL\r\n", "* SORT 2 3 1\r\n");
	expect_both(&x, "t SORT (REVERSE DISPLAYFROM) UTF-8 ALL\r\n", "* SORT 1 3 2\r\n");
	/* To mailboxes zz, aa, d; display Bob, Carl (decoded), Dan (a group's first). */
	expect_both(&x, "t SORT (TO) UTF-8 ALL\r\n", "* SORT 2 3 1\r\n");
	expect_both(&x, "t SORT (DISPLAYTO) UTF-8 ALL\r\n", "* SORT 1 2 3\r\n");
	expect_both(&x, "t UID SORT (displayto reverse displayfrom) UTF-8 ALL\r\n",
		    "* SORT 1 2 3\r\n");
	expect_bad(&x, "t SORT (DISPLAY) UTF-8 ALL\r\n", "Invalid sort criteria");
	expect_bad(&x, "t SORT (REVERSE) UTF-8 ALL\r\n", "Invalid sort criteria");
	tu_imap_close(&x);
}

static void test_esort_partial(void **state)
{
	struct tu_imap x;
	tu_imap_open(&x, *state, true, "s SELECT INBOX\r\n");
	/* MIN and MAX are the first and last in sort order (RFC 5267 3.1). */
	expect_both(&x, "t SORT RETURN (MIN MAX COUNT) (DISPLAYFROM) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") MIN 2 MAX 1 COUNT 3\r\nt OK");
	expect_both(&x, "t SORT RETURN () (DISPLAYFROM) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") ALL 2:3,1\r\nt OK");
	expect_both(&x, "t SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") ALL 3,2,1\r\nt OK");
	expect_both(&x, "t UID SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") UID ALL 1:3\r\nt OK");
	expect_both(&x, "t SORT RETURN (COUNT) (ARRIVAL) UTF-8 SUBJECT nothing\r\n",
		    "* ESEARCH (TAG \"t\") COUNT 0\r\nt OK");
	expect_both(&x, "t SORT RETURN (MIN) (ARRIVAL) UTF-8 SUBJECT nothing\r\n",
		    "* ESEARCH (TAG \"t\")\r\nt OK");
	/* PARTIAL: positions in the sorted result, either order, NIL past the end. */
	expect_both(&x, "t SORT RETURN (PARTIAL 2:3) (DISPLAYFROM) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") PARTIAL (2:3 3,1)\r\nt OK");
	expect_both(&x, "t SORT RETURN (PARTIAL 3:2) (DISPLAYFROM) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") PARTIAL (2:3 3,1)\r\nt OK");
	expect_both(&x, "t SORT RETURN (PARTIAL 2:100 COUNT) (ARRIVAL) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") COUNT 3 PARTIAL (2:100 2:3)\r\nt OK");
	expect_both(&x, "t UID SORT RETURN (PARTIAL 4:9) (ARRIVAL) UTF-8 ALL\r\n",
		    "* ESEARCH (TAG \"t\") UID PARTIAL (4:9 NIL)\r\nt OK");
	expect_both(&x, "t SEARCH RETURN (PARTIAL 1:2) ALL\r\n",
		    "* ESEARCH (TAG \"t\") PARTIAL (1:2 1:2)\r\nt OK");
	expect_both(&x, "t SEARCH RETURN (PARTIAL 2:2 MIN) UNSEEN\r\n",
		    "* ESEARCH (TAG \"t\") MIN 1 PARTIAL (2:2 3)\r\nt OK");
	/* CONTEXT is a hint (RFC 5267 4.2). */
	expect_both(&x, "t SEARCH RETURN (CONTEXT COUNT) ALL\r\n",
		    "* ESEARCH (TAG \"t\") COUNT 3\r\nt OK");
	/* A plain SORT still answers * SORT. */
	expect_both(&x, "t SORT (ARRIVAL) UTF-8 ALL\r\n", "* SORT 1 2 3\r\nt OK");
	expect_bad(&x, "t SORT RETURN (PARTIAL 0:2) (ARRIVAL) UTF-8 ALL\r\n", "PARTIAL needs");
	expect_bad(&x, "t SORT RETURN (PARTIAL 1:*) (ARRIVAL) UTF-8 ALL\r\n", "PARTIAL needs");
	expect_bad(&x, "t SORT RETURN (PARTIAL -1:-5) (ARRIVAL) UTF-8 ALL\r\n", "PARTIAL needs");
	expect_bad(&x, "t SORT RETURN (PARTIAL 5) (ARRIVAL) UTF-8 ALL\r\n", "PARTIAL needs");
	expect_bad(&x, "t SORT RETURN (PARTIAL) (ARRIVAL) UTF-8 ALL\r\n", "PARTIAL needs");
	expect_bad(&x, "t SEARCH RETURN (PARTIAL 1:2 ALL) ALL\r\n", "cannot be combined");
	expect_bad(&x, "t SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL\r\n", "twice");
	expect_bad(&x, "t SEARCH RETURN (PARTIAL 1:99999999999) ALL\r\n", "PARTIAL needs");
	expect_bad(&x, "t SORT RETURN (SAVE) (ARRIVAL) UTF-8 ALL\r\n", "Unknown RETURN option");
	expect_bad(&x, "t SORT RETURN (BOGUS) (ARRIVAL) UTF-8 ALL\r\n", "Unknown RETURN option");
	expect_bad(&x, "t SORT RETURN ALL (ARRIVAL) UTF-8 ALL\r\n", "RETURN needs a list");
	expect_bad(&x, "t SORT RETURN (ALL)\r\n", "Invalid sort criteria");
	expect_bad(&x, "t SORT RETURN (ALL) (ARRIVAL)\r\n", "Missing charset");
	tu_imap_close(&x);
}

static void test_address_display(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"Zoe Adams <adams@example.net>", "Zoe Adams"},
		{"\"Doe, John\" <j@example.net>, x@example.net", "Doe, John"},
		{"alice@example.net", "alice@example.net"},
		{"\"\" <empty@example.net>", "empty@example.net"},
		{"Team: Dan <d@example.org>;", "Dan"},
		{"Team: ;, Eve <e@example.org>", "Eve"},
		{"J\xc3\xbcrgen <j@example.de>", "J\xc3\xbcrgen"},
		{"", ""},
		{"<<<", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = mime_address_display(cases[i].in);
		if (strcmp(r, cases[i].want) != 0)
			fail_msg("display of \"%s\": \"%s\", want \"%s\"", cases[i].in, r,
				 cases[i].want);
		free(r);
	}
	char *r = mime_address_display(NULL);
	assert_string_equal(r, "");
	free(r);
}

/* --- CONTEXT=SEARCH updates (RFC 5267 4.3) --------------------------------------- */

/* want, then want2 after it in r. */
static void assert_order(const char *r, const char *want, const char *want2)
{
	const char *a = strstr(r, want), *b = a != NULL ? strstr(a, want2) : NULL;
	if (a == NULL || b == NULL)
		fail_msg("expected \"%s\" then \"%s\" in:\n%s", want, want2, r);
}

static void test_context_update(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap a, b;
	tu_imap_open(&a, f, true, "s SELECT INBOX\r\n");
	tu_imap_open(&b, f, true, "s SELECT INBOX\r\n");
	struct buf all;
	buf_init(&all);
	/* Unseen: 1 and 3. The initial answer, then updates as the mailbox changes. */
	assert_has(cmd_bytewise(&a, "c1 SEARCH RETURN (UPDATE) UNSEEN\r\n", &all),
		   "* ESEARCH (TAG \"c1\") ALL 1,3\r\nc1 OK");
	assert_has(cmd_bytewise(&a, "c2 UID SEARCH RETURN (UPDATE COUNT) SEEN\r\n", &all),
		   "* ESEARCH (TAG \"c2\") UID COUNT 1\r\nc2 OK");
	/* A live context's tag cannot be used again for UPDATE. */
	expect_bad(&a, "c1 SEARCH RETURN (UPDATE) ALL\r\n", "Tag reuse");
	/* Another session marks 1 \Seen: it leaves c1 and joins c2. */
	assert_has(cmd(&b, "t STORE 1 +FLAGS (\\Seen)\r\n"), "t OK");
	const char *r = cmd(&a, "n NOOP\r\n");
	assert_order(r, "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n",
		     "* ESEARCH (TAG \"c2\") UID ADDTO (0 1)\r\n");
	assert_has(r, "* ESEARCH (TAG \"c1\") REMOVEFROM (0 1)\r\n");
	/* Nothing changed: nothing said. */
	assert_lacks(cmd(&a, "n NOOP\r\n"), "ESEARCH");
	/* A delivery: ADDTO after EXISTS. */
	tu_deliver(f, NULL, msg1, strlen(msg1), time(NULL), 0);
	r = cmd(&a, "n NOOP\r\n");
	assert_order(r, "* 4 EXISTS\r\n", "* ESEARCH (TAG \"c1\") ADDTO (0 4)\r\n");
	assert_lacks(r, "\"c2\"");
	/* An expunge: REMOVEFROM before the EXPUNGE, with the old numbers. */
	assert_has(cmd(&b, "t STORE 1,3 +FLAGS (\\Deleted)\r\n"), "t OK");
	assert_has(cmd(&b, "t EXPUNGE\r\n"), "t OK");
	r = cmd(&a, "n NOOP\r\n");
	assert_order(r, "* ESEARCH (TAG \"c1\") REMOVEFROM (0 3)\r\n", "* 1 EXPUNGE\r\n");
	assert_order(r, "* ESEARCH (TAG \"c2\") UID REMOVEFROM (0 1)\r\n", "* 1 EXPUNGE\r\n");
	/* Now: UIDs 2 (seen) and 4 (unseen), sequence 1 and 2. */
	assert_has(cmd(&a, "t SEARCH UNSEEN\r\n"), "* SEARCH 2\r\n");
	/* CANCELUPDATE stops them. */
	assert_has(cmd_bytewise(&a, "x CANCELUPDATE \"c1\"\r\n", &all), "x OK");
	assert_has(cmd(&b, "t STORE 1 -FLAGS (\\Seen)\r\n"), "t OK");
	r = cmd(&a, "n NOOP\r\n");
	assert_lacks(r, "\"c1\"");
	assert_lacks(r, "ADDTO");
	assert_has(r, "* ESEARCH (TAG \"c2\") UID REMOVEFROM (0 2)\r\n");
	/* The tag is free again. */
	assert_has(cmd(&a, "c1 SEARCH RETURN (UPDATE MIN) UNSEEN\r\n"),
		   "* ESEARCH (TAG \"c1\") MIN 1\r\nc1 OK");
	assert_has(cmd(&a, "x CANCELUPDATE \"c1\" \"c2\"\r\n"), "x OK");
	assert_has(cmd(&a, "x CANCELUPDATE \"c2\"\r\n"), "x NO [NONEXISTENT]");
	expect_bad(&a, "t CANCELUPDATE\r\n", "needs the tags");
	expect_bad(&a, "t CANCELUPDATE c1\r\n", "quoted tags");
	/* At most IMAP_CONTEXT_MAX; the next search is answered without updates. */
	for (int i = 0; i < IMAP_CONTEXT_MAX; i++) {
		char line[64];
		snprintf(line, sizeof(line), "u%d SEARCH RETURN (UPDATE) ALL\r\n", i);
		assert_has(cmd(&a, line), "OK SEARCH completed");
	}
	r = cmd(&a, "v SEARCH RETURN (UPDATE COUNT) ALL\r\n");
	assert_order(r, "* ESEARCH (TAG \"v\") COUNT 2\r\n", "* NO [NOUPDATE \"v\"]");
	assert_has(r, "v OK");
	assert_has(cmd(&a, "x CANCELUPDATE \"v\"\r\n"), "x NO [NONEXISTENT]");
	/* Leaving the mailbox ends every context. */
	assert_has(cmd(&a, "s SELECT INBOX\r\n"), "s OK");
	assert_has(cmd(&a, "x CANCELUPDATE \"u0\"\r\n"), "x NO [NONEXISTENT]");
	buf_deinit(&all);
	tu_imap_close(&a);
	tu_imap_close(&b);
}

/* CONTEXT=SORT: positions in the sort order, pairs in the order applied. */
static void test_context_sort(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap a, b;
	tu_imap_open(&a, f, true, "s SELECT INBOX\r\n");
	tu_imap_open(&b, f, true, "s SELECT INBOX\r\n");
	struct buf all;
	buf_init(&all);
	assert_has(cmd(&a, "t CAPABILITY\r\n"), " CONTEXT=SORT");
	/* Unseen 1 (one) and 3 (three); 2 (two) is seen. */
	assert_has(cmd_bytewise(&a, "c1 SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 UNSEEN\r\n",
				&all),
		   "* ESEARCH (TAG \"c1\") ALL 3,1\r\nc1 OK");
	assert_has(cmd(&a, "c2 UID SORT RETURN (UPDATE COUNT) (SUBJECT) UTF-8 ALL\r\n"),
		   "* ESEARCH (TAG \"c2\") UID COUNT 3\r\nc2 OK");
	expect_bad(&a, "c1 SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL\r\n", "Tag reuse");
	expect_bad(&a, "t SORT RETURN (UPDATE SAVE) (ARRIVAL) UTF-8 ALL\r\n",
		   "Unknown RETURN option");
	/* two becomes unseen: first in REVERSE SUBJECT; c2 (ALL) does not move. */
	assert_has(cmd(&b, "t STORE 2 -FLAGS (\\Seen)\r\n"), "t OK");
	const char *r = cmd(&a, "n NOOP\r\n");
	assert_has(r, "* ESEARCH (TAG \"c1\") ADDTO (1 2)\r\n");
	assert_lacks(r, "\"c2\"");
	/* A second "one": after the first (ties go by UID, also in REVERSE). */
	tu_deliver(f, NULL, msg1, strlen(msg1), time(NULL), 0);
	r = cmd(&a, "n NOOP\r\n");
	assert_order(r, "* 4 EXISTS\r\n", "* ESEARCH (TAG \"c1\") ADDTO (4 4)\r\n");
	assert_order(r, "* 4 EXISTS\r\n", "* ESEARCH (TAG \"c2\") UID ADDTO (2 4)\r\n");
	/* Expunges: REMOVEFROM first, each at its position then, old numbers. */
	assert_has(cmd(&b, "t STORE 1,3 +FLAGS (\\Deleted)\r\n"), "t OK");
	assert_has(cmd(&b, "t EXPUNGE\r\n"), "t OK");
	r = cmd(&a, "n NOOP\r\n");
	assert_order(r, "* ESEARCH (TAG \"c1\") REMOVEFROM (3 1 2 3)\r\n", "* 1 EXPUNGE\r\n");
	assert_order(r, "* ESEARCH (TAG \"c2\") UID REMOVEFROM (1 1 2 3)\r\n", "* 1 EXPUNGE\r\n");
	/* Now 2 (two) and 4 (one), sequence 1 and 2: the contexts agree. */
	assert_has(cmd(&a, "t SORT (REVERSE SUBJECT) UTF-8 UNSEEN\r\n"), "* SORT 1 2\r\n");
	/* A full context table: the SORT is answered, its result not kept. */
	for (int i = 0; i < IMAP_CONTEXT_MAX - 2; i++) {
		char line[64];
		snprintf(line, sizeof(line), "u%d SEARCH RETURN (UPDATE) ALL\r\n", i);
		assert_has(cmd(&a, line), "OK SEARCH completed");
	}
	r = cmd(&a, "v SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 ALL\r\n");
	assert_order(r, "* ESEARCH (TAG \"v\") COUNT 2\r\n", "* NO [NOUPDATE \"v\"]");
	assert_has(cmd(&a, "x CANCELUPDATE \"c1\" \"c2\"\r\n"), "x OK");
	assert_has(cmd(&b, "t STORE 1:* +FLAGS (\\Seen)\r\n"), "t OK");
	assert_lacks(cmd(&a, "n NOOP\r\n"), "\"c");
	buf_deinit(&all);
	tu_imap_close(&a);
	tu_imap_close(&b);
}

/* --- PREVIEW (RFC 8970) ------------------------------------------------------------- */

static const char pv_qp[] = "From: a@example.net\r\n"
			    "Subject: qp\r\n"
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: text/plain; charset=iso-8859-1\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\n"
			    "\r\n"
			    "Gr=FC=DFe   aus\r\n"
			    "\r\n"
			    "   Berlin=\r\n"
			    "er Luft.\r\n";

static const char pv_alt[] =
	"From: a@example.net\r\n"
	"Subject: alt\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=m\r\n"
	"\r\n"
	"--m\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	/* <style>p{x}</style><p>Café &amp; <b>thé</b></p><br>fin (UTF-8) */
	"PHN0eWxlPnB7eH08L3N0eWxlPjxwPkNhZsOpICZhbXA7IDxiPnRow6k8L2I+PC9wPjxicj5m\r\n"
	"aW4=\r\n"
	"--m\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"second part\r\n"
	"--m--\r\n";

static const char pv_att[] = "From: a@example.net\r\n"
			     "Subject: attachment only\r\n"
			     "MIME-Version: 1.0\r\n"
			     "Content-Type: multipart/mixed; boundary=m\r\n"
			     "\r\n"
			     "--m\r\n"
			     "Content-Type: text/plain\r\n"
			     "Content-Disposition: attachment; filename=a.txt\r\n"
			     "\r\n"
			     "not a preview\r\n"
			     "--m\r\n"
			     "Content-Type: image/png\r\n"
			     "Content-Transfer-Encoding: base64\r\n"
			     "\r\n"
			     "iVBORw0KGgo=\r\n"
			     "--m--\r\n";

static int setup_preview(void **state)
{
	struct tu_fixture *f = tu_fixture_create("imap-preview", true);
	if (f == NULL)
		return -1;
	tu_deliver(f, NULL, pv_qp, strlen(pv_qp), 0, 0);
	tu_deliver(f, NULL, pv_alt, strlen(pv_alt), 0, 0);
	tu_deliver(f, NULL, pv_att, strlen(pv_att), 0, 0);
	/* 4: 300 characters, two bytes each in UTF-8. */
	struct buf b;
	buf_init(&b);
	buf_append_str(&b,
		       "From: a@example.net\r\nSubject: long\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < 300; i++)
		buf_append_str(&b, "\xc3\xa9");
	buf_append_str(&b, "\r\n");
	tu_deliver(f, NULL, b.data, b.len, 0, 0);
	buf_deinit(&b);
	*state = f;
	return 0;
}

static void test_preview(void **state)
{
	struct tu_imap x;
	tu_imap_open(&x, *state, true, "s SELECT INBOX\r\n");
	/* rev1: 8-bit text goes in a literal; charset and QP decoded, spaces collapsed. */
	expect_both(&x, "t FETCH 1 (PREVIEW)\r\n",
		    "* 1 FETCH (PREVIEW {26}\r\nGr\xc3\xbc\xc3\x9f"
		    "e aus Berliner Luft.)\r\nt OK");
	/* HTML: base64 and tags gone, style dropped, entities decoded; the first part only. */
	expect_both(&x, "t FETCH 2 (PREVIEW (LAZY))\r\n",
		    "* 2 FETCH (PREVIEW {16}\r\nCaf\xc3\xa9 & th\xc3\xa9 fin)\r\n");
	const char *r = cmd(&x, "t FETCH 2 PREVIEW\r\n");
	assert_has(r, "Caf\xc3\xa9 & th\xc3\xa9 fin)");
	r = cmd(&x, "t FETCH 2 PREVIEW\r\n");
	assert_lacks(r, "second part");
	assert_lacks(r, "p{x}");
	/* Only an attachment: an empty preview. */
	expect_both(&x, "t UID FETCH 3 (UID PREVIEW)\r\n", "* 3 FETCH (UID 3 PREVIEW \"\")\r\n");
	/* 256 characters of the 300 (512 bytes). */
	expect_both(&x, "t FETCH 4 (PREVIEW)\r\n", "* 4 FETCH (PREVIEW {512}\r\n");
	/* PREVIEW does not set \Seen. */
	expect_both(&x, "t FETCH 1:4 (FLAGS)\r\n", "* 1 FETCH (FLAGS ())");
	assert_lacks(cmd(&x, "t FETCH 1:4 (FLAGS)\r\n"), "\\Seen");
	expect_bad(&x, "t FETCH 1 (PREVIEW (FAST))\r\n", "Invalid PREVIEW modifier");
	expect_bad(&x, "t FETCH 1 (PREVIEW ())\r\n", "Invalid PREVIEW modifier");
	expect_bad(&x, "t FETCH 1 (PREVIEW (LAZY LAZY))\r\n", "Invalid PREVIEW modifier");
	expect_bad(&x, "t FETCH 1 (PREVIEW (\"LAZY\"))\r\n", "Invalid PREVIEW modifier");
	expect_bad(&x, "t FETCH 1 (PREVIEW.PEEK)\r\n", NULL);
	tu_imap_close(&x);
	/* UTF8=ACCEPT: a quoted string. */
	tu_imap_open(&x, *state, true, NULL);
	assert_has(cmd(&x, "e ENABLE UTF8=ACCEPT\r\n"), "e OK");
	assert_has(cmd(&x, "s SELECT INBOX\r\n"), "s OK");
	expect_both(&x, "t FETCH 1 PREVIEW\r\n",
		    "* 1 FETCH (PREVIEW \"Gr\xc3\xbc\xc3\x9f"
		    "e aus Berliner Luft.\")\r\n");
	tu_imap_close(&x);
}

/* A message stored before the preview was (schema step 8): computed, or NIL if LAZY. */
static void test_preview_old_blob(void **state)
{
	struct tu_fixture *f = *state;
	char path[128];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/facteur.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE blobs SET preview = NULL", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct tu_imap x;
	tu_imap_open(&x, f, true, "s SELECT INBOX\r\n");
	expect_both(&x, "t FETCH 1:3 (PREVIEW (LAZY))\r\n",
		    "* 1 FETCH (PREVIEW NIL)\r\n* 2 FETCH (PREVIEW NIL)\r\n* 3 FETCH (PREVIEW "
		    "NIL)\r\n");
	expect_both(&x, "t FETCH 1,3 (PREVIEW ENVELOPE)\r\n",
		    "* 1 FETCH (PREVIEW {26}\r\nGr\xc3\xbc\xc3\x9f"
		    "e aus Berliner Luft. ENVELOPE");
	expect_both(&x, "t FETCH 3 (PREVIEW (LAZY) PREVIEW)\r\n",
		    "* 3 FETCH (PREVIEW \"\" PREVIEW \"\")\r\n");
	tu_imap_close(&x);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_display),
		cmocka_unit_test_setup_teardown(test_within, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sort_display, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_esort_partial, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_context_update, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_context_sort, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_preview, setup_preview, tu_teardown),
		cmocka_unit_test_setup_teardown(test_preview_old_blob, setup_preview, tu_teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
