/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the Sender Rewriting Scheme (mailauth/srs.c): forward and
 * back, SRS0 of another forwarder becoming SRS1 and SRS1 staying SRS1,
 * forged hashes, expiry, case folding, and what is left alone. The format
 * itself is checked against Debian's `srs` (Mail::SRS) in tests/e2e.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mailauth/srs.h"

#include <ctype.h>
#include <string.h>

#define DAY 86400
static const time_t now = 1765000000;

static int setup(void **state)
{
	srs_configure("unit-secret", "srs.example.test", 21);
	return 0;
}

static void test_round_trip(void **state)
{
	char fwd[320], back[320];
	assert_int_equal(srs_forward("Alice@Sender.example", now, fwd, sizeof(fwd)), 1);
	assert_int_equal(strncmp(fwd, "SRS0=", 5), 0);
	assert_non_null(strstr(fwd, "=Sender.example=Alice@srs.example.test"));
	assert_int_equal(srs_reverse(fwd, now, back, sizeof(back)), 1);
	assert_string_equal(back, "Alice@Sender.example");
	/* a server that folds the local part to lower case: still ours */
	for (char *p = fwd; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	assert_int_equal(srs_reverse(fwd, now + 3 * DAY, back, sizeof(back)), 1);
	assert_string_equal(back, "alice@sender.example");
}

static void test_expiry_and_forgery(void **state)
{
	char fwd[320], back[320];
	assert_int_equal(srs_forward("bob@b.example", now, fwd, sizeof(fwd)), 1);
	assert_int_equal(srs_reverse(fwd, now + 21 * DAY, back, sizeof(back)), 1);
	assert_int_equal(srs_reverse(fwd, now + 22 * DAY, back, sizeof(back)), -1);
	/* from the future (a forged date) */
	assert_int_equal(srs_reverse(fwd, now - 2 * DAY, back, sizeof(back)), -1);
	char forged[320];
	memcpy(forged, fwd, sizeof(forged));
	forged[5] = forged[5] == 'A' ? 'B' : 'A';
	assert_int_equal(srs_reverse(forged, now, back, sizeof(back)), -1);
	/* another user in the same address */
	memcpy(forged, fwd, sizeof(forged));
	memcpy(strstr(forged, "=bob@"), "=eve@", 5);
	assert_int_equal(srs_reverse(forged, now, back, sizeof(back)), -1);
	/* another key */
	srs_configure("other-secret", "srs.example.test", 21);
	assert_int_equal(srs_reverse(fwd, now, back, sizeof(back)), -1);
	assert_int_equal(srs_reverse("SRS0=only@srs.example.test", now, back, sizeof(back)), -1);
	assert_int_equal(srs_reverse("SRS1=x@srs.example.test", now, back, sizeof(back)), -1);
}

static void test_chains(void **state)
{
	char fwd[320], fwd2[320], back[320];
	/* the first forwarder's SRS0 is named, not wrapped */
	assert_int_equal(
		srs_forward("SRS0=abcd=JZ=orig.example=carol@fwd1.example", now, fwd, sizeof(fwd)),
		1);
	assert_int_equal(strncmp(fwd, "SRS1=", 5), 0);
	assert_non_null(strstr(fwd, "=fwd1.example==abcd=JZ=orig.example=carol@srs.example.test"));
	assert_int_equal(srs_reverse(fwd, now, back, sizeof(back)), 1);
	assert_string_equal(back, "SRS0=abcd=JZ=orig.example=carol@fwd1.example");
	/* an SRS1 of another forwarder keeps its first forwarder: no growth */
	char other[320];
	strcpy(other, fwd);
	strcpy(strrchr(other, '@'), "@fwd2.example");
	assert_int_equal(srs_forward(other, now, fwd2, sizeof(fwd2)), 1);
	assert_int_equal(strlen(fwd2), strlen(fwd));
	assert_int_equal(srs_reverse(fwd2, now, back, sizeof(back)), 1);
	assert_string_equal(back, "SRS0=abcd=JZ=orig.example=carol@fwd1.example");
}

static void test_left_alone(void **state)
{
	char out[320];
	assert_int_equal(srs_forward("", now, out, sizeof(out)), 0);
	assert_int_equal(srs_forward("user@SRS.example.test", now, out, sizeof(out)), 0);
	assert_int_equal(srs_reverse("alice@srs.example.test", now, out, sizeof(out)), 0);
	/* a local part that would pass 64 octets: not rewritten */
	char longer[200];
	memset(longer, 'x', 60);
	strcpy(longer + 60, "@sender.example");
	assert_int_equal(srs_forward(longer, now, out, sizeof(out)), -1);
	srs_configure("", "", 21);
	assert_false(srs_enabled());
	assert_int_equal(srs_forward("a@b.example", now, out, sizeof(out)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_round_trip, setup),
		cmocka_unit_test_setup(test_expiry_and_forgery, setup),
		cmocka_unit_test_setup(test_chains, setup),
		cmocka_unit_test_setup(test_left_alone, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
