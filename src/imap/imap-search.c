/* SPDX-License-Identifier: MIT */
/*
 * SEARCH programs (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 7162 MODSEQ,
 * RFC 8514 SAVEDATE): the parser that turns the arguments of SEARCH, SORT
 * and THREAD into a tree of keys, and the evaluator that runs the tree
 * over the selected mailbox. Work is bounded on both sides: the parser
 * caps the number of keys and their nesting (OR and NOT nest without
 * parentheses, so the reader's own depth cap is not enough), and the
 * evaluator loads each message's data lazily and at most once per search
 * (flags and sizes come from one store listing, decoded header fields
 * from store_blob_parsed, message bytes through one mmap), evaluates the
 * cheap keys of an AND first, and stops with NO [LIMIT] once a search has
 * read IMAP_SEARCH_BLOB_BUDGET bytes of messages. String keys match a
 * case-folded substring of decoded text: GMime decodes RFC 2047 words in
 * header fields and transfer encodings and charsets of text parts. BODY
 * reads the text and message parts (a bounce's message/delivery-status
 * included, inner messages recursively); TEXT also reads the top header
 * and the header fields of every part and inner message.
 */
#include "imap/imap-private.h"

#include "lib/util.h"

#include <gmime/gmime.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum key_type {
	K_ALL,
	K_NONE,
	K_NEW, /* \Recent and not \Seen */
	K_AND,
	K_OR,
	K_NOT,
	K_SEQSET,
	K_UIDSET,
	K_FLAG_SET,
	K_FLAG_UNSET,
	K_KEYWORD,
	K_UNKEYWORD,
	K_LARGER,
	K_SMALLER,
	K_MODSEQ,
	K_BEFORE,
	K_ON,
	K_SINCE,
	K_SAVEDBEFORE,
	K_SAVEDON,
	K_SAVEDSINCE,
	K_SENTBEFORE,
	K_SENTON,
	K_SENTSINCE,
	K_SUBJECT,
	K_FROM,
	K_TO,
	K_CC,
	K_HEADER,
	K_BODY,
	K_TEXT,
};

/* How a key's data is reached: a cheaper key of an AND runs first. */
enum key_cost { COST_FLAGS, COST_PARSED, COST_BLOB };

struct imap_search_key {
	enum key_type type;
	enum key_cost cost;
	struct imap_search_key **children; /* AND: n; OR: 2; NOT: 1 */
	size_t n_children;
	struct imap_seqset set; /* SEQSET, UIDSET */
	uint32_t flag;          /* FLAG_SET, FLAG_UNSET */
	uint64_t num;           /* LARGER, SMALLER, MODSEQ */
	int64_t days;           /* date keys */
	char *str;              /* folded needle; keyword; NUL-terminated */
	size_t str_len;
	char *field; /* HEADER field name */
};

enum arg_kind {
	A_NONE,
	A_STRING,
	A_HEADER,
	A_DATE,
	A_NUMBER,
	A_KEYWORD,
	A_NOT,
	A_OR,
	A_UIDSET,
	A_MODSEQ,
};

static const struct key_def {
	const char *name;
	enum key_type type;
	enum arg_kind arg;
	uint32_t flag;
	const char *field; /* BCC: HEADER Bcc */
} key_defs[] = {
	{"ALL", K_ALL, A_NONE, 0, NULL},
	{"ANSWERED", K_FLAG_SET, A_NONE, STORE_FLAG_ANSWERED, NULL},
	{"BCC", K_HEADER, A_STRING, 0, "Bcc"},
	{"BEFORE", K_BEFORE, A_DATE, 0, NULL},
	{"BODY", K_BODY, A_STRING, 0, NULL},
	{"CC", K_CC, A_STRING, 0, NULL},
	{"DELETED", K_FLAG_SET, A_NONE, STORE_FLAG_DELETED, NULL},
	{"DRAFT", K_FLAG_SET, A_NONE, STORE_FLAG_DRAFT, NULL},
	{"FLAGGED", K_FLAG_SET, A_NONE, STORE_FLAG_FLAGGED, NULL},
	{"FROM", K_FROM, A_STRING, 0, NULL},
	{"HEADER", K_HEADER, A_HEADER, 0, NULL},
	{"KEYWORD", K_KEYWORD, A_KEYWORD, 0, NULL},
	{"LARGER", K_LARGER, A_NUMBER, 0, NULL},
	{"MODSEQ", K_MODSEQ, A_MODSEQ, 0, NULL},
	{"NEW", K_NEW, A_NONE, 0, NULL},
	{"NOT", K_NOT, A_NOT, 0, NULL},
	{"OLD", K_FLAG_UNSET, A_NONE, IMAP_VIEW_RECENT, NULL},
	{"ON", K_ON, A_DATE, 0, NULL},
	{"OR", K_OR, A_OR, 0, NULL},
	{"RECENT", K_FLAG_SET, A_NONE, IMAP_VIEW_RECENT, NULL},
	{"SAVEDATESUPPORTED", K_ALL, A_NONE, 0, NULL},
	{"SAVEDBEFORE", K_SAVEDBEFORE, A_DATE, 0, NULL},
	{"SAVEDON", K_SAVEDON, A_DATE, 0, NULL},
	{"SAVEDSINCE", K_SAVEDSINCE, A_DATE, 0, NULL},
	{"SEEN", K_FLAG_SET, A_NONE, STORE_FLAG_SEEN, NULL},
	{"SENTBEFORE", K_SENTBEFORE, A_DATE, 0, NULL},
	{"SENTON", K_SENTON, A_DATE, 0, NULL},
	{"SENTSINCE", K_SENTSINCE, A_DATE, 0, NULL},
	{"SINCE", K_SINCE, A_DATE, 0, NULL},
	{"SMALLER", K_SMALLER, A_NUMBER, 0, NULL},
	{"SUBJECT", K_SUBJECT, A_STRING, 0, NULL},
	{"TEXT", K_TEXT, A_STRING, 0, NULL},
	{"TO", K_TO, A_STRING, 0, NULL},
	{"UID", K_UIDSET, A_UIDSET, 0, NULL},
	{"UNANSWERED", K_FLAG_UNSET, A_NONE, STORE_FLAG_ANSWERED, NULL},
	{"UNDELETED", K_FLAG_UNSET, A_NONE, STORE_FLAG_DELETED, NULL},
	{"UNDRAFT", K_FLAG_UNSET, A_NONE, STORE_FLAG_DRAFT, NULL},
	{"UNFLAGGED", K_FLAG_UNSET, A_NONE, STORE_FLAG_FLAGGED, NULL},
	{"UNKEYWORD", K_UNKEYWORD, A_KEYWORD, 0, NULL},
	{"UNSEEN", K_FLAG_UNSET, A_NONE, STORE_FLAG_SEEN, NULL},
};

/* --- small shared helpers ----------------------------------------------------- */

bool imap_search_charset_ok(const char *charset)
{
	return strcasecmp(charset, "UTF-8") == 0 || strcasecmp(charset, "US-ASCII") == 0;
}

/* One UTF-8 sequence at s (len > 0): its length, or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	size_t n;
	uint32_t cp, min;
	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

void imap_search_fold(const char *str, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)str;
	buf_reserve(out, len + 1);
	for (size_t i = 0; i < len;) {
		if (s[i] < 0x80) {
			char c = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
			buf_append(out, &c, 1);
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			buf_append(out, s + i, 1);
			i++;
			continue;
		}
		char enc[8];
		int m = g_unichar_to_utf8(g_unichar_tolower(cp), enc);
		buf_append(out, enc, (size_t)m);
		i += n;
	}
	buf_cstr(out);
}

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool date_valid(unsigned y, unsigned m, unsigned d)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || y < 1 || y > 9999)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return !(m == 2 && d == 29 && !leap);
}

static int month_index(const char *s)
{
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, month_names[i], 3) == 0)
			return i + 1;
	return 0;
}

/* Up to max digits at *p (at least one); advances *p. */
static bool read_digits(const char **p, unsigned max, unsigned *v_r)
{
	unsigned v = 0, n = 0;
	while (n < max && **p >= '0' && **p <= '9') {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		n++;
	}
	*v_r = v;
	return n > 0;
}

bool imap_search_parse_date(const char *s, int64_t *days_r)
{
	unsigned d, y;
	const char *p = s;
	if (!read_digits(&p, 2, &d) || *p++ != '-')
		return false;
	int m = month_index(p);
	if (m == 0 || strlen(p) < 4 || p[3] != '-')
		return false;
	p += 4;
	const char *ystart = p;
	if (!read_digits(&p, 4, &y) || p - ystart != 4 || *p != '\0')
		return false;
	if (!date_valid(y, (unsigned)m, d))
		return false;
	*days_r = days_from_civil(y, (unsigned)m, d);
	return true;
}

bool imap_search_header_day(const char *value, int64_t *days_r)
{
	const char *p = value;
	while (*p == ' ' || *p == '\t')
		p++;
	/* Optional day name: "Tue," */
	const char *comma = strchr(p, ',');
	if (comma != NULL && comma - p <= 10)
		p = comma + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	unsigned d, y;
	if (!read_digits(&p, 2, &d))
		return false;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	int m = month_index(p);
	if (m == 0)
		return false;
	p += 3;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	const char *ystart = p;
	if (!read_digits(&p, 4, &y))
		return false;
	if (p - ystart == 2) /* RFC 5322 4.3 obsolete two-digit years */
		y += y < 50 ? 2000 : 1900;
	else if (p - ystart != 4)
		return false;
	if (!date_valid(y, (unsigned)m, d))
		return false;
	*days_r = days_from_civil(y, (unsigned)m, d);
	return true;
}

bool imap_search_has_keyword(const char *keywords, const char *kw)
{
	size_t kwlen = strlen(kw);
	const char *p = keywords != NULL ? keywords : "";
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (n == kwlen && strncasecmp(p, kw, n) == 0)
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* --- the parser ---------------------------------------------------------------- */

struct sparser {
	const struct imap_search_limits *lim;
	size_t n_keys;
	bool uses_modseq, needs_parsed, needs_blob;
	const char *error;
};

static void key_free(struct imap_search_key *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->n_children; i++)
		key_free(k->children[i]);
	free(k->children);
	imap_seqset_free(&k->set);
	free(k->str);
	free(k->field);
	free(k);
}

static struct imap_search_key *key_new(struct sparser *p, enum key_type type)
{
	if (++p->n_keys > IMAP_SEARCH_MAX_KEYS) {
		p->error = "Too many search keys";
		return NULL;
	}
	struct imap_search_key *k = xcalloc(1, sizeof(*k));
	k->type = type;
	return k;
}

static void key_add_child(struct imap_search_key *k, struct imap_search_key *child)
{
	k->children = xrealloc(k->children, (k->n_children + 1) * sizeof(*k->children));
	k->children[k->n_children++] = child;
	if (child->cost > k->cost)
		k->cost = child->cost;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned dgt = (unsigned)(*s - '0');
		if (v > (max - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*v_r = v;
	return true;
}

static bool looks_like_seqset(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789*:,$") == strlen(s);
}

static int parse_string_arg(struct sparser *p, const struct imap_arg **ap,
			    struct imap_search_key *k)
{
	const char *str;
	if (!imap_arg_get_astring(*ap, &str)) {
		p->error = "Search key needs a string";
		return -1;
	}
	size_t len = (*ap)->type == IMAP_ARG_NIL ? 3 : (*ap)->len;
	if (!imap_utf8_valid(str, len)) {
		p->error = "Search string is not valid UTF-8";
		return -1;
	}
	(*ap)++;
	struct buf b;
	buf_init(&b);
	imap_search_fold(str, len, &b);
	k->str_len = b.len;
	k->str = b.data != NULL ? b.data : xstrdup("");
	return 0;
}

static int parse_date_arg(struct sparser *p, const struct imap_arg **ap, struct imap_search_key *k)
{
	const char *str;
	if (((*ap)->type != IMAP_ARG_ATOM && (*ap)->type != IMAP_ARG_QUOTED) ||
	    !imap_arg_get_astring(*ap, &str) || !imap_search_parse_date(str, &k->days)) {
		p->error = "Invalid search date";
		return -1;
	}
	(*ap)++;
	return 0;
}

static int parse_set_arg(struct sparser *p, const char *text, uint32_t star,
			 struct imap_search_key *k)
{
	const char *error;
	if (imap_seqset_parse(text, star, &k->set, &error) < 0) {
		p->error = "Invalid sequence set";
		return -1;
	}
	return 0;
}

static int parse_keyword_arg(struct sparser *p, const struct imap_arg **ap,
			     struct imap_search_key *k)
{
	const char *kw;
	if (!imap_arg_get_flag(*ap, &kw)) {
		p->error = "KEYWORD needs a flag keyword";
		return -1;
	}
	(*ap)++;
	/* System flags are accepted too (clients do send KEYWORD \Seen). */
	static const struct {
		const char *name;
		uint32_t bit;
	} sys[] = {{"\\Seen", STORE_FLAG_SEEN},
		   {"\\Answered", STORE_FLAG_ANSWERED},
		   {"\\Flagged", STORE_FLAG_FLAGGED},
		   {"\\Deleted", STORE_FLAG_DELETED},
		   {"\\Draft", STORE_FLAG_DRAFT}};
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (strcasecmp(kw, sys[i].name) == 0) {
			k->type = k->type == K_KEYWORD ? K_FLAG_SET : K_FLAG_UNSET;
			k->flag = sys[i].bit;
			return 0;
		}
	}
	if (kw[0] == '\\' || !store_keyword_valid(kw)) {
		p->error = "Invalid keyword";
		return -1;
	}
	k->str = xstrdup(kw);
	k->str_len = strlen(kw);
	return 0;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 3.1.5) */
static int parse_modseq_arg(struct sparser *p, const struct imap_arg **ap,
			    struct imap_search_key *k)
{
	const char *s;
	if ((*ap)->type == IMAP_ARG_QUOTED || (*ap)->type == IMAP_ARG_LITERAL) {
		const char *type;
		(*ap)++;
		if (!imap_arg_get_atom(*ap, &type) ||
		    (strcasecmp(type, "priv") != 0 && strcasecmp(type, "shared") != 0 &&
		     strcasecmp(type, "all") != 0)) {
			p->error = "Invalid MODSEQ entry type";
			return -1;
		}
		(*ap)++;
	}
	if (!imap_arg_get_atom(*ap, &s) || !parse_u64(s, INT64_MAX, &k->num)) {
		p->error = "Invalid MODSEQ value";
		return -1;
	}
	(*ap)++;
	p->uses_modseq = true;
	return 0;
}

static struct imap_search_key *parse_key(struct sparser *p, const struct imap_arg **ap,
					 unsigned depth);

/* Keys up to the EOL of a list (or of the command), ANDed. */
static struct imap_search_key *parse_and(struct sparser *p, const struct imap_arg *args,
					 unsigned depth)
{
	if (imap_arg_is_eol(args)) {
		p->error = "Missing search key";
		return NULL;
	}
	struct imap_search_key *first = parse_key(p, &args, depth);
	if (first == NULL || imap_arg_is_eol(args))
		return first;
	struct imap_search_key *and = key_new(p, K_AND);
	if (and == NULL) {
		key_free(first);
		return NULL;
	}
	key_add_child(and, first);
	while (!imap_arg_is_eol(args)) {
		struct imap_search_key *k = parse_key(p, &args, depth);
		if (k == NULL) {
			key_free(and);
			return NULL;
		}
		key_add_child(and, k);
	}
	return and;
}

static const struct key_def *key_def_find(const char *name)
{
	for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++)
		if (strcasecmp(key_defs[i].name, name) == 0)
			return &key_defs[i];
	return NULL;
}

static enum key_cost key_cost_of(enum key_type t)
{
	switch (t) {
	case K_SENTBEFORE:
	case K_SENTON:
	case K_SENTSINCE:
	case K_SUBJECT:
	case K_FROM:
	case K_TO:
	case K_CC:
		return COST_PARSED;
	case K_HEADER:
	case K_BODY:
	case K_TEXT:
		return COST_BLOB;
	default:
		return COST_FLAGS;
	}
}

/* The argument(s) of a named key. */
static int parse_key_args(struct sparser *p, const struct key_def *def, const struct imap_arg **ap,
			  unsigned depth, struct imap_search_key *k)
{
	const char *s;
	switch (def->arg) {
	case A_NONE:
		return 0;
	case A_STRING:
		if (def->field != NULL)
			k->field = xstrdup(def->field);
		return parse_string_arg(p, ap, k);
	case A_HEADER:
		if (!imap_arg_get_astring(*ap, &s) || s[0] == '\0' ||
		    strpbrk(s, ": \t\r\n") != NULL) {
			p->error = "Invalid header field name";
			return -1;
		}
		k->field = xstrdup(s);
		(*ap)++;
		return parse_string_arg(p, ap, k);
	case A_DATE:
		return parse_date_arg(p, ap, k);
	case A_NUMBER:
		if (!imap_arg_get_atom(*ap, &s) || !parse_u64(s, UINT64_MAX / 2, &k->num)) {
			p->error = "Invalid number";
			return -1;
		}
		(*ap)++;
		return 0;
	case A_KEYWORD:
		return parse_keyword_arg(p, ap, k);
	case A_UIDSET:
		if (!imap_arg_get_atom(*ap, &s) || parse_set_arg(p, s, p->lim->max_uid, k) < 0) {
			p->error = "Invalid UID set";
			return -1;
		}
		(*ap)++;
		return 0;
	case A_MODSEQ:
		return parse_modseq_arg(p, ap, k);
	case A_NOT:
	case A_OR:
		for (int i = 0; i < (def->arg == A_OR ? 2 : 1); i++) {
			if (imap_arg_is_eol(*ap)) {
				p->error = "Missing search key";
				return -1;
			}
			struct imap_search_key *c = parse_key(p, ap, depth + 1);
			if (c == NULL)
				return -1;
			key_add_child(k, c);
		}
		return 0;
	}
	return -1;
}

static struct imap_search_key *parse_key(struct sparser *p, const struct imap_arg **ap,
					 unsigned depth)
{
	if (depth >= IMAP_SEARCH_MAX_DEPTH) {
		p->error = "Search program nested too deeply";
		return NULL;
	}
	const struct imap_arg *arg = *ap;
	if (arg->type == IMAP_ARG_LIST) {
		(*ap)++;
		return parse_and(p, arg->list, depth + 1);
	}
	const char *name;
	if (!imap_arg_get_atom(arg, &name)) {
		p->error = "Invalid search key";
		return NULL;
	}
	(*ap)++;
	struct imap_search_key *k;
	if (looks_like_seqset(name)) {
		k = key_new(p, K_SEQSET);
		if (k != NULL && parse_set_arg(p, name, p->lim->n_messages, k) < 0) {
			key_free(k);
			return NULL;
		}
		return k;
	}
	const struct key_def *def = key_def_find(name);
	if (def == NULL) {
		p->error = "Unknown search key";
		return NULL;
	}
	k = key_new(p, def->type);
	if (k == NULL)
		return NULL;
	k->flag = def->flag;
	if (parse_key_args(p, def, ap, depth, k) < 0) {
		key_free(k);
		return NULL;
	}
	enum key_cost c = key_cost_of(k->type);
	if (c > k->cost)
		k->cost = c;
	p->needs_parsed |= c == COST_PARSED;
	p->needs_blob |= c == COST_BLOB;
	return k;
}

/* Stable: cheaper children of an AND first, so costly ones run less often. */
static void key_order(struct imap_search_key *k)
{
	for (size_t i = 0; i < k->n_children; i++)
		key_order(k->children[i]);
	if (k->type != K_AND)
		return;
	for (size_t i = 1; i < k->n_children; i++) {
		struct imap_search_key *c = k->children[i];
		size_t j = i;
		for (; j > 0 && k->children[j - 1]->cost > c->cost; j--)
			k->children[j] = k->children[j - 1];
		k->children[j] = c;
	}
}

int imap_search_parse(const struct imap_arg *args, const struct imap_search_limits *lim,
		      struct imap_search_program **prog_r, const char **error_r)
{
	struct sparser p = {.lim = lim};
	struct imap_search_key *root = parse_and(&p, args, 0);
	if (root == NULL) {
		*error_r = p.error != NULL ? p.error : "Invalid search program";
		return -1;
	}
	key_order(root);
	struct imap_search_program *prog = xcalloc(1, sizeof(*prog));
	prog->root = root;
	prog->n_keys = p.n_keys;
	prog->uses_modseq = p.uses_modseq;
	prog->needs_parsed = p.needs_parsed;
	prog->needs_blob = p.needs_blob;
	*prog_r = prog;
	return 0;
}

void imap_search_program_free(struct imap_search_program **prog)
{
	if (*prog == NULL)
		return;
	key_free((*prog)->root);
	free(*prog);
	*prog = NULL;
}

static int parse_return_opts(const struct imap_arg *list, struct imap_search_options *o,
			     const char **error_r)
{
	o->esearch = true;
	for (; !imap_arg_is_eol(list); list++) {
		const char *name;
		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid RETURN option";
			return -1;
		}
		if (strcasecmp(name, "MIN") == 0)
			o->ret_min = true;
		else if (strcasecmp(name, "MAX") == 0)
			o->ret_max = true;
		else if (strcasecmp(name, "ALL") == 0)
			o->ret_all = true;
		else if (strcasecmp(name, "COUNT") == 0)
			o->ret_count = true;
		else if (strcasecmp(name, "SAVE") == 0)
			o->ret_save = true;
		else {
			*error_r = "Unknown RETURN option";
			return -1;
		}
	}
	/* RFC 4731 3.1: RETURN () means RETURN (ALL). */
	if (!o->ret_min && !o->ret_max && !o->ret_count && !o->ret_save)
		o->ret_all = true;
	return 0;
}

int imap_search_parse_command(const struct imap_arg *args, const struct imap_search_limits *lim,
			      struct imap_search_options *opts, struct imap_search_program **prog_r,
			      const char **error_r)
{
	*opts = (struct imap_search_options){0};
	if (imap_arg_atom_equals(&args[0], "RETURN")) {
		const struct imap_arg *list;
		if (!imap_arg_get_list(&args[1], &list, NULL)) {
			*error_r = "RETURN needs a list of options";
			return -1;
		}
		if (parse_return_opts(list, opts, error_r) < 0)
			return -1;
		args += 2;
	}
	if (imap_arg_atom_equals(&args[0], "CHARSET")) {
		const char *cs;
		if (!imap_arg_get_astring(&args[1], &cs)) {
			*error_r = "CHARSET needs a name";
			return -1;
		}
		if (!imap_search_charset_ok(cs)) {
			opts->bad_charset = true;
			*error_r = "Unsupported charset";
			return -1;
		}
		args += 2;
	}
	return imap_search_parse(args, lim, prog_r, error_r);
}

/* --- message data, loaded lazily --------------------------------------------- */

struct search_eval {
	struct imap_session *s;
	uint64_t blob_bytes; /* read so far, against IMAP_SEARCH_BLOB_BUDGET */
	bool limit;
	const char *error;
};

struct msg_ctx {
	uint32_t seq;
	const struct store_message_ex *m;
	int parsed_state; /* 0 not loaded, 1 loaded, -1 unavailable */
	struct store_parsed_r parsed;
	int blob_state;
	int fd;
	const char *map;
	size_t map_len;
	size_t hdr_len; /* bytes of the top-level header block */
	bool hdr_text_done, body_done;
	struct buf hdr_text;  /* folded "Name: decoded value\n" lines */
	struct buf body;      /* folded content of the text and message parts */
	struct buf part_hdrs; /* folded header fields of the parts and inner messages */
};

static void msg_ctx_release(struct msg_ctx *mc)
{
	store_parsed_r_free(&mc->parsed);
	if (mc->map != NULL && mc->map_len > 0)
		munmap((void *)mc->map, mc->map_len);
	if (mc->fd >= 0)
		close(mc->fd);
	buf_deinit(&mc->hdr_text);
	buf_deinit(&mc->body);
	buf_deinit(&mc->part_hdrs);
}

static const struct store_parsed_r *msg_parsed(struct search_eval *ev, struct msg_ctx *mc)
{
	if (mc->parsed_state == 0) {
		int r = store_blob_parsed(ev->s->store, mc->m->msg.blob_id, &mc->parsed);
		mc->parsed_state = r == 1 ? 1 : -1;
	}
	return mc->parsed_state == 1 ? &mc->parsed : NULL;
}

/* End of the header block: offset after the blank line (or len). */
static size_t header_block_len(const char *d, size_t len)
{
	if (len >= 2 && d[0] == '\r' && d[1] == '\n')
		return 2;
	if (len >= 1 && d[0] == '\n')
		return 1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (d[i] != '\n')
			continue;
		if (d[i + 1] == '\n')
			return i + 2;
		if (d[i + 1] == '\r' && i + 2 < len && d[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

static bool msg_map(struct search_eval *ev, struct msg_ctx *mc)
{
	if (mc->blob_state != 0)
		return mc->blob_state > 0;
	mc->blob_state = -1;
	mc->fd = store_blob_open(ev->s->store, mc->m->msg.blob_id);
	struct stat st;
	if (mc->fd < 0 || fstat(mc->fd, &st) < 0)
		return false;
	size_t len = (size_t)st.st_size;
	if (ev->blob_bytes + len > IMAP_SEARCH_BLOB_BUDGET) {
		ev->limit = true;
		return false;
	}
	ev->blob_bytes += len;
	if (len > 0) {
		void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, mc->fd, 0);
		if (m == MAP_FAILED)
			return false;
		mc->map = m;
	} else {
		mc->map = "";
	}
	mc->map_len = len;
	mc->hdr_len = header_block_len(mc->map, len);
	mc->blob_state = 1;
	return true;
}

/* Calls cb for each header field of the top-level block: name, unfolded raw value. */
static bool each_header(const char *d, size_t len,
			bool (*cb)(void *ctx, const char *name, size_t nlen, const char *value),
			void *ctx)
{
	struct buf v;
	buf_init(&v);
	size_t i = 0;
	bool stop = false;
	while (i < len && !stop) {
		size_t eol = i;
		while (eol < len && d[eol] != '\n')
			eol++;
		const char *colon = memchr(d + i, ':', eol - i);
		if (colon == NULL || colon == d + i || d[i] == ' ' || d[i] == '\t') {
			i = eol + 1;
			continue;
		}
		size_t nlen = (size_t)(colon - (d + i));
		const char *name = d + i;
		buf_clear(&v);
		size_t p = (size_t)(colon - d) + 1;
		for (;;) {
			size_t e = p;
			while (e < len && d[e] != '\n')
				e++;
			size_t seg = e - p;
			if (seg > 0 && d[p + seg - 1] == '\r')
				seg--;
			for (size_t j = 0; j < seg; j++)
				if (d[p + j] != '\0')
					buf_append(&v, d + p + j, 1);
			p = e + 1;
			if (p >= len || (d[p] != ' ' && d[p] != '\t'))
				break;
		}
		i = p;
		while (nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
			nlen--;
		stop = cb(ctx, name, nlen, buf_cstr(&v));
	}
	buf_deinit(&v);
	return stop;
}

/* RFC 2047 words decoded, 8-bit text made UTF-8, then folded into out. */
static void fold_header_value(const char *raw, struct buf *out)
{
	while (*raw == ' ' || *raw == '\t')
		raw++;
	char *dec = g_mime_utils_header_decode_text(NULL, raw);
	const char *t = dec != NULL ? dec : raw;
	imap_search_fold(t, strlen(t), out);
	g_free(dec);
}

struct header_match {
	const char *field;
	const char *needle;
	size_t needle_len;
	bool found;
};

static bool header_match_cb(void *ctx, const char *name, size_t nlen, const char *value)
{
	struct header_match *hm = ctx;
	if (strlen(hm->field) != nlen || strncasecmp(hm->field, name, nlen) != 0)
		return false;
	if (hm->needle_len == 0) {
		hm->found = true;
		return true;
	}
	struct buf f;
	buf_init(&f);
	fold_header_value(value, &f);
	hm->found = f.len > 0 && memmem(f.data, f.len, hm->needle, hm->needle_len) != NULL;
	buf_deinit(&f);
	return hm->found;
}

static bool hdr_text_cb(void *ctx, const char *name, size_t nlen, const char *value)
{
	struct buf *out = ctx;
	imap_search_fold(name, nlen, out);
	buf_append(out, ": ", 2);
	fold_header_value(value, out);
	buf_append(out, "\n", 1);
	return false;
}

#define SEARCH_BODY_TEXT_MAX (64u * 1024 * 1024)

struct body_walk {
	struct buf *out;  /* the parts' content */
	struct buf *hdrs; /* the parts' header fields (TEXT) */
	unsigned depth;
};

static void body_part_cb(GMimeObject *parent, GMimeObject *part, gpointer data);

/* Every header field of object, "name: decoded value\n", folded. */
static void body_headers(GMimeObject *object, struct buf *out)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(object);
	int n = list != NULL ? g_mime_header_list_get_count(list) : 0;
	for (int i = 0; i < n && out->len < SEARCH_BODY_TEXT_MAX; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = g_mime_header_get_name(h);
		const char *value = g_mime_header_get_raw_value(h);
		imap_search_fold(name != NULL ? name : "", name != NULL ? strlen(name) : 0, out);
		buf_append(out, ": ", 2);
		fold_header_value(value != NULL ? value : "", out);
		buf_append(out, "\n", 1);
	}
}

/*
 * The body of an inner message is the outer message's body: its header
 * fields go with the parts' headers (TEXT), its parts are walked. The top
 * message's own header is searched from the raw bytes (hdr_text).
 */
static void body_walk_message(GMimeMessage *msg, struct body_walk *w)
{
	if (msg == NULL || w->depth >= 8)
		return;
	if (w->depth > 0)
		body_headers(GMIME_OBJECT(msg), w->hdrs);
	w->depth++;
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	if (top != NULL && !GMIME_IS_MULTIPART(top))
		body_part_cb(NULL, top, w);
	else
		g_mime_message_foreach(msg, body_part_cb, w);
	w->depth--;
}

/*
 * A leaf of type message but not message/rfc822 (delivery-status, disposition-
 * notification, ...): its content with the transfer encoding undone. Such
 * parts are text in all but name; other types (images, PDFs) are skipped,
 * as Dovecot does without a full-text index.
 */
static void body_message_leaf(GMimePart *part, struct buf *out)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	if (content == NULL)
		return;
	GMimeStream *mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(content, mem) >= 0) {
		GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		if (bytes != NULL && bytes->len > 0) {
			imap_search_fold((const char *)bytes->data, bytes->len, out);
			buf_append(out, "\n", 1);
		}
	}
	g_object_unref(mem);
}

static void body_part_cb(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct body_walk *w = data;
	if (w->out->len >= SEARCH_BODY_TEXT_MAX)
		return;
	/* Sub-parts' MIME headers are part of the message body (RFC 3501 TEXT). */
	if (parent != NULL || w->depth > 1)
		body_headers(part, w->hdrs);
	if (GMIME_IS_MESSAGE_PART(part)) {
		body_walk_message(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part)), w);
		return;
	}
	if (GMIME_IS_TEXT_PART(part)) {
		char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
		if (text == NULL)
			return;
		imap_search_fold(text, strlen(text), w->out);
		buf_append(w->out, "\n", 1);
		g_free(text);
		return;
	}
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	const char *type = ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
	if (GMIME_IS_PART(part) && type != NULL && strcasecmp(type, "message") == 0)
		body_message_leaf(GMIME_PART(part), w->out);
}

static const struct buf *msg_body(struct search_eval *ev, struct msg_ctx *mc)
{
	if (mc->body_done)
		return &mc->body;
	mc->body_done = true;
	if (!msg_map(ev, mc) || mc->map_len == 0)
		return &mc->body;
	int fd = dup(mc->fd);
	if (fd < 0)
		return &mc->body;
	GMimeStream *stream = g_mime_stream_mmap_new(fd, PROT_READ, MAP_PRIVATE);
	if (stream == NULL) {
		close(fd);
		return &mc->body;
	}
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	struct body_walk w = {.out = &mc->body, .hdrs = &mc->part_hdrs};
	body_walk_message(msg, &w);
	if (msg != NULL)
		g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(stream);
	buf_cstr(&mc->body);
	buf_cstr(&mc->part_hdrs);
	return &mc->body;
}

static const struct buf *msg_hdr_text(struct search_eval *ev, struct msg_ctx *mc)
{
	if (!mc->hdr_text_done) {
		mc->hdr_text_done = true;
		if (msg_map(ev, mc))
			each_header(mc->map, mc->hdr_len, hdr_text_cb, &mc->hdr_text);
		buf_cstr(&mc->hdr_text);
	}
	return &mc->hdr_text;
}

/* --- evaluation ------------------------------------------------------------------ */

static bool text_has(const char *hay, size_t hay_len, const struct imap_search_key *k)
{
	if (k->str_len == 0)
		return true;
	return hay != NULL && hay_len >= k->str_len &&
		memmem(hay, hay_len, k->str, k->str_len) != NULL;
}

static bool field_has(const char *value, const struct imap_search_key *k)
{
	if (value == NULL)
		return k->str_len == 0;
	struct buf f;
	buf_init(&f);
	imap_search_fold(value, strlen(value), &f);
	bool r = text_has(f.data, f.len, k);
	buf_deinit(&f);
	return r;
}

static bool uid_saved(const struct imap_session *s, uint32_t uid)
{
	return imap_uid_find(s->saved_uids, s->n_saved_uids, uid, NULL);
}

static int64_t day_of(time_t t)
{
	int64_t v = (int64_t)t;
	return v >= 0 ? v / 86400 : -((-v + 86399) / 86400);
}

static int64_t msg_sent_day(struct search_eval *ev, struct msg_ctx *mc)
{
	const struct store_parsed_r *p = msg_parsed(ev, mc);
	int64_t days;
	if (p != NULL && p->envelope != NULL && p->envelope[0] == '(' && p->envelope[1] == '"') {
		/* The ENVELOPE starts with the Date: value as written. */
		const char *end = strchr(p->envelope + 2, '"');
		if (end != NULL) {
			char *v = xstrndup(p->envelope + 2, (size_t)(end - p->envelope - 2));
			bool ok = imap_search_header_day(v, &days);
			free(v);
			if (ok)
				return days;
		}
	}
	if (p != NULL && p->date != 0)
		return day_of(p->date);
	return day_of(mc->m->msg.internal_date);
}

static int date_cmp_match(enum key_type t, int64_t day, int64_t want)
{
	switch (t) {
	case K_BEFORE:
	case K_SAVEDBEFORE:
	case K_SENTBEFORE:
		return day < want;
	case K_ON:
	case K_SAVEDON:
	case K_SENTON:
		return day == want;
	default:
		return day >= want;
	}
}

static bool key_match(struct search_eval *ev, const struct imap_search_key *k, struct msg_ctx *mc);

static bool key_match_text(struct search_eval *ev, const struct imap_search_key *k,
			   struct msg_ctx *mc)
{
	const struct store_parsed_r *p;
	const struct buf *b;
	switch (k->type) {
	case K_SUBJECT:
		return (p = msg_parsed(ev, mc)) != NULL && field_has(p->subject, k);
	case K_FROM:
		return (p = msg_parsed(ev, mc)) != NULL && field_has(p->from, k);
	case K_TO:
		return (p = msg_parsed(ev, mc)) != NULL && field_has(p->to, k);
	case K_CC:
		return (p = msg_parsed(ev, mc)) != NULL && field_has(p->cc, k);
	case K_HEADER: {
		if (!msg_map(ev, mc))
			return false;
		struct header_match hm = {k->field, k->str, k->str_len, false};
		each_header(mc->map, mc->hdr_len, header_match_cb, &hm);
		return hm.found;
	}
	case K_BODY:
		b = msg_body(ev, mc);
		return text_has(b->data, b->len, k);
	case K_TEXT:
		b = msg_hdr_text(ev, mc);
		if (text_has(b->data, b->len, k))
			return true;
		b = msg_body(ev, mc);
		if (text_has(b->data, b->len, k))
			return true;
		/* The parts' own header fields are part of the body too. */
		return text_has(mc->part_hdrs.data, mc->part_hdrs.len, k);
	default:
		return false;
	}
}

/* The stored flags, with \Recent from the session's view. */
static uint32_t msg_flags(const struct search_eval *ev, const struct msg_ctx *mc)
{
	const struct imap_view *v = ev->s->view;
	uint32_t flags = mc->m->msg.flags & ~IMAP_VIEW_SESSION_BITS;
	if (v != NULL && mc->seq >= 1 && mc->seq <= v->count)
		flags |= v->flags[mc->seq - 1] & IMAP_VIEW_RECENT;
	return flags;
}

static bool key_match(struct search_eval *ev, const struct imap_search_key *k, struct msg_ctx *mc)
{
	const struct store_message *m = &mc->m->msg;
	if (ev->limit || ev->error != NULL)
		return false;
	switch (k->type) {
	case K_ALL:
		return true;
	case K_NONE:
		return false;
	case K_AND:
		for (size_t i = 0; i < k->n_children; i++)
			if (!key_match(ev, k->children[i], mc))
				return false;
		return true;
	case K_OR:
		if (k->children[0]->cost <= k->children[1]->cost)
			return key_match(ev, k->children[0], mc) ||
				key_match(ev, k->children[1], mc);
		return key_match(ev, k->children[1], mc) || key_match(ev, k->children[0], mc);
	case K_NOT:
		return !key_match(ev, k->children[0], mc);
	case K_SEQSET:
		return k->set.saved ? uid_saved(ev->s, m->uid)
				    : imap_seqset_contains(&k->set, mc->seq);
	case K_UIDSET:
		return k->set.saved ? uid_saved(ev->s, m->uid)
				    : imap_seqset_contains(&k->set, m->uid);
	case K_FLAG_SET:
		return (msg_flags(ev, mc) & k->flag) != 0;
	case K_FLAG_UNSET:
		return (msg_flags(ev, mc) & k->flag) == 0;
	case K_NEW:
		return (msg_flags(ev, mc) & (IMAP_VIEW_RECENT | STORE_FLAG_SEEN)) ==
			IMAP_VIEW_RECENT;
	case K_KEYWORD:
		return imap_search_has_keyword(mc->m->keywords, k->str);
	case K_UNKEYWORD:
		return !imap_search_has_keyword(mc->m->keywords, k->str);
	case K_LARGER:
		return m->size > k->num;
	case K_SMALLER:
		return m->size < k->num;
	case K_MODSEQ:
		return m->modseq >= k->num;
	case K_BEFORE:
	case K_ON:
	case K_SINCE:
		return date_cmp_match(k->type, day_of(m->internal_date), k->days);
	case K_SAVEDBEFORE:
	case K_SAVEDON:
	case K_SAVEDSINCE:
		return date_cmp_match(k->type, day_of(m->save_date), k->days);
	case K_SENTBEFORE:
	case K_SENTON:
	case K_SENTSINCE:
		return date_cmp_match(k->type, msg_sent_day(ev, mc), k->days);
	default:
		return key_match_text(ev, k, mc);
	}
}

/*
 * Keys that every match must pass (the program's top level, through its
 * ANDs) and that the store can narrow the listing by: sequence and UID
 * sets, MODSEQ. The full evaluation still applies them; this only spares
 * reading rows that cannot match.
 */
static bool narrow_by_set(const struct imap_search_key *k)
{
	if (k->type == K_SEQSET || k->type == K_UIDSET)
		return true;
	for (size_t i = 0; k->type == K_AND && i < k->n_children; i++)
		if (narrow_by_set(k->children[i]))
			return true;
	return false;
}

static bool narrow_keeps(const struct imap_session *s, const struct imap_search_key *k,
			 uint32_t seq, uint32_t uid)
{
	switch (k->type) {
	case K_SEQSET:
		return k->set.saved ? uid_saved(s, uid) : imap_seqset_contains(&k->set, seq);
	case K_UIDSET:
		return k->set.saved ? uid_saved(s, uid) : imap_seqset_contains(&k->set, uid);
	case K_AND:
		for (size_t i = 0; i < k->n_children; i++)
			if (!narrow_keeps(s, k->children[i], seq, uid))
				return false;
		return true;
	default:
		return true;
	}
}

/* MODSEQ n at the top level: only rows with a MODSEQ above n - 1 can match. */
static uint64_t narrow_changedsince(const struct imap_search_key *k)
{
	uint64_t v = 0;
	if (k->type == K_MODSEQ)
		return k->num > 0 ? k->num - 1 : 0;
	for (size_t i = 0; k->type == K_AND && i < k->n_children; i++) {
		uint64_t c = narrow_changedsince(k->children[i]);
		if (c > v)
			v = c;
	}
	return v;
}

/* The store rows the search must look at, in UID order. */
static int search_list(struct imap_session *s, const struct imap_search_program *prog,
		       struct imap_search_result *r)
{
	const struct imap_view *view = s->view;
	uint64_t since = narrow_changedsince(prog->root);
	if (!narrow_by_set(prog->root))
		return since > 0
			? store_message_changed_since(s->store, view->mailbox_id, since, &r->msgs,
						      &r->n_msgs)
			: store_message_list_full(s->store, view->mailbox_id, &r->msgs, &r->n_msgs);
	uint32_t *uids = xcalloc(view->count > 0 ? view->count : 1, sizeof(*uids));
	size_t n = 0;
	for (size_t i = 0; i < view->count; i++)
		if (narrow_keeps(s, prog->root, (uint32_t)(i + 1), view->uids[i]))
			uids[n++] = view->uids[i];
	struct store_uid_range *ranges = xcalloc(n > 0 ? n : 1, sizeof(*ranges));
	size_t n_ranges = imap_view_uid_ranges(view, uids, n, ranges);
	int ret = store_message_list_uids(s->store, view->mailbox_id, ranges, n_ranges, since,
					  &r->msgs, &r->n_msgs);
	free(ranges);
	free(uids);
	return ret;
}

int imap_search_run(struct imap_session *s, const struct imap_search_program *prog,
		    struct imap_search_result *r, bool *limit_r, const char **error_r)
{
	*r = (struct imap_search_result){0};
	*limit_r = false;
	const struct imap_view *view = s->view;
	if (view == NULL) {
		*error_r = "No mailbox selected";
		return -1;
	}
	if (search_list(s, prog, r) < 0) {
		*error_r = "Cannot read the mailbox";
		return -1;
	}
	r->matches = xcalloc(view->count > 0 ? view->count : 1, sizeof(*r->matches));
	struct search_eval ev = {.s = s};
	size_t j = 0;
	/* Both lists are in UID order: walk them together. */
	for (size_t i = 0; i < view->count && !ev.limit; i++) {
		uint32_t uid = view->uids[i];
		while (j < r->n_msgs && r->msgs[j].msg.uid < uid)
			j++;
		if (j >= r->n_msgs || r->msgs[j].msg.uid != uid)
			continue; /* expunged meanwhile */
		struct msg_ctx mc = {.seq = (uint32_t)(i + 1), .m = &r->msgs[j], .fd = -1};
		bool match = key_match(&ev, prog->root, &mc);
		msg_ctx_release(&mc);
		if (match && !ev.limit)
			r->matches[r->n++] = (struct imap_search_match){
				.seq = mc.seq, .uid = uid, .modseq = mc.m->msg.modseq, .msg = mc.m};
	}
	if (ev.limit) {
		*limit_r = true;
		*error_r = "Search needs to read too much";
		imap_search_result_free(r);
		return -1;
	}
	return 0;
}

void imap_search_result_free(struct imap_search_result *r)
{
	free(r->matches);
	store_message_ex_free(&r->msgs, r->n_msgs);
	*r = (struct imap_search_result){0};
}

/* --- sequence sets of the selected mailbox ------------------------------------ */

static int resolve_saved(const struct imap_session *s, uint32_t **uids_r, size_t *n_r)
{
	uint32_t *uids = xcalloc(s->n_saved_uids > 0 ? s->n_saved_uids : 1, sizeof(*uids));
	size_t n = 0;
	for (size_t i = 0; i < s->n_saved_uids; i++)
		if (imap_view_seq(s->view, s->saved_uids[i]) != 0)
			uids[n++] = s->saved_uids[i];
	*uids_r = uids;
	*n_r = n;
	return 0;
}

int imap_search_resolve_set(const struct imap_session *s, const char *text, bool uid,
			    uint32_t **uids_r, size_t *n_r, const char **error_r)
{
	const struct imap_view *v = s->view;
	*uids_r = NULL;
	*n_r = 0;
	if (v == NULL) {
		*error_r = "No mailbox selected";
		return -1;
	}
	uint32_t star = uid ? (v->count > 0 ? v->uids[v->count - 1] : 0) : (uint32_t)v->count;
	struct imap_seqset set;
	if (imap_seqset_parse(text, star, &set, error_r) < 0)
		return -1;
	if (set.saved) {
		imap_seqset_free(&set);
		return resolve_saved(s, uids_r, n_r);
	}
	uint32_t *uids = xcalloc(v->count > 0 ? v->count : 1, sizeof(*uids));
	size_t n = 0;
	if (uid) {
		for (size_t i = 0; i < v->count; i++)
			if (imap_seqset_contains(&set, v->uids[i]))
				uids[n++] = v->uids[i];
	} else if (v->count > 0) {
		for (size_t r = 0; r < set.count; r++) {
			if (set.ranges[r].lo == 0 || set.ranges[r].hi > v->count) {
				free(uids);
				imap_seqset_free(&set);
				*error_r = "Invalid message sequence number";
				return -1;
			}
			for (uint32_t q = set.ranges[r].lo; q <= set.ranges[r].hi; q++) {
				uids[n++] = v->uids[q - 1];
				if (q == UINT32_MAX)
					break;
			}
		}
	}
	imap_seqset_free(&set);
	if (n == 0) {
		free(uids);
		uids = NULL;
	}
	*uids_r = uids;
	*n_r = n;
	return 0;
}
