/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the HTTP engine (http-engine.c, http-parser.c,
 * http-response.c) through a fake handler: whole exchanges fed at once and
 * one byte at a time (same answers), pipelining order, every request
 * smuggling refusal, the limits (414, 431, 413 before the body arrives),
 * chunked bodies, Expect, HEAD, streaming from an fd in bounded slices,
 * event streams; then the real handler (http_proto on a temporary store):
 * login, sessions, CSRF, Basic and Bearer, password change, static assets
 * with gzip/brotli/304, auto-configuration, the HTTPS redirect; and the
 * store's account-wide change subscription that EventSource uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "http/http-private.h"
#include "http/http.h"
#include "jmap/jmap.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "mime/mime.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* --- the engine with a fake handler ----------------------------------------- */

struct fake {
	int calls;
	size_t limit;
	int stream_fd;
	size_t stream_len;
	int polls;
	bool events_ended;
	char last_body[256];
};

static size_t fake_limit(void *ctx, const struct http_request *req)
{
	(void)req;
	return ((struct fake *)ctx)->limit;
}

static void fake_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct fake *f = ctx;
	f->calls++;
	snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)req->body.len, req->body.data);
	if (strcmp(req->path, "/stream") == 0) {
		resp->fd = dup(f->stream_fd);
		resp->offset = 0;
		resp->len = f->stream_len;
		resp->content_type = "application/octet-stream";
		return;
	}
	/* The first call yields (resp->yield); the engine calls again on resume. */
	if (strcmp(req->path, "/yield") == 0 && f->calls % 2 == 1) {
		resp->yield = true;
		buf_append_str(&resp->body, "dropped");
		return;
	}
	if (strcmp(req->path, "/events") == 0) {
		resp->events = true;
		resp->content_type = "text/event-stream";
		buf_append_str(&resp->body, "event: state\ndata: {}\n\n");
		return;
	}
	resp->content_type = "text/plain";
	buf_printf(&resp->body, "%s %s?%s host=%s len=%zu", req->method_name, req->path, req->query,
		   req->host, req->body.len);
}

static enum conn_result fake_poll(void *ctx, struct buf *out)
{
	struct fake *f = ctx;
	f->polls++;
	buf_append_str(out, "event: ping\n\n");
	return f->polls >= 3 ? CONN_CLOSE : CONN_OK;
}

static void fake_end(void *ctx)
{
	((struct fake *)ctx)->events_ended = true;
}

static const struct http_hooks fake_hooks = {
	.body_limit = fake_limit,
	.handle = fake_handle,
	.events_poll = fake_poll,
	.events_end = fake_end,
};

struct eng {
	struct fake f;
	struct http_engine *e;
	struct buf in, out;
	struct buf got; /* what the "connection" sent: out is moved here as it drains */
	enum conn_result last;
	size_t max_slice; /* most output one resume produced */
};

static void eng_open(struct eng *x, bool tls)
{
	memset(x, 0, sizeof(*x));
	x->f.limit = 100;
	x->f.stream_fd = -1;
	struct http_settings st = {.tls = tls, .idle_timeout = 60, .sid = "t"};
	x->e = http_engine_create(&st, &fake_hooks, &x->f);
	buf_init(&x->in);
	buf_init(&x->out);
	buf_init(&x->got);
}

static void eng_close(struct eng *x)
{
	http_engine_destroy(&x->e);
	buf_deinit(&x->in);
	buf_deinit(&x->out);
	buf_deinit(&x->got);
	if (x->f.stream_fd >= 0)
		close(x->f.stream_fd);
}

/* The connection sent everything waiting in out. */
static void eng_flush(struct eng *x)
{
	buf_append(&x->got, x->out.data, x->out.len);
	buf_clear(&x->out);
}

/* Like the connection layer: input, resume while MORE, input again while it progresses. */
static void eng_drive(struct eng *x)
{
	for (int rounds = 0; rounds < 100000; rounds++) {
		size_t in_before = x->in.len;
		x->last = http_engine_input(x->e, &x->in, &x->out);
		bool produced = x->out.len > 0;
		eng_flush(x);
		while (x->last == CONN_MORE) {
			x->last = http_engine_resume(x->e, &x->out);
			if (x->out.len > x->max_slice)
				x->max_slice = x->out.len;
			eng_flush(x);
		}
		if (x->last == CONN_CLOSE || x->in.len == 0 ||
		    (x->in.len == in_before && !produced))
			return;
	}
}

/* Feed bytes at once (step 0) or step bytes at a time; returns the output without Date values. */
static const char *eng_feed(struct eng *x, const char *bytes, size_t len, size_t step)
{
	if (step == 0)
		step = len;
	for (size_t i = 0; i < len && x->last != CONN_CLOSE; i += step) {
		buf_append(&x->in, bytes + i, len - i < step ? len - i : step);
		eng_drive(x);
	}
	/* Dates differ between runs: blank them. */
	char *d = x->got.data;
	while (d != NULL && (d = memmem(d, x->got.len - (size_t)(d - x->got.data), "Date: ", 6))) {
		memset(d + 6, 'X', 29);
		d += 6;
	}
	return buf_cstr(&x->got);
}

static const char *eng_cmd(struct eng *x, const char *bytes)
{
	return eng_feed(x, bytes, strlen(bytes), 0);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void test_simple_get(void **state)
{
	(void)state;
	struct eng x;
	eng_open(&x, true);
	const char *out = eng_cmd(&x, "GET /a/b?x=1 HTTP/1.1\r\nHost: mail.example\r\n\r\n");
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_has(out, "Content-Length: 36\r\n");
	assert_has(out, "GET /a/b?x=1 host=mail.example len=0");
	assert_has(out, "X-Content-Type-Options: nosniff\r\n");
	assert_has(out, "Strict-Transport-Security: max-age=31536000\r\n");
	assert_has(out, "X-Frame-Options: DENY\r\n");
	assert_has(out, "Referrer-Policy: no-referrer\r\n");
	assert_has(out, "Content-Security-Policy: default-src 'none'");
	assert_has(out, "Date: XXX");
	assert_lacks(out, "Connection: close");
	assert_int_equal(x.last, CONN_OK);
	eng_close(&x);
}

/*
 * A handler that yields (resp->yield): nothing is written, the engine says
 * CONN_YIELD (also to input arriving meanwhile, which waits), and resume
 * calls the handler again with the same request, whose answer comes then,
 * followed by the pipelined next one.
 */
static void test_handler_yields(void **state)
{
	(void)state;
	struct eng x;
	eng_open(&x, false);
	const char req[] = "GET /yield HTTP/1.1\r\nHost: h\r\n\r\n";
	buf_append_str(&x.in, req);
	assert_int_equal(http_engine_input(x.e, &x.in, &x.out), CONN_YIELD);
	assert_int_equal(x.out.len, 0);
	assert_int_equal(x.f.calls, 1);
	buf_append_str(&x.in, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(http_engine_input(x.e, &x.in, &x.out), CONN_YIELD);
	assert_int_equal(x.f.calls, 1);
	assert_int_equal(http_engine_resume(x.e, &x.out), CONN_OK);
	assert_int_equal(x.f.calls, 2);
	eng_flush(&x);
	eng_drive(&x);
	const char *out = buf_cstr(&x.got);
	assert_lacks(out, "dropped");
	const char *first = strstr(out, "GET /yield? host=h len=0");
	const char *second = strstr(out, "GET /next? host=h len=0");
	assert_non_null(first);
	assert_non_null(second);
	assert_true(first < second);
	eng_close(&x);
}

static const char pipeline[] =
	"\r\nGET /one HTTP/1.1\r\nHost: h\r\n\r\n"
	"POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
	"POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
	"HEAD /four HTTP/1.1\r\nHost: h\r\n\r\n"
	"GET /five HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	"GET /never HTTP/1.1\r\nHost: h\r\n\r\n";

static void test_pipelining_order_and_byte_at_a_time(void **state)
{
	(void)state;
	struct eng a, b;
	eng_open(&a, false);
	eng_open(&b, false);
	char *whole = xstrdup(eng_feed(&a, pipeline, sizeof(pipeline) - 1, 0));
	const char *bytewise = eng_feed(&b, pipeline, sizeof(pipeline) - 1, 1);
	assert_string_equal(whole, bytewise);
	const char *one = strstr(whole, "GET /one?");
	const char *two = strstr(whole, "POST /two? host=h len=5");
	const char *three = strstr(whole, "POST /three? host=h len=13");
	const char *five = strstr(whole, "GET /five?");
	assert_non_null(one);
	assert_non_null(two);
	assert_non_null(three);
	assert_non_null(five);
	assert_true(one < two && two < three && three < five);
	assert_lacks(whole, "/four?"); /* HEAD: headers only */
	assert_lacks(whole, "/never");
	assert_int_equal(count_of(whole, "HTTP/1.1 200 OK"), 5);
	assert_has(five, "");
	assert_int_equal(a.last, CONN_CLOSE);
	assert_int_equal(a.f.calls, 5);
	assert_string_equal(a.f.last_body, "");
	free(whole);
	eng_close(&a);
	eng_close(&b);
}

/* A request that must be refused with status and the connection closed. */
static void refused(const char *req, int status)
{
	for (size_t step = 0; step <= 1; step++) {
		struct eng x;
		eng_open(&x, false);
		const char *out = eng_feed(&x, req, strlen(req), step);
		char line[64];
		snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
		if (strncmp(out, line, strlen(line)) != 0)
			fail_msg("expected %d for %s, got:\n%s", status, req, out);
		assert_has(out, "Connection: close\r\n");
		assert_int_equal(x.last, CONN_CLOSE);
		assert_int_equal(x.f.calls, 0);
		eng_close(&x);
	}
}

static void test_smuggling_refused(void **state)
{
	(void)state;
	/* Content-Length and Transfer-Encoding together */
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
		"\r\n0\r\n\r\n",
		400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n"
		"\r\nabc",
		400);
	/* duplicate or malformed Content-Length */
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", 400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400);
	/* obs-fold, bare CR/LF, whitespace before the colon, NUL, control characters */
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\r\n\tb\r\n\r\n", 400);
	refused("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
	refused("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", 400);
	const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";
	for (size_t step = 0; step <= 1; step++) {
		struct eng x;
		eng_open(&x, false);
		assert_has(eng_feed(&x, nul, sizeof(nul) - 1, step), "HTTP/1.1 400 ");
		eng_close(&x);
	}
	/* transfer codings */
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 501);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		400);
	refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
	/* bad chunk framing */
	const char *chunks[] = {"zz\r\n",
				"5 \r\nhello\r\n0\r\n\r\n",
				"-1\r\n",
				"0x5\r\nhello\r\n",
				"+5\r\nhello\r\n",
				"\r\n",
				"1234567890abcdef0\r\n",
				"5\r\nhelloXX0\r\n\r\n",
				"5\nhello\r\n0\r\n\r\n",
				"5\r\nhello\r\n0\r\n\n"};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		char *req = xasprintf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
				      "\r\n%s",
				      chunks[i]);
		refused(req, 400);
		free(req);
	}
	/* Host: missing in 1.1, twice, or not a host name */
	refused("GET / HTTP/1.1\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	/* request line */
	refused("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	refused("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
	refused("GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	refused("GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	refused("GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400);
	refused("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	refused("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
	refused("BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501);
	refused("get / HTTP/1.1\r\nHost: h\r\n\r\n", 501);
	refused("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417);
}

static void test_limits(void **state)
{
	(void)state;
	/* A request line over the cap is refused before its line feed arrives. */
	struct eng x;
	eng_open(&x, false);
	char *big = xmalloc(HTTP_MAX_REQUEST_LINE + 100);
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', HTTP_MAX_REQUEST_LINE + 95);
	assert_has(eng_feed(&x, big, HTTP_MAX_REQUEST_LINE + 100, 1000), "HTTP/1.1 414 ");
	assert_int_equal(x.last, CONN_CLOSE);
	eng_close(&x);
	free(big);
	/* Too many header bytes, still without the end of the head. */
	eng_open(&x, false);
	struct buf req;
	buf_init(&req);
	buf_append_str(&req, "GET / HTTP/1.1\r\nHost: h\r\n");
	while (req.len < HTTP_MAX_HEAD + 10)
		buf_append_str(&req,
			       "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	assert_has(eng_feed(&x, req.data, req.len, 4096), "HTTP/1.1 431 ");
	eng_close(&x);
	/* The same head complete in one piece. */
	buf_append_str(&req, "\r\n");
	eng_open(&x, false);
	assert_has(eng_feed(&x, req.data, req.len, 0), "HTTP/1.1 431 ");
	eng_close(&x);
	/* Too many fields. */
	eng_open(&x, false);
	buf_clear(&req);
	buf_append_str(&req, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
		buf_printf(&req, "X-%d: v\r\n", i);
	buf_append_str(&req, "\r\n");
	assert_has(eng_feed(&x, req.data, req.len, 0), "HTTP/1.1 431 ");
	eng_close(&x);
	buf_deinit(&req);
	/* A body larger than the handler's limit: 413 from the head alone. */
	eng_open(&x, false);
	const char *out = eng_cmd(&x, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n");
	assert_has(out, "HTTP/1.1 413 ");
	assert_int_equal(x.last, CONN_CLOSE);
	eng_close(&x);
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
	/* Chunks adding up past the limit. */
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"32\r\n01234567890123456789012345678901234567890123456789\r\n"
		"33\r\n",
		413);
	/* A body exactly at the limit passes. */
	eng_open(&x, false);
	char body[100];
	memset(body, 'b', sizeof(body));
	char *r = xasprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n%.*s", 100,
			    body);
	assert_has(eng_cmd(&x, r), "len=100");
	free(r);
	eng_close(&x);
}

static void test_versions_connection_expect(void **state)
{
	(void)state;
	struct eng x;
	eng_open(&x, false);
	const char *out = eng_cmd(&x, "GET / HTTP/1.0\r\n\r\n");
	assert_has(out, "HTTP/1.1 200 OK");
	assert_has(out, "Connection: close");
	assert_int_equal(x.last, CONN_CLOSE);
	eng_close(&x);
	eng_open(&x, false);
	out = eng_cmd(&x, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_lacks(out, "Connection: close");
	assert_int_equal(x.last, CONN_OK);
	eng_close(&x);
	/* HTTP/1.1 is the default even for a later minor version. */
	eng_open(&x, false);
	out = eng_cmd(&x, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n");
	assert_has(out, "Connection: close");
	eng_close(&x);
	/* Expect: 100-continue gets the interim answer before the body. */
	eng_open(&x, false);
	out = eng_cmd(&x,
		      "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
		      "Content-Length: 4\r\n\r\n");
	assert_string_equal(out, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(x.f.calls, 0);
	buf_clear(&x.got);
	out = eng_cmd(&x, "body");
	assert_has(out, "len=4");
	eng_close(&x);
	/* OPTIONS * is the only asterisk-form. */
	eng_open(&x, false);
	assert_has(eng_cmd(&x, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), "OPTIONS *?");
	eng_close(&x);
}

static void test_streaming_bounded(void **state)
{
	(void)state;
	struct eng x;
	eng_open(&x, false);
	size_t len = 1024 * 1024 + 77;
	x.f.stream_fd = memfd_create("blob", 0);
	x.f.stream_len = len;
	char *data = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(write_full(x.f.stream_fd, data, len), 0);
	const char *out = eng_cmd(&x,
				  "GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"
				  "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(out, "Content-Length: 1048653\r\n");
	const char *body = strstr(out, "\r\n\r\n") + 4;
	assert_memory_equal(body, data, len);
	assert_has(body + len, "GET /after?");
	assert_true(x.max_slice <= HTTP_STREAM_SLICE + 512);
	/* HEAD of a stream: headers only, and the fd is closed (no leak under ASan). */
	buf_clear(&x.got);
	out = eng_cmd(&x, "HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(count_of(out, "Content-Length: 1048653"), 1);
	assert_true(strstr(out, "\r\n\r\n")[4] == '\0');
	free(data);
	eng_close(&x);
}

static void test_events(void **state)
{
	(void)state;
	struct eng x;
	eng_open(&x, false);
	const char *out = eng_cmd(&x, "GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(out, "Content-Type: text/event-stream\r\n");
	assert_has(out, "Connection: close\r\n");
	assert_lacks(out, "Content-Length");
	assert_has(out, "\r\n\r\nevent: state\ndata: {}\n\n");
	assert_true(http_engine_streaming_events(x.e));
	assert_int_equal(http_engine_idle_timeout(x.e), 86400);
	/* Input on an event stream is ignored, never parsed. */
	eng_cmd(&x, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(x.f.calls, 1);
	assert_int_equal(http_engine_poll(x.e, &x.out), CONN_OK);
	assert_int_equal(http_engine_poll(x.e, &x.out), CONN_OK);
	assert_int_equal(http_engine_poll(x.e, &x.out), CONN_CLOSE);
	assert_true(x.f.events_ended);
	assert_int_equal(count_of(buf_cstr(&x.out), "event: ping"), 3);
	eng_close(&x);
	/* Closed by the connection instead: the end hook still runs. */
	eng_open(&x, false);
	eng_cmd(&x, "GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
	http_engine_destroy(&x.e);
	assert_true(x.f.events_ended);
	eng_close(&x);
}

static void test_output_backpressure(void **state)
{
	(void)state;
	struct eng x;
	eng_open(&x, false);
	struct buf req;
	buf_init(&req);
	for (int i = 0; i < 20000; i++)
		buf_append_str(&req, "GET /p HTTP/1.1\r\nHost: h\r\n\r\n");
	buf_append(&x.in, req.data, req.len);
	x.last = http_engine_input(x.e, &x.in, &x.out);
	/* It stopped once HTTP_OUT_HIGH bytes waited, leaving the rest unread. */
	assert_true(x.out.len >= HTTP_OUT_HIGH && x.out.len < HTTP_OUT_HIGH + 4096);
	assert_true(x.in.len > 0);
	while (x.in.len > 0) {
		buf_clear(&x.out); /* the connection flushed it */
		x.last = http_engine_input(x.e, &x.in, &x.out);
		assert_true(x.out.len < HTTP_OUT_HIGH + 4096);
	}
	assert_int_equal(x.f.calls, 20000);
	buf_deinit(&req);
	eng_close(&x);
}

static void test_parser_helpers(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(http_url_decode("a%20b%2Fc+d", 11, out, sizeof(out)), 0);
	assert_string_equal(out, "a b/c+d");
	assert_int_equal(http_url_decode("a%2", 3, out, sizeof(out)), -1);
	assert_int_equal(http_url_decode("a%zz", 4, out, sizeof(out)), -1);
	assert_int_equal(http_url_decode("a%00", 4, out, sizeof(out)), -1);
	assert_int_equal(http_query_param("types=*&closeafter=no&ping=30", "ping", out, 64), 1);
	assert_string_equal(out, "30");
	assert_int_equal(http_query_param("a=1+2&b", "a", out, 64), 1);
	assert_string_equal(out, "1 2");
	assert_int_equal(http_query_param("a=1&b", "b", out, 64), 1);
	assert_string_equal(out, "");
	assert_int_equal(http_query_param("ab=1", "a", out, 64), 0);
	assert_int_equal(http_query_param("a=%G1", "a", out, 64), -1);
	char date[40];
	http_date(date, sizeof(date));
	assert_int_equal(strlen(date), 29);
	assert_string_equal(date + 25, " GMT");
}

/* --- sessions and the credential cache --------------------------------------- */

static void test_session_table(void **state)
{
	(void)state;
	struct http_web_session s1, s2, got;
	assert_int_equal(http_session_create(7, "a@example.org", &s1), 0);
	assert_int_equal(http_session_create(7, "a@example.org", &s2), 0);
	assert_int_equal(strlen(s1.token), HTTP_TOKEN_LEN);
	assert_string_not_equal(s1.token, s2.token);
	assert_string_not_equal(s1.token, s1.csrf);
	assert_int_equal(http_session_find(s1.token, &got), 1);
	assert_int_equal(got.account_id, 7);
	assert_string_equal(got.csrf, s1.csrf);
	char wrong[HTTP_TOKEN_LEN + 1];
	memcpy(wrong, s1.token, sizeof(wrong));
	wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
	assert_int_equal(http_session_find(wrong, &got), 0);
	assert_int_equal(http_session_find("short", &got), 0);
	http_session_remove_account(7, s2.token);
	assert_int_equal(http_session_find(s1.token, &got), 0);
	assert_int_equal(http_session_find(s2.token, &got), 1);
	http_session_remove(s2.token);
	assert_int_equal(http_session_find(s2.token, &got), 0);
	assert_int_equal(http_session_count(), 0);

	http_session_reset();
}

/* --- the store's account-wide subscription ---------------------------------------- */

static void test_notify_account(void **state)
{
	(void)state;
	int fd = eventfd(0, EFD_NONBLOCK), other = eventfd(0, EFD_NONBLOCK);
	int tok1, tok2;
	assert_int_equal(store_notify_subscribe_account(5, fd, &tok1), 0);
	assert_int_equal(store_notify_subscribe_account(6, other, &tok2), 0);
	assert_int_equal(store_notify_subscribe_account(0, fd, &tok1), -1);
	int blocking = eventfd(0, 0);
	assert_int_equal(store_notify_subscribe_account(5, blocking, &tok1), -1);
	close(blocking);
	uint64_t n;
	store_notify_publish(5, 123, 1);
	store_notify_publish(5, 456, 2);
	assert_int_equal(read(fd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 2);
	assert_int_equal(read(other, &n, sizeof(n)), -1); /* another account: untouched */
	store_notify_publish(6, 1, 1);
	assert_int_equal(read(fd, &n, sizeof(n)), -1);
	assert_int_equal(read(other, &n, sizeof(n)), sizeof(n));
	store_notify_unsubscribe(&tok1);
	store_notify_unsubscribe(&tok2);
	store_notify_publish(5, 123, 3);
	assert_int_equal(read(fd, &n, sizeof(n)), -1);
	close(fd);
	close(other);
}

/* --- the real handler on a temporary store ------------------------------------------ */

struct svc {
	struct tu_fixture *t;
	struct server_ctx ctx;
	struct conn_info info;
	void *session;
	struct buf in, out;
	char ip[32];
};

static const char *const PASSWORD = "correct horse";

static void svc_open(struct svc *s, struct tu_fixture *t, bool tls, bool loopback, const char *ip)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->ctx.config = &t->config;
	s->ctx.store = t->store;
	s->ctx.wake_fd = -1;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->info = (struct conn_info){.peer_ip = s->ip,
				     .peer_loopback = loopback,
				     .tls = tls,
				     .session_id = "u",
				     .listener = tls ? "https" : "http"};
	buf_init(&s->in);
	buf_init(&s->out);
	s->session = http_proto.open(&s->ctx, &s->info, &s->out);
}

static void svc_close(struct svc *s)
{
	http_proto.close(s->session);
	buf_deinit(&s->in);
	buf_deinit(&s->out);
}

/* One request; returns the whole response. */
static const char *svc_req(struct svc *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&s->in, fmt, ap);
	va_end(ap);
	buf_clear(&s->out);
	enum conn_result r = http_proto.input(s->session, &s->in, &s->out);
	/* Like the connection layer: resume while output is pending or the handler yielded. */
	while (r == CONN_MORE || r == CONN_YIELD)
		r = http_proto.resume(s->session, &s->out);
	return buf_cstr(&s->out);
}

static struct tu_fixture *fixture(void)
{
	struct tu_fixture *t = tu_fixture_create("http", true);
	assert_non_null(t);
	char hash[AUTH_HASH_MAX];
	const char *err = NULL;
	assert_int_equal(auth_password_hash(PASSWORD, hash, sizeof(hash)), 0);
	assert_int_equal(store_account_set_password(t->store, "a@example.org", hash, &err), 0);
	free(t->config.hostname);
	t->config.hostname = xstrdup("mx.example.org");
	t->config.listeners[0] = (struct config_listener){LISTENER_IMAPS, "127.0.0.1", 993};
	t->config.listeners[1] = (struct config_listener){LISTENER_SUBMISSION, "127.0.0.1", 587};
	t->config.listeners[2] = (struct config_listener){LISTENER_HTTPS, "127.0.0.1", 8443};
	t->config.n_listeners = 3;
	return t;
}

static int setup_store(void **state)
{
	*state = fixture();
	return 0;
}

static int teardown_store(void **state)
{
	http_session_reset();
	http_static_set(NULL);
	return tu_teardown(state);
}

static void cookie_of(const char *resp, const char *name, char *out, size_t size)
{
	char pfx[64];
	snprintf(pfx, sizeof(pfx), "Set-Cookie: %s=", name);
	const char *p = strstr(resp, pfx);
	assert_non_null(p);
	p += strlen(pfx);
	size_t n = strcspn(p, ";");
	assert_true(n < size);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void json_field(const char *resp, const char *key, char *out, size_t size)
{
	char pfx[64];
	snprintf(pfx, sizeof(pfx), "\"%s\":\"", key);
	const char *p = strstr(resp, pfx);
	assert_non_null(p);
	p += strlen(pfx);
	size_t n = strcspn(p, "\"");
	assert_true(n < size);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* base64 of "a@example.org:PASSWORD" for Authorization: Basic. */
static void basic_cred(char *b64, size_t size)
{
	char cred[128];
	snprintf(cred, sizeof(cred), "a@example.org:%s", PASSWORD);
	assert_true(auth_base64_encode(cred, strlen(cred), b64, size) > 0);
}

static const char *login(struct svc *s, const char *user, const char *pw)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
	return svc_req(s,
		       "POST /api/login HTTP/1.1\r\nHost: mail.example.org\r\n"
		       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		       n, body);
}

static void test_api_session_flow(void **state)
{
	struct tu_fixture *t = *state;
	struct svc s;
	svc_open(&s, t, true, false, "192.0.2.10");
	const char *r = login(&s, "a@example.org", "wrong");
	assert_has(r, "HTTP/1.1 401 ");
	assert_has(r, "{\"error\":\"invalid\"}");
	assert_lacks(r, "Set-Cookie");
	r = svc_req(&s,
		    "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
		    "Content-Length: 2\r\n\r\n{}");
	assert_has(r, "HTTP/1.1 415 ");
	r = login(&s, "A@Example.org", PASSWORD);
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "\"accountId\":\"a");
	assert_has(r, "\"username\":\"a@example.org\"");
	assert_has(r, "; Path=/; HttpOnly; SameSite=Strict; Secure");
	assert_has(r, "Cache-Control: no-store");
	char token[128], csrf[128];
	cookie_of(r, "__Host-facteur", token, sizeof(token));
	json_field(r, "csrfToken", csrf, sizeof(csrf));

	r = svc_req(&s, "GET /api/me HTTP/1.1\r\nHost: h\r\nCookie: x=1; __Host-facteur=%s\r\n\r\n",
		    token);
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, csrf);
	/* The cookie name of plain HTTP is not accepted over TLS. */
	r = svc_req(&s, "GET /api/me HTTP/1.1\r\nHost: h\r\nCookie: facteur_session=%s\r\n\r\n",
		    token);
	assert_has(r, "HTTP/1.1 401 ");
	assert_lacks(r, "WWW-Authenticate");
	/* State-changing requests with the cookie need the CSRF token. */
	r = svc_req(&s,
		    "POST /api/logout HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n"
		    "Content-Length: 0\r\n\r\n",
		    token);
	assert_has(r, "HTTP/1.1 403 ");
	assert_has(r, "csrf");
	char bad[128];
	snprintf(bad, sizeof(bad), "%s", csrf);
	bad[5] = bad[5] == '0' ? '1' : '0';
	r = svc_req(&s,
		    "POST /api/logout HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n"
		    "X-CSRF-Token: %s\r\nContent-Length: 0\r\n\r\n",
		    token, bad);
	assert_has(r, "HTTP/1.1 403 ");
	/* Bearer with the same token works without CSRF (not an ambient credential). */
	r = svc_req(&s,
		    "GET /.well-known/jmap HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n",
		    token);
	assert_has(r, "HTTP/1.1 200 "); /* authenticated: the session resource */
	assert_has(r, "\"apiUrl\"");
	r = svc_req(&s,
		    "POST /api/logout HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n"
		    "X-CSRF-Token: %s\r\nContent-Length: 0\r\n\r\n",
		    token, csrf);
	assert_has(r, "HTTP/1.1 204 ");
	assert_has(r, "Max-Age=0");
	r = svc_req(&s, "GET /api/me HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n\r\n",
		    token);
	assert_has(r, "HTTP/1.1 401 ");
	svc_close(&s);
}

static void test_basic_auth(void **state)
{
	struct tu_fixture *t = *state;
	struct svc s;
	svc_open(&s, t, false, true, "127.0.0.1");
	char b64[256];
	basic_cred(b64, sizeof(b64));
	const char *r = svc_req(&s, "GET /.well-known/jmap HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 401 ");
	assert_has(r, "WWW-Authenticate: Basic realm=\"facteur\"");
	r = svc_req(&s, "GET /jmap/session HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 200 ");
	/* Cached now: a second request costs no argon2id (same answer). */
	r = svc_req(&s, "GET /api/me HTTP/1.1\r\nHost: h\r\nAuthorization: basic %s\r\n\r\n", b64);
	assert_has(r, "HTTP/1.1 200 ");
	assert_lacks(r, "csrfToken");
	auth_base64_encode("a@example.org:nope", 18, b64, sizeof(b64));
	r = svc_req(&s, "GET /jmap/session HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 401 ");
	r = svc_req(&s, "GET /jmap/session HTTP/1.1\r\nHost: h\r\nAuthorization: Basic !!\r\n\r\n");
	assert_has(r, "HTTP/1.1 401 ");
	r = svc_req(&s, "GET /jmap/session HTTP/1.1\r\nHost: h\r\nAuthorization: Digest x\r\n\r\n");
	assert_has(r, "HTTP/1.1 401 ");
	svc_close(&s);
	/* JMAP routes reach jmap/ once authenticated. */
	char b[256];
	basic_cred(b, sizeof(b));
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "POST /jmap/upload/a1/ HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n"
		    "Content-Type: image/png\r\nContent-Length: 3\r\n\r\nabc",
		    b);
	assert_has(r, "HTTP/1.1 201 ");
	assert_has(r, "\"type\":\"image/png\"");
	r = svc_req(&s,
		    "GET /jmap/download/a1/Bxyz/f%%20n.txt?accept=text/plain HTTP/1.1\r\n"
		    "Host: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b);
	assert_has(r, "HTTP/1.1 400 "); /* not a blob id */
	r = svc_req(&s,
		    "GET /jmap/download/a1/B%%2F/x HTTP/1.1\r\nHost: h\r\n"
		    "Authorization: Basic %s\r\n\r\n",
		    b);
	assert_has(r, "HTTP/1.1 404 ");
	r = svc_req(&s, "GET /jmap/upload/a1/ HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 405 ");
	r = svc_req(&s,
		    "POST /jmap/api HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n"
		    "Content-Length: 2\r\n\r\n{}",
		    b);
	assert_has(r, "HTTP/1.1 400 "); /* not a JMAP Request */
	/* Body caps: uploads may be large, anything without credentials may not. */
	r = svc_req(&s,
		    "POST /jmap/upload/a1/ HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n"
		    "Content-Length: %u\r\n\r\n",
		    b, JMAP_MAX_UPLOAD_SIZE + 1);
	assert_has(r, "HTTP/1.1 413 ");
	svc_close(&s);
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s, "POST /jmap/api HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n");
	assert_has(r, "HTTP/1.1 413 ");
	svc_close(&s);
	/* Off loopback without TLS no credential is taken (with no HTTPS listener to go to). */
	t->config.n_listeners = 2;
	svc_open(&s, t, false, false, "192.0.2.20");
	r = svc_req(&s, "GET /jmap/session HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 403 ");
	r = login(&s, "a@example.org", PASSWORD);
	assert_has(r, "HTTP/1.1 403 ");
	svc_close(&s);
}

static void test_rate_limit(void **state)
{
	struct tu_fixture *t = *state;
	auth_ratelimit_configure(3, 60);
	struct svc s;
	svc_open(&s, t, true, false, "192.0.2.99");
	const char *r = NULL;
	for (int i = 0; i < 3; i++)
		r = login(&s, "a@example.org", "bad");
	assert_has(r, "HTTP/1.1 401 ");
	r = login(&s, "a@example.org", PASSWORD);
	assert_has(r, "HTTP/1.1 429 ");
	assert_has(r, "Retry-After:");
	svc_close(&s);
	auth_ratelimit_configure(5, 60);
}

static void test_password_change(void **state)
{
	struct tu_fixture *t = *state;
	struct svc s;
	svc_open(&s, t, true, false, "192.0.2.30");
	const char *r = login(&s, "a@example.org", PASSWORD);
	char token[128], csrf[128], other[128];
	cookie_of(r, "__Host-facteur", token, sizeof(token));
	json_field(r, "csrfToken", csrf, sizeof(csrf));
	r = login(&s, "a@example.org", PASSWORD);
	cookie_of(r, "__Host-facteur", other, sizeof(other));
#define PW_REQ(body)                                                                               \
	svc_req(&s,                                                                                \
		"POST /api/password HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n"          \
		"X-CSRF-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"    \
		"\r\n%s",                                                                          \
		token, csrf, strlen(body), body)
	r = PW_REQ("{\"old\":\"correct horse\",\"new\":\"short\"}");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "weak");
	r = PW_REQ("{\"old\":\"wrong horse\",\"new\":\"a long new one\"}");
	assert_has(r, "HTTP/1.1 403 ");
	assert_has(r, "invalid");
	r = PW_REQ("{\"old\":1}");
	assert_has(r, "HTTP/1.1 400 ");
	r = PW_REQ("{\"old\":\"correct horse\",\"new\":\"a long new one\"}");
	assert_has(r, "HTTP/1.1 204 ");
#undef PW_REQ
	/* This session lives on, the other one is signed out. */
	r = svc_req(&s, "GET /api/me HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n\r\n",
		    token);
	assert_has(r, "HTTP/1.1 200 ");
	r = svc_req(&s, "GET /api/me HTTP/1.1\r\nHost: h\r\nCookie: __Host-facteur=%s\r\n\r\n",
		    other);
	assert_has(r, "HTTP/1.1 401 ");
	assert_has(login(&s, "a@example.org", "a long new one"), "HTTP/1.1 200 ");
	svc_close(&s);
}

static const unsigned char idx[] = "<!doctype html><title>app</title>";
static const unsigned char js[] = "console.log(1)";
static const unsigned char js_gz[] = "GZ";
static const unsigned char js_br[] = "BR";
static const struct http_asset test_assets[] = {
	{"/index.html", "text/html; charset=utf-8", idx, sizeof(idx) - 1, NULL, 0, NULL, 0,
	 "\"idx1\""},
	{"/assets/app-1234.js", "text/javascript; charset=utf-8", js, sizeof(js) - 1, js_gz, 2,
	 js_br, 2, "\"js1\""},
};
static const struct http_asset_set test_set = {test_assets, 2};

static void test_static(void **state)
{
	struct tu_fixture *t = *state;
	struct svc s;
	svc_open(&s, t, true, false, "192.0.2.40");
	const char *r = svc_req(&s, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 404 "); /* nothing embedded yet */
	http_static_set(&test_set);
	r = svc_req(&s, "GET /mailbox/inbox HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "<title>app</title>");
	assert_has(r, "Cache-Control: no-cache\r\n");
	assert_has(r, "script-src 'self'; style-src 'self' 'unsafe-inline'");
	assert_has(r, "frame-ancestors 'none'");
	/* The mail frame for remote images: its own policy, framed by us only. */
	r = svc_req(&s, "GET /mail-frame HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "Content-Type: text/html; charset=utf-8\r\n");
	assert_has(r, "script-src 'none'; img-src http: https: data:;");
	assert_has(r, "frame-ancestors 'self'; sandbox allow-same-origin allow-popups ");
	assert_has(r, "X-Frame-Options: SAMEORIGIN\r\n");
	assert_has(r, "Referrer-Policy: no-referrer\r\n");
	assert_lacks(r, "<script");
	r = svc_req(&s, "POST /mail-frame HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	assert_has(r, "HTTP/1.1 405 ");
	r = svc_req(&s,
		    "GET /assets/app-1234.js HTTP/1.1\r\nHost: h\r\n"
		    "Accept-Encoding: gzip, deflate, br\r\n\r\n");
	assert_has(r, "Content-Encoding: br\r\n");
	assert_has(r, "ETag: \"js1-br\"\r\n");
	assert_has(r, "Cache-Control: public, max-age=31536000, immutable\r\n");
	assert_has(r, "Vary: Accept-Encoding\r\n");
	assert_has(r, "\r\n\r\nBR");
	r = svc_req(&s,
		    "GET /assets/app-1234.js HTTP/1.1\r\nHost: h\r\n"
		    "Accept-Encoding: br;q=0, gzip\r\n\r\n");
	assert_has(r, "Content-Encoding: gzip\r\n");
	assert_has(r, "\r\n\r\nGZ");
	r = svc_req(&s, "GET /assets/app-1234.js HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_lacks(r, "Content-Encoding");
	assert_has(r, "\r\n\r\nconsole.log(1)");
	r = svc_req(&s,
		    "GET /assets/app-1234.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\n"
		    "If-None-Match: \"other\", \"js1-br\"\r\n\r\n");
	assert_has(r, "HTTP/1.1 304 ");
	assert_lacks(r, "Content-Length");
	assert_true(strstr(r, "\r\n\r\n")[4] == '\0');
	r = svc_req(&s, "GET /assets/app-9999.js HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 404 ");
	r = svc_req(&s, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	assert_has(r, "HTTP/1.1 405 ");
	r = svc_req(&s, "GET /api/nothing HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 404 ");
	r = svc_req(&s, "GET /api/login HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 405 ");
	assert_has(r, "Allow: POST\r\n");
	svc_close(&s);
}

static void test_redirect_and_autoconfig(void **state)
{
	struct tu_fixture *t = *state;
	struct svc s;
	svc_open(&s, t, false, false, "192.0.2.50");
	const char *r =
		svc_req(&s, "GET /some/path?q=1 HTTP/1.1\r\nHost: mail.example.org:8080\r\n\r\n");
	assert_has(r, "HTTP/1.1 301 ");
	assert_has(r, "Location: https://mail.example.org:8443/some/path?q=1\r\n");
	svc_close(&s);
	/* From loopback plain HTTP is served. */
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "GET /mail/config-v1.1.xml?emailaddress=a%%40example.org HTTP/1.1\r\n"
		    "Host: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "<emailProvider id=\"example.org\">");
	assert_has(r, "<hostname>mx.example.org</hostname>");
	assert_has(r, "<port>993</port>\n      <socketType>SSL</socketType>");
	assert_has(r, "<port>587</port>\n      <socketType>STARTTLS</socketType>");
	assert_lacks(r, "pop3");
	r = svc_req(&s,
		    "POST /Autodiscover/Autodiscover.xml HTTP/1.1\r\nHost: h\r\n"
		    "Content-Length: 61\r\n\r\n"
		    "<Request><EMailAddress>a@example.org</EMailAddress></Request>");
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "<Type>IMAP</Type>");
	assert_has(r, "<Port>993</Port>");
	assert_has(r, "<LoginName>a@example.org</LoginName>");
	assert_has(r, "<Type>SMTP</Type>");
	assert_has(r, "<Encryption>TLS</Encryption>");
	r = svc_req(&s, "GET /api/mobileconfig HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_has(r, "HTTP/1.1 401 ");
	char b64[256];
	basic_cred(b64, sizeof(b64));
	r = svc_req(&s,
		    "GET /api/mobileconfig HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "Content-Type: application/x-apple-aspen-config");
	assert_has(r, "<string>com.apple.mail.managed</string>");
	assert_has(r, "<key>IncomingMailServerPortNumber</key>\n\t\t\t<integer>993</integer>");
	assert_has(r, "<key>OutgoingMailServerPortNumber</key>\n\t\t\t<integer>587</integer>");
	assert_lacks(r, PASSWORD);
	assert_lacks(r, "Password</key>\n\t\t\t<string>");
	svc_close(&s);
}

static void test_eventsource_wakes(void **state)
{
	struct tu_fixture *t = *state;
	struct svc s;
	svc_open(&s, t, false, true, "127.0.0.1");
	char b64[256];
	basic_cred(b64, sizeof(b64));
	const char *r = svc_req(&s,
				"GET /jmap/eventsource?types=*&closeafter=no&ping=1 HTTP/1.1\r\n"
				"Host: h\r\nAuthorization: Basic %s\r\n\r\n",
				b64);
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "Content-Type: text/event-stream\r\n");
	assert_has(r, "Cache-Control: no-cache\r\n");
	/* Nothing new: no output, until a ping is due. */
	buf_clear(&s.out);
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_OK);
	assert_int_equal(s.out.len, 0);
	usleep(1100 * 1000);
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_OK);
	assert_has(buf_cstr(&s.out), "event: ping\ndata: {\"interval\":1}\n\n");
	/* A delivery to the account fires the subscription (the push itself is jmap/'s). */
	tu_deliver_subject(t, NULL, "wake", 0);
	buf_clear(&s.out);
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_OK);
	assert_int_equal(http_proto.idle_timeout(s.session), 86400);
	r = svc_req(&s, "GET /jmap/eventsource?closeafter=maybe HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(s.out.len, 0); /* the stream ignores input */
	svc_close(&s);
	/* closeafter=state: the first change ends the response. */
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "GET /jmap/eventsource?closeafter=state HTTP/1.1\r\nHost: h\r\n"
		    "Authorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 200 ");
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_OK);
	tu_deliver_subject(t, NULL, "wake2", 0);
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_CLOSE);
	svc_close(&s);
	/* types=: a change to other types sends nothing and ends no long poll. */
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "GET /jmap/eventsource?types=VacationResponse&closeafter=state HTTP/1.1\r\n"
		    "Host: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 200 ");
	tu_deliver_subject(t, NULL, "wake3", 0);
	buf_clear(&s.out);
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_OK);
	assert_int_equal(s.out.len, 0);
	svc_close(&s);
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "GET /jmap/eventsource?types=Email,Thread&closeafter=no HTTP/1.1\r\n"
		    "Host: h\r\nAuthorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "event: state\n");
	assert_has(r, "\"Thread\":");
	assert_lacks(r, "\"Mailbox\"");
	tu_deliver_subject(t, NULL, "wake4", 0);
	buf_clear(&s.out);
	assert_int_equal(http_proto.poll(s.session, &s.out), CONN_OK);
	assert_has(buf_cstr(&s.out), "\"Email\":");
	assert_lacks(buf_cstr(&s.out), "\"Mailbox\"");
	assert_lacks(buf_cstr(&s.out), "\"VacationResponse\"");
	svc_close(&s);
	/* an empty item in types= */
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "GET /jmap/eventsource?types=Email,,Mailbox HTTP/1.1\r\nHost: h\r\n"
		    "Authorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 400 ");
	svc_close(&s);
	svc_open(&s, t, false, true, "127.0.0.1");
	r = svc_req(&s,
		    "GET /jmap/eventsource?closeafter=maybe HTTP/1.1\r\nHost: h\r\n"
		    "Authorization: Basic %s\r\n\r\n",
		    b64);
	assert_has(r, "HTTP/1.1 400 ");
	svc_close(&s);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_handler_yields),
		cmocka_unit_test(test_pipelining_order_and_byte_at_a_time),
		cmocka_unit_test(test_smuggling_refused),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_versions_connection_expect),
		cmocka_unit_test(test_streaming_bounded),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_parser_helpers),
		cmocka_unit_test(test_session_table),
		cmocka_unit_test(test_notify_account),
		cmocka_unit_test_setup_teardown(test_api_session_flow, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_basic_auth, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_password_change, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_static, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_redirect_and_autoconfig, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_eventsource_wakes, setup_store,
						teardown_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
