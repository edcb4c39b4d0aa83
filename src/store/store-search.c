/* SPDX-License-Identifier: MIT */
/*
 * The full-text index: one document per blob, since a blob's content
 * never changes and every mailbox entry that shares it (copies, moves,
 * one delivery to many recipients) shares its document. search_docs maps
 * a blob to its document number. Two FTS5 tables hold the document's
 * texts, which mime/ has already case-folded (struct mime_text):
 * - search_fts (schema step 6), trigram tokenizer, case-sensitive, with
 *   the text: a phrase query of a folded needle of three or more
 *   characters matches exactly the documents in which it is a substring;
 * - search_words (step 8), SQLite's ascii tokenizer (a token is a maximal
 *   run of ASCII letters and digits and non-ASCII bytes), detail=column
 *   (no positions) and no copy of the text, with search_terms listing
 *   every token. A needle made only of such bytes occurs in a text exactly
 *   when it is a substring of one of the text's tokens, so its documents
 *   are those of the terms that contain it: no positions to merge, which
 *   is what costs the trigram index ~50 us per document for a word found
 *   in every message.
 * Both give IMAP's SEARCH semantics exactly, not a pre-filter. Hits are
 * mapped to a mailbox's UIDs through search_mail (mailbox, uid -> doc,
 * kept by triggers): one lookup per hit when there are few, else one scan
 * of the mailbox's rows merged with the sorted hits, never a join per hit
 * across the store.
 * A document is written in the same transaction as its blob row when the
 * caller passed the text (every delivery path does); a blob written
 * without it is listed in search_pending until the backfill (search/)
 * indexes it. Triggers on blobs remove the documents with their blob.
 */
#include "store/store-private.h"

#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* A byte of a word: ASCII letter or digit, or any non-ASCII byte (FTS5 ascii). */
static bool word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		(c >= 'A' && c <= 'Z');
}

bool store_search_word_needle(const char *needle)
{
	if (needle[0] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)needle; *p != '\0'; p++)
		if (!word_byte(*p))
			return false;
	return true;
}

struct term {
	const char *p;
	size_t len;
};

static int cmp_term(const void *a, const void *b)
{
	const struct term *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/*
 * Add the tokens of texts to search_terms, as the ascii tokenizer cuts
 * them (the texts are folded already: no upper-case ASCII to fold).
 */
static int terms_add(struct store *s, const char *const *texts, size_t n_texts)
{
	struct term *t = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < n_texts; i++) {
		const unsigned char *p = (const unsigned char *)texts[i];
		while (*p != '\0') {
			if (!word_byte(*p)) {
				p++;
				continue;
			}
			const unsigned char *start = p;
			while (*p != '\0' && word_byte(*p))
				p++;
			if (n == cap) {
				cap = cap ? cap * 2 : 128;
				t = xrealloc(t, cap * sizeof(*t));
			}
			t[n++] = (struct term){(const char *)start, (size_t)(p - start)};
		}
	}
	if (n > 1)
		qsort(t, n, sizeof(*t), cmp_term);
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (i > 0 && cmp_term(&t[i - 1], &t[i]) == 0)
			continue;
		sqlite3_stmt *st =
			store_stmt(s, "INSERT OR IGNORE INTO search_terms(term) VALUES (?)");
		if (st == NULL)
			ret = -1;
		else {
			sqlite3_bind_text(st, 1, t[i].p, (int)t[i].len, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				ret = -1;
			store_stmt_done(st);
		}
	}
	free(t);
	return ret;
}

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
	static const char *const inserts[] = {
		"INSERT INTO search_fts(rowid, hdr, body, parts) VALUES (?, ?, ?, ?)",
		"INSERT INTO search_words(rowid, hdr, body, parts) VALUES (?, ?, ?, ?)",
	};
	for (size_t i = 0; i < 2; i++) {
		st = store_stmt(s, inserts[i]);
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
	}
	const char *const texts[] = {hdr, body, parts};
	if (terms_add(s, texts, 3) < 0)
		return store_db_fail(s, error_r);
	st = store_stmt(s, "DELETE FROM search_pending WHERE blob_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, blob_id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* FTS5 column filter of fields: "{ hdr body } : ". */
static void match_columns(struct buf *q, unsigned fields)
{
	buf_append_str(q, "{");
	if (fields & STORE_SEARCH_HDR)
		buf_append_str(q, " hdr");
	if (fields & STORE_SEARCH_BODY)
		buf_append_str(q, " body");
	if (fields & STORE_SEARCH_PARTS)
		buf_append_str(q, " parts");
	buf_append_str(q, " } : ");
}

/* s as one FTS5 string (a phrase for the trigram table, a term for words). */
static void match_string(struct buf *q, const char *str, size_t len)
{
	buf_append_str(q, "\"");
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"')
			buf_append(q, "\"", 1);
		buf_append(q, str + i, 1);
	}
	buf_append_str(q, "\"");
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

struct i64_list {
	int64_t *v;
	size_t n, cap;
};

static void i64_push(struct i64_list *l, int64_t x)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = x;
}

/* Sort (unless sorted already: one FTS5 query gives rowid order) and drop duplicates. */
static void i64_unique(struct i64_list *l)
{
	if (l->n < 2)
		return;
	size_t run = 1;
	while (run < l->n && l->v[run - 1] <= l->v[run])
		run++;
	if (run < l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_i64);
	size_t k = 1;
	for (size_t i = 1; i < l->n; i++)
		if (l->v[i] != l->v[k - 1])
			l->v[k++] = l->v[i];
	l->n = k;
}

/* Run st (bound) and append column 0 of each row to l. */
static int collect_i64(struct store *s, sqlite3_stmt *st, struct i64_list *l)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		i64_push(l, sqlite3_column_int64(st, 0));
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* Documents of the FTS5 query q on table (search_fts or search_words). */
static int docs_query(struct store *s, const char *sql, const struct buf *q, struct i64_list *l)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_text(st, 1, q->data, (int)q->len, SQLITE_TRANSIENT);
	return collect_i64(s, st, l);
}

/* Terms per FTS5 query: an OR of a few hundred terms stays cheap to parse. */
#define WORDS_PER_QUERY 256

/*
 * The documents holding a word needle: those of the terms that contain it
 * (one pass over search_terms), asked WORDS_PER_QUERY terms at a time.
 */
static int docs_words(struct store *s, unsigned fields, const char *needle, struct i64_list *l)
{
	/* memmem here rather than instr() in SQL: half the time per term. */
	sqlite3_stmt *st = store_stmt(s, "SELECT term FROM search_terms");
	if (st == NULL)
		return store_db_fail(s, NULL);
	size_t needle_len = strlen(needle);
	struct buf q;
	buf_init(&q);
	size_t in_query = 0;
	int rc, ret = 0;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *term = (const char *)sqlite3_column_blob(st, 0);
			size_t term_len = (size_t)sqlite3_column_bytes(st, 0);
			if (term_len < needle_len ||
			    memmem(term, term_len, needle, needle_len) == NULL)
				continue;
			if (in_query == 0) {
				match_columns(&q, fields);
				buf_append_str(&q, "(");
			} else {
				buf_append_str(&q, " OR ");
			}
			match_string(&q, term, term_len);
			if (++in_query < WORDS_PER_QUERY)
				continue;
		}
		if (in_query > 0)
			buf_append_str(&q, ")");
		if (in_query > 0 &&
		    docs_query(s, "SELECT rowid FROM search_words WHERE search_words MATCH ?", &q,
			       l) < 0) {
			ret = -1;
			break;
		}
		buf_clear(&q);
		in_query = 0;
		if (rc != SQLITE_ROW)
			break;
	}
	store_stmt_done(st);
	buf_deinit(&q);
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_db_fail(s, NULL);
	return ret;
}

/* The documents (sorted, unique) whose fields hold needle. */
static int docs_match(struct store *s, unsigned fields, const char *needle, struct i64_list *l)
{
	*l = (struct i64_list){0};
	int r;
	if (store_search_word_needle(needle)) {
		r = docs_words(s, fields, needle, l);
	} else {
		struct buf q;
		buf_init(&q);
		match_columns(&q, fields);
		match_string(&q, needle, strlen(needle));
		r = docs_query(s, "SELECT rowid FROM search_fts WHERE search_fts MATCH ?", &q, l);
		buf_deinit(&q);
	}
	if (r < 0) {
		free(l->v);
		*l = (struct i64_list){0};
		return -1;
	}
	i64_unique(l);
	return 0;
}

/* Hits up to which each is looked up alone; past it, the mailbox is scanned. */
#define SEARCH_LOOKUP_MAX 512

/*
 * UIDs of mailbox_id's entries whose document is in docs (sorted): a
 * lookup per document when there are few (a rare word), else one pass
 * over the mailbox's rows of search_mail, in UID order, each checked
 * against docs by binary search (a common word: no SQL per hit).
 */
static int docs_to_uids(struct store *s, int64_t mailbox_id, const struct i64_list *docs,
			uint32_t **uids_r, size_t *n_r)
{
	struct i64_list u = {0};
	int rc = SQLITE_DONE;
	if (docs->n <= SEARCH_LOOKUP_MAX) {
		for (size_t i = 0; i < docs->n && rc == SQLITE_DONE; i++) {
			sqlite3_stmt *st = store_stmt(
				s, "SELECT uid FROM search_mail WHERE doc = ? AND mailbox_id = ?");
			if (st == NULL)
				return store_db_fail(s, NULL);
			sqlite3_bind_int64(st, 1, docs->v[i]);
			sqlite3_bind_int64(st, 2, mailbox_id);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW)
				i64_push(&u, sqlite3_column_int64(st, 0));
			store_stmt_done(st);
		}
	} else if (docs->n > 0) {
		/* A bit per document number up to the highest hit. */
		int64_t max = docs->v[docs->n - 1];
		uint8_t *bits = xcalloc((size_t)(max / 8) + 1, 1);
		for (size_t i = 0; i < docs->n; i++)
			if (docs->v[i] >= 0)
				bits[docs->v[i] / 8] |= (uint8_t)(1u << (docs->v[i] % 8));
		sqlite3_stmt *st =
			store_stmt(s, "SELECT uid, doc FROM search_mail WHERE mailbox_id = ?");
		if (st == NULL) {
			free(bits);
			return store_db_fail(s, NULL);
		}
		sqlite3_bind_int64(st, 1, mailbox_id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t doc = sqlite3_column_int64(st, 1);
			if (doc >= 0 && doc <= max && (bits[doc / 8] & (1u << (doc % 8))) != 0)
				i64_push(&u, sqlite3_column_int64(st, 0));
		}
		store_stmt_done(st);
		free(bits);
	}
	if (rc != SQLITE_DONE) {
		free(u.v);
		return store_db_fail(s, NULL);
	}
	uint32_t *out = xcalloc(u.n > 0 ? u.n : 1, sizeof(*out));
	for (size_t i = 0; i < u.n; i++)
		out[i] = (uint32_t)u.v[i];
	free(u.v);
	bool sorted = true;
	for (size_t i = 1; i < u.n && sorted; i++)
		sorted = out[i - 1] < out[i];
	if (!sorted)
		qsort(out, u.n, sizeof(*out), cmp_u32);
	*uids_r = out;
	*n_r = u.n;
	return 0;
}

int store_search_match(struct store *s, int64_t mailbox_id, unsigned fields, const char *needle,
		       uint32_t **uids_r, size_t *n_r)
{
	*uids_r = NULL;
	*n_r = 0;
	struct i64_list docs;
	if (docs_match(s, fields, needle, &docs) < 0)
		return -1;
	int r = docs_to_uids(s, mailbox_id, &docs, uids_r, n_r);
	free(docs.v);
	return r;
}

int store_search_match_account(struct store *s, int64_t account_id, unsigned fields,
			       const char *needle, int64_t **ids_r, size_t *n_r)
{
	*ids_r = NULL;
	*n_r = 0;
	struct i64_list docs, ids = {0};
	if (docs_match(s, fields, needle, &docs) < 0)
		return -1;
	int ret = 0;
	for (size_t i = 0; i < docs.n && ret == 0; i++) {
		sqlite3_stmt *st = store_stmt(s,
					      "SELECT m.id FROM search_docs d"
					      " CROSS JOIN messages m ON m.blob_id = d.blob_id"
					      " CROSS JOIN mailboxes b ON b.id = m.mailbox_id"
					      " WHERE d.id = ? AND b.account_id = ?");
		if (st == NULL) {
			ret = store_db_fail(s, NULL);
			break;
		}
		sqlite3_bind_int64(st, 1, docs.v[i]);
		sqlite3_bind_int64(st, 2, account_id);
		ret = collect_i64(s, st, &ids);
	}
	free(docs.v);
	if (ret < 0) {
		free(ids.v);
		return -1;
	}
	i64_unique(&ids);
	*ids_r = ids.v;
	*n_r = ids.n;
	return 0;
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
	struct i64_list l = {0};
	if (collect_i64(s, st, &l) < 0) {
		free(l.v);
		return -1;
	}
	uint32_t *u = xcalloc(l.n > 0 ? l.n : 1, sizeof(*u));
	for (size_t i = 0; i < l.n; i++)
		u[i] = (uint32_t)l.v[i];
	free(l.v);
	*uids_r = u;
	*n_r = l.n;
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
	struct i64_list l = {0};
	*ids_r = NULL;
	*n_r = 0;
	if (body &&
	    store_search_match_account(s, account_id, STORE_SEARCH_BODY, needle, &l.v, &l.n) < 0)
		return -1;
	l.cap = l.n;
	if (n_names > 0) {
		/* The header column holds every field: keep the rows where one of names has it. */
		sqlite3_stmt *st = store_stmt(s,
					      "SELECT m.id, f.hdr FROM search_fts f"
					      " CROSS JOIN search_docs d ON d.id = f.rowid"
					      " CROSS JOIN messages m ON m.blob_id = d.blob_id"
					      " CROSS JOIN mailboxes b ON b.id = m.mailbox_id"
					      " WHERE search_fts MATCH ? AND b.account_id = ?");
		if (st == NULL) {
			free(l.v);
			return store_db_fail(s, NULL);
		}
		struct buf q;
		buf_init(&q);
		match_columns(&q, STORE_SEARCH_HDR);
		match_string(&q, needle, strlen(needle));
		sqlite3_bind_text(st, 1, q.data, (int)q.len, SQLITE_TRANSIENT);
		buf_deinit(&q);
		sqlite3_bind_int64(st, 2, account_id);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *hdr = (const char *)sqlite3_column_text(st, 1);
			if (hdr != NULL && hdr_fields_have(hdr, names, n_names, needle))
				i64_push(&l, sqlite3_column_int64(st, 0));
		}
		store_stmt_done(st);
		if (rc != SQLITE_DONE) {
			free(l.v);
			return store_db_fail(s, NULL);
		}
	}
	i64_unique(&l);
	*ids_r = l.v;
	*n_r = l.n;
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
	struct i64_list l = {0};
	if (collect_i64(s, st, &l) < 0) {
		free(l.v);
		return -1;
	}
	*ids_r = l.v;
	*n_r = l.n;
	return 0;
}
