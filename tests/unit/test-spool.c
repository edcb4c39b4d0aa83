/* SPDX-License-Identifier: MIT */
/*
 * lib/spool: a body stays in memory up to the threshold, then moves to an
 * anonymous file with its bytes intact; the memory budget sends bodies to
 * files early; the unauthenticated budget refuses past its limit and is
 * given back by reset; spool_data maps the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/spool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *pattern(size_t n)
{
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + i / 13) % 26);
	return p;
}

static void test_memory_then_file(void **state)
{
	spool_configure(4096, 1 << 20, 1 << 20);
	char dir[] = "/tmp/test-spool-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct spool sp;
	spool_init(&sp, dir, false);
	const char *error, *data;
	char *src = pattern(100000);

	assert_int_equal(spool_append(&sp, src, 1000, &error), 0);
	assert_int_equal(spool_fd(&sp), -1);
	assert_true(spool_memory_used() >= 1000);
	assert_int_equal(spool_data(&sp, &data, &error), 0);
	assert_memory_equal(data, src, 1000);
	/* Byte by byte across the threshold, then in bulk. */
	for (size_t i = 1000; i < 5000; i++)
		assert_int_equal(spool_append(&sp, src + i, 1, &error), 0);
	assert_true(spool_fd(&sp) >= 0);
	assert_int_equal(spool_memory_used(), 0);
	assert_int_equal(spool_append(&sp, src + 5000, 95000, &error), 0);
	assert_int_equal(sp.len, 100000);
	assert_int_equal(spool_data(&sp, &data, &error), 0);
	assert_memory_equal(data, src, 100000);
	/* Appending after a mapping is fine; the next data sees it all. */
	assert_int_equal(spool_append(&sp, "!", 1, &error), 0);
	assert_int_equal(spool_data(&sp, &data, &error), 0);
	assert_int_equal(data[100000], '!');

	spool_reset(&sp);
	assert_int_equal(spool_fd(&sp), -1);
	assert_int_equal(sp.len, 0);
	assert_int_equal(spool_data(&sp, &data, &error), 0);
	spool_deinit(&sp);
	free(src);
	assert_int_equal(rmdir(dir), 0); /* the file left no name behind */
}

static void test_memory_budget(void **state)
{
	/* One spool may hold 64 KiB, but all of them only 64 KiB together. */
	spool_configure(65536, 65536, 1 << 20);
	struct spool a, b;
	spool_init(&a, NULL, false);
	spool_init(&b, NULL, false);
	const char *error, *data;
	char *src = pattern(60000);
	assert_int_equal(spool_append(&a, src, 60000, &error), 0);
	assert_int_equal(spool_fd(&a), -1);
	assert_int_equal(spool_append(&b, src, 60000, &error), 0);
	assert_true(spool_fd(&b) >= 0); /* the budget was spent: a file */
	assert_int_equal(spool_data(&b, &data, &error), 0);
	assert_memory_equal(data, src, 60000);
	spool_deinit(&a);
	spool_deinit(&b);
	assert_int_equal(spool_memory_used(), 0);
	free(src);
}

static void test_unauth_budget(void **state)
{
	spool_configure(4096, 1 << 20, 10000);
	struct spool a, b, c;
	spool_init(&a, NULL, true);
	spool_init(&b, NULL, true);
	spool_init(&c, NULL, false);
	const char *error = NULL;
	char *src = pattern(8000);
	assert_int_equal(spool_append(&a, src, 8000, &error), 0);
	assert_int_equal(spool_unauth_used(), 8000);
	assert_int_equal(spool_append(&b, src, 3000, &error), -1);
	assert_non_null(strstr(error, "unauthenticated"));
	assert_int_equal(b.len, 0);
	/* Authenticated sessions do not draw on it. */
	assert_int_equal(spool_append(&c, src, 8000, &error), 0);
	spool_reset(&a);
	assert_int_equal(spool_unauth_used(), 0);
	assert_int_equal(spool_append(&b, src, 3000, &error), 0);
	spool_deinit(&a);
	spool_deinit(&b);
	spool_deinit(&c);
	assert_int_equal(spool_unauth_used(), 0);
	free(src);
}

static void test_bad_directory_falls_back(void **state)
{
	spool_configure(4096, 1 << 20, 1 << 20);
	struct spool sp;
	spool_init(&sp, "/nonexistent/facteur-spool", false);
	const char *error, *data;
	char *src = pattern(10000);
	assert_int_equal(spool_append(&sp, src, 10000, &error), 0);
	assert_true(spool_fd(&sp) >= 0);
	assert_int_equal(spool_data(&sp, &data, &error), 0);
	assert_memory_equal(data, src, 10000);
	spool_deinit(&sp);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_then_file),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_unauth_budget),
		cmocka_unit_test(test_bad_directory_falls_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
