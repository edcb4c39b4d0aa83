/* SPDX-License-Identifier: MIT */
/*
 * The store writer: group commit (DESIGN.md principles 7 and 9). One
 * thread with its own store handle takes every write the worker loops
 * handed over since its last batch (SMTP deliveries; IMAP APPEND, STORE,
 * COPY, MOVE and EXPUNGE) and makes them durable together: the new blobs
 * of the batch go to the blob journal with ONE fdatasync
 * (store-journal.c), the blob files are then created without fsync, and
 * every write's rows go into ONE transaction (one WAL fsync), each under
 * its own SAVEPOINT so that a failing write (quota, a mailbox UID space
 * exhausted, a mailbox deleted meanwhile) is rolled back alone. Only after
 * COMMIT does a write report success, so an SMTP 250 or an IMAP OK that
 * waits for it means "fsynced". Submitters keep a reference to their
 * write and poll its result when the done callback (called here, e.g.
 * server_ctx_wake) has woken their loop; a submitter that goes away only
 * drops its reference.
 */
#include "store/store-private.h"

#include "lib/log.h"
#include "lib/spool.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Checkpoint the journal once it holds this much, or is this old. */
#define JOURNAL_CHECKPOINT_BYTES ((uint64_t)64 << 20)
#define JOURNAL_CHECKPOINT_MS 2000
/* Most blobs of one write: the local copy and the queued copy. */
#define WRITE_BLOBS 2

enum write_state { WRITE_PENDING = 0, WRITE_OK = 1, WRITE_FAILED = -1 };

struct store_write {
	struct store_write *next;
	atomic_int refs;
	atomic_int state; /* enum write_state, published after the batch */
	enum store_write_kind kind;
	char *data;
	size_t len;
	bool mapped;                /* data is a mapping of the submitter's spool file */
	size_t map_skip;            /* the mapping starts this far before data */
	struct store_parsed parsed; /* strings owned */
	bool has_parsed;
	int64_t *accounts;
	size_t n_accounts;
	char *mailbox;
	char *submitter;
	char *sender;
	char **remote;
	size_t n_remote;
	size_t queue_offset;
	/* APPEND, FLAGS, COPY, MOVE, EXPUNGE (see struct store_write_request) */
	int64_t account_id, mailbox_id, dst_mailbox_id, reader;
	uint32_t flags;
	char **keywords; /* APPEND's, or FLAGS' (update.keywords points here) */
	size_t n_keywords;
	time_t internal_date;
	uint32_t *uids;
	size_t n_uids;
	struct store_flags_update update;
	struct store_write_outcome out;
	struct store_idlist dropped;          /* EXPUNGE: blobs to collect after COMMIT */
	char local_id[STORE_BLOB_ID_LEN + 1]; /* "" without local entries */
	char queue_id[STORE_BLOB_ID_LEN + 1]; /* "" without remote recipients */
	void (*done)(void *arg);
	void *done_arg;
	/*
	 * Writes submitted together, all or nothing (store_write_submit_group):
	 * the first holds how many, the others 0. A lone write is a group of 1.
	 */
	size_t group_n;
	bool failed; /* the writer's view during the batch */
	char error[256];
};

struct store_writer {
	struct store *s; /* used by the writer thread only, once started */
	struct store_journal *journal;
	struct store_writer_options opt;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct store_write *head, *tail; /* submitted, not yet taken */
	size_t queued;
	bool stop;
	int64_t journal_since_ms; /* when the journal last went from empty to not */
	struct store_writer_stats stats;
};

/* --- writes ----------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void write_free(struct store_write *wr)
{
	struct store_parsed *p = &wr->parsed;
	free((char *)p->envelope);
	free((char *)p->bodystructure);
	free((char *)p->subject);
	free((char *)p->from);
	free((char *)p->to);
	free((char *)p->cc);
	free((char *)p->message_id);
	free((char *)p->body);
	free((char *)p->text_hdr);
	free((char *)p->text_body);
	free((char *)p->text_parts);
	free((char *)p->preview);
	for (size_t i = 0; i < wr->n_remote; i++)
		free(wr->remote[i]);
	free(wr->remote);
	for (size_t i = 0; i < wr->n_keywords; i++)
		free(wr->keywords[i]);
	free(wr->keywords);
	free(wr->uids);
	store_flags_outcome_free(&wr->out.flags);
	free(wr->out.dst_uids);
	store_idlist_free(&wr->dropped);
	free(wr->accounts);
	free(wr->mailbox);
	free(wr->submitter);
	free(wr->sender);
	if (wr->mapped)
		munmap(wr->data - wr->map_skip, wr->len + wr->map_skip);
	else
		free(wr->data);
	free(wr);
}

static void write_unref(struct store_write *wr)
{
	if (atomic_fetch_sub(&wr->refs, 1) == 1)
		write_free(wr);
}

void store_write_release(struct store_write **wr)
{
	if (*wr == NULL)
		return;
	write_unref(*wr);
	*wr = NULL;
}

int store_write_result(struct store_write *wr, const char **error_r)
{
	int state = atomic_load_explicit(&wr->state, memory_order_acquire);
	if (state == WRITE_FAILED && error_r != NULL)
		*error_r = wr->error;
	return state;
}

const struct store_write_outcome *store_write_outcome(const struct store_write *wr)
{
	return &wr->out;
}

static void write_copy_parsed(struct store_write *wr, const struct store_parsed *p)
{
	if (p == NULL)
		return;
	wr->has_parsed = true;
	wr->parsed = (struct store_parsed){
		.envelope = dup_or_null(p->envelope),
		.bodystructure = dup_or_null(p->bodystructure),
		.subject = dup_or_null(p->subject),
		.from = dup_or_null(p->from),
		.to = dup_or_null(p->to),
		.cc = dup_or_null(p->cc),
		.message_id = dup_or_null(p->message_id),
		.date = p->date,
		.body = dup_or_null(p->body),
		.text_hdr = dup_or_null(p->text_hdr),
		.text_body = dup_or_null(p->text_body),
		.text_parts = dup_or_null(p->text_parts),
		.preview = dup_or_null(p->preview),
	};
}

/* The IMAP part of req (APPEND, FLAGS, COPY, MOVE, EXPUNGE). */
static void write_copy_imap(struct store_write *wr, const struct store_write_request *req)
{
	wr->account_id = req->account_id;
	wr->mailbox_id = req->mailbox_id;
	wr->dst_mailbox_id = req->dst_mailbox_id;
	wr->reader = req->reader;
	wr->flags = req->flags;
	wr->internal_date = req->internal_date;
	const char *const *kw = req->keywords;
	size_t n_kw = req->n_keywords;
	if (req->kind == STORE_WRITE_FLAGS) {
		wr->update = *req->update;
		kw = req->update->keywords;
		n_kw = req->update->n_keywords;
	}
	if (n_kw > 0) {
		wr->keywords = xcalloc(n_kw, sizeof(*wr->keywords));
		for (size_t i = 0; i < n_kw; i++)
			wr->keywords[i] = xstrdup(kw[i]);
		wr->n_keywords = n_kw;
	}
	wr->update.keywords = (const char *const *)wr->keywords;
	if (req->n_uids > 0) {
		wr->uids = xcalloc(req->n_uids, sizeof(*wr->uids));
		memcpy(wr->uids, req->uids, req->n_uids * sizeof(*wr->uids));
		wr->n_uids = req->n_uids;
	}
	if (req->kind == STORE_WRITE_COPY || req->kind == STORE_WRITE_MOVE)
		wr->out.dst_uids = xcalloc(req->n_uids + 1, sizeof(*wr->out.dst_uids));
}

/*
 * The message bytes of a write, owned by it: a read-only mapping of the
 * request's spool file (its own mapping: the file lives as long as it,
 * whatever the session does with the spool), else a copy. -1 when neither
 * memory nor address space is left: that message fails, nothing else.
 */
static int write_map_body(struct store_write *wr, const struct store_write_request *req)
{
	wr->len = req->len;
	if (req->body != NULL && spool_fd(req->body) >= 0 && req->len > 0 &&
	    req->body_offset <= req->body->len && req->len <= req->body->len - req->body_offset) {
		/* mmap wants a page-aligned offset: map from the page start. */
		uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
		uint64_t base = req->body_offset - req->body_offset % page;
		size_t skip = (size_t)(req->body_offset - base);
		void *p = mmap(NULL, req->len + skip, PROT_READ, MAP_SHARED, spool_fd(req->body),
			       (off_t)base);
		if (p == MAP_FAILED)
			return -1;
		wr->data = (char *)p + skip;
		wr->map_skip = skip;
		wr->mapped = true;
		return 0;
	}
	wr->data = malloc(req->len + 1);
	if (wr->data == NULL)
		return -1;
	if (req->len > 0)
		memcpy(wr->data, req->data, req->len);
	return 0;
}

/* A copy of req that outlives the caller's buffers, blob ids computed. */
static struct store_write *write_new(const struct store_write_request *req)
{
	struct store_write *wr = xcalloc(1, sizeof(*wr));
	atomic_init(&wr->refs, 2); /* the submitter's and the writer's */
	atomic_init(&wr->state, WRITE_PENDING);
	wr->kind = req->kind;
	wr->group_n = 1;
	if (write_map_body(wr, req) < 0) {
		free(wr);
		return NULL;
	}
	write_copy_parsed(wr, req->parsed);
	write_copy_imap(wr, req);
	/* Hashing here spreads the work over the submitting threads. */
	if (req->kind == STORE_WRITE_APPEND)
		store_blob_hash(wr->data, wr->len, wr->local_id);
	if (req->n_accounts > 0) {
		wr->accounts = xcalloc(req->n_accounts, sizeof(*wr->accounts));
		memcpy(wr->accounts, req->accounts, req->n_accounts * sizeof(*wr->accounts));
		wr->n_accounts = req->n_accounts;
		wr->mailbox = dup_or_null(req->mailbox);
		store_blob_hash(wr->data, wr->len, wr->local_id);
	}
	if (req->n_remote > 0) {
		wr->submitter = dup_or_null(req->submitter);
		wr->sender = dup_or_null(req->sender);
		wr->remote = xcalloc(req->n_remote, sizeof(*wr->remote));
		for (size_t i = 0; i < req->n_remote; i++)
			wr->remote[i] = dup_or_null(req->remote[i]);
		wr->n_remote = req->n_remote;
		wr->queue_offset = req->queue_offset;
		store_blob_hash(wr->data + wr->queue_offset, wr->len - wr->queue_offset,
				wr->queue_id);
	}
	wr->done = req->done;
	wr->done_arg = req->done_arg;
	return wr;
}

/* NULL when req can be queued, else why not. */
static const char *request_check(const struct store_write_request *req)
{
	switch (req->kind) {
	case STORE_WRITE_DELIVER:
		if (req->n_accounts == 0 && req->n_remote == 0)
			return "no recipients";
		if ((req->data == NULL && req->len > 0) ||
		    (req->n_accounts > 0 && req->accounts == NULL) ||
		    (req->n_remote > 0 && (req->remote == NULL || req->queue_offset > req->len)))
			return "malformed delivery";
		return NULL;
	case STORE_WRITE_APPEND:
		if ((req->data == NULL && req->len > 0) ||
		    (req->n_keywords > 0 && req->keywords == NULL))
			return "malformed append";
		return NULL;
	case STORE_WRITE_FLAGS:
		if (req->update == NULL ||
		    (req->update->n_keywords > 0 && req->update->keywords == NULL))
			return "malformed flag update";
		break;
	case STORE_WRITE_COPY:
	case STORE_WRITE_MOVE:
	case STORE_WRITE_EXPUNGE:
		break;
	default:
		return "unknown write";
	}
	return req->n_uids > 0 && req->uids == NULL ? "no UIDs" : NULL;
}

int store_write_submit(struct store_writer *w, const struct store_write_request *req,
		       struct store_write **write_r, const char **error_r)
{
	return store_write_submit_group(w, req, 1, write_r, error_r);
}

int store_write_submit_group(struct store_writer *w, const struct store_write_request *reqs,
			     size_t n, struct store_write **writes_r, const char **error_r)
{
	for (size_t i = 0; i < n; i++) {
		writes_r[i] = NULL;
		const char *bad = request_check(&reqs[i]);
		if (bad != NULL) {
			*error_r = bad;
			return -1;
		}
	}
	if (n == 0 || n > STORE_WRITE_GROUP_MAX) {
		*error_r = "bad number of writes in a group";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		writes_r[i] = write_new(&reqs[i]);
		if (writes_r[i] != NULL)
			continue;
		while (i-- > 0) {
			write_free(writes_r[i]);
			writes_r[i] = NULL;
		}
		*error_r = "out of memory for the message";
		return -1;
	}
	for (size_t i = 1; i < n; i++)
		writes_r[i]->group_n = 0;
	writes_r[0]->group_n = n;
	pthread_mutex_lock(&w->lock);
	if (w->stop) {
		pthread_mutex_unlock(&w->lock);
		for (size_t i = 0; i < n; i++) {
			write_free(writes_r[i]);
			writes_r[i] = NULL;
		}
		*error_r = "store writer stopping";
		return -1;
	}
	/* Adjacent in the queue: batch_take never splits them. */
	for (size_t i = 0; i < n; i++) {
		if (w->tail != NULL)
			w->tail->next = writes_r[i];
		else
			w->head = writes_r[i];
		w->tail = writes_r[i];
	}
	w->queued += n;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* --- one batch -------------------------------------------------------------- */

static void write_fail(struct store_write *wr, const char *error)
{
	if (wr->failed)
		return;
	wr->failed = true;
	snprintf(wr->error, sizeof(wr->error), "%s", error != NULL ? error : "delivery failed");
}

static void batch_fail(struct store_write **b, size_t n, const char *error)
{
	for (size_t i = 0; i < n; i++)
		write_fail(b[i], error);
}

/* The blobs of a write: ids, contents, lengths. Returns how many (0-2). */
static size_t write_blobs(const struct store_write *wr, const char *ids[WRITE_BLOBS],
			  const char *data[WRITE_BLOBS], size_t len[WRITE_BLOBS])
{
	size_t n = 0;
	if (wr->local_id[0] != '\0') {
		ids[n] = wr->local_id;
		data[n] = wr->data;
		len[n++] = wr->len;
	}
	if (wr->n_remote > 0) {
		ids[n] = wr->queue_id;
		data[n] = wr->data + wr->queue_offset;
		len[n++] = wr->len - wr->queue_offset;
	}
	return n;
}

static bool recs_have(const struct store_journal_rec *recs, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(recs[i].id, id) == 0)
			return true;
	}
	return false;
}

/*
 * Make every new blob of the batch durable with one journal sync, then
 * give each its file (unsynced: the journal covers it until the next
 * checkpoint). A blob whose file already exists needs nothing. Returns
 * whether the journal was synced.
 */
static bool batch_blobs(struct store_writer *w, struct store_write **b, size_t n)
{
	struct store_journal_rec *recs = xcalloc(n * WRITE_BLOBS, sizeof(*recs));
	size_t nr = 0;
	const char *error = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *ids[WRITE_BLOBS], *data[WRITE_BLOBS];
		size_t len[WRITE_BLOBS];
		size_t k = write_blobs(b[i], ids, data, len);
		for (size_t j = 0; j < k; j++) {
			if (!recs_have(recs, nr, ids[j]) && !store_blob_exists(w->s, ids[j]))
				recs[nr++] = (struct store_journal_rec){ids[j], data[j], len[j]};
		}
	}
	if (nr > 0) {
		if (store_journal_append(w->journal, recs, nr, &error) < 0) {
			batch_fail(b, n, error);
			free(recs);
			return false;
		}
		if (w->journal_since_ms == 0)
			w->journal_since_ms = time_now_ms();
	}
	for (size_t r = 0; r < nr; r++) {
		if (store_blob_write_journaled(w->s, recs[r].data, recs[r].len, recs[r].id,
					       &error) == 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(b[i]->local_id, recs[r].id) == 0 ||
			    strcmp(b[i]->queue_id, recs[r].id) == 0)
				write_fail(b[i], error);
		}
	}
	free(recs);
	return nr > 0;
}

/* The rows of a delivery, inside the batch transaction. 0 / -1. */
static int write_apply_delivery(struct store *s, struct store_write *wr, const char **error_r)
{
	if (wr->n_accounts > 0 &&
	    store_deliver_tx(s, wr->local_id, wr->len, wr->has_parsed ? &wr->parsed : NULL,
			     wr->accounts, wr->n_accounts, wr->mailbox, 0, 0, NULL, error_r) < 0)
		return -1;
	if (wr->n_remote > 0) {
		const char *const *remote = (const char *const *)wr->remote;
		if (store_queue_args_check(s, wr->sender, remote, wr->n_remote, error_r) < 0 ||
		    store_queue_add_tx(s, wr->submitter, wr->sender, remote, wr->n_remote,
				       wr->queue_id, wr->len - wr->queue_offset, error_r) < 0)
			return -1;
	}
	return 0;
}

/* The rows of an IMAP write, inside the batch transaction. 0 / -1. */
static int write_apply_imap(struct store *s, struct store_write *wr, const char **error_r)
{
	struct store_write_outcome *o = &wr->out;
	switch (wr->kind) {
	case STORE_WRITE_APPEND:
		return store_append_tx(s, wr->account_id, wr->mailbox_id, wr->local_id, wr->len,
				       wr->has_parsed ? &wr->parsed : NULL, wr->flags,
				       (const char *const *)wr->keywords, wr->n_keywords,
				       wr->internal_date, &o->uid, &o->uidvalidity, error_r);
	case STORE_WRITE_FLAGS:
		return store_update_flags_tx(s, wr->mailbox_id, wr->uids, wr->n_uids, &wr->update,
					     &o->flags, error_r);
	case STORE_WRITE_COPY:
	case STORE_WRITE_MOVE:
		return store_copy_tx(s, wr->mailbox_id, wr->uids, wr->n_uids, wr->dst_mailbox_id,
				     wr->kind == STORE_WRITE_MOVE, o->dst_uids, error_r);
	case STORE_WRITE_EXPUNGE:
		if (store_expunge_tx(s, wr->mailbox_id, wr->uids, wr->n_uids, &wr->dropped,
				     error_r) < 0) {
			store_idlist_free(&wr->dropped);
			return -1;
		}
		o->expunged = wr->dropped.n;
		return 0;
	default:
		return store_fail(s, error_r, "unknown write");
	}
}

/* The rows of one write, inside the batch transaction. 0 / -1. */
static int write_apply(struct store *s, struct store_write *wr, const char **error_r)
{
	const char *ids[WRITE_BLOBS], *data[WRITE_BLOBS];
	size_t len[WRITE_BLOBS];
	size_t k = write_blobs(wr, ids, data, len);
	char id[STORE_BLOB_ID_LEN + 1];

	/* Under the lock: a concurrent store_blob_gc may have unlinked a file
	 * that existed when the batch looked. Rare; rewritten durably. */
	for (size_t j = 0; j < k; j++) {
		if (!store_blob_exists(s, ids[j]) &&
		    store_blob_write(s, data[j], len[j], id, error_r) < 0)
			return -1;
	}
	if (wr->kind == STORE_WRITE_DELIVER)
		return write_apply_delivery(s, wr, error_r);
	store_seen_reader_set(s, wr->reader);
	int r = write_apply_imap(s, wr, error_r);
	store_seen_reader_set(s, 0);
	return r;
}

/* Run one write under its own savepoint. false when the transaction is gone. */
static bool batch_one(struct store *s, struct store_write *wr)
{
	size_t events = s->n_events;
	const char *error = NULL;

	if (sqlite3_exec(s->db, "SAVEPOINT w", NULL, NULL, NULL) != SQLITE_OK) {
		store_db_fail(s, &error);
		write_fail(wr, error);
		return !sqlite3_get_autocommit(s->db);
	}
	if (write_apply(s, wr, &error) < 0) {
		write_fail(wr, error);
		sqlite3_exec(s->db, "ROLLBACK TO w", NULL, NULL, NULL);
		/* Mailboxes only this write touched are not announced; one it
		 * shared with another keeps a harmless early wake-up. */
		s->n_events = events;
	}
	sqlite3_exec(s->db, "RELEASE w", NULL, NULL, NULL);
	/* An I/O error or a full disk can roll the whole transaction back. */
	return !sqlite3_get_autocommit(s->db);
}

/* The first failed write of a group, or NULL. */
static struct store_write *group_failed(struct store_write **g, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		if (g[i]->failed)
			return g[i];
	}
	return NULL;
}

/*
 * A group of k > 1 writes under one more savepoint: when one fails, the
 * others are rolled back too and fail with its reason. false when the
 * transaction is gone.
 */
static bool batch_group(struct store *s, struct store_write **g, size_t k)
{
	size_t events = s->n_events;
	const char *error = NULL;
	struct store_write *bad = group_failed(g, k);

	if (bad == NULL && sqlite3_exec(s->db, "SAVEPOINT g", NULL, NULL, NULL) != SQLITE_OK) {
		store_db_fail(s, &error);
		write_fail(g[0], error);
		bad = g[0];
	} else if (bad == NULL) {
		for (size_t i = 0; i < k && bad == NULL; i++) {
			if (!batch_one(s, g[i]))
				return false;
			bad = g[i]->failed ? g[i] : NULL;
		}
		if (bad != NULL) {
			sqlite3_exec(s->db, "ROLLBACK TO g", NULL, NULL, NULL);
			s->n_events = events;
		}
		sqlite3_exec(s->db, "RELEASE g", NULL, NULL, NULL);
	}
	if (bad != NULL) {
		char reason[sizeof(bad->error)];
		snprintf(reason, sizeof(reason), "%s", bad->error);
		for (size_t i = 0; i < k; i++)
			write_fail(g[i], reason);
	}
	return !sqlite3_get_autocommit(s->db);
}

static void batch_commit(struct store_writer *w, struct store_write **b, size_t n)
{
	const char *error = NULL;

	if (store_tx_begin(w->s, &error) < 0) {
		batch_fail(b, n, error);
		return;
	}
	for (size_t i = 0; i < n; i += b[i]->group_n) {
		size_t k = b[i]->group_n;
		bool alive = k > 1 ? batch_group(w->s, b + i, k)
				   : (b[i]->failed || batch_one(w->s, b[i]));
		if (!alive) {
			/* Every write of the batch was in that transaction. */
			batch_fail(b, n, "database error: transaction aborted");
			return;
		}
	}
	if (store_tx_commit(w->s, &error) < 0)
		batch_fail(b, n, error);
}

static void batch_run(struct store_writer *w, struct store_write **b, size_t n)
{
	struct store_idlist orphans = {0}, dropped = {0};
	bool queued = false, expunged = false;
	uint64_t ok = 0;

	bool synced = batch_blobs(w, b, n);
	batch_commit(w, b, n);
	for (size_t i = 0; i < n; i++) {
		if (!b[i]->failed) {
			queued |= b[i]->n_remote > 0;
			expunged |= b[i]->kind == STORE_WRITE_EXPUNGE;
			for (size_t j = 0; j < b[i]->dropped.n; j++)
				store_idlist_add(&dropped, b[i]->dropped.ids[j]);
			ok++;
			continue;
		}
		log_warn("store_write_failed", "error=\"%s\"", b[i]->error);
		/* A refused delivery leaves no blob behind (unless shared). */
		if (b[i]->local_id[0] != '\0')
			store_idlist_add(&orphans, b[i]->local_id);
		if (b[i]->queue_id[0] != '\0')
			store_idlist_add(&orphans, b[i]->queue_id);
	}
	store_blob_gc(w->s, &orphans);
	store_idlist_free(&orphans);
	/* As store_message_expunge does after its commit: one gc for the batch. */
	if (expunged)
		store_blob_gc_expunged(w->s, &dropped);
	store_idlist_free(&dropped);
	if (queued)
		store_queue_wakeup();
	pthread_mutex_lock(&w->lock);
	w->stats.batches++;
	w->stats.journal_syncs += synced;
	w->stats.writes += ok;
	w->stats.failed += n - ok;
	if (n > w->stats.max_batch)
		w->stats.max_batch = n;
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		struct store_write *wr = b[i];
		atomic_store_explicit(&wr->state, wr->failed ? WRITE_FAILED : WRITE_OK,
				      memory_order_release);
		if (wr->done != NULL)
			wr->done(wr->done_arg);
		write_unref(wr);
	}
}

/* --- the thread --------------------------------------------------------------- */

static void checkpoint(struct store_writer *w)
{
	const char *error = NULL;
	if (store_journal_size(w->journal) == 0)
		return;
	if (store_journal_checkpoint(w->s, w->journal, &error) < 0) {
		/* The journal keeps covering the blobs; try again later. */
		log_error("store_checkpoint", "error=\"%s\"", error);
		w->journal_since_ms = time_now_ms();
		return;
	}
	w->journal_since_ms = 0;
	pthread_mutex_lock(&w->lock);
	w->stats.checkpoints++;
	pthread_mutex_unlock(&w->lock);
}

static bool checkpoint_due(const struct store_writer *w, int64_t now)
{
	return store_journal_size(w->journal) >= JOURNAL_CHECKPOINT_BYTES ||
		(w->journal_since_ms != 0 && now - w->journal_since_ms >= JOURNAL_CHECKPOINT_MS);
}

static void cond_wait_until(struct store_writer *w, int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000,
			      .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
	pthread_cond_timedwait(&w->cond, &w->lock, &ts);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * With the lock held and something queued: keep the batch open up to
 * batch_wait_us for more, unless it is full already.
 */
static void batch_linger(struct store_writer *w)
{
	if (w->opt.batch_wait_us == 0)
		return;
	int64_t deadline = mono_us() + w->opt.batch_wait_us;
	while (!w->stop && w->queued < w->opt.batch_max) {
		int64_t now = mono_us();
		if (now >= deadline)
			break;
		struct timespec ts = {.tv_sec = deadline / 1000000,
				      .tv_nsec = (long)(deadline % 1000000) * 1000L};
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
}

/* b holds batch_max + STORE_WRITE_GROUP_MAX: a group is never split. */
static size_t batch_take(struct store_writer *w, struct store_write **b)
{
	size_t n = 0;
	while (w->head != NULL && n < w->opt.batch_max) {
		size_t k = w->head->group_n;
		if (n > 0 && n + k > w->opt.batch_max)
			break;
		for (size_t i = 0; i < k; i++) {
			b[n++] = w->head;
			w->head = w->head->next;
			b[n - 1]->next = NULL;
			w->queued--;
		}
	}
	if (w->head == NULL)
		w->tail = NULL;
	return n;
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;
	struct store_write **b = xcalloc(w->opt.batch_max + STORE_WRITE_GROUP_MAX, sizeof(*b));

	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->head == NULL) {
			if (w->stop)
				break;
			if (w->journal_since_ms == 0) {
				pthread_cond_wait(&w->cond, &w->lock);
				continue;
			}
			/* Idle with a journal to checkpoint: do it when due. */
			int64_t due = w->journal_since_ms + JOURNAL_CHECKPOINT_MS;
			if (time_now_ms() < due) {
				cond_wait_until(w, due);
				continue;
			}
			pthread_mutex_unlock(&w->lock);
			checkpoint(w);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		batch_linger(w);
		size_t n = batch_take(w, b);
		pthread_mutex_unlock(&w->lock);
		batch_run(w, b, n);
		if (checkpoint_due(w, time_now_ms()))
			checkpoint(w);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	checkpoint(w);
	free(b);
	return NULL;
}

int store_writer_create(const char *dir, const struct store_writer_options *opt,
			struct store_writer **w_r, const char **error_r)
{
	static _Thread_local char err[512];
	struct store_writer *w = xcalloc(1, sizeof(*w));
	const char *error = NULL;

	*w_r = NULL;
	w->opt = *opt;
	if (w->opt.batch_max == 0)
		w->opt.batch_max = 1;
	if (store_open(dir, &w->s, error_r) < 0) {
		free(w);
		return -1;
	}
	if (store_journal_open(w->s, &w->journal, NULL, &error) < 0) {
		snprintf(err, sizeof(err), "%s", error);
		*error_r = err;
		store_close(&w->s);
		free(w);
		return -1;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		*error_r = "cannot start the store writer thread";
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		store_journal_close(&w->journal);
		store_close(&w->s);
		free(w);
		return -1;
	}
	*w_r = w;
	return 0;
}

void store_writer_destroy(struct store_writer **wp)
{
	struct store_writer *w = *wp;
	if (w == NULL)
		return;
	*wp = NULL;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	log_info("store_writer_stopped",
		 "batches=%llu writes=%llu failed=%llu max_batch=%llu journal_syncs=%llu "
		 "checkpoints=%llu",
		 (unsigned long long)w->stats.batches, (unsigned long long)w->stats.writes,
		 (unsigned long long)w->stats.failed, (unsigned long long)w->stats.max_batch,
		 (unsigned long long)w->stats.journal_syncs,
		 (unsigned long long)w->stats.checkpoints);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	store_journal_close(&w->journal);
	store_close(&w->s);
	free(w);
}

void store_writer_stats(struct store_writer *w, struct store_writer_stats *st_r)
{
	pthread_mutex_lock(&w->lock);
	*st_r = w->stats;
	pthread_mutex_unlock(&w->lock);
}
