/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server (HTTP/1.1, RFC 9110/9112) as a connection engine for net/:
 * webmail static files, JMAP (through jmap.h), the web session API,
 * EventSource push and mail-client auto-configuration. The daemon maps the
 * "http" and "https" listener kinds to http_proto and hands it the
 * embedded web application once at start-up; everything else about the
 * module is internal (http-private.h).
 */
#ifndef FACTEUR_HTTP_H
#define FACTEUR_HTTP_H

#include "net/conn.h"

#include <stddef.h>

/* One embedded file of the web application (scripts/embed-web writes them). */
struct http_asset {
	const char *path;         /* "/index.html", "/assets/app-3f2a9c.js" */
	const char *type;         /* Content-Type */
	const unsigned char *raw; /* identity bytes */
	size_t raw_len;
	const unsigned char *gzip; /* NULL when compression did not pay */
	size_t gzip_len;
	const unsigned char *br; /* brotli, NULL likewise */
	size_t br_len;
	const char *etag; /* strong ETag of the content, quotes included */
};

struct http_asset_set {
	const struct http_asset *assets;
	size_t n;
};

/*
 * The web application built into the binary (BUILD/gen/web-assets.c,
 * linked into facteur only; empty when web/dist did not exist).
 */
extern const struct http_asset_set http_web_assets;

/*
 * Serve these assets from now on (the daemon calls it once before the
 * loops start; tests call it with their own set). NULL: serve none.
 */
void http_static_set(const struct http_asset_set *set);

/* The engine for listeners "http" and "https". */
extern const struct conn_proto http_proto;

#endif
