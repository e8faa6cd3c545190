import pytest

from actions.services import action_execute


@pytest.fixture
def run(connection):
    """Run an action by slug against the test connection (Twilio mocked by `twilio`)."""

    def run_action(slug: str, **inputs):
        return action_execute(slug=slug, connection=connection, inputs=inputs)

    return run_action
