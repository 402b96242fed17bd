// Verify a ledger receipt in the browser, with nothing but the log's verifier key.
//
// The same checks as ledger/receipt.py (verify_receipt), with WebCrypto (SHA-256, Ed25519):
//   1. leaf_hash = SHA-256(0x00 || entry)                        (RFC 9162 §2.1.1)
//   2. the checkpoint is a C2SP signed note with a valid Ed25519 signature by the
//      trusted key (key id = first 4 bytes of SHA-256(name || 0x0A || 0x01 || key))
//   3. the checkpoint's size is the receipt's tree_size
//   4. the inclusion proof leads from the leaf to the checkpoint's root hash
//      (node = SHA-256(0x01 || left || right); transparency-dev/merkle's verify.go)
// WebCrypto needs a secure context: https, or http on localhost/127.0.0.1.

const enc = new TextEncoder();
const ED25519 = 0x01; // the C2SP signed-note algorithm byte of Ed25519 keys
const SIG_PREFIX = "\u2014 "; // em dash + space opens every signature line

/**
 * A receipt that does not verify: `code` names the check that failed (the page words
 * it in the reader's language from `code` and `params`); `message` is in English.
 */
export class ReceiptInvalid extends Error {
  constructor(code, params, message) {
    super(message);
    this.name = "ReceiptInvalid";
    this.code = code;
    this.params = params;
  }
}

/**
 * The browser cannot check a receipt at all (no WebCrypto in this context, no Ed25519):
 * not a verdict on the receipt, which may well be valid.
 */
export class CannotCheck extends Error {
  constructor(code, params, message) {
    super(message);
    this.name = "CannotCheck";
    this.code = code;
    this.params = params;
  }
}

/**
 * Standard base64 to bytes; throws ReceiptInvalid naming `what` (a field code such as
 * "entry" or "verifier_key", and `index` for one hash of a list) if it is not base64.
 */
export function b64decode(text, what = "value", index = null) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    const name = index === null ? what : `${what}[${index}]`;
    throw new ReceiptInvalid("not_base64", { what, index }, `${name} is not standard base64`);
  }
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Bytes to lower-case hex. */
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function subtle() {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new CannotCheck(
      "no_webcrypto",
      {},
      "this browser offers no WebCrypto here: open the page over https or on localhost",
    );
  }
  return crypto.subtle;
}

/** SHA-256 of bytes. */
export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

/** RFC 9162 leaf hash: SHA-256(0x00 || entry). */
export function hashLeaf(entry) {
  return sha256(concat(Uint8Array.of(0), entry));
}

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export function hashChildren(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

function bitLength(n) {
  let len = 0;
  while (n > 0n) {
    n >>= 1n;
    len += 1;
  }
  return len;
}

function onesCount(n) {
  let count = 0;
  while (n > 0n) {
    count += Number(n & 1n);
    n >>= 1n;
  }
  return count;
}

/**
 * The root hash an inclusion proof leads to (verify.go's RootFromInclusionProof).
 * index, size: non-negative integers (Number or BigInt), index < size; leaf: 32 bytes;
 * proof: array of 32-byte hashes, deepest first.
 */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  const i = BigInt(index);
  const n = BigInt(size);
  if (i < 0n || i >= n) {
    throw new ReceiptInvalid("index_beyond", { index, size }, `index ${index} is beyond tree size ${size}`);
  }
  // decompInclProof: the proof's inner part climbs to where the paths of the leaf and
  // the last leaf meet; its border part runs along the tree's right border.
  const inner = bitLength(i ^ (n - 1n));
  const border = onesCount(i >> BigInt(inner));
  if (proof.length !== inner + border) {
    const want = inner + border;
    throw new ReceiptInvalid(
      "proof_length",
      { got: proof.length, want },
      `the inclusion proof has ${proof.length} hashes, want ${want}`,
    );
  }
  let seed = leaf;
  for (let k = 0; k < inner; k++) {
    seed =
      ((i >> BigInt(k)) & 1n) === 0n
        ? await hashChildren(seed, proof[k])
        : await hashChildren(proof[k], seed);
  }
  for (let k = inner; k < proof.length; k++) seed = await hashChildren(proof[k], seed);
  return seed;
}

/** The 32-bit key id of an Ed25519 key: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key). */
export async function keyId(name, publicKey) {
  const digest = await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, ED25519), publicKey));
  return new DataView(digest.buffer).getUint32(0);
}

/**
 * Parse a C2SP note verifier key "name+hexid+base64(0x01 || key)" and check its key id.
 * Returns {name, keyId (Number), keyIdHex, publicKey (32 bytes), text}.
 */
export async function parseVerifierKey(text) {
  const line = String(text).trim();
  const first = line.indexOf("+");
  const second = line.indexOf("+", first + 1);
  if (first < 1 || second < 0)
    throw new ReceiptInvalid("key_format", {}, "the verifier key is not name+id+key");
  const name = line.slice(0, first);
  const idHex = line.slice(first + 1, second);
  const raw = b64decode(line.slice(second + 1), "verifier_key");
  if (!/^[0-9a-f]{8}$/i.test(idHex)) {
    throw new ReceiptInvalid("key_id_format", {}, "the verifier key id is not 8 hex digits");
  }
  if (raw.length !== 33 || raw[0] !== ED25519) {
    throw new ReceiptInvalid("key_not_ed25519", {}, "the verifier key is not an Ed25519 key");
  }
  const publicKey = raw.slice(1);
  const id = await keyId(name, publicKey);
  if (id !== parseInt(idHex, 16)) {
    throw new ReceiptInvalid("key_id_mismatch", {}, "the verifier key's id does not match its key");
  }
  return { name, keyId: id, keyIdHex: idHex.toLowerCase(), publicKey, text: line };
}

/**
 * Open a C2SP signed note: verify the trusted key's Ed25519 signature; returns the note's text.
 * Signatures by other keys are ignored, as C2SP requires; none by the trusted key is invalid.
 */
export async function openNote(note, verifier) {
  if (typeof note !== "string" || !note.endsWith("\n")) {
    throw new ReceiptInvalid("not_a_note", {}, "the checkpoint is not a signed note");
  }
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new ReceiptInvalid("no_signatures", {}, "the checkpoint has no signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let key;
  try {
    key = await subtle().importKey("raw", verifier.publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    if (err instanceof CannotCheck) throw err;
    throw new CannotCheck(
      "no_ed25519",
      { error: err.name },
      `this browser cannot verify Ed25519 signatures (${err.name})`,
    );
  }
  let signed = false;
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw malformedSignature();
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = rest.slice(0, space);
    const blob = b64decode(rest.slice(space + 1), "signature");
    if (space < 1 || blob.length < 5) throw malformedSignature();
    const id = new DataView(blob.buffer, blob.byteOffset).getUint32(0);
    if (name !== verifier.name || id !== verifier.keyId) continue;
    const ok = await subtle().verify({ name: "Ed25519" }, key, blob.slice(4), enc.encode(text));
    if (!ok) {
      throw new ReceiptInvalid(
        "signature_invalid",
        { name },
        `the checkpoint's signature by ${name} does not verify`,
      );
    }
    signed = true;
  }
  if (!signed) {
    throw new ReceiptInvalid(
      "not_signed_by",
      { name: verifier.name },
      `the checkpoint is not signed by the trusted key ${verifier.name}`,
    );
  }
  return text;
}

function malformedSignature() {
  return new ReceiptInvalid("signature_line", {}, "a signature line of the checkpoint is malformed");
}

/** A checkpoint's body: origin, tree size, root hash (C2SP tlog-checkpoint). */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || !/^[1-9]\d*$|^0$/.test(lines[1])) {
    throw new ReceiptInvalid("checkpoint_malformed", {}, "the checkpoint body is malformed");
  }
  const root = b64decode(lines[2], "root_hash");
  if (root.length !== 32) {
    throw new ReceiptInvalid("root_length", {}, "the checkpoint's root hash is not 32 bytes");
  }
  return { origin: lines[0], size: BigInt(lines[1]), root };
}

/**
 * Check a receipt (the JSON of GET /api/v1/ledger/receipts/{index}) against a verifier
 * key: `{valid: true, index, treeSize, origin, keyName, keyId, event}`, `{valid: false,
 * code, params, reason}` when it does not verify, or `{valid: null, code, params,
 * reason}` when this browser cannot check it; never throws for a bad receipt. `code`
 * names the failed check for the page's words; `reason` is in English.
 */
export async function verifyReceipt(receipt, verifierKeyText) {
  try {
    const verifier = await parseVerifierKey(verifierKeyText);
    if (!receipt || typeof receipt !== "object") {
      throw new ReceiptInvalid("not_an_object", {}, "the receipt is not a JSON object");
    }
    for (const key of ["index", "tree_size"]) {
      if (!Number.isSafeInteger(receipt[key]) || receipt[key] < 0) {
        throw new ReceiptInvalid("not_an_integer", { key }, `${key} is not a non-negative integer`);
      }
    }
    const entry = b64decode(receipt.entry, "entry");
    const leaf = b64decode(receipt.leaf_hash, "leaf_hash");
    if (!Array.isArray(receipt.inclusion_proof)) {
      throw new ReceiptInvalid("proof_not_list", {}, "inclusion_proof is not a list");
    }
    const proof = receipt.inclusion_proof.map((p, k) => {
      const bytes = b64decode(p, "inclusion_proof", k);
      if (bytes.length !== 32) {
        throw new ReceiptInvalid("proof_hash_length", { index: k }, `inclusion_proof[${k}] is not 32 bytes`);
      }
      return bytes;
    });
    if (!equal(await hashLeaf(entry), leaf)) {
      throw new ReceiptInvalid(
        "entry_changed",
        {},
        "the entry's hash is not the receipt's leaf hash: the entry was changed",
      );
    }
    const checkpoint = parseCheckpoint(await openNote(receipt.checkpoint, verifier));
    if (checkpoint.size !== BigInt(receipt.tree_size)) {
      throw new ReceiptInvalid(
        "size_mismatch",
        { tree_size: receipt.tree_size, size: String(checkpoint.size) },
        `tree_size ${receipt.tree_size} differs from the checkpoint's size ${checkpoint.size}`,
      );
    }
    const root = await rootFromInclusionProof(receipt.index, receipt.tree_size, leaf, proof);
    if (!equal(root, checkpoint.root)) {
      throw new ReceiptInvalid(
        "proof_mismatch",
        {},
        "the inclusion proof does not lead to the signed root hash",
      );
    }
    let event = null;
    try {
      event = JSON.parse(new TextDecoder().decode(entry));
    } catch {
      event = null;
    }
    return {
      valid: true,
      index: receipt.index,
      treeSize: receipt.tree_size,
      origin: checkpoint.origin,
      keyName: verifier.name,
      keyId: verifier.keyIdHex,
      event,
    };
  } catch (err) {
    if (err instanceof CannotCheck) {
      return { valid: null, code: err.code, params: err.params, reason: err.message };
    }
    if (err instanceof ReceiptInvalid) {
      return { valid: false, code: err.code, params: err.params, reason: err.message };
    }
    return {
      valid: false,
      code: "unexpected",
      params: { error: err.message },
      reason: `the receipt could not be checked: ${err.message}`,
    };
  }
}
