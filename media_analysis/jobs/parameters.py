"""The parameters of an analysis job, and the one validator of them.

The API, the admin form and the command line all validate through
``parse_parameters``, which runs ``JobParametersSerializer``; the API schema is
documented from the same serializer, so what the schema says is what is checked.

Semantics (see docs/MEDIA_ANALYSIS_GUIDE.md and media_analysis.jobs.selection):

* ``depth`` absent: every page whatever its depth. ``depth = D``: pages whose
  depth is known and <= D (so ``0`` means the seed pages only); pages with an
  unknown (NULL) depth are left out as soon as a depth is given.
* ``minrel`` absent: every page, scored or not. ``minrel = R``: pages whose
  relevance is known and >= R; NULL relevance (never scored) is left out.
* ``media_types``: any of ``img``, ``video``, ``audio``; default ``["img"]``.
* ``force`` false: only media never analysed (status pending); with
  ``retry_failed`` also the failed ones. ``force`` true: every selected media.
* ``ocr`` true: the text in the pictures is read too (Tesseract), and images
  already analysed whose text was never read are taken as well. Refused, with
  the command that installs it, when the engine is not available here.

Values may come as JSON types or as the strings of a form or a command line
(``"2"``, ``"true"``, ``"img, video"``); an empty value means the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

from lands.models import PAGE_NUMBER_MAX, MediaType
from media_analysis.errors import InvalidParameters

DEFAULT_MEDIA_TYPES = (MediaType.IMAGE.value,)
PARAMETER_NAMES = ("depth", "minrel", "media_types", "force", "retry_failed", "ocr")


@dataclass(frozen=True)
class JobParameters:
    depth: int | None = None
    minrel: int | None = None
    media_types: tuple[str, ...] = DEFAULT_MEDIA_TYPES
    force: bool = False
    retry_failed: bool = False
    ocr: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["media_types"] = list(self.media_types)
        return data


class _OptionalIntegerField(serializers.IntegerField):
    """An integer, or None when absent or empty; strings of digits are accepted."""

    def run_validation(self, data: Any = empty) -> int | None:
        if data is None or data == "":
            return None
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            raise serializers.ValidationError("must be an integer, not a boolean")
        try:
            number = int(str(data).strip())
        except (TypeError, ValueError):
            raise serializers.ValidationError(f"must be an integer (got {data!r})") from None
        if self.min_value is not None and number < self.min_value:
            raise serializers.ValidationError(f"must be >= {self.min_value} (got {number})")
        if self.max_value is not None and number > self.max_value:
            raise serializers.ValidationError(f"must be <= {self.max_value} (got {str(data).strip()[:30]})")
        return number


class _FlagField(serializers.BooleanField):
    """A boolean; absent or empty is false; 1/0, true/false, yes/no, on/off in any case."""

    def run_validation(self, data: Any = empty) -> bool:
        if data is empty or data is None or data == "":
            return False
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        text = str(data).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise serializers.ValidationError(f"must be a boolean (got {data!r})")


class _MediaTypesField(serializers.ListField):
    """Media types as a list or a comma-separated string; absent or empty means the default."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.ChoiceField(choices=MediaType.values), **kwargs)

    def run_validation(self, data: Any = empty) -> list[str]:
        if data is empty or data is None or data == "" or data == []:
            return list(DEFAULT_MEDIA_TYPES)
        return self.to_internal_value(data)

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            data = [part.strip() for part in data.split(",") if part.strip()]
        if not isinstance(data, list | tuple) or not all(isinstance(t, str) for t in data):
            raise serializers.ValidationError("must be a list of media types")
        bad = sorted(set(data) - set(MediaType.values))
        if bad:
            raise serializers.ValidationError(
                f"unknown media type(s): {', '.join(bad)}; allowed: {', '.join(MediaType.values)}"
            )
        return list(dict.fromkeys(data)) or list(DEFAULT_MEDIA_TYPES)


class JobParametersSerializer(serializers.Serializer):
    """The body of POST /api/lands/{id}/medianalyse/, and every other way of giving job parameters."""

    depth = _OptionalIntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=PAGE_NUMBER_MAX,
        help_text="Only pages of depth <= depth (0: the seed pages)",
    )
    # Relevance is never negative in the crawler, and the exports refuse a negative minimum: one rule.
    minrel = _OptionalIntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=PAGE_NUMBER_MAX,
        help_text="Only pages whose relevance is known and >= minrel",
    )
    media_types = _MediaTypesField(required=False, help_text="Media types to analyse; default img")
    force = _FlagField(required=False, default=False, help_text="Analyse again media already analysed")
    retry_failed = _FlagField(required=False, default=False, help_text="Also retry media whose analysis failed")
    ocr = _FlagField(
        required=False,
        default=False,
        help_text="Also read the text in pictures (OCR); refused when Tesseract is not installed",
    )

    def validate_ocr(self, value: bool) -> bool:
        if value:
            reason = ocr_unavailable()
            if reason:
                raise serializers.ValidationError(f"OCR is unavailable: {reason}")
        return value

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Unknown names are refused (a misspelt parameter must not be silently ignored),
        # reported together with the errors of the known ones.
        errors: dict[str, Any] = {}
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(PARAMETER_NAMES))
            if unknown:
                errors[api_settings.NON_FIELD_ERRORS_KEY] = [
                    f"unknown parameter(s): {', '.join(unknown)}; allowed: {', '.join(PARAMETER_NAMES)}"
                ]
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as invalid:
            detail = invalid.detail
            if not isinstance(detail, dict):
                detail = {api_settings.NON_FIELD_ERRORS_KEY: detail}
            for name, messages in detail.items():
                errors.setdefault(name, []).extend(messages)
            values = {}
        if errors:
            raise serializers.ValidationError(errors)
        return values


def parse_parameters(raw: Mapping[str, Any] | None) -> JobParameters:
    """Validate user-supplied parameters; raise InvalidParameters listing every problem by field."""
    serializer = JobParametersSerializer(data=raw if raw is not None else {})
    if not serializer.is_valid():
        errors = {name: [str(message) for message in messages] for name, messages in serializer.errors.items()}
        message = "; ".join(f"{name}: {', '.join(messages)}" for name, messages in errors.items())
        raise InvalidParameters(f"Invalid parameters: {message}", errors)
    values = serializer.validated_data
    return JobParameters(
        depth=values.get("depth"),
        minrel=values.get("minrel"),
        media_types=tuple(values.get("media_types", DEFAULT_MEDIA_TYPES)),
        force=values.get("force", False),
        retry_failed=values.get("retry_failed", False),
        ocr=values.get("ocr", False),
    )


def ocr_unavailable() -> str:
    """Why this deployment cannot read text in pictures, with the command that fixes it; empty when it can."""
    from django.conf import settings

    from media_analysis.engine.text.tesseract import availability

    found = availability(settings.MEDIA_ANALYSIS_OCR_LANGUAGES, settings.MEDIA_ANALYSIS_OCR_TESSDATA)
    return "" if found.available else found.reason
