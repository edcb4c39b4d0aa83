/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the selected-mailbox view's incremental sync (imap-view.c):
 * after every command a session learns only what changed since the
 * HIGHESTMODSEQ it last took in (store_message_changed_since and
 * store_mailbox_vanished_since), so these tests check that nothing is lost
 * or reported twice that way. Two sessions (one plain, one with QRESYNC, so
 * both EXPUNGE and VANISHED are exercised) live through a long random mix
 * of deliveries, expunges and flag and keyword changes made by the store
 * directly and by the sessions' own STORE, EXPUNGE and FETCH commands
 * (FETCH by sequence number holds expunges back). A client model is built
 * from nothing but the untagged responses each session sends; at every
 * checkpoint it must equal the store, and the session's view must equal a
 * fresh SELECT. Also: a renamed and a deleted selected mailbox, FETCH
 * by ranges of a mailbox with holes, and views sharing one snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "mime/mime.h"
#include "store/store.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
	struct tu_fixture *f = tu_fixture_create("imap-view", true);
	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

/* --- the client model ------------------------------------------------------- */

#define MODEL_MAX 512

/* What a client knows, from the untagged responses alone. */
struct model {
	uint32_t uid[MODEL_MAX]; /* 0: announced by EXISTS, UID not known yet */
	char flags[MODEL_MAX][160];
	size_t n;
};

/* Sort the space-separated tokens of s (in place) so lists compare. */
static void tokens_sort(char *s)
{
	char *tok[32], copy[160];
	size_t n = 0;
	snprintf(copy, sizeof(copy), "%s", s);
	for (char *save, *t = strtok_r(copy, " ", &save); t != NULL && n < 32;
	     t = strtok_r(NULL, " ", &save))
		tok[n++] = t;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(tok[j - 1], tok[j]) > 0; j--) {
			char *x = tok[j];
			tok[j] = tok[j - 1];
			tok[j - 1] = x;
		}
	char out[160] = "";
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, " ");
		strcat(out, tok[i]);
	}
	snprintf(s, 160, "%s", out);
}

static void model_remove(struct model *m, size_t idx)
{
	assert_true(idx < m->n);
	memmove(&m->uid[idx], &m->uid[idx + 1], (m->n - idx - 1) * sizeof(m->uid[0]));
	memmove(&m->flags[idx], &m->flags[idx + 1], (m->n - idx - 1) * sizeof(m->flags[0]));
	m->n--;
}

static void model_vanished(struct model *m, const char *set)
{
	while (*set != '\0' && *set != '\r') {
		char *end;
		unsigned long lo = strtoul(set, &end, 10), hi = lo;
		if (*end == ':')
			hi = strtoul(end + 1, &end, 10);
		for (unsigned long u = lo; u <= hi; u++)
			for (size_t i = 0; i < m->n; i++)
				if (m->uid[i] == u) {
					model_remove(m, i);
					break;
				}
		set = *end == ',' ? end + 1 : end;
	}
}

/* "* n FETCH (... UID u ... FLAGS (...) ...)": the FLAGS, UID checked. */
static void model_fetch(struct model *m, unsigned long seq, const char *line)
{
	assert_true(seq >= 1 && seq <= m->n);
	const char *u = strstr(line, "UID ");
	if (u != NULL) {
		uint32_t uid = (uint32_t)strtoul(u + 4, NULL, 10);
		if (m->uid[seq - 1] == 0)
			m->uid[seq - 1] = uid;
		else if (m->uid[seq - 1] != uid)
			fail_msg("seq %lu is UID %u for the client, server says %u", seq,
				 m->uid[seq - 1], uid);
	}
	const char *f = strstr(line, "FLAGS (");
	if (f == NULL)
		return;
	f += 7;
	const char *e = strchr(f, ')');
	assert_non_null(e);
	snprintf(m->flags[seq - 1], sizeof(m->flags[0]), "%.*s", (int)(e - f), f);
	tokens_sort(m->flags[seq - 1]);
}

/* Apply every untagged line of out to the model. */
static void model_apply(struct model *m, const char *out)
{
	for (const char *line = out; *line != '\0';) {
		const char *eol = strstr(line, "\r\n");
		assert_non_null(eol);
		char buf[1024];
		snprintf(buf, sizeof(buf), "%.*s", (int)(eol - line), line);
		unsigned long n;
		char word[16];
		if (strncmp(buf, "* VANISHED ", 11) == 0) {
			assert_null(strstr(buf, "EARLIER"));
			model_vanished(m, buf + 11);
		} else if (sscanf(buf, "* %lu %15s", &n, word) == 2) {
			if (strcmp(word, "EXPUNGE") == 0) {
				assert_true(n >= 1 && n <= m->n);
				model_remove(m, n - 1);
			} else if (strcmp(word, "EXISTS") == 0) {
				assert_true(n >= m->n && n <= MODEL_MAX);
				while (m->n < n) {
					m->uid[m->n] = 0;
					m->flags[m->n][0] = '\0';
					m->n++;
				}
			} else if (strcmp(word, "FETCH") == 0) {
				model_fetch(m, n, buf);
			}
		}
		line = eol + 2;
	}
}

struct sess {
	struct tu_imap x;
	struct model m;
};

/* Run a command and feed its untagged responses to the model. */
static const char *sess_cmd(struct sess *c, const char *line)
{
	const char *r = tu_imap_cmd(&c->x, line);
	model_apply(&c->m, r);
	return r;
}

/* Learn the UIDs and flags of the messages EXISTS announced, like a client. */
static void sess_catch_up(struct sess *c)
{
	uint32_t last = 0;
	size_t unknown = 0;
	for (size_t i = 0; i < c->m.n; i++) {
		if (c->m.uid[i] == 0)
			unknown++;
		else
			last = c->m.uid[i];
	}
	if (unknown == 0)
		return;
	char line[64];
	snprintf(line, sizeof(line), "c UID FETCH %u:* (FLAGS)\r\n", last + 1);
	assert_has(sess_cmd(c, line), "c OK");
	for (size_t i = 0; i < c->m.n; i++)
		assert_int_not_equal(c->m.uid[i], 0);
}

/* The store's flags of a message as the client writes them, sorted. */
static void store_flags_text(const struct store_message_ex *e, char *out, size_t size)
{
	static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
					    "\\Draft"};
	char s[160] = "";
	for (size_t b = 0; b < 5; b++) {
		if ((e->msg.flags & (1u << b)) != 0) {
			strcat(s, s[0] != '\0' ? " " : "");
			strcat(s, names[b]);
		}
	}
	if (e->keywords[0] != '\0') {
		strcat(s, s[0] != '\0' ? " " : "");
		strcat(s, e->keywords);
	}
	tokens_sort(s);
	snprintf(out, size, "%s", s);
}

/*
 * After a NOOP (expunges allowed): the model equals the store, and the
 * session's view equals what a fresh SELECT loads.
 */
static void sess_check(struct tu_fixture *f, struct sess *c)
{
	assert_has(sess_cmd(c, "n NOOP\r\n"), "n OK");
	sess_catch_up(c);
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list_full(f->store, f->inbox, &msgs, &n), 0);
	assert_int_equal(c->m.n, n);
	for (size_t i = 0; i < n; i++) {
		char want[160];
		store_flags_text(&msgs[i], want, sizeof(want));
		assert_int_equal(c->m.uid[i], msgs[i].msg.uid);
		assert_string_equal(c->m.flags[i], want);
	}
	store_message_ex_free(&msgs, n);

	const struct imap_view *v = c->x.s->view;
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "INBOX", &mb), 1);
	struct imap_view *fresh = NULL;
	assert_int_equal(imap_view_load(f->store, &mb, false, &fresh), 0);
	assert_int_equal(v->n_pending_expunges, 0);
	assert_int_equal(v->count, fresh->count);
	for (size_t i = 0; i < v->count; i++) {
		assert_int_equal(v->uids[i], fresh->uids[i]);
		assert_int_equal(v->flags[i], fresh->flags[i]);
		assert_int_equal(v->modseqs[i], fresh->modseqs[i]);
	}
	assert_int_equal(v->highestmodseq, mb.highestmodseq);
	assert_int_equal(v->uidnext, mb.uidnext);
	imap_view_free(&fresh);
}

static void sess_open(struct tu_fixture *f, struct sess *c, bool qresync)
{
	memset(&c->m, 0, sizeof(c->m));
	tu_imap_open(&c->x, f, true, NULL);
	if (qresync)
		assert_has(tu_imap_cmd(&c->x, "e ENABLE QRESYNC\r\n"), "e OK");
	assert_has(sess_cmd(c, "s SELECT INBOX\r\n"), "s OK");
	sess_catch_up(c);
}

/* --- the random mix ----------------------------------------------------------- */

static uint32_t rnd_state = 20261125;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* A random UID that exists now, 0 when the mailbox is empty. */
static uint32_t random_uid(struct tu_fixture *f)
{
	struct store_message *msgs = NULL;
	size_t n = 0;
	assert_int_equal(store_message_list(f->store, f->inbox, &msgs, &n), 0);
	uint32_t uid = n > 0 ? msgs[rnd((uint32_t)n)].uid : 0;
	free(msgs);
	return uid;
}

static const char *const flag_names[] = {"\\Seen", "\\Flagged", "\\Deleted", "$Work", "$Later"};

/* A change made by "another session": the store directly. */
static void store_change(struct tu_fixture *f)
{
	const char *error = NULL;
	uint32_t uid = random_uid(f);
	switch (rnd(4)) {
	case 0:
		tu_deliver_subject(f, NULL, "mix", rnd(2) ? STORE_FLAG_SEEN : 0);
		break;
	case 1:
		if (uid != 0)
			assert_int_equal(store_message_expunge(f->store, f->inbox, &uid, 1, &error),
					 0);
		break;
	default: {
		if (uid == 0)
			break;
		const char *kw[] = {flag_names[3 + rnd(2)]};
		struct store_flags_update u = {
			.op = rnd(2) ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE,
			.flags = rnd(2) ? STORE_FLAG_FLAGGED : STORE_FLAG_SEEN,
			.keywords = kw,
			.n_keywords = rnd(2),
		};
		struct store_flags_outcome o = {0};
		assert_int_equal(
			store_message_update_flags(f->store, f->inbox, &uid, 1, &u, &o, &error), 0);
		store_flags_outcome_free(&o);
		break;
	}
	}
}

/* A command of the session itself: STORE, EXPUNGE, FETCH or NOOP. */
static void sess_change(struct sess *c)
{
	char line[128];
	size_t n = c->m.n;
	switch (rnd(6)) {
	case 0:
	case 1:
		if (n == 0)
			return;
		snprintf(line, sizeof(line), "t STORE %u %cFLAGS (%s)\r\n", rnd((uint32_t)n) + 1,
			 rnd(2) ? '+' : '-', flag_names[rnd(5)]);
		break;
	case 2:
		snprintf(line, sizeof(line), "t EXPUNGE\r\n");
		break;
	case 3:
		if (n == 0)
			return;
		/* By sequence number: an expunge seen now must be held back. */
		snprintf(line, sizeof(line), "t FETCH %u (FLAGS)\r\n", rnd((uint32_t)n) + 1);
		break;
	case 4:
		if (n == 0)
			return;
		snprintf(line, sizeof(line), "t UID FETCH %u:* (FLAGS)\r\n",
			 c->m.uid[rnd((uint32_t)n)]);
		break;
	default:
		snprintf(line, sizeof(line), "t NOOP\r\n");
		break;
	}
	const char *r = sess_cmd(c, line);
	/* A FETCH of a message expunged meanwhile may say NO; nothing else does. */
	if (strstr(r, "t OK") == NULL)
		assert_has(r, "t NO");
	sess_catch_up(c);
}

static void test_two_sessions_stay_consistent(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 12; i++)
		tu_deliver_subject(f, NULL, "start", i % 3 == 0 ? STORE_FLAG_SEEN : 0);
	struct sess a, b;
	sess_open(f, &a, false);
	sess_open(f, &b, true);
	for (int round = 0; round < 300; round++) {
		switch (rnd(3)) {
		case 0:
			store_change(f);
			break;
		case 1:
			sess_change(&a);
			break;
		default:
			sess_change(&b);
			break;
		}
		if (round % 10 == 9) {
			sess_check(f, &a);
			sess_check(f, &b);
		}
	}
	sess_check(f, &a);
	sess_check(f, &b);
	tu_imap_close(&a.x);
	tu_imap_close(&b.x);
}

/* EXPUNGE held back during FETCH by number, then sent by NOOP. */
static void test_expunge_held_back(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 3; i++)
		tu_deliver_subject(f, NULL, "held", 0);
	struct sess a;
	sess_open(f, &a, false);
	const char *error = NULL;
	uint32_t uid = 2;
	assert_int_equal(store_message_expunge(f->store, f->inbox, &uid, 1, &error), 0);
	tu_deliver_subject(f, NULL, "new", 0);
	const char *r = sess_cmd(&a, "f FETCH 3 (FLAGS)\r\n");
	assert_lacks(r, "EXPUNGE");
	assert_has(r, "* 4 EXISTS\r\n");
	assert_has(r, "* 3 FETCH (FLAGS ())\r\n");
	r = sess_cmd(&a, "n NOOP\r\n");
	assert_has(r, "* 2 EXPUNGE\r\n");
	assert_lacks(r, "EXISTS");
	sess_check(f, &a);
	tu_imap_close(&a.x);
}

/* A renamed mailbox is followed by id; a deleted one empties the view. */
static void test_renamed_and_deleted(void **state)
{
	struct tu_fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_mailbox_create(f->store, f->acc, "Work", "", &error), 0);
	for (int i = 0; i < 3; i++)
		tu_deliver_subject(f, "Work", "w", 0);
	struct tu_imap x;
	tu_imap_open(&x, f, true, "s SELECT Work\r\n");
	assert_int_equal(store_mailbox_rename(f->store, f->acc, "Work", "Play", &error), 0);
	tu_deliver_subject(f, "Play", "p", 0);
	const char *r = tu_imap_cmd(&x, "n NOOP\r\n");
	assert_has(r, "* 4 EXISTS\r\n");
	assert_int_equal(store_mailbox_delete(f->store, f->acc, "Play", &error), 0);
	r = tu_imap_cmd(&x, "m NOOP\r\n");
	assert_has(r, "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n");
	assert_int_equal(x.s->view->count, 0);
	tu_imap_close(&x);
}

/*
 * Sessions that were told the same thing share one copy of the view's
 * arrays between commands; a session that changes its view (its own STORE,
 * a sync) takes a private copy first and leaves the others' untouched.
 */
static void test_shared_snapshots(void **state)
{
	struct tu_fixture *f = *state;
	for (int i = 0; i < 20; i++)
		tu_deliver_subject(f, NULL, "shared", i % 2 ? STORE_FLAG_SEEN : 0);
	struct sess c[3];
	for (int i = 0; i < 3; i++) {
		memset(&c[i].m, 0, sizeof(c[i].m));
		tu_imap_open(&c[i].x, f, true, NULL);
		/* IMAP4rev2: no \Recent, whose per-session bits are never shared. */
		assert_has(tu_imap_cmd(&c[i].x, "e ENABLE IMAP4rev2\r\n"), "e OK");
		assert_has(sess_cmd(&c[i], "s SELECT INBOX\r\n"), "s OK");
		sess_catch_up(&c[i]);
	}
	const struct imap_view *v0 = c[0].x.s->view, *v1 = c[1].x.s->view, *v2 = c[2].x.s->view;
	assert_non_null(v0->shared);
	assert_ptr_equal(v0->shared, v1->shared);
	assert_ptr_equal(v0->uids, v2->uids);
	uint32_t seen_before = v1->flags[0];

	/* c[0] flags message 1: its own copy changes, the shared one does not. */
	assert_has(sess_cmd(&c[0], "t STORE 1 +FLAGS (\\Flagged)\r\n"), "t OK");
	assert_ptr_not_equal(v0->uids, v1->uids);
	assert_ptr_equal(v1->uids, v2->uids);
	assert_int_equal(v1->flags[0], seen_before);
	assert_true((v0->flags[0] & STORE_FLAG_FLAGGED) != 0);

	/* The others learn it at their next command and share again, all three. */
	tu_deliver_subject(f, NULL, "more", 0);
	for (int i = 0; i < 3; i++)
		sess_check(f, &c[i]);
	assert_non_null(v0->shared);
	assert_ptr_equal(v0->shared, v1->shared);
	assert_ptr_equal(v1->shared, v2->shared);
	assert_int_equal(v0->count, 21);

	/* An expunge by one: each reports it and they converge again. */
	assert_has(sess_cmd(&c[2], "t STORE 2 +FLAGS (\\Deleted)\r\n"), "t OK");
	assert_has(sess_cmd(&c[2], "t EXPUNGE\r\n"), "* 2 EXPUNGE");
	for (int i = 0; i < 3; i++)
		sess_check(f, &c[i]);
	assert_ptr_equal(v0->shared, v2->shared);
	assert_int_equal(v1->count, 20);
	for (int i = 0; i < 3; i++)
		tu_imap_close(&c[i].x);
}

/* FETCH of scattered messages and of 1:* over holes reads the right rows. */
static void test_fetch_ranges(void **state)
{
	struct tu_fixture *f = *state;
	const char *error = NULL;
	for (int i = 0; i < 10; i++)
		tu_deliver_subject(f, NULL, "r", 0);
	uint32_t gone[] = {3, 4, 8};
	assert_int_equal(store_message_expunge(f->store, f->inbox, gone, 3, &error), 0);
	struct tu_imap x;
	tu_imap_open(&x, f, true, "s SELECT INBOX\r\n");
	const char *r = tu_imap_cmd(&x, "a FETCH 1:* (UID)\r\n");
	assert_has(r,
		   "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 5)\r\n"
		   "* 4 FETCH (UID 6)\r\n* 5 FETCH (UID 7)\r\n* 6 FETCH (UID 9)\r\n"
		   "* 7 FETCH (UID 10)\r\na OK");
	r = tu_imap_cmd(&x, "b UID FETCH 2:5,9,100 (FLAGS)\r\n");
	assert_has(r,
		   "* 2 FETCH (FLAGS () UID 2)\r\n* 3 FETCH (FLAGS () UID 5)\r\n"
		   "* 6 FETCH (FLAGS () UID 9)\r\nb OK");
	assert_lacks(r, "UID 1)");
	/* CHANGEDSINCE narrows the same listing. */
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->store, f->acc, "INBOX", &mb), 1);
	assert_has(tu_imap_cmd(&x, "c STORE 6 +FLAGS.SILENT (\\Flagged)\r\n"), "c OK");
	char line[96];
	snprintf(line, sizeof(line), "d FETCH 1:* (FLAGS) (CHANGEDSINCE %llu)\r\n",
		 (unsigned long long)mb.highestmodseq);
	r = tu_imap_cmd(&x, line);
	assert_has(r, "* 6 FETCH (FLAGS (\\Flagged) MODSEQ (");
	assert_lacks(r, "* 5 FETCH");
	/* SEARCH narrowed by a UID set and by MODSEQ agrees with the full one. */
	assert_has(tu_imap_cmd(&x, "e UID SEARCH UID 2:9 UNFLAGGED\r\n"), "* SEARCH 2 5 6 7\r\n");
	assert_has(tu_imap_cmd(&x, "g SEARCH 2:6 FLAGGED\r\n"), "* SEARCH 6\r\n");
	snprintf(line, sizeof(line), "h SEARCH MODSEQ %llu\r\n",
		 (unsigned long long)mb.highestmodseq + 1);
	assert_has(tu_imap_cmd(&x, line), "* SEARCH 6 (MODSEQ ");
	assert_has(tu_imap_cmd(&x, "i SEARCH 7 ALL\r\n"), "* SEARCH 7\r\n");
	/* A set beyond the mailbox is still BAD. */
	assert_has(tu_imap_cmd(&x, "j FETCH 8 (FLAGS)\r\n"), "j BAD");
	tu_imap_close(&x);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_sessions_stay_consistent, setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_expunge_held_back, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_renamed_and_deleted, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_fetch_ranges, setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_shared_snapshots, setup, tu_teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
