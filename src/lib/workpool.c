/* SPDX-License-Identifier: MIT */
/*
 * The thread pool behind mail authentication and password checks (see
 * workpool.h). One mutex guards the queue, a singly linked list in
 * submission order, and the threads' "running" slots. A thread takes the
 * oldest job whose key is under max_running_per_key; both scans are
 * linear, which is fine for a queue bounded to a few thousand jobs and a
 * handful of threads, and keeps the code obviously right.
 */
#include "lib/workpool.h"

#include "lib/log.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct workpool_job {
	struct workpool_job *next;
	atomic_int refs;
	atomic_bool done;
	char key[WORKPOOL_KEY_MAX]; /* "" when none */
	struct workpool_task task;
};

struct pool_thread {
	struct workpool *pool;
	pthread_t thread;
	void *state;
	bool started;
	struct workpool_job *running; /* under the lock */
};

struct workpool {
	struct workpool_settings set;
	char name[32];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct workpool_job *head, *tail;
	size_t queued;
	struct pool_thread *threads;
	unsigned n_threads;
	unsigned peak_total, peak_key;
};

static void job_unref(struct workpool_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1)
		return;
	if (job->task.free_data != NULL)
		job->task.free_data(job->task.data);
	free(job);
}

void workpool_job_release(struct workpool_job **job)
{
	if (*job == NULL)
		return;
	job_unref(*job);
	*job = NULL;
}

bool workpool_job_done(const struct workpool_job *job)
{
	return atomic_load_explicit(&job->done, memory_order_acquire);
}

void *workpool_job_data(const struct workpool_job *job)
{
	return job->task.data;
}

/* Jobs of key running now (lock held). */
static unsigned running_with_key(const struct workpool *p, const char *key)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->n_threads; i++)
		if (p->threads[i].running != NULL && strcmp(p->threads[i].running->key, key) == 0)
			n++;
	return n;
}

static unsigned running_total(const struct workpool *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->n_threads; i++)
		n += p->threads[i].running != NULL;
	return n;
}

/* Unlink and return the oldest job allowed to run now, or NULL (lock held). */
static struct workpool_job *take_runnable(struct workpool *p)
{
	struct workpool_job *prev = NULL;
	for (struct workpool_job *j = p->head; j != NULL; prev = j, j = j->next) {
		if (p->set.max_running_per_key > 0 && j->key[0] != '\0' &&
		    running_with_key(p, j->key) >= p->set.max_running_per_key)
			continue;
		if (prev != NULL)
			prev->next = j->next;
		else
			p->head = j->next;
		if (p->tail == j)
			p->tail = prev;
		j->next = NULL;
		p->queued--;
		return j;
	}
	return NULL;
}

static void *pool_main(void *arg)
{
	struct pool_thread *t = arg;
	struct workpool *p = t->pool;
	if (p->set.nice != 0) {
		/* Linux: a thread's nice value is its own (setpriority on its tid). */
		pid_t tid = (pid_t)syscall(SYS_gettid);
		(void)setpriority(PRIO_PROCESS, (id_t)tid, p->set.nice);
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct workpool_job *job = NULL;
		while (!p->stopping && (job = take_runnable(p)) == NULL)
			pthread_cond_wait(&p->cond, &p->lock);
		if (job == NULL)
			break; /* stopping */
		t->running = job;
		unsigned total = running_total(p), same = running_with_key(p, job->key);
		if (total > p->peak_total)
			p->peak_total = total;
		if (job->key[0] != '\0' && same > p->peak_key)
			p->peak_key = same;
		pthread_mutex_unlock(&p->lock);

		job->task.run(t->state, job->task.data);
		atomic_store_explicit(&job->done, true, memory_order_release);
		if (job->task.done != NULL)
			job->task.done(job->task.done_arg);

		pthread_mutex_lock(&p->lock);
		t->running = NULL;
		/* A job held back by its key's cap may run now. */
		if (p->head != NULL)
			pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		job_unref(job);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int workpool_submit(struct workpool *p, const struct workpool_task *task,
		    struct workpool_job **job_r)
{
	if (p == NULL || task->run == NULL)
		return -1;
	struct workpool_job *job = xcalloc(1, sizeof(*job));
	atomic_init(&job->refs, 2);
	atomic_init(&job->done, false);
	job->task = *task;
	if (task->key != NULL)
		snprintf(job->key, sizeof(job->key), "%s", task->key);
	pthread_mutex_lock(&p->lock);
	if (p->stopping || p->queued >= p->set.max_queued) {
		pthread_mutex_unlock(&p->lock);
		free(job);
		return -1;
	}
	if (p->tail != NULL)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	p->queued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	*job_r = job;
	return 0;
}

unsigned workpool_running(struct workpool *p, const char *key)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = running_with_key(p, key);
	pthread_mutex_unlock(&p->lock);
	return n;
}

void workpool_peaks(struct workpool *p, unsigned *total_r, unsigned *per_key_r)
{
	pthread_mutex_lock(&p->lock);
	*total_r = p->peak_total;
	*per_key_r = p->peak_key;
	pthread_mutex_unlock(&p->lock);
}

int workpool_create(const struct workpool_settings *settings, struct workpool **pool_r,
		    char **error_r)
{
	struct workpool *p = xcalloc(1, sizeof(*p));
	p->set = *settings;
	snprintf(p->name, sizeof(p->name), "%s", settings->name ? settings->name : "pool");
	p->set.name = p->name;
	if (p->set.threads == 0)
		p->set.threads = 1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->threads = xcalloc(p->set.threads, sizeof(*p->threads));
	*pool_r = p;
	for (unsigned i = 0; i < p->set.threads; i++) {
		struct pool_thread *t = &p->threads[i];
		t->pool = p;
		p->n_threads++;
		if (p->set.thread_init != NULL &&
		    p->set.thread_init(p->set.arg, i, &t->state, error_r) < 0) {
			workpool_destroy(pool_r);
			return -1;
		}
		if (pthread_create(&t->thread, NULL, pool_main, t) != 0) {
			*error_r = xasprintf("%s: cannot start a thread", p->name);
			workpool_destroy(pool_r);
			return -1;
		}
		t->started = true;
	}
	log_debug("workpool.started", "pool=%s threads=%u", p->name, p->n_threads);
	return 0;
}

void workpool_destroy(struct workpool **pp)
{
	struct workpool *p = *pp;
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++) {
		struct pool_thread *t = &p->threads[i];
		if (t->started)
			pthread_join(t->thread, NULL);
		if (p->set.thread_deinit != NULL && t->state != NULL)
			p->set.thread_deinit(p->set.arg, t->state);
	}
	free(p->threads);
	/* Jobs nobody ran: drop the pool's reference; submitters hold theirs. */
	while (p->head != NULL) {
		struct workpool_job *job = p->head;
		p->head = job->next;
		job_unref(job);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	*pp = NULL;
}
