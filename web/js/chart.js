// A thin wrapper over Chart.js (npm, served from /vendor): line charts on a canvas,
// with the same numbers in a table beside them for screen readers and keyboards.
//
// Chart.js's ESM build imports a bare specifier (@kurkle/color) that a browser cannot
// resolve without an import map, so the UMD bundle is loaded once; it sets
// globalThis.Chart.

let loading = null;

/** Chart.js, loaded once from /vendor. */
export async function loadChart() {
  if (globalThis.Chart) return globalThis.Chart;
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = "/vendor/chart.js/dist/chart.umd.js";
      s.onload = () => resolve(globalThis.Chart);
      s.onerror = () => {
        loading = null;
        reject(new Error("chart.js could not be loaded"));
      };
      document.head.append(s);
    });
  }
  return loading;
}

// Colours that differ in lightness as well as hue; each series also has its own dash.
const PALETTE = ["#1b5e20", "#6a1b9a", "#e65100", "#0d47a1", "#4e342e", "#37474f"];
const DASHES = [[], [6, 3], [2, 3], [8, 3, 2, 3], [1, 2], [10, 4]];

/**
 * A line chart over a numeric x axis.
 *
 * @param {HTMLCanvasElement} canvas where to draw; give it an aria-label.
 * @param {{label: string, points: {x: number, y: number|null}[]}[]} series the lines.
 * @param {{xLabel?: string, yLabel?: string, yMin?: number, yMax?: number,
 *          marker?: {x: number, label: string}, xTick?: (x: number) => string,
 *          lang?: string}} opts axis titles, range, a vertical marker (the loss date).
 * @returns {Promise<object>} the Chart instance (call .destroy() when done).
 */
export async function lineChart(canvas, series, opts = {}) {
  const Chart = await loadChart();
  const datasets = series.map((s, i) => ({
    label: s.label,
    data: s.points,
    borderColor: PALETTE[i % PALETTE.length],
    backgroundColor: PALETTE[i % PALETTE.length],
    borderDash: DASHES[i % DASHES.length],
    borderWidth: i === 0 ? 3 : 2,
    pointRadius: i === 0 ? 3 : 2,
    spanGaps: true,
    parsing: false,
  }));
  const marker = opts.marker;
  const markerPlugin = {
    id: "lossMarker",
    afterDatasetsDraw(chart) {
      if (!marker) return;
      const { ctx, chartArea, scales } = chart;
      const x = scales.x.getPixelForValue(marker.x);
      if (!(x >= chartArea.left && x <= chartArea.right)) return;
      ctx.save();
      ctx.strokeStyle = "#b71c1c";
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#b71c1c";
      ctx.font = "12px sans-serif";
      ctx.fillText(marker.label, Math.min(x + 4, chartArea.right - 60), chartArea.top + 12);
      ctx.restore();
    },
  };
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    plugins: [markerPlugin],
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      locale: opts.lang === "zh" ? "zh-CN" : "en",
      interaction: { mode: "nearest", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: {
          type: "linear",
          title: { display: Boolean(opts.xLabel), text: opts.xLabel },
          ticks: opts.xTick ? { callback: (v) => opts.xTick(v) } : {},
        },
        y: {
          min: opts.yMin,
          max: opts.yMax,
          title: { display: Boolean(opts.yLabel), text: opts.yLabel },
        },
      },
    },
  });
}
