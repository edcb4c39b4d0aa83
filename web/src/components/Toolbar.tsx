// SPDX-License-Identifier: MIT
// Actions on the selected (or open) messages: read/unread, flag, move,
// copy, delete, spam. Shared by the list and the reader.
import { t } from "../i18n";
import { copyTo, current, junk, mailboxName, may, moveTo, role, setKeyword, targets, trash } from "../mail";
import { useApp } from "../store";
import type { Mailbox } from "../jmap";
import { flatTree } from "./Sidebar";

/*
 * The folders one may add to: the own ones, then those of each account that
 * shares some (another account: Email/copy, see mail.ts). sameAccount false
 * leaves out the current account's other folders (a copy inside a shared
 * account is not offered).
 */
function FolderSelect({ label, onPick, id, sameAccount = true }: {
	label: string; onPick: (id: string) => void; id: string; sameAccount?: boolean;
}) {
	const app = useApp();
	const acc = current()?.accountId;
	const ok = (m: Mailbox) => (!m.myRights || m.myRights.mayAddItems) && (sameAccount || m.accountId !== acc || !acc);
	const owners = [...new Set(app.mailboxes.filter((m) => m.accountId).map((m) => m.accountId!))];
	const options = (list: Mailbox[]) =>
		flatTree(list).map(({ m, depth }) => (
			<option value={m.id} disabled={m.id === app.mailboxId && !app.search}>
				{"\u00a0".repeat(depth * 2) + mailboxName(m)}
			</option>
		));
	return (
		<select aria-label={label} id={id} value="" onChange={(e) => {
			const v = (e.target as HTMLSelectElement).value;
			(e.target as HTMLSelectElement).value = "";
			if (v) onPick(v);
		}}>
			<option value="">{label}</option>
			{options(app.mailboxes.filter((m) => !m.accountId && ok(m)))}
			{owners.map((o) => {
				const list = app.mailboxes.filter((m) => m.accountId === o && ok(m));
				return list.length > 0 && <optgroup label={list[0].owner || o}>{options(list)}</optgroup>;
			})}
		</select>
	);
}

export function Toolbar({ where }: { where: string }) {
	const app = useApp();
	const ids = targets();
	const none = ids.length === 0;
	const first = ids.map((id) => app.emails[id] || app.conversation.find((c) => c.id === id)).find(Boolean);
	const seen = first ? Boolean(first.keywords.$seen) : false;
	const flagged = first ? Boolean(first.keywords.$flagged) : false;
	const inJunk = role("junk") && app.mailboxId === role("junk")!.id && !app.search;
	/* In a folder another account shares, only what the rights allow (myRights). */
	const shared = Boolean(current()?.accountId) && !app.search;
	return (
		<div class="toolbar" role="toolbar" aria-label={where}>
			{may("maySetSeen") && (
				<button type="button" disabled={none} onClick={() => void setKeyword(targets(), "$seen", !seen)} data-action="seen">
					{seen ? t("markUnread") : t("markRead")}
				</button>
			)}
			{may("maySetKeywords") && (
				<button type="button" disabled={none} aria-pressed={flagged} onClick={() => void setKeyword(targets(), "$flagged", !flagged)} data-action="flag">
					{flagged ? t("unflag") : t("flag")}
				</button>
			)}
			{may("mayRemoveItems") && (
				<FolderSelect id={where + "-move"} label={t("move")} onPick={(id) => void moveTo(targets(), id)} />
			)}
			{may("mayReadItems") && (
				<FolderSelect id={where + "-copy"} label={t("copy")} sameAccount={!shared} onPick={(id) => void copyTo(targets(), id)} />
			)}
			{!shared && (
				<button type="button" disabled={none} onClick={() => void junk(targets(), !inJunk)} data-action="junk">
					{inJunk ? t("notJunk") : t("junk")}
				</button>
			)}
			{may("mayRemoveItems") && (
				<button type="button" class="danger" disabled={none} onClick={() => void trash(targets())} data-action="delete">
					{t("delete")}
				</button>
			)}
		</div>
	);
}
