/* SPDX-License-Identifier: MIT */
/* Growable byte buffers: see buf.h. */
#include "lib/buf.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_deinit(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

int buf_try_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len > n)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_reserve(struct buf *b, size_t n)
{
	if (buf_try_reserve(b, n) < 0)
		xoom();
}

int buf_try_append(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (buf_try_reserve(b, len) < 0)
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_try_append(b, data, len) < 0)
		xoom();
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n <= 0)
		return;
	buf_reserve(b, (size_t)n + 1);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_clear(struct buf *b)
{
	b->len = 0;
}

const char *buf_cstr(struct buf *b)
{
	buf_reserve(b, 1);
	b->data[b->len] = '\0';
	return b->data;
}

long buf_find_lf(const struct buf *b)
{
	if (b->len == 0)
		return -1;
	const char *p = memchr(b->data, '\n', b->len);
	return p ? (long)(p - b->data) : -1;
}
