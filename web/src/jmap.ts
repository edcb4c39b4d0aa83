// SPDX-License-Identifier: MIT
// A small JMAP client (RFC 8620 core, RFC 8621 mail): the session
// resource, batched method calls with back-references, blob upload and
// download, and the EventSource push channel. It knows nothing of the UI.
import { csrfToken, HttpError } from "./api";

export const CAPS = [
	"urn:ietf:params:jmap:core",
	"urn:ietf:params:jmap:mail",
	"urn:ietf:params:jmap:submission",
	"urn:ietf:params:jmap:vacationresponse",
];

export interface Session {
	apiUrl: string;
	downloadUrl: string;
	uploadUrl: string;
	eventSourceUrl: string;
	accounts: Record<string, { name: string; isPersonal?: boolean; accountCapabilities?: Record<string, unknown> }>;
	primaryAccounts: Record<string, string>;
	capabilities: Record<string, unknown>;
	username: string;
	state: string;
}

export type Invocation = [string, Record<string, unknown>, string];

export interface EmailAddress {
	name: string | null;
	email: string;
}

export interface BodyPart {
	partId: string | null;
	blobId: string | null;
	size: number;
	name: string | null;
	type: string;
	charset?: string | null;
	disposition: string | null;
	cid: string | null;
}

export interface Email {
	id: string;
	blobId: string;
	threadId: string;
	mailboxIds: Record<string, boolean>;
	keywords: Record<string, boolean>;
	size: number;
	receivedAt: string;
	sentAt?: string | null;
	from: EmailAddress[] | null;
	to: EmailAddress[] | null;
	cc?: EmailAddress[] | null;
	bcc?: EmailAddress[] | null;
	replyTo?: EmailAddress[] | null;
	subject: string | null;
	preview?: string;
	hasAttachment: boolean;
	messageId?: string[] | null;
	inReplyTo?: string[] | null;
	references?: string[] | null;
	textBody?: BodyPart[];
	htmlBody?: BodyPart[];
	attachments?: BodyPart[];
	bodyValues?: Record<string, { value: string; isTruncated?: boolean }>;
	headers?: { name: string; value: string }[];
}

export interface Mailbox {
	id: string;
	name: string;
	parentId: string | null;
	role: string | null;
	sortOrder: number;
	totalEmails: number;
	unreadEmails: number;
	totalThreads: number;
	unreadThreads: number;
	isSubscribed?: boolean;
	myRights?: Record<string, boolean>;
	/* Set by the app on a mailbox another account shares (not the user's own). */
	accountId?: string;
	owner?: string;
	publicFolder?: boolean;
}

export class MethodError extends Error {
	constructor(
		public type: string,
		public description?: string,
	) {
		super(description ? `${type}: ${description}` : type);
	}
}

/* A response's methodResponses keyed by call id; a method error throws. */
export function responses(list: Invocation[]): Record<string, Record<string, any>> {
	const out: Record<string, Record<string, any>> = {};
	for (const [name, args, id] of list) {
		if (name === "error") throw new MethodError(String(args.type), args.description as string);
		/* A call may answer twice (e.g. Email/copy's implicit Email/set): keep the first. */
		if (!(id in out)) out[id] = args;
	}
	return out;
}

export class Jmap {
	session!: Session;
	accountId = ""; /* the account of the folder on screen */
	primary = ""; /* the user's own account */

	/* The session resource: the one given (inlined in /api/me), else fetched. */
	async connect(given?: unknown): Promise<Session> {
		if (given && typeof given === "object" && "apiUrl" in given) {
			this.session = given as Session;
		} else {
			const res = await fetch("/.well-known/jmap", { credentials: "same-origin" });
			if (!res.ok) throw new HttpError(res.status, "session");
			this.session = (await res.json()) as Session;
		}
		this.primary =
			this.session.primaryAccounts["urn:ietf:params:jmap:mail"] || Object.keys(this.session.accounts)[0];
		this.accountId = this.primary;
		return this.session;
	}

	/* One request: method calls in order; answers keyed by call id. */
	async request(calls: Invocation[]): Promise<Record<string, Record<string, any>>> {
		const res = await fetch(this.session.apiUrl, {
			method: "POST",
			credentials: "same-origin",
			headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
			body: JSON.stringify({ using: CAPS, methodCalls: calls }),
		});
		if (!res.ok) {
			let code = "";
			try {
				code = (await res.json()).type || "";
			} catch {
				/* not JSON */
			}
			throw new HttpError(res.status, code);
		}
		return responses((await res.json()).methodResponses);
	}

	/* One method call, the account filled in. */
	async call(name: string, args: Record<string, unknown>): Promise<Record<string, any>> {
		/* Identities, submission and vacation exist in the user's own account only. */
		const own = /^(Identity|EmailSubmission|VacationResponse)\//.test(name);
		const r = await this.request([[name, { accountId: own ? this.primary : this.accountId, ...args }, "0"]]);
		return r["0"];
	}

	/* /set with errors turned into exceptions. */
	async set(type: string, args: Record<string, unknown>): Promise<Record<string, any>> {
		const r = await this.call(type + "/set", args);
		for (const k of ["notCreated", "notUpdated", "notDestroyed"]) {
			const bad = r[k] as Record<string, { type: string; description?: string }> | null;
			if (bad) {
				const first = Object.values(bad)[0];
				if (first) throw new MethodError(first.type, first.description);
			}
		}
		return r;
	}

	downloadUrl(blobId: string, name: string, type: string, inline = false): string {
		const u = this.session.downloadUrl
			.replace("{accountId}", encodeURIComponent(this.accountId))
			.replace("{blobId}", encodeURIComponent(blobId))
			.replace("{name}", encodeURIComponent(name || "download"))
			.replace("{type}", encodeURIComponent(type || "application/octet-stream"));
		return inline ? u + (u.includes("?") ? "&" : "?") + "inline=1" : u;
	}

	async upload(file: Blob): Promise<{ blobId: string; type: string; size: number }> {
		const url = this.session.uploadUrl.replace("{accountId}", encodeURIComponent(this.primary));
		const res = await fetch(url, {
			method: "POST",
			credentials: "same-origin",
			headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": csrfToken() },
			body: file,
		});
		if (!res.ok) throw new HttpError(res.status, "upload");
		return await res.json();
	}

	/* A blob as a data: URL (for cid: images inside the sandboxed frame). */
	async dataUrl(blobId: string, type: string, maxSize: number): Promise<string | null> {
		const res = await fetch(this.downloadUrl(blobId, "inline", type, true), { credentials: "same-origin" });
		if (!res.ok) return null;
		const blob = await res.blob();
		if (blob.size > maxSize) return null;
		const typed = blob.type && blob.type.startsWith("image/") ? blob : new Blob([blob], { type });
		return await new Promise((resolve) => {
			const r = new FileReader();
			r.onload = () => resolve(typeof r.result === "string" ? r.result : null);
			r.onerror = () => resolve(null);
			r.readAsDataURL(typed);
		});
	}

	/* Push (RFC 8620 §7.3): calls onState with the changed types' states. */
	listen(onState: (changed: Record<string, string>) => void, onOpen?: () => void): EventSource | null {
		if (!this.session.eventSourceUrl || typeof EventSource === "undefined") return null;
		const url = this.session.eventSourceUrl
			.replace("{types}", "*")
			.replace("{closeafter}", "no")
			.replace("{ping}", "30");
		const es = new EventSource(url, { withCredentials: true });
		es.addEventListener("state", (ev) => {
			try {
				const sc = JSON.parse((ev as MessageEvent).data);
				/* The own account and those sharing folders with the user. */
				for (const [acc, changed] of Object.entries((sc.changed || {}) as Record<string, Record<string, string>>))
					onState(acc === this.accountId ? changed
						: Object.fromEntries(Object.entries(changed).map(([k, v]) => [k, acc + ":" + v])));
			} catch {
				/* a malformed event: ignore it */
			}
		});
		if (onOpen) es.addEventListener("open", onOpen);
		return es;
	}
}

export const jmap = new Jmap();
