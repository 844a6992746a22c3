"""Small helpers that build corpus rows for tests (plain functions, no factory library)."""

from __future__ import annotations

import hashlib
import itertools

from lands.models import Domain, Expression, Land, Media

_counter = itertools.count(1)


def make_land(name: str | None = None, **fields) -> Land:
    return Land.objects.create(name=name or f"land-{next(_counter)}", **fields)


def make_domain(name: str | None = None, **fields) -> Domain:
    return Domain.objects.create(name=name or f"site{next(_counter)}.example", **fields)


def make_expression(land: Land, domain: Domain | None = None, url: str | None = None, **fields) -> Expression:
    domain = domain or make_domain()
    return Expression.objects.create(
        land=land, domain=domain, url=url or f"https://{domain.name}/page-{next(_counter)}", **fields
    )


def stored_key(seed: object, size: int = 320) -> str:
    """A well-formed thumbnail key (media_analysis.stored), whether or not a file is stored under it."""
    sha = hashlib.sha256(str(seed).encode()).hexdigest()
    return f"thumbnails/{size}/{sha[:2]}/{sha[2:4]}/{sha}.jpg"


def make_media(expression: Expression, url: str | None = None, type: str = "img", **fields) -> Media:
    return Media.objects.create(
        expression=expression, url=url or f"https://cdn.example/img-{next(_counter)}.jpg", type=type, **fields
    )


def make_text(media: Media, text: str, status: str = "text", **fields):
    """The OCR step's rows for ``media``: its text and its words, as the step writes them."""
    from media_analysis.engine.text.words import words
    from media_analysis.engine.version import TEXT_VERSION
    from media_analysis.models import MediaText, MediaWord

    values = {"language": "eng", "confidence": 91.0, "text_area": 0.12, "version": TEXT_VERSION, **fields}
    record = MediaText.objects.create(media=media, status=status, text=text, **values)
    MediaWord.objects.bulk_create(MediaWord(media=media, word=word, count=n) for word, n in words(text).items())
    return record


def grant(user, *permissions: str):
    """``user`` holding the permissions named ``app_label.codename`` too, read again so none is cached."""
    from django.contrib.auth.models import Permission

    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return type(user).objects.get(pk=user.pk)


def make_staff(username: str, *permissions: str):
    """A staff user (not a superuser) holding exactly ``permissions``."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, f"{username}@example.org", f"{username}-password")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return grant(user, *permissions)


# What reading a land's corpus through the API and the admin pages takes (media_analysis.web.permissions).
CORPUS_READER = ("lands.view_land", "lands.view_expression", "lands.view_media")
