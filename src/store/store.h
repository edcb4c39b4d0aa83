/* SPDX-License-Identifier: MIT */
/*
 * The storage interface. Protocol code speaks of domains, accounts, aliases,
 * mailboxes, messages, flags, UIDs and modification sequences through this
 * header only, never SQL. The one backend today is SQLite (store-sqlite.c,
 * WAL, synchronous=FULL); message content lives beside the database as
 * immutable blobs named by their SHA-256, written once and fsynced
 * (store-blob.c), shared by every mailbox entry that refers to them.
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

/* --- domains ----------------------------------------------------------- */
/* Names are stored lower-cased. Adding an existing domain is an error. */
int store_domain_add(struct store *s, const char *domain, const char **error_r);
/* Removing a domain that still has accounts is an error. */
int store_domain_remove(struct store *s, const char *domain, const char **error_r);
/* 1 local, 0 not, -1 error. */
int store_domain_exists(struct store *s, const char *domain);
/* Calls cb once per domain, in name order. Returns 0 or -1. */
int store_domain_list(struct store *s, void (*cb)(void *ctx, const char *domain),
		      void *ctx);

/* --- accounts ---------------------------------------------------------- */
struct store_account {
	int64_t id;
	char address[320];      /* user@domain, lower-cased */
	char password_hash[256]; /* argon2id encoded string (auth/) */
	int64_t quota_bytes;    /* 0 = unlimited */
	int64_t used_bytes;     /* sum of message sizes in all mailboxes */
};

/*
 * Create an account for address (its domain must exist) with an already
 * hashed password. Creates INBOX and the special-use mailboxes Drafts,
 * Sent, Trash, Junk, Archive. *id_r receives the account id (may be NULL).
 */
int store_account_add(struct store *s, const char *address,
		      const char *password_hash, int64_t *id_r,
		      const char **error_r);
/* Removes the account, its mailboxes and its message entries. */
int store_account_remove(struct store *s, const char *address, const char **error_r);
int store_account_set_password(struct store *s, const char *address,
			       const char *password_hash, const char **error_r);
int store_account_set_quota(struct store *s, const char *address,
			    int64_t quota_bytes, const char **error_r);
/* Lookup by exact address (case-insensitive). 1 / 0 / -1. */
int store_account_get(struct store *s, const char *address,
		      struct store_account *account_r);
int store_account_get_by_id(struct store *s, int64_t id,
			    struct store_account *account_r);
int store_account_list(struct store *s,
		       void (*cb)(void *ctx, const struct store_account *a),
		       void *ctx);

/* --- aliases ----------------------------------------------------------- */
/*
 * source is "user@domain" or "@domain" (catch-all for that domain); target
 * is a local account address or any remote address. A source may have
 * several targets (one row each).
 */
int store_alias_add(struct store *s, const char *source, const char *target,
		    const char **error_r);
int store_alias_remove(struct store *s, const char *source, const char *target,
		       const char **error_r);
int store_alias_list(struct store *s,
		     void (*cb)(void *ctx, const char *source, const char *target),
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
int store_resolve(struct store *s, const char *address, int64_t *accounts_r,
		  size_t *n_accounts_r, char **remote_r, size_t *n_remote_r,
		  size_t max);

/* --- mailboxes --------------------------------------------------------- */
struct store_mailbox {
	int64_t id;
	int64_t account_id;
	char name[512];         /* UTF-8, hierarchy separator '/' */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	char special_use[16];   /* "\\Sent" etc. or "" */
	bool subscribed;
	uint32_t messages;      /* count */
	uint32_t unseen;
	uint64_t size;          /* sum of message sizes */
};

int store_mailbox_get(struct store *s, int64_t account_id, const char *name,
		      struct store_mailbox *mailbox_r);
int store_mailbox_create(struct store *s, int64_t account_id, const char *name,
			 const char *special_use, const char **error_r);
int store_mailbox_delete(struct store *s, int64_t account_id, const char *name,
			 const char **error_r);
int store_mailbox_rename(struct store *s, int64_t account_id, const char *from,
			 const char *to, const char **error_r);
int store_mailbox_list(struct store *s, int64_t account_id,
		       void (*cb)(void *ctx, const struct store_mailbox *m),
		       void *ctx);

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
	time_t date;               /* Date: header, 0 if absent/invalid */
};

struct store_message {
	int64_t id;                /* row id, stable */
	int64_t mailbox_id;
	uint32_t uid;
	uint32_t flags;            /* enum store_flag bits */
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
int store_deliver(struct store *s, const char *data, size_t len,
		  const struct store_parsed *parsed, const int64_t *accounts,
		  size_t n_accounts, const char *mailbox, time_t internal_date,
		  uint32_t flags, uint32_t *uids_r, const char **error_r);

/*
 * List the messages of a mailbox in UID order. *msgs_r is malloc'd (the
 * caller frees it), *n_r its length. Returns 0 or -1.
 */
int store_message_list(struct store *s, int64_t mailbox_id,
		       struct store_message **msgs_r, size_t *n_r);

/*
 * Remove entries (by UID) from a mailbox in one transaction, bumping the
 * mailbox HIGHESTMODSEQ; a blob whose last reference goes is deleted.
 */
int store_message_expunge(struct store *s, int64_t mailbox_id,
			  const uint32_t *uids, size_t n, const char **error_r);

/* Replace the flags of one message; bumps its MODSEQ. */
int store_message_set_flags(struct store *s, int64_t mailbox_id, uint32_t uid,
			    uint32_t flags, const char **error_r);

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
int store_queue_add(struct store *s, const char *sender,
		    const char *const *recipients, size_t n_recipients,
		    const char *data, size_t len, const char **error_r);

struct store_queue_entry {
	int64_t id;
	char sender[320];
	char recipient[320];
	char blob_id[STORE_BLOB_ID_LEN + 1];
	time_t queued_at;
	time_t next_attempt;
	int attempts;
	char last_error[256];
};
int store_queue_list(struct store *s,
		     void (*cb)(void *ctx, const struct store_queue_entry *e),
		     void *ctx);
int store_queue_delete(struct store *s, int64_t id, const char **error_r);

#endif
