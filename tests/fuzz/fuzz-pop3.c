/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the POP3 engine: arbitrary bytes fed, in pieces of
 * fuzzer-chosen sizes, to a session with fake in-memory hooks (the login
 * "u"/"p" succeeds, so TRANSACTION, RETR streaming and UPDATE are reached).
 * Checks the engine's contract: every stream slice is bounded, a CONN_OK
 * leaves only complete reply lines, nothing is read after CONN_CLOSE, and
 * the maildrop lock is always released.
 */
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "pop3/pop3-private.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLICE_BOUND (POP3_STREAM_SLICE + 40 * 1024)

static const char msg_small[] = "Subject: a\r\n\r\nbody\r\n.dot\r\n";
static const char msg_lf[] = "Subject: b\n\n.\n..\nno end";
static char *msg_big;
static size_t msg_big_len;

struct fuzz_ctx {
	bool locked;
	bool fail_expunge;
};

static enum pop3_login_result fz_login(void *ctx, const char *user, const char *pass)
{
	struct fuzz_ctx *f = ctx;
	if (strcmp(user, "u") != 0 || strcmp(pass, "p") != 0)
		return strcmp(user, "t") == 0 ? POP3_LOGIN_TEMPFAIL : POP3_LOGIN_FAILED;
	if (pop3_lock_acquire(42) == 0)
		return POP3_LOGIN_IN_USE;
	f->locked = true;
	return POP3_LOGIN_OK;
}

static int fz_list(void *ctx, uint32_t *uidvalidity_r, struct pop3_maildrop_msg **msgs_r,
		   size_t *n_r)
{
	struct pop3_maildrop_msg *m = xcalloc(3, sizeof(*m));
	m[0] = (struct pop3_maildrop_msg){1, sizeof(msg_small) - 1};
	m[1] = (struct pop3_maildrop_msg){5, sizeof(msg_lf) - 1};
	m[2] = (struct pop3_maildrop_msg){9, msg_big_len};
	*uidvalidity_r = 77;
	*msgs_r = m;
	*n_r = 3;
	return 0;
}

static int fz_open_blob(void *ctx, uint32_t uid)
{
	const char *data = uid == 1 ? msg_small : uid == 5 ? msg_lf : msg_big;
	size_t len = uid == 1 ? sizeof(msg_small) - 1 : uid == 5 ? sizeof(msg_lf) - 1 : msg_big_len;
	int fd = memfd_create("fuzz-pop3", 0);
	if (fd < 0)
		abort();
	if (write_full(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

static int fz_expunge(void *ctx, const uint32_t *uids, size_t n, const char **error_r)
{
	struct fuzz_ctx *f = ctx;
	if (f->fail_expunge) {
		*error_r = "fuzz";
		return -1;
	}
	return 0;
}

static const struct pop3_hooks fz_hooks = {
	.login = fz_login,
	.list = fz_list,
	.open_blob = fz_open_blob,
	.expunge = fz_expunge,
};

static void check_ok_output(const struct buf *out)
{
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (msg_big == NULL) {
		log_set_level(LOG_ERROR);
		msg_big_len = 150 * 1024;
		msg_big = xmalloc(msg_big_len);
		for (size_t i = 0; i < msg_big_len; i++)
			msg_big[i] = i % 61 == 60 ? '\n' : (i % 61 == 0 ? '.' : 'q');
	}
	if (size < 2)
		return 0;
	uint8_t opt = data[0], chunk = data[1];
	data += 2;
	size -= 2;

	struct config cfg;
	config_defaults(&cfg);
	cfg.pop3_max_line = (opt & 1) ? 255 : 512;
	cfg.plaintext_auth = (opt >> 1) & 3;
	if (cfg.plaintext_auth > PLAINTEXT_AUTH_ALWAYS)
		cfg.plaintext_auth = PLAINTEXT_AUTH_ALWAYS;
	struct fuzz_ctx f = {.fail_expunge = (opt & 8) != 0};
	struct pop3_settings set = {
		.config = &cfg,
		.session_id = "fuzz",
		.peer_ip = "192.0.2.9",
		.peer_loopback = (opt & 16) != 0,
		.tls = (opt & 32) != 0,
		.tls_available = (opt & 64) != 0,
	};
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	struct pop3_session *s = pop3_session_create(&set, &fz_hooks, &f, &out);
	size_t step = chunk == 0 ? size : chunk;
	bool closed = false;
	for (size_t off = 0; off < size && !closed; off += step) {
		size_t n = size - off < step ? size - off : step;
		buf_append(&in, data + off, n);
		for (int rounds = 0; rounds < 1000; rounds++) {
			size_t in_before = in.len;
			buf_clear(&out);
			enum conn_result r = pop3_session_input(s, &in, &out);
			while (r == CONN_MORE) {
				if (out.len > SLICE_BOUND)
					abort();
				buf_clear(&out);
				r = pop3_session_resume(s, &out);
			}
			if (r == CONN_CLOSE) {
				buf_clear(&out);
				if (pop3_session_input(s, &in, &out) != CONN_CLOSE || out.len != 0)
					abort();
				closed = true;
				break;
			}
			if (r == CONN_STARTTLS) {
				/* What net/ does: drop the rest, handshake. */
				buf_clear(&in);
				buf_clear(&out);
				pop3_session_tls_started(s, &out);
				break;
			}
			check_ok_output(&out);
			if (in.len == 0 || in.len == in_before)
				break;
		}
	}
	if (!closed && (opt & 128)) {
		buf_clear(&out);
		pop3_session_timeout(s, &out);
	}
	pop3_session_destroy(&s);
	if (f.locked)
		pop3_lock_release(42);
	if (pop3_lock_count() != 0)
		abort();
	buf_deinit(&in);
	buf_deinit(&out);
	config_deinit(&cfg);
	return 0;
}
