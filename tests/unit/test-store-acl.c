/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of shared and public mailboxes (store-acl.c, schema step 6):
 * RFC 4314 rights parsing and formatting, grants and the rights they give
 * (owner, account, "anyone" and "authenticated" limited to the owner's
 * domain, union), the list of mailboxes shared with an account, \Seen per
 * reader (flag updates, listings, STATUS), public folders and the address
 * that delivers into one, and the grants a removed account leaves behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testutil.h"

struct fixture {
	char dir[64];
	struct store *s;
	int64_t alice, bob, eve; /* a@example.org, b@example.org, e@other.test */
	int64_t team;            /* alice's Team */
};

static int64_t add_account(struct store *s, const char *address)
{
	int64_t id = 0;
	const char *error = NULL;
	assert_int_equal(store_account_add(s, address, "$argon2id$v=19$fake", &id, &error), 0);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int64_t inbox;
	const char *error = NULL;
	if (tu_store_open("store-acl", f->dir, sizeof(f->dir), &f->s, &f->alice, &inbox) < 0)
		return -1;
	f->bob = add_account(f->s, "b@example.org");
	assert_int_equal(store_domain_add(f->s, "other.test", &error), 0);
	f->eve = add_account(f->s, "e@other.test");
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

static uint32_t rights(const char *text)
{
	uint32_t r = 0;
	assert_int_equal(store_rights_parse(text, &r), 0);
	return r;
}

static void test_rights_parse_format(void **state)
{
	(void)state;
	char out[16];
	store_rights_format(rights("aetxkpiwsrl"), out);
	assert_string_equal(out, "lrswipkxtea");
	store_rights_format(rights(""), out);
	assert_string_equal(out, "");
	assert_int_equal(rights("l"), STORE_RIGHT_LOOKUP);
	assert_int_equal(rights("rr"), STORE_RIGHT_READ);
	/* RFC 2086's c and d map onto RFC 4314's rights. */
	store_rights_format(rights("c"), out);
	assert_string_equal(out, "kx");
	store_rights_format(rights("d"), out);
	assert_string_equal(out, "xte");
	assert_int_equal(rights("lrswipkxtea"), STORE_RIGHTS_ALL);
	uint32_t r = 7;
	assert_int_equal(store_rights_parse("lrz", &r), -1);
	assert_int_equal(store_rights_parse("L", &r), -1);
	assert_int_equal(store_rights_parse("l r", &r), -1);
	assert_int_equal(store_rights_parse(NULL, &r), -1);
	assert_int_equal(r, 7); /* untouched on error */
}

struct collect {
	char text[512];
};

static void collect_cb(void *ctx, const char *identifier, uint32_t r)
{
	struct collect *c = ctx;
	char t[16];
	store_rights_format(r, t);
	size_t n = strlen(c->text);
	snprintf(c->text + n, sizeof(c->text) - n, "%s%s=%s", n > 0 ? " " : "", identifier, t);
}

static void test_grants_and_rights(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint32_t r = 0;
	/* The owner has every right; others none. */
	assert_int_equal(store_acl_rights(f->s, f->team, f->alice, &r), 1);
	assert_int_equal(r, STORE_RIGHTS_ALL);
	assert_int_equal(store_acl_rights(f->s, f->team, f->bob, &r), 1);
	assert_int_equal(r, 0);
	assert_int_equal(store_acl_rights(f->s, 999999, f->bob, &r), 0);

	assert_int_equal(store_acl_set(f->s, f->team, "B@Example.org", rights("lr"), &error), 0);
	assert_int_equal(store_acl_set(f->s, f->team, "anyone", rights("p"), &error), 0);
	assert_int_equal(store_acl_set(f->s, f->team, "authenticated", rights("s"), &error), 0);
	assert_int_equal(store_acl_rights(f->s, f->team, f->bob, &r), 1);
	assert_int_equal(r, rights("lrsp")); /* the union */
	/* anyone / authenticated stop at the owner's domain. */
	assert_int_equal(store_acl_rights(f->s, f->team, f->eve, &r), 1);
	assert_int_equal(r, 0);
	assert_int_equal(store_acl_set(f->s, f->team, "e@other.test", rights("l"), &error), 0);
	assert_int_equal(store_acl_rights(f->s, f->team, f->eve, &r), 1);
	assert_int_equal(r, rights("l"));

	struct collect c = {{0}};
	assert_int_equal(store_acl_list(f->s, f->team, collect_cb, &c), 0);
	assert_string_equal(c.text, "b@example.org=lr e@other.test=l authenticated=s anyone=p");

	/* Replace, remove (rights 0), refuse the owner and unknown users. */
	assert_int_equal(store_acl_set(f->s, f->team, "b@example.org", rights("lrw"), &error), 0);
	assert_int_equal(store_acl_set(f->s, f->team, "anyone", 0, &error), 0);
	assert_int_equal(store_acl_set(f->s, f->team, "a@example.org", rights("l"), &error), -1);
	assert_non_null(strstr(error, "owner"));
	assert_int_equal(store_acl_set(f->s, f->team, "x@example.org", rights("l"), &error), -1);
	assert_string_equal(error, "no such user");
	assert_int_equal(store_acl_set(f->s, 999999, "b@example.org", rights("l"), &error), -1);
	assert_string_equal(error, "no such mailbox");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_acl_list(f->s, f->team, collect_cb, &c), 0);
	assert_string_equal(c.text, "b@example.org=lrw e@other.test=l authenticated=s");
}

struct shared_seen {
	size_t n;
	char names[4][900];
	uint32_t rights[4];
};

static void shared_cb(void *ctx, const struct store_shared_mailbox *m)
{
	struct shared_seen *s = ctx;
	if (s->n < 4) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s%s|%s",
			 m->public_folder ? "P:" : "", m->owner, m->mailbox.name);
		s->rights[s->n++] = m->rights;
	}
}

static void test_shared_list(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct shared_seen seen = {0};
	assert_int_equal(store_acl_shared_list(f->s, f->bob, shared_cb, &seen), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(store_acl_set(f->s, f->team, "b@example.org", rights("lr"), &error), 0);
	assert_int_equal(store_acl_set(f->s, f->team, "authenticated", rights("i"), &error), 0);
	assert_int_equal(store_public_create(f->s, "example.org", "Sales", NULL, &error), 0);
	struct store_mailbox m;
	int64_t pub;
	assert_int_equal(store_public_owner(f->s, "example.org", false, &pub, &error), 1);
	assert_int_equal(store_mailbox_get(f->s, pub, "Sales", &m), 1);
	assert_int_equal(store_acl_set(f->s, m.id, "anyone", rights("lrs"), &error), 0);
	assert_int_equal(store_acl_shared_list(f->s, f->bob, shared_cb, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.names[0], "P:example.org|Sales");
	assert_int_equal(seen.rights[0], rights("lrs"));
	assert_string_equal(seen.names[1], "a@example.org|Team");
	assert_int_equal(seen.rights[1], rights("lri"));
	/* Not the owner's own, not other domains' "anyone". */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_acl_shared_list(f->s, f->alice, shared_cb, &seen), 0);
	assert_int_equal(seen.n, 1);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_acl_shared_list(f->s, f->eve, shared_cb, &seen), 0);
	assert_int_equal(seen.n, 0);
}

static uint32_t flags_of(struct store *s, int64_t mailbox, uint32_t uid)
{
	struct store_message_ex *v = NULL;
	size_t n = 0;
	uint32_t flags = UINT32_MAX;
	assert_int_equal(store_message_list_full(s, mailbox, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (v[i].msg.uid == uid)
			flags = v[i].msg.flags;
	store_message_ex_free(&v, n);
	return flags;
}

static void store_flag(struct store *s, int64_t mailbox, uint32_t uid, enum store_flags_op op,
		       uint32_t flags, int64_t who)
{
	struct store_flags_update u = {.op = op, .flags = flags, .seen_account = who};
	struct store_flags_outcome o;
	const char *error = NULL;
	assert_int_equal(store_message_update_flags(s, mailbox, &uid, 1, &u, &o, &error), 0);
	store_flags_outcome_free(&o);
}

static void test_seen_per_reader(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	int64_t target = STORE_TARGET_MAILBOX(f->team);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_deliver(f->s, msg, strlen(msg), NULL, &target, 1, NULL, 0, 0,
					       NULL, &error),
				 0);
	/* bob marks 1 seen and flags 2: \Seen is his, \Flagged everyone's. */
	store_flag(f->s, f->team, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, f->bob);
	store_flag(f->s, f->team, 2, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED | STORE_FLAG_SEEN, f->bob);
	store_seen_reader_set(f->s, f->bob);
	assert_int_equal(flags_of(f->s, f->team, 1), STORE_FLAG_SEEN);
	assert_int_equal(flags_of(f->s, f->team, 2), STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_int_equal(flags_of(f->s, f->team, 3), 0);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->s, f->team, &st), 1);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.first_unseen_seq, 3);
	/* The owner (reader 0 = the stored flags, or herself). */
	store_seen_reader_set(f->s, 0);
	assert_int_equal(flags_of(f->s, f->team, 1), 0);
	assert_int_equal(flags_of(f->s, f->team, 2), STORE_FLAG_FLAGGED);
	assert_int_equal(store_mailbox_status(f->s, f->team, &st), 1);
	assert_int_equal(st.unseen, 3);
	assert_int_equal(st.first_unseen_seq, 1);
	store_seen_reader_set(f->s, f->alice);
	assert_int_equal(flags_of(f->s, f->team, 2), STORE_FLAG_FLAGGED);
	/* The owner's \Seen stays hers; a SET by bob keeps it. */
	store_flag(f->s, f->team, 3, STORE_FLAGS_ADD, STORE_FLAG_SEEN, f->alice);
	store_flag(f->s, f->team, 3, STORE_FLAGS_SET, STORE_FLAG_ANSWERED, f->bob);
	assert_int_equal(flags_of(f->s, f->team, 3), STORE_FLAG_SEEN | STORE_FLAG_ANSWERED);
	store_seen_reader_set(f->s, f->bob);
	assert_int_equal(flags_of(f->s, f->team, 3), STORE_FLAG_ANSWERED);
	/* Another reader starts with nothing seen; bob clears his own. */
	store_seen_reader_set(f->s, f->eve);
	assert_int_equal(flags_of(f->s, f->team, 1), 0);
	store_flag(f->s, f->team, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, f->bob);
	store_seen_reader_set(f->s, f->bob);
	assert_int_equal(flags_of(f->s, f->team, 1), 0);
	assert_int_equal(store_mailbox_status(f->s, f->team, &st), 1);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.first_unseen_seq, 1);
	store_seen_reader_set(f->s, 0);
	/* Quota is the owner's: deliveries above counted against alice. */
	struct store_account a;
	assert_int_equal(store_account_get_by_id(f->s, f->alice, &a), 1);
	assert_int_equal(a.used_bytes, 3 * strlen(msg));
}

/* UIDs changed after since, for the handle's reader (changed_since, list_uids). */
static void changed_uids(struct store *s, int64_t mailbox, uint64_t since, char *out, size_t size)
{
	struct store_message_ex *v = NULL;
	size_t n = 0;
	out[0] = '\0';
	assert_int_equal(store_message_changed_since(s, mailbox, since, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%u%s", i > 0 ? " " : "",
			 v[i].msg.uid, (v[i].msg.flags & STORE_FLAG_SEEN) != 0 ? "s" : "");
	store_message_ex_free(&v, n);
	struct store_uid_range all = {1, UINT32_MAX};
	assert_int_equal(store_message_list_uids(s, mailbox, &all, 1, since, &v, &n), 0);
	char again[64] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(again + strlen(again), sizeof(again) - strlen(again), "%s%u%s",
			 i > 0 ? " " : "", v[i].msg.uid,
			 (v[i].msg.flags & STORE_FLAG_SEEN) != 0 ? "s" : "");
	store_message_ex_free(&v, n);
	assert_string_equal(again, out);
}

/*
 * A reader's own \Seen change moves the MODSEQ that reader sees, not the
 * row's: other readers (and the owner) see no change since.
 */
static void test_seen_modseq_per_reader(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	int64_t target = STORE_TARGET_MAILBOX(f->team);
	for (int i = 0; i < 2; i++)
		assert_int_equal(store_deliver(f->s, msg, strlen(msg), NULL, &target, 1, NULL, 0, 0,
					       NULL, &error),
				 0);
	struct store_mailbox_status st;
	assert_int_equal(store_mailbox_status(f->s, f->team, &st), 1);
	uint64_t m0 = st.highestmodseq;
	char got[64];
	store_flag(f->s, f->team, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, f->bob);
	store_seen_reader_set(f->s, f->bob);
	changed_uids(f->s, f->team, m0, got, sizeof(got));
	assert_string_equal(got, "1s");
	store_seen_reader_set(f->s, f->eve);
	changed_uids(f->s, f->team, m0, got, sizeof(got));
	assert_string_equal(got, "");
	store_seen_reader_set(f->s, 0); /* the owner */
	changed_uids(f->s, f->team, m0, got, sizeof(got));
	assert_string_equal(got, "");
	/* Removing it is a change for bob too (the mark's MODSEQ stays). */
	assert_int_equal(store_mailbox_status(f->s, f->team, &st), 1);
	uint64_t m1 = st.highestmodseq;
	assert_true(m1 > m0);
	store_flag(f->s, f->team, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, f->bob);
	store_seen_reader_set(f->s, f->bob);
	changed_uids(f->s, f->team, m1, got, sizeof(got));
	assert_string_equal(got, "1");
	/* UNCHANGEDSINCE compares with the MODSEQ the acting reader sees. */
	struct store_flags_update u = {.op = STORE_FLAGS_ADD,
				       .flags = STORE_FLAG_FLAGGED,
				       .seen_account = f->bob,
				       .unchangedsince = m0};
	struct store_flags_outcome o;
	uint32_t uid = 1;
	assert_int_equal(store_message_update_flags(f->s, f->team, &uid, 1, &u, &o, &error), 0);
	assert_int_equal(o.n_modified, 1);
	store_flags_outcome_free(&o);
	u.seen_account = f->eve;
	assert_int_equal(store_message_update_flags(f->s, f->team, &uid, 1, &u, &o, &error), 0);
	assert_int_equal(o.n_modified, 0);
	store_flags_outcome_free(&o);
	/* A shared flag's change is everyone's. */
	store_seen_reader_set(f->s, f->eve);
	changed_uids(f->s, f->team, m1, got, sizeof(got));
	assert_string_equal(got, "1");
	store_seen_reader_set(f->s, 0);
}

static void public_cb(void *ctx, const char *domain, const char *name, const char *address)
{
	struct collect *c = ctx;
	size_t n = strlen(c->text);
	snprintf(c->text + n, sizeof(c->text) - n, "%s[%s %s %s]", n > 0 ? " " : "", domain, name,
		 address);
}

static void test_public_folders(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	int64_t pub = 0;
	assert_int_equal(store_public_owner(f->s, "example.org", false, &pub, &error), 0);
	assert_int_equal(
		store_public_create(f->s, "example.org", "Sales", "sales@example.org", &error), 0);
	assert_int_equal(store_public_create(f->s, "example.org", "Board", NULL, &error), 0);
	assert_int_equal(store_public_create(f->s, "example.org", "Sales", NULL, &error), -1);
	assert_int_equal(store_public_create(f->s, "nowhere.test", "X", NULL, &error), -1);
	assert_int_equal(store_public_create(f->s, "example.org", "Bad/", NULL, &error), -1);
	/* An address already an account, or of another domain, is refused. */
	assert_int_equal(store_public_create(f->s, "example.org", "X", "a@example.org", &error),
			 -1);
	assert_int_equal(store_public_create(f->s, "example.org", "Y", "y@remote.test", &error),
			 -1);
	assert_int_equal(store_public_create(f->s, "example.org", "Z", "sales@example.org", &error),
			 -1);
	assert_string_equal(error, "address already in use");
	struct collect c = {{0}};
	assert_int_equal(store_public_list(f->s, "example.org", public_cb, &c), 0);
	assert_string_equal(c.text, "[example.org Board ] [example.org Sales sales@example.org]");
	/* The pseudo-account is nobody: no login, no recipient, not listed. */
	struct store_account a;
	assert_int_equal(store_account_get(f->s, "@example.org", &a), 0);
	int64_t ids[4];
	size_t n = 0;
	assert_int_equal(store_resolve(f->s, "@example.org", ids, &n, NULL, NULL, 4), 0);
	/* The address delivers into the folder, through an alias too. */
	assert_int_equal(store_alias_add(f->s, "team@example.org", "sales@example.org", &error), 0);
	n = 0;
	assert_int_equal(store_resolve(f->s, "team@example.org", ids, &n, NULL, NULL, 4), 1);
	assert_int_equal(n, 1);
	assert_true(ids[0] < 0);
	static const char msg[] = "Subject: lead\r\n\r\nhi\r\n";
	uint32_t uid = 0;
	assert_int_equal(
		store_deliver(f->s, msg, strlen(msg), NULL, ids, n, NULL, 0, 0, &uid, &error), 0);
	assert_int_equal(store_public_owner(f->s, "example.org", false, &pub, &error), 1);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, pub, "Sales", &m), 1);
	assert_int_equal(m.id, STORE_TARGET_MAILBOX(ids[0]));
	assert_int_equal(m.messages, 1);
	assert_int_equal(uid, 1);
	/* Delete: the address goes with the folder. */
	assert_int_equal(store_public_delete(f->s, "example.org", "Sales", &error), 0);
	assert_int_equal(store_public_delete(f->s, "example.org", "Sales", &error), -1);
	assert_int_equal(store_public_delete(f->s, "nowhere.test", "Sales", &error), -1);
	n = 0;
	assert_int_equal(store_resolve(f->s, "sales@example.org", ids, &n, NULL, NULL, 4), 0);
}

static void all_cb(void *ctx, const char *owner, const char *mailbox, const char *identifier,
		   uint32_t r)
{
	struct collect *c = ctx;
	char t[16];
	store_rights_format(r, t);
	size_t n = strlen(c->text);
	snprintf(c->text + n, sizeof(c->text) - n, "%s%s:%s:%s:%s", n > 0 ? " " : "", owner,
		 mailbox, identifier, t);
}

static void test_account_removal(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	assert_int_equal(store_acl_set(f->s, f->team, "b@example.org", rights("lrs"), &error), 0);
	uint32_t uid = 1;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	int64_t target = STORE_TARGET_MAILBOX(f->team);
	assert_int_equal(
		store_deliver(f->s, msg, strlen(msg), NULL, &target, 1, NULL, 0, 0, NULL, &error),
		0);
	store_flag(f->s, f->team, uid, STORE_FLAGS_ADD, STORE_FLAG_SEEN, f->bob);
	struct collect c = {{0}};
	assert_int_equal(store_acl_all(f->s, all_cb, &c), 0);
	assert_string_equal(c.text, "a@example.org:Team:b@example.org:lrs");
	assert_int_equal(store_account_remove(f->s, "b@example.org", &error), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_acl_all(f->s, all_cb, &c), 0);
	assert_string_equal(c.text, "");
	/* A new account, even with bob's old id, inherits neither grant nor \Seen. */
	int64_t again = add_account(f->s, "b@example.org");
	uint32_t r = 1;
	assert_int_equal(store_acl_rights(f->s, f->team, again, &r), 1);
	assert_int_equal(r, 0);
	store_seen_reader_set(f->s, again);
	assert_int_equal(flags_of(f->s, f->team, uid), 0);
	store_seen_reader_set(f->s, 0);
	/* Removing the owner removes the mailbox and its grants. */
	assert_int_equal(store_acl_set(f->s, f->team, "b@example.org", rights("l"), &error), 0);
	assert_int_equal(store_account_remove(f->s, "a@example.org", &error), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_acl_all(f->s, all_cb, &c), 0);
	assert_string_equal(c.text, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rights_parse_format),
		cmocka_unit_test_setup_teardown(test_grants_and_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_per_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_modseq_per_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_public_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_removal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
