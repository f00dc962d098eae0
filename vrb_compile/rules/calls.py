"""Qualified-name tables shared by the call-based rule families.

Each family (``wall_clock.py``, ``randomness.py`` ...) declares a
:class:`CallTable`; :func:`match_call` asks every table in code order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CallTable", "Match"]


@dataclass(frozen=True)
class Match:
    """A call (or reference) a table flags.

    Attributes:
        code: The rule code.
        message: What is wrong, naming the call.
        hint: What to write instead.
    """

    code: str
    message: str
    hint: str


@dataclass(frozen=True)
class CallTable:
    """Which qualified names one rule flags.

    Attributes:
        code: The rule code.
        exact: Qualified names flagged when called (or referenced).
        prefixes: Module or object prefixes: everything below them is flagged.
        allowed: Exceptions to ``prefixes`` (pure functions of a flagged module).
        no_args: Flagged only when called without arguments (``time.localtime()``).
        attributes: Names flagged even when only read (``os.environ``, ``sys.argv``).
        reason: ``reason(qname)`` -> the message's explanation.
        hint: The fix.
    """

    code: str
    reason: Callable[[str], str]
    hint: str
    exact: frozenset[str] = field(default_factory=frozenset)
    prefixes: tuple[str, ...] = ()
    allowed: frozenset[str] = field(default_factory=frozenset)
    no_args: frozenset[str] = field(default_factory=frozenset)
    attributes: tuple[str, ...] = ()

    def match(self, qname: str, *, called: bool, nargs: int) -> Match | None:
        """The finding for ``qname`` (called with ``nargs`` arguments, or just read)."""
        hit = False
        if any(qname == a or qname.startswith(a + ".") for a in self.attributes):
            hit = True
        else:
            if qname in self.no_args:
                hit = nargs == 0
            elif qname in self.exact:
                hit = True
            elif qname not in self.allowed and any(
                qname == p or qname.startswith(p + ".") for p in self.prefixes
            ):
                hit = not any(qname.startswith(a + ".") for a in self.allowed)
        if not hit:
            return None
        shown = qname.removeprefix("builtins.")
        what = f"{shown}()" if called else shown
        return Match(self.code, f"{what} {self.reason(shown)}", self.hint)
