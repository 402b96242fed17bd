// The underwriter's pages: the queue of applications, and one application with its
// plots on the imagery, declared against measured areas, overlaps with insured plots,
// the animals' enrolment photos, every check's reason, and the decision.
//
// Routes: #/underwriter (the queue; ?status=submitted filters it) and
// #/underwriter/application/<id>; the public notices at #/underwriter/notices[/<id>]
// (notices.js).

import { api } from "../api.js";
import { fmtArea, fmtDate, fmtNumber, registerStrings, t } from "../i18n.js";
import {
  L,
  addGeoJSON,
  isLive,
  fitBox,
  geojsonBounds,
  linkStaffStyles,
  listScenes,
  makeMap,
  scenesMeeting,
  textNode,
} from "../map.js";
import {
  add,
  checkList,
  decisionForm,
  imageryControl,
  lightBadge,
  photoStrip,
  plotId,
  refusalText,
  runCleanup,
  shortId,
  summary,
} from "../staff.js";
import { field, h, pagedTable, replace, toast } from "../ui.js";
import { noticesLink, renderNotices } from "./notices.js";
import strings from "./underwriter.strings.js";

registerStrings(strings);

const STATUSES = ["submitted", "referred", "approved", "declined"];
const PLOT_STYLE = { color: "#ffd600", weight: 3, fillOpacity: 0.08 };
const OVERLAP_STYLE = {
  color: "#d50000",
  weight: 4,
  fillColor: "#d50000",
  fillOpacity: 0.35,
  dashArray: "6 4",
};
const INSURED_STYLE = { color: "#1565c0", weight: 2, fillOpacity: 0.05 };

const cleanup = [];

/** Remove the maps and listeners of the page on screen (the shell calls it before the next). */
export function destroy() {
  runCleanup(cleanup);
}

/** Render the queue or one application into `root` (route: the shell's {name, parts, query, user}). */
export async function render(root, route) {
  linkStaffStyles();
  root.classList.add("staff");
  const parts = route?.parts || [];
  if (parts[0] === "application" && parts[1]) {
    await renderApplication(root, parts[1], route);
  } else if (parts[0] === "notices") {
    await renderNotices(root, route, "underwriter");
  } else {
    await renderQueue(root, route);
  }
}

function statusText(status) {
  return t(`uw.status.${status}`) === `uw.status.${status}` ? status : t(`uw.status.${status}`);
}

async function renderQueue(root, route) {
  const wanted = route?.query?.get?.("status") || "";
  const select = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, t("uw.status.all")),
    STATUSES.map((s) => h("option", { value: s, selected: s === wanted }, statusText(s))),
  );
  select.value = wanted;
  const columns = [
    {
      label: t("uw.col.id"),
      render: (a) => h("a", { href: `#/underwriter/application/${encodeURIComponent(a.id)}` }, shortId(a.id)),
    },
    { label: t("uw.col.farmer"), render: (a) => a.farmer_id },
    { label: t("uw.col.product"), render: (a) => a.product_code },
    { label: t("uw.col.kind"), render: (a) => t(`uw.kind.${a.kind}`) },
    {
      label: t("uw.col.items"),
      render: (a) => t("uw.items", { plots: (a.plots || []).length, animals: (a.animals || []).length }),
    },
    { label: t("uw.col.light"), render: (a) => lightBadge(a.light) },
    { label: t("uw.col.recommendation"), render: (a) => t(`uw.rec.${a.recommendation}`) },
    { label: t("uw.col.status"), render: (a) => statusText(a.status) },
  ];
  const holder = h("div");
  const load = () =>
    replace(
      holder,
      pagedTable(
        columns,
        (offset, limit) => api.get("/api/v1/applications", { status: select.value || null, offset, limit }),
        { caption: t("uw.queue_caption") },
      ),
    );
  select.addEventListener("change", () => {
    const q = select.value ? `?status=${select.value}` : "";
    history.replaceState(null, "", `${location.hash.split("?")[0] || "#/underwriter"}${q}`); // the route's path stays
    load();
  });
  replace(
    root,
    h("h1", {}, t("uw.queue")),
    h("p", {}, noticesLink("underwriter")),
    h("div", { class: "filters" }, field(t("uw.filter_status"), select)),
    holder,
  );
  load();
}

async function renderApplication(root, id, route) {
  let app;
  try {
    app = await api.get(`/api/v1/applications/${encodeURIComponent(id)}`);
  } catch (err) {
    replace(
      root,
      h("p", {}, h("a", { href: "#/underwriter" }, t("uw.back"))),
      h("p", { class: "error", role: "alert" }, err.status === 404 ? t("uw.not_found") : err.message),
    );
    return;
  }
  const open = app.status === "submitted" || app.status === "referred";
  replace(
    root,
    h("p", {}, h("a", { href: "#/underwriter" }, t("uw.back"))),
    h("h1", {}, t("uw.title", { id: shortId(app.id) })),
    summary([
      [t("uw.col.farmer"), app.farmer_id],
      [t("uw.col.product"), `${app.product_code} (${t(`uw.kind.${app.kind}`)})`],
      [t("uw.period"), `${fmtDate(app.start_date)} – ${fmtDate(app.end_date)}`],
      [t("uw.col.light"), lightBadge(app.light)],
      [t("uw.col.recommendation"), t(`uw.rec.${app.recommendation}`)],
      [t("uw.col.status"), statusText(app.status)],
      app.decided_by ? [t("uw.decided_by"), app.decided_by] : null,
      app.reason ? [t("uw.reason"), app.reason] : null,
      app.policy_id ? [t("uw.policy"), shortId(app.policy_id)] : null,
    ]),
    h("h2", {}, t("uw.checks")),
    checkList(app.checks),
  );
  if (app.kind === "crop" || (app.plots || []).length) {
    await renderPlots(root, app);
  }
  if ((app.animals || []).length) {
    await renderAnimals(root, app);
  }
  add(root, h("h2", { id: "decision-title" }, t("uw.decision")));
  if (open && route?.user?.role === "underwriter") {
    add(
      root,
      decisionForm({
        labelledBy: "decision-title",
        legend: t("uw.decision"),
        choices: ["approve", "refer", "decline"].map((d) => ({ value: d, label: t(`uw.decide.${d}`) })),
        initial: app.recommendation,
        reasonLabel: t("uw.decision_reason"),
        reasonHint: t("uw.decision_hint"),
        submitLabel: t("uw.submit"),
        async submit({ decision, reason }) {
          const done = await api.post(`/api/v1/applications/${encodeURIComponent(app.id)}/decision`, {
            decision,
            reason: reason || null,
          });
          toast(t("uw.decided", { status: statusText(done.status) }), "ok");
          destroy();
          await renderApplication(root, app.id, route);
        },
      }),
    );
  } else {
    add(root, h("p", { role: "status" }, t("uw.decided_already", { status: statusText(app.status) })));
  }
}

/** The insured plots a plot of this application overlaps ({plot_id, policy_id, farmer_id, area_m2, share, geometry}). */
function overlapsOf(props) {
  return Array.isArray(props.overlaps) ? props.overlaps : [];
}

async function renderPlots(root, app) {
  const mapEl = h("div", { class: "map", tabindex: "0" });
  const tools = h("div", { class: "map-tools" });
  const note = h("p", { class: "note", "aria-live": "polite" });
  const insuredNote = h("p", { class: "note", "aria-live": "polite" });
  const tableHolder = h("div", { class: "table-wrap" });
  add(
    root,
    h("h2", {}, t("uw.map")),
    tools,
    h(
      "p",
      { class: "legend" },
      h("span", { class: "plot" }, t("uw.legend.plot")),
      h("span", { class: "insured" }, t("uw.legend.insured")),
      h("span", { class: "overlap" }, t("uw.legend.overlap")),
    ),
    mapEl,
    note,
    insuredNote,
    h("h2", {}, t("uw.plots")),
    tableHolder,
  );
  const map = makeMap(mapEl, { label: t("uw.map_label") });
  cleanup.push(() => map.remove());

  const base = `/api/v1/applications/${encodeURIComponent(app.id)}/plots.geojson`;
  const { layer: plotsLayer, data } = await addGeoJSON(
    map,
    base,
    (f) => (overlapsOf(f.properties || {}).length ? { ...PLOT_STYLE, color: "#ff6d00" } : PLOT_STYLE),
    { tooltip: (f) => plotId(f) },
  );
  const features = data.features || [];
  if (!isLive(map)) return;
  // Each overlap's own geometry, hatched red over both plots.
  const overlapLayer = L.geoJSON(
    {
      type: "FeatureCollection",
      features: features.flatMap((f) =>
        overlapsOf(f.properties || {}).map((o) => ({
          type: "Feature",
          geometry: o.geometry,
          properties: { plot_id: `${plotId(f)} ∩ ${o.plot_id}` },
        })),
      ),
    },
    {
      style: OVERLAP_STYLE,
      onEachFeature: (f, lyr) => lyr.bindTooltip(textNode(f.properties.plot_id), { sticky: true }),
    },
  ).addTo(map);
  const box = geojsonBounds(data);
  fitBox(map, box);
  replace(tableHolder, plotTable(features));

  // Imagery: the newest scene that meets the plots, true colour (where it has the bands).
  let scenes = [];
  try {
    scenes = scenesMeeting(await listScenes(), box);
  } catch (err) {
    note.textContent = refusalText(err);
  }
  const scene = scenes[scenes.length - 1];
  if (!isLive(map)) return;
  if (scene) {
    note.textContent = t("uw.scene", { name: scene.name, date: fmtDate(scene.date) });
    tools.append(await imageryControl(map, scene, t("uw.layer")));
  } else {
    note.textContent = t("uw.no_scene");
  }

  // Insured plots in view (policies in force on the cover's first day), refetched as the map moves; the
  // application's own plots (insured once it is approved) are left out.
  const overlapped = new Set(
    features.flatMap((f) => overlapsOf(f.properties || {}).map((o) => `${o.policy_id}/${o.plot_id}`)),
  );
  let insured = null;
  let seq = 0;
  const loadInsured = async () => {
    if (!isLive(map)) return;
    const mine = ++seq;
    const b = map.getBounds();
    const clamp = (v, lim) => Math.max(-lim, Math.min(lim, v));
    const bbox = [
      clamp(b.getWest(), 180),
      clamp(b.getSouth(), 90),
      clamp(b.getEast(), 180),
      clamp(b.getNorth(), 90),
    ]
      .map((x) => x.toFixed(6))
      .join(",");
    let fc;
    try {
      fc = await api.get("/api/v1/plots.geojson", { bbox, on: app.start_date, limit: 200 });
    } catch (err) {
      insuredNote.textContent = refusalText(err);
      return;
    }
    if (mine !== seq || !isLive(map)) return;
    if (insured) map.removeLayer(insured);
    const others = (fc.features || []).filter((f) => f.properties?.application_id !== app.id);
    insured = L.geoJSON(
      { type: "FeatureCollection", features: others },
      {
        style: (f) =>
          overlapped.has(`${f.properties?.policy_id}/${plotId(f)}`) ? OVERLAP_STYLE : INSURED_STYLE,
        onEachFeature: (f, lyr) => lyr.bindTooltip(textNode(plotId(f)), { sticky: true }),
      },
    ).addTo(map);
    plotsLayer.bringToFront();
    overlapLayer.bringToFront();
    insuredNote.textContent = t("uw.insured_count", { n: fmtNumber(others.length, 0) });
  };
  let timer = null;
  map.on("moveend", () => {
    clearTimeout(timer);
    timer = setTimeout(loadInsured, 250);
  });
  cleanup.push(() => clearTimeout(timer));
  if (isLive(map)) await loadInsured();
}

function plotTable(features) {
  const num = (v) => (v === null || v === undefined ? null : Number(v));
  const head = [
    [t("uw.col.plot"), null],
    [t("uw.col.declared"), "num"],
    [t("uw.col.measured"), "num"],
    [t("uw.col.diff"), "num"],
    [t("uw.col.verdict"), null],
    [t("uw.col.overlaps"), null],
  ];
  return h(
    "table",
    { class: "data" },
    h("caption", {}, t("uw.plots_caption")),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        head.map(([x, cls]) => h("th", { scope: "col", class: cls }, x)),
      ),
    ),
    h(
      "tbody",
      {},
      features.map((f) => {
        const p = f.properties || {};
        const declared = num(p.declared_m2);
        const measured = num(p.area_m2);
        const overlaps = overlapsOf(p);
        const diff =
          declared && measured
            ? `${declared >= measured ? "+" : ""}${fmtNumber(((declared - measured) / measured) * 100, 1)} %`
            : t("uw.none");
        const checks = p.checks || [];
        return h(
          "tr",
          { class: overlaps.length ? "overlap" : null },
          h("th", { scope: "row" }, plotId(f)),
          h("td", { class: "num" }, declared === null ? t("uw.none") : fmtArea(declared)),
          h("td", { class: "num" }, measured === null ? t("uw.none") : fmtArea(measured)),
          h("td", { class: "num" }, diff),
          h(
            "td",
            {},
            checks.length
              ? checks.map((c) => h("div", {}, lightBadge(c.light), " ", c.reason))
              : p.light
                ? lightBadge(p.light)
                : t("uw.none"),
          ),
          h(
            "td",
            {},
            overlaps.length
              ? overlaps.map((o) =>
                  h(
                    "div",
                    {},
                    t("uw.overlap_item", {
                      plot: o.plot_id,
                      policy: shortId(o.policy_id),
                      farmer: o.farmer_id,
                      area: fmtArea(o.area_m2),
                      share: fmtNumber((o.share ?? 0) * 100, 1),
                    }),
                  ),
                )
              : t("uw.none"),
          ),
        );
      }),
    ),
  );
}

async function renderAnimals(root, app) {
  const section = h(
    "section",
    { "aria-labelledby": "animals-title" },
    h("h2", { id: "animals-title" }, t("uw.animals")),
  );
  add(root, section);
  const warnings = (app.checks || []).filter(
    (c) => c.light !== "green" && /duplicate|double|reuse/.test(c.code),
  );
  const lists = await Promise.all(
    app.animals.map((tag) => api.get(`/api/v1/animals/${encodeURIComponent(tag)}/photos`).catch(() => [])),
  );
  app.animals.forEach((tag, i) => {
    const photos = Array.isArray(lists[i]) ? lists[i] : lists[i]?.items || [];
    const mine = warnings.filter((c) => c.reason.includes(tag));
    add(
      section,
      h("h3", {}, t("uw.animal", { tag })),
      mine.map((c) =>
        h("p", { class: "warning", role: "note" }, h("strong", {}, `${t("uw.duplicate")}: `), c.reason),
      ),
      photos.length ? photoStrip(photos, tag) : h("p", { class: "note" }, t("uw.no_photos")),
    );
  });
}
