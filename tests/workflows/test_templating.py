"""Templating of workflow step inputs: strict variables, native values, our filters, no escaping."""

from datetime import UTC, datetime

import pytest

from twilioflow.core.errors import TwilioFlowError
from workflows.templating import TEMPLATE_ERROR, build_context, check_syntax, render_value

NOW = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


@pytest.fixture
def ctx():
    return build_context(
        trigger={
            "From": "+14155552671",
            "ProfileName": "Ann",
            "recipients": ["+14155552671", "+14155552672"],
            "meta": {"plan": "pro"},
            "rows": [{"name": "a"}, {"name": "b"}],
            "DateSent": "Thu, 24 Aug 2023 05:01:45 +0000",
            "Created": "2023-08-24T05:01:45Z",
            "local": "07911 123456",
            "nothing": None,
        },
        steps={"lookup": {"order_id": "A-17"}},
        vars={"count": 2, "note": "Fish & chips <b>"},
        workspace={"default_country": "GB", "time_zone": "UTC"},
        now=NOW,
    )


def render(value, ctx, **kw):
    return render_value(value, ctx, **kw)


def error_of(value, ctx, **kw) -> TwilioFlowError:
    with pytest.raises(TwilioFlowError) as info:
        render_value(value, ctx, **kw)
    assert info.value.code == TEMPLATE_ERROR
    return info.value


# --- undefined variables ------------------------------------------------------------------------
def test_undefined_variable_names_step_field_and_variable(ctx):
    err = error_of({"To": "{{ trigger.Form }}"}, ctx, step="notify")
    assert err.message == 'Step "notify", field "To": undefined variable "trigger.Form"'
    assert err.fields == {"To": ['undefined variable "trigger.Form"']}
    assert err.details["variable"] == "trigger.Form"


def test_undefined_inside_text_is_an_error_too(ctx):
    err = error_of({"Body": "Hi {{ trigger.Nmae }}!"}, ctx, step="notify")
    assert 'undefined variable "trigger.Nmae"' in err.message


def test_nested_undefined(ctx):
    err = error_of("order {{ steps.lookup.missing }}", ctx, field="Body")
    assert err.details["variable"] == "steps.lookup.missing"
    assert err.message == 'Field "Body": undefined variable "steps.lookup.missing"'


def test_undefined_step(ctx):
    err = error_of("{{ steps.nope.order_id }}", ctx, field="Body", step="s")
    assert err.details["variable"] == "steps.nope.order_id"


def test_undefined_filter_argument(ctx):
    err = error_of("{{ vars.count|add:vars.missing }}", ctx, field="n")
    assert err.details["variable"] == "vars.missing"


def test_undefined_in_with_is_an_error(ctx):
    err = error_of("{% with x=vars.zz %}{{ x }}{% endwith %}", ctx, field="Body")
    assert err.details["variable"] == "vars.zz"


def test_default_rescues_undefined(ctx):
    assert render("Hi {{ trigger.Missing|default:'there' }}", ctx) == "Hi there"
    assert render("{{ trigger.Missing|default_if_none:'x' }}", ctx) == "x"
    assert render("{{ trigger.Missing|default:'y'|upper }}", ctx) == "Y"


def test_defined_none_is_not_undefined(ctx):
    assert render("{{ trigger.nothing }}", ctx) is None
    assert render("{{ trigger.nothing|default:'n/a' }}", ctx) == "n/a"


def test_if_on_undefined_is_false(ctx):
    assert render("{% if trigger.Body %}yes{% else %}no{% endif %}", ctx) == "no"
    assert render("{% if steps.x.y == 'a' %}yes{% else %}no{% endif %}", ctx) == "no"
    assert render("{% firstof trigger.Body trigger.ProfileName %}", ctx) == "Ann"


def test_dict_methods_are_not_callable(ctx):
    err = error_of("{{ vars.clear }}", ctx, field="Body")
    assert err.details["variable"] == "vars.clear"
    assert render("{% if vars.clear %}x{% endif %}", ctx) == ""
    assert ctx["vars"]["count"] == 2


def test_dict_items_for_loops(ctx):
    assert render("{% for k, v in steps.lookup.items %}{{ k }}={{ v }}{% endfor %}", ctx) == "order_id=A-17"


# --- native values ------------------------------------------------------------------------------
def test_single_expression_returns_native_values(ctx):
    assert render("{{ trigger.recipients }}", ctx) == ["+14155552671", "+14155552672"]
    assert render("{{ trigger.meta }}", ctx) == {"plan": "pro"}
    assert render("  {{ vars.count|add:1 }} \n", ctx) == 3
    assert render("{{ trigger.nothing }}", ctx) is None
    assert render("{{ now }}", ctx) == "2024-03-05T14:30:00+00:00"


def test_native_containers_are_copies(ctx):
    value = render("{{ trigger.recipients }}", ctx)
    value.append("x")
    assert len(ctx["trigger"]["recipients"]) == 2


def test_mixed_strings_render_to_text(ctx):
    assert render("{{ vars.count }} items", ctx) == "2 items"
    assert render("{{ vars.count }}{{ vars.count }}", ctx) == "22"
    result = render("Hi {{ trigger.ProfileName }}, order {{ steps.lookup.order_id }} shipped", ctx)
    assert result == "Hi Ann, order A-17 shipped"
    assert type(result) is str


def test_non_strings_and_plain_strings_pass_through(ctx):
    value = {"a": 1, "b": True, "c": None, "d": "no template {here}", "e": [1.5]}
    assert render(value, ctx) == value


def test_nested_structures_render_recursively(ctx):
    value = {
        "To": "{{ trigger.From }}",
        "MediaUrl": ["https://x/{{ vars.count }}.png", "{{ trigger.recipients }}"],
    }
    assert render(value, ctx) == {
        "To": "+14155552671",
        "MediaUrl": ["https://x/2.png", ["+14155552671", "+14155552672"]],
    }


def test_nested_field_paths_in_errors(ctx):
    err = error_of({"MediaUrl": ["ok", "{{ trigger.nope }}"]}, ctx, step="s")
    assert err.fields == {"MediaUrl.1": ['undefined variable "trigger.nope"']}
    err = error_of({"cases": [{"left": "x"}, {"left": "{{ vars.q }}"}]}, ctx, field="inputs", step="b")
    assert err.message == 'Step "b", field "inputs.cases.1.left": undefined variable "vars.q"'


# --- filters ------------------------------------------------------------------------------------
def test_e164_uses_workspace_default_country(ctx):
    assert render("{{ trigger.local|e164 }}", ctx) == "+447911123456"
    ctx["workspace"] = {"default_country": "US"}
    assert render("{{ '(415) 555-2671'|e164 }}", ctx) == "+14155552671"


def test_e164_workspace_object():
    class Workspace:
        default_country = "GB"
        time_zone = "Europe/London"

    assert render("{{ '07911 123456'|e164 }}", build_context(workspace=Workspace())) == "+447911123456"


def test_e164_explicit_country(ctx):
    assert render("{{ '(415) 555-2671'|e164:'US' }}", ctx) == "+14155552671"
    assert render("{{ trigger.From|e164 }}", ctx) == "+14155552671"


def test_e164_invalid_number_is_an_error(ctx):
    err = error_of({"To": "{{ 'call me'|e164 }}"}, ctx, step="notify")
    assert err.fields["To"] == ["e164: 'call me' is not a phone number."]
    assert error_of("{{ trigger.nothing|e164 }}", ctx).message.startswith("E164: None is not a phone")


def test_truncate(ctx):
    assert render("{{ 'abcdef'|truncate:3 }}", ctx) == "abc…"
    assert render("{{ 'abc'|truncate:3 }}", ctx) == "abc"
    assert "not a whole number" in error_of("{{ 'abc'|truncate:'x' }}", ctx).message


def test_json(ctx):
    assert render("data={{ trigger.meta|json }}", ctx) == 'data={"plan": "pro"}'
    assert render("{{ 'héllo'|json }}", ctx) == '"héllo"'
    assert render("{{ now|json }}", ctx) == '"2024-03-05T14:30:00Z"'


def test_date_on_strings_and_datetimes(ctx):
    assert render("{{ trigger.DateSent|date:'Y-m-d H:i' }}", ctx) == "2023-08-24 05:01"
    assert render("{{ trigger.Created|date:'D j M' }}", ctx) == "Thu 24 Aug"
    assert render("{{ '2023-08-24'|date:'d/m/Y' }}", ctx) == "24/08/2023"
    assert render("{{ now|date:'Y-m-d H:i' }}", ctx) == "2024-03-05 14:30"
    assert render("{{ trigger.DateSent|time:'H:i:s' }}", ctx) == "05:01:45"


def test_date_uses_workspace_time_zone(ctx):
    ctx["workspace"] = {"time_zone": "America/New_York"}
    assert render("{{ trigger.DateSent|date:'H:i' }}", ctx) == "01:01"
    assert render("{{ now|date:'H:i' }}", ctx) == "09:30"  # EST in March


def test_date_on_garbage_is_an_error(ctx):
    assert "is not a date" in error_of("{{ 'soon'|date:'Y' }}", ctx).message


def test_upper_lower_and_other_builtins(ctx):
    assert render("{{ trigger.ProfileName|upper }} {{ trigger.ProfileName|lower }}", ctx) == "ANN ann"
    assert render("{{ trigger.recipients|length }}", ctx) == 2
    assert render("{{ trigger.recipients|join:', ' }}", ctx) == "+14155552671, +14155552672"
    assert render("{{ vars.count }} item{{ vars.count|pluralize }}", ctx) == "2 items"


def test_no_autoescape(ctx):
    assert render("Note: {{ vars.note }}", ctx) == "Note: Fish & chips <b>"
    assert render("{{ vars.note }}", ctx) == "Fish & chips <b>"
    assert render("a & b {{ vars.count }}", ctx) == "a & b 2"


def test_now_available(ctx):
    assert render("{{ now|date:'Y' }}", ctx) == "2024"
    assert render("{% now 'Y' %}", ctx) == str(datetime.now(UTC).year)
    assert isinstance(build_context()["now"], datetime)


def test_for_loop_over_list(ctx):
    assert render("{% for r in trigger.rows %}{{ r.name }},{% endfor %}", ctx) == "a,b,"
    assert render("{% for r in trigger.rows %}{{ forloop.counter }}{% endfor %}", ctx) == "12"
    assert render("{{ trigger.rows.1.name }}", ctx) == "b"


def test_private_attributes_are_rejected(ctx):
    assert "underscores" in error_of("{{ trigger.__class__ }}", ctx).message


def test_syntax_error_at_render_time(ctx):
    err = error_of({"Body": "{% if x %}"}, ctx, step="s")
    assert err.fields["Body"][0].startswith("syntax error: Unclosed tag")


# --- check_syntax -------------------------------------------------------------------------------
def test_check_syntax_clean():
    assert check_syntax({"To": "{{ trigger.From|e164 }}", "n": 3, "list": ["{% if a %}b{% endif %}"]}) == {}


@pytest.mark.parametrize(
    "source",
    [
        '{% include "x" %}',
        "{% load static %}",
        '{% extends "base.html" %}',
        "{% url 'home' %}",
        "{% debug %}",
    ],
)
def test_check_syntax_rejects_disallowed_tags(source):
    problems = check_syntax({"Body": ["ok", source]})
    assert list(problems) == ["Body.1"]
    tag = source.split()[1]
    assert f'tag "{tag}" is unknown' in problems["Body.1"][0]


def test_check_syntax_unclosed_if_and_unknown_filter():
    problems = check_syntax({"a": "{% if x %}yes", "b": {"c": "{{ x|shout }}"}}, field="inputs")
    assert problems["inputs.a"][0].startswith("syntax error: Unclosed tag on line 1: 'if'")
    assert problems["inputs.b.c"] == ['unknown filter "shout"']


def test_build_context_defaults():
    context = build_context(extra_key=1)
    assert set(context) == {"trigger", "steps", "vars", "item", "run", "workspace", "now", "extra_key"}
    assert context["trigger"] == {} and context["item"] is None
