/* SPDX-License-Identifier: MIT */
/*
 * Outbound sending limits: the messages and recipients each authenticated
 * account, and each domain as a whole, submitted in the last hour, so that
 * one stolen password cannot fill the queue. Counted in this process, in
 * one-minute buckets (the hour slides by the minute), in one table shared
 * by the SMTP workers and JMAP submission under a mutex: a check or a
 * charge is one hash lookup. Only authenticated senders have entries, so
 * the table holds the accounts and domains that sent in the last hour; when
 * it is full, entries quiet for an hour go, and if none is, a new sender is
 * not counted (the limit fails open rather than refusing everyone).
 */
#include "auth/auth.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define SL_MINUTES 60
#define SL_HASH 4096 /* power of two */
#define SL_MAX_ENTRIES 16384

struct sl_entry {
	struct sl_entry *next;
	int64_t last_minute;
	int64_t minute[SL_MINUTES]; /* which minute each bucket counts */
	uint32_t messages[SL_MINUTES];
	uint32_t recipients[SL_MINUTES];
	char key[]; /* "u:" address or "d:" domain, lower-cased */
};

static struct {
	pthread_mutex_t lock;
	struct send_limits user, domain;
	struct sl_entry *hash[SL_HASH];
	size_t count;
	int64_t (*clock)(void);
} sl = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.user = {.messages = 500, .recipients = 2000},
	.clock = time_now_ms,
};

static unsigned sl_hash(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h & (SL_HASH - 1);
}

static void sl_clear(void)
{
	for (size_t i = 0; i < SL_HASH; i++) {
		while (sl.hash[i] != NULL) {
			struct sl_entry *e = sl.hash[i];
			sl.hash[i] = e->next;
			free(e);
		}
	}
	sl.count = 0;
}

void send_limit_configure(const struct send_limits *user, const struct send_limits *domain)
{
	pthread_mutex_lock(&sl.lock);
	sl.user = *user;
	sl.domain = *domain;
	sl_clear();
	pthread_mutex_unlock(&sl.lock);
}

void send_limit_clock(int64_t (*clock)(void))
{
	pthread_mutex_lock(&sl.lock);
	sl.clock = clock != NULL ? clock : time_now_ms;
	sl_clear();
	pthread_mutex_unlock(&sl.lock);
}

static void sl_key(char *out, size_t outsz, char kind, const char *name)
{
	snprintf(out, outsz, "%c:%s", kind, name);
	str_lower(out);
}

static struct sl_entry *sl_find(const char *key)
{
	for (struct sl_entry *e = sl.hash[sl_hash(key)]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Drop the entries with nothing in the last hour. */
static void sl_sweep(int64_t now_minute)
{
	for (size_t i = 0; i < SL_HASH; i++) {
		for (struct sl_entry **p = &sl.hash[i]; *p != NULL;) {
			struct sl_entry *e = *p;
			if (e->last_minute > now_minute - SL_MINUTES) {
				p = &e->next;
				continue;
			}
			*p = e->next;
			free(e);
			sl.count--;
		}
	}
}

static struct sl_entry *sl_get(const char *key, int64_t now_minute)
{
	struct sl_entry *e = sl_find(key);
	if (e != NULL)
		return e;
	if (sl.count >= SL_MAX_ENTRIES)
		sl_sweep(now_minute);
	if (sl.count >= SL_MAX_ENTRIES)
		return NULL;
	size_t n = strlen(key) + 1;
	e = xcalloc(1, sizeof(*e) + n);
	memcpy(e->key, key, n);
	for (size_t i = 0; i < SL_MINUTES; i++)
		e->minute[i] = -1;
	unsigned h = sl_hash(key);
	e->next = sl.hash[h];
	sl.hash[h] = e;
	sl.count++;
	return e;
}

/* What e counted in the hour up to now_minute. */
static void sl_sum(const struct sl_entry *e, int64_t now_minute, uint64_t *messages_r,
		   uint64_t *recipients_r)
{
	*messages_r = *recipients_r = 0;
	if (e == NULL)
		return;
	for (size_t i = 0; i < SL_MINUTES; i++) {
		if (e->minute[i] > now_minute - SL_MINUTES) {
			*messages_r += e->messages[i];
			*recipients_r += e->recipients[i];
		}
	}
}

/* 1 when one more message to recipients fits under lim; 0 and why if not. */
static int sl_fits(const char *key, const struct send_limits *lim, const char *who,
		   unsigned recipients, int64_t now_minute, char *why, size_t whysz)
{
	uint64_t m, r;
	sl_sum(sl_find(key), now_minute, &m, &r);
	if (lim->messages > 0 && m + 1 > (uint64_t)lim->messages) {
		snprintf(why, whysz, "%s sending limit reached: %lld messages per hour", who,
			 (long long)lim->messages);
		return 0;
	}
	if (lim->recipients > 0 && r + recipients > (uint64_t)lim->recipients) {
		snprintf(why, whysz, "%s sending limit reached: %lld recipients per hour", who,
			 (long long)lim->recipients);
		return 0;
	}
	return 1;
}

/* The limits for an account: its own where set (>= 0), else the default. */
static struct send_limits sl_user_limits(const struct send_limits *own)
{
	struct send_limits l = sl.user;
	if (own != NULL && own->messages >= 0)
		l.messages = own->messages;
	if (own != NULL && own->recipients >= 0)
		l.recipients = own->recipients;
	return l;
}

int send_limit_check(const char *address, const struct send_limits *own, unsigned recipients,
		     char *why, size_t whysz)
{
	char key[SEND_LIMIT_KEY_MAX];
	const char *at = strrchr(address, '@');
	pthread_mutex_lock(&sl.lock);
	int64_t now_minute = sl.clock() / 60000;
	struct send_limits user = sl_user_limits(own);
	sl_key(key, sizeof(key), 'u', address);
	int r = sl_fits(key, &user, "Your", recipients, now_minute, why, whysz);
	if (r == 1 && at != NULL) {
		sl_key(key, sizeof(key), 'd', at + 1);
		r = sl_fits(key, &sl.domain, "Domain", recipients, now_minute, why, whysz);
	}
	pthread_mutex_unlock(&sl.lock);
	return r;
}

static void sl_charge(const char *key, unsigned recipients, int64_t now_minute)
{
	struct sl_entry *e = sl_get(key, now_minute);
	if (e == NULL)
		return;
	size_t i = (size_t)(now_minute % SL_MINUTES);
	if (e->minute[i] != now_minute) {
		e->minute[i] = now_minute;
		e->messages[i] = e->recipients[i] = 0;
	}
	e->messages[i]++;
	e->recipients[i] += recipients;
	e->last_minute = now_minute;
}

void send_limit_charge(const char *address, unsigned recipients)
{
	char key[SEND_LIMIT_KEY_MAX];
	const char *at = strrchr(address, '@');
	pthread_mutex_lock(&sl.lock);
	int64_t now_minute = sl.clock() / 60000;
	sl_key(key, sizeof(key), 'u', address);
	sl_charge(key, recipients, now_minute);
	if (at != NULL) {
		sl_key(key, sizeof(key), 'd', at + 1);
		sl_charge(key, recipients, now_minute);
	}
	pthread_mutex_unlock(&sl.lock);
}
