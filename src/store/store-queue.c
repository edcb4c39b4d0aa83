/* SPDX-License-Identifier: MIT */
/*
 * The outbound queue as the delivery thread sees it: due entries, one
 * entry, a failed attempt (back-off and reason), the once-only delay
 * notice flag, rescheduling for the CLI's flush/retry, and the in-process
 * wake-up that lets a queued message leave at once instead of at the next
 * scan. Adding and deleting entries stay in store-mailbox.c; a delivered
 * entry is deleted with store_queue_delete, which drops the blob with its
 * last reference, or with the entries delivered meanwhile in one
 * transaction (store_queue_delete_many).
 */
#include "store/store-private.h"

#include "lib/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int wakeup_fd = -1;

void store_queue_wakeup_fd(int fd)
{
	atomic_store(&wakeup_fd, fd);
}

void store_queue_wakeup(void)
{
	const uint64_t one = 1;
	int fd = atomic_load(&wakeup_fd);
	if (fd < 0)
		return;
	/* EAGAIN: the counter is full, so the thread is due anyway. */
	ssize_t w;
	do
		w = write(fd, &one, sizeof(one));
	while (w < 0 && errno == EINTR);
}

#define QUEUE_COLUMNS                                                                              \
	"id, sender, recipient, blob_id, queued_at, next_attempt, attempts,"                       \
	" last_error, submitter, delay_notified"

void store_queue_entry_from_row(sqlite3_stmt *st, struct store_queue_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, e->sender, sizeof(e->sender));
	store_col_copy(st, 2, e->recipient, sizeof(e->recipient));
	store_col_copy(st, 3, e->blob_id, sizeof(e->blob_id));
	e->queued_at = (time_t)sqlite3_column_int64(st, 4);
	e->next_attempt = (time_t)sqlite3_column_int64(st, 5);
	e->attempts = sqlite3_column_int(st, 6);
	store_col_copy(st, 7, e->last_error, sizeof(e->last_error));
	store_col_copy(st, 8, e->submitter, sizeof(e->submitter));
}

static void queue_row(sqlite3_stmt *st, struct store_queue_delivery *d)
{
	memset(d, 0, sizeof(*d));
	store_queue_entry_from_row(st, &d->e);
	d->delay_notified = sqlite3_column_int(st, 9) != 0;
}

int store_queue_due(struct store *s, time_t now, size_t limit, struct store_queue_delivery **v_r,
		    size_t *n_r)
{
	struct store_queue_delivery *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*v_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT " QUEUE_COLUMNS " FROM queue"
				      " WHERE next_attempt <= ? ORDER BY next_attempt, id"
				      " LIMIT ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, (int64_t)now);
	sqlite3_bind_int64(st, 2, (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		queue_row(st, &v[n++]);
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_db_fail(s, NULL);
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

int store_queue_get(struct store *s, int64_t id, struct store_queue_delivery *d_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " QUEUE_COLUMNS " FROM queue WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		queue_row(st, d_r);
	store_stmt_done(st);
	return store_row_result(s, rc);
}

/* One UPDATE in its own transaction; the number of rows changed or -1. */
static int queue_update(struct store *s, sqlite3_stmt *st, const char **error_r)
{
	if (st == NULL) {
		store_tx_rollback(s);
		return store_db_fail(s, error_r);
	}
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	int changed = sqlite3_changes(s->db);
	return store_tx_commit(s, error_r) < 0 ? -1 : changed;
}

int store_queue_defer(struct store *s, int64_t id, time_t next_attempt, const char *last_error,
		      const char **error_r)
{
	char err[256];
	snprintf(err, sizeof(err), "%s", last_error ? last_error : "");
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s,
				      "UPDATE queue SET attempts = attempts + 1,"
				      " next_attempt = ?, last_error = ? WHERE id = ?");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)next_attempt);
		store_bind_text(st, 2, err);
		sqlite3_bind_int64(st, 3, id);
	}
	return queue_update(s, st, error_r) < 0 ? -1 : 0;
}

/* Drop repeated ids (several recipients of one blob), keeping the first. */
static void idlist_unique(struct store_idlist *l)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t j = 0;
		while (j < n && strcmp(l->ids[j], l->ids[i]) != 0)
			j++;
		if (j == n && n != i)
			memcpy(l->ids[n], l->ids[i], sizeof(l->ids[n]));
		n += j == n;
	}
	l->n = n;
}

int store_queue_delete_many(struct store *s, const int64_t *ids, size_t n, const char **error_r)
{
	struct store_idlist blobs = {0};
	if (n == 0)
		return 0;
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM queue WHERE id = ? RETURNING blob_id");
	int ret = st == NULL ? store_db_fail(s, error_r) : 0;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		sqlite3_bind_int64(st, 1, ids[i]);
		ret = store_idlist_collect(s, st, &blobs, error_r);
	}
	idlist_unique(&blobs);
	return store_tx_end_gc(s, ret, &blobs, error_r);
}

int store_queue_set_delay_notified(struct store *s, int64_t id, const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s, "UPDATE queue SET delay_notified = 1 WHERE id = ?");
	if (st != NULL)
		sqlite3_bind_int64(st, 1, id);
	return queue_update(s, st, error_r) < 0 ? -1 : 0;
}

int store_queue_reschedule(struct store *s, int64_t id, time_t when, const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s,
				      "UPDATE queue SET next_attempt = ?"
				      " WHERE id = ? OR ? = 0");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)when);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_int64(st, 3, id);
	}
	return queue_update(s, st, error_r);
}

int store_queue_next_attempt(struct store *s, time_t *when_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT min(next_attempt) FROM queue");
	if (st == NULL)
		return store_db_fail(s, NULL);
	int rc = sqlite3_step(st);
	int ret = -1;
	if (rc == SQLITE_ROW) {
		ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : 1;
		if (ret == 1)
			*when_r = (time_t)sqlite3_column_int64(st, 0);
	}
	store_stmt_done(st);
	return ret < 0 ? store_db_fail(s, NULL) : ret;
}
