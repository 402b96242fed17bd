"""Ledger adapters: in-memory log and anchor (tests, dev) and the EVM anchor."""
