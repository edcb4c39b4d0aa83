/* SPDX-License-Identifier: MIT */
/*
 * How IMAP commands change the store: APPEND, STORE, COPY, MOVE, EXPUNGE
 * and CLOSE describe their change as a struct store_write_request and
 * call imap_cmd_write(). In the daemon the session has a store writer
 * (group commit, store-writer.c): the request is handed over, the command
 * returns IMAP_CMD_WAIT (the connection reads nothing more and pipelined
 * commands stay in its input buffer), and when the writer's batch has
 * committed, its done callback wakes the loop, which resumes the command:
 * the handler's continuation then reads the outcome and queues the
 * tagged reply. So an OK is sent only once the change is durable, and the
 * fsyncs of many sessions are shared instead of blocking the worker loop
 * one command at a time. Without a writer (unit tests, fuzzers) the same
 * change is made at once by the direct store call and the continuation
 * runs immediately, so both paths share every line of reply code.
 */
#include "imap/imap-private.h"

#include "lib/util.h"

#include <string.h>

/* The write's outcome is known: run the handler's continuation. */
static enum imap_cmd_ret write_then(struct imap_cmd *cmd, struct buf *out)
{
	imap_cmd_func_t *then = cmd->write_then;
	cmd->write_then = NULL;
	return then(cmd, out);
}

/* Resumed on a wake-up (or the loop's tick): done yet? */
static enum imap_cmd_ret write_wait(struct imap_cmd *cmd, struct buf *out)
{
	bool pending = cmd->write != NULL && store_write_result(cmd->write, NULL) == 0;
	for (size_t i = 0; i < cmd->n_group && !pending && cmd->group != NULL; i++)
		pending = store_write_result(cmd->group[i], NULL) == 0;
	if (pending) {
		cmd->func = write_wait;
		return IMAP_CMD_WAIT;
	}
	return write_then(cmd, out);
}

/* Without a writer: the direct store call of req's kind. 0 / -1. */
static int write_direct(struct imap_session *s, const struct store_write_request *req,
			struct store_write_outcome *o, const char **error_r)
{
	struct store *st = s->store;
	switch (req->kind) {
	case STORE_WRITE_APPEND:
		return store_append(st, req->account_id, req->mailbox_id, req->data, req->len,
				    req->parsed, req->flags, req->keywords, req->n_keywords,
				    req->internal_date, &o->uid, &o->uidvalidity, error_r);
	case STORE_WRITE_FLAGS:
		return store_message_update_flags(st, req->mailbox_id, req->uids, req->n_uids,
						  req->update, &o->flags, error_r);
	case STORE_WRITE_COPY:
	case STORE_WRITE_MOVE:
		o->dst_uids = xcalloc(req->n_uids + 1, sizeof(*o->dst_uids));
		return (req->kind == STORE_WRITE_MOVE ? store_message_move : store_message_copy)(
			st, req->mailbox_id, req->uids, req->n_uids, req->dst_mailbox_id,
			o->dst_uids, error_r);
	case STORE_WRITE_EXPUNGE:
		o->expunged = req->n_uids;
		return store_message_expunge(st, req->mailbox_id, req->uids, req->n_uids, error_r);
	default:
		*error_r = "not an IMAP write";
		return -1;
	}
}

enum imap_cmd_ret imap_cmd_write(struct imap_cmd *cmd, struct buf *out,
				 const struct store_write_request *req, imap_cmd_func_t *then)
{
	struct imap_session *s = cmd->session;
	cmd->write_then = then;
	if (s->writer == NULL) {
		cmd->write_direct = true;
		cmd->direct_result =
			write_direct(s, req, &cmd->direct, &cmd->direct_error) < 0 ? -1 : 1;
		return write_then(cmd, out);
	}
	struct store_write_request r = *req;
	r.reader = s->account.id;
	r.done = s->write_done;
	r.done_arg = s->write_done_arg;
	const char *error = NULL;
	if (store_write_submit(s->writer, &r, &cmd->write, &error) < 0) {
		cmd->write_direct = true;
		cmd->direct_result = -1;
		cmd->direct_error = error;
		return write_then(cmd, out);
	}
	return write_wait(cmd, out);
}

/* Without a writer: the messages of a group in one transaction. */
static int write_direct_group(struct imap_session *s, const struct store_write_request *reqs,
			      size_t n, struct store_write_outcome *o, const char **error_r)
{
	struct store_append_msg *msgs = xcalloc(n, sizeof(*msgs));
	uint32_t uidvalidity = 0;
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (reqs[i].kind != STORE_WRITE_APPEND ||
		    reqs[i].mailbox_id != reqs[0].mailbox_id ||
		    reqs[i].account_id != reqs[0].account_id) {
			*error_r = "not one mailbox's appends";
			ret = -1;
		}
		msgs[i] = (struct store_append_msg){
			.data = reqs[i].data,
			.len = reqs[i].len,
			.parsed = reqs[i].parsed,
			.flags = reqs[i].flags,
			.keywords = reqs[i].keywords,
			.n_keywords = reqs[i].n_keywords,
			.internal_date = reqs[i].internal_date,
		};
	}
	if (ret == 0)
		ret = store_append_many(s->store, reqs[0].account_id, reqs[0].mailbox_id, msgs, n,
					&uidvalidity, error_r);
	for (size_t i = 0; i < n && ret == 0; i++) {
		o[i].uid = msgs[i].uid;
		o[i].uidvalidity = uidvalidity;
	}
	free(msgs);
	return ret;
}

enum imap_cmd_ret imap_cmd_write_group(struct imap_cmd *cmd, struct buf *out,
				       const struct store_write_request *reqs, size_t n,
				       imap_cmd_func_t *then)
{
	struct imap_session *s = cmd->session;
	if (n == 1)
		return imap_cmd_write(cmd, out, reqs, then);
	cmd->write_then = then;
	cmd->n_group = n;
	if (s->writer == NULL) {
		cmd->write_direct = true;
		cmd->group_direct = xcalloc(n, sizeof(*cmd->group_direct));
		cmd->direct_result =
			write_direct_group(s, reqs, n, cmd->group_direct, &cmd->direct_error) < 0
			? -1
			: 1;
		return write_then(cmd, out);
	}
	struct store_write_request *r = xcalloc(n, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		r[i] = reqs[i];
		r[i].reader = s->account.id;
		r[i].done = s->write_done;
		r[i].done_arg = s->write_done_arg;
	}
	cmd->group = xcalloc(n, sizeof(*cmd->group));
	const char *error = NULL;
	int ret = store_write_submit_group(s->writer, r, n, cmd->group, &error);
	free(r);
	if (ret < 0) {
		cmd->write_direct = true;
		cmd->direct_result = -1;
		cmd->direct_error = error;
		return write_then(cmd, out);
	}
	return write_wait(cmd, out);
}

int imap_cmd_write_result_at(struct imap_cmd *cmd, size_t i,
			     const struct store_write_outcome **outcome_r, const char **error_r)
{
	if (cmd->n_group == 0 || i >= cmd->n_group)
		return imap_cmd_write_result(cmd, outcome_r, error_r);
	if (cmd->write_direct) {
		*outcome_r = cmd->group_direct != NULL ? &cmd->group_direct[i] : &cmd->direct;
		*error_r = cmd->direct_error != NULL ? cmd->direct_error : "store error";
		return cmd->direct_result;
	}
	*outcome_r = store_write_outcome(cmd->group[i]);
	*error_r = "store error";
	return store_write_result(cmd->group[i], error_r) > 0 ? 1 : -1;
}

int imap_cmd_write_result(struct imap_cmd *cmd, const struct store_write_outcome **outcome_r,
			  const char **error_r)
{
	if (cmd->write_direct) {
		*outcome_r = &cmd->direct;
		*error_r = cmd->direct_error != NULL ? cmd->direct_error : "store error";
		return cmd->direct_result;
	}
	*outcome_r = store_write_outcome(cmd->write);
	*error_r = "store error";
	return store_write_result(cmd->write, error_r) > 0 ? 1 : -1;
}

void imap_cmd_write_release(struct imap_cmd *cmd)
{
	store_write_release(&cmd->write);
	for (size_t i = 0; i < cmd->n_group && cmd->group != NULL; i++)
		store_write_release(&cmd->group[i]);
	free(cmd->group);
	free(cmd->group_direct);
	cmd->group = NULL;
	cmd->group_direct = NULL;
	cmd->n_group = 0;
	store_flags_outcome_free(&cmd->direct.flags);
	free(cmd->direct.dst_uids);
	memset(&cmd->direct, 0, sizeof(cmd->direct));
}
