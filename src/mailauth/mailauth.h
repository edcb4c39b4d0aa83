/* SPDX-License-Identifier: MIT */
/*
 * E-mail authentication: DKIM signing of submitted mail (RFC 6376, RSA-SHA256
 * and Ed25519-SHA256 of RFC 8463, written here with OpenSSL) and, on the MX
 * listener, verification of SPF (RFC 7208, written here), DKIM (libopendkim)
 * and DMARC (RFC 7489, written here), summed up in an Authentication-Results
 * header (RFC 8601). Every DNS question goes through struct mailauth_dns, so
 * the evaluators are unit-tested with fake answers and the daemon answers
 * them with libunbound (dns_forward). Verification runs in a small pool of
 * threads (struct mailauth), because DNS must never block a worker loop; the
 * SMTP engine waits for a job with CONN_WAIT. Keys live in
 * data_dir/dkim/DOMAIN/SELECTOR.{rsa,ed25519}.pem, the active selector in
 * data_dir/dkim/DOMAIN/active.
 */
#ifndef FACTEUR_MAILAUTH_H
#define FACTEUR_MAILAUTH_H

#include "lib/buf.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/* --- DNS ------------------------------------------------------------------ */

#define MAILAUTH_RR_A 1
#define MAILAUTH_RR_PTR 12
#define MAILAUTH_RR_MX 15
#define MAILAUTH_RR_TXT 16
#define MAILAUTH_RR_AAAA 28

enum mailauth_dns_status {
	MAILAUTH_DNS_OK,   /* at least one record (n > 0) */
	MAILAUTH_DNS_NONE, /* NXDOMAIN or no records of that type */
	MAILAUTH_DNS_TEMP, /* SERVFAIL, timeout, time budget spent */
};

/* One record. A/AAAA: addr; MX: pref and text (exchange); TXT: text (the
 * character-strings joined); PTR: text (the name). Names have no final dot. */
struct mailauth_rr {
	unsigned pref;
	unsigned char addr[16];
	char *text; /* malloc'd, or NULL */
};

struct mailauth_answer {
	enum mailauth_dns_status status;
	size_t n;
	struct mailauth_rr *rr; /* malloc'd */
};

/* The resolver the evaluators ask. query() fills a zeroed *a. */
struct mailauth_dns {
	void *ctx;
	void (*query)(void *ctx, const char *name, int type, struct mailauth_answer *a);
};

/* Append one record to a (status becomes OK); text and addr may be NULL. */
void mailauth_answer_add(struct mailauth_answer *a, const char *text, const unsigned char *addr,
			 unsigned pref);
void mailauth_answer_free(struct mailauth_answer *a);

/*
 * libunbound behind struct mailauth_dns, for one thread at a time: forward
 * is dns_forward ("" = /etc/resolv.conf). Each query waits at most until the
 * deadline set with mailauth_resolver_set_deadline (CLOCK_MONOTONIC ms;
 * 0 = none) and answers TEMP once it has passed, or once *stop (may be
 * NULL) is true: a shutdown never waits for a silent resolver.
 */
struct mailauth_resolver;
int mailauth_resolver_create(const char *forward, const atomic_bool *stop,
			     struct mailauth_resolver **r_r, char **error_r);
void mailauth_resolver_destroy(struct mailauth_resolver **r);
void mailauth_resolver_set_deadline(struct mailauth_resolver *r, int64_t deadline_ms);
void mailauth_resolver_dns(struct mailauth_resolver *r, struct mailauth_dns *dns_r);

/* --- addresses ----------------------------------------------------------- */

struct mailauth_ip {
	int family; /* AF_INET or AF_INET6; an IPv4-mapped IPv6 becomes AF_INET */
	unsigned char addr[16];
};

/* Parse a textual IPv4 or IPv6 address. 0 or -1. */
int mailauth_ip_parse(const char *s, struct mailauth_ip *ip_r);

/* --- SPF (RFC 7208) -------------------------------------------------------- */

enum mailauth_spf_result {
	MAILAUTH_SPF_NONE,
	MAILAUTH_SPF_NEUTRAL,
	MAILAUTH_SPF_PASS,
	MAILAUTH_SPF_FAIL,
	MAILAUTH_SPF_SOFTFAIL,
	MAILAUTH_SPF_TEMPERROR,
	MAILAUTH_SPF_PERMERROR,
};

/*
 * check_host() of RFC 7208 section 4: may ip send mail for domain, given
 * sender ("local@domain", for macros) and the HELO name? At most 10
 * DNS-querying terms and 2 void lookups. Never fails: errors are results.
 */
enum mailauth_spf_result mailauth_spf_check(const struct mailauth_dns *dns,
					    const struct mailauth_ip *ip, const char *domain,
					    const char *sender, const char *helo);
const char *mailauth_spf_name(enum mailauth_spf_result r);

/* --- DKIM (RFC 6376, RFC 8463) ----------------------------------------------- */

enum mailauth_dkim_alg {
	MAILAUTH_DKIM_RSA,     /* rsa-sha256, 2048 bits */
	MAILAUTH_DKIM_ED25519, /* ed25519-sha256 */
};

enum mailauth_dkim_result {
	MAILAUTH_DKIM_NONE,
	MAILAUTH_DKIM_PASS,
	MAILAUTH_DKIM_FAIL,      /* signature or body hash does not verify */
	MAILAUTH_DKIM_POLICY,    /* valid but refused (rsa-sha1, short key) */
	MAILAUTH_DKIM_NEUTRAL,   /* syntax error in the signature */
	MAILAUTH_DKIM_TEMPERROR, /* the key could not be fetched now */
	MAILAUTH_DKIM_PERMERROR, /* no key, bad key record */
};

#define MAILAUTH_DKIM_MAX_SIGS 8

struct mailauth_dkim_sig {
	enum mailauth_dkim_result result;
	char domain[254];
	char selector[64];
	char algorithm[32];
	char b[9];          /* the first 8 characters of b= (RFC 6008) */
	const char *reason; /* static text for the log, or NULL */
};

struct mailauth_dkim_results {
	size_t n; /* signatures looked at (the first MAILAUTH_DKIM_MAX_SIGS) */
	struct mailauth_dkim_sig sigs[MAILAUTH_DKIM_MAX_SIGS];
};

/*
 * Verify every DKIM-Signature of msg (CRLF line ends); the keys come from
 * TXT records at SELECTOR._domainkey.DOMAIN through dns. Returns 0, or -1
 * when the message cannot be processed at all (r->n is then 0).
 */
int mailauth_dkim_verify(const struct mailauth_dns *dns, const char *msg, size_t len,
			 struct mailauth_dkim_results *r);
const char *mailauth_dkim_name(enum mailauth_dkim_result r);

/*
 * Sign msg (CRLF, header block then body) with the PEM private key, as
 * s=selector (the DNS selector, see mailauth_dns_selector), and
 * append one complete "DKIM-Signature: ...\r\n" field to out: relaxed/
 * relaxed, the From, To, Cc, Subject, Date, Message-ID, reply and MIME
 * fields, From signed once more than present. 0, or -1 with *error_r.
 */
int mailauth_dkim_sign(const char *msg, size_t len, const char *domain, const char *selector,
		       enum mailauth_dkim_alg alg, const char *pem, struct buf *out,
		       const char **error_r);

/* --- DMARC (RFC 7489) -------------------------------------------------------- */

enum mailauth_dmarc_policy {
	MAILAUTH_DMARC_P_UNSET, /* tag absent */
	MAILAUTH_DMARC_P_NONE,
	MAILAUTH_DMARC_P_QUARANTINE,
	MAILAUTH_DMARC_P_REJECT,
};

struct mailauth_dmarc_record {
	enum mailauth_dmarc_policy p, sp;
	bool adkim_strict, aspf_strict;
	unsigned pct;
};

/*
 * Parse a TXT record as DMARC. Returns 0, or -1 when it is not a usable
 * DMARC record (no "v=DMARC1" first, bad syntax). A missing or invalid p=
 * reads as p=none (section 6.6.3 asks that only when rua= is valid; facteur
 * does not send reports, so the difference never matters here).
 */
int mailauth_dmarc_parse(const char *txt, struct mailauth_dmarc_record *r);

/*
 * The organizational domain (section 3.2) of domain, lower-cased, from the
 * Public Suffix List when /usr/share/publicsuffix has it, else the last two
 * labels.
 */
void mailauth_org_domain(const char *domain, char *out, size_t outsz);
/* Identifier alignment (section 3.1): equal, or (relaxed) same org domain. */
bool mailauth_aligned(const char *a, const char *b, bool strict);

enum mailauth_dmarc_result {
	MAILAUTH_DMARC_NONE, /* no From domain or no record */
	MAILAUTH_DMARC_PASS,
	MAILAUTH_DMARC_FAIL,
	MAILAUTH_DMARC_TEMPERROR,
	MAILAUTH_DMARC_PERMERROR, /* several From domains */
};

enum mailauth_action {
	MAILAUTH_ACCEPT,
	MAILAUTH_QUARANTINE, /* deliver to Junk */
	MAILAUTH_REJECT,     /* 550 5.7.1 */
};

struct mailauth_dmarc_outcome {
	enum mailauth_dmarc_result result;
	enum mailauth_dmarc_policy policy; /* the p= or sp= that applied */
	enum mailauth_action action;       /* after pct= sampling */
	char from_domain[254];
};

/*
 * The From: domain of msg. Returns 1 with it lower-cased in out, 0 when
 * there is no From field or address, -1 when several From fields or
 * addresses name different domains.
 */
int mailauth_from_domain(const char *msg, size_t len, char *out, size_t outsz);

/*
 * DMARC for from_domain, given the SPF result for spf_domain and the DKIM
 * results. random_pct (0..99) is compared with pct= for sampling.
 */
void mailauth_dmarc_evaluate(const struct mailauth_dns *dns, const char *from_domain,
			     enum mailauth_spf_result spf, const char *spf_domain,
			     const struct mailauth_dkim_results *dkim, unsigned random_pct,
			     struct mailauth_dmarc_outcome *o);
const char *mailauth_dmarc_name(enum mailauth_dmarc_result r);

/* --- one message: SPF, DKIM, DMARC, Authentication-Results ------------------- */

struct mailauth_request {
	const char *ip;        /* the client's address */
	const char *helo;      /* the HELO/EHLO argument */
	const char *mail_from; /* "" for <> */
	const char *msg;       /* the message, CRLF */
	size_t len;
	/*
	 * Optional (mailauth_job_submit only): called in the pool thread once
	 * the result is ready, e.g. to wake the waiting worker's loop. arg
	 * must outlive the pool.
	 */
	void (*done)(void *arg);
	void *done_arg;
};

struct mailauth_result {
	enum mailauth_spf_result spf;
	bool spf_helo; /* the HELO identity was checked (MAIL FROM <>) */
	char spf_domain[254];
	char spf_identity[320];
	struct mailauth_dkim_results dkim;
	struct mailauth_dmarc_outcome dmarc;
};

void mailauth_verify_message(const struct mailauth_dns *dns, const struct mailauth_request *req,
			     struct mailauth_result *r);

/* Append "Authentication-Results: authserv_id; ...\r\n" (RFC 8601) to out. */
void mailauth_result_header(const struct mailauth_result *r, const char *authserv_id,
			    struct buf *out);

/*
 * Copy msg to out without the Authentication-Results fields of its header
 * block that claim authserv_id (RFC 8601 section 5: a forged one must not
 * reach the user). Returns how many were removed.
 */
size_t mailauth_strip_results(const char *msg, size_t len, const char *authserv_id,
			      struct buf *out);

/* --- key files (data_dir/dkim) ------------------------------------------------ */

/* Is s usable as a domain or selector in a file name and a DNS name? */
bool mailauth_name_valid(const char *s);
/*
 * The s= of a key: SELECTOR-rsa or SELECTOR-ed25519. The two keys of one
 * selector need two DNS names: a verifier given two key records at one
 * name may pick either (RFC 6376 section 3.6.2.2) and fail the other.
 */
void mailauth_dns_selector(const char *selector, enum mailauth_dkim_alg alg, char *out,
			   size_t outsz);

/*
 * Create SELECTOR.rsa.pem (2048 bits) and SELECTOR.ed25519.pem under
 * data_dir/dkim/DOMAIN (mode 0600), and make the selector active if the
 * domain has none. Refuses to overwrite. 0, or -1 with a malloc'd *error_r.
 */
int mailauth_keys_generate(const char *data_dir, const char *domain, const char *selector,
			   char **error_r);
/* Make selector (whose keys must exist) the active one, atomically. */
int mailauth_keys_activate(const char *data_dir, const char *domain, const char *selector,
			   char **error_r);
/* The active selector of domain: 1 found, 0 none, -1 error. */
int mailauth_keys_active(const char *data_dir, const char *domain, char *out, size_t outsz);
/*
 * Append the DNS TXT records of selector (one zone-file line per key that
 * exists, at SELECTOR-rsa._domainkey.DOMAIN and
 * SELECTOR-ed25519._domainkey.DOMAIN, long values split into 255-octet
 * strings) to out. Returns how
 * many keys were found, -1 on error.
 */
int mailauth_keys_dns_records(const char *data_dir, const char *domain, const char *selector,
			      struct buf *out);
/* Call cb for each (domain, selector, has_rsa, has_ed25519, active). */
int mailauth_keys_list(const char *data_dir,
		       void (*cb)(void *ctx, const char *domain, const char *selector, bool rsa,
				  bool ed25519, bool active),
		       void *ctx);

/* --- the daemon's handle: signing and the verification pool ------------------- */

struct mailauth;
struct mailauth_job;

/*
 * Start the verification threads (when cfg->mailauth_verify) and the key
 * cache. cfg must outlive the handle. 0, or -1 with a malloc'd *error_r.
 */
int mailauth_create(const struct config *cfg, struct mailauth **ma_r, char **error_r);
/* Stop and join the threads; jobs still held by sessions stay valid. */
void mailauth_destroy(struct mailauth **ma);

/*
 * Queue a verification; everything in req is copied. Returns 0 with a job
 * reference in *job_r, or -1 when verification is off or too many jobs wait.
 */
int mailauth_job_submit(struct mailauth *ma, const struct mailauth_request *req,
			struct mailauth_job **job_r);
/* The result once the job is done, NULL while it runs. */
const struct mailauth_result *mailauth_job_result(struct mailauth_job *job);
/* Drop the caller's reference (the job may still run: the pool holds one). */
void mailauth_job_release(struct mailauth_job **job);

/*
 * Sign msg for domain with each key of its active selector (both when
 * both exist), appending the DKIM-Signature fields to out. Keys are read
 * at signing time and cached while their files keep their mtime. Returns
 * the number of signatures (0: no keys or signing disabled) or -1 (logged;
 * out may then hold part of the fields and should be dropped).
 */
int mailauth_sign(struct mailauth *ma, const char *domain, const char *msg, size_t len,
		  struct buf *out);

#endif
