/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the outbound SMTP client engine (queue-client.c):
 * arbitrary "server" bytes fed in pieces of fuzzer-chosen sizes, with the
 * client driving a whole session as the queue manager would (STARTTLS
 * pretended, AUTH configured on some inputs, up to three messages, bodies
 * streamed with awkward line ends, QUIT). Checks the engine's contract:
 * no crash or leak, the input is consumed line by line within the cap,
 * every recipient has a decided result after DONE, and nothing more
 * happens after CLOSED.
 */
#include "lib/buf.h"
#include "lib/log.h"
#include "queue/queue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const rcpts[] = {"a@b.test", "j\xc3\xb6rg@b.test", "c@b.test"};
static const char body[] = "Subject: x\n\n.line\r\nbare\rcr\r\n..\n";

static void check_results(const struct queue_client *c, size_t n)
{
	const struct queue_client_result *r = queue_client_results(c);
	for (size_t i = 0; i < n; i++)
		if (r[i].code < 200 || r[i].code > 599 || strlen(r[i].text) >= sizeof(r[i].text))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		log_set_level(LOG_ERROR);
		init = 1;
	}
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	struct queue_client_params p = {
		.helo_name = "fuzz.test",
		.tls_possible = flags & 1,
		.tls_required = flags & 2,
		.auth_user = (flags & 4) ? "user" : NULL,
		.auth_password = "secret",
	};
	struct queue_client *c = queue_client_create(&p);
	struct buf in, out;
	buf_init(&in);
	buf_init(&out);
	size_t pos = 0, msgs = 0, cur_n = 0;
	bool closed = false;
	while (pos < size && !closed) {
		/* Piece size from the data itself: 1..16 bytes, or the rest. */
		size_t piece = (data[pos] & 0x0f) + 1;
		if (data[pos] & 0x80)
			piece = size - pos;
		if (piece > size - pos)
			piece = size - pos;
		buf_append(&in, data + pos, piece);
		pos += piece;
		for (;;) {
			size_t before = in.len;
			enum queue_client_status st = queue_client_input(c, &in, &out);
			if (in.len >= QUEUE_CLIENT_MAX_LINE && st == QUEUE_CLIENT_MORE)
				abort(); /* the cap must have fired */
			if (st == QUEUE_CLIENT_CLOSED) {
				closed = true;
				break;
			}
			if (st == QUEUE_CLIENT_STARTTLS) {
				buf_clear(&in); /* as the manager does */
				st = queue_client_tls_started(c, &out);
			}
			if (st == QUEUE_CLIENT_DONE)
				check_results(c, cur_n);
			if (st == QUEUE_CLIENT_READY || st == QUEUE_CLIENT_DONE) {
				if (msgs < 3) {
					cur_n = 1 + msgs % 3;
					struct queue_client_msg m = {
						.sender = msgs == 1 ? "" : "s@a.test",
						.rcpts = rcpts,
						.n_rcpts = cur_n,
						.size = sizeof(body) - 1,
						.eight_bit = msgs == 2,
					};
					msgs++;
					if (queue_client_mail(c, &m, &out) == QUEUE_CLIENT_DONE)
						check_results(c, cur_n);
				} else {
					queue_client_quit(c, &out);
				}
			}
			if (st == QUEUE_CLIENT_BODY) {
				queue_client_body(c, body, 7, false, &out);
				queue_client_body(c, body + 7, sizeof(body) - 8, false, &out);
				queue_client_body(c, NULL, 0, true, &out);
			}
			if (in.len == before || in.len == 0)
				break;
		}
		/* The client's output is bounded by what it was asked to send. */
		if (out.len > 1 << 20)
			abort();
		buf_clear(&out);
	}
	if (!closed)
		queue_client_abort(c, "fuzz: connection lost");
	if (queue_client_in_transaction(c))
		abort();
	queue_client_destroy(&c);
	buf_deinit(&in);
	buf_deinit(&out);
	return 0;
}
