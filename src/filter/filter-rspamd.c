/* SPDX-License-Identifier: MIT */
/*
 * The pure half of the rspamd client: reading a /checkv2 JSON reply into a
 * verdict, the verdict when rspamd is unavailable, the X-Spam-* header
 * fields we add, and the removal of such fields that arrived with the
 * message. No I/O, so all of it is unit-tested (tests/unit/test-filter.c).
 */
#include "filter/filter.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copy s to out keeping printable ASCII only (a reply line, a log field). */
static void copy_printable(char *out, size_t outsz, const char *s)
{
	size_t k = 0;
	for (; *s != '\0' && k + 1 < outsz; s++)
		if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
			out[k++] = *s;
	out[k] = '\0';
}

/* Is s a plausible rspamd symbol name (it goes into a header field)? */
static bool symbol_name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

struct symbol {
	const char *name;
	double score;
};

static int symbol_cmp(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* "NAME(score), ..." of the FILTER_SYMBOLS_MAX symbols that weigh most. */
static void symbols_format(json_t *symbols, char *out, size_t outsz)
{
	out[0] = '\0';
	if (!json_is_object(symbols))
		return;
	size_t n = json_object_size(symbols), k = 0;
	struct symbol *list = calloc(n ? n : 1, sizeof(*list));
	if (list == NULL)
		return;
	const char *name;
	json_t *sym;
	json_object_foreach(symbols, name, sym)
	{
		json_t *score = json_object_get(sym, "score");
		if (!symbol_name_ok(name))
			continue;
		list[k].name = name;
		list[k++].score = json_is_number(score) ? json_number_value(score) : 0.0;
	}
	qsort(list, k, sizeof(*list), symbol_cmp);
	size_t used = 0;
	for (size_t i = 0; i < k && i < FILTER_SYMBOLS_MAX; i++) {
		int w = snprintf(out + used, outsz - used, "%s%s(%.2f)", i ? ", " : "",
				 list[i].name, list[i].score);
		if (w < 0 || (size_t)w >= outsz - used) {
			out[used] = '\0'; /* drop the symbol that did not fit */
			break;
		}
		used += (size_t)w;
	}
	free(list);
}

static enum filter_action action_of(const char *a)
{
	if (strcmp(a, "reject") == 0)
		return FILTER_REJECT;
	if (strcmp(a, "soft reject") == 0 || strcmp(a, "greylist") == 0)
		return FILTER_TEMPFAIL;
	if (strcmp(a, "add header") == 0 || strcmp(a, "rewrite subject") == 0)
		return FILTER_JUNK;
	return FILTER_ACCEPT;
}

int filter_parse_reply(const char *json, size_t len, struct filter_verdict *v, const char **error_r)
{
	memset(v, 0, sizeof(*v));
	json_error_t jerr;
	json_t *root = json_loadb(json, len, 0, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		*error_r = "reply is not a JSON object";
		return -1;
	}
	json_t *action = json_object_get(root, "action");
	json_t *score = json_object_get(root, "score");
	if (!json_is_string(action) || !json_is_number(score)) {
		json_decref(root);
		*error_r = "reply has no action or score";
		return -1;
	}
	v->scanned = true;
	copy_printable(v->rspamd_action, sizeof(v->rspamd_action), json_string_value(action));
	v->action = action_of(v->rspamd_action);
	v->score = json_number_value(score);
	json_t *req = json_object_get(root, "required_score");
	v->required = json_is_number(req) ? json_number_value(req) : 0.0;
	symbols_format(json_object_get(root, "symbols"), v->symbols, sizeof(v->symbols));
	json_t *msg = json_object_get(json_object_get(root, "messages"), "smtp_message");
	if (json_is_string(msg))
		copy_printable(v->message, sizeof(v->message), json_string_value(msg));
	if (v->message[0] == '\0')
		snprintf(v->message, sizeof(v->message), "%s",
			 v->action == FILTER_REJECT ? "Message rejected as spam"
						    : "Try again later");
	json_decref(root);
	return 0;
}

void filter_verdict_unavailable(bool fail_closed, const char *error, struct filter_verdict *v)
{
	memset(v, 0, sizeof(*v));
	copy_printable(v->error, sizeof(v->error), error);
	v->action = fail_closed ? FILTER_TEMPFAIL : FILTER_ACCEPT;
	snprintf(v->message, sizeof(v->message), "Spam filter unavailable, try again later");
}

void filter_verdict_headers(const struct filter_verdict *v, struct buf *out)
{
	if (!v->scanned) {
		buf_printf(out, "X-Spam-Status: Unknown, not scanned (%s)\r\n",
			   v->error[0] ? v->error : "rspamd unavailable");
		return;
	}
	bool spam = v->action == FILTER_JUNK;
	buf_printf(out, "X-Spam-Status: %s, score=%.2f required=%.2f action=\"%s\"\r\n",
		   spam ? "Yes" : "No", v->score, v->required, v->rspamd_action);
	buf_printf(out, "X-Spam-Score: %.2f\r\n", v->score);
	if (v->symbols[0] != '\0')
		buf_printf(out, "X-Spam-Symbols: %s\r\n", v->symbols);
	if (spam)
		buf_append_str(out, "X-Spam: Yes\r\n");
}

/* Length of the header line at p (LF included), within end. */
static size_t line_len(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	return lf ? (size_t)(lf - p) + 1 : (size_t)(end - p);
}

size_t filter_strip_headers(const char *msg, size_t len, struct buf *out)
{
	const char *p = msg, *end = msg + len;
	size_t removed = 0;
	bool dropping = false;
	while (p < end) {
		size_t n = line_len(p, end);
		if (*p == '\r' || *p == '\n')
			break; /* the blank line: the body follows as it is */
		if (*p == ' ' || *p == '\t') {
			if (!dropping) /* a continuation goes with its field */
				buf_append(out, p, n);
			p += n;
			continue;
		}
		dropping = n >= 7 && strncasecmp(p, "X-Spam", 6) == 0 &&
			(memchr(p, ':', n) != NULL) &&
			(p[6] == ':' || p[6] == '-' || p[6] == ' ' || p[6] == '\t');
		if (dropping)
			removed++;
		else
			buf_append(out, p, n);
		p += n;
	}
	buf_append(out, p, (size_t)(end - p));
	return removed;
}
