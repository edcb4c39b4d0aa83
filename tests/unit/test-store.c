/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the storage module (store.h, SQLite backend): domains,
 * accounts, aliases and resolution, delivery with shared blobs, quota,
 * expunge and blob collection, flags and MODSEQ, mailboxes, the queue,
 * concurrent handles and reopening. Each test runs in its own mkdtemp
 * directory, removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/store.h"
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (tu_store_open("store", f->dir, sizeof(f->dir), &f->s, NULL, NULL) < 0)
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

static bool blob_file_exists(const char *dir, const char *id)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, id, id);
	return access(path, F_OK) == 0;
}

static int64_t add_account(struct store *s, const char *addr)
{
	const char *error = NULL;
	int64_t id = 0;
	int ret = store_account_add(s, addr, "$argon2id$v=19$fake", &id, &error);
	if (ret < 0)
		fprintf(stderr, "account_add %s: %s\n", addr, error);
	assert_int_equal(ret, 0);
	assert_true(id > 0);
	return id;
}

static void add_domain(struct store *s, const char *d)
{
	const char *error = NULL;
	assert_int_equal(store_domain_add(s, d, &error), 0);
}

static int64_t inbox_id(struct store *s, int64_t account)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(s, account, "INBOX", &m), 1);
	return m.id;
}

static const char msg1[] = "From: a@b.example\r\nSubject: hi\r\n\r\nbody one\r\n";
static const char msg2[] = "From: a@b.example\r\nSubject: two\r\n\r\nbody two\r\n";

static int deliver(struct store *s, const char *data, const int64_t *acc, size_t n, uint32_t *uids,
		   const char **error)
{
	return store_deliver(s, data, strlen(data), NULL, acc, n, NULL, 0, 0, uids, error);
}

/* --- domains ----------------------------------------------------------- */

static void collect_domain(void *ctx, const char *d)
{
	char *out = ctx;
	strcat(out, d);
	strcat(out, ";");
}

static void test_domains(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char list[256] = "";

	assert_int_equal(store_domain_add(f->s, "Example.ORG", &error), 0);
	assert_int_equal(store_domain_add(f->s, "b.example", &error), 0);
	assert_int_equal(store_domain_add(f->s, "example.org", &error), -1);
	assert_string_equal(error, "domain example.org already exists");
	assert_int_equal(store_domain_exists(f->s, "EXAMPLE.org"), 1);
	assert_int_equal(store_domain_exists(f->s, "other.org"), 0);
	assert_int_equal(store_domain_exists(f->s, "bad domain"), 0);
	assert_int_equal(store_domain_list(f->s, collect_domain, list), 0);
	assert_string_equal(list, "b.example;example.org;");

	/* bad names */
	const char *bad[] = {"", "a b", "a@b", ".a", "a.", "a..b", "a\tb", "x\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_domain_add(f->s, bad[i], &error), -1);
	assert_int_equal(store_domain_add(f->s, NULL, &error), -1);

	/* a domain with accounts stays */
	add_account(f->s, "u@example.org");
	assert_int_equal(store_domain_remove(f->s, "example.org", &error), -1);
	assert_non_null(strstr(error, "still has accounts"));
	assert_int_equal(store_domain_remove(f->s, "nope.org", &error), -1);
	assert_string_equal(error, "no such domain");
	assert_int_equal(store_domain_remove(f->s, "B.example", &error), 0);
	assert_int_equal(store_domain_exists(f->s, "b.example"), 0);
	assert_int_equal(store_account_remove(f->s, "u@example.org", &error), 0);
	assert_int_equal(store_domain_remove(f->s, "example.org", &error), 0);
}

/* --- accounts ---------------------------------------------------------- */

struct acc_list {
	int n;
	char first[320];
};

static void collect_account(void *ctx, const struct store_account *a)
{
	struct acc_list *l = ctx;
	if (l->n++ == 0)
		snprintf(l->first, sizeof(l->first), "%s", a->address);
}

struct mb_list {
	int n;
	char names[16][64];
	char special[16][16];
	bool subscribed[16];
};

static void collect_mailbox(void *ctx, const struct store_mailbox *m)
{
	struct mb_list *l = ctx;
	if (l->n < 16) {
		snprintf(l->names[l->n], 64, "%.63s", m->name);
		snprintf(l->special[l->n], 16, "%s", m->special_use);
		l->subscribed[l->n] = m->subscribed;
	}
	l->n++;
}

static const char *special_of(const struct mb_list *l, const char *name)
{
	for (int i = 0; i < l->n && i < 16; i++) {
		if (strcmp(l->names[i], name) == 0)
			return l->special[i];
	}
	return NULL;
}

static void test_accounts(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_account a;
	struct acc_list al = {0};
	struct mb_list ml = {0};

	add_domain(f->s, "example.org");
	int64_t id = add_account(f->s, "Alice@Example.org");
	add_account(f->s, "bob@example.org");
	assert_int_equal(store_account_add(f->s, "alice@example.org", "h", NULL, &error), -1);
	assert_string_equal(error, "account already exists");
	assert_int_equal(store_account_add(f->s, "x@unknown.org", "h", NULL, &error), -1);
	assert_string_equal(error, "no such domain");

	const char *bad[] = {"",
			     "noat",
			     "a@@example.org",
			     "a@b@example.org",
			     "@example.org",
			     "a@",
			     "a b@example.org",
			     "a\r\n@example.org",
			     "a\x01@example.org",
			     "a@exa mple.org"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_account_add(f->s, bad[i], "h", NULL, &error), -1);
		assert_non_null(error);
	}
	assert_int_equal(store_account_add(f->s, NULL, "h", NULL, &error), -1);
	assert_int_equal(store_account_add(f->s, "c@example.org", NULL, NULL, &error), -1);

	assert_int_equal(store_account_get(f->s, "ALICE@example.ORG", &a), 1);
	assert_int_equal(a.id, id);
	assert_string_equal(a.address, "alice@example.org");
	assert_string_equal(a.password_hash, "$argon2id$v=19$fake");
	assert_int_equal(a.quota_bytes, 0);
	assert_int_equal(a.used_bytes, 0);
	assert_int_equal(store_account_get(f->s, "nobody@example.org", &a), 0);
	assert_int_equal(store_account_get(f->s, "garbage", &a), 0);
	assert_int_equal(store_account_get_by_id(f->s, id, &a), 1);
	assert_string_equal(a.address, "alice@example.org");
	assert_int_equal(store_account_get_by_id(f->s, 9999, &a), 0);

	assert_int_equal(store_account_set_password(f->s, "alice@example.org", "new", &error), 0);
	assert_int_equal(store_account_set_quota(f->s, "alice@example.org", 1000, &error), 0);
	assert_int_equal(store_account_set_quota(f->s, "alice@example.org", -1, &error), -1);
	assert_int_equal(store_account_set_password(f->s, "zed@example.org", "x", &error), -1);
	assert_string_equal(error, "no such account");
	assert_int_equal(store_account_get(f->s, "alice@example.org", &a), 1);
	assert_string_equal(a.password_hash, "new");
	assert_int_equal(a.quota_bytes, 1000);

	assert_int_equal(store_account_list(f->s, collect_account, &al), 0);
	assert_int_equal(al.n, 2);
	assert_string_equal(al.first, "alice@example.org");

	/* special-use mailboxes, INBOX first, all subscribed */
	assert_int_equal(store_mailbox_list(f->s, id, collect_mailbox, &ml), 0);
	assert_int_equal(ml.n, 6);
	assert_string_equal(ml.names[0], "INBOX");
	assert_string_equal(special_of(&ml, "INBOX"), "");
	assert_string_equal(special_of(&ml, "Drafts"), "\\Drafts");
	assert_string_equal(special_of(&ml, "Sent"), "\\Sent");
	assert_string_equal(special_of(&ml, "Trash"), "\\Trash");
	assert_string_equal(special_of(&ml, "Junk"), "\\Junk");
	assert_string_equal(special_of(&ml, "Archive"), "\\Archive");
	for (int i = 0; i < 6; i++)
		assert_true(ml.subscribed[i]);

	assert_int_equal(store_account_remove(f->s, "bob@example.org", &error), 0);
	assert_int_equal(store_account_remove(f->s, "bob@example.org", &error), -1);
	assert_string_equal(error, "no such account");
	assert_int_equal(store_account_get(f->s, "bob@example.org", &a), 0);
}

/* --- aliases and resolve ----------------------------------------------- */

struct resolved {
	int64_t acc[16];
	size_t n_acc;
	char *rem[16];
	size_t n_rem;
};

static int resolve(struct store *s, const char *addr, struct resolved *r)
{
	for (size_t i = 0; i < r->n_rem; i++)
		free(r->rem[i]);
	memset(r, 0, sizeof(*r));
	return store_resolve(s, addr, r->acc, &r->n_acc, r->rem, &r->n_rem, 16);
}

static void collect_alias(void *ctx, const char *src, const char *dst)
{
	(void)src;
	(void)dst;
	(*(int *)ctx)++;
}

static void test_aliases(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct resolved r = {0};

	add_domain(f->s, "example.org");
	add_domain(f->s, "other.example");
	int64_t alice = add_account(f->s, "alice@example.org");
	int64_t bob = add_account(f->s, "bob@example.org");
	int64_t carol = add_account(f->s, "carol@other.example");

	/* plain account, case-insensitive */
	assert_int_equal(resolve(f->s, "Alice@EXAMPLE.org", &r), 1);
	assert_int_equal(r.n_acc, 1);
	assert_int_equal(r.acc[0], alice);
	/* non-local domain and unknown user */
	assert_int_equal(resolve(f->s, "alice@elsewhere.net", &r), 0);
	assert_int_equal(resolve(f->s, "nobody@example.org", &r), 0);
	assert_int_equal(resolve(f->s, "not an address", &r), 0);
	/* +tag */
	assert_int_equal(resolve(f->s, "alice+lists@example.org", &r), 1);
	assert_int_equal(r.acc[0], alice);

	/* alias with two targets, one remote */
	assert_int_equal(store_alias_add(f->s, "team@example.org", "alice@example.org", &error), 0);
	assert_int_equal(store_alias_add(f->s, "team@example.org", "bob@example.org", &error), 0);
	assert_int_equal(store_alias_add(f->s, "team@example.org", "ext@remote.net", &error), 0);
	assert_int_equal(store_alias_add(f->s, "team@example.org", "bob@example.org", &error), -1);
	assert_string_equal(error, "alias already exists");
	assert_int_equal(resolve(f->s, "team@example.org", &r), 1);
	assert_int_equal(r.n_acc, 2);
	assert_int_equal(r.n_rem, 1);
	assert_string_equal(r.rem[0], "ext@remote.net");
	/* +tag on an alias */
	assert_int_equal(resolve(f->s, "team+x@example.org", &r), 1);
	assert_int_equal(r.n_acc, 2);

	/* multi-level: l1 -> l2 -> l3 -> carol (other domain) */
	assert_int_equal(store_alias_add(f->s, "l1@example.org", "l2@example.org", &error), 0);
	assert_int_equal(store_alias_add(f->s, "l2@example.org", "l3@other.example", &error), 0);
	assert_int_equal(store_alias_add(f->s, "l3@other.example", "carol@other.example", &error),
			 0);
	assert_int_equal(store_alias_add(f->s, "l3@other.example", "alice@example.org", &error), 0);
	assert_int_equal(resolve(f->s, "l1@example.org", &r), 1);
	assert_int_equal(r.n_acc, 2);
	assert_int_equal(r.acc[0], carol);
	assert_int_equal(r.acc[1], alice);

	/* a loop terminates and delivers nowhere */
	assert_int_equal(store_alias_add(f->s, "x@example.org", "y@example.org", &error), 0);
	assert_int_equal(store_alias_add(f->s, "y@example.org", "x@example.org", &error), 0);
	assert_int_equal(resolve(f->s, "x@example.org", &r), 0);
	/* a loop with an exit still reaches the exit, once */
	assert_int_equal(store_alias_add(f->s, "y@example.org", "bob@example.org", &error), 0);
	assert_int_equal(resolve(f->s, "x@example.org", &r), 1);
	assert_int_equal(r.n_acc, 1);
	assert_int_equal(r.acc[0], bob);

	/* catch-all, after accounts, aliases and +tag */
	assert_int_equal(store_alias_add(f->s, "@example.org", "bob@example.org", &error), 0);
	assert_int_equal(resolve(f->s, "whoever@example.org", &r), 1);
	assert_int_equal(r.acc[0], bob);
	assert_int_equal(resolve(f->s, "alice@example.org", &r), 1);
	assert_int_equal(r.n_acc, 1);
	assert_int_equal(r.acc[0], alice);
	assert_int_equal(resolve(f->s, "nobody@other.example", &r), 0);

	/* accumulation across calls: appended, deduplicated */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_resolve(f->s, "alice@example.org", r.acc, &r.n_acc, NULL, NULL, 16),
			 1);
	assert_int_equal(store_resolve(f->s, "team@example.org", r.acc, &r.n_acc, NULL, NULL, 16),
			 1);
	assert_int_equal(r.n_acc, 2);

	/* bad aliases */
	assert_int_equal(store_alias_add(f->s, "a@unknown.org", "alice@example.org", &error), -1);
	assert_string_equal(error, "no such domain");
	assert_int_equal(store_alias_add(f->s, "a@example.org", "a@example.org", &error), -1);
	assert_int_equal(store_alias_add(f->s, "a b@example.org", "alice@example.org", &error), -1);
	assert_int_equal(store_alias_add(f->s, "a@example.org", "@example.org", &error), -1);
	assert_int_equal(store_alias_add(f->s, "a@example.org", "", &error), -1);

	int n = 0;
	assert_int_equal(store_alias_list(f->s, collect_alias, &n), 0);
	assert_int_equal(n, 11);
	assert_int_equal(store_alias_remove(f->s, "@example.org", "bob@example.org", &error), 0);
	assert_int_equal(store_alias_remove(f->s, "@example.org", "bob@example.org", &error), -1);
	assert_string_equal(error, "no such alias");
	assert_int_equal(resolve(f->s, "whoever@example.org", &r), 0);

	/* removing a domain takes its aliases */
	assert_int_equal(store_alias_add(f->s, "z@third.example", "alice@example.org", &error), -1);
	add_domain(f->s, "third.example");
	assert_int_equal(store_alias_add(f->s, "z@third.example", "alice@example.org", &error), 0);
	assert_int_equal(store_domain_remove(f->s, "third.example", &error), 0);
	n = 0;
	assert_int_equal(store_alias_list(f->s, collect_alias, &n), 0);
	assert_int_equal(n, 10);
	resolve(f->s, "nobody@nowhere.example", &r); /* frees r.rem */
}

static void test_resolve_fanout_bounded(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char src[64], dst[64];

	/* A binary tree of aliases 8 levels deep, each node pointing to two
	 * children: resolution must stay bounded and terminate. */
	add_domain(f->s, "example.org");
	add_account(f->s, "leaf@example.org");
	for (int i = 1; i < 256; i++) {
		snprintf(src, sizeof(src), "n%d@example.org", i);
		for (int c = 0; c < 2; c++) {
			int child = 2 * i + c;
			if (child < 256)
				snprintf(dst, sizeof(dst), "n%d@example.org", child);
			else if (c == 0)
				snprintf(dst, sizeof(dst), "leaf@example.org");
			else
				snprintf(dst, sizeof(dst), "far%d@remote.example", i);
			assert_int_equal(store_alias_add(f->s, src, dst, &error), 0);
		}
	}
	struct resolved r = {0};
	/* the work bound (not the tree) decides how much is reached */
	assert_true(resolve(f->s, "n1@example.org", &r) >= 0);
	assert_true(r.n_acc <= 1);
	assert_true(r.n_rem <= 16);
	resolve(f->s, "x@nowhere.example", &r);
}

/* --- delivery ---------------------------------------------------------- */

static void test_deliver_shared_blob(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint32_t uids[3] = {0};
	struct store_message *msgs = NULL;
	size_t n = 0;

	add_domain(f->s, "example.org");
	int64_t acc[3] = {add_account(f->s, "a@example.org"), add_account(f->s, "b@example.org"),
			  add_account(f->s, "c@example.org")};
	assert_int_equal(tu_count_blobs(f->dir), 0);
	assert_int_equal(deliver(f->s, msg1, acc, 3, uids, &error), 0);
	assert_int_equal(tu_count_blobs(f->dir), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(uids[i], 1);
		assert_int_equal(store_message_list(f->s, inbox_id(f->s, acc[i]), &msgs, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(msgs[0].uid, 1);
		assert_int_equal(msgs[0].size, strlen(msg1));
		assert_int_equal(msgs[0].flags, 0);
		assert_true(msgs[0].internal_date > 0);
		assert_true(blob_file_exists(f->dir, msgs[0].blob_id));
		free(msgs);
	}
	/* same content again: still one blob, next UID */
	assert_int_equal(deliver(f->s, msg1, acc, 3, uids, &error), 0);
	assert_int_equal(tu_count_blobs(f->dir), 1);
	assert_int_equal(uids[0], 2);
	assert_int_equal(deliver(f->s, msg2, acc, 1, uids, &error), 0);
	assert_int_equal(uids[0], 3);
	assert_int_equal(tu_count_blobs(f->dir), 2);

	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, acc[0], "inbox", &m), 1);
	assert_string_equal(m.name, "INBOX");
	assert_int_equal(m.messages, 3);
	assert_int_equal(m.unseen, 3);
	assert_int_equal(m.uidnext, 4);
	assert_int_equal(m.size, 2 * strlen(msg1) + strlen(msg2));
	assert_true(m.uidvalidity > 0);
	assert_int_equal(m.highestmodseq, 4); /* starts at 1, +1 per message */

	struct store_account a;
	assert_int_equal(store_account_get_by_id(f->s, acc[0], &a), 1);
	assert_int_equal(a.used_bytes, 2 * strlen(msg1) + strlen(msg2));

	/* modseqs increase with UIDs */
	assert_int_equal(store_message_list(f->s, m.id, &msgs, &n), 0);
	assert_int_equal(n, 3);
	assert_true(msgs[0].modseq < msgs[1].modseq && msgs[1].modseq < msgs[2].modseq);
	free(msgs);

	/* bad input */
	assert_int_equal(deliver(f->s, msg1, acc, 0, NULL, &error), -1);
	int64_t ghost = 424242;
	assert_int_equal(deliver(f->s, msg1, &ghost, 1, NULL, &error), -1);
	assert_string_equal(error, "no such account");
	assert_int_equal(store_message_list(f->s, 999999, &msgs, &n), 0);
	assert_int_equal(n, 0);
	free(msgs);
}

static void test_deliver_mailbox_and_flags(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint32_t uid = 0;
	struct store_mailbox m;
	struct store_message *msgs = NULL;
	size_t n = 0;

	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "a@example.org");
	assert_int_equal(store_deliver(f->s, msg1, strlen(msg1), NULL, &acc, 1, "Junk", 1700000000,
				       STORE_FLAG_SEEN | 0x1000, &uid, &error),
			 0);
	assert_int_equal(store_mailbox_get(f->s, acc, "Junk", &m), 1);
	assert_int_equal(m.messages, 1);
	assert_int_equal(m.unseen, 0);
	assert_int_equal(store_message_list(f->s, m.id, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].flags, STORE_FLAG_SEEN); /* unknown bits dropped */
	assert_int_equal(msgs[0].internal_date, 1700000000);
	uint64_t modseq = msgs[0].modseq;
	free(msgs);
	/* missing mailbox falls back to INBOX */
	assert_int_equal(
		store_deliver(f->s, msg1, strlen(msg1), NULL, &acc, 1, "Nope", 0, 0, &uid, &error),
		0);
	assert_int_equal(store_mailbox_get(f->s, acc, "INBOX", &m), 1);
	assert_int_equal(m.messages, 1);

	/* set_flags bumps the message and mailbox MODSEQ */
	assert_int_equal(store_mailbox_get(f->s, acc, "Junk", &m), 1);
	assert_int_equal(store_message_set_flags(f->s, m.id, 1,
						 STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED, &error),
			 0);
	assert_int_equal(store_message_list(f->s, m.id, &msgs, &n), 0);
	assert_int_equal(msgs[0].flags, STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED);
	assert_true(msgs[0].modseq > modseq);
	struct store_mailbox m2;
	assert_int_equal(store_mailbox_get(f->s, acc, "Junk", &m2), 1);
	assert_int_equal(m2.highestmodseq, msgs[0].modseq);
	assert_int_equal(m2.unseen, 1);
	free(msgs);
	assert_int_equal(store_message_set_flags(f->s, m.id, 99, 0, &error), -1);
	assert_string_equal(error, "no such message");
}

static void test_parsed_fields(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_parsed p = {
		.envelope = "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)",
		.bodystructure = "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 9 1)",
		.subject = "hi – é",
		.from = "A <a@b.example>",
		.to = "x@example.org",
		.cc = NULL,
		.message_id = "<1@b.example>",
		.date = 1700000000,
	};
	struct store_message *msgs = NULL;
	size_t n = 0;

	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "x@example.org");
	assert_int_equal(
		store_deliver(f->s, msg1, strlen(msg1), &p, &acc, 1, NULL, 0, 0, NULL, &error), 0);
	assert_int_equal(store_message_list(f->s, inbox_id(f->s, acc), &msgs, &n), 0);
	assert_int_equal(n, 1);

	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof(path), "%s/facteur.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(
				 db,
				 "SELECT size, envelope, bodystructure, subject, hdr_from, hdr_to,"
				 " hdr_cc, message_id, date FROM blobs WHERE id = ?",
				 -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, msgs[0].blob_id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), strlen(msg1));
	assert_string_equal((const char *)sqlite3_column_text(st, 1), p.envelope);
	assert_string_equal((const char *)sqlite3_column_text(st, 2), p.bodystructure);
	assert_string_equal((const char *)sqlite3_column_text(st, 3), p.subject);
	assert_string_equal((const char *)sqlite3_column_text(st, 4), p.from);
	assert_string_equal((const char *)sqlite3_column_text(st, 5), p.to);
	assert_int_equal(sqlite3_column_type(st, 6), SQLITE_NULL);
	assert_string_equal((const char *)sqlite3_column_text(st, 7), p.message_id);
	assert_int_equal(sqlite3_column_int64(st, 8), 1700000000);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(msgs);
}

static void test_quota(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_mailbox m;

	add_domain(f->s, "example.org");
	int64_t acc[2] = {add_account(f->s, "a@example.org"), add_account(f->s, "b@example.org")};
	assert_int_equal(
		store_account_set_quota(f->s, "b@example.org", (int64_t)strlen(msg1) + 10, &error),
		0);
	assert_int_equal(deliver(f->s, msg1, acc, 2, NULL, &error), 0);
	/* b is now near its quota: the whole delivery fails, for a too */
	assert_int_equal(deliver(f->s, msg2, acc, 2, NULL, &error), -1);
	assert_int_equal(strncmp(error, "quota", 5), 0);
	assert_int_equal(store_mailbox_get(f->s, acc[0], "INBOX", &m), 1);
	assert_int_equal(m.messages, 1);
	assert_int_equal(m.uidnext, 2);
	/* and the refused blob is not left behind */
	assert_int_equal(tu_count_blobs(f->dir), 1);
	/* a alone still gets it */
	assert_int_equal(deliver(f->s, msg2, acc, 1, NULL, &error), 0);
	assert_int_equal(tu_count_blobs(f->dir), 2);
	/* quota 0 = unlimited again */
	assert_int_equal(store_account_set_quota(f->s, "b@example.org", 0, &error), 0);
	assert_int_equal(deliver(f->s, msg2, acc, 2, NULL, &error), 0);
}

static void test_expunge_and_blob_gc(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_message *msgs = NULL;
	size_t n = 0;
	char blob[STORE_BLOB_ID_LEN + 1];

	add_domain(f->s, "example.org");
	int64_t acc[2] = {add_account(f->s, "a@example.org"), add_account(f->s, "b@example.org")};
	assert_int_equal(deliver(f->s, msg1, acc, 2, NULL, &error), 0);
	assert_int_equal(deliver(f->s, msg2, acc, 1, NULL, &error), 0);
	int64_t in_a = inbox_id(f->s, acc[0]), in_b = inbox_id(f->s, acc[1]);
	assert_int_equal(store_message_list(f->s, in_a, &msgs, &n), 0);
	assert_int_equal(n, 2);
	snprintf(blob, sizeof(blob), "%s", msgs[0].blob_id);
	free(msgs);

	struct store_mailbox before, after;
	assert_int_equal(store_mailbox_get(f->s, acc[0], "INBOX", &before), 1);
	uint32_t one = 1;
	assert_int_equal(store_message_expunge(f->s, in_a, &one, 1, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, acc[0], "INBOX", &after), 1);
	assert_true(after.highestmodseq > before.highestmodseq);
	assert_int_equal(after.messages, 1);
	/* b still refers to it */
	assert_true(blob_file_exists(f->dir, blob));
	int fd = store_blob_open(f->s, blob);
	assert_true(fd >= 0);
	close(fd);
	/* unknown UIDs: nothing happens, no modseq bump */
	uint32_t unknown[2] = {1, 77};
	assert_int_equal(store_message_expunge(f->s, in_a, unknown, 2, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, acc[0], "INBOX", &before), 1);
	assert_int_equal(before.highestmodseq, after.highestmodseq);
	assert_int_equal(store_message_expunge(f->s, 999999, &one, 1, &error), -1);
	assert_string_equal(error, "no such mailbox");
	/* last reference: the blob goes */
	assert_int_equal(store_message_expunge(f->s, in_b, &one, 1, &error), 0);
	assert_false(blob_file_exists(f->dir, blob));
	assert_int_equal(store_blob_open(f->s, blob), -1);
	assert_int_equal(tu_count_blobs(f->dir), 1);
	/* removing the account removes its last blob */
	assert_int_equal(store_account_remove(f->s, "a@example.org", &error), 0);
	assert_int_equal(tu_count_blobs(f->dir), 0);
	/* UIDs are never reused */
	uint32_t uid = 0;
	assert_int_equal(deliver(f->s, msg1, &acc[1], 1, &uid, &error), 0);
	assert_int_equal(uid, 2);
}

static void test_blob_readback(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_message *msgs = NULL;
	size_t n = 0;
	size_t len = 300000;
	char *big = malloc(len);
	for (size_t i = 0; i < len; i++)
		big[i] = (char)(i * 131 + 7); /* includes NULs */

	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "a@example.org");
	assert_int_equal(store_deliver(f->s, big, len, NULL, &acc, 1, NULL, 0, 0, NULL, &error), 0);
	assert_int_equal(store_message_list(f->s, inbox_id(f->s, acc), &msgs, &n), 0);
	int fd = store_blob_open(f->s, msgs[0].blob_id);
	assert_true(fd >= 0);
	char *back = malloc(len + 1);
	size_t got = 0;
	ssize_t r;
	while ((r = read(fd, back + got, len + 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	assert_int_equal(got, len);
	assert_memory_equal(back, big, len);
	free(back);
	free(big);
	free(msgs);

	/* ids that are not 64 lower-case hex digits never reach the disk */
	assert_int_equal(store_blob_open(f->s, "../facteur.db"), -1);
	assert_int_equal(store_blob_open(f->s, NULL), -1);
	assert_int_equal(store_blob_open(f->s, ""), -1);
	char upper[65];
	memset(upper, 'A', 64);
	upper[64] = '\0';
	assert_int_equal(store_blob_open(f->s, upper), -1);
	/* empty message */
	assert_int_equal(store_deliver(f->s, "", 0, NULL, &acc, 1, NULL, 0, 0, NULL, &error), 0);
}

/* --- mailboxes --------------------------------------------------------- */

static void test_mailboxes(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_mailbox m, m2;
	struct mb_list ml = {0};

	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "a@example.org");
	assert_int_equal(store_mailbox_create(f->s, acc, "Work", NULL, &error), 0);
	assert_int_equal(store_mailbox_create(f->s, acc, "Work/2024", "", &error), 0);
	assert_int_equal(store_mailbox_create(f->s, acc, "Flagged", "\\Flagged", &error), 0);
	assert_int_equal(store_mailbox_create(f->s, acc, "Work", NULL, &error), -1);
	assert_string_equal(error, "mailbox already exists");
	assert_int_equal(store_mailbox_create(f->s, acc, "inbox", NULL, &error), -1);
	assert_int_equal(store_mailbox_create(f->s, acc, "X", "\\Bogus", &error), -1);
	assert_int_equal(store_mailbox_create(f->s, 99999, "X", NULL, &error), -1);
	assert_string_equal(error, "no such account");
	const char *bad[] = {"",   "/a",  "a/",   "a//b",     "a/../b", "..",
			     "a*", "a%b", "a\nb", "\xff\xfe", "\xc3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_mailbox_create(f->s, acc, bad[i], NULL, &error), -1);
	assert_int_equal(store_mailbox_create(f->s, acc, "Reçus", NULL, &error), 0);

	/* UIDVALIDITY distinct per creation, even re-created */
	assert_int_equal(store_mailbox_get(f->s, acc, "Work", &m), 1);
	assert_int_equal(store_mailbox_get(f->s, acc, "Work/2024", &m2), 1);
	assert_true(m2.uidvalidity > m.uidvalidity);
	assert_int_equal(store_mailbox_delete(f->s, acc, "Work/2024", &error), 0);
	assert_int_equal(store_mailbox_create(f->s, acc, "Work/2024", NULL, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, acc, "Work/2024", &m), 1);
	assert_true(m.uidvalidity > m2.uidvalidity);

	/* rename moves children; clashes and INBOX delete refused */
	assert_int_equal(store_mailbox_rename(f->s, acc, "Work", "Job", &error), 0);
	assert_int_equal(store_mailbox_get(f->s, acc, "Job/2024", &m), 1);
	assert_int_equal(store_mailbox_get(f->s, acc, "Work", &m), 0);
	assert_int_equal(store_mailbox_rename(f->s, acc, "Job", "Sent", &error), -1);
	assert_int_equal(store_mailbox_rename(f->s, acc, "Job", "Job/sub", &error), -1);
	assert_int_equal(store_mailbox_rename(f->s, acc, "Nope", "X", &error), -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(store_mailbox_delete(f->s, acc, "INBOX", &error), -1);
	assert_int_equal(store_mailbox_delete(f->s, acc, "Nope", &error), -1);

	/* renaming INBOX moves its messages and leaves it empty */
	uint32_t uid;
	assert_int_equal(deliver(f->s, msg1, &acc, 1, &uid, &error), 0);
	assert_int_equal(store_mailbox_rename(f->s, acc, "INBOX", "Old", &error), 0);
	assert_int_equal(store_mailbox_get(f->s, acc, "Old", &m), 1);
	assert_int_equal(m.messages, 1);
	assert_int_equal(m.uidnext, 2);
	assert_int_equal(store_mailbox_get(f->s, acc, "INBOX", &m), 1);
	assert_int_equal(m.messages, 0);
	assert_int_equal(m.uidnext, 2);

	/* deleting a mailbox collects its blobs */
	assert_int_equal(store_mailbox_delete(f->s, acc, "Old", &error), 0);
	assert_int_equal(tu_count_blobs(f->dir), 0);

	assert_int_equal(store_mailbox_list(f->s, acc, collect_mailbox, &ml), 0);
	assert_int_equal(ml.n, 10);
	assert_string_equal(ml.names[0], "INBOX");
}

/* --- queue ------------------------------------------------------------- */

struct q_list {
	int n;
	int64_t ids[8];
	char blob[STORE_BLOB_ID_LEN + 1];
	char rcpt[8][320];
	char sender[320];
};

static void collect_queue(void *ctx, const struct store_queue_entry *e)
{
	struct q_list *l = ctx;
	if (l->n < 8) {
		l->ids[l->n] = e->id;
		snprintf(l->rcpt[l->n], 320, "%s", e->recipient);
		snprintf(l->blob, sizeof(l->blob), "%s", e->blob_id);
		snprintf(l->sender, sizeof(l->sender), "%s", e->sender);
		assert_true(e->queued_at > 0);
		assert_int_equal(e->attempts, 0);
		assert_string_equal(e->last_error, "");
	}
	l->n++;
}

static void test_queue(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	const char *rcpts[] = {"X@Remote.net", "y@remote.net"};
	struct q_list q = {0};

	assert_int_equal(
		store_queue_add(f->s, "me@example.org", rcpts, 2, msg1, strlen(msg1), &error), 0);
	assert_int_equal(store_queue_list(f->s, collect_queue, &q), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.rcpt[0], "X@Remote.net");
	assert_string_equal(q.sender, "me@example.org");
	assert_int_equal(tu_count_blobs(f->dir), 1);
	int fd = store_blob_open(f->s, q.blob);
	assert_true(fd >= 0);
	close(fd);

	/* the blob is shared with a local delivery of the same content */
	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "a@example.org");
	assert_int_equal(deliver(f->s, msg1, &acc, 1, NULL, &error), 0);
	assert_int_equal(tu_count_blobs(f->dir), 1);

	assert_int_equal(store_queue_delete(f->s, q.ids[0], &error), 0);
	assert_int_equal(store_queue_delete(f->s, q.ids[0], &error), -1);
	assert_string_equal(error, "no such queue entry");
	assert_int_equal(store_queue_delete(f->s, q.ids[1], &error), 0);
	assert_true(blob_file_exists(f->dir, q.blob)); /* the message still has it */
	uint32_t one = 1;
	assert_int_equal(store_message_expunge(f->s, inbox_id(f->s, acc), &one, 1, &error), 0);
	assert_false(blob_file_exists(f->dir, q.blob));

	/* null sender (bounce) is fine; bad input is not */
	assert_int_equal(store_queue_add(f->s, "", rcpts, 1, msg2, strlen(msg2), &error), 0);
	assert_int_equal(
		store_queue_add(f->s, "me@example.org", rcpts, 0, msg2, strlen(msg2), &error), -1);
	const char *bad_rcpt[] = {"no-at-sign"};
	assert_int_equal(
		store_queue_add(f->s, "me@example.org", bad_rcpt, 1, msg2, strlen(msg2), &error),
		-1);
	const char *bad_rcpt2[] = {"a b@remote.net"};
	assert_int_equal(
		store_queue_add(f->s, "me@example.org", bad_rcpt2, 1, msg2, strlen(msg2), &error),
		-1);
	assert_int_equal(store_queue_add(f->s, "bad sender", rcpts, 1, msg2, strlen(msg2), &error),
			 -1);
	memset(&q, 0, sizeof(q));
	assert_int_equal(store_queue_list(f->s, collect_queue, &q), 0);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.sender, "");
}

/* --- concurrency and persistence --------------------------------------- */

#define CONCURRENT_DELIVERIES 200

struct worker {
	const char *dir;
	int64_t account;
	int index;
	int failures;
	uint32_t uids[CONCURRENT_DELIVERIES];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct store *s = NULL;
	const char *error = NULL;
	char body[128];

	if (store_open(w->dir, &s, &error) < 0) {
		w->failures = CONCURRENT_DELIVERIES;
		return NULL;
	}
	for (int i = 0; i < CONCURRENT_DELIVERIES; i++) {
		/* every fourth message has content shared by both threads */
		if (i % 4 == 0)
			snprintf(body, sizeof(body), "Subject: shared %d\r\n\r\nx\r\n", i);
		else
			snprintf(body, sizeof(body), "Subject: t%d m%d\r\n\r\nx\r\n", w->index, i);
		if (deliver(s, body, &w->account, 1, &w->uids[i], &error) < 0) {
			fprintf(stderr, "worker %d: %s\n", w->index, error);
			w->failures++;
		}
		/* reads interleave with the other thread's writes */
		if (i % 4 == 0 && i > 0 && w->index == 0) {
			struct store_mailbox m;
			if (store_mailbox_get(s, w->account, "Trash", &m) != 1)
				w->failures++;
		}
	}
	store_close(&s);
	return NULL;
}

static void test_concurrent_handles(void **state)
{
	struct fixture *f = *state;
	struct worker w[2];
	pthread_t th[2];
	struct store_message *msgs = NULL;
	size_t n = 0;

	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "busy@example.org");
	store_close(&f->s);
	for (int i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].dir = f->dir;
		w[i].account = acc;
		w[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].failures, 0);
	assert_int_equal(w[1].failures, 0);

	const char *error = NULL;
	assert_int_equal(store_open(f->dir, &f->s, &error), 0);
	assert_int_equal(store_message_list(f->s, inbox_id(f->s, acc), &msgs, &n), 0);
	assert_int_equal(n, 2 * CONCURRENT_DELIVERIES);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(msgs[i].uid, i + 1); /* distinct, no gaps */
	free(msgs);
	/* each thread saw its own UIDs increase */
	for (int t = 0; t < 2; t++)
		for (int i = 1; i < CONCURRENT_DELIVERIES; i++)
			assert_true(w[t].uids[i] > w[t].uids[i - 1]);
	int shared = CONCURRENT_DELIVERIES / 4;
	assert_int_equal(tu_count_blobs(f->dir), 2 * CONCURRENT_DELIVERIES - shared);
}

struct opener {
	char dir[128];
	int index;
	int failures;
};

static void *opener_run(void *arg)
{
	struct opener *o = arg;
	struct store *s = NULL;
	const char *error = NULL;
	char domain[64];

	if (store_open(o->dir, &s, &error) < 0) {
		fprintf(stderr, "opener %d: %s\n", o->index, error);
		o->failures++;
		return NULL;
	}
	snprintf(domain, sizeof(domain), "d%d.example", o->index);
	if (store_domain_add(s, domain, &error) < 0) {
		fprintf(stderr, "opener %d: %s\n", o->index, error);
		o->failures++;
	}
	store_close(&s);
	return NULL;
}

/* Several handles creating and migrating the same fresh store at once. */
static void test_concurrent_open(void **state)
{
	struct fixture *f = *state;
	struct opener o[4];
	pthread_t th[4];
	char list[256] = "";

	for (int i = 0; i < 4; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		snprintf(o[i].dir, sizeof(o[i].dir), "%s/fresh", f->dir);
		o[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, opener_run, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(o[i].failures, 0);
	}
	struct store *s = NULL;
	const char *error = NULL;
	assert_int_equal(store_open(o[0].dir, &s, &error), 0);
	assert_int_equal(store_domain_list(s, collect_domain, list), 0);
	assert_string_equal(list, "d0.example;d1.example;d2.example;d3.example;");
	store_close(&s);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct store_account a;
	struct store_mailbox m1, m2;
	struct resolved r = {0};

	add_domain(f->s, "example.org");
	int64_t acc = add_account(f->s, "a@example.org");
	assert_int_equal(store_alias_add(f->s, "al@example.org", "a@example.org", &error), 0);
	assert_int_equal(deliver(f->s, msg1, &acc, 1, NULL, &error), 0);
	assert_int_equal(store_mailbox_get(f->s, acc, "INBOX", &m1), 1);
	store_close(&f->s);
	store_close(&f->s); /* idempotent */

	/* a second handle open at the same time, then reopen */
	struct store *other = NULL;
	assert_int_equal(store_open(f->dir, &other, &error), 0);
	assert_int_equal(store_open(f->dir, &f->s, &error), 0);
	store_close(&other);
	assert_int_equal(store_account_get(f->s, "a@example.org", &a), 1);
	assert_int_equal(a.used_bytes, strlen(msg1));
	assert_int_equal(resolve(f->s, "al@example.org", &r), 1);
	assert_int_equal(r.acc[0], acc);
	assert_int_equal(store_mailbox_get(f->s, acc, "INBOX", &m2), 1);
	assert_int_equal(m1.uidvalidity, m2.uidvalidity);
	assert_int_equal(m1.highestmodseq, m2.highestmodseq);
	uint32_t uid = 0;
	assert_int_equal(deliver(f->s, msg2, &acc, 1, &uid, &error), 0);
	assert_int_equal(uid, 2);

	/* schema version recorded */
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof(path), "%s/facteur.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 15);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* a newer schema is refused, not mangled */
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->dir, &other, &error), -1);
	assert_non_null(strstr(error, "newer"));
	assert_null(other);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct store *s = NULL;
	const char *error = NULL;

	assert_int_equal(store_open("", &s, &error), -1);
	assert_null(s);
	assert_int_equal(store_open("/proc/facteur-cannot-exist/x", &s, &error), -1);
	assert_non_null(error);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_fanout_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_shared_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_mailbox_and_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parsed_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_and_blob_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_readback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailboxes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
