"""Workflow fixtures (make_workflow, fake_clock) live in tests/conftest.py."""
