/* SPDX-License-Identifier: MIT */
/*
 * Internals of the HTTP module.
 *
 * The engine (http-engine.c with the parser in http-parser.c and the
 * response writer in http-response.c) is pure: it is fed bytes, parses one
 * request at a time (head, then a Content-Length or chunked body), hands it
 * to a handler through struct http_hooks and writes the handler's response,
 * so unit tests and the fuzzer drive it with a fake handler. Pipelined
 * requests wait in the input buffer and are answered in order. Anything
 * that lets two parsers disagree on where a request ends (request
 * smuggling) is answered 400 and the connection closed.
 *
 * The handler side (http-service.c, the conn_proto) routes requests
 * (http-router.c) to the web session API (http-api.c), JMAP (http-jmap.c,
 * http-events.c), static files (http-static.c) and auto-configuration
 * (http-autoconfig.c), after authentication (http-auth.c) against the
 * process-wide session and credential tables (http-session.c).
 */
#ifndef FACTEUR_HTTP_PRIVATE_H
#define FACTEUR_HTTP_PRIVATE_H

#include "http/http.h"
#include "lib/buf.h"
#include "net/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps, checked before the line feed arrives. */
#define HTTP_MAX_REQUEST_LINE 8192 /* else 414 */
#define HTTP_MAX_HEAD 32768        /* request line + header fields, else 431 */
#define HTTP_MAX_HEADERS 100       /* header fields, else 431 */
#define HTTP_MAX_CHUNK_LINE 1024   /* chunk size line with extensions, else 400 */
#define HTTP_STREAM_SLICE (64 * 1024)
/* Stop answering pipelined requests while this much output waits. */
#define HTTP_OUT_HIGH (256 * 1024)

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
};

struct http_header {
	const char *name; /* as received; compare case-insensitively */
	const char *value;
};

/* One parsed request. Strings point into the engine's head buffer. */
struct http_request {
	enum http_method method;
	const char *method_name;
	const char *path;  /* origin-form target up to '?' (or "*"), not decoded */
	const char *query; /* after '?', "" when none */
	int minor;         /* HTTP/1.minor: 0 or 1 */
	const char *host;  /* the Host field ("" for HTTP/1.0 without one) */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	bool keep_alive; /* the client allows another request on this connection */
	struct buf body; /* the whole body, chunked coding removed */
};

/* What a handler answers. The engine adds Date, Content-Length, Connection. */
struct http_response {
	int status;
	const char *content_type; /* NULL: none */
	struct buf headers;       /* extra "Name: value\r\n" lines */
	struct buf body;
	/* Instead of body: stream len bytes of fd from offset (the engine closes fd). */
	int fd;
	uint64_t offset, len;
	/* text/event-stream: the body so far, then hooks->events_poll until the end. */
	bool events;
	bool close;      /* close the connection after this response */
	bool spa;        /* the web app's Content-Security-Policy instead of JSON's */
	bool mail_frame; /* the mail frame's policy (remote images; framed by us) */
	bool no_length;  /* 1xx/204/304 semantics: no Content-Length */
	/*
	 * Not answered yet: work goes on elsewhere (a password check in the
	 * auth pool). The engine drops this response, waits (CONN_WAIT) and
	 * calls handle again with the same request on resume.
	 */
	bool wait;
	/*
	 * Not answered yet: the handler has costly work to do, or has done a
	 * slice of a long job (JMAP's threading of new messages), and lets the
	 * worker's other connections go first (the static files a page asked
	 * for with it). The engine drops this response, yields (CONN_YIELD)
	 * and calls handle again with the same request on the next turn.
	 */
	bool yield;
};

/* Security headers, Date etc. depend on these connection facts. */
struct http_settings {
	bool tls;         /* HSTS over HTTPS */
	int idle_timeout; /* seconds between requests (http_timeout) */
	const char *sid;  /* session id for log lines */
};

/* How the engine reaches its handler; ctx is given to http_engine_create. */
struct http_hooks {
	/* Largest body accepted for this request (its head is parsed). */
	size_t (*body_limit)(void *ctx, const struct http_request *req);
	/* Fill resp (status 200, fd -1 on entry). Must not call back into the engine. */
	void (*handle)(void *ctx, const struct http_request *req, struct http_response *resp);
	/*
	 * While an event stream is open: append new events to out (about
	 * every 200 ms). CONN_CLOSE ends the stream and the connection.
	 */
	enum conn_result (*events_poll)(void *ctx, struct buf *out);
	/* The event stream ended (closed either way): release its resources. */
	void (*events_end)(void *ctx);
};

struct http_engine;

struct http_engine *http_engine_create(const struct http_settings *settings,
				       const struct http_hooks *hooks, void *ctx);
void http_engine_destroy(struct http_engine **e);
/*
 * Handle every complete request in `in` (conn_proto.input contract):
 * CONN_MORE while a response is streamed from an fd (call resume),
 * CONN_WAIT while the handler waits (resp->wait: call resume, which runs
 * the handler again), CONN_YIELD when it yields (resp->yield: the same on
 * the loop's next turn), CONN_CLOSE after a response that ends the connection.
 */
enum conn_result http_engine_input(struct http_engine *e, struct buf *in, struct buf *out);
enum conn_result http_engine_resume(struct http_engine *e, struct buf *out);
enum conn_result http_engine_poll(struct http_engine *e, struct buf *out);
int http_engine_idle_timeout(const struct http_engine *e);
/* True while an event stream is open (tests). */
bool http_engine_streaming_events(const struct http_engine *e);

/* --- parser (http-parser.c) ------------------------------------------- */

/* Incremental scan for the end of a request head. */
struct http_scan {
	size_t pos;        /* next byte to look at */
	size_t line_start; /* offset of the current line */
	bool request_line; /* the request line is complete */
	unsigned n_fields;
};

/*
 * Look at data[sc->pos..len): returns the length of the head (through the
 * empty line) when complete, 0 when more bytes are needed, or -STATUS on a
 * protocol error (400 bare CR/LF or NUL, 414 request line too long, 431
 * head too large or too many fields), detected as soon as the bytes show it.
 */
long http_head_scan(struct http_scan *sc, const char *data, size_t len);

/*
 * Parse a complete head (modified in place: lines are NUL-terminated) into
 * req. Returns 0, or an error status (400, 501 unknown method or transfer
 * coding, 505 version). On success *content_length_r is the body length
 * (0 when none) and *chunked_r says the body is chunked; *expect_continue_r
 * says the client waits for "100 Continue".
 */
int http_head_parse(char *head, size_t len, struct http_request *req, uint64_t *content_length_r,
		    bool *chunked_r, bool *expect_continue_r);

/* The value of header name (first one), or NULL. */
const char *http_header_get(const struct http_request *req, const char *name);

/* Chunked body decoder state. */
struct http_chunked {
	int state; /* internal */
	uint64_t remaining;
	size_t trailer_bytes;
};

/*
 * Decode chunked bytes from in into body, consuming them. Returns 1 when
 * the last chunk and trailers are read, 0 when more is needed, or -STATUS
 * (400 bad size/framing, 413 body over limit, 503 out of memory).
 */
int http_chunked_feed(struct http_chunked *ch, struct buf *in, struct buf *body, size_t limit);

/* --- responses (http-response.c) --------------------------------------- */

const char *http_status_text(int status);
/* "Sun, 06 Nov 1994 08:49:37 GMT" for now, into out (size >= 30). */
void http_date(char *out, size_t size);
/*
 * Write the status line and every header of resp (security headers,
 * Date, Content-Type, Content-Length of body_len unless no_length,
 * Connection: close when closing) and the blank line.
 */
void http_response_head(struct buf *out, const struct http_settings *settings,
			const struct http_response *resp, uint64_t body_len, bool closing);
/* A complete small error response with a plain-text body. */
void http_response_error(struct buf *out, const struct http_settings *settings, int status,
			 bool closing);

/*
 * Percent-decode a path segment (len bytes) into out (NUL-terminated);
 * -1 on bad escapes, NUL or no room. Query values also turn '+' into ' '.
 */
int http_url_decode(const char *src, size_t len, char *out, size_t outsz);
/* The decoded value of query parameter name, into out; 1 found, 0 not, -1 bad. */
int http_query_param(const char *query, const char *name, char *out, size_t outsz);

/* --- sessions and credentials (http-session.c) ---------------------------- */

#define HTTP_TOKEN_LEN 64 /* hex of 256 random bits */
#define HTTP_SESSION_IDLE_MS (7LL * 24 * 3600 * 1000)
#define HTTP_SESSIONS_MAX 65536

struct http_web_session {
	char token[HTTP_TOKEN_LEN + 1];
	char csrf[HTTP_TOKEN_LEN + 1];
	int64_t account_id;
	char username[320];
};

/* Create a session for the account. Returns 0, -1 when the table is full. */
int http_session_create(int64_t account_id, const char *username, struct http_web_session *out);
/* Look token up (refreshing its expiry): 1 found (copied to out), 0 not. */
int http_session_find(const char *token, struct http_web_session *out);
void http_session_remove(const char *token);
/* Forget every session of the account except keep_token (may be NULL). */
void http_session_remove_account(int64_t account_id, const char *keep_token);
size_t http_session_count(void);

/* Free the table (end of process, tests). */
void http_session_reset(void);

/* --- the handler side (http-service.c and the route files) ----------------- */

struct server_ctx;
struct http_events;

/* Who made the current request, once authenticated. */
struct http_identity {
	int64_t account_id;
	char username[320];
	bool has_session; /* cookie or Bearer: session below is valid */
	bool via_cookie;  /* the browser's ambient credential: CSRF applies */
	struct http_web_session session;
};

/* One HTTP connection's handler state (the hooks' ctx). */
struct store_account;

struct http_conn {
	struct server_ctx *ctx;
	const struct conn_info *info;
	struct http_engine *engine;
	struct http_identity id;
	struct http_events *events; /* open event stream, or NULL */
	struct auth_check *check;   /* a password check the request waits for */
	int check_for;              /* ... started by whom (enum http_check_for) */
	bool yielded;               /* the request's handler yielded once already */
};

/* http-router.c: the hooks' handle and body_limit. */
void http_route(struct http_conn *c, const struct http_request *req, struct http_response *resp);
size_t http_route_body_limit(struct http_conn *c, const struct http_request *req);

/* Set a JSON body (takes the reference of a jansson json_t *) and status. */
void http_reply_json(struct http_response *resp, int status, void *json);
/* {"error": code} with status. */
void http_reply_error(struct http_response *resp, int status, const char *code);
/* "https://host[:port]" or "http://..." as the client reached us. */
void http_base_url(const struct http_conn *c, const struct http_request *req, char *out,
		   size_t size);
/* The port of the first listener of this kind in the configuration, 0 if none. */
int http_config_port(const struct server_ctx *ctx, int kind);

/*
 * http-auth.c: authenticate req (Authorization Basic/Bearer, or the session
 * cookie with X-CSRF-Token on anything but GET/HEAD) into c->id. Returns
 * 0, or fills resp with the refusal (401 with a Basic challenge when
 * challenge is set, 403 CSRF/cleartext, 429 throttled, 500) and returns -1.
 * -1 with resp->wait set: a Basic password is being checked; return, the
 * handler runs again.
 */
int http_auth_request(struct http_conn *c, const struct http_request *req, bool challenge,
		      struct http_response *resp);
/*
 * Check user/password for this connection's client through the auth pool
 * (auth_check_start). AUTH_PENDING: resp->wait is set; the caller returns
 * and, called again with the same request, calls this again, which then
 * polls the check in c->check. who tells apart two checks of one request
 * (Basic, then the old password of /api/password). Other results are final (*account_r filled
 * on AUTH_OK; clear its password_hash).
 */
enum http_check_for { HTTP_CHECK_BASIC = 1, HTTP_CHECK_LOGIN, HTTP_CHECK_PASSWORD };
int http_auth_password(struct http_conn *c, enum http_check_for who, const char *user,
		       const char *password, struct store_account *account_r,
		       struct http_response *resp);
/* The session cookie's name on this connection. */
const char *http_cookie_name(const struct http_conn *c);
/* The value of cookie name in the request, into out; 1 found, 0 not. */
int http_cookie_get(const struct http_request *req, const char *name, char *out, size_t size);
/* Is a/b the same secret (constant time over the expected length)? */
bool http_token_equal(const char *expected, const char *given);

/* http-api.c: /api/login, /api/me, /api/logout, /api/password. */
void http_api_login(struct http_conn *c, const struct http_request *req,
		    struct http_response *resp);
void http_api_me(struct http_conn *c, const struct http_request *req, struct http_response *resp);
void http_api_logout(struct http_conn *c, const struct http_request *req,
		     struct http_response *resp);
void http_api_password(struct http_conn *c, const struct http_request *req,
		       struct http_response *resp);

/* http-jmap.c: the JMAP endpoints (authenticated by the caller). */
/* The JMAP session resource as a jansson json_t * (for /api/me), or NULL. */
void *http_jmap_session_json(struct http_conn *c, const struct http_request *req);
/*
 * The answer (methodResponses array, json_t *) to the web application's
 * first JMAP request - the folders, inbox_id's first page and the
 * identities - for /api/me to carry; NULL on error.
 */
void *http_jmap_first_json(struct http_conn *c, const struct http_request *req,
			   const char *inbox_id);
void http_jmap_session(struct http_conn *c, const struct http_request *req,
		       struct http_response *resp);
void http_jmap_api(struct http_conn *c, const struct http_request *req, struct http_response *resp);
void http_jmap_upload(struct http_conn *c, const struct http_request *req,
		      struct http_response *resp);
void http_jmap_download(struct http_conn *c, const struct http_request *req,
			struct http_response *resp);

/* http-events.c: GET /jmap/eventsource and the stream's life. */
void http_events_open(struct http_conn *c, const struct http_request *req,
		      struct http_response *resp);
enum conn_result http_events_poll(struct http_conn *c, struct buf *out);
void http_events_close(struct http_conn *c);

/* http-autoconfig.c */
void http_autoconfig_thunderbird(struct http_conn *c, const struct http_request *req,
				 struct http_response *resp);
void http_autoconfig_outlook(struct http_conn *c, const struct http_request *req,
			     struct http_response *resp);
void http_autoconfig_mobileconfig(struct http_conn *c, const struct http_request *req,
				  struct http_response *resp);
/* Append s to out with XML's five special characters escaped. */
void http_xml_escape(struct buf *out, const char *s);

/* --- static files (http-static.c) --------------------------------------- */

/*
 * Answer GET/HEAD of path from the embedded assets: 1 answered (200, 304
 * with If-None-Match, the variant Accept-Encoding allows), 0 not an asset.
 */
int http_static_serve(const struct http_request *req, struct http_response *resp);

/*
 * GET /mail-frame: the empty document the web app fills with a sanitised
 * HTML message once its reader asked for remote images. Its own policy
 * (scripts none, sandboxed, framed by our origin only) allows images from
 * http: and https:, which the app's policy (inherited by srcdoc frames)
 * never does; the server itself fetches nothing.
 */
void http_static_mail_frame(struct http_conn *c, const struct http_request *req,
			    struct http_response *resp);

#endif
