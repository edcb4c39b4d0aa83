/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for src/mailauth's parsers of hostile text: the input,
 * split at its first NUL, is (1) an SPF record that a fake resolver serves
 * for every name (so include:/redirect= recurse into it, up to the lookup
 * limits) and also as every A/MX/PTR answer's text, and (2) a message:
 * From: domain extraction, removal of forged Authentication-Results, DKIM
 * verification (keys "found" are the same record), DMARC parsing of the
 * record, and the Authentication-Results header of it all.
 */
#include "mailauth/mailauth.h"

#include "lib/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_query(void *ctx, const char *name, int type, struct mailauth_answer *a)
{
	const char *rec = ctx;
	static const unsigned char addr[16] = {192, 0, 2, 1};
	a->status = MAILAUTH_DNS_NONE;
	if (type == MAILAUTH_RR_TXT)
		mailauth_answer_add(a, rec, NULL, 0);
	else if (type == MAILAUTH_RR_A || type == MAILAUTH_RR_AAAA)
		mailauth_answer_add(a, NULL, addr, 0);
	else if (strlen(rec) < 200)
		mailauth_answer_add(a, rec[0] ? rec : "x.test", NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t rec_len = nul ? (size_t)(nul - data) : size;
	char *rec = malloc(rec_len + 1);
	if (rec == NULL)
		return 0;
	memcpy(rec, data, rec_len);
	rec[rec_len] = '\0';
	const char *msg = nul ? (const char *)nul + 1 : "";
	size_t msg_len = nul ? size - rec_len - 1 : 0;

	struct mailauth_dns dns = {.ctx = rec, .query = fz_query};
	struct mailauth_ip ip;
	mailauth_ip_parse("192.0.2.1", &ip);
	(void)mailauth_spf_check(&dns, &ip, "a.test", "user@a.test", "helo.test");
	mailauth_ip_parse("2001:db8::1", &ip);
	(void)mailauth_spf_check(&dns, &ip, "a.test", "user@a.test", "helo.test");
	struct mailauth_dmarc_record dr;
	(void)mailauth_dmarc_parse(rec, &dr);

	struct mailauth_request req = {
		.ip = "192.0.2.1", .helo = rec, .mail_from = "", .msg = msg, .len = msg_len};
	struct mailauth_result r;
	mailauth_verify_message(&dns, &req, &r);
	struct buf out;
	buf_init(&out);
	mailauth_result_header(&r, "mx.b.test", &out);
	if (memchr(out.data, '\0', out.len) != NULL)
		abort();
	buf_clear(&out);
	(void)mailauth_strip_results(msg, msg_len, "mx.b.test", &out);
	buf_deinit(&out);
	free(rec);
	return 0;
}
