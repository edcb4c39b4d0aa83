// SPDX-License-Identifier: MIT
// Settings: identity (name, signature), vacation reply, password, language.
import { useEffect, useState } from "preact/hooks";
import { changePassword, HttpError } from "../api";
import { t } from "../i18n";
import { errorText, identity, loadVacation, saveIdentity, saveVacation, type Vacation } from "../mail";
import { notify, state, update, useApp } from "../store";
import { Icon } from "./Icons";
import { LangSwitch } from "./LangSwitch";

function IdentityForm() {
	useApp();
	const me = identity();
	const [name, setName] = useState(me.name || "");
	const [sig, setSig] = useState(me.textSignature || "");
	useEffect(() => {
		setName(me.name || "");
		setSig(me.textSignature || "");
	}, [me.id]);
	return (
		<form class="card" aria-labelledby="set-identity" onSubmit={(e) => {
			e.preventDefault();
			saveIdentity(name, sig).then(() => notify(t("saved")), (err) => notify(errorText(err), "error"));
		}}>
			<h3 id="set-identity">{t("identity")}</h3>
			<p class="muted">{me.email}</p>
			<div class="field">
				<label for="id-name">{t("displayName")}</label>
				<input id="id-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
			</div>
			<div class="field">
				<label for="id-sig">{t("signature")}</label>
				<textarea id="id-sig" rows={4} value={sig} onInput={(e) => setSig((e.target as HTMLTextAreaElement).value)} />
			</div>
			<button type="submit" class="primary">{t("save")}</button>
		</form>
	);
}

function VacationForm() {
	const [v, setV] = useState<Vacation | null>(null);
	const [err, setErr] = useState("");
	useEffect(() => {
		loadVacation().then(setV, (e) => setErr(errorText(e)));
	}, []);
	if (err) return <section class="card"><h3>{t("vacation")}</h3><p class="error">{err}</p></section>;
	if (!v) return <section class="card"><h3>{t("vacation")}</h3><p class="loading">{t("loading")}</p></section>;
	const day = (iso: string | null) => (iso ? iso.slice(0, 10) : "");
	const iso = (d: string) => (d ? d + "T00:00:00Z" : null);
	return (
		<form class="card" aria-labelledby="set-vacation" onSubmit={(e) => {
			e.preventDefault();
			saveVacation(v).then(() => notify(t("saved")), (er) => notify(errorText(er), "error"));
		}}>
			<h3 id="set-vacation">{t("vacation")}</h3>
			<label class="check">
				<input type="checkbox" id="vac-on" checked={v.isEnabled} onChange={(e) => setV({ ...v, isEnabled: (e.target as HTMLInputElement).checked })} />
				<span>{t("vacationOn")}</span>
			</label>
			<div class="row">
				<div class="field">
					<label for="vac-from">{t("vacationFrom")}</label>
					<input id="vac-from" type="date" value={day(v.fromDate)} onInput={(e) => setV({ ...v, fromDate: iso((e.target as HTMLInputElement).value) })} />
				</div>
				<div class="field">
					<label for="vac-to">{t("vacationTo")}</label>
					<input id="vac-to" type="date" value={day(v.toDate)} onInput={(e) => setV({ ...v, toDate: iso((e.target as HTMLInputElement).value) })} />
				</div>
			</div>
			<div class="field">
				<label for="vac-subject">{t("vacationSubject")}</label>
				<input id="vac-subject" value={v.subject || ""} onInput={(e) => setV({ ...v, subject: (e.target as HTMLInputElement).value })} />
			</div>
			<div class="field">
				<label for="vac-body">{t("vacationBody")}</label>
				<textarea id="vac-body" rows={5} value={v.textBody || ""} onInput={(e) => setV({ ...v, textBody: (e.target as HTMLTextAreaElement).value })} />
			</div>
			<button type="submit" class="primary">{t("save")}</button>
		</form>
	);
}

function PasswordForm() {
	const [old, setOld] = useState("");
	const [n1, setN1] = useState("");
	const [n2, setN2] = useState("");
	const [msg, setMsg] = useState<{ text: string; error: boolean } | null>(null);
	return (
		<form class="card" aria-labelledby="set-password" onSubmit={async (e) => {
			e.preventDefault();
			if (n1 !== n2) return setMsg({ text: t("passwordMismatch"), error: true });
			if (n1.length < 8) return setMsg({ text: t("passwordWeak"), error: true });
			try {
				await changePassword(old, n1);
				setOld("");
				setN1("");
				setN2("");
				setMsg({ text: t("passwordChanged"), error: false });
			} catch (er) {
				if (er instanceof HttpError && er.status === 403) setMsg({ text: t("passwordWrong"), error: true });
				else if (er instanceof HttpError && er.status === 400) setMsg({ text: t("passwordWeak"), error: true });
				else setMsg({ text: errorText(er), error: true });
			}
		}}>
			<h3 id="set-password">{t("changePassword")}</h3>
			<input type="text" autocomplete="username" value={state.me?.username} hidden readOnly />
			<div class="field">
				<label for="pw-old">{t("oldPassword")}</label>
				<input id="pw-old" type="password" autocomplete="current-password" required value={old} onInput={(e) => setOld((e.target as HTMLInputElement).value)} />
			</div>
			<div class="field">
				<label for="pw-new">{t("newPassword")}</label>
				<input id="pw-new" type="password" autocomplete="new-password" required minLength={8} value={n1} onInput={(e) => setN1((e.target as HTMLInputElement).value)} />
			</div>
			<div class="field">
				<label for="pw-new2">{t("confirmPassword")}</label>
				<input id="pw-new2" type="password" autocomplete="new-password" required minLength={8} value={n2} onInput={(e) => setN2((e.target as HTMLInputElement).value)} />
			</div>
			{msg && <p class={msg.error ? "error" : "ok"} role={msg.error ? "alert" : "status"}>{msg.text}</p>}
			<button type="submit" class="primary">{t("changePassword")}</button>
		</form>
	);
}

export function Settings() {
	return (
		<section class="settings" aria-labelledby="settings-title">
			<div class="reader-bar">
				<button type="button" class="icon-btn" aria-label={t("back")} onClick={() => update({ view: "mail" })}><Icon name="back" /></button>
				<h2 id="settings-title">{t("settings")}</h2>
			</div>
			<div class="cards">
				<IdentityForm />
				<VacationForm />
				<PasswordForm />
				<section class="card"><LangSwitch /></section>
			</div>
		</section>
	);
}
