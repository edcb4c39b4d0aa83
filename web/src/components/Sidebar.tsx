// SPDX-License-Identifier: MIT
// The folder tree: special folders first (by role), then the others by
// sort order and name, nested under their parents, with unread counts.
// Folders can be created, renamed and deleted from here; dropping
// messages on a folder moves them.
import { useState } from "preact/hooks";
import type { Mailbox } from "../jmap";
import { t } from "../i18n";
import { createMailbox, destroyMailbox, mailboxName, moveTo, renameMailbox, selectMailbox, targets } from "../mail";
import { update, useApp } from "../store";
import { Icon } from "./Icons";
import { startCompose } from "../compose";

const ROLE_ORDER = ["inbox", "drafts", "sent", "archive", "junk", "trash"];

function order(a: Mailbox, b: Mailbox): number {
	const ra = a.role ? ROLE_ORDER.indexOf(a.role) : -1;
	const rb = b.role ? ROLE_ORDER.indexOf(b.role) : -1;
	if (ra !== rb) return (ra < 0 ? 99 : ra) - (rb < 0 ? 99 : rb);
	return (a.sortOrder || 0) - (b.sortOrder || 0) || a.name.localeCompare(b.name);
}

export function childrenOf(all: Mailbox[], parent: string | null): Mailbox[] {
	return all.filter((m) => (m.parentId || null) === parent).sort(order);
}

/* Every folder with its depth, in tree order (for <select>s). */
export function flatTree(all: Mailbox[]): { m: Mailbox; depth: number }[] {
	const out: { m: Mailbox; depth: number }[] = [];
	const walk = (parent: string | null, depth: number) => {
		for (const m of childrenOf(all, parent)) {
			out.push({ m, depth });
			if (depth < 20) walk(m.id, depth + 1);
		}
	};
	walk(null, 0);
	return out;
}

function Folder({ m, depth }: { m: Mailbox; depth: number }) {
	const app = useApp();
	const kids = childrenOf(app.mailboxes, m.id);
	const current = !app.search && app.mailboxId === m.id;
	const [over, setOver] = useState(false);
	return (
		<li role="none">
			<a href="#" role="treeitem" aria-current={current ? "page" : undefined} aria-expanded={kids.length ? true : undefined}
				class={"folder" + (current ? " current" : "") + (over ? " over" : "") + (m.unreadEmails ? " has-unread" : "")}
				style={{ paddingLeft: 0.6 + depth * 1.1 + "em" }} data-role={m.role || undefined} data-name={m.name}
				onClick={(e) => {
					e.preventDefault();
					void selectMailbox(m.id);
				}}
				onDragOver={(e) => {
					e.preventDefault();
					setOver(true);
				}}
				onDragLeave={() => setOver(false)}
				onDrop={(e) => {
					e.preventDefault();
					setOver(false);
					const ids = (e.dataTransfer?.getData("text/x-facteur-ids") || "").split(",").filter(Boolean);
					if (ids.length) void moveTo(targets(ids), m.id);
				}}>
				<Icon name={m.role || "folder"} />
				<span class="name">{mailboxName(m)}</span>
				{m.unreadEmails > 0 && (
					<span class="count" aria-label={`${m.unreadEmails} unread`}>{m.unreadEmails}</span>
				)}
			</a>
			{kids.length > 0 && (
				<ul role="group">
					{kids.map((k) => <Folder key={k.id} m={k} depth={depth + 1} />)}
				</ul>
			)}
		</li>
	);
}

function FolderEditor() {
	const app = useApp();
	const [open, setOpen] = useState(false);
	const [name, setName] = useState("");
	const [parent, setParent] = useState("");
	const cur = app.mailboxes.find((m) => m.id === app.mailboxId);
	const [renaming, setRenaming] = useState(false);
	if (!open)
		return (
			<div class="folder-tools">
				<button type="button" class="link" onClick={() => setOpen(true)}>
					<Icon name="plus" /> {t("newFolder")}
				</button>
				{cur && !cur.role && !cur.accountId && (
					<>
						<button type="button" class="link" onClick={() => {
							setName(cur.name);
							setRenaming(true);
							setOpen(true);
						}}>{t("rename")}</button>
						<button type="button" class="link" onClick={() => {
							if (confirm(t("confirmDeleteFolder", { name: cur.name }))) void destroyMailbox(cur.id);
						}}>{t("deleteFolder")}</button>
					</>
				)}
			</div>
		);
	return (
		<form class="folder-form" onSubmit={(e) => {
			e.preventDefault();
			if (!name.trim()) return;
			if (renaming && cur) void renameMailbox(cur.id, name.trim());
			else void createMailbox(name.trim(), parent || null);
			setOpen(false);
			setRenaming(false);
			setName("");
		}}>
			<label for="folder-name">{t("folderName")}</label>
			<input id="folder-name" value={name} required autofocus onInput={(e) => setName((e.target as HTMLInputElement).value)} />
			{!renaming && (
				<>
					<label for="folder-parent">{t("parentFolder")}</label>
					<select id="folder-parent" value={parent} onChange={(e) => setParent((e.target as HTMLSelectElement).value)}>
						<option value="">{t("none")}</option>
						{flatTree(app.mailboxes.filter((x) => !x.accountId)).map(({ m, depth }) => (
							<option value={m.id}>{"\u00a0".repeat(depth * 2) + mailboxName(m)}</option>
						))}
					</select>
				</>
			)}
			<div class="row">
				<button type="submit" class="primary">{renaming ? t("rename") : t("save")}</button>
				<button type="button" onClick={() => {
					setOpen(false);
					setRenaming(false);
				}}>{t("cancel")}</button>
			</div>
		</form>
	);
}

/* Folders other accounts share, one group per owner under its heading. */
function SharedGroups({ all }: { all: Mailbox[] }) {
	const owners: { id: string; owner: string; pub: boolean }[] = [];
	for (const m of all)
		if (m.accountId && !owners.some((o) => o.id === m.accountId))
			owners.push({ id: m.accountId, owner: m.owner || "", pub: Boolean(m.publicFolder) });
	return (
		<>
			{[false, true].map((pub) => owners.some((o) => o.pub === pub) && (
				<div class="shared-group" data-group={pub ? "public" : "other"}>
					<h2 class="tree-heading">{pub ? t("sharedFolders") : t("otherUsers")}</h2>
					{owners.filter((o) => o.pub === pub).map((o) => {
						const mine = all.filter((m) => m.accountId === o.id);
						return (
							<ul role="tree" aria-label={o.owner} class="tree" data-owner={o.owner}>
								<li role="none" class="owner">{o.owner}</li>
								{childrenOf(mine, null).map((m) => <Folder key={m.id} m={m} depth={0} />)}
							</ul>
						);
					})}
				</div>
			))}
		</>
	);
}

export function Sidebar() {
	const app = useApp();
	const own = app.mailboxes.filter((m) => !m.accountId);
	return (
		<nav class={"sidebar" + (app.nav ? " open" : "")} aria-label={t("folders")}>
			<button type="button" class="primary compose-btn" onClick={() => startCompose()}>
				<Icon name="pen" /> {t("compose")}
			</button>
			<ul role="tree" aria-label={t("folders")} class="tree">
				{childrenOf(own, null).map((m) => <Folder key={m.id} m={m} depth={0} />)}
			</ul>
			<SharedGroups all={app.mailboxes} />
			<FolderEditor />
			<div class="sidebar-foot">
				<button type="button" class="link" onClick={() => update({ view: "settings", nav: false })}>
					<Icon name="gear" /> {t("settings")}
				</button>
			</div>
		</nav>
	);
}
