/* SPDX-License-Identifier: MIT */
/*
 * Uploads nothing refers to expire (RFC 8620 6.1: the server keeps an
 * unreferenced upload at least an hour). A background thread with its own
 * store handle wakes every jmap_upload_ttl / 4 (at most ten minutes),
 * forgets the uploads older than jmap_upload_ttl in batches and deletes
 * their blobs where no message, queued mail or newer upload uses them; the
 * event loops never wait for it. A message made from an upload (Email/set,
 * Email/import) references its own blob, so it keeps what it needs.
 */
#include "jmap/jmap.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define EXPIRE_BATCH 500
#define EXPIRE_PERIOD_MAX 600 /* seconds between sweeps, at most */

struct jmap_expirer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	unsigned ttl;
	struct store *store;
};

int jmap_uploads_sweep(struct store *s, int64_t now, unsigned ttl, unsigned *n_r,
		       const char **error_r)
{
	*n_r = 0;
	for (;;) {
		unsigned n;
		if (store_jmap_uploads_expire(s, now - (int64_t)ttl, EXPIRE_BATCH, &n, error_r) < 0)
			return -1;
		*n_r += n;
		if (n < EXPIRE_BATCH)
			return 0;
	}
}

static void *expirer_main(void *arg)
{
	struct jmap_expirer *e = arg;
	unsigned period = e->ttl / 4 < EXPIRE_PERIOD_MAX ? e->ttl / 4 : EXPIRE_PERIOD_MAX;
	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		pthread_mutex_unlock(&e->lock);
		unsigned n;
		const char *error;
		if (jmap_uploads_sweep(e->store, (int64_t)time(NULL), e->ttl, &n, &error) < 0)
			log_warn("jmap.upload_expire", "error=\"%s\"", error);
		else if (n > 0)
			log_info("jmap.upload_expire", "uploads=%u", n);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += period;
		pthread_mutex_lock(&e->lock);
		while (!e->stop && pthread_cond_timedwait(&e->cond, &e->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int jmap_expirer_start(const struct config *cfg, struct jmap_expirer **e_r, const char **error_r)
{
	struct jmap_expirer *e = xcalloc(1, sizeof(*e));
	e->ttl = cfg->jmap_upload_ttl;
	if (store_open(cfg->data_dir, &e->store, error_r) < 0) {
		free(e);
		return -1;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	if (pthread_create(&e->thread, NULL, expirer_main, e) != 0) {
		*error_r = "cannot start the upload expiry thread";
		store_close(&e->store);
		free(e);
		return -1;
	}
	*e_r = e;
	return 0;
}

void jmap_expirer_stop(struct jmap_expirer **ep)
{
	struct jmap_expirer *e = *ep;
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->thread, NULL);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	store_close(&e->store);
	free(e);
	*ep = NULL;
}
