/* SPDX-License-Identifier: MIT */
/*
 * Blobs (RFC 8620 6): uploads become store blobs (fsynced, owned by the
 * account through store_jmap_upload) and downloads open them. Blob ids
 * are "B" + the store's SHA-256 for a whole message or an upload, and
 * "P" + SHA-256 + "_" + the part number (dots as '_') for one body part of
 * a message: a part is decoded (base64, quoted-printable) into an
 * anonymous memory file handed to http/ to stream. An account reads only
 * blobs of its own messages and uploads.
 */
#include "jmap/jmap-private.h"

#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Split a JMAP blob id. 1 ok (part "" for whole blobs) / 0 malformed. */
static int blob_id_split(const char *jid, char *hash, char *part, size_t part_size)
{
	if (jid == NULL || (jid[0] != 'B' && jid[0] != 'P') || strlen(jid) < 1 + STORE_BLOB_ID_LEN)
		return 0;
	for (size_t i = 0; i < STORE_BLOB_ID_LEN; i++) {
		char ch = jid[1 + i];
		if (!isdigit((unsigned char)ch) && !(ch >= 'a' && ch <= 'f'))
			return 0;
	}
	memcpy(hash, jid + 1, STORE_BLOB_ID_LEN);
	hash[STORE_BLOB_ID_LEN] = '\0';
	const char *rest = jid + 1 + STORE_BLOB_ID_LEN;
	part[0] = '\0';
	if (jid[0] == 'B')
		return *rest == '\0';
	if (*rest != '_' || rest[1] == '\0' || strlen(rest + 1) >= part_size)
		return 0;
	size_t o = 0;
	for (const char *p = rest + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) && *p != '_')
			return 0;
		part[o++] = *p == '_' ? '.' : *p;
	}
	part[o] = '\0';
	return 1;
}

/* Open the readable content of jid as an fd with its length and type. 1 / 0 / -1. */
static int blob_open(struct store *s, int64_t account_id, const char *jid, int *fd_r,
		     uint64_t *len_r, char *type, size_t type_size)
{
	char hash[STORE_BLOB_ID_LEN + 1], part[64], utype[128];
	struct stat st;

	*fd_r = -1;
	if (!blob_id_split(jid, hash, part, sizeof(part)))
		return 0;
	int access = store_jmap_blob_access(s, account_id, hash, utype, sizeof(utype), NULL);
	if (access <= 0 || (part[0] != '\0' && access != 1))
		return access < 0 ? -1 : 0;
	if (part[0] == '\0') {
		int fd = store_blob_open(s, hash);
		if (fd < 0 || fstat(fd, &st) < 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		*fd_r = fd;
		*len_r = (uint64_t)st.st_size;
		if (type != NULL)
			snprintf(type, type_size, "%s", access == 2 ? utype : "message/rfc822");
		return 1;
	}
	struct jmap_msg m;
	if (jmap_msg_open(s, hash, false, &m) < 0) {
		jmap_msg_close(&m);
		return -1;
	}
	struct jmap_part *root = jmap_parts(&m);
	struct jmap_part *p = jmap_part_find(root, part);
	int ret = 0;
	if (p != NULL) {
		int fd = memfd_create("jmap-part", MFD_CLOEXEC);
		if (fd >= 0 && jmap_part_write(p, fd) == 0 && fstat(fd, &st) == 0 &&
		    lseek(fd, 0, SEEK_SET) == 0) {
			*fd_r = fd;
			*len_r = (uint64_t)st.st_size;
			if (type != NULL)
				snprintf(type, type_size, "%s", p->type);
			ret = 1;
		} else {
			if (fd >= 0)
				close(fd);
			ret = -1;
		}
	}
	jmap_part_free(&root);
	jmap_msg_close(&m);
	return ret;
}

int jmap_blob_read(struct store *s, int64_t account_id, const char *blob_id, struct buf *out,
		   char *type, size_t type_size)
{
	int fd;
	uint64_t len;
	int r = blob_open(s, account_id, blob_id, &fd, &len, type, type_size);
	if (r <= 0)
		return r;
	if (len > JMAP_MAX_UPLOAD_SIZE) {
		close(fd);
		return -1;
	}
	buf_reserve(out, (size_t)len + 1);
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, out->data + out->len + got, (size_t)len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != len)
		return -1;
	out->len += got;
	return 1;
}

/* --- HTTP entry points ------------------------------------------------- */

static int problem(struct buf *out, int status, const char *detail)
{
	json_t *p = json_pack("{s:s s:i s:s}", "type", "about:blank", "status", status, "detail",
			      detail);
	char *s = json_dumps(p, JSON_COMPACT);
	buf_append_str(out, s);
	free(s);
	json_decref(p);
	return status;
}

static bool account_ours(const struct jmap_request *r, const char *account_id)
{
	char acc[24];
	jmap_id(acc, sizeof(acc), 'a', r->account_id);
	return account_id != NULL && strcmp(acc, account_id) == 0;
}

/* A Content-Type worth keeping: printable ASCII, no CR/LF, bounded. */
static void type_clean(const char *type, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = type != NULL ? type : ""; *p != '\0' && o + 1 < size; p++)
		if ((unsigned char)*p >= 32 && (unsigned char)*p < 127)
			out[o++] = *p;
	out[o] = '\0';
	if (o == 0)
		snprintf(out, size, "application/octet-stream");
}

int jmap_upload(const struct jmap_request *r, const char *account_id, const char *type,
		const char *body, size_t len, struct buf *out)
{
	char id[STORE_BLOB_ID_LEN + 1], t[128], jid[80];
	const char *error;

	if (!account_ours(r, account_id))
		return problem(out, 404, "no such account");
	if (len > JMAP_MAX_UPLOAD_SIZE)
		return problem(out, 413, "upload too large (maxSizeUpload)");
	type_clean(type, t, sizeof(t));
	if (store_jmap_upload(r->ctx->store, r->account_id, body, len, t, id, &error) < 0) {
		log_error("jmap.upload", "session=%s error=\"%s\"",
			  r->session_id ? r->session_id : "-", error ? error : "?");
		return problem(out, 500, "the upload could not be stored");
	}
	snprintf(jid, sizeof(jid), "B%s", id);
	json_t *resp = json_pack("{s:s s:s s:s s:I}", "accountId", account_id, "blobId", jid,
				 "type", t, "size", (json_int_t)len);
	char *s = json_dumps(resp, JSON_COMPACT);
	buf_append_str(out, s);
	free(s);
	json_decref(resp);
	return 201;
}

/* The blob's mailboxes of owner that user may read: collected by shared_read. */
struct shared_read {
	struct store *s;
	int64_t owner;
	const char *hash;
	int found; /* 1 found, 0 not (yet), -1 error */
};

static void shared_read_check(void *ctx, const struct store_shared_mailbox *m)
{
	struct shared_read *x = ctx;
	if (x->found != 0 || m->mailbox.account_id != x->owner || !(m->rights & STORE_RIGHT_READ))
		return;
	x->found = store_mailbox_has_blob(x->s, m->mailbox.id, x->hash);
}

/*
 * The account of a download: the user's own, or one that shares with the
 * user a mailbox the user may read holding a message with the blob (an
 * attachment in a shared folder). The owner's account id / 0 not allowed.
 */
static int64_t download_account(const struct jmap_request *r, const char *account_id,
				const char *hash)
{
	if (account_ours(r, account_id))
		return r->account_id;
	char *end;
	if (account_id == NULL || account_id[0] != 'a' || !isdigit((unsigned char)account_id[1]))
		return 0;
	long long owner = strtoll(account_id + 1, &end, 10);
	if (*end != '\0' || owner <= 0)
		return 0;
	struct shared_read x = {r->ctx->store, owner, hash, 0};
	if (store_acl_shared_list(r->ctx->store, r->account_id, shared_read_check, &x) < 0)
		return 0;
	return x.found == 1 ? owner : 0;
}

int jmap_download_open(const struct jmap_request *r, const char *account_id, const char *blob_id,
		       const char *accept_type, struct jmap_blob *blob_r)
{
	char hash[STORE_BLOB_ID_LEN + 1], part[64];
	int fd;
	uint64_t len;

	memset(blob_r, 0, sizeof(*blob_r));
	blob_r->fd = -1;
	if (!blob_id_split(blob_id, hash, part, sizeof(part)))
		return account_ours(r, account_id) ? 400 : 404;
	int64_t account = download_account(r, account_id, hash);
	if (account == 0)
		return 404;
	int ret = blob_open(r->ctx->store, account, blob_id, &fd, &len, blob_r->type,
			    sizeof(blob_r->type));
	if (ret < 0)
		return 500;
	if (ret == 0)
		return 404;
	blob_r->fd = fd;
	blob_r->offset = 0;
	blob_r->len = len;
	if (accept_type != NULL && accept_type[0] != '\0')
		type_clean(accept_type, blob_r->type, sizeof(blob_r->type));
	return 200;
}
