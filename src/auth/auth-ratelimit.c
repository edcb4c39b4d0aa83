/* SPDX-License-Identifier: MIT */
/*
 * Per-address authentication failure limiting, shared by every protocol
 * and thread. After max_failures failures within window seconds an address
 * is blocked for window seconds; each further failure doubles the block
 * (capped at an hour), so a guessing client slows down exponentially while
 * a user who mistyped waits a minute. A success forgets the address. The
 * table is bounded: when full, the least recently touched address goes,
 * so a flood of spoofed-looking sources cannot grow memory. Entries expire
 * after twice their current back-off of quiet, so retrying the moment a
 * block ends does not reset the back-off.
 */
#include "auth/auth.h"
#include "lib/util.h"

#include <pthread.h>
#include <string.h>

#define RL_MAX_ENTRIES 65536
#define RL_BUCKETS 16384 /* power of two */
#define RL_MAX_BACKOFF 3600
#define RL_IP_MAX 64

struct rl_entry {
	char ip[RL_IP_MAX];
	unsigned failures;
	int64_t window_start; /* milliseconds, monotonic */
	int64_t last_failure;
	int64_t blocked_until;
	struct rl_entry *hnext;         /* bucket chain */
	struct rl_entry *older, *newer; /* LRU list */
};

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned rl_max_failures = 5;
static unsigned rl_window = 60;
static struct rl_entry *rl_buckets[RL_BUCKETS];
static struct rl_entry *rl_oldest, *rl_newest;
static size_t rl_count;

static unsigned rl_hash(const char *ip)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *ip != '\0'; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h & (RL_BUCKETS - 1);
}

static void lru_unlink(struct rl_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		rl_oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		rl_newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push(struct rl_entry *e)
{
	e->older = rl_newest;
	e->newer = NULL;
	if (rl_newest != NULL)
		rl_newest->newer = e;
	else
		rl_oldest = e;
	rl_newest = e;
}

static struct rl_entry *rl_find(const char *ip, struct rl_entry ***slot_r)
{
	struct rl_entry **slot = &rl_buckets[rl_hash(ip)];
	for (; *slot != NULL; slot = &(*slot)->hnext) {
		if (strcmp((*slot)->ip, ip) == 0)
			break;
	}
	if (slot_r != NULL)
		*slot_r = slot;
	return *slot;
}

static void rl_remove(struct rl_entry *e)
{
	struct rl_entry **slot;
	if (rl_find(e->ip, &slot) != e)
		return;
	*slot = e->hnext;
	lru_unlink(e);
	free(e);
	rl_count--;
}

static void rl_clear(void)
{
	while (rl_oldest != NULL)
		rl_remove(rl_oldest);
}

/* Block length in ms once failures >= max: window doubled per extra failure. */
static int64_t rl_backoff(unsigned failures)
{
	int64_t b = rl_window;
	for (unsigned i = rl_max_failures; i < failures && b < RL_MAX_BACKOFF; i++)
		b *= 2;
	return (b < RL_MAX_BACKOFF ? b : RL_MAX_BACKOFF) * 1000;
}

/* True when e has been quiet long enough to be forgotten. */
static bool rl_expired(const struct rl_entry *e, int64_t now)
{
	return now >= e->blocked_until && now - e->last_failure > 2 * rl_backoff(e->failures);
}

/* The key for ip: truncated like the table stores it. */
static void rl_key(char *key, const char *ip)
{
	size_t n = strnlen(ip, RL_IP_MAX - 1);
	memcpy(key, ip, n);
	key[n] = '\0';
}

void auth_ratelimit_configure(unsigned max_failures, unsigned window_seconds)
{
	pthread_mutex_lock(&rl_lock);
	rl_max_failures = max_failures > 0 ? max_failures : 1;
	rl_window = window_seconds > 0 ? window_seconds : 1;
	/* counts made under the old limits would mean something else now */
	rl_clear();
	pthread_mutex_unlock(&rl_lock);
}

bool auth_ratelimit_blocked(const char *ip)
{
	if (ip == NULL)
		return false;
	char key[RL_IP_MAX];
	rl_key(key, ip);
	pthread_mutex_lock(&rl_lock);
	struct rl_entry *e = rl_find(key, NULL);
	bool blocked =
		e != NULL && e->failures >= rl_max_failures && time_now_ms() < e->blocked_until;
	pthread_mutex_unlock(&rl_lock);
	return blocked;
}

static struct rl_entry *rl_insert(const char *key)
{
	if (rl_count >= RL_MAX_ENTRIES && rl_oldest != NULL)
		rl_remove(rl_oldest);
	struct rl_entry *e = xcalloc(1, sizeof(*e));
	memcpy(e->ip, key, strlen(key) + 1);
	struct rl_entry **slot = &rl_buckets[rl_hash(key)];
	e->hnext = *slot;
	*slot = e;
	lru_push(e);
	rl_count++;
	return e;
}

void auth_ratelimit_failure(const char *ip)
{
	if (ip == NULL)
		return;
	char key[RL_IP_MAX];
	rl_key(key, ip);
	int64_t now = time_now_ms();
	pthread_mutex_lock(&rl_lock);
	struct rl_entry *e = rl_find(key, NULL);
	if (e != NULL && rl_expired(e, now)) {
		rl_remove(e);
		e = NULL;
	}
	if (e == NULL) {
		e = rl_insert(key);
		e->window_start = now;
	} else {
		lru_unlink(e);
		lru_push(e);
	}
	/* below the threshold, only failures within one window add up */
	if (e->failures < rl_max_failures && now - e->window_start >= (int64_t)rl_window * 1000) {
		e->failures = 0;
		e->window_start = now;
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_failure = now;
	if (e->failures >= rl_max_failures)
		e->blocked_until = now + rl_backoff(e->failures);
	pthread_mutex_unlock(&rl_lock);
}

void auth_ratelimit_success(const char *ip)
{
	if (ip == NULL)
		return;
	char key[RL_IP_MAX];
	rl_key(key, ip);
	pthread_mutex_lock(&rl_lock);
	struct rl_entry *e = rl_find(key, NULL);
	if (e != NULL)
		rl_remove(e);
	pthread_mutex_unlock(&rl_lock);
}
