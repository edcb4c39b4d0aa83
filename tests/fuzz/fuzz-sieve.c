/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for src/sieve: sieve_compile() on arbitrary bytes must
 * either fail with a "LINE:COL: reason" error or produce a script, and a
 * compiled script must run against a fixed message without crashing,
 * leaking or exceeding its action limit (the step budget bounds the
 * time). Scripts that compile come from the corpus in corpus/sieve.
 */
#include "mime/mime.h"
#include "sieve/sieve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char message[] =
	"From: Alice <alice@example.com>\r\n"
	"To: bob+x@example.org, \"Carol\" <carol@example.net>\r\n"
	"Subject: =?UTF-8?Q?caf=C3=A9?= [list] hello\r\n"
	"Date: Tue, 03 Mar 2026 14:05:06 +0100\r\n"
	"Received: a\r\nReceived: b\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 body\r\n"
	"--b\r\nContent-Type: text/html\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\nPGI+Ym9sZDwvYj4=\r\n--b--\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;
	if (!initialised) {
		mime_init();
		initialised = 1;
	}
	struct sieve_script *sc = NULL;
	const char *err = NULL;
	if (sieve_compile((const char *)data, size, &sc, &err) < 0) {
		/* Every error names where: digits ':' digits ':'. */
		const char *p = err;
		if (p == NULL || *p < '0' || *p > '9')
			abort();
		p += strspn(p, "0123456789");
		if (*p++ != ':' || *p < '0' || *p > '9')
			abort();
		p += strspn(p, "0123456789");
		if (*p != ':')
			abort();
		return 0;
	}
	struct sieve_message m = {
		.data = message,
		.len = sizeof(message) - 1,
		.env_from = "alice@example.com",
		.env_to = "bob+x@example.org",
		.user = "bob@example.org",
		.now = 1772543106,
	};
	struct sieve_result r;
	if (sieve_execute(sc, &m, &r, &err) == 0 && r.n_actions > SIEVE_ACTIONS_MAX + 1)
		abort();
	for (size_t i = 0; i < r.n_actions; i++) {
		if (r.actions[i].kind == SIEVE_ACT_VACATION) {
			size_t len;
			free(sieve_vacation_reply(&r.actions[i], &m, "example.org", &len));
		}
	}
	sieve_result_free(&r);
	sieve_script_free(&sc);
	return 0;
}
