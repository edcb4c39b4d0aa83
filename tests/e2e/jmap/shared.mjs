// SPDX-License-Identifier: MIT
// Reads a mailbox another user shares, with jmap-jam (a JMAP client nobody
// here wrote): the accounts of the session that are not personal, their
// mailboxes, the messages of the first one, and marks one read.
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
console.log(JSON.stringify(out));
