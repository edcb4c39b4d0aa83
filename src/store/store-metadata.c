/* SPDX-License-Identifier: MIT */
/*
 * METADATA entries (RFC 5464; issue 8 part 3, schema step 8): annotations
 * of a mailbox or of the server, each either /shared (one value for every
 * reader) or /private (one value per account). Table metadata keys a row
 * by (mailbox or NULL for the server, account or NULL for /shared, name);
 * the foreign keys cascade, so entries go with their mailbox or account
 * and follow a mailbox through RENAME. Names are case-insensitive and
 * stored lower-cased; values are octets (a literal8 may hold NULs). A
 * process-wide generation counter lets NOTIFY sessions skip re-reading
 * entries when nothing was set since they last looked.
 */
#include "store/store-private.h"

#include "lib/util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t metadata_generation;

uint64_t store_metadata_generation(void)
{
	return atomic_load(&metadata_generation);
}

static char *lower_dup(const char *name)
{
	char *l = xstrdup(name);
	for (char *p = l; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	return l;
}

/* /private entries are the account's, /shared ones nobody's (0 here). */
static int64_t scope_of(const char *name, int64_t account_id)
{
	return strncmp(name, "/private", 8) == 0 ? account_id : 0;
}

struct md_row {
	char *name;
	char *value;
	size_t len;
};

/* Is name within depth levels below entry (entry itself included)? */
static bool depth_ok(const char *entry, const char *name, int depth)
{
	if (entry[0] == '\0' || depth == STORE_METADATA_DEPTH_INFINITY)
		return true;
	size_t n = strlen(entry);
	if (name[n] == '\0')
		return true;
	return depth >= 1 && strchr(name + n + 1, '/') == NULL;
}

int store_metadata_get(struct store *s, int64_t mailbox_id, int64_t account_id, const char *entry,
		       int depth,
		       void (*cb)(void *ctx, const char *name, const char *value, size_t len),
		       void *ctx)
{
	char *key = lower_dup(entry);
	sqlite3_stmt *st;
	if (key[0] == '\0') {
		st = store_stmt(s,
				"SELECT name, value FROM metadata WHERE ifnull(mailbox_id, 0) = ?1"
				" AND ifnull(account_id, 0) IN (0, ?2) ORDER BY name");
	} else {
		st = store_stmt(s,
				"SELECT name, value FROM metadata WHERE ifnull(mailbox_id, 0) = ?1"
				" AND ifnull(account_id, 0) = ?2 AND (name = ?3 OR (?4 <> 0 AND"
				" substr(name, 1, length(?3) + 1) = ?3 || '/')) ORDER BY name");
	}
	if (st == NULL) {
		free(key);
		return store_db_fail(s, NULL);
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	if (key[0] == '\0') {
		sqlite3_bind_int64(st, 2, account_id);
	} else {
		sqlite3_bind_int64(st, 2, scope_of(key, account_id));
		store_bind_text(st, 3, key);
		sqlite3_bind_int(st, 4, depth != 0);
	}
	struct md_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (name == NULL || !depth_ok(key, name, depth))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		const void *v = sqlite3_column_blob(st, 1);
		rows[n].name = xstrdup(name);
		rows[n].value = xmalloc(len + 1);
		if (len > 0)
			memcpy(rows[n].value, v, len);
		rows[n].value[len] = '\0';
		rows[n].len = len;
		n++;
	}
	store_stmt_done(st);
	free(key);
	/* Callbacks after the statement is done: they may use the store. */
	for (size_t i = 0; i < n; i++) {
		if (rc == SQLITE_DONE)
			cb(ctx, rows[i].name, rows[i].value, rows[i].len);
		free(rows[i].name);
		free(rows[i].value);
	}
	free(rows);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* Bind the row key: ?1 mailbox (NULL: server), ?2 account (NULL: /shared), ?3 name. */
static void bind_key(sqlite3_stmt *st, int64_t mailbox_id, int64_t scope, const char *name)
{
	if (mailbox_id > 0)
		sqlite3_bind_int64(st, 1, mailbox_id);
	else
		sqlite3_bind_null(st, 1);
	if (scope > 0)
		sqlite3_bind_int64(st, 2, scope);
	else
		sqlite3_bind_null(st, 2);
	store_bind_text(st, 3, name);
}

static int set_one(struct store *s, int64_t mailbox_id, int64_t account_id,
		   const struct store_metadata_entry *e, const char **error_r)
{
	char *name = lower_dup(e->name);
	int64_t scope = scope_of(name, account_id);
	sqlite3_stmt *st =
		store_stmt(s,
			   "DELETE FROM metadata WHERE ifnull(mailbox_id, 0) = ifnull(?1, 0)"
			   " AND ifnull(account_id, 0) = ifnull(?2, 0) AND name = ?3");
	if (st == NULL) {
		free(name);
		return store_db_fail(s, error_r);
	}
	bind_key(st, mailbox_id, scope, name);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc == SQLITE_DONE && e->value != NULL) {
		st = store_stmt(s,
				"INSERT INTO metadata(mailbox_id, account_id, name, value)"
				" VALUES (?1, ?2, ?3, ?4)");
		if (st == NULL) {
			free(name);
			return store_db_fail(s, error_r);
		}
		bind_key(st, mailbox_id, scope, name);
		sqlite3_bind_blob(st, 4, e->len > 0 ? e->value : "", (int)e->len, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		store_stmt_done(st);
	}
	free(name);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* Entries of one scope of the mailbox (or server): 1 within max, 0 over, -1. */
static int count_ok(struct store *s, int64_t mailbox_id, int64_t scope, size_t max)
{
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT count(*) FROM metadata WHERE ifnull(mailbox_id, 0) = ?1"
			   " AND ifnull(account_id, 0) = ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, scope);
	int rc = sqlite3_step(st);
	int64_t count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	store_stmt_done(st);
	if (rc != SQLITE_ROW)
		return -1;
	return (uint64_t)count <= max ? 1 : 0;
}

static int metadata_set_tx(struct store *s, int64_t mailbox_id, int64_t account_id,
			   const struct store_metadata_entry *entries, size_t n, size_t max_entries,
			   const char **error_r)
{
	if (mailbox_id > 0 && store_mailbox_exists(s, mailbox_id, error_r) < 0)
		return -1;
	bool added_private = false, added_shared = false;
	for (size_t i = 0; i < n; i++) {
		if (set_one(s, mailbox_id, account_id, &entries[i], error_r) < 0)
			return -1;
		if (entries[i].value != NULL) {
			bool priv = scope_of(entries[i].name, account_id) != 0;
			added_private |= priv;
			added_shared |= !priv;
		}
	}
	int ok = 1;
	if (added_private)
		ok = count_ok(s, mailbox_id, account_id, max_entries);
	if (ok > 0 && added_shared)
		ok = count_ok(s, mailbox_id, 0, max_entries);
	if (ok < 0)
		return store_db_fail(s, error_r);
	if (ok == 0)
		return 0;
	if (mailbox_id > 0) {
		if (store_event_mailbox(s, mailbox_id) < 0)
			return store_db_fail(s, error_r);
	} else {
		store_event_add(s, account_id, 0, 0);
	}
	return 1;
}

int store_metadata_set(struct store *s, int64_t mailbox_id, int64_t account_id,
		       const struct store_metadata_entry *entries, size_t n, size_t max_entries,
		       const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	int r = metadata_set_tx(s, mailbox_id, account_id, entries, n, max_entries, error_r);
	if (r <= 0) {
		store_tx_rollback(s);
		return r;
	}
	if (store_tx_commit(s, error_r) < 0)
		return -1;
	atomic_fetch_add(&metadata_generation, 1);
	return 1;
}
