/* SPDX-License-Identifier: MIT */
/*
 * SMTP command-line parsing (RFC 5321 section 4.1): splitting a line into
 * verb and arguments, the reverse/forward paths of MAIL and RCPT with their
 * ESMTP parameters, BDAT arguments (RFC 3030) and the HELO/EHLO name. Pure
 * functions over a NUL-terminated line that the session has already checked
 * for length, NUL and bare CR/LF; they never allocate.
 */
#include "smtp/smtp-private.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

int smtp_parse_cmdline(char *line, struct smtp_cmdline *r)
{
	size_t len = strlen(line);
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';

	size_t n = 0;
	while (is_alpha(line[n])) {
		if (n + 1 >= SMTP_VERB_MAX)
			return -1;
		r->verb[n] = (char)toupper((unsigned char)line[n]);
		n++;
	}
	r->verb[n] = '\0';
	if (n == 0 || (line[n] != '\0' && line[n] != ' '))
		return -1;
	char *p = line + n;
	while (*p == ' ')
		p++;
	r->args = *p != '\0' ? p : NULL;
	return 0;
}

/*
 * Scan the inside of <...> starting at p (just after '<'): quoted strings
 * may hold '>' and spaces, a backslash escapes the next character inside
 * quotes. Returns a pointer to the closing '>' or NULL.
 */
static char *path_end(char *p)
{
	bool quoted = false;
	for (; *p != '\0'; p++) {
		if (quoted && *p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p++;
		} else if (*p == '"') {
			quoted = !quoted;
		} else if (!quoted && *p == '>') {
			return p;
		} else if (!quoted && (*p == ' ' || *p == '<')) {
			return NULL;
		}
	}
	return NULL;
}

/* Keyword: alnum then alnum or '-'. Value: printable, no '=', 8-bit allowed. */
static int parse_param(char *tok, struct smtp_param *r)
{
	char *eq = strchr(tok, '=');
	if (eq != NULL)
		*eq = '\0';
	if (!is_alnum(tok[0]))
		return -1;
	for (const char *k = tok; *k != '\0'; k++)
		if (!is_alnum(*k) && *k != '-')
			return -1;
	r->key = tok;
	r->value = NULL;
	if (eq == NULL)
		return 0;
	const char *v = eq + 1;
	if (*v == '\0')
		return -1;
	for (const unsigned char *q = (const unsigned char *)v; *q != '\0'; q++)
		if (*q <= ' ' || *q == '=' || *q == 0x7f)
			return -1;
	r->value = v;
	return 0;
}

static int parse_params(char *p, struct smtp_path *r, const char **error_r)
{
	r->n_params = 0;
	*error_r = "Syntax error in parameters";
	if (*p != '\0' && *p != ' ')
		return -1;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		char *tok = p;
		while (*p != '\0' && *p != ' ')
			p++;
		bool more = *p == ' ';
		*p = '\0'; /* tokens stay in place: params[] points at them */
		if (r->n_params >= SMTP_MAX_PARAMS) {
			*error_r = "Too many parameters";
			return -1;
		}
		if (parse_param(tok, &r->params[r->n_params]) < 0)
			return -1;
		r->n_params++;
		if (more)
			p++;
	}
}

int smtp_parse_path(char *args, const char *keyword, struct smtp_path *r, const char **error_r)
{
	size_t klen = strlen(keyword);
	memset(r, 0, sizeof(*r));
	*error_r = "Syntax error in address";
	if (args == NULL || strncasecmp(args, keyword, klen) != 0 || args[klen] != ':')
		return -1;
	char *p = args + klen + 1;
	/* RFC 5321 has no space here, but many clients send one. */
	while (*p == ' ')
		p++;
	if (*p != '<')
		return -1;
	char *start = p + 1;
	char *end = path_end(start);
	if (end == NULL)
		return -1;
	/* A source route "@a,@b:" is accepted and ignored (RFC 5321 4.1.2). */
	if (*start == '@') {
		char *colon = memchr(start, ':', (size_t)(end - start));
		if (colon == NULL || colon + 1 == end)
			return -1;
		start = colon + 1;
	}
	size_t alen = (size_t)(end - start);
	if (alen >= sizeof(r->address)) {
		*error_r = "Address too long";
		return -1;
	}
	memcpy(r->address, start, alen);
	r->address[alen] = '\0';
	return parse_params(end + 1, r, error_r);
}

int smtp_parse_number(const char *s, uint64_t *n_r)
{
	uint64_t n = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (i >= 20 || n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (i == 0 || s[i] != '\0')
		return -1;
	*n_r = n;
	return 0;
}

int smtp_parse_bdat(const char *args, uint64_t *size_r, bool *last_r)
{
	char num[24];
	size_t i = 0;
	if (args == NULL)
		return -1;
	while (args[i] >= '0' && args[i] <= '9') {
		if (i + 1 >= sizeof(num))
			return -1;
		num[i] = args[i];
		i++;
	}
	num[i] = '\0';
	if (smtp_parse_number(num, size_r) < 0)
		return -1;
	const char *rest = args + i;
	if (*rest == '\0') {
		*last_r = false;
		return 0;
	}
	while (*rest == ' ')
		rest++;
	if (strcasecmp(rest, "LAST") != 0)
		return -1;
	*last_r = true;
	return 0;
}

bool smtp_helo_valid(const char *arg)
{
	size_t n = 0;
	for (; arg[n] != '\0'; n++) {
		char c = arg[n];
		if (!is_alnum(c) && strchr(".-_:[]", c) == NULL)
			return false;
	}
	return n > 0 && n <= SMTP_HELO_MAX;
}

bool smtp_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}
