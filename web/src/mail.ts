// SPDX-License-Identifier: MIT
// What the user does with mail, as JMAP calls on the state: load folders
// and lists, open a conversation, flag, move, delete, send, and follow the
// server's push channel so that new mail shows up by itself.
import * as api from "./api";
import { jmap, MethodError, responses, type Email, type EmailAddress, type Invocation, type Mailbox } from "./jmap";
import { t } from "./i18n";
import { notify, state, update, type ComposeInit, type Identity, type Search, type SortKey } from "./store";

export const PAGE = 50;
const LIST_PROPS = [
	"id", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "from", "to", "subject", "preview",
	"hasAttachment",
];
const FULL_PROPS = [
	...LIST_PROPS, "blobId", "cc", "bcc", "replyTo", "sentAt", "messageId", "inReplyTo", "references",
	"textBody", "htmlBody", "attachments", "bodyValues",
];
const BODY_PROPS = ["partId", "blobId", "size", "name", "type", "charset", "disposition", "cid"];
const MAILBOX_PROPS = [
	"id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails", "isSubscribed", "myRights",
];

const known: Record<string, string> = {}; /* last states we loaded, by type */
let events: EventSource | null = null;

export function errorText(e: unknown): string {
	if (e instanceof api.HttpError && e.status === 0) return t("networkError");
	return t("error", { msg: e instanceof Error ? e.message : String(e) });
}

function fail(e: unknown): void {
	if (e instanceof api.HttpError && e.status === 401) {
		update({ phase: "login", me: null });
		return;
	}
	console.warn(e);
	notify(errorText(e), "error");
}

export function role(r: string): Mailbox | undefined {
	return state.mailboxes.find((m) => m.role === r && !m.accountId);
}

/* The folder on screen, and whether the user may do what a right allows there. */
export function current(): Mailbox | undefined {
	return state.mailboxes.find((m) => m.id === state.mailboxId);
}
export function may(right: string): boolean {
	const m = current();
	return !m || !m.myRights || m.myRights[right] !== false;
}

export function mailboxName(m: Mailbox): string {
	const key = m.role ? ("role." + m.role) : null;
	if (key && ["role.inbox", "role.drafts", "role.sent", "role.trash", "role.junk", "role.archive"].includes(key))
		return t(key as "role.inbox");
	return m.name;
}

/* ---- start, sign in and out --------------------------------------- */

/*
 * Start-up in one round trip: who is signed in (/api/me, preloaded by
 * index.html, carries the JMAP session resource, names the inbox and
 * answers the first JMAP request: the folders, the inbox's first page and
 * the identities; see firstLoad). The session resource is never asked for before /api/me says
 * there is a session: without the cookie it answers with a Basic
 * challenge, and the browser would open its password dialog.
 */
export async function boot(): Promise<void> {
	try {
		const m = await api.me();
		if (!m) return update({ phase: "login" });
		await start(m);
	} catch (e) {
		update({ phase: "login" });
		if (!(e instanceof api.HttpError)) notify(errorText(e), "error");
	}
}

export async function signIn(username: string, password: string): Promise<void> {
	const m = await api.login(username, password);
	await start(m);
}

async function start(m: api.Me): Promise<void> {
	await jmap.connect(m.session);
	update({ me: m });
	if (!m.inboxId || !(await firstLoad(m))) {
		await loadMailboxes();
		const inbox = role("inbox") || state.mailboxes[0];
		update({ phase: "ready", mailboxId: inbox ? inbox.id : null });
		await Promise.all([loadList(true), loadIdentities()]);
	}
	listen();
}

/*
 * Folders, the inbox's first page and identities in one request; false: do
 * it the long way. The server answers this very request inside /api/me
 * (m.first, see FIRST_REQUEST in src/http/http-jmap.c: keep both alike),
 * so with the default sort no JMAP round trip stands before the first paint.
 */
async function firstLoad(m: api.Me): Promise<boolean> {
	const inboxId = m.inboxId!;
	const accountId = jmap.accountId;
	let r: Record<string, Record<string, any>>;
	if (m.first && state.sort === "newest" && state.threads && accountId === jmap.primary && !state.search) {
		r = responses(m.first as Invocation[]);
		m.first = undefined; /* once: later starts ask again */
	} else {
		r = await jmap.request([
			["Mailbox/get", { accountId, ids: null, properties: MAILBOX_PROPS }, "m"],
			...pageCalls({ inMailbox: inboxId }, 0, PAGE),
			["Identity/get", { accountId, ids: null }, "i"],
		]);
	}
	const boxes = r.m.list as Mailbox[];
	if (!boxes.some((b) => b.id === inboxId && b.role === "inbox")) return false;
	known.Mailbox = r.m.state;
	update({ mailboxes: boxes, identities: (r.i.list || []) as Identity[], mailboxId: inboxId });
	applyPage(r, true);
	update({ phase: "ready" });
	return true;
}

export async function signOut(): Promise<void> {
	if (events) events.close();
	events = null;
	try {
		await api.logout();
	} catch (e) {
		console.warn(e);
	}
	update({
		phase: "login", me: null, mailboxes: [], ids: [], emails: {}, open: null, conversation: [],
		compose: null, selected: {}, search: null, view: "mail",
	});
}

/* ---- push ---------------------------------------------------------- */

let refreshTimer: ReturnType<typeof setTimeout> | null = null;

function listen(): void {
	if (events) events.close();
	events = jmap.listen((changed) => {
		const mail = changed.Email && changed.Email !== known.Email;
		const boxes = changed.Mailbox && changed.Mailbox !== known.Mailbox;
		if (!mail && !boxes) return;
		if (refreshTimer) clearTimeout(refreshTimer);
		refreshTimer = setTimeout(() => {
			refreshTimer = null;
			void refresh(Boolean(mail));
		}, 50);
	});
}

/* After a change elsewhere (push) or here: folders, list and open conversation. */
export async function refresh(mail = true): Promise<void> {
	try {
		await loadMailboxes();
		if (mail) {
			await loadList(false, Math.max(PAGE, state.ids.length));
			if (state.open) await loadConversation(state.open, false);
		}
	} catch (e) {
		fail(e);
	}
}

/* ---- folders ------------------------------------------------------- */

export async function loadMailboxes(): Promise<void> {
	/* The own folders, then those other accounts share (RFC 8620 1.6.2), in one request. */
	const shared = Object.entries(jmap.session.accounts).filter(
		([id, a]) => id !== jmap.primary && a.isPersonal === false &&
			Boolean(a.accountCapabilities && a.accountCapabilities["urn:ietf:params:jmap:mail"]));
	const calls: Invocation[] = [["Mailbox/get", { accountId: jmap.primary, ids: null, properties: MAILBOX_PROPS }, "own"]];
	shared.forEach(([id], i) => calls.push(["Mailbox/get", { accountId: id, ids: null, properties: MAILBOX_PROPS }, "s" + i]));
	const r = await jmap.request(calls);
	let list = r.own.list as Mailbox[];
	shared.forEach(([id, a], i) => {
		const got = (r["s" + i]?.list || []) as Mailbox[];
		/* A public folder's owner is its domain; a user's, an address. */
		list = list.concat(got.map((m) => ({ ...m, accountId: id, owner: a.name, publicFolder: !a.name.includes("@") })));
	});
	known.Mailbox = (jmap.accountId === jmap.primary ? r.own : r["s" + shared.findIndex(([id]) => id === jmap.accountId)] || r.own).state;
	update({ mailboxes: list });
}

export async function loadIdentities(): Promise<void> {
	try {
		const r = await jmap.call("Identity/get", { ids: null });
		update({ identities: r.list as Identity[] });
	} catch (e) {
		console.warn("Identity/get", e);
	}
}

export async function createMailbox(name: string, parentId: string | null): Promise<void> {
	try {
		await jmap.set("Mailbox", { create: { m: { name, parentId, isSubscribed: true } } });
		await loadMailboxes();
	} catch (e) {
		fail(e);
	}
}

export async function renameMailbox(id: string, name: string): Promise<void> {
	try {
		await jmap.set("Mailbox", { update: { [id]: { name } } });
		await loadMailboxes();
	} catch (e) {
		fail(e);
	}
}

export async function destroyMailbox(id: string): Promise<void> {
	try {
		await jmap.set("Mailbox", { destroy: [id], onDestroyRemoveEmails: false });
		if (state.mailboxId === id) await selectMailbox((role("inbox") || state.mailboxes[0]).id);
		await loadMailboxes();
	} catch (e) {
		fail(e);
	}
}

/* ---- lists ----------------------------------------------------------- */

function sortSpec(s: SortKey): { property: string; isAscending: boolean }[] {
	switch (s) {
		case "oldest":
			return [{ property: "receivedAt", isAscending: true }];
		case "from":
			return [{ property: "from", isAscending: true }, { property: "receivedAt", isAscending: false }];
		case "subject":
			return [{ property: "subject", isAscending: true }, { property: "receivedAt", isAscending: false }];
		case "size":
			return [{ property: "size", isAscending: false }];
		default:
			return [{ property: "receivedAt", isAscending: false }];
	}
}

function filterOf(): Record<string, unknown> {
	const s = state.search;
	if (!s) return state.mailboxId ? { inMailbox: state.mailboxId } : {};
	const f: Record<string, unknown> = {};
	if (s.text.trim()) f.text = s.text.trim();
	if (s.from.trim()) f.from = s.from.trim();
	if (s.to.trim()) f.to = s.to.trim();
	if (s.subject.trim()) f.subject = s.subject.trim();
	if (s.after) f.after = new Date(s.after + "T00:00:00").toISOString().replace(/\.\d+Z$/, "Z");
	if (s.before) f.before = new Date(s.before + "T23:59:59").toISOString().replace(/\.\d+Z$/, "Z");
	if (s.hasAttachment) f.hasAttachment = true;
	return f;
}

/* reset: first page of a new list; else reload the `limit` first items in place. */
export async function loadList(reset: boolean, limit = PAGE): Promise<void> {
	const position = 0;
	update(reset ? { listLoading: true, ids: [], total: 0, selected: {}, cursor: null } : { listLoading: true });
	try {
		await fetchPage(position, limit, true);
	} catch (e) {
		fail(e);
	} finally {
		update({ listLoading: false });
	}
}

export async function loadMore(): Promise<void> {
	if (state.listLoading || state.ids.length >= state.total) return;
	update({ listLoading: true });
	try {
		await fetchPage(state.ids.length, PAGE, false);
	} catch (e) {
		fail(e);
	} finally {
		update({ listLoading: false });
	}
}

/* A page of the list: the query, its emails and their threads (call ids q, g, t). */
function pageCalls(filter: Record<string, unknown>, position: number, limit: number): Invocation[] {
	const accountId = jmap.accountId;
	return [
		["Email/query", {
			accountId, filter, sort: sortSpec(state.sort), collapseThreads: state.threads,
			position, limit, calculateTotal: true,
		}, "q"],
		["Email/get", {
			accountId, "#ids": { resultOf: "q", name: "Email/query", path: "/ids" }, properties: LIST_PROPS,
		}, "g"],
		["Thread/get", {
			accountId, "#ids": { resultOf: "g", name: "Email/get", path: "/list/*/threadId" },
		}, "t"],
	];
}

async function fetchPage(position: number, limit: number, replace: boolean): Promise<void> {
	applyPage(await jmap.request(pageCalls(filterOf(), position, limit)), replace);
}

function applyPage(r: Record<string, Record<string, any>>, replace: boolean): void {
	known.Email = r.g.state;
	const emails = { ...state.emails };
	for (const e of r.g.list as Email[]) emails[e.id] = e;
	const threadEmails = { ...state.threadEmails };
	for (const th of (r.t.list || []) as { id: string; emailIds: string[] }[]) threadEmails[th.id] = th.emailIds;
	const got = r.q.ids as string[];
	const ids = replace ? got : [...state.ids, ...got.filter((id) => !state.ids.includes(id))];
	const still = (id: string | null) => (id && ids.includes(id) ? id : null);
	const selected: Record<string, true> = {};
	for (const id of Object.keys(state.selected)) if (ids.includes(id)) selected[id] = true;
	update({
		ids, total: typeof r.q.total === "number" ? r.q.total : ids.length, emails, threadEmails, selected,
		cursor: still(state.cursor) || (ids[0] ?? null),
	});
}

export async function selectMailbox(id: string): Promise<void> {
	const m = state.mailboxes.find((x) => x.id === id);
	jmap.accountId = (m && m.accountId) || jmap.primary;
	update({ mailboxId: id, search: null, open: null, conversation: [], nav: false, view: "mail" });
	await loadList(true);
}

export async function runSearch(s: Search | null): Promise<void> {
	update({ search: s, open: null, conversation: [], view: "mail" });
	await loadList(true);
}

export async function setSort(sort: SortKey, threads = state.threads): Promise<void> {
	update({ sort, threads });
	await loadList(true);
}

/* ---- reading ----------------------------------------------------------- */

export async function openEmail(id: string): Promise<void> {
	update({ open: id, cursor: id, conversation: [] });
	await loadConversation(id, true);
}

async function loadConversation(id: string, markSeen: boolean): Promise<void> {
	const item = state.emails[id];
	const accountId = jmap.accountId;
	const bodyArgs = {
		properties: FULL_PROPS, bodyProperties: BODY_PROPS, fetchHTMLBodyValues: true, fetchTextBodyValues: true,
		maxBodyValueBytes: 2000000,
	};
	let list: Email[];
	try {
		if (state.threads && item) {
			const r = await jmap.request([
				["Thread/get", { accountId, ids: [item.threadId] }, "t"],
				["Email/get", {
					accountId, "#ids": { resultOf: "t", name: "Thread/get", path: "/list/*/emailIds" }, ...bodyArgs,
				}, "g"],
			]);
			list = r.g.list as Email[];
		} else {
			const r = await jmap.call("Email/get", { ids: [id], ...bodyArgs });
			list = r.list as Email[];
		}
	} catch (e) {
		return fail(e);
	}
	if (state.open !== id) return;
	const trash = role("trash");
	if (trash && state.mailboxId !== trash.id) list = list.filter((e) => !e.mailboxIds[trash.id] || e.id === id);
	list.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
	update({ conversation: list });
	const unseen = list.filter((e) => !e.keywords.$seen).map((e) => e.id);
	if (markSeen && unseen.length && may("maySetSeen")) await setKeyword(unseen, "$seen", true, false);
}

export function closeEmail(): void {
	update({ open: null, conversation: [] });
}

export async function loadHeaders(id: string): Promise<{ name: string; value: string }[]> {
	const r = await jmap.call("Email/get", { ids: [id], properties: ["headers"] });
	return (r.list[0]?.headers || []) as { name: string; value: string }[];
}

/* ---- acting on messages -------------------------------------------- */

/* The emails an action applies to: the selection, else the open or focused item; threads expanded. */
export function targets(explicit?: string[]): string[] {
	let items = explicit || Object.keys(state.selected);
	if (!items.length) items = state.open ? [state.open] : state.cursor ? [state.cursor] : [];
	if (!state.threads) return items;
	const out = new Set<string>();
	for (const id of items) {
		const e = state.emails[id];
		const all = e ? state.threadEmails[e.threadId] : null;
		if (!all) {
			out.add(id);
			continue;
		}
		for (const x of all) {
			const xe = state.emails[x] || state.conversation.find((c) => c.id === x);
			/* In a folder, only the thread's messages in that folder. */
			if (!state.search && state.mailboxId && xe && !xe.mailboxIds[state.mailboxId]) continue;
			out.add(x);
		}
		out.add(id);
	}
	return [...out];
}

async function patch(ids: string[], p: Record<string, unknown>, after = true): Promise<void> {
	if (!ids.length) return;
	const upd: Record<string, Record<string, unknown>> = {};
	for (const id of ids) upd[id] = p;
	try {
		await jmap.set("Email", { update: upd });
	} catch (e) {
		fail(e);
	}
	if (after) await refresh(true);
}

export async function setKeyword(ids: string[], kw: string, on: boolean, after = true): Promise<void> {
	/* Show it at once; the refresh confirms. */
	const emails = { ...state.emails };
	for (const id of ids)
		if (emails[id]) emails[id] = { ...emails[id], keywords: { ...emails[id].keywords, [kw]: on } };
	update({ emails });
	await patch(ids, { ["keywords/" + kw]: on ? true : null }, after);
	if (!after) void loadMailboxes().catch(fail);
}

/* The account of a folder: its owner's when shared, else the user's own. */
function accountOf(mailboxId: string): string {
	const m = state.mailboxes.find((x) => x.id === mailboxId);
	return (m && m.accountId) || jmap.primary;
}

/*
 * Into a folder of another account (own <-> shared): Email/copy (RFC 8621
 * 4.7) from the account on screen, a move with onSuccessDestroyOriginal.
 */
async function copyAcross(ids: string[], mailboxId: string, move: boolean): Promise<void> {
	const create: Record<string, unknown> = {};
	ids.forEach((id, i) => {
		create["c" + i] = { id, mailboxIds: { [mailboxId]: true } };
	});
	try {
		const r = await jmap.request([["Email/copy", {
			fromAccountId: jmap.accountId, accountId: accountOf(mailboxId), create, onSuccessDestroyOriginal: move,
		}, "c"]]);
		const bad = Object.values(r.c.notCreated || {})[0] as { type: string; description?: string } | undefined;
		if (bad) notify(errorText(new MethodError(bad.type, bad.description)), "error");
	} catch (e) {
		fail(e);
	}
	await refresh(true);
}

export async function moveTo(ids: string[], mailboxId: string, extra: Record<string, unknown> = {}): Promise<void> {
	if (state.open && ids.includes(state.open)) closeEmail();
	update({ selected: {} });
	if (accountOf(mailboxId) !== jmap.accountId) return copyAcross(ids, mailboxId, true);
	await patch(ids, { mailboxIds: { [mailboxId]: true }, ...extra });
}

/*
 * A copy: Email/copy into another account; in the same one (an Email is
 * in one mailbox here) a new Email from the same message, Email/import.
 */
export async function copyTo(ids: string[], mailboxId: string): Promise<void> {
	if (accountOf(mailboxId) !== jmap.accountId) return copyAcross(ids, mailboxId, false);
	try {
		const got = await jmap.call("Email/get", { ids, properties: ["blobId", "keywords", "receivedAt"] });
		const emails: Record<string, unknown> = {};
		(got.list as Email[]).forEach((e, i) => {
			emails["i" + i] = { blobId: e.blobId, mailboxIds: { [mailboxId]: true }, keywords: e.keywords, receivedAt: e.receivedAt };
		});
		await jmap.call("Email/import", { emails });
	} catch (e) {
		fail(e);
	}
	await refresh(true);
}

export async function trash(ids: string[]): Promise<void> {
	const tr = role("trash");
	/* A shared folder's messages cannot go to the own Trash: removing is final there. */
	if (!tr || state.mailboxId === tr.id || (current() && current()!.accountId)) {
		if (!confirm(t("confirmDeleteForever", { n: ids.length }))) return;
		closeEmail();
		try {
			await jmap.set("Email", { destroy: ids });
		} catch (e) {
			fail(e);
		}
		update({ selected: {} });
		return refresh(true);
	}
	return moveTo(ids, tr.id);
}

export async function junk(ids: string[], isJunk: boolean): Promise<void> {
	const target = isJunk ? role("junk") : role("inbox");
	const kw = isJunk ? { "keywords/$junk": true, "keywords/$notjunk": null } : { "keywords/$junk": null, "keywords/$notjunk": true };
	if (target) return moveTo(ids, target.id, kw);
	return patch(ids, kw);
}

/* ---- writing --------------------------------------------------------- */

export function addrList(s: string): EmailAddress[] {
	const out: EmailAddress[] = [];
	/* "Name <a@b>", a@b, separated by commas or semicolons (not inside quotes). */
	for (const part of s.match(/(?:"[^"]*"|[^,;])+/g) || []) {
		const p = part.trim();
		if (!p) continue;
		const m = p.match(/^(.*)<([^<>]+)>$/);
		if (m) out.push({ name: m[1].trim().replace(/^"|"$/g, "") || null, email: m[2].trim() });
		else out.push({ name: null, email: p });
	}
	return out;
}

export function addrText(a: EmailAddress[] | null | undefined): string {
	return (a || []).map((x) => (x.name ? `${/[,;<>"]/.test(x.name) ? JSON.stringify(x.name) : x.name} <${x.email}>` : x.email)).join(", ");
}

export function identity(): Identity {
	const id = state.identities[0];
	return id || { id: "", name: "", email: state.me ? state.me.username : "" };
}

export interface Draft {
	to: string;
	cc: string;
	bcc: string;
	subject: string;
	text: string;
	html: string | null; /* rich text: the sanitised HTML; null for plain text */
	attachments: { blobId: string; name: string; type: string; size: number }[];
	inReplyTo: string[] | null;
	references: string[] | null;
}

function emailOf(d: Draft, draftsId: string | undefined, keywords: Record<string, boolean>): Record<string, unknown> {
	const me = identity();
	const e: Record<string, unknown> = {
		mailboxIds: draftsId ? { [draftsId]: true } : {},
		keywords,
		from: [{ name: me.name || null, email: me.email }],
		to: addrList(d.to),
		subject: d.subject,
		bodyValues: { text: { value: d.text } },
		textBody: [{ partId: "text", type: "text/plain" }],
		attachments: d.attachments.map((a) => ({ blobId: a.blobId, type: a.type, name: a.name, disposition: "attachment" })),
	};
	if (d.cc.trim()) e.cc = addrList(d.cc);
	if (d.bcc.trim()) e.bcc = addrList(d.bcc);
	if (d.inReplyTo && d.inReplyTo.length) e.inReplyTo = d.inReplyTo;
	if (d.references && d.references.length) e.references = d.references;
	if (d.html !== null) {
		(e.bodyValues as Record<string, unknown>).html = { value: d.html };
		e.htmlBody = [{ partId: "html", type: "text/html" }];
	}
	return e;
}

/* Saves d as a new draft (replacing the previous one); returns its id. */
export async function saveDraft(d: Draft, previous: string | null): Promise<string> {
	const drafts = role("drafts");
	const r = await jmap.set("Email", {
		create: { draft: emailOf(d, drafts?.id, { $draft: true, $seen: true }) },
		destroy: previous ? [previous] : null,
	});
	return (r.created.draft as { id: string }).id;
}

export async function discardDraft(id: string | null): Promise<void> {
	if (!id) return;
	try {
		await jmap.set("Email", { destroy: [id] });
	} catch (e) {
		console.warn(e);
	}
}

export async function send(d: Draft, previous: string | null, init: ComposeInit): Promise<void> {
	const accountId = jmap.primary; /* drafts and sending: the own account */
	const drafts = role("drafts");
	const sent = role("sent");
	const me = identity();
	const onSuccess: Record<string, unknown> = { "keywords/$draft": null };
	if (sent) {
		onSuccess["mailboxIds/" + sent.id] = true;
		if (drafts) onSuccess["mailboxIds/" + drafts.id] = null;
	}
	const rcpt = [...addrList(d.to), ...addrList(d.cc), ...addrList(d.bcc)];
	const r = await jmap.request([
		["Email/set", {
			accountId, create: { draft: emailOf(d, drafts?.id || sent?.id, { $draft: true, $seen: true }) },
			destroy: previous ? [previous] : null,
		}, "e"],
		["EmailSubmission/set", {
			accountId,
			create: {
				sub: {
					identityId: me.id, emailId: "#draft",
					envelope: { mailFrom: { email: me.email }, rcptTo: rcpt.map((a) => ({ email: a.email })) },
				},
			},
			onSuccessUpdateEmail: { "#sub": onSuccess },
		}, "s"],
	]);
	const bad = (r.e.notCreated && r.e.notCreated.draft) || (r.s.notCreated && r.s.notCreated.sub);
	if (bad) throw new Error(bad.description || bad.type);
	if (init.replyOf) {
		const kw = init.replyKind === "forward" ? "$forwarded" : "$answered";
		await jmap.set("Email", { update: { [init.replyOf]: { ["keywords/" + kw]: true } } }).catch((e) => console.warn(e));
	}
	await refresh(true);
}

/* ---- settings -------------------------------------------------------- */

export async function saveIdentity(name: string, textSignature: string): Promise<void> {
	const me = identity();
	if (me.id) await jmap.set("Identity", { update: { [me.id]: { name, textSignature } } });
	else await jmap.set("Identity", { create: { i: { name, email: me.email, textSignature } } });
	await loadIdentities();
}

export interface Vacation {
	isEnabled: boolean;
	fromDate: string | null;
	toDate: string | null;
	subject: string | null;
	textBody: string | null;
}

export async function loadVacation(): Promise<Vacation> {
	const r = await jmap.call("VacationResponse/get", { ids: ["singleton"] });
	return (r.list[0] || { isEnabled: false, fromDate: null, toDate: null, subject: "", textBody: "" }) as Vacation;
}

export async function saveVacation(v: Vacation): Promise<void> {
	/* Only what the user edits: "id" is immutable (sending it is invalidProperties). */
	const { isEnabled, fromDate, toDate, subject, textBody } = v;
	await jmap.set("VacationResponse", { update: { singleton: { isEnabled, fromDate, toDate, subject, textBody } } });
}
