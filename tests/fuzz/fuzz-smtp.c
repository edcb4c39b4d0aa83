/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the SMTP engine: arbitrary bytes are fed to a session
 * with deterministic fake hooks, once in one buffer and once a byte at a
 * time, and the two transcripts must be identical (the engine is purely
 * byte-driven). The first input byte picks the listener, loopback and a
 * small or large line cap. After CONN_STARTTLS the remaining bytes are fed
 * as if sent after the handshake, as the connection layer would.
 */
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "smtp/smtp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static enum smtp_auth_result fz_auth(void *ctx, const char *ip, const char *user,
				     const char *password, struct smtp_account *a)
{
	if (strcmp(password, "pw") != 0 || user[0] != 'a')
		return user[0] == 'b' ? SMTP_AUTH_TEMPFAIL : SMTP_AUTH_FAILED;
	a->id = 1;
	strcpy(a->address, "a@x.org");
	return SMTP_AUTH_OK;
}

static enum smtp_rcpt_status fz_rcpt(void *ctx, const char *addr, struct smtp_rcpt_targets *t)
{
	switch (addr[0]) {
	case 'a':
		t->accounts[t->n_accounts++] = 1;
		return SMTP_RCPT_LOCAL;
	case 'g':
		t->accounts[t->n_accounts++] = 2;
		t->remote[t->n_remote++] = xstrdup("fwd@remote.org");
		return SMTP_RCPT_LOCAL;
	case 'u':
		return SMTP_RCPT_UNKNOWN_USER;
	case 'q':
		return SMTP_RCPT_OVER_QUOTA;
	case 't':
		t->remote[t->n_remote++] = xstrdup("dropped@remote.org");
		return SMTP_RCPT_TEMPFAIL;
	default:
		return SMTP_RCPT_NOT_LOCAL;
	}
}

static int fz_sender(void *ctx, const char *addr, int64_t id, const char *login)
{
	return addr[0] == 's' ? 1 : addr[0] == 't' ? -1 : 0;
}

static enum smtp_deliver_result fz_deliver(void *ctx, const struct smtp_delivery *d)
{
	if (d->return_path_len > d->len || (d->n_accounts == 0 && d->n_remote == 0))
		abort();
	return d->len % 7 == 0     ? SMTP_DELIVER_TEMPFAIL
		: d->len % 11 == 0 ? SMTP_DELIVER_QUOTA
				   : SMTP_DELIVER_OK;
}

struct run {
	struct conn_info info;
	struct smtp_session *s;
	struct buf in, out;
};

static void run_start(struct run *r, const struct config *cfg, uint8_t mode)
{
	static const char *const listeners[] = {"smtp", "submission", "submissions", "smtp"};
	static const struct smtp_hooks hooks = {
		.auth = fz_auth,
		.rcpt = fz_rcpt,
		.sender = fz_sender,
		.deliver = fz_deliver,
	};
	memset(r, 0, sizeof(*r));
	r->info.listener = listeners[mode & 3];
	r->info.tls = (mode & 3) == 2;
	r->info.tls_available = true;
	r->info.peer_loopback = (mode & 4) != 0;
	r->info.peer_ip = r->info.peer_loopback ? "127.0.0.1" : "2001:db8::1";
	r->info.session_id = "fuzz";
	buf_init(&r->in);
	buf_init(&r->out);
	r->s = smtp_session_create(cfg, &r->info, &hooks, &r->out);
}

/* Feed data[0..len) in pieces of step bytes (0: all at once). */
static void run_feed(struct run *r, const uint8_t *data, size_t len, size_t step)
{
	size_t i = 0;
	while (i < len) {
		size_t n = step == 0 || len - i < step ? len - i : step;
		buf_append(&r->in, data + i, n);
		i += n;
		enum conn_result res = smtp_session_input(r->s, &r->in, &r->out);
		if (res == CONN_CLOSE)
			return;
		if (res == CONN_STARTTLS) {
			/* What was buffered is the client's to resend after TLS. */
			size_t rest = r->in.len;
			buf_clear(&r->in);
			r->info.tls = true;
			smtp_session_tls_started(r->s, &r->out);
			i -= rest;
		}
	}
}

static void run_end(struct run *r, uint8_t mode)
{
	if (mode & 16)
		smtp_session_timeout(r->s, &r->out);
	smtp_session_destroy(&r->s);
	buf_deinit(&r->in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	log_set_level(LOG_ERROR);
	uint8_t mode = data[0];
	struct config cfg;
	config_defaults(&cfg);
	cfg.max_message_size = 2048;
	cfg.max_recipients = 4;
	cfg.smtp_max_line = (mode & 8) ? 64 : 1024;
	cfg.plaintext_auth = (mode & 32) ? PLAINTEXT_AUTH_ALWAYS : PLAINTEXT_AUTH_LOOPBACK;

	struct run whole, bytes;
	run_start(&whole, &cfg, mode);
	run_feed(&whole, data + 1, size - 1, 0);
	run_end(&whole, mode);
	run_start(&bytes, &cfg, mode);
	run_feed(&bytes, data + 1, size - 1, 1);
	run_end(&bytes, mode);
	if (whole.out.len != bytes.out.len ||
	    memcmp(whole.out.data, bytes.out.data, whole.out.len) != 0)
		abort();
	buf_deinit(&whole.out);
	buf_deinit(&bytes.out);
	config_deinit(&cfg);
	return 0;
}
