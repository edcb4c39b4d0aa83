/* SPDX-License-Identifier: MIT */
/*
 * The JMAP endpoints over jmap.h: the router has authenticated the user;
 * these fill a struct jmap_request, call jmap/ and turn its answer into a
 * response. Downloads are streamed from the blob's fd by the engine, never
 * read whole; their Content-Type comes from jmap/ (checked to be a plain
 * media type) and they are attachments unless ?inline=1 asks for an image
 * that cannot carry script, under the data CSP (default-src 'none') either
 * way. The blob id is the ETag: If-None-Match answers 304.
 */
#include "http/http-private.h"

#include "jmap/jmap.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct jmap_call {
	struct jmap_request r;
	char base_url[320];
};

static void call_init(struct jmap_call *j, struct http_conn *c, const struct http_request *req)
{
	http_base_url(c, req, j->base_url, sizeof(j->base_url));
	j->r = (struct jmap_request){
		.ctx = c->ctx,
		.account_id = c->id.account_id,
		.username = c->id.username,
		.base_url = j->base_url,
		.session_id = c->info->session_id,
	};
}

static void json_status(struct http_response *resp, int status, const char *type)
{
	resp->status = status;
	resp->content_type = type;
	buf_append_str(&resp->headers, "Cache-Control: no-store\r\n");
}

void http_jmap_session(struct http_conn *c, const struct http_request *req,
		       struct http_response *resp)
{
	struct jmap_call j;
	call_init(&j, c, req);
	int status = jmap_session_resource(&j.r, &resp->body);
	json_status(resp, status, status == 200 ? "application/json" : "application/problem+json");
}

void *http_jmap_session_json(struct http_conn *c, const struct http_request *req)
{
	struct jmap_call j;
	struct buf out;
	call_init(&j, c, req);
	buf_init(&out);
	json_t *v = NULL;
	if (jmap_session_resource(&j.r, &out) == 200)
		v = json_loadb(out.data, out.len, 0, NULL);
	buf_deinit(&out);
	return v;
}

/*
 * The first request of web/src/mail.ts (firstLoad: MAILBOX_PROPS,
 * pageCalls with LIST_PROPS, PAGE and the default sort, threads
 * collapsed): change both together. Answered inside /api/me, which
 * index.html preloads, the server's work overlaps the script's download
 * and the app paints the inbox without another round trip.
 */
#define FIRST_REQUEST                                                                              \
	"{\"using\":[\"urn:ietf:params:jmap:core\",\"urn:ietf:params:jmap:mail\","                 \
	"\"urn:ietf:params:jmap:submission\"],\"methodCalls\":["                                   \
	"[\"Mailbox/get\",{\"accountId\":\"%s\",\"ids\":null,\"properties\":[\"id\",\"name\","     \
	"\"parentId\",\"role\",\"sortOrder\",\"totalEmails\",\"unreadEmails\",\"isSubscribed\","   \
	"\"myRights\"]},\"m\"],"                                                                   \
	"[\"Email/query\",{\"accountId\":\"%s\",\"filter\":{\"inMailbox\":\"%s\"},"                \
	"\"sort\":[{\"property\":\"receivedAt\",\"isAscending\":false}],\"collapseThreads\":true," \
	"\"position\":0,\"limit\":50,\"calculateTotal\":true},\"q\"],"                             \
	"[\"Email/get\",{\"accountId\":\"%s\",\"#ids\":{\"resultOf\":\"q\",\"name\":\"Email/"      \
	"query\","                                                                                 \
	"\"path\":\"/"                                                                             \
	"ids\"},\"properties\":[\"id\",\"threadId\",\"mailboxIds\",\"keywords\",\"size\","         \
	"\"receivedAt\",\"from\",\"to\",\"subject\",\"preview\",\"hasAttachment\"]},\"g\"],"       \
	"[\"Thread/get\",{\"accountId\":\"%s\",\"#ids\":{\"resultOf\":\"g\",\"name\":\"Email/"     \
	"get\","                                                                                   \
	"\"path\":\"/list/*/threadId\"}},\"t\"],"                                                  \
	"[\"Identity/get\",{\"accountId\":\"%s\",\"ids\":null},\"i\"]]}"

void *http_jmap_first_json(struct http_conn *c, const struct http_request *req,
			   const char *inbox_id)
{
	struct jmap_call j;
	call_init(&j, c, req);
	char account[32], body[2048];
	snprintf(account, sizeof(account), "a%lld", (long long)c->id.account_id);
	int n = snprintf(body, sizeof(body), FIRST_REQUEST, account, account, inbox_id, account,
			 account, account);
	if (n < 0 || (size_t)n >= sizeof(body))
		return NULL;
	struct buf out;
	buf_init(&out);
	const char *type = NULL;
	json_t *v = NULL;
	if (jmap_api(&j.r, body, (size_t)n, &out, &type) == 200) {
		json_t *all = json_loadb(out.data, out.len, 0, NULL);
		v = json_incref(json_object_get(all, "methodResponses"));
		json_decref(all);
	}
	buf_deinit(&out);
	return v;
}

void http_jmap_api(struct http_conn *c, const struct http_request *req, struct http_response *resp)
{
	struct jmap_call j;
	call_init(&j, c, req);
	const char *type = "application/json";
	int status = jmap_api(&j.r, req->body.data, req->body.len, &resp->body, &type);
	if (status == JMAP_API_AGAIN) {
		resp->yield = true;
		return;
	}
	json_status(resp, status, type);
}

/*
 * The segment of path after prefix up to the next '/', into out.
 * Returns the rest of the path (after that '/'), or NULL.
 */
static const char *segment(const char *path, char *out, size_t size)
{
	const char *slash = strchr(path, '/');
	size_t n = slash != NULL ? (size_t)(slash - path) : strlen(path);
	if (n == 0 || n >= size)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)path[i]) && strchr("-_.~", path[i]) == NULL)
			return NULL;
	memcpy(out, path, n);
	out[n] = '\0';
	return slash != NULL ? slash + 1 : path + n;
}

/* A media type "type/subtype" of token characters (parameters dropped). */
static bool media_type_ok(const char *t)
{
	const char *slash = strchr(t, '/');
	if (slash == NULL || slash == t || slash[1] == '\0' || strlen(t) > 120)
		return false;
	for (const char *p = t; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("!#$&^_.+-/", *p) == NULL)
			return false;
	return strchr(slash + 1, '/') == NULL;
}

void http_jmap_upload(struct http_conn *c, const struct http_request *req,
		      struct http_response *resp)
{
	char account[64];
	const char *rest = segment(req->path + strlen("/jmap/upload/"), account, sizeof(account));
	if (rest == NULL || *rest != '\0') {
		http_reply_error(resp, 404, "notFound");
		return;
	}
	char type[128] = "application/octet-stream";
	const char *ct = http_header_get(req, "Content-Type");
	if (ct != NULL) {
		size_t n = strcspn(ct, "; ");
		if (n < sizeof(type)) {
			memcpy(type, ct, n);
			type[n] = '\0';
		}
		if (!media_type_ok(type))
			snprintf(type, sizeof(type), "application/octet-stream");
	}
	struct jmap_call j;
	call_init(&j, c, req);
	int status = jmap_upload(&j.r, account, type, req->body.data, req->body.len, &resp->body);
	json_status(resp, status, status < 300 ? "application/json" : "application/problem+json");
}

/* Content-Disposition with the name in RFC 8187 form (only attr-chars raw). */
static void disposition(struct buf *h, const char *kind, const char *name)
{
	buf_printf(h, "Content-Disposition: %s; filename*=UTF-8''", kind);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p) || strchr("!#$&+-.^_`|~", *p) != NULL)
			buf_append(h, p, 1);
		else
			buf_printf(h, "%%%02X", *p);
	}
	buf_append_str(h, "\r\n");
}

void http_jmap_download(struct http_conn *c, const struct http_request *req,
			struct http_response *resp)
{
	char account[64], blob[256], name[512], accept[128] = "", flag[8] = "";
	const char *rest = segment(req->path + strlen("/jmap/download/"), account, sizeof(account));
	rest = rest != NULL ? segment(rest, blob, sizeof(blob)) : NULL;
	if (rest == NULL || *rest == '\0' || strchr(rest, '/') != NULL ||
	    http_url_decode(rest, strlen(rest), name, sizeof(name)) < 0 ||
	    http_query_param(req->query, "accept", accept, sizeof(accept)) < 0 ||
	    http_query_param(req->query, "inline", flag, sizeof(flag)) < 0) {
		http_reply_error(resp, 404, "notFound");
		return;
	}
	if (*accept != '\0' && !media_type_ok(accept)) {
		http_reply_error(resp, 400, "badType");
		return;
	}
	struct jmap_call j;
	call_init(&j, c, req);
	struct jmap_blob b = {.fd = -1};
	int status = jmap_download_open(&j.r, account, blob, *accept ? accept : NULL, &b);
	if (status != 200 || b.fd < 0) {
		if (b.fd >= 0)
			close(b.fd);
		http_reply_error(resp, status == 200 ? 500 : status, "download");
		return;
	}
	/* Blob ids name immutable content: the id is a strong validator. */
	char etag[270];
	snprintf(etag, sizeof(etag), "\"%s\"", blob);
	buf_printf(&resp->headers, "ETag: %s\r\n", etag);
	const char *inm = http_header_get(req, "If-None-Match");
	if (inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL)) {
		close(b.fd);
		resp->status = 304;
		resp->no_length = true;
		return;
	}
	b.type[sizeof(b.type) - 1] = '\0';
	char type[sizeof(b.type)];
	snprintf(type, sizeof(type), "%.*s", (int)strcspn(b.type, "; "), b.type);
	if (!media_type_ok(type))
		snprintf(type, sizeof(type), "application/octet-stream");
	/* SVG is an image that can run script: never inline. */
	bool inline_ok = strcmp(flag, "1") == 0 && strncasecmp(type, "image/", 6) == 0 &&
		strcasecmp(type, "image/svg+xml") != 0;
	resp->fd = b.fd;
	resp->offset = b.offset;
	resp->len = b.len;
	/* b goes out of scope: the type is written into the headers now. */
	buf_printf(&resp->headers, "Content-Type: %s\r\n", type);
	disposition(&resp->headers, inline_ok ? "inline" : "attachment", name);
	buf_append_str(&resp->headers, "Cache-Control: private, max-age=31536000, immutable\r\n");
}
