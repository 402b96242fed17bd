"""The phone's on-device verdicts (edge/src/match.js), run by Node on small made-up galleries.

Templates are unit vectors in the plane (cosine = cos of the angle between
them), so each case's scores are plain to read: the verdicts must be those
the server's registry (enrolment) and identity check (claims) give.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from typing import Any

import pytest

from tests.web.conftest import REPO

MATCH_JS = REPO / "edge" / "src" / "match.js"
THRESHOLDS = {"match": 0.8, "far": 0.001, "review": 0.7, "review_far": 0.01}


def _unit(score: float) -> list[float]:
    """A 2-d unit vector whose cosine with (1, 0) is ``score``."""
    return [score, math.sqrt(max(0.0, 1 - score * score))]


def _animal(tag: str, score: float) -> dict[str, Any]:
    return {"tag": tag, "farmer_id": "F-1", "templates": [_unit(score)]}


def _run(call: str, *args: Any) -> dict[str, Any]:
    """``call(template (1, 0), *args)`` of match.js, by Node; its JSON answer."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the app's npm packages need it (make setup)")
    script = (
        f"import * as m from {json.dumps(MATCH_JS.as_uri())};\n"
        f"const args = {json.dumps(list(args))};\n"
        f"process.stdout.write(JSON.stringify(m.{call}([1, 0], ...args)));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_claim_evidence_that_matches_another_animal_better_is_red() -> None:
    gallery = [_animal("CLAIMED", 0.85), _animal("OTHER", 0.95)]
    v = _run("claimVerdict", gallery, "CLAIMED", THRESHOLDS)
    assert (v["light"], v["code"], v["tag"], v["other"]) == (
        "red",
        "better_match",
        "CLAIMED",
        "OTHER",
    )
    assert v["score"] == pytest.approx(0.85) and v["other_score"] == pytest.approx(0.95)
    # Even when neither reaches the review band, a better other animal is named.
    gallery = [_animal("CLAIMED", 0.2), _animal("OTHER", 0.5)]
    assert (
        _run("claimVerdict", gallery, "CLAIMED", THRESHOLDS)["code"] == "better_match"
    )


@pytest.mark.parametrize(
    ("claimed", "light", "code"),
    [
        (0.85, "green", "matches"),
        (0.75, "amber", "may_be_claimed"),
        (0.5, "red", "no_match"),
    ],
)
def test_claim_evidence_is_judged_by_the_match_and_review_thresholds(
    claimed: float, light: str, code: str
) -> None:
    gallery = [_animal("CLAIMED", claimed), _animal("OTHER", 0.1)]
    v = _run("claimVerdict", gallery, "CLAIMED", THRESHOLDS)
    assert (v["light"], v["code"]) == (light, code)


def test_a_claimed_animal_not_on_the_phone_is_amber() -> None:
    v = _run("claimVerdict", [_animal("OTHER", 0.99)], "CLAIMED", THRESHOLDS)
    assert (v["light"], v["code"]) == ("amber", "unknown")


@pytest.mark.parametrize(
    ("best", "light", "code"),
    [
        (0.9, "red", "already_enrolled"),
        (0.75, "amber", "may_be"),
        (0.5, "green", "new"),
    ],
)
def test_an_enrolment_is_judged_by_the_match_and_review_thresholds(
    best: float, light: str, code: str
) -> None:
    gallery = [_animal("ENROLLED", best), _animal("FAR", 0.1)]
    v = _run("enrolVerdict", gallery, "NEW-TAG", THRESHOLDS)
    assert (v["light"], v["code"]) == (light, code)
    if code != "new":
        assert v["tag"] == "ENROLLED"


def test_an_enrolment_under_a_tag_already_in_the_gallery_is_red() -> None:
    # Whatever the photos: the server refuses a tag enrolled before.
    for score in (0.95, 0.1):
        gallery = [_animal("ENROLLED", score), _animal("FAR", 0.0)]
        v = _run("enrolVerdict", gallery, "ENROLLED", THRESHOLDS)
        assert (v["light"], v["code"], v["tag"]) == ("red", "tag_enrolled", "ENROLLED")
    # No tag typed yet: judged on the photos alone.
    v = _run("enrolVerdict", [_animal("ENROLLED", 0.1)], "", THRESHOLDS)
    assert v["code"] == "new"
