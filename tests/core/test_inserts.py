"""Compiled INSERTs (`twilioflow.core.inserts`): compiled ahead, a value filled in later,
a conflict skipped rather than raised, and the row exactly what `save()` would store."""

import pytest
from django.db import transaction

from twilioflow.core.inserts import insert_prepare
from workspaces.models import Workspace


@pytest.mark.django_db
def test_compiled_ahead_then_run_with_a_value_filled_in():
    insert = insert_prepare(Workspace(name="Acme", slug="acme-x", default_country="US"))
    insert.set("name", "Acme Dental")
    with transaction.atomic():
        assert insert.execute() is True
    stored = Workspace.objects.get(pk=insert.obj.pk)
    assert (stored.name, stored.slug, stored.created_at is not None) == ("Acme Dental", "acme-x", True)
    assert insert.obj.name == "Acme Dental" and not insert.obj._state.adding


@pytest.mark.django_db
def test_a_conflict_is_skipped_when_asked_and_raised_otherwise():
    Workspace.objects.create(name="Acme", slug="acme-y")
    again = insert_prepare(Workspace(name="Acme 2", slug="acme-y"), ignore_conflicts=True)
    assert again.execute() is False and again.obj.pk is None
    assert Workspace.objects.filter(slug="acme-y").count() == 1
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_prepare(Workspace(name="Acme 3", slug="acme-y")).execute()
