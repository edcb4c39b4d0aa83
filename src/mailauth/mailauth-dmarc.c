/* SPDX-License-Identifier: MIT */
/*
 * DMARC, RFC 7489, written here rather than with libopendmarc: that library
 * fetches policy records itself through libresolv, whose only resolver hook
 * is a process-wide list of IPv4 name servers (not dns_forward's IP@PORT,
 * not our per-job time budget), and it keeps the Public Suffix List in
 * process-wide state. Once the records come from our resolver, what is
 * left is small: find the one From: domain, discover the policy at
 * _dmarc.FROM then at _dmarc.ORGDOMAIN, check identifier alignment (strict
 * or relaxed through the organizational domain) and pick p= or sp=, with
 * pct= sampling. The organizational domain comes from Debian's
 * publicsuffix package when it is installed, else from the last two labels.
 */
#include "mailauth/mailauth.h"

#include "lib/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
#define DOMAIN_MAX 254

const char *mailauth_dmarc_name(enum mailauth_dmarc_result r)
{
	static const char *const names[] = {"none", "pass", "fail", "temperror", "permerror"};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* --- the record ------------------------------------------------------------- */

static enum mailauth_dmarc_policy parse_policy(const char *v)
{
	if (strcasecmp(v, "none") == 0)
		return MAILAUTH_DMARC_P_NONE;
	if (strcasecmp(v, "quarantine") == 0)
		return MAILAUTH_DMARC_P_QUARANTINE;
	if (strcasecmp(v, "reject") == 0)
		return MAILAUTH_DMARC_P_REJECT;
	return MAILAUTH_DMARC_P_UNSET;
}

static void trim(char *s)
{
	size_t l = strlen(s);
	while (l > 0 && isspace((unsigned char)s[l - 1]))
		s[--l] = '\0';
	size_t i = 0;
	while (isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, l - i + 1);
}

/* One "tag=value" (already trimmed) into r. The first tag must be v. */
static int dmarc_tag(char *tag, bool first, struct mailauth_dmarc_record *r)
{
	char *eq = strchr(tag, '=');
	if (eq == NULL)
		return first ? -1 : 0;
	*eq = '\0';
	char *v = eq + 1;
	trim(tag);
	trim(v);
	if (first)
		return strcmp(tag, "v") == 0 && strcmp(v, "DMARC1") == 0 ? 0 : -1;
	if (strcasecmp(tag, "p") == 0)
		r->p = parse_policy(v);
	else if (strcasecmp(tag, "sp") == 0)
		r->sp = parse_policy(v);
	else if (strcasecmp(tag, "adkim") == 0 && (v[0] == 's' || v[0] == 'r') && v[1] == '\0')
		r->adkim_strict = v[0] == 's';
	else if (strcasecmp(tag, "aspf") == 0 && (v[0] == 's' || v[0] == 'r') && v[1] == '\0')
		r->aspf_strict = v[0] == 's';
	else if (strcasecmp(tag, "pct") == 0 && isdigit((unsigned char)v[0]) && strlen(v) <= 3) {
		unsigned n = (unsigned)atoi(v);
		if (n <= 100)
			r->pct = n;
	}
	return 0;
}

int mailauth_dmarc_parse(const char *txt, struct mailauth_dmarc_record *r)
{
	memset(r, 0, sizeof(*r));
	r->pct = 100;
	if (strncmp(txt, "v=DMARC1", 8) != 0)
		return -1;
	char *copy = xstrdup(txt);
	int ret = 0;
	bool first = true;
	for (char *save = NULL, *tag = strtok_r(copy, ";", &save); tag != NULL && ret == 0;
	     tag = strtok_r(NULL, ";", &save)) {
		trim(tag);
		if (*tag == '\0')
			continue;
		ret = dmarc_tag(tag, first, r);
		first = false;
	}
	free(copy);
	if (ret < 0 || first)
		return -1;
	return 0;
}

/* --- organizational domain -------------------------------------------------- */

static char **psl_rules;
static size_t psl_n;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the list once for the process; a missing file leaves it empty. */
static void psl_load(void)
{
	FILE *f = fopen(PSL_PATH, "r");
	if (f == NULL)
		return;
	char line[512];
	size_t cap = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tok = line;
		while (isspace((unsigned char)*tok))
			tok++;
		tok[strcspn(tok, " \t\r\n")] = '\0';
		if (*tok == '\0' || strncmp(tok, "//", 2) == 0)
			continue;
		if (psl_n == cap) {
			cap = cap ? cap * 2 : 8192;
			psl_rules = xrealloc(psl_rules, cap * sizeof(*psl_rules));
		}
		psl_rules[psl_n++] = str_lower(xstrdup(tok));
	}
	fclose(f);
	qsort(psl_rules, psl_n, sizeof(*psl_rules), cmp_str);
}

static bool psl_has(const char *prefix, const char *suffix)
{
	char key[DOMAIN_MAX + 4];
	snprintf(key, sizeof(key), "%s%s", prefix, suffix);
	const char *k = key;
	return bsearch(&k, psl_rules, psl_n, sizeof(*psl_rules), cmp_str) != NULL;
}

/*
 * Offset in d (lower-case) where its public suffix starts: the longest
 * matching rule, exceptions first, "*" (the last label) by default.
 */
static size_t public_suffix(const char *d)
{
	size_t len = strlen(d);
	const char *last_dot = strrchr(d, '.');
	size_t best = last_dot ? (size_t)(last_dot + 1 - d) : 0;
	for (size_t i = 0; i < len; i = (size_t)(strchr(d + i, '.') - d) + 1) {
		const char *s = d + i;
		const char *parent = strchr(s, '.');
		if (psl_has("!", s))
			return parent ? (size_t)(parent + 1 - d) : len;
		if (psl_has("", s) || (parent != NULL && psl_has("*.", parent + 1)))
			return i;
		if (parent == NULL)
			break;
	}
	return best;
}

void mailauth_org_domain(const char *domain, char *out, size_t outsz)
{
	pthread_once(&psl_once, psl_load);
	char d[DOMAIN_MAX];
	snprintf(d, sizeof(d), "%s", domain);
	str_lower(d);
	size_t l = strlen(d);
	if (l > 0 && d[l - 1] == '.')
		d[--l] = '\0';
	size_t ps = public_suffix(d);
	if (ps <= 1) { /* the domain is a public suffix itself */
		snprintf(out, outsz, "%s", d);
		return;
	}
	/* one label more than the public suffix */
	size_t start = ps - 1;
	while (start > 0 && d[start - 1] != '.')
		start--;
	snprintf(out, outsz, "%s", d + start);
}

bool mailauth_aligned(const char *a, const char *b, bool strict)
{
	if (strcasecmp(a, b) == 0)
		return true;
	if (strict || *a == '\0' || *b == '\0')
		return false;
	char oa[DOMAIN_MAX], ob[DOMAIN_MAX];
	mailauth_org_domain(a, oa, sizeof(oa));
	mailauth_org_domain(b, ob, sizeof(ob));
	return strcmp(oa, ob) == 0;
}

/* --- the From: domain ----------------------------------------------------------- */

/* The domain of one mailbox ("Name <l@d>" or "l@d"). 1, 0 (none), -1. */
static int mailbox_domain(const char *m, size_t len, char *out, size_t outsz)
{
	const char *lt = NULL, *gt = NULL;
	for (size_t i = 0; i < len; i++) {
		if (m[i] == '<')
			lt = m + i;
		else if (m[i] == '>' && lt != NULL)
			gt = m + i;
	}
	if (lt != NULL && gt != NULL && gt > lt) {
		m = lt + 1;
		len = (size_t)(gt - lt - 1);
	}
	const char *at = NULL;
	for (size_t i = 0; i < len; i++)
		if (m[i] == '@')
			at = m + i;
	if (at == NULL)
		return 0;
	const char *d = at + 1;
	size_t dl = (size_t)(m + len - d);
	while (dl > 0 && isspace((unsigned char)*d))
		d++, dl--;
	while (dl > 0 && isspace((unsigned char)d[dl - 1]))
		dl--;
	if (dl == 0 || dl >= outsz)
		return -1;
	for (size_t i = 0; i < dl; i++)
		if (!isalnum((unsigned char)d[i]) && d[i] != '.' && d[i] != '-' && d[i] != '_')
			return -1;
	memcpy(out, d, dl);
	out[dl] = '\0';
	str_lower(out);
	return 1;
}

/*
 * Every mailbox of an unfolded From value: commas, group ':' and ';'
 * separate them outside quoted strings and comments (which are skipped).
 */
static int from_value_domains(const char *v, size_t len, char *found, size_t foundsz, bool *have)
{
	struct buf clean;
	buf_init(&clean);
	int depth = 0;
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (quoted) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '"')
			quoted = true;
		else if (c == '(')
			depth = 1;
		else
			buf_append(&clean, (c == ':' || c == ';') ? "," : &v[i], 1);
	}
	int ret = 0;
	const char *p = clean.len ? buf_cstr(&clean) : "";
	while (ret == 0 && *p != '\0') {
		size_t l = strcspn(p, ",");
		char d[DOMAIN_MAX];
		int r = mailbox_domain(p, l, d, sizeof(d));
		if (r < 0 || (r > 0 && *have && strcmp(d, found) != 0))
			ret = -1;
		else if (r > 0 && !*have) {
			snprintf(found, foundsz, "%s", d);
			*have = true;
		}
		p += l + (p[l] == ',');
	}
	buf_deinit(&clean);
	return ret;
}

int mailauth_from_domain(const char *msg, size_t len, char *out, size_t outsz)
{
	bool have = false;
	size_t i = 0;
	while (i < len) {
		const char *line = msg + i;
		const char *eol = memchr(line, '\n', len - i);
		size_t ll = eol ? (size_t)(eol - line) + 1 : len - i;
		if (ll <= 2 && (line[0] == '\r' || line[0] == '\n'))
			break; /* end of the header block */
		/* a field with its continuation lines */
		size_t fl = ll;
		while (i + fl < len && (msg[i + fl] == ' ' || msg[i + fl] == '\t')) {
			const char *e2 = memchr(msg + i + fl, '\n', len - i - fl);
			fl = e2 ? (size_t)(e2 - msg - i) + 1 : len - i;
		}
		if (fl > 5 && strncasecmp(line, "From:", 5) == 0) {
			struct buf v;
			buf_init(&v);
			for (size_t k = 5; k < fl; k++)
				if (line[k] != '\r' && line[k] != '\n')
					buf_append(&v, line + k, 1);
			int r = from_value_domains(v.data ? v.data : "", v.len, out, outsz, &have);
			buf_deinit(&v);
			if (r < 0)
				return -1;
		}
		i += fl;
	}
	return have ? 1 : 0;
}

/* --- evaluation ------------------------------------------------------------------ */

/* The one DMARC record at _dmarc.domain: 1, 0 (none or several), -1 temp. */
static int fetch_policy(const struct mailauth_dns *dns, const char *domain,
			struct mailauth_dmarc_record *rec)
{
	char name[DOMAIN_MAX + 8];
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	struct mailauth_answer a = {0};
	dns->query(dns->ctx, name, MAILAUTH_RR_TXT, &a);
	int found = a.status == MAILAUTH_DNS_TEMP ? -1 : 0;
	int candidates = 0;
	for (size_t i = 0; found >= 0 && i < a.n; i++) {
		const char *t = a.rr[i].text;
		if (t == NULL || strncmp(t, "v=DMARC1", 8) != 0)
			continue;
		candidates++;
		if (mailauth_dmarc_parse(t, rec) == 0)
			found = 1;
	}
	mailauth_answer_free(&a);
	return candidates > 1 ? 0 : found; /* section 6.6.3: several means none */
}

static bool dkim_aligned(const struct mailauth_dkim_results *dkim, const char *from, bool strict)
{
	for (size_t i = 0; i < dkim->n; i++)
		if (dkim->sigs[i].result == MAILAUTH_DKIM_PASS &&
		    mailauth_aligned(dkim->sigs[i].domain, from, strict))
			return true;
	return false;
}

static enum mailauth_action sampled_action(enum mailauth_dmarc_policy p, unsigned pct,
					   unsigned random_pct)
{
	/* Section 6.6.4: outside the sample, apply the next less strict policy. */
	if (random_pct >= pct) {
		if (p == MAILAUTH_DMARC_P_REJECT)
			p = MAILAUTH_DMARC_P_QUARANTINE;
		else
			p = MAILAUTH_DMARC_P_NONE;
	}
	return p == MAILAUTH_DMARC_P_REJECT        ? MAILAUTH_REJECT
		: p == MAILAUTH_DMARC_P_QUARANTINE ? MAILAUTH_QUARANTINE
						   : MAILAUTH_ACCEPT;
}

void mailauth_dmarc_evaluate(const struct mailauth_dns *dns, const char *from_domain,
			     enum mailauth_spf_result spf, const char *spf_domain,
			     const struct mailauth_dkim_results *dkim, unsigned random_pct,
			     struct mailauth_dmarc_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->action = MAILAUTH_ACCEPT;
	snprintf(o->from_domain, sizeof(o->from_domain), "%s", from_domain);
	str_lower(o->from_domain);
	if (o->from_domain[0] == '\0')
		return;
	struct mailauth_dmarc_record rec;
	int f = fetch_policy(dns, o->from_domain, &rec);
	bool sub = false;
	if (f == 0) {
		char org[DOMAIN_MAX];
		mailauth_org_domain(o->from_domain, org, sizeof(org));
		if (strcmp(org, o->from_domain) != 0) {
			f = fetch_policy(dns, org, &rec);
			sub = true;
		}
	}
	if (f < 0) {
		o->result = MAILAUTH_DMARC_TEMPERROR;
		return;
	}
	if (f == 0)
		return;
	o->policy = sub && rec.sp != MAILAUTH_DMARC_P_UNSET ? rec.sp : rec.p;
	if (o->policy == MAILAUTH_DMARC_P_UNSET)
		o->policy = MAILAUTH_DMARC_P_NONE;
	bool spf_ok = spf == MAILAUTH_SPF_PASS && spf_domain != NULL &&
		mailauth_aligned(spf_domain, o->from_domain, rec.aspf_strict);
	if (spf_ok || dkim_aligned(dkim, o->from_domain, rec.adkim_strict)) {
		o->result = MAILAUTH_DMARC_PASS;
		return;
	}
	o->result = MAILAUTH_DMARC_FAIL;
	o->action = sampled_action(o->policy, rec.pct, random_pct);
}
