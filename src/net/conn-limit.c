/* SPDX-License-Identifier: MIT */
/*
 * Connections per client address, counted across every worker. A small
 * open-addressing table under one mutex: it is touched once at accept and
 * once at close, never on the data path. Addresses are counted by their
 * limit key (addr_limit_key): an IPv6 client counts for its whole /64.
 */
#include "net/net-private.h"

#include "lib/util.h"

#include <pthread.h>
#include <string.h>

#define LIMIT_SLOTS 16384

struct limit_slot {
	char ip[ADDR_KEY_MAX];
	unsigned count;
};

static struct limit_slot slots[LIMIT_SLOTS];
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned hash_ip(const char *ip)
{
	unsigned h = 2166136261u;
	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h;
}

/* The slot holding ip, or the first free one on its probe path; NULL when full. */
static struct limit_slot *find_slot(const char *ip)
{
	unsigned h = hash_ip(ip);
	struct limit_slot *free_slot = NULL;
	for (unsigned i = 0; i < LIMIT_SLOTS; i++) {
		struct limit_slot *s = &slots[(h + i) % LIMIT_SLOTS];
		if (s->count > 0 && strcmp(s->ip, ip) == 0)
			return s;
		if (s->count == 0 && free_slot == NULL)
			free_slot = s;
		if (s->ip[0] == '\0')
			break; /* never used: the probe path ends here */
	}
	return free_slot;
}

bool conn_limit_acquire(const char *addr, unsigned max)
{
	bool ok = false;
	char ip[ADDR_KEY_MAX];
	addr_limit_key(addr, ip, sizeof(ip));
	pthread_mutex_lock(&limit_lock);
	struct limit_slot *s = find_slot(ip);
	if (s != NULL && s->count < max) {
		if (s->count == 0)
			snprintf(s->ip, sizeof(s->ip), "%s", ip);
		s->count++;
		ok = true;
	}
	pthread_mutex_unlock(&limit_lock);
	return ok;
}

void conn_limit_release(const char *addr)
{
	char ip[ADDR_KEY_MAX];
	addr_limit_key(addr, ip, sizeof(ip));
	pthread_mutex_lock(&limit_lock);
	struct limit_slot *s = find_slot(ip);
	if (s != NULL && s->count > 0 && strcmp(s->ip, ip) == 0)
		s->count--;
	pthread_mutex_unlock(&limit_lock);
}
