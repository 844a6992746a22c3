"""Parsing the values legacy crawler files hold: dates, repr literals, colours, EXIF, scalars."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime

import pytest

from lands.errors import UnreadableLegacyValue
from lands.importer import values as lv
from media_analysis.engine.errors import ERROR_CLASSES
from tests.support.legacy_db import REPR_COLOURS, REPR_EXIF, REPR_WEBSAFE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01 12:34:56.123456", datetime(2024, 3, 1, 12, 34, 56, 123456, tzinfo=UTC)),
        ("2024-03-01 12:34:56", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-03-01 12:34:56.5", datetime(2024, 3, 1, 12, 34, 56, 500000, tzinfo=UTC)),
        ("2024-03-01T12:34:56Z", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-03-01 14:34:56+02:00", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-03-01T07:34:56.000001-05:00", datetime(2024, 3, 1, 12, 34, 56, 1, tzinfo=UTC)),
        ("  2024-03-01  ", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024/03/01 12:34:56", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        ("01/03/2024", datetime(2024, 3, 1, tzinfo=UTC)),
        ("Fri, 01 Mar 2024 12:34:56 GMT", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        ("1709296496", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        (1709296496, datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        (1709296496000, datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        (b"2024-03-01 12:34:56", datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        (datetime(2024, 3, 1, 12, 34, 56), datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)),
        (date(2024, 3, 1), datetime(2024, 3, 1, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("   ", None),
        ("None", None),
        ("0000-00-00 00:00:00", None),
        (0, None),
    ],
)
def test_dates_become_aware_utc(raw, expected):
    parsed = lv.parse_legacy_datetime(raw)

    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "raw", ["not a date", "2024-13-45 99:99:99", "yesterday", "1000-01-01", "9999-12-31", "12", -5, 1e20, True, [1]]
)
def test_garbage_dates_are_refused(raw):
    with pytest.raises(UnreadableLegacyValue):
        lv.parse_legacy_datetime(raw)


def test_literals_json_first_then_python_repr():
    assert lv.parse_legacy_literal('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert lv.parse_legacy_literal("{'a': (1, 2), 'b': None, 'c': True}") == {"a": (1, 2), "b": None, "c": True}
    assert lv.parse_legacy_literal(b"[1, 2]") == [1, 2]
    assert lv.parse_legacy_literal(42) == 42
    assert lv.parse_legacy_literal("  ") is None
    assert lv.parse_legacy_literal(None) is None


def test_known_numpy_and_pillow_scalars_are_unwrapped():
    text = (
        "[np.float64(12.5), numpy.int64(-3), np.uint8(255), -np.float32(1.5), np.True_, np.False_, "
        "np.str_('x'), np.array([1, 2], dtype=np.uint8), IFDRational(72, 1), IFDRational(1, 0), "
        "IFDRational(-1, 4), nan, -inf, np.nan, {'k': np.float64(0.1)}]"
    )

    assert lv.parse_legacy_literal(text) == [
        12.5,
        -3,
        255,
        -1.5,
        True,
        False,
        "x",
        [1, 2],
        72.0,
        None,
        -0.25,
        None,
        None,
        None,
        {"k": 0.1},
    ]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/legacy-values-pwned')",
        "open('/etc/passwd').read()",
        "np.float64(__import__('os'))",
        "np.load('x')",
        "os.system('x')",
        "[1, 2",
        "{'rgb': (1, 2}",
        "lambda: 1",
        "(" * 500 + ")" * 500,
        "[" * 5000 + "]" * 5000,
        "x" * (lv.MAX_LITERAL_CHARS + 1),
    ],
)
def test_unsafe_or_broken_literals_are_refused(text, tmp_path):
    with pytest.raises(UnreadableLegacyValue):
        lv.parse_legacy_literal(text)
    assert not (tmp_path / "legacy-values-pwned").exists()


def test_to_json_safe_converts_python_values():
    value = {
        "tuple": (1, 2),
        "nested": [{"b": b"Canon\x00\x00"}],
        1: "int key",
        b"bytes key": 1,
        "binary": b"\xff\xd8\xff\x00",
        "control": b"\x01\x02\x03",
        "nan": float("nan"),
        "inf": float("inf"),
        "set": {3, 1},
        "nul": "a\x00b",
        "object": object(),
        "complex": 1j,
    }

    converted = lv.to_json_safe(value)

    assert converted == {
        "tuple": [1, 2],
        "nested": [{"b": "Canon"}],
        "1": "int key",
        "bytes key": 1,
        "nan": None,
        "inf": None,
        "set": [1, 3],
        "nul": "ab",
    }
    json.dumps(converted, allow_nan=False)


def test_dominant_colours_from_crawler_repr_with_numpy():
    colours = lv.normalise_dominant_colors(REPR_COLOURS)

    assert colours == [
        {"rgb": [12, 34, 56], "hex": "#0c2238", "percentage": 58.5},
        {"rgb": [202, 180, 141], "hex": "#cab48d", "percentage": 41.5},
    ]


def test_dominant_colours_other_spellings():
    assert lv.normalise_dominant_colors('[{"rgb": [255, 255, 255], "percentage": 100}]') == [
        {"rgb": [255, 255, 255], "hex": "#ffffff", "percentage": 100.0}
    ]
    assert lv.normalise_dominant_colors("[((0, 0, 300.4), 20.0), ('#abc', 80.0)]") == [
        {"rgb": [170, 187, 204], "hex": "#aabbcc", "percentage": 80.0},
        {"rgb": [0, 0, 255], "hex": "#0000ff", "percentage": 20.0},
    ]
    assert lv.normalise_dominant_colors("[{'hex': '#102030', 'percent': 5}]") == [
        {"rgb": [16, 32, 48], "hex": "#102030", "percentage": 5.0}
    ]
    # RGBA centres keep their colour.
    assert lv.normalise_dominant_colors("[{'rgb': (1, 2, 3, 255), 'percentage': 1.0}]")[0]["rgb"] == [1, 2, 3]
    assert lv.normalise_dominant_colors("[]") == []
    assert lv.normalise_dominant_colors(None) is None
    assert lv.normalise_dominant_colors("") is None


@pytest.mark.parametrize(
    "raw",
    [
        "{'rgb': (1, 2, 3)}",
        "[{'rgb': (1, 2, 3)}]",
        "[{'rgb': (1, 2), 'percentage': 1}]",
        "[{'rgb': 'blue', 'percentage': 1}]",
        "[{'percentage': 1}]",
        "[{'rgb': (1, 2, nan), 'percentage': 1}]",
        "[{'rgb': (1, 2, 3), 'percentage': nan}]",
        "[{'rgb': (1, 2, 3), 'percentage': 'ten'}]",
        "[42]",
        "[{'rgb': (1, 2",
    ],
)
def test_unreadable_dominant_colours(raw):
    with pytest.raises(UnreadableLegacyValue):
        lv.normalise_dominant_colors(raw)


def test_websafe_colours():
    assert lv.normalise_websafe_colors(REPR_WEBSAFE) == {"#003333": 58.5, "#cccc99": 41.5}
    assert list(lv.normalise_websafe_colors(REPR_WEBSAFE)) == ["#003333", "#cccc99"]
    assert lv.normalise_websafe_colors("{'#FFFFFF': 10, 'ffffff': 15.5, (0, 51, 102): 2}") == {
        "#ffffff": 25.5,
        "#003366": 2.0,
    }
    assert lv.normalise_websafe_colors("[{'hex': '#000000', 'percentage': 3}]") == {"#000000": 3.0}
    assert lv.normalise_websafe_colors("{}") == {}
    with pytest.raises(UnreadableLegacyValue):
        lv.normalise_websafe_colors("'#ffffff'")
    with pytest.raises(UnreadableLegacyValue):
        lv.normalise_websafe_colors("{'#ffffff': 'a lot'}")


def test_exif_from_repr_with_rationals_and_bytes():
    exif = lv.normalise_exif(REPR_EXIF)

    assert exif == {
        "ImageWidth": 640,
        "ImageLength": 480,
        "Make": "Canon",
        "Model": "EOS 5D",
        "XResolution": 72.0,
        "DateTime": "2023:07:14 10:00:00",
    }
    assert lv.exif_summary(exif) == ("Canon", "EOS 5D", "2023:07:14 10:00:00")
    assert lv.exif_summary({"DateTime": "a", "DateTimeOriginal": "b", "Make": "  "}) == (None, None, "b")
    assert lv.exif_summary(None) == (None, None, None)
    with pytest.raises(UnreadableLegacyValue):
        lv.normalise_exif("[1, 2]")


def test_scalar_coercions():
    assert lv.coerce_int("12") == 12
    assert lv.coerce_int(" 12.0 ") == 12
    assert lv.coerce_int(3.6) == 4
    assert lv.coerce_int("") is None
    assert lv.coerce_int(None) is None
    for bad in ("twelve", float("nan"), 2**40, [1]):
        with pytest.raises(UnreadableLegacyValue):
            lv.coerce_int(bad)
    assert lv.coerce_int(2**40, maximum=2**63 - 1) == 2**40

    assert lv.coerce_float("1.33") == 1.33
    assert lv.coerce_float(2) == 2.0
    assert lv.coerce_float("") is None
    for bad in ("abc", float("inf"), True):
        with pytest.raises(UnreadableLegacyValue):
            lv.coerce_float(bad)

    assert [lv.coerce_bool(value) for value in (1, 0, "1", "true", "False", "no", None, True)] == [
        True,
        False,
        True,
        True,
        False,
        False,
        None,
        True,
    ]
    with pytest.raises(UnreadableLegacyValue):
        lv.coerce_bool(2)

    assert lv.coerce_text(200) == "200"
    assert lv.coerce_text(200.0) == "200"
    assert lv.coerce_text("a\x00b") == "ab"
    assert lv.coerce_text("abcdef", 3) == "abc"
    assert lv.coerce_text(b"caf\xc3\xa9") == "café"
    assert lv.coerce_text(None) is None


def test_media_type_status_and_error_class():
    assert [lv.legacy_media_type(value) for value in ("img", "IMAGE", "video", " audio ", "iframe", None)] == [
        "img",
        "img",
        "video",
        "audio",
        None,
        None,
    ]
    when = datetime(2024, 3, 1, tzinfo=UTC)
    assert lv.legacy_status(None, None) == "pending"
    assert lv.legacy_status(None, "boom") == "pending"
    assert lv.legacy_status(when, None) == "done"
    assert lv.legacy_status(when, "") == "done"
    assert lv.legacy_status(when, "boom") == "failed"

    messages = {
        "cannot identify image file <_io.BytesIO object at 0x7f>": "not_an_image",
        "image file is truncated (3 bytes not processed)": "corrupt_image",
        "Image size (200000000 pixels) exceeds limit, could be decompression bomb DOS attack.": "decompression_bomb",
        "Taille dépassée (20000000 bytes)": "too_large",
        "Timeout on reading data from socket": "timeout",
        "HTTP status 404": "http_status",
        "Cannot connect to host cdn.example:443 ssl:default": "network",
        "Erreur d'analyse couleur: boom": "error",
    }
    for message, code in messages.items():
        assert lv.classify_legacy_error(message) == code, message
        assert code in ERROR_CLASSES
    assert lv.classify_legacy_error(None) is None


def test_mime_type_for_format():
    assert lv.mime_type_for_format("JPEG") == "image/jpeg"
    assert lv.mime_type_for_format("png") == "image/png"
    assert lv.mime_type_for_format("NOPE") is None
    assert lv.mime_type_for_format(None) is None


@pytest.mark.parametrize(
    "text",
    [
        "[{'rgb': (np.float64(201.6), np.float64(180.2), np.float64(140.9)), 'percentage': np.float64(41.5)}, "
        "{'rgb': (12, 34, 56), 'percentage': 58.5}]",
        "{'#cccc99': np.float64(41.5), '#003333': 58.5, '#CCCC99': 1e-3}",
        "[((1, 2, 3), 50.0), ((4, 5, 6), -0.5)]",
        "[{'hex': '#abc', 'percentage': True}]",
        "[{'rgb': (np.float64(nan), 2, 3), 'percentage': 5}]",
        "[{'rgb': (1, 2, 3), 'percentage': 5}, ]",
        "{'#cccc99': 1, '#cccc99': 2}",
        "[{'rgb': 'None', 'percentage': 5}]",
        "  [ ]  ",
        "None",
        "'#ffffff'",
        "[{'rgb': (1, 2, 3), 'percentage': 007}]",
    ],
)
def test_plain_reprs_read_as_the_python_parser_reads_them(text, monkeypatch):
    """The crawler's colour reprs take a faster path than Python's parser; the result, or the refusal, is the same."""
    normalise = lv.normalise_dominant_colors if "[" in text else lv.normalise_websafe_colors

    def outcome():
        try:
            return normalise(text)
        except UnreadableLegacyValue:
            return "unreadable"

    fast = outcome()
    monkeypatch.setattr(lv, "_parse_plain_literal", lv.parse_legacy_literal)
    never_matches = re.compile(r"(?!)")
    monkeypatch.setattr(lv, "_FAST_COLOUR_LIST", never_matches)
    monkeypatch.setattr(lv, "_FAST_WEBSAFE_DICT", never_matches)
    assert outcome() == fast


def _outcome(read, value):
    try:
        # The repr: -0.0 equals 0.0 but is not stored as it.
        return repr(read(value))
    except UnreadableLegacyValue:
        return "unreadable"


def _random_dominant_spellings(rng: random.Random, numbers: list[str], count: int = 300) -> list[str]:
    """Lists of colours as the crawler's Python repr spells them, with random (and odd) numbers."""
    return [
        "["
        + ", ".join(
            f"{{'rgb': ({rng.choice(numbers)}, {rng.choice(numbers)}, {rng.choice(numbers)}), "
            f"'percentage': {rng.choice(numbers)}}}"
            for _ in range(rng.randint(0, 4))
        )
        + "]"
        for _ in range(count)
    ]


def _random_websafe_spellings(rng: random.Random, numbers: list[str], hexes: list[str], count: int = 300) -> list[str]:
    """Web-safe colour dicts as the crawler's Python repr spells them."""
    return [
        "{" + ", ".join(f"'{rng.choice(hexes)}': {rng.choice(numbers)}" for _ in range(rng.randint(0, 5))) + "}"
        for _ in range(count)
    ]


def _numbers(seed: int) -> list[str]:
    """Spellings of numbers as the crawler's reprs hold them, and the edge cases of the fast paths."""
    rng = random.Random(seed)
    edges = ["0", "-0", "-0.0", "0.0", "007", "1e3", "255.5", "254.5", "-0.5", "-12", "300", "9" * 15, "9" * 16]
    made = [f"{rng.uniform(-10, 300):.{rng.randint(1, 12)}f}" for _ in range(40)]
    return [wrap.format(number) for number in edges + made for wrap in ("{}", "np.float64({})", "numpy.int64({})")]


def test_the_crawlers_colour_spellings_read_alike_by_both_paths(monkeypatch):
    """The colours' own fast paths give what the general path gives, or refuse what it refuses."""
    rng = random.Random(20261204)
    numbers = _numbers(1)
    hexes = ["#cccc99", "#CCCC99", "#003333", "#AbCdEf", "#000000"]
    dominant = _random_dominant_spellings(rng, numbers)
    websafe = _random_websafe_spellings(rng, numbers, hexes)
    # The crawler's own spellings take the fast paths.
    assert lv._FAST_COLOUR_LIST.fullmatch(REPR_COLOURS)
    assert lv._FAST_WEBSAFE_DICT.fullmatch(REPR_WEBSAFE)
    fast = [_outcome(lv.normalise_dominant_colors, text) for text in dominant]
    fast += [_outcome(lv.normalise_websafe_colors, text) for text in websafe]
    taken = sum(1 for text in dominant if lv._FAST_COLOUR_LIST.fullmatch(text))
    taken += sum(1 for text in websafe if lv._FAST_WEBSAFE_DICT.fullmatch(text))
    never_matches = re.compile(r"(?!)")
    monkeypatch.setattr(lv, "_FAST_COLOUR_LIST", never_matches)
    monkeypatch.setattr(lv, "_FAST_WEBSAFE_DICT", never_matches)
    general = [_outcome(lv.normalise_dominant_colors, text) for text in dominant]
    general += [_outcome(lv.normalise_websafe_colors, text) for text in websafe]

    assert fast == general
    # Most of them took the fast path; the rest hold a spelling it leaves to the general one.
    assert len(dominant + websafe) > taken > len(dominant + websafe) // 3


@pytest.mark.parametrize(
    "raw",
    [
        "2024-03-01 12:34:56.123456",
        "2024-03-01T12:34:56",
        "2024-03-01 12:34:56.5",
        "2024-13-01 00:00:00",
        "2024-02-30 00:00:00",
        "1800-01-01 00:00:00",
        "2201-01-01 00:00:00",
    ],
)
def test_plain_iso_dates_read_as_the_general_parser_reads_them(raw, monkeypatch):
    assert lv._PLAIN_ISO_DATETIME.fullmatch(raw)
    fast = _outcome(lv.parse_legacy_datetime, raw)
    monkeypatch.setattr(lv, "_PLAIN_ISO_DATETIME", re.compile(r"(?!)"))
    assert _outcome(lv.parse_legacy_datetime, raw) == fast


@pytest.mark.parametrize(
    "text",
    [
        "{'ImageWidth': 1024, 'Make': b'Canon\\x00', 'Model': 'EOS 5D', 'XResolution': IFDRational(72, 1), "
        "'DateTime': '2025:07:14 10:00:00'}",
        "{'a': b'\\xff\\xfe', 'b': b'ok\\n', 'c': b'tab\\tx', 'd': IFDRational(1, 0), 'e': IFDRational(1, 3), "
        "'f': IFDRational(-5, 2)}",
        "{b'key': 1, b'\\x01': 2, 'g': (IFDRational(1, 2), 3), 'h': np.float64(2.5), 'i': None, 'j': True}",
        "{'x': PIL.TiffImagePlugin.IFDRational(3), 'y': TiffImagePlugin.IFDRational(3.5, 2)}",
        "{'x': b'it\\'s', 'y': b'\\\\back', 'z': b'\\x00\\x00', 'w': b'   '}",
        "{'x': IFDRational(1e308, 1e-308), 'y': IFDRational(0, 5)}",
        "{1: 'a tag number as key'}",
        "[1, 2]",
        "None",
        "{}",
        "{'x': IFDRational(1, 2, 3)}",
        "{'x': b\"it's\"}",
        "{'list': [b'\\x01', 'kept', b'ok', (b'\\xff', 2)], b'\\x02': 'key dropped', 'inner': {'k': b'\\x7f'}}",
        "{'MakerNote': b'\\x00\\x01\\x02', 'Make': b'  Nikon\\x00 ', 'quote': b'say \"hi\"', "
        "'u': b'\\xc3\\xa9t\\xc3\\xa9'}",
        "{'big': 1e999, 'small': -1e-999, 'fine': 1.5e10, 'text': 'e123'}",
        "{'same': b'a', b'same': 2, 'x': b'\\x00'}",
        "{'deep': " + "[" * 60 + "1" + "]" * 60 + "}",
        "{'a': " + "(" * 30 + "b'\\x01', 1" + "), 2" * 29 + ")}",
        "b'\\x01'",
        "b'Canon'",
        "{'x': IFDRational(10**400, 1)}",
        "{'x': IFDRational(" + "9" * 400 + ", 1)}",
        "{'s': {1, 2}}",
        "",
    ],
)
def test_plain_exif_reprs_read_as_the_python_parser_reads_them(text, monkeypatch):
    """EXIF reprs with bytes and IFDRational take faster paths than Python's parser; same result or refusal."""

    def outcome():
        try:
            return repr(lv.normalise_exif(text))
        except UnreadableLegacyValue:
            return "unreadable"

    one_pass = outcome()
    monkeypatch.setattr(lv, "_fast_exif", lambda value: lv._NOT_FAST)
    fast = outcome()
    monkeypatch.setattr(lv, "_parse_exif_literal", lv.parse_legacy_literal)
    assert outcome() == fast == one_pass


def test_colours_of_a_new_row_are_the_json_text_of_the_values_read(monkeypatch):
    """A row to insert gets its colour columns as JSON text made from the crawler's spelling: the text
    ``json.dumps`` writes for what ``normalise_*`` reads; other spellings give that value, or its refusal."""
    rng = random.Random(20261205)
    numbers = _numbers(2)
    hexes = ["#cccc99", "#CCCC99", "#003333", "#AbCdEf", "#000000"]
    dominant = [REPR_COLOURS, "[]", '[{"rgb": [1, 2, 3], "percentage": 5}]', *_random_dominant_spellings(rng, numbers)]
    websafe = [
        REPR_WEBSAFE,
        "{}",
        "[{'hex': '#000000', 'percentage': 3}]",
        *_random_websafe_spellings(rng, numbers, hexes),
    ]
    as_text = 0
    for texts, as_json, normalise in (
        (dominant, lv.dominant_colors_json, lv.normalise_dominant_colors),
        (websafe, lv.websafe_colors_json, lv.normalise_websafe_colors),
    ):
        for text in texts:
            expected = _outcome(normalise, text)
            try:
                made = as_json(text)
            except UnreadableLegacyValue:
                assert expected == "unreadable", text
                continue
            if isinstance(made, lv.JsonText):
                as_text += 1
                assert made == json.dumps(normalise(text)), text
                # Read back, it is the value (the sign of a zero share included).
                assert repr(json.loads(made)) == expected, text
            else:
                assert repr(made) == expected, text
    assert as_text > len(dominant + websafe) // 3
    assert isinstance(lv.dominant_colors_json(REPR_COLOURS), lv.JsonText)
    assert isinstance(lv.websafe_colors_json(REPR_WEBSAFE), lv.JsonText)
    assert lv.dominant_colors_json(None) is None
