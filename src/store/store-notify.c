/* SPDX-License-Identifier: MIT */
/*
 * The in-process change hub: IMAP sessions on the same mailbox must see
 * each other's changes and IDLE must wake on new mail, so after each commit
 * the store announces (account, mailbox, HIGHESTMODSEQ) here and every
 * subscriber of that mailbox gets its eventfd (or pipe) poked. The event
 * carries no data: the woken loop re-reads the store, which is the only
 * truth. One mutex-protected array; publish holds the lock only for
 * non-blocking writes, so a slow subscriber can never stall a committer.
 * IMAP IDLE, which may have 100,000 subscribers, uses waiters instead: a
 * flag in the session, hung in a per-mailbox list (O(1) to add and drop),
 * set by publish and read by the session's poll hook without a syscall.
 * With the PostgreSQL backend the same events will also travel between
 * nodes (LISTEN/NOTIFY) and be republished here.
 */
#include "store/store.h"

#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

struct notify_sub {
	int64_t account_id; /* > 0: every mailbox of this account (JMAP push) */
	int64_t mailbox_id; /* 0: every mailbox */
	int fd;
	void *token;
};

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static struct notify_sub *subs;
static size_t n_subs, cap_subs;

/* Waiters (store_notify_wait): one list per bucket of mailbox ids. */
#define NOTIFY_WAIT_BUCKETS 4096
static struct store_waiter *waiters[NOTIFY_WAIT_BUCKETS];

/* Account waiters (store_notify_wait_account, NOTIFY): by account id. */
static struct store_waiter *account_waiters[NOTIFY_WAIT_BUCKETS];

static struct store_waiter **wait_bucket(int64_t mailbox_id)
{
	return &waiters[(uint64_t)mailbox_id % NOTIFY_WAIT_BUCKETS];
}

static struct store_waiter **waiter_list(const struct store_waiter *w)
{
	if (w->account_id > 0)
		return &account_waiters[(uint64_t)w->account_id % NOTIFY_WAIT_BUCKETS];
	return wait_bucket(w->mailbox_id);
}

static void wait_insert(struct store_waiter *w)
{
	atomic_store(&w->fired, false);
	w->prev = NULL;
	pthread_mutex_lock(&notify_lock);
	struct store_waiter **b = waiter_list(w);
	w->next = *b;
	if (*b != NULL)
		(*b)->prev = w;
	*b = w;
	pthread_mutex_unlock(&notify_lock);
}

void store_notify_wait(struct store_waiter *w, int64_t mailbox_id)
{
	w->mailbox_id = mailbox_id;
	w->account_id = 0;
	wait_insert(w);
}

void store_notify_wait_account(struct store_waiter *w, int64_t account_id)
{
	w->mailbox_id = 0;
	w->account_id = account_id;
	wait_insert(w);
}

void store_notify_unwait(struct store_waiter *w)
{
	if (w->mailbox_id <= 0 && w->account_id <= 0)
		return;
	pthread_mutex_lock(&notify_lock);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		*waiter_list(w) = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&notify_lock);
	w->mailbox_id = 0;
	w->account_id = 0;
	w->prev = w->next = NULL;
}

bool store_waiter_fired(struct store_waiter *w)
{
	return atomic_load_explicit(&w->fired, memory_order_relaxed) &&
		atomic_exchange(&w->fired, false);
}

static int subscribe(int64_t account_id, int64_t mailbox_id, int fd, void *token)
{
	int fl;

	if (token == NULL || fd < 0 || mailbox_id < 0 || account_id < 0)
		return -1;
	/* A blocking fd could stall every committer: refuse it up front. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || (fl & O_NONBLOCK) == 0)
		return -1;
	pthread_mutex_lock(&notify_lock);
	if (n_subs == cap_subs) {
		cap_subs = cap_subs ? cap_subs * 2 : 16;
		subs = xrealloc(subs, cap_subs * sizeof(*subs));
	}
	subs[n_subs++] = (struct notify_sub){account_id, mailbox_id, fd, token};
	pthread_mutex_unlock(&notify_lock);
	return 0;
}

int store_notify_subscribe(int64_t mailbox_id, int fd, void *token)
{
	return subscribe(0, mailbox_id, fd, token);
}

int store_notify_subscribe_account(int64_t account_id, int fd, void *token)
{
	return account_id > 0 ? subscribe(account_id, 0, fd, token) : -1;
}

void store_notify_unsubscribe(void *token)
{
	size_t k = 0;

	pthread_mutex_lock(&notify_lock);
	for (size_t i = 0; i < n_subs; i++) {
		if (subs[i].token != token)
			subs[k++] = subs[i];
	}
	n_subs = k;
	if (n_subs == 0) {
		/* Give the memory back when the last session goes (and for LSan). */
		free(subs);
		subs = NULL;
		cap_subs = 0;
	}
	pthread_mutex_unlock(&notify_lock);
}

void store_notify_publish(int64_t account_id, int64_t mailbox_id, uint64_t highestmodseq)
{
	const uint64_t one = 1;

	(void)highestmodseq;
	pthread_mutex_lock(&notify_lock);
	for (size_t i = 0; i < n_subs; i++) {
		if (subs[i].account_id != 0
			    ? subs[i].account_id != account_id
			    : subs[i].mailbox_id != mailbox_id && subs[i].mailbox_id != 0)
			continue;
		/* EAGAIN: the counter or pipe is full, so the reader is due anyway. */
		ssize_t w;
		do
			w = write(subs[i].fd, &one, sizeof(one));
		while (w < 0 && errno == EINTR);
	}
	for (struct store_waiter *w = *wait_bucket(mailbox_id); mailbox_id > 0 && w != NULL;
	     w = w->next) {
		if (w->mailbox_id == mailbox_id)
			atomic_store(&w->fired, true);
	}
	struct store_waiter *aw = account_waiters[(uint64_t)account_id % NOTIFY_WAIT_BUCKETS];
	for (; account_id > 0 && aw != NULL; aw = aw->next) {
		if (aw->account_id == account_id)
			atomic_store(&aw->fired, true);
	}
	pthread_mutex_unlock(&notify_lock);
}
