// The login form of the staff pages and the field agent's app: one form, each app's next step.
import { api, ApiError } from "./api.js";
import { t } from "./i18n.js";
import { field, h } from "./ui.js";

/**
 * A login form. `onLoggedIn(user)` runs after a successful login; a failure is shown
 * in the form (the server's reason) and the password field takes the focus again.
 * `buttonClass` styles the submit button ("primary", or "primary big" on phones).
 */
export function loginForm(message, onLoggedIn, { buttonClass = "primary" } = {}) {
  const username = h("input", { name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const status = h("p", { class: "error", role: "alert", hidden: !message }, message || "");
  const submit = h("button", { type: "submit", class: buttonClass }, t("login.submit"));
  const form = h(
    "form",
    { class: "login card", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, t("login.title")),
    field(t("login.username"), username),
    field(t("login.password"), password),
    status,
    submit,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    status.hidden = true;
    try {
      await onLoggedIn(await api.login(username.value.trim(), password.value));
    } catch (err) {
      status.textContent = t("login.failed", { detail: err instanceof ApiError ? err.detail : err.message });
      status.hidden = false;
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
