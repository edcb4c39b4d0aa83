/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the QUOTA extension (RFC 9208 / RFC 2087): GETQUOTAROOT
 * and GETQUOTA with and without an account quota, the STORAGE numbers in
 * KiB rounded up and read afresh after deliveries, SETQUOTA refused with
 * NOPERM but checked for syntax first, STATUS DELETED-STORAGE (also
 * through LIST-STATUS), the capability, the states the commands are
 * allowed in, and APPEND / COPY answering NO [OVERQUOTA] when the quota is
 * full while MOVE inside the account still works (the total is unchanged).
 * Each test drives a real session over a real store in a mkdtemp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap/imap-private.h"
#include "lib/config.h"
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
	return tu_session_setup(state, "imap-quota");
}

static int teardown(void **state)
{
	return tu_session_teardown(state);
}

static void set_quota(struct tu_session *f, int64_t bytes)
{
	const char *error = NULL;
	assert_int_equal(store_account_set_quota(f->t->store, "a@example.org", bytes, &error), 0);
}

static int64_t used_bytes(struct tu_session *f)
{
	struct store_account a;
	assert_int_equal(store_account_get_by_id(f->t->store, f->t->acc, &a), 1);
	return a.used_bytes;
}

static void test_kib_rounding(void **state)
{
	(void)state;
	assert_int_equal(imap_quota_kib(0), 0);
	assert_int_equal(imap_quota_kib(1), 1);
	assert_int_equal(imap_quota_kib(1024), 1);
	assert_int_equal(imap_quota_kib(1025), 2);
	assert_int_equal(imap_quota_kib(524288000), 512000);
}

static void test_capability(void **state)
{
	struct tu_session *f = *state;
	const char *r = cmd(f, "c CAPABILITY\r\n");
	assert_has(r, " QUOTA ");
	assert_has(r, " QUOTA=RES-STORAGE");
	assert_lacks(r, "QUOTASET");
}

static void test_no_quota(void **state)
{
	struct tu_session *f = *state;
	tu_deliver_subject(f->t, NULL, "one", 0);
	const char *r = cmd(f, "q GETQUOTAROOT INBOX\r\n");
	assert_has(r, "* QUOTAROOT INBOX\r\nq OK");
	assert_lacks(r, "* QUOTA ");
	r = cmd(f, "q GETQUOTA \"\"\r\n");
	assert_has(r, "q NO [NONEXISTENT]");
	assert_lacks(r, "* QUOTA");
}

static void test_quota_numbers(void **state)
{
	struct tu_session *f = *state;
	set_quota(f, 10 * 1024 + 1);
	const char *r = cmd(f, "q GETQUOTAROOT inbox\r\n");
	assert_has(r, "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 0 11)\r\nq OK");
	tu_deliver_subject(f->t, NULL, "one", 0);
	tu_deliver_subject(f->t, NULL, "two", 0);
	int64_t used = used_bytes(f);
	assert_true(used > 0);
	char want[128];
	snprintf(want, sizeof(want), "* QUOTA \"\" (STORAGE %llu 11)\r\nq OK",
		 (unsigned long long)imap_quota_kib((uint64_t)used));
	/* Read afresh: the delivery after login shows at once. */
	assert_has(cmd(f, "q GETQUOTAROOT INBOX\r\n"), want);
	assert_has(cmd(f, "q GETQUOTA \"\"\r\n"), want);
	/* The root may come as a literal too. */
	assert_has(cmd(f, "q GETQUOTA {0+}\r\n\r\n"), want);
	/* Any mailbox of the account has the same root. */
	assert_has(cmd(f, "q GETQUOTAROOT Archive\r\n"),
		   "* QUOTAROOT Archive \"\"\r\n* QUOTA \"\" (STORAGE");
	/* mUTF-7 names are decoded and written back the same way. */
	assert_has(cmd(f, "c CREATE \"&AOk-t&AOk-\"\r\n"), "c OK");
	assert_has(cmd(f, "q GETQUOTAROOT \"&AOk-t&AOk-\"\r\n"),
		   "* QUOTAROOT &AOk-t&AOk- \"\"\r\n");
}

static void test_bad_input(void **state)
{
	struct tu_session *f = *state;
	set_quota(f, 4096);
	assert_has(cmd(f, "q GETQUOTAROOT\r\n"), "q BAD");
	assert_has(cmd(f, "q GETQUOTAROOT INBOX extra\r\n"), "q BAD");
	assert_has(cmd(f, "q GETQUOTAROOT (INBOX)\r\n"), "q BAD");
	assert_has(cmd(f, "q GETQUOTAROOT Nope\r\n"), "q NO [NONEXISTENT]");
	assert_has(cmd(f, "q GETQUOTAROOT \"a/../b\"\r\n"), "q NO [NONEXISTENT]");
	assert_has(cmd(f, "q GETQUOTAROOT \"&Jjo\"\r\n"), "q NO [NONEXISTENT]");
	assert_has(cmd(f, "q GETQUOTA\r\n"), "q BAD");
	assert_has(cmd(f, "q GETQUOTA \"\" \"\"\r\n"), "q BAD");
	assert_has(cmd(f, "q GETQUOTA ()\r\n"), "q BAD");
	const char *r = cmd(f, "q GETQUOTA \"User quota\"\r\n");
	assert_has(r, "q NO [NONEXISTENT]");
	assert_lacks(r, "* QUOTA");
	assert_has(cmd(f, "q GETQUOTA INBOX\r\n"), "q NO [NONEXISTENT]");
}

static void test_setquota(void **state)
{
	struct tu_session *f = *state;
	set_quota(f, 4096);
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE 512)\r\n"), "s NO [NOPERM]");
	assert_has(cmd(f, "s SETQUOTA \"\" ()\r\n"), "s NO [NOPERM]");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE 1 MESSAGE 4)\r\n"), "s NO [NOPERM]");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE)\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE x)\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE -1)\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE 99999999999999999999)\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE 9223372036854775808)\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE 9223372036854775807)\r\n"), "s NO [NOPERM]");
	assert_has(cmd(f, "s SETQUOTA \"\" (\"STORAGE\" 1)\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" STORAGE 1\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\"\r\n"), "s BAD");
	assert_has(cmd(f, "s SETQUOTA \"\" (STORAGE 1) x\r\n"), "s BAD");
	/* Nothing changed. */
	struct store_account a;
	assert_int_equal(store_account_get_by_id(f->t->store, f->t->acc, &a), 1);
	assert_int_equal(a.quota_bytes, 4096);
}

static void test_not_authenticated(void **state)
{
	struct tu_session *f = *state;
	struct tu_imap y;
	tu_imap_open(&y, f->t, false, NULL);
	assert_has(tu_imap_cmd(&y, "q GETQUOTAROOT INBOX\r\n"), "q BAD");
	assert_has(tu_imap_cmd(&y, "q GETQUOTA \"\"\r\n"), "q BAD");
	assert_has(tu_imap_cmd(&y, "q SETQUOTA \"\" (STORAGE 1)\r\n"), "q BAD");
	tu_imap_close(&y);
}

static void test_selected_state(void **state)
{
	struct tu_session *f = *state;
	set_quota(f, 1 << 20);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	assert_has(cmd(f, "q GETQUOTAROOT INBOX\r\n"), "* QUOTA \"\" (STORAGE 0 1024)\r\nq OK");
}

static void test_deleted_storage(void **state)
{
	struct tu_session *f = *state;
	tu_deliver_subject(f->t, NULL, "keep", 0);
	assert_has(cmd(f, "s STATUS INBOX (DELETED DELETED-STORAGE)\r\n"),
		   "* STATUS INBOX (DELETED 0 DELETED-STORAGE 0)\r\ns OK");
	tu_deliver_subject(f->t, NULL, "gone1", STORE_FLAG_DELETED);
	tu_deliver_subject(f->t, NULL, "gone2", STORE_FLAG_DELETED | STORE_FLAG_SEEN);
	/* The expected size: what the two \Deleted entries weigh. */
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->t->store, f->t->inbox, &st), 1);
	uint64_t bytes;
	assert_int_equal(store_mailbox_deleted_size(f->t->store, f->t->inbox, &bytes), 1);
	assert_true(bytes > 0 && bytes < st.size);
	char want[128];
	snprintf(want, sizeof(want), "* STATUS INBOX (DELETED-STORAGE %llu MESSAGES 3)",
		 (unsigned long long)imap_quota_kib(bytes));
	assert_has(cmd(f, "s STATUS INBOX (DELETED-STORAGE MESSAGES)\r\n"), want);
	assert_has(cmd(f, "l LIST \"\" INBOX RETURN (STATUS (DELETED-STORAGE MESSAGES))\r\n"),
		   want);
	/* After EXPUNGE nothing is left to reclaim. */
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	assert_has(cmd(f, "e EXPUNGE\r\n"), "e OK");
	assert_has(cmd(f, "s STATUS INBOX (DELETED-STORAGE)\r\n"),
		   "* STATUS INBOX (DELETED-STORAGE 0)");
	/* An empty mailbox, an unknown one, a bad item. */
	assert_has(cmd(f, "s STATUS Trash (DELETED-STORAGE)\r\n"),
		   "* STATUS Trash (DELETED-STORAGE 0)");
	assert_has(cmd(f, "s STATUS Nope (DELETED-STORAGE)\r\n"), "s NO [NONEXISTENT]");
	assert_has(cmd(f, "s STATUS INBOX (DELETED-STORAGES)\r\n"), "s BAD");
	uint64_t none;
	assert_int_equal(store_mailbox_deleted_size(f->t->store, 999999, &none), 0);
}

static const char small_msg[] = "From: x@example.net\r\nSubject: s\r\n\r\nbody\r\n";

static void test_overquota(void **state)
{
	struct tu_session *f = *state;
	tu_deliver_subject(f->t, NULL, "one", 0);
	tu_deliver_subject(f->t, NULL, "two", 0);
	/* Exactly full: nothing more fits. */
	set_quota(f, used_bytes(f));
	char line[128];
	snprintf(line, sizeof(line), "a APPEND INBOX {%zu+}\r\n", strlen(small_msg));
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, line);
	buf_append_str(&b, small_msg);
	buf_append_str(&b, "\r\n");
	const char *r = tu_imap_feed(&f->x, b.data, b.len);
	assert_has(r, "a NO [OVERQUOTA]");
	buf_deinit(&b);
	assert_has(cmd(f, "s SELECT INBOX\r\n"), "s OK");
	assert_has(cmd(f, "c COPY 1 Archive\r\n"), "c NO [OVERQUOTA]");
	assert_has(cmd(f, "c UID COPY 1:* Archive\r\n"), "c NO [OVERQUOTA]");
	/* MOVE inside the account does not change the total: allowed. */
	assert_has(cmd(f, "m MOVE 1 Archive\r\n"), "m OK");
	assert_has(cmd(f, "q GETQUOTA \"\"\r\n"), "q OK");
	/* Freeing space lets APPEND in again. */
	set_quota(f, used_bytes(f) + 4096);
	buf_init(&b);
	buf_append_str(&b, line);
	buf_append_str(&b, small_msg);
	buf_append_str(&b, "\r\n");
	assert_has(tu_imap_feed(&f->x, b.data, b.len), "a OK");
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kib_rounding),
		cmocka_unit_test_setup_teardown(test_capability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setquota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_authenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selected_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overquota, setup, teardown),
	};
	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
