/* SPDX-License-Identifier: MIT */
/*
 * The Sieve compiler: a lexer over the RFC 5228 grammar (hash and bracket
 * comments, quoted and multi-line strings, numbers with K/M/G), a
 * recursive-descent parser that appends nodes to one array, and a checker
 * that matches each command and test against its signature (tagged
 * arguments, positional arguments, tests, block), resolves the tags into
 * the node's fields and refuses what an unrequired or unknown extension
 * would need. Every error names the line and column where it was found.
 * Nesting, node count and source size are capped before they are reached.
 */
#include "sieve/sieve-private.h"

#include "lib/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum tok_kind { T_EOF, T_ID, T_TAG, T_NUM, T_STR, T_PUNCT, T_ERR };

struct tok {
	enum tok_kind kind;
	uint32_t line, col;
	const char *p; /* identifier/tag name (T_TAG: after ':'), or punctuation */
	size_t len;
	uint64_t num;
	size_t str_off, str_len; /* T_STR: in the pool */
};

struct parser {
	const char *src;
	size_t len, pos;
	uint32_t line, col;
	struct tok tok; /* the current token */
	struct sieve_script *sc;
	size_t cap_nodes, cap_pool;
	unsigned depth;
	char err[256];
	bool failed;
};

static _Thread_local char sieve_error[300];

static void fail_at(struct parser *ps, uint32_t line, uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail_at(struct parser *ps, uint32_t line, uint32_t col, const char *fmt, ...)
{
	if (ps->failed)
		return;
	ps->failed = true;
	int n = snprintf(ps->err, sizeof(ps->err), "%u:%u: ", line, col);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, sizeof(ps->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* --- lexer --------------------------------------------------------------- */

static int peekc(const struct parser *ps, size_t ahead)
{
	return ps->pos + ahead < ps->len ? (unsigned char)ps->src[ps->pos + ahead] : -1;
}

static void advance(struct parser *ps)
{
	if (ps->src[ps->pos] == '\n') {
		ps->line++;
		ps->col = 1;
	} else {
		ps->col++;
	}
	ps->pos++;
}

static size_t pool_add(struct parser *ps, const char *p, size_t n)
{
	struct sieve_script *sc = ps->sc;
	if (sc->pool_len + n + 1 > ps->cap_pool) {
		ps->cap_pool = (sc->pool_len + n + 1) * 2;
		sc->pool = xrealloc(sc->pool, ps->cap_pool);
	}
	size_t off = sc->pool_len;
	memcpy(sc->pool + off, p, n);
	sc->pool[off + n] = '\0';
	sc->pool_len += n + 1;
	return off;
}

/* Skip white space and comments; false (error set) on an unclosed comment. */
static bool skip_space(struct parser *ps)
{
	for (;;) {
		int c = peekc(ps, 0);
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			advance(ps);
		} else if (c == '#') {
			while (ps->pos < ps->len && ps->src[ps->pos] != '\n')
				advance(ps);
		} else if (c == '/' && peekc(ps, 1) == '*') {
			uint32_t l = ps->line, co = ps->col;
			advance(ps);
			advance(ps);
			while (ps->pos < ps->len && !(peekc(ps, 0) == '*' && peekc(ps, 1) == '/'))
				advance(ps);
			if (ps->pos >= ps->len) {
				fail_at(ps, l, co, "unterminated comment");
				return false;
			}
			advance(ps);
			advance(ps);
		} else {
			return true;
		}
	}
}

/* "..." with \" and \\ (any other \x is x, RFC 5228 2.4.2). */
static void lex_quoted(struct parser *ps, struct tok *t)
{
	char *tmp = xmalloc(ps->len - ps->pos + 1);
	size_t n = 0;
	advance(ps);
	for (;;) {
		int c = peekc(ps, 0);
		if (c < 0) {
			fail_at(ps, t->line, t->col, "unterminated string");
			t->kind = T_ERR;
			break;
		}
		advance(ps);
		if (c == '"')
			break;
		if (c == '\\') {
			c = peekc(ps, 0);
			if (c < 0)
				continue;
			advance(ps);
		}
		tmp[n++] = (char)c;
	}
	t->str_off = pool_add(ps, tmp, n);
	t->str_len = n;
	free(tmp);
}

/* text: [hash-comment] CRLF lines "." CRLF, dot-stuffed. */
static void lex_multiline(struct parser *ps, struct tok *t)
{
	for (int i = 0; i < 5; i++)
		advance(ps);
	while (peekc(ps, 0) == ' ' || peekc(ps, 0) == '\t')
		advance(ps);
	if (peekc(ps, 0) == '#') {
		while (ps->pos < ps->len && ps->src[ps->pos] != '\n')
			advance(ps);
	}
	if (peekc(ps, 0) == '\r')
		advance(ps);
	if (peekc(ps, 0) != '\n') {
		fail_at(ps, ps->line, ps->col, "expected end of line after text:");
		t->kind = T_ERR;
		return;
	}
	advance(ps);
	/* Each line gains CRLF where the source may have a bare LF: at most twice. */
	char *tmp = xmalloc(2 * (ps->len - ps->pos) + 1);
	size_t n = 0;
	for (;;) {
		if (ps->pos >= ps->len) {
			fail_at(ps, t->line, t->col, "unterminated multi-line string");
			t->kind = T_ERR;
			break;
		}
		size_t eol = ps->pos;
		while (eol < ps->len && ps->src[eol] != '\n')
			eol++;
		size_t end = eol > ps->pos && ps->src[eol - 1] == '\r' ? eol - 1 : eol;
		const char *line = ps->src + ps->pos;
		size_t ll = end - ps->pos;
		bool last = eol >= ps->len;
		while (ps->pos < eol)
			advance(ps);
		if (!last)
			advance(ps);
		if (ll == 1 && line[0] == '.')
			break;
		if (ll > 0 && line[0] == '.') {
			line++;
			ll--;
		}
		memcpy(tmp + n, line, ll);
		n += ll;
		if (!last) {
			tmp[n++] = '\r';
			tmp[n++] = '\n';
		}
	}
	t->str_off = pool_add(ps, tmp, n);
	t->str_len = n;
	free(tmp);
}

static void lex_number(struct parser *ps, struct tok *t)
{
	uint64_t v = 0;
	bool overflow = false;
	while (peekc(ps, 0) >= '0' && peekc(ps, 0) <= '9') {
		uint64_t d = (uint64_t)(peekc(ps, 0) - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		v = v * 10 + d;
		advance(ps);
	}
	int q = peekc(ps, 0);
	unsigned shift = 0;
	if (q == 'K' || q == 'k')
		shift = 10;
	else if (q == 'M' || q == 'm')
		shift = 20;
	else if (q == 'G' || q == 'g')
		shift = 30;
	if (shift != 0) {
		advance(ps);
		if (v > (UINT64_MAX >> shift))
			overflow = true;
		v <<= shift;
	}
	/* Numbers are at least 31 bits (RFC 5228 2.4.1); ours are 63. */
	if (overflow || v > (uint64_t)INT64_MAX)
		fail_at(ps, t->line, t->col, "number too large");
	t->num = v;
}

static bool is_id_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_id_char(int c)
{
	return is_id_start(c) || (c >= '0' && c <= '9');
}

static void lex(struct parser *ps)
{
	struct tok *t = &ps->tok;
	memset(t, 0, sizeof(*t));
	if (!skip_space(ps)) {
		t->kind = T_ERR;
		return;
	}
	t->line = ps->line;
	t->col = ps->col;
	int c = peekc(ps, 0);
	if (c < 0) {
		t->kind = T_EOF;
		return;
	}
	if (c == '"') {
		t->kind = T_STR;
		lex_quoted(ps, t);
	} else if (c >= '0' && c <= '9') {
		t->kind = T_NUM;
		lex_number(ps, t);
	} else if (c == ':' && is_id_start(peekc(ps, 1))) {
		advance(ps);
		t->kind = T_TAG;
		t->p = ps->src + ps->pos;
		while (is_id_char(peekc(ps, 0)))
			advance(ps);
		t->len = (size_t)(ps->src + ps->pos - t->p);
	} else if (is_id_start(c)) {
		const char *start = ps->src + ps->pos;
		size_t n = 0;
		while (is_id_char(peekc(ps, n)))
			n++;
		if (n == 4 && strncasecmp(start, "text", 4) == 0 && peekc(ps, 4) == ':') {
			t->kind = T_STR;
			lex_multiline(ps, t);
			return;
		}
		t->kind = T_ID;
		t->p = start;
		t->len = n;
		for (size_t i = 0; i < n; i++)
			advance(ps);
	} else if (strchr(";,()[]{}", c) != NULL) {
		t->kind = T_PUNCT;
		t->p = ps->src + ps->pos;
		t->len = 1;
		advance(ps);
	} else {
		fail_at(ps, t->line, t->col, "unexpected character '%c'", isprint(c) ? c : '?');
		t->kind = T_ERR;
	}
	if (ps->failed)
		t->kind = T_ERR;
}

static bool is_punct(const struct parser *ps, char c)
{
	return ps->tok.kind == T_PUNCT && ps->tok.p[0] == c;
}

/* --- parser -------------------------------------------------------------- */

static int32_t node_new(struct parser *ps, enum sieve_node_kind kind, const struct tok *at)
{
	struct sieve_script *sc = ps->sc;
	if (sc->n_nodes >= SIEVE_NODES_MAX) {
		fail_at(ps, at->line, at->col, "script too complex");
		return SV_NONE;
	}
	if (sc->n_nodes == ps->cap_nodes) {
		ps->cap_nodes = ps->cap_nodes ? ps->cap_nodes * 2 : 64;
		sc->nodes = xrealloc(sc->nodes, ps->cap_nodes * sizeof(*sc->nodes));
	}
	struct sieve_node *n = &sc->nodes[sc->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->line = at->line;
	n->col = at->col;
	n->next = n->args = n->tests = n->block = SV_NONE;
	for (int i = 0; i < SV_POS_MAX; i++)
		n->pos[i] = SV_NONE;
	n->flags = n->subject = n->from = n->addrs = n->handle = n->zone = n->ctypes = SV_NONE;
	return (int32_t)sc->n_nodes++;
}

#define NODE(ps, i) (&(ps)->sc->nodes[(i)])

/* Append node i to a list whose last element is *tail (head in *head). */
static void link_node(struct parser *ps, int32_t *head, int32_t *tail, int32_t i)
{
	if (*head == SV_NONE)
		*head = i;
	else
		NODE(ps, *tail)->next = i;
	*tail = i;
}

static int32_t parse_string_node(struct parser *ps)
{
	int32_t i = node_new(ps, SV_STR, &ps->tok);
	if (i == SV_NONE)
		return SV_NONE;
	NODE(ps, i)->off = (uint32_t)ps->tok.str_off;
	NODE(ps, i)->len = (uint32_t)ps->tok.str_len;
	lex(ps);
	return i;
}

/* "[" string *("," string) "]" */
static int32_t parse_string_list(struct parser *ps)
{
	int32_t l = node_new(ps, SV_LIST, &ps->tok);
	int32_t tail = SV_NONE;
	if (l == SV_NONE)
		return SV_NONE;
	lex(ps);
	for (;;) {
		if (ps->tok.kind != T_STR) {
			fail_at(ps, ps->tok.line, ps->tok.col, "expected a string in the list");
			return SV_NONE;
		}
		int32_t s = parse_string_node(ps);
		if (s == SV_NONE)
			return SV_NONE;
		link_node(ps, &NODE(ps, l)->args, &tail, s);
		if (is_punct(ps, ']'))
			break;
		if (!is_punct(ps, ',')) {
			fail_at(ps, ps->tok.line, ps->tok.col, "expected ',' or ']'");
			return SV_NONE;
		}
		lex(ps);
	}
	lex(ps);
	return l;
}

static int32_t parse_test(struct parser *ps);

/* *argument [test / test-list], filling node i's args and tests. */
static bool parse_arguments(struct parser *ps, int32_t i)
{
	int32_t tail = SV_NONE;
	for (;;) {
		int32_t a = SV_NONE;
		if (ps->tok.kind == T_STR) {
			a = parse_string_node(ps);
		} else if (is_punct(ps, '[')) {
			a = parse_string_list(ps);
		} else if (ps->tok.kind == T_NUM) {
			a = node_new(ps, SV_NUM, &ps->tok);
			if (a != SV_NONE)
				NODE(ps, a)->num = ps->tok.num;
			lex(ps);
		} else if (ps->tok.kind == T_TAG) {
			a = node_new(ps, SV_TAG, &ps->tok);
			if (a != SV_NONE) {
				NODE(ps, a)->off = (uint32_t)(ps->tok.p - ps->src);
				NODE(ps, a)->len = (uint32_t)ps->tok.len;
			}
			lex(ps);
		} else {
			break;
		}
		if (a == SV_NONE || ps->failed)
			return false;
		link_node(ps, &NODE(ps, i)->args, &tail, a);
	}
	if (ps->tok.kind == T_ID) {
		int32_t t = parse_test(ps);
		if (t == SV_NONE)
			return false;
		NODE(ps, i)->tests = t;
	} else if (is_punct(ps, '(')) {
		int32_t ttail = SV_NONE;
		lex(ps);
		for (;;) {
			int32_t t = parse_test(ps);
			if (t == SV_NONE)
				return false;
			link_node(ps, &NODE(ps, i)->tests, &ttail, t);
			if (is_punct(ps, ')'))
				break;
			if (!is_punct(ps, ',')) {
				fail_at(ps, ps->tok.line, ps->tok.col, "expected ',' or ')'");
				return false;
			}
			lex(ps);
		}
		lex(ps);
	}
	return !ps->failed;
}

/* Names are looked up at check time; here the node keeps where it is. */
static int32_t parse_named(struct parser *ps, enum sieve_node_kind kind)
{
	if (ps->tok.kind != T_ID) {
		fail_at(ps, ps->tok.line, ps->tok.col,
			kind == SV_TEST ? "expected a test" : "expected a command");
		return SV_NONE;
	}
	if (++ps->depth > SIEVE_DEPTH_MAX) {
		fail_at(ps, ps->tok.line, ps->tok.col, "nesting too deep");
		return SV_NONE;
	}
	int32_t i = node_new(ps, kind, &ps->tok);
	if (i == SV_NONE)
		return SV_NONE;
	NODE(ps, i)->off = (uint32_t)(ps->tok.p - ps->src);
	NODE(ps, i)->len = (uint32_t)ps->tok.len;
	lex(ps);
	if (!parse_arguments(ps, i))
		return SV_NONE;
	ps->depth--;
	return i;
}

static int32_t parse_test(struct parser *ps)
{
	return parse_named(ps, SV_TEST);
}

static bool parse_commands(struct parser *ps, int32_t *head, bool in_block);

static int32_t parse_command(struct parser *ps)
{
	unsigned depth = ps->depth;
	int32_t i = parse_named(ps, SV_CMD);
	if (i == SV_NONE)
		return SV_NONE;
	if (is_punct(ps, ';')) {
		lex(ps);
		return i;
	}
	if (!is_punct(ps, '{')) {
		fail_at(ps, ps->tok.line, ps->tok.col, "expected ';' or '{'");
		return SV_NONE;
	}
	if (++ps->depth > SIEVE_DEPTH_MAX) {
		fail_at(ps, ps->tok.line, ps->tok.col, "nesting too deep");
		return SV_NONE;
	}
	lex(ps);
	int32_t block = SV_NONE;
	if (!parse_commands(ps, &block, true))
		return SV_NONE;
	NODE(ps, i)->block = block;
	/* An empty block still needs a marker that it is there. */
	if (block == SV_NONE)
		NODE(ps, i)->block = -2;
	lex(ps);
	ps->depth = depth;
	return i;
}

static bool parse_commands(struct parser *ps, int32_t *head, bool in_block)
{
	int32_t tail = SV_NONE;
	for (;;) {
		if (ps->failed)
			return false;
		if (ps->tok.kind == T_EOF) {
			if (in_block)
				fail_at(ps, ps->tok.line, ps->tok.col, "missing '}'");
			return !in_block;
		}
		if (in_block && is_punct(ps, '}'))
			return true;
		int32_t c = parse_command(ps);
		if (c == SV_NONE)
			return false;
		link_node(ps, head, &tail, c);
	}
}

/* --- checker ------------------------------------------------------------- */

static const char *const cmd_names[SV_C_COUNT] = {
	"require",  "if",     "elsif",   "else",    "stop",    "keep",       "discard", "fileinto",
	"redirect", "reject", "ereject", "setflag", "addflag", "removeflag", "set",     "vacation",
};
static const uint32_t cmd_exts[SV_C_COUNT] = {
	[SV_C_FILEINTO] = SV_X_FILEINTO,  [SV_C_REJECT] = SV_X_REJECT,
	[SV_C_EREJECT] = SV_X_EREJECT,    [SV_C_SETFLAG] = SV_X_IMAP4FLAGS,
	[SV_C_ADDFLAG] = SV_X_IMAP4FLAGS, [SV_C_REMOVEFLAG] = SV_X_IMAP4FLAGS,
	[SV_C_SET] = SV_X_VARIABLES,      [SV_C_VACATION] = SV_X_VACATION,
};
static const char *const test_names[SV_T_COUNT] = {
	"address", "header",   "exists",  "size",   "allof", "anyof", "not",         "true",
	"false",   "envelope", "hasflag", "string", "body",  "date",  "currentdate",
};
static const uint32_t test_exts[SV_T_COUNT] = {
	[SV_T_ENVELOPE] = SV_X_ENVELOPE, [SV_T_HASFLAG] = SV_X_IMAP4FLAGS,
	[SV_T_STRING] = SV_X_VARIABLES,  [SV_T_BODY] = SV_X_BODY,
	[SV_T_DATE] = SV_X_DATE,         [SV_T_CURRENTDATE] = SV_X_DATE,
};
static const struct {
	const char *name;
	uint32_t bit;
} ext_names[] = {
	{"fileinto", SV_X_FILEINTO},
	{"envelope", SV_X_ENVELOPE},
	{"imap4flags", SV_X_IMAP4FLAGS},
	{"copy", SV_X_COPY},
	{"variables", SV_X_VARIABLES},
	{"relational", SV_X_RELATIONAL},
	{"subaddress", SV_X_SUBADDRESS},
	{"body", SV_X_BODY},
	{"reject", SV_X_REJECT},
	{"ereject", SV_X_EREJECT},
	{"vacation", SV_X_VACATION},
	{"vacation-seconds", SV_X_VACATION | SV_X_VACATION_SECONDS},
	{"date", SV_X_DATE},
	{"index", SV_X_INDEX},
	{"comparator-i;ascii-numeric", SV_X_NUMERIC},
	{"comparator-i;octet", 0},
	{"comparator-i;ascii-casemap", 0},
};

size_t sieve_extension_count(void)
{
	return sizeof(ext_names) / sizeof(ext_names[0]);
}

const char *sieve_extension_name(size_t i)
{
	return i < sieve_extension_count() ? ext_names[i].name : NULL;
}

/* Tag classes a command or test accepts. */
enum {
	TG_MATCH = 1 << 0,
	TG_CMP = 1 << 1,
	TG_PART = 1 << 2,
	TG_INDEX = 1 << 3,
	TG_SIZE = 1 << 4,
	TG_COPY = 1 << 5,
	TG_FLAGS = 1 << 6,
	TG_CREATE = 1 << 7,
	TG_BODY = 1 << 8,
	TG_VACATION = 1 << 9,
	TG_ZONE = 1 << 10,
	TG_MODS = 1 << 11,
};

struct checker {
	struct parser *ps;
	uint32_t exts;
};

static const char *node_text(const struct checker *ck, const struct sieve_node *n)
{
	return n->kind == SV_STR ? ck->ps->sc->pool + n->off : ck->ps->src + n->off;
}

static bool name_is(const struct checker *ck, const struct sieve_node *n, const char *name)
{
	return strlen(name) == n->len && strncasecmp(node_text(ck, n), name, n->len) == 0;
}

static bool ck_fail(struct checker *ck, const struct sieve_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool ck_fail(struct checker *ck, const struct sieve_node *n, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_at(ck->ps, n->line, n->col, "%s", msg);
	return false;
}

static struct sieve_node *ck_node(struct checker *ck, int32_t i)
{
	return &ck->ps->sc->nodes[i];
}

/* The argument after tag t, which must be of kind (a string may stand for a list). */
static int32_t tag_value(struct checker *ck, struct sieve_node *t, enum sieve_node_kind kind)
{
	struct sieve_node *v = t->next != SV_NONE ? ck_node(ck, t->next) : NULL;
	bool ok = v != NULL && (v->kind == kind || (kind == SV_LIST && v->kind == SV_STR));
	if (!ok) {
		char name[40];
		snprintf(name, sizeof(name), "%.*s", (int)t->len, node_text(ck, t));
		ck_fail(ck, t, ":%s needs a %s", name,
			kind == SV_NUM           ? "number"
				: kind == SV_STR ? "string"
						 : "string list");
		return SV_NONE;
	}
	return t->next;
}

static bool once(struct checker *ck, struct sieve_node *t, bool *seen)
{
	if (*seen)
		return ck_fail(ck, t, "tag given twice");
	*seen = true;
	return true;
}

struct tagstate {
	bool match, cmp, part, size, body, index, last, zone;
};

static bool tag_match(struct checker *ck, struct sieve_node *n, struct sieve_node *t,
		      struct tagstate *st, int32_t *skip)
{
	static const char *const rels[] = {"gt", "ge", "lt", "le", "eq", "ne"};
	bool rel = name_is(ck, t, "count") || name_is(ck, t, "value");
	if (rel && !(ck->exts & SV_X_RELATIONAL))
		return ck_fail(ck, t, "relational tags need require \"relational\"");
	if (!once(ck, t, &st->match))
		return false;
	n->match = name_is(ck, t, "is")      ? SV_M_IS
		: name_is(ck, t, "contains") ? SV_M_CONTAINS
		: name_is(ck, t, "matches")  ? SV_M_MATCHES
		: name_is(ck, t, "count")    ? SV_M_COUNT
					     : SV_M_VALUE;
	if (!rel)
		return true;
	int32_t v = tag_value(ck, t, SV_STR);
	if (v == SV_NONE)
		return false;
	*skip = v;
	for (size_t i = 0; i < 6; i++) {
		if (name_is(ck, ck_node(ck, v), rels[i])) {
			n->rel = (uint8_t)i;
			return true;
		}
	}
	return ck_fail(ck, ck_node(ck, v), "unknown relational operator");
}

static bool tag_comparator(struct checker *ck, struct sieve_node *n, struct sieve_node *t,
			   struct tagstate *st, int32_t *skip)
{
	if (!once(ck, t, &st->cmp))
		return false;
	int32_t v = tag_value(ck, t, SV_STR);
	if (v == SV_NONE)
		return false;
	*skip = v;
	struct sieve_node *s = ck_node(ck, v);
	if (name_is(ck, s, "i;octet"))
		n->cmp = SV_CMP_OCTET;
	else if (name_is(ck, s, "i;ascii-casemap"))
		n->cmp = SV_CMP_CASEMAP;
	else if (name_is(ck, s, "i;ascii-numeric") && (ck->exts & SV_X_NUMERIC))
		n->cmp = SV_CMP_NUMERIC;
	else
		return ck_fail(ck, s, "unknown comparator");
	return true;
}

static bool tag_part(struct checker *ck, struct sieve_node *n, struct sieve_node *t,
		     struct tagstate *st)
{
	bool sub = name_is(ck, t, "user") || name_is(ck, t, "detail");
	if (sub && !(ck->exts & SV_X_SUBADDRESS))
		return ck_fail(ck, t, ":user and :detail need require \"subaddress\"");
	if (!once(ck, t, &st->part))
		return false;
	n->part = name_is(ck, t, "all")       ? SV_P_ALL
		: name_is(ck, t, "localpart") ? SV_P_LOCAL
		: name_is(ck, t, "domain")    ? SV_P_DOMAIN
		: name_is(ck, t, "user")      ? SV_P_USER
					      : SV_P_DETAIL;
	return true;
}

static bool tag_vacation(struct checker *ck, struct sieve_node *n, struct sieve_node *t,
			 int32_t *skip)
{
	if (name_is(ck, t, "mime")) {
		n->mime = true;
		return true;
	}
	bool secs = name_is(ck, t, "seconds");
	if (name_is(ck, t, "days") || secs) {
		if (secs && !(ck->exts & SV_X_VACATION_SECONDS))
			return ck_fail(ck, t, ":seconds needs require \"vacation-seconds\"");
		int32_t v = tag_value(ck, t, SV_NUM);
		if (v == SV_NONE)
			return false;
		uint64_t d = ck_node(ck, v)->num;
		if (d == 0 && !secs)
			d = 1; /* RFC 5230 4.1: at least one day */
		n->seconds = secs;
		n->days = (uint32_t)(d > 3650 * 86400ULL ? 3650 * 86400ULL : d);
		*skip = v;
		return true;
	}
	int32_t *slot = name_is(ck, t, "subject") ? &n->subject
		: name_is(ck, t, "from")          ? &n->from
		: name_is(ck, t, "handle")        ? &n->handle
		: name_is(ck, t, "addresses")     ? &n->addrs
						  : NULL;
	if (slot == NULL)
		return ck_fail(ck, t, "unknown tag");
	int32_t v = tag_value(ck, t, slot == &n->addrs ? SV_LIST : SV_STR);
	if (v == SV_NONE)
		return false;
	*slot = v;
	*skip = v;
	return true;
}

static bool tag_mods(struct checker *ck, struct sieve_node *n, struct sieve_node *t)
{
	static const char *const names[] = {"lower",      "upper",         "lowerfirst",
					    "upperfirst", "quotewildcard", "length"};
	for (size_t i = 0; i < 6; i++) {
		if (name_is(ck, t, names[i])) {
			n->mods |= (uint8_t)(1u << i);
			return true;
		}
	}
	return ck_fail(ck, t, "unknown tag");
}

static bool tag_misc(struct checker *ck, struct sieve_node *n, struct sieve_node *t, unsigned tg,
		     struct tagstate *st, int32_t *skip)
{
	if ((tg & TG_SIZE) && (name_is(ck, t, "over") || name_is(ck, t, "under"))) {
		n->over = name_is(ck, t, "over");
		return once(ck, t, &st->size);
	}
	if ((tg & TG_COPY) && name_is(ck, t, "copy")) {
		if (!(ck->exts & SV_X_COPY))
			return ck_fail(ck, t, ":copy needs require \"copy\"");
		n->copy = true;
		return true;
	}
	if ((tg & TG_CREATE) && name_is(ck, t, "create")) {
		n->create = true;
		return true;
	}
	if ((tg & TG_FLAGS) && name_is(ck, t, "flags")) {
		if (!(ck->exts & SV_X_IMAP4FLAGS))
			return ck_fail(ck, t, ":flags needs require \"imap4flags\"");
		return (n->flags = *skip = tag_value(ck, t, SV_LIST)) != SV_NONE;
	}
	if ((tg & TG_BODY) &&
	    (name_is(ck, t, "raw") || name_is(ck, t, "text") || name_is(ck, t, "content"))) {
		if (!once(ck, t, &st->body))
			return false;
		n->body = name_is(ck, t, "raw")  ? SV_B_RAW
			: name_is(ck, t, "text") ? SV_B_TEXT
						 : SV_B_CONTENT;
		if (n->body == SV_B_CONTENT)
			return (n->ctypes = *skip = tag_value(ck, t, SV_LIST)) != SV_NONE;
		return true;
	}
	if ((tg & TG_INDEX) && (name_is(ck, t, "index") || name_is(ck, t, "last"))) {
		if (!(ck->exts & SV_X_INDEX))
			return ck_fail(ck, t, ":index needs require \"index\"");
		if (name_is(ck, t, "last"))
			return (n->last = true);
		int32_t v = tag_value(ck, t, SV_NUM);
		if (v == SV_NONE || !once(ck, t, &st->index))
			return false;
		uint64_t x = ck_node(ck, v)->num;
		if (x == 0)
			return ck_fail(ck, t, ":index must be at least 1");
		n->index = (uint32_t)(x > UINT32_MAX ? UINT32_MAX : x);
		*skip = v;
		return true;
	}
	if ((tg & TG_ZONE) && (name_is(ck, t, "zone") || name_is(ck, t, "originalzone"))) {
		if (!once(ck, t, &st->zone))
			return false;
		if (name_is(ck, t, "originalzone"))
			return (n->zone_orig = true);
		return (n->zone = *skip = tag_value(ck, t, SV_STR)) != SV_NONE;
	}
	if (tg & TG_VACATION)
		return tag_vacation(ck, n, t, skip);
	if (tg & TG_MODS)
		return tag_mods(ck, n, t);
	return ck_fail(ck, t, "unknown tag");
}

/* Resolve the tags of n; the positional arguments go to pos[]. */
static bool check_tags(struct checker *ck, struct sieve_node *n, unsigned tg, size_t *npos)
{
	struct tagstate st = {0};
	bool seen_pos = false;
	*npos = 0;
	n->cmp = SV_CMP_CASEMAP;
	for (int32_t a = n->args; a != SV_NONE; a = ck_node(ck, a)->next) {
		struct sieve_node *t = ck_node(ck, a);
		if (t->kind != SV_TAG) {
			if (*npos >= SV_POS_MAX)
				return ck_fail(ck, t, "too many arguments");
			n->pos[(*npos)++] = a;
			seen_pos = true;
			continue;
		}
		if (seen_pos)
			return ck_fail(ck, t, "tagged argument after a positional one");
		int32_t skip = SV_NONE;
		bool ok;
		if ((tg & TG_MATCH) &&
		    (name_is(ck, t, "is") || name_is(ck, t, "contains") ||
		     name_is(ck, t, "matches") || name_is(ck, t, "count") ||
		     name_is(ck, t, "value")))
			ok = tag_match(ck, n, t, &st, &skip);
		else if ((tg & TG_CMP) && name_is(ck, t, "comparator"))
			ok = tag_comparator(ck, n, t, &st, &skip);
		else if ((tg & TG_PART) &&
			 (name_is(ck, t, "all") || name_is(ck, t, "localpart") ||
			  name_is(ck, t, "domain") || name_is(ck, t, "user") ||
			  name_is(ck, t, "detail")))
			ok = tag_part(ck, n, t, &st);
		else
			ok = tag_misc(ck, n, t, tg, &st, &skip);
		if (!ok)
			return false;
		if (skip != SV_NONE)
			a = skip;
	}
	if ((tg & TG_SIZE) && !st.size)
		return ck_fail(ck, n, "size needs :over or :under");
	if (n->last && n->index == 0)
		return ck_fail(ck, n, ":last needs :index");
	return true;
}

/*
 * Positional signature: one letter per argument: L string list, S string,
 * N number; a lower-case first letter is optional (hasflag's variables,
 * setflag's variable name).
 */
static bool check_positional(struct checker *ck, struct sieve_node *n, const char *sig, size_t npos)
{
	size_t need = strlen(sig);
	bool opt = need > 0 && islower((unsigned char)sig[0]);
	if (opt && npos == need - 1) {
		/* The optional first one is absent: shift. */
		for (int i = SV_POS_MAX - 1; i > 0; i--)
			n->pos[i] = n->pos[i - 1];
		n->pos[0] = SV_NONE;
		npos++;
	}
	if (npos != need)
		return ck_fail(ck, n, "wrong number of arguments");
	for (size_t i = 0; i < need; i++) {
		if (n->pos[i] == SV_NONE)
			continue;
		struct sieve_node *a = ck_node(ck, n->pos[i]);
		char want = (char)toupper((unsigned char)sig[i]);
		bool ok = want == 'N' ? a->kind == SV_NUM
			: want == 'S' ? a->kind == SV_STR
				      : a->kind == SV_STR || a->kind == SV_LIST;
		if (!ok)
			return ck_fail(ck, a, "expected a %s",
				       want == 'N'           ? "number"
					       : want == 'S' ? "string"
							     : "string list");
	}
	return true;
}

static bool check_test(struct checker *ck, int32_t i);

static int lookup(const struct checker *ck, const struct sieve_node *n, const char *const *names,
		  int count)
{
	for (int k = 0; k < count; k++) {
		if (name_is(ck, n, names[k]))
			return k;
	}
	return -1;
}

static bool check_subtests(struct checker *ck, struct sieve_node *n, int want)
{
	int count = 0;
	for (int32_t t = n->tests; t != SV_NONE; t = ck_node(ck, t)->next) {
		if (!check_test(ck, t))
			return false;
		count++;
	}
	bool list = want < 0;
	if ((list && count == 0) || (!list && count != want))
		return ck_fail(ck, n, want == 0 ? "unexpected test" : "expected a test");
	return true;
}

static bool check_test(struct checker *ck, int32_t i)
{
	struct sieve_node *n = ck_node(ck, i);
	int id = lookup(ck, n, test_names, SV_T_COUNT);
	if (id < 0)
		return ck_fail(ck, n, "unknown test '%.*s'", (int)n->len, node_text(ck, n));
	if (test_exts[id] && !(ck->exts & test_exts[id]))
		return ck_fail(ck, n, "test %s needs require \"%s\"", test_names[id],
			       id == SV_T_HASFLAG               ? "imap4flags"
				       : id == SV_T_STRING      ? "variables"
				       : id == SV_T_CURRENTDATE ? "date"
								: test_names[id]);
	n->id = (uint8_t)id;
	static const struct {
		unsigned tags;
		const char *sig;
		int tests; /* -1 a test list, 0 none, 1 one */
	} sigs[SV_T_COUNT] = {
		[SV_T_ADDRESS] = {TG_MATCH | TG_CMP | TG_PART | TG_INDEX, "LL", 0},
		[SV_T_HEADER] = {TG_MATCH | TG_CMP | TG_INDEX, "LL", 0},
		[SV_T_EXISTS] = {0, "L", 0},
		[SV_T_SIZE] = {TG_SIZE, "N", 0},
		[SV_T_ALLOF] = {0, "", -1},
		[SV_T_ANYOF] = {0, "", -1},
		[SV_T_NOT] = {0, "", 1},
		[SV_T_TRUE] = {0, "", 0},
		[SV_T_FALSE] = {0, "", 0},
		[SV_T_ENVELOPE] = {TG_MATCH | TG_CMP | TG_PART, "LL", 0},
		[SV_T_HASFLAG] = {TG_MATCH | TG_CMP, "lL", 0},
		[SV_T_STRING] = {TG_MATCH | TG_CMP, "LL", 0},
		[SV_T_BODY] = {TG_MATCH | TG_CMP | TG_BODY, "L", 0},
		[SV_T_DATE] = {TG_MATCH | TG_CMP | TG_ZONE | TG_INDEX, "SSL", 0},
		[SV_T_CURRENTDATE] = {TG_MATCH | TG_CMP | TG_ZONE, "SL", 0},
	};
	size_t npos;
	if (!check_tags(ck, n, sigs[id].tags, &npos) ||
	    !check_positional(ck, n, sigs[id].sig, npos))
		return false;
	if (id == SV_T_CURRENTDATE && n->zone_orig)
		return ck_fail(ck, n, "currentdate has no :originalzone");
	return check_subtests(ck, n, sigs[id].tests);
}

static bool check_require(struct checker *ck, struct sieve_node *n)
{
	struct sieve_node *a = ck_node(ck, n->pos[0]);
	int32_t s = a->kind == SV_LIST ? a->args : n->pos[0];
	for (; s != SV_NONE; s = ck_node(ck, s)->next) {
		struct sieve_node *x = ck_node(ck, s);
		size_t k;
		for (k = 0; k < sizeof(ext_names) / sizeof(ext_names[0]); k++) {
			if (name_is(ck, x, ext_names[k].name))
				break;
		}
		if (k == sizeof(ext_names) / sizeof(ext_names[0]))
			return ck_fail(ck, x, "unsupported extension \"%.*s\"", (int)x->len,
				       node_text(ck, x));
		ck->exts |= ext_names[k].bit;
	}
	return true;
}

static bool check_block(struct checker *ck, int32_t first, bool top);

static bool check_command(struct checker *ck, int32_t i, int prev_id, bool *requires_ok)
{
	struct sieve_node *n = ck_node(ck, i);
	int id = lookup(ck, n, cmd_names, SV_C_COUNT);
	if (id < 0)
		return ck_fail(ck, n, "unknown command '%.*s'", (int)n->len, node_text(ck, n));
	if (cmd_exts[id] && !(ck->exts & cmd_exts[id]))
		return ck_fail(ck, n, "%s needs require \"%s\"", cmd_names[id],
			       id == SV_C_SETFLAG || id == SV_C_ADDFLAG || id == SV_C_REMOVEFLAG
				       ? "imap4flags"
				       : id == SV_C_SET ? "variables"
							: cmd_names[id]);
	n->id = (uint8_t)id;
	if (id == SV_C_REQUIRE && !*requires_ok)
		return ck_fail(ck, n, "require must come before other commands");
	if (id != SV_C_REQUIRE)
		*requires_ok = false;
	if ((id == SV_C_ELSIF || id == SV_C_ELSE) && prev_id != SV_C_IF && prev_id != SV_C_ELSIF)
		return ck_fail(ck, n, "%s without if", cmd_names[id]);
	static const struct {
		unsigned tags;
		const char *sig;
		int tests;
		bool block;
	} sigs[SV_C_COUNT] = {
		[SV_C_REQUIRE] = {0, "L", 0, false},
		[SV_C_IF] = {0, "", 1, true},
		[SV_C_ELSIF] = {0, "", 1, true},
		[SV_C_ELSE] = {0, "", 0, true},
		[SV_C_STOP] = {0, "", 0, false},
		[SV_C_KEEP] = {TG_FLAGS, "", 0, false},
		[SV_C_DISCARD] = {0, "", 0, false},
		[SV_C_FILEINTO] = {TG_FLAGS | TG_COPY | TG_CREATE, "S", 0, false},
		[SV_C_REDIRECT] = {TG_COPY, "S", 0, false},
		[SV_C_REJECT] = {0, "S", 0, false},
		[SV_C_EREJECT] = {0, "S", 0, false},
		[SV_C_SETFLAG] = {0, "sL", 0, false},
		[SV_C_ADDFLAG] = {0, "sL", 0, false},
		[SV_C_REMOVEFLAG] = {0, "sL", 0, false},
		[SV_C_SET] = {TG_MODS, "SS", 0, false},
		[SV_C_VACATION] = {TG_VACATION, "S", 0, false},
	};
	size_t npos;
	if (!check_tags(ck, n, sigs[id].tags, &npos) ||
	    !check_positional(ck, n, sigs[id].sig, npos) || !check_subtests(ck, n, sigs[id].tests))
		return false;
	if (sigs[id].block && n->block == SV_NONE)
		return ck_fail(ck, n, "%s needs a block", cmd_names[id]);
	if (!sigs[id].block && n->block != SV_NONE)
		return ck_fail(ck, n, "%s takes no block", cmd_names[id]);
	if (id == SV_C_REQUIRE)
		return check_require(ck, n);
	if (id == SV_C_REDIRECT) {
		struct sieve_node *a = ck_node(ck, n->pos[0]);
		const char *s = node_text(ck, a);
		if (!(ck->exts & SV_X_VARIABLES) && (a->len == 0 || memchr(s, '@', a->len) == NULL))
			return ck_fail(ck, a, "redirect needs an address");
	}
	if (n->block >= 0)
		return check_block(ck, n->block, false);
	return true;
}

static bool check_block(struct checker *ck, int32_t first, bool top)
{
	bool requires_ok = top;
	int prev = -1;
	for (int32_t c = first; c != SV_NONE; c = ck_node(ck, c)->next) {
		if (!check_command(ck, c, prev, &requires_ok))
			return false;
		prev = ck_node(ck, c)->id;
	}
	return true;
}

int sieve_compile(const char *src, size_t len, struct sieve_script **script_r, const char **error_r)
{
	*script_r = NULL;
	if (len > SIEVE_SCRIPT_MAX) {
		snprintf(sieve_error, sizeof(sieve_error), "1:1: script too large");
		*error_r = sieve_error;
		return -1;
	}
	if (memchr(src, '\0', len) != NULL) {
		snprintf(sieve_error, sizeof(sieve_error), "1:1: NUL byte in script");
		*error_r = sieve_error;
		return -1;
	}
	struct parser ps = {.src = src, .len = len, .line = 1, .col = 1};
	ps.sc = xcalloc(1, sizeof(*ps.sc));
	ps.sc->first = SV_NONE;
	lex(&ps);
	struct checker ck = {.ps = &ps};
	if (parse_commands(&ps, &ps.sc->first, false))
		check_block(&ck, ps.sc->first, true);
	if (ps.failed) {
		snprintf(sieve_error, sizeof(sieve_error), "%s", ps.err);
		*error_r = sieve_error;
		sieve_script_free(&ps.sc);
		return -1;
	}
	ps.sc->exts = ck.exts;
	*script_r = ps.sc;
	return 0;
}

void sieve_script_free(struct sieve_script **script)
{
	if (*script == NULL)
		return;
	free((*script)->nodes);
	free((*script)->pool);
	free(*script);
	*script = NULL;
}

size_t sieve_script_nodes(const struct sieve_script *script)
{
	return script->n_nodes;
}
