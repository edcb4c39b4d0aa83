/* SPDX-License-Identifier: MIT */
/*
 * `facteur dkim` (generate, list, activate, records) and `facteur
 * dns-records`: the administration of DKIM keys under data_dir/dkim and the
 * DNS records a domain must publish (MX, SPF, DKIM, DMARC). Key rotation
 * without downtime: `dkim generate DOMAIN --selector NEW`, publish the
 * printed records, wait for the DNS, `dkim activate DOMAIN NEW`; a running
 * daemon signs with the new selector from the next message on. Run these
 * as the daemon's user (or fix the owner afterwards): the keys are 0600.
 */
#include "cli/cli.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/util.h"
#include "mailauth/mailauth.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void dkim_usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  facteur dkim generate DOMAIN [--selector S]  new RSA-2048 and Ed25519 keys;\n"
		"                                               prints their DNS TXT records\n"
		"  facteur dkim list                            every domain's selectors\n"
		"  facteur dkim activate DOMAIN SELECTOR        sign with SELECTOR from now on\n"
		"  facteur dkim records DOMAIN [SELECTOR]       the TXT records (default: "
		"active)\n");
}

/* The domain must be one of ours: keys for a typo help nobody. */
static int check_domain(const char *domain)
{
	struct config cfg;
	struct store *s = NULL;
	if (cli_open_store(&cfg, &s) < 0)
		return -1;
	int r = store_domain_exists(s, domain);
	store_close(&s);
	config_deinit(&cfg);
	if (r <= 0) {
		fprintf(stderr, "facteur: %s is not a local domain (facteur domain add %s)\n",
			domain, domain);
		return -1;
	}
	return 0;
}

static int print_records(const char *data_dir, const char *domain, const char *selector)
{
	struct buf out;
	buf_init(&out);
	int n = mailauth_keys_dns_records(data_dir, domain, selector, &out);
	if (n > 0)
		fputs(buf_cstr(&out), stdout);
	buf_deinit(&out);
	return n;
}

static int dkim_generate(const struct config *cfg, char **pos, int npos, const char *selector)
{
	if (npos != 1)
		return -2;
	char def[32];
	if (selector == NULL) {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		snprintf(def, sizeof(def), "f%04d%02d", tm.tm_year + 1900, tm.tm_mon + 1);
		selector = def;
	}
	char dom[256];
	snprintf(dom, sizeof(dom), "%s", pos[0]);
	str_lower(dom);
	if (check_domain(dom) < 0)
		return -1;
	char *err = NULL;
	if (mailauth_keys_generate(cfg->data_dir, dom, selector, &err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		free(err);
		return -1;
	}
	char active[64] = "";
	mailauth_keys_active(cfg->data_dir, dom, active, sizeof(active));
	printf("; DKIM keys for %s, selector %s%s. Publish:\n", dom, selector,
	       strcmp(active, selector) == 0 ? " (active)"
					     : " (not active yet: facteur dkim activate)");
	return print_records(cfg->data_dir, dom, selector) > 0 ? 0 : -1;
}

static void list_cb(void *ctx, const char *domain, const char *selector, bool rsa, bool ed,
		    bool active)
{
	printf("%-30s %-16s %s%s%s\n", domain, selector, rsa ? "rsa " : "", ed ? "ed25519" : "",
	       active ? " (active)" : "");
}

static int dkim_activate(const struct config *cfg, char **pos, int npos)
{
	if (npos != 2)
		return -2;
	char *err = NULL;
	if (mailauth_keys_activate(cfg->data_dir, pos[0], pos[1], &err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		free(err);
		return -1;
	}
	printf("%s now signs with selector %s\n", pos[0], pos[1]);
	return 0;
}

static int dkim_records(const struct config *cfg, char **pos, int npos)
{
	if (npos < 1 || npos > 2)
		return -2;
	char sel[64];
	if (npos == 2) {
		snprintf(sel, sizeof(sel), "%s", pos[1]);
	} else if (mailauth_keys_active(cfg->data_dir, pos[0], sel, sizeof(sel)) <= 0) {
		fprintf(stderr, "facteur: %s has no active DKIM selector\n", pos[0]);
		return -1;
	}
	if (print_records(cfg->data_dir, pos[0], sel) <= 0) {
		fprintf(stderr, "facteur: no keys for selector %s of %s\n", sel, pos[0]);
		return -1;
	}
	return 0;
}

int cli_dkim(int argc, char **argv)
{
	char *pos[4];
	int npos = 0;
	const char *selector = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			dkim_usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc) {
			selector = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "facteur dkim: unknown option %s\n", argv[i]);
			return CLI_EXIT_USAGE;
		} else if (npos < 4) {
			pos[npos++] = argv[i];
		} else {
			dkim_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (npos == 0) {
		dkim_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	struct config cfg;
	if (cli_load_config(&cfg) < 0)
		return CLI_EXIT_FAIL;
	int r = -2;
	if (strcmp(pos[0], "generate") == 0)
		r = dkim_generate(&cfg, pos + 1, npos - 1, selector);
	else if (strcmp(pos[0], "list") == 0 && npos == 1)
		r = mailauth_keys_list(cfg.data_dir, list_cb, NULL);
	else if (strcmp(pos[0], "activate") == 0)
		r = dkim_activate(&cfg, pos + 1, npos - 1);
	else if (strcmp(pos[0], "records") == 0)
		r = dkim_records(&cfg, pos + 1, npos - 1);
	config_deinit(&cfg);
	if (r == -2) {
		dkim_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* The port of the first listener of kind, 0 when none is configured. */
static int listener_port(const struct config *cfg, enum listener_kind kind)
{
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].kind == kind)
			return cfg->listeners[i].port;
	return 0;
}

/*
 * RFC 6186 SRV records for mail clients (a target of "." says "not
 * offered"), the autodiscover SRV Outlook tries, and the names
 * Thunderbird and Outlook look up for their configuration documents.
 */
static void print_client_records(const struct config *cfg, const char *dom)
{
	static const struct {
		const char *service;
		enum listener_kind kind;
	} srv[] = {
		{"_submission", LISTENER_SUBMISSION},
		{"_submissions", LISTENER_SUBMISSIONS},
		{"_imap", LISTENER_IMAP},
		{"_imaps", LISTENER_IMAPS},
		{"_pop3", LISTENER_POP3},
		{"_pop3s", LISTENER_POP3S},
		{"_sieve", LISTENER_MANAGESIEVE}, /* RFC 5804 1.8 */
		{"_autodiscover", LISTENER_HTTPS},
	};
	printf("; Mail client auto-configuration (RFC 6186, autoconfig, autodiscover)\n");
	for (size_t i = 0; i < sizeof(srv) / sizeof(srv[0]); i++) {
		int port = listener_port(cfg, srv[i].kind);
		if (port != 0)
			printf("%s._tcp.%s. IN SRV 0 1 %d %s.\n", srv[i].service, dom, port,
			       cfg->hostname);
		else
			printf("%s._tcp.%s. IN SRV 0 0 0 .\n", srv[i].service, dom);
	}
	printf("autoconfig.%s. IN CNAME %s.\n", dom, cfg->hostname);
	printf("autodiscover.%s. IN CNAME %s.\n", dom, cfg->hostname);
}

int cli_dns_records(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		bool help =
			argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		fprintf(help ? stdout : stderr,
			"usage: facteur dns-records DOMAIN\n\n"
			"Prints the MX, SPF, DKIM (active selector) and DMARC records to\n"
			"publish in DOMAIN's zone, in zone-file syntax, then the SRV\n"
			"records (RFC 6186) and autoconfig/autodiscover names that let\n"
			"mail clients configure themselves.\n");
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	char dom[256];
	snprintf(dom, sizeof(dom), "%s", argv[1]);
	str_lower(dom);
	if (!mailauth_name_valid(dom)) {
		fprintf(stderr, "facteur: invalid domain %s\n", argv[1]);
		return CLI_EXIT_USAGE;
	}
	if (check_domain(dom) < 0)
		return CLI_EXIT_FAIL;
	struct config cfg;
	if (cli_load_config(&cfg) < 0)
		return CLI_EXIT_FAIL;
	printf("; Records for %s (and an A/AAAA record for %s, this server)\n", dom, cfg.hostname);
	printf("%s. IN MX 10 %s.\n", dom, cfg.hostname);
	printf("%s. IN TXT \"v=spf1 mx -all\"\n", dom);
	char sel[64];
	if (mailauth_keys_active(cfg.data_dir, dom, sel, sizeof(sel)) <= 0 ||
	    print_records(cfg.data_dir, dom, sel) <= 0)
		printf("; no DKIM key yet: facteur dkim generate %s\n", dom);
	printf("_dmarc.%s. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"\n", dom,
	       dom);
	print_client_records(&cfg, dom);
	config_deinit(&cfg);
	return CLI_EXIT_OK;
}
