/* SPDX-License-Identifier: MIT */
/*
 * `facteur init`: everything a first run needs, in one directory: a
 * configuration file on the embedded default (SQLite store, unprivileged
 * ports on loopback), a self-signed certificate, the store with one
 * domain and a demo account whose generated password is printed once.
 */
#include "auth/auth.h"
#include "cli/cli.h"
#include "lib/util.h"
#include "net/net.h"
#include "store/store.h"

#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct init_opts {
	const char *dir;
	const char *domain;
	const char *hostname;
	const char *address;
	bool standard_ports;
	bool force;
};

static const char init_usage[] =
	"usage: facteur init [--dir DIR] [--domain DOMAIN] [--hostname NAME]\n"
	"                    [--address IP] [--standard-ports] [--force]\n\n"
	"Creates DIR (default ./facteur) with facteur.conf, a self-signed\n"
	"certificate in DIR/tls, the store in DIR/data, the domain (default\n"
	"example.test) and the account demo@DOMAIN with a generated password.\n"
	"Listeners bind IP (default 127.0.0.1) on unprivileged ports (2525 SMTP,\n"
	"2587 submission, 2465 submissions, 2110 POP3, 2995 POP3S, 2143 IMAP,\n"
	"2993 IMAPS, 8080 HTTP, 8443 HTTPS, 24190 ManageSieve) unless\n"
	"--standard-ports (25, 587, 465, 110, 995, 143, 993, 80, 443, 4190; needs root).\n"
	"Then: facteur -c DIR/facteur.conf serve\n";
static int parse_opts(int argc, char **argv, struct init_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--dir") == 0)
			slot = &o->dir;
		else if (strcmp(a, "--domain") == 0)
			slot = &o->domain;
		else if (strcmp(a, "--hostname") == 0)
			slot = &o->hostname;
		else if (strcmp(a, "--address") == 0)
			slot = &o->address;
		else if (strcmp(a, "--standard-ports") == 0)
			o->standard_ports = true;
		else if (strcmp(a, "--force") == 0)
			o->force = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(init_usage, stdout);
			return 1;
		} else {
			fprintf(stderr, "facteur init: unknown argument %s\n%s", a, init_usage);
			return -1;
		}
		if (slot != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "facteur init: %s needs a value\n", a);
				return -1;
			}
			*slot = argv[++i];
		}
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "facteur: cannot create %s: %s\n", path, strerror(errno));
	return -1;
}

/* smtp, submission, submissions, pop3, pop3s, imap, imaps, http, https, managesieve */
static const int *init_ports(bool standard)
{
	static const int std_ports[] = {25, 587, 465, 110, 995, 143, 993, 80, 443, 4190};
	static const int embedded_ports[] = {2525, 2587, 2465, 2110, 2995,
					     2143, 2993, 8080, 8443, 24190};
	return standard ? std_ports : embedded_ports;
}

/* When init runs as root and the 'facteur' system user exists (the setup
 * script creates it), the daemon drops to it: it must own its files. */
static const struct passwd *run_as_user(void)
{
	return geteuid() == 0 ? getpwnam("facteur") : NULL;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

static int chown_tree(const char *dir)
{
	const struct passwd *pw = run_as_user();
	if (pw == NULL)
		return 0;
	chown_uid = pw->pw_uid;
	chown_gid = pw->pw_gid;
	if (nftw(dir, chown_one, 16, FTW_PHYS) < 0) {
		fprintf(stderr, "facteur: chown %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_config(const char *path, const struct init_opts *o, const char *dir)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "facteur: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	const int *p = init_ports(o->standard_ports);
	fprintf(f,
		"# facteur configuration, written by 'facteur init'.\n"
		"# Every key is described in docs/CONFIGURATION.md.\n"
		"hostname = %s\n"
		"data_dir = %s/data\n"
		"tls_cert = %s/tls/cert.pem\n"
		"tls_key = %s/tls/key.pem\n"
		"%s"
		"listen.smtp = %s:%d\n"
		"listen.submission = %s:%d\n"
		"listen.submissions = %s:%d\n"
		"listen.pop3 = %s:%d\n"
		"listen.pop3s = %s:%d\n"
		"listen.imap = %s:%d\n"
		"listen.imaps = %s:%d\n"
		"listen.http = %s:%d\n"
		"listen.https = %s:%d\n"
		"listen.managesieve = %s:%d\n"
		"max_message_size = 50M\n"
		"plaintext_auth = loopback\n"
		"postmaster_address = postmaster@%s\n"
		"# Spam and virus filtering with rspamd (docs/CONFIGURATION.md):\n"
		"# rspamd_url = http://127.0.0.1:11333\n"
		"# rspamd_controller_url = http://127.0.0.1:11334\n"
		"# rspamd_password_file =\n"
		"# rspamd_timeout = 10\n"
		"# rspamd_fail = open\n",
		o->hostname, dir, dir, dir, run_as_user() ? "user = facteur\n" : "", o->address,
		p[0], o->address, p[1], o->address, p[2], o->address, p[3], o->address, p[4],
		o->address, p[5], o->address, p[6], o->address, p[7], o->address, p[8], o->address,
		p[9], o->domain);
	int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	fclose(f);
	return ok ? 0 : -1;
}

/*
 * postmaster@DOMAIN (RFC 5321 4.5.1, and where <postmaster> goes) -> the
 * demo account, unless that address already reaches someone.
 */
static int init_postmaster(struct store *s, const char *domain, const char *target,
			   const char **error_r)
{
	char pm[320];
	int64_t ids[8];
	size_t n = 0;
	snprintf(pm, sizeof(pm), "postmaster@%s", domain);
	if (store_resolve(s, pm, ids, &n, NULL, NULL, 8) == 1)
		return 0;
	return store_alias_add(s, pm, target, error_r);
}

static int create_store(const char *data_dir, const char *domain, char *pw, size_t pwsz)
{
	struct store *s = NULL;
	const char *err = NULL;
	if (store_open(data_dir, &s, &err) < 0) {
		fprintf(stderr, "facteur: store %s: %s\n", data_dir, err);
		return -1;
	}
	char address[320], hash[AUTH_HASH_MAX];
	snprintf(address, sizeof(address), "demo@%s", domain);
	random_token(pw, pwsz - 1 < 20 ? pwsz - 1 : 20);
	int ret = -1;
	if (store_domain_exists(s, domain) != 1 && store_domain_add(s, domain, &err) < 0)
		fprintf(stderr, "facteur: %s\n", err);
	else if (auth_password_hash(pw, hash, sizeof(hash)) < 0)
		fprintf(stderr, "facteur: password hashing failed\n");
	else if (store_account_get(s, address, &(struct store_account){0}) == 1 &&
		 store_account_set_password(s, address, hash, &err) < 0)
		fprintf(stderr, "facteur: %s\n", err);
	else if (store_account_get(s, address, &(struct store_account){0}) != 1 &&
		 store_account_add(s, address, hash, NULL, &err) < 0)
		fprintf(stderr, "facteur: %s\n", err);
	else if (auth_scram_store(s, address, pw, &err) < 0)
		fprintf(stderr, "facteur: %s\n", err);
	else if (init_postmaster(s, domain, address, &err) < 0)
		fprintf(stderr, "facteur: postmaster alias: %s\n", err);
	else
		ret = 0;
	store_close(&s);
	return ret;
}

int cli_init(int argc, char **argv)
{
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	struct init_opts o = {.dir = "facteur",
			      .domain = "example.test",
			      .hostname = host,
			      .address = "127.0.0.1"};
	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (mkdir_p(o.dir, 0750) < 0)
		return CLI_EXIT_FAIL;
	char dir[PATH_MAX];
	if (realpath(o.dir, dir) == NULL) {
		fprintf(stderr, "facteur: %s: %s\n", o.dir, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	char *conf = xasprintf("%s/facteur.conf", dir);
	char *tls = xasprintf("%s/tls", dir);
	char *cert = xasprintf("%s/tls/cert.pem", dir);
	char *key = xasprintf("%s/tls/key.pem", dir);
	char *data = xasprintf("%s/data", dir);
	char pw[64];
	int ret = CLI_EXIT_FAIL;
	char *err = NULL;
	if (access(conf, F_OK) == 0 && !o.force) {
		fprintf(stderr, "facteur: %s exists (use --force to overwrite)\n", conf);
		goto out;
	}
	if (mkdir_p(tls, 0750) < 0 || write_config(conf, &o, dir) < 0)
		goto out;
	if (net_tls_make_self_signed(o.hostname, cert, key, &err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		free(err);
		goto out;
	}
	if (create_store(data, o.domain, pw, sizeof(pw)) < 0 || chown_tree(dir) < 0)
		goto out;
	const int *p = init_ports(o.standard_ports);
	/* Clients check the certificate against the name they were given:
	 * print one that it carries (localhost, or the host name). */
	const char *server = o.address;
	if (strcmp(o.address, "127.0.0.1") == 0 || strcmp(o.address, "::1") == 0)
		server = "localhost";
	else if (strcmp(o.address, "0.0.0.0") == 0 || strcmp(o.address, "::") == 0)
		server = o.hostname;
	bool v6 = strchr(server, ':') != NULL; /* an IPv6 literal goes in brackets */
	char web[320];
	if (p[8] == 443)
		snprintf(web, sizeof(web), "https://%s%s%s/", v6 ? "[" : "", server, v6 ? "]" : "");
	else
		snprintf(web, sizeof(web), "https://%s%s%s:%d/", v6 ? "[" : "", server,
			 v6 ? "]" : "", p[8]);
	printf("facteur initialised in %s\n\n"
	       "  start:       facteur -c %s serve\n"
	       "  account:     demo@%s\n"
	       "  password:    %s\n"
	       "  SMTP (MX):   %s port %d (STARTTLS)\n"
	       "  submission:  %s port %d (STARTTLS) and %d (TLS)\n"
	       "  POP3:        %s port %d (STLS) and %d (TLS)\n"
	       "  IMAP:        %s port %d (STARTTLS) and %d (TLS)\n"
	       "  ManageSieve: %s port %d (STARTTLS)\n"
	       "  webmail:     %s (plain HTTP: port %d)\n"
	       "  certificate: self-signed, %s\n",
	       dir, conf, o.domain, pw, server, p[0], server, p[1], p[2], server, p[3], p[4],
	       server, p[5], p[6], server, p[9], web, p[7], cert);
	ret = CLI_EXIT_OK;
out:
	explicit_bzero(pw, sizeof(pw));
	free(conf);
	free(tls);
	free(cert);
	free(key);
	free(data);
	return ret;
}
