// SPDX-License-Identifier: MIT
// HTML mail made harmless before it is shown. Three layers, any one of
// which would stop a script or a tracking request on its own:
//  1. DOMPurify with a strict configuration: HTML profile only (no SVG or
//     MathML), no forms, frames, objects, <base>, <meta>, <link>; URLs
//     limited to http(s), mailto, tel and cid. Our hooks then rewrite what
//     is left: remote images (src, background, CSS url()) are removed until
//     the user asks for them, cid: images become data: URLs, links open in
//     a new tab with rel="noopener noreferrer". CSS goes through the
//     browser's own CSS parser (CSSOM), so escapes such as `\75 rl(` are
//     decoded before we look for url().
//  2. The result is a srcdoc with its own Content-Security-Policy:
//     script-src 'none', images only from data: (plus http/https once the
//     user allowed remote images), nothing else.
//  3. The iframe is sandboxed without allow-scripts, allow-forms or
//     allow-top-navigation, under the page's CSP (script-src 'self').
import DOMPurify from "dompurify";

export interface SafeHtml {
	srcdoc: string;
	blocked: number; /* remote resources removed */
}

const FORBID_TAGS = [
	"script", "noscript", "template", "iframe", "frame", "frameset", "object", "embed", "applet", "param",
	"base", "basefont", "link", "meta", "title", "form", "input", "button", "textarea", "select", "option",
	"optgroup", "keygen", "isindex", "svg", "math", "audio", "video", "source", "track", "picture", "portal",
	"dialog", "slot", "xmp", "plaintext", "listing", "noembed", "noframes", "bgsound", "image",
];
const FORBID_ATTR = [
	"srcset", "action", "formaction", "ping", "poster", "lowsrc", "dynsrc", "longdesc", "usemap", "xmlns",
	"autofocus", "contenteditable", "is", "popover", "data", "codebase", "manifest",
];
const URI_OK = /^(?:https?:|mailto:|tel:|cid:|#)/i;
const REMOTE = /^https?:/i;
const CSS_URL = /url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)]*))\s*\)/gi;

interface Ctx {
	allowRemote: boolean;
	cids: Map<string, string>; /* content id (no <>) -> data: URL */
	blocked: number;
}

/* A URL found in mail, as we let it load: null to drop it. */
function mapUrl(ctx: Ctx, raw: string, image: boolean): string | null {
	const url = raw.trim();
	if (/^cid:/i.test(url)) {
		let id = url.slice(4);
		try {
			id = decodeURIComponent(id);
		} catch {
			/* keep it raw */
		}
		return ctx.cids.get(id.replace(/^<|>$/g, "")) ?? null;
	}
	if (image && /^data:image\/(?:png|gif|jpe?g|webp|bmp);/i.test(url)) return url;
	if (REMOTE.test(url)) {
		if (ctx.allowRemote) return url;
		ctx.blocked++;
		return null;
	}
	return null;
}

/* One CSS declaration block, cleaned in place: url() values mapped or the property dropped. */
function cleanStyle(ctx: Ctx, style: CSSStyleDeclaration): void {
	for (let i = style.length - 1; i >= 0; i--) {
		const prop = style.item(i);
		const value = style.getPropertyValue(prop);
		if (!/url\(|image-set|expression|@import|javascript:/i.test(value)) continue;
		let ok = !/expression|javascript:|image-set/i.test(value);
		const mapped = value.replace(CSS_URL, (_m, a, b, c) => {
			const u = mapUrl(ctx, (a ?? b ?? c ?? "").replace(/\\(.)/g, "$1"), true);
			if (u === null) ok = false;
			return `url("${(u ?? "").replace(/["\\\n\r]/g, "")}")`;
		});
		if (ok) style.setProperty(prop, mapped, style.getPropertyPriority(prop));
		else style.removeProperty(prop);
	}
}

function cleanRules(ctx: Ctx, list: CSSRuleList, owner: { deleteRule(i: number): void }): void {
	for (let i = list.length - 1; i >= 0; i--) {
		const rule = list[i] as CSSRule & { style?: CSSStyleDeclaration; cssRules?: CSSRuleList };
		const kind = rule.constructor.name;
		/* @import and @font-face fetch things; @namespace, @property, @layer statements are harmless but useless. */
		if (kind === "CSSImportRule" || kind === "CSSFontFaceRule" || kind === "CSSNamespaceRule") {
			owner.deleteRule(i);
			continue;
		}
		if (rule.style) cleanStyle(ctx, rule.style);
		if (rule.cssRules) cleanRules(ctx, rule.cssRules, rule as unknown as CSSGroupingRule);
	}
}

/* A <style> element's text, parsed by the browser and re-serialised clean. */
function cleanSheet(ctx: Ctx, css: string): string {
	if (typeof CSSStyleSheet === "undefined" || !("replaceSync" in CSSStyleSheet.prototype)) return "";
	try {
		const sheet = new CSSStyleSheet();
		sheet.replaceSync(css.replace(/@import[^;]*;?/gi, ""));
		cleanRules(ctx, sheet.cssRules, sheet);
		/* "<" has no business in CSS outside strings; escaped, "</style>" cannot end the element early. */
		return Array.from(sheet.cssRules, (r) => r.cssText)
			.join("\n")
			.replace(/</g, "\\3c ");
	} catch {
		return "";
	}
}

function hooks(ctx: Ctx): void {
	DOMPurify.addHook("uponSanitizeElement", (node, data) => {
		if (data.tagName === "style" && node.textContent) node.textContent = cleanSheet(ctx, node.textContent);
	});
	DOMPurify.addHook("afterSanitizeAttributes", (node) => {
		const el = node as Element;
		if (!el.getAttribute) return;
		for (const attr of ["src", "background"]) {
			const v = el.getAttribute(attr);
			if (v === null) continue;
			const u = mapUrl(ctx, v, true);
			if (u === null) el.removeAttribute(attr);
			else el.setAttribute(attr, u);
		}
		const style = el.getAttribute("style");
		if (style !== null) {
			const s = (el as HTMLElement).style;
			if (s) {
				cleanStyle(ctx, s);
				const text = s.cssText;
				if (text) el.setAttribute("style", text);
				else el.removeAttribute("style");
			} else el.removeAttribute("style");
		}
		if (el.tagName === "A" || el.tagName === "AREA") {
			const href = el.getAttribute("href");
			if (href !== null && !/^(?:https?:|mailto:|tel:|#)/i.test(href.trim())) el.removeAttribute("href");
			if (href !== null && !href.trim().startsWith("#")) {
				el.setAttribute("target", "_blank");
				el.setAttribute("rel", "noopener noreferrer");
			}
		}
	});
}

const PURIFY = {
	USE_PROFILES: { html: true },
	WHOLE_DOCUMENT: true,
	RETURN_DOM: true,
	FORBID_TAGS,
	FORBID_ATTR,
	ADD_ATTR: ["target"],
	ALLOWED_URI_REGEXP: URI_OK,
	ALLOW_DATA_ATTR: false,
	ALLOW_UNKNOWN_PROTOCOLS: false,
	SAFE_FOR_TEMPLATES: false,
	SANITIZE_DOM: true,
	SANITIZE_NAMED_PROPS: true,
};

const BASE_CSS =
	"html,body{margin:0}body{padding:12px;font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff;" +
	"overflow-wrap:anywhere}img{max-width:100%;height:auto}pre{white-space:pre-wrap}" +
	"blockquote{margin:0 0 0 .5em;padding-left:.8em;border-left:3px solid #ccc}";

export function frameCsp(allowRemote: boolean): string {
	const img = allowRemote ? "data: http: https:" : "data:";
	return `default-src 'none'; script-src 'none'; object-src 'none'; img-src ${img}; style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'`;
}

/* The srcdoc of the sandboxed frame that shows html. */
export function sanitizeMail(html: string, allowRemote: boolean, cids: Map<string, string>): SafeHtml {
	const ctx: Ctx = { allowRemote, cids, blocked: 0 };
	hooks(ctx);
	let root: HTMLElement;
	try {
		root = DOMPurify.sanitize(html, PURIFY) as unknown as HTMLElement;
	} finally {
		DOMPurify.removeAllHooks();
	}
	const head = root.querySelector("head");
	const body = root.querySelector("body");
	const styles = head ? Array.from(head.querySelectorAll("style"), (s) => s.outerHTML).join("") : "";
	const bodyHtml = body ? body.innerHTML : root.innerHTML;
	const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
	const srcdoc =
		`<!doctype html><html><head><meta charset="utf-8">` +
		`<meta http-equiv="Content-Security-Policy" content="${esc(frameCsp(allowRemote))}">` +
		`<meta name="referrer" content="no-referrer">` +
		`<style>${BASE_CSS}</style>${styles}</head><body>${bodyHtml}</body></html>`;
	return { srcdoc, blocked: ctx.blocked };
}

/* Our own editor's HTML, before it is sent: the same rules, no remote images kept out. */
export function sanitizeOutgoing(html: string): string {
	return DOMPurify.sanitize(html, {
		USE_PROFILES: { html: true },
		FORBID_TAGS,
		FORBID_ATTR: [...FORBID_ATTR, "style", "class", "id"],
		ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|tel:)/i,
	}) as unknown as string;
}
