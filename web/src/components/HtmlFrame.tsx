// SPDX-License-Identifier: MIT
// An HTML body, sanitised (sanitize.ts, DOMPurify) into a sandboxed iframe;
// see MailFrame.tsx. A chunk of its own, loaded on first use.
import { useEffect, useMemo, useRef } from "preact/hooks";
import { t } from "../i18n";
import { sanitizeMail } from "../sanitize";

export function HtmlFrame({ html, cids, allowRemote, onBlocked }: {
	html: string; cids: Map<string, string>; allowRemote: boolean; onBlocked: (n: number) => void;
}) {
	const frame = useRef<HTMLIFrameElement>(null);
	const safe = useMemo(() => sanitizeMail(html, allowRemote, cids), [html, allowRemote, cids]);
	useEffect(() => onBlocked(safe.blocked), [safe]);
	useEffect(() => {
		const f = frame.current;
		if (!f) return;
		let ro: ResizeObserver | null = null;
		const fit = () => {
			try {
				const d = f.contentDocument;
				if (d && d.documentElement)
					f.style.height = Math.max(40, Math.ceil(d.documentElement.getBoundingClientRect().height) + 2) + "px";
			} catch {
				/* not reachable: keep the CSS height */
			}
		};
		const onLoad = () => {
			if (allowRemote) {
				/* /mail-frame is empty: put the sanitised document in it. */
				try {
					const d = f.contentDocument;
					/* (not the initial about:blank, which has the app's policy) */
					if (!d || d.location.pathname !== "/mail-frame" || d.body === null || d.body.dataset.filled) return;
					const parsed = new DOMParser().parseFromString(safe.srcdoc, "text/html");
					d.documentElement.replaceWith(d.importNode(parsed.documentElement, true));
					d.body.dataset.filled = "1";
				} catch {
					return;
				}
			}
			fit();
			try {
				const d = f.contentDocument;
				if (d && d.body && typeof ResizeObserver !== "undefined") {
					ro = new ResizeObserver(fit);
					ro.observe(d.body);
				}
			} catch {
				/* idem */
			}
		};
		f.addEventListener("load", onLoad);
		if (f.contentDocument && f.contentDocument.readyState === "complete" && f.contentDocument.body) onLoad();
		return () => {
			f.removeEventListener("load", onLoad);
			if (ro) ro.disconnect();
		};
	}, [safe]);
	/*
	 * By default the frame is a srcdoc document, which inherits the app's
	 * policy (img-src 'self' data: blob:): nothing remote can load, whatever
	 * the sanitiser missed. Once the reader asks for remote images, the frame
	 * is /mail-frame instead, an empty document served with its own policy
	 * (scripts none, sandboxed, img-src http: https: data:), filled from here.
	 */
	if (allowRemote)
		return (
			<iframe key="remote" ref={frame} class="mail-frame" title={t("message")} src="/mail-frame"
				sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" />
		);
	return (
		<iframe key="local" ref={frame} class="mail-frame" title={t("message")} srcdoc={safe.srcdoc}
			sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" />
	);
}
