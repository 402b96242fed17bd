// The face-ID model's input, computed exactly as livestock/preprocess.py computes it.
//
// Python: load_image (decode, EXIF orientation, any mode to 8-bit RGB) then to_array:
// Pillow's convert("L"), resize((112, 224), BILINEAR), / 127.5 - 1, three equal channels.
// The browser decodes (createImageBitmap, orientation from the file, no colour management)
// and hands over RGBA pixels; everything after that is done here in integers the way
// Pillow does it, never by the canvas's own scaler (which neither rounds nor antialiases
// like Pillow). The model manifest's "preprocessing" section names the same steps.

/** Pillow's ITU-R 601-2 luma in 16-bit fixed point: L = (R*19595 + G*38470 + B*7471 + 32768) >> 16. */
export const LUMA = Object.freeze({ r: 19595, g: 38470, b: 7471, offset: 32768, shift: 16 });

/** Model input height and width in pixels (a portrait face). */
export const INPUT_HEIGHT = 224;
export const INPUT_WIDTH = 112;

const PRECISION_BITS = 32 - 8 - 2; // Pillow's Resample.c, 8 bits per channel
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

/**
 * Decode a photo into upright RGBA pixels.
 *
 * @param {Blob|ImageBitmap} source a file or camera blob (EXIF orientation applied), or an
 *   already decoded, upright bitmap.
 * @returns {Promise<{width: number, height: number, rgba: Uint8ClampedArray}>}
 */
export async function decode(source) {
  let bitmap = source;
  if (source instanceof Blob) {
    try {
      bitmap = await createImageBitmap(source, {
        imageOrientation: "from-image",
        colorSpaceConversion: "none",
        premultiplyAlpha: "none",
      });
    } catch (err) {
      const name = source.name || "the photo";
      throw new Error(`${name}: not an image this browser can decode (${err.message})`);
    }
  }
  const { width, height } = bitmap;
  if (!width || !height) throw new Error("the image has no pixels");
  const canvas =
    typeof OffscreenCanvas !== "undefined"
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement("canvas"), { width, height });
  const ctx = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
  // Transparent pixels composite over black, as load_image does.
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  if (source instanceof Blob && bitmap.close) bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: "srgb" }).data;
  return { width, height, rgba };
}

/**
 * Grayscale as Pillow's convert("L") from RGB: one byte per pixel.
 *
 * @param {Uint8ClampedArray|Uint8Array} rgba four bytes per pixel (alpha ignored)
 * @returns {Uint8Array}
 */
export function luma(rgba) {
  const n = rgba.length >> 2;
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i += 1, j += 4) {
    out[i] = (rgba[j] * LUMA.r + rgba[j + 1] * LUMA.g + rgba[j + 2] * LUMA.b + LUMA.offset) >>> LUMA.shift;
  }
  return out;
}

function bilinear(x) {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis (bilinear, support 1). */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize); // fixed-point integers, stored exactly
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx += 1) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x += 1) {
      const v = bilinear((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x += 1) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(ss) {
  if (ss >= ONE * 256) return 255;
  if (ss <= 0) return 0;
  return Math.floor(ss / ONE);
}

function horizontalPass(src, srcWidth, rows, offset, outWidth, { ksize, bounds, kk }) {
  const out = new Uint8Array(outWidth * rows);
  for (let y = 0; y < rows; y += 1) {
    const row = (y + offset) * srcWidth;
    for (let xx = 0; xx < outWidth; xx += 1) {
      const xmin = bounds[xx * 2];
      const xmax = bounds[xx * 2 + 1];
      const k = xx * ksize;
      let ss = HALF;
      for (let x = 0; x < xmax; x += 1) ss += src[row + xmin + x] * kk[k + x];
      out[y * outWidth + xx] = clip8(ss);
    }
  }
  return out;
}

function verticalPass(src, width, outHeight, { ksize, kk }, bounds) {
  const out = new Uint8Array(width * outHeight);
  for (let yy = 0; yy < outHeight; yy += 1) {
    const ymin = bounds[yy * 2];
    const ymax = bounds[yy * 2 + 1];
    const k = yy * ksize;
    for (let xx = 0; xx < width; xx += 1) {
      let ss = HALF;
      for (let y = 0; y < ymax; y += 1) ss += src[(y + ymin) * width + xx] * kk[k + y];
      out[yy * width + xx] = clip8(ss);
    }
  }
  return out;
}

/**
 * Resize an 8-bit grayscale image as Pillow's Image.resize(..., BILINEAR) does: two
 * one-axis passes, each rounding to 8 bits, with the filter's support widened by the
 * reduction factor when shrinking (antialiasing). As in Pillow 13's Resample.c, the
 * vertical pass runs first when the height shrinks by more than twice as many pixels
 * as the width (the order changes the rounding, so it is reproduced too).
 *
 * @param {Uint8Array} gray width * height bytes, row by row
 * @returns {Uint8Array} outWidth * outHeight bytes
 */
export function resizeGray(gray, width, height, outWidth, outHeight) {
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  if (!needH && !needV) return Uint8Array.from(gray);
  const horizontalFirst = !(height - outHeight > 0 && height - outHeight > (width - outWidth) * 2);
  const vert = coefficients(height, outHeight);
  const horiz = needH ? coefficients(width, outWidth) : null;
  if (horizontalFirst) {
    let src = gray;
    let bounds = vert.bounds;
    if (needH) {
      // Only the rows the vertical pass reads.
      const first = bounds[0];
      const last = bounds[outHeight * 2 - 2] + bounds[outHeight * 2 - 1];
      bounds = Int32Array.from(bounds);
      for (let i = 0; i < outHeight; i += 1) bounds[i * 2] -= first;
      src = horizontalPass(gray, width, last - first, first, outWidth, horiz);
    }
    return needV ? verticalPass(src, outWidth, outHeight, vert, bounds) : src;
  }
  const src = needV ? verticalPass(gray, width, outHeight, vert, vert.bounds) : gray;
  return needH ? horizontalPass(src, width, outHeight, 0, outWidth, horiz) : src;
}

/**
 * The model input from decoded pixels: Float32Array(3 * 224 * 112), NCHW, in [-1, 1].
 *
 * @param {{width: number, height: number, rgba: Uint8ClampedArray}} image from decode()
 * @param {Uint8Array} [gray] luma(image.rgba), when already computed
 * @returns {Float32Array}
 */
export function toTensor(image, gray = luma(image.rgba)) {
  const small = resizeGray(gray, image.width, image.height, INPUT_WIDTH, INPUT_HEIGHT);
  const plane = INPUT_WIDTH * INPUT_HEIGHT;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i += 1) {
    // float32 arithmetic, as numpy does it: (v / 127.5) rounded to float32, then - 1.
    const v = Math.fround(Math.fround(small[i] / 127.5) - 1);
    out[i] = v;
    out[plane + i] = v;
    out[2 * plane + i] = v;
  }
  return out;
}

/**
 * Decode and preprocess a photo in one step.
 *
 * @param {Blob|ImageBitmap} source
 * @returns {Promise<Float32Array>}
 */
export async function preprocess(source) {
  return toTensor(await decode(source));
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
