// The admin page: users (list, add; disable or enable, change the role, reset the password,
// each after a confirmation) and products (list).

import { api } from "../api.js";
import { fmtDateTime, fmtMoney, fmtNumber, getLang, registerStrings, t } from "../i18n.js";
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
  );
  try {
    replace(products, h("div", { class: "table-scroll" }, productsTable(await api.get("/products"))));
  } catch (err) {
    replace(products, errorBox(err));
  }
}
