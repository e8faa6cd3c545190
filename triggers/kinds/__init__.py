"""Trigger kinds: one module per kind of inbound Twilio request (see `base.py` for the
contract and `registry.py` for discovery and detection)."""
