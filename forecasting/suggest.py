"""The closest known name to a misspelt one ("did you mean ...?"), for messages and warnings."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Collection

# Similarity (difflib's ratio, 0-1) a known name needs to be suggested: "atributes" and
# "attributes" score 0.95, "categry" and "category" 0.93, "reed" and "red" 0.86, while
# "colour" and "fabric" score 0.17.
CUTOFF = 0.75
# Above this many known names a suggestion is not looked for: difflib compares against each
# (0.25 ms for 100 names, 5.8 ms for 2,000), and a batch naming many unseen values of a large
# vocabulary must stay cheap. Colours, fabrics and categories have fewer.
MAX_CANDIDATES = 100


def did_you_mean(word: str, known: Collection[str]) -> str:
    """The suffix " (did you mean 'x'?)" for the known name `x` closest to `word`, ignoring
    case; "" when none is close enough, or `word` itself is known."""
    if not known or len(known) > MAX_CANDIDATES or word in known:
        return ""
    match = _closest(word.lower(), tuple(sorted(known, key=str)))
    return f" (did you mean '{match}'?)" if match is not None else ""


@functools.lru_cache(maxsize=4096)
def _closest(word: str, known: tuple[str, ...]) -> str | None:
    """Cached: a batch's products often share the same misspelt name or value."""
    by_lower = {name.lower(): name for name in known}
    match = difflib.get_close_matches(word, list(by_lower), n=1, cutoff=CUTOFF)
    return by_lower[match[0]] if match else None
