/* SPDX-License-Identifier: MIT */
/*
 * The POP3 maildrop lock. RFC 1939 lets only one session at a time hold a
 * maildrop, because message numbers and pending deletions are per session.
 * Sessions of one account can live on different worker loops, so the set
 * of locked account ids is process-wide: a sorted array under a mutex. The
 * critical section is a binary search and at most one memmove, which is
 * cheap next to the login (argon2id) that precedes it.
 */
#include "pop3/pop3-private.h"

#include "lib/util.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static int64_t *lock_ids;
static size_t lock_n, lock_cap;

/* Index of id in the sorted set, or where it would be inserted. */
static size_t lock_find(int64_t id, bool *found_r)
{
	size_t lo = 0, hi = lock_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lock_ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found_r = lo < lock_n && lock_ids[lo] == id;
	return lo;
}

int pop3_lock_acquire(int64_t account_id)
{
	bool found;
	pthread_mutex_lock(&lock_mutex);
	size_t i = lock_find(account_id, &found);
	if (!found) {
		if (lock_n == lock_cap) {
			lock_cap = lock_cap ? lock_cap * 2 : 64;
			lock_ids = xrealloc(lock_ids, lock_cap * sizeof(*lock_ids));
		}
		memmove(lock_ids + i + 1, lock_ids + i, (lock_n - i) * sizeof(*lock_ids));
		lock_ids[i] = account_id;
		lock_n++;
	}
	pthread_mutex_unlock(&lock_mutex);
	return found ? 0 : 1;
}

void pop3_lock_release(int64_t account_id)
{
	bool found;
	pthread_mutex_lock(&lock_mutex);
	size_t i = lock_find(account_id, &found);
	if (found) {
		memmove(lock_ids + i, lock_ids + i + 1, (lock_n - i - 1) * sizeof(*lock_ids));
		lock_n--;
	}
	pthread_mutex_unlock(&lock_mutex);
}

size_t pop3_lock_count(void)
{
	pthread_mutex_lock(&lock_mutex);
	size_t n = lock_n;
	pthread_mutex_unlock(&lock_mutex);
	return n;
}
