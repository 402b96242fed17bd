// The staff pages' shared pieces (the underwriter's and the adjuster's pages import them):
// lights, summaries, the checks with their names, photos fetched with the token, the
// imagery switch, API refusals beside their fields, and the decision form.

import { api } from "./api.js";
import { fmtDateTime, registerStrings, t } from "./i18n.js";
import { addSceneLayer, isLive, layerSwitch } from "./map.js";
import { badge, h, newId, toast } from "./ui.js";
import strings from "./staff.strings.js";

registerStrings(strings);

/**
 * Run and forget `fns` (maps, charts, timers of the page on screen): a staff page's
 * destroy(), which the shell calls before the next page.
 */
export function runCleanup(fns) {
  releasePhotos();
  for (const fn of fns.splice(0)) {
    try {
      fn();
    } catch {
      // already gone
    }
  }
}

/** Whether a scene has the bands a layer reads (truecolor: red, green, blue; ndvi: red, nir). */
export function sceneHas(scene, layer) {
  const roles = layer === "truecolor" ? ["red", "green", "blue"] : ["red", "nir"];
  const bands = scene?.bands;
  if (!bands) return true; // unknown: let the server say
  const have = Array.isArray(bands) ? bands : Object.keys(bands);
  return roles.every((r) => have.includes(r));
}

/**
 * A radio switch between a scene's layers (those it lacks bands for are left out) that
 * swaps the layer on `map`. Resolves once the first layer is on.
 */
export async function imageryControl(
  map,
  scene,
  legend,
  { layers = ["truecolor", "ndvi"], zIndex = 1, onLayer } = {},
) {
  const usable = layers.filter((l) => sceneHas(scene, l));
  let current = null;
  const show = async (layer) => {
    if (!isLive(map)) return;
    if (current) map.removeLayer(current);
    current = null;
    if (layer !== "none") current = await addSceneLayer(map, scene.name, layer, { zIndex });
    onLayer?.(current, layer);
  };
  const control = layerSwitch(
    legend,
    [...usable, "none"].map((v) => ({ value: v, label: t(`staff.layer.${v}`) })),
    usable[0] || "none",
    (v) => show(v).catch((err) => toast(refusalText(err), "error")),
  );
  await show(usable[0] || "none");
  return control;
}

/** Append children to `parent`, as h() does: arrays flattened, null/false/undefined skipped. */
export function add(parent, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) parent.append(c);
  }
  return parent;
}

/** The first eight characters of a UUID, enough to tell records apart on screen. */
export function shortId(id) {
  return String(id || "").slice(0, 8);
}

/** A traffic light badge (shape and word); `text`, when given, follows the word. */
export function lightBadge(light, text) {
  const known = ["green", "amber", "red"].includes(light) ? light : "none";
  const b = badge(known);
  if (text) b.append(`: ${text}`);
  return b;
}

/** A plot's name on screen: the farmer's id for it, else the record's. */
export function plotId(feature) {
  const p = feature?.properties || {};
  return String(p.plot_ref ?? p.plot_id ?? p.id ?? feature?.id ?? "");
}

/** A description list of [term, value] pairs (null pairs are skipped). */
export function summary(pairs) {
  return h(
    "dl",
    { class: "summary" },
    pairs.filter(Boolean).map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
  );
}

/** Every check as a list item: its light (shape and word), its code and its reason. */
export function checkList(checks) {
  if (!checks?.length) return h("p", { class: "note" }, t("staff.no_checks"));
  return h(
    "ul",
    { class: "checks" },
    checks.map((c) =>
      h(
        "li",
        {},
        lightBadge(c.light),
        h("span", { class: "check-name" }, checkName(c.code), " ", h("code", {}, c.code)),
        h("span", {}, c.reason),
      ),
    ),
  );
}

/** A check's name in the page's language (its code when the page does not know it). */
export function checkName(code) {
  const key = `check.${code}`;
  const name = t(key);
  return name === key ? code : name;
}

const blobUrls = new Set();

/** Forget the photos' object URLs (the page's destroy() calls it). */
export function releasePhotos() {
  for (const u of blobUrls) URL.revokeObjectURL(u);
  blobUrls.clear();
}

/**
 * An object URL of an API image fetched with the bearer token (photos are served only
 * to the roles that may see them, and an <img> cannot send the token itself).
 */
export async function authorisedImage(url) {
  window.__agriPending = (window.__agriPending || 0) + 1; // the browser tests wait for 0
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${api.token()}` } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const u = URL.createObjectURL(await res.blob());
    blobUrls.add(u);
    return u;
  } finally {
    window.__agriPending -= 1;
  }
}

/** Thumbnails (a button on each opens the full photo); `who` names the animal or claim in the alt text. */
export function photoStrip(photos, who) {
  return h(
    "ul",
    { class: "photos" },
    photos.map((p) => {
      const name = p.name || shortId(p.sha256);
      const img = h("img", {
        alt: `${t("staff.photo", { name })} (${who})`,
        width: 128,
        height: 128,
      });
      authorisedImage(p.thumb_url || p.url)
        .then((u) => {
          img.src = u;
        })
        .catch(() => img.replaceWith(h("span", { class: "note" }, t("staff.photo_missing"))));
      const open = h(
        "button",
        {
          type: "button",
          class: "photo-open",
          "aria-label": t("staff.photo_open", { name }),
          onclick: async () => {
            const w = window.open("", "_blank");
            try {
              const u = await authorisedImage(p.url);
              if (w) w.location.href = u;
            } catch (err) {
              w?.close();
              toast(err.message, "error");
            }
          },
        },
        img,
      );
      return h(
        "li",
        {},
        h(
          "figure",
          {},
          open,
          h(
            "figcaption",
            {},
            name,
            p.captured_at ? h("br") : null,
            p.captured_at ? t("staff.photo_taken", { when: fmtDateTime(p.captured_at) }) : null,
          ),
        ),
      );
    }),
  );
}

/** An API refusal in words: 403 and 409 say so; the API's own detail follows. */
export function refusalText(err) {
  const detail = err.detail || err.message || String(err);
  if (err.status === 403) return t("staff.forbidden", { detail });
  if (err.status === 409) return t("staff.conflict", { detail });
  return detail;
}

/**
 * Show an API refusal next to the control it names (``err.field``), else at the form's foot.
 *
 * The form's error slots are elements with ``data-error-for="<field>"`` (``_form`` for
 * the whole form); the named control gets aria-invalid and the focus.
 */
export function showApiError(form, err) {
  const slot =
    (err.field && form.querySelector(`[data-error-for="${CSS.escape(err.field)}"]`)) ||
    form.querySelector('[data-error-for="_form"]');
  slot.textContent = refusalText(err);
  const control = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
}

/** Empty every error slot of a form and clear aria-invalid. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** An error slot for `name`, read out when it changes. */
export function errorSlot(name, id) {
  return h("p", { class: "field-error", id, "data-error-for": name, "aria-live": "polite" });
}

/**
 * A decision form: radio buttons for the choices, a reason, errors beside their fields.
 *
 * @param {object} o
 * @param {{value: string, label: string}[]} o.choices the decisions.
 * @param {string} [o.initial] the choice checked at first (the recommendation).
 * @param {string} o.legend the radio group's name.
 * @param {string} o.reasonLabel the reason's label; o.reasonHint says when it is needed.
 * @param {string} o.submitLabel the button's text.
 * @param {(v: {decision: string, reason: string}) => Promise<void>} o.submit posts it; a
 *   thrown ApiError is shown beside the field it names.
 */
export function decisionForm(o) {
  const reasonId = newId("reason");
  const hintId = `${reasonId}-hint`;
  const errId = `${reasonId}-error`;
  const groupErr = newId("decision-error");
  const reason = h("textarea", {
    id: reasonId,
    name: "reason",
    rows: 3,
    maxlength: 2000,
    "aria-describedby": `${hintId} ${errId}`,
  });
  const button = h("button", { type: "submit", class: "primary" }, o.submitLabel);
  // Grounds: the failed checks a decision rests on, worded for each reader in their
  // language (a farmer reads them on their own page); the typed reason is a note.
  const groundsErr = newId("grounds-error");
  const grounds = (o.grounds || []).length
    ? h(
        "fieldset",
        { class: "grounds", "aria-describedby": groundsErr },
        h("legend", {}, o.groundsLegend),
        o.grounds.map((g) =>
          h("label", {}, h("input", { type: "checkbox", name: "grounds", value: g.code }), " ", g.label),
        ),
        errorSlot("grounds", groundsErr),
      )
    : null;
  const radios = o.choices.map((c) =>
    h(
      "label",
      {},
      h("input", { type: "radio", name: "decision", value: c.value, checked: c.value === o.initial }),
      " ",
      c.label,
    ),
  );
  const form = h(
    "form",
    { class: "decision", novalidate: true, "aria-labelledby": o.labelledBy },
    h(
      "fieldset",
      { "aria-describedby": groupErr },
      h("legend", {}, o.legend || o.submitLabel),
      radios,
      errorSlot("decision", groupErr),
    ),
    grounds,
    h(
      "div",
      {},
      h("label", { for: reasonId }, o.reasonLabel),
      h("p", { class: "note", id: hintId }, o.reasonHint),
      reason,
      errorSlot("reason", errId),
    ),
    h("div", {}, button, errorSlot("_form", newId("form-error"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const chosen = form.querySelector('input[name="decision"]:checked');
    if (!chosen) {
      showApiError(form, { field: "decision", detail: t("staff.choose") });
      return;
    }
    button.disabled = true;
    button.textContent = t("staff.saving");
    try {
      const picked = [...form.querySelectorAll('input[name="grounds"]:checked')].map((x) => x.value);
      await o.submit({ decision: chosen.value, reason: reason.value.trim(), grounds: picked });
    } catch (err) {
      showApiError(form, err);
    } finally {
      button.disabled = false;
      button.textContent = o.submitLabel;
    }
  });
  return form;
}
