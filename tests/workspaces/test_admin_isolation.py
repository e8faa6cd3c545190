"""Workspace isolation in the admin: a staff user of one workspace, in every role, walks every
registered admin (change lists with their filters and facets, add and change forms with their
inlines, history pages, autocompletes, actions) and never sees a name from another workspace;
another workspace's objects are "doesn't exist" (or forbidden), never shown."""

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, reverse
from django_q.models import Schedule

from connections.services import connection_create
from triggers.models import MatchStatus, PhoneNumber, Trigger, TriggerEvent
from workflows.models import ReplyWait, Run, Step, StepRun, Workflow
from workflows.services import run_create
from workspaces.models import Membership, Role, Workspace
from workspaces.selectors import scope_to_workspaces, workspace_lookup

MARK = "quokkaville"  # in every name of the other workspace; must appear in no page (long enough
# never to turn up by chance inside a CSRF token)
B_PHONE = "+16175550177"
B_CONTACT = "+13125550166"
NEVER = (MARK, B_PHONE, B_CONTACT, "quokkaville@example.org")


def _populate(workspace, connection, tag, phone, contact, user):
    """A workspace's worth of named objects; `tag` is in every name."""
    workflow = Workflow.objects.create(
        workspace=workspace, name=f"{tag} flow", description=f"{tag} description"
    )
    step = Step(
        workflow=workflow,
        name=f"{tag.lower().replace(' ', '_')}_step",
        action="twilio/send-sms",
        connection=connection,
        inputs={"From": phone, "To": contact, "Body": f"{tag} body"},
    )
    step.full_clean()
    step.save()
    trigger = Trigger(
        workspace=workspace,
        workflow=workflow,
        connection=connection,
        name=f"{tag} trigger",
        kind="twilio/incoming-sms",
        numbers=[phone],
        reply_message=f"{tag} reply",
    )
    trigger.full_clean()
    trigger.save()
    PhoneNumber.objects.create(
        connection=connection,
        sid=f"PN{abs(hash(tag)) % 10**32:032d}",
        phone_number=phone,
        friendly_name=f"{tag} number",
    )
    event = TriggerEvent.objects.create(
        connection=connection,
        trigger=trigger,
        purpose="messages",
        kind="twilio/incoming-sms",
        dedupe_key=f"{tag}-1",
        payload={"Body": f"{tag} hello", "From": contact, "To": phone},
        from_number=contact,
        to_number=phone,
        sid="SM" + "7" * 32,
        match_status=MatchStatus.MATCHED,
    )
    run = run_create(workflow=workflow, payload={"Body": f"{tag} payload", "From": contact}, enqueue=False)
    Run.objects.filter(pk=run.pk).update(
        trigger=trigger,
        trigger_event=event,
        error_code=f"{tag.upper()}_ERR",
        source=f"{tag.lower()}",
        search_text=f"{contact} {tag}",
    )
    StepRun.objects.create(
        run=run,
        sequence=1,
        step_name=step.name,
        kind="action",
        action=step.action,
        status="succeeded",
        twilio_sid="SM" + "8" * 32,
        connection=connection,
        output={"body": f"{tag} output"},
    )
    from django.utils import timezone

    ReplyWait.objects.create(
        run=run,
        sequence=2,
        workspace=workspace,
        connection=connection,
        contact=contact,
        number=phone,
        expires_at=timezone.now(),
    )
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    from compliance.models import ConsentEvent, ContactActivity, PriceEntry, SandboxMessage, SendPolicy

    ConsentEvent.objects.create(
        workspace=workspace,
        contact=contact,
        sender=phone,
        kind="opt_out",
        source="admin",
        user=user,
        note=f"{tag} note",
    )
    SendPolicy.objects.create(workspace=workspace, help_text=f"{tag} help")
    PriceEntry.objects.create(workspace=workspace, country="US", channel="sms", price="0.0079")
    SandboxMessage.objects.create(
        workspace=workspace,
        connection=connection,
        sid=f"SB{tag.lower():0>32}"[:34],
        method="POST",
        url=f"https://api.twilio.com/{tag}",
        form=[["To", contact]],
    )
    ContactActivity.objects.create(
        workspace=workspace, channel="sms", contact=contact, sender=phone, last_inbound_at=timezone.now()
    )
    from api.keys import api_key_create
    from api.models import RunWebhook, RunWebhookDelivery

    api_key_create(workspace=workspace, name=f"{tag} key", scope="read")
    hook = RunWebhook.objects.create(
        workflow=workflow,
        url=f"https://{tag.lower()}.example.com/hook",
        secret="whsec_AA==",
        created_at=timezone.now(),
    )
    RunWebhookDelivery.objects.create(
        webhook=hook,
        run=run,
        message_id=f"msg_{tag}",
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
    )
    from voice.models import CallSession, CallTurn, LlmConnection, VoiceAgent

    llm = LlmConnection.objects.create(
        workspace=workspace,
        name=f"{tag.lower()}-llm",
        base_url="https://llm.example.com/v1",
        model=f"{tag}-model",
    )
    VoiceAgent.objects.create(
        workspace=workspace, name=f"{tag.lower()}-agent", llm=llm, greeting=f"{tag} greeting",
        questions=[{"id": "q", "question": f"{tag} question?"}],
    )  # fmt: skip
    call = CallSession.objects.create(
        workspace=workspace, connection=connection, run=run, call_sid="CA" + "6" * 32, caller=contact
    )
    CallTurn.objects.create(session=call, index=0, said=f"{tag} said", heard=f"{tag} heard")
    from campaigns.models import Campaign, CampaignRecipient

    campaign = Campaign.objects.create(
        workspace=workspace, name=f"{tag} campaign", connection=connection, sender=phone, body=f"{tag} body"
    )
    CampaignRecipient.objects.create(campaign=campaign, phone=contact, run=run, reason=f"{tag} reason")


@pytest.fixture
def world(db, workspace, connection, django_user_model):
    acme_user = django_user_model.objects.create_user(
        "acme-colleague", "colleague@acme.test", "pw", is_staff=True
    )
    _populate(workspace, connection, "Acme", "+15017122661", "+14155550123", acme_user)
    other = Workspace.objects.create(name="Quokkaville Foods", slug="quokkaville-foods", default_country="US")
    other_connection = connection_create(
        workspace=other, name="quokkaville-conn", account_sid="AC" + "9" * 32, auth_token="9" * 32
    )
    other_user = django_user_model.objects.create_user(
        "quokkaville-user", "quokkaville@example.org", "pw", first_name="Quokkavillefirst", is_staff=True
    )
    _populate(other, other_connection, "Quokkaville", B_PHONE, B_CONTACT, other_user)
    Group.objects.create(name="quokkaville group")
    Schedule.objects.create(name="quokkaville schedule", func="math.floor", args="1")
    return {"workspace": workspace, "other": other}


def _names(content: bytes) -> list[str]:
    text = content.decode(errors="replace").lower()
    return [name for name in NEVER if name.lower() in text]


def _admin_url(model, view, *args):
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def _check(client, url, seen):
    response = client.get(url)
    assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
    if response.status_code == 200:
        leaked = _names(response.content)
        if leaked:
            text = response.content.decode(errors="replace")
            at = text.lower().find(leaked[0].lower())
            raise AssertionError(f"{url} shows {leaked}: …{text[max(0, at - 300) : at + 100]}…")
        seen.append(url)
    return response


def _forbidden_or_missing(client, url):
    response = client.get(url, follow=True)
    if response.status_code == 200:
        # The admin redirects to its index with "… with ID … doesn't exist."
        assert response.redirect_chain, f"{url} was shown"
        assert "doesn’t exist" in response.content.decode() or "doesn't exist" in response.content.decode()
    else:
        assert response.status_code in (403, 404), (url, response.status_code)
    assert not _names(response.content), url


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.VIEWER])
def test_a_one_workspace_user_never_sees_another_workspace(client, make_staff, world, role):
    user = make_staff(f"walker-{role}", world["workspace"], role)
    client.force_login(user)
    seen: list[str] = []
    _check(client, reverse("admin:index"), seen)
    for model in admin.site._registry:
        app_index = reverse("admin:app_list", args=[model._meta.app_label])
        _check(client, app_index, seen)
        changelist = _admin_url(model, "changelist")
        _check(client, changelist, seen)
        for query in ("?_facets=1", "?q=a", "?_popup=1&_to_field=id", "?o=1", "?all=&_facets=1"):
            _check(client, changelist + query, seen)
        # Filtering on another workspace's objects shows none of them, nor their names.
        for field in model._meta.get_fields():
            if field.many_to_one and field.concrete and field.related_model is not None:
                for foreign in scope_to_workspaces(
                    field.related_model._default_manager.all(), [world["other"].pk]
                )[:3]:
                    _check(client, f"{changelist}?{field.name}__id__exact={foreign.pk}&_facets=1", seen)
                # The autocomplete endpoint for this relation.
                _check(
                    client,
                    reverse("admin:autocomplete")
                    + "?"
                    + "&".join(
                        [
                            f"app_label={model._meta.app_label}",
                            f"model_name={model._meta.model_name}",
                            f"field_name={field.name}",
                            "term=",
                        ]
                    ),
                    seen,
                )
        add = _admin_url(model, "add")
        if add:
            _check(client, add, seen)
        ours = scope_to_workspaces(model._default_manager.all(), [world["workspace"].pk])
        for obj in ours[:2]:
            _check(client, _admin_url(model, "change", obj.pk), seen)
            _check(client, _admin_url(model, "history", obj.pk), seen)
        if workspace_lookup(model) is None:
            theirs = list(model._default_manager.all()[:5])  # groups, tasks: no workspace at all
        else:
            theirs = list(scope_to_workspaces(model._default_manager.all(), [world["other"].pk]))
        assert theirs or model._meta.app_label == "django_q", model
        for obj in theirs:
            for view in ("change", "history", "delete"):
                url = _admin_url(model, view, obj.pk)
                if url:
                    _forbidden_or_missing(client, url)
    # Pages of our own objects were really looked at, including the forms with inlines.
    assert any("/workspaces/workspace/" in url and "/change/" in url for url in seen)
    assert any("/workflows/workflow/" in url and "/change/" in url for url in seen)
    assert any("/triggers/trigger/?" in url for url in seen)


def test_filters_list_only_the_users_workspaces(client, make_staff, world):
    client.force_login(make_staff("filterer", world["workspace"], Role.VIEWER))
    for url in (
        "/admin/triggers/trigger/",
        "/admin/workflows/run/",
        "/admin/connections/connection/",
        "/admin/workflows/workflow/",
        "/admin/triggers/phonenumber/",
        "/admin/triggers/triggerevent/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert not _names(response.content), url
    assert "Acme Dental" in client.get("/admin/triggers/trigger/").content.decode()


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_membership_choices_are_colleagues_only(client, make_staff, world, role):
    client.force_login(make_staff(f"manager-{role}", world["workspace"], role))
    page = client.get(f"/admin/workspaces/workspace/{world['workspace'].pk}/change/").content.decode()
    assert "acme-colleague" in page
    assert "quokkaville" not in page.lower()


def _membership_post(workspace, **row):
    existing = list(Membership.objects.filter(workspace=workspace).order_by("id"))
    data = {
        "name": workspace.name,
        "slug": workspace.slug,
        "time_zone": workspace.time_zone,
        "default_country": workspace.default_country,
        "memberships-TOTAL_FORMS": str(len(existing) + 1),
        "memberships-INITIAL_FORMS": str(len(existing)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, membership in enumerate(existing):
        data.update(
            {
                f"memberships-{index}-id": str(membership.pk),
                f"memberships-{index}-workspace": str(workspace.pk),
                f"memberships-{index}-user": str(membership.user_id),
                f"memberships-{index}-role": membership.role,
            }
        )
    index = len(existing)
    data.update({f"memberships-{index}-workspace": str(workspace.pk), f"memberships-{index}-role": "viewer"})
    data.update({f"memberships-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_workspace_admin_cannot_pick_a_stranger_from_the_list(client, make_staff, world, django_user_model):
    client.force_login(make_staff("manager", world["workspace"], Role.ADMIN))
    stranger = django_user_model.objects.get(username="quokkaville-user")
    url = f"/admin/workspaces/workspace/{world['workspace'].pk}/change/"
    response = client.post(url, _membership_post(world["workspace"], user=str(stranger.pk)))
    assert response.status_code == 200  # the form again, with an error
    assert not Membership.objects.filter(workspace=world["workspace"], user=stranger).exists()
    assert "quokkaville" not in response.content.decode().lower()


def test_a_workspace_admin_adds_someone_by_exact_username_or_email(
    client, make_staff, world, django_user_model
):
    client.force_login(make_staff("manager", world["workspace"], Role.ADMIN))
    url = f"/admin/workspaces/workspace/{world['workspace'].pk}/change/"
    response = client.post(url, _membership_post(world["workspace"], user_ref="quokkaville-use"))
    assert response.status_code == 200
    assert "No active user has exactly this username or e-mail." in response.content.decode()
    response = client.post(url, _membership_post(world["workspace"], user_ref="QUOKKAVILLE@example.org"))
    assert response.status_code == 302
    stranger = django_user_model.objects.get(username="quokkaville-user")
    assert Membership.objects.get(workspace=world["workspace"], user=stranger).role == "viewer"


def test_actions_ignore_another_workspaces_objects(client, make_staff, world):
    client.force_login(make_staff("operator", world["workspace"], Role.OPERATOR))
    theirs = Workflow.objects.get(workspace=world["other"])
    client.post(
        "/admin/workflows/workflow/", {"action": "disable_workflows", "_selected_action": [theirs.pk]}
    )
    client.post(
        "/admin/workflows/workflow/",
        {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"},
    )
    theirs.refresh_from_db()
    assert theirs.enabled
    run = Run.objects.get(workspace=world["other"])
    client.post("/admin/workflows/run/", {"action": "replay_runs", "_selected_action": [run.pk]})
    assert Run.objects.filter(workspace=world["other"]).count() == 1


def test_users_groups_and_task_admins_are_for_superusers_only(client, make_staff, world, django_user_model):
    user = make_staff("perm-holder", world["workspace"], Role.OWNER)
    from django.contrib.auth.models import Permission

    user.user_permissions.set(Permission.objects.all())  # even with every model permission
    client.force_login(user)
    for url in ("/admin/auth/user/", "/admin/auth/group/", "/admin/django_q/schedule/"):
        assert client.get(url).status_code == 403, url
    response = client.get(
        reverse("admin:autocomplete") + "?app_label=workspaces&model_name=membership"
        "&field_name=user&term=quokkaville"
    )
    assert response.status_code in (403, 404)
    assert "quokkaville" not in response.content.decode().lower()
    superuser = django_user_model.objects.create_superuser("root", "root@x.test", "pw")
    client.force_login(superuser)
    assert client.get("/admin/auth/user/").status_code == 200
    assert "quokkaville-user" in client.get("/admin/auth/user/").content.decode()


def test_autocomplete_returns_only_own_workspace_objects(client, make_staff, world):
    client.force_login(make_staff("ac", world["workspace"], Role.OWNER))
    response = client.get(
        reverse("admin:autocomplete") + "?app_label=triggers&model_name=trigger&field_name=workflow&term="
    )
    if response.status_code == 200:
        names = [r["text"] for r in json.loads(response.content)["results"]]
        assert names and all("quokkaville" not in n.lower() for n in names)
