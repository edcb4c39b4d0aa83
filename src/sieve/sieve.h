/* SPDX-License-Identifier: MIT */
/*
 * Sieve (RFC 5228) mail filtering, run at local delivery. A script is
 * compiled once when it is stored (sieve_compile: lexer, parser and a
 * check of every command and test against its signature, errors with
 * line:column) into a flat array of nodes, and that compiled form is run
 * against each message (sieve_execute), which yields the list of actions
 * the delivery code carries out. Pure: no I/O, no store; the caller
 * supplies the message, its envelope and the flags of "now".
 * Extensions: fileinto, envelope, imap4flags, copy, variables,
 * relational, subaddress, body, reject, ereject, vacation, date, index,
 * comparator-i;ascii-numeric. Everything is bounded (script size, nesting,
 * steps, actions, redirects, variables).
 */
#ifndef FACTEUR_SIEVE_H
#define FACTEUR_SIEVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIEVE_SCRIPT_MAX (256u * 1024) /* bytes of source */
#define SIEVE_DEPTH_MAX 32             /* nested blocks and tests */
#define SIEVE_NODES_MAX 50000          /* compiled nodes */
#define SIEVE_STEPS_MAX 100000         /* commands and tests per run */
#define SIEVE_MATCH_STEPS_MAX 50000000 /* characters matched or parsed per run */
#define SIEVE_ACTIONS_MAX 64           /* actions per run */
#define SIEVE_REDIRECTS_MAX 4          /* redirect actions per run */
#define SIEVE_VARS_MAX 64              /* distinct variables */
#define SIEVE_VAR_LEN_MAX 4096         /* bytes of one variable's value */

struct sieve_script;

/*
 * Compile src[0..len). Returns 0 with *script_r (free with
 * sieve_script_free), or -1 with *error_r "LINE:COL: reason" (thread-local,
 * valid until the next call in this thread).
 */
int sieve_compile(const char *src, size_t len, struct sieve_script **script_r,
		  const char **error_r);
void sieve_script_free(struct sieve_script **script);
/*
 * The extensions a script may require (ManageSieve's SIEVE capability):
 * names 0..count-1; NULL past the end.
 */
size_t sieve_extension_count(void);
const char *sieve_extension_name(size_t i);

/* The message a script runs against; every pointer borrowed. */
struct sieve_message {
	const char *data; /* the whole message (header block + body) */
	size_t len;
	const char *env_from; /* MAIL FROM, "" for the null sender */
	const char *env_to;   /* the RCPT TO that led to this account */
	const char *user;     /* the account's own address (vacation) */
	time_t now;           /* currentdate, vacation */
};

enum sieve_action_kind {
	SIEVE_ACT_KEEP,     /* file into INBOX (also the implicit keep) */
	SIEVE_ACT_FILEINTO, /* mailbox */
	SIEVE_ACT_REDIRECT, /* address */
	SIEVE_ACT_REJECT,   /* text (reject and ereject) */
	SIEVE_ACT_VACATION, /* address (to), text, subject, from, handle, days */
};

struct sieve_action {
	enum sieve_action_kind kind;
	char *mailbox;  /* FILEINTO */
	bool create;    /* FILEINTO :create */
	char **flags;   /* KEEP, FILEINTO: IMAP flags and keywords to set */
	size_t n_flags; /* ... */
	char *address;  /* REDIRECT: target; VACATION: the reply's recipient */
	char *text;     /* REJECT: reason; VACATION: reason (a MIME entity if mime) */
	char *subject;  /* VACATION: NULL for the default */
	char *from;     /* VACATION: NULL for the user's address */
	char *handle;   /* VACATION: identifies the reply for the :days memory */
	bool mime;      /* VACATION :mime */
	unsigned days;  /* VACATION: days (0: ":seconds 0", always) */
	unsigned seconds;
};

struct sieve_result {
	struct sieve_action *actions;
	size_t n_actions;
};

/*
 * Run script on msg. Returns 0 with the actions in *r (an implicit keep,
 * when it applies, is a KEEP action there; an empty list means the message
 * is discarded), or -1 with *error_r (a runtime error or a limit: the
 * caller then files the message into INBOX, never loses it). Free r with
 * sieve_result_free either way.
 */
int sieve_execute(const struct sieve_script *script, const struct sieve_message *msg,
		  struct sieve_result *r, const char **error_r);
void sieve_result_free(struct sieve_result *r);

/* Number of compiled nodes (for tests and logs). */
size_t sieve_script_nodes(const struct sieve_script *script);

/*
 * The vacation reply for action a (RFC 5230 5): From the :from or the
 * user, To the envelope sender, "Auto: " + the original subject unless
 * :subject, In-Reply-To/References, Auto-Submitted: auto-replied, the
 * reason as text/plain UTF-8 (or as the MIME entity it is with :mime).
 * msgid_domain names the host in its Message-ID. malloc'd, CRLF lines.
 */
char *sieve_vacation_reply(const struct sieve_action *a, const struct sieve_message *msg,
			   const char *msgid_domain, size_t *len_r);
/* The header line a redirect prepends (loop protection), for user; malloc'd. */
char *sieve_redirect_header(const char *user);

/* --- storage and delivery glue (sieve-deliver.c) ------------------------ */
struct store;

/*
 * Compile, then store (store_sieve_put): an invalid script is refused
 * with "LINE:COL: reason" and nothing is stored. 0 / -1.
 */
int sieve_store_put(struct store *s, int64_t account_id, const char *name, const char *src,
		    size_t len, const char **error_r);

/* A copy of the message to file: into mailbox_id with flags and keywords. */
struct sieve_target {
	int64_t account_id;
	int64_t mailbox_id;
	uint32_t flags; /* enum store_flag */
	char **keywords;
	size_t n_keywords;
};
/* A message for the outbound queue (a redirect, a vacation reply, a bounce). */
#define SIEVE_OUT_TARGETS 16
struct sieve_outbound {
	char *sender; /* "" for <> */
	char *recipient;
	char *data; /* NULL: the delivered message with prefix prepended */
	size_t len;
	char *prefix; /* header lines (redirect) */
	/* recipient resolved (store_resolve): local accounts, remote addresses */
	int64_t accounts[SIEVE_OUT_TARGETS];
	size_t n_accounts;
	char *remote[SIEVE_OUT_TARGETS];
	size_t n_remote;
};

struct sieve_plan {
	bool scripted; /* the account has an active script and it ran */
	struct sieve_target *targets;
	size_t n_targets;
	struct sieve_outbound *out;
	size_t n_out;
	char *reject; /* reject/ereject reason, or NULL */
};

/*
 * What to do with msg for account_id: with no active script, scripted is
 * false and nothing else is set (the caller delivers as usual). Otherwise
 * the script's actions as targets (fileinto of a missing mailbox files
 * into keep_mailbox/INBOX unless :create made it) and outbound messages
 * (their recipient resolved: a local one is delivered to its INBOX, and
 * its own script does not run on it, so no loop can form);
 * a script that fails to compile or run yields one keep target. The
 * vacation memory is read and written here. Never fails: a message is
 * always kept somewhere unless the script said otherwise.
 */
void sieve_plan_run(struct store *s, int64_t account_id, const struct sieve_message *msg,
		    const char *keep_mailbox, const char *hostname, struct sieve_plan *p);
/*
 * p->reject is set and the message could not be refused at SMTP time
 * (other recipients took it): queue a notice to the envelope sender
 * (none for the null sender).
 */
void sieve_plan_reject_notice(struct store *s, const struct sieve_message *msg,
			      const char *hostname, struct sieve_plan *p);
void sieve_plan_free(struct sieve_plan *p);

#endif
