/* SPDX-License-Identifier: MIT */
/*
 * The Sieve interpreter: walks the compiled nodes of a script against one
 * message and collects actions (RFC 5228 section 2.10: the implicit keep
 * unless an action cancels it, duplicate fileinto/keep folded into one).
 * Header fields are read once from the message's header block; variables
 * (RFC 5229) are expanded in strings at run time; imap4flags keeps the
 * internal flag set as a space-separated string like any variable. Every
 * command and test costs a step, every character a match compares or a
 * body test parses costs from a second, larger budget; running out, too
 * many actions or redirects, is a runtime error (the caller keeps the
 * message). Vacation decides here whether a reply is due at all (RFC 5230
 * section 4.5: no lists, bulk, auto-submitted or null senders, only mail
 * addressed to the user); the once-per-:days memory is the caller's.
 */
#include "sieve/sieve-private.h"

#include "lib/buf.h"
#include "lib/util.h"
#include "mime/mime.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct hdr {
	char *name;
	char *raw; /* unfolded, undecoded */
};

struct run {
	const struct sieve_script *sc;
	const struct sieve_message *m;
	struct sieve_result *res;
	unsigned budget;       /* commands and tests */
	unsigned match_budget; /* characters compared or parsed */
	char *var_names[SIEVE_VARS_MAX];
	char *var_vals[SIEVE_VARS_MAX];
	size_t n_vars;
	char *caps[10];
	char *iflags; /* imap4flags internal variable */
	bool cancel_keep, stopped, failed;
	unsigned redirects;
	const char *error;
	struct hdr *h;
	size_t n_h;
	bool h_loaded;
};

static _Thread_local char run_error[200];

static const struct sieve_node *N(const struct run *r, int32_t i)
{
	return &r->sc->nodes[i];
}

static bool fail(struct run *r, const struct sieve_node *at, const char *why)
{
	if (!r->failed) {
		snprintf(run_error, sizeof(run_error), "%u:%u: %s", at->line, at->col, why);
		r->error = run_error;
	}
	r->failed = true;
	return false;
}

static bool step(struct run *r, const struct sieve_node *at)
{
	if (r->budget == 0)
		return fail(r, at, "too many steps");
	r->budget--;
	return true;
}

/* --- strings, variables -------------------------------------------------- */

static const char *var_get(const struct run *r, const char *name, size_t len)
{
	if (len > 0 && len <= 2 && name[0] >= '0' && name[0] <= '9') {
		unsigned k = (unsigned)(name[0] - '0');
		if (len == 2 && name[1] >= '0' && name[1] <= '9')
			k = k * 10 + (unsigned)(name[1] - '0');
		return k < 10 && r->caps[k] != NULL ? r->caps[k] : "";
	}
	for (size_t i = 0; i < r->n_vars; i++) {
		if (strlen(r->var_names[i]) == len && strncasecmp(r->var_names[i], name, len) == 0)
			return r->var_vals[i];
	}
	return "";
}

static bool var_name_ok(const char *p, size_t len, bool digits_ok)
{
	if (len == 0)
		return false;
	if (p[0] >= '0' && p[0] <= '9') {
		for (size_t i = 0; i < len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return false;
		}
		return digits_ok;
	}
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (c >= '0' && c <= '9') || (c == '.' && i > 0)))
			return false;
	}
	return true;
}

/* The string node i, with ${...} expanded when variables is required. */
static char *expand(const struct run *r, int32_t i)
{
	const struct sieve_node *n = N(r, i);
	const char *s = r->sc->pool + n->off;
	if (!(r->sc->exts & SV_X_VARIABLES) || strstr(s, "${") == NULL)
		return xstrndup(s, n->len);
	struct buf b;
	buf_init(&b);
	for (size_t k = 0; k < n->len;) {
		if (s[k] == '$' && k + 1 < n->len && s[k + 1] == '{') {
			const char *close = memchr(s + k + 2, '}', n->len - k - 2);
			size_t nl = close != NULL ? (size_t)(close - (s + k + 2)) : 0;
			if (close != NULL && var_name_ok(s + k + 2, nl, true)) {
				buf_append_str(&b, var_get(r, s + k + 2, nl));
				k += nl + 3;
				continue;
			}
		}
		buf_append(&b, s + k, 1);
		k++;
	}
	char *out = xstrndup(b.data != NULL ? b.data : "",
			     b.len > SIEVE_VAR_LEN_MAX ? SIEVE_VAR_LEN_MAX : b.len);
	buf_deinit(&b);
	return out;
}

struct strv {
	char **v;
	size_t n;
};

static void strv_push(struct strv *sv, char *s)
{
	sv->v = xrealloc(sv->v, (sv->n + 1) * sizeof(*sv->v));
	sv->v[sv->n++] = s;
}

static void strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* A string or string list argument, expanded. */
static struct strv list_get(const struct run *r, int32_t i)
{
	struct strv sv = {0};
	if (i == SV_NONE)
		return sv;
	if (N(r, i)->kind == SV_STR) {
		strv_push(&sv, expand(r, i));
		return sv;
	}
	for (int32_t s = N(r, i)->args; s != SV_NONE; s = N(r, s)->next)
		strv_push(&sv, expand(r, s));
	return sv;
}

static bool var_set(struct run *r, const struct sieve_node *at, const char *name, const char *v)
{
	size_t len = strlen(name);
	if (!var_name_ok(name, len, false))
		return fail(r, at, "invalid variable name");
	size_t vl = strlen(v);
	for (size_t i = 0; i < r->n_vars; i++) {
		if (strcasecmp(r->var_names[i], name) == 0) {
			free(r->var_vals[i]);
			r->var_vals[i] =
				xstrndup(v, vl > SIEVE_VAR_LEN_MAX ? SIEVE_VAR_LEN_MAX : vl);
			return true;
		}
	}
	if (r->n_vars == SIEVE_VARS_MAX)
		return fail(r, at, "too many variables");
	r->var_names[r->n_vars] = xstrdup(name);
	r->var_vals[r->n_vars++] = xstrndup(v, vl > SIEVE_VAR_LEN_MAX ? SIEVE_VAR_LEN_MAX : vl);
	return true;
}

/* --- the message --------------------------------------------------------- */

static bool hdr_cb(void *ctx, const char *name, size_t nlen, const char *value)
{
	struct run *r = ctx;
	if (r->n_h >= 10000)
		return true;
	r->h = xrealloc(r->h, (r->n_h + 1) * sizeof(*r->h));
	r->h[r->n_h].name = xstrndup(name, nlen);
	r->h[r->n_h].raw = xstrdup(value);
	r->n_h++;
	return false;
}

static void load_headers(struct run *r)
{
	if (r->h_loaded)
		return;
	r->h_loaded = true;
	size_t hl = mime_text_header_len(r->m->data, r->m->len);
	mime_text_each_header(r->m->data, hl, hdr_cb, r);
}

/*
 * Raw fields named name, in order; with idx (1-based, from the end when
 * last) only that one.
 */
static void fields(struct run *r, const char *name, uint32_t idx, bool last, struct strv *out)
{
	load_headers(r);
	size_t count = 0;
	for (size_t i = 0; i < r->n_h; i++)
		count += strcasecmp(r->h[i].name, name) == 0;
	size_t want = idx == 0 ? 0 : last ? (idx <= count ? count - idx + 1 : 0) : idx;
	if (idx != 0 && want == 0)
		return;
	size_t k = 0;
	for (size_t i = 0; i < r->n_h; i++) {
		if (strcasecmp(r->h[i].name, name) != 0)
			continue;
		k++;
		if (want == 0 || k == want)
			strv_push(out, xstrdup(r->h[i].raw));
	}
}

static const char *first_field(struct run *r, const char *name)
{
	load_headers(r);
	for (size_t i = 0; i < r->n_h; i++) {
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].raw;
	}
	return NULL;
}

/* --- tests ---------------------------------------------------------------- */

/* Take the captures of a successful :matches as ${0}..${9}. */
static void caps_take(struct run *r, char **caps)
{
	for (int i = 0; i < 10; i++) {
		free(r->caps[i]);
		r->caps[i] = caps[i];
		caps[i] = NULL;
	}
}

/* Compare values against the keys of node n (match type, comparator). */
static bool match_values(struct run *r, const struct sieve_node *n, const struct strv *vals,
			 int32_t keys_idx)
{
	struct strv keys = list_get(r, keys_idx);
	bool hit = false;
	if (n->match == SV_M_COUNT) {
		char cnt[32];
		snprintf(cnt, sizeof(cnt), "%zu", vals->n);
		for (size_t k = 0; k < keys.n && !hit; k++)
			hit = sieve_relational(n->rel, n->cmp, cnt, keys.v[k]);
		strv_free(&keys);
		return hit;
	}
	bool want_caps = n->match == SV_M_MATCHES && (r->sc->exts & SV_X_VARIABLES);
	char *caps[10] = {0};
	for (size_t v = 0; v < vals->n && !hit; v++) {
		for (size_t k = 0; k < keys.n && !hit; k++) {
			hit = sieve_match(n->match, n->rel, n->cmp, vals->v[v], keys.v[k],
					  want_caps ? caps : NULL, &r->match_budget);
			if (r->match_budget == 0)
				fail(r, n, "too many steps");
		}
	}
	if (hit && want_caps)
		caps_take(r, caps);
	for (int i = 0; i < 10; i++)
		free(caps[i]);
	strv_free(&keys);
	return hit && !r->failed;
}

static void add_address_parts(const struct sieve_node *n, char **addrs, size_t na,
			      struct strv *vals)
{
	for (size_t a = 0; a < na; a++) {
		char *p = sieve_address_part(addrs[a], n->part);
		if (p != NULL)
			strv_push(vals, p);
	}
}

static bool test_address(struct run *r, const struct sieve_node *n)
{
	struct strv names = list_get(r, n->pos[0]), vals = {0};
	for (size_t i = 0; i < names.n; i++) {
		struct strv raw = {0};
		fields(r, names.v[i], n->index, n->last, &raw);
		for (size_t f = 0; f < raw.n; f++) {
			char **addrs = NULL;
			size_t na = 0;
			sieve_addresses(raw.v[f], &addrs, &na);
			add_address_parts(n, addrs, na, &vals);
			mime_addresses_free(&addrs, na);
		}
		strv_free(&raw);
	}
	bool hit = match_values(r, n, &vals, n->pos[1]);
	strv_free(&names);
	strv_free(&vals);
	return hit;
}

static bool test_header(struct run *r, const struct sieve_node *n)
{
	struct strv names = list_get(r, n->pos[0]), vals = {0};
	for (size_t i = 0; i < names.n; i++) {
		struct strv raw = {0};
		fields(r, names.v[i], n->index, n->last, &raw);
		for (size_t f = 0; f < raw.n; f++)
			strv_push(&vals, sieve_header_decode(raw.v[f]));
		strv_free(&raw);
	}
	bool hit = match_values(r, n, &vals, n->pos[1]);
	strv_free(&names);
	strv_free(&vals);
	return hit;
}

static bool test_exists(struct run *r, const struct sieve_node *n)
{
	struct strv names = list_get(r, n->pos[0]);
	bool all = true;
	for (size_t i = 0; i < names.n && all; i++)
		all = first_field(r, names.v[i]) != NULL;
	strv_free(&names);
	return all;
}

static bool test_envelope(struct run *r, const struct sieve_node *n)
{
	struct strv parts = list_get(r, n->pos[0]), vals = {0};
	for (size_t i = 0; i < parts.n; i++) {
		const char *a = strcasecmp(parts.v[i], "from") == 0 ? r->m->env_from
			: strcasecmp(parts.v[i], "to") == 0         ? r->m->env_to
								    : NULL;
		if (a == NULL)
			continue;
		/* The null reverse-path has no local part or domain. */
		if (a[0] == '\0') {
			if (n->part == SV_P_ALL)
				strv_push(&vals, xstrdup(""));
			continue;
		}
		char *p = sieve_address_part(a, n->part);
		if (p != NULL)
			strv_push(&vals, p);
	}
	bool hit = match_values(r, n, &vals, n->pos[1]);
	strv_free(&parts);
	strv_free(&vals);
	return hit;
}

/* Split a flag string into its flags (duplicates kept out). */
static struct strv flags_split(const char *s)
{
	struct strv sv = {0};
	while (*s != '\0') {
		while (*s == ' ')
			s++;
		size_t l = strcspn(s, " ");
		if (l == 0)
			break;
		bool dup = false;
		for (size_t i = 0; i < sv.n && !dup; i++)
			dup = strlen(sv.v[i]) == l && strncasecmp(sv.v[i], s, l) == 0;
		if (!dup && sv.n < 128)
			strv_push(&sv, xstrndup(s, l));
		s += l;
	}
	return sv;
}

static bool test_hasflag(struct run *r, const struct sieve_node *n)
{
	struct strv vals = {0};
	if (n->pos[0] == SV_NONE) {
		vals = flags_split(r->iflags);
	} else {
		struct strv names = list_get(r, n->pos[0]);
		for (size_t i = 0; i < names.n; i++) {
			struct strv f = flags_split(var_get(r, names.v[i], strlen(names.v[i])));
			for (size_t k = 0; k < f.n; k++)
				strv_push(&vals, f.v[k]);
			free(f.v);
		}
		strv_free(&names);
	}
	bool hit = match_values(r, n, &vals, n->pos[1]);
	strv_free(&vals);
	return hit;
}

static bool test_string(struct run *r, const struct sieve_node *n)
{
	struct strv vals = list_get(r, n->pos[0]);
	/* RFC 5229 5: for :count, empty strings do not count. */
	if (n->match == SV_M_COUNT) {
		size_t k = 0;
		for (size_t i = 0; i < vals.n; i++) {
			if (vals.v[i][0] != '\0')
				vals.v[k++] = vals.v[i];
			else
				free(vals.v[i]);
		}
		vals.n = k;
	}
	bool hit = match_values(r, n, &vals, n->pos[1]);
	strv_free(&vals);
	return hit;
}

static bool test_body(struct run *r, const struct sieve_node *n)
{
	struct strv vals = {0};
	/* Each body test parses the message again: it costs its length, so a
	 * script cannot make a large message cost without bound. */
	if (r->m->len >= r->match_budget)
		return fail(r, n, "too many steps");
	r->match_budget -= (unsigned)r->m->len;
	if (n->body == SV_B_RAW) {
		size_t hl = mime_text_header_len(r->m->data, r->m->len);
		strv_push(&vals, xstrndup(r->m->data + hl, r->m->len - hl));
	} else if (n->body == SV_B_TEXT) {
		char text[] = "text", *types[] = {text};
		sieve_body_parts(r->m->data, r->m->len, types, 1, SIEVE_BODY_STRIP, &vals.v,
				 &vals.n);
	} else {
		struct strv types = list_get(r, n->ctypes);
		sieve_body_parts(r->m->data, r->m->len, types.v, types.n, 0, &vals.v, &vals.n);
		strv_free(&types);
	}
	bool hit = match_values(r, n, &vals, n->pos[0]);
	strv_free(&vals);
	return hit;
}

static long local_offset(time_t t)
{
	struct tm tm;
	return localtime_r(&t, &tm) != NULL ? tm.tm_gmtoff : 0;
}

static bool test_date(struct run *r, const struct sieve_node *n, bool current)
{
	time_t t = r->m->now;
	long off = local_offset(t), orig = off;
	int32_t part_idx = n->pos[current ? 0 : 1];
	int32_t keys_idx = n->pos[current ? 1 : 2];
	struct strv vals = {0};
	bool have = current;
	if (!current) {
		char *name = expand(r, n->pos[0]);
		struct strv raw = {0};
		fields(r, name, n->index, n->last, &raw);
		free(name);
		if (raw.n > 0) {
			have = sieve_date_parse(raw.v[0], &t, &orig) == 1;
			off = n->zone_orig ? orig : local_offset(t);
		}
		strv_free(&raw);
	}
	if (n->zone != SV_NONE) {
		char *z = expand(r, n->zone);
		if (!sieve_zone_parse(z, &off))
			have = false; /* RFC 5260 2.4: an invalid zone never matches */
		free(z);
	}
	if (have) {
		char *part = expand(r, part_idx);
		char *v = sieve_date_part(t, off, part);
		free(part);
		if (v != NULL)
			strv_push(&vals, v);
	}
	bool hit = match_values(r, n, &vals, keys_idx);
	strv_free(&vals);
	return hit;
}

static bool test(struct run *r, int32_t i)
{
	const struct sieve_node *n = N(r, i);
	if (!step(r, n))
		return false;
	switch (n->id) {
	case SV_T_ADDRESS:
		return test_address(r, n);
	case SV_T_HEADER:
		return test_header(r, n);
	case SV_T_EXISTS:
		return test_exists(r, n);
	case SV_T_SIZE: {
		uint64_t lim = N(r, n->pos[0])->num;
		return n->over ? r->m->len > lim : r->m->len < lim;
	}
	case SV_T_ALLOF:
	case SV_T_ANYOF: {
		bool any = n->id == SV_T_ANYOF;
		for (int32_t t = n->tests; t != SV_NONE; t = N(r, t)->next) {
			bool v = test(r, t);
			if (r->failed)
				return false;
			if (v == any)
				return any;
		}
		return !any;
	}
	case SV_T_NOT:
		return !test(r, n->tests) && !r->failed;
	case SV_T_TRUE:
		return true;
	case SV_T_ENVELOPE:
		return test_envelope(r, n);
	case SV_T_HASFLAG:
		return test_hasflag(r, n);
	case SV_T_STRING:
		return test_string(r, n);
	case SV_T_BODY:
		return test_body(r, n);
	case SV_T_DATE:
		return test_date(r, n, false);
	case SV_T_CURRENTDATE:
		return test_date(r, n, true);
	default:
		return false;
	}
}

/* --- actions --------------------------------------------------------------- */

static struct sieve_action *action_add(struct run *r, const struct sieve_node *at,
				       enum sieve_action_kind kind)
{
	struct sieve_result *res = r->res;
	if (res->n_actions >= SIEVE_ACTIONS_MAX) {
		fail(r, at, "too many actions");
		return NULL;
	}
	res->actions = xrealloc(res->actions, (res->n_actions + 1) * sizeof(*res->actions));
	struct sieve_action *a = &res->actions[res->n_actions++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static void action_flags(struct sieve_action *a, const char *flags)
{
	struct strv sv = flags_split(flags);
	a->flags = sv.v;
	a->n_flags = sv.n;
}

/* The flags a keep/fileinto stores: :flags, else the internal variable. */
static char *flags_for(struct run *r, const struct sieve_node *n)
{
	if (n->flags == SV_NONE)
		return xstrdup(r->iflags);
	struct strv l = list_get(r, n->flags);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < l.n; i++) {
		buf_append_str(&b, l.v[i]);
		buf_append_str(&b, " ");
	}
	char *s = xstrdup(b.data != NULL ? buf_cstr(&b) : "");
	buf_deinit(&b);
	strv_free(&l);
	return s;
}

/* Add keep/fileinto unless the same target is there already. */
static bool file_action(struct run *r, const struct sieve_node *n, const char *mailbox)
{
	for (size_t i = 0; i < r->res->n_actions; i++) {
		const struct sieve_action *o = &r->res->actions[i];
		if ((mailbox == NULL && o->kind == SIEVE_ACT_KEEP) ||
		    (mailbox != NULL && o->kind == SIEVE_ACT_FILEINTO &&
		     strcmp(o->mailbox, mailbox) == 0))
			return true;
	}
	struct sieve_action *a =
		action_add(r, n, mailbox != NULL ? SIEVE_ACT_FILEINTO : SIEVE_ACT_KEEP);
	if (a == NULL)
		return false;
	char *f = flags_for(r, n);
	action_flags(a, f);
	free(f);
	if (mailbox != NULL)
		a->mailbox = xstrdup(mailbox);
	a->create = n->create;
	return true;
}

static bool address_ok(const char *a)
{
	const char *at = strrchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0' || strlen(a) > 254)
		return false;
	for (const char *p = a; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == '"' || *p == ',')
			return false;
	}
	return true;
}

/*
 * Redirect, unless this message was already redirected by this user (a
 * loop) or too many times: then it is kept instead, which never loses it.
 */
static bool cmd_redirect(struct run *r, const struct sieve_node *n)
{
	char *to = expand(r, n->pos[0]);
	bool ok = true;
	if (!address_ok(to)) {
		ok = fail(r, n, "redirect to an invalid address");
	} else if (++r->redirects > SIEVE_REDIRECTS_MAX) {
		ok = fail(r, n, "too many redirects");
	} else {
		struct strv hops = {0};
		fields(r, SIEVE_REDIRECT_HEADER, 0, false, &hops);
		bool loop = hops.n >= SIEVE_REDIRECTS_MAX;
		for (size_t i = 0; i < hops.n && !loop; i++) {
			char *v = sieve_header_decode(hops.v[i]);
			loop = r->m->user != NULL && strcasecmp(v, r->m->user) == 0;
			free(v);
		}
		strv_free(&hops);
		struct sieve_action *a = loop ? NULL : action_add(r, n, SIEVE_ACT_REDIRECT);
		if (a != NULL) {
			a->address = xstrdup(to);
			if (!n->copy)
				r->cancel_keep = true;
		}
		ok = !r->failed;
	}
	free(to);
	return ok;
}

static bool cmd_flags(struct run *r, const struct sieve_node *n)
{
	char *var = n->pos[0] != SV_NONE ? expand(r, n->pos[0]) : NULL;
	const char *cur = var != NULL ? var_get(r, var, strlen(var)) : r->iflags;
	struct strv have = n->id == SV_C_SETFLAG ? (struct strv){0} : flags_split(cur);
	struct strv args = list_get(r, n->pos[1]);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < have.n; i++) {
		bool drop = false;
		for (size_t k = 0; k < args.n && n->id == SV_C_REMOVEFLAG && !drop; k++) {
			struct strv rm = flags_split(args.v[k]);
			for (size_t j = 0; j < rm.n && !drop; j++)
				drop = strcasecmp(rm.v[j], have.v[i]) == 0;
			strv_free(&rm);
		}
		if (!drop)
			buf_printf(&b, "%s ", have.v[i]);
	}
	if (n->id != SV_C_REMOVEFLAG) {
		for (size_t k = 0; k < args.n; k++)
			buf_printf(&b, "%s ", args.v[k]);
	}
	/* Normalize: split again, which drops duplicates. */
	struct strv all = flags_split(b.data != NULL ? buf_cstr(&b) : "");
	buf_clear(&b);
	for (size_t i = 0; i < all.n; i++)
		buf_printf(&b, "%s%s", i > 0 ? " " : "", all.v[i]);
	const char *val = b.data != NULL ? buf_cstr(&b) : "";
	bool ok = true;
	if (var != NULL) {
		ok = var_set(r, n, var, val);
	} else {
		free(r->iflags);
		r->iflags = xstrdup(val);
	}
	buf_deinit(&b);
	strv_free(&all);
	strv_free(&args);
	strv_free(&have);
	free(var);
	return ok;
}

static bool cmd_set(struct run *r, const struct sieve_node *n)
{
	char *name = expand(r, n->pos[0]);
	char *v = expand(r, n->pos[1]);
	uint8_t m = n->mods;
	for (char *p = v; *p != '\0'; p++) {
		if (m & SV_MOD_LOWER)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		else if (m & SV_MOD_UPPER)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	}
	if ((m & SV_MOD_LOWERFIRST) && v[0] >= 'A' && v[0] <= 'Z')
		v[0] = (char)(v[0] + 32);
	if ((m & SV_MOD_UPPERFIRST) && v[0] >= 'a' && v[0] <= 'z')
		v[0] = (char)(v[0] - 32);
	if (m & SV_MOD_QUOTEWILDCARD) {
		struct buf b;
		buf_init(&b);
		for (const char *p = v; *p != '\0'; p++) {
			if (*p == '*' || *p == '?' || *p == '\\')
				buf_append_str(&b, "\\");
			buf_append(&b, p, 1);
		}
		free(v);
		v = xstrdup(b.data != NULL ? buf_cstr(&b) : "");
		buf_deinit(&b);
	}
	if (m & SV_MOD_LENGTH) {
		char *l = xasprintf("%zu", mime_text_chars(v, strlen(v)));
		free(v);
		v = l;
	}
	bool ok = var_set(r, n, name, v);
	free(name);
	free(v);
	return ok;
}

/* Is the message addressed to the user (To, Cc, Bcc, Resent-*)? */
static bool vacation_addressed(struct run *r, const struct strv *mine)
{
	static const char *const names[] = {"to", "cc", "bcc", "resent-to", "resent-cc"};
	bool hit = false;
	for (size_t i = 0; i < 5 && !hit; i++) {
		struct strv raw = {0};
		fields(r, names[i], 0, false, &raw);
		for (size_t f = 0; f < raw.n && !hit; f++) {
			char **addrs = NULL;
			size_t na = 0;
			sieve_addresses(raw.v[f], &addrs, &na);
			for (size_t a = 0; a < na && !hit; a++) {
				for (size_t k = 0; k < mine->n && !hit; k++)
					hit = strcasecmp(addrs[a], mine->v[k]) == 0;
			}
			mime_addresses_free(&addrs, na);
		}
		strv_free(&raw);
	}
	return hit;
}

/* RFC 5230 4.5 and 3834: whom a vacation reply must never go to. */
static bool vacation_allowed(struct run *r)
{
	const char *from = r->m->env_from;
	if (from == NULL || from[0] == '\0')
		return false;
	const char *auto_sub = first_field(r, "auto-submitted");
	if (auto_sub != NULL) {
		char *v = sieve_header_decode(auto_sub);
		bool no = strncasecmp(v, "no", 2) == 0 &&
			(v[2] == '\0' || v[2] == ';' || v[2] == ' ');
		free(v);
		if (!no)
			return false;
	}
	const char *prec = first_field(r, "precedence");
	if (prec != NULL) {
		char *v = sieve_header_decode(prec);
		bool bulk = strcasecmp(v, "bulk") == 0 || strcasecmp(v, "list") == 0 ||
			strcasecmp(v, "junk") == 0;
		free(v);
		if (bulk)
			return false;
	}
	static const char *const lists[] = {"list-id", "list-unsubscribe", "list-post", "list-help",
					    "x-list-id"};
	for (size_t i = 0; i < 5; i++) {
		if (first_field(r, lists[i]) != NULL)
			return false;
	}
	char *local = sieve_address_part(from, SV_P_LOCAL);
	size_t ll = strlen(local);
	bool daemon = strcasecmp(local, "mailer-daemon") == 0 ||
		strncasecmp(local, "owner-", 6) == 0 ||
		(ll > 8 && strcasecmp(local + ll - 8, "-request") == 0) ||
		strcasecmp(local, "postmaster") == 0 || strcasecmp(local, "listserv") == 0;
	free(local);
	return !daemon && (r->m->user == NULL || strcasecmp(from, r->m->user) != 0);
}

static bool cmd_vacation(struct run *r, const struct sieve_node *n)
{
	for (size_t i = 0; i < r->res->n_actions; i++) {
		if (r->res->actions[i].kind == SIEVE_ACT_VACATION)
			return true; /* one reply per message */
	}
	struct strv mine = list_get(r, n->addrs);
	if (r->m->user != NULL)
		strv_push(&mine, xstrdup(r->m->user));
	if (r->m->env_to != NULL)
		strv_push(&mine, xstrdup(r->m->env_to));
	bool due = vacation_allowed(r) && vacation_addressed(r, &mine);
	strv_free(&mine);
	if (!due)
		return true;
	struct sieve_action *a = action_add(r, n, SIEVE_ACT_VACATION);
	if (a == NULL)
		return false;
	a->address = xstrdup(r->m->env_from);
	a->text = expand(r, n->pos[0]);
	a->subject = n->subject != SV_NONE ? expand(r, n->subject) : NULL;
	a->from = n->from != SV_NONE ? expand(r, n->from) : NULL;
	a->mime = n->mime;
	if (n->seconds)
		a->seconds = n->days;
	else
		a->seconds = (n->days == 0 ? 7 : n->days) * 86400u;
	a->days = a->seconds / 86400u;
	if (n->handle != SV_NONE)
		a->handle = expand(r, n->handle);
	else
		a->handle = xasprintf("%s\n%s\n%s\n%d", a->text, a->subject ? a->subject : "",
				      a->from ? a->from : "", a->mime);
	return true;
}

/* --- commands ---------------------------------------------------------- */

static bool block(struct run *r, int32_t first);

static bool command(struct run *r, int32_t i, bool *skip_else)
{
	const struct sieve_node *n = N(r, i);
	if (!step(r, n))
		return false;
	switch (n->id) {
	case SV_C_REQUIRE:
		return true;
	case SV_C_IF:
	case SV_C_ELSIF:
	case SV_C_ELSE:
		if (n->id != SV_C_IF && *skip_else)
			return true;
		*skip_else = n->id == SV_C_ELSE || test(r, n->tests);
		if (r->failed)
			return false;
		return *skip_else ? block(r, n->block) : true;
	case SV_C_STOP:
		r->stopped = true;
		return true;
	case SV_C_KEEP:
		return file_action(r, n, NULL);
	case SV_C_DISCARD:
		r->cancel_keep = true;
		return true;
	case SV_C_FILEINTO: {
		char *mb = expand(r, n->pos[0]);
		bool ok = file_action(r, n, mb);
		free(mb);
		if (ok && !n->copy)
			r->cancel_keep = true;
		return ok;
	}
	case SV_C_REDIRECT:
		return cmd_redirect(r, n);
	case SV_C_REJECT:
	case SV_C_EREJECT: {
		struct sieve_action *a = action_add(r, n, SIEVE_ACT_REJECT);
		if (a == NULL)
			return false;
		a->text = expand(r, n->pos[0]);
		r->cancel_keep = true;
		return true;
	}
	case SV_C_SETFLAG:
	case SV_C_ADDFLAG:
	case SV_C_REMOVEFLAG:
		return cmd_flags(r, n);
	case SV_C_SET:
		return cmd_set(r, n);
	case SV_C_VACATION:
		return cmd_vacation(r, n);
	default:
		return fail(r, n, "unknown command");
	}
}

static bool block(struct run *r, int32_t first)
{
	bool skip_else = false;
	for (int32_t c = first; c >= 0 && !r->stopped; c = N(r, c)->next) {
		uint8_t id = N(r, c)->id;
		if (id != SV_C_ELSIF && id != SV_C_ELSE)
			skip_else = false;
		if (!command(r, c, &skip_else))
			return false;
	}
	return true;
}

int sieve_execute(const struct sieve_script *script, const struct sieve_message *msg,
		  struct sieve_result *res, const char **error_r)
{
	memset(res, 0, sizeof(*res));
	struct run r = {.sc = script,
			.m = msg,
			.res = res,
			.budget = SIEVE_STEPS_MAX,
			.match_budget = SIEVE_MATCH_STEPS_MAX};
	r.iflags = xstrdup("");
	bool ok = block(&r, script->first) && !r.failed;
	if (ok && !r.cancel_keep) {
		/* The implicit keep, with the flags set by then (RFC 5232 3). */
		struct sieve_node k = {.flags = SV_NONE};
		ok = file_action(&r, &k, NULL);
	}
	for (size_t i = 0; i < r.n_vars; i++) {
		free(r.var_names[i]);
		free(r.var_vals[i]);
	}
	for (int i = 0; i < 10; i++)
		free(r.caps[i]);
	for (size_t i = 0; i < r.n_h; i++) {
		free(r.h[i].name);
		free(r.h[i].raw);
	}
	free(r.h);
	free(r.iflags);
	if (!ok) {
		*error_r = r.error != NULL ? r.error : "sieve: runtime error";
		return -1;
	}
	return 0;
}

void sieve_result_free(struct sieve_result *r)
{
	for (size_t i = 0; i < r->n_actions; i++) {
		struct sieve_action *a = &r->actions[i];
		for (size_t k = 0; k < a->n_flags; k++)
			free(a->flags[k]);
		free(a->flags);
		free(a->mailbox);
		free(a->address);
		free(a->text);
		free(a->subject);
		free(a->from);
		free(a->handle);
	}
	free(r->actions);
	memset(r, 0, sizeof(*r));
}
