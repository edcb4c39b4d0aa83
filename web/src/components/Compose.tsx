// SPDX-License-Identifier: MIT
// The composer: recipients, subject, plain or rich text (a contenteditable
// area with a few formatting buttons; its HTML is sanitised before it
// leaves), attachments by button or drag and drop (JMAP upload), a draft
// saved two seconds after each change, and sending through
// EmailSubmission/set.
import { useEffect, useRef, useState } from "preact/hooks";
import { jmap } from "../jmap";
import { t } from "../i18n";
import { addrList, discardDraft, errorText, saveDraft, send, type Draft } from "../mail";
import { sanitizeOutgoing } from "../sanitize";
import { textToHtml } from "../compose";
import { notify, update, useApp, type Attachment, type ComposeInit } from "../store";
import { Icon } from "./Icons";

const SAVE_DELAY = 2000;

function Editor({ init, onChange, editorRef }: { init: string; onChange: () => void; editorRef: { current: HTMLDivElement | null } }) {
	useEffect(() => {
		if (editorRef.current) editorRef.current.innerHTML = sanitizeOutgoing(init);
	}, []);
	const cmd = (c: string, v?: string) => {
		document.execCommand(c, false, v);
		editorRef.current?.focus();
		onChange();
	};
	return (
		<div class="rich">
			<div class="rich-bar" role="toolbar" aria-label={t("richText")}>
				<button type="button" aria-label={t("bold")} onClick={() => cmd("bold")}><b>B</b></button>
				<button type="button" aria-label={t("italic")} onClick={() => cmd("italic")}><i>I</i></button>
				<button type="button" aria-label={t("underline")} onClick={() => cmd("underline")}><u>U</u></button>
				<button type="button" aria-label={t("bulletList")} onClick={() => cmd("insertUnorderedList")}>•</button>
				<button type="button" aria-label={t("numberedList")} onClick={() => cmd("insertOrderedList")}>1.</button>
				<button type="button" aria-label={t("link")} onClick={() => {
					const u = prompt(t("linkPrompt"), "https://");
					if (u && /^(https?:|mailto:)/i.test(u)) cmd("createLink", u);
				}}>🔗</button>
			</div>
			<div ref={editorRef} class="rich-area" contentEditable role="textbox" aria-multiline="true" aria-label={t("message")}
				onInput={onChange} />
		</div>
	);
}

export function Compose({ init }: { init: ComposeInit }) {
	const app = useApp();
	const [to, setTo] = useState(init.to);
	const [cc, setCc] = useState(init.cc);
	const [bcc, setBcc] = useState(init.bcc);
	const [showCc, setShowCc] = useState(Boolean(init.cc || init.bcc));
	const [subject, setSubject] = useState(init.subject);
	const [text, setText] = useState(init.text);
	const [rich, setRich] = useState(init.rich);
	const [atts, setAtts] = useState<Attachment[]>(init.attachments);
	const [uploading, setUploading] = useState<string[]>([]);
	const [status, setStatus] = useState("");
	const [busy, setBusy] = useState(false);
	const [drag, setDrag] = useState(false);
	const [dirty, setDirty] = useState(0);
	const editor = useRef<HTMLDivElement | null>(null);
	const richInit = useRef(init.html || textToHtml(init.text));
	const draftId = useRef<string | null>(init.draftId);
	const saving = useRef<Promise<void>>(Promise.resolve());
	const closed = useRef(false);
	const first = useRef<HTMLInputElement>(null);

	useEffect(() => {
		first.current?.focus();
	}, []);

	function current(): Draft {
		let html: string | null = null;
		let body = text;
		if (rich && editor.current) {
			html = sanitizeOutgoing(editor.current.innerHTML);
			body = editor.current.innerText;
		}
		return { to, cc, bcc, subject, text: body, html, attachments: atts, inReplyTo: init.inReplyTo, references: init.references };
	}

	/* Drafts: saved SAVE_DELAY after the last change, one save at a time. */
	useEffect(() => {
		if (!dirty) return;
		const timer = setTimeout(() => {
			const d = current();
			saving.current = saving.current.then(async () => {
				if (closed.current) return;
				setStatus(t("draftSaving"));
				try {
					draftId.current = await saveDraft(d, draftId.current);
					setStatus(t("draftSaved"));
				} catch (e) {
					setStatus(errorText(e));
				}
			});
		}, SAVE_DELAY);
		return () => clearTimeout(timer);
	}, [dirty]);
	const changed = () => setDirty((n) => n + 1);

	async function addFiles(files: FileList | File[] | null) {
		for (const f of Array.from(files || [])) {
			setUploading((u) => [...u, f.name]);
			try {
				const r = await jmap.upload(f);
				setAtts((a) => [...a, { blobId: r.blobId, name: f.name, type: f.type || r.type || "application/octet-stream", size: f.size }]);
				changed();
			} catch (e) {
				notify(errorText(e), "error");
			} finally {
				setUploading((u) => u.filter((n) => n !== f.name));
			}
		}
	}

	async function doSend(ev: Event) {
		ev.preventDefault();
		const d = current();
		if (![...addrList(d.to), ...addrList(d.cc), ...addrList(d.bcc)].some((a) => /.@./.test(a.email))) {
			setStatus(t("noRecipient"));
			return;
		}
		setBusy(true);
		setStatus(t("sending"));
		closed.current = true;
		try {
			await saving.current;
			await send(d, draftId.current, init);
			update({ compose: null });
			notify(t("sent"));
		} catch (e) {
			closed.current = false;
			setBusy(false);
			setStatus(errorText(e));
		}
	}

	async function discard() {
		closed.current = true;
		await saving.current;
		await discardDraft(draftId.current);
		update({ compose: null });
	}

	function switchMode() {
		if (rich && editor.current) setText(editor.current.innerText);
		else richInit.current = textToHtml(text);
		setRich(!rich);
		changed();
	}

	const input = (id: string, label: string, value: string, set: (v: string) => void, ref?: any) => (
		<div class="field">
			<label for={id}>{label}</label>
			<input id={id} ref={ref} value={value} type="text" autocomplete="off" multiple
				onInput={(e) => {
					set((e.target as HTMLInputElement).value);
					changed();
				}} />
		</div>
	);

	return (
		<section class={"compose" + (drag ? " drag" : "")} role="dialog" aria-label={t("compose")}
			onDragOver={(e) => {
				if (e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files")) {
					e.preventDefault();
					setDrag(true);
				}
			}}
			onDragLeave={(e) => {
				if (e.target === e.currentTarget) setDrag(false);
			}}
			onDrop={(e) => {
				if (!e.dataTransfer || !e.dataTransfer.files.length) return;
				e.preventDefault();
				setDrag(false);
				void addFiles(e.dataTransfer.files);
			}}>
			<form onSubmit={doSend}>
				<header class="compose-head">
					<h2>{subject || t("compose")}</h2>
					<button type="button" class="icon-btn" aria-label={t("close")} onClick={() => update({ compose: null })}><Icon name="close" /></button>
				</header>
				<div class="compose-from">{t("from")}: {app.identities[0] ? `${app.identities[0].name || ""} <${app.identities[0].email}>` : app.me?.username}</div>
				{input("compose-to", t("to"), to, setTo, first)}
				{!showCc && <button type="button" class="link" onClick={() => setShowCc(true)}>{t("cc")} / {t("bcc")}</button>}
				{showCc && input("compose-cc", t("cc"), cc, setCc)}
				{showCc && input("compose-bcc", t("bcc"), bcc, setBcc)}
				{input("compose-subject", t("subject"), subject, setSubject)}
				<div class="compose-mode">
					<button type="button" class="link" onClick={switchMode} data-action="mode">{rich ? t("plainText") : t("richText")}</button>
				</div>
				{rich ? (
					<Editor init={richInit.current} onChange={changed} editorRef={editor} />
				) : (
					<textarea id="compose-body" aria-label={t("message")} value={text} rows={14}
						onInput={(e) => {
							setText((e.target as HTMLTextAreaElement).value);
							changed();
						}} />
				)}
				<div class="compose-atts">
					<label class="button">
						<Icon name="clip" /> {t("attach")}
						<input type="file" multiple class="visually-hidden" id="compose-file" onChange={(e) => {
							void addFiles((e.target as HTMLInputElement).files);
							(e.target as HTMLInputElement).value = "";
						}} />
					</label>
					<span class="hint">{t("dropFiles")}</span>
					<ul>
						{atts.map((a) => (
							<li class="att" data-blob={a.blobId}>
								<span>{a.name}</span>
								<button type="button" class="link" aria-label={t("remove") + " " + a.name} onClick={() => {
									setAtts(atts.filter((x) => x !== a));
									changed();
								}}>×</button>
							</li>
						))}
						{uploading.map((n) => <li class="att uploading">{t("uploading", { name: n })}</li>)}
					</ul>
				</div>
				<footer class="compose-foot">
					<button type="submit" class="primary" disabled={busy || uploading.length > 0} data-action="send">{t("send")}</button>
					<button type="button" onClick={() => void discard()} disabled={busy}>{t("discard")}</button>
					<span class="status" role="status" aria-live="polite">{status}</span>
				</footer>
			</form>
		</section>
	);
}
