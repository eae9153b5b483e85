"""The closest valid value for a mistyped choice, so every refusal can say what was probably meant."""

from __future__ import annotations

import difflib
import typing


def did_you_mean(value: str, choices: typing.Iterable[str]) -> str:
    """``" (did you mean adamw?)"`` for the closest valid value (case ignored), or ``""`` when none is close."""
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(value).lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]}?)" if close else ""
