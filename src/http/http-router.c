/* SPDX-License-Identifier: MIT */
/*
 * Routing: one table maps a path (exact, or a prefix for the JMAP blob
 * URLs) to its handler, the methods it allows and whether it needs an
 * authenticated user; those checks happen here, in one place, before any
 * handler runs. Plain HTTP from anywhere but loopback is redirected to the
 * HTTPS listener first, so no credential or cookie travels in clear. What
 * no route claims is the web application (http-static.c).
 */
#include "http/http-private.h"

#include "jmap/jmap.h"
#include "lib/config.h"
#include "lib/server-ctx.h"
#include "lib/util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Bodies accepted from a request that carries no credential at all. */
#define HTTP_MAX_ANON_BODY (64 * 1024)

typedef void route_fn(struct http_conn *c, const struct http_request *req,
		      struct http_response *resp);

enum route_flags {
	R_GET = 1 << 0, /* GET and HEAD */
	R_POST = 1 << 1,
	R_AUTH = 1 << 2,      /* an authenticated user is required */
	R_CHALLENGE = 1 << 3, /* 401 carries WWW-Authenticate: Basic (JMAP clients) */
	R_PREFIX = 1 << 4,    /* path starts with the pattern */
	R_NOCASE = 1 << 5,    /* Outlook capitalises as it likes */
};

struct route {
	const char *path;
	unsigned flags;
	route_fn *fn;
};

static const struct route routes[] = {
	{"/.well-known/jmap", R_GET | R_AUTH | R_CHALLENGE, http_jmap_session},
	{"/jmap/session", R_GET | R_AUTH | R_CHALLENGE, http_jmap_session},
	{"/jmap/api", R_POST | R_AUTH | R_CHALLENGE, http_jmap_api},
	{"/jmap/upload/", R_POST | R_AUTH | R_CHALLENGE | R_PREFIX, http_jmap_upload},
	{"/jmap/download/", R_GET | R_AUTH | R_CHALLENGE | R_PREFIX, http_jmap_download},
	{"/jmap/eventsource", R_GET | R_AUTH | R_CHALLENGE, http_events_open},
	{"/api/login", R_POST, http_api_login},
	{"/api/me", R_GET | R_AUTH, http_api_me},
	{"/api/logout", R_POST | R_AUTH, http_api_logout},
	{"/api/password", R_POST | R_AUTH, http_api_password},
	{"/api/mobileconfig", R_GET | R_AUTH, http_autoconfig_mobileconfig},
	{"/mail-frame", R_GET, http_static_mail_frame},
	{"/.well-known/autoconfig/mail/config-v1.1.xml", R_GET, http_autoconfig_thunderbird},
	{"/mail/config-v1.1.xml", R_GET, http_autoconfig_thunderbird},
	{"/autodiscover/autodiscover.xml", R_GET | R_POST | R_NOCASE, http_autoconfig_outlook},
};

static bool route_matches(const struct route *r, const char *path)
{
	size_t n = strlen(r->path);
	if (r->flags & R_PREFIX)
		return strncmp(path, r->path, n) == 0;
	if (r->flags & R_NOCASE)
		return strcasecmp(path, r->path) == 0;
	return strcmp(path, r->path) == 0;
}

void http_reply_json(struct http_response *resp, int status, void *json)
{
	char *s = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	resp->status = status;
	resp->content_type = "application/json";
	if (s != NULL)
		buf_append_str(&resp->body, s);
	free(s);
	buf_append_str(&resp->headers, "Cache-Control: no-store\r\n");
}

void http_reply_error(struct http_response *resp, int status, const char *code)
{
	buf_clear(&resp->body);
	http_reply_json(resp, status, json_pack("{s:s}", "error", code));
}

int http_config_port(const struct server_ctx *ctx, int kind)
{
	const struct config *cfg = ctx->config;
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if ((int)cfg->listeners[i].kind == kind)
			return cfg->listeners[i].port;
	return 0;
}

void http_base_url(const struct http_conn *c, const struct http_request *req, char *out,
		   size_t size)
{
	/* The engine allowed only name/address characters in Host. */
	const char *host = *req->host != '\0' ? req->host : c->ctx->config->hostname;
	snprintf(out, size, "%s://%s", c->info->tls ? "https" : "http", host);
}

/* Plain HTTP off loopback: 301 to the same path on the HTTPS listener. */
static bool redirect_to_https(struct http_conn *c, const struct http_request *req,
			      struct http_response *resp)
{
	if (c->info->tls || c->info->peer_loopback)
		return false;
	int port = http_config_port(c->ctx, LISTENER_HTTPS);
	if (port == 0)
		return false; /* nowhere to send it: serve, without credentials */
	char host[300];
	snprintf(host, sizeof(host), "%s",
		 *req->host != '\0' ? req->host : c->ctx->config->hostname);
	/* Drop the port of the plain listener ([v6]:port keeps its brackets). */
	char *colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL)
		*colon = '\0';
	resp->status = 301;
	buf_printf(&resp->headers, "Location: https://%s", host);
	if (port != 443)
		buf_printf(&resp->headers, ":%d", port);
	buf_printf(&resp->headers, "%s%s%s\r\n", req->path, *req->query ? "?" : "", req->query);
	return true;
}

size_t http_route_body_limit(struct http_conn *c, const struct http_request *req)
{
	(void)c;
	bool credentials = http_header_get(req, "Authorization") != NULL ||
		http_header_get(req, "Cookie") != NULL;
	if (strncmp(req->path, "/api/login", 10) == 0 || !credentials)
		return HTTP_MAX_ANON_BODY;
	if (strncmp(req->path, "/jmap/upload/", 13) == 0)
		return JMAP_MAX_UPLOAD_SIZE;
	return JMAP_MAX_REQUEST_SIZE;
}

static void method_not_allowed(struct http_response *resp, unsigned flags)
{
	resp->status = 405;
	buf_printf(&resp->headers, "Allow: %s%s%s\r\n", flags & R_GET ? "GET, HEAD" : "",
		   (flags & R_GET) && (flags & R_POST) ? ", " : "", flags & R_POST ? "POST" : "");
	http_reply_error(resp, 405, "method");
}

void http_route(struct http_conn *c, const struct http_request *req, struct http_response *resp)
{
	if (redirect_to_https(c, req, resp))
		return;
	bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		if (!route_matches(r, req->path))
			continue;
		if (!((get && (r->flags & R_GET)) ||
		      (req->method == HTTP_POST && (r->flags & R_POST)))) {
			method_not_allowed(resp, r->flags);
			return;
		}
		if ((r->flags & R_AUTH) &&
		    http_auth_request(c, req, (r->flags & R_CHALLENGE) != 0, resp) < 0)
			return;
		r->fn(c, req, resp);
		return;
	}
	if (strncmp(req->path, "/api/", 5) == 0 || strncmp(req->path, "/jmap/", 6) == 0) {
		http_reply_error(resp, 404, "notFound");
		return;
	}
	if (!get) {
		method_not_allowed(resp, R_GET);
		return;
	}
	if (http_static_serve(req, resp) == 0) {
		resp->status = 404;
		resp->content_type = "text/plain; charset=utf-8";
		buf_append_str(&resp->body, "404 Not Found\n");
	}
}
