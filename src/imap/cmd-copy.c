/* SPDX-License-Identifier: MIT */
/*
 * COPY, MOVE and their UID forms (RFC 9051 6.4.7-8, RFC 6851 MOVE, RFC
 * 4315 UIDPLUS). Both run in one store transaction (the store writer's
 * group commit, imap-write.c, or store_message_copy / store_message_move
 * without one) so nothing is half done, and reply once it is durable. The reply carries COPYUID
 * (uidvalidity source-uids destination-uids); for MOVE it goes in an
 * untagged OK before the EXPUNGE (or VANISHED) responses, which the
 * after-command sync of the tagged OK produces from the store. A missing
 * destination gets [TRYCREATE], a full quota [OVERQUOTA]. MOVE into the
 * selected mailbox itself works like COPY and expunge: the messages come
 * back as new ones (EXPUNGE, then EXISTS).
 */
#include "imap/imap-private.h"

#include "filter/filter.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* "uidvalidity 1:3,5 10:13" from the pairs actually copied. */
static void copyuid_write(struct buf *out, uint32_t uidvalidity, const uint32_t *src,
			  const uint32_t *dst, size_t n)
{
	uint32_t *s = xcalloc(n, sizeof(*s));
	uint32_t *d = xcalloc(n, sizeof(*d));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (dst[i] == 0)
			continue;
		s[k] = src[i];
		d[k++] = dst[i];
	}
	buf_printf(out, "%u ", uidvalidity);
	imap_seqset_write(out, s, k);
	buf_append(out, " ", 1);
	imap_seqset_write(out, d, k);
	free(s);
	free(d);
}

static size_t count_copied(const uint32_t *dst, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += dst[i] != 0;
	return k;
}

static enum imap_cmd_ret copy_fail(struct imap_cmd *cmd, struct buf *out, const char *error)
{
	struct imap_session *s = cmd->session;
	log_info("imap.copy_failed", "session=%s cmd=%s error=\"%s\"", s->session_id, cmd->name,
		 error);
	if (strncmp(error, "quota", 5) == 0)
		return imap_cmd_no(cmd, out, "[OVERQUOTA] Quota exceeded");
	return imap_cmd_no(cmd, out, "[SERVERBUG] %s failed", cmd->name);
}

/* The command's state while the store writer commits it. */
struct copy_ctx {
	uint32_t *uids;
	size_t n;
	uint32_t dst_uidvalidity;
	int64_t dst_id;
	int learn; /* filter_learn_class of the source and target */
	bool move;
};

static void copy_ctx_free(void *p)
{
	struct copy_ctx *c = p;
	free(c->uids);
	free(c);
}

/* The copy or move is durable (or failed): reply (imap-write.c). */
static enum imap_cmd_ret copy_done(struct imap_cmd *cmd, struct buf *out)
{
	struct copy_ctx *c = cmd->context;
	const struct store_write_outcome *o;
	const char *error;
	if (imap_cmd_write_result(cmd, &o, &error) < 0)
		return copy_fail(cmd, out, error);
	if (count_copied(o->dst_uids, c->n) == 0)
		return imap_cmd_ok(cmd, out, "%s completed, nothing to do", cmd->name);
	if (c->learn >= 0)
		filter_learn_messages(cmd->session->filter, cmd->session->store, c->dst_id,
				      o->dst_uids, c->n, c->learn == 1,
				      c->move ? "imap.move" : "imap.copy");
	struct buf cu;
	enum imap_cmd_ret ret;
	buf_init(&cu);
	copyuid_write(&cu, c->dst_uidvalidity, c->uids, o->dst_uids, c->n);
	if (c->move) {
		buf_printf(out, "* OK [COPYUID %s] Moved\r\n", buf_cstr(&cu));
		ret = imap_cmd_ok(cmd, out, "MOVE completed");
	} else {
		ret = imap_cmd_ok(cmd, out, "[COPYUID %s] COPY completed", buf_cstr(&cu));
	}
	buf_deinit(&cu);
	return ret;
}

static enum imap_cmd_ret copy_or_move(struct imap_cmd *cmd, struct buf *out, bool move)
{
	struct imap_session *s = cmd->session;
	const char *set, *wire, *error;
	if (!imap_arg_get_atom(&cmd->args[0], &set) ||
	    !imap_arg_get_astring(&cmd->args[1], &wire) || !imap_arg_is_eol(&cmd->args[2]))
		return imap_cmd_bad(cmd, out, "Usage: %s sequence-set mailbox", cmd->name);
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[CANNOT] %s", error);
	struct store_mailbox dst;
	uint32_t rights;
	int r = imap_mailbox_lookup(s, name, &dst, &rights);
	bool shared_name = imap_acl_name_shared(name);
	free(name);
	if (r <= 0)
		return r < 0          ? imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox")
			: shared_name ? imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox")
				      : imap_cmd_no(cmd, out, "[TRYCREATE] No such mailbox");
	/* RFC 4314 4: 'i' on the target; MOVE also takes 't' and 'e' on the source. */
	if ((rights & STORE_RIGHT_INSERT) == 0)
		return imap_cmd_no(cmd, out, "[NOPERM] Insert right needed on the target");
	if (move && !imap_acl_may(s, STORE_RIGHT_DELETE_MESSAGE | STORE_RIGHT_EXPUNGE))
		return imap_cmd_no(cmd, out, "[NOPERM] Delete and expunge rights needed");
	struct copy_ctx *c = xcalloc(1, sizeof(*c));
	cmd->context = c;
	cmd->free_context = copy_ctx_free;
	c->move = move;
	c->dst_uidvalidity = dst.uidvalidity;
	c->dst_id = dst.id;
	c->learn = -1;
	struct store_mailbox src;
	if (filter_learns(s->filter) && store_mailbox_head(s->store, s->view->mailbox_id, &src) > 0)
		c->learn = filter_learn_class(&src, &dst);
	if (imap_search_resolve_set(s, set, cmd->uid, &c->uids, &c->n, &error) < 0)
		return imap_cmd_bad(cmd, out, "%s", error);
	if (c->n == 0)
		return imap_cmd_ok(cmd, out, "%s completed, nothing to do", cmd->name);
	struct store_write_request req = {
		.kind = move ? STORE_WRITE_MOVE : STORE_WRITE_COPY,
		.mailbox_id = s->view->mailbox_id,
		.uids = c->uids,
		.n_uids = c->n,
		.dst_mailbox_id = dst.id,
	};
	return imap_cmd_write(cmd, out, &req, copy_done);
}

enum imap_cmd_ret cmd_copy(struct imap_cmd *cmd, struct buf *out)
{
	return copy_or_move(cmd, out, false);
}

enum imap_cmd_ret cmd_move(struct imap_cmd *cmd, struct buf *out)
{
	return copy_or_move(cmd, out, true);
}
