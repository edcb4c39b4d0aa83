/* SPDX-License-Identifier: MIT */
/*
 * JMAP push over EventSource (RFC 8620 7.3): GET /jmap/eventsource opens a
 * text/event-stream that stays open. The connection holds a non-blocking
 * eventfd subscribed to the store's change hub for the whole account
 * (store_notify_subscribe_account); the engine's poll hook, called about
 * every 200 ms by the connection layer, reads it and, when it fired,
 * appends jmap_push_state's "event: state" - the same wake-up path as IMAP
 * IDLE, so a delivery reaches the browser within a fraction of a second
 * without polling the database. types= limits the events to the listed
 * data types ("*": all): an event names only listed types whose state
 * moved since the previous one, and a change to other types sends nothing.
 * ping=N adds an RFC 8620 "ping" event every N seconds without other
 * events; closeafter=state ends the response after the first state event
 * (long polling: the first one reports a change, not the state at open).
 */
#include "http/http-private.h"

#include "jmap/jmap.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "store/store.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HTTP_PING_MAX 3600

struct http_events {
	int fd;
	bool subscribed;
	bool close_after_state;
	int ping_ms; /* 0: no pings */
	struct jmap_push push;
	int64_t last_sent_ms;
	int64_t account_id;
	char username[320];
	char base_url[320];
};

/* 1 an event was appended, 0 nothing listed changed, -1 store error. */
static int push_state(struct http_conn *c, struct buf *out)
{
	struct http_events *ev = c->events;
	struct jmap_request r = {
		.ctx = c->ctx,
		.account_id = ev->account_id,
		.username = ev->username,
		.base_url = ev->base_url,
		.session_id = c->info->session_id,
	};
	int ret = jmap_push_state(&r, &ev->push, out);
	if (ret > 0)
		ev->last_sent_ms = time_now_ms();
	return ret;
}

/*
 * The mailboxes other accounts share with the user wake the stream too
 * (their owners' states are in the events, jmap_push_state). A mailbox
 * shared after the stream opened is seen from the next stream on.
 */
static void subscribe_shared(void *ctx, const struct store_shared_mailbox *m)
{
	struct http_events *ev = ctx;
	if (m->rights & STORE_RIGHT_LOOKUP)
		store_notify_subscribe(m->mailbox.id, ev->fd, ev);
}

void http_events_open(struct http_conn *c, const struct http_request *req,
		      struct http_response *resp)
{
	char closeafter[16] = "no", ping[16] = "0", types[256] = "*";
	struct jmap_push push;
	if (http_query_param(req->query, "closeafter", closeafter, sizeof(closeafter)) < 0 ||
	    http_query_param(req->query, "types", types, sizeof(types)) < 0 ||
	    jmap_push_init(&push, types) < 0 ||
	    http_query_param(req->query, "ping", ping, sizeof(ping)) < 0 ||
	    (strcmp(closeafter, "no") != 0 && strcmp(closeafter, "state") != 0)) {
		http_reply_error(resp, 400, "badParameter");
		return;
	}
	char *end;
	long p = strtol(ping, &end, 10);
	if (*end != '\0' || p < 0) {
		http_reply_error(resp, 400, "badParameter");
		return;
	}
	if (c->events != NULL || req->method == HTTP_HEAD) {
		/* HEAD, or a second stream on one connection: headers only. */
		resp->content_type = "text/event-stream";
		resp->close = true;
		return;
	}
	struct http_events *ev = xcalloc(1, sizeof(*ev));
	ev->close_after_state = strcmp(closeafter, "state") == 0;
	ev->push = push;
	ev->ping_ms = (int)(p > HTTP_PING_MAX ? HTTP_PING_MAX : p) * 1000;
	ev->account_id = c->id.account_id;
	snprintf(ev->username, sizeof(ev->username), "%s", c->id.username);
	http_base_url(c, req, ev->base_url, sizeof(ev->base_url));
	ev->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ev->fd < 0 || store_notify_subscribe_account(ev->account_id, ev->fd, ev) < 0 ||
	    store_acl_shared_list(c->ctx->store, ev->account_id, subscribe_shared, ev) < 0) {
		if (ev->fd >= 0)
			store_notify_unsubscribe(ev);
		if (ev->fd >= 0)
			close(ev->fd);
		free(ev);
		http_reply_error(resp, 503, "push");
		return;
	}
	ev->subscribed = true;
	c->events = ev;
	resp->events = true;
	resp->content_type = "text/event-stream";
	buf_append_str(&resp->headers, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
	/* Long polling waits for a change; the usual mode tells the state at once. */
	if (!ev->close_after_state) {
		push_state(c, &resp->body);
	} else {
		struct buf baseline; /* the states a change is measured from */
		buf_init(&baseline);
		push_state(c, &baseline);
		buf_deinit(&baseline);
	}
	ev->last_sent_ms = time_now_ms();
	log_info("http.eventsource", "session=%s account=%lld ping=%d", c->info->session_id,
		 (long long)ev->account_id, ev->ping_ms / 1000);
}

enum conn_result http_events_poll(struct http_conn *c, struct buf *out)
{
	struct http_events *ev = c->events;
	if (ev == NULL)
		return CONN_CLOSE;
	uint64_t n;
	if (read(ev->fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && push_state(c, out) > 0)
		return ev->close_after_state ? CONN_CLOSE : CONN_OK;
	if (ev->ping_ms > 0 && time_now_ms() - ev->last_sent_ms >= ev->ping_ms) {
		buf_printf(out, "event: ping\ndata: {\"interval\":%d}\n\n", ev->ping_ms / 1000);
		ev->last_sent_ms = time_now_ms();
	}
	return CONN_OK;
}

void http_events_close(struct http_conn *c)
{
	struct http_events *ev = c->events;
	if (ev == NULL)
		return;
	/* Unsubscribe first: the hub may write to fd from another thread. */
	if (ev->subscribed)
		store_notify_unsubscribe(ev);
	close(ev->fd);
	free(ev);
	c->events = NULL;
}
