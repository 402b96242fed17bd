// The adjuster's pages: the queue of claims with their lights and filters, and one claim
// with the field before and after the loss (two maps kept in step), NDVI and damage
// layers, the damage polygons, the NDVI series around the loss date, the claim photos
// beside the animal's enrolment photos, every check's reason, the indemnity, the ledger
// history, the assessment of a crop claim on two catalogue scenes (the rules' pick
// pre-selected), the decision and the payment.
//
// Routes: #/adjuster (the queue) and #/adjuster/claim/<id>; the public notices at
// #/adjuster/notices[/<id>] (notices.js).

import { api } from "../api.js";
import { lineChart } from "../chart.js";
import { fmtDate, fmtDateTime, fmtMoney, fmtNumber, getLang, registerStrings, t } from "../i18n.js";
import {
  L,
  addSceneLayer,
  isLive,
  fitBox,
  geojsonBounds,
  layerSwitch,
  linkStaffStyles,
  listScenes,
  makeMap,
  scenesMeeting,
  syncMaps,
} from "../map.js";
import {
  add,
  checkList,
  checkName,
  clearErrors,
  decisionForm,
  errorSlot,
  imageryControl,
  lightBadge,
  photoStrip,
  refusalText,
  runCleanup,
  sceneHas,
  shortId,
  showApiError,
  summary,
} from "../staff.js";
import { field, h, newId, replace, table, toast } from "../ui.js";
import strings from "./adjuster.strings.js";
import { noticesLink, renderNotices } from "./notices.js";

registerStrings(strings);

const STATUSES = ["filed", "survey", "approved", "rejected", "paid"];
const OPEN = ["filed", "survey"]; // awaiting a decision: may be assessed
const LIGHTS = ["green", "amber", "red"];
const PLOT_STYLE = { color: "#ffd600", weight: 3, fill: false };
const DAMAGE_STYLE = { color: "#ff6d00", weight: 2, fillColor: "#ff6d00", fillOpacity: 0.45 };
const PAGE = 20;
const MAX_FILTERED = 2000; // the queue filters at most this many claims in the browser

const cleanup = [];
const filters = { status: "", light: "", region: "", kind: "", from: "", to: "", offset: 0 };

/** Remove the maps, charts and photos of the page on screen (the shell calls it). */
export function destroy() {
  runCleanup(cleanup);
}

/** Render the queue or one claim into `root` (route: the shell's {name, parts, query, user}). */
export async function render(root, route) {
  linkStaffStyles();
  root.classList.add("staff");
  const parts = route?.parts || [];
  if (parts[0] === "claim" && parts[1]) await renderClaim(root, parts[1], route);
  else if (parts[0] === "notices") await renderNotices(root, route, "adjuster");
  else await renderQueue(root);
}

function statusText(s) {
  return STATUSES.includes(s) ? t(`adj.status.${s}`) : s;
}

async function allPages(path, params, max) {
  const items = [];
  let total = 0;
  for (let offset = 0; offset < max;) {
    const page = await api.get(path, { ...params, offset, limit: 200 });
    items.push(...page.items);
    total = page.total;
    offset += page.items.length;
    if (!page.items.length || offset >= total) break;
  }
  return { items, total };
}

// --- the queue ------------------------------------------------------------------------

async function renderQueue(root) {
  const [claims, farmers] = await Promise.all([
    allPages("/api/v1/claims", { status: filters.status || null }, MAX_FILTERED),
    allPages("/api/v1/farmers", {}, MAX_FILTERED).catch(() => ({ items: [] })),
  ]);
  const region = new Map(farmers.items.map((f) => [f.id, f.region]));
  const regions = [...new Set(farmers.items.map((f) => f.region))].sort();

  const select = (name, options, value) => {
    const s = h(
      "select",
      { name },
      h("option", { value: "" }, t("adj.all")),
      options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
    );
    s.value = value;
    return s;
  };
  const status = select(
    "status",
    STATUSES.map((s) => [s, statusText(s)]),
    filters.status,
  );
  const light = select(
    "light",
    LIGHTS.map((l) => [l, t(`light.${l}`)]),
    filters.light,
  );
  const area = select(
    "region",
    regions.map((r) => [r, r]),
    filters.region,
  );
  const kind = select(
    "kind",
    ["animal", "plot"].map((k) => [k, t(`adj.kind.${k}`)]),
    filters.kind,
  );
  const from = h("input", { type: "date", name: "from", value: filters.from });
  const to = h("input", { type: "date", name: "to", value: filters.to });
  const results = h("div");

  const show = () => {
    const rows = claims.items.filter(
      (c) =>
        (!filters.light || c.light === filters.light) &&
        (!filters.region || region.get(c.farmer_id) === filters.region) &&
        (!filters.kind || c.subject_kind === filters.kind) &&
        (!filters.from || (c.event_date && c.event_date >= filters.from)) &&
        (!filters.to || (c.event_date && c.event_date <= filters.to)),
    );
    filters.offset = Math.min(filters.offset, Math.max(0, rows.length - 1));
    filters.offset -= filters.offset % PAGE;
    const pageRows = rows.slice(filters.offset, filters.offset + PAGE);
    const columns = [
      {
        label: t("adj.col.id"),
        render: (c) => h("a", { href: `#/adjuster/claim/${encodeURIComponent(c.id)}` }, shortId(c.id)),
      },
      { label: t("adj.col.farmer"), render: (c) => c.farmer_id },
      { label: t("adj.col.region"), render: (c) => region.get(c.farmer_id) || "" },
      { label: t("adj.col.subject"), render: (c) => `${t(`adj.kind.${c.subject_kind}`)}: ${c.subject_id}` },
      { label: t("adj.col.event"), render: (c) => fmtDate(c.event_date) },
      { label: t("adj.col.light"), render: (c) => lightBadge(c.light) },
      { label: t("adj.col.status"), render: (c) => statusText(c.status) },
      { label: t("adj.col.amount"), class: "num", render: (c) => fmtMoney(c.amount, c.currency) },
    ];
    const prev = h(
      "button",
      {
        type: "button",
        disabled: filters.offset === 0,
        onclick: () => {
          filters.offset -= PAGE;
          show();
        },
      },
      t("adj.prev"),
    );
    const next = h(
      "button",
      {
        type: "button",
        disabled: filters.offset + PAGE >= rows.length,
        onclick: () => {
          filters.offset += PAGE;
          show();
        },
      },
      t("adj.next"),
    );
    replace(
      results,
      h("p", { role: "status" }, t("adj.showing", { n: rows.length, total: claims.total })),
      claims.total > claims.items.length
        ? h("p", { class: "note" }, t("adj.truncated", { n: claims.items.length }))
        : null,
      h("div", { class: "table-scroll" }, table(columns, pageRows, { caption: t("adj.queue_caption") })),
      h("nav", { class: "pager", "aria-label": t("adj.pages") }, prev, next),
    );
  };
  const onChange = (key, el) =>
    el.addEventListener("change", async () => {
      filters[key] = el.value;
      filters.offset = 0;
      if (key === "status") {
        await renderQueue(root); // the server filters by status
      } else {
        show();
      }
    });
  onChange("status", status);
  onChange("light", light);
  onChange("region", area);
  onChange("kind", kind);
  onChange("from", from);
  onChange("to", to);
  replace(
    root,
    h("h1", {}, t("adj.queue")),
    h("p", {}, noticesLink("adjuster")),
    h(
      "form",
      { class: "filters", "aria-label": t("adj.filters"), onsubmit: (e) => e.preventDefault() },
      field(t("adj.f.status"), status),
      field(t("adj.f.light"), light),
      field(t("adj.f.region"), area),
      field(t("adj.f.kind"), kind),
      field(t("adj.f.from"), from),
      field(t("adj.f.to"), to),
    ),
    results,
  );
  show();
  if (document.activeElement === document.body && filters.status) status.focus();
}

// --- one claim ------------------------------------------------------------------------

async function renderClaim(root, id, route) {
  let claim;
  try {
    claim = await api.get(`/api/v1/claims/${encodeURIComponent(id)}`);
  } catch (err) {
    replace(
      root,
      h("p", {}, h("a", { href: "#/adjuster" }, t("adj.back"))),
      h("p", { class: "error", role: "alert" }, err.status === 404 ? t("adj.not_found") : refusalText(err)),
    );
    return;
  }
  replace(
    root,
    h("p", {}, h("a", { href: "#/adjuster" }, t("adj.back"))),
    h("h1", {}, t("adj.title", { id: shortId(claim.id) })),
    summary([
      [t("adj.col.farmer"), claim.farmer_id],
      [t("adj.policy"), shortId(claim.policy_id)],
      [t("adj.subject"), `${t(`adj.kind.${claim.subject_kind}`)}: ${claim.subject_id}`],
      [t("adj.col.event"), fmtDate(claim.event_date)],
      [t("adj.reported"), fmtDateTime(claim.reported_at)],
      [t("adj.col.light"), lightBadge(claim.light)],
      [t("adj.col.status"), statusText(claim.status)],
      [t("adj.col.amount"), fmtMoney(claim.amount, claim.currency)],
      claim.reason ? [t("adj.reason"), claim.reason] : null,
      claim.payment_ref ? [t("adj.payment_ref"), claim.payment_ref] : null,
    ]),
    h("h2", { id: "checks-title", tabindex: "-1" }, t("adj.checks")),
    checkList(claim.checks),
  );
  const work = [];
  if (claim.subject_kind === "plot") {
    work.push(renderImagery(root, claim), renderSeries(root, claim));
  } else {
    work.push(renderPhotos(root, claim));
  }
  await Promise.all(work);
  add(root, indemnityTable(claim));
  await renderHistory(root, claim);
  if (claim.subject_kind === "plot" && OPEN.includes(claim.status) && route?.user?.role === "adjuster") {
    await renderAssess(root, claim, route);
  }
  renderActions(root, claim, route);
}

function sceneNear(scenes, ref, day, after) {
  if (ref?.scene) {
    const named = scenes.find((s) => s.name === ref.scene || s.file === ref.scene || s.source === ref.scene);
    if (named && (!ref.date || String(named.date) === ref.date)) return named;
  }
  const target = ref?.date || day;
  if (!target) return null;
  if (after) return scenes.find((s) => String(s.date) >= target) || null;
  return [...scenes].reverse().find((s) => String(s.date) <= target) || null;
}

async function renderImagery(root, claim) {
  const section = h(
    "section",
    { "aria-labelledby": "imagery-title" },
    h("h2", { id: "imagery-title" }, t("adj.imagery")),
  );
  add(root, section);
  const [plots, damage] = await Promise.all([
    api.get(`/api/v1/policies/${encodeURIComponent(claim.policy_id)}/plots.geojson`),
    api.get(`/api/v1/claims/${encodeURIComponent(claim.id)}/damage.geojson`),
  ]);
  const plot = {
    type: "FeatureCollection",
    features: (plots.features || []).filter((f) => (f.properties?.plot_id ?? f.id) === claim.subject_id),
  };
  const box = geojsonBounds(plot) || geojsonBounds(damage);
  const scenes = scenesMeeting(await listScenes(), box);
  const before = sceneNear(scenes, damage.before, claim.event_date, false);
  const after = sceneNear(scenes, damage.after, claim.event_date, true);

  const pane = (label, caption) => {
    const el = h("div", { class: "map", tabindex: "0" });
    const tools = h("div", { class: "map-tools" });
    const fig = h("figure", {}, h("figcaption", {}, caption), tools, el);
    return { el, tools, fig, label };
  };
  const left = pane(
    t("adj.before_label"),
    before ? t("adj.before", { scene: before.name, date: fmtDate(before.date) }) : t("adj.layer_before"),
  );
  const right = pane(
    t("adj.after_label"),
    after ? t("adj.after", { scene: after.name, date: fmtDate(after.date) }) : t("adj.layer_after"),
  );
  add(
    section,
    h(
      "p",
      { class: "legend" },
      h("span", { class: "plot" }, t("adj.legend.plot")),
      h("span", { class: "damage" }, t("adj.legend.damage")),
    ),
    h("div", { class: "maps" }, left.fig, right.fig),
    h(
      "p",
      { class: "note", "aria-live": "polite" },
      !before && !after ? t("adj.no_scene") : "",
      " ",
      damage.assessed ? t("adj.damage_count", { n: (damage.features || []).length }) : t("adj.not_assessed"),
    ),
  );
  const maps = [left, right].map((p) => {
    const m = makeMap(p.el, { label: p.label });
    cleanup.push(() => m.remove());
    return m;
  });
  if (!maps.every(isLive)) return;
  syncMaps(...maps);
  for (const m of maps) {
    L.geoJSON(damage, { style: DAMAGE_STYLE }).addTo(m);
    L.geoJSON(plot, { style: PLOT_STYLE }).addTo(m);
  }
  fitBox(maps[0], box);
  const jobs = [];
  if (before) {
    jobs.push(imageryControl(maps[0], before, t("adj.layer_before")).then((c) => left.tools.append(c)));
  }
  if (after) {
    jobs.push(afterControl(maps[1], after, before, damage.threshold).then((c) => right.tools.append(c)));
  }
  await Promise.all(jobs.map((j) => j.catch((err) => toast(refusalText(err), "error"))));
}

// The after map offers the damage layer too (NDVI drop from the before scene), drawn at the
// assessment's threshold: the drop beyond what the season explains, as its polygons.
async function afterControl(map, after, before, threshold) {
  const choices = ["truecolor", "ndvi"].filter((l) => sceneHas(after, l));
  if (before && sceneHas(after, "ndvi") && sceneHas(before, "ndvi")) choices.push("damage");
  let current = null;
  const show = async (layer) => {
    if (!isLive(map)) return;
    if (current) map.removeLayer(current);
    current = null;
    if (layer === "damage") {
      // The damage mask over the after scene's true colour (or NDVI), so the field shows through.
      const base = await addSceneLayer(map, after.name, choices[0], { zIndex: 1 });
      const mask = await addSceneLayer(map, after.name, "damage", {
        before: before.name,
        threshold,
        zIndex: 2,
        opacity: 0.8,
      });
      current = L.layerGroup([base, mask]);
      if (isLive(map)) current.addTo(map);
    } else if (layer !== "none") {
      current = await addSceneLayer(map, after.name, layer, { zIndex: 1 });
    }
  };
  const control = layerSwitch(
    t("adj.layer_after"),
    [...choices, "none"].map((v) => ({
      value: v,
      label: v === "damage" ? t("adj.legend.damage") : t(`staff.layer.${v}`),
    })),
    choices[0] || "none",
    (v) => show(v).catch((err) => toast(refusalText(err), "error")),
  );
  await show(choices[0] || "none");
  return control;
}

async function renderSeries(root, claim) {
  const section = h(
    "section",
    { "aria-labelledby": "series-title" },
    h("h2", { id: "series-title" }, t("adj.series")),
  );
  add(root, section);
  let s;
  try {
    s = await api.get(`/api/v1/claims/${encodeURIComponent(claim.id)}/series`);
  } catch (err) {
    add(section, h("p", { class: "note" }, refusalText(err)));
    return;
  }
  const loss = s.loss_date || claim.event_date;
  const dayOf = (iso) => Math.round((Date.parse(iso) - Date.parse(loss)) / 86400000);
  const series = [];
  if (s.source === "stack" && s.season) {
    series.push({
      label: t("adj.this_season", { year: s.season.year }),
      points: s.season.points.map((p) => ({ x: p.day ?? dayOf(p.date), y: p.ndvi, date: p.date })),
    });
    for (const w of s.earlier || []) {
      series.push({
        label: t("adj.season", { year: w.year }),
        points: w.points.map((p) => ({ x: p.day, y: p.ndvi, date: p.date })),
      });
    }
  } else if ((s.points || []).length) {
    series.push({
      label: t("adj.assessment"),
      points: s.points.filter((p) => p.date).map((p) => ({ x: dayOf(p.date), y: p.ndvi, date: p.date })),
    });
  }
  if (!series.length || !series.some((x) => x.points.length)) {
    add(section, h("p", { class: "note" }, t("adj.series_none", { reason: s.reason || "" })));
    return;
  }
  const canvas = h("canvas", { role: "img", "aria-label": t("adj.series_label") });
  add(
    section,
    h("div", { class: "chart-box" }, canvas),
    s.typical_drop !== undefined && s.typical_drop !== null
      ? h("p", { class: "note" }, t("adj.typical_drop", { drop: fmtNumber(s.typical_drop, 3) }))
      : null,
    h(
      "details",
      {},
      h("summary", {}, t("adj.series_table")),
      table(
        [
          { label: t("adj.col.series"), render: (r) => r.series },
          { label: t("adj.col.date"), render: (r) => fmtDate(r.date) },
          { label: t("adj.col.day"), class: "num", render: (r) => fmtNumber(r.x, 0) },
          { label: t("adj.col.ndvi"), class: "num", render: (r) => (r.y === null ? "—" : fmtNumber(r.y, 3)) },
        ],
        series.flatMap((x) => x.points.map((p) => ({ ...p, series: x.label }))),
        { caption: t("adj.series_table") },
      ),
    ),
  );
  const chart = await lineChart(canvas, series, {
    xLabel: t("adj.days"),
    yLabel: "NDVI",
    marker: { x: 0, label: t("adj.loss") },
    lang: getLang(),
  });
  cleanup.push(() => chart.destroy());
}

async function renderPhotos(root, claim) {
  const tag = claim.subject_id;
  const [mine, enrolled] = await Promise.all([
    api.get(`/api/v1/claims/${encodeURIComponent(claim.id)}/photos`).catch(() => []),
    api.get(`/api/v1/animals/${encodeURIComponent(tag)}/photos`).catch(() => []),
  ]);
  const list = (x) => (Array.isArray(x) ? x : x?.items || []);
  const identity = (claim.checks || []).find((c) => c.code === "identity");
  add(
    root,
    h(
      "section",
      { "aria-labelledby": "photos-title" },
      h("h2", { id: "photos-title" }, t("adj.photos")),
      h(
        "p",
        {},
        h("strong", {}, `${t("adj.identity")}: `),
        identity ? [lightBadge(identity.light), " ", identity.reason] : t("adj.identity_none"),
      ),
      h(
        "div",
        { class: "evidence" },
        h(
          "div",
          {},
          h("h3", {}, t("adj.claim_photos")),
          list(mine).length
            ? photoStrip(list(mine), shortId(claim.id))
            : h("p", { class: "note" }, t("adj.no_photos")),
        ),
        h(
          "div",
          {},
          h("h3", {}, t("adj.enrol_photos", { tag })),
          list(enrolled).length
            ? photoStrip(list(enrolled), tag)
            : h("p", { class: "note" }, t("adj.no_photos")),
        ),
      ),
    ),
  );
}

function indemnityTable(claim) {
  const rows = (claim.indemnity || []).map(([item, value]) => ({ item, value }));
  return h(
    "section",
    { "aria-labelledby": "indemnity-title" },
    h("h2", { id: "indemnity-title" }, t("adj.indemnity")),
    h(
      "div",
      { class: "table-wrap" },
      table(
        [
          { label: t("adj.col.item"), render: (r) => r.item },
          { label: t("adj.col.value"), class: "num", render: (r) => r.value },
        ],
        rows,
        { caption: t("adj.indemnity_caption") },
      ),
    ),
  );
}

async function renderHistory(root, claim) {
  const section = h(
    "section",
    { "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, t("adj.history")),
  );
  add(root, section);
  let page;
  try {
    page = await api.get(`/api/v1/history/claim/${encodeURIComponent(claim.id)}`, { limit: 200 });
  } catch (err) {
    add(section, h("p", { class: "note" }, refusalText(err)));
    return;
  }
  const items = Array.isArray(page) ? page : page.items || [];
  add(
    section,
    h(
      "div",
      { class: "table-wrap" },
      table(
        [
          { label: t("adj.col.index"), class: "num", render: (e) => String(e.index) },
          { label: t("adj.col.type"), render: (e) => e.type },
          { label: t("adj.col.actor"), render: (e) => e.actor },
          { label: t("adj.col.time"), render: (e) => fmtDateTime(e.timestamp || e.time) },
          {
            label: t("adj.col.receipt"),
            render: (e) =>
              h(
                "button",
                {
                  type: "button",
                  onclick: async () => {
                    try {
                      const r = await api.get(e.receipt || `/api/v1/ledger/receipts/${e.index}`);
                      const blob = new Blob([JSON.stringify(r, null, 2)], { type: "application/json" });
                      window.open(URL.createObjectURL(blob), "_blank");
                    } catch (err) {
                      toast(refusalText(err), "error");
                    }
                  },
                },
                t("adj.receipt", { index: e.index }),
              ),
          },
        ],
        items,
        { caption: t("adj.history_caption") },
      ),
    ),
  );
}

// --- the assessment on two catalogue scenes -------------------------------------------

// How far a scene lies from the loss: "3 days before" / "灾前 3 天".
function distanceText(scene) {
  const n = Math.abs(scene.days_from_event ?? 0);
  if (scene.side === "same_day") return t("adj.assess.same_day");
  if (scene.side === "before") return t(n === 1 ? "adj.assess.day_before" : "adj.assess.days_before", { n });
  if (scene.side === "after") return t(n === 1 ? "adj.assess.day_after" : "adj.assess.days_after", { n });
  return "";
}

// The scenes offered on one side of the loss (the loss's own day on both), the rules' pick chosen.
function sceneSelect(id, name, options, side, pick) {
  const shared = new Map();
  for (const s of options.scenes) shared.set(s.date, (shared.get(s.date) || 0) + 1);
  const usable = options.scenes.filter((s) => s.side === null || s.side === side || s.side === "same_day");
  const label = (s) =>
    [
      s.date,
      distanceText(s),
      shared.get(s.date) > 1 ? s.name : null, // two scenes of one day: their names tell them apart
      s.name === pick ? t("adj.assess.pick") : null,
    ]
      .filter(Boolean)
      .join(" · ");
  const select = h(
    "select",
    { id, name, required: true, disabled: !usable.length, "aria-describedby": `${id}-error` },
    usable.length
      ? usable.map((s) => h("option", { value: s.name }, label(s)))
      : h("option", { value: "" }, t(`adj.assess.none_${side}`)),
  );
  select.value = pick && usable.some((s) => s.name === pick) ? pick : usable[0]?.name || "";
  return select;
}

// A refusal of the assessment in the reader's words; `chosen` is what was sent per side.
function assessError(err, chosen) {
  const side = err.field === "before" || err.field === "after" ? err.field : null;
  if (err.status === 409) return t("adj.assess.err.decided");
  if (side && !chosen[side]) return t(`adj.assess.none_${side}`);
  if (side && err.status === 404) return t(`adj.assess.err.unknown_${side}`, { scene: chosen[side] });
  if (side && err.status === 422) return t(`adj.assess.err.unusable_${side}`, { scene: chosen[side] });
  if (err.field === "imagery") return t("adj.assess.err.imagery", { detail: err.detail });
  return t("adj.assess.err.other", { detail: refusalText(err) });
}

async function renderAssess(root, claim, route) {
  const section = h(
    "section",
    { "aria-labelledby": "assess-title" },
    h("h2", { id: "assess-title" }, t("adj.assess.title")),
  );
  add(root, section);
  let options;
  try {
    options = await api.get(`/api/v1/claims/${encodeURIComponent(claim.id)}/scenes`);
  } catch (err) {
    add(section, h("p", { class: "note" }, assessError(err, {})));
    return;
  }
  const before = sceneSelect(newId("assess-before"), "before", options, "before", options.before);
  const after = sceneSelect(newId("assess-after"), "after", options, "after", options.after);
  const button = h(
    "button",
    { type: "submit", class: "primary", disabled: !before.value || !after.value },
    t("adj.assess.submit"),
  );
  const progress = h("p", { class: "note", role: "status" });
  const slot = (select, label) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: select.id }, label),
      select,
      errorSlot(select.name, `${select.id}-error`),
    );
  const form = h(
    "form",
    { class: "decision assess", novalidate: true, "aria-labelledby": "assess-title" },
    h("p", { class: "note" }, t("adj.assess.hint", { event: fmtDate(options.event_date) })),
    slot(before, t("adj.assess.before")),
    slot(after, t("adj.assess.after")),
    h("div", {}, button, progress, errorSlot("_form", newId("assess-error"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const chosen = { before: before.value || null, after: after.value || null };
    button.disabled = true;
    progress.textContent = t("adj.assess.running");
    try {
      const done = await api.post(`/api/v1/claims/${encodeURIComponent(claim.id)}/assessment`, chosen);
      toast(
        t("adj.assess.done", {
          light: t(`light.${done.light || "none"}`),
          amount: fmtMoney(done.amount, done.currency),
        }),
        "ok",
      );
      // The result at once: the claim again, its layers, polygons, chart, checks and indemnity.
      destroy();
      await renderClaim(root, claim.id, route);
      const checks = document.getElementById("checks-title");
      checks?.scrollIntoView({ block: "start" });
      checks?.focus({ preventScroll: true });
    } catch (err) {
      progress.textContent = "";
      button.disabled = false;
      showAssessError(form, err, chosen);
    }
  });
  add(section, form);
}

function showAssessError(form, err, chosen) {
  const side = err.field === "before" || err.field === "after" ? err.field : null;
  const slot = form.querySelector(`[data-error-for="${side || "_form"}"]`);
  slot.textContent = assessError(err, chosen);
  const control = side && form.querySelector(`[name="${side}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
}

function renderActions(root, claim, route) {
  const isAdjuster = route?.user?.role === "adjuster";
  const reload = async (message) => {
    toast(message, "ok");
    destroy();
    await renderClaim(root, claim.id, route);
  };
  if (claim.status === "filed" || claim.status === "survey") {
    add(root, h("h2", { id: "decision-title" }, t("adj.decision")));
    if (!isAdjuster) return;
    const needs = claim.light === "amber" || claim.light === "red";
    add(
      root,
      needs ? h("p", { class: "warning" }, t("adj.need_reason", { light: t(`light.${claim.light}`) })) : null,
      decisionForm({
        labelledBy: "decision-title",
        legend: t("adj.decision"),
        choices: ["approve", "reject", "survey"].map((d) => ({ value: d, label: t(`adj.decide.${d}`) })),
        initial: claim.light === "green" ? "approve" : null,
        groundsLegend: t("adj.grounds"),
        grounds: [...new Set(claim.checks.filter((c) => c.light !== "green").map((c) => c.code))].map(
          (code) => ({ code, label: checkName(code) }),
        ),
        reasonLabel: t("adj.decision_reason"),
        reasonHint: t("adj.decision_hint"),
        submitLabel: t("adj.submit"),
        async submit({ decision, reason, grounds }) {
          const done = await api.post(`/api/v1/claims/${encodeURIComponent(claim.id)}/decision`, {
            decision,
            reason: reason || null,
            grounds,
          });
          await reload(t("adj.decided", { status: statusText(done.status) }));
        },
      }),
    );
  } else if (claim.status === "approved") {
    add(root, h("h2", { id: "payment-title" }, t("adj.payment")));
    add(root, h("p", { class: "note" }, t("ntc.pay_note"), " ", noticesLink("adjuster")));
    if (isAdjuster) add(root, paymentForm(claim, reload));
  } else {
    add(root, h("p", { role: "status" }, t("adj.closed", { status: statusText(claim.status) })));
  }
}

function paymentForm(claim, reload) {
  const refId = newId("payment-ref");
  const input = h("input", {
    id: refId,
    name: "payment_ref",
    type: "text",
    required: true,
    maxlength: 64,
    autocomplete: "off",
    "aria-describedby": `${refId}-hint ${refId}-error`,
  });
  const button = h("button", { type: "submit", class: "primary" }, t("adj.pay"));
  const form = h(
    "form",
    { class: "decision", novalidate: true, "aria-labelledby": "payment-title" },
    h(
      "div",
      {},
      h("label", { for: refId }, t("adj.payment_ref")),
      h("p", { class: "note", id: `${refId}-hint` }, t("adj.pay_hint")),
      input,
      errorSlot("payment_ref", `${refId}-error`),
    ),
    h("div", {}, button, errorSlot("_form", newId("pay-error"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    button.disabled = true;
    try {
      const done = await api.post(`/api/v1/claims/${encodeURIComponent(claim.id)}/payment`, {
        payment_ref: input.value.trim(),
      });
      await reload(t("adj.paid", { ref: done.payment_ref }));
    } catch (err) {
      showApiError(form, err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
