/* SPDX-License-Identifier: MIT */
/*
 * DKIM signing (RFC 6376 with relaxed/relaxed canonicalisation; rsa-sha256,
 * and ed25519-sha256 of RFC 8463), written here with OpenSSL's EVP API
 * rather than with libopendkim: Debian 12's libopendkim (2.11.0~beta2)
 * leaks its private-key objects on every Ed25519 signature (LeakSanitizer
 * shows it), which a long-running daemon cannot afford. Signing only
 * handles our own users' mail and is the small half of DKIM; verification,
 * which meets hostile input, stays with libopendkim, and the unit tests
 * have libopendkim verify what this file signs.
 */
#include "mailauth/mailauth.h"

#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

/* The fields we sign (RFC 6376 section 5.4.1), From once more than present. */
static const char *const sign_fields[] = {
	"from",
	"to",
	"cc",
	"subject",
	"date",
	"message-id",
	"reply-to",
	"in-reply-to",
	"references",
	"mime-version",
	"content-type",
	"content-transfer-encoding",
	"content-disposition",
	"content-id",
	"content-description",
	"list-id",
	"list-unsubscribe",
	"list-unsubscribe-post",
};
#define MAX_FIELDS 256

struct field {
	const char *p; /* "Name: value" with folds, without the final CRLF */
	size_t len;
	size_t name_len;
	bool used;
};

/* --- canonicalisation (RFC 6376 section 3.4) -------------------------------- */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* relaxed header: lower-case name, unfolded, WSP runs as one SP, trimmed. */
static void canon_header(const char *p, size_t len, size_t name_len, struct buf *out)
{
	size_t n = name_len;
	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)p[i]);
		buf_append(out, &c, 1);
	}
	buf_append(out, ":", 1);
	bool space = false, started = false;
	for (size_t i = name_len + 1; i < len; i++) {
		char c = p[i];
		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			space = started;
			continue;
		}
		if (space)
			buf_append(out, " ", 1);
		space = false;
		started = true;
		buf_append(out, &c, 1);
	}
}

/* relaxed body: WSP runs as one SP, none at line ends, no empty lines at the end. */
static void canon_body(const char *p, size_t len, EVP_MD_CTX *md)
{
	size_t empty = 0;
	struct buf line;
	buf_init(&line);
	size_t i = 0;
	while (i < len) {
		const char *eol = memchr(p + i, '\n', len - i);
		size_t end = eol ? (size_t)(eol - p) : len;
		size_t stop = end > i && p[end - 1] == '\r' ? end - 1 : end;
		buf_clear(&line);
		bool space = false;
		for (size_t k = i; k < stop; k++) {
			if (is_wsp(p[k])) {
				space = true;
				continue;
			}
			if (space)
				buf_append(&line, " ", 1);
			space = false;
			buf_append(&line, p + k, 1);
		}
		if (line.len == 0) {
			empty++;
		} else {
			for (; empty > 0; empty--)
				EVP_DigestUpdate(md, "\r\n", 2);
			EVP_DigestUpdate(md, line.data, line.len);
			EVP_DigestUpdate(md, "\r\n", 2);
		}
		i = eol ? end + 1 : len;
	}
	buf_deinit(&line);
}

/* Split the header block into fields; returns the body's offset. */
static size_t split_fields(const char *msg, size_t len, struct field *f, size_t *n_r)
{
	size_t n = 0, i = 0;
	while (i < len) {
		if (msg[i] == '\r' || msg[i] == '\n') { /* the empty line */
			const char *eol = memchr(msg + i, '\n', len - i);
			*n_r = n;
			return eol ? (size_t)(eol - msg) + 1 : len;
		}
		size_t start = i;
		for (;;) {
			const char *eol = memchr(msg + i, '\n', len - i);
			i = eol ? (size_t)(eol - msg) + 1 : len;
			if (i >= len || !is_wsp(msg[i]))
				break;
		}
		size_t end = i;
		while (end > start && (msg[end - 1] == '\n' || msg[end - 1] == '\r'))
			end--;
		const char *colon = memchr(msg + start, ':', end - start);
		if (colon != NULL && n < MAX_FIELDS) {
			f[n].p = msg + start;
			f[n].len = end - start;
			f[n].name_len = (size_t)(colon - msg - start);
			f[n].used = false;
			n++;
		}
	}
	*n_r = n;
	return len;
}

/* The last unused field named name (bottom-up, section 5.4.2), or NULL. */
static struct field *take_field(struct field *f, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = n; i-- > 0;) {
		size_t fl = f[i].name_len;
		while (fl > 0 && is_wsp(f[i].p[fl - 1]))
			fl--;
		if (!f[i].used && fl == nl && strncasecmp(f[i].p, name, nl) == 0) {
			f[i].used = true;
			return &f[i];
		}
	}
	return NULL;
}

/* --- the signature ------------------------------------------------------------ */

static EVP_PKEY *load_key(const char *pem, enum mailauth_dkim_alg alg, const char **error_r)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	int want = alg == MAILAUTH_DKIM_RSA ? EVP_PKEY_RSA : EVP_PKEY_ED25519;
	if (k == NULL || EVP_PKEY_get_base_id(k) != want ||
	    (alg == MAILAUTH_DKIM_RSA && EVP_PKEY_get_bits(k) < 1024)) {
		EVP_PKEY_free(k);
		*error_r = "unusable private key";
		return NULL;
	}
	return k;
}

static void b64(const unsigned char *in, size_t len, struct buf *out)
{
	char *t = xmalloc((len / 3 + 2) * 4 + 1);
	int n = EVP_EncodeBlock((unsigned char *)t, in, (int)len);
	buf_append(out, t, (size_t)n);
	free(t);
}

/*
 * Sign data: rsa-sha256 is PKCS#1 v1.5 over SHA-256; ed25519-sha256 is
 * PureEdDSA over the SHA-256 digest of the data (RFC 8463 section 3).
 */
static int sign_data(EVP_PKEY *k, enum mailauth_dkim_alg alg, const struct buf *data,
		     struct buf *sig_b64)
{
	unsigned char digest[32], sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL;
	if (ok && alg == MAILAUTH_DKIM_ED25519) {
		unsigned dl = 0;
		ok = EVP_Digest(data->data, data->len, digest, &dl, EVP_sha256(), NULL) == 1 &&
			EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
			EVP_DigestSign(md, sig, &siglen, digest, dl) == 1;
	} else if (ok) {
		ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
			EVP_DigestSignUpdate(md, data->data, data->len) == 1 &&
			EVP_DigestSignFinal(md, sig, &siglen) == 1;
	}
	EVP_MD_CTX_free(md);
	if (!ok)
		return -1;
	b64(sig, siglen, sig_b64);
	return 0;
}

/* The DKIM-Signature field up to and including "b=", folded between tags. */
static void sig_field(const char *domain, const char *selector, enum mailauth_dkim_alg alg,
		      const struct buf *h, const struct buf *bh, struct buf *out)
{
	buf_printf(out, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\tt=%lld; ",
		   alg == MAILAUTH_DKIM_ED25519 ? "ed25519-sha256" : "rsa-sha256", domain, selector,
		   (long long)time(NULL));
	buf_append_str(out, "h=");
	size_t col = 10;
	for (size_t i = 0; i < h->len; i++) {
		/* fold the h= list after a colon when the line grows long */
		if (col > 70 && i > 0 && h->data[i - 1] == ':') {
			buf_append_str(out, "\r\n\t ");
			col = 2;
		}
		buf_append(out, &h->data[i], 1);
		col++;
	}
	buf_append_str(out, ";\r\n\tbh=");
	buf_append(out, bh->data, bh->len);
	buf_append_str(out, ";\r\n\tb=");
}

int mailauth_dkim_sign(const char *msg, size_t len, const char *domain, const char *selector,
		       enum mailauth_dkim_alg alg, const char *pem, struct buf *out,
		       const char **error_r)
{
	EVP_PKEY *k = load_key(pem, alg, error_r);
	if (k == NULL)
		return -1;
	struct field *fields = xcalloc(MAX_FIELDS, sizeof(*fields));
	size_t n = 0;
	size_t body = split_fields(msg, len, fields, &n);

	/* body hash */
	unsigned char digest[32];
	unsigned dl = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	canon_body(msg + body, len - body, md);
	EVP_DigestFinal_ex(md, digest, &dl);
	EVP_MD_CTX_free(md);
	struct buf bh, h, data, field, sig;
	buf_init(&bh);
	buf_init(&h);
	buf_init(&data);
	buf_init(&field);
	buf_init(&sig);
	b64(digest, dl, &bh);

	/* the signed fields, in list order, and the h= list */
	for (size_t i = 0; i < sizeof(sign_fields) / sizeof(sign_fields[0]); i++) {
		struct field *f;
		while ((f = take_field(fields, n, sign_fields[i])) != NULL) {
			canon_header(f->p, f->len, f->name_len, &data);
			buf_append_str(&data, "\r\n");
			buf_printf(&h, "%s%s", h.len ? ":" : "", sign_fields[i]);
		}
	}
	buf_append_str(&h, h.len ? ":from" : "from"); /* oversigned: no second From */

	sig_field(domain, selector, alg, &h, &bh, &field);
	canon_header(field.data, field.len, strlen("DKIM-Signature"), &data);
	int r = sign_data(k, alg, &data, &sig);
	if (r == 0) {
		buf_append(out, field.data, field.len);
		for (size_t i = 0; i < sig.len; i += 72) {
			if (i > 0)
				buf_append_str(out, "\r\n\t ");
			buf_append(out, sig.data + i, sig.len - i < 72 ? sig.len - i : 72);
		}
		buf_append_str(out, "\r\n");
	} else {
		*error_r = "signing failed";
	}
	EVP_PKEY_free(k);
	free(fields);
	buf_deinit(&bh);
	buf_deinit(&h);
	buf_deinit(&data);
	buf_deinit(&field);
	buf_deinit(&sig);
	return r;
}
