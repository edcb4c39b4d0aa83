/* SPDX-License-Identifier: MIT */
/*
 * Who is asking: HTTP Basic (the full address and the password, checked by
 * auth_check_start() so the rate limits apply and the hash runs in the auth
 * pool while the request waits, then remembered in the credential cache), Bearer (a web session token, for JMAP clients), or
 * the browser's session cookie. Basic and Bearer are credentials in clear,
 * so they are refused without TLS unless plaintext_auth allows it (by
 * default: loopback only). The cookie is ambient - the browser attaches it
 * to any request, including one another site makes it send - so with the
 * cookie every request but GET/HEAD must also carry the session's CSRF
 * token in X-CSRF-Token, which another site cannot read.
 */
#include "http/http-private.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "store/store.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool http_token_equal(const char *expected, const char *given)
{
	size_t n = strlen(expected);
	return given != NULL && strlen(given) == n && CRYPTO_memcmp(expected, given, n) == 0;
}

const char *http_cookie_name(const struct http_conn *c)
{
	/* __Host- cookies must be Secure: only over TLS. */
	return c->info->tls ? "__Host-facteur" : "facteur_session";
}

int http_cookie_get(const struct http_request *req, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, "Cookie") != 0)
			continue;
		const char *p = req->headers[i].value;
		while (*p) {
			while (*p == ' ' || *p == ';')
				p++;
			const char *end = strchr(p, ';');
			size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
			if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
				size_t vl = len - nl - 1;
				if (vl >= size)
					return 0;
				memcpy(out, p + nl + 1, vl);
				out[vl] = '\0';
				return 1;
			}
			p += len;
		}
	}
	return 0;
}

static int refuse(struct http_conn *c, struct http_response *resp, int status, const char *code,
		  bool challenge)
{
	if (status == 401 && challenge)
		buf_append_str(&resp->headers,
			       "WWW-Authenticate: Basic realm=\"facteur\", "
			       "charset=\"UTF-8\"\r\n");
	if (status == 429)
		buf_append_str(&resp->headers, "Retry-After: 60\r\n");
	log_info("http.auth_refused", "session=%s status=%d reason=%s", c->info->session_id, status,
		 code);
	http_reply_error(resp, status, code);
	return -1;
}

int http_auth_password(struct http_conn *c, enum http_check_for who, const char *user,
		       const char *password, struct store_account *account_r,
		       struct http_response *resp)
{
	enum auth_result r;
	if (c->check != NULL && c->check_for != (int)who)
		auth_check_abort(&c->check); /* not ours: cannot happen, but never mix them */
	if (c->check != NULL) {
		r = auth_check_finish(&c->check, account_r);
	} else {
		c->check_for = (int)who;
		r = auth_check_start(c->ctx->auth_pool, c->ctx->store, c->info->peer_ip, user,
				     password, server_ctx_wake_cb, c->ctx, &c->check, account_r);
	}
	if (r == AUTH_PENDING)
		resp->wait = true;
	return r;
}

static int auth_basic(struct http_conn *c, const char *b64, bool challenge,
		      struct http_response *resp)
{
	char decoded[1100];
	long n = auth_base64_decode(b64, strlen(b64), decoded, sizeof(decoded));
	char *colon = n > 0 ? memchr(decoded, ':', (size_t)n) : NULL;
	if (colon == NULL)
		return refuse(c, resp, 401, "invalid", challenge);
	*colon = '\0';
	const char *user = decoded, *password = colon + 1;
	int ret = 0;
	{
		/* A repeated password is answered by the login cache (auth-cache.c). */
		struct store_account account;
		memset(&account, 0, sizeof(account));
		int r = http_auth_password(c, HTTP_CHECK_BASIC, user, password, &account, resp);
		explicit_bzero(account.password_hash, sizeof(account.password_hash));
		explicit_bzero(account.scram, sizeof(account.scram));
		if (r == AUTH_PENDING) {
			ret = -1;
		} else if (r == AUTH_OK) {
			c->id.account_id = account.id;
			snprintf(c->id.username, sizeof(c->id.username), "%s", account.address);
		} else if (r == AUTH_BLOCKED) {
			ret = refuse(c, resp, 429, "throttled", challenge);
		} else if (r == AUTH_FAILED) {
			ret = refuse(c, resp, 401, "invalid", challenge);
		} else {
			ret = refuse(c, resp, 500, "store", challenge);
		}
	}
	explicit_bzero(decoded, sizeof(decoded));
	return ret;
}

static int auth_session(struct http_conn *c, const char *token, bool cookie, bool challenge,
			struct http_response *resp)
{
	if (http_session_find(token, &c->id.session) != 1)
		return refuse(c, resp, 401, "invalid", challenge);
	c->id.has_session = true;
	c->id.via_cookie = cookie;
	c->id.account_id = c->id.session.account_id;
	snprintf(c->id.username, sizeof(c->id.username), "%s", c->id.session.username);
	return 0;
}

int http_auth_request(struct http_conn *c, const struct http_request *req, bool challenge,
		      struct http_response *resp)
{
	const char *authz = http_header_get(req, "Authorization");
	if (authz != NULL) {
		if (!config_auth_allowed(c->ctx->config, c->info->tls, c->info->peer_loopback))
			return refuse(c, resp, 403, "tlsRequired", false);
		if (strncasecmp(authz, "Basic ", 6) == 0)
			return auth_basic(c, authz + 6, challenge, resp);
		if (strncasecmp(authz, "Bearer ", 7) == 0)
			return auth_session(c, authz + 7, false, challenge, resp);
		return refuse(c, resp, 401, "invalid", challenge);
	}
	char token[HTTP_TOKEN_LEN + 2];
	if (http_cookie_get(req, http_cookie_name(c), token, sizeof(token)) != 1)
		return refuse(c, resp, 401, "unauthenticated", challenge);
	/* A browser holding a cookie must never see a Basic dialog. */
	if (auth_session(c, token, true, false, resp) < 0)
		return -1;
	if (req->method != HTTP_GET && req->method != HTTP_HEAD &&
	    !http_token_equal(c->id.session.csrf, http_header_get(req, "X-CSRF-Token")))
		return refuse(c, resp, 403, "csrf", false);
	return 0;
}
