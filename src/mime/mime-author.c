/* SPDX-License-Identifier: MIT */
/*
 * The author addresses of a message (its From: and Sender: fields), for
 * the submission check that a user sends only as addresses they own
 * (smtp/ and jmap/ call it on what the client hands over). The header
 * block is read with mime_text_each_header and each field's value parsed
 * by GMime in strict RFC 5322 mode, group syntax (RFC 6854) included, so
 * a group's members are checked like mailboxes. Anything that could make
 * two programs disagree about who wrote the message is refused rather
 * than guessed at: two From: or two Sender: fields, a field that holds no
 * address, an address GMime reads but that is not a valid local@domain.
 */
#include "mime/mime.h"
#include "mime/mime-private.h"
#include "lib/util.h"

#include <gmime/gmime.h>
#include <string.h>
#include <strings.h>

struct author_walk {
	char **addrs;
	size_t n, cap;
	unsigned n_from, n_sender;
	const char *error;
};

static void author_add(struct author_walk *w, const char *addr)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4;
		w->addrs = xrealloc(w->addrs, w->cap * sizeof(*w->addrs));
	}
	w->addrs[w->n++] = xstrdup(addr);
}

/* Each mailbox of list (group members included); the count of them, or -1. */
static int author_list(struct author_walk *w, InternetAddressList *list, int depth)
{
	int found = 0;
	int n = internet_address_list_length(list);
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			InternetAddressList *members =
				internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
			int k = depth > 0 || members == NULL ? -1 : author_list(w, members, 1);
			if (k < 0)
				return -1;
			found += k;
			continue;
		}
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		if (addr == NULL || strchr(addr, '@') == NULL || mime_address_valid(addr, 1) != 1)
			return -1;
		author_add(w, addr);
		found++;
	}
	return found;
}

static bool author_field(void *ctx, const char *name, size_t nlen, const char *value)
{
	struct author_walk *w = ctx;
	bool from = nlen == 4 && strncasecmp(name, "From", 4) == 0;
	bool sender = nlen == 6 && strncasecmp(name, "Sender", 6) == 0;
	if (!from && !sender)
		return false;
	if ((from && ++w->n_from > 1) || (sender && ++w->n_sender > 1)) {
		w->error = from ? "more than one From: field" : "more than one Sender: field";
		return true;
	}
	GMimeParserOptions *opts = g_mime_parser_options_new();
	g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_STRICT);
	InternetAddressList *list = internet_address_list_parse(opts, value);
	g_mime_parser_options_free(opts);
	int k = list != NULL ? author_list(w, list, 0) : -1;
	if (list != NULL)
		g_object_unref(list);
	if (k <= 0) {
		w->error = from ? "malformed From: field" : "malformed Sender: field";
		return true;
	}
	return false;
}

int mime_author_addresses(const char *msg, size_t len, char ***addrs_r, size_t *n_r,
			  const char **error_r)
{
	struct author_walk w = {0};
	mime_text_each_header(msg, mime_text_header_len(msg, len), author_field, &w);
	if (w.error != NULL) {
		mime_addresses_free(&w.addrs, w.n);
		*addrs_r = NULL;
		*n_r = 0;
		*error_r = w.error;
		return -1;
	}
	*addrs_r = w.addrs;
	*n_r = w.n;
	return w.n_from > 0 ? 1 : 0;
}

void mime_addresses_free(char ***addrs, size_t n)
{
	for (size_t i = 0; *addrs != NULL && i < n; i++)
		free((*addrs)[i]);
	free(*addrs);
	*addrs = NULL;
}
