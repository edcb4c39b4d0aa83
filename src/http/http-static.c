/* SPDX-License-Identifier: MIT */
/*
 * The web application's files, embedded in the binary by scripts/embed-web
 * with gzip and brotli variants made at build time. Paths without a dot
 * are the single-page app's own routes and get index.html (never cached
 * without revalidation); /assets/NAME-HASH.EXT files have content-hashed
 * names, so they are cached for a year as immutable. The variant is chosen
 * from Accept-Encoding; each has its own strong ETag (the content hash
 * plus the coding), and If-None-Match answers 304.
 */
#include "http/http-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct http_asset_set *served;

void http_static_set(const struct http_asset_set *set)
{
	served = set;
}

static const struct http_asset *find(const char *path)
{
	for (size_t i = 0; served != NULL && i < served->n; i++)
		if (strcmp(served->assets[i].path, path) == 0)
			return &served->assets[i];
	return NULL;
}

/* The q-value of coding in an Accept-Encoding value (0 when absent or refused). */
static double accepts(const char *ae, const char *coding)
{
	size_t cl = strlen(coding);
	double star = 0;
	const char *p = ae;
	while (p != NULL && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ";, ");
		double q = 1;
		const char *semi = p + len;
		while (*semi == ' ')
			semi++;
		if (*semi == ';') {
			const char *qs = strstr(semi, "q=");
			const char *comma = strchr(semi, ',');
			if (qs != NULL && (comma == NULL || qs < comma))
				q = strtod(qs + 2, NULL);
		}
		if (len == cl && strncasecmp(p, coding, cl) == 0)
			return q;
		if (len == 1 && *p == '*')
			star = q;
		p = strchr(p, ',');
	}
	return star;
}

/* Does If-None-Match list etag (the base tag, any coding's suffix)? */
static bool etag_matches(const char *inm, const char *etag)
{
	if (strcmp(inm, "*") == 0)
		return true;
	size_t base = strlen(etag) - 1; /* without the closing quote */
	const char *p = inm;
	while ((p = strchr(p, '"')) != NULL) {
		const char *q = strchr(p + 1, '"');
		if (q == NULL)
			return false;
		/* "HASH", "HASH-gz" or "HASH-br" (weak W/ prefixes compare too) */
		if ((size_t)(q - p) >= base && strncmp(p, etag, base) == 0) {
			const char *rest = p + base;
			if (rest == q || strncmp(rest, "-gz\"", 4) == 0 ||
			    strncmp(rest, "-br\"", 4) == 0)
				return true;
		}
		p = q + 1;
	}
	return false;
}

static bool spa_route(const char *path)
{
	const char *last = strrchr(path, '/');
	return strchr(last != NULL ? last : path, '.') == NULL;
}

int http_static_serve(const struct http_request *req, struct http_response *resp)
{
	const char *path = req->path;
	if (spa_route(path) && strncmp(path, "/assets/", 8) != 0)
		path = "/index.html";
	const struct http_asset *a = find(path);
	if (a == NULL) {
		if (strcmp(path, "/index.html") != 0)
			return 0;
		resp->status = 404;
		resp->content_type = "text/plain; charset=utf-8";
		buf_append_str(&resp->body,
			       "The web application was not built into this binary "
			       "(web/dist was missing at build time).\n");
		return 1;
	}
	resp->spa = true;
	bool immutable = strncmp(path, "/assets/", 8) == 0;
	buf_printf(&resp->headers, "Cache-Control: %s\r\nVary: Accept-Encoding\r\n",
		   immutable ? "public, max-age=31536000, immutable" : "no-cache");
	const char *ae = http_header_get(req, "Accept-Encoding");
	const unsigned char *data = a->raw;
	size_t len = a->raw_len;
	const char *coding = NULL, *suffix = "";
	if (ae != NULL && a->br != NULL && accepts(ae, "br") > 0) {
		data = a->br, len = a->br_len, coding = "br", suffix = "-br";
	} else if (ae != NULL && a->gzip != NULL && accepts(ae, "gzip") > 0) {
		data = a->gzip, len = a->gzip_len, coding = "gzip", suffix = "-gz";
	}
	buf_printf(&resp->headers, "ETag: %.*s%s\"\r\n", (int)strlen(a->etag) - 1, a->etag, suffix);
	const char *inm = http_header_get(req, "If-None-Match");
	if (inm != NULL && etag_matches(inm, a->etag)) {
		resp->status = 304;
		resp->no_length = true;
		return 1;
	}
	if (coding != NULL)
		buf_printf(&resp->headers, "Content-Encoding: %s\r\n", coding);
	resp->content_type = a->type;
	buf_append(&resp->body, data, len);
	return 1;
}

void http_static_mail_frame(struct http_conn *c, const struct http_request *req,
			    struct http_response *resp)
{
	(void)c, (void)req;
	resp->content_type = "text/html; charset=utf-8";
	resp->mail_frame = true;
	buf_append_str(&resp->headers, "Cache-Control: no-cache\r\n");
	buf_append_str(&resp->body,
		       "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
		       "<meta name=\"referrer\" content=\"no-referrer\"></head>"
		       "<body></body></html>");
}
