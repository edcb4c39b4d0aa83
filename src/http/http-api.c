/* SPDX-License-Identifier: MIT */
/*
 * The web session API the web application signs in with (JSON over
 * POST/GET): /api/login checks the password through http_auth_password (rate
 * limited like every protocol) and sets the session cookie, /api/me says
 * who is signed in (with the JMAP session resource, the JMAP id of the
 * inbox and the answer to the app's first JMAP request: folders, the
 * inbox's first page, identities), /api/logout forgets the session, /api/password changes
 * the password (old one re-checked) and signs out the account's other
 * sessions. Login needs Content-Type: application/json: a cross-site form
 * cannot send that type, so no other site can sign a browser in.
 */
#include "http/http-private.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HTTP_MIN_PASSWORD 8

static bool is_json(const struct http_request *req)
{
	const char *ct = http_header_get(req, "Content-Type");
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
		return false;
	return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* Two string members of a JSON object body; NULL when absent or not JSON. */
static json_t *json_body(const struct http_request *req, const char *a, const char **a_r,
			 const char *b, const char **b_r)
{
	json_t *j = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, NULL);
	*a_r = json_string_value(json_object_get(j, a));
	*b_r = json_string_value(json_object_get(j, b));
	if (*a_r == NULL || *b_r == NULL) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void reply_identity(struct http_conn *c, const struct http_request *req,
			   struct http_response *resp)
{
	char account[32];
	snprintf(account, sizeof(account), "a%lld", (long long)c->id.account_id);
	json_t *j = json_pack("{s:s, s:s}", "username", c->id.username, "accountId", account);
	if (c->id.has_session)
		json_object_set_new(j, "csrfToken", json_string(c->id.session.csrf));
	/* The app asks for the inbox's list in its first JMAP request. */
	struct store_mailbox inbox;
	if (store_mailbox_find(c->ctx->store, c->id.account_id, "INBOX", &inbox) == 1) {
		char id[32];
		snprintf(id, sizeof(id), "m%lld", (long long)inbox.id);
		json_object_set_new(j, "inboxId", json_string(id));
		/* And the answer to the app's first JMAP request (the inbox's first page). */
		json_t *first = http_jmap_first_json(c, req, id);
		if (first != NULL)
			json_object_set_new(j, "first", first);
	}
	/* And the JMAP session resource: one round trip less before the list. */
	json_t *session = http_jmap_session_json(c, req);
	if (session != NULL)
		json_object_set_new(j, "session", session);
	http_reply_json(resp, 200, j);
}

static void set_cookie(struct http_conn *c, struct http_response *resp, const char *value,
		       bool clear)
{
	buf_printf(&resp->headers, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict%s%s\r\n",
		   http_cookie_name(c), value, c->info->tls ? "; Secure" : "",
		   clear ? "; Max-Age=0" : "; Max-Age=604800");
}

void http_api_login(struct http_conn *c, const struct http_request *req, struct http_response *resp)
{
	if (!is_json(req)) {
		http_reply_error(resp, 415, "contentType");
		return;
	}
	if (!config_auth_allowed(c->ctx->config, c->info->tls, c->info->peer_loopback)) {
		http_reply_error(resp, 403, "tlsRequired");
		return;
	}
	const char *user, *password;
	json_t *j = json_body(req, "username", &user, "password", &password);
	if (j == NULL) {
		http_reply_error(resp, 400, "malformed");
		return;
	}
	struct store_account account;
	memset(&account, 0, sizeof(account));
	int r = http_auth_password(c, HTTP_CHECK_LOGIN, user, password, &account, resp);
	explicit_bzero(account.password_hash, sizeof(account.password_hash));
	explicit_bzero(account.scram, sizeof(account.scram));
	json_decref(j);
	if (r == AUTH_PENDING)
		return; /* called again with this request once the check is over */
	if (r == AUTH_BLOCKED) {
		buf_append_str(&resp->headers, "Retry-After: 60\r\n");
		http_reply_error(resp, 429, "throttled");
		return;
	}
	if (r != AUTH_OK) {
		http_reply_error(resp, r == AUTH_FAILED ? 401 : 500, "invalid");
		return;
	}
	if (http_session_create(account.id, account.address, &c->id.session) < 0) {
		http_reply_error(resp, 503, "tooManySessions");
		return;
	}
	c->id.has_session = true;
	c->id.account_id = account.id;
	snprintf(c->id.username, sizeof(c->id.username), "%s", account.address);
	log_info("http.login", "session=%s account=%lld", c->info->session_id,
		 (long long)account.id);
	set_cookie(c, resp, c->id.session.token, false);
	reply_identity(c, req, resp);
}

void http_api_me(struct http_conn *c, const struct http_request *req, struct http_response *resp)
{
	/*
	 * The answer runs the app's first JMAP request: let the scripts asked
	 * for at the same time (index.html preloads this) be served first.
	 */
	if (!c->yielded) {
		c->yielded = true;
		resp->yield = true;
		return;
	}
	c->yielded = false;
	reply_identity(c, req, resp);
}

void http_api_logout(struct http_conn *c, const struct http_request *req,
		     struct http_response *resp)
{
	(void)req;
	if (c->id.has_session)
		http_session_remove(c->id.session.token);
	set_cookie(c, resp, "", true);
	resp->status = 204;
	resp->no_length = true;
}

void http_api_password(struct http_conn *c, const struct http_request *req,
		       struct http_response *resp)
{
	const char *old, *new;
	json_t *j = json_body(req, "old", &old, "new", &new);
	if (j == NULL) {
		http_reply_error(resp, 400, "malformed");
		return;
	}
	if (strlen(new) < HTTP_MIN_PASSWORD) {
		json_decref(j);
		http_reply_error(resp, 400, "weak");
		return;
	}
	struct store_account account;
	memset(&account, 0, sizeof(account));
	int r = http_auth_password(c, HTTP_CHECK_PASSWORD, c->id.username, old, &account, resp);
	explicit_bzero(account.password_hash, sizeof(account.password_hash));
	explicit_bzero(account.scram, sizeof(account.scram));
	if (r == AUTH_PENDING) {
		json_decref(j);
		return; /* called again with this request once the check is over */
	}
	char hash[AUTH_HASH_MAX];
	const char *err = NULL;
	int status = 204;
	if (r == AUTH_BLOCKED)
		status = 429;
	else if (r != AUTH_OK || account.id != c->id.account_id)
		status = r == AUTH_ERROR ? 500 : 403;
	else if (auth_password_hash(new, hash, sizeof(hash)) < 0 ||
		 store_account_set_password(c->ctx->store, c->id.username, hash, &err) < 0 ||
		 auth_scram_store(c->ctx->store, c->id.username, new, &err) < 0)
		status = 500;
	json_decref(j);
	explicit_bzero(hash, sizeof(hash));
	if (status != 204) {
		http_reply_error(resp, status, status == 403 ? "invalid" : "failed");
		return;
	}
	log_info("http.password_changed", "session=%s account=%lld", c->info->session_id,
		 (long long)c->id.account_id);
	http_session_remove_account(c->id.account_id,
				    c->id.has_session ? c->id.session.token : NULL);
	resp->status = 204;
	resp->no_length = true;
}
