/* SPDX-License-Identifier: MIT */
/*
 * What Sieve tests compare: the comparators i;octet, i;ascii-casemap and
 * i;ascii-numeric (RFC 4790) under the match types :is, :contains,
 * :matches (with the captures the variables extension reads) and the
 * relational :value/:count (RFC 5231); address parts including the
 * subaddress :user/:detail (RFC 5233, separator '+', as store_resolve
 * uses); header decoding and address lists through GMime; the date parts
 * of RFC 5260. :contains and :matches (which backtracks) spend the run's
 * match budget, one unit per character compared.
 */
#include "sieve/sieve-private.h"

#include "lib/util.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fold(int c, uint8_t cmp)
{
	return cmp == SV_CMP_OCTET ? c : (c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* i;ascii-numeric: the leading digits, or "infinity" (1 in *inf) when none. */
static uint64_t numeric(const char *s, bool *inf)
{
	uint64_t v = 0;
	*inf = !(*s >= '0' && *s <= '9');
	for (; *s >= '0' && *s <= '9'; s++)
		v = v > UINT64_MAX / 10 - 10 ? UINT64_MAX : v * 10 + (uint64_t)(*s - '0');
	return v;
}

/* <0, 0, >0 like strcmp, under cmp. */
static int compare(uint8_t cmp, const char *a, const char *b)
{
	if (cmp == SV_CMP_NUMERIC) {
		bool ia, ib;
		uint64_t x = numeric(a, &ia), y = numeric(b, &ib);
		if (ia || ib)
			return ia == ib ? 0 : ia ? 1 : -1;
		return x < y ? -1 : x > y;
	}
	for (;; a++, b++) {
		int x = fold((unsigned char)*a, cmp), y = fold((unsigned char)*b, cmp);
		if (x != y || x == 0)
			return x - y;
	}
}

bool sieve_relational(uint8_t rel, uint8_t cmp, const char *a, const char *b)
{
	int c = compare(cmp, a, b);
	switch (rel) {
	case SV_R_GT:
		return c > 0;
	case SV_R_GE:
		return c >= 0;
	case SV_R_LT:
		return c < 0;
	case SV_R_LE:
		return c <= 0;
	case SV_R_EQ:
		return c == 0;
	default:
		return c != 0;
	}
}

static bool contains(uint8_t cmp, const char *v, const char *k, unsigned *budget)
{
	size_t kl = strlen(k);
	if (kl == 0)
		return true;
	for (; *v != '\0'; v++) {
		if (*budget == 0)
			return false;
		(*budget)--;
		size_t i = 0;
		while (i < kl && v[i] != '\0' &&
		       fold((unsigned char)v[i], cmp) == fold((unsigned char)k[i], cmp))
			i++;
		if (i == kl)
			return true;
	}
	return false;
}

struct glob {
	uint8_t cmp;
	unsigned *budget;
	const char *starts[10], *ends[10]; /* captures 1..9 */
	unsigned ncap;
};

/* Glob match of pattern p at s; '*' and '?' capture, '\' escapes. */
static bool glob_at(struct glob *g, const char *p, const char *s, unsigned cap)
{
	for (;;) {
		if (*g->budget == 0)
			return false;
		(*g->budget)--;
		if (*p == '\0')
			return *s == '\0';
		if (*p == '*') {
			/* Shortest first: captures take as little as they can. */
			for (const char *t = s;; t++) {
				if (cap < 10) {
					g->starts[cap] = s;
					g->ends[cap] = t;
				}
				if (glob_at(g, p + 1, t, cap + 1))
					return true;
				if (*t == '\0' || *g->budget == 0)
					return false;
			}
		}
		if (*s == '\0')
			return false;
		if (*p == '?') {
			if (cap < 10) {
				g->starts[cap] = s;
				g->ends[cap] = s + 1;
			}
			cap++;
		} else {
			const char *q = *p == '\\' && p[1] != '\0' ? p + 1 : p;
			if (fold((unsigned char)*q, g->cmp) != fold((unsigned char)*s, g->cmp))
				return false;
			p = q;
		}
		p++;
		s++;
		if (cap > g->ncap)
			g->ncap = cap;
	}
}

bool sieve_match(uint8_t match, uint8_t rel, uint8_t cmp, const char *value, const char *key,
		 char **caps, unsigned *budget)
{
	switch (match) {
	case SV_M_IS:
		return compare(cmp, value, key) == 0;
	case SV_M_CONTAINS:
		return cmp != SV_CMP_NUMERIC && contains(cmp, value, key, budget);
	case SV_M_VALUE:
		return sieve_relational(rel, cmp, value, key);
	case SV_M_MATCHES:
		break;
	default:
		return false;
	}
	if (cmp == SV_CMP_NUMERIC)
		return false;
	struct glob g = {.cmp = cmp, .budget = budget, .ncap = 1};
	if (!glob_at(&g, key, value, 1))
		return false;
	if (caps != NULL) {
		for (unsigned i = 0; i < 10; i++) {
			free(caps[i]);
			caps[i] = NULL;
		}
		caps[0] = xstrdup(value);
		/* ncap counts how far captures went; only wildcards set starts. */
		unsigned n = 1;
		for (const char *p = key; *p != '\0' && n < 10; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '*' || *p == '?') {
				caps[n] = xstrndup(g.starts[n], (size_t)(g.ends[n] - g.starts[n]));
				n++;
			}
		}
	}
	return true;
}

char *sieve_address_part(const char *addr, uint8_t part)
{
	const char *at = strrchr(addr, '@');
	size_t local_len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	const char *plus = memchr(addr, '+', local_len);
	switch (part) {
	case SV_P_LOCAL:
		return xstrndup(addr, local_len);
	case SV_P_DOMAIN:
		return xstrdup(at != NULL ? at + 1 : "");
	case SV_P_USER:
		return xstrndup(addr, plus != NULL ? (size_t)(plus - addr) : local_len);
	case SV_P_DETAIL:
		return plus != NULL ? xstrndup(plus + 1, local_len - (size_t)(plus + 1 - addr))
				    : NULL;
	default:
		return xstrdup(addr);
	}
}

static void addresses_of(InternetAddressList *l, char ***v, size_t *n, int depth)
{
	int len = internet_address_list_length(l);
	for (int i = 0; i < len && *n < 1000; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			const char *s =
				internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
			*v = xrealloc(*v, (*n + 1) * sizeof(**v));
			(*v)[(*n)++] = xstrdup(s != NULL ? s : "");
		} else if (INTERNET_ADDRESS_IS_GROUP(a) && depth < 4) {
			addresses_of(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)),
				     v, n, depth + 1);
		}
	}
}

void sieve_addresses(const char *value, char ***v, size_t *n)
{
	InternetAddressList *l = internet_address_list_parse(NULL, value);
	if (l == NULL)
		return;
	addresses_of(l, v, n, 0);
	g_object_unref(l);
}

char *sieve_header_decode(const char *raw)
{
	while (*raw == ' ' || *raw == '\t')
		raw++;
	char *d = g_mime_utils_header_decode_text(NULL, raw);
	char *r = xstrdup(d != NULL ? d : raw);
	g_free(d);
	size_t l = strlen(r);
	while (l > 0 && (r[l - 1] == ' ' || r[l - 1] == '\t' || r[l - 1] == '\r'))
		r[--l] = '\0';
	return r;
}

int sieve_date_parse(const char *value, time_t *t_r, long *offset_r)
{
	GDateTime *dt = g_mime_utils_header_decode_date(value);
	if (dt == NULL)
		return 0;
	*t_r = (time_t)g_date_time_to_unix(dt);
	*offset_r = (long)(g_date_time_get_utc_offset(dt) / G_USEC_PER_SEC);
	g_date_time_unref(dt);
	return 1;
}

int sieve_zone_parse(const char *zone, long *offset_r)
{
	if (strlen(zone) != 5 || (zone[0] != '+' && zone[0] != '-'))
		return 0;
	for (int i = 1; i < 5; i++) {
		if (zone[i] < '0' || zone[i] > '9')
			return 0;
	}
	long h = (zone[1] - '0') * 10 + (zone[2] - '0');
	long m = (zone[3] - '0') * 10 + (zone[4] - '0');
	if (h > 23 || m > 59)
		return 0;
	*offset_r = (zone[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
	return 1;
}

char *sieve_date_part(time_t t, long offset, const char *part)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t local = t + offset;
	struct tm tm;
	if (gmtime_r(&local, &tm) == NULL)
		return NULL;
	long ao = offset < 0 ? -offset : offset;
	char zone[8];
	snprintf(zone, sizeof(zone), "%c%02ld%02ld", offset < 0 ? '-' : '+', ao / 3600 % 100,
		 ao % 3600 / 60);
	int y = tm.tm_year + 1900;
	if (strcasecmp(part, "year") == 0)
		return xasprintf("%04d", y);
	if (strcasecmp(part, "month") == 0)
		return xasprintf("%02d", tm.tm_mon + 1);
	if (strcasecmp(part, "day") == 0)
		return xasprintf("%02d", tm.tm_mday);
	if (strcasecmp(part, "date") == 0)
		return xasprintf("%04d-%02d-%02d", y, tm.tm_mon + 1, tm.tm_mday);
	if (strcasecmp(part, "julian") == 0) { /* Modified Julian Day */
		long long days = (long long)local / 86400;
		if ((long long)local % 86400 < 0)
			days--;
		return xasprintf("%lld", days + 40587);
	}
	if (strcasecmp(part, "hour") == 0)
		return xasprintf("%02d", tm.tm_hour);
	if (strcasecmp(part, "minute") == 0)
		return xasprintf("%02d", tm.tm_min);
	if (strcasecmp(part, "second") == 0)
		return xasprintf("%02d", tm.tm_sec);
	if (strcasecmp(part, "time") == 0)
		return xasprintf("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (strcasecmp(part, "iso8601") == 0)
		return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d%.3s:%s", y, tm.tm_mon + 1,
				 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, zone, zone + 3);
	if (strcasecmp(part, "std11") == 0)
		return xasprintf("%s, %d %s %04d %02d:%02d:%02d %s", wd[tm.tm_wday], tm.tm_mday,
				 mon[tm.tm_mon], y, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
	if (strcasecmp(part, "zone") == 0)
		return xstrdup(zone);
	if (strcasecmp(part, "weekday") == 0)
		return xasprintf("%d", tm.tm_wday);
	return NULL;
}
