/* SPDX-License-Identifier: MIT */
/*
 * The configuration file: "key = value" lines, '#' comments, validated in
 * full at start with "file:line: message" errors. Every limit has a default
 * here and a key; docs/CONFIGURATION.md lists them all.
 */
#ifndef FACTEUR_LIB_CONFIG_H
#define FACTEUR_LIB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum listener_kind {
	LISTENER_SMTP,        /* MX, port 25: STARTTLS, no relay */
	LISTENER_SUBMISSION,  /* 587: STARTTLS required before AUTH */
	LISTENER_SUBMISSIONS, /* 465: implicit TLS */
	LISTENER_POP3,        /* 110: STLS */
	LISTENER_POP3S,       /* 995: implicit TLS */
	LISTENER_IMAP,        /* 143: STARTTLS */
	LISTENER_IMAPS,       /* 993: implicit TLS */
	LISTENER_HTTP,        /* 80: webmail, JMAP, autoconfig; redirects to HTTPS off loopback */
	LISTENER_HTTPS,       /* 443: the same over implicit TLS */
	LISTENER_MANAGESIEVE, /* 4190: ManageSieve (RFC 5804) with STARTTLS */
	LISTENER_KIND_COUNT,
};

#define CONFIG_MAX_LISTENERS 32

enum config_plaintext_auth {
	PLAINTEXT_AUTH_NEVER,
	PLAINTEXT_AUTH_LOOPBACK,
	PLAINTEXT_AUTH_ALWAYS,
};

struct config_listener {
	enum listener_kind kind;
	char address[64]; /* "127.0.0.1", "::1", "0.0.0.0" */
	int port;
};

struct config {
	char *path;     /* the file it came from */
	char *hostname; /* name in greetings, Received, EHLO */
	char *data_dir; /* store root: facteur.db, blobs/ */
	char *tls_cert; /* PEM chain; "" disables TLS */
	char *tls_key;
	char *user;    /* drop to this user when started as root */
	int workers;   /* event loops (threads); 0 = one per core */
	int log_level; /* enum log_level */

	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t n_listeners;

	/* limits */
	uint64_t max_message_size; /* SMTP SIZE / DATA / BDAT cap, bytes */
	unsigned max_recipients;   /* RCPT per transaction */
	char *postmaster_address;  /* where RCPT TO:<postmaster> goes; "" = postmaster@hostname */
	unsigned recipient_overshoot; /* 452s past max_recipients not counted as errors */
	unsigned max_connections;     /* per worker */
	unsigned max_connections_per_ip;
	unsigned smtp_max_line; /* command line incl. CRLF */
	unsigned smtp_timeout;  /* seconds idle */
	unsigned pop3_timeout;  /* seconds idle */
	unsigned pop3_max_line;
	unsigned http_timeout;              /* seconds a keep-alive HTTP connection may stay idle */
	unsigned jmap_upload_ttl;           /* seconds an unreferenced JMAP upload is kept */
	unsigned auth_max_failures;         /* failures per address in auth_window ... */
	unsigned auth_window;               /* ... seconds before back-off applies */
	unsigned auth_account_max_failures; /* failures per account in auth_window */
	unsigned auth_threads;              /* password hashing threads */
	unsigned auth_hashes_per_ip;        /* hashes at once for one address (/64) */
	/* Sending limits per hour (auth_sendlimit.c); 0 = unlimited. */
	unsigned send_limit_messages, send_limit_recipients;               /* per account */
	unsigned send_limit_domain_messages, send_limit_domain_recipients; /* per domain */
	unsigned auth_cache_ttl; /* seconds a successful login is remembered; 0 off */
	/*
	 * Where AUTH/USER/LOGIN is allowed without TLS: never, only from
	 * loopback clients (the default), or always.
	 */
	enum config_plaintext_auth plaintext_auth;

	/* outbound delivery (queue/) */
	char *dns_forward;      /* "" = /etc/resolv.conf, else "IP[@PORT]" */
	unsigned relay_port;    /* port of the destination MX hosts (25) */
	char *outbound_address; /* "" or the local IP outbound SMTP connects from */
	char *smarthost;        /* "" or "HOST:PORT": relay everything there */
	char *smarthost_user;   /* AUTH PLAIN after STARTTLS ("" = none) */
	char *smarthost_password_file;
	unsigned queue_retry_min;               /* seconds before the first retry ... */
	unsigned queue_retry_max;               /* ... doubling up to this */
	unsigned queue_lifetime;                /* seconds before a bounce */
	unsigned queue_delay_notice;            /* seconds before the "delayed" DSN */
	unsigned queue_max_connections;         /* outbound, in total */
	unsigned queue_max_per_destination;     /* outbound, per domain (the cap) */
	unsigned queue_initial_per_destination; /* ... at first (slow start) */
	unsigned queue_idle_time;               /* seconds an idle connection waits for more */
	unsigned queue_timeout;                 /* seconds a remote server may stay silent */
	bool outbound_private; /* allow MX/A results and address literals that are ours/private */
	/* SRS for forwarded mail (mailauth/srs.c) */
	bool srs;
	char *srs_domain;     /* "" = hostname */
	char *srs_secret;     /* "" = data_dir/srs.secret, made at first start */
	unsigned srs_max_age; /* days a bounce address stays valid */

	/* mail authentication (mailauth/) */
	bool mailauth_verify;      /* SPF/DKIM/DMARC on the MX listener */
	bool dkim_sign;            /* sign submitted mail of domains with keys */
	unsigned mailauth_timeout; /* seconds per message, then temperror */
	unsigned mailauth_threads; /* verification threads */

	/* spam filter (filter/, rspamd) */
	char *rspamd_url; /* "" = no filtering, else "http://HOST:PORT" (a normal worker) */
	char *rspamd_controller_url; /* "" = no learning, else the controller worker's URL */
	char *rspamd_password_file;  /* "" or a file whose first line is the controller password */
	unsigned rspamd_timeout;     /* seconds per request */
	unsigned rspamd_threads;     /* HTTP threads */
	bool rspamd_fail_closed;     /* rspamd_fail = closed: 451 when rspamd does not answer */

	/* group commit (store writer) */
	unsigned store_batch_max;  /* deliveries per transaction */
	unsigned store_batch_wait; /* microseconds a batch stays open for more */

	/* message bodies being received (lib/spool.h) */
	uint64_t spool_threshold;  /* bytes one message keeps in memory, then a file */
	uint64_t spool_memory_max; /* bytes all messages together keep in memory */
	uint64_t spool_unauth_max; /* bytes unauthenticated sessions may spool in total */

	/* "login:addr, login:@domain, ...": addresses a submitting user may also use */
	char *submission_from_exceptions;
};

/* Fill c with every default (no listeners). */
void config_defaults(struct config *c);
/*
 * Read and validate path. Returns 0, or -1 with a malloc'd message in
 * *error_r ("path:line: ...") that the caller frees.
 */
int config_load(struct config *c, const char *path, char **error_r);
void config_deinit(struct config *c);

const char *config_listener_kind_name(enum listener_kind kind);
/* May a client authenticate with a password on this connection? */
bool config_auth_allowed(const struct config *c, bool tls, bool peer_loopback);
bool config_listener_implicit_tls(enum listener_kind kind);

#endif
