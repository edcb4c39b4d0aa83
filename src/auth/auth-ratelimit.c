/* SPDX-License-Identifier: MIT */
/*
 * Authentication failure limiting, shared by every protocol and thread, in
 * two tables of the same kind: per client address (IPv6 counted per /64,
 * see addr_limit_key) and per account (failures to one address from many
 * clients, a distributed guess). After max_failures failures within window
 * seconds a key is blocked for window seconds; each further failure
 * doubles the block (capped at an hour), so a guessing client slows down
 * exponentially while a user who mistyped waits a minute. A success
 * forgets the client address, not the account: otherwise the owner's mail
 * client, logging in every few minutes, would hand the guessers a fresh
 * allowance each time. The account's default threshold is higher, so its
 * owner mistyping trips the address limit long before it. Each table is
 * bounded: when full, the least recently touched key goes, so a flood of
 * sources or names cannot grow memory. Entries expire after twice their
 * current back-off of quiet, so retrying the moment a block ends does not
 * reset the back-off.
 */
#include "auth/auth.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define RL_MAX_ENTRIES 65536
#define RL_BUCKETS 16384 /* power of two */
#define RL_MAX_BACKOFF 3600
#define RL_KEY_MAX 320 /* an account address; client keys are shorter */

struct rl_entry {
	unsigned failures;
	int64_t window_start; /* milliseconds, monotonic */
	int64_t last_failure;
	int64_t blocked_until;
	struct rl_entry *hnext;         /* bucket chain */
	struct rl_entry *older, *newer; /* LRU list */
	char key[];
};

struct rl_table {
	pthread_mutex_t lock;
	unsigned max_failures;
	unsigned window;
	struct rl_entry *buckets[RL_BUCKETS];
	struct rl_entry *oldest, *newest;
	size_t count;
};

static struct rl_table by_ip = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.max_failures = 5,
	.window = 60,
};
static struct rl_table by_account = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.max_failures = 20,
	.window = 60,
};

static unsigned rl_hash(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h & (RL_BUCKETS - 1);
}

static void lru_unlink(struct rl_table *t, struct rl_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push(struct rl_table *t, struct rl_entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static struct rl_entry *rl_find(struct rl_table *t, const char *key, struct rl_entry ***slot_r)
{
	struct rl_entry **slot = &t->buckets[rl_hash(key)];
	for (; *slot != NULL; slot = &(*slot)->hnext) {
		if (strcmp((*slot)->key, key) == 0)
			break;
	}
	if (slot_r != NULL)
		*slot_r = slot;
	return *slot;
}

static void rl_remove(struct rl_table *t, struct rl_entry *e)
{
	struct rl_entry **slot;
	if (rl_find(t, e->key, &slot) != e)
		return;
	*slot = e->hnext;
	lru_unlink(t, e);
	free(e);
	t->count--;
}

static void rl_clear(struct rl_table *t)
{
	while (t->oldest != NULL)
		rl_remove(t, t->oldest);
}

/* Block length in ms once failures >= max: window doubled per extra failure. */
static int64_t rl_backoff(const struct rl_table *t, unsigned failures)
{
	int64_t b = t->window;
	for (unsigned i = t->max_failures; i < failures && b < RL_MAX_BACKOFF; i++)
		b *= 2;
	return (b < RL_MAX_BACKOFF ? b : RL_MAX_BACKOFF) * 1000;
}

/* True when e has been quiet long enough to be forgotten. */
static bool rl_expired(const struct rl_table *t, const struct rl_entry *e, int64_t now)
{
	return now >= e->blocked_until && now - e->last_failure > 2 * rl_backoff(t, e->failures);
}

static void rl_configure(struct rl_table *t, unsigned max_failures, unsigned window_seconds)
{
	pthread_mutex_lock(&t->lock);
	t->max_failures = max_failures > 0 ? max_failures : 1;
	t->window = window_seconds > 0 ? window_seconds : 1;
	/* counts made under the old limits would mean something else now */
	rl_clear(t);
	pthread_mutex_unlock(&t->lock);
}

static bool rl_blocked(struct rl_table *t, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct rl_entry *e = rl_find(t, key, NULL);
	bool blocked =
		e != NULL && e->failures >= t->max_failures && time_now_ms() < e->blocked_until;
	pthread_mutex_unlock(&t->lock);
	return blocked;
}

static struct rl_entry *rl_insert(struct rl_table *t, const char *key)
{
	if (t->count >= RL_MAX_ENTRIES && t->oldest != NULL)
		rl_remove(t, t->oldest);
	size_t n = strlen(key) + 1;
	struct rl_entry *e = xcalloc(1, sizeof(*e) + n);
	memcpy(e->key, key, n);
	struct rl_entry **slot = &t->buckets[rl_hash(key)];
	e->hnext = *slot;
	*slot = e;
	lru_push(t, e);
	t->count++;
	return e;
}

static void rl_failure(struct rl_table *t, const char *key)
{
	int64_t now = time_now_ms();
	pthread_mutex_lock(&t->lock);
	struct rl_entry *e = rl_find(t, key, NULL);
	if (e != NULL && rl_expired(t, e, now)) {
		rl_remove(t, e);
		e = NULL;
	}
	if (e == NULL) {
		e = rl_insert(t, key);
		e->window_start = now;
	} else {
		lru_unlink(t, e);
		lru_push(t, e);
	}
	/* below the threshold, only failures within one window add up */
	if (e->failures < t->max_failures && now - e->window_start >= (int64_t)t->window * 1000) {
		e->failures = 0;
		e->window_start = now;
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_failure = now;
	if (e->failures >= t->max_failures)
		e->blocked_until = now + rl_backoff(t, e->failures);
	pthread_mutex_unlock(&t->lock);
}

static void rl_forget(struct rl_table *t, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct rl_entry *e = rl_find(t, key, NULL);
	if (e != NULL)
		rl_remove(t, e);
	pthread_mutex_unlock(&t->lock);
}

/* The account key: lower-cased, cut like the table would. */
static void account_key(char *key, const char *address)
{
	snprintf(key, RL_KEY_MAX + 1, "%s", address);
	str_lower(key);
}

void auth_ratelimit_configure(unsigned max_failures, unsigned window_seconds)
{
	rl_configure(&by_ip, max_failures, window_seconds);
}

void auth_ratelimit_account_configure(unsigned max_failures, unsigned window_seconds)
{
	rl_configure(&by_account, max_failures, window_seconds);
}

bool auth_ratelimit_blocked(const char *ip)
{
	if (ip == NULL)
		return false;
	char key[ADDR_KEY_MAX];
	addr_limit_key(ip, key, sizeof(key));
	return rl_blocked(&by_ip, key);
}

void auth_ratelimit_failure(const char *ip)
{
	if (ip == NULL)
		return;
	char key[ADDR_KEY_MAX];
	addr_limit_key(ip, key, sizeof(key));
	rl_failure(&by_ip, key);
}

void auth_ratelimit_success(const char *ip)
{
	if (ip == NULL)
		return;
	char key[ADDR_KEY_MAX];
	addr_limit_key(ip, key, sizeof(key));
	rl_forget(&by_ip, key);
}

bool auth_ratelimit_account_blocked(const char *address)
{
	if (address == NULL || *address == '\0')
		return false;
	char key[RL_KEY_MAX + 1];
	account_key(key, address);
	return rl_blocked(&by_account, key);
}

void auth_ratelimit_account_failure(const char *address)
{
	if (address == NULL || *address == '\0')
		return;
	char key[RL_KEY_MAX + 1];
	account_key(key, address);
	rl_failure(&by_account, key);
}
