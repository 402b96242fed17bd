// The staff's public notices (公示): publish the notice of a region and period, list the
// notices, read one with its masked rows (a claims notice: each claim's payment check
// now), record an objection on behalf of a villager, resolve one, print it (the print
// view is the page itself under CSS @media print) and download its PDF.
//
// Routes, under the underwriter's and the adjuster's pages: #/<page>/notices (the list
// and the form) and #/<page>/notices/<id> (one notice). Underwriters publish
// underwriting notices, adjusters claims notices; an objection to a claims notice is
// resolved by an adjuster, one to an underwriting notice by either.

import { API, api, url } from "../api.js";
import { fmtDate, fmtDateTime, locale, registerStrings, t } from "../i18n.js";
import { noticeFacts, noticeTable } from "../notice-common.js";
import {
  add,
  clearErrors,
  decisionForm,
  errorSlot,
  lightBadge,
  refusalText,
  shortId,
  showApiError,
} from "../staff.js";
import { field, h, newId, pagedTable, replace, toast } from "../ui.js";
import strings from "./notices.strings.js";

registerStrings(strings);

/** The kind each role publishes. */
const PUBLISHES = { adjuster: "claims", underwriter: "underwriting" };

function linkStyle(href) {
  if (!document.querySelector(`link[href="${href}"]`)) {
    document.head.append(h("link", { rel: "stylesheet", href }));
  }
}

/** The ISO day `days` after the ISO day `day`. */
function isoDay(day, days = 0) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** A link to the notices section of `base` ("adjuster" or "underwriter"). */
export function noticesLink(base) {
  return h("a", { href: `#/${base}/notices`, class: "notices-link" }, t("ntc.link"));
}

/**
 * Render the notices section into `root`: the list and the form (route parts
 * ["notices"]) or one notice (["notices", id]); `base` is the page it is under.
 */
export async function renderNotices(root, route, base) {
  linkStyle("/css/notices.css");
  root.classList.add("notices");
  const id = route?.parts?.[1];
  if (id) await renderNotice(root, id, route, base);
  else await renderList(root, route, base);
}

// --- the list and the form ------------------------------------------------------------

async function renderList(root, route, base) {
  const kind = PUBLISHES[route?.user?.role];
  const regions = await api.get("/notices/regions").catch(() => []);
  const columns = [
    {
      label: t("ntc.col_notice"),
      render: (n) =>
        h(
          "a",
          { href: `#/${base}/notices/${encodeURIComponent(n.id)}` },
          `${shortId(n.id.slice(4))} · ${n.title}`,
        ),
    },
    { label: t("ntc.col_kind"), render: (n) => t(`ntc.kind_short.${n.kind}`) },
    { label: t("ntc.region"), render: (n) => n.region },
    {
      label: t("ntc.period"),
      render: (n) => t("ntc.period_value", { start: fmtDate(n.start), end: fmtDate(n.end) }),
    },
    { label: t("ntc.published"), render: (n) => fmtDate(n.published_on) },
    {
      label: t("ntc.col_state"),
      render: (n) =>
        t(n.in_objection_period ? "ntc.state.open" : "ntc.state.closed", { ends: fmtDate(n.objection_ends) }),
    },
    { label: t("ntc.rows"), class: "num", render: (n) => String(n.rows) },
    { label: t("ntc.col_open"), class: "num", render: (n) => String(n.open_objections) },
  ];
  const list = pagedTable(columns, (offset, limit) => api.get("/notices", { offset, limit }), {
    caption: t("ntc.list_caption"),
  });
  replace(
    root,
    h("p", {}, h("a", { href: `#/${base}` }, t(`ntc.back.${base}`))),
    h("h1", {}, t("ntc.title")),
    h("p", { class: "note" }, t("ntc.intro")),
    kind ? publishForm(kind, regions, base) : null,
    h("h2", { id: "notices-title" }, t("ntc.list")),
    list,
  );
}

function publishForm(kind, regions, base) {
  const kindSelect = h(
    "select",
    { name: "kind" },
    h("option", { value: kind, selected: true }, t(`ntc.kind.${kind}`)),
  );
  // Each region comes with its farm day now: the period ends on it at the latest, and
  // the form starts with the 30 days before it (until the dates are changed by hand).
  const todayOf = new Map(regions.map((r) => [r.region, r.today]));
  const region = h(
    "select",
    { name: "region", required: true },
    regions.map((r) => h("option", { value: r.region }, r.region)),
  );
  const start = h("input", { type: "date", name: "start", required: true });
  const end = h("input", { type: "date", name: "end", required: true });
  let datesEdited = false;
  const fitDates = () => {
    const today = todayOf.get(region.value) || new Date().toISOString().slice(0, 10);
    end.max = today;
    if (!datesEdited) {
      end.value = today;
      start.value = isoDay(today, -30);
    }
  };
  for (const input of [start, end]) input.addEventListener("input", () => (datesEdited = true));
  region.addEventListener("change", fitDates);
  fitDates();
  const days = h("input", {
    type: "number",
    name: "objection_days",
    min: 3,
    max: 30,
    step: 1,
    inputmode: "numeric",
  });
  const slot = (control, label, hint) => {
    const err = newId("err");
    const wrap = field(label, control, { hint });
    control.setAttribute(
      "aria-describedby",
      [control.getAttribute("aria-describedby"), err].filter(Boolean).join(" "),
    );
    wrap.append(errorSlot(control.name, err));
    return wrap;
  };
  const button = h("button", { type: "submit", class: "primary" }, t("ntc.submit"));
  const form = h(
    "form",
    { class: "publish form-grid no-print", novalidate: true, "aria-labelledby": "publish-title" },
    slot(kindSelect, t("ntc.f.kind")),
    slot(region, t("ntc.f.region")),
    slot(start, t("ntc.f.start")),
    slot(end, t("ntc.f.end")),
    slot(days, t("ntc.f.days"), t("ntc.f.days_hint")),
    h("div", { class: "actions" }, button, errorSlot("_form", newId("publish-error"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    button.disabled = true;
    try {
      const body = { kind, region: region.value, start: start.value || null, end: end.value || null };
      if (days.value !== "") body.objection_days = Number(days.value);
      const done = await api.post("/notices", body);
      toast(t("ntc.published_toast", { rows: done.rows, ends: fmtDate(done.objection_ends) }), "ok");
      location.hash = `#/${base}/notices/${encodeURIComponent(done.id)}`;
    } catch (err) {
      showApiError(form, err);
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "section",
    { class: "no-print", "aria-labelledby": "publish-title" },
    h("h2", { id: "publish-title" }, t("ntc.publish")),
    h("p", { class: "note" }, t(`ntc.publish_hint.${kind}`)),
    form,
  );
}

// --- one notice -----------------------------------------------------------------------

async function renderNotice(root, id, route, base) {
  let n;
  try {
    n = await api.get(`/notices/${encodeURIComponent(id)}`);
  } catch (err) {
    replace(
      root,
      h("p", {}, h("a", { href: `#/${base}/notices` }, t("ntc.back_list"))),
      h("p", { class: "error", role: "alert" }, err.status === 404 ? t("ntc.not_found") : refusalText(err)),
    );
    return;
  }
  const role = route?.user?.role;
  const again = async (message) => {
    toast(message, "ok");
    await renderNotice(root, id, route, base);
  };
  const publicUrl = `${location.origin}/notices/${encodeURIComponent(n.id)}`;
  const staffColumns =
    n.kind === "claims"
      ? [
          {
            label: t("ntc.col.status"),
            class: "no-print",
            render: (r) => (r.status ? statusWords(r.status) : ""),
          },
          {
            label: t("ntc.col.payment"),
            class: "no-print payment",
            render: (r) =>
              r.payment ? h("span", {}, lightBadge(r.payment.light), " ", r.payment.reason) : "",
          },
        ]
      : [];
  replace(
    root,
    h("p", { class: "no-print" }, h("a", { href: `#/${base}/notices` }, t("ntc.back_list"))),
    h("h1", {}, t(`ntc.kind.${n.kind}`)),
    h(
      "div",
      { class: "notice-actions no-print" },
      h("button", { type: "button", onclick: () => window.print() }, t("ntc.print")),
      h("button", { type: "button", onclick: (ev) => downloadPdf(n, ev.currentTarget) }, t("ntc.pdf")),
      h("a", { href: publicUrl, target: "_blank", rel: "noopener" }, t("ntc.public")),
    ),
    noticeFacts(n),
    h("p", { class: "how" }, t(`ntc.how.${n.kind}`, { ends: fmtDate(n.objection_ends) })),
    h("div", { class: "table-scroll" }, noticeTable(n.kind, n.items, { extra: staffColumns })),
    h("p", { class: "note" }, t("ntc.masked")),
    h("p", { class: "print-only" }, t("ntc.print_url", { url: publicUrl })),
  );
  add(root, objectionsSection(n, role, again));
}

function statusWords(status) {
  const key = `ntc.claim.${status}`;
  return t(key) === key ? status : t(key);
}

async function downloadPdf(n, button) {
  button.disabled = true;
  window.__agriPending = (window.__agriPending || 0) + 1; // the browser tests wait for 0
  try {
    const res = await fetch(url(`${API}/notices/${encodeURIComponent(n.id)}/pdf`), {
      headers: { Authorization: `Bearer ${api.token()}`, "Accept-Language": locale() },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const name = `${n.id}-${locale() === "zh-CN" ? "zh" : "en"}.pdf`;
    const href = URL.createObjectURL(await res.blob());
    const a = h("a", { href, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
    toast(t("ntc.pdf_done", { name }), "ok");
  } catch (err) {
    toast(refusalText(err), "error");
  } finally {
    window.__agriPending -= 1;
    button.disabled = false;
  }
}

// --- objections -----------------------------------------------------------------------

function objectionsSection(n, role, again) {
  const section = h(
    "section",
    { class: "objections no-print", "aria-labelledby": "objections-title" },
    h("h2", { id: "objections-title" }, t("ntc.objections")),
  );
  const mayResolve =
    n.kind === "claims" ? role === "adjuster" : role === "adjuster" || role === "underwriter";
  if (!n.objections.length) {
    add(section, h("p", { class: "note" }, t("ntc.no_objections")));
  } else {
    add(
      section,
      h(
        "ul",
        { class: "objection-list" },
        n.objections.map((o) => objectionItem(n, o, mayResolve, again)),
      ),
    );
    if (n.kind === "claims" && !mayResolve)
      add(section, h("p", { class: "note" }, t("ntc.resolved_by_adjuster")));
  }
  if (n.in_objection_period) add(section, recordForm(n, again));
  else
    add(
      section,
      h("p", { class: "note", role: "status" }, t("ntc.closed_note", { ends: fmtDate(n.objection_ends) })),
    );
  return section;
}

function objectionItem(n, o, mayResolve, again) {
  const state = t(`ntc.obj.status.${o.status}`);
  const li = h(
    "li",
    { class: `objection objection-${o.status}`, "data-objection": o.id, "data-status": o.status },
    h(
      "dl",
      { class: "notice-facts" },
      [
        [t("ntc.obj.row"), String(o.row)],
        [t("ntc.obj.text"), o.text],
        [t("ntc.obj.who"), o.on_behalf_of || o.recorded_by],
        [t("ntc.obj.by"), o.recorded_by],
        [t("ntc.obj.when"), fmtDateTime(o.recorded_at)],
        [
          t("ntc.obj.state"),
          o.status === "open"
            ? state
            : t("ntc.obj.resolved", { state, who: o.resolved_by, reason: o.reason }),
        ],
      ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
    ),
  );
  if (o.status === "open" && mayResolve) {
    const title = newId("resolve-title");
    li.append(
      h("h3", { id: title }, t("ntc.resolve", { row: o.row, text: o.text })),
      decisionForm({
        labelledBy: title,
        legend: t("ntc.outcome"),
        choices: ["upheld", "dismissed"].map((v) => ({ value: v, label: t(`ntc.${v}`) })),
        reasonLabel: t("ntc.resolve_reason"),
        reasonHint: `${t("ntc.resolve_hint")} ${t(`ntc.upheld_note.${n.kind}`)}`,
        submitLabel: t("ntc.resolve_submit"),
        async submit({ decision, reason }) {
          const done = await api.post(
            `/notices/${encodeURIComponent(n.id)}/objections/${encodeURIComponent(o.id)}/resolution`,
            { outcome: decision, reason },
          );
          await again(t("ntc.resolved_toast", { state: t(`ntc.obj.status.${done.status}`) }));
        },
      }),
    );
  }
  return li;
}

function recordForm(n, again) {
  const row = h(
    "select",
    { name: "row" },
    n.items.map((r) => h("option", { value: String(r.row) }, `${r.row} · ${r.farmer}`)),
  );
  const who = h("input", { type: "text", name: "on_behalf_of", maxlength: 200, autocomplete: "off" });
  const text = h("textarea", { name: "text", rows: 3, maxlength: 2000 });
  const slot = (control, label) => {
    const err = newId("err");
    control.setAttribute("aria-describedby", err);
    const wrap = field(label, control);
    wrap.append(errorSlot(control.name, err));
    return wrap;
  };
  const button = h("button", { type: "submit", class: "primary" }, t("ntc.record_submit"));
  const form = h(
    "form",
    { class: "record-objection", novalidate: true, "aria-labelledby": "record-title" },
    slot(row, t("ntc.f.row")),
    slot(who, t("ntc.f.on_behalf_of")),
    slot(text, t("ntc.f.text")),
    h("div", {}, button, errorSlot("_form", newId("record-error"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    button.disabled = true;
    try {
      const done = await api.post(`/notices/${encodeURIComponent(n.id)}/objections`, {
        row: Number(row.value),
        text: text.value.trim(),
        on_behalf_of: who.value.trim() || null,
      });
      await again(t("ntc.recorded", { row: done.row }));
    } catch (err) {
      showApiError(form, err);
      button.disabled = false;
    }
  });
  return h(
    "div",
    { class: "record" },
    h("h3", { id: "record-title" }, t("ntc.record")),
    h("p", { class: "note" }, t("ntc.record_hint")),
    form,
  );
}
