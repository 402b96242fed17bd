// Capturing the face photos of one animal: a burst from the camera (getUserMedia: 5 frames,
// 300 ms apart) or photos chosen with a file input (several at once). Each photo gets its
// source ("camera" or "file"), the time the app got it and the phone's position, is checked
// by the on-device model (quality gate, then the face embedding) and shown with its result.
// A camera photo's time and place are the capture's; a picked file's are only when and
// where it was picked: the signed message says which (source), and the server then judges
// a picked photo by its own EXIF, never by the time and place it was signed at.

import { t } from "/js/i18n.js";
import { badge, h, replace } from "/js/ui.js";

export const BURST_FRAMES = 5;
export const BURST_GAP_MS = 300;

/**
 * The phone's position once: {lat, lon, accuracy_m} (degrees, metres), or all null when
 * the phone gives none (no permission, no fix within `timeoutMs`, no GPS).
 */
export function position(timeoutMs = 8000) {
  const none = { lat: null, lon: null, accuracy_m: null };
  if (!("geolocation" in navigator)) return Promise.resolve(none);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(none), timeoutMs + 500);
    navigator.geolocation.getCurrentPosition(
      (p) => {
        clearTimeout(timer);
        resolve({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy });
      },
      () => {
        clearTimeout(timer);
        resolve(none);
      },
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 60000 },
    );
  });
}

function grab(video, canvas) {
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob((b) => resolve(b), "image/jpeg", 0.92));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The capture panel. `getModel()` resolves to the FaceModel (or rejects: photos are then
 * kept unchecked); `onChange(frames)` is called whenever a photo is added or checked.
 * frames: [{blob, url, meta: {source, captured_at, lat, lon, accuracy_m}, state: "checking" | "ok" |
 * "bad" | "unchecked", reasons, embedding}]. `state` ({frames, place}) keeps the photos
 * when the panel is drawn again (another language). Returns {el, frames(), clear(), stop()}.
 */
export function capturePanel({ getModel, onChange, state = { frames: [], place: null } }) {
  const st = state; // st.place: one position per capture
  let stream = null;
  const list = h("ol", { class: "frames", "aria-live": "polite" });
  const where = h("p", { class: "hint place" });
  const video = h("video", {
    class: "preview",
    playsinline: true,
    muted: true,
    hidden: true,
    "aria-hidden": "true",
  });
  const canvas = h("canvas", { hidden: true });
  const cameraMsg = h("p", { class: "error", role: "alert", hidden: true });
  const fileInput = h("input", {
    type: "file",
    accept: "image/jpeg,image/png",
    multiple: true,
    id: "capture-files",
    class: "visually-hidden",
  });
  const fileLabel = h("label", { for: "capture-files", class: "button big" }, t("capture.files"));
  const burst = h("button", { type: "button", class: "big" }, t("capture.camera"));
  const stopCam = h("button", { type: "button", class: "big", hidden: true }, t("capture.camera_stop"));

  async function locate() {
    if (!st.place) {
      where.textContent = t("capture.locating");
      st.place = await position();
    }
    const place = st.place;
    where.textContent =
      place.lat === null
        ? t("capture.no_place")
        : t("capture.place", {
            lat: place.lat.toFixed(5),
            lon: place.lon.toFixed(5),
            acc: Math.round(place.accuracy_m),
          });
    return place;
  }

  /** Add photos: shots [{blob, at (ISO time the app got it)}], from `source` ("camera" | "file"). */
  async function add(shots, source) {
    const p = await locate();
    const added = shots.map(({ blob, at }) => ({
      blob,
      url: URL.createObjectURL(blob),
      meta: { source, captured_at: at, lat: p.lat, lon: p.lon, accuracy_m: p.accuracy_m },
      state: "checking",
      reasons: [],
      embedding: null,
    }));
    st.frames = st.frames.concat(added);
    render();
    let model = null;
    try {
      model = await getModel();
    } catch {
      model = null;
    }
    for (const f of added) {
      try {
        if (!model) {
          f.state = "unchecked";
          continue;
        }
        const { quality, embedding } = await model.analyse(f.blob);
        if (!quality.ok) {
          f.state = "bad";
          f.reasons = quality.reasons || [];
        } else {
          f.embedding = embedding;
          f.state = "ok";
        }
      } catch (err) {
        f.state = "bad"; // not decodable, or the model failed on it
        f.reasons = [err.message || String(err)];
      } finally {
        render();
      }
    }
  }

  function render() {
    replace(
      list,
      st.frames.map((f, i) => {
        let status;
        if (f.state === "checking") status = h("span", { class: "hint" }, t("capture.checking"));
        else if (f.state === "ok")
          status = [
            badge("green", t("capture.quality_ok")),
            h("span", { class: "hint embedding" }, t("capture.embedding", { dim: f.embedding.length })),
          ];
        else if (f.state === "bad") {
          const reasons = f.reasons.map((r) =>
            t(`quality.${r}`) === `quality.${r}` ? r : t(`quality.${r}`),
          );
          status = badge("red", t("capture.quality_bad", { reasons: reasons.join("; ") }));
        } else status = badge("none", t("capture.no_model"));
        return h(
          "li",
          { class: "frame", dataset: { state: f.state } },
          h("img", { src: f.url, alt: t("capture.frame", { n: i + 1 }), width: 72, height: 72 }),
          h("div", { class: "frame-status" }, h("strong", {}, t("capture.frame", { n: i + 1 })), status),
        );
      }),
    );
    onChange(st.frames);
  }

  fileInput.addEventListener("change", async () => {
    const at = new Date().toISOString(); // when it was picked, not when it was taken
    const files = [...fileInput.files];
    fileInput.value = "";
    if (files.length)
      await add(
        files.map((blob) => ({ blob, at })),
        "file",
      );
  });

  burst.addEventListener("click", async () => {
    cameraMsg.hidden = true;
    try {
      if (!stream) {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" },
          audio: false,
        });
        video.srcObject = stream;
        video.hidden = false;
        stopCam.hidden = false;
        await video.play();
      }
      burst.disabled = true;
      const shots = [];
      for (let i = 0; i < BURST_FRAMES; i += 1) {
        if (i) await sleep(BURST_GAP_MS);
        const at = new Date().toISOString();
        const blob = await grab(video, canvas);
        if (blob) shots.push({ blob, at });
      }
      await add(shots, "camera");
    } catch (err) {
      cameraMsg.textContent = t("capture.no_camera", { detail: err.message || String(err) });
      cameraMsg.hidden = false;
    } finally {
      burst.disabled = false;
    }
  });

  function stop() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.hidden = true;
    stopCam.hidden = true;
  }
  stopCam.addEventListener("click", stop);

  function clear() {
    for (const f of st.frames) URL.revokeObjectURL(f.url);
    st.frames = [];
    st.place = null;
    where.textContent = "";
    render();
  }

  const el = h(
    "section",
    { class: "capture", "aria-labelledby": "capture-title" },
    h("h2", { id: "capture-title" }, t("capture.title")),
    h("div", { class: "actions" }, burst, stopCam, fileInput, fileLabel),
    cameraMsg,
    video,
    canvas,
    where,
    list,
  );
  if (st.place) locate();
  render();
  return { el, frames: () => st.frames, clear, stop };
}
