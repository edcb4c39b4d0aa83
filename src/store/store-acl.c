/* SPDX-License-Identifier: MIT */
/*
 * Shared and public mailboxes (issue 8 part 1, schema step 7): the RFC 4314
 * rights of accounts on mailboxes they do not own, public folders owned by
 * one pseudo-account per domain (address "@domain": never a valid login or
 * recipient, so nobody can sign in as it or mail it directly), addresses
 * that deliver straight into a mailbox, and \Seen kept per reader on
 * mailboxes the reader does not own. The owner of a mailbox always has
 * every right; a grant adds rights for an account, for "anyone" or for
 * "authenticated", the two last meaning every account of the owner's
 * domain (facteur has no anonymous access and treats domains as tenants).
 * The rights of an account are the union of what applies to it.
 */
#include "store/store-private.h"

#include "lib/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char store_rights_letters[] = "lrswipkxtea";

int store_rights_parse(const char *text, uint32_t *rights_r)
{
	uint32_t r = 0;
	if (text == NULL)
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		const char *at = strchr(store_rights_letters, *p);
		if (*p == 'c')
			r |= STORE_RIGHT_CREATE | STORE_RIGHT_DELETE_MAILBOX;
		else if (*p == 'd')
			r |= STORE_RIGHT_DELETE_MAILBOX | STORE_RIGHT_DELETE_MESSAGE |
				STORE_RIGHT_EXPUNGE;
		else if (at != NULL)
			r |= 1u << (at - store_rights_letters);
		else
			return -1;
	}
	*rights_r = r;
	return 0;
}

void store_rights_format(uint32_t rights, char *out)
{
	size_t n = 0;
	for (size_t i = 0; store_rights_letters[i] != '\0'; i++) {
		if (rights & (1u << i))
			out[n++] = store_rights_letters[i];
	}
	out[n] = '\0';
}

/* --- grantees ---------------------------------------------------------- */

/* The grantee number of an identifier: 1 found, 0 no such account, -1. */
static int grantee_id(struct store *s, const char *identifier, int64_t *id_r)
{
	if (strcasecmp(identifier, "anyone") == 0) {
		*id_r = STORE_ACL_ANYONE;
		return 1;
	}
	if (strcasecmp(identifier, "authenticated") == 0) {
		*id_r = STORE_ACL_AUTHENTICATED;
		return 1;
	}
	struct store_account a;
	int r = store_account_get(s, identifier, &a);
	if (r > 0)
		*id_r = a.id;
	return r;
}

/* The owner account of a mailbox and its domain id: 1 / 0 none / -1. */
int store_mailbox_owner(struct store *s, int64_t mailbox_id, int64_t *account_r, int64_t *domain_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT b.account_id, a.domain_id FROM mailboxes b"
				      " JOIN accounts a ON a.id = b.account_id WHERE b.id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*account_r = sqlite3_column_int64(st, 0);
		if (domain_r != NULL)
			*domain_r = sqlite3_column_int64(st, 1);
	}
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static _Atomic uint64_t acl_generation;

uint64_t store_acl_generation(void)
{
	return atomic_load(&acl_generation);
}

int store_acl_set(struct store *s, int64_t mailbox_id, const char *identifier, uint32_t rights,
		  const char **error_r)
{
	int64_t grantee = 0, owner = 0;
	int r = grantee_id(s, identifier, &grantee);
	if (r <= 0)
		return r < 0 ? store_db_fail(s, error_r) : store_fail(s, error_r, "no such user");
	if ((r = store_mailbox_owner(s, mailbox_id, &owner, NULL)) <= 0)
		return r < 0 ? store_db_fail(s, error_r)
			     : store_fail(s, error_r, "no such mailbox");
	if (grantee == owner)
		return store_fail(s, error_r, "the owner's rights cannot be changed");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st;
	if (rights == 0) {
		st = store_stmt(s, "DELETE FROM acl WHERE mailbox_id = ? AND grantee = ?");
	} else {
		st = store_stmt(s,
				"INSERT INTO acl(mailbox_id, grantee, rights) VALUES (?, ?, ?)"
				" ON CONFLICT DO UPDATE SET rights = excluded.rights");
	}
	if (st == NULL) {
		store_tx_rollback(s);
		return store_db_fail(s, error_r);
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, grantee);
	char text[16];
	store_rights_format(rights, text);
	if (rights != 0)
		store_bind_text(st, 3, text);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	/* Sessions of the grantee on the mailbox re-check their rights. */
	if (rc != SQLITE_DONE || store_event_mailbox(s, mailbox_id) < 0) {
		store_tx_rollback(s);
		return store_db_fail(s, error_r);
	}
	if (store_tx_commit(s, error_r) < 0)
		return -1;
	/* After the commit: a reader that sees it moved finds the new grant. */
	atomic_fetch_add(&acl_generation, 1);
	return 0;
}

static char *grantee_name(struct store *s, int64_t grantee)
{
	if (grantee == STORE_ACL_ANYONE)
		return xstrdup("anyone");
	if (grantee == STORE_ACL_AUTHENTICATED)
		return xstrdup("authenticated");
	struct store_account a;
	if (store_account_get_by_id(s, grantee, &a) <= 0)
		return NULL;
	return xstrdup(a.address);
}

int store_acl_list(struct store *s, int64_t mailbox_id,
		   void (*cb)(void *ctx, const char *identifier, uint32_t rights), void *ctx)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT grantee, rights FROM acl WHERE mailbox_id = ?"
				      " ORDER BY grantee <= 0, grantee");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int64_t *ids = NULL;
	uint32_t *rights = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			ids = xrealloc(ids, cap * sizeof(*ids));
			rights = xrealloc(rights, cap * sizeof(*rights));
		}
		ids[n] = sqlite3_column_int64(st, 0);
		if (store_rights_parse((const char *)sqlite3_column_text(st, 1), &rights[n]) < 0)
			rights[n] = 0;
		n++;
	}
	store_stmt_done(st);
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
		char *name = grantee_name(s, ids[i]);
		if (name != NULL)
			cb(ctx, name, rights[i]);
		free(name);
	}
	free(ids);
	free(rights);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/*
 * The union of the grants that apply to account (explicit, and "anyone" /
 * "authenticated" when it is of the owner's domain).
 */
static int acl_union(struct store *s, int64_t mailbox_id, int64_t account, bool same_domain,
		     uint32_t *rights_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT grantee, rights FROM acl WHERE mailbox_id = ?"
				      " AND grantee IN (?, 0, -1)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, account);
	int rc;
	*rights_r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t r;
		if (sqlite3_column_int64(st, 0) <= 0 && !same_domain)
			continue;
		if (store_rights_parse((const char *)sqlite3_column_text(st, 1), &r) == 0)
			*rights_r |= r;
	}
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int account_domain(struct store *s, int64_t account_id, int64_t *domain_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT domain_id FROM accounts WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	int rc = sqlite3_step(st);
	*domain_r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	store_stmt_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_acl_rights(struct store *s, int64_t mailbox_id, int64_t account_id, uint32_t *rights_r)
{
	int64_t owner = 0, domain = 0, mine = 0;
	*rights_r = 0;
	int r = store_mailbox_owner(s, mailbox_id, &owner, &domain);
	if (r <= 0)
		return r < 0 ? store_db_fail(s, NULL) : 0;
	if (owner == account_id) {
		*rights_r = STORE_RIGHTS_ALL;
		return 1;
	}
	if (account_domain(s, account_id, &mine) < 0 ||
	    acl_union(s, mailbox_id, account_id, mine == domain, rights_r) < 0)
		return store_db_fail(s, NULL);
	return 1;
}

/* --- mailboxes shared with an account ------------------------------------ */

struct shared_row {
	int64_t mailbox_id;
	int64_t grantee;
	uint32_t rights;
	int64_t owner_domain;
	char owner[320];
	char name[512];
};

int store_acl_shared_list(struct store *s, int64_t account_id,
			  void (*cb)(void *ctx, const struct store_shared_mailbox *m), void *ctx)
{
	int64_t mine;
	if (account_domain(s, account_id, &mine) < 0)
		return store_db_fail(s, NULL);
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT b.id, g.grantee, g.rights, o.domain_id, o.address,"
				      " b.name FROM acl g JOIN mailboxes b ON b.id = g.mailbox_id"
				      " JOIN accounts o ON o.id = b.account_id"
				      " WHERE b.account_id <> ?1 AND (g.grantee = ?1"
				      " OR (g.grantee <= 0 AND o.domain_id = ?2))"
				      " ORDER BY o.address, b.name, b.id");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, mine);
	struct shared_row *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t r = 0;
		if (store_rights_parse((const char *)sqlite3_column_text(st, 2), &r) < 0)
			continue;
		int64_t id = sqlite3_column_int64(st, 0);
		if (n > 0 && v[n - 1].mailbox_id == id) {
			v[n - 1].rights |= r; /* rows of one mailbox are adjacent */
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		struct shared_row *e = &v[n++];
		e->mailbox_id = id;
		e->rights = r;
		store_col_copy(st, 4, e->owner, sizeof(e->owner));
		store_col_copy(st, 5, e->name, sizeof(e->name));
	}
	store_stmt_done(st);
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
		struct store_shared_mailbox m = {.rights = v[i].rights};
		if (store_mailbox_head(s, v[i].mailbox_id, &m.mailbox) <= 0)
			continue;
		m.public_folder = v[i].owner[0] == '@';
		snprintf(m.owner, sizeof(m.owner), "%s",
			 m.public_folder ? v[i].owner + 1 : v[i].owner);
		cb(ctx, &m);
	}
	free(v);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* --- public folders ------------------------------------------------------ */

int store_public_owner(struct store *s, const char *domain, bool create, int64_t *account_r,
		       const char **error_r)
{
	char addr[320];
	if (domain == NULL || strchr(domain, '@') != NULL || strlen(domain) > 250)
		return store_fail(s, error_r, "invalid domain");
	snprintf(addr, sizeof(addr), "@%s", domain);
	str_lower(addr);
	sqlite3_stmt *st = store_stmt(s, "SELECT id FROM accounts WHERE address = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, addr);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*account_r = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	if (!create)
		return 0;
	/* In the caller's transaction: the pseudo-account has no mailbox yet. */
	st = store_stmt(s,
			"INSERT INTO accounts(domain_id, address, password_hash)"
			" SELECT id, ?, '!' FROM domains WHERE name = ? RETURNING id");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, addr);
	store_bind_text(st, 2, addr + 1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*account_r = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	if (rc == SQLITE_DONE)
		return store_fail(s, error_r, "no such domain");
	return rc == SQLITE_ROW ? 1 : store_db_fail(s, error_r);
}

static int address_bind(struct store *s, int64_t mailbox_id, const char *address,
			const char **error_r)
{
	char addr[320];
	snprintf(addr, sizeof(addr), "%s", address);
	str_lower(addr);
	const char *at = strchr(addr, '@');
	if (at == NULL || at == addr || strchr(at + 1, '@') != NULL)
		return store_fail(s, error_r, "invalid address");
	int local = store_domain_exists(s, at + 1);
	if (local <= 0)
		return local < 0 ? store_db_fail(s, error_r)
				 : store_fail(s, error_r, "address not in a local domain");
	struct store_account a;
	if (store_account_get(s, addr, &a) != 0)
		return store_fail(s, error_r, "address is an account");
	sqlite3_stmt *st = store_stmt(s,
				      "INSERT INTO mailbox_addresses(address, mailbox_id)"
				      " VALUES (?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, addr);
	sqlite3_bind_int64(st, 2, mailbox_id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return store_fail(s, error_r, "address already in use");
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

static int public_create_tx(struct store *s, const char *domain, const char *name,
			    const char *address, const char **error_r)
{
	int64_t owner = 0, id = 0;
	if (store_public_owner(s, domain, true, &owner, error_r) < 0 ||
	    store_mailbox_insert(s, owner, name, NULL, false, error_r) < 0)
		return -1;
	if (store_mailbox_row(s, owner, name, &id, NULL) <= 0)
		return store_db_fail(s, error_r);
	return address != NULL && address[0] != '\0' ? address_bind(s, id, address, error_r) : 0;
}

int store_public_create(struct store *s, const char *domain, const char *name, const char *address,
			const char **error_r)
{
	char mname[512];
	if (store_mailbox_normalize(s, name, mname, error_r) < 0)
		return -1;
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	if (public_create_tx(s, domain, mname, address, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

int store_public_delete(struct store *s, const char *domain, const char *name, const char **error_r)
{
	int64_t owner = 0;
	int r = store_public_owner(s, domain, false, &owner, error_r);
	if (r <= 0)
		return r < 0 ? -1 : store_fail(s, error_r, "no such mailbox");
	return store_mailbox_delete(s, owner, name, error_r);
}

int store_public_list(struct store *s, const char *domain,
		      void (*cb)(void *ctx, const char *domain, const char *name,
				 const char *address),
		      void *ctx)
{
	sqlite3_stmt *st = store_stmt(
		s,
		"SELECT substr(a.address, 2), b.name,"
		" (SELECT group_concat(address, ' ') FROM mailbox_addresses x"
		"  WHERE x.mailbox_id = b.id) FROM mailboxes b"
		" JOIN accounts a ON a.id = b.account_id WHERE a.address LIKE '@%'"
		" AND (?1 IS NULL OR a.address = '@' || lower(?1)) ORDER BY a.address, b.name");
	if (st == NULL)
		return store_db_fail(s, NULL);
	store_bind_text(st, 1, domain);
	struct store_strlist l = {0};
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < 3; c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			store_strlist_add(&l, t != NULL ? (const char *)t : "");
		}
	}
	store_stmt_done(st);
	for (size_t i = 0; rc == SQLITE_DONE && i + 2 < l.n; i += 3)
		cb(ctx, l.v[i], l.v[i + 1], l.v[i + 2]);
	store_strlist_free(&l);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

int store_acl_all(struct store *s,
		  void (*cb)(void *ctx, const char *owner, const char *mailbox,
			     const char *identifier, uint32_t rights),
		  void *ctx)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT o.address, b.name, g.grantee, g.rights FROM acl g"
				      " JOIN mailboxes b ON b.id = g.mailbox_id"
				      " JOIN accounts o ON o.id = b.account_id"
				      " ORDER BY o.address, b.name, g.grantee <= 0, g.grantee");
	if (st == NULL)
		return store_db_fail(s, NULL);
	struct store_strlist l = {0};
	int64_t *grantees = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_strlist_add(&l, (const char *)sqlite3_column_text(st, 0));
		store_strlist_add(&l, (const char *)sqlite3_column_text(st, 1));
		store_strlist_add(&l, (const char *)sqlite3_column_text(st, 3));
		grantees = xrealloc(grantees, (n + 1) * sizeof(*grantees));
		grantees[n++] = sqlite3_column_int64(st, 2);
	}
	store_stmt_done(st);
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
		char *who = grantee_name(s, grantees[i]);
		uint32_t r = 0;
		(void)store_rights_parse(l.v[3 * i + 2], &r);
		if (who != NULL)
			cb(ctx, l.v[3 * i], l.v[3 * i + 1], who, r);
		free(who);
	}
	free(grantees);
	store_strlist_free(&l);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* Delivery addresses of mailboxes (resolve_account calls this). 1 / 0 / -1. */
int store_mailbox_address_lookup(struct store *s, const char *address, int64_t *mailbox_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT mailbox_id FROM mailbox_addresses"
				      " WHERE address = ?");
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, address);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*mailbox_r = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The grants an account received and its own \Seen marks go with it. */
int store_acl_account_removed(struct store *s, int64_t account_id, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM acl WHERE grantee = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	static const char *const marks[] = {"DELETE FROM shared_seen WHERE account_id = ?",
					    "DELETE FROM shared_seen_modseq WHERE account_id = ?"};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		st = store_stmt(s, marks[i]);
		if (st == NULL)
			return store_db_fail(s, error_r);
		sqlite3_bind_int64(st, 1, account_id);
		rc = sqlite3_step(st);
		store_stmt_done(st);
		if (rc != SQLITE_DONE)
			return store_db_fail(s, error_r);
	}
	return 0;
}

/* --- \Seen per reader ------------------------------------------------------ */

void store_seen_reader_set(struct store *s, int64_t account_id)
{
	s->seen_reader = account_id;
}

/*
 * Is \Seen of mailbox_id kept per reader for account_id (it does not own
 * it)? The owner is cached: a mailbox never changes hands. 1 / 0 / -1.
 */
int store_seen_shared(struct store *s, int64_t mailbox_id, int64_t account_id)
{
	if (account_id <= 0)
		return 0;
	if (s->owner_cache_mailbox != mailbox_id) {
		int64_t owner = 0;
		int r = store_mailbox_owner(s, mailbox_id, &owner, NULL);
		if (r <= 0)
			return r;
		s->owner_cache_mailbox = mailbox_id;
		s->owner_cache_account = owner;
	}
	return s->owner_cache_account != account_id;
}

/* Element i of an array whose elements start with a struct store_message. */
static struct store_message *msg_at(void *base, size_t stride, size_t i)
{
	return (struct store_message *)((char *)base + i * stride);
}

/*
 * Merge the reader's rows (uid, value) of sql into the n messages at base:
 * value 0 sets \Seen, another raises the MODSEQ to it. Both sides are
 * ascending when sorted (listings are in UID order): one merge. The
 * expunged list follows its caller's order; a search covers it.
 */
static void overlay_rows(struct store *s, const char *sql, int64_t mailbox_id, void *base, size_t n,
			 size_t stride, uint32_t lo, uint32_t hi, bool sorted)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, s->seen_reader);
	sqlite3_bind_int64(st, 3, lo);
	sqlite3_bind_int64(st, 4, hi);
	size_t k = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		uint64_t modseq = (uint64_t)sqlite3_column_int64(st, 1);
		if (!sorted)
			k = 0;
		while (k < n &&
		       (sorted ? msg_at(base, stride, k)->uid < uid
			       : msg_at(base, stride, k)->uid != uid))
			k++;
		struct store_message *m = k < n ? msg_at(base, stride, k) : NULL;
		if (m == NULL || m->uid != uid)
			continue;
		if (modseq == 0)
			m->flags |= STORE_FLAG_SEEN;
		else if (modseq > m->modseq)
			m->modseq = modseq;
	}
	store_stmt_done(st);
}

void store_seen_overlay_any(struct store *s, int64_t mailbox_id, void *base, size_t n,
			    size_t stride)
{
	if (n == 0 || store_seen_shared(s, mailbox_id, s->seen_reader) <= 0)
		return;
	uint32_t lo = msg_at(base, stride, 0)->uid, hi = lo;
	bool sorted = true;
	for (size_t i = 0; i < n; i++) {
		struct store_message *m = msg_at(base, stride, i);
		m->flags &= ~(uint32_t)STORE_FLAG_SEEN;
		lo = m->uid < lo ? m->uid : lo;
		hi = m->uid > hi ? m->uid : hi;
		if (i > 0 && msg_at(base, stride, i - 1)->uid >= m->uid)
			sorted = false;
	}
	/* \Seen marks, then the reader's own \Seen MODSEQs (step 13). */
	overlay_rows(s,
		     "SELECT uid, 0 FROM shared_seen WHERE mailbox_id = ?"
		     " AND account_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
		     mailbox_id, base, n, stride, lo, hi, sorted);
	overlay_rows(s,
		     "SELECT uid, modseq FROM shared_seen_modseq WHERE mailbox_id = ?"
		     " AND account_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
		     mailbox_id, base, n, stride, lo, hi, sorted);
}

/* A statement on one reader's mark: ?1 mailbox, ?2 account, ?3 UID bound. */
static sqlite3_stmt *mark_stmt(struct store *s, const char *sql, int64_t mailbox_id,
			       int64_t account_id, uint32_t uid)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, account_id);
		sqlite3_bind_int64(st, 3, uid);
	}
	return st;
}

/* Run a mark statement that changes rows: 0 / -1 with *error_r. */
static int mark_exec(struct store *s, sqlite3_stmt *st, const char **error_r)
{
	if (st == NULL)
		return store_db_fail(s, error_r);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* The first column of a mark query's row into *value_r (0 without one). 0 / -1. */
static int mark_read(struct store *s, sqlite3_stmt *st, int64_t *value_r)
{
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	*value_r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	store_stmt_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_seen_modseq_write(struct store *s, int64_t mailbox_id, int64_t account_id, uint32_t uid,
			    uint64_t modseq, const char **error_r)
{
	sqlite3_stmt *st = mark_stmt(s,
				     "INSERT INTO shared_seen_modseq(mailbox_id, account_id, uid,"
				     " modseq) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE"
				     " SET modseq = excluded.modseq",
				     mailbox_id, account_id, uid);
	if (st != NULL)
		sqlite3_bind_int64(st, 4, (int64_t)modseq);
	return mark_exec(s, st, error_r);
}

int store_seen_modseq_read(struct store *s, int64_t mailbox_id, int64_t account_id, uint32_t uid,
			   uint64_t *modseq_r)
{
	int64_t v = 0;
	int ret = mark_read(s,
			    mark_stmt(s,
				      "SELECT modseq FROM shared_seen_modseq WHERE mailbox_id = ?1"
				      " AND account_id = ?2 AND uid = ?3",
				      mailbox_id, account_id, uid),
			    &v);
	*modseq_r = (uint64_t)v;
	return ret;
}

void store_seen_overlay(struct store *s, int64_t mailbox_id, struct store_message_ex *msgs,
			size_t n)
{
	store_seen_overlay_any(s, mailbox_id, msgs, n, sizeof(*msgs));
}

int store_seen_write(struct store *s, int64_t mailbox_id, int64_t account_id, uint32_t uid,
		     bool seen, const char **error_r)
{
	const char *sql = seen ? "INSERT OR IGNORE INTO shared_seen(mailbox_id, account_id, uid)"
				 " VALUES (?1, ?2, ?3)"
			       : "DELETE FROM shared_seen WHERE mailbox_id = ?1"
				 " AND account_id = ?2 AND uid = ?3";
	return mark_exec(s, mark_stmt(s, sql, mailbox_id, account_id, uid), error_r);
}

int store_seen_read(struct store *s, int64_t mailbox_id, int64_t account_id, uint32_t uid,
		    bool *seen_r)
{
	int64_t v = 0;
	int ret = mark_read(s,
			    mark_stmt(s,
				      "SELECT 1 FROM shared_seen WHERE mailbox_id = ?1"
				      " AND account_id = ?2 AND uid = ?3",
				      mailbox_id, account_id, uid),
			    &v);
	*seen_r = v != 0;
	return ret;
}

int store_seen_unseen_count(struct store *s, int64_t mailbox_id, int64_t account_id,
			    uint32_t *unseen_r, uint32_t *first_unseen_seq_r)
{
	sqlite3_stmt *st = store_stmt(
		s,
		"SELECT COUNT(*), MIN(uid), (SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1"
		"  AND uid < (SELECT MIN(m.uid) FROM messages m WHERE m.mailbox_id = ?1"
		"   AND NOT EXISTS (SELECT 1 FROM shared_seen x WHERE x.mailbox_id = ?1"
		"   AND x.account_id = ?2 AND x.uid = m.uid)))"
		" FROM messages m WHERE m.mailbox_id = ?1 AND NOT EXISTS (SELECT 1 FROM"
		" shared_seen x WHERE x.mailbox_id = ?1 AND x.account_id = ?2 AND x.uid = m.uid)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, account_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*unseen_r = (uint32_t)sqlite3_column_int64(st, 0);
		*first_unseen_seq_r = sqlite3_column_type(st, 1) == SQLITE_NULL
			? 0
			: (uint32_t)sqlite3_column_int64(st, 2) + 1;
	}
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int store_seen_copy_out(struct store *s, int64_t mailbox_id, int64_t owner, uint32_t uid,
			uint32_t *flags)
{
	if (s->seen_reader <= 0 || owner == s->seen_reader)
		return 0;
	bool seen;
	if (store_seen_read(s, mailbox_id, s->seen_reader, uid, &seen) < 0)
		return -1;
	*flags = (*flags & ~(uint32_t)STORE_FLAG_SEEN) | (seen ? STORE_FLAG_SEEN : 0);
	return 0;
}

uint32_t store_seen_copy_row(struct store *s, int64_t owner, uint32_t flags)
{
	if (s->seen_reader <= 0 || owner == s->seen_reader)
		return flags;
	return flags & ~(uint32_t)STORE_FLAG_SEEN;
}

int store_seen_copy_in(struct store *s, int64_t mailbox_id, int64_t owner, uint32_t uid,
		       uint32_t flags, const char **error_r)
{
	if (s->seen_reader <= 0 || owner == s->seen_reader || (flags & STORE_FLAG_SEEN) == 0)
		return 0;
	return store_seen_write(s, mailbox_id, s->seen_reader, uid, true, error_r);
}
