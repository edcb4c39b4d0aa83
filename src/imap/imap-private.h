/* SPDX-License-Identifier: MIT */
/*
 * Internals of the IMAP module, shared by the engine files and by every
 * cmd-*.c (one file per command, Dovecot style).
 *
 * Design
 * ------
 * 1. Reading (imap-parser.c). A command is read in two passes. The scan
 *    pass moves bytes from the connection's input buffer into the parser's
 *    own command buffer, one byte of text at a time and literals in bulk,
 *    keeping its state (inside a quoted string, inside a literal and how
 *    many bytes are left, length of the current line) between calls, so a
 *    command trickling in byte by byte is scanned once, not quadratically.
 *    Moving the bytes out of the input buffer is what lets a 50 MB APPEND
 *    literal arrive although net/ stops reading at 1 MiB of unconsumed
 *    input. Caps are checked before bytes are accepted: line length, the
 *    size announced by a literal ({n}, {n+}, {n-}, ~{n}) before its first
 *    byte, and the whole command. A synchronising literal that fits gets
 *    exactly one "+ Ready for literal"; one that does not fit is answered
 *    "tag NO [TOOBIG]" at once and the command ends there (the client sends
 *    no literal without the "+"); an oversized non-synchronising literal is
 *    read and thrown away, then answered BAD. Any refused command is
 *    skipped to its real end (literals included) so the stream stays in
 *    step. The parse pass turns the complete command into a tree of
 *    struct imap_arg (atoms, quoted strings, literals, NIL, lists). An
 *    atom BODY, BODY.PEEK, BINARY, BINARY.PEEK or BINARY.SIZE followed by
 *    "[...]" keeps everything up to the matching ']' (spaces,
 *    parentheses, quoted strings), which is how FETCH section specs such
 *    as BODY[HEADER.FIELDS (A B)]<0.100> reach their handler as one raw
 *    atom; in any other atom '[' is an ordinary character (a mailbox
 *    may be called "a[b"); sequence sets are atoms too, parsed by imap-seqset.c. IMAP
 *    requires CRLF: a bare LF ends the line but the command is BAD; NUL
 *    outside a binary literal ~{n} is BAD.
 * 2. Sessions (imap-session.c): one state enum (NOT_AUTHENTICATED,
 *    AUTHENTICATED, SELECTED, LOGOUT) changed by imap_session_set_state()
 *    only, which logs. Commands are dispatched from imap_commands[] in
 *    imap-commands.c; the allowed states, the UID prefix and whether the
 *    command changes a read-only mailbox are checked in one place before
 *    the handler runs. A handler writes its untagged and tagged responses
 *    (imap_cmd_ok/no/bad) and returns an enum imap_cmd_ret: DONE, MORE
 *    (output is produced in slices: it set cmd->func, called again on
 *    resume), WAIT (the same, but the connection waits with CONN_WAIT for
 *    work done elsewhere, e.g. a password check in the auth pool), WAIT_LINE (it sent "+ ": cmd->line_func gets the client's
 *    next line, for AUTHENTICATE and IDLE), STARTTLS or CLOSE. Too many
 *    BADs close the session; idle timeouts are 60 s before authentication
 *    and 30 minutes after (RFC 9051's minimum).
 * 3. The selected mailbox (imap-view.c): struct imap_view is the client's
 *    picture of it (UIDs in sequence order, flags as last told). After each
 *    command the view is compared with the store and EXISTS, EXPUNGE (or
 *    VANISHED once QRESYNC is enabled) and FETCH FLAGS are sent, before the
 *    tagged reply; EXPUNGE is held back during FETCH, STORE and SEARCH by
 *    sequence number (IMAP_CMD_FLAG_NO_EXPUNGE), as RFC 9051 7.5.1 wants.
 * 4. Names: mailbox names are UTF-8 in the store; rev1 clients send
 *    modified UTF-7 (imap-utf7.c) until they ENABLE UTF8=ACCEPT or
 *    IMAP4rev2.
 *
 * Adding a command: write cmd-NAME.c defining the handler declared below
 * (uncomment its line), then uncomment its row in imap_commands[]. The
 * handler gets its arguments in cmd->args (ending with IMAP_ARG_EOL; the
 * UID prefix is already removed and cmd->uid set).
 */
#ifndef FACTEUR_IMAP_PRIVATE_H
#define FACTEUR_IMAP_PRIVATE_H

#include "auth/auth.h"
#include "lib/buf.h"
#include "net/conn.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct filter;
struct imap_session;
struct imap_cmd;

/* --- limits ---------------------------------------------------------------- */
#define IMAP_LINE_MAX_PREAUTH (8 * 1024)
#define IMAP_LINE_MAX (64 * 1024)
#define IMAP_LITERAL_MAX_PREAUTH (8 * 1024)
#define IMAP_LITERAL_MAX (64 * 1024)       /* any literal but APPEND's */
#define IMAP_COMMAND_MAX (2 * 1024 * 1024) /* any command but APPEND, in memory */
#define IMAP_COMMAND_MAX_PREAUTH (24 * 1024)
/*
 * ID's line and command before login: RFC 2971's maximum (30 pairs, fields
 * of 30 and values of 1,024 octets) is a ~32 KB line, twice that if every
 * octet is quoted-escaped. Only ID gets it, so the pre-login bound of any
 * other command stays IMAP_COMMAND_MAX_PREAUTH.
 */
#define IMAP_ID_MAX_PREAUTH (64 * 1024 + 512)
#define IMAP_TAG_MAX 64
#define IMAP_MAX_ARGS 10000 /* arguments in one command, lists included */
#define IMAP_MAX_DEPTH 32   /* nested parentheses */
#define IMAP_MAX_BAD 10     /* BAD responses before "* BYE" */
#define IMAP_TIMEOUT_PREAUTH 60
#define IMAP_TIMEOUT_AUTH (30 * 60)
/* Stop taking commands while this much output waits to be sent. */
#define IMAP_OUTPUT_HIGH (256 * 1024)
/* A streaming handler should return after producing about this much. */
#define IMAP_STREAM_SLICE (64 * 1024)

/* --- parsed arguments (imap-parser.c) ------------------------------------ */
enum imap_arg_type {
	IMAP_ARG_EOL,     /* end of the arguments or of a list */
	IMAP_ARG_ATOM,    /* incl. flags, sequence sets, BODY[...]<...> */
	IMAP_ARG_NIL,     /* the atom NIL (any case) */
	IMAP_ARG_QUOTED,  /* "...", unescaped */
	IMAP_ARG_LITERAL, /* {n}, {n+}, {n-} or ~{n} */
	IMAP_ARG_LIST,    /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	/*
	 * ATOM, NIL, QUOTED, LITERAL: the value, NUL-terminated; len bytes
	 * (only a binary literal may hold NULs before len).
	 */
	const char *str;
	size_t len;
	bool literal8; /* LITERAL sent as ~{n} */
	/*
	 * LITERAL of an APPEND read into the parser's spool (lib/spool.h):
	 * str points into it (a mapping of its file once big) and spool_off
	 * is where the value starts in it, for the store writer to map the
	 * file itself (store_write_request.body). NULL: str is in memory.
	 */
	const struct spool *spool;
	uint64_t spool_off;
	const struct imap_arg *list; /* LIST: children, ending with EOL */
	size_t list_count;           /* LIST: children before the EOL */
};

bool imap_arg_is_eol(const struct imap_arg *arg);
/* ATOM only (not NIL). */
bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r);
/* A flag or keyword: ATOM, or NIL (a valid keyword atom, as sent). */
bool imap_arg_get_flag(const struct imap_arg *arg, const char **str_r);
/* ATOM, NIL (as "NIL"), QUOTED or LITERAL without NUL. */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r);
/* QUOTED or LITERAL without NUL. */
bool imap_arg_get_string(const struct imap_arg *arg, const char **str_r);
/* QUOTED, LITERAL without NUL, or NIL (*str_r = NULL). */
bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r);
bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r, size_t *count_r);
/* ATOM equal to name, case-insensitively. */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *name);
/* Number of arguments before the EOL. */
size_t imap_args_count(const struct imap_arg *args);

/* --- the reader (imap-parser.c) ------------------------------------------- */
struct imap_parser_limits {
	size_t line_max;             /* one line of text, CRLF included */
	uint64_t literal_max;        /* one literal of any command but APPEND */
	uint64_t append_literal_max; /* one APPEND literal (max_message_size) */
	uint64_t command_max;        /* the whole command, literals included */
	/*
	 * The same for any command but APPEND (0: command_max). Their
	 * literals are held in memory: without it a SEARCH of many 64 KiB
	 * literals could hold max_message_size per session.
	 */
	uint64_t plain_command_max;
	size_t id_max; /* ID's line and command when larger (0: no exception) */
	/*
	 * Read APPEND literals into a spool (memory, then a file in
	 * spool_dir, borrowed; NULL = /tmp) instead of the command buffer,
	 * so an unfinished big message costs no memory. Off before login,
	 * where the literal caps are small.
	 */
	bool spool_append;
	const char *spool_dir;
};

enum imap_scan_result {
	IMAP_SCAN_MORE,    /* all of the input is taken: feed more */
	IMAP_SCAN_COMMAND, /* a complete command: imap_parser_parse() it */
	IMAP_SCAN_REJECT,  /* a command was refused: answer imap_parser_error() */
	IMAP_SCAN_FATAL,   /* the stream cannot be followed: say BYE and close */
};

struct imap_parser;

struct imap_parser *imap_parser_create(const struct imap_parser_limits *limits);
void imap_parser_destroy(struct imap_parser **p);
/* New caps apply from the next command on (raised after login). */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits);
/*
 * Take bytes of one command from in (consuming them) until it is complete
 * or refused; what follows the command stays in in. May append "+ Ready
 * for literal\r\n" to out. A COMMAND's data and parsed arguments stay
 * valid until the next call of imap_parser_scan().
 */
enum imap_scan_result imap_parser_scan(struct imap_parser *p, struct buf *in, struct buf *out);
/*
 * After REJECT or FATAL: the tag to answer with ("*" when none could be
 * read) and the rest of the reply, e.g. "BAD Line too long" or
 * "NO [TOOBIG] Literal too big".
 */
const char *imap_parser_error(const struct imap_parser *p, const char **tag_r);
/*
 * Parse the COMMAND just scanned. Returns 0 with the tag, the command
 * name (upper-cased) and the arguments, or -1 with the tag ("*" if it was
 * invalid) and a message for a BAD reply. Owned by the parser.
 */
int imap_parser_parse(struct imap_parser *p, const char **tag_r, const char **name_r,
		      const struct imap_arg **args_r, const char **error_r);
/*
 * Read one bare line (a SASL response, IDLE's DONE). Returns 1 with the
 * line, CRLF removed and NUL-terminated, valid until the next call; 0 when
 * more input is needed; -1 when a line was refused (too long, bare LF,
 * NUL), after its end was skipped.
 */
int imap_parser_read_line(struct imap_parser *p, struct buf *in, const char **line_r,
			  size_t *len_r);
/*
 * The same two over bytes the caller consumes itself (*taken_r of them):
 * the session takes every pipelined command of one read this way and
 * drops the bytes once, instead of moving what follows after each
 * command (quadratic in a long pipeline).
 */
enum imap_scan_result imap_parser_scan_data(struct imap_parser *p, const char *data, size_t len,
					    size_t *taken_r, struct buf *out);
int imap_parser_read_line_data(struct imap_parser *p, const char *data, size_t len, size_t *taken_r,
			       const char **line_r, size_t *len_r);

/* --- sequence sets (imap-seqset.c) ------------------------------------------ */
#define IMAP_SEQSET_MAX_RANGES 10000

struct imap_seq_range {
	uint32_t lo, hi; /* lo <= hi */
};

struct imap_seqset {
	struct imap_seq_range *ranges; /* sorted, merged, non-overlapping */
	size_t count;
	bool saved; /* "$": the saved search result (SEARCHRES); no ranges */
};

/*
 * Parse "1,3:5,7:*" with '*' standing for star (the number of messages,
 * or the highest UID for a UID set). A range "a:b" with a > b is b:a.
 * Numbers are 1..4294967295. When star is 0 (empty mailbox) '*' becomes
 * 0, which matches nothing that exists. Returns 0, or -1 with *error_r.
 * Free with imap_seqset_free.
 */
int imap_seqset_parse(const char *text, uint32_t star, struct imap_seqset *set_r,
		      const char **error_r);
void imap_seqset_free(struct imap_seqset *set);
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
/*
 * Binary search of uid in uids[0..n), sorted ascending (a view's UIDs, the
 * saved SEARCHRES UIDs). True when present, with its index in *index_r
 * (may be NULL).
 */
bool imap_uid_find(const uint32_t *uids, size_t n, uint32_t uid, size_t *index_r);
/* Total numbers in the set (saturating). */
uint64_t imap_seqset_size(const struct imap_seqset *set);
/* Iterate: *pos starts at 0; returns false at the end. */
bool imap_seqset_next(const struct imap_seqset *set, uint64_t *pos, uint32_t *n_r);
/* Append "1:3,5" for ascending values (duplicates allowed). */
void imap_seqset_write(struct buf *out, const uint32_t *values, size_t n);

/* --- modified UTF-7 and mailbox names (imap-utf7.c) ------------------------ */
/* UTF-8 -> mUTF-7. Returns 0, or -1 for invalid UTF-8. */
int imap_utf8_to_utf7(const char *in, struct buf *out);
/*
 * mUTF-7 -> UTF-8, strict: bad base64, non-zero padding bits, a direct
 * character encoded, adjacent encoded runs, unpaired surrogates, U+0000,
 * and bytes outside 0x20..0x7e are refused. Returns 0 or -1.
 */
int imap_utf7_to_utf8(const char *in, struct buf *out);
/* Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF). */
bool imap_utf8_valid(const char *s, size_t len);

/* --- responses (imap-session.c) --------------------------------------------- */
/*
 * Strings for the client: an atom when possible (astring only), a quoted
 * string when it needs no escaping beyond \" and \\ (8-bit allowed only when
 * utf8 is true and the bytes are valid UTF-8), otherwise a literal.
 */
void imap_write_astring(struct buf *out, const char *str, size_t len, bool utf8);
void imap_write_string(struct buf *out, const char *str, size_t len, bool utf8);
/* NULL is NIL. */
void imap_write_nstring(struct buf *out, const char *str, size_t len, bool utf8);
/*
 * Append text that is already IMAP syntax (a stored ENVELOPE or
 * BODYSTRUCTURE). With utf8 false (an IMAP4rev1 session), every quoted
 * string holding 8-bit octets becomes a literal, since quoted strings are
 * 7-bit there (RFC 3501 section 9); literals in text are copied whole.
 */
void imap_write_syntax(struct buf *out, const char *text, bool utf8);
/* "(\Seen \Deleted)" from enum store_flag bits (and IMAP_VIEW_RECENT). */
void imap_write_flags(struct buf *out, uint32_t flags);

/* --- the selected mailbox (imap-view.c) --------------------------------------- */
/* Set in imap_view.flags for a message expunged but not yet reported. */
#define IMAP_VIEW_EXPUNGED (1u << 31)
/*
 * Set in imap_view.flags for a message \Recent in this session (IMAP4rev1,
 * RFC 3501 2.3.2: the first session shown a message claims it in the
 * store; IMAP4rev2 sessions claim nothing). imap_write_flags writes it.
 */
#define IMAP_VIEW_RECENT (1u << 30)
/* The view's own bits, never stored. */
#define IMAP_VIEW_SESSION_BITS (IMAP_VIEW_EXPUNGED | IMAP_VIEW_RECENT)

struct imap_view {
	int64_t mailbox_id;
	char name[512]; /* UTF-8, as stored */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	bool read_only; /* EXAMINE */
	/*
	 * The messages the client knows, in sequence order: seq = index + 1.
	 * Between commands the three arrays may be a snapshot shared with
	 * other sessions (imap_view_compact): read them freely, but call
	 * imap_view_make_private before writing to them (imap-view.c does).
	 */
	size_t count;
	size_t cap; /* 0 while shared */
	uint32_t *uids;
	uint32_t *flags; /* store_flag bits as last told, | IMAP_VIEW_EXPUNGED */
	uint64_t *modseqs;
	struct view_snapshot *shared; /* non-NULL: the arrays are this snapshot's */
	size_t n_pending_expunges;    /* entries with IMAP_VIEW_EXPUNGED */
	size_t n_keywords;            /* the mailbox's keywords last announced in FLAGS */
};

/*
 * (Re)load the view of mailbox from store_message_list. Returns 0, or -1
 * (store error) leaving *view_r empty.
 */
int imap_view_load(struct store *store, const struct store_mailbox *mailbox, bool read_only,
		   struct imap_view **view_r);
void imap_view_free(struct imap_view **view);
/*
 * Between commands (and in IDLE): when the view holds no session-only bits,
 * give its arrays to the shared snapshot of an equal view of the same
 * mailbox, or make them one. NULL, or a view already shared: nothing.
 */
void imap_view_compact(struct imap_view *view);
/* Before writing to the view's arrays: a private copy again if shared. */
void imap_view_make_private(struct imap_view *view);
/* Sequence number of uid, or 0 when the view does not hold it. */
uint32_t imap_view_seq(const struct imap_view *view, uint32_t uid);
/*
 * Compare the session's view with the store and queue the untagged
 * updates: EXPUNGE (or VANISHED with QRESYNC) when allow_expunge, FETCH
 * FLAGS for changed flags, EXISTS for new messages. Returns 0 or -1 on a
 * store error (nothing is sent then).
 */
int imap_view_sync(struct imap_session *s, struct buf *out, bool allow_expunge);
/*
 * IMAP4rev1 \Recent: claim in the store (or, for EXAMINE, only look at)
 * the messages of the view from index from on that no session was shown
 * yet, and mark them IMAP_VIEW_RECENT. Does nothing for rev2 sessions.
 * Returns 0 or -1 (store error; nothing marked).
 */
int imap_view_claim_recent(struct imap_session *s, size_t from);
/* Messages marked IMAP_VIEW_RECENT (for "* n RECENT"). */
size_t imap_view_recent_count(const struct imap_view *v);
/*
 * Queue "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" with the
 * mailbox's keywords (SELECT; a keyword new to the mailbox) and remember
 * how many were announced.
 */
void imap_view_write_flag_lists(struct imap_session *s, struct buf *out);
/*
 * When the mailbox has keywords the client has not been told of (set by
 * this or another session), queue the FLAGS and PERMANENTFLAGS updates
 * (RFC 9051 7.3.5): call before any FETCH that may show them. 0 / -1.
 */
int imap_view_keywords_sync(struct imap_session *s, struct buf *out);
/* --- view UID ranges (imap-view.c; for listing only named messages) --- */
/*
 * Turn uids (ascending, as imap_search_resolve_set gives them) into UID
 * ranges for store_message_list_uids, UIDs that are neighbours in the view
 * sharing one range (1:* of any mailbox is one range). ranges must hold n
 * entries; returns how many were used. A range may span UIDs the view
 * does not hold (expunged ones, which the store no longer lists either):
 * callers match the listing against their UIDs.
 */
size_t imap_view_uid_ranges(const struct imap_view *v, const uint32_t *uids, size_t n,
			    struct store_uid_range *ranges);
/* --- end view UID ranges ---------------------------------------------- */

/* --- sessions (imap-session.c) ---------------------------------------------- */
enum imap_state {
	IMAP_STATE_NOT_AUTHENTICATED,
	IMAP_STATE_AUTHENTICATED,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

/* Password check, replaceable by tests and the fuzzer; default auth_check_start(). */
typedef enum auth_result imap_login_func_t(void *ctx, struct store *store, const char *ip,
					   const char *user, const char *password,
					   struct store_account *account_r);

struct imap_settings {
	const struct config *config;
	struct store *store;
	const char *session_id; /* copied */
	const char *peer_ip;    /* copied */
	bool peer_loopback;
	bool tls;
	bool tls_available; /* STARTTLS may be offered */
	/* The connection's TLS channel bindings, for SCRAM-SHA-256-PLUS (may be NULL). */
	const struct conn_tls_binding *binding;
	imap_login_func_t *login; /* NULL: auth_check_start() */
	void *login_ctx;
	/* Where passwords are hashed (NULL: in the loop), and who to wake after. */
	struct auth_pool *auth_pool;
	void (*wake)(void *arg);
	void *wake_arg;
	/*
	 * Group commit (imap-write.c): APPEND, STORE, COPY, MOVE, EXPUNGE and
	 * CLOSE hand their change to this writer and wait; write_done(arg)
	 * runs in the writer thread when a batch is done (server_ctx_wake).
	 * NULL: the store is written directly.
	 */
	struct store_writer *writer;
	void (*write_done)(void *arg);
	void *write_done_arg;
	/* rspamd learning from moves into and out of Junk (NULL: none). */
	struct filter *filter;
};

enum imap_cmd_ret {
	IMAP_CMD_DONE,      /* tagged reply queued */
	IMAP_CMD_MORE,      /* more output: cmd->func runs again on resume */
	IMAP_CMD_WAIT_LINE, /* "+ " queued: cmd->line_func gets the next line */
	IMAP_CMD_STARTTLS,  /* tagged OK queued: upgrade the connection */
	IMAP_CMD_CLOSE,     /* BYE and tagged reply queued: close */
	IMAP_CMD_COMPRESS,  /* tagged OK queued: DEFLATE from now on (RFC 4978) */
	IMAP_CMD_WAIT, /* work goes on elsewhere (auth pool, store writer): cmd->func runs again on resume */
	IMAP_CMD_YIELD, /* work left: cmd->func runs again after the others' turn */
};

typedef enum imap_cmd_ret imap_cmd_func_t(struct imap_cmd *cmd, struct buf *out);
typedef enum imap_cmd_ret imap_cmd_line_func_t(struct imap_cmd *cmd, const char *line, size_t len,
					       struct buf *out);

/* Flags of a command table entry. */
#define IMAP_CMD_STATE_NOTAUTH (1u << IMAP_STATE_NOT_AUTHENTICATED)
#define IMAP_CMD_STATE_AUTH (1u << IMAP_STATE_AUTHENTICATED)
#define IMAP_CMD_STATE_SELECTED (1u << IMAP_STATE_SELECTED)
#define IMAP_CMD_STATE_ANY (IMAP_CMD_STATE_NOTAUTH | IMAP_CMD_STATE_AUTH | IMAP_CMD_STATE_SELECTED)
#define IMAP_CMD_STATE_AUTHED (IMAP_CMD_STATE_AUTH | IMAP_CMD_STATE_SELECTED)
#define IMAP_CMD_FLAG_UID (1u << 8)         /* may follow "UID " */
#define IMAP_CMD_FLAG_MODIFIES (1u << 9)    /* refused on a read-only mailbox */
#define IMAP_CMD_FLAG_NO_EXPUNGE (1u << 10) /* no EXPUNGE unless UID form */

struct imap_command {
	const char *name;
	imap_cmd_func_t *func;
	unsigned flags;
};

/* The command being executed: one at a time per session. */
struct imap_cmd {
	struct imap_session *session;
	const struct imap_command *def;
	const char *tag;
	const char *name;            /* "FETCH" also for "UID FETCH" */
	const struct imap_arg *args; /* after the UID prefix; ends with EOL */
	bool uid;
	/* Continuations, set by the handler before MORE / WAIT / WAIT_LINE. */
	imap_cmd_func_t *func;
	imap_cmd_line_func_t *line_func;
	/* The handler's own state, released by free_context (if set). */
	void *context;
	void (*free_context)(void *context);
	/* imap_cmd_write (imap-write.c): the write and its continuation. */
	struct store_write *write;
	imap_cmd_func_t *write_then;
	bool write_direct; /* no writer: the outcome below */
	int direct_result;
	const char *direct_error;
	struct store_write_outcome direct;
	/* imap_cmd_write_group: n_group writes (or direct outcomes). */
	struct store_write **group;
	struct store_write_outcome *group_direct;
	size_t n_group;
};

struct imap_session {
	const struct config *config;
	struct store *store;
	char *session_id;
	char *peer_ip;
	bool peer_loopback;
	bool tls;
	bool tls_available;
	const struct conn_tls_binding *binding;
	imap_login_func_t *login;
	void *login_ctx;
	struct auth_pool *auth_pool;
	void (*wake)(void *arg);
	void *wake_arg;
	struct store_writer *writer;
	void (*write_done)(void *arg);
	void *write_done_arg;
	struct filter *filter;

	enum imap_state state;
	struct imap_parser *parser;
	char *spool_dir; /* data_dir/blobs/tmp, NULL without a data_dir */
	unsigned bad_count;
	bool closing;

	/* The command in progress (MORE / WAIT_LINE), when cmd_active. */
	bool cmd_active;
	struct imap_cmd cmd;

	/* After login: the account (password hash cleared). */
	struct store_account account;

	/* ENABLEd extensions. */
	bool utf8_accept; /* UTF8=ACCEPT or IMAP4rev2: names are UTF-8 */
	bool rev2;
	bool condstore;
	bool condstore_announce; /* enabled while selected: send HIGHESTMODSEQ */
	bool qresync;
	bool compressed; /* COMPRESS=DEFLATE is active */

	/* SELECTED: the client's picture of the mailbox. */
	struct imap_view *view;
	/* ACL (imap-acl.c): the selected mailbox is another account's; rights. */
	bool view_shared;
	uint32_t view_rights;

	/* CONTEXT=SEARCH: live updating contexts (imap-context.c). */
	struct imap_context *contexts;
	/* NOTIFY SET (imap-notify.c): what the client watches; NULL: none. */
	struct imap_notify *notify;

	/* SEARCHRES: the saved result ("$"), UIDs ascending. */
	uint32_t *saved_uids;
	size_t n_saved_uids;
};

struct imap_session *imap_session_create(const struct imap_settings *settings, struct buf *out);
void imap_session_destroy(struct imap_session **s);
/* conn_proto.input semantics (see net/conn.h). */
enum conn_result imap_session_input(struct imap_session *s, struct buf *in, struct buf *out);
enum conn_result imap_session_resume(struct imap_session *s, struct buf *out);
void imap_session_tls_started(struct imap_session *s, struct buf *out);
void imap_session_timeout(struct imap_session *s, struct buf *out);
int imap_session_idle_timeout(const struct imap_session *s);

/*
 * After input or a resume returned r: when the session now waits for the
 * client, shrink what it holds (imap_view_compact).
 */
void imap_session_rest(struct imap_session *s, enum conn_result r);
/* The only place the state changes (logs; leaving SELECTED frees the view). */
void imap_session_set_state(struct imap_session *s, enum imap_state to);
const char *imap_state_name(enum imap_state state);
/* May a password be sent on this connection (TLS / plaintext_auth)? */
bool imap_session_auth_allowed(const struct imap_session *s);
/*
 * A CONDSTORE-enabling command (RFC 7162 3.1) ran. The first one while a
 * mailbox is selected makes the tagged reply's sync send
 * "* OK [HIGHESTMODSEQ n]" before it.
 */
void imap_session_condstore_enable(struct imap_session *s);
/* Authenticated: raise the reader's caps, enter AUTHENTICATED. */
void imap_session_logged_in(struct imap_session *s, const struct store_account *account);

/*
 * Tagged replies. ok first queues the pending mailbox updates (EXPUNGE
 * only where the command allows it). bad counts toward IMAP_MAX_BAD.
 * Each returns IMAP_CMD_DONE.
 */
enum imap_cmd_ret imap_cmd_ok(struct imap_cmd *cmd, struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum imap_cmd_ret imap_cmd_no(struct imap_cmd *cmd, struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum imap_cmd_ret imap_cmd_bad(struct imap_cmd *cmd, struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Queue the pending mailbox updates now (NOOP, IDLE). */
void imap_cmd_sync(struct imap_cmd *cmd, struct buf *out);

/* --- changing the store (imap-write.c) ---------------------------------- */
/*
 * Make the change req describes durable, then run then(cmd, out), which
 * reads the outcome with imap_cmd_write_result and queues the tagged
 * reply. With a store writer the request is copied and handed over, and
 * IMAP_CMD_WAIT is returned (return it from the handler); without one the
 * direct store call runs at once and then's result is returned. req's
 * done/done_arg are set here.
 */
enum imap_cmd_ret imap_cmd_write(struct imap_cmd *cmd, struct buf *out,
				 const struct store_write_request *req, imap_cmd_func_t *then);
/*
 * In then: 1 committed (*outcome_r valid until the command ends), or -1
 * with *error_r ("quota…" when a quota refused it).
 */
int imap_cmd_write_result(struct imap_cmd *cmd, const struct store_write_outcome **outcome_r,
			  const char **error_r);
/*
 * n APPEND requests into one mailbox, all or nothing (MULTIAPPEND): one
 * group of the store writer (store_write_submit_group), or one direct
 * transaction (store_append_many). then reads each outcome with
 * imap_cmd_write_result_at. n == 1 is imap_cmd_write.
 */
enum imap_cmd_ret imap_cmd_write_group(struct imap_cmd *cmd, struct buf *out,
				       const struct store_write_request *reqs, size_t n,
				       imap_cmd_func_t *then);
/* The outcome of the i-th request, as imap_cmd_write_result (the same for all on failure). */
int imap_cmd_write_result_at(struct imap_cmd *cmd, size_t i,
			     const struct store_write_outcome **outcome_r, const char **error_r);
/* Drop the write and its outcome (the end of every command). */
void imap_cmd_write_release(struct imap_cmd *cmd);

/*
 * A mailbox name argument to its stored UTF-8 form: mUTF-7 decoded unless
 * utf8_accept, "INBOX" in any case (also as first component) made
 * "INBOX", and validated (not empty, at most 500 bytes, valid UTF-8, no
 * control characters, no '*' or '%', no empty, "." or ".." component).
 * Returns 0 with a malloc'd *name_r, or -1 with *error_r.
 */
int imap_mailbox_name_from_client(const struct imap_session *s, const char *wire, char **name_r,
				  const char **error_r);
/* Write a stored name as an astring the client can read (mUTF-7 for rev1). */
void imap_write_mailbox_name(const struct imap_session *s, struct buf *out, const char *name);

/* --- mailbox management (cmd-mailbox.c, cmd-list.c, cmd-status.c) --------- */
imap_cmd_func_t cmd_create, cmd_delete, cmd_rename, cmd_subscribe, cmd_unsubscribe, cmd_list,
	cmd_lsub, cmd_namespace, cmd_status;

/* STATUS data items (RFC 9051 6.3.11, 7162, 8438, 7889, 8474), asked order. */
enum imap_status_item {
	IMAP_STATUS_MESSAGES,
	IMAP_STATUS_UIDNEXT,
	IMAP_STATUS_UIDVALIDITY,
	IMAP_STATUS_UNSEEN,
	IMAP_STATUS_DELETED,
	IMAP_STATUS_SIZE,
	IMAP_STATUS_RECENT,
	IMAP_STATUS_HIGHESTMODSEQ,
	IMAP_STATUS_APPENDLIMIT,
	IMAP_STATUS_MAILBOXID,
	IMAP_STATUS_DELETED_STORAGE, /* RFC 9208, in KiB (cmd-quota.c) */
	IMAP_STATUS_ITEM_COUNT,
};

struct imap_status_items {
	uint8_t item[IMAP_STATUS_ITEM_COUNT]; /* enum imap_status_item, no repeats */
	size_t n;
};

/* Parse a "(MESSAGES UNSEEN ...)" list. 0, or -1 with *error_r (for BAD). */
int imap_status_items_parse(const struct imap_arg *arg, struct imap_status_items *items_r,
			    const char **error_r);
/*
 * Queue "* STATUS name (...)" for the mailbox. Asking HIGHESTMODSEQ enables
 * CONDSTORE (RFC 7162 3.1). Returns 1 written, 0 no such mailbox, -1 store
 * error (nothing written either way).
 */
int imap_status_write(struct imap_session *s, struct buf *out, const char *name, int64_t mailbox_id,
		      const struct imap_status_items *items);
/*
 * Does a LIST pattern ('*' anything, '%' anything but '/') match name?
 * Linear in strlen(name) times strlen(pattern)/64 whatever the wildcards;
 * the INBOX part of a name matches case-insensitively.
 */
bool imap_list_match(const char *pattern, const char *name);

/* --- FETCH (cmd-fetch.c; sections in imap-fetch-section.h) ----------------- */
imap_cmd_func_t cmd_fetch;

/* --- the command table (imap-commands.c) ------------------------------------ */
const struct imap_command *imap_command_find(const char *name);
/* The capability list for this session's state, without "* CAPABILITY ". */
void imap_capability_write(const struct imap_session *s, struct buf *out);

/* Handlers (cmd-*.c). */
imap_cmd_func_t cmd_capability, cmd_noop, cmd_logout, cmd_starttls, cmd_login, cmd_authenticate,
	cmd_enable, cmd_id, cmd_compress;
/*
 * Wave 2 (declared here so rows can be uncommented in imap_commands[]):
 * imap_cmd_func_t cmd_select, cmd_examine, cmd_create, cmd_delete,
 *	cmd_rename, cmd_subscribe, cmd_unsubscribe, cmd_list, cmd_lsub,
 *	cmd_namespace, cmd_status, cmd_append, cmd_idle, cmd_check,
 *	cmd_close, cmd_unselect, cmd_expunge, cmd_search, cmd_fetch,
 *	cmd_store, cmd_copy, cmd_move;
 */

/* --- the selected-mailbox lifecycle (cmd-select.c, cmd-close.c,
 * cmd-expunge.c, cmd-append.c, cmd-idle.c, cmd-check.c) ----------------------- */
imap_cmd_func_t cmd_select, cmd_examine, cmd_close, cmd_unselect, cmd_expunge, cmd_append, cmd_idle,
	cmd_check;
/*
 * Expunge the \Deleted messages of the selected mailbox (only those whose
 * UID is in uid_set, "$" included, when it is non-NULL) through
 * imap_cmd_write; then runs when that is done and reads the outcome with
 * imap_expunge_result. The EXPUNGE responses come later from
 * imap_view_sync. Returns what imap_cmd_write returns.
 */
enum imap_cmd_ret imap_expunge_deleted(struct imap_cmd *cmd, struct buf *out, const char *uid_set,
				       imap_cmd_func_t *then);
/* imap_cmd_write_result, also when the messages could not be listed. */
int imap_expunge_result(struct imap_cmd *cmd, const struct store_write_outcome **outcome_r,
			const char **error_r);
/*
 * The engine's poll hook (conn_proto.poll, imap-service.c): while the
 * session is in IDLE and its eventfd was woken by the store's notification
 * hub, queue the mailbox updates. Does nothing outside IDLE.
 */
enum conn_result imap_idle_poll(struct imap_session *s, struct buf *out);

/*
 * CATENATE (imap-catenate.c): write the message that the n arguments of
 * "CATENATE (...)" describe (TEXT literal / URL url pairs) into sp.
 * Returns 0; -1 with *reply_r (malloc'd, for NO: "[BADURL url] ...",
 * "[TOOBIG] ...", "[LIMIT] ..."); -2 when the list is malformed (BAD).
 */
struct spool;
int imap_catenate(struct imap_session *s, const struct imap_arg *parts, size_t n, struct spool *sp,
		  char **reply_r);

/* --- SEARCH, STORE, COPY/MOVE, SORT/THREAD (imap-search.c, cmd-search.c,
 * cmd-store.c, cmd-copy.c, cmd-sort.c) -------------------------------------- */
imap_cmd_func_t cmd_search, cmd_store, cmd_copy, cmd_move, cmd_sort, cmd_thread;

#define IMAP_SEARCH_MAX_KEYS 1000 /* search keys in one program */
#define IMAP_SEARCH_MAX_DEPTH 32  /* NOT / OR / ( ) nesting */
/*
 * Work a long command (SEARCH, SORT, THREAD) does in one loop turn before
 * it yields to the other sessions of its worker (IMAP_CMD_YIELD): a
 * session's share of its worker's time, whatever it asks.
 */
#define IMAP_SLICE_US 5000
/* Monotonic clock in microseconds. */
uint64_t imap_now_us(void);

struct imap_search_key; /* a node of the parsed program (imap-search.c) */

/*
 * SEARCH's and SORT's RETURN options (RFC 4731, RFC 5182, RFC 5267: PARTIAL,
 * UPDATE, CONTEXT) and CHARSET.
 */
struct imap_search_options {
	bool esearch; /* RETURN (...) given */
	bool ret_min, ret_max, ret_all, ret_count, ret_save;
	bool ret_partial; /* PARTIAL lo:hi (1-based positions in the result, lo <= hi) */
	uint32_t partial_lo, partial_hi;
	bool ret_update;  /* UPDATE: keep the result up to date (ADDTO/REMOVEFROM) */
	bool bad_charset; /* parse failed: answer NO [BADCHARSET (UTF-8 US-ASCII)] */
};

struct imap_search_program {
	struct imap_search_key *root;
	size_t n_keys;
	bool uses_modseq;  /* a MODSEQ key: report (MODSEQ n), enables CONDSTORE */
	bool needs_parsed; /* evaluation reads store_blob_parsed */
	bool needs_blob;   /* evaluation reads message bytes */
	bool needs_rows;   /* set by the caller: it reads matches[].msg (SORT, THREAD) */
};

/* What '*' means while parsing: the view's message count and highest UID. */
struct imap_search_limits {
	uint32_t n_messages;
	uint32_t max_uid;
};

/*
 * Parse a search program (search-key *(SP search-key), implicitly ANDed)
 * from args up to their EOL. Returns 0 with *prog_r (free with
 * imap_search_program_free), or -1 with *error_r for a BAD reply.
 */
int imap_search_parse(const struct imap_arg *args, const struct imap_search_limits *lim,
		      struct imap_search_program **prog_r, const char **error_r);
/*
 * Parse SEARCH's arguments: [RETURN (opts)] [CHARSET cs] program. On -1,
 * opts->bad_charset says NO [BADCHARSET] rather than BAD.
 */
int imap_search_parse_command(const struct imap_arg *args, const struct imap_search_limits *lim,
			      struct imap_search_options *opts, struct imap_search_program **prog_r,
			      const char **error_r);
/*
 * The list of a RETURN (...) into *o (esearch set; no data option means
 * ALL, RFC 4731 3.1). sort: SORT's options (SAVE refused). 0, or -1 with
 * *error_r (BAD): an unknown option, a bad PARTIAL range, PARTIAL twice or
 * with ALL (RFC 5267 4.4).
 */
int imap_search_parse_return(const struct imap_arg *list, bool sort, struct imap_search_options *o,
			     const char **error_r);
/*
 * The "* ESEARCH (TAG ...) [UID] ..." answer to a SEARCH or SORT with
 * RETURN options: vals (UIDs or sequence numbers) and their MODSEQs in
 * result order (ascending for SEARCH, the sort order for SORT), n of
 * them. MODSEQ n is added when with_modseq and something is returned.
 */
void imap_esearch_write(struct imap_cmd *cmd, struct buf *out, const struct imap_search_options *o,
			bool with_modseq, const uint32_t *vals, const uint64_t *modseqs, size_t n);
/*
 * vals as a sequence set in their order: runs of consecutive ascending
 * numbers as a:b, anything else separated by commas (RFC 5267 3.2).
 */
void imap_ordered_set_write(struct buf *out, const uint32_t *vals, size_t n);
void imap_search_program_free(struct imap_search_program **prog);
/* True for "UTF-8" and "US-ASCII" (any case). */
bool imap_search_charset_ok(const char *charset);

/* The messages a search matched, in sequence order. */
struct imap_search_match {
	uint32_t seq, uid;
	uint64_t modseq;
	/* valid while the result lives; NULL unless the program needs_rows */
	const struct store_message_ex *msg;
};

struct imap_search_result {
	struct imap_search_match *matches;
	size_t n;
	struct store_message_ex *msgs; /* the store listing the matches point into */
	size_t n_msgs;
	/* Progress of a search run in slices (imap_search_step). */
	struct imap_search_key **ikeys; /* keys the index answers */
	size_t n_ikeys, next_ikey;
	uint32_t *pending; /* UIDs not indexed yet (ascending) */
	size_t n_pending;
	size_t pos_view, pos_list;
	bool view_only; /* the view and the index answer: no store listing */
};

/*
 * Evaluate prog over the selected mailbox (s->view joined with the
 * store's current flags), in slices: begin lists the mailbox (0, or -1
 * with *error_r); step goes on until deadline_us (imap_now_us; 0: no
 * deadline) and returns 1 when the result is complete, 0 when it stopped
 * for time (call it again, on a later loop turn), -1 with *error_r. The
 * session's view must not change in between (no sync during a command).
 * BODY and TEXT read the full-text index; nothing is refused for size.
 */
int imap_search_begin(struct imap_session *s, struct imap_search_program *prog,
		      struct imap_search_result *r, const char **error_r);
int imap_search_step(struct imap_session *s, struct imap_search_program *prog,
		     struct imap_search_result *r, uint64_t deadline_us, const char **error_r);
void imap_search_result_free(struct imap_search_result *r);
/*
 * Does message m (sequence number seq in the view) match prog? Reads the
 * message's data, not the full-text index (for context updates, whose
 * program's index answers are of the original search).
 */
bool imap_search_match_one(struct imap_session *s, const struct imap_search_program *prog,
			   const struct store_message_ex *m, uint32_t seq);

/* --- search contexts (imap-context.c; RFC 5267 4.3 UPDATE) ------------------ */
#define IMAP_CONTEXT_MAX 8 /* updating contexts per session; more get NOUPDATE */
struct imap_context;
imap_cmd_func_t cmd_cancelupdate;
/* Is tag the tag of a live updating context (a second UPDATE with it is BAD)? */
bool imap_context_tag_used(const struct imap_session *s, const char *tag);
/*
 * After a SEARCH with RETURN (UPDATE) answered: keep its program (taken:
 * *prog becomes NULL) and its result (UIDs ascending) so that changes to
 * the result are sent as ADDTO/REMOVEFROM. Past IMAP_CONTEXT_MAX, queues
 * "* NO [NOUPDATE tag]" and keeps nothing.
 */
void imap_context_add_search(struct imap_cmd *cmd, struct buf *out,
			     struct imap_search_program **prog, const uint32_t *uids, size_t n);
/*
 * After a SORT with RETURN (UPDATE) answered (CONTEXT=SORT): keep its
 * program and its sorted result (both taken, NULLed), so that changes are
 * sent as ADDTO/REMOVEFROM with positions in the sort order. Past
 * IMAP_CONTEXT_MAX, queues "* NO [NOUPDATE tag]" and frees them.
 */
struct imap_sort_order;
void imap_context_add_sort(struct imap_cmd *cmd, struct buf *out, struct imap_search_program **prog,
			   struct imap_sort_order **order);
/*
 * A SORT result kept for a context (cmd-sort.c): its items in sort order
 * (the criteria, then UID). find: the 0-based position of uid (linear).
 * insert: load message m (sequence number seq) and put it where it sorts;
 * its 0-based position. A message's sort keys never change, so a flag
 * change only adds or removes it.
 */
void imap_sort_order_free(struct imap_sort_order **o);
size_t imap_sort_order_count(const struct imap_sort_order *o);
uint32_t imap_sort_order_uid(const struct imap_sort_order *o, size_t pos);
bool imap_sort_order_find(const struct imap_sort_order *o, uint32_t uid, size_t *pos_r);
void imap_sort_order_remove(struct imap_sort_order *o, size_t pos);
size_t imap_sort_order_insert(struct imap_sort_order *o, struct store *store,
			      const struct store_message_ex *m, uint32_t seq);
/*
 * The view's sync hooks (imap-view.c). expunged: before the EXPUNGEs of
 * the messages marked IMAP_VIEW_EXPUNGED, REMOVEFROM for those in a
 * result. changed: after FETCH FLAGS and EXISTS, evaluate the messages
 * whose flags changed and the new ones (msgs, n of them, each in the
 * view) and send REMOVEFROM/ADDTO where the result changes.
 */
void imap_context_expunged(struct imap_session *s, struct buf *out);
void imap_context_changed(struct imap_session *s, struct buf *out,
			  const struct store_message_ex *const *msgs, size_t n);
/* Drop every context (the mailbox is left, the session ends). */
void imap_context_free_all(struct imap_session *s);

/*
 * A sequence set argument ("1:4,7", "$", UID or sequence numbers per uid)
 * to the UIDs of the view it names, ascending, without duplicates. A
 * sequence number beyond the view is an error (BAD); UIDs the view does
 * not hold are skipped. *uids_r is malloc'd (NULL when *n_r is 0).
 * Returns 0 or -1 with *error_r.
 */
int imap_search_resolve_set(const struct imap_session *s, const char *text, bool uid,
			    uint32_t **uids_r, size_t *n_r, const char **error_r);

/*
 * Case-insensitive matching: fold (ASCII and Unicode simple lower-case)
 * UTF-8 text into out; invalid bytes are kept as they are.
 */
void imap_search_fold(const char *s, size_t len, struct buf *out);
/* "1-Feb-1994" (day 1..31 checked against the month) to days since 1970-01-01. */
bool imap_search_parse_date(const char *s, int64_t *days_r);
/*
 * The day of a Date: header value ("Tue, 1 Feb 1994 ..."), disregarding
 * time and zone, as days since 1970-01-01; false when unreadable.
 */
bool imap_search_header_day(const char *value, int64_t *days_r);
/* The message's keywords (space separated) hold kw, case-insensitively. */
bool imap_search_has_keyword(const char *keywords, const char *kw);

/* --- ACL and namespaces (imap-acl.c; RFC 4314, RFC 2342, RFC 8440) -------- */
#define IMAP_NS_OTHER "Other Users"     /* Other Users/OWNER/NAME */
#define IMAP_NS_SHARED "Shared Folders" /* Shared Folders/DOMAIN/NAME */
imap_cmd_func_t cmd_getacl, cmd_setacl, cmd_deleteacl, cmd_listrights, cmd_myrights;
/* Is name in one of the shared namespaces (the root itself included)? */
bool imap_acl_name_shared(const char *name);
/*
 * A mailbox by its name as the client sees it (personal, Other Users/...,
 * Shared Folders/...) and the session's rights on it (all for its own).
 * 1 found, 0 none or not visible ('l' missing: no trace), -1 store error.
 */
int imap_mailbox_lookup(struct imap_session *s, const char *name, struct store_mailbox *mb_r,
			uint32_t *rights_r);
/* "Other Users/OWNER/NAME" or "Shared Folders/DOMAIN/NAME" (malloc'd). */
char *imap_acl_external_name(const struct store_shared_mailbox *m);
/*
 * CREATE of a shared name: 1 when the session may create it (the 'k'
 * right on its existing parent; top-level names of other accounts and
 * public folders are made by their owner or the CLI), with the owner
 * account and the name there (*rest_r points into name); 2 the parent is
 * visible but 'k' is missing; 0 no such parent for this user (no trace:
 * answered like any reserved name); -1 error.
 */
int imap_acl_parent_create(struct imap_session *s, const char *name, int64_t *owner_r,
			   const char **rest_r);
/* SELECT/EXAMINE opened mb with these rights. */
void imap_acl_selected(struct imap_session *s, const struct store_mailbox *mb, uint32_t rights);
/*
 * Re-read the rights on the selected mailbox (when it is not the
 * session's own): false when 'l' or 'r' is gone, so nothing of it may be
 * sent any more.
 */
bool imap_acl_view_ok(struct imap_session *s);
/* Does the session hold every right of rights on the selected mailbox? */
bool imap_acl_may(const struct imap_session *s, uint32_t rights);
/* The central check before a selected-state command (dispatch). */
bool imap_acl_command_allowed(struct imap_cmd *cmd);
struct acl_find {
	const char *identifier;
	uint32_t rights;
};
void imap_acl_find_cb(void *ctx, const char *identifier, uint32_t rights);
/* --- end ACL --------------------------------------------------------------- */

/* --- METADATA (cmd-metadata.c; RFC 5464) ---------------------------------- */
#define IMAP_METADATA_MAXSIZE 16384  /* octets in one value */
#define IMAP_METADATA_MAXENTRIES 100 /* entries per mailbox (or server) and scope */
#define IMAP_METADATA_NAME_MAX 256   /* octets in one entry name */
imap_cmd_func_t cmd_getmetadata, cmd_setmetadata;
/*
 * An entry name: under /private/ or /shared/, printable ASCII without '*',
 * '%', "//" or a trailing '/'; the bare roots only when !settable (a
 * DEPTH read of everything below them).
 */
bool imap_metadata_entry_valid(const char *name, bool settable);
/* A value as an nstring: quoted, literal, or literal8 when it holds NULs. */
void imap_metadata_write_value(struct buf *out, const char *value, size_t len);
/* --- end METADATA ---------------------------------------------------------- */

/* --- NOTIFY (imap-notify.c; RFC 5465) -------------------------------------- */
struct imap_notify;
imap_cmd_func_t cmd_notify;
/*
 * Between commands and in IDLE (the engine's poll hook): when what the
 * session watches changed, queue the events it asked for. Does nothing
 * without NOTIFY SET or while another command runs.
 */
enum conn_result imap_notify_poll(struct imap_session *s, struct buf *out);
void imap_notify_free(struct imap_notify **n);
/* --- end NOTIFY ------------------------------------------------------------ */

/* --- QUOTA (cmd-quota.c; RFC 9208 and RFC 2087) ---------------------------- */
imap_cmd_func_t cmd_getquotaroot, cmd_getquota, cmd_setquota;
/* Bytes to the STORAGE resource's 1024-octet units, rounded up. */
uint64_t imap_quota_kib(uint64_t bytes);
/* --- end QUOTA ------------------------------------------------------------- */

#endif
