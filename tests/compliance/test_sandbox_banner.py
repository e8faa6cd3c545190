"""The sandbox banner is on every admin page for a user whose workspace is in sandbox mode,
and names only that user's workspaces."""

from django.urls import reverse

from compliance.selectors import policy_get
from workspaces.models import Role, Workspace


def test_sandbox_banner_on_every_admin_page_for_own_workspaces_only(client, make_staff, workspace):
    policy = policy_get(workspace)
    policy.sandbox = True
    policy.save()
    other = Workspace.objects.create(name="Quokkaville", slug="quokka")
    other_policy = policy_get(other)
    other_policy.sandbox = True
    other_policy.save()
    client.force_login(make_staff("ops", workspace, Role.OPERATOR))
    for url in (
        reverse("admin:index"),
        reverse("admin:workflows_run_changelist"),
        reverse("admin:campaigns_campaign_changelist"),
    ):
        html = client.get(url).content.decode()
        assert "tf-sandbox-banner" in html and "Sandbox mode: Acme Dental" in html, url
        assert "Quokkaville" not in html
    stranger = Workspace.objects.create(name="Live Co", slug="live")
    client.force_login(make_staff("live-ops", stranger, Role.OPERATOR))
    assert "tf-sandbox-banner" not in client.get(reverse("admin:index")).content.decode()
