/* SPDX-License-Identifier: MIT */
/*
 * DKIM verification through libopendkim: every signature of a message
 * (RFC 6376; rsa-sha256 and ed25519-sha256 of RFC 8463). The library's own
 * DNS code is never used: a key-lookup callback fetches
 * SELECTOR._domainkey.DOMAIN through struct mailauth_dns, set per message
 * with dkim_set_user_context, so the daemon's unbound resolver and the unit
 * tests' fake answers serve the same code. The library handle is made once
 * per process and only read afterwards, which libopendkim allows from any
 * thread. Results follow RFC 8601 names; rsa-sha1 and keys under 1024 bits
 * count as "policy" (RFC 8301). Signing is in mailauth-sign.c.
 */
#include "mailauth/mailauth.h"

#include "lib/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

/* libopendkim wants a key-record buffer of this size at most. */
#define KEY_RECORD_MAX 4096

static DKIM_LIB *verify_lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen);

static void lib_init(void)
{
	verify_lib = dkim_init(NULL, NULL);
	if (verify_lib != NULL) {
		/* Keep handles for signatures with syntax errors, to report them. */
		unsigned flags = DKIM_LIBFLAGS_BADSIGHANDLES;
		dkim_options(verify_lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
		dkim_set_key_lookup(verify_lib, key_lookup);
	}
}

const char *mailauth_dkim_name(enum mailauth_dkim_result r)
{
	static const char *const names[] = {"none",    "pass",      "fail",     "policy",
					    "neutral", "temperror", "permerror"};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* --- verification --------------------------------------------------------------- */

/* One verification: the resolver, and which signatures' keys failed
 * temporarily (libopendkim has no per-signature "try again"). */
struct verify_ctx {
	const struct mailauth_dns *dns;
	DKIM_SIGINFO *temp[MAILAUTH_DKIM_MAX_SIGS * 2];
	size_t n_temp;
};

/*
 * libopendkim asks for the key record of one signature. The name is built
 * from the signature's s= and d=, which are attacker text: libopendkim has
 * checked their syntax, and a name too long for DNS is simply not found.
 * A temporary DNS failure is answered "not found" too, because any other
 * answer aborts the whole message inside libopendkim; the signature is
 * remembered and reported as temperror.
 */
static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct verify_ctx *v = dkim_get_user_context(dkim);
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	char name[512];
	if (v == NULL || sel == NULL || dom == NULL ||
	    (size_t)snprintf(name, sizeof(name), "%s._domainkey.%s", sel, dom) >= 254)
		return DKIM_CBSTAT_NOTFOUND;
	struct mailauth_answer a = {0};
	v->dns->query(v->dns->ctx, name, MAILAUTH_RR_TXT, &a);
	DKIM_CBSTAT r = DKIM_CBSTAT_NOTFOUND;
	if (a.status == MAILAUTH_DNS_TEMP && v->n_temp < sizeof(v->temp) / sizeof(v->temp[0]))
		v->temp[v->n_temp++] = sig;
	for (size_t i = 0; r == DKIM_CBSTAT_NOTFOUND && i < a.n; i++) {
		const char *t = a.rr[i].text;
		size_t tl = t ? strlen(t) : 0;
		if (tl == 0 || tl >= buflen || tl >= KEY_RECORD_MAX)
			continue;
		memcpy(buf, t, tl + 1);
		r = DKIM_CBSTAT_CONTINUE;
	}
	mailauth_answer_free(&a);
	return r;
}

static enum mailauth_dkim_result sig_error_result(int err, const char **reason)
{
	*reason = dkim_sig_geterrorstr(err);
	switch (err) {
	case DKIM_SIGERROR_KEYFAIL:
		return MAILAUTH_DKIM_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
	case DKIM_SIGERROR_DNSSYNTAX:
	case DKIM_SIGERROR_MULTIREPLY:
	case DKIM_SIGERROR_KEYVERSION:
	case DKIM_SIGERROR_KEYUNKNOWNHASH:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_NOTEMAILKEY:
	case DKIM_SIGERROR_KEYTYPEMISSING:
	case DKIM_SIGERROR_KEYTYPEUNKNOWN:
	case DKIM_SIGERROR_KEYREVOKED:
	case DKIM_SIGERROR_KEYDECODE:
		return MAILAUTH_DKIM_PERMERROR;
	case DKIM_SIGERROR_KEYTOOSMALL:
		return MAILAUTH_DKIM_POLICY;
	case DKIM_SIGERROR_BADSIG:
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
	case DKIM_SIGERROR_TOOLARGE_L:
		return MAILAUTH_DKIM_FAIL;
	default:
		return MAILAUTH_DKIM_NEUTRAL;
	}
}

static void copy_field(char *out, size_t outsz, const unsigned char *v)
{
	char tmp[256];
	const char *s = v != NULL ? (const char *)v : "";
	snprintf(tmp, sizeof(tmp), "%s", s);
	str_sanitize(out, outsz, tmp, strlen(tmp));
}

static void describe_sig(DKIM *dkim, DKIM_SIGINFO *sig, const struct verify_ctx *v, bool complete,
			 struct mailauth_dkim_sig *o)
{
	memset(o, 0, sizeof(*o));
	copy_field(o->domain, sizeof(o->domain), dkim_sig_getdomain(sig));
	str_lower(o->domain);
	copy_field(o->selector, sizeof(o->selector), dkim_sig_getselector(sig));
	copy_field(o->algorithm, sizeof(o->algorithm), dkim_sig_getalgorithm(sig));
	const unsigned char *b = dkim_sig_gettagvalue(sig, false, (u_char *)"b");
	size_t k = 0;
	for (size_t i = 0; b != NULL && b[i] != '\0' && k < 8; i++)
		if ((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= 'a' && b[i] <= 'z') ||
		    (b[i] >= '0' && b[i] <= '9') || b[i] == '+' || b[i] == '/')
			o->b[k++] = (char)b[i];
	o->b[k] = '\0';

	for (size_t i = 0; i < v->n_temp; i++) {
		if (v->temp[i] == sig) {
			o->result = MAILAUTH_DKIM_TEMPERROR;
			o->reason = "key lookup failed temporarily";
			return;
		}
	}
	unsigned flags = dkim_sig_getflags(sig);
	if (!complete) {
		o->result = MAILAUTH_DKIM_NEUTRAL;
		o->reason = "message could not be processed";
		return;
	}
	if (!(flags & DKIM_SIGFLAG_PROCESSED) && !(flags & DKIM_SIGFLAG_IGNORE)) {
		dkim_sig_process(dkim, sig);
		flags = dkim_sig_getflags(sig);
	}
	int err = dkim_sig_geterror(sig);
	if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		o->result = MAILAUTH_DKIM_PASS;
		if (strcasecmp(o->algorithm, "rsa-sha1") == 0) {
			o->result = MAILAUTH_DKIM_POLICY;
			o->reason = "rsa-sha1 refused (RFC 8301)";
		}
		return;
	}
	if (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN) {
		o->result = dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH ? MAILAUTH_DKIM_FAIL
								       : MAILAUTH_DKIM_NEUTRAL;
		o->reason = o->result == MAILAUTH_DKIM_FAIL ? "body hash mismatch" : "not verified";
		return;
	}
	o->result = sig_error_result(err, &o->reason);
}

int mailauth_dkim_verify(const struct mailauth_dns *dns, const char *msg, size_t len,
			 struct mailauth_dkim_results *r)
{
	memset(r, 0, sizeof(*r));
	pthread_once(&lib_once, lib_init);
	if (verify_lib == NULL)
		return -1;
	DKIM_STAT st;
	DKIM *d = dkim_verify(verify_lib, (const u_char *)"facteur", NULL, &st);
	if (d == NULL)
		return -1;
	struct verify_ctx v = {.dns = dns};
	dkim_set_user_context(d, &v);
	st = dkim_chunk(d, (u_char *)msg, len);
	/* SMTP data always ends with CRLF; libopendkim refuses a last line without. */
	if (st == DKIM_STAT_OK && (len == 0 || msg[len - 1] != '\n'))
		st = dkim_chunk(d, (u_char *)"\r\n", 2);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	/* eom answers for the first signature only; each is looked at below. */
	bool complete = st == DKIM_STAT_OK || st == DKIM_STAT_BADSIG || st == DKIM_STAT_CANTVRFY ||
		st == DKIM_STAT_NOKEY || st == DKIM_STAT_REVOKED || st == DKIM_STAT_KEYFAIL;
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	if (st != DKIM_STAT_NOSIG && dkim_getsiglist(d, &sigs, &nsigs) == DKIM_STAT_OK) {
		for (int i = 0; i < nsigs && r->n < MAILAUTH_DKIM_MAX_SIGS; i++)
			describe_sig(d, sigs[i], &v, complete, &r->sigs[r->n++]);
	}
	dkim_free(d);
	return 0;
}
