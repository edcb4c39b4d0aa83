/* SPDX-License-Identifier: MIT */
/*
 * filter/: rspamd's /checkv2 replies become verdicts (every action, its
 * message, the symbols that weigh most, bad replies refused); the header
 * fields we add and those of the sender we remove; which moves teach
 * spam or ham; and the HTTP client against a one-shot local server that
 * records the request (envelope headers sent, reply read, a silent server
 * timing out into the fail policy).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "filter/filter.h"
#include "lib/config.h"
#include "lib/util.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void parse_ok(const char *json, struct filter_verdict *v)
{
	const char *error = NULL;
	assert_int_equal(filter_parse_reply(json, strlen(json), v, &error), 0);
	assert_true(v->scanned);
}

static void test_actions(void **state)
{
	struct filter_verdict v;
	parse_ok("{\"action\":\"no action\",\"score\":1.5,\"required_score\":15}", &v);
	assert_int_equal(v.action, FILTER_ACCEPT);
	assert_true(v.score == 1.5 && v.required == 15.0);
	parse_ok("{\"action\":\"add header\",\"score\":7}", &v);
	assert_int_equal(v.action, FILTER_JUNK);
	parse_ok("{\"action\":\"rewrite subject\",\"score\":7}", &v);
	assert_int_equal(v.action, FILTER_JUNK);
	parse_ok("{\"action\":\"greylist\",\"score\":4}", &v);
	assert_int_equal(v.action, FILTER_TEMPFAIL);
	assert_string_equal(v.message, "Try again later");
	parse_ok(
		"{\"action\":\"soft reject\",\"score\":0,\"messages\":{\"smtp_message\":\"wait\"}}",
		&v);
	assert_int_equal(v.action, FILTER_TEMPFAIL);
	assert_string_equal(v.message, "wait");
	parse_ok("{\"action\":\"reject\",\"score\":30}", &v);
	assert_int_equal(v.action, FILTER_REJECT);
	assert_string_equal(v.message, "Message rejected as spam");
	/* A reply line can never be split by rspamd's text. */
	parse_ok("{\"action\":\"reject\",\"score\":30,"
		 "\"messages\":{\"smtp_message\":\"no\\r\\n250 ok\\u0007x\"}}",
		 &v);
	assert_string_equal(v.message, "no250 okx");
	parse_ok("{\"action\":\"something new\",\"score\":3}", &v);
	assert_int_equal(v.action, FILTER_ACCEPT);
}

static void test_bad_replies(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{",
		"{\"score\":1}",
		"{\"action\":\"reject\"}",
		"{\"action\":1,\"score\":1}",
		"{\"action\":\"reject\",\"score\":\"9\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct filter_verdict v;
		const char *error = NULL;
		assert_int_equal(filter_parse_reply(bad[i], strlen(bad[i]), &v, &error), -1);
		assert_non_null(error);
		assert_false(v.scanned);
	}
}

static void test_symbols(void **state)
{
	struct filter_verdict v;
	parse_ok("{\"action\":\"add header\",\"score\":9,\"symbols\":{"
		 "\"LOW\":{\"score\":0.5},\"HIGH\":{\"score\":8},\"NEG\":{\"score\":-1},"
		 "\"bad name\\r\\nX: y\":{\"score\":99},\"NOSCORE\":{}}}",
		 &v);
	assert_string_equal(v.symbols, "HIGH(8.00), LOW(0.50), NOSCORE(0.00), NEG(-1.00)");
	/* At most FILTER_SYMBOLS_MAX. */
	char json[4096] = "{\"action\":\"no action\",\"score\":0,\"symbols\":{";
	for (int i = 0; i < 25; i++)
		snprintf(json + strlen(json), sizeof(json) - strlen(json),
			 "%s\"S%02d\":{\"score\":%d}", i ? "," : "", i, i);
	strcat(json, "}}");
	parse_ok(json, &v);
	assert_non_null(strstr(v.symbols, "S24(24.00)"));
	assert_null(strstr(v.symbols, "S14("));
	size_t commas = 0;
	for (const char *p = v.symbols; *p; p++)
		commas += *p == ',';
	assert_int_equal(commas, FILTER_SYMBOLS_MAX - 1);
}

static void test_headers(void **state)
{
	struct filter_verdict v;
	struct buf b;
	buf_init(&b);
	parse_ok("{\"action\":\"add header\",\"score\":8,\"required_score\":15,"
		 "\"symbols\":{\"A\":{\"score\":8}}}",
		 &v);
	filter_verdict_headers(&v, &b);
	assert_string_equal(
		buf_cstr(&b),
		"X-Spam-Status: Yes, score=8.00 required=15.00 action=\"add header\"\r\n"
		"X-Spam-Score: 8.00\r\n"
		"X-Spam-Symbols: A(8.00)\r\n"
		"X-Spam: Yes\r\n");
	buf_clear(&b);
	parse_ok("{\"action\":\"no action\",\"score\":-0.5,\"required_score\":15}", &v);
	filter_verdict_headers(&v, &b);
	assert_string_equal(buf_cstr(&b),
			    "X-Spam-Status: No, score=-0.50 required=15.00 action=\"no action\"\r\n"
			    "X-Spam-Score: -0.50\r\n");
	buf_clear(&b);
	filter_verdict_unavailable(false, "Timeout was reached\r\n", &v);
	assert_int_equal(v.action, FILTER_ACCEPT);
	filter_verdict_headers(&v, &b);
	assert_string_equal(buf_cstr(&b),
			    "X-Spam-Status: Unknown, not scanned (Timeout was reached)\r\n");
	filter_verdict_unavailable(true, "refused", &v);
	assert_int_equal(v.action, FILTER_TEMPFAIL);
	assert_false(v.scanned);
	buf_deinit(&b);
}

static void test_strip(void **state)
{
	const char *msg = "Received: x\r\n"
			  "X-Spam: Yes\r\n"
			  "x-spam-status: Yes,\r\n"
			  "\tfolded\r\n"
			  "X-Spammy: kept\r\n"
			  "Subject: s\r\n"
			  "X-Spam-Score:9\r\n"
			  "\r\n"
			  "X-Spam: in the body stays\r\n";
	struct buf out;
	buf_init(&out);
	assert_int_equal(filter_strip_headers(msg, strlen(msg), &out), 3);
	assert_string_equal(buf_cstr(&out),
			    "Received: x\r\n"
			    "X-Spammy: kept\r\n"
			    "Subject: s\r\n"
			    "\r\n"
			    "X-Spam: in the body stays\r\n");
	buf_deinit(&out);
}

static void mbox(struct store_mailbox *m, const char *name, const char *use)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->special_use, sizeof(m->special_use), "%s", use);
}

static void test_learn_class(void **state)
{
	struct store_mailbox inbox, junk, spam, trash, other, junkname;
	mbox(&inbox, "INBOX", "");
	mbox(&junk, "Junk", "\\Junk");
	mbox(&spam, "Spam", "\\Junk"); /* special use wins over the name */
	mbox(&trash, "Trash", "\\Trash");
	mbox(&other, "Archive/2024", "");
	mbox(&junkname, "junk", "");
	assert_int_equal(filter_learn_class(&inbox, &junk), 1);
	assert_int_equal(filter_learn_class(&other, &spam), 1);
	assert_int_equal(filter_learn_class(&inbox, &junkname), 1);
	assert_int_equal(filter_learn_class(&junk, &inbox), 0);
	assert_int_equal(filter_learn_class(&junk, &other), 0);
	assert_int_equal(filter_learn_class(&junk, &trash), -1);
	assert_int_equal(filter_learn_class(&junk, &spam), -1);
	assert_int_equal(filter_learn_class(&inbox, &other), -1);
	assert_int_equal(filter_learn_class(&trash, &inbox), -1);
}

/* --- the HTTP client against a local one-shot server ---------------------------- */

struct server {
	int fd, port;
	const char *reply; /* NULL: accept and stay silent */
	char request[8192];
	pthread_t thread;
};

static void *server_run(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	size_t n = 0;
	if (s->reply == NULL) {
		/* Silent: hold the connection until the client gives up. */
		char tmp[4096];
		while (read(c, tmp, sizeof(tmp)) > 0)
			;
		close(c);
		return NULL;
	}
	for (;;) {
		ssize_t r = read(c, s->request + n, sizeof(s->request) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		s->request[n] = '\0';
		char *end = strstr(s->request, "\r\n\r\n");
		char *cl = strcasestr(s->request, "Content-Length:");
		if (end &&
		    (cl == NULL ||
		     n >= (size_t)(end + 4 - s->request) + strtoul(cl + 15, NULL, 10)))
			break;
	}
	char head[256];
	snprintf(head, sizeof(head),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 strlen(s->reply));
	ssize_t w = write(c, head, strlen(head));
	w = write(c, s->reply, strlen(s->reply));
	(void)w;
	close(c);
	return NULL;
}

static void server_start(struct server *s, const char *reply)
{
	memset(s, 0, sizeof(*s));
	s->reply = reply;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	socklen_t len = sizeof(a);
	getsockname(s->fd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thread, NULL, server_run, s);
}

static const struct filter_verdict *check_once(struct config *cfg, struct filter **f)
{
	char *error = NULL;
	assert_int_equal(filter_create(cfg, f, &error), 0);
	assert_non_null(*f);
	const char *rcpts[] = {"a@example.test", "b@example.test"};
	const char *msg = "Subject: hi\r\n\r\nbody\r\n";
	struct filter_request req = {
		.ip = "192.0.2.7",
		.helo = "client.example",
		.mail_from = "s@example.org",
		.queue_id = "Q123",
		.rcpts = rcpts,
		.n_rcpts = 2,
		.msg = msg,
		.len = strlen(msg),
	};
	struct filter_job *job = NULL;
	assert_int_equal(filter_check_submit(*f, &req, &job), 0);
	const struct filter_verdict *v;
	for (int i = 0; (v = filter_job_verdict(job)) == NULL && i < 1000; i++)
		usleep(10000);
	assert_non_null(v);
	static struct filter_verdict copy;
	copy = *v;
	filter_job_release(&job);
	return &copy;
}

static void test_client(void **state)
{
	struct server s;
	server_start(&s, "{\"action\":\"reject\",\"score\":20,\"required_score\":15}");
	struct config cfg;
	config_defaults(&cfg);
	free(cfg.rspamd_url);
	cfg.rspamd_url = xasprintf("http://127.0.0.1:%d", s.port);
	cfg.rspamd_timeout = 5;
	struct filter *f = NULL;
	const struct filter_verdict *v = check_once(&cfg, &f);
	pthread_join(s.thread, NULL);
	close(s.fd);
	assert_true(v->scanned);
	assert_int_equal(v->action, FILTER_REJECT);
	assert_non_null(strstr(s.request, "POST /checkv2 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nIP: 192.0.2.7\r\n"));
	assert_non_null(strstr(s.request, "\r\nHelo: client.example\r\n"));
	assert_non_null(strstr(s.request, "\r\nFrom: s@example.org\r\n"));
	assert_non_null(strstr(s.request, "\r\nQueue-Id: Q123\r\n"));
	assert_non_null(strstr(s.request, "\r\nRcpt: a@example.test\r\n"));
	assert_non_null(strstr(s.request, "\r\nRcpt: b@example.test\r\n"));
	assert_null(strstr(s.request, "\r\nUser:"));
	assert_non_null(strstr(s.request, "\r\n\r\nSubject: hi\r\n\r\nbody\r\n"));
	filter_destroy(&f);
	assert_null(f);

	/* A silent rspamd: the time budget, then the fail policy (closed). */
	server_start(&s, NULL);
	free(cfg.rspamd_url);
	cfg.rspamd_url = xasprintf("http://127.0.0.1:%d", s.port);
	cfg.rspamd_timeout = 1;
	cfg.rspamd_fail_closed = true;
	time_t start = time(NULL);
	v = check_once(&cfg, &f);
	assert_true(time(NULL) - start <= 3);
	assert_false(v->scanned);
	assert_int_equal(v->action, FILTER_TEMPFAIL);
	assert_non_null(strstr(v->error, "imeout"));
	filter_destroy(&f);
	pthread_join(s.thread, NULL);
	close(s.fd);

	/* No rspamd_url: no filter at all. */
	cfg.rspamd_url[0] = '\0';
	char *error = NULL;
	assert_int_equal(filter_create(&cfg, &f, &error), 0);
	assert_null(f);
	config_deinit(&cfg);
}

/* Learning posts each message read from its fd, with the controller's password. */
static void test_learn_posts(void **state)
{
	struct server s;
	server_start(&s, "{\"success\":true}");
	char pwfile[] = "/tmp/facteur-test-filter-XXXXXX";
	int pw = mkstemp(pwfile);
	assert_true(pw >= 0);
	assert_int_equal(write(pw, "s3cret\nignored\n", 15), 15);
	close(pw);
	struct config cfg;
	config_defaults(&cfg);
	free(cfg.rspamd_url);
	free(cfg.rspamd_controller_url);
	free(cfg.rspamd_password_file);
	cfg.rspamd_url = xstrdup("http://127.0.0.1:9");
	cfg.rspamd_controller_url = xasprintf("http://127.0.0.1:%d", s.port);
	cfg.rspamd_password_file = xstrdup(pwfile);
	struct filter *f = NULL;
	char *error = NULL;
	assert_int_equal(filter_create(&cfg, &f, &error), 0);
	assert_true(filter_learns(f));
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "Subject: spam\r\n\r\nbuy\r\n", 22), 22);
	close(p[1]);
	filter_learn(f, true, &p[0], 1, "test");
	pthread_join(s.thread, NULL); /* the server has the whole request */
	close(s.fd);
	filter_destroy(&f);
	unlink(pwfile);
	assert_non_null(strstr(s.request, "POST /learnspam HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "\r\nPassword: s3cret\r\n"));
	assert_non_null(strstr(s.request, "\r\n\r\nSubject: spam\r\n\r\nbuy\r\n"));
	/* Without a controller URL, learning is off and the fds are just closed. */
	cfg.rspamd_controller_url[0] = '\0';
	cfg.rspamd_password_file[0] = '\0';
	assert_int_equal(filter_create(&cfg, &f, &error), 0);
	assert_false(filter_learns(f));
	assert_int_equal(pipe(p), 0);
	filter_learn(f, false, &p[0], 1, "test");
	assert_int_equal(close(p[0]), -1); /* already closed by filter_learn */
	close(p[1]);
	filter_destroy(&f);
	/* A password file that cannot be read stops the start. */
	free(cfg.rspamd_password_file);
	cfg.rspamd_password_file = xstrdup("/nonexistent/facteur-pw");
	assert_int_equal(filter_create(&cfg, &f, &error), -1);
	assert_non_null(strstr(error, "rspamd_password_file"));
	free(error);
	config_deinit(&cfg);
}

static void test_ping_refused(void **state)
{
	struct server s;
	server_start(&s, "pong\r\n");
	char *error = NULL;
	char *url = xasprintf("http://127.0.0.1:%d", s.port);
	assert_int_equal(filter_ping(url, 5, &error), 1);
	pthread_join(s.thread, NULL);
	close(s.fd); /* nothing listens there any more */
	assert_int_equal(filter_ping(url, 5, &error), -1);
	assert_non_null(error);
	free(error);
	free(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_actions),      cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_symbols),      cmocka_unit_test(test_headers),
		cmocka_unit_test(test_strip),        cmocka_unit_test(test_learn_class),
		cmocka_unit_test(test_client),       cmocka_unit_test(test_learn_posts),
		cmocka_unit_test(test_ping_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
