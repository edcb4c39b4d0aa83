/* SPDX-License-Identifier: MIT */
/*
 * Immutable message blobs beside the database: dir/blobs/ab/abcdef… named
 * by the hex SHA-256 of their content. A blob is written to blobs/tmp,
 * fsynced, renamed into place and its directory fsynced, so a file that
 * exists under its final name is always complete and durable; that is what
 * lets store_deliver acknowledge a message only after the blob is safe and
 * lets a second writer of the same content skip the write entirely. The
 * store writer (group commit) creates its files without fsync instead:
 * its blob journal (store-journal.c) holds a synced copy of each until a
 * checkpoint, so "exists under its final name" still means "durable".
 */
#include "store/store-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Temporary files older than this were left by a crash, not a live writer. */
#define BLOB_TMP_STALE_SECS 3600

void store_blob_hash(const void *data, size_t len, char *id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		abort(); /* SHA-256 cannot fail short of a broken libcrypto */
	for (unsigned int i = 0; i < mdlen; i++) {
		id[2 * i] = hex[md[i] >> 4];
		id[2 * i + 1] = hex[md[i] & 15];
	}
	id[STORE_BLOB_ID_LEN] = '\0';
}

bool store_blob_id_valid(const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; i < STORE_BLOB_ID_LEN; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return id[i] == '\0';
}

/* fsync a directory so a rename or mkdir inside it survives a crash. */
static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int ret = fsync(fd);
	close(fd);
	return ret;
}

/* mkdir that accepts an existing directory; fsyncs parent when it created. */
static int mkdir_durable(const char *path, const char *parent)
{
	if (mkdir(path, 0750) == 0)
		return parent == NULL ? 0 : fsync_dir(parent);
	return errno == EEXIST ? 0 : -1;
}

static void blob_tmp_sweep(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* Other handles may be writing right now: only old files go. */
		if (now - st.st_mtime > BLOB_TMP_STALE_SECS)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

int store_blob_init(struct store *s, const char **error_r)
{
	char *tmp = xasprintf("%s/tmp", s->blob_dir);

	if (mkdir_durable(s->blob_dir, s->dir) < 0 || mkdir_durable(tmp, s->blob_dir) < 0) {
		snprintf(s->err, sizeof(s->err), "cannot create %s: %s", tmp, strerror(errno));
		*error_r = s->err;
		free(tmp);
		return -1;
	}
	blob_tmp_sweep(tmp);
	free(tmp);
	return 0;
}

static int blob_fail(struct store *s, const char *what, const char **error_r)
{
	snprintf(s->err, sizeof(s->err), "blob %s failed: %s", what, strerror(errno));
	*error_r = s->err;
	log_error("store_blob_error", "op=%s errno=%d", what, errno);
	return -1;
}

int store_blob_mkdirs(struct store *s, const char **error_r)
{
	static const char hex[] = "0123456789abcdef";
	int made = 0;

	for (int i = 0; i < 256; i++) {
		char *sub = xasprintf("%s/%c%c", s->blob_dir, hex[i >> 4], hex[i & 15]);
		int r = mkdir(sub, 0750);
		free(sub);
		if (r == 0)
			made++;
		else if (errno != EEXIST)
			return blob_fail(s, "mkdir", error_r);
	}
	if (made > 0 && fsync_dir(s->blob_dir) < 0)
		return blob_fail(s, "fsync", error_r);
	return 0;
}

/* Write data to a fresh temporary file (fsynced when sync). Returns its path. */
static char *blob_write_tmp(struct store *s, const void *data, size_t len, bool sync)
{
	char token[25];
	int fd;

	random_token(token, sizeof(token) - 1);
	char *path = xasprintf("%s/tmp/%s", s->blob_dir, token);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	if (write_full(fd, data, len) < 0 || (sync && fsync(fd) < 0)) {
		int saved = errno;
		close(fd);
		unlink(path);
		free(path);
		errno = saved;
		return NULL;
	}
	if (close(fd) < 0) {
		int saved = errno;
		unlink(path);
		free(path);
		errno = saved;
		return NULL;
	}
	return path;
}

bool store_blob_exists(struct store *s, const char *id)
{
	struct stat st;
	char *final = xasprintf("%s/%.2s/%s", s->blob_dir, id, id);
	bool ret = stat(final, &st) == 0 && S_ISREG(st.st_mode);
	free(final);
	return ret;
}

/* Flags of blob_place. */
#define BLOB_SYNC 1u    /* fsync the file and its directory (else a journal covers it) */
#define BLOB_REPLACE 2u /* write even when the name exists (recovery) */

/*
 * Put data under its final name id through a temporary file and a rename,
 * so that the name never shows a partial file.
 */
static int blob_place(struct store *s, const void *data, size_t len, const char *id, unsigned flags,
		      const char **error_r)
{
	char *subdir = xasprintf("%s/%.2s", s->blob_dir, id);
	char *final = xasprintf("%s/%s", subdir, id);
	struct stat st;
	int ret = -1;

	if (!(flags & BLOB_REPLACE) && stat(final, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Only complete, durable (or journaled) files ever get this name. */
		ret = 0;
		goto out;
	}
	if (mkdir_durable(subdir, s->blob_dir) < 0) {
		blob_fail(s, "mkdir", error_r);
		goto out;
	}
	char *tmp = blob_write_tmp(s, data, len, (flags & BLOB_SYNC) != 0);
	if (tmp == NULL) {
		blob_fail(s, "write", error_r);
		goto out;
	}
	if (rename(tmp, final) < 0) {
		blob_fail(s, "rename", error_r);
		unlink(tmp);
		free(tmp);
		goto out;
	}
	free(tmp);
	if ((flags & BLOB_SYNC) && fsync_dir(subdir) < 0) {
		blob_fail(s, "fsync", error_r);
		goto out;
	}
	ret = 0;
out:
	free(subdir);
	free(final);
	return ret;
}

int store_blob_write(struct store *s, const void *data, size_t len, char *id, const char **error_r)
{
	store_blob_hash(data, len, id);
	return blob_place(s, data, len, id, BLOB_SYNC, error_r);
}

int store_blob_write_journaled(struct store *s, const void *data, size_t len, const char *id,
			       const char **error_r)
{
	return blob_place(s, data, len, id, 0, error_r);
}

int store_blob_restore(struct store *s, const void *data, size_t len, const char *id,
		       const char **error_r)
{
	return blob_place(s, data, len, id, BLOB_SYNC | BLOB_REPLACE, error_r);
}

int store_blob_unlink(struct store *s, const char *id)
{
	if (!store_blob_id_valid(id))
		return -1;
	char *path = xasprintf("%s/%.2s/%s", s->blob_dir, id, id);
	int ret = unlink(path);
	if (ret < 0 && errno == ENOENT)
		ret = 0;
	free(path);
	return ret;
}

int store_blob_open(struct store *s, const char *blob_id)
{
	/* Never build a path from anything but a well-formed id. */
	if (!store_blob_id_valid(blob_id))
		return -1;
	char *path = xasprintf("%s/%.2s/%s", s->blob_dir, blob_id, blob_id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	return fd;
}
