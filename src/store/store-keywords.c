/* SPDX-License-Identifier: MIT */
/*
 * Flags and keywords for IMAP STORE (with CONDSTORE's UNCHANGEDSINCE), the
 * per-mailbox keyword registry behind FLAGS/PERMANENTFLAGS, and the message
 * listings that carry keywords (full list, CHANGEDSINCE, UID ranges). A
 * message's keywords are one column, sorted case-insensitively and space-joined, so
 * that "did anything change" is a string comparison; the registry keeps the
 * first spelling of each keyword so that "$junk" and "$Junk" stay one
 * keyword in a mailbox, as IMAP clients expect.
 */
#include "store/store-private.h"

#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- keyword strings --------------------------------------------------- */

bool store_keyword_valid(const char *kw)
{
	size_t len;

	if (kw == NULL || (len = strlen(kw)) == 0 || len > STORE_KEYWORD_MAX_LEN || kw[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];
		/* atom-specials of RFC 3501: ( ) { SP CTL % * " \ ] */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void store_kwlist_free(struct store_kwlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static void kwlist_add(struct store_kwlist *l, const char *kw, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrndup(kw, len);
}

void store_kwlist_split(struct store_kwlist *l, const char *str)
{
	const char *p = str != NULL ? str : "";

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		size_t len = strcspn(p, " ");
		if (len > 0)
			kwlist_add(l, p, len);
		p += len;
	}
}

bool store_kwlist_has(const struct store_kwlist *l, const char *kw)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->v[i], kw) == 0)
			return true;
	}
	return false;
}

static int kw_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int c = strcasecmp(x, y);
	return c != 0 ? c : strcmp(x, y);
}

char *store_kwlist_join(struct store_kwlist *l)
{
	size_t total = 1;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), kw_cmp);
	for (size_t i = 0; i < l->n; i++)
		total += strlen(l->v[i]) + 1;
	char *out = xmalloc(total), *p = out;
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(l->v[i]);
		if (i > 0)
			*p++ = ' ';
		memcpy(p, l->v[i], len);
		p += len;
	}
	*p = '\0';
	return out;
}

/* --- registry ---------------------------------------------------------- */

/* The registered spelling of kw into *name_r (malloc'd): 1 / 0 / -1. */
static int keyword_lookup(struct store *s, int64_t mailbox_id, const char *kw, char **name_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT name FROM mailbox_keywords"
				      " WHERE mailbox_id = ? AND name = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	store_bind_text(st, 2, kw);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*name_r = xstrdup((const char *)sqlite3_column_text(st, 0));
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int keyword_insert(struct store *s, int64_t mailbox_id, const char *kw, bool enforce_cap,
			  const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (enforce_cap) {
		st = store_stmt(s, "SELECT COUNT(*) FROM mailbox_keywords WHERE mailbox_id = ?");
		if (st == NULL)
			return store_db_fail(s, error_r);
		sqlite3_bind_int64(st, 1, mailbox_id);
		rc = sqlite3_step(st);
		int64_t count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		store_stmt_done(st);
		if (rc != SQLITE_ROW)
			return store_db_fail(s, error_r);
		if (count >= STORE_MAILBOX_KEYWORDS_MAX)
			return store_fail(s, error_r, "too many keywords");
	}
	st = store_stmt(s, "INSERT INTO mailbox_keywords(mailbox_id, name) VALUES (?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	store_bind_text(st, 2, kw);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

int store_keywords_register(struct store *s, int64_t mailbox_id, const char *const *kw, size_t n,
			    bool enforce_cap, struct store_kwlist *out, const char **error_r)
{
	for (size_t i = 0; i < n; i++) {
		char *name = NULL;
		if (!store_keyword_valid(kw[i]))
			return store_fail(s, error_r, "invalid keyword");
		if (store_kwlist_has(out, kw[i]))
			continue;
		int ret = keyword_lookup(s, mailbox_id, kw[i], &name);
		if (ret < 0)
			return store_db_fail(s, error_r);
		if (ret == 0) {
			if (keyword_insert(s, mailbox_id, kw[i], enforce_cap, error_r) < 0)
				return -1;
			name = xstrdup(kw[i]);
		}
		kwlist_add(out, name, strlen(name));
		free(name);
	}
	return 0;
}

int store_mailbox_keywords(struct store *s, int64_t mailbox_id,
			   void (*cb)(void *ctx, const char *keyword), void *ctx)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT name FROM mailbox_keywords"
				      " WHERE mailbox_id = ? ORDER BY id");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	return store_strlist_emit(s, st, cb, ctx);
}

/* --- STORE ------------------------------------------------------------- */

struct flags_job {
	int64_t mailbox_id;
	const struct store_flags_update *u;
	struct store_kwlist kw; /* canonical keywords of u (validated) */
	struct store_flags_outcome *out;
	bool seen_shared; /* \Seen is u->seen_account's own (store-acl.c) */
};

/* The keywords a message ends up with, joined (malloc'd). */
static char *flags_new_keywords(const struct flags_job *j, const char *old)
{
	struct store_kwlist cur = {0}, next = {0};

	if (j->u->op == STORE_FLAGS_SET) {
		for (size_t i = 0; i < j->kw.n; i++)
			kwlist_add(&next, j->kw.v[i], strlen(j->kw.v[i]));
		char *joined = store_kwlist_join(&next);
		store_kwlist_free(&next);
		return joined;
	}
	store_kwlist_split(&cur, old);
	for (size_t i = 0; i < cur.n; i++) {
		if (j->u->op == STORE_FLAGS_ADD || !store_kwlist_has(&j->kw, cur.v[i]))
			kwlist_add(&next, cur.v[i], strlen(cur.v[i]));
	}
	for (size_t i = 0; j->u->op == STORE_FLAGS_ADD && i < j->kw.n; i++) {
		if (!store_kwlist_has(&cur, j->kw.v[i]))
			kwlist_add(&next, j->kw.v[i], strlen(j->kw.v[i]));
	}
	char *joined = store_kwlist_join(&next);
	store_kwlist_free(&cur);
	store_kwlist_free(&next);
	return joined;
}

static uint32_t flags_new(const struct store_flags_update *u, uint32_t old)
{
	uint32_t f = u->flags & STORE_FLAGS_ALL;

	switch (u->op) {
	case STORE_FLAGS_ADD:
		return old | f;
	case STORE_FLAGS_REMOVE:
		return old & ~f;
	case STORE_FLAGS_SET:
	default:
		return f;
	}
}

static void outcome_add_modified(struct store_flags_outcome *o, uint32_t uid, size_t cap)
{
	if (o->modified == NULL)
		o->modified = xmalloc(cap * sizeof(*o->modified));
	o->modified[o->n_modified++] = uid;
}

/*
 * Write one message's new flags. row_changed false: only the reader's own
 * \Seen changed (a shared mailbox), so the row and its MODSEQ stay as
 * they are and the new MODSEQ is the reader's alone (shared_seen_modseq):
 * other readers see no change, the reader's CHANGEDSINCE and MODSEQ
 * searches do. The row is still touched (flags = flags) for the JMAP
 * change log, which has no per-reader state.
 */
static int flags_write(struct store *s, const struct flags_job *j, struct store_flags_result *r,
		       uint32_t stored_flags, bool row_changed, const char **error_r)
{
	if (store_mailbox_bump_modseq(s, j->mailbox_id, &r->modseq, error_r) < 0)
		return -1;
	/* A reader's own \Seen (store-acl.c); the row keeps the owner's. */
	if (j->seen_shared &&
	    (store_seen_write(s, j->mailbox_id, j->u->seen_account, r->uid,
			      (r->flags & STORE_FLAG_SEEN) != 0, error_r) < 0 ||
	     store_seen_modseq_write(s, j->mailbox_id, j->u->seen_account, r->uid, r->modseq,
				     error_r) < 0))
		return -1;
	sqlite3_stmt *st = row_changed
		? store_stmt(s,
			     "UPDATE messages SET flags = ?1, keywords = ?2,"
			     " modseq = ?3 WHERE mailbox_id = ?4 AND uid = ?5")
		: store_stmt(s,
			     "UPDATE messages SET flags = flags"
			     " WHERE mailbox_id = ?4 AND uid = ?5");
	if (st == NULL)
		return store_db_fail(s, error_r);
	if (row_changed) {
		sqlite3_bind_int64(st, 1, stored_flags);
		store_bind_text(st, 2, r->keywords);
		sqlite3_bind_int64(st, 3, (int64_t)r->modseq);
	}
	sqlite3_bind_int64(st, 4, j->mailbox_id);
	sqlite3_bind_int64(st, 5, r->uid);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* One UID of a STORE, inside the transaction. */
static int flags_apply_one(struct store *s, struct flags_job *j, uint32_t uid, size_t n_uids,
			   const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT flags, keywords, modseq FROM messages"
				      " WHERE mailbox_id = ? AND uid = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, j->mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_stmt_done(st);
		return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
	}
	uint32_t old_flags = (uint32_t)sqlite3_column_int64(st, 0);
	char *old_kw = xstrdup((const char *)sqlite3_column_text(st, 1));
	uint64_t modseq = (uint64_t)sqlite3_column_int64(st, 2);
	store_stmt_done(st);
	uint32_t row_flags = old_flags;
	if (j->seen_shared) {
		bool seen;
		uint64_t own;
		if (store_seen_read(s, j->mailbox_id, j->u->seen_account, uid, &seen) < 0 ||
		    store_seen_modseq_read(s, j->mailbox_id, j->u->seen_account, uid, &own) < 0) {
			free(old_kw);
			return store_db_fail(s, error_r);
		}
		old_flags = (old_flags & ~(uint32_t)STORE_FLAG_SEEN) | (seen ? STORE_FLAG_SEEN : 0);
		modseq = own > modseq ? own : modseq; /* the MODSEQ this reader sees */
	}
	if (j->u->unchangedsince != 0 && modseq > j->u->unchangedsince) {
		free(old_kw);
		outcome_add_modified(j->out, uid, n_uids);
		return 0;
	}
	struct store_flags_result *r = &j->out->results[j->out->n_results++];
	r->uid = uid;
	r->flags = flags_new(j->u, old_flags);
	r->keywords = flags_new_keywords(j, old_kw);
	r->modseq = modseq;
	r->changed = r->flags != old_flags || strcmp(r->keywords, old_kw) != 0;
	char *row_kw = old_kw;
	uint32_t stored = j->seen_shared
		? (r->flags & ~(uint32_t)STORE_FLAG_SEEN) | (row_flags & STORE_FLAG_SEEN)
		: r->flags;
	bool row_changed = stored != row_flags || strcmp(r->keywords, row_kw) != 0;
	free(row_kw);
	return r->changed ? flags_write(s, j, r, stored, row_changed, error_r) : 0;
}

static int flags_prepare(struct store *s, struct flags_job *j, const char **error_r)
{
	const struct store_flags_update *u = j->u;

	if (u->n_keywords > 0 && u->keywords == NULL)
		return store_fail(s, error_r, "invalid keyword");
	if (u->op == STORE_FLAGS_REMOVE) {
		/* Removing never registers anything. */
		for (size_t i = 0; i < u->n_keywords; i++) {
			if (!store_keyword_valid(u->keywords[i]))
				return store_fail(s, error_r, "invalid keyword");
			if (!store_kwlist_has(&j->kw, u->keywords[i]))
				kwlist_add(&j->kw, u->keywords[i], strlen(u->keywords[i]));
		}
		return 0;
	}
	return store_keywords_register(s, j->mailbox_id, u->keywords, u->n_keywords, true, &j->kw,
				       error_r);
}

static int update_flags_tx(struct store *s, struct flags_job *j, const uint32_t *uids, size_t n,
			   const char **error_r)
{
	if (store_mailbox_exists(s, j->mailbox_id, error_r) < 0)
		return -1;
	int shared = store_seen_shared(s, j->mailbox_id, j->u->seen_account);
	if (shared < 0)
		return store_db_fail(s, error_r);
	j->seen_shared = shared > 0;
	if (flags_prepare(s, j, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (flags_apply_one(s, j, uids[i], n, error_r) < 0)
			return -1;
	}
	return 0;
}

void store_flags_outcome_free(struct store_flags_outcome *o)
{
	for (size_t i = 0; i < o->n_results; i++)
		free(o->results[i].keywords);
	free(o->results);
	free(o->modified);
	memset(o, 0, sizeof(*o));
}

static int update_flags_check(struct store *s, const uint32_t *uids, size_t n,
			      const struct store_flags_update *u, const char **error_r)
{
	if (u == NULL || (n > 0 && uids == NULL) ||
	    (u->op != STORE_FLAGS_SET && u->op != STORE_FLAGS_ADD && u->op != STORE_FLAGS_REMOVE))
		return store_fail(s, error_r, "invalid flag update");
	return 0;
}

int store_update_flags_tx(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
			  const struct store_flags_update *u, struct store_flags_outcome *out_r,
			  const char **error_r)
{
	struct flags_job j = {.mailbox_id = mailbox_id, .u = u, .out = out_r};

	memset(out_r, 0, sizeof(*out_r));
	if (update_flags_check(s, uids, n, u, error_r) < 0)
		return -1;
	if (n > 0)
		out_r->results = xcalloc(n, sizeof(*out_r->results));
	int ret = update_flags_tx(s, &j, uids, n, error_r);
	store_kwlist_free(&j.kw);
	if (ret < 0)
		store_flags_outcome_free(out_r);
	return ret;
}

int store_message_update_flags(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
			       const struct store_flags_update *u,
			       struct store_flags_outcome *out_r, const char **error_r)
{
	memset(out_r, 0, sizeof(*out_r));
	if (update_flags_check(s, uids, n, u, error_r) < 0 || store_tx_begin(s, error_r) < 0)
		return -1;
	if (store_update_flags_tx(s, mailbox_id, uids, n, u, out_r, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	if (store_tx_commit(s, error_r) < 0) {
		store_flags_outcome_free(out_r);
		return -1;
	}
	return 0;
}

static int message_modseq(struct store *s, int64_t mailbox_id, uint32_t uid, uint64_t *modseq_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT modseq FROM messages"
				      " WHERE mailbox_id = ? AND uid = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	*modseq_r = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	store_stmt_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_message_set_flags_keywords(struct store *s, int64_t mailbox_id, uint32_t uid,
				     uint32_t flags, const char *const *keywords, size_t n,
				     uint64_t unchangedsince, uint64_t *modseq_r,
				     const char **error_r)
{
	struct store_flags_update u = {
		.op = STORE_FLAGS_SET,
		.flags = flags,
		.keywords = keywords,
		.n_keywords = n,
		.unchangedsince = unchangedsince,
		/* The handle's reader acts (store_seen_reader_set): its own \Seen. */
		.seen_account = s->seen_reader,
	};
	struct store_flags_outcome o;
	int ret;

	if (store_message_update_flags(s, mailbox_id, &uid, 1, &u, &o, error_r) < 0)
		return -1;
	if (o.n_results == 1) {
		if (modseq_r != NULL)
			*modseq_r = o.results[0].modseq;
		ret = 1;
	} else if (o.n_modified == 1) {
		ret = 0;
		/* Report the MODSEQ that made the test fail. */
		if (modseq_r != NULL && message_modseq(s, mailbox_id, uid, modseq_r) < 0)
			ret = store_db_fail(s, error_r);
	} else {
		ret = store_fail(s, error_r, "no such message");
	}
	store_flags_outcome_free(&o);
	return ret;
}

/* --- listings ---------------------------------------------------------- */

void store_message_ex_free(struct store_message_ex **msgs, size_t n)
{
	if (*msgs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*msgs)[i].keywords);
	free(*msgs);
	*msgs = NULL;
}

static void message_ex_from_row(sqlite3_stmt *st, struct store_message_ex *e)
{
	memset(e, 0, sizeof(*e));
	store_message_from_row(st, &e->msg);
	const unsigned char *kw = sqlite3_column_text(st, 9);
	e->keywords = xstrdup(kw != NULL ? (const char *)kw : "");
}

/*
 * The messages of mailbox_id whose only change above since is the
 * handle's reader's own \Seen (store-acl.c, schema step 13), appended to
 * *v, which holds the rows with a MODSEQ above since. 0 / -1.
 */
static int seen_changed_since(struct store *s, int64_t mailbox_id, uint64_t since,
			      struct store_message_ex **v, size_t *n, size_t *cap)
{
	if (since == 0 || store_seen_shared(s, mailbox_id, s->seen_reader) <= 0)
		return 0;
	sqlite3_stmt *st = store_stmt(
		s,
		"SELECT m.id, m.mailbox_id, m.uid, m.flags, m.modseq, m.internal_date,"
		" m.save_date, m.size, m.blob_id, m.keywords"
		" FROM shared_seen_modseq x JOIN messages m ON m.mailbox_id = x.mailbox_id"
		" AND m.uid = x.uid WHERE x.mailbox_id = ?1 AND x.account_id = ?2"
		" AND x.modseq > ?3 AND m.modseq <= ?3");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, s->seen_reader);
	sqlite3_bind_int64(st, 3, (int64_t)since);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 32;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		message_ex_from_row(st, &(*v)[(*n)++]);
	}
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int msg_uid_cmp(const void *a, const void *b)
{
	const struct store_message_ex *x = a, *y = b;
	return x->msg.uid < y->msg.uid ? -1 : x->msg.uid > y->msg.uid;
}

int store_message_changed_since(struct store *s, int64_t mailbox_id, uint64_t modseq,
				struct store_message_ex **msgs_r, size_t *n_r)
{
	struct store_message_ex *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*msgs_r = NULL;
	*n_r = 0;
	if (modseq > INT64_MAX)
		return 0; /* nothing can be newer */
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT id, mailbox_id, uid, flags, modseq, internal_date, save_date,"
			   " size, blob_id, keywords FROM messages WHERE mailbox_id = ?"
			   " AND modseq > ? ORDER BY uid");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		message_ex_from_row(st, &v[n++]);
	}
	store_stmt_done(st);
	size_t n_rows = n;
	if (rc != SQLITE_DONE || seen_changed_since(s, mailbox_id, modseq, &v, &n, &cap) < 0) {
		store_message_ex_free(&v, n);
		return store_db_fail(s, NULL);
	}
	if (n > n_rows)
		qsort(v, n, sizeof(*v), msg_uid_cmp);
	store_seen_overlay(s, mailbox_id, v, n);
	*msgs_r = v;
	*n_r = n;
	return 0;
}

int store_message_list_full(struct store *s, int64_t mailbox_id, struct store_message_ex **msgs_r,
			    size_t *n_r)
{
	return store_message_changed_since(s, mailbox_id, 0, msgs_r, n_r);
}

/* --- listing named messages -------------------------------------------- */

/* Ranges per statement: bounds the JSON text bound to one query. */
#define LIST_UIDS_CHUNK 256

static int range_cmp(const void *a, const void *b)
{
	const struct store_uid_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted, merged copy of ranges (overlapping and adjacent ones joined). */
static size_t ranges_normalize(const struct store_uid_range *in, size_t n,
			       struct store_uid_range *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t lo = in[i].lo, hi = in[i].hi;
		out[i] = (struct store_uid_range){lo < hi ? lo : hi, lo < hi ? hi : lo};
	}
	qsort(out, n, sizeof(*out), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && (uint64_t)out[i].lo <= (uint64_t)out[k - 1].hi + 1) {
			if (out[i].hi > out[k - 1].hi)
				out[k - 1].hi = out[i].hi;
			continue;
		}
		out[k++] = out[i];
	}
	return k;
}

/*
 * One statement for up to LIST_UIDS_CHUNK ranges, given as a JSON array of
 * [lo, hi] pairs: the CROSS JOIN makes SQLite walk the array and do one
 * index range search on messages(mailbox_id, uid) per pair, so the cost is
 * the rows returned, never a scan of the mailbox.
 */
static int list_uids_chunk(struct store *s, int64_t mailbox_id, const struct store_uid_range *r,
			   size_t n, uint64_t changedsince, struct store_message_ex **v,
			   size_t *len, size_t *cap)
{
	char *json = xmalloc(n * 26 + 3); /* ",[4294967295,4294967295]" */
	size_t off = 0;
	int rc;

	json[off++] = '[';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(json + off, 26, "%s[%u,%u]", i > 0 ? "," : "",
					(unsigned)r[i].lo, (unsigned)r[i].hi);
	json[off++] = ']';
	json[off] = '\0';
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT m.id, m.mailbox_id, m.uid, m.flags, m.modseq, m.internal_date,"
			   " m.save_date, m.size, m.blob_id, m.keywords"
			   " FROM json_each(?2) AS r CROSS JOIN messages AS m"
			   " WHERE m.mailbox_id = ?1 AND m.uid >= json_extract(r.value, '$[0]')"
			   " AND m.uid <= json_extract(r.value, '$[1]') AND m.modseq > ?3");
	if (st == NULL) {
		free(json);
		return store_db_fail(s, NULL);
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_text(st, 2, json, (int)off, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (int64_t)changedsince);
	free(json);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*len == *cap) {
			*cap = *cap ? *cap * 2 : 32;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		message_ex_from_row(st, &(*v)[(*len)++]);
	}
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

int store_message_list_uids(struct store *s, int64_t mailbox_id,
			    const struct store_uid_range *ranges, size_t n, uint64_t changedsince,
			    struct store_message_ex **msgs_r, size_t *n_r)
{
	struct store_message_ex *v = NULL;
	size_t len = 0, cap = 0;

	*msgs_r = NULL;
	*n_r = 0;
	if (n == 0 || changedsince > INT64_MAX)
		return 0;
	if (ranges == NULL)
		return store_fail(s, NULL, "no UID ranges");
	struct store_uid_range *r = xmalloc(n * sizeof(*r));
	size_t k = ranges_normalize(ranges, n, r);
	int ret = 0;
	/* A reader's own \Seen MODSEQs are not in the rows: filter after them. */
	int shared = changedsince > 0 ? store_seen_shared(s, mailbox_id, s->seen_reader) : 0;
	if (shared < 0)
		ret = store_db_fail(s, NULL);
	for (size_t i = 0; i < k && ret == 0; i += LIST_UIDS_CHUNK)
		ret = list_uids_chunk(s, mailbox_id, r + i,
				      k - i < LIST_UIDS_CHUNK ? k - i : LIST_UIDS_CHUNK,
				      shared > 0 ? 0 : changedsince, &v, &len, &cap);
	free(r);
	if (ret < 0) {
		store_message_ex_free(&v, len);
		return -1;
	}
	/*
	 * The ranges are disjoint and ascending, so rows come in UID order as
	 * SQLite walks them; that order is the plan's, not a promise of SQL,
	 * hence the check (no sort when it holds).
	 */
	for (size_t i = 1; i < len; i++) {
		if (v[i - 1].msg.uid >= v[i].msg.uid) {
			qsort(v, len, sizeof(*v), msg_uid_cmp);
			break;
		}
	}
	store_seen_overlay(s, mailbox_id, v, len);
	if (shared > 0) {
		size_t w = 0;
		for (size_t i = 0; i < len; i++) {
			if (v[i].msg.modseq > changedsince)
				v[w++] = v[i];
			else
				free(v[i].keywords);
		}
		len = w;
	}
	*msgs_r = v;
	*n_r = len;
	return 0;
}
