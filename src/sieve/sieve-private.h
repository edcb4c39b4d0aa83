/* SPDX-License-Identifier: MIT */
/*
 * The compiled form of a Sieve script, shared by the compiler
 * (sieve-parse.c) and the interpreter (sieve-run.c): one array of nodes
 * linked by indices (no pointers: one allocation, cheap to free), string
 * bytes in one pool. Commands and tests carry what the compiler resolved
 * from their tagged arguments, so the interpreter never looks at tags.
 */
#ifndef FACTEUR_SIEVE_PRIVATE_H
#define FACTEUR_SIEVE_PRIVATE_H

#include "sieve/sieve.h"

enum sieve_node_kind {
	SV_CMD,
	SV_TEST,
	SV_STR,
	SV_LIST, /* string list: children are SV_STR */
	SV_NUM,
	SV_TAG,
};

enum sieve_cmd_id {
	SV_C_REQUIRE,
	SV_C_IF,
	SV_C_ELSIF,
	SV_C_ELSE,
	SV_C_STOP,
	SV_C_KEEP,
	SV_C_DISCARD,
	SV_C_FILEINTO,
	SV_C_REDIRECT,
	SV_C_REJECT,
	SV_C_EREJECT,
	SV_C_SETFLAG,
	SV_C_ADDFLAG,
	SV_C_REMOVEFLAG,
	SV_C_SET,
	SV_C_VACATION,
	SV_C_COUNT
};

enum sieve_test_id {
	SV_T_ADDRESS,
	SV_T_HEADER,
	SV_T_EXISTS,
	SV_T_SIZE,
	SV_T_ALLOF,
	SV_T_ANYOF,
	SV_T_NOT,
	SV_T_TRUE,
	SV_T_FALSE,
	SV_T_ENVELOPE,
	SV_T_HASFLAG,
	SV_T_STRING,
	SV_T_BODY,
	SV_T_DATE,
	SV_T_CURRENTDATE,
	SV_T_COUNT
};

enum sieve_match { SV_M_IS, SV_M_CONTAINS, SV_M_MATCHES, SV_M_COUNT, SV_M_VALUE };
enum sieve_rel { SV_R_GT, SV_R_GE, SV_R_LT, SV_R_LE, SV_R_EQ, SV_R_NE };
enum sieve_cmp { SV_CMP_CASEMAP, SV_CMP_OCTET, SV_CMP_NUMERIC };
enum sieve_part { SV_P_ALL, SV_P_LOCAL, SV_P_DOMAIN, SV_P_USER, SV_P_DETAIL };
enum sieve_body { SV_B_TEXT, SV_B_RAW, SV_B_CONTENT };

/* Set modifiers (RFC 5229), applied in this order of precedence. */
enum sieve_setmod {
	SV_MOD_LOWER = 1 << 0,
	SV_MOD_UPPER = 1 << 1,
	SV_MOD_LOWERFIRST = 1 << 2,
	SV_MOD_UPPERFIRST = 1 << 3,
	SV_MOD_QUOTEWILDCARD = 1 << 4,
	SV_MOD_LENGTH = 1 << 5,
};

/* The field a redirect prepends: the users that redirected the message. */
#define SIEVE_REDIRECT_HEADER "X-Sieve-Redirected-By"

#define SV_NONE (-1)
#define SV_POS_MAX 3

struct sieve_node {
	uint8_t kind; /* enum sieve_node_kind */
	uint8_t id;   /* enum sieve_cmd_id / sieve_test_id */
	uint32_t line, col;
	int32_t next;      /* next sibling (argument, command, test, string) */
	int32_t args;      /* CMD/TEST: first argument; LIST: first string */
	int32_t tests;     /* CMD/TEST: first test of its test / test list */
	int32_t block;     /* CMD: first command of its block */
	uint32_t off, len; /* STR: bytes in the pool; names and tags: in the source */
	uint64_t num;      /* NUM (multiplier applied) */
	/* Resolved by the compiler for commands and tests: */
	int32_t pos[SV_POS_MAX]; /* positional arguments, in order */
	uint8_t match, rel, cmp, part, body, mods;
	bool over;       /* size :over (else :under) */
	bool copy;       /* fileinto/redirect :copy */
	bool create;     /* fileinto :create */
	bool mime;       /* vacation :mime */
	bool last;       /* :index ... :last */
	bool zone_orig;  /* date :originalzone */
	bool seconds;    /* vacation :seconds (days holds seconds) */
	uint32_t index;  /* :index N (0: none) */
	uint32_t days;   /* vacation :days / :seconds */
	int32_t flags;   /* :flags string list (SV_NONE) */
	int32_t subject; /* vacation :subject */
	int32_t from;    /* vacation :from */
	int32_t addrs;   /* vacation :addresses */
	int32_t handle;  /* vacation :handle */
	int32_t zone;    /* date :zone */
	int32_t ctypes;  /* body :content types */
};

/* Extensions named in require. */
enum sieve_ext {
	SV_X_FILEINTO = 1 << 0,
	SV_X_ENVELOPE = 1 << 1,
	SV_X_IMAP4FLAGS = 1 << 2,
	SV_X_COPY = 1 << 3,
	SV_X_VARIABLES = 1 << 4,
	SV_X_RELATIONAL = 1 << 5,
	SV_X_SUBADDRESS = 1 << 6,
	SV_X_BODY = 1 << 7,
	SV_X_REJECT = 1 << 8,
	SV_X_EREJECT = 1 << 9,
	SV_X_VACATION = 1 << 10,
	SV_X_DATE = 1 << 11,
	SV_X_INDEX = 1 << 12,
	SV_X_NUMERIC = 1 << 13,
	SV_X_VACATION_SECONDS = 1 << 14,
};

struct sieve_script {
	struct sieve_node *nodes;
	size_t n_nodes;
	char *pool;
	size_t pool_len;
	int32_t first; /* first top-level command, SV_NONE when empty */
	uint32_t exts; /* enum sieve_ext bits */
};

/* --- matching (sieve-match.c) ------------------------------------------- */

/*
 * Does value match key under match type (IS, CONTAINS, MATCHES, VALUE)
 * and comparator? For MATCHES, caps (may be NULL) receives ${0}..${9}
 * (malloc'd, the caller frees them; unset entries NULL). *budget counts
 * matching steps down; at 0 the answer is "no" and the run fails.
 */
bool sieve_match(uint8_t match, uint8_t rel, uint8_t cmp, const char *value, const char *key,
		 char **caps, unsigned *budget);
/* Relational comparison of two strings under cmp (RFC 5231). */
bool sieve_relational(uint8_t rel, uint8_t cmp, const char *a, const char *b);

/* The part (enum sieve_part) of addr, malloc'd, or NULL when it has none. */
char *sieve_address_part(const char *addr, uint8_t part);
/*
 * The addr-specs of a header value (groups flattened), each malloc'd,
 * appended to *v (grown with xrealloc).
 */
void sieve_addresses(const char *value, char ***v, size_t *n);
/* A header value decoded (RFC 2047) to UTF-8, malloc'd. */
char *sieve_header_decode(const char *raw);
/*
 * Date part (RFC 5260) of time t shown in zone offset (seconds east of
 * UTC), malloc'd, or NULL for an unknown part.
 */
char *sieve_date_part(time_t t, long offset, const char *part);
/* Parse an RFC 5322 date: 1 with *t_r and *offset_r, 0 unreadable. */
int sieve_date_parse(const char *value, time_t *t_r, long *offset_r);
/*
 * The leaf parts of message data whose Content-Type matches types (""
 * all, "text" any text/x, "text/plain" exactly), decoded to UTF-8 text,
 * each malloc'd and appended to *v. With SIEVE_BODY_STRIP, text/html is
 * turned into text. Bounded in parts and bytes (sieve-body.c).
 */
#define SIEVE_BODY_STRIP 1u
void sieve_body_parts(const char *data, size_t len, char *const *types, size_t ntypes, unsigned how,
		      char ***v, size_t *n);

/* "+hhmm"/"-hhmm" to seconds: 1, or 0 when malformed. */
int sieve_zone_parse(const char *zone, long *offset_r);

#endif
