"""The audience parsers take outside input: whatever arrives, the answer is an audience
where every data row is a recipient or a report line, or one VALIDATION_ERROR naming the
field to fix; never another exception."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.audience import audience_from_csv, audience_from_list, csv_columns
from twilioflow.core.errors import TwilioFlowError

PHONES = st.sampled_from(
    [
        "+14155550101",
        "+14155550102",
        "(415) 555-0103",
        "0612345678",
        "+33612345678",
        "",
        "abc",
        "+1",
        "=1+2",
        "\x00",
    ]
)
CELLS = st.one_of(PHONES, st.text(max_size=12))


def _check(audience, data_rows: int | None = None) -> None:
    phones = [row.phone for row in audience.rows]
    assert len(phones) == len(set(phones))  # deduplicated
    assert all(p.startswith("+") for p in phones)
    for problem in audience.problems:
        assert problem.code in {"INVALID_NUMBER", "DUPLICATE", "INVALID_ROW"} and problem.message
    if data_rows is not None:
        assert audience.total == data_rows  # nothing dropped silently


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(PHONES, CELLS), max_size=12))
def test_well_formed_csv_accounts_for_every_row(rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "name"])
    writer.writerows(rows)
    text = out.getvalue()
    audience = audience_from_csv(text, phone_column="phone", variables="name", default_country="US")
    # Rows whose cells are all blank are not rows (a spreadsheet's empty lines).
    # NUL bytes are dropped (no CSV reader takes them), so a row of only NULs is blank too.
    clean = io.StringIO(text.replace("\x00", ""), newline="")
    expected = sum(1 for values in csv.reader(clean) if any(v.strip() for v in values)) - 1
    _check(audience, expected)
    assert all(set(row.variables) == {"name"} for row in audience.rows)


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=300), st.text(max_size=300)), column=st.sampled_from(["phone", "", "x"])
)
def test_any_upload_is_an_audience_or_a_field_error(data, column):
    try:
        _check(audience_from_csv(data, phone_column=column, variables="", default_country="US"))
    except TwilioFlowError as error:
        assert error.code == "VALIDATION_ERROR" and error.fields
    try:
        csv_columns(data)
    except TwilioFlowError as error:
        assert error.code == "VALIDATION_ERROR"


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            PHONES,
            st.fixed_dictionaries(
                {"phone": PHONES},
                optional={"variables": st.dictionaries(st.text(max_size=5), st.text(max_size=5))},
            ),
            st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers()), max_size=3),
        ),
        max_size=10,
    )
)
def test_any_list_is_an_audience(items):
    audience = audience_from_list(items, default_country="US")
    _check(audience, len(items))
