/* SPDX-License-Identifier: MIT */
/*
 * The IMAP server (IMAP4rev2, RFC 9051, and IMAP4rev1, RFC 3501, with the
 * extensions listed in imap-commands.c) as a connection engine for net/.
 * The daemon maps the "imap" (STARTTLS) and "imaps" (implicit TLS)
 * listener kinds to imap_proto; everything else about the module is
 * internal (imap-private.h).
 */
#ifndef FACTEUR_IMAP_H
#define FACTEUR_IMAP_H

#include "net/conn.h"

/*
 * The IMAP engine bound to this worker's store and auth/. open() expects a
 * struct server_ctx whose config and store outlive the session.
 */
extern const struct conn_proto imap_proto;

#endif
