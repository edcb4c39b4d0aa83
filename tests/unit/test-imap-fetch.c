/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of FETCH / UID FETCH, driven through imap_session_input with
 * real command bytes against a real store in a mkdtemp directory holding a
 * simple text message, a multipart/mixed with encoded attachments and a
 * nested message/rfc822. Exact outputs of body sections, partials, BINARY
 * decoding, \Seen handling, the sliced stream of a big FETCH 1:* BODY[],
 * CONDSTORE/QRESYNC modifiers, and bad requests (BAD / NO with their
 * codes). The section parser and the decoders are also tested directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap/imap-fetch-section.h"
#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MSG_SIMPLE[] = "From: Alice <alice@example.net>\r\n"
				 "To: a@example.org\r\n"
				 "Subject: Hello\r\n"
				 "Message-ID: <m1@example.net>\r\n"
				 "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
				 "\r\n"
				 "Hello, world.\r\n"
				 "Second line.\r\n";

static const char MSG_MULTI[] = "From: Bob <bob@example.net>\r\n"
				"To: a@example.org\r\n"
				"Subject: Attachment\r\n"
				"MIME-Version: 1.0\r\n"
				"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
				"\r\n"
				"preamble\r\n"
				"--XYZ\r\n"
				"Content-Type: text/plain; charset=us-ascii\r\n"
				"\r\n"
				"See attached.\r\n"
				"--XYZ\r\n"
				"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
				"Content-Transfer-Encoding: base64\r\n"
				"\r\n"
				"SGVsbG8gYmlu\r\n"
				"YXJ5IHdvcmxkCg==\r\n"
				"--XYZ\r\n"
				"Content-Type: application/octet-stream\r\n"
				"Content-Transfer-Encoding: BASE64\r\n"
				"\r\n"
				"AAECAwQFBgc=\r\n"
				"--XYZ\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"caf=C3=A9 =\r\n"
				"soft  \r\n"
				"--XYZ\r\n"
				"Content-Type: application/octet-stream\r\n"
				"Content-Transfer-Encoding: x-uuencode\r\n"
				"\r\n"
				"begin 644 x\r\n"
				"--XYZ--\r\n"
				"epilogue\r\n";

static const char MSG_NESTED[] = "From: Carol <carol@example.net>\r\n"
				 "Subject: Fwd\r\n"
				 "Content-Type: multipart/mixed; boundary=\"OUT\"\r\n"
				 "\r\n"
				 "--OUT\r\n"
				 "Content-Type: text/plain\r\n"
				 "\r\n"
				 "Forwarded below.\r\n"
				 "--OUT\r\n"
				 "Content-Type: message/rfc822\r\n"
				 "\r\n"
				 "From: Dave <dave@example.net>\r\n"
				 "Subject: Inner\r\n"
				 "Content-Type: multipart/alternative; boundary=\"IN\"\r\n"
				 "\r\n"
				 "--IN\r\n"
				 "Content-Type: text/plain\r\n"
				 "\r\n"
				 "inner plain\r\n"
				 "--IN\r\n"
				 "Content-Type: text/html\r\n"
				 "\r\n"
				 "<p>inner html</p>\r\n"
				 "--IN--\r\n"
				 "--OUT--\r\n";

static uint32_t deliver(struct tu_fixture *f, const char *msg, size_t len, uint32_t flags)
{
	return tu_deliver(f, NULL, msg, len, 1704103200, flags);
}

static int setup(void **state)
{
	struct tu_fixture *f = tu_fixture_create("imap-fetch", true);
	if (f == NULL)
		return -1;
	*state = f;
	deliver(f, MSG_SIMPLE, strlen(MSG_SIMPLE), 0);
	deliver(f, MSG_MULTI, strlen(MSG_MULTI), 0);
	deliver(f, MSG_NESTED, strlen(MSG_NESTED), 0);
	return 0;
}

/* --- helpers --------------------------------------------------------------- */

static const char *cmd(struct tu_imap *x, const char *line)
{
	return tu_imap_cmd(x, line);
}

static void sess_open(struct tu_fixture *f, struct tu_imap *x, const char *select)
{
	tu_imap_open(x, f, true, select);
}

/*
 * The data of item name ("BODY[1]") in r: a literal's bytes (static
 * buffer, NUL-terminated), "NIL" for NIL. Fails when absent.
 */
static const char *item(const char *r, const char *name, size_t *len_r)
{
	static char data[8192];
	char key[256];
	snprintf(key, sizeof(key), "%s ", name);
	const char *p = strstr(r, key);
	if (p == NULL)
		fail_msg("no %s in:\n%s", name, r);
	p += strlen(key);
	if (strncmp(p, "NIL", 3) == 0) {
		*len_r = 3;
		return "NIL";
	}
	if (*p == '~')
		p++;
	assert_int_equal(*p, '{');
	size_t n = strtoul(p + 1, (char **)&p, 10);
	assert_memory_equal(p, "}\r\n", 3);
	assert_true(n < sizeof(data));
	memcpy(data, p + 3, n);
	data[n] = '\0';
	*len_r = n;
	return data;
}

static void assert_item(const char *r, const char *name, const char *expected)
{
	size_t n;
	const char *got = item(r, name, &n);
	if (n != strlen(expected) || memcmp(got, expected, n) != 0)
		fail_msg("%s: expected [%s] got [%.*s]", name, expected, (int)n, got);
}

static uint32_t flags_of(struct tu_fixture *f, uint32_t uid)
{
	struct store_message *msgs = NULL;
	size_t n = 0;
	uint32_t flags = 0xffff;
	assert_int_equal(store_message_list(f->store, f->inbox, &msgs, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (msgs[i].uid == uid)
			flags = msgs[i].flags;
	free(msgs);
	return flags;
}

/* --- simple items -------------------------------------------------------------- */

static void test_simple_items(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x, "a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID ENVELOPE)\r\n");
	char want[128];
	snprintf(want, sizeof(want),
		 "* 1 FETCH (FLAGS () INTERNALDATE \"01-Jan-2024 10:00:00 "
		 "+0000\" RFC822.SIZE %zu UID 1 ENVELOPE (",
		 strlen(MSG_SIMPLE));
	assert_has(r, want);
	assert_has(r, "\"Hello\"");
	assert_has(r, "a OK");

	r = cmd(&x, "a FETCH 2 (BODYSTRUCTURE BODY)\r\n");
	assert_has(r, "BODYSTRUCTURE ((\"text\" \"plain\"");
	assert_has(r, "\"mixed\" (\"boundary\" \"XYZ\")");
	assert_has(r, " BODY ((\"text\" \"plain\"");

	r = cmd(&x, "a FETCH 1 (MODSEQ EMAILID THREADID SAVEDATE)\r\n");
	assert_has(r, "MODSEQ (");
	assert_has(r, "EMAILID (M");
	assert_has(r, "THREADID (T");
	assert_has(r, "SAVEDATE \"");

	/* Macros */
	r = cmd(&x, "a FETCH 1 FAST\r\n");
	assert_has(r,
		   "* 1 FETCH (FLAGS () INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" "
		   "RFC822.SIZE ");
	assert_lacks(r, "ENVELOPE");
	r = cmd(&x, "a FETCH 1 ALL\r\n");
	assert_has(r, "ENVELOPE (");
	assert_lacks(r, "BODY");
	r = cmd(&x, "a FETCH 1 FULL\r\n");
	assert_has(r, "ENVELOPE (");
	assert_has(r, " BODY (\"text\" \"plain\"");

	/* UID FETCH always reports the UID; unknown UIDs are ignored. */
	r = cmd(&x, "a UID FETCH 2:3,99 FLAGS\r\n");
	assert_has(r, "* 2 FETCH (FLAGS () UID 2)\r\n");
	assert_has(r, "* 3 FETCH (FLAGS () UID 3)\r\n");
	assert_has(r, "a OK");
	r = cmd(&x, "a UID FETCH 99:100 FLAGS\r\n");
	assert_string_equal(r, "a OK UID FETCH completed\r\n");
	r = cmd(&x, "a FETCH 2:* UID\r\n");
	assert_has(r, "* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\na OK");

	/* Keywords come with the flags. */
	const char *error = NULL;
	const char *kw[] = {"$Junk"};
	assert_int_equal(store_message_set_flags_keywords(f->store, f->inbox, 1, STORE_FLAG_FLAGGED,
							  kw, 1, 0, NULL, &error),
			 1);
	r = cmd(&x, "a FETCH 1 FLAGS\r\n");
	assert_has(r, "* 1 FETCH (FLAGS (\\Flagged $Junk))\r\n");
	tu_imap_close(&x);
}

/* --- sections ------------------------------------------------------------------ */

static void test_sections_simple(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x,
			    "a FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[1] "
			    "BODY.PEEK[1.MIME])\r\n");
	assert_item(r, "BODY[]", MSG_SIMPLE);
	assert_item(r, "BODY[TEXT]", "Hello, world.\r\nSecond line.\r\n");
	assert_item(r, "BODY[1]", "Hello, world.\r\nSecond line.\r\n");
	assert_has(r, "BODY[1.MIME] {");
	r = cmd(&x,
		"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)] "
		"BODY.PEEK[HEADER.FIELDS.NOT (subject from to message-id)])\r\n");
	assert_item(r, "BODY[HEADER.FIELDS (Subject From)]",
		    "From: Alice <alice@example.net>\r\nSubject: Hello\r\n\r\n");
	assert_item(r, "BODY[HEADER.FIELDS.NOT (subject from to message-id)]",
		    "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n");
	r = cmd(&x, "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (\"X-Absent\")])\r\n");
	assert_item(r, "BODY[HEADER.FIELDS (X-Absent)]", "\r\n");

	/* partials: only the origin is echoed */
	r = cmd(&x, "a FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<5.1000>)\r\n");
	assert_item(r, "BODY[]<0>", "From: Alic");
	assert_item(r, "BODY[TEXT]<5>", ", world.\r\nSecond line.\r\n");
	r = cmd(&x, "a FETCH 1 (BODY.PEEK[]<100000.10> RFC822.HEADER)\r\n");
	assert_item(r, "BODY[]<100000>", "");
	assert_has(r, "RFC822.HEADER {");
	tu_imap_close(&x);
}

static void test_sections_multipart(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x,
			    "a FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[2] "
			    "BODY.PEEK[9] BODY.PEEK[1.HEADER])\r\n");
	assert_item(r, "BODY[1]", "See attached.");
	assert_item(r, "BODY[2.MIME]",
		    "Content-Type: application/octet-stream; "
		    "name=\"a.bin\"\r\nContent-Transfer-Encoding: "
		    "base64\r\n\r\n");
	assert_item(r, "BODY[2]", "SGVsbG8gYmlu\r\nYXJ5IHdvcmxkCg==");
	assert_has(r, "BODY[9] NIL");
	assert_has(r, "BODY[1.HEADER] NIL");

	r = cmd(&x,
		"a FETCH 3 (BODY.PEEK[2.HEADER] BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] "
		"BODY.PEEK[2.HEADER.FIELDS (SUBJECT)] BODY.PEEK[2.MIME] BODY.PEEK[2.TEXT] "
		"BODY.PEEK[2.2] BODY.PEEK[3])\r\n");
	assert_item(r, "BODY[2.HEADER]",
		    "From: Dave <dave@example.net>\r\nSubject: Inner\r\n"
		    "Content-Type: multipart/alternative; boundary=\"IN\"\r\n\r\n");
	assert_item(r, "BODY[2.1]", "inner plain");
	assert_item(r, "BODY[2.2.MIME]", "Content-Type: text/html\r\n\r\n");
	assert_item(r, "BODY[2.HEADER.FIELDS (SUBJECT)]", "Subject: Inner\r\n\r\n");
	assert_item(r, "BODY[2.MIME]", "Content-Type: message/rfc822\r\n\r\n");
	assert_item(r, "BODY[2.TEXT]",
		    "--IN\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n"
		    "--IN\r\nContent-Type: text/html\r\n\r\n<p>inner html</p>\r\n"
		    "--IN--");
	assert_item(r, "BODY[2.2]", "<p>inner html</p>");
	assert_has(r, "BODY[3] NIL");
	tu_imap_close(&x);
}

static void test_binary(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x,
			    "a FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[4] "
			    "BINARY.SIZE[4] BINARY.PEEK[1])\r\n");
	assert_item(r, "BINARY[2]", "Hello binary world\n");
	assert_has(r, "BINARY.SIZE[2] 19");
	assert_item(r, "BINARY[4]", "caf\xc3\xa9 soft");
	assert_has(r, "BINARY.SIZE[4] 10");
	assert_item(r, "BINARY[1]", "See attached.");
	assert_has(r, "a OK");

	r = cmd(&x, "a FETCH 2 (BINARY.PEEK[3])\r\n");
	assert_has(r, "BINARY[3] ~{8}\r\n");
	size_t n;
	const char *d = item(r, "BINARY[3]", &n);
	assert_int_equal(n, 8);
	assert_memory_equal(d, "\0\1\2\3\4\5\6\7", 8);

	/* partial on decoded data: the origin is in the response (RFC 9051 7.5.2) */
	r = cmd(&x, "a FETCH 2 (BINARY.PEEK[2]<6.6>)\r\n");
	assert_item(r, "BINARY[2]<6>", "binary");

	/* an encoding we cannot undo */
	r = cmd(&x, "a FETCH 2 (BINARY.PEEK[5])\r\n");
	assert_has(r, "a NO [UNKNOWN-CTE]");
	assert_lacks(r, "* 2 FETCH");
	r = cmd(&x, "a FETCH 2 (BINARY.SIZE[5])\r\n");
	assert_has(r, "a NO [UNKNOWN-CTE]");
	/* nothing was marked \Seen by the PEEKs */
	assert_int_equal(flags_of(f, 2) & STORE_FLAG_SEEN, 0);
	r = cmd(&x, "a FETCH 2 (BINARY[2])\r\n");
	assert_has(r, "FLAGS (\\Seen)");
	tu_imap_close(&x);
}

static void test_seen(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	const char *r = cmd(&x, "a FETCH 1 BODY.PEEK[]\r\n");
	assert_lacks(r, "FLAGS");
	assert_int_equal(flags_of(f, 1), 0);

	r = cmd(&x, "a FETCH 1 BODY[]\r\n");
	assert_has(r, " FLAGS (\\Seen))\r\n");
	assert_int_equal(flags_of(f, 1), STORE_FLAG_SEEN);
	/* no second, unsolicited FETCH FLAGS for the same change */
	assert_int_equal(strstr(strstr(r, "FETCH") + 1, "FETCH") == NULL ||
				 strstr(strstr(r, "FETCH") + 1, "FETCH") > strstr(r, "a OK"),
			 1);
	r = cmd(&x, "a FETCH 1 BODY[]\r\n");
	assert_lacks(r, "FLAGS"); /* already seen: nothing changed */

	/* RFC822.TEXT sets \Seen too, RFC822.HEADER does not */
	r = cmd(&x, "a FETCH 2 RFC822.HEADER\r\n");
	assert_int_equal(flags_of(f, 2), 0);
	r = cmd(&x, "a FETCH 2 (FLAGS RFC822.TEXT)\r\n");
	assert_has(r, "FLAGS (\\Seen)");
	assert_int_equal(flags_of(f, 2), STORE_FLAG_SEEN);
	tu_imap_close(&x);

	/* EXAMINE: read-only, BODY[] does not set \Seen */
	sess_open(f, &x, "s EXAMINE INBOX\r\n");
	r = cmd(&x, "a FETCH 3 BODY[]\r\n");
	assert_lacks(r, "FLAGS");
	assert_int_equal(flags_of(f, 3), 0);
	tu_imap_close(&x);
}

static void test_bad_requests(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, NULL);
	assert_has(cmd(&x, "a FETCH 1 FLAGS\r\n"), "a BAD");
	assert_has(cmd(&x, "s SELECT INBOX\r\n"), "s OK");
	static const char *const bad[] = {
		"a FETCH 1 BODY[0]\r\n",
		"a FETCH 1 BODY[1.HEADER.FIELDS]\r\n",
		"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
		"a FETCH 1 BODY[]<10.0>\r\n",
		"a FETCH 1 BODY[]<10>\r\n",
		"a FETCH 1 BODY[MIME]\r\n",
		"a FETCH 1 BODY[1.]\r\n",
		"a FETCH 1 BODY[01]\r\n",
		"a FETCH 1 BODY[TEXT.1]\r\n",
		"a FETCH 1 BODY[HEADER.FIELDS (a:b)]\r\n",
		"a FETCH 1 BINARY[HEADER]\r\n",
		"a FETCH 1 BINARY[1.MIME]\r\n",
		"a FETCH 1 BINARY.SIZE[1]<0.5>\r\n",
		"a FETCH 1 BODY.PEEK\r\n",
		"a FETCH 1 (FOO)\r\n",
		"a FETCH 1 ()\r\n",
		"a FETCH 1 (FLAGS ALL)\r\n",
		"a FETCH 1\r\n",
		"a FETCH x FLAGS\r\n",
		"a FETCH 0 FLAGS\r\n",
		"a FETCH 4 FLAGS\r\n",
		"a FETCH 1:5 FLAGS\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE x)\r\n",
		"a FETCH 1 FLAGS (VANISHED)\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n",     /* not UID, no QRESYNC */
		"a UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", /* no QRESYNC */
		"a FETCH 1 FLAGS (FOO)\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE 1) extra\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = cmd(&x, bad[i]);
		if (strncmp(r, "a BAD ", 6) != 0)
			fail_msg("%s -> %s", bad[i], r);
		x.s->bad_count = 0; /* keep the session open */
	}
	/* legal edge cases */
	assert_has(cmd(&x, "a FETCH 1 BODY.PEEK[]<0.1>\r\n"), "BODY[]<0> {1}\r\nF");
	assert_has(cmd(&x, "a FETCH * FLAGS\r\n"), "* 3 FETCH");
	assert_has(cmd(&x, "a FETCH 1 BODY.PEEK[1.2.3.4]\r\n"), "BODY[1.2.3.4] NIL");
	assert_has(cmd(&x, "a fetch 1 body.peek[header.fields (subject)]\r\n"),
		   "BODY[HEADER.FIELDS (subject)] {");
	tu_imap_close(&x);
}

static void test_condstore(void **state)
{
	struct tu_fixture *f = *state;
	struct tu_imap x;
	sess_open(f, &x, NULL);
	assert_has(cmd(&x, "e ENABLE QRESYNC\r\n"), "e OK");
	assert_has(cmd(&x, "s SELECT INBOX\r\n"), "s OK");
	const char *error = NULL;
	assert_int_equal(store_message_set_flags(f->store, f->inbox, 3, STORE_FLAG_FLAGGED, &error),
			 0);
	uint32_t gone = 2;
	assert_int_equal(store_message_expunge(f->store, f->inbox, &gone, 1, &error), 0);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "INBOX", &mb), 1);
	char line[128];
	snprintf(line, sizeof(line), "a UID FETCH 1:* FLAGS (CHANGEDSINCE %llu VANISHED)\r\n",
		 (unsigned long long)(mb.highestmodseq - 2));
	const char *r = cmd(&x, line);
	assert_has(r, "* VANISHED (EARLIER) 2\r\n");
	assert_has(r, "FLAGS (\\Flagged) UID 3 MODSEQ (");
	assert_lacks(r, "UID 1 ");
	assert_has(r, "a OK");
	/* a FETCH by sequence number of a message expunged meanwhile */
	gone = 3;
	assert_int_equal(store_message_expunge(f->store, f->inbox, &gone, 1, &error), 0);
	r = cmd(&x, "a FETCH 1:2 FLAGS\r\n");
	assert_has(r, "* 1 FETCH (FLAGS ())\r\n");
	assert_has(r, "a NO [EXPUNGEISSUED]");
	assert_lacks(r, "VANISHED");
	r = cmd(&x, "a UID FETCH 3 FLAGS\r\n");
	assert_has(r, "* VANISHED 3\r\na OK");
	tu_imap_close(&x);
}

/* --- streaming ------------------------------------------------------------------- */

static void test_stream(void **state)
{
	struct tu_fixture *f = *state;
	char *msg = xmalloc(8192);
	for (int i = 0; i < 200; i++) {
		int n = snprintf(msg, 8192, "From: <x@example.net>\r\nSubject: m%d\r\n\r\n", i);
		for (int j = 0; j < 60; j++)
			n += snprintf(msg + n, 8192 - (size_t)n,
				      "line %04d of message %03d "
				      "....................................................\r\n",
				      j, i);
		deliver(f, msg, (size_t)n, 0);
	}
	/* one message larger than a slice */
	size_t big_len = 5 * IMAP_STREAM_SLICE;
	char *big = xmalloc(big_len);
	size_t hl = (size_t)snprintf(big, big_len, "Subject: big\r\n\r\n");
	for (size_t i = hl; i < big_len; i++)
		big[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	deliver(f, big, big_len, 0);

	struct tu_imap x;
	sess_open(f, &x, "s SELECT INBOX\r\n");
	struct buf in, all;
	buf_init(&in);
	buf_init(&all);
	buf_append_str(&in, "a FETCH 1:* BODY.PEEK[]\r\n");
	buf_clear(&x.out);
	enum conn_result r = imap_session_input(x.s, &in, &x.out);
	size_t slices = 1, max_slice = x.out.len;
	while (r == CONN_MORE) {
		if (x.out.len > max_slice)
			max_slice = x.out.len;
		buf_append(&all, x.out.data, x.out.len);
		buf_clear(&x.out);
		r = imap_session_resume(x.s, &x.out);
		slices++;
	}
	if (x.out.len > max_slice)
		max_slice = x.out.len;
	buf_append(&all, x.out.data, x.out.len);
	assert_int_equal(r, CONN_OK);
	assert_true(max_slice <= 2 * IMAP_STREAM_SLICE);
	assert_true(slices > 10);
	const char *out = buf_cstr(&all);
	assert_has(out, "* 204 FETCH (BODY[] {");
	assert_has(out, "line 0059 of message 199");
	assert_has(out, "a OK FETCH completed\r\n");
	size_t count = 0;
	for (const char *p = out; (p = strstr(p, " FETCH (BODY[] {")) != NULL; p++)
		count++;
	assert_int_equal(count, 204);
	/* the big message arrives intact */
	char key[64];
	snprintf(key, sizeof(key), "* 204 FETCH (BODY[] {%zu}\r\n", big_len);
	const char *b = strstr(out, key);
	assert_non_null(b);
	assert_memory_equal(b + strlen(key), big, big_len);
	assert_memory_equal(b + strlen(key) + big_len, ")\r\n", 3);

	/* a session closed in the middle of a stream frees everything */
	buf_clear(&in);
	buf_append_str(&in, "b FETCH 1:* BODY.PEEK[]\r\n");
	buf_clear(&x.out);
	assert_int_equal(imap_session_input(x.s, &in, &x.out), CONN_MORE);
	tu_imap_close(&x);
	buf_deinit(&in);
	buf_deinit(&all);
	free(msg);
	free(big);
}

/* --- the section parser and decoders directly ------------------------------------ */

static void check_roundtrip(const char *spec, bool binary, const char *expected)
{
	struct imap_section sec;
	const char *error;
	struct buf b;
	buf_init(&b);
	if (imap_section_parse(spec, binary, true, &sec, &error) < 0)
		fail_msg("%s: %s", spec, error);
	imap_section_write(&sec, true, &b);
	assert_string_equal(buf_cstr(&b), expected);
	imap_section_free(&sec);
	buf_deinit(&b);
}

static void test_section_parser(void **state)
{
	(void)state;
	check_roundtrip("[]", false, "[]");
	check_roundtrip("[header]", false, "[HEADER]");
	check_roundtrip("[1.2.3.mime]", false, "[1.2.3.MIME]");
	check_roundtrip("[4.Header.Fields.Not (A \"B-C\" d)]<0.5>", false,
			"[4.HEADER.FIELDS.NOT (A B-C d)]<0>");
	check_roundtrip("[1]<4294967296.1>", true, "[1]<4294967296>");
	static const char *const bad[] = {
		"",
		"[",
		"]",
		"[0]",
		"[1.0]",
		"[1..2]",
		"[.1]",
		"[MIME]",
		"[1.FOO]",
		"[HEADER.FIELDS]",
		"[HEADER.FIELDS ()]",
		"[HEADER.FIELDS (A]",
		"[HEADER.FIELDS  (A)]",
		"[HEADER.FIELDS (A )]",
		"[TEXT]x",
		"[]<1.0>",
		"[]<1>",
		"[]<-1.2>",
		"[]<1.2",
		"[4294967296]",
		"[1.HEADER.FIELDS (\"\")]",
		"[HEADER.FIELDS (\"a b\")]",
		"[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19."
		"20.21.22.23.24.25.26.27.28.29.30.31.32.33]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_section sec;
		const char *error;
		if (imap_section_parse(bad[i], false, true, &sec, &error) == 0)
			fail_msg("accepted %s", bad[i]);
		imap_section_free(&sec);
	}
	struct imap_section sec;
	const char *error;
	assert_int_equal(imap_section_parse("[TEXT]", true, true, &sec, &error), -1);
	imap_section_free(&sec);
	assert_int_equal(imap_section_parse("[1]<0.1>", true, false, &sec, &error), -1);
	imap_section_free(&sec);
}

/* Decode in, fed one byte at a time and all at once: both must agree. */
static void check_decode(enum imap_section_enc enc, const char *in, const char *expected,
			 size_t expected_len)
{
	char out[512];
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct imap_decoder d;
		imap_decoder_init(&d, enc);
		size_t n = 0, len = strlen(in);
		if (bytewise) {
			for (size_t i = 0; i < len; i++)
				n += imap_decoder_run(&d, in + i, 1, out + n);
		} else {
			n = imap_decoder_run(&d, in, len, out);
		}
		n += imap_decoder_finish(&d, out + n);
		if (n != expected_len || memcmp(out, expected, n) != 0)
			fail_msg("decode [%s]: got [%.*s]", in, (int)n, out);
	}
}

static void test_decoders(void **state)
{
	(void)state;
	check_decode(IMAP_SECTION_ENC_BASE64, "aGVsbG8=", "hello", 5);
	check_decode(IMAP_SECTION_ENC_BASE64, "aGVs\r\nbG8", "hello", 5);
	check_decode(IMAP_SECTION_ENC_BASE64, "aGVsbA==aGk=", "hellhi", 6);
	check_decode(IMAP_SECTION_ENC_BASE64, "!!a*G(V)s", "hel", 3);
	check_decode(IMAP_SECTION_ENC_BASE64, "", "", 0);
	check_decode(IMAP_SECTION_ENC_QP, "a=3Db", "a=b", 3);
	check_decode(IMAP_SECTION_ENC_QP, "soft=\r\nbreak", "softbreak", 9);
	check_decode(IMAP_SECTION_ENC_QP, "soft=\nbreak", "softbreak", 9);
	check_decode(IMAP_SECTION_ENC_QP, "pad=  \r\nx", "padx", 4);
	check_decode(IMAP_SECTION_ENC_QP, "trail  \r\nx \t y", "trail\r\nx \t y", 12);
	check_decode(IMAP_SECTION_ENC_QP, "bad=ZZ=4", "bad=ZZ=4", 8);
	check_decode(IMAP_SECTION_ENC_QP, "lower=c3=a9", "lower\xc3\xa9", 7);
	check_decode(IMAP_SECTION_ENC_QP, "end=", "end=", 4);
	check_decode(IMAP_SECTION_ENC_QP, "nul=00x", "nul\0x", 5);
}

int main(void)
{
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simple_items, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sections_simple, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sections_multipart, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_binary, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_seen, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_condstore, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, tu_teardown),
		cmocka_unit_test(test_section_parser),
		cmocka_unit_test(test_decoders),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
