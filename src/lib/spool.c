/* SPDX-License-Identifier: MIT */
/*
 * Message bodies in memory while small, in an anonymous file beyond: see
 * spool.h. The counters are process-wide atomics because every worker
 * loop's sessions draw on the same budgets; nothing else is shared.
 */
#include "lib/spool.h"

#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SPOOL_DEFAULT_THRESHOLD ((size_t)128 << 10)
#define SPOOL_DEFAULT_MEMORY ((uint64_t)64 << 20)
#define SPOOL_DEFAULT_UNAUTH ((uint64_t)1 << 30)

static size_t spool_threshold = SPOOL_DEFAULT_THRESHOLD;
static uint64_t spool_memory_max = SPOOL_DEFAULT_MEMORY;
static uint64_t spool_unauth_max = SPOOL_DEFAULT_UNAUTH;
static _Atomic uint64_t spool_memory;
static _Atomic uint64_t spool_unauth;

void spool_configure(size_t threshold, uint64_t memory_max, uint64_t unauth_max)
{
	spool_threshold = threshold ? threshold : SPOOL_DEFAULT_THRESHOLD;
	spool_memory_max = memory_max ? memory_max : SPOOL_DEFAULT_MEMORY;
	spool_unauth_max = unauth_max ? unauth_max : SPOOL_DEFAULT_UNAUTH;
}

uint64_t spool_memory_used(void)
{
	return atomic_load(&spool_memory);
}

uint64_t spool_unauth_used(void)
{
	return atomic_load(&spool_unauth);
}

void spool_init(struct spool *sp, const char *dir, bool unauth)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->dir = dir;
	sp->unauth = unauth;
}

static void spool_unmap(struct spool *sp)
{
	if (sp->map != NULL)
		munmap(sp->map, sp->map_len);
	sp->map = NULL;
	sp->map_len = 0;
}

static void spool_free_mem(struct spool *sp)
{
	free(sp->mem);
	atomic_fetch_sub(&spool_memory, sp->mem_cap);
	sp->mem = NULL;
	sp->mem_cap = 0;
}

void spool_reset(struct spool *sp)
{
	spool_unmap(sp);
	spool_free_mem(sp);
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sp->len = 0;
	if (sp->charged > 0)
		atomic_fetch_sub(&spool_unauth, sp->charged);
	sp->charged = 0;
}

void spool_deinit(struct spool *sp)
{
	spool_reset(sp);
}

/* An anonymous file in dir: O_TMPFILE, or a named file unlinked at once. */
static int spool_open_file(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char *path = xasprintf("%s/spool.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

/* Move the bytes held in memory to a file. */
static int spool_to_file(struct spool *sp, const char **error_r)
{
	int fd = sp->dir != NULL ? spool_open_file(sp->dir) : -1;
	/* No store directory (unit tests, a store not created yet). */
	if (fd < 0 && (sp->dir == NULL || errno == ENOENT))
		fd = spool_open_file("/tmp");
	if (fd < 0) {
		*error_r = "cannot create a spool file";
		return -1;
	}
	if (sp->len > 0 && write_full(fd, sp->mem, sp->len) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		*error_r = "cannot write the spool file";
		return -1;
	}
	spool_free_mem(sp);
	sp->fd = fd;
	return 0;
}

/*
 * Room for n more bytes in memory, within the threshold and the global
 * budget. false: the bytes belong in a file (or memory ran out).
 */
static bool spool_mem_room(struct spool *sp, size_t n)
{
	uint64_t need = sp->len + n;
	if (need > spool_threshold)
		return false;
	if (need <= sp->mem_cap)
		return true;
	size_t cap = sp->mem_cap ? sp->mem_cap : 4096;
	while (cap < need)
		cap *= 2;
	size_t more = cap - sp->mem_cap;
	if (atomic_fetch_add(&spool_memory, more) + more > spool_memory_max) {
		atomic_fetch_sub(&spool_memory, more);
		return false;
	}
	char *p = realloc(sp->mem, cap);
	if (p == NULL) {
		atomic_fetch_sub(&spool_memory, more);
		return false;
	}
	sp->mem = p;
	sp->mem_cap = cap;
	return true;
}

int spool_append(struct spool *sp, const void *data, size_t n, const char **error_r)
{
	if (n == 0)
		return 0;
	if (sp->unauth) {
		if (atomic_fetch_add(&spool_unauth, n) + n > spool_unauth_max) {
			atomic_fetch_sub(&spool_unauth, n);
			errno = ENOSPC;
			*error_r = "spool budget of unauthenticated sessions exhausted";
			return -1;
		}
		sp->charged += n;
	}
	spool_unmap(sp);
	if (sp->fd < 0 && spool_mem_room(sp, n)) {
		memcpy(sp->mem + sp->len, data, n);
		sp->len += n;
		return 0;
	}
	if (sp->fd < 0 && spool_to_file(sp, error_r) < 0)
		goto fail;
	/* O_APPEND is not set, but nothing else moves the offset. */
	if (write_full(sp->fd, data, n) < 0) {
		*error_r = "cannot write the spool file";
		goto fail;
	}
	sp->len += n;
	return 0;
fail:
	if (sp->unauth) {
		atomic_fetch_sub(&spool_unauth, n);
		sp->charged -= n;
	}
	return -1;
}

int spool_data(struct spool *sp, const char **data_r, const char **error_r)
{
	if (sp->fd < 0 || sp->len == 0) {
		*data_r = sp->mem != NULL ? sp->mem : "";
		return 0;
	}
	if (sp->map == NULL) {
		if (sp->len > SIZE_MAX) {
			*error_r = "spooled message too large to map";
			return -1;
		}
		void *p = mmap(NULL, (size_t)sp->len, PROT_READ, MAP_SHARED, sp->fd, 0);
		if (p == MAP_FAILED) {
			*error_r = "cannot map the spooled message";
			return -1;
		}
		sp->map = p;
		sp->map_len = (size_t)sp->len;
	}
	*data_r = sp->map;
	return 0;
}

int spool_fd(const struct spool *sp)
{
	return sp->fd;
}
