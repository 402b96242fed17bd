// The cow-face model on the phone: onnxruntime-web (WebAssembly) running the exported
// livestock model (edge/model/cowface.json names the files, their SHA-256, the
// preprocessing, the thresholds and the quality bounds).
//
//   const model = await loadModel("/agent/");            // int8 by default
//   const q = await model.quality(blob);                  // {ok, reasons, ...}
//   const e = await model.embed(blob);                    // Float32Array(128), unit length
//   const template = model.fuse([e1, e2, e3]);            // the session's template
//   cosine(template, enrolled) >= model.manifest.thresholds.session.match
//
// Embeddings equal the server's (livestock/faceid.py) for the same file: the
// preprocessing is Pillow's, step by step (preprocess.js).

import { decode, luma, resizeGray, roundHalfEven, toTensor } from "./preprocess.js";

export { cosine };

/** Cosine similarity of two vectors (0 when either is all zeros). */
function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

function unit(v) {
  let n = 0;
  for (let i = 0; i < v.length; i += 1) n += v[i] * v[i];
  n = Math.sqrt(n);
  const out = new Float32Array(v.length);
  if (n > 1e-12) for (let i = 0; i < v.length; i += 1) out[i] = v[i] / n;
  return out;
}

async function sha256Hex(buffer) {
  if (!globalThis.crypto || !crypto.subtle) return null; // not a secure context
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

let runtime = null; // one onnxruntime-web per page: its WebAssembly settings are global

async function loadRuntime(baseUrl, numThreads) {
  if (!runtime) {
    const dir = `${baseUrl}vendor/onnxruntime-web/`;
    runtime = import(`${dir}ort.wasm.min.mjs`).then((ort) => {
      ort.env.wasm.wasmPaths = dir;
      ort.env.wasm.proxy = false;
      if (numThreads) ort.env.wasm.numThreads = numThreads;
      else if (!globalThis.crossOriginIsolated) ort.env.wasm.numThreads = 1;
      return ort;
    });
  }
  return runtime;
}

/** Variance of the 4-neighbour Laplacian, as livestock/quality.py's sharpness(). */
function laplacianVariance(gray, width, height) {
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = 1; y < height - 1; y += 1) {
    for (let x = 1; x < width - 1; x += 1) {
      const i = y * width + x;
      const v = gray[i - 1] + gray[i + 1] + gray[i - width] + gray[i + width] - 4 * gray[i];
      sum += v;
      sumSq += v * v;
      n += 1;
    }
  }
  if (!n) return 0;
  const mean = sum / n;
  return Math.max(0, sumSq / n - mean * mean);
}

/** The on-device face model; made by loadModel(). */
export class FaceModel {
  constructor(ort, session, manifest, precision) {
    this.ort = ort;
    this.session = session;
    this.manifest = manifest;
    this.precision = precision;
    this.inputName = manifest.input.name;
    this.outputName = manifest.output.name;
    this.dim = manifest.output.dim;
  }

  /**
   * Embeddings of preprocessed inputs (Float32Array(3*224*112) each), in one batch.
   *
   * @param {Float32Array[]} tensors
   * @returns {Promise<Float32Array[]>} unit vectors of manifest.output.dim values
   */
  async embedTensors(tensors) {
    const [, c, h, w] = this.manifest.input.shape;
    const size = c * h * w;
    const batch = new Float32Array(size * tensors.length);
    tensors.forEach((t, i) => {
      if (t.length !== size) throw new Error(`input ${i} has ${t.length} values, not ${size}`);
      batch.set(t, i * size);
    });
    const input = new this.ort.Tensor("float32", batch, [tensors.length, c, h, w]);
    const result = await this.session.run({ [this.inputName]: input });
    const data = result[this.outputName].data;
    return tensors.map((_, i) => unit(data.subarray(i * this.dim, (i + 1) * this.dim)));
  }

  /**
   * The face embedding of one photo.
   *
   * @param {Blob|ImageBitmap} source a camera or file blob, or an upright bitmap
   * @returns {Promise<Float32Array>} 128 values, unit length
   */
  async embed(source) {
    const [e] = await this.embedTensors([toTensor(await decode(source))]);
    return e;
  }

  /**
   * The quality gate's on-device part (size, exposure, blur), with the server's bounds.
   * Whether the photo looks like a cow face at all is judged on the server.
   *
   * @param {Blob|ImageBitmap|{width: number, height: number, rgba: Uint8ClampedArray}} source
   * @returns {Promise<{ok: boolean, reasons: string[], brightness: number, sharpness: number,
   *   width: number, height: number}>}
   */
  async quality(source) {
    const image = source && source.rgba ? source : await decode(source);
    return this.qualityOf(image);
  }

  /** quality() on decoded pixels (gray: luma(image.rgba), when already computed). */
  qualityOf(image, gray = luma(image.rgba)) {
    const rules = this.manifest.quality;
    const { width, height } = image;
    const reasons = [];
    if (Math.min(width, height) < rules.min_side_px) reasons.push("too_small");
    let total = 0;
    for (let i = 0; i < gray.length; i += 1) total += gray[i];
    const brightness = total / gray.length;
    if (brightness < rules.min_brightness) reasons.push("too_dark");
    else if (brightness > rules.max_brightness) reasons.push("too_bright");
    const th = rules.sharpness_height;
    const tw = Math.max(3, roundHalfEven((width * th) / height));
    const sharpness = laplacianVariance(resizeGray(gray, width, height, tw, th), tw, th);
    if (sharpness < rules.min_sharpness) reasons.push("blurred");
    return { ok: reasons.length === 0, reasons, brightness, sharpness, width, height };
  }

  /**
   * Decode once; the quality verdict and (when it passes, or always with force) the embedding.
   *
   * @returns {Promise<{quality: object, embedding: Float32Array|null}>}
   */
  async analyse(source, { force = false } = {}) {
    const image = await decode(source);
    const gray = luma(image.rgba);
    const quality = this.qualityOf(image, gray);
    const embedding = quality.ok || force ? (await this.embedTensors([toTensor(image, gray)]))[0] : null;
    return { quality, embedding };
  }

  /**
   * The thresholds that judge a template fused from `count` photos: the manifest's
   * "photo" pair for one photo, its "session" pair for two or more (as the registry).
   *
   * @returns {{match: number, far: number, review: number, review_far: number}}
   */
  thresholds(count) {
    const th = this.manifest.thresholds;
    return count >= 2 ? th.session : th.photo;
  }

  /**
   * P(same animal | cosine score) by the weights' calibration map for one photo or a fused
   * session (livestock Manifest.probability); null when the manifest has no map.
   *
   * @param {number} score cosine similarity
   * @param {number} count photos fused into the template that scored it
   * @returns {number|null}
   */
  probability(score, count) {
    const map = (this.manifest.calibration || {})[count >= 2 ? "session" : "photo"];
    if (!map) return null;
    return 1 / (1 + Math.exp(-(map.slope * score + map.intercept)));
  }

  /**
   * One template for several photos of one animal, the server's rule (FaceID.fuse): the
   * mean of the unit embeddings, renormalised; with weights, their weighted mean.
   *
   * @param {Float32Array[]} embeddings
   * @param {number[]} [weights] one non-negative weight per embedding
   * @returns {Float32Array}
   */
  fuse(embeddings, weights) {
    if (!embeddings.length) throw new Error("nothing to fuse: no embeddings");
    if (weights && weights.length !== embeddings.length) {
      throw new Error(`${weights.length} weights for ${embeddings.length} embeddings`);
    }
    const mean = new Float64Array(embeddings[0].length);
    embeddings.forEach((e, i) => {
      const w = weights ? weights[i] : 1;
      const u = unit(e);
      for (let j = 0; j < mean.length; j += 1) mean[j] += w * u[j];
    });
    return unit(mean);
  }
}

/**
 * Load the manifest and the model from `${baseUrl}model/`, checking the file's SHA-256.
 *
 * @param {string} [baseUrl] where the app is served, ending in "/"
 * @param {{precision?: "int8"|"float32", numThreads?: number, sessionOptions?: object}}
 *   [options] numThreads: the WebAssembly threads (default: onnxruntime-web's choice when
 *   the page is cross-origin isolated, else 1); it holds for the whole page, fixed by the
 *   first model loaded. sessionOptions: extra onnxruntime-web session options.
 * @returns {Promise<FaceModel>}
 */
export async function loadModel(baseUrl = "/agent/", options = {}) {
  const precision = options.precision || "int8";
  const response = await fetch(`${baseUrl}model/cowface.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`model manifest: HTTP ${response.status}`);
  const manifest = await response.json();
  const file = (manifest.files || {})[precision];
  if (!file) throw new Error(`the model manifest lists no ${precision} model`);
  const modelResponse = await fetch(`${baseUrl}model/${file.path}`);
  if (!modelResponse.ok) throw new Error(`${file.path}: HTTP ${modelResponse.status}`);
  const bytes = await modelResponse.arrayBuffer();
  if (bytes.byteLength !== file.bytes) {
    throw new Error(`${file.path}: ${bytes.byteLength} bytes, the manifest says ${file.bytes}`);
  }
  const digest = await sha256Hex(bytes);
  if (digest !== null && digest !== file.sha256) {
    throw new Error(`${file.path}: SHA-256 ${digest} does not match the manifest's ${file.sha256}`);
  }
  const ort = await loadRuntime(baseUrl, options.numThreads);
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
    ...(options.sessionOptions || {}),
  });
  return new FaceModel(ort, session, manifest, precision);
}
