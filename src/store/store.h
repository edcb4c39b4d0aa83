/* SPDX-License-Identifier: MIT */
/*
 * The storage interface. Protocol code speaks of domains, accounts, aliases,
 * mailboxes, messages, flags, UIDs and modification sequences through this
 * header only, never SQL. The one backend today is SQLite (store-sqlite.c,
 * WAL, synchronous=FULL); message content lives beside the database as
 * immutable blobs named by their SHA-256, written once and fsynced
 * (store-blob.c), shared by every mailbox entry that refers to them. SMTP
 * deliveries go through the store writer (group commit, below).
 *
 * Threading: a struct store is used by one thread at a time. Each worker
 * loop opens its own handle on the same directory; SQLite serialises writers.
 *
 * Conventions: functions that can fail return int, -1 on error with a static
 * or store-owned message in *error_r (valid until the next call on the same
 * handle); lookups return 1 found / 0 not found / -1 error.
 */
#ifndef FACTEUR_STORE_H
#define FACTEUR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;
struct spool;

/* IMAP system flags, stored as a bit mask. */
enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
};

#define STORE_BLOB_ID_LEN 64 /* hex SHA-256 */

/*
 * Open (creating and migrating as needed) the store rooted at dir:
 * dir/facteur.db and dir/blobs/. Returns 0 or -1.
 */
int store_open(const char *dir, struct store **store_r, const char **error_r);
void store_close(struct store **store);
/*
 * Keep the blob of an expunged (or deleted-with-its-mailbox) message for
 * seconds after its last reference went, so that an IMAP session that has
 * not yet been told of the expunge can still FETCH the message's content
 * (issue 8 defect 14; docs/ARCHITECTURE.md). Process-wide; 0 (the default)
 * deletes at once. Expired holds are collected after later expunges. Call
 * once at start-up, before store handles are shared by threads.
 */
void store_blob_grace_set(unsigned seconds);
/*
 * The daemon's grace: longer than an IMAP session's 30-minute idle
 * timeout, so only a session that keeps issuing FETCH/STORE/SEARCH by
 * sequence number (which hold EXPUNGE back) for an hour can outlive it;
 * its FETCH then fails with NO [EXPUNGEISSUED].
 */
#define STORE_EXPUNGED_BLOB_GRACE 3600

/* --- domains ----------------------------------------------------------- */
/* Names are stored lower-cased. Adding an existing domain is an error. */
int store_domain_add(struct store *s, const char *domain, const char **error_r);
/* Removing a domain that still has accounts is an error. */
int store_domain_remove(struct store *s, const char *domain, const char **error_r);
/* 1 local, 0 not, -1 error. */
int store_domain_exists(struct store *s, const char *domain);
/* Calls cb once per domain, in name order. Returns 0 or -1. */
int store_domain_list(struct store *s, void (*cb)(void *ctx, const char *domain), void *ctx);

/* --- accounts ---------------------------------------------------------- */
struct store_account {
	int64_t id;
	char address[320];       /* user@domain, lower-cased */
	char password_hash[256]; /* argon2id encoded string (auth/) */
	char scram[192];         /* SCRAM-SHA-256 secrets (auth/), "" if none */
	int64_t quota_bytes;     /* 0 = unlimited */
	int64_t used_bytes;      /* sum of message sizes in all mailboxes */
};

/*
 * Create an account for address (its domain must exist) with an already
 * hashed password. Creates INBOX and the special-use mailboxes Drafts,
 * Sent, Trash, Junk, Archive. *id_r receives the account id (may be NULL).
 */
int store_account_add(struct store *s, const char *address, const char *password_hash,
		      int64_t *id_r, const char **error_r);
/* Removes the account, its mailboxes and its message entries. */
int store_account_remove(struct store *s, const char *address, const char **error_r);
/* Also forgets the account's SCRAM secrets (set them again after). */
int store_account_set_password(struct store *s, const char *address, const char *password_hash,
			       const char **error_r);
/* The SCRAM secrets derived from the password (auth_scram_secret_make). */
int store_account_set_scram(struct store *s, const char *address, const char *scram,
			    const char **error_r);
int store_account_set_quota(struct store *s, const char *address, int64_t quota_bytes,
			    const char **error_r);
/*
 * Sending limits of one account, per hour, overriding the configuration's
 * send_limit_messages / send_limit_recipients: -1 the default, 0 unlimited.
 */
int store_account_set_limits(struct store *s, const char *address, int64_t messages,
			     int64_t recipients, const char **error_r);
/* 1 with the account's own limits (-1 where the default applies), 0 none set, -1 error. */
int store_account_limits(struct store *s, int64_t account_id, int64_t *messages_r,
			 int64_t *recipients_r);
/* Lookup by exact address (case-insensitive). 1 / 0 / -1. */
int store_account_get(struct store *s, const char *address, struct store_account *account_r);
int store_account_get_by_id(struct store *s, int64_t id, struct store_account *account_r);
int store_account_list(struct store *s, void (*cb)(void *ctx, const struct store_account *a),
		       void *ctx);

/* --- aliases ----------------------------------------------------------- */
/*
 * source is "user@domain" or "@domain" (catch-all for that domain); target
 * is a local account address or any remote address. A source may have
 * several targets (one row each).
 */
int store_alias_add(struct store *s, const char *source, const char *target, const char **error_r);
int store_alias_remove(struct store *s, const char *source, const char *target,
		       const char **error_r);
int store_alias_list(struct store *s, void (*cb)(void *ctx, const char *source, const char *target),
		     void *ctx);

/*
 * Resolve a recipient address for local delivery. Order: exact account;
 * exact alias; with sub-addressing, "user+tag@d" retried as "user@d"
 * (account, then alias); finally the "@domain" catch-all. Alias targets are
 * expanded one level (an alias pointing to another alias is followed up to
 * 8 levels). Local account ids are appended to accounts_r (capacity max,
 * duplicates removed), remote targets to remote_r if non-NULL (each a
 * malloc'd string the caller frees; capacity max).
 * Returns 1 if the address is ours and resolved to at least one target,
 * 0 if the domain is not local or the user is unknown, -1 on error.
 */
int store_resolve(struct store *s, const char *address, int64_t *accounts_r, size_t *n_accounts_r,
		  char **remote_r, size_t *n_remote_r, size_t max);

/* --- mailboxes --------------------------------------------------------- */
struct store_mailbox {
	int64_t id;
	int64_t account_id;
	char name[512]; /* UTF-8, hierarchy separator '/' */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	char special_use[16]; /* "\\Sent" etc. or "" */
	bool subscribed;
	uint32_t messages; /* count */
	uint32_t unseen;
	uint64_t size; /* sum of message sizes */
};

/*
 * Mailbox names are UTF-8 with '/' as hierarchy separator and at most 511
 * bytes; empty names, empty components (leading, trailing or doubled '/'),
 * "." and ".." components, control characters (C0, DEL, C1), '*' and '%',
 * and invalid or overlong UTF-8 are refused by create and rename ("invalid
 * mailbox name"). Any case spelling of INBOX means INBOX. Names are only
 * ever database values, never file paths.
 */
int store_mailbox_get(struct store *s, int64_t account_id, const char *name,
		      struct store_mailbox *mailbox_r);
int store_mailbox_create(struct store *s, int64_t account_id, const char *name,
			 const char *special_use, const char **error_r);
int store_mailbox_delete(struct store *s, int64_t account_id, const char *name,
			 const char **error_r);
int store_mailbox_rename(struct store *s, int64_t account_id, const char *from, const char *to,
			 const char **error_r);
int store_mailbox_list(struct store *s, int64_t account_id,
		       void (*cb)(void *ctx, const struct store_mailbox *m), void *ctx);

/* --- messages ---------------------------------------------------------- */
/*
 * Data parsed once at delivery (mime/), stored with the blob and shared by
 * every entry. All strings may be NULL.
 */
struct store_parsed {
	const char *envelope;      /* IMAP ENVELOPE, wire syntax */
	const char *bodystructure; /* IMAP BODYSTRUCTURE, wire syntax */
	const char *subject;       /* decoded, UTF-8 */
	const char *from;          /* decoded, UTF-8 */
	const char *to;
	const char *cc;
	const char *message_id;
	time_t date;      /* Date: header, 0 if absent/invalid */
	const char *body; /* IMAP BODY (no extension data), wire syntax */
	/*
	 * The searchable text (mime_text: folded UTF-8 without NULs) for the
	 * full-text index; all NULL: the blob waits for the backfill.
	 */
	const char *text_hdr, *text_body, *text_parts;
	const char *preview; /* IMAP PREVIEW (mime_text.preview); NULL: none computed */
};

struct store_message {
	int64_t id; /* row id, stable */
	int64_t mailbox_id;
	uint32_t uid;
	uint32_t flags; /* enum store_flag bits */
	uint64_t modseq;
	time_t internal_date;
	time_t save_date;
	uint64_t size;
	char blob_id[STORE_BLOB_ID_LEN + 1];
};

/*
 * Deliver one message to several local accounts at once: the blob is
 * written and fsynced once (or found already present), then in a single
 * transaction an entry is added to each account's mailbox (INBOX unless
 * mailbox names another existing one; a missing mailbox falls back to
 * INBOX), with fresh UIDs and MODSEQs, and the parsed data is stored.
 * Quota: an account whose quota would be exceeded makes the call fail with
 * -1 and *error_r starting with "quota". Returns 0 when every entry is
 * committed durably. uids_r (may be NULL) receives the UID of each entry.
 */
int store_deliver(struct store *s, const char *data, size_t len, const struct store_parsed *parsed,
		  const int64_t *accounts, size_t n_accounts, const char *mailbox,
		  time_t internal_date, uint32_t flags, uint32_t *uids_r, const char **error_r);

/*
 * List the messages of a mailbox in UID order. *msgs_r is malloc'd (the
 * caller frees it), *n_r its length. Returns 0 or -1.
 */
int store_message_list(struct store *s, int64_t mailbox_id, struct store_message **msgs_r,
		       size_t *n_r);

/*
 * Remove entries (by UID) from a mailbox in one transaction, bumping the
 * mailbox HIGHESTMODSEQ; a blob whose last reference goes is deleted.
 */
int store_message_expunge(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
			  const char **error_r);

/* Replace the flags of one message; bumps its MODSEQ. */
int store_message_set_flags(struct store *s, int64_t mailbox_id, uint32_t uid, uint32_t flags,
			    const char **error_r);

/*
 * Open a blob read-only. Returns an fd (the caller closes it) or -1. The
 * content is exactly the bytes given to store_deliver/store_queue_add.
 */
int store_blob_open(struct store *s, const char *blob_id);

/* --- outbound queue ---------------------------------------------------- */
/*
 * Durably queue a message for remote recipients: the blob is written and
 * fsynced, then one queue row per recipient is committed. Delivering the
 * queue is the queue manager's job (a later issue).
 */
int store_queue_add(struct store *s, const char *sender, const char *const *recipients,
		    size_t n_recipients, const char *data, size_t len, const char **error_r);
/* The same for mail an authenticated user submitted (submitter: the account's address). */
int store_queue_submit(struct store *s, const char *submitter, const char *sender,
		       const char *const *recipients, size_t n_recipients, const char *data,
		       size_t len, const char **error_r);

struct store_queue_entry {
	int64_t id;
	char submitter[320]; /* the authenticated account that sent it, "" if none */
	char sender[320];
	char recipient[320];
	char blob_id[STORE_BLOB_ID_LEN + 1];
	time_t queued_at;
	time_t next_attempt;
	int attempts;
	char last_error[256];
};
int store_queue_list(struct store *s, void (*cb)(void *ctx, const struct store_queue_entry *e),
		     void *ctx);
int store_queue_delete(struct store *s, int64_t id, const char **error_r);

/* --- outbound queue: delivery (store-queue.c) -------------------------- */
/*
 * For the queue manager (queue/) and the queue CLI. Schema step 3 added
 * queue.delay_notified; store_queue_due and store_queue_get fill it in
 * struct store_queue_delivery (store_queue_list does not know it).
 */
struct store_queue_delivery {
	struct store_queue_entry e;
	bool delay_notified; /* the "delayed" DSN went out */
};

/*
 * Entries whose next_attempt <= now, oldest due first, at most limit.
 * *v_r is malloc'd (may be NULL when *n_r is 0), the caller frees it.
 * Returns 0 / -1.
 */
int store_queue_due(struct store *s, time_t now, size_t limit, struct store_queue_delivery **v_r,
		    size_t *n_r);
/* One entry by id: 1 found / 0 no such entry / -1 error. */
int store_queue_get(struct store *s, int64_t id, struct store_queue_delivery *d_r);
/*
 * A failed attempt: attempts + 1, next_attempt and last_error (truncated
 * to 255 bytes) set. A vanished entry (deleted meanwhile) is not an error.
 * Returns 0 / -1.
 */
int store_queue_defer(struct store *s, int64_t id, time_t next_attempt, const char *last_error,
		      const char **error_r);
/*
 * Delete entries ids[0..n) in one transaction (one commit instead of one
 * per entry: the queue manager's delivered entries), dropping blobs that
 * lose their last reference. Ids already gone are skipped. 0 / -1 (then
 * none is deleted).
 */
int store_queue_delete_many(struct store *s, const int64_t *ids, size_t n, const char **error_r);
/* Record that the delay notice for id went out. 0 / -1. */
int store_queue_set_delay_notified(struct store *s, int64_t id, const char **error_r);
/*
 * Make entry id (0: every entry) due at `when` (flush / retry). Returns the
 * number of entries changed (0 when id does not exist), -1 on error.
 */
int store_queue_reschedule(struct store *s, int64_t id, time_t when, const char **error_r);
/*
 * The earliest next_attempt of the queue: 1 (in *when_r) / 0 empty / -1.
 */
int store_queue_next_attempt(struct store *s, time_t *when_r);
/*
 * In-process wake-up: after every store_queue_add commit, a uint64 1 is
 * written to fd (non-blocking eventfd; -1 turns it off). One fd per
 * process: the queue manager's.
 */
void store_queue_wakeup_fd(int fd);

/* --- the store writer: group commit (store-writer.c) ------------------- */
/*
 * One thread per process with its own store handle, to which the worker
 * loops hand finished deliveries. Every delivery that arrived while the
 * previous batch was being committed goes into the next batch: one blob
 * journal fdatasync for the new blobs of the whole batch, then ONE
 * transaction (one WAL fsync) for all of them. Each delivery runs under
 * its own SAVEPOINT, so one that fails (quota, say) fails alone; entries
 * are committed in submission order. A batch holds at most batch_max
 * deliveries; when it holds fewer, the writer waits up to batch_wait_us
 * for more before closing it (0: it closes as soon as the writer is free).
 * The caller waits for its delivery without blocking (CONN_WAIT): the
 * done callback runs in the writer thread once the outcome is known.
 */
struct store_writer;
struct store_write;

struct store_writer_options {
	size_t batch_max;       /* deliveries per transaction, >= 1 */
	unsigned batch_wait_us; /* how long a batch stays open for more */
};

/*
 * Open a store handle on dir (and the blob journal, recovering it after a
 * crash), then start the thread. Returns 0 or -1 (*error_r static or
 * thread-local, valid until the next call).
 */
int store_writer_create(const char *dir, const struct store_writer_options *opt,
			struct store_writer **w_r, const char **error_r);
/*
 * Commit everything submitted so far, checkpoint the journal, stop and
 * join the thread, close. Writes still held by callers stay valid.
 */
void store_writer_destroy(struct store_writer **w);

/*
 * What a write does. Every kind commits in the writer's batch transaction
 * under its own SAVEPOINT, with the same semantics as the direct call
 * named beside it; the caller is told only after the COMMIT, so an IMAP
 * OK that waits for it means "durable", as a 250 does.
 */
enum store_write_kind {
	STORE_WRITE_DELIVER = 0, /* store_deliver + store_queue_add (SMTP) */
	STORE_WRITE_APPEND,      /* store_append (IMAP APPEND) */
	STORE_WRITE_FLAGS,       /* store_message_update_flags (IMAP STORE) */
	STORE_WRITE_COPY,        /* store_message_copy */
	STORE_WRITE_MOVE,        /* store_message_move */
	STORE_WRITE_EXPUNGE,     /* store_message_expunge (EXPUNGE, CLOSE) */
};

/* One write: every pointer is copied by store_write_submit. */
struct store_write_request {
	enum store_write_kind kind;
	/* DELIVER and APPEND: the message; copied (unless body says better). */
	const char *data;
	size_t len;
	/*
	 * Optional: the spool (lib/spool.h) that data is part of. When it is a file, the writer maps that file instead of copying
	 * len bytes, so a big message is never duplicated in memory. NULL: copy.
	 * data is then the len bytes at body_offset in the spool (one spool
	 * may hold several messages: an IMAP MULTIAPPEND).
	 */
	const struct spool *body;
	uint64_t body_offset;
	const struct store_parsed *parsed; /* of data; may be NULL; copied */
	/* DELIVER, local entries, as store_deliver: mailbox NULL means INBOX. */
	const int64_t *accounts;
	size_t n_accounts;
	const char *mailbox;
	/* DELIVER, outbound queue rows, as store_queue_submit, for data + queue_offset. */
	const char *submitter; /* NULL: none */
	const char *sender;
	const char *const *remote;
	size_t n_remote;
	size_t queue_offset;
	/*
	 * APPEND: into mailbox_id of account_id with flags, keywords and
	 * internal_date (0 = now). FLAGS, COPY, MOVE, EXPUNGE: mailbox_id is
	 * the (source) mailbox, uids the messages; COPY/MOVE go to
	 * dst_mailbox_id; FLAGS applies *update.
	 */
	int64_t account_id;
	int64_t mailbox_id;
	uint32_t flags;
	const char *const *keywords;
	size_t n_keywords;
	time_t internal_date;
	const uint32_t *uids;
	size_t n_uids;
	int64_t dst_mailbox_id;
	const struct store_flags_update *update;
	/*
	 * The account acting (0: none): \Seen of mailboxes it does not own is
	 * its own (store_seen_reader_set), so COPY/MOVE carry its \Seen over.
	 */
	int64_t reader;
	/* Called in the writer thread once the outcome is known (may be NULL). */
	void (*done)(void *arg);
	void *done_arg;
};

/*
 * Queue a write (a delivery needs at least one account or remote
 * recipient). Returns 0 with a reference in *write_r (release it), or -1
 * (*error_r static) when the request is malformed or the writer is
 * stopping.
 */
int store_write_submit(struct store_writer *w, const struct store_write_request *req,
		       struct store_write **write_r, const char **error_r);
/*
 * Queue n writes (1..STORE_WRITE_GROUP_MAX) that commit all or nothing:
 * one after the other in the same batch, under one savepoint; when one
 * fails, every one fails with its reason (an IMAP MULTIAPPEND). Returns 0
 * with n references in writes_r (release each), or -1 (none queued).
 */
#define STORE_WRITE_GROUP_MAX 1000
int store_write_submit_group(struct store_writer *w, const struct store_write_request *reqs,
			     size_t n, struct store_write **writes_r, const char **error_r);
/*
 * 1 committed durably, 0 still pending, -1 failed: *error_r (owned by the
 * write, valid while it is held) starts with "quota" when a quota refused it.
 */
int store_write_result(struct store_write *wr, const char **error_r);
/* Drop the caller's reference; a pending write still commits. NULL is fine. */
void store_write_release(struct store_write **wr);

struct store_writer_stats {
	uint64_t batches;       /* transactions */
	uint64_t writes;        /* deliveries committed */
	uint64_t failed;        /* deliveries failed */
	uint64_t max_batch;     /* most deliveries in one batch */
	uint64_t journal_syncs; /* fdatasyncs of the blob journal */
	uint64_t checkpoints;   /* syncfs + journal truncations */
};
/* A snapshot of the counters (thread-safe). */
void store_writer_stats(struct store_writer *w, struct store_writer_stats *st_r);

/* ======================================================================= */
/* --- IMAP support (store-imap.c, store-keywords.c, store-notify.c) ------ */
/*
 * Everything below is for the IMAP server (and later JMAP). Schema step 2
 * added the tables behind it: per-mailbox keyword registry, expunge log,
 * subscriptions, and the BODY column of blobs.
 */

/*
 * Keywords (RFC 3501 flag-keyword): 1..STORE_KEYWORD_MAX_LEN bytes of
 * printable ASCII without atom-specials ( ) { SP % * " \ ] and not starting
 * with '\' (system flags are the enum store_flag bits). Matching is
 * ASCII-case-insensitive; the spelling first used in a mailbox is kept
 * (setting "$junk" where "$Junk" exists stores "$Junk"). A message's
 * keywords are kept as one string, the keywords sorted case-insensitively
 * and joined by single spaces ("" when none).
 */
#define STORE_KEYWORD_MAX_LEN 128
/* New keywords a mailbox accepts before SET/ADD fails with "too many keywords". */
#define STORE_MAILBOX_KEYWORDS_MAX 256

/* True if kw is a valid keyword as above. */
bool store_keyword_valid(const char *kw);

/* A message with its keywords. */
struct store_message_ex {
	struct store_message msg;
	char *keywords; /* sorted, space-separated, "" if none; malloc'd */
};

/* Free an array from the functions below (and its keyword strings); NULLs it. */
void store_message_ex_free(struct store_message_ex **msgs, size_t n);

/*
 * Like store_message_list, with keywords: every message of the mailbox in
 * UID order. *msgs_r (free with store_message_ex_free) may be NULL when
 * *n_r is 0. A mailbox that does not exist lists as empty. Returns 0 / -1.
 */
int store_message_list_full(struct store *s, int64_t mailbox_id, struct store_message_ex **msgs_r,
			    size_t *n_r);

/*
 * CONDSTORE/QRESYNC: the messages of the mailbox whose MODSEQ is greater
 * than modseq, in UID order (0 lists every message). Same ownership and
 * returns as store_message_list_full.
 */
int store_message_changed_since(struct store *s, int64_t mailbox_id, uint64_t modseq,
				struct store_message_ex **msgs_r, size_t *n_r);

/* An inclusive range of UIDs, lo <= hi. */
struct store_uid_range {
	uint32_t lo, hi;
};

/*
 * The messages of the mailbox whose UID lies in one of the n ranges (in
 * any order; they may overlap; a range with lo > hi is taken as hi..lo)
 * and, when changedsince is non-zero, whose MODSEQ is greater than it: in
 * UID order, each at most once. What a FETCH, STORE or SEARCH naming a few
 * messages reads instead of the whole mailbox; the cost follows the
 * number of ranges and of rows returned, not the mailbox size. Same
 * ownership and returns as store_message_list_full (n == 0 lists nothing).
 */
int store_message_list_uids(struct store *s, int64_t mailbox_id,
			    const struct store_uid_range *ranges, size_t n, uint64_t changedsince,
			    struct store_message_ex **msgs_r, size_t *n_r);

/*
 * The mailbox row by id without the per-message numbers (messages, unseen
 * and size are left 0; subscribed is false): one primary-key lookup, for
 * the IMAP view to tell after every command whether anything changed
 * (HIGHESTMODSEQ, UIDNEXT) and whether the mailbox was renamed (name) or
 * deleted (0). 1 found / 0 no such mailbox / -1 error.
 */
int store_mailbox_head(struct store *s, int64_t mailbox_id, struct store_mailbox *mailbox_r);
/*
 * store_mailbox_get without the per-message numbers (as store_mailbox_head
 * leaves them): what APPEND, COPY and MOVE need of their destination, one
 * index lookup however large the mailbox. 1 / 0 / -1.
 */
int store_mailbox_find(struct store *s, int64_t account_id, const char *name,
		       struct store_mailbox *mailbox_r);

/*
 * QRESYNC: the UIDs expunged from the mailbox (store_message_expunge,
 * store_message_move, RENAME of INBOX) at a MODSEQ greater than modseq, in
 * ascending order. *uids_r is malloc'd (may be NULL when *n_r is 0); the
 * caller frees it. The log is kept for the mailbox's whole life (deleting
 * the mailbox drops it). Returns 0 / -1.
 */
int store_mailbox_vanished_since(struct store *s, int64_t mailbox_id, uint64_t modseq,
				 uint32_t **uids_r, size_t *n_r);
/*
 * The messages of uids that were expunged and whose content is still kept
 * (store_blob_grace_set), as they were when expunged (modseq: the
 * expunge's), in the order of uids; UIDs without such data are left out.
 * For FETCH by a session that still shows them. *msgs_r is freed with
 * store_message_ex_free. Returns 0 / -1.
 */
int store_message_expunged_list(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
				struct store_message_ex **msgs_r, size_t *n_r);

/*
 * Every keyword ever set in the mailbox (for FLAGS / PERMANENTFLAGS), in
 * order of first use; cb is called after the read, so it may call the
 * store. A keyword list at STORE_MAILBOX_KEYWORDS_MAX means new keywords
 * are refused (drop \* from PERMANENTFLAGS). Returns 0 / -1.
 */
int store_mailbox_keywords(struct store *s, int64_t mailbox_id,
			   void (*cb)(void *ctx, const char *keyword), void *ctx);

/* STORE FLAGS / +FLAGS / -FLAGS. */
enum store_flags_op {
	STORE_FLAGS_SET,    /* replace flags and keywords */
	STORE_FLAGS_ADD,    /* add them */
	STORE_FLAGS_REMOVE, /* remove them */
};

struct store_flags_update {
	enum store_flags_op op;
	uint32_t flags;              /* enum store_flag bits; others ignored */
	const char *const *keywords; /* n_keywords valid keywords (see above) */
	size_t n_keywords;
	uint64_t unchangedsince; /* 0 = no UNCHANGEDSINCE test */
	/*
	 * The account acting (0: none). On a mailbox it does not own, \Seen
	 * is set and cleared for it alone (store-acl.c) and reported so.
	 */
	int64_t seen_account;
};

/* The resulting state of one message matched by store_message_update_flags. */
struct store_flags_result {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
	char *keywords; /* sorted, space-separated; malloc'd */
	bool changed;   /* false: it already had that state (MODSEQ kept) */
};

struct store_flags_outcome {
	struct store_flags_result *results; /* in the order of uids */
	size_t n_results;
	uint32_t *modified; /* refused by UNCHANGEDSINCE */
	size_t n_modified;
};
void store_flags_outcome_free(struct store_flags_outcome *o);

/* What a committed store writer write gave back (owned by the write, valid while held). */
struct store_write_outcome {
	uint32_t uid, uidvalidity;        /* APPEND: APPENDUID */
	struct store_flags_outcome flags; /* FLAGS */
	uint32_t *dst_uids;               /* COPY, MOVE: n_uids entries, 0 = not copied */
	size_t expunged;                  /* EXPUNGE: messages removed */
};
/* After store_write_result returned 1. */
const struct store_write_outcome *store_write_outcome(const struct store_write *wr);

/*
 * Apply u to the messages uids of a mailbox in one transaction. UIDs not in
 * the mailbox are skipped silently (UID STORE semantics). A message whose
 * MODSEQ is greater than u->unchangedsince (when non-zero) is left alone and
 * its UID listed in out_r->modified (RFC 7162 MODIFIED). Every other message
 * gets a result; one whose flags or keywords actually change gets a fresh
 * MODSEQ (one per message), one already in that state keeps its MODSEQ
 * (RFC 7162 3.2: a no-op store is not a modification). Keywords given to
 * SET/ADD are registered in the mailbox's keyword list even when no message
 * ends up carrying them. Errors (-1): invalid keyword, too many keywords,
 * no such mailbox, database. Returns 0 with *out_r filled (free it with
 * store_flags_outcome_free, also safe after -1).
 */
int store_message_update_flags(struct store *s, int64_t mailbox_id, const uint32_t *uids, size_t n,
			       const struct store_flags_update *u,
			       struct store_flags_outcome *out_r, const char **error_r);

/*
 * Replace flags and keywords of one message (STORE FLAGS on one UID).
 * Returns 1 applied (*modseq_r, if non-NULL, gets the message's MODSEQ,
 * unchanged when it already had that state), 0 refused because its MODSEQ
 * is greater than unchangedsince (0 = no test; *modseq_r gets the current
 * MODSEQ), -1 error, including "no such message". The handle's reader
 * (store_seen_reader_set) is the acting account for \Seen.
 */
int store_message_set_flags_keywords(struct store *s, int64_t mailbox_id, uint32_t uid,
				     uint32_t flags, const char *const *keywords, size_t n,
				     uint64_t unchangedsince, uint64_t *modseq_r,
				     const char **error_r);

/*
 * COPY (UIDPLUS): copy the messages uids of src_mailbox_id into
 * dst_mailbox_id in one transaction. Each copy refers to the same blob,
 * keeps flags, keywords (registered in the destination), internal date and
 * size, and gets the destination's next UID and a fresh MODSEQ, in the
 * order of uids. dst_uids_r (n entries, may be NULL) receives each new UID,
 * or 0 for a UID not in the source (skipped silently). The destination
 * account's quota is checked against the total size ("quota exceeded…").
 * src may equal dst; a UID listed twice is an error. Returns 0 or -1
 * (nothing copied).
 */
int store_message_copy(struct store *s, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
		       int64_t dst_mailbox_id, uint32_t *dst_uids_r, const char **error_r);

/*
 * MOVE (RFC 6851): store_message_copy plus expunge of the copied messages
 * from the source, atomically in one transaction; the source's expunge is
 * logged for QRESYNC like store_message_expunge. No quota check when both
 * mailboxes belong to the same account (the total does not change).
 * src == dst gives the messages new UIDs at the end of the mailbox (COPY
 * then expunge, as IMAP's MOVE into the selected mailbox wants). Returns 0
 * or -1 (nothing moved).
 */
int store_message_move(struct store *s, int64_t src_mailbox_id, const uint32_t *uids, size_t n,
		       int64_t dst_mailbox_id, uint32_t *dst_uids_r, const char **error_r);

/*
 * APPEND: store one message in account_id's mailbox_id (which must belong
 * to that account) with flags, keywords and internal_date (0 = now).
 * Durable before return exactly like store_deliver: the blob is fsynced,
 * then one transaction adds the entry and the parsed data (may be NULL).
 * Quota is checked ("quota exceeded…"). uid_r and uidvalidity_r (may be
 * NULL) receive the APPENDUID data. Returns 0 or -1; a refused append
 * leaves no blob behind.
 */
int store_append(struct store *s, int64_t account_id, int64_t mailbox_id, const char *data,
		 size_t len, const struct store_parsed *parsed, uint32_t flags,
		 const char *const *keywords, size_t n_keywords, time_t internal_date,
		 uint32_t *uid_r, uint32_t *uidvalidity_r, const char **error_r);

/*
 * MULTIAPPEND (RFC 3502): several messages into one mailbox, all or
 * nothing, in one transaction after every blob is fsynced. Each message's
 * uid is set on success. Returns 0 or -1 (nothing appended, no blob left).
 */
struct store_append_msg {
	const char *data;
	size_t len;
	const struct store_parsed *parsed;
	uint32_t flags;
	const char *const *keywords;
	size_t n_keywords;
	time_t internal_date;
	uint32_t uid; /* out */
};
int store_append_many(struct store *s, int64_t account_id, int64_t mailbox_id,
		      struct store_append_msg *msgs, size_t n, uint32_t *uidvalidity_r,
		      const char **error_r);

/* Parsed data of a blob, read back (every string malloc'd, NULL if unknown). */
struct store_parsed_r {
	char *envelope;
	char *bodystructure;
	char *body; /* NULL for blobs stored before schema step 2 */
	char *subject;
	char *from;
	char *to;
	char *cc;
	char *message_id;
	time_t date;   /* 0 if unknown */
	uint64_t size; /* bytes of the blob */
	char *preview; /* NULL: stored before the preview was (schema step 8) */
};

/*
 * 1 found (free *r with store_parsed_r_free), 0 no such blob, -1 error.
 * Answers are kept in a per-handle LRU cache (a blob's parsed data never
 * changes): at most STORE_PARSED_CACHE_ENTRIES entries and
 * STORE_PARSED_CACHE_BYTES bytes unless store_parsed_cache_limit says
 * otherwise.
 */
int store_blob_parsed(struct store *s, const char *blob_id, struct store_parsed_r *r);
#define STORE_PARSED_CACHE_ENTRIES 65536
#define STORE_PARSED_CACHE_BYTES (8u << 20)
/* New bounds for s's cache (emptied); 0 entries: no cache. */
void store_parsed_cache_limit(struct store *s, size_t max_entries, size_t max_bytes);
/* Entries and bytes the cache holds now. */
void store_parsed_cache_stats(const struct store *s, size_t *count_r, size_t *bytes_r);
/* Free the strings and zero *r; safe on a zeroed struct. */
void store_parsed_r_free(struct store_parsed_r *r);

/* --- full-text index (store-search.c) ------------------------------------ */
/* Columns of a document, for store_search_match's fields. */
#define STORE_SEARCH_HDR 1u   /* the top-level header fields */
#define STORE_SEARCH_BODY 2u  /* text and message parts */
#define STORE_SEARCH_PARTS 4u /* header fields of sub-parts and inner messages */

/* A document's texts (folded UTF-8, NUL-terminated, malloc'd when read). */
struct store_search_doc {
	char *hdr, *body, *parts;
	size_t hdr_len, body_len, parts_len;
};

/*
 * Does the word index answer needle (any length): is every byte an ASCII
 * letter or digit or a non-ASCII byte? Other needles need the trigram
 * index, which finds nothing shorter than 3 characters.
 */
bool store_search_word_needle(const char *needle);
/*
 * UIDs (ascending) of the messages of mailbox_id whose indexed document
 * holds needle in one of fields. needle is folded (mime_text_fold) and
 * is a word needle or has at least 3 characters;
 * messages waiting in the backfill are not found (store_search_pending_uids
 * lists them). *uids_r is malloc'd. Returns 0 or -1.
 */
int store_search_match(struct store *s, int64_t mailbox_id, unsigned fields, const char *needle,
		       uint32_t **uids_r, size_t *n_r);
/* The same over a whole account: message row ids, ascending. */
int store_search_match_account(struct store *s, int64_t account_id, unsigned fields,
			       const char *needle, int64_t **ids_r, size_t *n_r);
/* UIDs of the messages of mailbox_id whose blob is not indexed yet (unsorted). */
int store_search_pending_uids(struct store *s, int64_t mailbox_id, uint32_t **uids_r, size_t *n_r);
/* The indexed texts of a blob: 1 found, 0 not indexed, -1 error. */
int store_search_doc_get(struct store *s, const char *blob_id, struct store_search_doc *r);
void store_search_doc_free(struct store_search_doc *r);
/* Up to max blob ids waiting for the backfill (*ids_r malloc'd). 0 or -1. */
int store_search_pending_list(struct store *s, size_t max, char (**ids_r)[STORE_BLOB_ID_LEN + 1],
			      size_t *n_r);
/*
 * JMAP's text conditions (RFC 8621 4.4.1) on the index: message row ids
 * of the account (ascending, unique) whose document holds needle (folded,
 * at least 3 characters) in the body (when body) or in the value of one of
 * the top-level fields names[] (folded names: "from", "subject", ...).
 * Messages waiting in the backfill are not found (see
 * store_search_pending_account). *ids_r is malloc'd. 0 / -1.
 */
int store_search_match_fields(struct store *s, int64_t account_id, const char *const *names,
			      size_t n_names, bool body, const char *needle, int64_t **ids_r,
			      size_t *n_r);
/* The same test on one document's texts (for what the index cannot answer). */
bool store_search_doc_fields_have(const struct store_search_doc *d, const char *const *names,
				  size_t n_names, bool body, const char *needle);
/* Row ids (ascending) of the account's messages whose blob is not indexed yet. 0 / -1. */
int store_search_pending_account(struct store *s, int64_t account_id, int64_t **ids_r, size_t *n_r);
/*
 * Index n blobs (docs[i] is the text of blob_ids[i]) in one transaction;
 * blobs deleted meanwhile are skipped. 0, or -1 with *error_r.
 */
int store_search_index_batch(struct store *s, const struct store_search_doc *docs,
			     const char *const *blob_ids, size_t n, const char **error_r);

/*
 * SUBSCRIBE / UNSUBSCRIBE. name is validated like a mailbox name but need
 * not exist (RFC 3501 LSUB semantics: a subscription outlives its mailbox).
 * An account's default mailboxes start subscribed, a created one does not
 * (only SUBSCRIBE subscribes, RFC 9051 6.3.4); RENAME carries the subscription of each
 * renamed mailbox to its new name; DELETE leaves it. Returns 1 changed,
 * 0 already in that state, -1 error (invalid name, no such account).
 */
int store_mailbox_subscribe(struct store *s, int64_t account_id, const char *name, bool on,
			    const char **error_r);
/* Every subscribed name of the account, in name order. 0 / -1. */
int store_subscription_list(struct store *s, int64_t account_id,
			    void (*cb)(void *ctx, const char *name), void *ctx);

struct store_mailbox_status {
	uint32_t messages;
	uint32_t recent; /* messages no session has been shown (\Recent) */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t unseen;           /* messages without \Seen */
	uint32_t deleted;          /* messages with \Deleted */
	uint32_t first_unseen_seq; /* sequence number of the first unseen, 0 if none */
	uint64_t size;             /* sum of message sizes */
	uint64_t highestmodseq;
};

/*
 * IMAP4rev1's \Recent: the messages with UIDs in [*first_r, *end_r) are
 * recent for the calling session, which is the first to be shown them
 * (UIDs below up_to only: what its view holds). With take, they are
 * claimed, so no other session gets them; without (EXAMINE), only
 * reported. 0 or -1.
 */
int store_mailbox_claim_recent(struct store *s, int64_t mailbox_id, uint32_t up_to, bool take,
			       uint32_t *first_r, uint32_t *end_r, const char **error_r);

/* STATUS / SELECT numbers, read in one snapshot. 1 / 0 no such mailbox / -1. */
int store_mailbox_status(struct store *s, int64_t mailbox_id,
			 struct store_mailbox_status *status_r);

/* --- quota (store-quota.c) -------------------------------------------- */
/*
 * Sum of the sizes of the mailbox's messages flagged \Deleted (what an
 * EXPUNGE would free: STATUS DELETED-STORAGE). 1 / 0 no such mailbox / -1.
 */
int store_mailbox_deleted_size(struct store *s, int64_t mailbox_id, uint64_t *bytes_r);
/* --- end quota --------------------------------------------------------- */

/* --- JMAP support (store-jmap.c) --------------------------------------- */
/*
 * Schema step 4. Account-wide change tracking for JMAP: every change of a
 * mailbox, message or JMAP object (by any protocol) bumps a per-account
 * counter and records the object's last change, kept by triggers (see
 * store-private.h). A JMAP state of a kind is the highest counter at which
 * an object of that kind changed. Message and mailbox ids are never
 * reused, so "JMAP id = row id" is safe.
 */
enum store_jmap_kind {
	STORE_JMAP_MAILBOX = 1,
	STORE_JMAP_EMAIL = 2,
	STORE_JMAP_THREAD = 3,
	STORE_JMAP_IDENTITY = 4,
	STORE_JMAP_SUBMISSION = 5,
	STORE_JMAP_VACATION = 6,
};

/*
 * The current state of kind for the account (*state_r) and the oldest
 * state changes can be computed from (*floor_r, may be NULL). 0 / -1.
 */
int store_jmap_state(struct store *s, int64_t account_id, enum store_jmap_kind kind,
		     uint64_t *state_r, uint64_t *floor_r);

/* One object changed after a given state. */
struct store_jmap_change {
	int64_t obj;
	uint64_t created; /* counter at creation (0: before tracking began) */
	uint64_t changed; /* counter of its last change */
	uint64_t props;   /* last change of a property other than counts */
	bool destroyed;
};

/*
 * The objects of kind changed after since, in order of their last change,
 * at most max + 1 of them (so the caller sees there are more). *v_r is
 * malloc'd (may be NULL when *n_r is 0). 0 / -1.
 */
int store_jmap_changes(struct store *s, int64_t account_id, enum store_jmap_kind kind,
		       uint64_t since, size_t max, struct store_jmap_change **v_r, size_t *n_r);

/* A message as JMAP sees it: the row, its keywords, thread and header fields. */
struct store_jmap_email {
	struct store_message msg;
	char *keywords;                              /* sorted, space-separated */
	int64_t thread_id;                           /* 0 until threaded */
	char *subject, *from, *to, *cc, *message_id; /* decoded (blobs row), may be NULL */
	time_t date;                                 /* Date:, 0 unknown */
};
void store_jmap_emails_free(struct store_jmap_email **v, size_t n);

/*
 * Messages of the account: the n ids given (any order; unknown or other
 * accounts' ids are skipped), or with ids NULL every message of the
 * account (mailbox_id non-zero: of that mailbox only), or with thread_id
 * non-zero, the messages of that thread ordered by internal date. *v_r
 * (free with store_jmap_emails_free). 0 / -1.
 */
int store_jmap_emails(struct store *s, int64_t account_id, const int64_t *ids, size_t n,
		      int64_t mailbox_id, int64_t thread_id, struct store_jmap_email **v_r,
		      size_t *n_r);

/*
 * Email/query's usual page without reading the mailbox: the ids of the
 * messages of mailbox_id (of account_id; none when it is another's) in
 * internal-date order (descending when desc), ties by id ascending, from
 * position on, at most limit; with collapse only the first message of each
 * thread counts (thread 0: each message alone). *total_r, when total_r is
 * not NULL, gets how many count. *ids_r is malloc'd. 0 / -1.
 */
int store_jmap_mailbox_page(struct store *s, int64_t account_id, int64_t mailbox_id, bool desc,
			    bool collapse, size_t position, size_t limit, int64_t **ids_r,
			    size_t *n_r, size_t *total_r);

/* Ids of up to max messages of the account that have no thread yet. 0 / -1. */
int store_jmap_unthreaded(struct store *s, int64_t account_id, size_t max, int64_t **ids_r,
			  size_t *n_r);
/*
 * The thread a Message-ID (without <>) belongs to in the account: 1 with
 * *thread_r and the thread's base subject (subject_r, size bytes), 0
 * unknown, -1 error.
 */
int store_jmap_msgid_thread(struct store *s, int64_t account_id, const char *msgid,
			    int64_t *thread_r, char *subject_r, size_t size);
/*
 * One transaction around many small JMAP writes that need not be durable
 * one by one (a slice of store_jmap_thread_set calls, the previews an
 * Email/get caches): one commit, not one fsync each. begin 0 / -1; end
 * commits (commit true: 0 / -1) or rolls back.
 */
int store_jmap_batch_begin(struct store *s, const char **error_r);
int store_jmap_batch_end(struct store *s, bool commit, const char **error_r);
/*
 * Put message email_id into thread_id and record msgids (the message's own
 * and those it refers to that are not known yet) as belonging to it, with
 * subject (its base subject), inside store_jmap_batch_begin/_end. 0 / -1.
 */
int store_jmap_thread_set(struct store *s, int64_t account_id, int64_t email_id, int64_t thread_id,
			  const char *const *msgids, size_t n, const char *subject,
			  const char **error_r);

/* Threads of a mailbox: total, and those with an unseen message there. 0 / -1. */
int store_jmap_mailbox_threads(struct store *s, int64_t mailbox_id, uint32_t *total_r,
			       uint32_t *unread_r);

/*
 * Move message email_id of the account to dst_mailbox_id keeping its id
 * (JMAP ids stay stable): it takes the destination's next UID and a fresh
 * MODSEQ, its keywords are registered there, and its UID is logged as
 * expunged in the source (QRESYNC). 0 / -1.
 */
int store_jmap_email_move(struct store *s, int64_t account_id, int64_t email_id,
			  int64_t dst_mailbox_id, const char **error_r);
/* The message id of (mailbox, uid): 1 / 0 / -1. */
int store_jmap_email_id(struct store *s, int64_t mailbox_id, uint32_t uid, int64_t *id_r);

/* Cached per-blob data JMAP computes once (preview, hasAttachment). 1 / 0 / -1. */
int store_jmap_blob_info(struct store *s, const char *blob_id, char **preview_r,
			 bool *has_attachment_r);
int store_jmap_blob_info_set(struct store *s, const char *blob_id, const char *preview,
			     bool has_attachment);

/*
 * Upload: make data a durable blob (fsynced) owned by the account with a
 * content type; id_r (STORE_BLOB_ID_LEN + 1) receives its id. 0 / -1.
 */
int store_jmap_upload(struct store *s, int64_t account_id, const char *data, size_t len,
		      const char *type, char *id_r, const char **error_r);
/*
 * May the account read blob_id? 1 it has a message with it (type_r gets
 * ""), 2 it uploaded it (type_r gets the uploaded type), 0 no, -1 error.
 * *size_r (may be NULL) gets the size.
 */
/* Does a message of mailbox_id have blob blob_id? 1 / 0 / -1. */
int store_mailbox_has_blob(struct store *s, int64_t mailbox_id, const char *blob_id);
int store_jmap_blob_access(struct store *s, int64_t account_id, const char *blob_id, char *type_r,
			   size_t type_size, uint64_t *size_r);
/*
 * Forget at most max uploads made before `before` (unix seconds), and
 * delete their blobs where nothing else (a message, the queue, another
 * upload) uses them. *n_r gets how many were forgotten (max: call again).
 * 0 / -1.
 */
int store_jmap_uploads_expire(struct store *s, int64_t before, unsigned max, unsigned *n_r,
			      const char **error_r);

/*
 * JMAP objects kept as JSON text (Identity, EmailSubmission,
 * VacationResponse): put (id 0 creates, *id_r gets the new id; else
 * replaces, 0 when it does not exist), list (cb per object, id order),
 * delete (1 / 0 none / -1).
 */
int store_jmap_object_put(struct store *s, int64_t account_id, enum store_jmap_kind kind,
			  int64_t id, const char *data, int64_t *id_r, const char **error_r);
int store_jmap_object_list(struct store *s, int64_t account_id, enum store_jmap_kind kind,
			   void (*cb)(void *ctx, int64_t id, const char *data), void *ctx);
int store_jmap_object_delete(struct store *s, int64_t account_id, enum store_jmap_kind kind,
			     int64_t id, const char **error_r);
/* --- end JMAP ---------------------------------------------------------- */

/* --- consistency and orphan blobs (store-check.c) ----------------------- */
/*
 * Remove blob files that no blob row names (left by a crash between a
 * blob's write and the commit naming it). Each file is re-checked and
 * unlinked under the write lock, and deliveries re-check their file under
 * that lock before committing, so this is safe while deliveries run.
 * *removed_r counts the files removed. 0 / -1.
 */
int store_orphans_collect(struct store *s, unsigned *removed_r, const char **error_r);

struct store_check_result {
	unsigned problems;  /* found */
	unsigned repaired;  /* of which fixed (with repair) */
	unsigned unfixable; /* of which left */
};
/*
 * `facteur check-store`: SQLite integrity_check and foreign_key_check,
 * every blob row's file (present, size, SHA-256 = id), UIDs in [1,
 * UIDNEXT) and MODSEQs <= HIGHESTMODSEQ per mailbox, blob rows nothing
 * refers to, and orphan blob files. One line per problem goes to report.
 * With repair: orphan files and unreferenced rows are removed, UIDNEXT and
 * HIGHESTMODSEQ raised above what messages hold; the rest is only
 * reported. 0 (see *r) / -1 when the check itself could not run.
 */
int store_check(struct store *s, bool repair, void (*report)(void *ctx, const char *line),
		void *ctx, struct store_check_result *r, const char **error_r);

/* --- shared and public mailboxes (store-acl.c; schema step 7) ---------- */
/*
 * RFC 4314 rights, one bit per letter of "lrswipkxtea". The owner of a
 * mailbox has them all, always; others have the union of the grants that
 * apply to them: their own, and "anyone" / "authenticated", which here
 * both mean every account of the owner's domain (no anonymous access;
 * domains are tenants). Public folders are the mailboxes of one
 * pseudo-account per domain, address "@domain" (no login, no mail to it).
 */
enum store_right {
	STORE_RIGHT_LOOKUP = 1 << 0,         /* l */
	STORE_RIGHT_READ = 1 << 1,           /* r */
	STORE_RIGHT_SEEN = 1 << 2,           /* s */
	STORE_RIGHT_WRITE = 1 << 3,          /* w */
	STORE_RIGHT_INSERT = 1 << 4,         /* i */
	STORE_RIGHT_POST = 1 << 5,           /* p */
	STORE_RIGHT_CREATE = 1 << 6,         /* k */
	STORE_RIGHT_DELETE_MAILBOX = 1 << 7, /* x */
	STORE_RIGHT_DELETE_MESSAGE = 1 << 8, /* t */
	STORE_RIGHT_EXPUNGE = 1 << 9,        /* e */
	STORE_RIGHT_ADMIN = 1 << 10,         /* a */
};
#define STORE_RIGHTS_ALL 0x7ffu
#define STORE_ACL_ANYONE 0
#define STORE_ACL_AUTHENTICATED (-1)

/*
 * "lrs" to bits; the obsolete RFC 2086 "c" counts as "kx" and "d" as
 * "xte" (RFC 4314 2.1.1). 0, or -1 for any other character.
 */
int store_rights_parse(const char *text, uint32_t *rights_r);
/* Bits to letters in canonical order; out holds at least 12 bytes. */
void store_rights_format(uint32_t rights, char *out);

/*
 * Grant identifier (an account address, "anyone", "authenticated") rights
 * on mailbox_id, replacing its previous ones (rights 0 removes the grant).
 * The owner's rights cannot be changed ("the owner's…"); an unknown
 * account is "no such user". Publishes a change of the mailbox, so
 * sessions on it re-check their rights. 0 / -1.
 */
int store_acl_set(struct store *s, int64_t mailbox_id, const char *identifier, uint32_t rights,
		  const char **error_r);
/*
 * A process-wide counter raised after every committed store_acl_set: a
 * NOTIFY session, which watches only the owners of the mailboxes it may
 * see, reads the shared mailboxes again when it moved (a new grant from an
 * owner it was not watching, or one to "anyone").
 */
uint64_t store_acl_generation(void);
/* The stored grants of a mailbox (not the owner's implicit rights). 0 / -1. */
int store_acl_list(struct store *s, int64_t mailbox_id,
		   void (*cb)(void *ctx, const char *identifier, uint32_t rights), void *ctx);
/* Every grant of the store, by owner and mailbox (facteur acl list). 0 / -1. */
int store_acl_all(struct store *s,
		  void (*cb)(void *ctx, const char *owner, const char *mailbox,
			     const char *identifier, uint32_t rights),
		  void *ctx);
/* The rights of account_id on mailbox_id: 1 (*rights_r) / 0 no such mailbox / -1. */
int store_acl_rights(struct store *s, int64_t mailbox_id, int64_t account_id, uint32_t *rights_r);

/* A mailbox of another account on which an account holds some grant. */
struct store_shared_mailbox {
	struct store_mailbox mailbox; /* the head (no counts) */
	char owner[320];              /* owner address, or the domain of a public folder */
	bool public_folder;
	uint32_t rights;
};
/* Every such mailbox for account_id, by owner then name. 0 / -1. */
int store_acl_shared_list(struct store *s, int64_t account_id,
			  void (*cb)(void *ctx, const struct store_shared_mailbox *m), void *ctx);

/*
 * The public-folder pseudo-account of domain: 1 (*account_r) / 0 none
 * (created when create is true, inside the caller's transaction) / -1.
 */
int store_public_owner(struct store *s, const char *domain, bool create, int64_t *account_r,
		       const char **error_r);
/*
 * Create public folder name of domain; address (NULL: none) is a new
 * address of that domain delivering into it (aliases may point at it).
 * 0 / -1 ("mailbox already exists", "address already in use", ...).
 */
int store_public_create(struct store *s, const char *domain, const char *name, const char *address,
			const char **error_r);
int store_public_delete(struct store *s, const char *domain, const char *name,
			const char **error_r);
/* cb(domain, name, addresses space-separated) per public folder (domain NULL: all). */
int store_public_list(struct store *s, const char *domain,
		      void (*cb)(void *ctx, const char *domain, const char *name,
				 const char *address),
		      void *ctx);
/*
 * Delivery targets: store_resolve returns an account id (> 0: its INBOX)
 * or, for an address bound to a mailbox, the mailbox id negated (< 0);
 * store_deliver and the store writer take both.
 */
#define STORE_TARGET_MAILBOX(id) (-(id))

/*
 * \Seen per reader. On a mailbox the reader does not own, \Seen is the
 * reader's own (other flags are shared). Listings and STATUS read it for
 * the handle's reader, set by the protocol session around its work on the
 * handle (0, the default: the stored flags, i.e. the owner's). Flag
 * updates name the acting account in store_flags_update.seen_account.
 */
void store_seen_reader_set(struct store *s, int64_t account_id);

/* --- METADATA (store-metadata.c; RFC 5464; schema step 8) -------------- */
/*
 * Entries of a mailbox (mailbox_id > 0) or of the server (0). Names are
 * full entry names ("/private/comment", "/shared/vendor/x/y"), stored
 * lower-cased (they are case-insensitive); a /private entry belongs to
 * one account (the reader), a /shared one to everybody who may read the
 * mailbox. Entries go with their mailbox and their account, and stay
 * with the mailbox through RENAME. Rights are the caller's business.
 */
#define STORE_METADATA_DEPTH_INFINITY (-1)
struct store_metadata_entry {
	const char *name;  /* full entry name */
	const char *value; /* NULL: remove the entry (SETMETADATA NIL) */
	size_t len;
};
/*
 * cb(name, value, len) for the entry (of account_id when it is /private)
 * and, with depth 1 or STORE_METADATA_DEPTH_INFINITY, its children one or
 * any number of levels down, in name order. entry "" means every entry
 * account_id can see (its /private ones and the /shared ones), any depth.
 * 0 / -1.
 */
int store_metadata_get(struct store *s, int64_t mailbox_id, int64_t account_id, const char *entry,
		       int depth,
		       void (*cb)(void *ctx, const char *name, const char *value, size_t len),
		       void *ctx);
/*
 * Set or remove n entries in one transaction (all or none). max_entries
 * bounds the entries of one mailbox (or the server) per scope: the
 * account's /private ones, and the /shared ones. 1 done, 0 refused (too
 * many entries; nothing changed), -1 error ("no such mailbox"...).
 * Publishes a change of the mailbox (of the account for server entries).
 */
int store_metadata_set(struct store *s, int64_t mailbox_id, int64_t account_id,
		       const struct store_metadata_entry *entries, size_t n, size_t max_entries,
		       const char **error_r);
/*
 * A process-wide counter raised by every store_metadata_set: readers that
 * keep a picture of entries (NOTIFY) re-read them only when it moved.
 */
uint64_t store_metadata_generation(void);
/* --- end METADATA ------------------------------------------------------ */

/* --- Sieve scripts (store-sieve.c; schema step 13) --------------------- */
/*
 * Scripts per account: name, source and whether it is the account's one
 * active script. Sources are stored as given: the caller compiles first
 * (sieve_store_put in sieve/ does both). The ManageSieve commands map one
 * to one on these.
 */
#define STORE_SIEVE_NAME_MAX 128
struct store_sieve_info {
	char name[STORE_SIEVE_NAME_MAX + 1];
	bool active;
	size_t size;
	time_t updated;
};
/* 1..STORE_SIEVE_NAME_MAX bytes, no control characters, no '/'. */
bool store_sieve_name_valid(const char *name);
/* Create or replace (the active flag is kept). 0 / -1. */
int store_sieve_put(struct store *s, int64_t account_id, const char *name, const char *source,
		    size_t len, const char **error_r);
/* 1 found (*source_r malloc'd, NUL-terminated) / 0 no such script / -1. */
int store_sieve_get(struct store *s, int64_t account_id, const char *name, char **source_r,
		    size_t *len_r, bool *active_r);
/* The active script: 1 (source malloc'd, name copied if name_r) / 0 none / -1. */
int store_sieve_active(struct store *s, int64_t account_id, char **source_r, size_t *len_r,
		       char *name_r, size_t name_size);
/* Every script of the account by name. 0 / -1. */
int store_sieve_list(struct store *s, int64_t account_id,
		     void (*cb)(void *ctx, const struct store_sieve_info *info), void *ctx);
/* Make name the active script (NULL: none). 1 / 0 no such script / -1. */
int store_sieve_activate(struct store *s, int64_t account_id, const char *name,
			 const char **error_r);
/* 1 deleted / 0 no such script / -1 (also when it is the active one). */
int store_sieve_delete(struct store *s, int64_t account_id, const char *name, const char **error_r);
/* 1 renamed / 0 no such script / -1 (to exists: "a script with that name exists"). */
int store_sieve_rename(struct store *s, int64_t account_id, const char *from, const char *to,
		       const char **error_r);
/*
 * Vacation memory (RFC 5230 4.2): 1 when a reply with handle went to
 * sender and its period has not ended at now, 0 when not, -1 on error.
 */
int store_sieve_vacation_seen(struct store *s, int64_t account_id, const char *handle,
			      const char *sender, time_t now);
/* Remember a reply until expires (and forget those ended by now). 0 / -1. */
int store_sieve_vacation_record(struct store *s, int64_t account_id, const char *handle,
				const char *sender, time_t now, time_t expires,
				const char **error_r);

/* --- change notification hub (store-notify.c) -------------------------- */
/*
 * In-process and thread-safe. After every commit that changes a mailbox
 * (deliver, append, flags, expunge, copy/move, rename, delete) the store
 * publishes (account, mailbox, HIGHESTMODSEQ); every subscriber of that
 * mailbox gets a uint64 1 written to its fd (eventfd semantics; a pipe
 * works too), and is expected to re-read the mailbox state. Writes never
 * block: a full pipe (EAGAIN) is ignored, the subscriber is awake anyway.
 */

/*
 * Wake fd on changes to mailbox_id (0 = every mailbox). fd must be
 * non-blocking (EFD_NONBLOCK / O_NONBLOCK), else -1; token (non-NULL)
 * identifies the subscription(s) for store_notify_unsubscribe. A token may
 * subscribe to several mailboxes. Returns 0 / -1.
 */
int store_notify_subscribe(int64_t mailbox_id, int fd, void *token);
/*
 * Wake fd on changes to any mailbox of account_id (> 0), as JMAP push
 * needs; same fd and token rules. Returns 0 / -1.
 */
int store_notify_subscribe_account(int64_t account_id, int fd, void *token);
/* Drop every subscription of token; call before closing its fd. */
void store_notify_unsubscribe(void *token);
/*
 * A waiter: the cheap subscription for the many sessions that only need
 * to know "something changed" on one mailbox (IMAP IDLE). The subscriber
 * embeds it; publish sets `fired` (no fd, no syscall) and the subscriber
 * tests it on its own schedule. Waiters hang in a per-mailbox list, so
 * adding and removing one is O(1) whatever the number of idlers.
 */
struct store_waiter {
	struct store_waiter *prev, *next; /* the hub's, under its lock */
	int64_t mailbox_id;
	int64_t account_id; /* > 0: waits on the account instead */
	_Atomic bool fired;
};
/* Start waiting on mailbox_id (> 0): w stays registered until unwait. */
void store_notify_wait(struct store_waiter *w, int64_t mailbox_id);
/*
 * Start waiting on every change of account_id (> 0): its mailboxes'
 * contents, their creation, rename and deletion, its subscriptions and
 * server metadata (IMAP NOTIFY). Same list discipline, unwait the same.
 */
void store_notify_wait_account(struct store_waiter *w, int64_t account_id);
/* Stop waiting (before w's memory goes); harmless if never registered. */
void store_notify_unwait(struct store_waiter *w);
/* Did the mailbox change since the last call? Clears the mark. */
bool store_waiter_fired(struct store_waiter *w);
/* Wake the subscribers of mailbox_id (the store calls this after commit). */
void store_notify_publish(int64_t account_id, int64_t mailbox_id, uint64_t highestmodseq);

#endif
