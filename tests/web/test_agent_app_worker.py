"""The app's service worker (edge/sw.js) run by Node against an in-memory Cache Storage.

The worker is loaded as a browser loads it (a classic script with ``self``,
``caches`` and ``fetch``); ``fetch`` answers from a table made here (or
fails, as offline). What is checked: the cache's name carries the runtime's
version from edge/package.json; only a navigation to /agent/ is kept as the
shell; a worker that could not keep every file does not take over at once.
The offline reload itself is checked in a real browser (test_agent_app.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.web.conftest import REPO

SW = REPO / "edge" / "sw.js"

HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const plan = JSON.parse(process.argv[1]);
const stores = new Map();
const log = { skipWaiting: 0, claimed: 0, fetched: [] };
function cacheOf(name) {
  if (!stores.has(name)) stores.set(name, new Map());
  const m = stores.get(name);
  const key = (r) => (typeof r === "string" ? new URL(r, plan.origin).href : r.url);
  return {
    put: async (r, res) => { m.set(key(r), res); },
    match: async (r) => m.get(key(r)),
  };
}
const caches = {
  open: async (name) => cacheOf(name),
  keys: async () => [...stores.keys()],
  delete: async (name) => stores.delete(name),
};
const response = (url, status) => ({ ok: status === 200, status, url,
  clone() { return this; }, json: async () => plan.manifest });
const fetch = async (req) => {
  const url = new URL(typeof req === "string" ? req : req.url, plan.origin);
  log.fetched.push(url.pathname);
  if (plan.offline) throw new TypeError("Failed to fetch");
  if ((plan.missing || []).includes(url.pathname)) return response(url.href, 404);
  return response(url.href, 200);
};
const listeners = {};
const self = {
  location: new URL(plan.origin + "/agent/sw.js"),
  addEventListener: (type, fn) => { listeners[type] = fn; },
  skipWaiting: async () => { log.skipWaiting += 1; },
  clients: { claim: async () => { log.claimed += 1; } },
};
vm.runInNewContext(fs.readFileSync(plan.sw, "utf8"),
  { self, caches, fetch, URL, console, Promise, Object, JSON });
async function run(type, event) {
  let waited = null;
  let answered = null;
  event.waitUntil = (p) => { waited = p; };
  event.respondWith = (p) => { answered = p; };
  listeners[type](event);
  if (waited) await waited;
  if (!answered) return null;
  try { return (await answered).url; } catch (e) { return "failed: " + e.message; }
}
(async () => {
  const out = { answers: [] };
  await run("install", {});
  out.afterInstall = { ...log, caches: [...stores.keys()] };
  for (const step of plan.steps || []) {
    if (step.offline !== undefined) plan.offline = step.offline;
    if (!step.url) continue;
    const request = { method: "GET", url: plan.origin + step.url, mode: step.mode || "cors" };
    out.answers.push(await run("fetch", { request }));
  }
  out.kept = Object.fromEntries([...stores].map(([n, m]) => [n, [...m.keys()]]));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""

ORIGIN = "http://phone.test"
MANIFEST = {"files": {"int8": {"path": "cowface.int8.onnx"}}}


def _worker(**plan: Any) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the app's npm packages need it (make setup)")
    plan = {"origin": ORIGIN, "sw": str(SW), "manifest": MANIFEST} | plan
    done = subprocess.run(
        [node, "-e", HARNESS, json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_cache_is_named_after_the_runtime_version() -> None:
    package = json.loads((REPO / "edge" / "package.json").read_text())
    version = package["dependencies"]["onnxruntime-web"]
    out = _worker()
    (name,) = out["afterInstall"]["caches"]
    assert name.endswith(f"-ort-{version}"), name


def test_a_worker_that_kept_every_file_takes_over_and_one_that_did_not_waits() -> None:
    complete = _worker()
    assert complete["afterInstall"]["skipWaiting"] == 1
    kept = next(iter(complete["kept"].values()))
    assert f"{ORIGIN}/agent/model/cowface.int8.onnx" in kept
    assert f"{ORIGIN}/agent/vendor/onnxruntime-web/ort.wasm.min.mjs" in kept
    missing = _worker(missing=["/agent/vendor/onnxruntime-web/ort.wasm.min.mjs"])
    assert missing["afterInstall"]["skipWaiting"] == 0
    offline = _worker(offline=True)
    assert offline["afterInstall"]["skipWaiting"] == 0


def test_only_a_navigation_to_agent_is_kept_as_the_shell() -> None:
    out = _worker(
        offline=True,  # nothing kept at install: the navigations below decide
        steps=[
            {"offline": False, "url": "/agent/src/app.js", "mode": "navigate"},
            {"offline": True, "url": "/agent/", "mode": "navigate"},
            {"offline": False, "url": "/agent/?from=home", "mode": "navigate"},
            {"offline": True, "url": "/agent/", "mode": "navigate"},
            {"url": "/agent/src/app.js", "mode": "navigate"},
        ],
    )
    first, offline_before, online, offline_after, elsewhere = out["answers"]
    assert first == f"{ORIGIN}/agent/src/app.js"  # from the network...
    # ...and not kept as the shell: offline, /agent/ has no copy yet.
    assert offline_before.startswith("failed")
    assert online == f"{ORIGIN}/agent/?from=home"
    assert offline_after == f"{ORIGIN}/agent/?from=home"  # the shell, kept online
    assert elsewhere.startswith("failed")  # never kept, so nothing offline
