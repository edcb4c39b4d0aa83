/* SPDX-License-Identifier: MIT */
/*
 * Entry point: global options, then dispatch to a subcommand. Kept out of
 * libfacteur.a so that unit tests can link every module without a main.
 */
#include "cli/cli.h"
#include "mime/mime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FACTEUR_VERSION
#define FACTEUR_VERSION "0.1.0"
#endif

const char *cli_config_path = "/etc/facteur/facteur.conf";

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{"init", cli_init, "create a configuration, certificate, store, domain and demo account"},
	{"serve", cli_serve, "run the daemon (every listener in one process)"},
	{"check-config", cli_check_config, "validate the configuration file"},
	{"check-store", cli_check_store, "check (and with --repair, fix) the store's consistency"},
	{"domain", cli_domain, "add, list or remove local domains"},
	{"user", cli_user, "add, list, remove users; set passwords and quotas"},
	{"alias", cli_alias, "add, list or remove aliases (user@domain or @domain)"},
	{"share", cli_share, "grant a user rights on a mailbox (OWNER MAILBOX USER RIGHTS)"},
	{"public", cli_public, "create, delete or list the public folders of a domain"},
	{"acl", cli_acl, "list or set mailbox access rights (RFC 4314)"},
	{"queue", cli_queue, "list, show, flush, retry or delete queued outbound messages"},
	{"sieve", cli_sieve, "put, get, list, activate or delete a user's Sieve scripts"},
	{"dkim", cli_dkim, "generate, list and activate DKIM signing keys"},
	{"dns-records", cli_dns_records, "print the MX, SPF, DKIM and DMARC records of a domain"},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: facteur [-c CONFIG] COMMAND [ARGS]\n\n"
		"facteur is an all-in-one mail server (SMTP, submission, POP3, IMAP).\n\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-14s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f,
		"\noptions:\n"
		"  -c, --config FILE  configuration file (default: $FACTEUR_CONFIG or\n"
		"                     /etc/facteur/facteur.conf)\n"
		"  -h, --help         this help; 'facteur COMMAND --help' for a command\n"
		"  --version          print the version\n");
}

int main(int argc, char **argv)
{
	const char *env = getenv("FACTEUR_CONFIG");
	if (env != NULL && *env != '\0')
		cli_config_path = env;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "facteur: %s needs a file\n", argv[i]);
				return CLI_EXIT_USAGE;
			}
			cli_config_path = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("facteur %s\n", FACTEUR_VERSION);
			return CLI_EXIT_OK;
		} else {
			fprintf(stderr, "facteur: unknown option %s\n", argv[i]);
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t k = 0; k < sizeof(subcommands) / sizeof(subcommands[0]); k++) {
		if (strcmp(argv[i], subcommands[k].name) == 0) {
			mime_init();
			int ret = subcommands[k].run(argc - i, argv + i);
			mime_deinit();
			return ret;
		}
	}
	fprintf(stderr, "facteur: unknown command '%s' (see facteur --help)\n", argv[i]);
	return CLI_EXIT_USAGE;
}
