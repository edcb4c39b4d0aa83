/* SPDX-License-Identifier: MIT */
/*
 * The client of bench/idle-bench: opens N IMAP connections (plaintext or
 * implicit TLS) from several loopback source addresses, each one doing
 * LOGIN, SELECT INBOX and IDLE, with one epoll loop and a bounded number of
 * connections in set-up at a time, so that 100,000 fit in one process
 * without threads. Connection i logs in as account i % accounts.
 *
 * When every connection idles (or failed), it prints "ready OK FAILED" and
 * then reads commands on stdin:
 *   probe ACCOUNT CONN   report when CONN (one of ACCOUNT's connections)
 *                        and then every connection of ACCOUNT received a
 *                        new "* n EXISTS": "probe CONN_NS ALL_NS COUNT"
 *                        (CLOCK_MONOTONIC nanoseconds, 0 when not seen
 *                        within 10 s)
 *   quit                 close everything and exit
 * "idle-client --hash PASSWORD" prints an argon2id hash of PASSWORD with
 * libsodium's minimum cost, for the bench's accounts: 100,000 logins at
 * facteur's real cost (19 MiB, 2 passes) would take an hour on two cores,
 * and login is not what this bench measures.
 * Written for the bench only: it trusts the server it talks to (no
 * certificate check) and keeps just enough state to follow the replies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum cstate {
	C_NEW,
	C_CONNECTING,
	C_HANDSHAKE,
	C_GREETING,
	C_LOGIN,
	C_SELECT,
	C_IDLE_WAIT,
	C_IDLING,
	C_FAILED
};

struct client {
	int fd;
	enum cstate state;
	SSL *ssl;
	char *part; /* an incomplete line carried to the next read */
	uint16_t plen;
	uint32_t exists_seen; /* EXISTS lines received while idling */
};

static struct client *cs;
static int n_conns, n_sources = 8, n_accounts = 100, port, inflight_max = 256;
static int n_inflight, n_ready, n_failed, next_open;
static bool use_tls;
static const char *user_fmt = "idle%d@example.test", *password = "secret";
static SSL_CTX *ctx;
static SSL_SESSION *resume;
static int epfd;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(struct client *c, const char *why)
{
	static int reported;
	if (reported++ < 5)
		fprintf(stderr, "idle-client: connection %ld: %s\n", (long)(c - cs), why);
	if (c->state != C_IDLING)
		n_inflight--;
	c->state = C_FAILED;
	n_failed++;
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->part);
	c->part = NULL;
	c->plen = 0;
}

static int csend(struct client *c, const char *text)
{
	size_t len = strlen(text);
	ssize_t n = c->ssl != NULL ? SSL_write(c->ssl, text, (int)len)
				   : send(c->fd, text, len, MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : -1; /* a few bytes: the socket buffer takes them */
}

static void on_line(struct client *c, const char *line)
{
	char cmd[512];
	if (c->state == C_IDLING) {
		if (line[0] == '*' && strstr(line, " EXISTS") != NULL)
			c->exists_seen++;
		return;
	}
	if (c->state == C_GREETING) {
		if (strncmp(line, "* OK", 4) != 0)
			return fail(c, "bad greeting");
		char user[256];
		snprintf(user, sizeof(user), user_fmt, (int)((c - cs) % n_accounts));
		snprintf(cmd, sizeof(cmd), "a LOGIN \"%s\" \"%s\"\r\n", user, password);
		c->state = C_LOGIN;
	} else if (c->state == C_LOGIN || c->state == C_SELECT) {
		if (strncmp(line, "a ", 2) != 0)
			return;
		if (strncmp(line, "a OK", 4) != 0)
			return fail(c, line);
		snprintf(cmd, sizeof(cmd),
			 c->state == C_LOGIN ? "a SELECT INBOX\r\n" : "a IDLE\r\n");
		c->state = c->state == C_LOGIN ? C_SELECT : C_IDLE_WAIT;
	} else if (c->state == C_IDLE_WAIT) {
		if (line[0] == '+') {
			c->state = C_IDLING;
			n_inflight--;
			n_ready++;
		} else if (strncmp(line, "a ", 2) == 0) {
			fail(c, line);
		}
		return;
	} else {
		return;
	}
	if (csend(c, cmd) < 0)
		fail(c, "send");
}

/* Split what arrived into lines; keep an incomplete one for later. */
static void on_data(struct client *c, const char *data, size_t len)
{
	char line[8192];
	size_t start = 0;
	for (size_t i = 0; i < len && c->state != C_FAILED; i++) {
		if (data[i] != '\n')
			continue;
		size_t l = i + 1 - start, have = c->plen;
		if (have + l >= sizeof(line))
			l = sizeof(line) - 1 - have;
		memcpy(line, c->part != NULL ? c->part : "", have);
		memcpy(line + have, data + start, l);
		line[have + l] = '\0';
		free(c->part);
		c->part = NULL;
		c->plen = 0;
		start = i + 1;
		on_line(c, line);
	}
	if (c->state != C_FAILED && start < len) {
		size_t rest = len - start;
		if (c->plen + rest > 4096)
			return fail(c, "line too long");
		c->part = realloc(c->part, c->plen + rest);
		memcpy(c->part + c->plen, data + start, rest);
		c->plen = (uint16_t)(c->plen + rest);
	}
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	if (resume != NULL)
		return 0;
	resume = sess; /* keep the first ticket: the others resume with it */
	return 1;
}

static void do_handshake(struct client *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		c->state = C_GREETING;
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	struct epoll_event ev = {.events = e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN,
				 .data.u32 = (uint32_t)(c - cs)};
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	else
		fail(c, "TLS handshake");
}

static void open_one(int i)
{
	struct client *c = &cs[i];
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % n_sources));
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	dst.sin_port = htons((uint16_t)port);
	n_inflight++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (c->fd < 0)
		return fail(c, strerror(errno));
	/* Ports are then chosen per (source, destination): 28k per source. */
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		return fail(c, strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)
		return fail(c, strerror(errno));
	c->state = C_CONNECTING;
	struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_event(struct client *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0)
			return fail(c, strerror(err));
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - cs)};
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->state = C_GREETING;
		if (use_tls) {
			c->ssl = SSL_new(ctx);
			SSL_set_fd(c->ssl, c->fd);
			if (resume != NULL)
				SSL_set_session(c->ssl, resume);
			c->state = C_HANDSHAKE;
			do_handshake(c);
		}
		return;
	}
	if (c->state == C_HANDSHAKE) {
		do_handshake(c);
		if (c->state != C_GREETING)
			return;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - cs)};
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
	(void)events;
	char buf[16384];
	for (;;) {
		ssize_t n;
		if (c->ssl != NULL) {
			n = SSL_read(c->ssl, buf, sizeof(buf));
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, (int)n);
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					fail(c, "closed");
				return;
			}
		} else {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return fail(c, "closed");
			if (n < 0)
				return;
		}
		on_data(c, buf, (size_t)n);
		if (c->state == C_FAILED)
			return;
	}
}

static void loop_once(int timeout_ms)
{
	struct epoll_event evs[512];
	int n = epoll_wait(epfd, evs, 512, timeout_ms);
	for (int k = 0; k < n; k++)
		on_event(&cs[evs[k].data.u32], evs[k].events);
}

/* Wait until conn and then every connection of acct saw one more EXISTS. */
static void probe(int acct, int conn)
{
	for (int k = 0; k < 20; k++)
		loop_once(1); /* what an earlier delivery left in the sockets */
	uint32_t *base = calloc((size_t)n_conns, sizeof(*base));
	for (int i = acct; i < n_conns; i += n_accounts)
		base[i] = cs[i].exists_seen;
	int64_t start = now_ns(), conn_ns = 0, all_ns = 0;
	int count = 0;
	while (now_ns() - start < 10000000000LL) {
		loop_once(5);
		if (conn_ns == 0 && cs[conn].exists_seen != base[conn])
			conn_ns = now_ns();
		count = 0;
		int members = 0;
		for (int i = acct; i < n_conns; i += n_accounts) {
			members += cs[i].state == C_IDLING;
			count += cs[i].state == C_IDLING && cs[i].exists_seen != base[i];
		}
		if (conn_ns != 0 && count == members) {
			all_ns = now_ns();
			break;
		}
	}
	free(base);
	printf("probe %lld %lld %d\n", (long long)conn_ns, (long long)all_ns, count);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--hash") == 0) {
		char out[crypto_pwhash_STRBYTES];
		if (sodium_init() < 0 ||
		    crypto_pwhash_str_alg(out, argv[2], strlen(argv[2]), crypto_pwhash_OPSLIMIT_MIN,
					  crypto_pwhash_MEMLIMIT_MIN,
					  crypto_pwhash_ALG_ARGON2ID13) != 0)
			return 1;
		printf("%s\n", out);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
		if (strcmp(a, "--tls") == 0) {
			use_tls = true;
			continue;
		}
		i++;
		if (strcmp(a, "--port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--conns") == 0)
			n_conns = atoi(v);
		else if (strcmp(a, "--sources") == 0)
			n_sources = atoi(v);
		else if (strcmp(a, "--accounts") == 0)
			n_accounts = atoi(v);
		else if (strcmp(a, "--inflight") == 0)
			inflight_max = atoi(v);
		else if (strcmp(a, "--user-fmt") == 0)
			user_fmt = v;
		else if (strcmp(a, "--password") == 0)
			password = v;
		else {
			fprintf(stderr, "idle-client: unknown option %s\n", a);
			return 2;
		}
	}
	if (port <= 0 || n_conns <= 0 || n_sources <= 0 || n_accounts <= 0) {
		fprintf(stderr,
			"usage: idle-client --port P --conns N [--tls] [--sources S]"
			" [--accounts A] [--inflight K] [--user-fmt F] [--password P]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (use_tls) {
		ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_session_cache_mode(
			ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session);
	}
	cs = calloc((size_t)n_conns, sizeof(*cs));
	for (int i = 0; i < n_conns; i++)
		cs[i].fd = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	int64_t t0 = now_ns(), last_report = t0;
	while (n_ready + n_failed < n_conns) {
		while (next_open < n_conns && n_inflight < inflight_max)
			open_one(next_open++);
		loop_once(100);
		if (now_ns() - last_report > 5000000000LL) {
			last_report = now_ns();
			fprintf(stderr, "idle-client: %d idling, %d failed, %.0f s\n", n_ready,
				n_failed, (double)(last_report - t0) / 1e9);
		}
	}
	printf("ready %d %d %.1f\n", n_ready, n_failed, (double)(now_ns() - t0) / 1e9);
	fflush(stdout);
	char line[128];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		int acct, conn;
		if (sscanf(line, "probe %d %d", &acct, &conn) == 2 && acct >= 0 &&
		    acct < n_accounts && conn >= 0 && conn < n_conns)
			probe(acct, conn);
		else if (strncmp(line, "quit", 4) == 0)
			break;
		else
			loop_once(0);
	}
	for (int i = 0; i < n_conns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	}
	return 0;
}
