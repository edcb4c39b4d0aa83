/* SPDX-License-Identifier: MIT */
/*
 * The queue manager: one thread, one epoll loop, its own store handle. It
 * scans the queue for due entries (woken at once by store_queue_add through
 * an eventfd, and every QM_SCAN_MS anyway so the CLI's flush/retry and the
 * back-off timers are noticed), groups them by destination domain and, per
 * domain, by message (same blob and sender: one transaction with several
 * RCPTs). A destination resolves once (queue-dns.c), then connections pull
 * messages from its list until it is empty, so one connection carries
 * several messages (RSET between). A connection that finds the list empty
 * waits queue_idle_time seconds for more before it says QUIT, so a trickle
 * of messages to one destination does not pay a TCP and TLS handshake
 * each; and a new connection to a host seen before resumes its TLS session
 * (a client session cache keyed by host, address and port). The number of
 * connections per destination follows a slow-start window (queue-sched.c),
 * capped per destination and in total. Sockets are non-blocking, TLS is
 * OpenSSL over them, and the SMTP dialogue is the pure engine of
 * queue-client.c.
 *
 * Durability: an entry leaves the queue only after the remote 250 to the
 * message's DATA (or after its bounce is stored); a crash before that
 * leaves it queued, so the worst case is one duplicate delivery. The
 * entries done in one turn of the loop are deleted together at its end,
 * in one transaction (one commit, one blob collection, instead of one per
 * recipient, which on a busy relay competed with acceptance for A's
 * database): that widens the duplicate window from one commit to the rest
 * of the turn, a few milliseconds, and loses nothing. Entries
 * being worked on are kept in an in-memory set, so a scan never starts
 * them twice; a restart forgets the set and everything is due again. An
 * idle connection the server closed meanwhile is noticed by its EOF (or
 * 421) and dropped; if the server closes it just as a message is handed
 * to it, the failure comes before any reply to that transaction's RSET,
 * so nothing was sent past the envelope and the message goes back to the
 * head of its destination's list for another connection, not to back-off.
 */
#include "queue/queue-private.h"

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailauth/srs.h"
#include "mime/mime-store.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define QM_SCAN_MS 2000          /* poll the queue table this often */
#define QM_TICK_MS 250           /* timers are checked at least this often */
#define QM_SCAN_LIMIT 1000       /* due rows read per scan */
#define QM_CONNECT_TIMEOUT 30    /* seconds, capped by queue_timeout */
#define QM_OUT_HIGH (256 * 1024) /* stop reading the blob above this */
#define QM_CHUNK (64 * 1024)
#define QM_MAX_HEADERS (64 * 1024)
#define QM_TAG_WAKE ((uint64_t)1)
#define QM_TAG_DNS ((uint64_t)2)
#define QM_TLS_CACHE 256 /* TLS sessions kept for resumption (host, address, port) */

struct qm_rcpt {
	int64_t id;
	char recipient[320];
	int attempts;
	bool delay_notified;
};

/* One message (blob + sender) for some recipients at one destination. */
struct qm_msg {
	struct qm_msg *next;
	char blob_id[STORE_BLOB_ID_LEN + 1];
	char sender[320];
	time_t queued_at;
	struct qm_rcpt *rcpts; /* up to QUEUE_CLIENT_MAX_RCPTS */
	size_t n, cap;
};

static void msg_free(struct qm_msg *m)
{
	if (m == NULL)
		return;
	free(m->rcpts);
	free(m);
}

enum qm_dest_state { DEST_RESOLVING, DEST_READY };

struct qm_dest {
	struct qm_dest *next;
	struct queue_manager *qm;
	char name[256]; /* lower-cased domain; "" for the smarthost */
	enum qm_dest_state state;
	struct queue_dns_addr *addrs;
	size_t n_addrs;
	size_t next_addr; /* addresses before this one failed */
	struct qm_msg *head, *tail;
	size_t n_pending;
	unsigned active;   /* connections */
	unsigned waiting;  /* connections not yet carrying a message */
	unsigned idle;     /* connections waiting for a message (READY) */
	unsigned quitting; /* connections that said QUIT */
	struct queue_window win;
	char last_error[300];
};

enum qm_conn_state { CONN_CONNECTING, CONN_SMTP, CONN_HANDSHAKE };

struct qm_conn {
	struct qm_conn *next;
	struct queue_manager *qm;
	struct qm_dest *dest;
	enum qm_conn_state st;
	int fd;
	SSL *ssl;
	bool ssl_want_write;
	size_t addr;
	bool established; /* the session reached READY once */
	bool quitting;
	bool idle;          /* READY with nothing to send, until deadline */
	bool from_idle;     /* carries its first message after being idle */
	char tls_key[320];  /* "host[ip]:port", the TLS session cache's key */
	const char *broken; /* why the message cannot be sent (a blob read error) */
	struct queue_client *client;
	struct buf in, out;
	struct qm_msg *msg;
	int blob_fd;
	bool streaming, body_eof;
	int64_t deadline;
	const char *rcpt_ptrs[QUEUE_CLIENT_MAX_RCPTS];
};

struct queue_manager {
	const struct config *cfg;
	pthread_t thread;
	atomic_bool stop;
	int epfd, evfd;
	struct store *store;
	struct queue_dns *dns;
	SSL_CTX *tls;
	struct queue_client_params params;
	char *smarthost_host;
	unsigned smarthost_port;
	char *smarthost_password;
	struct qm_dest *dests;
	struct qm_conn *conns;
	unsigned n_conns;
	int64_t next_scan;
	/* Client TLS sessions for resumption; least recently stored goes first. */
	struct {
		char key[320];
		SSL_SESSION *sess;
		uint64_t stamp;
	} tls_cache[QM_TLS_CACHE];
	uint64_t tls_stamp;
	/* Entry ids being worked on, sorted. */
	int64_t *busy;
	size_t n_busy, cap_busy;
	/* Entry ids done in this turn of the loop, deleted together. */
	int64_t *removed;
	size_t n_removed, cap_removed;
};

/* --- the busy set --------------------------------------------------------- */

static size_t busy_pos(const struct queue_manager *qm, int64_t id)
{
	size_t lo = 0, hi = qm->n_busy;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (qm->busy[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool busy_has(const struct queue_manager *qm, int64_t id)
{
	size_t i = busy_pos(qm, id);
	return i < qm->n_busy && qm->busy[i] == id;
}

static void busy_add(struct queue_manager *qm, int64_t id)
{
	size_t i = busy_pos(qm, id);
	if (i < qm->n_busy && qm->busy[i] == id)
		return;
	if (qm->n_busy == qm->cap_busy) {
		qm->cap_busy = qm->cap_busy ? qm->cap_busy * 2 : 64;
		qm->busy = xrealloc(qm->busy, qm->cap_busy * sizeof(*qm->busy));
	}
	memmove(qm->busy + i + 1, qm->busy + i, (qm->n_busy - i) * sizeof(*qm->busy));
	qm->busy[i] = id;
	qm->n_busy++;
}

static void busy_del(struct queue_manager *qm, int64_t id)
{
	size_t i = busy_pos(qm, id);
	if (i >= qm->n_busy || qm->busy[i] != id)
		return;
	memmove(qm->busy + i, qm->busy + i + 1, (qm->n_busy - i - 1) * sizeof(*qm->busy));
	qm->n_busy--;
}

/* --- the TLS session cache -------------------------------------------------- */

static int tls_cache_find(const struct queue_manager *qm, const char *key)
{
	for (int i = 0; i < QM_TLS_CACHE; i++)
		if (qm->tls_cache[i].sess != NULL && strcmp(qm->tls_cache[i].key, key) == 0)
			return i;
	return -1;
}

/* Keep sess (our reference) for key, replacing the older one or the oldest entry. */
static void tls_cache_put(struct queue_manager *qm, const char *key, SSL_SESSION *sess)
{
	int slot = tls_cache_find(qm, key);
	for (int i = 0; slot < 0 && i < QM_TLS_CACHE; i++)
		if (qm->tls_cache[i].sess == NULL)
			slot = i;
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < QM_TLS_CACHE; i++)
			if (qm->tls_cache[i].stamp < qm->tls_cache[slot].stamp)
				slot = i;
	}
	if (qm->tls_cache[slot].sess != NULL)
		SSL_SESSION_free(qm->tls_cache[slot].sess);
	snprintf(qm->tls_cache[slot].key, sizeof(qm->tls_cache[slot].key), "%s", key);
	qm->tls_cache[slot].sess = sess;
	qm->tls_cache[slot].stamp = ++qm->tls_stamp;
}

static void tls_cache_drop(struct queue_manager *qm, const char *key)
{
	int i = tls_cache_find(qm, key);
	if (i >= 0) {
		SSL_SESSION_free(qm->tls_cache[i].sess);
		qm->tls_cache[i].sess = NULL;
	}
}

static void tls_cache_free(struct queue_manager *qm)
{
	for (int i = 0; i < QM_TLS_CACHE; i++)
		if (qm->tls_cache[i].sess != NULL)
			SSL_SESSION_free(qm->tls_cache[i].sess);
}

/*
 * OpenSSL hands over a session the server offered for resumption (TLS 1.2
 * at the end of the handshake, TLS 1.3 tickets later, with the EHLO
 * reply). Returning 1 keeps the reference.
 */
static int qm_tls_new_session(SSL *ssl, SSL_SESSION *sess);

/* --- delivery status notifications ----------------------------------------- */

/* The header block of a blob (capped), for the DSN's text/rfc822-headers. */
static void qm_blob_headers(struct queue_manager *qm, const char *blob_id, struct buf *b)
{
	int fd = store_blob_open(qm->store, blob_id);
	if (fd < 0)
		return;
	buf_reserve(b, QM_MAX_HEADERS);
	ssize_t n;
	while (b->len < QM_MAX_HEADERS &&
	       (n = read(fd, b->data + b->len, QM_MAX_HEADERS - b->len)) > 0)
		b->len += (size_t)n;
	close(fd);
	b->len = queue_headers_len(b->data, b->len);
}

/* Deliver a DSN locally (sender is ours) or queue it with the null sender. */
static int qm_store_dsn(struct queue_manager *qm, const char *to, const struct buf *dsn)
{
	int64_t acc[16];
	char *remote[16];
	size_t na = 0, nr = 0;
	const char *err = NULL;
	int r = store_resolve(qm->store, to, acc, &na, remote, &nr, 16);
	int ret = 0;
	if (r < 0)
		return -1;
	if (r > 0 && na > 0) {
		struct buf m;
		buf_init(&m);
		buf_append_str(&m, "Return-Path: <>\r\n");
		buf_append(&m, dsn->data, dsn->len);
		struct mime_parsed mp;
		memset(&mp, 0, sizeof(mp));
		mime_parse(m.data, m.len, &mp);
		struct store_parsed sp = mime_store_parsed(&mp);
		ret = store_deliver(qm->store, m.data, m.len, &sp, acc, na, NULL, time(NULL), 0,
				    NULL, &err);
		mime_parsed_free(&mp);
		buf_deinit(&m);
	}
	if (ret == 0 && r > 0 && nr > 0)
		ret = store_queue_add(qm->store, "", (const char *const *)remote, nr, dsn->data,
				      dsn->len, &err);
	for (size_t i = 0; i < nr; i++)
		free(remote[i]);
	if (ret == 0 && r == 0) {
		const char *at = strrchr(to, '@');
		int local = at != NULL ? store_domain_exists(qm->store, at + 1) : 0;
		if (local != 0) {
			log_warn("queue.dsn", "to=%s msg=\"local sender unknown: DSN dropped\"",
				 to);
			return local < 0 ? -1 : 0;
		}
		const char *rcpt[1] = {to};
		ret = store_queue_add(qm->store, "", rcpt, 1, dsn->data, dsn->len, &err);
	}
	if (ret < 0) {
		char q[LOG_QUOTE_SIZE(320)];
		log_error("queue.dsn", "to=%s error=\"%s\"", log_quote(q, sizeof(q), to),
			  err ? err : "?");
	}
	return ret;
}

/*
 * Send one DSN about msg's recipients rs. Never for a null-sender message
 * (RFC 5321 6.1: no bounce loops). Returns 0 (sent or not needed) / -1.
 */
static int qm_dsn(struct queue_manager *qm, const struct qm_msg *msg, enum queue_dsn_action action,
		  const struct queue_dsn_rcpt *rs, size_t n)
{
	if (n == 0 || msg->sender[0] == '\0')
		return 0;
	/* Forwarded mail carries our SRS address: the DSN goes to whom it stands for. */
	char orig[320];
	const char *to =
		srs_reverse(msg->sender, time(NULL), orig, sizeof(orig)) == 1 ? orig : msg->sender;
	struct buf headers, out;
	buf_init(&headers);
	buf_init(&out);
	qm_blob_headers(qm, msg->blob_id, &headers);
	struct queue_dsn d = {
		.action = action,
		.reporting_mta = qm->cfg->hostname,
		.sender = to,
		.arrival = msg->queued_at,
		.retry_until = msg->queued_at + (time_t)qm->cfg->queue_lifetime,
		.now = time(NULL),
		.rcpts = rs,
		.n_rcpts = n,
		.headers = headers.data,
		.headers_len = headers.len,
	};
	queue_dsn_build(&d, &out);
	int r = qm_store_dsn(qm, to, &out);
	if (r == 0) {
		char q[LOG_QUOTE_SIZE(320)];
		log_info("queue.dsn", "action=%s to=%s rcpts=%zu",
			 action == QUEUE_DSN_FAILED ? "failed" : "delayed",
			 log_quote(q, sizeof(q), to), n);
	}
	buf_deinit(&headers);
	buf_deinit(&out);
	return r;
}

/* --- outcomes ---------------------------------------------------------------- */

struct qm_outcome {
	int code;           /* 250, 4xx, 5xx */
	const char *text;   /* the reply or our reason */
	const char *remote; /* host that answered, or NULL */
};

static void qm_defer(struct queue_manager *qm, const struct qm_rcpt *r, const char *why)
{
	time_t next = time(NULL) +
		queue_backoff((unsigned)r->attempts + 1, qm->cfg->queue_retry_min,
			      qm->cfg->queue_retry_max);
	const char *err = NULL;
	if (store_queue_defer(qm->store, r->id, next, why, &err) < 0)
		log_error("queue.defer", "id=%lld error=\"%s\"", (long long)r->id, err);
	char q_rcpt[LOG_QUOTE_SIZE(320)], q_why[LOG_QUOTE_SIZE(300)];
	log_info("queue.deferred", "id=%lld rcpt=%s attempts=%d reason=%s", (long long)r->id,
		 log_quote(q_rcpt, sizeof(q_rcpt), r->recipient), r->attempts + 1,
		 log_quote(q_why, sizeof(q_why), why));
}

/*
 * The entry is done (delivered, or its bounce stored): it is deleted with
 * the others done in this turn of the loop, in one transaction
 * (qm_flush_removed); it stays in the busy set until then.
 */
static void qm_remove(struct queue_manager *qm, const struct qm_rcpt *r)
{
	if (qm->n_removed == qm->cap_removed) {
		qm->cap_removed = qm->cap_removed ? qm->cap_removed * 2 : 64;
		qm->removed = xrealloc(qm->removed, qm->cap_removed * sizeof(*qm->removed));
	}
	qm->removed[qm->n_removed++] = r->id;
}

static void qm_flush_removed(struct queue_manager *qm)
{
	const char *err = NULL;
	if (qm->n_removed == 0)
		return;
	if (store_queue_delete_many(qm->store, qm->removed, qm->n_removed, &err) < 0)
		log_warn("queue.remove", "entries=%zu error=\"%s\"", qm->n_removed, err);
	for (size_t i = 0; i < qm->n_removed; i++)
		busy_del(qm, qm->removed[i]);
	qm->n_removed = 0;
}

/*
 * Apply the outcome of one attempt for every recipient of msg: delivered
 * entries go, permanent failures (and temporary ones past queue_lifetime)
 * are bounced then go, the rest are deferred (with a delay notice once).
 * The DSN is stored before the entries it reports on are removed.
 */
static void qm_finish_msg(struct queue_manager *qm, struct qm_msg *msg, const struct qm_outcome *o)
{
	time_t now = time(NULL);
	struct queue_dsn_rcpt bounce[QUEUE_CLIENT_MAX_RCPTS], delay[QUEUE_CLIENT_MAX_RCPTS];
	char status[QUEUE_CLIENT_MAX_RCPTS][16], diag[QUEUE_CLIENT_MAX_RCPTS][300];
	size_t nb = 0, nd = 0;
	bool is_bounce[QUEUE_CLIENT_MAX_RCPTS] = {false};
	bool want_delay[QUEUE_CLIENT_MAX_RCPTS] = {false};
	bool expired = now >= msg->queued_at + (time_t)qm->cfg->queue_lifetime;

	for (size_t i = 0; i < msg->n; i++) {
		const struct qm_rcpt *r = &msg->rcpts[i];
		int cls = o[i].code / 100;
		if (cls == 2) {
			qm_remove(qm, r);
			char q_rcpt[LOG_QUOTE_SIZE(320)], q_text[LOG_QUOTE_SIZE(300)];
			log_info("queue.delivered", "id=%lld rcpt=%s relay=%s reply=%s",
				 (long long)r->id, log_quote(q_rcpt, sizeof(q_rcpt), r->recipient),
				 o[i].remote ? o[i].remote : "?",
				 log_quote(q_text, sizeof(q_text), o[i].text));
			continue;
		}
		queue_dsn_status(o[i].code, o[i].text, status[i]);
		if (cls == 5 || expired) {
			if (cls != 5) {
				snprintf(status[i], sizeof(status[i]), "4.4.7");
				snprintf(diag[i], sizeof(diag[i]),
					 "message expired after %u s in "
					 "the queue; last error: %s",
					 qm->cfg->queue_lifetime, o[i].text);
			} else {
				snprintf(diag[i], sizeof(diag[i]), "%s", o[i].text);
			}
			is_bounce[i] = true;
			bounce[nb++] = (struct queue_dsn_rcpt){r->recipient, status[i], o[i].remote,
							       diag[i]};
		} else if (!r->delay_notified &&
			   now - msg->queued_at >= (time_t)qm->cfg->queue_delay_notice) {
			want_delay[i] = true;
			snprintf(diag[i], sizeof(diag[i]), "%s", o[i].text);
			delay[nd++] = (struct queue_dsn_rcpt){r->recipient, status[i], o[i].remote,
							      diag[i]};
		}
	}
	bool bounced = qm_dsn(qm, msg, QUEUE_DSN_FAILED, bounce, nb) == 0;
	bool delayed = qm_dsn(qm, msg, QUEUE_DSN_DELAYED, delay, nd) == 0;
	for (size_t i = 0; i < msg->n; i++) {
		const struct qm_rcpt *r = &msg->rcpts[i];
		if (o[i].code / 100 == 2) {
			/* done above */
		} else if (is_bounce[i] && bounced) {
			char q_rcpt[LOG_QUOTE_SIZE(320)], q_text[LOG_QUOTE_SIZE(300)];
			log_info("queue.bounced", "id=%lld rcpt=%s reason=%s", (long long)r->id,
				 log_quote(q_rcpt, sizeof(q_rcpt), r->recipient),
				 log_quote(q_text, sizeof(q_text), o[i].text));
			qm_remove(qm, r);
		} else {
			qm_defer(qm, r, o[i].text);
			if (want_delay[i] && delayed)
				store_queue_set_delay_notified(qm->store, r->id, NULL);
			busy_del(qm, r->id);
		}
	}
}

/* The same outcome for every recipient (DNS failure, unreachable, ...). */
static void qm_finish_all(struct queue_manager *qm, struct qm_msg *msg, int code, const char *text,
			  const char *remote)
{
	struct qm_outcome o[QUEUE_CLIENT_MAX_RCPTS];
	for (size_t i = 0; i < msg->n; i++)
		o[i] = (struct qm_outcome){code, text, remote};
	qm_finish_msg(qm, msg, o);
}

/* --- destinations ---------------------------------------------------------- */

/* A message back at the head of the list (a reused connection was gone). */
static void dest_push_front(struct qm_dest *d, struct qm_msg *m)
{
	m->next = d->head;
	d->head = m;
	if (d->tail == NULL)
		d->tail = m;
	d->n_pending++;
}

static struct qm_msg *dest_pop(struct qm_dest *d)
{
	struct qm_msg *m = d->head;
	if (m == NULL)
		return NULL;
	d->head = m->next;
	if (d->head == NULL)
		d->tail = NULL;
	d->n_pending--;
	m->next = NULL;
	return m;
}

/* Fail every pending message of d with one reason (code 4xx or 5xx). */
static void dest_fail_pending(struct qm_dest *d, int code, const char *why)
{
	struct qm_msg *m;
	while ((m = dest_pop(d)) != NULL) {
		qm_finish_all(d->qm, m, code, why, NULL);
		msg_free(m);
	}
}

static void qm_dns_done(void *ctx, const struct queue_dns_result *r)
{
	struct qm_dest *d = ctx;
	if (r->status != QUEUE_DNS_OK) {
		char q_dom[LOG_QUOTE_SIZE(256)], q_err[LOG_QUOTE_SIZE(256)];
		log_info("queue.dns", "domain=%s status=%s reason=%s",
			 log_quote(q_dom, sizeof(q_dom), d->name),
			 r->status == QUEUE_DNS_PERMFAIL ? "permanent" : "temporary",
			 log_quote(q_err, sizeof(q_err), r->error));
		char text[300];
		int code = r->status == QUEUE_DNS_PERMFAIL ? 550 : 451;
		snprintf(text, sizeof(text), "%d %s", code, r->error);
		dest_fail_pending(d, code, text);
		d->state = DEST_READY; /* nothing left: reaped by qm_reap */
		d->n_addrs = 0;
		return;
	}
	d->addrs = xcalloc(r->n_addrs, sizeof(*d->addrs));
	memcpy(d->addrs, r->addrs, r->n_addrs * sizeof(*d->addrs));
	d->n_addrs = r->n_addrs;
	d->state = DEST_READY;
}

static struct qm_dest *dest_get(struct queue_manager *qm, const char *name)
{
	for (struct qm_dest *d = qm->dests; d != NULL; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	struct qm_dest *d = xcalloc(1, sizeof(*d));
	d->qm = qm;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->state = DEST_RESOLVING;
	queue_window_init(&d->win, qm->cfg->queue_initial_per_destination,
			  qm->cfg->queue_max_per_destination);
	d->next = qm->dests;
	qm->dests = d;
	if (qm->smarthost_host != NULL)
		queue_dns_resolve_host(qm->dns, qm->smarthost_host, qm_dns_done, d);
	else
		queue_dns_resolve_domain(qm->dns, name, qm_dns_done, d);
	return d;
}

/* Add one due entry to its destination, joining its message if present. */
static void dest_add(struct queue_manager *qm, const struct store_queue_delivery *qd)
{
	const struct store_queue_entry *e = &qd->e;
	char domain[256] = "";
	if (qm->smarthost_host == NULL) {
		const char *at = strrchr(e->recipient, '@');
		snprintf(domain, sizeof(domain), "%s", at ? at + 1 : "");
		str_lower(domain);
	}
	struct qm_dest *d = dest_get(qm, domain);
	struct qm_msg *m = NULL;
	for (struct qm_msg *x = d->head; x != NULL; x = x->next)
		if (x->n < QUEUE_CLIENT_MAX_RCPTS && strcmp(x->blob_id, e->blob_id) == 0 &&
		    strcmp(x->sender, e->sender) == 0)
			m = x;
	if (m == NULL) {
		m = xcalloc(1, sizeof(*m));
		memcpy(m->blob_id, e->blob_id, sizeof(m->blob_id));
		snprintf(m->sender, sizeof(m->sender), "%s", e->sender);
		m->queued_at = e->queued_at;
		if (d->tail != NULL)
			d->tail->next = m;
		else
			d->head = m;
		d->tail = m;
		d->n_pending++;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 4;
		m->rcpts = xrealloc(m->rcpts, m->cap * sizeof(*m->rcpts));
	}
	struct qm_rcpt *r = &m->rcpts[m->n++];
	memset(r, 0, sizeof(*r));
	r->id = e->id;
	snprintf(r->recipient, sizeof(r->recipient), "%s", e->recipient);
	r->attempts = e->attempts;
	r->delay_notified = qd->delay_notified;
	busy_add(qm, e->id);
}

static void qm_scan(struct queue_manager *qm)
{
	struct store_queue_delivery *v = NULL;
	size_t n = 0;
	if (store_queue_due(qm->store, time(NULL), QM_SCAN_LIMIT, &v, &n) < 0) {
		log_error("queue.scan", "msg=\"cannot read the queue\"");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!busy_has(qm, v[i].e.id))
			dest_add(qm, &v[i]);
	free(v);
}

/* --- connections: set-up and teardown ---------------------------------------- */

static int64_t qm_deadline(const struct queue_manager *qm, unsigned seconds)
{
	return time_now_ms() + (int64_t)seconds * 1000;
}

static void conn_watch(struct qm_conn *c)
{
	struct epoll_event ev = {.data.ptr = c, .events = EPOLLIN};
	if (c->st == CONN_CONNECTING || c->out.len > 0 || c->ssl_want_write)
		ev.events |= EPOLLOUT;
	epoll_ctl(c->qm->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close_fd(struct qm_conn *c)
{
	if (c->ssl != NULL) {
		/*
		 * SMTP ends with QUIT, not with TLS close_notify; without this,
		 * SSL_free calls the session bad and OpenSSL marks the cached
		 * copy (the same object) as not resumable.
		 */
		if (SSL_is_init_finished(c->ssl))
			SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		epoll_ctl(c->qm->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->blob_fd >= 0) {
		close(c->blob_fd);
		c->blob_fd = -1;
	}
	queue_client_destroy(&c->client);
	buf_clear(&c->in);
	buf_clear(&c->out);
	c->ssl_want_write = false;
	c->streaming = c->body_eof = false;
}

static int conn_open(struct qm_conn *c);
static int conn_flush(struct qm_conn *c);
static void conn_reuse(struct qm_conn *c);

static void conn_free(struct qm_conn *c)
{
	struct queue_manager *qm = c->qm;
	conn_close_fd(c);
	for (struct qm_conn **pp = &qm->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	qm->n_conns--;
	c->dest->active--;
	if (c->msg == NULL && !c->established)
		c->dest->waiting--;
	if (c->idle)
		c->dest->idle--;
	if (c->quitting)
		c->dest->quitting--;
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	free(c);
}

static const char *dest_label(const struct qm_dest *d)
{
	return d->name[0] ? d->name : "smarthost";
}

static const char *conn_remote(const struct qm_conn *c)
{
	return c->addr < c->dest->n_addrs ? c->dest->addrs[c->addr].host : NULL;
}

/*
 * The session with this address failed. Before the session was up: try
 * the next address (the destination remembers that this one failed). A
 * message under way is deferred, or decided by the results the engine has.
 */
static void conn_failed(struct qm_conn *c, const char *why)
{
	struct qm_dest *d = c->dest;
	char reason[300];
	snprintf(reason, sizeof(reason), "%s", why);
	char q_reason[LOG_QUOTE_SIZE(300)], q_dest[LOG_QUOTE_SIZE(256)];
	if (c->quitting && c->msg == NULL) {
		conn_free(c); /* nothing left to lose: no answer to QUIT is fine */
		return;
	}
	if (c->msg != NULL && c->from_idle && c->client != NULL &&
	    !queue_client_txn_answered(c->client)) {
		/* Closed by the server while idle: the message was not offered. */
		log_info("queue.reuse_failed", "dest=%s host=%s error=%s msg=\"requeued\"",
			 log_quote(q_dest, sizeof(q_dest), dest_label(d)),
			 conn_remote(c) ? conn_remote(c) : "?",
			 log_quote(q_reason, sizeof(q_reason), reason));
		dest_push_front(d, c->msg);
		c->msg = NULL;
		conn_free(c);
		return;
	}
	log_info("queue.conn", "dest=%s host=%s error=%s",
		 log_quote(q_dest, sizeof(q_dest), dest_label(d)),
		 conn_remote(c) ? conn_remote(c) : "?",
		 log_quote(q_reason, sizeof(q_reason), reason));
	queue_window_failure(&d->win);
	if (c->client != NULL)
		queue_client_abort(c->client, reason);
	if (c->msg != NULL) {
		struct qm_outcome o[QUEUE_CLIENT_MAX_RCPTS];
		const struct queue_client_result *res =
			c->client ? queue_client_results(c->client) : NULL;
		for (size_t i = 0; i < c->msg->n; i++) {
			bool decided = res != NULL && res[i].code >= 400;
			o[i] = (struct qm_outcome){decided ? res[i].code : 451,
						   decided ? res[i].text : reason, conn_remote(c)};
		}
		qm_finish_msg(c->qm, c->msg, o);
		msg_free(c->msg);
		c->msg = NULL;
		conn_free(c);
		return;
	}
	snprintf(d->last_error, sizeof(d->last_error), "%s", reason);
	if (!c->established) {
		if (d->next_addr <= c->addr)
			d->next_addr = c->addr + 1;
		conn_close_fd(c);
		for (c->addr = d->next_addr; c->addr < d->n_addrs; c->addr = ++d->next_addr)
			if (conn_open(c) == 0)
				return;
	}
	conn_free(c);
}

/*
 * outbound_address: connect from the address SPF records name (a host with
 * several addresses). Only for the matching family; "" lets the kernel pick.
 */
static int conn_bind_source(int fd, int family, const char *address)
{
	struct sockaddr_storage src;
	memset(&src, 0, sizeof(src));
	socklen_t len = 0;
	if (family == AF_INET &&
	    inet_pton(AF_INET, address, &((struct sockaddr_in *)&src)->sin_addr) == 1) {
		src.ss_family = AF_INET;
		len = sizeof(struct sockaddr_in);
	} else if (family == AF_INET6 &&
		   inet_pton(AF_INET6, address, &((struct sockaddr_in6 *)&src)->sin6_addr) == 1) {
		src.ss_family = AF_INET6;
		len = sizeof(struct sockaddr_in6);
	}
	return len == 0 ? 0 : bind(fd, (struct sockaddr *)&src, len);
}

/*
 * May the queue connect to this address? Not, unless outbound_private is
 * set, to loopback, link-local, private (RFC 1918, ULA), unspecified,
 * multicast or one of our own listening addresses: an authenticated user
 * must not make the server talk to itself or to the inside network.
 */
static bool qm_address_allowed(const struct config *cfg, const struct sockaddr_storage *sa)
{
	if (cfg->outbound_private)
		return true;
	char ip[INET6_ADDRSTRLEN] = "";
	if (sa->ss_family == AF_INET) {
		const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;
		uint32_t v = ntohl(a->s_addr);
		if ((v >> 24) == 127 || (v >> 24) == 10 || (v >> 24) == 0 || (v >> 16) == 0xa9fe ||
		    (v >> 20) == 0xac1 || (v >> 16) == 0xc0a8 || (v >> 28) == 0xe ||
		    (v >> 22) == 0x191 /* 100.64/10 */)
			return false;
		inet_ntop(AF_INET, a, ip, sizeof(ip));
	} else {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
		    IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
		    (a->s6_addr[0] & 0xfe) == 0xfc)
			return false;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			struct sockaddr_storage v4 = {.ss_family = AF_INET};
			memcpy(&((struct sockaddr_in *)&v4)->sin_addr, a->s6_addr + 12, 4);
			return qm_address_allowed(cfg, &v4);
		}
		inet_ntop(AF_INET6, a, ip, sizeof(ip));
	}
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (strcmp(cfg->listeners[i].address, ip) == 0)
			return false;
	return strcmp(cfg->outbound_address, ip) != 0;
}

/* 0 connecting, -1 failed (errno), -2 refused by qm_address_allowed. */
static int conn_open(struct qm_conn *c)
{
	struct queue_manager *qm = c->qm;
	struct queue_dns_addr *a = &c->dest->addrs[c->addr];
	struct sockaddr_storage sa = a->sa;
	unsigned port = qm->smarthost_host ? qm->smarthost_port : qm->cfg->relay_port;
	/* The smarthost is the administrator's choice: never refused. */
	if (!qm->smarthost_host && !qm_address_allowed(qm->cfg, &sa)) {
		char q_host[LOG_QUOTE_SIZE(256)];
		log_warn("queue.refused_address", "dest=%s",
			 log_quote(q_host, sizeof(q_host), c->dest->name));
		return -2;
	}
	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
	c->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (conn_bind_source(c->fd, sa.ss_family, qm->cfg->outbound_address) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	int r = connect(c->fd, (struct sockaddr *)&sa, a->salen);
	if (r < 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event ev = {.data.ptr = c, .events = EPOLLIN | EPOLLOUT};
	epoll_ctl(qm->epfd, EPOLL_CTL_ADD, c->fd, &ev);
	c->st = CONN_CONNECTING;
	c->client = queue_client_create(&qm->params);
	unsigned t = qm->cfg->queue_timeout < QM_CONNECT_TIMEOUT ? qm->cfg->queue_timeout
								 : QM_CONNECT_TIMEOUT;
	c->deadline = qm_deadline(qm, t);
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, ip, sizeof(ip));
	snprintf(c->tls_key, sizeof(c->tls_key), "%s[%s]:%u", a->host, ip, port);
	char q_dest[LOG_QUOTE_SIZE(256)], q_host[LOG_QUOTE_SIZE(256)];
	log_info("queue.connect", "dest=%s host=%s ip=%s port=%u window=%u",
		 log_quote(q_dest, sizeof(q_dest), dest_label(c->dest)),
		 log_quote(q_host, sizeof(q_host), a->host), ip, port, c->dest->win.cur);
	return 0;
}

/* Is every address of d one qm_address_allowed refuses (not the smarthost)? */
static bool dest_all_refused(const struct qm_dest *d)
{
	if (d->qm->smarthost_host != NULL || d->n_addrs == 0)
		return false;
	for (size_t i = 0; i < d->n_addrs; i++)
		if (qm_address_allowed(d->qm->cfg, &d->addrs[i].sa))
			return false;
	return true;
}

static struct queue_dest_load dest_load(const struct qm_dest *d)
{
	const struct queue_manager *qm = d->qm;
	return (struct queue_dest_load){
		d->n_pending, d->waiting,  d->active - d->waiting - d->idle - d->quitting,
		d->active,    qm->n_conns, qm->cfg->queue_max_connections};
}

/*
 * Every connection is taken but d needs one: close an idle connection of
 * another destination to make room. Returns true if one was closed.
 */
static bool qm_evict_idle(struct queue_manager *qm, const struct qm_dest *d)
{
	for (struct qm_conn *c = qm->conns; c != NULL; c = c->next) {
		if (c->idle && c->dest != d) {
			queue_client_quit(c->client, &c->out);
			if (conn_flush(c) < 0 || c->out.len > 0)
				log_debug("queue.idle", "host=%s msg=\"QUIT not sent\"",
					  conn_remote(c));
			conn_free(c);
			return true;
		}
	}
	return false;
}

/*
 * Start connections while the destination has messages nobody carries:
 * idle connections first (no handshake), then new ones within its window.
 */
static void dest_pump(struct qm_dest *d)
{
	struct queue_manager *qm = d->qm;
	if (d->state != DEST_READY)
		return;
	while (d->head != NULL && d->idle > 0) {
		struct qm_conn *c = qm->conns;
		while (c != NULL && !(c->idle && c->dest == d))
			c = c->next;
		if (c == NULL)
			break;
		conn_reuse(c);
	}
	for (;;) {
		struct queue_dest_load l = dest_load(d);
		if (queue_window_to_open(&d->win, &l) == 0) {
			l.total_max = UINT32_MAX;
			if (queue_window_to_open(&d->win, &l) == 0 || !qm_evict_idle(qm, d))
				return;
		}
		if (d->next_addr >= d->n_addrs) {
			if (d->active == 0) {
				char why[300];
				snprintf(why, sizeof(why), "%s",
					 d->last_error[0] ? d->last_error : "no reachable host");
				/* Every address refused by policy: that will not change. */
				dest_fail_pending(d, dest_all_refused(d) ? 550 : 451, why);
			}
			return;
		}
		struct qm_conn *c = xcalloc(1, sizeof(*c));
		c->qm = qm;
		c->dest = d;
		c->fd = c->blob_fd = -1;
		buf_init(&c->in);
		buf_init(&c->out);
		c->addr = d->next_addr;
		c->next = qm->conns;
		qm->conns = c;
		qm->n_conns++;
		d->active++;
		d->waiting++;
		int r;
		while ((r = conn_open(c)) < 0) {
			queue_window_failure(&d->win);
			d->next_addr = ++c->addr;
			if (c->addr >= d->n_addrs) {
				if (r == -2)
					snprintf(d->last_error, sizeof(d->last_error),
						 "refused: the destination is a loopback, private "
						 "or own address (outbound_private = no)");
				else
					snprintf(d->last_error, sizeof(d->last_error),
						 "cannot connect: %s", strerror(errno));
				conn_free(c);
				break;
			}
		}
	}
}

/* Free destinations that have nothing left to do. */
static void qm_reap(struct queue_manager *qm)
{
	for (struct qm_dest **pp = &qm->dests; *pp != NULL;) {
		struct qm_dest *d = *pp;
		if (d->state == DEST_READY && d->active == 0 && d->head == NULL) {
			*pp = d->next;
			free(d->addrs);
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

/* --- connections: the SMTP dialogue ------------------------------------------ */

/* 8-bit content, and whether the header block is non-ASCII (SMTPUTF8). */
static int blob_scan(int fd, uint64_t *size_r, bool *eight_r, bool *utf8_r)
{
	char chunk[QM_CHUNK];
	ssize_t n;
	bool in_header = true, eight = false, utf8 = false;
	char prev = '\n';
	uint64_t size = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)chunk[i];
			if (ch >= 0x80) {
				eight = true;
				utf8 = utf8 || in_header;
			}
			if (in_header && ch == '\n' && prev == '\n')
				in_header = false;
			if (ch != '\r')
				prev = (char)ch;
		}
		size += (uint64_t)n;
	}
	if (n < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	*size_r = size;
	*eight_r = eight;
	*utf8_r = utf8;
	return 0;
}

static enum queue_client_status conn_start_msg(struct qm_conn *c, struct qm_msg *m)
{
	c->msg = m;
	c->blob_fd = store_blob_open(c->qm->store, m->blob_id);
	struct queue_client_msg qmsg = {
		.sender = m->sender, .rcpts = c->rcpt_ptrs, .n_rcpts = m->n};
	for (size_t i = 0; i < m->n; i++)
		c->rcpt_ptrs[i] = m->rcpts[i].recipient;
	if (c->blob_fd < 0 || blob_scan(c->blob_fd, &qmsg.size, &qmsg.eight_bit, &qmsg.utf8) < 0) {
		log_error("queue.blob", "blob=%s msg=\"cannot read the queued message\"",
			  m->blob_id);
		qm_finish_all(c->qm, m, 451, "451 4.3.0 queued message unreadable", NULL);
		msg_free(m);
		c->msg = NULL;
		if (c->blob_fd >= 0)
			close(c->blob_fd);
		c->blob_fd = -1;
		return QUEUE_CLIENT_READY;
	}
	return queue_client_mail(c->client, &qmsg, &c->out);
}

static void conn_set_quitting(struct qm_conn *c)
{
	if (!c->quitting)
		c->dest->quitting++;
	c->quitting = true;
}

/* Nothing to send: wait queue_idle_time for another message (dest_pump). */
static void conn_set_idle(struct qm_conn *c)
{
	c->idle = true;
	c->from_idle = false;
	c->dest->idle++;
	c->deadline = qm_deadline(c->qm, c->qm->cfg->queue_idle_time);
}

static void conn_clear_idle(struct qm_conn *c)
{
	if (!c->idle)
		return;
	c->idle = false;
	c->dest->idle--;
}

/* The engine is idle: give it the next message, wait for one, or say QUIT. */
static enum queue_client_status conn_next(struct qm_conn *c)
{
	for (;;) {
		struct qm_msg *m = dest_pop(c->dest);
		if (m == NULL) {
			if (c->qm->cfg->queue_idle_time > 0 && !atomic_load(&c->qm->stop)) {
				conn_set_idle(c);
				return QUEUE_CLIENT_MORE;
			}
			queue_client_quit(c->client, &c->out);
			conn_set_quitting(c);
			return QUEUE_CLIENT_MORE;
		}
		enum queue_client_status st = conn_start_msg(c, m);
		if (st == QUEUE_CLIENT_DONE) {
			/* Refused before any command (8BITMIME/SMTPUTF8). */
			const struct queue_client_result *res = queue_client_results(c->client);
			struct qm_outcome o[QUEUE_CLIENT_MAX_RCPTS];
			for (size_t i = 0; i < m->n; i++)
				o[i] = (struct qm_outcome){res[i].code, res[i].text,
							   conn_remote(c)};
			qm_finish_msg(c->qm, m, o);
			msg_free(m);
			c->msg = NULL;
			close(c->blob_fd);
			c->blob_fd = -1;
			continue;
		}
		if (st != QUEUE_CLIENT_READY)
			return st;
	}
}

/*
 * The window's feedback from one message: delivered to anyone is a
 * success; only temporary refusals (the server is busy, greylists, runs
 * short of something) a failure; permanent ones say nothing about load.
 */
static void conn_feedback(struct qm_conn *c, const struct queue_client_result *res, size_t n)
{
	bool ok = false, temp = false;
	for (size_t i = 0; i < n; i++) {
		ok = ok || res[i].code / 100 == 2;
		temp = temp || res[i].code / 100 == 4;
	}
	if (ok)
		queue_window_success(&c->dest->win);
	else if (temp)
		queue_window_failure(&c->dest->win);
}

static void conn_msg_done(struct qm_conn *c)
{
	const struct queue_client_result *res = queue_client_results(c->client);
	struct qm_outcome o[QUEUE_CLIENT_MAX_RCPTS];
	for (size_t i = 0; i < c->msg->n; i++)
		o[i] = (struct qm_outcome){res[i].code, res[i].text, conn_remote(c)};
	conn_feedback(c, res, c->msg->n);
	c->from_idle = false;
	qm_finish_msg(c->qm, c->msg, o);
	msg_free(c->msg);
	c->msg = NULL;
	if (c->blob_fd >= 0)
		close(c->blob_fd);
	c->blob_fd = -1;
	c->streaming = c->body_eof = false;
}

/*
 * Refill the output from the blob while the engine streams the body.
 * Returns -1 (c->broken says why; c is not freed here, the caller fails
 * it) when the blob cannot be read.
 */
static int conn_fill_body(struct qm_conn *c)
{
	char chunk[QM_CHUNK];
	while (c->streaming && !c->body_eof && c->out.len < QM_OUT_HIGH) {
		ssize_t n = read(c->blob_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* A broken blob must not end as a truncated message. */
			c->broken = "cannot read the queued message";
			return -1;
		}
		c->body_eof = n == 0;
		if (queue_client_body(c->client, chunk, (size_t)n, c->body_eof, &c->out) !=
		    QUEUE_CLIENT_BODY)
			c->streaming = false;
	}
	return 0;
}

/*
 * Act on what the engine said. Returns 0 to go on, -1 if c was freed.
 */
static int conn_handle(struct qm_conn *c, enum queue_client_status st)
{
	for (;;) {
		switch (st) {
		case QUEUE_CLIENT_MORE:
			return 0;
		case QUEUE_CLIENT_BODY:
			c->streaming = true;
			return 0;
		case QUEUE_CLIENT_STARTTLS:
			return 1;
		case QUEUE_CLIENT_DONE:
			conn_msg_done(c);
			/* fall through */
		case QUEUE_CLIENT_READY:
			if (!c->established) {
				c->established = true;
				c->dest->waiting--;
			}
			st = conn_next(c);
			continue;
		case QUEUE_CLIENT_CLOSED: {
			int code = 0;
			const char *err = queue_client_error(c->client, &code);
			if (err == NULL) {
				conn_free(c);
				return -1;
			}
			char why[300];
			snprintf(why, sizeof(why), "%s", err);
			conn_failed(c, why);
			return -1;
		}
		}
	}
}

/* TLS handshake step; 0 going on, 1 done, -1 failed. */
static int conn_handshake(struct qm_conn *c)
{
	ERR_clear_error();
	int r = SSL_connect(c->ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	return -1;
}

static int conn_starttls(struct qm_conn *c)
{
	/* Nothing the server sent before the handshake may be believed. */
	buf_clear(&c->in);
	c->ssl = SSL_new(c->qm->tls);
	if (c->ssl == NULL)
		return -1;
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_app_data(c->ssl, c);
	int cached = tls_cache_find(c->qm, c->tls_key);
	if (cached >= 0)
		SSL_set_session(c->ssl, c->qm->tls_cache[cached].sess);
	const char *host = conn_remote(c);
	if (host != NULL && host[0] != '[' && strchr(host, ':') == NULL)
		SSL_set_tlsext_host_name(c->ssl, host);
	c->st = CONN_HANDSHAKE;
	return 0;
}

/* Write what is queued. 0 ok (maybe partial), -1 failed. */
static int conn_flush(struct qm_conn *c)
{
	while (c->out.len > 0) {
		ssize_t n;
		if (c->ssl != NULL) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, c->out.data,
					  (int)(c->out.len > INT32_MAX ? INT32_MAX : c->out.len));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					return 0;
				return -1;
			}
			n = r;
		} else {
			n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				return -1;
			}
		}
		buf_consume(&c->out, (size_t)n);
		c->deadline = qm_deadline(c->qm, c->qm->cfg->queue_timeout);
		if (conn_fill_body(c) < 0)
			return -1;
	}
	return 0;
}

/* Read one chunk. 1 got bytes, 0 nothing now, -1 closed or failed. */
static int conn_read(struct qm_conn *c)
{
	char chunk[16384];
	ssize_t n;
	if (c->ssl != NULL) {
		ERR_clear_error();
		int r = SSL_read(c->ssl, chunk, sizeof(chunk));
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);
			return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
		}
		n = r;
	} else {
		n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
	}
	buf_append(&c->in, chunk, (size_t)n);
	c->deadline = qm_deadline(c->qm, c->qm->cfg->queue_timeout);
	return 1;
}

/*
 * Feed the engine what was read, as long as it makes progress. Returns 0
 * to go on, 1 when STARTTLS was set up (the handshake is next), -1 if c
 * was freed.
 */
static int conn_feed(struct qm_conn *c)
{
	while (c->in.len > 0) {
		size_t before = c->in.len;
		int h = conn_handle(c, queue_client_input(c->client, &c->in, &c->out));
		if (h < 0)
			return -1;
		if (h == 1) {
			if (conn_starttls(c) < 0) {
				conn_failed(c, "TLS set-up failed");
				return -1;
			}
			return 1;
		}
		if (c->in.len == before)
			break;
	}
	return 0;
}

/* Write what is queued and watch for what comes next (c may be freed). */
static void conn_flush_watch(struct qm_conn *c)
{
	if (conn_flush(c) < 0) {
		conn_failed(c, c->broken != NULL ? c->broken : "write failed");
		return;
	}
	if (c->fd >= 0)
		conn_watch(c);
}

/*
 * Something arrived on an idle connection: TLS records carrying nothing
 * for us (a late session ticket), or the server closing it (EOF, usually
 * after a 421 of its own idle timeout). Closed: drop it, no failure.
 */
static void conn_idle_event(struct qm_conn *c)
{
	for (;;) {
		int r = conn_read(c);
		if (r < 0 || c->in.len > 0) {
			char q_dest[LOG_QUOTE_SIZE(256)];
			log_info("queue.idle_closed", "dest=%s host=%s",
				 log_quote(q_dest, sizeof(q_dest), dest_label(c->dest)),
				 conn_remote(c) ? conn_remote(c) : "?");
			conn_free(c);
			return;
		}
		if (r == 0)
			break;
	}
	conn_watch(c);
}

/* Hand an idle connection the next message of its destination. */
static void conn_reuse(struct qm_conn *c)
{
	conn_clear_idle(c);
	c->from_idle = true;
	log_debug("queue.reuse", "dest=%s host=%s", dest_label(c->dest), conn_remote(c));
	if (conn_handle(c, conn_next(c)) >= 0)
		conn_flush_watch(c);
}

/* An idle connection waited long enough: QUIT. */
static void conn_idle_expired(struct qm_conn *c)
{
	conn_clear_idle(c);
	queue_client_quit(c->client, &c->out);
	conn_set_quitting(c);
	c->deadline = qm_deadline(c->qm, c->qm->cfg->queue_timeout);
	if (conn_flush(c) < 0) {
		conn_free(c);
		return;
	}
	conn_watch(c);
}

static void conn_event(struct qm_conn *c, uint32_t events)
{
	if (c->idle) {
		conn_idle_event(c);
		return;
	}
	if (c->st == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			char why[128];
			snprintf(why, sizeof(why), "connect: %s", strerror(err ? err : errno));
			conn_failed(c, why);
			return;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		if (!(events & (EPOLLOUT | EPOLLIN)) ||
		    getpeername(c->fd, (struct sockaddr *)&peer, &plen) < 0)
			return; /* still connecting (or a stale event) */
		c->st = CONN_SMTP;
		c->deadline = qm_deadline(c->qm, c->qm->cfg->queue_timeout);
	}
	if (c->st == CONN_HANDSHAKE) {
		int r = conn_handshake(c);
		if (r < 0) {
			/* No plaintext fallback with a host that offered STARTTLS. */
			tls_cache_drop(c->qm, c->tls_key);
			conn_failed(c, "TLS handshake failed");
			return;
		}
		if (r == 0) {
			conn_watch(c);
			return;
		}
		c->st = CONN_SMTP;
		c->ssl_want_write = false;
		char q_dest[LOG_QUOTE_SIZE(256)];
		log_info("queue.tls", "dest=%s host=%s version=%s resumed=%s",
			 log_quote(q_dest, sizeof(q_dest), dest_label(c->dest)), conn_remote(c),
			 SSL_get_version(c->ssl), SSL_session_reused(c->ssl) ? "yes" : "no");
		if (conn_handle(c, queue_client_tls_started(c->client, &c->out)) < 0)
			return;
	}
	for (;;) {
		int r = conn_read(c);
		int f = conn_feed(c);
		if (f < 0)
			return;
		if (f == 1) {
			conn_event(c, EPOLLOUT); /* start the handshake */
			return;
		}
		if (r < 0) {
			if (c->quitting) {
				conn_free(c); /* gone after QUIT without 221: fine */
				return;
			}
			conn_failed(c, "connection lost");
			return;
		}
		if (r == 0)
			break;
	}
	if (conn_fill_body(c) < 0)
		conn_failed(c, c->broken);
	else
		conn_flush_watch(c);
}

static int qm_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct qm_conn *c = SSL_get_app_data(ssl);
	if (c == NULL || c->tls_key[0] == '\0')
		return 0;
	tls_cache_put(c->qm, c->tls_key, sess);
	return 1;
}

/* --- the thread ------------------------------------------------------------- */

static void qm_timeouts(struct queue_manager *qm)
{
	int64_t now = time_now_ms();
	struct qm_conn *c = qm->conns;
	while (c != NULL) {
		struct qm_conn *next = c->next;
		if (now >= c->deadline && c->idle)
			conn_idle_expired(c);
		else if (now >= c->deadline)
			conn_failed(c,
				    c->st == CONN_CONNECTING ? "connect timed out"
							     : "server timed out");
		c = next;
	}
}

static void *qm_thread(void *arg)
{
	struct queue_manager *qm = arg;
	struct epoll_event evs[64];
	qm->next_scan = 0;
	while (!atomic_load(&qm->stop)) {
		int n = epoll_wait(qm->epfd, evs, 64, QM_TICK_MS);
		if (n < 0 && errno != EINTR) {
			log_error("queue.epoll", "error=\"%s\"", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == QM_TAG_WAKE) {
				uint64_t v;
				if (read(qm->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("queue.wake", "error=\"%s\"", strerror(errno));
				qm->next_scan = 0;
			} else if (tag != QM_TAG_DNS) {
				/* A connection; conn_failed may have freed others since. */
				struct qm_conn *c = evs[i].data.ptr;
				bool alive = false;
				for (struct qm_conn *x = qm->conns; x != NULL && !alive;
				     x = x->next)
					alive = x == c;
				if (alive)
					conn_event(c, evs[i].events);
			}
		}
		if (atomic_load(&qm->stop))
			break;
		queue_dns_process(qm->dns);
		qm_timeouts(qm);
		if (time_now_ms() >= qm->next_scan) {
			qm_scan(qm);
			qm->next_scan = time_now_ms() + QM_SCAN_MS;
			queue_dns_process(qm->dns);
		}
		for (struct qm_dest *d = qm->dests; d != NULL; d = d->next)
			dest_pump(d);
		qm_reap(qm);
		qm_flush_removed(qm);
	}
	qm_flush_removed(qm);
	return NULL;
}

/* --- start / stop -------------------------------------------------------------- */

static int qm_smarthost(struct queue_manager *qm, char **error_r)
{
	const struct config *cfg = qm->cfg;
	if (*cfg->smarthost == '\0')
		return 0;
	const char *colon = strrchr(cfg->smarthost, ':');
	qm->smarthost_host = xstrndup(cfg->smarthost, (size_t)(colon - cfg->smarthost));
	/* "[::1]:25" style: drop the brackets of an IPv6 literal. */
	size_t hl = strlen(qm->smarthost_host);
	if (hl > 2 && qm->smarthost_host[0] == '[' && qm->smarthost_host[hl - 1] == ']') {
		memmove(qm->smarthost_host, qm->smarthost_host + 1, hl - 2);
		qm->smarthost_host[hl - 2] = '\0';
	}
	qm->smarthost_port = (unsigned)atoi(colon + 1);
	if (*cfg->smarthost_user == '\0')
		return 0;
	FILE *f = fopen(cfg->smarthost_password_file, "r");
	char line[512];
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		*error_r = xasprintf("smarthost_password_file %s: cannot read",
				     cfg->smarthost_password_file);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	qm->smarthost_password = xstrdup(line);
	explicit_bzero(line, sizeof(line));
	qm->params.auth_user = cfg->smarthost_user;
	qm->params.auth_password = qm->smarthost_password;
	qm->params.tls_required = true;
	return 0;
}

static void qm_free(struct queue_manager *qm)
{
	struct qm_conn *next;
	for (struct qm_conn *c = qm->conns; c != NULL; c = next) {
		next = c->next;
		msg_free(c->msg);
		c->msg = NULL;
		conn_free(c);
	}
	queue_dns_destroy(&qm->dns);
	while (qm->dests != NULL) {
		struct qm_dest *d = qm->dests;
		qm->dests = d->next;
		struct qm_msg *m;
		while ((m = dest_pop(d)) != NULL)
			msg_free(m);
		free(d->addrs);
		free(d);
	}
	store_queue_wakeup_fd(-1);
	if (qm->store != NULL)
		store_close(&qm->store);
	tls_cache_free(qm);
	if (qm->tls != NULL)
		SSL_CTX_free(qm->tls);
	if (qm->evfd >= 0)
		close(qm->evfd);
	if (qm->epfd >= 0)
		close(qm->epfd);
	free(qm->smarthost_host);
	if (qm->smarthost_password != NULL) {
		explicit_bzero(qm->smarthost_password, strlen(qm->smarthost_password));
		free(qm->smarthost_password);
	}
	free(qm->busy);
	free(qm->removed);
	free(qm);
}

static int qm_setup(struct queue_manager *qm, char **error_r)
{
	const char *serr = NULL;
	qm->epfd = epoll_create1(EPOLL_CLOEXEC);
	qm->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (qm->epfd < 0 || qm->evfd < 0) {
		*error_r = xasprintf("queue: %s", strerror(errno));
		return -1;
	}
	if (store_open(qm->cfg->data_dir, &qm->store, &serr) < 0) {
		*error_r = xasprintf("queue: store: %s", serr);
		return -1;
	}
	if (queue_dns_create(qm->cfg->dns_forward, &qm->dns, error_r) < 0)
		return -1;
	qm->tls = SSL_CTX_new(TLS_client_method());
	if (qm->tls == NULL) {
		*error_r = xstrdup("queue: cannot create the TLS client context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(qm->tls, TLS1_2_VERSION);
	SSL_CTX_set_options(qm->tls, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(qm->tls,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Opportunistic TLS (RFC 7435): encrypt, do not authenticate. */
	SSL_CTX_set_verify(qm->tls, SSL_VERIFY_NONE, NULL);
	/* Resumption: sessions go to our cache (tls_cache_put), not OpenSSL's. */
	SSL_CTX_set_session_cache_mode(qm->tls,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(qm->tls, qm_tls_new_session);
	qm->params.helo_name = qm->cfg->hostname;
	qm->params.tls_possible = true;
	if (qm_smarthost(qm, error_r) < 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = QM_TAG_WAKE};
	epoll_ctl(qm->epfd, EPOLL_CTL_ADD, qm->evfd, &ev);
	ev.data.u64 = QM_TAG_DNS;
	if (epoll_ctl(qm->epfd, EPOLL_CTL_ADD, queue_dns_fd(qm->dns), &ev) < 0) {
		*error_r = xasprintf("queue: dns fd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int queue_manager_start(const struct config *cfg, struct queue_manager **qm_r, char **error_r)
{
	struct queue_manager *qm = xcalloc(1, sizeof(*qm));
	qm->cfg = cfg;
	qm->epfd = qm->evfd = -1;
	atomic_init(&qm->stop, false);
	if (qm_setup(qm, error_r) < 0) {
		qm_free(qm);
		return -1;
	}
	store_queue_wakeup_fd(qm->evfd);
	int r = pthread_create(&qm->thread, NULL, qm_thread, qm);
	if (r != 0) {
		*error_r = xasprintf("queue: thread: %s", strerror(r));
		qm_free(qm);
		return -1;
	}
	log_info("queue.start", "smarthost=%s dns=%s", *cfg->smarthost ? cfg->smarthost : "-",
		 *cfg->dns_forward ? cfg->dns_forward : "resolv.conf");
	*qm_r = qm;
	return 0;
}

void queue_manager_stop(struct queue_manager **qmp)
{
	struct queue_manager *qm = *qmp;
	if (qm == NULL)
		return;
	atomic_store(&qm->stop, true);
	const uint64_t one = 1;
	if (write(qm->evfd, &one, sizeof(one)) < 0)
		log_warn("queue.stop", "error=\"%s\"", strerror(errno));
	pthread_join(qm->thread, NULL);
	qm_free(qm);
	*qmp = NULL;
}
