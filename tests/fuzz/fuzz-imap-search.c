/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for SEARCH programs. The input is the argument text of
 * a command: it is read by the IMAP reader ("a SEARCH <input>") and given
 * to the program parser with '*' limits taken from the first byte; the
 * same text then runs as SEARCH, SORT and THREAD REFERENCES in a session
 * on a real store (made once, holding a multipart, a quoted-printable and
 * a plain message), so the evaluator with its lazy loading, GMime decoding
 * and the threading code see it too. The date, Date:-day and case-folding
 * helpers get the raw bytes as well.
 */
#include "imap/imap-private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime-store.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config cfg;
static struct store *store;
static int64_t account_id;
static char dir[] = "/tmp/facteur-fuzz-imap-search-XXXXXX";

static const char *const msgs[] = {
	"From: A <a@example.org>\r\nSubject: Re: hello\r\nMessage-ID: <1@x>\r\n"
	"Date: Tue, 2 Jan 2024 09:00:00 +0000\r\n\r\nplain body\r\n",
	"From: =?UTF-8?Q?Caf=C3=A9?= <b@example.org>\r\nSubject: [x] Fwd: hello (fwd)\r\n"
	"References: <1@x> <0@x>\r\nContent-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n\r\ncr=C3=A8me\r\n",
	"Subject: multi\r\nIn-Reply-To: <1@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	"--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n",
};

static void cleanup(void)
{
	char cmd[128];
	store_close(&store);
	mime_deinit();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *err;
	log_set_level(LOG_ERROR);
	mime_init();
	config_defaults(&cfg);
	cfg.max_message_size = 64 * 1024;
	if (mkdtemp(dir) == NULL || store_open(dir, &store, &err) < 0 ||
	    store_domain_add(store, "example.org", &err) < 0 ||
	    store_account_add(store, "u@example.org", "$argon2id$x", &account_id, &err) < 0)
		abort();
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct mime_parsed mp;
		if (mime_parse(msgs[i], strlen(msgs[i]), &mp) < 0)
			abort();
		struct store_parsed sp = mime_store_parsed(&mp);
		if (store_deliver(store, msgs[i], strlen(msgs[i]), &sp, &account_id, 1, NULL, 1000,
				  (uint32_t)i, NULL, &err) < 0)
			abort();
		mime_parsed_free(&mp);
	}
	atexit(cleanup);
	return 0;
}

static enum auth_result fz_login(void *ctx, struct store *st, const char *ip, const char *user,
				 const char *password, struct store_account *account_r)
{
	return store_account_get(st, "u@example.org", account_r) == 1 ? AUTH_OK : AUTH_FAILED;
}

static void fuzz_parser(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim = {
		.line_max = 16 * 1024,
		.literal_max = 4096,
		.append_literal_max = 4096,
		.command_max = 64 * 1024,
	};
	struct imap_parser *p = imap_parser_create(&lim);
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	buf_append_str(&in, "a SEARCH ");
	buf_append(&in, data, size);
	buf_append_str(&in, "\r\n");
	if (imap_parser_scan(p, &in, &out) == IMAP_SCAN_COMMAND) {
		const char *tag, *name, *error;
		const struct imap_arg *args;
		if (imap_parser_parse(p, &tag, &name, &args, &error) == 0) {
			struct imap_search_limits sl = {size > 0 ? data[0] : 0,
							size > 0 ? data[0] * 3u : 0};
			struct imap_search_options o;
			struct imap_search_program *prog = NULL;
			if (imap_search_parse_command(args, &sl, &o, &prog, &error) == 0) {
				if (prog == NULL || prog->root == NULL || prog->n_keys == 0 ||
				    prog->n_keys > IMAP_SEARCH_MAX_KEYS)
					abort();
				imap_search_program_free(&prog);
			}
		}
	}
	imap_parser_destroy(&p);
	buf_deinit(&in);
	buf_deinit(&out);
}

static void fuzz_session(const uint8_t *data, size_t size)
{
	struct imap_settings st = {
		.config = &cfg,
		.store = store,
		.session_id = "fz",
		.peer_ip = "127.0.0.1",
		.peer_loopback = true,
		.login = fz_login,
	};
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	struct imap_session *s = imap_session_create(&st, &out);
	buf_append_str(&in, "l LOGIN u p\r\ns SELECT INBOX\r\n");
	static const char *const prefixes[] = {"a SEARCH ", "b UID SORT (SUBJECT FROM) UTF-8 ",
					       "c THREAD REFERENCES UTF-8 ",
					       "d SEARCH RETURN (SAVE) "};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		buf_append_str(&in, prefixes[i]);
		buf_append(&in, data, size);
		buf_append_str(&in, "\r\n");
	}
	buf_append_str(&in, "e SEARCH $\r\n");
	enum conn_result r = imap_session_input(s, &in, &out);
	while (r == CONN_MORE) {
		buf_clear(&out);
		r = imap_session_resume(s, &out);
		if (r == CONN_OK && in.len > 0)
			r = imap_session_input(s, &in, &out);
	}
	imap_session_destroy(&s);
	buf_deinit(&in);
	buf_deinit(&out);
}

static void fuzz_helpers(const uint8_t *data, size_t size)
{
	char *str = xstrndup((const char *)data, size);
	int64_t d;
	(void)imap_search_parse_date(str, &d);
	(void)imap_search_header_day(str, &d);
	(void)imap_search_has_keyword(str, "a");
	struct buf b;
	buf_init(&b);
	imap_search_fold((const char *)data, size, &b);
	buf_deinit(&b);
	free(str);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	fuzz_parser(data, size);
	fuzz_session(data, size);
	fuzz_helpers(data, size);
	return 0;
}
