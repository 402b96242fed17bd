// This phone as a registered device: an ECDSA P-256 key pair made by WebCrypto, the private
// key non-extractable and kept as a CryptoKey in IndexedDB (it never leaves the browser),
// the public key registered with the server (POST /api/v1/devices), and each photo signed.
//
// The signed message (the server checks it byte for byte): the UTF-8 bytes of a JSON object
// with its keys sorted, no whitespace, every value a string or null:
//   {"accuracy_m","agent","captured_at","device","lat","lon","photo_sha256","source","v":"1"}
// source is "camera" (taken by the app: its time and place are the capture's) or "file"
// (picked from the phone's files: signed when picked, so the server does not take its
// time and place as the capture's). It is required: a message without it is refused.
// The signature is WebCrypto's raw IEEE P1363 r||s (64 bytes), base64url without padding.

import { api } from "/js/api.js";
import * as db from "./db.js";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGN = { name: "ECDSA", hash: "SHA-256" };

/** The device record of this browser for `username` ({device_id, status, ...}), or null. */
export async function deviceOf(username) {
  return (await db.get("devices", username)) || null;
}

/** A short label for the device list: the platform and the browser, as the browser says. */
export function deviceLabel() {
  const ua = navigator.userAgentData;
  const platform = (ua && ua.platform) || navigator.platform || "browser";
  const brand = ua && ua.brands && ua.brands.find((b) => !/Not.?A.?Brand/i.test(b.brand));
  return `${platform} ${brand ? brand.brand : ""}`.trim().slice(0, 64);
}

/**
 * The device for `username`, registered if it is not yet (a new key pair, its public JWK
 * sent to the server). A revoked device stays revoked: replaceDevice() makes a new one.
 */
export async function ensureDevice(username) {
  const known = await deviceOf(username);
  if (known) return known;
  return registerNew(username);
}

/** Forget a (revoked) device's key and register a new key pair. */
export async function replaceDevice(username) {
  await db.del("devices", username);
  return registerNew(username);
}

async function registerNew(username) {
  const pair = await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey); // public keys always export
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const out = await api.post("/devices", { public_key: publicJwk, label: deviceLabel() });
  const record = {
    username,
    device_id: out.device_id,
    status: out.status,
    label: out.label,
    registered_at: out.registered_at,
    privateKey: pair.privateKey,
    public_jwk: publicJwk,
  };
  await db.put("devices", record);
  return record;
}

/** Ask the server for this device's status (active / pending / revoked) and remember it; the record. */
export async function refreshStatus(record) {
  const list = await api.get("/devices");
  const items = Array.isArray(list) ? list : list.items || [];
  const mine = items.find((d) => d.device_id === record.device_id);
  const status = mine ? mine.status : "unknown";
  return db.update("devices", record.username, (r) => (r ? { ...r, status } : undefined));
}

/** Revoke this device on the server; the record, now revoked. */
export async function revoke(record) {
  const out = await api.post(`/devices/${encodeURIComponent(record.device_id)}/revoke`, {});
  return db.update("devices", record.username, (r) =>
    r ? { ...r, status: out.status || "revoked" } : undefined,
  );
}

/** Lower-case hex SHA-256 of a Blob's exact bytes. */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The signed message for one photo: keys sorted, no whitespace, strings or null.
 * meta = {source ("camera" | "file"), captured_at (ISO string), lat, lon, accuracy_m
 * (numbers or null)}.
 */
export function signedMessage({ agent, device, photoSha256, meta }) {
  if (meta.source !== "camera" && meta.source !== "file")
    throw new Error(`unknown photo source ${meta.source}`);
  const str = (v, digits) =>
    v === null || v === undefined ? null : digits === undefined ? String(v) : Number(v).toFixed(digits);
  const fields = {
    accuracy_m:
      meta.accuracy_m === null || meta.accuracy_m === undefined ? null : String(Math.round(meta.accuracy_m)),
    agent: String(agent),
    captured_at: String(meta.captured_at),
    device: String(device),
    lat: str(meta.lat, 6),
    lon: str(meta.lon, 6),
    photo_sha256: photoSha256,
    source: meta.source,
    v: "1",
  };
  const sorted = {};
  for (const k of Object.keys(fields).sort()) sorted[k] = fields[k];
  return JSON.stringify(sorted);
}

function base64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Sign a message string with the device's private key: base64url (no padding) of r||s. */
export async function sign(record, message) {
  const sig = await crypto.subtle.sign(SIGN, record.privateKey, new TextEncoder().encode(message));
  return base64url(sig);
}
