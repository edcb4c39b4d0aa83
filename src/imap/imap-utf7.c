/* SPDX-License-Identifier: MIT */
/*
 * Modified UTF-7 (RFC 3501 5.1.3), the mailbox name encoding of IMAP4rev1
 * clients that have not enabled UTF8=ACCEPT, and the strict UTF-8 check
 * used on names. Decoding is strict on purpose: one mailbox must have one
 * spelling on the wire, so non-canonical forms (a printable character
 * base64-encoded, two adjacent encoded runs, non-zero padding bits) are
 * refused instead of being quietly accepted as another name.
 */
#include "imap/imap-private.h"

#include <string.h>

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* One code point from strict UTF-8 at s[*i]. Returns 0 or -1. */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp_r)
{
	unsigned char c = s[*i];
	uint32_t cp, min;
	size_t n;
	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= n)
		return -1;
	for (size_t k = 1; k <= n; k++) {
		unsigned char cc = s[*i + k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	*cp_r = cp;
	return 0;
}

bool imap_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;
	uint32_t cp;
	while (i < len) {
		if (utf8_next((const unsigned char *)s, len, &i, &cp) < 0)
			return false;
	}
	return true;
}

static void utf8_put(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

/* The base64 run being written: bits not yet emitted. */
struct b64_run {
	bool open;
	uint32_t bits;
	unsigned nbits;
};

static void run_push16(struct b64_run *r, struct buf *out, uint32_t unit)
{
	r->bits = (r->bits << 16) | unit;
	r->nbits += 16;
	while (r->nbits >= 6) {
		r->nbits -= 6;
		buf_append(out, &b64_chars[(r->bits >> r->nbits) & 0x3f], 1);
	}
	r->bits &= (1u << r->nbits) - 1;
}

static void run_close(struct b64_run *r, struct buf *out)
{
	if (!r->open)
		return;
	if (r->nbits > 0)
		buf_append(out, &b64_chars[(r->bits << (6 - r->nbits)) & 0x3f], 1);
	buf_append(out, "-", 1);
	*r = (struct b64_run){0};
}

int imap_utf8_to_utf7(const char *in, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), i = 0, start = out->len;
	struct b64_run run = {0};
	while (i < len) {
		uint32_t cp;
		if (utf8_next(s, len, &i, &cp) < 0) {
			out->len = start;
			return -1;
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			run_close(&run, out);
			buf_append_str(out, cp == '&' ? "&-" : (const char[]){(char)cp, 0});
			continue;
		}
		if (!run.open) {
			buf_append(out, "&", 1);
			run.open = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			run_push16(&run, out, 0xd800 | (cp >> 10));
			run_push16(&run, out, 0xdc00 | (cp & 0x3ff));
		} else {
			run_push16(&run, out, cp);
		}
	}
	run_close(&run, out);
	return 0;
}

/*
 * Decode one base64 run (s points after '&', at its first character) up
 * to and including its '-'. Returns the bytes used, or -1.
 */
static long utf7_run(const unsigned char *s, struct buf *out)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;
	size_t i = 0, units = 0;
	for (; s[i] != '-'; i++) {
		int v = b64_value(s[i]);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t unit = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return -1;
			utf8_put(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return -1;
		} else if (unit == 0 || (unit >= 0x20 && unit <= 0x7e)) {
			return -1; /* NUL, or a character that stands for itself */
		} else {
			utf8_put(out, unit);
		}
	}
	/* Shortest form: fewer than 6 leftover bits, all zero. */
	if (units == 0 || high != 0 || nbits >= 6 || bits != 0)
		return -1;
	return (long)i + 1;
}

int imap_utf7_to_utf8(const char *in, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t start = out->len, i = 0;
	bool after_run = false;
	while (s[i] != '\0') {
		unsigned char c = s[i];
		if (c < 0x20 || c > 0x7e)
			goto bad;
		if (c != '&') {
			buf_append(out, &s[i++], 1);
			after_run = false;
			continue;
		}
		if (s[i + 1] == '-') {
			buf_append(out, "&", 1);
			i += 2;
			after_run = false;
			continue;
		}
		if (after_run)
			goto bad; /* two runs in a row are one run */
		long used = utf7_run(s + i + 1, out);
		if (used < 0)
			goto bad;
		i += 1 + (size_t)used;
		after_run = true;
	}
	return 0;
bad:
	out->len = start;
	return -1;
}
