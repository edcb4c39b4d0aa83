/* SPDX-License-Identifier: MIT */
/*
 * EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 4315 2.1, UIDPLUS): remove
 * the messages flagged \Deleted, all of them or those of a UID set. The
 * store does the removal in one transaction; the untagged EXPUNGE
 * responses (VANISHED once QRESYNC is enabled) come from the view sync
 * that runs before the tagged reply, like every other change, so this
 * session and the others on the mailbox learn of it the same way. With
 * CONDSTORE the tagged OK carries the new HIGHESTMODSEQ (RFC 7162 3.1.10).
 * The removal goes through imap_cmd_write (the store writer's group
 * commit): the reply waits until it is durable. imap_expunge_deleted() is
 * shared with CLOSE.
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

enum imap_cmd_ret imap_expunge_deleted(struct imap_cmd *cmd, struct buf *out, const char *uid_set,
				       imap_cmd_func_t *then)
{
	struct imap_session *s = cmd->session;
	/* Without 'e', CLOSE expunges nothing (RFC 4314 4); EXPUNGE says NO first. */
	if (!imap_acl_may(s, STORE_RIGHT_EXPUNGE)) {
		cmd->write_direct = true;
		cmd->direct_result = 1;
		return then(cmd, out);
	}
	struct store_message *msgs = NULL;
	size_t n = 0;
	const char *error;
	if (store_message_list(s->store, s->view->mailbox_id, &msgs, &n) < 0)
		return then(cmd, out); /* no write: the outcome says it failed */
	struct imap_seqset set;
	if (uid_set != NULL) {
		/* '*' is the highest UID in the mailbox (RFC 9051 9, seq-number). */
		uint32_t star = n > 0 ? msgs[n - 1].uid : 0;
		if (imap_seqset_parse(uid_set, star, &set, &error) < 0) {
			free(msgs);
			return then(cmd, out);
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
	if (k == 0) {
		/* Nothing to remove: nothing to make durable either. */
		free(uids);
		cmd->write_direct = true;
		cmd->direct_result = 1;
		return then(cmd, out);
	}
	struct store_write_request req = {
		.kind = STORE_WRITE_EXPUNGE,
		.mailbox_id = s->view->mailbox_id,
		.uids = uids,
		.n_uids = k,
	};
	enum imap_cmd_ret ret = imap_cmd_write(cmd, out, &req, then);
	free(uids);
	return ret;
}

/* The expunge is durable (or failed): reply (imap-write.c). */
static enum imap_cmd_ret expunge_done(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const struct store_write_outcome *o;
	const char *error;
	if (imap_expunge_result(cmd, &o, &error) < 0) {
		log_warn("imap.expunge_error", "session=%s mailbox_id=%" PRId64 " error=\"%s\"",
			 s->session_id, s->view->mailbox_id, error);
		return imap_cmd_no(cmd, out, "[UNAVAILABLE] Expunge failed");
	}
	log_debug("imap.expunge", "session=%s mailbox_id=%" PRId64 " count=%zu", s->session_id,
		  s->view->mailbox_id, o->expunged);
	/* Report now so the view's HIGHESTMODSEQ is the one after the expunge. */
	imap_cmd_sync(cmd, out);
	if (s->condstore)
		return imap_cmd_ok(cmd, out, "[HIGHESTMODSEQ %" PRIu64 "] Expunge completed",
				   s->view->highestmodseq);
	return imap_cmd_ok(cmd, out, "Expunge completed");
}

int imap_expunge_result(struct imap_cmd *cmd, const struct store_write_outcome **outcome_r,
			const char **error_r)
{
	if (!cmd->write_direct && cmd->write == NULL) {
		*error_r = "Cannot read the mailbox";
		return -1;
	}
	return imap_cmd_write_result(cmd, outcome_r, error_r);
}

enum imap_cmd_ret cmd_expunge(struct imap_cmd *cmd, struct buf *out)
{
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
	if (!imap_acl_may(cmd->session, STORE_RIGHT_EXPUNGE))
		return imap_cmd_no(cmd, out, "[NOPERM] Expunge right needed");
	return imap_expunge_deleted(cmd, out, uid_set, expunge_done);
}
