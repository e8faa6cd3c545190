import pytest

from actions.registry import action_get
from compliance.selectors import policy_get


@pytest.fixture
def policy(workspace):
    return policy_get(workspace)


@pytest.fixture
def cleaned(workspace):
    def clean(slug="twilio/send-sms", **inputs):
        return action_get(slug).validate(inputs, default_country=workspace.default_country)

    return clean
