"""The ``vrb-graph`` MkDocs plugin: draw workflows' step graphs in your docs.

Enable it in ``mkdocs.yml`` (with Material, or any theme that renders
``mermaid`` fences)::

    plugins:
      - search
      - vrb-graph:
          root: .            # where module files are looked for (default: mkdocs.yml's folder)

    markdown_extensions:
      - pymdownx.superfences:
          custom_fences:
            - name: mermaid
              class: mermaid
              format: !!python/name:pymdownx.superfences.fence_code_format

then write, in any page::

    ```vrb-graph
    shop.orders:order_processing
    ```

At build time the block becomes the workflow's Mermaid step graph (see
:mod:`vrb_compile.docs_graph`); a reference that cannot be drawn fails the
build with one line naming the page. The plugin needs the ``mkdocs`` package,
which vrb-workflows does not install for you.

Without the plugin entry point, the same works as an MkDocs *hook*: a file
listed under ``hooks:`` in ``mkdocs.yml`` containing
``from vrb_compile.mkdocs_plugin import on_page_markdown``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config import config_options
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from .docs_graph import GraphRefError, GraphRenderer, expand_graph_fences, graph_refs

__all__ = ["VrbGraphConfig", "VrbGraphPlugin", "on_page_markdown"]


# mkdocs declares Config.__init_subclass__ without annotations.
class VrbGraphConfig(Config):  # type: ignore[no-untyped-call]
    """Options of the ``vrb-graph`` plugin.

    Attributes:
        root: Directory where workflow modules are looked for, relative to
            ``mkdocs.yml``; empty means ``mkdocs.yml``'s own directory.
    """

    root = config_options.Type(str, default="")


def _config_dir(config: MkDocsConfig) -> Path:
    path = config.config_file_path
    return Path(path).resolve().parent if path else Path.cwd()


def _expand(markdown: str, page: Page, renderer: GraphRenderer) -> str:
    try:
        return expand_graph_fences(markdown, renderer)
    except GraphRefError as error:
        raise PluginError(f"vrb-graph in {page.file.src_uri}: {error}") from None


class VrbGraphPlugin(BasePlugin[VrbGraphConfig]):  # type: ignore[no-untyped-call]
    """Replaces ``vrb-graph`` fences with Mermaid step graphs (see the module docstring)."""

    def __init__(self) -> None:
        self._renderer: GraphRenderer | None = None

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        """Resolve ``root`` against ``mkdocs.yml``'s directory; start a fresh cache."""
        base = _config_dir(config)
        self._renderer = GraphRenderer((base / self.config.root).resolve())
        return config

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files | None:
        """Compile every module the site draws in one go (see :meth:`GraphRenderer.prefetch`)."""
        if self._renderer is None:
            self._renderer = GraphRenderer(_config_dir(config))
        refs: list[str] = []
        for file in files.documentation_pages():
            if file.abs_src_path is None:
                continue
            try:
                refs += graph_refs(Path(file.abs_src_path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, GraphRefError):
                continue  # reported with the page's name when the page is rendered
        self._renderer.prefetch(refs)
        return files

    def on_page_markdown(
        self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files
    ) -> str | None:
        """Expand the page's ``vrb-graph`` fences."""
        if self._renderer is None:
            self._renderer = GraphRenderer(_config_dir(config))
        return _expand(markdown, page, self._renderer)


_HOOK_RENDERERS: dict[Path, GraphRenderer] = {}


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """The hook form: modules are looked for under ``mkdocs.yml``'s directory."""
    root = _config_dir(config)
    renderer = _HOOK_RENDERERS.setdefault(root, GraphRenderer(root))
    return _expand(markdown, page, renderer)
