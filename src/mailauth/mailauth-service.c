/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of mail authentication. Verification involves DNS,
 * which must never block a worker loop, so it runs in a small fixed pool
 * of threads (mailauth_threads, a lib/workpool.h pool), each with its own
 * libunbound context; a worker submits a job and its SMTP session waits
 * with CONN_WAIT until the job's done callback wakes its loop. A job is
 * reference-counted (the pool holds one reference, the session another),
 * so either side may go first: a connection that closes mid-verification
 * just drops its reference. Each
 * job has a deadline (mailauth_timeout): past it every DNS answer is a
 * temporary error, so the job ends soon after and the message is
 * delivered with temperror results, never refused for our slowness.
 * Signing is CPU only and runs in the worker; its keys are read from
 * data_dir/dkim at signing time and cached while the files' mtimes hold.
 */
#include "mailauth/mailauth.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Jobs that may wait per verification thread before 451 is the answer. */
#define JOBS_PER_THREAD 64
/* Domains whose keys are cached. */
#define KEY_CACHE_MAX 256
/* A key file larger than this is not a key. */
#define KEY_FILE_MAX 65536

/* One verification: the data of a workpool job. */
struct mailauth_job {
	struct workpool_job *wj; /* the session's reference */
	char *ip, *helo, *mail_from, *msg;
	size_t len;
	int64_t deadline_ms;
	struct mailauth_result result;
};

struct cached_key {
	bool present;
	struct timespec mtime;
	ino_t ino;
	char *pem;
};

struct key_cache_entry {
	char domain[254];
	struct timespec active_mtime;
	ino_t active_ino;
	char selector[64];
	struct cached_key keys[2]; /* by enum mailauth_dkim_alg */
};

struct mailauth {
	const struct config *cfg;
	atomic_bool stopping;  /* makes every resolver give up at shutdown */
	struct workpool *pool; /* NULL when verification is off */

	pthread_mutex_t keys_lock;
	struct key_cache_entry *cache;
	size_t n_cache;
};

/* --- jobs ---------------------------------------------------------------------- */

static void job_free(void *data)
{
	struct mailauth_job *job = data;
	free(job->ip);
	free(job->helo);
	free(job->mail_from);
	free(job->msg);
	free(job);
}

void mailauth_job_release(struct mailauth_job **job)
{
	if (*job == NULL)
		return;
	struct workpool_job *wj = (*job)->wj;
	*job = NULL;
	workpool_job_release(&wj);
}

const struct mailauth_result *mailauth_job_result(struct mailauth_job *job)
{
	return workpool_job_done(job->wj) ? &job->result : NULL;
}

/* In a pool thread, with that thread's resolver. */
static void job_run(void *thread_state, void *data)
{
	struct mailauth_resolver *resolver = thread_state;
	struct mailauth_job *job = data;
	struct mailauth_dns dns;
	struct mailauth_request req = {
		.ip = job->ip,
		.helo = job->helo,
		.mail_from = job->mail_from,
		.msg = job->msg,
		.len = job->len,
	};
	mailauth_resolver_set_deadline(resolver, job->deadline_ms);
	mailauth_resolver_dns(resolver, &dns);
	int64_t start = time_now_ms();
	mailauth_verify_message(&dns, &req, &job->result);
	log_debug("mailauth.verified", "spf=%s dmarc=%s ms=%lld",
		  mailauth_spf_name(job->result.spf), mailauth_dmarc_name(job->result.dmarc.result),
		  (long long)(time_now_ms() - start));
}

int mailauth_job_submit(struct mailauth *ma, const struct mailauth_request *req,
			struct mailauth_job **job_r)
{
	if (ma == NULL || ma->pool == NULL)
		return -1;
	struct mailauth_job *job = xcalloc(1, sizeof(*job));
	job->ip = xstrdup(req->ip ? req->ip : "");
	job->helo = xstrdup(req->helo ? req->helo : "");
	job->mail_from = xstrdup(req->mail_from ? req->mail_from : "");
	job->msg = xmalloc(req->len + 1);
	memcpy(job->msg, req->msg, req->len);
	job->msg[req->len] = '\0';
	job->len = req->len;
	job->deadline_ms = time_now_ms() + (int64_t)ma->cfg->mailauth_timeout * 1000;
	struct workpool_task task = {
		.run = job_run,
		.free_data = job_free,
		.data = job,
		.done = req->done,
		.done_arg = req->done_arg,
	};
	if (workpool_submit(ma->pool, &task, &job->wj) < 0) {
		job_free(job);
		return -1;
	}
	*job_r = job;
	return 0;
}

/* --- the handle ------------------------------------------------------------------ */

static int resolver_init(void *arg, unsigned i, void **state_r, char **error_r)
{
	struct mailauth *ma = arg;
	struct mailauth_resolver *r = NULL;
	if (mailauth_resolver_create(ma->cfg->dns_forward, &ma->stopping, &r, error_r) < 0)
		return -1;
	*state_r = r;
	return 0;
}

static void resolver_deinit(void *arg, void *state)
{
	struct mailauth_resolver *r = state;
	mailauth_resolver_destroy(&r);
}

int mailauth_create(const struct config *cfg, struct mailauth **ma_r, char **error_r)
{
	struct mailauth *ma = xcalloc(1, sizeof(*ma));
	ma->cfg = cfg;
	atomic_init(&ma->stopping, false);
	pthread_mutex_init(&ma->keys_lock, NULL);
	*ma_r = ma;
	if (!cfg->mailauth_verify)
		return 0;
	unsigned n = cfg->mailauth_threads > 0 ? cfg->mailauth_threads : 1;
	struct workpool_settings ws = {
		.name = "mailauth",
		.threads = n,
		.max_queued = (size_t)n * JOBS_PER_THREAD,
		.thread_init = resolver_init,
		.thread_deinit = resolver_deinit,
		.arg = ma,
	};
	if (workpool_create(&ws, &ma->pool, error_r) < 0) {
		mailauth_destroy(ma_r);
		return -1;
	}
	return 0;
}

void mailauth_destroy(struct mailauth **map)
{
	struct mailauth *ma = *map;
	if (ma == NULL)
		return;
	atomic_store(&ma->stopping, true);
	workpool_destroy(&ma->pool);
	for (size_t i = 0; i < ma->n_cache; i++)
		for (int k = 0; k < 2; k++)
			if (ma->cache[i].keys[k].pem != NULL) {
				explicit_bzero(ma->cache[i].keys[k].pem,
					       strlen(ma->cache[i].keys[k].pem));
				free(ma->cache[i].keys[k].pem);
			}
	free(ma->cache);
	pthread_mutex_destroy(&ma->keys_lock);
	free(ma);
	*map = NULL;
}

/* --- signing ---------------------------------------------------------------------- */

static bool same_file(const struct stat *st, const struct timespec *mtime, ino_t ino)
{
	return st->st_mtim.tv_sec == mtime->tv_sec && st->st_mtim.tv_nsec == mtime->tv_nsec &&
		st->st_ino == ino;
}

static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	char *data = xmalloc(KEY_FILE_MAX + 1);
	size_t n = fread(data, 1, KEY_FILE_MAX, f);
	fclose(f);
	if (n == 0 || n == KEY_FILE_MAX) {
		free(data);
		return NULL;
	}
	data[n] = '\0';
	return data;
}

static void cached_key_clear(struct cached_key *k)
{
	if (k->pem != NULL) {
		explicit_bzero(k->pem, strlen(k->pem));
		free(k->pem);
	}
	memset(k, 0, sizeof(*k));
}

static struct key_cache_entry *cache_entry(struct mailauth *ma, const char *domain)
{
	for (size_t i = 0; i < ma->n_cache; i++)
		if (strcmp(ma->cache[i].domain, domain) == 0)
			return &ma->cache[i];
	if (ma->n_cache == KEY_CACHE_MAX)
		return NULL;
	ma->cache = xrealloc(ma->cache, (ma->n_cache + 1) * sizeof(*ma->cache));
	struct key_cache_entry *e = &ma->cache[ma->n_cache++];
	memset(e, 0, sizeof(*e));
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	return e;
}

/* Refresh e from the files (keys_lock held); copies of the PEMs into pems. */
static void cache_refresh(struct mailauth *ma, struct key_cache_entry *e, const struct stat *active,
			  char *pems[2])
{
	const char *dir = ma->cfg->data_dir;
	if (!same_file(active, &e->active_mtime, e->active_ino) || e->selector[0] == '\0') {
		for (int k = 0; k < 2; k++)
			cached_key_clear(&e->keys[k]);
		if (mailauth_keys_active(dir, e->domain, e->selector, sizeof(e->selector)) <= 0)
			e->selector[0] = '\0';
		e->active_mtime = active->st_mtim;
		e->active_ino = active->st_ino;
	}
	for (int k = 0; k < 2 && e->selector[0] != '\0'; k++) {
		char *path = xasprintf("%s/dkim/%s/%s.%s.pem", dir, e->domain, e->selector,
				       k == MAILAUTH_DKIM_RSA ? "rsa" : "ed25519");
		struct stat st;
		struct cached_key *ck = &e->keys[k];
		if (stat(path, &st) < 0) {
			cached_key_clear(ck);
		} else if (!ck->present || !same_file(&st, &ck->mtime, ck->ino)) {
			cached_key_clear(ck);
			ck->pem = read_small_file(path);
			ck->present = ck->pem != NULL;
			ck->mtime = st.st_mtim;
			ck->ino = st.st_ino;
		}
		free(path);
		pems[k] = ck->present ? xstrdup(ck->pem) : NULL;
	}
}

int mailauth_sign(struct mailauth *ma, const char *domain, const char *msg, size_t len,
		  struct buf *out)
{
	char d[254];
	if (ma == NULL || !ma->cfg->dkim_sign || !mailauth_name_valid(domain) ||
	    strlen(domain) >= sizeof(d))
		return 0;
	snprintf(d, sizeof(d), "%s", domain);
	str_lower(d);
	char *path = xasprintf("%s/dkim/%s/active", ma->cfg->data_dir, d);
	struct stat active;
	int r = stat(path, &active);
	free(path);
	if (r < 0)
		return 0;
	char *pems[2] = {NULL, NULL};
	char selector[64] = "";
	pthread_mutex_lock(&ma->keys_lock);
	struct key_cache_entry *e = cache_entry(ma, d);
	if (e != NULL) {
		cache_refresh(ma, e, &active, pems);
		snprintf(selector, sizeof(selector), "%s", e->selector);
	}
	pthread_mutex_unlock(&ma->keys_lock);
	int n = 0;
	for (int k = 0; k < 2; k++) {
		if (pems[k] == NULL)
			continue;
		const char *error = NULL;
		char sel[128];
		mailauth_dns_selector(selector, (enum mailauth_dkim_alg)k, sel, sizeof(sel));
		if (n >= 0 &&
		    mailauth_dkim_sign(msg, len, d, sel, (enum mailauth_dkim_alg)k, pems[k], out,
				       &error) == 0) {
			n++;
		} else if (n >= 0) {
			log_error("dkim.sign", "domain=%s selector=%s alg=%s error=\"%s\"", d,
				  selector, k == MAILAUTH_DKIM_RSA ? "rsa" : "ed25519",
				  error ? error : "?");
			n = -1;
		}
		explicit_bzero(pems[k], strlen(pems[k]));
		free(pems[k]);
	}
	return n;
}
