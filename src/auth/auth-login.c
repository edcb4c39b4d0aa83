/* SPDX-License-Identifier: MIT */
/*
 * auth_login(): the one user/password check every protocol calls, so the
 * rate limit, the lower-casing of addresses, the timing equalisation and
 * the failure accounting cannot differ between SMTP, IMAP and POP3.
 */
#include "auth/auth.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <sodium.h>
#include <string.h>

/*
 * A hash of a password nobody knows, made with the same parameters as real
 * ones: verifying against it for unknown users costs what a real check
 * costs, so response times do not reveal which accounts exist.
 */
static const char dummy_hash[] = "$argon2id$v=19$m=19456,t=2,p=1$5cyCLMsSF1YvohgxaWGRgw$"
				 "YMu9LO/NJwKekjfuY0oIcYt/XdOeZ5ZLTmATGZ2fED0";

static enum auth_result login_failed(const char *ip, const char *user, const char *why)
{
	char safe_ip[64], q_user[LOG_QUOTE_SIZE(128)];
	auth_ratelimit_failure(ip);
	str_sanitize(safe_ip, sizeof(safe_ip), ip != NULL ? ip : "", ip != NULL ? strlen(ip) : 0);
	/* ip first, the client's text quoted after it: see contrib/fail2ban. */
	log_info("auth_failed", "ip=%s user=%s reason=%s", safe_ip,
		 log_quote(q_user, sizeof(q_user), user), why);
	return AUTH_FAILED;
}

const char *auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_OK:
		return "ok";
	case AUTH_FAILED:
		return "failed";
	case AUTH_BLOCKED:
		return "blocked";
	case AUTH_ERROR:
		break;
	}
	return "tempfail";
}

enum auth_result auth_login(struct store *store, const char *ip, const char *user,
			    const char *password, struct store_account *account_r)
{
	if (auth_ratelimit_blocked(ip)) {
		char safe_ip[64];
		str_sanitize(safe_ip, sizeof(safe_ip), ip, strlen(ip));
		log_info("auth_blocked", "ip=%s", safe_ip);
		return AUTH_BLOCKED;
	}
	if (user == NULL || password == NULL)
		return login_failed(ip, user, "missing");

	char address[sizeof(account_r->address)];
	size_t ulen = strlen(user);
	if (ulen == 0 || ulen >= sizeof(address) || strchr(user, '@') == NULL) {
		(void)auth_password_verify(dummy_hash, password);
		return login_failed(ip, user, "bad_user");
	}
	memcpy(address, user, ulen + 1);
	str_lower(address);

	struct store_account account;
	int ret = store_account_get(store, address, &account);
	if (ret < 0) {
		log_error("auth_store_error", "op=account_get");
		return AUTH_ERROR;
	}
	if (ret == 0) {
		(void)auth_password_verify(dummy_hash, password);
		return login_failed(ip, address, "unknown_user");
	}
	bool ok = auth_password_verify(account.password_hash, password);
	if (!ok && strncmp(account.password_hash, "$argon2", 7) != 0)
		(void)auth_password_verify(dummy_hash, password); /* same cost */
	if (!ok) {
		sodium_memzero(&account, sizeof(account));
		return login_failed(ip, address, "bad_password");
	}
	auth_ratelimit_success(ip);
	if (account_r != NULL)
		*account_r = account;
	return AUTH_OK;
}
