/* SPDX-License-Identifier: MIT */
/*
 * DNS for mail authentication: the answer helpers every resolver (real or
 * fake) fills in, and libunbound behind struct mailauth_dns for the
 * verification threads. Each thread owns one context in threaded async mode
 * (set up by dns/dns.c as for the queue: dns_forward honoured, the test.
 * zone left to the resolver); a query is started asynchronously and waited
 * for with poll() until an answer or the job's deadline, so a silent
 * resolver costs at most the job's time budget and never blocks past it.
 */
#include "mailauth/mailauth.h"

#include "dns/dns.h"

#include "lib/util.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unbound.h>

#define RCODE_NXDOMAIN 3
/* How often a waiting query looks at the clock (ms). */
#define RESOLVER_SLICE_MS 200

void mailauth_answer_add(struct mailauth_answer *a, const char *text, const unsigned char *addr,
			 unsigned pref)
{
	a->rr = xrealloc(a->rr, (a->n + 1) * sizeof(*a->rr));
	struct mailauth_rr *rr = &a->rr[a->n++];
	memset(rr, 0, sizeof(*rr));
	rr->pref = pref;
	if (addr != NULL)
		memcpy(rr->addr, addr, sizeof(rr->addr));
	rr->text = text != NULL ? xstrdup(text) : NULL;
	a->status = MAILAUTH_DNS_OK;
}

void mailauth_answer_free(struct mailauth_answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->rr[i].text);
	free(a->rr);
	memset(a, 0, sizeof(*a));
}

int mailauth_ip_parse(const char *s, struct mailauth_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->addr) != 1)
		return -1;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(ip->addr, mapped, sizeof(mapped)) == 0) {
		memmove(ip->addr, ip->addr + 12, 4);
		memset(ip->addr + 4, 0, 12);
		ip->family = AF_INET;
	} else {
		ip->family = AF_INET6;
	}
	return 0;
}

/* --- wire-format rdata --------------------------------------------------- */

/*
 * An uncompressed domain name (libunbound hands rdata decompressed) as
 * dotted text without the final dot. Labels holding a dot or a byte
 * outside printable ASCII are refused: such names cannot be compared
 * meaningfully with the text of a policy record. Returns 0 or -1.
 */
static int rdata_name(const unsigned char *p, size_t len, char *out, size_t outsz)
{
	size_t i = 0, o = 0;
	while (i < len) {
		unsigned l = p[i++];
		if (l == 0) {
			out[o] = '\0';
			return 0;
		}
		if (l > 63 || i + l > len || o + l + 2 > outsz)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (unsigned k = 0; k < l; k++) {
			unsigned char c = p[i + k];
			if (c <= ' ' || c >= 0x7f || c == '.')
				return -1;
			out[o++] = (char)c;
		}
		i += l;
	}
	return -1;
}

/* TXT rdata: its character-strings joined. NUL bytes make it unusable. */
static char *rdata_txt(const unsigned char *p, size_t len)
{
	char *t = xmalloc(len + 1);
	size_t i = 0, o = 0;
	while (i < len) {
		unsigned l = p[i++];
		if (i + l > len || memchr(p + i, '\0', l) != NULL) {
			free(t);
			return NULL;
		}
		memcpy(t + o, p + i, l);
		o += l;
		i += l;
	}
	t[o] = '\0';
	return t;
}

static void answer_from_rdata(struct mailauth_answer *a, int type, const unsigned char *p,
			      size_t len)
{
	char name[256];
	char *txt;
	switch (type) {
	case MAILAUTH_RR_A:
	case MAILAUTH_RR_AAAA:
		if (len == (type == MAILAUTH_RR_A ? 4u : 16u)) {
			unsigned char addr[16] = {0};
			memcpy(addr, p, len);
			mailauth_answer_add(a, NULL, addr, 0);
		}
		break;
	case MAILAUTH_RR_MX:
		if (len >= 3 && rdata_name(p + 2, len - 2, name, sizeof(name)) == 0)
			mailauth_answer_add(a, name, NULL, (unsigned)(p[0] << 8 | p[1]));
		break;
	case MAILAUTH_RR_PTR:
		if (rdata_name(p, len, name, sizeof(name)) == 0)
			mailauth_answer_add(a, name, NULL, 0);
		break;
	case MAILAUTH_RR_TXT:
		txt = rdata_txt(p, len);
		if (txt != NULL) {
			mailauth_answer_add(a, txt, NULL, 0);
			free(txt);
		}
		break;
	}
}

/* --- libunbound ------------------------------------------------------------ */

struct mailauth_resolver {
	struct ub_ctx *ub;
	int64_t deadline_ms;
	const atomic_bool *stop;
};

struct pending_query {
	bool done;
	int err;
	struct ub_result *result;
};

int mailauth_resolver_create(const char *forward, const atomic_bool *stop,
			     struct mailauth_resolver **r_r, char **error_r)
{
	int r;
	struct ub_ctx *ub = dns_context_create(forward, &r);
	if (ub == NULL) {
		*error_r = r == 0 ? xstrdup("mailauth: cannot create the libunbound context")
				  : xasprintf("mailauth: dns %s: %s", dns_forward_name(forward),
					      ub_strerror(r));
		return -1;
	}
	struct mailauth_resolver *res = xcalloc(1, sizeof(*res));
	res->ub = ub;
	res->stop = stop;
	*r_r = res;
	return 0;
}

void mailauth_resolver_destroy(struct mailauth_resolver **rp)
{
	if (*rp == NULL)
		return;
	ub_ctx_delete((*rp)->ub);
	free(*rp);
	*rp = NULL;
}

void mailauth_resolver_set_deadline(struct mailauth_resolver *r, int64_t deadline_ms)
{
	r->deadline_ms = deadline_ms;
}

static void resolver_done(void *mydata, int err, struct ub_result *result)
{
	struct pending_query *q = mydata;
	q->done = true;
	q->err = err;
	q->result = result;
}

/* Wait for q until the deadline. Returns 0 when answered, -1 on time out. */
static int resolver_wait(struct mailauth_resolver *r, struct pending_query *q)
{
	while (!q->done) {
		if (r->stop != NULL && atomic_load(r->stop))
			return -1;
		int64_t left = RESOLVER_SLICE_MS;
		if (r->deadline_ms > 0) {
			left = r->deadline_ms - time_now_ms();
			if (left <= 0)
				return -1;
			if (left > RESOLVER_SLICE_MS)
				left = RESOLVER_SLICE_MS;
		}
		struct pollfd pfd = {.fd = ub_fd(r->ub), .events = POLLIN};
		if (poll(&pfd, 1, (int)left) > 0 && ub_process(r->ub) != 0)
			return -1;
	}
	return 0;
}

static void resolver_query(void *ctx, const char *name, int type, struct mailauth_answer *a)
{
	struct mailauth_resolver *r = ctx;
	struct pending_query q = {0};
	int id = 0;
	a->status = MAILAUTH_DNS_TEMP;
	if (r->deadline_ms > 0 && time_now_ms() >= r->deadline_ms)
		return;
	if (ub_resolve_async(r->ub, name, type, 1, &q, resolver_done, &id) != 0)
		return;
	if (resolver_wait(r, &q) < 0) {
		/* The callback will not run after ub_cancel, so q may go. */
		if (!q.done)
			ub_cancel(r->ub, id);
		if (q.result != NULL)
			ub_resolve_free(q.result);
		return;
	}
	struct ub_result *res = q.result;
	if (q.err != 0 || res == NULL) {
		if (res != NULL)
			ub_resolve_free(res);
		return;
	}
	if (res->rcode == 0 || res->rcode == RCODE_NXDOMAIN) {
		a->status = MAILAUTH_DNS_NONE;
		for (int i = 0; res->rcode == 0 && res->havedata && res->data[i] != NULL; i++)
			answer_from_rdata(a, type, (const unsigned char *)res->data[i],
					  (size_t)res->len[i]);
	}
	ub_resolve_free(res);
}

void mailauth_resolver_dns(struct mailauth_resolver *r, struct mailauth_dns *dns_r)
{
	dns_r->ctx = r;
	dns_r->query = resolver_query;
}
