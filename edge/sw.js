// The field agent's app's service worker (scope /agent/): the app works offline.
//
// At install it keeps copies of the app shell, its modules, the pages' shared modules and
// style sheet, the on-device model (the files its manifest names) and the onnxruntime-web
// runtime. Afterwards every GET of these is served network first (the server answers
// no-cache files with 304 when unchanged), falling back to the copy when offline; the
// runtime is served from the copy first: its URLs carry no version, so the cache's name
// does (RUNTIME_VERSION, the exact onnxruntime-web version of edge/package.json): a new
// runtime is a new worker with a new cache, and the old cache is deleted when it takes
// over. Only a navigation to /agent/ itself is kept as the app shell. The new worker takes
// over at once only when it kept every file; otherwise it waits for the app's tabs to
// close, and the worker before it keeps serving its complete copy. The API (/api/) is never
// cached: captures wait in IndexedDB instead (see src/queue.js).

const RUNTIME_VERSION = "1.30.0"; // onnxruntime-web in edge/package.json (a test checks)
const CACHE = `agri-agent-v2-ort-${RUNTIME_VERSION}`;
const SHELL_URL = "/agent/";
const SHELL = [
  "/agent/",
  "/agent/manifest.webmanifest",
  "/agent/src/app.js",
  "/agent/src/capture.js",
  "/agent/src/db.js",
  "/agent/src/device.js",
  "/agent/src/match.js",
  "/agent/src/queue.js",
  "/agent/src/strings.js",
  "/agent/src/agent.css",
  "/agent/src/icon.svg",
  "/agent/src/faceid.js",
  "/agent/src/preprocess.js",
  "/css/app.css",
  "/js/api.js",
  "/js/i18n.js",
  "/js/login.js",
  "/js/ui.js",
];
const RUNTIME = "/agent/vendor/onnxruntime-web/";
const RUNTIME_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
const MODEL_MANIFEST = "/agent/model/cowface.json";

async function keep(cache, url) {
  try {
    const response = await fetch(url, { cache: "no-cache" });
    if (response.ok) await cache.put(url, response);
    return response.ok;
  } catch {
    return false; // kept at its first use instead
  }
}

async function modelFiles() {
  try {
    const response = await fetch(MODEL_MANIFEST, { cache: "no-cache" });
    if (!response.ok) return [];
    const manifest = await response.json();
    return Object.values(manifest.files || {})
      .filter((f) => f && f.path && /int8/.test(f.path))
      .map((f) => `/agent/model/${f.path}`);
  } catch {
    return [];
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const urls = [...SHELL, MODEL_MANIFEST, ...RUNTIME_FILES.map((f) => RUNTIME + f), ...(await modelFiles())];
      const kept = await Promise.all(urls.map((url) => keep(cache, url)));
      // Incomplete: do not take over from a worker whose copy is complete.
      if (kept.every(Boolean)) await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

function cacheable(url) {
  return (
    url.origin === self.location.origin &&
    (url.pathname.startsWith("/agent/") || url.pathname.startsWith("/js/") || url.pathname.startsWith("/css/"))
  );
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.status === 200) await cache.put(key, response.clone());
    return response;
  } catch (err) {
    const copy = await cache.match(key);
    if (copy) return copy;
    throw err;
  }
}

async function networkElseCopy(request, key) {
  try {
    return await fetch(request); // not kept: only /agent/ is the shell
  } catch (err) {
    const copy = await (await caches.open(CACHE)).match(key);
    if (copy) return copy;
    throw err;
  }
}

async function cacheFirst(request, key) {
  const cache = await caches.open(CACHE);
  const copy = await cache.match(key);
  if (copy) return copy;
  const response = await fetch(request);
  if (response.status === 200) await cache.put(key, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!cacheable(url)) return; // the API and everything else: straight to the network
  const key = url.origin + url.pathname; // the app's files take no query
  if (request.mode === "navigate") {
    event.respondWith(
      url.pathname === SHELL_URL ? networkFirst(request, url.origin + SHELL_URL) : networkElseCopy(request, key),
    );
  } else if (url.pathname.startsWith(RUNTIME)) {
    event.respondWith(cacheFirst(request, key));
  } else {
    event.respondWith(networkFirst(request, key));
  }
});
