/* SPDX-License-Identifier: MIT */
/*
 * The glue between the POP3 engine and the daemon: pop3_proto, the
 * conn_proto that net/ drives, builds an engine per connection from the
 * worker's server_ctx and implements the engine's hooks with
 * auth_check_start() (the hash in the auth pool while the engine waits),
 * SCRAM-SHA-256(-PLUS) exchanges (auth_scram, in the loop: no hashing),
 * the maildrop lock and the store (the account's INBOX is the maildrop).
 * The engine sees only UIDs and sizes; this file keeps the store's message
 * list to find each blob and releases the lock when the connection goes.
 */
#include "pop3/pop3.h"
#include "pop3/pop3-private.h"

#include "auth/auth.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

struct pop3_service {
	struct server_ctx *ctx;
	const struct conn_info *info;
	struct pop3_session *session;
	bool locked;
	int64_t account_id;
	int64_t mailbox_id;
	struct store_message *msgs; /* UID order, as store_message_list gives */
	size_t n_msgs;
	struct auth_check *check; /* a login being checked in the auth pool */
	struct auth_scram *scram; /* a SCRAM exchange in progress */
};

/* A finished check: lock the maildrop of the account it found. */
static enum pop3_login_result svc_login_result(struct pop3_service *svc, enum auth_result r,
					       struct store_account *account)
{
	explicit_bzero(account->password_hash, sizeof(account->password_hash));
	explicit_bzero(account->scram, sizeof(account->scram));
	if (r == AUTH_FAILED)
		return POP3_LOGIN_FAILED;
	if (r == AUTH_BLOCKED)
		return POP3_LOGIN_BLOCKED;
	if (r != AUTH_OK)
		return POP3_LOGIN_TEMPFAIL;
	if (svc->locked)
		pop3_lock_release(svc->account_id);
	svc->locked = false;
	if (pop3_lock_acquire(account->id) == 0)
		return POP3_LOGIN_IN_USE;
	svc->locked = true;
	svc->account_id = account->id;
	return POP3_LOGIN_OK;
}

static enum pop3_login_result svc_login(void *ctx, const char *user, const char *password)
{
	struct pop3_service *svc = ctx;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	auth_check_abort(&svc->check);
	enum auth_result r =
		auth_check_start(svc->ctx->auth_pool, svc->ctx->store, svc->info->peer_ip, user,
				 password, server_ctx_wake_cb, svc->ctx, &svc->check, &account);
	if (r == AUTH_PENDING)
		return POP3_LOGIN_PENDING;
	return svc_login_result(svc, r, &account);
}

static enum pop3_login_result svc_login_poll(void *ctx)
{
	struct pop3_service *svc = ctx;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	if (svc->check == NULL)
		return POP3_LOGIN_TEMPFAIL;
	enum auth_result r = auth_check_finish(&svc->check, &account);
	if (r == AUTH_PENDING)
		return POP3_LOGIN_PENDING;
	return svc_login_result(svc, r, &account);
}

static enum pop3_login_result svc_scram(void *ctx, struct auth_scram_io *step)
{
	struct pop3_service *svc = ctx;
	struct store_account account;
	memset(&account, 0, sizeof(account));
	enum auth_result r = auth_scram_feed(&svc->scram, step, svc->info->peer_ip,
					     svc->info->tls ? &svc->info->binding : NULL,
					     svc->ctx->store, &account);
	return r == AUTH_PENDING ? POP3_LOGIN_PENDING : svc_login_result(svc, r, &account);
}

static int svc_list(void *ctx, uint32_t *uidvalidity_r, struct pop3_maildrop_msg **msgs_r,
		    size_t *n_r)
{
	struct pop3_service *svc = ctx;
	struct store_mailbox mailbox;
	if (store_mailbox_get(svc->ctx->store, svc->account_id, "INBOX", &mailbox) != 1)
		return -1;
	free(svc->msgs);
	svc->msgs = NULL;
	svc->n_msgs = 0;
	if (store_message_list(svc->ctx->store, mailbox.id, &svc->msgs, &svc->n_msgs) < 0)
		return -1;
	svc->mailbox_id = mailbox.id;
	struct pop3_maildrop_msg *list = xcalloc(svc->n_msgs, sizeof(*list));
	for (size_t i = 0; i < svc->n_msgs; i++) {
		list[i].uid = svc->msgs[i].uid;
		list[i].size = svc->msgs[i].size;
	}
	*uidvalidity_r = mailbox.uidvalidity;
	*msgs_r = list;
	*n_r = svc->n_msgs;
	return 0;
}

static int svc_open_blob(void *ctx, uint32_t uid)
{
	struct pop3_service *svc = ctx;
	size_t lo = 0, hi = svc->n_msgs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (svc->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == svc->n_msgs || svc->msgs[lo].uid != uid)
		return -1;
	return store_blob_open(svc->ctx->store, svc->msgs[lo].blob_id);
}

static int svc_expunge(void *ctx, const uint32_t *uids, size_t n, const char **error_r)
{
	struct pop3_service *svc = ctx;
	return store_message_expunge(svc->ctx->store, svc->mailbox_id, uids, n, error_r);
}

static const struct pop3_hooks svc_hooks = {
	.login = svc_login,
	.login_poll = svc_login_poll,
	.list = svc_list,
	.open_blob = svc_open_blob,
	.expunge = svc_expunge,
	.scram = svc_scram,
};

static void *pop3_open(struct server_ctx *ctx, const struct conn_info *info, struct buf *out)
{
	struct pop3_service *svc = xcalloc(1, sizeof(*svc));
	svc->ctx = ctx;
	svc->info = info;
	/* STLS only on the "pop3" listener; "pop3s" is encrypted from the start. */
	bool stls_listener = info->listener == NULL || strcmp(info->listener, "pop3") == 0;
	struct pop3_settings settings = {
		.config = ctx->config,
		.session_id = info->session_id,
		.peer_ip = info->peer_ip,
		.peer_loopback = info->peer_loopback,
		.tls = info->tls,
		.tls_available = info->tls_available && stls_listener,
		.binding = &info->binding,
	};
	log_debug("pop3.open", "session=%s listener=%s tls=%d", info->session_id,
		  info->listener != NULL ? info->listener : "-", info->tls ? 1 : 0);
	svc->session = pop3_session_create(&settings, &svc_hooks, svc, out);
	return svc;
}

static enum conn_result pop3_input(void *session, struct buf *in, struct buf *out)
{
	struct pop3_service *svc = session;
	return pop3_session_input(svc->session, in, out);
}

static enum conn_result pop3_resume(void *session, struct buf *out)
{
	struct pop3_service *svc = session;
	return pop3_session_resume(svc->session, out);
}

static void pop3_tls_started(void *session, struct buf *out)
{
	struct pop3_service *svc = session;
	pop3_session_tls_started(svc->session, out);
}

static void pop3_timeout(void *session, struct buf *out)
{
	struct pop3_service *svc = session;
	pop3_session_timeout(svc->session, out);
}

static int pop3_idle_timeout(void *session)
{
	struct pop3_service *svc = session;
	return pop3_session_idle_timeout(svc->session);
}

static void pop3_close(void *session)
{
	struct pop3_service *svc = session;
	/* The engine first: it must not outlive what its hooks point to. */
	pop3_session_destroy(&svc->session);
	auth_check_abort(&svc->check);
	auth_scram_destroy(&svc->scram);
	if (svc->locked)
		pop3_lock_release(svc->account_id);
	free(svc->msgs);
	free(svc);
}

const struct conn_proto pop3_proto = {
	.name = "pop3",
	.open = pop3_open,
	.input = pop3_input,
	.resume = pop3_resume,
	.tls_started = pop3_tls_started,
	.timeout = pop3_timeout,
	.idle_timeout = pop3_idle_timeout,
	.close = pop3_close,
};
