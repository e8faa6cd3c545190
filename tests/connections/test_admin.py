"""Connections in the admin: write-only secrets, verify on save, workspace scoping."""

import re

import pytest
import responses
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from connections.models import AUTH_FAILED_MESSAGE, Connection, ConnectionStatus
from tests.conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    account_body,
    account_url,
)
from workspaces.models import Role

ADD_URL = reverse("admin:connections_connection_add")


def change_url(connection):
    return reverse("admin:connections_connection_change", args=[connection.pk])


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(user)
    return client


def add_form(workspace, **overrides):
    data = {
        "workspace": workspace.pk,
        "name": "main",
        "kind": "auth_token",
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "api_key_sid": "",
        "api_key_secret": "",
    }
    data.update(overrides)
    return data


def page_text(response) -> str:
    return response.content.decode()


# The admin verifies after commit (a slow Twilio must not hold the write lock), so these
# tests commit for real.
@pytest.mark.django_db(transaction=True)
class TestVerifyOnSave:
    def test_saving_verifies_and_says_so(self, superuser_client, workspace, twilio):
        twilio.add(responses.GET, account_url(), json=account_body())
        response = superuser_client.post(ADD_URL, add_form(workspace), follow=True)
        connection = Connection.objects.get()
        assert connection.status == ConnectionStatus.VERIFIED
        assert connection.last_verified_at is not None
        assert "Verified: Acme Dental (active)" in page_text(response)
        assert twilio.calls[0].request.headers["Authorization"].startswith("Basic ")

    def test_401_marks_auth_failed_with_the_reconnect_message(self, superuser_client, workspace, twilio):
        twilio.add(
            responses.GET,
            account_url(),
            status=401,
            json={"code": 20003, "message": "Authenticate", "status": 401},
        )
        response = superuser_client.post(ADD_URL, add_form(workspace), follow=True)
        connection = Connection.objects.get()
        assert connection.status == ConnectionStatus.AUTH_FAILED
        assert connection.last_error.startswith(AUTH_FAILED_MESSAGE)
        assert AUTH_FAILED_MESSAGE in page_text(response)

    def test_network_trouble_keeps_the_connection_unverified(self, superuser_client, workspace, twilio):
        import requests

        twilio.add(responses.GET, account_url(), body=requests.ConnectTimeout("no route"))
        response = superuser_client.post(ADD_URL, add_form(workspace), follow=True)
        connection = Connection.objects.get()
        assert connection.status == ConnectionStatus.UNVERIFIED
        assert "Could not verify right now (CONNECTION_FAILED)" in page_text(response)

    def test_admin_action_verifies_many(self, superuser_client, make_connection, twilio):
        first = make_connection(name="one")
        second = make_connection(name="two")
        twilio.add(responses.GET, account_url(), json=account_body())
        superuser_client.post(
            reverse("admin:connections_connection_changelist"),
            {"action": "verify_connections", "_selected_action": [first.pk, second.pk]},
        )
        assert set(Connection.objects.values_list("status", flat=True)) == {ConnectionStatus.VERIFIED}
        assert len(twilio.calls) == 2


class TestSecretsStayHidden:
    def test_secret_is_ciphertext_in_the_raw_row(self, connection):
        from django.db import connection as db

        with db.cursor() as cursor:
            cursor.execute("SELECT auth_token FROM connections_connection WHERE id = %s", [connection.pk])
            raw = bytes(cursor.fetchone()[0])
        assert AUTH_TOKEN.encode() not in raw
        assert raw.startswith(b"gAAAA")  # a Fernet token
        assert Connection.objects.get().auth_token == AUTH_TOKEN

    @pytest.mark.django_db(transaction=True)
    def test_no_admin_page_shows_the_secret(self, superuser_client, workspace, twilio):
        twilio.add(responses.GET, account_url(), json=account_body())
        superuser_client.post(
            ADD_URL,
            add_form(workspace, kind="api_key", api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET),
        )
        assert len(twilio.calls) == 1
        connection = Connection.objects.get()
        pages = [
            superuser_client.get(reverse("admin:connections_connection_changelist")),
            superuser_client.get(change_url(connection)),
            superuser_client.get(reverse("admin:connections_connection_history", args=[connection.pk])),
            superuser_client.get(reverse("admin:index")),
        ]
        for page in pages:
            assert page.status_code == 200
            html = page_text(page)
            assert AUTH_TOKEN not in html
            assert API_KEY_SECRET not in html
        change = page_text(pages[1])
        assert "••••" + AUTH_TOKEN[-4:] in change  # masked, so two tokens can be told apart
        assert "••••" + API_KEY_SECRET[-4:] in change
        assert not re.search(r'name="auth_token"[^>]*value="[^"]+"', change)
        for entry in LogEntry.objects.all():
            assert AUTH_TOKEN not in entry.change_message
            assert AUTH_TOKEN not in entry.object_repr

    def test_blank_secret_keeps_the_stored_value(self, superuser_client, connection, twilio):
        twilio.add(responses.GET, account_url(), json=account_body())
        data = add_form(connection.workspace, name="renamed", auth_token="")
        response = superuser_client.post(change_url(connection), data)
        assert response.status_code == 302
        connection.refresh_from_db()
        assert connection.name == "renamed"
        assert connection.auth_token == AUTH_TOKEN

    def test_a_new_secret_replaces_the_old(self, superuser_client, connection, twilio):
        twilio.add(responses.GET, account_url(), json=account_body())
        superuser_client.post(change_url(connection), add_form(connection.workspace, auth_token="f" * 32))
        connection.refresh_from_db()
        assert connection.auth_token == "f" * 32

    def test_field_errors_name_the_field(self, superuser_client, workspace, twilio):
        response = superuser_client.post(ADD_URL, add_form(workspace, account_sid="AC123", auth_token=""))
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "account_sid" in errors
        assert "auth_token" in errors
        assert len(twilio.calls) == 0
        assert Connection.objects.count() == 0

    def test_auth_token_can_be_cleared_only_on_api_key_connections(
        self, superuser_client, make_connection, twilio
    ):
        twilio.add(responses.GET, account_url(), json=account_body())
        keyed = make_connection(kind="api_key", api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET)
        superuser_client.post(
            change_url(keyed),
            add_form(
                keyed.workspace, kind="api_key", api_key_sid=API_KEY_SID, auth_token="", clear_auth_token="on"
            ),
        )
        keyed.refresh_from_db()
        assert keyed.auth_token is None
        assert keyed.api_key_secret == API_KEY_SECRET


class TestWorkspaceScoping:
    def test_staff_of_a_cannot_see_or_open_bs_connection(
        self, client, make_staff, workspace, other_workspace
    ):
        from connections.services import connection_create

        ours = connection_create(
            workspace=workspace, name="ours", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
        )
        theirs = connection_create(
            workspace=other_workspace, name="theirs", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
        )
        client.force_login(make_staff("alice", workspace, Role.ADMIN))

        listing = page_text(client.get(reverse("admin:connections_connection_changelist")))
        assert "ours" in listing
        assert "theirs" not in listing
        # Someone else's object is indistinguishable from a missing one.
        response = client.get(change_url(theirs))
        assert response.status_code == 302 and response.url == reverse("admin:index")
        assert client.post(change_url(theirs), add_form(other_workspace, name="x")).status_code in (302, 403)
        theirs.refresh_from_db()
        assert theirs.name == "theirs"
        assert client.get(change_url(ours)).status_code == 200

    def test_the_add_form_offers_only_my_workspaces(
        self, client, make_staff, workspace, other_workspace, twilio
    ):
        client.force_login(make_staff("alice", workspace, Role.OWNER))
        form = client.get(ADD_URL).context["adminform"].form
        assert list(form.fields["workspace"].queryset) == [workspace]
        response = client.post(ADD_URL, add_form(other_workspace))
        assert "workspace" in response.context["adminform"].form.errors
        assert Connection.objects.count() == 0

    def test_viewer_may_look_but_not_change(self, client, make_staff, connection, twilio):
        client.force_login(make_staff("vera", connection.workspace, Role.VIEWER))
        page = client.get(change_url(connection))
        assert page.status_code == 200
        assert 'name="_save"' not in page_text(page)
        response = client.post(change_url(connection), add_form(connection.workspace, name="hijack"))
        assert response.status_code == 403
        connection.refresh_from_db()
        assert connection.name == "main"
        assert client.get(ADD_URL).status_code == 403

    def test_operators_do_not_manage_credentials(self, client, make_staff, connection):
        client.force_login(make_staff("otto", connection.workspace, Role.OPERATOR))
        assert client.get(change_url(connection)).status_code == 200
        assert client.post(change_url(connection), add_form(connection.workspace)).status_code == 403

    def test_staff_without_membership_sees_nothing(self, client, make_staff, connection):
        client.force_login(make_staff("nobody"))
        assert client.get(reverse("admin:connections_connection_changelist")).status_code == 403
        index = page_text(client.get(reverse("admin:index")))
        assert "Twilio connections" not in index

    def test_workspace_admin_is_scoped_too(self, client, make_staff, workspace, other_workspace):
        client.force_login(make_staff("alice", workspace, Role.VIEWER))
        listing = page_text(client.get(reverse("admin:workspaces_workspace_changelist")))
        assert "Acme Dental" in listing
        assert "Bistro Nord" not in listing


def test_the_connection_page_shows_its_webhook_urls(superuser_client, connection, settings):
    settings.PUBLIC_BASE_URL = "https://flow.example.com"
    html = page_text(superuser_client.get(change_url(connection)))
    for purpose in ("messages", "voice", "status"):
        assert f"https://flow.example.com/hooks/twilio/{connection.public_id}/{purpose}" in html
