/* SPDX-License-Identifier: MIT */
/*
 * A fixed pool of threads for work that must never run inside a worker
 * loop: DNS for mail authentication, argon2id password checks. A worker
 * submits a job and its session waits with CONN_WAIT; the job's done
 * callback (typically server_ctx_wake) makes the worker resume it at once.
 * A job is reference-counted (the pool holds one reference, the submitter
 * another), so either side may go first: a connection that closes
 * mid-job just releases its reference and the job still runs to its end.
 *
 * Fairness: a job may carry a key (a client address, say). At most
 * max_running_per_key jobs of one key run at a time; the threads take the
 * oldest job whose key is under that cap, so one key with a long queue
 * cannot make everyone else wait behind it.
 */
#ifndef FACTEUR_LIB_WORKPOOL_H
#define FACTEUR_LIB_WORKPOOL_H

#include <stdbool.h>
#include <stddef.h>

#define WORKPOOL_KEY_MAX 64

struct workpool;
struct workpool_job;

struct workpool_settings {
	const char *name;             /* for log lines */
	unsigned threads;             /* at least 1 */
	size_t max_queued;            /* jobs waiting beyond this are refused */
	unsigned max_running_per_key; /* 0: no cap */
	int nice;                     /* added to the threads' nice value (0: none) */
	/*
	 * Optional: state for thread index i (its own resolver, say), made
	 * before the thread starts; 0, or -1 with a malloc'd *error_r.
	 * thread_deinit (optional) releases it after the thread has ended.
	 */
	int (*thread_init)(void *arg, unsigned i, void **state_r, char **error_r);
	void (*thread_deinit)(void *arg, void *state);
	void *arg;
};

/* One unit of work as submitted. */
struct workpool_task {
	const char *key; /* fairness key (copied, truncated), NULL: none */
	/* Runs in a pool thread with that thread's state. */
	void (*run)(void *thread_state, void *data);
	/* Releases data once the last reference is gone (optional). */
	void (*free_data)(void *data);
	void *data;
	/* Optional: called in the pool thread after run (e.g. to wake a loop). */
	void (*done)(void *arg);
	void *done_arg;
};

/* Start the threads. 0, or -1 with a malloc'd *error_r (nothing started). */
int workpool_create(const struct workpool_settings *settings, struct workpool **pool_r,
		    char **error_r);
/*
 * Stop and join the threads. Jobs still queued never run: the pool drops
 * its reference, and a submitter still holding one sees them not done.
 */
void workpool_destroy(struct workpool **pool);

/*
 * Queue a job. Returns 0 with the submitter's reference in *job_r, or -1
 * when the queue is full or the pool is stopping; task->data then still
 * belongs to the caller.
 */
int workpool_submit(struct workpool *pool, const struct workpool_task *task,
		    struct workpool_job **job_r);
/* Has run finished? (Its writes to data are then visible.) */
bool workpool_job_done(const struct workpool_job *job);
void *workpool_job_data(const struct workpool_job *job);
/* Drop the submitter's reference; NULLs *job. */
void workpool_job_release(struct workpool_job **job);

/* Jobs of key running right now (tests, stats). */
unsigned workpool_running(struct workpool *pool, const char *key);
/* The most jobs ever seen running at once: in all, and of one key. */
void workpool_peaks(struct workpool *pool, unsigned *total_r, unsigned *per_key_r);

#endif
