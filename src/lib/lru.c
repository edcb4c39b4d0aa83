/* SPDX-License-Identifier: MIT */
/*
 * The bounded LRU map of lru.h: a chained hash table (power-of-two
 * buckets, doubled when the entries outnumber them, never shrunk below
 * the size reached) whose entries also sit on a doubly linked list in
 * order of use, most recent first. An entry is one allocation holding the
 * key and the value, so a hit costs a hash, a compare and four pointer
 * moves, and an eviction one free. The bucket hash is FNV-1a seeded from
 * the kernel's random bytes per map, so keys chosen from outside (content
 * hashes of mail anyone can send) cannot be made to pile into one chain.
 */
#include "lib/lru.h"

#include "lib/util.h"

#include <stdint.h>
#include <string.h>

struct lru_entry {
	struct lru_entry *chain; /* next in the bucket */
	struct lru_entry *newer, *older;
	uint64_t hash;
	size_t key_len, value_len;
	unsigned char data[]; /* key, then value */
};

struct lru {
	struct lru_entry **buckets;
	size_t n_buckets; /* a power of two */
	struct lru_entry *newest, *oldest;
	size_t count, bytes, evictions;
	size_t max_entries, max_bytes;
	uint64_t seed;
	bool wipe;
};

static uint64_t lru_hash(const struct lru *l, const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull ^ l->seed;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static size_t entry_cost(size_t key_len, size_t value_len)
{
	return key_len + value_len + LRU_ENTRY_OVERHEAD;
}

struct lru *lru_create(size_t max_entries, size_t max_bytes, bool wipe)
{
	struct lru *l = xcalloc(1, sizeof(*l));
	l->max_entries = max_entries;
	l->max_bytes = max_bytes;
	l->wipe = wipe;
	l->n_buckets = 16;
	l->buckets = xcalloc(l->n_buckets, sizeof(*l->buckets));
	if (random_bytes(&l->seed, sizeof(l->seed)) < 0)
		l->seed = (uint64_t)(uintptr_t)l; /* still differs per map */
	return l;
}

static void entry_free(struct lru *l, struct lru_entry *e)
{
	if (l->wipe) {
		/* volatile: the stores must not be optimised away before free */
		volatile unsigned char *p = e->data;
		for (size_t i = 0; i < e->key_len + e->value_len; i++)
			p[i] = 0;
	}
	free(e);
}

/* Take e off its chain and the use list; the caller frees it. */
static void entry_unlink(struct lru *l, struct lru_entry *e)
{
	struct lru_entry **pp = &l->buckets[e->hash & (l->n_buckets - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		l->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		l->oldest = e->newer;
	l->count--;
	l->bytes -= entry_cost(e->key_len, e->value_len);
}

static void entry_make_newest(struct lru *l, struct lru_entry *e)
{
	e->newer = NULL;
	e->older = l->newest;
	if (l->newest != NULL)
		l->newest->newer = e;
	l->newest = e;
	if (l->oldest == NULL)
		l->oldest = e;
}

static struct lru_entry *entry_find(const struct lru *l, uint64_t h, const void *key, size_t len)
{
	for (struct lru_entry *e = l->buckets[h & (l->n_buckets - 1)]; e != NULL; e = e->chain)
		if (e->hash == h && e->key_len == len && memcmp(e->data, key, len) == 0)
			return e;
	return NULL;
}

/* Double the table when the entries outnumber the buckets. */
static void lru_grow(struct lru *l)
{
	if (l->count <= l->n_buckets)
		return;
	size_t n = l->n_buckets * 2;
	struct lru_entry **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < l->n_buckets; i++) {
		struct lru_entry *e = l->buckets[i];
		while (e != NULL) {
			struct lru_entry *next = e->chain;
			e->chain = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(l->buckets);
	l->buckets = b;
	l->n_buckets = n;
}

bool lru_remove(struct lru *l, const void *key, size_t key_len)
{
	struct lru_entry *e = entry_find(l, lru_hash(l, key, key_len), key, key_len);
	if (e == NULL)
		return false;
	entry_unlink(l, e);
	entry_free(l, e);
	return true;
}

int lru_put(struct lru *l, const void *key, size_t key_len, const void *value, size_t value_len)
{
	lru_remove(l, key, key_len);
	size_t cost = entry_cost(key_len, value_len);
	if (l->max_entries == 0 || cost > l->max_bytes)
		return 0;
	while (l->oldest != NULL &&
	       (l->count + 1 > l->max_entries || l->bytes + cost > l->max_bytes)) {
		struct lru_entry *old = l->oldest;
		entry_unlink(l, old);
		entry_free(l, old);
		l->evictions++;
	}
	struct lru_entry *e = xmalloc(sizeof(*e) + key_len + value_len);
	e->hash = lru_hash(l, key, key_len);
	e->key_len = key_len;
	e->value_len = value_len;
	memcpy(e->data, key, key_len);
	if (value_len > 0)
		memcpy(e->data + key_len, value, value_len);
	size_t slot = e->hash & (l->n_buckets - 1);
	e->chain = l->buckets[slot];
	l->buckets[slot] = e;
	entry_make_newest(l, e);
	l->count++;
	l->bytes += cost;
	lru_grow(l);
	return 1;
}

const void *lru_get(struct lru *l, const void *key, size_t key_len, size_t *len_r)
{
	struct lru_entry *e = entry_find(l, lru_hash(l, key, key_len), key, key_len);
	if (e == NULL)
		return NULL;
	if (l->newest != e) {
		/* off the use list, back on at the front */
		e->newer->older = e->older;
		if (e->older != NULL)
			e->older->newer = e->newer;
		else
			l->oldest = e->newer;
		entry_make_newest(l, e);
	}
	if (len_r != NULL)
		*len_r = e->value_len;
	return e->data + e->key_len;
}

void lru_clear(struct lru *l)
{
	struct lru_entry *e = l->newest;
	while (e != NULL) {
		struct lru_entry *older = e->older;
		entry_free(l, e);
		e = older;
	}
	memset(l->buckets, 0, l->n_buckets * sizeof(*l->buckets));
	l->newest = l->oldest = NULL;
	l->count = 0;
	l->bytes = 0;
}

void lru_destroy(struct lru **l)
{
	if (*l == NULL)
		return;
	lru_clear(*l);
	free((*l)->buckets);
	free(*l);
	*l = NULL;
}

size_t lru_count(const struct lru *l)
{
	return l->count;
}

size_t lru_bytes(const struct lru *l)
{
	return l->bytes;
}

size_t lru_evictions(const struct lru *l)
{
	return l->evictions;
}
