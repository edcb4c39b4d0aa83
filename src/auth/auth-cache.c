/* SPDX-License-Identifier: MIT */
/*
 * Recent successful password verifications, so that a client that logs
 * in again within auth_cache_ttl seconds (mail clients open several
 * connections at once and reconnect often) does not cost another argon2id
 * hash (20-45 ms of CPU and 19 MiB of memory touched). Process-wide, one
 * lock, bounded by AUTH_CACHE_ENTRIES (least recently used dropped).
 *
 * What is kept, per account address: HMAC-SHA256 under a random key made
 * at start-up (never stored, in sodium_malloc'd memory: guard pages, not
 * in core dumps) of the address, the account's stored hash and the
 * password, and an expiry time. No password and no reversible form of one
 * is kept. A login hits only if it gives the same password for the same
 * stored hash within the TTL: a password change (a new stored hash, read
 * from the store at every login) misses at once and the old password is
 * refused; a wrong password always misses and pays the full hash, so
 * guessing gets no cheaper; limiters run before the cache. The trade-off
 * (docs/ARCHITECTURE.md, "Login cache"): someone who can read the
 * process's memory gets the key and the tags, and could then test guesses
 * for the cached accounts at HMAC speed instead of argon2id speed; such a
 * reader also sees passwords as they arrive. auth_cache_ttl = 0 turns the
 * cache off. Entries are wiped when dropped.
 */
#include "auth/auth-private.h"

#include "lib/lru.h"
#include "lib/util.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

struct cache_value {
	unsigned char tag[crypto_auth_hmacsha256_BYTES];
	int64_t expires_ms; /* time_now_ms() */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lru *cache;        /* NULL: off */
static unsigned char *cache_key; /* crypto_auth_hmacsha256_KEYBYTES, sodium_malloc'd */
static int64_t cache_ttl_ms;

int auth_cache_configure(unsigned ttl_seconds, size_t max_entries)
{
	if (auth_sodium_init() < 0)
		return -1;
	pthread_mutex_lock(&cache_lock);
	lru_destroy(&cache);
	if (cache_key == NULL) {
		cache_key = sodium_malloc(crypto_auth_hmacsha256_KEYBYTES);
		if (cache_key != NULL)
			crypto_auth_hmacsha256_keygen(cache_key);
	}
	cache_ttl_ms = (int64_t)ttl_seconds * 1000;
	if (ttl_seconds > 0 && max_entries > 0 && cache_key != NULL)
		cache = lru_create(max_entries,
				   max_entries *
					   (LRU_ENTRY_OVERHEAD + AUTH_ADDRESS_MAX +
					    sizeof(struct cache_value)),
				   true);
	int r = ttl_seconds > 0 && cache == NULL ? -1 : 0;
	pthread_mutex_unlock(&cache_lock);
	return r;
}

/* The tag of a login: binds the address, the stored hash and the password. */
static void cache_tag(const char *address, const char *hash, const char *password,
		      unsigned char tag[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, cache_key, crypto_auth_hmacsha256_KEYBYTES);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)address, strlen(address) + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)hash, strlen(hash) + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)password, strlen(password));
	crypto_auth_hmacsha256_final(&st, tag);
	sodium_memzero(&st, sizeof(st));
}

bool auth_cache_hit(const char *address, const char *hash, const char *password)
{
	bool hit = false;
	unsigned char tag[crypto_auth_hmacsha256_BYTES];
	pthread_mutex_lock(&cache_lock);
	if (cache == NULL || address[0] == '\0' || hash[0] == '\0') {
		pthread_mutex_unlock(&cache_lock);
		return false;
	}
	size_t len;
	const struct cache_value *v = lru_get(cache, address, strlen(address), &len);
	if (v != NULL && len == sizeof(*v)) {
		struct cache_value copy;
		memcpy(&copy, v, sizeof(copy));
		if (copy.expires_ms <= time_now_ms()) {
			lru_remove(cache, address, strlen(address));
		} else {
			cache_tag(address, hash, password, tag);
			hit = sodium_memcmp(tag, copy.tag, sizeof(tag)) == 0;
		}
		sodium_memzero(&copy, sizeof(copy));
	}
	pthread_mutex_unlock(&cache_lock);
	sodium_memzero(tag, sizeof(tag));
	return hit;
}

void auth_cache_remember(const char *address, const char *hash, const char *password)
{
	pthread_mutex_lock(&cache_lock);
	if (cache != NULL && address[0] != '\0' && hash[0] != '\0') {
		struct cache_value v;
		cache_tag(address, hash, password, v.tag);
		v.expires_ms = time_now_ms() + cache_ttl_ms;
		lru_put(cache, address, strlen(address), &v, sizeof(v));
		sodium_memzero(&v, sizeof(v));
	}
	pthread_mutex_unlock(&cache_lock);
}

size_t auth_cache_count(void)
{
	pthread_mutex_lock(&cache_lock);
	size_t n = cache != NULL ? lru_count(cache) : 0;
	pthread_mutex_unlock(&cache_lock);
	return n;
}
