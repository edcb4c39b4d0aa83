/* SPDX-License-Identifier: MIT */
/*
 * Listeners and worker loops. Sockets are bound in net_server_create, while
 * the process may still be root; net_server_run then starts one thread per
 * worker, each with its own epoll set watching every listener with
 * EPOLLEXCLUSIVE, its own eventfd for the stop request, and its own
 * server_ctx (store handle) made by the caller's init hook.
 */
#include "net/net-private.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_one(const struct config_listener *cl, int *port_r, char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, cl->address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)cl->port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, cl->address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)cl->port);
		sslen = sizeof(*sin6);
	} else {
		*error_r = xasprintf("listen.%s: %s is not an IP address",
				     config_listener_kind_name(cl->kind), cl->address);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 1024) < 0) {
		*error_r = xasprintf("listen.%s: cannot bind %s port %d: %s",
				     config_listener_kind_name(cl->kind), cl->address, cl->port,
				     strerror(errno));
		close(fd);
		return -1;
	}
	sslen = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sslen);
	*port_r = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	return fd;
}

int net_server_create(const struct config *cfg,
		      const struct conn_proto *const protos[LISTENER_KIND_COUNT],
		      struct net_server **server_r, char **error_r)
{
	struct net_server *s = xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	atomic_init(&s->stop, false);
	pthread_mutex_init(&s->tls_lock, NULL);
	if (*cfg->tls_cert != '\0') {
		s->tls = net_tls_server_ctx(cfg->tls_cert, cfg->tls_key, error_r);
		if (s->tls == NULL) {
			net_server_destroy(&s);
			return -1;
		}
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct config_listener *cl = &cfg->listeners[i];
		struct listener *l = &s->listeners[s->n_listeners];
		l->proto = protos[cl->kind];
		l->kind = cl->kind;
		if (l->proto == NULL) {
			*error_r = xasprintf("listen.%s: not served by this build",
					     config_listener_kind_name(cl->kind));
			net_server_destroy(&s);
			return -1;
		}
		l->fd = bind_one(cl, &l->port, error_r);
		if (l->fd < 0) {
			net_server_destroy(&s);
			return -1;
		}
		s->n_listeners++;
		log_info("listen", "kind=%s addr=%s port=%d", config_listener_kind_name(cl->kind),
			 cl->address, l->port);
	}
	*server_r = s;
	return 0;
}

int net_server_listener_port(const struct net_server *server, size_t i)
{
	return i < server->n_listeners ? server->listeners[i].port : -1;
}

/*
 * epoll data: connections store their pointer; listeners and the stop
 * eventfd use small tagged integers that no heap pointer can equal.
 */
#define NET_TICK_MS 200
#define EP_STOP_VALUE ((uint64_t)1)
#define EP_WAKE_VALUE ((uint64_t)2)
#define EP_LISTENER_BASE ((uint64_t)16)

/*
 * Raise the RLIMIT_NOFILE soft limit to what max_connections needs on
 * every worker (plus room for the store, blobs, DNS and the queue). When
 * the hard limit is lower, take what there is and lower the effective
 * per-worker cap to fit, saying so.
 */
#define NET_FD_RESERVE 256

static void net_raise_nofile(struct net_server *s, int workers)
{
	struct rlimit rl;
	uint64_t need = (uint64_t)s->cfg->max_connections * (uint64_t)workers + NET_FD_RESERVE;
	s->max_conns = s->cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t soft = rl.rlim_cur;
	if (soft < need) {
		rlim_t want =
			rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		struct rlimit nr = {.rlim_cur = want, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
			soft = want;
	}
	log_info("nofile", "soft=%llu hard=%llu needed=%llu", (unsigned long long)soft,
		 (unsigned long long)rl.rlim_max, (unsigned long long)need);
	if (soft >= need)
		return;
	uint64_t room = soft > 2 * NET_FD_RESERVE ? soft - NET_FD_RESERVE : soft / 2;
	s->max_conns = (unsigned)(room / (uint64_t)workers);
	if (s->max_conns == 0)
		s->max_conns = 1;
	log_warn("nofile_low", "soft=%llu needed=%llu max_connections=%u effective_per_worker=%u",
		 (unsigned long long)soft, (unsigned long long)need, s->cfg->max_connections,
		 s->max_conns);
}

void worker_listeners_watch(struct worker *w, bool on)
{
	struct net_server *s = w->server;
	for (size_t i = 0; i < s->n_listeners; i++) {
		/* EPOLLEXCLUSIVE cannot be modified: delete and add again. */
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
					 .data.u64 = EP_LISTENER_BASE + i};
		epoll_ctl(w->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->listeners[i].fd, &ev);
	}
}

/*
 * A TLS handshake allocates tens of KiB for a moment; a burst of them
 * between the small allocations that stay (sessions, views) leaves the
 * heap full of free holes that still count as resident. Once a burst of
 * accepts is over (a second without one, and at most every 10 s, or every
 * minute under a steady trickle), give the free pages back to the kernel.
 * malloc_trim walks the free lists only: milliseconds, on this thread.
 *
 * Not under AddressSanitizer: its allocator replaces glibc's, and glibc's
 * malloc_trim, first called from a worker, initialises glibc's heap there
 * and ties that worker to the main arena without counting it; two workers
 * doing so at once abort at thread exit ("a->attached_threads > 0").
 */
static void worker_trim(struct worker *w, int64_t now)
{
	if (w->accepted_since_trim == 0 || now - w->last_trim < 10000)
		return;
	if (now - w->last_accept < 1000 && now - w->last_trim < 60000)
		return;
	w->accepted_since_trim = 0;
	w->last_trim = now;
#ifndef __SANITIZE_ADDRESS__
	malloc_trim(0);
#endif
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct net_server *s = w->server;
	struct epoll_event evs[128];
	int64_t last_tick = time_now_ms();
	while (!w->stopping && !atomic_load(&s->stop)) {
		int n = epoll_wait(w->epfd, evs, 128, w->n_ready > 0 ? 0 : NET_TICK_MS);
		if (n < 0 && errno != EINTR) {
			log_error("epoll", "worker=%d error=\"%s\"", w->id, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v = evs[i].data.u64;
			if (v == EP_STOP_VALUE) {
				w->stopping = true;
			} else if (v == EP_WAKE_VALUE) {
				uint64_t count;
				ssize_t r = read(w->ctx.wake_fd, &count, sizeof(count));
				(void)r;
				conn_resume_waiting(w, time_now_ms());
			} else if (v >= EP_LISTENER_BASE &&
				   v < EP_LISTENER_BASE + CONFIG_MAX_LISTENERS)
				conn_accept(w, &s->listeners[v - EP_LISTENER_BASE]);
			else
				conn_event((struct conn *)evs[i].data.ptr, evs[i].events);
		}
		conn_run_ready(w);
		int64_t now = time_now_ms();
		if (w->listen_paused_until != 0 && now >= w->listen_paused_until) {
			w->listen_paused_until = 0;
			worker_listeners_watch(w, true);
		}
		if (now - last_tick >= NET_TICK_MS) {
			conn_tick(w, now);
			last_tick = now;
			worker_trim(w, now);
		}
	}
	conn_close_all(w);
	return NULL;
}

static int worker_setup(struct worker *w, char **error_r)
{
	struct net_server *s = w->server;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->stopfd < 0) {
		*error_r = xasprintf("epoll/eventfd: %s", strerror(errno));
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EP_STOP_VALUE};
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stopfd, &ev);
	w->ctx.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->ctx.wake_fd < 0) {
		*error_r = xasprintf("eventfd: %s", strerror(errno));
		return -1;
	}
	ev.data.u64 = EP_WAKE_VALUE;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ctx.wake_fd, &ev);
	w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (size_t i = 0; i < s->n_listeners; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.u64 = EP_LISTENER_BASE + i;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->listeners[i].fd, &ev) < 0) {
			*error_r = xasprintf("epoll_ctl: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

int net_server_run(struct net_server *s, const struct net_worker_hooks *hooks, char **error_r)
{
	int n = s->cfg->workers;
	if (n <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (int)cores : 1;
	}
	net_raise_nofile(s, n);
	s->workers = xcalloc((size_t)n, sizeof(*s->workers));
	pthread_t *threads = xcalloc((size_t)n, sizeof(*threads));
	int started = 0, ret = 0;
	for (int i = 0; i < n; i++) {
		struct worker *w = &s->workers[i];
		const char *err = NULL;
		w->server = s;
		w->id = i;
		w->epfd = w->stopfd = w->ctx.wake_fd = w->spare_fd = -1;
		w->ctx.config = s->cfg;
		w->ctx.worker_id = i;
		if (worker_setup(w, error_r) < 0) {
			ret = -1;
			break;
		}
		if (hooks->init(i, &w->ctx, &err) < 0) {
			*error_r = xasprintf("worker %d: %s", i, err ? err : "init failed");
			ret = -1;
			break;
		}
		pthread_create(&threads[i], NULL, worker_main, w);
		started++;
	}
	atomic_store(&s->n_workers, started);
	if (ret < 0)
		net_server_stop(s);
	else
		log_info("started", "workers=%d listeners=%zu", n, s->n_listeners);
	for (int i = 0; i < started; i++) {
		pthread_join(threads[i], NULL);
		hooks->deinit(&s->workers[i].ctx);
	}
	free(threads);
	return ret;
}

void net_server_stop(struct net_server *s)
{
	atomic_store(&s->stop, true);
	uint64_t one = 1;
	int n = atomic_load(&s->n_workers);
	for (int i = 0; i < n; i++) {
		ssize_t r = write(s->workers[i].stopfd, &one, sizeof(one));
		(void)r;
	}
}

void net_server_destroy(struct net_server **sp)
{
	struct net_server *s = *sp;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_listeners; i++)
		close(s->listeners[i].fd);
	if (s->workers != NULL) {
		for (int i = 0; i < s->n_workers; i++) {
			if (s->workers[i].epfd >= 0)
				close(s->workers[i].epfd);
			if (s->workers[i].stopfd >= 0)
				close(s->workers[i].stopfd);
			if (s->workers[i].ctx.wake_fd >= 0)
				close(s->workers[i].ctx.wake_fd);
			if (s->workers[i].spare_fd >= 0)
				close(s->workers[i].spare_fd);
		}
		free(s->workers);
	}
	SSL_CTX_free(s->tls);
	pthread_mutex_destroy(&s->tls_lock);
	free(s);
	*sp = NULL;
}

/*
 * Each SSL holds a reference on the context it was made from, so a swap
 * leaves sessions in progress on the old certificate until they end; the
 * lock only keeps a worker from taking the old pointer as it is released.
 */
SSL *net_server_ssl_new(struct net_server *s)
{
	pthread_mutex_lock(&s->tls_lock);
	SSL *ssl = SSL_new(s->tls);
	pthread_mutex_unlock(&s->tls_lock);
	return ssl;
}

int net_server_reload_tls(struct net_server *s, char **error_r)
{
	if (s->tls == NULL)
		return 0; /* no certificate configured: nothing to reload */
	SSL_CTX *ctx = net_tls_server_ctx(s->cfg->tls_cert, s->cfg->tls_key, error_r);
	if (ctx == NULL)
		return -1;
	pthread_mutex_lock(&s->tls_lock);
	SSL_CTX *old = s->tls;
	s->tls = ctx;
	pthread_mutex_unlock(&s->tls_lock);
	SSL_CTX_free(old);
	return 1;
}
