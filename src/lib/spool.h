/* SPDX-License-Identifier: MIT */
/*
 * A message body being received (SMTP DATA/BDAT, later IMAP APPEND): kept
 * in memory while it is small, moved to an anonymous temporary file (an
 * O_TMPFILE, or a file unlinked at once, in the store's blob directory)
 * as soon as it passes a threshold or the process-wide memory budget for
 * spools is spent. So an unfinished message costs a few KiB of memory
 * whatever its size, and a failed allocation or write fails only the one
 * message (-1: the session refuses it with 452 and goes on) instead of
 * aborting the daemon. Bodies of unauthenticated sessions are also
 * charged, memory and file alike, to a process-wide budget, so strangers
 * cannot fill the disk either. A finished spool is read through
 * spool_data(), which maps the file; the store writer maps the file
 * itself instead of copying the bytes (store_write_request.body).
 */
#ifndef FACTEUR_LIB_SPOOL_H
#define FACTEUR_LIB_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool {
	char *mem;      /* the bytes while in memory (malloc'd) */
	size_t mem_cap; /* charged to the memory budget */
	int fd;         /* -1 while in memory */
	uint64_t len;   /* bytes appended */
	char *map;      /* spool_data's mapping of fd, or NULL */
	size_t map_len;
	const char *dir;  /* where the file goes (borrowed), NULL = /tmp */
	bool unauth;      /* charged to the unauthenticated budget */
	uint64_t charged; /* ... this much */
};

/*
 * Process-wide limits, set once at start-up (0 keeps a default):
 * threshold is the most one spool keeps in memory (default 128 KiB),
 * memory_max what all spools together keep in memory (default 64 MiB),
 * unauth_max what the spools of unauthenticated sessions hold in total,
 * memory and files (default 1 GiB).
 */
void spool_configure(size_t threshold, uint64_t memory_max, uint64_t unauth_max);
/* Memory held by every spool now, and the unauthenticated total (for tests and logs). */
uint64_t spool_memory_used(void);
uint64_t spool_unauth_used(void);

/* An empty spool whose file would go to dir (borrowed; NULL = /tmp). */
void spool_init(struct spool *sp, const char *dir, bool unauth);
/* Drop the content (file, mapping, memory); the spool stays usable. */
void spool_reset(struct spool *sp);
void spool_deinit(struct spool *sp);

/*
 * Append n bytes. Returns 0, or -1 with a static reason in *error_r (and
 * errno set) when memory, the file or the unauthenticated budget failed;
 * the spool then keeps what it had, and the caller refuses the message.
 */
int spool_append(struct spool *sp, const void *data, size_t n, const char **error_r);

/*
 * The whole content as one range of bytes, valid until the next append or
 * reset: the memory itself, or a read-only mapping of the file. Returns 0,
 * or -1 (mapping failed: address space exhausted) with *error_r static.
 */
int spool_data(struct spool *sp, const char **data_r, const char **error_r);

/* The file holding the content, or -1 while it is in memory. */
int spool_fd(const struct spool *sp);

#endif
