/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the jmap/ files: the context of one API request
 * (account, store, creation ids, responses so far), the method table
 * entry, id and state encodings, method-level errors, the /changes and
 * /get helpers every family uses, and the message reading (GMime) shared
 * by Email/get, Email/query, SearchSnippet and downloads.
 */
#ifndef FACTEUR_JMAP_PRIVATE_H
#define FACTEUR_JMAP_PRIVATE_H

#include "jmap/jmap.h"
#include "store/store.h"

#include <gmime/gmime.h>
#include <jansson.h>
#include <stdbool.h>

/* Limits announced in the session resource (urn:ietf:params:jmap:core). */
#define JMAP_MAX_CALLS 64
#define JMAP_MAX_OBJECTS_GET 1000
#define JMAP_MAX_OBJECTS_SET 1000
#define JMAP_MAX_CONCURRENT 4
#define JMAP_QUERY_MAX_LIMIT 1000      /* an Email/query without limit gets at most this */
#define JMAP_MAX_CHANGES 4096          /* a /changes without maxChanges gets at most this */
#define JMAP_MAX_BODY_VALUE (1u << 20) /* bodyValues cap when maxBodyValueBytes is 0 */
#define JMAP_PREVIEW_LEN 256

#define JMAP_CAP_CORE "urn:ietf:params:jmap:core"
#define JMAP_CAP_MAIL "urn:ietf:params:jmap:mail"
#define JMAP_CAP_SUBMISSION "urn:ietf:params:jmap:submission"
#define JMAP_CAP_VACATION "urn:ietf:params:jmap:vacationresponse"

/* One API request being answered. */
struct jmap_ctx {
	const struct jmap_request *r;
	struct store *store;
	int64_t user_id;           /* the authenticated account (reader of shared mailboxes) */
	int64_t account_id;        /* the current call's account: user_id, or an owner who shares */
	char account[24];          /* "a1" */
	bool shared;               /* account_id is another account (isPersonal false) */
	struct jmap_grant *grants; /* shared: the mailboxes of account_id user_id may look up */
	size_t n_grants;
	json_t *created;   /* creation id -> server id, for "#creationId" */
	json_t *responses; /* [[name, args, callId], ...] */
	json_t *followups; /* implicit responses of the current call (onSuccess…) */
	const char *call_id;
	unsigned caps; /* JMAP_USING_* bits from "using" */
};

enum {
	JMAP_USING_CORE = 1 << 0,
	JMAP_USING_MAIL = 1 << 1,
	JMAP_USING_SUBMISSION = 1 << 2,
	JMAP_USING_VACATION = 1 << 3,
};

/*
 * A method: returns 0 with *res_r the response arguments, or -1 with
 * *res_r a method-level error object (jmap_error).
 */
typedef int jmap_method_fn(struct jmap_ctx *c, json_t *args, json_t **res_r);

/* --- jmap-core.c ------------------------------------------------------- */

/* {"type": type, "description": desc?}; returns -1 for `return jmap_fail(...)`. */
int jmap_fail(json_t **res_r, const char *type, const char *desc);
/* A SetError object {type, description?, properties?: [prop]}. */
json_t *jmap_set_error(const char *type, const char *desc, const char *prop);

/* A mailbox of another account shared with the user, and the user's rights on it. */
struct jmap_grant {
	struct store_shared_mailbox m;
};

/*
 * The accountId argument must be the user's own account: 0, or -1 with
 * *res_r set (accountNotFound; accountNotSupportedByMethod for an account
 * shared with the user).
 */
int jmap_check_account(struct jmap_ctx *c, json_t *args, json_t **res_r);
/*
 * The accountId of a Mail method: the user's own or one that shares
 * mailboxes with the user (c->shared, c->grants loaded). 0 / -1.
 */
int jmap_check_mail_account(struct jmap_ctx *c, json_t *args, json_t **res_r);
/* The user's rights (enum store_right bits) on a mailbox of the current account. */
uint32_t jmap_rights(struct jmap_ctx *c, int64_t mailbox_id);
/*
 * store_jmap_emails for the current account, keeping only messages of
 * mailboxes the user may read (all of them in the user's own account).
 */
int jmap_emails(struct jmap_ctx *c, const int64_t *ids, size_t n, int64_t mailbox_id,
		int64_t thread_id, struct store_jmap_email **v_r, size_t *n_r);
/*
 * The accounts that share mailboxes with the user: owner account ids in
 * *ids_r (malloc'd, ascending), with a name each and whether the user can
 * only read there. *n_r may be 0. 0 / -1.
 */
struct jmap_shared_account {
	int64_t id;
	char name[320];
	bool read_only;
};
int jmap_shared_accounts(struct store *s, int64_t user_id, struct jmap_shared_account **v_r,
			 size_t *n_r);
/* Reject arguments not in the NULL-terminated list: 0 / -1 (invalidArguments). */
int jmap_check_args(json_t *args, const char *const *known, json_t **res_r);

/* Ids: prefix + decimal row id ("m12", "e7", "t7", "i3", "s4"). */
void jmap_id(char *out, size_t size, char prefix, int64_t id);
/* Parse an id with that prefix; resolves "#creationId" through c. 1 ok / 0 bad. */
int jmap_id_parse(struct jmap_ctx *c, const char *s, char prefix, int64_t *id_r);
/* Remember a creation: "#cid" then resolves to id. */
void jmap_created(struct jmap_ctx *c, const char *cid, const char *id);

/* A state as a string, and parsed back (1 ok / 0 malformed). */
json_t *jmap_state_json(uint64_t state);
int jmap_state_parse(const char *s, uint64_t *state_r);
/* The current state of a kind for the account, as a JSON string (NULL on error). */
json_t *jmap_state_get(struct jmap_ctx *c, enum store_jmap_kind kind);
/*
 * The /set methods' ifInState: *old_r = the current state of kind (the
 * caller owns it). Returns 0, or -1 with a stateMismatch error in *res_r
 * (nothing owned) when args names another state.
 */
int jmap_state_check(struct jmap_ctx *c, json_t *args, enum store_jmap_kind kind, json_t **old_r,
		     json_t **res_r);

/*
 * The /changes of a kind: sinceState, maxChanges; fills oldState,
 * newState, hasMoreChanges, created, updated, destroyed (ids with
 * prefix). exists (may be NULL) tells whether a changed object still
 * exists (threads are gone when empty). For Mailbox, updatedProperties
 * is set when every update changed only counts. 0 / -1.
 */
int jmap_changes(struct jmap_ctx *c, json_t *args, enum store_jmap_kind kind, char prefix,
		 bool (*exists)(struct jmap_ctx *c, int64_t id), json_t **res_r);

/*
 * The ids argument of a /get: NULL (json null: all), or an array of
 * strings at most JMAP_MAX_OBJECTS_GET long. 0 / -1 with *res_r set.
 */
int jmap_get_ids(json_t *args, json_t **ids_r, json_t **res_r);
/*
 * The properties argument of a /get: *props_r is NULL for "all", else the
 * array; each must be in known (NULL-terminated) unless allow(name) says
 * yes. 0 / -1 (invalidArguments).
 */
int jmap_get_props(json_t *args, const char *const *known, bool (*allow)(const char *name),
		   json_t **props_r, json_t **res_r);
/* True if props (NULL = all) asks for name. */
bool jmap_want(json_t *props, const char *name);

/*
 * Threading of messages that have no thread yet (the account's), for at
 * most budget_us of work (0: no limit; at most THREAD_SYNC_MAX messages a
 * call either way). 1 all threaded, 0 some are left (call again), -1 error.
 */
int jmap_thread_sync(struct jmap_ctx *c, int64_t budget_us);

/* UTC date "2026-12-05T14:00:00Z" (RFC 3339) into out (>= 21 bytes). */
void jmap_utc_date(char *out, size_t size, time_t t);
/* Parse a UTCDate or Date ("…Z" or "…+01:00"). 1 / 0 malformed. */
int jmap_date_parse(const char *s, time_t *t_r);

/* --- keywords (jmap-email-get.c) --- */
/* The keywords object of a message (system flags mapped, lower-cased). */
json_t *jmap_keywords_json(uint32_t flags, const char *keywords);
/* Case-insensitive ASCII substring search. */
bool jmap_contains_ci(const char *hay, const char *needle);

/* --- jmap-mime.c ------------------------------------------------------- */

/* A message read from its blob through GMime. */
struct jmap_msg {
	GMimeMessage *msg;
	char blob_id[STORE_BLOB_ID_LEN + 1];
	uint64_t size;
};

/* Open and parse blob_id (headers_only: just the header block). 0 / -1. */
int jmap_msg_open(struct store *s, const char *blob_id, bool headers_only, struct jmap_msg *m);
void jmap_msg_close(struct jmap_msg *m);

/* A parsed header property request: header:NAME[:asForm][:all]. */
enum jmap_hform {
	JMAP_HF_RAW,
	JMAP_HF_TEXT,
	JMAP_HF_ADDRESSES,
	JMAP_HF_GROUPED,
	JMAP_HF_MSGIDS,
	JMAP_HF_DATE,
	JMAP_HF_URLS,
};
struct jmap_hprop {
	char name[128];
	enum jmap_hform form;
	bool all;
};
/* Parse "header:…": 1 ok / 0 not a valid header property. */
int jmap_hprop_parse(const char *prop, struct jmap_hprop *h);
/* The value of h over obj's headers (JSON null when absent). */
json_t *jmap_header_value(GMimeObject *obj, const struct jmap_hprop *h);
/* All headers of obj as [{name, value}] (raw values). */
json_t *jmap_headers_all(GMimeObject *obj);
/* A raw header value in one of the forms. */
json_t *jmap_header_convert(const char *raw, enum jmap_hform form);

/* Body parts of a message in JMAP's terms. */
struct jmap_part {
	GMimeObject *obj;
	char part_id[64]; /* "" for multiparts */
	char type[128];   /* lower-case "text/plain" */
	char *name, *charset, *disposition, *cid, *location;
	json_t *language;
	uint64_t size; /* decoded */
	struct jmap_part **sub;
	size_t n_sub;
};
/* The tree of m's body; free with jmap_part_free. */
struct jmap_part *jmap_parts(struct jmap_msg *m);
void jmap_part_free(struct jmap_part **p);
/* Find part_id in the tree. */
struct jmap_part *jmap_part_find(struct jmap_part *root, const char *part_id);
/* textBody / htmlBody / attachments lists (RFC 8621 4.1.4); arrays of pointers. */
struct jmap_part_list {
	struct jmap_part **v;
	size_t n, cap;
};
void jmap_body_lists(struct jmap_part *root, struct jmap_part_list *text,
		     struct jmap_part_list *html, struct jmap_part_list *att);
void jmap_part_list_free(struct jmap_part_list *l);
/* Decoded text of a text part as UTF-8 (malloc'd; "" when it cannot be read). */
char *jmap_part_text(struct jmap_part *p, bool *encoding_problem_r);
/* Text of html with the tags dropped and entities for the usual few decoded. */
char *jmap_html_to_text(const char *html);
/* A preview (<= 256 characters, white space collapsed) of the message; malloc'd. */
char *jmap_preview(struct jmap_part *root);
/* Blob id of a part: "P<hash>_<partId with '.' as '_'>". */
void jmap_part_blob_id(char *out, size_t size, const char *blob_id, const char *part_id);
/* Write the decoded content of p to fd. 0 / -1. */
int jmap_part_write(struct jmap_part *p, int fd);
/* Preview and hasAttachment of a blob, from the cache or computed and cached. 0 / -1. */
int jmap_blob_summary(struct store *s, const char *blob_id, char **preview_r, bool *has_att_r);

/* --- jmap-blob.c -------------------------------------------------------- */
/*
 * The bytes of a JMAP blob id the account may read ("B<hash>": a message
 * or an upload; "P<hash>_<part>": one decoded body part) into out, its
 * type into type (may be NULL). 1 / 0 unknown or not the account's / -1.
 */
int jmap_blob_read(struct store *s, int64_t account_id, const char *blob_id, struct buf *out,
		   char *type, size_t type_size);

/* Store data (a whole message) for the account: mime_parse + store_append. */
int jmap_append(struct jmap_ctx *c, int64_t mailbox_id, const char *data, size_t len,
		json_t *keywords, time_t received, int64_t *id_r, const char **error_r);
/* {id, blobId, threadId, size} of a message just stored. */
json_t *jmap_email_created(struct jmap_ctx *c, int64_t id);

/* --- method families --------------------------------------------------- */
jmap_method_fn jmap_mailbox_get, jmap_mailbox_changes, jmap_mailbox_query,
	jmap_mailbox_query_changes, jmap_mailbox_set;
jmap_method_fn jmap_email_get, jmap_email_changes, jmap_thread_get, jmap_thread_changes;
jmap_method_fn jmap_email_query, jmap_email_query_changes, jmap_search_snippet_get;
jmap_method_fn jmap_email_set, jmap_email_import, jmap_email_copy, jmap_email_parse;
jmap_method_fn jmap_identity_get, jmap_identity_changes, jmap_identity_set;
jmap_method_fn jmap_submission_get, jmap_submission_changes, jmap_submission_query,
	jmap_submission_set;
jmap_method_fn jmap_vacation_get, jmap_vacation_set;

/* --- jmap-vacation.c ---------------------------------------------------- */
/* 1 when the account's active Sieve script is JMAP_VACATION_SCRIPT, 0 not, -1. */
int jmap_vacation_enabled(struct jmap_ctx *c);
/*
 * Make the Sieve scripts follow the VacationResponse v (all properties):
 * enabled, its script is written and activated; disabled, it is
 * deactivated and deleted. NULL when done, else a SetError (forbidden when
 * another script is active and v is enabled; nothing changed then).
 */
json_t *jmap_vacation_apply(struct jmap_ctx *c, json_t *v);

/* Email/set update of one email with a patch object (also onSuccessUpdateEmail). */
json_t *jmap_email_update_one(struct jmap_ctx *c, int64_t id, json_t *patch);
/* Email/set destroy of one email: NULL ok, or a SetError. */
json_t *jmap_email_destroy_one(struct jmap_ctx *c, int64_t id);

/* Mailbox lookups shared by the Email methods (1 found / 0 / -1). */
int jmap_mailbox_by_role(struct jmap_ctx *c, const char *role, int64_t *id_r);

#endif
