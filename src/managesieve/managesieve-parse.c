/* SPDX-License-Identifier: MIT */
/*
 * The ManageSieve command parser (RFC 5804 4): a command name, then
 * arguments separated by one space: quoted strings ("..." with \" and \\
 * escapes, no CR, LF or NUL), literals ({n+} or {n} then CRLF then n
 * octets) and numbers, ending in CRLF. Pure: it returns the bytes
 * consumed, "need more" or an error, and never keeps state, so the session
 * re-parses from the start of a command as input grows; literal bodies are
 * skipped by arithmetic, so that stays cheap. Caps are enforced before
 * the bytes arrive: the line outside literals, and each literal's
 * announced size.
 */
#include "managesieve/managesieve-private.h"

#include "lib/util.h"

#include <stdio.h>
#include <string.h>

struct ms_parser {
	const char *data;
	size_t len, pos;
	size_t line_bytes; /* bytes seen outside literals */
	size_t line_max, literal_max;
	struct managesieve_parse_error *err;
};

static long ms_fail(struct ms_parser *p, const char *text, const char *code, size_t skip)
{
	p->err->text = text;
	p->err->code = code;
	p->err->skip = skip;
	return -1;
}

/* 0: need more, -1: the line outside literals is over its cap. */
static long ms_more(struct ms_parser *p)
{
	if (p->line_bytes + (p->len - p->pos) > p->line_max)
		return ms_fail(p, "line too long", NULL, p->len);
	return 0;
}

static void ms_arg_set(struct managesieve_arg *a, const char *s, size_t len)
{
	a->str = xmalloc(len + 1);
	memcpy(a->str, s, len);
	a->str[len] = '\0';
	a->len = len;
}

/* A quoted string at p->pos ('"'). 1 parsed, 0 need more, -1 error. */
static long ms_quoted(struct ms_parser *p, struct managesieve_arg *a)
{
	size_t i = p->pos + 1, n = 0;
	char *tmp = NULL;
	for (; i < p->len; i++) {
		char c = p->data[i];
		if (c == '"')
			break;
		if (c == '\r' || c == '\n' || c == '\0')
			return ms_fail(p, "bad character in quoted string", NULL, i);
		if (c == '\\') {
			if (i + 1 == p->len)
				return ms_more(p);
			c = p->data[++i];
			if (c != '"' && c != '\\')
				return ms_fail(p, "bad escape in quoted string", NULL, i);
		}
	}
	if (i == p->len)
		return ms_more(p);
	/* Second pass, now that the string is complete: unescape. */
	tmp = xmalloc(i - p->pos);
	for (size_t k = p->pos + 1; k < i; k++) {
		if (p->data[k] == '\\')
			k++;
		tmp[n++] = p->data[k];
	}
	ms_arg_set(a, tmp, n);
	free(tmp);
	p->line_bytes += i + 1 - p->pos;
	p->pos = i + 1;
	return 1;
}

/* A literal at p->pos ('{'). 1 parsed, 0 need more, -1 error. */
static long ms_literal(struct ms_parser *p, struct managesieve_arg *a)
{
	size_t i = p->pos + 1;
	uint64_t n = 0;
	size_t digits = 0;
	for (; i < p->len && p->data[i] >= '0' && p->data[i] <= '9'; i++, digits++) {
		if (n > (UINT64_MAX - 9) / 10)
			return ms_fail(p, "literal size too large", "QUOTA/MAXSIZE", i);
		n = n * 10 + (uint64_t)(p->data[i] - '0');
	}
	if (i < p->len && p->data[i] == '+')
		i++;
	if (i + 3 > p->len) {
		if (i < p->len && (digits == 0 || p->data[i] != '}'))
			return ms_fail(p, "malformed literal", NULL, i);
		return ms_more(p);
	}
	if (digits == 0 || p->data[i] != '}' || p->data[i + 1] != '\r' || p->data[i + 2] != '\n')
		return ms_fail(p, "malformed literal", NULL, i);
	size_t body = i + 3;
	if (n > p->literal_max) {
		/* Its bytes follow without a go-ahead: skip them all. */
		size_t skip = n > SIZE_MAX - body ? SIZE_MAX : body + (size_t)n;
		return ms_fail(p, "literal too large", "QUOTA/MAXSIZE", skip);
	}
	p->line_bytes += body - p->pos;
	if (p->len - body < n)
		return 0;
	ms_arg_set(a, p->data + body, (size_t)n);
	p->pos = body + (size_t)n;
	return 1;
}

static long ms_number(struct ms_parser *p, struct managesieve_arg *a)
{
	uint64_t n = 0;
	size_t i = p->pos;
	for (; i < p->len && p->data[i] >= '0' && p->data[i] <= '9'; i++) {
		if (n > (UINT64_MAX - 9) / 10)
			return ms_fail(p, "number too large", NULL, i);
		n = n * 10 + (uint64_t)(p->data[i] - '0');
	}
	if (i == p->len)
		return ms_more(p);
	a->is_number = true;
	a->number = n;
	p->line_bytes += i - p->pos;
	p->pos = i;
	return 1;
}

static long ms_arg(struct ms_parser *p, struct managesieve_arg *a)
{
	char c = p->data[p->pos];
	if (c == '"')
		return ms_quoted(p, a);
	if (c == '{')
		return ms_literal(p, a);
	if (c >= '0' && c <= '9')
		return ms_number(p, a);
	return ms_fail(p, "expected a string or a number", NULL, p->pos);
}

/* The command name: letters only, upper-cased into cmd->name. */
static long ms_name(struct ms_parser *p, struct managesieve_cmd *cmd)
{
	size_t i = 0;
	for (; p->pos + i < p->len; i++) {
		char c = p->data[p->pos + i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			break;
		if (i == MANAGESIEVE_NAME_MAX)
			return ms_fail(p, "unknown command", NULL, p->pos + i);
		cmd->name[i] = (char)(c & ~0x20);
	}
	if (p->pos + i == p->len)
		return ms_more(p);
	if (i == 0)
		return ms_fail(p, "expected a command name", NULL, p->pos);
	cmd->name[i] = '\0';
	p->pos += i;
	p->line_bytes += i;
	return 1;
}

static long ms_parse(struct ms_parser *p, bool bare, struct managesieve_cmd *cmd)
{
	long r;
	if (!bare && (r = ms_name(p, cmd)) != 1)
		return r;
	bool first = true;
	for (;;) {
		if (p->pos == p->len)
			return ms_more(p);
		char c = p->data[p->pos];
		if (c == '\r') {
			if (p->pos + 1 == p->len)
				return ms_more(p);
			if (p->data[p->pos + 1] != '\n')
				return ms_fail(p, "bare CR", NULL, p->pos);
			/* The same cap as while the line was incomplete. */
			if (p->line_bytes + 2 > p->line_max)
				return ms_fail(p, "line too long", NULL, p->pos);
			return (long)(p->pos + 2);
		}
		if (c == '\n')
			return ms_fail(p, "line must end with CRLF", NULL, p->pos);
		if (!(bare && first)) {
			if (c != ' ')
				return ms_fail(p, "expected a space", NULL, p->pos);
			p->pos++;
			p->line_bytes++;
			if (p->pos == p->len)
				return ms_more(p);
		}
		first = false;
		if (cmd->n_args == MANAGESIEVE_MAX_ARGS)
			return ms_fail(p, "too many arguments", NULL, p->pos);
		if ((r = ms_arg(p, &cmd->args[cmd->n_args])) != 1)
			return r;
		cmd->n_args++;
	}
}

long managesieve_parse(const char *data, size_t len, bool bare, size_t line_max, size_t literal_max,
		       struct managesieve_cmd *cmd, struct managesieve_parse_error *err)
{
	struct ms_parser p = {
		.data = data,
		.len = len,
		.line_max = line_max,
		.literal_max = literal_max,
		.err = err,
	};
	memset(cmd, 0, sizeof(*cmd));
	long r = ms_parse(&p, bare, cmd);
	if (r <= 0)
		managesieve_cmd_clear(cmd);
	return r;
}

void managesieve_cmd_clear(struct managesieve_cmd *cmd)
{
	for (unsigned i = 0; i < MANAGESIEVE_MAX_ARGS; i++) {
		free(cmd->args[i].str);
		cmd->args[i] = (struct managesieve_arg){0};
	}
	cmd->n_args = 0;
}

void managesieve_put_string(struct buf *out, const char *s, size_t len)
{
	bool quotable = len <= 1024;
	for (size_t i = 0; i < len && quotable; i++)
		quotable = s[i] != '\r' && s[i] != '\n' && s[i] != '\0';
	if (!quotable) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, s + i, 1);
	}
	buf_append(out, "\"", 1);
}
