"""Pages selected by depth and relevance: the queryset methods, the ``Q`` factory and the check on fetched values."""

from __future__ import annotations

import pytest

from lands.models import Expression, ExpressionLink, Media
from tests.factories import make_expression, make_land, make_media

# name: (depth, relevance)
PAGES = {
    "seed": (0, 3),
    "deep": (2, 1),
    "far": (4, 5),
    "ignored": (1, 0),
    "unscored": (1, None),
    "no_depth": (None, 2),
    "unknown": (None, None),
}

# (depth, minrel) -> pages selected
CASES = [
    pytest.param(None, None, set(PAGES), id="neither"),
    pytest.param(0, None, {"seed"}, id="depth-0-seed-only"),
    pytest.param(2, None, {"seed", "deep", "ignored", "unscored"}, id="depth-only"),
    pytest.param(None, 2, {"seed", "far", "no_depth"}, id="minrel-only"),
    pytest.param(None, 0, {"seed", "deep", "far", "ignored", "no_depth"}, id="minrel-0-still-drops-null"),
    pytest.param(2, 1, {"seed", "deep"}, id="both"),
    pytest.param(4, 5, {"far"}, id="both-at-the-bounds"),
    pytest.param(-1, None, set(), id="depth-below-every-page"),
]


@pytest.fixture
def pages(db) -> dict[str, Expression]:
    land = make_land("selection")
    made = {name: make_expression(land, depth=depth, relevance=relevance) for name, (depth, relevance) in PAGES.items()}
    # Another land's page that every rule would select: the methods never filter by land.
    make_expression(make_land("elsewhere"), depth=0, relevance=10)
    return made


def _names(pages: dict[str, Expression], ids) -> set[str]:
    by_id = {page.pk: name for name, page in pages.items()}
    return {by_id[page_id] for page_id in ids if page_id in by_id}


@pytest.mark.parametrize(("depth", "minrel", "expected"), CASES)
def test_selected_pages(pages, depth, minrel, expected):
    land_id = pages["seed"].land_id
    selected = Expression.objects.filter(land_id=land_id).selected(depth, minrel)

    assert _names(pages, selected.values_list("id", flat=True)) == expected


@pytest.mark.parametrize(("depth", "minrel", "expected"), CASES)
def test_media_on_selected_pages(pages, depth, minrel, expected):
    media_of_page = {make_media(page).pk: name for name, page in pages.items()}
    land_id = pages["seed"].land_id

    selected = Media.objects.of_land(land_id).on_selected_pages(depth=depth, minrel=minrel)

    assert {media_of_page[media_id] for media_id in selected.values_list("id", flat=True)} == expected


@pytest.mark.parametrize(("depth", "minrel", "expected"), CASES)
def test_selection_through_another_relation(pages, depth, minrel, expected):
    seed = pages["seed"]
    for page in pages.values():
        ExpressionLink.objects.create(source=seed, target=page)

    links = ExpressionLink.objects.filter(Expression.selection(depth, minrel, prefix="target__"), source=seed)

    assert _names(pages, links.values_list("target_id", flat=True)) == expected


@pytest.mark.parametrize(("depth", "minrel", "expected"), CASES)
def test_values_already_fetched_follow_the_same_rule(depth, minrel, expected):
    selected = {
        name
        for name, (page_depth, relevance) in PAGES.items()
        if Expression.is_selected(page_depth, relevance, depth=depth, minrel=minrel)
    }

    assert selected == expected


def test_no_rule_is_an_empty_filter():
    assert Expression.selection() == Expression.selection(prefix="expression__")
    assert not Expression.selection()
