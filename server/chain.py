"""Build the checkpoint anchor from settings: a JSON-RPC chain or the in-process one.

A JSON-RPC endpoint that does not answer when the server starts does not stop
it: the anchor connects on first use (:class:`DeferredAnchor`), and until then
every call is "unavailable", which the ledger's background anchorer retries
with backoff. Each call to the endpoint gives up after :data:`RPC_TIMEOUT_S`
seconds and is not retried by web3 (the anchorer's backoff is the one retry
policy).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger import (
    Anchor,
    AnchorConfigError,
    AnchorReceipt,
    AnchorUnavailableError,
    Checkpoint,
    PendingAnchor,
)
from server.config import Settings

if TYPE_CHECKING:
    from ledger.adapters.evm import EvmAnchor

__all__ = [
    "RPC_TIMEOUT_S",
    "ChainContext",
    "DeferredAnchor",
    "connect_chain",
    "in_process_chain",
]

logger = logging.getLogger(__name__)

RPC_TIMEOUT_S = 10.0
"""Seconds one JSON-RPC call may take (connect and answer) before it is 'unavailable'."""


@dataclass(frozen=True)
class ChainContext:
    """An anchor and whether its chain outlives the process.

    Attributes:
        anchor: the :class:`ledger.Anchor`.
        ephemeral: True for the in-process chain, whose history dies with the
            process: anchors recorded by an earlier process cannot be re-checked.
        contract: the LedgerAnchor contract address.
    """

    anchor: Anchor
    ephemeral: bool
    contract: str


def in_process_chain() -> ChainContext:
    """Start web3's in-process eth-tester chain, fund an account, deploy the contract."""
    from eth_account import Account
    from web3 import Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    from ledger.adapters.evm import EvmAnchor, deploy_anchor_contract

    w3 = Web3(EthereumTesterProvider())
    account = Account.create()
    key = "0x" + bytes(account.key).hex()
    tx = w3.eth.send_transaction(
        {
            "from": w3.eth.accounts[0],
            "to": account.address,
            # 100 test ether: enough for every anchor of a demo or test run.
            "value": Web3.to_wei(100, "ether"),
        }
    )
    w3.eth.wait_for_transaction_receipt(tx)
    contract = deploy_anchor_contract(w3, key)
    return ChainContext(EvmAnchor(w3, contract, key), ephemeral=True, contract=contract)


class DeferredAnchor:
    """An :class:`ledger.Anchor` whose chain is connected on first use.

    For an endpoint that did not answer when the server started: each call
    tries to connect (checking the chain id and the contract) until one
    succeeds, and until then raises :class:`ledger.AnchorUnavailableError`,
    like a connected anchor whose chain went away.

    Args:
        connect: makes the connected anchor; raises AnchorUnavailableError
            while the endpoint does not answer, AnchorConfigError when it
            answers but is not the configured chain or contract.
        chain_id: the configured chain id, reported before the first connection.
    """

    def __init__(self, connect: Callable[[], EvmAnchor], chain_id: int) -> None:
        self._connect = connect
        self._configured_chain_id = chain_id
        self._anchor: EvmAnchor | None = None
        self._lock = threading.Lock()

    def _get(self) -> EvmAnchor:
        with self._lock:
            if self._anchor is None:
                self._anchor = self._connect()
                logger.warning("chain endpoint answers: anchoring can start")
            return self._anchor

    @property
    def chain_id(self) -> int:
        """The chain's EIP-155 id (the configured one until connected)."""
        anchor = self._anchor
        return anchor.chain_id if anchor is not None else self._configured_chain_id

    def prepare(self, checkpoint: Checkpoint) -> PendingAnchor:
        """:meth:`EvmAnchor.prepare`, once connected."""
        return self._get().prepare(checkpoint)

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        """:meth:`EvmAnchor.submit`, once connected."""
        return self._get().submit(pending)

    def find(self, tx_hash: str) -> AnchorReceipt | None:
        """:meth:`EvmAnchor.find`, once connected."""
        return self._get().find(tx_hash)

    def anchored(self, log_id: bytes) -> tuple[int, bytes]:
        """:meth:`EvmAnchor.anchored`, once connected."""
        return self._get().anchored(log_id)


def connect_chain(settings: Settings) -> ChainContext | None:
    """Return the configured chain, the in-process one, or None when disabled.

    An endpoint that does not answer now is connected later
    (:class:`DeferredAnchor`), with a warning: the server starts, and anchors
    once the chain answers.

    Raises:
        AnchorConfigError: an RPC URL without chain id, key file or contract;
            or the endpoint answers with another chain id, or no contract.
    """
    if not settings.anchor_enabled:
        return None
    if settings.chain_rpc_url is None:
        return in_process_chain()
    from web3 import Web3

    from ledger.adapters.evm import EvmAnchor

    if settings.chain_id is None or settings.chain_key_file is None:
        raise AnchorConfigError("AGRI_CHAIN_ID and AGRI_CHAIN_KEY_FILE are required")
    if settings.chain_contract is None:
        raise AnchorConfigError(
            "AGRI_CHAIN_CONTRACT is not set: deploy with 'agri ledger deploy-anchor'"
        )
    try:
        key = settings.chain_key_file.read_text().strip()
    except OSError as exc:
        raise AnchorConfigError(f"cannot read AGRI_CHAIN_KEY_FILE: {exc}") from exc
    w3 = Web3(
        Web3.HTTPProvider(
            settings.chain_rpc_url.get_secret_value(),
            request_kwargs={"timeout": RPC_TIMEOUT_S},
            exception_retry_configuration=None,
        )
    )
    contract, chain_id = settings.chain_contract, settings.chain_id

    def connect() -> EvmAnchor:
        return EvmAnchor(w3, contract, key, expected_chain_id=chain_id)

    anchor: Anchor
    try:
        anchor = connect()
    except AnchorUnavailableError as exc:
        logger.warning(
            "the chain does not answer (%s): serving without anchoring until it "
            "does; checkpoints are signed meanwhile and anchored then",
            exc,
        )
        anchor = DeferredAnchor(connect, chain_id)
    return ChainContext(anchor, ephemeral=False, contract=contract)
