/* SPDX-License-Identifier: MIT */
/*
 * Two process-wide tables shared by every worker, each behind one mutex:
 *
 * Web sessions: a browser that signed in holds a random 256-bit token (in
 * a cookie, or as a Bearer token) and a second random token for CSRF. They
 * live in memory only (a restart signs everyone out), expire after a week
 * without use, and are found through a small hash of the token, then
 * compared in constant time.
 *
 * HTTP Basic sends the password with every request; the login cache of
 * auth/ (auth-cache.c) spares the argon2id hash of a repeated one, and sees
 * a password change at once (the stored hash is part of its key).
 */
#include "http/http-private.h"

#include "lib/util.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define N_BUCKETS 4096

struct session_entry {
	struct http_web_session s;
	int64_t expires_ms;
	struct session_entry *next;
};

static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session_entry *buckets[N_BUCKETS];
static size_t n_sessions;

static void random_hex(char *out, size_t n_bytes)
{
	unsigned char raw[64];
	if (n_bytes > sizeof(raw) || random_bytes(raw, n_bytes) < 0)
		abort(); /* no randomness: no safe token to give */
	for (size_t i = 0; i < n_bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static size_t bucket_of(const char *token)
{
	/* The token is random: a few of its characters spread it well enough. */
	size_t h = 0;
	for (int i = 0; i < 8 && token[i]; i++)
		h = h * 31 + (unsigned char)token[i];
	return h % N_BUCKETS;
}

static bool token_equal(const char *a, const char *b)
{
	return strlen(b) == HTTP_TOKEN_LEN && CRYPTO_memcmp(a, b, HTTP_TOKEN_LEN) == 0;
}

/* Drop expired sessions of one bucket. Lock held. */
static void sweep_bucket(size_t b, int64_t now)
{
	struct session_entry **pp = &buckets[b];
	while (*pp != NULL) {
		struct session_entry *e = *pp;
		if (e->expires_ms <= now) {
			*pp = e->next;
			OPENSSL_cleanse(e, sizeof(*e));
			free(e);
			n_sessions--;
		} else {
			pp = &e->next;
		}
	}
}

int http_session_create(int64_t account_id, const char *username, struct http_web_session *out)
{
	struct session_entry *e = xcalloc(1, sizeof(*e));
	random_hex(e->s.token, HTTP_TOKEN_LEN / 2);
	random_hex(e->s.csrf, HTTP_TOKEN_LEN / 2);
	e->s.account_id = account_id;
	snprintf(e->s.username, sizeof(e->s.username), "%s", username);
	int64_t now = time_now_ms();
	e->expires_ms = now + HTTP_SESSION_IDLE_MS;
	size_t b = bucket_of(e->s.token);
	pthread_mutex_lock(&session_lock);
	sweep_bucket(b, now);
	if (n_sessions >= HTTP_SESSIONS_MAX) {
		for (size_t i = 0; i < N_BUCKETS; i++)
			sweep_bucket(i, now);
	}
	if (n_sessions >= HTTP_SESSIONS_MAX) {
		pthread_mutex_unlock(&session_lock);
		free(e);
		return -1;
	}
	e->next = buckets[b];
	buckets[b] = e;
	n_sessions++;
	*out = e->s;
	pthread_mutex_unlock(&session_lock);
	return 0;
}

int http_session_find(const char *token, struct http_web_session *out)
{
	if (strlen(token) != HTTP_TOKEN_LEN)
		return 0;
	int64_t now = time_now_ms();
	size_t b = bucket_of(token);
	int found = 0;
	pthread_mutex_lock(&session_lock);
	sweep_bucket(b, now);
	for (struct session_entry *e = buckets[b]; e != NULL; e = e->next) {
		if (token_equal(e->s.token, token)) {
			e->expires_ms = now + HTTP_SESSION_IDLE_MS;
			*out = e->s;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&session_lock);
	return found;
}

void http_session_remove(const char *token)
{
	if (strlen(token) != HTTP_TOKEN_LEN)
		return;
	size_t b = bucket_of(token);
	pthread_mutex_lock(&session_lock);
	for (struct session_entry **pp = &buckets[b]; *pp != NULL; pp = &(*pp)->next) {
		struct session_entry *e = *pp;
		if (token_equal(e->s.token, token)) {
			*pp = e->next;
			OPENSSL_cleanse(e, sizeof(*e));
			free(e);
			n_sessions--;
			break;
		}
	}
	pthread_mutex_unlock(&session_lock);
}

void http_session_remove_account(int64_t account_id, const char *keep_token)
{
	pthread_mutex_lock(&session_lock);
	for (size_t b = 0; b < N_BUCKETS; b++) {
		struct session_entry **pp = &buckets[b];
		while (*pp != NULL) {
			struct session_entry *e = *pp;
			bool keep = keep_token != NULL && token_equal(e->s.token, keep_token);
			if (e->s.account_id == account_id && !keep) {
				*pp = e->next;
				OPENSSL_cleanse(e, sizeof(*e));
				free(e);
				n_sessions--;
			} else {
				pp = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&session_lock);
}

size_t http_session_count(void)
{
	pthread_mutex_lock(&session_lock);
	size_t n = n_sessions;
	pthread_mutex_unlock(&session_lock);
	return n;
}

void http_session_reset(void)
{
	pthread_mutex_lock(&session_lock);
	for (size_t b = 0; b < N_BUCKETS; b++) {
		while (buckets[b] != NULL) {
			struct session_entry *e = buckets[b];
			buckets[b] = e->next;
			free(e);
		}
	}
	n_sessions = 0;
	pthread_mutex_unlock(&session_lock);
}
