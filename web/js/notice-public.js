// A notice's public page, at /notices/<id>: what the QR code printed on a notice opens.
//
// No login. It fetches the notice's receipt (GET /api/v1/ledger/notices/<id>/receipt)
// and the ledger's key (GET /api/v1/ledger/key), verifies the receipt in this browser
// (js/receipt.js: the inclusion proof and the signed checkpoint), and only then shows the
// notice from the verified entry: its facts, how to object, and its rows as posted
// (names masked, ids cut short), in Chinese or English.

import { ApiError, api } from "./api.js";
import { fmtDate, getLang, registerStrings, setLang, t } from "./i18n.js";
import { fromDocument, noticeFacts, noticeTable } from "./notice-common.js";
import farmerStrings from "./pages/farmer.strings.js";
import { b64decode, hex, verifyReceipt } from "./receipt.js";
import { h, replace } from "./ui.js";
import strings from "./notice-public.strings.js";

registerStrings(strings);
// A receipt's failures in words: the farmer page's receipt.* strings, nothing else of it.
const receiptWords = (dict) =>
  Object.fromEntries(Object.entries(dict).filter(([k]) => k.startsWith("receipt.")));
registerStrings({ en: receiptWords(farmerStrings.en), zh: receiptWords(farmerStrings.zh) });

const NOTICE_ID = /^ntc_[0-9a-f]{32}$/;
const main = document.getElementById("main");
let state = { phase: "checking" };

/** The notice id in this page's path (/notices/<id>), or "" when it names none. */
function noticeId() {
  const last = location.pathname.split("/").filter(Boolean).pop() || "";
  const id = decodeURIComponent(last);
  return NOTICE_ID.test(id) ? id : "";
}

/** Why a receipt failed, in the page's language (its check's code), else as it came. */
function why(result) {
  if (!result.code) return result.reason;
  const params = { ...(result.params || {}) };
  if (params.what) {
    const field = t(`receipt.field.${params.what}`);
    params.what = field.startsWith("receipt.field.") ? params.what : field;
  }
  const key = `receipt.why.${result.code}`;
  const text = t(key, params);
  return text === key ? result.reason : text;
}

async function check(id) {
  let receipt;
  let key;
  try {
    [receipt, key] = await Promise.all([
      api.get(`/ledger/notices/${encodeURIComponent(id)}/receipt`),
      api.get("/ledger/key"),
    ]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { phase: "not_found", id };
    return { phase: "unreachable", detail: err.detail || err.message };
  }
  let result = await verifyReceipt(receipt, key.verifier_key);
  const doc = result.valid ? result.event?.payload : null;
  if (result.valid && (result.event?.type !== "notice.published" || doc?.notice !== id)) {
    result = {
      valid: false,
      reason: t("pub.not_notice", { index: result.index, id }),
      words: { key: "pub.not_notice", params: { index: result.index, id } },
    };
  }
  let leaf = "";
  try {
    leaf = hex(b64decode(receipt.leaf_hash, "leaf_hash"));
  } catch {
    leaf = String(receipt.leaf_hash || "");
  }
  return { phase: "checked", id, result, doc, key: key.verifier_key, leaf };
}

function verdict(s) {
  const r = s.result;
  const el = h("p", { class: "verdict", role: "status", "data-valid": String(r.valid) });
  if (r.valid === null) {
    el.append(t("pub.cannot", { reason: why(r) }));
  } else if (r.valid) {
    el.classList.add("verdict-valid");
    el.append(
      h("span", { "aria-hidden": "true" }, "✔ "),
      t("pub.valid", { index: r.index, origin: r.origin, size: r.treeSize, key: r.keyName, id: r.keyId }),
    );
  } else {
    el.classList.add("verdict-invalid");
    const reason = r.words ? t(r.words.key, r.words.params) : why(r);
    el.append(h("span", { "aria-hidden": "true" }, "✖ "), t("pub.invalid", { reason }));
  }
  return el;
}

function show() {
  document.title = `${t("pub.title")} · ${t("app.title")}`;
  document.getElementById("brand").textContent = t("app.title");
  document.getElementById("skip-link").textContent = t("app.skip");
  document.getElementById("lang-label").textContent = t("app.language");
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === getLang()));
  }
  const s = state;
  if (s.phase === "checking") {
    replace(
      main,
      h("h1", {}, t("pub.title")),
      h("p", { class: "loading", role: "status" }, t("pub.checking")),
    );
    return;
  }
  if (s.phase === "bad_address" || s.phase === "not_found" || s.phase === "unreachable") {
    const words = {
      bad_address: () => t("pub.bad_address"),
      not_found: () => t("pub.not_found", { id: s.id }),
      unreachable: () => t("pub.unreachable", { detail: s.detail }),
    }[s.phase]();
    replace(main, h("h1", {}, t("pub.title")), h("p", { class: "error", role: "alert" }, words));
    return;
  }
  const doc = s.result.valid ? s.doc : null;
  const facts = doc ? fromDocument(doc) : null;
  replace(
    main,
    h("h1", {}, facts ? t(`ntc.kind.${facts.kind}`) : t("pub.title")),
    h("p", { class: "muted" }, t("pub.what")),
    verdict(s),
    facts ? noticeFacts(facts) : null,
    facts
      ? h("p", { class: "how" }, t(`ntc.how.${facts.kind}`, { ends: fmtDate(facts.objection_ends) }))
      : null,
    doc ? h("div", { class: "table-scroll" }, noticeTable(facts.kind, doc.rows)) : null,
    doc ? h("p", { class: "note" }, t("ntc.masked")) : null,
    h(
      "div",
      { class: "trust" },
      h("p", {}, t("pub.key"), " ", h("code", {}, s.key)),
      h("p", {}, t("pub.leaf"), " ", h("code", { class: "leaf" }, s.leaf)),
    ),
  );
}

async function start() {
  main.dataset.ready = "false"; // "true" once checked (the browser tests wait for it)
  const id = noticeId();
  show();
  state = id ? await check(id) : { phase: "bad_address" };
  show();
  main.dataset.ready = "true";
}

for (const b of document.querySelectorAll("[data-lang]")) {
  b.addEventListener("click", () => setLang(b.dataset.lang));
}
window.addEventListener("langchange", () => show());
setLang(getLang()); // sets <html lang>
start();
