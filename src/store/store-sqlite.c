/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of store.h. One handle per thread on dir/facteur.db in
 * WAL mode with synchronous=FULL; every write runs in a BEGIN IMMEDIATE
 * transaction so concurrent writers queue on the database lock (busy
 * timeout) instead of deadlocking on a read-to-write upgrade. Message
 * content lives in store-blob.c: a blob is made durable before the
 * transaction that references it commits, and unlinked, under the write
 * lock, only once no message or queue row refers to it any more.
 * Statements are prepared once per handle and cached, keyed by the address
 * of their SQL literal; no SQL is ever built from input.
 */
#include "store/store-private.h"

#include "lib/log.h"
#include "lib/lru.h"
#include "lib/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RESOLVE_MAX_DEPTH 8
#define RESOLVE_MAX_LOOKUPS 256
#define RESOLVE_MAX_TARGETS 1024
#define BUSY_RETRIES 5

/* --- schema ------------------------------------------------------------ */

/*
 * Migration steps: migrations[i] takes user_version i to i + 1. Append new
 * steps; never edit a released one.
 */
static const char *const migrations[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE domains (id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE accounts (id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id),"
	"  address TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,"
	"  quota_bytes INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX accounts_domain ON accounts(domain_id);"
	"CREATE TABLE aliases (id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,"
	"  source TEXT NOT NULL, target TEXT NOT NULL, UNIQUE(source, target));"
	"CREATE INDEX aliases_domain ON aliases(domain_id);"
	"CREATE TABLE mailboxes (id INTEGER PRIMARY KEY,"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL, uidvalidity INTEGER NOT NULL,"
	"  uidnext INTEGER NOT NULL DEFAULT 1,"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,"
	"  special_use TEXT NOT NULL DEFAULT '',"
	"  subscribed INTEGER NOT NULL DEFAULT 1,"
	"  UNIQUE(account_id, name));"
	"CREATE TABLE blobs (id TEXT PRIMARY KEY, size INTEGER NOT NULL,"
	"  envelope TEXT, bodystructure TEXT, subject TEXT, hdr_from TEXT,"
	"  hdr_to TEXT, hdr_cc TEXT, message_id TEXT, date INTEGER);"
	"CREATE TABLE messages (id INTEGER PRIMARY KEY,"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  uid INTEGER NOT NULL, blob_id TEXT NOT NULL REFERENCES blobs(id),"
	"  flags INTEGER NOT NULL DEFAULT 0, keywords TEXT NOT NULL DEFAULT '',"
	"  internal_date INTEGER NOT NULL, save_date INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL, size INTEGER NOT NULL,"
	"  UNIQUE(mailbox_id, uid));"
	"CREATE INDEX messages_blob ON messages(blob_id);"
	"CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
	"CREATE TABLE queue (id INTEGER PRIMARY KEY, sender TEXT NOT NULL,"
	"  recipient TEXT NOT NULL, blob_id TEXT NOT NULL REFERENCES blobs(id),"
	"  queued_at INTEGER NOT NULL, next_attempt INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX queue_blob ON queue(blob_id);"
	"CREATE INDEX queue_next ON queue(next_attempt);",
	/*
	 * 2: IMAP. BODY with the parsed data; a per-mailbox keyword registry
	 * (FLAGS/PERMANENTFLAGS, first spelling kept, NOCASE); the expunge log
	 * for QRESYNC VANISHED; subscriptions by name, so they may outlive
	 * their mailbox (mailboxes.subscribed is copied here and no longer
	 * read).
	 */
	"ALTER TABLE blobs ADD COLUMN body TEXT;"
	"CREATE TABLE mailbox_keywords (id INTEGER PRIMARY KEY,"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL COLLATE NOCASE, UNIQUE(mailbox_id, name));"
	"CREATE TABLE expunged ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  uid INTEGER NOT NULL, modseq INTEGER NOT NULL,"
	"  PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);"
	"CREATE TABLE subscriptions ("
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL, PRIMARY KEY(account_id, name)) WITHOUT ROWID;"
	"INSERT INTO subscriptions(account_id, name)"
	"  SELECT account_id, name FROM mailboxes WHERE subscribed <> 0;",
	/* 3: outbound delivery: the delay notice goes out once per entry. */
	"ALTER TABLE queue ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;",
	/* 4: JMAP account-wide states and change log (store-jmap.c explains). */
	STORE_JMAP_MIGRATION,
	/*
	 * 5: blobs of expunged messages are kept until a time (see
	 * store_blob_grace_set), so that IMAP sessions not yet told of an
	 * expunge can still read the message; IMAP4rev1's \Recent: the UIDs
	 * from recent_uid on have not been shown to any session yet (what
	 * exists at the upgrade counts as seen).
	 */
	"CREATE TABLE held_blobs (blob_id TEXT PRIMARY KEY, until INTEGER NOT NULL)"
	"  WITHOUT ROWID;"
	"CREATE INDEX held_blobs_until ON held_blobs(until);"
	"ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;"
	"UPDATE mailboxes SET recent_uid = uidnext;"
	/* The expunge log keeps the row, for FETCH by sessions not yet told. */
	"ALTER TABLE expunged ADD COLUMN blob_id TEXT;"
	"ALTER TABLE expunged ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE expunged ADD COLUMN keywords TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE expunged ADD COLUMN internal_date INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE expunged ADD COLUMN save_date INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE expunged ADD COLUMN size INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 6: the full-text index (store-search.c): one FTS5 trigram document
	 * per blob, written with the blob row; what exists at the upgrade
	 * waits in search_pending for the backfill. The trigger drops a
	 * blob's document with the blob.
	 */
	"CREATE TABLE search_docs (id INTEGER PRIMARY KEY, blob_id TEXT NOT NULL UNIQUE);"
	"CREATE VIRTUAL TABLE search_fts USING fts5(hdr, body, parts,"
	"  tokenize = 'trigram case_sensitive 1');"
	"CREATE TABLE search_pending (blob_id TEXT PRIMARY KEY) WITHOUT ROWID;"
	"INSERT INTO search_pending(blob_id) SELECT id FROM blobs;"
	"CREATE TRIGGER search_blob_gone AFTER DELETE ON blobs BEGIN"
	"  DELETE FROM search_fts WHERE rowid IN"
	"    (SELECT id FROM search_docs WHERE blob_id = old.id);"
	"  DELETE FROM search_docs WHERE blob_id = old.id;"
	"  DELETE FROM search_pending WHERE blob_id = old.id;"
	"END;",
	/*
	 * 7 (issue 8 part 1): shared and public mailboxes (store-acl.c).
	 * acl: RFC 4314 rights per mailbox and grantee (an account id, 0
	 * "anyone", -1 "authenticated"); shared_seen: \Seen of readers who
	 * do not own the mailbox; mailbox_addresses: addresses that deliver
	 * into one mailbox (public folders). Public folders belong to one
	 * pseudo-account per domain whose address is "@domain".
	 */
	"CREATE TABLE acl ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  grantee INTEGER NOT NULL, rights TEXT NOT NULL,"
	"  PRIMARY KEY(mailbox_id, grantee)) WITHOUT ROWID;"
	"CREATE INDEX acl_grantee ON acl(grantee);"
	"CREATE TABLE shared_seen ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  account_id INTEGER NOT NULL, uid INTEGER NOT NULL,"
	"  PRIMARY KEY(mailbox_id, account_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX shared_seen_account ON shared_seen(account_id);"
	"CREATE TABLE mailbox_addresses (address TEXT PRIMARY KEY,"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE)"
	"  WITHOUT ROWID;"
	"CREATE INDEX mailbox_addresses_mailbox ON mailbox_addresses(mailbox_id);",
	/*
	 * 8: the word index beside the trigram one (store-search.c explains),
	 * rebuilt from search_fts: search_words (FTS5, ascii tokens, no
	 * positions, no copy of the text), search_terms (every token, for
	 * substring lookups), search_mail (the document of each mailbox
	 * entry, kept by triggers, so hits are mapped to UIDs without a join
	 * per hit). A blob's words leave before its trigram document does.
	 */
	"CREATE VIRTUAL TABLE search_words USING fts5(hdr, body, parts,"
	"  tokenize = 'ascii', detail = 'column', content = '');"
	"INSERT INTO search_words(rowid, hdr, body, parts)"
	"  SELECT rowid, hdr, body, parts FROM search_fts;"
	"CREATE TABLE search_terms (term TEXT PRIMARY KEY) WITHOUT ROWID;"
	"CREATE VIRTUAL TABLE temp.search_words_vocab USING fts5vocab(main, search_words, row);"
	"INSERT INTO search_terms(term) SELECT term FROM temp.search_words_vocab;"
	"DROP TABLE temp.search_words_vocab;"
	"CREATE TRIGGER search_words_gone BEFORE DELETE ON blobs BEGIN"
	"  INSERT INTO search_words(search_words, rowid, hdr, body, parts)"
	"    SELECT 'delete', f.rowid, f.hdr, f.body, f.parts FROM search_docs d"
	"    CROSS JOIN search_fts f ON f.rowid = d.id WHERE d.blob_id = old.id;"
	"END;"
	"CREATE TABLE search_mail (mailbox_id INTEGER NOT NULL, uid INTEGER NOT NULL,"
	"  doc INTEGER NOT NULL, PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX search_mail_doc ON search_mail(doc, mailbox_id);"
	"INSERT INTO search_mail(mailbox_id, uid, doc) SELECT m.mailbox_id, m.uid, d.id"
	"  FROM messages m CROSS JOIN search_docs d ON d.blob_id = m.blob_id;"
	"CREATE TRIGGER search_mail_add AFTER INSERT ON messages BEGIN"
	"  INSERT OR REPLACE INTO search_mail(mailbox_id, uid, doc)"
	"    SELECT new.mailbox_id, new.uid, d.id FROM search_docs d WHERE d.blob_id = new.blob_id;"
	"END;"
	"CREATE TRIGGER search_mail_indexed AFTER INSERT ON search_docs BEGIN"
	"  INSERT OR REPLACE INTO search_mail(mailbox_id, uid, doc)"
	"    SELECT m.mailbox_id, m.uid, new.id FROM messages m WHERE m.blob_id = new.blob_id;"
	"END;"
	"CREATE TRIGGER search_mail_del AFTER DELETE ON messages BEGIN"
	"  DELETE FROM search_mail WHERE mailbox_id = old.mailbox_id AND uid = old.uid;"
	"END;"
	"CREATE TRIGGER search_mail_move AFTER UPDATE OF mailbox_id, uid, blob_id ON messages BEGIN"
	"  DELETE FROM search_mail WHERE mailbox_id = old.mailbox_id AND uid = old.uid;"
	"  INSERT OR REPLACE INTO search_mail(mailbox_id, uid, doc)"
	"    SELECT new.mailbox_id, new.uid, d.id FROM search_docs d WHERE d.blob_id = new.blob_id;"
	"END;",
	/*
	 * 9 (issue 8 part 3): IMAP PREVIEW (RFC 8970) computed at delivery
	 * with the other parsed fields; NULL for blobs stored before, which
	 * FETCH PREVIEW computes from the message when asked (not LAZY).
	 */
	"ALTER TABLE blobs ADD COLUMN preview TEXT;",
	/*
	 * 10 (issue 8 part 3): METADATA (RFC 5464, store-metadata.c). One row
	 * per entry: mailbox_id NULL is a server entry; account_id NULL a
	 * /shared one, else whose /private one it is. Both cascade, so an
	 * entry goes with its mailbox (and follows it through RENAME, being
	 * keyed by id) and with its account.
	 */
	"CREATE TABLE metadata ("
	"  mailbox_id INTEGER REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL, value BLOB NOT NULL);"
	"CREATE UNIQUE INDEX metadata_key ON metadata(ifnull(mailbox_id, 0),"
	"  ifnull(account_id, 0), name);"
	"CREATE INDEX metadata_account ON metadata(account_id);",
	/*
	 * 11: SCRAM-SHA-256 secrets (auth/auth-scram.c): "" until the password is
	 * set again after this step, since they derive from the password.
	 */
	"ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '';",
	/*
	 * 12 (webmail speed): a mailbox's messages by internal date, so that
	 * Email/query's usual page (store_jmap_mailbox_page) is read from the
	 * index instead of sorting the whole mailbox; thread_id makes the
	 * index cover collapseThreads and its count.
	 */
	"CREATE INDEX messages_date ON messages(mailbox_id, internal_date, thread_id);",
	/*
	 * 13 (outbound limits): who submitted each queued message (the
	 * authenticated account's address, "" for bounces and relayed mail),
	 * and per-account sending limits that override the configuration's
	 * (NULL: the default; 0: unlimited).
	 */
	"ALTER TABLE queue ADD COLUMN submitter TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE account_limits (account_id INTEGER PRIMARY KEY"
	"  REFERENCES accounts(id) ON DELETE CASCADE,"
	"  messages INTEGER, recipients INTEGER);",
	/*
	 * 14 (Sieve): each account's scripts (source as stored, compiled at
	 * delivery; at most one active), and the vacation memory: when a
	 * reply with this handle went to this sender, until when it is not
	 * sent again (store-sieve.c).
	 */
	"CREATE TABLE sieve_scripts("
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL, source BLOB NOT NULL, active INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL, PRIMARY KEY(account_id, name));"
	"CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts(account_id) WHERE active = 1;"
	"CREATE TABLE sieve_vacation("
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
	"  handle TEXT NOT NULL, sender TEXT NOT NULL, expires INTEGER NOT NULL,"
	"  PRIMARY KEY(account_id, handle, sender));",
	/*
	 * 15 (issue 8): the MODSEQ of a reader's own \Seen change on a mailbox
	 * it does not own (store-acl.c). Such a change leaves the message row
	 * (and its MODSEQ) alone, so other readers see nothing; the reader
	 * sees max(row MODSEQ, this one). Kept when \Seen is removed again.
	 */
	"CREATE TABLE shared_seen_modseq ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	"  account_id INTEGER NOT NULL, uid INTEGER NOT NULL, modseq INTEGER NOT NULL,"
	"  PRIMARY KEY(mailbox_id, account_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX shared_seen_modseq_account ON shared_seen_modseq(account_id);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const struct {
	const char *name;
	const char *special_use;
} default_mailboxes[] = {
	{"INBOX", ""},        {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
	{"Trash", "\\Trash"}, {"Junk", "\\Junk"},     {"Archive", "\\Archive"},
};

/* --- errors, statements, transactions ---------------------------------- */

int store_fail(struct store *s, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = s->err;
	return -1;
}

int store_db_fail(struct store *s, const char **error_r)
{
	log_error("store_db_error", "code=%d msg=\"%s\"", sqlite3_extended_errcode(s->db),
		  sqlite3_errmsg(s->db));
	return store_fail(s, error_r, "database error: %s", sqlite3_errmsg(s->db));
}

int store_row_result(struct store *s, int rc)
{
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/*
 * A cached prepared statement, reset and unbound. The cache is keyed by the
 * SQL literal's address, so each call site keeps its own statement.
 */
sqlite3_stmt *store_stmt(struct store *s, const char *sql)
{
	size_t i;

	for (i = 0; i < STORE_STMT_CACHE && s->stmts[i].sql != NULL; i++) {
		if (s->stmts[i].sql == sql) {
			sqlite3_reset(s->stmts[i].stmt);
			sqlite3_clear_bindings(s->stmts[i].stmt);
			return s->stmts[i].stmt;
		}
	}
	if (i == STORE_STMT_CACHE)
		abort(); /* more call sites than slots: raise STORE_STMT_CACHE */
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return NULL;
	s->stmts[i].sql = sql;
	s->stmts[i].stmt = st;
	return st;
}

/* Reset after use: a statement left stepping pins an old read snapshot. */
void store_stmt_done(sqlite3_stmt *st)
{
	if (st != NULL)
		sqlite3_reset(st);
}

void store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* Copy a text column into a fixed buffer, truncating, "" for NULL. */
void store_col_copy(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", v != NULL ? (const char *)v : "");
}

static int exec_retry(struct store *s, const char *sql)
{
	int rc = SQLITE_BUSY;

	/* busy_timeout already waits; retries cover the rare immediate BUSY. */
	for (int i = 0; i < BUSY_RETRIES; i++) {
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
	}
	return rc;
}

void store_event_add(struct store *s, int64_t account_id, int64_t mailbox_id, uint64_t modseq)
{
	for (size_t i = 0; i < s->n_events; i++) {
		if (s->events[i].mailbox_id == mailbox_id) {
			if (modseq > s->events[i].modseq)
				s->events[i].modseq = modseq;
			return;
		}
	}
	if (s->n_events == s->cap_events) {
		s->cap_events = s->cap_events ? s->cap_events * 2 : 8;
		s->events = xrealloc(s->events, s->cap_events * sizeof(*s->events));
	}
	s->events[s->n_events++] = (struct store_event){account_id, mailbox_id, modseq};
}

int store_event_mailbox(struct store *s, int64_t mailbox_id)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT account_id, highestmodseq FROM mailboxes"
				      " WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_event_add(s, sqlite3_column_int64(st, 0), mailbox_id,
				(uint64_t)sqlite3_column_int64(st, 1));
	store_stmt_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_tx_begin(struct store *s, const char **error_r)
{
	s->n_events = 0;
	if (exec_retry(s, "BEGIN IMMEDIATE") != SQLITE_OK)
		return store_db_fail(s, error_r);
	return 0;
}

void store_tx_rollback(struct store *s)
{
	s->n_events = 0;
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_tx_commit(struct store *s, const char **error_r)
{
	if (exec_retry(s, "COMMIT") != SQLITE_OK) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	/* Only what is durable is announced; a subscriber re-reads the store. */
	for (size_t i = 0; i < s->n_events; i++)
		store_notify_publish(s->events[i].account_id, s->events[i].mailbox_id,
				     s->events[i].modseq);
	s->n_events = 0;
	return 0;
}

void store_sync_set(struct store *s, bool durable)
{
	/*
	 * In WAL mode synchronous=NORMAL commits without fsyncing the WAL;
	 * the frames become durable with the next synced commit or checkpoint
	 * of any connection (one WAL file). Set outside a transaction: inside
	 * one, SQLite still syncs a fresh WAL's header.
	 */
	if (sqlite3_exec(s->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			 NULL, NULL, NULL) != SQLITE_OK &&
	    durable) {
		/* Never go on without fsync. */
		log_error("store_sync_restore", "error=\"%s\"", sqlite3_errmsg(s->db));
		abort();
	}
}

/* --- validation -------------------------------------------------------- */

static bool byte_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

static bool domain_valid(const char *d, size_t len)
{
	if (len == 0 || len > 253 || d[0] == '.' || d[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!byte_ok((unsigned char)d[i]) || d[i] == '@')
			return false;
		if (d[i] == '.' && d[i + 1] == '.')
			return false;
	}
	return true;
}

static int domain_normalize(struct store *s, const char *in, char *out, size_t outsz,
			    const char **error_r)
{
	if (in == NULL || !domain_valid(in, strlen(in)) || strlen(in) >= outsz)
		return store_fail(s, error_r, "invalid domain name");
	snprintf(out, outsz, "%s", in);
	str_lower(out);
	return 0;
}

/*
 * Lower-case and check an address: exactly one '@', non-empty local part
 * (empty allowed only for an "@domain" catch-all), valid domain, no
 * whitespace or control characters. out holds 320 bytes.
 */
static int address_normalize(struct store *s, const char *in, bool catchall_ok, char *out,
			     const char **error_r)
{
	const char *at;
	size_t len;

	if (in == NULL || (len = strlen(in)) == 0 || len >= 320)
		return store_fail(s, error_r, "invalid address");
	at = strchr(in, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL || (at == in && !catchall_ok) || at - in > 64)
		return store_fail(s, error_r, "invalid address");
	for (size_t i = 0; i < len; i++) {
		if (!byte_ok((unsigned char)in[i]))
			return store_fail(s, error_r, "invalid address");
	}
	if (!domain_valid(at + 1, strlen(at + 1)))
		return store_fail(s, error_r, "invalid address");
	memcpy(out, in, len + 1);
	str_lower(out);
	return 0;
}

/* A remote address is kept as given (its local part may be case-sensitive). */
bool store_remote_address_valid(const char *a)
{
	size_t len;

	if (a == NULL || (len = strlen(a)) == 0 || len >= 320)
		return false;
	const char *at = strrchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!byte_ok((unsigned char)a[i]))
			return false;
	}
	return true;
}

/* --- blob garbage collection ------------------------------------------- */

void store_idlist_add(struct store_idlist *l, const char *id)
{
	if (id == NULL)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
	}
	snprintf(l->ids[l->n++], STORE_BLOB_ID_LEN + 1, "%s", id);
}

void store_idlist_free(struct store_idlist *l)
{
	free(l->ids);
	l->ids = NULL;
	l->n = l->cap = 0;
}

/* Collect the blob ids a statement (already bound) returns in column 0. */
int store_idlist_collect(struct store *s, sqlite3_stmt *st, struct store_idlist *l,
			 const char **error_r)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_idlist_add(l, (const char *)sqlite3_column_text(st, 0));
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/*
 * Seconds a blob outlives the expunge of its last message (0: none). Set
 * once at start-up, before any store handle is used from several threads.
 */
static int64_t blob_grace;

void store_blob_grace_set(unsigned seconds)
{
	blob_grace = seconds;
}

/* Bind ?1 to the blob id and ?2, when the statement has it, to n. */
static sqlite3_stmt *blob_stmt(struct store *s, const char *sql, const char *id, int64_t n)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return NULL;
	store_bind_text(st, 1, id);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, n);
	return st;
}

static int exec_blob(struct store *s, const char *sql, const char *id, int64_t n)
{
	sqlite3_stmt *st = blob_stmt(s, sql, id, n);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 when a row of sql (binding id and n) exists, 0 when not, -1 on error. */
static int blob_query(struct store *s, const char *sql, const char *id, int64_t n)
{
	sqlite3_stmt *st = blob_stmt(s, sql, id, n);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : -1;
	store_stmt_done(st);
	return r;
}

/*
 * One blob whose references were dropped. Still referenced: kept (and an
 * expired hold forgotten). Otherwise, with hold_until > 0, held until then;
 * without, deleted unless an earlier hold has not expired yet.
 */
static int blob_gc_one(struct store *s, const char *id, int64_t hold_until, int64_t now)
{
	int r = blob_query(s,
			   "SELECT EXISTS(SELECT 1 FROM messages WHERE blob_id = ?1)"
			   " OR EXISTS(SELECT 1 FROM queue WHERE blob_id = ?1)"
			   " OR EXISTS(SELECT 1 FROM jmap_uploads WHERE blob_id = ?1)",
			   id, 0);
	if (r != 0)
		return r < 0
			? -1
			: exec_blob(s, "DELETE FROM held_blobs WHERE blob_id = ? AND until <= ?",
				    id, now);
	if (hold_until > 0)
		return exec_blob(
			s,
			"INSERT INTO held_blobs(blob_id, until) VALUES (?, ?)"
			" ON CONFLICT(blob_id) DO UPDATE SET until = MAX(until, excluded.until)",
			id, hold_until);
	r = blob_query(s, "SELECT EXISTS(SELECT 1 FROM held_blobs WHERE blob_id = ? AND until > ?)",
		       id, now);
	if (r != 0)
		return r < 0 ? -1 : 0;
	if (exec_blob(s, "DELETE FROM held_blobs WHERE blob_id = ?", id, 0) < 0 ||
	    exec_blob(s, "DELETE FROM blobs WHERE id = ?", id, 0) < 0)
		return -1;
	return store_blob_unlink(s, id);
}

/* The holds that expired by now (at most 1000 a time: the rest next time). */
static int blob_expired_holds(struct store *s, int64_t now, struct store_idlist *l)
{
	sqlite3_stmt *st =
		store_stmt(s, "SELECT blob_id FROM held_blobs WHERE until <= ? LIMIT 1000");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	return store_idlist_collect(s, st, l, NULL);
}

/*
 * Delete (or hold, with hold true and a grace period set) the blobs of ids
 * that nothing references any more, then the held ones whose time is up.
 * Runs after the commit that dropped the references, in its own write
 * transaction: a concurrent delivery of the same content re-checks its file
 * under the same lock, so the unlink can never race a new reference. A
 * failure here only leaves an orphan, so it is logged, not returned.
 */
static void blob_gc(struct store *s, const struct store_idlist *l, bool hold)
{
	const char *error;
	int64_t now = (int64_t)time(NULL);
	int64_t until = hold && blob_grace > 0 ? now + blob_grace : 0;
	struct store_idlist expired = {0};

	if (l->n == 0 && !hold)
		return;
	if (store_tx_begin(s, &error) < 0) {
		log_warn("store_blob_gc", "error=\"%s\"", error);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (blob_gc_one(s, l->ids[i], until, now) < 0)
			log_warn("store_blob_gc", "blob=%s error=\"%s\"", l->ids[i],
				 sqlite3_errmsg(s->db));
	}
	if (hold && blob_expired_holds(s, now, &expired) < 0)
		log_warn("store_blob_gc", "error=\"%s\"", sqlite3_errmsg(s->db));
	for (size_t i = 0; i < expired.n; i++) {
		if (blob_gc_one(s, expired.ids[i], 0, now) < 0)
			log_warn("store_blob_gc", "blob=%s error=\"%s\"", expired.ids[i],
				 sqlite3_errmsg(s->db));
	}
	store_idlist_free(&expired);
	if (store_tx_commit(s, &error) < 0)
		log_warn("store_blob_gc", "error=\"%s\"", error);
}

void store_blob_gc(struct store *s, const struct store_idlist *l)
{
	blob_gc(s, l, false);
}

void store_blob_gc_expunged(struct store *s, const struct store_idlist *l)
{
	blob_gc(s, l, true);
}

int store_tx_end_gc(struct store *s, int ret, struct store_idlist *blobs, const char **error_r)
{
	if (ret < 0) {
		store_tx_rollback(s);
	} else {
		ret = store_tx_commit(s, error_r);
		if (ret == 0)
			blob_gc(s, blobs, true);
	}
	store_idlist_free(blobs);
	return ret;
}

/* --- open / close ------------------------------------------------------ */

static int migrate(struct store *s, const char **error_r)
{
	sqlite3_stmt *st = NULL;
	int version;
	char sql[64];

	if (store_tx_begin(s, error_r) < 0)
		return -1;
	/* Read inside the write lock: another handle may have just migrated. */
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		store_tx_rollback(s);
		return store_fail(s, error_r,
				  "database schema version %d is newer than "
				  "this facteur (%d)",
				  version, SCHEMA_VERSION);
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			store_db_fail(s, error_r);
			store_tx_rollback(s);
			return -1;
		}
	}
	if (version == SCHEMA_VERSION) {
		store_tx_rollback(s);
		return 0;
	}
	/* PRAGMA takes no parameters; the value is our own constant. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	if (store_tx_commit(s, error_r) < 0)
		return -1;
	log_info("store_migrated", "from=%d to=%d", version, SCHEMA_VERSION);
	return 0;
}

static int db_configure(struct store *s, const char **error_r)
{
	sqlite3_stmt *st = NULL;
	bool wal = false;

	sqlite3_busy_timeout(s->db, 10000);
	sqlite3_extended_result_codes(s->db, 1);
	/* Switching to WAL needs a moment alone with the file: retry on BUSY. */
	for (int i = 0; i < 50 && !wal; i++) {
		if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
		    SQLITE_OK)
			return store_db_fail(s, error_r);
		if (sqlite3_step(st) == SQLITE_ROW)
			wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
		sqlite3_finalize(st);
		if (!wal)
			usleep(20000);
	}
	if (!wal)
		return store_fail(s, error_r, "cannot switch database to WAL mode");
	if (sqlite3_exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL,
			 NULL) != SQLITE_OK)
		return store_db_fail(s, error_r);
	return 0;
}

int store_open(const char *dir, struct store **store_r, const char **error_r)
{
	/* The handle (and its error buffer) dies on failure: report from here. */
	static _Thread_local char open_err[512];
	struct store *s;
	const char *error;

	*store_r = NULL;
	if (dir == NULL || dir[0] == '\0') {
		*error_r = "store directory not set";
		return -1;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		/* EACCES also comes when dir exists but a parent may not be entered. */
		snprintf(open_err, sizeof(open_err), "cannot %s %s: %s",
			 errno == EACCES ? "reach or create" : "create", dir, strerror(errno));
		*error_r = open_err;
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(dir);
	s->blob_dir = xasprintf("%s/blobs", dir);
	s->parsed_cache_entries = STORE_PARSED_CACHE_ENTRIES;
	s->parsed_cache_bytes = STORE_PARSED_CACHE_BYTES;
	char *path = xasprintf("%s/facteur.db", dir);
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	free(path);
	if (rc != SQLITE_OK) {
		snprintf(open_err, sizeof(open_err), "cannot open database in %s: %s", dir,
			 s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
		goto failed;
	}
	if (db_configure(s, &error) < 0 || migrate(s, &error) < 0 ||
	    store_blob_init(s, &error) < 0) {
		snprintf(open_err, sizeof(open_err), "%s", error);
		goto failed;
	}
	*store_r = s;
	return 0;
failed:
	*error_r = open_err;
	store_close(&s);
	return -1;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	for (size_t i = 0; i < STORE_STMT_CACHE; i++)
		sqlite3_finalize(s->stmts[i].stmt);
	sqlite3_close_v2(s->db);
	lru_destroy(&s->parsed_cache);
	free(s->events);
	free(s->dir);
	free(s->blob_dir);
	free(s);
}

/* --- domains ----------------------------------------------------------- */

/* 1 and *id_r, 0 unknown, -1 error. */
static int domain_id(struct store *s, const char *name, int64_t *id_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT id FROM domains WHERE name = ?");
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && id_r != NULL)
		*id_r = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int domain_add_tx(struct store *s, const char *name, const char **error_r)
{
	int ret = domain_id(s, name, NULL);
	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret > 0)
		return store_fail(s, error_r, "domain %s already exists", name);
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO domains(name) VALUES (?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

int store_domain_add(struct store *s, const char *domain, const char **error_r)
{
	char name[256];

	if (domain_normalize(s, domain, name, sizeof(name), error_r) < 0 ||
	    store_tx_begin(s, error_r) < 0)
		return -1;
	if (domain_add_tx(s, name, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

/* domain_id, failing with "no such domain" when there is none. 0 / -1. */
static int domain_id_known(struct store *s, const char *name, int64_t *id_r, const char **error_r)
{
	int ret = domain_id(s, name, id_r);
	if (ret < 0)
		return store_db_fail(s, error_r);
	return ret == 0 ? store_fail(s, error_r, "no such domain") : 0;
}

/*
 * Fail with "<what> already exists" if sql (a string literal with one text
 * parameter, or two when b is non-NULL) finds a row. 0 / -1.
 */
static int text_row_absent(struct store *s, const char *sql, const char *a, const char *b,
			   const char *what, const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL)
		return store_db_fail(s, error_r);
	store_bind_text(st, 1, a);
	if (b != NULL)
		store_bind_text(st, 2, b);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc == SQLITE_ROW)
		return store_fail(s, error_r, "%s already exists", what);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

static int domain_remove_tx(struct store *s, const char *name, const char **error_r)
{
	int64_t id;
	if (domain_id_known(s, name, &id, error_r) < 0)
		return -1;
	sqlite3_stmt *st =
		store_stmt(s, "SELECT EXISTS(SELECT 1 FROM accounts WHERE domain_id = ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	bool used = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
	store_stmt_done(st);
	if (rc != SQLITE_ROW)
		return store_db_fail(s, error_r);
	if (used)
		return store_fail(s, error_r, "domain %s still has accounts", name);
	/* Its aliases go with it (ON DELETE CASCADE). */
	st = store_stmt(s, "DELETE FROM domains WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

int store_domain_remove(struct store *s, const char *domain, const char **error_r)
{
	char name[256];

	if (domain_normalize(s, domain, name, sizeof(name), error_r) < 0)
		return store_fail(s, error_r, "no such domain");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	if (domain_remove_tx(s, name, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

int store_domain_exists(struct store *s, const char *domain)
{
	char name[256];

	if (domain_normalize(s, domain, name, sizeof(name), NULL) < 0)
		return 0;
	return domain_id(s, name, NULL);
}

void store_strlist_add(struct store_strlist *l, const char *str)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(str != NULL ? str : "");
}

void store_strlist_free(struct store_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

int store_strlist_emit(struct store *s, sqlite3_stmt *st, void (*cb)(void *ctx, const char *str),
		       void *ctx)
{
	struct store_strlist l = {0};
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_strlist_add(&l, (const char *)sqlite3_column_text(st, 0));
	store_stmt_done(st);
	if (rc == SQLITE_DONE) {
		for (size_t i = 0; i < l.n; i++)
			cb(ctx, l.v[i]);
	}
	store_strlist_free(&l);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

int store_domain_list(struct store *s, void (*cb)(void *ctx, const char *domain), void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT name FROM domains ORDER BY name");
	if (st == NULL)
		return store_db_fail(s, NULL);
	return store_strlist_emit(s, st, cb, ctx);
}

/* --- accounts ---------------------------------------------------------- */

#define ACCOUNT_COLUMNS                                                                            \
	"SELECT a.id, a.address, a.password_hash, a.quota_bytes, a.scram,"                         \
	" (SELECT COALESCE(SUM(m.size), 0) FROM messages m"                                        \
	"  JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.account_id = a.id)"                     \
	" FROM accounts a "

static void account_from_row(sqlite3_stmt *st, struct store_account *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, a->address, sizeof(a->address));
	store_col_copy(st, 2, a->password_hash, sizeof(a->password_hash));
	a->quota_bytes = sqlite3_column_int64(st, 3);
	store_col_copy(st, 4, a->scram, sizeof(a->scram));
	a->used_bytes = sqlite3_column_int64(st, 5);
}

static int account_fetch(struct store *s, sqlite3_stmt *st, struct store_account *a)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		account_from_row(st, a);
	store_stmt_done(st);
	return store_row_result(s, rc);
}

int store_account_get(struct store *s, const char *address, struct store_account *account_r)
{
	char addr[320];

	if (address_normalize(s, address, false, addr, NULL) < 0)
		return 0;
	sqlite3_stmt *st = store_stmt(s, ACCOUNT_COLUMNS "WHERE a.address = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	store_bind_text(st, 1, addr);
	return account_fetch(s, st, account_r);
}

int store_account_get_by_id(struct store *s, int64_t id, struct store_account *account_r)
{
	sqlite3_stmt *st = store_stmt(s, ACCOUNT_COLUMNS "WHERE a.id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, id);
	return account_fetch(s, st, account_r);
}

int store_account_list(struct store *s, void (*cb)(void *ctx, const struct store_account *a),
		       void *ctx)
{
	struct store_account *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	/* Not the public folders' pseudo-accounts ("@domain", store-acl.c). */
	sqlite3_stmt *st = store_stmt(
		s, ACCOUNT_COLUMNS "WHERE substr(a.address, 1, 1) <> '@' ORDER BY a.address");
	if (st == NULL)
		return store_db_fail(s, NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		account_from_row(st, &v[n++]);
	}
	store_stmt_done(st);
	if (rc == SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			cb(ctx, &v[i]);
	}
	free(v);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

static int account_add_tx(struct store *s, const char *addr, const char *hash, int64_t *id_r,
			  const char **error_r)
{
	int64_t domain, id;

	if (domain_id_known(s, strchr(addr, '@') + 1, &domain, error_r) < 0 ||
	    text_row_absent(s, "SELECT 1 FROM accounts WHERE address = ?", addr, NULL, "account",
			    error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s,
				      "INSERT INTO accounts(domain_id, address, password_hash)"
				      " VALUES (?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, domain);
	store_bind_text(st, 2, addr);
	store_bind_text(st, 3, hash);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	id = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++) {
		if (store_mailbox_insert(s, id, default_mailboxes[i].name,
					 default_mailboxes[i].special_use, true, error_r) < 0)
			return -1;
	}
	if (id_r != NULL)
		*id_r = id;
	return 0;
}

static int hash_check(struct store *s, const char *hash, const char **error_r)
{
	if (hash == NULL || strlen(hash) >= sizeof(((struct store_account *)0)->password_hash))
		return store_fail(s, error_r, "invalid password hash");
	return 0;
}

int store_account_add(struct store *s, const char *address, const char *password_hash,
		      int64_t *id_r, const char **error_r)
{
	char addr[320];

	if (address_normalize(s, address, false, addr, error_r) < 0 ||
	    hash_check(s, password_hash, error_r) < 0 || store_tx_begin(s, error_r) < 0)
		return -1;
	if (account_add_tx(s, addr, password_hash, id_r, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

static int account_remove_tx(struct store *s, const char *addr, struct store_idlist *blobs,
			     const char **error_r)
{
	struct store_account a = {0};
	int ret = store_account_get(s, addr, &a);

	if (ret < 0)
		return store_db_fail(s, error_r);
	if (ret == 0)
		return store_fail(s, error_r, "no such account");
	sqlite3_stmt *st =
		store_stmt(s,
			   "SELECT DISTINCT m.blob_id FROM messages m"
			   " JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.account_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, a.id);
	if (store_idlist_collect(s, st, blobs, error_r) < 0)
		return -1;
	if (store_acl_account_removed(s, a.id, error_r) < 0)
		return -1;
	/* Mailboxes and their messages go by ON DELETE CASCADE. */
	st = store_stmt(s, "DELETE FROM accounts WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, a.id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

int store_account_remove(struct store *s, const char *address, const char **error_r)
{
	char addr[320];
	struct store_idlist blobs = {0};

	if (address_normalize(s, address, false, addr, error_r) < 0)
		return store_fail(s, error_r, "no such account");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	return store_tx_end_gc(s, account_remove_tx(s, addr, &blobs, error_r), &blobs, error_r);
}

/*
 * Run the bound statement st, inside a transaction already begun, that must
 * change at least one row: commit if it did, else roll back with missing
 * (or the database error) in *error_r.
 */
static int single_change_commit(struct store *s, sqlite3_stmt *st, const char *missing,
				const char **error_r)
{
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE || sqlite3_changes(s->db) == 0) {
		if (rc != SQLITE_DONE)
			store_db_fail(s, error_r);
		else
			store_fail(s, error_r, "%s", missing);
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

/*
 * A transaction begun and sql prepared for one change to the account of
 * address (normalised into addr); NULL, rolled back, on failure.
 */
static sqlite3_stmt *account_change_begin(struct store *s, const char *sql, const char *address,
					  char addr[320], const char **error_r)
{
	if (address_normalize(s, address, false, addr, error_r) < 0) {
		store_fail(s, error_r, "no such account");
		return NULL;
	}
	if (store_tx_begin(s, error_r) < 0)
		return NULL;
	sqlite3_stmt *st = store_stmt(s, sql);
	if (st == NULL) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
	}
	return st;
}

/* One UPDATE on the account row, with "no such account" when none matched. */
static int account_update(struct store *s, const char *sql, const char *address, const char *text,
			  int64_t num, const char **error_r)
{
	char addr[320];
	sqlite3_stmt *st = account_change_begin(s, sql, address, addr, error_r);
	if (st == NULL)
		return -1;
	if (text != NULL)
		store_bind_text(st, 1, text);
	else
		sqlite3_bind_int64(st, 1, num);
	store_bind_text(st, 2, addr);
	return single_change_commit(s, st, "no such account", error_r);
}

int store_account_set_password(struct store *s, const char *address, const char *password_hash,
			       const char **error_r)
{
	if (hash_check(s, password_hash, error_r) < 0)
		return -1;
	/* The old SCRAM secrets would still accept the old password. */
	return account_update(s,
			      "UPDATE accounts SET password_hash = ?, scram = '' WHERE address = ?",
			      address, password_hash, 0, error_r);
}

int store_account_set_scram(struct store *s, const char *address, const char *scram,
			    const char **error_r)
{
	if (scram == NULL || strlen(scram) >= sizeof(((struct store_account *)0)->scram))
		return store_fail(s, error_r, "invalid SCRAM secrets");
	return account_update(s, "UPDATE accounts SET scram = ? WHERE address = ?", address, scram,
			      0, error_r);
}

int store_account_set_quota(struct store *s, const char *address, int64_t quota_bytes,
			    const char **error_r)
{
	if (quota_bytes < 0)
		return store_fail(s, error_r, "invalid quota");
	return account_update(s, "UPDATE accounts SET quota_bytes = ? WHERE address = ?", address,
			      NULL, quota_bytes, error_r);
}

static void bind_limit(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

int store_account_set_limits(struct store *s, const char *address, int64_t messages,
			     int64_t recipients, const char **error_r)
{
	char addr[320];
	sqlite3_stmt *st = account_change_begin(
		s,
		"INSERT INTO account_limits(account_id, messages, recipients)"
		" SELECT id, ?, ? FROM accounts WHERE address = ?"
		" ON CONFLICT(account_id) DO UPDATE SET messages = excluded.messages,"
		" recipients = excluded.recipients",
		address, addr, error_r);
	if (st == NULL)
		return -1;
	bind_limit(st, 1, messages);
	bind_limit(st, 2, recipients);
	store_bind_text(st, 3, addr);
	return single_change_commit(s, st, "no such account", error_r);
}

int store_account_limits(struct store *s, int64_t account_id, int64_t *messages_r,
			 int64_t *recipients_r)
{
	*messages_r = *recipients_r = -1;
	sqlite3_stmt *st = store_stmt(
		s, "SELECT messages, recipients FROM account_limits WHERE account_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*messages_r = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*recipients_r = sqlite3_column_int64(st, 1);
	}
	store_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_db_fail(s, NULL);
	return rc == SQLITE_ROW;
}

/* --- aliases ----------------------------------------------------------- */

static int alias_add_tx(struct store *s, const char *src, const char *target, const char **error_r)
{
	int64_t domain;

	if (domain_id_known(s, strchr(src, '@') + 1, &domain, error_r) < 0 ||
	    text_row_absent(s, "SELECT 1 FROM aliases WHERE source = ? AND target = ?", src, target,
			    "alias", error_r) < 0)
		return -1;
	sqlite3_stmt *st =
		store_stmt(s, "INSERT INTO aliases(domain_id, source, target) VALUES (?, ?, ?)");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, domain);
	store_bind_text(st, 2, src);
	store_bind_text(st, 3, target);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, error_r);
}

/*
 * Targets are lower-cased when local-looking syntax allows; a remote
 * target is stored lower-cased too, which every real MTA tolerates.
 */
static int alias_normalize(struct store *s, const char *source, const char *target, char *src,
			   char *dst, const char **error_r)
{
	if (address_normalize(s, source, true, src, error_r) < 0)
		return store_fail(s, error_r, "invalid alias source");
	if (address_normalize(s, target, false, dst, error_r) < 0)
		return store_fail(s, error_r, "invalid alias target");
	if (strcmp(src, dst) == 0)
		return store_fail(s, error_r, "alias points to itself");
	return 0;
}

int store_alias_add(struct store *s, const char *source, const char *target, const char **error_r)
{
	char src[320], dst[320];

	if (alias_normalize(s, source, target, src, dst, error_r) < 0 ||
	    store_tx_begin(s, error_r) < 0)
		return -1;
	if (alias_add_tx(s, src, dst, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

int store_alias_remove(struct store *s, const char *source, const char *target,
		       const char **error_r)
{
	char src[320], dst[320];

	if (alias_normalize(s, source, target, src, dst, error_r) < 0)
		return store_fail(s, error_r, "no such alias");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM aliases WHERE source = ? AND target = ?");
	if (st == NULL) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	store_bind_text(st, 1, src);
	store_bind_text(st, 2, dst);
	return single_change_commit(s, st, "no such alias", error_r);
}

int store_alias_list(struct store *s, void (*cb)(void *ctx, const char *source, const char *target),
		     void *ctx)
{
	struct store_strlist l = {0};
	int rc;

	sqlite3_stmt *st = store_stmt(s,
				      "SELECT source, target FROM aliases"
				      " ORDER BY source, target");
	if (st == NULL)
		return store_db_fail(s, NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_strlist_add(&l, (const char *)sqlite3_column_text(st, 0));
		store_strlist_add(&l, (const char *)sqlite3_column_text(st, 1));
	}
	store_stmt_done(st);
	if (rc == SQLITE_DONE) {
		for (size_t i = 0; i + 1 < l.n; i += 2)
			cb(ctx, l.v[i], l.v[i + 1]);
	}
	store_strlist_free(&l);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

/* --- resolve ----------------------------------------------------------- */

struct resolve {
	struct store *s;
	int64_t *accounts;
	size_t *n_accounts;
	char **remote;
	size_t *n_remote;
	size_t max;
	size_t found;   /* targets reached, duplicates included */
	size_t lookups; /* bounds the work a malicious alias graph can cause */
	bool truncated;
};

static void resolve_add_account(struct resolve *r, int64_t id)
{
	r->found++;
	for (size_t i = 0; i < *r->n_accounts; i++) {
		if (r->accounts[i] == id)
			return;
	}
	if (*r->n_accounts >= r->max) {
		r->truncated = true;
		return;
	}
	r->accounts[(*r->n_accounts)++] = id;
}

static void resolve_add_remote(struct resolve *r, const char *addr)
{
	if (r->remote == NULL || r->n_remote == NULL)
		return;
	r->found++;
	for (size_t i = 0; i < *r->n_remote; i++) {
		if (strcasecmp(r->remote[i], addr) == 0)
			return;
	}
	if (*r->n_remote >= r->max) {
		r->truncated = true;
		return;
	}
	r->remote[(*r->n_remote)++] = xstrdup(addr);
}

static int resolve_address(struct resolve *r, const char *addr, int depth);

/* 1 account found (added), 0 none, -1 error. */
static int resolve_account(struct resolve *r, const char *addr)
{
	sqlite3_stmt *st = store_stmt(r->s, "SELECT id FROM accounts WHERE address = ?");
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, addr);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		resolve_add_account(r, sqlite3_column_int64(st, 0));
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ROW ? 1 : -1;
	/* An address delivering into one mailbox (a public folder). */
	int64_t mailbox_id;
	int ret = store_mailbox_address_lookup(r->s, addr, &mailbox_id);
	if (ret > 0)
		resolve_add_account(r, STORE_TARGET_MAILBOX(mailbox_id));
	return ret;
}

/*
 * Expand the alias rows of source: 1 if it is an alias (whatever its
 * targets turn out to be), 0 if not, -1 error. The targets are read in full
 * before recursing because the recursion reuses the same statement.
 */
static int resolve_alias(struct resolve *r, const char *source, int depth)
{
	struct store_strlist targets = {0};
	int rc;

	if (++r->lookups > RESOLVE_MAX_LOOKUPS)
		return 0;
	sqlite3_stmt *st = store_stmt(r->s,
				      "SELECT target FROM aliases WHERE source = ?"
				      " ORDER BY id");
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, source);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && targets.n < RESOLVE_MAX_TARGETS)
		store_strlist_add(&targets, (const char *)sqlite3_column_text(st, 0));
	store_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_strlist_free(&targets);
		return -1;
	}
	int ret = targets.n > 0 ? 1 : 0;
	for (size_t i = 0; i < targets.n && ret >= 0; i++) {
		const char *at = strchr(targets.v[i], '@');
		int local = at != NULL ? domain_id(r->s, at + 1, NULL) : 0;
		if (at == NULL)
			continue; /* not written by store_alias_add: ignore */
		if (local < 0)
			ret = -1;
		else if (local == 0)
			resolve_add_remote(r, targets.v[i]);
		else if (resolve_address(r, targets.v[i], depth + 1) < 0)
			ret = -1;
	}
	store_strlist_free(&targets);
	return ret;
}

/* Account or alias for exactly addr: 1 matched, 0 not, -1 error. */
static int resolve_exact(struct resolve *r, const char *addr, int depth)
{
	int ret = resolve_account(r, addr);
	if (ret != 0)
		return ret;
	return resolve_alias(r, addr, depth);
}

/* addr is normalized and in a local domain. */
static int resolve_address(struct resolve *r, const char *addr, int depth)
{
	char base[320];
	const char *at = strchr(addr, '@');
	const char *plus;
	int ret;

	/* Past the depth limit an alias loop simply resolves to nothing more. */
	if (depth > RESOLVE_MAX_DEPTH)
		return 0;
	if ((ret = resolve_exact(r, addr, depth)) != 0)
		return ret;
	plus = memchr(addr, '+', (size_t)(at - addr));
	if (plus != NULL && plus > addr) {
		snprintf(base, sizeof(base), "%.*s%s", (int)(plus - addr), addr, at);
		if ((ret = resolve_exact(r, base, depth)) != 0)
			return ret;
	}
	return resolve_alias(r, at, depth); /* "@domain" catch-all */
}

int store_resolve(struct store *s, const char *address, int64_t *accounts_r, size_t *n_accounts_r,
		  char **remote_r, size_t *n_remote_r, size_t max)
{
	char addr[320];
	struct resolve r = {
		.s = s,
		.accounts = accounts_r,
		.n_accounts = n_accounts_r,
		.remote = remote_r,
		.n_remote = n_remote_r,
		.max = max,
	};
	size_t n_acc0 = *n_accounts_r, n_rem0 = n_remote_r != NULL ? *n_remote_r : 0;

	if (address_normalize(s, address, false, addr, NULL) < 0)
		return 0;
	int local = domain_id(s, strchr(addr, '@') + 1, NULL);
	if (local <= 0)
		return local < 0 ? store_db_fail(s, NULL) : 0;
	if (resolve_address(&r, addr, 0) < 0) {
		/* Leave the caller's arrays as they were. */
		*n_accounts_r = n_acc0;
		if (n_remote_r != NULL) {
			for (size_t i = n_rem0; i < *n_remote_r; i++)
				free(remote_r[i]);
			*n_remote_r = n_rem0;
		}
		return store_db_fail(s, NULL);
	}
	if (r.truncated)
		log_warn("store_resolve_truncated", "max=%zu", max);
	return r.found > 0 ? 1 : 0;
}
