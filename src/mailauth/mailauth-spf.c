/* SPDX-License-Identifier: MIT */
/*
 * SPF, RFC 7208, written here rather than with libspf2: that library's
 * upstream has not released since 2012 and its macro expansion, which
 * parses attacker-published DNS text, has had one memory-safety bug after
 * another (CVE-2021-20314, CVE-2021-33912/33913, ZDI-23-1472). check_host()
 * is small: select the one "v=spf1" TXT record, parse every term first (a
 * syntax error anywhere is permerror), then evaluate mechanisms in order.
 * The limits of section 4.6.4 bound the work an attacker's records can
 * cause: 10 terms that query DNS (include, a, mx, ptr, exists, redirect)
 * across the whole evaluation, 2 void lookups, 10 MX or PTR names each.
 * exp= is parsed but never fetched: facteur does not show explanations.
 */
#include "mailauth/mailauth.h"

#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SPF_MAX_LOOKUPS 10
#define SPF_MAX_VOID 2
#define SPF_MAX_NAMES 10
#define SPF_MAX_TERMS 64
#define SPF_DOMAIN_MAX 254

enum spf_mech {
	MECH_ALL,
	MECH_INCLUDE,
	MECH_A,
	MECH_MX,
	MECH_PTR,
	MECH_IP4,
	MECH_IP6,
	MECH_EXISTS,
};

struct spf_term {
	enum spf_mech mech;
	char qualifier;  /* '+', '-', '~', '?' */
	const char *arg; /* domain-spec or address, NULL if none */
	size_t arg_len;
	int cidr4, cidr6; /* prefix lengths (defaults 32/128) */
};

struct spf_record {
	struct spf_term terms[SPF_MAX_TERMS];
	size_t n;
	const char *redirect;
	size_t redirect_len;
};

struct spf_eval {
	const struct mailauth_dns *dns;
	const struct mailauth_ip *ip;
	const char *sender; /* local@domain */
	const char *helo;
	int lookups, voids;
};

const char *mailauth_spf_name(enum mailauth_spf_result r)
{
	static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
					    "softfail", "temperror", "permerror"};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* --- parsing ------------------------------------------------------------------ */

/* "/n" with no leading zero, n <= max. Returns chars used or -1. */
static int parse_prefix(const char *p, size_t len, int max, int *out)
{
	if (len < 2 || p[0] != '/' || !isdigit((unsigned char)p[1]))
		return -1;
	if (p[1] == '0' && len > 2 && isdigit((unsigned char)p[2]))
		return -1;
	int v = 0;
	size_t i = 1;
	while (i < len && isdigit((unsigned char)p[i]) && v <= max)
		v = v * 10 + (p[i++] - '0');
	if (v > max)
		return -1;
	*out = v;
	return (int)i;
}

/*
 * Split "domain-spec/24//64" (a, mx) or "1.2.3.0/24" (ip4, ip6) into the
 * argument and its prefix lengths. Returns 0 or -1.
 */
static int parse_cidr(struct spf_term *t, const char *p, size_t len, bool dual)
{
	size_t end = len;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '/') {
			end = i;
			break;
		}
	}
	t->arg = end > 0 ? p : NULL;
	t->arg_len = end;
	const char *c = p + end;
	size_t clen = len - end;
	if (clen == 0)
		return 0;
	bool v6_only = dual && clen >= 2 && c[1] == '/';
	if (!v6_only) {
		int max = t->mech == MECH_IP6 ? 128 : 32;
		int n = parse_prefix(c, clen, max, t->mech == MECH_IP6 ? &t->cidr6 : &t->cidr4);
		if (n < 0)
			return -1;
		c += n;
		clen -= (size_t)n;
	}
	if (clen == 0)
		return 0;
	if (!dual || clen < 3 || c[0] != '/')
		return -1;
	int n = parse_prefix(c + 1, clen - 1, 128, &t->cidr6);
	return n >= 0 && (size_t)n == clen - 1 ? 0 : -1;
}

static const struct {
	const char *name;
	enum spf_mech mech;
} mech_names[] = {
	{"all", MECH_ALL}, {"include", MECH_INCLUDE}, {"a", MECH_A},     {"mx", MECH_MX},
	{"ptr", MECH_PTR}, {"ip4", MECH_IP4},         {"ip6", MECH_IP6}, {"exists", MECH_EXISTS},
};

static int parse_mechanism(struct spf_term *t, const char *p, size_t len)
{
	t->qualifier = '+';
	if (len > 0 && strchr("+-~?", p[0]) != NULL) {
		t->qualifier = p[0];
		p++, len--;
	}
	size_t nl = 0;
	while (nl < len && p[nl] != ':' && p[nl] != '/')
		nl++;
	size_t k = 0;
	for (; k < sizeof(mech_names) / sizeof(mech_names[0]); k++)
		if (strlen(mech_names[k].name) == nl && strncasecmp(p, mech_names[k].name, nl) == 0)
			break;
	if (k == sizeof(mech_names) / sizeof(mech_names[0]))
		return -1;
	t->mech = mech_names[k].mech;
	t->cidr4 = 32;
	t->cidr6 = 128;
	const char *rest = p + nl;
	size_t rlen = len - nl;
	bool colon = rlen > 0 && rest[0] == ':';
	if (colon)
		rest++, rlen--;
	switch (t->mech) {
	case MECH_ALL:
		return rlen == 0 && !colon ? 0 : -1;
	case MECH_INCLUDE:
	case MECH_EXISTS:
		if (!colon || rlen == 0)
			return -1;
		t->arg = rest;
		t->arg_len = rlen;
		return 0;
	case MECH_PTR:
		if (!colon && rlen > 0)
			return -1;
		t->arg = colon ? rest : NULL;
		t->arg_len = rlen;
		return colon && rlen == 0 ? -1 : 0;
	case MECH_A:
	case MECH_MX:
		if (colon && (rlen == 0 || rest[0] == '/'))
			return -1;
		return parse_cidr(t, rest, rlen, true);
	case MECH_IP4:
	case MECH_IP6:
		if (!colon || parse_cidr(t, rest, rlen, false) < 0 || t->arg == NULL)
			return -1;
		return 0;
	}
	return -1;
}

/*
 * Parse a whole record (after "v=spf1"). Terms are separated by spaces;
 * "name=value" is a modifier. Returns 0 or -1 (permerror).
 */
static int parse_record(const char *txt, struct spf_record *rec)
{
	bool have_exp = false;
	memset(rec, 0, sizeof(*rec));
	const char *p = txt;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t len = strcspn(p, " ");
		size_t nl = 0;
		while (nl < len &&
		       (isalnum((unsigned char)p[nl]) || p[nl] == '-' || p[nl] == '_' ||
			p[nl] == '.'))
			nl++;
		if (nl > 0 && nl < len && p[nl] == '=' && isalpha((unsigned char)p[0])) {
			if (nl == 8 && strncasecmp(p, "redirect", 8) == 0) {
				if (rec->redirect != NULL || nl + 1 == len)
					return -1;
				rec->redirect = p + nl + 1;
				rec->redirect_len = len - nl - 1;
			} else if (nl == 3 && strncasecmp(p, "exp", 3) == 0) {
				if (have_exp)
					return -1;
				have_exp = true;
			} /* unknown modifiers are ignored (section 6) */
		} else {
			if (rec->n == SPF_MAX_TERMS ||
			    parse_mechanism(&rec->terms[rec->n], p, len) < 0)
				return -1;
			rec->n++;
		}
		p += len;
	}
	return 0;
}

/* --- macros (section 7) ---------------------------------------------------------- */

static void ip_macro(const struct mailauth_ip *ip, char *out, size_t outsz)
{
	if (ip->family == AF_INET) {
		snprintf(out, outsz, "%u.%u.%u.%u", ip->addr[0], ip->addr[1], ip->addr[2],
			 ip->addr[3]);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16 && o + 4 < outsz; i++) {
		out[o++] = hex[ip->addr[i] >> 4];
		out[o++] = '.';
		out[o++] = hex[ip->addr[i] & 15];
		out[o++] = '.';
	}
	out[o ? o - 1 : 0] = '\0';
}

/* Apply the digits / 'r' / delimiters transformers to value, into out. */
static void macro_transform(const char *value, unsigned keep, bool reverse, const char *delims,
			    struct buf *out)
{
	const char *parts[128];
	size_t lens[128], n = 0;
	const char *p = value;
	for (;;) {
		size_t l = strcspn(p, delims);
		if (n < 128) {
			parts[n] = p;
			lens[n++] = l;
		}
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	if (reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			const char *tp = parts[i];
			size_t tl = lens[i];
			parts[i] = parts[n - 1 - i], lens[i] = lens[n - 1 - i];
			parts[n - 1 - i] = tp, lens[n - 1 - i] = tl;
		}
	}
	size_t first = keep > 0 && keep < n ? n - keep : 0;
	for (size_t i = first; i < n; i++) {
		if (i > first)
			buf_append(out, ".", 1);
		buf_append(out, parts[i], lens[i]);
	}
}

static void url_escape(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || strchr("-._~", c) != NULL)
			buf_append(out, s + i, 1);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* One "%{...}" body (between the braces). Returns 0 or -1. */
static int expand_one(const struct spf_eval *e, const char *domain, const char *m, size_t mlen,
		      struct buf *out)
{
	char letter = (char)tolower((unsigned char)m[0]);
	bool upper = isupper((unsigned char)m[0]);
	char value[SPF_DOMAIN_MAX * 2 + 64];
	const char *at = strrchr(e->sender, '@');
	switch (letter) {
	case 's':
		snprintf(value, sizeof(value), "%s", e->sender);
		break;
	case 'l':
		snprintf(value, sizeof(value), "%.*s", at ? (int)(at - e->sender) : 0, e->sender);
		break;
	case 'o':
		snprintf(value, sizeof(value), "%s", at ? at + 1 : e->sender);
		break;
	case 'd':
		snprintf(value, sizeof(value), "%s", domain);
		break;
	case 'i':
		ip_macro(e->ip, value, sizeof(value));
		break;
	case 'p':
		snprintf(value, sizeof(value), "unknown");
		break;
	case 'v':
		snprintf(value, sizeof(value), e->ip->family == AF_INET ? "in-addr" : "ip6");
		break;
	case 'h':
		snprintf(value, sizeof(value), "%s", e->helo ? e->helo : "");
		break;
	default:
		return -1; /* c, r, t belong to exp= only */
	}
	size_t i = 1;
	unsigned keep = 0;
	while (i < mlen && isdigit((unsigned char)m[i]) && keep < 1000)
		keep = keep * 10 + (unsigned)(m[i++] - '0');
	if (i > 1 && keep == 0)
		return -1;
	bool reverse = i < mlen && (m[i] == 'r' || m[i] == 'R');
	if (reverse)
		i++;
	char delims[8] = "";
	size_t nd = 0;
	for (; i < mlen; i++) {
		if (strchr(".-+,/_=", m[i]) == NULL || nd + 1 >= sizeof(delims))
			return -1;
		delims[nd++] = m[i];
	}
	delims[nd] = '\0';
	struct buf t;
	buf_init(&t);
	macro_transform(value, keep, reverse, nd ? delims : ".", &t);
	if (upper)
		url_escape(t.data ? t.data : "", t.len, out);
	else if (t.len > 0)
		buf_append(out, t.data, t.len);
	buf_deinit(&t);
	return 0;
}

/*
 * Expand a domain-spec into out (NUL-terminated), keeping at most 253
 * characters by dropping labels from the left (section 7.3). 0 or -1.
 */
static int expand_domain(const struct spf_eval *e, const char *domain, const char *spec, size_t len,
			 char *out, size_t outsz)
{
	struct buf b;
	buf_init(&b);
	int ret = 0;
	for (size_t i = 0; i < len && ret == 0; i++) {
		if (spec[i] != '%') {
			if ((unsigned char)spec[i] <= ' ' || (unsigned char)spec[i] >= 0x7f)
				ret = -1;
			else
				buf_append(&b, spec + i, 1);
			continue;
		}
		if (++i >= len) {
			ret = -1;
		} else if (spec[i] == '%') {
			buf_append(&b, "%", 1);
		} else if (spec[i] == '_') {
			buf_append(&b, " ", 1);
		} else if (spec[i] == '-') {
			buf_append(&b, "%20", 3);
		} else if (spec[i] == '{') {
			const char *close = memchr(spec + i, '}', len - i);
			if (close == NULL || close == spec + i + 1)
				ret = -1;
			else
				ret = expand_one(e, domain, spec + i + 1,
						 (size_t)(close - spec - i - 1), &b);
			if (close != NULL)
				i = (size_t)(close - spec);
		} else {
			ret = -1;
		}
	}
	const char *s = b.len > 0 ? buf_cstr(&b) : "";
	size_t sl = b.len;
	while (sl > 0 && s[sl - 1] == '.')
		sl--;
	while (sl > 253) {
		const char *dot = memchr(s, '.', sl);
		if (dot == NULL)
			break;
		sl -= (size_t)(dot + 1 - s);
		s = dot + 1;
	}
	if (ret == 0 && (sl == 0 || sl >= outsz))
		ret = -1;
	if (ret == 0) {
		memcpy(out, s, sl);
		out[sl] = '\0';
	}
	buf_deinit(&b);
	return ret;
}

/* --- evaluation -------------------------------------------------------------------- */

static bool ip_in_prefix(const struct mailauth_ip *ip, const unsigned char *net, int family,
			 int prefix)
{
	if (ip->family != family)
		return false;
	int full = prefix / 8, rest = prefix % 8;
	if (memcmp(ip->addr, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (ip->addr[full] & mask) == (net[full] & mask);
}

/* Is this a domain name check_host can use (section 4.3)? */
static bool spf_domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0;
	if (len == 0 || len > 253 || strchr(d, '.') == NULL)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (d[i] == '.' || d[i] == '\0') {
			if (label == 0 || label > 63)
				return false;
			label = 0;
		} else {
			label++;
		}
	}
	return true;
}

enum match { M_NO, M_YES, M_TEMP, M_PERM };

/* Count a DNS-querying term; over the limit is permerror. */
static bool spf_count(struct spf_eval *e)
{
	return ++e->lookups <= SPF_MAX_LOOKUPS;
}

static enum match spf_void(struct spf_eval *e, const struct mailauth_answer *a)
{
	if (a->status == MAILAUTH_DNS_TEMP)
		return M_TEMP;
	if (a->n == 0 && ++e->voids > SPF_MAX_VOID)
		return M_PERM;
	return M_NO;
}

static int family_rr(const struct spf_eval *e)
{
	return e->ip->family == AF_INET ? MAILAUTH_RR_A : MAILAUTH_RR_AAAA;
}

/* Does name have an address of the client's family within the prefix? */
static enum match match_addresses(struct spf_eval *e, const char *name, const struct spf_term *t,
				  bool count_void)
{
	struct mailauth_answer a = {0};
	e->dns->query(e->dns->ctx, name, family_rr(e), &a);
	enum match m =
		count_void ? spf_void(e, &a) : (a.status == MAILAUTH_DNS_TEMP ? M_TEMP : M_NO);
	int prefix = e->ip->family == AF_INET ? t->cidr4 : t->cidr6;
	for (size_t i = 0; m == M_NO && i < a.n; i++)
		if (ip_in_prefix(e->ip, a.rr[i].addr, e->ip->family, prefix))
			m = M_YES;
	mailauth_answer_free(&a);
	return m;
}

static enum match match_mx(struct spf_eval *e, const char *target, const struct spf_term *t)
{
	struct mailauth_answer a = {0};
	e->dns->query(e->dns->ctx, target, MAILAUTH_RR_MX, &a);
	enum match m = spf_void(e, &a);
	if (m == M_NO && a.n > SPF_MAX_NAMES)
		m = M_PERM;
	for (size_t i = 0; m == M_NO && i < a.n; i++)
		if (a.rr[i].text != NULL && a.rr[i].text[0] != '\0')
			m = match_addresses(e, a.rr[i].text, t, false);
	mailauth_answer_free(&a);
	return m;
}

/* The reverse-lookup name of the client's address. */
static void reverse_name(const struct mailauth_ip *ip, char *out, size_t outsz)
{
	if (ip->family == AF_INET) {
		snprintf(out, outsz, "%u.%u.%u.%u.in-addr.arpa", ip->addr[3], ip->addr[2],
			 ip->addr[1], ip->addr[0]);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 15; i >= 0; i--) {
		o += (size_t)snprintf(out + o, outsz - o, "%c.%c.", hex[ip->addr[i] & 15],
				      hex[ip->addr[i] >> 4]);
	}
	snprintf(out + o, outsz - o, "ip6.arpa");
}

static bool name_within(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	if (n == d)
		return strcasecmp(name, domain) == 0;
	return n > d && name[n - d - 1] == '.' && strcasecmp(name + n - d, domain) == 0;
}

/* ptr (section 5.5): DNS errors make it not match, never an error. */
static enum match match_ptr(struct spf_eval *e, const char *target)
{
	char rev[128];
	reverse_name(e->ip, rev, sizeof(rev));
	struct mailauth_answer a = {0};
	e->dns->query(e->dns->ctx, rev, MAILAUTH_RR_PTR, &a);
	enum match m = a.status == MAILAUTH_DNS_TEMP ? M_NO : spf_void(e, &a);
	struct spf_term exact = {.cidr4 = 32, .cidr6 = 128};
	for (size_t i = 0; m == M_NO && i < a.n && i < SPF_MAX_NAMES; i++) {
		const char *name = a.rr[i].text;
		if (name == NULL || !name_within(name, target))
			continue;
		if (match_addresses(e, name, &exact, false) == M_YES)
			m = M_YES;
	}
	mailauth_answer_free(&a);
	return m;
}

static enum mailauth_spf_result check_host(struct spf_eval *e, const char *domain, int depth);

static enum match match_include(struct spf_eval *e, const char *target, int depth)
{
	switch (check_host(e, target, depth + 1)) {
	case MAILAUTH_SPF_PASS:
		return M_YES;
	case MAILAUTH_SPF_FAIL:
	case MAILAUTH_SPF_SOFTFAIL:
	case MAILAUTH_SPF_NEUTRAL:
		return M_NO;
	case MAILAUTH_SPF_TEMPERROR:
		return M_TEMP;
	default: /* permerror, and none (section 5.2) */
		return M_PERM;
	}
}

static enum match match_term(struct spf_eval *e, const struct spf_term *t, const char *domain,
			     int depth)
{
	char target[SPF_DOMAIN_MAX];
	unsigned char net[16] = {0};
	if (t->mech == MECH_ALL)
		return M_YES;
	if (t->mech == MECH_IP4 || t->mech == MECH_IP6) {
		char addr[64];
		if (t->arg_len >= sizeof(addr))
			return M_PERM;
		memcpy(addr, t->arg, t->arg_len);
		addr[t->arg_len] = '\0';
		int fam = t->mech == MECH_IP4 ? AF_INET : AF_INET6;
		if (inet_pton(fam, addr, net) != 1)
			return M_PERM;
		return ip_in_prefix(e->ip, net, fam, fam == AF_INET ? t->cidr4 : t->cidr6) ? M_YES
											   : M_NO;
	}
	if (!spf_count(e))
		return M_PERM;
	if (t->arg == NULL)
		snprintf(target, sizeof(target), "%s", domain);
	else if (expand_domain(e, domain, t->arg, t->arg_len, target, sizeof(target)) < 0)
		return M_PERM;
	switch (t->mech) {
	case MECH_INCLUDE:
		return match_include(e, target, depth);
	case MECH_A:
		return match_addresses(e, target, t, true);
	case MECH_MX:
		return match_mx(e, target, t);
	case MECH_PTR:
		return match_ptr(e, target);
	case MECH_EXISTS: {
		struct mailauth_answer a = {0};
		e->dns->query(e->dns->ctx, target, MAILAUTH_RR_A, &a);
		enum match m = spf_void(e, &a);
		if (m == M_NO && a.n > 0)
			m = M_YES;
		mailauth_answer_free(&a);
		return m;
	}
	default:
		return M_PERM;
	}
}

/* The single "v=spf1" record of domain: 1 found, 0 none, -1 temp, -2 several. */
static int fetch_record(struct spf_eval *e, const char *domain, char **txt_r)
{
	struct mailauth_answer a = {0};
	e->dns->query(e->dns->ctx, domain, MAILAUTH_RR_TXT, &a);
	int found = 0;
	if (a.status == MAILAUTH_DNS_TEMP)
		found = -1;
	for (size_t i = 0; found >= 0 && i < a.n; i++) {
		const char *t = a.rr[i].text;
		if (t == NULL || strncasecmp(t, "v=spf1", 6) != 0 || (t[6] != ' ' && t[6] != '\0'))
			continue;
		if (found == 1) {
			free(*txt_r);
			*txt_r = NULL;
			found = -2;
			break;
		}
		*txt_r = xstrdup(t + 6);
		found = 1;
	}
	mailauth_answer_free(&a);
	return found;
}

static enum mailauth_spf_result qualifier_result(char q)
{
	switch (q) {
	case '-':
		return MAILAUTH_SPF_FAIL;
	case '~':
		return MAILAUTH_SPF_SOFTFAIL;
	case '?':
		return MAILAUTH_SPF_NEUTRAL;
	default:
		return MAILAUTH_SPF_PASS;
	}
}

static enum mailauth_spf_result evaluate(struct spf_eval *e, const struct spf_record *rec,
					 const char *domain, int depth)
{
	for (size_t i = 0; i < rec->n; i++) {
		switch (match_term(e, &rec->terms[i], domain, depth)) {
		case M_YES:
			return qualifier_result(rec->terms[i].qualifier);
		case M_TEMP:
			return MAILAUTH_SPF_TEMPERROR;
		case M_PERM:
			return MAILAUTH_SPF_PERMERROR;
		case M_NO:
			break;
		}
	}
	if (rec->redirect == NULL)
		return MAILAUTH_SPF_NEUTRAL;
	char target[SPF_DOMAIN_MAX];
	if (!spf_count(e) ||
	    expand_domain(e, domain, rec->redirect, rec->redirect_len, target, sizeof(target)) < 0)
		return MAILAUTH_SPF_PERMERROR;
	enum mailauth_spf_result r = check_host(e, target, depth + 1);
	return r == MAILAUTH_SPF_NONE ? MAILAUTH_SPF_PERMERROR : r;
}

static enum mailauth_spf_result check_host(struct spf_eval *e, const char *domain, int depth)
{
	/* The lookup limit already bounds depth; this is a second fence. */
	if (depth > SPF_MAX_LOOKUPS + 1)
		return MAILAUTH_SPF_PERMERROR;
	if (!spf_domain_ok(domain))
		return MAILAUTH_SPF_NONE;
	char *txt = NULL;
	int found = fetch_record(e, domain, &txt);
	if (found == -1)
		return MAILAUTH_SPF_TEMPERROR;
	if (found == -2)
		return MAILAUTH_SPF_PERMERROR;
	if (found == 0)
		return MAILAUTH_SPF_NONE;
	struct spf_record *rec = xmalloc(sizeof(*rec));
	enum mailauth_spf_result r = parse_record(txt, rec) < 0 ? MAILAUTH_SPF_PERMERROR
								: evaluate(e, rec, domain, depth);
	free(rec);
	free(txt);
	return r;
}

enum mailauth_spf_result mailauth_spf_check(const struct mailauth_dns *dns,
					    const struct mailauth_ip *ip, const char *domain,
					    const char *sender, const char *helo)
{
	struct spf_eval e = {.dns = dns, .ip = ip, .sender = sender, .helo = helo};
	char d[SPF_DOMAIN_MAX];
	snprintf(d, sizeof(d), "%s", domain);
	size_t l = strlen(d);
	if (l > 0 && d[l - 1] == '.')
		d[l - 1] = '\0';
	return check_host(&e, d, 0);
}
