// SPDX-License-Identifier: MIT
// Reads a mailbox another user shares, with jmap-jam (a JMAP client nobody
// here wrote): the accounts of the session that are not personal, their
// mailboxes, the messages of the first one, marks one read, downloads it
// and copies it into the own inbox (Email/copy).
// tests/e2e/test_jmap_shared.py runs it with SESSION_URL and TOKEN.
import JamClient from "jmap-jam";

const jam = new JamClient({ sessionUrl: process.env.SESSION_URL, bearerToken: process.env.TOKEN });
const session = await jam.session;
const out = {};
out.shared = Object.entries(session.accounts)
  .filter(([, a]) => !a.isPersonal)
  .map(([id, a]) => [id, a.name, a.isReadOnly]);
const accountId = out.shared[0][0];
const [boxes] = await jam.api.Mailbox.get({ accountId });
out.mailboxes = boxes.list.map((b) => b.name);
const [{ emails }] = await jam.requestMany((t) => {
  const ids = t.Email.query({ accountId, filter: { inMailbox: boxes.list[0].id } });
  const emails = t.Email.get({ accountId, ids: ids.$ref("/ids"), properties: ["subject", "keywords"] });
  return { ids, emails };
});
out.subjects = emails.list.map((e) => e.subject);
const id = emails.list[0].id;
await jam.api.Email.set({ accountId, update: { [id]: { "keywords/$seen": true } } });
const [again] = await jam.api.Email.get({ accountId, ids: [id], properties: ["keywords"] });
out.seen = again.list[0].keywords.$seen === true;
// The shared message's bytes (downloadUrl with the owner's accountId), and
// a copy of it into the own inbox (Email/copy across the two accounts).
const [whole] = await jam.api.Email.get({ accountId, ids: [id], properties: ["blobId", "subject"] });
const resp = await jam.downloadBlob({ accountId, blobId: whole.list[0].blobId, mimeType: "message/rfc822", fileName: "m.eml" });
out.downloaded = (await resp.text()).includes("Subject: " + whole.list[0].subject);
const own = await jam.getPrimaryAccount();
const [ownBoxes] = await jam.api.Mailbox.get({ accountId: own });
const inbox = ownBoxes.list.find((b) => b.role === "inbox");
const [copy] = await jam.api.Email.copy({
  fromAccountId: accountId, accountId: own, create: { c: { id, mailboxIds: { [inbox.id]: true } } },
});
const [copied] = await jam.api.Email.get({ accountId: own, ids: [copy.created.c.id], properties: ["subject", "mailboxIds"] });
out.copied = [copied.list[0].subject, Object.keys(copied.list[0].mailboxIds)[0] === inbox.id];
console.log(JSON.stringify(out));
