/* SPDX-License-Identifier: MIT */
/*
 * The Sender Rewriting Scheme, so that mail forwarded to another server
 * still passes SPF there: the envelope sender of forwarded mail becomes an
 * address of ours that carries the original, signed and dated, and a
 * bounce sent to it is checked and sent on to the original sender.
 *
 * The format is the one of Shevek's SRS paper and of the Mail::SRS and
 * libsrs2 implementations (so their tools can read ours, and the tests use
 * Debian's `srs` to check it):
 *
 *   SRS0=HHHH=TT=orig-domain=orig-local@srs-domain
 *   SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@srs-domain
 *
 * HHHH is the first four characters of the base64 HMAC-SHA1, keyed with the
 * secret, of the lower-cased fields that follow it (TT, domain and local
 * part for SRS0; forwarder and the rest for SRS1). TT is the day number
 * modulo 1024 in two base32 characters. A sender that is already SRS0 of
 * another forwarder becomes SRS1 naming that forwarder (no growth along a
 * chain); an SRS1 keeps its first forwarder. Reversal checks the hash
 * (case-insensitively: some servers fold local parts) and, for SRS0, that
 * the date is at most max_age days old.
 */
#include "mailauth/srs.h"
#include "auth/auth.h"

#include <ctype.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SRS_HASH_LEN 4
#define SRS_DAY 86400
#define SRS_SLOTS 1024 /* two base32 characters */

static const char srs_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static struct {
	pthread_mutex_t lock;
	char secret[256];
	char domain[254];
	unsigned max_age;
} srs = {.lock = PTHREAD_MUTEX_INITIALIZER, .max_age = 21};

void srs_configure(const char *secret, const char *domain, unsigned max_age_days)
{
	pthread_mutex_lock(&srs.lock);
	snprintf(srs.secret, sizeof(srs.secret), "%s", secret != NULL ? secret : "");
	snprintf(srs.domain, sizeof(srs.domain), "%s", domain != NULL ? domain : "");
	srs.max_age = max_age_days > 0 ? max_age_days : 1;
	pthread_mutex_unlock(&srs.lock);
}

bool srs_enabled(void)
{
	pthread_mutex_lock(&srs.lock);
	bool on = srs.secret[0] != '\0' && srs.domain[0] != '\0';
	pthread_mutex_unlock(&srs.lock);
	return on;
}

/* HHHH of the fields, lower-cased, with key: 0, or -1 if they do not fit. */
static int srs_hash(const char *key, const char *const *fields, size_t n,
		    char out[SRS_HASH_LEN + 1])
{
	char data[1024];
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t fl = strlen(fields[i]);
		if (len + fl > sizeof(data))
			return -1;
		for (size_t k = 0; k < fl; k++)
			data[len++] = (char)tolower((unsigned char)fields[i][k]);
	}
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	if (HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)data, len, mac,
		 &maclen) == NULL)
		return -1;
	char b64[64];
	if (auth_base64_encode(mac, maclen, b64, sizeof(b64)) < SRS_HASH_LEN)
		return -1;
	memcpy(out, b64, SRS_HASH_LEN);
	out[SRS_HASH_LEN] = '\0';
	return 0;
}

static void srs_timestamp(time_t now, char out[3])
{
	unsigned day = (unsigned)((uint64_t)now / SRS_DAY);
	out[0] = srs_b32[(day >> 5) & 31];
	out[1] = srs_b32[day & 31];
	out[2] = '\0';
}

/* Days since the timestamp was made, or -1 if it is not one. */
static int srs_age(const char *ts, time_t now)
{
	unsigned v = 0;
	if (strlen(ts) != 2)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		const char *p = strchr(srs_b32, toupper((unsigned char)ts[i]));
		if (p == NULL || *p == '\0')
			return -1;
		v = v * 32 + (unsigned)(p - srs_b32);
	}
	unsigned today = (unsigned)((uint64_t)now / SRS_DAY) % SRS_SLOTS;
	return (int)((today + SRS_SLOTS - v) % SRS_SLOTS);
}

static bool srs_tag(const char *local, const char *tag)
{
	return strncasecmp(local, tag, 4) == 0 &&
		(local[4] == '=' || local[4] == '+' || local[4] == '-');
}

int srs_forward(const char *sender, time_t now, char *out, size_t outsz)
{
	const char *at = strrchr(sender, '@');
	if (sender[0] == '\0' || at == NULL || at == sender)
		return 0;
	char local[256], host[254], key[256], dom[254], hash[SRS_HASH_LEN + 1];
	if ((size_t)(at - sender) >= sizeof(local) || strlen(at + 1) >= sizeof(host))
		return -1;
	memcpy(local, sender, (size_t)(at - sender));
	local[at - sender] = '\0';
	snprintf(host, sizeof(host), "%s", at + 1);
	pthread_mutex_lock(&srs.lock);
	snprintf(key, sizeof(key), "%s", srs.secret);
	snprintf(dom, sizeof(dom), "%s", srs.domain);
	pthread_mutex_unlock(&srs.lock);
	if (key[0] == '\0' || dom[0] == '\0' || strcasecmp(host, dom) == 0)
		return 0; /* off, or already ours */
	int n;
	if (srs_tag(local, "SRS1")) {
		/* SRS1=hash=forwarder=rest: keep forwarder and rest, hash again */
		char *f = strchr(local + 5, '=');
		char *rest = f != NULL ? strchr(f + 1, '=') : NULL;
		if (rest == NULL)
			return -1;
		*rest++ = '\0';
		const char *fields[] = {f + 1, rest};
		if (srs_hash(key, fields, 2, hash) < 0)
			return -1;
		n = snprintf(out, outsz, "SRS1=%s=%s=%s@%s", hash, f + 1, rest, dom);
	} else if (srs_tag(local, "SRS0")) {
		/* another forwarder's SRS0: name it, keep its address opaque */
		const char *rest = local + 4;
		const char *fields[] = {host, rest};
		if (srs_hash(key, fields, 2, hash) < 0)
			return -1;
		n = snprintf(out, outsz, "SRS1=%s=%s=%s@%s", hash, host, rest, dom);
	} else {
		char ts[3];
		srs_timestamp(now, ts);
		const char *fields[] = {ts, host, local};
		if (srs_hash(key, fields, 3, hash) < 0)
			return -1;
		n = snprintf(out, outsz, "SRS0=%s=%s=%s=%s@%s", hash, ts, host, local, dom);
	}
	/* RFC 5321 4.5.3.1.1: a local part of at most 64 octets is what all accept */
	if (n < 0 || (size_t)n >= outsz || strrchr(out, '@') - out > 64)
		return -1;
	return 1;
}

/* Split local (modified in place) at its first count '=' after the tag. */
static int srs_split(char *local, char **parts, size_t count)
{
	char *p = local + 5;
	for (size_t i = 0; i < count; i++) {
		parts[i] = p;
		if (i + 1 == count)
			break;
		p = strchr(p, '=');
		if (p == NULL)
			return -1;
		*p++ = '\0';
	}
	for (size_t i = 0; i < count; i++)
		if (parts[i][0] == '\0' && i != count - 1)
			return -1;
	return 0;
}

int srs_reverse(const char *address, time_t now, char *out, size_t outsz)
{
	const char *at = strrchr(address, '@');
	if (at == NULL || (!srs_tag(address, "SRS0") && !srs_tag(address, "SRS1")))
		return 0;
	char local[256], key[256], hash[SRS_HASH_LEN + 1];
	unsigned max_age;
	if ((size_t)(at - address) >= sizeof(local))
		return -1;
	memcpy(local, address, (size_t)(at - address));
	local[at - address] = '\0';
	pthread_mutex_lock(&srs.lock);
	snprintf(key, sizeof(key), "%s", srs.secret);
	max_age = srs.max_age;
	pthread_mutex_unlock(&srs.lock);
	if (key[0] == '\0')
		return -1;
	int n;
	if (srs_tag(local, "SRS0")) {
		char *p[4]; /* hash, timestamp, host, local */
		if (srs_split(local, p, 4) < 0 || p[3][0] == '\0')
			return -1;
		const char *fields[] = {p[1], p[2], p[3]};
		int age = srs_age(p[1], now);
		if (srs_hash(key, fields, 3, hash) < 0 || strcasecmp(hash, p[0]) != 0 || age < 0 ||
		    (unsigned)age > max_age)
			return -1;
		n = snprintf(out, outsz, "%s@%s", p[3], p[2]);
	} else {
		char *p[3]; /* hash, forwarder, rest of its SRS0 */
		if (srs_split(local, p, 3) < 0)
			return -1;
		const char *fields[] = {p[1], p[2]};
		if (srs_hash(key, fields, 2, hash) < 0 || strcasecmp(hash, p[0]) != 0)
			return -1;
		n = snprintf(out, outsz, "SRS0%s@%s", p[2], p[1]);
	}
	return n < 0 || (size_t)n >= outsz ? -1 : 1;
}
