/* SPDX-License-Identifier: MIT */
/*
 * Addresses, two ways. mime_imap_address_list() walks an RFC 5322
 * address-list leniently (obsolete forms, missing parts, garbage) and
 * writes ENVELOPE address structures (name adl mailbox host), keeping
 * display names as sent so clients decode encoded-words themselves; group
 * syntax becomes the RFC 3501 start/end markers. mime_address_valid() is
 * the strict check for SMTP paths (RFC 5321 section 4.1.2, RFC 6531 when
 * UTF-8 is allowed).
 */
#include "mime/mime-private.h"
#include "mime/mime.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* ----------------------------------------------------------------------
 * UTF-8
 */

bool mime_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned int cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* overlong 3/4-byte forms, surrogates, beyond U+10FFFF */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n + 1;
	}
	return true;
}

/* ----------------------------------------------------------------------
 * ENVELOPE address lists
 */

enum tok_type { TOK_ATOM, TOK_QUOTED, TOK_DLITERAL, TOK_SPECIAL, TOK_END };

struct tok {
	enum tok_type type;
	const char *start; /* raw bytes, quotes/brackets included */
	size_t len;
	const char *comment; /* text of a comment that followed, or NULL */
	size_t comment_len;
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

static void toks_add(struct toks *t, enum tok_type type, const char *start, size_t len)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = (struct tok){type, start, len, NULL, 0};
}

/* Skip a comment starting at s[p] == '('; returns the index after it. */
static size_t skip_comment(const char *s, size_t p, struct toks *t)
{
	int depth = 0;
	size_t start = p + 1;
	for (; s[p] != '\0'; p++) {
		if (s[p] == '\\' && s[p + 1] != '\0') {
			p++;
		} else if (s[p] == '(') {
			depth++;
		} else if (s[p] == ')' && --depth == 0) {
			break;
		}
	}
	if (t->n > 0 && t->v[t->n - 1].comment == NULL) {
		t->v[t->n - 1].comment = s + start;
		t->v[t->n - 1].comment_len = p - start;
	}
	return s[p] == '\0' ? p : p + 1;
}

/* Index after a quoted string or domain literal opened at s[p]. */
static size_t skip_delimited(const char *s, size_t p, char close)
{
	for (p++; s[p] != '\0' && s[p] != close; p++) {
		if (s[p] == '\\' && s[p + 1] != '\0')
			p++;
	}
	return s[p] == '\0' ? p : p + 1;
}

static void tokenize(const char *s, struct toks *t)
{
	size_t p = 0;
	while (s[p] != '\0') {
		char c = s[p];
		size_t q;
		if (c == ' ' || c == '\t' || c == ')') {
			p++;
		} else if (c == '(') {
			p = skip_comment(s, p, t);
		} else if (c == '"' || c == '[') {
			q = skip_delimited(s, p, c == '"' ? '"' : ']');
			toks_add(t, c == '"' ? TOK_QUOTED : TOK_DLITERAL, s + p, q - p);
			p = q;
		} else if (strchr("<>@,;:", c) != NULL) {
			toks_add(t, TOK_SPECIAL, s + p, 1);
			p++;
		} else {
			for (q = p; s[q] != '\0' && strchr(" \t()<>@,;:\"[", s[q]) == NULL; q++)
				;
			toks_add(t, TOK_ATOM, s + p, q - p);
			p = q;
		}
	}
	toks_add(t, TOK_END, s + p, 0);
}

static bool tok_is(const struct tok *t, char special)
{
	return t->type == TOK_SPECIAL && t->start[0] == special;
}

static bool tok_word(const struct tok *t)
{
	return t->type == TOK_ATOM || t->type == TOK_QUOTED || t->type == TOK_DLITERAL;
}

/* Append a quoted string's content without its quotes and escapes. */
static void append_unquoted(struct buf *b, const struct tok *t)
{
	size_t end = t->len;
	if (end >= 2 && t->start[end - 1] == '"')
		end--;
	for (size_t i = 1; i < end; i++) {
		if (t->start[i] == '\\' && i + 1 < end)
			i++;
		buf_append(b, &t->start[i], 1);
	}
}

/* Display name: words joined by one space, quoted strings unquoted. */
static void join_phrase(struct buf *b, const struct tok *v, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		if (i > from)
			buf_append(b, " ", 1);
		if (v[i].type == TOK_QUOTED)
			append_unquoted(b, &v[i]);
		else
			buf_append(b, v[i].start, v[i].len);
	}
}

/* Local part or domain: raw words joined with nothing between. */
static void join_raw(struct buf *b, const struct tok *v, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		buf_append(b, v[i].start, v[i].len);
}

struct addr_out {
	struct buf *out;
	size_t count;
};

static void emit_address(struct addr_out *o, struct buf *name, const char *adl, struct buf *local,
			 struct buf *domain)
{
	buf_append_str(o->out, "(");
	mime_imap_nstring(o->out, name->len > 0 ? buf_cstr(name) : NULL);
	buf_append_str(o->out, " ");
	mime_imap_nstring(o->out, adl);
	buf_append_str(o->out, " ");
	/* NIL would read as a group marker: say what is missing instead */
	mime_imap_string(o->out, local->len > 0 ? buf_cstr(local) : "MISSING_MAILBOX");
	buf_append_str(o->out, " ");
	mime_imap_string(o->out, domain->len > 0 ? buf_cstr(domain) : "MISSING_DOMAIN");
	buf_append_str(o->out, ")");
	o->count++;
}

/* Words from i while they are words; returns the index of the first non-word. */
static size_t words_end(const struct tok *v, size_t i)
{
	while (tok_word(&v[i]))
		i++;
	return i;
}

/* Skip to the next ',' or ';' (or the end) after an address's garbage. */
static size_t skip_to_separator(const struct tok *v, size_t i)
{
	while (v[i].type != TOK_END && !tok_is(&v[i], ',') && !tok_is(&v[i], ';'))
		i++;
	return i;
}

/* "<" [route ":"] local ["@" domain] ">" with the name already collected. */
static size_t parse_angle(struct addr_out *o, const struct tok *v, size_t i, struct buf *name)
{
	struct buf adl, local, domain;
	buf_init(&adl);
	buf_init(&local);
	buf_init(&domain);
	i++; /* '<' */
	if (tok_is(&v[i], '@')) {
		/* obs-route: "@a,@b:" */
		size_t r = i;
		while (v[r].type != TOK_END && !tok_is(&v[r], ':') && !tok_is(&v[r], '>'))
			r++;
		if (tok_is(&v[r], ':')) {
			join_raw(&adl, v, i, r);
			i = r + 1;
		}
	}
	size_t e = words_end(v, i);
	join_raw(&local, v, i, e);
	i = e;
	if (tok_is(&v[i], '@')) {
		e = words_end(v, i + 1);
		join_raw(&domain, v, i + 1, e);
		i = e;
	}
	if (local.len > 0 || domain.len > 0)
		emit_address(o, name, adl.len > 0 ? buf_cstr(&adl) : NULL, &local, &domain);
	buf_deinit(&adl);
	buf_deinit(&local);
	buf_deinit(&domain);
	return skip_to_separator(v, i);
}

/* addr-spec "local@domain" (or a bare word) at i..; a comment may name it. */
static size_t parse_addr_spec(struct addr_out *o, const struct tok *v, size_t i, size_t e)
{
	struct buf name, local, domain;
	buf_init(&name);
	buf_init(&local);
	buf_init(&domain);
	join_raw(&local, v, i, e);
	const struct tok *last = &v[e - 1];
	if (tok_is(&v[e], '@')) {
		size_t d = words_end(v, e + 1);
		join_raw(&domain, v, e + 1, d);
		last = &v[d - 1];
		e = d;
	}
	if (last->comment != NULL && last->comment_len > 0)
		buf_append(&name, last->comment, last->comment_len);
	emit_address(o, &name, NULL, &local, &domain);
	buf_deinit(&name);
	buf_deinit(&local);
	buf_deinit(&domain);
	return skip_to_separator(v, e);
}

static void group_start(struct addr_out *o, const struct tok *v, size_t i, size_t e)
{
	struct buf name;
	buf_init(&name);
	join_phrase(&name, v, i, e);
	buf_append_str(o->out, "(NIL NIL ");
	mime_imap_string(o->out, buf_cstr(&name));
	buf_append_str(o->out, " NIL)");
	o->count++;
	buf_deinit(&name);
}

static void group_end(struct addr_out *o)
{
	buf_append_str(o->out, "(NIL NIL NIL NIL)");
	o->count++;
}

/* One element of the list at i; returns the index after it. */
static size_t parse_element(struct addr_out *o, const struct tok *v, size_t i, bool *in_group)
{
	size_t e = words_end(v, i);
	if (tok_is(&v[e], ':')) {
		if (*in_group)
			return e + 1; /* nested groups are not a thing: ignore */
		group_start(o, v, i, e);
		*in_group = true;
		return e + 1;
	}
	if (tok_is(&v[e], '<')) {
		struct buf name;
		buf_init(&name);
		join_phrase(&name, v, i, e);
		size_t next = parse_angle(o, v, e, &name);
		buf_deinit(&name);
		return next;
	}
	if (e > i)
		return parse_addr_spec(o, v, i, e);
	/* a stray special such as '@' or '>': skip it */
	return e + 1;
}

size_t mime_imap_address_list(struct buf *out, const char *value)
{
	struct toks t = {0};
	struct addr_out o = {out, 0};
	bool in_group = false;
	tokenize(value, &t);
	size_t mark = out->len;
	buf_append_str(out, "(");
	size_t i = 0;
	while (t.v[i].type != TOK_END) {
		if (tok_is(&t.v[i], ',')) {
			i++;
		} else if (tok_is(&t.v[i], ';')) {
			if (in_group)
				group_end(&o);
			in_group = false;
			i++;
		} else {
			i = parse_element(&o, t.v, i, &in_group);
		}
	}
	if (in_group)
		group_end(&o);
	buf_append_str(out, ")");
	if (o.count == 0)
		out->len = mark;
	free(t.v);
	return o.count;
}

/* ----------------------------------------------------------------------
 * SMTP path check
 */

static bool atext(unsigned char c, int utf8)
{
	if (c >= 0x80)
		return utf8 != 0;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Length of a valid local part at the start of s, or 0. */
static size_t local_part_len(const char *s, int utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	if (p[0] == '"') {
		for (i = 1; p[i] != '"'; i++) {
			if (p[i] == '\\') {
				i++;
				if (p[i] < 32 || p[i] > 126)
					return 0;
			} else if (p[i] >= 0x80 ? !utf8 : (p[i] < 32 || p[i] > 126)) {
				return 0;
			}
		}
		return i + 1;
	}
	bool prev_dot = true; /* no leading dot */
	for (; p[i] != '\0' && p[i] != '@'; i++) {
		if (p[i] == '.') {
			if (prev_dot)
				return 0;
			prev_dot = true;
		} else if (atext(p[i], utf8)) {
			prev_dot = false;
		} else {
			return 0;
		}
	}
	return prev_dot ? 0 : i; /* no trailing dot, not empty */
}

static bool address_literal_valid(const char *d, size_t len)
{
	char tmp[64];
	unsigned char addr[16];
	if (len < 3 || d[len - 1] != ']' || len - 2 >= sizeof(tmp))
		return false;
	memcpy(tmp, d + 1, len - 2);
	tmp[len - 2] = '\0';
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, addr) == 1;
	return inet_pton(AF_INET, tmp, addr) == 1;
}

static bool domain_valid(const char *d, int utf8)
{
	size_t len = strlen(d);
	if (len == 0)
		return false;
	if (d[0] == '[')
		return address_literal_valid(d, len);
	if (len > 255)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.' || c == '\0') {
			/* label: 1..63 octets, no hyphen at either end */
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || (c >= 0x80 && utf8) || (c == '-' && label > 0);
		if (!ok)
			return false;
		label++;
	}
	return true;
}

int mime_address_valid(const char *addr, int utf8)
{
	if (addr == NULL)
		return 0;
	size_t len = strlen(addr);
	/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its <> */
	if (len == 0 || len > 254)
		return 0;
	if (utf8 ? !mime_utf8_valid(addr, len) : false)
		return 0;
	size_t local = local_part_len(addr, utf8);
	if (local == 0 || local > 64 || addr[local] != '@')
		return 0;
	return domain_valid(addr + local + 1, utf8) ? 1 : 0;
}
