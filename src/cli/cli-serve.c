/* SPDX-License-Identifier: MIT */
/*
 * `facteur serve`: load and validate the configuration, bind every
 * listener, drop privileges when started as root, then run the worker
 * loops until SIGTERM or SIGINT. Signals are taken synchronously by a
 * dedicated thread (sigwait), so no handler runs inside a worker.
 */
#include "auth/auth.h"
#include "cli/cli.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/server-ctx.h"
#include "lib/spool.h"
#include "lib/util.h"
#include "http/http.h"
#include "jmap/jmap.h"
#include "filter/filter.h"
#include "mailauth/mailauth.h"
#include "mailauth/srs.h"
#include "store/store.h"
#include "net/net.h"
#include "imap/imap.h"
#include "managesieve/managesieve.h"
#include "pop3/pop3.h"
#include "queue/queue.h"
#include "search/search.h"
#include "smtp/smtp.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Mail authentication (one pool for every worker), made before the loops start. */
static struct mailauth *serve_mailauth;
/* rspamd's HTTP threads (one pool for every worker), likewise. */
static struct filter *serve_filter;
/* Password checks (one pool for every worker), likewise. */
static struct auth_pool *serve_auth_pool;
/* Group commit of deliveries (one thread for every worker), likewise. */
static struct store_writer *serve_writer;

static int worker_init(int worker_id, struct server_ctx *ctx, const char **error_r)
{
	ctx->mailauth = serve_mailauth;
	ctx->filter = serve_filter;
	ctx->auth_pool = serve_auth_pool;
	ctx->writer = serve_writer;
	return store_open(ctx->config->data_dir, &ctx->store, error_r);
}

static void worker_deinit(struct server_ctx *ctx)
{
	store_close(&ctx->store);
}

static int drop_privileges(const struct config *cfg)
{
	if (geteuid() != 0)
		return 0;
	if (*cfg->user == '\0') {
		log_warn("privileges", "msg=\"running as root: set 'user' in the configuration\"");
		return 0;
	}
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL) {
		fprintf(stderr, "facteur: user '%s' does not exist\n", cfg->user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "facteur: cannot drop to user %s: %s\n", cfg->user,
			strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "facteur: privilege drop did not stick\n");
		return -1;
	}
	log_info("privileges", "user=%s uid=%d", cfg->user, (int)pw->pw_uid);
	return 0;
}

/*
 * After the privilege drop, a data directory the service user cannot
 * reach fails the store with EACCES, which alone reads as if the path
 * were missing: name the directory on the way that it may not enter.
 */
static void explain_unreachable(const struct config *cfg, const char *path)
{
	char *p = xstrdup(path);
	for (char *slash = p; slash != NULL; slash = strchr(slash + 1, '/')) {
		char keep = *slash;
		*slash = '\0';
		bool denied = p[0] != '\0' && access(p, X_OK) < 0 && errno == EACCES;
		*slash = keep;
		if (denied) {
			*slash = '\0';
			fprintf(stderr,
				"facteur: running as user %s (uid %d), which may not enter %s: "
				"give it "
				"that directory or make it searchable (chmod o+x), or init facteur "
				"elsewhere\n",
				*cfg->user != '\0' ? cfg->user : "(current)", (int)getuid(), p);
			break;
		}
	}
	free(p);
}

struct signal_waiter {
	struct net_server *server;
	sigset_t set;
	atomic_bool done; /* the loops ended by themselves: just exit */
};

/*
 * SIGTERM and SIGINT stop the server; SIGHUP reloads the certificate (a
 * renewal) and goes on waiting; SIGUSR1 only ends this thread.
 */
static void *signal_thread(void *arg)
{
	struct signal_waiter *sw = arg;
	for (;;) {
		int sig = 0;
		sigwait(&sw->set, &sig);
		if (sig == SIGUSR1 || sw->done)
			return NULL;
		if (sig != SIGHUP) {
			log_info("stopping", "signal=%d", sig);
			net_server_stop(sw->server);
			return NULL;
		}
		char *err = NULL;
		int r = net_server_reload_tls(sw->server, &err);
		if (r < 0) {
			log_error("reload", "what=tls result=failed error=\"%s\"", err);
			free(err);
		} else {
			log_info("reload", "what=tls result=%s", r > 0 ? "ok" : "none");
		}
	}
}

/*
 * Blob files a crash left between their write and the commit naming them
 * (after the writer's journal recovery, which may restore such files too).
 * Safe beside deliveries (store_orphans_collect says why); run once here.
 */
static void serve_collect_orphans(const char *dir)
{
	struct store *s = NULL;
	const char *error = NULL;
	unsigned removed = 0;
	if (store_open(dir, &s, &error) < 0 || store_orphans_collect(s, &removed, &error) < 0)
		log_warn("orphans", "error=\"%s\"", error ? error : "?");
	else if (removed > 0)
		log_info("orphans", "removed=%u", removed);
	store_close(&s);
}

/*
 * The SRS key: srs_secret, else data_dir/srs.secret, made (random, 0600) the
 * first time, so forwarded mail's bounce addresses stay valid across
 * restarts. -1 if the file can be neither read nor made.
 */
static int serve_srs_setup(const struct config *cfg)
{
	if (!cfg->srs) {
		srs_configure("", "", cfg->srs_max_age);
		return 0;
	}
	const char *domain = *cfg->srs_domain != '\0' ? cfg->srs_domain : cfg->hostname;
	if (*cfg->srs_secret != '\0') {
		srs_configure(cfg->srs_secret, domain, cfg->srs_max_age);
		return 0;
	}
	char *path = xasprintf("%s/srs.secret", cfg->data_dir);
	char secret[65] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		unsigned char raw[32];
		RAND_bytes(raw, sizeof(raw));
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(secret + 2 * i, 3, "%02x", raw[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 && (write(fd, secret, 64) != 64 || fsync(fd) < 0)) {
			close(fd);
			unlink(path);
			fd = -1;
		}
	} else if (fd >= 0) {
		ssize_t n = read(fd, secret, 64);
		secret[n > 0 ? n : 0] = '\0';
		secret[strcspn(secret, "\r\n")] = '\0';
	}
	if (fd < 0 || secret[0] == '\0') {
		fprintf(stderr, "facteur: %s: %s\n", path, fd < 0 ? strerror(errno) : "empty");
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	close(fd);
	free(path);
	srs_configure(secret, domain, cfg->srs_max_age);
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

int cli_serve(int argc, char **argv)
{
	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
		fprintf(help ? stdout : stderr,
			"usage: facteur [-c CONFIG] serve\n\n"
			"Runs every configured listener in one process, in the foreground,\n"
			"logging one key=value line per event to standard error.\n"
			"SIGTERM or SIGINT stops it cleanly; SIGHUP reloads the TLS "
			"certificate.\n");
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	struct config cfg;
	if (cli_load_config(&cfg) < 0)
		return CLI_EXIT_FAIL;
	log_set_level((enum log_level)cfg.log_level);
	auth_ratelimit_configure(cfg.auth_max_failures, cfg.auth_window);
	auth_ratelimit_account_configure(cfg.auth_account_max_failures, cfg.auth_window);
	send_limit_configure(
		&(struct send_limits){cfg.send_limit_messages, cfg.send_limit_recipients},
		&(struct send_limits){cfg.send_limit_domain_messages,
				      cfg.send_limit_domain_recipients});
	if (auth_cache_configure(cfg.auth_cache_ttl, AUTH_CACHE_ENTRIES) < 0)
		log_warn("auth_cache_off", "reason=\"no secure memory for its key\"");

	/* Check the store once in the main thread, so that a broken data
	 * directory fails start-up with a clear message. */
	const struct conn_proto *protos[LISTENER_KIND_COUNT] = {
		[LISTENER_SMTP] = &smtp_proto,        [LISTENER_SUBMISSION] = &smtp_proto,
		[LISTENER_SUBMISSIONS] = &smtp_proto, [LISTENER_POP3] = &pop3_proto,
		[LISTENER_POP3S] = &pop3_proto,       [LISTENER_IMAP] = &imap_proto,
		[LISTENER_IMAPS] = &imap_proto,       [LISTENER_HTTP] = &http_proto,
		[LISTENER_HTTPS] = &http_proto,       [LISTENER_MANAGESIEVE] = &managesieve_proto,
	};
	http_static_set(&http_web_assets);
	struct net_server *server = NULL;
	char *err = NULL;
	if (net_server_create(&cfg, protos, &server, &err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		free(err);
		config_deinit(&cfg);
		return CLI_EXIT_FAIL;
	}
	int ret = CLI_EXIT_FAIL;
	if (drop_privileges(&cfg) < 0)
		goto out;
	/* IMAP sessions not yet told of an expunge can still read the message. */
	store_blob_grace_set(STORE_EXPUNGED_BLOB_GRACE);
	struct store *probe = NULL;
	const char *serr = NULL;
	if (store_open(cfg.data_dir, &probe, &serr) < 0) {
		fprintf(stderr, "facteur: store %s: %s\n", cfg.data_dir, serr);
		explain_unreachable(&cfg, cfg.data_dir);
		goto out;
	}
	store_close(&probe);
	if (serve_srs_setup(&cfg) < 0)
		goto out;

	struct signal_waiter sw = {.server = server};
	atomic_init(&sw.done, false);
	sigemptyset(&sw.set);
	sigaddset(&sw.set, SIGTERM);
	sigaddset(&sw.set, SIGINT);
	sigaddset(&sw.set, SIGHUP);
	sigaddset(&sw.set, SIGUSR1); /* internal: the loops ended, exit */
	pthread_sigmask(SIG_BLOCK, &sw.set, NULL);
	pthread_t sigthr;
	pthread_create(&sigthr, NULL, signal_thread, &sw);

	spool_configure((size_t)cfg.spool_threshold, cfg.spool_memory_max, cfg.spool_unauth_max);
	/* Outbound delivery runs beside the workers (signals blocked: inherited). */
	struct queue_manager *qm = NULL;
	int run = queue_manager_start(&cfg, &qm, &err);
	if (run == 0)
		run = mailauth_create(&cfg, &serve_mailauth, &err);
	if (run == 0)
		run = filter_create(&cfg, &serve_filter, &err);
	if (run == 0)
		run = auth_pool_create(cfg.auth_threads, cfg.auth_hashes_per_ip, &serve_auth_pool,
				       &err);
	if (run == 0) {
		struct store_writer_options wo = {.batch_max = cfg.store_batch_max,
						  .batch_wait_us = cfg.store_batch_wait};
		if (store_writer_create(cfg.data_dir, &wo, &serve_writer, &serr) < 0) {
			err = xasprintf("store writer: %s", serr);
			run = -1;
		}
	}
	/* JMAP uploads nothing uses expire in the background (jmap_upload_ttl). */
	struct jmap_expirer *expirer = NULL;
	if (run == 0 && jmap_expirer_start(&cfg, &expirer, &serr) < 0) {
		err = xasprintf("upload expiry: %s", serr);
		run = -1;
	}
	/* The full-text index backfill (messages stored before the index). */
	struct search_backfill *backfill = NULL;
	if (run == 0 && search_backfill_start(cfg.data_dir, &backfill, &serr) < 0) {
		err = xasprintf("search backfill: %s", serr);
		run = -1;
	}
	if (run == 0)
		serve_collect_orphans(cfg.data_dir);
	struct net_worker_hooks hooks = {.init = worker_init, .deinit = worker_deinit};
	if (run == 0)
		run = net_server_run(server, &hooks, &err);
	/* Joined before anything it uses (cfg) is freed; the loops are done,
	 * so no session holds a verification job any more. */
	queue_manager_stop(&qm);
	jmap_expirer_stop(&expirer);
	search_backfill_stop(&backfill);
	mailauth_destroy(&serve_mailauth);
	filter_destroy(&serve_filter);
	auth_pool_destroy(&serve_auth_pool);
	/* After the loops: commits what sessions handed over, then stops; the
	 * workers' wake eventfds it signals live until net_server_destroy. */
	store_writer_destroy(&serve_writer);
	/* The signal thread must be gone before the server is freed: wake it
	 * (if no signal came) and join it. */
	atomic_store(&sw.done, true);
	pthread_kill(sigthr, SIGUSR1);
	pthread_join(sigthr, NULL);
	if (run < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		free(err);
		goto out;
	}
	log_info("stopped", "msg=\"clean shutdown\"");
	ret = CLI_EXIT_OK;
out:
	net_server_destroy(&server);
	config_deinit(&cfg);
	return ret;
}

int cli_load_config(struct config *cfg)
{
	char *err = NULL;
	config_defaults(cfg);
	if (config_load(cfg, cli_config_path, &err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		free(err);
		config_deinit(cfg);
		return -1;
	}
	return 0;
}

int cli_open_store(struct config *cfg, struct store **store_r)
{
	if (cli_load_config(cfg) < 0)
		return -1;
	const char *err = NULL;
	if (store_open(cfg->data_dir, store_r, &err) < 0) {
		fprintf(stderr, "facteur: store %s: %s\n", cfg->data_dir, err);
		config_deinit(cfg);
		return -1;
	}
	return 0;
}

/*
 * Say whether rspamd answers at url (when set). Not an error of the
 * configuration: with rspamd_fail = open mail still flows, so the exit
 * status stays 0 and the line says what is wrong.
 */
static void check_rspamd(const char *key, const char *url, unsigned timeout)
{
	if (*url == '\0')
		return;
	char *err = NULL;
	if (filter_ping(url, timeout, &err) == 1) {
		printf("%s %s: rspamd answers\n", key, url);
		return;
	}
	printf("%s %s: rspamd does not answer: %s\n", key, url, err);
	free(err);
}

int cli_check_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct config cfg;
	if (cli_load_config(&cfg) < 0)
		return CLI_EXIT_FAIL;
	if (*cfg.tls_cert != '\0') {
		char *err = NULL;
		SSL_CTX *ctx = net_tls_server_ctx(cfg.tls_cert, cfg.tls_key, &err);
		if (ctx == NULL) {
			fprintf(stderr, "facteur: %s\n", err);
			free(err);
			config_deinit(&cfg);
			return CLI_EXIT_FAIL;
		}
		SSL_CTX_free(ctx);
	}
	printf("%s: ok (%zu listeners)\n", cfg.path, cfg.n_listeners);
	check_rspamd("rspamd_url", cfg.rspamd_url, cfg.rspamd_timeout);
	check_rspamd("rspamd_controller_url", cfg.rspamd_controller_url, cfg.rspamd_timeout);
	config_deinit(&cfg);
	return CLI_EXIT_OK;
}
