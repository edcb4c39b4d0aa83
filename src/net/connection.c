/* SPDX-License-Identifier: MIT */
/*
 * One connection: socket, optional TLS, input and output buffers, and the
 * protocol engine it feeds. The loop is level-triggered; the interest set
 * is recomputed after every event from the connection's state, which keeps
 * back-pressure simple: no reading while the engine streams (CONN_MORE),
 * while a STARTTLS reply is flushing, or while the input buffer is full.
 * An engine that cut a long command into slices (CONN_YIELD) is marked
 * ready and resumed on the worker's next turn (conn_run_ready), after the
 * events of the other connections: one slice per turn.
 *
 * STARTTLS: when the engine answers CONN_STARTTLS, every byte already
 * buffered is dropped before the handshake, so a command pipelined behind
 * STARTTLS in plaintext is never executed inside the TLS session.
 *
 * COMPRESS (RFC 4978): after CONN_COMPRESS the stream above TLS is raw
 * DEFLATE both ways. Input is read into `raw` and inflated into `in`;
 * output is deflated from `out` into `zout` with a sync flush, so the engine
 * never knows. Inflated input is capped like plain input (a compression
 * bomb fills `in` to CONN_IN_MAX and waits, it never grows memory).
 */
#include "net/net-private.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CONN_READ_CHUNK 16384
/*
 * Stop reading until the engine consumes. One byte under 1 MiB, and no
 * read goes past it: the buffer's capacity, which doubles, stops at 1 MiB
 * instead of 2.
 */
#define CONN_IN_MAX (1024 * 1024 - 1)
#define CONN_OUT_LOW (64 * 1024)   /* resume a streaming engine below this */
#define CONN_HANDSHAKE_TIMEOUT 30  /* seconds */
#define CONN_ROUNDS 64             /* engine calls per turn: then the others' turn */
#define CONN_TURN_US 5000          /* ... or this much of the loop's time, if sooner */
#define CONN_ACCEPT_BACKOFF_MS 500 /* out of fds: listeners unwatched this long */

enum conn_state { CS_HANDSHAKE, CS_OPEN, CS_CLOSING };

struct conn {
	struct worker *w;
	struct conn *prev, *next;
	int fd;
	SSL *ssl;
	enum conn_state state;
	const struct listener *listener;
	const struct conn_proto *proto;
	void *session;
	struct buf in, out;
	struct conn_info info;
	char peer_ip[INET6_ADDRSTRLEN];
	char sid[13];
	bool more;        /* engine is streaming: call resume when drained */
	bool starttls;    /* upgrade once the output is flushed */
	bool close_after; /* close once the output is flushed */
	bool ssl_want_write;
	bool limit_held;
	bool compress; /* start DEFLATE once the output is flushed */
	bool waiting;  /* CONN_WAIT: resume on the tick */
	bool ready;    /* buffered input left after a full turn: go on next turn */
	bool yield;    /* CONN_YIELD: resume on the next turn */
	z_stream *zin, *zout;
	struct buf raw;      /* compressed input not yet inflated */
	struct buf zout_buf; /* compressed output not yet sent */
	uint32_t events;     /* current epoll interest */
	int64_t last_active;
};

static void conn_destroy(struct conn *c, const char *why)
{
	struct worker *w = c->w;
	if (c->ready)
		w->n_ready--;
	if (c->session != NULL)
		c->proto->close(c->session);
	log_info("disconnect", "session=%s reason=%s", c->sid, why);
	if (c->ssl != NULL) {
		if (c->state == CS_OPEN)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->limit_held)
		conn_limit_release(c->peer_ip);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	if (c->zin != NULL) {
		inflateEnd(c->zin);
		deflateEnd(c->zout);
		free(c->zin);
		free(c->zout);
	}
	buf_deinit(&c->raw);
	buf_deinit(&c->zout_buf);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	free(c);
}

/*
 * Give back the buffers that are empty: most connections are idle most of
 * the time (IMAP IDLE), and an idle one should cost a few hundred bytes
 * here, not the high-water mark of its last command. A busy connection
 * pays a malloc when its next bytes come, which is cheap next to a read.
 */
static void conn_rest(struct conn *c)
{
	if (c->in.len == 0)
		buf_deinit(&c->in);
	if (c->out.len == 0)
		buf_deinit(&c->out);
	if (c->raw.len == 0)
		buf_deinit(&c->raw);
	if (c->zout_buf.len == 0)
		buf_deinit(&c->zout_buf);
}

/* Bytes waiting to be sent, compressed or not. */
static size_t conn_pending_out(const struct conn *c)
{
	return c->out.len + c->zout_buf.len;
}

static void conn_update_events(struct conn *c)
{
	uint32_t ev = 0;
	if (c->state == CS_HANDSHAKE) {
		ev = c->ssl_want_write ? EPOLLOUT : EPOLLIN;
	} else {
		bool paused = c->more || c->starttls || c->compress || c->waiting || c->yield ||
			c->close_after || c->in.len >= CONN_IN_MAX || c->raw.len >= CONN_IN_MAX;
		if (!paused)
			ev |= EPOLLIN;
		if (conn_pending_out(c) > 0 || c->ssl_want_write)
			ev |= EPOLLOUT;
	}
	if (ev != c->events) {
		struct epoll_event e = {.events = ev, .data.ptr = c};
		epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &e);
		c->events = ev;
	}
}

/* Move everything in out through the compressor into zout_buf. */
static int conn_deflate(struct conn *c)
{
	if (c->out.len == 0)
		return 0;
	c->zout->next_in = (unsigned char *)c->out.data;
	c->zout->avail_in = (unsigned)c->out.len;
	do {
		buf_reserve(&c->zout_buf, 16384);
		c->zout->next_out = (unsigned char *)c->zout_buf.data + c->zout_buf.len;
		c->zout->avail_out = 16384;
		if (deflate(c->zout, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
			return -1;
		c->zout_buf.len += 16384 - c->zout->avail_out;
	} while (c->zout->avail_out == 0 || c->zout->avail_in > 0);
	buf_clear(&c->out);
	return 0;
}

/* Returns -1 on a fatal error, 0 otherwise (EAGAIN included). */
static int conn_flush(struct conn *c)
{
	if (c->zout != NULL && conn_deflate(c) < 0)
		return -1;
	struct buf *b = c->zout != NULL ? &c->zout_buf : &c->out;
	while (b->len > 0) {
		ssize_t n;
		c->ssl_want_write = false;
		if (c->ssl != NULL) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, b->data,
					  (int)(b->len > INT32_MAX ? INT32_MAX : b->len));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
					return 0;
				}
				return -1;
			}
			n = r;
		} else {
			n = send(c->fd, b->data, b->len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				return -1;
			}
		}
		buf_consume(b, (size_t)n);
	}
	return 0;
}

/*
 * The client's bytes could not be kept: memory ran out. Only this
 * connection closes (its engine would wait for the bytes lost), the others
 * go on; the x* allocators would have aborted the daemon. Returns -1.
 */
static int conn_input_oom(struct conn *c)
{
	log_warn("conn.oom", "session=%s ip=%s buffered=%zu", c->sid, c->peer_ip,
		 c->in.len + c->raw.len);
	return -1;
}

/* How much the next read into b may take: a chunk, never past CONN_IN_MAX. */
static size_t conn_in_room(const struct buf *b)
{
	return CONN_IN_MAX - b->len < CONN_READ_CHUNK ? CONN_IN_MAX - b->len : CONN_READ_CHUNK;
}

/* Inflate raw into in, up to CONN_IN_MAX. Returns -1 on corrupt data or no memory. */
static int conn_inflate(struct conn *c)
{
	while (c->raw.len > 0 && c->in.len < CONN_IN_MAX) {
		size_t room = conn_in_room(&c->in);
		if (buf_try_reserve(&c->in, room) < 0)
			return conn_input_oom(c);
		c->zin->next_in = (unsigned char *)c->raw.data;
		c->zin->avail_in = (unsigned)c->raw.len;
		c->zin->next_out = (unsigned char *)c->in.data + c->in.len;
		c->zin->avail_out = (unsigned)room;
		int r = inflate(c->zin, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		size_t produced = room - c->zin->avail_out;
		c->in.len += produced;
		buf_consume(&c->raw, c->raw.len - c->zin->avail_in);
		if (produced == 0 && r == Z_BUF_ERROR)
			break;
	}
	return 0;
}

static int conn_start_compress(struct conn *c)
{
	c->compress = false;
	c->zin = xcalloc(1, sizeof(*c->zin));
	c->zout = xcalloc(1, sizeof(*c->zout));
	if (inflateInit2(c->zin, -15) != Z_OK ||
	    deflateInit2(c->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
		    Z_OK)
		return -1;
	/* Whatever followed the command is already compressed. */
	buf_append(&c->raw, c->in.data, c->in.len);
	buf_clear(&c->in);
	log_info("compress", "session=%s algorithm=deflate", c->sid);
	return conn_inflate(c);
}

/* Read what is available. Returns 1 got data, 0 nothing now, -1 closed/error. */
static int conn_read_raw(struct conn *c);

static int conn_read(struct conn *c)
{
	int got = conn_read_raw(c);
	if (c->zin != NULL && conn_inflate(c) < 0)
		return -1;
	return got;
}

/*
 * Reads land in the worker thread's scratch buffer and only the bytes that
 * came are appended to the connection's buffer: an idle connection does
 * not keep a 16 KiB read area, and conn_rest frees its empty buffers.
 */
static _Thread_local char conn_scratch[CONN_READ_CHUNK];

static int conn_read_raw(struct conn *c)
{
	int got = 0;
	struct buf *b = c->zin != NULL ? &c->raw : &c->in;
	while (b->len < CONN_IN_MAX) {
		char *dst = conn_scratch;
		ssize_t n;
		if (c->ssl != NULL) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, dst, (int)conn_in_room(b));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					return got;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->ssl_want_write = true;
					return got;
				}
				return -1;
			}
			n = r;
		} else {
			n = recv(c->fd, dst, conn_in_room(b), 0);
			if (n == 0)
				return -1;
			if (n < 0)
				return (errno == EAGAIN || errno == EINTR) ? got : -1;
		}
		if (buf_try_append(b, dst, (size_t)n) < 0)
			return conn_input_oom(c);
		got = 1;
	}
	return got;
}

static void conn_apply(struct conn *c, enum conn_result r)
{
	switch (r) {
	case CONN_OK:
		break;
	case CONN_MORE:
		c->more = true;
		break;
	case CONN_STARTTLS:
		c->starttls = true;
		break;
	case CONN_CLOSE:
		c->close_after = true;
		break;
	case CONN_COMPRESS:
		c->compress = true;
		break;
	case CONN_WAIT:
		c->waiting = true;
		break;
	case CONN_YIELD:
		c->yield = true;
		break;
	}
}

static int conn_start_tls(struct conn *c);
static int conn_handshake(struct conn *c);

/*
 * Drive the engine as far as it can go without waiting for the network:
 * feed input, flush, resume streams, upgrade or close. Returns -1 when
 * the connection has been destroyed.
 */
static int64_t conn_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Run the engine until it needs bytes or room, with a budget per turn:
 * CONN_ROUNDS calls or CONN_TURN_US of the loop's time, whichever comes
 * first. A client that pipelines many commands, or drains a long FETCH or
 * RETR as fast as it streams, gets one budget per turn and then waits for
 * the worker's other connections (issue 9 item 3): the time bound is what
 * keeps a burst of commands that are each cheap in output but dear in
 * work (FETCH of one header field over a big mailbox) from holding the
 * loop for 64 of them.
 */
static int conn_progress(struct conn *c)
{
	int rounds;
	bool spent = false;
	int64_t start = conn_now_us();
	for (rounds = 0; rounds < CONN_ROUNDS; rounds++) {
		if (rounds > 0 && conn_now_us() - start >= CONN_TURN_US) {
			spent = true;
			break;
		}
		if (conn_pending_out(c) > 0 && conn_flush(c) < 0) {
			conn_destroy(c, "write-error");
			return -1;
		}
		if (conn_pending_out(c) > 0)
			break; /* wait for EPOLLOUT */
		if (c->close_after) {
			conn_destroy(c, "closed");
			return -1;
		}
		if (c->waiting || c->yield)
			break; /* the tick, or the next turn, resumes it */
		if (c->starttls)
			return conn_start_tls(c);
		if (c->compress && conn_start_compress(c) < 0) {
			conn_destroy(c, "compress-error");
			return -1;
		}
		if (c->more) {
			c->more = false;
			conn_apply(c, c->proto->resume(c->session, &c->out));
			continue;
		}
		if (c->zin != NULL && c->raw.len > 0 && c->in.len < CONN_IN_MAX &&
		    conn_inflate(c) < 0) {
			conn_destroy(c, "inflate-error");
			return -1;
		}
		if (c->in.len == 0)
			break;
		size_t before = c->in.len;
		size_t out_before = c->out.len;
		conn_apply(c, c->proto->input(c->session, &c->in, &c->out));
		if (c->in.len == before && c->out.len == out_before && !c->more && !c->starttls &&
		    !c->compress && !c->waiting && !c->close_after)
			break; /* engine needs more bytes */
	}
	/*
	 * Out of rounds with work still buffered (inflated or raw compressed
	 * input the socket will never announce again): mark it ready, so the
	 * worker goes on with it on its next turn, after the other
	 * connections have had theirs, instead of waiting for EPOLLIN.
	 */
	if (!c->ready && conn_pending_out(c) == 0 &&
	    (c->yield ||
	     ((rounds == CONN_ROUNDS || spent) && (c->in.len > 0 || c->raw.len > 0 || c->more)))) {
		c->ready = true;
		c->w->n_ready++;
	}
	conn_rest(c);
	conn_update_events(c);
	return 0;
}

void conn_run_ready(struct worker *w)
{
	struct conn *next;
	for (struct conn *c = w->conns; c != NULL && w->n_ready > 0; c = next) {
		next = c->next;
		if (!c->ready)
			continue;
		c->ready = false;
		w->n_ready--;
		if (c->state == CS_OPEN && c->yield) {
			c->yield = false;
			conn_apply(c, c->proto->resume(c->session, &c->out));
			conn_progress(c);
		} else if (c->state == CS_OPEN) {
			conn_event(c, 0);
		}
	}
}

/* Returns -1 when the connection has been destroyed. */
static int conn_start_tls(struct conn *c)
{
	/* Plaintext that arrived behind STARTTLS is discarded, by design. */
	buf_clear(&c->in);
	c->starttls = false;
	c->ssl = net_server_ssl_new(c->w->server);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_app_data(c->ssl, (void *)c->proto->alpn) != 1) {
		conn_destroy(c, "tls-setup");
		return -1;
	}
	c->state = CS_HANDSHAKE;
	return conn_handshake(c);
}

/* Returns -1 when the connection has been destroyed. */
static int conn_handshake(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_accept(c->ssl);
	if (r != 1) {
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
			conn_update_events(c);
			return 0;
		}
		char err[160];
		ERR_error_string_n(ERR_peek_last_error(), err, sizeof(err));
		log_info("tls-fail", "session=%s ip=%s error=\"%s\"", c->sid, c->peer_ip, err);
		c->state = CS_CLOSING;
		conn_destroy(c, "tls-handshake");
		return -1;
	}
	c->state = CS_OPEN;
	c->ssl_want_write = false;
	c->info.tls = true;
	net_tls_binding(c->ssl, &c->info.binding);
	log_info("tls", "session=%s version=%s cipher=%s resumed=%s", c->sid,
		 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
		 SSL_session_reused(c->ssl) ? "yes" : "no");
	if (c->session == NULL)
		c->session = c->proto->open(&c->w->ctx, &c->info, &c->out);
	else
		c->proto->tls_started(c->session, &c->out);
	/* Bytes the client sent right after its Finished are already inside
	 * OpenSSL; read them now rather than wait for an epoll wake-up. */
	if (SSL_pending(c->ssl) > 0 && conn_read(c) < 0) {
		conn_destroy(c, "eof");
		return -1;
	}
	return conn_progress(c);
}

void conn_event(struct conn *c, uint32_t events)
{
	c->last_active = time_now_ms();
	if (c->state == CS_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (!(c->more || c->yield || c->starttls || c->compress || c->waiting ||
		      c->close_after)) {
			int r = conn_read(c);
			if (r < 0) {
				conn_destroy(c, "eof");
				return;
			}
		} else if (events & (EPOLLHUP | EPOLLERR)) {
			conn_destroy(c, "hangup");
			return;
		}
	}
	if (conn_progress(c) < 0)
		return;
	/* With TLS, records may sit decrypted inside OpenSSL that epoll
	 * cannot see: keep going while the engine can take input. */
	while (c->ssl != NULL && c->state == CS_OPEN && SSL_pending(c->ssl) > 0 &&
	       !(c->more || c->yield || c->starttls || c->close_after) && c->in.len < CONN_IN_MAX) {
		if (conn_read(c) < 0) {
			conn_destroy(c, "eof");
			return;
		}
		if (conn_progress(c) < 0)
			return;
	}
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	}
	return false;
}

/* What a refused client reads first, in its own protocol. */
static const char *conn_busy_greeting(enum listener_kind kind)
{
	switch (kind) {
	case LISTENER_SMTP:
	case LISTENER_SUBMISSION:
		return "421 4.3.2 Server busy, try again later\r\n";
	case LISTENER_POP3:
		return "-ERR [SYS/TEMP] Server busy, try again later\r\n";
	case LISTENER_IMAP:
		return "* BYE [UNAVAILABLE] Server busy, try again later\r\n";
	default:
		return NULL; /* implicit TLS: no plaintext to send, just close */
	}
}

/*
 * Out of file descriptors (EMFILE/ENFILE): the listener stays readable, so
 * returning would wake the loop again at once. Spend the spare descriptor
 * to accept one client and refuse it properly, take the spare back, and
 * stop watching the listeners for a moment. The episode is logged once.
 */
static void conn_out_of_fds(struct worker *w, struct listener *l, int err)
{
	if (!atomic_exchange(&w->server->fd_exhausted, true))
		log_warn("fd_exhausted", "worker=%d error=\"%s\" connections=%u", w->id,
			 strerror(err), w->n_conns);
	if (w->spare_fd >= 0) {
		close(w->spare_fd);
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			const char *g = conn_busy_greeting(l->kind);
			if (g != NULL)
				(void)send(fd, g, strlen(g), MSG_NOSIGNAL);
			close(fd);
		}
		w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (w->listen_paused_until == 0) {
		worker_listeners_watch(w, false);
		w->listen_paused_until = time_now_ms() + CONN_ACCEPT_BACKOFF_MS;
	}
}

void conn_accept(struct worker *w, struct listener *l)
{
	for (int i = 0; i < 64 && !w->stopping; i++) {
		struct sockaddr_storage ss = {0};
		socklen_t sslen = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				conn_out_of_fds(w, l, errno);
			return; /* EAGAIN: another worker took it, or nothing left */
		}
		if (atomic_load(&w->server->fd_exhausted) &&
		    atomic_exchange(&w->server->fd_exhausted, false))
			log_info("fd_recovered", "worker=%d connections=%u", w->id, w->n_conns);
		const struct config *cfg = w->server->cfg;
		w->accepted_since_trim++;
		w->last_accept = time_now_ms();
		struct conn *c = xcalloc(1, sizeof(*c));
		c->w = w;
		c->fd = fd;
		c->listener = l;
		c->proto = l->proto;
		buf_init(&c->in);
		buf_init(&c->out);
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer_ip,
				  sizeof(c->peer_ip));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer_ip,
				  sizeof(c->peer_ip));
		random_token(c->sid, 12);
		c->info.peer_ip = c->peer_ip;
		c->info.peer_loopback = is_loopback(&ss);
		c->info.session_id = c->sid;
		c->info.listener = config_listener_kind_name(l->kind);
		c->info.tls_available = w->server->tls != NULL;
		c->last_active = time_now_ms();
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		w->n_conns++;
		c->events = EPOLLIN;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e);
		log_info("connect", "session=%s ip=%s listener=%s worker=%d", c->sid, c->peer_ip,
			 c->info.listener, w->id);
		if (w->n_conns > w->server->max_conns) {
			static const char busy[] = "421 too many connections\r\n";
			send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			conn_destroy(c, "too-many-connections");
			continue;
		}
		if (!conn_limit_acquire(c->peer_ip, cfg->max_connections_per_ip)) {
			static const char busy[] = "421 too many connections from your address\r\n";
			send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			conn_destroy(c, "per-ip-limit");
			continue;
		}
		c->limit_held = true;
		if (config_listener_implicit_tls(l->kind)) {
			c->ssl = net_server_ssl_new(w->server);
			SSL_set_fd(c->ssl, fd);
			/* ALPN is chosen from the engine's list (tls.c). */
			SSL_set_app_data(c->ssl, (void *)c->proto->alpn);
			c->state = CS_HANDSHAKE;
			continue; /* the ClientHello wakes us */
		}
		c->state = CS_OPEN;
		c->session = c->proto->open(&w->ctx, &c->info, &c->out);
		conn_progress(c);
	}
}

void conn_resume_waiting(struct worker *w, int64_t now_ms)
{
	struct conn *next;
	for (struct conn *c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->waiting || c->state != CS_OPEN)
			continue;
		c->waiting = false;
		c->last_active = now_ms;
		conn_apply(c, c->proto->resume(c->session, &c->out));
		conn_progress(c);
	}
}

void conn_tick(struct worker *w, int64_t now_ms)
{
	struct conn *next;
	conn_resume_waiting(w, now_ms);
	for (struct conn *c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CS_OPEN && c->session != NULL && c->proto->poll != NULL &&
		    !c->waiting && !(c->more || c->yield || c->starttls || c->close_after)) {
			size_t before = c->out.len;
			conn_apply(c, c->proto->poll(c->session, &c->out));
			if ((c->out.len != before || c->close_after) && conn_progress(c) < 0)
				continue;
		}
		int limit = c->state == CS_HANDSHAKE || c->session == NULL
			? CONN_HANDSHAKE_TIMEOUT
			: c->proto->idle_timeout(c->session);
		if (now_ms - c->last_active < (int64_t)limit * 1000)
			continue;
		if (c->state == CS_OPEN && c->session != NULL && !c->close_after) {
			c->proto->timeout(c->session, &c->out);
			c->close_after = true;
			c->last_active = now_ms; /* a grace period to flush */
			conn_progress(c);
		} else {
			conn_destroy(c, "timeout");
		}
	}
}

void conn_close_all(struct worker *w)
{
	/* Handlers run to completion, so no transaction is half-done here:
	 * say goodbye where the protocol has one and close. */
	struct conn *next;
	for (struct conn *c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CS_OPEN && c->session != NULL) {
			c->proto->timeout(c->session, &c->out);
			conn_flush(c);
		}
		conn_destroy(c, "shutdown");
	}
}
