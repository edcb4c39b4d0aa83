/* SPDX-License-Identifier: MIT */
/*
 * IMAP sequence sets (RFC 9051 sequence-set, RFC 5182 "$"): parsed into
 * sorted, merged ranges with '*' resolved against the current maximum, so
 * that membership is a binary search and iteration never overflows. Input
 * is untrusted: numbers are checked against 2^32 - 1 digit by digit, zero
 * is refused, and the number of ranges is capped. Also writes UID lists
 * back in compact "1:3,7" form (VANISHED, COPYUID, ESEARCH).
 */
#include "imap/imap-private.h"

#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* One seq-number: nz-number or '*'. Returns 0 and advances *p, or -1. */
static int seq_number(const char **p, uint32_t star, uint32_t *n_r)
{
	const char *s = *p;
	if (*s == '*') {
		*n_r = star;
		*p = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -1;
	uint64_t v = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	*n_r = (uint32_t)v;
	*p = s;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

/* Sort and merge overlapping or adjacent ranges. */
static void seqset_normalise(struct imap_seqset *set)
{
	if (set->count < 2)
		return;
	qsort(set->ranges, set->count, sizeof(set->ranges[0]), range_cmp);
	size_t w = 0;
	for (size_t i = 1; i < set->count; i++) {
		struct imap_seq_range *last = &set->ranges[w];
		const struct imap_seq_range *r = &set->ranges[i];
		if (last->hi == UINT32_MAX || r->lo <= last->hi + 1) {
			if (r->hi > last->hi)
				last->hi = r->hi;
		} else {
			set->ranges[++w] = *r;
		}
	}
	set->count = w + 1;
}

int imap_seqset_parse(const char *text, uint32_t star, struct imap_seqset *set_r,
		      const char **error_r)
{
	memset(set_r, 0, sizeof(*set_r));
	if (strcmp(text, "$") == 0) {
		set_r->saved = true;
		return 0;
	}
	size_t cap = 0;
	const char *p = text;
	for (;;) {
		uint32_t a, b;
		if (seq_number(&p, star, &a) < 0)
			goto bad;
		b = a;
		if (*p == ':') {
			p++;
			if (seq_number(&p, star, &b) < 0)
				goto bad;
		}
		if (set_r->count == IMAP_SEQSET_MAX_RANGES) {
			*error_r = "Too many ranges in sequence set";
			goto fail;
		}
		if (set_r->count == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			set_r->ranges = xrealloc(set_r->ranges, cap * sizeof(set_r->ranges[0]));
		}
		set_r->ranges[set_r->count++] =
			(struct imap_seq_range){a < b ? a : b, a < b ? b : a};
		if (*p == '\0')
			break;
		if (*p != ',')
			goto bad;
		p++;
	}
	seqset_normalise(set_r);
	return 0;
bad:
	*error_r = "Invalid sequence set";
fail:
	imap_seqset_free(set_r);
	return -1;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->ranges);
	memset(set, 0, sizeof(*set));
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (set->ranges[mid].hi < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < set->count && set->ranges[lo].lo <= n;
}

bool imap_uid_find(const uint32_t *uids, size_t n, uint32_t uid, size_t *index_r)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || uids[lo] != uid)
		return false;
	if (index_r != NULL)
		*index_r = lo;
	return true;
}

uint64_t imap_seqset_size(const struct imap_seqset *set)
{
	uint64_t total = 0;
	for (size_t i = 0; i < set->count; i++)
		total += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return total;
}

/*
 * *pos packs the range index (high 32 bits) and the offset inside it (low
 * 32 bits), so iteration needs no state of its own and cannot overflow.
 */
bool imap_seqset_next(const struct imap_seqset *set, uint64_t *pos, uint32_t *n_r)
{
	size_t idx = (size_t)(*pos >> 32);
	uint32_t off = (uint32_t)*pos;
	if (idx >= set->count)
		return false;
	const struct imap_seq_range *r = &set->ranges[idx];
	*n_r = r->lo + off;
	if (*n_r == r->hi)
		*pos = (uint64_t)(idx + 1) << 32;
	else
		*pos = ((uint64_t)idx << 32) | (uint64_t)(off + 1);
	return true;
}

void imap_seqset_write(struct buf *out, const uint32_t *values, size_t n)
{
	size_t i = 0;
	bool first = true;
	while (i < n) {
		uint32_t lo = values[i], hi = lo;
		i++;
		while (i < n && (values[i] == hi || (hi < UINT32_MAX && values[i] == hi + 1)))
			hi = values[i++];
		if (lo == hi)
			buf_printf(out, "%s%u", first ? "" : ",", lo);
		else
			buf_printf(out, "%s%u:%u", first ? "" : ",", lo, hi);
		first = false;
	}
}
