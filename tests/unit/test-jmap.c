/* SPDX-License-Identifier: MIT */
/*
 * JMAP API tests: jmap_api, jmap_session_resource, jmap_upload,
 * jmap_download_open and jmap_push_state called with JSON on a temporary
 * store (a@example.org with its default mailboxes), checking the answers
 * with jansson: the envelope and its errors, result references, Mailbox,
 * Email, Thread, SearchSnippet, Identity, EmailSubmission and
 * VacationResponse methods, and states that follow changes made through
 * the IMAP side of the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"

#include "jmap/jmap.h"
#include "lib/server-ctx.h"
#include "mime/mime.h"
#include "mime/mime-store.h"
#include "sieve/sieve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct t {
	struct tu_fixture *f;
	struct server_ctx ctx;
	struct jmap_request r;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	t->f = tu_fixture_create("jmap", true);
	if (t->f == NULL)
		return -1;
	t->ctx.config = &t->f->config;
	t->ctx.store = t->f->store;
	t->ctx.wake_fd = -1;
	t->r.ctx = &t->ctx;
	t->r.account_id = t->f->acc;
	t->r.username = "a@example.org";
	t->r.base_url = "https://mail.example.org";
	t->r.session_id = "test";
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	tu_fixture_destroy(&t->f);
	free(t);
	return 0;
}

/* JSON written with ' for " (readability), "A" for the account id. */
static char *q(struct t *t, const char *s)
{
	struct buf b;
	char acc[24];
	buf_init(&b);
	snprintf(acc, sizeof(acc), "a%lld", (long long)t->f->acc);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\'')
			buf_append(&b, "\"", 1);
		else if (*p == '@' && p[1] == 'A' && p[2] == '@') {
			buf_append_str(&b, acc);
			p += 2;
		} else
			buf_append(&b, p, 1);
	}
	char *out = strdup(buf_cstr(&b));
	buf_deinit(&b);
	return out;
}

/* Run methodCalls (JSON array text); returns methodResponses (owned by caller). */
static json_t *calls(struct t *t, const char *method_calls)
{
	char *mc = q(t, method_calls);
	struct buf body, out;
	buf_init(&body);
	buf_init(&out);
	buf_printf(&body,
		   "{\"using\":[\"urn:ietf:params:jmap:core\",\"urn:ietf:params:jmap:mail\","
		   "\"urn:ietf:params:jmap:submission\","
		   "\"urn:ietf:params:jmap:vacationresponse\"],\"methodCalls\":%s}",
		   mc);
	free(mc);
	const char *ct;
	int status;
	/* As the HTTP layer does: again while new messages are being threaded. */
	while ((status = jmap_api(&t->r, body.data, body.len, &out, &ct)) == JMAP_API_AGAIN)
		assert_int_equal(out.len, 0);
	if (status != 200)
		fail_msg("status %d: %s", status, buf_cstr(&out));
	json_error_t e;
	json_t *j = json_loads(buf_cstr(&out), 0, &e);
	assert_non_null(j);
	json_t *r = json_incref(json_object_get(j, "methodResponses"));
	json_decref(j);
	buf_deinit(&body);
	buf_deinit(&out);
	return r;
}

static json_t *args_of(json_t *r, size_t i)
{
	return json_array_get(json_array_get(r, i), 1);
}

static const char *name_of(json_t *r, size_t i)
{
	return json_string_value(json_array_get(json_array_get(r, i), 0));
}

static const char *str_at(json_t *v, const char *path)
{
	json_t *cur = v;
	char *copy = strdup(path), *save = NULL;
	for (char *tok = strtok_r(copy, "/", &save); tok && cur; tok = strtok_r(NULL, "/", &save)) {
		char *end;
		long idx = strtol(tok, &end, 10);
		cur = json_is_array(cur) && *end == '\0' ? json_array_get(cur, (size_t)idx)
							 : json_object_get(cur, tok);
	}
	free(copy);
	return json_string_value(cur);
}

static json_int_t int_at(json_t *v, const char *key)
{
	return json_integer_value(json_object_get(v, key));
}

/* The JMAP id of mailbox name. */
static void mbox_id(struct t *t, const char *name, char *out, size_t size)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(t->f->store, t->f->acc, name, &m), 1);
	snprintf(out, size, "m%lld", (long long)m.id);
}

static const char multipart_msg[] =
	"From: Alice <alice@example.net>\r\n"
	"To: a@example.org, \"Bob B\" <bob@example.org>\r\n"
	"Cc: team: c@example.org, d@example.org;\r\n"
	"Subject: =?utf-8?q?caf=C3=A9?= report\r\n"
	"Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n"
	"Message-ID: <root@example.net>\r\n"
	"List-Unsubscribe: <mailto:u@example.net>, <https://example.net/u>\r\n"
	"X-Tag: one\r\n"
	"X-Tag: two\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"--b1\r\n"
	"Content-Type: multipart/alternative; boundary=\"b2\"\r\n"
	"\r\n"
	"--b2\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Bonjour, le caf=E9 est pr=EAt. Quarterly numbers inside.\r\n"
	"--b2\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"\r\n"
	"<p>Bonjour, le <b>caf\xc3\xa9</b> est pr\xc3\xaat.</p>\r\n"
	"--b2--\r\n"
	"--b1\r\n"
	"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQKJcOkw7zDtsOfCg==\r\n"
	"--b1--\r\n";

static uint32_t deliver(struct t *t, const char *mailbox, const char *msg, time_t when)
{
	return tu_deliver(t->f, mailbox, msg, strlen(msg), when, 0);
}

/* --- envelope ---------------------------------------------------------- */

static void test_session(void **state)
{
	struct t *t = *state;
	struct buf out;
	buf_init(&out);
	assert_int_equal(jmap_session_resource(&t->r, &out), 200);
	json_t *s = json_loads(buf_cstr(&out), 0, NULL);
	assert_non_null(s);
	assert_string_equal(str_at(s, "apiUrl"), "https://mail.example.org/jmap/api");
	assert_string_equal(str_at(s, "uploadUrl"),
			    "https://mail.example.org/jmap/upload/{accountId}/");
	assert_string_equal(str_at(s, "username"), "a@example.org");
	char acc[24];
	snprintf(acc, sizeof(acc), "a%lld", (long long)t->f->acc);
	assert_string_equal(str_at(s, "primaryAccounts/urn:ietf:params:jmap:mail"), acc);
	json_t *core =
		json_object_get(json_object_get(s, "capabilities"), "urn:ietf:params:jmap:core");
	assert_int_equal(int_at(core, "maxObjectsInGet"), 1000);
	assert_int_equal(int_at(core, "maxCallsInRequest"), 64);
	assert_non_null(strstr(str_at(s, "eventSourceUrl"), "/jmap/eventsource?types={types}"));
	json_decref(s);
	buf_deinit(&out);
}

static void expect_problem(struct t *t, const char *body, const char *type)
{
	struct buf out;
	const char *ct;
	buf_init(&out);
	assert_int_equal(jmap_api(&t->r, body, strlen(body), &out, &ct), 400);
	assert_string_equal(ct, "application/problem+json");
	assert_has(buf_cstr(&out), type);
	buf_deinit(&out);
}

static void test_request_errors(void **state)
{
	struct t *t = *state;
	expect_problem(t, "{not json", "urn:ietf:params:jmap:error:notJSON");
	expect_problem(t, "[1,2]", "urn:ietf:params:jmap:error:notRequest");
	expect_problem(t, "{\"using\":[],\"methodCalls\":[[\"Core/echo\",{}]]}",
		       "urn:ietf:params:jmap:error:notRequest");
	expect_problem(t, "{\"using\":[\"urn:example:nope\"],\"methodCalls\":[]}",
		       "urn:ietf:params:jmap:error:unknownCapability");
	/* 65 calls: over maxCallsInRequest */
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "{\"using\":[\"urn:ietf:params:jmap:core\"],\"methodCalls\":[");
	for (int i = 0; i < 65; i++)
		buf_printf(&b, "%s[\"Core/echo\",{},\"c%d\"]", i ? "," : "", i);
	buf_append_str(&b, "]}");
	expect_problem(t, buf_cstr(&b), "urn:ietf:params:jmap:error:limit");
	buf_deinit(&b);
}

static void test_echo_and_method_errors(void **state)
{
	struct t *t = *state;
	json_t *r = calls(t,
			  "[['Core/echo',{'hello':[1,2]},'c0'],"
			  "['Nope/get',{},'c1'],"
			  "['Mailbox/get',{'accountId':'@A@','bogus':1},'c2'],"
			  "['Mailbox/get',{'accountId':'a999'},'c3'],"
			  "['Email/get',{'accountId':'@A@','#ids':{'resultOf':'zz',"
			  "'name':'Email/query','path':'/ids'}},'c4'],"
			  "['Email/set',{'accountId':'@A@','ifInState':'999999'},'c5'],"
			  "['Email/changes',{'accountId':'@A@','sinceState':'x'},'c6']]");
	assert_string_equal(name_of(r, 0), "Core/echo");
	assert_int_equal(
		json_integer_value(json_array_get(json_object_get(args_of(r, 0), "hello"), 1)), 2);
	assert_string_equal(name_of(r, 1), "error");
	assert_string_equal(str_at(args_of(r, 1), "type"), "unknownMethod");
	assert_string_equal(str_at(args_of(r, 2), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 3), "type"), "accountNotFound");
	assert_string_equal(str_at(args_of(r, 4), "type"), "invalidResultReference");
	assert_string_equal(str_at(args_of(r, 5), "type"), "stateMismatch");
	assert_string_equal(str_at(args_of(r, 6), "type"), "cannotCalculateChanges");
	assert_string_equal(str_at(json_array_get(r, 6), "2"), "c6");
	json_decref(r);
	/* A capability not in "using" makes its methods unknown. */
	struct buf out;
	const char *ct;
	buf_init(&out);
	const char *body = "{\"using\":[\"urn:ietf:params:jmap:core\"],\"methodCalls\":"
			   "[[\"Mailbox/get\",{},\"x\"]]}";
	assert_int_equal(jmap_api(&t->r, body, strlen(body), &out, &ct), 200);
	assert_has(buf_cstr(&out), "unknownMethod");
	buf_deinit(&out);
}

/* --- mailboxes --------------------------------------------------------- */

static void test_mailbox_get_set(void **state)
{
	struct t *t = *state;
	deliver(t, NULL, multipart_msg, 1000);
	json_t *r = calls(t, "[['Mailbox/get',{'accountId':'@A@','ids':null},'0']]");
	json_t *list = json_object_get(args_of(r, 0), "list");
	assert_int_equal(json_array_size(list), 6);
	bool inbox = false;
	size_t i;
	json_t *m;
	json_array_foreach(list, i, m)
	{
		if (strcmp(str_at(m, "name"), "INBOX") == 0) {
			inbox = true;
			assert_string_equal(str_at(m, "role"), "inbox");
			assert_int_equal(int_at(m, "totalEmails"), 1);
			assert_int_equal(int_at(m, "unreadEmails"), 1);
			assert_int_equal(int_at(m, "totalThreads"), 1);
			assert_true(json_is_false(
				json_object_get(json_object_get(m, "myRights"), "mayDelete")));
		}
		if (strcmp(str_at(m, "name"), "Sent") == 0)
			assert_string_equal(str_at(m, "role"), "sent");
	}
	assert_true(inbox);
	const char *state0 = json_string_value(json_object_get(args_of(r, 0), "state"));
	char *st = strdup(state0);
	json_decref(r);

	/* create a parent and a child (by creation id), rename, move, destroy */
	r = calls(t,
		  "[['Mailbox/set',{'accountId':'@A@','create':{"
		  "'p':{'name':'Projects'},'c':{'name':'Alpha','parentId':'#p'}}},'0'],"
		  "['Mailbox/get',{'accountId':'@A@','ids':['#c'],"
		  "'properties':['name','parentId','isSubscribed']},'1']]");
	const char *pid = str_at(args_of(r, 0), "created/p/id");
	assert_non_null(pid);
	json_t *child = json_array_get(json_object_get(args_of(r, 1), "list"), 0);
	assert_string_equal(str_at(child, "name"), "Alpha");
	assert_string_equal(str_at(child, "parentId"), pid);
	assert_true(json_is_true(json_object_get(child, "isSubscribed")));
	char cid[24], ppid[24];
	snprintf(cid, sizeof(cid), "%s", str_at(child, "id"));
	snprintf(ppid, sizeof(ppid), "%s", pid);
	json_decref(r);
	struct store_mailbox sm;
	assert_int_equal(store_mailbox_get(t->f->store, t->f->acc, "Projects/Alpha", &sm), 1);

	char buf[4096];
	snprintf(buf, sizeof(buf),
		 "[['Mailbox/set',{'accountId':'@A@','update':{'%s':{'name':'Beta',"
		 "'parentId':null}},'destroy':['%s']},'0'],"
		 "['Mailbox/changes',{'accountId':'@A@','sinceState':'%s'},'1']]",
		 cid, ppid, st);
	r = calls(t, buf);
	assert_true(json_is_null(json_object_get(json_object_get(args_of(r, 0), "updated"), cid)));
	assert_string_equal(str_at(args_of(r, 0), "destroyed/0"), ppid);
	assert_int_equal(store_mailbox_get(t->f->store, t->f->acc, "Beta", &sm), 1);
	assert_int_equal(store_mailbox_get(t->f->store, t->f->acc, "Projects", &sm), 0);
	/* created then destroyed since st: in neither list; Beta is created */
	json_t *ch = args_of(r, 1);
	assert_int_equal(json_array_size(json_object_get(ch, "created")), 1);
	assert_string_equal(str_at(ch, "created/0"), cid);
	assert_int_equal(json_array_size(json_object_get(ch, "destroyed")), 0);
	json_decref(r);

	/* errors: INBOX, a mailbox with mail, bad names, unknown ids */
	char inbox_id[24];
	mbox_id(t, "INBOX", inbox_id, sizeof(inbox_id));
	deliver(t, "Beta", multipart_msg, 2000);
	snprintf(buf, sizeof(buf),
		 "[['Mailbox/set',{'accountId':'@A@','destroy':['%s','%s','m99999'],"
		 "'create':{'x':{'name':'a/b'},'y':{'name':''},'z':{'name':'Beta'}}},'0']]",
		 inbox_id, cid);
	r = calls(t, buf);
	json_t *nd = json_object_get(args_of(r, 0), "notDestroyed");
	assert_string_equal(str_at(json_object_get(nd, inbox_id), "type"), "forbidden");
	assert_string_equal(str_at(json_object_get(nd, cid), "type"), "mailboxHasEmail");
	assert_string_equal(str_at(json_object_get(nd, "m99999"), "type"), "notFound");
	json_t *nc = json_object_get(args_of(r, 0), "notCreated");
	assert_int_equal(json_object_size(nc), 3);
	assert_string_equal(str_at(json_object_get(nc, "x"), "type"), "invalidProperties");
	json_decref(r);
	snprintf(buf, sizeof(buf),
		 "[['Mailbox/set',{'accountId':'@A@','destroy':['%s'],"
		 "'onDestroyRemoveEmails':true},'0']]",
		 cid);
	r = calls(t, buf);
	assert_string_equal(str_at(args_of(r, 0), "destroyed/0"), cid);
	json_decref(r);
	free(st);
}

static void test_mailbox_query(void **state)
{
	struct t *t = *state;
	json_t *r =
		calls(t,
		      "[['Mailbox/query',{'accountId':'@A@','filter':{'role':'trash'}},'0'],"
		      "['Mailbox/query',{'accountId':'@A@','sort':[{'property':'sortOrder'}],"
		      "'calculateTotal':true},'1'],"
		      "['Mailbox/query',{'accountId':'@A@','filter':{'bogus':1}},'2'],"
		      "['Mailbox/query',{'accountId':'@A@','sort':[{'property':'size'}]},'3']]");
	char trash[24], inbox[24];
	mbox_id(t, "Trash", trash, sizeof(trash));
	mbox_id(t, "INBOX", inbox, sizeof(inbox));
	assert_string_equal(str_at(args_of(r, 0), "ids/0"), trash);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 0), "ids")), 1);
	assert_string_equal(str_at(args_of(r, 1), "ids/0"), inbox);
	assert_int_equal(int_at(args_of(r, 1), "total"), 6);
	assert_string_equal(str_at(args_of(r, 2), "type"), "unsupportedFilter");
	assert_string_equal(str_at(args_of(r, 3), "type"), "unsupportedSort");
	json_decref(r);
}

/* RFC 8620 5.6: what a client does with a queryChanges answer. */
static json_t *apply_query_changes(json_t *old_ids, json_t *qc)
{
	json_t *ids = json_array();
	size_t i, j;
	json_t *v, *w;
	json_array_foreach(old_ids, i, v)
	{
		bool gone = false;
		json_array_foreach(json_object_get(qc, "removed"), j, w) gone |= json_equal(v, w);
		if (!gone)
			json_array_append(ids, v);
	}
	json_array_foreach(json_object_get(qc, "added"), j, w)
	{
		json_array_insert(ids, (size_t)int_at(w, "index"), json_object_get(w, "id"));
	}
	return ids;
}

/* A Mailbox/query with filter and sort (JSON text); its args. */
static json_t *mbox_query(struct t *t, const char *filter_sort)
{
	char text[512];
	snprintf(text, sizeof(text), "[['Mailbox/query',{'accountId':'@A@',%s},'0']]", filter_sort);
	json_t *r = calls(t, text);
	json_t *a = json_incref(args_of(r, 0));
	json_decref(r);
	return a;
}

/*
 * Each step changes the mailboxes, then for each query: queryChanges from
 * the previous state applied to the previous ids must give the new ids.
 */
static void check_mbox_changes(struct t *t, json_t **prev, const char *const *queries, size_t nq)
{
	for (size_t i = 0; i < nq; i++) {
		char text[640];
		snprintf(text, sizeof(text),
			 "[['Mailbox/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'%s',"
			 "'calculateTotal':true},'0']]",
			 queries[i], json_string_value(json_object_get(prev[i], "queryState")));
		json_t *r = calls(t, text);
		json_t *qc = args_of(r, 0);
		assert_string_equal(name_of(r, 0), "Mailbox/queryChanges");
		json_t *now = mbox_query(t, queries[i]);
		assert_string_equal(str_at(qc, "newQueryState"), str_at(now, "queryState"));
		json_t *got = apply_query_changes(json_object_get(prev[i], "ids"), qc);
		if (!json_equal(got, json_object_get(now, "ids"))) {
			char *a = json_dumps(got, 0), *b = json_dumps(now, 0),
			     *c = json_dumps(qc, 0);
			fail_msg("query %s: got %s, want %s (changes %s)", queries[i], a, b, c);
		}
		assert_int_equal(int_at(qc, "total"), json_array_size(json_object_get(now, "ids")));
		json_decref(got);
		json_decref(r);
		json_decref(prev[i]);
		prev[i] = now;
	}
}

static void test_mailbox_query_changes(void **state)
{
	struct t *t = *state;
	const char *error = NULL;
	static const char *const queries[] = {
		"'filter':{'parentId':null},'sort':[{'property':'name'}]",
		"'sort':[{'property':'sortOrder'},{'property':'name','isAscending':false}]",
		"'filter':{'isSubscribed':true},'sort':[{'property':'name'}]",
		"'filter':{'name':'al'}",
	};
	enum { NQ = sizeof(queries) / sizeof(queries[0]) };
	json_t *prev[NQ];
	for (size_t i = 0; i < NQ; i++) {
		prev[i] = mbox_query(t, queries[i]);
		assert_true(json_is_true(json_object_get(prev[i], "canCalculateChanges")));
	}
	/* Nothing changed: nothing to apply. */
	check_mbox_changes(t, prev, queries, NQ);
	/* Created: a parent and its child, a top-level one. */
	assert_int_equal(store_mailbox_create(t->f->store, t->f->acc, "Projects", NULL, &error), 0);
	assert_int_equal(
		store_mailbox_create(t->f->store, t->f->acc, "Projects/Alpha", NULL, &error), 0);
	assert_int_equal(store_mailbox_create(t->f->store, t->f->acc, "Aardvark", NULL, &error), 0);
	check_mbox_changes(t, prev, queries, NQ);
	/* Subscribed, renamed (the child follows its parent), then messages (counts only). */
	assert_int_equal(
		store_mailbox_subscribe(t->f->store, t->f->acc, "Projects/Alpha", true, &error), 1);
	assert_int_equal(store_mailbox_rename(t->f->store, t->f->acc, "Projects", "Work", &error),
			 0);
	tu_deliver_subject(t->f, "Aardvark", "counts", 0);
	check_mbox_changes(t, prev, queries, NQ);
	/* The parent goes: its child, not in the log, becomes top-level "Work/Alpha". */
	assert_int_equal(store_mailbox_delete(t->f->store, t->f->acc, "Work", &error), 0);
	check_mbox_changes(t, prev, queries, NQ);
	assert_int_equal(store_mailbox_delete(t->f->store, t->f->acc, "Aardvark", &error), 0);
	check_mbox_changes(t, prev, queries, NQ);

	/* Limits and bad input. */
	const char *st = json_string_value(json_object_get(prev[0], "queryState"));
	assert_int_equal(store_mailbox_create(t->f->store, t->f->acc, "B1", NULL, &error), 0);
	assert_int_equal(store_mailbox_create(t->f->store, t->f->acc, "B2", NULL, &error), 0);
	char text[2048];
	snprintf(
		text, sizeof(text),
		"[['Mailbox/queryChanges',{'accountId':'@A@','sinceQueryState':'%s',"
		"'maxChanges':1},'0'],"
		"['Mailbox/queryChanges',{'accountId':'@A@'},'1'],"
		"['Mailbox/queryChanges',{'accountId':'@A@','sinceQueryState':'zz'},'2'],"
		"['Mailbox/queryChanges',{'accountId':'@A@','sinceQueryState':'%s',"
		"'maxChanges':0},'3'],"
		"['Mailbox/queryChanges',{'accountId':'@A@','sinceQueryState':'999999'},'4'],"
		"['Mailbox/queryChanges',{'accountId':'@A@','sinceQueryState':'%s',"
		"'sort':[{'property':'size'}]},'5'],"
		"['Mailbox/queryChanges',{'accountId':'@A@','sinceQueryState':'%s','bogus':1},'6'],"
		"['Mailbox/queryChanges',{'accountId':'a999','sinceQueryState':'%s'},'7']]",
		st, st, st, st, st);
	json_t *r = calls(t, text);
	assert_string_equal(str_at(args_of(r, 0), "type"), "tooManyChanges");
	assert_string_equal(str_at(args_of(r, 1), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 2), "type"), "cannotCalculateChanges");
	assert_string_equal(str_at(args_of(r, 3), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 4), "type"), "cannotCalculateChanges");
	assert_string_equal(str_at(args_of(r, 5), "type"), "unsupportedSort");
	assert_string_equal(str_at(args_of(r, 6), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 7), "type"), "accountNotFound");
	json_decref(r);
	for (size_t i = 0; i < NQ; i++)
		json_decref(prev[i]);
}

/* --- email get --------------------------------------------------------- */

static void test_email_get(void **state)
{
	struct t *t = *state;
	deliver(t, NULL, multipart_msg, 1000);
	json_t *r = calls(
		t,
		"[['Email/query',{'accountId':'@A@'},'0'],"
		"['Email/get',{'accountId':'@A@','#ids':{'resultOf':'0','name':'Email/query',"
		"'path':'/ids'},'properties':['subject','from','to','cc','sentAt','messageId',"
		"'preview','hasAttachment','bodyStructure','textBody','htmlBody','attachments',"
		"'bodyValues','keywords','mailboxIds','threadId','size','receivedAt','blobId',"
		"'header:X-Tag:all','header:Subject:asRaw','header:List-Unsubscribe:asURLs',"
		"'header:Cc:asGroupedAddresses','header:Date:asDate','header:X-Missing'],"
		"'fetchTextBodyValues':true,'fetchHTMLBodyValues':true},'1']]");
	json_t *e = json_array_get(json_object_get(args_of(r, 1), "list"), 0);
	assert_non_null(e);
	assert_string_equal(str_at(e, "subject"), "caf\xc3\xa9 report");
	assert_string_equal(str_at(e, "from/0/name"), "Alice");
	assert_string_equal(str_at(e, "from/0/email"), "alice@example.net");
	assert_string_equal(str_at(e, "to/1/name"), "Bob B");
	assert_string_equal(str_at(e, "cc/1/email"), "d@example.org");
	assert_string_equal(str_at(e, "sentAt"), "2026-12-01T10:00:00+01:00");
	assert_string_equal(str_at(e, "messageId/0"), "root@example.net");
	assert_string_equal(str_at(e, "receivedAt"), "1970-01-01T00:16:40Z");
	assert_true(json_is_true(json_object_get(e, "hasAttachment")));
	assert_has(str_at(e, "preview"), "Bonjour, le caf\xc3\xa9 est pr\xc3\xaat.");
	assert_string_equal(str_at(e, "bodyStructure/type"), "multipart/mixed");
	assert_string_equal(str_at(e, "bodyStructure/subParts/0/subParts/0/partId"), "1.1");
	assert_string_equal(str_at(e, "textBody/0/partId"), "1.1");
	assert_string_equal(str_at(e, "htmlBody/0/partId"), "1.2");
	assert_string_equal(str_at(e, "attachments/0/name"), "report.pdf");
	assert_string_equal(str_at(e, "attachments/0/type"), "application/pdf");
	assert_int_equal(int_at(json_array_get(json_object_get(e, "attachments"), 0), "size"), 19);
	assert_has(str_at(e, "bodyValues/1.1/value"), "le caf\xc3\xa9 est pr\xc3\xaat");
	assert_has(str_at(e, "bodyValues/1.2/value"), "<b>caf\xc3\xa9</b>");
	assert_string_equal(str_at(e, "header:X-Tag:all/1"), " two");
	assert_string_equal(str_at(e, "header:Subject:asRaw"), " =?utf-8?q?caf=C3=A9?= report");
	assert_string_equal(str_at(e, "header:List-Unsubscribe:asURLs/1"), "https://example.net/u");
	assert_string_equal(str_at(e, "header:Cc:asGroupedAddresses/0/name"), "team");
	assert_string_equal(str_at(e, "header:Date:asDate"), "2026-12-01T10:00:00+01:00");
	assert_true(json_is_null(json_object_get(e, "header:X-Missing")));
	assert_int_equal(json_object_size(json_object_get(e, "keywords")), 0);
	assert_int_equal(json_object_size(json_object_get(e, "mailboxIds")), 1);
	char eid[24], blob[200];
	snprintf(eid, sizeof(eid), "%s", str_at(e, "id"));
	snprintf(blob, sizeof(blob), "%s", str_at(e, "attachments/0/blobId"));
	json_decref(r);

	/* truncation, unknown ids and properties */
	char buf[512];
	snprintf(buf, sizeof(buf),
		 "[['Email/get',{'accountId':'@A@','ids':['%s','e999999','zz'],"
		 "'properties':['bodyValues'],'fetchTextBodyValues':true,"
		 "'maxBodyValueBytes':12},'0'],"
		 "['Email/get',{'accountId':'@A@','ids':['%s'],'properties':['nope']},'1'],"
		 "['Email/"
		 "get',{'accountId':'@A@','ids':['%s'],'properties':['header:X:asBogus']},'2']]",
		 eid, eid, eid);
	r = calls(t, buf);
	json_t *g = args_of(r, 0);
	assert_string_equal(str_at(g, "list/0/bodyValues/1.1/value"), "Bonjour, le ");
	assert_true(json_is_true(json_object_get(
		json_object_get(json_object_get(json_array_get(json_object_get(g, "list"), 0),
						"bodyValues"),
				"1.1"),
		"isTruncated")));
	assert_int_equal(json_array_size(json_object_get(g, "notFound")), 2);
	assert_string_equal(str_at(args_of(r, 1), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 2), "type"), "invalidArguments");
	json_decref(r);

	/* download the attachment part: decoded */
	struct jmap_blob b;
	char acc[24];
	snprintf(acc, sizeof(acc), "a%lld", (long long)t->f->acc);
	assert_int_equal(jmap_download_open(&t->r, acc, blob, NULL, &b), 200);
	assert_string_equal(b.type, "application/pdf");
	assert_int_equal(b.len, 19);
	char data[32] = {0};
	assert_int_equal(pread(b.fd, data, 19, (off_t)b.offset), 19);
	assert_memory_equal(data, "%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f\n", 19);
	close(b.fd);
	assert_int_equal(jmap_download_open(&t->r, acc, "Bnothex", NULL, &b), 400);
	assert_int_equal(jmap_download_open(&t->r, "a999", blob, NULL, &b), 404);
	char other[200];
	snprintf(other, sizeof(other), "B%064d", 0);
	assert_int_equal(jmap_download_open(&t->r, acc, other, NULL, &b), 404);
}

/* --- query ------------------------------------------------------------- */

static void test_email_query(void **state)
{
	struct t *t = *state;
	deliver(t, NULL, multipart_msg, 1000);
	tu_deliver_subject(t->f, NULL, "second", STORE_FLAG_SEEN);
	tu_deliver_subject(t->f, "Archive", "third", STORE_FLAG_FLAGGED);
	char inbox[24], archive[24], buf[4096];
	mbox_id(t, "INBOX", inbox, sizeof(inbox));
	mbox_id(t, "Archive", archive, sizeof(archive));
	snprintf(buf, sizeof(buf),
		 "[['Email/query',{'accountId':'@A@','filter':{'inMailbox':'%s'},"
		 "'sort':[{'property':'subject','isAscending':true}],'calculateTotal':true},'0'],"
		 "['Email/query',{'accountId':'@A@','filter':{'operator':'OR','conditions':["
		 "{'hasKeyword':'$seen'},{'hasKeyword':'$flagged'}]}},'1'],"
		 "['Email/query',{'accountId':'@A@','filter':{'text':'quarterly'}},'2'],"
		 "['Email/query',{'accountId':'@A@','filter':{'operator':'NOT','conditions':["
		 "{'inMailbox':'%s'}]},'calculateTotal':true},'3'],"
		 "['Email/query',{'accountId':'@A@','filter':{'hasAttachment':true,"
		 "'from':'alice'}},'4'],"
		 "['Email/query',{'accountId':'@A@','filter':{'header':['X-Tag','two']}},'5'],"
		 "['Email/query',{'accountId':'@A@','position':1,'limit':1,"
		 "'sort':[{'property':'receivedAt','isAscending':false}],'calculateTotal':true},'6'"
		 "],"
		 "['Email/query',{'accountId':'@A@','filter':{'nope':1}},'7'],"
		 "['Email/query',{'accountId':'@A@','sort':[{'property':'color'}]},'8'],"
		 "['Email/query',{'accountId':'@A@','anchor':'e999999'},'9'],"
		 "['Email/query',{'accountId':'@A@','filter':{'notKeyword':'$seen',"
		 "'inMailboxOtherThan':['%s'],'minSize':1}},'10']]",
		 inbox, archive, archive);
	json_t *r = calls(t, buf);
	assert_int_equal(int_at(args_of(r, 0), "total"), 2);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 1), "ids")), 2);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 2), "ids")), 1);
	assert_int_equal(int_at(args_of(r, 3), "total"), 2);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 4), "ids")), 1);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 5), "ids")), 1);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 6), "ids")), 1);
	assert_int_equal(int_at(args_of(r, 6), "position"), 1);
	assert_int_equal(int_at(args_of(r, 6), "total"), 3);
	assert_string_equal(str_at(args_of(r, 7), "type"), "unsupportedFilter");
	assert_string_equal(str_at(args_of(r, 8), "type"), "unsupportedSort");
	assert_string_equal(str_at(args_of(r, 9), "type"), "anchorNotFound");
	assert_int_equal(json_array_size(json_object_get(args_of(r, 10), "ids")), 1);
	json_decref(r);

	r = calls(t,
		  "[['Email/query',{'accountId':'@A@','filter':{'body':'quarterly'}},'0'],"
		  "['SearchSnippet/get',{'accountId':'@A@','filter':{'body':'quarterly'},"
		  "'#emailIds':{'resultOf':'0','name':'Email/query','path':'/ids'}},'1'],"
		  "['Email/queryChanges',{'accountId':'@A@','sinceQueryState':'0'},'2']]");
	assert_has(str_at(args_of(r, 1), "list/0/preview"), "<mark>Quarterly</mark>");
	assert_non_null(str_at(args_of(r, 2), "newQueryState")); /* computed from state 0 */
	json_decref(r);
}

static void test_email_query_changes(void **state)
{
	struct t *t = *state;
	char inbox[24], buf[4096], qs[32];
	mbox_id(t, "INBOX", inbox, sizeof(inbox));
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n",
			 i, i);
		deliver(t, NULL, buf, 1000 + i * 100);
	}
	deliver(t, "Archive", "From: a@example.org\r\nSubject: elsewhere\r\n\r\nx\r\n", 1050);
	static const char query[] = "'filter':{'inMailbox':'%s'},'sort':[{'property':'receivedAt',"
				    "'isAscending':false}]";
	char q[256];
	snprintf(q, sizeof(q), query, inbox);
	snprintf(buf, sizeof(buf), "[['Email/query',{'accountId':'@A@',%s},'0']]", q);
	json_t *r = calls(t, buf);
	assert_true(json_is_true(json_object_get(args_of(r, 0), "canCalculateChanges")));
	snprintf(qs, sizeof(qs), "%s", str_at(args_of(r, 0), "queryState"));
	json_t *old_ids = json_incref(json_object_get(args_of(r, 0), "ids"));
	assert_int_equal(json_array_size(old_ids), 5);
	json_decref(r);

	/* Nothing changed: nothing to do. */
	snprintf(buf, sizeof(buf),
		 "[['Email/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'%s',"
		 "'calculateTotal':true},'0']]",
		 q, qs);
	r = calls(t, buf);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 0), "removed")), 0);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 0), "added")), 0);
	assert_int_equal(int_at(args_of(r, 0), "total"), 5);
	json_decref(r);

	/* A delivery (newest: index 0), a flag, a destroy, a move out and one in. */
	deliver(t, NULL, "From: b@example.org\r\nSubject: new\r\n\r\nnew\r\n", 5000);
	const char *e1 = json_string_value(json_array_get(old_ids, 1));
	const char *e2 = json_string_value(json_array_get(old_ids, 2));
	const char *e3 = json_string_value(json_array_get(old_ids, 3));
	char archive[24];
	mbox_id(t, "Archive", archive, sizeof(archive));
	snprintf(buf, sizeof(buf),
		 "[['Email/set',{'accountId':'@A@','update':{'%s':{'keywords/$flagged':true},"
		 "'%s':{'mailboxIds':{'%s':true}}},'destroy':['%s']},'0']]",
		 e1, e3, archive, e2);
	r = calls(t, buf);
	assert_int_equal(json_object_size(json_object_get(args_of(r, 0), "updated")), 2);
	json_decref(r);
	snprintf(buf, sizeof(buf),
		 "[['Email/query',{'accountId':'@A@','filter':{'inMailbox':'%s'}},'0']]", archive);
	r = calls(t, buf);
	const char *moved_in = NULL;
	json_t *arch_ids = json_object_get(args_of(r, 0), "ids");
	size_t i;
	json_t *v;
	json_array_foreach(arch_ids, i, v) if (strcmp(json_string_value(v), e3) != 0) moved_in =
		json_string_value(v);
	assert_non_null(moved_in);
	snprintf(buf, sizeof(buf),
		 "[['Email/"
		 "set',{'accountId':'@A@','update':{'%s':{'mailboxIds':{'%s':true}}}},'0']]",
		 moved_in, inbox);
	json_t *r2 = calls(t, buf);
	json_decref(r2);
	json_decref(r);

	snprintf(buf, sizeof(buf),
		 "[['Email/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'%s',"
		 "'calculateTotal':true},'0'],['Email/query',{'accountId':'@A@',%s},'1'],"
		 "['Email/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'%s',"
		 "'maxChanges':1},'2'],"
		 "['Email/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'%s',"
		 "'collapseThreads':true},'3'],"
		 "['Email/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'zz'},'4'],"
		 "['Email/queryChanges',{'accountId':'@A@',%s,'sinceQueryState':'99999999'},'5'],"
		 "['Email/query',{'accountId':'@A@',%s,'collapseThreads':true},'6']]",
		 q, qs, q, q, qs, q, qs, q, q, q);
	r = calls(t, buf);
	json_t *qc = args_of(r, 0);
	json_t *now_ids = json_object_get(args_of(r, 1), "ids");
	assert_int_equal(json_array_size(now_ids),
			 5); /* 5 - destroyed - moved out + new + moved in */
	json_t *got = apply_query_changes(old_ids, qc);
	assert_true(json_equal(got, now_ids));
	json_decref(got);
	assert_string_equal(str_at(qc, "oldQueryState"), qs);
	assert_string_equal(str_at(qc, "newQueryState"), str_at(args_of(r, 1), "queryState"));
	assert_int_equal(int_at(qc, "total"), 5);
	/* the untouched ones are not named; the changed ones are */
	json_t *rm = json_object_get(qc, "removed");
	bool has_e0 = false, has_e2 = false;
	json_array_foreach(rm, i, v)
	{
		has_e0 |= strcmp(json_string_value(v),
				 json_string_value(json_array_get(old_ids, 0))) == 0;
		has_e2 |= strcmp(json_string_value(v), e2) == 0;
	}
	assert_false(has_e0);
	assert_true(has_e2);
	assert_string_equal(str_at(json_object_get(qc, "added"), "0/id"), str_at(now_ids, "0"));
	assert_string_equal(str_at(args_of(r, 2), "type"), "tooManyChanges");
	assert_string_equal(str_at(args_of(r, 3), "type"), "cannotCalculateChanges");
	assert_string_equal(str_at(args_of(r, 4), "type"), "cannotCalculateChanges");
	assert_string_equal(str_at(args_of(r, 5), "type"), "cannotCalculateChanges");
	assert_false(json_is_true(json_object_get(args_of(r, 6), "canCalculateChanges")));
	json_decref(r);
	json_decref(old_ids);
}

/* --- threads ----------------------------------------------------------- */

static void test_threads(void **state)
{
	struct t *t = *state;
	deliver(t, NULL, multipart_msg, 1000);
	deliver(t, NULL,
		"From: a@example.org\r\nTo: alice@example.net\r\nSubject: Re: caf\xc3\xa9 "
		"report\r\n"
		"Message-ID: <reply@example.org>\r\nIn-Reply-To: <root@example.net>\r\n"
		"References: <root@example.net>\r\n\r\nThanks\r\n",
		2000);
	deliver(t, NULL,
		"From: z@example.net\r\nSubject: unrelated\r\nMessage-ID: <other@example.net>\r\n"
		"References: <root@example.net>\r\n\r\nhi\r\n",
		3000);
	json_t *r = calls(t,
			  "[['Email/query',{'accountId':'@A@','sort':[{'property':"
			  "'receivedAt'}]},'0'],"
			  "['Email/get',{'accountId':'@A@','#ids':{'resultOf':'0','name':"
			  "'Email/query','path':'/ids'},'properties':['threadId']},'1'],"
			  "['Thread/get',{'accountId':'@A@','#ids':{'resultOf':'1','name':"
			  "'Email/get','path':'/list/*/threadId'}},'2'],"
			  "['Email/query',{'accountId':'@A@','collapseThreads':true},'3']]");
	json_t *list = json_object_get(args_of(r, 1), "list");
	assert_string_equal(str_at(list, "0/threadId"), str_at(list, "1/threadId"));
	assert_string_not_equal(str_at(list, "0/threadId"), str_at(list, "2/threadId"));
	json_t *th = json_array_get(json_object_get(args_of(r, 2), "list"), 0);
	assert_int_equal(json_array_size(json_object_get(th, "emailIds")), 2);
	assert_string_equal(str_at(th, "emailIds/0"), str_at(list, "0/id"));
	assert_int_equal(json_array_size(json_object_get(args_of(r, 3), "ids")), 2);
	json_decref(r);
}

/* collapseThreads over more threads than the first hash table holds: one
 * row per thread, the newest, and thread ids all different. */
static void test_threads_collapse_many(void **state)
{
	struct t *t = *state;
	char msg[256];
	for (int i = 0; i < 60; i++) {
		if (i % 2 == 0)
			snprintf(msg, sizeof(msg),
				 "Subject: s%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nx\r\n", i,
				 i);
		else
			snprintf(msg, sizeof(msg),
				 "Subject: Re: s%d\r\nMessage-ID: <m%d@example.org>\r\n"
				 "In-Reply-To: <m%d@example.org>\r\n\r\nnewest\r\n",
				 i - 1, i, i - 1);
		deliver(t, NULL, msg, 1000 + i);
	}
	json_t *r =
		calls(t,
		      "[['Email/query',{'accountId':'@A@','collapseThreads':true,"
		      "'calculateTotal':true,'sort':[{'property':'receivedAt','isAscending':false}]"
		      "},'0'],"
		      "['Email/get',{'accountId':'@A@','#ids':{'resultOf':'0','name':"
		      "'Email/query','path':'/ids'},'properties':['threadId','subject']},'1']]");
	assert_int_equal(json_integer_value(json_object_get(args_of(r, 0), "total")), 30);
	json_t *list = json_object_get(args_of(r, 1), "list");
	assert_int_equal(json_array_size(list), 30);
	for (size_t i = 0; i < 30; i++) {
		json_t *e = json_array_get(list, i);
		assert_true(strncmp(json_string_value(json_object_get(e, "subject")), "Re: ", 4) ==
			    0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(json_string_value(json_object_get(e, "threadId")),
						json_string_value(json_object_get(
							json_array_get(list, j), "threadId")));
	}
	json_decref(r);
}

/*
 * Email/query's fast path (one mailbox, receivedAt, collapseThreads,
 * position/limit: read from an index) against the general path on random
 * mailboxes: internal dates with many ties, threads spread over two
 * mailboxes. The general path is reached by the same filter written as an
 * AND of one condition, which the fast path leaves alone.
 */
static void test_email_query_fast_path(void **state)
{
	struct t *t = *state;
	unsigned seed = 7;
	char msg[512], inbox[24], archive[24], buf[2048];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 40; i++) {
			int k = round * 40 + i;
			seed = seed * 1103515245u + 12345u;
			unsigned r = seed >> 8;
			if (k > 0 && r % 3 == 0) {
				int parent = (int)(r / 3 % (unsigned)k);
				snprintf(msg, sizeof(msg),
					 "Subject: Re: s%d\r\nMessage-ID: <m%d@example.org>\r\n"
					 "In-Reply-To: <m%d@example.org>\r\n\r\nx\r\n",
					 parent, k, parent);
			} else
				snprintf(msg, sizeof(msg),
					 "Subject: s%d\r\nMessage-ID: "
					 "<m%d@example.org>\r\n\r\nx\r\n",
					 k, k);
			deliver(t, r % 4 == 0 ? "Archive" : NULL, msg, 1000 + (time_t)(r / 7 % 25));
		}
		mbox_id(t, "INBOX", inbox, sizeof(inbox));
		mbox_id(t, "Archive", archive, sizeof(archive));
		static const char *const pages[] = {"'position':0,'limit':10",
						    "'position':3,'limit':7",
						    "'position':-5",
						    "'position':-500,'limit':4",
						    "'position':1000,'limit':5",
						    "'limit':0",
						    "'position':4,'limit':0",
						    "'position':2",
						    "'position':37,'limit':50"};
		const char *boxes[] = {inbox, archive, "mnothere", "xbad"};
		for (size_t b = 0; b < 4; b++)
			for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++)
				for (int v = 0; v < 8; v++) {
					const char *common_fmt =
						"'sort':[{'property':'receivedAt'%s}],"
						"'collapseThreads':%s,%s%s";
					char common[256];
					snprintf(common, sizeof(common), common_fmt,
						 v % 3 == 0           ? ",'isAscending':false"
							 : v % 3 == 1 ? ",'isAscending':true"
								      : "",
						 v & 4 ? "true" : "false", pages[p],
						 v & 1 ? ",'calculateTotal':true" : "");
					snprintf(buf, sizeof(buf),
						 "[['Email/query',{'accountId':'@A@','filter':"
						 "{'inMailbox':'%s'},%s},'f'],"
						 "['Email/query',{'accountId':'@A@','filter':"
						 "{'operator':'AND','conditions':[{'inMailbox':'%s'"
						 "}]},"
						 "%s},'s']]",
						 boxes[b], common, boxes[b], common);
					json_t *res = calls(t, buf);
					json_t *fast = args_of(res, 0), *slow = args_of(res, 1);
					if (!json_equal(fast, slow)) {
						char *a = json_dumps(fast, JSON_COMPACT);
						char *z = json_dumps(slow, JSON_COMPACT);
						fail_msg("%s\nfast %s\nslow %s", buf, a, z);
					}
					json_decref(res);
				}
	}
	/* The fast path answered something: the inbox is not empty. */
	snprintf(buf, sizeof(buf),
		 "[['Email/query',{'accountId':'@A@','filter':{'inMailbox':'%s'},"
		 "'sort':[{'property':'receivedAt','isAscending':false}],'limit':5,"
		 "'calculateTotal':true},'0']]",
		 inbox);
	json_t *res = calls(t, buf);
	assert_int_equal(json_array_size(json_object_get(args_of(res, 0), "ids")), 5);
	assert_true(int_at(args_of(res, 0), "total") > 60);
	json_decref(res);
}

/* Deliver without the searchable text: the message waits for the backfill. */
static void deliver_unindexed(struct t *t, const char *msg, time_t when)
{
	struct mime_parsed mp;
	assert_int_equal(mime_parse(msg, strlen(msg), &mp), 0);
	struct store_parsed sp = mime_store_parsed(&mp);
	sp.text_hdr = sp.text_body = sp.text_parts = NULL;
	uint32_t uid = 0;
	const char *error = NULL;
	assert_int_equal(store_deliver(t->f->store, msg, strlen(msg), &sp, &t->f->acc, 1, NULL,
				       when, 0, &uid, &error),
			 0);
	mime_parsed_free(&mp);
}

/* The number of ids an Email/query with this filter (JSON, ' for ") answers. */
static size_t query_count(struct t *t, const char *filter)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "[['Email/query',{'accountId':'@A@','filter':%s},'0']]", filter);
	json_t *r = calls(t, buf);
	json_t *ids = json_object_get(args_of(r, 0), "ids");
	assert_non_null(ids);
	size_t n = json_array_size(ids);
	json_decref(r);
	return n;
}

/*
 * Text conditions through the full-text index: the same answers for
 * indexed messages and for messages the backfill has not reached (checked
 * on their own text), for long needles (index) and short ones; text looks
 * at From/To/Cc/Bcc/Subject and the body, not at other header fields.
 */
static void test_email_query_text_index(void **state)
{
	struct t *t = *state;
	static const char *const msgs[] = {
		"From: Zoe Quartz <zq@example.net>\r\nTo: a@example.org\r\n"
		"Subject: Budget Plans\r\nX-Mailer: Wombat 3\r\n\r\nThe numbers are in.\r\n",
		"From: b@example.net\r\nTo: a@example.org\r\nCc: Carol <carol@example.com>\r\n"
		"Bcc: hidden@example.com\r\nSubject: lunch\r\n\r\nWombats and budget talk.\r\n",
		"From: c@example.net\r\nTo: a@example.org\r\nSubject: =?utf-8?q?Caf=C3=A9?= "
		"time\r\n"
		"Content-Type: text/html\r\n\r\n<p>See the <b>QUARTERLY</b> report</p>\r\n",
	};
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < 3; i++) {
			if (pass == 0)
				deliver(t, NULL, msgs[i], 1000 + (time_t)i);
			else
				deliver_unindexed(t, msgs[i], 2000 + (time_t)i);
		}
		size_t k = (size_t)pass + 1; /* each message is there k times */
		assert_int_equal(query_count(t, "{'text':'budget'}"), 2 * k);
		assert_int_equal(query_count(t, "{'subject':'budget'}"), k);
		assert_int_equal(query_count(t, "{'body':'budget'}"), k);
		assert_int_equal(query_count(t, "{'text':'wombat'}"), k); /* not X-Mailer */
		assert_int_equal(query_count(t, "{'from':'quartz'}"), k);
		assert_int_equal(query_count(t, "{'from':'zq@'}"), k);
		assert_int_equal(query_count(t, "{'cc':'CAROL'}"), k);
		assert_int_equal(query_count(t, "{'bcc':'hidden'}"), k);
		assert_int_equal(query_count(t, "{'text':'hidden@'}"), k);
		assert_int_equal(query_count(t, "{'subject':'café'}"), k);
		assert_int_equal(query_count(t, "{'subject':'CAFÉ TIME'}"), k);
		assert_int_equal(query_count(t, "{'body':'quarterly'}"), k);
		assert_int_equal(query_count(t, "{'text':'nowhere at all'}"), 0);
		assert_int_equal(query_count(t, "{'subject':'lu'}"), k); /* short needles */
		assert_int_equal(query_count(t, "{'body':'in'}"), k);
		assert_int_equal(query_count(t,
					     "{'operator':'AND','conditions':[{'text':'budget'},"
					     "{'from':'b@'}]}"),
				 k);
		assert_int_equal(query_count(t,
					     "{'operator':'OR','conditions':[{'text':'budget'},"
					     "{'subject':'time'}]}"),
				 3 * k);
		assert_int_equal(
			query_count(t, "{'operator':'NOT','conditions':[{'text':'budget'}]}"), k);
	}
	json_t *r = calls(t,
			  "[['Email/query',{'accountId':'@A@','filter':{'text':'quarterly'}},'0'],"
			  "['SearchSnippet/get',{'accountId':'@A@','filter':{'text':'quarterly'},"
			  "'#emailIds':{'resultOf':'0','name':'Email/query','path':'/ids'}},'1']]");
	assert_has(str_at(args_of(r, 1), "list/0/preview"), "<mark>QUARTERLY</mark>");
	assert_has(str_at(args_of(r, 1), "list/1/preview"), "<mark>QUARTERLY</mark>");
	json_decref(r);
}

/* --- email set ---------------------------------------------------------- */

static void test_email_set(void **state)
{
	struct t *t = *state;
	uint32_t uid = deliver(t, NULL, multipart_msg, 1000);
	char inbox[24], trash[24], drafts[24], buf[2048];
	mbox_id(t, "INBOX", inbox, sizeof(inbox));
	mbox_id(t, "Trash", trash, sizeof(trash));
	mbox_id(t, "Drafts", drafts, sizeof(drafts));
	int64_t id;
	struct store_mailbox mb;
	store_mailbox_get(t->f->store, t->f->acc, "INBOX", &mb);
	assert_int_equal(store_jmap_email_id(t->f->store, mb.id, uid, &id), 1);
	char eid[24];
	snprintf(eid, sizeof(eid), "e%lld", (long long)id);
	json_t *r =
		calls(t, "[['Email/get',{'accountId':'@A@','ids':[],'properties':['id']},'0']]");
	char *st = strdup(str_at(args_of(r, 0), "state"));
	json_decref(r);

	snprintf(buf, sizeof(buf),
		 "[['Email/set',{'accountId':'@A@','ifInState':'%s','update':{'%s':{"
		 "'keywords/$seen':true,'keywords/$Forwarded':true,'mailboxIds':{'%s':true}},"
		 "'e999999':{'keywords':{}}}},'0'],"
		 "['Email/get',{'accountId':'@A@','ids':['%s'],'properties':['keywords',"
		 "'mailboxIds']},'1'],"
		 "['Email/changes',{'accountId':'@A@','sinceState':'%s'},'2'],"
		 "['Email/set',{'accountId':'@A@','update':{'%s':{'subject':'x'}}},'3'],"
		 "['Email/set',{'accountId':'@A@','update':{'%s':{'mailboxIds':{'%s':true,"
		 "'%s':true}}}},'4']]",
		 st, eid, trash, eid, st, eid, eid, inbox, trash);
	r = calls(t, buf);
	assert_true(json_is_null(json_object_get(json_object_get(args_of(r, 0), "updated"), eid)));
	assert_string_equal(str_at(args_of(r, 0), "notUpdated/e999999/type"), "notFound");
	json_t *e = json_array_get(json_object_get(args_of(r, 1), "list"), 0);
	assert_true(json_is_true(json_object_get(json_object_get(e, "keywords"), "$seen")));
	assert_true(json_is_true(json_object_get(json_object_get(e, "keywords"), "$forwarded")));
	assert_true(json_is_true(json_object_get(json_object_get(e, "mailboxIds"), trash)));
	assert_string_equal(str_at(args_of(r, 2), "updated/0"), eid);
	assert_string_equal(
		str_at(json_object_get(json_object_get(args_of(r, 3), "notUpdated"), eid), "type"),
		"invalidProperties");
	assert_string_equal(
		str_at(json_object_get(json_object_get(args_of(r, 4), "notUpdated"), eid), "type"),
		"tooManyMailboxes");
	json_decref(r);
	/* the IMAP side sees it in Trash with \Seen */
	struct store_message *msgs;
	size_t n;
	store_mailbox_get(t->f->store, t->f->acc, "Trash", &mb);
	assert_int_equal(store_message_list(t->f->store, mb.id, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_true(msgs[0].flags & STORE_FLAG_SEEN);
	assert_int_equal(msgs[0].id, id);
	free(msgs);

	/* upload an attachment, create a draft with it, read it back */
	char acc[24];
	snprintf(acc, sizeof(acc), "a%lld", (long long)t->f->acc);
	struct buf out;
	buf_init(&out);
	assert_int_equal(jmap_upload(&t->r, acc, "text/csv", "a,b\n1,2\n", 8, &out), 201);
	json_t *up = json_loads(buf_cstr(&out), 0, NULL);
	char blob[100];
	snprintf(blob, sizeof(blob), "%s", str_at(up, "blobId"));
	assert_int_equal(int_at(up, "size"), 8);
	json_decref(up);
	buf_clear(&out);
	assert_int_equal(jmap_upload(&t->r, "a999", "text/plain", "x", 1, &out), 404);
	buf_deinit(&out);
	snprintf(buf, sizeof(buf),
		 "[['Email/set',{'accountId':'@A@','create':{'d1':{'mailboxIds':{'%s':true},"
		 "'keywords':{'$draft':true,'$seen':true},'from':[{'name':'A','email':"
		 "'a@example.org'}],'to':[{'name':null,'email':'b@example.org'}],"
		 "'subject':'Draft "
		 "\xc3\xa9t\xc3\xa9','textBody':[{'partId':'t','type':'text/plain'}],"
		 "'htmlBody':[{'partId':'h','type':'text/html'}],"
		 "'bodyValues':{'t':{'value':'Hello there'},'h':{'value':'<p>Hello there</p>'}},"
		 "'attachments':[{'blobId':'%s','type':'text/csv','name':'data.csv'}],"
		 "'header:X-Client':'unit'},"
		 "'d2':{'mailboxIds':{'%s':true},'attachments':[{'blobId':'Bnope'}]},"
		 "'d3':{'subject':'no mailbox'}}},'0'],"
		 "['Email/get',{'accountId':'@A@','ids':['#d1'],'properties':['subject',"
		 "'keywords','attachments','textBody','htmlBody','header:X-Client:asText',"
		 "'bodyValues'],'fetchAllBodyValues':true},'1']]",
		 drafts, blob, drafts);
	r = calls(t, buf);
	assert_non_null(str_at(args_of(r, 0), "created/d1/id"));
	assert_non_null(str_at(args_of(r, 0), "created/d1/threadId"));
	assert_string_equal(str_at(args_of(r, 0), "notCreated/d2/type"), "blobNotFound");
	assert_string_equal(str_at(args_of(r, 0), "notCreated/d3/type"), "invalidProperties");
	e = json_array_get(json_object_get(args_of(r, 1), "list"), 0);
	assert_string_equal(str_at(e, "subject"), "Draft \xc3\xa9t\xc3\xa9");
	assert_true(json_is_true(json_object_get(json_object_get(e, "keywords"), "$draft")));
	assert_string_equal(str_at(e, "attachments/0/name"), "data.csv");
	assert_int_equal(int_at(json_array_get(json_object_get(e, "attachments"), 0), "size"), 8);
	assert_string_equal(str_at(e, "header:X-Client:asText"), "unit");
	assert_string_equal(str_at(e, "textBody/0/type"), "text/plain");
	assert_string_equal(str_at(e, "htmlBody/0/type"), "text/html");
	const char *tp = str_at(e, "textBody/0/partId");
	assert_string_equal(str_at(json_object_get(json_object_get(e, "bodyValues"), tp), "value"),
			    "Hello there");
	char d1[24];
	snprintf(d1, sizeof(d1), "%s", str_at(args_of(r, 0), "created/d1/id"));
	json_decref(r);

	/* import the uploaded blob as a message; destroy */
	snprintf(buf, sizeof(buf),
		 "[['Email/destroy-not-a-method',{},'x'],"
		 "['Email/set',{'accountId':'@A@','destroy':['%s','e999999']},'0'],"
		 "['Email/import',{'accountId':'@A@','emails':{'i':{'blobId':'%s',"
		 "'mailboxIds':{'%s':true},'keywords':{'$seen':true}},"
		 "'j':{'blobId':'Bnope','mailboxIds':{'%s':true}}}},'1'],"
		 "['Email/copy',{'accountId':'@A@','fromAccountId':'@A@','create':{}},'2'],"
		 "['Email/parse',{'accountId':'@A@','blobIds':['%s','Bnope']},'3']]",
		 d1, blob, inbox, inbox, blob);
	r = calls(t, buf);
	assert_string_equal(str_at(args_of(r, 1), "destroyed/0"), d1);
	assert_string_equal(str_at(args_of(r, 1), "notDestroyed/e999999/type"), "notFound");
	assert_non_null(str_at(args_of(r, 2), "created/i/id"));
	assert_string_equal(str_at(args_of(r, 2), "notCreated/j/type"), "blobNotFound");
	assert_string_equal(name_of(r, 3), "error");
	assert_int_equal(json_array_size(json_object_get(args_of(r, 4), "notFound")), 1);
	json_decref(r);

	/* uploads expire after the ttl; a blob a message uses stays */
	buf_init(&out);
	assert_int_equal(jmap_upload(&t->r, acc, "text/plain", "orphan upload", 13, &out), 201);
	up = json_loads(buf_cstr(&out), 0, NULL);
	char orphan[100];
	snprintf(orphan, sizeof(orphan), "%s", str_at(up, "blobId"));
	json_decref(up);
	buf_deinit(&out);
	unsigned n_gone;
	const char *xerr;
	int64_t now = (int64_t)time(NULL);
	char type[64];
	assert_int_equal(jmap_uploads_sweep(t->f->store, now + 3600 - 5, 3600, &n_gone, &xerr), 0);
	assert_int_equal(n_gone, 0); /* not an hour old yet */
	assert_int_equal(store_jmap_blob_access(t->f->store, t->f->acc, orphan + 1, type,
						sizeof(type), NULL),
			 2);
	assert_int_equal(jmap_uploads_sweep(t->f->store, now + 3600 + 5, 3600, &n_gone, &xerr), 0);
	assert_int_equal(n_gone, 2); /* the attachment's upload and the orphan */
	assert_int_equal(store_jmap_blob_access(t->f->store, t->f->acc, orphan + 1, type,
						sizeof(type), NULL),
			 0);
	assert_true(store_blob_open(t->f->store, orphan + 1) < 0); /* the file is gone */
	assert_int_equal(
		store_jmap_blob_access(t->f->store, t->f->acc, blob + 1, type, sizeof(type), NULL),
		1); /* the imported message keeps its blob */
	int kept = store_blob_open(t->f->store, blob + 1);
	assert_true(kept >= 0);
	close(kept);
	assert_int_equal(jmap_uploads_sweep(t->f->store, now + 7200, 3600, &n_gone, &xerr), 0);
	assert_int_equal(n_gone, 0);
	free(st);
}

/* --- states while IMAP changes the same mailboxes ---------------------- */

static void test_states_follow_imap(void **state)
{
	struct t *t = *state;
	uint32_t uid = deliver(t, NULL, multipart_msg, 1000);
	uint32_t uid2 = tu_deliver_subject(t->f, NULL, "two", 0);
	json_t *r = calls(t,
			  "[['Email/get',{'accountId':'@A@','ids':[]},'0'],"
			  "['Mailbox/get',{'accountId':'@A@','ids':[]},'1'],"
			  "['Thread/get',{'accountId':'@A@','ids':[]},'2']]");
	char *es = strdup(str_at(args_of(r, 0), "state"));
	char *ms = strdup(str_at(args_of(r, 1), "state"));
	char *ts = strdup(str_at(args_of(r, 2), "state"));
	json_decref(r);
	struct store_mailbox inbox, archive;
	store_mailbox_get(t->f->store, t->f->acc, "INBOX", &inbox);
	store_mailbox_get(t->f->store, t->f->acc, "Archive", &archive);
	int64_t id1, id2;
	assert_int_equal(store_jmap_email_id(t->f->store, inbox.id, uid, &id1), 1);
	assert_int_equal(store_jmap_email_id(t->f->store, inbox.id, uid2, &id2), 1);

	/* IMAP: STORE +FLAGS \Seen on the first, MOVE of the second, a new delivery */
	const char *error;
	struct store_flags_update u = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN};
	struct store_flags_outcome o = {0};
	assert_int_equal(store_message_update_flags(t->f->store, inbox.id, &uid, 1, &u, &o, &error),
			 0);
	store_flags_outcome_free(&o);
	assert_int_equal(
		store_message_move(t->f->store, inbox.id, &uid2, 1, archive.id, NULL, &error), 0);
	uint32_t uid3 = tu_deliver_subject(t->f, NULL, "three", 0);

	char buf[4096];
	snprintf(buf, sizeof(buf),
		 "[['Email/changes',{'accountId':'@A@','sinceState':'%s'},'0'],"
		 "['Mailbox/changes',{'accountId':'@A@','sinceState':'%s'},'1'],"
		 "['Thread/changes',{'accountId':'@A@','sinceState':'%s'},'2'],"
		 "['Email/changes',{'accountId':'@A@','sinceState':'%s','maxChanges':1},'3']]",
		 es, ms, ts, es);
	r = calls(t, buf);
	json_t *ec = args_of(r, 0);
	char e1[24], e2[24];
	snprintf(e1, sizeof(e1), "e%lld", (long long)id1);
	snprintf(e2, sizeof(e2), "e%lld", (long long)id2);
	assert_string_equal(str_at(ec, "updated/0"), e1);
	assert_string_equal(str_at(ec, "destroyed/0"), e2);
	assert_int_equal(json_array_size(json_object_get(ec, "created")), 2); /* moved + new */
	assert_true(json_is_false(json_object_get(ec, "hasMoreChanges")));
	json_t *mc = args_of(r, 1);
	assert_int_equal(json_array_size(json_object_get(mc, "updated")), 2);
	assert_string_equal(str_at(mc, "updatedProperties/0"), "totalEmails");
	/* the moved message keeps its thread (found by its Message-ID); "three" starts one */
	assert_int_equal(json_array_size(json_object_get(args_of(r, 2), "created")), 1);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 2), "updated")), 1);
	json_t *paged = args_of(r, 3);
	assert_true(json_is_true(json_object_get(paged, "hasMoreChanges")));
	size_t total = json_array_size(json_object_get(paged, "created")) +
		json_array_size(json_object_get(paged, "updated")) +
		json_array_size(json_object_get(paged, "destroyed"));
	assert_int_equal(total, 1);
	char *ns = strdup(str_at(ec, "newState"));
	json_decref(r);

	/* expunge from IMAP; a mailbox rename from IMAP */
	assert_int_equal(store_message_expunge(t->f->store, inbox.id, &uid3, 1, &error), 0);
	assert_int_equal(store_mailbox_rename(t->f->store, t->f->acc, "Archive", "Old", &error), 0);
	snprintf(buf, sizeof(buf),
		 "[['Email/changes',{'accountId':'@A@','sinceState':'%s'},'0'],"
		 "['Mailbox/changes',{'accountId':'@A@','sinceState':'%s'},'1'],"
		 "['Email/changes',{'accountId':'@A@','sinceState':'99999999'},'2']]",
		 ns, ms);
	r = calls(t, buf);
	assert_int_equal(json_array_size(json_object_get(args_of(r, 0), "destroyed")), 1);
	assert_true(json_is_null(json_object_get(args_of(r, 1), "updatedProperties")));
	assert_string_equal(str_at(args_of(r, 2), "type"), "cannotCalculateChanges");
	json_decref(r);

	/* push: one StateChange with every type, then only what moved */
	struct buf out;
	struct jmap_push push;
	buf_init(&out);
	assert_int_equal(jmap_push_init(&push, "*"), 0);
	assert_int_equal(jmap_push_state(&t->r, &push, &out), 1);
	assert_has(buf_cstr(&out), "event: state\ndata: {");
	assert_has(buf_cstr(&out), "\"Email\":");
	assert_has(buf_cstr(&out), "\"Mailbox\":");
	assert_has(buf_cstr(&out), "\"EmailDelivery\":");
	buf_clear(&out);
	assert_int_equal(jmap_push_state(&t->r, &push, &out), 0);
	assert_int_equal(out.len, 0);
	/* types=: listed names only, unknown ones ignored, empty items refused */
	assert_int_equal(jmap_push_init(&push, "Identity,CalendarEvent"), 0);
	assert_int_equal(jmap_push_state(&t->r, &push, &out), 1);
	assert_has(buf_cstr(&out), "\"Identity\":");
	assert_lacks(buf_cstr(&out), "\"Email\"");
	assert_lacks(buf_cstr(&out), "\"Mailbox\"");
	buf_clear(&out);
	tu_deliver_subject(t->f, NULL, "push", 0);
	assert_int_equal(jmap_push_state(&t->r, &push, &out), 0); /* Identity did not move */
	assert_int_equal(jmap_push_init(&push, "Email"), 0);
	assert_int_equal(jmap_push_state(&t->r, &push, &out), 1);
	buf_clear(&out);
	tu_deliver_subject(t->f, NULL, "push2", 0);
	assert_int_equal(jmap_push_state(&t->r, &push, &out), 1);
	assert_has(buf_cstr(&out), "\"Email\":");
	assert_lacks(buf_cstr(&out), "\"Mailbox\"");
	assert_lacks(buf_cstr(&out), "\"Thread\"");
	assert_int_equal(jmap_push_init(&push, ""), -1);
	assert_int_equal(jmap_push_init(&push, "Email,"), -1);
	assert_int_equal(jmap_push_init(&push, ",Email"), -1);
	buf_deinit(&out);
	free(es);
	free(ms);
	free(ts);
	free(ns);
}

/* --- identities, submission, vacation ---------------------------------- */

static void test_submission(void **state)
{
	struct t *t = *state;
	const char *error;
	int64_t bob;
	assert_int_equal(store_account_add(t->f->store, "bob@example.org", "x", &bob, &error), 0);
	char drafts[24], sent[24], buf[2048];
	mbox_id(t, "Drafts", drafts, sizeof(drafts));
	mbox_id(t, "Sent", sent, sizeof(sent));
	snprintf(buf, sizeof(buf),
		 "[['Identity/get',{'accountId':'@A@'},'0'],"
		 "['Identity/set',{'accountId':'@A@','create':{'bad':{'email':"
		 "'mallory@example.net'}},'update':{'#nope':{'name':'x'}}},'1'],"
		 "['Email/set',{'accountId':'@A@','create':{'k':{'mailboxIds':{'%s':true},"
		 "'keywords':{'$draft':true},'from':[{'email':'a@example.org'}],"
		 "'to':[{'email':'bob@example.org'}],'bcc':[{'email':'remote@example.net'}],"
		 "'subject':'sent by jmap','textBody':[{'partId':'1','type':'text/plain'}],"
		 "'bodyValues':{'1':{'value':'hello bob'}}}}},'2']]",
		 drafts);
	json_t *r = calls(t, buf);
	json_t *ident = json_array_get(json_object_get(args_of(r, 0), "list"), 0);
	assert_string_equal(str_at(ident, "email"), "a@example.org");
	char iid[24];
	snprintf(iid, sizeof(iid), "%s", str_at(ident, "id"));
	assert_string_equal(str_at(args_of(r, 1), "notCreated/bad/type"), "forbiddenFrom");
	assert_non_null(str_at(args_of(r, 2), "created/k/id"));
	json_decref(r);

	snprintf(buf, sizeof(buf),
		 "[['Email/set',{'accountId':'@A@','create':{'k':{'mailboxIds':{'%s':true},"
		 "'keywords':{'$draft':true},'from':[{'email':'a@example.org'}],"
		 "'to':[{'email':'bob@example.org'}],'bcc':[{'email':'remote@example.net'}],"
		 "'subject':'sent by jmap','textBody':[{'partId':'1','type':'text/plain'}],"
		 "'bodyValues':{'1':{'value':'hello bob'}}}}},'0'],"
		 "['EmailSubmission/set',{'accountId':'@A@','create':{'s':{'identityId':'%s',"
		 "'emailId':'#k'},'t':{'identityId':'%s','emailId':'e999999'}},"
		 "'onSuccessUpdateEmail':{'#s':{'mailboxIds/%s':null,'mailboxIds/%s':true,"
		 "'keywords/$draft':null}}},'1'],"
		 "['Email/get',{'accountId':'@A@','ids':['#k'],'properties':['mailboxIds',"
		 "'keywords']},'2'],"
		 "['EmailSubmission/get',{'accountId':'@A@'},'3']]",
		 drafts, iid, iid, drafts, sent);
	r = calls(t, buf);
	assert_non_null(str_at(args_of(r, 1), "created/s/id"));
	assert_string_equal(str_at(args_of(r, 1), "notCreated/t/type"), "invalidProperties");
	assert_string_equal(name_of(r, 2), "Email/set"); /* the implicit one */
	assert_int_equal(json_object_size(json_object_get(args_of(r, 2), "updated")), 1);
	json_t *e = json_array_get(json_object_get(args_of(r, 3), "list"), 0);
	assert_true(json_is_true(json_object_get(json_object_get(e, "mailboxIds"), sent)));
	assert_int_equal(json_object_size(json_object_get(e, "keywords")), 0);
	assert_string_equal(str_at(args_of(r, 4), "list/0/undoStatus"), "final");
	json_decref(r);

	/* bob got it, without Bcc; the remote recipient is queued */
	struct store_mailbox bi;
	assert_int_equal(store_mailbox_get(t->f->store, bob, "INBOX", &bi), 1);
	struct store_message *msgs;
	size_t n;
	assert_int_equal(store_message_list(t->f->store, bi.id, &msgs, &n), 0);
	assert_int_equal(n, 1);
	int fd = store_blob_open(t->f->store, msgs[0].blob_id);
	char data[4096] = {0};
	assert_true(read(fd, data, sizeof(data) - 1) > 0);
	close(fd);
	free(msgs);
	assert_has(data, "hello bob");
	assert_lacks(data, "remote@example.net");
	struct store_queue_delivery *q;
	size_t nq;
	assert_int_equal(store_queue_due(t->f->store, time(NULL) + 3600, 10, &q, &nq), 0);
	assert_int_equal(nq, 1);
	assert_string_equal(q[0].e.recipient, "remote@example.net");
	free(q);

	/* vacation */
	r = calls(t,
		  "[['VacationResponse/get',{'accountId':'@A@'},'0'],"
		  "['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		  "'isEnabled':true,'subject':'away','fromDate':'2026-12-24T00:00:00Z'}}},'1'],"
		  "['VacationResponse/get',{'accountId':'@A@','ids':['singleton']},'2'],"
		  "['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		  "'fromDate':'yesterday'}},'create':{'x':{}}},'3']]");
	assert_true(json_is_false(json_object_get(
		json_array_get(json_object_get(args_of(r, 0), "list"), 0), "isEnabled")));
	json_t *v = json_array_get(json_object_get(args_of(r, 2), "list"), 0);
	assert_true(json_is_true(json_object_get(v, "isEnabled")));
	assert_string_equal(str_at(v, "subject"), "away");
	assert_string_equal(str_at(args_of(r, 3), "notUpdated/singleton/type"),
			    "invalidProperties");
	assert_string_equal(str_at(args_of(r, 3), "notCreated/x/type"), "singleton");
	json_decref(r);
}

/* --- VacationResponse as a Sieve script -------------------------------- */

static const char vac_msg[] = "From: <bob@example.net>\r\n"
			      "To: <a@example.org>\r\n"
			      "Subject: hello\r\n"
			      "Message-ID: <m1@example.net>\r\n"
			      "\r\n"
			      "Hi.\r\n";

/*
 * Compile the generated script and run it at now: the vacation action it
 * yields (copied into *a, strings owned by r) or false when none.
 */
static bool vac_run(const struct jmap_vacation_text *v, time_t now, struct sieve_result *r,
		    struct sieve_action *a)
{
	size_t len;
	char *src = jmap_vacation_script(v, &len);
	assert_int_equal(strlen(src), len);
	struct sieve_script *sc;
	const char *err = NULL;
	if (sieve_compile(src, len, &sc, &err) < 0)
		fail_msg("%s\n%s", err, src);
	free(src);
	struct sieve_message m = {vac_msg,         sizeof(vac_msg) - 1, "bob@example.net",
				  "a@example.org", "a@example.org",     now};
	memset(r, 0, sizeof(*r));
	assert_int_equal(sieve_execute(sc, &m, r, &err), 0);
	sieve_script_free(&sc);
	for (size_t i = 0; i < r->n_actions; i++) {
		if (r->actions[i].kind == SIEVE_ACT_VACATION) {
			*a = r->actions[i];
			return true;
		}
	}
	return false;
}

static void test_vacation_script_escaping(void **state)
{
	(void)state;
	struct jmap_vacation_text v = {
		.subject = "He said \"hi\" \\ back\r\nBcc: x@example.net",
		.text_body = ".\n..two dots\r\nvar ${x} and text:\n\"quoted\" \\\n.",
	};
	struct sieve_result r;
	struct sieve_action a;
	assert_true(vac_run(&v, time(NULL), &r, &a));
	/* Controls in the subject become spaces: no header injection. */
	assert_string_equal(a.subject, "He said \"hi\" \\ back  Bcc: x@example.net");
	/* The text comes back as written, lines in CRLF (dot-stuffing undone). */
	assert_string_equal(a.text,
			    ".\r\n..two dots\r\nvar ${x} and text:\r\n\"quoted\" \\\r\n.\r\n");
	assert_false(a.mime);
	sieve_result_free(&r);
	/* No text at all: the default reason, and the default subject. */
	v = (struct jmap_vacation_text){.text_body = ""};
	assert_true(vac_run(&v, time(NULL), &r, &a));
	assert_null(a.subject);
	assert_string_equal(a.text, JMAP_VACATION_DEFAULT_TEXT "\r\n");
	sieve_result_free(&r);
}

static void test_vacation_script_dates(void **state)
{
	(void)state;
	time_t from = 1798070400; /* 2026-12-24T00:00:00Z */
	struct jmap_vacation_text v = {.has_from = true,
				       .from = from,
				       .has_to = true,
				       .to = from + 86400,
				       .text_body = "away"};
	struct sieve_result r;
	struct sieve_action a;
	const time_t now[] = {from - 1, from, from + 3600, from + 86399, from + 86400};
	const bool want[] = {false, true, true, true, false};
	for (size_t i = 0; i < sizeof(now) / sizeof(now[0]); i++) {
		bool got = vac_run(&v, now[i], &r, &a);
		if (got != want[i])
			fail_msg("at %lld: %d", (long long)(now[i] - from), got);
		sieve_result_free(&r);
	}
	/* One bound only. */
	v.has_to = false;
	assert_true(vac_run(&v, from + 10 * 86400, &r, &a));
	sieve_result_free(&r);
	v = (struct jmap_vacation_text){.has_to = true, .to = from, .text_body = "x"};
	assert_true(vac_run(&v, from - 1, &r, &a));
	sieve_result_free(&r);
	assert_false(vac_run(&v, from, &r, &a));
	sieve_result_free(&r);
}

static void test_vacation_script_mime(void **state)
{
	(void)state;
	struct jmap_vacation_text v = {.text_body = "plain é",
				       .html_body = "<p>Away</p>\n.\n<p>back</p>"};
	struct sieve_result r;
	struct sieve_action a;
	assert_true(vac_run(&v, time(NULL), &r, &a));
	assert_true(a.mime);
	assert_non_null(strstr(a.text, "Content-Type: multipart/alternative"));
	assert_non_null(strstr(a.text, "cGxhaW4gw6k=")); /* base64("plain é") */
	assert_non_null(strstr(a.text, "Content-Type: text/html; charset=utf-8"));
	struct sieve_message m = {vac_msg,         sizeof(vac_msg) - 1, "bob@example.net",
				  "a@example.org", "a@example.org",     time(NULL)};
	size_t len;
	char *reply = sieve_vacation_reply(&a, &m, "example.org", &len);
	assert_non_null(strstr(reply, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(reply, "\r\n--=_facteur_vacation--\r\n"));
	free(reply);
	sieve_result_free(&r);
	/* HTML only: one text/html entity; a very long plain line: base64. */
	v = (struct jmap_vacation_text){.html_body = "<b>x</b>"};
	assert_true(vac_run(&v, time(NULL), &r, &a));
	assert_true(a.mime && strstr(a.text, "Content-Type: text/html;") == a.text);
	sieve_result_free(&r);
	char *long_line = malloc(2001);
	memset(long_line, 'a', 2000);
	long_line[2000] = '\0';
	v = (struct jmap_vacation_text){.text_body = long_line};
	assert_true(vac_run(&v, time(NULL), &r, &a));
	assert_true(a.mime && strstr(a.text, "Content-Type: text/plain;") == a.text);
	sieve_result_free(&r);
	free(long_line);
}

static void vac_active(struct t *t, const char *want)
{
	char name[STORE_SIEVE_NAME_MAX + 1];
	char *src = NULL;
	size_t len;
	int r = store_sieve_active(t->f->store, t->f->acc, &src, &len, name, sizeof(name));
	free(src);
	if (want == NULL)
		assert_int_equal(r, 0);
	else {
		assert_int_equal(r, 1);
		assert_string_equal(name, want);
	}
}

static bool vac_enabled(struct t *t)
{
	json_t *r = calls(t, "[['VacationResponse/get',{'accountId':'@A@'},'0']]");
	bool on = json_is_true(json_object_get(
		json_array_get(json_object_get(args_of(r, 0), "list"), 0), "isEnabled"));
	json_decref(r);
	return on;
}

static void test_vacation_sieve(void **state)
{
	struct t *t = *state;
	const char *err = NULL;
	json_t *r =
		calls(t,
		      "[['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		      "'isEnabled':true,'subject':'Away','textBody':'Back on Monday.'}}},'0']]");
	assert_true(json_is_null(
		json_object_get(json_object_get(args_of(r, 0), "updated"), "singleton")));
	json_decref(r);
	vac_active(t, JMAP_VACATION_SCRIPT);
	char *src;
	size_t len;
	bool active;
	assert_int_equal(
		store_sieve_get(t->f->store, t->f->acc, JMAP_VACATION_SCRIPT, &src, &len, &active),
		1);
	assert_non_null(strstr(src, ":subject \"Away\""));
	assert_non_null(strstr(src, "Back on Monday."));
	free(src);
	assert_true(vac_enabled(t));
	/* Deactivated elsewhere (CLI, ManageSieve): get says so. */
	assert_int_equal(store_sieve_activate(t->f->store, t->f->acc, NULL, &err), 1);
	assert_false(vac_enabled(t));
	/* The user's own active script is never replaced: forbidden. */
	assert_int_equal(sieve_store_put(t->f->store, t->f->acc, "mine", "keep;\n", 6, &err), 0);
	assert_int_equal(store_sieve_activate(t->f->store, t->f->acc, "mine", &err), 1);
	r = calls(t,
		  "[['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		  "'isEnabled':true,'subject':'Changed'}}},'0'],"
		  "['VacationResponse/get',{'accountId':'@A@'},'1']]");
	assert_string_equal(str_at(args_of(r, 0), "notUpdated/singleton/type"), "forbidden");
	assert_non_null(strstr(str_at(args_of(r, 0), "notUpdated/singleton/description"),
			       "\"mine\" is active"));
	assert_string_equal(str_at(args_of(r, 1), "list/0/subject"), "Away"); /* unchanged */
	json_decref(r);
	vac_active(t, "mine");
	/* Disabling leaves the user's script alone. */
	r = calls(t,
		  "[['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		  "'isEnabled':false}}},'0']]");
	assert_non_null(json_object_get(json_object_get(args_of(r, 0), "updated"), "singleton"));
	json_decref(r);
	vac_active(t, "mine");
	assert_int_equal(store_sieve_activate(t->f->store, t->f->acc, NULL, &err), 1);
	/* Enabled again, then disabled: our script is gone, none active. */
	r = calls(t,
		  "[['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		  "'isEnabled':true,'toDate':'2030-01-01T00:00:00Z'}}},'0'],"
		  "['VacationResponse/set',{'accountId':'@A@','update':{'singleton':{"
		  "'isEnabled':false}}},'1']]");
	assert_non_null(json_object_get(json_object_get(args_of(r, 0), "updated"), "singleton"));
	assert_non_null(json_object_get(json_object_get(args_of(r, 1), "updated"), "singleton"));
	json_decref(r);
	vac_active(t, NULL);
	assert_int_equal(
		store_sieve_get(t->f->store, t->f->acc, JMAP_VACATION_SCRIPT, &src, &len, &active),
		0);
	assert_false(vac_enabled(t));
}

/* --- bad input: clear errors, never a crash ---------------------------- */

static void test_bad_input(void **state)
{
	struct t *t = *state;
	char drafts[24], buf[4096];
	mbox_id(t, "Drafts", drafts, sizeof(drafts));
	/* a reference path deeper than any response */
	struct buf deep;
	buf_init(&deep);
	for (int i = 0; i < 200; i++)
		buf_append_str(&deep, "/a");
	snprintf(buf, sizeof(buf),
		 "[['Core/echo',{'a':1},'0'],"
		 "['Core/echo',{'#x':{'resultOf':'0','name':'Core/echo','path':'%s'}},'1'],"
		 "['Email/set',{'accountId':'@A@','create':{"
		 "'inj':{'mailboxIds':{'%s':true},'subject':'x\\r\\nBcc: evil@example.net'},"
		 "'hdr':{'mailboxIds':{'%s':true},'header:X-A:asText':'a\\nB: c'},"
		 "'adr':{'mailboxIds':{'%s':true},'to':[{'email':'a@b>\\r\\nX: y'}]},"
		 "'typ':{'mailboxIds':{'%s':true},'from':'nobody'},"
		 "'two':{'mailboxIds':{'%s':true,'m1':true}}},"
		 "'update':{'e1':5,'bogus':{}},'destroy':[7,'x']},'2'],"
		 "['Email/"
		 "query',{'accountId':'@A@','filter':{'operator':'XOR','conditions':[]}},'3'],"
		 "['Email/query',{'accountId':'@A@','filter':{'before':'yesterday'}},'4'],"
		 "['Email/query',{'accountId':'@A@','sort':['x']},'5'],"
		 "['Email/query',{'accountId':'@A@','limit':-1},'6'],"
		 "['Mailbox/set',{'accountId':'@A@','create':{'n':{'name':5},'p':{'name':'x',"
		 "'parentId':'m999999'},'r':{'name':'y','role':'bogus'}},"
		 "'update':{'%s':{'sortOrder':99}},'destroy':[true]},'7'],"
		 "['Email/get',{'accountId':'@A@','ids':[1,2]},'8'],"
		 "['Email/get',{'accountId':'@A@','ids':'e1'},'9'],"
		 "['Mailbox/changes',{'accountId':'@A@','sinceState':'0','maxChanges':0},'10'],"
		 "['EmailSubmission/set',{'accountId':'@A@','create':{'s':{'emailId':'e1'}}},'11'],"
		 "['SearchSnippet/get',{'accountId':'@A@','emailIds':'x'},'12'],"
		 "['Thread/get',{'accountId':'@A@','ids':null},'13']]",
		 buf_cstr(&deep), drafts, drafts, drafts, drafts, drafts, drafts);
	buf_deinit(&deep);
	json_t *r = calls(t, buf);
	assert_string_equal(str_at(args_of(r, 1), "type"), "invalidResultReference");
	json_t *nc = json_object_get(args_of(r, 2), "notCreated");
	assert_int_equal(json_object_size(nc), 5);
	assert_string_equal(str_at(nc, "inj/type"), "invalidProperties");
	assert_string_equal(str_at(nc, "hdr/type"), "invalidProperties");
	assert_string_equal(str_at(nc, "adr/type"), "invalidProperties");
	assert_string_equal(str_at(nc, "typ/type"), "invalidProperties");
	assert_string_equal(str_at(nc, "two/type"), "tooManyMailboxes");
	assert_int_equal(json_object_size(json_object_get(args_of(r, 2), "notUpdated")), 2);
	assert_int_equal(json_object_size(json_object_get(args_of(r, 2), "created")), 0);
	assert_string_equal(str_at(args_of(r, 3), "type"), "unsupportedFilter");
	assert_string_equal(str_at(args_of(r, 4), "type"), "unsupportedFilter");
	assert_string_equal(str_at(args_of(r, 5), "type"), "unsupportedSort");
	assert_string_equal(str_at(args_of(r, 6), "type"), "invalidArguments");
	assert_int_equal(json_object_size(json_object_get(args_of(r, 7), "notCreated")), 3);
	assert_int_equal(json_object_size(json_object_get(args_of(r, 7), "notUpdated")), 1);
	assert_string_equal(str_at(args_of(r, 8), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 9), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 10), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 11), "notCreated/s/type"), "invalidProperties");
	assert_string_equal(str_at(args_of(r, 12), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 13), "type"), "requestTooLarge");
	json_decref(r);
	/* nothing was stored by the refused creations */
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(t->f->store, t->f->acc, "Drafts", &m), 1);
	assert_int_equal(m.messages, 0);
}

/* Messages in an account's mailbox, from the store. */
static uint32_t box_count(struct t *t, int64_t account, const char *name)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(t->f->store, account, name, &m), 1);
	return m.messages;
}

/* Run method calls written with %s placeholders filled by printf. */
static json_t *callsf(struct t *t, const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	return calls(t, text);
}

/*
 * Email/copy between the user's own account and one that shares a mailbox
 * with the user (RFC 8621 4.7): the insert right on the target, the read
 * right on the source, the t and e rights there for
 * onSuccessDestroyOriginal (a move), and the method's errors.
 */
static void test_email_copy_shared(void **state)
{
	struct t *t = *state;
	const char *error = NULL;
	int64_t bob = 0, owner = t->f->acc;
	assert_int_equal(store_account_add(t->f->store, "b@example.org", "$argon2id$v=19$fake",
					   &bob, &error),
			 0);
	assert_int_equal(store_mailbox_create(t->f->store, owner, "Team", NULL, &error), 0);
	tu_deliver_subject(t->f, "Team", "team 1", 0);
	tu_deliver_subject(t->f, "INBOX", "private", 0);
	struct store_mailbox team, own_inbox, bob_inbox;
	assert_int_equal(store_mailbox_get(t->f->store, owner, "Team", &team), 1);
	assert_int_equal(store_mailbox_get(t->f->store, owner, "INBOX", &own_inbox), 1);
	assert_int_equal(store_mailbox_get(t->f->store, bob, "INBOX", &bob_inbox), 1);
	uint32_t rights = 0;
	assert_int_equal(store_rights_parse("lrs", &rights), 0);
	assert_int_equal(store_acl_set(t->f->store, team.id, "b@example.org", rights, &error), 0);

	json_t *r;
	char priv[24], priv_blob[80];
	{
		char text[256];
		snprintf(text, sizeof(text),
			 "[['Email/query',{'accountId':'@A@','filter':{'inMailbox':'m%lld'}},'0']]",
			 (long long)own_inbox.id);
		r = calls(t, text);
		snprintf(priv, sizeof(priv), "%s", str_at(args_of(r, 0), "ids/0"));
		json_decref(r);
		snprintf(text, sizeof(text),
			 "[['Email/"
			 "get',{'accountId':'@A@','ids':['%s'],'properties':['blobId']},'0']]",
			 priv);
		r = calls(t, text);
		snprintf(priv_blob, sizeof(priv_blob), "%s",
			 str_at(args_of(r, 0), "list/0/blobId"));
		json_decref(r);
	}
	t->r.account_id = bob;
	t->r.username = "b@example.org";
	char a_bob[24], a_own[24];
	snprintf(a_bob, sizeof(a_bob), "a%lld", (long long)bob);
	snprintf(a_own, sizeof(a_own), "a%lld", (long long)owner);
	r = callsf(
		t,
		"[['Email/set',{'accountId':'%s','create':{'n':{'mailboxIds':{'m%lld':true},"
		"'subject':'bob note','keywords':{'$seen':true},'bodyValues':{'b':{'value':'hi'}},"
		"'textBody':[{'partId':'b','type':'text/plain'}]}}},'0'],"
		"['Email/query',{'accountId':'%s','filter':{'inMailbox':'m%lld'}},'1'],"
		"['Email/query',{'accountId':'@A@','filter':{'inMailbox':'m%lld'}},'2']]",
		a_bob, (long long)bob_inbox.id, a_own, (long long)team.id, (long long)own_inbox.id);
	char note[24], team1[24];
	snprintf(note, sizeof(note), "%s", str_at(args_of(r, 0), "created/n/id"));
	snprintf(team1, sizeof(team1), "%s", str_at(args_of(r, 1), "ids/0"));
	assert_int_equal(json_array_size(json_object_get(args_of(r, 1), "ids")), 1);
	json_decref(r);

	/* Own -> shared without the insert right: forbidden, nothing stored. */
	const char *copy_in = "[['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':{"
			      "'c':{'id':'%s','mailboxIds':{'m%lld':true},"
			      "'keywords':{'$flagged':true}}}},'0']]";
	r = callsf(t, copy_in, a_bob, a_own, note, (long long)team.id);
	assert_string_equal(str_at(args_of(r, 0), "notCreated/c/type"), "forbidden");
	json_decref(r);
	assert_int_equal(box_count(t, owner, "Team"), 1);

	assert_int_equal(store_rights_parse("lrswi", &rights), 0);
	assert_int_equal(store_acl_set(t->f->store, team.id, "b@example.org", rights, &error), 0);
	r = callsf(t, copy_in, a_bob, a_own, note, (long long)team.id);
	assert_string_equal(name_of(r, 0), "Email/copy");
	assert_string_equal(str_at(args_of(r, 0), "fromAccountId"), a_bob);
	assert_string_equal(str_at(args_of(r, 0), "accountId"), a_own);
	char copied[24], copied_blob[80];
	assert_non_null(str_at(args_of(r, 0), "created/c/id"));
	snprintf(copied, sizeof(copied), "%s", str_at(args_of(r, 0), "created/c/id"));
	snprintf(copied_blob, sizeof(copied_blob), "%s", str_at(args_of(r, 0), "created/c/blobId"));
	assert_non_null(str_at(args_of(r, 0), "created/c/blobId"));
	json_decref(r);
	assert_int_equal(box_count(t, owner, "Team"), 2);
	assert_int_equal(box_count(t, bob, "INBOX"), 1); /* a copy: the original stays */

	/* Shared -> own as a move, without t and e on Team: copied, the original stays. */
	const char *move_out = "[['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':{"
			       "'m':{'id':'%s','mailboxIds':{'m%lld':true}}},'"
			       "onSuccessDestroyOriginal':true},'0']]";
	r = callsf(t, move_out, a_own, a_bob, team1, (long long)bob_inbox.id);
	assert_non_null(str_at(args_of(r, 0), "created/m/id"));
	assert_string_equal(name_of(r, 1), "Email/set");
	assert_string_equal(str_at(args_of(r, 1), "accountId"), a_own);
	char path[64];
	snprintf(path, sizeof(path), "notDestroyed/%s/type", team1);
	assert_string_equal(str_at(args_of(r, 1), path), "forbidden");
	json_decref(r);
	assert_int_equal(box_count(t, owner, "Team"), 2);
	assert_int_equal(box_count(t, bob, "INBOX"), 2);

	/* With them: a move. */
	assert_int_equal(store_rights_parse("lrswite", &rights), 0);
	assert_int_equal(store_acl_set(t->f->store, team.id, "b@example.org", rights, &error), 0);
	r = callsf(t, move_out, a_own, a_bob, team1, (long long)bob_inbox.id);
	assert_non_null(str_at(args_of(r, 0), "created/m/id"));
	assert_string_equal(str_at(args_of(r, 1), "destroyed/0"), team1);
	json_decref(r);
	assert_int_equal(box_count(t, owner, "Team"), 1);
	assert_int_equal(box_count(t, bob, "INBOX"), 3);

	/* Errors: unknown accounts, the same account, states, unreadable or unknown ids. */
	r = callsf(
		t,
		"[['Email/copy',{'fromAccountId':'a999','accountId':'%s','create':{}},'0'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'a999','create':{}},'1'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':{}},'2'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'%s','ifInState':'x',"
		"'create':{}},'3'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'%s','ifFromInState':'x',"
		"'create':{}},'4'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':{"
		"'u':{'id':'e999999','mailboxIds':{'m%lld':true}},"
		"'v':{'id':'%s','mailboxIds':{'m999999':true}},'w':5}},'5'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':[]},'6'],"
		"['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':{},'bogus':1},'7']]",
		a_bob, a_own, a_bob, a_bob, a_own, a_bob, a_own, a_bob, a_own, a_bob,
		(long long)bob_inbox.id, copied, a_own, a_bob, a_own, a_bob);
	assert_string_equal(str_at(args_of(r, 0), "type"), "fromAccountNotFound");
	assert_string_equal(str_at(args_of(r, 1), "type"), "accountNotFound");
	assert_string_equal(str_at(args_of(r, 2), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 3), "type"), "stateMismatch");
	assert_string_equal(str_at(args_of(r, 4), "type"), "stateMismatch");
	assert_string_equal(str_at(args_of(r, 5), "notCreated/u/type"), "notFound");
	assert_string_equal(str_at(args_of(r, 5), "notCreated/v/type"), "invalidProperties");
	assert_string_equal(str_at(args_of(r, 5), "notCreated/w/type"), "invalidProperties");
	assert_string_equal(str_at(args_of(r, 6), "type"), "invalidArguments");
	assert_string_equal(str_at(args_of(r, 7), "type"), "invalidArguments");
	json_decref(r);
	/* The owner's message in a mailbox bob may not read cannot be copied out. */
	r = callsf(t,
		   "[['Email/copy',{'fromAccountId':'%s','accountId':'%s','create':{"
		   "'p':{'id':'%s','mailboxIds':{'m%lld':true}}}},'0']]",
		   a_own, a_bob, priv, (long long)bob_inbox.id);
	assert_string_equal(str_at(args_of(r, 0), "notCreated/p/type"), "notFound");
	json_decref(r);
	assert_int_equal(box_count(t, bob, "INBOX"), 3);

	/* Downloads in the owner's account: a blob of a mailbox bob may read, not another. */
	struct jmap_blob blob;
	assert_int_equal(jmap_download_open(&t->r, a_own, copied_blob, NULL, &blob), 200);
	close(blob.fd);
	assert_int_equal(jmap_download_open(&t->r, a_own, priv_blob, NULL, &blob), 404);
	assert_int_equal(jmap_download_open(&t->r, "a999", copied_blob, NULL, &blob), 404);
	assert_int_equal(jmap_download_open(&t->r, "a1x", copied_blob, NULL, &blob), 404);
	assert_int_equal(store_rights_parse("l", &rights), 0);
	assert_int_equal(store_acl_set(t->f->store, team.id, "b@example.org", rights, &error), 0);
	assert_int_equal(jmap_download_open(&t->r, a_own, copied_blob, NULL, &blob), 404);
}

/*
 * A mailbox shared with another account (store-acl.c): the grantee's
 * session lists the owner's account (not personal, Mail only), Mailbox/get
 * there shows only the shared mailbox with myRights from the ACL, $seen
 * set by the grantee is its own, rights are enforced, and other methods
 * refuse the account.
 */
static void test_shared_account(void **state)
{
	struct t *t = *state;
	const char *error = NULL;
	int64_t bob = 0;
	assert_int_equal(store_account_add(t->f->store, "b@example.org", "$argon2id$v=19$fake",
					   &bob, &error),
			 0);
	assert_int_equal(store_mailbox_create(t->f->store, t->f->acc, "Team", NULL, &error), 0);
	tu_deliver_subject(t->f, "Team", "team 1", 0);
	tu_deliver_subject(t->f, "INBOX", "private", 0);
	struct store_mailbox team;
	assert_int_equal(store_mailbox_get(t->f->store, t->f->acc, "Team", &team), 1);
	uint32_t lrs = 0;
	assert_int_equal(store_rights_parse("lrs", &lrs), 0);
	assert_int_equal(store_acl_set(t->f->store, team.id, "b@example.org", lrs, &error), 0);

	t->r.account_id = bob;
	t->r.username = "b@example.org";
	struct buf out;
	buf_init(&out);
	assert_int_equal(jmap_session_resource(&t->r, &out), 200);
	json_t *sess = json_loads(buf_cstr(&out), 0, NULL);
	buf_deinit(&out);
	char owner[24];
	snprintf(owner, sizeof(owner), "a%lld", (long long)t->f->acc);
	json_t *acc = json_object_get(json_object_get(sess, "accounts"), owner);
	assert_non_null(acc);
	assert_true(json_is_false(json_object_get(acc, "isPersonal")));
	assert_true(json_is_false(json_object_get(acc, "isReadOnly")));
	assert_int_equal(json_object_size(json_object_get(acc, "accountCapabilities")), 1);
	json_decref(sess);

	json_t *r = calls(t,
			  "[['Mailbox/get',{'accountId':'@A@','ids':null},'m'],"
			  "['Email/query',{'accountId':'@A@'},'q'],"
			  "['Email/get',{'accountId':'@A@','#ids':{'resultOf':'q','name':"
			  "'Email/query','path':'/ids'},'properties':['subject']},'g'],"
			  "['Identity/get',{'accountId':'@A@'},'i']]");
	json_t *list = json_object_get(args_of(r, 0), "list");
	assert_int_equal(json_array_size(list), 1);
	json_t *rights = json_object_get(json_array_get(list, 0), "myRights");
	assert_true(json_is_true(json_object_get(rights, "maySetSeen")));
	assert_true(json_is_false(json_object_get(rights, "mayAddItems")));
	assert_true(json_is_false(json_object_get(rights, "mayRemoveItems")));
	assert_true(json_is_false(json_object_get(rights, "maySubmit")));
	assert_int_equal(json_array_size(json_object_get(args_of(r, 1), "ids")), 1);
	assert_string_equal(str_at(args_of(r, 2), "list/0/subject"), "team 1");
	assert_string_equal(name_of(r, 3), "error");
	assert_string_equal(str_at(args_of(r, 3), "type"), "accountNotSupportedByMethod");
	char eid[24];
	snprintf(eid, sizeof(eid), "%s", str_at(args_of(r, 1), "ids/0"));
	json_decref(r);

	char buf[512];
	snprintf(buf, sizeof(buf),
		 "[['Email/set',{'accountId':'@A@','update':{'%s':{'keywords/$seen':true}}},'s'],"
		 "['Email/set',{'accountId':'@A@','update':{'%s':{'keywords/$flagged':true}},"
		 "'destroy':['%s']},'f'],"
		 "['Email/get',{'accountId':'@A@','ids':['%s'],'properties':['keywords']},'g']]",
		 eid, eid, eid, eid);
	r = calls(t, buf);
	assert_non_null(json_object_get(json_object_get(args_of(r, 0), "updated"), eid));
	json_t *nu = json_object_get(json_object_get(args_of(r, 1), "notUpdated"), eid);
	assert_string_equal(json_string_value(json_object_get(nu, "type")), "forbidden");
	json_t *nd = json_object_get(json_object_get(args_of(r, 1), "notDestroyed"), eid);
	assert_string_equal(json_string_value(json_object_get(nd, "type")), "forbidden");
	json_t *kw = json_object_get(json_array_get(json_object_get(args_of(r, 2), "list"), 0),
				     "keywords");
	assert_true(json_is_true(json_object_get(kw, "$seen")));
	json_decref(r);

	/* The owner's \Seen did not move. */
	t->r.account_id = t->f->acc;
	t->r.username = "a@example.org";
	snprintf(buf, sizeof(buf),
		 "[['Email/get',{'accountId':'@A@','ids':['%s'],'properties':['keywords']},'g']]",
		 eid);
	r = calls(t, buf);
	kw = json_object_get(json_array_get(json_object_get(args_of(r, 0), "list"), 0), "keywords");
	assert_null(json_object_get(kw, "$seen"));
	json_decref(r);
}

int main(void)
{
	mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_and_method_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_get_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_query_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_query_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_collapse_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_query_fast_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_query_text_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_states_follow_imap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submission, setup, teardown),
		cmocka_unit_test(test_vacation_script_escaping),
		cmocka_unit_test(test_vacation_script_dates),
		cmocka_unit_test(test_vacation_script_mime),
		cmocka_unit_test_setup_teardown(test_vacation_sieve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_copy_shared, setup, teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	mime_deinit();
	return r;
}
