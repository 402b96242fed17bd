// The admin page: users (list, add; disable or enable, change the role, reset the password,
// each after a confirmation), products (list), and the portfolio report (premium, claims and
// loss ratios grouped by region, product, peril and month, with charts; how the checks fare).

import { api } from "../api.js";
import { loadChart } from "../chart.js";
import { fmtDateTime, fmtMoney, fmtNumber, getLang, locale, registerStrings, t } from "../i18n.js";
import { badge, errorBox, field, h, pagedTable, replace, table, toast } from "../ui.js";
import strings from "./admin.strings.js";

registerStrings(strings);

const ROLES = ["farmer", "field_agent", "underwriter", "adjuster", "admin"];

function userPath(user, action) {
  return `/users/${encodeURIComponent(user.username)}/${action}`;
}

/**
 * A modal dialog that confirms one change to a user: a question (and fields), the confirming
 * button and Cancel. `run(values)` makes the change; a refusal is shown in the dialog, next to
 * the field it names, and the dialog stays open. `done(result)` runs after it closes.
 */
function confirmDialog(root, { title, text, fields = [], confirm, run, done, check }) {
  const status = h("div", { "aria-live": "polite" });
  const ok = h("button", { type: "submit", class: "primary" }, confirm);
  const cancel = h("button", { type: "button", value: "cancel" }, t("admin.cancel"));
  const titleId = `dialog-h-${Math.random().toString(36).slice(2)}`;
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: titleId }, title),
    text ? h("p", {}, text) : null,
    fields.map((f) => f.el),
    status,
    h("div", { class: "actions", style: "display: flex; flex-wrap: wrap; gap: 0.5rem" }, ok, cancel),
  );
  const dialog = h(
    "dialog",
    {
      "aria-labelledby": titleId,
      // centred by the browser (margin: auto); app.css has no dialog style yet
      style:
        "width: min(32rem, calc(100vw - 2rem)); padding: 0 1rem 0.75rem;" +
        " border: 1px solid var(--line); border-radius: 8px; background: var(--card)",
    },
    form,
  );
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(status);
    const problem = check ? check() : null;
    if (problem) {
      replace(status, h("p", { class: "error", role: "alert" }, problem.message));
      problem.focus?.focus();
      return;
    }
    ok.disabled = true;
    try {
      const result = await run();
      dialog.close();
      done(result);
    } catch (err) {
      replace(status, errorBox(err));
      const bad = fields.find((f) => f.name === err.field);
      (bad ? bad.control : ok).focus();
    } finally {
      ok.disabled = false;
    }
  });
  root.append(dialog);
  dialog.showModal();
  return dialog;
}

/** The actions on one user: disable or enable, change the role, reset the password. */
function userActions(root, user, changed) {
  const name = user.username;
  const disable = () =>
    confirmDialog(root, {
      title: t("admin.disable_title", { username: name }),
      text: t("admin.confirm_disable", { username: name }),
      confirm: t("admin.disable"),
      run: () => api.post(userPath(user, "disable")),
      done: () => changed(t("admin.done_disabled", { username: name })),
    });
  const enable = () =>
    confirmDialog(root, {
      title: t("admin.enable_title", { username: name }),
      text: t("admin.confirm_enable", { username: name }),
      confirm: t("admin.enable"),
      run: () => api.post(userPath(user, "enable")),
      done: () => changed(t("admin.done_enabled", { username: name })),
    });
  const changeRole = () => {
    const role = h(
      "select",
      { name: "role" },
      ROLES.map((r) => h("option", { value: r, selected: r === user.role }, t(`role.${r}`))),
    );
    const farmer = h("input", {
      name: "farmer_id",
      maxlength: 64,
      autocomplete: "off",
      value: user.farmer_id || "",
    });
    confirmDialog(root, {
      title: t("admin.role_title", { username: name }),
      text: t("admin.role_note"),
      fields: [
        { name: "role", control: role, el: field(t("admin.role"), role) },
        {
          name: "farmer_id",
          control: farmer,
          el: field(t("admin.farmer_id"), farmer, { hint: t("admin.farmer_id_hint") }),
        },
      ],
      confirm: t("admin.change_role"),
      run: () =>
        api.put(userPath(user, "role"), {
          role: role.value,
          farmer_id: role.value === "farmer" ? farmer.value.trim() || null : null,
        }),
      done: (u) => changed(t("admin.done_role", { username: name, role: t(`role.${u.role}`) })),
    });
  };
  const resetPassword = () => {
    const attrs = { type: "password", required: true, minlength: 10, autocomplete: "new-password" };
    const password = h("input", { name: "password", ...attrs });
    const again = h("input", { name: "password_again", ...attrs });
    confirmDialog(root, {
      title: t("admin.password_title", { username: name }),
      text: t("admin.password_note", { username: name }),
      fields: [
        {
          name: "password",
          control: password,
          el: field(t("admin.new_password"), password, { hint: t("admin.password_hint") }),
        },
        { name: "password_again", control: again, el: field(t("admin.repeat_password"), again) },
      ],
      confirm: t("admin.reset_password"),
      check: () =>
        password.value !== again.value ? { message: t("admin.passwords_differ"), focus: again } : null,
      run: () => api.post(userPath(user, "password"), { password: password.value }),
      done: () => changed(t("admin.done_password", { username: name })),
    });
  };
  return h(
    "div",
    {
      role: "group",
      "aria-label": t("admin.actions_for", { username: name }),
      style: "display: flex; flex-wrap: wrap; gap: 0.35rem",
    },
    user.disabled
      ? h("button", { type: "button", onclick: enable }, t("admin.enable"))
      : h("button", { type: "button", onclick: disable }, t("admin.disable")),
    h("button", { type: "button", onclick: changeRole }, t("admin.change_role")),
    h("button", { type: "button", onclick: resetPassword }, t("admin.reset_password")),
  );
}

function userStatus(user) {
  if (!user.disabled) return badge("green", t("admin.active"));
  return h(
    "span",
    {},
    badge("red", t("admin.disabled")),
    user.disabled_at ? [" ", h("span", { class: "muted" }, fmtDateTime(user.disabled_at))] : null,
  );
}

function pct(rate) {
  return `${fmtNumber(Number(rate) * 100, 2)}%`;
}

function userForm(onAdded) {
  const username = h("input", { name: "username", required: true, maxlength: 64, autocomplete: "off" });
  const password = h("input", {
    name: "password",
    type: "password",
    required: true,
    minlength: 10,
    autocomplete: "new-password",
  });
  const role = h(
    "select",
    { name: "role" },
    ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))),
  );
  const farmer = h("input", { name: "farmer_id", maxlength: 64, autocomplete: "off" });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, t("admin.add"));
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "add-user-h" },
    h("h2", { id: "add-user-h" }, t("admin.add_user")),
    h(
      "div",
      { class: "form-grid" },
      field(t("admin.username"), username),
      field(t("admin.password"), password, { hint: t("admin.password_hint") }),
      field(t("admin.role"), role),
      field(t("admin.farmer_id"), farmer, { hint: t("admin.farmer_id_hint") }),
      h("div", { class: "actions" }, submit),
    ),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    replace(status);
    try {
      const user = await api.post("/users", {
        username: username.value.trim(),
        password: password.value,
        role: role.value,
        farmer_id: farmer.value.trim() || null,
      });
      toast(t("admin.added", { username: user.username }), "ok");
      replace(status, h("p", { role: "status" }, t("admin.added", { username: user.username })));
      form.reset();
      onAdded();
    } catch (err) {
      replace(status, errorBox(err));
      const bad = { username, password, role, farmer_id: farmer }[err.field];
      (bad || username).focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function productsTable(products) {
  return table(
    [
      { label: t("admin.code"), render: (p) => p.code },
      { label: t("admin.kind"), render: (p) => t(`admin.kind.${p.kind}`) },
      {
        label: t("admin.sum_insured"),
        render: (p) =>
          p.kind === "livestock"
            ? t("admin.per_head", { amount: fmtMoney(p.sum_insured_per_head, p.currency) })
            : t("admin.per_unit", {
                amount: fmtMoney(p.sum_insured_per_unit, p.currency),
                unit: t(`unit.${p.unit}`),
              }),
      },
      { label: t("admin.premium_rate"), render: (p) => pct(p.premium_rate) },
      {
        label: t("admin.deductible"),
        render: (p) =>
          p.kind === "livestock"
            ? `${fmtMoney(p.deductible, p.currency)}${getLang() === "zh" ? "，" : ", "}${t("admin.waiting", { n: p.waiting_days })}`
            : pct(p.deductible_rate),
      },
      {
        label: t("admin.subsidy"),
        render: (p) => [p.subsidy.central, p.subsidy.provincial, p.subsidy.county].map(pct).join(" / "),
      },
    ],
    products,
    { caption: t("admin.products") },
  );
}

// --- the portfolio report -------------------------------------------------------------------

const charts = []; // destroy() of the report's charts: before they are drawn again, and on leaving

/** Remove the report's charts (the shell calls it before the next page). */
export function destroy() {
  while (charts.length) charts.pop()();
}

const DIMENSIONS = ["region", "product", "peril", "month"];
const COLOURS = ["#1b5e20", "#6a1b9a", "#e65100", "#0d47a1"]; // chart.js's palette: lightness differs too
const REPORT_MONEY = [
  "premium_minor",
  "sum_insured_minor",
  "claimed_minor",
  "paid_minor",
  "approved_unpaid_minor",
  "incurred_minor",
];

/** A ratio of the API ("0.6250") as a percentage by locale; "—" where there is none. */
function ratioPct(value) {
  return value === null || value === undefined ? "—" : `${fmtNumber(Number(value) * 100, 1, 1)}%`;
}

/** Money of the API in minor units, by locale. */
function minor(value, currency) {
  return fmtMoney((Number(value) / 100).toFixed(2), currency);
}

/** "2025-06" as the reader's month ("Jun 2025", "2025年6月"). */
function fmtMonth(month) {
  const [y, m] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { year: "numeric", month: "short", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, m - 1, 1)),
  );
}

function keyText(dimension, value) {
  if (value === null || value === undefined) return "—";
  if (dimension === "month") return fmtMonth(value);
  if (dimension === "peril") return t(`admin.report.peril.${value}`);
  return value;
}

function portfolioColumns(by) {
  return [
    ...by.map((d) => ({ label: t(`admin.report.dim.${d}`), render: (r) => keyText(d, r[d]) })),
    { label: t("admin.report.currency"), render: (r) => r.currency },
    { label: t("admin.report.policies"), class: "num", render: (r) => fmtNumber(r.policies, 0) },
    ...REPORT_MONEY.map((m) => ({
      label: t(`admin.report.${m}`),
      class: "num",
      render: (r) => minor(r[m], r.currency),
    })),
    { label: t("admin.report.claims"), class: "num", render: (r) => fmtNumber(r.claims, 0) },
    { label: t("admin.report.loss_ratio"), class: "num", render: (r) => ratioPct(r.loss_ratio) },
    {
      label: t("admin.report.incurred_loss_ratio"),
      class: "num",
      render: (r) => ratioPct(r.incurred_loss_ratio),
    },
  ];
}

/** Loss ratio (%) by one dimension, one series per currency: a bar chart (region) or a line (month). */
async function ratioChart(box, rows, dimension, cleanup) {
  const currencies = [...new Set(rows.map((r) => r.currency))].sort();
  const keys = [...new Set(rows.map((r) => r[dimension]))].sort();
  const value = (key, currency) => {
    const row = rows.find((r) => r[dimension] === key && r.currency === currency);
    return row && row.loss_ratio !== null ? Number(row.loss_ratio) * 100 : null;
  };
  const label = t("admin.report.chart_label", { by: t(`admin.report.dim.${dimension}`) });
  const canvas = h("canvas", { role: "img", "aria-label": label });
  replace(
    box,
    h("div", { style: "position: relative; height: 280px" }, canvas),
    h(
      "details",
      {},
      h("summary", {}, t("admin.report.chart_table")),
      h(
        "div",
        { class: "table-scroll" },
        table(
          [
            { label: t(`admin.report.dim.${dimension}`), render: (r) => keyText(dimension, r[dimension]) },
            { label: t("admin.report.currency"), render: (r) => r.currency },
            { label: t("admin.report.loss_ratio"), class: "num", render: (r) => ratioPct(r.loss_ratio) },
          ],
          rows,
          { caption: label },
        ),
      ),
    ),
  );
  if (!keys.length) return;
  // Months and regions are categories: only those with figures are drawn (a month's line
  // joins the months present, in order; a month without premium has no ratio: a gap).
  const Chart = await loadChart();
  const line = dimension === "month";
  const chart = new Chart(canvas, {
    type: line ? "line" : "bar",
    data: {
      labels: keys.map((k) => keyText(dimension, k)),
      datasets: currencies.map((c, i) => ({
        label: c,
        data: keys.map((k) => value(k, c)),
        borderColor: COLOURS[i % COLOURS.length],
        backgroundColor: COLOURS[i % COLOURS.length],
        borderDash: i ? [6, 3] : [],
        spanGaps: true,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      locale: locale(),
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { title: { display: true, text: t(`admin.report.dim.${dimension}`) } },
        y: { min: 0, title: { display: true, text: t("admin.report.loss_ratio_pct") } },
      },
    },
  });
  cleanup.push(() => chart.destroy());
}

function checksTable(report) {
  const name = (code) => {
    const words = t(`admin.report.check.${code}`);
    return words === `admin.report.check.${code}` ? code : words;
  };
  return h(
    "div",
    {},
    h(
      "div",
      { class: "table-scroll" },
      table(
        [
          { label: t("admin.report.family"), render: (r) => t(`admin.report.family.${r.family}`) },
          { label: t("admin.report.records"), class: "num", render: (r) => fmtNumber(r.records, 0) },
          { label: t("admin.report.red"), class: "num", render: (r) => fmtNumber(r.red, 0) },
          { label: t("admin.report.decided"), class: "num", render: (r) => fmtNumber(r.decided, 0) },
          {
            label: t("admin.report.approved_despite_red"),
            class: "num",
            render: (r) => fmtNumber(r.approved_despite_red, 0),
          },
          {
            label: t("admin.report.declined_despite_green"),
            class: "num",
            render: (r) => fmtNumber(r.declined_despite_green, 0),
          },
          { label: t("admin.report.override_rate"), class: "num", render: (r) => ratioPct(r.override_rate) },
        ],
        report.records,
        { caption: t("admin.report.records_caption") },
      ),
    ),
    h(
      "div",
      { class: "table-scroll" },
      table(
        [
          { label: t("admin.report.family"), render: (r) => t(`admin.report.family.${r.family}`) },
          { label: t("admin.report.check"), render: (r) => name(r.code) },
          { label: t("admin.report.checked"), class: "num", render: (r) => fmtNumber(r.checked, 0) },
          { label: t("admin.report.amber"), class: "num", render: (r) => fmtNumber(r.amber, 0) },
          { label: t("admin.report.red"), class: "num", render: (r) => fmtNumber(r.red, 0) },
          { label: t("admin.report.fired_rate"), class: "num", render: (r) => ratioPct(r.fired_rate) },
          {
            label: t("admin.report.approved_despite_red"),
            class: "num",
            render: (r) => fmtNumber(r.approved_despite_red, 0),
          },
          {
            label: t("admin.report.declined_despite_green"),
            class: "num",
            render: (r) => fmtNumber(r.declined_despite_green, 0),
          },
          { label: t("admin.report.override_rate"), class: "num", render: (r) => ratioPct(r.override_rate) },
        ],
        report.checks,
        { caption: t("admin.report.checks_caption") },
      ),
    ),
  );
}

/**
 * The report section: a form (dimensions, period), the groups as a paged table, each currency's
 * totals, loss ratio by region and by month as charts, and the checks' figures.
 */
function reportSection(cleanup) {
  const boxes = DIMENSIONS.map((d) =>
    h("input", {
      type: "checkbox",
      name: "by",
      value: d,
      checked: d === "region" || d === "month",
      // app.css sizes text fields; a checkbox keeps its own size (24 px: a finger's target)
      style: "width: 24px; height: 24px; min-height: 0; margin: 0 0.35rem 0 0; vertical-align: middle",
    }),
  );
  const from = h("input", { type: "date", name: "from" });
  const to = h("input", { type: "date", name: "to" });
  const status = h("div", { "aria-live": "polite" });
  const groups = h("div", {});
  const totals = h("div", {});
  const byRegion = h("div", {});
  const byMonth = h("div", {});
  const checks = h("div", {});
  const submit = h("button", { type: "submit", class: "primary" }, t("admin.report.show"));
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "report-form-h" },
    h("h3", { id: "report-form-h" }, t("admin.report.choose")),
    h(
      "fieldset",
      { style: "border: 0; padding: 0; margin: 0 0 0.5rem; min-width: 0" },
      h("legend", {}, t("admin.report.group_by")),
      h(
        "div",
        { style: "display: flex; flex-wrap: wrap; gap: 0.25rem 1rem" },
        DIMENSIONS.map((d, i) =>
          h("label", { style: "white-space: nowrap" }, boxes[i], " ", t(`admin.report.dim.${d}`)),
        ),
      ),
    ),
    h(
      "div",
      { class: "form-grid" },
      field(t("admin.report.from"), from),
      field(t("admin.report.to"), to),
      h("div", { class: "actions" }, submit),
    ),
    h("p", { class: "hint" }, t("admin.report.note")),
    status,
  );
  async function show() {
    while (cleanup.length) cleanup.pop()();
    replace(status);
    if (from.value && to.value && from.value > to.value) {
      replace(status, h("p", { class: "error", role: "alert" }, t("admin.report.bad_period")));
      to.focus();
      return;
    }
    const by = boxes.filter((b) => b.checked).map((b) => b.value);
    const period = { from: from.value || null, to: to.value || null };
    submit.disabled = true;
    try {
      replace(
        groups,
        pagedTable(
          portfolioColumns(by),
          (offset, limit) => api.get("/reports/portfolio", { by: by.join(","), ...period, offset, limit }),
          { caption: t("admin.report.groups_caption"), limit: 20 },
        ),
      );
      const [whole, regions, months, checked] = await Promise.all([
        api.get("/reports/portfolio", { by: "", ...period, limit: 1 }),
        api.get("/reports/portfolio", { by: "region", ...period, limit: 1000 }),
        api.get("/reports/portfolio", { by: "month", ...period, limit: 1000 }),
        api.get("/reports/checks", period),
      ]);
      replace(
        totals,
        h(
          "div",
          { class: "table-scroll" },
          table(portfolioColumns([]), whole.totals, { caption: t("admin.report.totals_caption") }),
        ),
      );
      replace(checks, checksTable(checked));
      await ratioChart(byRegion, regions.items, "region", cleanup);
      await ratioChart(byMonth, months.items, "month", cleanup);
    } catch (err) {
      replace(status, errorBox(err));
      (err.field === "to" ? to : err.field === "from" ? from : submit).focus();
    } finally {
      submit.disabled = false;
    }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    show();
  });
  const section = h(
    "section",
    { "aria-labelledby": "report-h", id: "report" },
    h("h2", { id: "report-h" }, t("admin.report.title")),
    form,
    groups,
    totals,
    h(
      "div",
      { class: "report-charts" },
      h(
        "section",
        { "aria-labelledby": "chart-region-h" },
        h("h3", { id: "chart-region-h" }, t("admin.report.by_region")),
        byRegion,
      ),
      h(
        "section",
        { "aria-labelledby": "chart-month-h" },
        h("h3", { id: "chart-month-h" }, t("admin.report.by_month")),
        byMonth,
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "report-checks-h" },
      h("h3", { id: "report-checks-h" }, t("admin.report.checks_title")),
      h("p", { class: "hint" }, t("admin.report.override_note")),
      checks,
    ),
  );
  show();
  return section;
}

/** Render the admin page into `root`. */
export async function render(root) {
  const changes = h("div", { "aria-live": "polite" });
  const changed = (message) => {
    toast(message, "ok");
    const said = h("p", { role: "status", tabindex: -1 }, message);
    replace(changes, said);
    said.focus(); // the button that opened the dialog is gone with the reloaded rows
    users.reload();
  };
  const users = pagedTable(
    [
      { label: t("admin.username"), render: (u) => u.username },
      { label: t("admin.role"), render: (u) => t(`role.${u.role}`) },
      { label: t("admin.farmer_id"), render: (u) => u.farmer_id || "—" },
      { label: t("admin.status"), render: userStatus },
      { label: t("admin.actions"), render: (u) => userActions(root, u, changed) },
    ],
    (offset, limit) => api.get("/users", { offset, limit }),
    { caption: t("admin.users"), limit: 20 },
  );
  const products = h("div", {}, h("p", { class: "loading" }, t("app.loading")));
  replace(
    root,
    h("h1", {}, t("admin.title")),
    h(
      "section",
      { "aria-labelledby": "users-h" },
      h("h2", { id: "users-h" }, t("admin.users")),
      changes,
      users,
    ),
    userForm(() => users.reload()),
    h(
      "section",
      { "aria-labelledby": "products-h" },
      h("h2", { id: "products-h" }, t("admin.products")),
      products,
    ),
    reportSection(charts),
  );
  try {
    replace(products, h("div", { class: "table-scroll" }, productsTable(await api.get("/products"))));
  } catch (err) {
    replace(products, errorBox(err));
  }
}
