/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the unit tests that need a real store or a real IMAP
 * session: a store in a fresh mkdtemp directory (optionally with the
 * domain example.org, the account a@example.org and its INBOX), removed
 * with everything below it afterwards; delivery of a message the way the
 * SMTP and APPEND paths do it (mime_parse, then store_deliver with every
 * parsed field); and an IMAP session fed command bytes and driven through
 * its continuations, its output collected. Compiled into every unit-test
 * binary by the Makefile. Include after <cmocka.h>.
 */
#ifndef FACTEUR_TESTUTIL_H
#define FACTEUR_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "store/store.h"

struct imap_session;

/* A store in its own directory; config holds config_defaults(). */
struct tu_fixture {
	char dir[64];
	struct config config;
	struct store *store;
	int64_t acc;   /* a@example.org, or 0 without an account */
	int64_t inbox; /* its INBOX */
	/*
	 * tu_deliver leaves messages \Recent (IMAP4rev1) for the first
	 * session that selects them only when true; otherwise it claims them
	 * itself, as if an earlier session had been shown them, so tests of
	 * other things need not expect \Recent everywhere.
	 */
	bool deliver_recent;
};

/* An IMAP session and everything it wrote in answer to the last feed. */
struct tu_imap {
	struct imap_session *s;
	struct buf out;
};

/* mkdtemp of /tmp/facteur-NAME-XXXXXX into dir. Returns 0 or -1. */
int tu_tmpdir(char *dir, size_t size, const char *name);

/* Remove dir and everything below it (links are not followed). */
void tu_rmtree(const char *dir);

/*
 * Open a store in a fresh tu_tmpdir(dir, size, name). With acc_r, also add
 * example.org and a@example.org (*acc_r) and set *inbox_r to its INBOX.
 * Returns 0, or -1 (said on stderr; dir may exist and need tu_rmtree).
 */
int tu_store_open(const char *name, char *dir, size_t size, struct store **store_r, int64_t *acc_r,
		  int64_t *inbox_r);

/* Close *store (NULL is fine) and remove dir with everything below it. */
void tu_store_remove(const char *dir, struct store **store);

/*
 * A new fixture: a temporary directory named after name, config defaults,
 * the store opened there and, when account is true, example.org,
 * a@example.org and its INBOX id. NULL on error (said on stderr).
 */
struct tu_fixture *tu_fixture_create(const char *name, bool account);

/* Close the store, remove the directory, free; *f is set to NULL. */
void tu_fixture_destroy(struct tu_fixture **f);

/* A cmocka teardown for a state holding a struct tu_fixture. */
int tu_teardown(void **state);

/* Number of blob files below dir/blobs (tmp/ excluded), -1 without it. */
int tu_count_blobs(const char *dir);

/*
 * Deliver msg to f's account (mailbox NULL: INBOX) through mime_parse
 * with every parsed field stored, internal date when, flags (\Recent
 * claimed unless f->deliver_recent). Fails the test on error; returns the
 * new UID.
 */
uint32_t tu_deliver(struct tu_fixture *f, const char *mailbox, const char *msg, size_t len,
		    time_t when, uint32_t flags);

/*
 * Deliver a small message from x@example.net whose Subject and
 * Message-ID local part are subject, internal date 0. Returns the UID.
 */
uint32_t tu_deliver_subject(struct tu_fixture *f, const char *mailbox, const char *subject,
			    uint32_t flags);

/* Password check of tu_imap sessions: any existing user, password "secret". */
enum auth_result tu_fake_login(void *ctx, struct store *store, const char *ip, const char *user,
			       const char *password, struct store_account *account_r);

/*
 * Open a loopback session on f's store and config (session id "test",
 * tu_fake_login). With login, "l LOGIN a@example.org secret" must succeed;
 * with select non-NULL, that command (tag "s") must succeed too.
 */
void tu_imap_open(struct tu_imap *x, struct tu_fixture *f, bool login, const char *select);

/*
 * Feed bytes in one fresh input buffer and drive CONN_MORE to completion.
 * Returns everything the session wrote (owned by x, valid until the next
 * feed).
 */
const char *tu_imap_feed(struct tu_imap *x, const char *bytes, size_t len);

/* tu_imap_feed of a NUL-terminated command. */
const char *tu_imap_cmd(struct tu_imap *x, const char *line);

void tu_imap_close(struct tu_imap *x);

/* A fixture with a store (a@example.org) and a session logged in as it. */
struct tu_session {
	struct tu_fixture *t;
	struct tu_imap x;
};

/*
 * cmocka setup/teardown bodies for struct tu_session in *state (config
 * max_message_size set to 1000000). setup returns 0 or -1.
 */
int tu_session_setup(void **state, const char *name);
int tu_session_teardown(void **state);

#define assert_has(hay, needle)                                                                    \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (strstr(h_, (needle)) == NULL)                                                  \
			fail_msg("expected \"%s\" in:\n%s", (needle), h_);                         \
	} while (0)
#define assert_lacks(hay, needle)                                                                  \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (strstr(h_, (needle)) != NULL)                                                  \
			fail_msg("did not expect \"%s\" in:\n%s", (needle), h_);                   \
	} while (0)

#endif
