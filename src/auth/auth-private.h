/* SPDX-License-Identifier: MIT */
/*
 * Internals of auth/: one-time libsodium initialisation shared by the
 * password and base64 code.
 */
#ifndef FACTEUR_AUTH_PRIVATE_H
#define FACTEUR_AUTH_PRIVATE_H

/* sodium_init() once per process (thread-safe). 0, or -1 if it failed. */
int auth_sodium_init(void);

#endif
