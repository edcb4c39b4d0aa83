/* SPDX-License-Identifier: MIT */
/*
 * Writing HTTP responses: the status line, the headers every response
 * carries (Date, the security headers of the web surface, HSTS over TLS),
 * framing (Content-Length, Connection: close) and small error answers.
 * One place writes them, so no handler can forget a security header.
 */
#include "http/http-private.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The web application's policy: no inline script, mail only in sandboxed frames. */
static const char csp_spa[] =
	"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
	"img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
	"frame-src 'self' blob: about:; child-src 'self' blob:; form-action 'self'; "
	"frame-ancestors 'none'; base-uri 'none'";
/*
 * /mail-frame (see http_static_mail_frame): a message's HTML, after the user
 * allowed remote images. Nothing may run; only images come from elsewhere.
 */
static const char csp_mail_frame[] =
	"default-src 'none'; script-src 'none'; img-src http: https: data:; "
	"style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'; "
	"frame-ancestors 'self'; sandbox allow-same-origin allow-popups "
	"allow-popups-to-escape-sandbox";
/* Everything else (JSON, XML, downloads) renders nothing active. */
static const char csp_data[] = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

void http_date(char *out, size_t size)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void http_response_head(struct buf *out, const struct http_settings *settings,
			const struct http_response *resp, uint64_t body_len, bool closing)
{
	char date[40];
	http_date(date, sizeof(date));
	buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", resp->status,
		   http_status_text(resp->status), date);
	if (resp->content_type != NULL)
		buf_printf(out, "Content-Type: %s\r\n", resp->content_type);
	if (!resp->no_length && !resp->events)
		buf_printf(out, "Content-Length: %llu\r\n", (unsigned long long)body_len);
	buf_printf(out, "Content-Security-Policy: %s\r\n",
		   resp->mail_frame    ? csp_mail_frame
			   : resp->spa ? csp_spa
				       : csp_data);
	buf_printf(out,
		   "X-Content-Type-Options: nosniff\r\n"
		   "Referrer-Policy: no-referrer\r\n"
		   "X-Frame-Options: %s\r\n"
		   "Cross-Origin-Opener-Policy: same-origin\r\n"
		   "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n",
		   resp->mail_frame ? "SAMEORIGIN" : "DENY");
	if (settings->tls)
		buf_append_str(out, "Strict-Transport-Security: max-age=31536000\r\n");
	if (closing)
		buf_append_str(out, "Connection: close\r\n");
	buf_append(out, resp->headers.data, resp->headers.len);
	buf_append_str(out, "\r\n");
}

void http_response_error(struct buf *out, const struct http_settings *settings, int status,
			 bool closing)
{
	struct http_response resp = {.status = status, .content_type = "text/plain; charset=utf-8"};
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_status_text(status));
	http_response_head(out, settings, &resp, (uint64_t)n, closing);
	buf_append(out, body, (size_t)n);
}
