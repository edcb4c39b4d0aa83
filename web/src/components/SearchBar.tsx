// SPDX-License-Identifier: MIT
// Search: words in the box search everything (JMAP "text"); the advanced
// panel adds from, to, subject, dates and "has attachment".
import { useState } from "preact/hooks";
import { t } from "../i18n";
import { runSearch } from "../mail";
import { useApp, type Search } from "../store";
import { Icon } from "./Icons";

const EMPTY: Search = { text: "", from: "", to: "", subject: "", after: "", before: "", hasAttachment: false };

export function SearchBar() {
	const app = useApp();
	const [s, setS] = useState<Search>(app.search || EMPTY);
	const [adv, setAdv] = useState(false);
	const field = (k: keyof Search, label: string, type = "text") => (
		<label>
			<span>{label}</span>
			<input type={type} name={"search-" + k} value={s[k] as string}
				onInput={(e) => setS({ ...s, [k]: (e.target as HTMLInputElement).value })} />
		</label>
	);
	function submit(e: Event) {
		e.preventDefault();
		const empty = !s.text.trim() && !s.from.trim() && !s.to.trim() && !s.subject.trim() && !s.after && !s.before && !s.hasAttachment;
		setAdv(false);
		void runSearch(empty ? null : s);
	}
	return (
		<form class="search" role="search" onSubmit={submit}>
			<div class="search-line">
				<label for="search-input" class="visually-hidden">{t("searchMail")}</label>
				<input id="search-input" type="search" placeholder={t("searchMail")} value={s.text}
					onInput={(e) => setS({ ...s, text: (e.target as HTMLInputElement).value })}
					onKeyDown={(e) => {
						if (e.key === "Escape") (e.target as HTMLInputElement).blur();
					}} />
				<button type="submit" class="icon-btn" aria-label={t("search")}><Icon name="search" /></button>
				<button type="button" class="link" aria-expanded={adv} aria-controls="search-adv" onClick={() => setAdv(!adv)}>{t("advanced")}</button>
				{app.search && (
					<button type="button" class="link" onClick={() => {
						setS(EMPTY);
						void runSearch(null);
					}}>{t("clearSearch")}</button>
				)}
			</div>
			{adv && (
				<div class="search-adv" id="search-adv">
					{field("from", t("from"))}
					{field("to", t("to"))}
					{field("subject", t("subject"))}
					{field("after", t("after"), "date")}
					{field("before", t("before"), "date")}
					<label class="check">
						<input type="checkbox" name="search-hasAttachment" checked={s.hasAttachment}
							onChange={(e) => setS({ ...s, hasAttachment: (e.target as HTMLInputElement).checked })} />
						<span>{t("hasAttachment")}</span>
					</label>
					<button type="submit" class="primary">{t("search")}</button>
				</div>
			)}
		</form>
	);
}
