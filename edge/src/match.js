// On-device verdicts against the gallery cached on the phone (GET /api/v1/agent/gallery):
// the session template of this capture against every enrolled animal's templates.
//
// An animal's score is its best template's cosine similarity. The model's thresholds for
// what was captured (FaceModel.thresholds(photos): the session pair for two or more photos,
// the photo pair for one) judge it as the server does: at or above `match` a match, from
// `review` a possible match for a person to review, below `review` no match. The phone's
// verdict foretells the server's (its registry at enrolment, its identity check on claims).

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

/** {match, review} from FaceModel.thresholds(n) (or a bare match threshold: review = match). */
function bounds(thresholds) {
  if (typeof thresholds === "number") return { match: thresholds, review: thresholds };
  const match = Number(thresholds.match);
  const review =
    thresholds.review === undefined || thresholds.review === null ? match : Number(thresholds.review);
  return { match, review: Math.min(review, match) };
}

/**
 * The verdict of an enrolment capture: {light, code, tag?, score?}, as the server will answer:
 *   "tag_enrolled" (red): the typed tag is already in the gallery (the server refuses a
 *     second enrolment of a tag, whatever the photos);
 *   "already_enrolled" (red): another enrolled animal matches (the server answers duplicate);
 *   "may_be" (amber): an enrolled animal scores in the review band (needs_review);
 *   "new" (green): no enrolled animal comes near.
 * `tag` is the typed tag ("" or null while none is typed).
 */
export function enrolVerdict(template, animals, tag, thresholds) {
  const { match, review } = bounds(thresholds);
  const ranked = rank(template, animals);
  const best = ranked[0];
  if (tag && animals.some((a) => a.tag === tag)) {
    const own = ranked.find((r) => r.tag === tag);
    return { light: "red", code: "tag_enrolled", tag, score: own ? own.score : null };
  }
  if (best && best.score >= match)
    return { light: "red", code: "already_enrolled", tag: best.tag, score: best.score };
  if (best && best.score >= review)
    return { light: "amber", code: "may_be", tag: best.tag, score: best.score };
  return { light: "green", code: "new", score: best ? best.score : null };
}

/**
 * The verdict of a claim's evidence: {light, code, tag, score, other?, other_score?}, as the
 * server's identity check judges it:
 *   "better_match" (red): another animal scores higher than the claimed one (`other`);
 *   "matches" (green): the claimed animal at or above the match threshold;
 *   "may_be_claimed" (amber): the claimed animal in the review band;
 *   "no_match" (red): the claimed animal below the review threshold;
 *   "unknown" (amber): the claimed animal is not in the gallery on this phone.
 */
export function claimVerdict(template, animals, claimedTag, thresholds) {
  const { match, review } = bounds(thresholds);
  if (!animals.some((a) => a.tag === claimedTag))
    return { light: "amber", code: "unknown", tag: claimedTag, score: null };
  const ranked = rank(template, animals);
  const claimed = ranked.find((r) => r.tag === claimedTag);
  const other = ranked.find((r) => r.tag !== claimedTag);
  if (other && other.score > claimed.score) {
    return {
      light: "red",
      code: "better_match",
      tag: claimedTag,
      score: claimed.score,
      other: other.tag,
      other_score: other.score,
    };
  }
  if (claimed.score >= match)
    return { light: "green", code: "matches", tag: claimedTag, score: claimed.score };
  if (claimed.score >= review)
    return { light: "amber", code: "may_be_claimed", tag: claimedTag, score: claimed.score };
  return { light: "red", code: "no_match", tag: claimedTag, score: claimed.score };
}
