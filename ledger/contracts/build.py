"""Recompile LedgerAnchor.sol into LedgerAnchor.json with the solc compiler from npm.

Run ``make contract`` (it installs the pinned npm ``solc`` package, which carries the
compiler inside it). CI and the runtime never compile: they read the committed JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "LedgerAnchor.sol"
OUTPUT = HERE / "LedgerAnchor.json"
# Cancun is the newest fork that both eth-tester's py-evm and public chains run.
EVM_VERSION = "cancun"


def main(solcjs: str) -> int:
    """Compile with ``solcjs --standard-json`` and write the ABI and bytecode."""
    request = {
        "language": "Solidity",
        "sources": {"LedgerAnchor.sol": {"content": SOURCE.read_text()}},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    done = subprocess.run(
        [solcjs, "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    # solcjs may print a banner before the JSON document.
    result = json.loads(done.stdout[done.stdout.index("{") :])
    errors = [e for e in result.get("errors", []) if e["severity"] == "error"]
    if errors:
        for e in errors:
            print(e["formattedMessage"], file=sys.stderr)
        return 1
    contract = result["contracts"]["LedgerAnchor.sol"]["LedgerAnchor"]
    version = subprocess.run(
        [solcjs, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    OUTPUT.write_text(
        json.dumps(
            {
                "contractName": "LedgerAnchor",
                "compiler": f"solcjs {version}",
                "evmVersion": EVM_VERSION,
                "abi": contract["abi"],
                "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "solcjs"))
