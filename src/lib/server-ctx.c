/* SPDX-License-Identifier: MIT */
/* Waking a worker loop from another thread: see server-ctx.h. */
#include "lib/server-ctx.h"

#include <stdint.h>
#include <unistd.h>

void server_ctx_wake(const struct server_ctx *ctx)
{
	if (ctx == NULL || ctx->wake_fd < 0)
		return;
	uint64_t one = 1;
	/* A full eventfd counter (EAGAIN) already means "wake up". */
	ssize_t r = write(ctx->wake_fd, &one, sizeof(one));
	(void)r;
}

void server_ctx_wake_cb(void *arg)
{
	server_ctx_wake(arg);
}
