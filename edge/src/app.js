// The field agent's app (/agent/): log in, this phone's signing key, two tasks (enrol an
// animal, add evidence to a claim) checked on the phone, the upload queue and its sync.
//
// Routes (the URL's hash): #/enrol (the default), #/evidence, #/queue, #/settings.
// Reuses the pages' modules (/js/api.js: the API and its bearer token; /js/i18n.js: the
// language; /js/ui.js: elements, badges, fields). Works offline once loaded: the service
// worker keeps the files, IndexedDB the device key, the gallery and the queue.

import { api } from "/js/api.js";
import { fmtDateTime, fmtNumber, getLang, setLang, t } from "/js/i18n.js";
import { loginForm as sharedLoginForm } from "/js/login.js";
import { badge, field, h, replace, toast } from "/js/ui.js";
import { capturePanel } from "./capture.js";
import * as db from "./db.js";
import { deviceOf, ensureDevice, refreshStatus, replaceDevice, revoke } from "./device.js";
import { claimVerdict, enrolVerdict } from "./match.js";
import * as queue from "./queue.js";
import "./strings.js";

const ROUTES = ["enrol", "evidence", "queue", "settings"];
const main = document.getElementById("main");
const netbar = document.getElementById("netbar");

// What the tasks hold between renders (a language switch redraws the page).
const tasks = {
  enrol: { tag: "", farmer_id: "", capture: { frames: [], place: null } },
  evidence: { claim_id: "", capture: { frames: [], place: null } },
};
let device = null; // this phone's device record for the logged-in agent
let modelPromise = null;
let modelError = null;
let renderSeq = 0;
let currentPanel = null;

// --- the model ----------------------------------------------------------------------

/** The on-device model (loaded once); rejects when it cannot be loaded. */
function getModel() {
  if (!modelPromise) {
    modelPromise = import("./faceid.js")
      .then((m) => m.loadModel("/agent/"))
      .catch((err) => {
        modelError = err.message || String(err);
        throw err;
      });
    modelPromise.catch(() => {}).finally(() => refreshStatusLine());
  }
  return modelPromise;
}

// --- cached server data: gallery, farmers, claims ----------------------------------

async function fetchAll(path, params = {}) {
  const items = [];
  for (let offset = 0; ;) {
    const page = await api.get(path, { ...params, offset, limit: 200 });
    items.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) return items;
  }
}

/** Fetch the gallery (every page), the farmers and the open claims into IndexedDB. */
async function refreshCaches() {
  const animals = [];
  let model = null;
  let cursor = null;
  do {
    const page = await api.get("/agent/gallery", { cursor, limit: 200 });
    model = page.model;
    animals.push(...page.animals);
    cursor = page.next;
  } while (cursor);
  await db.cache("gallery", { model, animals });
  await db.cache(
    "farmers",
    (await fetchAll("/farmers")).map((f) => ({ id: f.id, name: f.name })),
  );
  const claims = [];
  for (const status of ["filed", "survey"]) {
    for (const c of await fetchAll("/claims", { status })) {
      claims.push({
        id: c.id,
        subject_kind: c.subject_kind,
        subject_id: c.subject_id,
        farmer_id: c.farmer_id,
        status: c.status,
      });
    }
  }
  await db.cache("claims", claims);
  document.documentElement.dataset.cachedAt = new Date().toISOString();
}

/**
 * The animals to match against on the phone: the cached gallery, and the animals this phone
 * has enrolled since (queued or sent, not refused or in conflict), each with the template
 * of its capture, so the same cow enrolled twice offline is caught at once.
 */
async function galleryAnimals() {
  const g = await db.cached("gallery");
  const animals = g ? [...g.value.animals] : [];
  const known = new Set(animals.map((a) => a.tag));
  for (const c of await queue.captures()) {
    if (c.kind !== "enrol" || !c.template || known.has(c.tag)) continue;
    if (c.status === "refused" || c.status === "conflict") continue;
    animals.push({ tag: c.tag, farmer_id: c.farmer_id, templates: [c.template] });
    known.add(c.tag);
  }
  return animals;
}

// --- the status line ------------------------------------------------------------------

async function refreshStatusLine() {
  const pending = (await queue.captures()).filter(
    (c) => c.status === "pending" || c.status === "sending",
  ).length;
  const parts = [navigator.onLine ? t("net.online") : t("net.offline")];
  if (pending) parts.push(t("net.pending", { count: pending }));
  if (device && api.user()) {
    parts.push(t("net.device", { id: device.device_id, status: t(`device.status.${device.status}`) }));
  }
  netbar.textContent = parts.join(" · ");
  netbar.dataset.online = String(navigator.onLine);
  const tab = document.querySelector('[data-tab="queue"]');
  if (tab) tab.textContent = t("tab.queue", { count: pending });
}

// --- the shell ------------------------------------------------------------------------

function route() {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return ROUTES.includes(name) ? name : "enrol";
}

function shellText() {
  document.title = t("agent.title");
  document.getElementById("brand").textContent = t("agent.title");
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
}

function loginForm(message) {
  return sharedLoginForm(
    message,
    async () => {
      navigator.storage?.persist?.().catch(() => {}); // ask the browser to keep the queue
      await render();
      onlineWork();
    },
    { buttonClass: "primary big" },
  );
}

async function render({ focus = false } = {}) {
  const seq = ++renderSeq;
  main.dataset.ready = "false"; // "true" once drawn (the browser tests wait for it)
  try {
    await draw(seq, focus);
  } catch (err) {
    console.error(err);
    replace(main, h("p", { class: "error", role: "alert" }, t("app.error", { detail: err.message })));
  } finally {
    if (seq === renderSeq) main.dataset.ready = "true";
  }
}

async function draw(seq, focus) {
  shellText();
  await refreshStatusLine();
  if (currentPanel) currentPanel.stop();
  currentPanel = null;
  if (!window.isSecureContext) {
    // no WebCrypto keys, service worker or camera: say so instead of failing later
    replace(
      main,
      h("p", { class: "error", role: "alert" }, t("agent.insecure", { origin: location.origin })),
    );
    return;
  }
  const user = api.user();
  if (!user) {
    replace(main, loginForm(sessionStorage.getItem("agri.expired") ? t("login.expired") : ""));
    sessionStorage.removeItem("agri.expired");
    if (focus) main.querySelector("input")?.focus();
    return;
  }
  if (user.role !== "field_agent") {
    replace(
      main,
      h("p", { class: "notice", role: "status" }, t("agent.only_agents", { role: t(`role.${user.role}`) })),
    );
    return;
  }
  device = await deviceOf(user.username);
  if (!device && navigator.onLine) {
    replace(main, h("p", { class: "loading" }, t("device.registering")));
    device = await ensureDevice(user.username);
  }
  if (seq !== renderSeq) return;
  const name = route();
  const view = h("div", { class: `page page-agent page-${name}` });
  replace(main, tabs(name), view);
  if (name === "enrol") await enrolView(view);
  else if (name === "evidence") await evidenceView(view);
  else if (name === "queue") await queueView(view);
  else await settingsView(view, user);
  await refreshStatusLine();
}

function tabs(here) {
  return h(
    "nav",
    { class: "tabs", "aria-label": t("agent.tabs") },
    ROUTES.map((name) =>
      h(
        "a",
        {
          href: `#/${name}`,
          class: "tab",
          dataset: { tab: name },
          "aria-current": name === here ? "page" : null,
        },
        name === "queue" ? t("tab.queue", { count: 0 }) : t(`tab.${name}`),
      ),
    ),
  );
}

/** Append children to el, leaving out null and false. */
function append(el, ...children) {
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
}

function deviceNotice() {
  if (!device) return h("p", { class: "error", role: "alert" }, t("device.none"));
  if (device.status === "revoked") return h("p", { class: "error", role: "alert" }, t("device.revoked_note"));
  if (device.status === "pending")
    return h("p", { class: "hint pending", role: "status" }, t("device.pending_note"));
  return null;
}

// --- the two tasks ----------------------------------------------------------------------

function score(x) {
  return x === null || x === undefined ? "" : fmtNumber(x, 3, 3);
}

/**
 * The on-device verdict of the usable photos: {light, code, tag, score, template (the
 * session template, as a plain array)} or null.
 */
async function localVerdict(kind, frames, subject) {
  const good = frames.filter((f) => f.state === "ok");
  if (!good.length) return null;
  const model = await getModel();
  const template = model.fuse(good.map((f) => f.embedding));
  const animals = await galleryAnimals();
  const thresholds = model.thresholds(good.length); // one photo: the photo pair
  const verdict =
    kind === "enrol"
      ? enrolVerdict(template, animals, subject, thresholds)
      : claimVerdict(template, animals, subject, thresholds);
  return { ...verdict, template: Array.from(template) };
}

function verdictBox(v) {
  if (!v) return badge("none", t("verdict.none"));
  return badge(
    v.light,
    t(`verdict.${v.code}`, {
      tag: v.tag,
      score: score(v.score),
      other: v.other,
      other_score: score(v.other_score),
    }),
  );
}

/**
 * The capture half of a task: the panel, the live verdict and the save button.
 * ready() names what is missing ("" when the form is complete); subject() is the tag to
 * compare with; save(frames, local) stores the capture.
 */
function taskCapture(kind, view, { ready, subject, fields }) {
  const state = tasks[kind];
  const verdict = h("div", { class: "verdict", "aria-live": "polite", dataset: { light: "none" } });
  const message = h("p", { class: "hint", role: "status" });
  const save = h("button", { type: "button", class: "primary big" }, t("capture.save"));
  let last = null;
  let seq = 0;

  async function update(frames) {
    const mine = ++seq;
    const settled = frames.every((f) => f.state !== "checking");
    let v = null;
    if (settled && frames.some((f) => f.state === "ok")) {
      try {
        v = await localVerdict(kind, frames, subject());
      } catch {
        v = null;
      }
    }
    if (mine !== seq) return;
    last = v;
    verdict.dataset.light = v ? v.light : "none";
    verdict.dataset.code = v ? v.code : "";
    verdict.dataset.settled = String(settled);
    replace(verdict, h("h3", {}, t("verdict.title")), settled ? verdictBox(v) : t("capture.checking"));
  }

  const panel = capturePanel({ getModel, onChange: (frames) => update(frames), state: state.capture });
  currentPanel = panel;
  save.addEventListener("click", async () => {
    const missing = ready();
    const frames = panel.frames();
    const usable = frames.filter((f) => f.state === "ok" || f.state === "unchecked");
    if (missing) {
      message.textContent = missing;
      return;
    }
    if (!usable.length || frames.some((f) => f.state === "checking")) {
      message.textContent = t("capture.need_photo");
      return;
    }
    save.disabled = true;
    try {
      const user = api.user();
      await queue.addCapture({
        kind,
        device,
        agent: user.username,
        photos: usable.map((f) => ({ blob: f.blob, meta: f.meta })),
        fields: { ...fields(), template: last ? last.template : null },
        local: last ? { light: last.light, code: last.code, tag: last.tag, score: last.score } : null,
      });
      panel.clear();
      message.textContent = t("capture.saved", { count: usable.length });
      await refreshStatusLine();
      if (navigator.onLine) queue.sync().then(afterSync);
    } catch (err) {
      message.textContent = t("app.error", { detail: err.message || String(err) });
    } finally {
      save.disabled = false;
    }
  });
  const clear = h(
    "button",
    { type: "button", class: "big", onclick: () => panel.clear() },
    t("capture.clear"),
  );
  append(view, panel.el, verdict, h("div", { class: "actions" }, save, clear), message);
  update(panel.frames());
  return { recheck: () => update(panel.frames()) };
}

async function enrolView(view) {
  const state = tasks.enrol;
  const farmers = (await db.cached("farmers"))?.value || [];
  const tag = h("input", {
    name: "tag",
    inputmode: "numeric",
    autocomplete: "off",
    value: state.tag,
    required: true,
  });
  const farmer = h("input", {
    name: "farmer_id",
    list: "farmer-list",
    autocomplete: "off",
    value: state.farmer_id,
    required: true,
  });
  const list = h(
    "datalist",
    { id: "farmer-list" },
    farmers.map((f) => h("option", { value: f.id }, `${f.id} ${f.name}`)),
  );
  append(
    view,
    h("h1", {}, t("enrol.title")),
    deviceNotice(),
    h(
      "div",
      { class: "card form-grid" },
      field(t("enrol.tag"), tag, { hint: t("enrol.tag_hint") }),
      field(t("enrol.farmer"), farmer, { hint: t("enrol.farmer_hint") }),
      list,
    ),
  );
  const cap = taskCapture("enrol", view, {
    ready: () =>
      state.tag && state.farmer_id
        ? device && device.status !== "revoked"
          ? ""
          : t("device.revoked_note")
        : t("capture.need_fields"),
    subject: () => state.tag,
    fields: () => ({ tag: state.tag, farmer_id: state.farmer_id }),
  });
  tag.addEventListener("input", () => {
    state.tag = tag.value.trim();
    cap.recheck();
  });
  farmer.addEventListener("input", () => {
    state.farmer_id = farmer.value.trim();
  });
}

async function evidenceView(view) {
  const state = tasks.evidence;
  const claims = (await db.cached("claims"))?.value || [];
  const claim = h("input", {
    name: "claim_id",
    list: "claim-list",
    autocomplete: "off",
    value: state.claim_id,
    required: true,
  });
  const list = h(
    "datalist",
    { id: "claim-list" },
    claims
      .filter((c) => c.subject_kind === "animal")
      .map((c) => h("option", { value: c.id }, `${c.subject_id} ${c.farmer_id}`)),
  );
  const claimed = h("p", { class: "claimed", role: "status" });
  let claimedTag = null;
  let cap = null;

  async function lookUp() {
    const id = state.claim_id;
    claimedTag = null;
    if (!id) {
      claimed.textContent = "";
      return;
    }
    let found = claims.find((c) => c.id === id);
    if (!found && navigator.onLine) {
      try {
        const c = await api.get(`/claims/${encodeURIComponent(id)}`);
        found = {
          id: c.id,
          subject_kind: c.subject_kind,
          subject_id: c.subject_id,
          farmer_id: c.farmer_id,
          status: c.status,
        };
      } catch {
        found = null;
      }
    }
    if (state.claim_id !== id) return;
    if (!found) claimed.textContent = t("evidence.claimed_unknown");
    else if (found.subject_kind !== "animal") claimed.textContent = t("evidence.not_animal");
    else {
      claimedTag = found.subject_id;
      claimed.textContent = t("evidence.claimed", { tag: claimedTag });
    }
    claimed.dataset.tag = claimedTag || "";
    if (cap) cap.recheck();
  }

  append(
    view,
    h("h1", {}, t("evidence.title")),
    deviceNotice(),
    h(
      "div",
      { class: "card form-grid" },
      field(t("evidence.claim"), claim, { hint: t("evidence.claim_hint") }),
      list,
      claimed,
    ),
  );
  cap = taskCapture("evidence", view, {
    ready: () =>
      state.claim_id && claimedTag
        ? device && device.status !== "revoked"
          ? ""
          : t("device.revoked_note")
        : t("capture.need_fields"),
    subject: () => claimedTag,
    fields: () => ({ claim_id: state.claim_id, claimed_tag: claimedTag }),
  });
  claim.addEventListener("change", () => {
    state.claim_id = claim.value.trim();
    lookUp();
  });
  await lookUp();
}

// --- the queue ----------------------------------------------------------------------------

function serverOutcome(c) {
  const r = c.result;
  if (c.status === "refused")
    return h("p", { class: "error reason" }, t("queue.refused", { reason: c.error || "" }));
  if (c.status === "pending" && c.attempts) {
    return h(
      "p",
      { class: "hint" },
      c.error ? t("queue.refused", { reason: c.error }) : t("queue.retry_note"),
    );
  }
  if (!r) return null;
  if (c.kind === "enrol") {
    const m = r.match || {};
    const verdict =
      r.status === "enrolled"
        ? badge("green", t("queue.enrolled"))
        : badge(
            r.status === "duplicate" ? "red" : "amber",
            t(`queue.${r.status}`, { tag: m.tag || "", farm: m.farm || "", score: score(m.score) }),
          );
    const reused = r.reused_photos || [];
    return h(
      "div",
      { class: "outcome" },
      verdict,
      reused.length
        ? h("p", { class: "reason" }, badge("amber", t("queue.reused", { photos: reused.join(", ") })))
        : null,
    );
  }
  const checks = r.checks || [];
  const sig = checks.find((x) => x.code === "capture_signature");
  return h(
    "div",
    { class: "outcome" },
    sig
      ? h(
          "p",
          { class: "signature", dataset: { light: sig.light } },
          `${t("queue.signature")}: `,
          badge(sig.light, sig.reason),
        )
      : null,
    h(
      "details",
      { open: r.light === "red" || r.light === "amber" }, // what is wrong, shown at once
      h("summary", {}, `${t("queue.checks")} `, badge(r.light || "none")),
      h(
        "ul",
        { class: "checks" },
        checks.map((x) => h("li", {}, badge(x.light, x.code), " ", x.reason || "")),
      ),
    ),
  );
}

/** Where the first photo was taken, as signed (or that the phone had no position). */
function placeOf(c) {
  let signed = null;
  try {
    signed = JSON.parse(c.photos[0].signed);
  } catch {
    return "";
  }
  if (signed.lat === null) return t("capture.no_place");
  return t("capture.place", {
    lat: Number(signed.lat).toFixed(5),
    lon: Number(signed.lon).toFixed(5),
    acc: signed.accuracy_m ?? "?",
  });
}

const STATUS_LIGHT = { pending: "none", sending: "none", done: "green", conflict: "amber", refused: "red" };

async function queueView(view) {
  const rows = await queue.captures();
  const button = h("button", { type: "button", class: "primary big", id: "sync" }, t("queue.sync"));
  const summary = h("p", { class: "hint", role: "status" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = t("queue.syncing");
    try {
      const s = await queue.sync();
      afterSync(s);
      summary.textContent = s.unauthorized ? t("queue.login_again") : t("queue.sent", s);
    } finally {
      button.disabled = false;
      button.textContent = t("queue.sync");
    }
  });
  const items = rows.map((c) => {
    const title =
      c.kind === "enrol"
        ? t("queue.enrol", { tag: c.tag, farmer: c.farmer_id })
        : t("queue.evidence", { claim: c.claim_id.slice(0, 8), tag: c.claimed_tag || "" });
    const forget =
      c.status === "done" || c.status === "refused" || c.status === "conflict"
        ? h(
            "button",
            {
              type: "button",
              class: "big",
              onclick: async () => {
                await queue.forget(c.id);
              },
            },
            t("queue.forget"),
          )
        : null;
    return h(
      "li",
      { class: "card capture-item", dataset: { id: c.id, status: c.status, kind: c.kind } },
      h(
        "div",
        { class: "item-head" },
        h("h2", {}, title),
        badge(STATUS_LIGHT[c.status], t(`queue.status.${c.status}`)),
      ),
      h(
        "p",
        { class: "hint" },
        t("queue.photos", { count: c.photos.length, when: fmtDateTime(c.created_at) }),
      ),
      h("p", { class: "hint" }, placeOf(c)),
      c.local ? h("p", { class: "local" }, `${t("verdict.title")}: `, verdictBox(c.local)) : null,
      serverOutcome(c),
      forget ? h("div", { class: "actions" }, forget) : null,
    );
  });
  append(
    view,
    h("h1", {}, t("queue.title")),
    h("div", { class: "actions" }, button),
    summary,
    rows.length ? h("ol", { class: "queue" }, items) : h("p", { class: "notice" }, t("queue.empty")),
  );
}

// --- settings -------------------------------------------------------------------------------

async function settingsView(view, user) {
  const gallery = await db.cached("gallery");
  let modelLine;
  try {
    const m = await Promise.race([
      getModel(),
      new Promise((_, rej) => setTimeout(() => rej(new Error(t("model.loading"))), 15000)),
    ]);
    modelLine = t("model.ready", { name: `${m.manifest.name} ${m.manifest.version || ""}`.trim() });
    if (
      gallery &&
      gallery.value.model &&
      m.manifest.source_sha256 &&
      gallery.value.model.sha256 !== m.manifest.source_sha256
    ) {
      modelLine += ` ${t("gallery.other_model", { name: gallery.value.model.name })}`;
    }
  } catch (err) {
    modelLine = t("model.missing", { detail: modelError || err.message });
  }
  const rows = device
    ? [
        [t("device.id"), h("code", { id: "device-id" }, device.device_id)],
        [
          t("device.status"),
          badge(
            { active: "green", pending: "amber" }[device.status] || "red",
            t(`device.status.${device.status}`) || device.status,
          ),
        ],
        [t("device.label"), device.label || ""],
        [t("device.registered"), fmtDateTime(device.registered_at)],
      ]
    : [];
  const revokeButton = h("button", { type: "button", class: "danger big", id: "revoke" }, t("device.revoke"));
  revokeButton.addEventListener("click", async () => {
    if (!window.confirm(t("device.revoke_confirm"))) return;
    try {
      device = await revoke(device);
      toast(t("device.revoked_done"), "ok");
    } catch (err) {
      toast(t("app.error", { detail: err.message }), "error");
    }
    render();
  });
  const newKey = h("button", { type: "button", class: "primary big" }, t("device.new_key"));
  newKey.addEventListener("click", async () => {
    try {
      device = await replaceDevice(user.username);
    } catch (err) {
      toast(t("app.error", { detail: err.message }), "error");
    }
    render();
  });
  const refresh = h("button", { type: "button", class: "big" }, t("gallery.refresh"));
  refresh.addEventListener("click", async () => {
    try {
      await refreshCaches();
    } catch (err) {
      toast(t("app.error", { detail: err.message }), "error");
    }
    render();
  });
  append(
    view,
    h("h1", {}, t("settings.title")),
    h(
      "section",
      { class: "card", "aria-labelledby": "device-title" },
      h("h2", { id: "device-title" }, t("device.title")),
      device
        ? h(
            "dl",
            { class: "facts" },
            rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
          )
        : h("p", {}, t("device.none")),
      device && device.status === "revoked" ? h("p", { class: "error" }, t("device.revoked_note")) : null,
      device && device.status === "pending"
        ? h("p", { class: "hint pending", id: "device-pending" }, t("device.pending_note"))
        : null,
      h(
        "div",
        { class: "actions" },
        device && device.status !== "revoked" ? revokeButton : null,
        device && device.status === "revoked" ? newKey : null,
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "model-title" },
      h("h2", { id: "model-title" }, t("model.title")),
      h("p", { id: "model-line" }, modelLine),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "gallery-title" },
      h("h2", { id: "gallery-title" }, t("gallery.title")),
      h(
        "p",
        { id: "gallery-line" },
        gallery
          ? t("gallery.count", { count: gallery.value.animals.length, when: fmtDateTime(gallery.saved_at) })
          : t("gallery.none"),
      ),
      h("div", { class: "actions" }, refresh),
    ),
  );
}

// --- online work: caches, device status, the queue ---------------------------------------

function afterSync(summary) {
  const html = document.documentElement.dataset; // the browser tests wait on these
  html.syncs = String(Number(html.syncs || 0) + 1);
  if (summary && summary.unauthorized) toast(t("queue.login_again"), "error");
  refreshStatusLine();
}

let onlineBusy = null;

/** When online and logged in: refresh the caches and the device's status, then sync. */
function onlineWork() {
  if (!navigator.onLine || !api.user() || api.user().role !== "field_agent") return Promise.resolve();
  if (!onlineBusy) {
    onlineBusy = (async () => {
      try {
        await refreshCaches();
        const user = api.user();
        const record = user && (await deviceOf(user.username));
        if (record) device = await refreshStatus(record);
      } catch (err) {
        console.warn("refreshing the caches failed:", err.message || err);
      }
      afterSync(await queue.sync());
    })().finally(() => {
      onlineBusy = null;
    });
  }
  return onlineBusy;
}

// --- start -----------------------------------------------------------------------------------

for (const b of document.querySelectorAll("[data-lang]")) {
  b.addEventListener("click", () => setLang(b.dataset.lang));
}
document.getElementById("logout").addEventListener("click", () => {
  api.logout();
  render({ focus: true });
});
window.addEventListener("hashchange", () => render({ focus: false }));
window.addEventListener("langchange", () => render());
window.addEventListener("unauthorized", () => {
  sessionStorage.setItem("agri.expired", "1");
  render({ focus: true }); // the login form; the queue and the photos on screen stay
});
window.addEventListener("online", () => {
  refreshStatusLine();
  onlineWork();
});
window.addEventListener("offline", () => refreshStatusLine());
window.addEventListener("queuechange", () => {
  refreshStatusLine();
  if (route() === "queue" && !document.activeElement?.closest?.(".queue")) render();
});

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/agent/sw.js", { scope: "/agent/" }).catch((err) => {
    console.warn("no offline copy: the service worker did not register:", err.message || err);
  });
}

setLang(getLang());
render({ focus: true }).then(() => {
  if (api.user()) {
    getModel().catch(() => {});
    onlineWork();
  }
});
