/* SPDX-License-Identifier: MIT */
/*
 * Where does mail for a domain go? libunbound's asynchronous API in
 * threaded mode (never the default fork): queries are started with
 * ub_resolve_async, the context's fd sits in the manager's epoll set, and
 * ub_process runs the callbacks in the manager's thread. A lookup walks
 * RFC 5321 5.1: MX records by preference (a null MX, RFC 7505, is a
 * permanent failure; no MX means the domain is its own host), then the A
 * and AAAA records of every host, in parallel. NXDOMAIN is permanent,
 * SERVFAIL and timeouts temporary. Results are handed back from
 * queue_dns_process only, never from inside a call that starts a lookup,
 * so the manager's state is never re-entered.
 */
#include "queue/queue-private.h"

#include "dns/dns.h"

#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#define RR_A 1
#define RR_MX 15
#define RR_AAAA 28
#define RCODE_NXDOMAIN 3
/* Addresses kept per host and family. */
#define ADDRS_PER_FAMILY 8

struct dns_host {
	char name[256];
	unsigned pref;
	struct queue_dns_addr addrs[2][ADDRS_PER_FAMILY]; /* [0] A, [1] AAAA */
	size_t n_addrs[2];
};

struct dns_lookup {
	struct queue_dns *dns;
	struct dns_lookup *next;
	char domain[256];
	queue_dns_cb *cb;
	void *ctx;
	int pending;   /* outstanding unbound queries */
	bool decided;  /* result known: waits for queue_dns_process */
	bool temp;     /* a temporary error on some query */
	bool implicit; /* no MX: the domain is the host */
	struct queue_dns_result result;
	struct dns_host hosts[QUEUE_DNS_MAX_HOSTS];
	size_t n_hosts;
};

struct dns_query {
	struct dns_query *prev, *next; /* outstanding, for destroy */
	struct dns_lookup *l;
	int host; /* -1: the MX query */
	int family;
};

struct queue_dns {
	struct ub_ctx *ub;
	struct dns_lookup *lookups;
	struct dns_query *queries;
};

static void query_unlink(struct queue_dns *dns, struct dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		dns->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
}

int queue_dns_create(const char *forward, struct queue_dns **dns_r, char **error_r)
{
	int r;
	struct ub_ctx *ub = dns_context_create(forward, &r);
	if (ub == NULL) {
		*error_r = r == 0
			? xstrdup("dns: cannot create the libunbound context")
			: xasprintf("dns: %s: %s", dns_forward_name(forward), ub_strerror(r));
		return -1;
	}
	struct queue_dns *dns = xcalloc(1, sizeof(*dns));
	dns->ub = ub;
	*dns_r = dns;
	return 0;
}

void queue_dns_destroy(struct queue_dns **dnsp)
{
	struct queue_dns *dns = *dnsp;
	if (dns == NULL)
		return;
	/* Cancels the outstanding queries; their callbacks never run. */
	ub_ctx_delete(dns->ub);
	while (dns->queries != NULL) {
		struct dns_query *q = dns->queries;
		dns->queries = q->next;
		free(q);
	}
	while (dns->lookups != NULL) {
		struct dns_lookup *l = dns->lookups;
		dns->lookups = l->next;
		free(l->result.addrs);
		free(l);
	}
	free(dns);
	*dnsp = NULL;
}

int queue_dns_fd(struct queue_dns *dns)
{
	return ub_fd(dns->ub);
}

int queue_dns_parse_mx(const unsigned char *rdata, size_t len, unsigned *pref_r, char *name)
{
	if (len < 3)
		return -1;
	*pref_r = (unsigned)rdata[0] << 8 | rdata[1];
	size_t i = 2, o = 0;
	while (i < len) {
		unsigned ll = rdata[i++];
		if (ll == 0) {
			name[o] = '\0';
			return i == len ? 0 : -1;
		}
		/* Compression pointers cannot appear in unbound's rdata. */
		if (ll > 63 || i + ll > len || o + ll + 2 > 255)
			return -1;
		for (unsigned k = 0; k < ll; k++) {
			unsigned char ch = rdata[i + k];
			/* A host name: letters, digits, hyphen, underscore. */
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
				return -1;
		}
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, rdata + i, ll);
		o += ll;
		i += ll;
	}
	return -1;
}

static void lookup_decide(struct dns_lookup *l, enum queue_dns_status st, const char *why)
{
	if (l->decided)
		return;
	l->decided = true;
	l->result.status = st;
	snprintf(l->result.error, sizeof(l->result.error), "%s", why ? why : "");
}

static void dns_callback(void *arg, int err, struct ub_result *res);

static int dns_query(struct dns_lookup *l, const char *name, int rrtype, int host, int family)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->l = l;
	q->host = host;
	q->family = family;
	int r = ub_resolve_async(l->dns->ub, name, rrtype, 1, q, dns_callback, NULL);
	if (r != 0) {
		log_warn("queue.dns", "name=%s error=\"%s\"", name, ub_strerror(r));
		free(q);
		l->temp = true;
		return -1;
	}
	q->next = l->dns->queries;
	if (q->next != NULL)
		q->next->prev = q;
	l->dns->queries = q;
	l->pending++;
	return 0;
}

static void lookup_addresses(struct dns_lookup *l)
{
	for (size_t i = 0; i < l->n_hosts; i++) {
		dns_query(l, l->hosts[i].name, RR_A, (int)i, 0);
		dns_query(l, l->hosts[i].name, RR_AAAA, (int)i, 1);
	}
}

/* Every address query is in: the addresses in MX order, A before AAAA. */
static void lookup_finish(struct dns_lookup *l)
{
	size_t n = 0;
	l->result.addrs = xcalloc(QUEUE_DNS_MAX_ADDRS, sizeof(*l->result.addrs));
	for (size_t h = 0; h < l->n_hosts; h++)
		for (int f = 0; f < 2; f++)
			for (size_t i = 0; i < l->hosts[h].n_addrs[f] && n < QUEUE_DNS_MAX_ADDRS;
			     i++)
				l->result.addrs[n++] = l->hosts[h].addrs[f][i];
	l->result.n_addrs = n;
	if (n > 0)
		lookup_decide(l, QUEUE_DNS_OK, NULL);
	else if (l->temp)
		lookup_decide(l, QUEUE_DNS_TEMPFAIL, "4.4.3 DNS lookup of the mail hosts failed");
	else if (l->implicit)
		lookup_decide(l, QUEUE_DNS_PERMFAIL,
			      "5.1.2 the domain has no MX or address records");
	else
		lookup_decide(l, QUEUE_DNS_TEMPFAIL, "4.4.4 no address for the domain's MX hosts");
}

static int mx_cmp(const void *a, const void *b)
{
	const struct dns_host *x = a, *y = b;
	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

static void on_mx(struct dns_lookup *l, struct ub_result *res)
{
	if (res->rcode == RCODE_NXDOMAIN || res->nxdomain) {
		lookup_decide(l, QUEUE_DNS_PERMFAIL, "5.1.2 the domain does not exist");
		return;
	}
	if (res->rcode != 0) {
		lookup_decide(l, QUEUE_DNS_TEMPFAIL, "4.4.3 DNS failure looking up MX records");
		return;
	}
	for (size_t i = 0; res->havedata && res->data[i] != NULL; i++) {
		char name[256];
		unsigned pref;
		if (queue_dns_parse_mx((const unsigned char *)res->data[i], (size_t)res->len[i],
				       &pref, name) < 0)
			continue;
		if (name[0] == '\0') {
			lookup_decide(l, QUEUE_DNS_PERMFAIL,
				      "5.1.10 the domain accepts no mail (null MX)");
			return;
		}
		if (l->n_hosts < QUEUE_DNS_MAX_HOSTS) {
			struct dns_host *h = &l->hosts[l->n_hosts++];
			snprintf(h->name, sizeof(h->name), "%s", name);
			h->pref = pref;
		}
	}
	if (l->n_hosts == 0) {
		if (res->havedata) {
			lookup_decide(l, QUEUE_DNS_TEMPFAIL, "4.4.3 malformed MX records");
			return;
		}
		/* RFC 5321 5.1: no MX, the domain itself is the host. */
		l->implicit = true;
		snprintf(l->hosts[0].name, sizeof(l->hosts[0].name), "%s", l->domain);
		l->n_hosts = 1;
	}
	qsort(l->hosts, l->n_hosts, sizeof(l->hosts[0]), mx_cmp);
	lookup_addresses(l);
}

static void on_address(struct dns_lookup *l, struct dns_host *h, int family, struct ub_result *res)
{
	if (res->rcode != 0 && res->rcode != RCODE_NXDOMAIN)
		l->temp = true;
	for (size_t i = 0; res->havedata && res->data[i] != NULL; i++) {
		int want = family == 0 ? 4 : 16;
		if (res->len[i] != want || h->n_addrs[family] >= ADDRS_PER_FAMILY)
			continue;
		struct queue_dns_addr *a = &h->addrs[family][h->n_addrs[family]++];
		memset(a, 0, sizeof(*a));
		memcpy(a->host, h->name, sizeof(a->host));
		if (family == 0) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, res->data[i], 4);
			a->salen = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, res->data[i], 16);
			a->salen = sizeof(*sin6);
		}
	}
}

static void dns_callback(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;
	struct dns_lookup *l = q->l;
	query_unlink(l->dns, q);
	l->pending--;
	if (err != 0 || res == NULL) {
		log_warn("queue.dns", "domain=%s error=\"%s\"", l->domain, ub_strerror(err));
		l->temp = true;
		if (q->host < 0)
			lookup_decide(l, QUEUE_DNS_TEMPFAIL, "4.4.3 DNS resolver error");
	} else if (q->host < 0) {
		on_mx(l, res);
	} else {
		on_address(l, &l->hosts[q->host], q->family, res);
	}
	if (res != NULL)
		ub_resolve_free(res);
	if (l->pending == 0 && !l->decided)
		lookup_finish(l);
	free(q);
}

/* "[1.2.3.4]" or "[IPv6:::1]" as one address; 1 parsed, 0 not a literal, -1 bad. */
static int dns_literal(const char *s, struct dns_lookup *l)
{
	size_t n = strlen(s);
	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return 0;
	char ip[128];
	snprintf(ip, sizeof(ip), "%.*s", (int)(n - 2), s + 1);
	struct dns_host *h = &l->hosts[0];
	struct queue_dns_addr *a = &h->addrs[0][0];
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", s);
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->salen = sizeof(*sin);
	} else if (strncasecmp(ip, "IPv6:", 5) == 0 &&
		   inet_pton(AF_INET6, ip + 5, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		a->salen = sizeof(*sin6);
	} else {
		return -1;
	}
	h->n_addrs[0] = 1;
	l->n_hosts = 1;
	return 1;
}

static struct dns_lookup *lookup_new(struct queue_dns *dns, const char *name, queue_dns_cb *cb,
				     void *ctx)
{
	struct dns_lookup *l = xcalloc(1, sizeof(*l));
	l->dns = dns;
	snprintf(l->domain, sizeof(l->domain), "%s", name);
	l->cb = cb;
	l->ctx = ctx;
	l->next = dns->lookups;
	dns->lookups = l;
	return l;
}

/* A literal address, or a name that is no host name: decided at once. */
static bool lookup_immediate(struct dns_lookup *l, const char *name)
{
	int lit = dns_literal(name, l);
	if (lit > 0) {
		lookup_finish(l);
		return true;
	}
	if (lit < 0 || strlen(name) > 253 || *name == '\0' || *name == '.' ||
	    strstr(name, "..") != NULL) {
		lookup_decide(l, QUEUE_DNS_PERMFAIL, "5.1.2 bad destination domain syntax");
		return true;
	}
	return false;
}

int queue_dns_resolve_domain(struct queue_dns *dns, const char *domain, queue_dns_cb *cb, void *ctx)
{
	struct dns_lookup *l = lookup_new(dns, domain, cb, ctx);
	if (lookup_immediate(l, domain))
		return 0;
	if (dns_query(l, domain, RR_MX, -1, 0) < 0)
		lookup_decide(l, QUEUE_DNS_TEMPFAIL, "4.4.3 DNS resolver error");
	return 0;
}

int queue_dns_resolve_host(struct queue_dns *dns, const char *host, queue_dns_cb *cb, void *ctx)
{
	struct dns_lookup *l = lookup_new(dns, host, cb, ctx);
	if (lookup_immediate(l, host))
		return 0;
	/* A plain IP address needs no lookup either. */
	char lit[300];
	snprintf(lit, sizeof(lit), strchr(host, ':') ? "[IPv6:%s]" : "[%s]", host);
	if (dns_literal(lit, l) > 0) {
		lookup_finish(l);
		return 0;
	}
	l->implicit = true;
	snprintf(l->hosts[0].name, sizeof(l->hosts[0].name), "%s", host);
	l->n_hosts = 1;
	lookup_addresses(l);
	if (l->pending == 0)
		lookup_finish(l);
	return 0;
}

void queue_dns_process(struct queue_dns *dns)
{
	if (ub_poll(dns->ub))
		ub_process(dns->ub);
	/* Hand back decided lookups (those whose queries are all back). */
	struct dns_lookup **pp = &dns->lookups;
	while (*pp != NULL) {
		struct dns_lookup *l = *pp;
		if (!l->decided || l->pending > 0) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		l->cb(l->ctx, &l->result);
		free(l->result.addrs);
		free(l);
	}
}
