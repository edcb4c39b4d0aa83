/* SPDX-License-Identifier: MIT */
/*
 * `facteur check-store [--repair]`: run store_check over the configured
 * store and print one line per problem, then a summary. Exit status 0 when
 * the store is sound (or every problem was repaired), 1 when problems are
 * left (or the check could not run), 2 on a usage error, so scripts and
 * monitoring can rely on it.
 */
#include "cli/cli.h"
#include "lib/config.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static void check_print(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

int cli_check_store(int argc, char **argv)
{
	bool repair = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--repair") == 0) {
			repair = true;
		} else {
			FILE *f = strcmp(argv[i], "--help") == 0 ? stdout : stderr;
			fprintf(f,
				"usage: facteur check-store [--repair]\n\n"
				"Check the store: SQLite integrity and foreign keys, every blob "
				"file\n"
				"(present, size, SHA-256), UID and MODSEQ bounds, orphan blobs.\n"
				"--repair removes orphans and raises UIDNEXT/HIGHESTMODSEQ; what "
				"it\n"
				"cannot fix is reported. Exit 0 sound, 1 problems left.\n");
			return f == stdout ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	struct config cfg;
	struct store *s = NULL;
	/* Loads the configuration too (and frees it on failure). */
	if (cli_open_store(&cfg, &s) < 0)
		return CLI_EXIT_FAIL;
	struct store_check_result r;
	const char *error = NULL;
	int ret = store_check(s, repair, check_print, NULL, &r, &error);
	if (ret < 0)
		fprintf(stderr, "facteur: check-store: %s\n", error ? error : "failed");
	else
		printf("check-store: %u problem(s), %u repaired, %u left\n", r.problems, r.repaired,
		       r.unfixable);
	store_close(&s);
	config_deinit(&cfg);
	return ret < 0 || r.unfixable > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
