/* SPDX-License-Identifier: MIT */
/*
 * OpenSSL set-up: the server context every TLS listener and STARTTLS
 * upgrade shares (with ALPN chosen per listener), and the self-signed certificate `facteur init` makes for
 * the embedded default.
 */
#include "net/net.h"
#include "net/conn.h"
#include "net/net-private.h"
#include "lib/util.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *ssl_error(const char *what)
{
	char msg[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return xasprintf("%s: %s", what, e ? msg : "unknown TLS error");
}

/*
 * ALPN (RFC 7301): the connection stores its engine's protocol list (wire
 * format) as the SSL's app data before the handshake. A listener whose
 * engine names none answers no ALPN at all; an HTTP listener picks from its
 * list in our order ("http/1.1" today, "h2" can be put first later). A
 * client that offers only protocols we do not speak gets the
 * no_application_protocol alert, so a TLS stream meant for another service
 * is never answered by the wrong one (cross-protocol attacks).
 */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)arg;
	const char *ours = SSL_get_app_data(ssl);
	if (ours == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	unsigned char *sel = NULL;
	unsigned char sel_len = 0;
	if (SSL_select_next_proto(&sel, &sel_len, (const unsigned char *)ours,
				  (unsigned)strlen(ours), in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	*outlen = sel_len;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *net_tls_server_ctx(const char *cert, const char *key, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = ssl_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx,
			    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS");
	SSL_CTX_set_mode(ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*error_r = ssl_error(cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = ssl_error(key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int add_san(X509 *x, const char *hostname)
{
	char *san = xasprintf("DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", hostname);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	free(san);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static int write_pem(const char *path, int mode, int (*fn)(FILE *, void *), void *obj)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	int ok = fn(f, obj);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	fclose(f);
	return ok ? 0 : -1;
}

static int write_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

int net_tls_make_self_signed(const char *hostname, const char *cert_path, const char *key_path,
			     char **error_r)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	int ret = -1;
	if (key == NULL || x == NULL) {
		*error_r = ssl_error("key generation");
		goto out;
	}
	unsigned char serial[16];
	random_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)hostname, -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	if (add_san(x, hostname) < 0 || X509_sign(x, key, EVP_sha256()) == 0) {
		*error_r = ssl_error("certificate");
		goto out;
	}
	if (write_pem(key_path, 0600, write_key, key) < 0 ||
	    write_pem(cert_path, 0644, write_cert, x) < 0) {
		*error_r = xasprintf("cannot write %s or %s", cert_path, key_path);
		goto out;
	}
	ret = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

/*
 * RFC 9266 defines tls-exporter for TLS 1.3, and for TLS 1.2 only with the
 * extended master secret (RFC 7627); tls-unique (RFC 5929, the first
 * Finished message of the handshake: the client's in a full handshake, ours
 * in a resumption) exists only in TLS 1.2, and without the extended master
 * secret the triple-handshake attack defeats it, so we offer it only with
 * it too. Renegotiation is off, so the values cannot change afterwards.
 */
void net_tls_binding(SSL *ssl, struct conn_tls_binding *b)
{
	memset(b, 0, sizeof(*b));
	int version = SSL_version(ssl);
	bool tls13 = version >= TLS1_3_VERSION;
	if (!tls13 && SSL_get_extms_support(ssl) != 1)
		return;
	static const char label[] = "EXPORTER-Channel-Binding";
	if (SSL_export_keying_material(ssl, b->exporter, sizeof(b->exporter), label,
				       sizeof(label) - 1, NULL, 0, 0) == 1)
		b->exporter_len = sizeof(b->exporter);
	if (tls13)
		return;
	size_t n = SSL_session_reused(ssl)
		? SSL_get_finished(ssl, b->unique, sizeof(b->unique))
		: SSL_get_peer_finished(ssl, b->unique, sizeof(b->unique));
	if (n > 0 && n <= sizeof(b->unique))
		b->unique_len = (unsigned char)n;
}
