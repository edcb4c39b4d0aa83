// SPDX-License-Identifier: MIT
// The shell: sign-in or the three panes (folders, list, reader), the
// composer, notices, the keyboard shortcuts and their help.
import { useEffect } from "preact/hooks";
import { t, type Key } from "../i18n";
import { closeEmail, junk, setKeyword, signOut, targets, trash } from "../mail";
import { startCompose, startForward, startReply } from "../compose";
import { state, update, useApp } from "../store";
import { Icon } from "./Icons";
import { Login } from "./Login";
import { MessageList, open } from "./MessageList";
import { Reader } from "./Reader";
import { Sidebar } from "./Sidebar";
import { lazy, preloadLazy } from "../lazy";

const Compose = lazy(() => import("./extras").then((m) => m.Compose));
const Settings = lazy(() => import("./extras").then((m) => m.Settings));

const KEYS: [string, Key][] = [
	["j / k", "key.jk"], ["Enter, o", "key.enter"], ["u", "key.u"], ["r", "key.r"], ["a", "key.a"], ["f", "key.f"],
	["c", "key.c"], ["#, Delete", "key.del"], ["s", "key.s"], ["x", "key.x"], ["Shift+I", "key.I"], ["Shift+U", "key.U"],
	["!", "key.junk"], ["/", "key.search"], ["?", "key.help"], ["Esc", "key.esc"],
];

function moveCursor(delta: number): void {
	const ids = state.ids;
	if (!ids.length) return;
	const i = state.cursor ? ids.indexOf(state.cursor) : -1;
	const next = ids[Math.max(0, Math.min(ids.length - 1, i + delta))];
	update({ cursor: next });
	document.getElementById("msg-" + next)?.scrollIntoView({ block: "nearest" });
	if (state.open) {
		const e = state.emails[next];
		if (e) open(e);
	}
}

function current() {
	const id = state.open || state.cursor;
	if (!id) return null;
	return state.conversation.length ? state.conversation[state.conversation.length - 1] : state.emails[id] || null;
}

function onKey(ev: KeyboardEvent): void {
	if (ev.ctrlKey || ev.metaKey || ev.altKey || state.phase !== "ready") return;
	const el = ev.target as HTMLElement;
	if (el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName))) return;
	const k = ev.key;
	const handled = () => ev.preventDefault();
	if (k === "Escape") {
		if (state.help) update({ help: false });
		else if (state.compose) return;
		else if (state.open) closeEmail();
		else if (state.view !== "mail") update({ view: "mail" });
		return;
	}
	if (state.compose) return;
	switch (k) {
		case "j": moveCursor(1); return handled();
		case "k": moveCursor(-1); return handled();
		case "Enter": case "o": {
			if (el && el.tagName === "BUTTON" && k === "Enter") return;
			const e = state.cursor ? state.emails[state.cursor] : null;
			if (e) open(e);
			return handled();
		}
		case "u": closeEmail(); return handled();
		case "c": startCompose(); return handled();
		case "/": document.getElementById("search-input")?.focus(); return handled();
		case "?": update({ help: !state.help }); return handled();
		case "x": {
			if (!state.cursor) return;
			const sel = { ...state.selected };
			if (sel[state.cursor]) delete sel[state.cursor];
			else sel[state.cursor] = true;
			update({ selected: sel });
			return handled();
		}
	}
	const e = current();
	if (!e) return;
	switch (k) {
		case "r": if (state.open) startReply(e, false); return handled();
		case "a": if (state.open) startReply(e, true); return handled();
		case "f": if (state.open) startForward(e); return handled();
		case "#": case "Delete": void trash(targets()); return handled();
		case "!": void junk(targets(), true); return handled();
		case "s": void setKeyword(targets(), "$flagged", !e.keywords.$flagged); return handled();
		case "I": void setKeyword(targets(), "$seen", true); return handled();
		case "U": void setKeyword(targets(), "$seen", false); return handled();
	}
}

function Help() {
	return (
		<div class="overlay" onClick={() => update({ help: false })}>
			<div class="help" role="dialog" aria-modal="true" aria-labelledby="help-title" onClick={(e) => e.stopPropagation()}>
				<h2 id="help-title">{t("shortcuts")}</h2>
				<dl>
					{KEYS.map(([key, label]) => (
						<>
							<dt><kbd>{key}</kbd></dt>
							<dd>{t(label)}</dd>
						</>
					))}
				</dl>
				<button type="button" class="primary" autofocus onClick={() => update({ help: false })}>{t("close")}</button>
			</div>
		</div>
	);
}

export function App() {
	const app = useApp();
	useEffect(() => {
		document.addEventListener("keydown", onKey);
		return () => document.removeEventListener("keydown", onKey);
	}, []);
	useEffect(() => {
		const box = app.mailboxes.find((m) => m.role === "inbox");
		document.title = box && box.unreadEmails ? `(${box.unreadEmails}) facteur` : "facteur";
	}, [app.mailboxes]);
	useEffect(() => {
		if (app.phase === "ready") preloadLazy();
	}, [app.phase]);
	if (app.phase === "boot") return <p class="boot loading">{t("loading")}</p>;
	if (app.phase === "login") return <Login />;
	const right = app.view === "settings" ? "settings" : app.open ? "reader" : "list";
	return (
		<div class={"shell show-" + right}>
			<a href="#message-list" class="skip">{t("skipToList")}</a>
			<header class="topbar">
				<span class="brand"><span aria-hidden="true">✉</span> {t("appName")}</span>
				<span class="user" id="current-user">{app.me?.username}</span>
				<button type="button" class="link" onClick={() => update({ help: true })} aria-label={t("shortcuts")}>?</button>
				<button type="button" class="link" onClick={() => void signOut()} id="sign-out">{t("signOut")}</button>
			</header>
			{app.nav && <div class="scrim only-phone" onClick={() => update({ nav: false })} />}
			<Sidebar />
			<main class="main">
				<MessageList />
				{app.view === "settings" ? <Settings /> : <Reader />}
			</main>
			{app.compose && <Compose key={app.compose.key} init={app.compose} />}
			{app.help && <Help />}
			<div class="notices" aria-live="polite" role="status">
				{app.notice && <p class={"notice " + app.notice.kind}>{app.notice.text}</p>}
			</div>
			<button type="button" class="fab only-phone" aria-label={t("compose")} onClick={() => startCompose()}><Icon name="pen" /></button>
		</div>
	);
}
