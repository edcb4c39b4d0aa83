/* SPDX-License-Identifier: MIT */
/*
 * The ManageSieve server (RFC 5804) as a connection engine for net/: users
 * upload, check, list, activate, fetch, rename and delete their Sieve
 * scripts (src/sieve/, store-sieve.c) after STARTTLS and the same SASL
 * authentication as IMAP. The daemon maps the "managesieve" listener kind
 * to managesieve_proto; everything else about the module is internal.
 */
#ifndef FACTEUR_MANAGESIEVE_H
#define FACTEUR_MANAGESIEVE_H

#include "net/conn.h"

/*
 * The engine bound to this worker's store and auth pool. open() expects a
 * struct server_ctx whose config and store outlive the session.
 */
extern const struct conn_proto managesieve_proto;

#endif
