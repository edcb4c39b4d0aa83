/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of mailbox management over IMAP: CREATE (parents, USE),
 * DELETE (INBOX, children, \Noselect parents), RENAME (children, INBOX),
 * SUBSCRIBE / UNSUBSCRIBE / LSUB, LIST with '*' and '%', LIST-EXTENDED
 * selection and return options, LIST-STATUS, STATUS items, NAMESPACE, and
 * mailbox names as mUTF-7 and as UTF-8 after ENABLE, including traversal
 * and control characters refused. The LIST pattern matcher is tested on
 * its own too, with a pathological pattern timed against 200 mailboxes.
 * Each test drives a real session over a real store in a mkdtemp dir.
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
#include <time.h>

static const char *cmd(struct tu_session *f, const char *line)
{
	return tu_imap_cmd(&f->x, line);
}

static int setup(void **state)
{
	return tu_session_setup(state, "imap-mailbox");
}

static int teardown(void **state)
{
	return tu_session_teardown(state);
}

static void deliver(struct tu_session *f, const char *subject, const char *mailbox, uint32_t flags)
{
	tu_deliver_subject(f->t, mailbox, subject, flags);
}

static bool mailbox_exists(struct tu_session *f, const char *name)
{
	struct store_mailbox m;
	return store_mailbox_get(f->t->store, f->t->acc, name, &m) == 1;
}

static uint32_t mailbox_messages(struct tu_session *f, const char *name)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->t->store, f->t->acc, name, &m), 1);
	return m.messages;
}

/* --- the matcher ------------------------------------------------------------- */

static void test_match(void **state)
{
	(void)state;
	assert_true(imap_list_match("*", "a/b/c"));
	assert_true(imap_list_match("%", "abc"));
	assert_false(imap_list_match("%", "a/b"));
	assert_true(imap_list_match("a/%", "a/b"));
	assert_false(imap_list_match("a/%", "a/b/c"));
	assert_true(imap_list_match("a/*", "a/b/c"));
	assert_false(imap_list_match("a/*", "a"));
	assert_true(imap_list_match("a*", "a"));
	assert_true(imap_list_match("%/%", "a/b"));
	assert_true(imap_list_match("*b", "a/b"));
	assert_false(imap_list_match("*b", "a/bc"));
	assert_true(imap_list_match("a%c", "abbbc"));
	assert_false(imap_list_match("a%c", "ab/bc"));
	assert_true(imap_list_match("a*c", "ab/bc"));
	assert_true(imap_list_match("", ""));
	assert_false(imap_list_match("", "a"));
	assert_true(imap_list_match("Sent", "Sent"));
	assert_false(imap_list_match("sent", "Sent"));
	/* INBOX is case-insensitive, its children's names are not. */
	assert_true(imap_list_match("inbox", "INBOX"));
	assert_true(imap_list_match("Inbox/%", "INBOX/x"));
	assert_false(imap_list_match("inbox/X", "INBOX/x"));
	assert_false(imap_list_match("inboxes", "INBOX"));
	/* Mixed runs: "%*" is "*", "%%" is "%". */
	assert_true(imap_list_match("%*", "a/b"));
	assert_true(imap_list_match("*%", "a/b"));
	assert_false(imap_list_match("%%", "a/b"));
	assert_true(imap_list_match("a%%%b", "axyb"));
	/* UTF-8 bytes are bytes. */
	assert_true(imap_list_match("Entw%rfe", "Entw\xc3\xbcrfe"));
	/* Longer than any name can be: matches nothing. */
	char *big = calloc(1, 3001);
	memset(big, 'a', 3000);
	assert_false(imap_list_match(big, "a"));
	memset(big, '*', 3000);
	assert_true(imap_list_match(big, "anything/at/all"));
	free(big);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_pathological_pattern(void **state)
{
	struct tu_session *f = *state;
	const char *error = NULL;
	char name[128];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name),
			 "folder/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
			 "bbbbbbbbbbbbbbbbbbbbbbbbbb%d",
			 i);
		assert_int_equal(store_mailbox_create(f->t->store, f->t->acc, name, NULL, &error),
				 0);
	}
	double t0 = now_s();
	const char *r = cmd(f, "p LIST \"\" \"*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%x\"\r\n");
	assert_has(r, "p OK");
	/* Only INBOX, whose "X" matches 'x' case-insensitively. */
	assert_has(r, "\"/\" INBOX\r\n");
	assert_lacks(r, "folder");
	r = cmd(f, "q LIST \"\" \"*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*9\"\r\n");
	assert_has(r, "/bbbbbbbbbbbbbbbbbbbbbbbbbb199");
	assert_has(r, "q OK");
	/* The matcher on its own, 200 names of a pattern that explodes a backtracker. */
	char pat[2048] = "";
	for (int i = 0; i < 400; i++)
		strcat(pat, i % 2 ? "%" : "*a");
	strcat(pat, "x");
	for (int i = 0; i < 200; i++) {
		char n2[512];
		memset(n2, 'a', 500);
		n2[500] = '\0';
		assert_false(imap_list_match(pat, n2));
	}
	double dt = now_s() - t0;
	if (dt > 1.0)
		fail_msg("pathological patterns took %.3f s", dt);
}

/* --- LIST ----------------------------------------------------------------------- */

static void test_list_new_account(void **state)
{
	struct tu_session *f = *state;
	const char *r = cmd(f, "a LIST \"\" *\r\n");
	assert_has(r, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n");
	assert_has(r, "a OK LIST completed\r\n");
	/* INBOX comes first. */
	assert_true(strstr(r, "INBOX") < strstr(r, "Archive"));

	r = cmd(f, "b LIST \"\" \"\"\r\n");
	assert_has(r, "* LIST (\\Noselect) \"/\" \"\"\r\n");
	r = cmd(f, "c LIST \"Sent/x\" \"\"\r\n");
	assert_has(r, "* LIST (\\Noselect) \"/\" Sent/\r\n");
	r = cmd(f, "d LIST \"\" inbox\r\n");
	assert_has(r, "\"/\" INBOX\r\n");
	assert_lacks(r, "Sent");
	r = cmd(f, "e LIST \"\" (Sent Trash) RETURN (SPECIAL-USE)\r\n");
	assert_has(r, "\\Sent) \"/\" Sent\r\n");
	assert_has(r, "\\Trash) \"/\" Trash\r\n");
	assert_lacks(r, "INBOX");
	/* Selection SPECIAL-USE: only the special-use mailboxes. */
	r = cmd(f, "f LIST (SPECIAL-USE) \"\" *\r\n");
	assert_has(r, "\\Junk) \"/\" Junk\r\n");
	assert_lacks(r, "INBOX");
	assert_has(r, "f OK");
}

static void test_list_hierarchy(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a CREATE Work/Projects/Alpha\r\n"), "a OK");
	assert_true(mailbox_exists(f, "Work"));
	assert_true(mailbox_exists(f, "Work/Projects"));
	assert_has(cmd(f, "b CREATE Work/Beta/\r\n"), "b OK");
	assert_true(mailbox_exists(f, "Work/Beta"));

	const char *r = cmd(f, "c LIST \"\" %\r\n");
	assert_has(r, "* LIST (\\HasChildren) \"/\" Work\r\n");
	assert_lacks(r, "Work/");
	r = cmd(f, "d LIST \"\" Work/%\r\n");
	assert_has(r, "* LIST (\\HasChildren) \"/\" Work/Projects\r\n");
	assert_has(r, "* LIST (\\HasNoChildren) \"/\" Work/Beta\r\n");
	assert_lacks(r, "Alpha");
	assert_lacks(r, "\"/\" Work\r\n");
	r = cmd(f, "e LIST Work/ *\r\n");
	assert_has(r, "Work/Projects/Alpha\r\n");
	assert_lacks(r, "\"/\" Work\r\n");
	/* The order puts children right after their parent. */
	r = cmd(f, "f LIST \"\" Work*\r\n");
	const char *w = strstr(r, "\" Work\r\n"), *b = strstr(r, "Work/Beta"),
		   *p = strstr(r, "Work/Projects\r"), *a = strstr(r, "Alpha");
	assert_true(w && b && p && a && w < b && b < p && p < a);

	/* A parent that does not exist: \Noselect (rev1), \NonExistent in extended. */
	const char *error = NULL;
	assert_int_equal(store_mailbox_create(f->t->store, f->t->acc, "Ghost/Child", NULL, &error),
			 0);
	r = cmd(f, "g LIST \"\" %\r\n");
	assert_has(r, "* LIST (\\Noselect \\HasChildren) \"/\" Ghost\r\n");
	r = cmd(f, "h LIST () \"\" %\r\n");
	assert_has(r, "* LIST (\\NonExistent \\HasChildren) \"/\" Ghost\r\n");
	r = cmd(f, "i LIST \"\" %/%\r\n");
	assert_has(r, "* LIST (\\HasNoChildren) \"/\" Ghost/Child\r\n");
	/* IMAP4rev2 clients get \NonExistent in the base LIST too. */
	assert_has(cmd(f, "g2 ENABLE IMAP4rev2\r\n"), "g2 OK");
	assert_has(cmd(f, "g3 LIST \"\" %\r\n"),
		   "* LIST (\\NonExistent \\HasChildren) \"/\" Ghost\r\n");
	/* RETURN (CHILDREN) and (SUBSCRIBED): only what SUBSCRIBE subscribed. */
	r = cmd(f, "j LIST \"\" Ghost* RETURN (CHILDREN SUBSCRIBED)\r\n");
	assert_has(r, "* LIST (\\HasNoChildren) \"/\" Ghost/Child\r\n");
	assert_has(cmd(f, "j2 SUBSCRIBE Ghost/Child\r\n"), "j2 OK");
	r = cmd(f, "j3 LIST \"\" Ghost* RETURN (CHILDREN SUBSCRIBED)\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Ghost/Child\r\n");
	/* Patterns are ASCII-case-sensitive. */
	assert_lacks(cmd(f, "k LIST \"\" work\r\n"), "* LIST");
}

static void test_list_bad(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a LIST \"\"\r\n"), "a BAD");
	assert_has(cmd(f, "b LIST\r\n"), "b BAD");
	assert_has(cmd(f, "c LIST (BOGUS) \"\" *\r\n"), "c BAD");
	assert_has(cmd(f, "d LIST (RECURSIVEMATCH) \"\" *\r\n"), "d BAD");
	assert_has(cmd(f, "e LIST \"\" * RETURN (BOGUS)\r\n"), "e BAD");
	assert_has(cmd(f, "f LIST \"\" * RETURN\r\n"), "f BAD");
	f->x.s->bad_count = 0; /* ten BADs would close the session */
	assert_has(cmd(f, "g LIST \"\" () \r\n"), "g BAD");
	assert_has(cmd(f, "h LIST \"\" * extra\r\n"), "h BAD");
	assert_has(cmd(f, "i LIST \"\" \"&Jjo\"\r\n"), "i BAD");
	assert_has(cmd(f, "j LIST \"\" * RETURN (STATUS (BOGUS))\r\n"), "j BAD");
	assert_has(cmd(f, "k LIST \"\" * RETURN (STATUS)\r\n"), "k BAD");
	assert_has(cmd(f, "l LSUB \"\" (a b)\r\n"), "l BAD");
}

static void test_list_status(void **state)
{
	struct tu_session *f = *state;
	deliver(f, "one", NULL, STORE_FLAG_SEEN);
	deliver(f, "two", NULL, 0);
	deliver(f, "three", "Sent", STORE_FLAG_SEEN);
	const char *error = NULL;
	assert_int_equal(store_mailbox_create(f->t->store, f->t->acc, "Ghost/Child", NULL, &error),
			 0);
	const char *r = cmd(f, "a LIST \"\" * RETURN (STATUS (MESSAGES UNSEEN))\r\n");
	assert_has(r,
		   "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		   "* STATUS INBOX (MESSAGES 2 UNSEEN 1)\r\n");
	assert_has(r, "* STATUS Sent (MESSAGES 1 UNSEEN 0)\r\n");
	assert_lacks(r, "STATUS Ghost ");
	assert_has(r, "* STATUS Ghost/Child (MESSAGES 0 UNSEEN 0)\r\n");
	assert_has(r, "a OK");
}

/* --- STATUS, NAMESPACE ---------------------------------------------------------------- */

static void test_status(void **state)
{
	struct tu_session *f = *state;
	deliver(f, "one", NULL, STORE_FLAG_SEEN);
	deliver(f, "two", NULL, STORE_FLAG_DELETED);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->t->store, f->t->acc, "INBOX", &m), 1);
	char expect[256];
	const char *r = cmd(f,
			    "a STATUS inbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED "
			    "SIZE RECENT APPENDLIMIT MAILBOXID)\r\n");
	snprintf(expect, sizeof(expect),
		 "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY %u UNSEEN 1 DELETED 1 "
		 "SIZE %llu RECENT 0 APPENDLIMIT 1000000 MAILBOXID (M%lld))\r\n",
		 m.uidvalidity, (unsigned long long)m.size, (long long)m.id);
	assert_has(r, expect);
	assert_has(r, "a OK STATUS completed");
	assert_false(f->x.s->condstore);
	r = cmd(f, "b STATUS INBOX (HIGHESTMODSEQ messages messages)\r\n");
	snprintf(expect, sizeof(expect), "* STATUS INBOX (HIGHESTMODSEQ %llu MESSAGES 2)\r\n",
		 (unsigned long long)m.highestmodseq);
	assert_has(r, expect);
	assert_true(f->x.s->condstore);

	assert_has(cmd(f, "c STATUS Nope (MESSAGES)\r\n"), "c NO [NONEXISTENT]");
	assert_has(cmd(f, "d STATUS INBOX (BOGUS)\r\n"), "d BAD");
	assert_has(cmd(f, "e STATUS INBOX ()\r\n"), "e BAD");
	assert_has(cmd(f, "f STATUS INBOX\r\n"), "f BAD");
	assert_has(cmd(f, "g STATUS INBOX MESSAGES\r\n"), "g BAD");
	assert_has(cmd(f, "h STATUS \"..\" (MESSAGES)\r\n"), "h NO");
	assert_has(cmd(f, "i NAMESPACE\r\n"),
		   "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\"))"
		   " ((\"Shared Folders/\" \"/\"))\r\ni OK");
	assert_has(cmd(f, "j NAMESPACE x\r\n"), "j BAD");
}

/* --- CREATE / DELETE / RENAME ----------------------------------------------------------- */

static void test_create(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a CREATE Stuff\r\n"), "a OK");
	assert_has(cmd(f, "b CREATE Stuff\r\n"), "b NO [ALREADYEXISTS]");
	assert_has(cmd(f, "c CREATE inbox\r\n"), "c NO [ALREADYEXISTS]");
	assert_has(cmd(f, "d CREATE INBOX/Sub\r\n"), "d OK");
	assert_true(mailbox_exists(f, "INBOX/Sub"));
	assert_has(cmd(f, "e CREATE Inbox/Sub\r\n"), "e NO [ALREADYEXISTS]");
	/* CREATE-SPECIAL-USE */
	assert_has(cmd(f, "f CREATE Important (USE (\\flagged))\r\n"), "f OK");
	assert_has(cmd(f, "g LIST \"\" Important\r\n"),
		   "(\\HasNoChildren \\Flagged) \"/\" Important");
	assert_has(cmd(f, "h CREATE X (USE (\\Bogus))\r\n"), "h NO [USEATTR]");
	assert_has(cmd(f, "i CREATE X (USE (\\Sent \\Trash))\r\n"), "i NO [USEATTR]");
	assert_has(cmd(f, "j CREATE X (FOO (\\Sent))\r\n"), "j BAD");
	assert_has(cmd(f, "k CREATE X USE\r\n"), "k BAD");
	assert_has(cmd(f, "l CREATE\r\n"), "l BAD");
	assert_false(mailbox_exists(f, "X"));
	assert_has(cmd(f, "m CREATE Y (USE ())\r\n"), "m OK");
}

static void test_bad_names(void **state)
{
	struct tu_session *f = *state;
	static const char *const bad[] = {
		"n CREATE ..\r\n",
		"n CREATE .\r\n",
		"n CREATE a/../b\r\n",
		"n CREATE a/./b\r\n",
		"n CREATE ../etc\r\n",
		"n CREATE \"&AC4ALg-\"\r\n", /* ".." encoded: refused by strict mUTF-7 */
		"n CREATE \"a/&AC4ALg-/b\"\r\n",
		"n CREATE \"\"\r\n",
		"n CREATE /\r\n",
		"n CREATE a//b\r\n",
		"n CREATE /a\r\n",
		"n CREATE a*b\r\n",
		"n CREATE \"a%b\"\r\n",
		"n CREATE {3+}\r\na\x01"
		"b\r\n", /* control character in a literal */
		"n CREATE {3+}\r\na\x7f"
		"b\r\n",
		"n CREATE \"&AAE-\"\r\n", /* U+0001 encoded */
		"n CREATE \"&-\x80\"\r\n",
		"n CREATE \"&Jjo\"\r\n",              /* unterminated base64 */
		"n CREATE \"\xc3\xa9t\xc3\xa9\"\r\n", /* 8-bit before ENABLE */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = cmd(f, bad[i]);
		if (strncmp(r, "n NO", 4) != 0 && strncmp(r, "n BAD", 5) != 0)
			fail_msg("%s accepted: %s", bad[i], r);
		f->x.s->bad_count = 0;
	}
	/* Only the six of a new account remain. */
	const char *r = cmd(f, "l LIST \"\" *\r\n");
	size_t n = 0;
	for (const char *p = r; (p = strstr(p, "* LIST")) != NULL; p++)
		n++;
	assert_int_equal(n, 6);

	/* After ENABLE UTF8=ACCEPT: raw UTF-8, still no traversal or controls. */
	assert_has(cmd(f, "e ENABLE UTF8=ACCEPT\r\n"), "e OK");
	assert_has(cmd(f, "a CREATE \"a/../b\"\r\n"), "a NO");
	assert_has(cmd(f, "b CREATE \"x\xc2\x85y\"\r\n"), "b NO");       /* C1 NEL */
	assert_has(cmd(f, "c CREATE \"\xc0\xae\xc0\xae\"\r\n"), "c NO"); /* overlong dots */
	assert_has(cmd(f, "d CREATE \"\xed\xa0\x80\"\r\n"), "d NO");     /* surrogate */
	assert_has(cmd(f, "f DELETE \"..\"\r\n"), "f NO");
	assert_has(cmd(f, "g RENAME INBOX \"../x\"\r\n"), "g NO");
	assert_has(cmd(f, "h SUBSCRIBE \"a/../b\"\r\n"), "h NO");
}

static void test_utf7_utf8_names(void **state)
{
	struct tu_session *f = *state;
	/* "Entwürfe/Übersicht" in modified UTF-7, from a rev1 client. */
	assert_has(cmd(f, "a CREATE Entw&APw-rfe/&ANw-bersicht\r\n"), "a OK");
	assert_true(mailbox_exists(f,
				   "Entw\xc3\xbcrfe/\xc3\x9c"
				   "bersicht"));
	const char *r = cmd(f, "b LIST \"\" Entw&APw-*\r\n");
	assert_has(r, "* LIST (\\HasChildren) \"/\" Entw&APw-rfe\r\n");
	assert_has(r, "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe/&ANw-bersicht\r\n");
	assert_has(cmd(f, "c STATUS Entw&APw-rfe (MESSAGES)\r\n"),
		   "* STATUS Entw&APw-rfe (MESSAGES 0)");
	/* "&" itself. */
	assert_has(cmd(f, "d CREATE \"A &- B\"\r\n"), "d OK");
	assert_true(mailbox_exists(f, "A & B"));
	assert_has(cmd(f, "e LIST \"\" \"A*\"\r\n"), "\"A &- B\"");

	/* After ENABLE UTF8=ACCEPT the same names are UTF-8 on the wire. */
	assert_has(cmd(f, "f ENABLE UTF8=ACCEPT\r\n"), "f OK");
	r = cmd(f, "g LIST \"\" \"Entw\xc3\xbc*\"\r\n");
	assert_has(r, "\"/\" \"Entw\xc3\xbcrfe\"\r\n");
	assert_has(r,
		   "\"/\" \"Entw\xc3\xbcrfe/\xc3\x9c"
		   "bersicht\"\r\n");
	assert_has(cmd(f, "h CREATE \"\xe6\x97\xa5\xe6\x9c\xac\"\r\n"), "h OK");
	assert_true(mailbox_exists(f, "\xe6\x97\xa5\xe6\x9c\xac"));
	/* In UTF-8 mode "&" is just a character. */
	assert_has(cmd(f, "i CREATE \"x&AOk-\"\r\n"), "i OK");
	assert_true(mailbox_exists(f, "x&AOk-"));
}

/*
 * Names that would collide with other users' and shared namespaces are
 * reserved; a CR or LF in a name is refused saying so, not as bad mUTF-7.
 */
static void test_reserved_and_control_names(void **state)
{
	struct tu_session *f = *state;
	static const char *const reserved[] = {
		"#shared/x",           "#news",           "~bob",
		"~bob/INBOX",          "Other Users/bob", "other users",
		"Shared Folders/team", "shared folders",
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		char line[128];
		snprintf(line, sizeof(line), "a CREATE \"%s\"\r\n", reserved[i]);
		assert_has(cmd(f, line), "a NO [CANNOT] Reserved");
		assert_false(mailbox_exists(f, reserved[i]));
	}
	assert_has(cmd(f, "b CREATE Plain\r\n"), "b OK");
	assert_has(cmd(f, "c RENAME Plain \"~alice\"\r\n"), "c NO [CANNOT] Reserved");
	assert_has(cmd(f, "d RENAME Plain \"Other Users/x\"\r\n"), "d NO [CANNOT] Reserved");
	/* The prefixes are only reserved as prefixes. */
	assert_has(cmd(f, "e CREATE \"a#b~c/Other Users\"\r\n"), "e OK");
	assert_has(cmd(f, "f CREATE \"Other Usersx\"\r\n"), "f OK");
	/* CR and LF arrive in literals; the reply names the real fault. */
	assert_has(cmd(f, "g CREATE {5+}\r\nab\r\nc\r\n"),
		   "g NO [CANNOT] CR and LF are not allowed in mailbox names");
	assert_has(cmd(f, "h CREATE {3+}\r\na\tb\r\n"),
		   "h NO [CANNOT] Control characters are not allowed in mailbox names");
	assert_has(cmd(f, "i ENABLE UTF8=ACCEPT\r\n"), "i OK");
	assert_has(cmd(f, "j CREATE {3+}\r\na\nb\r\n"),
		   "j NO [CANNOT] CR and LF are not allowed in mailbox names");
	assert_has(cmd(f, "k CREATE \"#x\"\r\n"), "k NO [CANNOT] Reserved");
}

static void test_delete(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a DELETE INBOX\r\n"), "a NO [CANNOT]");
	assert_has(cmd(f, "b DELETE inbox\r\n"), "b NO [CANNOT]");
	assert_has(cmd(f, "c DELETE Nope\r\n"), "c NO [NONEXISTENT]");
	assert_has(cmd(f, "d DELETE\r\n"), "d BAD");
	assert_has(cmd(f, "e CREATE P/C\r\n"), "e OK");
	deliver(f, "m", "P", 0);
	/* A parent with children goes; its children stay. */
	assert_has(cmd(f, "f DELETE P\r\n"), "f OK");
	assert_false(mailbox_exists(f, "P"));
	assert_true(mailbox_exists(f, "P/C"));
	assert_has(cmd(f, "g LIST \"\" P*\r\n"), "* LIST (\\Noselect \\HasChildren) \"/\" P\r\n");
	/* Its \Noselect name cannot be deleted while children exist. */
	assert_has(cmd(f, "h DELETE P\r\n"), "h NO [HASCHILDREN]");
	assert_has(cmd(f, "i DELETE P/C\r\n"), "i OK");
	assert_has(cmd(f, "j DELETE P\r\n"), "j NO [NONEXISTENT]");
	assert_lacks(cmd(f, "k LIST \"\" P*\r\n"), "* LIST");
	assert_has(cmd(f, "l DELETE Trash\r\n"), "l OK");
	/* Deleting the selected mailbox leaves a session that still answers. */
	deliver(f, "s", "Sent", 0);
	assert_has(cmd(f, "m SELECT Sent\r\n"), "m OK");
	/* Its messages are gone for the client too. */
	assert_has(cmd(f, "n DELETE Sent\r\n"), "* 1 EXPUNGE\r\nn OK");
	const char *r = cmd(f, "o NOOP\r\n");
	assert_has(r, "o OK");
	assert_has(cmd(f, "p LIST \"\" Sent\r\n"), "p OK");
}

static void test_rename(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a CREATE Old/Kid/Grandkid\r\n"), "a OK");
	deliver(f, "m", "Old/Kid", 0);
	assert_has(cmd(f, "b RENAME Old New\r\n"), "b OK");
	assert_false(mailbox_exists(f, "Old"));
	assert_false(mailbox_exists(f, "Old/Kid"));
	assert_true(mailbox_exists(f, "New"));
	assert_true(mailbox_exists(f, "New/Kid/Grandkid"));
	assert_int_equal(mailbox_messages(f, "New/Kid"), 1);
	/* Missing superior names of the new name are made. */
	assert_has(cmd(f, "c RENAME New/Kid Far/Away/Kid\r\n"), "c OK");
	assert_true(mailbox_exists(f, "Far/Away"));
	assert_true(mailbox_exists(f, "Far/Away/Kid/Grandkid"));

	assert_has(cmd(f, "d RENAME Nope X\r\n"), "d NO [NONEXISTENT]");
	assert_has(cmd(f, "e RENAME New Sent\r\n"), "e NO [ALREADYEXISTS]");
	assert_has(cmd(f, "f RENAME New New/Sub\r\n"), "f NO [CANNOT]");
	assert_has(cmd(f, "g RENAME New\r\n"), "g BAD");
	assert_has(cmd(f, "h RENAME New \"a/../b\"\r\n"), "h NO [CANNOT]");

	/* INBOX: the messages move, INBOX stays and is empty. */
	deliver(f, "i1", NULL, 0);
	deliver(f, "i2", NULL, STORE_FLAG_SEEN);
	assert_has(cmd(f, "i RENAME INBOX Saved\r\n"), "i OK");
	assert_int_equal(mailbox_messages(f, "Saved"), 2);
	assert_int_equal(mailbox_messages(f, "INBOX"), 0);
	assert_has(cmd(f, "j RENAME inbox Saved\r\n"), "j NO [ALREADYEXISTS]");
	/* INBOX may move below itself: its rename moves messages, not children. */
	deliver(f, "i3", NULL, 0);
	assert_has(cmd(f, "j2 RENAME INBOX INBOX/Old\r\n"), "j2 OK");
	assert_int_equal(mailbox_messages(f, "INBOX/Old"), 1);
	assert_int_equal(mailbox_messages(f, "INBOX"), 0);

	/* The selected mailbox follows its new name. */
	assert_has(cmd(f, "k SELECT Far/Away/Kid\r\n"), "k OK");
	assert_has(cmd(f, "l RENAME Far There\r\n"), "l OK");
	assert_string_equal(f->x.s->view->name, "There/Away/Kid");
}

/* --- subscriptions --------------------------------------------------------------------- */

static void test_subscriptions(void **state)
{
	struct tu_session *f = *state;
	assert_has(cmd(f, "a CREATE Lists/Dev\r\n"), "a OK");
	assert_has(cmd(f, "a2 SUBSCRIBE Lists/Dev\r\n"), "a2 OK");
	assert_has(cmd(f, "b UNSUBSCRIBE Lists\r\n"), "b OK");
	assert_has(cmd(f, "c UNSUBSCRIBE Lists\r\n"), "c OK");
	assert_has(cmd(f, "d SUBSCRIBE Gone/Away\r\n"), "d OK");
	assert_has(cmd(f, "e SUBSCRIBE\r\n"), "e BAD");

	const char *r = cmd(f, "f LSUB \"\" *\r\n");
	assert_has(r, "* LSUB () \"/\" INBOX\r\n");
	assert_has(r, "* LSUB () \"/\" Lists/Dev\r\n");
	assert_has(r, "* LSUB (\\Noselect) \"/\" Gone/Away\r\n");
	assert_lacks(r, "\"/\" Lists\r\n");
	assert_lacks(r, "\"/\" Gone\r\n");
	/* LSUB's '%' rule: the unsubscribed parent stands in for its children. */
	r = cmd(f, "g LSUB \"\" %\r\n");
	assert_has(r, "* LSUB (\\Noselect) \"/\" Lists\r\n");
	assert_has(r, "* LSUB (\\Noselect) \"/\" Gone\r\n");
	assert_lacks(r, "Lists/Dev");

	/* LIST (SUBSCRIBED) with RECURSIVEMATCH gives CHILDINFO instead. */
	r = cmd(f, "h LIST (SUBSCRIBED) \"\" *\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Lists/Dev\r\n");
	assert_has(r, "* LIST (\\NonExistent \\Subscribed) \"/\" Gone/Away\r\n");
	assert_lacks(r, "\"/\" Lists\r\n");
	r = cmd(f, "i LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)\r\n");
	assert_has(r, "* LIST (\\HasChildren) \"/\" Lists (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	assert_has(r, "* LIST (\\NonExistent) \"/\" Gone (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX\r\n");
	/* Without RECURSIVEMATCH, no parents. */
	r = cmd(f, "j LIST (SUBSCRIBED) \"\" %\r\n");
	assert_lacks(r, "Lists");
	assert_lacks(r, "CHILDINFO");
	/* A parent whose subscribed child is listed itself gets no CHILDINFO. */
	r = cmd(f, "k LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *\r\n");
	assert_lacks(r, "CHILDINFO");
	/* RETURN (SUBSCRIBED) marks, without selecting. */
	r = cmd(f, "l LIST \"\" Lists* RETURN (SUBSCRIBED)\r\n");
	assert_has(r, "* LIST (\\HasChildren) \"/\" Lists\r\n");
	assert_has(r, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Lists/Dev\r\n");
	/* RENAME carries the subscription; DELETE leaves it. */
	assert_has(cmd(f, "m RENAME Lists/Dev Lists/Ops\r\n"), "m OK");
	assert_has(cmd(f, "n LSUB \"\" Lists/*\r\n"), "* LSUB () \"/\" Lists/Ops\r\n");
	assert_has(cmd(f, "o DELETE Lists/Ops\r\n"), "o OK");
	assert_has(cmd(f, "p LSUB \"\" Lists/*\r\n"), "* LSUB (\\Noselect) \"/\" Lists/Ops\r\n");
	assert_has(cmd(f, "q UNSUBSCRIBE Lists/Ops\r\n"), "q OK");
	assert_lacks(cmd(f, "r LSUB \"\" Lists/*\r\n"), "* LSUB");
}

static void test_not_authenticated(void **state)
{
	struct tu_session *f = *state;
	struct imap_settings st = {
		.config = &f->t->config,
		.store = f->t->store,
		.session_id = "t2",
		.peer_ip = "127.0.0.1",
		.peer_loopback = true,
		.login = tu_fake_login,
	};
	struct buf out;
	buf_init(&out);
	struct imap_session *s = imap_session_create(&st, &out);
	static const char *const cmds[] = {
		"a LIST \"\" *\r\n",
		"a CREATE x\r\n",
		"a DELETE x\r\n",
		"a RENAME x y\r\n",
		"a STATUS INBOX (MESSAGES)\r\n",
		"a NAMESPACE\r\n",
		"a LSUB \"\" *\r\n",
		"a SUBSCRIBE x\r\n",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct buf in;
		buf_init(&in);
		buf_append_str(&in, cmds[i]);
		buf_clear(&out);
		imap_session_input(s, &in, &out);
		assert_has(buf_cstr(&out), "a BAD");
		buf_deinit(&in);
		s->bad_count = 0;
	}
	imap_session_destroy(&s);
	buf_deinit(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test_setup_teardown(test_pathological_pattern, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_new_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_hierarchy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf7_utf8_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_and_control_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_authenticated, setup, teardown),
	};
	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
