/* SPDX-License-Identifier: MIT */
/*
 * The I/O half of the rspamd client: a pool of rspamd_threads threads
 * (lib/workpool.h) that post messages to rspamd with libcurl's easy
 * interface, each request bounded by rspamd_timeout, and the learning
 * jobs. A thread blocks on its HTTP exchange, which is the point: the
 * worker loops never do. A progress callback makes a request in flight
 * give up at shutdown, so stopping never waits out a slow rspamd.
 */
#include "filter/filter.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/workpool.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Checks that may wait per thread before the fail policy applies. */
#define JOBS_PER_THREAD 64
/* rspamd's replies are small; anything bigger is not one. */
#define REPLY_MAX (1u << 20)
/* A message read back for learning larger than this is skipped. */
#define LEARN_MAX (64u << 20)

struct filter {
	const struct config *cfg;
	atomic_bool stopping;
	struct workpool *pool;
	char *password; /* the controller's, or NULL */
};

struct filter_job {
	struct workpool_job *wj; /* the session's reference */
	struct filter *f;
	char *ip, *helo, *mail_from, *user, *queue_id, *msg;
	char **rcpts;
	size_t n_rcpts, len;
	struct filter_verdict verdict;
};

struct learn_job {
	struct filter *f;
	bool spam;
	int *fds;
	size_t n;
	char what[32];
};

/* --- HTTP ------------------------------------------------------------------------ */

static size_t reply_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n > REPLY_MAX)
		return 0; /* curl fails the transfer */
	buf_append(b, data, n);
	return n;
}

static int progress_check(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	const struct filter *f = arg;
	return atomic_load(&f->stopping) ? 1 : 0;
}

/* Add "Name: value" unless value could end the header early. */
static struct curl_slist *header_add(struct curl_slist *h, const char *name, const char *value)
{
	if (value == NULL || strpbrk(value, "\r\n") != NULL)
		return h;
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(h, line);
	free(line);
	return n ? n : h;
}

/*
 * One exchange: POST body (or GET when body is NULL) to base + path with
 * headers, the reply into reply. 0 on HTTP 200, else -1 with why.
 */
static int http_exchange(struct filter *f, const char *base, const char *path,
			 struct curl_slist *headers, const char *body, size_t len,
			 unsigned timeout_s, struct buf *reply, long *status_r, char *why,
			 size_t whysz)
{
	CURL *c = curl_easy_init();
	if (c == NULL) {
		snprintf(why, whysz, "curl_easy_init failed");
		return -1;
	}
	char *url = xasprintf("%s%s", base, path);
	headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* rspamd is ours: never an http_proxy */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_s * 1000);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_s * 1000);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
	if (f != NULL) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_check);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	*status_r = status;
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	free(url);
	if (rc != CURLE_OK) {
		snprintf(why, whysz, "%s", curl_easy_strerror(rc));
		return -1;
	}
	if (status != 200) {
		snprintf(why, whysz, "HTTP status %ld", status);
		return -1;
	}
	return 0;
}

/* --- checks ---------------------------------------------------------------------- */

static void job_free(void *data)
{
	struct filter_job *job = data;
	free(job->ip);
	free(job->helo);
	free(job->mail_from);
	free(job->user);
	free(job->queue_id);
	free(job->msg);
	for (size_t i = 0; i < job->n_rcpts; i++)
		free(job->rcpts[i]);
	free(job->rcpts);
	free(job);
}

static void job_run(void *thread_state, void *data)
{
	struct filter_job *job = data;
	struct filter *f = job->f;
	struct curl_slist *h = NULL;
	h = header_add(h, "IP", job->ip);
	h = header_add(h, "Helo", job->helo);
	h = header_add(h, "From", job->mail_from);
	h = header_add(h, "Queue-Id", job->queue_id);
	if (job->user != NULL)
		h = header_add(h, "User", job->user);
	for (size_t i = 0; i < job->n_rcpts; i++)
		h = header_add(h, "Rcpt", job->rcpts[i]);
	struct buf reply;
	buf_init(&reply);
	char why[128];
	long status;
	int64_t start = time_now_ms();
	const char *perr = NULL;
	if (http_exchange(f, f->cfg->rspamd_url, "/checkv2", h, job->msg, job->len,
			  f->cfg->rspamd_timeout, &reply, &status, why, sizeof(why)) < 0 ||
	    filter_parse_reply(reply.data ? reply.data : "", reply.len, &job->verdict, &perr) < 0) {
		if (perr != NULL)
			snprintf(why, sizeof(why), "%s", perr);
		filter_verdict_unavailable(f->cfg->rspamd_fail_closed, why, &job->verdict);
		char q_err[LOG_QUOTE_SIZE(sizeof(job->verdict.error))];
		log_warn("rspamd.unavailable", "id=%s error=%s fail=%s", job->queue_id,
			 log_quote(q_err, sizeof(q_err), job->verdict.error),
			 f->cfg->rspamd_fail_closed ? "closed" : "open");
	} else {
		char q_act[LOG_QUOTE_SIZE(sizeof(job->verdict.rspamd_action))];
		log_debug("rspamd.checked", "id=%s action=%s score=%.2f ms=%lld", job->queue_id,
			  log_quote(q_act, sizeof(q_act), job->verdict.rspamd_action),
			  job->verdict.score, (long long)(time_now_ms() - start));
	}
	buf_deinit(&reply);
}

int filter_check_submit(struct filter *f, const struct filter_request *req,
			struct filter_job **job_r)
{
	if (f == NULL)
		return -1;
	struct filter_job *job = xcalloc(1, sizeof(*job));
	job->f = f;
	job->ip = xstrdup(req->ip ? req->ip : "");
	job->helo = xstrdup(req->helo ? req->helo : "");
	job->mail_from = xstrdup(req->mail_from ? req->mail_from : "");
	job->user = req->user ? xstrdup(req->user) : NULL;
	job->queue_id = xstrdup(req->queue_id ? req->queue_id : "");
	job->msg = xmalloc(req->len + 1);
	memcpy(job->msg, req->msg, req->len);
	job->msg[req->len] = '\0';
	job->len = req->len;
	size_t n = req->n_rcpts < FILTER_RCPT_MAX ? req->n_rcpts : FILTER_RCPT_MAX;
	job->rcpts = xcalloc(n ? n : 1, sizeof(*job->rcpts));
	for (size_t i = 0; i < n; i++)
		job->rcpts[job->n_rcpts++] = xstrdup(req->rcpts[i]);
	struct workpool_task task = {
		.key = job->ip,
		.run = job_run,
		.free_data = job_free,
		.data = job,
		.done = req->done,
		.done_arg = req->done_arg,
	};
	if (workpool_submit(f->pool, &task, &job->wj) < 0) {
		job_free(job);
		return -1;
	}
	*job_r = job;
	return 0;
}

const struct filter_verdict *filter_job_verdict(struct filter_job *job)
{
	return workpool_job_done(job->wj) ? &job->verdict : NULL;
}

void filter_job_release(struct filter_job **job)
{
	if (*job == NULL)
		return;
	struct workpool_job *wj = (*job)->wj;
	*job = NULL;
	workpool_job_release(&wj);
}

/* --- learning -------------------------------------------------------------------- */

static void learn_free(void *data)
{
	struct learn_job *job = data;
	for (size_t i = 0; i < job->n; i++)
		if (job->fds[i] >= 0)
			close(job->fds[i]);
	free(job->fds);
	free(job);
}

/* The whole of fd into b; -1 on a read error or past LEARN_MAX. */
static int read_all(int fd, struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || b->len + (size_t)r > LEARN_MAX)
			return -1;
		if (r == 0)
			return 0;
		buf_append(b, chunk, (size_t)r);
	}
}

static void learn_run(void *thread_state, void *data)
{
	struct learn_job *job = data;
	struct filter *f = job->f;
	const char *path = job->spam ? "/learnspam" : "/learnham";
	size_t ok = 0, failed = 0;
	for (size_t i = 0; i < job->n && !atomic_load(&f->stopping); i++) {
		struct buf msg, reply;
		buf_init(&msg);
		buf_init(&reply);
		char why[128] = "read failed";
		long status = 0;
		struct curl_slist *h = NULL;
		if (f->password != NULL)
			h = header_add(h, "Password", f->password);
		int r = read_all(job->fds[i], &msg);
		if (r == 0)
			r = http_exchange(f, f->cfg->rspamd_controller_url, path, h,
					  msg.data ? msg.data : "", msg.len, f->cfg->rspamd_timeout,
					  &reply, &status, why, sizeof(why));
		else
			curl_slist_free_all(h);
		/* 208: rspamd learned this message before; nothing is wrong. */
		if (r == 0 || status == 208) {
			ok++;
		} else {
			failed++;
			char q[LOG_QUOTE_SIZE(200)];
			char q_why[LOG_QUOTE_SIZE(sizeof(why))];
			log_warn("rspamd.learn_failed", "via=%s class=%s error=%s reply=%s",
				 job->what, job->spam ? "spam" : "ham",
				 log_quote(q_why, sizeof(q_why), why),
				 log_quote_n(q, sizeof(q), reply.data ? reply.data : "",
					     reply.len < 200 ? reply.len : 200));
		}
		buf_deinit(&msg);
		buf_deinit(&reply);
	}
	log_info("rspamd.learned", "via=%s class=%s messages=%zu failed=%zu", job->what,
		 job->spam ? "spam" : "ham", ok, failed);
}

bool filter_learns(const struct filter *f)
{
	return f != NULL && f->cfg->rspamd_controller_url[0] != '\0';
}

void filter_learn(struct filter *f, bool spam, int *fds, size_t n, const char *what)
{
	struct learn_job *job = xcalloc(1, sizeof(*job));
	job->f = f;
	job->spam = spam;
	job->fds = xcalloc(n ? n : 1, sizeof(*job->fds));
	memcpy(job->fds, fds, n * sizeof(*fds));
	job->n = n;
	snprintf(job->what, sizeof(job->what), "%s", what);
	if (!filter_learns(f) || n == 0) {
		learn_free(job);
		return;
	}
	struct workpool_task task = {.run = learn_run, .free_data = learn_free, .data = job};
	struct workpool_job *wj = NULL;
	if (workpool_submit(f->pool, &task, &wj) < 0) {
		log_warn("rspamd.learn_failed", "via=%s class=%s error=busy messages=%zu", what,
			 spam ? "spam" : "ham", n);
		learn_free(job);
		return;
	}
	workpool_job_release(&wj); /* fire and forget: the pool holds its reference */
}

/* --- the handle -------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The first line of path, or NULL with *error_r. */
static char *read_password(const char *path, char **error_r)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		*error_r = xasprintf("rspamd_password_file %s: %s", path, strerror(errno));
		return NULL;
	}
	char line[512] = "";
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	char *pw = xstrdup(line);
	explicit_bzero(line, sizeof(line));
	return pw;
}

bool filter_fail_closed(const struct filter *f)
{
	return f->cfg->rspamd_fail_closed;
}

int filter_create(const struct config *cfg, struct filter **f_r, char **error_r)
{
	*f_r = NULL;
	if (cfg->rspamd_url[0] == '\0')
		return 0;
	pthread_once(&curl_once, curl_init_once);
	struct filter *f = xcalloc(1, sizeof(*f));
	f->cfg = cfg;
	atomic_init(&f->stopping, false);
	if (cfg->rspamd_password_file[0] != '\0' &&
	    (f->password = read_password(cfg->rspamd_password_file, error_r)) == NULL) {
		free(f);
		return -1;
	}
	struct workpool_settings ws = {
		.name = "rspamd",
		.threads = cfg->rspamd_threads,
		.max_queued = (size_t)cfg->rspamd_threads * JOBS_PER_THREAD,
		.max_running_per_key = cfg->rspamd_threads > 1 ? cfg->rspamd_threads / 2 : 1,
	};
	if (workpool_create(&ws, &f->pool, error_r) < 0) {
		free(f->password);
		free(f);
		return -1;
	}
	*f_r = f;
	return 0;
}

void filter_destroy(struct filter **fp)
{
	struct filter *f = *fp;
	if (f == NULL)
		return;
	*fp = NULL;
	atomic_store(&f->stopping, true);
	workpool_destroy(&f->pool);
	if (f->password != NULL) {
		explicit_bzero(f->password, strlen(f->password));
		free(f->password);
	}
	free(f);
}

int filter_ping(const char *url, unsigned timeout_s, char **error_r)
{
	pthread_once(&curl_once, curl_init_once);
	struct buf reply;
	buf_init(&reply);
	char why[128];
	long status;
	int r = http_exchange(NULL, url, "/ping", NULL, NULL, 0, timeout_s, &reply, &status, why,
			      sizeof(why));
	if (r == 0 && (reply.len < 4 || memcmp(reply.data, "pong", 4) != 0)) {
		snprintf(why, sizeof(why), "unexpected reply to /ping");
		r = -1;
	}
	buf_deinit(&reply);
	if (r < 0) {
		*error_r = xasprintf("%s", why);
		return -1;
	}
	return 1;
}
