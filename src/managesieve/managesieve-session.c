/* SPDX-License-Identifier: MIT */
/*
 * The ManageSieve session engine (RFC 5804): two states (not
 * authenticated, authenticated), commands parsed by managesieve-parse.c
 * and dispatched from one table whose allowed states and arity are
 * checked in one place. Scripts are compiled (sieve_compile) before they
 * are stored, so a client learns of a syntax error with its line and
 * column at PUTSCRIPT or CHECKSCRIPT time; storage goes straight to the
 * store's Sieve functions. Passwords are checked through hooks (the auth
 * pool in the daemon: the session waits with CONN_WAIT meanwhile; SCRAM-SHA-256
 * through auth_scram, which needs no hashing).
 */
#include "managesieve/managesieve-private.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "sieve/sieve.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

enum ms_state {
	MS_STATE_NONAUTH,
	MS_STATE_AUTH,
};

struct managesieve_session {
	const struct config *config;
	struct store *store;
	const struct managesieve_hooks *hooks;
	void *ctx;
	char *session_id;
	char *peer_ip;
	bool peer_loopback;
	bool tls;
	bool tls_available;

	enum ms_state state;
	int64_t account_id;
	unsigned errors;
	bool closing;
	/* A challenge was sent: a bare string line answers it. */
	enum { MS_SASL_NONE, MS_SASL_PLAIN, MS_SASL_SCRAM } sasl_pending;
	bool scram_start; /* ... the first message of a SCRAM exchange */
	bool login_wait;
	char login_q_user[LOG_QUOTE_SIZE(128)];
	size_t skip;     /* bytes of a refused command still to discard */
	bool discarding; /* then discard up to the next LF */
};

struct ms_command {
	const char *name;
	bool needs_auth; /* else: only before authentication */
	bool any_state;
	unsigned min_args, max_args;
	enum conn_result (*handler)(struct managesieve_session *s, struct managesieve_cmd *cmd,
				    struct buf *out);
};

static void ms_set_state(struct managesieve_session *s, enum ms_state to)
{
	log_debug("managesieve.state", "session=%s to=%s", s->session_id,
		  to == MS_STATE_AUTH ? "authenticated" : "nonauth");
	s->state = to;
}

/* "OK", "NO" or "BYE", an optional (CODE), then a quoted human text. */
static enum conn_result ms_reply(struct buf *out, const char *kind, const char *code,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum conn_result ms_reply(struct buf *out, const char *kind, const char *code,
				 const char *fmt, ...)
{
	struct buf text;
	buf_init(&text);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	buf_append_str(out, kind);
	if (code != NULL)
		buf_printf(out, " (%s)", code);
	buf_append(out, " ", 1);
	managesieve_put_string(out, text.data, text.len);
	buf_append(out, "\r\n", 2);
	buf_deinit(&text);
	return CONN_OK;
}

#define ms_no(s, out, code, ...) ((s)->errors++, ms_reply(out, "NO", code, __VA_ARGS__))

static bool ms_auth_allowed(const struct managesieve_session *s)
{
	return config_auth_allowed(s->config, s->tls, s->peer_loopback);
}

static void ms_capabilities(const struct managesieve_session *s, struct buf *out)
{
	buf_append_str(out, "\"IMPLEMENTATION\" \"facteur\"\r\n");
	if (!ms_auth_allowed(s))
		buf_append_str(out, "\"SASL\" \"\"\r\n");
	else if (s->hooks->scram != NULL)
		buf_append_str(out, "\"SASL\" \"PLAIN SCRAM-SHA-256\"\r\n");
	else
		buf_append_str(out, "\"SASL\" \"PLAIN\"\r\n");
	buf_append_str(out, "\"SIEVE\" \"");
	for (size_t i = 0; i < sieve_extension_count(); i++)
		buf_printf(out, "%s%s", i > 0 ? " " : "", sieve_extension_name(i));
	buf_append_str(out, "\"\r\n");
	if (s->tls_available && !s->tls)
		buf_append_str(out, "\"STARTTLS\"\r\n");
	buf_printf(out, "\"MAXREDIRECTS\" \"%u\"\r\n", SIEVE_REDIRECTS_MAX);
	buf_append_str(out, "\"UNAUTHENTICATE\"\r\n");
	buf_append_str(out, "\"VERSION\" \"1.0\"\r\n");
}

/* --- authentication ------------------------------------------------------ */

static enum conn_result ms_login_done(struct managesieve_session *s,
				      enum managesieve_login_result r, int64_t account,
				      const char *mech, struct buf *out)
{
	static const char *const names[] = {"ok", "failed", "tempfail", "blocked"};
	log_event(r == MANAGESIEVE_LOGIN_OK ? LOG_INFO : LOG_WARN, "managesieve.login",
		  "session=%s ip=%s user=%s mech=%s result=%s", s->session_id, s->peer_ip,
		  s->login_q_user, mech, (unsigned)r <= MANAGESIEVE_LOGIN_BLOCKED ? names[r] : "?");
	switch (r) {
	case MANAGESIEVE_LOGIN_OK:
		s->account_id = account;
		ms_set_state(s, MS_STATE_AUTH);
		return ms_reply(out, "OK", NULL, "Logged in");
	case MANAGESIEVE_LOGIN_FAILED:
		return ms_no(s, out, NULL, "Authentication failed");
	default:
		return ms_no(s, out, "TRYLATER", "Authentication unavailable, try later");
	}
}

/* Check a decoded SASL PLAIN message (base64). */
static enum conn_result ms_sasl_plain(struct managesieve_session *s, const char *b64, size_t len,
				      struct buf *out)
{
	size_t cap = len / 4 * 3 + 4;
	char *raw = xmalloc(cap);
	char authcid[512], passwd[512];
	enum conn_result r;
	long n = auth_base64_decode(b64, len, raw, cap);
	if (n < 0 || auth_sasl_plain_parse(raw, (size_t)n, authcid, passwd) < 0) {
		r = ms_no(s, out, NULL, "Malformed PLAIN response");
	} else {
		log_quote(s->login_q_user, sizeof(s->login_q_user), authcid);
		int64_t account = 0;
		enum managesieve_login_result lr =
			s->hooks->login(s->ctx, authcid, passwd, &account);
		if (lr == MANAGESIEVE_LOGIN_PENDING) {
			s->login_wait = true;
			r = CONN_WAIT;
		} else {
			r = ms_login_done(s, lr, account, "PLAIN", out);
		}
	}
	explicit_bzero(raw, cap);
	explicit_bzero(passwd, sizeof(passwd));
	free(raw);
	return r;
}

/*
 * One SCRAM-SHA-256 message (base64) to the hook: a challenge goes out as
 * a string and the next bare line answers it; the exchange's last step is
 * the server-final message as a challenge, answered by an empty string.
 */
static enum conn_result ms_scram(struct managesieve_session *s, const char *b64, struct buf *out)
{
	struct auth_scram_io step = {.start = s->scram_start, .in = b64};
	s->scram_start = false;
	int64_t account = 0;
	enum managesieve_login_result r = s->hooks->scram(s->ctx, &step, &account);
	if (r == MANAGESIEVE_LOGIN_PENDING) {
		s->sasl_pending = MS_SASL_SCRAM;
		managesieve_put_string(out, step.challenge, strlen(step.challenge));
		buf_append(out, "\r\n", 2);
		return CONN_OK;
	}
	log_quote(s->login_q_user, sizeof(s->login_q_user), step.user);
	return ms_login_done(s, r, account, "SCRAM-SHA-256", out);
}

static enum conn_result cmd_authenticate(struct managesieve_session *s, struct managesieve_cmd *cmd,
					 struct buf *out)
{
	if (!ms_auth_allowed(s))
		return ms_no(s, out, s->tls_available ? "ENCRYPT-NEEDED" : NULL,
			     "Authentication without TLS is not allowed%s",
			     s->tls_available ? ", use STARTTLS" : "");
	if (s->hooks->scram != NULL && strcasecmp(cmd->args[0].str, "SCRAM-SHA-256") == 0) {
		s->scram_start = true;
		if (cmd->n_args == 2)
			return ms_scram(s, cmd->args[1].str, out);
		s->sasl_pending = MS_SASL_SCRAM;
		buf_append_str(out, "\"\"\r\n");
		return CONN_OK;
	}
	if (strcasecmp(cmd->args[0].str, "PLAIN") != 0)
		return ms_no(s, out, NULL, "Unsupported authentication mechanism");
	if (cmd->n_args == 2)
		return ms_sasl_plain(s, cmd->args[1].str, cmd->args[1].len, out);
	s->sasl_pending = MS_SASL_PLAIN;
	buf_append_str(out, "\"\"\r\n");
	return CONN_OK;
}

/* The bare line that answers the "" challenge: a string, or "*" to cancel. */
static enum conn_result ms_sasl_response(struct managesieve_session *s, struct managesieve_cmd *cmd,
					 struct buf *out)
{
	bool scram = s->sasl_pending == MS_SASL_SCRAM;
	s->sasl_pending = MS_SASL_NONE;
	if (cmd->n_args != 1 || cmd->args[0].is_number)
		return ms_no(s, out, NULL, "Expected one string in answer to the challenge");
	if (strcmp(cmd->args[0].str, "*") == 0)
		return ms_no(s, out, NULL, "Authentication cancelled");
	if (scram)
		return ms_scram(s, cmd->args[0].str, out);
	return ms_sasl_plain(s, cmd->args[0].str, cmd->args[0].len, out);
}

static enum conn_result ms_login_poll(struct managesieve_session *s, struct buf *out)
{
	int64_t account = 0;
	enum managesieve_login_result r = s->hooks->login_poll(s->ctx, &account);
	if (r == MANAGESIEVE_LOGIN_PENDING)
		return CONN_WAIT;
	s->login_wait = false;
	return ms_login_done(s, r, account, "PLAIN", out);
}

static enum conn_result cmd_unauthenticate(struct managesieve_session *s,
					   struct managesieve_cmd *cmd, struct buf *out)
{
	s->account_id = 0;
	ms_set_state(s, MS_STATE_NONAUTH);
	return ms_reply(out, "OK", NULL, "Back to the unauthenticated state");
}

static enum conn_result cmd_starttls(struct managesieve_session *s, struct managesieve_cmd *cmd,
				     struct buf *out)
{
	if (s->tls)
		return ms_no(s, out, NULL, "TLS is already active");
	if (!s->tls_available)
		return ms_no(s, out, NULL, "TLS is not available");
	ms_reply(out, "OK", NULL, "Begin TLS negotiation now");
	return CONN_STARTTLS;
}

/* --- any state ------------------------------------------------------------ */

static enum conn_result cmd_capability(struct managesieve_session *s, struct managesieve_cmd *cmd,
				       struct buf *out)
{
	ms_capabilities(s, out);
	return ms_reply(out, "OK", NULL, "Capability completed");
}

static enum conn_result cmd_noop(struct managesieve_session *s, struct managesieve_cmd *cmd,
				 struct buf *out)
{
	if (cmd->n_args == 0)
		return ms_reply(out, "OK", NULL, "NOOP completed");
	buf_append_str(out, "OK (TAG ");
	managesieve_put_string(out, cmd->args[0].str, cmd->args[0].len);
	buf_append_str(out, ") \"Done\"\r\n");
	return CONN_OK;
}

static enum conn_result cmd_logout(struct managesieve_session *s, struct managesieve_cmd *cmd,
				   struct buf *out)
{
	log_info("managesieve.logout", "session=%s", s->session_id);
	ms_reply(out, "OK", NULL, "Logout completed");
	return CONN_CLOSE;
}

/* --- scripts --------------------------------------------------------------- */

/* A script name argument: 0, or -1 with the NO queued. */
static int ms_name_arg(struct managesieve_session *s, const struct managesieve_arg *a,
		       struct buf *out)
{
	if (!a->is_number && strlen(a->str) == a->len && store_sieve_name_valid(a->str))
		return 0;
	ms_no(s, out, NULL, "Invalid script name");
	return -1;
}

/* A script argument compiles: 0, or -1 with the NO (with LINE:COL) queued. */
static int ms_compile(struct managesieve_session *s, const struct managesieve_arg *a,
		      struct buf *out)
{
	if (a->is_number) {
		ms_no(s, out, NULL, "Expected a script");
		return -1;
	}
	if (a->len > SIEVE_SCRIPT_MAX) {
		ms_no(s, out, "QUOTA/MAXSIZE", "Script too large");
		return -1;
	}
	struct sieve_script *script = NULL;
	const char *error = NULL;
	if (sieve_compile(a->str, a->len, &script, &error) < 0) {
		ms_no(s, out, NULL, "%s", error);
		return -1;
	}
	sieve_script_free(&script);
	return 0;
}

static enum conn_result ms_store_error(struct managesieve_session *s, const char *what,
				       const char *error, struct buf *out)
{
	log_error("managesieve.store_error", "session=%s op=%s error=\"%s\"", s->session_id, what,
		  error != NULL ? error : "?");
	return ms_no(s, out, "TRYLATER", "Cannot %s the script now", what);
}

static enum conn_result cmd_putscript(struct managesieve_session *s, struct managesieve_cmd *cmd,
				      struct buf *out)
{
	if (ms_name_arg(s, &cmd->args[0], out) < 0 || ms_compile(s, &cmd->args[1], out) < 0)
		return CONN_OK;
	const char *error = NULL;
	if (store_sieve_put(s->store, s->account_id, cmd->args[0].str, cmd->args[1].str,
			    cmd->args[1].len, &error) < 0)
		return ms_store_error(s, "store", error, out);
	log_info("managesieve.put", "session=%s size=%zu", s->session_id, cmd->args[1].len);
	return ms_reply(out, "OK", NULL, "Script stored");
}

static enum conn_result cmd_checkscript(struct managesieve_session *s, struct managesieve_cmd *cmd,
					struct buf *out)
{
	if (ms_compile(s, &cmd->args[0], out) < 0)
		return CONN_OK;
	return ms_reply(out, "OK", NULL, "Script is valid");
}

static enum conn_result cmd_havespace(struct managesieve_session *s, struct managesieve_cmd *cmd,
				      struct buf *out)
{
	if (ms_name_arg(s, &cmd->args[0], out) < 0)
		return CONN_OK;
	if (!cmd->args[1].is_number)
		return ms_no(s, out, NULL, "Expected a size");
	if (cmd->args[1].number > SIEVE_SCRIPT_MAX)
		return ms_no(s, out, "QUOTA/MAXSIZE", "Scripts are limited to %u bytes",
			     SIEVE_SCRIPT_MAX);
	return ms_reply(out, "OK", NULL, "Putscript would succeed");
}

static void ms_list_one(void *ctx, const struct store_sieve_info *info)
{
	struct buf *out = ctx;
	managesieve_put_string(out, info->name, strlen(info->name));
	buf_append_str(out, info->active ? " ACTIVE\r\n" : "\r\n");
}

static enum conn_result cmd_listscripts(struct managesieve_session *s, struct managesieve_cmd *cmd,
					struct buf *out)
{
	struct buf list;
	buf_init(&list);
	int r = store_sieve_list(s->store, s->account_id, ms_list_one, &list);
	if (r == 0)
		buf_append(out, list.data, list.len);
	buf_deinit(&list);
	if (r < 0)
		return ms_store_error(s, "list", NULL, out);
	return ms_reply(out, "OK", NULL, "Listscripts completed");
}

static enum conn_result cmd_getscript(struct managesieve_session *s, struct managesieve_cmd *cmd,
				      struct buf *out)
{
	if (ms_name_arg(s, &cmd->args[0], out) < 0)
		return CONN_OK;
	char *src = NULL;
	size_t len = 0;
	bool active = false;
	int r = store_sieve_get(s->store, s->account_id, cmd->args[0].str, &src, &len, &active);
	if (r < 0)
		return ms_store_error(s, "read", NULL, out);
	if (r == 0)
		return ms_no(s, out, "NONEXISTENT", "There is no script by that name");
	buf_printf(out, "{%zu}\r\n", len);
	buf_append(out, src, len);
	buf_append(out, "\r\n", 2);
	free(src);
	return ms_reply(out, "OK", NULL, "Getscript completed");
}

static enum conn_result cmd_setactive(struct managesieve_session *s, struct managesieve_cmd *cmd,
				      struct buf *out)
{
	const struct managesieve_arg *a = &cmd->args[0];
	bool none = !a->is_number && a->len == 0;
	if (!none && ms_name_arg(s, a, out) < 0)
		return CONN_OK;
	const char *error = NULL;
	int r = store_sieve_activate(s->store, s->account_id, none ? NULL : a->str, &error);
	if (r < 0)
		return ms_store_error(s, "activate", error, out);
	if (r == 0)
		return ms_no(s, out, "NONEXISTENT", "There is no script by that name");
	log_info("managesieve.activate", "session=%s none=%d", s->session_id, none ? 1 : 0);
	return ms_reply(out, "OK", NULL, none ? "No script is active" : "Script activated");
}

/* 1 exists (*active_r set), 0 not, -1 store error. */
static int ms_script_exists(struct managesieve_session *s, const char *name, bool *active_r)
{
	char *src = NULL;
	size_t len = 0;
	int r = store_sieve_get(s->store, s->account_id, name, &src, &len, active_r);
	free(src);
	return r;
}

static enum conn_result cmd_deletescript(struct managesieve_session *s, struct managesieve_cmd *cmd,
					 struct buf *out)
{
	if (ms_name_arg(s, &cmd->args[0], out) < 0)
		return CONN_OK;
	bool active = false;
	int r = ms_script_exists(s, cmd->args[0].str, &active);
	if (r < 0)
		return ms_store_error(s, "read", NULL, out);
	if (r == 0)
		return ms_no(s, out, "NONEXISTENT", "There is no script by that name");
	if (active)
		return ms_no(s, out, "ACTIVE", "The active script cannot be deleted");
	const char *error = NULL;
	r = store_sieve_delete(s->store, s->account_id, cmd->args[0].str, &error);
	if (r < 0)
		return ms_store_error(s, "delete", error, out);
	if (r == 0)
		return ms_no(s, out, "NONEXISTENT", "There is no script by that name");
	return ms_reply(out, "OK", NULL, "Script deleted");
}

static enum conn_result cmd_renamescript(struct managesieve_session *s, struct managesieve_cmd *cmd,
					 struct buf *out)
{
	if (ms_name_arg(s, &cmd->args[0], out) < 0 || ms_name_arg(s, &cmd->args[1], out) < 0)
		return CONN_OK;
	bool active = false;
	int r = ms_script_exists(s, cmd->args[1].str, &active);
	if (r < 0)
		return ms_store_error(s, "read", NULL, out);
	if (r == 1)
		return ms_no(s, out, "ALREADYEXISTS", "A script with that name exists");
	const char *error = NULL;
	r = store_sieve_rename(s->store, s->account_id, cmd->args[0].str, cmd->args[1].str, &error);
	if (r < 0)
		return ms_store_error(s, "rename", error, out);
	if (r == 0)
		return ms_no(s, out, "NONEXISTENT", "There is no script by that name");
	return ms_reply(out, "OK", NULL, "Script renamed");
}

/* --- dispatch -------------------------------------------------------------- */

static const struct ms_command ms_commands[] = {
	{"CAPABILITY", false, true, 0, 0, cmd_capability},
	{"LOGOUT", false, true, 0, 0, cmd_logout},
	{"NOOP", false, true, 0, 1, cmd_noop},
	{"STARTTLS", false, true, 0, 0, cmd_starttls},
	{"AUTHENTICATE", false, false, 1, 2, cmd_authenticate},
	{"UNAUTHENTICATE", true, false, 0, 0, cmd_unauthenticate},
	{"PUTSCRIPT", true, false, 2, 2, cmd_putscript},
	{"CHECKSCRIPT", true, false, 1, 1, cmd_checkscript},
	{"HAVESPACE", true, false, 2, 2, cmd_havespace},
	{"LISTSCRIPTS", true, false, 0, 0, cmd_listscripts},
	{"GETSCRIPT", true, false, 1, 1, cmd_getscript},
	{"SETACTIVE", true, false, 1, 1, cmd_setactive},
	{"DELETESCRIPT", true, false, 1, 1, cmd_deletescript},
	{"RENAMESCRIPT", true, false, 2, 2, cmd_renamescript},
};

/* Allowed state and arity are checked here, for every command. */
static enum conn_result ms_dispatch(struct managesieve_session *s, struct managesieve_cmd *cmd,
				    struct buf *out)
{
	if (s->sasl_pending != MS_SASL_NONE)
		return ms_sasl_response(s, cmd, out);
	const struct ms_command *c = NULL;
	for (size_t i = 0; i < sizeof(ms_commands) / sizeof(ms_commands[0]); i++) {
		if (strcmp(ms_commands[i].name, cmd->name) == 0)
			c = &ms_commands[i];
	}
	if (c == NULL)
		return ms_no(s, out, NULL, "Unknown command");
	if (!c->any_state && c->needs_auth != (s->state == MS_STATE_AUTH))
		return ms_no(s, out, NULL, "%s is not allowed %s authentication", c->name,
			     c->needs_auth ? "before" : "after");
	if (cmd->n_args < c->min_args || cmd->n_args > c->max_args)
		return ms_no(s, out, NULL, "Wrong number of arguments to %s", c->name);
	for (unsigned i = 0; i < cmd->n_args; i++) {
		/* Only HAVESPACE takes a number (its second argument). */
		bool number_ok = c->handler == cmd_havespace && i == 1;
		if (cmd->args[i].is_number && !number_ok)
			return ms_no(s, out, NULL, "Expected a string");
	}
	return c->handler(s, cmd, out);
}

/* Skip what a refused command left: s->skip bytes, then up to an LF. */
static size_t ms_discard(struct managesieve_session *s, const struct buf *in, size_t pos)
{
	size_t avail = in->len - pos;
	if (s->skip > 0) {
		size_t n = s->skip < avail ? s->skip : avail;
		s->skip -= n;
		pos += n;
		avail -= n;
		if (s->skip > 0)
			return pos;
	}
	const char *lf = memchr(in->data + pos, '\n', avail);
	if (lf == NULL)
		return in->len;
	s->discarding = false;
	return (size_t)(lf - in->data) + 1;
}

/* Parse and run one command at *pos: 1 handled (*r set), 0 need more. */
static int ms_next(struct managesieve_session *s, struct buf *in, size_t *pos, struct buf *out,
		   enum conn_result *r)
{
	bool authed = s->state == MS_STATE_AUTH;
	struct managesieve_cmd cmd;
	struct managesieve_parse_error err = {0};
	size_t avail = in->len - *pos;
	long n = managesieve_parse(in->data + *pos, avail, s->sasl_pending != MS_SASL_NONE,
				   authed ? MANAGESIEVE_LINE_MAX : MANAGESIEVE_LINE_MAX_PREAUTH,
				   authed ? SIEVE_SCRIPT_MAX : MANAGESIEVE_LITERAL_MAX_PREAUTH,
				   &cmd, &err);
	*r = CONN_OK;
	if (n == 0)
		return 0;
	if (n < 0) {
		s->sasl_pending = MS_SASL_NONE;
		s->discarding = true;
		if (err.skip > avail) {
			s->skip = err.skip - avail;
			*pos = in->len;
		} else {
			*pos += err.skip;
		}
		log_info("managesieve.bad_command", "session=%s error=\"%s\"", s->session_id,
			 err.text);
		*r = ms_no(s, out, err.code, "%s", err.text);
		return 1;
	}
	*pos += (size_t)n;
	*r = ms_dispatch(s, &cmd, out);
	/* An argument may have held a password. */
	for (unsigned i = 0; i < cmd.n_args; i++) {
		if (cmd.args[i].str != NULL)
			explicit_bzero(cmd.args[i].str, cmd.args[i].len);
	}
	managesieve_cmd_clear(&cmd);
	return 1;
}

static enum conn_result ms_check_errors(struct managesieve_session *s, enum conn_result r,
					struct buf *out)
{
	if (r == CONN_OK && s->errors >= MANAGESIEVE_MAX_ERRORS) {
		log_info("managesieve.too_many_errors", "session=%s", s->session_id);
		ms_reply(out, "BYE", NULL, "Too many errors");
		r = CONN_CLOSE;
	}
	if (r == CONN_CLOSE)
		s->closing = true;
	return r;
}

enum conn_result managesieve_session_input(struct managesieve_session *s, struct buf *in,
					   struct buf *out)
{
	if (s->closing) {
		buf_clear(in);
		return CONN_CLOSE;
	}
	if (s->login_wait)
		return CONN_WAIT;
	size_t pos = 0;
	enum conn_result r = CONN_OK;
	while (pos < in->len) {
		if (s->discarding) {
			pos = ms_discard(s, in, pos);
			continue;
		}
		if (ms_next(s, in, &pos, out, &r) == 0)
			break;
		r = ms_check_errors(s, r, out);
		if (r != CONN_OK)
			break;
	}
	buf_consume(in, pos);
	return r;
}

enum conn_result managesieve_session_resume(struct managesieve_session *s, struct buf *out)
{
	if (s->login_wait && !s->closing)
		return ms_check_errors(s, ms_login_poll(s, out), out);
	return s->closing ? CONN_CLOSE : CONN_OK;
}

/* --- lifecycle ------------------------------------------------------------- */

struct managesieve_session *managesieve_session_create(const struct managesieve_settings *settings,
						       const struct managesieve_hooks *hooks,
						       void *ctx, struct buf *out)
{
	struct managesieve_session *s = xcalloc(1, sizeof(*s));
	s->config = settings->config;
	s->store = settings->store;
	s->hooks = hooks;
	s->ctx = ctx;
	s->session_id = xstrdup(settings->session_id ? settings->session_id : "-");
	s->peer_ip = xstrdup(settings->peer_ip ? settings->peer_ip : "-");
	s->peer_loopback = settings->peer_loopback;
	s->tls = settings->tls;
	s->tls_available = settings->tls_available;
	s->state = MS_STATE_NONAUTH;
	ms_capabilities(s, out);
	ms_reply(out, "OK", NULL, "facteur ManageSieve ready");
	return s;
}

void managesieve_session_destroy(struct managesieve_session **sp)
{
	struct managesieve_session *s = *sp;
	if (s == NULL)
		return;
	free(s->session_id);
	free(s->peer_ip);
	free(s);
	*sp = NULL;
}

void managesieve_session_tls_started(struct managesieve_session *s, struct buf *out)
{
	log_debug("managesieve.tls", "session=%s", s->session_id);
	s->tls = true;
	s->sasl_pending = MS_SASL_NONE;
	ms_capabilities(s, out);
	ms_reply(out, "OK", NULL, "TLS negotiation successful");
}

void managesieve_session_timeout(struct managesieve_session *s, struct buf *out)
{
	log_info("managesieve.timeout", "session=%s", s->session_id);
	ms_reply(out, "BYE", NULL, "Idle for too long");
	s->closing = true;
}

int managesieve_session_idle_timeout(const struct managesieve_session *s)
{
	return s->state == MS_STATE_AUTH ? MANAGESIEVE_TIMEOUT : MANAGESIEVE_TIMEOUT_PREAUTH;
}

bool managesieve_session_authenticated(const struct managesieve_session *s)
{
	return s->state == MS_STATE_AUTH;
}
