/* SPDX-License-Identifier: MIT */
/*
 * Mailboxes other accounts share with the user (store-acl.c), in JMAP's
 * terms (RFC 8620 section 1.6.2, RFC 8621 section 2): every owner who
 * shares at least one mailbox the user may look up is one more account in
 * the session resource, isPersonal false, isReadOnly when none of its
 * mailboxes lets the user change anything (a public folder's owner is its
 * domain's pseudo-account, named after the domain). The Mail methods take
 * such an accountId; this file switches the request context to it (the
 * grants the user holds there), answers the rights on a mailbox, and keeps
 * the messages of mailboxes the user may not read out of every listing.
 * The store handle's reader is the user for the whole request, so \Seen
 * there is the user's own.
 */
#include "jmap/jmap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rights that change something: an account without any of them is read-only. */
#define WRITE_RIGHTS                                                                               \
	(STORE_RIGHT_SEEN | STORE_RIGHT_WRITE | STORE_RIGHT_INSERT | STORE_RIGHT_CREATE |          \
	 STORE_RIGHT_DELETE_MAILBOX | STORE_RIGHT_DELETE_MESSAGE | STORE_RIGHT_EXPUNGE)

struct grant_list {
	struct jmap_grant *v;
	size_t n, cap;
	int64_t owner; /* 0: every owner */
};

static void grant_add(void *ctx, const struct store_shared_mailbox *m)
{
	struct grant_list *l = ctx;
	if (!(m->rights & STORE_RIGHT_LOOKUP) ||
	    (l->owner != 0 && m->mailbox.account_id != l->owner))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++].m = *m;
}

int jmap_shared_accounts(struct store *s, int64_t user_id, struct jmap_shared_account **v_r,
			 size_t *n_r)
{
	struct grant_list l = {0};
	*v_r = NULL;
	*n_r = 0;
	if (store_acl_shared_list(s, user_id, grant_add, &l) < 0) {
		free(l.v);
		return -1;
	}
	struct jmap_shared_account *v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct store_shared_mailbox *m = &l.v[i].m;
		size_t k = 0;
		while (k < n && v[k].id != m->mailbox.account_id)
			k++;
		if (k == n) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			/* Keep ascending ids: the session state is built from them. */
			k = 0;
			while (k < n && v[k].id < m->mailbox.account_id)
				k++;
			memmove(&v[k + 1], &v[k], (n - k) * sizeof(*v));
			n++;
			v[k].id = m->mailbox.account_id;
			snprintf(v[k].name, sizeof(v[k].name), "%s", m->owner);
			v[k].read_only = true;
		}
		if (m->rights & WRITE_RIGHTS)
			v[k].read_only = false;
	}
	free(l.v);
	*v_r = v;
	*n_r = n;
	return 0;
}

int jmap_check_mail_account(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	json_t *a = json_object_get(args, "accountId");
	int64_t id = 0;
	if (!json_is_string(a))
		return jmap_fail(res_r, "invalidArguments", "accountId is required");
	const char *s = json_string_value(a);
	if (s[0] != 'a' || !jmap_id_parse(c, s, 'a', &id) || id <= 0)
		return jmap_fail(res_r, "accountNotFound", NULL);
	if (id == c->account_id)
		return 0;
	free(c->grants);
	c->grants = NULL;
	c->n_grants = 0;
	c->shared = id != c->user_id;
	c->account_id = id;
	jmap_id(c->account, sizeof(c->account), 'a', id);
	if (!c->shared)
		return 0;
	struct grant_list l = {.owner = id};
	if (store_acl_shared_list(c->store, c->user_id, grant_add, &l) < 0) {
		free(l.v);
		c->account_id = 0; /* loaded again by the next call */
		return jmap_fail(res_r, "serverFail", NULL);
	}
	c->grants = l.v;
	c->n_grants = l.n;
	if (l.n == 0) {
		c->account_id = 0;
		return jmap_fail(res_r, "accountNotFound", NULL);
	}
	/* Messages the owner received since the owner last used JMAP. */
	if (jmap_thread_sync(c, 0) < 0)
		log_warn("jmap.thread_sync", "account=%" PRId64, id);
	return 0;
}

uint32_t jmap_rights(struct jmap_ctx *c, int64_t mailbox_id)
{
	if (!c->shared)
		return STORE_RIGHTS_ALL;
	for (size_t i = 0; i < c->n_grants; i++)
		if (c->grants[i].m.mailbox.id == mailbox_id)
			return c->grants[i].m.rights;
	return 0;
}

int jmap_emails(struct jmap_ctx *c, const int64_t *ids, size_t n, int64_t mailbox_id,
		int64_t thread_id, struct store_jmap_email **v_r, size_t *n_r)
{
	if (store_jmap_emails(c->store, c->account_id, ids, n, mailbox_id, thread_id, v_r, n_r) < 0)
		return -1;
	if (!c->shared)
		return 0;
	struct store_jmap_email *v = *v_r;
	size_t k = 0;
	for (size_t i = 0; i < *n_r; i++) {
		if (jmap_rights(c, v[i].msg.mailbox_id) & STORE_RIGHT_READ) {
			struct store_jmap_email t = v[k];
			v[k++] = v[i];
			v[i] = t;
		}
	}
	/* The ones dropped are at the end: free them as a list of their own. */
	struct store_jmap_email *rest = k < *n_r ? xmalloc((*n_r - k) * sizeof(*rest)) : NULL;
	if (rest != NULL) {
		memcpy(rest, &v[k], (*n_r - k) * sizeof(*rest));
		store_jmap_emails_free(&rest, *n_r - k);
	}
	*n_r = k;
	return 0;
}
