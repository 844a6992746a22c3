"""Search by the words and phrases of a picture's text: the gallery, the admin media list, the rule on each database."""

from __future__ import annotations

import random
import re

import pytest
from django.db import connection
from django.urls import reverse

from lands.models import Media
from media_analysis.engine.text.words import phrase_pattern
from media_analysis.texts.search import MAX_QUERY_WORDS, BadTextQuery, TextQuery, parse_query, with_text
from media_analysis.web import gallery
from tests.factories import make_expression, make_media, make_text

pytestmark = pytest.mark.django_db


def gallery_url(land) -> str:
    return reverse("medianalyse:land-gallery", args=[land.pk])


def found(queryset, text: str) -> set[int]:
    return set(with_text(queryset, text).values_list("pk", flat=True))


def test_every_word_of_the_query_must_be_present(texts):
    media = texts.media
    land_media = Media.objects.of_land(texts.land.pk)
    assert found(land_media, "climate") == {media["banner"].pk, media["sign"].pk, media["meme"].pk}
    assert found(land_media, "JUSTICE, climate") == {media["banner"].pk, media["sign"].pk}
    assert found(land_media, "justice now") == {media["banner"].pk}
    assert found(land_media, "climate elephant") == set()


def test_markup_in_a_text_is_words_like_any_other(texts):
    assert found(Media.objects.of_land(texts.land.pk), "when see") == {texts.media["meme"].pk}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!", "text must hold a word"),
        ("a", "text must hold a word"),
        ("x" * 201, "at most 200 characters"),
        (" ".join(f"w{n}" for n in range(MAX_QUERY_WORDS + 1)), f"at most {MAX_QUERY_WORDS} words"),
        # A phrase's words count with the others.
        ('"' + " ".join(f"w{n}" for n in range(MAX_QUERY_WORDS + 1)) + '"', f"at most {MAX_QUERY_WORDS} words"),
        ('climate "a b"', "a quoted phrase must hold a word"),
        ('"?"', "text must hold a word"),
    ],
)
def test_a_query_without_words_or_with_too_many_is_refused(text, message):
    with pytest.raises(BadTextQuery, match=message):
        parse_query(text)


def test_gallery_filters_by_text_and_keeps_it_in_its_links(texts, admin_client, monkeypatch):
    monkeypatch.setattr(gallery, "PAGE_SIZE", 1)
    response = admin_client.get(gallery_url(texts.land), {"text": "climate justice"})
    assert response.status_code == 200
    page = response.context["page"]
    assert page.matched == 2
    assert [item["media"].pk for item in response.context["items"]] == [texts.media["banner"].pk]
    assert "text=climate+justice" in page.next_link
    content = response.content.decode()
    assert 'value="climate justice"' in content


def test_gallery_card_shows_the_text_escaped(texts, admin_client):
    content = admin_client.get(gallery_url(texts.land), {"text": "when"}).content.decode()
    assert "&lt;b&gt;when&lt;/b&gt; you see it &amp; climate" in content
    assert "<b>when</b>" not in content


def test_gallery_answers_400_naming_the_text_parameter(texts, admin_client):
    response = admin_client.get(gallery_url(texts.land), {"text": "?!"})
    assert response.status_code == 400
    assert set(response.context["errors"]) == {"text"}
    assert "<code>text</code>" in response.content.decode()


def test_gallery_text_search_costs_the_same_queries_whatever_the_land(texts, admin_client, django_assert_num_queries):
    url = gallery_url(texts.land)
    admin_client.get(url)  # session and permission caches warm
    # session, user, land, the land's share of all media, one page, one capped count, the land's domains
    with django_assert_num_queries(7):
        small = admin_client.get(url, {"text": "climate"})
    page = make_expression(texts.land)
    for n in range(3 * gallery.PAGE_SIZE):
        make_text(make_media(page), f"climate poster {n}")
    with django_assert_num_queries(7):
        large = admin_client.get(url, {"text": "climate"})
    with django_assert_num_queries(7):
        admin_client.get(url + large.context["page"].next_link)
    assert small.context["page"].matched == 3
    assert large.context["page"].matched == 3 + 3 * gallery.PAGE_SIZE


def test_admin_media_list_filters_by_text(texts, admin_client):
    url = reverse("admin:lands_media_changelist")
    response = admin_client.get(url, {"text": "justice", "expression__land__id__exact": texts.land.pk})
    assert response.status_code == 200
    shown = {media.pk for media in response.context["cl"].result_list}
    assert shown == {texts.media["banner"].pk, texts.media["sign"].pk}
    content = response.content.decode()
    assert 'id="media-text-filter"' in content
    # The other filters ride along with a new search.
    assert f'name="expression__land__id__exact" value="{texts.land.pk}"' in content


def test_admin_media_list_answers_400_naming_text(texts, admin_client):
    response = admin_client.get(reverse("admin:lands_media_changelist"), {"text": "-"})
    assert response.status_code == 400
    assert response.content.decode().startswith("text:")


def test_media_page_shows_the_text_and_how_it_was_read(texts, admin_client):
    content = admin_client.get(reverse("admin:lands_media_change", args=[texts.media["meme"].pk])).content.decode()
    assert 'id="media-ocr-text"' in content
    assert "&lt;b&gt;when&lt;/b&gt;" in content
    assert "mean confidence 91/100" in content
    assert "older OCR step" not in content
    unread = admin_client.get(reverse("admin:lands_media_change", args=[texts.media["unread"].pk])).content.decode()
    assert "not read (no analysis with OCR yet)" in unread


def test_media_page_says_when_the_text_was_read_by_an_older_ocr_step(texts, admin_client):
    from media_analysis.engine.version import TEXT_VERSION
    from media_analysis.models import MediaText

    MediaText.objects.filter(media=texts.media["meme"]).update(version=TEXT_VERSION - 1)
    content = admin_client.get(reverse("admin:lands_media_change", args=[texts.media["meme"].pk])).content.decode()
    assert f"read by an older OCR step (version {TEXT_VERSION - 1}): a job with OCR reads it again" in content


def test_gallery_needs_the_view_permission_on_lands(texts, client):
    from tests.factories import make_staff

    client.force_login(make_staff("media-only", "lands.view_media"))
    assert client.get(gallery_url(texts.land), {"text": "climate"}).status_code == 403


def _plan_without_seqscan(query) -> str:
    """PostgreSQL's plan of ``query`` when a sequential scan is made as costly as it can be."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's full-text index")
def test_postgresql_search_reads_the_full_text_index(texts):
    from media_analysis.models import MediaText

    query = MediaText.objects.matching_all(["climate", "justice"]).values("media_id")
    assert "mediatext_words_search" in _plan_without_seqscan(query)


def test_the_image_wall_takes_the_text_filter_of_the_gallery(texts, admin_client):
    from media_analysis.web import wall

    for name in ("banner", "sign"):
        Media.objects.filter(pk=texts.media[name].pk).update(thumbnail_key=f"thumbnails/320/ab/cd/{name}.jpg")
    form = wall.WallQueryForm({"land": texts.land.pk, "text": "justice"})
    assert form.is_valid(), form.problems()
    assert set(wall.wall_queryset(form.wall_query()).values_list("pk", flat=True)) == {
        texts.media["banner"].pk,
        texts.media["sign"].pk,
    }
    response = admin_client.get(reverse("medianalyse:wall"), {"land": texts.land.pk, "text": "."})
    assert response.status_code == 400
    assert "\ntext: " in response.content.decode()


# --- Quoted phrases -------------------------------------------------------------------

PHRASE_TEXTS = {
    "adjacent": "Look at the red car!",
    "shouted": "THE RED CAR",
    "punctuated": "red, car: sold",
    "underscored": "red_car",
    "later": "red bike, blue car\nthen a red car",
    "apart": "red and blue car",
    "reversed": "car red; the car is big",
    "across_lines": "a red\ncar",
    "letter_between": "red a car",
    "longer_words": "bored car, red cars",
    "plan_b": "Plan B is ready",
    "plan_bb": "plan bb, plan c",
    "accented": "CAFÉ ROUGE",
    "unaccented": "cafe rouge",
}


@pytest.fixture
def phrase_media(db) -> dict[str, int]:
    from tests.factories import make_land

    page = make_expression(make_land("Phrases"))
    media = {}
    for name, text in PHRASE_TEXTS.items():
        media[name] = make_media(page).pk
        make_text(Media.objects.get(pk=media[name]), text)
    return media


def names(media: dict[str, int], found_ids: set[int]) -> set[str]:
    return {name for name, pk in media.items() if pk in found_ids}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Words apart: anywhere, any order, across lines.
        ("red car", set(PHRASE_TEXTS) - {"plan_b", "plan_bb", "accented", "unaccented"}),
        # A phrase: one after the other, in that order, on one line, with only spaces or punctuation between.
        ('"red car"', {"adjacent", "shouted", "punctuated", "underscored", "later"}),
        ('"RED car"', {"adjacent", "shouted", "punctuated", "underscored", "later"}),
        ("\u201cred car\u201d", {"adjacent", "shouted", "punctuated", "underscored", "later"}),
        ('"car red"', {"reversed", "longer_words"}),
        ('"red-car"', {"adjacent", "shouted", "punctuated", "underscored", "later"}),
        # A phrase and a word.
        ('"red car" sold', {"punctuated"}),
        ('blue "red car"', {"later"}),
        ('"red car" "then a"', {"later"}),
        # Single letters count inside a phrase, and stand whole.
        ('"plan b"', {"plan_b"}),
        ('"red a car"', {"letter_between"}),
        # Case does not count, accents do.
        ('"café rouge"', {"accented"}),
        ('"cafe rouge"', {"unaccented"}),
        # One word in quotes is that word; a quote left open runs to the end.
        ('"blue"', {"later", "apart"}),
        ('sold "red car', {"punctuated"}),
    ],
)
def test_a_quoted_phrase_matches_its_words_adjacent_in_order_on_one_line(phrase_media, text, expected):
    assert names(phrase_media, found(Media.objects.all(), text)) == expected


def test_parse_query_keeps_words_and_phrases_in_the_order_typed():
    query = parse_query('Climate "JUSTICE now" climate "plan b" «Now»')
    assert query == TextQuery(words=("climate", "justice", "now", "plan"), phrases=(("justice", "now"), ("plan", "b")))


def _reference_holds(text: str, phrase: tuple[str, ...]) -> bool:
    """The phrase rule written plainly: the phrase is a run of consecutive runs of one line."""
    for line in text.split("\n"):
        sequence = re.findall(r"[^\W_]+", line.lower())
        if any(tuple(sequence[start : start + len(phrase)]) == phrase for start in range(len(sequence))):
            return True
    return False


def test_the_phrase_pattern_is_the_phrase_rule_on_random_texts():
    rng = random.Random(7)
    vocabulary = ["red", "car", "Red", "CAR", "a", "b", "redcar", "café", "CAFÉ", "12", "x9"]
    separators = [" ", ", ", "! ", "\n", "_", " - ", "", ".", "\n\n"]
    phrases = [("red", "car"), ("car", "red"), ("red", "car", "a"), ("a", "b"), ("café", "12"), ("red",)]
    checked = 0
    for _ in range(3_000):
        text = "".join(rng.choice(vocabulary) + rng.choice(separators) for _ in range(rng.randint(1, 7)))
        for phrase in phrases:
            expected = _reference_holds(text, phrase)
            assert bool(re.search("(?i)" + phrase_pattern(phrase), text)) == expected, (text, phrase)
            checked += expected
    assert checked > 500  # the random texts hold the phrases often enough to test both answers


def test_the_database_answers_the_phrase_rule_on_random_texts(db):
    # The same check through the database (PostgreSQL's regular expressions, or Python's on SQLite), after the
    # word search: the two databases answer alike.
    from tests.factories import make_land

    rng = random.Random(11)
    vocabulary = ["red", "car", "Red", "CAR", "a", "b", "café", "Café", "blue"]
    separators = [" ", ", ", "! ", "\n", "_", " - "]
    page = make_expression(make_land("Random"))
    texts = {}
    for _ in range(150):
        text = "".join(rng.choice(vocabulary) + rng.choice(separators) for _ in range(rng.randint(2, 8)))
        media = make_media(page)
        make_text(media, text)
        texts[media.pk] = text
    for query, phrase in (
        ('"red car"', ("red", "car")),
        ('"car a red"', ("car", "a", "red")),
        ('"café b"', ("café", "b")),
    ):
        expected = {pk for pk, text in texts.items() if _reference_holds(text, phrase)}
        assert expected
        assert found(Media.objects.all(), query) == expected, (
            query,
            {pk: texts[pk] for pk in found(Media.objects.all(), query)},
        )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's full-text index")
def test_postgresql_phrase_search_reads_the_full_text_index(phrase_media):
    from media_analysis.models import MediaText

    query = MediaText.objects.matching_all(["red", "car"]).holding_phrase(("red", "car")).values("media_id")
    assert "mediatext_words_search" in _plan_without_seqscan(query)


def test_gallery_and_admin_list_take_a_phrase(phrase_media, admin_client):
    from lands.models import Land

    land = Land.objects.get(name="Phrases")
    response = admin_client.get(gallery_url(land), {"text": '"red car" sold'})
    assert response.status_code == 200
    assert [item["media"].pk for item in response.context["items"]] == [phrase_media["punctuated"]]
    assert 'value="&quot;red car&quot; sold"' in response.content.decode()
    response = admin_client.get(reverse("admin:lands_media_changelist"), {"text": '"car red"'})
    assert {media.pk for media in response.context["cl"].result_list} == {
        phrase_media["reversed"],
        phrase_media["longer_words"],
    }
    assert admin_client.get(gallery_url(land), {"text": '"a b"'}).status_code == 400


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("see www.example.org today", "example"),
        ("pi is 3.14 or so", "14"),
        ("write to user@mail.org", "mail user"),
        ("red.car/path", '"red car" path'),
        ("e-mail me", "mail"),
        ("10:30 on 2024-05-01", '"10 30" "05 01"'),
    ],
)
def test_words_inside_addresses_and_numbers_are_found_on_every_database(db, text, query):
    # PostgreSQL's parser would read these strings whole; the document it indexes has them cut into words.
    from tests.factories import make_land

    media = make_media(make_expression(make_land("Addresses")))
    make_text(media, text)
    assert found(Media.objects.all(), query) == {media.pk}
