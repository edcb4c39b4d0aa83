/* SPDX-License-Identifier: MIT */
/*
 * Which mailbox moves teach rspamd, and the hand-over of the messages to
 * its learning threads. A user moving a message into Junk says it is spam;
 * moving it out of Junk (but not to Trash, which says nothing about the
 * content) says it is ham. Only blob descriptors are opened here; reading
 * and posting happen in the filter's threads (filter-service.c).
 */
#include "filter/filter.h"

#include "lib/util.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static bool mailbox_is(const struct store_mailbox *m, const char *use, const char *name)
{
	if (m->special_use[0] != '\0')
		return strcasecmp(m->special_use, use) == 0;
	return strcasecmp(m->name, name) == 0;
}

int filter_learn_class(const struct store_mailbox *src, const struct store_mailbox *dst)
{
	bool src_junk = mailbox_is(src, "\\Junk", "Junk");
	bool dst_junk = mailbox_is(dst, "\\Junk", "Junk");
	if (dst_junk && !src_junk)
		return 1;
	if (src_junk && !dst_junk && !mailbox_is(dst, "\\Trash", "Trash"))
		return 0;
	return -1;
}

void filter_learn_messages(struct filter *f, struct store *store, int64_t mailbox_id,
			   const uint32_t *uids, size_t n, bool spam, const char *what)
{
	if (!filter_learns(f) || n == 0)
		return;
	struct store_uid_range *ranges = xcalloc(n, sizeof(*ranges));
	for (size_t i = 0; i < n; i++)
		ranges[i].lo = ranges[i].hi = uids[i];
	struct store_message_ex *msgs = NULL;
	size_t n_msgs = 0;
	int r = store_message_list_uids(store, mailbox_id, ranges, n, 0, &msgs, &n_msgs);
	free(ranges);
	if (r < 0 || n_msgs == 0)
		return;
	int *fds = xcalloc(n_msgs, sizeof(*fds));
	size_t k = 0;
	for (size_t i = 0; i < n_msgs; i++) {
		int fd = store_blob_open(store, msgs[i].msg.blob_id);
		if (fd >= 0)
			fds[k++] = fd;
	}
	store_message_ex_free(&msgs, n_msgs);
	filter_learn(f, spam, fds, k, what);
	free(fds);
}
