/* SPDX-License-Identifier: MIT */
/*
 * The IMAP command reader: a resumable scan pass that moves one command at
 * a time out of the connection's input (quoted strings and literals
 * followed, caps checked before bytes are accepted, "+ Ready for literal"
 * sent once per synchronising literal, refused commands skipped to their
 * real end), and a parse pass that turns the complete command into a tree
 * of struct imap_arg. Pure: no I/O, no store. See imap-private.h, part 1.
 */
#include "imap/imap-private.h"

#include "lib/spool.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum scan_state { SCAN_TEXT, SCAN_QUOTED, SCAN_QUOTED_ESC, SCAN_LITERAL };

#define TAIL_MAX 64       /* enough for "~{" + 19 digits + "+}" + CR */
#define LITERAL_DIGITS 19 /* 10^19 - 1 fits in uint64_t */
#define ERROR_MAX 96
#define NAME_CAPTURE 16
/* A command buffer grown past this is freed rather than kept. */
#define CMD_KEEP_MAX (256 * 1024)

/*
 * A literal of an APPEND read into the spool: where its value would have
 * been in cmd (nothing is stored there) and where it is in the spool.
 */
struct spooled_literal {
	size_t cmd_off;
	uint64_t spool_off;
};

struct arg_block {
	struct arg_block *next;
	struct imap_arg args[];
};

struct imap_parser {
	struct imap_parser_limits limits;

	/* The command being read: text, and each literal followed by a NUL. */
	struct buf cmd;
	bool complete; /* cmd holds a finished command: reset on next scan */
	enum scan_state state;
	bool cr;           /* the previous text byte was CR */
	uint64_t lit_left; /* SCAN_LITERAL: bytes still to come */
	bool lit_binary;
	size_t seg_len;  /* text bytes since the last literal */
	uint64_t total;  /* wire bytes of the command so far */
	size_t text_len; /* text bytes stored in cmd */
	bool first_line;
	unsigned word; /* first line: 0 tag, 1 name, then arguments */
	char tail[TAIL_MAX];
	size_t tail_len;
	bool tail_cut; /* older bytes of the line were dropped from tail */
	char tag[IMAP_TAG_MAX + 1];
	size_t tag_len;
	bool tag_bad;
	char name[NAME_CAPTURE];
	size_t name_len;
	bool discarding; /* refused: skip to the end without storing */
	char error[ERROR_MAX];

	/* APPEND literals (limits.spool_append): one spool per command. */
	struct spool spool;
	bool lit_spooled; /* SCAN_LITERAL: this literal goes to the spool */
	struct spooled_literal *lits;
	size_t n_lits, lits_cap;
	const char *spool_base; /* spool_data() once the command is complete */

	/* Parse results. */
	char *store;
	size_t store_len, store_cap;
	struct arg_block *blocks;
	size_t n_args;
	const char *parse_error;

	/* Line mode (SASL responses, DONE). */
	struct buf line;
	bool line_done;
	bool line_bad;
};

/* --- argument accessors ----------------------------------------------------- */

bool imap_arg_is_eol(const struct imap_arg *arg)
{
	return arg->type == IMAP_ARG_EOL;
}

bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return false;
	*str_r = arg->str;
	return true;
}

bool imap_arg_get_flag(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NIL)
		return false;
	*str_r = arg->str;
	return true;
}

static bool arg_is_text(const struct imap_arg *arg)
{
	return (arg->type == IMAP_ARG_QUOTED || arg->type == IMAP_ARG_LITERAL) &&
		memchr(arg->str, '\0', arg->len) == NULL;
}

bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NIL && !arg_is_text(arg))
		return false;
	*str_r = arg->str;
	return true;
}

bool imap_arg_get_string(const struct imap_arg *arg, const char **str_r)
{
	if (!arg_is_text(arg))
		return false;
	*str_r = arg->str;
	return true;
}

bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*str_r = NULL;
		return true;
	}
	return imap_arg_get_string(arg, str_r);
}

bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r, size_t *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*list_r = arg->list;
	if (count_r != NULL)
		*count_r = arg->list_count;
	return true;
}

bool imap_arg_atom_equals(const struct imap_arg *arg, const char *name)
{
	return arg->type == IMAP_ARG_ATOM && strcasecmp(arg->str, name) == 0;
}

size_t imap_args_count(const struct imap_arg *args)
{
	size_t n = 0;
	while (args[n].type != IMAP_ARG_EOL)
		n++;
	return n;
}

/* --- lifecycle ---------------------------------------------------------------- */

struct imap_parser *imap_parser_create(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	p->limits = *limits;
	spool_init(&p->spool, limits->spool_dir, false);
	buf_init(&p->cmd);
	buf_init(&p->line);
	p->first_line = true;
	return p;
}

static void parse_results_free(struct imap_parser *p)
{
	while (p->blocks != NULL) {
		struct arg_block *next = p->blocks->next;
		free(p->blocks);
		p->blocks = next;
	}
	free(p->store);
	p->store = NULL;
	p->store_len = p->store_cap = 0;
	p->n_args = 0;
}

/* Forget the finished command; the buffer may have held a password. */
static void parser_reset(struct imap_parser *p)
{
	parse_results_free(p);
	if (p->cmd.cap > CMD_KEEP_MAX) {
		buf_deinit(&p->cmd);
		buf_init(&p->cmd);
	} else {
		if (p->cmd.len > 0)
			explicit_bzero(p->cmd.data, p->cmd.len);
		buf_clear(&p->cmd);
	}
	p->complete = false;
	p->state = SCAN_TEXT;
	p->cr = false;
	p->lit_left = 0;
	p->lit_binary = false;
	p->seg_len = 0;
	p->total = 0;
	p->text_len = 0;
	p->first_line = true;
	p->word = 0;
	p->tail_len = 0;
	p->tail_cut = false;
	p->tag_len = 0;
	p->tag_bad = false;
	p->name_len = 0;
	p->discarding = false;
	p->error[0] = '\0';
	spool_reset(&p->spool);
	p->lit_spooled = false;
	p->n_lits = 0;
	p->spool_base = NULL;
}

void imap_parser_destroy(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (p == NULL)
		return;
	parser_reset(p);
	buf_deinit(&p->cmd);
	if (p->line.len > 0)
		explicit_bzero(p->line.data, p->line.len);
	buf_deinit(&p->line);
	spool_deinit(&p->spool);
	free(p->lits);
	free(p);
	*pp = NULL;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	p->limits = *limits;
	p->spool.dir = limits->spool_dir;
}

const char *imap_parser_error(const struct imap_parser *p, const char **tag_r)
{
	bool have_tag = p->tag_len > 0 && !p->tag_bad && p->word > 0;
	*tag_r = have_tag ? p->tag : "*";
	return p->error[0] != '\0' ? p->error : "BAD Invalid command";
}

/* --- scan pass ---------------------------------------------------------------- */

/* tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051). */
static bool is_tag_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
}

/* Refuse the command being read; the first reason is the one reported. */
static void scan_fail(struct imap_parser *p, const char *msg)
{
	if (p->discarding)
		return;
	p->discarding = true;
	snprintf(p->error, sizeof(p->error), "%s", msg);
}

static void tail_push(struct imap_parser *p, char c)
{
	if (p->tail_len == TAIL_MAX) {
		memmove(p->tail, p->tail + TAIL_MAX / 2, TAIL_MAX / 2);
		p->tail_len = TAIL_MAX / 2;
		p->tail_cut = true;
	}
	p->tail[p->tail_len++] = c;
}

/* Remember the tag and the command name as the first line goes by. */
static void track_word(struct imap_parser *p, char c)
{
	if (c == ' ') {
		p->word++;
		return;
	}
	if (p->word == 0) {
		if (p->tag_len < IMAP_TAG_MAX && is_tag_char((unsigned char)c)) {
			p->tag[p->tag_len++] = c;
			p->tag[p->tag_len] = '\0';
		} else {
			p->tag_bad = true;
		}
	} else if (p->word == 1 && p->name_len < NAME_CAPTURE - 1) {
		p->name[p->name_len++] = c;
		p->name[p->name_len] = '\0';
	}
}

struct literal_spec {
	uint64_t size;
	bool sync;
	bool binary;
};

/*
 * Does the line just ended (tail, CR last) end with a literal spec?
 * Returns 1 with spec_r, 0 when not, -1 when its size cannot be read.
 */
static int tail_literal(const struct imap_parser *p, struct literal_spec *spec_r)
{
	const char *t = p->tail;
	size_t n = p->tail_len;
	if (n < 4 || t[n - 1] != '\r' || t[n - 2] != '}')
		return 0;
	size_t i = n - 2; /* index of '}' */
	spec_r->sync = true;
	if (t[i - 1] == '+' || t[i - 1] == '-') {
		spec_r->sync = false;
		i--;
	}
	size_t end = i, start = i;
	while (start > 0 && isdigit((unsigned char)t[start - 1]))
		start--;
	if (start == end)
		return 0;
	if (start == 0)
		return p->tail_cut ? -1 : 0;
	if (t[start - 1] != '{')
		return 0;
	if (end - start > LITERAL_DIGITS)
		return -1;
	uint64_t v = 0;
	for (size_t k = start; k < end; k++)
		v = v * 10 + (uint64_t)(t[k] - '0');
	spec_r->size = v;
	spec_r->binary = start >= 2 && t[start - 2] == '~';
	return 1;
}

static bool scan_is_append(const struct imap_parser *p)
{
	return p->word >= 2 && p->name_len == 6 && strcasecmp(p->name, "APPEND") == 0;
}

/*
 * ID may be longer than other commands before login (id_max, RFC 2971's
 * maximum): its name is known long before either cap is reached.
 */
static bool scan_is_id(const struct imap_parser *p)
{
	return p->word >= 2 && p->name_len == 2 && strcasecmp(p->name, "ID") == 0;
}

static size_t scan_line_max(const struct imap_parser *p)
{
	if (p->limits.id_max > p->limits.line_max && scan_is_id(p))
		return p->limits.id_max;
	return p->limits.line_max;
}

static uint64_t scan_command_max(const struct imap_parser *p)
{
	if (p->limits.id_max > p->limits.command_max && scan_is_id(p))
		return p->limits.id_max;
	if (p->limits.plain_command_max != 0 && p->word >= 2 && !scan_is_append(p))
		return p->limits.plain_command_max;
	return p->limits.command_max;
}

static enum imap_scan_result scan_finish(struct imap_parser *p)
{
	p->complete = true;
	const char *error;
	if (!p->discarding && p->n_lits > 0 && spool_data(&p->spool, &p->spool_base, &error) < 0)
		scan_fail(p, "NO [LIMIT] Cannot map the message now");
	return p->discarding ? IMAP_SCAN_REJECT : IMAP_SCAN_COMMAND;
}

/*
 * Keep bytes of the command in memory. A literal's or a line's size is the
 * client's choice: when memory runs out, only this command is refused (the
 * rest of it skipped), not the daemon aborted.
 */
static void cmd_keep(struct imap_parser *p, const void *data, size_t n)
{
	if (buf_try_append(&p->cmd, data, n) < 0)
		scan_fail(p, "NO [LIMIT] Out of memory for this command, try again later");
}

/* The spool cannot take more: refuse the command, skip the rest. */
static void scan_spool_fail(struct imap_parser *p, const char *error)
{
	char msg[ERROR_MAX];
	snprintf(msg, sizeof(msg), "NO [LIMIT] Cannot hold the message now (%s)", error);
	scan_fail(p, msg);
}

static void scan_literal_end(struct imap_parser *p)
{
	const char *error;
	if (p->discarding) {
		/* nothing kept */
	} else if (!p->lit_spooled) {
		cmd_keep(p, "", 1);
	} else if (spool_append(&p->spool, "", 1, &error) < 0) {
		/* Terminated like an inline value: str[len] is a NUL. */
		scan_spool_fail(p, error);
	}
	p->lit_spooled = false;
	p->state = SCAN_TEXT;
}

/*
 * An APPEND literal is about to be read: remember where it goes, so the
 * parse pass finds it in the spool. false when too many literals.
 */
static bool scan_spool_start(struct imap_parser *p)
{
	if (p->n_lits == IMAP_MAX_ARGS)
		return false;
	if (p->n_lits == p->lits_cap) {
		p->lits_cap = p->lits_cap == 0 ? 4 : p->lits_cap * 2;
		p->lits = xrealloc(p->lits, p->lits_cap * sizeof(*p->lits));
	}
	p->lits[p->n_lits++] =
		(struct spooled_literal){.cmd_off = p->cmd.len, .spool_off = p->spool.len};
	p->lit_spooled = true;
	return true;
}

/*
 * A line ended. The command ends too unless the line announced a literal
 * that is accepted; avail is how many input bytes are already buffered
 * after this LF (no "+" when the whole literal is there).
 */
static enum imap_scan_result scan_line_end(struct imap_parser *p, size_t avail, struct buf *out)
{
	bool crlf = p->cr;
	p->cr = false;
	if (!p->discarding) {
		cmd_keep(p, "\n", 1);
		p->text_len++;
	}
	if (p->state != SCAN_TEXT) {
		p->state = SCAN_TEXT;
		scan_fail(p, "BAD Unterminated quoted string");
	}
	if (!crlf) {
		scan_fail(p, "BAD Line must end with CRLF");
		return scan_finish(p);
	}
	struct literal_spec spec;
	int r = tail_literal(p, &spec);
	if (r == 0)
		return scan_finish(p);
	if (r < 0) {
		scan_fail(p, "BAD Literal size unreadable");
		if (spec.sync)
			return scan_finish(p);
		/* Its bytes cannot be skipped: the stream is lost. */
		p->complete = true;
		return IMAP_SCAN_FATAL;
	}
	uint64_t max = scan_is_append(p) ? p->limits.append_literal_max : p->limits.literal_max;
	uint64_t command_max = scan_command_max(p);
	bool fits =
		spec.size <= max && p->total <= command_max && spec.size <= command_max - p->total;
	if (!fits && !p->discarding) {
		if (spec.sync) {
			/* The client waits for "+": this answer replaces it. */
			scan_fail(p, "NO [TOOBIG] Literal too big");
			return scan_finish(p);
		}
		scan_fail(p, "BAD [TOOBIG] Literal too big");
	}
	if (p->discarding && spec.sync)
		return scan_finish(p);
	if (spec.sync && avail < spec.size)
		buf_append_str(out, "+ Ready for literal\r\n");
	p->total = spec.size > UINT64_MAX - p->total ? UINT64_MAX : p->total + spec.size;
	if (!p->discarding && p->limits.spool_append && scan_is_append(p) && !scan_spool_start(p))
		scan_fail(p, "BAD Too many literals");
	p->state = SCAN_LITERAL;
	p->lit_left = spec.size;
	p->lit_binary = spec.binary;
	p->seg_len = 0;
	p->tail_len = 0;
	p->tail_cut = false;
	p->first_line = false;
	if (spec.size == 0)
		scan_literal_end(p);
	return IMAP_SCAN_MORE;
}

static enum imap_scan_result scan_text(struct imap_parser *p, char c, size_t avail, struct buf *out)
{
	if (p->total < UINT64_MAX)
		p->total++;
	if (c == '\n')
		return scan_line_end(p, avail, out);
	if (++p->seg_len > scan_line_max(p))
		scan_fail(p, "BAD Line too long");
	if (p->total > scan_command_max(p))
		scan_fail(p, "BAD Command too long");
	if (c == '\0')
		scan_fail(p, "BAD NUL in command");
	if (p->cr)
		scan_fail(p, "BAD CR without LF");
	p->cr = false;
	if (!p->discarding) {
		cmd_keep(p, &c, 1);
		p->text_len++;
	}
	tail_push(p, c);
	switch (p->state) {
	case SCAN_QUOTED:
	case SCAN_QUOTED_ESC:
		if (c == '\r') {
			scan_fail(p, "BAD Unterminated quoted string");
			p->state = SCAN_TEXT;
			p->cr = true;
		} else if (p->state == SCAN_QUOTED_ESC) {
			p->state = SCAN_QUOTED;
		} else if (c == '\\') {
			p->state = SCAN_QUOTED_ESC;
		} else if (c == '"') {
			p->state = SCAN_TEXT;
		}
		break;
	default:
		if (c == '\r')
			p->cr = true;
		else if (c == '"')
			p->state = SCAN_QUOTED;
		if (p->first_line && c != '\r')
			track_word(p, c);
		break;
	}
	return IMAP_SCAN_MORE;
}

/* Take literal bytes in bulk. Returns how many were taken. */
static size_t scan_literal(struct imap_parser *p, const char *data, size_t n)
{
	size_t take = n < p->lit_left ? n : (size_t)p->lit_left;
	const char *error;
	if (!p->discarding) {
		if (!p->lit_binary && memchr(data, '\0', take) != NULL)
			scan_fail(p, "BAD NUL in literal");
		else if (!p->lit_spooled)
			cmd_keep(p, data, take);
		else if (spool_append(&p->spool, data, take, &error) < 0)
			scan_spool_fail(p, error);
	}
	p->lit_left -= take;
	if (p->lit_left == 0)
		scan_literal_end(p);
	return take;
}

enum imap_scan_result imap_parser_scan_data(struct imap_parser *p, const char *data, size_t len,
					    size_t *taken_r, struct buf *out)
{
	if (p->complete)
		parser_reset(p);
	size_t pos = 0;
	enum imap_scan_result r = IMAP_SCAN_MORE;
	while (pos < len && r == IMAP_SCAN_MORE) {
		if (p->state == SCAN_LITERAL) {
			pos += scan_literal(p, data + pos, len - pos);
			continue;
		}
		char c = data[pos++];
		r = scan_text(p, c, len - pos, out);
	}
	*taken_r = pos;
	return r;
}

enum imap_scan_result imap_parser_scan(struct imap_parser *p, struct buf *in, struct buf *out)
{
	size_t taken;
	enum imap_scan_result r = imap_parser_scan_data(p, in->data, in->len, &taken, out);
	buf_consume(in, taken);
	return r;
}

/* --- parse pass --------------------------------------------------------------- */

struct parse_ctx {
	struct imap_parser *p;
	char *data;
	size_t pos, len;
	size_t next_lit; /* the next spooled literal (p->lits) */
};

static int parse_fail(struct parse_ctx *c, const char *msg)
{
	if (c->p->parse_error == NULL)
		c->p->parse_error = msg;
	return -1;
}

/* Copy a value into the result storage. NULL when it would not fit. */
static char *store_put(struct imap_parser *p, const char *src, size_t len)
{
	if (len + 1 > p->store_cap - p->store_len)
		return NULL;
	char *dst = p->store + p->store_len;
	memcpy(dst, src, len);
	dst[len] = '\0';
	p->store_len += len + 1;
	return dst;
}

static bool is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

/* Skip a "[...]" inside an atom: section specs hold spaces and lists. */
static int parse_bracket(struct parse_ctx *c)
{
	c->pos++; /* '[' */
	bool quoted = false;
	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->data[c->pos];
		if (ch == '\r' || ch == '\n' || ch == '\0' || ch >= 0x80 || (!quoted && ch == '{'))
			break;
		c->pos++;
		if (quoted && ch == '\\' && c->pos < c->len && c->data[c->pos] != '\r') {
			c->pos++;
		} else if (ch == '"') {
			quoted = !quoted;
		} else if (!quoted && ch == ']') {
			return 0;
		}
	}
	return parse_fail(c, "Unterminated [ in argument");
}

/*
 * Does the atom so far name a FETCH item that takes a section? Only then
 * does '[' open a "[...]" that may hold spaces: anywhere else '[' is an
 * ordinary atom character (a mailbox may be called "a[b"; only ']' is a
 * resp-special, RFC 9051 section 9).
 */
static bool atom_takes_section(const char *atom, size_t len)
{
	static const char *const names[] = {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK",
					    "BINARY.SIZE"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len && strncasecmp(atom, names[i], len) == 0)
			return true;
	}
	return false;
}

static int parse_atom(struct parse_ctx *c, struct imap_arg *arg)
{
	size_t start = c->pos;
	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->data[c->pos];
		if (ch == '[' && atom_takes_section(c->data + start, c->pos - start)) {
			if (parse_bracket(c) < 0)
				return -1;
		} else if (is_atom_char(ch)) {
			c->pos++;
		} else {
			break;
		}
	}
	size_t len = c->pos - start;
	if (len == 0)
		return parse_fail(c, "Invalid characters in argument");
	const char *v = store_put(c->p, c->data + start, len);
	if (v == NULL)
		return parse_fail(c, "Command too complex");
	arg->type = len == 3 && strcasecmp(v, "NIL") == 0 ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
	arg->str = v;
	arg->len = len;
	return 0;
}

static int parse_quoted(struct parse_ctx *c, struct imap_arg *arg)
{
	struct imap_parser *p = c->p;
	c->pos++; /* '"' */
	if (p->store_cap - p->store_len < 1)
		return parse_fail(c, "Command too complex");
	char *dst = p->store + p->store_len;
	size_t n = 0, room = p->store_cap - p->store_len - 1;
	while (c->pos < c->len) {
		char ch = c->data[c->pos++];
		if (ch == '"') {
			dst[n] = '\0';
			p->store_len += n + 1;
			arg->type = IMAP_ARG_QUOTED;
			arg->str = dst;
			arg->len = n;
			return 0;
		}
		if (ch == '\r' || ch == '\n' || ch == '\0')
			break;
		if (ch == '\\') {
			ch = c->pos < c->len ? c->data[c->pos++] : '\0';
			if (ch != '"' && ch != '\\')
				return parse_fail(c, "Invalid escape in quoted string");
		}
		if (n == room)
			return parse_fail(c, "Command too complex");
		dst[n++] = ch;
	}
	return parse_fail(c, "Unterminated quoted string");
}

/* "{n}", "{n+}", "{n-}" or "~{n}", CRLF, n bytes, then the scan pass's NUL. */
static int parse_literal(struct parse_ctx *c, struct imap_arg *arg)
{
	bool binary = c->data[c->pos] == '~';
	c->pos += binary ? 2 : 1;
	uint64_t size = 0;
	size_t digits = 0;
	while (c->pos < c->len && isdigit((unsigned char)c->data[c->pos])) {
		if (++digits > LITERAL_DIGITS)
			return parse_fail(c, "Invalid literal");
		size = size * 10 + (uint64_t)(c->data[c->pos++] - '0');
	}
	if (digits == 0)
		return parse_fail(c, "Invalid literal");
	if (c->pos < c->len && (c->data[c->pos] == '+' || c->data[c->pos] == '-'))
		c->pos++;
	if (c->len - c->pos < 3 || memcmp(c->data + c->pos, "}\r\n", 3) != 0)
		return parse_fail(c, "Invalid literal");
	c->pos += 3;
	struct imap_parser *p = c->p;
	if (c->next_lit < p->n_lits && p->lits[c->next_lit].cmd_off == c->pos) {
		/* Its value is in the spool, NUL-terminated there too. */
		uint64_t off = p->lits[c->next_lit++].spool_off;
		if (off + size >= p->spool.len || p->spool_base[off + size] != '\0')
			return parse_fail(c, "Invalid literal");
		arg->type = IMAP_ARG_LITERAL;
		arg->str = p->spool_base + off;
		arg->len = (size_t)size;
		arg->literal8 = binary;
		arg->spool = &p->spool;
		arg->spool_off = off;
		return 0;
	}
	if (size >= c->len - c->pos || c->data[c->pos + size] != '\0')
		return parse_fail(c, "Invalid literal");
	arg->type = IMAP_ARG_LITERAL;
	arg->str = c->data + c->pos;
	arg->len = (size_t)size;
	arg->literal8 = binary;
	c->pos += (size_t)size + 1;
	return 0;
}

static int parse_list(struct parse_ctx *c, unsigned depth, bool top, const struct imap_arg **list_r,
		      size_t *count_r);

static int parse_one(struct parse_ctx *c, unsigned depth, struct imap_arg *arg)
{
	memset(arg, 0, sizeof(*arg));
	if (++c->p->n_args > IMAP_MAX_ARGS)
		return parse_fail(c, "Too many arguments");
	char ch = c->data[c->pos];
	if (ch == '(') {
		if (depth >= IMAP_MAX_DEPTH)
			return parse_fail(c, "Lists nested too deeply");
		c->pos++;
		arg->type = IMAP_ARG_LIST;
		return parse_list(c, depth + 1, false, &arg->list, &arg->list_count);
	}
	if (ch == '"')
		return parse_quoted(c, arg);
	if (ch == '{' || (ch == '~' && c->pos + 1 < c->len && c->data[c->pos + 1] == '{'))
		return parse_literal(c, arg);
	return parse_atom(c, arg);
}

/* Keep the finished array: blocks are freed together at the next command. */
static const struct imap_arg *list_keep(struct imap_parser *p, const struct imap_arg *args,
					size_t n)
{
	struct arg_block *b = xmalloc(sizeof(*b) + (n + 1) * sizeof(b->args[0]));
	if (n > 0)
		memcpy(b->args, args, n * sizeof(args[0]));
	memset(&b->args[n], 0, sizeof(b->args[n]));
	b->args[n].type = IMAP_ARG_EOL;
	b->next = p->blocks;
	p->blocks = b;
	return b->args;
}

/* At the end: ")" inside a list, CRLF closing the command at top level. */
static bool at_list_end(const struct parse_ctx *c, bool top)
{
	if (!top)
		return c->pos < c->len && c->data[c->pos] == ')';
	return c->len - c->pos == 2 && c->data[c->pos] == '\r' && c->data[c->pos + 1] == '\n';
}

static int parse_list(struct parse_ctx *c, unsigned depth, bool top, const struct imap_arg **list_r,
		      size_t *count_r)
{
	struct imap_arg *tmp = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;
	if (!at_list_end(c, top)) {
		for (;;) {
			if (c->pos >= c->len) {
				parse_fail(c, "Missing argument");
				goto out;
			}
			if (n == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				tmp = xrealloc(tmp, cap * sizeof(*tmp));
			}
			if (parse_one(c, depth, &tmp[n]) < 0)
				goto out;
			n++;
			if (at_list_end(c, top))
				break;
			if (c->pos >= c->len || c->data[c->pos] != ' ') {
				parse_fail(c,
					   top ? "Unexpected characters after argument"
					       : "Missing ) or space in list");
				goto out;
			}
			c->pos++;
		}
	}
	c->pos += top ? 2 : 1;
	*list_r = list_keep(c->p, tmp, n);
	*count_r = n;
	ret = 0;
out:
	free(tmp);
	return ret;
}

/* tag SP: the tag is validated here, not only captured by the scan. */
static int parse_tag(struct parse_ctx *c, const char **tag_r)
{
	size_t start = c->pos;
	while (c->pos < c->len && is_tag_char((unsigned char)c->data[c->pos]))
		c->pos++;
	size_t len = c->pos - start;
	if (len == 0 || len > IMAP_TAG_MAX || c->pos >= c->len || c->data[c->pos] != ' ')
		return parse_fail(c, "Invalid tag");
	*tag_r = store_put(c->p, c->data + start, len);
	c->pos++;
	return *tag_r != NULL ? 0 : parse_fail(c, "Invalid tag");
}

static int parse_name(struct parse_ctx *c, const char **name_r)
{
	size_t start = c->pos;
	while (c->pos < c->len &&
	       (isalnum((unsigned char)c->data[c->pos]) || c->data[c->pos] == '-'))
		c->pos++;
	size_t len = c->pos - start;
	if (len == 0 || len > 32)
		return parse_fail(c, "Invalid command name");
	char *name = store_put(c->p, c->data + start, len);
	if (name == NULL)
		return parse_fail(c, "Invalid command name");
	for (char *q = name; *q != '\0'; q++)
		*q = (char)toupper((unsigned char)*q);
	*name_r = name;
	return 0;
}

int imap_parser_parse(struct imap_parser *p, const char **tag_r, const char **name_r,
		      const struct imap_arg **args_r, const char **error_r)
{
	parse_results_free(p);
	p->parse_error = NULL;
	p->store_cap = p->text_len + 1;
	p->store = malloc(p->store_cap);
	struct parse_ctx c = {.p = p, .data = p->cmd.data, .pos = 0, .len = p->cmd.len};
	*tag_r = "*";
	if (p->store == NULL) {
		/* As in cmd_keep: this command fails, not the daemon. */
		p->store_cap = 0;
		*error_r = "[LIMIT] Out of memory for this command, try again later";
		return -1;
	}
	const char *tag = NULL;
	size_t count;
	if (c.data == NULL || parse_tag(&c, &tag) < 0)
		goto bad;
	*tag_r = tag;
	if (parse_name(&c, name_r) < 0)
		goto bad;
	if (at_list_end(&c, true)) {
		*args_r = list_keep(p, NULL, 0);
		return 0;
	}
	if (c.pos >= c.len || c.data[c.pos] != ' ') {
		parse_fail(&c, "Invalid command name");
		goto bad;
	}
	c.pos++;
	if (parse_list(&c, 0, true, args_r, &count) < 0)
		goto bad;
	return 0;
bad:
	*error_r = p->parse_error != NULL ? p->parse_error : "Invalid command";
	return -1;
}

/* --- line mode ---------------------------------------------------------------- */

int imap_parser_read_line_data(struct imap_parser *p, const char *data, size_t len, size_t *taken_r,
			       const char **line_r, size_t *len_r)
{
	if (p->line_done) {
		if (p->line.len > 0)
			explicit_bzero(p->line.data, p->line.len);
		buf_clear(&p->line);
		p->line_done = false;
		p->line_bad = false;
	}
	const char *lf = len > 0 ? memchr(data, '\n', len) : NULL;
	size_t take = lf != NULL ? (size_t)(lf - data) + 1 : len;
	if (!p->line_bad) {
		/* Checked before the LF arrives: the line can only grow. */
		if (p->line.len + take > p->limits.line_max) {
			p->line_bad = true;
			explicit_bzero(p->line.data, p->line.len);
			buf_clear(&p->line);
		} else {
			buf_append(&p->line, data, take);
		}
	}
	*taken_r = take;
	if (lf == NULL)
		return 0;
	p->line_done = true;
	if (p->line_bad)
		return -1;
	size_t n = p->line.len;
	if (n < 2 || p->line.data[n - 2] != '\r')
		return -1;
	n -= 2;
	if (memchr(p->line.data, '\0', n) != NULL || memchr(p->line.data, '\r', n) != NULL)
		return -1;
	p->line.data[n] = '\0';
	*line_r = p->line.data;
	*len_r = n;
	return 1;
}

int imap_parser_read_line(struct imap_parser *p, struct buf *in, const char **line_r, size_t *len_r)
{
	size_t taken;
	int r = imap_parser_read_line_data(p, in->data, in->len, &taken, line_r, len_r);
	buf_consume(in, taken);
	return r;
}
