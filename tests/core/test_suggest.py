"""Suggestions for misspelt names and values: close ones only, case aside."""

from __future__ import annotations

from forecasting.suggest import MAX_CANDIDATES, did_you_mean


def test_a_close_name_is_suggested_ignoring_case() -> None:
    assert did_you_mean("categry", ["category", "color"]) == " (did you mean 'category'?)"
    assert did_you_mean("RED", ["red", "blue"]) == " (did you mean 'red'?)"


def test_nothing_is_suggested_for_a_distant_or_known_word() -> None:
    assert did_you_mean("colour", ["fabric", "category"]) == ""
    assert did_you_mean("red", ["red", "reed"]) == ""
    assert did_you_mean("red", []) == ""


def test_a_vocabulary_too_large_to_search_cheaply_gets_no_suggestion() -> None:
    known = [f"value-{i}" for i in range(MAX_CANDIDATES + 1)]
    assert did_you_mean("value-7x", known) == ""
    assert did_you_mean("value-7x", known[:MAX_CANDIDATES]) != ""
