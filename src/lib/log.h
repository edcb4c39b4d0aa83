/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event, "ts=… level=… event=… key=value …", written
 * to stderr with a single write so lines from several threads never mix.
 * Every value a peer supplied (user names, addresses, mailbox names, remote
 * replies) goes through log_quote, so it can never end its field early or
 * forge another key=value; passwords, tokens and bodies are never logged.
 */
#ifndef FACTEUR_LIB_LOG_H
#define FACTEUR_LIB_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* fmt holds the key=value pairs after "event=NAME". */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Room log_quote needs for n input bytes, quotes and NUL included. */
#define LOG_QUOTE_SIZE(n) ((n)*4 + 3)

/*
 * Write the C string in (NULL = empty) into out as one double-quoted log
 * value: '"' and '\\' get a backslash, bytes below 0x20 and from 0x7f up
 * become \xNN. What does not fit in outsz is cut and the value ends in
 * "..." before its closing quote. Returns out, for use as a printf arg.
 */
const char *log_quote(char *out, size_t outsz, const char *in);
/* The same for in[0..inlen). */
const char *log_quote_n(char *out, size_t outsz, const char *in, size_t inlen);

#define log_info(event, ...) log_event(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_event(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_ERROR, event, __VA_ARGS__)
#define log_debug(event, ...) log_event(LOG_DEBUG, event, __VA_ARGS__)

#endif
