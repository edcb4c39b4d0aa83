// SPDX-License-Identifier: MIT
// One message body. HTML goes through HtmlFrame (HtmlFrame.tsx) into a sandboxed
// iframe (srcdoc; no allow-scripts, no allow-forms, no top navigation;
// allow-popups so that links open in a new tab, allow-same-origin only so
// that we can size the frame to its content - nothing can run inside it).
// Plain text is rendered by Preact (escaped), with links made clickable.
import { useEffect, useState } from "preact/hooks";
import type { Email } from "../jmap";
import { jmap } from "../jmap";
import { t } from "../i18n";
import { lazy } from "../lazy";

/* DOMPurify and the frame come in their own chunk (lazy.ts): plain text needs neither. */
const HtmlFrame = lazy(() => import("./extras").then((m) => m.HtmlFrame));

const MAX_INLINE_IMAGE = 5 * 1024 * 1024;
const URL_RE = /\b(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])/gi;

function Linkified({ text }: { text: string }) {
	const out: (string | preact.JSX.Element)[] = [];
	let last = 0;
	for (const m of text.matchAll(URL_RE)) {
		const i = m.index ?? 0;
		if (i > last) out.push(text.slice(last, i));
		out.push(<a href={m[0]} target="_blank" rel="noopener noreferrer">{m[0]}</a>);
		last = i + m[0].length;
	}
	if (last < text.length) out.push(text.slice(last));
	return <>{out}</>;
}

export function PlainText({ text }: { text: string }) {
	const lines = text.replace(/\r\n/g, "\n").split("\n");
	/* Group consecutive lines by quote depth, so that quotes can be styled. */
	const blocks: { depth: number; lines: string[] }[] = [];
	for (const l of lines) {
		const m = l.match(/^((?:>\s?)*)/);
		const depth = m ? (m[1].match(/>/g) || []).length : 0;
		const body = depth ? l.slice(m![1].length) : l;
		const b = blocks[blocks.length - 1];
		if (b && b.depth === depth) b.lines.push(body);
		else blocks.push({ depth, lines: [body] });
	}
	return (
		<div class="plain">
			{blocks.map((b) => (
				<div class={"q" + Math.min(b.depth, 3)}>
					<Linkified text={b.lines.join("\n")} />
				</div>
			))}
		</div>
	);
}

function partsText(e: Email, kind: "htmlBody" | "textBody", type: string): string | null {
	const parts = (e[kind] || []).filter((p) => p.type === type && p.partId && e.bodyValues && e.bodyValues[p.partId]);
	if (!parts.length) return null;
	return parts.map((p) => e.bodyValues![p.partId!].value).join(type === "text/html" ? "<hr>" : "\n");
}

export function MailBody({ e }: { e: Email }) {
	const html = partsText(e, "htmlBody", "text/html");
	const text = partsText(e, "textBody", "text/plain") ?? partsText(e, "htmlBody", "text/plain") ?? e.preview ?? "";
	const [allowRemote, setAllowRemote] = useState(false);
	const [blocked, setBlocked] = useState(0);
	const [cids, setCids] = useState<Map<string, string> | null>(null);
	useEffect(() => {
		if (html === null) return;
		let live = true;
		const wanted = (e.attachments || []).filter((a) => a.cid && a.blobId && /^image\//i.test(a.type) && a.size <= MAX_INLINE_IMAGE);
		const map = new Map<string, string>();
		if (!wanted.length || !/cid:/i.test(html)) {
			setCids(map);
			return;
		}
		void Promise.all(
			wanted.map(async (a) => {
				const url = await jmap.dataUrl(a.blobId!, a.type, MAX_INLINE_IMAGE).catch(() => null);
				if (url) map.set(a.cid!.replace(/^<|>$/g, ""), url);
			}),
		).then(() => live && setCids(map));
		return () => {
			live = false;
		};
	}, [e.id]);
	if (html === null) return <PlainText text={text} />;
	if (!cids) return <p class="loading">{t("loading")}</p>;
	return (
		<>
			{blocked > 0 && !allowRemote && (
				<div class="remote-banner" role="status">
					<span>{t("imagesBlocked")}</span>
					<button type="button" onClick={() => setAllowRemote(true)} data-action="show-images">{t("showImages")}</button>
				</div>
			)}
			<HtmlFrame html={html} cids={cids} allowRemote={allowRemote} onBlocked={setBlocked} />
		</>
	);
}
