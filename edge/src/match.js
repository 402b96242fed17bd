// On-device verdicts against the gallery cached on the phone (GET /api/v1/agent/gallery):
// the session template of this capture against each enrolled animal's templates.
//
// An animal's score is its best template's cosine similarity; a score at or above the
// model's match threshold (FaceModel.thresholds(photos): the session pair for two or more
// photos, the photo pair for one) is a match (the same rule as the server's
// registry, so the phone's verdict foretells the server's).

import { cosine } from "./faceid.js";

/** The animals ranked by score: [{tag, farmer_id, score}], best first. */
export function rank(template, animals) {
  return animals
    .map((a) => ({
      tag: a.tag,
      farmer_id: a.farmer_id,
      score: Math.max(-1, ...(a.templates || []).map((t) => cosine(template, t))),
    }))
    .sort((x, y) => y.score - x.score);
}

/**
 * The verdict of an enrolment capture: {light, code, tag?, score?}.
 *   code "already_enrolled" (red): another tag's animal matches; "same_tag" (amber): the typed
 *   tag is enrolled and matches; "new" (green): no enrolled animal matches.
 */
export function enrolVerdict(template, animals, tag, threshold) {
  const ranked = rank(template, animals);
  const best = ranked[0];
  if (best && best.score >= threshold) {
    if (best.tag === tag) return { light: "amber", code: "same_tag", tag: best.tag, score: best.score };
    return { light: "red", code: "already_enrolled", tag: best.tag, score: best.score };
  }
  return { light: "green", code: "new", score: best ? best.score : null };
}

/**
 * The verdict of a claim's evidence: {light, code, score?}: "matches" (green),
 * "no_match" (red: does not match the claimed animal), "unknown" (amber: the claimed
 * animal is not in the gallery on this phone).
 */
export function claimVerdict(template, animals, claimedTag, threshold) {
  const animal = animals.find((a) => a.tag === claimedTag);
  if (!animal) return { light: "amber", code: "unknown", tag: claimedTag, score: null };
  const [scored] = rank(template, [animal]);
  if (scored.score >= threshold) return { light: "green", code: "matches", tag: claimedTag, score: scored.score };
  return { light: "red", code: "no_match", tag: claimedTag, score: scored.score };
}
