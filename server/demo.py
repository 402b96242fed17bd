"""``agri demo``: the ledger story on embedded defaults, printed as a user sees it."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger import Event, NoteVerifier, Receipt, verify_receipt
from server.chain import in_process_chain
from server.config import Settings
from server.context import build_context

__all__ = ["run_demo"]

T0 = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)

# A small, plausible lifecycle: who did what to which animal, plot, policy, claim.
STORY: list[tuple[str, dict[str, str], str, dict[str, object]]] = [
    ("farmer.registered", {"farmer": "F-0001"}, "agent:li.wei", {"county": "Hohhot"}),
    (
        "animal.enrolled",
        {"animal": "156010000123456", "farmer": "F-0001"},
        "agent:li.wei",
        {"tag_scheme": "ISO11784", "photos": 5, "gps": [40.842, 111.749]},
    ),
    (
        "plot.surveyed",
        {"plot": "PL-77", "farmer": "F-0001"},
        "underwriter:zhang.min",
        {"area_ha": "3.4172", "declared_ha": "3.50"},
    ),
    (
        "policy.issued",
        {"policy": "P-2026-0001", "farmer": "F-0001"},
        "underwriter:zhang.min",
        {"sum_insured_cents": 1_200_000, "premium_cents": 72_000},
    ),
    (
        "claim.filed",
        {"claim": "C-0001", "policy": "P-2026-0001", "animal": "156010000123456"},
        "agent:li.wei",
        {"peril": "disease", "loss_date": "2026-06-03"},
    ),
    (
        "claim.assessed",
        {"claim": "C-0001"},
        "system",
        {"face_match": "0.91", "traffic_light": "green"},
    ),
    (
        "claim.decided",
        {"claim": "C-0001"},
        "adjuster:wang.fang",
        {"decision": "approve"},
    ),
    ("claim.paid", {"claim": "C-0001"}, "system", {"amount_cents": 1_150_000}),
]


def _say(title: str) -> None:
    print(f"\n== {title}")


def run_demo(data_dir: Path) -> int:
    """Run the story in ``data_dir`` (recreated); return the process exit code."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = Settings(data_dir=data_dir, checkpoint_every=4, database_url=None)
    _say("Setting up: SQLite database, ledger key, in-process EVM chain")
    chain = in_process_chain()
    app = build_context(settings, chain=chain)
    led = app.ledger
    print(f"database   {settings.resolved_database_url()}")
    print(f"log origin {led.origin}")
    print(f"verifier   {led.verifier}")
    print(
        f"contract   LedgerAnchor at {chain.contract} (chain id {chain.anchor.chain_id})"
    )

    _say("Appending lifecycle events (a checkpoint is signed every 4 entries)")
    paid_index = -1
    for i, (etype, subjects, actor, payload) in enumerate(STORY):
        event = Event(etype, subjects, actor, T0 + timedelta(days=i), payload)
        with app.engine.begin() as conn:
            (entry,) = led.append_events(conn, [event])
        signed_cp = led.after_append()
        signed = (
            f"  -> checkpoint {signed_cp.size} signed and anchored" if signed_cp else ""
        )
        print(f"#{entry.index:<3} {etype:<18} {json.dumps(subjects)}{signed}")
        if etype == "claim.paid":
            paid_index = entry.index

    _say(f"Receipt for entry #{paid_index} (claim.paid), as a farmer receives it")
    receipt = led.receipt(paid_index)
    receipt_path = data_dir / "receipt.json"
    receipt_path.write_text(json.dumps(receipt.to_json(), indent=2) + "\n")
    print(json.dumps(receipt.to_json(), indent=2))

    _say("Verifying the receipt offline, with only the verifier key")
    pub = next(data_dir.glob("*.pub"))
    verifier = NoteVerifier.parse(pub.read_text())
    cp = verify_receipt(
        Receipt.from_json(json.loads(receipt_path.read_text())), [verifier]
    )
    print(f"valid: entry {paid_index} is in {cp.origin} at size {cp.size}")
    if receipt.anchor:
        size, root = chain.anchor.anchored(cp.log_id)
        print(
            f"on chain: tx {receipt.anchor.tx_hash} in block {receipt.anchor.block_number}"
            f"; latest anchored size {size}, root matches: {root == cp.root_hash}"
        )

    _say("Auditing the whole ledger (agri ledger verify)")
    report = led.verify()
    print(
        f"OK={report.ok}: {report.size} entries, {report.checkpoints} checkpoints, "
        f"{report.anchors_checked} anchors confirmed on chain"
    )

    _say("Tampering with a COPY of the database: raising the payout of claim C-0001")
    db_path = Path(settings.resolved_database_url().removeprefix("sqlite:///"))
    tampered = data_dir / "tampered.db"
    app.close()
    shutil.copy(db_path, tampered)
    forged = Event(
        *STORY[paid_index][:3],
        T0 + timedelta(days=paid_index),
        {"amount_cents": 9_150_000},
    ).to_canonical_bytes()
    with sqlite3.connect(tampered) as con:
        con.execute(
            "UPDATE ledger_entries SET data = ? WHERE idx = ?", (forged, paid_index)
        )
    bad = build_context(
        Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{tampered}",
            ledger_key_file=next(data_dir.glob("*.key")),
        ),
        chain=chain,
    )
    bad_report = bad.ledger.verify()
    bad.close()
    print(
        f"OK={bad_report.ok}: first bad index {bad_report.first_bad_index}: "
        f"{bad_report.error}"
    )

    _say("Try it yourself")
    print(f"  export AGRI_DATA_DIR={data_dir}")
    print("  .venv/bin/agri ledger verify")
    print(f"  .venv/bin/agri ledger proof {paid_index} > receipt.json")
    print(f"  .venv/bin/agri ledger verify-receipt receipt.json --key {pub}")
    ok = report.ok and not bad_report.ok and bad_report.first_bad_index == paid_index
    return 0 if ok else 1
