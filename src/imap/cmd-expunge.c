/* SPDX-License-Identifier: MIT */
/*
 * EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 4315 2.1, UIDPLUS): remove
 * the messages flagged \Deleted, all of them or those of a UID set. The
 * store does the removal in one transaction; the untagged EXPUNGE
 * responses (VANISHED once QRESYNC is enabled) come from the view sync
 * that runs before the tagged reply, like every other change, so this
 * session and the others on the mailbox learn of it the same way. With
 * CONDSTORE the tagged OK carries the new HIGHESTMODSEQ (RFC 7162 3.1.10).
 * imap_expunge_deleted() is shared with CLOSE.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>

static bool uid_wanted(const struct imap_session *s, const struct imap_seqset *set, uint32_t uid)
{
	if (set == NULL)
		return true;
	if (set->saved)
		return imap_uid_find(s->saved_uids, s->n_saved_uids, uid, NULL);
	return imap_seqset_contains(set, uid);
}

int imap_expunge_deleted(struct imap_session *s, const char *uid_set, size_t *n_r,
			 const char **error_r)
{
	*n_r = 0;
	/* Without 'e', CLOSE expunges nothing (RFC 4314 4); EXPUNGE says NO first. */
	if (!imap_acl_may(s, STORE_RIGHT_EXPUNGE))
		return 0;
	struct store_message *msgs = NULL;
	size_t n = 0;
	if (store_message_list(s->store, s->view->mailbox_id, &msgs, &n) < 0) {
		*error_r = "Cannot read the mailbox";
		return -1;
	}
	struct imap_seqset set;
	if (uid_set != NULL) {
		/* '*' is the highest UID in the mailbox (RFC 9051 9, seq-number). */
		uint32_t star = n > 0 ? msgs[n - 1].uid : 0;
		if (imap_seqset_parse(uid_set, star, &set, error_r) < 0) {
			free(msgs);
			return -1;
		}
	}
	uint32_t *uids = xcalloc(n + 1, sizeof(*uids));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if ((msgs[i].flags & STORE_FLAG_DELETED) != 0 &&
		    uid_wanted(s, uid_set != NULL ? &set : NULL, msgs[i].uid))
			uids[k++] = msgs[i].uid;
	}
	free(msgs);
	if (uid_set != NULL)
		imap_seqset_free(&set);
	int ret = 0;
	if (k > 0 && store_message_expunge(s->store, s->view->mailbox_id, uids, k, error_r) < 0)
		ret = -1;
	free(uids);
	if (ret == 0)
		*n_r = k;
	return ret;
}

enum imap_cmd_ret cmd_expunge(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *uid_set = NULL, *error;
	if (cmd->uid) {
		if (!imap_arg_get_atom(&cmd->args[0], &uid_set) || !imap_arg_is_eol(&cmd->args[1]))
			return imap_cmd_bad(cmd, out, "UID EXPUNGE takes one UID set");
		/* Syntax first: a bad set is BAD, not NO. */
		struct imap_seqset probe;
		if (imap_seqset_parse(uid_set, 1, &probe, &error) < 0)
			return imap_cmd_bad(cmd, out, "%s", error);
		imap_seqset_free(&probe);
	} else if (!imap_arg_is_eol(&cmd->args[0])) {
		return imap_cmd_bad(cmd, out, "EXPUNGE takes no arguments");
	}
	if (!imap_acl_may(s, STORE_RIGHT_EXPUNGE))
		return imap_cmd_no(cmd, out, "[NOPERM] Expunge right needed");
	size_t n;
	if (imap_expunge_deleted(s, uid_set, &n, &error) < 0) {
		log_warn("imap.expunge_error", "session=%s mailbox_id=%" PRId64 " error=\"%s\"",
			 s->session_id, s->view->mailbox_id, error);
		return imap_cmd_no(cmd, out, "[UNAVAILABLE] Expunge failed");
	}
	log_debug("imap.expunge", "session=%s mailbox_id=%" PRId64 " count=%zu", s->session_id,
		  s->view->mailbox_id, n);
	/* Report now so the view's HIGHESTMODSEQ is the one after the expunge. */
	imap_cmd_sync(cmd, out);
	if (s->condstore)
		return imap_cmd_ok(cmd, out, "[HIGHESTMODSEQ %" PRIu64 "] Expunge completed",
				   s->view->highestmodseq);
	return imap_cmd_ok(cmd, out, "Expunge completed");
}
