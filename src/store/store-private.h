/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the SQLite backend (store-sqlite.c: open, schema,
 * domains, accounts, aliases; store-mailbox.c: mailboxes, messages, queue;
 * store-keywords.c: flags, keywords, listings; store-imap.c: copy, move,
 * append, status, subscriptions) and the blob files (store-blob.c): the
 * handle, the statement cache, transactions, change events and the blob
 * primitives. Nothing outside src/store/ includes this header.
 */
#ifndef FACTEUR_STORE_PRIVATE_H
#define FACTEUR_STORE_PRIVATE_H

#include "store/store.h"

#include <sqlite3.h>

#define STORE_STMT_CACHE 160

struct store_stmt_slot {
	const char *sql; /* a string literal: the cache is keyed by its address */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *dir;      /* the store root */
	char *blob_dir; /* dir/blobs */
	char err[512];  /* formatted messages handed out through error_r */
	struct store_stmt_slot stmts[STORE_STMT_CACHE];
	/* Mailboxes changed by the open transaction, published after COMMIT. */
	struct store_event *events;
	size_t n_events, cap_events;
};

struct store_event {
	int64_t account_id, mailbox_id;
	uint64_t modseq;
};

/*
 * Note that the open transaction changed mailbox_id (now at modseq); the
 * event goes to store_notify_publish once store_tx_commit succeeds and is
 * dropped on rollback. One entry per mailbox, the highest modseq kept.
 */
void store_event_add(struct store *s, int64_t account_id, int64_t mailbox_id, uint64_t modseq);
/* Same, reading account and HIGHESTMODSEQ from the row. 0 / -1. */
int store_event_mailbox(struct store *s, int64_t mailbox_id);

/* --- errors, statements, transactions (store-sqlite.c) --- */

/* Format a message into s->err and point *error_r (if non-NULL) at it; -1. */
int store_fail(struct store *s, const char **error_r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log the SQLite error and report it as "database error: …"; -1. */
int store_db_fail(struct store *s, const char **error_r);
/*
 * The cached statement for sql, reset and unbound, or NULL. sql must be a
 * string literal: the cache is keyed by its address, one slot per call site.
 * Reset it with store_stmt_done after use: a statement left mid-step pins
 * an old read snapshot.
 */
sqlite3_stmt *store_stmt(struct store *s, const char *sql);
void store_stmt_done(sqlite3_stmt *st);
/* Bind text (NULL binds SQL NULL); copy a text column, truncating. */
void store_bind_text(sqlite3_stmt *st, int i, const char *v);
void store_col_copy(sqlite3_stmt *st, int col, char *dst, size_t size);
/* BEGIN IMMEDIATE / COMMIT (rolls back on failure) / ROLLBACK if open. */
int store_tx_begin(struct store *s, const char **error_r);
int store_tx_commit(struct store *s, const char **error_r);
void store_tx_rollback(struct store *s);
/* The result of stepping a single-row lookup: 1 row / 0 none / -1 (logged). */
int store_row_result(struct store *s, int rc);

/* A syntactically plausible remote address: kept as given, not lowered. */
bool store_remote_address_valid(const char *a);

/* Blob ids collected while dropping references, to collect after commit. */
struct store_idlist {
	char (*ids)[STORE_BLOB_ID_LEN + 1];
	size_t n, cap;
};
void store_idlist_add(struct store_idlist *l, const char *id);
void store_idlist_free(struct store_idlist *l);
/* Step a bound statement, adding column 0 of each row; resets it. 0/-1. */
int store_idlist_collect(struct store *s, sqlite3_stmt *st, struct store_idlist *l,
			 const char **error_r);
/*
 * After the commit that dropped references: in a new write transaction,
 * delete the blob row and file of each id nothing references any more.
 * Failures leave harmless orphans and are only logged.
 */
void store_blob_gc(struct store *s, const struct store_idlist *l);
/*
 * End a transaction that dropped blob references: roll back if ret < 0,
 * else commit and collect blobs. Frees blobs either way. 0 / -1.
 */
int store_tx_end_gc(struct store *s, int ret, struct store_idlist *blobs, const char **error_r);

/* Strings gathered before callbacks run, so callbacks may re-enter. */
struct store_strlist {
	char **v;
	size_t n, cap;
};
void store_strlist_add(struct store_strlist *l, const char *str);
void store_strlist_free(struct store_strlist *l);
/*
 * Step a bound statement, gathering column 0 of each row, then (if all
 * rows were read) pass each string to cb. Resets st. 0 / -1.
 */
int store_strlist_emit(struct store *s, sqlite3_stmt *st, void (*cb)(void *ctx, const char *str),
		       void *ctx);

/* --- mailboxes (store-mailbox.c) --- */

/* Validate a mailbox name into out (512 bytes), "INBOX" case folded. */
int store_mailbox_normalize(struct store *s, const char *in, char *out, const char **error_r);
/* id and uidnext of account_id's mailbox name: 1 / 0 none / -1 error. */
int store_mailbox_row(struct store *s, int64_t account_id, const char *name, int64_t *id_r,
		      uint32_t *uidnext_r);
/* 0 if the row exists, else "no such account" / "no such mailbox"; -1. */
int store_account_exists(struct store *s, int64_t account_id, const char **error_r);
int store_mailbox_exists(struct store *s, int64_t mailbox_id, const char **error_r);
/*
 * Fill m from columns id, mailbox_id, uid, flags, modseq, internal_date,
 * save_date, size, blob_id (0-8) of a messages row.
 */
void store_message_from_row(sqlite3_stmt *st, struct store_message *m);
/* Insert a mailbox with a fresh UIDVALIDITY, inside a write transaction. */
int store_mailbox_insert(struct store *s, int64_t account_id, const char *name,
			 const char *special_use, const char **error_r);

/* Bits of enum store_flag. */
#define STORE_FLAGS_ALL                                                                            \
	(STORE_FLAG_SEEN | STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED | STORE_FLAG_DELETED |         \
	 STORE_FLAG_DRAFT)

/* Insert or complete the blobs row of id (parsed may be NULL). In a write tx. */
int store_blob_row_upsert(struct store *s, const char *id, size_t len, const struct store_parsed *p,
			  const char **error_r);
/* Fail with "quota exceeded…" if account_id cannot take len more bytes. */
int store_quota_check(struct store *s, int64_t account_id, uint64_t len, const char **error_r);
/* Raise a mailbox's HIGHESTMODSEQ by one (and note the event). In a write tx. */
int store_mailbox_bump_modseq(struct store *s, int64_t mailbox_id, uint64_t *modseq_r,
			      const char **error_r);
/*
 * Take the mailbox's next UID and a fresh MODSEQ (and note the event), in
 * a write tx: "no such mailbox" or "mailbox UID space exhausted" otherwise.
 */
int store_mailbox_next_uid(struct store *s, int64_t mailbox_id, uint32_t *uid_r, uint64_t *modseq_r,
			   const char **error_r);
/*
 * Remove uids from a mailbox inside a write tx: blobs of removed entries
 * are added to blobs (collect after commit), each removed UID is logged in
 * expunged at the one new MODSEQ. 0 / -1 ("no such mailbox").
 */
int store_expunge_tx(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
		     struct store_idlist *blobs, const char **error_r);

/*
 * The transactional half of store_deliver, for a blob (id, len) already
 * written: the blobs row and one entry per account. In a write tx. 0 / -1.
 */
int store_deliver_tx(struct store *s, const char *id, size_t len, const struct store_parsed *parsed,
		     const int64_t *accounts, size_t n_accounts, const char *mailbox,
		     time_t internal_date, uint32_t flags, uint32_t *uids_r, const char **error_r);
/* The checks of store_queue_add on its arguments. 0 / -1. */
int store_queue_args_check(struct store *s, const char *sender, const char *const *recipients,
			   size_t n, const char **error_r);
/* The transactional half of store_queue_add, for a blob already written. 0 / -1. */
int store_queue_add_tx(struct store *s, const char *sender, const char *const *recipients, size_t n,
		       const char *id, size_t len, const char **error_r);

/* --- keywords (store-keywords.c) --- */

/* A growable array of keyword strings (each malloc'd). */
struct store_kwlist {
	char **v;
	size_t n, cap;
};
void store_kwlist_free(struct store_kwlist *l);
/* Split a stored "a b c" string into l. */
void store_kwlist_split(struct store_kwlist *l, const char *str);
/* True if l holds kw (ASCII-case-insensitively). */
bool store_kwlist_has(const struct store_kwlist *l, const char *kw);
/* Sort case-insensitively and join with spaces; malloc'd, "" if empty. */
char *store_kwlist_join(struct store_kwlist *l);
/*
 * Map each keyword to the mailbox's registered spelling, registering new
 * ones (refused past STORE_MAILBOX_KEYWORDS_MAX when enforce_cap), and add
 * it to out without duplicates. In a write tx. 0 / -1.
 */
int store_keywords_register(struct store *s, int64_t mailbox_id, const char *const *kw, size_t n,
			    bool enforce_cap, struct store_kwlist *out, const char **error_r);

/* --- outbound queue (store-queue.c) --- */

/* Poke the fd given to store_queue_wakeup_fd, if any (after a queue commit). */
void store_queue_wakeup(void);
/*
 * Fill e from columns id, sender, recipient, blob_id, queued_at,
 * next_attempt, attempts, last_error (0-7) of a queue row.
 */
void store_queue_entry_from_row(sqlite3_stmt *st, struct store_queue_entry *e);

/* --- blobs (store-blob.c) --- */

/* Hex SHA-256 of data into id (STORE_BLOB_ID_LEN + 1 bytes). */
void store_blob_hash(const void *data, size_t len, char *id);
/* True if id is exactly 64 lower-case hex digits. */
bool store_blob_id_valid(const char *id);
/* Create dir/blobs and dir/blobs/tmp; drop stale temporary files. */
int store_blob_init(struct store *s, const char **error_r);
/*
 * Make the blob for data durable: hash it into id, and unless
 * blobs/xx/<id> already exists, write it to blobs/tmp, fsync, rename into
 * place and fsync the directory. 0 or -1.
 */
int store_blob_write(struct store *s, const void *data, size_t len, char *id, const char **error_r);
/* Remove the file of a blob no row references any more. 0 or -1. */
int store_blob_unlink(struct store *s, const char *id);
/*
 * Create the 256 directories blobs/00..ff that do not exist yet, with one
 * fsync of blobs/ for all, so that no delivery pays for one. 0 / -1.
 */
int store_blob_mkdirs(struct store *s, const char **error_r);
/* True if blobs/xx/<id> exists (complete: only renames give it that name). */
bool store_blob_exists(struct store *s, const char *id);
/*
 * For the store writer: like store_blob_write with id already computed,
 * but without any fsync. Only call it after a synced blob journal record
 * holds the same bytes (store-journal.c): the journal is what makes the
 * file durable until the next checkpoint. 0 or -1.
 */
int store_blob_write_journaled(struct store *s, const void *data, size_t len, const char *id,
			       const char **error_r);
/*
 * Recovery: write data under id even if a file of that name exists (it
 * may be torn after a crash), fsync the file and its directory. 0 or -1.
 */
int store_blob_restore(struct store *s, const void *data, size_t len, const char *id,
		       const char **error_r);

/* --- blob journal (store-journal.c) --- */

/*
 * An append-only file, dir/blobs/journal, that makes the blobs of a whole
 * batch durable with one fdatasync: each record is a header (magic,
 * generation, length, blob id) and the content; a record counts only if
 * the SHA-256 of its content is its id, so a torn tail is simply ignored.
 * Until a checkpoint (syncfs of the blob directory's file system, then a
 * new generation written from the start of the file), the journal is the
 * durable copy of the blob files
 * written since the last one. Opening it takes an exclusive lock (one
 * writer per store directory) and recovers: every valid record whose
 * file is missing or differs is rewritten, then a checkpoint.
 */
struct store_journal;

struct store_journal_rec {
	const char *id; /* STORE_BLOB_ID_LEN hex digits: the SHA-256 of data */
	const void *data;
	size_t len;
};

/* Open (create, lock, recover). *restored_r (may be NULL): blobs rewritten. 0 / -1. */
int store_journal_open(struct store *s, struct store_journal **j_r, size_t *restored_r,
		       const char **error_r);
/* Append the n records and fdatasync. 0, or -1 (nothing may rely on them). */
int store_journal_append(struct store_journal *j, const struct store_journal_rec *recs, size_t n,
			 const char **error_r);
/* Bytes appended since the last checkpoint. */
uint64_t store_journal_size(const struct store_journal *j);
/* Make every blob file durable (syncfs), then start a new generation. 0 / -1. */
int store_journal_checkpoint(struct store *s, struct store_journal *j, const char **error_r);
void store_journal_close(struct store_journal **j);

#endif
