"""The LedgerAnchor Solidity contract, its compiled artifact and its build script."""
