/* SPDX-License-Identifier: MIT */
/*
 * What JMAP (src/jmap/) needs from the store beyond what IMAP uses:
 * account-wide states and change lists (kept by the triggers of schema
 * step 4, see store-private.h), message listings across the mailboxes of
 * an account with their header fields, thread bookkeeping (which
 * Message-IDs belong to which thread), a move that keeps the message's
 * row id, uploaded blobs owned by an account, a per-blob cache of what
 * JMAP computes from the content, and JMAP objects kept as JSON text.
 */
#include "store/store-private.h"

#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- states and changes ------------------------------------------------ */

int store_jmap_state(struct store *s, int64_t account_id, enum store_jmap_kind kind,
		     uint64_t *state_r, uint64_t *floor_r)
{
	sqlite3_stmt *st = store_stmt(
		s,
		"SELECT floor, (SELECT max(changed) FROM jmap_changes WHERE account_id = ?1"
		" AND kind = ?2) FROM jmap_state WHERE account_id = ?1");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	int rc = sqlite3_step(st);
	uint64_t floor = 0, max = 0;
	if (rc == SQLITE_ROW) {
		floor = (uint64_t)sqlite3_column_int64(st, 0);
		max = (uint64_t)sqlite3_column_int64(st, 1);
	}
	store_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_db_fail(s, NULL);
	*state_r = max > floor ? max : floor;
	if (floor_r != NULL)
		*floor_r = floor;
	return 0;
}

int store_jmap_changes(struct store *s, int64_t account_id, enum store_jmap_kind kind,
		       uint64_t since, size_t max, struct store_jmap_change **v_r, size_t *n_r)
{
	struct store_jmap_change *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*v_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT obj, created, changed, props, destroyed"
				      " FROM jmap_changes WHERE account_id = ? AND kind = ?"
				      " AND changed > ? ORDER BY changed LIMIT ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	sqlite3_bind_int64(st, 3, (int64_t)since);
	sqlite3_bind_int64(st, 4, (int64_t)max + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n].obj = sqlite3_column_int64(st, 0);
		v[n].created = (uint64_t)sqlite3_column_int64(st, 1);
		v[n].changed = (uint64_t)sqlite3_column_int64(st, 2);
		v[n].props = (uint64_t)sqlite3_column_int64(st, 3);
		v[n].destroyed = sqlite3_column_int(st, 4) != 0;
		n++;
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

/* --- messages ---------------------------------------------------------- */

void store_jmap_emails_free(struct store_jmap_email **vp, size_t n)
{
	struct store_jmap_email *v = *vp;

	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].keywords);
		free(v[i].subject);
		free(v[i].from);
		free(v[i].to);
		free(v[i].cc);
		free(v[i].message_id);
	}
	free(v);
	*vp = NULL;
}

static char *col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t != NULL ? xstrdup((const char *)t) : NULL;
}

#define EMAIL_COLUMNS                                                                              \
	"SELECT m.id, m.mailbox_id, m.uid, m.flags, m.modseq, m.internal_date, m.save_date,"       \
	" m.size, m.blob_id, m.keywords, coalesce(m.thread_id, 0), b.subject, b.hdr_from,"         \
	" b.hdr_to, b.hdr_cc, b.message_id, coalesce(b.date, 0)"                                   \
	" FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id"                                 \
	" LEFT JOIN blobs b ON b.id = m.blob_id"

static void email_from_row(sqlite3_stmt *st, struct store_jmap_email *e)
{
	memset(e, 0, sizeof(*e));
	store_message_from_row(st, &e->msg);
	e->keywords = col_strdup(st, 9);
	if (e->keywords == NULL)
		e->keywords = xstrdup("");
	e->thread_id = sqlite3_column_int64(st, 10);
	e->subject = col_strdup(st, 11);
	e->from = col_strdup(st, 12);
	e->to = col_strdup(st, 13);
	e->cc = col_strdup(st, 14);
	e->message_id = col_strdup(st, 15);
	e->date = (time_t)sqlite3_column_int64(st, 16);
}

/* Step st, appending each row to v. Resets st. 0 / -1. */
static int emails_collect(struct store *s, sqlite3_stmt *st, struct store_jmap_email **v, size_t *n,
			  size_t *cap)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		email_from_row(st, &(*v)[(*n)++]);
	}
	store_stmt_done(st);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

int store_jmap_emails(struct store *s, int64_t account_id, const int64_t *ids, size_t n,
		      int64_t mailbox_id, int64_t thread_id, struct store_jmap_email **v_r,
		      size_t *n_r)
{
	struct store_jmap_email *v = NULL;
	size_t nv = 0, cap = 0;
	sqlite3_stmt *st;
	int ret = 0;

	*v_r = NULL;
	*n_r = 0;
	if (ids != NULL) {
		for (size_t i = 0; i < n && ret == 0; i++) {
			st = store_stmt(s, EMAIL_COLUMNS " WHERE m.id = ? AND x.account_id = ?");
			if (st == NULL)
				ret = store_db_fail(s, NULL);
			else {
				sqlite3_bind_int64(st, 1, ids[i]);
				sqlite3_bind_int64(st, 2, account_id);
				ret = emails_collect(s, st, &v, &nv, &cap);
			}
		}
	} else if (thread_id != 0) {
		st = store_stmt(s,
				EMAIL_COLUMNS " WHERE m.thread_id = ? AND x.account_id = ?"
					      " ORDER BY m.internal_date, m.id");
		if (st == NULL)
			return store_db_fail(s, NULL);
		sqlite3_bind_int64(st, 1, thread_id);
		sqlite3_bind_int64(st, 2, account_id);
		ret = emails_collect(s, st, &v, &nv, &cap);
	} else {
		st = store_stmt(s,
				EMAIL_COLUMNS " WHERE x.account_id = ?1"
					      " AND (?2 = 0 OR m.mailbox_id = ?2) ORDER BY m.id");
		if (st == NULL)
			return store_db_fail(s, NULL);
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_int64(st, 2, mailbox_id);
		ret = emails_collect(s, st, &v, &nv, &cap);
	}
	/* \Seen of a reader who does not own the mailbox (store-acl.c). */
	for (size_t i = 0; i < nv && ret == 0; i++) {
		int shared = store_seen_shared(s, v[i].msg.mailbox_id, s->seen_reader);
		bool seen = false;
		if (shared < 0 ||
		    (shared > 0 &&
		     store_seen_read(s, v[i].msg.mailbox_id, s->seen_reader, v[i].msg.uid, &seen) <
			     0))
			ret = store_db_fail(s, NULL);
		else if (shared > 0)
			v[i].msg.flags = (v[i].msg.flags & ~(uint32_t)STORE_FLAG_SEEN) |
				(seen ? STORE_FLAG_SEEN : 0);
	}
	if (ret < 0) {
		store_jmap_emails_free(&v, nv);
		return -1;
	}
	*v_r = v;
	*n_r = nv;
	return 0;
}

/* Thread ids seen while paging: open addressing, at most half full. */
struct id_set {
	int64_t *slot; /* 0 = empty; ids are > 0 */
	size_t n, mask;
};

static size_t id_set_slot(const struct id_set *t, int64_t id)
{
	size_t i = ((uint64_t)id * 0x9E3779B97F4A7C15u) >> 7 & t->mask;
	while (t->slot[i] != 0 && t->slot[i] != id)
		i = (i + 1) & t->mask;
	return i;
}

/* Add id (> 0); true when it was not there yet. */
static bool id_set_add(struct id_set *t, int64_t id)
{
	if (2 * (t->n + 1) > t->mask) {
		struct id_set g = {.mask = t->mask ? 2 * t->mask + 1 : 63};
		g.slot = xcalloc(g.mask + 1, sizeof(*g.slot));
		for (size_t i = 0; t->slot != NULL && i <= t->mask; i++)
			if (t->slot[i] != 0)
				g.slot[id_set_slot(&g, t->slot[i])] = t->slot[i];
		g.n = t->n;
		free(t->slot);
		*t = g;
	}
	size_t i = id_set_slot(t, id);
	if (t->slot[i] == id)
		return false;
	t->slot[i] = id;
	t->n++;
	return true;
}

/*
 * Email/query's usual page, read from the messages_date index (schema
 * step 8) instead of sorting the mailbox: ORDER BY with LIMIT/OFFSET when
 * every message counts; with collapse, the rows in order until enough
 * threads were seen (a page near the top reads few rows).
 */
static int page_threads(sqlite3_stmt *st, size_t position, size_t limit, int64_t *v, size_t *n)
{
	struct id_set seen = {0};
	size_t kept = 0;
	int rc = SQLITE_DONE;
	while (*n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), thread = sqlite3_column_int64(st, 1);
		if (thread != 0 && !id_set_add(&seen, thread))
			continue;
		if (kept++ >= position)
			v[(*n)++] = id;
	}
	free(seen.slot);
	store_stmt_done(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_jmap_mailbox_page(struct store *s, int64_t account_id, int64_t mailbox_id, bool desc,
			    bool collapse, size_t position, size_t limit, int64_t **ids_r,
			    size_t *n_r, size_t *total_r)
{
	static const char *const sql[2][2] = {
		{"SELECT m.id, 0 FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id"
		 " WHERE m.mailbox_id = ?1 AND x.account_id = ?2"
		 " ORDER BY m.internal_date, m.id LIMIT ?3 OFFSET ?4",
		 "SELECT m.id, 0 FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id"
		 " WHERE m.mailbox_id = ?1 AND x.account_id = ?2"
		 " ORDER BY m.internal_date DESC, m.id LIMIT ?3 OFFSET ?4"},
		{"SELECT m.id, coalesce(m.thread_id, 0) FROM messages m JOIN mailboxes x"
		 " ON x.id = m.mailbox_id WHERE m.mailbox_id = ?1 AND x.account_id = ?2"
		 " ORDER BY m.internal_date, m.id",
		 "SELECT m.id, coalesce(m.thread_id, 0) FROM messages m JOIN mailboxes x"
		 " ON x.id = m.mailbox_id WHERE m.mailbox_id = ?1 AND x.account_id = ?2"
		 " ORDER BY m.internal_date DESC, m.id"}};
	sqlite3_stmt *st;
	*ids_r = xcalloc(limit > 0 ? limit : 1, sizeof(**ids_r));
	*n_r = 0;
	if (total_r != NULL) {
		st = store_stmt(s,
				collapse ? "SELECT count(DISTINCT nullif(m.thread_id, 0))"
					   " + total(coalesce(m.thread_id, 0) = 0)"
					   " FROM messages m JOIN mailboxes x"
					   " ON x.id = m.mailbox_id"
					   " WHERE m.mailbox_id = ?1 AND x.account_id = ?2"
					 : "SELECT count(*) FROM messages m JOIN mailboxes x"
					   " ON x.id = m.mailbox_id"
					   " WHERE m.mailbox_id = ?1 AND x.account_id = ?2");
		if (st == NULL)
			goto failed;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, account_id);
		int ret = store_row_result(s, sqlite3_step(st));
		*total_r = ret > 0 ? (size_t)sqlite3_column_int64(st, 0) : 0;
		store_stmt_done(st);
		if (ret < 0)
			goto failed;
	}
	if (limit == 0)
		return 0;
	st = store_stmt(s, sql[collapse][desc]);
	if (st == NULL)
		goto failed;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, account_id);
	if (collapse) {
		if (page_threads(st, position, limit, *ids_r, n_r) < 0)
			goto failed;
		return 0;
	}
	sqlite3_bind_int64(st, 3, (int64_t)limit);
	sqlite3_bind_int64(st, 4, (int64_t)position);
	int rc = SQLITE_DONE;
	while (*n_r < limit && (rc = sqlite3_step(st)) == SQLITE_ROW)
		(*ids_r)[(*n_r)++] = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
failed:
	free(*ids_r);
	*ids_r = NULL;
	*n_r = 0;
	return store_db_fail(s, NULL);
}

int store_jmap_email_id(struct store *s, int64_t mailbox_id, uint32_t uid, int64_t *id_r)
{
	sqlite3_stmt *st =
		store_stmt(s, "SELECT id FROM messages WHERE mailbox_id = ? AND uid = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int ret = store_row_result(s, sqlite3_step(st));
	if (ret > 0)
		*id_r = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	return ret;
}

/* --- threads ----------------------------------------------------------- */

int store_jmap_unthreaded(struct store *s, int64_t account_id, size_t max, int64_t **ids_r,
			  size_t *n_r)
{
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*ids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT m.id FROM messages m JOIN mailboxes x"
				      " ON x.id = m.mailbox_id WHERE m.thread_id IS NULL"
				      " AND x.account_id = ? ORDER BY m.id LIMIT ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = sqlite3_column_int64(st, 0);
	}
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_db_fail(s, NULL);
	}
	*ids_r = v;
	*n_r = n;
	return 0;
}

int store_jmap_msgid_thread(struct store *s, int64_t account_id, const char *msgid,
			    int64_t *thread_r, char *subject_r, size_t size)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT thread_id, subject FROM jmap_msgids"
				      " WHERE account_id = ? AND msgid = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, msgid);
	int ret = store_row_result(s, sqlite3_step(st));
	if (ret > 0) {
		*thread_r = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, subject_r, size);
	}
	store_stmt_done(st);
	return ret;
}

int store_jmap_thread_set(struct store *s, int64_t account_id, int64_t email_id, int64_t thread_id,
			  const char *const *msgids, size_t n, const char *subject,
			  const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE messages SET thread_id = ? WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, thread_id);
	sqlite3_bind_int64(st, 2, email_id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(s, error_r);
	for (size_t i = 0; i < n; i++) {
		st = store_stmt(s,
				"INSERT OR IGNORE INTO jmap_msgids(account_id, msgid,"
				" thread_id, subject) VALUES (?, ?, ?, ?)");
		if (st == NULL)
			return store_db_fail(s, error_r);
		sqlite3_bind_int64(st, 1, account_id);
		store_bind_text(st, 2, msgids[i]);
		sqlite3_bind_int64(st, 3, thread_id);
		store_bind_text(st, 4, subject != NULL ? subject : "");
		rc = sqlite3_step(st);
		store_stmt_done(st);
		if (rc != SQLITE_DONE)
			return store_db_fail(s, error_r);
	}
	return 0;
}

int store_jmap_batch_begin(struct store *s, const char **error_r)
{
	return store_tx_begin(s, error_r);
}

int store_jmap_batch_end(struct store *s, bool commit, const char **error_r)
{
	if (!commit) {
		store_tx_rollback(s);
		return 0;
	}
	return store_tx_commit(s, error_r);
}

int store_jmap_mailbox_threads(struct store *s, int64_t mailbox_id, uint32_t *total_r,
			       uint32_t *unread_r)
{
	/* A reader who does not own the mailbox has its own \Seen (store-acl.c). */
	int shared = store_seen_shared(s, mailbox_id, s->seen_reader);
	if (shared < 0)
		return store_db_fail(s, NULL);
	sqlite3_stmt *st = shared == 0
		? store_stmt(s,
			     "SELECT count(DISTINCT thread_id),"
			     " count(DISTINCT CASE WHEN (flags & 1) = 0 THEN thread_id END)"
			     " FROM messages WHERE mailbox_id = ?")
		: store_stmt(s,
			     "SELECT count(DISTINCT thread_id),"
			     " count(DISTINCT CASE WHEN NOT EXISTS (SELECT 1 FROM shared_seen x"
			     "  WHERE x.mailbox_id = m.mailbox_id AND x.account_id = ?2"
			     "  AND x.uid = m.uid) THEN thread_id END)"
			     " FROM messages m WHERE m.mailbox_id = ?1");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	if (shared > 0)
		sqlite3_bind_int64(st, 2, s->seen_reader);
	int ret = store_row_result(s, sqlite3_step(st));
	*total_r = *unread_r = 0;
	if (ret > 0) {
		*total_r = (uint32_t)sqlite3_column_int64(st, 0);
		*unread_r = (uint32_t)sqlite3_column_int64(st, 1);
	}
	store_stmt_done(st);
	return ret < 0 ? -1 : 0;
}

/* --- move keeping the id ----------------------------------------------- */

static int mailbox_account(struct store *s, int64_t mailbox_id, int64_t *account_r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT account_id FROM mailboxes WHERE id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int ret = store_row_result(s, sqlite3_step(st));
	if (ret > 0)
		*account_r = sqlite3_column_int64(st, 0);
	store_stmt_done(st);
	return ret;
}

struct move_src {
	int64_t mailbox_id;
	uint32_t uid;
	char *keywords;
};

static int move_read(struct store *s, int64_t account_id, int64_t email_id, struct move_src *m,
		     const char **error_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT m.mailbox_id, m.uid, m.keywords FROM messages m"
				      " JOIN mailboxes x ON x.id = m.mailbox_id"
				      " WHERE m.id = ? AND x.account_id = ?");
	if (st == NULL)
		return store_db_fail(s, error_r);
	sqlite3_bind_int64(st, 1, email_id);
	sqlite3_bind_int64(st, 2, account_id);
	int ret = store_row_result(s, sqlite3_step(st));
	if (ret > 0) {
		m->mailbox_id = sqlite3_column_int64(st, 0);
		m->uid = (uint32_t)sqlite3_column_int64(st, 1);
		m->keywords = col_strdup(st, 2);
	}
	store_stmt_done(st);
	if (ret < 0)
		return store_db_fail(s, error_r);
	return ret == 0 ? store_fail(s, error_r, "no such message") : 0;
}

static int move_tx(struct store *s, int64_t account_id, int64_t email_id, int64_t dst,
		   const char **error_r)
{
	struct move_src m = {0};
	struct store_kwlist kw = {0}, reg = {0};
	int64_t dst_account = 0;
	uint32_t uid;
	uint64_t modseq, src_modseq;
	int ret = -1;

	if (move_read(s, account_id, email_id, &m, error_r) < 0)
		return -1;
	if (m.mailbox_id == dst) {
		free(m.keywords);
		return 0;
	}
	int r = mailbox_account(s, dst, &dst_account);
	if (r <= 0 || dst_account != account_id) {
		free(m.keywords);
		return r < 0 ? store_db_fail(s, error_r)
			     : store_fail(s, error_r, "no such mailbox");
	}
	store_kwlist_split(&kw, m.keywords);
	if (store_keywords_register(s, dst, (const char *const *)kw.v, kw.n, false, &reg, error_r) <
		    0 ||
	    store_mailbox_next_uid(s, dst, &uid, &modseq, error_r) < 0 ||
	    store_mailbox_bump_modseq(s, m.mailbox_id, &src_modseq, error_r) < 0)
		goto out;
	sqlite3_stmt *st = store_stmt(s,
				      "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq)"
				      " VALUES (?, ?, ?)");
	if (st == NULL)
		goto db;
	sqlite3_bind_int64(st, 1, m.mailbox_id);
	sqlite3_bind_int64(st, 2, m.uid);
	sqlite3_bind_int64(st, 3, (int64_t)src_modseq);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE)
		goto db;
	char *joined = store_kwlist_join(&reg);
	st = store_stmt(s,
			"UPDATE messages SET mailbox_id = ?, uid = ?, modseq = ?, keywords = ?"
			" WHERE id = ?");
	if (st == NULL) {
		free(joined);
		goto db;
	}
	sqlite3_bind_int64(st, 1, dst);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	store_bind_text(st, 4, joined);
	sqlite3_bind_int64(st, 5, email_id);
	rc = sqlite3_step(st);
	store_stmt_done(st);
	free(joined);
	if (rc != SQLITE_DONE)
		goto db;
	ret = 0;
	goto out;
db:
	store_db_fail(s, error_r);
out:
	store_kwlist_free(&kw);
	store_kwlist_free(&reg);
	free(m.keywords);
	return ret;
}

int store_jmap_email_move(struct store *s, int64_t account_id, int64_t email_id,
			  int64_t dst_mailbox_id, const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	if (move_tx(s, account_id, email_id, dst_mailbox_id, error_r) < 0) {
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, error_r);
}

/* --- blobs -------------------------------------------------------------- */

int store_jmap_blob_info(struct store *s, const char *blob_id, char **preview_r,
			 bool *has_attachment_r)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT preview, has_attachment FROM jmap_blob_info"
				      " WHERE blob_id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	store_bind_text(st, 1, blob_id);
	int ret = store_row_result(s, sqlite3_step(st));
	if (ret > 0) {
		*preview_r = col_strdup(st, 0);
		*has_attachment_r = sqlite3_column_int(st, 1) != 0;
	}
	store_stmt_done(st);
	return ret;
}

int store_jmap_blob_info_set(struct store *s, const char *blob_id, const char *preview,
			     bool has_attachment)
{
	const char *error;

	if (store_tx_begin(s, &error) < 0)
		return -1;
	/* The blob row may have been collected meanwhile: then nothing is kept. */
	sqlite3_stmt *st = store_stmt(s,
				      "INSERT OR REPLACE INTO jmap_blob_info(blob_id, preview,"
				      " has_attachment) SELECT id, ?2, ?3 FROM blobs"
				      " WHERE id = ?1");
	if (st == NULL) {
		store_tx_rollback(s);
		return store_db_fail(s, NULL);
	}
	store_bind_text(st, 1, blob_id);
	store_bind_text(st, 2, preview);
	sqlite3_bind_int(st, 3, has_attachment ? 1 : 0);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_db_fail(s, NULL);
		store_tx_rollback(s);
		return -1;
	}
	return store_tx_commit(s, &error);
}

int store_jmap_upload(struct store *s, int64_t account_id, const char *data, size_t len,
		      const char *type, char *id_r, const char **error_r)
{
	/* The file first (fsynced), then the rows, like a delivery. */
	if (store_blob_write(s, data != NULL ? data : "", len, id_r, error_r) < 0 ||
	    store_tx_begin(s, error_r) < 0)
		return -1;
	if (store_account_exists(s, account_id, error_r) < 0 ||
	    store_blob_row_upsert(s, id_r, len, NULL, error_r) < 0)
		goto failed;
	sqlite3_stmt *st = store_stmt(s,
				      "INSERT OR REPLACE INTO jmap_uploads(account_id, blob_id,"
				      " type, size, created) VALUES (?, ?, ?, ?, ?)");
	if (st == NULL) {
		store_db_fail(s, error_r);
		goto failed;
	}
	sqlite3_bind_int64(st, 1, account_id);
	store_bind_text(st, 2, id_r);
	store_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, (int64_t)len);
	sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_db_fail(s, error_r);
		goto failed;
	}
	return store_tx_commit(s, error_r);
failed:
	store_tx_rollback(s);
	return -1;
}

int store_jmap_uploads_expire(struct store *s, int64_t before, unsigned max, unsigned *n_r,
			      const char **error_r)
{
	struct store_idlist gone = {0};
	*n_r = 0;
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT blob_id FROM jmap_uploads WHERE created < ?"
				      " GROUP BY blob_id LIMIT ?");
	if (st == NULL)
		goto failed_db;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, max);
	if (store_idlist_collect(s, st, &gone, error_r) < 0)
		goto failed;
	for (size_t i = 0; i < gone.n; i++) {
		st = store_stmt(s, "DELETE FROM jmap_uploads WHERE blob_id = ? AND created < ?");
		if (st == NULL)
			goto failed_db;
		store_bind_text(st, 1, gone.ids[i]);
		sqlite3_bind_int64(st, 2, before);
		int rc = sqlite3_step(st);
		store_stmt_done(st);
		if (rc != SQLITE_DONE)
			goto failed_db;
	}
	if (store_tx_commit(s, error_r) < 0) {
		store_idlist_free(&gone);
		return -1;
	}
	*n_r = (unsigned)gone.n;
	store_blob_gc(s, &gone); /* keeps what a message or newer upload uses */
	store_idlist_free(&gone);
	return 0;
failed_db:
	store_db_fail(s, error_r);
failed:
	store_tx_rollback(s);
	store_idlist_free(&gone);
	return -1;
}

int store_jmap_blob_access(struct store *s, int64_t account_id, const char *blob_id, char *type_r,
			   size_t type_size, uint64_t *size_r)
{
	sqlite3_stmt *st = store_stmt(
		s,
		"SELECT 1, '', m.size FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id"
		" WHERE m.blob_id = ?1 AND x.account_id = ?2"
		" UNION ALL SELECT 2, type, size FROM jmap_uploads"
		" WHERE blob_id = ?1 AND account_id = ?2 LIMIT 1");
	if (st == NULL)
		return store_db_fail(s, NULL);
	store_bind_text(st, 1, blob_id);
	sqlite3_bind_int64(st, 2, account_id);
	int ret = store_row_result(s, sqlite3_step(st));
	if (ret > 0) {
		ret = sqlite3_column_int(st, 0);
		store_col_copy(st, 1, type_r, type_size);
		if (size_r != NULL)
			*size_r = (uint64_t)sqlite3_column_int64(st, 2);
	}
	store_stmt_done(st);
	return ret;
}

int store_mailbox_has_blob(struct store *s, int64_t mailbox_id, const char *blob_id)
{
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT 1 FROM messages WHERE mailbox_id = ?1"
				      " AND blob_id = ?2 LIMIT 1");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	store_bind_text(st, 2, blob_id);
	int ret = store_row_result(s, sqlite3_step(st));
	store_stmt_done(st);
	return ret;
}

/* --- JSON objects ------------------------------------------------------ */

int store_jmap_object_put(struct store *s, int64_t account_id, enum store_jmap_kind kind,
			  int64_t id, const char *data, int64_t *id_r, const char **error_r)
{
	sqlite3_stmt *st;

	if (store_tx_begin(s, error_r) < 0)
		return -1;
	if (id == 0)
		st = store_stmt(s,
				"INSERT INTO jmap_objects(account_id, kind, data)"
				" VALUES (?1, ?2, ?4) RETURNING id");
	else
		st = store_stmt(s,
				"UPDATE jmap_objects SET data = ?4 WHERE account_id = ?1"
				" AND kind = ?2 AND id = ?3 RETURNING id");
	if (st == NULL) {
		store_tx_rollback(s);
		return store_db_fail(s, error_r);
	}
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	sqlite3_bind_int64(st, 3, id);
	store_bind_text(st, 4, data);
	int rc = sqlite3_step(st);
	int64_t got = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	store_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	if (id_r != NULL)
		*id_r = got;
	return store_tx_commit(s, error_r);
}

int store_jmap_object_list(struct store *s, int64_t account_id, enum store_jmap_kind kind,
			   void (*cb)(void *ctx, int64_t id, const char *data), void *ctx)
{
	struct store_strlist data = {0};
	int64_t *ids = NULL;
	size_t cap = 0;
	int rc;

	sqlite3_stmt *st = store_stmt(s,
				      "SELECT id, data FROM jmap_objects"
				      " WHERE account_id = ? AND kind = ? ORDER BY id");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (data.n == cap) {
			cap = cap ? cap * 2 : 8;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[data.n] = sqlite3_column_int64(st, 0);
		store_strlist_add(&data, (const char *)sqlite3_column_text(st, 1));
	}
	store_stmt_done(st);
	/* The callbacks run after the read, so they may call the store. */
	if (rc == SQLITE_DONE)
		for (size_t i = 0; i < data.n; i++)
			cb(ctx, ids[i], data.v[i]);
	free(ids);
	store_strlist_free(&data);
	return rc == SQLITE_DONE ? 0 : store_db_fail(s, NULL);
}

int store_jmap_object_delete(struct store *s, int64_t account_id, enum store_jmap_kind kind,
			     int64_t id, const char **error_r)
{
	if (store_tx_begin(s, error_r) < 0)
		return -1;
	sqlite3_stmt *st = store_stmt(s,
				      "DELETE FROM jmap_objects WHERE account_id = ?"
				      " AND kind = ? AND id = ?");
	if (st == NULL) {
		store_tx_rollback(s);
		return store_db_fail(s, error_r);
	}
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	sqlite3_bind_int64(st, 3, id);
	int rc = sqlite3_step(st);
	store_stmt_done(st);
	int changed = sqlite3_changes(s->db);
	if (rc != SQLITE_DONE) {
		store_db_fail(s, error_r);
		store_tx_rollback(s);
		return -1;
	}
	if (store_tx_commit(s, error_r) < 0)
		return -1;
	return changed > 0 ? 1 : 0;
}
