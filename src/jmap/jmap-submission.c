/* SPDX-License-Identifier: MIT */
/*
 * Identity, EmailSubmission (RFC 8621 6, 7) and VacationResponse (8).
 * Identities and submissions are JSON objects in the store
 * (store_jmap_object_*); the account gets a default identity (its own
 * address) the first time identities are read. A submission sends the
 * Email's message as it is stored, without its Bcc header, DKIM-signed
 * like SMTP submission when the sender's domain has keys: local
 * recipients get it through store_deliver, remote ones through the
 * outbound queue (store_queue_add), both durable before the answer; then
 * onSuccessUpdateEmail / onSuccessDestroyEmail run as an implicit Email/set.
 * The VacationResponse is stored here and replies through the Sieve script
 * that jmap-vacation.c writes from it; isEnabled is read from the store
 * (that script being the active one).
 */
#include "jmap/jmap-private.h"

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"
#include "mailauth/mailauth.h"
#include "mime/mime-store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SUBMISSION_MAX_RCPT 100

/* --- objects kept as JSON --------------------------------------------- */

struct objs {
	json_t *list; /* [{id:"x1", ...}] */
	char prefix;
};

static void obj_collect(void *ctx, int64_t id, const char *data)
{
	struct objs *o = ctx;
	json_t *j = json_loads(data, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	char sid[24];
	jmap_id(sid, sizeof(sid), o->prefix, id);
	json_object_set_new(j, "id", json_string(sid));
	json_array_append_new(o->list, j);
}

static json_t *objs_load(struct jmap_ctx *c, enum store_jmap_kind kind, char prefix)
{
	struct objs o = {.list = json_array(), .prefix = prefix};
	if (store_jmap_object_list(c->store, c->account_id, kind, obj_collect, &o) < 0) {
		json_decref(o.list);
		return NULL;
	}
	return o.list;
}

static int64_t obj_put(struct jmap_ctx *c, enum store_jmap_kind kind, int64_t id, json_t *j)
{
	json_t *copy = json_deep_copy(j);
	json_object_del(copy, "id");
	char *s = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	int64_t out = 0;
	const char *error;
	int r = store_jmap_object_put(c->store, c->account_id, kind, id, s, &out, &error);
	free(s);
	return r < 0 ? -1 : out;
}

/* A generic /get over a list of objects with "id". */
static int objs_get(struct jmap_ctx *c, json_t *args, json_t *all, enum store_jmap_kind kind,
		    json_t **res_r)
{
	static const char *const known[] = {"accountId", "ids", "properties", NULL};
	json_t *ids;
	if (jmap_check_args(args, known, res_r) < 0 || jmap_get_ids(args, &ids, res_r) < 0)
		return -1;
	json_t *props = json_object_get(args, "properties");
	json_t *list = json_array(), *not_found = json_array();
	size_t i, k;
	json_t *v, *o;
	json_array_foreach(all, k, o)
	{
		bool want = ids == NULL;
		json_array_foreach(ids, i, v) if (json_equal(v, json_object_get(o, "id"))) want =
			true;
		if (!want)
			continue;
		json_t *out = json_deep_copy(o);
		if (json_is_array(props)) {
			const char *key;
			json_t *x;
			void *tmp;
			json_object_foreach_safe(out, tmp, key, x) if (strcmp(key, "id") != 0 &&
								       !jmap_want(props, key))
				json_object_del(out, key);
		}
		json_array_append_new(list, out);
	}
	json_array_foreach(ids, i, v)
	{
		bool found = false;
		json_array_foreach(all, k, o) if (json_equal(v, json_object_get(o, "id"))) found =
			true;
		if (!found)
			json_array_append(not_found, v);
	}
	json_t *state = jmap_state_get(c, kind);
	*res_r = json_pack("{s:s s:o s:o s:o}", "accountId", c->account, "state",
			   state ? state : json_string("0"), "list", list, "notFound", not_found);
	return 0;
}

/* --- Identity ---------------------------------------------------------- */

/*
 * May the account send as addr? The one rule of SMTP submission
 * (auth_sender_allowed): its own address, an alias that reaches it, one of
 * its identities, or a configured exception.
 */
static bool address_ours(struct jmap_ctx *c, const char *addr)
{
	const struct server_ctx *ctx = c->r->ctx;
	return auth_sender_allowed(c->store, ctx != NULL ? ctx->config : NULL, c->account_id,
				   c->r->username, addr) == 1;
}

static json_t *identities(struct jmap_ctx *c)
{
	json_t *all = objs_load(c, STORE_JMAP_IDENTITY, 'i');
	if (all != NULL && json_array_size(all) == 0 && c->r->username != NULL) {
		json_t *def = json_pack("{s:s s:s s:n s:n s:s s:s s:b}", "name", "", "email",
					c->r->username, "replyTo", "bcc", "textSignature", "",
					"htmlSignature", "", "mayDelete", 1);
		obj_put(c, STORE_JMAP_IDENTITY, 0, def);
		json_decref(def);
		json_decref(all);
		all = objs_load(c, STORE_JMAP_IDENTITY, 'i');
	}
	return all;
}

int jmap_identity_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	if (jmap_check_account(c, args, res_r) < 0)
		return -1;
	json_t *all = identities(c);
	if (all == NULL)
		return jmap_fail(res_r, "serverFail", NULL);
	int r = objs_get(c, args, all, STORE_JMAP_IDENTITY, res_r);
	json_decref(all);
	return r;
}

int jmap_identity_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	return jmap_changes(c, args, STORE_JMAP_IDENTITY, 'i', NULL, res_r);
}

static const char *const identity_props[] = {"name",          "email",         "replyTo", "bcc",
					     "textSignature", "htmlSignature", NULL};

static json_t *identity_check(json_t *obj, bool create)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		bool ok = false;
		for (size_t i = 0; identity_props[i] && !ok; i++)
			ok = strcmp(identity_props[i], key) == 0;
		if (!ok || (!create && strcmp(key, "email") == 0))
			return jmap_set_error("invalidProperties", NULL, key);
	}
	return NULL;
}

/* A generic /set over JSON objects; create/update/destroy callbacks per family. */
struct objset {
	enum store_jmap_kind kind;
	char prefix;
	json_t *(*create)(struct jmap_ctx *c, json_t *obj, json_t **stored_r);
	json_t *(*update)(struct jmap_ctx *c, json_t *cur, json_t *patch);
};

static json_t *obj_find(json_t *all, const char *id)
{
	size_t i;
	json_t *o;
	json_array_foreach(all, i, o) if (id != NULL &&
					  strcmp(json_string_value(json_object_get(o, "id")), id) ==
						  0) return o;
	return NULL;
}

static int objs_set(struct jmap_ctx *c, json_t *args, const struct objset *f, json_t *all,
		    json_t **res_r)
{
	json_t *create = json_object_get(args, "create");
	json_t *update = json_object_get(args, "update");
	json_t *destroy = json_object_get(args, "destroy");
	json_t *old;
	if (jmap_state_check(c, args, f->kind, &old, res_r) < 0)
		return -1;
	json_t *created = json_object(), *not_created = json_object();
	json_t *updated = json_object(), *not_updated = json_object();
	json_t *destroyed = json_array(), *not_destroyed = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(create, key, v)
	{
		json_t *stored = NULL;
		json_t *err = json_is_object(v) ? f->create(c, v, &stored)
						: jmap_set_error("invalidProperties", NULL, NULL);
		int64_t id = err == NULL ? obj_put(c, f->kind, 0, stored) : 0;
		if (err == NULL && id <= 0)
			err = jmap_set_error("serverFail", NULL, NULL);
		if (err != NULL) {
			json_object_set_new(not_created, key, err);
		} else {
			char sid[24];
			jmap_id(sid, sizeof(sid), f->prefix, id);
			jmap_created(c, key, sid);
			json_object_set_new(stored, "id", json_string(sid));
			json_object_set(created, key, stored);
			json_array_append(all, stored);
		}
		json_decref(stored);
	}
	json_object_foreach(update, key, v)
	{
		int64_t id = 0;
		json_t *cur = obj_find(all, key);
		json_t *err = cur == NULL || !jmap_id_parse(c, key, f->prefix, &id)
			? jmap_set_error("notFound", NULL, NULL)
			: f->update(c, cur, v);
		if (err == NULL && obj_put(c, f->kind, id, cur) < 0)
			err = jmap_set_error("serverFail", NULL, NULL);
		json_object_set_new(err ? not_updated : updated, key, err ? err : json_null());
	}
	size_t i;
	json_array_foreach(destroy, i, v)
	{
		int64_t id = 0;
		const char *error;
		const char *s = json_string_value(v);
		int r = jmap_id_parse(c, s, f->prefix, &id)
			? store_jmap_object_delete(c->store, c->account_id, f->kind, id, &error)
			: 0;
		if (r > 0)
			json_array_append(destroyed, v);
		else
			json_object_set_new(
				not_destroyed, s ? s : "",
				jmap_set_error(r < 0 ? "serverFail" : "notFound", NULL, NULL));
	}
	json_t *new_state = jmap_state_get(c, f->kind);
	*res_r = json_pack("{s:s s:o s:o s:o s:o s:o s:o s:o s:o}", "accountId", c->account,
			   "oldState", old ? old : json_null(), "newState",
			   new_state ? new_state : json_null(), "created", created, "notCreated",
			   not_created, "updated", updated, "notUpdated", not_updated, "destroyed",
			   destroyed, "notDestroyed", not_destroyed);
	return 0;
}

static json_t *identity_create(struct jmap_ctx *c, json_t *obj, json_t **stored_r)
{
	json_t *err = identity_check(obj, true);
	if (err != NULL)
		return err;
	const char *email = json_string_value(json_object_get(obj, "email"));
	if (!address_ours(c, email))
		return jmap_set_error("forbiddenFrom", "not an address of this account", "email");
	*stored_r = json_pack("{s:s s:n s:n s:s s:s s:b}", "name", "", "replyTo", "bcc",
			      "textSignature", "", "htmlSignature", "", "mayDelete", 1);
	json_object_update(*stored_r, obj);
	return NULL;
}

static json_t *identity_update(struct jmap_ctx *c, json_t *cur, json_t *patch)
{
	(void)c;
	json_t *err = identity_check(patch, false);
	if (err == NULL)
		json_object_update(cur, patch);
	return err;
}

int jmap_identity_set(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ifInState", "create",
					    "update",    "destroy",   NULL};
	static const struct objset f = {STORE_JMAP_IDENTITY, 'i', identity_create, identity_update};
	if (jmap_check_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *all = identities(c);
	if (all == NULL)
		return jmap_fail(res_r, "serverFail", NULL);
	int r = objs_set(c, args, &f, all, res_r);
	json_decref(all);
	return r;
}

/* --- EmailSubmission ---------------------------------------------------- */

int jmap_submission_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	if (jmap_check_account(c, args, res_r) < 0)
		return -1;
	json_t *all = objs_load(c, STORE_JMAP_SUBMISSION, 's');
	if (all == NULL)
		return jmap_fail(res_r, "serverFail", NULL);
	int r = objs_get(c, args, all, STORE_JMAP_SUBMISSION, res_r);
	json_decref(all);
	return r;
}

int jmap_submission_changes(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	return jmap_changes(c, args, STORE_JMAP_SUBMISSION, 's', NULL, res_r);
}

int jmap_submission_query(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	if (jmap_check_account(c, args, res_r) < 0)
		return -1;
	json_t *all = objs_load(c, STORE_JMAP_SUBMISSION, 's');
	if (all == NULL)
		return jmap_fail(res_r, "serverFail", NULL);
	json_t *ids = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(all, i, o) json_array_append(ids, json_object_get(o, "id"));
	json_decref(all);
	json_t *state = jmap_state_get(c, STORE_JMAP_SUBMISSION);
	*res_r = json_pack("{s:s s:o s:b s:i s:o}", "accountId", c->account, "queryState",
			   state ? state : json_string("0"), "canCalculateChanges", 0, "position",
			   0, "ids", ids);
	return 0;
}

/* The message without its Bcc header fields (the copy that travels). */
static void strip_bcc(const char *data, size_t len, struct buf *out)
{
	size_t i = 0;
	bool skipping = false;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;
		bool blank = data[i] == '\r' || data[i] == '\n';
		if (blank) {
			buf_append(out, data + i, len - i);
			return;
		}
		bool cont = data[i] == ' ' || data[i] == '\t';
		if (!cont)
			skipping = len - i >= 4 && strncasecmp(data + i, "bcc:", 4) == 0;
		if (!skipping)
			buf_append(out, data + i, end - i);
		i = end;
	}
}

struct envelope {
	char from[320];
	char *rcpt[SUBMISSION_MAX_RCPT];
	size_t n;
};

static void envelope_free(struct envelope *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->rcpt[i]);
	e->n = 0;
}

static void rcpt_add(struct envelope *e, const char *addr)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcasecmp(e->rcpt[i], addr) == 0)
			return;
	if (e->n < SUBMISSION_MAX_RCPT && mime_address_valid(addr, 1))
		e->rcpt[e->n++] = xstrdup(addr);
}

/* The envelope: given, or the identity's address and To/Cc/Bcc. */
static json_t *envelope_make(struct jmap_ctx *c, json_t *given, const char *identity_email,
			     const char *blob_id, struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	if (json_is_object(given)) {
		const char *from = json_string_value(
			json_object_get(json_object_get(given, "mailFrom"), "email"));
		snprintf(e->from, sizeof(e->from), "%s", from ? from : "");
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(given, "rcptTo"), i, r)
			rcpt_add(e, json_string_value(json_object_get(r, "email")) ?: "");
	} else {
		snprintf(e->from, sizeof(e->from), "%s", identity_email);
		struct jmap_msg m;
		if (jmap_msg_open(c->store, blob_id, true, &m) == 0) {
			static const char *const hs[] = {"To", "Cc", "Bcc"};
			for (size_t h = 0; h < 3; h++) {
				struct jmap_hprop hp = {.form = JMAP_HF_ADDRESSES, .all = true};
				snprintf(hp.name, sizeof(hp.name), "%s", hs[h]);
				json_t *lists = jmap_header_value(GMIME_OBJECT(m.msg), &hp);
				size_t i, k;
				json_t *l, *a;
				json_array_foreach(lists, i, l) json_array_foreach(l, k, a)
					rcpt_add(e, json_string_value(json_object_get(a, "email")));
				json_decref(lists);
			}
		}
		jmap_msg_close(&m);
	}
	if (!address_ours(c, e->from))
		return jmap_set_error("forbiddenMailFrom", NULL, "envelope");
	if (e->n == 0)
		return jmap_set_error("noRecipients", NULL, "envelope");
	return NULL;
}

/* Sign for the sender's domain when it has DKIM keys (like SMTP submission). */
static void dkim_sign(struct jmap_ctx *c, const char *from, struct buf *msg)
{
	const struct server_ctx *ctx = c->r->ctx;
	if (ctx->mailauth == NULL || ctx->config == NULL || !ctx->config->dkim_sign)
		return;
	const char *at = strrchr(from, '@');
	if (at == NULL)
		return;
	struct buf sigs;
	buf_init(&sigs);
	if (mailauth_sign(ctx->mailauth, at + 1, msg->data, msg->len, &sigs) > 0) {
		struct buf b;
		buf_init(&b);
		buf_append(&b, sigs.data, sigs.len);
		buf_append(&b, msg->data, msg->len);
		buf_deinit(msg);
		*msg = b;
	}
	buf_deinit(&sigs);
}

/* Deliver locally and queue the rest; NULL or a SetError. */
static json_t *send_message(struct jmap_ctx *c, const struct envelope *e, const struct buf *msg)
{
	int64_t local[SUBMISSION_MAX_RCPT];
	const char *remote[SUBMISSION_MAX_RCPT];
	char *targets[16];
	size_t nl = 0, nr = 0;
	const char *error = NULL;
	json_t *err = NULL;
	for (size_t i = 0; i < e->n; i++) {
		int64_t ids[16];
		size_t n = 0, nt = 0;
		int r = store_resolve(c->store, e->rcpt[i], ids, &n, targets, &nt, 16);
		for (size_t k = 0; k < nt; k++) {
			if (nr < SUBMISSION_MAX_RCPT)
				remote[nr++] = targets[k];
			else
				free(targets[k]);
		}
		if (r < 0)
			return jmap_set_error("serverFail", NULL, NULL);
		if (r == 0 && nr < SUBMISSION_MAX_RCPT)
			remote[nr++] = xstrdup(e->rcpt[i]);
		for (size_t k = 0; k < n; k++) {
			bool dup = false;
			for (size_t j = 0; j < nl; j++)
				dup = dup || local[j] == ids[k];
			if (!dup && nl < SUBMISSION_MAX_RCPT)
				local[nl++] = ids[k];
		}
	}
	if (nl > 0) {
		struct mime_parsed mp;
		memset(&mp, 0, sizeof(mp));
		if (mime_parse(msg->data, msg->len, &mp) == 0) {
			struct store_parsed sp = mime_store_parsed(&mp);
			if (store_deliver(c->store, msg->data, msg->len, &sp, local, nl, NULL,
					  time(NULL), 0, NULL, &error) < 0)
				err = jmap_set_error("serverFail", error, NULL);
		}
		mime_parsed_free(&mp);
	}
	if (err == NULL && nr > 0 &&
	    store_queue_submit(c->store, c->r->username, e->from, remote, nr, msg->data, msg->len,
			       &error) < 0)
		err = jmap_set_error("serverFail", error, NULL);
	for (size_t i = 0; i < nr; i++)
		free((char *)remote[i]);
	if (err == NULL)
		log_info("jmap.submission", "session=%s local=%zu remote=%zu",
			 c->r->session_id ? c->r->session_id : "-", nl, nr);
	return err;
}

/* The user's sending limits (auth-sendlimit.c), as for SMTP submission. */
static json_t *limit_check(struct jmap_ctx *c, size_t n_rcpt)
{
	struct send_limits own;
	char why[160];
	if (store_account_limits(c->store, c->user_id, &own.messages, &own.recipients) < 0)
		return jmap_set_error("serverFail", NULL, NULL);
	if (send_limit_check(c->r->username, &own, (unsigned)n_rcpt, why, sizeof(why)) == 0)
		return jmap_set_error("forbiddenToSend", why, NULL);
	return NULL;
}

/* The From:/Sender: addresses must be the user's: forbiddenFrom (RFC 8621 7.5). */
static json_t *author_check(struct jmap_ctx *c, const struct buf *raw)
{
	const struct server_ctx *ctx = c->r->ctx;
	char why[256];
	int r = auth_sender_check_message(c->store, ctx != NULL ? ctx->config : NULL, c->account_id,
					  c->r->username, raw->data ? raw->data : "", raw->len, why,
					  sizeof(why));
	if (r < 0)
		return jmap_set_error("serverFail", NULL, NULL);
	return r == 0 ? jmap_set_error("forbiddenFrom", why, NULL) : NULL;
}

static json_t *submission_create(struct jmap_ctx *c, json_t *obj, json_t **stored_r)
{
	int64_t email_id, identity_id;
	const char *eid = json_string_value(json_object_get(obj, "emailId"));
	const char *iid = json_string_value(json_object_get(obj, "identityId"));
	if (!jmap_id_parse(c, eid, 'e', &email_id))
		return jmap_set_error("invalidProperties", "emailId", "emailId");
	json_t *ids = identities(c);
	json_t *ident = NULL;
	if (iid != NULL && jmap_id_parse(c, iid, 'i', &identity_id)) {
		char sid[24];
		jmap_id(sid, sizeof(sid), 'i', identity_id);
		ident = obj_find(ids, sid);
	}
	if (ident == NULL) {
		json_decref(ids);
		return jmap_set_error("invalidProperties", "no such identity", "identityId");
	}
	struct store_jmap_email *e;
	size_t n;
	if (store_jmap_emails(c->store, c->account_id, &email_id, 1, 0, 0, &e, &n) < 0 || n == 0) {
		json_decref(ids);
		store_jmap_emails_free(&e, n);
		return jmap_set_error("invalidProperties", "no such email", "emailId");
	}
	struct envelope env;
	json_t *err = envelope_make(c, json_object_get(obj, "envelope"),
				    json_string_value(json_object_get(ident, "email")),
				    e->msg.blob_id, &env);
	struct buf raw, msg;
	buf_init(&raw);
	buf_init(&msg);
	char bid[80];
	snprintf(bid, sizeof(bid), "B%s", e->msg.blob_id);
	if (err == NULL && jmap_blob_read(c->store, c->account_id, bid, &raw, NULL, 0) <= 0)
		err = jmap_set_error("serverFail", "message unreadable", NULL);
	if (err == NULL)
		err = author_check(c, &raw);
	if (err == NULL)
		err = limit_check(c, env.n);
	if (err == NULL) {
		strip_bcc(raw.data ? raw.data : "", raw.len, &msg);
		dkim_sign(c, env.from, &msg);
		err = send_message(c, &env, &msg);
		if (err == NULL)
			send_limit_charge(c->r->username, (unsigned)env.n);
	}
	if (err == NULL) {
		char tid[24], nowd[32];
		jmap_id(tid, sizeof(tid), 't', e->thread_id ? e->thread_id : e->msg.id);
		jmap_utc_date(nowd, sizeof(nowd), time(NULL));
		json_t *rcpt = json_array();
		for (size_t i = 0; i < env.n; i++)
			json_array_append_new(
				rcpt, json_pack("{s:s s:n}", "email", env.rcpt[i], "parameters"));
		*stored_r = json_pack("{s:s s:s s:s s:{s:{s:s s:n} s:o} s:s s:s s:n s:[] s:[]}",
				      "identityId", iid, "emailId", eid[0] == '#' ? "" : eid,
				      "threadId", tid, "envelope", "mailFrom", "email", env.from,
				      "parameters", "rcptTo", rcpt, "sendAt", nowd, "undoStatus",
				      "final", "deliveryStatus", "dsnBlobIds", "mdnBlobIds");
		char real[24];
		jmap_id(real, sizeof(real), 'e', email_id);
		json_object_set_new(*stored_r, "emailId", json_string(real));
	}
	envelope_free(&env);
	buf_deinit(&raw);
	buf_deinit(&msg);
	store_jmap_emails_free(&e, n);
	json_decref(ids);
	return err;
}

static json_t *submission_update(struct jmap_ctx *c, json_t *cur, json_t *patch)
{
	(void)c, (void)cur, (void)patch;
	/* Every submission is sent at once: undoStatus is "final". */
	return jmap_set_error("cannotUnsend", NULL, "undoStatus");
}

/* onSuccessUpdateEmail / onSuccessDestroyEmail: an implicit Email/set. */
static void on_success(struct jmap_ctx *c, json_t *args, json_t *res)
{
	json_t *upd = json_object_get(args, "onSuccessUpdateEmail");
	json_t *del = json_object_get(args, "onSuccessDestroyEmail");
	if (!json_is_object(upd) && !json_is_array(del))
		return;
	json_t *created = json_object_get(res, "created");
	json_t *updated = json_object(), *not_updated = json_object();
	json_t *destroyed = json_array(), *not_destroyed = json_object();
	json_t *old = jmap_state_get(c, STORE_JMAP_EMAIL);
	const char *key;
	json_t *v;
	json_object_foreach(upd, key, v)
	{
		/* "#cid" names the Email of the submission created as cid. */
		json_t *sub = key[0] == '#' ? json_object_get(created, key + 1) : NULL;
		const char *eid = sub ? json_string_value(json_object_get(sub, "emailId")) : key;
		int64_t id = 0;
		if (key[0] == '#' && sub == NULL)
			continue;
		json_t *err = jmap_id_parse(c, eid, 'e', &id)
			? jmap_email_update_one(c, id, v)
			: jmap_set_error("notFound", NULL, NULL);
		json_object_set_new(err ? not_updated : updated, eid, err ? err : json_null());
	}
	size_t i;
	json_array_foreach(del, i, v)
	{
		const char *k = json_string_value(v);
		json_t *sub = k && k[0] == '#' ? json_object_get(created, k + 1) : NULL;
		const char *eid = sub ? json_string_value(json_object_get(sub, "emailId")) : k;
		int64_t id = 0;
		if (k != NULL && k[0] == '#' && sub == NULL)
			continue;
		json_t *err = jmap_id_parse(c, eid, 'e', &id)
			? jmap_email_destroy_one(c, id)
			: jmap_set_error("notFound", NULL, NULL);
		if (err != NULL)
			json_object_set_new(not_destroyed, eid ? eid : "", err);
		else
			json_array_append_new(destroyed, json_string(eid));
	}
	json_t *new_state = jmap_state_get(c, STORE_JMAP_EMAIL);
	json_t *set =
		json_pack("{s:s s:o s:o s:o s:o s:o s:o}", "accountId", c->account, "oldState",
			  old ? old : json_null(), "newState", new_state ? new_state : json_null(),
			  "updated", updated, "notUpdated", not_updated, "destroyed", destroyed,
			  "notDestroyed", not_destroyed);
	json_array_append_new(c->followups, json_pack("[s o s]", "Email/set", set, c->call_id));
}

int jmap_submission_set(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId",
					    "ifInState",
					    "create",
					    "update",
					    "destroy",
					    "onSuccessUpdateEmail",
					    "onSuccessDestroyEmail",
					    NULL};
	static const struct objset f = {STORE_JMAP_SUBMISSION, 's', submission_create,
					submission_update};
	if (jmap_check_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *all = objs_load(c, STORE_JMAP_SUBMISSION, 's');
	if (all == NULL)
		return jmap_fail(res_r, "serverFail", NULL);
	int r = objs_set(c, args, &f, all, res_r);
	json_decref(all);
	if (r == 0)
		on_success(c, args, *res_r);
	return r;
}

/* --- VacationResponse -------------------------------------------------- */

static const char *const vacation_props[] = {"isEnabled", "fromDate", "toDate", "subject",
					     "textBody",  "htmlBody", NULL};

static json_t *vacation_load(struct jmap_ctx *c, int64_t *row_r)
{
	json_t *all = objs_load(c, STORE_JMAP_VACATION, 'v');
	json_t *v = json_pack("{s:s s:b s:n s:n s:n s:n s:n}", "id", "singleton", "isEnabled", 0,
			      "fromDate", "toDate", "subject", "textBody", "htmlBody");
	*row_r = 0;
	if (all != NULL && json_array_size(all) > 0) {
		json_t *stored = json_array_get(all, 0);
		jmap_id_parse(NULL, json_string_value(json_object_get(stored, "id")), 'v', row_r);
		json_object_update(v, stored);
		json_object_set_new(v, "id", json_string("singleton"));
	}
	json_decref(all);
	/* Enabled means our script is the active one, whatever changed it. */
	json_object_set_new(v, "isEnabled", json_boolean(jmap_vacation_enabled(c) > 0));
	return v;
}

int jmap_vacation_get(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	int64_t row;
	if (jmap_check_account(c, args, res_r) < 0)
		return -1;
	json_t *v = vacation_load(c, &row);
	json_t *all = json_pack("[o]", v);
	int r = objs_get(c, args, all, STORE_JMAP_VACATION, res_r);
	json_decref(all);
	return r;
}

int jmap_vacation_set(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	static const char *const known[] = {"accountId", "ifInState", "create",
					    "update",    "destroy",   NULL};
	if (jmap_check_account(c, args, res_r) < 0 || jmap_check_args(args, known, res_r) < 0)
		return -1;
	json_t *old;
	if (jmap_state_check(c, args, STORE_JMAP_VACATION, &old, res_r) < 0)
		return -1;
	json_t *not_created = json_object(), *updated = json_object(), *not_updated = json_object(),
	       *not_destroyed = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(args, "create"), key, v)
		json_object_set_new(not_created, key, jmap_set_error("singleton", NULL, NULL));
	size_t i;
	json_array_foreach(json_object_get(args, "destroy"), i, v) json_object_set_new(
		not_destroyed, json_string_value(v) ?: "", jmap_set_error("singleton", NULL, NULL));
	json_object_foreach(json_object_get(args, "update"), key, v)
	{
		json_t *err = NULL;
		if (strcmp(key, "singleton") != 0 || !json_is_object(v)) {
			err = jmap_set_error("notFound", NULL, NULL);
		} else {
			const char *p;
			json_t *x;
			json_object_foreach(v, p, x)
			{
				bool ok = false;
				for (size_t k = 0; vacation_props[k] && !ok; k++)
					ok = strcmp(vacation_props[k], p) == 0;
				time_t t;
				if (ok &&
				    (strcmp(p, "fromDate") == 0 || strcmp(p, "toDate") == 0) &&
				    !json_is_null(x) && !jmap_date_parse(json_string_value(x), &t))
					ok = false;
				if (ok && strcmp(p, "isEnabled") == 0 && !json_is_boolean(x))
					ok = false;
				if (!ok && err == NULL)
					err = jmap_set_error("invalidProperties", NULL, p);
			}
		}
		if (err == NULL) {
			int64_t row;
			json_t *cur = vacation_load(c, &row);
			json_object_update(cur, v);
			err = jmap_vacation_apply(c, cur);
			if (err == NULL && obj_put(c, STORE_JMAP_VACATION, row, cur) < 0)
				err = jmap_set_error("serverFail", NULL, NULL);
			json_decref(cur);
		}
		json_object_set_new(err ? not_updated : updated, key, err ? err : json_null());
	}
	json_t *new_state = jmap_state_get(c, STORE_JMAP_VACATION);
	*res_r = json_pack("{s:s s:o s:o s:{} s:o s:o s:o s:[] s:o}", "accountId", c->account,
			   "oldState", old ? old : json_null(), "newState",
			   new_state ? new_state : json_null(), "created", "notCreated",
			   not_created, "updated", updated, "notUpdated", not_updated, "destroyed",
			   "notDestroyed", not_destroyed);
	return 0;
}
