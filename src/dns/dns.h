/* SPDX-License-Identifier: MIT */
/*
 * The libunbound context set-up shared by the outbound queue (MX lookups)
 * and mail authentication (SPF, DKIM, DMARC records): asynchronous in
 * threaded mode, dns_forward honoured, localhost resolvers allowed and the
 * special-use test. zone left to the resolver. Callers own the queries and
 * their error messages; only the context is built here.
 */
#ifndef FACTEUR_DNS_DNS_H
#define FACTEUR_DNS_DNS_H

struct ub_ctx;

/*
 * A context forwarding to forward ("addr[@port]"), or to resolv.conf's
 * servers if forward is NULL or "". NULL on failure, with *err_r the
 * libunbound error code, or 0 if the context itself could not be created.
 */
struct ub_ctx *dns_context_create(const char *forward, int *err_r);
/* forward as given, or "resolv.conf" when it is NULL or "" (for messages). */
const char *dns_forward_name(const char *forward);

#endif
