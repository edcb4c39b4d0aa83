/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of METADATA entries (store-metadata.c, schema step 8): set,
 * replace and remove, /private entries per account and /shared ones for
 * all, server entries beside mailbox ones, case-insensitive names, DEPTH
 * 0/1/infinity, octet values with NULs, the all-or-nothing entry limit,
 * and entries following their mailbox through RENAME and going with it
 * on DELETE (and with their account).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "testutil.h"

struct fixture {
	char dir[64];
	struct store *s;
	int64_t alice, bob, inbox, team;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *error = NULL;
	if (tu_store_open("store-metadata", f->dir, sizeof(f->dir), &f->s, &f->alice, &f->inbox) <
	    0)
		return -1;
	assert_int_equal(
		store_account_add(f->s, "b@example.org", "$argon2id$v=19$fake", &f->bob, &error),
		0);
	assert_int_equal(store_mailbox_create(f->s, f->alice, "Team", NULL, &error), 0);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, f->alice, "Team", &m), 1);
	f->team = m.id;
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

/* Entries as "name=value;" in the order the store gave them. */
static void collect(void *ctx, const char *name, const char *value, size_t len)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 1024 - n, "%s=%.*s;", name, (int)len, value);
}

static void collect_raw(void *ctx, const char *name, const char *value, size_t len)
{
	buf_append(ctx, value, len);
}

static const char *get(struct fixture *f, int64_t mailbox, int64_t account, const char *entry,
		       int depth)
{
	static char out[1024];
	out[0] = '\0';
	assert_int_equal(store_metadata_get(f->s, mailbox, account, entry, depth, collect, out), 0);
	return out;
}

static int set1(struct fixture *f, int64_t mailbox, int64_t account, const char *name,
		const char *value)
{
	const char *error = NULL;
	struct store_metadata_entry e = {name, value, value != NULL ? strlen(value) : 0};
	return store_metadata_set(f->s, mailbox, account, &e, 1, 10, &error);
}

static void test_private_and_shared(void **state)
{
	struct fixture *f = *state;
	uint64_t gen = store_metadata_generation();
	assert_int_equal(set1(f, f->team, f->alice, "/shared/Comment", "team box"), 1);
	assert_true(store_metadata_generation() > gen);
	assert_int_equal(set1(f, f->team, f->alice, "/private/comment", "alice's"), 1);
	assert_int_equal(set1(f, f->team, f->bob, "/private/comment", "bob's"), 1);
	/* Names are case-insensitive; /shared is everyone's, /private one's own. */
	assert_string_equal(get(f, f->team, f->bob, "/SHARED/comment", 0),
			    "/shared/comment=team box;");
	assert_string_equal(get(f, f->team, f->bob, "/private/comment", 0),
			    "/private/comment=bob's;");
	assert_string_equal(get(f, f->team, f->alice, "/private/comment", 0),
			    "/private/comment=alice's;");
	assert_string_equal(get(f, f->team, f->alice, "", 0),
			    "/private/comment=alice's;/shared/comment=team box;");
	/* Replace, then remove. */
	assert_int_equal(set1(f, f->team, f->alice, "/shared/comment", "new"), 1);
	assert_string_equal(get(f, f->team, f->bob, "/shared/comment", 0), "/shared/comment=new;");
	assert_int_equal(set1(f, f->team, f->bob, "/shared/comment", NULL), 1);
	assert_string_equal(get(f, f->team, f->alice, "/shared/comment", 0), "");
	/* Server entries are apart from mailbox ones. */
	assert_int_equal(set1(f, 0, f->alice, "/private/comment", "server note"), 1);
	assert_string_equal(get(f, 0, f->alice, "/private/comment", 0),
			    "/private/comment=server note;");
	assert_string_equal(get(f, f->inbox, f->alice, "/private/comment", 0), "");
	/* A mailbox that does not exist. */
	const char *error = NULL;
	struct store_metadata_entry e = {"/shared/comment", "x", 1};
	assert_int_equal(store_metadata_set(f->s, 999999, f->alice, &e, 1, 10, &error), -1);
}

static void test_depth(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(set1(f, f->inbox, f->alice, "/shared/vendor", "v"), 1);
	assert_int_equal(set1(f, f->inbox, f->alice, "/shared/vendor/a", "1"), 1);
	assert_int_equal(set1(f, f->inbox, f->alice, "/shared/vendor/a/b", "2"), 1);
	assert_int_equal(set1(f, f->inbox, f->alice, "/shared/vendorx", "no"), 1);
	assert_string_equal(get(f, f->inbox, f->alice, "/shared/vendor", 0), "/shared/vendor=v;");
	assert_string_equal(get(f, f->inbox, f->alice, "/shared/vendor", 1),
			    "/shared/vendor=v;/shared/vendor/a=1;");
	assert_string_equal(
		get(f, f->inbox, f->alice, "/shared/vendor", STORE_METADATA_DEPTH_INFINITY),
		"/shared/vendor=v;/shared/vendor/a=1;/shared/vendor/a/b=2;");
	/* Children of an entry that has no value of its own. */
	assert_string_equal(get(f, f->inbox, f->alice, "/shared", 1),
			    "/shared/vendor=v;/shared/vendorx=no;");
}

static void test_binary_value(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_metadata_entry e = {"/private/bin", "a\0b", 3};
	assert_int_equal(store_metadata_set(f->s, f->inbox, f->alice, &e, 1, 10, &error), 1);
	struct buf out;
	buf_init(&out);
	assert_int_equal(
		store_metadata_get(f->s, f->inbox, f->alice, "/private/bin", 0, collect_raw, &out),
		0);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "a\0b", 3);
	buf_deinit(&out);
}

static void test_limit_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_metadata_entry e[3] = {
		{"/private/a", "1", 1}, {"/private/b", "2", 1}, {"/private/c", "3", 1}};
	assert_int_equal(store_metadata_set(f->s, f->inbox, f->alice, e, 2, 2, &error), 1);
	/* A third entry is one too many: none of the command's entries land. */
	struct store_metadata_entry more[2] = {{"/private/a", "changed", 7},
					       {"/private/c", "3", 1}};
	assert_int_equal(store_metadata_set(f->s, f->inbox, f->alice, more, 2, 2, &error), 0);
	assert_string_equal(get(f, f->inbox, f->alice, "/private", 1),
			    "/private/a=1;/private/b=2;");
	/* The limit is per scope: /shared has its own. */
	assert_int_equal(set1(f, f->inbox, f->alice, "/shared/a", "s"), 1);
	/* Removing is always allowed, and makes room. */
	struct store_metadata_entry swap[2] = {{"/private/a", NULL, 0}, {"/private/c", "3", 1}};
	assert_int_equal(store_metadata_set(f->s, f->inbox, f->alice, swap, 2, 2, &error), 1);
	assert_string_equal(get(f, f->inbox, f->alice, "/private", 1),
			    "/private/b=2;/private/c=3;");
}

static void test_rename_delete_account(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(set1(f, f->team, f->alice, "/shared/comment", "kept"), 1);
	assert_int_equal(set1(f, f->team, f->bob, "/private/comment", "bob"), 1);
	assert_int_equal(store_mailbox_rename(f->s, f->alice, "Team", "Crew", &error), 0);
	assert_string_equal(get(f, f->team, f->alice, "/shared/comment", 0),
			    "/shared/comment=kept;");
	/* A new mailbox of the old name starts without entries. */
	assert_int_equal(store_mailbox_create(f->s, f->alice, "Team", NULL, &error), 0);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, f->alice, "Team", &m), 1);
	assert_string_equal(get(f, m.id, f->alice, "", 0), "");
	/* The account's private entries go with it. */
	assert_int_equal(store_account_remove(f->s, "b@example.org", &error), 0);
	assert_string_equal(get(f, f->team, f->bob, "/private/comment", 0), "");
	/* And every entry with its mailbox. */
	assert_int_equal(store_mailbox_delete(f->s, f->alice, "Crew", &error), 0);
	assert_string_equal(get(f, f->team, f->alice, "", 0), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_private_and_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_delete_account, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
