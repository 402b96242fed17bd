// The upload queue: captures kept in IndexedDB until the server has answered them.
//
// A capture (store "captures", key = its Idempotency-Key, a UUID made at capture time):
//   {id, kind: "enrol" | "evidence", created_at, agent, device_id,
//    tag, farmer_id (enrol) | claim_id, claimed_tag (evidence),
//    template (the session template made on the phone: 128 numbers, or null),
//    photos: [{name, blob, signed, signature}],
//    local: {light, code, tag, score}     (the on-device verdict at capture time)
//    status: "pending" | "sending" | "done" | "conflict" | "refused",
//    result (the server's answer), error (its reason), attempts, updated_at}
// A photo's time and place are kept in one place only: its signed message (made and signed
// at capture time, see device.js), sent as it is. A photo, time or place altered after
// signing no longer agrees with its signature or its hash, and the server says red.
//
// sync() sends the pending captures one by one with their Idempotency-Key. A dropped
// connection or a server error leaves a capture pending (the retry gets the first answer:
// never a second animal or second evidence); a refusal (4xx) is kept with the server's reason;
// a duplicate or needs_review enrolment is a conflict, shown with the animal it matches.

import { api, ApiError } from "/js/api.js";
import * as db from "./db.js";
import { sha256Hex, sign, signedMessage } from "./device.js";

/**
 * Record a capture: sign each photo (photos: [{blob, meta: {source, captured_at, lat, lon,
 * accuracy_m}}]), store it all, return the stored capture.
 */
export async function addCapture({ kind, device, agent, photos, fields, local }) {
  const id = crypto.randomUUID();
  const signed = [];
  for (const [i, p] of photos.entries()) {
    const ext = p.blob.type === "image/png" ? "png" : "jpg";
    const name = `${id.slice(0, 8)}-${i + 1}.${ext}`;
    const message = signedMessage({
      agent,
      device: device.device_id,
      photoSha256: await sha256Hex(p.blob),
      meta: p.meta,
    });
    signed.push({ name, blob: p.blob, signed: message, signature: await sign(device, message) });
  }
  const now = new Date().toISOString();
  const capture = {
    id,
    kind,
    created_at: now,
    updated_at: now,
    agent,
    device_id: device.device_id,
    ...fields,
    photos: signed,
    local,
    status: "pending",
    result: null,
    error: null,
    attempts: 0,
  };
  await db.put("captures", capture);
  notify();
  return capture;
}

/** Every capture, newest first. */
export async function captures() {
  const rows = await db.all("captures");
  return rows.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
}

/** Remove a capture from the queue (done, conflict or refused ones only). */
export async function forget(id) {
  await db.del("captures", id);
  notify();
}

function notify() {
  window.dispatchEvent(new CustomEvent("queuechange"));
}

async function setStatus(id, patch) {
  const row = await db.update("captures", id, (c) =>
    c ? { ...c, ...patch, updated_at: new Date().toISOString() } : undefined,
  );
  notify();
  return row;
}

/** The multipart body of a capture, each photo's meta carrying its signed message. */
export function formOf(capture) {
  const form = new FormData();
  const meta = [];
  for (const p of capture.photos) {
    meta.push({ name: p.name, signed: p.signed, signature: p.signature }); // signed wins
    form.append("files", p.blob, p.name);
  }
  if (capture.kind === "enrol") {
    form.append("tag", capture.tag);
    form.append("farmer_id", capture.farmer_id);
  }
  form.append("meta", JSON.stringify(meta));
  return form;
}

function pathOf(capture) {
  return capture.kind === "enrol" ? "/animals" : `/claims/${encodeURIComponent(capture.claim_id)}/evidence`;
}

/** The status a server's answer gives a capture. */
export function statusOf(capture, result) {
  if (capture.kind === "enrol" && result && result.status && result.status !== "enrolled") return "conflict";
  return "done";
}

let running = null;

/**
 * Send every pending capture (one at a time, oldest first). Resolves to
 * {sent, failed, offline}; concurrent calls share one run. A 401 stops the run (log in again).
 */
export function sync() {
  if (!running) {
    running = run().finally(() => {
      running = null;
    });
  }
  return running;
}

async function run() {
  const summary = { sent: 0, failed: 0, offline: false, unauthorized: false };
  const user = api.user();
  const rows = (await db.all("captures"))
    .filter((c) => c.status === "pending" || c.status === "sending")
    .filter((c) => user && c.agent === user.username) // each agent sends their own
    .sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  for (const row of rows) {
    await setStatus(row.id, { status: "sending", attempts: (row.attempts || 0) + 1 });
    try {
      const result = await api.post(pathOf(row), formOf(row), { "Idempotency-Key": row.id });
      await setStatus(row.id, { status: statusOf(row, result), result, error: null });
      summary.sent += 1;
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, err.message || String(err));
      if (e.status === 0 || e.status >= 500 || e.status === 401 || e.status === 429) {
        // not answered (or not now): the same request, same key, goes again later
        await setStatus(row.id, { status: "pending", error: e.status === 0 ? null : e.detail });
        summary.offline = e.status === 0;
        summary.unauthorized = e.status === 401;
        summary.failed += 1;
        if (e.status === 0 || e.status === 401) break;
      } else {
        await setStatus(row.id, {
          status: "refused",
          error: e.detail,
          field: e.field,
          http_status: e.status,
        });
        summary.failed += 1;
      }
    }
  }
  return summary;
}
