/* SPDX-License-Identifier: MIT */
/*
 * Per-destination concurrency for the queue manager, with Postfix's slow
 * start as the model: a destination begins with a few connections, earns
 * one more per round of successful deliveries (as many as it has
 * connections), and gives one back per failure, so a server that keeps up
 * gets up to queue_max_per_destination parallel sessions while one that
 * struggles (refuses connections, answers 4xx, drops sessions) is not
 * hammered. Pure arithmetic, no I/O: the manager feeds it outcomes and
 * asks how many connections to open; the unit tests drive it the same way.
 */
#include "queue/queue-private.h"

void queue_window_init(struct queue_window *w, unsigned initial, unsigned max)
{
	w->max = max > 0 ? max : 1;
	w->cur = initial == 0 ? 1 : initial > w->max ? w->max : initial;
	w->credit = 0;
}

void queue_window_success(struct queue_window *w)
{
	if (w->cur >= w->max) {
		w->credit = 0;
		return;
	}
	/* One round: as many deliveries as the window has connections. */
	if (++w->credit >= w->cur) {
		w->cur++;
		w->credit = 0;
	}
}

void queue_window_failure(struct queue_window *w)
{
	w->credit = 0;
	if (w->cur > 1)
		w->cur--;
}

static unsigned room(unsigned limit, unsigned used)
{
	return limit > used ? limit - used : 0;
}

unsigned queue_window_to_open(const struct queue_window *w, const struct queue_dest_load *l)
{
	size_t taken = (size_t)l->waiting + l->busy;
	if (l->pending <= taken)
		return 0;
	size_t need = l->pending - taken;
	unsigned n = room(w->cur, l->active);
	unsigned total = room(l->total_max, l->total);
	if (total < n)
		n = total;
	return need < n ? (unsigned)need : n;
}
