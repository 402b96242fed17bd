// Leaflet helpers for the staff pages: maps drawn with the canvas renderer, scene
// layers from TileJSON, GeoJSON layers from the API, and before/after maps kept in step.
//
// Leaflet comes from the app's own /vendor (npm), never a CDN. Tile requests carry no
// bearer header: the tile URLs of registered scenes are served to anyone who can reach
// the app (see the TileJSON endpoint), while every GeoJSON layer goes through api.js.

import * as L from "/vendor/leaflet/dist/leaflet-src.esm.js";
import { api } from "./api.js";

export { L };

const linked = new Set();

/** Add a stylesheet once (the staff pages bring their own beside app.css). */
export function linkStyle(href) {
  if (linked.has(href) || document.querySelector(`link[href="${href}"]`)) {
    linked.add(href);
    return;
  }
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
  linked.add(href);
}

/** Leaflet's and the staff pages' stylesheets. */
export function linkStaffStyles() {
  linkStyle("/vendor/leaflet/dist/leaflet.css");
  linkStyle("/css/staff.css");
}

/**
 * A Leaflet map in `el`, drawing vectors on one canvas.
 *
 * @param {HTMLElement} el the map's container; it needs a height (staff.css: .map).
 * @param {{label?: string}} opts `label` names the map for screen readers.
 * @returns {L.Map}
 */
export function makeMap(el, opts = {}) {
  linkStaffStyles();
  el.classList.add("map");
  if (opts.label) {
    el.setAttribute("role", "region");
    el.setAttribute("aria-label", opts.label);
  }
  const map = L.map(el, {
    preferCanvas: true,
    renderer: L.canvas({ padding: 0.2 }),
    zoomSnap: 0.25,
    zoomAnimation: false, // a page re-rendered mid-animation leaves Leaflet without its panes
    keyboard: true,
    attributionControl: true,
  });
  map.attributionControl.setPrefix(false);
  map.on("unload", () => {
    map.gone = true;
  });
  map.setView([0, 0], 2);
  // A map laid out while hidden or resized has the wrong size until told.
  if (typeof ResizeObserver !== "undefined") {
    let alive = true;
    // A map showing a fitted box (the plots) refits it, say when a phone turns, unless
    // the user has moved it; otherwise its centre stays.
    const ro = new ResizeObserver(() => {
      if (!alive || !el.isConnected) return;
      map.invalidateSize();
      if (map.fittedBox && !map.userMoved) fitBox(map, map.fittedBox);
    });
    map.on("dragstart", () => {
      map.userMoved = true;
    });
    ro.observe(el);
    map.on("unload", () => {
      alive = false;
      ro.disconnect();
    });
  }
  return map;
}

/** The TileJSON of one scene's layer (truecolor, ndvi, or damage with `before` and `threshold`). */
export async function sceneTileJSON(scene, layer, before, threshold) {
  const params = { layer };
  if (before) params.before = before;
  if (layer === "damage" && typeof threshold === "number") params.threshold = threshold.toFixed(2);
  return api.get(`/api/v1/scenes/${encodeURIComponent(scene)}/tilejson.json`, params);
}

/**
 * A tile layer of a scene, from its TileJSON (not added to the map).
 *
 * @param {string} scene the scene's name (GET /api/v1/scenes).
 * @param {'truecolor'|'ndvi'|'damage'} layer what the tiles show.
 * @param {{before?: string, threshold?: number, opacity?: number, zIndex?: number}} opts
 *   `before` for damage, and the NDVI drop drawn as damage (`threshold`, default 0.3).
 * @returns {Promise<L.TileLayer>}
 */
export async function sceneLayer(scene, layer, opts = {}) {
  const tj = await sceneTileJSON(scene, layer, opts.before, opts.threshold);
  const options = {
    minZoom: 0,
    maxZoom: 22,
    maxNativeZoom: tj.maxzoom ?? 18,
    opacity: opts.opacity ?? 1,
    zIndex: opts.zIndex ?? 1,
    attribution: tj.attribution || tj.name || scene,
    crossOrigin: false,
  };
  if (Array.isArray(tj.bounds) && tj.bounds.length === 4) {
    const [w, s, e, n] = tj.bounds;
    options.bounds = L.latLngBounds([s, w], [n, e]);
  }
  const tl = L.tileLayer(tj.tiles[0], options);
  tl.tilejson = tj;
  // Tiles in flight count as pending requests, like api.js's (the browser tests wait for 0).
  let pending = false;
  const start = () => {
    if (!pending) {
      pending = true;
      window.__agriPending = (window.__agriPending || 0) + 1;
    }
  };
  const end = () => {
    if (pending) {
      pending = false;
      window.__agriPending -= 1;
    }
  };
  tl.on("loading", start);
  tl.on("load remove", end);
  return tl;
}

/** sceneLayer, added to `map`. */
export async function addSceneLayer(map, scene, layer, opts = {}) {
  const tl = await sceneLayer(scene, layer, opts);
  if (isLive(map)) tl.addTo(map);
  return tl;
}

/** Whether the map is still on the page (not removed while a request was in flight). */
export function isLive(map) {
  return !map.gone;
}

/**
 * A GeoJSON layer from an API path, drawn on the map's canvas.
 *
 * @param {L.Map} map where to draw.
 * @param {string} url an API path answering a FeatureCollection.
 * @param {object|Function} style Leaflet path style, or a function of the feature.
 * @param {{params?: object, tooltip?: Function}} opts query parameters; tooltip(feature) -> text.
 * @returns {Promise<{layer: L.GeoJSON, data: object}>}
 */
/**
 * A tooltip's content as text, never HTML: Leaflet writes a string tooltip with
 * innerHTML, and plot ids come from farmers' files.
 * @param {string} text what to show.
 * @returns {HTMLElement}
 */
export function textNode(text) {
  const span = document.createElement("span");
  span.textContent = String(text);
  return span;
}

export async function addGeoJSON(map, url, style, opts = {}) {
  const data = await api.get(url, opts.params);
  const layer = L.geoJSON(data, {
    style,
    onEachFeature(feature, lyr) {
      if (opts.tooltip) {
        const text = opts.tooltip(feature);
        if (text) lyr.bindTooltip(textNode(text), { sticky: true });
      }
    },
  });
  if (isLive(map)) layer.addTo(map);
  return { layer, data };
}

/** [w, s, e, n] of a FeatureCollection, or null when it has no coordinates. */
export function geojsonBounds(fc) {
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === "number") {
      w = Math.min(w, c[0]);
      e = Math.max(e, c[0]);
      s = Math.min(s, c[1]);
      n = Math.max(n, c[1]);
    } else {
      for (const x of c) visit(x);
    }
  };
  for (const f of fc?.features || []) {
    if (f.geometry?.coordinates) visit(f.geometry.coordinates);
  }
  return Number.isFinite(w) ? [w, s, e, n] : null;
}

/** Whether two [w, s, e, n] boxes meet. */
export function boxesMeet(a, b) {
  return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];
}

/** Fit the map to [w, s, e, n] (a little padding). */
export function fitBox(map, box) {
  if (!box) return;
  map.fittedBox = box;
  map.fitBounds(L.latLngBounds([box[1], box[0]], [box[3], box[2]]), { padding: [16, 16] });
}

/** Every registered scene (all pages of GET /api/v1/scenes). */
export async function listScenes() {
  const out = [];
  for (let offset = 0; ;) {
    const page = await api.get("/api/v1/scenes", { offset, limit: 200 });
    const items = Array.isArray(page) ? page : page.items || [];
    out.push(...items);
    offset += items.length;
    if (Array.isArray(page) || !items.length || offset >= (page.total ?? 0)) break;
  }
  return out;
}

/** The scenes whose bounds meet `box`, oldest first. */
export function scenesMeeting(scenes, box) {
  return scenes
    .filter((s) => Array.isArray(s.bounds) && (!box || boxesMeet(s.bounds, box)))
    .sort((a, b) => String(a.date).localeCompare(String(b.date)));
}

/**
 * Keep maps in step: moving or zooming one moves the others.
 *
 * @param {L.Map[]} maps two or more maps.
 */
export function syncMaps(...maps) {
  let busy = false;
  for (const m of maps) {
    m.on("move zoomend", () => {
      if (busy) return;
      busy = true;
      for (const other of maps) {
        if (other !== m) other.setView(m.getCenter(), m.getZoom(), { animate: false });
      }
      busy = false;
    });
  }
}

/**
 * A layer switch as plain labelled radio buttons (keyboard usable, unlike a hover menu).
 *
 * @param {string} legend the group's name.
 * @param {{value: string, label: string}[]} choices the layers.
 * @param {string} current the chosen one.
 * @param {(value: string) => void} onChange called with the new choice.
 * @returns {HTMLFieldSetElement}
 */
export function layerSwitch(legend, choices, current, onChange) {
  const fs = document.createElement("fieldset");
  fs.className = "layer-switch";
  const lg = document.createElement("legend");
  lg.textContent = legend;
  fs.append(lg);
  const name = `layer-${Math.random().toString(36).slice(2, 8)}`;
  for (const c of choices) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = c.value;
    input.checked = c.value === current;
    input.addEventListener("change", () => input.checked && onChange(c.value));
    label.append(input, " ", c.label);
    fs.append(label);
  }
  return fs;
}
