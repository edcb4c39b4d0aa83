/* SPDX-License-Identifier: MIT */
/*
 * The byte-level pieces of SASL: strict base64 (RFC 4648, standard
 * alphabet, padding required, nothing else tolerated, since a lenient
 * decoder is a smuggling surface) and the PLAIN message (RFC 4616).
 */
#include "auth/auth.h"
#include "auth/auth-private.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

#define SASL_FIELD_MAX 512 /* each output holds this many bytes, NUL included */

long auth_base64_decode(const char *in, size_t inlen, char *out, size_t outsz)
{
	if (in == NULL || out == NULL || outsz == 0 || auth_sodium_init() < 0)
		return -1;
	if (inlen % 4 != 0)
		return -1; /* padding is required */
	size_t bin_len = 0;
	const char *end = NULL;
	if (sodium_base642bin((unsigned char *)out, outsz - 1, in, inlen, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	/* sodium stops quietly at the first foreign byte: refuse that too */
	if (end != in + inlen)
		return -1;
	out[bin_len] = '\0';
	return (long)bin_len;
}

long auth_base64_encode(const void *in, size_t inlen, char *out, size_t outsz)
{
	if ((in == NULL && inlen > 0) || out == NULL || auth_sodium_init() < 0)
		return -1;
	size_t need = sodium_base64_encoded_len(inlen, sodium_base64_VARIANT_ORIGINAL);
	if (need > outsz)
		return -1;
	sodium_bin2base64(out, outsz, in != NULL ? in : (const void *)"", inlen,
			  sodium_base64_VARIANT_ORIGINAL);
	return (long)strlen(out);
}

/* Copy a field of len bytes into out (SASL_FIELD_MAX), or fail if too long. */
static int copy_field(char *out, const char *field, size_t len)
{
	if (len >= SASL_FIELD_MAX)
		return -1;
	memcpy(out, field, len);
	out[len] = '\0';
	return 0;
}

int auth_sasl_plain_parse(const char *msg, size_t len, char *authcid_r, char *passwd_r)
{
	if (msg == NULL)
		return -1;
	const char *nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return -1;
	size_t rest = len - (size_t)(nul1 + 1 - msg);
	const char *authcid = nul1 + 1;
	const char *nul2 = memchr(authcid, '\0', rest);
	if (nul2 == NULL)
		return -1;
	const char *passwd = nul2 + 1;
	size_t authzid_len = (size_t)(nul1 - msg);
	size_t authcid_len = (size_t)(nul2 - authcid);
	size_t passwd_len = len - (size_t)(passwd - msg);
	/* RFC 4616: passwd is 1*SAFE, NUL excluded */
	if (authcid_len == 0 || passwd_len == 0 || memchr(passwd, '\0', passwd_len) != NULL)
		return -1;
	if (copy_field(authcid_r, authcid, authcid_len) < 0 ||
	    copy_field(passwd_r, passwd, passwd_len) < 0) {
		sodium_memzero(passwd_r, SASL_FIELD_MAX);
		return -1;
	}
	/*
	 * We do not let one user act as another: an authzid, if given, must
	 * name the same account (addresses compare case-insensitively).
	 */
	if (authzid_len > 0 &&
	    (authzid_len != authcid_len || strncasecmp(msg, authcid, authcid_len) != 0)) {
		sodium_memzero(passwd_r, SASL_FIELD_MAX);
		return -1;
	}
	return 0;
}
