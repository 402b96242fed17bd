// The farmer's page (phone first): own policies and claims in plain words, and each
// record's ledger receipt, verified in this browser against the key the page shows.

import { api } from "../api.js";
import { fmtDate, fmtMoney, getLang, registerStrings, t } from "../i18n.js";
import { verifyReceipt } from "../receipt.js";
import { badge, errorBox, h, replace } from "../ui.js";
import strings from "./farmer.strings.js";

registerStrings(strings);

const CLAIM_LIGHT = { filed: "none", survey: "amber", approved: "green", rejected: "red", paid: "green" };

function today() {
  return new Date().toISOString().slice(0, 10);
}

/** Every entry of a record's history (oldest first), or [] when there is none to see. */
async function history(kind, id) {
  try {
    const first = await api.get(`/history/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, {
      limit: 200,
    });
    let items = first.items;
    if (first.total > items.length) {
      const last = await api.get(`/history/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, {
        offset: first.total - 1,
        limit: 1,
      });
      items = items.concat(last.items);
    }
    return items;
  } catch (err) {
    if (err.status === 404) return [];
    throw err;
  }
}

function eventWords(type) {
  const key = `event.${type}`;
  const words = t(key);
  return words === key ? type : words;
}

/** Why a receipt failed, in the page's language (its check's code), else as it came. */
function receiptWhy(result) {
  if (!result.code) return result.reason;
  const key = `receipt.why.${result.code}`;
  const params = { ...(result.params || {}) };
  if (params.what) {
    const field = t(`receipt.field.${params.what}`);
    params.what = field.startsWith("receipt.field.") ? params.what : field;
  }
  const text = t(key, params);
  return text === key ? result.reason : text;
}

function receiptBox(entries, key, recordName) {
  const box = h("div", { class: "receipt" }, h("h4", { class: "visually-hidden" }, t("receipt.title")));
  const latest = entries.length ? entries[entries.length - 1] : null;
  if (!latest) {
    box.append(h("p", { class: "muted" }, t("receipt.none")));
    return box;
  }
  const verdict = h("p", { class: "verdict", role: "status", hidden: true });
  const button = h(
    "button",
    { type: "button", "aria-label": t("receipt.verify_label", { record: recordName }), disabled: !key },
    t("receipt.verify"),
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    verdict.hidden = false;
    verdict.className = "verdict";
    verdict.textContent = t("receipt.checking");
    let result;
    try {
      const receipt = await api.get(latest.receipt);
      result = await verifyReceipt(receipt, key.verifier_key);
    } catch (err) {
      result = { valid: false, reason: err.message };
    }
    if (result.valid && (result.index !== latest.index || result.event?.type !== latest.type)) {
      // A genuine receipt, but of another entry than the one this record shows.
      result = {
        valid: false,
        reason: t("receipt.other_entry", { got: result.index, want: latest.index }),
      };
    }
    if (result.valid === null) {
      verdict.className = "verdict";
      verdict.replaceChildren(t("receipt.cannot", { reason: receiptWhy(result) }));
    } else if (result.valid) {
      verdict.className = "verdict verdict-valid";
      verdict.replaceChildren(
        h("span", { "aria-hidden": "true" }, "✔ "),
        t("receipt.valid", {
          index: result.index,
          origin: result.origin,
          size: result.treeSize,
          key: result.keyName,
          id: result.keyId,
        }),
      );
    } else {
      verdict.className = "verdict verdict-invalid";
      verdict.replaceChildren(
        h("span", { "aria-hidden": "true" }, "✖ "),
        t("receipt.invalid", { reason: receiptWhy(result) }),
      );
    }
    verdict.dataset.valid = String(result.valid);
    button.disabled = false;
  });
  box.append(
    h(
      "div",
      { class: "receipt-actions" },
      h(
        "span",
        {},
        h("strong", {}, `${t("receipt.title")}: `),
        t("receipt.entry", {
          index: latest.index,
          what: eventWords(latest.type),
          date: fmtDate(latest.timestamp),
        }),
      ),
      button,
    ),
    verdict,
  );
  return box;
}

function policyStatus(p) {
  const now = today();
  if (p.end_date < now) return "ended";
  if (p.start_date > now) return "starts";
  return "in_force";
}

function policyCard(p, entries, key) {
  const status = policyStatus(p);
  const light = { in_force: "green", ended: "none", starts: "amber" }[status];
  const title = t("policy.title", { id: p.id.slice(0, 8) });
  const subsidy = ["central", "provincial", "county"].reduce((sum, k) => sum + Number(p.premium[k] || 0), 0);
  const covers =
    p.kind === "livestock"
      ? t("policy.animals", { n: p.animals.length })
      : t("policy.plots", { n: p.plots.length });
  return h(
    "li",
    { class: "record card", dataset: { policy: p.id } },
    h("h3", {}, title, badge(light, t(`policy.status.${status}`))),
    h(
      "p",
      { class: "plain" },
      t(`policy.${status}`, { start: fmtDate(p.start_date), end: fmtDate(p.end_date) }),
    ),
    h(
      "dl",
      {},
      h("dt", {}, t("policy.product")),
      h("dd", {}, p.product_code),
      h("dt", {}, t("policy.sum_insured")),
      h("dd", {}, fmtMoney(p.sum_insured, p.currency)),
      h("dt", {}, t("policy.you_pay")),
      h("dd", {}, fmtMoney(p.premium.farmer, p.currency)),
      h("dt", {}, t("policy.subsidy")),
      h(
        "dd",
        {},
        t("policy.subsidy_value", {
          total: fmtMoney(subsidy, p.currency),
          premium: fmtMoney(p.premium.total, p.currency),
        }),
      ),
      h("dt", {}, t("policy.covers")),
      h("dd", {}, covers),
    ),
    receiptBox(entries, key, title),
  );
}

function claimCard(c, entries, key) {
  const kind = ["animal", "plot"].includes(c.subject_kind) ? c.subject_kind : "other";
  const title = t(`claim.title.${kind}`, { id: c.subject_id });
  const paidEntry = entries.filter((e) => e.type === "claim.paid").pop();
  const amount = fmtMoney(c.amount, c.currency);
  // The grounds come in the reader's language; a typed note is shown as typed, apart.
  const grounds = (c.grounds || []).map((g) => g.text);
  const reason = grounds.length
    ? grounds.join(getLang() === "zh" ? "；" : "; ")
    : c.reason || t("claim.no_reason");
  const note = grounds.length && c.reason ? t("claim.note", { note: c.reason }) : null;
  let plain;
  if (c.status === "paid") {
    plain = paidEntry
      ? t("claim.plain.paid", { amount, date: fmtDate(paidEntry.timestamp) })
      : t("claim.plain.paid_nodate", { amount });
  } else {
    plain = t(`claim.plain.${c.status}`, { amount, reason, date: fmtDate(c.reported_at) });
  }
  return h(
    "li",
    { class: "record card", dataset: { claim: c.id, status: c.status } },
    h("h3", {}, title, badge(CLAIM_LIGHT[c.status] || "none", t(`claim.status.${c.status}`))),
    h("p", { class: "plain" }, plain),
    note ? h("p", { class: "note" }, note) : null,
    h(
      "dl",
      {},
      h("dt", {}, t("claim.loss")),
      h("dd", {}, fmtDate(c.event_date)),
      h("dt", {}, t("claim.reported")),
      h("dd", {}, fmtDate(c.reported_at)),
      h("dt", {}, t("claim.number")),
      h("dd", {}, c.id.slice(0, 8)),
      c.payment_ref ? [h("dt", {}, t("claim.payment_ref")), h("dd", {}, c.payment_ref)] : null,
    ),
    receiptBox(entries, key, title),
  );
}

/** Render the farmer's page into `root`. */
export async function render(root, route) {
  const farmerId = route.user.farmer_id;
  replace(root, h("h1", {}, t("farmer.title")), h("p", { class: "loading" }, t("app.loading")));
  const [key, policies, claims] = await Promise.all([
    api.get("/ledger/key").catch(() => null),
    api.get("/policies", { limit: 200 }),
    api.get("/claims", { limit: 200 }),
  ]);
  const [policyHistories, claimHistories] = await Promise.all([
    Promise.all(policies.items.map((p) => history("policy", p.id).catch(() => []))),
    Promise.all(claims.items.map((c) => history("claim", c.id).catch(() => []))),
  ]);
  const trust = key
    ? h(
        "div",
        { class: "trust card" },
        h("p", {}, t("farmer.trust", { name: key.name, id: key.key_id })),
        h(
          "details",
          {},
          h("summary", {}, t("farmer.trust_key")),
          h("code", { "data-key": "verifier" }, key.verifier_key),
        ),
      )
    : errorBox(new Error(t("farmer.no_key")));
  replace(
    root,
    h("h1", {}, t("farmer.title")),
    h("p", { class: "muted" }, t("farmer.who", { id: farmerId })),
    trust,
    h(
      "section",
      { "aria-labelledby": "claims-h" },
      h("h2", { id: "claims-h" }, t("farmer.claims")),
      claims.items.length
        ? h(
            "ul",
            { class: "records two" },
            claims.items.map((c, i) => claimCard(c, claimHistories[i], key)),
          )
        : h("p", {}, t("farmer.no_claims")),
    ),
    h(
      "section",
      { "aria-labelledby": "policies-h" },
      h("h2", { id: "policies-h" }, t("farmer.policies")),
      policies.items.length
        ? h(
            "ul",
            { class: "records two" },
            policies.items.map((p, i) => policyCard(p, policyHistories[i], key)),
          )
        : h("p", {}, t("farmer.no_policies")),
    ),
  );
}
