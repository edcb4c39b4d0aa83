/* SPDX-License-Identifier: MIT */
/*
 * Password hashing with argon2id through libsodium (t=2, m=19 MiB, p=1,
 * the OWASP baseline), stored as the standard "$argon2id$v=19$..."
 * encoding so the parameters travel with each hash and can be raised
 * later without invalidating old ones. sodium_init() runs once, whichever
 * thread gets here first.
 */
#include "auth/auth.h"
#include "auth/auth-private.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_OPSLIMIT 2
#define AUTH_MEMLIMIT (19u * 1024u * 1024u)

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status;

static void sodium_setup(void)
{
	sodium_status = sodium_init();
}

int auth_sodium_init(void)
{
	pthread_once(&sodium_once, sodium_setup);
	return sodium_status < 0 ? -1 : 0;
}

int auth_password_hash(const char *password, char *out, size_t outsz)
{
	_Static_assert(AUTH_HASH_MAX >= crypto_pwhash_STRBYTES, "AUTH_HASH_MAX too small");
	if (password == NULL || out == NULL || outsz < crypto_pwhash_STRBYTES ||
	    auth_sodium_init() < 0)
		return -1;
	char tmp[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str_alg(tmp, password, strlen(password), AUTH_OPSLIMIT, AUTH_MEMLIMIT,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -1; /* out of memory */
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

bool auth_password_verify(const char *hash, const char *password)
{
	if (hash == NULL || password == NULL || auth_sodium_init() < 0)
		return false;
	/* libsodium reads the hash as a string of at most STRBYTES-1 */
	if (memchr(hash, '\0', crypto_pwhash_STRBYTES) == NULL)
		return false;
	if (strncmp(hash, "$argon2id$", 10) != 0 && strncmp(hash, "$argon2i$", 9) != 0)
		return false;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
