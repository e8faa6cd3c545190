"""API keys (hash only, shown once, scopes, expiry, revocation, last used), staff sessions
with the admin's roles, throttling per key with Retry-After."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import api_key_create, api_key_revoke
from api.models import WorkspaceApiKey
from workflows.models import Run
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def with_key(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


class TestKeys:
    def test_the_secret_is_stored_only_as_a_hash(self, workspace):
        key, secret = api_key_create(workspace=workspace, name="crm", scope="run")
        stored = WorkspaceApiKey.objects.get(pk=key.pk)
        prefix, _, rest = secret.partition(".")
        assert stored.prefix == prefix
        assert rest not in stored.hashed_key and secret not in stored.id
        assert stored.hashed_key.startswith("sha512$$")

    @pytest.mark.parametrize(
        "header",
        ["", "Api-Key", "Api-Key nodot", "Api-Key abc.def", "Bearer " + "x" * 300, "Basic Zm9vOmJhcg=="],
    )
    def test_missing_or_wrong_key_is_401_in_the_error_shape(self, header, workspace):
        client = APIClient()
        if header:
            client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/workflows")
        assert response.status_code == 401
        body = response.json()
        assert set(body) >= {"code", "message", "fields"} and body["code"] == "NOT_AUTHENTICATED"

    def test_bearer_works_too(self, workspace, make_key):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(workspace, 'read')}")
        assert client.get("/api/v1/workflows").status_code == 200

    def test_revoked_and_expired_keys_are_refused(self, workspace):
        key, secret = api_key_create(workspace=workspace, name="old", scope="read")
        assert with_key(secret).get("/api/v1/runs").status_code == 200
        api_key_revoke(key=key)
        assert with_key(secret).get("/api/v1/runs").status_code == 401
        _, expired = api_key_create(
            workspace=workspace, name="exp", scope="read", expires_at=timezone.now() - timedelta(seconds=1)
        )
        response = with_key(expired).get("/api/v1/runs")
        assert response.status_code == 401 and "expired" in response.json()["message"]

    def test_last_used_is_recorded(self, workspace):
        key, secret = api_key_create(workspace=workspace, name="crm", scope="read")
        assert key.last_used_at is None
        with_key(secret).get("/api/v1/workspaces")
        key.refresh_from_db()
        assert key.last_used_at is not None

    def test_command_prints_a_working_key_once(self, workspace, capsys):
        call_command("apikey_create", "--workspace", "acme", "--name", "crm", "--scope", "run")
        secret = capsys.readouterr().out.strip()
        assert with_key(secret).get("/api/v1/workspaces").json()["results"][0]["slug"] == "acme"
        assert WorkspaceApiKey.objects.get().scope == "run"

    def test_admin_shows_the_key_once(self, client, django_user_model, workspace):
        client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
        response = client.post(
            "/admin/api/workspaceapikey/add/",
            {"workspace": workspace.pk, "name": "crm", "scope": "read"},
            follow=True,
        )
        key = WorkspaceApiKey.objects.get()
        page = response.content.decode()
        secret = page.split(f"{key.prefix}.", 1)[1].split(" ", 1)[0]
        assert with_key(f"{key.prefix}.{secret}").get("/api/v1/workspaces").status_code == 200
        again = client.get(f"/admin/api/workspaceapikey/{key.pk}/change/").content.decode()
        assert secret not in again


class TestScopes:
    @pytest.fixture
    def endpoints(self, simple_workflow, connection):
        return {
            "read": ("get", "/api/v1/runs", None),
            "run": ("post", f"/api/v1/workflows/{simple_workflow.pk}/runs", {}),
            "edit": ("post", f"/api/v1/workflows/{simple_workflow.pk}/disable", None),
            "manage": ("post", "/api/v1/consent", {"contact": "+14155550123", "kind": "opt_out"}),
        }

    @pytest.mark.parametrize(
        ("scope", "allowed"),
        [
            ("read", {"read"}),
            ("run", {"read", "run"}),
            ("manage", {"read", "run", "edit", "manage"}),
        ],
    )
    def test_each_scope_allows_exactly_its_operations(self, api_as, workspace, endpoints, scope, allowed):
        client = api_as(workspace, scope)
        for need, (method, url, body) in endpoints.items():
            response = getattr(client, method)(url, body, format="json")
            if need in allowed:
                assert response.status_code < 400, (scope, need, response.content)
            else:
                assert response.status_code == 403, (scope, need, response.content)
                assert response.json()["code"] == "PERMISSION_DENIED"

    def test_a_read_key_starts_nothing(self, api_as, workspace, simple_workflow):
        api_as(workspace, "read").post(f"/api/v1/workflows/{simple_workflow.pk}/runs", {}, format="json")
        assert not Run.objects.exists()


class TestStaffSessions:
    def test_roles_follow_the_admin(self, client, make_staff, workspace, other_workspace, simple_workflow):
        viewer = make_staff("vera", workspace, Role.VIEWER)
        client.force_login(viewer)
        assert client.get("/api/v1/workflows").status_code == 200
        response = client.post(
            f"/api/v1/workflows/{simple_workflow.pk}/runs", {}, content_type="application/json"
        )
        assert response.status_code == 403

    def test_an_operator_starts_runs_but_cannot_add_connections(self, make_staff, workspace, simple_workflow):
        client = APIClient()
        client.force_login(make_staff("otto", workspace, Role.OPERATOR))
        assert (
            client.post(f"/api/v1/workflows/{simple_workflow.pk}/runs", {}, format="json").status_code == 202
        )
        response = client.post(
            "/api/v1/connections",
            {"name": "x", "account_sid": "AC" + "1" * 32, "auth_token": "t" * 32},
            format="json",
        )
        assert response.status_code == 403

    def test_a_session_write_needs_the_csrf_token(self, make_staff, workspace, simple_workflow):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(make_staff("otto", workspace, Role.OPERATOR))
        response = client.post(f"/api/v1/workflows/{simple_workflow.pk}/runs", {}, format="json")
        assert response.status_code == 403 and "CSRF" in response.json()["message"]
        assert not Run.objects.exists()

    def test_non_staff_users_have_no_session_access(self, client, django_user_model):
        user = django_user_model.objects.create_user("pat", password="pw")
        client.force_login(user)
        assert client.get("/api/v1/workspaces").status_code == 401


def test_throttle_is_per_key_with_retry_after(settings, workspace, make_key):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "3/min"}}
    from django.core.cache import cache

    cache.clear()
    first, second = with_key(make_key(workspace, "read")), with_key(make_key(workspace, "read"))
    codes = [first.get("/api/v1/runs").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = first.get("/api/v1/runs")
    assert limited.json()["code"] == "RATE_LIMITED" and int(limited["Retry-After"]) > 0
    assert second.get("/api/v1/runs").status_code == 200  # another key has its own budget
