/* SPDX-License-Identifier: MIT */
/*
 * A bounded least-recently-used map from byte strings to byte strings,
 * for caches of things that are dear to compute and never change once
 * known (a blob's parsed structure, a recent password verification). It
 * holds at most max_entries entries and max_bytes bytes (keys, values and
 * a fixed overhead per entry counted), and drops the least recently used
 * entries to stay under both. Not thread-safe: one owner, or a lock
 * around every call. With wipe, every key and value is zeroed before its
 * memory is freed (for secrets).
 */
#ifndef FACTEUR_LIB_LRU_H
#define FACTEUR_LIB_LRU_H

#include <stdbool.h>
#include <stddef.h>

struct lru;

/* Bytes an entry costs besides its key and value (the accounting's unit). */
#define LRU_ENTRY_OVERHEAD 64

/* max_entries and max_bytes of 0 make a cache that stores nothing. */
struct lru *lru_create(size_t max_entries, size_t max_bytes, bool wipe);
void lru_destroy(struct lru **l);

/*
 * Store a copy of value under a copy of key, replacing any entry of that
 * key; then evict from the least recently used end until both bounds
 * hold. Returns 1 stored, 0 not stored (the entry alone would exceed
 * max_bytes, or the cache stores nothing; an older entry of key is gone).
 */
int lru_put(struct lru *l, const void *key, size_t key_len, const void *value, size_t value_len);

/*
 * The value of key (and its length in *len_r, may be NULL), now the most
 * recently used; NULL if absent. The pointer stays valid until the next
 * lru_put, lru_remove, lru_clear or lru_destroy on l, and is not aligned:
 * copy numbers out with memcpy.
 */
const void *lru_get(struct lru *l, const void *key, size_t key_len, size_t *len_r);

/* Drop key's entry; true if there was one. */
bool lru_remove(struct lru *l, const void *key, size_t key_len);
/* Drop every entry. */
void lru_clear(struct lru *l);

size_t lru_count(const struct lru *l);
/* Bytes accounted: keys + values + LRU_ENTRY_OVERHEAD per entry. */
size_t lru_bytes(const struct lru *l);
/* Entries dropped to make room since creation (not lru_remove/clear). */
size_t lru_evictions(const struct lru *l);

#endif
