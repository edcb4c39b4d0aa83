// SPDX-License-Identifier: MIT
// The application state: one plain object, replaced (shallowly) by
// update(); components read it through useApp(), which re-renders them
// on every change. Small enough that nothing finer is needed.
import { useEffect, useState } from "preact/hooks";
import type { Me } from "./api";
import type { Email, Mailbox } from "./jmap";

export type SortKey = "newest" | "oldest" | "from" | "subject" | "size";

export interface Search {
	text: string;
	from: string;
	to: string;
	subject: string;
	after: string; /* yyyy-mm-dd */
	before: string;
	hasAttachment: boolean;
}

export interface Identity {
	id: string;
	name: string;
	email: string;
	textSignature?: string;
	htmlSignature?: string;
}

export interface Attachment {
	blobId: string;
	name: string;
	type: string;
	size: number;
	cid?: string | null;
	disposition?: string | null;
}

export interface ComposeInit {
	key: number;
	to: string;
	cc: string;
	bcc: string;
	subject: string;
	text: string;
	html: string;
	rich: boolean;
	attachments: Attachment[];
	inReplyTo: string[] | null;
	references: string[] | null;
	replyOf: string | null; /* email id that gets $answered / $forwarded */
	replyKind: "reply" | "forward" | null;
	draftId: string | null; /* an existing draft being edited */
}

export interface Notice {
	text: string;
	kind: "info" | "error";
	id: number;
}

export interface State {
	phase: "boot" | "login" | "ready";
	me: Me | null;
	mailboxes: Mailbox[];
	mailboxId: string | null;
	search: Search | null;
	sort: SortKey;
	threads: boolean;
	ids: string[];
	total: number;
	listLoading: boolean;
	emails: Record<string, Email>;
	threadEmails: Record<string, string[]>;
	selected: Record<string, true>;
	cursor: string | null;
	open: string | null; /* the email (list item) whose conversation is shown */
	conversation: Email[];
	compose: ComposeInit | null;
	view: "mail" | "settings";
	notice: Notice | null;
	identities: Identity[];
	help: boolean;
	nav: boolean; /* folder drawer open (phones) */
}

export let state: State = {
	phase: "boot",
	me: null,
	mailboxes: [],
	mailboxId: null,
	search: null,
	sort: "newest",
	threads: true,
	ids: [],
	total: 0,
	listLoading: false,
	emails: {},
	threadEmails: {},
	selected: {},
	cursor: null,
	open: null,
	conversation: [],
	compose: null,
	view: "mail",
	notice: null,
	identities: [],
	help: false,
	nav: false,
};

const listeners = new Set<() => void>();

export function update(p: Partial<State>): void {
	state = { ...state, ...p };
	for (const l of listeners) l();
}

/*
 * Re-render on every update(). Preact runs effects after the next paint,
 * so an update() can land between this render and the subscription (the
 * first one, boot()'s answer from /api/me, often does on a fast server):
 * the effect compares the state it rendered with the current one and
 * catches up, else the component would show stale state until the next
 * change (the "login form never appears" stall).
 */
export function useApp(): State {
	const [, force] = useState(0);
	const rendered = state;
	useEffect(() => {
		const l = () => force((n) => n + 1);
		listeners.add(l);
		if (state !== rendered) l();
		return () => {
			listeners.delete(l);
		};
	}, []);
	return state;
}

let noticeSeq = 0;
export function notify(text: string, kind: "info" | "error" = "info"): void {
	const id = ++noticeSeq;
	update({ notice: { text, kind, id } });
	setTimeout(() => {
		if (state.notice && state.notice.id === id) update({ notice: null });
	}, kind === "error" ? 8000 : 4000);
}
