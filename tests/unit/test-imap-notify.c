/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of NOTIFY (imap-notify.c) and METADATA (cmd-metadata.c) on
 * the pure session engine: the hub's account waiters (what wakes them and
 * what does not), NOTIFY SET parsing (BAD, NO [BADEVENT]), the events the
 * poll hook queues after store changes made behind the session's back
 * (MailboxName, SubscriptionChange, STATUS, METADATA) and nothing when
 * nothing changed or after NOTIFY NONE, and the METADATA commands fed one
 * byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap-private.h"
#include "mime/mime.h"
#include "testutil.h"

static int setup(void **state)
{
	return tu_session_setup(state, "imap-notify");
}

static int teardown(void **state)
{
	return tu_session_teardown(state);
}

/* What the poll hook queues now. */
static const char *poll_out(struct tu_session *t)
{
	static struct buf out;
	buf_clear(&out);
	imap_idle_poll(t->x.s, &out);
	buf_append(&out, "", 1);
	out.len--;
	return out.data;
}

static void test_account_waiters(void **state)
{
	struct tu_session *t = *state;
	struct store *st = t->t->store;
	const char *error = NULL;
	int64_t other = 0;
	assert_int_equal(
		store_account_add(st, "z@example.org", "$argon2id$v=19$fake", &other, &error), 0);
	struct store_waiter mine = {0}, theirs = {0};
	store_notify_wait_account(&mine, t->t->acc);
	store_notify_wait_account(&theirs, other);
	/* A new mailbox, a subscription, a server entry, a delivery: each wakes. */
	assert_int_equal(store_mailbox_create(st, t->t->acc, "New", NULL, &error), 0);
	assert_true(store_waiter_fired(&mine));
	assert_false(store_waiter_fired(&mine));
	assert_false(store_waiter_fired(&theirs));
	assert_int_equal(store_mailbox_subscribe(st, t->t->acc, "New", true, &error), 1);
	assert_true(store_waiter_fired(&mine));
	struct store_metadata_entry e = {"/private/comment", "x", 1};
	assert_int_equal(store_metadata_set(st, 0, t->t->acc, &e, 1, 10, &error), 1);
	assert_true(store_waiter_fired(&mine));
	tu_deliver_subject(t->t, NULL, "wake", 0);
	assert_true(store_waiter_fired(&mine));
	assert_false(store_waiter_fired(&theirs));
	/* Unchanged subscription: nothing to tell. */
	assert_int_equal(store_mailbox_subscribe(st, t->t->acc, "New", true, &error), 0);
	assert_false(store_waiter_fired(&mine));
	store_notify_unwait(&mine);
	store_notify_unwait(&theirs);
	tu_deliver_subject(t->t, NULL, "after", 0);
	assert_false(store_waiter_fired(&mine));
}

static void test_parse_errors(void **state)
{
	struct tu_session *t = *state;
	static const char *const bad[] = {
		"n NOTIFY\r\n",
		"n NOTIFY SET\r\n",
		"n NOTIFY SET (personal (Bogus))\r\n",
		"n NOTIFY SET (personal (MessageExpunge))\r\n",
		"n NOTIFY SET (subscribed (FlagChange MailboxName))\r\n",
		"n NOTIFY SET (personal (MessageNew (FLAGS) MessageExpunge))\r\n",
		"n NOTIFY SET (selected (MessageNew (RFC822) MessageExpunge))\r\n",
		"n NOTIFY SET (selected NONE) (selected NONE)\r\n",
		"n NOTIFY SET (mailboxes INBOX)\r\n",
		"n NOTIFY SET (mailboxes \"a\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *out = tu_imap_cmd(&t->x, bad[i]);
		if (strstr(out, "n BAD") == NULL && strstr(out, "BAD") == NULL)
			fail_msg("%s: %s", bad[i], out);
		t->x.s->bad_count = 0;
	}
	const char *out = tu_imap_cmd(
		&t->x, "n NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))\r\n");
	assert_has(out, "n NO [BADEVENT (");
	assert_null(t->x.s->notify);
	/* A valid one with every filter. */
	out = tu_imap_cmd(&t->x,
			  "n NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER]) "
			  "MessageExpunge)) (inboxes (MessageNew MessageExpunge)) (personal "
			  "(MailboxName)) (subscribed (SubscriptionChange)) (subtree (a b) "
			  "(MailboxMetadataChange)) (mailboxes c (ServerMetadataChange))\r\n");
	assert_has(out, "n OK");
	assert_non_null(t->x.s->notify);
	assert_has(tu_imap_cmd(&t->x, "n NOTIFY NONE\r\n"), "n OK");
	assert_null(t->x.s->notify);
}

static void test_events_from_poll(void **state)
{
	struct tu_session *t = *state;
	struct store *st = t->t->store;
	const char *error = NULL;
	assert_has(tu_imap_cmd(&t->x,
			       "n NOTIFY SET (personal (MessageNew MessageExpunge FlagChange "
			       "MailboxName SubscriptionChange MailboxMetadataChange "
			       "ServerMetadataChange))\r\n"),
		   "n OK");
	assert_string_equal(poll_out(t), "");
	assert_int_equal(store_mailbox_create(st, t->t->acc, "Foo", NULL, &error), 0);
	assert_string_equal(poll_out(t), "* LIST () \"/\" Foo\r\n");
	assert_int_equal(store_mailbox_rename(st, t->t->acc, "Foo", "Bar", &error), 0);
	assert_string_equal(poll_out(t), "* LIST () \"/\" Bar (\"OLDNAME\" (Foo))\r\n");
	assert_int_equal(store_mailbox_subscribe(st, t->t->acc, "Bar", true, &error), 1);
	assert_string_equal(poll_out(t), "* LIST (\\Subscribed) \"/\" Bar\r\n");
	tu_deliver_subject(t->t, "Bar", "one", 0);
	const char *out = poll_out(t);
	assert_has(out, "* STATUS Bar (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ");
	assert_has(out, " UNSEEN 1)\r\n");
	/* A flag change: UNSEEN moves (FlagChange). */
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(st, t->t->acc, "Bar", &m), 1);
	assert_int_equal(store_message_set_flags(st, m.id, 1, STORE_FLAG_SEEN, &error), 0);
	assert_has(poll_out(t), " UNSEEN 0)\r\n");
	/* Nothing changed: nothing said. */
	assert_string_equal(poll_out(t), "");
	struct store_metadata_entry e[2] = {{"/shared/comment", "c", 1}, {"/private/x", "p", 1}};
	assert_int_equal(store_metadata_set(st, m.id, t->t->acc, e, 2, 10, &error), 1);
	assert_string_equal(poll_out(t), "* METADATA Bar /private/x /shared/comment\r\n");
	assert_int_equal(store_metadata_set(st, 0, t->t->acc, e + 1, 1, 10, &error), 1);
	assert_string_equal(poll_out(t), "* METADATA \"\" /private/x\r\n");
	assert_int_equal(store_mailbox_delete(st, t->t->acc, "Bar", &error), 0);
	assert_string_equal(poll_out(t), "* LIST (\\NonExistent) \"/\" Bar\r\n");
	/* NOTIFY NONE: silence. */
	assert_has(tu_imap_cmd(&t->x, "n NOTIFY NONE\r\n"), "n OK");
	assert_int_equal(store_mailbox_create(st, t->t->acc, "Quiet", NULL, &error), 0);
	assert_string_equal(poll_out(t), "");
}

/* METADATA commands arriving one byte at a time. */
static void test_metadata_bytewise(void **state)
{
	struct tu_session *t = *state;
	const char *cmds[] = {
		"m SETMETADATA INBOX (/private/comment {3}\r\nabc /shared/comment \"s\")\r\n",
		"g GETMETADATA (DEPTH infinity) INBOX (/private /shared)\r\n",
	};
	struct buf all;
	buf_init(&all);
	for (size_t c = 0; c < 2; c++) {
		for (const char *p = cmds[c]; *p != '\0'; p++)
			buf_append_str(&all, tu_imap_feed(&t->x, p, 1));
	}
	buf_append(&all, "", 1);
	assert_has(all.data, "m OK");
	assert_has(all.data,
		   "* METADATA INBOX (/private/comment \"abc\" /shared/comment \"s\")\r\ng OK");
	buf_deinit(&all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_account_waiters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_from_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_bytewise, setup, teardown),
	};
	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
