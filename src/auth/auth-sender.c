/* SPDX-License-Identifier: MIT */
/*
 * Who may a submitting user say they are. SMTP submission (MAIL FROM and
 * the From:/Sender: fields at the end of DATA) and JMAP (identities,
 * EmailSubmission) ask the same question with the same answer: the
 * account's own address, an address the store delivers to the account
 * (alias, sub-address, catch-all), the email of one of its JMAP
 * identities, or an exception the administrator listed in
 * submission_from_exceptions. The header parsing is mime/'s
 * (mime_author_addresses); the exception list is re-read from the
 * configuration string at each check, which is short and rarely used, so
 * there is no second copy to keep in step.
 */
#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mime/mime.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SENDER_TARGETS 64

/* Is "login:address" (or "login:@domain") in the list for this login? */
static bool sender_exception(const char *list, const char *login, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *p = list;
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ", \t");
		const char *colon = memchr(p, ':', n);
		if (colon != NULL) {
			size_t ul = (size_t)(colon - p), al = n - ul - 1;
			const char *a = colon + 1;
			bool user_ok = strlen(login) == ul && strncasecmp(p, login, ul) == 0;
			bool addr_ok = (strlen(addr) == al && strncasecmp(a, addr, al) == 0) ||
				(al > 1 && a[0] == '@' && at != NULL && strlen(at) == al &&
				 strncasecmp(a, at, al) == 0);
			if (user_ok && addr_ok)
				return true;
		}
		p += n;
	}
	return false;
}

struct identity_find {
	const char *addr;
	bool found;
};

static void identity_cb(void *ctx, int64_t id, const char *data)
{
	struct identity_find *f = ctx;
	(void)id;
	if (f->found)
		return;
	json_t *j = json_loads(data, 0, NULL);
	const char *email = json_string_value(json_object_get(j, "email"));
	f->found = email != NULL && strcasecmp(email, f->addr) == 0;
	json_decref(j);
}

int auth_sender_allowed(struct store *store, const struct config *cfg, int64_t account_id,
			const char *login, const char *addr)
{
	if (addr == NULL || *addr == '\0')
		return 0;
	if (login != NULL && strcasecmp(addr, login) == 0)
		return 1;
	if (cfg != NULL && login != NULL &&
	    sender_exception(cfg->submission_from_exceptions, login, addr))
		return 1;
	int64_t ids[SENDER_TARGETS];
	char *remote[SENDER_TARGETS];
	size_t n = 0, n_remote = 0;
	int r = store_resolve(store, addr, ids, &n, remote, &n_remote, SENDER_TARGETS);
	for (size_t i = 0; i < n_remote; i++)
		free(remote[i]);
	if (r < 0)
		return -1;
	for (size_t i = 0; r > 0 && i < n; i++)
		if (ids[i] == account_id)
			return 1;
	struct identity_find f = {.addr = addr};
	if (store_jmap_object_list(store, account_id, STORE_JMAP_IDENTITY, identity_cb, &f) < 0)
		return -1;
	return f.found ? 1 : 0;
}

int auth_sender_check_message(struct store *store, const struct config *cfg, int64_t account_id,
			      const char *login, const char *msg, size_t len, char *why,
			      size_t whysz)
{
	char **addrs;
	size_t n;
	const char *error;
	if (mime_author_addresses(msg, len, &addrs, &n, &error) < 0) {
		snprintf(why, whysz, "%s", error);
		return 0;
	}
	int ok = 1;
	for (size_t i = 0; ok == 1 && i < n; i++) {
		ok = auth_sender_allowed(store, cfg, account_id, login, addrs[i]);
		if (ok == 0) {
			char safe[160];
			str_sanitize(safe, sizeof(safe), addrs[i], strlen(addrs[i]));
			snprintf(why, whysz,
				 "From/Sender address %s not owned by the authenticated user",
				 safe);
		}
	}
	mime_addresses_free(&addrs, n);
	return ok;
}
