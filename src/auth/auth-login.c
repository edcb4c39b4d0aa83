/* SPDX-License-Identifier: MIT */
/*
 * The one user/password check every protocol calls, so the rate limits,
 * the lower-casing of addresses, the timing equalisation and the failure
 * accounting cannot differ between SMTP, IMAP, POP3 and HTTP.
 *
 * A check has two halves. auth_check_start runs in the worker: the cheap
 * refusals (address or account blocked, malformed name) and the account
 * lookup in the worker's own store. The argon2id verification (20-45 ms of
 * CPU) then runs in the auth pool (lib/workpool.h), at most hashes_per_ip
 * at a time per client address key, and the session waits with CONN_WAIT;
 * the pool thread records the outcome in the limiters and logs it, so a
 * client that hangs up mid-check is still counted. Before hashing, the
 * pool thread looks at the limiters again: a guesser's queued attempts
 * turn into refusals as soon as its earlier ones have blocked it, instead
 * of each costing a hash. Without a pool (unit tests, tools) the same
 * steps run in the caller (auth_login). A login the cache (auth-cache.c)
 * has seen succeed recently ends in the worker, after the limiters and
 * the account lookup, without hashing.
 */
#include "auth/auth.h"
#include "auth/auth-private.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/workpool.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Checks that may wait per hashing thread before the answer is "try later". */
#define CHECKS_PER_THREAD 512

/*
 * A hash of a password nobody knows, made with the same parameters as real
 * ones: verifying against it for unknown users costs what a real check
 * costs, so response times do not reveal which accounts exist.
 */
static const char dummy_hash[] = "$argon2id$v=19$m=19456,t=2,p=1$5cyCLMsSF1YvohgxaWGRgw$"
				 "YMu9LO/NJwKekjfuY0oIcYt/XdOeZ5ZLTmATGZ2fED0";

struct auth_pool {
	struct workpool *pool;
};

/* One check in flight: the data of its pool job. */
struct auth_check {
	struct workpool_job *job; /* the session's reference; NULL when run in place */
	char ip[64];
	char address[sizeof(((struct store_account *)0)->address)]; /* "" when malformed */
	char user[128];  /* as given, for the log (cut) */
	const char *why; /* the log's reason= if the password does not match */
	bool known;      /* account holds a real account */
	struct store_account account;
	char *password;
	size_t password_len;
	enum auth_result result;
};

const char *auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_OK:
		return "ok";
	case AUTH_FAILED:
		return "failed";
	case AUTH_BLOCKED:
		return "blocked";
	case AUTH_ERROR:
	case AUTH_PENDING:
		break;
	}
	return "tempfail";
}

void auth_log_blocked(const char *ip, const char *limit)
{
	char safe_ip[64];
	str_sanitize(safe_ip, sizeof(safe_ip), ip != NULL ? ip : "", ip != NULL ? strlen(ip) : 0);
	log_info("auth_blocked", "ip=%s limit=%s", safe_ip, limit);
}

void auth_log_failed(const char *ip, const char *user, const char *why)
{
	char safe_ip[64], q_user[LOG_QUOTE_SIZE(128)];
	str_sanitize(safe_ip, sizeof(safe_ip), ip != NULL ? ip : "", ip != NULL ? strlen(ip) : 0);
	/* ip first, the client's text quoted after it: see contrib/fail2ban. */
	log_info("auth_failed", "ip=%s user=%s reason=%s", safe_ip,
		 log_quote(q_user, sizeof(q_user), user), why);
}

static void check_free(void *data)
{
	struct auth_check *c = data;
	if (c->password != NULL) {
		sodium_memzero(c->password, c->password_len);
		free(c->password);
	}
	sodium_memzero(&c->account, sizeof(c->account));
	free(c);
}

/* The expensive half: in a pool thread, or in the caller without a pool. */
static void check_run(void *thread_state, void *data)
{
	struct auth_check *c = data;
	if (auth_ratelimit_blocked(c->ip)) {
		auth_log_blocked(c->ip, "address");
		c->result = AUTH_BLOCKED;
	} else if (auth_ratelimit_account_blocked(c->address)) {
		auth_log_blocked(c->ip, "account");
		c->result = AUTH_BLOCKED;
	} else {
		const char *hash = c->known ? c->account.password_hash : dummy_hash;
		bool ok = auth_password_verify(hash, c->password) && c->known;
		if (!ok && strncmp(hash, "$argon2", 7) != 0)
			(void)auth_password_verify(dummy_hash, c->password); /* same cost */
		if (ok) {
			auth_cache_remember(c->address, c->account.password_hash, c->password);
			auth_ratelimit_success(c->ip);
			c->result = AUTH_OK;
		} else {
			auth_ratelimit_failure(c->ip);
			auth_ratelimit_account_failure(c->address);
			auth_log_failed(c->ip, c->address[0] != '\0' ? c->address : c->user,
					c->why);
			c->result = AUTH_FAILED;
		}
	}
	sodium_memzero(c->password, c->password_len);
	if (c->result != AUTH_OK)
		sodium_memzero(&c->account, sizeof(c->account));
}

/*
 * The cheap half, in the worker. Returns a final result, AUTH_PENDING
 * with *c_r ready to run, or AUTH_OK with *c_r done (a login cache hit).
 */
static enum auth_result check_prepare(struct store *store, const char *ip, const char *user,
				      const char *password, struct auth_check **c_r)
{
	if (auth_ratelimit_blocked(ip)) {
		auth_log_blocked(ip, "address");
		return AUTH_BLOCKED;
	}
	if (user == NULL || password == NULL) {
		auth_ratelimit_failure(ip);
		auth_log_failed(ip, user, "missing");
		return AUTH_FAILED;
	}
	struct auth_check *c = xcalloc(1, sizeof(*c));
	snprintf(c->ip, sizeof(c->ip), "%s", ip != NULL ? ip : "");
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->password_len = strlen(password);
	c->password = xmalloc(c->password_len + 1);
	memcpy(c->password, password, c->password_len + 1);
	size_t ulen = strlen(user);
	if (ulen == 0 || ulen >= sizeof(c->address) || strchr(user, '@') == NULL) {
		c->why = "bad_user"; /* still hashed: the answer takes as long */
		*c_r = c;
		return AUTH_PENDING;
	}
	memcpy(c->address, user, ulen + 1);
	str_lower(c->address);
	if (auth_ratelimit_account_blocked(c->address)) {
		auth_log_blocked(ip, "account");
		check_free(c);
		return AUTH_BLOCKED;
	}
	int ret = store_account_get(store, c->address, &c->account);
	if (ret < 0) {
		log_error("auth_store_error", "op=account_get");
		check_free(c);
		return AUTH_ERROR;
	}
	c->known = ret > 0;
	c->why = c->known ? "bad_password" : "unknown_user";
	*c_r = c;
	if (c->known && auth_cache_hit(c->address, c->account.password_hash, password)) {
		/* The same password for the same stored hash, recently: no hash. */
		auth_ratelimit_success(ip);
		c->result = AUTH_OK;
		return AUTH_OK;
	}
	return AUTH_PENDING;
}

/* A finished check's outcome; frees it. */
static enum auth_result check_outcome(struct auth_check *c, struct store_account *account_r)
{
	enum auth_result r = c->result;
	if (r == AUTH_OK && account_r != NULL)
		*account_r = c->account;
	return r;
}

enum auth_result auth_login(struct store *store, const char *ip, const char *user,
			    const char *password, struct store_account *account_r)
{
	struct auth_check *c = NULL;
	enum auth_result r = check_prepare(store, ip, user, password, &c);
	if (r != AUTH_PENDING && c == NULL)
		return r;
	if (r == AUTH_PENDING)
		check_run(NULL, c);
	r = check_outcome(c, account_r);
	check_free(c);
	return r;
}

enum auth_result auth_check_start(struct auth_pool *pool, struct store *store, const char *ip,
				  const char *user, const char *password, void (*wake)(void *arg),
				  void *wake_arg, struct auth_check **check_r,
				  struct store_account *account_r)
{
	*check_r = NULL;
	if (pool == NULL)
		return auth_login(store, ip, user, password, account_r);
	struct auth_check *c = NULL;
	enum auth_result r = check_prepare(store, ip, user, password, &c);
	if (r != AUTH_PENDING && c != NULL) { /* a cache hit */
		r = check_outcome(c, account_r);
		check_free(c);
		return r;
	}
	if (r != AUTH_PENDING)
		return r;
	char key[ADDR_KEY_MAX];
	addr_limit_key(c->ip, key, sizeof(key));
	struct workpool_task task = {
		.key = key,
		.run = check_run,
		.free_data = check_free,
		.data = c,
		.done = wake,
		.done_arg = wake_arg,
	};
	if (workpool_submit(pool->pool, &task, &c->job) < 0) {
		log_warn("auth_busy", "ip=%s", key);
		check_free(c);
		return AUTH_ERROR;
	}
	*check_r = c;
	return AUTH_PENDING;
}

enum auth_result auth_check_finish(struct auth_check **check, struct store_account *account_r)
{
	struct auth_check *c = *check;
	if (!workpool_job_done(c->job))
		return AUTH_PENDING;
	enum auth_result r = check_outcome(c, account_r);
	auth_check_abort(check);
	return r;
}

void auth_check_abort(struct auth_check **check)
{
	if (*check == NULL)
		return;
	struct workpool_job *job = (*check)->job;
	*check = NULL;
	workpool_job_release(&job);
}

int auth_pool_create(unsigned threads, unsigned hashes_per_ip, struct auth_pool **pool_r,
		     char **error_r)
{
	struct auth_pool *p = xcalloc(1, sizeof(*p));
	struct workpool_settings ws = {
		.name = "auth",
		.threads = threads > 0 ? threads : 1,
		.max_queued = (size_t)(threads > 0 ? threads : 1) * CHECKS_PER_THREAD,
		.max_running_per_key = hashes_per_ip,
		/* Hashing yields the CPU to the worker loops when both want it. */
		.nice = 10,
	};
	if (auth_sodium_init() < 0) {
		*error_r = xstrdup("auth: libsodium initialisation failed");
		free(p);
		return -1;
	}
	if (workpool_create(&ws, &p->pool, error_r) < 0) {
		free(p);
		return -1;
	}
	*pool_r = p;
	return 0;
}

void auth_pool_destroy(struct auth_pool **pool)
{
	if (*pool == NULL)
		return;
	workpool_destroy(&(*pool)->pool);
	free(*pool);
	*pool = NULL;
}

void auth_pool_peaks(struct auth_pool *pool, unsigned *total_r, unsigned *per_ip_r)
{
	workpool_peaks(pool->pool, total_r, per_ip_r);
}
