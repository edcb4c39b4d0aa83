/* SPDX-License-Identifier: MIT */
/*
 * The commands of any state and of the not-authenticated state:
 * CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), STARTTLS, LOGIN, AUTHENTICATE
 * PLAIN (RFC 4616, with SASL-IR, RFC 4959) and SCRAM-SHA-256(-PLUS) (RFC
 * 7677; its proof is checked in the loop: no hashing, see auth-scram.c),
 * and ENABLE (RFC 5161). Logins go
 * through auth_check_start() (rate limits, constant time, the hash in the
 * auth pool while the command waits) unless the session was given a
 * replacement for tests; failures map to the RFC 5530 response
 * codes as POP3 does: AUTHENTICATIONFAILED, or UNAVAILABLE when the store
 * failed or the address is rate limited.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <string.h>
#include <strings.h>

#define ID_MAX_PAIRS 30
#define ID_FIELD_MAX 30
#define ID_VALUE_MAX 1024

enum imap_cmd_ret cmd_capability(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "CAPABILITY takes no arguments");
	buf_append_str(out, "* CAPABILITY ");
	imap_capability_write(cmd->session, out);
	buf_append_str(out, "\r\n");
	return imap_cmd_ok(cmd, out, "CAPABILITY completed");
}

enum imap_cmd_ret cmd_noop(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "NOOP takes no arguments");
	return imap_cmd_ok(cmd, out, "NOOP completed");
}

enum imap_cmd_ret cmd_logout(struct imap_cmd *cmd, struct buf *out)
{
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "LOGOUT takes no arguments");
	struct imap_session *s = cmd->session;
	log_info("imap.logout", "session=%s", s->session_id);
	imap_session_set_state(s, IMAP_STATE_LOGOUT);
	buf_append_str(out, "* BYE facteur IMAP server logging out\r\n");
	imap_cmd_ok(cmd, out, "LOGOUT completed");
	return IMAP_CMD_CLOSE;
}

enum imap_cmd_ret cmd_starttls(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	if (!imap_arg_is_eol(&cmd->args[0]))
		return imap_cmd_bad(cmd, out, "STARTTLS takes no arguments");
	if (s->tls)
		return imap_cmd_bad(cmd, out, "TLS is already active");
	if (!s->tls_available)
		return imap_cmd_no(cmd, out, "TLS is not available");
	imap_cmd_ok(cmd, out, "Begin TLS negotiation now");
	return IMAP_CMD_STARTTLS;
}

/* Check the ID parameter list: NIL or ("field" value ...). */
static int id_params(const struct imap_arg *arg, char *name, size_t namesz)
{
	const struct imap_arg *list;
	size_t count;
	if (arg->type == IMAP_ARG_NIL)
		return 0;
	if (!imap_arg_get_list(arg, &list, &count) || count % 2 != 0 || count > 2 * ID_MAX_PAIRS)
		return -1;
	for (size_t i = 0; i < count; i += 2) {
		const char *field, *value;
		if (!imap_arg_get_string(&list[i], &field) || strlen(field) > ID_FIELD_MAX ||
		    !imap_arg_get_nstring(&list[i + 1], &value) ||
		    (value != NULL && strlen(value) > ID_VALUE_MAX))
			return -1;
		if (value != NULL && strcasecmp(field, "name") == 0)
			log_quote(name, namesz, value);
	}
	return 0;
}

enum imap_cmd_ret cmd_id(struct imap_cmd *cmd, struct buf *out)
{
	char name[LOG_QUOTE_SIZE(64)] = "\"-\"";
	if (imap_arg_is_eol(&cmd->args[0]) || !imap_arg_is_eol(&cmd->args[1]) ||
	    id_params(&cmd->args[0], name, sizeof(name)) < 0)
		return imap_cmd_bad(cmd, out, "Invalid ID parameters");
	log_info("imap.id", "session=%s client=%s", cmd->session->session_id, name);
	buf_append_str(out, "* ID (\"name\" \"facteur\")\r\n");
	return imap_cmd_ok(cmd, out, "ID completed");
}

/* --- authentication ------------------------------------------------------------ */

static enum imap_cmd_ret auth_refuse_cleartext(struct imap_cmd *cmd, struct buf *out)
{
	return imap_cmd_no(cmd, out, "[PRIVACYREQUIRED] Authentication needs TLS%s",
			   cmd->session->tls_available ? ": use STARTTLS" : "");
}

/* The answer to a login, once its check is over. */
static enum imap_cmd_ret auth_done(struct imap_cmd *cmd, enum auth_result r,
				   struct store_account *account, const char *q_user,
				   const char *mech, struct buf *out)
{
	struct imap_session *s = cmd->session;
	log_event(r == AUTH_OK ? LOG_INFO : LOG_WARN, "imap.login",
		  "session=%s ip=%s user=%s mech=%s result=%s", s->session_id, s->peer_ip, q_user,
		  mech, auth_result_name(r));
	if (r != AUTH_OK) {
		explicit_bzero(account, sizeof(*account));
		if (r == AUTH_FAILED)
			return imap_cmd_no(cmd, out,
					   "[AUTHENTICATIONFAILED] Authentication failed");
		return imap_cmd_no(cmd, out, "[UNAVAILABLE] Authentication unavailable, try later");
	}
	imap_session_logged_in(s, account);
	explicit_bzero(account, sizeof(*account));
	buf_printf(out, "%s OK [CAPABILITY ", cmd->tag);
	imap_capability_write(s, out);
	buf_append_str(out, "] Logged in\r\n");
	return IMAP_CMD_DONE;
}

/* A check running in the auth pool, kept in cmd->context while we wait. */
struct auth_wait {
	struct auth_check *check;
	const char *mech;
	char q_user[LOG_QUOTE_SIZE(128)];
};

static void auth_wait_free(void *context)
{
	struct auth_wait *w = context;
	auth_check_abort(&w->check);
	free(w);
}

/* On resume (the pool woke us, or the tick): is the check over? */
static enum imap_cmd_ret auth_wait_poll(struct imap_cmd *cmd, struct buf *out)
{
	struct auth_wait *w = cmd->context;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	enum auth_result r = auth_check_finish(&w->check, &account);
	if (r == AUTH_PENDING) {
		cmd->func = auth_wait_poll;
		return IMAP_CMD_WAIT;
	}
	return auth_done(cmd, r, &account, w->q_user, w->mech, out);
}

/*
 * The common end of LOGIN and AUTHENTICATE: the password is checked in the
 * auth pool while the command waits (IMAP_CMD_WAIT), unless the session
 * was given a replacement check.
 */
static enum imap_cmd_ret auth_finish(struct imap_cmd *cmd, const char *user, const char *password,
				     const char *mech, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	char q_user[LOG_QUOTE_SIZE(128)];
	log_quote(q_user, sizeof(q_user), user);
	if (s->login != NULL) {
		enum auth_result r =
			s->login(s->login_ctx, s->store, s->peer_ip, user, password, &account);
		return auth_done(cmd, r, &account, q_user, mech, out);
	}
	struct auth_check *check = NULL;
	enum auth_result r = auth_check_start(s->auth_pool, s->store, s->peer_ip, user, password,
					      s->wake, s->wake_arg, &check, &account);
	if (r != AUTH_PENDING)
		return auth_done(cmd, r, &account, q_user, mech, out);
	struct auth_wait *w = xcalloc(1, sizeof(*w));
	w->check = check;
	w->mech = mech;
	memcpy(w->q_user, q_user, sizeof(q_user));
	cmd->context = w;
	cmd->free_context = auth_wait_free;
	cmd->func = auth_wait_poll;
	return IMAP_CMD_WAIT;
}

enum imap_cmd_ret cmd_login(struct imap_cmd *cmd, struct buf *out)
{
	const char *user, *password;
	if (!imap_arg_get_astring(&cmd->args[0], &user) ||
	    !imap_arg_get_astring(&cmd->args[1], &password) || !imap_arg_is_eol(&cmd->args[2]))
		return imap_cmd_bad(cmd, out, "LOGIN needs a user name and a password");
	if (!imap_session_auth_allowed(cmd->session))
		return auth_refuse_cleartext(cmd, out);
	return auth_finish(cmd, user, password, "LOGIN", out);
}

/* Decode and check a PLAIN response: base64, "=" for an empty one. */
static enum imap_cmd_ret auth_plain(struct imap_cmd *cmd, const char *b64, size_t len,
				    struct buf *out)
{
	if (len == 1 && b64[0] == '=')
		len = 0;
	size_t cap = len / 4 * 3 + 4;
	char *raw = xmalloc(cap);
	char authcid[512], passwd[512];
	enum imap_cmd_ret r;
	long n = auth_base64_decode(b64, len, raw, cap);
	if (n < 0)
		r = imap_cmd_bad(cmd, out, "Invalid base64 in PLAIN response");
	else if (auth_sasl_plain_parse(raw, (size_t)n, authcid, passwd) < 0)
		r = imap_cmd_no(cmd, out, "[AUTHENTICATIONFAILED] Malformed PLAIN response");
	else
		r = auth_finish(cmd, authcid, passwd, "PLAIN", out);
	explicit_bzero(raw, cap);
	explicit_bzero(passwd, sizeof(passwd));
	free(raw);
	return r;
}

/* The client's answer to "+ ": its PLAIN response, or "*" to cancel. */
static enum imap_cmd_ret auth_continue(struct imap_cmd *cmd, const char *line, size_t len,
				       struct buf *out)
{
	if (len == 1 && line[0] == '*')
		return imap_cmd_bad(cmd, out, "Authentication cancelled");
	return auth_plain(cmd, line, len, out);
}

/* --- SCRAM-SHA-256(-PLUS): challenges in the loop, no hashing ---------------- */

struct scram_wait {
	struct auth_scram *scram;
	const char *mech;
};

static void scram_wait_free(void *context)
{
	struct scram_wait *w = context;
	auth_scram_destroy(&w->scram);
	free(w);
}

/* One client message of the exchange (the initial response or a line). */
static enum imap_cmd_ret scram_feed(struct imap_cmd *cmd, const char *b64, size_t len,
				    struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct scram_wait *w = cmd->context;
	char challenge[AUTH_SCRAM_CHALLENGE_MAX];
	struct store_account account;
	memset(&account, 0, sizeof(account));
	enum auth_result r = auth_scram_step_b64(w->scram, s->store, b64, len, challenge,
						 sizeof(challenge), &account);
	if (r == AUTH_PENDING) {
		buf_printf(out, "+ %s\r\n", challenge);
		return IMAP_CMD_WAIT_LINE;
	}
	char q_user[LOG_QUOTE_SIZE(128)];
	log_quote(q_user, sizeof(q_user), auth_scram_user(w->scram));
	return auth_done(cmd, r, &account, q_user, w->mech, out);
}

static enum imap_cmd_ret scram_continue(struct imap_cmd *cmd, const char *line, size_t len,
					struct buf *out)
{
	if (len == 1 && line[0] == '*')
		return imap_cmd_bad(cmd, out, "Authentication cancelled");
	enum imap_cmd_ret r = scram_feed(cmd, line, len, out);
	if (r == IMAP_CMD_WAIT_LINE)
		cmd->line_func = scram_continue;
	return r;
}

static enum imap_cmd_ret scram_start(struct imap_cmd *cmd, bool plus, const char *ir,
				     struct buf *out)
{
	struct imap_session *s = cmd->session;
	if (plus && !(s->tls && auth_scram_plus_available(s->binding)))
		return imap_cmd_no(cmd, out, "SCRAM-SHA-256-PLUS needs TLS with channel binding");
	struct scram_wait *w = xcalloc(1, sizeof(*w));
	w->scram = auth_scram_create(s->peer_ip, plus, s->tls ? s->binding : NULL);
	w->mech = plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
	cmd->context = w;
	cmd->free_context = scram_wait_free;
	if (ir != NULL) {
		enum imap_cmd_ret r = scram_feed(cmd, ir, strlen(ir), out);
		if (r == IMAP_CMD_WAIT_LINE)
			cmd->line_func = scram_continue;
		return r;
	}
	buf_append_str(out, "+ \r\n");
	cmd->line_func = scram_continue;
	return IMAP_CMD_WAIT_LINE;
}

enum imap_cmd_ret cmd_authenticate(struct imap_cmd *cmd, struct buf *out)
{
	const char *mech, *ir = NULL;
	const struct imap_arg *args = cmd->args;
	if (!imap_arg_get_atom(&args[0], &mech))
		return imap_cmd_bad(cmd, out, "AUTHENTICATE needs a mechanism");
	if (!imap_arg_is_eol(&args[1]) &&
	    (!imap_arg_get_atom(&args[1], &ir) || !imap_arg_is_eol(&args[2])))
		return imap_cmd_bad(cmd, out, "Invalid AUTHENTICATE arguments");
	bool scram = strcasecmp(mech, "SCRAM-SHA-256") == 0;
	bool scram_plus = strcasecmp(mech, "SCRAM-SHA-256-PLUS") == 0;
	if (strcasecmp(mech, "PLAIN") != 0 && !scram && !scram_plus)
		return imap_cmd_no(cmd, out, "Unsupported authentication mechanism");
	if (!imap_session_auth_allowed(cmd->session))
		return auth_refuse_cleartext(cmd, out);
	if (scram || scram_plus)
		return scram_start(cmd, scram_plus, ir, out);
	if (ir != NULL)
		return auth_plain(cmd, ir, strlen(ir), out);
	buf_append_str(out, "+ \r\n");
	cmd->line_func = auth_continue;
	return IMAP_CMD_WAIT_LINE;
}

/* --- ENABLE ------------------------------------------------------------------- */

/* Turn one extension on; false when unknown or already on. */
static bool enable_one(struct imap_session *s, const char *name)
{
	bool *flag = NULL;
	if (strcasecmp(name, "CONDSTORE") == 0)
		flag = &s->condstore;
	else if (strcasecmp(name, "QRESYNC") == 0)
		flag = &s->qresync;
	else if (strcasecmp(name, "UTF8=ACCEPT") == 0)
		flag = &s->utf8_accept;
	else if (strcasecmp(name, "IMAP4rev2") == 0)
		flag = &s->rev2;
	if (flag == NULL || *flag)
		return false;
	/* QRESYNC implies CONDSTORE (RFC 7162 3.2.3); rev2 names are UTF-8. */
	if (flag == &s->condstore || flag == &s->qresync)
		imap_session_condstore_enable(s);
	*flag = true;
	if (flag == &s->rev2)
		s->utf8_accept = true;
	return true;
}

enum imap_cmd_ret cmd_enable(struct imap_cmd *cmd, struct buf *out)
{
	const struct imap_arg *args = cmd->args;
	if (imap_arg_is_eol(&args[0]))
		return imap_cmd_bad(cmd, out, "ENABLE needs capability names");
	for (size_t i = 0; !imap_arg_is_eol(&args[i]); i++) {
		const char *name;
		if (!imap_arg_get_atom(&args[i], &name))
			return imap_cmd_bad(cmd, out, "Invalid capability name");
	}
	buf_append_str(out, "* ENABLED");
	for (size_t i = 0; !imap_arg_is_eol(&args[i]); i++) {
		if (enable_one(cmd->session, args[i].str)) {
			buf_append(out, " ", 1);
			buf_append_str(out, args[i].str);
		}
	}
	buf_append_str(out, "\r\n");
	return imap_cmd_ok(cmd, out, "ENABLE completed");
}
