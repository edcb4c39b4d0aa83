// SPDX-License-Identifier: MIT
// Opening the composer: blank, or as a reply, reply-all or forward of a
// message (quoted text, threading headers, forwarded attachments).
import type { Email } from "./jmap";
import { formatDate, t } from "./i18n";
import { addrText, identity } from "./mail";
import { state, update, type Attachment, type ComposeInit } from "./store";

let seq = 0;

function signature(): string {
	const sig = identity().textSignature;
	return sig ? "\n\n-- \n" + sig : "";
}

function blank(): ComposeInit {
	return {
		key: ++seq, to: "", cc: "", bcc: "", subject: "", text: signature(), html: "", rich: false,
		attachments: [], inReplyTo: null, references: null, replyOf: null, replyKind: null, draftId: null,
	};
}

export function startCompose(to = ""): void {
	update({ compose: { ...blank(), to } });
}

export function bodyText(e: Email): string {
	const parts = e.textBody || [];
	const vals = e.bodyValues || {};
	let text = parts.map((p) => (p.partId && vals[p.partId] ? vals[p.partId].value : "")).join("\n");
	if (!text.trim()) {
		const html = (e.htmlBody || []).map((p) => (p.partId && vals[p.partId] ? vals[p.partId].value : "")).join("");
		if (html) text = new DOMParser().parseFromString(html, "text/html").body.textContent || "";
	}
	return text;
}

function prefixed(prefix: string, subject: string | null): string {
	const s = subject || "";
	return new RegExp("^" + prefix + "\\s*:", "i").test(s) ? s : `${prefix}: ${s}`;
}

function quote(e: Email): string {
	const who = (e.from && e.from[0] && (e.from[0].name || e.from[0].email)) || t("unknownSender");
	const lines = bodyText(e).replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
	return "\n\n" + t("wrote", { date: formatDate(e.sentAt || e.receivedAt, true), name: who }) + "\n" +
		lines.map((l) => (l.startsWith(">") ? ">" + l : "> " + l)).join("\n") + "\n";
}

function mine(a: { email: string }): boolean {
	const me = identity().email.toLowerCase();
	return a.email.toLowerCase() === me || (state.me !== null && a.email.toLowerCase() === state.me.username.toLowerCase());
}

export function startReply(e: Email, all: boolean): void {
	const to = e.replyTo && e.replyTo.length ? e.replyTo : e.from || [];
	let toList = [...to];
	let ccList: typeof toList = [];
	if (all) {
		toList = [...toList, ...(e.to || [])].filter((a, i, arr) => arr.findIndex((b) => b.email.toLowerCase() === a.email.toLowerCase()) === i);
		if (toList.length > 1) toList = toList.filter((a) => !mine(a));
		ccList = (e.cc || []).filter((a) => !mine(a) && !toList.some((b) => b.email.toLowerCase() === a.email.toLowerCase()));
	}
	const refs = [...(e.references || []), ...(e.messageId || [])];
	update({
		compose: {
			...blank(),
			to: addrText(toList), cc: addrText(ccList), subject: prefixed("Re", e.subject),
			text: signature() + quote(e),
			inReplyTo: e.messageId || null, references: refs.length ? refs : null, replyOf: e.id, replyKind: "reply",
		},
	});
}

export function startForward(e: Email): void {
	const head = [
		t("forwarded"),
		`${t("from")}: ${addrText(e.from)}`,
		`${t("date")}: ${formatDate(e.sentAt || e.receivedAt, true)}`,
		`${t("subject")}: ${e.subject || ""}`,
		`${t("to")}: ${addrText(e.to)}`,
	].join("\n");
	const atts: Attachment[] = (e.attachments || [])
		.filter((a) => a.blobId)
		.map((a) => ({ blobId: a.blobId!, name: a.name || "attachment", type: a.type, size: a.size }));
	update({
		compose: {
			...blank(), subject: prefixed("Fwd", e.subject),
			text: signature() + "\n\n" + head + "\n\n" + bodyText(e), attachments: atts,
			references: [...(e.references || []), ...(e.messageId || [])], replyOf: e.id, replyKind: "forward",
		},
	});
}

/* Reopen a saved draft in the composer. */
export function editDraft(e: Email): void {
	const vals = e.bodyValues || {};
	const html = (e.htmlBody || []).filter((p) => p.type === "text/html").map((p) => (p.partId && vals[p.partId] ? vals[p.partId].value : "")).join("");
	update({
		compose: {
			...blank(), to: addrText(e.to), cc: addrText(e.cc), bcc: addrText(e.bcc), subject: e.subject || "",
			text: bodyText(e), html, rich: Boolean(html),
			attachments: (e.attachments || []).filter((a) => a.blobId).map((a) => ({ blobId: a.blobId!, name: a.name || "attachment", type: a.type, size: a.size })),
			inReplyTo: e.inReplyTo || null, references: e.references || null, draftId: e.id,
		},
	});
}

export function textToHtml(text: string): string {
	return escapeHtml(text).replace(/\n/g, "<br>");
}

export function escapeHtml(s: string): string {
	return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
