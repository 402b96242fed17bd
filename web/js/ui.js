// Small DOM helpers: h() to build elements, a traffic-light badge (text and a shape,
// never colour alone), labelled form fields, a paged table, and toasts.

import { t } from "./i18n.js";

/**
 * Build an element: h("button", {class: "x", onclick: fn, disabled: true}, "text", child, [more]).
 * Attributes: `class`, `for`, `dataset` (object), `style` (string), on* functions become
 * listeners, `true` sets a boolean attribute, `false`/null/undefined leave it out.
 * Children: nodes, strings, numbers, arrays of them; null/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Remove every child of `el`, then append `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A fresh id for label/control pairs. */
export function newId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

const SHAPES = { green: "●", amber: "▲", red: "■" };

/** A traffic light as a badge: a shape and a word, coloured too (colour is never the only signal). */
export function badge(light, text) {
  const known = light in SHAPES ? light : "none";
  return h(
    "span",
    { class: `badge badge-${known}` },
    h("span", { "aria-hidden": "true" }, SHAPES[known] || "○"),
    " ",
    text ?? t(`light.${known}`),
  );
}

/**
 * A labelled form field: field(label, control, {hint}) with control an <input>/<select>/<textarea>.
 * The control gets an id (if it has none) and the label points at it.
 */
export function field(label, control, { hint } = {}) {
  if (!control.id) control.id = newId("field");
  let hintEl = null;
  if (hint) {
    hintEl = h("span", { class: "hint", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/**
 * A table: columns [{label, render(row) -> node|string, class}], rows, caption.
 * On narrow screens each row reads as a card (the column labels come from data-label).
 */
export function table(columns, rows, { caption } = {}) {
  const head = h(
    "thead",
    {},
    h(
      "tr",
      {},
      columns.map((c) => h("th", { scope: "col" }, c.label)),
    ),
  );
  const body = h(
    "tbody",
    {},
    rows.length
      ? rows.map((row) =>
          h(
            "tr",
            {},
            columns.map((c) => h("td", { "data-label": c.label, class: c.class }, c.render(row))),
          ),
        )
      : h("tr", {}, h("td", { colspan: columns.length }, t("table.empty"))),
  );
  return h("table", { class: "table" }, caption ? h("caption", {}, caption) : null, head, body);
}

/**
 * A table with pagination over an API list: fetchPage(offset, limit) -> {items, total}.
 * Returns the wrapper element; it loads the first page at once. `reload()` on the element
 * reloads the current page.
 */
export function pagedTable(columns, fetchPage, { caption, limit = 20 } = {}) {
  const wrap = h("div", { class: "paged" });
  const status = h("p", { class: "range", "aria-live": "polite" });
  let offset = 0;
  async function load() {
    status.textContent = t("app.loading");
    let page;
    try {
      page = await fetchPage(offset, limit);
    } catch (err) {
      replace(wrap, h("p", { class: "error", role: "alert" }, t("app.error", { detail: err.message })));
      return;
    }
    const from = page.total ? offset + 1 : 0;
    const to = offset + page.items.length;
    status.textContent = t("table.range", { from, to, total: page.total });
    const prev = h(
      "button",
      {
        type: "button",
        disabled: offset === 0,
        onclick: () => {
          offset = Math.max(0, offset - limit);
          load();
        },
      },
      t("table.prev"),
    );
    const next = h(
      "button",
      {
        type: "button",
        disabled: to >= page.total,
        onclick: () => {
          offset += limit;
          load();
        },
      },
      t("table.next"),
    );
    replace(
      wrap,
      h("div", { class: "table-scroll" }, table(columns, page.items, { caption })),
      h(
        "nav",
        { class: "pager", "aria-label": t("table.pages", { caption: caption || "" }) },
        prev,
        status,
        next,
      ),
    );
  }
  wrap.reload = load;
  load();
  return wrap;
}

/** A short message in the corner, read out by screen readers; kind "ok" | "error" | "info". */
export function toast(message, kind = "info", ms = 6000) {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div", { id: "toasts", class: "toasts", "aria-live": "polite" });
    document.body.append(region);
  }
  const close = h("button", { type: "button", class: "toast-close", "aria-label": t("toast.close") }, "×");
  const el = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, message),
    close,
  );
  close.addEventListener("click", () => el.remove());
  region.append(el);
  if (ms) setTimeout(() => el.remove(), ms);
  return el;
}

/** An error shown in place (role=alert), with the field at fault when the API named one. */
export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, t("app.error", { detail: err.message || String(err) }));
}
