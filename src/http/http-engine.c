/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 connection engine: one request at a time through the states
 * HEAD (scan and parse the head) -> BODY or CHUNKED (collect the body up to
 * the handler's limit) -> the handler (WAIT while it waits for work done
 * elsewhere, then the handler again) -> the response, then HEAD again for
 * the next (pipelined) request, which simply waits in the input buffer. A
 * response from a file is streamed in HTTP_STREAM_SLICE pieces through
 * CONN_MORE; an event stream stays open and is fed from the poll hook.
 * Protocol errors get their status and "Connection: close": after a bad
 * head nothing that follows can be trusted to start a request.
 */
#include "http/http-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum http_state { HS_HEAD, HS_BODY, HS_CHUNKED, HS_WAIT, HS_STREAM, HS_EVENTS, HS_CLOSED };

struct http_engine {
	struct http_settings settings;
	char sid[32];
	const struct http_hooks *hooks;
	void *ctx;
	enum http_state state;
	struct http_scan scan;
	struct buf head;
	struct http_request req;
	uint64_t body_left;
	size_t body_limit;
	struct http_chunked chunked;
	bool closing; /* after the response being streamed */
	int fd;
	uint64_t offset, left;
	bool events_open;
	bool yielding; /* HS_WAIT for a handler that yielded (else one that waits) */
};

struct http_engine *http_engine_create(const struct http_settings *settings,
				       const struct http_hooks *hooks, void *ctx)
{
	struct http_engine *e = xcalloc(1, sizeof(*e));
	e->settings = *settings;
	snprintf(e->sid, sizeof(e->sid), "%s", settings->sid != NULL ? settings->sid : "-");
	e->settings.sid = e->sid;
	e->hooks = hooks;
	e->ctx = ctx;
	e->fd = -1;
	buf_init(&e->head);
	buf_init(&e->req.body);
	return e;
}

static void end_events(struct http_engine *e)
{
	if (e->events_open && e->hooks->events_end != NULL)
		e->hooks->events_end(e->ctx);
	e->events_open = false;
}

void http_engine_destroy(struct http_engine **ep)
{
	struct http_engine *e = *ep;
	if (e == NULL)
		return;
	if (e->fd >= 0)
		close(e->fd);
	end_events(e);
	buf_deinit(&e->head);
	buf_deinit(&e->req.body);
	free(e);
	*ep = NULL;
}

static void log_request(struct http_engine *e, const char *method, const char *path, int status)
{
	char safe[160];
	str_sanitize(safe, sizeof(safe), path, strlen(path));
	log_info("http", "session=%s method=%s path=%s status=%d", e->sid, method, safe, status);
}

static enum conn_result fail(struct http_engine *e, struct buf *out, int status)
{
	log_info("http.refused", "session=%s status=%d", e->sid, status);
	http_response_error(out, &e->settings, status, true);
	e->state = HS_CLOSED;
	return CONN_CLOSE;
}

/* Run the handler and write its answer; CONN_OK means "next request". */
static enum conn_result respond(struct http_engine *e, struct buf *out)
{
	struct http_request *req = &e->req;
	struct http_response resp = {.status = 200, .fd = -1};
	buf_init(&resp.headers);
	buf_init(&resp.body);
	e->hooks->handle(e->ctx, req, &resp);
	if (resp.wait || resp.yield) {
		/* The request (head and body) stays as it is for the next try. */
		buf_deinit(&resp.headers);
		buf_deinit(&resp.body);
		if (resp.fd >= 0)
			close(resp.fd);
		e->state = HS_WAIT;
		e->yielding = !resp.wait;
		return e->yielding ? CONN_YIELD : CONN_WAIT;
	}
	bool head_only = req->method == HTTP_HEAD;
	bool closing = !req->keep_alive || resp.close || resp.events;
	log_request(e, req->method_name, req->path, resp.status);
	uint64_t len = resp.fd >= 0 ? resp.len : resp.body.len;
	http_response_head(out, &e->settings, &resp, len, closing);
	enum conn_result r = closing ? CONN_CLOSE : CONN_OK;
	e->state = closing ? HS_CLOSED : HS_HEAD;
	if (resp.events && !head_only) {
		buf_append(out, resp.body.data, resp.body.len);
		e->state = HS_EVENTS;
		e->events_open = true;
		r = CONN_OK;
	} else if (resp.events) {
		e->events_open = true;
		end_events(e);
	} else if (resp.fd >= 0 && !head_only && resp.len > 0) {
		e->fd = resp.fd;
		e->offset = resp.offset;
		e->left = resp.len;
		e->closing = closing;
		e->state = HS_STREAM;
		r = CONN_MORE;
	} else if (resp.fd >= 0) {
		close(resp.fd);
	} else if (!head_only) {
		buf_append(out, resp.body.data, resp.body.len);
	}
	buf_deinit(&resp.headers);
	buf_deinit(&resp.body);
	buf_clear(&req->body);
	return r;
}

/* A complete head is at the front of in (len bytes): parse it. */
static enum conn_result start_request(struct http_engine *e, struct buf *in, size_t len,
				      struct buf *out)
{
	buf_clear(&e->head);
	buf_append(&e->head, in->data, len);
	buf_consume(in, len);
	memset(&e->scan, 0, sizeof(e->scan));
	struct buf body = e->req.body;
	memset(&e->req, 0, sizeof(e->req));
	e->req.body = body;
	buf_clear(&e->req.body);
	uint64_t length;
	bool chunked, expect;
	int st = http_head_parse(e->head.data, len, &e->req, &length, &chunked, &expect);
	if (st != 0)
		return fail(e, out, st);
	e->body_limit = e->hooks->body_limit(e->ctx, &e->req);
	if (length > e->body_limit)
		return fail(e, out, 413);
	if (expect && (length > 0 || chunked))
		buf_append_str(out, "HTTP/1.1 100 Continue\r\n\r\n");
	memset(&e->chunked, 0, sizeof(e->chunked));
	if (chunked) {
		e->state = HS_CHUNKED;
	} else if (length > 0) {
		e->body_left = length;
		e->state = HS_BODY;
	} else {
		return respond(e, out);
	}
	return CONN_OK;
}

enum conn_result http_engine_input(struct http_engine *e, struct buf *in, struct buf *out)
{
	for (;;) {
		switch (e->state) {
		case HS_CLOSED:
			buf_clear(in);
			return CONN_CLOSE;
		case HS_EVENTS:
			buf_clear(in); /* an event stream is one way */
			return CONN_OK;
		case HS_STREAM:
			return CONN_MORE;
		case HS_WAIT:
			return e->yielding ? CONN_YIELD : CONN_WAIT;
		case HS_HEAD: {
			if (out->len >= HTTP_OUT_HIGH)
				return CONN_OK; /* let the answers drain first */
			/* RFC 9112 2.2: empty lines before a request are ignored. */
			while (e->scan.pos == 0 && in->len >= 2 && in->data[0] == '\r' &&
			       in->data[1] == '\n')
				buf_consume(in, 2);
			if (in->len == 0)
				return CONN_OK;
			long n = http_head_scan(&e->scan, in->data, in->len);
			if (n < 0)
				return fail(e, out, (int)-n);
			if (n == 0)
				return CONN_OK;
			enum conn_result r = start_request(e, in, (size_t)n, out);
			if (r != CONN_OK)
				return r;
			break;
		}
		case HS_BODY: {
			size_t n = in->len < e->body_left ? in->len : (size_t)e->body_left;
			if (buf_try_append(&e->req.body, in->data, n) < 0) {
				/* Out of memory for this body: refuse this
				 * request, not the daemon (issue 9 item 4). */
				buf_deinit(&e->req.body);
				return fail(e, out, 503);
			}
			buf_consume(in, n);
			e->body_left -= n;
			if (e->body_left > 0)
				return CONN_OK;
			enum conn_result r = respond(e, out);
			if (r != CONN_OK)
				return r;
			break;
		}
		case HS_CHUNKED: {
			int c = http_chunked_feed(&e->chunked, in, &e->req.body, e->body_limit);
			if (c < 0)
				return fail(e, out, -c);
			if (c == 0)
				return CONN_OK;
			enum conn_result r = respond(e, out);
			if (r != CONN_OK)
				return r;
			break;
		}
		}
	}
}

enum conn_result http_engine_resume(struct http_engine *e, struct buf *out)
{
	if (e->state == HS_WAIT)
		return respond(e, out); /* the handler again, same request */
	if (e->state != HS_STREAM)
		return e->state == HS_CLOSED ? CONN_CLOSE : CONN_OK;
	size_t n = e->left < HTTP_STREAM_SLICE ? (size_t)e->left : HTTP_STREAM_SLICE;
	buf_reserve(out, n);
	ssize_t got = pread(e->fd, out->data + out->len, n, (off_t)e->offset);
	if (got <= 0) {
		/* The length is promised: the only honest end is closing. */
		log_warn("http.stream_short", "session=%s", e->sid);
		close(e->fd);
		e->fd = -1;
		e->state = HS_CLOSED;
		return CONN_CLOSE;
	}
	out->len += (size_t)got;
	e->offset += (uint64_t)got;
	e->left -= (uint64_t)got;
	if (e->left > 0)
		return CONN_MORE;
	close(e->fd);
	e->fd = -1;
	e->state = e->closing ? HS_CLOSED : HS_HEAD;
	return e->closing ? CONN_CLOSE : CONN_OK;
}

enum conn_result http_engine_poll(struct http_engine *e, struct buf *out)
{
	if (e->state != HS_EVENTS)
		return CONN_OK;
	enum conn_result r = e->hooks->events_poll(e->ctx, out);
	if (r == CONN_CLOSE) {
		end_events(e);
		e->state = HS_CLOSED;
	}
	return r;
}

int http_engine_idle_timeout(const struct http_engine *e)
{
	/* An event stream is quiet by nature; a dead peer shows when we write. */
	return e->state == HS_EVENTS ? 86400 : e->settings.idle_timeout;
}

bool http_engine_streaming_events(const struct http_engine *e)
{
	return e->state == HS_EVENTS;
}
