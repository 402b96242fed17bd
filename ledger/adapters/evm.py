"""Anchor checkpoints on an EVM chain through web3.py (the only module importing web3)."""

from __future__ import annotations

import json
import logging
import re
from functools import cache
from importlib import resources
from typing import Any

from eth_account import Account
from eth_utils.exceptions import ValidationError as _EthValidationError
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
)

from ledger.errors import (
    AnchorConfigError,
    AnchorRejectedError,
    AnchorUnavailableError,
)
from ledger.models import AnchorReceipt, Checkpoint
from ledger.ports import PendingAnchor

try:  # eth-tester (tests and the demo) reports reverts with its own exception
    from eth_tester.exceptions import TransactionFailed as _TesterFailed
except ImportError:  # pragma: no cover - production installs have no eth-tester

    class _TesterFailed(Exception):  # type: ignore[no-redef]
        """Stand-in so the except clauses below stay valid."""


# What a node or eth-tester raises when it refuses a transaction.
_REFUSED = (Web3Exception, ValueError, _EthValidationError, _TesterFailed)

__all__ = ["EvmAnchor", "contract_artifact", "deploy_anchor_contract"]

logger = logging.getLogger(__name__)

RECEIPT_TIMEOUT_S = 120.0  # how long submit() waits for a transaction to be mined


@cache
def contract_artifact() -> dict[str, Any]:
    """Return the committed ABI and bytecode of ``LedgerAnchor.sol``."""
    text = resources.files("ledger.contracts").joinpath("LedgerAnchor.json").read_text()
    artifact: dict[str, Any] = json.loads(text)
    return artifact


# A URL's path, whole ("http://host/v3/KEY") or as urllib3 quotes it ("url: /v3/KEY").
_URL_PATH = re.compile(r"(https?://[^/\s'\"]+|url: )/[^\s'\"]*")


def _unavailable(exc: Exception) -> AnchorUnavailableError:
    """The chain cannot be reached; URL paths are cut (they may hold an API key)."""
    return AnchorUnavailableError(
        "chain unreachable: " + _URL_PATH.sub(r"\1/...", str(exc))
    )


def deploy_anchor_contract(w3: Web3, private_key: str) -> str:
    """Deploy ``LedgerAnchor`` from the account of ``private_key``; return its address.

    Raises:
        AnchorUnavailableError: the chain cannot be reached.
        AnchorRejectedError: the deployment reverted or was refused.
    """
    account = Account.from_key(private_key)
    art = contract_artifact()
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    try:
        tx = factory.constructor().build_transaction(
            {
                "from": account.address,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                "chainId": w3.eth.chain_id,
            }
        )
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=RECEIPT_TIMEOUT_S
        )
    except (OSError, TimeExhausted) as exc:
        raise _unavailable(exc) from exc
    except _REFUSED as exc:
        raise AnchorRejectedError(f"contract deployment refused: {exc}") from exc
    if receipt["status"] != 1:
        raise AnchorRejectedError("contract deployment reverted")
    address = str(receipt["contractAddress"])
    logger.info("LedgerAnchor deployed at %s", address)
    return address


class EvmAnchor:
    """The :class:`ledger.ports.Anchor` of a ``LedgerAnchor`` contract.

    Args:
        w3: a connected Web3 (HTTP provider in production, eth-tester in tests).
        contract_address: the deployed ``LedgerAnchor``.
        private_key: hex key of the account that anchors (the log's only writer).
        expected_chain_id: refuse to start on any other chain (EIP-155 id).

    Raises:
        AnchorUnavailableError: the chain cannot be reached to read its id.
        AnchorConfigError: the chain id differs, or no contract is at the address.
    """

    def __init__(
        self,
        w3: Web3,
        contract_address: str,
        private_key: str,
        *,
        expected_chain_id: int | None = None,
    ) -> None:
        self._w3 = w3
        try:
            self._chain_id = int(w3.eth.chain_id)
            code = w3.eth.get_code(Web3.to_checksum_address(contract_address))
        except (OSError, Web3Exception) as exc:
            raise _unavailable(exc) from exc
        except ValueError as exc:
            raise AnchorConfigError(f"bad contract address: {exc}") from exc
        if expected_chain_id is not None and self._chain_id != expected_chain_id:
            raise AnchorConfigError(
                f"chain id is {self._chain_id}, configuration expects "
                f"{expected_chain_id}: check AGRI_CHAIN_RPC_URL and AGRI_CHAIN_ID"
            )
        if not code:
            raise AnchorConfigError(f"no contract at {contract_address}")
        self._account = Account.from_key(private_key)
        self._contract = w3.eth.contract(
            address=Web3.to_checksum_address(contract_address),
            abi=contract_artifact()["abi"],
        )

    @property
    def chain_id(self) -> int:
        """The chain's EIP-155 id."""
        return self._chain_id

    @property
    def address(self) -> str:
        """The anchoring account's address."""
        return str(self._account.address)

    def prepare(self, checkpoint: Checkpoint) -> PendingAnchor:
        """Build and sign the ``anchor`` call for a checkpoint, without sending it.

        Raises:
            AnchorUnavailableError: the chain cannot be reached.
            AnchorRejectedError: the contract would revert (size not increasing,
                another writer owns this log id).
        """
        try:
            tx = self._contract.functions.anchor(
                checkpoint.log_id, checkpoint.size, checkpoint.root_hash
            ).build_transaction(
                {
                    "from": self._account.address,
                    "nonce": self._w3.eth.get_transaction_count(
                        self._account.address, "pending"
                    ),
                    "chainId": self._chain_id,
                }
            )
        except ContractLogicError as exc:
            raise AnchorRejectedError(f"anchor contract refuses: {exc}") from exc
        except (OSError, TimeExhausted) as exc:
            raise _unavailable(exc) from exc
        except _REFUSED as exc:
            # Gas estimation runs the call: a revert (size not increasing, another
            # writer) surfaces here, before anything is signed or recorded.
            raise AnchorRejectedError(f"anchor transaction refused: {exc}") from exc
        signed = self._account.sign_transaction(tx)
        return PendingAnchor(
            chain_id=self._chain_id,
            log_id=checkpoint.log_id,
            tree_size=checkpoint.size,
            root_hash=checkpoint.root_hash,
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw_tx=bytes(signed.raw_transaction),
        )

    def find(self, tx_hash: str) -> AnchorReceipt | None:
        """Return the receipt of a mined anchor transaction, or None."""
        try:
            receipt = self._w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        except (OSError, Web3Exception) as exc:
            raise _unavailable(exc) from exc
        if receipt["status"] != 1:
            raise AnchorRejectedError(f"anchor transaction {tx_hash} reverted")
        return AnchorReceipt(self._chain_id, tx_hash, int(receipt["blockNumber"]))

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        """Send a prepared transaction unless already mined, and wait for it.

        Idempotent: the transaction has a fixed nonce, so it lands at most once.
        """
        if pending.chain_id != self._chain_id:
            raise AnchorConfigError(
                f"pending anchor is for chain {pending.chain_id}, not {self._chain_id}"
            )
        mined = self.find(pending.tx_hash)
        if mined is not None:
            return mined
        try:
            self._w3.eth.send_raw_transaction(pending.raw_tx)
        except (OSError, TimeExhausted) as exc:
            raise _unavailable(exc) from exc
        except _REFUSED as exc:
            # Already known / nonce too low: it may have been mined meanwhile.
            mined = self.find(pending.tx_hash)
            if mined is not None:
                return mined
            raise AnchorRejectedError(f"anchor transaction refused: {exc}") from exc
        try:
            self._w3.eth.wait_for_transaction_receipt(
                pending.tx_hash,  # type: ignore[arg-type]
                timeout=RECEIPT_TIMEOUT_S,
            )
        except (OSError, TimeExhausted) as exc:
            raise _unavailable(exc) from exc
        receipt = self.find(pending.tx_hash)
        if receipt is None:  # pragma: no cover - the node just said it was mined
            raise AnchorUnavailableError(f"{pending.tx_hash} mined but not found")
        logger.info(
            "anchored size %d in tx %s (block %d)",
            pending.tree_size,
            receipt.tx_hash,
            receipt.block_number,
        )
        return receipt

    def anchored(self, log_id: bytes) -> tuple[int, bytes]:
        """Return the latest ``(tree_size, root)`` anchored for ``log_id``."""
        try:
            size, root, _writer = self._contract.functions.latest(log_id).call()
        except (OSError, Web3Exception) as exc:
            raise _unavailable(exc) from exc
        return int(size), bytes(root)
