/* SPDX-License-Identifier: MIT */
/*
 * Sender Rewriting Scheme (srs.c): the envelope sender of forwarded mail,
 * rewritten to an address of ours that carries the original, and back.
 * Process-wide, set once at start (srs_configure), thread-safe.
 */
#ifndef FACTEUR_MAILAUTH_SRS_H
#define FACTEUR_MAILAUTH_SRS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* secret: the HMAC key; domain: the domain of the rewritten addresses. */
void srs_configure(const char *secret, const char *domain, unsigned max_age_days);
bool srs_enabled(void);
/*
 * The rewritten sender: 1 with out filled; 0 when there is nothing to do
 * (null sender, SRS off, a sender already in the SRS domain); -1 when the
 * result would not fit (out or a 64-octet local part): send unrewritten.
 */
int srs_forward(const char *sender, time_t now, char *out, size_t outsz);
/*
 * The address an SRS address stands for: 1 with out filled; 0 not an SRS
 * address (local part not SRS0/SRS1); -1 forged, malformed or expired.
 */
int srs_reverse(const char *address, time_t now, char *out, size_t outsz);

#endif
