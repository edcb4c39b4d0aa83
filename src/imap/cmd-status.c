/* SPDX-License-Identifier: MIT */
/*
 * STATUS (RFC 9051 6.3.11) and the status items it shares with LIST-STATUS
 * (RFC 5819): MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, DELETED, SIZE (RFC
 * 8438), RECENT (messages no session was shown yet), HIGHESTMODSEQ (RFC 7162),
 * APPENDLIMIT (RFC 7889, the configured message size cap), MAILBOXID
 * (RFC 8474, "M" and the store's mailbox id, as SELECT announces it) and
 * DELETED-STORAGE (RFC 9208, KiB of \Deleted messages, cmd-quota.c). The
 * numbers come from one store snapshot, so they agree with each other
 * (DELETED-STORAGE, when asked, comes from a second read).
 */
#include "imap/imap-private.h"

#include "lib/config.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const item_names[IMAP_STATUS_ITEM_COUNT] = {
	[IMAP_STATUS_MESSAGES] = "MESSAGES",
	[IMAP_STATUS_UIDNEXT] = "UIDNEXT",
	[IMAP_STATUS_UIDVALIDITY] = "UIDVALIDITY",
	[IMAP_STATUS_UNSEEN] = "UNSEEN",
	[IMAP_STATUS_DELETED] = "DELETED",
	[IMAP_STATUS_SIZE] = "SIZE",
	[IMAP_STATUS_RECENT] = "RECENT",
	[IMAP_STATUS_HIGHESTMODSEQ] = "HIGHESTMODSEQ",
	[IMAP_STATUS_APPENDLIMIT] = "APPENDLIMIT",
	[IMAP_STATUS_MAILBOXID] = "MAILBOXID",
	[IMAP_STATUS_DELETED_STORAGE] = "DELETED-STORAGE",
};

int imap_status_items_parse(const struct imap_arg *arg, struct imap_status_items *items_r,
			    const char **error_r)
{
	const struct imap_arg *list;
	size_t count;
	memset(items_r, 0, sizeof(*items_r));
	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		*error_r = "STATUS items must be a non-empty list";
		return -1;
	}
	bool seen[IMAP_STATUS_ITEM_COUNT] = {false};
	for (; !imap_arg_is_eol(list); list++) {
		size_t i = 0;
		while (i < IMAP_STATUS_ITEM_COUNT && !imap_arg_atom_equals(list, item_names[i]))
			i++;
		if (i == IMAP_STATUS_ITEM_COUNT) {
			*error_r = "Unknown STATUS item";
			return -1;
		}
		/* A repeated item is answered once. */
		if (!seen[i]) {
			seen[i] = true;
			items_r->item[items_r->n++] = (uint8_t)i;
		}
	}
	return 0;
}

static void write_item(const struct imap_session *s, struct buf *out, enum imap_status_item item,
		       int64_t mailbox_id, const struct store_mailbox_status *st,
		       uint64_t deleted_bytes)
{
	buf_append_str(out, item_names[item]);
	switch (item) {
	case IMAP_STATUS_MESSAGES:
		buf_printf(out, " %" PRIu32, st->messages);
		break;
	case IMAP_STATUS_UIDNEXT:
		buf_printf(out, " %" PRIu32, st->uidnext);
		break;
	case IMAP_STATUS_UIDVALIDITY:
		buf_printf(out, " %" PRIu32, st->uidvalidity);
		break;
	case IMAP_STATUS_UNSEEN:
		buf_printf(out, " %" PRIu32, st->unseen);
		break;
	case IMAP_STATUS_DELETED:
		buf_printf(out, " %" PRIu32, st->deleted);
		break;
	case IMAP_STATUS_SIZE:
		buf_printf(out, " %" PRIu64, st->size);
		break;
	case IMAP_STATUS_RECENT:
		buf_printf(out, " %" PRIu32, st->recent);
		break;
	case IMAP_STATUS_HIGHESTMODSEQ:
		buf_printf(out, " %" PRIu64, st->highestmodseq);
		break;
	case IMAP_STATUS_APPENDLIMIT:
		if (s->config != NULL && s->config->max_message_size > 0)
			buf_printf(out, " %" PRIu64, (uint64_t)s->config->max_message_size);
		else
			buf_append_str(out, " NIL");
		break;
	case IMAP_STATUS_MAILBOXID:
		buf_printf(out, " (M%" PRId64 ")", mailbox_id);
		break;
	case IMAP_STATUS_DELETED_STORAGE:
		buf_printf(out, " %" PRIu64, imap_quota_kib(deleted_bytes));
		break;
	case IMAP_STATUS_ITEM_COUNT:
	default:
		break;
	}
}

int imap_status_write(struct imap_session *s, struct buf *out, const char *name, int64_t mailbox_id,
		      const struct imap_status_items *items)
{
	struct store_mailbox_status st;
	int r = store_mailbox_status(s->store, mailbox_id, &st);
	if (r <= 0)
		return r;
	/* DELETED-STORAGE costs one more aggregate: only when asked. */
	uint64_t deleted_bytes = 0;
	for (size_t i = 0; i < items->n && r > 0; i++) {
		if (items->item[i] == IMAP_STATUS_DELETED_STORAGE)
			r = store_mailbox_deleted_size(s->store, mailbox_id, &deleted_bytes);
	}
	if (r <= 0)
		return r;
	buf_append_str(out, "* STATUS ");
	imap_write_mailbox_name(s, out, name);
	buf_append_str(out, " (");
	for (size_t i = 0; i < items->n; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		write_item(s, out, (enum imap_status_item)items->item[i], mailbox_id, &st,
			   deleted_bytes);
		if (items->item[i] == IMAP_STATUS_HIGHESTMODSEQ)
			imap_session_condstore_enable(s);
	}
	buf_append_str(out, ")\r\n");
	return 1;
}

/* STATUS mailbox (items) */
enum imap_cmd_ret cmd_status(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	const char *wire, *error;
	struct imap_status_items items;
	if (!imap_arg_get_astring(&cmd->args[0], &wire))
		return imap_cmd_bad(cmd, out, "Missing mailbox name");
	if (imap_status_items_parse(&cmd->args[1], &items, &error) < 0)
		return imap_cmd_bad(cmd, out, "%s", error);
	if (!imap_arg_is_eol(&cmd->args[2]))
		return imap_cmd_bad(cmd, out, "Unexpected arguments");
	char *name;
	if (imap_mailbox_name_from_client(s, wire, &name, &error) < 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] %s", error);
	struct store_mailbox m;
	uint32_t rights;
	int r = imap_mailbox_lookup(s, name, &m, &rights);
	if (r > 0 && (rights & STORE_RIGHT_READ) == 0) {
		free(name);
		return imap_cmd_no(cmd, out, "[NOPERM] Read right needed");
	}
	if (r > 0)
		r = imap_status_write(s, out, name, m.id, &items);
	free(name);
	if (r < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox status");
	if (r == 0)
		return imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox");
	return imap_cmd_ok(cmd, out, "STATUS completed");
}
