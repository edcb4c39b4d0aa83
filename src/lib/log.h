/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event, "ts=… level=… event=… key=value …", written
 * to stderr with a single write so lines from several threads never mix.
 * Callers pass peer-supplied text through str_sanitize first and never log
 * passwords, tokens or message bodies.
 */
#ifndef FACTEUR_LIB_LOG_H
#define FACTEUR_LIB_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* fmt holds the key=value pairs after "event=NAME". */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_info(event, ...) log_event(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_event(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_ERROR, event, __VA_ARGS__)
#define log_debug(event, ...) log_event(LOG_DEBUG, event, __VA_ARGS__)

#endif
