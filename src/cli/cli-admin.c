/* SPDX-License-Identifier: MIT */
/*
 * Administration subcommands: domain, user, alias, queue, share/acl,
 * public, sieve. Each opens the store named by the configuration, does one
 * thing, and exits 0 on success, 1 on failure (with the store's message),
 * 2 on a usage error.
 */
#include "auth/auth.h"
#include "cli/cli.h"
#include "lib/config.h"
#include "lib/util.h"
#include "sieve/sieve.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct action {
	const char *name;
	int nargs; /* positional arguments after the action name */
	int (*run)(struct store *s, char **args, int flags);
	const char *usage;
};

#define FLAG_PASSWORD_STDIN 1

static int report(int ret, const char *error)
{
	if (ret < 0) {
		fprintf(stderr, "facteur: %s\n", error ? error : "failed");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* Run the action named by argv[1] from table, with store opened. */
static int dispatch(const char *group, const struct action *table, size_t n, int argc, char **argv)
{
	int flags = 0;
	char *pos[8];
	int npos = 0;
	bool help = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			flags |= FLAG_PASSWORD_STDIN;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			help = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "facteur %s: unknown option %s\n", group, argv[i]);
			return CLI_EXIT_USAGE;
		} else if (npos < 8)
			pos[npos++] = argv[i];
	}
	const struct action *a = NULL;
	for (size_t i = 0; npos > 0 && i < n; i++)
		if (strcmp(pos[0], table[i].name) == 0)
			a = &table[i];
	if (help || a == NULL || npos - 1 != a->nargs) {
		FILE *f = help ? stdout : stderr;
		fprintf(f, "usage:\n");
		for (size_t i = 0; i < n; i++)
			fprintf(f, "  facteur %s %s\n", group, table[i].usage);
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	struct config cfg;
	struct store *s = NULL;
	if (cli_open_store(&cfg, &s) < 0)
		return CLI_EXIT_FAIL;
	int ret = a->run(s, pos + 1, flags);
	store_close(&s);
	config_deinit(&cfg);
	return ret;
}

/* --- domain ------------------------------------------------------------ */
static int domain_add(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_domain_add(s, args[0], &err);
	if (r == 0)
		printf("domain %s added\n", args[0]);
	return report(r, err);
}

static int domain_remove(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_domain_remove(s, args[0], &err);
	if (r == 0)
		printf("domain %s removed\n", args[0]);
	return report(r, err);
}

static void print_line(void *ctx, const char *name)
{
	printf("%s\n", name);
}

static int domain_list(struct store *s, char **args, int flags)
{
	return report(store_domain_list(s, print_line, NULL), "cannot list domains");
}

static const struct action domain_actions[] = {
	{"add", 1, domain_add, "add DOMAIN"},
	{"remove", 1, domain_remove, "remove DOMAIN"},
	{"list", 0, domain_list, "list"},
};

int cli_domain(int argc, char **argv)
{
	return dispatch("domain", domain_actions, 3, argc, argv);
}

/* --- user -------------------------------------------------------------- */

/*
 * The password comes from standard input (first line, newline removed)
 * with --password-stdin, or is generated and printed once. Returns 0/-1.
 */
static int get_password(int flags, char *pw, size_t pwsz, bool *generated_r)
{
	*generated_r = false;
	if (flags & FLAG_PASSWORD_STDIN) {
		if (fgets(pw, (int)pwsz, stdin) == NULL) {
			fprintf(stderr, "facteur: no password on standard input\n");
			return -1;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		if (strlen(pw) < 8) {
			fprintf(stderr, "facteur: password too short (8 characters at least)\n");
			return -1;
		}
		return 0;
	}
	random_token(pw, 20);
	*generated_r = true;
	return 0;
}

static int hash_password(int flags, char *hash, bool *generated_r, char *pw, size_t pwsz)
{
	if (get_password(flags, pw, pwsz, generated_r) < 0)
		return -1;
	if (auth_password_hash(pw, hash, AUTH_HASH_MAX) < 0) {
		fprintf(stderr, "facteur: password hashing failed\n");
		return -1;
	}
	return 0;
}

static int user_add(struct store *s, char **args, int flags)
{
	char pw[512], hash[AUTH_HASH_MAX];
	bool generated;
	if (hash_password(flags, hash, &generated, pw, sizeof(pw)) < 0)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	int r = store_account_add(s, args[0], hash, NULL, &err);
	if (r == 0)
		r = auth_scram_store(s, args[0], pw, &err);
	if (r == 0) {
		printf("user %s added\n", args[0]);
		if (generated)
			printf("password: %s\n", pw);
	}
	explicit_bzero(pw, sizeof(pw));
	return report(r, err);
}

static int user_passwd(struct store *s, char **args, int flags)
{
	char pw[512], hash[AUTH_HASH_MAX];
	bool generated;
	if (hash_password(flags, hash, &generated, pw, sizeof(pw)) < 0)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	int r = store_account_set_password(s, args[0], hash, &err);
	if (r == 0)
		r = auth_scram_store(s, args[0], pw, &err);
	if (r == 0 && generated)
		printf("password: %s\n", pw);
	explicit_bzero(pw, sizeof(pw));
	return report(r, err);
}

static int user_remove(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_account_remove(s, args[0], &err);
	if (r == 0)
		printf("user %s removed\n", args[0]);
	return report(r, err);
}

/* "0", "500M", "2G", "1048576" → bytes; -1 if malformed. */
static int64_t parse_size(const char *v)
{
	char *end;
	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	long long mult = 1;
	switch (*end) {
	case 'k':
	case 'K':
		mult = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1024LL * 1024 * 1024;
		end++;
		break;
	default:
		break;
	}
	if (errno != 0 || *end != '\0' || n > INT64_MAX / mult)
		return -1;
	return n * mult;
}

static int user_quota(struct store *s, char **args, int flags)
{
	int64_t q = parse_size(args[1]);
	if (q < 0) {
		fprintf(stderr, "facteur: bad size '%s' (e.g. 0, 500M, 2G)\n", args[1]);
		return CLI_EXIT_USAGE;
	}
	const char *err = NULL;
	int r = store_account_set_quota(s, args[0], q, &err);
	if (r == 0)
		printf("quota of %s set to %lld bytes%s\n", args[0], (long long)q,
		       q == 0 ? " (unlimited)" : "");
	return report(r, err);
}

/* A per-hour sending limit: a count, 0 (unlimited) or "default" (-1). -2 if bad. */
static int64_t parse_limit(const char *arg)
{
	if (strcmp(arg, "default") == 0)
		return -1;
	char *end;
	errno = 0;
	long long n = strtoll(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < 0 || n > 100000000)
		return -2;
	return n;
}

static void print_limit(const char *what, int64_t v)
{
	if (v < 0)
		printf(" %s=default", what);
	else if (v == 0)
		printf(" %s=unlimited", what);
	else
		printf(" %s=%lld/hour", what, (long long)v);
}

static int user_limit(struct store *s, char **args, int flags)
{
	int64_t m = parse_limit(args[1]), r = parse_limit(args[2]);
	if (m < -1 || r < -1) {
		fprintf(stderr,
			"facteur: bad limit (a number per hour, 0 = unlimited, or default)\n");
		return CLI_EXIT_USAGE;
	}
	const char *err = NULL;
	int ret = store_account_set_limits(s, args[0], m, r, &err);
	if (ret == 0) {
		printf("sending limits of %s:", args[0]);
		print_limit("messages", m);
		print_limit("recipients", r);
		printf("\n");
	}
	return report(ret, err);
}

static void print_account(void *ctx, const struct store_account *a)
{
	printf("%-40s used=%lld quota=%lld\n", a->address, (long long)a->used_bytes,
	       (long long)a->quota_bytes);
}

static int user_list(struct store *s, char **args, int flags)
{
	return report(store_account_list(s, print_account, NULL), "cannot list users");
}

static const struct action user_actions[] = {
	{"add", 1, user_add, "add ADDRESS [--password-stdin]   (else a password is generated)"},
	{"passwd", 1, user_passwd, "passwd ADDRESS [--password-stdin]"},
	{"remove", 1, user_remove, "remove ADDRESS"},
	{"quota", 2, user_quota, "quota ADDRESS SIZE   (bytes, or 500M, 2G; 0 = unlimited)"},
	{"limit", 3, user_limit,
	 "limit ADDRESS MESSAGES RECIPIENTS   (sent per hour; 0 = unlimited, default = the "
	 "configuration's)"},
	{"list", 0, user_list, "list"},
};

int cli_user(int argc, char **argv)
{
	return dispatch("user", user_actions, sizeof(user_actions) / sizeof(user_actions[0]), argc,
			argv);
}

/* --- alias ------------------------------------------------------------- */
static int alias_add(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_alias_add(s, args[0], args[1], &err);
	if (r == 0)
		printf("alias %s -> %s added\n", args[0], args[1]);
	return report(r, err);
}

static int alias_remove(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_alias_remove(s, args[0], args[1], &err);
	if (r == 0)
		printf("alias %s -> %s removed\n", args[0], args[1]);
	return report(r, err);
}

static void print_alias(void *ctx, const char *source, const char *target)
{
	printf("%s -> %s\n", source, target);
}

static int alias_list(struct store *s, char **args, int flags)
{
	return report(store_alias_list(s, print_alias, NULL), "cannot list aliases");
}

static const struct action alias_actions[] = {
	{"add", 2, alias_add,
	 "add SOURCE TARGET   (SOURCE is user@domain, or @domain for a catch-all)"},
	{"remove", 2, alias_remove, "remove SOURCE TARGET"},
	{"list", 0, alias_list, "list"},
};

int cli_alias(int argc, char **argv)
{
	return dispatch("alias", alias_actions, 3, argc, argv);
}

/* --- queue ------------------------------------------------------------- */
static void print_queue(void *ctx, const struct store_queue_entry *e)
{
	char when[32];
	struct tm tm;
	gmtime_r(&e->queued_at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%lld %s <%s> -> <%s> attempts=%d%s%s%s%s\n", (long long)e->id, when, e->sender,
	       e->recipient, e->attempts, *e->submitter ? " by=" : "", e->submitter,
	       *e->last_error ? " error=" : "", e->last_error);
}

static int queue_list(struct store *s, char **args, int flags)
{
	return report(store_queue_list(s, print_queue, NULL), "cannot list the queue");
}

static int queue_id(const char *arg, int64_t *id_r)
{
	char *end;
	long long id = strtoll(arg, &end, 10);
	if (*end != '\0' || id <= 0) {
		fprintf(stderr, "facteur: bad queue id '%s'\n", arg);
		return -1;
	}
	*id_r = id;
	return 0;
}

static int queue_delete(struct store *s, char **args, int flags)
{
	int64_t id;
	if (queue_id(args[0], &id) < 0)
		return CLI_EXIT_USAGE;
	const char *err = NULL;
	return report(store_queue_delete(s, id, &err), err);
}

static void print_time(const char *label, time_t t)
{
	char when[32];
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s: %s\n", label, when);
}

static int queue_show(struct store *s, char **args, int flags)
{
	int64_t id;
	if (queue_id(args[0], &id) < 0)
		return CLI_EXIT_USAGE;
	struct store_queue_delivery d;
	int r = store_queue_get(s, id, &d);
	if (r <= 0)
		return report(-1, r == 0 ? "no such queue entry" : "cannot read the queue");
	printf("id: %lld\nsender: <%s>\nrecipient: <%s>\nsubmitted-by: %s\nblob: %s\n",
	       (long long)id, d.e.sender, d.e.recipient,
	       *d.e.submitter ? d.e.submitter : "(none: relayed or a bounce)", d.e.blob_id);
	print_time("queued", d.e.queued_at);
	print_time("next-attempt", d.e.next_attempt);
	printf("attempts: %d\ndelay-notice-sent: %s\nlast-error: %s\n", d.e.attempts,
	       d.delay_notified ? "yes" : "no", d.e.last_error);
	return CLI_EXIT_OK;
}

/* A running daemon notices within a few seconds (it polls the queue). */
static int queue_reschedule(struct store *s, int64_t id)
{
	const char *err = NULL;
	int n = store_queue_reschedule(s, id, time(NULL), &err);
	if (n < 0)
		return report(-1, err);
	if (n == 0 && id != 0)
		return report(-1, "no such queue entry");
	printf("%d entr%s due now\n", n, n == 1 ? "y" : "ies");
	return CLI_EXIT_OK;
}

static int queue_flush(struct store *s, char **args, int flags)
{
	return queue_reschedule(s, 0);
}

static int queue_retry(struct store *s, char **args, int flags)
{
	int64_t id;
	if (queue_id(args[0], &id) < 0)
		return CLI_EXIT_USAGE;
	return queue_reschedule(s, id);
}

/* Who has what in the queue: entries (one per recipient) and messages per submitter. */
struct queue_by {
	struct queue_by_row {
		char submitter[320];
		char last_blob[STORE_BLOB_ID_LEN + 1];
		size_t entries, messages;
	} * v;
	size_t n;
};

static void queue_by_add(void *ctx, const struct store_queue_entry *e)
{
	struct queue_by *q = ctx;
	size_t i = 0;
	while (i < q->n && strcmp(q->v[i].submitter, e->submitter) != 0)
		i++;
	if (i == q->n) {
		q->v = xrealloc(q->v, (q->n + 1) * sizeof(*q->v));
		memset(&q->v[i], 0, sizeof(q->v[i]));
		snprintf(q->v[i].submitter, sizeof(q->v[i].submitter), "%s", e->submitter);
		q->n++;
	}
	struct queue_by_row *r = &q->v[i];
	r->entries++;
	/* entries come in id order, a message's recipients one after another */
	if (strcmp(r->last_blob, e->blob_id) != 0)
		r->messages++;
	snprintf(r->last_blob, sizeof(r->last_blob), "%s", e->blob_id);
}

static int queue_senders(struct store *s, char **args, int flags)
{
	struct queue_by q = {0};
	int r = store_queue_list(s, queue_by_add, &q);
	for (size_t i = 0; r == 0 && i < q.n; i++)
		printf("%-40s messages=%zu recipients=%zu\n",
		       *q.v[i].submitter ? q.v[i].submitter : "(relayed or bounces)",
		       q.v[i].messages, q.v[i].entries);
	free(q.v);
	return report(r, "cannot list the queue");
}

static const struct action queue_actions[] = {
	{"list", 0, queue_list, "list"},
	{"senders", 0, queue_senders,
	 "senders               # queued messages per authenticated user"},
	{"show", 1, queue_show, "show ID"},
	{"flush", 0, queue_flush, "flush                 # every entry due now"},
	{"retry", 1, queue_retry, "retry ID              # this entry due now"},
	{"delete", 1, queue_delete, "delete ID"},
};

int cli_queue(int argc, char **argv)
{
	return dispatch("queue", queue_actions, sizeof(queue_actions) / sizeof(queue_actions[0]),
			argc, argv);
}

/* --- shared and public folders (issue 8 part 1; store-acl.c) ---------- */

/* OWNER is an account address, or a domain for its public folders. */
static int owner_mailbox(struct store *s, const char *owner, const char *name,
			 struct store_mailbox *mb_r)
{
	int64_t id;
	const char *error = NULL;
	int r;
	if (strchr(owner, '@') == NULL) {
		r = store_public_owner(s, owner, false, &id, &error);
	} else {
		struct store_account a;
		r = store_account_get(s, owner, &a);
		id = a.id;
	}
	if (r <= 0) {
		fprintf(stderr, "facteur: %s\n", r < 0 ? "database error" : "no such owner");
		return -1;
	}
	if ((r = store_mailbox_get(s, id, name, mb_r)) <= 0) {
		fprintf(stderr, "facteur: %s\n", r < 0 ? "database error" : "no such mailbox");
		return -1;
	}
	return 0;
}

static int acl_set(struct store *s, char **args, int flags)
{
	struct store_mailbox mb;
	uint32_t rights = 0;
	const char *err = NULL;
	if (strcmp(args[3], "none") != 0 && store_rights_parse(args[3], &rights) < 0) {
		fprintf(stderr, "facteur: invalid rights %s (RFC 4314 letters: lrswipkxtea)\n",
			args[3]);
		return CLI_EXIT_USAGE;
	}
	if (owner_mailbox(s, args[0], args[1], &mb) < 0)
		return CLI_EXIT_FAIL;
	int r = store_acl_set(s, mb.id, args[2], rights, &err);
	if (r == 0) {
		char text[16];
		store_rights_format(rights, text);
		printf("%s %s: %s has \"%s\"\n", args[0], args[1], args[2], text);
	}
	return report(r, err);
}

static void print_acl(void *ctx, const char *owner, const char *mailbox, const char *identifier,
		      uint32_t rights)
{
	char text[16];
	store_rights_format(rights, text);
	printf("%s %s %s %s\n", owner[0] == '@' ? owner + 1 : owner, mailbox, identifier, text);
}

static int acl_list(struct store *s, char **args, int flags)
{
	return report(store_acl_all(s, print_acl, NULL), "cannot list grants");
}

static const struct action acl_actions[] = {
	{"list", 0, acl_list, "list                      # OWNER MAILBOX GRANTEE RIGHTS"},
	{"set", 4, acl_set,
	 "set OWNER MAILBOX USER RIGHTS   (OWNER: an address, or a domain for its public "
	 "folders; USER: an address, anyone or authenticated; RIGHTS: lrswipkxtea, none)"},
};

int cli_acl(int argc, char **argv)
{
	return dispatch("acl", acl_actions, sizeof(acl_actions) / sizeof(acl_actions[0]), argc,
			argv);
}

/* facteur share OWNER MAILBOX USER RIGHTS = facteur acl set ... */
int cli_share(int argc, char **argv)
{
	char **v = xcalloc((size_t)argc + 2, sizeof(*v));
	v[0] = argv[0];
	v[1] = (char *)"set";
	for (int i = 1; i < argc; i++)
		v[i + 1] = argv[i];
	int r = dispatch("acl", acl_actions, sizeof(acl_actions) / sizeof(acl_actions[0]), argc + 1,
			 v);
	free(v);
	return r;
}

static int public_create(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_public_create(s, args[0], args[1], NULL, &err);
	if (r == 0)
		printf("public folder %s of %s created\n", args[1], args[0]);
	return report(r, err);
}

static int public_address(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_public_create(s, args[0], args[1], args[2], &err);
	if (r == 0)
		printf("public folder %s of %s created, mail to %s goes there\n", args[1], args[0],
		       args[2]);
	return report(r, err);
}

static int public_delete(struct store *s, char **args, int flags)
{
	const char *err = NULL;
	int r = store_public_delete(s, args[0], args[1], &err);
	if (r == 0)
		printf("public folder %s of %s deleted\n", args[1], args[0]);
	return report(r, err);
}

static void print_public(void *ctx, const char *domain, const char *name, const char *address)
{
	printf("%s %s%s%s\n", domain, name, address[0] != '\0' ? " " : "", address);
}

static int public_list(struct store *s, char **args, int flags)
{
	return report(store_public_list(s, args[0], print_public, NULL),
		      "cannot list public folders");
}

static const struct action public_actions[] = {
	{"create", 2, public_create, "create DOMAIN NAME"},
	{"create-address", 3, public_address,
	 "create-address DOMAIN NAME ADDRESS   (mail to ADDRESS, or to aliases of it, is "
	 "delivered into the folder)"},
	{"delete", 2, public_delete, "delete DOMAIN NAME"},
	{"list", 1, public_list, "list DOMAIN"},
};

int cli_public(int argc, char **argv)
{
	return dispatch("public", public_actions,
			sizeof(public_actions) / sizeof(public_actions[0]), argc, argv);
}

/* --- sieve ------------------------------------------------------------- */
static int sieve_account(struct store *s, const char *user, int64_t *id_r)
{
	struct store_account a;
	int r = store_account_get(s, user, &a);
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	explicit_bzero(a.scram, sizeof(a.scram));
	if (r <= 0) {
		fprintf(stderr, "facteur: %s\n", r < 0 ? "cannot read the store" : "no such user");
		return -1;
	}
	*id_r = a.id;
	return 0;
}

/* The whole of path ("-": standard input), at most SIEVE_SCRIPT_MAX + 1 bytes. */
static char *read_script(const char *path, size_t *len_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "facteur: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char *buf = xmalloc(SIEVE_SCRIPT_MAX + 2);
	size_t n = fread(buf, 1, SIEVE_SCRIPT_MAX + 1, f);
	bool bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad) {
		fprintf(stderr, "facteur: %s: read error\n", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

static int sieve_put(struct store *s, char **args, int flags)
{
	int64_t id;
	size_t len;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	char *src = read_script(args[2], &len);
	if (src == NULL)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	int r = sieve_store_put(s, id, args[1], src, len, &err);
	free(src);
	if (r == 0)
		printf("script %s stored for %s\n", args[1], args[0]);
	return report(r, err);
}

static int sieve_get(struct store *s, char **args, int flags)
{
	int64_t id;
	char *src = NULL;
	size_t len;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	int r = store_sieve_get(s, id, args[1], &src, &len, NULL);
	if (r <= 0)
		return report(-1, r == 0 ? "no such script" : "cannot read the store");
	fwrite(src, 1, len, stdout);
	free(src);
	return CLI_EXIT_OK;
}

static void print_sieve(void *ctx, const struct store_sieve_info *i)
{
	printf("%s%s\n", i->name, i->active ? " ACTIVE" : "");
}

static int sieve_list(struct store *s, char **args, int flags)
{
	int64_t id;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	return report(store_sieve_list(s, id, print_sieve, NULL), "cannot list scripts");
}

static int sieve_activate(struct store *s, char **args, int flags)
{
	int64_t id;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	int r = store_sieve_activate(s, id, args[1], &err);
	return report(r == 0 ? -1 : r, r == 0 ? "no such script" : err);
}

static int sieve_deactivate(struct store *s, char **args, int flags)
{
	int64_t id;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	return report(store_sieve_activate(s, id, NULL, &err), err);
}

static int sieve_delete(struct store *s, char **args, int flags)
{
	int64_t id;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	int r = store_sieve_delete(s, id, args[1], &err);
	return report(r == 0 ? -1 : r, r == 0 ? "no such script" : err);
}

static int sieve_rename(struct store *s, char **args, int flags)
{
	int64_t id;
	if (sieve_account(s, args[0], &id) < 0)
		return CLI_EXIT_FAIL;
	const char *err = NULL;
	int r = store_sieve_rename(s, id, args[1], args[2], &err);
	return report(r == 0 ? -1 : r, r == 0 ? "no such script" : err);
}

static int sieve_check(struct store *s, char **args, int flags)
{
	size_t len;
	char *src = read_script(args[0], &len);
	if (src == NULL)
		return CLI_EXIT_FAIL;
	struct sieve_script *sc = NULL;
	const char *err = NULL;
	int r = sieve_compile(src, len, &sc, &err);
	sieve_script_free(&sc);
	free(src);
	if (r == 0)
		printf("%s: ok\n", args[0]);
	return report(r, err);
}

static const struct action sieve_actions[] = {
	{"put", 3, sieve_put, "put USER NAME FILE   (FILE '-' reads standard input)"},
	{"get", 2, sieve_get, "get USER NAME"},
	{"list", 1, sieve_list, "list USER"},
	{"activate", 2, sieve_activate, "activate USER NAME"},
	{"deactivate", 1, sieve_deactivate, "deactivate USER"},
	{"delete", 2, sieve_delete, "delete USER NAME   (not the active script)"},
	{"rename", 3, sieve_rename, "rename USER OLD NEW"},
	{"check", 1, sieve_check, "check FILE"},
};

int cli_sieve(int argc, char **argv)
{
	return dispatch("sieve", sieve_actions, sizeof(sieve_actions) / sizeof(sieve_actions[0]),
			argc, argv);
}
