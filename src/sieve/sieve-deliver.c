/* SPDX-License-Identifier: MIT */
/*
 * Sieve between the store and delivery: storing a script only once it
 * compiles, and at delivery turning an account's active script and one
 * message into a plan the SMTP service commits with the store writer
 * (targets: mailbox + flags + keywords; outbound: redirects, vacation
 * replies, rejection notices). Whatever goes wrong here (no such mailbox,
 * a script that no longer compiles, a runtime error) ends in a keep: a
 * message is never lost because of a filter.
 */
#include "sieve/sieve-private.h"

#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int sieve_store_put(struct store *s, int64_t account_id, const char *name, const char *src,
		    size_t len, const char **error_r)
{
	struct sieve_script *sc = NULL;
	if (!store_sieve_name_valid(name)) {
		*error_r = "invalid script name";
		return -1;
	}
	if (sieve_compile(src, len, &sc, error_r) < 0)
		return -1;
	sieve_script_free(&sc);
	return store_sieve_put(s, account_id, name, src, len, error_r);
}

static const struct {
	const char *name;
	uint32_t bit;
} system_flags[] = {
	{"\\seen", STORE_FLAG_SEEN},       {"\\answered", STORE_FLAG_ANSWERED},
	{"\\flagged", STORE_FLAG_FLAGGED}, {"\\deleted", STORE_FLAG_DELETED},
	{"\\draft", STORE_FLAG_DRAFT},
};

/* IMAP flags to bits, keywords to a list; invalid ones are dropped. */
static void target_flags(struct sieve_target *t, char **flags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool sys = false;
		for (size_t k = 0; k < sizeof(system_flags) / sizeof(system_flags[0]); k++) {
			if (strcasecmp(flags[i], system_flags[k].name) == 0) {
				t->flags |= system_flags[k].bit;
				sys = true;
			}
		}
		if (sys || !store_keyword_valid(flags[i]))
			continue;
		t->keywords = xrealloc(t->keywords, (t->n_keywords + 1) * sizeof(*t->keywords));
		t->keywords[t->n_keywords++] = xstrdup(flags[i]);
	}
}

static struct sieve_target *target_add(struct sieve_plan *p, int64_t account_id, int64_t mailbox_id)
{
	for (size_t i = 0; i < p->n_targets; i++) {
		if (p->targets[i].mailbox_id == mailbox_id)
			return &p->targets[i]; /* fileinto INBOX + keep: one copy */
	}
	p->targets = xrealloc(p->targets, (p->n_targets + 1) * sizeof(*p->targets));
	struct sieve_target *t = &p->targets[p->n_targets++];
	memset(t, 0, sizeof(*t));
	t->account_id = account_id;
	t->mailbox_id = mailbox_id;
	return t;
}

/* The mailbox a keep or fileinto lands in: name, else keep, else INBOX. */
static int64_t mailbox_for(struct store *s, int64_t account_id, const char *name, bool create,
			   const char *keep)
{
	struct store_mailbox mb;
	const char *error;
	if (name != NULL) {
		if (store_mailbox_get(s, account_id, name, &mb) > 0)
			return mb.id;
		if (create && store_mailbox_create(s, account_id, name, NULL, &error) == 0 &&
		    store_mailbox_get(s, account_id, name, &mb) > 0)
			return mb.id;
	}
	if (keep != NULL && store_mailbox_get(s, account_id, keep, &mb) > 0)
		return mb.id;
	return store_mailbox_get(s, account_id, "INBOX", &mb) > 0 ? mb.id : 0;
}

static void out_add(struct store *s, struct sieve_plan *p, const char *sender, const char *rcpt,
		    char *data, size_t len, char *prefix)
{
	p->out = xrealloc(p->out, (p->n_out + 1) * sizeof(*p->out));
	struct sieve_outbound *o = &p->out[p->n_out++];
	*o = (struct sieve_outbound){
		.sender = xstrdup(sender),
		.recipient = xstrdup(rcpt),
		.data = data,
		.len = len,
		.prefix = prefix,
	};
	if (store_resolve(s, rcpt, o->accounts, &o->n_accounts, o->remote, &o->n_remote,
			  SIEVE_OUT_TARGETS) <= 0) {
		for (size_t i = 0; i < o->n_remote; i++)
			free(o->remote[i]);
		o->n_accounts = 0;
		o->remote[0] = xstrdup(rcpt);
		o->n_remote = 1;
	}
}

/* A short hash of a vacation handle (the memory's key). */
static void handle_key(const char *handle, char out[17])
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *c = (const unsigned char *)handle; *c != '\0'; c++)
		h = (h ^ *c) * 1099511628211ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void plan_vacation(struct store *s, int64_t account_id, const struct sieve_action *a,
			  const struct sieve_message *msg, const char *hostname,
			  struct sieve_plan *p)
{
	char key[17];
	handle_key(a->handle, key);
	if (store_sieve_vacation_seen(s, account_id, key, a->address, msg->now) != 0)
		return; /* replied already (or cannot tell: stay quiet) */
	const char *error;
	if (store_sieve_vacation_record(s, account_id, key, a->address, msg->now,
					msg->now + (time_t)a->seconds, &error) < 0) {
		log_warn("sieve.vacation", "account=%lld error=\"%s\"", (long long)account_id,
			 error);
		return;
	}
	size_t len;
	char *reply = sieve_vacation_reply(a, msg, hostname, &len);
	out_add(s, p, "", a->address, reply, len, NULL);
}

/* RFC 5429 2.1 with no SMTP-time refusal possible: a notice to the sender. */
static void plan_reject_notice(struct store *s, const struct sieve_message *msg, const char *reason,
			       const char *hostname, struct sieve_plan *p)
{
	if (msg->env_from == NULL || msg->env_from[0] == '\0')
		return;
	char *data = xasprintf("From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
			       "To: <%s>\r\nSubject: Message rejected\r\n"
			       "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
			       "Content-Type: text/plain; charset=utf-8\r\n\r\n"
			       "Your message to %s was rejected by the recipient's filter:\r\n\r\n"
			       "%s\r\n",
			       hostname, msg->env_from, msg->user != NULL ? msg->user : "", reason);
	out_add(s, p, "", msg->env_from, data, strlen(data), NULL);
}

static void plan_actions(struct store *s, int64_t account_id, const struct sieve_result *res,
			 const struct sieve_message *msg, const char *keep, const char *hostname,
			 struct sieve_plan *p)
{
	for (size_t i = 0; i < res->n_actions; i++) {
		const struct sieve_action *a = &res->actions[i];
		switch (a->kind) {
		case SIEVE_ACT_KEEP:
		case SIEVE_ACT_FILEINTO: {
			int64_t mb = mailbox_for(s, account_id, a->mailbox, a->create, keep);
			if (mb > 0)
				target_flags(target_add(p, account_id, mb), a->flags, a->n_flags);
			break;
		}
		case SIEVE_ACT_REDIRECT:
			out_add(s, p, msg->env_from != NULL ? msg->env_from : "", a->address, NULL,
				0, sieve_redirect_header(msg->user != NULL ? msg->user : ""));
			break;
		case SIEVE_ACT_REJECT:
			if (p->reject == NULL)
				p->reject = xstrdup(a->text);
			break;
		case SIEVE_ACT_VACATION:
			plan_vacation(s, account_id, a, msg, hostname, p);
			break;
		}
	}
}

void sieve_plan_run(struct store *s, int64_t account_id, const struct sieve_message *msg,
		    const char *keep_mailbox, const char *hostname, struct sieve_plan *p)
{
	memset(p, 0, sizeof(*p));
	char *src = NULL;
	size_t len = 0;
	char name[STORE_SIEVE_NAME_MAX + 1];
	if (store_sieve_active(s, account_id, &src, &len, name, sizeof(name)) <= 0)
		return;
	p->scripted = true;
	struct sieve_script *sc = NULL;
	struct sieve_result res = {0};
	const char *error = NULL;
	if (sieve_compile(src, len, &sc, &error) < 0 || sieve_execute(sc, msg, &res, &error) < 0) {
		log_warn("sieve.run", "account=%lld error=\"%s\" action=keep",
			 (long long)account_id, error);
		sieve_result_free(&res);
		memset(&res, 0, sizeof(res));
		res.actions = xcalloc(1, sizeof(*res.actions));
		res.n_actions = 1; /* kind 0: KEEP */
	}
	plan_actions(s, account_id, &res, msg, keep_mailbox, hostname, p);
	/* Nothing filed although the script wanted a keep (no INBOX?): the
	 * caller's plain delivery is the last resort. */
	bool wanted_file = false;
	for (size_t i = 0; i < res.n_actions; i++)
		wanted_file |= res.actions[i].kind == SIEVE_ACT_KEEP ||
			res.actions[i].kind == SIEVE_ACT_FILEINTO;
	if (wanted_file && p->n_targets == 0)
		p->scripted = false;
	sieve_result_free(&res);
	sieve_script_free(&sc);
	free(src);
}

void sieve_plan_reject_notice(struct store *s, const struct sieve_message *msg,
			      const char *hostname, struct sieve_plan *p)
{
	if (p->reject != NULL)
		plan_reject_notice(s, msg, p->reject, hostname, p);
}

void sieve_plan_free(struct sieve_plan *p)
{
	for (size_t i = 0; i < p->n_targets; i++) {
		for (size_t k = 0; k < p->targets[i].n_keywords; k++)
			free(p->targets[i].keywords[k]);
		free(p->targets[i].keywords);
	}
	free(p->targets);
	for (size_t i = 0; i < p->n_out; i++) {
		free(p->out[i].sender);
		free(p->out[i].recipient);
		free(p->out[i].data);
		free(p->out[i].prefix);
		for (size_t k = 0; k < p->out[i].n_remote; k++)
			free(p->out[i].remote[k]);
	}
	free(p->out);
	free(p->reject);
	memset(p, 0, sizeof(*p));
}
