/* SPDX-License-Identifier: MIT */
/*
 * APPEND (RFC 9051 6.3.12): store a message the client sends as a literal
 * ({n}, {n+} with LITERAL+, or ~{n} with BINARY; also RFC 6855's
 * "UTF8 (~{n})") with optional flags and internal date, and answer with
 * APPENDUID (RFC 4315). MULTIAPPEND (RFC 3502): several messages, each
 * with its own flags and date, stored all or nothing (one group of the
 * store writer) and answered with one APPENDUID holding a UID set. The
 * literals arrive in the reader's spool (imap-parser.c), which the store
 * writer maps instead of copying. The size cap (max_message_size) is enforced by the
 * reader before the literal's first byte: the client gets "NO [TOOBIG]"
 * instead of "+". The message is parsed here, once (mime/), so FETCH can
 * later read ENVELOPE and BODYSTRUCTURE from the store, and the OK is sent
 * only after the store writer (or store_append, without one) has made it
 * durable (imap-write.c). A missing mailbox is
 * "NO [TRYCREATE]"; a full quota "NO [OVERQUOTA]". The date-time is
 * parsed strictly: "dd-Mon-yyyy hh:mm:ss +zzzz" with a space-padded or
 * two-digit day, nothing else.
 */
#include "imap/imap-private.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/spool.h"
#include "lib/util.h"
#include "mime/mime-store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* More keywords than a mailbox may ever hold is a client error. */
#define APPEND_MAX_FLAGS STORE_MAILBOX_KEYWORDS_MAX

/* Messages in one MULTIAPPEND: what one store-writer group holds. */
#define APPEND_MAX_MESSAGES 1000

struct append_msg {
	uint32_t flags;
	const char *keywords[APPEND_MAX_FLAGS];
	size_t n_keywords;
	time_t internal_date;       /* 0: now */
	const struct imap_arg *msg; /* the literal, or NULL: */
	const struct imap_arg *cat; /* CATENATE's parts */
	size_t n_cat;
	/* The message: the literal's, or the catenated spool's. */
	const char *data;
	size_t len;
	const struct spool *spool;
	uint64_t spool_off;
};

struct append_req {
	const char *mailbox; /* as sent */
	struct append_msg *msgs;
	size_t n_msgs;
	struct spool *spools; /* CATENATE's messages (n_msgs, or NULL) */
};

/* What the reply and the log need once the writes are done. */
struct append_done_ctx {
	int64_t mailbox_id;
	size_t n;
	uint64_t bytes;
};

static bool two_digits(const char *s, int *v_r)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return false;
	*v_r = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_index(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int m = 0; m < 12; m++) {
		if (strncasecmp(s, months + m * 3, 3) == 0)
			return m;
	}
	return -1;
}

/*
 * RFC 9051 date-time without its quotes: 26 characters,
 * "dd-Mon-yyyy hh:mm:ss +zzzz" where dd may be " d". Returns 0 with the
 * UTC time, -1 if the text is not exactly that or names no real instant.
 */
static int parse_datetime(const char *s, time_t *t_r)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (strlen(s) != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
	    s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
		return -1;
	int day, mon, hi, lo, hour, min, sec, zh, zm;
	if (s[0] == ' ') {
		if (s[1] < '1' || s[1] > '9')
			return -1;
		day = s[1] - '0';
	} else if (!two_digits(s, &day)) {
		return -1;
	}
	mon = month_index(s + 3);
	if (mon < 0 || !two_digits(s + 7, &hi) || !two_digits(s + 9, &lo) ||
	    !two_digits(s + 12, &hour) || !two_digits(s + 15, &min) || !two_digits(s + 18, &sec) ||
	    !two_digits(s + 22, &zh) || !two_digits(s + 24, &zm))
		return -1;
	int year = hi * 100 + lo;
	int last = mdays[mon] + (mon == 1 && leap_year(year));
	if (year < 1970 || day < 1 || day > last || hour > 23 || min > 59 || sec > 60 || zm > 59)
		return -1;
	struct tm tm = {
		.tm_year = year - 1900,
		.tm_mon = mon,
		.tm_mday = day,
		.tm_hour = hour,
		.tm_min = min,
		.tm_sec = sec,
	};
	time_t t = timegm(&tm);
	long offset = (zh * 60L + zm) * 60L * (s[21] == '-' ? -1 : 1);
	if (t == (time_t)-1)
		return -1;
	t -= offset;
	/* 0 means "now" to store_append, and nothing predates 1970 here. */
	if (t <= 0)
		return -1;
	*t_r = t;
	return 0;
}

static int append_flag(struct append_msg *req, const char *flag, const char **error_r)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} sys[] = {
		{"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_ANSWERED},
		{"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_DELETED},
		{"\\Draft", STORE_FLAG_DRAFT},
	};
	if (flag[0] == '\\') {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
			if (strcasecmp(flag, sys[i].name) == 0) {
				req->flags |= sys[i].bit;
				return 0;
			}
		}
		/* The server decides \Recent (RFC 3501 2.3.2): ignore it. */
		if (strcasecmp(flag, "\\Recent") == 0)
			return 0;
		*error_r = "Unknown system flag";
		return -1;
	}
	if (!store_keyword_valid(flag)) {
		*error_r = "Invalid keyword";
		return -1;
	}
	if (req->n_keywords == APPEND_MAX_FLAGS) {
		*error_r = "Too many keywords";
		return -1;
	}
	req->keywords[req->n_keywords++] = flag;
	return 0;
}

static int append_flags(struct append_msg *req, const struct imap_arg *list, size_t n,
			const char **error_r)
{
	for (size_t i = 0; i < n; i++) {
		const char *flag;
		if (!imap_arg_get_flag(&list[i], &flag)) {
			*error_r = "Flags must be atoms";
			return -1;
		}
		if (append_flag(req, flag, error_r) < 0)
			return -1;
	}
	return 0;
}

/* The message: a literal, or RFC 6855's UTF8 (literal8). */
static const struct imap_arg *append_message(const struct imap_arg **args)
{
	const struct imap_arg *a = *args;
	if (a->type == IMAP_ARG_LITERAL) {
		*args = a + 1;
		return a;
	}
	const struct imap_arg *l;
	size_t n;
	if (imap_arg_atom_equals(a, "UTF8") && imap_arg_get_list(&a[1], &l, &n) && n == 1 &&
	    l[0].type == IMAP_ARG_LITERAL && l[0].literal8) {
		*args = a + 2;
		return &l[0];
	}
	return NULL;
}

/* [flag-list] [date-time] (literal / UTF8 (literal8)). 0, or -1 with a message for BAD. */
static int append_parse_msg(const struct imap_arg **argsp, struct append_msg *m,
			    const char **error_r)
{
	const struct imap_arg *args = *argsp;
	const struct imap_arg *list;
	size_t n;
	if (imap_arg_get_list(args, &list, &n)) {
		if (append_flags(m, list, n, error_r) < 0)
			return -1;
		args++;
	}
	if (args->type == IMAP_ARG_QUOTED) {
		if (parse_datetime(args->str, &m->internal_date) < 0) {
			*error_r = "Invalid date-time";
			return -1;
		}
		args++;
	}
	if (imap_arg_atom_equals(args, "CATENATE") &&
	    imap_arg_get_list(&args[1], &m->cat, &m->n_cat)) {
		*argsp = args + 2;
		return 0;
	}
	m->msg = append_message(&args);
	if (m->msg == NULL) {
		*error_r = "Message must be a literal";
		return -1;
	}
	m->data = m->msg->str;
	m->len = m->msg->len;
	m->spool = m->msg->spool;
	m->spool_off = m->msg->spool_off;
	*argsp = args;
	return 0;
}

/*
 * mailbox 1*([flag-list] [date-time] (literal / UTF8 (literal8))).
 * Returns 0, or -1 with a message for BAD.
 */
static int append_parse(const struct imap_arg *args, struct append_req *req, const char **error_r)
{
	*error_r = "Invalid arguments";
	if (!imap_arg_get_astring(&args[0], &req->mailbox))
		return -1;
	args++;
	size_t cap = 0;
	do {
		if (req->n_msgs == APPEND_MAX_MESSAGES) {
			*error_r = "Too many messages in one APPEND";
			return -1;
		}
		if (req->n_msgs == cap) {
			cap = cap == 0 ? 1 : cap * 2;
			req->msgs = xrealloc(req->msgs, cap * sizeof(*req->msgs));
		}
		struct append_msg *m = &req->msgs[req->n_msgs++];
		memset(m, 0, sizeof(*m));
		if (append_parse_msg(&args, m, error_r) < 0)
			return -1;
	} while (!imap_arg_is_eol(args));
	return 0;
}

/* store_append's refusal as a response code and text. */
static enum imap_cmd_ret append_store_error(struct imap_cmd *cmd, struct buf *out,
					    const char *error)
{
	if (strncmp(error, "quota", 5) == 0)
		return imap_cmd_no(cmd, out, "[OVERQUOTA] Quota exceeded");
	if (strstr(error, "too many keywords") != NULL)
		return imap_cmd_no(cmd, out, "[LIMIT] Too many keywords in mailbox");
	log_warn("imap.append_error", "session=%s error=\"%s\"", cmd->session->session_id, error);
	return imap_cmd_no(cmd, out, "[UNAVAILABLE] Cannot store the message");
}

/*
 * RFC 4314 4: flags the user may not set are dropped from APPEND into
 * another account's mailbox. \Seen there is each reader's own: the store
 * keeps the appender's (the write's reader) for it alone (store-acl.c).
 */
static void append_restrict(struct append_msg *req, bool shared, uint32_t rights)
{
	if (!shared)
		return;
	if ((rights & STORE_RIGHT_SEEN) == 0)
		req->flags &= ~(uint32_t)STORE_FLAG_SEEN;
	if ((rights & STORE_RIGHT_DELETE_MESSAGE) == 0)
		req->flags &= ~(uint32_t)STORE_FLAG_DELETED;
	if ((rights & STORE_RIGHT_WRITE) == 0) {
		req->flags &= STORE_FLAG_DELETED | STORE_FLAG_SEEN;
		req->n_keywords = 0;
	}
}

/* The APPEND's outcome is known (imap-write.c). */
static enum imap_cmd_ret append_done(struct imap_cmd *cmd, struct buf *out)
{
	const struct append_done_ctx *ctx = cmd->context;
	const struct store_write_outcome *o;
	const char *error;
	uint32_t *uids = xcalloc(ctx->n, sizeof(*uids));
	uint32_t uidvalidity = 0;
	for (size_t i = 0; i < ctx->n; i++) {
		if (imap_cmd_write_result_at(cmd, i, &o, &error) < 0) {
			free(uids);
			return append_store_error(cmd, out, error);
		}
		uids[i] = o->uid;
		uidvalidity = o->uidvalidity;
	}
	log_info("imap.append",
		 "session=%s mailbox_id=%" PRId64 " uid=%" PRIu32 " messages=%zu size=%" PRIu64,
		 cmd->session->session_id, ctx->mailbox_id, uids[0], ctx->n, ctx->bytes);
	/* One transaction in submission order: the UIDs ascend. */
	struct buf set;
	buf_init(&set);
	imap_seqset_write(&set, uids, ctx->n);
	free(uids);
	enum imap_cmd_ret ret = imap_cmd_ok(cmd, out, "[APPENDUID %" PRIu32 " %s] APPEND completed",
					    uidvalidity, buf_cstr(&set));
	buf_deinit(&set);
	return ret;
}

/*
 * Parse each message once (mime/) and hand them to the store: durable
 * before append_done sends the OK. The requests' pointers are not used
 * after the hand-over (the writer copies; the direct call is done).
 */
static enum imap_cmd_ret append_store(struct imap_cmd *cmd, struct buf *out,
				      const struct store_mailbox *mb, const struct append_req *req)
{
	size_t n = req->n_msgs;
	struct mime_parsed *mp = xcalloc(n, sizeof(*mp));
	struct store_parsed *sp = xcalloc(n, sizeof(*sp));
	bool *parsed = xcalloc(n, sizeof(*parsed));
	struct store_write_request *w = xcalloc(n, sizeof(*w));
	struct append_done_ctx *ctx = xcalloc(1, sizeof(*ctx));
	*ctx = (struct append_done_ctx){.mailbox_id = mb->id, .n = n};
	for (size_t i = 0; i < n; i++) {
		const struct append_msg *m = &req->msgs[i];
		parsed[i] = mime_parse(m->data, m->len, &mp[i]) == 0;
		if (parsed[i])
			sp[i] = mime_store_parsed(&mp[i]);
		ctx->bytes += m->len;
		w[i] = (struct store_write_request){
			.kind = STORE_WRITE_APPEND,
			.data = m->data,
			.len = m->len,
			/* A spooled literal: the writer maps its file, never copies it. */
			.body = m->spool,
			.body_offset = m->spool_off,
			.parsed = parsed[i] ? &sp[i] : NULL,
			/* Into another account's mailbox: its owner's quota counts. */
			.account_id = mb->account_id,
			.mailbox_id = mb->id,
			.flags = m->flags,
			.keywords = m->keywords,
			.n_keywords = m->n_keywords,
			.internal_date = m->internal_date,
		};
	}
	cmd->context = ctx;
	cmd->free_context = free;
	enum imap_cmd_ret ret = imap_cmd_write_group(cmd, out, w, n, append_done);
	for (size_t i = 0; i < n; i++) {
		if (parsed[i])
			mime_parsed_free(&mp[i]);
	}
	free(mp);
	free(sp);
	free(parsed);
	free(w);
	return ret;
}

/*
 * Build the CATENATE messages (imap-catenate.c) into spools of their own.
 * 0, or -1 with the NO or BAD reply queued and *ret_r set.
 */
static int append_catenate(struct imap_cmd *cmd, struct buf *out, struct append_req *req,
			   enum imap_cmd_ret *ret_r)
{
	struct imap_session *s = cmd->session;
	for (size_t i = 0; i < req->n_msgs; i++) {
		struct append_msg *m = &req->msgs[i];
		if (m->cat == NULL)
			continue;
		if (req->spools == NULL) {
			req->spools = xcalloc(req->n_msgs, sizeof(*req->spools));
			for (size_t k = 0; k < req->n_msgs; k++)
				spool_init(&req->spools[k], s->spool_dir, false);
		}
		char *reply = NULL;
		const char *error;
		int r = imap_catenate(s, m->cat, m->n_cat, &req->spools[i], &reply);
		if (r == 0 && spool_data(&req->spools[i], &m->data, &error) < 0) {
			r = -1;
			reply = xstrdup("[LIMIT] Cannot map the message now");
		}
		if (r < 0) {
			*ret_r = r == -2 ? imap_cmd_bad(cmd, out, "Invalid CATENATE parts")
					 : imap_cmd_no(cmd, out, "%s", reply);
			free(reply);
			return -1;
		}
		m->len = (size_t)req->spools[i].len;
		m->spool = &req->spools[i];
		m->spool_off = 0;
	}
	return 0;
}

static void append_req_free(struct append_req *req)
{
	for (size_t i = 0; req->spools != NULL && i < req->n_msgs; i++)
		spool_deinit(&req->spools[i]);
	free(req->spools);
}

/* Sizes: each message within max_message_size, none empty. NULL if fine. */
static const char *append_check_sizes(const struct imap_session *s, const struct append_req *req)
{
	for (size_t i = 0; i < req->n_msgs; i++) {
		/* The reader refuses this before the literal; checked again here. */
		if (req->msgs[i].len > s->config->max_message_size)
			return "[TOOBIG] Message too big";
		if (req->msgs[i].len == 0)
			return "Empty message";
	}
	return NULL;
}

enum imap_cmd_ret cmd_append(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct append_req *req = xcalloc(1, sizeof(*req));
	const char *error;
	enum imap_cmd_ret ret;
	char *name = NULL;
	if (append_parse(cmd->args, req, &error) < 0) {
		ret = imap_cmd_bad(cmd, out, "%s", error);
		goto done;
	}
	if (imap_mailbox_name_from_client(s, req->mailbox, &name, &error) < 0) {
		ret = imap_cmd_no(cmd, out, "[CANNOT] %s", error);
		goto done;
	}
	struct store_mailbox mb;
	uint32_t rights;
	int r = imap_mailbox_lookup(s, name, &mb, &rights);
	if (r <= 0) {
		/* A shared name is never created by the client's retry: no TRYCREATE. */
		ret = r < 0 ? imap_cmd_no(cmd, out, "[UNAVAILABLE] Cannot open mailbox")
			: imap_acl_name_shared(name)
			? imap_cmd_no(cmd, out, "[NONEXISTENT] No such mailbox")
			: imap_cmd_no(cmd, out, "[TRYCREATE] No such mailbox");
		goto done;
	}
	if ((rights & STORE_RIGHT_INSERT) == 0) {
		ret = imap_cmd_no(cmd, out, "[NOPERM] Insert right needed");
		goto done;
	}
	for (size_t i = 0; i < req->n_msgs; i++)
		append_restrict(&req->msgs[i], mb.account_id != s->account.id, rights);
	if (append_catenate(cmd, out, req, &ret) < 0)
		goto done;
	if ((error = append_check_sizes(s, req)) != NULL) {
		ret = imap_cmd_no(cmd, out, "%s", error);
		goto done;
	}
	ret = append_store(cmd, out, &mb, req);
done:
	free(name);
	append_req_free(req);
	free(req->msgs);
	free(req);
	return ret;
}
