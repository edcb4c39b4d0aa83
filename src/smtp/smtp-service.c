/* SPDX-License-Identifier: MIT */
/*
 * The glue between the SMTP engine and the rest of facteur: smtp_proto, the
 * struct conn_proto the connection layer drives, and the engine's hooks
 * implemented with this worker's store (recipient resolution, sender
 * ownership, durable delivery and queueing), auth_login() and mime_parse().
 * Policy (what to refuse, with which reply) stays in the engine; this file
 * only answers questions and writes to disk.
 */
#include "smtp/smtp.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct smtp_service {
	struct server_ctx *ctx;
	const struct conn_info *info;
	struct smtp_session *session;
};

static enum smtp_auth_result svc_auth(void *ctx, const char *peer_ip, const char *user,
				      const char *password, struct smtp_account *account_r)
{
	struct smtp_service *svc = ctx;
	struct store_account acct;
	enum auth_result r = auth_login(svc->ctx->store, peer_ip ? peer_ip : "", user,
					password, &acct);
	explicit_bzero(acct.password_hash, sizeof(acct.password_hash));
	if (r == AUTH_OK) {
		account_r->id = acct.id;
		snprintf(account_r->address, sizeof(account_r->address), "%s", acct.address);
		return SMTP_AUTH_OK;
	}
	return r == AUTH_FAILED ? SMTP_AUTH_FAILED : SMTP_AUTH_TEMPFAIL;
}

/* Would a delivery to any of these accounts be refused for quota? */
static int svc_over_quota(struct store *store, const int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct store_account a;
		int r = store_account_get_by_id(store, ids[i], &a);
		if (r < 0)
			return -1;
		if (r > 0 && a.quota_bytes > 0 && a.used_bytes >= a.quota_bytes)
			return 1;
	}
	return 0;
}

static enum smtp_rcpt_status svc_rcpt(void *ctx, const char *address,
				      struct smtp_rcpt_targets *t)
{
	struct smtp_service *svc = ctx;
	struct store *store = svc->ctx->store;
	int r = store_resolve(store, address, t->accounts, &t->n_accounts, t->remote,
			      &t->n_remote, SMTP_RCPT_MAX_TARGETS);
	if (r < 0)
		return SMTP_RCPT_TEMPFAIL;
	if (r == 0) {
		/* Not ours, or ours with no such user: the domain tells. */
		const char *at = strrchr(address, '@');
		int local = at != NULL ? store_domain_exists(store, at + 1) : 0;
		if (local < 0)
			return SMTP_RCPT_TEMPFAIL;
		return local ? SMTP_RCPT_UNKNOWN_USER : SMTP_RCPT_NOT_LOCAL;
	}
	int q = svc_over_quota(store, t->accounts, t->n_accounts);
	if (q != 0)
		return q < 0 ? SMTP_RCPT_TEMPFAIL : SMTP_RCPT_OVER_QUOTA;
	return SMTP_RCPT_LOCAL;
}

static int svc_sender(void *ctx, const char *address, int64_t account_id)
{
	struct smtp_service *svc = ctx;
	int64_t ids[SMTP_RCPT_MAX_TARGETS];
	char *remote[SMTP_RCPT_MAX_TARGETS];
	size_t n = 0, n_remote = 0;
	int r = store_resolve(svc->ctx->store, address, ids, &n, remote, &n_remote,
			      SMTP_RCPT_MAX_TARGETS);
	for (size_t i = 0; i < n_remote; i++)
		free(remote[i]);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (ids[i] == account_id)
			return 1;
	return 0;
}

static enum smtp_deliver_result svc_deliver_local(struct smtp_service *svc,
						  const struct smtp_delivery *d)
{
	struct mime_parsed mp;
	const char *error;
	memset(&mp, 0, sizeof(mp));
	if (mime_parse(d->data, d->len, &mp) < 0) {
		log_error("smtp.deliver", "session=%s id=%s error=mime_parse",
			  svc->info->session_id, d->queue_id);
		return SMTP_DELIVER_TEMPFAIL;
	}
	struct store_parsed sp = {
		.envelope = mp.envelope,
		.bodystructure = mp.bodystructure,
		.subject = mp.subject,
		.from = mp.from,
		.to = mp.to,
		.cc = mp.cc,
		.message_id = mp.message_id,
		.date = mp.date,
	};
	int r = store_deliver(svc->ctx->store, d->data, d->len, &sp, d->accounts,
			      d->n_accounts, NULL, time(NULL), 0, NULL, &error);
	mime_parsed_free(&mp);
	if (r == 0)
		return SMTP_DELIVER_OK;
	log_error("smtp.deliver", "session=%s id=%s error=\"%s\"", svc->info->session_id,
		  d->queue_id, error ? error : "?");
	return error != NULL && strncmp(error, "quota", 5) == 0 ? SMTP_DELIVER_QUOTA
							       : SMTP_DELIVER_TEMPFAIL;
}

/*
 * Local entries first, then the outbound queue, each durable before it
 * returns. A failure of the second after the first succeeded means the
 * client retries and local recipients get the message twice: duplication,
 * never loss.
 */
static enum smtp_deliver_result svc_deliver(void *ctx, const struct smtp_delivery *d)
{
	struct smtp_service *svc = ctx;
	if (d->n_accounts > 0) {
		enum smtp_deliver_result r = svc_deliver_local(svc, d);
		if (r != SMTP_DELIVER_OK)
			return r;
	}
	if (d->n_remote > 0) {
		const char *error;
		if (store_queue_add(svc->ctx->store, d->sender, d->remote, d->n_remote,
				    d->data + d->return_path_len,
				    d->len - d->return_path_len, &error) < 0) {
			log_error("smtp.queue", "session=%s id=%s error=\"%s\"",
				  svc->info->session_id, d->queue_id, error ? error : "?");
			return SMTP_DELIVER_TEMPFAIL;
		}
	}
	return SMTP_DELIVER_OK;
}

static void *smtp_proto_open(struct server_ctx *ctx, const struct conn_info *info,
			     struct buf *out)
{
	struct smtp_service *svc = xcalloc(1, sizeof(*svc));
	struct smtp_hooks hooks = {
		.ctx = svc,
		.auth = svc_auth,
		.rcpt = svc_rcpt,
		.sender = svc_sender,
		.deliver = svc_deliver,
	};
	svc->ctx = ctx;
	svc->info = info;
	svc->session = smtp_session_create(ctx->config, info, &hooks, out);
	return svc;
}

static enum conn_result smtp_proto_input(void *p, struct buf *in, struct buf *out)
{
	struct smtp_service *svc = p;
	return smtp_session_input(svc->session, in, out);
}

static enum conn_result smtp_proto_resume(void *p, struct buf *out)
{
	/* SMTP replies are small: the engine never returns CONN_MORE. */
	return CONN_OK;
}

static void smtp_proto_tls_started(void *p, struct buf *out)
{
	struct smtp_service *svc = p;
	smtp_session_tls_started(svc->session, out);
}

static void smtp_proto_timeout(void *p, struct buf *out)
{
	struct smtp_service *svc = p;
	smtp_session_timeout(svc->session, out);
}

static int smtp_proto_idle_timeout(void *p)
{
	struct smtp_service *svc = p;
	return smtp_session_idle_timeout(svc->session);
}

static void smtp_proto_close(void *p)
{
	struct smtp_service *svc = p;
	smtp_session_destroy(&svc->session);
	free(svc);
}

const struct conn_proto smtp_proto = {
	.name = "smtp",
	.open = smtp_proto_open,
	.input = smtp_proto_input,
	.resume = smtp_proto_resume,
	.tls_started = smtp_proto_tls_started,
	.timeout = smtp_proto_timeout,
	.idle_timeout = smtp_proto_idle_timeout,
	.close = smtp_proto_close,
};
