/* SPDX-License-Identifier: MIT */
/*
 * The full-text index (schema step 6): one document per blob, since a
 * blob's content never changes and every mailbox entry that shares it
 * (copies, moves, one delivery to many recipients) shares its document.
 * search_docs maps a blob to its document number; search_fts is an FTS5
 * table with SQLite's trigram tokenizer, case-sensitive, over texts that
 * mime/ has already case-folded (struct mime_text): a phrase query of a
 * folded needle of three or more characters then matches exactly the
 * documents in which it is a substring, which is IMAP's SEARCH semantics.
 * A document is written in the same transaction as its blob row when the
 * caller passed the text (every delivery path does); a blob written
 * without it is listed in search_pending until the backfill (search/)
 * indexes it. A trigger on blobs removes the document with its blob.
 */
#include "store/store-private.h"

#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

int store_search_index_put(struct store *s, const char *blob_id, const char *hdr, const char *body,
			   const char *parts, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM search_docs WHERE blob_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, blob_id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc == SQLITE_ROW)
		return 0; /* content is immutable: indexed once */
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	if (hdr == NULL || body == NULL || parts == NULL) {
		st = store_stmt(s, "INSERT OR IGNORE INTO search_pending(blob_id) VALUES (?)");
		if (st == NULL)
			return store_db_fail(s, error_r);
		store_bind_text(st, 1, blob_id);
		rc = sqlite3_step(st);
		store_stmt_done(st);
		return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
	}
	st = store_stmt(s, "INSERT INTO search_docs(blob_id) VALUES (?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, blob_id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	int64_t doc = sqlite3_last_insert_rowid(s->db);
	st = store_stmt(s, "INSERT INTO search_fts(rowid, hdr, body, parts) VALUES (?, ?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, doc);
	store_bind_text(st, 2, hdr);
	store_bind_text(st, 3, body);
	store_bind_text(st, 4, parts);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	st = store_stmt(s, "DELETE FROM search_pending WHERE blob_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, blob_id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* FTS5 query text: the column filter and the needle as one quoted phrase. */
static char *match_query(unsigned fields, const char *needle)
{
	struct buf q;
	buf_init(&q);
	buf_append_str(&q, "{");
	if (fields & STORE_SEARCH_HDR)
		buf_append_str(&q, " hdr");
	if (fields & STORE_SEARCH_BODY)
		buf_append_str(&q, " body");
	if (fields & STORE_SEARCH_PARTS)
		buf_append_str(&q, " parts");
	buf_append_str(&q, " } : \"");
	for (const char *p = needle; *p != '\0'; p++) {
		if (*p == '"')
			buf_append(&q, "\"", 1);
		buf_append(&q, p, 1);
	}
	buf_append_str(&q, "\"");
	return (char *)buf_cstr(&q);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Run st (bound) and collect column 0 as sorted int64 values. The query
 * starts from the index (CROSS JOIN fixes the order): the work grows with
 * the documents that match, not with the mailbox.
 */
static int collect_i64(struct store *s, sqlite3_stmt *st, int64_t **v_r, size_t *n_r)
{
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = sqlite3_column_int64(st, 0);
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_db_fail(s, NULL);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_i64);
	*v_r = v;
	*n_r = n;
	return 0;
}

int store_search_match(struct store *s, int64_t mailbox_id, unsigned fields, const char *needle,
		       uint32_t **uids_r, size_t *n_r)
{
	*uids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT m.uid FROM search_fts f"
				      " CROSS JOIN search_docs d ON d.id = f.rowid"
				      " CROSS JOIN messages m ON m.blob_id = d.blob_id"
				      " WHERE search_fts MATCH ? AND +m.mailbox_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	char *q = match_query(fields, needle);
	sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
	free(q);
	sqlite3_bind_int64(st, 2, mailbox_id);
	int64_t *v = NULL;
	size_t n = 0;
	if (collect_i64(s, st, &v, &n) < 0)
		return -1;
	uint32_t *u = xcalloc(n > 0 ? n : 1, sizeof(*u));
	for (size_t i = 0; i < n; i++)
		u[i] = (uint32_t)v[i];
	free(v);
	if (n > 1)
		qsort(u, n, sizeof(*u), cmp_u32);
	*uids_r = u;
	*n_r = n;
	return 0;
}

int store_search_match_account(struct store *s, int64_t account_id, unsigned fields,
			       const char *needle, int64_t **ids_r, size_t *n_r)
{
	*ids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT m.id FROM search_fts f"
				      " CROSS JOIN search_docs d ON d.id = f.rowid"
				      " CROSS JOIN messages m ON m.blob_id = d.blob_id"
				      " CROSS JOIN mailboxes b ON b.id = m.mailbox_id"
				      " WHERE search_fts MATCH ? AND b.account_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	char *q = match_query(fields, needle);
	sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
	free(q);
	sqlite3_bind_int64(st, 2, account_id);
	return collect_i64(s, st, ids_r, n_r);
}

int store_search_pending_uids(struct store *s, int64_t mailbox_id, uint32_t **uids_r, size_t *n_r)
{
	*uids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT m.uid FROM search_pending p"
				      " CROSS JOIN messages m ON m.blob_id = p.blob_id"
				      " WHERE +m.mailbox_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int64_t *v = NULL;
	size_t n = 0;
	if (collect_i64(s, st, &v, &n) < 0)
		return -1;
	uint32_t *u = xcalloc(n > 0 ? n : 1, sizeof(*u));
	for (size_t i = 0; i < n; i++)
		u[i] = (uint32_t)v[i];
	free(v);
	*uids_r = u;
	*n_r = n;
	return 0;
}

static char *col_text(sqlite3_stmt *st, int col, size_t *len_r)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);
	char *r = xmalloc(len + 1);
	if (len > 0)
		memcpy(r, v, len);
	r[len] = '\0';
	*len_r = len;
	return r;
}

int store_search_doc_get(struct store *s, const char *blob_id, struct store_search_doc *r)
{
	memset(r, 0, sizeof(*r));
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT f.hdr, f.body, f.parts FROM search_docs d"
			   " CROSS JOIN search_fts f ON f.rowid = d.id WHERE d.blob_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	store_bind_text(st, 1, blob_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->hdr = col_text(st, 0, &r->hdr_len);
		r->body = col_text(st, 1, &r->body_len);
		r->parts = col_text(st, 2, &r->parts_len);
	}
	store_stmt_done(st);
	return store_row_result(s, rc);
}

void store_search_doc_free(struct store_search_doc *r)
{
	free(r->hdr);
	free(r->body);
	free(r->parts);
	memset(r, 0, sizeof(*r));
}

int store_search_pending_list(struct store *s, size_t max, char (**ids_r)[STORE_BLOB_ID_LEN + 1],
			      size_t *n_r)
{
	*ids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s, "SELECT blob_id FROM search_pending LIMIT ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, (int64_t)max);
	struct store_idlist l = {0};
	if (store_idlist_collect(s, st, &l, NULL) < 0) {
		store_idlist_free(&l);
		return -1;
	}
	*ids_r = l.ids;
	*n_r = l.n;
	return 0;
}

int store_search_index_batch(struct store *s, const struct store_search_doc *docs,
			     const char *const *blob_ids, size_t n, const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct store_search_doc *d = &docs[i];
		/* A blob deleted meanwhile: nothing to index (no orphan document). */
		sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM blobs WHERE id = ?");
		if (st == NULL) {
			store_tx_rollback(s);
			return store_db_fail(s, error_r);
		}
		store_bind_text(st, 1, blob_ids[i]);
		int rc = sqlite3_step(st);
		store_stmt_done(st);
		if (rc == SQLITE_DONE) {
			st = store_stmt(s, "DELETE FROM search_pending WHERE blob_id = ?");
			if (st != NULL) {
				store_bind_text(st, 1, blob_ids[i]);
				rc = sqlite3_step(st);
				store_stmt_done(st);
			}
			if (st == NULL || rc != SQLITE_DONE) {
				store_tx_rollback(s);
				return store_db_fail(s, error_r);
			}
			continue;
		}
		if (rc != SQLITE_ROW ||
		    store_search_index_put(s, blob_ids[i], d->hdr, d->body, d->parts, error_r) <
			    0) {
			store_tx_rollback(s);
			return rc != SQLITE_ROW ? store_db_fail(s, error_r) : -1;
		}
	}
	return store_tx_commit(s, error_r);
}

/* --- JMAP (Email/query's text conditions) -------------------------------- */

/* Is needle (folded) in the value of one of the fields names[] of hdr (a document's hdr text)? */
static bool hdr_fields_have(const char *hdr, const char *const *names, size_t n_names,
			    const char *needle)
{
	size_t nlen = strlen(needle);
	for (const char *line = hdr; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		for (size_t i = 0; i < n_names; i++) {
			size_t fl = strlen(names[i]);
			if (len >= fl + 2 && memcmp(line, names[i], fl) == 0 && line[fl] == ':' &&
			    line[fl + 1] == ' ' &&
			    memmem(line + fl + 2, len - fl - 2, needle, nlen) != NULL)
				return true;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return false;
}

bool store_search_doc_fields_have(const struct store_search_doc *d, const char *const *names,
				  size_t n_names, bool body, const char *needle)
{
	if (body && d->body != NULL && memmem(d->body, d->body_len, needle, strlen(needle)) != NULL)
		return true;
	return d->hdr != NULL && hdr_fields_have(d->hdr, names, n_names, needle);
}

int store_search_match_fields(struct store *s, int64_t account_id, const char *const *names,
			      size_t n_names, bool body, const char *needle, int64_t **ids_r,
			      size_t *n_r)
{
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	*ids_r = NULL;
	*n_r = 0;
	if (body &&
	    store_search_match_account(s, account_id, STORE_SEARCH_BODY, needle, &v, &n) < 0)
		return -1;
	cap = n;
	if (n_names > 0) {
		/* The header column holds every field: keep the rows where one of names has it. */
		sqlite3_stmt *st = store_stmt(s,
					      "SELECT m.id, f.hdr FROM search_fts f"
					      " CROSS JOIN search_docs d ON d.id = f.rowid"
					      " CROSS JOIN messages m ON m.blob_id = d.blob_id"
					      " CROSS JOIN mailboxes b ON b.id = m.mailbox_id"
					      " WHERE search_fts MATCH ? AND b.account_id = ?");
		if (st == NULL) {
			free(v);
			return store_db_fail(s, NULL);
		}
		char *q = match_query(STORE_SEARCH_HDR, needle);
		sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
		free(q);
		sqlite3_bind_int64(st, 2, account_id);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *hdr = (const char *)sqlite3_column_text(st, 1);
			if (hdr == NULL || !hdr_fields_have(hdr, names, n_names, needle))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = sqlite3_column_int64(st, 0);
		}
		store_stmt_done(st);
		if (rc != SQLITE_DONE) {
			free(v);
			return store_db_fail(s, NULL);
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_i64);
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (out == 0 || v[out - 1] != v[i])
			v[out++] = v[i];
	*ids_r = v;
	*n_r = out;
	return 0;
}

int store_search_pending_account(struct store *s, int64_t account_id, int64_t **ids_r, size_t *n_r)
{
	*ids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT m.id FROM search_pending p"
				      " CROSS JOIN messages m ON m.blob_id = p.blob_id"
				      " CROSS JOIN mailboxes b ON b.id = m.mailbox_id"
				      " WHERE b.account_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	return collect_i64(s, st, ids_r, n_r);
}
