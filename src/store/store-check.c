/* SPDX-License-Identifier: MIT */
/*
 * Consistency of a store (`facteur check-store`) and the collection of
 * orphan blobs. A crash between a blob's write and the commit that names
 * it leaves a file no row refers to (store-blob.c writes first, on
 * purpose: never a row without its file). store_orphans_collect removes
 * such files; the daemon runs it at start. It is safe beside deliveries:
 * each file is re-checked and unlinked inside a write transaction, and
 * every delivery re-checks its own file under that same lock before it
 * commits (rewriting it when it is gone), so no row can come to name a file
 * the sweep removed. store_check looks at everything else: SQLite's
 * integrity and foreign keys, every blob row's file (present, its size, its
 * SHA-256), UIDs and MODSEQs within their mailbox's bounds, blob rows
 * nothing refers to; with repair it fixes what can be fixed without
 * guessing (orphans, bounds) and reports the rest.
 */
#include "store/store-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files re-checked and removed per write transaction. */
#define CHECK_BATCH 1000

static bool hex2(const char *n)
{
	return strlen(n) == 2 && strspn(n, "0123456789abcdef") == 2;
}

/* Does a blob row name id? 1 / 0 / -1. */
static int blob_row_exists(struct store *s, const char *id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM blobs WHERE id = ?");
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	int r = store_row_result(s, sqlite3_step(st));
	store_stmt_done(st);
	return r;
}

/* Blob files without a row, read without a lock (candidates only). */
static int orphan_candidates(struct store *s, struct store_idlist *l, const char **error_r)
{
	DIR *top = opendir(s->blob_dir);
	if (top == NULL)
		return store_fail(s, error_r, "cannot read %s: %s", s->blob_dir, strerror(errno));
	struct dirent *de;
	int ret = 0;
	while (ret == 0 && (de = readdir(top)) != NULL) {
		if (!hex2(de->d_name))
			continue;
		char *sub = xasprintf("%s/%s", s->blob_dir, de->d_name);
		DIR *d = opendir(sub);
		free(sub);
		if (d == NULL)
			continue;
		struct dirent *fe;
		while (ret == 0 && (fe = readdir(d)) != NULL) {
			if (!store_blob_id_valid(fe->d_name) ||
			    strncmp(fe->d_name, de->d_name, 2) != 0)
				continue;
			int r = blob_row_exists(s, fe->d_name);
			if (r < 0)
				ret = store_db_fail(s, error_r);
			else if (r == 0)
				store_idlist_add(l, fe->d_name);
		}
		closedir(d);
	}
	closedir(top);
	return ret;
}

/* Unlink the candidates that still have no row, under the write lock. */
static int orphans_remove(struct store *s, const struct store_idlist *l, unsigned *removed_r,
			  const char **error_r)
{
	for (size_t i = 0; i < l->n; i += CHECK_BATCH) {
		if (store_tx_begin(s, error_r) < 0)
			return -1;
		for (size_t j = i; j < l->n && j < i + CHECK_BATCH; j++) {
			int r = blob_row_exists(s, l->ids[j]);
			if (r < 0) {
				store_tx_rollback(s);
				return store_db_fail(s, error_r);
			}
			if (r == 0 && store_blob_unlink(s, l->ids[j]) == 0)
				(*removed_r)++;
		}
		if (store_tx_commit(s, error_r) < 0)
			return -1;
	}
	return 0;
}

int store_orphans_collect(struct store *s, unsigned *removed_r, const char **error_r)
{
	struct store_idlist l = {0};
	*removed_r = 0;
	int ret = orphan_candidates(s, &l, error_r);
	if (ret == 0)
		ret = orphans_remove(s, &l, removed_r, error_r);
	store_idlist_free(&l);
	return ret;
}

/* --- check-store ------------------------------------------------------------ */

struct check_ctx {
	struct store *s;
	bool repair;
	void (*report)(void *ctx, const char *line);
	void *report_ctx;
	struct store_check_result *r;
};

static void __attribute__((format(printf, 2, 3)))
check_say(struct check_ctx *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->report(c->report_ctx, line);
}

/* A problem found: repaired (fixed true) or left. */
static void check_problem(struct check_ctx *c, bool fixed)
{
	c->r->problems++;
	if (fixed)
		c->r->repaired++;
	else
		c->r->unfixable++;
}

/* PRAGMA integrity_check and foreign_key_check: reported, never fixed here. */
static int check_sqlite(struct check_ctx *c, const char **error_r)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
		return store_db_fail(c->s, error_r);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(st, 0);
		if (msg != NULL && strcmp(msg, "ok") == 0)
			continue;
		check_say(c, "integrity: %s (cannot repair: restore from a backup)",
			  msg ? msg : "?");
		check_problem(c, false);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(c->s, error_r);
	if (sqlite3_prepare_v2(c->s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return store_db_fail(c->s, error_r);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		check_say(c, "foreign key: %s row %lld refers to a missing %s row (cannot repair)",
			  (const char *)sqlite3_column_text(st, 0),
			  (long long)sqlite3_column_int64(st, 1),
			  (const char *)sqlite3_column_text(st, 2));
		check_problem(c, false);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(c->s, error_r);
}

/* SHA-256 and size of one blob file. 1 read, 0 missing, -1 unreadable. */
static int blob_digest(struct store *s, const char *id, char *hex, uint64_t *size_r)
{
	static const char digits[] = "0123456789abcdef";
	int fd = store_blob_open(s, id);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char buf[65536];
	ssize_t n;
	uint64_t total = 0;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort(); /* as store_blob_hash: only a broken libcrypto fails here */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
	if (n < 0)
		return -1;
	for (unsigned int i = 0; i < len && i < 32; i++) {
		hex[2 * i] = digits[out[i] >> 4];
		hex[2 * i + 1] = digits[out[i] & 15];
	}
	hex[STORE_BLOB_ID_LEN] = '\0';
	*size_r = total;
	return 1;
}

/* Every blob row: its file present, of the row's size, hashing to its id. */
static int check_blob_files(struct check_ctx *c, const char **error_r)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->s->db, "SELECT id, size FROM blobs ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK)
		return store_db_fail(c->s, error_r);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char id[STORE_BLOB_ID_LEN + 1], hex[STORE_BLOB_ID_LEN + 1];
		store_col_copy(st, 0, id, sizeof(id));
		uint64_t want = (uint64_t)sqlite3_column_int64(st, 1), size = 0;
		if (!store_blob_id_valid(id)) {
			check_say(c, "blob row with a malformed id (cannot repair)");
			check_problem(c, false);
			continue;
		}
		int r = blob_digest(c->s, id, hex, &size);
		if (r == 0)
			check_say(c, "blob %s: file missing (cannot repair)", id);
		else if (r < 0)
			check_say(c, "blob %s: file unreadable: %s (cannot repair)", id,
				  strerror(errno));
		else if (size != want)
			check_say(c,
				  "blob %s: %" PRIu64 " bytes, the row says %" PRIu64
				  " (cannot repair)",
				  id, size, want);
		else if (strcmp(hex, id) != 0)
			check_say(c, "blob %s: content hashes to %s (cannot repair)", id, hex);
		else
			continue;
		check_problem(c, false);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(c->s, error_r);
}

/* UIDs below UIDNEXT and above 0, MODSEQs at most HIGHESTMODSEQ. */
static int check_bounds(struct check_ctx *c, const char **error_r)
{
	static const char sql[] =
		"SELECT b.id, b.uidnext, b.highestmodseq, MIN(m.uid), MAX(m.uid), MAX(m.modseq)"
		" FROM mailboxes b JOIN messages m ON m.mailbox_id = b.id GROUP BY b.id"
		" HAVING MIN(m.uid) < 1 OR MAX(m.uid) >= b.uidnext"
		" OR MAX(m.modseq) > b.highestmodseq";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_db_fail(c->s, error_r);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int64_t uidnext = sqlite3_column_int64(st, 1), hms = sqlite3_column_int64(st, 2);
		int64_t min_uid = sqlite3_column_int64(st, 3),
			max_uid = sqlite3_column_int64(st, 4);
		int64_t max_ms = sqlite3_column_int64(st, 5);
		if (min_uid < 1) {
			check_say(c,
				  "mailbox %" PRId64 ": a message has UID %" PRId64
				  " (cannot repair)",
				  id, min_uid);
			check_problem(c, false);
		}
		if (max_uid < uidnext && max_ms <= hms)
			continue;
		check_say(c,
			  "mailbox %" PRId64 ": UIDNEXT %" PRId64 " HIGHESTMODSEQ %" PRId64
			  " but a message has UID %" PRId64 " MODSEQ %" PRId64 "%s",
			  id, uidnext, hms, max_uid, max_ms, c->repair ? " (raised)" : "");
		bool fixed = false;
		if (c->repair) {
			char upd[256];
			snprintf(upd, sizeof(upd),
				 "UPDATE mailboxes SET uidnext = MAX(uidnext, %" PRId64 "),"
				 " highestmodseq = MAX(highestmodseq, %" PRId64
				 ") WHERE id = %" PRId64,
				 max_uid + 1, max_ms, id);
			fixed = sqlite3_exec(c->s->db, upd, NULL, NULL, NULL) == SQLITE_OK;
		}
		check_problem(c, fixed);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(c->s, error_r);
}

/* Blob rows nothing refers to (no message, queue entry, upload or hold). */
static int check_unreferenced(struct check_ctx *c, const char **error_r)
{
	struct store_idlist l = {0};
	sqlite3_stmt *st =
		store_stmt(c->s,
			   "SELECT id FROM blobs b WHERE"
			   " NOT EXISTS(SELECT 1 FROM messages WHERE blob_id = b.id)"
			   " AND NOT EXISTS(SELECT 1 FROM queue WHERE blob_id = b.id)"
			   " AND NOT EXISTS(SELECT 1 FROM jmap_uploads WHERE blob_id = b.id)"
			   " AND NOT EXISTS(SELECT 1 FROM held_blobs WHERE blob_id = b.id)");
	if (st == NULL || store_idlist_collect(c->s, st, &l, error_r) < 0) {
		store_idlist_free(&l);
		return st == NULL ? store_db_fail(c->s, error_r) : -1;
	}
	for (size_t i = 0; i < l.n; i++) {
		check_say(c, "blob %s: no message refers to it%s", l.ids[i],
			  c->repair ? " (removed)" : "");
		check_problem(c, c->repair);
	}
	if (c->repair)
		store_blob_gc(c->s, &l);
	store_idlist_free(&l);
	return 0;
}

static int check_orphan_files(struct check_ctx *c, const char **error_r)
{
	struct store_idlist l = {0};
	unsigned removed = 0;
	int ret = orphan_candidates(c->s, &l, error_r);
	if (ret == 0 && c->repair)
		ret = orphans_remove(c->s, &l, &removed, error_r);
	if (ret == 0) {
		for (size_t i = 0; i < l.n; i++)
			check_say(c, "blob %s: orphan file, no row names it%s", l.ids[i],
				  c->repair ? " (removed)" : "");
		c->r->problems += (unsigned)l.n;
		c->r->repaired += removed;
		c->r->unfixable += (unsigned)l.n - removed;
	}
	store_idlist_free(&l);
	return ret;
}

int store_check(struct store *s, bool repair, void (*report)(void *ctx, const char *line),
		void *ctx, struct store_check_result *r, const char **error_r)
{
	struct check_ctx c = {s, repair, report, ctx, r};
	memset(r, 0, sizeof(*r));
	if (check_sqlite(&c, error_r) < 0)
		return -1;
	if (repair && store_tx_begin(s, error_r) < 0)
		return -1;
	int ret = check_bounds(&c, error_r);
	if (repair) {
		if (ret == 0)
			ret = store_tx_commit(s, error_r);
		else
			store_tx_rollback(s);
	}
	if (ret == 0)
		ret = check_unreferenced(&c, error_r);
	if (ret == 0)
		ret = check_orphan_files(&c, error_r);
	if (ret == 0)
		ret = check_blob_files(&c, error_r);
	return ret;
}
