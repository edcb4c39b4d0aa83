/* SPDX-License-Identifier: MIT */
/*
 * The JMAP VacationResponse (RFC 8621 8) made to reply: its properties
 * become a Sieve script named JMAP_VACATION_SCRIPT (a vacation action,
 * inside currentdate tests for fromDate/toDate), stored through
 * sieve_store_put (so it is compiled like any script and an invalid one is
 * never stored) and made the account's active script while the response
 * is enabled. The account has one active script: when another script is
 * active (written with the CLI or ManageSieve), enabling is refused rather
 * than silently turning the user's rules off. Whether the response is
 * enabled is read back from the store (our script is the active one), so
 * a change made through the CLI or ManageSieve shows in VacationResponse/get.
 */
#include "jmap/jmap-private.h"

#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "sieve/sieve.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOUNDARY "=_facteur_vacation"
#define LINE_MAX_PLAIN 900 /* longer lines go base64 in a MIME reason */

/* A Sieve quoted string: '"' and '\' escaped, controls (CR, LF, TAB...) as spaces. */
static void append_quoted(struct buf *b, const char *s)
{
	buf_append_str(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			buf_append_str(b, "\\");
		if (ch < 0x20 || ch == 0x7f)
			ch = ' ';
		buf_append(b, &ch, 1);
	}
	buf_append_str(b, "\"");
}

/*
 * A Sieve multi-line string (RFC 5228 2.4.2): "text:", the lines with a
 * leading "." doubled, then "." alone. Lines end in LF in the script (the
 * lexer gives CRLF); CR and NUL from the user are dropped.
 */
static void append_text(struct buf *b, const char *s)
{
	buf_append_str(b, "text:\n");
	bool bol = true;
	for (; *s != '\0'; s++) {
		if (*s == '\r')
			continue;
		if (bol && *s == '.')
			buf_append_str(b, ".");
		buf_append(b, s, 1);
		bol = *s == '\n';
	}
	if (!bol)
		buf_append_str(b, "\n");
	buf_append_str(b, ".\n");
}

static bool has_long_line(const char *s)
{
	size_t run = 0;
	for (; *s != '\0'; s++) {
		run = *s == '\n' ? 0 : run + 1;
		if (run > LINE_MAX_PLAIN)
			return true;
	}
	return false;
}

/* One MIME part, UTF-8, base64 in 76-column lines (never a "." line). */
static void append_part(struct buf *b, const char *type, const char *body)
{
	buf_printf(b,
		   "Content-Type: %s; charset=utf-8\n"
		   "Content-Transfer-Encoding: base64\n\n",
		   type);
	size_t len = strlen(body);
	char out[80];
	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;
		if (auth_base64_encode(body + i, n, out, sizeof(out)) < 0)
			continue; /* cannot happen: 57 bytes make 76 */
		buf_printf(b, "%s\n", out);
	}
}

/* The :mime reason: text and HTML as multipart/alternative, or one of them. */
static void append_mime(struct buf *b, const char *text, const char *html)
{
	buf_append_str(b, "text:\n");
	if (text != NULL && html != NULL) {
		buf_append_str(b,
			       "Content-Type: multipart/alternative; boundary=\"" BOUNDARY
			       "\"\n\n--" BOUNDARY "\n");
		append_part(b, "text/plain", text);
		buf_append_str(b, "--" BOUNDARY "\n");
		append_part(b, "text/html", html);
		buf_append_str(b, "--" BOUNDARY "--\n");
	} else {
		append_part(b, html != NULL ? "text/html" : "text/plain", html ?: text);
	}
	buf_append_str(b, ".\n");
}

/*
 * A "currentdate" bound: the instant as the iso8601 date-part in UTC
 * ("2026-12-24T00:00:00+00:00"), which has a fixed width and so compares
 * as text with :value.
 */
static void append_bound(struct buf *b, const char *rel, time_t t)
{
	struct tm tm;
	char when[40] = "";
	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	buf_printf(b, "currentdate :zone \"+0000\" :value \"%s\" \"iso8601\" \"%s\"", rel, when);
}

char *jmap_vacation_script(const struct jmap_vacation_text *v, size_t *len_r)
{
	const char *text = v->text_body != NULL && v->text_body[0] != '\0' ? v->text_body : NULL;
	const char *html = v->html_body != NULL && v->html_body[0] != '\0' ? v->html_body : NULL;
	if (text == NULL && html == NULL)
		text = JMAP_VACATION_DEFAULT_TEXT;
	bool mime = html != NULL || has_long_line(text);
	bool dated = v->has_from || v->has_to;
	struct buf b;
	buf_init(&b);
	buf_printf(&b,
		   "# Written by facteur from the JMAP VacationResponse (webmail settings):\n"
		   "# it is rewritten each time they are saved.\n"
		   "require [\"vacation\"%s];\n",
		   dated ? ", \"date\", \"relational\"" : "");
	if (dated) {
		buf_append_str(&b, "if allof (");
		if (v->has_from)
			append_bound(&b, "ge", v->from);
		if (v->has_from && v->has_to)
			buf_append_str(&b, ",\n          ");
		if (v->has_to)
			append_bound(&b, "lt", v->to);
		buf_append_str(&b, ") {\n");
	}
	buf_append_str(&b, "vacation");
	if (v->subject != NULL && v->subject[0] != '\0') {
		buf_append_str(&b, " :subject ");
		append_quoted(&b, v->subject);
	}
	if (mime) {
		buf_append_str(&b, " :mime ");
		append_mime(&b, text, html);
	} else {
		buf_append_str(&b, " ");
		append_text(&b, text);
	}
	buf_append_str(&b, ";\n");
	if (dated)
		buf_append_str(&b, "}\n");
	*len_r = b.len;
	char *out = xstrndup(b.data, b.len);
	buf_deinit(&b);
	return out;
}

int jmap_vacation_enabled(struct jmap_ctx *c)
{
	char name[STORE_SIEVE_NAME_MAX + 1];
	char *src = NULL;
	size_t len;
	int r = store_sieve_active(c->store, c->account_id, &src, &len, name, sizeof(name));
	free(src);
	if (r <= 0)
		return r;
	return strcmp(name, JMAP_VACATION_SCRIPT) == 0 ? 1 : 0;
}

static const char *json_str(json_t *v, const char *key)
{
	return json_string_value(json_object_get(v, key));
}

static bool json_time(json_t *v, const char *key, time_t *t_r)
{
	const char *s = json_str(v, key);
	return s != NULL && jmap_date_parse(s, t_r);
}

json_t *jmap_vacation_apply(struct jmap_ctx *c, json_t *v)
{
	char name[STORE_SIEVE_NAME_MAX + 1] = "";
	char *src = NULL;
	size_t len;
	const char *error = NULL;
	int active = store_sieve_active(c->store, c->account_id, &src, &len, name, sizeof(name));
	free(src);
	if (active < 0)
		return jmap_set_error("serverFail", NULL, NULL);
	bool ours = active > 0 && strcmp(name, JMAP_VACATION_SCRIPT) == 0;
	if (!json_is_true(json_object_get(v, "isEnabled"))) {
		/* Off: our script goes (the user's own scripts are left as they are). */
		if ((ours && store_sieve_activate(c->store, c->account_id, NULL, &error) < 0) ||
		    store_sieve_delete(c->store, c->account_id, JMAP_VACATION_SCRIPT, &error) < 0)
			return jmap_set_error("serverFail", error, NULL);
		return NULL;
	}
	if (active > 0 && !ours) {
		char desc[STORE_SIEVE_NAME_MAX + 160];
		snprintf(desc, sizeof(desc),
			 "the Sieve filter script \"%s\" is active; the vacation reply would "
			 "replace it: deactivate it or add a vacation rule to it",
			 name);
		return jmap_set_error("forbidden", desc, "isEnabled");
	}
	struct jmap_vacation_text t = {
		.subject = json_str(v, "subject"),
		.text_body = json_str(v, "textBody"),
		.html_body = json_str(v, "htmlBody"),
	};
	t.has_from = json_time(v, "fromDate", &t.from);
	t.has_to = json_time(v, "toDate", &t.to);
	char *script = jmap_vacation_script(&t, &len);
	json_t *err = NULL;
	if (len > SIEVE_SCRIPT_MAX) {
		err = jmap_set_error("invalidProperties", "the vacation text is too long",
				     t.html_body != NULL ? "htmlBody" : "textBody");
	} else if (sieve_store_put(c->store, c->account_id, JMAP_VACATION_SCRIPT, script, len,
				   &error) < 0 ||
		   (!ours &&
		    store_sieve_activate(c->store, c->account_id, JMAP_VACATION_SCRIPT, &error) <=
			    0)) {
		err = jmap_set_error("serverFail", error, NULL);
	}
	free(script);
	return err;
}
