/* SPDX-License-Identifier: MIT */
/*
 * Quota numbers the IMAP QUOTA extension (RFC 9208) needs beyond what the
 * account row already carries (quota_bytes, used_bytes): the bytes that an
 * EXPUNGE of a mailbox would give back, for STATUS DELETED-STORAGE. One
 * aggregate over the mailbox's rows, read in one snapshot like the other
 * STATUS numbers; nothing here writes.
 */
#include "store/store-private.h"

int store_mailbox_deleted_size(struct store *s, int64_t mailbox_id, uint64_t *bytes_r)
{
	*bytes_r = 0;
	/* The outer row tells "no such mailbox" apart from "nothing deleted". */
	sqlite3_stmt *st = store_stmt(s,
				      "SELECT (SELECT COALESCE(SUM(m.size), 0) FROM messages m"
				      "  WHERE m.mailbox_id = b.id AND (m.flags & 8) <> 0)"
				      " FROM mailboxes b WHERE b.id = ?");
	if (st == NULL)
		return store_db_fail(s, NULL);
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		*bytes_r = v > 0 ? (uint64_t)v : 0;
	}
	store_stmt_done(st);
	return store_row_result(s, rc);
}
