/* SPDX-License-Identifier: MIT */
/*
 * SEARCH programs (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 7162 MODSEQ,
 * RFC 8514 SAVEDATE, RFC 5032 WITHIN's YOUNGER/OLDER): the parser that turns the arguments of SEARCH, SORT
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
#include "mime/mime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
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
	K_YOUNGER, /* WITHIN (RFC 5032): internal date less than num seconds ago */
	K_OLDER,   /* internal date num seconds ago or earlier */
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
	/* BODY, TEXT with 3+ characters: the index's answer, UIDs ascending. */
	bool hits_ready;
	uint32_t *hits;
	size_t n_hits;
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
	A_INTERVAL, /* WITHIN's nz-number of seconds */
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
	{"OLDER", K_OLDER, A_INTERVAL, 0, NULL},
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
	{"YOUNGER", K_YOUNGER, A_INTERVAL, 0, NULL},
};

/* --- small shared helpers ----------------------------------------------------- */

bool imap_search_charset_ok(const char *charset)
{
	return strcasecmp(charset, "UTF-8") == 0 || strcasecmp(charset, "US-ASCII") == 0;
}

void imap_search_fold(const char *str, size_t len, struct buf *out)
{
	mime_text_fold(str, len, out);
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
	free(k->hits);
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
	case A_INTERVAL:
		/* RFC 5032: nz-number; a 32-bit number of seconds is ample. */
		if (!imap_arg_get_atom(*ap, &s) || !parse_u64(s, UINT32_MAX, &k->num) ||
		    k->num == 0) {
			p->error = "Invalid interval";
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

/* PARTIAL's range: nz-number ":" nz-number, either order, no '*' (RFC 5267 4.4). */
static bool parse_partial_range(const char *s, struct imap_search_options *o)
{
	const char *colon = strchr(s, ':');
	uint64_t a, b;
	if (colon == NULL || colon - s > 10)
		return false;
	char first[11];
	memcpy(first, s, (size_t)(colon - s));
	first[colon - s] = '\0';
	if (!parse_u64(first, UINT32_MAX, &a) || !parse_u64(colon + 1, UINT32_MAX, &b) || a == 0 ||
	    b == 0)
		return false;
	o->partial_lo = (uint32_t)(a < b ? a : b);
	o->partial_hi = (uint32_t)(a < b ? b : a);
	return true;
}

int imap_search_parse_return(const struct imap_arg *list, bool sort, struct imap_search_options *o,
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
		else if (strcasecmp(name, "SAVE") == 0 && !sort)
			o->ret_save = true;
		else if (strcasecmp(name, "UPDATE") == 0)
			o->ret_update = true; /* CONTEXT=SEARCH, CONTEXT=SORT */
		else if (strcasecmp(name, "CONTEXT") == 0)
			continue; /* RFC 5267 4.2: a hint, which we may ignore */
		else if (strcasecmp(name, "PARTIAL") == 0) {
			const char *range;
			if (o->ret_partial) {
				*error_r = "PARTIAL given twice";
				return -1;
			}
			list++;
			if (!imap_arg_get_atom(list, &range) || !parse_partial_range(range, o)) {
				*error_r = "PARTIAL needs a range low:high of non-zero numbers";
				return -1;
			}
			o->ret_partial = true;
		} else {
			*error_r = "Unknown RETURN option";
			return -1;
		}
	}
	if (o->ret_partial && o->ret_all) {
		*error_r = "PARTIAL and ALL cannot be combined";
		return -1;
	}
	/* RFC 4731 3.1: RETURN () means RETURN (ALL); UPDATE alone too. */
	if (!o->ret_min && !o->ret_max && !o->ret_count && !o->ret_save && !o->ret_partial)
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
		if (imap_search_parse_return(list, false, opts, error_r) < 0)
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
	const struct imap_search_result *r; /* pending: messages not indexed yet */
	const char *error;
	bool no_index; /* a context update: the index hits are of the original search */
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
	size_t hdr_len;               /* bytes of the top-level header block */
	int text_state;               /* 0 not loaded, 1 loaded */
	struct store_search_doc text; /* the searchable text (mime_text) */
};

static void msg_ctx_release(struct msg_ctx *mc)
{
	store_parsed_r_free(&mc->parsed);
	if (mc->map != NULL && mc->map_len > 0)
		munmap((void *)mc->map, mc->map_len);
	if (mc->fd >= 0)
		close(mc->fd);
	store_search_doc_free(&mc->text);
}

static const struct store_parsed_r *msg_parsed(struct search_eval *ev, struct msg_ctx *mc)
{
	if (mc->parsed_state == 0) {
		int r = store_blob_parsed(ev->s->store, mc->m->msg.blob_id, &mc->parsed);
		mc->parsed_state = r == 1 ? 1 : -1;
	}
	return mc->parsed_state == 1 ? &mc->parsed : NULL;
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
	if (len > 0) {
		void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, mc->fd, 0);
		if (m == MAP_FAILED)
			return false;
		mc->map = m;
	} else {
		mc->map = "";
	}
	mc->map_len = len;
	mc->hdr_len = mime_text_header_len(mc->map, len);
	mc->blob_state = 1;
	return true;
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
	mime_text_fold_header_value(value, &f);
	hm->found = f.len > 0 && memmem(f.data, f.len, hm->needle, hm->needle_len) != NULL;
	buf_deinit(&f);
	return hm->found;
}

/*
 * The searchable text of a message: its indexed document, or for a message
 * the backfill has not reached yet, the same text computed from the blob
 * (mime_text_extract, one message at a time: memory and time per message
 * are bounded by the message).
 */
static const struct store_search_doc *msg_text(struct search_eval *ev, struct msg_ctx *mc)
{
	if (mc->text_state != 0)
		return &mc->text;
	mc->text_state = 1;
	if (store_search_doc_get(ev->s->store, mc->m->msg.blob_id, &mc->text) == 1)
		return &mc->text;
	struct mime_text t = {0};
	if (msg_map(ev, mc))
		mime_text_extract(mc->map, mc->map_len, &t);
	free(t.preview); /* the search texts only */
	mc->text = (struct store_search_doc){
		.hdr = t.hdr,
		.body = t.body,
		.parts = t.parts,
		.hdr_len = t.hdr_len,
		.body_len = t.body_len,
		.parts_len = t.parts_len,
	};
	return &mc->text;
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
	const struct store_search_doc *t;
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
		mime_text_each_header(mc->map, mc->hdr_len, header_match_cb, &hm);
		return hm.found;
	}
	case K_BODY:
	case K_TEXT:
		if (k->str_len == 0)
			return true;
		if (k->hits_ready && !ev->no_index &&
		    !imap_uid_find(ev->r->pending, ev->r->n_pending, mc->m->msg.uid, NULL))
			return imap_uid_find(k->hits, k->n_hits, mc->m->msg.uid, NULL);
		t = msg_text(ev, mc);
		if (text_has(t->body, t->body_len, k))
			return true;
		/* TEXT: the header, and the parts' own header fields (part of the body). */
		return k->type == K_TEXT &&
			(text_has(t->hdr, t->hdr_len, k) || text_has(t->parts, t->parts_len, k));
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
	if (ev->error != NULL)
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
	case K_YOUNGER:
		/* "Now" is read per message: a long search sees time pass, as it should. */
		return (int64_t)time(NULL) - (int64_t)m->internal_date < (int64_t)k->num;
	case K_OLDER:
		return (int64_t)time(NULL) - (int64_t)m->internal_date >= (int64_t)k->num;
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

/*
 * The keys the index answers: BODY and TEXT of a word (letters, digits,
 * non-ASCII: the word index, any length) or of three characters or more
 * (the trigram index).
 */
static void collect_indexed_keys(struct imap_search_key *k, struct imap_search_result *r)
{
	for (size_t i = 0; i < k->n_children; i++)
		collect_indexed_keys(k->children[i], r);
	if ((k->type != K_BODY && k->type != K_TEXT) || k->str_len == 0 ||
	    (!store_search_word_needle(k->str) && mime_text_chars(k->str, k->str_len) < 3))
		return;
	r->ikeys = xrealloc(r->ikeys, (r->n_ikeys + 1) * sizeof(*r->ikeys));
	r->ikeys[r->n_ikeys++] = k;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Can the view and the index alone answer k: sets, ALL, and BODY/TEXT
 * keys the index answers (collected in ikeys), under AND/OR/NOT? Then no
 * store row is read per message: a common word over 100,000 messages
 * costs one index query and a walk of the view's UIDs.
 */
static bool view_answers(const struct imap_search_key *k)
{
	switch (k->type) {
	case K_ALL:
	case K_NONE:
	case K_SEQSET:
	case K_UIDSET:
		return true;
	case K_BODY:
	case K_TEXT:
		return k->str_len == 0 || store_search_word_needle(k->str) ||
			mime_text_chars(k->str, k->str_len) >= 3;
	case K_AND:
	case K_OR:
	case K_NOT:
		for (size_t i = 0; i < k->n_children; i++)
			if (!view_answers(k->children[i]))
				return false;
		return true;
	default:
		return false;
	}
}

int imap_search_begin(struct imap_session *s, struct imap_search_program *prog,
		      struct imap_search_result *r, const char **error_r)
{
	*r = (struct imap_search_result){0};
	const struct imap_view *view = s->view;
	if (view == NULL) {
		*error_r = "No mailbox selected";
		return -1;
	}
	collect_indexed_keys(prog->root, r);
	if (r->n_ikeys > 0) {
		if (store_search_pending_uids(s->store, view->mailbox_id, &r->pending,
					      &r->n_pending) < 0) {
			imap_search_result_free(r);
			*error_r = "Cannot read the search index";
			return -1;
		}
		qsort(r->pending, r->n_pending, sizeof(*r->pending), cmp_uid);
	}
	/* Messages not indexed yet are read: those need their store rows. */
	r->view_only = !prog->needs_rows && r->n_pending == 0 && view_answers(prog->root);
	if (!r->view_only && search_list(s, prog, r) < 0) {
		imap_search_result_free(r);
		*error_r = "Cannot read the mailbox";
		return -1;
	}
	r->matches = xcalloc(view->count > 0 ? view->count : 1, sizeof(*r->matches));
	return 0;
}

/* Out of time for this slice? Checked every few messages, not every one. */
static bool slice_over(uint64_t deadline_us)
{
	return deadline_us != 0 && imap_now_us() >= deadline_us;
}

int imap_search_step(struct imap_session *s, struct imap_search_program *prog,
		     struct imap_search_result *r, uint64_t deadline_us, const char **error_r)
{
	const struct imap_view *view = s->view;
	/* First the index, one key at a time. */
	while (r->next_ikey < r->n_ikeys) {
		struct imap_search_key *k = r->ikeys[r->next_ikey++];
		free(k->hits);
		k->hits = NULL;
		if (store_search_match(s->store, view->mailbox_id,
				       k->type == K_BODY ? STORE_SEARCH_BODY
							 : STORE_SEARCH_HDR | STORE_SEARCH_BODY |
						       STORE_SEARCH_PARTS,
				       k->str, &k->hits, &k->n_hits) < 0) {
			*error_r = "Cannot read the search index";
			return -1;
		}
		k->hits_ready = true;
		if (slice_over(deadline_us))
			return 0;
	}
	struct search_eval ev = {.s = s, .r = r};
	/* Both lists are in UID order: walk them together. */
	for (size_t n = 1; r->pos_view < view->count; n++) {
		if (n % 16 == 0 && slice_over(deadline_us))
			return 0;
		size_t i = r->pos_view++;
		uint32_t uid = view->uids[i];
		if (r->view_only) {
			struct store_message_ex row = {.msg.uid = uid};
			struct msg_ctx mc = {.seq = (uint32_t)(i + 1), .m = &row, .fd = -1};
			if (key_match(&ev, prog->root, &mc))
				r->matches[r->n++] =
					(struct imap_search_match){.seq = mc.seq, .uid = uid};
			continue;
		}
		while (r->pos_list < r->n_msgs && r->msgs[r->pos_list].msg.uid < uid)
			r->pos_list++;
		if (r->pos_list >= r->n_msgs || r->msgs[r->pos_list].msg.uid != uid)
			continue; /* expunged meanwhile */
		struct msg_ctx mc = {
			.seq = (uint32_t)(i + 1), .m = &r->msgs[r->pos_list], .fd = -1};
		bool match = key_match(&ev, prog->root, &mc);
		msg_ctx_release(&mc);
		if (match)
			r->matches[r->n++] = (struct imap_search_match){
				.seq = mc.seq, .uid = uid, .modseq = mc.m->msg.modseq, .msg = mc.m};
	}
	return 1;
}

bool imap_search_match_one(struct imap_session *s, const struct imap_search_program *prog,
			   const struct store_message_ex *m, uint32_t seq)
{
	struct imap_search_result none = {0};
	struct search_eval ev = {.s = s, .r = &none, .no_index = true};
	struct msg_ctx mc = {.seq = seq, .m = m, .fd = -1};
	bool match = key_match(&ev, prog->root, &mc);
	msg_ctx_release(&mc);
	return match && ev.error == NULL;
}

void imap_search_result_free(struct imap_search_result *r)
{
	free(r->matches);
	free(r->ikeys);
	free(r->pending);
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
