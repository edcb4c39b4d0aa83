// SPDX-License-Identifier: MIT
// Drives facteur's JMAP API with jmap-jam (a JMAP client nobody here wrote).
// tests/e2e/test_jmap.py runs it with SESSION_URL and TOKEN (a web session
// token used as Bearer) after delivering a message over SMTP; it prints one
// JSON object with what it saw, which the Python test checks.
import JamClient from "jmap-jam";

const jam = new JamClient({ sessionUrl: process.env.SESSION_URL, bearerToken: process.env.TOKEN });
const out = {};
const accountId = await jam.getPrimaryAccount();
out.accountId = accountId;

const [mailboxes] = await jam.api.Mailbox.get({ accountId });
const byRole = Object.fromEntries(mailboxes.list.filter((m) => m.role).map((m) => [m.role, m]));
out.roles = Object.keys(byRole).sort();
out.inboxTotal = byRole.inbox.totalEmails;
out.inboxUnread = byRole.inbox.unreadEmails;

// Mailbox/queryChanges (RFC 8620 5.6): a folder created since the query
// comes back in "added" at its place in the name order.
const mq = { accountId, filter: { parentId: null }, sort: [{ property: "name", isAscending: true }] };
const [mqBefore] = await jam.api.Mailbox.query(mq);
const [made] = await jam.api.Mailbox.set({ accountId, create: { n: { name: "Jam Folder", parentId: null } } });
const [mqc] = await jam.api.Mailbox.queryChanges({ ...mq, sinceQueryState: mqBefore.queryState, calculateTotal: true });
const [mqAfter] = await jam.api.Mailbox.query(mq);
out.mailboxQueryChanges = {
  canCalculate: mqBefore.canCalculateChanges, created: made.created.n.id, removed: mqc.removed,
  added: mqc.added, total: mqc.total, ids: mqAfter.ids, newState: mqc.newQueryState === mqAfter.queryState,
};

// Query + get in one request with a result reference.
const [{ emails, ids }] = await jam.requestMany((t) => {
  const ids = t.Email.query({
    accountId,
    filter: { inMailbox: byRole.inbox.id },
    sort: [{ property: "receivedAt", isAscending: false }],
    calculateTotal: true,
  });
  const emails = t.Email.get({
    accountId,
    ids: ids.$ref("/ids"),
    properties: ["subject", "from", "preview", "keywords", "threadId", "textBody", "bodyValues"],
    fetchTextBodyValues: true,
  });
  return { ids, emails };
});
out.total = ids.total;
out.subjects = emails.list.map((e) => e.subject);
out.from = emails.list[0].from[0].email;
out.body = emails.list[0].bodyValues[emails.list[0].textBody[0].partId].value;
out.emailState = emails.state;
const first = emails.list[0].id;

// Mark it read, then ask what changed.
await jam.api.Email.set({ accountId, update: { [first]: { "keywords/$seen": true } } });
const [changes] = await jam.api.Email.changes({ accountId, sinceState: out.emailState });
out.updated = changes.updated;
out.seenId = first;
// The same query, brought up to date from its queryState (RFC 8620 5.6).
out.canCalculateChanges = ids.canCalculateChanges;
const [qc] = await jam.api.Email.queryChanges({
  accountId,
  filter: { inMailbox: byRole.inbox.id },
  sort: [{ property: "receivedAt", isAscending: false }],
  sinceQueryState: ids.queryState,
  calculateTotal: true,
});
out.queryChanges = { removed: qc.removed, added: qc.added, total: qc.total };

// Upload an attachment, make a draft with it, download the part back.
const upload = await jam.uploadBlob(accountId, new Blob(["col1,col2\n1,2\n"], { type: "text/csv" }));
out.uploadSize = upload.size;
const [draft] = await jam.api.Email.set({
  accountId,
  create: {
    d: {
      mailboxIds: { [byRole.drafts.id]: true },
      keywords: { $draft: true, $seen: true },
      from: [{ name: "Demo", email: process.env.USER_ADDR }],
      to: [{ name: null, email: process.env.USER_ADDR }],
      subject: "from jmap-jam",
      textBody: [{ partId: "t", type: "text/plain" }],
      bodyValues: { t: { value: "Sent through jmap-jam." } },
      attachments: [{ blobId: upload.blobId, type: "text/csv", name: "numbers.csv" }],
    },
  },
});
const draftId = draft.created.d.id;
const [got] = await jam.api.Email.get({ accountId, ids: [draftId], properties: ["attachments"] });
const att = got.list[0].attachments[0];
const resp = await jam.downloadBlob({ accountId, blobId: att.blobId, mimeType: "text/csv", fileName: "numbers.csv" });
out.downloaded = await resp.text();

// Send it to ourselves; onSuccessUpdateEmail files it in Sent.
const [identities] = await jam.api.Identity.get({ accountId });
const [sent] = await jam.requestMany((t) => ({
  sub: t.EmailSubmission.set({
    accountId,
    create: { s: { identityId: identities.list[0].id, emailId: draftId } },
    onSuccessUpdateEmail: {
      "#s": {
        [`mailboxIds/${byRole.drafts.id}`]: null,
        [`mailboxIds/${byRole.sent.id}`]: true,
        "keywords/$draft": null,
      },
    },
  }),
}));
// The implicit Email/set answer shares the call id, so it is what jam keeps.
out.implicitUpdated = Object.keys(sent.sub.updated ?? {});
const [subs] = await jam.api.EmailSubmission.get({ accountId });
out.submission = subs.list.map((s) => [s.emailId, s.undoStatus]);
const [after] = await jam.api.Email.get({ accountId, ids: [draftId], properties: ["mailboxIds", "keywords"] });
out.inSent = Boolean(after.list[0].mailboxIds[byRole.sent.id]);
out.draftKeyword = Boolean(after.list[0].keywords.$draft);

// A method-level error comes back as an error object.
try {
  await jam.api.Email.get({ accountId: "nope", ids: [] });
  out.error = null;
} catch (e) {
  out.error = e.type;
}
console.log(JSON.stringify(out));
