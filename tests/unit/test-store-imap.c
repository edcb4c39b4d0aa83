/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the IMAP half of the store (store.h after schema step 2):
 * keywords and STORE with UNCHANGEDSINCE, COPY/MOVE, the expunge log,
 * APPEND, parsed data read-back, subscriptions, STATUS numbers, mailbox
 * name validation, migration from a step-1 database, the change
 * notification hub, listing by UID ranges and the mailbox head. Each
 * test runs in its own mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/store.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct store *s;
	int64_t acc;
	int64_t inbox;
};

static int64_t mailbox_id(struct store *s, int64_t acc, const char *name)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(s, acc, name, &m), 1);
	return m.id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (tu_store_open("store-imap", f->dir, sizeof(f->dir), &f->s, &f->acc, &f->inbox) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_store_remove(f->dir, &f->s);
	free(f);
	return 0;
}

static const char *const bodies[] = {
	"Subject: one\r\n\r\nfirst\r\n",
	"Subject: two\r\n\r\nsecond message\r\n",
	"Subject: three\r\n\r\nthird one here\r\n",
};

/* Deliver bodies[0..n) to INBOX; UIDs 1..n. */
static void deliver_n(struct fixture *f, size_t n)
{
	const char *error = NULL;
	for (size_t i = 0; i < n; i++) {
		uint32_t uid = 0;
		assert_int_equal(store_deliver(f->s, bodies[i], strlen(bodies[i]), NULL, &f->acc, 1,
					       NULL, 0, 0, &uid, &error),
				 0);
		assert_int_equal(uid, i + 1);
	}
}

/* The store_message_ex of uid in a mailbox (copied out), or fails. */
static struct store_message_ex find_msg(struct store *s, int64_t mbox, uint32_t uid, char *kw,
					size_t kwsize)
{
	struct store_message_ex *v = NULL, r;
	size_t n = 0;
	bool found = false;

	assert_int_equal(store_message_list_full(s, mbox, &v, &n), 0);
	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++) {
		if (v[i].msg.uid == uid) {
			r = v[i];
			snprintf(kw, kwsize, "%s", v[i].keywords);
			found = true;
		}
	}
	store_message_ex_free(&v, n);
	assert_null(v);
	assert_true(found);
	r.keywords = NULL;
	return r;
}

struct strs {
	char v[300][140];
	size_t n;
};

static void collect_str(void *ctx, const char *str)
{
	struct strs *l = ctx;
	if (l->n < 300)
		snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", str);
}

/* --- keywords ---------------------------------------------------------- */

static void test_keywords(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint64_t m1 = 0, m2 = 0, m3 = 0;
	char kw[512];
	struct strs l = {0};

	deliver_n(f, 1);
	const char *set1[] = {"custom", "$Forwarded"};
	assert_int_equal(store_message_set_flags_keywords(f->s, f->inbox, 1, STORE_FLAG_SEEN, set1,
							  2, 0, &m1, &error),
			 1);
	struct store_message_ex m = find_msg(f->s, f->inbox, 1, kw, sizeof(kw));
	assert_string_equal(kw, "$Forwarded custom");
	assert_int_equal(m.msg.flags, STORE_FLAG_SEEN);
	assert_int_equal(m.msg.modseq, m1);

	/* same state in another case: no change, MODSEQ kept */
	const char *set2[] = {"$FORWARDED", "Custom", "custom"};
	assert_int_equal(store_message_set_flags_keywords(f->s, f->inbox, 1, STORE_FLAG_SEEN, set2,
							  3, 0, &m2, &error),
			 1);
	assert_int_equal(m2, m1);
	find_msg(f->s, f->inbox, 1, kw, sizeof(kw));
	assert_string_equal(kw, "$Forwarded custom");

	/* UNCHANGEDSINCE older than the message: refused, reports current */
	const char *set3[] = {"$Junk"};
	assert_int_equal(store_message_set_flags_keywords(f->s, f->inbox, 1, 0, set3, 1, m1 - 1,
							  &m3, &error),
			 0);
	assert_int_equal(m3, m1);
	find_msg(f->s, f->inbox, 1, kw, sizeof(kw));
	assert_string_equal(kw, "$Forwarded custom");
	/* UNCHANGEDSINCE equal: allowed */
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 1, 0, set3, 1, m1, &m3, &error),
		1);
	assert_true(m3 > m1);
	m = find_msg(f->s, f->inbox, 1, kw, sizeof(kw));
	assert_string_equal(kw, "$Junk");
	assert_int_equal(m.msg.flags, 0);

	/* registry: every keyword ever used, first spelling, in order */
	assert_int_equal(store_mailbox_keywords(f->s, f->inbox, collect_str, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "custom");
	assert_string_equal(l.v[1], "$Forwarded");
	assert_string_equal(l.v[2], "$Junk");

	/* bad input */
	const char *bad[] = {"\\Seen", "a b", "", "(x", "x]", "a\"b", "%", "é", "a\x01"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(store_keyword_valid(bad[i]));
		assert_int_equal(store_message_set_flags_keywords(f->s, f->inbox, 1, 0, &bad[i], 1,
								  0, NULL, &error),
				 -1);
		assert_non_null(strstr(error, "keyword"));
	}
	char longkw[STORE_KEYWORD_MAX_LEN + 2];
	memset(longkw, 'k', sizeof(longkw) - 1);
	longkw[sizeof(longkw) - 1] = '\0';
	const char *lk = longkw;
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 1, 0, &lk, 1, 0, NULL, &error),
		-1);
	longkw[STORE_KEYWORD_MAX_LEN] = '\0';
	assert_true(store_keyword_valid(longkw));
	assert_false(store_keyword_valid(NULL));
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 1, 0, NULL, 1, 0, NULL, &error),
		-1);
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 99, 0, NULL, 0, 0, NULL, &error),
		-1);
	assert_string_equal(error, "no such message");
	assert_int_equal(
		store_message_set_flags_keywords(f->s, 9999, 1, 0, NULL, 0, 0, NULL, &error), -1);
	assert_string_equal(error, "no such mailbox");
	/* the failed calls registered nothing */
	l.n = 0;
	assert_int_equal(store_mailbox_keywords(f->s, f->inbox, collect_str, &l), 0);
	assert_int_equal(l.n, 3);
}

static void test_keyword_cap(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char name[32];
	struct strs *l = calloc(1, sizeof(*l));

	deliver_n(f, 1);
	/* new keywords up to the cap */
	for (int i = 0; i < STORE_MAILBOX_KEYWORDS_MAX; i++) {
		snprintf(name, sizeof(name), "kw%d", i);
		const char *k = name;
		assert_int_equal(store_message_set_flags_keywords(f->s, f->inbox, 1, 0, &k, 1, 0,
								  NULL, &error),
				 1);
	}
	const char *extra = "one-too-many";
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 1, 0, &extra, 1, 0, NULL, &error),
		-1);
	assert_string_equal(error, "too many keywords");
	/* an existing one (any case) is still fine */
	const char *old = "KW7";
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 1, 0, &old, 1, 0, NULL, &error),
		1);
	assert_int_equal(store_mailbox_keywords(f->s, f->inbox, collect_str, l), 0);
	assert_int_equal(l->n, STORE_MAILBOX_KEYWORDS_MAX);
	char kw[64];
	find_msg(f->s, f->inbox, 1, kw, sizeof(kw));
	assert_string_equal(kw, "kw7");
	free(l);
}

static void test_update_flags_ops(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_flags_outcome o;
	const char *a[] = {"$Label1", "$Label2"};
	uint32_t uids[] = {3, 1, 42, 2};
	char kw[256];

	deliver_n(f, 3);
	struct store_flags_update add = {
		.op = STORE_FLAGS_ADD,
		.flags = STORE_FLAG_FLAGGED | 0x100,
		.keywords = a,
		.n_keywords = 2,
	};
	assert_int_equal(store_message_update_flags(f->s, f->inbox, uids, 4, &add, &o, &error), 0);
	assert_int_equal(o.n_results, 3); /* 42 skipped */
	assert_int_equal(o.n_modified, 0);
	assert_int_equal(o.results[0].uid, 3);
	assert_int_equal(o.results[1].uid, 1);
	assert_int_equal(o.results[2].uid, 2);
	for (size_t i = 0; i < 3; i++) {
		assert_true(o.results[i].changed);
		assert_int_equal(o.results[i].flags, STORE_FLAG_FLAGGED);
		assert_string_equal(o.results[i].keywords, "$Label1 $Label2");
	}
	/* one MODSEQ per changed message, all distinct */
	assert_true(o.results[0].modseq != o.results[1].modseq);
	uint64_t after_add = o.results[2].modseq;
	store_flags_outcome_free(&o);
	assert_null(o.results);

	/* REMOVE one keyword and \Flagged from 2 only */
	const char *r[] = {"$label2"};
	struct store_flags_update rem = {
		.op = STORE_FLAGS_REMOVE,
		.flags = STORE_FLAG_FLAGGED,
		.keywords = r,
		.n_keywords = 1,
	};
	uint32_t two = 2;
	assert_int_equal(store_message_update_flags(f->s, f->inbox, &two, 1, &rem, &o, &error), 0);
	assert_int_equal(o.n_results, 1);
	assert_int_equal(o.results[0].flags, 0);
	assert_string_equal(o.results[0].keywords, "$Label1");
	store_flags_outcome_free(&o);

	/* ADD of what is already there: unchanged, MODSEQ kept */
	struct store_flags_update again = {
		.op = STORE_FLAGS_ADD,
		.flags = STORE_FLAG_FLAGGED,
		.keywords = a,
		.n_keywords = 1,
	};
	uint32_t three = 3;
	struct store_message_ex before = find_msg(f->s, f->inbox, 3, kw, sizeof(kw));
	assert_int_equal(store_message_update_flags(f->s, f->inbox, &three, 1, &again, &o, &error),
			 0);
	assert_false(o.results[0].changed);
	assert_int_equal(o.results[0].modseq, before.msg.modseq);
	store_flags_outcome_free(&o);

	/* UNCHANGEDSINCE: 2 was changed after after_add, 1 was not */
	struct store_flags_update cond = {
		.op = STORE_FLAGS_ADD,
		.flags = STORE_FLAG_SEEN,
		.unchangedsince = after_add,
	};
	uint32_t both[] = {1, 2};
	assert_int_equal(store_message_update_flags(f->s, f->inbox, both, 2, &cond, &o, &error), 0);
	assert_int_equal(o.n_results, 1);
	assert_int_equal(o.results[0].uid, 1);
	assert_int_equal(o.results[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_int_equal(o.n_modified, 1);
	assert_int_equal(o.modified[0], 2);
	store_flags_outcome_free(&o);

	/* REMOVE never registers a keyword */
	const char *unknown[] = {"$NeverSeen"};
	struct store_flags_update rem2 = {
		.op = STORE_FLAGS_REMOVE,
		.keywords = unknown,
		.n_keywords = 1,
	};
	assert_int_equal(store_message_update_flags(f->s, f->inbox, both, 2, &rem2, &o, &error), 0);
	store_flags_outcome_free(&o);
	struct strs l = {0};
	assert_int_equal(store_mailbox_keywords(f->s, f->inbox, collect_str, &l), 0);
	assert_int_equal(l.n, 2);

	/* bad arguments */
	struct store_flags_update badop = {.op = (enum store_flags_op)7};
	assert_int_equal(store_message_update_flags(f->s, f->inbox, both, 2, &badop, &o, &error),
			 -1);
	assert_int_equal(store_message_update_flags(f->s, f->inbox, NULL, 2, &add, &o, &error), -1);
	assert_int_equal(store_message_update_flags(f->s, f->inbox, both, 2, NULL, &o, &error), -1);
	assert_int_equal(store_message_update_flags(f->s, 777, both, 2, &add, &o, &error), -1);
	assert_null(o.results);
	store_flags_outcome_free(&o); /* safe after -1 */
	/* empty set is fine */
	assert_int_equal(store_message_update_flags(f->s, f->inbox, NULL, 0, &add, &o, &error), 0);
	assert_int_equal(o.n_results, 0);
	store_flags_outcome_free(&o);
}

/* --- copy / move / expunge log ----------------------------------------- */

static void test_copy(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	int64_t archive = mailbox_id(f->s, f->acc, "Archive");
	uint32_t dst[3] = {9, 9, 9};
	char kw[256], kw2[256];
	struct store_account a;

	deliver_n(f, 3);
	const char *k[] = {"$Forwarded"};
	assert_int_equal(store_message_set_flags_keywords(f->s, f->inbox, 3,
							  STORE_FLAG_SEEN | STORE_FLAG_ANSWERED, k,
							  1, 0, NULL, &error),
			 1);
	/* the destination already knows the keyword with another spelling */
	assert_int_equal(store_append(f->s, f->acc, archive, "x", 1, NULL, 0,
				      (const char *[]){"$forwarded"}, 1, 0, NULL, NULL, &error),
			 0);
	assert_int_equal(store_message_expunge(f->s, archive, (uint32_t[]){1}, 1, &error), 0);
	int blobs = tu_count_blobs(f->dir);
	struct store_mailbox before;
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Archive", &before), 1);

	uint32_t uids[] = {3, 1, 99};
	assert_int_equal(store_message_copy(f->s, f->inbox, uids, 3, archive, dst, &error), 0);
	assert_int_equal(dst[0], 2);
	assert_int_equal(dst[1], 3);
	assert_int_equal(dst[2], 0);
	assert_int_equal(tu_count_blobs(f->dir), blobs);
	struct store_message_ex src3 = find_msg(f->s, f->inbox, 3, kw, sizeof(kw));
	struct store_message_ex cp = find_msg(f->s, archive, 2, kw2, sizeof(kw2));
	assert_string_equal(cp.msg.blob_id, src3.msg.blob_id);
	assert_int_equal(cp.msg.flags, STORE_FLAG_SEEN | STORE_FLAG_ANSWERED);
	assert_string_equal(kw2, "$forwarded"); /* destination's spelling */
	assert_int_equal(cp.msg.internal_date, src3.msg.internal_date);
	assert_int_equal(cp.msg.size, strlen(bodies[2]));
	assert_true(cp.msg.modseq > before.highestmodseq);
	struct store_message_ex cp1 = find_msg(f->s, archive, 3, kw2, sizeof(kw2));
	assert_true(cp1.msg.modseq > cp.msg.modseq);
	/* source untouched */
	struct store_mailbox in;
	assert_int_equal(store_mailbox_get(f->s, f->acc, "INBOX", &in), 1);
	assert_int_equal(in.messages, 3);
	assert_int_equal(store_account_get(f->s, "a@example.org", &a), 1);
	uint64_t used = (uint64_t)a.used_bytes;
	assert_int_equal(used, 2 * strlen(bodies[0]) + strlen(bodies[1]) + 2 * strlen(bodies[2]));

	/* copy to the same mailbox is allowed */
	assert_int_equal(
		store_message_copy(f->s, f->inbox, (uint32_t[]){2}, 1, f->inbox, dst, &error), 0);
	assert_int_equal(dst[0], 4);

	/* quota: the whole copy fails, nothing is copied */
	assert_int_equal(store_account_set_quota(f->s, "a@example.org",
						 (int64_t)(used + strlen(bodies[1]) + 1), &error),
			 0);
	uint32_t all[] = {1, 2, 3};
	assert_int_equal(store_message_copy(f->s, f->inbox, all, 3, archive, dst, &error), -1);
	assert_non_null(strstr(error, "quota"));
	assert_int_equal(dst[0], 0);
	struct store_mailbox arch;
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Archive", &arch), 1);
	assert_int_equal(arch.messages, 2);
	assert_int_equal(arch.uidnext, 4);

	/* bad input */
	assert_int_equal(store_message_copy(f->s, f->inbox, NULL, 1, archive, NULL, &error), -1);
	assert_int_equal(
		store_message_copy(f->s, f->inbox, (uint32_t[]){1, 1}, 2, archive, NULL, &error),
		-1);
	assert_string_equal(error, "duplicate UID");
	assert_int_equal(store_message_copy(f->s, 4242, all, 1, archive, NULL, &error), -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(store_message_copy(f->s, f->inbox, all, 1, 4242, NULL, &error), -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(store_message_copy(f->s, f->inbox, NULL, 0, archive, NULL, &error), 0);
}

static void test_move_and_vanished(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	int64_t trash = mailbox_id(f->s, f->acc, "Trash");
	uint32_t dst[2];
	uint32_t *v = NULL;
	size_t nv = 0;
	struct store_message_ex *ch = NULL;
	size_t nch = 0;
	struct store_mailbox_status st0, st1;

	deliver_n(f, 3);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st0), 1);
	int blobs = tu_count_blobs(f->dir);

	/* quota full: a move within the account still works */
	struct store_account a;
	assert_int_equal(store_account_get(f->s, "a@example.org", &a), 1);
	assert_int_equal(store_account_set_quota(f->s, "a@example.org", a.used_bytes, &error), 0);
	uint32_t uids[] = {2, 3};
	assert_int_equal(store_message_move(f->s, f->inbox, uids, 2, trash, dst, &error), 0);
	assert_int_equal(dst[0], 1);
	assert_int_equal(dst[1], 2);
	assert_int_equal(tu_count_blobs(f->dir), blobs);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st1), 1);
	assert_int_equal(st1.messages, 1);
	assert_true(st1.highestmodseq > st0.highestmodseq);

	/* QRESYNC: the moved UIDs vanished after st0's MODSEQ, not after st1's */
	assert_int_equal(store_mailbox_vanished_since(f->s, f->inbox, st0.highestmodseq, &v, &nv),
			 0);
	assert_int_equal(nv, 2);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 3);
	free(v);
	assert_int_equal(store_mailbox_vanished_since(f->s, f->inbox, st1.highestmodseq, &v, &nv),
			 0);
	assert_int_equal(nv, 0);
	assert_null(v);

	/* expunge logs too, and changed_since sees only later changes */
	assert_int_equal(store_message_set_flags(f->s, f->inbox, 1, STORE_FLAG_DELETED, &error), 0);
	assert_int_equal(store_message_changed_since(f->s, f->inbox, st1.highestmodseq, &ch, &nch),
			 0);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].msg.uid, 1);
	assert_string_equal(ch[0].keywords, "");
	store_message_ex_free(&ch, nch);
	assert_int_equal(store_message_changed_since(f->s, f->inbox, UINT64_MAX, &ch, &nch), 0);
	assert_int_equal(nch, 0);
	assert_int_equal(store_message_changed_since(f->s, trash, 0, &ch, &nch), 0);
	assert_int_equal(nch, 2);
	store_message_ex_free(&ch, nch);
	assert_int_equal(store_message_expunge(f->s, f->inbox, (uint32_t[]){1, 77}, 2, &error), 0);
	assert_int_equal(store_mailbox_vanished_since(f->s, f->inbox, st1.highestmodseq, &v, &nv),
			 0);
	assert_int_equal(nv, 1);
	assert_int_equal(v[0], 1);
	free(v);
	assert_int_equal(store_mailbox_vanished_since(f->s, f->inbox, 0, &v, &nv), 0);
	assert_int_equal(nv, 3);
	free(v);
	/* an expunge that removes nothing does not bump MODSEQ */
	struct store_mailbox_status st2, st3;
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st2), 1);
	assert_int_equal(store_message_expunge(f->s, f->inbox, (uint32_t[]){1}, 1, &error), 0);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st3), 1);
	assert_int_equal(st2.highestmodseq, st3.highestmodseq);

	/* into the same mailbox: a new UID at the end, the old one expunged */
	uint32_t one = 1, moved = 0;
	assert_int_equal(store_mailbox_status(f->s, trash, &st3), 1);
	assert_int_equal(store_message_move(f->s, trash, &one, 1, trash, &moved, &error), 0);
	assert_int_equal(moved, 3);
	assert_int_equal(store_mailbox_vanished_since(f->s, trash, st3.highestmodseq, &v, &nv), 0);
	assert_int_equal(nv, 1);
	assert_int_equal(v[0], 1);
	free(v);
	/* errors: missing mailbox, duplicates; nothing moves */
	one = 3;
	assert_int_equal(store_message_move(f->s, trash, &one, 1, 999, NULL, &error), -1);
	assert_int_equal(
		store_message_move(f->s, trash, (uint32_t[]){1, 1}, 2, f->inbox, NULL, &error), -1);
	assert_int_equal(store_mailbox_status(f->s, trash, &st3), 1);
	assert_int_equal(st3.messages, 2);

	/* deleting the mailbox drops its log; the blobs go with the last entry */
	assert_int_equal(store_mailbox_delete(f->s, f->acc, "Trash", &error), 0);
	assert_int_equal(store_mailbox_vanished_since(f->s, trash, 0, &v, &nv), 0);
	assert_int_equal(nv, 0);
	assert_int_equal(tu_count_blobs(f->dir), 0);
}

static void test_inbox_rename_vanishes(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_mailbox_status st0, st1;
	uint32_t *v = NULL;
	size_t nv = 0;

	deliver_n(f, 2);
	const char *k[] = {"$Important"};
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 2, 0, k, 1, 0, NULL, &error), 1);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st0), 1);
	assert_int_equal(store_mailbox_rename(f->s, f->acc, "INBOX", "Old", &error), 0);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st1), 1);
	assert_int_equal(st1.messages, 0);
	assert_true(st1.highestmodseq > st0.highestmodseq);
	assert_int_equal(store_mailbox_vanished_since(f->s, f->inbox, st0.highestmodseq, &v, &nv),
			 0);
	assert_int_equal(nv, 2);
	free(v);
	int64_t old = mailbox_id(f->s, f->acc, "Old");
	struct store_mailbox_status so;
	assert_int_equal(store_mailbox_status(f->s, old, &so), 1);
	assert_int_equal(so.messages, 2);
	assert_int_equal(so.uidnext, 3);
	struct strs l = {0};
	assert_int_equal(store_mailbox_keywords(f->s, old, collect_str, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0], "$Important");
	char kw[64];
	find_msg(f->s, old, 2, kw, sizeof(kw));
	assert_string_equal(kw, "$Important");
}

/* --- append ------------------------------------------------------------ */

static void test_append(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	int64_t drafts = mailbox_id(f->s, f->acc, "Drafts");
	const char msg[] = "Subject: draft\r\n\r\nunfinished\r\n";
	const char *kw[] = {"$Draft-ish", "$MDNSent"};
	uint32_t uid = 0, uidv = 0;
	char kws[256];
	struct store_mailbox m;

	assert_int_equal(store_append(f->s, f->acc, drafts, msg, strlen(msg), NULL,
				      STORE_FLAG_DRAFT | STORE_FLAG_SEEN | 0x8000, kw, 2,
				      1600000000, &uid, &uidv, &error),
			 0);
	assert_int_equal(uid, 1);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Drafts", &m), 1);
	assert_int_equal(uidv, m.uidvalidity);
	assert_int_equal(m.uidnext, 2);
	struct store_message_ex e = find_msg(f->s, drafts, 1, kws, sizeof(kws));
	assert_int_equal(e.msg.flags, STORE_FLAG_DRAFT | STORE_FLAG_SEEN);
	assert_int_equal(e.msg.internal_date, 1600000000);
	assert_int_equal(e.msg.size, strlen(msg));
	assert_string_equal(kws, "$Draft-ish $MDNSent");
	int fd = store_blob_open(f->s, e.msg.blob_id);
	assert_true(fd >= 0);
	char buf[128];
	ssize_t r = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(r, strlen(msg));
	assert_memory_equal(buf, msg, strlen(msg));

	/* internal_date 0 = now; empty message allowed */
	assert_int_equal(store_append(f->s, f->acc, drafts, NULL, 0, NULL, 0, NULL, 0, 0, &uid,
				      NULL, &error),
			 0);
	assert_int_equal(uid, 2);
	e = find_msg(f->s, drafts, 2, kws, sizeof(kws));
	assert_true(e.msg.internal_date > 1600000000);

	/* refusals leave no blob */
	int blobs = tu_count_blobs(f->dir);
	const char other[] = "Subject: other\r\n\r\nx\r\n";
	const char *badkw[] = {"\\Seen"};
	assert_int_equal(store_append(f->s, f->acc, drafts, other, strlen(other), NULL, 0, badkw, 1,
				      0, NULL, NULL, &error),
			 -1);
	assert_non_null(strstr(error, "keyword"));
	assert_int_equal(store_append(f->s, f->acc, 12345, other, strlen(other), NULL, 0, NULL, 0,
				      0, NULL, NULL, &error),
			 -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(store_append(f->s, f->acc + 1, drafts, other, strlen(other), NULL, 0, NULL,
				      0, 0, NULL, NULL, &error),
			 -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(store_append(f->s, f->acc, drafts, NULL, 5, NULL, 0, NULL, 0, 0, NULL,
				      NULL, &error),
			 -1);
	assert_int_equal(store_account_set_quota(f->s, "a@example.org", 10, &error), 0);
	assert_int_equal(store_append(f->s, f->acc, drafts, other, strlen(other), NULL, 0, NULL, 0,
				      0, NULL, NULL, &error),
			 -1);
	assert_non_null(strstr(error, "quota"));
	assert_int_equal(tu_count_blobs(f->dir), blobs);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Drafts", &m), 1);
	assert_int_equal(m.messages, 2);
	assert_int_equal(m.uidnext, 3);
}

/* --- parsed data ------------------------------------------------------- */

static void test_blob_parsed(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_parsed p = {
		.envelope = "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)",
		.bodystructure = "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 1 "
				 "NIL NIL NIL NIL)",
		.subject = "hi é",
		.from = "A <a@b.example>",
		.to = "x@example.org",
		.message_id = "<1@b.example>",
		.date = 1700000000,
		.body = "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 1)",
	};
	struct store_parsed_r r;
	struct store_message_ex *v = NULL;
	size_t n = 0;

	assert_int_equal(store_append(f->s, f->acc, f->inbox, bodies[0], strlen(bodies[0]), &p, 0,
				      NULL, 0, 0, NULL, NULL, &error),
			 0);
	assert_int_equal(store_message_list_full(f->s, f->inbox, &v, &n), 0);
	assert_int_equal(n, 1);
	/* Step 6: what existed waits for the full-text backfill. */
	uint32_t *pend = NULL;
	size_t n_pend = 0;
	assert_int_equal(store_search_pending_uids(f->s, f->inbox, &pend, &n_pend), 0);
	assert_int_equal(n_pend, 1);
	free(pend);
	assert_int_equal(store_blob_parsed(f->s, v[0].msg.blob_id, &r), 1);
	assert_string_equal(r.envelope, p.envelope);
	assert_string_equal(r.bodystructure, p.bodystructure);
	assert_string_equal(r.body, p.body);
	assert_string_equal(r.subject, p.subject);
	assert_string_equal(r.from, p.from);
	assert_string_equal(r.to, p.to);
	assert_null(r.cc);
	assert_string_equal(r.message_id, p.message_id);
	assert_int_equal(r.date, 1700000000);
	assert_int_equal(r.size, strlen(bodies[0]));
	store_parsed_r_free(&r);
	assert_null(r.envelope);
	store_parsed_r_free(&r);

	/* a blob delivered without parsed data, then the same content parsed */
	assert_int_equal(store_deliver(f->s, bodies[1], strlen(bodies[1]), NULL, &f->acc, 1, NULL,
				       0, 0, NULL, &error),
			 0);
	store_message_ex_free(&v, n);
	assert_int_equal(store_message_list_full(f->s, f->inbox, &v, &n), 0);
	assert_int_equal(store_blob_parsed(f->s, v[1].msg.blob_id, &r), 1);
	assert_null(r.envelope);
	assert_null(r.body);
	assert_int_equal(r.date, 0);
	store_parsed_r_free(&r);
	struct store_parsed p2 = {.body = "(BODY)", .subject = "two"};
	assert_int_equal(store_deliver(f->s, bodies[1], strlen(bodies[1]), &p2, &f->acc, 1, NULL, 0,
				       0, NULL, &error),
			 0);
	assert_int_equal(store_blob_parsed(f->s, v[1].msg.blob_id, &r), 1);
	assert_string_equal(r.body, "(BODY)");
	assert_string_equal(r.subject, "two");
	store_parsed_r_free(&r);
	store_message_ex_free(&v, n);

	/* unknown and malformed ids */
	char unknown[STORE_BLOB_ID_LEN + 1];
	memset(unknown, 'a', STORE_BLOB_ID_LEN);
	unknown[STORE_BLOB_ID_LEN] = '\0';
	assert_int_equal(store_blob_parsed(f->s, unknown, &r), 0);
	assert_int_equal(store_blob_parsed(f->s, "../../etc/passwd", &r), 0);
	assert_int_equal(store_blob_parsed(f->s, NULL, &r), 0);
	assert_null(r.envelope);
}

/*
 * store_blob_parsed's cache: a second read comes from memory (an UPDATE
 * behind the store's back does not show until the cache is emptied), rows
 * without parsed data are not kept (a later delivery fills them), and the
 * entry and byte bounds hold.
 */
static void test_blob_parsed_cache(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_parsed p = {
		.envelope = "(ENV)",
		.bodystructure = "(BS)",
		.body = "(B)",
		.subject = "s",
		.date = 1700000000,
	};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(store_append(f->s, f->acc, f->inbox, bodies[i], strlen(bodies[i]),
					      i < 2 ? &p : NULL, 0, NULL, 0, 0, NULL, NULL, &error),
				 0);
	struct store_message_ex *v = NULL;
	size_t n = 0, count, bytes;
	assert_int_equal(store_message_list_full(f->s, f->inbox, &v, &n), 0);
	assert_int_equal(n, 3);
	struct store_parsed_r r;
	assert_int_equal(store_blob_parsed(f->s, v[0].msg.blob_id, &r), 1);
	store_parsed_r_free(&r);
	assert_int_equal(store_blob_parsed(f->s, v[2].msg.blob_id, &r), 1);
	assert_null(r.envelope);
	store_parsed_r_free(&r);
	store_parsed_cache_stats(f->s, &count, &bytes);
	assert_int_equal(count, 1); /* not the row without parsed data */
	assert_true(bytes > 0);

	/* change the rows behind the store's back */
	char path[128];
	snprintf(path, sizeof(path), "%s/facteur.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "UPDATE blobs SET envelope = '(CHANGED)', preview = 'pv'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_blob_parsed(f->s, v[0].msg.blob_id, &r), 1);
	assert_string_equal(r.envelope, "(ENV)"); /* from the cache */
	assert_string_equal(r.bodystructure, "(BS)");
	assert_string_equal(r.body, "(B)");
	assert_string_equal(r.subject, "s");
	assert_null(r.from);
	assert_null(r.preview);
	assert_int_equal(r.date, 1700000000);
	assert_int_equal(r.size, strlen(bodies[0]));
	store_parsed_r_free(&r);
	assert_int_equal(store_blob_parsed(f->s, v[2].msg.blob_id, &r), 1);
	assert_string_equal(r.envelope, "(CHANGED)"); /* not cached: read again */
	store_parsed_r_free(&r);

	/* new bounds empty it: the database's answer again */
	store_parsed_cache_limit(f->s, 2, 1 << 20);
	store_parsed_cache_stats(f->s, &count, &bytes);
	assert_int_equal(count, 0);
	assert_int_equal(store_blob_parsed(f->s, v[0].msg.blob_id, &r), 1);
	assert_string_equal(r.envelope, "(CHANGED)");
	assert_string_equal(r.preview, "pv");
	store_parsed_r_free(&r);

	/* the entry bound: three complete rows, two kept */
	struct store_parsed p3 = {.envelope = "(E3)", .bodystructure = "(S3)", .body = "(B3)"};
	assert_int_equal(store_deliver(f->s, bodies[2], strlen(bodies[2]), &p3, &f->acc, 1, NULL, 0,
				       0, NULL, &error),
			 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(store_blob_parsed(f->s, v[i].msg.blob_id, &r), 1);
		assert_non_null(r.envelope);
		store_parsed_r_free(&r);
	}
	store_parsed_cache_stats(f->s, &count, &bytes);
	assert_int_equal(count, 2);

	/* the byte bound: room for about one entry */
	store_parsed_cache_limit(f->s, 100, bytes / 2 + 40);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(store_blob_parsed(f->s, v[i].msg.blob_id, &r), 1);
		store_parsed_r_free(&r);
	}
	size_t count2, bytes2;
	store_parsed_cache_stats(f->s, &count2, &bytes2);
	assert_int_equal(count2, 1);
	assert_true(bytes2 <= bytes / 2 + 40);
	/* no cache at all: still correct */
	store_parsed_cache_limit(f->s, 0, 0);
	assert_int_equal(store_blob_parsed(f->s, v[2].msg.blob_id, &r), 1);
	assert_string_equal(r.envelope, "(CHANGED)");
	store_parsed_r_free(&r);
	store_parsed_cache_stats(f->s, &count, &bytes);
	assert_int_equal(count, 0);
	store_message_ex_free(&v, n);
}

/* --- subscriptions, status, names -------------------------------------- */

static void test_subscriptions(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct strs l = {0};
	struct store_mailbox m;

	assert_int_equal(store_subscription_list(f->s, f->acc, collect_str, &l), 0);
	assert_int_equal(l.n, 6);
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "Sent", false, &error), 1);
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "Sent", false, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Sent", &m), 1);
	assert_false(m.subscribed);
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "Sent", true, &error), 1);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Sent", &m), 1);
	assert_true(m.subscribed);

	/* names that do not exist may be subscribed; inbox spelled any way */
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "Lists/Ghost", true, &error), 1);
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "inbox", true, &error), 0);
	l.n = 0;
	assert_int_equal(store_subscription_list(f->s, f->acc, collect_str, &l), 0);
	assert_int_equal(l.n, 7);
	assert_string_equal(l.v[4], "Lists/Ghost");

	/* rename carries it (children too); delete leaves it */
	assert_int_equal(store_mailbox_create(f->s, f->acc, "Work", NULL, &error), 0);
	assert_int_equal(store_mailbox_create(f->s, f->acc, "Work/Sub", NULL, &error), 0);
	/* created mailboxes are not subscribed */
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Work", &m), 1);
	assert_false(m.subscribed);
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "Work/Sub", true, &error), 1);
	assert_int_equal(store_mailbox_rename(f->s, f->acc, "Work", "Job", &error), 0);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Job", &m), 1);
	assert_false(m.subscribed);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Job/Sub", &m), 1);
	assert_true(m.subscribed);
	assert_int_equal(store_mailbox_delete(f->s, f->acc, "Job/Sub", &error), 0);
	l.n = 0;
	assert_int_equal(store_subscription_list(f->s, f->acc, collect_str, &l), 0);
	bool found = false;
	for (size_t i = 0; i < l.n; i++) {
		found |= strcmp(l.v[i], "Job/Sub") == 0;
		assert_true(strcmp(l.v[i], "Work/Sub") != 0);
	}
	assert_true(found);
	/* re-creating it finds it subscribed still */
	assert_int_equal(store_mailbox_create(f->s, f->acc, "Job/Sub", NULL, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Job/Sub", &m), 1);
	assert_true(m.subscribed);

	/* bad input */
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, "a//b", true, &error), -1);
	assert_int_equal(store_mailbox_subscribe(f->s, f->acc, NULL, true, &error), -1);
	assert_int_equal(store_mailbox_subscribe(f->s, 9999, "x", true, &error), -1);
	assert_string_equal(error, "no such account");
	l.n = 0;
	assert_int_equal(store_subscription_list(f->s, 9999, collect_str, &l), 0);
	assert_int_equal(l.n, 0);
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_mailbox_status st;
	struct store_mailbox m;

	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st), 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 1);
	assert_int_equal(st.first_unseen_seq, 0);
	assert_int_equal(st.highestmodseq, 1);
	deliver_n(f, 3);
	assert_int_equal(store_message_set_flags(f->s, f->inbox, 1, STORE_FLAG_SEEN, &error), 0);
	assert_int_equal(store_message_set_flags(f->s, f->inbox, 3,
						 STORE_FLAG_SEEN | STORE_FLAG_DELETED, &error),
			 0);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st), 1);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "INBOX", &m), 1);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.recent, 3); /* no session was shown them */
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.first_unseen_seq, 2);
	assert_int_equal(st.uidnext, 4);
	assert_int_equal(st.uidvalidity, m.uidvalidity);
	assert_int_equal(st.highestmodseq, m.highestmodseq);
	assert_int_equal(st.size, strlen(bodies[0]) + strlen(bodies[1]) + strlen(bodies[2]));
	/* sequence numbers, not UIDs: expunge UID 1 and the first unseen is seq 1 */
	assert_int_equal(store_message_expunge(f->s, f->inbox, (uint32_t[]){1}, 1, &error), 0);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st), 1);
	assert_int_equal(st.first_unseen_seq, 1);
	assert_int_equal(store_mailbox_status(f->s, 31337, &st), 0);

	/* \Recent: claimed once, up to what the session holds */
	uint32_t first, end;
	assert_int_equal(store_mailbox_claim_recent(f->s, f->inbox, 3, false, &first, &end, &error),
			 0);
	assert_int_equal(first, 1);
	assert_int_equal(end, 3);
	assert_int_equal(store_mailbox_claim_recent(f->s, f->inbox, 3, true, &first, &end, &error),
			 0);
	assert_int_equal(end - first, 2);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st), 1);
	assert_int_equal(st.recent, 1); /* UID 3 */
	assert_int_equal(
		store_mailbox_claim_recent(f->s, f->inbox, UINT32_MAX, true, &first, &end, &error),
		0);
	assert_int_equal(first, 3);
	assert_int_equal(end, 4);
	assert_int_equal(
		store_mailbox_claim_recent(f->s, f->inbox, UINT32_MAX, true, &first, &end, &error),
		0);
	assert_int_equal(end, first);
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st), 1);
	assert_int_equal(st.recent, 0);
	assert_int_equal(store_mailbox_claim_recent(f->s, 31337, 9, true, &first, &end, &error),
			 -1);
}

static void test_mailbox_names(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char longname[600];
	const char *bad[] = {
		"",
		"..",
		".",
		"/x",
		"x/",
		"a//b",
		"a/../b",
		"a/./b",
		"tab\there",
		"del\x7f",
		"nl\n",
		"c1\xc2\x85x",
		"bad\xff",
		"over\xc0\xafx",
		"over3\xe0\x80\xaf",
		"surr\xed\xa0\x80",
		"big\xf4\x90\x80\x80",
		"trunc\xe2\x82",
		"wild*",
		"wild%",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_int_equal(store_mailbox_create(f->s, f->acc, bad[i], NULL, &error), -1);
		assert_string_equal(error, "invalid mailbox name");
		assert_int_equal(store_mailbox_rename(f->s, f->acc, "Junk", bad[i], &error), -1);
	}
	assert_int_equal(store_mailbox_create(f->s, f->acc, NULL, NULL, &error), -1);
	memset(longname, 'x', 511);
	longname[511] = '\0';
	assert_int_equal(store_mailbox_create(f->s, f->acc, longname, NULL, &error), 0);
	memset(longname, 'y', 512);
	longname[512] = '\0';
	assert_int_equal(store_mailbox_create(f->s, f->acc, longname, NULL, &error), -1);
	/* valid UTF-8, '..' inside a component, and spaces are fine */
	const char *good[] = {"Déjà vu", "a..b", "日本語/子", "emoji \xf0\x9f\x93\xa7", "x.y"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(store_mailbox_create(f->s, f->acc, good[i], NULL, &error), 0);
	/* the directory holds no file named after a mailbox */
	char path[256];
	snprintf(path, sizeof(path), "%s/Déjà vu", f->dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* --- migration --------------------------------------------------------- */

static void test_migration_from_v1(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char path[128];
	sqlite3 *db;
	struct store_mailbox m;
	struct store_parsed_r r;
	struct store_message_ex *v = NULL;
	size_t n = 0;

	deliver_n(f, 1);
	store_close(&f->s);
	/* Turn the database back into what step 1 produced. */
	snprintf(path, sizeof(path), "%s/facteur.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(
			db,
			"DROP TABLE shared_seen_modseq;"                              /* step 15 */
			"DROP TABLE sieve_scripts; DROP TABLE sieve_vacation;"        /* step 14 */
			"DROP TABLE account_limits;"                                  /* step 13 */
			"ALTER TABLE queue DROP COLUMN submitter;"                    /* step 13 */
			"DROP INDEX messages_date;"                                   /* step 12 */
			"ALTER TABLE accounts DROP COLUMN scram;"                     /* step 11 */
			"DROP TABLE metadata;"                                        /* step 10 */
			"ALTER TABLE blobs DROP COLUMN preview;"                      /* step 9 */
			"DROP TRIGGER search_words_gone; DROP TABLE search_words;"    /* step 8 */
			"DROP TABLE search_terms; DROP TABLE search_mail;"            /* step 8 */
			"DROP TRIGGER search_mail_add; DROP TRIGGER search_mail_del;" /* step 8 */
			"DROP TRIGGER search_mail_move;"                              /* step 8 */
			"DROP TABLE acl; DROP TABLE shared_seen;"                     /* step 7 */
			"DROP TABLE mailbox_addresses;"                               /* step 7 */
			"DROP TRIGGER search_blob_gone; DROP TABLE search_fts;"       /* step 6 */
			"DROP TABLE search_docs; DROP TABLE search_pending;"          /* step 6 */
			"DROP TABLE held_blobs;"                                      /* step 5 */
			"ALTER TABLE mailboxes DROP COLUMN recent_uid;"               /* step 5 */
			/* step 4 (JMAP) */
			"DROP TRIGGER jmap_account_ins; DROP TRIGGER jmap_mailbox_ins;"
			"DROP TRIGGER jmap_mailbox_upd; DROP TRIGGER jmap_mailbox_del;"
			"DROP TRIGGER jmap_subscribe; DROP TRIGGER jmap_unsubscribe;"
			"DROP TRIGGER jmap_message_ins; DROP TRIGGER jmap_message_flags;"
			"DROP TRIGGER jmap_message_seen; DROP TRIGGER jmap_message_moved;"
			"DROP TRIGGER jmap_message_thread; DROP TRIGGER jmap_message_del;"
			"DROP TRIGGER jmap_message_del_thread; DROP TABLE jmap_state;"
			"DROP TABLE jmap_changes; DROP TABLE jmap_hwm; DROP TABLE jmap_objects;"
			"DROP TABLE jmap_uploads; DROP TABLE jmap_blob_info;"
			"DROP TABLE jmap_msgids; DROP INDEX messages_thread;"
			"ALTER TABLE messages DROP COLUMN thread_id;"
			"DROP TABLE subscriptions; DROP TABLE expunged; DROP TABLE "
			"mailbox_keywords;"
			"ALTER TABLE blobs DROP COLUMN body;"
			"ALTER TABLE queue DROP COLUMN delay_notified;" /* step 3 */
			"UPDATE mailboxes SET subscribed = 0 WHERE name = 'Junk';"
			"PRAGMA user_version = 1;",
			NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->dir, &f->s, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Junk", &m), 1);
	assert_false(m.subscribed);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "Sent", &m), 1);
	assert_true(m.subscribed);
	assert_int_equal(store_message_list_full(f->s, f->inbox, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].keywords, "");
	assert_int_equal(store_blob_parsed(f->s, v[0].msg.blob_id, &r), 1);
	assert_null(r.body);
	assert_null(r.preview); /* FETCH PREVIEW computes it for such old blobs */
	store_parsed_r_free(&r);
	store_message_ex_free(&v, n);
	/* and the new tables work */
	const char *k[] = {"$Junk"};
	assert_int_equal(
		store_message_set_flags_keywords(f->s, f->inbox, 1, 0, k, 1, 0, NULL, &error), 1);
}

/* --- notification hub -------------------------------------------------- */

static uint64_t efd_read(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return v;
}

/*
 * Waiters (IMAP IDLE's subscription): a commit on the mailbox sets the flag
 * of each of its waiters and of no other; reading it clears it; a removed
 * waiter (first, middle or last of its list, or sharing a bucket with
 * another mailbox) is never touched again.
 */
static void test_notify_waiters(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	int64_t sent = mailbox_id(f->s, f->acc, "Sent");
	struct store_waiter w[4] = {0}, far = {0}, never = {0};
	for (int i = 0; i < 4; i++)
		store_notify_wait(&w[i], f->inbox);
	store_notify_wait(&far, sent);
	/* Another mailbox in the same bucket of the hub's table. */
	struct store_waiter same_bucket = {0};
	store_notify_wait(&same_bucket, f->inbox + 4096);
	store_notify_unwait(&never); /* never registered: harmless */
	assert_false(store_waiter_fired(&w[0]));

	deliver_n(f, 1);
	for (int i = 0; i < 4; i++) {
		assert_true(store_waiter_fired(&w[i]));
		assert_false(store_waiter_fired(&w[i])); /* cleared */
	}
	assert_false(store_waiter_fired(&far));
	assert_false(store_waiter_fired(&same_bucket));

	store_notify_unwait(&w[0]);
	store_notify_unwait(&w[2]);
	store_notify_unwait(&w[3]);
	assert_int_equal(store_message_set_flags(f->s, f->inbox, 1, STORE_FLAG_SEEN, &error), 0);
	assert_true(store_waiter_fired(&w[1]));
	assert_false(store_waiter_fired(&w[0]));
	assert_false(store_waiter_fired(&w[2]));
	assert_false(store_waiter_fired(&w[3]));
	assert_int_equal(
		store_append(f->s, f->acc, sent, "x", 1, NULL, 0, NULL, 0, 0, NULL, NULL, &error),
		0);
	assert_true(store_waiter_fired(&far));
	assert_false(store_waiter_fired(&w[1]));
	store_notify_unwait(&w[1]);
	store_notify_unwait(&far);
	store_notify_unwait(&same_bucket);
	store_notify_unwait(&w[1]); /* twice: harmless */
	assert_int_equal(store_message_set_flags(f->s, f->inbox, 1, STORE_FLAG_FLAGGED, &error), 0);
	assert_false(store_waiter_fired(&w[1]));
}

static void test_notify(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	int a = eventfd(0, EFD_NONBLOCK), b = eventfd(0, EFD_NONBLOCK);
	int gone = eventfd(0, EFD_NONBLOCK), other = eventfd(0, EFD_NONBLOCK);
	int all = eventfd(0, EFD_NONBLOCK), blocking = eventfd(0, 0);
	int pfd[2];
	int ta, tb, tgone, tother, tall, tpipe;
	int64_t sent = mailbox_id(f->s, f->acc, "Sent");

	assert_true(a >= 0 && b >= 0 && gone >= 0 && other >= 0 && all >= 0 && blocking >= 0);
	assert_int_equal(pipe2(pfd, O_NONBLOCK), 0);
	assert_int_equal(store_notify_subscribe(f->inbox, a, &ta), 0);
	assert_int_equal(store_notify_subscribe(f->inbox, b, &tb), 0);
	assert_int_equal(store_notify_subscribe(f->inbox, gone, &tgone), 0);
	assert_int_equal(store_notify_subscribe(sent, other, &tother), 0);
	assert_int_equal(store_notify_subscribe(0, all, &tall), 0);
	assert_int_equal(store_notify_subscribe(f->inbox, pfd[1], &tpipe), 0);
	assert_int_equal(store_notify_subscribe(f->inbox, blocking, &ta), -1);
	assert_int_equal(store_notify_subscribe(f->inbox, -1, &ta), -1);
	assert_int_equal(store_notify_subscribe(f->inbox, a, NULL), -1);
	store_notify_unsubscribe(&tgone);

	/* one delivery wakes both INBOX subscribers within the call */
	deliver_n(f, 1);
	assert_int_equal(efd_read(a), 1);
	assert_int_equal(efd_read(b), 1);
	assert_int_equal(efd_read(all), 1);
	assert_int_equal(efd_read(gone), 0);
	assert_int_equal(efd_read(other), 0);
	uint64_t pv = 0;
	assert_int_equal(read(pfd[0], &pv, sizeof(pv)), sizeof(pv));
	assert_int_equal(pv, 1);

	/* a refused delivery (quota) publishes nothing */
	assert_int_equal(store_account_set_quota(f->s, "a@example.org", 1, &error), 0);
	assert_int_equal(store_deliver(f->s, bodies[1], strlen(bodies[1]), NULL, &f->acc, 1, NULL,
				       0, 0, NULL, &error),
			 -1);
	assert_int_equal(efd_read(a), 0);
	assert_int_equal(store_account_set_quota(f->s, "a@example.org", 0, &error), 0);

	/* flags, append, copy, move, expunge, rename each publish */
	assert_int_equal(store_message_set_flags(f->s, f->inbox, 1, STORE_FLAG_SEEN, &error), 0);
	assert_int_equal(efd_read(a), 1);
	assert_int_equal(
		store_append(f->s, f->acc, sent, "x", 1, NULL, 0, NULL, 0, 0, NULL, NULL, &error),
		0);
	assert_int_equal(efd_read(other), 1);
	assert_int_equal(efd_read(a), 0);
	assert_int_equal(store_message_copy(f->s, f->inbox, (uint32_t[]){1}, 1, sent, NULL, &error),
			 0);
	assert_int_equal(efd_read(other), 1);
	assert_int_equal(efd_read(a), 0);
	assert_int_equal(store_message_move(f->s, sent, (uint32_t[]){1}, 1, f->inbox, NULL, &error),
			 0);
	assert_int_equal(efd_read(other), 1);
	assert_int_equal(efd_read(a), 1);
	assert_int_equal(store_message_expunge(f->s, f->inbox, (uint32_t[]){1}, 1, &error), 0);
	assert_int_equal(efd_read(a), 1);
	assert_int_equal(store_mailbox_rename(f->s, f->acc, "Sent", "Sent Items", &error), 0);
	assert_int_equal(efd_read(other), 1);
	assert_int_equal(store_mailbox_delete(f->s, f->acc, "Sent Items", &error), 0);
	assert_int_equal(efd_read(other), 1);
	assert_true(efd_read(all) >= 7);

	/* a full pipe does not block publishing */
	store_notify_unsubscribe(&ta);
	efd_read(b);
	for (int i = 0; i < 20000; i++)
		store_notify_publish(f->acc, f->inbox, 1);
	assert_int_equal(efd_read(b), 20000);
	assert_int_equal(efd_read(a), 0);

	store_notify_unsubscribe(&tb);
	store_notify_unsubscribe(&tother);
	store_notify_unsubscribe(&tall);
	store_notify_unsubscribe(&tpipe);
	store_notify_unsubscribe(&tpipe); /* harmless */
	assert_int_equal(store_deliver(f->s, bodies[2], strlen(bodies[2]), NULL, &f->acc, 1, NULL,
				       0, 0, NULL, &error),
			 0);
	assert_int_equal(efd_read(b), 0);
	close(a);
	close(b);
	close(gone);
	close(other);
	close(all);
	close(blocking);
	close(pfd[0]);
	close(pfd[1]);
}

/* --- listing by UID ranges, mailbox head ------------------------------ */

/* The UIDs of a listing, "1 2 5", for comparisons. */
static void uids_text(const struct store_message_ex *v, size_t n, char *out, size_t size)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%u", i > 0 ? " " : "",
					v[i].msg.uid);
}

static void expect_uids(struct fixture *f, int64_t mbox, const struct store_uid_range *r, size_t n,
			uint64_t since, const char *want)
{
	struct store_message_ex *v = NULL;
	size_t nv = 0;
	char got[4096];
	assert_int_equal(store_message_list_uids(f->s, mbox, r, n, since, &v, &nv), 0);
	uids_text(v, nv, got, sizeof(got));
	assert_string_equal(got, want);
	store_message_ex_free(&v, nv);
}

static void test_list_uids(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	for (size_t i = 0; i < 20; i++) {
		uint32_t uid = 0;
		assert_int_equal(store_deliver(f->s, bodies[i % 3], strlen(bodies[i % 3]), NULL,
					       &f->acc, 1, NULL, 0, 0, &uid, &error),
				 0);
		assert_int_equal(uid, i + 1);
	}
	uint32_t gone[] = {5, 6, 7};
	assert_int_equal(store_message_expunge(f->s, f->inbox, gone, 3, &error), 0);

	const struct store_uid_range r1[] = {{3, 9}, {12, 12}, {20, 25}};
	expect_uids(f, f->inbox, r1, 3, 0, "3 4 8 9 12 20");
	/* Unsorted, reversed, overlapping, adjacent: each message once, in order. */
	const struct store_uid_range r2[] = {{20, 18}, {9, 3},   {4, 8},
					     {12, 12}, {13, 13}, {12, 13}};
	expect_uids(f, f->inbox, r2, 6, 0, "3 4 8 9 12 13 18 19 20");
	/* Nothing named, nothing there, the UID space's end. */
	expect_uids(f, f->inbox, r1, 0, 0, "");
	const struct store_uid_range r3[] = {{5, 7}, {21, 4294967295u}, {0, 0}};
	expect_uids(f, f->inbox, r3, 3, 0, "");
	const struct store_uid_range all[] = {{1, 4294967295u}};
	expect_uids(f, f->inbox, all, 1, 0, "1 2 3 4 8 9 10 11 12 13 14 15 16 17 18 19 20");
	/* Another mailbox, or none, lists nothing of INBOX. */
	expect_uids(f, mailbox_id(f->s, f->acc, "Trash"), all, 1, 0, "");
	expect_uids(f, 999999, all, 1, 0, "");
	/* NULL ranges with n > 0 is an error, and leaves the outputs empty. */
	struct store_message_ex *v = (void *)1;
	size_t nv = 7;
	assert_int_equal(store_message_list_uids(f->s, f->inbox, NULL, 2, 0, &v, &nv), -1);
	assert_null(v);
	assert_int_equal(nv, 0);

	/* More ranges than one statement takes: 600 disjoint single UIDs. */
	struct store_uid_range *many = calloc(600, sizeof(*many));
	for (uint32_t i = 0; i < 600; i++)
		many[i] = (struct store_uid_range){2 * (599 - i) + 1, 2 * (599 - i) + 1};
	expect_uids(f, f->inbox, many, 600, 0, "1 3 9 11 13 15 17 19");
	free(many);

	/* The rows carry what store_message_list_full says, keywords included. */
	const char *kw[] = {"$Work"};
	struct store_flags_update u = {.op = STORE_FLAGS_ADD,
				       .flags = STORE_FLAG_FLAGGED,
				       .keywords = kw,
				       .n_keywords = 1};
	struct store_flags_outcome o = {0};
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->s, f->inbox, &st), 1);
	uint32_t two[] = {10, 12};
	assert_int_equal(store_message_update_flags(f->s, f->inbox, two, 2, &u, &o, &error), 0);
	store_flags_outcome_free(&o);
	struct store_message_ex *full = NULL;
	size_t nfull = 0;
	assert_int_equal(store_message_list_full(f->s, f->inbox, &full, &nfull), 0);
	assert_int_equal(store_message_list_uids(f->s, f->inbox, all, 1, 0, &v, &nv), 0);
	assert_int_equal(nv, nfull);
	for (size_t i = 0; i < nv; i++) {
		assert_int_equal(v[i].msg.id, full[i].msg.id);
		assert_int_equal(v[i].msg.uid, full[i].msg.uid);
		assert_int_equal(v[i].msg.flags, full[i].msg.flags);
		assert_int_equal(v[i].msg.modseq, full[i].msg.modseq);
		assert_int_equal(v[i].msg.size, full[i].msg.size);
		assert_string_equal(v[i].msg.blob_id, full[i].msg.blob_id);
		assert_string_equal(v[i].keywords, full[i].keywords);
	}
	store_message_ex_free(&v, nv);
	store_message_ex_free(&full, nfull);
	/* CHANGEDSINCE: only the two changed messages; above INT64_MAX nothing. */
	expect_uids(f, f->inbox, all, 1, st.highestmodseq, "10 12");
	expect_uids(f, f->inbox, r1, 3, st.highestmodseq, "12");
	expect_uids(f, f->inbox, all, 1, UINT64_MAX, "");
}

static void test_mailbox_head(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_mailbox full, head;
	deliver_n(f, 2);
	assert_int_equal(store_mailbox_get(f->s, f->acc, "INBOX", &full), 1);
	assert_int_equal(store_mailbox_head(f->s, f->inbox, &head), 1);
	assert_int_equal(head.id, full.id);
	assert_int_equal(head.account_id, f->acc);
	assert_string_equal(head.name, "INBOX");
	assert_int_equal(head.uidvalidity, full.uidvalidity);
	assert_int_equal(head.uidnext, 3);
	assert_int_equal(head.highestmodseq, full.highestmodseq);
	assert_int_equal(head.messages, 0); /* not counted */
	assert_int_equal(store_mailbox_head(f->s, 999999, &head), 0);
	/* It follows a rename by id and says 0 once the mailbox is deleted. */
	assert_int_equal(store_mailbox_create(f->s, f->acc, "Work", "", &error), 0);
	int64_t work = mailbox_id(f->s, f->acc, "Work");
	assert_int_equal(store_mailbox_rename(f->s, f->acc, "Work", "Play/Now", &error), 0);
	assert_int_equal(store_mailbox_head(f->s, work, &head), 1);
	assert_string_equal(head.name, "Play/Now");
	assert_int_equal(store_mailbox_delete(f->s, f->acc, "Play/Now", &error), 0);
	assert_int_equal(store_mailbox_head(f->s, work, &head), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyword_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_flags_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_and_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbox_rename_vanishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_parsed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_parsed_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_waiters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_uids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_head, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
