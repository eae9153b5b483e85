"""The closest valid values for a mistyped choice, so every refusal can say what was probably meant.

Edit distance alone misses the commonest slip: a longer or shorter spelling of the same name (``val/accuracy`` for
``val/acc``, ``resnet`` for ``resnet18``), where a different name of the same length scores closer
(``val/auroc``). So candidates are ranked in tiers, best first, and edit distance only orders a tier or catches
plain typos (``meduim``, ``cosin``):

1. the same name up to case and separators (``Fashion-MNIST`` -> ``fashion_mnist``);
2. one name starts with the other (``val/accuracy`` -> ``val/acc``);
3. one name contains the other (``f1_macro`` -> ``val/f1_macro``);
4. a word of one starts with a word of the other, leaving out words every choice shares (``accuracy`` ->
   ``val/acc``, but not ``val/...`` -> every monitor);
5. ``difflib``'s similarity ratio of at least 0.6, and within 0.1 of the most similar name.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path

_SHORTEST = 3  # a prefix, contained name or word shorter than this matches too much to mean anything
_SHOWN = 3
_TYPO, _TYPO_CUTOFF, _TYPO_MARGIN = 5, 0.6, 0.1  # the edit-distance tier: its cutoff, and how far below the best


def _squashed(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.lower())


def _words(name: str) -> set[str]:
    return {word for word in re.split(r"[\W_]+", name.lower()) if len(word) >= _SHORTEST}


def _tier(value: str, choice: str, shared: set[str]) -> int | None:
    """The tier (1 best) in which ``choice`` matches ``value``, or None."""
    a, b = _squashed(value), _squashed(choice)
    if not a or not b:
        return None
    if a == b:
        return 1
    shorter = min(len(a), len(b))
    if shorter >= _SHORTEST and (a.startswith(b) or b.startswith(a)):
        return 2
    if shorter >= _SHORTEST and (a in b or b in a):
        return 3
    words, choice_words = _words(value) - shared, _words(choice) - shared
    if any(x.startswith(y) or y.startswith(x) for x in words for y in choice_words):
        return 4
    if difflib.SequenceMatcher(None, value.lower(), choice.lower()).ratio() >= _TYPO_CUTOFF:
        return _TYPO
    return None


def closest(value: str, choices: typing.Iterable[str], limit: int = _SHOWN) -> list[str]:
    """Up to ``limit`` valid values ``value`` was probably meant to be, best first (empty when none is close).

    Only the best tier is returned (see the module docstring); within it, the most similar spelling first.
    """
    value = str(value)
    options = list(dict.fromkeys(str(choice) for choice in choices))
    if not options or not value:
        return []
    shared = set.intersection(*(_words(option) for option in options)) if len(options) > 1 else set()
    tiers = {option: _tier(value, option, shared) for option in options}
    matched = [option for option, tier in tiers.items() if tier is not None]
    if not matched:
        return []
    best = min(tiers[option] for option in matched)

    def similarity(option: str) -> float:
        return difflib.SequenceMatcher(None, value.lower(), option.lower()).ratio()

    ranked = sorted((option for option in matched if tiers[option] == best), key=similarity, reverse=True)
    if best == _TYPO:  # a typo of one name, not of every name that looks alike (resnet81 -> resnet18 only)
        ranked = [option for option in ranked if similarity(option) >= similarity(ranked[0]) - _TYPO_MARGIN]
    return ranked[:limit]


def did_you_mean(value: str, choices: typing.Iterable[str]) -> str:
    """``" (did you mean adamw?)"`` or ``" (did you mean val/f1_macro or val/f1_micro?)"`` for the closest valid
    values, or ``""`` when none is close: appended to a refusal right after the value it refuses."""
    names = closest(value, choices)
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f" (did you mean {listed}?)"


def nearby_paths(path: str | Path, extra: typing.Iterable[str] = ()) -> list[str]:
    """Existing paths that a missing ``path`` was probably meant to be: the nearest existing folder above it, and
    the names in it close to the first missing part (``data/pet`` -> ``data/pets``), plus ``extra`` names (a
    built-in dataset's) when the path is a bare name. Hidden entries are left out."""
    path = Path(path)
    parts = path.parts
    depth = len(parts) - 1
    while depth > 0 and not Path(*parts[:depth]).is_dir():
        depth -= 1
    parent = Path(*parts[:depth]) if depth else Path(".")
    if not parent.is_dir():  # an absolute path whose root is gone, or the working folder removed
        return []
    missing, rest = parts[depth], parts[depth + 1:]
    try:
        siblings = [entry.name for entry in parent.iterdir() if not entry.name.startswith(".")]
    except OSError:
        return []
    names = [*extra, *siblings] if depth == 0 and not path.is_absolute() else siblings
    found = []
    for name in _closest_name(missing, names):
        candidate = parent / name if depth else Path(name)
        deeper = candidate.joinpath(*rest)
        found.append(str(deeper if rest and deeper.exists() else candidate))
    return list(dict.fromkeys(found))


def _closest_name(missing: str, names: list[str]) -> list[str]:
    """:func:`closest` on file names: ``grups.csv`` is compared with the other ``.csv`` files by their stems (a
    shared extension is no likeness), then with every name."""
    suffix = Path(missing).suffix.lower()
    if suffix:
        stems = {Path(name).stem: name for name in names if Path(name).suffix.lower() == suffix}
        found = [stems[stem] for stem in closest(Path(missing).stem, stems)]
        if found:
            return found
    return closest(missing, names)


def did_you_mean_path(path: str | Path, extra: typing.Iterable[str] = ()) -> str:
    """:func:`did_you_mean` for a path that does not exist (see :func:`nearby_paths`)."""
    names = nearby_paths(path, extra)
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f" (did you mean {listed}?)"
