/* SPDX-License-Identifier: MIT */
/*
 * The shared unit-test fixtures declared in testutil.h: temporary store
 * directories, delivery through the MIME parser, and IMAP sessions driven
 * to completion. Written once here so that every test file sets up its
 * store and its sessions the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "imap/imap-private.h"
#include "mime/mime-store.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int tu_tmpdir(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/facteur-%s-XXXXXX", name);
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

void tu_rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* example.org, a@example.org (a hash nobody checks) and its INBOX id. */
static int add_account(struct store *store, int64_t *acc_r, int64_t *inbox_r, const char **error_r)
{
	if (store_domain_add(store, "example.org", error_r) < 0 ||
	    store_account_add(store, "a@example.org", "$argon2id$v=19$fake", acc_r, error_r) < 0)
		return -1;
	struct store_mailbox mb;
	if (store_mailbox_get(store, *acc_r, "INBOX", &mb) != 1) {
		*error_r = "no INBOX";
		return -1;
	}
	*inbox_r = mb.id;
	return 0;
}

int tu_store_open(const char *name, char *dir, size_t size, struct store **store_r, int64_t *acc_r,
		  int64_t *inbox_r)
{
	const char *error = NULL;
	if (tu_tmpdir(dir, size, name) < 0) {
		fprintf(stderr, "setup: mkdtemp %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (store_open(dir, store_r, &error) < 0 ||
	    (acc_r != NULL && add_account(*store_r, acc_r, inbox_r, &error) < 0)) {
		fprintf(stderr, "setup: %s\n", error);
		return -1;
	}
	return 0;
}

void tu_store_remove(const char *dir, struct store **store)
{
	store_close(store);
	tu_rmtree(dir);
}

struct tu_fixture *tu_fixture_create(const char *name, bool account)
{
	struct tu_fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	config_defaults(&f->config);
	if (tu_store_open(name, f->dir, sizeof(f->dir), &f->store, account ? &f->acc : NULL,
			  &f->inbox) < 0) {
		tu_fixture_destroy(&f);
		return NULL;
	}
	return f;
}

void tu_fixture_destroy(struct tu_fixture **fp)
{
	struct tu_fixture *f = *fp;
	if (f == NULL)
		return;
	config_deinit(&f->config);
	tu_store_remove(f->dir, &f->store);
	free(f);
	*fp = NULL;
}

int tu_teardown(void **state)
{
	struct tu_fixture *f = *state;
	tu_fixture_destroy(&f);
	return 0;
}

int tu_count_blobs(const char *dir)
{
	char path[256];
	int n = 0;

	snprintf(path, sizeof(path), "%s/blobs", dir);
	DIR *d = opendir(path);
	struct dirent *de;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		char sub[600];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		DIR *sd = opendir(sub);
		struct dirent *se;
		while (sd != NULL && (se = readdir(sd)) != NULL) {
			if (se->d_name[0] != '.')
				n++;
		}
		if (sd != NULL)
			closedir(sd);
	}
	closedir(d);
	return n;
}

uint32_t tu_deliver(struct tu_fixture *f, const char *mailbox, const char *msg, size_t len,
		    time_t when, uint32_t flags)
{
	struct mime_parsed mp;
	assert_int_equal(mime_parse(msg, len, &mp), 0);
	struct store_parsed sp = mime_store_parsed(&mp);
	uint32_t uid = 0;
	const char *error = NULL;
	assert_int_equal(store_deliver(f->store, msg, len, &sp, &f->acc, 1, mailbox, when, flags,
				       &uid, &error),
			 0);
	mime_parsed_free(&mp);
	struct store_mailbox mb;
	uint32_t first, end;
	if (!f->deliver_recent) {
		assert_int_equal(store_mailbox_get(f->store, f->acc,
						   mailbox != NULL ? mailbox : "INBOX", &mb),
				 1);
		assert_int_equal(store_mailbox_claim_recent(f->store, mb.id, uid + 1, true, &first,
							    &end, &error),
				 0);
	}
	return uid;
}

uint32_t tu_deliver_subject(struct tu_fixture *f, const char *mailbox, const char *subject,
			    uint32_t flags)
{
	char msg[512];
	snprintf(msg, sizeof(msg),
		 "From: <x@example.net>\r\nTo: <a@example.org>\r\nSubject: %s\r\n"
		 "Message-ID: <%s@example.net>\r\n\r\nHello.\r\n",
		 subject, subject);
	return tu_deliver(f, mailbox, msg, strlen(msg), 0, flags);
}

enum auth_result tu_fake_login(void *ctx, struct store *store, const char *ip, const char *user,
			       const char *password, struct store_account *account_r)
{
	(void)ctx, (void)ip;
	if (strcmp(password, "secret") != 0)
		return AUTH_FAILED;
	return store_account_get(store, user, account_r) == 1 ? AUTH_OK : AUTH_FAILED;
}

void tu_imap_open(struct tu_imap *x, struct tu_fixture *f, bool login, const char *select)
{
	struct imap_settings st = {
		.config = &f->config,
		.store = f->store,
		.session_id = "test",
		.peer_ip = "127.0.0.1",
		.peer_loopback = true,
		.login = tu_fake_login,
	};
	buf_init(&x->out);
	x->s = imap_session_create(&st, &x->out);
	if (login) {
		const char *r = tu_imap_cmd(x, "l LOGIN a@example.org secret\r\n");
		if (strstr(r, "l OK") == NULL)
			fail_msg("login: %s", r);
	}
	if (select != NULL) {
		const char *r = tu_imap_cmd(x, select);
		if (strstr(r, "s OK") == NULL)
			fail_msg("select: %s", r);
	}
}

const char *tu_imap_feed(struct tu_imap *x, const char *bytes, size_t len)
{
	buf_clear(&x->out);
	struct buf in;
	buf_init(&in);
	buf_append(&in, bytes, len);
	enum conn_result r = imap_session_input(x->s, &in, &x->out);
	while (r == CONN_MORE || r == CONN_YIELD)
		r = imap_session_resume(x->s, &x->out);
	buf_deinit(&in);
	return buf_cstr(&x->out);
}

const char *tu_imap_cmd(struct tu_imap *x, const char *line)
{
	return tu_imap_feed(x, line, strlen(line));
}

void tu_imap_close(struct tu_imap *x)
{
	imap_session_destroy(&x->s);
	buf_deinit(&x->out);
}

int tu_session_setup(void **state, const char *name)
{
	struct tu_session *f = calloc(1, sizeof(*f));
	f->t = tu_fixture_create(name, true);
	if (f->t == NULL) {
		free(f);
		return -1;
	}
	f->t->config.max_message_size = 1000000;
	tu_imap_open(&f->x, f->t, true, NULL);
	*state = f;
	return 0;
}

int tu_session_teardown(void **state)
{
	struct tu_session *f = *state;
	tu_imap_close(&f->x);
	tu_fixture_destroy(&f->t);
	free(f);
	return 0;
}
