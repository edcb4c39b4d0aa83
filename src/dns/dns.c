/* SPDX-License-Identifier: MIT */
/*
 * One libunbound context configuration for every DNS user (queue/ and
 * mailauth/), so both resolve through the same servers with the same
 * settings. The order of the settings matters: removing the test. zone
 * finalises the context, so it comes last.
 */
#include "dns/dns.h"

#include <stddef.h>
#include <unbound.h>

struct ub_ctx *dns_context_create(const char *forward, int *err_r)
{
	*err_r = 0;
	struct ub_ctx *ub = ub_ctx_create();
	if (ub == NULL)
		return NULL;
	int r = ub_ctx_async(ub, 1);
	/* Tests and local resolvers live on 127.0.0.1: allow querying them. */
	if (r == 0)
		r = ub_ctx_set_option(ub, "do-not-query-localhost:", "no");
	if (r == 0)
		r = forward != NULL && *forward != '\0' ? ub_ctx_set_fwd(ub, forward)
							: ub_ctx_resolvconf(ub, NULL);
	/*
	 * libunbound answers RFC 6761 names (test.) itself with NXDOMAIN; let
	 * the configured resolver decide, as a test network's resolver must.
	 * This finalises the context, so it comes after every other setting.
	 */
	if (r == 0)
		(void)ub_ctx_zone_remove(ub, "test.");
	if (r != 0) {
		*err_r = r;
		ub_ctx_delete(ub);
		return NULL;
	}
	return ub;
}

const char *dns_forward_name(const char *forward)
{
	return forward != NULL && *forward != '\0' ? forward : "resolv.conf";
}
