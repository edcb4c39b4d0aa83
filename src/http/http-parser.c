/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 request parser (RFC 9112), strict on purpose: a request is
 * accepted only when there is exactly one way to read where it ends. Lines
 * end with CRLF (a bare CR or LF is an error, not a line end), header
 * fields cannot be folded, a field name is followed directly by its colon,
 * Content-Length is one decimal number given once, Transfer-Encoding is
 * "chunked" alone and never together with Content-Length, and chunk sizes
 * are bare hexadecimal. Everything else is the 400 that closes the
 * connection, so a proxy in front and this server can never disagree on a
 * request boundary. The scanner checks its caps as bytes arrive, before a
 * line feed shows up, so an endless line costs at most the cap.
 */
#include "http/http-private.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

long http_head_scan(struct http_scan *sc, const char *data, size_t len)
{
	size_t i = sc->pos;
	for (; i < len; i++) {
		char c = data[i];
		if (c == '\0' || c == '\n')
			return -400; /* NUL, or LF without CR */
		if (c != '\r')
			continue;
		if (i + 1 == len)
			break; /* the LF may follow */
		if (data[i + 1] != '\n')
			return -400; /* CR without LF */
		size_t line_len = i - sc->line_start;
		i++;
		sc->line_start = i + 1;
		if (i + 1 > HTTP_MAX_HEAD)
			return -431; /* the whole head arrived at once, but too big */
		if (!sc->request_line) {
			if (line_len > HTTP_MAX_REQUEST_LINE)
				return -414;
			sc->request_line = true;
		} else if (line_len == 0) {
			sc->pos = i + 1;
			return (long)(i + 1);
		} else if (++sc->n_fields > HTTP_MAX_HEADERS) {
			return -431;
		}
	}
	sc->pos = i;
	if (!sc->request_line && len - sc->line_start > HTTP_MAX_REQUEST_LINE + 2)
		return -414;
	if (len > HTTP_MAX_HEAD)
		return -431;
	return 0;
}

static bool is_tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static const struct {
	const char *name;
	enum http_method method;
} methods[] = {
	{"GET", HTTP_GET},     {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
	{"PUT", HTTP_PUT},     {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
	{"PATCH", HTTP_PATCH},
};

/* "METHOD SP request-target SP HTTP/1.x", single spaces. */
static int parse_request_line(char *line, struct http_request *req)
{
	char *sp1 = strchr(line, ' ');
	if (sp1 == NULL)
		return 400;
	char *target = sp1 + 1;
	char *sp2 = strchr(target, ' ');
	if (sp2 == NULL || sp2 == target || strchr(sp2 + 1, ' ') != NULL)
		return 400;
	*sp1 = '\0';
	*sp2 = '\0';
	const char *version = sp2 + 1;
	if (!is_token(line, strlen(line)))
		return 400;
	for (char *p = target; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 400;
	if (strncmp(version, "HTTP/", 5) != 0 || !isdigit((unsigned char)version[5]) ||
	    version[6] != '.' || !isdigit((unsigned char)version[7]) || version[8] != '\0')
		return 400;
	if (version[5] != '1')
		return 505;
	req->minor = version[7] == '0' ? 0 : 1;
	req->method_name = line;
	bool known = false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(line, methods[i].name) == 0) {
			req->method = methods[i].method;
			known = true;
		}
	}
	if (!known)
		return 501;
	if (strcmp(target, "*") == 0) {
		if (req->method != HTTP_OPTIONS)
			return 400;
	} else if (target[0] != '/') {
		return 400; /* absolute-form is for proxies; we are none */
	}
	char *q = strchr(target, '?');
	req->query = q != NULL ? q + 1 : "";
	if (q != NULL)
		*q = '\0';
	req->path = target;
	return 0;
}

/* Host: uri-host [":" port], restricted to what a name or address uses. */
static bool host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!isalnum(c) && strchr(".-:[]_", c) == NULL)
			return false;
	}
	return true;
}

static bool field_value_ok(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* Does the comma-separated list v contain token tok (case-insensitive)? */
static bool list_has(const char *v, const char *tok)
{
	size_t tl = strlen(tok);
	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *end = v;
		while (*end && *end != ',')
			end++;
		const char *e = end;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - v) == tl && strncasecmp(v, tok, tl) == 0)
			return true;
		v = end;
	}
	return false;
}

/* Split "name: value" in place; returns 0 or 400. */
static int parse_field(char *line, struct http_header *h)
{
	if (line[0] == ' ' || line[0] == '\t')
		return 400; /* obs-fold */
	char *colon = strchr(line, ':');
	if (colon == NULL || !is_token(line, (size_t)(colon - line)))
		return 400; /* includes whitespace before the colon */
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (!field_value_ok(v))
		return 400;
	h->name = line;
	h->value = v;
	return 0;
}

struct framing {
	int n_host, n_length, n_te;
	const char *length, *te, *connection, *expect;
};

static void note_field(struct framing *f, const struct http_header *h)
{
	if (strcasecmp(h->name, "Host") == 0)
		f->n_host++;
	else if (strcasecmp(h->name, "Content-Length") == 0)
		f->n_length++, f->length = h->value;
	else if (strcasecmp(h->name, "Transfer-Encoding") == 0)
		f->n_te++, f->te = h->value;
	else if (strcasecmp(h->name, "Connection") == 0)
		f->connection = h->value;
	else if (strcasecmp(h->name, "Expect") == 0)
		f->expect = h->value;
}

static int parse_length(const char *v, uint64_t *n_r)
{
	size_t n = strlen(v);
	if (n == 0 || n > 18)
		return 400;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return 400;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*n_r = x;
	return 0;
}

static int check_framing(const struct framing *f, struct http_request *req, uint64_t *length_r,
			 bool *chunked_r, bool *expect_r)
{
	if (f->n_host > 1 || (req->minor == 1 && f->n_host == 0))
		return 400;
	const char *host = http_header_get(req, "Host");
	req->host = host != NULL ? host : "";
	if (!host_ok(req->host))
		return 400;
	if (f->n_length > 1 || f->n_te > 1)
		return 400; /* even identical duplicates: no guessing */
	if (f->n_length > 0 && f->n_te > 0)
		return 400;
	if (f->n_te > 0) {
		if (req->minor == 0)
			return 400; /* RFC 9112 6.1: HTTP/1.0 with TE is faulty framing */
		if (strcasecmp(f->te, "chunked") != 0) {
			/* A list of codings we do not implement is 501 (RFC 9112
			 * 6.1); anything that is not even a list is 400. */
			if (*f->te == '\0')
				return 400;
			for (const char *p = f->te; *p; p++)
				if (!is_tchar((unsigned char)*p) && *p != ',' && *p != ' ')
					return 400;
			return 501;
		}
		*chunked_r = true;
	}
	if (f->n_length > 0 && parse_length(f->length, length_r) != 0)
		return 400;
	if (f->expect != NULL) {
		if (strcasecmp(f->expect, "100-continue") != 0)
			return 417;
		*expect_r = req->minor == 1;
	}
	if (req->minor == 1)
		req->keep_alive = f->connection == NULL || !list_has(f->connection, "close");
	else
		req->keep_alive = f->connection != NULL && list_has(f->connection, "keep-alive");
	return 0;
}

int http_head_parse(char *head, size_t len, struct http_request *req, uint64_t *content_length_r,
		    bool *chunked_r, bool *expect_continue_r)
{
	*content_length_r = 0;
	*chunked_r = false;
	*expect_continue_r = false;
	req->n_headers = 0;
	req->host = "";
	/* Lines end with CRLF (the scanner made sure): cut them. */
	char *lines[HTTP_MAX_HEADERS + 2];
	size_t n_lines = 0;
	char *p = head, *end = head + len;
	while (p < end && n_lines < HTTP_MAX_HEADERS + 2) {
		char *cr = memchr(p, '\r', (size_t)(end - p));
		if (cr == NULL)
			return 400;
		*cr = '\0';
		if (cr == p)
			break; /* the empty line */
		lines[n_lines++] = p;
		p = cr + 2;
	}
	if (n_lines == 0)
		return 400;
	int st = parse_request_line(lines[0], req);
	if (st != 0)
		return st;
	struct framing f = {0};
	for (size_t i = 1; i < n_lines; i++) {
		struct http_header *h = &req->headers[req->n_headers];
		if ((st = parse_field(lines[i], h)) != 0)
			return st;
		req->n_headers++;
		note_field(&f, h);
	}
	return check_framing(&f, req, content_length_r, chunked_r, expect_continue_r);
}

const char *http_header_get(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* --- chunked bodies ------------------------------------------------------ */

enum { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER };

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * A CRLF-terminated line at the front of in: returns its length without
 * CRLF, -1 when incomplete, -2 on a bare CR/LF or NUL, -3 when it exceeds cap.
 */
static long take_line(const struct buf *in, size_t cap)
{
	for (size_t i = 0; i < in->len; i++) {
		char c = in->data[i];
		if (c == '\n' || c == '\0')
			return -2;
		if (c == '\r') {
			if (i + 1 == in->len)
				return -1;
			return in->data[i + 1] == '\n' ? (long)i : -2;
		}
		if (i >= cap)
			return -3;
	}
	return in->len > cap ? -3 : -1;
}

/* chunk-size [ ";" chunk-ext ]: hexadecimal only, at most 15 digits. */
static int parse_chunk_size(const char *s, size_t len, uint64_t *size_r)
{
	uint64_t n = 0;
	size_t i = 0;
	for (; i < len && hexval((unsigned char)s[i]) >= 0; i++) {
		if (i >= 15)
			return -1;
		n = n * 16 + (uint64_t)hexval((unsigned char)s[i]);
	}
	if (i == 0 || (i < len && s[i] != ';'))
		return -1;
	for (; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return -1;
	*size_r = n;
	return 0;
}

int http_chunked_feed(struct http_chunked *ch, struct buf *in, struct buf *body, size_t limit)
{
	for (;;) {
		if (ch->state == CH_DATA) {
			if (in->len == 0)
				return 0;
			size_t n = in->len < ch->remaining ? in->len : (size_t)ch->remaining;
			if (buf_try_append(body, in->data, n) < 0)
				return -503; /* out of memory: this request only */
			buf_consume(in, n);
			ch->remaining -= n;
			if (ch->remaining == 0)
				ch->state = CH_DATA_CRLF;
			continue;
		}
		if (ch->state == CH_DATA_CRLF) {
			if (in->len < 2)
				return in->len == 1 && in->data[0] != '\r' ? -400 : 0;
			if (in->data[0] != '\r' || in->data[1] != '\n')
				return -400;
			buf_consume(in, 2);
			ch->state = CH_SIZE;
			continue;
		}
		long l = take_line(in, ch->state == CH_SIZE ? HTTP_MAX_CHUNK_LINE : HTTP_MAX_HEAD);
		if (l == -1)
			return 0;
		if (l == -2)
			return -400;
		if (l == -3)
			return ch->state == CH_SIZE ? -400 : -431;
		if (ch->state == CH_TRAILER) {
			ch->trailer_bytes += (size_t)l + 2;
			if (ch->trailer_bytes > HTTP_MAX_HEAD)
				return -431;
			if (l > 0 && (in->data[0] == ' ' || in->data[0] == '\t'))
				return -400;
			buf_consume(in, (size_t)l + 2);
			if (l == 0)
				return 1; /* trailer fields are read and ignored */
			continue;
		}
		uint64_t size;
		if (parse_chunk_size(in->data, (size_t)l, &size) < 0)
			return -400;
		buf_consume(in, (size_t)l + 2);
		if (size > limit || body->len > limit - size)
			return -413;
		ch->remaining = size;
		ch->state = size == 0 ? CH_TRAILER : CH_DATA;
	}
}

/* --- URLs ----------------------------------------------------------------- */

static int url_decode(const char *src, size_t len, char *out, size_t outsz, bool plus)
{
	size_t j = 0;
	if (outsz == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hexval((unsigned char)src[i + 1]);
			int lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == 0 || j + 1 >= outsz)
			return -1;
		out[j++] = (char)c;
	}
	out[j] = '\0';
	return 0;
}

int http_url_decode(const char *src, size_t len, char *out, size_t outsz)
{
	return url_decode(src, len, out, outsz, false);
}

int http_query_param(const char *query, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);
	const char *p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (plen > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
			return url_decode(p + nl + 1, plen - nl - 1, out, outsz, true) < 0 ? -1 : 1;
		if (plen == nl && strncmp(p, name, nl) == 0)
			return url_decode("", 0, out, outsz, true) < 0 ? -1 : 1;
		p += plen;
		if (*p == '&')
			p++;
	}
	return 0;
}
