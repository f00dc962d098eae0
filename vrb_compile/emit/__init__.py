"""Renderers of step graphs: JSON, Mermaid, DOT and self-contained HTML."""

from __future__ import annotations

from .render import FORMATS, Format, dot_escape, mermaid_escape, render

__all__ = ["FORMATS", "Format", "dot_escape", "mermaid_escape", "render"]
