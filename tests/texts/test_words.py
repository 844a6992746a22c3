"""The one word rule: what search, the stored words and the counts call a word."""

from __future__ import annotations

from collections import Counter

import pytest

from media_analysis.engine.text.words import MAX_LENGTH, normalised, phrase_pattern, phrases, runs, tokens, words


def test_words_are_lower_cased_runs_of_letters_and_digits_of_two_or_more():
    assert words("STOP the War! 2024, a l'été; war_time") == Counter(
        {"stop": 1, "the": 1, "war": 2, "2024": 1, "été": 1, "time": 1}
    )


def test_any_script_counts_and_noise_is_dropped():
    assert list(tokens("Москва 東京 x " + "z" * (MAX_LENGTH + 1))) == ["москва", "東京"]


def test_phrases_are_consecutive_pairs_across_lines():
    assert phrases("Free the\nPress, free the press") == Counter({"free the": 2, "the press": 2, "press free": 1})
    assert phrases("alone") == Counter()


def test_normalised_text_ignores_case_punctuation_and_line_breaks():
    assert normalised("WHEN you\nsee it!!") == normalised("when you see it") == "when you see it"


def test_runs_keep_single_letters_and_long_runs_that_words_drop():
    long_run = "z" * (MAX_LENGTH + 1)
    assert list(runs(f"Plan B: l'été_{long_run}")) == ["plan", "b", "l", "été", long_run]


@pytest.mark.parametrize("phrase", [(), ("red", "a car"), ("red", "car_park"), ("(.*)",)])
def test_a_phrase_pattern_takes_only_runs(phrase):
    # A run holds letters and digits only, which is why the pattern needs no escaping.
    with pytest.raises(ValueError, match="runs of letters or digits"):
        phrase_pattern(phrase)
