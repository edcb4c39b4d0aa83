/* SPDX-License-Identifier: MIT */
/* One-line key=value logging: see log.h. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
			 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], event);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n;
	if (m > 0)
		len += (size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m
								: sizeof(line) - (size_t)n - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

/* Bytes c takes once escaped, written to esc. */
static size_t log_escape(unsigned char c, char esc[4])
{
	static const char hex[] = "0123456789abcdef";
	if (c == '"' || c == '\\') {
		esc[0] = '\\';
		esc[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		esc[0] = '\\';
		esc[1] = 'x';
		esc[2] = hex[c >> 4];
		esc[3] = hex[c & 15];
		return 4;
	}
	esc[0] = (char)c;
	return 1;
}

const char *log_quote_n(char *out, size_t outsz, const char *in, size_t inlen)
{
	char esc[4];
	if (outsz < 6) { /* not even room for "..." */
		if (outsz > 0)
			out[0] = '\0';
		return out;
	}
	size_t total = 0;
	for (size_t i = 0; i < inlen; i++)
		total += log_escape((unsigned char)in[i], esc);
	/* Quotes and NUL take 3; when cut, "..." takes 3 more. */
	size_t room = total + 3 <= outsz ? outsz - 3 : outsz - 6;
	size_t j = 0;
	out[j++] = '"';
	for (size_t i = 0; i < inlen; i++) {
		size_t n = log_escape((unsigned char)in[i], esc);
		if (j - 1 + n > room)
			break;
		memcpy(out + j, esc, n);
		j += n;
	}
	if (total + 3 > outsz) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j++] = '"';
	out[j] = '\0';
	return out;
}

const char *log_quote(char *out, size_t outsz, const char *in)
{
	return log_quote_n(out, outsz, in != NULL ? in : "", in != NULL ? strlen(in) : 0);
}
