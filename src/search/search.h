/* SPDX-License-Identifier: MIT */
/*
 * The full-text index backfill: a thread with its own store handle that
 * indexes the blobs the store lists in search_pending (what existed before
 * schema step 6, or was stored without its text), a small batch per
 * transaction, so that no event loop ever does that work and searches soon
 * stop computing those messages' text on the fly. Above mime/ and store/.
 */
#ifndef FACTEUR_SEARCH_H
#define FACTEUR_SEARCH_H

struct search_backfill;
struct store;
struct store_search_doc;

/*
 * The searchable text of one blob, computed from the message with
 * mime_text_extract (as deliveries do), for a blob without its document:
 * empty texts when it cannot be read. Free with store_search_doc_free.
 */
void search_blob_text(struct store *s, const char *blob_id, struct store_search_doc *d);

/*
 * Start the thread on the store in dir. Returns 0, or -1 with *error_r
 * (the store could not be opened).
 */
int search_backfill_start(const char *dir, struct search_backfill **b_r, const char **error_r);
/* Stop and join the thread (NULL is fine); *b becomes NULL. */
void search_backfill_stop(struct search_backfill **b);

#endif
