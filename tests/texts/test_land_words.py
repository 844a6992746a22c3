"""The land page's frequent words and phrases."""

from __future__ import annotations

import pytest
from django.urls import reverse

from media_analysis.texts import frequent
from tests.factories import make_expression, make_land, make_media, make_text

pytestmark = pytest.mark.django_db


def land_page(land) -> str:
    return reverse("medianalyse:land-analysis", args=[land.pk])


def test_frequent_words_count_pictures_of_the_land_only(texts, django_assert_num_queries):
    with django_assert_num_queries(3):  # the land's share of all media, the sample, its words
        found = frequent.land_words(texts.land.pk).words
    top = {entry.text: (entry.pictures, entry.occurrences) for entry in found}
    assert found[0].text == "climate"
    assert top["climate"] == (3, 4)
    assert top["justice"] == (2, 3)
    assert top["now"] == (1, 2)


def test_phrases_are_those_of_two_pictures_or_more():
    texts = ["Climate justice now, climate justice now", "No climate, no justice", "Climate justice, not charity"]
    assert [(entry.text, entry.pictures) for entry in frequent.frequent_phrases(texts)] == [("climate justice", 2)]
    # A picture counts once, however often its text repeats the phrase; a phrase of one picture is left out.
    assert frequent.frequent_phrases(texts[:2]) == []


@pytest.mark.parametrize("dense", [True, False])
def test_the_sample_is_the_land_s_latest_texts_whichever_way_it_is_read(texts, dense):
    page = make_expression(texts.land)
    latest = make_media(page)
    make_text(latest, "the latest")
    found = frequent.latest_texts(texts.land.pk, dense, sample=2)
    assert found == [(latest.pk, "the latest"), (texts.media["meme"].pk, "<b>when</b> you see it & climate")]
    assert len(frequent.latest_texts(texts.land.pk, dense)) == 4  # the skipped picture has no text


def test_words_and_phrases_are_counted_in_the_latest_pictures_when_the_land_has_more(texts):
    page = make_expression(texts.land)
    for n in range(3):
        make_text(make_media(page), f"ocean tide {n}")
    sampled = frequent.land_words(texts.land.pk, sample=3)
    assert (sampled.sample, sampled.sampled) == (3, True)
    assert [(entry.text, entry.pictures) for entry in sampled.words[:2]] == [("ocean", 3), ("tide", 3)]
    assert "climate" not in {entry.text for entry in sampled.words}
    assert [entry.text for entry in sampled.phrases] == ["ocean tide"]
    whole = frequent.land_words(texts.land.pk)
    assert (whole.sample, whole.sampled) == (6, False)
    assert {entry.text for entry in whole.words} >= {"climate", "ocean"}


def test_land_page_lists_words_with_links_to_the_gallery(texts, admin_client):
    response = admin_client.get(land_page(texts.land))
    content = response.content.decode()
    gallery = reverse("medianalyse:land-gallery", args=[texts.land.pk])
    assert 'id="ma-frequent-words"' in content
    assert f'<a href="{gallery}?text=climate">climate</a></td><td>3</td><td>4</td>' in content
    assert "among the land's 3 pictures with text" in content


def test_land_page_says_when_no_text_was_read(admin_client, django_assert_num_queries):
    land = make_land("Silent")
    make_media(make_expression(land))
    content = admin_client.get(land_page(land)).content.decode()
    assert "No text has been read in this land" in content
    with django_assert_num_queries(2):
        assert frequent.land_words(land.pk).empty
