/* SPDX-License-Identifier: MIT */
/*
 * The SMTP client engine for outbound delivery: a pure state machine fed
 * the server's bytes from a struct buf and writing the client's commands to
 * another, never touching a socket, so it is unit-tested from transcripts
 * (one byte at a time too) and fuzzed with arbitrary server output. One
 * state enum changed in one function; one reply parser with a line cap
 * checked before the newline arrives; every server reply is judged by its
 * class only. Anything the server says that is not a well-formed reply is
 * a temporary failure of the session, never a crash and never a guess.
 * Message bytes are streamed through queue_client_body, which turns any
 * line end into CRLF and dot-stuffs, so memory stays bounded by the
 * caller's chunk size whatever the message size.
 */
#include "queue/queue.h"

#include "lib/log.h"
#include "lib/util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum qc_state {
	QC_GREETING,
	QC_EHLO,
	QC_HELO,
	QC_STARTTLS,
	QC_TLS, /* handshake in the caller's hands */
	QC_AUTH,
	QC_READY,
	QC_RSET,
	QC_MAIL,
	QC_RCPT,
	QC_DATA,
	QC_BODY,
	QC_DOT,
	QC_QUIT,
	QC_CLOSED,
	QC_STATE_COUNT,
};

static const char *const qc_state_names[QC_STATE_COUNT] = {
	"greeting", "ehlo", "helo", "starttls", "tls", "auth", "ready",  "rset",
	"mail",     "rcpt", "data", "body",     "dot", "quit", "closed",
};

enum qc_cap {
	QC_CAP_STARTTLS = 1 << 0,
	QC_CAP_PIPELINING = 1 << 1,
	QC_CAP_SIZE = 1 << 2,
	QC_CAP_8BITMIME = 1 << 3,
	QC_CAP_SMTPUTF8 = 1 << 4,
	QC_CAP_AUTH_PLAIN = 1 << 5,
};

struct queue_client {
	struct queue_client_params p;
	enum qc_state state;
	unsigned caps;
	bool tls; /* the stream is encrypted */
	bool authenticated;
	unsigned n_txn; /* transactions started on this session */

	/* The reply being read. */
	int reply_code;
	unsigned reply_lines;
	char reply_text[256]; /* first line, sanitised */

	/* The transaction. */
	struct queue_client_msg msg;
	int mail_code;
	char mail_text[256];
	size_t rcpts_sent; /* RCPT commands written */
	size_t rcpts_read; /* RCPT replies read */
	size_t rcpts_ok;
	bool rcpt_ok[QUEUE_CLIENT_MAX_RCPTS];
	struct queue_client_result results[QUEUE_CLIENT_MAX_RCPTS];
	bool in_txn;
	bool txn_answered; /* the server replied to a command of it */

	/* Body streaming: at the beginning of a line; a CR seen last. */
	bool bol, cr;

	/* Why the session ended. */
	int error_code;
	char error[256];
	bool failed;
};

static void qc_set_state(struct queue_client *c, enum qc_state st)
{
	if (c->state == st || c->state == QC_CLOSED)
		return;
	log_debug("queue.client.state", "from=%s to=%s", qc_state_names[c->state],
		  qc_state_names[st]);
	c->state = st;
}

struct queue_client *queue_client_create(const struct queue_client_params *p)
{
	struct queue_client *c = xcalloc(1, sizeof(*c));
	c->p = *p;
	if (c->p.helo_name == NULL || *c->p.helo_name == '\0')
		c->p.helo_name = "localhost";
	c->state = QC_GREETING;
	return c;
}

void queue_client_destroy(struct queue_client **c)
{
	if (*c == NULL)
		return;
	explicit_bzero(*c, sizeof(**c));
	free(*c);
	*c = NULL;
}

/* Every recipient still undecided gets this outcome. */
static void qc_fail_pending(struct queue_client *c, int code, const char *text)
{
	if (!c->in_txn)
		return;
	for (size_t i = 0; i < c->msg.n_rcpts; i++) {
		struct queue_client_result *r = &c->results[i];
		if (r->code == 0) {
			r->code = code;
			snprintf(r->text, sizeof(r->text), "%s", text);
		}
	}
}

/*
 * The session is over without a clean QUIT: a temporary failure of the
 * session and of whatever transaction was under way.
 */
static enum queue_client_status qc_fail(struct queue_client *c, int code, const char *why)
{
	if (c->state == QC_CLOSED)
		return QUEUE_CLIENT_CLOSED;
	c->failed = true;
	c->error_code = code;
	snprintf(c->error, sizeof(c->error), "%s", why);
	/* A 5xx session reply still leaves the message to another try (or host). */
	qc_fail_pending(c, 451, why);
	c->in_txn = false;
	log_debug("queue.client.fail", "state=%s code=%d why=\"%s\"", qc_state_names[c->state],
		  code, c->error);
	qc_set_state(c, QC_CLOSED);
	return QUEUE_CLIENT_CLOSED;
}

void queue_client_abort(struct queue_client *c, const char *reason)
{
	if (c->state == QC_QUIT) {
		qc_set_state(c, QC_CLOSED); /* gone after QUIT: fine */
		return;
	}
	qc_fail(c, 0, reason);
}

/* --- commands ---------------------------------------------------------- */

static void qc_ehlo(struct queue_client *c, struct buf *out)
{
	c->caps = 0;
	buf_printf(out, "EHLO %s\r\n", c->p.helo_name);
	qc_set_state(c, QC_EHLO);
}

static void qc_auth(struct queue_client *c, struct buf *out)
{
	size_t ul = strlen(c->p.auth_user), pl = strlen(c->p.auth_password);
	size_t rawlen = ul + pl + 2;
	unsigned char *raw = xmalloc(rawlen);
	raw[0] = '\0';
	memcpy(raw + 1, c->p.auth_user, ul);
	raw[ul + 1] = '\0';
	memcpy(raw + ul + 2, c->p.auth_password, pl);
	unsigned char *b64 = xmalloc(4 * ((rawlen + 2) / 3) + 1);
	EVP_EncodeBlock(b64, raw, (int)rawlen);
	buf_printf(out, "AUTH PLAIN %s\r\n", (const char *)b64);
	explicit_bzero(raw, rawlen);
	explicit_bzero(b64, strlen((const char *)b64));
	free(raw);
	free(b64);
	qc_set_state(c, QC_AUTH);
}

static void qc_rcpt(struct queue_client *c, struct buf *out)
{
	buf_printf(out, "RCPT TO:<%s>\r\n", c->msg.rcpts[c->rcpts_sent++]);
}

static void qc_mail(struct queue_client *c, struct buf *out)
{
	buf_printf(out, "MAIL FROM:<%s>", c->msg.sender);
	if (c->caps & QC_CAP_SIZE)
		buf_printf(out, " SIZE=%llu", (unsigned long long)c->msg.size);
	if (c->msg.eight_bit && (c->caps & QC_CAP_8BITMIME))
		buf_append_str(out, " BODY=8BITMIME");
	if (c->msg.utf8)
		buf_append_str(out, " SMTPUTF8");
	buf_append_str(out, "\r\n");
	qc_set_state(c, QC_MAIL);
	/* RFC 2920: MAIL and every RCPT go in one write. */
	if (c->caps & QC_CAP_PIPELINING)
		while (c->rcpts_sent < c->msg.n_rcpts)
			qc_rcpt(c, out);
}

/* --- replies ----------------------------------------------------------- */

/* EHLO keywords we act on. */
static void qc_ehlo_line(struct queue_client *c, const char *kw, size_t len)
{
	static const struct {
		const char *name;
		unsigned cap;
	} caps[] = {
		{"STARTTLS", QC_CAP_STARTTLS}, {"PIPELINING", QC_CAP_PIPELINING},
		{"SIZE", QC_CAP_SIZE},         {"8BITMIME", QC_CAP_8BITMIME},
		{"SMTPUTF8", QC_CAP_SMTPUTF8},
	};
	size_t wl = 0;
	while (wl < len && kw[wl] != ' ')
		wl++;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (wl == strlen(caps[i].name) && strncasecmp(kw, caps[i].name, wl) == 0)
			c->caps |= caps[i].cap;
	if (wl == 4 && strncasecmp(kw, "AUTH", 4) == 0) {
		/* "AUTH LOGIN PLAIN ...": look for the PLAIN word. */
		for (size_t i = 4; i + 5 <= len; i++)
			if (kw[i - 1] == ' ' && strncasecmp(kw + i, "PLAIN", 5) == 0 &&
			    (i + 5 == len || kw[i + 5] == ' '))
				c->caps |= QC_CAP_AUTH_PLAIN;
	}
}

/*
 * Parse one reply line (without its line end). Returns 1 when it ends the
 * reply, 0 when more lines follow, -1 when it is not a reply line.
 */
static int qc_reply_line(struct queue_client *c, const char *l, size_t len)
{
	if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' ||
	    l[2] > '9' || (len > 3 && l[3] != ' ' && l[3] != '-'))
		return -1;
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (c->reply_lines == 0) {
		c->reply_code = code;
		str_sanitize(c->reply_text, sizeof(c->reply_text), l, len);
	} else if (code != c->reply_code) {
		return -1;
	}
	if (++c->reply_lines > QUEUE_CLIENT_MAX_LINES)
		return -1;
	/* EHLO: the first line is the greeting, the rest keywords. */
	if (c->state == QC_EHLO && c->reply_lines > 1 && len > 4)
		qc_ehlo_line(c, l + 4, len - 4);
	return len > 3 && l[3] == '-' ? 0 : 1;
}

static void qc_txn_done(struct queue_client *c)
{
	c->in_txn = false;
	qc_set_state(c, QC_READY);
}

/* The MAIL reply; failed MAIL decides every recipient. */
static enum queue_client_status qc_on_mail(struct queue_client *c, struct buf *out)
{
	c->mail_code = c->reply_code;
	snprintf(c->mail_text, sizeof(c->mail_text), "%s", c->reply_text);
	if (c->reply_code / 100 != 2) {
		for (size_t i = 0; i < c->msg.n_rcpts; i++) {
			c->results[i].code = c->reply_code;
			snprintf(c->results[i].text, sizeof(c->results[i].text), "%s",
				 c->reply_text);
		}
		if (c->rcpts_sent > 0) { /* pipelined: their replies still come */
			qc_set_state(c, QC_RCPT);
			return QUEUE_CLIENT_MORE;
		}
		qc_txn_done(c);
		return QUEUE_CLIENT_DONE;
	}
	if (c->rcpts_sent == 0)
		qc_rcpt(c, out);
	qc_set_state(c, QC_RCPT);
	return QUEUE_CLIENT_MORE;
}

static enum queue_client_status qc_on_rcpt(struct queue_client *c, struct buf *out)
{
	size_t i = c->rcpts_read++;
	if (c->mail_code / 100 == 2) {
		c->results[i].code = c->reply_code;
		snprintf(c->results[i].text, sizeof(c->results[i].text), "%s", c->reply_text);
		if (c->reply_code / 100 == 2) {
			c->rcpt_ok[i] = true;
			c->rcpts_ok++;
			c->results[i].code = 0; /* decided by the DATA reply */
		}
	}
	if (c->rcpts_read < c->msg.n_rcpts) {
		if (c->rcpts_sent == c->rcpts_read)
			qc_rcpt(c, out);
		return QUEUE_CLIENT_MORE;
	}
	if (c->rcpts_ok == 0) {
		qc_txn_done(c);
		return QUEUE_CLIENT_DONE;
	}
	buf_append_str(out, "DATA\r\n");
	qc_set_state(c, QC_DATA);
	return QUEUE_CLIENT_MORE;
}

/* DATA's 354, or its refusal (which decides the accepted recipients). */
static enum queue_client_status qc_on_data(struct queue_client *c, bool final)
{
	if (!final && c->reply_code == 354) {
		c->bol = true;
		c->cr = false;
		qc_set_state(c, QC_BODY);
		return QUEUE_CLIENT_BODY;
	}
	int code = c->reply_code / 100 == 2 && !final ? 451 : c->reply_code;
	for (size_t i = 0; i < c->msg.n_rcpts; i++) {
		if (!c->rcpt_ok[i])
			continue;
		c->results[i].code = code;
		snprintf(c->results[i].text, sizeof(c->results[i].text), "%s", c->reply_text);
	}
	qc_txn_done(c);
	return QUEUE_CLIENT_DONE;
}

static enum queue_client_status qc_on_ehlo(struct queue_client *c, struct buf *out)
{
	int cls = c->reply_code / 100;
	if (cls == 5 && c->reply_code != 554 && !c->tls) {
		/* No ESMTP: plain HELO, no extensions. */
		buf_printf(out, "HELO %s\r\n", c->p.helo_name);
		qc_set_state(c, QC_HELO);
		return QUEUE_CLIENT_MORE;
	}
	if (cls != 2)
		return qc_fail(c, c->reply_code, c->reply_text);
	if (!c->tls && (c->caps & QC_CAP_STARTTLS) && c->p.tls_possible) {
		buf_append_str(out, "STARTTLS\r\n");
		qc_set_state(c, QC_STARTTLS);
		return QUEUE_CLIENT_MORE;
	}
	if (!c->tls && c->p.tls_required)
		return qc_fail(c, 0, "STARTTLS required but not offered");
	if (c->p.auth_user != NULL && !c->authenticated) {
		if (!(c->caps & QC_CAP_AUTH_PLAIN))
			return qc_fail(c, 0, "AUTH PLAIN not offered");
		qc_auth(c, out);
		return QUEUE_CLIENT_MORE;
	}
	qc_set_state(c, QC_READY);
	return QUEUE_CLIENT_READY;
}

/* A complete reply arrived: act on it in the current state. */
static enum queue_client_status qc_on_reply(struct queue_client *c, struct buf *out)
{
	int cls = c->reply_code / 100;
	if (c->reply_code == 421 && c->state != QC_QUIT)
		return qc_fail(c, 421, c->reply_text);
	switch (c->state) {
	case QC_GREETING:
		if (cls != 2)
			return qc_fail(c, c->reply_code, c->reply_text);
		qc_ehlo(c, out);
		return QUEUE_CLIENT_MORE;
	case QC_EHLO:
		return qc_on_ehlo(c, out);
	case QC_HELO:
		if (cls != 2)
			return qc_fail(c, c->reply_code, c->reply_text);
		if (c->p.tls_required || c->p.auth_user != NULL)
			return qc_fail(c, 0, "no ESMTP: STARTTLS/AUTH impossible");
		qc_set_state(c, QC_READY);
		return QUEUE_CLIENT_READY;
	case QC_STARTTLS:
		/* No plaintext fallback with a host that offered TLS. */
		if (c->reply_code != 220)
			return qc_fail(c, c->reply_code, c->reply_text);
		qc_set_state(c, QC_TLS);
		return QUEUE_CLIENT_STARTTLS;
	case QC_AUTH:
		if (cls != 2)
			return qc_fail(c, c->reply_code, c->reply_text);
		c->authenticated = true;
		qc_set_state(c, QC_READY);
		return QUEUE_CLIENT_READY;
	case QC_RSET:
		if (cls != 2)
			return qc_fail(c, c->reply_code, c->reply_text);
		qc_mail(c, out);
		return QUEUE_CLIENT_MORE;
	case QC_MAIL:
		return qc_on_mail(c, out);
	case QC_RCPT:
		return qc_on_rcpt(c, out);
	case QC_DATA:
		return qc_on_data(c, false);
	case QC_DOT:
		return qc_on_data(c, true);
	case QC_QUIT:
		qc_set_state(c, QC_CLOSED);
		return QUEUE_CLIENT_CLOSED;
	default:
		/* A reply nobody asked for (READY, BODY, TLS). */
		return qc_fail(c, 0, "unexpected reply from server");
	}
}

enum queue_client_status queue_client_input(struct queue_client *c, struct buf *in, struct buf *out)
{
	while (c->state != QC_CLOSED) {
		long lf = buf_find_lf(in);
		if (lf < 0) {
			if (in->len >= QUEUE_CLIENT_MAX_LINE)
				return qc_fail(c, 0, "server reply line too long");
			return QUEUE_CLIENT_MORE;
		}
		size_t len = (size_t)lf;
		if (len >= QUEUE_CLIENT_MAX_LINE)
			return qc_fail(c, 0, "server reply line too long");
		if (len > 0 && in->data[len - 1] == '\r')
			len--;
		int r = qc_reply_line(c, in->data, len);
		buf_consume(in, (size_t)lf + 1);
		if (r < 0)
			return qc_fail(c, 0, "malformed reply from server");
		if (r == 0)
			continue;
		c->txn_answered = c->txn_answered || c->in_txn;
		enum queue_client_status st = qc_on_reply(c, out);
		c->reply_lines = 0;
		if (st != QUEUE_CLIENT_MORE)
			return st;
	}
	return QUEUE_CLIENT_CLOSED;
}

enum queue_client_status queue_client_tls_started(struct queue_client *c, struct buf *out)
{
	if (c->state != QC_TLS)
		return qc_fail(c, 0, "TLS started out of sequence");
	c->tls = true;
	qc_ehlo(c, out);
	return QUEUE_CLIENT_MORE;
}

static bool str_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* A permanent refusal decided here, before any command (RFC 6152, 6531). */
static enum queue_client_status qc_refuse(struct queue_client *c, const char *why)
{
	for (size_t i = 0; i < c->msg.n_rcpts; i++) {
		c->results[i].code = 554;
		snprintf(c->results[i].text, sizeof(c->results[i].text), "%s", why);
	}
	c->in_txn = false;
	return QUEUE_CLIENT_DONE;
}

enum queue_client_status queue_client_mail(struct queue_client *c,
					   const struct queue_client_msg *msg, struct buf *out)
{
	if (c->state != QC_READY || msg->n_rcpts == 0 || msg->n_rcpts > QUEUE_CLIENT_MAX_RCPTS)
		return qc_fail(c, 0, "no transaction possible");
	c->msg = *msg;
	c->in_txn = true;
	c->txn_answered = false;
	c->mail_code = 0;
	c->rcpts_sent = c->rcpts_read = c->rcpts_ok = 0;
	memset(c->rcpt_ok, 0, sizeof(c->rcpt_ok));
	memset(c->results, 0, sizeof(c->results));
	bool utf8 = msg->utf8 || !str_ascii(msg->sender);
	for (size_t i = 0; i < msg->n_rcpts; i++)
		utf8 = utf8 || !str_ascii(msg->rcpts[i]);
	c->msg.utf8 = utf8;
	if (utf8 && !(c->caps & QC_CAP_SMTPUTF8))
		return qc_refuse(c,
				 "554 5.6.7 the message needs SMTPUTF8, "
				 "which the receiving server does not support");
	if (msg->eight_bit && !(c->caps & QC_CAP_8BITMIME) && !utf8)
		return qc_refuse(c,
				 "554 5.6.3 the message has 8-bit content and the "
				 "receiving server does not support 8BITMIME");
	if (c->n_txn++ > 0) {
		/* RSET between transactions: a clean slate whatever came before. */
		buf_append_str(out, "RSET\r\n");
		qc_set_state(c, QC_RSET);
		return QUEUE_CLIENT_MORE;
	}
	qc_mail(c, out);
	return QUEUE_CLIENT_MORE;
}

enum queue_client_status queue_client_body(struct queue_client *c, const char *p, size_t n,
					   bool eof, struct buf *out)
{
	if (c->state != QC_BODY)
		return c->state == QC_CLOSED ? QUEUE_CLIENT_CLOSED : QUEUE_CLIENT_MORE;
	buf_reserve(out, n + n / 8 + 8);
	size_t i = 0;
	while (i < n) {
		if (c->cr) {
			/* CRLF, or a bare CR: either way one line end on the wire. */
			buf_append(out, "\r\n", 2);
			c->bol = true;
			c->cr = false;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		if (p[i] == '\r') {
			c->cr = true;
			i++;
			continue;
		}
		if (p[i] == '\n') {
			buf_append(out, "\r\n", 2); /* bare LF */
			c->bol = true;
			i++;
			continue;
		}
		if (c->bol && p[i] == '.')
			buf_append(out, ".", 1);
		/* The rest of the line in one copy. */
		size_t j = i;
		while (j < n && p[j] != '\r' && p[j] != '\n')
			j++;
		buf_append(out, p + i, j - i);
		c->bol = false;
		i = j;
	}
	if (!eof)
		return QUEUE_CLIENT_BODY;
	if (c->cr || !c->bol)
		buf_append(out, "\r\n", 2);
	c->cr = false;
	buf_append_str(out, ".\r\n");
	qc_set_state(c, QC_DOT);
	return QUEUE_CLIENT_MORE;
}

void queue_client_quit(struct queue_client *c, struct buf *out)
{
	if (c->state != QC_READY)
		return;
	buf_append_str(out, "QUIT\r\n");
	qc_set_state(c, QC_QUIT);
}

const struct queue_client_result *queue_client_results(const struct queue_client *c)
{
	return c->results;
}

const char *queue_client_error(const struct queue_client *c, int *code_r)
{
	if (code_r != NULL)
		*code_r = c->error_code;
	return c->failed ? c->error : NULL;
}

bool queue_client_has_tls(const struct queue_client *c)
{
	return c->tls;
}

bool queue_client_in_transaction(const struct queue_client *c)
{
	return c->in_txn;
}

bool queue_client_txn_answered(const struct queue_client *c)
{
	return c->txn_answered;
}
