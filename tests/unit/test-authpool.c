/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for password checks off the event loop: the thread pool
 * (lib/workpool: a key's running cap, references on both sides), the auth
 * pool (auth_check_start/finish: the hash runs elsewhere, the loop is
 * woken through the worker's eventfd, at most hashes_per_ip run at once
 * for one address), the per-account limiter, the /64 key of IPv6 limits
 * (failures and connection counts), and every protocol engine, driven
 * through its conn_proto exactly as the connection layer does, answering
 * CONN_WAIT while the hash runs instead of hashing in the loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"

#include "auth/auth.h"
#include "http/http.h"
#include "imap/imap.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "lib/workpool.h"
#include "net/conn.h"
#include "net/net-private.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PASSWORD "s3cret-pw"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* --- workpool ----------------------------------------------------------------- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
};

struct gated_job {
	struct gate *gate; /* NULL: return at once */
	atomic_bool started;
};

static void gated_run(void *thread_state, void *data)
{
	struct gated_job *j = data;
	atomic_store(&j->started, true);
	if (j->gate == NULL)
		return;
	pthread_mutex_lock(&j->gate->lock);
	while (!j->gate->open)
		pthread_cond_wait(&j->gate->cond, &j->gate->lock);
	pthread_mutex_unlock(&j->gate->lock);
}

/* Wait (up to 20 s, so a loaded machine does not fail it) for a job to end. */
static bool wait_done(struct workpool_job *job)
{
	for (int i = 0; i < 2000 && !workpool_job_done(job); i++)
		sleep_ms(10);
	return workpool_job_done(job);
}

static void test_workpool_key_cap(void **state)
{
	struct workpool_settings ws = {
		.name = "test", .threads = 3, .max_queued = 16, .max_running_per_key = 1};
	struct workpool *pool = NULL;
	char *err = NULL;
	assert_int_equal(workpool_create(&ws, &pool, &err), 0);
	struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct gated_job a = {.gate = &gate}, b = {.gate = NULL}, c = {.gate = NULL};
	struct workpool_job *ja, *jb, *jc;
	struct workpool_task t = {.key = "203.0.113.1", .run = gated_run, .data = &a};
	assert_int_equal(workpool_submit(pool, &t, &ja), 0);
	for (int i = 0; i < 2000 && !atomic_load(&a.started); i++)
		sleep_ms(10);
	assert_true(atomic_load(&a.started));
	t.data = &b; /* same key: must wait for a although threads are free */
	assert_int_equal(workpool_submit(pool, &t, &jb), 0);
	t.key = "203.0.113.2";
	t.data = &c; /* another key: runs past b */
	assert_int_equal(workpool_submit(pool, &t, &jc), 0);
	assert_true(wait_done(jc));
	assert_false(atomic_load(&b.started));
	assert_int_equal(workpool_running(pool, "203.0.113.1"), 1);
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	assert_true(wait_done(ja));
	assert_true(wait_done(jb));
	unsigned total, per_key;
	workpool_peaks(pool, &total, &per_key);
	assert_int_equal(per_key, 1);
	assert_true(total >= 2 && total <= 3);
	workpool_job_release(&ja);
	workpool_job_release(&jb);
	workpool_job_release(&jc);
	assert_null(ja);
	workpool_destroy(&pool);
	assert_null(pool);
}

static atomic_int freed;

static void count_free(void *data)
{
	free(data);
	atomic_fetch_add(&freed, 1);
}

static void noop_run(void *thread_state, void *data)
{
}

/* The submitter may let go first; a full queue refuses and leaves data to the caller. */
static void test_workpool_refs(void **state)
{
	struct workpool_settings ws = {.name = "test", .threads = 1, .max_queued = 1};
	struct workpool *pool = NULL;
	char *err = NULL;
	assert_int_equal(workpool_create(&ws, &pool, &err), 0);
	struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct gated_job a = {.gate = &gate};
	struct workpool_job *ja, *jb, *jc = NULL;
	struct workpool_task t = {.run = gated_run, .data = &a};
	assert_int_equal(workpool_submit(pool, &t, &ja), 0);
	for (int i = 0; i < 2000 && !atomic_load(&a.started); i++)
		sleep_ms(10);
	atomic_store(&freed, 0);
	struct workpool_task t2 = {.run = noop_run, .free_data = count_free, .data = xmalloc(8)};
	assert_int_equal(workpool_submit(pool, &t2, &jb), 0);
	workpool_job_release(&jb); /* its session went away: it still runs, then is freed */
	void *data = xmalloc(8);
	struct workpool_task t3 = {.run = noop_run, .free_data = count_free, .data = data};
	assert_int_equal(workpool_submit(pool, &t3, &jc), -1); /* one queued already */
	assert_null(jc);
	free(data);
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	for (int i = 0; i < 2000 && atomic_load(&freed) == 0; i++)
		sleep_ms(10);
	assert_int_equal(atomic_load(&freed), 1);
	workpool_job_release(&ja);
	workpool_destroy(&pool);
}

/* --- address keys and limits -------------------------------------------------------- */

static void test_addr_limit_key(void **state)
{
	char k[ADDR_KEY_MAX];
	addr_limit_key("192.0.2.7", k, sizeof(k));
	assert_string_equal(k, "192.0.2.7");
	addr_limit_key("2001:db8:1:2:3:4:5:6", k, sizeof(k));
	assert_string_equal(k, "2001:db8:1:2::/64");
	addr_limit_key("2001:DB8:1:2::ffff", k, sizeof(k));
	assert_string_equal(k, "2001:db8:1:2::/64");
	addr_limit_key("::ffff:192.0.2.7", k, sizeof(k));
	assert_string_equal(k, "192.0.2.7");
	addr_limit_key("::1", k, sizeof(k));
	assert_string_equal(k, "::/64");
	addr_limit_key("not an address", k, sizeof(k));
	assert_string_equal(k, "not an address");
	addr_limit_key(NULL, k, sizeof(k));
	assert_string_equal(k, "");
}

static void test_ratelimit_ipv6_64(void **state)
{
	auth_ratelimit_configure(2, 60);
	auth_ratelimit_failure("2001:db8:1:2::1");
	assert_false(auth_ratelimit_blocked("2001:db8:1:2::1"));
	auth_ratelimit_failure("2001:db8:1:2:ffff::9"); /* same /64, another address */
	assert_true(auth_ratelimit_blocked("2001:db8:1:2::1"));
	assert_true(auth_ratelimit_blocked("2001:db8:1:2:abcd::77"));
	assert_false(auth_ratelimit_blocked("2001:db8:1:3::1")); /* the next /64 */
	/* IPv4 stays per address */
	auth_ratelimit_failure("192.0.2.1");
	auth_ratelimit_failure("192.0.2.1");
	assert_true(auth_ratelimit_blocked("192.0.2.1"));
	assert_true(auth_ratelimit_blocked("::ffff:192.0.2.1"));
	assert_false(auth_ratelimit_blocked("192.0.2.2"));
	/* a success from anywhere in the /64 clears it */
	auth_ratelimit_success("2001:db8:1:2::42");
	assert_false(auth_ratelimit_blocked("2001:db8:1:2::1"));
	auth_ratelimit_configure(5, 60);
}

static void test_conn_limit_ipv6_64(void **state)
{
	assert_true(conn_limit_acquire("2001:db8:9::1", 2));
	assert_true(conn_limit_acquire("2001:db8:9::2", 2));
	assert_false(conn_limit_acquire("2001:db8:9:0:1::3", 2)); /* same /64: full */
	assert_true(conn_limit_acquire("2001:db8:9:1::1", 2));    /* another /64 */
	conn_limit_release("2001:db8:9::1");
	assert_true(conn_limit_acquire("2001:db8:9::ff", 2));
	conn_limit_release("2001:db8:9::2");
	conn_limit_release("2001:db8:9::ff");
	conn_limit_release("2001:db8:9:1::1");
	assert_true(conn_limit_acquire("192.0.2.9", 1));
	assert_false(conn_limit_acquire("192.0.2.9", 1));
	assert_true(conn_limit_acquire("192.0.2.10", 1));
	conn_limit_release("192.0.2.9");
	conn_limit_release("192.0.2.10");
}

/* --- checks against a store ------------------------------------------------------------ */

static struct tu_fixture *fixture_with_password(const char *name)
{
	struct tu_fixture *f = tu_fixture_create(name, true);
	assert_non_null(f);
	char hash[AUTH_HASH_MAX];
	const char *err = NULL;
	assert_int_equal(auth_password_hash(PASSWORD, hash, sizeof(hash)), 0);
	assert_int_equal(store_account_set_password(f->store, "a@example.org", hash, &err), 0);
	assert_int_equal(store_domain_add(f->store, "example.com", &err), 0);
	assert_int_equal(store_account_add(f->store, "b@example.com", hash, NULL, &err), 0);
	return f;
}

/*
 * Failures to one account from many addresses, each under its own limit,
 * block the account (any address, right password or not) but not another
 * account; unknown addresses are counted alike, so a block says nothing
 * about which accounts exist.
 */
static void test_account_limit(void **state)
{
	struct tu_fixture *f = fixture_with_password("authpool-acct");
	auth_ratelimit_configure(5, 60);
	auth_ratelimit_account_configure(3, 60);
	struct store_account acct;
	char ip[32];
	for (int i = 1; i <= 3; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		assert_int_equal(auth_login(f->store, ip, "A@example.org", "guess", &acct),
				 AUTH_FAILED);
		assert_false(auth_ratelimit_blocked(ip));
	}
	assert_true(auth_ratelimit_account_blocked("a@example.org"));
	assert_int_equal(auth_login(f->store, "198.51.100.9", "a@example.org", PASSWORD, &acct),
			 AUTH_BLOCKED);
	assert_int_equal(auth_login(f->store, "198.51.100.9", "b@example.com", PASSWORD, &acct),
			 AUTH_OK);
	/* a success does not reset the account's count */
	assert_true(auth_ratelimit_account_blocked("a@example.org"));
	for (int i = 1; i <= 3; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", 20 + i);
		assert_int_equal(auth_login(f->store, ip, "nobody@example.org", "x", &acct),
				 AUTH_FAILED);
	}
	assert_int_equal(auth_login(f->store, "198.51.100.30", "nobody@example.org", "x", &acct),
			 AUTH_BLOCKED);
	auth_ratelimit_account_configure(20, 60);
	auth_ratelimit_configure(5, 60);
	tu_fixture_destroy(&f);
}

/* Wait for a wake-up on the worker's eventfd (20 s at most). */
static bool wait_wake(int efd)
{
	struct pollfd p = {.fd = efd, .events = POLLIN};
	if (poll(&p, 1, 20000) != 1)
		return false;
	uint64_t n;
	return read(efd, &n, sizeof(n)) == sizeof(n) && n > 0;
}

static void test_check_in_pool(void **state)
{
	struct tu_fixture *f = fixture_with_password("authpool-check");
	auth_ratelimit_configure(100, 60);
	struct auth_pool *pool = NULL;
	char *err = NULL;
	assert_int_equal(auth_pool_create(4, 2, &pool, &err), 0);
	struct server_ctx ctx = {.config = &f->config, .store = f->store, .auth_pool = pool};
	ctx.wake_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(ctx.wake_fd >= 0);

	struct store_account acct;
	struct auth_check *check = NULL;
	memset(&acct, 0, sizeof(acct));
	assert_int_equal(auth_check_start(pool, f->store, "192.0.2.50", "a@example.org", PASSWORD,
					  server_ctx_wake_cb, &ctx, &check, &acct),
			 AUTH_PENDING);
	assert_non_null(check);
	assert_int_equal(acct.id, 0); /* nothing yet */
	assert_true(wait_wake(ctx.wake_fd));
	assert_int_equal(auth_check_finish(&check, &acct), AUTH_OK);
	assert_null(check);
	assert_int_equal(acct.id, f->acc);

	/* Six wrong guesses at once from one address: never more than 2 hash together. */
	struct auth_check *checks[6];
	for (int i = 0; i < 6; i++)
		assert_int_equal(auth_check_start(pool, f->store, "192.0.2.60", "a@example.org",
						  "wrong", NULL, NULL, &checks[i], &acct),
				 AUTH_PENDING);
	/* ... while another address gets its turn beside them */
	assert_int_equal(auth_check_start(pool, f->store, "192.0.2.61", "b@example.com", PASSWORD,
					  NULL, NULL, &check, &acct),
			 AUTH_PENDING);
	for (int i = 0; i < 6; i++) {
		enum auth_result r;
		for (int n = 0;
		     n < 2000 && (r = auth_check_finish(&checks[i], &acct)) == AUTH_PENDING; n++)
			sleep_ms(10);
		assert_int_equal(r, AUTH_FAILED);
	}
	enum auth_result r;
	for (int n = 0; n < 2000 && (r = auth_check_finish(&check, &acct)) == AUTH_PENDING; n++)
		sleep_ms(10);
	assert_int_equal(r, AUTH_OK);
	unsigned total, per_ip;
	auth_pool_peaks(pool, &total, &per_ip);
	assert_true(per_ip >= 1 && per_ip <= 2);
	assert_true(total <= 4);

	/* An abandoned check still counts: its failure reaches the limiter. */
	auth_ratelimit_configure(1, 60);
	assert_int_equal(auth_check_start(pool, f->store, "192.0.2.70", "a@example.org", "wrong",
					  server_ctx_wake_cb, &ctx, &check, &acct),
			 AUTH_PENDING);
	auth_check_abort(&check);
	assert_null(check);
	assert_true(wait_wake(ctx.wake_fd));
	for (int n = 0; n < 2000 && !auth_ratelimit_blocked("192.0.2.70"); n++)
		sleep_ms(10);
	assert_true(auth_ratelimit_blocked("192.0.2.70"));
	/* ... and a blocked address is refused at once, without a job */
	assert_int_equal(auth_check_start(pool, f->store, "192.0.2.70", "a@example.org", PASSWORD,
					  NULL, NULL, &check, &acct),
			 AUTH_BLOCKED);
	assert_null(check);

	auth_ratelimit_configure(5, 60);
	auth_ratelimit_account_configure(20, 60);
	auth_pool_destroy(&pool);
	close(ctx.wake_fd);
	tu_fixture_destroy(&f);
}

/* --- every protocol waits instead of hashing in the loop ------------------------------------ */

struct proto_run {
	struct tu_fixture *f;
	struct auth_pool *pool;
	struct server_ctx ctx;
	struct conn_info info;
	const struct conn_proto *proto;
	void *session;
	struct buf in, out;
};

static void run_open(struct proto_run *r, const struct conn_proto *proto, const char *listener)
{
	r->f = fixture_with_password("authpool-proto");
	auth_ratelimit_configure(100, 60);
	auth_ratelimit_account_configure(100, 60);
	char *err = NULL;
	assert_int_equal(auth_pool_create(2, 2, &r->pool, &err), 0);
	r->ctx = (struct server_ctx){
		.config = &r->f->config, .store = r->f->store, .auth_pool = r->pool};
	r->ctx.wake_fd = eventfd(0, EFD_CLOEXEC);
	r->info = (struct conn_info){.peer_ip = "127.0.0.9",
				     .peer_loopback = true,
				     .session_id = "test",
				     .listener = listener};
	r->proto = proto;
	buf_init(&r->in);
	buf_init(&r->out);
	r->session = proto->open(&r->ctx, &r->info, &r->out);
	buf_clear(&r->out);
}

/*
 * Feed bytes as the connection layer does: the engine must answer
 * CONN_WAIT with the login's reply not yet written and what follows the
 * login still unread; after the pool's wake-up, resume gives the reply.
 */
static void run_login_waits(struct proto_run *r, const char *bytes, const char *after,
			    const char *reply)
{
	buf_append_str(&r->in, bytes);
	enum conn_result cr = r->proto->input(r->session, &r->in, &r->out);
	assert_int_equal(cr, CONN_WAIT);
	buf_append(&r->out, "", 1);
	assert_null(strstr(r->out.data, reply));
	r->out.len--;
	assert_int_equal(r->in.len, strlen(after));
	assert_memory_equal(r->in.data, after, r->in.len);
	/* the pool wakes the worker's loop, which resumes the session */
	for (int n = 0; n < 100; n++) {
		assert_true(wait_wake(r->ctx.wake_fd));
		cr = r->proto->resume(r->session, &r->out);
		if (cr != CONN_WAIT)
			break;
	}
	assert_int_equal(cr, CONN_OK);
	buf_append(&r->out, "", 1);
	assert_has(r->out.data, reply);
	buf_clear(&r->out);
}

/* Feed what waited behind the login: it runs now, answering expect. */
static void run_rest(struct proto_run *r, const char *expect)
{
	assert_int_equal(r->proto->input(r->session, &r->in, &r->out), CONN_OK);
	buf_append(&r->out, "", 1);
	assert_has(r->out.data, expect);
	buf_clear(&r->out);
}

static void run_close(struct proto_run *r)
{
	r->proto->close(r->session);
	buf_deinit(&r->in);
	buf_deinit(&r->out);
	auth_pool_destroy(&r->pool);
	close(r->ctx.wake_fd);
	auth_ratelimit_configure(5, 60);
	auth_ratelimit_account_configure(20, 60);
	tu_fixture_destroy(&r->f);
}

static void test_imap_waits(void **state)
{
	struct proto_run r;
	run_open(&r, &imap_proto, "imap");
	run_login_waits(&r, "l LOGIN a@example.org " PASSWORD "\r\nn NOOP\r\n", "n NOOP\r\n",
			"l OK");
	run_rest(&r, "n OK");
	/* AUTHENTICATE PLAIN ("\0b@example.com\0s3cret-pw"), in another session */
	r.proto->close(r.session);
	r.session = r.proto->open(&r.ctx, &r.info, &r.out);
	buf_clear(&r.out);
	run_login_waits(&r, "x AUTHENTICATE PLAIN AGJAZXhhbXBsZS5jb20AczNjcmV0LXB3\r\n", "",
			"x OK");
	run_close(&r);
}

static void test_pop3_waits(void **state)
{
	struct proto_run r;
	run_open(&r, &pop3_proto, "pop3");
	run_login_waits(&r, "USER a@example.org\r\nPASS " PASSWORD "\r\nSTAT\r\n", "STAT\r\n",
			"+OK maildrop");
	run_rest(&r, "+OK 0 0");
	run_close(&r);
}

static void test_smtp_waits(void **state)
{
	struct proto_run r;
	run_open(&r, &smtp_proto, "submission");
	buf_append_str(&r.in, "EHLO client.example\r\n");
	assert_int_equal(r.proto->input(r.session, &r.in, &r.out), CONN_OK);
	buf_clear(&r.out);
	/* a wrong password: 535 once the pool has said so */
	run_login_waits(&r, "AUTH PLAIN AGJAZXhhbXBsZS5jb20Ad3Jvbmc=\r\nNOOP\r\n", "NOOP\r\n",
			"535 5.7.8");
	run_rest(&r, "250 2.0.0");
	run_login_waits(&r, "AUTH PLAIN AGJAZXhhbXBsZS5jb20AczNjcmV0LXB3\r\n", "", "235 2.7.0");
	run_close(&r);
}

static void test_http_waits(void **state)
{
	struct proto_run r;
	run_open(&r, &http_proto, "http");
	static const char body[] = "{\"username\":\"a@example.org\",\"password\":\"" PASSWORD "\"}";
	char req[512];
	snprintf(req, sizeof(req),
		 "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	run_login_waits(&r, req, "", "HTTP/1.1 200");
	/* HTTP Basic (b@example.com) on a JMAP URL, with a request pipelined behind */
	static const char basic[] = "GET /jmap/session HTTP/1.1\r\nHost: localhost\r\n"
				    "Authorization: Basic YkBleGFtcGxlLmNvbTpzM2NyZXQtcHc=\r\n\r\n";
	static const char next[] = "GET /api/me HTTP/1.1\r\nHost: localhost\r\n\r\n";
	snprintf(req, sizeof(req), "%s%s", basic, next);
	run_login_waits(&r, req, next, "HTTP/1.1 200");
	run_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workpool_key_cap),   cmocka_unit_test(test_workpool_refs),
		cmocka_unit_test(test_addr_limit_key),     cmocka_unit_test(test_ratelimit_ipv6_64),
		cmocka_unit_test(test_conn_limit_ipv6_64), cmocka_unit_test(test_account_limit),
		cmocka_unit_test(test_check_in_pool),      cmocka_unit_test(test_imap_waits),
		cmocka_unit_test(test_pop3_waits),         cmocka_unit_test(test_smtp_waits),
		cmocka_unit_test(test_http_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
