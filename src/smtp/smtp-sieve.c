/* SPDX-License-Identifier: MIT */
/*
 * Sieve in the SMTP service: before a message is committed, each local
 * account's active script runs (sieve_plan_run) and the one delivery the
 * service used to hand the store writer becomes a group of writes that
 * commit all or nothing: the usual DELIVER for accounts without a script
 * (and the remote recipients), an APPEND per mailbox a script filed into
 * (with its imap4flags), and a DELIVER to the queue for each redirect,
 * vacation reply or rejection notice. A script runs in the worker loop:
 * it is bounded (sieve.h) and reads a few rows, like recipient lookup.
 * A single-recipient message whose script rejects it is refused with
 * 550 before anything is stored (RFC 5429 2.1.1).
 */
#include "smtp/smtp-private.h"

#include "lib/util.h"
#include "mailauth/srs.h"
#include "mime/mime-store.h"
#include "sieve/sieve.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int smtp_sieve_plan(struct store *s, const char *hostname, const struct smtp_delivery *d,
		    const char *mailbox, struct smtp_sieve *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->plain = xcalloc(d->n_accounts + 1, sizeof(*ss->plain));
	ss->plans = xcalloc(d->n_accounts + 1, sizeof(*ss->plans));
	for (size_t i = 0; i < d->n_accounts; i++) {
		struct store_account a;
		/* A mailbox bound to an address (negative id) has no script. */
		if (d->accounts[i] <= 0 || store_account_get_by_id(s, d->accounts[i], &a) <= 0) {
			ss->plain[ss->n_plain++] = d->accounts[i];
			continue;
		}
		explicit_bzero(a.password_hash, sizeof(a.password_hash));
		explicit_bzero(a.scram, sizeof(a.scram));
		struct sieve_message msg = {
			.data = d->data,
			.len = d->len,
			.env_from = d->sender,
			.env_to = d->account_rcpts != NULL ? d->account_rcpts[i] : a.address,
			.user = a.address,
			.now = time(NULL),
		};
		struct sieve_plan *p = &ss->plans[ss->n_plans];
		sieve_plan_run(s, d->accounts[i], &msg, mailbox, hostname, p);
		if (!p->scripted) {
			sieve_plan_free(p);
			ss->plain[ss->n_plain++] = d->accounts[i];
			continue;
		}
		ss->n_plans++;
		if (p->reject == NULL)
			continue;
		if (d->n_accounts == 1 && d->n_remote == 0 && p->n_targets == 0) {
			snprintf(d->reason, d->reason_size, "%s", p->reject);
			/* Only the reason's first line goes into the reply. */
			d->reason[strcspn(d->reason, "\r\n")] = '\0';
			return 1;
		}
		sieve_plan_reject_notice(s, &msg, hostname, p);
	}
	return 0;
}

static struct store_write_request *req_add(struct smtp_sieve *ss)
{
	ss->reqs = xrealloc(ss->reqs, (ss->n_reqs + 1) * sizeof(*ss->reqs));
	struct store_write_request *r = &ss->reqs[ss->n_reqs++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* A copy of an outbound message for local recipients, parsed. */
struct smtp_sieve_local {
	struct mime_parsed mp;
	struct store_parsed sp;
};

static char *copy_keep(struct smtp_sieve *ss, char *copy)
{
	ss->copies = xrealloc(ss->copies, (ss->n_copies + 1) * sizeof(*ss->copies));
	ss->copies[ss->n_copies++] = copy;
	return copy;
}

/* The bytes of an outbound message: its own, or prefix + the queued copy. */
static void out_bytes(struct smtp_sieve *ss, const struct smtp_delivery *d,
		      const struct sieve_outbound *o, const char **data_r, size_t *len_r)
{
	if (o->data != NULL) {
		*data_r = o->data;
		*len_r = o->len;
		return;
	}
	size_t pl = strlen(o->prefix), ml = d->len - d->return_path_len;
	char *copy = xmalloc(pl + ml + 1);
	memcpy(copy, o->prefix, pl);
	memcpy(copy + pl, d->data + d->return_path_len, ml);
	*data_r = copy_keep(ss, copy);
	*len_r = pl + ml;
}

/*
 * The envelope sender of forwarded mail (an alias to a remote address on
 * the MX path, a Sieve redirect): its SRS address (mailauth/srs.c), so the
 * next server's SPF check sees our domain. Unchanged when SRS is off, the
 * sender is null, or the result would not fit.
 */
static const char *forwarded_sender(struct smtp_sieve *ss, const char *sender)
{
	char buf[SMTP_ADDRESS_MAX];
	if (!srs_enabled() || srs_forward(sender, time(NULL), buf, sizeof(buf)) != 1)
		return sender;
	return copy_keep(ss, xstrdup(buf));
}

/*
 * One DELIVER for an outbound message: queued for its remote recipients;
 * for local ones (a redirect or reply to a user of ours) with Return-Path
 * prepended and parsed, like any delivery.
 */
static void out_request(struct smtp_sieve *ss, const struct smtp_delivery *d,
			const struct sieve_outbound *o)
{
	struct store_write_request *r = req_add(ss);
	r->kind = STORE_WRITE_DELIVER;
	out_bytes(ss, d, o, &r->data, &r->len);
	r->sender = o->n_remote > 0 ? forwarded_sender(ss, o->sender) : o->sender;
	r->remote = (const char *const *)o->remote;
	r->n_remote = o->n_remote;
	if (o->n_accounts == 0)
		return;
	size_t rl = strlen("Return-Path: <>\r\n") + strlen(o->sender);
	char *copy = xmalloc(rl + r->len + 1);
	snprintf(copy, rl + 1, "Return-Path: <%s>\r\n", o->sender);
	memcpy(copy + rl, r->data, r->len);
	copy[rl + r->len] = '\0';
	r->data = copy_keep(ss, copy);
	r->len += rl;
	r->queue_offset = rl;
	struct smtp_sieve_local *l = xcalloc(1, sizeof(*l));
	if (mime_parse(r->data, r->len, &l->mp) == 0)
		l->sp = mime_store_parsed(&l->mp);
	ss->locals = xrealloc(ss->locals, (ss->n_locals + 1) * sizeof(*ss->locals));
	ss->locals[ss->n_locals++] = l;
	r->parsed = &l->sp;
	r->accounts = o->accounts;
	r->n_accounts = o->n_accounts;
}

void smtp_sieve_requests(struct smtp_sieve *ss, const struct smtp_delivery *d,
			 const struct store_parsed *parsed, const char *mailbox)
{
	if (ss->n_plain > 0 || d->n_remote > 0) {
		struct store_write_request *r = req_add(ss);
		r->kind = STORE_WRITE_DELIVER;
		r->data = d->data;
		r->len = d->len;
		r->body = d->body;
		r->parsed = ss->n_plain > 0 ? parsed : NULL;
		r->accounts = ss->plain;
		r->n_accounts = ss->n_plain;
		r->mailbox = mailbox;
		r->submitter = d->auth_user;
		r->sender = d->auth_user == NULL ? forwarded_sender(ss, d->sender) : d->sender;
		r->remote = d->remote;
		r->n_remote = d->n_remote;
		r->queue_offset = d->return_path_len;
	}
	for (size_t i = 0; i < ss->n_plans; i++) {
		const struct sieve_plan *p = &ss->plans[i];
		for (size_t k = 0; k < p->n_targets; k++) {
			const struct sieve_target *t = &p->targets[k];
			struct store_write_request *r = req_add(ss);
			r->kind = STORE_WRITE_APPEND;
			r->data = d->data;
			r->len = d->len;
			r->body = d->body;
			r->parsed = parsed;
			r->account_id = t->account_id;
			r->mailbox_id = t->mailbox_id;
			r->flags = t->flags;
			r->keywords = (const char *const *)t->keywords;
			r->n_keywords = t->n_keywords;
		}
		for (size_t k = 0; k < p->n_out; k++)
			out_request(ss, d, &p->out[k]);
	}
}

int smtp_sieve_direct(struct store *s, struct smtp_sieve *ss, const struct smtp_delivery *d,
		      const struct store_parsed *parsed, const char *mailbox, const char **error_r)
{
	smtp_sieve_requests(ss, d, parsed, mailbox);
	for (size_t i = 0; i < ss->n_reqs; i++) {
		const struct store_write_request *r = &ss->reqs[i];
		int ret = 0;
		if (r->kind == STORE_WRITE_APPEND)
			ret = store_append(s, r->account_id, r->mailbox_id, r->data, r->len,
					   r->parsed, r->flags, r->keywords, r->n_keywords, 0, NULL,
					   NULL, error_r);
		if (ret == 0 && r->kind == STORE_WRITE_DELIVER && r->n_accounts > 0)
			ret = store_deliver(s, r->data, r->len, r->parsed, r->accounts,
					    r->n_accounts, r->mailbox, time(NULL), 0, NULL,
					    error_r);
		if (ret == 0 && r->kind == STORE_WRITE_DELIVER && r->n_remote > 0)
			ret = store_queue_submit(s, r->submitter, r->sender, r->remote, r->n_remote,
						 r->data + r->queue_offset,
						 r->len - r->queue_offset, error_r);
		if (ret < 0)
			return -1;
	}
	return 0;
}

void smtp_sieve_free(struct smtp_sieve *ss)
{
	for (size_t i = 0; i < ss->n_plans; i++)
		sieve_plan_free(&ss->plans[i]);
	for (size_t i = 0; i < ss->n_copies; i++)
		free(ss->copies[i]);
	free(ss->copies);
	for (size_t i = 0; i < ss->n_locals; i++) {
		mime_parsed_free(&ss->locals[i]->mp);
		free(ss->locals[i]);
	}
	free(ss->locals);
	free(ss->plans);
	free(ss->plain);
	free(ss->reqs);
	memset(ss, 0, sizeof(*ss));
}
