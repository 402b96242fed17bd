// A public notice (公示) as the pages show it: its facts and its table of rows as posted
// (names masked, ids cut short), in the reader's language. Shared by the staff's notices
// section (js/pages/notices.js) and the public page a notice's QR code opens
// (js/notice-public.js); neither needs a map or a login for this part.

import { fmtDate, fmtMoney, fmtNumber, registerStrings, t } from "./i18n.js";
import { h, table } from "./ui.js";
import strings from "./notice-common.strings.js";

registerStrings(strings);

/** The columns of each kind's table, in the order the printed notice has them. */
export const COLUMNS = {
  underwriting: [
    "row",
    "farmer",
    "farmer_id",
    "policy",
    "product",
    "insured",
    "sum_insured",
    "premium",
    "farmer_share",
  ],
  claims: [
    "row",
    "farmer",
    "farmer_id",
    "claim",
    "subject",
    "loss_date",
    "peril",
    "assessed_loss",
    "indemnity",
  ],
};

const MONEY = new Set(["sum_insured", "premium", "farmer_share", "assessed_loss", "indemnity"]);
const NUM = new Set(["row", ...MONEY]);

/** The words of one cell of a row (a row of the notice's document, or of the API's items). */
export function cellText(column, row) {
  if (column === "insured") {
    if (row.animals !== null && row.animals !== undefined) return t("ntc.cell.head", { n: row.animals });
    return t("ntc.cell.area", { mu: fmtNumber(row.area_mu, 2, 2), ha: fmtNumber(row.area_ha, 4, 4) });
  }
  if (column === "subject") {
    if (row.tag) return t("ntc.cell.tag", { tag: row.tag });
    if (row.area_mu) {
      return t("ntc.cell.plot", { mu: fmtNumber(row.area_mu, 2, 2), ha: fmtNumber(row.area_ha, 4, 4) });
    }
    return t("ntc.cell.plot_unknown");
  }
  if (column === "peril") {
    const key = `ntc.peril.${row.peril}`;
    const peril = t(key) === key ? String(row.peril || "") : t(key);
    return row.event ? t("ntc.event", { peril, event: row.event }) : peril;
  }
  if (column === "loss_date") return fmtDate(row.loss_date);
  const value = row[column];
  if (value === null || value === undefined) return "";
  if (MONEY.has(column)) return fmtMoney(value, row.currency);
  return String(value);
}

/**
 * The notice's rows as a table; `extra` adds columns after the posted ones
 * ([{key, label, render(row)}]: the staff's payment check, say).
 */
export function noticeTable(kind, rows, { extra = [], caption = t("ntc.caption") } = {}) {
  const columns = (COLUMNS[kind] || []).map((c) => ({
    label: t(`ntc.col.${c}`),
    class: NUM.has(c) ? `num col-${c}` : `col-${c}`,
    render: (row) => cellText(c, row),
  }));
  const all = [...columns, ...extra];
  const el = table(all, rows, { caption });
  el.classList.add("notice-rows");
  // A column the print view leaves out leaves out its heading too.
  el.querySelectorAll("thead th").forEach((th, i) => {
    if ((all[i].class || "").split(" ").includes("no-print")) th.classList.add("no-print");
  });
  return el;
}

/**
 * A notice's facts as a description list: kind, region, period, day posted, the last
 * day of objections, rows, id. `n` is the API's notice (or :func:`fromDocument`'s).
 */
export function noticeFacts(n) {
  const pairs = [
    [t("ntc.region"), n.region],
    [t("ntc.period"), t("ntc.period_value", { start: fmtDate(n.start), end: fmtDate(n.end) })],
    [t("ntc.published"), fmtDate(n.published_on)],
    [t("ntc.ends"), t("ntc.ends_value", { ends: fmtDate(n.objection_ends), days: n.objection_days })],
    [t("ntc.rows"), String(n.rows)],
    [t("ntc.id"), h("code", {}, n.id)],
  ];
  return h(
    "dl",
    { class: "notice-facts" },
    pairs.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
  );
}

/** The days from one ISO day to another. */
function daysBetween(from, to) {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000);
}

/**
 * The facts of a notice's ledger document (``notice.published``'s payload) in the
 * shape of the API's notice, for :func:`noticeFacts`.
 */
export function fromDocument(doc) {
  return {
    id: doc.notice,
    kind: doc.kind,
    region: doc.region,
    start: doc.period?.start,
    end: doc.period?.end,
    published_on: doc.published,
    objection_ends: doc.objection_ends,
    objection_days: daysBetween(doc.published, doc.objection_ends),
    rows: (doc.rows || []).length,
  };
}
