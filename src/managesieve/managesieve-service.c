/* SPDX-License-Identifier: MIT */
/*
 * The glue between the ManageSieve engine and the daemon:
 * managesieve_proto, the conn_proto that net/ drives, builds an engine per
 * connection from the worker's server_ctx and checks passwords with
 * auth_check_start() (hashed in the auth pool while the engine waits) or
 * a SCRAM-SHA-256 exchange (auth_scram, in the loop: no hashing).
 */
#include "managesieve/managesieve.h"
#include "managesieve/managesieve-private.h"

#include "auth/auth.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "store/store.h"

#include <string.h>

struct ms_service {
	struct server_ctx *ctx;
	const struct conn_info *info;
	struct managesieve_session *session;
	struct auth_check *check; /* a login being checked in the auth pool */
	struct auth_scram *scram; /* a SCRAM exchange in progress */
};

static enum managesieve_login_result svc_result(enum auth_result r, struct store_account *account,
						int64_t *account_r)
{
	explicit_bzero(account->password_hash, sizeof(account->password_hash));
	explicit_bzero(account->scram, sizeof(account->scram));
	switch (r) {
	case AUTH_OK:
		*account_r = account->id;
		return MANAGESIEVE_LOGIN_OK;
	case AUTH_FAILED:
		return MANAGESIEVE_LOGIN_FAILED;
	case AUTH_BLOCKED:
		return MANAGESIEVE_LOGIN_BLOCKED;
	case AUTH_PENDING:
		return MANAGESIEVE_LOGIN_PENDING;
	default:
		return MANAGESIEVE_LOGIN_TEMPFAIL;
	}
}

static enum managesieve_login_result svc_login(void *ctx, const char *user, const char *password,
					       int64_t *account_r)
{
	struct ms_service *svc = ctx;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	auth_check_abort(&svc->check);
	enum auth_result r =
		auth_check_start(svc->ctx->auth_pool, svc->ctx->store, svc->info->peer_ip, user,
				 password, server_ctx_wake_cb, svc->ctx, &svc->check, &account);
	return svc_result(r, &account, account_r);
}

static enum managesieve_login_result svc_login_poll(void *ctx, int64_t *account_r)
{
	struct ms_service *svc = ctx;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	if (svc->check == NULL)
		return MANAGESIEVE_LOGIN_TEMPFAIL;
	return svc_result(auth_check_finish(&svc->check, &account), &account, account_r);
}

/* SCRAM needs no hashing (the stored keys are checked): it runs in the loop. */
static enum managesieve_login_result svc_scram(void *ctx, struct auth_scram_io *step,
					       int64_t *account_r)
{
	struct ms_service *svc = ctx;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	enum auth_result r = auth_scram_feed(&svc->scram, step, svc->info->peer_ip,
					     svc->info->tls ? &svc->info->binding : NULL,
					     svc->ctx->store, &account);
	return svc_result(r, &account, account_r);
}

static const struct managesieve_hooks svc_hooks = {
	.login = svc_login,
	.login_poll = svc_login_poll,
	.scram = svc_scram,
};

static void *ms_open(struct server_ctx *ctx, const struct conn_info *info, struct buf *out)
{
	struct ms_service *svc = xcalloc(1, sizeof(*svc));
	svc->ctx = ctx;
	svc->info = info;
	struct managesieve_settings settings = {
		.config = ctx->config,
		.store = ctx->store,
		.session_id = info->session_id,
		.peer_ip = info->peer_ip,
		.peer_loopback = info->peer_loopback,
		.tls = info->tls,
		.tls_available = info->tls_available,
	};
	log_debug("managesieve.open", "session=%s tls=%d", info->session_id, info->tls ? 1 : 0);
	svc->session = managesieve_session_create(&settings, &svc_hooks, svc, out);
	return svc;
}

static enum conn_result ms_input(void *session, struct buf *in, struct buf *out)
{
	struct ms_service *svc = session;
	return managesieve_session_input(svc->session, in, out);
}

static enum conn_result ms_resume(void *session, struct buf *out)
{
	struct ms_service *svc = session;
	return managesieve_session_resume(svc->session, out);
}

static void ms_tls_started(void *session, struct buf *out)
{
	struct ms_service *svc = session;
	managesieve_session_tls_started(svc->session, out);
}

static void ms_timeout(void *session, struct buf *out)
{
	struct ms_service *svc = session;
	managesieve_session_timeout(svc->session, out);
}

static int ms_idle_timeout(void *session)
{
	struct ms_service *svc = session;
	return managesieve_session_idle_timeout(svc->session);
}

static void ms_close(void *session)
{
	struct ms_service *svc = session;
	managesieve_session_destroy(&svc->session);
	auth_check_abort(&svc->check);
	auth_scram_destroy(&svc->scram);
	free(svc);
}

const struct conn_proto managesieve_proto = {
	.name = "managesieve",
	.open = ms_open,
	.input = ms_input,
	.resume = ms_resume,
	.tls_started = ms_tls_started,
	.timeout = ms_timeout,
	.idle_timeout = ms_idle_timeout,
	.close = ms_close,
};
