// SPDX-License-Identifier: MIT
// The language menu, on the sign-in page and in the settings.
import { useState } from "preact/hooks";
import { getLang, setLang, t, type Lang } from "../i18n";
import { update } from "../store";

export function LangSwitch() {
	const [, force] = useState(0);
	return (
		<div class="field lang">
			<label for="lang-select">{t("language")}</label>
			<select id="lang-select" value={getLang()} onChange={(e) => {
				setLang((e.target as HTMLSelectElement).value as Lang);
				force((n) => n + 1);
				update({}); /* re-render everything in the new language */
			}}>
				<option value="en" lang="en">English</option>
				<option value="fr" lang="fr">Français</option>
			</select>
		</div>
	);
}
