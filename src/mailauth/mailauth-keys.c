/* SPDX-License-Identifier: MIT */
/*
 * DKIM key files: data_dir/dkim/DOMAIN/SELECTOR.rsa.pem and
 * SELECTOR.ed25519.pem (PKCS#8 PEM, mode 0600, made with OpenSSL's EVP
 * API) and data_dir/dkim/DOMAIN/active, one line naming the selector the
 * daemon signs with. Rotation without downtime: generate a new selector,
 * publish its TXT records, wait for the DNS to carry them, then activate
 * it; the daemon notices the changed "active" file at the next signature.
 * Files are written whole (temporary file, fsync, rename), never in place.
 */
#include "mailauth/mailauth.h"

#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static const char *const alg_ext[] = {"rsa", "ed25519"};

bool mailauth_name_valid(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-' || s[len - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

void mailauth_dns_selector(const char *selector, enum mailauth_dkim_alg alg, char *out,
			   size_t outsz)
{
	snprintf(out, outsz, "%s-%s", selector, alg_ext[alg]);
}

static char *key_path(const char *data_dir, const char *domain, const char *selector,
		      enum mailauth_dkim_alg alg)
{
	return xasprintf("%s/dkim/%s/%s.%s.pem", data_dir, domain, selector, alg_ext[alg]);
}

static int mkdir_p(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Write data to path through a temporary file; excl refuses an existing path. */
static int write_file(const char *path, const char *data, size_t len, bool excl, char **error_r)
{
	if (excl && access(path, F_OK) == 0) {
		*error_r = xasprintf("%s already exists", path);
		return -1;
	}
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret = -1;
	if (fd >= 0 && write_full(fd, data, len) == 0 && fsync(fd) == 0) {
		close(fd);
		fd = -1;
		ret = rename(tmp, path);
	}
	if (ret < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	free(tmp);
	return ret;
}

static char *pem_of(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (bio != NULL && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1) {
		char *p;
		long n = BIO_get_mem_data(bio, &p);
		out = xstrndup(p, (size_t)n);
	}
	BIO_free(bio);
	return out;
}

static int generate_one(const char *path, enum mailauth_dkim_alg alg, char **error_r)
{
	EVP_PKEY *pkey = alg == MAILAUTH_DKIM_RSA
		? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
		: EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *pem = pkey != NULL ? pem_of(pkey) : NULL;
	EVP_PKEY_free(pkey);
	if (pem == NULL) {
		*error_r = xasprintf("cannot generate the %s key", alg_ext[alg]);
		return -1;
	}
	int r = write_file(path, pem, strlen(pem), true, error_r);
	explicit_bzero(pem, strlen(pem));
	free(pem);
	return r;
}

int mailauth_keys_generate(const char *data_dir, const char *domain, const char *selector,
			   char **error_r)
{
	if (!mailauth_name_valid(domain) || !mailauth_name_valid(selector) ||
	    strlen(selector) > 50) {
		*error_r = xstrdup("invalid domain or selector (letters, digits, '.', '-', '_')");
		return -1;
	}
	char *dir = xasprintf("%s/dkim", data_dir);
	char *ddir = xasprintf("%s/dkim/%s", data_dir, domain);
	int ret = mkdir_p(dir) == 0 && mkdir_p(ddir) == 0 ? 0 : -1;
	if (ret < 0)
		*error_r = xasprintf("%s: %s", ddir, strerror(errno));
	for (int alg = 0; ret == 0 && alg < 2; alg++) {
		char *p = key_path(data_dir, domain, selector, (enum mailauth_dkim_alg)alg);
		if (access(p, F_OK) == 0) {
			*error_r = xasprintf("selector %s already exists for %s", selector, domain);
			ret = -1;
		}
		free(p);
	}
	for (int alg = 0; ret == 0 && alg < 2; alg++) {
		char *p = key_path(data_dir, domain, selector, (enum mailauth_dkim_alg)alg);
		ret = generate_one(p, (enum mailauth_dkim_alg)alg, error_r);
		free(p);
	}
	char active[64];
	if (ret == 0 && mailauth_keys_active(data_dir, domain, active, sizeof(active)) == 0)
		ret = mailauth_keys_activate(data_dir, domain, selector, error_r);
	free(dir);
	free(ddir);
	return ret;
}

int mailauth_keys_activate(const char *data_dir, const char *domain, const char *selector,
			   char **error_r)
{
	if (!mailauth_name_valid(domain) || !mailauth_name_valid(selector)) {
		*error_r = xstrdup("invalid domain or selector");
		return -1;
	}
	bool any = false;
	for (int alg = 0; alg < 2; alg++) {
		char *p = key_path(data_dir, domain, selector, (enum mailauth_dkim_alg)alg);
		any = any || access(p, R_OK) == 0;
		free(p);
	}
	if (!any) {
		*error_r = xasprintf("no keys for selector %s of %s", selector, domain);
		return -1;
	}
	char *path = xasprintf("%s/dkim/%s/active", data_dir, domain);
	char *line = xasprintf("%s\n", selector);
	int r = write_file(path, line, strlen(line), false, error_r);
	free(line);
	free(path);
	return r;
}

int mailauth_keys_active(const char *data_dir, const char *domain, char *out, size_t outsz)
{
	if (!mailauth_name_valid(domain))
		return 0;
	char *path = xasprintf("%s/dkim/%s/active", data_dir, domain);
	FILE *f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	char line[128] = "";
	bool ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (!ok || !mailauth_name_valid(line) || strlen(line) >= outsz)
		return -1;
	snprintf(out, outsz, "%s", line);
	return 1;
}

/* --- DNS records ----------------------------------------------------------------- */

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* The p= value: base64 of SubjectPublicKeyInfo (RSA) or of the raw key (Ed25519). */
static char *public_b64(EVP_PKEY *k, enum mailauth_dkim_alg alg)
{
	unsigned char raw[64], *der = NULL;
	size_t n = sizeof(raw);
	int len;
	if (alg == MAILAUTH_DKIM_ED25519) {
		if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1)
			return NULL;
		len = (int)n;
		der = raw;
	} else {
		len = i2d_PUBKEY(k, &der);
		if (len <= 0)
			return NULL;
	}
	char *out = xmalloc((size_t)(len / 3 + 2) * 4 + 1);
	EVP_EncodeBlock((unsigned char *)out, der, len);
	if (der != raw)
		OPENSSL_free(der);
	return out;
}

/* One zone-file line, the value cut into 255-octet character-strings. */
static void txt_line(struct buf *out, const char *name, const char *value)
{
	buf_printf(out, "%s. IN TXT", name);
	size_t len = strlen(value);
	for (size_t i = 0; i < len || i == 0; i += 255)
		buf_printf(out, " \"%.*s\"", (int)(len - i < 255 ? len - i : 255), value + i);
	buf_append_str(out, "\n");
}

int mailauth_keys_dns_records(const char *data_dir, const char *domain, const char *selector,
			      struct buf *out)
{
	if (!mailauth_name_valid(domain) || !mailauth_name_valid(selector))
		return -1;
	int found = 0;
	for (int alg = 0; alg < 2; alg++) {
		char *p = key_path(data_dir, domain, selector, (enum mailauth_dkim_alg)alg);
		EVP_PKEY *k = read_key(p);
		free(p);
		if (k == NULL)
			continue;
		char *b64 = public_b64(k, (enum mailauth_dkim_alg)alg);
		EVP_PKEY_free(k);
		if (b64 == NULL)
			return -1;
		char sel[128];
		mailauth_dns_selector(selector, (enum mailauth_dkim_alg)alg, sel, sizeof(sel));
		char *name = xasprintf("%s._domainkey.%s", sel, domain);
		char *value = xasprintf("v=DKIM1; k=%s; p=%s", alg_ext[alg], b64);
		txt_line(out, name, value);
		free(name);
		free(value);
		free(b64);
		found++;
	}
	return found;
}

/* --- listing ---------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (malloc'd array of malloc'd strings). */
static char **dir_names(const char *dir, size_t *n_r)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	*n_r = 0;
	if (d == NULL)
		return NULL;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	*n_r = n;
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void list_domain(const char *data_dir, const char *domain,
			void (*cb)(void *, const char *, const char *, bool, bool, bool), void *ctx)
{
	char *dir = xasprintf("%s/dkim/%s", data_dir, domain);
	size_t n;
	char **files = dir_names(dir, &n);
	char active[128] = "";
	if (mailauth_keys_active(data_dir, domain, active, sizeof(active)) <= 0)
		active[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *suffix = ".rsa.pem";
		size_t fl = strlen(files[i]), sl = strlen(suffix);
		if (fl <= sl || strcmp(files[i] + fl - sl, suffix) != 0)
			continue;
		char *sel = xstrndup(files[i], fl - sl);
		char *ed = key_path(data_dir, domain, sel, MAILAUTH_DKIM_ED25519);
		cb(ctx, domain, sel, true, access(ed, F_OK) == 0, strcmp(sel, active) == 0);
		free(ed);
		free(sel);
	}
	/* Ed25519-only selectors (the RSA key removed by hand). */
	for (size_t i = 0; i < n; i++) {
		const char *suffix = ".ed25519.pem";
		size_t fl = strlen(files[i]), sl = strlen(suffix);
		if (fl <= sl || strcmp(files[i] + fl - sl, suffix) != 0)
			continue;
		char *sel = xstrndup(files[i], fl - sl);
		char *rsa = key_path(data_dir, domain, sel, MAILAUTH_DKIM_RSA);
		if (access(rsa, F_OK) != 0)
			cb(ctx, domain, sel, false, true, strcmp(sel, active) == 0);
		free(rsa);
		free(sel);
	}
	free_names(files, n);
	free(dir);
}

int mailauth_keys_list(const char *data_dir,
		       void (*cb)(void *ctx, const char *domain, const char *selector, bool rsa,
				  bool ed25519, bool active),
		       void *ctx)
{
	char *dir = xasprintf("%s/dkim", data_dir);
	size_t n;
	char **domains = dir_names(dir, &n);
	for (size_t i = 0; i < n; i++)
		if (mailauth_name_valid(domains[i]))
			list_domain(data_dir, domains[i], cb, ctx);
	free_names(domains, n);
	free(dir);
	return 0;
}
