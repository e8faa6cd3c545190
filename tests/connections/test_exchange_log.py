"""The connection's exchange log: read-only Twilio calls made outside any run (verify,
numbers sync, pickers) are kept redacted and capped, and shown on the connection page to
that workspace's owners and admins only."""

import pytest
import responses
from django.urls import reverse

from actions.pickers import picker_options
from connections.models import ConnectionExchange
from connections.services import EXCHANGES_KEPT, connection_exchanges_record, connection_verify
from tests.conftest import ACCOUNT_SID, API, AUTH_TOKEN, account_body, account_url
from triggers.numbers import numbers_sync
from workspaces.models import Role

NUMBERS = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
PN1 = "PN" + "1" * 32


def change_url(connection):
    return reverse("admin:connections_connection_change", args=[connection.pk])


def stored(connection) -> str:
    return " ".join(
        f"{row.url} {row.error} {row.request_excerpt} {row.response_excerpt}"
        for row in ConnectionExchange.objects.filter(connection=connection)
    )


def test_verify_is_logged_without_the_secret_twilio_echoes(connection, twilio):
    # The Account resource really returns the auth_token: it must not reach the log.
    twilio.add(responses.GET, account_url(), json=account_body(auth_token=AUTH_TOKEN))
    assert connection_verify(connection=connection)[0]
    row = ConnectionExchange.objects.get(connection=connection)
    assert (row.purpose, row.method, row.status) == ("verify", "GET", 200)
    assert row.url == account_url() and row.duration_ms is not None
    assert "Acme Dental" in row.response_excerpt
    assert AUTH_TOKEN not in stored(connection)


def test_a_failed_verify_is_logged_with_its_error(connection, twilio):
    twilio.add(responses.GET, account_url(), status=401, json={"code": 20003, "message": "Authenticate"})
    assert not connection_verify(connection=connection)[0]
    row = ConnectionExchange.objects.get(connection=connection)
    assert row.status == 401 and row.error_code == "AUTH_EXPIRED"


def test_numbers_sync_is_logged(connection, twilio):
    twilio.add(
        responses.GET,
        NUMBERS,
        json={
            "incoming_phone_numbers": [{"sid": PN1, "phone_number": "+15017122661"}],
            "next_page_uri": None,
        },
    )
    numbers_sync(connection=connection)
    row = ConnectionExchange.objects.get(connection=connection)
    assert row.purpose == "numbers_sync" and row.url.startswith(NUMBERS) and "PageSize=1000" in row.url


def test_a_picker_refresh_is_logged(connection, twilio):
    twilio.add(
        responses.GET,
        NUMBERS,
        json={
            "incoming_phone_numbers": [{"sid": PN1, "phone_number": "+15017122661"}],
            "next_page_uri": None,
        },
    )
    picker_options(connection=connection, picker="phone_numbers", refresh=True)
    picker_options(connection=connection, picker="phone_numbers")  # cached: no request, no row
    assert list(ConnectionExchange.objects.values_list("purpose", flat=True)) == ["picker:phone_numbers"]


def test_the_log_is_capped_per_connection(connection, make_connection):
    other = make_connection(name="second")
    entry = {
        "method": "GET",
        "url": "https://api.twilio.com/x",
        "request_headers": {},
        "request_body": None,
        "status": 200,
    }
    connection_exchanges_record(connection=other, purpose="verify", exchanges=[entry])
    for _ in range(3):
        connection_exchanges_record(
            connection=connection, purpose="verify", exchanges=[entry] * (EXCHANGES_KEPT // 2 + 1)
        )
    assert ConnectionExchange.objects.filter(connection=connection).count() == EXCHANGES_KEPT
    assert ConnectionExchange.objects.filter(connection=other).count() == 1


def test_a_secret_in_a_recorded_body_is_redacted_again(connection):
    connection_exchanges_record(
        connection=connection,
        purpose="verify",
        exchanges=[
            {
                "method": "GET",
                "url": f"https://api.twilio.com/x?AuthToken={AUTH_TOKEN}",
                "request_headers": {},
                "request_body": {"form": [["Password", AUTH_TOKEN]]},
                "status": 200,
                "response_body": {"auth_token": AUTH_TOKEN, "note": f"token {AUTH_TOKEN}"},
            }
        ],
    )
    assert AUTH_TOKEN not in stored(connection)


class TestOnTheConnectionPage:
    @pytest.fixture
    def logged(self, connection, twilio):
        twilio.add(responses.GET, account_url(), json=account_body(auth_token=AUTH_TOKEN))
        connection_verify(connection=connection)
        return connection

    @pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
    def test_owners_and_admins_see_it(self, client, make_staff, logged, role):
        client.force_login(make_staff(f"u-{role}", logged.workspace, role))
        page = client.get(change_url(logged)).content.decode()
        assert "Recent Twilio requests outside runs" in page
        assert f"GET {account_url()}" in page and "verify" in page
        assert AUTH_TOKEN not in page

    @pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
    def test_other_roles_do_not(self, client, make_staff, logged, role):
        client.force_login(make_staff(f"u-{role}", logged.workspace, role))
        response = client.get(change_url(logged))
        assert response.status_code == 200
        assert "Recent Twilio requests outside runs" not in response.content.decode()

    def test_another_workspaces_owner_cannot_reach_it(self, client, make_staff, logged, other_workspace):
        client.force_login(make_staff("stranger", other_workspace, Role.OWNER))
        response = client.get(change_url(logged))
        assert response.status_code in (302, 403, 404)
        assert f"GET {account_url()}" not in response.content.decode()
