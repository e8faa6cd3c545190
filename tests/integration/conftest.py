"""Fixtures for tests that run real local processes (Prism).

Without node or the prism binary the Prism tests skip, except in CI (`CI=true`), where a
missing Prism is a failure: CI must run the conformance check.
"""

from __future__ import annotations

import os

import pytest

from tests.integration import prism as prism_lib


@pytest.fixture(scope="session")
def prism(tmp_path_factory) -> dict[str, prism_lib.PrismServer]:
    """One Prism per Twilio spec, started in parallel, stopped at session end.
    Maps product ("api", "lookups", "verify", "conversations", "messaging") to its server."""
    reason = prism_lib.missing_prerequisites()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the Prism conformance tests, but {reason}", pytrace=False)
        pytest.skip(f"Prism conformance tests skipped: {reason}")
    try:
        servers = prism_lib.start_all(tmp_path_factory.mktemp("prism"))
    except prism_lib.PrismError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield servers
    finally:
        prism_lib.stop_all(servers)


@pytest.fixture
def prism_settings(prism, settings) -> dict[str, str]:
    """Point every TWILIO_*_BASE setting at its Prism; returns setting name -> URL."""
    bases = {}
    for server in prism.values():
        setattr(settings, server.setting, server.url)
        bases[server.setting] = server.url
    return bases
