/* SPDX-License-Identifier: MIT */
/*
 * The POP3 server (RFC 1939, CAPA and response codes of RFC 2449, SASL of
 * RFC 5034, STLS of RFC 2595) as a connection engine for net/. The daemon
 * maps the "pop3" (STLS) and "pop3s" (implicit TLS) listener kinds to
 * pop3_proto; everything else about the module is internal.
 */
#ifndef FACTEUR_POP3_H
#define FACTEUR_POP3_H

#include "net/conn.h"

/*
 * The POP3 engine bound to this worker's store and auth/. open() expects a
 * struct server_ctx whose config and store outlive the session.
 */
extern const struct conn_proto pop3_proto;

#endif
