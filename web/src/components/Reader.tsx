// SPDX-License-Identifier: MIT
// The reading pane: a conversation, oldest first, the newest (or the one
// picked in the list) expanded. Each message has its header, body,
// attachments (download links) and raw headers on demand.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Email } from "../jmap";
import { jmap } from "../jmap";
import { formatDate, t } from "../i18n";
import { addrText, closeEmail, loadHeaders } from "../mail";
import { startForward, startReply } from "../compose";
import { useApp } from "../store";
import { Icon } from "./Icons";
import { MailBody } from "./MailFrame";
import { Toolbar } from "./Toolbar";

function size(n: number): string {
	return n < 1024 ? n + " B" : t("sizeKB", { n: Math.max(1, Math.round(n / 1024)) });
}

function Headers({ id }: { id: string }) {
	const [h, setH] = useState<{ name: string; value: string }[] | null>(null);
	useEffect(() => {
		void loadHeaders(id).then(setH, () => setH([]));
	}, [id]);
	if (!h) return <p class="loading">{t("loading")}</p>;
	return (
		<pre class="raw-headers" tabIndex={0}>
			{h.map((x) => `${x.name}:${x.value}`).join("\n")}
		</pre>
	);
}

function Message({ e, expanded, onToggle }: { e: Email; expanded: boolean; onToggle: () => void }) {
	const [headers, setHeaders] = useState(false);
	const from = e.from && e.from[0];
	const atts = (e.attachments || []).filter((a) => a.blobId && !(a.cid && /^image\//.test(a.type) && a.disposition === "inline"));
	if (!expanded)
		return (
			<article class="msg collapsed">
				<button type="button" class="msg-summary" onClick={onToggle} aria-expanded="false">
					<strong>{from ? from.name || from.email : t("unknownSender")}</strong>
					<span class="preview">{e.preview}</span>
					<time dateTime={e.receivedAt}>{formatDate(e.receivedAt)}</time>
				</button>
			</article>
		);
	return (
		<article class="msg" aria-label={e.subject || t("noSubject")} data-id={e.id}>
			<header class="msg-head">
				<button type="button" class="msg-summary" onClick={onToggle} aria-expanded="true">
					<strong class="msg-from">{from ? (from.name ? `${from.name} <${from.email}>` : from.email) : t("unknownSender")}</strong>
					<time dateTime={e.sentAt || e.receivedAt}>{formatDate(e.sentAt || e.receivedAt, true)}</time>
				</button>
				<dl class="addr">
					{e.to && e.to.length > 0 && (<><dt>{t("to")}</dt><dd>{addrText(e.to)}</dd></>)}
					{e.cc && e.cc.length > 0 && (<><dt>{t("cc")}</dt><dd>{addrText(e.cc)}</dd></>)}
				</dl>
				<div class="msg-actions">
					<button type="button" onClick={() => startReply(e, false)} data-action="reply"><Icon name="reply" /> {t("reply")}</button>
					<button type="button" onClick={() => startReply(e, true)} data-action="reply-all">{t("replyAll")}</button>
					<button type="button" onClick={() => startForward(e)} data-action="forward"><Icon name="forward" /> {t("forward")}</button>
					<button type="button" class="link" aria-expanded={headers} onClick={() => setHeaders(!headers)}>
						{headers ? t("hideHeaders") : t("showHeaders")}
					</button>
				</div>
				{headers && <Headers id={e.id} />}
			</header>
			<MailBody e={e} />
			{atts.length > 0 && (
				<section class="attachments" aria-label={t("attachments")}>
					<h4>{t("attachments")}</h4>
					<ul>
						{atts.map((a) => (
							<li>
								<a href={jmap.downloadUrl(a.blobId!, a.name || "attachment", a.type)} download={a.name || "attachment"} class="attachment">
									<Icon name="clip" /> <span class="att-name">{a.name || "attachment"}</span> <span class="att-size">{size(a.size)}</span>
									<span class="visually-hidden"> {t("download")}</span>
								</a>
							</li>
						))}
					</ul>
				</section>
			)}
		</article>
	);
}

export function Reader() {
	const app = useApp();
	const [expanded, setExpanded] = useState<Record<string, boolean>>({});
	const heading = useRef<HTMLHeadingElement>(null);
	useEffect(() => {
		setExpanded({});
		if (heading.current) heading.current.focus();
	}, [app.open]);
	if (!app.open) return null;
	const conv = app.conversation;
	const item = app.emails[app.open] || conv.find((c) => c.id === app.open);
	const last = conv.length ? conv[conv.length - 1].id : null;
	return (
		<section class="reader" aria-label={t("message")} id="reader">
			<div class="reader-bar">
				<button type="button" class="icon-btn" aria-label={t("back")} onClick={closeEmail} data-action="back"><Icon name="back" /></button>
				<Toolbar where="reader" />
			</div>
			<h2 class="reader-subject" tabIndex={-1} ref={heading}>
				{(item && item.subject) || t("noSubject")}
				{conv.length > 1 && <span class="thread-count">{t("conversation", { n: conv.length })}</span>}
			</h2>
			{!conv.length && <p class="loading">{t("loading")}</p>}
			{conv.map((e) => (
				<Message key={e.id} e={e}
					expanded={expanded[e.id] ?? (e.id === app.open || e.id === last)}
					onToggle={() => setExpanded({ ...expanded, [e.id]: !(expanded[e.id] ?? (e.id === app.open || e.id === last)) })} />
			))}
		</section>
	);
}
