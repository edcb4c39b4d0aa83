/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HTTP engine (parser, chunked decoder, response
 * writer, streaming and event streams): arbitrary bytes fed in pieces of
 * fuzzer-chosen sizes to an engine with a fake handler that answers small
 * bodies, streams from a memfd (path /s) or opens an event stream (path
 * /e). Checks the engine's contract: every answer starts with a status
 * line, a stream slice is bounded, nothing is produced after CONN_CLOSE,
 * the handler never sees a body over its limit, and the same input fed
 * whole and in pieces gets the same number of handled requests.
 */
#include "http/http-private.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int blob_fd = -1;
#define BLOB_LEN (200 * 1024)

struct fz {
	size_t limit;
	int calls;
	bool events;
};

static size_t fz_limit(void *ctx, const struct http_request *req)
{
	(void)req;
	return ((struct fz *)ctx)->limit;
}

static void fz_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct fz *f = ctx;
	f->calls++;
	if (req->body.len > f->limit)
		abort();
	if (strcmp(req->path, "/s") == 0) {
		resp->fd = dup(blob_fd);
		resp->len = BLOB_LEN - 10;
		resp->offset = 10;
		return;
	}
	if (strcmp(req->path, "/e") == 0) {
		resp->events = true;
		f->events = true;
		buf_append_str(&resp->body, "event: state\n\n");
		return;
	}
	resp->content_type = "text/plain";
	buf_printf(&resp->body, "%zu", req->body.len);
}

static enum conn_result fz_poll(void *ctx, struct buf *out)
{
	(void)ctx;
	buf_append_str(out, ": ping\n\n");
	return CONN_OK;
}

static void fz_end(void *ctx)
{
	((struct fz *)ctx)->events = false;
}

static const struct http_hooks fz_hooks = {
	.body_limit = fz_limit,
	.handle = fz_handle,
	.events_poll = fz_poll,
	.events_end = fz_end,
};

/* Feed data in step-sized pieces; returns the number of requests handled. */
static int run(const uint8_t *data, size_t size, size_t step, size_t limit)
{
	struct fz f = {.limit = limit};
	struct http_settings st = {.tls = (limit & 1) != 0, .idle_timeout = 60, .sid = "fuzz"};
	struct http_engine *e = http_engine_create(&st, &fz_hooks, &f);
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	bool closed = false;
	for (size_t off = 0; off < size && !closed; off += step) {
		size_t n = size - off < step ? size - off : step;
		buf_append(&in, data + off, n);
		for (int rounds = 0; rounds < 100000 && !closed; rounds++) {
			size_t in_before = in.len;
			buf_clear(&out);
			enum conn_result r = http_engine_input(e, &in, &out);
			if (out.len > 0 && strncmp(out.data, "HTTP/1.1 ", 9) != 0)
				abort();
			while (r == CONN_MORE) {
				buf_clear(&out);
				r = http_engine_resume(e, &out);
				if (out.len > HTTP_STREAM_SLICE)
					abort();
			}
			if (r == CONN_CLOSE) {
				buf_clear(&out);
				if (http_engine_input(e, &in, &out) != CONN_CLOSE || out.len != 0)
					abort();
				closed = true;
			}
			if (http_engine_streaming_events(e)) {
				buf_clear(&out);
				if (http_engine_poll(e, &out) != CONN_OK || out.len == 0)
					abort();
			}
			if (in.len == 0 || in.len == in_before)
				break;
		}
	}
	http_engine_destroy(&e);
	if (f.events)
		abort(); /* the end hook did not run */
	buf_deinit(&in);
	buf_deinit(&out);
	return f.calls;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (blob_fd < 0) {
		log_set_level(LOG_ERROR);
		blob_fd = memfd_create("blob", 0);
		char *b = xcalloc(1, BLOB_LEN);
		if (write_full(blob_fd, b, BLOB_LEN) < 0)
			abort();
		free(b);
	}
	if (size < 2)
		return 0;
	size_t step = data[0] == 0 ? size : data[0];
	size_t limit = (size_t)data[1] * 4;
	data += 2;
	size -= 2;
	int whole = run(data, size, size == 0 ? 1 : size, limit);
	int pieces = run(data, size, step, limit);
	if (whole != pieces)
		abort();
	return 0;
}
