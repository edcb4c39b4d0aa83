/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffers. A struct buf owns its bytes; readers consume from
 * the front (buf_consume) and writers append at the back. Every protocol
 * engine reads its input from one buf and writes its replies into another,
 * which is what keeps the engines free of sockets.
 */
#ifndef FACTEUR_LIB_BUF_H
#define FACTEUR_LIB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);
/* Make room for at least n more bytes; aborts on allocation failure. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t len);
/*
 * The same for bytes whose amount a client chose (an IMAP literal, an HTTP
 * body, the input read from a socket): 0, or -1 when memory ran out, b
 * unchanged, so that the caller refuses that one session's command instead
 * of the daemon aborting (issue 9 item 4).
 */
int buf_try_reserve(struct buf *b, size_t n);
int buf_try_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);
/* NUL-terminate without changing len (data[len] == 0 afterwards). */
const char *buf_cstr(struct buf *b);

/*
 * Find the first "\n" in b. Returns its offset, or -1 when there is none.
 */
long buf_find_lf(const struct buf *b);

#endif
