"""Text that is safe to print: characters a terminal acts on, or that hide text, shown as escapes.

What the tools print holds text they did not write: run ids, workflow and signal
names, payloads and error messages read from a store; paths, names and source
lines read from workflow modules. Some characters in such text are not text to
a terminal or a reader:

* ESC (``\\x1b``) and the C1 control CSI (``\\x9b``) start escape sequences that
  recolour the screen, move the cursor, set the window title, or, on some
  terminals, answer back with input or write files;
* a carriage return (``\\r``), a backspace, a vertical tab or a form feed
  overwrite or push away what was already printed;
* the Unicode bidirectional overrides and isolates (U+202A-U+202E,
  U+2066-U+2069) reorder what is shown, so the bytes read are not the text
  seen (Trojan Source, CVE-2021-42574);
* zero-width and other format characters (U+200B-U+200F, U+2060-U+2064,
  U+FEFF, the tag characters ...) and the Hangul fillers hide text.

:func:`inert` renders each of these as the Python escape that names it
(``\\x1b``, ``\\r``, ``\\u202e``), so the output shows that it is there and
nothing acts on it; :func:`inert_json` does the same for JSON text, where
``json.dumps(..., ensure_ascii=False)`` escapes the C0 controls but leaves DEL,
the C1 controls and the format characters as they are. Every line the ``vrb``
and ``vrb-compile`` commands print passes through one of them; the
characters, categories and forms are listed in ``docs/security.md``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["inert", "inert_json", "is_inert"]

_HIDING_CATEGORIES = frozenset(
    {
        "Cc",  # C0 controls, DEL, C1 controls
        "Cf",  # format: bidi controls, zero-width characters, soft hyphen, tags ...
        "Cs",  # lone surrogates: not text, and they cannot even be encoded to print
        "Zl",  # U+2028 LINE SEPARATOR
        "Zp",  # U+2029 PARAGRAPH SEPARATOR
        "Cn",  # unassigned here: a format character of a newer Unicode than this Python's
    }
)

_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
"""Hangul fillers: letters (category Lo) that every font draws as nothing."""

_SUSPECT = re.compile(r"[^\x20-\x7e]")
"""Every character but printable ASCII: the only ones :func:`_hides` must look at."""


def _hides(char: str) -> bool:
    return unicodedata.category(char) in _HIDING_CATEGORIES or char in _BLANK_LETTERS


def _python_escape(char: str) -> str:
    # unicode_escape gives the short forms \t \n \r, else \xNN, \uNNNN, \UNNNNNNNN.
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def inert(text: str, *, keep: str = "") -> str:
    """``text`` with every character that acts on a terminal or hides text as a Python escape.

    Args:
        text: Any text.
        keep: Characters to leave as they are: ``"\\n"`` where a line break is
            meant (a multi-line report), ``"\\t"`` where a tab is harmless.

    Returns:
        ``text`` itself when there is nothing to escape (the common case, checked
        without looking at each character); else a copy where each C0 or C1
        control, DEL, lone surrogate, line or paragraph separator, format
        character (bidi controls, zero-width characters ...), unassigned code
        point and Hangul filler not in ``keep`` reads ``\\x1b``, ``\\r``,
        ``\\u202e``, ``\\U000e0041``... Backslashes are left alone, so the
        result of ``inert`` is a fixed point of it.
    """
    if text.isascii() and text.isprintable():
        return text

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _python_escape(char) if char not in keep and _hides(char) else char

    return _SUSPECT.sub(escape, text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, the only form JSON has
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def inert_json(text: str) -> str:
    """JSON text with the characters of :func:`inert` written as ``\\uXXXX`` escapes.

    The document means the same (a JSON reader gets the same strings back)
    and stays valid: in valid JSON, such characters can only be inside strings,
    where ``\\uXXXX`` is what they would have been with ``ensure_ascii=True``.
    Line breaks, tabs and carriage returns are left alone: between tokens they
    are the document's own layout, and ``json.dumps`` never leaves them raw
    inside a string.

    Args:
        text: What ``json.dumps`` returned (with ``ensure_ascii=False``).

    Returns:
        The same JSON text, printable on a terminal.
    """
    if text.isascii() and text.isprintable():
        return text

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _json_escape(char) if char not in "\n\t\r" and _hides(char) else char

    return _SUSPECT.sub(escape, text)


def is_inert(text: str, *, keep: str = "") -> bool:
    """Whether ``text`` holds no character :func:`inert` would escape (tests use it)."""
    return inert(text, keep=keep) == text
