/* SPDX-License-Identifier: MIT */
/*
 * Temporary: answers every JMAP entry point with 501 until the JMAP
 * module lands (it deletes this file). Lets http/ build against jmap.h.
 */
#include "jmap/jmap.h"

static const char not_yet[] =
	"{\"type\":\"about:blank\",\"status\":501,\"detail\":\"JMAP not built\"}";

int jmap_session_resource(const struct jmap_request *r, struct buf *out)
{
	(void)r;
	buf_append_str(out, not_yet);
	return 501;
}

int jmap_api(const struct jmap_request *r, const char *body, size_t len, struct buf *out,
	     const char **content_type_r)
{
	(void)r, (void)body, (void)len;
	*content_type_r = "application/problem+json";
	buf_append_str(out, not_yet);
	return 501;
}

int jmap_upload(const struct jmap_request *r, const char *account_id, const char *type,
		const char *body, size_t len, struct buf *out)
{
	(void)r, (void)account_id, (void)type, (void)body, (void)len;
	buf_append_str(out, not_yet);
	return 501;
}

int jmap_download_open(const struct jmap_request *r, const char *account_id, const char *blob_id,
		       const char *accept_type, struct jmap_blob *blob_r)
{
	(void)r, (void)account_id, (void)blob_id, (void)accept_type;
	blob_r->fd = -1;
	return 501;
}

int jmap_push_state(const struct jmap_request *r, struct buf *out)
{
	(void)r, (void)out;
	return 0;
}
