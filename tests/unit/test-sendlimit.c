/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the outbound sending limits (auth/auth-sendlimit.c): the
 * per-account and per-domain counts of messages and recipients, the hour
 * that slides by the minute (on a clock the test moves), an account's own
 * limits replacing the default, 0 as unlimited, and case-insensitive keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "auth/auth.h"

#include <stdint.h>
#include <string.h>

static int64_t now_ms;

static int64_t test_clock(void)
{
	return now_ms;
}

static int setup(void **state)
{
	now_ms = 1000LL * 3600 * 24 * 365;
	send_limit_clock(test_clock);
	return 0;
}

static int teardown(void **state)
{
	send_limit_clock(NULL);
	return 0;
}

static int fits(const char *addr, const struct send_limits *own, unsigned rcpts)
{
	char why[160] = "";
	int r = send_limit_check(addr, own, rcpts, why, sizeof(why));
	if (r == 0)
		assert_non_null(strstr(why, "sending limit reached"));
	return r;
}

static void test_messages_per_hour(void **state)
{
	send_limit_configure(&(struct send_limits){3, 0}, &(struct send_limits){0, 0});
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fits("a@x.test", NULL, 0), 1);
		send_limit_charge("a@x.test", 1);
		now_ms += 1000;
	}
	char why[160];
	assert_int_equal(send_limit_check("A@X.test", NULL, 0, why, sizeof(why)), 0);
	assert_string_equal(why, "Your sending limit reached: 3 messages per hour");
	/* another account is not affected */
	assert_int_equal(fits("b@x.test", NULL, 0), 1);
	/* 59 minutes later the first three still count; at 60 they are gone */
	now_ms += 59 * 60000 - 3000;
	assert_int_equal(fits("a@x.test", NULL, 0), 0);
	now_ms += 60000;
	assert_int_equal(fits("a@x.test", NULL, 0), 1);
}

static void test_recipients_per_hour(void **state)
{
	send_limit_configure(&(struct send_limits){0, 10}, &(struct send_limits){0, 0});
	assert_int_equal(fits("a@x.test", NULL, 10), 1);
	assert_int_equal(fits("a@x.test", NULL, 11), 0);
	send_limit_charge("a@x.test", 7);
	assert_int_equal(fits("a@x.test", NULL, 3), 1);
	char why[160];
	assert_int_equal(send_limit_check("a@x.test", NULL, 4, why, sizeof(why)), 0);
	assert_string_equal(why, "Your sending limit reached: 10 recipients per hour");
	/* the window slides by the minute: a charge 30 minutes later outlives the first */
	now_ms += 30 * 60000;
	send_limit_charge("a@x.test", 3);
	assert_int_equal(fits("a@x.test", NULL, 1), 0);
	now_ms += 30 * 60000;
	assert_int_equal(fits("a@x.test", NULL, 7), 1);
	assert_int_equal(fits("a@x.test", NULL, 8), 0);
}

static void test_own_limits(void **state)
{
	send_limit_configure(&(struct send_limits){1, 0}, &(struct send_limits){0, 0});
	send_limit_charge("a@x.test", 1);
	assert_int_equal(fits("a@x.test", NULL, 0), 0);
	/* -1 keeps the default, 0 lifts it, a number replaces it */
	assert_int_equal(fits("a@x.test", &(struct send_limits){-1, -1}, 0), 0);
	assert_int_equal(fits("a@x.test", &(struct send_limits){0, -1}, 0), 1);
	assert_int_equal(fits("a@x.test", &(struct send_limits){2, -1}, 0), 1);
	send_limit_charge("a@x.test", 1);
	assert_int_equal(fits("a@x.test", &(struct send_limits){2, -1}, 0), 0);
	assert_int_equal(fits("a@x.test", &(struct send_limits){-1, 1}, 0), 0);
}

static void test_domain_limits(void **state)
{
	send_limit_configure(&(struct send_limits){0, 0}, &(struct send_limits){2, 0});
	send_limit_charge("a@x.test", 1);
	send_limit_charge("b@X.TEST", 1);
	char why[160];
	assert_int_equal(send_limit_check("c@x.test", NULL, 0, why, sizeof(why)), 0);
	assert_string_equal(why, "Domain sending limit reached: 2 messages per hour");
	assert_int_equal(fits("c@y.test", NULL, 0), 1);
	/* configure forgets the counts */
	send_limit_configure(&(struct send_limits){0, 0}, &(struct send_limits){2, 0});
	assert_int_equal(fits("c@x.test", NULL, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_messages_per_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recipients_per_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
