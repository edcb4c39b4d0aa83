/* SPDX-License-Identifier: MIT */
/*
 * SORT and THREAD (RFC 5256). Both run a search program (imap-search.c),
 * then read each matched message's parsed data once: the decoded subject
 * reduced to its base subject (2.1), the sent date (2.2: Date: or else the
 * internal date), and from the stored ENVELOPE the first From/To/Cc
 * mailbox and In-Reply-To. SORT orders by the criteria with the sequence
 * number as the final tie-break. THREAD ORDEREDSUBJECT groups by base
 * subject; THREAD REFERENCES is the RFC's version of Zawinski's
 * algorithm, reading References: from the message's header block.
 */
#include "imap/imap-private.h"

#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* --- reading the stored ENVELOPE -------------------------------------------------- */

static void env_ws(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

/* A quoted string, literal or NIL at *p: malloc'd text, NULL for NIL/invalid. */
static char *env_nstring(const char **p)
{
	env_ws(p);
	const char *s = *p;
	if (*s == '"') {
		struct buf b;
		buf_init(&b);
		for (s++; *s != '\0' && *s != '"'; s++) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			buf_append(&b, s, 1);
		}
		*p = *s == '"' ? s + 1 : s;
		char *r = xstrdup(buf_cstr(&b));
		buf_deinit(&b);
		return r;
	}
	if (*s == '{') {
		char *end;
		unsigned long n = strtoul(s + 1, &end, 10);
		if (end[0] != '}' || end[1] != '\r' || end[2] != '\n' || strnlen(end + 3, n) < n) {
			*p = s + strlen(s);
			return NULL;
		}
		*p = end + 3 + n;
		return xstrndup(end + 3, n);
	}
	while (**p != '\0' && **p != ' ' && **p != ')' && **p != '(')
		(*p)++;
	return NULL;
}

/* Skip one value (nstring or list) at *p. */
static void env_skip(const char **p, unsigned depth)
{
	env_ws(p);
	if (**p != '(') {
		free(env_nstring(p));
		return;
	}
	(*p)++;
	for (;;) {
		env_ws(p);
		if (**p == '\0')
			return;
		if (**p == ')') {
			(*p)++;
			return;
		}
		if (depth > 8) {
			(*p)++;
			continue;
		}
		env_skip(p, depth + 1);
	}
}

/* Position *p at field idx of the envelope; false when it is not there. */
static bool env_field(const char *env, unsigned idx, const char **p)
{
	if (env == NULL || env[0] != '(')
		return false;
	*p = env + 1;
	for (unsigned i = 0; i < idx; i++) {
		env_skip(p, 0);
		if (**p == '\0' || **p == ')')
			return false;
	}
	env_ws(p);
	return **p != '\0' && **p != ')';
}

/* addr-mailbox of the first address of field idx (2 from, 5 to, 6 cc). */
static char *env_first_mailbox(const char *env, unsigned idx)
{
	const char *p;
	if (!env_field(env, idx, &p) || p[0] != '(')
		return NULL;
	p++;
	env_ws(&p);
	if (*p != '(')
		return NULL;
	p++;
	env_skip(&p, 1); /* name */
	env_skip(&p, 1); /* adl */
	return env_nstring(&p);
}

static char *env_string(const char *env, unsigned idx)
{
	const char *p;
	if (!env_field(env, idx, &p))
		return NULL;
	return env_nstring(&p);
}

/* --- base subject (RFC 5256 2.1) ----------------------------------------------------- */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP; its length or 0. */
static size_t subj_blob(const char *s, size_t len)
{
	if (len == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < len && s[i] != ']' && s[i] != '[')
		i++;
	if (i >= len || s[i] != ']')
		return 0;
	for (i++; i < len && is_wsp(s[i]); i++)
		;
	return i;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP; its length or 0. */
static size_t subj_leader(const char *s, size_t len)
{
	if (len > 0 && is_wsp(s[0]))
		return 1;
	size_t i = 0, b;
	while ((b = subj_blob(s + i, len - i)) > 0)
		i += b;
	if (len - i >= 3 && strncasecmp(s + i, "fwd", 3) == 0)
		i += 3;
	else if (len - i >= 2 &&
		 (strncasecmp(s + i, "re", 2) == 0 || strncasecmp(s + i, "fw", 2) == 0))
		i += 2;
	else
		return 0;
	while (i < len && is_wsp(s[i]))
		i++;
	i += subj_blob(s + i, len - i);
	return i < len && s[i] == ':' ? i + 1 : 0;
}

/*
 * The i;ascii-casemap collation (RFC 4790 9.2) that SORT and THREAD use
 * (RFC 5256): a-z map to A-Z, every other octet stays, and the results
 * compare as octets. Mapping to upper case matters: '[', '\\', ']', '^',
 * '_' and '`' sort after the letters, as in Dovecot and RFC 4790.
 */
static char *ascii_casemap_dup(const char *s, size_t len)
{
	char *r = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		r[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	r[len] = '\0';
	return r;
}

/*
 * The base subject, folded for comparison (malloc'd); *reply_r tells
 * whether a "Re:", "Fwd:" or "(fwd)" was removed (THREAD REFERENCES 5).
 */
static char *base_subject(const char *subject, bool *reply_r)
{
	struct buf b;
	buf_init(&b);
	bool sp = false;
	for (const char *p = subject != NULL ? subject : ""; *p != '\0'; p++) {
		bool w = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
		if (w && sp)
			continue;
		buf_append(&b, w ? " " : p, 1);
		sp = w;
	}
	buf_cstr(&b);
	char *s = b.data;
	size_t start = 0, end = b.len;
	*reply_r = false;
	for (;;) {
		/* (2) trailing "(fwd)" and white space */
		for (;;) {
			if (end > start && is_wsp(s[end - 1]))
				end--;
			else if (end - start >= 5 && strncasecmp(s + end - 5, "(fwd)", 5) == 0)
				end -= 5, *reply_r = true;
			else
				break;
		}
		/* (3)-(5) leaders and blobs */
		for (bool changed = true; changed;) {
			changed = false;
			size_t n;
			while ((n = subj_leader(s + start, end - start)) > 0) {
				if (!is_wsp(s[start]))
					*reply_r = true;
				start += n, changed = true;
			}
			n = subj_blob(s + start, end - start);
			if (n > 0 && n < end - start)
				start += n, changed = true;
		}
		/* (6) "[fwd: ... ]" */
		if (end - start >= 6 && strncasecmp(s + start, "[fwd:", 5) == 0 &&
		    s[end - 1] == ']') {
			start += 5, end -= 1, *reply_r = true;
			continue;
		}
		break;
	}
	char *r = ascii_casemap_dup(s + start, end - start);
	buf_deinit(&b);
	return r;
}

/* --- per-message data ----------------------------------------------------------------- */

struct sort_item {
	uint32_t seq, uid;
	time_t arrival, date;
	uint64_t size, modseq;
	char *subject; /* base subject, i;ascii-casemap */
	bool reply;
	char *from, *to, *cc; /* first mailbox, i;ascii-casemap */
	char *dfrom, *dto;    /* SORT=DISPLAY (RFC 5957), i;ascii-casemap; NULL unless asked */
	char *message_id, *in_reply_to;
	char blob_id[STORE_BLOB_ID_LEN + 1];
};

static char *fold_dup(char *s)
{
	if (s == NULL)
		return xstrdup("");
	char *r = ascii_casemap_dup(s, strlen(s));
	free(s);
	return r;
}

static void item_load(struct store *store, const struct imap_search_match *m, bool display,
		      struct sort_item *it)
{
	struct store_parsed_r p = {0};
	int r = store_blob_parsed(store, m->msg->msg.blob_id, &p);
	it->seq = m->seq;
	it->uid = m->uid;
	it->arrival = m->msg->msg.internal_date;
	it->size = m->msg->msg.size;
	it->modseq = m->modseq;
	memcpy(it->blob_id, m->msg->msg.blob_id, sizeof(it->blob_id));
	it->date = r == 1 && p.date != 0 ? p.date : it->arrival;
	it->subject = base_subject(r == 1 ? p.subject : NULL, &it->reply);
	const char *env = r == 1 ? p.envelope : NULL;
	it->from = fold_dup(env_first_mailbox(env, 2));
	it->to = fold_dup(env_first_mailbox(env, 5));
	it->cc = fold_dup(env_first_mailbox(env, 6));
	if (display) {
		it->dfrom = fold_dup(mime_address_display(r == 1 ? p.from : NULL));
		it->dto = fold_dup(mime_address_display(r == 1 ? p.to : NULL));
	}
	it->in_reply_to = env_string(env, 8);
	it->message_id =
		r == 1 && p.message_id != NULL ? xstrdup(p.message_id) : env_string(env, 9);
	store_parsed_r_free(&p);
}

static void items_free(struct sort_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].subject);
		free(items[i].from);
		free(items[i].to);
		free(items[i].cc);
		free(items[i].dfrom);
		free(items[i].dto);
		free(items[i].message_id);
		free(items[i].in_reply_to);
	}
	free(items);
}

/* --- SORT --------------------------------------------------------------------------------- */

enum sort_key {
	S_ARRIVAL,
	S_CC,
	S_DATE,
	S_FROM,
	S_SIZE,
	S_SUBJECT,
	S_TO,
	S_DISPLAYFROM,
	S_DISPLAYTO
};

#define SORT_MAX_CRITERIA 16

struct sort_crit {
	enum sort_key key;
	bool reverse;
};

struct sort_spec {
	struct sort_crit c[SORT_MAX_CRITERIA];
	size_t n;
	bool display; /* a DISPLAYFROM/DISPLAYTO key: item_load computes them */
};

static int cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int sort_cmp_key(enum sort_key key, const struct sort_item *a, const struct sort_item *b)
{
	switch (key) {
	case S_ARRIVAL:
		return cmp_num((uint64_t)a->arrival, (uint64_t)b->arrival);
	case S_DATE:
		return a->date < b->date ? -1 : a->date > b->date;
	case S_SIZE:
		return cmp_num(a->size, b->size);
	case S_SUBJECT:
		return strcmp(a->subject, b->subject);
	case S_FROM:
		return strcmp(a->from, b->from);
	case S_TO:
		return strcmp(a->to, b->to);
	case S_CC:
		return strcmp(a->cc, b->cc);
	case S_DISPLAYFROM:
		return strcmp(a->dfrom, b->dfrom);
	case S_DISPLAYTO:
		return strcmp(a->dto, b->dto);
	}
	return 0;
}

static int sort_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct sort_spec *spec = ctx;
	const struct sort_item *a = pa, *b = pb;
	for (size_t i = 0; i < spec->n; i++) {
		int c = sort_cmp_key(spec->c[i].key, a, b);
		if (c != 0)
			return spec->c[i].reverse ? -c : c;
	}
	/* The final tie-break: sequence order, which is UID order (and UIDs do
	 * not move when a context's messages are expunged). */
	return cmp_num(a->uid, b->uid);
}

static int sort_parse_criteria(const struct imap_arg *list, struct sort_spec *spec)
{
	static const struct {
		const char *name;
		enum sort_key key;
	} names[] = {{"ARRIVAL", S_ARRIVAL},
		     {"CC", S_CC},
		     {"DATE", S_DATE},
		     {"FROM", S_FROM},
		     {"SIZE", S_SIZE},
		     {"SUBJECT", S_SUBJECT},
		     {"TO", S_TO},
		     {"DISPLAYFROM", S_DISPLAYFROM},
		     {"DISPLAYTO", S_DISPLAYTO}};
	bool reverse = false;
	spec->n = 0;
	for (; !imap_arg_is_eol(list); list++) {
		if (imap_arg_atom_equals(list, "REVERSE")) {
			if (reverse)
				return -1;
			reverse = true;
			continue;
		}
		size_t i = 0;
		while (i < sizeof(names) / sizeof(names[0]) &&
		       !imap_arg_atom_equals(list, names[i].name))
			i++;
		if (i == sizeof(names) / sizeof(names[0]) || spec->n == SORT_MAX_CRITERIA)
			return -1;
		spec->c[spec->n++] = (struct sort_crit){names[i].key, reverse};
		spec->display |= names[i].key == S_DISPLAYFROM || names[i].key == S_DISPLAYTO;
		reverse = false;
	}
	return spec->n > 0 && !reverse ? 0 : -1;
}

/*
 * The search part shared by SORT and THREAD, run in slices like SEARCH:
 * the program's evaluation (imap_search_step), then the matches' sort data
 * (item_load, one store read each), IMAP_SLICE_US per loop turn; then
 * finish orders and writes the answer in one go.
 */
typedef enum imap_cmd_ret sort_finish_func_t(struct imap_cmd *cmd, struct buf *out,
					     struct sort_item *items, size_t n);

struct sort_ctx {
	struct imap_search_program *prog;
	struct imap_search_result r;
	struct sort_item *items;
	size_t n_loaded;
	sort_finish_func_t *finish;
	struct sort_spec spec;        /* SORT */
	struct imap_search_options o; /* SORT RETURN (...) (ESORT, RFC 5267) */
	bool refs;                    /* THREAD=REFERENCES */
};

static void sort_ctx_free(void *context)
{
	struct sort_ctx *c = context;
	if (c->items != NULL)
		items_free(c->items, c->n_loaded);
	imap_search_result_free(&c->r);
	imap_search_program_free(&c->prog);
	free(c);
}

static enum imap_cmd_ret sort_continue(struct imap_cmd *cmd, struct buf *out)
{
	struct imap_session *s = cmd->session;
	struct sort_ctx *c = cmd->context;
	uint64_t deadline = imap_now_us() + IMAP_SLICE_US;
	const char *error;
	if (c->items == NULL) {
		int r = imap_search_step(s, c->prog, &c->r, deadline, &error);
		if (r < 0)
			return imap_cmd_no(cmd, out, "[SERVERBUG] %s", error);
		if (r == 0) {
			cmd->func = sort_continue;
			return IMAP_CMD_YIELD;
		}
		c->items = xcalloc(c->r.n > 0 ? c->r.n : 1, sizeof(*c->items));
	}
	while (c->n_loaded < c->r.n) {
		item_load(s->store, &c->r.matches[c->n_loaded], c->spec.display,
			  &c->items[c->n_loaded]);
		c->n_loaded++;
		if (c->n_loaded % 16 == 0 && imap_now_us() >= deadline) {
			cmd->func = sort_continue;
			return IMAP_CMD_YIELD;
		}
	}
	return c->finish(cmd, out, c->items, c->n_loaded);
}

/* Charset and program, then the first slice. Replies itself on errors. */
static enum imap_cmd_ret sort_start(struct imap_cmd *cmd, struct buf *out,
				    const struct imap_arg *args)
{
	struct imap_session *s = cmd->session;
	struct sort_ctx *c = cmd->context;
	const char *cs, *error;
	imap_cmd_sync(cmd, out);
	if (!imap_arg_get_astring(&args[0], &cs))
		return imap_cmd_bad(cmd, out, "Missing charset");
	if (!imap_search_charset_ok(cs))
		return imap_cmd_no(cmd, out, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	const struct imap_view *v = s->view;
	struct imap_search_limits lim = {(uint32_t)v->count,
					 v->count > 0 ? v->uids[v->count - 1] : 0};
	if (imap_search_parse(&args[1], &lim, &c->prog, &error) < 0)
		return imap_cmd_bad(cmd, out, "%s", error);
	if (c->prog->uses_modseq)
		imap_session_condstore_enable(s);
	c->prog->needs_rows = true; /* item_load reads matches[].msg */
	if (imap_search_begin(s, c->prog, &c->r, &error) < 0)
		return imap_cmd_no(cmd, out, "[SERVERBUG] %s", error);
	return sort_continue(cmd, out);
}

static struct sort_ctx *sort_ctx_new(struct imap_cmd *cmd, sort_finish_func_t *finish)
{
	struct sort_ctx *c = xcalloc(1, sizeof(*c));
	c->finish = finish;
	cmd->context = c;
	cmd->free_context = sort_ctx_free;
	return c;
}

/* --- sorted results kept for CONTEXT=SORT (imap-context.c) ------------------------- */

struct imap_sort_order {
	struct sort_spec spec;
	struct sort_item *items; /* in sort order */
	size_t n, cap;
};

void imap_sort_order_free(struct imap_sort_order **o)
{
	if (*o == NULL)
		return;
	items_free((*o)->items, (*o)->n);
	free(*o);
	*o = NULL;
}

size_t imap_sort_order_count(const struct imap_sort_order *o)
{
	return o->n;
}

uint32_t imap_sort_order_uid(const struct imap_sort_order *o, size_t pos)
{
	return o->items[pos].uid;
}

bool imap_sort_order_find(const struct imap_sort_order *o, uint32_t uid, size_t *pos_r)
{
	for (size_t i = 0; i < o->n; i++) {
		if (o->items[i].uid == uid) {
			*pos_r = i;
			return true;
		}
	}
	return false;
}

void imap_sort_order_remove(struct imap_sort_order *o, size_t pos)
{
	struct sort_item *it = &o->items[pos];
	free(it->subject);
	free(it->from);
	free(it->to);
	free(it->cc);
	free(it->dfrom);
	free(it->dto);
	free(it->message_id);
	free(it->in_reply_to);
	memmove(it, it + 1, (o->n - pos - 1) * sizeof(*it));
	o->n--;
}

size_t imap_sort_order_insert(struct imap_sort_order *o, struct store *store,
			      const struct store_message_ex *m, uint32_t seq)
{
	struct imap_search_match match = {seq, m->msg.uid, m->msg.modseq, m};
	struct sort_item it = {0};
	item_load(store, &match, o->spec.display, &it);
	/* The first position whose item sorts after the new one. */
	size_t lo = 0, hi = o->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sort_cmp(&o->items[mid], &it, &o->spec) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (o->n == o->cap) {
		o->cap = o->cap > 0 ? o->cap * 2 : 8;
		o->items = xrealloc(o->items, o->cap * sizeof(*o->items));
	}
	memmove(o->items + lo + 1, o->items + lo, (o->n - lo) * sizeof(*o->items));
	o->items[lo] = it;
	o->n++;
	return lo;
}

static enum imap_cmd_ret sort_finish(struct imap_cmd *cmd, struct buf *out, struct sort_item *items,
				     size_t n)
{
	struct sort_ctx *c = cmd->context;
	qsort_r(items, n, sizeof(*items), sort_cmp, &c->spec);
	if (c->o.esearch) {
		uint32_t *vals = xcalloc(n > 0 ? n : 1, sizeof(*vals));
		uint64_t *modseqs = xcalloc(n > 0 ? n : 1, sizeof(*modseqs));
		for (size_t i = 0; i < n; i++) {
			vals[i] = cmd->uid ? items[i].uid : items[i].seq;
			modseqs[i] = items[i].modseq;
		}
		imap_esearch_write(cmd, out, &c->o, c->prog->uses_modseq, vals, modseqs, n);
		free(vals);
		free(modseqs);
		if (c->o.ret_update) {
			/* The context takes the program and the sorted items. */
			struct imap_sort_order *o = xcalloc(1, sizeof(*o));
			o->spec = c->spec;
			o->items = c->items;
			o->n = o->cap = c->n_loaded;
			c->items = NULL;
			c->n_loaded = 0;
			imap_context_add_sort(cmd, out, &c->prog, &o);
		}
		return imap_cmd_ok(cmd, out, "%sSORT completed", cmd->uid ? "UID " : "");
	}
	buf_append_str(out, "* SORT");
	for (size_t i = 0; i < n; i++)
		buf_printf(out, " %u", cmd->uid ? items[i].uid : items[i].seq);
	buf_append_str(out, "\r\n");
	return imap_cmd_ok(cmd, out, "%sSORT completed", cmd->uid ? "UID " : "");
}

enum imap_cmd_ret cmd_sort(struct imap_cmd *cmd, struct buf *out)
{
	struct sort_ctx *c = sort_ctx_new(cmd, sort_finish);
	const struct imap_arg *args = cmd->args, *crit, *opts;
	const char *error;
	if (imap_arg_atom_equals(&args[0], "RETURN")) {
		if (!imap_arg_get_list(&args[1], &opts, NULL))
			return imap_cmd_bad(cmd, out, "RETURN needs a list of options");
		if (imap_search_parse_return(opts, true, &c->o, &error) < 0)
			return imap_cmd_bad(cmd, out, "%s", error);
		args += 2;
	}
	/* RFC 5267 4.3: the tag names the context; a live one cannot be reused. */
	if (c->o.ret_update && imap_context_tag_used(cmd->session, cmd->tag))
		return imap_cmd_bad(cmd, out, "Tag reuse: an updating context has this tag");
	if (!imap_arg_get_list(&args[0], &crit, NULL) || sort_parse_criteria(crit, &c->spec) < 0)
		return imap_cmd_bad(cmd, out, "Invalid sort criteria");
	return sort_start(cmd, out, &args[1]);
}

/* --- THREAD ---------------------------------------------------------------------------- */

/* A node of the thread tree; item NULL is a dummy (a message not found). */
struct tnode {
	struct sort_item *item;
	struct tnode *parent, *child, *next; /* first child, next sibling */
	char *id;
};

/* Date of a node for ordering: its message, or a dummy's first child. */
static const struct sort_item *tnode_item(const struct tnode *t)
{
	while (t != NULL && t->item == NULL)
		t = t->child;
	return t != NULL ? t->item : NULL;
}

static int tnode_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = tnode_item(*(struct tnode *const *)pa);
	const struct sort_item *b = tnode_item(*(struct tnode *const *)pb);
	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return cmp_num(a->seq, b->seq);
}

/* Sort the children of t (recursively) by sent date, then sequence. */
static void tnode_sort_children(struct tnode *t, unsigned depth)
{
	size_t n = 0;
	for (struct tnode *c = t->child; c != NULL; c = c->next)
		n++;
	if (n == 0)
		return;
	struct tnode **v = xcalloc(n, sizeof(*v));
	n = 0;
	for (struct tnode *c = t->child; c != NULL; c = c->next)
		v[n++] = c;
	/* Deep chains recurse: children are sorted first so dummies date right. */
	for (size_t i = 0; i < n; i++)
		if (depth < 10000)
			tnode_sort_children(v[i], depth + 1);
	qsort(v, n, sizeof(*v), tnode_cmp);
	t->child = v[0];
	for (size_t i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	v[n - 1]->next = NULL;
	free(v);
}

/* thread-members / thread-nested of t (RFC 5256 grammar). */
static void tnode_write(struct buf *out, const struct tnode *t, bool first, bool uid)
{
	/* Single-child chains are written inline: iterate rather than recurse. */
	while (t != NULL) {
		if (t->item != NULL) {
			buf_printf(out, first ? "%u" : " %u", uid ? t->item->uid : t->item->seq);
			first = false;
		}
		if (t->child != NULL && t->child->next != NULL) {
			if (!first)
				buf_append(out, " ", 1);
			for (const struct tnode *c = t->child; c != NULL; c = c->next) {
				buf_append(out, "(", 1);
				tnode_write(out, c, true, uid);
				buf_append(out, ")", 1);
			}
			return;
		}
		t = t->child;
	}
}

static void thread_write(struct imap_cmd *cmd, struct buf *out, struct tnode *root)
{
	tnode_sort_children(root, 0);
	buf_append_str(out, "* THREAD ");
	for (const struct tnode *t = root->child; t != NULL; t = t->next) {
		buf_append(out, "(", 1);
		tnode_write(out, t, true, cmd->uid);
		buf_append(out, ")", 1);
	}
	buf_append_str(out, "\r\n");
}

static void tnode_append_child(struct tnode *parent, struct tnode *c)
{
	c->parent = parent;
	c->next = NULL;
	struct tnode **pp = &parent->child;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = c;
}

static void tnode_unlink(struct tnode *c)
{
	if (c->parent == NULL)
		return;
	struct tnode **pp = &c->parent->child;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	c->next = NULL;
	c->parent = NULL;
}

static int item_subject_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	int c = strcmp(a->subject, b->subject);
	if (c != 0)
		return c;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return cmp_num(a->seq, b->seq);
}

/* ORDEREDSUBJECT: one thread per base subject, the first message the parent. */
static void thread_orderedsubject(struct sort_item *items, size_t n, struct tnode *root,
				  struct tnode *nodes)
{
	qsort(items, n, sizeof(*items), item_subject_cmp);
	struct tnode *top = NULL;
	for (size_t i = 0; i < n; i++) {
		nodes[i].item = &items[i];
		if (top == NULL || strcmp(top->item->subject, items[i].subject) != 0) {
			top = &nodes[i];
			tnode_append_child(root, top);
		} else {
			tnode_append_child(top, &nodes[i]);
		}
	}
}

/* --- THREAD=REFERENCES (RFC 5256 3) ------------------------------------------------ */

#define THREAD_MAX_REFS 64             /* msg-ids read from one References: */
#define THREAD_HEADER_READ (64 * 1024) /* header bytes read per message */
#define THREAD_MAX_DEPTH 4096          /* recursion cap for pruning */

struct tpool {
	struct tnode **v;
	size_t n, cap;
};

static struct tnode *tpool_new(struct tpool *p)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	return p->v[p->n++] = xcalloc(1, sizeof(struct tnode));
}

static void tpool_free(struct tpool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i]->id);
		free(p->v[i]);
	}
	free(p->v);
}

/* String -> node, open addressing; the key is the node's id (or a subject). */
struct ttable {
	const char **keys;
	struct tnode **vals;
	size_t cap, n;
};

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct tnode **ttable_slot(struct ttable *t, const char *key)
{
	if (t->n * 2 >= t->cap) {
		struct ttable big = {.cap = t->cap ? t->cap * 2 : 256};
		big.keys = xcalloc(big.cap, sizeof(*big.keys));
		big.vals = xcalloc(big.cap, sizeof(*big.vals));
		for (size_t i = 0; i < t->cap; i++)
			if (t->keys[i] != NULL) {
				size_t j = str_hash(t->keys[i]) & (big.cap - 1);
				while (big.keys[j] != NULL)
					j = (j + 1) & (big.cap - 1);
				big.keys[j] = t->keys[i];
				big.vals[j] = t->vals[i];
			}
		big.n = t->n;
		free(t->keys);
		free(t->vals);
		*t = big;
	}
	size_t j = str_hash(key) & (t->cap - 1);
	while (t->keys[j] != NULL && strcmp(t->keys[j], key) != 0)
		j = (j + 1) & (t->cap - 1);
	if (t->keys[j] == NULL) {
		t->keys[j] = key;
		t->n++;
	}
	return &t->vals[j];
}

static void ttable_free(struct ttable *t)
{
	free(t->keys);
	free(t->vals);
}

/* The msg-ids "<...>" in text, at most max (the last ones kept). */
static size_t msgids_parse(const char *text, char **ids, size_t max)
{
	size_t n = 0;
	for (const char *p = text; p != NULL && (p = strchr(p, '<')) != NULL;) {
		const char *e = strchr(p + 1, '>');
		if (e == NULL)
			break;
		const char *inner = memchr(p + 1, '<', (size_t)(e - p - 1));
		if (inner != NULL) {
			p = inner;
			continue;
		}
		if (e > p + 1) {
			if (n == max) {
				free(ids[0]);
				memmove(ids, ids + 1, (max - 1) * sizeof(*ids));
				n--;
			}
			ids[n++] = xstrndup(p, (size_t)(e - p + 1));
		}
		p = e + 1;
	}
	return n;
}

/* The unfolded References: field of a message (malloc'd) or NULL. */
static char *read_references(struct store *store, const char *blob_id)
{
	int fd = store_blob_open(store, blob_id);
	if (fd < 0)
		return NULL;
	char *h = xmalloc(THREAD_HEADER_READ + 1);
	size_t len = 0;
	ssize_t r;
	while (len < THREAD_HEADER_READ && (r = read(fd, h + len, THREAD_HEADER_READ - len)) > 0)
		len += (size_t)r;
	close(fd);
	h[len] = '\0';
	char *found = NULL;
	for (char *line = h; *line != '\0' && *line != '\r' && *line != '\n';) {
		char *eol = strchr(line, '\n');
		if (strncasecmp(line, "References:", 11) == 0) {
			struct buf v;
			buf_init(&v);
			char *p = line + 11;
			for (;;) {
				char *e = strchr(p, '\n');
				buf_append(&v, p, e != NULL ? (size_t)(e - p) : strlen(p));
				buf_append(&v, " ", 1);
				if (e == NULL || (e[1] != ' ' && e[1] != '\t'))
					break;
				p = e + 1;
			}
			found = xstrdup(buf_cstr(&v));
			buf_deinit(&v);
			break;
		}
		if (eol == NULL)
			break;
		line = eol + 1;
	}
	free(h);
	return found;
}

/* Is a an ancestor of b (or b itself)? */
static bool tnode_reaches(const struct tnode *a, const struct tnode *b)
{
	for (; b != NULL; b = b->parent)
		if (a == b)
			return true;
	return false;
}

static struct tnode *id_node(struct ttable *ids, struct tpool *pool, const char *id)
{
	struct tnode **slot = ttable_slot(ids, id);
	if (*slot == NULL) {
		*slot = tpool_new(pool);
		(*slot)->id = xstrdup(id);
		/* The table's key must live as long as the node. */
		ids->keys[slot - ids->vals] = (*slot)->id;
	}
	return *slot;
}

static void link_child(struct tnode *parent, struct tnode *c)
{
	tnode_unlink(c);
	tnode_append_child(parent, c);
}

/* RFC 5256 3 (1): link each message and its references. */
static void thread_link(struct sort_item *it, struct store *store, struct ttable *ids,
			struct tpool *pool)
{
	char *mid[1];
	struct tnode *node;
	/* The stored Message-ID may have lost its angle brackets. */
	char *wrapped = it->message_id != NULL && strchr(it->message_id, '<') == NULL
		? xasprintf("<%s>", it->message_id)
		: NULL;
	size_t n_mid = msgids_parse(wrapped != NULL ? wrapped : it->message_id, mid, 1);
	free(wrapped);
	if (n_mid == 1) {
		node = id_node(ids, pool, mid[0]);
		free(mid[0]);
		if (node->item != NULL)
			node = tpool_new(pool); /* a duplicate Message-ID: its own node */
	} else {
		node = tpool_new(pool);
	}
	node->item = it;
	char *refs[THREAD_MAX_REFS];
	char *text = read_references(store, it->blob_id);
	size_t n = msgids_parse(text, refs, THREAD_MAX_REFS);
	free(text);
	if (n == 0)
		n = msgids_parse(it->in_reply_to, refs, 1);
	struct tnode *prev = NULL;
	for (size_t i = 0; i < n; i++) {
		struct tnode *r = id_node(ids, pool, refs[i]);
		if (prev != NULL && r->parent == NULL && !tnode_reaches(r, prev))
			link_child(prev, r);
		prev = r;
		free(refs[i]);
	}
	tnode_unlink(node);
	if (prev != NULL && !tnode_reaches(node, prev))
		tnode_append_child(prev, node);
}

/* RFC 5256 3 (3): drop empty dummies, promote a dummy's children. */
static void thread_prune(struct tnode *parent, bool is_root, unsigned depth)
{
	struct tnode **pp = &parent->child;
	while (*pp != NULL) {
		struct tnode *c = *pp;
		if (depth < THREAD_MAX_DEPTH)
			thread_prune(c, false, depth + 1);
		if (c->item != NULL || (is_root && c->child != NULL && c->child->next != NULL)) {
			pp = &c->next;
			continue;
		}
		struct tnode *kids = c->child, *after = c->next;
		c->child = NULL;
		c->next = NULL;
		c->parent = NULL;
		if (kids == NULL) {
			*pp = after;
			continue;
		}
		*pp = kids;
		struct tnode *last = kids;
		for (struct tnode *k = kids; k != NULL; k = k->next) {
			k->parent = parent;
			last = k;
		}
		last->next = after;
		pp = &last->next;
	}
}

static bool tnode_is_reply(const struct tnode *t)
{
	return t->item != NULL && t->item->reply;
}

/* RFC 5256 3 (5): gather root-level threads with the same base subject. */
static void thread_group_subjects(struct tnode *root, struct tpool *pool)
{
	struct ttable subj = {0};
	for (struct tnode *t = root->child; t != NULL; t = t->next) {
		const struct sort_item *it = tnode_item(t);
		if (it == NULL || it->subject[0] == '\0')
			continue;
		struct tnode **slot = ttable_slot(&subj, it->subject);
		if (*slot == NULL || (t->item == NULL && (*slot)->item != NULL) ||
		    (tnode_is_reply(*slot) && t->item != NULL && !tnode_is_reply(t)))
			*slot = t;
	}
	for (struct tnode *t = root->child, *next; t != NULL; t = next) {
		next = t->next;
		const struct sort_item *it = tnode_item(t);
		if (it == NULL || it->subject[0] == '\0')
			continue;
		struct tnode **slot = ttable_slot(&subj, it->subject);
		struct tnode *e = *slot;
		if (e == t)
			continue;
		tnode_unlink(t);
		if (e->item == NULL && t->item == NULL) {
			while (t->child != NULL)
				link_child(e, t->child);
		} else if (e->item == NULL || (tnode_is_reply(t) && !tnode_is_reply(e))) {
			tnode_append_child(e, t);
		} else {
			struct tnode *d = tpool_new(pool);
			/* d takes e's place among the roots. */
			struct tnode **pp = &root->child;
			while (*pp != NULL && *pp != e)
				pp = &(*pp)->next;
			if (*pp == NULL)
				continue; /* e is always a root here; never reached */
			d->next = e->next;
			d->parent = root;
			*pp = d;
			e->next = NULL;
			e->parent = NULL;
			tnode_append_child(d, e);
			tnode_append_child(d, t);
			*slot = d;
		}
	}
	ttable_free(&subj);
}

static void thread_references(struct sort_item *items, size_t n, struct tnode *root,
			      struct store *store, struct tpool *pool)
{
	struct ttable ids = {0};
	for (size_t i = 0; i < n; i++)
		thread_link(&items[i], store, &ids, pool);
	for (size_t i = 0; i < pool->n; i++)
		if (pool->v[i]->parent == NULL)
			tnode_append_child(root, pool->v[i]);
	thread_prune(root, true, 0);
	tnode_sort_children(root, 0);
	thread_group_subjects(root, pool);
	ttable_free(&ids);
}

static enum imap_cmd_ret thread_finish(struct imap_cmd *cmd, struct buf *out,
				       struct sort_item *items, size_t n)
{
	struct sort_ctx *c = cmd->context;
	struct tnode root = {0};
	if (c->refs) {
		struct tpool pool = {0};
		thread_references(items, n, &root, cmd->session->store, &pool);
		thread_write(cmd, out, &root);
		tpool_free(&pool);
	} else {
		struct tnode *nodes = xcalloc(n > 0 ? n : 1, sizeof(*nodes));
		thread_orderedsubject(items, n, &root, nodes);
		thread_write(cmd, out, &root);
		free(nodes);
	}
	return imap_cmd_ok(cmd, out, "%sTHREAD completed", cmd->uid ? "UID " : "");
}

enum imap_cmd_ret cmd_thread(struct imap_cmd *cmd, struct buf *out)
{
	struct sort_ctx *c = sort_ctx_new(cmd, thread_finish);
	if (imap_arg_atom_equals(&cmd->args[0], "ORDEREDSUBJECT"))
		c->refs = false;
	else if (imap_arg_atom_equals(&cmd->args[0], "REFERENCES"))
		c->refs = true;
	else
		return imap_cmd_bad(cmd, out, "Unknown threading algorithm");
	return sort_start(cmd, out, &cmd->args[1]);
}
