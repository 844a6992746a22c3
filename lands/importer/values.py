"""Reading the values of a legacy MyWebIntelligence database, safely.

The crawler stored its data with peewee on SQLite, and over its versions the
same column held different spellings: dates as text in several formats,
colours and EXIF as JSON or as a Python ``repr`` (with numpy scalars such as
``np.float64(12.5)`` inside), booleans as 0/1 or as text. These functions turn
one raw value into the shape medianalyse stores.

Pure code: no Django. A value that cannot be understood raises
``UnreadableLegacyValue``; an empty one gives None. Nothing here evaluates
code: repr strings are parsed with ``ast`` and only literals (plus a short
list of known numpy/Pillow scalar wrappers, unwrapped on the syntax tree)
are accepted.
"""

from __future__ import annotations

import ast
import codecs
import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, cast

from lands.errors import UnreadableLegacyValue

# A repr of a few dominant colours or an EXIF dict is a few kB; anything far
# larger is not one of those, and parsing it would only cost memory.
MAX_LITERAL_CHARS = 1_000_000

_EMPTY_STRINGS = {"", "none", "null", "nan", "0000-00-00", "0000-00-00 00:00:00"}

# --- Literals (JSON or Python repr) ------------------------------------------

_NUMPY_MODULES = {"np", "numpy"}
_NUMPY_SCALARS = {
    "float16",
    "float32",
    "float64",
    "float128",
    "float_",
    "double",
    "longdouble",
    "half",
    "single",
    "int8",
    "int16",
    "int32",
    "int64",
    "int_",
    "intc",
    "intp",
    "longlong",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uint",
    "uintc",
    "uintp",
    "ulonglong",
    "bool_",
    "str_",
    "bytes_",
}
_NUMPY_CONSTANTS: dict[str, Any] = {"True_": True, "False_": False, "nan": None, "inf": None, "NaN": None, "NAN": None}
_RATIONAL_NAMES = {"IFDRational", "PIL.TiffImagePlugin.IFDRational", "TiffImagePlugin.IFDRational"}
# Non-finite floats have no JSON spelling; they mean "no value" here.
_NON_FINITE_NAMES = {"nan", "inf", "NaN", "Infinity", "infinity"}


def _dotted_name(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _numeric_constant(node: ast.AST) -> float | int | None:
    """The number a literal node spells (``-3`` included), or None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _numeric_constant(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    return None


def _known_call(node: ast.Call) -> ast.expr:
    name = _dotted_name(node.func)
    if name is None:
        return node
    module, _, attr = name.rpartition(".")
    if module in _NUMPY_MODULES and attr in _NUMPY_SCALARS and len(node.args) == 1 and not node.keywords:
        return _unwrap(node.args[0])
    if name in {"np.array", "numpy.array", "array"} and len(node.args) == 1:
        # Keywords such as dtype=uint8 only describe the storage.
        return _unwrap(node.args[0])
    if name in _RATIONAL_NAMES and 1 <= len(node.args) <= 2 and not node.keywords:
        numbers = [number for arg in node.args if (number := _numeric_constant(arg)) is not None]
        if len(numbers) != len(node.args):
            return node
        numerator = numbers[0]
        denominator = numbers[1] if len(numbers) == 2 else 1
        return ast.Constant(numerator / denominator if denominator else None)
    return node


def _unwrap(node: ast.expr) -> ast.expr:
    """Rewrite the few non-literal spellings a repr of analysis results contains.

    ``np.float64(12.5)`` -> ``12.5``, ``np.array([1, 2])`` -> ``[1, 2]``,
    ``IFDRational(1, 3)`` -> ``0.333...``, ``nan``/``np.nan`` -> ``None``.
    Only literal containers are descended into, and every other call or name
    is left in place, so ``ast.literal_eval`` refuses it.
    """
    if isinstance(node, ast.Constant):
        return node
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        node.elts = [_unwrap(element) for element in node.elts]
        return node
    if isinstance(node, ast.Dict):
        node.keys = [None if key is None else _unwrap(key) for key in node.keys]
        node.values = [_unwrap(value) for value in node.values]
        return node
    if isinstance(node, ast.UnaryOp):
        node.operand = _unwrap(node.operand)
        # "-inf" has become "-None": keep the None.
        if isinstance(node.operand, ast.Constant) and node.operand.value is None:
            return node.operand
        return node
    if isinstance(node, ast.Call):
        return _known_call(node)
    if isinstance(node, ast.Attribute):
        name = _dotted_name(node)
        if name is not None:
            module, _, attr = name.rpartition(".")
            if module in _NUMPY_MODULES and attr in _NUMPY_CONSTANTS:
                return ast.Constant(_NUMPY_CONSTANTS[attr])
        return node
    if isinstance(node, ast.Name) and node.id in _NON_FINITE_NAMES:
        return ast.Constant(None)
    return node


def _as_text(value: object) -> object:
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def parse_legacy_literal(value: object) -> Any:
    """A JSON or Python-repr string as Python data; non-strings pass through.

    Returns None for an empty value. Raises ``UnreadableLegacyValue`` when the
    text is neither JSON nor a Python literal (after unwrapping known numpy and
    IFDRational scalars). The result may still hold tuples, bytes or NaN: pass
    it through ``to_json_safe`` before storing it.
    """
    value = _as_text(value)
    if value is None or not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in _EMPTY_STRINGS:
        return None
    if len(text) > MAX_LITERAL_CHARS:
        raise UnreadableLegacyValue(f"literal of {len(text)} characters is too long")
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError as exc:
        raise UnreadableLegacyValue("literal nested too deeply") from exc
    try:
        tree = ast.parse(text, mode="eval")
        return ast.literal_eval(_unwrap(tree.body))
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, OverflowError) as exc:
        # OverflowError: an IFDRational whose ratio no float holds.
        raise UnreadableLegacyValue(f"not JSON nor a Python literal: {text[:60]!r}") from exc


# The crawler's colour reprs ("[{'rgb': (np.float64(12.5), 34, 56), 'percentage': 41.5}]") hold only
# quoted keys, numbers, numpy number wrappers and containers. Such text becomes JSON with a few
# substitutions, which costs a fraction of parsing it as Python; anything else, or anything JSON then
# refuses, goes through parse_legacy_literal. Tuples come back as lists.
_REPR_NUMBER = r"-?\d++(?:\.\d++)?+(?:[eE][-+]?\d++)?+"
_REPR_WRAPPER = r"(?:np|numpy)\.(?:float16|float32|float64|int8|int16|int32|int64|uint8|uint16|uint32|uint64)"
_REPR_STRING = r"""'[^'"\\\x00-\x1f]*+'"""
_PLAIN_REPR = re.compile(
    rf"(?>{_REPR_STRING}|{_REPR_WRAPPER}\({_REPR_NUMBER}\)|{_REPR_NUMBER}|True|False|None|[\[\]{{}}(),: ])*+"
)
_REPR_TOKEN = re.compile(rf"({_REPR_STRING})|{_REPR_WRAPPER}\(({_REPR_NUMBER})\)|True|False|None|\(|\)")
_REPR_WORDS = {"True": "true", "False": "false", "None": "null", "(": "[", ")": "]"}


def _repr_as_json(match: re.Match[str]) -> str:
    text, number = match.group(1), match.group(2)
    if text is not None:
        return '"' + text[1:-1] + '"'
    if number is not None:
        return number
    return _REPR_WORDS[match.group(0)]


def _parse_plain_literal(value: object) -> Any:
    """``parse_legacy_literal``, faster on the crawler's plain reprs (tuples then come back as lists)."""
    if isinstance(value, str) and len(value) <= MAX_LITERAL_CHARS and _PLAIN_REPR.fullmatch(value):
        try:
            return json.loads(_REPR_TOKEN.sub(_repr_as_json, value))
        except ValueError:
            pass
    return parse_legacy_literal(value)


# EXIF reprs add bytes (b'Canon\x00'), with the escapes repr writes, and PIL's IFDRational(n, d) to the colours'
# spellings. Bytes become a JSON string marked by a leading NUL (no plain string holds one) and are turned
# back into bytes before to_json_safe, which reads them as the Python parser's result would be read.
_REPR_BYTES = r"""b'(?:[\x20-\x26\x28-\x5b\x5d-\x7e]|\\(?:x[0-9a-fA-F]{2}|[\\'tnr]))*+'"""
_REPR_RATIONAL = rf"(?:(?:PIL\.)?TiffImagePlugin\.)?IFDRational\(({_REPR_NUMBER})(?:, ({_REPR_NUMBER}))?\)"
_PLAIN_EXIF_REPR = re.compile(
    rf"(?>{_REPR_STRING}|{_REPR_BYTES}|{_REPR_WRAPPER}\({_REPR_NUMBER}\)|{_REPR_RATIONAL}|{_REPR_NUMBER}"
    rf"|True|False|None|[\[\]{{}}(),: ])*+"
)
_EXIF_TOKEN = re.compile(
    rf"({_REPR_STRING})|({_REPR_BYTES})|{_REPR_WRAPPER}\(({_REPR_NUMBER})\)|{_REPR_RATIONAL}|True|False|None|\(|\)"
)
_BYTES_MARK = "\x00"


def _number_of(text: str) -> int | float:
    return float(text) if any(char in text for char in ".eE") else int(text)


def _exif_repr_as_json(match: re.Match[str]) -> str:
    text, raw, number, numerator, denominator = match.groups()
    if text is not None:
        return '"' + text[1:-1] + '"'
    if raw is not None:
        return json.dumps(_BYTES_MARK + codecs.escape_decode(raw[2:-1].encode("ascii"))[0].hex())
    if number is not None:
        return number
    if numerator is not None:
        # As IFDRational's value: numerator / denominator, None for a zero denominator.
        divisor = _number_of(denominator) if denominator is not None else 1
        ratio = _number_of(numerator) / divisor if divisor else None
        return "null" if ratio is None else repr(float(ratio))
    return _REPR_WORDS[match.group(0)]


def _restore_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return bytes.fromhex(value[1:]) if value.startswith(_BYTES_MARK) else value
    if isinstance(value, dict):
        return {_restore_bytes(key): _restore_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_bytes(item) for item in value]
    return value


def _parse_exif_literal(value: object) -> Any:
    """``parse_legacy_literal``, faster on the crawler's plain EXIF reprs (tuples then come back as lists)."""
    if isinstance(value, str) and len(value) <= MAX_LITERAL_CHARS and _PLAIN_EXIF_REPR.fullmatch(value):
        try:
            return _restore_bytes(json.loads(_EXIF_TOKEN.sub(_exif_repr_as_json, value)))
        except (ValueError, OverflowError):
            pass
    return parse_legacy_literal(value)


_DROP = object()
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _bytes_as_text(raw: bytes) -> object:
    """Text bytes (EXIF strings are NUL-padded ASCII) decoded; binary blobs dropped."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _DROP
    text = text.replace("\x00", "").strip()
    if _CONTROL_CHARS.search(text):
        return _DROP
    return text


def _json_safe(value: Any, depth: int) -> Any:
    if depth > 50:
        return _DROP
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_as_text(bytes(value))
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if isinstance(key, bytes | bytearray):
                key = _bytes_as_text(bytes(key))
                if key is _DROP:
                    continue
            converted = _json_safe(item, depth + 1)
            if converted is not _DROP:
                result[str(key)] = converted
        return result
    if isinstance(value, set | frozenset):
        value = sorted(value, key=repr)
    if isinstance(value, list | tuple):
        items = (_json_safe(item, depth + 1) for item in value)
        return [item for item in items if item is not _DROP]
    return _DROP


def to_json_safe(value: Any) -> Any:
    """Data a JSON column accepts: tuples become lists, keys strings, NaN None.

    Bytes that are text are decoded (NULs stripped); binary bytes and other
    objects are dropped (None at the top level).
    """
    converted = _json_safe(value, 0)
    return None if converted is _DROP else converted


# --- Colours -------------------------------------------------------------------

_HEX_COLOUR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def _rgb_from(value: Any) -> list[int]:
    if isinstance(value, str):
        match = _HEX_COLOUR.fullmatch(value.strip())
        if not match:
            raise UnreadableLegacyValue(f"not a colour: {value!r}")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(char * 2 for char in digits)
        return [int(digits[i : i + 2], 16) for i in (0, 2, 4)]
    if isinstance(value, list | tuple) and len(value) in (3, 4):
        channels = []
        for channel in value[:3]:
            if isinstance(channel, bool) or not isinstance(channel, int | float) or not math.isfinite(channel):
                raise UnreadableLegacyValue(f"not a colour: {value!r}")
            channels.append(min(255, max(0, round(channel))))
        return channels
    raise UnreadableLegacyValue(f"not a colour: {value!r}")


def hex_of(rgb: Iterable[int]) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def _percentage(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnreadableLegacyValue(f"not a percentage: {value!r}")
    return float(value)


def _colour_and_share(item: Any) -> tuple[list[int], float]:
    if isinstance(item, dict):
        colour = next((item[key] for key in ("rgb", "color", "colour", "hex") if item.get(key) is not None), None)
        share = next((item[key] for key in ("percentage", "percent", "share") if key in item), None)
        if colour is None:
            raise UnreadableLegacyValue(f"colour entry without a colour: {item!r}")
        return _rgb_from(colour), _percentage(share)
    if isinstance(item, list | tuple) and len(item) == 2:
        return _rgb_from(item[0]), _percentage(item[1])
    raise UnreadableLegacyValue(f"not a colour entry: {item!r}")


# The crawler's own spellings of the two colour columns, read without building Python data first: a list of
# {'rgb': (r, g, b), 'percentage': p} and a dict of '#rrggbb': p, every number plain or in a numpy wrapper.
# Numbers are limited to spellings both parsers read alike (no leading zero, no exponent, at most fifteen
# integer digits, so every one is finite); anything else takes the general path below.
_FAST_NUMBER = r"(-?(?:0|[1-9]\d{0,14})(?:\.\d++)?+)"
_FAST_VALUE = rf"(?:{_REPR_WRAPPER}\({_FAST_NUMBER}\)|{_FAST_NUMBER})"
_FAST_COLOUR = rf"\{{'rgb': \({_FAST_VALUE}, {_FAST_VALUE}, {_FAST_VALUE}\), 'percentage': {_FAST_VALUE}\}}"
_FAST_COLOUR_ENTRY = re.compile(_FAST_COLOUR)
_FAST_COLOUR_LIST = re.compile(rf"\[(?:{_FAST_COLOUR}(?:, {_FAST_COLOUR})*+)?+\]")
_FAST_WEBSAFE = rf"'#([0-9a-fA-F]{{6}})': {_FAST_VALUE}"
_FAST_WEBSAFE_ENTRY = re.compile(_FAST_WEBSAFE)
_FAST_WEBSAFE_DICT = re.compile(rf"\{{(?:{_FAST_WEBSAFE}(?:, {_FAST_WEBSAFE})*+)?+\}}")


def _fast_float(wrapped: str, plain: str) -> float:
    text = wrapped or plain
    # As the general path: an integer spelling is an int first ("-0" is 0.0, not -0.0).
    return float(text) if "." in text else float(int(text))


# The channels spelled as plain integers in range, the usual case, read by one lookup.
_CHANNEL_SPELLINGS = {str(channel): channel for channel in range(256)}


def _fast_channel(wrapped: str, plain: str) -> int:
    text = wrapped or plain
    channel = _CHANNEL_SPELLINGS.get(text)
    if channel is not None:
        return channel
    return min(255, max(0, round(float(text) if "." in text else float(int(text)))))


def _fast_dominant_colors(text: str) -> list[dict[str, Any]]:
    colours: list[dict[str, Any]] = []
    for r1, r2, g1, g2, b1, b2, p1, p2 in _FAST_COLOUR_ENTRY.findall(text):
        red, green, blue = _fast_channel(r1, r2), _fast_channel(g1, g2), _fast_channel(b1, b2)
        colours.append(
            {"rgb": [red, green, blue], "hex": f"#{red:02x}{green:02x}{blue:02x}", "percentage": _fast_float(p1, p2)}
        )
    colours.sort(key=_share, reverse=True)
    return colours


def _share(colour: dict[str, Any]) -> float:
    return colour["percentage"]


def _fast_websafe_colors(text: str) -> dict[str, float]:
    # A key spelled twice keeps its first place and its last value, as a parsed dict does.
    shares: dict[str, float] = {}
    for digits, wrapped, plain in _FAST_WEBSAFE_ENTRY.findall(text):
        shares[digits] = _fast_float(wrapped, plain)
    totals: dict[str, float] = {}
    for digits, share in shares.items():
        key = "#" + digits.lower()
        totals[key] = totals.get(key, 0.0) + share
    return dict(sorted(totals.items(), key=_second, reverse=True))


def _second(item: tuple[str, float]) -> float:
    return item[1]


class JsonText(str):
    """A JSON column's value already written as the JSON text Django's encoder would write for it.

    The bulk insert stores it as it is instead of encoding Python data; nothing else should receive one.
    """

    __slots__ = ()


def _json_float(value: float) -> str:
    # json.dumps writes a finite float with float.__repr__; the fast paths only read finite numbers.
    return float.__repr__(value)


def _fast_dominant_colors_json(text: str) -> JsonText:
    channel, share = _fast_channel, _fast_float
    entries = [
        (share(p1, p2), channel(r1, r2), channel(g1, g2), channel(b1, b2))
        for r1, r2, g1, g2, b1, b2, p1, p2 in _FAST_COLOUR_ENTRY.findall(text)
    ]
    # Stable, as the sort of the dicts: equal shares keep the legacy order.
    entries.sort(key=_first, reverse=True)
    return JsonText(
        "["
        + ", ".join(
            f'{{"rgb": [{red}, {green}, {blue}], "hex": "#{red:02x}{green:02x}{blue:02x}", '
            f'"percentage": {_json_float(share)}}}'
            for share, red, green, blue in entries
        )
        + "]"
    )


def _first(item: tuple[float, int, int, int]) -> float:
    return item[0]


def _fast_websafe_colors_json(text: str) -> JsonText:
    return JsonText(
        "{" + ", ".join(f'"{key}": {_json_float(share)}' for key, share in _fast_websafe_colors(text).items()) + "}"
    )


def dominant_colors_json(value: object) -> JsonText | list[dict[str, Any]] | None:
    """``normalise_dominant_colors`` for a row to be inserted: the crawler's own spelling becomes the stored JSON
    text directly (no dicts built, then encoded); any other spelling gives what ``normalise_dominant_colors``
    gives."""
    if value.__class__ is str and _FAST_COLOUR_LIST.fullmatch(value):
        return _fast_dominant_colors_json(value)
    return normalise_dominant_colors(value)


def websafe_colors_json(value: object) -> JsonText | dict[str, float] | None:
    """``normalise_websafe_colors`` for a row to be inserted, as ``dominant_colors_json``."""
    if value.__class__ is str and _FAST_WEBSAFE_DICT.fullmatch(value):
        return _fast_websafe_colors_json(value)
    return normalise_websafe_colors(value)


def normalise_dominant_colors(value: object) -> list[dict[str, Any]] | None:
    """Legacy dominant colours as ``[{"rgb": [r, g, b], "hex": "#rrggbb", "percentage": p}]``.

    Accepts the crawler's ``[{'rgb': (r, g, b), 'percentage': p}]`` (JSON or
    repr, numpy scalars included) and ``[((r, g, b), p)]`` pairs. Sorted by
    share, largest first. One unreadable entry makes the whole value
    unreadable: a partial palette would misstate the shares.
    """
    if value.__class__ is str and _FAST_COLOUR_LIST.fullmatch(value):
        return _fast_dominant_colors(value)
    data = _parse_plain_literal(value)
    if data is None:
        return None
    if not isinstance(data, list | tuple):
        raise UnreadableLegacyValue(f"dominant colours are not a list: {type(data).__name__}")
    colours: list[dict[str, Any]] = []
    for item in data:
        rgb, share = _colour_and_share(item)
        colours.append({"rgb": rgb, "hex": hex_of(rgb), "percentage": share})
    colours.sort(key=lambda colour: colour["percentage"], reverse=True)
    return colours


def normalise_websafe_colors(value: object) -> dict[str, float] | None:
    """Legacy web-safe colours as ``{"#rrggbb": percentage}``, largest share first.

    The crawler wrote a dict keyed by hex; lists of entries or pairs are
    accepted too. Shares of colours spelled twice are summed.
    """
    if value.__class__ is str and _FAST_WEBSAFE_DICT.fullmatch(value):
        return _fast_websafe_colors(value)
    data = _parse_plain_literal(value)
    if data is None:
        return None
    if isinstance(data, dict):
        pairs = [(_rgb_from(colour), _percentage(share)) for colour, share in data.items()]
    elif isinstance(data, list | tuple):
        pairs = [_colour_and_share(item) for item in data]
    else:
        raise UnreadableLegacyValue(f"web-safe colours are neither a dict nor a list: {type(data).__name__}")
    totals: dict[str, float] = {}
    for rgb, share in pairs:
        key = hex_of(rgb)
        totals[key] = totals.get(key, 0.0) + share
    return dict(sorted(totals.items(), key=lambda item: item[1], reverse=True))


# --- EXIF ------------------------------------------------------------------------


# The one-pass reading of the crawler's EXIF reprs (_fast_exif): each bytes literal becomes, as it is read, the
# text to_json_safe would make of it, or this string when to_json_safe would drop it (no kept text is a lone NUL:
# repr strings hold none, and the text of bytes has its NULs removed).
_DROPPED = "\x00"
_DROPPED_JSON = json.dumps(_DROPPED)
# An exponent of three digits may spell a number beyond a float (read as infinity, which to_json_safe changes).
_LARGE_EXPONENT = re.compile(r"[eE][-+]?\d{3}")
# to_json_safe drops what is nested deeper than 50 containers; fewer brackets than that cannot reach it.
_MAX_FAST_BRACKETS = 50
_NOT_FAST = object()


def _exif_repr_as_safe_json(match: re.Match[str]) -> str:
    raw = match.group(2)
    if raw is not None:
        text = _bytes_as_text(codecs.escape_decode(raw[2:-1].encode("ascii"))[0])
        return _DROPPED_JSON if text is _DROP else json.dumps(text)
    return _exif_repr_as_json(match)


def _without_dropped(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_dropped(item)
            for key, item in value.items()
            if key != _DROPPED and not (item.__class__ is str and item == _DROPPED)
        }
    if isinstance(value, list):
        return [_without_dropped(item) for item in value if not (item.__class__ is str and item == _DROPPED)]
    return value


def _fast_exif(value: object) -> Any:
    """``to_json_safe`` of the parsed EXIF dict for the crawler's plain reprs, in one reading (no bytes restored
    then decoded again, no second walk of the data); ``_NOT_FAST`` for anything the general path must read."""
    if value.__class__ is not str or len(value) > MAX_LITERAL_CHARS or not _PLAIN_EXIF_REPR.fullmatch(value):
        return _NOT_FAST
    try:
        converted = _EXIF_TOKEN.sub(_exif_repr_as_safe_json, value)
    except (ValueError, OverflowError):
        return _NOT_FAST
    if converted.count("{") + converted.count("[") > _MAX_FAST_BRACKETS or _LARGE_EXPONENT.search(converted):
        return _NOT_FAST
    try:
        data = json.loads(converted)
    except (ValueError, OverflowError, RecursionError):
        return _NOT_FAST
    if not isinstance(data, dict):
        return _NOT_FAST
    return _without_dropped(data) if _DROPPED_JSON in converted else data


def normalise_exif(value: object) -> dict[str, Any] | None:
    """Legacy EXIF (JSON or repr, IFDRational and bytes inside) as a JSON-safe dict."""
    safe = _fast_exif(value)
    if safe is not _NOT_FAST:
        return safe
    data = _parse_exif_literal(value)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UnreadableLegacyValue(f"EXIF is not a dict: {type(data).__name__}")
    return to_json_safe(data)


def exif_summary(exif: dict[str, Any] | None) -> tuple[str | None, str | None, str | None]:
    """(make, model, date) from an EXIF dict; the date is DateTimeOriginal, else DateTime."""
    if not exif:
        return None, None, None

    def text(key: str) -> str | None:
        raw = exif.get(key)
        if raw is None:
            return None
        cleaned = str(raw).strip()
        return cleaned or None

    return text("Make"), text("Model"), text("DateTimeOriginal") or text("DateTime")


# --- Dates -------------------------------------------------------------------------

_MIN_YEAR = 1900
_MAX_YEAR = 2200
# Unix seconds up to year 2200; larger numbers are taken as milliseconds.
_MAX_TIMESTAMP = 7_258_118_400
_EXTRA_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y-%m-%d %H:%M:%S %Z",
    "%Y%m%d",
)


_PLAIN_ISO_DATETIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?")


def _from_timestamp(number: float) -> datetime:
    if not math.isfinite(number) or number <= 0:
        raise UnreadableLegacyValue(f"not a timestamp: {number!r}")
    if number > _MAX_TIMESTAMP:
        number /= 1000
    if number > _MAX_TIMESTAMP:
        raise UnreadableLegacyValue(f"not a timestamp: {number!r}")
    return datetime.fromtimestamp(number, tz=UTC)


def _parse_date_text(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _EXTRA_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        # RFC 2822, as found in HTTP headers and some meta tags.
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    raise UnreadableLegacyValue(f"not a date: {text[:60]!r}")


def parse_legacy_datetime(value: object) -> datetime | None:
    """A timezone-aware UTC datetime from whatever peewee left in a DATETIME column.

    Text in ISO and a few other spellings (``'2024-03-01 12:34:56.123456'``,
    with ``T``, ``Z`` or an offset, date only...), Unix timestamps (seconds
    or milliseconds), or datetime objects. Naive values are taken as UTC: the
    crawler wrote its host's local time without saying which.
    """
    if value.__class__ is str and _PLAIN_ISO_DATETIME.fullmatch(value):
        # What peewee writes: the general path below gives the same, after more tests.
        try:
            plain = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if _MIN_YEAR <= plain.year <= _MAX_YEAR:
                return plain.replace(tzinfo=UTC)
    value = _as_text(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise UnreadableLegacyValue(f"not a date: {value!r}")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float):
        if value == 0:
            return None
        parsed = _from_timestamp(float(value))
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in _EMPTY_STRINGS or text == "0":
            return None
        is_timestamp = re.fullmatch(r"\d{9,13}(\.\d+)?", text) is not None
        parsed = _from_timestamp(float(text)) if is_timestamp else _parse_date_text(text)
    else:
        raise UnreadableLegacyValue(f"not a date: {type(value).__name__}")
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        raise UnreadableLegacyValue(f"date out of range: {parsed.isoformat()}")
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --- Scalars ---------------------------------------------------------------------


def coerce_text(value: object, max_length: int | None = None) -> str | None:
    """Text without NUL characters (PostgreSQL refuses them), cut to ``max_length``."""
    if type(value) is str and "\x00" not in value and (max_length is None or len(value) <= max_length):
        return value
    value = _as_text(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\x00", "")
    if max_length is not None and len(text) > max_length:
        text = text[:max_length]
    return text


_NONE_TYPE = type(None)


def coerce_texts(values: Iterable[object], max_length: int | None = None) -> list[str | None]:
    """``coerce_text`` of each value of a column. A column of plain texts (and None) without NUL and within the
    length, the usual case, is checked in a few passes in C over the whole column, not by a call per value."""
    column = list(values)
    kinds = set(map(type, column))
    kinds.discard(_NONE_TYPE)
    if kinds <= {str}:
        texts = cast("list[str]", list(filter(None, column)))
        if "\x00" not in "".join(texts) and (max_length is None or max(map(len, texts), default=0) <= max_length):
            return cast("list[str | None]", column)
    return [coerce_text(value, max_length) for value in column]


def coerce_int(value: object, *, minimum: int = -(2**31), maximum: int = 2**31 - 1) -> int | None:
    value = _as_text(value)
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _EMPTY_STRINGS:
            return None
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise UnreadableLegacyValue(f"not an integer: {text[:60]!r}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnreadableLegacyValue(f"not an integer: {value!r}")
        value = round(value)
    if not isinstance(value, int):
        raise UnreadableLegacyValue(f"not an integer: {type(value).__name__}")
    number = int(value)
    if not minimum <= number <= maximum:
        raise UnreadableLegacyValue(f"integer out of range: {number}")
    return number


def coerce_float(value: object) -> float | None:
    if value.__class__ is float and math.isfinite(value):
        return value
    value = _as_text(value)
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _EMPTY_STRINGS:
            return None
        try:
            value = float(text)
        except ValueError:
            raise UnreadableLegacyValue(f"not a number: {text[:60]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnreadableLegacyValue(f"not a number: {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise UnreadableLegacyValue(f"not a finite number: {number!r}")
    return number


_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


def coerce_bool(value: object) -> bool | None:
    if value.__class__ is int and (value == 0 or value == 1):
        return value == 1
    value = _as_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text in _EMPTY_STRINGS:
            return None
    raise UnreadableLegacyValue(f"not a boolean: {value!r}")


# --- Media -------------------------------------------------------------------------

_MEDIA_TYPES = {
    "img": "img",
    "image": "img",
    "images": "img",
    "picture": "img",
    "photo": "img",
    "video": "video",
    "videos": "video",
    "audio": "audio",
    "sound": "audio",
}


def legacy_media_type(value: object) -> str | None:
    """Our media type for the crawler's ``media.type``, or None when unknown."""
    text = coerce_text(value)
    if text is None:
        return None
    return _MEDIA_TYPES.get(text.strip().lower())


def legacy_media_types(values: Iterable[object]) -> list[str | None]:
    """``legacy_media_type`` of each value of a column."""
    known = _MEDIA_TYPES.get
    return [None if text is None else known(text.strip().lower()) for text in coerce_texts(values)]


def legacy_status(analyzed_at: datetime | None, analysis_error: str | None) -> str:
    """The analysis status a legacy row is in: an ended attempt is done, or failed with an error."""
    if analyzed_at is None:
        return "pending"
    return "failed" if analysis_error else "done"


# Ordered: the first matching pattern wins.
_ERROR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("decompression_bomb", re.compile(r"decompression ?bomb", re.I)),
    ("not_an_image", re.compile(r"cannot identify image|unidentifiedimage|not an image", re.I)),
    ("corrupt_image", re.compile(r"truncated|corrupt|broken data stream|image file is|decoder", re.I)),
    ("too_large", re.compile(r"taille.*d[ée]pass|too large|too big|exceeds", re.I)),
    ("timeout", re.compile(r"time ?out|timed out", re.I)),
    ("http_status", re.compile(r"\b(?:http|status)\b\D{0,12}[1-5]\d\d\b", re.I)),
    ("network", re.compile(r"connect|ssl|dns|name or service|resolve|network|reset by peer", re.I)),
)


@lru_cache(maxsize=4096)
def classify_legacy_error(message: str | None) -> str | None:
    """An ``error_class`` code for the crawler's free-text analysis error ("error" when unknown)."""
    if not message:
        return None
    for code, pattern in _ERROR_PATTERNS:
        if pattern.search(message):
            return code
    return "error"


@lru_cache(maxsize=256)
def mime_type_for_format(image_format: str | None) -> str | None:
    """``image/jpeg`` for Pillow's ``JPEG`` and so on; None when unknown."""
    if not image_format:
        return None
    from PIL import Image

    Image.init()
    return Image.MIME.get(image_format.strip().upper())
