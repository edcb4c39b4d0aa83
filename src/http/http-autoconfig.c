/* SPDX-License-Identifier: MIT */
/*
 * Mail-client auto-configuration, from the listeners actually configured:
 * Thunderbird's autoconfig (config-v1.1.xml), Outlook's autodiscover "POX"
 * answer (GET, or POST with the address in the request XML), and an Apple
 * configuration profile (.mobileconfig) for the signed-in user with IMAP
 * and SMTP submission settings and no password inside. Implicit TLS ports
 * are preferred; STARTTLS ports are named as well where the format allows.
 * Nothing here reads the store: a request only learns our host name and
 * ports, which the DNS publishes anyway.
 */
#include "http/http-private.h"

#include "lib/config.h"
#include "lib/server-ctx.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void http_xml_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			buf_append_str(out, "&lt;");
			break;
		case '>':
			buf_append_str(out, "&gt;");
			break;
		case '&':
			buf_append_str(out, "&amp;");
			break;
		case '"':
			buf_append_str(out, "&quot;");
			break;
		case '\'':
			buf_append_str(out, "&apos;");
			break;
		default:
			buf_append(out, s, 1);
		}
	}
}

/* An e-mail address of plain characters (it is echoed into XML). */
static bool address_ok(const char *a)
{
	const char *at = strchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0' || strlen(a) > 254)
		return false;
	for (const char *p = a; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("@.-_+=~!#$%&'*/?^`{|}", *p) == NULL)
			return false;
	return strchr(at + 1, '@') == NULL;
}

static void xml_reply(struct http_response *resp, const char *type)
{
	resp->status = 200;
	resp->content_type = type;
	buf_append_str(&resp->headers, "Cache-Control: no-store\r\n");
}

struct server_entry {
	const char *xml_type; /* "imap", "pop3", "smtp" */
	int kind;
	const char *socket; /* SSL or STARTTLS */
};

static const struct server_entry incoming[] = {
	{"imap", LISTENER_IMAPS, "SSL"},
	{"imap", LISTENER_IMAP, "STARTTLS"},
	{"pop3", LISTENER_POP3S, "SSL"},
	{"pop3", LISTENER_POP3, "STARTTLS"},
};
static const struct server_entry outgoing[] = {
	{"smtp", LISTENER_SUBMISSIONS, "SSL"},
	{"smtp", LISTENER_SUBMISSION, "STARTTLS"},
};

static void tb_server(struct buf *b, const struct http_conn *c, const struct server_entry *e,
		      const char *element)
{
	int port = http_config_port(c->ctx, e->kind);
	if (port == 0)
		return;
	buf_printf(b, "    <%s type=\"%s\">\n      <hostname>", element, e->xml_type);
	http_xml_escape(b, c->ctx->config->hostname);
	buf_printf(b,
		   "</hostname>\n      <port>%d</port>\n      <socketType>%s</socketType>\n"
		   "      <username>%%EMAILADDRESS%%</username>\n"
		   "      <authentication>password-cleartext</authentication>\n    </%s>\n",
		   port, e->socket, element);
}

void http_autoconfig_thunderbird(struct http_conn *c, const struct http_request *req,
				 struct http_response *resp)
{
	char address[256] = "";
	const char *domain = c->ctx->config->hostname;
	if (http_query_param(req->query, "emailaddress", address, sizeof(address)) == 1 &&
	    address_ok(address))
		domain = strchr(address, '@') + 1;
	struct buf *b = &resp->body;
	buf_append_str(b,
		       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<clientConfig version=\"1.1\">\n  <emailProvider id=\"");
	http_xml_escape(b, domain);
	buf_append_str(b, "\">\n    <domain>");
	http_xml_escape(b, domain);
	buf_append_str(b, "</domain>\n    <displayName>facteur (");
	http_xml_escape(b, c->ctx->config->hostname);
	buf_append_str(b, ")</displayName>\n");
	for (size_t i = 0; i < sizeof(incoming) / sizeof(incoming[0]); i++)
		tb_server(b, c, &incoming[i], "incomingServer");
	for (size_t i = 0; i < sizeof(outgoing) / sizeof(outgoing[0]); i++)
		tb_server(b, c, &outgoing[i], "outgoingServer");
	buf_append_str(b, "  </emailProvider>\n</clientConfig>\n");
	xml_reply(resp, "application/xml; charset=utf-8");
}

/* <EMailAddress>...</EMailAddress> of an autodiscover request, if plain. */
static void pox_address(const struct http_request *req, char *out, size_t size)
{
	static const char open_tag[] = "<EMailAddress>";
	*out = '\0';
	if (req->body.len == 0 || req->body.len > 16384)
		return;
	char *body = xstrndup(req->body.data, req->body.len);
	char *p = strstr(body, open_tag);
	char *end = p != NULL ? strstr(p, "</EMailAddress>") : NULL;
	if (end != NULL) {
		p += sizeof(open_tag) - 1;
		size_t n = (size_t)(end - p);
		if (n < size) {
			memcpy(out, p, n);
			out[n] = '\0';
			if (!address_ok(out))
				*out = '\0';
		}
	}
	free(body);
}

static void pox_protocol(struct buf *b, const struct http_conn *c, const char *type, int kind,
			 bool implicit, const char *login)
{
	int port = http_config_port(c->ctx, kind);
	if (port == 0)
		return;
	buf_printf(b, "      <Protocol>\n        <Type>%s</Type>\n        <Server>", type);
	http_xml_escape(b, c->ctx->config->hostname);
	buf_printf(b, "</Server>\n        <Port>%d</Port>\n", port);
	if (*login != '\0') {
		buf_append_str(b, "        <LoginName>");
		http_xml_escape(b, login);
		buf_append_str(b, "</LoginName>\n");
	}
	buf_printf(b,
		   "        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n"
		   "        %s\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
		   implicit ? "<SSL>on</SSL>" : "<Encryption>TLS</Encryption>");
}

void http_autoconfig_outlook(struct http_conn *c, const struct http_request *req,
			     struct http_response *resp)
{
	char address[256];
	pox_address(req, address, sizeof(address));
	struct buf *b = &resp->body;
	buf_append_str(b,
		       "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		       "<Autodiscover "
		       "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/"
		       "2006\">\n"
		       "  <Response "
		       "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
		       "responseschema/2006a\">\n"
		       "    <Account>\n      <AccountType>email</AccountType>\n"
		       "      <Action>settings</Action>\n");
	bool imaps = http_config_port(c->ctx, LISTENER_IMAPS) != 0;
	pox_protocol(b, c, "IMAP", imaps ? LISTENER_IMAPS : LISTENER_IMAP, imaps, address);
	bool pop3s = http_config_port(c->ctx, LISTENER_POP3S) != 0;
	pox_protocol(b, c, "POP3", pop3s ? LISTENER_POP3S : LISTENER_POP3, pop3s, address);
	bool subs = http_config_port(c->ctx, LISTENER_SUBMISSIONS) != 0;
	pox_protocol(b, c, "SMTP", subs ? LISTENER_SUBMISSIONS : LISTENER_SUBMISSION, subs,
		     address);
	buf_append_str(b, "    </Account>\n  </Response>\n</Autodiscover>\n");
	xml_reply(resp, "application/xml; charset=utf-8");
}

static void plist_string(struct buf *b, const char *key, const char *value)
{
	buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t<string>", key);
	http_xml_escape(b, value);
	buf_append_str(b, "</string>\n");
}

static void plist_int(struct buf *b, const char *key, int value)
{
	buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t<integer>%d</integer>\n", key, value);
}

static void plist_bool(struct buf *b, const char *key, bool value)
{
	buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t<%s/>\n", key, value ? "true" : "false");
}

static void uuid(char *out, size_t size)
{
	unsigned char r[16];
	if (random_bytes(r, sizeof(r)) < 0)
		memset(r, 0x5a, sizeof(r));
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, size, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
		 r[13], r[14], r[15]);
}

void http_autoconfig_mobileconfig(struct http_conn *c, const struct http_request *req,
				  struct http_response *resp)
{
	(void)req;
	const char *host = c->ctx->config->hostname;
	bool imaps = http_config_port(c->ctx, LISTENER_IMAPS) != 0;
	bool subs = http_config_port(c->ctx, LISTENER_SUBMISSIONS) != 0;
	int in_port = http_config_port(c->ctx, imaps ? LISTENER_IMAPS : LISTENER_IMAP);
	int out_port = http_config_port(c->ctx, subs ? LISTENER_SUBMISSIONS : LISTENER_SUBMISSION);
	char u1[40], u2[40];
	uuid(u1, sizeof(u1));
	uuid(u2, sizeof(u2));
	struct buf *b = &resp->body;
	buf_append_str(b,
		       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
		       "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
		       "<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n"
		       "\t<array>\n\t\t<dict>\n");
	plist_string(b, "EmailAccountDescription", c->id.username);
	plist_string(b, "EmailAccountType", "EmailTypeIMAP");
	plist_string(b, "EmailAddress", c->id.username);
	plist_string(b, "IncomingMailServerAuthentication", "EmailAuthPassword");
	plist_string(b, "IncomingMailServerHostName", host);
	plist_int(b, "IncomingMailServerPortNumber", in_port);
	plist_bool(b, "IncomingMailServerUseSSL", imaps);
	plist_string(b, "IncomingMailServerUsername", c->id.username);
	plist_string(b, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	plist_string(b, "OutgoingMailServerHostName", host);
	plist_int(b, "OutgoingMailServerPortNumber", out_port);
	plist_bool(b, "OutgoingMailServerUseSSL", subs);
	plist_string(b, "OutgoingMailServerUsername", c->id.username);
	plist_bool(b, "OutgoingPasswordSameAsIncomingPassword", true);
	plist_string(b, "PayloadDisplayName", "Mail");
	plist_string(b, "PayloadIdentifier", "org.facteur.mail.account");
	plist_string(b, "PayloadType", "com.apple.mail.managed");
	plist_string(b, "PayloadUUID", u1);
	plist_int(b, "PayloadVersion", 1);
	buf_append_str(b, "\t\t</dict>\n\t</array>\n");
	buf_append_str(b, "\t<key>PayloadDisplayName</key>\n\t<string>");
	http_xml_escape(b, c->id.username);
	buf_append_str(b, "</string>\n\t<key>PayloadIdentifier</key>\n\t<string>org.facteur.mail");
	buf_printf(b,
		   "</string>\n\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
		   "\t<key>PayloadUUID</key>\n\t<string>%s</string>\n"
		   "\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n</plist>\n",
		   u2);
	xml_reply(resp, "application/x-apple-aspen-config");
	buf_append_str(&resp->headers,
		       "Content-Disposition: attachment; filename=\"facteur.mobileconfig\"\r\n");
}
