/* SPDX-License-Identifier: MIT */
/* Small helpers: see util.h. */
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void xoom(void)
{
	fputs("facteur: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		xoom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		xoom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		xoom();
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		xoom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	/* Not strndup: s need not be NUL-terminated within n bytes' reach, and
	 * strndup may read past n (ASan's strict_string_checks reports it). */
	const char *nul = memchr(s, '\0', n);
	size_t len = nul != NULL ? (size_t)(nul - s) : n;
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		xoom();
	return s;
}

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

bool str_starts_with_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int random_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void random_token(char *out, size_t len)
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
	unsigned char raw[256];
	if (len > sizeof(raw))
		len = sizeof(raw);
	if (random_bytes(raw, len) < 0)
		abort();
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
	out[len] = '\0';
}

void str_sanitize(char *out, size_t outsz, const char *in, size_t inlen)
{
	size_t j = 0;
	if (outsz == 0)
		return;
	for (size_t i = 0; i < inlen && j + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		out[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[j] = '\0';
}

int write_full(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

void addr_limit_key(const char *ip, char *out, size_t outsz)
{
	struct in6_addr a6;
	if (outsz == 0)
		return;
	if (ip == NULL || inet_pton(AF_INET6, ip, &a6) != 1) {
		snprintf(out, outsz, "%s", ip != NULL ? ip : "");
		return;
	}
	char text[INET6_ADDRSTRLEN];
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof(text));
		snprintf(out, outsz, "%s", text);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &a6, text, sizeof(text));
	snprintf(out, outsz, "%s/64", text);
}
