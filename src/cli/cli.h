/* SPDX-License-Identifier: MIT */
/*
 * The facteur command line: one binary, git-style subcommands. Each
 * subcommand is a function taking argc/argv after its own name and
 * returning the process exit status (0 ok, 1 failure, 2 usage error).
 */
#ifndef FACTEUR_CLI_H
#define FACTEUR_CLI_H

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

struct config;
struct store;

/* The -c/--config path chosen globally (or the default). */
extern const char *cli_config_path;

int cli_init(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_check_config(int argc, char **argv);
int cli_domain(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_alias(int argc, char **argv);
int cli_queue(int argc, char **argv);
/* Shared and public folders (cli-admin.c). */
int cli_share(int argc, char **argv);
int cli_public(int argc, char **argv);
int cli_acl(int argc, char **argv);
int cli_dkim(int argc, char **argv);
int cli_dns_records(int argc, char **argv);
int cli_check_store(int argc, char **argv);
/* Sieve scripts per user (cli-admin.c). */
int cli_sieve(int argc, char **argv);

/* Load the configuration or print why not. Returns 0 or -1. */
int cli_load_config(struct config *cfg);
/* Load the configuration and open the store. Returns 0 or -1 (printed). */
int cli_open_store(struct config *cfg, struct store **store_r);

#endif
