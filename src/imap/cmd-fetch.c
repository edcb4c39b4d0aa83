/* SPDX-License-Identifier: MIT */
/*
 * FETCH and UID FETCH (RFC 9051 6.4.5) with every data item: FLAGS,
 * INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE (the strings
 * mime/ computed at delivery), UID, MODSEQ (RFC 7162, with the CHANGEDSINCE
 * and, for UID FETCH under QRESYNC, VANISHED modifiers), the ALL/FAST/FULL
 * macros, RFC822[.HEADER|.TEXT], BODY[section]<partial> and BODY.PEEK,
 * BINARY[.PEEK] and BINARY.SIZE (RFC 3516), SAVEDATE (RFC 8514), EMAILID
 * and THREADID (RFC 8474), PREVIEW and PREVIEW (LAZY) (RFC 8970: stored
 * at delivery, computed for older messages unless LAZY, which gets NIL).
 *
 * Output streams: the handler resolves the messages and sets \Seen (one
 * store transaction for all of them) up front, then writes responses in
 * slices of about IMAP_STREAM_SLICE bytes and returns IMAP_CMD_MORE with
 * itself as continuation, a literal being cut anywhere. A blob is mapped
 * read-only while its message is written, and its sections are copied
 * from the mapping piece by piece (imap-fetch-section.c), so the memory a
 * FETCH 1:* BODY[] holds does not grow with the mailbox or the messages.
 */
#include "imap/imap-private.h"
#include "imap/imap-fetch-section.h"

#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Items in one FETCH: generous, but bounds the per-message state. */
#define FETCH_MAX_ITEMS 100

enum fetch_type {
	FETCH_FLAGS,
	FETCH_INTERNALDATE,
	FETCH_RFC822_SIZE,
	FETCH_ENVELOPE,
	FETCH_BODY, /* BODY: structure without extension data */
	FETCH_BODYSTRUCTURE,
	FETCH_UID,
	FETCH_MODSEQ,
	FETCH_SAVEDATE,
	FETCH_EMAILID,
	FETCH_THREADID,
	FETCH_SECTION, /* BODY[..], BINARY[..], RFC822, RFC822.HEADER/TEXT */
	FETCH_BINARY_SIZE,
	FETCH_PREVIEW, /* RFC 8970 */
};

struct fetch_item {
	enum fetch_type type;
	struct imap_section sec; /* SECTION, BINARY_SIZE */
	const char *label;       /* RFC822*: the response name */
	bool sets_seen;
	bool lazy; /* PREVIEW (LAZY): NIL rather than computing a missing preview */
};

struct fetch_target {
	uint32_t seq;
	size_t msg;         /* index in ctx->msgs */
	bool flags_changed; /* \Seen was set by this FETCH: report FLAGS */
};

struct fetch_ctx {
	struct fetch_item items[FETCH_MAX_ITEMS];
	size_t n_items;
	bool need_blob, need_parsed, has_flags, any_seen;
	bool need_preview; /* a PREVIEW without LAZY: compute it when not stored */
	bool utf8;         /* the session may get 8-bit quoted strings (UTF8=ACCEPT, rev2) */
	const struct imap_view *view;
	uint64_t changedsince; /* 0: none */
	bool vanished;
	const char *set_text;

	struct store_message_ex *msgs;
	size_t n_msgs;
	struct fetch_target *targets;
	size_t n_targets;
	size_t next;
	bool gone;        /* some requested message no longer exists */
	bool unknown_cte; /* some BINARY part could not be decoded */

	/* The message being written. */
	bool in_msg;
	size_t item;
	bool streaming; /* a literal of items[item] is in progress */
	char *map;
	size_t map_len;
	struct store_parsed_r parsed;
	struct mime_parsed computed; /* fallback when stored strings are missing */
	struct imap_section_body bodies[FETCH_MAX_ITEMS];
};

/* --- parsing the request --------------------------------------------------------- */

static struct fetch_item *add_item(struct fetch_ctx *ctx, enum fetch_type type)
{
	if (ctx->n_items == FETCH_MAX_ITEMS)
		return NULL;
	struct fetch_item *it = &ctx->items[ctx->n_items++];
	memset(it, 0, sizeof(*it));
	it->type = type;
	return it;
}

static bool has_item(const struct fetch_ctx *ctx, enum fetch_type type)
{
	for (size_t i = 0; i < ctx->n_items; i++)
		if (ctx->items[i].type == type)
			return true;
	return false;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: BODY[], BODY.PEEK[HEADER], BODY[TEXT]. */
static int add_rfc822(struct fetch_ctx *ctx, const char *label, enum imap_section_text text,
		      bool sets_seen)
{
	struct fetch_item *it = add_item(ctx, FETCH_SECTION);
	if (it == NULL)
		return -1;
	it->label = label;
	it->sec.text = text;
	it->sets_seen = sets_seen;
	return 0;
}

static const struct {
	const char *name;
	enum fetch_type type;
} simple_items[] = {
	{"FLAGS", FETCH_FLAGS},
	{"INTERNALDATE", FETCH_INTERNALDATE},
	{"RFC822.SIZE", FETCH_RFC822_SIZE},
	{"ENVELOPE", FETCH_ENVELOPE},
	{"BODY", FETCH_BODY},
	{"BODYSTRUCTURE", FETCH_BODYSTRUCTURE},
	{"UID", FETCH_UID},
	{"MODSEQ", FETCH_MODSEQ},
	{"SAVEDATE", FETCH_SAVEDATE},
	{"EMAILID", FETCH_EMAILID},
	{"THREADID", FETCH_THREADID},
	{"PREVIEW", FETCH_PREVIEW},
};

/* BODY[..], BODY.PEEK[..], BINARY[..], BINARY.PEEK[..], BINARY.SIZE[..]. */
static int parse_section_item(struct fetch_ctx *ctx, const char *name, const char **error_r)
{
	static const struct {
		const char *prefix;
		bool binary, peek, size;
	} kinds[] = {
		{"BODY.PEEK", false, true, false},  {"BODY", false, false, false},
		{"BINARY.PEEK", true, true, false}, {"BINARY.SIZE", true, true, true},
		{"BINARY", true, false, false},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);
		if (strncasecmp(name, kinds[i].prefix, n) != 0 || name[n] != '[')
			continue;
		struct fetch_item *it =
			add_item(ctx, kinds[i].size ? FETCH_BINARY_SIZE : FETCH_SECTION);
		if (it == NULL) {
			*error_r = "Too many FETCH items";
			return -1;
		}
		it->sets_seen = !kinds[i].peek;
		return imap_section_parse(name + n, kinds[i].binary, !kinds[i].size, &it->sec,
					  error_r);
	}
	*error_r = "Invalid FETCH item";
	return -1;
}

static int parse_item(struct fetch_ctx *ctx, const struct imap_arg *arg, const char **error_r)
{
	const char *name;
	*error_r = "Invalid FETCH item";
	if (!imap_arg_get_atom(arg, &name))
		return -1;
	if (strchr(name, '[') != NULL)
		return parse_section_item(ctx, name, error_r);
	for (size_t i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]); i++) {
		if (strcasecmp(name, simple_items[i].name) == 0) {
			if (add_item(ctx, simple_items[i].type) == NULL)
				return -1;
			return 0;
		}
	}
	if (strcasecmp(name, "RFC822") == 0)
		return add_rfc822(ctx, "RFC822", IMAP_SECTION_ALL, true);
	if (strcasecmp(name, "RFC822.HEADER") == 0)
		return add_rfc822(ctx, "RFC822.HEADER", IMAP_SECTION_HEADER, false);
	if (strcasecmp(name, "RFC822.TEXT") == 0)
		return add_rfc822(ctx, "RFC822.TEXT", IMAP_SECTION_TEXT, true);
	return -1;
}

/* ALL, FAST, FULL (RFC 9051 6.4.5): only on their own, never in a list. */
static bool parse_macro(struct fetch_ctx *ctx, const char *name)
{
	static const enum fetch_type fast[] = {FETCH_FLAGS, FETCH_INTERNALDATE, FETCH_RFC822_SIZE};
	bool all = strcasecmp(name, "ALL") == 0, full = strcasecmp(name, "FULL") == 0;
	if (!all && !full && strcasecmp(name, "FAST") != 0)
		return false;
	for (size_t i = 0; i < 3; i++)
		add_item(ctx, fast[i]);
	if (all || full)
		add_item(ctx, FETCH_ENVELOPE);
	if (full)
		add_item(ctx, FETCH_BODY);
	return true;
}

/* RFC 7162 / 4466 modifiers: (CHANGEDSINCE n [VANISHED]). */
static int parse_modifiers(struct fetch_ctx *ctx, const struct imap_arg *list, const char **error_r)
{
	*error_r = "Invalid FETCH modifier";
	for (size_t i = 0; !imap_arg_is_eol(&list[i]); i++) {
		const char *s;
		if (imap_arg_atom_equals(&list[i], "VANISHED") && !ctx->vanished) {
			ctx->vanished = true;
		} else if (imap_arg_atom_equals(&list[i], "CHANGEDSINCE") &&
			   ctx->changedsince == 0 && imap_arg_get_atom(&list[i + 1], &s)) {
			char *end;
			unsigned long long v = strtoull(s, &end, 10);
			if (*s < '1' || *s > '9' || *end != '\0' || v > INT64_MAX)
				return -1;
			ctx->changedsince = v;
			i++;
		} else {
			return -1;
		}
	}
	if (ctx->vanished && ctx->changedsince == 0) {
		*error_r = "VANISHED needs CHANGEDSINCE";
		return -1;
	}
	return 0;
}

/* PREVIEW's modifiers (RFC 8970 3.1): "(" LAZY ")"; nothing else is defined. */
static int parse_preview_mods(struct fetch_item *it, const struct imap_arg *arg,
			      const char **error_r)
{
	const struct imap_arg *mods;
	size_t n;
	imap_arg_get_list(arg, &mods, &n);
	*error_r = "Invalid PREVIEW modifier";
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_atom_equals(&mods[i], "LAZY") || it->lazy)
			return -1;
		it->lazy = true;
	}
	return 0;
}

static int parse_items(struct fetch_ctx *ctx, const struct imap_arg *arg, const char **error_r)
{
	const struct imap_arg *list;
	size_t count;
	const char *name;
	if (imap_arg_get_list(arg, &list, &count)) {
		if (count == 0) {
			*error_r = "Empty FETCH item list";
			return -1;
		}
		for (size_t i = 0; i < count; i++) {
			if (parse_item(ctx, &list[i], error_r) < 0)
				return -1;
			if (ctx->items[ctx->n_items - 1].type == FETCH_PREVIEW &&
			    list[i + 1].type == IMAP_ARG_LIST) {
				if (parse_preview_mods(&ctx->items[ctx->n_items - 1], &list[i + 1],
						       error_r) < 0)
					return -1;
				i++;
			}
		}
		return 0;
	}
	if (imap_arg_get_atom(arg, &name) && parse_macro(ctx, name))
		return 0;
	return parse_item(ctx, arg, error_r);
}

/* Everything the client asked: items, modifiers, implied items. */
static int fetch_parse(struct imap_cmd *cmd, struct fetch_ctx *ctx, const char **error_r)
{
	const struct imap_arg *args = cmd->args, *mods;
	size_t n_mods;
	*error_r = "Missing FETCH arguments";
	if (!imap_arg_get_atom(&args[0], &ctx->set_text) || imap_arg_is_eol(&args[1]))
		return -1;
	if (parse_items(ctx, &args[1], error_r) < 0)
		return -1;
	if (!imap_arg_is_eol(&args[2])) {
		*error_r = "Invalid FETCH modifiers";
		if (!imap_arg_get_list(&args[2], &mods, &n_mods) || !imap_arg_is_eol(&args[3]) ||
		    parse_modifiers(ctx, mods, error_r) < 0)
			return -1;
	}
	if (ctx->vanished && (!cmd->uid || !cmd->session->qresync)) {
		*error_r = "VANISHED needs UID FETCH and QRESYNC";
		return -1;
	}
	*error_r = "Too many FETCH items";
	/* UID FETCH always reports UIDs; CHANGEDSINCE always reports MODSEQ. */
	if (cmd->uid && !has_item(ctx, FETCH_UID) && add_item(ctx, FETCH_UID) == NULL)
		return -1;
	if (ctx->changedsince > 0 && !has_item(ctx, FETCH_MODSEQ) &&
	    add_item(ctx, FETCH_MODSEQ) == NULL)
		return -1;
	for (size_t i = 0; i < ctx->n_items; i++) {
		enum fetch_type t = ctx->items[i].type;
		ctx->need_blob |= t == FETCH_SECTION || t == FETCH_BINARY_SIZE;
		ctx->need_parsed |= t == FETCH_ENVELOPE || t == FETCH_BODY ||
			t == FETCH_BODYSTRUCTURE || t == FETCH_PREVIEW;
		ctx->need_preview |= t == FETCH_PREVIEW && !ctx->items[i].lazy;
		ctx->any_seen |= ctx->items[i].sets_seen;
	}
	ctx->has_flags = has_item(ctx, FETCH_FLAGS);
	return 0;
}

/* --- choosing the messages ------------------------------------------------------- */

/* Index in ctx->msgs (UID order) of uid; false when it is not there. */
static bool find_msg(const struct fetch_ctx *ctx, uint32_t uid, size_t *idx_r)
{
	size_t lo = 0, hi = ctx->n_msgs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ctx->msgs[mid].msg.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ctx->n_msgs || ctx->msgs[lo].msg.uid != uid)
		return false;
	*idx_r = lo;
	return true;
}

static int msg_uid_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct store_message_ex *)a)->msg.uid;
	uint32_t y = ((const struct store_message_ex *)b)->msg.uid;
	return x < y ? -1 : x > y;
}

/*
 * Messages of uids that the session still shows but the store listing
 * lacks: another session expunged them. While their content is kept
 * (store_blob_grace_set) they are fetched as they were, as Dovecot does;
 * the rest are gone (NO [EXPUNGEISSUED]). Keeps ctx->msgs sorted by UID.
 */
static int fetch_add_expunged(struct imap_session *s, struct fetch_ctx *ctx, const uint32_t *uids,
			      size_t n)
{
	uint32_t *missing = xcalloc(n > 0 ? n : 1, sizeof(*missing));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		if (!find_msg(ctx, uids[i], &idx) && imap_view_seq(s->view, uids[i]) != 0)
			missing[k++] = uids[i];
	}
	struct store_message_ex *more = NULL;
	size_t n_more = 0;
	int r = k > 0 ? store_message_expunged_list(s->store, s->view->mailbox_id, missing, k,
						    &more, &n_more)
		      : 0;
	free(missing);
	if (r < 0 || n_more == 0) {
		free(more);
		return r;
	}
	ctx->msgs = xrealloc(ctx->msgs, (ctx->n_msgs + n_more) * sizeof(*ctx->msgs));
	memcpy(ctx->msgs + ctx->n_msgs, more, n_more * sizeof(*more));
	ctx->n_msgs += n_more;
	free(more); /* the keyword strings moved into ctx->msgs */
	qsort(ctx->msgs, ctx->n_msgs, sizeof(*ctx->msgs), msg_uid_cmp);
	return 0;
}

/*
 * The messages the set names, in sequence order, that still exist (and
 * changed since CHANGEDSINCE), or that another session expunged but this
 * one still shows and whose content is kept. A UID FETCH ignores UIDs
 * that do not exist; a FETCH of a message expunged meanwhile whose content
 * is gone is noted (gone).
 */
static int fetch_resolve(struct imap_cmd *cmd, struct fetch_ctx *ctx, const char **error_r)
{
	struct imap_session *s = cmd->session;
	uint32_t *uids;
	size_t n;
	if (imap_search_resolve_set(s, ctx->set_text, cmd->uid, &uids, &n, error_r) < 0)
		return -1;
	/* Only the messages named: a one-message FETCH reads one row. */
	struct store_uid_range *ranges = xcalloc(n > 0 ? n : 1, sizeof(*ranges));
	size_t n_ranges = imap_view_uid_ranges(s->view, uids, n, ranges);
	int r = store_message_list_uids(s->store, s->view->mailbox_id, ranges, n_ranges,
					ctx->changedsince, &ctx->msgs, &ctx->n_msgs);
	free(ranges);
	if (r == 0 && ctx->changedsince == 0)
		r = fetch_add_expunged(s, ctx, uids, n);
	if (r < 0) {
		free(uids);
		*error_r = NULL; /* a store error: NO */
		return -1;
	}
	ctx->targets = xcalloc(n > 0 ? n : 1, sizeof(*ctx->targets));
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		uint32_t seq = imap_view_seq(s->view, uids[i]);
		if (find_msg(ctx, uids[i], &idx)) {
			ctx->targets[ctx->n_targets++] = (struct fetch_target){seq, idx, false};
		} else if (!cmd->uid && ctx->changedsince == 0) {
			ctx->gone = true;
		}
	}
	free(uids);
	return 0;
}

/* RFC 7162 3.2.6: UIDs of the set expunged since CHANGEDSINCE. */
static int fetch_vanished(struct imap_cmd *cmd, struct fetch_ctx *ctx, struct buf *out)
{
	struct imap_session *s = cmd->session;
	uint32_t *gone;
	size_t n, k = 0;
	if (store_mailbox_vanished_since(s->store, s->view->mailbox_id, ctx->changedsince, &gone,
					 &n) < 0)
		return -1;
	struct imap_seqset set;
	const char *error;
	if (imap_seqset_parse(ctx->set_text, UINT32_MAX, &set, &error) == 0 && !set.saved) {
		for (size_t i = 0; i < n; i++)
			if (imap_seqset_contains(&set, gone[i]))
				gone[k++] = gone[i];
	}
	imap_seqset_free(&set);
	if (k > 0) {
		buf_append_str(out, "* VANISHED (EARLIER) ");
		imap_seqset_write(out, gone, k);
		buf_append_str(out, "\r\n");
	}
	free(gone);
	return 0;
}

/*
 * BODY[] without PEEK sets \Seen (RFC 9051 6.4.5): in one transaction for
 * every message, before anything is written, so each response can carry
 * the new FLAGS. The view learns the new state so that no second FETCH
 * FLAGS follows.
 */
static int fetch_set_seen(struct imap_cmd *cmd, struct fetch_ctx *ctx, const char **error_r)
{
	struct imap_session *s = cmd->session;
	if (!ctx->any_seen || s->view->read_only || !imap_acl_may(s, STORE_RIGHT_SEEN))
		return 0;
	uint32_t *uids = xcalloc(ctx->n_targets + 1, sizeof(*uids));
	size_t n = 0;
	for (size_t i = 0; i < ctx->n_targets; i++) {
		const struct store_message *m = &ctx->msgs[ctx->targets[i].msg].msg;
		if ((m->flags & STORE_FLAG_SEEN) == 0)
			uids[n++] = m->uid;
	}
	struct store_flags_update u = {
		.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN, .seen_account = s->account.id};
	struct store_flags_outcome o = {0};
	int r = n > 0 ? store_message_update_flags(s->store, s->view->mailbox_id, uids, n, &u, &o,
						   error_r)
		      : 0;
	for (size_t i = 0; r == 0 && i < o.n_results; i++) {
		const struct store_flags_result *res = &o.results[i];
		size_t idx;
		if (!res->changed || !find_msg(ctx, res->uid, &idx))
			continue;
		struct store_message_ex *m = &ctx->msgs[idx];
		m->msg.flags = res->flags;
		m->msg.modseq = res->modseq;
		free(m->keywords);
		m->keywords = xstrdup(res->keywords != NULL ? res->keywords : "");
		uint32_t seq = imap_view_seq(s->view, res->uid);
		if (seq > 0) {
			imap_view_make_private(s->view);
			s->view->flags[seq - 1] =
				res->flags | (s->view->flags[seq - 1] & IMAP_VIEW_SESSION_BITS);
			s->view->modseqs[seq - 1] = res->modseq;
		}
		for (size_t t = 0; t < ctx->n_targets; t++)
			if (ctx->targets[t].msg == idx)
				ctx->targets[t].flags_changed = true;
	}
	store_flags_outcome_free(&o);
	free(uids);
	return r;
}

/* --- one message ------------------------------------------------------------------ */

static void msg_release(struct fetch_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_items; i++)
		imap_section_body_free(&ctx->bodies[i]);
	if (ctx->map != NULL)
		munmap(ctx->map, ctx->map_len);
	ctx->map = NULL;
	ctx->map_len = 0;
	store_parsed_r_free(&ctx->parsed);
	mime_parsed_free(&ctx->computed);
	ctx->in_msg = false;
	ctx->streaming = false;
	ctx->item = 0;
}

/* Map the blob read-only: pages come and go with the kernel's page cache. */
static int msg_map(struct imap_session *s, struct fetch_ctx *ctx, const char *blob_id)
{
	int fd = store_blob_open(s->store, blob_id);
	if (fd < 0)
		return -1;
	struct stat st;
	int r = fstat(fd, &st);
	if (r == 0 && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			r = -1;
		} else {
			ctx->map = p;
			ctx->map_len = (size_t)st.st_size;
		}
	}
	close(fd);
	return r;
}

/*
 * ENVELOPE / BODY / BODYSTRUCTURE / PREVIEW: stored at delivery; parsed
 * again if missing (a PREVIEW of a message stored before schema step 8,
 * unless LAZY).
 */
static void msg_parsed(struct imap_session *s, struct fetch_ctx *ctx, const char *blob_id)
{
	if (store_blob_parsed(s->store, blob_id, &ctx->parsed) == 1 &&
	    ctx->parsed.envelope != NULL && ctx->parsed.bodystructure != NULL &&
	    ctx->parsed.body != NULL && (ctx->parsed.preview != NULL || !ctx->need_preview))
		return;
	if (ctx->map == NULL && ctx->map_len == 0)
		msg_map(s, ctx, blob_id);
	mime_parse(ctx->map, ctx->map_len, &ctx->computed);
}

/*
 * Prepare the message of target t: its blob and parsed data, the data of
 * each section. Returns 1 ready, 0 skip it (BINARY of an unknown CTE, or
 * content that can no longer be read: never an empty success, which a
 * client would cache for good).
 */
static int msg_prepare(struct imap_cmd *cmd, struct fetch_ctx *ctx, const struct fetch_target *t)
{
	struct imap_session *s = cmd->session;
	const struct store_message *m = &ctx->msgs[t->msg].msg;
	if (ctx->need_blob && msg_map(s, ctx, m->blob_id) < 0) {
		/*
		 * Expunged by another session after the listing and kept for
		 * less than the store's grace (store_blob_grace_set): answer
		 * as for a message that no longer exists.
		 */
		log_warn("imap.fetch_blob", "session=%s uid=%" PRIu32 " blob=%s", s->session_id,
			 m->uid, m->blob_id);
		ctx->gone = true;
		return 0;
	}
	if (ctx->need_parsed)
		msg_parsed(s, ctx, m->blob_id);
	for (size_t i = 0; i < ctx->n_items; i++) {
		const struct fetch_item *it = &ctx->items[i];
		if (it->type != FETCH_SECTION && it->type != FETCH_BINARY_SIZE)
			continue;
		if (imap_section_body_init(&ctx->bodies[i], &it->sec, ctx->map, ctx->map_len) < 0) {
			ctx->unknown_cte = true;
			msg_release(ctx);
			return 0;
		}
	}
	return 1;
}

/* FLAGS of the message at seq: stored flags, keywords, \Recent from the view. */
static void write_flags(struct buf *out, const struct fetch_ctx *ctx,
			const struct store_message_ex *m, uint32_t seq)
{
	uint32_t flags = m->msg.flags;
	if (seq >= 1 && seq <= ctx->view->count)
		flags |= ctx->view->flags[seq - 1] & IMAP_VIEW_RECENT;
	imap_write_flags(out, flags);
	if (m->keywords != NULL && *m->keywords != '\0') {
		out->len--; /* reopen the list for the keywords */
		if (flags != 0)
			buf_append(out, " ", 1);
		buf_append_str(out, m->keywords);
		buf_append(out, ")", 1);
	}
}

/* "dd-Mon-yyyy hh:mm:ss +0000", in UTC; NIL for an unknown time. */
static void write_date(struct buf *out, time_t t)
{
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	if (t <= 0 || gmtime_r(&t, &tm) == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *parsed_str(const struct fetch_ctx *ctx, enum fetch_type type)
{
	const char *stored = type == FETCH_ENVELOPE ? ctx->parsed.envelope
		: type == FETCH_BODY                ? ctx->parsed.body
						    : ctx->parsed.bodystructure;
	if (stored != NULL)
		return stored;
	const char *computed = type == FETCH_ENVELOPE ? ctx->computed.envelope
		: type == FETCH_BODY                  ? ctx->computed.body
						      : ctx->computed.bodystructure;
	return computed != NULL ? computed : "NIL";
}

/* Every item but the section literals. */
static void write_simple(struct fetch_ctx *ctx, const struct fetch_item *it,
			 const struct store_message_ex *mx, uint32_t seq, struct buf *out)
{
	const struct store_message *m = &mx->msg;
	switch (it->type) {
	case FETCH_FLAGS:
		buf_append_str(out, "FLAGS ");
		write_flags(out, ctx, mx, seq);
		break;
	case FETCH_INTERNALDATE:
		buf_append_str(out, "INTERNALDATE ");
		write_date(out, m->internal_date);
		break;
	case FETCH_RFC822_SIZE:
		buf_printf(out, "RFC822.SIZE %" PRIu64, m->size);
		break;
	case FETCH_ENVELOPE:
	case FETCH_BODY:
	case FETCH_BODYSTRUCTURE:
		buf_append_str(out,
			       it->type == FETCH_ENVELOPE       ? "ENVELOPE "
				       : it->type == FETCH_BODY ? "BODY "
								: "BODYSTRUCTURE ");
		imap_write_syntax(out, parsed_str(ctx, it->type), ctx->utf8);
		break;
	case FETCH_UID:
		buf_printf(out, "UID %" PRIu32, m->uid);
		break;
	case FETCH_MODSEQ:
		buf_printf(out, "MODSEQ (%" PRIu64 ")", m->modseq);
		break;
	case FETCH_SAVEDATE:
		buf_append_str(out, "SAVEDATE ");
		write_date(out, m->save_date);
		break;
	case FETCH_EMAILID:
		/* RFC 8474: the content hash names the message in every mailbox */
		buf_printf(out, "EMAILID (M%.24s)", m->blob_id);
		break;
	case FETCH_THREADID:
		/* No threads are computed yet: each message is its own thread,
		 * named from its content so that copies share it. */
		buf_printf(out, "THREADID (T%.24s)", m->blob_id);
		break;
	case FETCH_PREVIEW: {
		/* RFC 8970: UTF-8 text; a literal for a rev1 client when 8-bit. */
		const char *p = ctx->parsed.preview != NULL ? ctx->parsed.preview
							    : ctx->computed.text.preview;
		buf_append_str(out, "PREVIEW ");
		if (p == NULL)
			buf_append_str(out, "NIL");
		else
			imap_write_string(out, p, strlen(p), ctx->utf8);
		break;
	}
	case FETCH_BINARY_SIZE:
	case FETCH_SECTION:
		break;
	}
}

static void write_section_name(const struct fetch_item *it, struct buf *out)
{
	if (it->label != NULL) {
		buf_append_str(out, it->label);
		return;
	}
	buf_append_str(out, it->sec.binary ? "BINARY" : "BODY");
	imap_section_write(&it->sec, true, out);
}

/* The name and the literal's announcement; true when data follows. */
static bool section_start(const struct fetch_item *it, const struct imap_section_body *b,
			  struct buf *out)
{
	if (it->type == FETCH_BINARY_SIZE) {
		buf_append_str(out, "BINARY.SIZE");
		imap_section_write(&it->sec, false, out);
		buf_printf(out, " %" PRIu64, b->nil ? 0 : b->full_size);
		return false;
	}
	write_section_name(it, out);
	if (b->nil) {
		buf_append_str(out, " NIL");
		return false;
	}
	buf_printf(out, " %s{%" PRIu64 "}\r\n", b->binary && b->has_nul ? "~" : "", b->size);
	return b->size > 0;
}

/*
 * Write the items of the current message from ctx->item on. Returns false
 * when the slice is used up in the middle (call again on resume).
 */
static bool msg_write(struct fetch_ctx *ctx, struct buf *out, size_t slice_start)
{
	const struct fetch_target *t = &ctx->targets[ctx->next];
	const struct store_message_ex *mx = &ctx->msgs[t->msg];
	for (; ctx->item < ctx->n_items; ctx->item++) {
		const struct fetch_item *it = &ctx->items[ctx->item];
		struct imap_section_body *b = &ctx->bodies[ctx->item];
		if (!ctx->streaming) {
			if (ctx->item > 0)
				buf_append(out, " ", 1);
			if (it->type != FETCH_SECTION && it->type != FETCH_BINARY_SIZE) {
				write_simple(ctx, it, mx, t->seq, out);
				continue;
			}
			if (!section_start(it, b, out))
				continue;
			ctx->streaming = true;
		}
		size_t used = out->len - slice_start;
		if (used >= IMAP_STREAM_SLICE)
			return false;
		if (!imap_section_body_read(b, out, IMAP_STREAM_SLICE - used))
			return false;
		ctx->streaming = false;
	}
	if (t->flags_changed && !ctx->has_flags) {
		buf_append_str(out, " FLAGS ");
		write_flags(out, ctx, mx, t->seq);
	}
	buf_append_str(out, ")\r\n");
	return true;
}

/* --- the command ------------------------------------------------------------------- */

static void fetch_ctx_free(void *p)
{
	struct fetch_ctx *ctx = p;
	msg_release(ctx);
	for (size_t i = 0; i < ctx->n_items; i++)
		imap_section_free(&ctx->items[i].sec);
	store_message_ex_free(&ctx->msgs, ctx->n_msgs);
	free(ctx->targets);
	free(ctx);
}

static enum imap_cmd_ret fetch_finish(struct imap_cmd *cmd, struct fetch_ctx *ctx, struct buf *out)
{
	if (ctx->unknown_cte)
		return imap_cmd_no(cmd, out,
				   "[UNKNOWN-CTE] Cannot decode a part's transfer encoding");
	if (ctx->gone)
		return imap_cmd_no(
			cmd, out, "[EXPUNGEISSUED] Some of the requested messages no longer exist");
	return imap_cmd_ok(cmd, out, "%sFETCH completed", cmd->uid ? "UID " : "");
}

/*
 * The continuation: about one slice of responses per call, or
 * IMAP_SLICE_US of work when the items are small but dear (one header
 * field of each of 100,000 messages), so that the connection's turn
 * budget can pass the worker on to the other sessions in between.
 */
static enum imap_cmd_ret fetch_continue(struct imap_cmd *cmd, struct buf *out)
{
	struct fetch_ctx *ctx = cmd->context;
	size_t slice_start = out->len;
	uint64_t start = imap_now_us();
	while (ctx->next < ctx->n_targets) {
		const struct fetch_target *t = &ctx->targets[ctx->next];
		if (!ctx->in_msg) {
			if (out->len - slice_start >= IMAP_STREAM_SLICE ||
			    imap_now_us() - start >= IMAP_SLICE_US)
				break;
			if (msg_prepare(cmd, ctx, t) == 0) {
				ctx->next++;
				continue;
			}
			ctx->in_msg = true;
			ctx->item = 0;
			buf_printf(out, "* %" PRIu32 " FETCH (", t->seq);
		}
		if (!msg_write(ctx, out, slice_start))
			break;
		msg_release(ctx);
		ctx->next++;
	}
	if (ctx->next < ctx->n_targets) {
		cmd->func = fetch_continue;
		return IMAP_CMD_MORE;
	}
	return fetch_finish(cmd, ctx, out);
}

enum imap_cmd_ret cmd_fetch(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct fetch_ctx *ctx = xcalloc(1, sizeof(*ctx));
	const char *error = NULL;
	cmd->context = ctx;
	cmd->free_context = fetch_ctx_free;
	ctx->utf8 = s->utf8_accept;
	ctx->view = s->view;
	if (fetch_parse(cmd, ctx, &error) < 0)
		return imap_cmd_bad(cmd, out, "%s", error);
	/* RFC 7162 3.1: MODSEQ and CHANGEDSINCE enable CONDSTORE. */
	if (has_item(ctx, FETCH_MODSEQ))
		imap_session_condstore_enable(s);
	if (fetch_resolve(cmd, ctx, &error) < 0) {
		if (error != NULL)
			return imap_cmd_bad(cmd, out, "%s", error);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
	}
	if (ctx->vanished && fetch_vanished(cmd, ctx, out) < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
	if (fetch_set_seen(cmd, ctx, &error) < 0) {
		log_warn("imap.fetch_seen", "session=%s error=\"%s\"", s->session_id,
			 error != NULL ? error : "?");
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot set \\Seen");
	}
	/* FLAGS may show a keyword another session just gave the mailbox. */
	if (ctx->has_flags && imap_view_keywords_sync(s, out) < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot read the mailbox");
	return fetch_continue(cmd, out);
}
