// The underwriter's pages: the queue of applications, and one application with its
// plots on the imagery, declared against measured areas, overlaps with insured plots,
// the animals' enrolment photos, every check's reason, and the decision.
//
// Routes: #/underwriter (the queue; ?status=submitted filters it) and
// #/underwriter/application/<id>.

import { api } from '../api.js';
import { fmtArea, fmtDate, fmtDateTime, fmtNumber, registerStrings, t } from '../i18n.js';
import {
  L,
  addGeoJSON,
  isLive,
  addSceneLayer,
  fitBox,
  geojsonBounds,
  layerSwitch,
  linkStaffStyles,
  listScenes,
  makeMap,
  scenesMeeting,
  textNode,
} from '../map.js';
import { badge, field, h, newId, pagedTable, replace, toast } from '../ui.js';

registerStrings({
  en: {
    'uw.queue': 'Applications',
    'uw.queue_caption': 'Applications, newest first',
    'uw.filter_status': 'Status',
    'uw.status.all': 'All',
    'uw.status.submitted': 'Submitted',
    'uw.status.referred': 'Referred',
    'uw.status.approved': 'Approved',
    'uw.status.declined': 'Declined',
    'uw.col.id': 'Application',
    'uw.col.farmer': 'Farmer',
    'uw.col.product': 'Product',
    'uw.col.kind': 'Kind',
    'uw.col.items': 'Plots / animals',
    'uw.col.light': 'Light',
    'uw.col.status': 'Status',
    'uw.col.recommendation': 'Recommendation',
    'uw.kind.crop': 'Crop',
    'uw.kind.livestock': 'Livestock',
    'uw.items': '{plots} plots, {animals} animals',
    'uw.rec.approve': 'Approve',
    'uw.rec.refer': 'Refer',
    'uw.rec.decline': 'Decline',
    'uw.back': 'Back to the applications',
    'uw.title': 'Application {id}',
    'uw.period': 'Period',
    'uw.decided_by': 'Decided by',
    'uw.reason': 'Reason',
    'uw.policy': 'Policy',
    'uw.checks': 'Checks',
    'uw.map': 'Plots on the imagery',
    'uw.map_label': 'Map of the application’s plots over the satellite image',
    'uw.layer': 'Imagery',
    'uw.layer.truecolor': 'True colour',
    'uw.layer.ndvi': 'NDVI',
    'uw.layer.none': 'None',
    'uw.no_scene': 'No satellite scene covers these plots: the plots are drawn on a blank map.',
    'uw.scene': 'Scene {name} of {date}',
    'uw.legend.plot': 'Plot of this application',
    'uw.legend.insured': 'Insured plot (policy in force)',
    'uw.legend.overlap': 'Overlap',
    'uw.insured_count': '{n} insured plots in view',
    'uw.plots': 'Declared and measured area per plot',
    'uw.plots_caption': 'Plots: the farmer’s declared area beside the area measured on the map',
    'uw.col.plot': 'Plot',
    'uw.col.declared': 'Declared',
    'uw.col.measured': 'Measured',
    'uw.col.diff': 'Difference',
    'uw.col.verdict': 'Verdict',
    'uw.col.overlaps': 'Overlaps',
    'uw.none': '—',
    'uw.overlap_item': '{plot} of policy {policy} ({farmer}): {area}, {share} % of this plot',
    'uw.animals': 'Animals and their enrolment photos',
    'uw.animal': 'Animal {tag}',
    'uw.no_photos': 'No enrolment photos are kept for this animal.',
    'uw.duplicate': 'Duplicate warning',
    'uw.decision': 'Decision',
    'uw.decide.approve': 'Approve (issue the policy)',
    'uw.decide.refer': 'Refer',
    'uw.decide.decline': 'Decline',
    'uw.decision_reason': 'Reason',
    'uw.decision_hint': 'Needed to refer or decline, and to approve against the recommendation.',
    'uw.submit': 'Record the decision',
    'uw.decided': 'The application is {status}.',
    'uw.decided_already': 'This application was decided: {status}.',
    'uw.not_found': 'No such application.',
  },
  zh: {
    'uw.queue': '投保申请',
    'uw.queue_caption': '投保申请（最新在前）',
    'uw.filter_status': '状态',
    'uw.status.all': '全部',
    'uw.status.submitted': '已提交',
    'uw.status.referred': '已转交复核',
    'uw.status.approved': '已批准',
    'uw.status.declined': '已拒绝',
    'uw.col.id': '申请',
    'uw.col.farmer': '农户',
    'uw.col.product': '产品',
    'uw.col.kind': '类别',
    'uw.col.items': '地块 / 牲畜',
    'uw.col.light': '信号灯',
    'uw.col.status': '状态',
    'uw.col.recommendation': '建议',
    'uw.kind.crop': '种植业',
    'uw.kind.livestock': '养殖业',
    'uw.items': '{plots} 个地块，{animals} 头牲畜',
    'uw.rec.approve': '批准',
    'uw.rec.refer': '转交复核',
    'uw.rec.decline': '拒绝',
    'uw.back': '返回投保申请列表',
    'uw.title': '投保申请 {id}',
    'uw.period': '保险期间',
    'uw.decided_by': '决定人',
    'uw.reason': '理由',
    'uw.policy': '保单',
    'uw.checks': '核查结果',
    'uw.map': '影像上的地块',
    'uw.map_label': '卫星影像上本申请地块的地图',
    'uw.layer': '影像',
    'uw.layer.truecolor': '真彩色',
    'uw.layer.ndvi': 'NDVI 植被指数',
    'uw.layer.none': '不显示',
    'uw.no_scene': '没有覆盖这些地块的卫星影像：地块画在空白地图上。',
    'uw.scene': '影像 {name}（{date}）',
    'uw.legend.plot': '本申请的地块',
    'uw.legend.insured': '已承保地块（保单有效）',
    'uw.legend.overlap': '重叠',
    'uw.insured_count': '视图中有 {n} 个已承保地块',
    'uw.plots': '各地块申报面积与测量面积',
    'uw.plots_caption': '地块：农户申报面积与地图测量面积对照',
    'uw.col.plot': '地块',
    'uw.col.declared': '申报',
    'uw.col.measured': '测量',
    'uw.col.diff': '差异',
    'uw.col.verdict': '结论',
    'uw.col.overlaps': '重叠',
    'uw.none': '—',
    'uw.overlap_item': '保单 {policy}（{farmer}）的地块 {plot}：{area}，占本地块 {share}%',
    'uw.animals': '牲畜及其建档照片',
    'uw.animal': '牲畜 {tag}',
    'uw.no_photos': '此牲畜没有保存建档照片。',
    'uw.duplicate': '重复警告',
    'uw.decision': '核保决定',
    'uw.decide.approve': '批准（出具保单）',
    'uw.decide.refer': '转交复核',
    'uw.decide.decline': '拒绝',
    'uw.decision_reason': '理由',
    'uw.decision_hint': '转交复核、拒绝，以及不按建议批准时必须填写。',
    'uw.submit': '记录决定',
    'uw.decided': '投保申请已{status}。',
    'uw.decided_already': '此申请已有决定：{status}。',
    'uw.not_found': '没有这个投保申请。',
  },
});

const STATUSES = ['submitted', 'referred', 'approved', 'declined'];
const PLOT_STYLE = { color: '#ffd600', weight: 3, fillOpacity: 0.08 };
const OVERLAP_STYLE = { color: '#d50000', weight: 4, fillColor: '#d50000', fillOpacity: 0.35, dashArray: '6 4' };
const INSURED_STYLE = { color: '#1565c0', weight: 2, fillOpacity: 0.05 };

const cleanup = [];

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

/** Remove the maps and listeners of the page on screen (the shell calls it before the next). */
export function destroy() {
  runCleanup(cleanup);
}

/** Render the queue or one application into `root` (route: the shell's {name, parts, query, user}). */
export async function render(root, route) {
  linkStaffStyles();
  root.classList.add('staff');
  const parts = route?.parts || [];
  if (parts[0] === 'application' && parts[1]) {
    await renderApplication(root, parts[1], route);
  } else {
    await renderQueue(root, route);
  }
}

function statusText(status) {
  return t(`uw.status.${status}`) === `uw.status.${status}` ? status : t(`uw.status.${status}`);
}

async function renderQueue(root, route) {
  const wanted = route?.query?.get?.('status') || '';
  const select = h(
    'select',
    { name: 'status' },
    h('option', { value: '' }, t('uw.status.all')),
    STATUSES.map((s) => h('option', { value: s, selected: s === wanted }, statusText(s))),
  );
  select.value = wanted;
  const columns = [
    {
      label: t('uw.col.id'),
      render: (a) => h('a', { href: `#/underwriter/application/${encodeURIComponent(a.id)}` }, shortId(a.id)),
    },
    { label: t('uw.col.farmer'), render: (a) => a.farmer_id },
    { label: t('uw.col.product'), render: (a) => a.product_code },
    { label: t('uw.col.kind'), render: (a) => t(`uw.kind.${a.kind}`) },
    {
      label: t('uw.col.items'),
      render: (a) => t('uw.items', { plots: (a.plots || []).length, animals: (a.animals || []).length }),
    },
    { label: t('uw.col.light'), render: (a) => lightBadge(a.light) },
    { label: t('uw.col.recommendation'), render: (a) => t(`uw.rec.${a.recommendation}`) },
    { label: t('uw.col.status'), render: (a) => statusText(a.status) },
  ];
  const holder = h('div');
  const load = () =>
    replace(
      holder,
      pagedTable(
        columns,
        (offset, limit) => api.get('/api/v1/applications', { status: select.value || null, offset, limit }),
        { caption: t('uw.queue_caption') },
      ),
    );
  select.addEventListener('change', () => {
    const q = select.value ? `?status=${select.value}` : '';
    history.replaceState(null, '', `#/underwriter${q}`);
    load();
  });
  replace(
    root,
    h('h1', {}, t('uw.queue')),
    h('div', { class: 'filters' }, field(t('uw.filter_status'), select)),
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
      h('p', {}, h('a', { href: '#/underwriter' }, t('uw.back'))),
      h('p', { class: 'error', role: 'alert' }, err.status === 404 ? t('uw.not_found') : err.message),
    );
    return;
  }
  const open = app.status === 'submitted' || app.status === 'referred';
  replace(
    root,
    h('p', {}, h('a', { href: '#/underwriter' }, t('uw.back'))),
    h('h1', {}, t('uw.title', { id: shortId(app.id) })),
    summary([
      [t('uw.col.farmer'), app.farmer_id],
      [t('uw.col.product'), `${app.product_code} (${t(`uw.kind.${app.kind}`)})`],
      [t('uw.period'), `${fmtDate(app.start_date)} – ${fmtDate(app.end_date)}`],
      [t('uw.col.light'), lightBadge(app.light)],
      [t('uw.col.recommendation'), t(`uw.rec.${app.recommendation}`)],
      [t('uw.col.status'), statusText(app.status)],
      app.decided_by ? [t('uw.decided_by'), app.decided_by] : null,
      app.reason ? [t('uw.reason'), app.reason] : null,
      app.policy_id ? [t('uw.policy'), shortId(app.policy_id)] : null,
    ]),
    h('h2', {}, t('uw.checks')),
    checkList(app.checks),
  );
  if (app.kind === 'crop' || (app.plots || []).length) {
    await renderPlots(root, app);
  }
  if ((app.animals || []).length) {
    await renderAnimals(root, app);
  }
  add(root, h('h2', { id: 'decision-title' }, t('uw.decision')));
  if (open && route?.user?.role === 'underwriter') {
    add(root, 
      decisionForm({
        labelledBy: 'decision-title',
        legend: t('uw.decision'),
        choices: ['approve', 'refer', 'decline'].map((d) => ({ value: d, label: t(`uw.decide.${d}`) })),
        initial: app.recommendation,
        reasonLabel: t('uw.decision_reason'),
        reasonHint: t('uw.decision_hint'),
        submitLabel: t('uw.submit'),
        async submit({ decision, reason }) {
          const done = await api.post(`/api/v1/applications/${encodeURIComponent(app.id)}/decision`, {
            decision,
            reason: reason || null,
          });
          toast(t('uw.decided', { status: statusText(done.status) }), 'ok');
          destroy();
          await renderApplication(root, app.id, route);
        },
      }),
    );
  } else {
    add(root, h('p', { role: 'status' }, t('uw.decided_already', { status: statusText(app.status) })));
  }
}

/** The insured plots a plot of this application overlaps ({plot_id, policy_id, farmer_id, area_m2, share, geometry}). */
function overlapsOf(props) {
  return Array.isArray(props.overlaps) ? props.overlaps : [];
}

/** Whether a scene has the bands a layer reads (truecolor: red, green, blue; ndvi: red, nir). */
export function sceneHas(scene, layer) {
  const roles = layer === 'truecolor' ? ['red', 'green', 'blue'] : ['red', 'nir'];
  const bands = scene?.bands;
  if (!bands) return true; // unknown: let the server say
  const have = Array.isArray(bands) ? bands : Object.keys(bands);
  return roles.every((r) => have.includes(r));
}

/**
 * A radio switch between a scene's layers (those it lacks bands for are left out) that
 * swaps the layer on `map`. Resolves once the first layer is on.
 */
export async function imageryControl(map, scene, legend, { layers = ['truecolor', 'ndvi'], zIndex = 1, onLayer } = {}) {
  const usable = layers.filter((l) => sceneHas(scene, l));
  let current = null;
  const show = async (layer) => {
    if (!isLive(map)) return;
    if (current) map.removeLayer(current);
    current = null;
    if (layer !== 'none') current = await addSceneLayer(map, scene.name, layer, { zIndex });
    onLayer?.(current, layer);
  };
  const control = layerSwitch(
    legend,
    [...usable, 'none'].map((v) => ({ value: v, label: t(`uw.layer.${v}`) })),
    usable[0] || 'none',
    (v) => show(v).catch((err) => toast(refusalText(err), 'error')),
  );
  await show(usable[0] || 'none');
  return control;
}

async function renderPlots(root, app) {
  const mapEl = h('div', { class: 'map', tabindex: '0' });
  const tools = h('div', { class: 'map-tools' });
  const note = h('p', { class: 'note', 'aria-live': 'polite' });
  const insuredNote = h('p', { class: 'note', 'aria-live': 'polite' });
  const tableHolder = h('div', { class: 'table-wrap' });
  add(root, 
    h('h2', {}, t('uw.map')),
    tools,
    h(
      'p',
      { class: 'legend' },
      h('span', { class: 'plot' }, t('uw.legend.plot')),
      h('span', { class: 'insured' }, t('uw.legend.insured')),
      h('span', { class: 'overlap' }, t('uw.legend.overlap')),
    ),
    mapEl,
    note,
    insuredNote,
    h('h2', {}, t('uw.plots')),
    tableHolder,
  );
  const map = makeMap(mapEl, { label: t('uw.map_label') });
  cleanup.push(() => map.remove());

  const base = `/api/v1/applications/${encodeURIComponent(app.id)}/plots.geojson`;
  const { layer: plotsLayer, data } = await addGeoJSON(
    map,
    base,
    (f) => (overlapsOf(f.properties || {}).length ? { ...PLOT_STYLE, color: '#ff6d00' } : PLOT_STYLE),
    { tooltip: (f) => plotId(f) },
  );
  const features = data.features || [];
  if (!isLive(map)) return;
  // Each overlap's own geometry, hatched red over both plots.
  const overlapLayer = L.geoJSON(
    {
      type: 'FeatureCollection',
      features: features.flatMap((f) =>
        overlapsOf(f.properties || {}).map((o) => ({
          type: 'Feature',
          geometry: o.geometry,
          properties: { plot_id: `${plotId(f)} ∩ ${o.plot_id}` },
        })),
      ),
    },
    { style: OVERLAP_STYLE, onEachFeature: (f, lyr) => lyr.bindTooltip(textNode(f.properties.plot_id), { sticky: true }) },
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
    note.textContent = t('uw.scene', { name: scene.name, date: fmtDate(scene.date) });
    tools.append(await imageryControl(map, scene, t('uw.layer')));
  } else {
    note.textContent = t('uw.no_scene');
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
      .join(',');
    let fc;
    try {
      fc = await api.get('/api/v1/plots.geojson', { bbox, on: app.start_date, limit: 200 });
    } catch (err) {
      insuredNote.textContent = refusalText(err);
      return;
    }
    if (mine !== seq || !isLive(map)) return;
    if (insured) map.removeLayer(insured);
    const others = (fc.features || []).filter((f) => f.properties?.application_id !== app.id);
    insured = L.geoJSON(
      { type: 'FeatureCollection', features: others },
      {
        style: (f) => (overlapped.has(`${f.properties?.policy_id}/${plotId(f)}`) ? OVERLAP_STYLE : INSURED_STYLE),
        onEachFeature: (f, lyr) => lyr.bindTooltip(textNode(plotId(f)), { sticky: true }),
      },
    ).addTo(map);
    plotsLayer.bringToFront();
    overlapLayer.bringToFront();
    insuredNote.textContent = t('uw.insured_count', { n: fmtNumber(others.length, 0) });
  };
  let timer = null;
  map.on('moveend', () => {
    clearTimeout(timer);
    timer = setTimeout(loadInsured, 250);
  });
  cleanup.push(() => clearTimeout(timer));
  if (isLive(map)) await loadInsured();
}

function plotTable(features) {
  const num = (v) => (v === null || v === undefined ? null : Number(v));
  const head = [
    [t('uw.col.plot'), null],
    [t('uw.col.declared'), 'num'],
    [t('uw.col.measured'), 'num'],
    [t('uw.col.diff'), 'num'],
    [t('uw.col.verdict'), null],
    [t('uw.col.overlaps'), null],
  ];
  return h(
    'table',
    { class: 'data' },
    h('caption', {}, t('uw.plots_caption')),
    h('thead', {}, h('tr', {}, head.map(([x, cls]) => h('th', { scope: 'col', class: cls }, x)))),
    h(
      'tbody',
      {},
      features.map((f) => {
        const p = f.properties || {};
        const declared = num(p.declared_m2);
        const measured = num(p.area_m2);
        const overlaps = overlapsOf(p);
        const diff =
          declared && measured
            ? `${declared >= measured ? '+' : ''}${fmtNumber(((declared - measured) / measured) * 100, 1)} %`
            : t('uw.none');
        const checks = p.checks || [];
        return h(
          'tr',
          { class: overlaps.length ? 'overlap' : null },
          h('th', { scope: 'row' }, plotId(f)),
          h('td', { class: 'num' }, declared === null ? t('uw.none') : fmtArea(declared)),
          h('td', { class: 'num' }, measured === null ? t('uw.none') : fmtArea(measured)),
          h('td', { class: 'num' }, diff),
          h(
            'td',
            {},
            checks.length
              ? checks.map((c) => h('div', {}, lightBadge(c.light), ' ', c.reason))
              : p.light
                ? lightBadge(p.light)
                : t('uw.none'),
          ),
          h(
            'td',
            {},
            overlaps.length
              ? overlaps.map((o) =>
                  h(
                    'div',
                    {},
                    t('uw.overlap_item', {
                      plot: o.plot_id,
                      policy: shortId(o.policy_id),
                      farmer: o.farmer_id,
                      area: fmtArea(o.area_m2),
                      share: fmtNumber((o.share ?? 0) * 100, 1),
                    }),
                  ),
                )
              : t('uw.none'),
          ),
        );
      }),
    ),
  );
}

async function renderAnimals(root, app) {
  const section = h('section', { 'aria-labelledby': 'animals-title' }, h('h2', { id: 'animals-title' }, t('uw.animals')));
  add(root, section);
  const warnings = (app.checks || []).filter((c) => c.light !== 'green' && /duplicate|double|reuse/.test(c.code));
  const lists = await Promise.all(
    app.animals.map((tag) =>
      api.get(`/api/v1/animals/${encodeURIComponent(tag)}/photos`).catch(() => []),
    ),
  );
  app.animals.forEach((tag, i) => {
    const photos = Array.isArray(lists[i]) ? lists[i] : lists[i]?.items || [];
    const mine = warnings.filter((c) => c.reason.includes(tag));
    add(section, 
      h('h3', {}, t('uw.animal', { tag })),
      mine.map((c) => h('p', { class: 'warning', role: 'note' }, h('strong', {}, `${t('uw.duplicate')}: `), c.reason)),
      photos.length ? photoStrip(photos, tag) : h('p', { class: 'note' }, t('uw.no_photos')),
    );
  });
}

// --- Staff helpers, shared with the adjuster's page (js/pages/adjuster.js) ---------------

registerStrings({
  en: {
    'staff.check': 'Check',
    'staff.no_checks': 'No checks have run.',
    'staff.photo': 'Photo {name}',
    'staff.photo_taken': 'taken {when}',
    'staff.photo_open': 'Open photo {name} at full size',
    'staff.photo_missing': 'Photo not available',
    'staff.forbidden': 'Not allowed: {detail}',
    'staff.conflict': 'Already changed by someone else: {detail}',
    'staff.choose': 'Choose one.',
    'staff.saving': 'Saving…',
  },
  zh: {
    'staff.check': '核查',
    'staff.no_checks': '尚未进行核查。',
    'staff.photo': '照片 {name}',
    'staff.photo_taken': '拍摄于 {when}',
    'staff.photo_open': '查看照片 {name} 原图',
    'staff.photo_missing': '照片不可用',
    'staff.forbidden': '不允许：{detail}',
    'staff.conflict': '已被他人更改：{detail}',
    'staff.choose': '请选择一项。',
    'staff.saving': '正在保存…',
  },
});

/** Append children to `parent`, as h() does: arrays flattened, null/false/undefined skipped. */
export function add(parent, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) parent.append(c);
  }
  return parent;
}

/** The first eight characters of a UUID, enough to tell records apart on screen. */
export function shortId(id) {
  return String(id || '').slice(0, 8);
}

/** A traffic light badge (shape and word); `text`, when given, follows the word. */
export function lightBadge(light, text) {
  const known = ['green', 'amber', 'red'].includes(light) ? light : 'none';
  const b = badge(known);
  if (text) b.append(`: ${text}`);
  return b;
}

/** A plot's name on screen: the farmer's id for it, else the record's. */
export function plotId(feature) {
  const p = feature?.properties || {};
  return String(p.plot_ref ?? p.plot_id ?? p.id ?? feature?.id ?? '');
}

/** A description list of [term, value] pairs (null pairs are skipped). */
export function summary(pairs) {
  return h(
    'dl',
    { class: 'summary' },
    pairs.filter(Boolean).map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))),
  );
}

/** Every check as a list item: its light (shape and word), its code and its reason. */
export function checkList(checks) {
  if (!checks?.length) return h('p', { class: 'note' }, t('staff.no_checks'));
  return h(
    'ul',
    { class: 'checks' },
    checks.map((c) =>
      h(
        'li',
        {},
        lightBadge(c.light),
        h('span', { class: 'check-name' }, checkName(c.code), ' ', h('code', {}, c.code)),
        h('span', {}, c.reason),
      ),
    ),
  );
}

const CHECK_NAMES = {
  en: {
    plot_geometry: 'Plot geometry', plot_area: 'Plot area', double_insurance: 'Double insurance',
    plot_overlap: 'Plots overlap', animal: 'Animal', whole_herd: 'Whole herd', notice: 'Notice',
    cover: 'Cover', waiting_period: 'Waiting period', covered: 'Covered', duplicate_claim: 'Duplicate claim',
    claimed_area: 'Claimed area', identity: 'Identity', photo_reuse: 'Photo reuse',
    photo_location: 'Photo location', capture_time: 'Capture time', measured_damage: 'Measured damage',
    evidence: 'Evidence', capture_signature: 'Capture signature',
  },
  zh: {
    plot_geometry: '地块几何', plot_area: '地块面积', double_insurance: '重复投保',
    plot_overlap: '地块重叠', animal: '牲畜', whole_herd: '全群投保', notice: '报案时效',
    cover: '保险期间', waiting_period: '等待期', covered: '承保标的', duplicate_claim: '重复理赔',
    claimed_area: '报损面积', identity: '身份核验', photo_reuse: '照片重复使用',
    photo_location: '拍摄地点', capture_time: '拍摄时间', measured_damage: '遥感测定损失',
    evidence: '证据', capture_signature: '拍摄签名',
  },
};
registerStrings(
  Object.fromEntries(
    Object.entries(CHECK_NAMES).map(([lang, names]) => [
      lang,
      Object.fromEntries(Object.entries(names).map(([code, name]) => [`check.${code}`, name])),
    ]),
  ),
);

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
    'ul',
    { class: 'photos' },
    photos.map((p) => {
      const name = p.name || shortId(p.sha256);
      const img = h('img', {
        alt: `${t('staff.photo', { name })} (${who})`,
        width: 128,
        height: 128,
      });
      authorisedImage(p.thumb_url || p.url)
        .then((u) => {
          img.src = u;
        })
        .catch(() => img.replaceWith(h('span', { class: 'note' }, t('staff.photo_missing'))));
      const open = h(
        'button',
        {
          type: 'button',
          class: 'photo-open',
          'aria-label': t('staff.photo_open', { name }),
          onclick: async () => {
            const w = window.open('', '_blank');
            try {
              const u = await authorisedImage(p.url);
              if (w) w.location.href = u;
            } catch (err) {
              w?.close();
              toast(err.message, 'error');
            }
          },
        },
        img,
      );
      return h(
        'li',
        {},
        h(
          'figure',
          {},
          open,
          h(
            'figcaption',
            {},
            name,
            p.captured_at ? h('br') : null,
            p.captured_at ? t('staff.photo_taken', { when: fmtDateTime(p.captured_at) }) : null,
          ),
        ),
      );
    }),
  );
}

/** An API refusal in words: 403 and 409 say so; the API's own detail follows. */
export function refusalText(err) {
  const detail = err.detail || err.message || String(err);
  if (err.status === 403) return t('staff.forbidden', { detail });
  if (err.status === 409) return t('staff.conflict', { detail });
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
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
}

/** Empty every error slot of a form and clear aria-invalid. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** An error slot for `name`, read out when it changes. */
export function errorSlot(name, id) {
  return h('p', { class: 'field-error', id, 'data-error-for': name, 'aria-live': 'polite' });
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
  const reasonId = newId('reason');
  const hintId = `${reasonId}-hint`;
  const errId = `${reasonId}-error`;
  const groupErr = newId('decision-error');
  const reason = h('textarea', {
    id: reasonId,
    name: 'reason',
    rows: 3,
    maxlength: 2000,
    'aria-describedby': `${hintId} ${errId}`,
  });
  const button = h('button', { type: 'submit', class: 'primary' }, o.submitLabel);
  // Grounds: the failed checks a decision rests on, worded for each reader in their
  // language (a farmer reads them on their own page); the typed reason is a note.
  const groundsErr = newId('grounds-error');
  const grounds = (o.grounds || []).length
    ? h(
        'fieldset',
        { class: 'grounds', 'aria-describedby': groundsErr },
        h('legend', {}, o.groundsLegend),
        o.grounds.map((g) =>
          h('label', {}, h('input', { type: 'checkbox', name: 'grounds', value: g.code }), ' ', g.label),
        ),
        errorSlot('grounds', groundsErr),
      )
    : null;
  const radios = o.choices.map((c) =>
    h(
      'label',
      {},
      h('input', { type: 'radio', name: 'decision', value: c.value, checked: c.value === o.initial }),
      ' ',
      c.label,
    ),
  );
  const form = h(
    'form',
    { class: 'decision', novalidate: true, 'aria-labelledby': o.labelledBy },
    h(
      'fieldset',
      { 'aria-describedby': groupErr },
      h('legend', {}, o.legend || o.submitLabel),
      radios,
      errorSlot('decision', groupErr),
    ),
    grounds,
    h(
      'div',
      {},
      h('label', { for: reasonId }, o.reasonLabel),
      h('p', { class: 'note', id: hintId }, o.reasonHint),
      reason,
      errorSlot('reason', errId),
    ),
    h('div', {}, button, errorSlot('_form', newId('form-error'))),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const chosen = form.querySelector('input[name="decision"]:checked');
    if (!chosen) {
      showApiError(form, { field: 'decision', detail: t('staff.choose') });
      return;
    }
    button.disabled = true;
    button.textContent = t('staff.saving');
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
