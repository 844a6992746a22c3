"""The one word rule: what search, the stored words and the counts call a word."""

from __future__ import annotations

from collections import Counter

from media_analysis.engine.text.words import MAX_LENGTH, normalised, phrases, tokens, words


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
