"""Build the checkpoint anchor from settings: a JSON-RPC chain or the in-process one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ledger import Anchor, AnchorConfigError
from server.config import Settings

__all__ = ["ChainContext", "connect_chain", "in_process_chain"]

logger = logging.getLogger(__name__)


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


def connect_chain(settings: Settings) -> ChainContext | None:
    """Return the configured chain, the in-process one, or None when disabled.

    Raises:
        AnchorConfigError: an RPC URL without chain id, key file or contract.
        AnchorUnavailableError: the RPC endpoint cannot be reached.
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
    w3 = Web3(Web3.HTTPProvider(settings.chain_rpc_url.get_secret_value()))
    anchor = EvmAnchor(
        w3, settings.chain_contract, key, expected_chain_id=settings.chain_id
    )
    return ChainContext(anchor, ephemeral=False, contract=settings.chain_contract)
