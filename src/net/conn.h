/* SPDX-License-Identifier: MIT */
/*
 * The contract between the connection layer (sockets, TLS, timers: net/)
 * and the protocol engines (smtp/, pop3/, imap/). An engine never sees a
 * socket: it is fed the bytes received so far in a struct buf, consumes
 * what it has handled, and appends its replies to an output buf. What it
 * returns tells the connection layer what to do next.
 */
#ifndef FACTEUR_NET_CONN_H
#define FACTEUR_NET_CONN_H

#include "lib/buf.h"

#include <stdbool.h>

struct server_ctx;

/*
 * The channel bindings of a TLS connection (SCRAM-...-PLUS), filled in when
 * the handshake completes: tls-exporter (RFC 9266; TLS 1.3, or TLS 1.2 with
 * the extended master secret) and tls-unique (RFC 5929; TLS 1.2 with the
 * extended master secret only, undefined in TLS 1.3). A length of 0: that
 * binding is not available.
 */
struct conn_tls_binding {
	unsigned char exporter[32];
	unsigned char unique[64];
	unsigned char exporter_len, unique_len;
};

/* Facts about one connection that an engine may need. */
struct conn_info {
	const char *peer_ip;             /* textual address of the client */
	bool peer_loopback;              /* 127.0.0.0/8 or ::1 */
	bool tls;                        /* true once the stream is encrypted */
	bool tls_available;              /* a certificate is loaded: STARTTLS may be offered */
	const char *session_id;          /* short random id used in every log line */
	const char *listener;            /* listener kind: "smtp", "submission", ... */
	struct conn_tls_binding binding; /* set with tls */
};

enum conn_result {
	/* Keep going: read more input when it comes. */
	CONN_OK = 0,
	/*
	 * The reply to STARTTLS/STLS is queued. The connection layer flushes
	 * it, DISCARDS every input byte still buffered (no command injection
	 * across the upgrade), runs the TLS handshake, sets info->tls and
	 * calls tls_started.
	 */
	CONN_STARTTLS,
	/* Flush the output, then close. */
	CONN_CLOSE,
	/*
	 * The engine has more output to produce (a large RETR or FETCH). Do
	 * not feed input; call resume once the output buffer has drained
	 * below the low-water mark.
	 */
	CONN_MORE,
	/*
	 * The reply to COMPRESS is queued. The connection layer flushes it
	 * uncompressed, then runs both directions through raw DEFLATE
	 * (RFC 4978); the engine keeps reading and writing plain bytes.
	 */
	CONN_COMPRESS,
	/*
	 * The engine waits for work done elsewhere (a thread verifying a
	 * message, say). Do not feed input; call resume about every 200 ms
	 * (on the loop's tick) until it returns something else.
	 */
	CONN_WAIT,
	/*
	 * The engine has work left that it cut into slices (a long IMAP
	 * SEARCH). Do not feed input; call resume on the loop's next turn,
	 * after the other connections of the worker have had theirs.
	 */
	CONN_YIELD,
};

struct conn_proto {
	const char *name;
	/*
	 * Optional: the ALPN protocols (RFC 7301) this engine speaks on TLS,
	 * in wire format, most preferred first (e.g. "\x08http/1.1"). NULL:
	 * no ALPN is answered, and a client that insists gets no protocol.
	 */
	const char *alpn;
	/*
	 * Create a session and queue its greeting in out. info stays valid
	 * (and is updated in place, e.g. info->tls) for the session's life.
	 */
	void *(*open)(struct server_ctx *ctx, const struct conn_info *info, struct buf *out);
	/*
	 * Handle as many complete commands in `in` as possible, consuming
	 * them. Called again when more bytes arrive. The engine enforces
	 * its own line/literal caps on `in` (checked before the newline).
	 */
	enum conn_result (*input)(void *session, struct buf *in, struct buf *out);
	/* Continue after CONN_MORE. */
	enum conn_result (*resume)(void *session, struct buf *out);
	/* The TLS handshake after CONN_STARTTLS succeeded. */
	void (*tls_started)(void *session, struct buf *out);
	/* Idle timeout expired: queue a goodbye if the protocol has one. */
	void (*timeout)(void *session, struct buf *out);
	/* Idle timeout in seconds for this session's current state. */
	int (*idle_timeout)(void *session);
	/*
	 * Optional (may be NULL): called about every 200 ms while the session
	 * is idle between commands (not streaming), so that it can push
	 * untagged updates, e.g. IMAP IDLE after another session's change.
	 */
	enum conn_result (*poll)(void *session, struct buf *out);
	/* Connection gone (any reason): release everything. */
	void (*close)(void *session);
};

#endif
