/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for src/mime: mime_parse() on arbitrary bytes (it must
 * never crash, leak or fail, and its outputs must be NUL-free strings),
 * and mime_address_valid() on the same bytes as a C string, both ways.
 */
#include "mime/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;
	if (!initialised) {
		mime_init();
		initialised = 1;
	}
	struct mime_parsed r;
	if (mime_parse((const char *)data, size, &r) != 0)
		abort();
	if (r.envelope == NULL || r.bodystructure == NULL || r.body == NULL ||
	    r.envelope[0] != '(' || r.bodystructure[0] != '(' || r.body[0] != '(')
		abort();
	mime_parsed_free(&r);

	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)mime_address_valid(s, 0);
	(void)mime_address_valid(s, 1);
	free(s);
	return 0;
}
