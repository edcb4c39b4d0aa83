/* SPDX-License-Identifier: MIT */
/*
 * LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9) with LIST-EXTENDED (RFC
 * 5258: selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH, return
 * options SUBSCRIBED and CHILDREN, several patterns), SPECIAL-USE (RFC
 * 6154) and LIST-STATUS (RFC 5819). The account's mailboxes, its
 * subscriptions when they matter, and every ancestor of those names form
 * one sorted table in which a name's descendants follow it contiguously,
 * so children attributes and RECURSIVEMATCH's CHILDINFO come from one
 * forward scan. Names that do not exist but have children below them are
 * listed as \Noselect (rev1) or \NonExistent. Patterns are matched by a
 * bit-parallel NFA over the pattern after runs of wildcards are collapsed,
 * so "*%*%*...x" costs the same as "*x": time is linear in the name times
 * the pattern length / 64, never exponential.
 */
#include "imap/imap-private.h"

#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * A collapsed pattern never has two wildcards in a row, so one longer than
 * this holds more than 511 literal bytes and cannot match any name.
 */
#define LIST_PATTERN_MAX 1024
#define LIST_WORDS ((LIST_PATTERN_MAX + 1 + 63) / 64)
#define LIST_MAX_PATTERNS 64

/* --- pattern matching -------------------------------------------------------- */

/*
 * Bit j of the state set means "the first j pattern bytes matched the name
 * read so far". lit rows give, per name byte, the positions holding that
 * literal byte (row 0 is all zero, for bytes the pattern lacks).
 */
struct list_pattern {
	bool never;
	size_t m;     /* collapsed length */
	size_t words; /* 64-bit words of a state set: m + 1 bits */
	uint8_t row_of[256];
	uint64_t *lit;
	uint64_t star[LIST_WORDS], pct[LIST_WORDS], wild[LIST_WORDS];
};

static void bit_set(uint64_t *v, size_t j)
{
	v[j / 64] |= (uint64_t)1 << (j % 64);
}

static void pattern_compile(struct list_pattern *lp, const char *p)
{
	memset(lp, 0, sizeof(*lp));
	size_t plen = strlen(p), m = 0;
	char *c = xmalloc(plen + 1);
	/* A run of wildcards is one '*' if it holds a '*', else one '%'. */
	for (size_t i = 0; i < plen;) {
		if (p[i] != '*' && p[i] != '%') {
			c[m++] = p[i++];
			continue;
		}
		bool star = false;
		for (; i < plen && (p[i] == '*' || p[i] == '%'); i++)
			star |= p[i] == '*';
		c[m++] = star ? '*' : '%';
	}
	if (m > LIST_PATTERN_MAX) {
		lp->never = true;
		free(c);
		return;
	}
	lp->m = m;
	lp->words = (m + 1 + 63) / 64;
	size_t rows = 1;
	for (size_t j = 0; j < m; j++) {
		unsigned char ch = (unsigned char)c[j];
		if (ch != '*' && ch != '%' && lp->row_of[ch] == 0)
			lp->row_of[ch] = (uint8_t)rows++;
	}
	lp->lit = xcalloc(rows * lp->words, sizeof(uint64_t));
	for (size_t j = 0; j < m; j++) {
		unsigned char ch = (unsigned char)c[j];
		if (ch == '*')
			bit_set(lp->star, j);
		else if (ch == '%')
			bit_set(lp->pct, j);
		else
			bit_set(&lp->lit[lp->row_of[ch] * lp->words], j);
	}
	for (size_t k = 0; k < lp->words; k++)
		lp->wild[k] = lp->star[k] | lp->pct[k];
	free(c);
}

static void pattern_free(struct list_pattern *lp)
{
	free(lp->lit);
	lp->lit = NULL;
}

/* dst |= src << 1 across words. */
static void shl1_or(uint64_t *dst, const uint64_t *src, size_t words)
{
	uint64_t carry = 0;
	for (size_t k = 0; k < words; k++) {
		uint64_t next = src[k] >> 63;
		dst[k] |= (src[k] << 1) | carry;
		carry = next;
	}
}

/* A wildcard may match nothing: its state also enables the next one. */
static void closure(const struct list_pattern *lp, uint64_t *d)
{
	uint64_t t[LIST_WORDS];
	for (size_t k = 0; k < lp->words; k++)
		t[k] = d[k] & lp->wild[k];
	/* Collapsed: a wildcard is never followed by another, one step is enough. */
	shl1_or(d, t, lp->words);
}

static bool is_inbox_name(const char *name)
{
	return strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/');
}

static bool pattern_match(const struct list_pattern *lp, const char *name)
{
	if (lp->never)
		return false;
	size_t w = lp->words;
	uint64_t d[LIST_WORDS] = {0}, t[LIST_WORDS], nd[LIST_WORDS];
	d[0] = 1;
	closure(lp, d);
	/* INBOX is case-insensitive (RFC 9051 5.1): so is its part of a name. */
	size_t ci_len = is_inbox_name(name) ? 5 : 0;
	for (size_t i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];
		const uint64_t *r1 = &lp->lit[lp->row_of[ch] * w];
		const uint64_t *r2 = i < ci_len ? &lp->lit[lp->row_of[tolower(ch)] * w] : r1;
		uint64_t any = 0;
		for (size_t k = 0; k < w; k++) {
			t[k] = d[k] & (r1[k] | r2[k]);
			nd[k] = (d[k] & lp->star[k]) | (ch != '/' ? d[k] & lp->pct[k] : 0);
		}
		shl1_or(nd, t, w);
		closure(lp, nd);
		for (size_t k = 0; k < w; k++) {
			d[k] = nd[k];
			any |= nd[k];
		}
		if (any == 0)
			return false;
	}
	return (d[lp->m / 64] >> (lp->m % 64)) & 1;
}

bool imap_list_match(const char *pattern, const char *name)
{
	struct list_pattern lp;
	pattern_compile(&lp, pattern);
	bool r = pattern_match(&lp, name);
	pattern_free(&lp);
	return r;
}

/* --- the table of names ------------------------------------------------------------ */

struct list_entry {
	char *name; /* UTF-8, as stored */
	char special_use[16];
	int64_t id;
	uint32_t rights; /* the session's (RFC 4314); all on its own mailboxes */
	bool exists;
	bool subscribed;
	bool matched;
	bool child_exists;        /* an existing mailbox somewhere below */
	bool child_sub_unmatched; /* a subscribed name below that no pattern matches */
};

struct list_table {
	struct list_entry *v;
	size_t n, cap;
};

static struct list_entry *table_add(struct list_table *t, const char *name, size_t len)
{
	if (t->n == t->cap) {
		t->cap = t->cap != 0 ? t->cap * 2 : 32;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	struct list_entry *e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrndup(name, len);
	return e;
}

static void table_free(struct list_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void add_mailbox_cb(void *ctx, const struct store_mailbox *m)
{
	struct list_entry *e = table_add(ctx, m->name, strlen(m->name));
	e->exists = true;
	e->subscribed = m->subscribed;
	e->id = m->id;
	e->rights = STORE_RIGHTS_ALL;
	memcpy(e->special_use, m->special_use, sizeof(e->special_use));
	e->special_use[sizeof(e->special_use) - 1] = '\0';
}

/* Other accounts' mailboxes the session may look up, by their shared names. */
static void add_shared_cb(void *ctx, const struct store_shared_mailbox *m)
{
	if ((m->rights & STORE_RIGHT_LOOKUP) == 0)
		return; /* no trace */
	char *name = imap_acl_external_name(m);
	struct list_entry *e = table_add(ctx, name, strlen(name));
	free(name);
	e->exists = true;
	e->id = m->mailbox.id;
	e->rights = m->rights;
	memcpy(e->special_use, m->mailbox.special_use, sizeof(e->special_use));
	e->special_use[sizeof(e->special_use) - 1] = '\0';
}

static void add_subscription_cb(void *ctx, const char *name)
{
	table_add(ctx, name, strlen(name))->subscribed = true;
}

/* INBOX and its children first, then bytewise with '/' lowest. */
static int entry_cmp(const void *a, const void *b)
{
	const char *x = ((const struct list_entry *)a)->name;
	const char *y = ((const struct list_entry *)b)->name;
	int rx = is_inbox_name(x) ? 0 : 1, ry = is_inbox_name(y) ? 0 : 1;
	if (rx != ry)
		return rx - ry;
	for (;; x++, y++) {
		unsigned cx = *x == '/' ? 1u : (unsigned char)*x;
		unsigned cy = *y == '/' ? 1u : (unsigned char)*y;
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx == 0)
			return 0;
	}
}

/* Add every ancestor of every name, sort, and merge duplicates. */
static void table_finish(struct list_table *t)
{
	size_t n0 = t->n;
	for (size_t i = 0; i < n0; i++) {
		for (const char *p = strchr(t->v[i].name, '/'); p != NULL; p = strchr(p + 1, '/'))
			table_add(t, t->v[i].name, (size_t)(p - t->v[i].name));
	}
	if (t->n == 0)
		return;
	qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
	size_t out = 0;
	for (size_t i = 1; i < t->n; i++) {
		struct list_entry *a = &t->v[out], *b = &t->v[i];
		if (strcmp(a->name, b->name) != 0) {
			t->v[++out] = *b;
			continue;
		}
		if (b->exists) {
			a->exists = true;
			a->id = b->id;
			a->rights = b->rights;
			memcpy(a->special_use, b->special_use, sizeof(a->special_use));
		}
		a->subscribed |= b->subscribed;
		free(b->name);
	}
	t->n = out + 1;
}

/* Descendants follow their ancestor contiguously (see entry_cmp). */
static void table_children(struct list_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct list_entry *e = &t->v[i];
		size_t len = strlen(e->name);
		for (size_t j = i + 1; j < t->n; j++) {
			const struct list_entry *c = &t->v[j];
			if (strncmp(c->name, e->name, len) != 0 || c->name[len] != '/')
				break;
			e->child_exists |= c->exists;
			e->child_sub_unmatched |= c->subscribed && !c->matched;
			if (e->child_exists && e->child_sub_unmatched)
				break;
		}
	}
}

/* --- options -------------------------------------------------------------------- */

struct list_opts {
	bool lsub;
	bool extended; /* LIST-EXTENDED syntax used */
	bool sel_subscribed, sel_special_use, sel_recursive;
	bool ret_subscribed, ret_status, ret_myrights;
	struct imap_status_items status;
	char *patterns[LIST_MAX_PATTERNS]; /* reference + pattern, UTF-8 */
	size_t n_patterns;
	char *reference;
	bool empty_pattern; /* LIST ref "": the delimiter request */
};

static void opts_free(struct list_opts *o)
{
	for (size_t i = 0; i < o->n_patterns; i++)
		free(o->patterns[i]);
	free(o->reference);
}

/* Reference or pattern from the wire to UTF-8 (mUTF-7 for rev1 clients). */
static char *list_decode(const struct imap_session *s, const char *in)
{
	struct buf b;
	buf_init(&b);
	if (s->utf8_accept) {
		if (!imap_utf8_valid(in, strlen(in))) {
			buf_deinit(&b);
			return NULL;
		}
		buf_append_str(&b, in);
	} else if (imap_utf7_to_utf8(in, &b) < 0) {
		buf_deinit(&b);
		return NULL;
	}
	char *r = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return r;
}

static int parse_selection(const struct imap_arg *list, struct list_opts *o, const char **error_r)
{
	bool remote = false;
	for (; !imap_arg_is_eol(list); list++) {
		if (imap_arg_atom_equals(list, "SUBSCRIBED")) {
			o->sel_subscribed = true;
		} else if (imap_arg_atom_equals(list, "REMOTE")) {
			remote = true;
		} else if (imap_arg_atom_equals(list, "RECURSIVEMATCH")) {
			o->sel_recursive = true;
		} else if (imap_arg_atom_equals(list, "SPECIAL-USE")) {
			o->sel_special_use = true;
		} else {
			*error_r = "Unknown LIST selection option";
			return -1;
		}
	}
	(void)remote; /* no remote mailboxes here: nothing to add */
	/* RFC 5258 3.1: RECURSIVEMATCH needs a selection option to recurse on. */
	if (o->sel_recursive && !o->sel_subscribed && !o->sel_special_use) {
		*error_r = "RECURSIVEMATCH needs another selection option";
		return -1;
	}
	return 0;
}

static int parse_return(const struct imap_arg *list, struct list_opts *o, const char **error_r)
{
	for (; !imap_arg_is_eol(list); list++) {
		if (imap_arg_atom_equals(list, "SUBSCRIBED")) {
			o->ret_subscribed = true;
		} else if (imap_arg_atom_equals(list, "CHILDREN") ||
			   imap_arg_atom_equals(list, "SPECIAL-USE")) {
			/* Always returned anyway. */
		} else if (imap_arg_atom_equals(list, "MYRIGHTS")) {
			o->ret_myrights = true; /* RFC 8440 */
		} else if (imap_arg_atom_equals(list, "STATUS")) {
			if (imap_status_items_parse(&list[1], &o->status, error_r) < 0)
				return -1;
			o->ret_status = true;
			list++;
		} else {
			*error_r = "Unknown LIST return option";
			return -1;
		}
	}
	return 0;
}

static int add_pattern(const struct imap_session *s, const struct imap_arg *arg,
		       struct list_opts *o, const char **error_r)
{
	const char *wire;
	if (!imap_arg_get_astring(arg, &wire)) {
		*error_r = "Invalid mailbox pattern";
		return -1;
	}
	if (o->n_patterns == LIST_MAX_PATTERNS) {
		*error_r = "Too many mailbox patterns";
		return -1;
	}
	char *p = list_decode(s, wire);
	if (p == NULL) {
		*error_r = s->utf8_accept ? "Mailbox pattern is not valid UTF-8"
					  : "Invalid modified UTF-7 in mailbox pattern";
		return -1;
	}
	if (p[0] == '\0')
		o->empty_pattern = true;
	o->patterns[o->n_patterns++] = xasprintf("%s%s", o->reference, p);
	free(p);
	return 0;
}

static int parse_patterns(const struct imap_session *s, const struct imap_arg *arg,
			  struct list_opts *o, const char **error_r)
{
	const struct imap_arg *list;
	size_t count;
	if (!imap_arg_get_list(arg, &list, &count))
		return add_pattern(s, arg, o, error_r);
	o->extended = true;
	if (count == 0) {
		*error_r = "Empty mailbox pattern list";
		return -1;
	}
	for (; !imap_arg_is_eol(list); list++) {
		if (add_pattern(s, list, o, error_r) < 0)
			return -1;
	}
	/* The delimiter request is a lone "" only. */
	o->empty_pattern = false;
	return 0;
}

/* LIST [(selection)] reference pattern(s) [RETURN (options)] */
static int list_parse(struct imap_cmd *cmd, struct list_opts *o, const char **error_r)
{
	const struct imap_arg *args = cmd->args, *list;
	const char *ref;
	if (!o->lsub && imap_arg_get_list(args, &list, NULL)) {
		o->extended = true;
		if (parse_selection(list, o, error_r) < 0)
			return -1;
		args++;
	}
	if (!imap_arg_get_astring(args, &ref)) {
		*error_r = "Missing mailbox reference";
		return -1;
	}
	if ((o->reference = list_decode(cmd->session, ref)) == NULL) {
		*error_r = "Invalid mailbox reference";
		return -1;
	}
	args++;
	if (imap_arg_is_eol(args)) {
		*error_r = "Missing mailbox pattern";
		return -1;
	}
	if ((o->lsub ? add_pattern(cmd->session, args, o, error_r)
		     : parse_patterns(cmd->session, args, o, error_r)) < 0)
		return -1;
	args++;
	if (!o->lsub && imap_arg_atom_equals(args, "RETURN")) {
		o->extended = true;
		if (!imap_arg_get_list(&args[1], &list, NULL)) {
			*error_r = "RETURN needs a list of options";
			return -1;
		}
		if (parse_return(list, o, error_r) < 0)
			return -1;
		args += 2;
	}
	if (!imap_arg_is_eol(args)) {
		*error_r = "Unexpected arguments";
		return -1;
	}
	return 0;
}

/* --- output ------------------------------------------------------------------------ */

/* Should e be listed, and with CHILDINFO? */
static bool entry_selected(const struct list_opts *o, const struct list_entry *e, bool *childinfo_r)
{
	*childinfo_r = false;
	if (!e->matched)
		return false;
	if (o->lsub || o->sel_subscribed) {
		/*
		 * RFC 5258 example 5.9 ("Eps2"): a subscribed parent also
		 * carries CHILDINFO for its unlisted subscribed children.
		 */
		if (e->subscribed) {
			*childinfo_r = !o->lsub && o->sel_recursive && e->child_sub_unmatched;
			return true;
		}
		/*
		 * RFC 5258 3.5 and LSUB's '%' rule: a parent is listed for
		 * subscribed children only if they are not listed themselves.
		 */
		*childinfo_r = (o->lsub || o->sel_recursive) && e->child_sub_unmatched;
		return *childinfo_r;
	}
	if (o->sel_special_use)
		return e->exists && e->special_use[0] != '\0';
	return e->exists || e->child_exists;
}

static void attr_add(struct buf *out, bool *first, const char *attr)
{
	if (!*first)
		buf_append(out, " ", 1);
	buf_append_str(out, attr);
	*first = false;
}

static void write_attributes(const struct imap_session *s, const struct list_opts *o,
			     const struct list_entry *e, bool childinfo, struct buf *out)
{
	bool first = true;
	buf_append(out, "(", 1);
	if (o->lsub) {
		if (!e->exists || childinfo)
			attr_add(out, &first, "\\Noselect");
		buf_append(out, ")", 1);
		return;
	}
	if (!e->exists)
		attr_add(out, &first, o->extended || s->rev2 ? "\\NonExistent" : "\\Noselect");
	if (e->child_exists)
		attr_add(out, &first, "\\HasChildren");
	else if (e->exists)
		attr_add(out, &first, "\\HasNoChildren");
	if ((o->ret_subscribed || o->sel_subscribed) && e->subscribed)
		attr_add(out, &first, "\\Subscribed");
	if (e->exists && e->special_use[0] != '\0')
		attr_add(out, &first, e->special_use);
	buf_append(out, ")", 1);
}

static void write_entry(struct imap_cmd *cmd, const struct list_opts *o, const struct list_entry *e,
			bool childinfo, struct buf *out)
{
	struct imap_session *s = cmd->session;
	buf_append_str(out, o->lsub ? "* LSUB " : "* LIST ");
	write_attributes(s, o, e, childinfo, out);
	buf_append_str(out, " \"/\" ");
	imap_write_mailbox_name(s, out, e->name);
	if (childinfo && !o->lsub)
		buf_append_str(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_append(out, "\r\n", 2);
	/* RFC 5819: STATUS follows the LIST of each selectable mailbox. */
	if (o->ret_status && e->exists && (e->rights & STORE_RIGHT_READ) != 0)
		(void)imap_status_write(s, out, e->name, e->id, &o->status);
	/* RFC 8440: and MYRIGHTS, for each mailbox that exists. */
	if (o->ret_myrights && e->exists) {
		char text[16];
		store_rights_format(e->rights, text);
		buf_append_str(out, "* MYRIGHTS ");
		imap_write_mailbox_name(s, out, e->name);
		buf_printf(out, " %s\r\n", text[0] != '\0' ? text : "\"\"");
	}
}

/* LIST ref "": the hierarchy delimiter and the reference's root. */
static void write_delimiter(struct imap_cmd *cmd, const struct list_opts *o, struct buf *out)
{
	const char *slash = strchr(o->reference, '/');
	char *root = xstrndup(o->reference, slash != NULL ? (size_t)(slash - o->reference) + 1 : 0);
	buf_append_str(out, "* LIST (\\Noselect) \"/\" ");
	imap_write_mailbox_name(cmd->session, out, root);
	buf_append(out, "\r\n", 2);
	free(root);
}

static int list_collect(struct imap_cmd *cmd, const struct list_opts *o, struct list_table *t)
{
	struct imap_session *s = cmd->session;
	if (store_mailbox_list(s->store, s->account.id, add_mailbox_cb, t) < 0 ||
	    store_acl_shared_list(s->store, s->account.id, add_shared_cb, t) < 0)
		return -1;
	if ((o->lsub || o->sel_subscribed) &&
	    store_subscription_list(s->store, s->account.id, add_subscription_cb, t) < 0)
		return -1;
	table_finish(t);
	struct list_pattern *lp = xcalloc(o->n_patterns, sizeof(*lp));
	for (size_t k = 0; k < o->n_patterns; k++)
		pattern_compile(&lp[k], o->patterns[k]);
	for (size_t i = 0; i < t->n; i++) {
		for (size_t k = 0; k < o->n_patterns && !t->v[i].matched; k++)
			t->v[i].matched = pattern_match(&lp[k], t->v[i].name);
	}
	for (size_t k = 0; k < o->n_patterns; k++)
		pattern_free(&lp[k]);
	free(lp);
	table_children(t);
	return 0;
}

static enum imap_cmd_ret list_run(struct imap_cmd *cmd, struct buf *out, bool lsub)
{
	struct list_opts o = {.lsub = lsub};
	const char *error;
	if (list_parse(cmd, &o, &error) < 0) {
		opts_free(&o);
		return imap_cmd_bad(cmd, out, "%s", error);
	}
	if (o.empty_pattern && !lsub) {
		write_delimiter(cmd, &o, out);
		opts_free(&o);
		return imap_cmd_ok(cmd, out, "%s completed", cmd->name);
	}
	struct list_table t = {0};
	if (list_collect(cmd, &o, &t) < 0) {
		table_free(&t);
		opts_free(&o);
		return imap_cmd_no(cmd, out, "[SERVERBUG] Cannot list mailboxes");
	}
	for (size_t i = 0; i < t.n; i++) {
		bool childinfo;
		if (entry_selected(&o, &t.v[i], &childinfo))
			write_entry(cmd, &o, &t.v[i], childinfo, out);
	}
	table_free(&t);
	opts_free(&o);
	return imap_cmd_ok(cmd, out, "%s completed", cmd->name);
}

enum imap_cmd_ret cmd_list(struct imap_cmd *cmd, struct buf *out)
{
	return list_run(cmd, out, false);
}

enum imap_cmd_ret cmd_lsub(struct imap_cmd *cmd, struct buf *out)
{
	return list_run(cmd, out, true);
}
