/* SPDX-License-Identifier: MIT */
/*
 * The IMAP command table and the capability list, each kept in one place.
 * Every row names a command, its handler (cmd-*.c) and its flags: the
 * states it is allowed in, whether "UID " may precede it, whether it
 * changes the selected mailbox (refused when read-only), and whether
 * EXPUNGE responses must wait while it runs (by sequence number). The
 * session checks the flags before the handler is called.
 */
#include "imap/imap-private.h"
#include "lib/config.h"

#include <string.h>
#include <strings.h>

#define ANY IMAP_CMD_STATE_ANY
#define NOTAUTH IMAP_CMD_STATE_NOTAUTH
#define AUTH IMAP_CMD_STATE_AUTH
#define AUTHED IMAP_CMD_STATE_AUTHED
#define SELECTED IMAP_CMD_STATE_SELECTED
#define UID IMAP_CMD_FLAG_UID
#define MODIFIES IMAP_CMD_FLAG_MODIFIES
#define NO_EXPUNGE IMAP_CMD_FLAG_NO_EXPUNGE

/*
 * Wave-2 rows are commented out until their cmd-*.c exists: uncomment the
 * row and the handler's declaration in imap-private.h together.
 */
static const struct imap_command imap_commands[] = {
	/* any state (RFC 9051 6.1) */
	{"CAPABILITY", cmd_capability, ANY},
	{"COMPRESS", cmd_compress, IMAP_CMD_STATE_AUTHED},
	{"NOOP", cmd_noop, ANY},
	{"LOGOUT", cmd_logout, ANY},
	{"ID", cmd_id, ANY},
	/* not authenticated (6.2) */
	{"STARTTLS", cmd_starttls, NOTAUTH},
	{"LOGIN", cmd_login, NOTAUTH},
	{"AUTHENTICATE", cmd_authenticate, NOTAUTH},
	/* authenticated (6.3) */
	{"ENABLE", cmd_enable, AUTH},
	{"SELECT", cmd_select, AUTHED},
	{"EXAMINE", cmd_examine, AUTHED},
	{"CREATE", cmd_create, AUTHED},
	{"DELETE", cmd_delete, AUTHED},
	{"RENAME", cmd_rename, AUTHED},
	{"SUBSCRIBE", cmd_subscribe, AUTHED},
	{"UNSUBSCRIBE", cmd_unsubscribe, AUTHED},
	{"LIST", cmd_list, AUTHED},
	{"LSUB", cmd_lsub, AUTHED},
	{"NAMESPACE", cmd_namespace, AUTHED},
	{"STATUS", cmd_status, AUTHED},
	{"APPEND", cmd_append, AUTHED},
	{"IDLE", cmd_idle, AUTHED},
	{"GETQUOTAROOT", cmd_getquotaroot, AUTHED},
	{"GETQUOTA", cmd_getquota, AUTHED},
	{"SETQUOTA", cmd_setquota, AUTHED},
	{"GETACL", cmd_getacl, AUTHED},
	{"SETACL", cmd_setacl, AUTHED},
	{"DELETEACL", cmd_deleteacl, AUTHED},
	{"LISTRIGHTS", cmd_listrights, AUTHED},
	{"MYRIGHTS", cmd_myrights, AUTHED},
	{"GETMETADATA", cmd_getmetadata, AUTHED},
	{"SETMETADATA", cmd_setmetadata, AUTHED},
	{"NOTIFY", cmd_notify, AUTHED},
	/* selected (6.4) */
	{"CHECK", cmd_check, SELECTED},
	{"CLOSE", cmd_close, SELECTED},
	{"UNSELECT", cmd_unselect, SELECTED},
	{"EXPUNGE", cmd_expunge, SELECTED | UID | MODIFIES},
	{"SEARCH", cmd_search, SELECTED | UID | NO_EXPUNGE},
	{"FETCH", cmd_fetch, SELECTED | UID | NO_EXPUNGE},
	{"STORE", cmd_store, SELECTED | UID | MODIFIES | NO_EXPUNGE},
	{"COPY", cmd_copy, SELECTED | UID},
	{"MOVE", cmd_move, SELECTED | UID | MODIFIES},
	{"SORT", cmd_sort, SELECTED | UID | NO_EXPUNGE},
	{"THREAD", cmd_thread, SELECTED | UID | NO_EXPUNGE},
	{"CANCELUPDATE", cmd_cancelupdate, SELECTED},
};

const struct imap_command *imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]); i++) {
		if (strcasecmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	}
	return NULL;
}

/*
 * What this server offers, whatever the state: this wave's commands and
 * the extensions the wave-2 command files implement.
 */
static const char imap_caps[] =
	"IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE ID IDLE NAMESPACE UNSELECT "
	"UIDPLUS MOVE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE ESEARCH "
	"SEARCHRES CONDSTORE QRESYNC UTF8=ACCEPT BINARY OBJECTID SAVEDATE "
	"CREATE-SPECIAL-USE STATUS=SIZE COMPRESS=DEFLATE"
	" SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES"
	" QUOTA QUOTA=RES-STORAGE"
	" ACL RIGHTS=texk LIST-MYRIGHTS MULTIAPPEND CATENATE"
	" ESORT SORT=DISPLAY WITHIN PREVIEW CONTEXT=SEARCH CONTEXT=SORT"
	" METADATA METADATA-SERVER NOTIFY";

void imap_capability_write(const struct imap_session *s, struct buf *out)
{
	buf_append_str(out, imap_caps);
	if (s->config != NULL)
		buf_printf(out, " APPENDLIMIT=%llu",
			   (unsigned long long)s->config->max_message_size);
	if (s->state != IMAP_STATE_NOT_AUTHENTICATED)
		return;
	if (s->tls_available && !s->tls)
		buf_append_str(out, " STARTTLS");
	if (imap_session_auth_allowed(s)) {
		buf_append_str(out, " AUTH=PLAIN AUTH=SCRAM-SHA-256");
		if (s->tls && auth_scram_plus_available(s->binding))
			buf_append_str(out, " AUTH=SCRAM-SHA-256-PLUS");
	} else
		buf_append_str(out, " LOGINDISABLED");
}
