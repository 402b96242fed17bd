// The admin page, minimal: users (list, add) and products (list).

import { api } from "../api.js";
import { fmtMoney, fmtNumber, getLang, registerStrings, t } from "../i18n.js";
import { errorBox, field, h, pagedTable, replace, table, toast } from "../ui.js";
import strings from "./admin.strings.js";

registerStrings(strings);

const ROLES = ["farmer", "field_agent", "underwriter", "adjuster", "admin"];

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

/** Render the admin page into `root`. */
export async function render(root) {
  const users = pagedTable(
    [
      { label: t("admin.username"), render: (u) => u.username },
      { label: t("admin.role"), render: (u) => t(`role.${u.role}`) },
      { label: t("admin.farmer_id"), render: (u) => u.farmer_id || "—" },
    ],
    (offset, limit) => api.get("/users", { offset, limit }),
    { caption: t("admin.users"), limit: 20 },
  );
  const products = h("div", {}, h("p", { class: "loading" }, t("app.loading")));
  replace(
    root,
    h("h1", {}, t("admin.title")),
    h("section", { "aria-labelledby": "users-h" }, h("h2", { id: "users-h" }, t("admin.users")), users),
    userForm(() => users.reload()),
    h(
      "section",
      { "aria-labelledby": "products-h" },
      h("h2", { id: "products-h" }, t("admin.products")),
      products,
    ),
  );
  try {
    replace(products, h("div", { class: "table-scroll" }, productsTable(await api.get("/products"))));
  } catch (err) {
    replace(products, errorBox(err));
  }
}
