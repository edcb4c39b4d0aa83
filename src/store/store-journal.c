/* SPDX-License-Identifier: MIT */
/*
 * The blob journal of the store writer (group commit): one append-only
 * file, dir/blobs/journal, that makes every blob of a batch durable with a
 * single fdatasync instead of one fsync per file and per directory. The
 * writer appends the batch's new blobs here and syncs, only then creates
 * the blob files without syncing them, then commits the database. A file
 * that exists under its final name is therefore always either durable by
 * itself or covered by a synced record here; a checkpoint (syncfs of the
 * file system holding the blobs, then a new generation of records written
 * over the old ones from the start of the file) ends that coverage, and
 * opening the journal after a crash rewrites every blob a valid record
 * holds whose file is missing or torn. Records are self-checking: the
 * blob id is the SHA-256 of the content, so a partly written tail fails
 * the check and is ignored (nothing in it was ever acknowledged).
 */
#include "store/store-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define JOURNAL_MAGIC "FJNL0002"
#define JOURNAL_MAGIC_LEN 8
/* A record larger than this is garbage, not a message. */
#define JOURNAL_REC_MAX ((uint64_t)1 << 31)
/*
 * The file is written over from the start after each checkpoint instead of
 * truncated, and made this large (zeros) when opened: a sync that only
 * overwrites allocated blocks changes no metadata, so it costs a data
 * flush rather than a file-system journal commit (the same reason SQLite
 * reuses its WAL file).
 */
#define JOURNAL_PREALLOC ((off_t)8 << 20)

/*
 * The record header as written: magic, generation, length (host order),
 * hex id. The generation changes at each checkpoint, so records of an
 * earlier cycle left further in the file are never taken for new ones.
 */
struct journal_hdr {
	char magic[JOURNAL_MAGIC_LEN];
	uint64_t gen;
	uint64_t len;
	char id[STORE_BLOB_ID_LEN];
};

struct store_journal {
	int fd;
	char *path;
	uint64_t gen;  /* of the records being written */
	uint64_t size; /* bytes since the last checkpoint: the write offset */
};

static int journal_fail(struct store *s, const char *what, const char **error_r)
{
	log_error("store_journal_error", "op=%s errno=%d", what, errno);
	return store_fail(s, error_r, "blob journal %s failed: %s", what, strerror(errno));
}

/* Read exactly len bytes at off: 1 read, 0 end of file first, -1 error. */
static int read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		done += (size_t)r;
	}
	return 1;
}

/* Does the blob file of id hold exactly data? (After a crash it may not.) */
static bool blob_file_matches(struct store *s, const char *id, size_t len)
{
	int fd = store_blob_open(s, id);
	struct stat st;
	bool ok = false;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == (uint64_t)len) {
		char *buf = xmalloc(len + 1);
		char got[STORE_BLOB_ID_LEN + 1];
		if (read_at(fd, buf, len, 0) == 1) {
			store_blob_hash(buf, len, got);
			ok = strcmp(got, id) == 0;
		}
		free(buf);
	}
	close(fd);
	return ok;
}

/*
 * Walk the records from the start; rewrite each valid record's blob whose
 * file does not match. Stops at the first invalid record (the torn tail)
 * or the first of another generation than the first record's (an older
 * cycle, already checkpointed). j->gen becomes a generation not seen.
 */
static int journal_recover(struct store *s, struct store_journal *j, size_t *restored_r,
			   const char **error_r)
{
	struct stat st;
	off_t off = 0;
	uint64_t gen = 0;

	*restored_r = 0;
	if (fstat(j->fd, &st) < 0)
		return journal_fail(s, "stat", error_r);
	while ((uint64_t)off + sizeof(struct journal_hdr) <= (uint64_t)st.st_size) {
		struct journal_hdr h;
		char id[STORE_BLOB_ID_LEN + 1], got[STORE_BLOB_ID_LEN + 1];
		if (read_at(j->fd, &h, sizeof(h), off) != 1)
			break;
		uint64_t left = (uint64_t)st.st_size - (uint64_t)off - sizeof(h);
		if (memcmp(h.magic, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0 || h.len > left ||
		    h.len > JOURNAL_REC_MAX || (off > 0 && h.gen != gen))
			break;
		memcpy(id, h.id, STORE_BLOB_ID_LEN);
		id[STORE_BLOB_ID_LEN] = '\0';
		char *data = xmalloc(h.len + 1);
		int r = read_at(j->fd, data, h.len, off + (off_t)sizeof(h));
		if (r == 1)
			store_blob_hash(data, h.len, got);
		if (r != 1 || !store_blob_id_valid(id) || strcmp(got, id) != 0) {
			free(data);
			break;
		}
		gen = h.gen;
		if (!blob_file_matches(s, id, h.len)) {
			if (store_blob_restore(s, data, h.len, id, error_r) < 0) {
				free(data);
				return -1;
			}
			(*restored_r)++;
		}
		free(data);
		off += (off_t)(sizeof(h) + h.len);
	}
	j->gen = gen + 1;
	return 0;
}

/* Zero-fill the file up to JOURNAL_PREALLOC, once (see there). 0 / -1. */
static int journal_prealloc(struct store_journal *j)
{
	static const char zeros[65536];
	struct stat st;

	if (fstat(j->fd, &st) < 0)
		return -1;
	for (off_t off = st.st_size; off < JOURNAL_PREALLOC; off += (off_t)sizeof(zeros)) {
		if (pwrite(j->fd, zeros, sizeof(zeros), off) != (ssize_t)sizeof(zeros))
			return -1;
	}
	return st.st_size < JOURNAL_PREALLOC ? fsync(j->fd) : 0;
}

int store_journal_open(struct store *s, struct store_journal **j_r, size_t *restored_r,
		       const char **error_r)
{
	struct store_journal *j = xcalloc(1, sizeof(*j));
	size_t restored = 0;

	j->path = xasprintf("%s/journal", s->blob_dir);
	j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (j->fd < 0) {
		journal_fail(s, "open", error_r);
		goto failed;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			store_fail(s, error_r, "another facteur writes to %s", s->dir);
		else
			journal_fail(s, "lock", error_r);
		goto failed;
	}
	if (store_blob_mkdirs(s, error_r) < 0)
		goto failed;
	/* The name must survive a crash before any record relies on it. */
	int dfd = open(s->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		if (dfd >= 0)
			close(dfd);
		journal_fail(s, "fsync", error_r);
		goto failed;
	}
	close(dfd);
	if (journal_recover(s, j, &restored, error_r) < 0)
		goto failed;
	j->size = 1; /* so that the checkpoint below runs */
	if (store_journal_checkpoint(s, j, error_r) < 0)
		goto failed;
	if (journal_prealloc(j) < 0) {
		journal_fail(s, "preallocate", error_r);
		goto failed;
	}
	if (restored > 0)
		log_warn("store_journal_recovered", "blobs=%zu", restored);
	if (restored_r != NULL)
		*restored_r = restored;
	*j_r = j;
	return 0;
failed:
	store_journal_close(&j);
	return -1;
}

/* writev everything in iov[0..n), however the kernel splits it. */
static int writev_full(int fd, struct iovec *iov, size_t n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, (int)(n > IOV_MAX ? IOV_MAX : n));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int store_journal_append(struct store_journal *j, const struct store_journal_rec *recs, size_t n,
			 const char **error_r)
{
	static const char fail[] = "blob journal write failed";
	struct journal_hdr *h = xcalloc(n, sizeof(*h));
	struct iovec *iov = xcalloc(2 * n, sizeof(*iov));
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(h[i].magic, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN);
		h[i].gen = j->gen;
		h[i].len = recs[i].len;
		memcpy(h[i].id, recs[i].id, STORE_BLOB_ID_LEN);
		iov[2 * i] = (struct iovec){.iov_base = &h[i], .iov_len = sizeof(h[i])};
		iov[2 * i + 1] =
			(struct iovec){.iov_base = (void *)recs[i].data, .iov_len = recs[i].len};
		total += sizeof(h[i]) + recs[i].len;
	}
	/* O_APPEND is not used: the file offset is ours alone (flock). */
	int ret = lseek(j->fd, (off_t)j->size, SEEK_SET) < 0 ||
			writev_full(j->fd, iov, 2 * n) < 0 || fdatasync(j->fd) < 0
		? -1
		: 0;
	if (ret < 0) {
		log_error("store_journal_error", "op=append errno=%d", errno);
		*error_r = fail;
	} else {
		j->size += total;
	}
	free(h);
	free(iov);
	return ret;
}

uint64_t store_journal_size(const struct store_journal *j)
{
	return j->size;
}

int store_journal_checkpoint(struct store *s, struct store_journal *j, const char **error_r)
{
	/*
	 * One syncfs makes every blob file written since the last checkpoint
	 * durable, data and directory entries alike (the file system may hold
	 * other files too: they are flushed along, which costs time, never
	 * correctness). Only then may the journal forget them: the next
	 * records, of a new generation, overwrite the file from its start.
	 * Nothing needs syncing for that: until the first new record is
	 * synced, a crash only makes recovery check blobs already durable.
	 */
	if (j->size == 0)
		return 0;
	if (syncfs(j->fd) < 0)
		return journal_fail(s, "syncfs", error_r);
	j->size = 0;
	j->gen++;
	return 0;
}

void store_journal_close(struct store_journal **jp)
{
	struct store_journal *j = *jp;
	if (j == NULL)
		return;
	*jp = NULL;
	if (j->fd >= 0)
		close(j->fd); /* drops the lock */
	free(j->path);
	free(j);
}
