/* SPDX-License-Identifier: MIT */
/*
 * The IMAP session engine: a pure state machine fed bytes from a struct
 * buf and appending responses to another. It reads commands through the
 * parser, checks each against its table entry (state, UID prefix,
 * read-only mailbox) in one place, runs the handler and carries its
 * continuations (streamed output, "+ " lines), counts BADs, and keeps the
 * few pieces every command shares: tagged replies, string quoting and
 * mailbox names on the wire. See imap-private.h for the design.
 */
#include "imap/imap-private.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const state_names[] = {
	[IMAP_STATE_NOT_AUTHENTICATED] = "not_authenticated",
	[IMAP_STATE_AUTHENTICATED] = "authenticated",
	[IMAP_STATE_SELECTED] = "selected",
	[IMAP_STATE_LOGOUT] = "logout",
};

const char *imap_state_name(enum imap_state state)
{
	return state <= IMAP_STATE_LOGOUT ? state_names[state] : "?";
}

void imap_session_set_state(struct imap_session *s, enum imap_state to)
{
	log_debug("imap.state", "session=%s from=%s to=%s", s->session_id,
		  imap_state_name(s->state), imap_state_name(to));
	if (s->state == IMAP_STATE_SELECTED && to != IMAP_STATE_SELECTED) {
		imap_view_free(&s->view);
		s->view_shared = false;
		s->view_rights = 0;
		imap_context_free_all(s); /* RFC 5267 4.3: updates end with the mailbox */
		/* RFC 5182 2.1: "$" is emptied when the mailbox is left. */
		free(s->saved_uids);
		s->saved_uids = NULL;
		s->n_saved_uids = 0;
	}
	s->state = to;
}

bool imap_session_auth_allowed(const struct imap_session *s)
{
	return config_auth_allowed(s->config, s->tls, s->peer_loopback);
}

static void imap_limits(const struct imap_session *s, bool authed, struct imap_parser_limits *l)
{
	if (!authed) {
		*l = (struct imap_parser_limits){
			.line_max = IMAP_LINE_MAX_PREAUTH,
			.literal_max = IMAP_LITERAL_MAX_PREAUTH,
			.append_literal_max = IMAP_LITERAL_MAX_PREAUTH,
			.command_max = IMAP_COMMAND_MAX_PREAUTH,
			.id_max = IMAP_ID_MAX_PREAUTH,
		};
		return;
	}
	*l = (struct imap_parser_limits){
		.line_max = IMAP_LINE_MAX,
		.literal_max = IMAP_LITERAL_MAX,
		.append_literal_max = s->config->max_message_size,
		.command_max = s->config->max_message_size + 4 * IMAP_LINE_MAX,
		.plain_command_max = IMAP_COMMAND_MAX,
		.spool_append = true,
		.spool_dir = s->spool_dir,
	};
}

void imap_session_logged_in(struct imap_session *s, const struct store_account *account)
{
	s->account = *account;
	explicit_bzero(s->account.password_hash, sizeof(s->account.password_hash));
	explicit_bzero(s->account.scram, sizeof(s->account.scram));
	struct imap_parser_limits l;
	imap_limits(s, true, &l);
	imap_parser_set_limits(s->parser, &l);
	imap_session_set_state(s, IMAP_STATE_AUTHENTICATED);
}

/* --- strings on the wire ---------------------------------------------------- */

static bool astring_atom_ok(const char *str, size_t len)
{
	if (len == 0 || (len == 3 && strncasecmp(str, "NIL", 3) == 0))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\", c) != NULL)
			return false;
	}
	return true;
}

static bool quoted_ok(const char *str, size_t len, bool utf8)
{
	if (len > 1024)
		return false;
	bool high = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		high |= c >= 0x80;
	}
	return !high || (utf8 && imap_utf8_valid(str, len));
}

void imap_write_string(struct buf *out, const char *str, size_t len, bool utf8)
{
	if (!quoted_ok(str, len, utf8)) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, str, len);
		return;
	}
	buf_reserve(out, len * 2 + 2);
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, &str[i], 1);
	}
	buf_append(out, "\"", 1);
}

/*
 * A quoted string of text at *p ('"' first): copied as it is, or as a
 * literal of its unescaped value when that holds 8-bit octets and utf8 is
 * false. An unterminated one is copied to the end.
 */
static const char *syntax_quoted(struct buf *out, const char *p, bool utf8, struct buf *tmp)
{
	const char *start = p++;
	bool high = false;
	/* One scan for the end (and 8-bit octets); copied whole in the usual case. */
	while (*p != '\0' && *p != '"') {
		if (*p == '\\' && p[1] != '\0')
			p++;
		high |= (unsigned char)*p >= 0x80;
		p++;
	}
	if (*p == '"')
		p++;
	if (!high || utf8) {
		buf_append(out, start, (size_t)(p - start));
		return p;
	}
	buf_clear(tmp);
	for (const char *q = start + 1; q < p && *q != '"'; q++) {
		if (*q == '\\' && q[1] != '\0')
			q++;
		buf_append(tmp, q, 1);
	}
	buf_printf(out, "{%zu}\r\n", tmp->len);
	buf_append(out, tmp->data, tmp->len);
	return p;
}

void imap_write_syntax(struct buf *out, const char *text, bool utf8)
{
	struct buf tmp;
	buf_init(&tmp);
	const char *p = text;
	while (*p != '\0') {
		if (*p == '"') {
			p = syntax_quoted(out, p, utf8, &tmp);
			continue;
		}
		char *end;
		if (*p == '{') {
			/* "{n}\r\n" and n octets: copied whole, whatever they hold. */
			unsigned long long n = strtoull(p + 1, &end, 10);
			if (end != p + 1 && strncmp(end, "}\r\n", 3) == 0 && n <= strlen(end + 3)) {
				size_t len = (size_t)(end + 3 - p) + (size_t)n;
				buf_append(out, p, len);
				p += len;
				continue;
			}
		}
		/* the run up to the next string or literal, at once */
		size_t run = 1 + strcspn(p + 1, "\"{");
		buf_append(out, p, run);
		p += run;
	}
	buf_deinit(&tmp);
}

void imap_write_astring(struct buf *out, const char *str, size_t len, bool utf8)
{
	if (astring_atom_ok(str, len))
		buf_append(out, str, len);
	else
		imap_write_string(out, str, len, utf8);
}

void imap_write_nstring(struct buf *out, const char *str, size_t len, bool utf8)
{
	if (str == NULL)
		buf_append_str(out, "NIL");
	else
		imap_write_string(out, str, len, utf8);
}

void imap_write_flags(struct buf *out, uint32_t flags)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{STORE_FLAG_ANSWERED, "\\Answered"}, {STORE_FLAG_FLAGGED, "\\Flagged"},
		{STORE_FLAG_DELETED, "\\Deleted"},   {STORE_FLAG_SEEN, "\\Seen"},
		{STORE_FLAG_DRAFT, "\\Draft"},       {IMAP_VIEW_RECENT, "\\Recent"},
	};
	bool first = true;
	buf_append(out, "(", 1);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((flags & names[i].bit) == 0)
			continue;
		if (!first)
			buf_append(out, " ", 1);
		buf_append_str(out, names[i].name);
		first = false;
	}
	buf_append(out, ")", 1);
}

/* --- mailbox names ------------------------------------------------------------ */

static int mailbox_name_check(const char *name, const char **error_r)
{
	size_t len = strlen(name);
	if (len == 0 || len > 500) {
		*error_r = "Invalid mailbox name length";
		return -1;
	}
	if (!imap_utf8_valid(name, len)) {
		*error_r = "Mailbox name is not valid UTF-8";
		return -1;
	}
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		/* C1 controls (U+0080..U+009F, 0xC2 0x80..0x9F) too. */
		bool c1 = c == 0xc2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f;
		if (c < 0x20 || c == 0x7f || c1 || c == '*' || c == '%') {
			*error_r = "Invalid characters in mailbox name";
			return -1;
		}
	}
	/* Components: none empty, none "." or "..". */
	const char *comp = name;
	for (;;) {
		size_t n = strcspn(comp, "/");
		if (n == 0 || (n == 1 && comp[0] == '.') ||
		    (n == 2 && comp[0] == '.' && comp[1] == '.')) {
			*error_r = "Invalid hierarchy in mailbox name";
			return -1;
		}
		if (comp[n] == '\0')
			return 0;
		comp += n + 1;
	}
}

int imap_mailbox_name_from_client(const struct imap_session *s, const char *wire, char **name_r,
				  const char **error_r)
{
	/* Say what is wrong before mUTF-7 decoding hides it. */
	if (strpbrk(wire, "\r\n") != NULL) {
		*error_r = "CR and LF are not allowed in mailbox names";
		return -1;
	}
	for (const char *p = wire; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*error_r = "Control characters are not allowed in mailbox names";
			return -1;
		}
	}
	struct buf b;
	buf_init(&b);
	if (s->utf8_accept) {
		buf_append_str(&b, wire);
	} else if (imap_utf7_to_utf8(wire, &b) < 0) {
		buf_deinit(&b);
		*error_r = "Invalid modified UTF-7 in mailbox name";
		return -1;
	}
	char *name = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	/* INBOX is case-insensitive, also as the parent of a hierarchy. */
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	if (mailbox_name_check(name, error_r) < 0) {
		free(name);
		return -1;
	}
	*name_r = name;
	return 0;
}

void imap_write_mailbox_name(const struct imap_session *s, struct buf *out, const char *name)
{
	if (s->utf8_accept) {
		imap_write_astring(out, name, strlen(name), true);
		return;
	}
	struct buf b;
	buf_init(&b);
	if (imap_utf8_to_utf7(name, &b) < 0) {
		/* Stored names are validated UTF-8: this is a store fault. */
		buf_clear(&b);
		buf_append_str(&b, name);
	}
	imap_write_astring(out, b.data != NULL ? b.data : "", b.len, false);
	buf_deinit(&b);
}

/* --- tagged replies ------------------------------------------------------------ */

static void imap_tagged(struct imap_cmd *cmd, struct buf *out, const char *status, const char *fmt,
			va_list ap)
{
	buf_printf(out, "%s %s ", cmd->tag, status);
	buf_vprintf(out, fmt, ap);
	buf_append(out, "\r\n", 2);
}

void imap_session_condstore_enable(struct imap_session *s)
{
	if (s->condstore)
		return;
	s->condstore = true;
	s->condstore_announce = s->state == IMAP_STATE_SELECTED && s->view != NULL;
}

void imap_cmd_sync(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	bool announce = s->condstore_announce;
	s->condstore_announce = false;
	if (s->state != IMAP_STATE_SELECTED || s->view == NULL)
		return;
	/* A grantee whose rights were revoked learns nothing more (imap-acl.c). */
	if (!imap_acl_view_ok(s))
		return;
	bool allow_expunge =
		cmd->def == NULL || (cmd->def->flags & IMAP_CMD_FLAG_NO_EXPUNGE) == 0 || cmd->uid;
	if (imap_view_sync(s, out, allow_expunge) < 0)
		log_warn("imap.sync_error", "session=%s mailbox_id=%lld", s->session_id,
			 (long long)s->view->mailbox_id);
	/* After the sync: the value covers every change just reported. */
	if (announce)
		buf_printf(out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			   (unsigned long long)s->view->highestmodseq);
}

enum imap_cmd_ret imap_cmd_ok(struct imap_cmd *cmd, struct buf *out, const char *fmt, ...)
{
	imap_cmd_sync(cmd, out);
	va_list ap;
	va_start(ap, fmt);
	imap_tagged(cmd, out, "OK", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

enum imap_cmd_ret imap_cmd_no(struct imap_cmd *cmd, struct buf *out, const char *fmt, ...)
{
	imap_cmd_sync(cmd, out);
	va_list ap;
	va_start(ap, fmt);
	imap_tagged(cmd, out, "NO", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

enum imap_cmd_ret imap_cmd_bad(struct imap_cmd *cmd, struct buf *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_tagged(cmd, out, "BAD", fmt, ap);
	va_end(ap);
	cmd->session->bad_count++;
	return IMAP_CMD_DONE;
}

uint64_t imap_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- dispatch --------------------------------------------------------------- */

static void cmd_finish(struct imap_session *s)
{
	struct imap_cmd *cmd = &s->cmd;
	if (cmd->free_context != NULL && cmd->context != NULL)
		cmd->free_context(cmd->context);
	imap_cmd_write_release(cmd);
	memset(cmd, 0, sizeof(*cmd));
	s->cmd_active = false;
}

static void reply_bad(struct imap_session *s, struct buf *out, const char *tag, const char *msg)
{
	buf_printf(out, "%s BAD %s\r\n", tag, msg);
	s->bad_count++;
}

/*
 * Resolve the command, check its table flags, run it. The only place the
 * allowed states, the UID prefix and read-only mailboxes are checked.
 */
static enum imap_cmd_ret imap_dispatch(struct imap_session *s, const char *tag, const char *name,
				       const struct imap_arg *args, struct buf *out)
{
	bool uid = false;
	if (strcmp(name, "UID") == 0) {
		const char *sub;
		if (!imap_arg_get_atom(&args[0], &sub)) {
			reply_bad(s, out, tag, "Missing UID command");
			return IMAP_CMD_DONE;
		}
		name = sub;
		args++;
		uid = true;
	}
	const struct imap_command *def = imap_command_find(name);
	if (def == NULL || (uid && (def->flags & IMAP_CMD_FLAG_UID) == 0)) {
		reply_bad(s, out, tag, "Unknown command");
		return IMAP_CMD_DONE;
	}
	if ((def->flags & (1u << s->state)) == 0) {
		buf_printf(out, "%s BAD %s not allowed in %s state\r\n", tag, def->name,
			   s->state == IMAP_STATE_NOT_AUTHENTICATED       ? "not authenticated"
				   : s->state == IMAP_STATE_AUTHENTICATED ? "authenticated"
									  : "selected");
		s->bad_count++;
		return IMAP_CMD_DONE;
	}
	s->cmd = (struct imap_cmd){
		.session = s,
		.def = def,
		.tag = tag,
		.name = def->name,
		.args = args,
		.uid = uid,
	};
	s->cmd_active = true;
	if (!imap_acl_command_allowed(&s->cmd))
		return imap_cmd_no(&s->cmd, out,
				   "[NOPERM] Permission denied on the selected mailbox");
	if ((def->flags & IMAP_CMD_FLAG_MODIFIES) != 0 && s->view != NULL && s->view->read_only)
		return imap_cmd_no(&s->cmd, out, "[READ-ONLY] Mailbox is read-only");
	return def->func(&s->cmd, out);
}

/* Map a handler's result; the command is finished unless it continues. */
static enum conn_result imap_after(struct imap_session *s, enum imap_cmd_ret r)
{
	switch (r) {
	case IMAP_CMD_MORE:
		return CONN_MORE;
	case IMAP_CMD_WAIT:
		return CONN_WAIT;
	case IMAP_CMD_YIELD:
		return CONN_YIELD;
	case IMAP_CMD_WAIT_LINE:
		return CONN_OK;
	case IMAP_CMD_STARTTLS:
		cmd_finish(s);
		return CONN_STARTTLS;
	case IMAP_CMD_CLOSE:
		cmd_finish(s);
		s->closing = true;
		return CONN_CLOSE;
	case IMAP_CMD_COMPRESS:
		cmd_finish(s);
		return CONN_COMPRESS;
	case IMAP_CMD_DONE:
	default:
		cmd_finish(s);
		return CONN_OK;
	}
}

/* One complete command from the parser. */
static enum conn_result imap_run_command(struct imap_session *s, struct buf *out)
{
	const char *tag, *name, *error;
	const struct imap_arg *args;
	if (imap_parser_parse(s->parser, &tag, &name, &args, &error) < 0) {
		char q[LOG_QUOTE_SIZE(64)];
		log_debug("imap.bad", "session=%s error=%s", s->session_id,
			  log_quote(q, sizeof(q), error));
		reply_bad(s, out, tag, error);
		return CONN_OK;
	}
	return imap_after(s, imap_dispatch(s, tag, name, args, out));
}

/* The client's answer to a "+ " continuation. */
static enum conn_result imap_run_line(struct imap_session *s, const char *data, size_t n,
				      size_t *taken_r, struct buf *out, bool *progress_r)
{
	const char *line;
	size_t len;
	int r = imap_parser_read_line_data(s->parser, data, n, taken_r, &line, &len);
	*progress_r = r != 0;
	if (r == 0)
		return CONN_OK;
	struct imap_cmd *cmd = &s->cmd;
	if (r < 0) {
		imap_cmd_bad(cmd, out, "Invalid continuation line");
		return imap_after(s, IMAP_CMD_DONE);
	}
	imap_cmd_line_func_t *f = cmd->line_func;
	cmd->line_func = NULL;
	return imap_after(s, f(cmd, line, len, out));
}

/*
 * The session waits for the client (between commands, or in IDLE): what it
 * keeps meanwhile should be small. The view's arrays go to a snapshot
 * shared with the other sessions that see the same mailbox the same way.
 */
void imap_session_rest(struct imap_session *s, enum conn_result r)
{
	if (r == CONN_OK && (!s->cmd_active || s->cmd.func == NULL))
		imap_view_compact(s->view);
}

static bool imap_too_many_errors(struct imap_session *s, struct buf *out)
{
	if (s->bad_count < IMAP_MAX_BAD)
		return false;
	log_info("imap.too_many_errors", "session=%s", s->session_id);
	buf_append_str(out, "* BYE Too many invalid commands\r\n");
	return true;
}

enum conn_result imap_session_input(struct imap_session *s, struct buf *in, struct buf *out)
{
	if (s->closing) {
		buf_clear(in);
		return CONN_CLOSE;
	}
	if (s->cmd_active && s->cmd.func != NULL)
		return imap_session_resume(s, out);
	enum conn_result r = CONN_OK;
	/*
	 * Commands are taken from in at off and the bytes dropped once at the
	 * end: dropping them after each command would move the rest of a
	 * long pipeline every time.
	 */
	size_t off = 0, taken;
	while (off < in->len && r == CONN_OK) {
		if (s->cmd_active && s->cmd.line_func != NULL) {
			bool progress;
			r = imap_run_line(s, in->data + off, in->len - off, &taken, out, &progress);
			off += taken;
			if (!progress)
				break;
		} else {
			enum imap_scan_result sr = imap_parser_scan_data(
				s->parser, in->data + off, in->len - off, &taken, out);
			off += taken;
			if (sr == IMAP_SCAN_MORE)
				break;
			if (sr == IMAP_SCAN_COMMAND) {
				r = imap_run_command(s, out);
			} else {
				const char *tag, *msg = imap_parser_error(s->parser, &tag);
				char q[LOG_QUOTE_SIZE(128)];
				log_info("imap.refused", "session=%s reply=%s", s->session_id,
					 log_quote(q, sizeof(q), msg));
				if (sr == IMAP_SCAN_FATAL) {
					buf_printf(out, "* BYE %s\r\n", msg + 4);
					r = CONN_CLOSE;
				} else {
					buf_printf(out, "%s %s\r\n", tag, msg);
					s->bad_count += strncmp(msg, "BAD", 3) == 0;
				}
			}
		}
		if (r == CONN_OK && imap_too_many_errors(s, out))
			r = CONN_CLOSE;
		/* Back-pressure: let the output drain before the next command. */
		if (r == CONN_OK && out->len >= IMAP_OUTPUT_HIGH && off < in->len)
			r = CONN_MORE;
	}
	buf_consume(in, off);
	if (r == CONN_CLOSE)
		s->closing = true;
	imap_session_rest(s, r);
	return r;
}

enum conn_result imap_session_resume(struct imap_session *s, struct buf *out)
{
	if (s->closing)
		return CONN_CLOSE;
	if (!s->cmd_active || s->cmd.func == NULL)
		return CONN_OK;
	struct imap_cmd *cmd = &s->cmd;
	imap_cmd_func_t *f = cmd->func;
	cmd->func = NULL;
	enum conn_result r = imap_after(s, f(cmd, out));
	if (r == CONN_CLOSE)
		s->closing = true;
	imap_session_rest(s, r);
	return r;
}

/* --- lifecycle ------------------------------------------------------------------ */

struct imap_session *imap_session_create(const struct imap_settings *settings, struct buf *out)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	s->config = settings->config;
	s->store = settings->store;
	s->session_id = xstrdup(settings->session_id != NULL ? settings->session_id : "-");
	s->peer_ip = xstrdup(settings->peer_ip != NULL ? settings->peer_ip : "-");
	s->peer_loopback = settings->peer_loopback;
	s->tls = settings->tls;
	s->tls_available = settings->tls_available;
	s->binding = settings->binding;
	s->login = settings->login;
	s->login_ctx = settings->login_ctx;
	s->auth_pool = settings->auth_pool;
	s->wake = settings->wake;
	s->wake_arg = settings->wake_arg;
	s->writer = settings->writer;
	s->filter = settings->filter;
	s->write_done = settings->write_done;
	s->write_done_arg = settings->write_done_arg;
	s->state = IMAP_STATE_NOT_AUTHENTICATED;
	/* APPEND literals go beside the blobs: the file system the store writes to. */
	if (s->config->data_dir != NULL && s->config->data_dir[0] != '\0')
		s->spool_dir = xasprintf("%s/blobs/tmp", s->config->data_dir);
	struct imap_parser_limits l;
	imap_limits(s, false, &l);
	s->parser = imap_parser_create(&l);
	buf_append_str(out, "* OK [CAPABILITY ");
	imap_capability_write(s, out);
	buf_append_str(out, "] facteur IMAP4rev2 ready\r\n");
	return s;
}

void imap_session_destroy(struct imap_session **sp)
{
	struct imap_session *s = *sp;
	if (s == NULL)
		return;
	if (s->cmd_active)
		cmd_finish(s);
	imap_view_free(&s->view);
	imap_context_free_all(s);
	imap_notify_free(&s->notify);
	imap_parser_destroy(&s->parser);
	free(s->saved_uids);
	free(s->spool_dir);
	free(s->session_id);
	free(s->peer_ip);
	free(s);
	*sp = NULL;
}

void imap_session_tls_started(struct imap_session *s, struct buf *out)
{
	log_debug("imap.tls", "session=%s", s->session_id);
	s->tls = true;
}

void imap_session_timeout(struct imap_session *s, struct buf *out)
{
	log_info("imap.timeout", "session=%s state=%s", s->session_id, imap_state_name(s->state));
	/* Mid-stream, a BYE would land inside a literal. */
	if (!(s->cmd_active && s->cmd.func != NULL))
		buf_append_str(out, "* BYE Autologout; idle for too long\r\n");
	if (s->cmd_active)
		cmd_finish(s);
	s->closing = true;
}

int imap_session_idle_timeout(const struct imap_session *s)
{
	return s->state == IMAP_STATE_NOT_AUTHENTICATED ? IMAP_TIMEOUT_PREAUTH : IMAP_TIMEOUT_AUTH;
}
