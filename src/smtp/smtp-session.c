/* SPDX-License-Identifier: MIT */
/*
 * The SMTP session engine: a pure state machine fed bytes from a struct buf,
 * writing replies to another, reaching store/auth only through the hooks in
 * struct smtp_hooks. One state enum changed by one function (which logs);
 * one command table whose flags (allowed states, arguments, needs AUTH,
 * needs TLS, submission only) are checked in one place, smtp_dispatch();
 * each command split into a check step (parse and validate; on refusal the
 * reply is queued and nothing changes) and a proceed step (commit the state
 * change and reply). Input is handled strictly byte-driven, so feeding a
 * session one byte at a time gives exactly the replies of feeding it whole.
 * DATA ends only at CRLF "." CRLF: any bare CR or LF inside the message is
 * consumed like text and makes the message refused at the real end, which
 * closes the SMTP smuggling hole. A NUL anywhere in DATA or BDAT (we offer
 * no BINARYMIME) refuses the message the same way (550 5.6.0).
 */
#include "smtp/smtp-private.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* After this many 4xx/5xx replies the session is dropped with 421. */
#define SMTP_MAX_ERRORS 10
/* The line cap when the configuration gives none. */
#define SMTP_DEFAULT_LINE 512

#define ST(x) (1u << SMTP_STATE_##x)
/* States in which a command line is read and dispatched. */
#define ST_ANY (ST(INIT) | ST(READY) | ST(MAIL) | ST(RCPT) | ST(CHUNK))

enum smtp_cmd_flag {
	SMTP_CMD_NO_ARGS = 1 << 0,    /* arguments are a syntax error */
	SMTP_CMD_ARGS = 1 << 1,       /* arguments are required */
	SMTP_CMD_AUTH = 1 << 2,       /* submission: only once authenticated */
	SMTP_CMD_TLS = 1 << 3,        /* TLS needed unless plaintext auth is allowed */
	SMTP_CMD_SUBMISSION = 1 << 4, /* not offered on the MX listener */
	SMTP_CMD_CHUNK = 1 << 5,      /* BDAT: a refusal still swallows the octets */
};

/* What a check step parsed, for its proceed step. */
struct smtp_cmd {
	char *args;
	struct smtp_path path;
	bool utf8;
	char address[SMTP_ADDRESS_MAX];
	struct smtp_rcpt_targets targets;
	uint64_t bdat_size;
	bool bdat_last;
	enum smtp_sasl_step sasl;
	char *initial; /* SASL initial response or NULL */
};

struct smtp_command {
	const char *name;
	unsigned states;
	unsigned flags;
	/* 0 to proceed, -1 refused with the reply queued. May be NULL. */
	int (*check)(struct smtp_session *s, struct smtp_cmd *c);
	void (*proceed)(struct smtp_session *s, struct smtp_cmd *c);
};

static void smtp_sasl_continue(struct smtp_session *s, const char *line);
static void smtp_message_finish(struct smtp_session *s);

/* --- state and replies ------------------------------------------------- */

static const char *const state_names[SMTP_STATE_COUNT] = {
	"init", "ready", "mail", "rcpt", "data", "bdat", "chunk", "auth", "closed",
};

const char *smtp_state_name(enum smtp_state state)
{
	return state < SMTP_STATE_COUNT ? state_names[state] : "?";
}

/* The one place the state changes. CLOSED is final. */
static void smtp_set_state(struct smtp_session *s, enum smtp_state state)
{
	if (s->state == state || s->state == SMTP_STATE_CLOSED)
		return;
	log_debug("smtp.state", "session=%s from=%s to=%s", s->info->session_id,
		  state_names[s->state], state_names[state]);
	s->state = state;
}

static void smtp_close(struct smtp_session *s, const char *reason)
{
	if (s->state == SMTP_STATE_CLOSED)
		return;
	log_info("smtp.close", "session=%s reason=%s errors=%u", s->info->session_id, reason,
		 s->errors);
	smtp_set_state(s, SMTP_STATE_CLOSED);
	s->pending = CONN_CLOSE;
}

/*
 * Queue one reply line (CRLF added). A 4xx/5xx reply is logged as a
 * refusal and, when counts is set, counted; the tenth counted one drops
 * the session with 421.
 */
static void smtp_vreply(struct smtp_session *s, bool counts, const char *fmt, va_list ap)
{
	size_t start = s->out->len;
	buf_vprintf(s->out, fmt, ap);
	int len = (int)(s->out->len - start);
	buf_append(s->out, "\r\n", 2);
	const char *r = s->out->data + start; /* after the append: it may move */
	if (len < 3 || r[0] < '4')
		return;
	char q[LOG_QUOTE_SIZE(256)];
	log_info("smtp.reject", "session=%s state=%s reply=%s", s->info->session_id,
		 state_names[s->state], log_quote_n(q, sizeof(q), r, (size_t)len));
	if (counts && ++s->errors >= SMTP_MAX_ERRORS) {
		buf_printf(s->out, "421 4.7.0 %s Too many errors, closing connection\r\n",
			   s->cfg->hostname);
		smtp_close(s, "errors");
	}
}

__attribute__((format(printf, 2, 3))) static void smtp_reply(struct smtp_session *s,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_vreply(s, true, fmt, ap);
	va_end(ap);
}

/* A refusal that is no fault of the client's (e.g. 452 too many recipients). */
__attribute__((format(printf, 2, 3))) static void smtp_reply_uncounted(struct smtp_session *s,
								       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_vreply(s, false, fmt, ap);
	va_end(ap);
}

/* --- the transaction --------------------------------------------------- */

static void smtp_txn_reset(struct smtp_txn *t)
{
	for (size_t i = 0; i < t->n_remote; i++)
		free(t->remote[i]);
	t->n_remote = 0;
	for (size_t i = 0; i < t->n_accounts; i++)
		free(t->account_rcpts[i]);
	t->n_accounts = 0;
	t->sender[0] = '\0';
	t->first_rcpt[0] = '\0';
	t->utf8 = false;
	t->n_rcpt = 0;
	t->n_overshoot = 0;
	t->size = 0;
	t->oversize = false;
	t->bad_eol = false;
	t->has_nul = false;
	t->bdat = false;
	t->chunk_left = 0;
	t->chunk_last = false;
	t->queue_id[0] = '\0';
	t->spool_failed = false;
	/* The message's memory or file goes back now, not at the next one. */
	spool_reset(&t->msg);
}

static void smtp_txn_free(struct smtp_txn *t)
{
	smtp_txn_reset(t);
	free(t->accounts);
	free(t->account_rcpts);
	free(t->remote);
	spool_deinit(&t->msg);
}

/* Back to a clean slate after a transaction ends or is aborted. */
static void smtp_txn_end(struct smtp_session *s)
{
	smtp_txn_reset(&s->txn);
	smtp_set_state(s, s->helo[0] != '\0' ? SMTP_STATE_READY : SMTP_STATE_INIT);
}

static void smtp_txn_add_account(struct smtp_txn *t, int64_t id, const char *rcpt)
{
	for (size_t i = 0; i < t->n_accounts; i++)
		if (t->accounts[i] == id)
			return;
	if (t->n_accounts == t->cap_accounts) {
		t->cap_accounts = t->cap_accounts ? t->cap_accounts * 2 : 8;
		t->accounts = xrealloc(t->accounts, t->cap_accounts * sizeof(*t->accounts));
		t->account_rcpts =
			xrealloc(t->account_rcpts, t->cap_accounts * sizeof(*t->account_rcpts));
	}
	t->account_rcpts[t->n_accounts] = xstrdup(rcpt);
	t->accounts[t->n_accounts++] = id;
}

/* Takes ownership of addr. */
static void smtp_txn_add_remote(struct smtp_txn *t, char *addr)
{
	for (size_t i = 0; i < t->n_remote; i++) {
		if (strcasecmp(t->remote[i], addr) == 0) {
			free(addr);
			return;
		}
	}
	if (t->n_remote == t->cap_remote) {
		t->cap_remote = t->cap_remote ? t->cap_remote * 2 : 8;
		t->remote = xrealloc(t->remote, t->cap_remote * sizeof(*t->remote));
	}
	t->remote[t->n_remote++] = addr;
}

static void smtp_targets_free(struct smtp_rcpt_targets *r)
{
	for (size_t i = 0; i < r->n_remote; i++)
		free(r->remote[i]);
	r->n_remote = 0;
	r->n_accounts = 0;
}

/* --- the message: headers, DATA scanner, BDAT, delivery ----------------- */

static void smtp_rfc5322_date(char *out, size_t outsz, time_t now)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&now, &tm);
	snprintf(out, outsz, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "with" protocol names of RFC 3848 and RFC 6531. */
static void smtp_with_protocol(const struct smtp_session *s, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%s%s",
		 s->txn.utf8        ? "UTF8SMTP"
			 : s->esmtp ? "ESMTP"
				    : "SMTP",
		 s->info->tls ? "S" : "", s->authenticated ? "A" : "");
}

static void smtp_received_header(struct smtp_session *s, struct buf *b)
{
	const char *ip = s->info->peer_ip ? s->info->peer_ip : "unknown";
	char date[64], with[16], forpart[SMTP_ADDRESS_MAX + 16] = "";
	smtp_rfc5322_date(date, sizeof(date), time(NULL));
	smtp_with_protocol(s, with, sizeof(with));
	if (s->txn.n_rcpt == 1)
		snprintf(forpart, sizeof(forpart), "\r\n\tfor <%s>", s->txn.first_rcpt);
	buf_printf(b,
		   "Received: from %s ([%s%s])\r\n\tby %s (facteur) with %s id %s%s;\r\n\t%s\r\n",
		   s->helo, strchr(ip, ':') ? "IPv6:" : "", ip, s->cfg->hostname, with,
		   s->txn.queue_id, forpart, date);
}

static void smtp_message_begin(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;
	s->n_txn++;
	snprintf(t->queue_id, sizeof(t->queue_id), "%s.%u", s->info->session_id, s->n_txn);
	struct buf head;
	const char *error;
	buf_init(&head);
	buf_printf(&head, "Return-Path: <%s>\r\n", t->sender);
	t->return_path_len = head.len;
	smtp_received_header(s, &head);
	spool_reset(&t->msg);
	t->msg.unauth = !s->authenticated;
	t->spool_failed = spool_append(&t->msg, head.data, head.len, &error) < 0;
	buf_deinit(&head);
	t->size = 0;
	t->oversize = false;
	t->bad_eol = false;
	t->has_nul = false;
	t->dstate = SMTP_DATA_BOL;
}

/*
 * Store body octets, counting all of them but keeping none past the size
 * cap. They go to the spool: memory up to a small threshold, a file
 * beyond, so an unfinished message costs little memory whatever its size.
 * When the spool cannot take them (no memory, disk full, the budget of
 * unauthenticated sessions spent) the rest of the message is swallowed and
 * refused with 452 at its end: this session fails, the daemon goes on.
 */
static void smtp_message_add(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_txn *t = &s->txn;
	const char *error;
	t->size += n;
	if (memchr(p, '\0', n) != NULL)
		t->has_nul = true;
	if (t->oversize || t->spool_failed)
		return;
	if (t->size > s->cfg->max_message_size) {
		t->oversize = true;
		spool_reset(&t->msg);
		return;
	}
	if (spool_append(&t->msg, p, n, &error) < 0) {
		log_warn("smtp.spool_failed", "session=%s id=%s error=\"%s\"", s->info->session_id,
			 t->queue_id, error);
		t->spool_failed = true;
		spool_reset(&t->msg);
	}
}

/*
 * Run the DATA state machine over p[0..n). Returns 1 when the terminating
 * CRLF "." CRLF was consumed (*used_r counts up to and including it), or 0
 * when all n bytes were taken and more are needed. Only CRLF ends a line:
 * a bare CR or LF is kept as text and marks the message bad, so "\n.\n",
 * "\r\n.\n", "\n.\r\n" or "\r.\r" can never end it early.
 */
static int smtp_data_scan(struct smtp_session *s, const char *p, size_t n, size_t *used_r)
{
	struct smtp_txn *t = &s->txn;
	size_t i = 0;
	while (i < n) {
		char c = p[i];
		switch (t->dstate) {
		case SMTP_DATA_TEXT: {
			size_t j = i;
			while (j < n && p[j] != '\r' && p[j] != '\n')
				j++;
			if (j > i) {
				smtp_message_add(s, p + i, j - i);
				i = j;
			} else if (c == '\r') {
				t->dstate = SMTP_DATA_CR;
				i++;
			} else {
				t->bad_eol = true;
				smtp_message_add(s, "\n", 1);
				i++;
			}
			break;
		}
		case SMTP_DATA_CR:
			if (c == '\n') {
				smtp_message_add(s, "\r\n", 2);
				t->dstate = SMTP_DATA_BOL;
				i++;
			} else {
				/* the CR was bare; c is looked at again as text */
				t->bad_eol = true;
				smtp_message_add(s, "\r", 1);
				t->dstate = SMTP_DATA_TEXT;
			}
			break;
		case SMTP_DATA_BOL:
			if (c == '.') {
				t->dstate = SMTP_DATA_DOT;
				i++;
			} else {
				t->dstate = SMTP_DATA_TEXT;
			}
			break;
		case SMTP_DATA_DOT:
			if (c == '\r') {
				t->dstate = SMTP_DATA_DOT_CR;
				i++;
			} else {
				/* dot-stuffing: the leading dot is dropped */
				t->dstate = SMTP_DATA_TEXT;
			}
			break;
		case SMTP_DATA_DOT_CR:
			if (c == '\n') {
				*used_r = i + 1;
				return 1;
			}
			t->bad_eol = true;
			smtp_message_add(s, "\r", 1);
			t->dstate = SMTP_DATA_TEXT;
			break;
		}
	}
	*used_r = n;
	return 0;
}

static int smtp_data_step(struct smtp_session *s, struct buf *in)
{
	size_t used;
	if (in->len == 0)
		return 0;
	int done = smtp_data_scan(s, in->data, in->len, &used);
	buf_consume(in, used);
	if (!done)
		return 0;
	smtp_message_finish(s);
	return 1;
}

static void smtp_chunk_done(struct smtp_session *s)
{
	if (s->txn.chunk_last) {
		smtp_message_finish(s);
		return;
	}
	smtp_set_state(s, SMTP_STATE_CHUNK);
	smtp_reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->txn.size);
}

static int smtp_bdat_step(struct smtp_session *s, struct buf *in)
{
	struct smtp_txn *t = &s->txn;
	if (in->len == 0)
		return 0;
	size_t n = t->chunk_left < in->len ? (size_t)t->chunk_left : in->len;
	smtp_message_add(s, in->data, n);
	buf_consume(in, n);
	t->chunk_left -= n;
	if (t->chunk_left > 0)
		return 0;
	smtp_chunk_done(s);
	return 1;
}

/*
 * Hand the message to the deliver hook and reply. Returns 1 when the hook
 * answered PENDING (no reply yet: the transaction stays as it is), else 0.
 * Called again with the same delivery on each resume while pending.
 */
static int smtp_message_deliver(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;
	char reason[256] = "";
	const char *data, *error;
	if (spool_data(&t->msg, &data, &error) < 0) {
		log_warn("smtp.spool_failed", "session=%s id=%s error=\"%s\"", s->info->session_id,
			 t->queue_id, error);
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		return 0;
	}
	struct smtp_delivery d = {
		.queue_id = t->queue_id,
		.sender = t->sender,
		.accounts = t->accounts,
		.account_rcpts = (const char *const *)t->account_rcpts,
		.n_accounts = t->n_accounts,
		.remote = (const char *const *)t->remote,
		.n_remote = t->n_remote,
		.data = data,
		.len = (size_t)t->msg.len,
		.body = &t->msg,
		.return_path_len = t->return_path_len,
		.helo = s->helo,
		.auth_user = s->authenticated ? s->account.address : NULL,
		.auth_account = s->authenticated ? s->account.id : 0,
		.reason = reason,
		.reason_size = sizeof(reason),
	};
	enum smtp_deliver_result r = s->hooks.deliver(s->hooks.ctx, &d);
	if (r == SMTP_DELIVER_PENDING)
		return 1;
	if (r == SMTP_DELIVER_QUOTA) {
		smtp_reply(s, "552 5.2.2 Mailbox full");
		return 0;
	}
	if (r == SMTP_DELIVER_REJECT) {
		char safe[256];
		reason[sizeof(reason) - 1] = '\0';
		str_sanitize(safe, sizeof(safe), reason, strlen(reason));
		smtp_reply(s, "550 5.7.1 %s", safe[0] ? safe : "Message refused by policy");
		return 0;
	}
	if (r == SMTP_DELIVER_DEFER) {
		char safe[256];
		reason[sizeof(reason) - 1] = '\0';
		str_sanitize(safe, sizeof(safe), reason, strlen(reason));
		smtp_reply(s, "451 4.7.1 %s", safe[0] ? safe : "Try again later");
		return 0;
	}
	if (r != SMTP_DELIVER_OK) {
		smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
		return 0;
	}
	char from[LOG_QUOTE_SIZE(SMTP_ADDRESS_MAX)];
	log_quote(from, sizeof(from), t->sender);
	log_info("smtp.accepted", "session=%s id=%s from=%s rcpt=%u local=%zu remote=%zu size=%llu",
		 s->info->session_id, t->queue_id, from, t->n_rcpt, t->n_accounts, t->n_remote,
		 (unsigned long long)t->size);
	smtp_reply(s, "250 2.0.0 Ok: queued as %s", t->queue_id);
	if (s->authenticated && s->hooks.charge != NULL)
		s->hooks.charge(s->hooks.ctx, &s->account, t->n_rcpt);
	return 0;
}

/*
 * The end of DATA or of the LAST chunk: refuse, or deliver then 250. When
 * the hook is still working, the session waits (CONN_WAIT) with the
 * transaction intact; smtp_session_resume finishes it.
 */
static void smtp_message_finish(struct smtp_session *s)
{
	if (s->txn.bad_eol) {
		smtp_reply(s, "550 5.6.11 Bare CR or LF in message; lines must end with CRLF");
	} else if (s->txn.has_nul) {
		smtp_reply(s, "550 5.6.0 NUL character in message not allowed");
	} else if (s->txn.oversize) {
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
	} else if (s->txn.spool_failed) {
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
	} else if (smtp_message_deliver(s)) {
		s->deliver_wait = true;
		if (s->pending == CONN_OK)
			s->pending = CONN_WAIT;
		return;
	}
	smtp_txn_end(s);
}

/* --- HELO, EHLO, and the simple commands -------------------------------- */

static bool smtp_auth_offered(const struct smtp_session *s)
{
	return s->kind != SMTP_KIND_MX &&
		config_auth_allowed(s->cfg, s->info->tls, s->info->peer_loopback);
}

static bool smtp_scram_plus_offered(const struct smtp_session *s)
{
	return s->hooks.scram != NULL && s->info->tls &&
		auth_scram_plus_available(&s->info->binding);
}

static int smtp_check_helo(struct smtp_session *s, struct smtp_cmd *c)
{
	if (!smtp_helo_valid(c->args)) {
		smtp_reply(s, "501 5.5.4 Syntax: EHLO hostname");
		return -1;
	}
	return 0;
}

static void smtp_greeted(struct smtp_session *s, const char *name, bool esmtp)
{
	smtp_txn_reset(&s->txn);
	snprintf(s->helo, sizeof(s->helo), "%s", name);
	s->esmtp = esmtp;
	smtp_set_state(s, SMTP_STATE_READY);
	log_info("smtp.ehlo", "session=%s helo=%s esmtp=%d tls=%d", s->info->session_id, s->helo,
		 esmtp, s->info->tls);
}

static void smtp_proceed_helo(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_greeted(s, c->args, false);
	smtp_reply(s, "250 %s", s->cfg->hostname);
}

static void smtp_proceed_ehlo(struct smtp_session *s, struct smtp_cmd *c)
{
	struct buf *o = s->out;
	smtp_greeted(s, c->args, true);
	buf_printf(o, "250-%s Hello %s\r\n", s->cfg->hostname, s->helo);
	buf_append_str(o, "250-PIPELINING\r\n");
	buf_printf(o, "250-SIZE %llu\r\n", (unsigned long long)s->cfg->max_message_size);
	buf_append_str(o, "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n");
	if (s->info->tls_available && !s->info->tls)
		buf_append_str(o, "250-STARTTLS\r\n");
	if (smtp_auth_offered(s))
		buf_printf(o, "250-AUTH PLAIN LOGIN%s%s\r\n",
			   s->hooks.scram != NULL ? " SCRAM-SHA-256" : "",
			   smtp_scram_plus_offered(s) ? " SCRAM-SHA-256-PLUS" : "");
	buf_append_str(o, "250-SMTPUTF8\r\n250 CHUNKING\r\n");
}

static void smtp_proceed_rset(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_txn_end(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void smtp_proceed_noop(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void smtp_proceed_help(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_reply(s,
		   "214 2.0.0 See RFC 5321; commands: EHLO HELO MAIL RCPT DATA "
		   "BDAT RSET NOOP QUIT STARTTLS AUTH");
}

static void smtp_proceed_vrfy(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

static void smtp_proceed_expn(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_reply(s, "502 5.5.1 EXPN not supported");
}

static void smtp_proceed_quit(struct smtp_session *s, struct smtp_cmd *c)
{
	buf_printf(s->out, "221 2.0.0 %s Bye\r\n", s->cfg->hostname);
	smtp_close(s, "quit");
}

static int smtp_check_starttls(struct smtp_session *s, struct smtp_cmd *c)
{
	if (s->info->tls) {
		smtp_reply(s, "503 5.5.1 TLS already active");
		return -1;
	}
	if (!s->info->tls_available) {
		smtp_reply(s, "454 4.7.0 TLS not available");
		return -1;
	}
	return 0;
}

static void smtp_proceed_starttls(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_txn_reset(&s->txn);
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	s->tls_wait = true;
	s->pending = CONN_STARTTLS;
}

/* --- MAIL and RCPT ----------------------------------------------------- */

/* UTF-8 only under SMTPUTF8 (RFC 6531), then the RFC 5321 syntax. */
static int smtp_check_address(struct smtp_session *s, const char *addr, bool utf8,
			      const char *status)
{
	if (!utf8 && smtp_has_8bit(addr)) {
		smtp_reply(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8");
		return -1;
	}
	if (!mime_address_valid(addr, utf8)) {
		smtp_reply(s, "501 %s Bad address syntax", status);
		return -1;
	}
	return 0;
}

static int smtp_mail_param(struct smtp_session *s, const struct smtp_param *p, struct smtp_cmd *c)
{
	uint64_t size;
	if (!s->esmtp) {
		smtp_reply(s, "555 5.5.4 Parameters need EHLO");
		return -1;
	}
	if (strcasecmp(p->key, "SIZE") == 0) {
		if (p->value == NULL || smtp_parse_number(p->value, &size) < 0) {
			smtp_reply(s, "501 5.5.4 Bad SIZE value");
			return -1;
		}
		if (size > s->cfg->max_message_size) {
			smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
			return -1;
		}
	} else if (strcasecmp(p->key, "BODY") == 0) {
		if (p->value == NULL ||
		    (strcasecmp(p->value, "7BIT") != 0 && strcasecmp(p->value, "8BITMIME") != 0)) {
			smtp_reply(s, "501 5.5.4 Unsupported BODY value");
			return -1;
		}
	} else if (strcasecmp(p->key, "SMTPUTF8") == 0 && p->value == NULL) {
		c->utf8 = true;
	} else if (strcasecmp(p->key, "AUTH") != 0) {
		/* AUTH= (RFC 4954 section 5) is accepted and ignored. */
		smtp_reply(s, "555 5.5.4 Unsupported parameter");
		return -1;
	}
	return 0;
}

/*
 * Sending limits of an authenticated account, for one more message with
 * recipients recipients. Not counted as a client error: the client did
 * nothing wrong and may try later (450, RFC 5321 4.2.5).
 */
static int smtp_check_limit(struct smtp_session *s, unsigned recipients)
{
	if (!s->authenticated || s->hooks.limit == NULL)
		return 0;
	char why[160];
	int r = s->hooks.limit(s->hooks.ctx, &s->account, recipients, why, sizeof(why));
	if (r < 0) {
		smtp_reply(s, "451 4.3.0 Temporary lookup failure");
		return -1;
	}
	if (r == 0) {
		smtp_reply_uncounted(s, "450 4.7.1 %s", why);
		return -1;
	}
	return 0;
}

/* Submission: the sender must be the account's address or resolve to it. */
static int smtp_check_sender_owned(struct smtp_session *s, const char *addr)
{
	if (strcasecmp(addr, s->account.address) == 0)
		return 0;
	int r = s->hooks.sender(s->hooks.ctx, addr, s->account.id, s->account.address);
	if (r < 0) {
		smtp_reply(s, "451 4.3.0 Temporary lookup failure");
		return -1;
	}
	if (r == 0) {
		smtp_reply(s, "553 5.7.1 Sender address not owned by authenticated user");
		return -1;
	}
	return 0;
}

static int smtp_check_mail(struct smtp_session *s, struct smtp_cmd *c)
{
	const char *why;
	if (smtp_parse_path(c->args, "FROM", &c->path, &why) < 0) {
		smtp_reply(s, "501 5.5.4 %s; use MAIL FROM:<address>", why);
		return -1;
	}
	for (size_t i = 0; i < c->path.n_params; i++)
		if (smtp_mail_param(s, &c->path.params[i], c) < 0)
			return -1;
	const char *addr = c->path.address;
	if (*addr == '\0') {
		if (s->kind == SMTP_KIND_MX)
			return 0;
		smtp_reply(s, "553 5.7.1 Null sender not allowed on submission");
		return -1;
	}
	if (smtp_check_address(s, addr, c->utf8, "5.1.7") < 0)
		return -1;
	if (s->kind != SMTP_KIND_MX && smtp_check_sender_owned(s, addr) < 0)
		return -1;
	return smtp_check_limit(s, 0);
}

static void smtp_proceed_mail(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_txn_reset(&s->txn);
	snprintf(s->txn.sender, sizeof(s->txn.sender), "%s", c->path.address);
	s->txn.utf8 = c->utf8;
	smtp_set_state(s, SMTP_STATE_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

/* Turn the recipient hook's answer into a reply; 0 accepts. */
static int smtp_rcpt_policy(struct smtp_session *s, struct smtp_cmd *c,
			    enum smtp_rcpt_status status)
{
	switch (status) {
	case SMTP_RCPT_LOCAL:
		if (c->targets.n_accounts + c->targets.n_remote > 0)
			return 0;
		/* resolved to nothing: as good as unknown */
		/* fall through */
	case SMTP_RCPT_UNKNOWN_USER:
		smtp_reply(s, "550 5.1.1 User unknown");
		return -1;
	case SMTP_RCPT_NOT_LOCAL:
		if (!s->authenticated) {
			smtp_reply(s, "554 5.7.1 Relay access denied");
			return -1;
		}
		/* An address literal names a host directly: not ours to reach. */
		if (!s->cfg->outbound_private && strstr(c->address, "@[") != NULL) {
			smtp_reply(s, "550 5.7.1 Address literals are not accepted for relay");
			return -1;
		}
		smtp_targets_free(&c->targets);
		c->targets.remote[0] = xstrdup(c->address);
		c->targets.n_remote = 1;
		return 0;
	case SMTP_RCPT_OVER_QUOTA:
		smtp_reply(s, "452 4.2.2 Mailbox full");
		return -1;
	case SMTP_RCPT_TEMPFAIL:
		break;
	}
	smtp_reply(s, "451 4.3.0 Temporary lookup failure");
	return -1;
}

static int smtp_check_rcpt(struct smtp_session *s, struct smtp_cmd *c)
{
	const char *why;
	if (smtp_parse_path(c->args, "TO", &c->path, &why) < 0) {
		smtp_reply(s, "501 5.5.4 %s; use RCPT TO:<address>", why);
		return -1;
	}
	if (c->path.n_params > 0) {
		smtp_reply(s, "555 5.5.4 Unsupported parameter");
		return -1;
	}
	/*
	 * RFC 5321 4.5.1: <postmaster> without a domain must be accepted; it
	 * goes to postmaster_address (init: the primary domain's postmaster).
	 */
	if (strcasecmp(c->path.address, "postmaster") == 0 && *s->cfg->postmaster_address != '\0')
		snprintf(c->address, sizeof(c->address), "%s", s->cfg->postmaster_address);
	else if (strcasecmp(c->path.address, "postmaster") == 0)
		snprintf(c->address, sizeof(c->address), "postmaster@%s", s->cfg->hostname);
	else
		snprintf(c->address, sizeof(c->address), "%s", c->path.address);
	if (smtp_check_address(s, c->address, s->txn.utf8, "5.1.3") < 0)
		return -1;
	if (s->txn.n_rcpt >= s->cfg->max_recipients) {
		/*
		 * RFC 5321 4.5.3.1.10: not an error; the client sends the rest
		 * in another transaction. Only a flood far past the cap counts.
		 */
		if (++s->txn.n_overshoot <= s->cfg->recipient_overshoot)
			smtp_reply_uncounted(s, "452 4.5.3 Too many recipients");
		else
			smtp_reply(s, "452 4.5.3 Too many recipients");
		return -1;
	}
	memset(&c->targets, 0, sizeof(c->targets));
	enum smtp_rcpt_status st = s->hooks.rcpt(s->hooks.ctx, c->address, &c->targets);
	if (c->targets.n_accounts > SMTP_RCPT_MAX_TARGETS)
		c->targets.n_accounts = SMTP_RCPT_MAX_TARGETS;
	if (c->targets.n_remote > SMTP_RCPT_MAX_TARGETS)
		c->targets.n_remote = SMTP_RCPT_MAX_TARGETS;
	if (smtp_rcpt_policy(s, c, st) < 0 || smtp_check_limit(s, s->txn.n_rcpt + 1) < 0) {
		smtp_targets_free(&c->targets);
		return -1;
	}
	return 0;
}

static void smtp_proceed_rcpt(struct smtp_session *s, struct smtp_cmd *c)
{
	struct smtp_txn *t = &s->txn;
	for (size_t i = 0; i < c->targets.n_accounts; i++)
		smtp_txn_add_account(t, c->targets.accounts[i], c->address);
	for (size_t i = 0; i < c->targets.n_remote; i++)
		smtp_txn_add_remote(t, c->targets.remote[i]);
	c->targets.n_remote = 0;
	if (t->n_rcpt++ == 0)
		snprintf(t->first_rcpt, sizeof(t->first_rcpt), "%s", c->address);
	smtp_set_state(s, SMTP_STATE_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
}

/* --- DATA and BDAT ----------------------------------------------------- */

static void smtp_proceed_data(struct smtp_session *s, struct smtp_cmd *c)
{
	smtp_message_begin(s);
	smtp_set_state(s, SMTP_STATE_DATA);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static int smtp_check_bdat(struct smtp_session *s, struct smtp_cmd *c)
{
	/* txn.size is 0 until the first chunk (MAIL resets it). */
	if (c->bdat_size > s->cfg->max_message_size ||
	    s->txn.size + c->bdat_size > s->cfg->max_message_size) {
		/* RFC 3030: the transaction fails; later chunks get 503. */
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		smtp_txn_end(s);
		return -1;
	}
	return 0;
}

static void smtp_proceed_bdat(struct smtp_session *s, struct smtp_cmd *c)
{
	struct smtp_txn *t = &s->txn;
	if (s->state == SMTP_STATE_RCPT) {
		smtp_message_begin(s);
		t->bdat = true;
	}
	t->chunk_left = c->bdat_size;
	t->chunk_last = c->bdat_last;
	if (c->bdat_size == 0) {
		smtp_chunk_done(s);
		return;
	}
	smtp_set_state(s, SMTP_STATE_BDAT);
}

/* --- AUTH (RFC 4954): PLAIN, LOGIN, SCRAM-SHA-256(-PLUS) ----------------- */

static int smtp_check_auth(struct smtp_session *s, struct smtp_cmd *c)
{
	if (s->authenticated) {
		smtp_reply(s, "503 5.5.1 Already authenticated");
		return -1;
	}
	char *sp = strchr(c->args, ' ');
	c->initial = NULL;
	if (sp != NULL) {
		*sp = '\0';
		c->initial = sp + 1;
		if (strchr(c->initial, ' ') != NULL || *c->initial == '\0') {
			smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
			return -1;
		}
	}
	if (strcasecmp(c->args, "PLAIN") == 0) {
		c->sasl = SMTP_SASL_PLAIN;
	} else if (strcasecmp(c->args, "LOGIN") == 0) {
		c->sasl = SMTP_SASL_LOGIN_USER;
	} else if (strcasecmp(c->args, "SCRAM-SHA-256") == 0 && s->hooks.scram != NULL) {
		c->sasl = SMTP_SASL_SCRAM;
	} else if (strcasecmp(c->args, "SCRAM-SHA-256-PLUS") == 0 && smtp_scram_plus_offered(s)) {
		c->sasl = SMTP_SASL_SCRAM_PLUS;
	} else {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return -1;
	}
	return 0;
}

static void smtp_sasl_end(struct smtp_session *s)
{
	s->sasl = SMTP_SASL_NONE;
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
	if (s->state == SMTP_STATE_AUTH)
		smtp_set_state(s, SMTP_STATE_READY);
}

/* Base64 with "=" meaning an empty response (RFC 4954 section 4). */
static long smtp_sasl_decode(const char *in, char *out, size_t outsz)
{
	if (strcmp(in, "=") == 0) {
		out[0] = '\0';
		return 0;
	}
	return auth_base64_decode(in, strlen(in), out, outsz);
}

/* The reply to AUTH once the check is over. */
static void smtp_auth_done(struct smtp_session *s, enum smtp_auth_result r,
			   const struct smtp_account *acct, const char *mech, const char *q_user)
{
	if (r == SMTP_AUTH_OK) {
		s->authenticated = true;
		s->account = *acct;
		log_info("smtp.auth", "session=%s mech=%s user=%s result=ok", s->info->session_id,
			 mech, q_user);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	log_info("smtp.auth", "session=%s mech=%s user=%s result=%s", s->info->session_id, mech,
		 q_user,
		 auth_result_name(r == SMTP_AUTH_FAILED            ? AUTH_FAILED
					  : r == SMTP_AUTH_BLOCKED ? AUTH_BLOCKED
								   : AUTH_ERROR));
	if (r == SMTP_AUTH_FAILED)
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	else
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
}

static void smtp_sasl_finish(struct smtp_session *s, const char *mech, const char *user,
			     const char *password)
{
	char q_user[LOG_QUOTE_SIZE(128)];
	struct smtp_account acct;
	memset(&acct, 0, sizeof(acct));
	log_quote(q_user, sizeof(q_user), user);
	enum smtp_auth_result r =
		s->hooks.auth(s->hooks.ctx, s->info->peer_ip, user, password, &acct);
	smtp_sasl_end(s);
	if (r != SMTP_AUTH_PENDING) {
		smtp_auth_done(s, r, &acct, mech, q_user);
		return;
	}
	/* Pipelined commands wait in the input until the check is over. */
	s->auth_wait = true;
	s->auth_mech = mech;
	memcpy(s->auth_q_user, q_user, sizeof(q_user));
	if (s->pending == CONN_OK)
		s->pending = CONN_WAIT;
}

static void smtp_sasl_bad(struct smtp_session *s)
{
	smtp_sasl_end(s);
	smtp_reply(s, "501 5.5.2 Cannot decode response");
}

static void smtp_sasl_plain(struct smtp_session *s, const char *resp)
{
	char raw[2048], user[512], pass[512];
	long n = smtp_sasl_decode(resp, raw, sizeof(raw));
	if (n < 0 || auth_sasl_plain_parse(raw, (size_t)n, user, pass) < 0)
		smtp_sasl_bad(s);
	else
		smtp_sasl_finish(s, "PLAIN", user, pass);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(pass, sizeof(pass));
}

/* LOGIN: the user name arrives first and is kept until the password. */
static void smtp_sasl_login_user(struct smtp_session *s, const char *resp)
{
	long n = smtp_sasl_decode(resp, s->sasl_user, sizeof(s->sasl_user));
	if (n <= 0 || memchr(s->sasl_user, '\0', (size_t)n) != NULL) {
		smtp_sasl_bad(s);
		return;
	}
	s->sasl = SMTP_SASL_LOGIN_PASS;
	smtp_set_state(s, SMTP_STATE_AUTH);
	buf_append_str(s->out, "334 UGFzc3dvcmQ6\r\n"); /* "Password:" */
}

static void smtp_sasl_login_pass(struct smtp_session *s, const char *resp)
{
	char pass[512], user[sizeof(s->sasl_user)];
	long n = smtp_sasl_decode(resp, pass, sizeof(pass));
	if (n <= 0 || memchr(pass, '\0', (size_t)n) != NULL) {
		smtp_sasl_bad(s);
	} else {
		memcpy(user, s->sasl_user, sizeof(user));
		smtp_sasl_finish(s, "LOGIN", user, pass);
	}
	explicit_bzero(pass, sizeof(pass));
}

/* One SCRAM message: a 334 challenge, or the end of the exchange. */
static void smtp_sasl_scram(struct smtp_session *s, const char *resp)
{
	bool plus = s->sasl == SMTP_SASL_SCRAM_PLUS;
	struct auth_scram_io step = {.start = s->scram_start, .plus = plus, .in = resp};
	struct smtp_account acct;
	memset(&acct, 0, sizeof(acct));
	s->scram_start = false;
	enum smtp_auth_result r = s->hooks.scram(s->hooks.ctx, &step, &acct);
	if (r == SMTP_AUTH_PENDING) {
		smtp_set_state(s, SMTP_STATE_AUTH);
		buf_printf(s->out, "334 %s\r\n", step.challenge);
		return;
	}
	smtp_sasl_end(s);
	char q_user[LOG_QUOTE_SIZE(128)];
	log_quote(q_user, sizeof(q_user), step.user);
	smtp_auth_done(s, r, &acct, plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", q_user);
}

static void smtp_sasl_continue(struct smtp_session *s, const char *line)
{
	if (strcmp(line, "*") == 0) {
		smtp_sasl_end(s);
		smtp_reply(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	switch (s->sasl) {
	case SMTP_SASL_PLAIN:
		smtp_sasl_plain(s, line);
		break;
	case SMTP_SASL_LOGIN_USER:
		smtp_sasl_login_user(s, line);
		break;
	case SMTP_SASL_LOGIN_PASS:
		smtp_sasl_login_pass(s, line);
		break;
	case SMTP_SASL_SCRAM:
	case SMTP_SASL_SCRAM_PLUS:
		smtp_sasl_scram(s, line);
		break;
	case SMTP_SASL_NONE:
		smtp_sasl_end(s);
		break;
	}
}

static void smtp_proceed_auth(struct smtp_session *s, struct smtp_cmd *c)
{
	s->sasl = c->sasl;
	s->scram_start = true;
	if (c->initial != NULL) {
		smtp_sasl_continue(s, c->initial);
		return;
	}
	smtp_set_state(s, SMTP_STATE_AUTH);
	if (c->sasl != SMTP_SASL_LOGIN_USER)
		buf_append_str(s->out, "334 \r\n");
	else
		buf_append_str(s->out, "334 VXNlcm5hbWU6\r\n"); /* "Username:" */
}

/* --- dispatch ---------------------------------------------------------- */

static const struct smtp_command smtp_commands[] = {
	{"EHLO", ST_ANY, SMTP_CMD_ARGS, smtp_check_helo, smtp_proceed_ehlo},
	{"HELO", ST_ANY, SMTP_CMD_ARGS, smtp_check_helo, smtp_proceed_helo},
	{"MAIL", ST(READY), SMTP_CMD_ARGS | SMTP_CMD_AUTH, smtp_check_mail, smtp_proceed_mail},
	{"RCPT", ST(MAIL) | ST(RCPT), SMTP_CMD_ARGS | SMTP_CMD_AUTH, smtp_check_rcpt,
	 smtp_proceed_rcpt},
	{"DATA", ST(RCPT), SMTP_CMD_NO_ARGS | SMTP_CMD_AUTH, NULL, smtp_proceed_data},
	{"BDAT", ST(RCPT) | ST(CHUNK), SMTP_CMD_ARGS | SMTP_CMD_AUTH | SMTP_CMD_CHUNK,
	 smtp_check_bdat, smtp_proceed_bdat},
	{"RSET", ST_ANY, SMTP_CMD_NO_ARGS, NULL, smtp_proceed_rset},
	{"NOOP", ST_ANY, 0, NULL, smtp_proceed_noop},
	{"HELP", ST_ANY, 0, NULL, smtp_proceed_help},
	{"VRFY", ST_ANY, SMTP_CMD_ARGS, NULL, smtp_proceed_vrfy},
	{"EXPN", ST_ANY, SMTP_CMD_ARGS, NULL, smtp_proceed_expn},
	{"QUIT", ST_ANY, SMTP_CMD_NO_ARGS, NULL, smtp_proceed_quit},
	{"STARTTLS", ST(INIT) | ST(READY), SMTP_CMD_NO_ARGS, smtp_check_starttls,
	 smtp_proceed_starttls},
	{"AUTH", ST(READY), SMTP_CMD_ARGS | SMTP_CMD_SUBMISSION | SMTP_CMD_TLS, smtp_check_auth,
	 smtp_proceed_auth},
};

static const struct smtp_command *smtp_command_find(const char *verb)
{
	for (size_t i = 0; i < sizeof(smtp_commands) / sizeof(smtp_commands[0]); i++)
		if (strcmp(smtp_commands[i].name, verb) == 0)
			return &smtp_commands[i];
	return NULL;
}

/* The flag checks every command goes through. 0 to go on, -1 refused. */
static int smtp_check_common(struct smtp_session *s, const struct smtp_command *cmd,
			     const char *args)
{
	if ((cmd->flags & SMTP_CMD_SUBMISSION) && s->kind == SMTP_KIND_MX) {
		smtp_reply(s, "502 5.5.1 %s not available on this port", cmd->name);
		return -1;
	}
	if (!(cmd->states & (1u << s->state))) {
		smtp_reply(s, "503 5.5.1 Bad sequence of commands");
		return -1;
	}
	if ((cmd->flags & SMTP_CMD_AUTH) && s->kind != SMTP_KIND_MX && !s->authenticated) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		return -1;
	}
	if ((cmd->flags & SMTP_CMD_TLS) &&
	    !config_auth_allowed(s->cfg, s->info->tls, s->info->peer_loopback)) {
		smtp_reply(s,
			   "538 5.7.11 Encryption required for requested authentication mechanism");
		return -1;
	}
	if (((cmd->flags & SMTP_CMD_NO_ARGS) && args != NULL) ||
	    ((cmd->flags & SMTP_CMD_ARGS) && args == NULL)) {
		smtp_reply(s, "501 5.5.4 Syntax error in parameters or arguments");
		return -1;
	}
	return 0;
}

static void smtp_dispatch(struct smtp_session *s, char *line)
{
	struct smtp_cmdline cl;
	if (smtp_parse_cmdline(line, &cl) < 0) {
		smtp_reply(s, "500 5.5.2 Syntax error, command unrecognized");
		return;
	}
	const struct smtp_command *cmd = smtp_command_find(cl.verb);
	if (cmd == NULL) {
		smtp_reply(s, "500 5.5.2 Command unrecognized");
		return;
	}
	struct smtp_cmd c;
	memset(&c, 0, sizeof(c));
	c.args = cl.args;
	/*
	 * BDAT octets follow the command whatever the answer: once its size
	 * is known they are swallowed even when it is refused, so chunk data
	 * is never read as commands.
	 */
	bool chunk = false;
	if (cmd->flags & SMTP_CMD_CHUNK) {
		if (smtp_parse_bdat(cl.args, &c.bdat_size, &c.bdat_last) < 0) {
			smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
			return;
		}
		chunk = true;
	}
	if (smtp_check_common(s, cmd, cl.args) < 0 ||
	    (cmd->check != NULL && cmd->check(s, &c) < 0)) {
		if (chunk)
			s->skip = c.bdat_size;
		return;
	}
	cmd->proceed(s, &c);
}

/* --- the line reader --------------------------------------------------- */

static void smtp_line_error(struct smtp_session *s, const char *reply)
{
	if (s->state == SMTP_STATE_AUTH)
		smtp_sasl_end(s);
	smtp_reply(s, "%s", reply);
}

/*
 * Take one command line from in, enforcing the cap before the newline
 * arrives and CRLF-only termination. Returns 1 when a line (good or bad)
 * was consumed and answered, 0 when more input is needed.
 */
static int smtp_line_step(struct smtp_session *s, struct buf *in)
{
	if (in->len == 0)
		return 0;
	if (s->discarding) {
		long lf = buf_find_lf(in);
		buf_consume(in, lf < 0 ? in->len : (size_t)lf + 1);
		if (lf < 0)
			return 0;
		s->discarding = false;
		return 1;
	}
	size_t scan = in->len < s->max_line ? in->len : s->max_line;
	const char *lf = memchr(in->data, '\n', scan);
	if (lf == NULL) {
		if (in->len < s->max_line)
			return 0;
		buf_consume(in, s->max_line);
		s->discarding = true;
		smtp_line_error(s, "500 5.5.2 Line too long");
		return 1;
	}
	size_t n = (size_t)(lf - in->data);
	const char *why = NULL;
	if (n == 0 || in->data[n - 1] != '\r')
		why = "500 5.5.2 Bare LF not allowed; end commands with CRLF";
	else if (memchr(in->data, '\r', n - 1) != NULL)
		why = "500 5.5.2 Bare CR not allowed; end commands with CRLF";
	else if (memchr(in->data, '\0', n - 1) != NULL)
		why = "500 5.5.2 NUL not allowed in commands";
	else {
		memcpy(s->line, in->data, n - 1);
		s->line[n - 1] = '\0';
	}
	buf_consume(in, n + 1);
	if (why != NULL)
		smtp_line_error(s, why);
	else if (s->state == SMTP_STATE_AUTH)
		smtp_sasl_continue(s, s->line);
	else
		smtp_dispatch(s, s->line);
	explicit_bzero(s->line, n);
	return 1;
}

/* One step of input handling: 1 to go on, 0 when more input is needed. */
static int smtp_step(struct smtp_session *s, struct buf *in)
{
	if (s->skip > 0) {
		size_t n = s->skip < in->len ? (size_t)s->skip : in->len;
		buf_consume(in, n);
		s->skip -= n;
		return s->skip == 0 && n > 0;
	}
	switch (s->state) {
	case SMTP_STATE_DATA:
		return smtp_data_step(s, in);
	case SMTP_STATE_BDAT:
		return smtp_bdat_step(s, in);
	case SMTP_STATE_CLOSED:
		return 0;
	default:
		return smtp_line_step(s, in);
	}
}

/* --- public API -------------------------------------------------------- */

static enum smtp_kind smtp_kind_of(const char *listener)
{
	if (listener != NULL && strcmp(listener, "submission") == 0)
		return SMTP_KIND_SUBMISSION;
	if (listener != NULL && strcmp(listener, "submissions") == 0)
		return SMTP_KIND_SUBMISSIONS;
	return SMTP_KIND_MX;
}

struct smtp_session *smtp_session_create(const struct config *cfg, const struct conn_info *info,
					 const struct smtp_hooks *hooks, struct buf *out)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	s->info = info;
	s->hooks = *hooks;
	s->kind = smtp_kind_of(info->listener);
	s->state = SMTP_STATE_INIT;
	s->pending = CONN_OK;
	s->max_line = cfg->smtp_max_line >= 16 ? cfg->smtp_max_line : SMTP_DEFAULT_LINE;
	s->line = xmalloc(s->max_line + 1);
	/* Beside the blobs: the same file system the store writes to. */
	if (cfg->data_dir != NULL && cfg->data_dir[0] != '\0')
		s->spool_dir = xasprintf("%s/blobs/tmp", cfg->data_dir);
	spool_init(&s->txn.msg, s->spool_dir, true);
	log_info("smtp.connect", "session=%s ip=%s listener=%s tls=%d", info->session_id,
		 info->peer_ip ? info->peer_ip : "-", info->listener ? info->listener : "-",
		 info->tls);
	buf_printf(out, "220 %s ESMTP facteur\r\n", cfg->hostname);
	return s;
}

void smtp_session_destroy(struct smtp_session **sp)
{
	struct smtp_session *s = *sp;
	if (s == NULL)
		return;
	smtp_txn_free(&s->txn);
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
	free(s->line);
	free(s->spool_dir);
	free(s);
	*sp = NULL;
}

enum conn_result smtp_session_input(struct smtp_session *s, struct buf *in, struct buf *out)
{
	if (s->state == SMTP_STATE_CLOSED)
		return CONN_CLOSE;
	if (s->tls_wait) {
		/* Only the connection layer's mistake: never read across it. */
		buf_clear(in);
		return CONN_OK;
	}
	if (s->deliver_wait || s->auth_wait)
		return CONN_WAIT; /* pipelined commands wait for the reply */
	s->out = out;
	while (s->pending == CONN_OK && smtp_step(s, in))
		;
	enum conn_result r = s->pending;
	if (r == CONN_STARTTLS || r == CONN_WAIT)
		s->pending = CONN_OK;
	s->out = NULL;
	return r;
}

enum conn_result smtp_session_resume(struct smtp_session *s, struct buf *out)
{
	if (s->state == SMTP_STATE_CLOSED)
		return CONN_CLOSE;
	if (s->auth_wait) {
		struct smtp_account acct;
		memset(&acct, 0, sizeof(acct));
		enum smtp_auth_result r = s->hooks.auth_poll(s->hooks.ctx, &acct);
		if (r == SMTP_AUTH_PENDING)
			return CONN_WAIT;
		s->auth_wait = false;
		s->out = out;
		smtp_auth_done(s, r, &acct, s->auth_mech, s->auth_q_user);
		s->out = NULL;
		return s->pending == CONN_CLOSE ? CONN_CLOSE : CONN_OK;
	}
	if (!s->deliver_wait)
		return CONN_OK;
	s->out = out;
	if (!smtp_message_deliver(s)) {
		s->deliver_wait = false;
		smtp_txn_end(s);
	}
	s->out = NULL;
	if (s->deliver_wait)
		return CONN_WAIT;
	return s->pending == CONN_CLOSE ? CONN_CLOSE : CONN_OK;
}

void smtp_session_tls_started(struct smtp_session *s, struct buf *out)
{
	s->tls_wait = false;
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authenticated = false;
	memset(&s->account, 0, sizeof(s->account));
	smtp_txn_reset(&s->txn);
	smtp_set_state(s, SMTP_STATE_INIT);
	log_info("smtp.tls", "session=%s", s->info->session_id);
}

void smtp_session_timeout(struct smtp_session *s, struct buf *out)
{
	if (s->state == SMTP_STATE_CLOSED)
		return;
	buf_printf(out, "421 4.4.2 %s Idle timeout, closing connection\r\n", s->cfg->hostname);
	/* A message still being verified was never acknowledged: it is dropped. */
	s->deliver_wait = false;
	s->auth_wait = false;
	smtp_close(s, "timeout");
}

int smtp_session_idle_timeout(const struct smtp_session *s)
{
	return s->cfg->smtp_timeout > 0 ? (int)s->cfg->smtp_timeout : 300;
}

enum smtp_state smtp_session_state(const struct smtp_session *s)
{
	return s->state;
}

bool smtp_session_authenticated(const struct smtp_session *s)
{
	return s->authenticated;
}
