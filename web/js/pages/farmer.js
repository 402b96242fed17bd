// The farmer's page (phone first): own policies and claims in plain words, and each
// record's ledger receipt, verified in this browser against the key the page shows.

import { api } from "../api.js";
import { fmtDate, fmtMoney, getLang, registerStrings, t } from "../i18n.js";
import { verifyReceipt } from "../receipt.js";
import { badge, errorBox, h, replace } from "../ui.js";

registerStrings({
  en: {
    "farmer.title": "My insurance",
    "farmer.who": "Farmer {id}",
    "farmer.trust": "Receipts are checked in this browser against the ledger key {name} (key id {id}). Compare it with the key your insurer publishes.",
    "farmer.trust_key": "Full verifier key",
    "farmer.no_key": "The ledger key could not be loaded: receipts cannot be checked.",
    "farmer.policies": "My policies",
    "farmer.claims": "My claims",
    "farmer.no_policies": "You have no policies yet.",
    "farmer.no_claims": "You have made no claims.",
    "policy.title": "Policy {id}",
    "policy.in_force": "In force from {start} to {end}.",
    "policy.ended": "Ended on {end} (from {start}).",
    "policy.starts": "Starts on {start} and runs to {end}.",
    "policy.status.in_force": "In force",
    "policy.status.ended": "Ended",
    "policy.status.starts": "Not started",
    "policy.product": "Product",
    "policy.sum_insured": "Sum insured",
    "policy.you_pay": "Your premium",
    "policy.subsidy": "Subsidies",
    "policy.subsidy_value": "{total} of {premium} paid by central, provincial and county government",
    "policy.covers": "Covers",
    "policy.animals": "{n} animals",
    "policy.plots": "{n} fields",
    "claim.title.animal": "Claim for cow {id}",
    "claim.title.plot": "Claim for field {id}",
    "claim.title.other": "Claim for {id}",
    "claim.loss": "Loss on",
    "claim.reported": "Reported",
    "claim.number": "Claim number",
    "claim.status.filed": "Being checked",
    "claim.status.survey": "Field survey",
    "claim.status.approved": "Approved",
    "claim.status.rejected": "Not approved",
    "claim.status.paid": "Paid",
    "claim.plain.filed": "Received on {date}; it is being checked.",
    "claim.plain.survey": "Someone will come to look at it: {reason}.",
    "claim.plain.approved": "Approved: {amount} will be paid to you.",
    "claim.plain.rejected": "Not approved: {reason}.",
    "claim.plain.paid": "Approved, paid {amount} on {date}.",
    "claim.plain.paid_nodate": "Approved, paid {amount}.",
    "claim.payment_ref": "Payment reference",
    "claim.no_reason": "no reason was given",
    "claim.note": "The adjuster's note: {note}",
    "receipt.title": "Ledger receipt",
    "receipt.entry": "Entry #{index}: {what}, {date}.",
    "receipt.none": "No ledger entry yet.",
    "receipt.verify": "Verify receipt",
    "receipt.verify_label": "Verify receipt: {record}",
    "receipt.checking": "Checking…",
    "receipt.valid": "Valid: entry #{index} is in the ledger {origin} (tree size {size}), signed by key {key} {id}.",
    "receipt.invalid": "Not valid: this receipt does not match the ledger. {reason}",
    "receipt.cannot": "This browser cannot check receipts: {reason}. The receipt itself may be valid; check it on another device or with agri ledger verify-receipt.",
    "receipt.why.not_base64": "{what} is not standard base64.",
    "receipt.why.no_webcrypto": "this browser offers no WebCrypto here: open the page over https or on localhost",
    "receipt.why.no_ed25519": "this browser cannot verify Ed25519 signatures ({error})",
    "receipt.why.index_beyond": "Entry {index} is beyond the tree's size {size}.",
    "receipt.why.proof_length": "The inclusion proof has {got} hashes; it needs {want}.",
    "receipt.why.key_format": "The ledger key is not name+id+key.",
    "receipt.why.key_id_format": "The ledger key's id is not 8 hex digits.",
    "receipt.why.key_not_ed25519": "The ledger key is not an Ed25519 key.",
    "receipt.why.key_id_mismatch": "The ledger key's id does not match its key.",
    "receipt.why.not_a_note": "The checkpoint is not a signed note.",
    "receipt.why.no_signatures": "The checkpoint has no signatures.",
    "receipt.why.signature_line": "A signature line of the checkpoint is malformed.",
    "receipt.why.signature_invalid": "The checkpoint's signature by {name} does not verify.",
    "receipt.why.not_signed_by": "The checkpoint is not signed by the trusted key {name}.",
    "receipt.why.checkpoint_malformed": "The checkpoint's body is malformed.",
    "receipt.why.root_length": "The checkpoint's root hash is not 32 bytes.",
    "receipt.why.not_an_object": "The receipt is not a JSON object.",
    "receipt.why.not_an_integer": "{key} is not a whole number of at least 0.",
    "receipt.why.proof_not_list": "The inclusion proof is not a list.",
    "receipt.why.proof_hash_length": "Hash {index} of the inclusion proof is not 32 bytes.",
    "receipt.why.entry_changed": "The entry's hash is not the receipt's leaf hash: the entry was changed.",
    "receipt.why.size_mismatch": "The receipt's tree size {tree_size} differs from the checkpoint's {size}.",
    "receipt.why.proof_mismatch": "The inclusion proof does not lead to the signed root hash.",
    "receipt.why.unexpected": "The receipt could not be checked ({error}).",
    "receipt.field.verifier_key": "The ledger key",
    "receipt.field.entry": "The entry",
    "receipt.field.leaf_hash": "The leaf hash",
    "receipt.field.inclusion_proof": "A hash of the inclusion proof",
    "receipt.field.signature": "A checkpoint signature",
    "receipt.field.root_hash": "The checkpoint's root hash",
    "receipt.other_entry": "the receipt is for ledger entry #{got}, not #{want} shown here",
    "event.policy.issued": "policy issued",
    "event.claim.filed": "claim filed",
    "event.claim.evidence_checked": "photos checked",
    "event.claim.assessed": "damage measured",
    "event.claim.approved": "claim approved",
    "event.claim.rejected": "claim not approved",
    "event.claim.survey_requested": "field survey requested",
    "event.claim.paid": "claim paid",
  },
  zh: {
    "farmer.title": "我的保险",
    "farmer.who": "农户 {id}",
    "farmer.trust": "回执在本浏览器中用账本公钥 {name}（密钥编号 {id}）校验。请与保险公司公布的公钥核对。",
    "farmer.trust_key": "完整验证公钥",
    "farmer.no_key": "无法加载账本公钥：回执无法校验。",
    "farmer.policies": "我的保单",
    "farmer.claims": "我的理赔",
    "farmer.no_policies": "您还没有保单。",
    "farmer.no_claims": "您还没有理赔申请。",
    "policy.title": "保单 {id}",
    "policy.in_force": "保险期间 {start} 至 {end}，正在保障中。",
    "policy.ended": "已于 {end} 到期（自 {start} 起）。",
    "policy.starts": "将于 {start} 生效，至 {end}。",
    "policy.status.in_force": "保障中",
    "policy.status.ended": "已到期",
    "policy.status.starts": "未生效",
    "policy.product": "险种",
    "policy.sum_insured": "保险金额",
    "policy.you_pay": "您缴纳的保费",
    "policy.subsidy": "保费补贴",
    "policy.subsidy_value": "保费 {premium} 中，{total} 由中央、省、县财政补贴",
    "policy.covers": "保险标的",
    "policy.animals": "{n} 头牲畜",
    "policy.plots": "{n} 块地",
    "claim.title.animal": "牛 {id} 的理赔",
    "claim.title.plot": "地块 {id} 的理赔",
    "claim.title.other": "{id} 的理赔",
    "claim.loss": "出险日期",
    "claim.reported": "报案时间",
    "claim.number": "案件编号",
    "claim.status.filed": "审核中",
    "claim.status.survey": "待查勘",
    "claim.status.approved": "已核准",
    "claim.status.rejected": "未获赔",
    "claim.status.paid": "已赔付",
    "claim.plain.filed": "已于 {date} 受理，正在审核。",
    "claim.plain.survey": "将派人现场查勘：{reason}。",
    "claim.plain.approved": "已核准：将向您赔付 {amount}。",
    "claim.plain.rejected": "未获赔：{reason}。",
    "claim.plain.paid": "已核准，已于 {date} 赔付 {amount}。",
    "claim.plain.paid_nodate": "已核准，已赔付 {amount}。",
    "claim.payment_ref": "付款凭证号",
    "claim.no_reason": "未说明理由",
    "claim.note": "理赔员备注：{note}",
    "receipt.title": "账本回执",
    "receipt.entry": "第 {index} 条记录：{what}，{date}。",
    "receipt.none": "尚无账本记录。",
    "receipt.verify": "校验回执",
    "receipt.verify_label": "校验回执：{record}",
    "receipt.checking": "校验中…",
    "receipt.valid": "有效：第 {index} 条记录在账本 {origin} 中（账本规模 {size}），由公钥 {key} {id} 签名。",
    "receipt.invalid": "无效：此回执与账本不符。{reason}",
    "receipt.cannot": "此浏览器无法校验回执：{reason}。回执本身可能有效，请在其他设备上或用 agri ledger verify-receipt 校验。",
    "receipt.why.not_base64": "{what}不是标准 base64 编码。",
    "receipt.why.no_webcrypto": "此页面无法使用 WebCrypto：请通过 https 或在本机（localhost）打开",
    "receipt.why.no_ed25519": "此浏览器无法校验 Ed25519 签名（{error}）",
    "receipt.why.index_beyond": "条目 {index} 超出账本大小 {size}。",
    "receipt.why.proof_length": "包含证明有 {got} 个哈希，应为 {want} 个。",
    "receipt.why.key_format": "账本公钥的格式不是“名称+编号+密钥”。",
    "receipt.why.key_id_format": "账本公钥的编号不是 8 位十六进制数。",
    "receipt.why.key_not_ed25519": "账本公钥不是 Ed25519 公钥。",
    "receipt.why.key_id_mismatch": "账本公钥的编号与公钥不符。",
    "receipt.why.not_a_note": "检查点不是签名文本。",
    "receipt.why.no_signatures": "检查点没有签名。",
    "receipt.why.signature_line": "检查点的一行签名格式有误。",
    "receipt.why.signature_invalid": "{name} 对检查点的签名校验失败。",
    "receipt.why.not_signed_by": "检查点没有可信公钥 {name} 的签名。",
    "receipt.why.checkpoint_malformed": "检查点正文格式有误。",
    "receipt.why.root_length": "检查点的根哈希不是 32 字节。",
    "receipt.why.not_an_object": "回执不是 JSON 对象。",
    "receipt.why.not_an_integer": "{key} 不是非负整数。",
    "receipt.why.proof_not_list": "包含证明不是列表。",
    "receipt.why.proof_hash_length": "包含证明的第 {index} 个哈希不是 32 字节。",
    "receipt.why.entry_changed": "条目的哈希与回执的叶哈希不符：条目已被改动。",
    "receipt.why.size_mismatch": "回执的账本大小 {tree_size} 与检查点的 {size} 不符。",
    "receipt.why.proof_mismatch": "包含证明推不出已签名的根哈希。",
    "receipt.why.unexpected": "无法校验回执（{error}）。",
    "receipt.field.verifier_key": "账本公钥",
    "receipt.field.entry": "条目",
    "receipt.field.leaf_hash": "叶哈希",
    "receipt.field.inclusion_proof": "包含证明中的一个哈希",
    "receipt.field.signature": "检查点签名",
    "receipt.field.root_hash": "检查点的根哈希",
    "receipt.other_entry": "此回执属于账本第 {got} 条记录，而非此处显示的第 {want} 条",
    "event.policy.issued": "保单签发",
    "event.claim.filed": "报案",
    "event.claim.evidence_checked": "照片核验",
    "event.claim.assessed": "损失测定",
    "event.claim.approved": "理赔核准",
    "event.claim.rejected": "理赔拒绝",
    "event.claim.survey_requested": "要求现场查勘",
    "event.claim.paid": "赔款支付",
  },
});

const CLAIM_LIGHT = { filed: "none", survey: "amber", approved: "green", rejected: "red", paid: "green" };

function today() {
  return new Date().toISOString().slice(0, 10);
}

/** Every entry of a record's history (oldest first), or [] when there is none to see. */
async function history(kind, id) {
  try {
    const first = await api.get(`/history/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, { limit: 200 });
    let items = first.items;
    if (first.total > items.length) {
      const last = await api.get(`/history/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, { offset: first.total - 1, limit: 1 });
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
          index: result.index, origin: result.origin, size: result.treeSize, key: result.keyName, id: result.keyId,
        }),
      );
    } else {
      verdict.className = "verdict verdict-invalid";
      verdict.replaceChildren(h("span", { "aria-hidden": "true" }, "✖ "), t("receipt.invalid", { reason: receiptWhy(result) }));
    }
    verdict.dataset.valid = String(result.valid);
    button.disabled = false;
  });
  box.append(
    h(
      "div",
      { class: "receipt-actions" },
      h("span", {}, h("strong", {}, `${t("receipt.title")}: `), t("receipt.entry", {
        index: latest.index, what: eventWords(latest.type), date: fmtDate(latest.timestamp),
      })),
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
  const covers = p.kind === "livestock" ? t("policy.animals", { n: p.animals.length }) : t("policy.plots", { n: p.plots.length });
  return h(
    "li",
    { class: "record card", dataset: { policy: p.id } },
    h("h3", {}, title, badge(light, t(`policy.status.${status}`))),
    h("p", { class: "plain" }, t(`policy.${status}`, { start: fmtDate(p.start_date), end: fmtDate(p.end_date) })),
    h(
      "dl",
      {},
      h("dt", {}, t("policy.product")), h("dd", {}, p.product_code),
      h("dt", {}, t("policy.sum_insured")), h("dd", {}, fmtMoney(p.sum_insured, p.currency)),
      h("dt", {}, t("policy.you_pay")), h("dd", {}, fmtMoney(p.premium.farmer, p.currency)),
      h("dt", {}, t("policy.subsidy")),
      h("dd", {}, t("policy.subsidy_value", { total: fmtMoney(subsidy, p.currency), premium: fmtMoney(p.premium.total, p.currency) })),
      h("dt", {}, t("policy.covers")), h("dd", {}, covers),
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
      h("dt", {}, t("claim.loss")), h("dd", {}, fmtDate(c.event_date)),
      h("dt", {}, t("claim.reported")), h("dd", {}, fmtDate(c.reported_at)),
      h("dt", {}, t("claim.number")), h("dd", {}, c.id.slice(0, 8)),
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
        h("details", {}, h("summary", {}, t("farmer.trust_key")), h("code", { "data-key": "verifier" }, key.verifier_key)),
      )
    : errorBox(new Error(t("farmer.no_key")));
  replace(
    root,
    h("h1", {}, t("farmer.title")),
    h("p", { class: "muted" }, t("farmer.who", { id: farmerId })),
    trust,
    h("section", { "aria-labelledby": "claims-h" },
      h("h2", { id: "claims-h" }, t("farmer.claims")),
      claims.items.length
        ? h("ul", { class: "records two" }, claims.items.map((c, i) => claimCard(c, claimHistories[i], key)))
        : h("p", {}, t("farmer.no_claims")),
    ),
    h("section", { "aria-labelledby": "policies-h" },
      h("h2", { id: "policies-h" }, t("farmer.policies")),
      policies.items.length
        ? h("ul", { class: "records two" }, policies.items.map((p, i) => policyCard(p, policyHistories[i], key)))
        : h("p", {}, t("farmer.no_policies")),
    ),
  );
}
