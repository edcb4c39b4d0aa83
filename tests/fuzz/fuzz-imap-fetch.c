/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for FETCH sections (src/imap/imap-fetch-section.c):
 * the first line of the input is a section spec as it follows BODY /
 * BINARY ("[1.HEADER.FIELDS (A B)]<0.10>"; a leading 'B' selects BINARY),
 * the rest is a message. A spec that parses must write back to a spec
 * that parses again to the same text, and extracting it from the message
 * must yield exactly the announced number of bytes whatever the piece
 * size the stream is read in.
 */
#include "imap/imap-fetch-section.h"
#include "mime/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const struct imap_section *sec)
{
	struct buf a, b;
	struct imap_section again;
	const char *error;
	buf_init(&a);
	buf_init(&b);
	imap_section_write(sec, false, &a);
	if (sec->partial)
		buf_printf(&a, "<%llu.%llu>", (unsigned long long)sec->offset,
			   (unsigned long long)sec->length);
	if (imap_section_parse(buf_cstr(&a), sec->binary, true, &again, &error) < 0)
		abort();
	imap_section_write(&again, true, &b);
	buf_clear(&a);
	imap_section_write(sec, true, &a);
	if (strcmp(buf_cstr(&a), buf_cstr(&b)) != 0)
		abort();
	imap_section_free(&again);
	buf_deinit(&a);
	buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;
	if (!initialised) {
		mime_init();
		initialised = 1;
	}
	const char *nl = memchr(data, '\n', size);
	size_t spec_len = nl != NULL ? (size_t)((const uint8_t *)nl - data) : size;
	char *spec = malloc(spec_len + 1);
	if (spec == NULL)
		return 0;
	memcpy(spec, data, spec_len);
	spec[spec_len] = '\0';
	bool binary = spec_len > 0 && spec[0] == 'B';
	const char *msg = nl != NULL ? nl + 1 : "";
	size_t msg_len = nl != NULL ? size - spec_len - 1 : 0;

	struct imap_section sec;
	const char *error;
	if (imap_section_parse(spec + binary, binary, true, &sec, &error) == 0) {
		check_roundtrip(&sec);
		struct imap_section_body b;
		if (imap_section_body_init(&b, &sec, msg, msg_len) == 0 && !b.nil) {
			struct buf out;
			buf_init(&out);
			size_t piece = 1 + msg_len % 7;
			while (!imap_section_body_read(&b, &out, piece))
				;
			if (out.len != b.size || b.size > b.full_size)
				abort();
			buf_deinit(&out);
		}
		imap_section_body_free(&b);
	}
	imap_section_free(&sec);
	free(spec);
	return 0;
}
