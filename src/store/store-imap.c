/* SPDX-License-Identifier: MIT */
/*
 * The rest of what IMAP needs from the SQLite backend beyond flags and
 * keywords (store-keywords.c): COPY and MOVE (UIDPLUS, RFC 6851), APPEND,
 * the QRESYNC expunge log read-back, the parsed data of a blob, LSUB-style
 * subscriptions and STATUS numbers. Copies share their blob (content is
 * immutable), so COPY and MOVE never touch a file; APPEND follows the same
 * blob-first, commit-second rule as delivery so an OK is never sent for a
 * message a crash could lose.
 */
#include "store/store-private.h"

#include "lib/lru.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- shared ------------------------------------------------------------ */

/* account_id and uidvalidity of a mailbox: 1 / 0 none / -1 error. */
static int mailbox_info(struct store *s, int64_t mailbox_id, int64_t *account_r,
			uint32_t *uidvalidity_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT account_id, uidvalidity FROM mailboxes"
				      " WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (account_r != NULL)
			*account_r = sqlite3_column_int64(st, 0);
		if (uidvalidity_r != NULL)
			*uidvalidity_r = (uint32_t)sqlite3_column_int64(st, 1);
	}
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The fields of a message row a copy or an append writes. */
struct entry {
	uint32_t uid; /* source UID (copy) */
	char blob_id[STORE_BLOB_ID_LEN + 1];
	uint32_t flags;
	char *keywords; /* joined; malloc'd */
	time_t internal_date;
	uint64_t size;
};

/* Insert e into mailbox_id under the next UID, in a write tx. */
static int entry_insert(struct store *s, int64_t mailbox_id, const struct entry *e, uint32_t *uid_r,
			const char **error_r)
{
	uint64_t modseq;

	if (store_mailbox_next_uid(s, mailbox_id, uid_r, &modseq, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(
		s,
		"INSERT INTO messages(mailbox_id, uid, blob_id, flags, keywords,"
		" internal_date, save_date, modseq, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, *uid_r);
	store_bind_text(st, 3, e->blob_id);
	sqlite3_bind_int64(st, 4, e->flags & STORE_FLAGS_ALL);
	store_bind_text(st, 5, e->keywords != NULL ? e->keywords : "");
	sqlite3_bind_int64(st, 6, (int64_t)e->internal_date);
	sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 8, (int64_t)modseq);
	sqlite3_bind_int64(st, 9, (int64_t)e->size);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* Register kw in mailbox_id and join them into *joined_r (malloc'd). */
static int keywords_for(struct store *s, int64_t mailbox_id, const char *const *kw, size_t n,
			bool enforce_cap, char **joined_r, const char **error_r)
{
	struct store_kwlist l = {0};

	*joined_r = NULL;
	if (n > 0 && kw == NULL)
		return store_fail(s, error_r, "invalid keyword");
	if (store_keywords_register(s, mailbox_id, kw, n, enforce_cap, &l, error_r) < 0) {
		store_kwlist_free(&l);
		return -1;
	}
	*joined_r = store_kwlist_join(&l);
	store_kwlist_free(&l);
	return 0;
}

/* --- copy / move ------------------------------------------------------- */

struct copy_job {
	int64_t src, dst;
	int64_t src_account, dst_account;
	struct entry *e; /* source messages found, in the order of uids */
	size_t n;
	uint64_t total; /* their sizes */
};

static void copy_job_free(struct copy_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->e[i].keywords);
	free(j->e);
	j->e = NULL;
	j->n = 0;
}

/* Read the source rows of uids (missing ones skipped). */
static int copy_read(struct store *s, struct copy_job *j, const uint32_t *uids, size_t n,
		     const char **error_r)
{
	j->e = xcalloc(n + 1, sizeof(*j->e)); /* never NULL, even for n == 0 */
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = store_stmt(
			s,
			"SELECT blob_id, flags, keywords, internal_date, size FROM messages"
			" WHERE mailbox_id = ? AND uid = ?");
		if (st == NULL)
			return store_db_fail(s, error_r);
		sqlite3_bind_int64(st, 1, j->src);
		sqlite3_bind_int64(st, 2, uids[i]);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			struct entry *e = &j->e[j->n++];
			e->uid = uids[i];
			store_col_copy(st, 0, e->blob_id, sizeof(e->blob_id));
			e->flags = (uint32_t)sqlite3_column_int64(st, 1);
			const unsigned char *kw = sqlite3_column_text(st, 2);
			e->keywords = xstrdup(kw != NULL ? (const char *)kw : "");
			e->internal_date = (time_t)sqlite3_column_int64(st, 3);
			e->size = (uint64_t)sqlite3_column_int64(st, 4);
			j->total += e->size;
		}
		store_stmt_done(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_db_fail(s, error_r);
	}
	return 0;
}

/*
 * Keywords travel by name: each is registered in the destination (without
 * the cap: a copy must not fail because the destination is full of
 * keywords) and takes the destination's spelling.
 */
static int copy_keywords(struct store *s, int64_t dst, struct entry *e, const char **error_r)
{
	struct store_kwlist src = {0};
	char *joined;

	if (e->keywords[0] == '\0')
		return 0;
	store_kwlist_split(&src, e->keywords);
	int ret = keywords_for(s, dst, (const char *const *)src.v, src.n, false, &joined, error_r);
	store_kwlist_free(&src);
	if (ret < 0)
		return -1;
	free(e->keywords);
	e->keywords = joined;
	return 0;
}

static int copy_tx(struct store *s, struct copy_job *j, const uint32_t *uids, size_t n, bool move,
		   uint32_t *dst_uids_r, const char **error_r)
{
	int ret = mailbox_info(s, j->src, &j->src_account, NULL);
	if (ret > 0)
		ret = mailbox_info(s, j->dst, &j->dst_account, NULL);
	if (ret <= 0)
		return ret < 0 ? store_db_fail(s, error_r)
			       : store_fail(s, error_r, "no such mailbox");
	if (copy_read(s, j, uids, n, error_r) < 0)
		return -1;
	if ((!move || j->src_account != j->dst_account) &&
	    store_quota_check(s, j->dst_account, j->total, error_r) < 0)
		return -1;
	/* \Seen of a reader who owns only one side travels as hers (store-acl.c). */
	for (size_t i = 0; i < j->n; i++) {
		if (store_seen_copy_out(s, j->src, j->src_account, j->e[i].uid, &j->e[i].flags) < 0)
			return store_db_fail(s, error_r);
	}
	uint32_t *copied = j->n > 0 ? xmalloc(j->n * sizeof(*copied)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < n && ret >= 0; i++) {
		uint32_t new_uid = 0;
		/* j->e follows uids with the missing ones left out. */
		if (k < j->n && j->e[k].uid == uids[i]) {
			uint32_t flags = j->e[k].flags;
			j->e[k].flags = store_seen_copy_row(s, j->dst_account, flags);
			if (copy_keywords(s, j->dst, &j->e[k], error_r) < 0 ||
			    entry_insert(s, j->dst, &j->e[k], &new_uid, error_r) < 0 ||
			    store_seen_copy_in(s, j->dst, j->dst_account, new_uid, flags, error_r) <
				    0)
				ret = -1;
			else
				copied[k] = j->e[k].uid;
			k++;
		}
		if (dst_uids_r != NULL)
			dst_uids_r[i] = new_uid;
	}
	if (ret >= 0 && move) {
		struct store_idlist blobs = {0};
		/* Every blob stays referenced by its copy: nothing to collect. */
		ret = store_expunge_tx(s, j->src, copied, k, &blobs, error_r);
		store_idlist_free(&blobs);
	}
	free(copied);
	return ret < 0 ? -1 : 0;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* A UID repeated in uids would be copied twice: such a list is refused. */
static bool uids_distinct(const uint32_t *uids, size_t n)
{
	bool ok = true;

	if (n < 2)
		return true;
	uint32_t *v = xmalloc(n * sizeof(*v));
	memcpy(v, uids, n * sizeof(*v));
	qsort(v, n, sizeof(*v), uid_cmp);
	for (size_t i = 1; i < n && ok; i++)
		ok = v[i] != v[i - 1];
	free(v);
	return ok;
}

int store_copy_tx(struct store *s, int64_t src, const uint32_t *uids, size_t n, int64_t dst,
		  bool move, uint32_t *dst_uids_r, const char **error_r)
{
	struct copy_job j = {.src = src, .dst = dst};

	if (n > 0 && uids == NULL)
		return store_fail(s, error_r, "no UIDs");
	if (!uids_distinct(uids, n))
		return store_fail(s, error_r, "duplicate UID");
	int ret = copy_tx(s, &j, uids, n, move, dst_uids_r, error_r);
	copy_job_free(&j);
	if (ret < 0 && dst_uids_r != NULL)
		memset(dst_uids_r, 0, n * sizeof(*dst_uids_r));
	return ret;
}

static int copy_or_move(struct store *s, int64_t src, const uint32_t *uids, size_t n, int64_t dst,
			uint32_t *dst_uids_r, bool move, const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	if (store_copy_tx(s, src, uids, n, dst, move, dst_uids_r, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	if (store_tx_commit(s, error_r) < 0) {
		if (dst_uids_r != NULL)
			memset(dst_uids_r, 0, n * sizeof(*dst_uids_r));
		return -1;
	}
	return 0;
}

int store_message_copy(struct store *s, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
		       int64_t dst_mailbox_id, uint32_t *dst_uids_r, const char **error_r)
{
	return copy_or_move(s, src_mailbox_id, uids, n, dst_mailbox_id, dst_uids_r, false, error_r);
}

int store_message_move(struct store *s, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
		       int64_t dst_mailbox_id, uint32_t *dst_uids_r, const char **error_r)
{
	return copy_or_move(s, src_mailbox_id, uids, n, dst_mailbox_id, dst_uids_r, true, error_r);
}

/* --- append ------------------------------------------------------------ */

struct append_job {
	int64_t account_id, mailbox_id;
	size_t len;
	const struct store_parsed *parsed;
	const char *const *keywords;
	size_t n_keywords;
	struct entry e;
};

static int append_tx(struct store *s, struct append_job *j, uint32_t *uid_r,
		     uint32_t *uidvalidity_r, const char **error_r)
{
	int64_t owner = 0;
	uint32_t uidvalidity = 0, uid = 0;
	int ret = mailbox_info(s, j->mailbox_id, &owner, &uidvalidity);

	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret == 0 || owner != j->account_id)
		return store_fail(s, error_r, "no such mailbox");
	/* The appender's \Seen on a mailbox it does not own is its own (store-acl.c). */
	uint32_t flags = j->e.flags;
	j->e.flags = store_seen_copy_row(s, owner, flags);
	if (store_quota_check(s, j->account_id, j->len, error_r) < 0 ||
	    store_blob_row_upsert(s, j->e.blob_id, j->len, j->parsed, error_r) < 0 ||
	    keywords_for(s, j->mailbox_id, j->keywords, j->n_keywords, true, &j->e.keywords,
			 error_r) < 0 ||
	    entry_insert(s, j->mailbox_id, &j->e, &uid, error_r) < 0 ||
	    store_seen_copy_in(s, j->mailbox_id, owner, uid, flags, error_r) < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = uid;
	if (uidvalidity_r != NULL)
		*uidvalidity_r = uidvalidity;
	return 0;
}

/* Check what can be checked before any byte is written. */
static int append_args_check(struct store *s, const char *data, size_t len,
			     const char *const *keywords, size_t n_keywords, const char **error_r)
{
	if (data == NULL && len > 0)
		return store_fail(s, error_r, "no message data");
	if (n_keywords > 0 && keywords == NULL)
		return store_fail(s, error_r, "invalid keyword");
	for (size_t i = 0; i < n_keywords; i++) {
		if (!store_keyword_valid(keywords[i]))
			return store_fail(s, error_r, "invalid keyword");
	}
	return 0;
}

int store_append_tx(struct store *s, int64_t account_id, int64_t mailbox_id, const char *blob_id,
		    size_t len, const struct store_parsed *parsed, uint32_t flags,
		    const char *const *keywords, size_t n_keywords, time_t internal_date,
		    uint32_t *uid_r, uint32_t *uidvalidity_r, const char **error_r)
{
	struct append_job j = {
		.account_id = account_id,
		.mailbox_id = mailbox_id,
		.len = len,
		.parsed = parsed,
		.keywords = keywords,
		.n_keywords = n_keywords,
		.e = {.flags = flags & STORE_FLAGS_ALL,
		      .size = len,
		      .internal_date = internal_date != 0 ? internal_date : time(NULL)},
	};
	if (append_args_check(s, "", 0, keywords, n_keywords, error_r) < 0)
		return -1;
	snprintf(j.e.blob_id, sizeof(j.e.blob_id), "%s", blob_id);
	int ret = append_tx(s, &j, uid_r, uidvalidity_r, error_r);
	free(j.e.keywords);
	return ret;
}

int store_append(struct store *s, int64_t account_id, int64_t mailbox_id, const char *data,
		 size_t len, const struct store_parsed *parsed, uint32_t flags,
		 const char *const *keywords, size_t n_keywords, time_t internal_date,
		 uint32_t *uid_r, uint32_t *uidvalidity_r, const char **error_r)
{
	struct store_append_msg m = {
		.data = data,
		.len = len,
		.parsed = parsed,
		.flags = flags,
		.keywords = keywords,
		.n_keywords = n_keywords,
		.internal_date = internal_date,
	};
	if (store_append_many(s, account_id, mailbox_id, &m, 1, uidvalidity_r, error_r) < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = m.uid;
	return 0;
}

/* Collect the blobs of a refused append; keeps s->err (the gc may write it). */
static int append_many_fail(struct store *s, char (*ids)[STORE_BLOB_ID_LEN + 1], size_t n,
			    const char *error, const char **error_r)
{
	char saved[sizeof(s->err)];
	snprintf(saved, sizeof(saved), "%s", error != NULL ? error : "append failed");
	struct store_idlist orphan = {0};
	for (size_t i = 0; i < n; i++)
		store_idlist_add(&orphan, ids[i]);
	store_blob_gc(s, &orphan);
	store_idlist_free(&orphan);
	free(ids);
	return store_fail(s, error_r, "%s", saved);
}

int store_append_many(struct store *s, int64_t account_id, int64_t mailbox_id,
		      struct store_append_msg *msgs, size_t n, uint32_t *uidvalidity_r,
		      const char **error_r)
{
	const char *error = NULL;
	for (size_t i = 0; i < n; i++) {
		if (append_args_check(s, msgs[i].data, msgs[i].len, msgs[i].keywords,
				      msgs[i].n_keywords, error_r) < 0)
			return -1;
	}
	char(*ids)[STORE_BLOB_ID_LEN + 1] = xcalloc(n ? n : 1, sizeof(*ids));
	/* Blobs durable first, outside the lock; re-checked under it (see deliver). */
	for (size_t i = 0; i < n; i++) {
		const char *body = msgs[i].data != NULL ? msgs[i].data : "";
		if (store_blob_write(s, body, msgs[i].len, ids[i], &error) < 0)
			return append_many_fail(s, ids, i, error, error_r);
	}
	if (store_tx_begin(s, &error) < 0)
		return append_many_fail(s, ids, n, error, error_r);
	for (size_t i = 0; i < n; i++) {
		struct store_append_msg *m = &msgs[i];
		const char *body = m->data != NULL ? m->data : "";
		if (store_blob_write(s, body, m->len, ids[i], &error) < 0 ||
		    store_append_tx(s, account_id, mailbox_id, ids[i], m->len, m->parsed, m->flags,
				    m->keywords, m->n_keywords, m->internal_date, &m->uid,
				    uidvalidity_r, &error) < 0) {
			store_tx_rollback(s);
			return append_many_fail(s, ids, n, error, error_r);
		}
	}
	if (store_tx_commit(s, error_r) < 0) {
		free(ids);
		return -1;
	}
	free(ids);
	return 0;
}

/* --- expunge log ------------------------------------------------------- */

int store_mailbox_vanished_since(struct store *s, int64_t mailbox_id, uint64_t modseq,
				 uint32_t **uids_r, size_t *n_r)
{
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*uids_r = NULL;
	*n_r = 0;
	if (modseq > INT64_MAX)
		return 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT uid FROM expunged WHERE mailbox_id = ?"
				      " AND modseq > ? ORDER BY uid");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_db_fail(s, NULL);
	}
	*uids_r = v;
	*n_r = n;
	return 0;
}

/* --- parsed data ------------------------------------------------------- */

static char *col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	return v != NULL ? xstrdup((const char *)v) : NULL;
}

/*
 * The parsed-data cache. A blob is named by the hash of its bytes and its
 * parsed columns are written once with it, so an answer never goes stale:
 * the cache needs no invalidation (see store_blob_parsed for the one
 * exception, rows without parsed data, which are not cached), only bounds
 * (LRU by entries and bytes,
 * per store handle, i.e. per worker thread, so no lock). A FETCH of
 * ENVELOPE over a mailbox that fits reads SQLite once per message, not
 * once per message and per FETCH. An entry is the two numbers, then the
 * strings of store_parsed_r in field order, each NUL-terminated behind a
 * presence byte ('\0': NULL).
 */
#define PARSED_N_STRINGS 9

static void parsed_strings(struct store_parsed_r *r, char **v[PARSED_N_STRINGS])
{
	v[0] = &r->envelope;
	v[1] = &r->bodystructure;
	v[2] = &r->body;
	v[3] = &r->subject;
	v[4] = &r->from;
	v[5] = &r->to;
	v[6] = &r->cc;
	v[7] = &r->message_id;
	v[8] = &r->preview;
}

static void parsed_cache_put(struct store *s, const char *blob_id, struct store_parsed_r *r)
{
	if (s->parsed_cache == NULL)
		s->parsed_cache = lru_create(s->parsed_cache_entries, s->parsed_cache_bytes, false);
	char **v[PARSED_N_STRINGS];
	parsed_strings(r, v);
	int64_t nums[2] = {(int64_t)r->size, (int64_t)r->date};
	size_t len = sizeof(nums);
	for (size_t i = 0; i < PARSED_N_STRINGS; i++)
		len += 1 + (*v[i] != NULL ? strlen(*v[i]) + 1 : 0);
	char *e = xmalloc(len), *p = e;
	memcpy(p, nums, sizeof(nums));
	p += sizeof(nums);
	for (size_t i = 0; i < PARSED_N_STRINGS; i++) {
		*p++ = *v[i] != NULL ? 1 : 0;
		if (*v[i] != NULL) {
			size_t n = strlen(*v[i]) + 1;
			memcpy(p, *v[i], n);
			p += n;
		}
	}
	lru_put(s->parsed_cache, blob_id, strlen(blob_id), e, len);
	free(e);
}

static bool parsed_cache_get(struct store *s, const char *blob_id, struct store_parsed_r *r)
{
	if (s->parsed_cache == NULL)
		return false;
	size_t len;
	const char *p = lru_get(s->parsed_cache, blob_id, strlen(blob_id), &len);
	if (p == NULL)
		return false;
	int64_t nums[2];
	memcpy(nums, p, sizeof(nums));
	p += sizeof(nums);
	r->size = (uint64_t)nums[0];
	r->date = (time_t)nums[1];
	char **v[PARSED_N_STRINGS];
	parsed_strings(r, v);
	for (size_t i = 0; i < PARSED_N_STRINGS; i++) {
		if (*p++ == 0)
			continue;
		size_t n = strlen(p);
		*v[i] = xstrndup(p, n);
		p += n + 1;
	}
	return true;
}

void store_parsed_cache_limit(struct store *s, size_t max_entries, size_t max_bytes)
{
	lru_destroy(&s->parsed_cache);
	s->parsed_cache_entries = max_entries;
	s->parsed_cache_bytes = max_bytes;
}

void store_parsed_cache_stats(const struct store *s, size_t *count_r, size_t *bytes_r)
{
	*count_r = s->parsed_cache != NULL ? lru_count(s->parsed_cache) : 0;
	*bytes_r = s->parsed_cache != NULL ? lru_bytes(s->parsed_cache) : 0;
}

int store_blob_parsed(struct store *s, const char *blob_id, struct store_parsed_r *r)
{
	memset(r, 0, sizeof(*r));
	if (!store_blob_id_valid(blob_id))
		return 0;
	if (parsed_cache_get(s, blob_id, r))
		return 1;
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT size, envelope, bodystructure, body, subject, hdr_from, hdr_to,"
			   " hdr_cc, message_id, date, preview FROM blobs WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	store_bind_text(st, 1, blob_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->size = (uint64_t)sqlite3_column_int64(st, 0);
		r->envelope = col_dup(st, 1);
		r->bodystructure = col_dup(st, 2);
		r->body = col_dup(st, 3);
		r->subject = col_dup(st, 4);
		r->from = col_dup(st, 5);
		r->to = col_dup(st, 6);
		r->cc = col_dup(st, 7);
		r->message_id = col_dup(st, 8);
		r->date = (time_t)sqlite3_column_int64(st, 9);
		r->preview = col_dup(st, 10);
	}
	store_stmt_done(st);
	int ret = store_row_result(s, rc);
	/*
	 * Columns a delivery left NULL are filled by a later delivery of the
	 * same bytes (store_blob_row_upsert's COALESCE); once a parse wrote
	 * them they never change. So only a row with the structure is kept:
	 * its other NULLs are final, except a preview missing since before
	 * schema step 9, which readers compute when they find NULL.
	 */
	if (ret == 1 && r->envelope != NULL && r->bodystructure != NULL && r->body != NULL)
		parsed_cache_put(s, blob_id, r);
	return ret;
}

void store_parsed_r_free(struct store_parsed_r *r)
{
	free(r->envelope);
	free(r->bodystructure);
	free(r->preview);
	free(r->body);
	free(r->subject);
	free(r->from);
	free(r->to);
	free(r->cc);
	free(r->message_id);
	memset(r, 0, sizeof(*r));
}

/* --- subscriptions ----------------------------------------------------- */

static int subscribe_tx(struct store *s, int64_t account_id, const char *name, bool on,
			const char **error_r)
{
	sqlite3_stmt *st;

	if (store_account_exists(s, account_id, error_r) < 0)
		return -1;
	if (on)
		st = store_stmt(s,
				"INSERT OR IGNORE INTO subscriptions(account_id, name)"
				" VALUES (?, ?)");
	else
		st = store_stmt(s, "DELETE FROM subscriptions WHERE account_id = ? AND name = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, name);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int store_mailbox_subscribe(struct store *s, int64_t account_id, const char *name, bool on,
			    const char **error_r)
{
	char mname[512];

	if (store_mailbox_normalize(s, name, mname, error_r) < 0 || store_tx_begin(s, error_r) < 0)
		return -1;
	int ret = subscribe_tx(s, account_id, mname, on, error_r);
	if (ret < 0) {
		store_tx_rollback(s);
		return -1;
	}
	/* Account waiters (NOTIFY SubscriptionChange) look again. */
	if (ret > 0)
		store_event_add(s, account_id, 0, 0);
	return store_tx_commit(s, error_r) < 0 ? -1 : ret;
}

int store_subscription_list(struct store *s, int64_t account_id,
			    void (*cb)(void *ctx, const char *name), void *ctx)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT name FROM subscriptions"
				      " WHERE account_id = ? ORDER BY name");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	return store_strlist_emit(s, st, cb, ctx);
}

/* --- status ------------------------------------------------------------ */

int store_mailbox_status(struct store *s, int64_t mailbox_id, struct store_mailbox_status *r)
{
	memset(r, 0, sizeof(*r));
	/* One statement: one read snapshot, so the numbers agree. */
	sqlite3_stmt *st = store_stmt(
		s,
		"SELECT b.uidnext, b.uidvalidity, b.highestmodseq,"
		" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id),"
		" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id"
		"  AND (m.flags & 1) = 0),"
		" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id"
		"  AND (m.flags & 8) <> 0),"
		" (SELECT COALESCE(SUM(m.size), 0) FROM messages m WHERE m.mailbox_id = b.id),"
		" (SELECT MIN(m.uid) FROM messages m WHERE m.mailbox_id = b.id"
		"  AND (m.flags & 1) = 0),"
		" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id AND m.uid <"
		"  (SELECT MIN(u.uid) FROM messages u WHERE u.mailbox_id = b.id"
		"   AND (u.flags & 1) = 0)),"
		" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id"
		"  AND m.uid >= b.recent_uid)"
		" FROM mailboxes b WHERE b.id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->uidnext = (uint32_t)sqlite3_column_int64(st, 0);
		r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 2);
		r->messages = (uint32_t)sqlite3_column_int64(st, 3);
		r->unseen = (uint32_t)sqlite3_column_int64(st, 4);
		r->deleted = (uint32_t)sqlite3_column_int64(st, 5);
		r->size = (uint64_t)sqlite3_column_int64(st, 6);
		if (sqlite3_column_type(st, 7) != SQLITE_NULL)
			r->first_unseen_seq = (uint32_t)sqlite3_column_int64(st, 8) + 1;
		r->recent = (uint32_t)sqlite3_column_int64(st, 9);
	}
	store_stmt_done(st);
	/* \Seen of a reader who does not own the mailbox (store-acl.c). */
	if (rc == SQLITE_ROW && store_seen_shared(s, mailbox_id, s->seen_reader) > 0 &&
	    store_seen_unseen_count(s, mailbox_id, s->seen_reader, &r->unseen,
				    &r->first_unseen_seq) < 0)
		return store_db_fail(s, NULL);
	return store_row_result(s, rc);
}

/*
 * Claim \Recent (RFC 3501 2.3.2): every UID from recent_uid up to (not
 * including) the smaller of up_to and uidnext. In one write transaction,
 * so two sessions never claim the same UID.
 */
static int claim_recent_tx(struct store *s, int64_t mailbox_id, uint32_t up_to, bool take,
			   uint32_t *first_r, uint32_t *end_r, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*first_r = (uint32_t)sqlite3_column_int64(st, 0);
		uint32_t uidnext = (uint32_t)sqlite3_column_int64(st, 1);
		*end_r = up_to < uidnext ? up_to : uidnext;
		if (*end_r < *first_r)
			*end_r = *first_r;
	}
	store_stmt_done(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? store_fail(s, error_r, "no such mailbox")
					 : store_db_fail(s, error_r);
	if (!take || *end_r == *first_r)
		return 0;
	st = store_stmt(s, "UPDATE mailboxes SET recent_uid = ? WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, *end_r);
	sqlite3_bind_int64(st, 2, mailbox_id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

int store_mailbox_claim_recent(struct store *s, int64_t mailbox_id, uint32_t up_to, bool take,
			       uint32_t *first_r, uint32_t *end_r, const char **error_r)
{
	*first_r = *end_r = 0;
	/*
	 * Not fsynced: this runs in a worker loop after every new message a
	 * rev1 session sees, and a claim undone by a power failure only shows
	 * those messages as \Recent once more, which RFC 3501 allows (it is
	 * "at most one session" while the server runs, a hint otherwise).
	 */
	store_sync_set(s, false);
	int r = store_tx_begin(s, error_r);
	if (r == 0 && claim_recent_tx(s, mailbox_id, up_to, take, first_r, end_r, error_r) < 0) {
		store_tx_rollback(s);
		*first_r = *end_r = 0;
		r = -1;
	} else if (r == 0) {
		r = store_tx_commit(s, error_r);
	}
	store_sync_set(s, true);
	return r;
}
