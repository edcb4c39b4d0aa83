/* SPDX-License-Identifier: MIT */
/*
 * Verification of one received message: SPF of the MAIL FROM domain (of
 * the HELO name for the null sender), every DKIM signature, DMARC of the
 * From: domain, then the Authentication-Results header field of RFC 8601
 * that records it for the user's mail client, and the removal of fields
 * that claim to come from us (forged before the message arrived). Pure
 * functions over struct mailauth_dns: the thread pool in mailauth-service.c
 * calls them with libunbound, the unit tests with fake answers.
 */
#include "mailauth/mailauth.h"

#include "lib/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The SPF identity: MAIL FROM, or postmaster@HELO for the null sender. */
static void spf_identity(const struct mailauth_request *req, struct mailauth_result *r)
{
	const char *mf = req->mail_from ? req->mail_from : "";
	const char *at = strrchr(mf, '@');
	if (*mf != '\0' && at != NULL) {
		snprintf(r->spf_domain, sizeof(r->spf_domain), "%s", at + 1);
		snprintf(r->spf_identity, sizeof(r->spf_identity), "%s", mf);
		if (at == mf) /* "<@domain>": section 4.3 says postmaster */
			snprintf(r->spf_identity, sizeof(r->spf_identity), "postmaster%s", mf);
	} else {
		const char *helo = req->helo ? req->helo : "";
		r->spf_helo = true;
		snprintf(r->spf_domain, sizeof(r->spf_domain), "%s", helo);
		snprintf(r->spf_identity, sizeof(r->spf_identity), "postmaster@%s", helo);
	}
	str_lower(r->spf_domain);
}

void mailauth_verify_message(const struct mailauth_dns *dns, const struct mailauth_request *req,
			     struct mailauth_result *r)
{
	memset(r, 0, sizeof(*r));
	spf_identity(req, r);
	struct mailauth_ip ip;
	bool literal = r->spf_domain[0] == '[' || strchr(r->spf_domain, ':') != NULL;
	if (req->ip != NULL && mailauth_ip_parse(req->ip, &ip) == 0 && !literal)
		r->spf = mailauth_spf_check(dns, &ip, r->spf_domain, r->spf_identity, req->helo);
	else
		r->spf = MAILAUTH_SPF_NONE;

	if (mailauth_dkim_verify(dns, req->msg, req->len, &r->dkim) < 0)
		r->dkim.n = 0;

	char from[254];
	int f = mailauth_from_domain(req->msg, req->len, from, sizeof(from));
	if (f < 0) {
		r->dmarc.result = MAILAUTH_DMARC_PERMERROR;
		return;
	}
	unsigned char rnd = 0;
	if (random_bytes(&rnd, 1) < 0)
		rnd = 0;
	mailauth_dmarc_evaluate(dns, f > 0 ? from : "", r->spf, r->spf_domain, &r->dkim, rnd % 100,
				&r->dmarc);
}

/* --- Authentication-Results ---------------------------------------------------- */

/* A property value (RFC 8601 pvalue): bare when it is a dot-atom with an
 * optional "@", else a quoted-string; peer bytes are sanitised first. */
static void put_value(struct buf *out, const char *v)
{
	char s[330];
	str_sanitize(s, sizeof(s), v, strlen(v));
	bool bare = s[0] != '\0';
	for (const char *p = s; *p != '\0' && bare; p++)
		bare = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr(".-_+@", *p) != NULL;
	if (bare) {
		buf_append_str(out, s);
		return;
	}
	buf_append(out, "\"", 1);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, p, 1);
	}
	buf_append(out, "\"", 1);
}

static const char *policy_name(enum mailauth_dmarc_policy p)
{
	switch (p) {
	case MAILAUTH_DMARC_P_REJECT:
		return "reject";
	case MAILAUTH_DMARC_P_QUARANTINE:
		return "quarantine";
	default:
		return "none";
	}
}

void mailauth_result_header(const struct mailauth_result *r, const char *authserv_id,
			    struct buf *out)
{
	buf_printf(out, "Authentication-Results: %s;\r\n\tspf=%s ", authserv_id,
		   mailauth_spf_name(r->spf));
	buf_append_str(out, r->spf_helo ? "smtp.helo=" : "smtp.mailfrom=");
	put_value(out, r->spf_helo ? r->spf_domain : r->spf_identity);
	if (r->dkim.n == 0)
		buf_append_str(out, ";\r\n\tdkim=none");
	for (size_t i = 0; i < r->dkim.n; i++) {
		const struct mailauth_dkim_sig *s = &r->dkim.sigs[i];
		buf_printf(out, ";\r\n\tdkim=%s", mailauth_dkim_name(s->result));
		if (s->reason != NULL && s->result != MAILAUTH_DKIM_PASS) {
			char why[80];
			str_sanitize(why, sizeof(why), s->reason, strlen(s->reason));
			for (char *p = why; *p; p++)
				if (*p == '(' || *p == ')' || *p == '\\')
					*p = ' ';
			buf_printf(out, " (%s)", why);
		}
		buf_append_str(out, " header.d=");
		put_value(out, s->domain);
		buf_append_str(out, " header.s=");
		put_value(out, s->selector);
		buf_append_str(out, " header.a=");
		put_value(out, s->algorithm);
		if (s->b[0] != '\0')
			buf_printf(out, " header.b=\"%s\"", s->b);
	}
	buf_printf(out, ";\r\n\tdmarc=%s", mailauth_dmarc_name(r->dmarc.result));
	if (r->dmarc.result == MAILAUTH_DMARC_PASS || r->dmarc.result == MAILAUTH_DMARC_FAIL)
		buf_printf(out, " (p=%s)", policy_name(r->dmarc.policy));
	if (r->dmarc.from_domain[0] != '\0') {
		buf_append_str(out, " header.from=");
		put_value(out, r->dmarc.from_domain);
	}
	buf_append_str(out, "\r\n");
}

/* --- removing forged results ----------------------------------------------------- */

/* Does this Authentication-Results value (after the colon) name authserv_id? */
static bool names_us(const char *v, size_t len, const char *authserv_id)
{
	size_t i = 0;
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
		i++;
	size_t start = i;
	while (i < len && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' &&
	       v[i] != '\n' && v[i] != '(')
		i++;
	size_t id_len = strlen(authserv_id);
	return i - start == id_len && strncasecmp(v + start, authserv_id, id_len) == 0;
}

size_t mailauth_strip_results(const char *msg, size_t len, const char *authserv_id, struct buf *out)
{
	static const char name[] = "Authentication-Results:";
	const size_t nl = sizeof(name) - 1;
	size_t removed = 0, i = 0;
	while (i < len) {
		const char *line = msg + i;
		const char *eol = memchr(line, '\n', len - i);
		size_t fl = eol ? (size_t)(eol - line) + 1 : len - i;
		if (line[0] == '\r' || line[0] == '\n')
			break; /* the empty line: the body follows, copied as is */
		while (i + fl < len && (msg[i + fl] == ' ' || msg[i + fl] == '\t')) {
			const char *e2 = memchr(msg + i + fl, '\n', len - i - fl);
			fl = e2 ? (size_t)(e2 - line) + 1 : len - i;
		}
		if (fl > nl && strncasecmp(line, name, nl) == 0 &&
		    names_us(line + nl, fl - nl, authserv_id)) {
			removed++;
		} else {
			buf_append(out, line, fl);
		}
		i += fl;
	}
	if (i < len)
		buf_append(out, msg + i, len - i);
	return removed;
}
