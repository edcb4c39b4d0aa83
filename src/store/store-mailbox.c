/* SPDX-License-Identifier: MIT */
/*
 * The mailbox, message and queue half of the SQLite backend (the other half,
 * store-sqlite.c, opens the database and keeps domains, accounts and
 * aliases). Every change to a mailbox bumps its HIGHESTMODSEQ in the same
 * transaction, so CONDSTORE/QRESYNC can later be answered from the rows
 * alone; UIDs come from the mailbox's uidnext under the write lock, so two
 * handles delivering at once can never hand out the same UID.
 */
#include "store/store-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const special_uses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash",
};

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF, and no C1 control characters (U+0080..U+009F), which are as
 * unwelcome in a mailbox name as C0 ones.
 */
static bool utf8_valid(const unsigned char *p)
{
	while (*p != '\0') {
		int n;
		unsigned char lo = 0x80, hi = 0xbf; /* range of the 2nd byte */
		if (*p < 0x80)
			n = 0;
		else if (*p >= 0xc2 && *p <= 0xdf)
			n = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 3;
		else
			return false;
		if (*p == 0xe0)
			lo = 0xa0;
		else if (*p == 0xed)
			hi = 0x9f;
		else if (*p == 0xf0)
			lo = 0x90;
		else if (*p == 0xf4)
			hi = 0x8f;
		else if (*p == 0xc2)
			lo = 0xa0; /* U+0080..U+009F: C1 controls */
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xc0) != 0x80 || (i == 0 && (*p < lo || *p > hi)))
				return false;
		}
	}
	return true;
}

/*
 * Mailbox names: UTF-8, '/' separated, no empty, "." or ".." component, no
 * control characters or IMAP wildcards. "INBOX" is case-insensitive (RFC
 * 3501 5.1), so any spelling of it, as a name or as the first component,
 * is stored as "INBOX". out holds 512 bytes.
 */
int store_mailbox_normalize(struct store *s, const char *in, char *out, const char **error_r)
{
	size_t len;

	if (in == NULL || (len = strlen(in)) == 0 || len >= 512 ||
	    !utf8_valid((const unsigned char *)in))
		return store_fail(s, error_r, "invalid mailbox name");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return store_fail(s, error_r, "invalid mailbox name");
	}
	const char *p = in;
	while (true) {
		const char *slash = strchr(p, '/');
		size_t clen = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (clen == 0 || (clen == 1 && p[0] == '.') ||
		    (clen == 2 && p[0] == '.' && p[1] == '.'))
			return store_fail(s, error_r, "invalid mailbox name");
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	memcpy(out, in, len + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

static int special_use_check(struct store *s, const char *su, const char **error_r)
{
	if (su == NULL || su[0] == '\0')
		return 0;
	for (size_t i = 0; i < sizeof(special_uses) / sizeof(special_uses[0]); i++) {
		if (strcmp(su, special_uses[i]) == 0)
			return 0;
	}
	return store_fail(s, error_r, "invalid special-use attribute");
}

/*
 * Next UIDVALIDITY: the clock, but strictly above every value handed out
 * before in this store, so a mailbox re-created under an old name (or
 * several created within one second) never repeats one. Inside a write
 * transaction.
 */
static int next_uidvalidity(struct store *s, uint32_t *v_r)
{
	int64_t last = 0, v = (int64_t)time(NULL);

	sqlite3_stmt *st = store_stmt(s, "SELECT value FROM meta WHERE key = 'uidvalidity'");
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	if (v <= last)
		v = last + 1;
	if (v > UINT32_MAX)
		v = 1; /* 2106: wraps, still distinct from recent values */
	st = store_stmt(s,
			"INSERT INTO meta(key, value) VALUES ('uidvalidity', ?)"
			" ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, v);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	*v_r = (uint32_t)v;
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 and the row, 0 none, -1 error: the bare mailbox row, no counts. */
int store_mailbox_row(struct store *s, int64_t account_id, const char *name, int64_t *id_r,
		      uint32_t *uidnext_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT id, uidnext FROM mailboxes"
				      " WHERE account_id = ? AND name = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (id_r != NULL)
			*id_r = sqlite3_column_int64(st, 0);
		if (uidnext_r != NULL)
			*uidnext_r = (uint32_t)sqlite3_column_int64(st, 1);
	}
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Insert a mailbox (name already normalized) inside a write transaction. */
int store_mailbox_insert(struct store *s, int64_t account_id, const char *name,
			 const char *special_use, bool subscribe, const char **error_r)
{
	uint32_t uidvalidity;
	int ret = store_mailbox_row(s, account_id, name, NULL, NULL);

	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret > 0)
		return store_fail(s, error_r, "mailbox already exists");
	if (next_uidvalidity(s, &uidvalidity) < 0)
		return store_db_fail(s, error_r);
	sqlite3_stmt *st =
		store_stmt(s,
			   "INSERT INTO mailboxes(account_id, name, uidvalidity, special_use)"
			   " VALUES (?, ?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, uidvalidity);
	store_bind_text(st, 4, special_use != NULL ? special_use : "");
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	/* Account waiters (NOTIFY MailboxName) learn of the new mailbox. */
	store_event_add(s, account_id, sqlite3_last_insert_rowid(s->db), 0);
	if (!subscribe)
		return 0;
	/* An old subscription of the name may remain: OR IGNORE. */
	st = store_stmt(s,
			"INSERT OR IGNORE INTO subscriptions(account_id, name)"
			" VALUES (?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, name);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* --- mailboxes --------------------------------------------------------- */

#define MAILBOX_COLUMNS                                                                            \
	"SELECT b.id, b.account_id, b.name, b.uidvalidity, b.uidnext,"                             \
	" b.highestmodseq, b.special_use,"                                                         \
	" EXISTS(SELECT 1 FROM subscriptions u WHERE u.account_id = b.account_id"                  \
	"  AND u.name = b.name),"                                                                  \
	" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id),"                            \
	" (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id"                              \
	"  AND (m.flags & 1) = 0),"                                                                \
	" (SELECT COALESCE(SUM(m.size), 0) FROM messages m WHERE m.mailbox_id = b.id)"             \
	" FROM mailboxes b "

/* Columns 0-6: id, account_id, name, uidvalidity, uidnext, modseq, use. */
static void mailbox_head_from_row(sqlite3_stmt *st, struct store_mailbox *m)
{
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(st, 0);
	m->account_id = sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, m->name, sizeof(m->name));
	m->uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
	m->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
	m->highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
	store_col_copy(st, 6, m->special_use, sizeof(m->special_use));
}

static void mailbox_from_row(sqlite3_stmt *st, struct store_mailbox *m)
{
	mailbox_head_from_row(st, m);
	m->subscribed = sqlite3_column_int(st, 7) != 0;
	m->messages = (uint32_t)sqlite3_column_int64(st, 8);
	m->unseen = (uint32_t)sqlite3_column_int64(st, 9);
	m->size = (uint64_t)sqlite3_column_int64(st, 10);
}

/* A mailbox by name with sql (a literal: the statement cache's key). 1 / 0 / -1. */
static int mailbox_by_name(struct store *s, int64_t account_id, const char *name, const char *sql,
			   void (*from_row)(sqlite3_stmt *st, struct store_mailbox *m),
			   struct store_mailbox *mailbox_r)
{
	char mname[512];

	if (store_mailbox_normalize(s, name, mname, NULL) < 0)
		return 0;
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, mname);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		from_row(st, mailbox_r);
	store_stmt_done(st);
	return store_row_result(s, rc);
}

int store_mailbox_get(struct store *s, int64_t account_id, const char *name,
		      struct store_mailbox *mailbox_r)
{
	return mailbox_by_name(s, account_id, name,
			       MAILBOX_COLUMNS "WHERE b.account_id = ? AND b.name = ?",
			       mailbox_from_row, mailbox_r);
}

int store_mailbox_find(struct store *s, int64_t account_id, const char *name,
		       struct store_mailbox *mailbox_r)
{
	return mailbox_by_name(s, account_id, name,
			       "SELECT id, account_id, name, uidvalidity,"
			       " uidnext, highestmodseq, special_use FROM mailboxes"
			       " WHERE account_id = ? AND name = ?",
			       mailbox_head_from_row, mailbox_r);
}

/* No COUNT/SUM over messages: cheap enough for every IMAP command. */
int store_mailbox_head(struct store *s, int64_t mailbox_id, struct store_mailbox *m)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT id, account_id, name, uidvalidity,"
				      " uidnext, highestmodseq, special_use FROM mailboxes"
				      " WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		mailbox_head_from_row(st, m);
	store_stmt_done(st);
	return store_row_result(s, rc);
}

int store_mailbox_list(struct store *s, int64_t account_id,
		       void (*cb)(void *ctx, const struct store_mailbox *m), void *ctx)
{
	struct store_mailbox *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_stmt *st = store_stmt(s,
				      MAILBOX_COLUMNS "WHERE b.account_id = ?"
						      " ORDER BY b.name <> 'INBOX', b.name");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		mailbox_from_row(st, &v[n++]);
	}
	store_stmt_done(st);
	if (rc == SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			cb(ctx, &v[i]);
	}
	free(v);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* 0 if sql (a literal taking one id) finds a row, else "no such <what>". */
static int row_exists(struct store *s, const char *sql, int64_t id, const char *what,
		      const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? store_fail(s, error_r, "no such %s", what)
				 : store_db_fail(s, error_r);
}

int store_account_exists(struct store *s, int64_t account_id, const char **error_r)
{
	return row_exists(s, "SELECT 1 FROM accounts WHERE id = ?", account_id, "account", error_r);
}

int store_mailbox_exists(struct store *s, int64_t mailbox_id, const char **error_r)
{
	return row_exists(s, "SELECT 1 FROM mailboxes WHERE id = ?", mailbox_id, "mailbox",
			  error_r);
}

int store_mailbox_create(struct store *s, int64_t account_id, const char *name,
			 const char *special_use, const char **error_r)
{
	char mname[512];

	if (store_mailbox_normalize(s, name, mname, error_r) < 0 ||
	    special_use_check(s, special_use, error_r) < 0 || store_tx_begin(s, error_r) < 0)
		return -1;
	if (store_account_exists(s, account_id, error_r) < 0 ||
	    store_mailbox_insert(s, account_id, mname, special_use, false, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

static int mailbox_delete_tx(struct store *s, int64_t account_id, const char *name,
			     struct store_idlist *blobs, const char **error_r)
{
	int64_t id;
	int ret = store_mailbox_row(s, account_id, name, &id, NULL);

	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret == 0)
		return store_fail(s, error_r, "no such mailbox");
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT DISTINCT blob_id FROM messages"
				      " WHERE mailbox_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, id);
	if (store_idlist_collect(s, st, blobs, error_r) < 0)
		return -1;
	/* Sessions that have it selected must learn it is gone. */
	if (store_event_mailbox(s, id) < 0)
		return store_db_fail(s, error_r);
	st = store_stmt(s, "DELETE FROM mailboxes WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/*
 * Deletes only the named mailbox: children keep their own names (IMAP
 * lets a parent go while its children stay).
 */
int store_mailbox_delete(struct store *s, int64_t account_id, const char *name,
			 const char **error_r)
{
	char mname[512];
	struct store_idlist blobs = {0};

	if (store_mailbox_normalize(s, name, mname, error_r) < 0)
		return store_fail(s, error_r, "no such mailbox");
	if (strcmp(mname, "INBOX") == 0)
		return store_fail(s, error_r, "INBOX cannot be deleted");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	return store_tx_end_gc(s, mailbox_delete_tx(s, account_id, mname, &blobs, error_r), &blobs,
			       error_r);
}

/* Run sql (a string literal) with two integer parameters to completion. */
static int exec_ints(struct store *s, const char *sql, int64_t a, int64_t b, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/*
 * Renaming INBOX (RFC 3501 6.3.5) moves its messages to a new mailbox and
 * leaves INBOX empty. The new mailbox keeps the UIDs, so it inherits
 * uidnext and highestmodseq (and the keyword list); it gets a fresh
 * UIDVALIDITY anyway. For INBOX the moved UIDs are expunged, and logged so.
 */
static int inbox_rename_tx(struct store *s, int64_t account_id, int64_t inbox, const char *to,
			   const char **error_r)
{
	int64_t id;

	if (store_mailbox_insert(s, account_id, to, "", false, error_r) < 0 ||
	    store_mailbox_row(s, account_id, to, &id, NULL) <= 0)
		return -1;
	if (exec_ints(s,
		      "UPDATE mailboxes SET (uidnext, highestmodseq) = (SELECT uidnext,"
		      " highestmodseq FROM mailboxes WHERE id = ?1) WHERE id = ?2",
		      inbox, id, error_r) < 0)
		return -1;
	/* For INBOX's own sessions the moved messages are expunged. */
	uint64_t modseq = 0;
	if (store_mailbox_bump_modseq(s, inbox, &modseq, error_r) < 0 ||
	    exec_ints(s,
		      "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq)"
		      " SELECT mailbox_id, uid, ? FROM messages WHERE mailbox_id = ?",
		      (int64_t)modseq, inbox, error_r) < 0)
		return -1;
	/* The keywords the messages carry are known in their new mailbox. */
	if (exec_ints(s,
		      "INSERT OR IGNORE INTO mailbox_keywords(mailbox_id, name)"
		      " SELECT ?, name FROM mailbox_keywords WHERE mailbox_id = ? ORDER BY id",
		      id, inbox, error_r) < 0 ||
	    exec_ints(s, "UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?", id, inbox,
		      error_r) < 0)
		return -1;
	if (store_event_mailbox(s, id) < 0)
		return store_db_fail(s, error_r);
	return 0;
}

/* The subscription, if any, follows the mailbox to its new name. */
static int mailbox_set_name(struct store *s, int64_t id, const char *name, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(
		s,
		"UPDATE OR REPLACE subscriptions SET name = ?1 WHERE (account_id, name) ="
		" (SELECT account_id, name FROM mailboxes WHERE id = ?2)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	st = store_stmt(s, "UPDATE mailboxes SET name = ? WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE || store_event_mailbox(s, id) < 0)
		return store_db_fail(s, error_r);
	return 0;
}

/* Rename from and every "from/…" child, refusing any clash first. */
static int mailbox_rename_tx(struct store *s, int64_t account_id, const char *from, const char *to,
			     const char **error_r)
{
	struct store_strlist names = {0};
	size_t flen = strlen(from);
	int rc, ret = 0;

	sqlite3_stmt *st = store_stmt(s, "SELECT id, name FROM mailboxes WHERE account_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 1);
		if (strcmp(n, from) == 0 || (strncmp(n, from, flen) == 0 && n[flen] == '/')) {
			char *newname = xasprintf("%s%s", to, n + flen);
			char idstr[24];
			snprintf(idstr, sizeof(idstr), "%lld",
				 (long long)sqlite3_column_int64(st, 0));
			store_strlist_add(&names, idstr);
			store_strlist_add(&names, newname);
			free(newname);
		}
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		ret = store_db_fail(s, error_r);
	for (size_t i = 0; ret == 0 && i + 1 < names.n; i += 2) {
		int exists = store_mailbox_row(s, account_id, names.v[i + 1], NULL, NULL);
		if (strlen(names.v[i + 1]) >= 512)
			ret = store_fail(s, error_r, "mailbox name too long");
		else if (exists != 0)
			ret = exists < 0 ? store_db_fail(s, error_r)
					 : store_fail(s, error_r, "mailbox already exists");
	}
	for (size_t i = 0; ret == 0 && i + 1 < names.n; i += 2)
		ret = mailbox_set_name(s, strtoll(names.v[i], NULL, 10), names.v[i + 1], error_r);
	store_strlist_free(&names);
	return ret;
}

int store_mailbox_rename(struct store *s, int64_t account_id, const char *from, const char *to,
			 const char **error_r)
{
	char src[512], dst[512];
	int64_t id;

	if (store_mailbox_normalize(s, from, src, error_r) < 0)
		return store_fail(s, error_r, "no such mailbox");
	if (store_mailbox_normalize(s, to, dst, error_r) < 0)
		return -1;
	if (strcmp(src, dst) == 0)
		return store_fail(s, error_r, "mailbox already exists");
	/* INBOX's rename moves messages, not children: INBOX/old is fine. */
	if (strcmp(src, "INBOX") != 0 && strncmp(dst, src, strlen(src)) == 0 &&
	    dst[strlen(src)] == '/')
		return store_fail(s, error_r, "cannot rename a mailbox into itself");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	int ret = store_mailbox_row(s, account_id, src, &id, NULL);
	if (ret <= 0)
		ret = ret < 0 ? store_db_fail(s, error_r)
			      : store_fail(s, error_r, "no such mailbox");
	else if (strcmp(src, "INBOX") == 0)
		ret = inbox_rename_tx(s, account_id, id, dst, error_r);
	else
		ret = mailbox_rename_tx(s, account_id, src, dst, error_r);
	if (ret < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

/* --- messages ---------------------------------------------------------- */

int store_blob_row_upsert(struct store *s, const char *id, size_t len, const struct store_parsed *p,
			  const char **error_r)
{
	/* Keep existing parsed fields; fill them if a queue entry came first. */
	sqlite3_stmt *st = store_stmt(
		s,
		"INSERT INTO blobs(id, size, envelope, bodystructure, subject,"
		" hdr_from, hdr_to, hdr_cc, message_id, date, body, preview)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
		" body = COALESCE(body, excluded.body),"
		" preview = COALESCE(preview, excluded.preview),"
		" envelope = COALESCE(envelope, excluded.envelope),"
		" bodystructure = COALESCE(bodystructure, excluded.bodystructure),"
		" subject = COALESCE(subject, excluded.subject),"
		" hdr_from = COALESCE(hdr_from, excluded.hdr_from),"
		" hdr_to = COALESCE(hdr_to, excluded.hdr_to),"
		" hdr_cc = COALESCE(hdr_cc, excluded.hdr_cc),"
		" message_id = COALESCE(message_id, excluded.message_id),"
		" date = COALESCE(date, excluded.date)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)len);
	if (p != NULL) {
		store_bind_text(st, 3, p->envelope);
		store_bind_text(st, 4, p->bodystructure);
		store_bind_text(st, 5, p->subject);
		store_bind_text(st, 6, p->from);
		store_bind_text(st, 7, p->to);
		store_bind_text(st, 8, p->cc);
		store_bind_text(st, 9, p->message_id);
		if (p->date != 0)
			sqlite3_bind_int64(st, 10, (int64_t)p->date);
		store_bind_text(st, 11, p->body);
		store_bind_text(st, 12, p->preview);
	}
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	return store_search_index_put(s, id, p != NULL ? p->text_hdr : NULL,
				      p != NULL ? p->text_body : NULL,
				      p != NULL ? p->text_parts : NULL, error_r);
}

/* The target mailbox of a delivery: the named one if it exists, else INBOX. */
static int deliver_mailbox(struct store *s, int64_t account_id, const char *mailbox, int64_t *id_r,
			   uint32_t *uidnext_r, const char **error_r)
{
	char mname[512];
	int ret = 0;

	if (mailbox != NULL && mailbox[0] != '\0' &&
	    store_mailbox_normalize(s, mailbox, mname, NULL) == 0)
		ret = store_mailbox_row(s, account_id, mname, id_r, uidnext_r);
	if (ret == 0)
		ret = store_mailbox_row(s, account_id, "INBOX", id_r, uidnext_r);
	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret == 0)
		return store_fail(s, error_r, "account %lld has no INBOX", (long long)account_id);
	if (*uidnext_r == 0 || *uidnext_r == UINT32_MAX)
		return store_fail(s, error_r, "mailbox UID space exhausted");
	return 0;
}

/*
 * Takes the next UID of a mailbox and a fresh MODSEQ in one statement; the
 * WHERE keeps uidnext from ever reaching 2^32 - 1 (UIDs are nz-number).
 */
int store_mailbox_next_uid(struct store *s, int64_t mailbox_id, uint32_t *uid_r, uint64_t *modseq_r,
			   const char **error_r)
{
	sqlite3_stmt *st = store_stmt(
		s,
		"UPDATE mailboxes SET uidnext = uidnext + 1,"
		" highestmodseq = highestmodseq + 1 WHERE id = ? AND uidnext > 0"
		" AND uidnext < 4294967295 RETURNING uidnext - 1, highestmodseq, account_id");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*uid_r = (uint32_t)sqlite3_column_int64(st, 0);
		*modseq_r = (uint64_t)sqlite3_column_int64(st, 1);
		store_event_add(s, sqlite3_column_int64(st, 2), mailbox_id, *modseq_r);
	}
	store_stmt_done(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	return store_mailbox_exists(s, mailbox_id, error_r) < 0
		? -1
		: store_fail(s, error_r, "mailbox UID space exhausted");
}

int store_quota_check(struct store *s, int64_t account_id, uint64_t len, const char **error_r)
{
	struct store_account a;
	/* Summing the account's message sizes costs a scan of its mailboxes:
	 * skip it for the common unlimited account (one key lookup). */
	sqlite3_stmt *st = store_stmt(s, "SELECT quota_bytes FROM accounts WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, account_id);
	int rc = sqlite3_step(st);
	int64_t quota = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	store_stmt_done(st);
	if (rc == SQLITE_ROW && quota <= 0)
		return 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	int ret = store_account_get_by_id(s, account_id, &a);

	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret == 0)
		return store_fail(s, error_r, "no such account");
	if (a.quota_bytes > 0 &&
	    (len > (uint64_t)a.quota_bytes || a.used_bytes > a.quota_bytes - (int64_t)len))
		return store_fail(s, error_r, "quota exceeded for %s", a.address);
	return 0;
}

struct delivery {
	const char *blob_id;
	size_t len;
	const char *mailbox;
	time_t internal_date, save_date;
	uint32_t flags;
};

static int deliver_one(struct store *s, const struct delivery *d, int64_t account_id,
		       uint32_t *uid_r, const char **error_r)
{
	int64_t mailbox_id = 0;
	uint32_t uid = 0;
	uint64_t modseq = 0;

	if (account_id < 0) {
		/* A mailbox bound to an address (store_resolve): its owner pays. */
		mailbox_id = STORE_TARGET_MAILBOX(account_id);
		int r = store_mailbox_owner(s, mailbox_id, &account_id, NULL);
		if (r <= 0)
			return r < 0 ? store_db_fail(s, error_r)
				     : store_fail(s, error_r, "no such mailbox");
	}
	if (store_quota_check(s, account_id, d->len, error_r) < 0 ||
	    (mailbox_id == 0 &&
	     deliver_mailbox(s, account_id, d->mailbox, &mailbox_id, &uid, error_r) < 0) ||
	    store_mailbox_next_uid(s, mailbox_id, &uid, &modseq, error_r) < 0)
		return -1;
	sqlite3_stmt *st =
		store_stmt(s,
			   "INSERT INTO messages(mailbox_id, uid, blob_id, flags, internal_date,"
			   " save_date, modseq, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	store_bind_text(st, 3, d->blob_id);
	sqlite3_bind_int64(st, 4, d->flags);
	sqlite3_bind_int64(st, 5, (int64_t)d->internal_date);
	sqlite3_bind_int64(st, 6, (int64_t)d->save_date);
	sqlite3_bind_int64(st, 7, (int64_t)modseq);
	sqlite3_bind_int64(st, 8, (int64_t)d->len);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	if (uid_r != NULL)
		*uid_r = uid;
	return 0;
}

int store_deliver_tx(struct store *s, const char *id, size_t len, const struct store_parsed *parsed,
		     const int64_t *accounts, size_t n_accounts, const char *mailbox,
		     time_t internal_date, uint32_t flags, uint32_t *uids_r, const char **error_r)
{
	time_t now = time(NULL);
	struct delivery d = {
		.blob_id = id,
		.len = len,
		.mailbox = mailbox,
		.internal_date = internal_date != 0 ? internal_date : now,
		.save_date = now,
		.flags = flags & STORE_FLAGS_ALL,
	};

	if (store_blob_row_upsert(s, id, len, parsed, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n_accounts; i++) {
		if (deliver_one(s, &d, accounts[i], uids_r != NULL ? &uids_r[i] : NULL, error_r) <
		    0)
			return -1;
	}
	return 0;
}

int store_deliver(struct store *s, const char *data, size_t len, const struct store_parsed *parsed,
		  const int64_t *accounts, size_t n_accounts, const char *mailbox,
		  time_t internal_date, uint32_t flags, uint32_t *uids_r, const char **error_r)
{
	char id[STORE_BLOB_ID_LEN + 1];
	char saved[sizeof(s->err)];
	struct store_idlist orphan = {0};
	const char *error = NULL;

	if (n_accounts == 0 || accounts == NULL)
		return store_fail(s, error_r, "no recipients");
	if (data == NULL && len > 0)
		return store_fail(s, error_r, "no message data");
	/* The fsync happens here, outside the database lock... */
	if (store_blob_write(s, data != NULL ? data : "", len, id, error_r) < 0 ||
	    store_tx_begin(s, error_r) < 0)
		return -1;
	/* ...and this re-check under the lock (normally one stat) makes sure a
	 * concurrent store_blob_gc did not unlink the file in between. */
	int ret = store_blob_write(s, data != NULL ? data : "", len, id, &error);
	if (ret == 0)
		ret = store_deliver_tx(s, id, len, parsed, accounts, n_accounts, mailbox,
				       internal_date, flags, uids_r, &error);
	if (ret == 0)
		return store_tx_commit(s, error_r);
	store_tx_rollback(s);
	/* A refused delivery must not leave its blob behind; store_blob_gc may
	 * overwrite s->err, so the reason is kept aside. */
	snprintf(saved, sizeof(saved), "%s", error != NULL ? error : "delivery failed");
	store_idlist_add(&orphan, id);
	store_blob_gc(s, &orphan);
	store_idlist_free(&orphan);
	return store_fail(s, error_r, "%s", saved);
}

void store_message_from_row(sqlite3_stmt *st, struct store_message *m)
{
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(st, 0);
	m->mailbox_id = sqlite3_column_int64(st, 1);
	m->uid = (uint32_t)sqlite3_column_int64(st, 2);
	m->flags = (uint32_t)sqlite3_column_int64(st, 3);
	m->modseq = (uint64_t)sqlite3_column_int64(st, 4);
	m->internal_date = (time_t)sqlite3_column_int64(st, 5);
	m->save_date = (time_t)sqlite3_column_int64(st, 6);
	m->size = (uint64_t)sqlite3_column_int64(st, 7);
	store_col_copy(st, 8, m->blob_id, sizeof(m->blob_id));
}

int store_message_list(struct store *s, int64_t mailbox_id, struct store_message **msgs_r,
		       size_t *n_r)
{
	struct store_message *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*msgs_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT id, mailbox_id, uid, flags, modseq, internal_date, save_date,"
			   " size, blob_id FROM messages WHERE mailbox_id = ? ORDER BY uid");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		store_message_from_row(st, &v[n++]);
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_db_fail(s, NULL);
	}
	store_seen_overlay_any(s, mailbox_id, v, n, sizeof(*v));
	*msgs_r = v;
	*n_r = n;
	return 0;
}

int store_mailbox_bump_modseq(struct store *s, int64_t mailbox_id, uint64_t *modseq_r,
			      const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "UPDATE mailboxes SET highestmodseq = highestmodseq + 1"
				      " WHERE id = ? RETURNING highestmodseq, account_id");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		uint64_t modseq = (uint64_t)sqlite3_column_int64(st, 0);
		store_event_add(s, sqlite3_column_int64(st, 1), mailbox_id, modseq);
		if (modseq_r != NULL)
			*modseq_r = modseq;
	}
	store_stmt_done(st);
	if (rc == SQLITE_DONE)
		return store_fail(s, error_r, "no such mailbox");
	return rc == SQLITE_ROW ? 0 : store_db_fail(s, error_r);
}

/* Record an expunged UID for QRESYNC (VANISHED). */
/*
 * Log the expunge of m (removed at modseq) for QRESYNC, keeping the row's
 * data: a session not yet told of the expunge may still FETCH it while
 * the blob is held (store_message_expunged_list).
 */
static int expunge_log(struct store *s, const struct store_message_ex *m, uint64_t modseq,
		       const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq,"
				      " blob_id, flags, keywords, internal_date, save_date, size)"
				      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, m->msg.mailbox_id);
	sqlite3_bind_int64(st, 2, m->msg.uid);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	store_bind_text(st, 4, m->msg.blob_id);
	sqlite3_bind_int64(st, 5, m->msg.flags);
	store_bind_text(st, 6, m->keywords != NULL ? m->keywords : "");
	sqlite3_bind_int64(st, 7, (int64_t)m->msg.internal_date);
	sqlite3_bind_int64(st, 8, (int64_t)m->msg.save_date);
	sqlite3_bind_int64(st, 9, (int64_t)m->msg.size);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/* blob_id, flags, keywords, internal_date, save_date, size (columns 0-5). */
static void expunged_from_row(sqlite3_stmt *st, int64_t mailbox_id, uint32_t uid,
			      struct store_message_ex *m)
{
	m->msg.mailbox_id = mailbox_id;
	m->msg.uid = uid;
	store_col_copy(st, 0, m->msg.blob_id, sizeof(m->msg.blob_id));
	m->msg.flags = (uint32_t)sqlite3_column_int64(st, 1);
	const unsigned char *kw = sqlite3_column_text(st, 2);
	m->keywords = xstrdup(kw != NULL ? (const char *)kw : "");
	m->msg.internal_date = (time_t)sqlite3_column_int64(st, 3);
	m->msg.save_date = (time_t)sqlite3_column_int64(st, 4);
	m->msg.size = (uint64_t)sqlite3_column_int64(st, 5);
}

/* Delete one message row. 1 deleted (its data in *m), 0 none, -1 error. */
static int expunge_row(struct store *s, int64_t mailbox_id, uint32_t uid,
		       struct store_message_ex *m, const char **error_r)
{
	memset(m, 0, sizeof(*m));
	sqlite3_stmt *st = store_stmt(s,
				      "DELETE FROM messages WHERE mailbox_id = ? AND uid = ?"
				      " RETURNING blob_id, flags, keywords, internal_date,"
				      " save_date, size");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		expunged_from_row(st, mailbox_id, uid, m);
		rc = sqlite3_step(st);
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(m->keywords);
		m->keywords = NULL;
		return store_db_fail(s, error_r);
	}
	return m->keywords != NULL ? 1 : 0;
}

/*
 * The MODSEQ is raised once, at the first UID actually removed, and every
 * removed UID is logged at that value (RFC 7162 allows one MODSEQ for all
 * the expunges of one command).
 */
int store_expunge_tx(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
		     struct store_idlist *blobs, const char **error_r)
{
	uint64_t modseq = 0;

	if (store_mailbox_exists(s, mailbox_id, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct store_message_ex m = {0};
		int r = expunge_row(s, mailbox_id, uids[i], &m, error_r);
		if (r <= 0) {
			if (r < 0)
				return -1;
			continue;
		}
		store_idlist_add(blobs, m.msg.blob_id);
		if (modseq == 0 && store_mailbox_bump_modseq(s, mailbox_id, &modseq, error_r) < 0)
			r = -1;
		else
			r = expunge_log(s, &m, modseq, error_r);
		free(m.keywords);
		if (r < 0)
			return -1;
	}
	return 0;
}

int store_message_expunged_list(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
				struct store_message_ex **msgs_r, size_t *n_r)
{
	*msgs_r = NULL;
	*n_r = 0;
	struct store_message_ex *v = n > 0 ? xcalloc(n, sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* A blob row exists while the blob is held or used again. */
		sqlite3_stmt *st = store_stmt(
			s,
			"SELECT e.blob_id, e.flags, e.keywords, e.internal_date, e.save_date,"
			" e.size, e.modseq FROM expunged e JOIN blobs b ON b.id = e.blob_id"
			" WHERE e.mailbox_id = ? AND e.uid = ?");
		if (st == NULL) {
			store_message_ex_free(&v, k);
			return store_db_fail(s, NULL);
		}
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, uids[i]);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			expunged_from_row(st, mailbox_id, uids[i], &v[k]);
			v[k++].msg.modseq = (uint64_t)sqlite3_column_int64(st, 6);
		}
		store_stmt_done(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			store_message_ex_free(&v, k);
			return store_db_fail(s, NULL);
		}
	}
	if (k == 0) {
		free(v);
		v = NULL;
	}
	store_seen_overlay(s, mailbox_id, v, k);
	*msgs_r = v;
	*n_r = k;
	return 0;
}

int store_message_expunge(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
			  const char **error_r)
{
	struct store_idlist blobs = {0};

	if (n > 0 && uids == NULL)
		return store_fail(s, error_r, "no UIDs");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	return store_tx_end_gc(s, store_expunge_tx(s, mailbox_id, uids, n, &blobs, error_r), &blobs,
			       error_r);
}

static int set_flags_tx(struct store *s, int64_t mailbox_id, uint32_t uid, uint32_t flags,
			const char **error_r)
{
	uint64_t modseq = 0;

	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM messages WHERE mailbox_id = ? AND uid = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc == SQLITE_DONE)
		return store_fail(s, error_r, "no such message");
	if (rc != SQLITE_ROW || store_mailbox_bump_modseq(s, mailbox_id, &modseq, error_r) < 0)
		return rc != SQLITE_ROW ? store_db_fail(s, error_r) : -1;
	st = store_stmt(s,
			"UPDATE messages SET flags = ?, modseq = ?"
			" WHERE mailbox_id = ? AND uid = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, flags & STORE_FLAGS_ALL);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	sqlite3_bind_int64(st, 3, mailbox_id);
	sqlite3_bind_int64(st, 4, uid);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

int store_message_set_flags(struct store *s, int64_t mailbox_id, uint32_t uid, uint32_t flags,
			    const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	if (set_flags_tx(s, mailbox_id, uid, flags, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

/* --- outbound queue ---------------------------------------------------- */

int store_queue_add_tx(struct store *s, const char *submitter, const char *sender,
		       const char *const *recipients, size_t n, const char *id, size_t len,
		       const char **error_r)
{
	time_t now = time(NULL);

	if (store_blob_row_upsert(s, id, len, NULL, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st =
			store_stmt(s,
				   "INSERT INTO queue(sender, recipient, blob_id, queued_at,"
				   " next_attempt, submitter) VALUES (?, ?, ?, ?, ?, ?)");
		if (st == NULL)
			return store_db_fail(s, error_r);
		store_bind_text(st, 1, sender);
		store_bind_text(st, 2, recipients[i]);
		store_bind_text(st, 3, id);
		sqlite3_bind_int64(st, 4, (int64_t)now);
		sqlite3_bind_int64(st, 5, (int64_t)now);
		store_bind_text(st, 6, submitter != NULL ? submitter : "");
		int rc = sqlite3_step(st);
		store_stmt_done(st);
		if (rc != SQLITE_DONE)
			return store_db_fail(s, error_r);
	}
	return 0;
}

int store_queue_args_check(struct store *s, const char *sender, const char *const *recipients,
			   size_t n, const char **error_r)
{
	/* The null reverse-path "" is a valid sender (bounces). */
	if (sender == NULL || strlen(sender) >= 320 ||
	    (sender[0] != '\0' && !store_remote_address_valid(sender)))
		return store_fail(s, error_r, "invalid sender");
	if (n == 0 || recipients == NULL)
		return store_fail(s, error_r, "no recipients");
	for (size_t i = 0; i < n; i++) {
		if (!store_remote_address_valid(recipients[i]))
			return store_fail(s, error_r, "invalid recipient");
	}
	return 0;
}

int store_queue_add(struct store *s, const char *sender, const char *const *recipients,
		    size_t n_recipients, const char *data, size_t len, const char **error_r)
{
	return store_queue_submit(s, NULL, sender, recipients, n_recipients, data, len, error_r);
}

int store_queue_submit(struct store *s, const char *submitter, const char *sender,
		       const char *const *recipients, size_t n_recipients, const char *data,
		       size_t len, const char **error_r)
{
	char id[STORE_BLOB_ID_LEN + 1];
	const char *body = data != NULL ? data : "";

	if (store_queue_args_check(s, sender, recipients, n_recipients, error_r) < 0)
		return -1;
	if (data == NULL && len > 0)
		return store_fail(s, error_r, "no message data");
	if (store_blob_write(s, body, len, id, error_r) < 0 || store_tx_begin(s, error_r) < 0)
		return -1;
	/* Same re-check under the lock as in store_deliver. */
	if (store_blob_write(s, body, len, id, error_r) < 0 ||
	    store_queue_add_tx(s, submitter, sender, recipients, n_recipients, id, len, error_r) <
		    0) {
		store_tx_rollback(s);
		return -1;
	}
	if (store_tx_commit(s, error_r) < 0)
		return -1;
	store_queue_wakeup(); /* the delivery thread, at once (store-queue.c) */
	return 0;
}

int store_queue_list(struct store *s, void (*cb)(void *ctx, const struct store_queue_entry *e),
		     void *ctx)
{
	struct store_queue_entry *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT id, sender, recipient, blob_id, queued_at, next_attempt,"
			   " attempts, last_error, submitter FROM queue ORDER BY id");
	if (st == NULL)
		return store_db_fail(s, NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		store_queue_entry_from_row(st, &v[n++]);
	}
	store_stmt_done(st);
	if (rc == SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			cb(ctx, &v[i]);
	}
	free(v);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

int store_queue_delete(struct store *s, int64_t id, const char **error_r)
{
	struct store_idlist blobs = {0};

	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM queue WHERE id = ? RETURNING blob_id");
	int ret = st == NULL ? store_db_fail(s, error_r) : 0;
	if (ret == 0) {
		sqlite3_bind_int64(st, 1, id);
		ret = store_idlist_collect(s, st, &blobs, error_r);
	}
	if (ret == 0 && blobs.n == 0)
		ret = store_fail(s, error_r, "no such queue entry");
	return store_tx_end_gc(s, ret, &blobs, error_r);
}
