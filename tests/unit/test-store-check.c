/* SPDX-License-Identifier: MIT */
/*
 * store-check.c: orphan blob files (a crash between blob write and commit,
 * simulated by writing a file under its id with no row) are collected and
 * committed blobs are not; store_check finds damage made on purpose (a
 * blob changed in place, a truncated one, a missing one, UIDNEXT and
 * HIGHESTMODSEQ below what messages hold, an unreferenced blob row),
 * repairs what it can and reports the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char msg1[] = "From: a@example.org\r\nSubject: one\r\n\r\nbody one\r\n";

static char *blob_path(const char *dir, const char *id)
{
	char *p = malloc(strlen(dir) + 100);
	sprintf(p, "%s/blobs/%.2s/%s", dir, id, id);
	return p;
}

/* A file under a valid id that no row names, as a crash would leave. */
static void make_orphan(const char *dir, const char *content, char *id_r)
{
	static const char hex[] = "0123456789abcdef";
	/* Any well-formed id will do: the collection does not hash files. */
	for (int i = 0; i < 64; i++)
		id_r[i] = hex[(content[i % strlen(content)] + i) & 15];
	id_r[64] = '\0';
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/blobs/%.2s", dir, id_r);
	mkdir(sub, 0750);
	char *p = blob_path(dir, id_r);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

static void sql(const char *dir, const char *stmt)
{
	char path[512];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/facteur.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

struct lines {
	char text[4096];
};

static void collect(void *ctx, const char *line)
{
	struct lines *l = ctx;
	strncat(l->text, line, sizeof(l->text) - strlen(l->text) - 2);
	strcat(l->text, "\n");
}

static void blob_of_first(struct tu_fixture *f, char *id)
{
	struct store_message *m;
	size_t n;
	assert_int_equal(store_message_list(f->store, f->inbox, &m, &n), 0);
	assert_true(n >= 1);
	strcpy(id, m[0].blob_id);
	free(m);
}

static void test_orphans_collected(void **state)
{
	struct tu_fixture *f = tu_fixture_create("check-orphans", true);
	*state = f;
	const char *error;
	assert_int_equal(store_deliver(f->store, msg1, strlen(msg1), NULL, &f->acc, 1, NULL, 0, 0,
				       NULL, &error),
			 0);
	char kept[65], orphan1[65], orphan2[65];
	blob_of_first(f, kept);
	make_orphan(f->dir, "never committed one", orphan1);
	make_orphan(f->dir, "never committed two", orphan2);
	unsigned removed = 0;
	assert_int_equal(store_orphans_collect(f->store, &removed, &error), 0);
	assert_int_equal(removed, 2);
	char *p = blob_path(f->dir, orphan1);
	assert_int_equal(access(p, F_OK), -1);
	free(p);
	p = blob_path(f->dir, kept);
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	assert_int_equal(store_orphans_collect(f->store, &removed, &error), 0);
	assert_int_equal(removed, 0);
	/* The committed message still reads back whole. */
	int fd = store_blob_open(f->store, kept);
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(msg1));
	assert_memory_equal(buf, msg1, strlen(msg1));
}

static void test_check_clean(void **state)
{
	struct tu_fixture *f = tu_fixture_create("check-clean", true);
	*state = f;
	const char *error;
	assert_int_equal(store_deliver(f->store, msg1, strlen(msg1), NULL, &f->acc, 1, NULL, 0, 0,
				       NULL, &error),
			 0);
	struct lines l = {""};
	struct store_check_result r;
	assert_int_equal(store_check(f->store, false, collect, &l, &r, &error), 0);
	assert_int_equal(r.problems, 0);
	assert_string_equal(l.text, "");
}

static void test_check_damage(void **state)
{
	struct tu_fixture *f = tu_fixture_create("check-damage", true);
	*state = f;
	const char *error;
	static const char msg2[] = "Subject: two\r\n\r\nsecond body\r\n";
	static const char msg3[] = "Subject: three\r\n\r\nthird body\r\n";
	assert_int_equal(store_deliver(f->store, msg1, strlen(msg1), NULL, &f->acc, 1, NULL, 0, 0,
				       NULL, &error),
			 0);
	assert_int_equal(store_deliver(f->store, msg2, strlen(msg2), NULL, &f->acc, 1, NULL, 0, 0,
				       NULL, &error),
			 0);
	assert_int_equal(store_deliver(f->store, msg3, strlen(msg3), NULL, &f->acc, 1, NULL, 0, 0,
				       NULL, &error),
			 0);
	struct store_message *m;
	size_t n;
	assert_int_equal(store_message_list(f->store, f->inbox, &m, &n), 0);
	assert_int_equal(n, 3);
	/* 1: changed in place (same size), 2: truncated, 3: gone. */
	char *p = blob_path(f->dir, m[0].blob_id);
	int fd = open(p, O_WRONLY);
	assert_int_equal(pwrite(fd, "X", 1, 0), 1);
	close(fd);
	free(p);
	p = blob_path(f->dir, m[1].blob_id);
	assert_int_equal(truncate(p, 5), 0);
	free(p);
	p = blob_path(f->dir, m[2].blob_id);
	assert_int_equal(unlink(p), 0);
	free(p);
	char orphan[65];
	make_orphan(f->dir, "crash leftover", orphan);
	char stmt[512];
	snprintf(stmt, sizeof(stmt),
		 "UPDATE mailboxes SET uidnext = 2, highestmodseq = 1 WHERE id = %lld;"
		 "INSERT INTO blobs(id, size) VALUES ('%064d', 3);",
		 (long long)f->inbox, 7);
	sql(f->dir, stmt);

	struct lines l = {""};
	struct store_check_result r;
	assert_int_equal(store_check(f->store, false, collect, &l, &r, &error), 0);
	/* hash, size, missing, bounds, unreferenced row (and its missing
	 * file), orphan file */
	assert_int_equal(r.problems, 7);
	assert_int_equal(r.repaired, 0);
	assert_non_null(strstr(l.text, "content hashes to"));
	assert_non_null(strstr(l.text, "5 bytes, the row says"));
	assert_non_null(strstr(l.text, "file missing"));
	assert_non_null(strstr(l.text, "UIDNEXT 2"));
	assert_non_null(strstr(l.text, "no message refers to it"));
	assert_non_null(strstr(l.text, "orphan file"));

	memset(&l, 0, sizeof(l));
	assert_int_equal(store_check(f->store, true, collect, &l, &r, &error), 0);
	assert_int_equal(r.problems, 6);
	assert_int_equal(r.repaired, 3);
	assert_int_equal(r.unfixable, 3);
	assert_non_null(strstr(l.text, "(raised)"));
	assert_non_null(strstr(l.text, "(removed)"));

	/* What was repaired stays repaired; the blobs stay reported. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_check(f->store, false, collect, &l, &r, &error), 0);
	assert_int_equal(r.problems, 3);
	assert_null(strstr(l.text, "UIDNEXT"));
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "INBOX", &mb), 1);
	assert_int_equal(mb.uidnext, 4);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_orphans_collected, tu_teardown),
		cmocka_unit_test_teardown(test_check_clean, tu_teardown),
		cmocka_unit_test_teardown(test_check_damage, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
