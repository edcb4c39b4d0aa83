/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the store writer (group commit, store-writer.c) and of its
 * blob journal (store-journal.c): deliveries submitted together commit in
 * one batch with one journal sync, in submission order; one delivery that
 * fails (quota) fails alone and leaves no blob; the IMAP writes (APPEND,
 * STORE, COPY, MOVE, EXPUNGE) do what their direct calls do and give back
 * their outcome; queued copies land in the
 * queue; a second writer on the same directory is refused; and a journal
 * left by a crash restores a blob file that is missing or torn while
 * ignoring a torn record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/util.h"
#include "store/store-private.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int done_count;

static void count_done(void *arg)
{
	(void)arg;
	atomic_fetch_add(&done_count, 1);
}

/* Wait (at most 10 s) until n done callbacks ran. */
static void wait_done(int n)
{
	for (int i = 0; i < 10000 && atomic_load(&done_count) < n; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&done_count), n);
}

static struct store_writer *writer_start(struct tu_fixture *f, size_t max, unsigned wait_us)
{
	struct store_writer *w = NULL;
	const char *error = NULL;
	struct store_writer_options o = {.batch_max = max, .batch_wait_us = wait_us};
	atomic_store(&done_count, 0);
	if (store_writer_create(f->dir, &o, &w, &error) < 0)
		fail_msg("store_writer_create: %s", error);
	return w;
}

static struct store_write *submit(struct store_writer *w, const char *msg, const int64_t *acc,
				  size_t n)
{
	struct store_write *wr = NULL;
	const char *error = NULL;
	struct store_write_request req = {
		.data = msg,
		.len = strlen(msg),
		.accounts = acc,
		.n_accounts = n,
		.done = count_done,
	};
	assert_int_equal(store_write_submit(w, &req, &wr, &error), 0);
	return wr;
}

/* The blob content of message i (0-based) of a mailbox, malloc'd. */
static char *message_body(struct store *s, int64_t mailbox_id, size_t i)
{
	struct store_message *m = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list(s, mailbox_id, &m, &n), 0);
	assert_true(i < n);
	int fd = store_blob_open(s, m[i].blob_id);
	assert_true(fd >= 0);
	char *buf = calloc(1, m[i].size + 1);
	assert_int_equal(read(fd, buf, m[i].size), (ssize_t)m[i].size);
	close(fd);
	free(m);
	return buf;
}

static void test_batch_in_order(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-batch", true);
	*state = f;
	/* The batch stays open until it holds 3: one transaction for all. */
	struct store_writer *w = writer_start(f, 3, 5000000);
	const char *msgs[3] = {"Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n",
			       "Subject: three\r\n\r\n3\r\n"};
	struct store_write *wr[3];
	for (int i = 0; i < 3; i++)
		wr[i] = submit(w, msgs[i], &f->acc, 1);
	wait_done(3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_write_result(wr[i], NULL), 1);
		store_write_release(&wr[i]);
	}
	struct store_writer_stats st;
	store_writer_stats(w, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.writes, 3);
	assert_int_equal(st.max_batch, 3);
	assert_int_equal(st.journal_syncs, 1);
	/* UIDs follow the order of submission. */
	for (size_t i = 0; i < 3; i++) {
		char *body = message_body(f->store, f->inbox, i);
		assert_string_equal(body, msgs[i]);
		free(body);
	}
	assert_int_equal(tu_count_blobs(f->dir), 3);
	/* The same content again: no new blob, so no journal sync. */
	wr[0] = submit(w, msgs[0], &f->acc, 1);
	wait_done(4);
	assert_int_equal(store_write_result(wr[0], NULL), 1);
	store_write_release(&wr[0]);
	store_writer_destroy(&w);
	assert_null(w);
	assert_int_equal(tu_count_blobs(f->dir), 3);
	struct store_mailbox_status ms;
	assert_int_equal(store_mailbox_status(f->store, f->inbox, &ms), 1);
	assert_int_equal(ms.messages, 4);
}

static void test_one_failure_fails_alone(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-fail", true);
	*state = f;
	const char *error = NULL;
	int64_t full = 0;
	assert_int_equal(store_account_add(f->store, "q@example.org", "x", &full, &error), 0);
	assert_int_equal(store_account_set_quota(f->store, "q@example.org", 10, &error), 0);
	struct store_writer *w = writer_start(f, 3, 5000000);
	struct store_write *wr[3];
	wr[0] = submit(w, "Subject: a\r\n\r\nfirst\r\n", &f->acc, 1);
	wr[1] = submit(w, "Subject: q\r\n\r\ntoo big for q\r\n", &full, 1);
	wr[2] = submit(w, "Subject: b\r\n\r\nsecond\r\n", &f->acc, 1);
	wait_done(3);
	assert_int_equal(store_write_result(wr[0], NULL), 1);
	error = NULL;
	assert_int_equal(store_write_result(wr[1], &error), -1);
	assert_non_null(error);
	assert_int_equal(strncmp(error, "quota", 5), 0);
	assert_int_equal(store_write_result(wr[2], NULL), 1);
	for (int i = 0; i < 3; i++)
		store_write_release(&wr[i]);
	struct store_writer_stats st;
	store_writer_stats(w, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.writes, 2);
	assert_int_equal(st.failed, 1);
	store_writer_destroy(&w);
	/* Both good ones, in order, with consecutive UIDs; no trace of q's. */
	struct store_message *m = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list(f->store, f->inbox, &m, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].uid, 1);
	assert_int_equal(m[1].uid, 2);
	free(m);
	char *body = message_body(f->store, f->inbox, 1);
	assert_string_equal(body, "Subject: b\r\n\r\nsecond\r\n");
	free(body);
	assert_int_equal(tu_count_blobs(f->dir), 2);
}

/* Submit req (done = count_done) and wait until the writer ran it. */
static struct store_write *submit_imap(struct store_writer *w, struct store_write_request req,
				       int n_done)
{
	struct store_write *wr = NULL;
	const char *error = NULL;
	req.done = count_done;
	assert_int_equal(store_write_submit(w, &req, &wr, &error), 0);
	wait_done(n_done);
	return wr;
}

/*
 * The IMAP writes (APPEND, STORE, COPY, MOVE, EXPUNGE) through the writer:
 * each has the effect of its direct store call and gives back its
 * outcome; one that fails (a mailbox that is not the account's) fails
 * alone in its batch.
 */
static void test_imap_writes(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-imap", true);
	*state = f;
	struct store_writer *w = writer_start(f, 8, 0);
	struct store_mailbox archive;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "Archive", &archive), 1);
	const char *kw[] = {"$Work"};
	const char *msg = "Subject: appended\r\n\r\nbody\r\n";
	struct store_write *wr =
		submit_imap(w,
			    (struct store_write_request){.kind = STORE_WRITE_APPEND,
							 .data = msg,
							 .len = strlen(msg),
							 .account_id = f->acc,
							 .mailbox_id = f->inbox,
							 .flags = STORE_FLAG_SEEN,
							 .keywords = kw,
							 .n_keywords = 1},
			    1);
	assert_int_equal(store_write_result(wr, NULL), 1);
	const struct store_write_outcome *o = store_write_outcome(wr);
	assert_int_equal(o->uid, 1);
	assert_true(o->uidvalidity != 0);
	store_write_release(&wr);
	char *body = message_body(f->store, f->inbox, 0);
	assert_string_equal(body, msg);
	free(body);

	/* A mailbox of another account: refused. */
	wr = submit_imap(w,
			 (struct store_write_request){.kind = STORE_WRITE_APPEND,
						      .data = msg,
						      .len = strlen(msg),
						      .account_id = f->acc + 100,
						      .mailbox_id = f->inbox},
			 2);
	assert_int_equal(store_write_result(wr, NULL), -1);
	store_write_release(&wr);

	uint32_t uid = 1;
	struct store_flags_update u = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_FLAGGED};
	wr = submit_imap(w,
			 (struct store_write_request){.kind = STORE_WRITE_FLAGS,
						      .mailbox_id = f->inbox,
						      .uids = &uid,
						      .n_uids = 1,
						      .update = &u},
			 3);
	assert_int_equal(store_write_result(wr, NULL), 1);
	o = store_write_outcome(wr);
	assert_int_equal(o->flags.n_results, 1);
	assert_int_equal(o->flags.results[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_string_equal(o->flags.results[0].keywords, "$Work");
	store_write_release(&wr);

	wr = submit_imap(w,
			 (struct store_write_request){.kind = STORE_WRITE_COPY,
						      .mailbox_id = f->inbox,
						      .uids = &uid,
						      .n_uids = 1,
						      .dst_mailbox_id = archive.id},
			 4);
	assert_int_equal(store_write_result(wr, NULL), 1);
	assert_int_equal(store_write_outcome(wr)->dst_uids[0], 1);
	store_write_release(&wr);

	wr = submit_imap(w,
			 (struct store_write_request){.kind = STORE_WRITE_MOVE,
						      .mailbox_id = f->inbox,
						      .uids = &uid,
						      .n_uids = 1,
						      .dst_mailbox_id = archive.id},
			 5);
	assert_int_equal(store_write_result(wr, NULL), 1);
	assert_int_equal(store_write_outcome(wr)->dst_uids[0], 2);
	store_write_release(&wr);
	struct store_mailbox_status ms;
	assert_int_equal(store_mailbox_status(f->store, f->inbox, &ms), 1);
	assert_int_equal(ms.messages, 0);

	wr = submit_imap(w,
			 (struct store_write_request){.kind = STORE_WRITE_EXPUNGE,
						      .mailbox_id = archive.id,
						      .uids = &uid,
						      .n_uids = 1},
			 6);
	assert_int_equal(store_write_result(wr, NULL), 1);
	assert_int_equal(store_write_outcome(wr)->expunged, 1);
	store_write_release(&wr);
	assert_int_equal(store_mailbox_status(f->store, archive.id, &ms), 1);
	assert_int_equal(ms.messages, 1);
	/* The blob stays: the moved copy (UID 2) still refers to it. */
	assert_int_equal(tu_count_blobs(f->dir), 1);

	/* A malformed request is refused at once. */
	const char *error = NULL;
	struct store_write_request bad = {.kind = STORE_WRITE_FLAGS, .mailbox_id = f->inbox};
	assert_int_equal(store_write_submit(w, &bad, &wr, &error), -1);
	assert_null(wr);
	store_writer_destroy(&w);
}

/*
 * A group (MULTIAPPEND) commits all or nothing: with a failing member
 * (another account's mailbox) the good one is rolled back too, and every
 * member reports the failure; a good group gets ascending UIDs, and a
 * lone write batched beside it is unaffected.
 */
static void test_group_all_or_nothing(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-group", true);
	*state = f;
	struct store_writer *w = writer_start(f, 2, 0);
	const char *m1 = "Subject: one\r\n\r\n1\r\n", *m2 = "Subject: two\r\n\r\n2\r\n";
	struct store_write_request reqs[3];
	for (size_t i = 0; i < 3; i++)
		reqs[i] = (struct store_write_request){.kind = STORE_WRITE_APPEND,
						       .data = i ? m2 : m1,
						       .len = strlen(i ? m2 : m1),
						       .account_id = f->acc,
						       .mailbox_id = f->inbox,
						       .done = count_done};
	reqs[2].account_id = f->acc + 100;
	struct store_write *g[3] = {NULL}, *lone = NULL;
	const char *error = NULL;
	/* Three writes in a writer of batch_max 2: the group is not split. */
	assert_int_equal(store_write_submit_group(w, reqs, 3, g, &error), 0);
	assert_int_equal(store_write_submit(w, &reqs[0], &lone, &error), 0);
	wait_done(4);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(store_write_result(g[i], &error), -1);
		assert_non_null(strstr(error, "mailbox"));
		store_write_release(&g[i]);
	}
	assert_int_equal(store_write_result(lone, NULL), 1);
	assert_int_equal(store_write_outcome(lone)->uid, 1);
	store_write_release(&lone);
	/* Two good ones. */
	assert_int_equal(store_write_submit_group(w, reqs, 2, g, &error), 0);
	wait_done(6);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(store_write_result(g[i], NULL), 1);
		assert_int_equal(store_write_outcome(g[i])->uid, 2 + i);
		store_write_release(&g[i]);
	}
	char *body = message_body(f->store, f->inbox, 2);
	assert_string_equal(body, m2);
	free(body);
	store_writer_destroy(&w);
}

static void count_queue(void *ctx, const struct store_queue_entry *e)
{
	(void)e;
	(*(int *)ctx)++;
}

static void test_local_and_queued(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-queue", true);
	*state = f;
	struct store_writer *w = writer_start(f, 16, 0);
	const char *msg = "Return-Path: <s@example.org>\r\nSubject: x\r\n\r\nbody\r\n";
	size_t rp = strlen("Return-Path: <s@example.org>\r\n");
	const char *remote[2] = {"r1@remote.example", "r2@remote.example"};
	struct store_write_request req = {
		.data = msg,
		.len = strlen(msg),
		.accounts = &f->acc,
		.n_accounts = 1,
		.sender = "s@example.org",
		.remote = remote,
		.n_remote = 2,
		.queue_offset = rp,
		.done = count_done,
	};
	struct store_write *wr = NULL;
	const char *error = NULL;
	assert_int_equal(store_write_submit(w, &req, &wr, &error), 0);
	wait_done(1);
	assert_int_equal(store_write_result(wr, NULL), 1);
	store_write_release(&wr);
	/* Malformed requests are refused at once. */
	struct store_write_request none = {.data = msg, .len = strlen(msg)};
	assert_int_equal(store_write_submit(w, &none, &wr, &error), -1);
	assert_null(wr);
	assert_string_equal(error, "no recipients");
	struct store_write_request bad = req;
	bad.queue_offset = req.len + 1;
	assert_int_equal(store_write_submit(w, &bad, &wr, &error), -1);
	/* A bad sender fails in the batch, alone. */
	struct store_write_request bad_sender = req;
	bad_sender.sender = "not an address";
	assert_int_equal(store_write_submit(w, &bad_sender, &wr, &error), 0);
	wait_done(2);
	assert_int_equal(store_write_result(wr, &error), -1);
	assert_string_equal(error, "invalid sender");
	store_write_release(&wr);
	store_writer_destroy(&w);

	int rows = 0;
	assert_int_equal(store_queue_list(f->store, count_queue, &rows), 0);
	assert_int_equal(rows, 2);
	/* Two blobs: the local copy and the queued one without Return-Path. */
	assert_int_equal(tu_count_blobs(f->dir), 2);
	char id[STORE_BLOB_ID_LEN + 1];
	store_blob_hash(msg + rp, strlen(msg) - rp, id);
	int fd = store_blob_open(f->store, id);
	assert_true(fd >= 0);
	close(fd);
}

static void test_second_writer_refused(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-lock", false);
	*state = f;
	struct store_writer *w = writer_start(f, 8, 0);
	struct store_writer *w2 = NULL;
	const char *error = NULL;
	struct store_writer_options o = {.batch_max = 8};
	assert_int_equal(store_writer_create(f->dir, &o, &w2, &error), -1);
	assert_null(w2);
	assert_non_null(strstr(error, "another facteur"));
	store_writer_destroy(&w);
	/* Once the first is gone, the directory is free again. */
	assert_int_equal(store_writer_create(f->dir, &o, &w2, &error), 0);
	store_writer_destroy(&w2);
}

/* Write len bytes of data to path (replacing it). */
static void put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_journal_recovery(void **state)
{
	struct tu_fixture *f = tu_fixture_create("writer-journal", false);
	*state = f;
	struct store_journal *j = NULL;
	const char *error = NULL;
	size_t restored = 99;
	assert_int_equal(store_journal_open(f->store, &j, &restored, &error), 0);
	assert_int_equal(restored, 0);

	const char *a = "blob a: its file will be missing";
	const char *b = "blob b: its file will be torn";
	const char *c = "blob c: its file stays intact";
	char ida[STORE_BLOB_ID_LEN + 1], idb[STORE_BLOB_ID_LEN + 1], idc[STORE_BLOB_ID_LEN + 1];
	store_blob_hash(a, strlen(a), ida);
	store_blob_hash(b, strlen(b), idb);
	store_blob_hash(c, strlen(c), idc);
	struct store_journal_rec recs[3] = {
		{ida, a, strlen(a)},
		{idb, b, strlen(b)},
		{idc, c, strlen(c)},
	};
	assert_int_equal(store_journal_append(j, recs, 3, &error), 0);
	assert_true(store_journal_size(j) > strlen(a) + strlen(b) + strlen(c));
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_blob_write_journaled(f->store, recs[i].data, recs[i].len,
							    recs[i].id, &error),
				 0);
	/* A record whose content does not hash to its id: a torn tail. */
	const char *d = "blob d: torn while being appended";
	char idd[STORE_BLOB_ID_LEN + 1];
	store_blob_hash("something else", 14, idd);
	struct store_journal_rec torn = {idd, d, strlen(d)};
	assert_int_equal(store_journal_append(j, &torn, 1, &error), 0);
	store_journal_close(&j);

	/* What a power cut can leave of files that were never fsynced. */
	char *pa = xasprintf("%s/blobs/%.2s/%s", f->dir, ida, ida);
	char *pb = xasprintf("%s/blobs/%.2s/%s", f->dir, idb, idb);
	assert_int_equal(unlink(pa), 0);
	put_file(pb, "blob b: tor", 11);

	assert_int_equal(store_journal_open(f->store, &j, &restored, &error), 0);
	assert_int_equal(restored, 2);
	assert_int_equal(store_journal_size(j), 0);
	const char *want[3] = {a, b, c};
	const char *ids[3] = {ida, idb, idc};
	for (int i = 0; i < 3; i++) {
		char buf[128] = "";
		int fd = store_blob_open(f->store, ids[i]);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(want[i]));
		close(fd);
		assert_string_equal(buf, want[i]);
	}
	/* The torn record restored nothing. */
	assert_int_equal(store_blob_open(f->store, idd), -1);
	/* Once checkpointed, the old records are another generation: a new
	 * one written over the start ends the walk, the rest is never seen. */
	const char *e = "blob e: the first of a new generation";
	char ide[STORE_BLOB_ID_LEN + 1];
	store_blob_hash(e, strlen(e), ide);
	struct store_journal_rec rec_e = {ide, e, strlen(e)};
	assert_int_equal(store_journal_append(j, &rec_e, 1, &error), 0);
	store_journal_close(&j);
	assert_int_equal(unlink(pa), 0); /* a's record is now behind e's */
	assert_int_equal(store_journal_open(f->store, &j, &restored, &error), 0);
	assert_int_equal(restored, 1); /* e's file was never written */
	assert_int_equal(store_blob_open(f->store, ida), -1);
	int fd = store_blob_open(f->store, ide);
	assert_true(fd >= 0);
	close(fd);
	store_journal_close(&j);
	free(pa);
	free(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_batch_in_order, tu_teardown),
		cmocka_unit_test_teardown(test_one_failure_fails_alone, tu_teardown),
		cmocka_unit_test_teardown(test_imap_writes, tu_teardown),
		cmocka_unit_test_teardown(test_group_all_or_nothing, tu_teardown),
		cmocka_unit_test_teardown(test_local_and_queued, tu_teardown),
		cmocka_unit_test_teardown(test_second_writer_refused, tu_teardown),
		cmocka_unit_test_teardown(test_journal_recovery, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
