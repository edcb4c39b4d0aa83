/* SPDX-License-Identifier: MIT */
/*
 * Configuration parsing: see config.h. A table maps each key to a setter so
 * that unknown keys, bad numbers and out-of-range values all fail with the
 * file name and line, before any socket is opened.
 */
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[LISTENER_KIND_COUNT] = {
	"smtp", "submission", "submissions", "pop3",  "pop3s",
	"imap", "imaps",      "http",        "https", "managesieve",
};

const char *config_listener_kind_name(enum listener_kind kind)
{
	return kind < LISTENER_KIND_COUNT ? kind_names[kind] : "?";
}

bool config_auth_allowed(const struct config *c, bool tls, bool peer_loopback)
{
	if (tls || c->plaintext_auth == PLAINTEXT_AUTH_ALWAYS)
		return true;
	return c->plaintext_auth == PLAINTEXT_AUTH_LOOPBACK && peer_loopback;
}

bool config_listener_implicit_tls(enum listener_kind kind)
{
	return kind == LISTENER_SUBMISSIONS || kind == LISTENER_POP3S || kind == LISTENER_IMAPS ||
		kind == LISTENER_HTTPS;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->hostname = xstrdup("localhost");
	c->data_dir = xstrdup("/var/lib/facteur");
	c->tls_cert = xstrdup("");
	c->tls_key = xstrdup("");
	c->user = xstrdup("");
	c->workers = 0;
	c->log_level = LOG_INFO;
	c->max_message_size = 50u * 1024 * 1024;
	c->max_recipients = 100;
	c->recipient_overshoot = 1000;
	c->postmaster_address = xstrdup("");
	c->srs = true;
	c->srs_domain = xstrdup("");
	c->srs_secret = xstrdup("");
	c->srs_max_age = 21;
	c->submission_from_exceptions = xstrdup("");
	c->max_connections = 10000;
	c->max_connections_per_ip = 100;
	c->smtp_max_line = 4096;
	c->smtp_timeout = 300;
	c->pop3_timeout = 600;
	c->pop3_max_line = 512;
	c->http_timeout = 60;
	c->jmap_upload_ttl = 86400;
	c->auth_max_failures = 5;
	c->auth_window = 60;
	c->auth_account_max_failures = 20;
	c->auth_threads = 2;
	c->auth_hashes_per_ip = 2;
	c->send_limit_messages = 500;
	c->send_limit_recipients = 2000;
	c->auth_cache_ttl = 300;
	c->plaintext_auth = PLAINTEXT_AUTH_LOOPBACK;
	c->dns_forward = xstrdup("");
	c->relay_port = 25;
	c->outbound_address = xstrdup("");
	c->smarthost = xstrdup("");
	c->smarthost_user = xstrdup("");
	c->smarthost_password_file = xstrdup("");
	c->queue_retry_min = 300;
	c->queue_retry_max = 4 * 3600;
	c->queue_lifetime = 5 * 86400;
	c->queue_delay_notice = 4 * 3600;
	c->queue_max_connections = 100;
	c->queue_max_per_destination = 20;
	c->queue_initial_per_destination = 5;
	c->queue_idle_time = 2;
	c->queue_timeout = 300;
	c->outbound_private = false;
	c->mailauth_verify = true;
	c->dkim_sign = true;
	c->mailauth_timeout = 20;
	c->mailauth_threads = 4;
	c->rspamd_url = xstrdup("");
	c->rspamd_controller_url = xstrdup("");
	c->rspamd_password_file = xstrdup("");
	c->rspamd_timeout = 10;
	c->rspamd_threads = 4;
	c->rspamd_fail_closed = false;
	c->store_batch_max = 256;
	c->store_batch_wait = 0;
	c->spool_threshold = 128u * 1024;
	c->spool_memory_max = 64u * 1024 * 1024;
	c->spool_unauth_max = 1024u * 1024 * 1024;
}

void config_deinit(struct config *c)
{
	free(c->path);
	free(c->hostname);
	free(c->data_dir);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->user);
	free(c->dns_forward);
	free(c->outbound_address);
	free(c->smarthost);
	free(c->smarthost_user);
	free(c->smarthost_password_file);
	free(c->postmaster_address);
	free(c->srs_domain);
	free(c->srs_secret);
	free(c->submission_from_exceptions);
	free(c->rspamd_url);
	free(c->rspamd_controller_url);
	free(c->rspamd_password_file);
	memset(c, 0, sizeof(*c));
}

/* "login:addr, login:@domain, ...": each entry a login and an address or domain. */
static bool config_exceptions_valid(const char *list)
{
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		const char *colon = memchr(p, ':', n);
		if (colon == NULL || colon == p || memchr(p, '@', (size_t)(colon - p)) == NULL ||
		    memchr(colon + 1, '@', n - (size_t)(colon - p) - 1) == NULL)
			return false;
		p += n;
	}
	return true;
}

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	uint64_t mult = 1;
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'M')
		mult = 1024 * 1024, end++;
	else if (*end == 'G')
		mult = 1024ull * 1024 * 1024, end++;
	if (errno != 0 || *end != '\0' || n > max / mult)
		return -1;
	n *= mult;
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* "ADDR:PORT" or "[V6]:PORT". */
static int parse_listen(const char *v, struct config_listener *l)
{
	const char *colon;
	size_t alen;
	const char *a = v;
	if (*v == '[') {
		const char *close = strchr(v, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		a = v + 1;
		alen = (size_t)(close - a);
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return -1;
		alen = (size_t)(colon - v);
	}
	if (alen == 0 || alen >= sizeof(l->address))
		return -1;
	uint64_t port;
	if (parse_u64(colon + 1, 0, 65535, &port) < 0)
		return -1;
	memcpy(l->address, a, alen);
	l->address[alen] = '\0';
	l->port = (int)port;
	return 0;
}

/*
 * An rspamd URL: "" or http(s)://HOST[:PORT] with no space; a final '/'
 * goes (paths are appended). 0 or -1.
 */
static int config_url_fix(char *url)
{
	if (*url == '\0')
		return 0;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return -1;
	if (strpbrk(url, " \t\r\n") != NULL)
		return -1;
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	return strchr(url, ':')[3] == '\0' ? -1 : 0;
}

enum key_type { K_STR, K_UINT, K_U64, K_INT, K_BOOL };

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;
	uint64_t min, max;
};

#define OFF(f) offsetof(struct config, f)
static const struct key_def keys[] = {
	{"hostname", K_STR, OFF(hostname), 0, 0},
	{"data_dir", K_STR, OFF(data_dir), 0, 0},
	{"tls_cert", K_STR, OFF(tls_cert), 0, 0},
	{"tls_key", K_STR, OFF(tls_key), 0, 0},
	{"user", K_STR, OFF(user), 0, 0},
	{"workers", K_INT, OFF(workers), 0, 256},
	{"max_message_size", K_U64, OFF(max_message_size), 1024, 1ull << 34},
	{"max_recipients", K_UINT, OFF(max_recipients), 1, 100000},
	{"postmaster_address", K_STR, OFF(postmaster_address), 0, 0},
	{"submission_from_exceptions", K_STR, OFF(submission_from_exceptions), 0, 0},
	{"recipient_overshoot", K_UINT, OFF(recipient_overshoot), 0, 1000000},
	{"max_connections", K_UINT, OFF(max_connections), 1, 1000000},
	{"max_connections_per_ip", K_UINT, OFF(max_connections_per_ip), 1, 1000000},
	{"smtp_max_line", K_UINT, OFF(smtp_max_line), 512, 1 << 20},
	{"smtp_timeout", K_UINT, OFF(smtp_timeout), 1, 86400},
	{"pop3_timeout", K_UINT, OFF(pop3_timeout), 1, 86400},
	{"pop3_max_line", K_UINT, OFF(pop3_max_line), 255, 1 << 20},
	{"http_timeout", K_UINT, OFF(http_timeout), 1, 86400},
	/* RFC 8620 6.1: at least an hour */
	{"jmap_upload_ttl", K_UINT, OFF(jmap_upload_ttl), 3600, 30 * 86400},
	{"auth_max_failures", K_UINT, OFF(auth_max_failures), 1, 1000000},
	{"auth_window", K_UINT, OFF(auth_window), 1, 86400},
	{"auth_account_max_failures", K_UINT, OFF(auth_account_max_failures), 1, 1000000},
	{"auth_threads", K_UINT, OFF(auth_threads), 1, 64},
	{"auth_hashes_per_ip", K_UINT, OFF(auth_hashes_per_ip), 1, 64},
	{"send_limit_messages", K_UINT, OFF(send_limit_messages), 0, 100000000},
	{"send_limit_recipients", K_UINT, OFF(send_limit_recipients), 0, 100000000},
	{"send_limit_domain_messages", K_UINT, OFF(send_limit_domain_messages), 0, 100000000},
	{"send_limit_domain_recipients", K_UINT, OFF(send_limit_domain_recipients), 0, 100000000},
	{"auth_cache_ttl", K_UINT, OFF(auth_cache_ttl), 0, 3600},
	{"dns_forward", K_STR, OFF(dns_forward), 0, 0},
	{"relay_port", K_UINT, OFF(relay_port), 1, 65535},
	{"outbound_address", K_STR, OFF(outbound_address), 0, 0},
	{"smarthost", K_STR, OFF(smarthost), 0, 0},
	{"smarthost_user", K_STR, OFF(smarthost_user), 0, 0},
	{"smarthost_password_file", K_STR, OFF(smarthost_password_file), 0, 0},
	{"queue_retry_min", K_UINT, OFF(queue_retry_min), 1, 86400},
	{"queue_retry_max", K_UINT, OFF(queue_retry_max), 1, 7 * 86400},
	{"queue_lifetime", K_UINT, OFF(queue_lifetime), 1, 60 * 86400},
	{"queue_delay_notice", K_UINT, OFF(queue_delay_notice), 1, 60 * 86400},
	{"queue_max_connections", K_UINT, OFF(queue_max_connections), 1, 10000},
	{"queue_max_per_destination", K_UINT, OFF(queue_max_per_destination), 1, 1000},
	{"queue_initial_per_destination", K_UINT, OFF(queue_initial_per_destination), 1, 1000},
	{"queue_idle_time", K_UINT, OFF(queue_idle_time), 0, 300},
	{"queue_timeout", K_UINT, OFF(queue_timeout), 1, 3600},
	{"outbound_private", K_BOOL, OFF(outbound_private), 0, 0},
	{"srs", K_BOOL, OFF(srs), 0, 0},
	{"srs_domain", K_STR, OFF(srs_domain), 0, 0},
	{"srs_secret", K_STR, OFF(srs_secret), 0, 0},
	{"srs_max_age", K_UINT, OFF(srs_max_age), 1, 1000},
	{"mailauth_verify", K_BOOL, OFF(mailauth_verify), 0, 0},
	{"dkim_sign", K_BOOL, OFF(dkim_sign), 0, 0},
	{"mailauth_timeout", K_UINT, OFF(mailauth_timeout), 1, 300},
	{"mailauth_threads", K_UINT, OFF(mailauth_threads), 1, 64},
	{"rspamd_url", K_STR, OFF(rspamd_url), 0, 0},
	{"rspamd_controller_url", K_STR, OFF(rspamd_controller_url), 0, 0},
	{"rspamd_password_file", K_STR, OFF(rspamd_password_file), 0, 0},
	{"rspamd_timeout", K_UINT, OFF(rspamd_timeout), 1, 300},
	{"rspamd_threads", K_UINT, OFF(rspamd_threads), 1, 64},
	{"store_batch_max", K_UINT, OFF(store_batch_max), 1, 1024},
	{"store_batch_wait", K_UINT, OFF(store_batch_wait), 0, 1000000},
	{"spool_threshold", K_U64, OFF(spool_threshold), 4096, 1ull << 30},
	{"spool_memory_max", K_U64, OFF(spool_memory_max), 65536, 1ull << 40},
	{"spool_unauth_max", K_U64, OFF(spool_unauth_max), 1024, 1ull << 44},
};

static int set_key(struct config *c, const char *key, const char *val, const char **why)
{
	if (strcmp(key, "log_level") == 0) {
		static const char *const levels[] = {"debug", "info", "warn", "error"};
		for (int i = 0; i < 4; i++) {
			if (strcmp(val, levels[i]) == 0) {
				c->log_level = i;
				return 0;
			}
		}
		*why = "must be debug, info, warn or error";
		return -1;
	}
	if (strcmp(key, "rspamd_fail") == 0) {
		if (strcmp(val, "open") != 0 && strcmp(val, "closed") != 0) {
			*why = "must be open or closed";
			return -1;
		}
		c->rspamd_fail_closed = strcmp(val, "closed") == 0;
		return 0;
	}
	if (strcmp(key, "plaintext_auth") == 0) {
		static const char *const modes[] = {"never", "loopback", "always"};
		for (int i = 0; i < 3; i++) {
			if (strcmp(val, modes[i]) == 0) {
				c->plaintext_auth = (enum config_plaintext_auth)i;
				return 0;
			}
		}
		*why = "must be never, loopback or always";
		return -1;
	}
	if (strcmp(key, "listen") == 0 || strncmp(key, "listen.", 7) == 0) {
		/* listen.KIND = ADDR:PORT[, ADDR:PORT...] */
		const char *kname = key[6] == '.' ? key + 7 : "";
		int kind = -1;
		for (int i = 0; i < LISTENER_KIND_COUNT; i++)
			if (strcmp(kname, kind_names[i]) == 0)
				kind = i;
		if (kind < 0) {
			*why = "unknown listener kind (smtp, submission, submissions, pop3, pop3s, "
			       "imap, imaps, http, https, managesieve)";
			return -1;
		}
		char *copy = xstrdup(val), *save = NULL;
		for (char *tok = strtok_r(copy, ", \t", &save); tok;
		     tok = strtok_r(NULL, ", \t", &save)) {
			if (c->n_listeners >= CONFIG_MAX_LISTENERS) {
				free(copy);
				*why = "too many listeners";
				return -1;
			}
			struct config_listener *l = &c->listeners[c->n_listeners];
			if (parse_listen(tok, l) < 0) {
				free(copy);
				*why = "expected ADDRESS:PORT or [IPV6]:PORT";
				return -1;
			}
			l->kind = (enum listener_kind)kind;
			c->n_listeners++;
		}
		free(copy);
		return 0;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key_def *k = &keys[i];
		if (strcmp(k->name, key) != 0)
			continue;
		char *base = (char *)c + k->offset;
		uint64_t n;
		switch (k->type) {
		case K_STR:
			free(*(char **)base);
			*(char **)base = xstrdup(val);
			return 0;
		case K_BOOL:
			if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0)
				*(bool *)base = true;
			else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0)
				*(bool *)base = false;
			else {
				*why = "must be yes or no";
				return -1;
			}
			return 0;
		case K_UINT:
		case K_U64:
		case K_INT:
			if (parse_u64(val, k->min, k->max, &n) < 0) {
				*why = "must be a whole number in range";
				return -1;
			}
			if (k->type == K_UINT)
				*(unsigned *)base = (unsigned)n;
			else if (k->type == K_INT)
				*(int *)base = (int)n;
			else
				*(uint64_t *)base = n;
			return 0;
		}
	}
	*why = "unknown key";
	return -1;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load(struct config *c, const char *path, char **error_r)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	free(c->path);
	c->path = xstrdup(path);
	char line[4096];
	unsigned lineno = 0;
	int ret = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			*error_r = xasprintf("%s:%u: expected key = value", path, lineno);
			ret = -1;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		const char *why = NULL;
		if (set_key(c, key, val, &why) < 0) {
			*error_r = xasprintf("%s:%u: %s: %s", path, lineno, key, why);
			ret = -1;
			break;
		}
	}
	fclose(f);
	if (ret == 0 && c->n_listeners == 0) {
		*error_r = xasprintf("%s: no listen.* key: nothing to serve", path);
		ret = -1;
	}
	if (ret == 0 && *c->smarthost != '\0') {
		const char *colon = strrchr(c->smarthost, ':');
		uint64_t port;
		if (colon == NULL || colon == c->smarthost ||
		    parse_u64(colon + 1, 1, 65535, &port) < 0) {
			*error_r = xasprintf("%s: smarthost: expected HOST:PORT", path);
			ret = -1;
		} else if ((*c->smarthost_user == '\0') != (*c->smarthost_password_file == '\0')) {
			*error_r = xasprintf("%s: smarthost_user and smarthost_password_file "
					     "go together",
					     path);
			ret = -1;
		}
	}
	if (ret == 0 &&
	    (config_url_fix(c->rspamd_url) < 0 || config_url_fix(c->rspamd_controller_url) < 0)) {
		*error_r = xasprintf(
			"%s: rspamd_url, rspamd_controller_url: expected http://HOST:PORT", path);
		ret = -1;
	}
	if (ret == 0 && *c->outbound_address != '\0') {
		unsigned char a[16];
		if (inet_pton(AF_INET, c->outbound_address, a) != 1 &&
		    inet_pton(AF_INET6, c->outbound_address, a) != 1) {
			*error_r = xasprintf("%s: outbound_address: expected an IP address", path);
			ret = -1;
		}
	}
	if (ret == 0 && *c->postmaster_address != '\0' &&
	    (strchr(c->postmaster_address, '@') == NULL || strlen(c->postmaster_address) >= 320)) {
		*error_r = xasprintf("%s: postmaster_address: expected user@domain", path);
		ret = -1;
	}
	if (ret == 0 && !config_exceptions_valid(c->submission_from_exceptions)) {
		*error_r = xasprintf("%s: submission_from_exceptions: expected "
				     "login:address or login:@domain, comma-separated",
				     path);
		ret = -1;
	}
	if (ret == 0 && ((*c->tls_cert == '\0') != (*c->tls_key == '\0'))) {
		*error_r = xasprintf("%s: tls_cert and tls_key go together", path);
		ret = -1;
	}
	for (size_t i = 0; ret == 0 && i < c->n_listeners; i++) {
		if (config_listener_implicit_tls(c->listeners[i].kind) && *c->tls_cert == '\0') {
			*error_r = xasprintf("%s: listen.%s needs tls_cert and tls_key", path,
					     kind_names[c->listeners[i].kind]);
			ret = -1;
		}
	}
	return ret;
}
