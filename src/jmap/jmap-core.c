/* SPDX-License-Identifier: MIT */
/*
 * JMAP core (RFC 8620): the session resource, the API envelope (request
 * validation, capabilities, the method table, result references with
 * their JSON-pointer paths, creation ids) and the helpers every method
 * family shares: ids, states, argument checks, method-level errors and
 * the generic /changes over the store's account-wide change log.
 */
#include "jmap/jmap-private.h"

#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- errors and arguments ---------------------------------------------- */

int jmap_fail(json_t **res_r, const char *type, const char *desc)
{
	json_t *e = json_pack("{ss}", "type", type);
	if (desc != NULL)
		json_object_set_new(e, "description", json_string(desc));
	*res_r = e;
	return -1;
}

json_t *jmap_set_error(const char *type, const char *desc, const char *prop)
{
	json_t *e = json_pack("{ss}", "type", type);
	if (desc != NULL)
		json_object_set_new(e, "description", json_string(desc));
	if (prop != NULL)
		json_object_set_new(e, "properties", json_pack("[s]", prop));
	return e;
}

int jmap_check_account(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	if (jmap_check_mail_account(c, args, res_r) < 0)
		return -1;
	if (c->shared)
		return jmap_fail(res_r, "accountNotSupportedByMethod",
				 "only Mail methods work on a shared account");
	return 0;
}

int jmap_check_args(json_t *args, const char *const *known, json_t **res_r)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
	{
		bool ok = false;
		for (size_t i = 0; known[i] != NULL && !ok; i++)
			ok = strcmp(known[i], key) == 0;
		if (!ok) {
			char msg[200];
			snprintf(msg, sizeof(msg), "unknown argument: %.150s", key);
			return jmap_fail(res_r, "invalidArguments", msg);
		}
	}
	return 0;
}

/* --- ids and states ---------------------------------------------------- */

void jmap_id(char *out, size_t size, char prefix, int64_t id)
{
	snprintf(out, size, "%c%" PRId64, prefix, id);
}

void jmap_created(struct jmap_ctx *c, const char *cid, const char *id)
{
	json_object_set_new(c->created, cid, json_string(id));
}

int jmap_id_parse(struct jmap_ctx *c, const char *s, char prefix, int64_t *id_r)
{
	if (s == NULL)
		return 0;
	if (s[0] == '#' && c != NULL) {
		json_t *v = json_object_get(c->created, s + 1);
		if (!json_is_string(v))
			return 0;
		s = json_string_value(v);
	}
	if (s[0] != prefix || s[1] == '\0' || s[1] == '0' || strlen(s) > 19)
		return 0;
	int64_t v = 0;
	for (const char *p = s + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		v = v * 10 + (*p - '0');
	}
	*id_r = v;
	return 1;
}

json_t *jmap_state_json(uint64_t state)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, state);
	return json_string(buf);
}

int jmap_state_parse(const char *s, uint64_t *state_r)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 19)
		return 0;
	uint64_t v = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*state_r = v;
	return 1;
}

json_t *jmap_state_get(struct jmap_ctx *c, enum store_jmap_kind kind)
{
	uint64_t st;
	if (store_jmap_state(c->store, c->account_id, kind, &st, NULL) < 0)
		return NULL;
	return jmap_state_json(st);
}

int jmap_state_check(struct jmap_ctx *c, json_t *args, enum store_jmap_kind kind, json_t **old_r,
		     json_t **res_r)
{
	json_t *old = jmap_state_get(c, kind);
	json_t *if_in = json_object_get(args, "ifInState");
	if (if_in != NULL && !json_is_null(if_in) && !json_equal(if_in, old)) {
		json_decref(old);
		*old_r = NULL;
		return jmap_fail(res_r, "stateMismatch", NULL);
	}
	*old_r = old;
	return 0;
}

/* --- /changes ----------------------------------------------------------- */

/*
 * On a shared account, an object the user may not see is reported as
 * destroyed (it may have left a mailbox the user reads).
 */
static bool shared_visible(struct jmap_ctx *c, enum store_jmap_kind kind, int64_t id)
{
	if (!c->shared)
		return true;
	if (kind == STORE_JMAP_MAILBOX)
		return jmap_rights(c, id) != 0;
	if (kind != STORE_JMAP_EMAIL)
		return true; /* threads: the exists callback reads the visible messages */
	struct store_jmap_email *e;
	size_t n;
	if (jmap_emails(c, &id, 1, 0, 0, &e, &n) < 0)
		return true;
	store_jmap_emails_free(&e, n);
	return n > 0;
}

static const char *const changes_args[] = {"accountId", "sinceState", "maxChanges", NULL};

int jmap_changes(struct jmap_ctx *c, json_t *args, enum store_jmap_kind kind, char prefix,
		 bool (*exists)(struct jmap_ctx *c, int64_t id), json_t **res_r)
{
	uint64_t since, now, floor;
	size_t max = JMAP_MAX_CHANGES;

	if (jmap_check_mail_account(c, args, res_r) < 0 ||
	    jmap_check_args(args, changes_args, res_r) < 0)
		return -1;
	if (c->shared && kind != STORE_JMAP_MAILBOX && kind != STORE_JMAP_EMAIL &&
	    kind != STORE_JMAP_THREAD)
		return jmap_fail(res_r, "accountNotSupportedByMethod", NULL);
	json_t *mc = json_object_get(args, "maxChanges");
	if (mc != NULL && !json_is_null(mc)) {
		if (!json_is_integer(mc) || json_integer_value(mc) <= 0)
			return jmap_fail(res_r, "invalidArguments", "maxChanges must be positive");
		if ((uint64_t)json_integer_value(mc) < max)
			max = (size_t)json_integer_value(mc);
	}
	if (!jmap_state_parse(json_string_value(json_object_get(args, "sinceState")), &since))
		return jmap_fail(res_r, "cannotCalculateChanges", "unknown sinceState");
	if (store_jmap_state(c->store, c->account_id, kind, &now, &floor) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	if (since < floor || since > now)
		return jmap_fail(res_r, "cannotCalculateChanges", "sinceState is not known");
	struct store_jmap_change *v;
	size_t n;
	if (store_jmap_changes(c->store, c->account_id, kind, since, max, &v, &n) < 0)
		return jmap_fail(res_r, "serverFail", NULL);
	bool more = n > max;
	if (more)
		n = max;
	json_t *created = json_array(), *updated = json_array(), *destroyed = json_array();
	bool counts_only = true;
	for (size_t i = 0; i < n; i++) {
		char id[24];
		jmap_id(id, sizeof(id), prefix, v[i].obj);
		bool gone = v[i].destroyed || (exists != NULL && !exists(c, v[i].obj)) ||
			!shared_visible(c, kind, v[i].obj);
		bool is_new = v[i].created > since;
		if (gone) {
			if (!is_new)
				json_array_append_new(destroyed, json_string(id));
		} else if (is_new) {
			json_array_append_new(created, json_string(id));
		} else {
			json_array_append_new(updated, json_string(id));
			if (v[i].props > since)
				counts_only = false;
		}
	}
	uint64_t new_state = more ? v[n - 1].changed : now;
	free(v);
	*res_r = json_pack("{ss so so sb so so so}", "accountId", c->account, "oldState",
			   jmap_state_json(since), "newState", jmap_state_json(new_state),
			   "hasMoreChanges", more, "created", created, "updated", updated,
			   "destroyed", destroyed);
	if (kind == STORE_JMAP_MAILBOX)
		json_object_set_new(*res_r, "updatedProperties",
				    counts_only && json_array_size(updated) > 0
					    ? json_pack("[ssss]", "totalEmails", "unreadEmails",
							"totalThreads", "unreadThreads")
					    : json_null());
	return 0;
}

/* --- /get helpers ------------------------------------------------------- */

int jmap_get_ids(json_t *args, json_t **ids_r, json_t **res_r)
{
	json_t *ids = json_object_get(args, "ids");
	*ids_r = NULL;
	if (ids == NULL || json_is_null(ids))
		return 0;
	if (!json_is_array(ids))
		return jmap_fail(res_r, "invalidArguments", "ids must be an array or null");
	if (json_array_size(ids) > JMAP_MAX_OBJECTS_GET)
		return jmap_fail(res_r, "requestTooLarge", NULL);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) if (!json_is_string(v)) return jmap_fail(
		res_r, "invalidArguments", "ids must be strings");
	*ids_r = ids;
	return 0;
}

int jmap_get_props(json_t *args, const char *const *known, bool (*allow)(const char *name),
		   json_t **props_r, json_t **res_r)
{
	json_t *p = json_object_get(args, "properties");
	*props_r = NULL;
	if (p == NULL || json_is_null(p))
		return 0;
	if (!json_is_array(p))
		return jmap_fail(res_r, "invalidArguments", "properties must be an array");
	size_t i;
	json_t *v;
	json_array_foreach(p, i, v)
	{
		const char *name = json_string_value(v);
		bool ok = name != NULL && allow != NULL && allow(name);
		for (size_t k = 0; name != NULL && !ok && known[k] != NULL; k++)
			ok = strcmp(known[k], name) == 0;
		if (!ok) {
			char msg[200];
			snprintf(msg, sizeof(msg), "unknown property: %.150s",
				 name != NULL ? name : "(not a string)");
			return jmap_fail(res_r, "invalidArguments", msg);
		}
	}
	*props_r = p;
	return 0;
}

bool jmap_want(json_t *props, const char *name)
{
	if (props == NULL)
		return true;
	size_t i;
	json_t *v;
	json_array_foreach(props, i, v) if (json_is_string(v) &&
					    strcmp(json_string_value(v), name) == 0) return true;
	return false;
}

/* --- dates ------------------------------------------------------------- */

void jmap_utc_date(char *out, size_t size, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int jmap_date_parse(const char *s, time_t *t_r)
{
	struct tm tm = {0};
	if (s == NULL)
		return 0;
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return 0;
	if (*p == '.') /* fractional seconds are ignored */
		for (p++; isdigit((unsigned char)*p); p++)
			;
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return 0;
	}
	if (*p != '\0')
		return 0;
	*t_r = timegm(&tm) - off;
	return 1;
}

/* --- session resource -------------------------------------------------- */

static json_t *core_capability(void)
{
	return json_pack(
		"{sI sI sI sI sI sI sI s[ss]}", "maxSizeUpload", (json_int_t)JMAP_MAX_UPLOAD_SIZE,
		"maxConcurrentUpload", (json_int_t)JMAP_MAX_CONCURRENT, "maxSizeRequest",
		(json_int_t)JMAP_MAX_REQUEST_SIZE, "maxConcurrentRequests",
		(json_int_t)JMAP_MAX_CONCURRENT, "maxCallsInRequest", (json_int_t)JMAP_MAX_CALLS,
		"maxObjectsInGet", (json_int_t)JMAP_MAX_OBJECTS_GET, "maxObjectsInSet",
		(json_int_t)JMAP_MAX_OBJECTS_SET, "collationAlgorithms", "i;ascii-casemap",
		"i;unicode-casemap");
}

static json_t *mail_account_capability(bool top_level)
{
	return json_pack("{sI sn sI sI s[sssssss] sb}", "maxMailboxesPerEmail", (json_int_t)1,
			 "maxMailboxDepth", "maxSizeMailboxName", (json_int_t)490,
			 "maxSizeAttachmentsPerEmail", (json_int_t)JMAP_MAX_UPLOAD_SIZE,
			 "emailQuerySortOptions", "receivedAt", "sentAt", "size", "from", "to",
			 "subject", "hasKeyword", "mayCreateTopLevelMailbox", top_level);
}

/*
 * The session "state": changes only if the account set changes (the
 * user's, and which accounts share with it, read-only or not).
 */
static void session_state(const struct jmap_request *r, char *out, size_t size)
{
	struct jmap_shared_account *v;
	size_t n;
	uint64_t h = 14695981039346656037ull; /* FNV-1a over the shared accounts */
	if (jmap_shared_accounts(r->ctx->store, r->account_id, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			uint64_t x = (uint64_t)v[i].id * 2 + v[i].read_only;
			for (int b = 0; b < 8; b++) {
				h ^= (x >> (8 * b)) & 0xff;
				h *= 1099511628211ull;
			}
		}
		free(v);
	}
	if (n == 0)
		snprintf(out, size, "s%" PRId64, r->account_id);
	else
		snprintf(out, size, "s%" PRId64 "-%016" PRIx64, r->account_id, h);
}

static void url_join(char *out, size_t size, const char *base, const char *path)
{
	snprintf(out, size, "%s%s", base != NULL ? base : "", path);
}

/* The accounts that share mailboxes with the user (jmap-shared.c), Mail only. */
static void shared_accounts_add(const struct jmap_request *r, json_t *accounts)
{
	struct jmap_shared_account *v;
	size_t n;
	if (jmap_shared_accounts(r->ctx->store, r->account_id, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char id[24];
		jmap_id(id, sizeof(id), 'a', v[i].id);
		json_object_set_new(accounts, id,
				    json_pack("{ss sb sb s{so}}", "name", v[i].name, "isPersonal",
					      0, "isReadOnly", v[i].read_only,
					      "accountCapabilities", JMAP_CAP_MAIL,
					      mail_account_capability(false)));
	}
	free(v);
}

int jmap_session_resource(const struct jmap_request *r, struct buf *out)
{
	char acc[24], state[64], api[512], down[512], up[512], es[512];

	jmap_id(acc, sizeof(acc), 'a', r->account_id);
	session_state(r, state, sizeof(state));
	url_join(api, sizeof(api), r->base_url, "/jmap/api");
	url_join(down, sizeof(down), r->base_url,
		 "/jmap/download/{accountId}/{blobId}/{name}?accept={type}");
	url_join(up, sizeof(up), r->base_url, "/jmap/upload/{accountId}/");
	url_join(es, sizeof(es), r->base_url,
		 "/jmap/eventsource?types={types}&closeafter={closeafter}&ping={ping}");
	json_t *caps = json_pack("{so s{} s{} s{}}", JMAP_CAP_CORE, core_capability(),
				 JMAP_CAP_MAIL, JMAP_CAP_SUBMISSION, JMAP_CAP_VACATION);
	json_t *acaps = json_pack("{so s{sI so} s{}}", JMAP_CAP_MAIL, mail_account_capability(true),
				  JMAP_CAP_SUBMISSION, "maxDelayedSend", (json_int_t)0,
				  "submissionExtensions", json_object(), JMAP_CAP_VACATION);
	json_t *account = json_pack("{ss sb sb so}", "name", r->username ? r->username : "",
				    "isPersonal", 1, "isReadOnly", 0, "accountCapabilities", acaps);
	json_t *accounts = json_pack("{so}", acc, account);
	shared_accounts_add(r, accounts);
	json_t *session = json_pack("{so so s{ssssss} ss ss ss ss ss ss}", "capabilities", caps,
				    "accounts", accounts, "primaryAccounts", JMAP_CAP_MAIL, acc,
				    JMAP_CAP_SUBMISSION, acc, JMAP_CAP_VACATION, acc, "username",
				    r->username ? r->username : "", "apiUrl", api, "downloadUrl",
				    down, "uploadUrl", up, "eventSourceUrl", es, "state", state);
	char *s = json_dumps(session, JSON_COMPACT);
	buf_append_str(out, s);
	free(s);
	json_decref(session);
	return 200;
}

/* --- Core/echo --------------------------------------------------------- */

static int core_echo(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	(void)c;
	*res_r = json_incref(args);
	return 0;
}

/* --- the method table -------------------------------------------------- */

struct jmap_method {
	const char *name;
	unsigned needs; /* JMAP_USING_* bit the request must name */
	jmap_method_fn *fn;
};

static const struct jmap_method methods[] = {
	{"Core/echo", JMAP_USING_CORE, core_echo},
	{"Mailbox/get", JMAP_USING_MAIL, jmap_mailbox_get},
	{"Mailbox/changes", JMAP_USING_MAIL, jmap_mailbox_changes},
	{"Mailbox/query", JMAP_USING_MAIL, jmap_mailbox_query},
	{"Mailbox/queryChanges", JMAP_USING_MAIL, jmap_mailbox_query_changes},
	{"Mailbox/set", JMAP_USING_MAIL, jmap_mailbox_set},
	{"Thread/get", JMAP_USING_MAIL, jmap_thread_get},
	{"Thread/changes", JMAP_USING_MAIL, jmap_thread_changes},
	{"Email/get", JMAP_USING_MAIL, jmap_email_get},
	{"Email/changes", JMAP_USING_MAIL, jmap_email_changes},
	{"Email/query", JMAP_USING_MAIL, jmap_email_query},
	{"Email/queryChanges", JMAP_USING_MAIL, jmap_email_query_changes},
	{"Email/set", JMAP_USING_MAIL, jmap_email_set},
	{"Email/import", JMAP_USING_MAIL, jmap_email_import},
	{"Email/copy", JMAP_USING_MAIL, jmap_email_copy},
	{"Email/parse", JMAP_USING_MAIL, jmap_email_parse},
	{"SearchSnippet/get", JMAP_USING_MAIL, jmap_search_snippet_get},
	{"Identity/get", JMAP_USING_SUBMISSION, jmap_identity_get},
	{"Identity/changes", JMAP_USING_SUBMISSION, jmap_identity_changes},
	{"Identity/set", JMAP_USING_SUBMISSION, jmap_identity_set},
	{"EmailSubmission/get", JMAP_USING_SUBMISSION, jmap_submission_get},
	{"EmailSubmission/changes", JMAP_USING_SUBMISSION, jmap_submission_changes},
	{"EmailSubmission/query", JMAP_USING_SUBMISSION, jmap_submission_query},
	{"EmailSubmission/set", JMAP_USING_SUBMISSION, jmap_submission_set},
	{"VacationResponse/get", JMAP_USING_VACATION, jmap_vacation_get},
	{"VacationResponse/set", JMAP_USING_VACATION, jmap_vacation_set},
};

static const struct jmap_method *method_find(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* --- result references (RFC 8620 3.7) ---------------------------------- */

/* Decode one JSON-pointer token (~1 is '/', ~0 is '~') into out. */
static void pointer_token(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < size; i++) {
		if (s[i] == '~' && i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1')) {
			out[o++] = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* Evaluate path on v; "*" maps over arrays and flattens. New ref or NULL. */
static json_t *pointer_eval(json_t *v, const char *path, int depth)
{
	if (*path == '\0')
		return json_incref(v);
	if (*path != '/' || depth > 32) /* a path deeper than any response: refused */
		return NULL;
	path++;
	const char *end = strchr(path, '/');
	size_t len = end ? (size_t)(end - path) : strlen(path);
	const char *rest = end ? end : "";
	char tok[256];
	pointer_token(path, len, tok, sizeof(tok));
	if (json_is_array(v)) {
		if (strcmp(tok, "*") == 0) {
			json_t *out = json_array();
			size_t i;
			json_t *item;
			json_array_foreach(v, i, item)
			{
				json_t *r = pointer_eval(item, rest, depth + 1);
				if (r == NULL) {
					json_decref(out);
					return NULL;
				}
				if (json_is_array(r))
					json_array_extend(out, r);
				else
					json_array_append(out, r);
				json_decref(r);
			}
			return out;
		}
		char *e;
		unsigned long idx = strtoul(tok, &e, 10);
		if (tok[0] == '\0' || *e != '\0' || idx >= json_array_size(v))
			return NULL;
		return pointer_eval(json_array_get(v, idx), rest, depth + 1);
	}
	if (json_is_object(v)) {
		json_t *child = json_object_get(v, tok);
		return child != NULL ? pointer_eval(child, rest, depth + 1) : NULL;
	}
	return NULL;
}

static json_t *reference_resolve(struct jmap_ctx *c, json_t *ref)
{
	const char *of = json_string_value(json_object_get(ref, "resultOf"));
	const char *name = json_string_value(json_object_get(ref, "name"));
	const char *path = json_string_value(json_object_get(ref, "path"));
	if (of == NULL || name == NULL || path == NULL || json_object_size(ref) != 3)
		return NULL;
	size_t i;
	json_t *resp;
	json_array_foreach(c->responses, i, resp)
	{
		const char *rid = json_string_value(json_array_get(resp, 2));
		const char *rname = json_string_value(json_array_get(resp, 0));
		if (rid != NULL && strcmp(rid, of) == 0) {
			if (strcmp(rname, name) != 0)
				return NULL;
			return pointer_eval(json_array_get(resp, 1), path, 0);
		}
	}
	return NULL;
}

/* Replace "#arg" references by their values. 0 / -1 with *res_r set. */
static int references_resolve(struct jmap_ctx *c, json_t *args, json_t **res_r)
{
	const char *key;
	json_t *v;
	void *tmp;
	json_t *resolved = json_object();

	json_object_foreach_safe(args, tmp, key, v)
	{
		if (key[0] != '#')
			continue;
		if (json_object_get(args, key + 1) != NULL) {
			json_decref(resolved);
			return jmap_fail(res_r, "invalidArguments",
					 "an argument is given both plain and by reference");
		}
		json_t *val = reference_resolve(c, v);
		if (val == NULL) {
			json_decref(resolved);
			return jmap_fail(res_r, "invalidResultReference", NULL);
		}
		json_object_set_new(resolved, key + 1, val);
		json_object_del(args, key);
	}
	json_object_update(args, resolved);
	json_decref(resolved);
	return 0;
}

/* --- the API endpoint -------------------------------------------------- */

static int problem(struct buf *out, const char **ct_r, const char *type, const char *detail)
{
	json_t *p = json_pack("{sssiss}", "type", type, "status", 400, "detail", detail);
	char *s = json_dumps(p, JSON_COMPACT);
	buf_append_str(out, s);
	free(s);
	json_decref(p);
	*ct_r = "application/problem+json";
	return 400;
}

static int using_parse(json_t *using, unsigned *caps_r, const char **bad_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {
		{JMAP_CAP_CORE, JMAP_USING_CORE},
		{JMAP_CAP_MAIL, JMAP_USING_MAIL},
		{JMAP_CAP_SUBMISSION, JMAP_USING_SUBMISSION},
		{JMAP_CAP_VACATION, JMAP_USING_VACATION},
	};
	size_t i;
	json_t *v;
	*caps_r = 0;
	json_array_foreach(using, i, v)
	{
		const char *s = json_string_value(v);
		if (s == NULL)
			return -1;
		bool ok = false;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]) && !ok; k++)
			if (strcmp(known[k].name, s) == 0) {
				*caps_r |= known[k].bit;
				ok = true;
			}
		if (!ok) {
			*bad_r = s;
			return 0;
		}
	}
	return 1;
}

static bool request_valid(json_t *req)
{
	json_t *calls = json_object_get(req, "methodCalls");
	json_t *created = json_object_get(req, "createdIds");
	if (!json_is_object(req) || !json_is_array(json_object_get(req, "using")) ||
	    !json_is_array(calls) || (created != NULL && !json_is_object(created)))
		return false;
	size_t i;
	json_t *call;
	json_array_foreach(calls, i, call)
	{
		if (!json_is_array(call) || json_array_size(call) != 3 ||
		    !json_is_string(json_array_get(call, 0)) ||
		    !json_is_object(json_array_get(call, 1)) ||
		    !json_is_string(json_array_get(call, 2)))
			return false;
	}
	return true;
}

/* Run one method call, appending its response(s). */
static void call_run(struct jmap_ctx *c, const char *name, json_t *args, const char *call_id)
{
	const struct jmap_method *m = method_find(name);
	json_t *res = NULL;
	int ret;

	c->call_id = call_id;
	c->followups = json_array();
	if (m == NULL || (m->needs & c->caps) == 0)
		ret = jmap_fail(&res, "unknownMethod", NULL);
	else if ((ret = references_resolve(c, args, &res)) == 0)
		ret = m->fn(c, args, &res);
	json_array_append_new(c->responses,
			      json_pack("[sos]", ret < 0 ? "error" : name, res, call_id));
	json_array_extend(c->responses, c->followups);
	json_decref(c->followups);
	c->followups = NULL;
}

int jmap_api(const struct jmap_request *r, const char *body, size_t len, struct buf *out,
	     const char **content_type_r)
{
	json_error_t jerr;
	const char *bad = NULL;
	unsigned caps;

	*content_type_r = "application/json";
	if (len > JMAP_MAX_REQUEST_SIZE)
		return problem(out, content_type_r, "urn:ietf:params:jmap:error:limit",
			       "request too large (maxSizeRequest)");
	json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL)
		return problem(out, content_type_r, "urn:ietf:params:jmap:error:notJSON",
			       "the request is not valid JSON");
	if (!request_valid(req) || using_parse(json_object_get(req, "using"), &caps, &bad) < 0) {
		json_decref(req);
		return problem(out, content_type_r, "urn:ietf:params:jmap:error:notRequest",
			       "the request is not a JMAP Request object");
	}
	if (bad != NULL) {
		char msg[300];
		snprintf(msg, sizeof(msg), "unknown capability: %.200s", bad);
		json_decref(req);
		return problem(out, content_type_r, "urn:ietf:params:jmap:error:unknownCapability",
			       msg);
	}
	json_t *calls = json_object_get(req, "methodCalls");
	if (json_array_size(calls) > JMAP_MAX_CALLS) {
		json_decref(req);
		return problem(out, content_type_r, "urn:ietf:params:jmap:error:limit",
			       "too many method calls (maxCallsInRequest)");
	}
	struct jmap_ctx c = {
		.r = r,
		.store = r->ctx->store,
		.user_id = r->account_id,
		.account_id = r->account_id,
		.caps = caps,
	};
	/*
	 * Messages that came another way (SMTP, IMAP APPEND) get their thread
	 * first, a slice at a time: with many of them, the request is run
	 * again on the worker's next turn (JMAP_API_AGAIN), the other
	 * sessions having had theirs (issue 9 item 3).
	 */
	int synced = caps & JMAP_USING_MAIL ? jmap_thread_sync(&c, JMAP_THREAD_SLICE_US) : 1;
	if (synced == 0) {
		json_decref(req);
		return JMAP_API_AGAIN;
	}
	if (synced < 0)
		log_warn("jmap.thread_sync", "session=%s account=%" PRId64,
			 r->session_id ? r->session_id : "-", r->account_id);
	c.responses = json_array();
	/* \Seen of shared mailboxes is the user's own (store-acl.c). */
	store_seen_reader_set(c.store, r->account_id);
	jmap_id(c.account, sizeof(c.account), 'a', r->account_id);
	json_t *given = json_object_get(req, "createdIds");
	c.created = given != NULL ? json_deep_copy(given) : json_object();
	size_t i;
	json_t *call;
	json_array_foreach(calls, i, call)
	{
		call_run(&c, json_string_value(json_array_get(call, 0)), json_array_get(call, 1),
			 json_string_value(json_array_get(call, 2)));
	}
	store_seen_reader_set(c.store, 0);
	free(c.grants);
	char state[64];
	session_state(r, state, sizeof(state));
	json_t *resp = json_pack("{soss}", "methodResponses", c.responses, "sessionState", state);
	if (given != NULL)
		json_object_set(resp, "createdIds", c.created);
	char *s = json_dumps(resp, JSON_COMPACT);
	buf_append_str(out, s);
	free(s);
	json_decref(resp);
	json_decref(c.created);
	json_decref(req);
	return 200;
}

/* --- EventSource ------------------------------------------------------- */

/* The order of struct jmap_push's bits and states. */
static const struct {
	const char *type;
	enum store_jmap_kind kind;
} push_types[JMAP_PUSH_TYPES] = {
	{"Mailbox", STORE_JMAP_MAILBOX},
	{"Email", STORE_JMAP_EMAIL},
	{"Thread", STORE_JMAP_THREAD},
	{"Identity", STORE_JMAP_IDENTITY},
	{"EmailSubmission", STORE_JMAP_SUBMISSION},
	{"VacationResponse", STORE_JMAP_VACATION},
	/* A new message arrived (RFC 8621 1.5); follows Email's state here. */
	{"EmailDelivery", STORE_JMAP_EMAIL},
};

int jmap_push_init(struct jmap_push *p, const char *types)
{
	memset(p, 0, sizeof(*p));
	if (strcmp(types, "*") == 0) {
		p->mask = (1u << JMAP_PUSH_TYPES) - 1;
		return 0;
	}
	const char *s = types;
	for (;;) {
		size_t n = strcspn(s, ",");
		if (n == 0)
			return -1;
		for (size_t i = 0; i < JMAP_PUSH_TYPES; i++) {
			if (strlen(push_types[i].type) == n &&
			    memcmp(push_types[i].type, s, n) == 0)
				p->mask |= 1u << i;
		}
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

/*
 * The states of one account that moved since last[] into a new object
 * (NULL: none moved); shared accounts have only the Mail types. 0 / -1.
 */
static int push_account_states(const struct jmap_request *r, const struct jmap_push *p,
			       int64_t account, bool shared, uint64_t *last, json_t **states_r)
{
	*states_r = NULL;
	for (size_t i = 0; i < JMAP_PUSH_TYPES; i++) {
		uint64_t st;
		enum store_jmap_kind k = push_types[i].kind;
		if (!(p->mask & (1u << i)) ||
		    (shared && k != STORE_JMAP_MAILBOX && k != STORE_JMAP_EMAIL &&
		     k != STORE_JMAP_THREAD))
			continue;
		if (store_jmap_state(r->ctx->store, account, k, &st, NULL) < 0) {
			json_decref(*states_r);
			*states_r = NULL;
			return -1;
		}
		if (p->sent && last[i] == st)
			continue;
		last[i] = st;
		if (*states_r == NULL)
			*states_r = json_object();
		json_object_set_new(*states_r, push_types[i].type, jmap_state_json(st));
	}
	return 0;
}

int jmap_push_state(const struct jmap_request *r, struct jmap_push *p, struct buf *out)
{
	char acc[24];
	json_t *changed = json_object(), *states;

	jmap_id(acc, sizeof(acc), 'a', r->account_id);
	if (push_account_states(r, p, r->account_id, false, p->last, &states) < 0) {
		json_decref(changed);
		return -1;
	}
	if (states != NULL)
		json_object_set_new(changed, acc, states);
	struct jmap_shared_account *v;
	size_t n;
	if (jmap_shared_accounts(r->ctx->store, r->account_id, &v, &n) < 0) {
		json_decref(changed);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < p->n_shared && p->shared[k].id != v[i].id)
			k++;
		bool fresh = k == p->n_shared;
		if (fresh && k == JMAP_PUSH_SHARED_MAX)
			break;
		if (fresh) {
			/* An account shared after the stream opened: all its states. */
			p->n_shared++;
			p->shared[k].id = v[i].id;
			memset(p->shared[k].last, 0xff, sizeof(p->shared[k].last));
		}
		if (push_account_states(r, p, v[i].id, true, p->shared[k].last, &states) < 0) {
			free(v);
			json_decref(changed);
			return -1;
		}
		jmap_id(acc, sizeof(acc), 'a', v[i].id);
		if (states != NULL)
			json_object_set_new(changed, acc, states);
	}
	free(v);
	if (json_object_size(changed) == 0 && p->sent) {
		json_decref(changed);
		return 0;
	}
	p->sent = true;
	json_t *change = json_pack("{ss so}", "@type", "StateChange", "changed", changed);
	char *s = json_dumps(change, JSON_COMPACT);
	buf_printf(out, "event: state\ndata: %s\n\n", s);
	free(s);
	json_decref(change);
	return 1;
}
