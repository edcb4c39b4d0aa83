/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the IMAP reader and session. The first byte picks
 * the setting (loopback or not, STARTTLS offered, already logged in, a
 * mailbox already selected); the rest is fed twice: to a bare parser with
 * small caps (every command scanned and parsed, the seqset and mUTF-7
 * decoders run on every atom and string), and to a session, in pieces
 * whose sizes the input chooses, on a real store made once in a temporary
 * directory (the login "u"/"p" succeeds through a fake check, no argon2).
 * Checks the engine's contract: output after CONN_OK ends with a complete
 * line, nothing is read after CONN_CLOSE, and STARTTLS drops the rest.
 */
#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config cfg;
static struct store *store;
static int64_t account_id;
static char dir[] = "/tmp/facteur-fuzz-imap-XXXXXX";

static void cleanup(void)
{
	char cmd[128];
	store_close(&store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *err;
	static const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	struct store_parsed parsed = {0};
	log_set_level(LOG_ERROR);
	mime_init(); /* FETCH of sections parses MIME with GMime */
	config_defaults(&cfg);
	cfg.max_message_size = 64 * 1024;
	if (mkdtemp(dir) == NULL || store_open(dir, &store, &err) < 0 ||
	    store_domain_add(store, "example.org", &err) < 0 ||
	    store_account_add(store, "u@example.org", "$argon2id$x", &account_id, &err) < 0)
		abort();
	for (int i = 0; i < 3; i++) {
		if (store_deliver(store, msg, sizeof(msg) - 1, &parsed, &account_id, 1, NULL, 1000,
				  (uint32_t)i, NULL, &err) < 0)
			abort();
	}
	atexit(cleanup);
	return 0;
}

static enum auth_result fz_login(void *ctx, struct store *st, const char *ip, const char *user,
				 const char *password, struct store_account *account_r)
{
	if (strcmp(user, "t") == 0)
		return AUTH_ERROR;
	if (strcmp(user, "u") != 0 || strcmp(password, "p") != 0)
		return AUTH_FAILED;
	return store_account_get_by_id(st, account_id, account_r) == 1 ? AUTH_OK : AUTH_ERROR;
}

static void fuzz_decoders(const struct imap_arg *a)
{
	for (; a->type != IMAP_ARG_EOL; a++) {
		if (a->type == IMAP_ARG_LIST) {
			fuzz_decoders(a->list);
			continue;
		}
		struct imap_seqset set;
		const char *err;
		if (imap_seqset_parse(a->str, 100, &set, &err) == 0) {
			uint64_t pos = 0;
			uint32_t n;
			for (int i = 0; i < 1000 && imap_seqset_next(&set, &pos, &n); i++)
				if (!imap_seqset_contains(&set, n))
					abort();
			imap_seqset_free(&set);
		}
		struct buf b, back;
		buf_init(&b);
		buf_init(&back);
		if (memchr(a->str, '\0', a->len) == NULL && imap_utf7_to_utf8(a->str, &b) == 0) {
			/* Strict decoding means the encoding round-trips exactly. */
			if (imap_utf8_to_utf7(buf_cstr(&b), &back) < 0 ||
			    strcmp(buf_cstr(&back), a->str) != 0)
				abort();
		}
		buf_deinit(&b);
		buf_deinit(&back);
	}
}

static void fuzz_parser(const uint8_t *data, size_t size)
{
	const struct imap_parser_limits limits = {256, 512, 4096, 8192};
	struct imap_parser *p = imap_parser_create(&limits);
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	buf_append(&in, data, size);
	for (int guard = 0; guard < 100000; guard++) {
		enum imap_scan_result r = imap_parser_scan(p, &in, &out);
		if (r == IMAP_SCAN_MORE || r == IMAP_SCAN_FATAL)
			break;
		if (r == IMAP_SCAN_COMMAND) {
			const char *tag, *name, *err;
			const struct imap_arg *args;
			if (imap_parser_parse(p, &tag, &name, &args, &err) == 0)
				fuzz_decoders(args);
		}
	}
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&out);
}

static void check_output(const struct buf *out, enum conn_result r)
{
	if (r == CONN_OK && out->len > 0 && out->data[out->len - 1] != '\n')
		abort();
}

static void fuzz_session(uint8_t mode, const uint8_t *data, size_t size)
{
	struct imap_settings set = {
		.config = &cfg,
		.store = store,
		.session_id = "fuzz",
		.peer_ip = "127.0.0.1",
		.peer_loopback = (mode & 1) != 0,
		.tls_available = (mode & 2) != 0,
		.login = fz_login,
	};
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	struct imap_session *s = imap_session_create(&set, &out);
	if ((mode & 4) != 0) {
		struct store_account acc;
		if (store_account_get_by_id(store, account_id, &acc) == 1)
			imap_session_logged_in(s, &acc);
		struct store_mailbox mb;
		if ((mode & 8) != 0 && store_mailbox_get(store, account_id, "INBOX", &mb) == 1 &&
		    imap_view_load(store, &mb, (mode & 16) != 0, &s->view) == 0)
			imap_session_set_state(s, IMAP_STATE_SELECTED);
	}
	size_t off = 0;
	bool closed = false;
	while (off < size && !closed) {
		/* A chunk's size comes from its first byte. */
		size_t n = 1 + data[off] % 64;
		off++;
		if (n > size - off)
			n = size - off;
		buf_append(&in, data + off, n);
		off += n;
		buf_clear(&out);
		enum conn_result r = imap_session_input(s, &in, &out);
		for (int i = 0; r == CONN_MORE && i < 1000; i++)
			r = imap_session_resume(s, &out);
		check_output(&out, r);
		if (r == CONN_STARTTLS) {
			buf_clear(&in);
			imap_session_tls_started(s, &out);
		} else if (r == CONN_CLOSE) {
			size_t before = out.len;
			buf_append_str(&in, "z NOOP\r\n");
			if (imap_session_input(s, &in, &out) != CONN_CLOSE || out.len != before)
				abort();
			closed = true;
		}
	}
	if (!closed && (mode & 32) != 0)
		imap_session_timeout(s, &out);
	imap_session_destroy(&s);
	buf_deinit(&in);
	buf_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 65536)
		return 0;
	fuzz_parser(data + 1, size - 1);
	fuzz_session(data[0], data + 1, size - 1);
	return 0;
}
