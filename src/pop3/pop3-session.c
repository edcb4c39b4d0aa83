/* SPDX-License-Identifier: MIT */
/*
 * The POP3 session engine: a pure state machine (AUTHORIZATION,
 * TRANSACTION, UPDATE) fed bytes from a struct buf and appending replies
 * to another. Command lines are capped before their newline arrives and
 * dispatched from one table whose allowed states and arity are checked in
 * one place. RETR and TOP stream the message from an fd in bounded slices
 * (CONN_MORE) with byte-stuffing and CRLF line ends, so memory per session
 * stays small whatever the message size. The store, auth and locking are
 * reached only through struct pop3_hooks (see pop3-private.h).
 */
#include "pop3/pop3-private.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define POP3_MAX_ARGS 2
#define POP3_USER_MAX 512
#define POP3_READ_CHUNK (16 * 1024)

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	bool deleted;
};

/* A RETR or TOP in progress: what must carry over from one slice to the next. */
struct pop3_stream {
	int fd;
	uint32_t uid;
	bool line_start; /* next byte begins a line: a '.' there is doubled */
	bool pending_cr; /* a CR was read; its LF may be in the next chunk */
	bool line_empty; /* nothing but line ends so far on this line */
	bool in_header;  /* TOP: still before the blank line ending the header */
	bool limited;    /* TOP: stop after lines_left body lines */
	uint64_t lines_left;
};

struct pop3_session {
	const struct config *config;
	const struct pop3_hooks *hooks;
	void *ctx;
	char *session_id;
	char *peer_ip;
	bool peer_loopback;
	bool tls;
	bool tls_available;
	const struct conn_tls_binding *binding;

	enum pop3_state state;
	unsigned errors;
	bool discarding;        /* inside an over-long line: skip to its LF */
	bool closing;           /* CONN_CLOSE returned: nothing more is read */
	bool sasl_pending;      /* "+ " sent for AUTH PLAIN: next line answers it */
	const char *scram_mech; /* "+ ..." sent in a SCRAM exchange: next line answers it */
	bool scram_start;       /* ... and it is the exchange's first message */
	bool have_user;
	char user[POP3_USER_MAX + 1];
	/* A login whose check runs elsewhere (POP3_LOGIN_PENDING). */
	bool login_wait;
	const char *login_mech;
	char login_q_user[LOG_QUOTE_SIZE(128)];
	char *line; /* copy of the line being handled, pop3_max_line + 1 */

	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t n_msgs;

	bool streaming;
	struct pop3_stream stream;
};

struct pop3_command {
	const char *name;
	unsigned states; /* bit mask of 1 << enum pop3_state */
	unsigned min_args, max_args;
	bool rest_is_arg; /* PASS: the rest of the line is one argument */
	enum conn_result (*handler)(struct pop3_session *s, char **args, unsigned n_args,
				    struct buf *out);
};

#define ST_AUTH (1u << POP3_STATE_AUTHORIZATION)
#define ST_TRANS (1u << POP3_STATE_TRANSACTION)

static const char *const state_names[] = {
	[POP3_STATE_AUTHORIZATION] = "authorization",
	[POP3_STATE_TRANSACTION] = "transaction",
	[POP3_STATE_UPDATE] = "update",
};

const char *pop3_state_name(enum pop3_state state)
{
	return state <= POP3_STATE_UPDATE ? state_names[state] : "?";
}

/* The only place the state changes, so every transition is logged. */
static void pop3_set_state(struct pop3_session *s, enum pop3_state to)
{
	log_debug("pop3.state", "session=%s from=%s to=%s", s->session_id,
		  pop3_state_name(s->state), pop3_state_name(to));
	s->state = to;
}

static enum conn_result pop3_ok(struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static enum conn_result pop3_ok(struct buf *out, const char *fmt, ...)
{
	va_list ap;
	buf_append_str(out, "+OK ");
	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
	buf_append(out, "\r\n", 2);
	return CONN_OK;
}

/* Every -ERR counts toward POP3_MAX_ERRORS (checked after each line). */
static enum conn_result pop3_err(struct pop3_session *s, struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum conn_result pop3_err(struct pop3_session *s, struct buf *out, const char *fmt, ...)
{
	va_list ap;
	buf_append_str(out, "-ERR ");
	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
	buf_append(out, "\r\n", 2);
	s->errors++;
	return CONN_OK;
}

static bool pop3_auth_allowed(const struct pop3_session *s)
{
	return config_auth_allowed(s->config, s->tls, s->peer_loopback);
}

static void pop3_maildrop_totals(const struct pop3_session *s, size_t *count_r, uint64_t *size_r)
{
	size_t count = 0;
	uint64_t size = 0;
	for (size_t i = 0; i < s->n_msgs; i++) {
		if (!s->msgs[i].deleted) {
			count++;
			size += s->msgs[i].size;
		}
	}
	*count_r = count;
	*size_r = size;
}

/* --- streaming RETR / TOP ---------------------------------------------- */

static void pop3_stream_stop(struct pop3_session *s)
{
	if (s->streaming)
		close(s->stream.fd);
	s->streaming = false;
	s->stream.fd = -1;
}

/*
 * A line ended. Returns true when TOP has sent all it was asked for: the
 * whole header, the blank line, then lines_left body lines.
 */
static bool pop3_stream_line_end(struct pop3_stream *st)
{
	bool was_empty = st->line_empty;
	st->line_start = true;
	st->line_empty = true;
	if (!st->limited)
		return false;
	if (st->in_header) {
		if (!was_empty)
			return false;
		st->in_header = false;
	} else if (st->lines_left > 0) {
		st->lines_left--;
	}
	return st->lines_left == 0;
}

/*
 * Append n content bytes to out, byte-stuffed, every line end as CRLF (a
 * stored bare LF included). Writes straight into out: each input byte
 * gives at most two output bytes. Returns true when TOP is satisfied.
 */
static bool pop3_stream_bytes(struct pop3_stream *st, const char *p, size_t n, struct buf *out)
{
	buf_reserve(out, 2 * n + 4);
	char *o = out->data + out->len;
	bool done = false;
	for (size_t i = 0; i < n && !done; i++) {
		char c = p[i];
		if (st->pending_cr) {
			st->pending_cr = false;
			*o++ = '\r';
			if (c == '\n') {
				*o++ = '\n';
				done = pop3_stream_line_end(st);
				continue;
			}
			/* A bare CR is passed on as it is. */
			st->line_start = false;
			st->line_empty = false;
		}
		if (c == '\r') {
			st->pending_cr = true;
		} else if (c == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			done = pop3_stream_line_end(st);
		} else {
			if (st->line_start && c == '.')
				*o++ = '.';
			st->line_start = false;
			st->line_empty = false;
			*o++ = c;
		}
	}
	out->len = (size_t)(o - out->data);
	return done;
}

static void pop3_stream_finish(struct pop3_session *s, struct buf *out)
{
	struct pop3_stream *st = &s->stream;
	if (st->pending_cr || !st->line_start)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
	pop3_stream_stop(s);
}

/*
 * Produce about POP3_STREAM_SLICE bytes of the stream. CONN_MORE while
 * content remains; CONN_OK once the final "." is queued. A read error
 * mid-stream cannot be reported in-band, so the connection is closed.
 */
static enum conn_result pop3_stream_run(struct pop3_session *s, struct buf *out)
{
	char chunk[POP3_READ_CHUNK];
	size_t start = out->len;
	while (out->len - start < POP3_STREAM_SLICE) {
		ssize_t n = read(s->stream.fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("pop3.stream_error", "session=%s uid=%" PRIu32 " error=\"%s\"",
				  s->session_id, s->stream.uid, strerror(errno));
			pop3_stream_stop(s);
			s->closing = true;
			return CONN_CLOSE;
		}
		if (n == 0 || pop3_stream_bytes(&s->stream, chunk, (size_t)n, out)) {
			pop3_stream_finish(s, out);
			return CONN_OK;
		}
	}
	return CONN_MORE;
}

static enum conn_result pop3_stream_start(struct pop3_session *s, size_t idx, bool limited,
					  uint64_t lines, struct buf *out)
{
	const struct pop3_msg *m = &s->msgs[idx];
	int fd = s->hooks->open_blob(s->ctx, m->uid);
	if (fd < 0) {
		log_error("pop3.blob_error", "session=%s uid=%" PRIu32, s->session_id, m->uid);
		return pop3_err(s, out, "[SYS/TEMP] cannot read message %zu", idx + 1);
	}
	if (limited)
		pop3_ok(out, "top of message %zu follows", idx + 1);
	else
		pop3_ok(out, "%" PRIu64 " octets", m->size);
	log_info(limited ? "pop3.top" : "pop3.retr",
		 "session=%s msg=%zu uid=%" PRIu32 " size=%" PRIu64, s->session_id, idx + 1, m->uid,
		 m->size);
	s->stream = (struct pop3_stream){
		.fd = fd,
		.uid = m->uid,
		.line_start = true,
		.line_empty = true,
		.in_header = true,
		.limited = limited,
		.lines_left = lines,
	};
	s->streaming = true;
	return pop3_stream_run(s, out);
}

/* --- argument parsing --------------------------------------------------- */

/* Digits only, no sign, no overflow. Returns 0 or -1. */
static int pop3_parse_u64(const char *arg, uint64_t *value_r)
{
	uint64_t v = 0;
	if (*arg == '\0')
		return -1;
	for (const char *p = arg; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*value_r = v;
	return 0;
}

/*
 * Resolve a message-number argument to an index of a message not marked
 * deleted. Returns 0, or -1 with the -ERR already queued.
 */
static int pop3_msg_arg(struct pop3_session *s, const char *arg, struct buf *out, size_t *idx_r)
{
	uint64_t n;
	if (pop3_parse_u64(arg, &n) < 0) {
		pop3_err(s, out, "invalid message number");
		return -1;
	}
	if (n == 0 || n > s->n_msgs) {
		pop3_err(s, out, "no such message");
		return -1;
	}
	if (s->msgs[n - 1].deleted) {
		pop3_err(s, out, "message %" PRIu64 " already deleted", n);
		return -1;
	}
	*idx_r = (size_t)(n - 1);
	return 0;
}

/* --- AUTHORIZATION ------------------------------------------------------ */

static enum conn_result pop3_err_cleartext(struct pop3_session *s, struct buf *out)
{
	return pop3_err(s, out, "[SYS/PERM] cleartext authentication not allowed%s",
			s->tls_available ? ", use STLS" : "");
}

static enum conn_result pop3_open_maildrop(struct pop3_session *s, struct buf *out)
{
	struct pop3_maildrop_msg *list = NULL;
	size_t n = 0;
	if (s->hooks->list(s->ctx, &s->uidvalidity, &list, &n) < 0) {
		log_error("pop3.maildrop_error", "session=%s", s->session_id);
		pop3_err(s, out, "[SYS/TEMP] cannot open maildrop");
		s->closing = true;
		return CONN_CLOSE;
	}
	s->msgs = xcalloc(n, sizeof(*s->msgs));
	for (size_t i = 0; i < n; i++) {
		s->msgs[i].uid = list[i].uid;
		s->msgs[i].size = list[i].size;
	}
	s->n_msgs = n;
	free(list);
	pop3_set_state(s, POP3_STATE_TRANSACTION);
	size_t count;
	uint64_t size;
	pop3_maildrop_totals(s, &count, &size);
	return pop3_ok(out, "maildrop has %zu messages (%" PRIu64 " octets)", count, size);
}

/* The answer to a login once its check is over. */
static enum conn_result pop3_login_done(struct pop3_session *s, enum pop3_login_result r,
					const char *q_user, const char *mech, struct buf *out)
{
	/* The names every protocol uses (auth_result_name), plus in_use. */
	static const char *const names[] = {
		[POP3_LOGIN_OK] = "ok",
		[POP3_LOGIN_FAILED] = "failed",
		[POP3_LOGIN_TEMPFAIL] = "tempfail",
		[POP3_LOGIN_IN_USE] = "in_use",
		[POP3_LOGIN_BLOCKED] = "blocked",
	};
	log_event(r == POP3_LOGIN_OK ? LOG_INFO : LOG_WARN, "pop3.login",
		  "session=%s ip=%s user=%s mech=%s result=%s", s->session_id, s->peer_ip, q_user,
		  mech, (unsigned)r <= POP3_LOGIN_BLOCKED ? names[r] : "?");
	switch (r) {
	case POP3_LOGIN_OK:
		return pop3_open_maildrop(s, out);
	case POP3_LOGIN_FAILED:
		return pop3_err(s, out, "[AUTH] authentication failed");
	case POP3_LOGIN_IN_USE:
		return pop3_err(s, out, "[IN-USE] maildrop already locked by another session");
	case POP3_LOGIN_TEMPFAIL:
	default:
		return pop3_err(s, out, "[SYS/TEMP] authentication unavailable, try later");
	}
}

/* The common end of USER/PASS and AUTH PLAIN. */
static enum conn_result pop3_login(struct pop3_session *s, const char *user, const char *password,
				   const char *mech, struct buf *out)
{
	char q_user[LOG_QUOTE_SIZE(128)];
	log_quote(q_user, sizeof(q_user), user);
	enum pop3_login_result r = s->hooks->login(s->ctx, user, password);
	if (r != POP3_LOGIN_PENDING)
		return pop3_login_done(s, r, q_user, mech, out);
	s->login_wait = true;
	s->login_mech = mech;
	memcpy(s->login_q_user, q_user, sizeof(q_user));
	return CONN_WAIT;
}

/* After CONN_WAIT for a login: its outcome, or CONN_WAIT again. */
static enum conn_result pop3_login_poll(struct pop3_session *s, struct buf *out)
{
	enum pop3_login_result r = s->hooks->login_poll(s->ctx);
	if (r == POP3_LOGIN_PENDING)
		return CONN_WAIT;
	s->login_wait = false;
	enum conn_result cr = pop3_login_done(s, r, s->login_q_user, s->login_mech, out);
	if (cr == CONN_OK && s->errors >= POP3_MAX_ERRORS) {
		log_info("pop3.too_many_errors", "session=%s", s->session_id);
		buf_append_str(out, "-ERR too many errors\r\n");
		cr = CONN_CLOSE;
	}
	if (cr == CONN_CLOSE)
		s->closing = true;
	return cr;
}

static enum conn_result cmd_user(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	s->have_user = false;
	if (!pop3_auth_allowed(s))
		return pop3_err_cleartext(s, out);
	size_t len = strlen(args[0]);
	if (len > POP3_USER_MAX)
		return pop3_err(s, out, "user name too long");
	memcpy(s->user, args[0], len + 1);
	s->have_user = true;
	return pop3_ok(out, "send PASS");
}

static enum conn_result cmd_pass(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	if (!pop3_auth_allowed(s))
		return pop3_err_cleartext(s, out);
	if (!s->have_user)
		return pop3_err(s, out, "send USER first");
	s->have_user = false;
	return pop3_login(s, s->user, args[0], "USER", out);
}

/* Decode and check a SASL PLAIN response (base64 text, "=" for empty). */
static enum conn_result pop3_sasl_plain(struct pop3_session *s, const char *b64, struct buf *out)
{
	size_t len = strcmp(b64, "=") == 0 ? 0 : strlen(b64);
	size_t cap = len / 4 * 3 + 4;
	char *raw = xmalloc(cap);
	char authcid[512], passwd[512];
	enum conn_result r;
	long n = auth_base64_decode(b64, len, raw, cap);
	if (n < 0 || auth_sasl_plain_parse(raw, (size_t)n, authcid, passwd) < 0) {
		r = pop3_err(s, out, "[AUTH] malformed PLAIN response");
	} else {
		r = pop3_login(s, authcid, passwd, "PLAIN", out);
	}
	explicit_bzero(raw, cap);
	explicit_bzero(passwd, sizeof(passwd));
	free(raw);
	return r;
}

/* The SASL mechanisms, and how many of them this session may offer now. */
static const char *const pop3_mech_names[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};

static size_t pop3_mech_count(const struct pop3_session *s)
{
	if (s->hooks->scram == NULL)
		return 1;
	return s->tls && auth_scram_plus_available(s->binding) ? 3 : 2;
}

/* One SCRAM message to the hook (RFC 5034: challenges as "+ base64"). */
static enum conn_result pop3_scram(struct pop3_session *s, const char *in, struct buf *out)
{
	struct auth_scram_io step = {
		.start = s->scram_start,
		.plus = strcmp(s->scram_mech, "SCRAM-SHA-256-PLUS") == 0,
		.in = in,
	};
	const char *mech = s->scram_mech;
	s->scram_mech = NULL;
	s->scram_start = false;
	enum pop3_login_result r = s->hooks->scram(s->ctx, &step);
	if (r == POP3_LOGIN_PENDING) {
		s->scram_mech = mech;
		buf_printf(out, "+ %s\r\n", step.challenge);
		return CONN_OK;
	}
	char q_user[LOG_QUOTE_SIZE(128)];
	log_quote(q_user, sizeof(q_user), step.user);
	return pop3_login_done(s, r, q_user, mech, out);
}

static enum conn_result pop3_scram_start(struct pop3_session *s, bool plus, const char *ir,
					 struct buf *out)
{
	if (pop3_mech_count(s) < (plus ? 3u : 2u))
		return pop3_err(s, out, "unsupported authentication mechanism");
	s->scram_mech = pop3_mech_names[plus ? 2 : 1];
	s->scram_start = true;
	if (ir != NULL)
		return pop3_scram(s, ir, out);
	buf_append_str(out, "+ \r\n"); /* no initial response: ask for it */
	return CONN_OK;
}

static enum conn_result cmd_auth(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	s->have_user = false;
	if (!pop3_auth_allowed(s))
		return pop3_err_cleartext(s, out);
	if (n_args == 0) {
		buf_append_str(out, "+OK SASL mechanisms follow\r\n");
		for (size_t i = 0; i < pop3_mech_count(s); i++)
			buf_printf(out, "%s\r\n", pop3_mech_names[i]);
		buf_append_str(out, ".\r\n");
		return CONN_OK;
	}
	bool plus = strcasecmp(args[0], "SCRAM-SHA-256-PLUS") == 0;
	if (plus || strcasecmp(args[0], "SCRAM-SHA-256") == 0)
		return pop3_scram_start(s, plus, n_args == 2 ? args[1] : NULL, out);
	if (strcasecmp(args[0], "PLAIN") != 0)
		return pop3_err(s, out, "unsupported authentication mechanism");
	if (n_args == 2)
		return pop3_sasl_plain(s, args[1], out);
	s->sasl_pending = true;
	buf_append_str(out, "+ \r\n");
	return CONN_OK;
}

/* The line after "+ ": the client's PLAIN response, or "*" to cancel. */
static enum conn_result pop3_sasl_response(struct pop3_session *s, char *line, struct buf *out)
{
	s->sasl_pending = false;
	s->scram_mech = NULL;
	if (strcmp(line, "*") == 0)
		return pop3_err(s, out, "authentication cancelled");
	return pop3_sasl_plain(s, line, out);
}

static enum conn_result cmd_stls(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	if (s->tls)
		return pop3_err(s, out, "already using TLS");
	if (!s->tls_available)
		return pop3_err(s, out, "TLS not available");
	s->have_user = false;
	pop3_ok(out, "begin TLS negotiation");
	return CONN_STARTTLS;
}

static enum conn_result cmd_capa(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	bool authz = s->state == POP3_STATE_AUTHORIZATION;
	buf_append_str(out,
		       "+OK capability list follows\r\n"
		       "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
		       "PIPELINING\r\n");
	if (authz && pop3_auth_allowed(s)) {
		buf_append_str(out, "USER\r\nSASL");
		for (size_t i = 0; i < pop3_mech_count(s); i++)
			buf_printf(out, " %s", pop3_mech_names[i]);
		buf_append_str(out, "\r\n");
	}
	if (authz && s->tls_available && !s->tls)
		buf_append_str(out, "STLS\r\n");
	buf_append_str(out, "IMPLEMENTATION facteur\r\n.\r\n");
	return CONN_OK;
}

/* --- TRANSACTION -------------------------------------------------------- */

static enum conn_result cmd_stat(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	size_t count;
	uint64_t size;
	pop3_maildrop_totals(s, &count, &size);
	return pop3_ok(out, "%zu %" PRIu64, count, size);
}

static enum conn_result cmd_list(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	size_t idx;
	if (n_args == 1) {
		if (pop3_msg_arg(s, args[0], out, &idx) < 0)
			return CONN_OK;
		return pop3_ok(out, "%zu %" PRIu64, idx + 1, s->msgs[idx].size);
	}
	size_t count;
	uint64_t size;
	pop3_maildrop_totals(s, &count, &size);
	pop3_ok(out, "%zu messages (%" PRIu64 " octets)", count, size);
	for (size_t i = 0; i < s->n_msgs; i++) {
		if (!s->msgs[i].deleted)
			buf_printf(out, "%zu %" PRIu64 "\r\n", i + 1, s->msgs[i].size);
	}
	buf_append(out, ".\r\n", 3);
	return CONN_OK;
}

/* The unique id: stable across sessions, never reused within a mailbox. */
static void pop3_append_uidl(const struct pop3_session *s, size_t idx, struct buf *out)
{
	buf_printf(out, "%zu %08" PRIx32 "%08" PRIx32 "\r\n", idx + 1, s->uidvalidity,
		   s->msgs[idx].uid);
}

static enum conn_result cmd_uidl(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	size_t idx;
	if (n_args == 1) {
		if (pop3_msg_arg(s, args[0], out, &idx) < 0)
			return CONN_OK;
		buf_append_str(out, "+OK ");
		pop3_append_uidl(s, idx, out);
		return CONN_OK;
	}
	buf_append_str(out, "+OK unique-id listing follows\r\n");
	for (size_t i = 0; i < s->n_msgs; i++) {
		if (!s->msgs[i].deleted)
			pop3_append_uidl(s, i, out);
	}
	buf_append(out, ".\r\n", 3);
	return CONN_OK;
}

static enum conn_result cmd_retr(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	size_t idx;
	if (pop3_msg_arg(s, args[0], out, &idx) < 0)
		return CONN_OK;
	return pop3_stream_start(s, idx, false, 0, out);
}

static enum conn_result cmd_top(struct pop3_session *s, char **args, unsigned n_args,
				struct buf *out)
{
	size_t idx;
	uint64_t lines;
	if (pop3_msg_arg(s, args[0], out, &idx) < 0)
		return CONN_OK;
	if (pop3_parse_u64(args[1], &lines) < 0)
		return pop3_err(s, out, "invalid line count");
	return pop3_stream_start(s, idx, true, lines, out);
}

static enum conn_result cmd_dele(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	size_t idx;
	if (pop3_msg_arg(s, args[0], out, &idx) < 0)
		return CONN_OK;
	s->msgs[idx].deleted = true;
	return pop3_ok(out, "message %zu deleted", idx + 1);
}

static enum conn_result cmd_rset(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	for (size_t i = 0; i < s->n_msgs; i++)
		s->msgs[i].deleted = false;
	size_t count;
	uint64_t size;
	pop3_maildrop_totals(s, &count, &size);
	return pop3_ok(out, "maildrop has %zu messages (%" PRIu64 " octets)", count, size);
}

static enum conn_result cmd_noop(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	buf_append_str(out, "+OK\r\n");
	return CONN_OK;
}

/*
 * QUIT from TRANSACTION enters UPDATE: the marked messages are removed in
 * one expunge, the only place POP3 ever deletes anything.
 */
static enum conn_result pop3_update(struct pop3_session *s, struct buf *out)
{
	pop3_set_state(s, POP3_STATE_UPDATE);
	size_t n = 0;
	uint32_t *uids = xcalloc(s->n_msgs, sizeof(*uids));
	for (size_t i = 0; i < s->n_msgs; i++) {
		if (s->msgs[i].deleted)
			uids[n++] = s->msgs[i].uid;
	}
	const char *error = NULL;
	int ret = n > 0 ? s->hooks->expunge(s->ctx, uids, n, &error) : 0;
	free(uids);
	if (ret < 0) {
		log_error("pop3.quit", "session=%s deleted=0 marked=%zu error=\"%s\"",
			  s->session_id, n, error != NULL ? error : "?");
		pop3_err(s, out, "[SYS/TEMP] could not remove deleted messages");
		return CONN_CLOSE;
	}
	log_info("pop3.quit", "session=%s deleted=%zu", s->session_id, n);
	pop3_ok(out, "facteur POP3 server signing off (%zu messages deleted)", n);
	return CONN_CLOSE;
}

static enum conn_result cmd_quit(struct pop3_session *s, char **args, unsigned n_args,
				 struct buf *out)
{
	if (s->state == POP3_STATE_TRANSACTION)
		return pop3_update(s, out);
	log_info("pop3.quit", "session=%s deleted=0", s->session_id);
	pop3_ok(out, "facteur POP3 server signing off");
	return CONN_CLOSE;
}

/* --- dispatch ----------------------------------------------------------- */

static const struct pop3_command pop3_commands[] = {
	{"CAPA", ST_AUTH | ST_TRANS, 0, 0, false, cmd_capa},
	{"USER", ST_AUTH, 1, 1, false, cmd_user},
	{"PASS", ST_AUTH, 1, 1, true, cmd_pass},
	{"AUTH", ST_AUTH, 0, 2, false, cmd_auth},
	{"STLS", ST_AUTH, 0, 0, false, cmd_stls},
	{"QUIT", ST_AUTH | ST_TRANS, 0, 0, false, cmd_quit},
	{"NOOP", ST_TRANS, 0, 0, false, cmd_noop},
	{"STAT", ST_TRANS, 0, 0, false, cmd_stat},
	{"LIST", ST_TRANS, 0, 1, false, cmd_list},
	{"UIDL", ST_TRANS, 0, 1, false, cmd_uidl},
	{"RETR", ST_TRANS, 1, 1, false, cmd_retr},
	{"TOP", ST_TRANS, 2, 2, false, cmd_top},
	{"DELE", ST_TRANS, 1, 1, false, cmd_dele},
	{"RSET", ST_TRANS, 0, 0, false, cmd_rset},
};

static const struct pop3_command *pop3_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]); i++) {
		if (strcasecmp(pop3_commands[i].name, name) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

/*
 * Split "NAME arg arg" in place on spaces. Returns the number of
 * arguments, or POP3_MAX_ARGS + 1 when there are too many.
 */
static unsigned pop3_split(char *rest, bool rest_is_arg, char **args)
{
	unsigned n = 0;
	if (rest_is_arg) {
		if (*rest != '\0')
			args[n++] = rest;
		return n;
	}
	while (*rest != '\0') {
		while (*rest == ' ')
			rest++;
		if (*rest == '\0')
			break;
		if (n == POP3_MAX_ARGS)
			return POP3_MAX_ARGS + 1;
		args[n++] = rest;
		while (*rest != '\0' && *rest != ' ')
			rest++;
		if (*rest == ' ')
			*rest++ = '\0';
	}
	return n;
}

/*
 * Handle one command line (len bytes, LF excluded, NUL-terminated copy).
 * Allowed states and arity are checked here, for every command.
 */
static enum conn_result pop3_dispatch(struct pop3_session *s, char *line, size_t len,
				      struct buf *out)
{
	if (memchr(line, '\0', len) != NULL) {
		s->sasl_pending = false;
		s->scram_mech = NULL;
		return pop3_err(s, out, "NUL in command");
	}
	if (len == 0 || line[len - 1] != '\r') {
		s->sasl_pending = false;
		s->scram_mech = NULL;
		return pop3_err(s, out, "line must end with CRLF");
	}
	line[--len] = '\0';
	if (memchr(line, '\r', len) != NULL) {
		s->sasl_pending = false;
		s->scram_mech = NULL;
		return pop3_err(s, out, "bare CR in command");
	}
	if (s->sasl_pending)
		return pop3_sasl_response(s, line, out);
	if (s->scram_mech != NULL) {
		if (strcmp(line, "*") == 0) {
			s->scram_mech = NULL;
			return pop3_err(s, out, "authentication cancelled");
		}
		return pop3_scram(s, line, out);
	}

	char *rest = line + strcspn(line, " ");
	if (*rest == ' ')
		*rest++ = '\0';
	const struct pop3_command *cmd = pop3_command_find(line);
	if (cmd == NULL)
		return pop3_err(s, out, "unknown command");
	if ((cmd->states & (1u << s->state)) == 0)
		return pop3_err(s, out, "%s not allowed in %s state", cmd->name,
				pop3_state_name(s->state));
	char *args[POP3_MAX_ARGS];
	unsigned n_args = pop3_split(rest, cmd->rest_is_arg, args);
	if (n_args < cmd->min_args || n_args > cmd->max_args)
		return pop3_err(s, out, "syntax error in %s", cmd->name);
	return cmd->handler(s, args, n_args, out);
}

static enum conn_result pop3_line_too_long(struct pop3_session *s, struct buf *out)
{
	log_info("pop3.line_too_long", "session=%s", s->session_id);
	s->sasl_pending = false;
	s->scram_mech = NULL;
	return pop3_err(s, out, "line too long");
}

/*
 * Take the next line from in at *pos. Returns 1 when a line (or an
 * over-long fragment) was handled and *r says what to do, 0 when more input
 * is needed.
 */
static int pop3_next_line(struct pop3_session *s, struct buf *in, size_t *pos, struct buf *out,
			  enum conn_result *r)
{
	size_t max = s->config->pop3_max_line;
	const char *start = in->data + *pos;
	size_t avail = in->len - *pos;
	const char *lf = avail > 0 ? memchr(start, '\n', avail) : NULL;
	*r = CONN_OK;
	if (s->discarding) {
		if (lf == NULL) {
			*pos = in->len;
			return 0;
		}
		s->discarding = false;
		*pos += (size_t)(lf - start) + 1;
		return 1;
	}
	if (lf == NULL) {
		/* Checked before the newline arrives: the line can only grow. */
		if (avail < max)
			return 0;
		s->discarding = true;
		*pos = in->len;
		*r = pop3_line_too_long(s, out);
		return 1;
	}
	size_t len = (size_t)(lf - start);
	*pos += len + 1;
	if (len + 1 > max) {
		*r = pop3_line_too_long(s, out);
		return 1;
	}
	memcpy(s->line, start, len);
	s->line[len] = '\0';
	*r = pop3_dispatch(s, s->line, len, out);
	/* The line may have held a password. */
	explicit_bzero(s->line, len);
	return 1;
}

enum conn_result pop3_session_input(struct pop3_session *s, struct buf *in, struct buf *out)
{
	if (s->closing) {
		buf_clear(in);
		return CONN_CLOSE;
	}
	if (s->streaming)
		return pop3_stream_run(s, out);
	if (s->login_wait)
		return CONN_WAIT;
	size_t pos = 0;
	enum conn_result r = CONN_OK;
	while (pos < in->len && pop3_next_line(s, in, &pos, out, &r) == 1) {
		if (r == CONN_OK && s->errors >= POP3_MAX_ERRORS) {
			log_info("pop3.too_many_errors", "session=%s", s->session_id);
			buf_append_str(out, "-ERR too many errors\r\n");
			r = CONN_CLOSE;
		}
		if (r != CONN_OK)
			break;
	}
	buf_consume(in, pos);
	if (r == CONN_CLOSE)
		s->closing = true;
	return r;
}

enum conn_result pop3_session_resume(struct pop3_session *s, struct buf *out)
{
	if (s->streaming)
		return pop3_stream_run(s, out);
	if (s->login_wait && !s->closing)
		return pop3_login_poll(s, out);
	return s->closing ? CONN_CLOSE : CONN_OK;
}

/* --- lifecycle ---------------------------------------------------------- */

struct pop3_session *pop3_session_create(const struct pop3_settings *settings,
					 const struct pop3_hooks *hooks, void *ctx, struct buf *out)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));
	s->config = settings->config;
	s->hooks = hooks;
	s->ctx = ctx;
	s->session_id = xstrdup(settings->session_id ? settings->session_id : "-");
	s->peer_ip = xstrdup(settings->peer_ip ? settings->peer_ip : "-");
	s->peer_loopback = settings->peer_loopback;
	s->tls = settings->tls;
	s->tls_available = settings->tls_available;
	s->binding = settings->binding;
	s->state = POP3_STATE_AUTHORIZATION;
	s->line = xmalloc((size_t)s->config->pop3_max_line + 1);
	s->stream.fd = -1;
	buf_append_str(out, "+OK facteur POP3 server ready\r\n");
	return s;
}

void pop3_session_destroy(struct pop3_session **sp)
{
	struct pop3_session *s = *sp;
	if (s == NULL)
		return;
	pop3_stream_stop(s);
	if (s->state == POP3_STATE_TRANSACTION) {
		size_t marked = 0;
		for (size_t i = 0; i < s->n_msgs; i++)
			marked += s->msgs[i].deleted ? 1 : 0;
		log_info("pop3.close",
			 "session=%s state=transaction deleted=0 "
			 "marked_forgotten=%zu",
			 s->session_id, marked);
	}
	explicit_bzero(s->user, sizeof(s->user));
	free(s->msgs);
	free(s->line);
	free(s->session_id);
	free(s->peer_ip);
	free(s);
	*sp = NULL;
}

void pop3_session_tls_started(struct pop3_session *s, struct buf *out)
{
	log_debug("pop3.tls", "session=%s", s->session_id);
	s->tls = true;
	s->have_user = false;
	s->sasl_pending = false;
	s->scram_mech = NULL;
}

void pop3_session_timeout(struct pop3_session *s, struct buf *out)
{
	log_info("pop3.timeout", "session=%s state=%s", s->session_id, pop3_state_name(s->state));
	/* Mid-stream, a reply would be read as message content. */
	if (!s->streaming)
		buf_append_str(out, "-ERR autologout: idle for too long\r\n");
	pop3_stream_stop(s);
	s->closing = true;
}

int pop3_session_idle_timeout(const struct pop3_session *s)
{
	return (int)s->config->pop3_timeout;
}

enum pop3_state pop3_session_state(const struct pop3_session *s)
{
	return s->state;
}
