"""Telephony drivers: the contract (base), the registry, and the built-in drivers."""
