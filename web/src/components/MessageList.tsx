// SPDX-License-Identifier: MIT
// The message list: one row per conversation (or per message), sorting,
// multi-select (click the box, shift-click for a range), infinite scroll
// with a "load more" button as fallback, drag rows onto a folder to move.
import { useEffect, useRef } from "preact/hooks";
import type { Email } from "../jmap";
import { formatDate, t } from "../i18n";
import { loadMore, mailboxName, openEmail, role, setSort } from "../mail";
import { editDraft } from "../compose";
import { state, update, useApp, type SortKey } from "../store";
import { Icon } from "./Icons";
import { SearchBar } from "./SearchBar";
import { Toolbar } from "./Toolbar";

let lastClicked: string | null = null;

function toggle(id: string, range: boolean): void {
	const sel = { ...state.selected };
	if (range && lastClicked && state.ids.includes(lastClicked)) {
		const a = state.ids.indexOf(lastClicked);
		const b = state.ids.indexOf(id);
		for (let i = Math.min(a, b); i <= Math.max(a, b); i++) sel[state.ids[i]] = true;
	} else if (sel[id]) delete sel[id];
	else sel[id] = true;
	lastClicked = id;
	update({ selected: sel });
}

export function open(e: Email): void {
	const drafts = role("drafts");
	if (drafts && e.mailboxIds[drafts.id] && e.keywords.$draft) {
		void openEmail(e.id).then(() => {
			const full = state.conversation.find((c) => c.id === e.id);
			if (full) editDraft(full);
		});
		return;
	}
	void openEmail(e.id);
}

function Row({ e }: { e: Email }) {
	const app = useApp();
	const outgoing = ["sent", "drafts"].includes(app.mailboxes.find((m) => m.id === app.mailboxId)?.role || "");
	const who = outgoing ? e.to : e.from;
	const name = (who && who[0] && (who[0].name || who[0].email)) || t("unknownSender");
	const count = app.threads ? (app.threadEmails[e.threadId] || []).length : 1;
	const unread = !e.keywords.$seen;
	const sel = Boolean(app.selected[e.id]);
	const cls = ["row", unread ? "unread" : "", sel ? "selected" : "", app.cursor === e.id ? "cursor" : "", app.open === e.id ? "open" : ""];
	return (
		<li role="option" aria-selected={app.open === e.id} id={"msg-" + e.id} data-id={e.id} class={cls.join(" ")}
			draggable onDragStart={(ev) => {
				const ids = app.selected[e.id] ? Object.keys(app.selected) : [e.id];
				ev.dataTransfer?.setData("text/x-facteur-ids", ids.join(","));
			}}>
			<input type="checkbox" class="pick" checked={sel} aria-label={t("select") + ": " + (e.subject || t("noSubject"))}
				onClick={(ev) => {
					ev.stopPropagation();
					toggle(e.id, (ev as MouseEvent).shiftKey);
				}} />
			<button type="button" class="row-main" onClick={() => open(e)} aria-label={`${unread ? "● " : ""}${name}: ${e.subject || t("noSubject")}`}>
				<span class="from">{name}{count > 1 && <span class="thread-count">{count}</span>}</span>
				<span class="subject">{e.subject || t("noSubject")}</span>
				<span class="preview">{e.preview || ""}</span>
				<span class="meta">
					{e.keywords.$flagged && <span class="flagged" title={t("flag")}><Icon name="flag" /></span>}
					{e.hasAttachment && <span class="clip" title={t("attachments")}><Icon name="clip" /></span>}
					<time dateTime={e.receivedAt}>{formatDate(e.receivedAt)}</time>
				</span>
			</button>
		</li>
	);
}

export function MessageList() {
	const app = useApp();
	const sentinel = useRef<HTMLDivElement>(null);
	useEffect(() => {
		const el = sentinel.current;
		if (!el || typeof IntersectionObserver === "undefined") return;
		const io = new IntersectionObserver((entries) => {
			if (entries.some((x) => x.isIntersecting)) void loadMore();
		});
		io.observe(el);
		return () => io.disconnect();
	}, [app.mailboxId, app.search]);
	const box = app.mailboxes.find((m) => m.id === app.mailboxId);
	const title = app.search ? t("searchResults") : box ? mailboxName(box) : "";
	const allSel = app.ids.length > 0 && app.ids.every((id) => app.selected[id]);
	const nsel = Object.keys(app.selected).length;
	return (
		<section class="list-pane" aria-label={t("messages")} id="message-list">
			<header class="list-head">
				<button type="button" class="icon-btn only-phone" aria-label={t("menu")} onClick={() => update({ nav: !app.nav })}>
					<Icon name="menu" />
				</button>
				<SearchBar />
			</header>
			<div class="list-bar">
				<input type="checkbox" aria-label={t("selectAll")} checked={allSel} onChange={() => {
					const sel: Record<string, true> = {};
					if (!allSel) for (const id of app.ids) sel[id] = true;
					update({ selected: sel });
				}} />
				<h2 class="list-title">{title}<span class="total"> · {app.total}</span></h2>
				{nsel > 0 && <span class="nsel" aria-live="polite">{t("selected", { n: nsel })}</span>}
				<label class="sort">
					<span class="visually-hidden">{t("sortBy")}</span>
					<select value={app.sort} aria-label={t("sortBy")} onChange={(e) => void setSort((e.target as HTMLSelectElement).value as SortKey)}>
						<option value="newest">{t("sortNewest")}</option>
						<option value="oldest">{t("sortOldest")}</option>
						<option value="from">{t("sortFrom")}</option>
						<option value="subject">{t("sortSubject")}</option>
						<option value="size">{t("sortSize")}</option>
					</select>
				</label>
				<label class="threads-toggle">
					<input type="checkbox" checked={app.threads} onChange={() => void setSort(app.sort, !app.threads)} />
					<span>{t("threads")}</span>
				</label>
			</div>
			{nsel > 0 && <Toolbar where="list" />}
			<ul class="messages" role="listbox" aria-label={title} aria-multiselectable="true" aria-busy={app.listLoading}>
				{app.ids.map((id) => (app.emails[id] ? <Row key={id} e={app.emails[id]} /> : null))}
			</ul>
			{!app.listLoading && app.ids.length === 0 && <p class="empty">{t("noMessages")}</p>}
			<div ref={sentinel} class="sentinel">
				{app.listLoading ? (
					<p class="loading">{t("loading")}</p>
				) : (
					app.ids.length < app.total && <button type="button" onClick={() => void loadMore()}>{t("loadMore")}</button>
				)}
			</div>
		</section>
	);
}
