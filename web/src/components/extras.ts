// SPDX-License-Identifier: MIT
// What the inbox's first paint does not need, in one chunk loaded on
// demand (lazy.ts): the composer, the settings and the HTML mail frame with
// DOMPurify. One chunk rather than one per component: esbuild splits the
// code shared between the entry and each dynamic import into chunks of its
// own, and every one of those would be one more request before the paint.
export { Compose } from "./Compose";
export { HtmlFrame } from "./HtmlFrame";
export { Settings } from "./Settings";
