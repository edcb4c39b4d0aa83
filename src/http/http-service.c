/* SPDX-License-Identifier: MIT */
/*
 * The glue between the HTTP engine and the daemon: http_proto, the
 * conn_proto that net/ drives for the "http" and "https" listeners. Each
 * connection gets an engine whose handler is the router (http-router.c)
 * with this worker's server_ctx; an open event stream is polled from the
 * connection layer's 200 ms tick.
 */
#include "http/http-private.h"

#include "auth/auth.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"

#include <string.h>

static size_t svc_body_limit(void *ctx, const struct http_request *req)
{
	return http_route_body_limit(ctx, req);
}

static void svc_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct http_conn *c = ctx;
	memset(&c->id, 0, sizeof(c->id));
	http_route(c, req, resp);
	/* A check nobody waits for any more must not answer the next request. */
	if (!resp->wait && !resp->yield)
		auth_check_abort(&c->check);
	/* Nothing of one request's identity survives into the next. */
	explicit_bzero(&c->id, sizeof(c->id));
}

static enum conn_result svc_events_poll(void *ctx, struct buf *out)
{
	return http_events_poll(ctx, out);
}

static void svc_events_end(void *ctx)
{
	http_events_close(ctx);
}

static const struct http_hooks svc_hooks = {
	.body_limit = svc_body_limit,
	.handle = svc_handle,
	.events_poll = svc_events_poll,
	.events_end = svc_events_end,
};

static void *http_open(struct server_ctx *ctx, const struct conn_info *info, struct buf *out)
{
	(void)out; /* HTTP has no greeting */
	struct http_conn *c = xcalloc(1, sizeof(*c));
	c->ctx = ctx;
	c->info = info;
	struct http_settings settings = {
		.tls = info->tls,
		.idle_timeout = (int)ctx->config->http_timeout,
		.sid = info->session_id,
	};
	c->engine = http_engine_create(&settings, &svc_hooks, c);
	return c;
}

static enum conn_result http_input(void *session, struct buf *in, struct buf *out)
{
	struct http_conn *c = session;
	return http_engine_input(c->engine, in, out);
}

static enum conn_result http_resume(void *session, struct buf *out)
{
	struct http_conn *c = session;
	return http_engine_resume(c->engine, out);
}

static void http_tls_started(void *session, struct buf *out)
{
	(void)session, (void)out; /* no STARTTLS in HTTP: never called */
}

static void http_timeout(void *session, struct buf *out)
{
	(void)session, (void)out; /* an idle keep-alive connection just closes */
}

static int http_idle_timeout(void *session)
{
	struct http_conn *c = session;
	return http_engine_idle_timeout(c->engine);
}

static enum conn_result http_poll(void *session, struct buf *out)
{
	struct http_conn *c = session;
	return http_engine_poll(c->engine, out);
}

static void http_close(void *session)
{
	struct http_conn *c = session;
	http_engine_destroy(&c->engine); /* ends an event stream through the hooks */
	auth_check_abort(&c->check);
	free(c);
}

const struct conn_proto http_proto = {
	.name = "http",
	.alpn = "\x08http/1.1",
	.open = http_open,
	.input = http_input,
	.resume = http_resume,
	.tls_started = http_tls_started,
	.timeout = http_timeout,
	.idle_timeout = http_idle_timeout,
	.poll = http_poll,
	.close = http_close,
};
