/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every module uses: allocation that aborts on failure (a mail
 * server that runs out of memory mid-transaction must not limp on), string
 * duplication, case-insensitive comparison, monotonic time, random tokens.
 */
#ifndef FACTEUR_LIB_UTIL_H
#define FACTEUR_LIB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* What the x* allocators do when memory ran out: say so and abort. */
void xoom(void) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds from CLOCK_MONOTONIC. */
int64_t time_now_ms(void);

/* Lower-case ASCII in place; returns s. */
char *str_lower(char *s);
bool str_starts_with_ci(const char *s, const char *prefix);

/* Fill out with n random bytes from the kernel. Returns -1 on error. */
int random_bytes(void *out, size_t n);
/* A random token of len characters from [a-z0-9] (out holds len+1). */
void random_token(char *out, size_t len);

/*
 * Copy untrusted peer text into out (size outsz) for logging: control
 * characters and non-ASCII become '?', and it is cut at outsz-1 bytes.
 */
void str_sanitize(char *out, size_t outsz, const char *in, size_t inlen);

/*
 * The key under which per-address limits count a client: an IPv4 address
 * as it is, an IPv6 address as its /64 ("2001:db8:1:2::/64"), since one
 * subscriber usually holds a whole /64 and would otherwise have 2^64
 * fresh addresses; an IPv4-mapped IPv6 address as the IPv4 one. Text that
 * is no address is copied (cut at outsz-1). out needs ADDR_KEY_MAX bytes.
 */
#define ADDR_KEY_MAX 64
void addr_limit_key(const char *ip, char *out, size_t outsz);

/* Write all of data to fd, retrying on EINTR. Returns -1 on error. */
int write_full(int fd, const void *data, size_t len);

#endif
