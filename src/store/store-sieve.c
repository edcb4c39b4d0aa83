/* SPDX-License-Identifier: MIT */
/*
 * Sieve scripts per account (schema step 13) and the vacation memory.
 * The store keeps sources as given and never parses them: sieve/ compiles
 * a script before it calls store_sieve_put (so an invalid script is never
 * stored) and again at delivery. At most one script per account is active,
 * which a partial unique index enforces; activating one deactivates the
 * others in the same transaction. This is the API ManageSieve builds on
 * (PUTSCRIPT, GETSCRIPT, LISTSCRIPTS, SETACTIVE, DELETESCRIPT, RENAMESCRIPT).
 */
#include "store/store-private.h"

#include "lib/util.h"

#include <string.h>

bool store_sieve_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_SIEVE_NAME_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		/* RFC 5804 1.6: no controls, no line breaks; '/' kept out for file export. */
		if (*p < 0x20 || *p == 0x7f || *p == '/')
			return false;
	}
	return true;
}

int store_sieve_put(struct store *s, int64_t account_id, const char *name, const char *source,
		    size_t len, const char **error_r)
{
	if (!store_sieve_name_valid(name))
		return store_fail(s, error_r, "invalid script name");
	sqlite3_stmt *st =
		store_stmt(s,
			   "INSERT INTO sieve_scripts(account_id, name, source, active, updated)"
			   " VALUES (?, ?, ?, 0, strftime('%s','now'))"
			   " ON CONFLICT(account_id, name) DO UPDATE SET source = excluded.source,"
			   " updated = excluded.updated");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, name);
	sqlite3_bind_blob(st, 3, source, (int)len, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* Column col of st as a malloc'd NUL-terminated copy (*len_r its length). */
static char *col_dup(sqlite3_stmt *st, int col, size_t *len_r)
{
	const void *p = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	char *out = xmalloc(n + 1);
	if (n > 0)
		memcpy(out, p, n);
	out[n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	return out;
}

int store_sieve_get(struct store *s, int64_t account_id, const char *name, char **source_r,
		    size_t *len_r, bool *active_r)
{
	sqlite3_stmt *st = store_stmt(
		s, "SELECT source, active FROM sieve_scripts WHERE account_id = ? AND name = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, name);
	int r = store_row_result(s, sqlite3_step(st));
	if (r > 0) {
		*source_r = col_dup(st, 0, len_r);
		if (active_r != NULL)
			*active_r = sqlite3_column_int(st, 1) != 0;
	}
	store_stmt_done(st);
	return r;
}

int store_sieve_active(struct store *s, int64_t account_id, char **source_r, size_t *len_r,
		       char *name_r, size_t name_size)
{
	sqlite3_stmt *st = store_stmt(
		s, "SELECT source, name FROM sieve_scripts WHERE account_id = ? AND active = 1");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	int r = store_row_result(s, sqlite3_step(st));
	if (r > 0) {
		*source_r = col_dup(st, 0, len_r);
		if (name_r != NULL)
			store_col_copy(st, 1, name_r, name_size);
	}
	store_stmt_done(st);
	return r;
}

int store_sieve_list(struct store *s, int64_t account_id,
		     void (*cb)(void *ctx, const struct store_sieve_info *info), void *ctx)
{
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT name, active, length(source), updated FROM sieve_scripts"
			   " WHERE account_id = ? ORDER BY name");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	struct store_sieve_info *v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xrealloc(v, (n + 1) * sizeof(*v));
		store_col_copy(st, 0, v[n].name, sizeof(v[n].name));
		v[n].active = sqlite3_column_int(st, 1) != 0;
		v[n].size = (size_t)sqlite3_column_int64(st, 2);
		v[n].updated = (time_t)sqlite3_column_int64(st, 3);
		n++;
	}
	store_stmt_done(st);
	/* Callbacks run after the statement is reset: they may use the store. */
	if (rc == SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			cb(ctx, &v[i]);
	}
	free(v);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* One UPDATE/DELETE with (account, name) bound: rows changed or -1. */
static int sieve_exec(struct store *s, const char *sql, int64_t account_id, const char *name,
		      const char *name2, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	if (name != NULL)
		store_bind_text(st, 2, name);
	if (name2 != NULL)
		store_bind_text(st, 3, name2);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			return store_fail(s, error_r, "a script with that name exists");
		return store_db_fail(s, error_r);
	}
	return sqlite3_changes(s->db);
}

int store_sieve_activate(struct store *s, int64_t account_id, const char *name,
			 const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	int r = sieve_exec(s, "UPDATE sieve_scripts SET active = 0 WHERE account_id = ?",
			   account_id, NULL, NULL, error_r);
	if (r >= 0 && name != NULL)
		r = sieve_exec(
			s, "UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?",
			account_id, name, NULL, error_r);
	if (r < 0 || (name != NULL && r == 0)) {
		store_tx_rollback(s);
		return r < 0 ? -1 : 0;
	}
	return store_tx_commit(s, error_r) < 0 ? -1 : 1;
}

int store_sieve_delete(struct store *s, int64_t account_id, const char *name, const char **error_r)
{
	bool active = false;
	char *src = NULL;
	size_t len;
	int r = store_sieve_get(s, account_id, name, &src, &len, &active);
	free(src);
	if (r <= 0)
		return r < 0 ? store_fail(s, error_r, "database error") : 0;
	if (active)
		return store_fail(s, error_r, "the script is active");
	r = sieve_exec(s, "DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?", account_id,
		       name, NULL, error_r);
	return r < 0 ? -1 : r > 0;
}

int store_sieve_rename(struct store *s, int64_t account_id, const char *from, const char *to,
		       const char **error_r)
{
	if (!store_sieve_name_valid(to))
		return store_fail(s, error_r, "invalid script name");
	int r = sieve_exec(s,
			   "UPDATE sieve_scripts SET name = ?3 WHERE account_id = ?1 AND name = ?2",
			   account_id, from, to, error_r);
	return r < 0 ? -1 : r > 0;
}

int store_sieve_vacation_seen(struct store *s, int64_t account_id, const char *handle,
			      const char *sender, time_t now)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT expires FROM sieve_vacation"
				      " WHERE account_id = ? AND handle = ? AND sender = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, handle);
	store_bind_text(st, 3, sender);
	int r = store_row_result(s, sqlite3_step(st));
	if (r > 0)
		r = sqlite3_column_int64(st, 0) > (int64_t)now;
	store_stmt_done(st);
	return r;
}

int store_sieve_vacation_record(struct store *s, int64_t account_id, const char *handle,
				const char *sender, time_t now, time_t expires,
				const char **error_r)
{
	sqlite3_stmt *st =
		store_stmt(s,
			   "INSERT INTO sieve_vacation(account_id, handle, sender, expires)"
			   " VALUES (?, ?, ?, ?) ON CONFLICT(account_id, handle, sender)"
			   " DO UPDATE SET expires = excluded.expires");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, handle);
	store_bind_text(st, 3, sender);
	sqlite3_bind_int64(st, 4, (int64_t)expires);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	/* Forget replies whose period is over (the table stays small). */
	st = store_stmt(s, "DELETE FROM sieve_vacation WHERE account_id = ? AND expires < ?");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_int64(st, 2, (int64_t)now);
		sqlite3_step(st);
		store_stmt_done(st);
	}
	return 0;
}
