"""The LedgerAnchor contract on web3's in-process chain, through EvmAnchor."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from ledger import (
    AnchorConfigError,
    AnchorRejectedError,
    AnchorUnavailableError,
    Checkpoint,
)
from ledger.adapters.evm import EvmAnchor, contract_artifact, deploy_anchor_contract
from ledger.adapters.memory import InMemoryAnchor

pytestmark = pytest.mark.chain


def _funded_key(w3: Web3) -> str:
    acct = Account.create()
    tx = w3.eth.send_transaction(
        {"from": w3.eth.accounts[0], "to": acct.address, "value": 10**19}
    )
    w3.eth.wait_for_transaction_receipt(tx)
    return "0x" + bytes(acct.key).hex()


@pytest.fixture
def chain() -> tuple[Web3, str, str]:
    w3 = Web3(EthereumTesterProvider())
    key = _funded_key(w3)
    return w3, deploy_anchor_contract(w3, key), key


def cp(size: int, root: bytes = b"\x11" * 32, origin: str = "test/log") -> Checkpoint:
    return Checkpoint(origin, size, root)


def test_artifact_is_committed() -> None:
    """The compiled ABI and bytecode ship with the package."""
    art = contract_artifact()
    assert {f["name"] for f in art["abi"] if f["type"] == "function"} == {
        "anchor",
        "latest",
    }
    assert art["bytecode"].startswith("0x6080")


def test_anchor_and_read_back(chain: tuple[Web3, str, str]) -> None:
    """An anchored checkpoint is readable from the contract and its receipt."""
    w3, address, key = chain
    anchor = EvmAnchor(w3, address, key, expected_chain_id=w3.eth.chain_id)
    pending = anchor.prepare(cp(5))
    assert anchor.find(pending.tx_hash) is None
    receipt = anchor.submit(pending)
    assert receipt.tx_hash == pending.tx_hash
    assert receipt.chain_id == w3.eth.chain_id
    assert anchor.anchored(cp(5).log_id) == (5, b"\x11" * 32)
    assert anchor.find(pending.tx_hash) == receipt


def test_resubmit_is_idempotent(chain: tuple[Web3, str, str]) -> None:
    """Re-sending a recorded transaction after a restart never anchors twice."""
    w3, address, key = chain
    anchor = EvmAnchor(w3, address, key)
    pending = anchor.prepare(cp(3))
    first = anchor.submit(pending)
    restarted = EvmAnchor(w3, address, key)
    assert restarted.submit(pending) == first
    # Nonce 0 deployed the contract, nonce 1 anchored: nothing more was sent.
    assert w3.eth.get_transaction_count(Account.from_key(key).address) == 2


def test_refuses_shrinking_or_equal_size(chain: tuple[Web3, str, str]) -> None:
    """The contract refuses a tree size that does not grow."""
    w3, address, key = chain
    anchor = EvmAnchor(w3, address, key)
    anchor.submit(anchor.prepare(cp(10)))
    for size in (10, 9):
        with pytest.raises(AnchorRejectedError, match="refuse"):
            anchor.prepare(cp(size))


def test_other_writer_refused(chain: tuple[Web3, str, str]) -> None:
    """Only the first writer of a log id may anchor it."""
    w3, address, key = chain
    EvmAnchor(w3, address, key).submit(EvmAnchor(w3, address, key).prepare(cp(1)))
    intruder = EvmAnchor(w3, address, _funded_key(w3))
    with pytest.raises(AnchorRejectedError):
        intruder.prepare(cp(2))


def test_configuration_checks(chain: tuple[Web3, str, str]) -> None:
    """A wrong chain id or an address without the contract is refused at start."""
    w3, address, key = chain
    with pytest.raises(AnchorConfigError, match="chain id"):
        EvmAnchor(w3, address, key, expected_chain_id=1)
    with pytest.raises(AnchorConfigError, match="no contract"):
        EvmAnchor(w3, "0x" + "12" * 20, key)
    with pytest.raises(AnchorConfigError, match="address"):
        EvmAnchor(w3, "not-an-address", key)
    anchor = EvmAnchor(w3, address, key)
    pending = anchor.prepare(cp(1))
    with pytest.raises(AnchorConfigError, match="chain"):
        anchor.submit(replace(pending, chain_id=1))


def test_unreachable_rpc() -> None:
    """An RPC endpoint nobody listens on is 'unavailable', not a crash."""
    w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    with pytest.raises(AnchorUnavailableError):
        EvmAnchor(w3, "0x" + "12" * 20, "0x" + "11" * 32)


def test_an_unreachable_rpc_url_keeps_its_api_key_out_of_the_message() -> None:
    """Providers put the API key in the URL path: the message (and so the logs) cut it."""
    secret = "9aa3d95b3bc440fa88ea12eaa4456161"
    w3 = Web3(
        Web3.HTTPProvider(
            f"http://127.0.0.1:9/v3/{secret}", request_kwargs={"timeout": 2}
        )
    )
    with pytest.raises(AnchorUnavailableError) as caught:
        EvmAnchor(w3, "0x" + "12" * 20, "0x" + "11" * 32)
    assert secret not in str(caught.value)
    assert "chain unreachable" in str(caught.value)


def test_in_memory_anchor_has_the_contract_rules() -> None:
    """The fake chain refuses what the contract refuses and can go offline."""
    anchor = InMemoryAnchor(chain_id=7)
    pending = anchor.prepare(cp(4))
    assert anchor.submit(pending) == anchor.submit(pending)
    assert anchor.sent == 1
    assert anchor.anchored(cp(4).log_id) == (4, b"\x11" * 32)
    with pytest.raises(AnchorRejectedError):
        anchor.prepare(cp(4))
    stale = anchor.prepare(cp(6))
    anchor.submit(anchor.prepare(cp(8)))
    with pytest.raises(AnchorRejectedError):
        anchor.submit(stale)
    anchor.available = False
    with pytest.raises(AnchorUnavailableError):
        anchor.find(pending.tx_hash)
