/* SPDX-License-Identifier: MIT */
/*
 * The glue between the SMTP engine and the rest of facteur: smtp_proto, the
 * struct conn_proto the connection layer drives, and the engine's hooks
 * implemented with this worker's store (recipient resolution, sender
 * ownership, durable delivery and queueing), auth_check_start() (the hash
 * in the auth pool, waited for with PENDING/CONN_WAIT), mime_parse() and
 * mailauth (DKIM signing of submitted mail; on the MX listener, SPF/DKIM/
 * DMARC verification in a pool thread, waited for with PENDING/CONN_WAIT,
 * then an Authentication-Results header, Junk for DMARC quarantine, 550
 * for DMARC reject). Policy on replies stays in the engine; this file only
 * answers questions and writes to disk.
 */
#include "smtp/smtp.h"

#include "auth/auth.h"
#include "filter/filter.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/spool.h"
#include "lib/util.h"
#include "smtp/smtp-private.h"
#include "mailauth/mailauth.h"
#include "mailauth/srs.h"
#include "mime/mime-store.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct smtp_service {
	struct server_ctx *ctx;
	const struct conn_info *info;
	struct smtp_session *session;
	struct mailauth_job *job;    /* the verification of the message at hand */
	struct filter_job *fjob;     /* its rspamd check */
	struct filter_verdict fbusy; /* the verdict when no check could be queued */
	bool fbusy_set;
	bool mx_started;             /* the jobs above were started for the message of job_id */
	char job_id[80];             /* ... whose queue id this is */
	struct store_write **writes; /* its commit by the store writer (a group) */
	size_t n_writes;
	char write_id[80];        /* ... whose queue id this is */
	struct auth_check *check; /* an AUTH being checked in the auth pool */
	struct auth_scram *scram; /* a SCRAM exchange in progress */
	char *spool_dir;          /* data_dir/blobs/tmp: rewritten messages */
	struct send_limits own;   /* the account's own sending limits, read at MAIL */
};

static enum smtp_auth_result svc_auth_result(enum auth_result r, struct store_account *acct,
					     struct smtp_account *account_r)
{
	explicit_bzero(acct->password_hash, sizeof(acct->password_hash));
	explicit_bzero(acct->scram, sizeof(acct->scram));
	if (r == AUTH_OK) {
		account_r->id = acct->id;
		snprintf(account_r->address, sizeof(account_r->address), "%s", acct->address);
		return SMTP_AUTH_OK;
	}
	if (r == AUTH_FAILED)
		return SMTP_AUTH_FAILED;
	return r == AUTH_BLOCKED ? SMTP_AUTH_BLOCKED : SMTP_AUTH_TEMPFAIL;
}

static enum smtp_auth_result svc_scram(void *ctx, struct auth_scram_io *step,
				       struct smtp_account *account_r)
{
	struct smtp_service *svc = ctx;
	struct store_account acct;
	memset(&acct, 0, sizeof(acct));
	enum auth_result r = auth_scram_feed(&svc->scram, step, svc->info->peer_ip,
					     svc->info->tls ? &svc->info->binding : NULL,
					     svc->ctx->store, &acct);
	return r == AUTH_PENDING ? SMTP_AUTH_PENDING : svc_auth_result(r, &acct, account_r);
}

static enum smtp_auth_result svc_auth(void *ctx, const char *peer_ip, const char *user,
				      const char *password, struct smtp_account *account_r)
{
	struct smtp_service *svc = ctx;
	struct store_account acct;
	memset(&acct, 0, sizeof(acct));
	auth_check_abort(&svc->check);
	enum auth_result r =
		auth_check_start(svc->ctx->auth_pool, svc->ctx->store, peer_ip ? peer_ip : "", user,
				 password, server_ctx_wake_cb, svc->ctx, &svc->check, &acct);
	if (r == AUTH_PENDING)
		return SMTP_AUTH_PENDING;
	return svc_auth_result(r, &acct, account_r);
}

static enum smtp_auth_result svc_auth_poll(void *ctx, struct smtp_account *account_r)
{
	struct smtp_service *svc = ctx;
	struct store_account acct;
	memset(&acct, 0, sizeof(acct));
	if (svc->check == NULL)
		return SMTP_AUTH_TEMPFAIL;
	enum auth_result r = auth_check_finish(&svc->check, &acct);
	if (r == AUTH_PENDING)
		return SMTP_AUTH_PENDING;
	return svc_auth_result(r, &acct, account_r);
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

static bool svc_srs_domain(const struct smtp_service *svc, const char *domain)
{
	const struct config *cfg = svc->ctx->config;
	const char *srs = *cfg->srs_domain != '\0' ? cfg->srs_domain : cfg->hostname;
	return cfg->srs && strcasecmp(domain, srs) == 0;
}

/*
 * A bounce to a forwarded message's SRS address (mailauth/srs.c): sent on
 * to the original sender, who may be anywhere, so unauthenticated clients
 * may use it; forged or expired addresses are unknown users.
 */
static enum smtp_rcpt_status svc_rcpt_srs(const char *address, struct smtp_rcpt_targets *t,
					  int local)
{
	char orig[SMTP_ADDRESS_MAX];
	int r = srs_enabled() ? srs_reverse(address, time(NULL), orig, sizeof(orig)) : 0;
	if (r == 0)
		return local ? SMTP_RCPT_UNKNOWN_USER : SMTP_RCPT_NOT_LOCAL;
	if (r < 0)
		return SMTP_RCPT_UNKNOWN_USER;
	t->remote[0] = xstrdup(orig);
	t->n_remote = 1;
	return SMTP_RCPT_LOCAL;
}

static enum smtp_rcpt_status svc_rcpt(void *ctx, const char *address, struct smtp_rcpt_targets *t)
{
	struct smtp_service *svc = ctx;
	struct store *store = svc->ctx->store;
	int r = store_resolve(store, address, t->accounts, &t->n_accounts, t->remote, &t->n_remote,
			      SMTP_RCPT_MAX_TARGETS);
	if (r < 0)
		return SMTP_RCPT_TEMPFAIL;
	if (r == 0) {
		/* Not ours, or ours with no such user: the domain tells. */
		const char *at = strrchr(address, '@');
		int local = at != NULL ? store_domain_exists(store, at + 1) : 0;
		if (local < 0)
			return SMTP_RCPT_TEMPFAIL;
		if (at != NULL && (local || svc_srs_domain(svc, at + 1)))
			return svc_rcpt_srs(address, t, local);
		return local ? SMTP_RCPT_UNKNOWN_USER : SMTP_RCPT_NOT_LOCAL;
	}
	int q = svc_over_quota(store, t->accounts, t->n_accounts);
	if (q != 0)
		return q < 0 ? SMTP_RCPT_TEMPFAIL : SMTP_RCPT_OVER_QUOTA;
	return SMTP_RCPT_LOCAL;
}

static int svc_sender(void *ctx, const char *address, int64_t account_id, const char *login)
{
	struct smtp_service *svc = ctx;
	return auth_sender_allowed(svc->ctx->store, svc->ctx->config, account_id, login, address);
}

static int svc_limit(void *ctx, const struct smtp_account *account, unsigned recipients, char *why,
		     size_t whysz)
{
	struct smtp_service *svc = ctx;
	if (recipients == 0 &&
	    store_account_limits(svc->ctx->store, account->id, &svc->own.messages,
				 &svc->own.recipients) < 0)
		return -1;
	return send_limit_check(account->address, &svc->own, recipients, why, whysz);
}

static void svc_charge(void *ctx, const struct smtp_account *account, unsigned recipients)
{
	send_limit_charge(account->address, recipients);
}

/*
 * Without a store writer (no daemon around): local entries first, then the
 * outbound queue, each durable before it returns. A failure of a later
 * step after an earlier one succeeded means the client retries and local
 * recipients get the message twice: duplication, never loss.
 */
static enum smtp_deliver_result svc_store_direct(struct smtp_service *svc,
						 const struct smtp_delivery *d,
						 struct smtp_sieve *ss,
						 const struct store_parsed *sp, const char *mailbox)
{
	const char *error = NULL;
	if (smtp_sieve_direct(svc->ctx->store, ss, d, sp, mailbox, &error) == 0)
		return SMTP_DELIVER_OK;
	log_error("smtp.deliver", "session=%s id=%s error=\"%s\"", svc->info->session_id,
		  d->queue_id, error ? error : "?");
	return error != NULL && strncmp(error, "quota", 5) == 0 ? SMTP_DELIVER_QUOTA
								: SMTP_DELIVER_TEMPFAIL;
}

static void svc_writes_release(struct smtp_service *svc)
{
	for (size_t i = 0; i < svc->n_writes; i++)
		store_write_release(&svc->writes[i]);
	free(svc->writes);
	svc->writes = NULL;
	svc->n_writes = 0;
}

/* Hand the writes of ss to the store writer, all or nothing (PENDING). */
static enum smtp_deliver_result svc_submit(struct smtp_service *svc, const struct smtp_delivery *d,
					   struct smtp_sieve *ss)
{
	const char *error = NULL;
	if (ss->n_reqs == 0)
		return SMTP_DELIVER_OK; /* every recipient's script discarded it */
	for (size_t i = 0; i < ss->n_reqs; i++) {
		ss->reqs[i].done = server_ctx_wake_cb;
		ss->reqs[i].done_arg = svc->ctx;
	}
	svc->writes = xcalloc(ss->n_reqs, sizeof(*svc->writes));
	if (store_write_submit_group(svc->ctx->writer, ss->reqs, ss->n_reqs, svc->writes, &error) <
	    0) {
		log_error("smtp.deliver", "session=%s id=%s error=\"%s\"", svc->info->session_id,
			  d->queue_id, error);
		free(svc->writes);
		svc->writes = NULL;
		return SMTP_DELIVER_TEMPFAIL;
	}
	svc->n_writes = ss->n_reqs;
	snprintf(svc->write_id, sizeof(svc->write_id), "%s", d->queue_id);
	return SMTP_DELIVER_PENDING;
}

/*
 * Run the recipients' Sieve scripts (smtp-sieve.c), then hand the message
 * to the store writer (group commit: local entries, filed copies and queue
 * rows in one transaction with the rest of its batch) and wait for it with
 * PENDING; svc_write_poll gives the outcome. mailbox is NULL (INBOX) or
 * "Junk".
 */
static enum smtp_deliver_result svc_store(struct smtp_service *svc, const struct smtp_delivery *d,
					  const char *mailbox)
{
	struct mime_parsed mp;
	memset(&mp, 0, sizeof(mp));
	if (d->n_accounts > 0 && mime_parse(d->data, d->len, &mp) < 0) {
		log_error("smtp.deliver", "session=%s id=%s error=mime_parse",
			  svc->info->session_id, d->queue_id);
		return SMTP_DELIVER_TEMPFAIL;
	}
	struct store_parsed sp = mime_store_parsed(&mp);
	struct smtp_sieve ss;
	enum smtp_deliver_result res;
	if (smtp_sieve_plan(svc->ctx->store, svc->ctx->config->hostname, d, mailbox, &ss) > 0) {
		log_info("smtp.sieve_reject", "session=%s id=%s", svc->info->session_id,
			 d->queue_id);
		res = SMTP_DELIVER_REJECT;
	} else if (svc->ctx->writer == NULL) {
		res = svc_store_direct(svc, d, &ss, &sp, mailbox);
	} else {
		smtp_sieve_requests(&ss, d, &sp, mailbox);
		res = svc_submit(svc, d, &ss);
	}
	smtp_sieve_free(&ss);
	mime_parsed_free(&mp);
	return res;
}

/* The message is with the store writer: committed, failed, or not yet. */
static enum smtp_deliver_result svc_write_poll(struct smtp_service *svc,
					       const struct smtp_delivery *d)
{
	enum smtp_deliver_result res = SMTP_DELIVER_OK;
	for (size_t i = 0; i < svc->n_writes; i++) {
		const char *error = NULL;
		int r = store_write_result(svc->writes[i], &error);
		if (r == 0)
			return SMTP_DELIVER_PENDING;
		if (r < 0 && res == SMTP_DELIVER_OK) {
			log_error("smtp.deliver", "session=%s id=%s error=\"%s\"",
				  svc->info->session_id, d->queue_id, error);
			res = strncmp(error, "quota", 5) == 0 ? SMTP_DELIVER_QUOTA
							      : SMTP_DELIVER_TEMPFAIL;
		}
	}
	svc_writes_release(svc);
	return res;
}

/*
 * d with data replaced by Return-Path + extra + the rest of d's data, in a
 * new spool sp (a file when big, like the original: a large message is not
 * duplicated in memory). -1 when the spool fails (451 then).
 */
static int svc_with_headers(struct smtp_service *svc, const struct smtp_delivery *d,
			    const char *extra, size_t n, const char *rest, size_t rest_len,
			    struct spool *sp, struct smtp_delivery *out)
{
	const char *error;
	spool_init(sp, svc->spool_dir, false);
	if (spool_append(sp, d->data, d->return_path_len, &error) < 0 ||
	    spool_append(sp, extra, n, &error) < 0 ||
	    spool_append(sp, rest, rest_len, &error) < 0 ||
	    spool_data(sp, &out->data, &error) < 0) {
		log_warn("smtp.spool_failed", "session=%s id=%s error=\"%s\"",
			 svc->info->session_id, d->queue_id, error);
		spool_deinit(sp);
		return -1;
	}
	const char *data = out->data;
	*out = *d;
	out->data = data;
	out->len = (size_t)sp->len;
	out->body = sp;
	return 0;
}

/*
 * The signing domain: the From: domain when it is the envelope sender's or
 * the account's own (both are the user's), else the envelope sender's.
 */
static void svc_sign_domain(const struct smtp_delivery *d, char *out, size_t outsz)
{
	const char *msg = d->data + d->return_path_len;
	size_t len = d->len - d->return_path_len;
	const char *env = strrchr(d->sender, '@');
	const char *acct = d->auth_user ? strrchr(d->auth_user, '@') : NULL;
	char from[254];
	snprintf(out, outsz, "%s", env ? env + 1 : "");
	if (mailauth_from_domain(msg, len, from, sizeof(from)) == 1 &&
	    ((env && strcasecmp(from, env + 1) == 0) || (acct && strcasecmp(from, acct + 1) == 0)))
		snprintf(out, outsz, "%s", from);
}

/* Submission: DKIM-sign for the sender's domain when it has keys. */
static enum smtp_deliver_result svc_deliver_signed(struct smtp_service *svc,
						   const struct smtp_delivery *d)
{
	char domain[254];
	svc_sign_domain(d, domain, sizeof(domain));
	struct buf sigs;
	buf_init(&sigs);
	int n = mailauth_sign(svc->ctx->mailauth, domain, d->data + d->return_path_len,
			      d->len - d->return_path_len, &sigs);
	if (n <= 0) {
		/* No keys, or broken ones (logged): the mail goes out unsigned
		 * rather than not at all. */
		buf_deinit(&sigs);
		return svc_store(svc, d, NULL);
	}
	struct spool b;
	struct smtp_delivery signed_d;
	if (svc_with_headers(svc, d, sigs.data, sigs.len, d->data + d->return_path_len,
			     d->len - d->return_path_len, &b, &signed_d) < 0) {
		buf_deinit(&sigs);
		return SMTP_DELIVER_TEMPFAIL;
	}
	char q_dom[LOG_QUOTE_SIZE(256)];
	log_info("dkim.signed", "session=%s id=%s domain=%s signatures=%d", svc->info->session_id,
		 d->queue_id, log_quote(q_dom, sizeof(q_dom), domain), n);
	enum smtp_deliver_result r = svc_store(svc, &signed_d, NULL);
	spool_deinit(&b);
	buf_deinit(&sigs);
	return r;
}

static void svc_log_result(struct smtp_service *svc, const struct smtp_delivery *d,
			   const struct mailauth_result *r)
{
	const char *dkim = r->dkim.n == 0 ? "none" : mailauth_dkim_name(r->dkim.sigs[0].result);
	for (size_t i = 0; i < r->dkim.n; i++)
		if (r->dkim.sigs[i].result == MAILAUTH_DKIM_PASS)
			dkim = "pass";
	static const char *const actions[] = {"accept", "quarantine", "reject"};
	char q_dom[LOG_QUOTE_SIZE(256)];
	log_info("mailauth.result",
		 "session=%s id=%s spf=%s dkim=%s dmarc=%s from_domain=%s action=%s",
		 svc->info->session_id, d->queue_id, mailauth_spf_name(r->spf), dkim,
		 mailauth_dmarc_name(r->dmarc.result),
		 log_quote(q_dom, sizeof(q_dom), r->dmarc.from_domain), actions[r->dmarc.action]);
}

static void svc_log_filter(struct smtp_service *svc, const struct smtp_delivery *d,
			   const struct filter_verdict *v)
{
	static const char *const actions[] = {"accept", "junk", "reject", "defer"};
	char q_sym[LOG_QUOTE_SIZE(sizeof(v->symbols))];
	char q_act[LOG_QUOTE_SIZE(sizeof(v->rspamd_action))];
	char q_err[LOG_QUOTE_SIZE(sizeof(v->error))];
	if (v->scanned)
		log_info("rspamd.result",
			 "session=%s id=%s action=%s rspamd_action=%s score=%.2f symbols=%s",
			 svc->info->session_id, d->queue_id, actions[v->action],
			 log_quote(q_act, sizeof(q_act), v->rspamd_action), v->score,
			 log_quote(q_sym, sizeof(q_sym), v->symbols));
	else
		log_info("rspamd.result", "session=%s id=%s action=%s scanned=no error=%s",
			 svc->info->session_id, d->queue_id, actions[v->action],
			 log_quote(q_err, sizeof(q_err), v->error));
}

/*
 * The message without the fields a sender may forge (Authentication-
 * Results claiming our host when r, X-Spam-* when v) into rest, and the
 * fields we add into add.
 */
static void svc_verdict_fields(struct smtp_service *svc, const struct smtp_delivery *d,
			       const struct mailauth_result *r, const struct filter_verdict *v,
			       struct buf *add, struct buf *rest)
{
	const char *host = svc->ctx->config->hostname;
	const char *msg = d->data + d->return_path_len;
	size_t len = d->len - d->return_path_len;
	struct buf tmp;
	buf_init(&tmp);
	if (r != NULL) {
		mailauth_result_header(r, host, add);
		mailauth_strip_results(msg, len, host, &tmp);
		msg = tmp.data ? tmp.data : "";
		len = tmp.len;
	}
	if (v != NULL) {
		filter_verdict_headers(v, add);
		filter_strip_headers(msg, len, rest);
	} else {
		buf_append(rest, msg, len);
	}
	buf_deinit(&tmp);
}

/*
 * Verification (r, may be NULL) and the rspamd check (v, may be NULL)
 * done: reject or defer, or deliver with their header fields, to Junk
 * for DMARC quarantine or what rspamd calls spam.
 */
static enum smtp_deliver_result svc_deliver_verified(struct smtp_service *svc,
						     const struct smtp_delivery *d,
						     const struct mailauth_result *r,
						     const struct filter_verdict *v)
{
	if (r != NULL)
		svc_log_result(svc, d, r);
	if (v != NULL)
		svc_log_filter(svc, d, v);
	if (r != NULL && r->dmarc.action == MAILAUTH_REJECT) {
		snprintf(d->reason, d->reason_size,
			 "Message rejected: DMARC policy of %s (not authenticated)",
			 r->dmarc.from_domain);
		return SMTP_DELIVER_REJECT;
	}
	if (v != NULL && (v->action == FILTER_REJECT || v->action == FILTER_TEMPFAIL)) {
		snprintf(d->reason, d->reason_size, "%s", v->message);
		return v->action == FILTER_REJECT ? SMTP_DELIVER_REJECT : SMTP_DELIVER_DEFER;
	}
	bool junk = (r != NULL && r->dmarc.action == MAILAUTH_QUARANTINE) ||
		(v != NULL && v->action == FILTER_JUNK);
	struct buf add, rest;
	struct spool b;
	buf_init(&add);
	buf_init(&rest);
	svc_verdict_fields(svc, d, r, v, &add, &rest);
	struct smtp_delivery vd;
	enum smtp_deliver_result res = SMTP_DELIVER_TEMPFAIL;
	if (svc_with_headers(svc, d, add.data ? add.data : "", add.len, rest.data ? rest.data : "",
			     rest.len, &b, &vd) == 0) {
		res = svc_store(svc, &vd, junk ? "Junk" : NULL);
		spool_deinit(&b);
	}
	buf_deinit(&add);
	buf_deinit(&rest);
	return res;
}

static void svc_mx_reset(struct smtp_service *svc)
{
	mailauth_job_release(&svc->job);
	filter_job_release(&svc->fjob);
	svc->fbusy_set = false;
	svc->mx_started = false;
}

/* Queue the rspamd check of d; when it cannot be, the fail policy decides now. */
static void svc_filter_start(struct smtp_service *svc, const struct smtp_delivery *d)
{
	struct filter *f = svc->ctx->filter;
	const char *rcpts[FILTER_RCPT_MAX];
	char local[FILTER_RCPT_MAX][sizeof(((struct store_account *)0)->address)];
	size_t n = 0;
	for (size_t i = 0; i < d->n_remote && n < FILTER_RCPT_MAX; i++)
		rcpts[n++] = d->remote[i];
	for (size_t i = 0; i < d->n_accounts && n < FILTER_RCPT_MAX; i++) {
		struct store_account a;
		if (store_account_get_by_id(svc->ctx->store, d->accounts[i], &a) <= 0)
			continue;
		explicit_bzero(a.password_hash, sizeof(a.password_hash));
		explicit_bzero(a.scram, sizeof(a.scram));
		snprintf(local[n], sizeof(local[n]), "%s", a.address);
		rcpts[n] = local[n];
		n++;
	}
	struct filter_request req = {
		.ip = svc->info->peer_ip,
		.helo = d->helo,
		.mail_from = d->sender,
		.user = d->auth_user,
		.queue_id = d->queue_id,
		.rcpts = rcpts,
		.n_rcpts = n,
		.msg = d->data + d->return_path_len,
		.len = d->len - d->return_path_len,
		.done = server_ctx_wake_cb,
		.done_arg = svc->ctx,
	};
	if (filter_check_submit(f, &req, &svc->fjob) < 0) {
		log_warn("rspamd.busy", "session=%s id=%s", svc->info->session_id, d->queue_id);
		filter_verdict_unavailable(filter_fail_closed(f), "busy", &svc->fbusy);
		svc->fbusy_set = true;
	}
}

/*
 * MX: start the verification and the rspamd check side by side, then
 * answer PENDING until both are done.
 */
static enum smtp_deliver_result svc_deliver_mx(struct smtp_service *svc,
					       const struct smtp_delivery *d, bool verify)
{
	if (svc->mx_started && strcmp(svc->job_id, d->queue_id) != 0)
		svc_mx_reset(svc); /* left over from an abandoned message */
	if (!svc->mx_started) {
		struct mailauth_request req = {
			.ip = svc->info->peer_ip,
			.helo = d->helo,
			.mail_from = d->sender,
			.msg = d->data + d->return_path_len,
			.len = d->len - d->return_path_len,
			.done = server_ctx_wake_cb,
			.done_arg = svc->ctx,
		};
		if (verify && mailauth_job_submit(svc->ctx->mailauth, &req, &svc->job) < 0) {
			log_warn("mailauth.busy", "session=%s id=%s", svc->info->session_id,
				 d->queue_id);
			return SMTP_DELIVER_TEMPFAIL;
		}
		if (svc->ctx->filter != NULL)
			svc_filter_start(svc, d);
		snprintf(svc->job_id, sizeof(svc->job_id), "%s", d->queue_id);
		svc->mx_started = true;
		return SMTP_DELIVER_PENDING;
	}
	const struct mailauth_result *r = NULL;
	const struct filter_verdict *v = svc->fbusy_set ? &svc->fbusy : NULL;
	if (svc->job != NULL && (r = mailauth_job_result(svc->job)) == NULL)
		return SMTP_DELIVER_PENDING;
	if (svc->fjob != NULL && (v = filter_job_verdict(svc->fjob)) == NULL)
		return SMTP_DELIVER_PENDING;
	enum smtp_deliver_result res = svc_deliver_verified(svc, d, r, v);
	svc_mx_reset(svc);
	return res;
}

/*
 * Submission: the From: and Sender: addresses must be the user's (issue 9
 * item 11), as MAIL FROM already is; 550 5.7.1 with the reason otherwise.
 */
static enum smtp_deliver_result svc_check_author(struct smtp_service *svc,
						 const struct smtp_delivery *d)
{
	char why[256];
	int r = auth_sender_check_message(svc->ctx->store, svc->ctx->config, d->auth_account,
					  d->auth_user, d->data + d->return_path_len,
					  d->len - d->return_path_len, why, sizeof(why));
	if (r < 0)
		return SMTP_DELIVER_TEMPFAIL;
	if (r > 0)
		return SMTP_DELIVER_OK;
	char q_user[LOG_QUOTE_SIZE(SMTP_ADDRESS_MAX)], q_why[LOG_QUOTE_SIZE(256)];
	log_info("smtp.from_refused", "session=%s id=%s user=%s reason=%s", svc->info->session_id,
		 d->queue_id, log_quote(q_user, sizeof(q_user), d->auth_user),
		 log_quote(q_why, sizeof(q_why), why));
	snprintf(d->reason, d->reason_size, "%s", why);
	return SMTP_DELIVER_REJECT;
}

static enum smtp_deliver_result svc_deliver(void *ctx, const struct smtp_delivery *d)
{
	struct smtp_service *svc = ctx;
	const struct config *cfg = svc->ctx->config;
	if (svc->n_writes > 0) {
		if (strcmp(svc->write_id, d->queue_id) == 0)
			return svc_write_poll(svc, d);
		svc_writes_release(svc); /* left over from an abandoned message */
	}
	bool mx = svc->info->listener == NULL || strcmp(svc->info->listener, "smtp") == 0;
	if (!mx && d->auth_user != NULL) {
		enum smtp_deliver_result r = svc_check_author(svc, d);
		if (r != SMTP_DELIVER_OK)
			return r;
	}
	bool verify = svc->ctx->mailauth != NULL && cfg->mailauth_verify;
	if (mx && (verify || svc->ctx->filter != NULL))
		return svc_deliver_mx(svc, d, verify);
	if (svc->ctx->mailauth != NULL && !mx && d->auth_user != NULL && cfg->dkim_sign)
		return svc_deliver_signed(svc, d);
	return svc_store(svc, d, NULL);
}

static void *smtp_proto_open(struct server_ctx *ctx, const struct conn_info *info, struct buf *out)
{
	struct smtp_service *svc = xcalloc(1, sizeof(*svc));
	struct smtp_hooks hooks = {
		.ctx = svc,
		.auth = svc_auth,
		.auth_poll = svc_auth_poll,
		.scram = svc_scram,
		.rcpt = svc_rcpt,
		.sender = svc_sender,
		.deliver = svc_deliver,
		.limit = svc_limit,
		.charge = svc_charge,
	};
	svc->ctx = ctx;
	svc->info = info;
	svc->spool_dir = xasprintf("%s/blobs/tmp", ctx->config->data_dir);
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
	/* SMTP replies are small: the engine never returns CONN_MORE, so a
	 * resume always means a message waits for its verification, or an
	 * AUTH for its password check. */
	struct smtp_service *svc = p;
	return smtp_session_resume(svc->session, out);
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
	/* A verification still running finishes in its thread and is freed
	 * there: only our reference goes. */
	svc_mx_reset(svc);
	/* Likewise a commit in progress: it completes, unacknowledged. */
	svc_writes_release(svc);
	/* And a password check: it still counts for the limiters. */
	auth_check_abort(&svc->check);
	auth_scram_destroy(&svc->scram);
	smtp_session_destroy(&svc->session);
	free(svc->spool_dir);
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
