"""Pick a font that can draw the class names (Korean folder names need one with Hangul).

Matplotlib's default font (DejaVu Sans) has no Hangul; drawing ``고양이`` with it gives boxes and one warning per
glyph. We look for an installed font that covers every character once per process and fall back to the default
font when none does, with one warning that says what to install.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from functools import cache

from litcls.shell import Glob, command

# Families known to cover Hangul, tried first; any other installed font that covers the text also qualifies.
PREFERRED_FAMILIES = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "Apple SD Gothic Neo",
                      "AppleGothic", "UnDotum", "Baekmuk Gulim", "Noto Sans CJK JP", "Noto Sans CJK SC")
# Matplotlib ships "Last Resort", whose glyphs are placeholder boxes for every character: never a real cover.
_PLACEHOLDER_FAMILIES = ("Last Resort",)


@cache
def _codepoints(path: str) -> frozenset[int]:
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (OSError, RuntimeError):  # an unreadable font file on the system is not our problem
        return frozenset()


@cache
def _default_font() -> tuple[str, str]:
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(), fallback_to_default=True)
    return font_manager.FontProperties(fname=path).get_name(), path


def missing_characters(texts: Iterable[str]) -> list[str]:
    """Characters of ``texts`` that matplotlib's default font cannot draw, each once, in order of first appearance
    (so a warning lists ``형태`` as it is written)."""
    covered = _codepoints(_default_font()[1])
    chars = (char for text in texts for char in text if not char.isspace() and ord(char) not in covered)
    return list(dict.fromkeys(chars))


@cache
def _font_covering(chars: frozenset[str]) -> str | None:
    from matplotlib import font_manager

    needed = {ord(char) for char in chars}
    fonts = [font for font in font_manager.fontManager.ttflist
             if not font.name.startswith(_PLACEHOLDER_FAMILIES)]
    preferred = sorted(fonts, key=lambda font: font.name not in PREFERRED_FAMILIES)
    for font in preferred:
        if needed <= _codepoints(font.fname):
            return font.name
    return None


_warned: set[frozenset[str]] = set()


def font_settings(texts: Iterable[str]) -> tuple[dict, list[str]]:
    """Matplotlib rc settings that draw ``texts``, and the characters no installed font can draw.

    Use the settings with ``matplotlib.rc_context``; nothing global changes. The first time some characters
    cannot be drawn, one warning names them and the fix.
    """
    missing = missing_characters(texts)
    if not missing:
        return {}, []
    family = _font_covering(frozenset(missing))
    if family is not None:
        return {"font.family": "sans-serif", "font.sans-serif": [family, _default_font()[0]]}, []
    key = frozenset(missing)
    if key not in _warned:
        _warned.add(key)
        from matplotlib import get_cachedir

        sample = "".join(missing[:10]) + ("..." if len(missing) > 10 else "")
        warnings.warn(f"no installed font can draw some class names ({sample}); figures label those classes "
                      "by index instead (names are in classes.json). Install a font with these characters, "
                      "for Korean e.g. fonts-nanum or fonts-noto-cjk, then delete matplotlib's font cache so "
                      f"that it is rebuilt at the next run: {command('rm', Glob(get_cachedir(), 'fontlist-*.json'))}",
                      stacklevel=2)
    return {}, missing


def drawable_labels(class_names: list[str]) -> tuple[list[str], dict]:
    """The label of each class, by class index, that the chosen font can draw, and the rc settings to draw them
    with.

    Pass every class name of the task at once: a name with characters no installed font has becomes
    ``class <index>``, its index among all the classes (what classes.json lists), rather than a row of boxes.
    """
    settings, missing = font_settings(class_names)
    labels = [f"class {index}" if any(char in missing for char in name) else name
              for index, name in enumerate(class_names)]
    return labels, settings
