// The app shell: login, language switch, and a hash router over the page modules.
//
// Routes: #/underwriter, #/underwriter/application/<id>, #/adjuster, #/adjuster/claim/<id>,
// #/farmer, #/admin. Each page module (js/pages/<name>.js) exports render(root, route) with
// route = {name, parts, query, user}: for #/adjuster/claim/42?x=1, name "adjuster",
// parts ["claim", "42"], query URLSearchParams("x=1"), user {username, role, farmer_id}.
// It may also export destroy(), called before the next page renders. Pages re-render
// when the language changes.

import { api } from "./api.js";
import { getLang, setLang, t } from "./i18n.js";
import { loginForm as webLoginForm } from "./login.js";
import { h, replace } from "./ui.js";

/** The page each role lands on, and the pages each role may open. */
export const HOME = {
  underwriter: "underwriter",
  adjuster: "adjuster",
  farmer: "farmer",
  admin: "admin",
};
const ALLOWED = {
  underwriter: ["underwriter"],
  adjuster: ["adjuster"],
  farmer: ["farmer"],
  admin: ["admin"],
  field_agent: [],
};
const PAGES = ["underwriter", "adjuster", "farmer", "admin"];

const main = document.getElementById("main");
let current = null; // the page module on screen
let renderSeq = 0;

/** The route in the URL's hash. */
export function parseRoute(hash = location.hash) {
  const [path, qs = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "", parts: parts.slice(1), query: new URLSearchParams(qs) };
}

/** Go to a route, e.g. go("adjuster", "claim", id). */
export function go(...parts) {
  location.hash = `#/${parts.map(encodeURIComponent).join("/")}`;
}

function shellText() {
  document.title = t("app.title");
  document.getElementById("brand").textContent = t("app.title");
  document.getElementById("skip-link").textContent = t("app.skip");
  document.getElementById("lang-label").textContent = t("app.language");
  document.getElementById("logout").textContent = t("app.logout");
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === getLang()));
  }
  const user = api.user();
  document.getElementById("who").textContent = user
    ? t("app.signed_in", { username: user.username, role: t(`role.${user.role}`) })
    : "";
  document.getElementById("logout").hidden = !user;
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("nav.label"));
  const here = parseRoute().name;
  const links = user
    ? (ALLOWED[user.role] || []).map((name) =>
        h("a", { href: `#/${name}`, "aria-current": name === here ? "page" : null }, t(`page.${name}`)),
      )
    : [];
  replace(nav, links);
}

function loginForm(message) {
  return webLoginForm(message, (user) => {
    const home = HOME[user.role];
    const wanted = parseRoute().name;
    if (wanted && (ALLOWED[user.role] || []).includes(wanted)) route();
    else if (home) go(home);
    else route();
  });
}

async function route({ focus = true } = {}) {
  const seq = ++renderSeq;
  const hash = location.hash;
  main.dataset.ready = "false"; // "true" once the route has rendered (the browser tests wait for it)
  try {
    await show(seq, focus);
  } finally {
    if (seq === renderSeq) {
      main.dataset.route = hash; // which address it rendered: a new hash is not ready until routed
      main.dataset.ready = "true";
    }
  }
}

async function show(seq, focus) {
  shellText();
  if (current && typeof current.destroy === "function") {
    try {
      current.destroy();
    } catch (err) {
      console.error(err);
    }
  }
  current = null;
  const user = api.user();
  if (!user) {
    replace(main, loginForm(sessionStorage.getItem("agri.expired") ? t("login.expired") : ""));
    sessionStorage.removeItem("agri.expired");
    if (focus) main.querySelector("input")?.focus();
    return;
  }
  const r = parseRoute();
  if (!r.name) {
    const home = HOME[user.role];
    if (home) {
      go(home);
      return;
    }
    if (user.role === "field_agent") {
      // Field agents work in the phone app.
      replace(
        main,
        h("p", { class: "notice" }, t("app.agent_app"), " ", h("a", { href: "/agent/" }, "/agent/")),
      );
      return;
    }
    replace(main, h("p", { class: "notice" }, t("app.no_page", { role: t(`role.${user.role}`) })));
    return;
  }
  if (!PAGES.includes(r.name)) {
    replace(main, h("p", { class: "notice", role: "status" }, t("app.not_available")));
    return;
  }
  if (!(ALLOWED[user.role] || []).includes(r.name)) {
    replace(
      main,
      h("p", { class: "notice", role: "status" }, t("app.not_allowed", { role: t(`role.${user.role}`) })),
    );
    return;
  }
  replace(main, h("p", { class: "loading" }, t("app.loading")));
  let mod;
  try {
    mod = await import(`./pages/${r.name}.js`);
  } catch {
    if (seq === renderSeq) {
      replace(main, h("p", { class: "notice", role: "status" }, t("app.not_available")));
    }
    return;
  }
  if (seq !== renderSeq) return; // a later navigation won
  const root = h("div", { class: `page page-${r.name}` });
  replace(main, root);
  current = mod;
  try {
    await mod.render(root, { ...r, user });
  } catch (err) {
    console.error(err);
    replace(root, h("p", { class: "error", role: "alert" }, t("app.error", { detail: err.message })));
  }
  if (focus === true && seq === renderSeq) main.focus({ preventScroll: true });
}

for (const b of document.querySelectorAll("[data-lang]")) {
  b.addEventListener("click", () => setLang(b.dataset.lang));
}
document.getElementById("logout").addEventListener("click", () => {
  api.logout();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", () => route());
window.addEventListener("langchange", () => route({ focus: false }));
window.addEventListener("unauthorized", () => {
  sessionStorage.setItem("agri.expired", "1");
  route();
});

setLang(getLang()); // sets <html lang>
route({ focus: "login" }); // on first load only the login form takes the focus
