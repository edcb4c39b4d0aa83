/* SPDX-License-Identifier: MIT */
/*
 * The backfill thread of the full-text index (search.h): it takes up to
 * SEARCH_BACKFILL_BATCH pending blobs, computes their text with
 * mime_text_extract (the function deliveries use, so the documents are the
 * same), writes them in one transaction, and sleeps when nothing is left,
 * looking again every few seconds (a blob stored without its text later).
 */
#include "search/search.h"

#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEARCH_BACKFILL_BATCH 32
#define SEARCH_BACKFILL_IDLE_MS 5000

struct search_backfill {
	struct store *store;
	pthread_t thread;
	atomic_bool stop;
};

void search_blob_text(struct store *s, const char *id, struct store_search_doc *d)
{
	struct mime_text t = {0};
	int fd = store_blob_open(s, id);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			mime_text_extract(m, (size_t)st.st_size, &t);
			munmap(m, (size_t)st.st_size);
		}
	}
	if (fd >= 0)
		close(fd);
	if (t.hdr == NULL)
		mime_text_extract("", 0, &t);
	free(t.preview); /* the index holds the search texts only */
	*d = (struct store_search_doc){t.hdr, t.body, t.parts, t.hdr_len, t.body_len, t.parts_len};
}

/* One batch: 1 done some, 0 nothing pending, -1 error. */
static int backfill_batch(struct store *s, size_t *done_r)
{
	char(*ids)[STORE_BLOB_ID_LEN + 1] = NULL;
	size_t n = 0;
	if (store_search_pending_list(s, SEARCH_BACKFILL_BATCH, &ids, &n) < 0)
		return -1;
	if (n == 0) {
		free(ids);
		return 0;
	}
	struct store_search_doc *docs = xcalloc(n, sizeof(*docs));
	const char **names = xcalloc(n, sizeof(*names));
	for (size_t i = 0; i < n; i++) {
		names[i] = ids[i];
		search_blob_text(s, ids[i], &docs[i]);
	}
	const char *error;
	int r = store_search_index_batch(s, docs, names, n, &error);
	if (r < 0)
		log_warn("search.backfill_failed", "error=%s", error);
	for (size_t i = 0; i < n; i++)
		store_search_doc_free(&docs[i]);
	free(docs);
	free(names);
	free(ids);
	*done_r += r == 0 ? n : 0;
	return r < 0 ? -1 : 1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *backfill_main(void *arg)
{
	struct search_backfill *b = arg;
	size_t done = 0;
	while (!atomic_load(&b->stop)) {
		int r = backfill_batch(b->store, &done);
		if (r > 0)
			continue;
		if (done > 0)
			log_info("search.backfilled", "documents=%zu", done);
		done = 0;
		/* Idle (or failing): look again later, stopping promptly. */
		for (unsigned t = 0; t < SEARCH_BACKFILL_IDLE_MS && !atomic_load(&b->stop);
		     t += 100)
			sleep_ms(100);
	}
	return NULL;
}

int search_backfill_start(const char *dir, struct search_backfill **b_r, const char **error_r)
{
	struct search_backfill *b = xcalloc(1, sizeof(*b));
	atomic_init(&b->stop, false);
	if (store_open(dir, &b->store, error_r) < 0) {
		free(b);
		return -1;
	}
	if (pthread_create(&b->thread, NULL, backfill_main, b) != 0) {
		store_close(&b->store);
		free(b);
		*error_r = "cannot start the search backfill thread";
		return -1;
	}
	*b_r = b;
	return 0;
}

void search_backfill_stop(struct search_backfill **bp)
{
	struct search_backfill *b = *bp;
	if (b == NULL)
		return;
	atomic_store(&b->stop, true);
	pthread_join(b->thread, NULL);
	store_close(&b->store);
	free(b);
	*bp = NULL;
}
