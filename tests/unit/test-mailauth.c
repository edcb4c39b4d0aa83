/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of mail authentication with a fake resolver (a table of
 * records; "TEMP" as a value makes that name answer SERVFAIL): SPF results
 * and mechanisms (ip4, ip6, a, mx, ptr, exists, include, redirect, macros),
 * the 10-lookup and 2-void-lookup limits and syntax errors; DMARC record
 * parsing, organizational domains, alignment, From: extraction, policy
 * selection with sp= and pct=; DKIM keys generated into a temporary
 * directory, their TXT records served by the fake resolver, messages
 * signed with RSA and Ed25519 then verified, tampered, or missing keys;
 * the Authentication-Results header, removal of forged ones; and a job
 * run by the thread pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/util.h"
#include "mailauth/mailauth.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* --- a fake resolver ---------------------------------------------------------- */

struct fake_rec {
	char *name;
	int type;
	char *value;
};

struct fake_dns {
	struct fake_rec *recs;
	size_t n;
	int queries;
};

static void fake_add(struct fake_dns *f, const char *name, int type, const char *value)
{
	f->recs = xrealloc(f->recs, (f->n + 1) * sizeof(*f->recs));
	f->recs[f->n].name = xstrdup(name);
	f->recs[f->n].type = type;
	f->recs[f->n].value = xstrdup(value);
	f->n++;
}

static void fake_free(struct fake_dns *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->recs[i].name);
		free(f->recs[i].value);
	}
	free(f->recs);
	memset(f, 0, sizeof(*f));
}

static void fake_query(void *ctx, const char *name, int type, struct mailauth_answer *a)
{
	struct fake_dns *f = ctx;
	f->queries++;
	a->status = MAILAUTH_DNS_NONE;
	for (size_t i = 0; i < f->n; i++) {
		const struct fake_rec *r = &f->recs[i];
		if (strcasecmp(r->name, name) != 0)
			continue;
		if (strcmp(r->value, "TEMP") == 0) {
			mailauth_answer_free(a);
			a->status = MAILAUTH_DNS_TEMP;
			return;
		}
		if (r->type != type)
			continue;
		unsigned char addr[16] = {0};
		if (type == MAILAUTH_RR_A)
			assert_int_equal(inet_pton(AF_INET, r->value, addr), 1);
		if (type == MAILAUTH_RR_AAAA)
			assert_int_equal(inet_pton(AF_INET6, r->value, addr), 1);
		if (type == MAILAUTH_RR_MX) {
			unsigned pref = (unsigned)atoi(r->value);
			mailauth_answer_add(a, strchr(r->value, ' ') + 1, NULL, pref);
		} else if (type == MAILAUTH_RR_A || type == MAILAUTH_RR_AAAA) {
			mailauth_answer_add(a, NULL, addr, 0);
		} else {
			mailauth_answer_add(a, r->value, NULL, 0);
		}
	}
}

static struct mailauth_dns fake_dns(struct fake_dns *f)
{
	struct mailauth_dns d = {.ctx = f, .query = fake_query};
	return d;
}

static enum mailauth_spf_result spf(struct fake_dns *f, const char *ip, const char *domain)
{
	struct mailauth_dns d = fake_dns(f);
	struct mailauth_ip addr;
	assert_int_equal(mailauth_ip_parse(ip, &addr), 0);
	char sender[300];
	snprintf(sender, sizeof(sender), "user@%s", domain);
	return mailauth_spf_check(&d, &addr, domain, sender, "helo.test");
}

/* --- SPF -------------------------------------------------------------------------- */

static void test_spf_basic_results(void **state)
{
	struct fake_dns f = {0};
	fake_add(&f, "a.test", MAILAUTH_RR_TXT, "v=spf1 ip4:192.0.2.0/24 -all");
	fake_add(&f, "a.test", MAILAUTH_RR_TXT, "some other text");
	fake_add(&f, "soft.test", MAILAUTH_RR_TXT, "v=spf1 ip4:192.0.2.1 ~all");
	fake_add(&f, "neutral.test", MAILAUTH_RR_TXT, "v=spf1 ?all");
	fake_add(&f, "empty.test", MAILAUTH_RR_TXT, "v=spf1");
	fake_add(&f, "two.test", MAILAUTH_RR_TXT, "v=spf1 -all");
	fake_add(&f, "two.test", MAILAUTH_RR_TXT, "v=spf1 +all");
	fake_add(&f, "temp.test", MAILAUTH_RR_TXT, "TEMP");
	fake_add(&f, "notspf.test", MAILAUTH_RR_TXT, "v=spf10 -all");
	assert_int_equal(spf(&f, "192.0.2.77", "a.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "198.51.100.1", "a.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "198.51.100.1", "soft.test"), MAILAUTH_SPF_SOFTFAIL);
	assert_int_equal(spf(&f, "192.0.2.1", "soft.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "198.51.100.1", "neutral.test"), MAILAUTH_SPF_NEUTRAL);
	assert_int_equal(spf(&f, "198.51.100.1", "empty.test"), MAILAUTH_SPF_NEUTRAL);
	assert_int_equal(spf(&f, "198.51.100.1", "nothing.test"), MAILAUTH_SPF_NONE);
	assert_int_equal(spf(&f, "198.51.100.1", "notspf.test"), MAILAUTH_SPF_NONE);
	assert_int_equal(spf(&f, "198.51.100.1", "two.test"), MAILAUTH_SPF_PERMERROR);
	assert_int_equal(spf(&f, "198.51.100.1", "temp.test"), MAILAUTH_SPF_TEMPERROR);
	/* not a usable domain: none, without asking DNS */
	int q = f.queries;
	assert_int_equal(spf(&f, "198.51.100.1", "localhost"), MAILAUTH_SPF_NONE);
	assert_int_equal(f.queries, q);
	assert_string_equal(mailauth_spf_name(MAILAUTH_SPF_SOFTFAIL), "softfail");
	fake_free(&f);
}

static void test_spf_syntax_errors(void **state)
{
	static const char *const bad[] = {
		"v=spf1 ip4:300.1.1.1 -all",
		"v=spf1 ip4:192.0.2.0/33 -all",
		"v=spf1 ip4:192.0.2.0/024 -all",
		"v=spf1 foo -all",
		"v=spf1 include -all",
		"v=spf1 all:x",
		"v=spf1 a:/24",
		"v=spf1 redirect=a.test redirect=b.test",
		"v=spf1 exists:%{x}.test -all",
		"v=spf1 exists:%{i0}.test -all",
		"v=spf1 exists:%z.test -all",
		"v=spf1 ip6:2001:db8::/129",
		"v=spf1 a/24/",
		"v=spf1 mx//",
		"v=spf1 exp=a.test exp=b.test -all",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake_dns f = {0};
		fake_add(&f, "a.test", MAILAUTH_RR_TXT, bad[i]);
		fake_add(&f, "a.test", MAILAUTH_RR_A, "192.0.2.1");
		if (spf(&f, "198.51.100.1", "a.test") != MAILAUTH_SPF_PERMERROR)
			fail_msg("not a permerror: %s", bad[i]);
		fake_free(&f);
	}
	/* Unknown modifiers are ignored; exp= is never fetched. */
	struct fake_dns f = {0};
	fake_add(&f, "a.test", MAILAUTH_RR_TXT, "v=spf1 moo=cow exp=explain.a.test -all");
	assert_int_equal(spf(&f, "198.51.100.1", "a.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(f.queries, 1);
	fake_free(&f);
}

static void test_spf_mechanisms(void **state)
{
	struct fake_dns f = {0};
	fake_add(&f, "a.test", MAILAUTH_RR_TXT, "v=spf1 a -all");
	fake_add(&f, "a.test", MAILAUTH_RR_A, "192.0.2.10");
	fake_add(&f, "a.test", MAILAUTH_RR_AAAA, "2001:db8::10");
	fake_add(&f, "cidr.test", MAILAUTH_RR_TXT, "v=spf1 a:host.cidr.test/24//64 -all");
	fake_add(&f, "host.cidr.test", MAILAUTH_RR_A, "203.0.113.1");
	fake_add(&f, "host.cidr.test", MAILAUTH_RR_AAAA, "2001:db8:1:2::1");
	fake_add(&f, "mx.test", MAILAUTH_RR_TXT, "v=spf1 mx -all");
	fake_add(&f, "mx.test", MAILAUTH_RR_MX, "10 mail.mx.test");
	fake_add(&f, "mx.test", MAILAUTH_RR_MX, "20 backup.mx.test");
	fake_add(&f, "backup.mx.test", MAILAUTH_RR_A, "198.51.100.20");
	fake_add(&f, "v6.test", MAILAUTH_RR_TXT, "v=spf1 ip6:2001:db8:aa::/48 -all");
	fake_add(&f, "ex.test", MAILAUTH_RR_TXT, "v=spf1 exists:%{ir}.%{v}.%{l}._spf.%{d} -all");
	fake_add(&f, "1.2.0.192.in-addr.user._spf.ex.test", MAILAUTH_RR_A, "127.0.0.2");
	fake_add(&f, "ptr.test", MAILAUTH_RR_TXT, "v=spf1 ptr -all");
	fake_add(&f, "7.2.0.192.in-addr.arpa", MAILAUTH_RR_PTR, "host.ptr.test");
	fake_add(&f, "host.ptr.test", MAILAUTH_RR_A, "192.0.2.7");
	fake_add(&f, "8.2.0.192.in-addr.arpa", MAILAUTH_RR_PTR, "host.ptr.test");

	assert_int_equal(spf(&f, "192.0.2.10", "a.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "2001:db8::10", "a.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "::ffff:192.0.2.10", "a.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "192.0.2.11", "a.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "203.0.113.200", "cidr.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "203.0.114.1", "cidr.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "2001:db8:1:2:ffff::1", "cidr.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "2001:db8:1:3::1", "cidr.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "198.51.100.20", "mx.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "198.51.100.21", "mx.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "2001:db8:aa:ff::1", "v6.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "2001:db8:ab::1", "v6.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "192.0.2.1", "v6.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "192.0.2.1", "ex.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "192.0.2.3", "ex.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "192.0.2.7", "ptr.test"), MAILAUTH_SPF_PASS);
	/* the PTR name does not resolve back to the client: no match */
	assert_int_equal(spf(&f, "192.0.2.8", "ptr.test"), MAILAUTH_SPF_FAIL);
	fake_free(&f);
}

static void test_spf_include_redirect(void **state)
{
	struct fake_dns f = {0};
	fake_add(&f, "a.test", MAILAUTH_RR_TXT, "v=spf1 include:_spf.provider.test -all");
	fake_add(&f, "_spf.provider.test", MAILAUTH_RR_TXT, "v=spf1 ip4:198.51.100.0/24 ~all");
	fake_add(&f, "r.test", MAILAUTH_RR_TXT, "v=spf1 redirect=_spf.provider.test");
	fake_add(&f, "rn.test", MAILAUTH_RR_TXT, "v=spf1 redirect=nowhere.test");
	fake_add(&f, "in.test", MAILAUTH_RR_TXT, "v=spf1 include:nowhere.test -all");
	fake_add(&f, "it.test", MAILAUTH_RR_TXT, "v=spf1 include:temp.test -all");
	fake_add(&f, "temp.test", MAILAUTH_RR_TXT, "TEMP");
	fake_add(&f, "ra.test", MAILAUTH_RR_TXT, "v=spf1 ?all redirect=_spf.provider.test");
	fake_add(&f, "loop.test", MAILAUTH_RR_TXT, "v=spf1 include:loop.test -all");

	assert_int_equal(spf(&f, "198.51.100.9", "a.test"), MAILAUTH_SPF_PASS);
	/* the include's softfail is "no match": a.test's own -all decides */
	assert_int_equal(spf(&f, "192.0.2.1", "a.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "198.51.100.9", "r.test"), MAILAUTH_SPF_PASS);
	assert_int_equal(spf(&f, "192.0.2.1", "r.test"), MAILAUTH_SPF_SOFTFAIL);
	assert_int_equal(spf(&f, "192.0.2.1", "rn.test"), MAILAUTH_SPF_PERMERROR);
	assert_int_equal(spf(&f, "192.0.2.1", "in.test"), MAILAUTH_SPF_PERMERROR);
	assert_int_equal(spf(&f, "192.0.2.1", "it.test"), MAILAUTH_SPF_TEMPERROR);
	/* all matched first: redirect is not followed */
	assert_int_equal(spf(&f, "198.51.100.9", "ra.test"), MAILAUTH_SPF_NEUTRAL);
	/* an include loop ends at the lookup limit */
	f.queries = 0;
	assert_int_equal(spf(&f, "192.0.2.1", "loop.test"), MAILAUTH_SPF_PERMERROR);
	assert_true(f.queries <= 12);
	fake_free(&f);
}

static void test_spf_lookup_limits(void **state)
{
	/* A chain of includes: n0 -> n1 -> ... ; the last one passes. */
	for (int depth = 9; depth <= 10; depth++) {
		struct fake_dns f = {0};
		char name[64], txt[96];
		for (int i = 0; i < depth; i++) {
			snprintf(name, sizeof(name), "n%d.test", i);
			snprintf(txt, sizeof(txt), "v=spf1 include:n%d.test -all", i + 1);
			fake_add(&f, name, MAILAUTH_RR_TXT, txt);
		}
		snprintf(name, sizeof(name), "n%d.test", depth);
		fake_add(&f, name, MAILAUTH_RR_TXT, "v=spf1 a:ok.test -all");
		fake_add(&f, "ok.test", MAILAUTH_RR_A, "192.0.2.1");
		/* depth includes + one a: 10 lookups pass, 11 are too many */
		assert_int_equal(spf(&f, "192.0.2.1", "n0.test"),
				 depth == 9 ? MAILAUTH_SPF_PASS : MAILAUTH_SPF_PERMERROR);
		fake_free(&f);
	}
	/* Void lookups: two are tolerated, the third is a permerror. */
	struct fake_dns f = {0};
	fake_add(&f, "v2.test", MAILAUTH_RR_TXT, "v=spf1 a:x1.test a:x2.test -all");
	fake_add(&f, "v3.test", MAILAUTH_RR_TXT, "v=spf1 a:x1.test a:x2.test mx:x3.test -all");
	assert_int_equal(spf(&f, "192.0.2.1", "v2.test"), MAILAUTH_SPF_FAIL);
	assert_int_equal(spf(&f, "192.0.2.1", "v3.test"), MAILAUTH_SPF_PERMERROR);
	/* More than 10 MX names. */
	fake_add(&f, "many.test", MAILAUTH_RR_TXT, "v=spf1 mx -all");
	for (int i = 0; i < 11; i++) {
		char mx[64];
		snprintf(mx, sizeof(mx), "%d mx%d.many.test", i, i);
		fake_add(&f, "many.test", MAILAUTH_RR_MX, mx);
	}
	assert_int_equal(spf(&f, "192.0.2.1", "many.test"), MAILAUTH_SPF_PERMERROR);
	fake_free(&f);
}

/* --- DMARC ------------------------------------------------------------------------- */

static void test_dmarc_parse(void **state)
{
	struct mailauth_dmarc_record r;
	assert_int_equal(mailauth_dmarc_parse("v=DMARC1; p=reject; sp=none; adkim=s; aspf=r; "
					      "pct=50; rua=mailto:x@a.test",
					      &r),
			 0);
	assert_int_equal(r.p, MAILAUTH_DMARC_P_REJECT);
	assert_int_equal(r.sp, MAILAUTH_DMARC_P_NONE);
	assert_true(r.adkim_strict);
	assert_false(r.aspf_strict);
	assert_int_equal(r.pct, 50);
	assert_int_equal(mailauth_dmarc_parse("v=DMARC1;p=quarantine", &r), 0);
	assert_int_equal(r.p, MAILAUTH_DMARC_P_QUARANTINE);
	assert_int_equal(r.sp, MAILAUTH_DMARC_P_UNSET);
	assert_int_equal(r.pct, 100);
	assert_int_equal(mailauth_dmarc_parse("v=DMARC1; p=bogus; pct=500; adkim=x", &r), 0);
	assert_int_equal(r.p, MAILAUTH_DMARC_P_UNSET);
	assert_int_equal(r.pct, 100);
	assert_false(r.adkim_strict);
	assert_int_equal(mailauth_dmarc_parse("p=reject; v=DMARC1", &r), -1);
	assert_int_equal(mailauth_dmarc_parse("v=DMARC2; p=reject", &r), -1);
	assert_int_equal(mailauth_dmarc_parse("v=spf1 -all", &r), -1);
	assert_int_equal(mailauth_dmarc_parse("", &r), -1);
}

static void test_org_domain_alignment(void **state)
{
	char org[256];
	mailauth_org_domain("mail.A.test", org, sizeof(org));
	assert_string_equal(org, "a.test");
	mailauth_org_domain("a.test", org, sizeof(org));
	assert_string_equal(org, "a.test");
	mailauth_org_domain("test", org, sizeof(org));
	assert_string_equal(org, "test");
	if (access("/usr/share/publicsuffix/public_suffix_list.dat", R_OK) == 0) {
		mailauth_org_domain("x.y.example.co.uk", org, sizeof(org));
		assert_string_equal(org, "example.co.uk");
		mailauth_org_domain("co.uk", org, sizeof(org));
		assert_string_equal(org, "co.uk");
	}
	assert_true(mailauth_aligned("a.test", "A.TEST", true));
	assert_false(mailauth_aligned("mail.a.test", "a.test", true));
	assert_true(mailauth_aligned("mail.a.test", "a.test", false));
	assert_true(mailauth_aligned("x.a.test", "y.a.test", false));
	assert_false(mailauth_aligned("a.test", "b.test", false));
	assert_false(mailauth_aligned("", "b.test", false));
}

static int from_of(const char *msg, char *out)
{
	return mailauth_from_domain(msg, strlen(msg), out, 254);
}

static void test_from_domain(void **state)
{
	char d[254];
	assert_int_equal(from_of("From: a@A.Test\r\n\r\nbody", d), 1);
	assert_string_equal(d, "a.test");
	assert_int_equal(
		from_of("Subject: x\r\nfrom: \"Evil@bad.test\" <ceo@good.test>\r\n\r\n", d), 1);
	assert_string_equal(d, "good.test");
	assert_int_equal(from_of("From: (comment@bad.test) Name\r\n <x@good.test>\r\n\r\n", d), 1);
	assert_string_equal(d, "good.test");
	assert_int_equal(from_of("From: a@x.test, b@x.test\r\n\r\n", d), 1);
	assert_int_equal(from_of("From: a@x.test\r\nFrom: b@y.test\r\n\r\n", d), -1);
	assert_int_equal(from_of("From: a@x.test, b@y.test\r\n\r\n", d), -1);
	assert_int_equal(from_of("From: a@bad domain.test\r\n\r\n", d), -1);
	assert_int_equal(from_of("Subject: no from\r\n\r\nFrom: a@x.test\r\n", d), 0);
	assert_int_equal(from_of("From: undisclosed\r\n\r\n", d), 0);
	assert_int_equal(from_of("From: a@x.test", d), 1); /* no body, no final CRLF */
}

static struct mailauth_dkim_results dkim_one(const char *domain, enum mailauth_dkim_result r)
{
	struct mailauth_dkim_results res = {.n = 1};
	res.sigs[0].result = r;
	snprintf(res.sigs[0].domain, sizeof(res.sigs[0].domain), "%s", domain);
	return res;
}

static void test_dmarc_evaluate(void **state)
{
	struct fake_dns f = {0};
	fake_add(&f, "_dmarc.a.test", MAILAUTH_RR_TXT, "v=DMARC1; p=reject; sp=quarantine");
	fake_add(&f, "_dmarc.s.test", MAILAUTH_RR_TXT, "v=DMARC1; p=reject; adkim=s; aspf=s");
	fake_add(&f, "_dmarc.q.test", MAILAUTH_RR_TXT, "v=DMARC1; p=quarantine; pct=10");
	fake_add(&f, "_dmarc.two.test", MAILAUTH_RR_TXT, "v=DMARC1; p=reject");
	fake_add(&f, "_dmarc.two.test", MAILAUTH_RR_TXT, "v=DMARC1; p=none");
	fake_add(&f, "_dmarc.t.test", MAILAUTH_RR_TXT, "TEMP");
	struct mailauth_dns d = fake_dns(&f);
	struct mailauth_dmarc_outcome o;
	struct mailauth_dkim_results none = {0};
	struct mailauth_dkim_results good = dkim_one("a.test", MAILAUTH_DKIM_PASS);
	struct mailauth_dkim_results sub = dkim_one("mail.s.test", MAILAUTH_DKIM_PASS);
	struct mailauth_dkim_results bad = dkim_one("a.test", MAILAUTH_DKIM_FAIL);

	mailauth_dmarc_evaluate(&d, "a.test", MAILAUTH_SPF_FAIL, "a.test", &good, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_PASS);
	assert_int_equal(o.action, MAILAUTH_ACCEPT);
	assert_int_equal(o.policy, MAILAUTH_DMARC_P_REJECT);
	mailauth_dmarc_evaluate(&d, "a.test", MAILAUTH_SPF_PASS, "bounce.a.test", &bad, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_PASS); /* relaxed SPF alignment */
	mailauth_dmarc_evaluate(&d, "A.test", MAILAUTH_SPF_PASS, "other.test", &bad, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_FAIL); /* SPF passed, not aligned */
	assert_int_equal(o.action, MAILAUTH_REJECT);
	assert_string_equal(o.from_domain, "a.test");
	/* a subdomain without a record: the org domain's sp= */
	mailauth_dmarc_evaluate(&d, "news.a.test", MAILAUTH_SPF_NONE, "", &none, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_FAIL);
	assert_int_equal(o.policy, MAILAUTH_DMARC_P_QUARANTINE);
	assert_int_equal(o.action, MAILAUTH_QUARANTINE);
	/* strict alignment */
	mailauth_dmarc_evaluate(&d, "s.test", MAILAUTH_SPF_PASS, "mail.s.test", &sub, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_FAIL);
	mailauth_dmarc_evaluate(&d, "s.test", MAILAUTH_SPF_PASS, "s.test", &none, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_PASS);
	/* pct=10: outside the sample, quarantine becomes none */
	mailauth_dmarc_evaluate(&d, "q.test", MAILAUTH_SPF_FAIL, "q.test", &none, 5, &o);
	assert_int_equal(o.action, MAILAUTH_QUARANTINE);
	mailauth_dmarc_evaluate(&d, "q.test", MAILAUTH_SPF_FAIL, "q.test", &none, 50, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_FAIL);
	assert_int_equal(o.action, MAILAUTH_ACCEPT);
	/* no record, several records, temporary failure, no From domain */
	mailauth_dmarc_evaluate(&d, "nodmarc.test", MAILAUTH_SPF_FAIL, "x.test", &none, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_NONE);
	mailauth_dmarc_evaluate(&d, "two.test", MAILAUTH_SPF_FAIL, "x.test", &none, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_NONE);
	mailauth_dmarc_evaluate(&d, "t.test", MAILAUTH_SPF_FAIL, "x.test", &none, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_TEMPERROR);
	assert_int_equal(o.action, MAILAUTH_ACCEPT);
	mailauth_dmarc_evaluate(&d, "", MAILAUTH_SPF_FAIL, "x.test", &none, 0, &o);
	assert_int_equal(o.result, MAILAUTH_DMARC_NONE);
	fake_free(&f);
}

/* --- DKIM ------------------------------------------------------------------------- */

static const char message[] = "From: Alice <alice@a.test>\r\n"
			      "To: bob@b.test\r\n"
			      "Subject: signed\r\n"
			      "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
			      "Message-ID: <1@a.test>\r\n"
			      "\r\n"
			      "Hello Bob,\r\n"
			      "this message is signed.\r\n";

/* Publish the TXT records printed for selector into the fake resolver. */
static void publish_keys(struct fake_dns *f, const char *dir, const char *selector, bool rsa,
			 bool ed)
{
	struct buf out;
	buf_init(&out);
	assert_int_equal(mailauth_keys_dns_records(dir, "a.test", selector, &out), 2);
	const char *line = buf_cstr(&out);
	while (*line != '\0') {
		const char *eol = strchr(line, '\n');
		char name[256], value[2048];
		size_t o = 0;
		assert_int_equal(sscanf(line, "%255s", name), 1);
		name[strlen(name) - 1] = '\0'; /* the final dot */
		for (const char *p = strchr(line, '"'); p != NULL && p < eol;) {
			const char *q = strchr(p + 1, '"');
			memcpy(value + o, p + 1, (size_t)(q - p - 1));
			o += (size_t)(q - p - 1);
			p = strchr(q + 1, '"');
			if (p != NULL && p > eol)
				break;
		}
		value[o] = '\0';
		bool is_ed = strstr(value, "k=ed25519") != NULL;
		if ((is_ed && ed) || (!is_ed && rsa))
			fake_add(f, name, MAILAUTH_RR_TXT, value);
		line = eol + 1;
	}
	buf_deinit(&out);
}

static char *read_pem(const char *dir, const char *selector, const char *alg)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/dkim/a.test/%s.%s.pem", dir, selector, alg);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *pem = xcalloc(1, 8192);
	assert_true(fread(pem, 1, 8191, fp) > 0);
	fclose(fp);
	return pem;
}

/* Sign message with both keys of selector; the signed message in out. */
static void sign_both(const char *dir, const char *selector, struct buf *out)
{
	const char *error = NULL;
	char *rsa = read_pem(dir, selector, "rsa");
	char *ed = read_pem(dir, selector, "ed25519");
	char s_rsa[64], s_ed[64];
	mailauth_dns_selector(selector, MAILAUTH_DKIM_RSA, s_rsa, sizeof(s_rsa));
	mailauth_dns_selector(selector, MAILAUTH_DKIM_ED25519, s_ed, sizeof(s_ed));
	assert_int_equal(mailauth_dkim_sign(message, strlen(message), "a.test", s_rsa,
					    MAILAUTH_DKIM_RSA, rsa, out, &error),
			 0);
	assert_int_equal(mailauth_dkim_sign(message, strlen(message), "a.test", s_ed,
					    MAILAUTH_DKIM_ED25519, ed, out, &error),
			 0);
	buf_append_str(out, message);
	free(rsa);
	free(ed);
}

static void test_dkim_sign_verify(void **state)
{
	char dir[64];
	assert_int_equal(tu_tmpdir(dir, sizeof(dir), "mailauth"), 0);
	char *err = NULL;
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s1", &err), 0);
	struct fake_dns f = {0};
	publish_keys(&f, dir, "s1", true, true);
	struct mailauth_dns d = fake_dns(&f);

	struct buf signed_msg;
	buf_init(&signed_msg);
	sign_both(dir, "s1", &signed_msg);
	const char *sm = buf_cstr(&signed_msg);
	assert_non_null(strstr(sm, "a=rsa-sha256"));
	assert_non_null(strstr(sm, "a=ed25519-sha256"));
	assert_non_null(strstr(sm, "c=relaxed/relaxed"));
	assert_null(strstr(sm, "\n\n"));
	for (const char *p = sm; (p = strchr(p, '\n')) != NULL; p++)
		assert_int_equal(p[-1], '\r');

	struct mailauth_dkim_results r;
	assert_int_equal(mailauth_dkim_verify(&d, sm, signed_msg.len, &r), 0);
	assert_int_equal(r.n, 2);
	for (size_t i = 0; i < 2; i++) {
		if (r.sigs[i].result != MAILAUTH_DKIM_PASS)
			fail_msg("%s: %s (%s)", r.sigs[i].algorithm,
				 mailauth_dkim_name(r.sigs[i].result),
				 r.sigs[i].reason ? r.sigs[i].reason : "-");
		assert_string_equal(r.sigs[i].domain, "a.test");
		assert_string_equal(r.sigs[i].selector, i == 0 ? "s1-rsa" : "s1-ed25519");
		assert_int_equal(strlen(r.sigs[i].b), 8);
	}
	/* Relaxed canonicalisation survives re-folding whitespace at line ends. */
	struct buf relaxed;
	buf_init(&relaxed);
	buf_append(&relaxed, sm, signed_msg.len - 2);
	buf_append_str(&relaxed, "  \r\n\r\n\r\n");
	assert_int_equal(mailauth_dkim_verify(&d, buf_cstr(&relaxed), relaxed.len, &r), 0);
	assert_int_equal(r.sigs[0].result, MAILAUTH_DKIM_PASS);
	buf_deinit(&relaxed);

	/* A changed body fails both; a changed Subject too. */
	char *tampered = xstrdup(sm);
	*strstr(tampered, "Hello Bob") = 'J';
	assert_int_equal(mailauth_dkim_verify(&d, tampered, strlen(tampered), &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.sigs[0].result, MAILAUTH_DKIM_FAIL);
	assert_int_equal(r.sigs[1].result, MAILAUTH_DKIM_FAIL);
	free(tampered);
	tampered = xstrdup(sm);
	memcpy(strstr(tampered, "Subject: signed"), "Subject: Signed", 15);
	assert_int_equal(mailauth_dkim_verify(&d, tampered, strlen(tampered), &r), 0);
	assert_int_equal(r.sigs[0].result, MAILAUTH_DKIM_FAIL);
	free(tampered);

	/* No key published: permerror; resolver failure: temperror. */
	struct fake_dns empty = {0};
	struct mailauth_dns de = fake_dns(&empty);
	assert_int_equal(mailauth_dkim_verify(&de, sm, signed_msg.len, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.sigs[0].result, MAILAUTH_DKIM_PERMERROR);
	fake_add(&empty, "s1-rsa._domainkey.a.test", MAILAUTH_RR_TXT, "TEMP");
	assert_int_equal(mailauth_dkim_verify(&de, sm, signed_msg.len, &r), 0);
	assert_int_equal(r.sigs[0].result, MAILAUTH_DKIM_TEMPERROR);
	fake_free(&empty);

	/* Unsigned: no signatures. Garbage signature: not a pass. */
	assert_int_equal(mailauth_dkim_verify(&d, message, strlen(message), &r), 0);
	assert_int_equal(r.n, 0);
	static const char garbage[] = "DKIM-Signature: v=1; a=rsa-sha256; d=a.test; s=s1; b=@@\r\n";
	struct buf g;
	buf_init(&g);
	buf_append_str(&g, garbage);
	buf_append_str(&g, message);
	assert_int_equal(mailauth_dkim_verify(&d, buf_cstr(&g), g.len, &r), 0);
	for (size_t i = 0; i < r.n; i++)
		assert_int_not_equal(r.sigs[i].result, MAILAUTH_DKIM_PASS);
	buf_deinit(&g);

	buf_deinit(&signed_msg);
	fake_free(&f);
	tu_rmtree(dir);
}

/* Our signer against libopendkim's verifier on awkward messages. */
static void test_dkim_sign_canonicalisation(void **state)
{
	char dir[64];
	assert_int_equal(tu_tmpdir(dir, sizeof(dir), "mailauth"), 0);
	char *err = NULL;
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s1", &err), 0);
	struct fake_dns f = {0};
	publish_keys(&f, dir, "s1", true, true);
	struct mailauth_dns d = fake_dns(&f);
	char *pem[2] = {read_pem(dir, "s1", "rsa"), read_pem(dir, "s1", "ed25519")};
	static const char *const msgs[] = {
		"From:  Alice \t <alice@a.test>  \r\nTo: x@b.test,\r\n\t y@b.test\r\n"
		"To: z@b.test\r\nSUBJECT:folded\r\n  subject \r\n\r\n  a  b \t\r\n\r\n\r\n",
		"From: a@a.test\r\nSubject: no body\r\n\r\n",
		"From: a@a.test\r\nSubject: no final CRLF\r\n\r\nlast line",
		"Received: not signed\r\nFrom: a@a.test\r\n\r\n\r\n",
	};
	for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
		for (int alg = 0; alg < 2; alg++) {
			struct buf sm;
			buf_init(&sm);
			const char *error = NULL;
			char sel[64];
			mailauth_dns_selector("s1", (enum mailauth_dkim_alg)alg, sel, sizeof(sel));
			assert_int_equal(mailauth_dkim_sign(msgs[m], strlen(msgs[m]), "a.test", sel,
							    (enum mailauth_dkim_alg)alg, pem[alg],
							    &sm, &error),
					 0);
			buf_append_str(&sm, msgs[m]);
			struct mailauth_dkim_results r;
			assert_int_equal(mailauth_dkim_verify(&d, sm.data, sm.len, &r), 0);
			assert_int_equal(r.n, 1);
			if (r.sigs[0].result != MAILAUTH_DKIM_PASS)
				fail_msg("message %zu alg %d: %s (%s)", m, alg,
					 mailauth_dkim_name(r.sigs[0].result),
					 r.sigs[0].reason ? r.sigs[0].reason : "-");
			/* a second From added later breaks it (From is oversigned) */
			struct buf two;
			buf_init(&two);
			buf_append_str(&two, "From: evil@bad.test\r\n");
			buf_append(&two, sm.data, sm.len);
			assert_int_equal(mailauth_dkim_verify(&d, two.data, two.len, &r), 0);
			assert_int_not_equal(r.sigs[0].result, MAILAUTH_DKIM_PASS);
			buf_deinit(&two);
			buf_deinit(&sm);
		}
	}
	/* a key of the wrong kind, or no key at all */
	struct buf out;
	buf_init(&out);
	const char *error = NULL;
	assert_int_equal(mailauth_dkim_sign(message, strlen(message), "a.test", "x",
					    MAILAUTH_DKIM_RSA, pem[1], &out, &error),
			 -1);
	assert_int_equal(mailauth_dkim_sign(message, strlen(message), "a.test", "x",
					    MAILAUTH_DKIM_ED25519, "not a key", &out, &error),
			 -1);
	assert_int_equal(out.len, 0);
	buf_deinit(&out);
	free(pem[0]);
	free(pem[1]);
	fake_free(&f);
	tu_rmtree(dir);
}

static void key_cb(void *ctx, const char *domain, const char *selector, bool rsa, bool ed,
		   bool active)
{
	buf_printf(ctx, "%s %s %d%d%d\n", domain, selector, rsa, ed, active);
}

static void test_dkim_keys_and_rotation(void **state)
{
	char dir[64];
	assert_int_equal(tu_tmpdir(dir, sizeof(dir), "mailauth"), 0);
	char *err = NULL, sel[64];
	assert_int_equal(mailauth_keys_active(dir, "a.test", sel, sizeof(sel)), 0);
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s1", &err), 0);
	assert_int_equal(mailauth_keys_active(dir, "a.test", sel, sizeof(sel)), 1);
	assert_string_equal(sel, "s1");
	/* the same selector twice, bad names, activating keys that do not exist */
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s1", &err), -1);
	free(err);
	assert_int_equal(mailauth_keys_generate(dir, "../etc", "s1", &err), -1);
	free(err);
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s/1", &err), -1);
	free(err);
	assert_int_equal(mailauth_keys_activate(dir, "a.test", "nope", &err), -1);
	free(err);
	/* a second selector does not take over until activated */
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s2", &err), 0);
	assert_int_equal(mailauth_keys_active(dir, "a.test", sel, sizeof(sel)), 1);
	assert_string_equal(sel, "s1");

	struct config cfg;
	config_defaults(&cfg);
	free(cfg.data_dir);
	cfg.data_dir = xstrdup(dir);
	cfg.mailauth_verify = false;
	struct mailauth *ma = NULL;
	assert_int_equal(mailauth_create(&cfg, &ma, &err), 0);
	struct buf sig;
	buf_init(&sig);
	assert_int_equal(mailauth_sign(ma, "A.TEST", message, strlen(message), &sig), 2);
	assert_non_null(strstr(buf_cstr(&sig), "s=s1-rsa;"));
	assert_int_equal(mailauth_keys_activate(dir, "a.test", "s2", &err), 0);
	buf_clear(&sig);
	assert_int_equal(mailauth_sign(ma, "a.test", message, strlen(message), &sig), 2);
	assert_non_null(strstr(buf_cstr(&sig), "s=s2-ed25519;"));
	assert_null(strstr(buf_cstr(&sig), "s=s1-rsa;"));
	buf_clear(&sig);
	assert_int_equal(mailauth_sign(ma, "nokeys.test", message, strlen(message), &sig), 0);
	assert_int_equal(sig.len, 0);
	/* verification is off: no job */
	struct mailauth_job *job = NULL;
	struct mailauth_request req = {.ip = "127.0.0.1", .msg = message, .len = strlen(message)};
	assert_int_equal(mailauth_job_submit(ma, &req, &job), -1);
	mailauth_destroy(&ma);
	cfg.dkim_sign = false;
	assert_int_equal(mailauth_create(&cfg, &ma, &err), 0);
	assert_int_equal(mailauth_sign(ma, "a.test", message, strlen(message), &sig), 0);
	mailauth_destroy(&ma);

	struct buf list;
	buf_init(&list);
	assert_int_equal(mailauth_keys_list(dir, key_cb, &list), 0);
	assert_string_equal(buf_cstr(&list), "a.test s1 110\na.test s2 111\n");
	buf_deinit(&list);
	buf_deinit(&sig);
	config_deinit(&cfg);
	tu_rmtree(dir);
}

/* --- a whole message ------------------------------------------------------------------ */

static void test_verify_message_and_header(void **state)
{
	char dir[64];
	assert_int_equal(tu_tmpdir(dir, sizeof(dir), "mailauth"), 0);
	char *err = NULL;
	assert_int_equal(mailauth_keys_generate(dir, "a.test", "s1", &err), 0);
	struct fake_dns f = {0};
	publish_keys(&f, dir, "s1", true, true);
	fake_add(&f, "a.test", MAILAUTH_RR_TXT, "v=spf1 ip4:192.0.2.1 -all");
	fake_add(&f, "_dmarc.a.test", MAILAUTH_RR_TXT, "v=DMARC1; p=reject");
	struct mailauth_dns d = fake_dns(&f);
	struct buf sm;
	buf_init(&sm);
	sign_both(dir, "s1", &sm);

	struct mailauth_request req = {.ip = "192.0.2.1",
				       .helo = "mx.a.test",
				       .mail_from = "alice@a.test",
				       .msg = buf_cstr(&sm),
				       .len = sm.len};
	struct mailauth_result r;
	mailauth_verify_message(&d, &req, &r);
	assert_int_equal(r.spf, MAILAUTH_SPF_PASS);
	assert_int_equal(r.dkim.n, 2);
	assert_int_equal(r.dmarc.result, MAILAUTH_DMARC_PASS);
	struct buf h;
	buf_init(&h);
	mailauth_result_header(&r, "mx.b.test", &h);
	const char *hs = buf_cstr(&h);
	assert_true(strncmp(hs,
			    "Authentication-Results: mx.b.test;\r\n\tspf=pass "
			    "smtp.mailfrom=alice@a.test;\r\n\tdkim=pass header.d=a.test "
			    "header.s=s1-rsa header.a=rsa-sha256 header.b=\"",
			    133) == 0);
	assert_non_null(strstr(hs, "dmarc=pass (p=reject) header.from=a.test\r\n"));

	/* Forged: unsigned, from another address, null sender: DMARC rejects. */
	req.ip = "198.51.100.7";
	req.mail_from = "";
	req.helo = "[198.51.100.7]";
	req.msg = message;
	req.len = strlen(message);
	mailauth_verify_message(&d, &req, &r);
	assert_int_equal(r.spf, MAILAUTH_SPF_NONE);
	assert_true(r.spf_helo);
	assert_int_equal(r.dkim.n, 0);
	assert_int_equal(r.dmarc.result, MAILAUTH_DMARC_FAIL);
	assert_int_equal(r.dmarc.action, MAILAUTH_REJECT);
	buf_clear(&h);
	mailauth_result_header(&r, "mx.b.test", &h);
	assert_non_null(strstr(buf_cstr(&h),
			       "spf=none smtp.helo=\"[198.51.100.7]\";\r\n"
			       "\tdkim=none;\r\n\tdmarc=fail (p=reject)"));
	/* a quoted value keeps its quotes escaped */
	req.mail_from = "we\"ird@a.test";
	req.helo = "mx.a.test";
	mailauth_verify_message(&d, &req, &r);
	assert_int_equal(r.spf, MAILAUTH_SPF_FAIL);
	buf_clear(&h);
	mailauth_result_header(&r, "mx.b.test", &h);
	assert_non_null(strstr(buf_cstr(&h), "smtp.mailfrom=\"we\\\"ird@a.test\""));

	buf_deinit(&h);
	buf_deinit(&sm);
	fake_free(&f);
	tu_rmtree(dir);
}

static void test_strip_results(void **state)
{
	static const char msg[] = "Received: from x\r\n"
				  "Authentication-Results: MX.B.test; dkim=pass\r\n"
				  "Authentication-Results: other.test; spf=pass\r\n"
				  "authentication-results:\r\n mx.b.test;\r\n\tdmarc=pass\r\n"
				  "Subject: hi\r\n"
				  "\r\n"
				  "Authentication-Results: mx.b.test; in the body stays\r\n";
	struct buf out;
	buf_init(&out);
	assert_int_equal(mailauth_strip_results(msg, strlen(msg), "mx.b.test", &out), 2);
	assert_string_equal(buf_cstr(&out),
			    "Received: from x\r\n"
			    "Authentication-Results: other.test; spf=pass\r\n"
			    "Subject: hi\r\n"
			    "\r\n"
			    "Authentication-Results: mx.b.test; in the body stays\r\n");
	buf_clear(&out);
	assert_int_equal(mailauth_strip_results("X: y", 4, "mx.b.test", &out), 0);
	assert_string_equal(buf_cstr(&out), "X: y");
	buf_deinit(&out);
}

static atomic_int jobs_done;

static void job_done(void *arg)
{
	assert_ptr_equal(arg, &jobs_done);
	atomic_fetch_add(&jobs_done, 1);
}

/* A job through the pool, against a resolver that does not answer: the
 * time budget turns every lookup into a temperror quickly. */
static void test_job_pool_timeout(void **state)
{
	struct config cfg;
	config_defaults(&cfg);
	free(cfg.dns_forward);
	cfg.dns_forward = xstrdup("127.0.0.1@1");
	cfg.mailauth_timeout = 1;
	cfg.mailauth_threads = 2;
	struct mailauth *ma = NULL;
	char *err = NULL;
	assert_int_equal(mailauth_create(&cfg, &ma, &err), 0);
	struct mailauth_request req = {.ip = "192.0.2.1",
				       .helo = "h.test",
				       .mail_from = "a@a.test",
				       .msg = message,
				       .len = strlen(message),
				       .done = job_done,
				       .done_arg = &jobs_done};
	struct mailauth_job *job = NULL, *abandoned = NULL;
	assert_int_equal(mailauth_job_submit(ma, &req, &job), 0);
	assert_int_equal(mailauth_job_submit(ma, &req, &abandoned), 0);
	mailauth_job_release(&abandoned); /* the session went away */
	int64_t start = time_now_ms();
	const struct mailauth_result *r = NULL;
	while ((r = mailauth_job_result(job)) == NULL && time_now_ms() - start < 10000)
		usleep(20000);
	assert_non_null(r);
	assert_true(r->spf == MAILAUTH_SPF_TEMPERROR || r->spf == MAILAUTH_SPF_NONE);
	assert_int_not_equal(r->dmarc.action, MAILAUTH_REJECT);
	assert_true(atomic_load(&jobs_done) >= 1);
	mailauth_job_release(&job);
	/* a job still queued or running when the pool stops is freed safely */
	assert_int_equal(mailauth_job_submit(ma, &req, &job), 0);
	mailauth_destroy(&ma);
	mailauth_job_release(&job);
	config_deinit(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf_basic_results),
		cmocka_unit_test(test_spf_syntax_errors),
		cmocka_unit_test(test_spf_mechanisms),
		cmocka_unit_test(test_spf_include_redirect),
		cmocka_unit_test(test_spf_lookup_limits),
		cmocka_unit_test(test_dmarc_parse),
		cmocka_unit_test(test_org_domain_alignment),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_dmarc_evaluate),
		cmocka_unit_test(test_dkim_sign_verify),
		cmocka_unit_test(test_dkim_sign_canonicalisation),
		cmocka_unit_test(test_dkim_keys_and_rotation),
		cmocka_unit_test(test_verify_message_and_header),
		cmocka_unit_test(test_strip_results),
		cmocka_unit_test(test_job_pool_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
