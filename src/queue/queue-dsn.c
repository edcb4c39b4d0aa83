/* SPDX-License-Identifier: MIT */
/*
 * Delivery status notifications (RFC 3464 in an RFC 6522 multipart/report)
 * and the retry schedule. A DSN is built from facts the manager gathered;
 * everything that came from a remote server or from the original message
 * (diagnostic text, header lines) is reduced to printable ASCII lines here,
 * so a hostile reply can never inject a header field or a MIME boundary.
 * Pure: no I/O, unit-tested by parsing the result back with mime_parse.
 */
#include "queue/queue.h"

#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Original headers beyond this are cut at a line boundary. */
#define DSN_MAX_HEADERS (64 * 1024)

time_t queue_backoff(unsigned attempts, unsigned retry_min, unsigned retry_max)
{
	if (retry_min == 0)
		retry_min = 1;
	if (retry_max < retry_min)
		retry_max = retry_min;
	uint64_t d = retry_min;
	for (unsigned i = 1; i < attempts && d < retry_max; i++)
		d *= 2;
	return (time_t)(d > retry_max ? retry_max : d);
}

void queue_dsn_status(int code, const char *text, char out[16])
{
	int cls = code / 100;
	if (cls != 4 && cls != 5)
		cls = 4;
	/* "550 5.1.1 ...": the second word, if it is class.subject.detail. */
	const char *p = text != NULL && strlen(text) > 4 ? text + 4 : "";
	unsigned a, b, c;
	int n = 0;
	if (sscanf(p, "%1u.%3u.%3u%n", &a, &b, &c, &n) == 3 && (int)a == cls &&
	    (p[n] == ' ' || p[n] == '\0')) {
		snprintf(out, 16, "%u.%u.%u", a, b, c);
		return;
	}
	snprintf(out, 16, "%d.0.0", cls);
}

size_t queue_headers_len(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 < len && data[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

static void dsn_date(struct buf *out, time_t t)
{
	char date[64];
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_append_str(out, date);
}

/* Untrusted text as one printable-ASCII line (capped). */
static void dsn_text(struct buf *out, const char *s)
{
	char clean[512];
	str_sanitize(clean, sizeof(clean), s ? s : "", s ? strlen(s) : 0);
	buf_append_str(out, clean);
}

/*
 * The original header block, line by line, each line reduced to printable
 * ASCII (tabs kept for folding) and re-ended with CRLF: the part stays
 * 7-bit, no bare CR or LF passes through, and it cannot end our part
 * early (the boundary holds a random token).
 */
static void dsn_headers(struct buf *out, const char *h, size_t len)
{
	if (len > DSN_MAX_HEADERS)
		len = DSN_MAX_HEADERS;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && h[j] != '\n' && h[j] != '\r')
			j++;
		if (j > i) {
			for (size_t k = i; k < j; k++) {
				unsigned char ch = (unsigned char)h[k];
				char o = (ch == '\t' || (ch >= 0x20 && ch < 0x7f)) ? (char)ch : '?';
				buf_append(out, &o, 1);
			}
			buf_append(out, "\r\n", 2);
		}
		i = j;
		if (i < len && h[i] == '\r')
			i++;
		if (i < len && h[i] == '\n')
			i++;
	}
}

static bool ascii_address(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a >= 0x80 || (unsigned char)*a < 0x20)
			return false;
	return true;
}

static void dsn_human(const struct queue_dsn *d, struct buf *out)
{
	bool failed = d->action == QUEUE_DSN_FAILED;
	buf_printf(out, "This is the mail system at %s.\r\n\r\n", d->reporting_mta);
	if (failed)
		buf_append_str(out,
			       "Your message could not be delivered to the following "
			       "recipient(s). This is a permanent error; the message was "
			       "not delivered.\r\n\r\n");
	else {
		buf_append_str(out,
			       "Your message has not been delivered yet to the following "
			       "recipient(s). Delivery will be retried until ");
		dsn_date(out, d->retry_until);
		buf_append_str(out, "; you do not need to resend it.\r\n\r\n");
	}
	for (size_t i = 0; i < d->n_rcpts; i++) {
		buf_append_str(out, "  <");
		dsn_text(out, d->rcpts[i].recipient);
		buf_append_str(out, ">: ");
		dsn_text(out, d->rcpts[i].diagnostic ? d->rcpts[i].diagnostic : "no reason given");
		buf_append_str(out, "\r\n");
	}
}

static void dsn_status_part(const struct queue_dsn *d, struct buf *out)
{
	buf_append_str(out, "Reporting-MTA: dns; ");
	dsn_text(out, d->reporting_mta);
	buf_append_str(out, "\r\nArrival-Date: ");
	dsn_date(out, d->arrival);
	buf_append_str(out, "\r\n");
	for (size_t i = 0; i < d->n_rcpts; i++) {
		const struct queue_dsn_rcpt *r = &d->rcpts[i];
		/* RFC 6533: a non-ASCII address is of type utf-8, kept as is. */
		buf_append_str(out, "\r\nFinal-Recipient: ");
		if (ascii_address(r->recipient)) {
			buf_append_str(out, "rfc822; ");
			dsn_text(out, r->recipient);
		} else {
			buf_append_str(out, "utf-8; ");
			for (const char *p = r->recipient; *p; p++)
				if ((unsigned char)*p >= 0x20 && *p != 0x7f)
					buf_append(out, p, 1);
		}
		buf_printf(out, "\r\nAction: %s\r\nStatus: ",
			   d->action == QUEUE_DSN_FAILED ? "failed" : "delayed");
		dsn_text(out, r->status ? r->status : "5.0.0");
		buf_append_str(out, "\r\n");
		if (r->remote_mta != NULL && *r->remote_mta != '\0') {
			buf_append_str(out, "Remote-MTA: dns; ");
			dsn_text(out, r->remote_mta);
			buf_append_str(out, "\r\n");
		}
		if (r->diagnostic != NULL && *r->diagnostic != '\0') {
			/* "smtp;" only for a server's reply ("550 ..."); ours is X-facteur. */
			bool smtp = isdigit((unsigned char)r->diagnostic[0]) &&
				isdigit((unsigned char)r->diagnostic[1]) &&
				isdigit((unsigned char)r->diagnostic[2]);
			buf_append_str(out,
				       smtp ? "Diagnostic-Code: smtp; "
					    : "Diagnostic-Code: X-facteur; ");
			dsn_text(out, r->diagnostic);
			buf_append_str(out, "\r\n");
		}
		if (d->action == QUEUE_DSN_DELAYED) {
			buf_append_str(out, "Will-Retry-Until: ");
			dsn_date(out, d->retry_until);
			buf_append_str(out, "\r\n");
		}
	}
}

void queue_dsn_build(const struct queue_dsn *d, struct buf *out)
{
	char token[25], boundary[64];
	random_token(token, 24);
	snprintf(boundary, sizeof(boundary), "=_facteur_%s", token);
	bool failed = d->action == QUEUE_DSN_FAILED;

	buf_append_str(out, "From: Mail Delivery System <MAILER-DAEMON@");
	dsn_text(out, d->reporting_mta);
	buf_append_str(out, ">\r\nTo: ");
	if (ascii_address(d->sender)) {
		buf_append_str(out, "<");
		dsn_text(out, d->sender);
		buf_append_str(out, ">");
	} else {
		buf_append_str(out, "undisclosed-recipients:;");
	}
	buf_printf(out, "\r\nSubject: %s\r\nDate: ",
		   failed ? "Undelivered Mail Returned to Sender"
			  : "Delayed Mail (still being retried)");
	dsn_date(out, d->now);
	random_token(token, 24);
	buf_printf(out, "\r\nMessage-ID: <%s.dsn@", token);
	dsn_text(out, d->reporting_mta);
	buf_printf(out,
		   ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n\r\n"
		   "This is a MIME-encapsulated message.\r\n\r\n",
		   boundary);

	buf_printf(out,
		   "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
		   "Content-Description: Notification\r\n\r\n",
		   boundary);
	dsn_human(d, out);

	buf_printf(out,
		   "\r\n--%s\r\nContent-Type: message/delivery-status\r\n"
		   "Content-Description: Delivery report\r\n\r\n",
		   boundary);
	dsn_status_part(d, out);

	buf_printf(out,
		   "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n"
		   "Content-Description: Undelivered message headers\r\n\r\n",
		   boundary);
	if (d->headers != NULL)
		dsn_headers(out, d->headers, d->headers_len);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
