// The app's own storage in IndexedDB (database "agri-agent"), kept across reloads and offline.
//
// Stores:
//   devices   keyPath "username": {username, device_id, status, label, registered_at,
//             privateKey (a non-extractable CryptoKey), public_jwk}
//   captures  keyPath "id" (the capture's Idempotency-Key): the upload queue, see queue.js
//   cache     keyPath "key": {key, value, saved_at}: the gallery, claims and farmers
//
// Every function opens one short transaction and resolves when it has committed.

const DB_NAME = "agri-agent";
const DB_VERSION = 1;
let opening = null;

/** The open database (opened once, upgraded to the stores above). */
export function openDb() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("devices"))
          db.createObjectStore("devices", { keyPath: "username" });
        if (!db.objectStoreNames.contains("captures")) {
          const s = db.createObjectStore("captures", { keyPath: "id" });
          s.createIndex("created_at", "created_at");
        }
        if (!db.objectStoreNames.contains("cache")) db.createObjectStore("cache", { keyPath: "key" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => {
        opening = null;
        reject(req.error);
      };
    });
  }
  return opening;
}

function done(tx, result) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(result.value);
    tx.onabort = tx.onerror = () => reject(tx.error || new Error("IndexedDB transaction failed"));
  });
}

/** One record by key, or undefined. */
export async function get(store, key) {
  const db = await openDb();
  const tx = db.transaction(store, "readonly");
  const result = {};
  tx.objectStore(store).get(key).onsuccess = (ev) => {
    result.value = ev.target.result;
  };
  return done(tx, result);
}

/** Every record of a store (in key order). */
export async function all(store) {
  const db = await openDb();
  const tx = db.transaction(store, "readonly");
  const result = {};
  tx.objectStore(store).getAll().onsuccess = (ev) => {
    result.value = ev.target.result;
  };
  return done(tx, result);
}

/** Insert or replace one record. */
export async function put(store, value) {
  const db = await openDb();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).put(value);
  return done(tx, { value });
}

/** Delete one record by key. */
export async function del(store, key) {
  const db = await openDb();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).delete(key);
  return done(tx, { value: undefined });
}

/**
 * Read-modify-write one record in one transaction: update(record) returns the new record
 * (or undefined to leave it). Resolves to the stored record.
 */
export async function update(store, key, fn) {
  const db = await openDb();
  const tx = db.transaction(store, "readwrite");
  const os = tx.objectStore(store);
  const result = {};
  os.get(key).onsuccess = (ev) => {
    const next = fn(ev.target.result);
    if (next !== undefined) {
      os.put(next);
      result.value = next;
    } else {
      result.value = ev.target.result;
    }
  };
  return done(tx, result);
}

/** A cached value (gallery, claims, farmers) and when it was saved, or null. */
export async function cached(key) {
  const row = await get("cache", key);
  return row || null;
}

/** Cache a value under key, with the time. */
export function cache(key, value) {
  return put("cache", { key, value, saved_at: new Date().toISOString() });
}
