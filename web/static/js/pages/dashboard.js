// The dashboard: requests waiting for my approval, my recent requests.

import { scan } from "../api.js";
import { h, errorBox } from "../dom.js";
import { requestsTable, mayDecide, isMine } from "../requests-common.js";

const RECENT = 15;

async function section(title, load, empty, extra) {
  const body = h("div", {});
  try {
    const items = await load();
    body.append(requestsTable(items, { empty }));
  } catch (err) {
    body.append(errorBox(err));
  }
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), body, extra || null);
}

export async function render(ctx) {
  const { me } = ctx;
  const parts = [];
  const head = h("div", { class: "pagehead" }, h("h1", {}, "Dashboard"));
  if (me.submitPolicies && me.submitPolicies.length) {
    head.append(h("a", { class: "button primary", href: "#/submit" }, "Submit a signing request"));
  }
  parts.push(head);

  if (me.approvePolicies && me.approvePolicies.length) {
    parts.push(await section("Waiting for my approval", async () => {
      const r = await scan("/signing-requests", { status: "WaitingForApproval" },
        (it) => mayDecide(me, it), 100, 5);
      return r.items;
    }, "Nothing is waiting for your decision.",
    h("p", { class: "hint" }, "Requests on signing policies that name you as an approver, submitted by someone else, that you have not decided on yet.")));
  }

  if ((me.submitPolicies || []).length) {
    parts.push(await section("My recent requests", async () => {
      // the server picks my requests; isMine keeps the check on the type
      const r = await scan("/signing-requests", { submitter: me.name }, (it) => isMine(me, it), RECENT, 1);
      return r.items.slice(0, RECENT);
    }, "You have not submitted any signing request yet.",
    h("p", {}, h("a", { href: `#/requests?submitter=${encodeURIComponent(me.name)}` }, "All my requests"))));
  } else if (!(me.approvePolicies || []).length) {
    parts.push(h("section", { class: "card" }, h("h2", {}, "Signing requests"),
      h("p", {}, h("a", { href: "#/requests" }, "Browse the signing requests you may see"), ".")));
  }

  if (!(me.submitPolicies || []).length && !(me.approvePolicies || []).length) {
    parts.push(h("p", { class: "notice" },
      "No signing policy names you as a submitter or an approver. An administrator can add you to one."));
  }
  return h("div", {}, parts);
}
