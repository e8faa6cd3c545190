import pytest

from actions.segments import GSM7, UCS2, segment_info


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [
        ("", GSM7, 0, 0),
        ("Hello", GSM7, 1, 5),
        ("a" * 160, GSM7, 1, 160),
        ("a" * 161, GSM7, 2, 161),
        ("a" * 306, GSM7, 2, 306),
        ("a" * 307, GSM7, 3, 307),
        ("€" * 80, GSM7, 1, 160),  # extension chars count double
        ("€" * 81, GSM7, 2, 162),
        ("a" * 152 + "€", GSM7, 1, 154),
        ("a" * 158 + "€", GSM7, 1, 160),
        ("a" * 159 + "€", GSM7, 2, 161),
        ("{}[]~|^\\", GSM7, 1, 16),
        ("Olá mundo", UCS2, 1, 9),  # á is not GSM-7 (é and à are)
        ("ü ä ö ñ à é", GSM7, 1, 11),
        ("x" * 70 + "ł", UCS2, 2, 71),
        ("ł" * 70, UCS2, 1, 70),
        ("ł" * 134, UCS2, 2, 134),
        ("ł" * 135, UCS2, 3, 135),
        ("😀" * 35, UCS2, 1, 70),
        ("😀" * 36, UCS2, 2, 72),
        ("ł" * 66 + "😀", UCS2, 1, 68),
        ("ł" * 66 + "😀" + "ł" * 3, UCS2, 2, 71),
    ],
)
def test_segment_info(body, encoding, segments, units):
    info = segment_info(body)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)


def test_an_escape_pair_is_never_split_across_segments():
    # 152 septets then a 2-septet "€": the pair would straddle 153, so it moves whole.
    body = "a" * 152 + "€" + "a" * 152
    assert segment_info(body).segments == 3  # 152 | € + 151 | 1


def test_a_surrogate_pair_is_never_split():
    body = "ł" * 66 + "😀" + "ł" * 66
    # 66 + 2 > 67: the emoji opens segment two; 2 + 65 = 67, one left for a third
    assert segment_info(body).segments == 3
