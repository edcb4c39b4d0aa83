/* SPDX-License-Identifier: MIT */
/*
 * CATENATE (RFC 4469): an APPEND message built from parts, TEXT literals
 * and URLs naming a message or a part of one in the user's own
 * mailboxes (or one shared with read rights). Only same-server relative
 * IMAP URLs (RFC 5092) are taken: "/mailbox;UIDVALIDITY=n/;UID=n" with an
 * optional "/;SECTION=x" (a FETCH section spec, percent-encoded); any other
 * form, a mailbox the user may not read, a UIDVALIDITY that does not
 * match, a missing message or part is "NO [BADURL url]". The message is
 * written into a spool (memory, then a file), so a big result is not held
 * in memory; past max_message_size it is "NO [TOOBIG]".
 */
#include "imap/imap-fetch-section.h"
#include "imap/imap-private.h"

#include "lib/config.h"
#include "lib/spool.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A URL's parts, percent-decoded. */
struct cat_url {
	char *mailbox;
	uint32_t uidvalidity; /* 0: not given */
	uint32_t uid;
	char *section; /* NULL: the whole message */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s[0..n) into a malloc'd string; NULL if malformed or NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		out[k++] = c;
	}
	out[k] = '\0';
	return out;
}

/* A decimal number 1..2^32-1 at *p, ending where the next char is not a digit. */
static bool url_number(const char **p, uint32_t *v_r)
{
	uint64_t v = 0;
	const char *s = *p;
	if (!isdigit((unsigned char)*s) || *s == '0')
		return false;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*p = s;
	*v_r = (uint32_t)v;
	return true;
}

static const char *find_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = hay; *p != '\0'; p++) {
		if (strncasecmp(p, needle, n) == 0)
			return p;
	}
	return NULL;
}

/* "/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=x]". 0, or -1. */
static int url_parse(const char *url, struct cat_url *u)
{
	memset(u, 0, sizeof(*u));
	if (url[0] != '/' || url[1] == '/')
		return -1;
	const char *uidp = find_ci(url, "/;UID=");
	if (uidp == NULL)
		return -1;
	const char *mb_end = uidp;
	const char *v = find_ci(url, ";UIDVALIDITY=");
	if (v != NULL && v < uidp) {
		const char *q = v + strlen(";UIDVALIDITY=");
		if (!url_number(&q, &u->uidvalidity) || q != uidp)
			return -1;
		mb_end = v;
	}
	if (mb_end == url + 1 || memchr(url + 1, ';', (size_t)(mb_end - url - 1)) != NULL)
		return -1;
	const char *q = uidp + strlen("/;UID=");
	if (!url_number(&q, &u->uid))
		return -1;
	if (*q != '\0') {
		if (strncasecmp(q, "/;SECTION=", 10) != 0 || q[10] == '\0')
			return -1;
		u->section = pct_decode(q + 10, strlen(q + 10));
		if (u->section == NULL)
			return -1;
	}
	u->mailbox = pct_decode(url + 1, (size_t)(mb_end - url - 1));
	if (u->mailbox == NULL) {
		free(u->section);
		return -1;
	}
	return 0;
}

/* The message a URL names, mapped. 0, or -1 (no such mailbox, right or message). */
static int url_open(struct imap_session *s, const struct cat_url *u, char **map_r, size_t *len_r)
{
	char *name = NULL;
	const char *error;
	if (imap_mailbox_name_from_client(s, u->mailbox, &name, &error) < 0)
		return -1;
	struct store_mailbox mb;
	uint32_t rights = 0;
	int r = imap_mailbox_lookup(s, name, &mb, &rights);
	free(name);
	if (r <= 0 || (rights & STORE_RIGHT_READ) == 0 ||
	    (u->uidvalidity != 0 && u->uidvalidity != mb.uidvalidity))
		return -1;
	struct store_uid_range range = {u->uid, u->uid};
	struct store_message_ex *msgs = NULL;
	size_t n = 0;
	if (store_message_list_uids(s->store, mb.id, &range, 1, 0, &msgs, &n) < 0 || n != 1) {
		store_message_ex_free(&msgs, n);
		return -1;
	}
	int fd = store_blob_open(s->store, msgs[0].msg.blob_id);
	store_message_ex_free(&msgs, n);
	if (fd < 0)
		return -1;
	struct stat st;
	r = fstat(fd, &st);
	*map_r = NULL;
	*len_r = 0;
	if (r == 0 && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			r = -1;
		} else {
			*map_r = p;
			*len_r = (size_t)st.st_size;
		}
	}
	close(fd);
	return r;
}

/*
 * Append the section (or the whole message) to sp. 1 done, 0 the part
 * does not exist, -1 the spool failed; *too_big when past max.
 */
static int url_copy(const struct cat_url *u, const char *data, size_t len, struct spool *sp,
		    uint64_t max, bool *too_big)
{
	struct imap_section sec;
	const char *error;
	if (u->section == NULL) {
		if (len > max || sp->len > max - len) {
			*too_big = true;
			return 1;
		}
		return spool_append(sp, data, len, &error) < 0 ? -1 : 1;
	}
	/* The FETCH syntax wants the brackets; the URL has none. */
	char *spec = xasprintf("[%s]", u->section);
	int pr = imap_section_parse(spec, false, false, &sec, &error);
	free(spec);
	if (pr < 0) {
		imap_section_free(&sec);
		return 0;
	}
	struct imap_section_body b;
	int ret = 1;
	if (imap_section_body_init(&b, &sec, data, len) < 0 || b.nil) {
		ret = 0;
	} else if (b.size > max || sp->len > max - b.size) {
		*too_big = true;
	} else {
		struct buf chunk;
		buf_init(&chunk);
		bool done = b.size == 0;
		while (!done && ret == 1) {
			buf_clear(&chunk);
			done = imap_section_body_read(&b, &chunk, IMAP_STREAM_SLICE);
			if (chunk.len > 0 && spool_append(sp, chunk.data, chunk.len, &error) < 0)
				ret = -1;
		}
		buf_deinit(&chunk);
	}
	imap_section_body_free(&b);
	imap_section_free(&sec);
	return ret;
}

/* One URL part. 0, or -1 with *reply_r. */
static int cat_url_part(struct imap_session *s, const char *url, struct spool *sp, char **reply_r)
{
	struct cat_url u;
	char *map = NULL;
	size_t len = 0;
	bool too_big = false;
	int r = -2;
	if (url_parse(url, &u) == 0) {
		if (url_open(s, &u, &map, &len) == 0)
			r = url_copy(&u, map, len, sp, s->config->max_message_size, &too_big);
		if (map != NULL)
			munmap(map, len);
		free(u.mailbox);
		free(u.section);
	}
	if (r == 1 && !too_big)
		return 0;
	if (too_big)
		*reply_r = xstrdup("[TOOBIG] Catenated message too big");
	else if (r == -1)
		*reply_r = xstrdup("[LIMIT] Cannot hold the message now");
	else
		/* The URL as sent: an atom or a quoted string of printable ASCII. */
		*reply_r = xasprintf("[BADURL %s] Bad URL", url);
	return -1;
}

int imap_catenate(struct imap_session *s, const struct imap_arg *parts, size_t n, struct spool *sp,
		  char **reply_r)
{
	const char *error;
	*reply_r = NULL;
	if (n == 0 || n % 2 != 0)
		return -2;
	for (size_t i = 0; i < n; i += 2) {
		const struct imap_arg *v = &parts[i + 1];
		const char *url;
		if (imap_arg_atom_equals(&parts[i], "TEXT") && v->type == IMAP_ARG_LITERAL) {
			uint64_t max = s->config->max_message_size;
			if (v->len > max || sp->len > max - v->len) {
				*reply_r = xstrdup("[TOOBIG] Catenated message too big");
				return -1;
			}
			if (spool_append(sp, v->str, v->len, &error) < 0) {
				*reply_r = xstrdup("[LIMIT] Cannot hold the message now");
				return -1;
			}
		} else if (imap_arg_atom_equals(&parts[i], "URL") &&
			   imap_arg_get_astring(v, &url)) {
			bool printable = true;
			for (const char *c = url; *c != '\0'; c++)
				printable &= *c > 0x20 && *c < 0x7f && *c != ']';
			if (!printable) {
				*reply_r = xstrdup("[BADURL] Bad URL");
				return -1;
			}
			if (cat_url_part(s, url, sp, reply_r) < 0)
				return -1;
		} else {
			return -2;
		}
	}
	return 0;
}
