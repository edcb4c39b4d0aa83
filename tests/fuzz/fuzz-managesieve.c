/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ManageSieve command parser
 * (managesieve-parse.c): arbitrary bytes parsed command after command, as
 * the session does (a refused command skipped to its end), with the caps
 * small enough to be hit. Checks the parser's contract: bytes consumed
 * never exceed the input, one byte less of a parsed command always needs
 * more, a parsed argument round-trips through managesieve_put_string.
 */
#include "managesieve/managesieve-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_roundtrip(const struct managesieve_arg *a)
{
	if (a->is_number)
		return;
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "X ");
	managesieve_put_string(&b, a->str, a->len);
	buf_append(&b, "\r\n", 2);
	struct managesieve_cmd cmd;
	struct managesieve_parse_error err;
	long r = managesieve_parse(b.data, b.len, false, SIZE_MAX, SIZE_MAX, &cmd, &err);
	if (r != (long)b.len || cmd.n_args != 1 || cmd.args[0].len != a->len ||
	    memcmp(cmd.args[0].str, a->str, a->len) != 0)
		abort();
	managesieve_cmd_clear(&cmd);
	buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t pos = 0;
	bool bare = size > 0 && (data[0] & 1);
	while (pos < size) {
		struct managesieve_cmd cmd;
		struct managesieve_parse_error err;
		size_t avail = size - pos;
		long r = managesieve_parse(p + pos, avail, bare, 256, 1024, &cmd, &err);
		if (r == 0)
			break;
		if (r < 0) {
			size_t skip = err.skip < avail ? err.skip : avail;
			const char *lf = memchr(p + pos + skip, '\n', avail - skip);
			pos = lf != NULL ? (size_t)(lf - p) + 1 : size;
			continue;
		}
		if ((size_t)r > avail)
			abort();
		struct managesieve_cmd again;
		if (managesieve_parse(p + pos, (size_t)r - 1, bare, 256, 1024, &again, &err) != 0)
			abort();
		for (unsigned i = 0; i < cmd.n_args; i++)
			check_roundtrip(&cmd.args[i]);
		managesieve_cmd_clear(&cmd);
		pos += (size_t)r;
		bare = !bare;
	}
	return 0;
}
