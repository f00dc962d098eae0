"""The ``vrb-compile`` command line: arguments, rendering, exit statuses; nothing else.

Subcommands (one ``_add_<name>`` function builds each parser, one ``run_<name>``
function runs it; add a command by appending its builder to :data:`SUBCOMMANDS`)::

    vrb-compile check PATH... [--format text|json|sarif|github] [--select C,..] [--ignore C,..]
                              [--config FILE | --no-config] [--no-cache | --cache] [--jobs N]
                              [--output FILE]
    vrb-compile build PATH... --out DIR [--sign-key-file F] [--config FILE | --no-config] [--no-cache]
    vrb-compile graph PATH... [--workflow NAME] --format mermaid|dot|json|html [-o FILE]
    vrb-compile rules [--format text|json]
    vrb-compile explain CODE
    vrb-compile sign DIR [--sign-key-file F]
    vrb-compile --version

Exit statuses:

* ``0``: no errors (warnings alone give 0);
* ``1``: ``check`` (or the check ``build``/``graph`` run first) found errors;
* ``2``: usage error, a path that does not exist, a bad configuration, an
  unknown rule code, a file that cannot be written; one line on stderr,
  ``vrb-compile: error: <message>``;
* ``3``: an internal error (a bug in vrb-compile): one line asking for a bug
  report. Set ``VRB_COMPILE_DEBUG=1`` to see the traceback instead.
* ``130``: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import NoReturn, TextIO

from .api import CheckConfig, CheckResult, check_paths
from .build import build_paths, compile_paths, select_graph, sign_build, unsigned_files
from .cache import CI_OPT_IN_ENV, reads_allowed
from .config import (
    CACHE_DIR_NAME,
    FileConfig,
    find_config,
    load_config_file,
    parse_code_list,
)
from .diagnostics import Diagnostic
from .emit import FORMATS as GRAPH_FORMATS
from .emit import render
from .errors import PathNotFound, UsageError, VrbCompileError
from .ir.signing import ENV_VAR, GraphKey
from .report import (
    FORMATS,
    render_github,
    render_json,
    render_sarif,
    render_text,
)
from .rules.base import RuleInfo
from .rules.registry import RULES, get_rule
from .source import decode_source, read_source
from .terminal import inert, inert_json

__all__ = ["EXIT_ERRORS", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "SUBCOMMANDS", "main"]

PROG = "vrb-compile"
EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
_BUG_URL = "https://github.com/vrb-workflows/vrb-workflows/issues"

Handler = Callable[[argparse.Namespace], int]
SubparserAdder = Callable[["argparse._SubParsersAction[_Parser]"], None]


def _version() -> str:
    try:
        return metadata.version("vrb-workflows")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "0.1.0"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- check


def _add_check(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="report nondeterministic or unsupported code in workflow bodies",
        description="Check workflow modules and report diagnostics. PATH is a file or a "
        "package directory (searched recursively). Exit status: 0 no errors, 1 errors, "
        "2 usage error or missing path.",
    )
    parser.add_argument(
        "paths", nargs="+", type=_path, metavar="PATH", help="files or package directories"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--select",
        metavar="CODES",
        help="comma-separated code prefixes to report (replaces the configuration's select)",
    )
    parser.add_argument(
        "--ignore",
        metavar="CODES",
        help="comma-separated code prefixes to skip (replaces the configuration's ignore)",
    )
    config = parser.add_mutually_exclusive_group()
    config.add_argument(
        "--config",
        type=_path,
        metavar="FILE",
        help="read the configuration from FILE (a pyproject.toml, or a TOML file with the keys "
        "at top level) instead of searching for pyproject.toml",
    )
    config.add_argument("--no-config", action="store_true", help="ignore every configuration file")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help=f"neither read nor write the result cache ({CACHE_DIR_NAME} under the config root)",
    )
    cache.add_argument(
        "--cache",
        action="store_true",
        help=f"read the result cache even under CI=true (or set {CI_OPT_IN_ENV}=1), where it is "
        "only written by default: a CI cache is restored from other runs",
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="worker processes (default: one per CPU; 1 checks in this process)",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=_path,
        metavar="FILE",
        help="write the report to FILE instead of stdout",
    )
    parser.set_defaults(handler=run_check)


def _path(text: str) -> str:
    """A path argument, refused here when no file system can hold it (every path option's type)."""
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a path: it holds a NUL character")
    try:
        os.fsencode(text)
    except UnicodeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a path: it holds a character no file name can (a lone surrogate)"
        ) from None
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _file_config(args: argparse.Namespace, known: Sequence[str]) -> FileConfig:
    if args.no_config:
        return FileConfig(root=Path.cwd())
    if args.config is not None:
        return load_config_file(Path(args.config), known)
    found = find_config()
    return FileConfig(root=Path.cwd()) if found is None else load_config_file(found, known)


def build_check_config(args: argparse.Namespace) -> tuple[CheckConfig, FileConfig]:
    """Merge the configuration file and the ``check`` flags into a :class:`CheckConfig`.

    ``--select``/``--ignore`` replace the file's lists; exclude globs and pure
    patterns come from the file only.

    Raises:
        ConfigError: The file or a flag is not valid.
    """
    known = tuple(RULES)
    file_config = _file_config(args, known)
    select = (
        file_config.select
        if args.select is None
        else parse_code_list(args.select, known, "--select")
    )
    ignore = (
        file_config.ignore
        if args.ignore is None
        else parse_code_list(args.ignore, known, "--ignore")
    )
    config = CheckConfig(
        select=select,
        ignore=ignore,
        exclude=_exclude_for_cwd(file_config),
        pure=file_config.pure,
        cache_dir=None if args.no_cache else file_config.root / CACHE_DIR_NAME,
        read_cache=args.cache or reads_allowed(),
        jobs=args.jobs,
    )
    return config, file_config


def _exclude_for_cwd(file_config: FileConfig) -> tuple[str, ...]:
    """Exclude globs re-anchored to the working directory.

    The file's globs are relative to the config root, while the checker matches
    paths relative to the working directory: when the two differ (running from a
    subdirectory), a glob under the subdirectory loses that prefix and a glob
    elsewhere is anchored at the root's absolute path.
    """
    cwd = Path.cwd().resolve()
    root = file_config.root.resolve()
    if root == cwd or not file_config.exclude:
        return file_config.exclude
    try:
        prefix = cwd.relative_to(root).as_posix() + "/"
    except ValueError:
        prefix = None
    globs: list[str] = []
    for glob in file_config.exclude:
        if prefix is not None and glob.startswith(prefix):
            globs.append(glob[len(prefix) :])
        globs.append(f"{root.as_posix()}/{glob}")
    return tuple(globs)


def _read_sources(diagnostics: Sequence[Diagnostic]) -> dict[str, str]:
    sources: dict[str, str] = {}
    for path in sorted({d.path for d in diagnostics}):
        try:
            sources[path] = decode_source(read_source(path))[0]
        except OSError:
            continue  # the report still has the location; only the excerpt is lost
    return sources


def _wants_color(stream: TextIO) -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    return stream.isatty() and not os.environ.get("NO_COLOR")


def render_result(result: CheckResult, fmt: str, *, color: bool) -> str:
    """Render a check result in one of :data:`~vrb_compile.report.FORMATS`."""
    diagnostics = result.diagnostics
    if fmt == "json":
        return render_json(diagnostics, files=result.files, workflows=result.workflows)
    if fmt == "sarif":
        return render_sarif(diagnostics, rules=RULES, version=_version(), srcroot=Path.cwd())
    if fmt == "github":
        return render_github(diagnostics)
    return render_text(
        diagnostics,
        files=result.files,
        workflows=result.workflows,
        sources=_read_sources(diagnostics),
        color=color,
    )


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def run_check(args: argparse.Namespace) -> int:
    """``vrb-compile check``: analyse the paths, print the report, 1 if any error."""
    for path in args.paths:
        if not os.path.lexists(path):  # a symlink loop exists: the loader says what is wrong
            raise PathNotFound(path)
    config, _ = build_check_config(args)
    result = check_paths(args.paths, config)
    if result.cache is not None and result.cache.rejected:
        count = result.cache.rejected
        sys.stderr.write(
            f"{PROG}: warning: {count} cache entr{'y' if count == 1 else 'ies'} in "
            f"{CACHE_DIR_NAME} failed authentication (written on another machine or under "
            f"another key, or edited) and {'was' if count == 1 else 'were'} recomputed\n"
        )
    if result.files == 0:
        # Not an error (a pre-commit run may pass only excluded files), but worth saying.
        sys.stderr.write(
            f"{PROG}: warning: no Python files to check in {inert(' '.join(args.paths))} "
            "(every file is excluded, or there is none)\n"
        )
    color = args.output is None and _wants_color(sys.stdout)
    _write(render_result(result, args.format, color=color), args.output)
    return EXIT_ERRORS if result.errors else EXIT_OK


# --------------------------------------------------------------------------- rules


def _add_rules(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="list the rule catalogue",
        description="List every rule code with its severity and summary.",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(handler=run_rules)


def _rule_dict(rule: RuleInfo) -> dict[str, str]:
    return {
        "code": rule.code,
        "name": rule.name,
        "severity": str(rule.severity),
        "summary": rule.summary,
        "rationale": rule.rationale,
        "hint": rule.hint,
    }


def run_rules(args: argparse.Namespace) -> int:
    """``vrb-compile rules``: the catalogue, one rule per line (or JSON)."""
    rules = [RULES[code] for code in sorted(RULES)]
    if args.format == "json":
        text = json.dumps([_rule_dict(rule) for rule in rules], indent=2) + "\n"
    else:
        width = max((len(rule.name) for rule in rules), default=0)
        lines = [
            f"{rule.code}  {rule.name:<{width}}  {rule.severity!s:<7}  {rule.summary}"
            for rule in rules
        ]
        text = "\n".join(lines) + "\n"
    _write(text, None)
    return EXIT_OK


# --------------------------------------------------------------------------- explain


def _add_explain(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain one rule: why it exists, a rejected and an accepted example",
        description="Print the rationale of a rule with a bad and a good example.",
    )
    parser.add_argument("code", metavar="CODE", help="a rule code, e.g. VRB101")
    parser.set_defaults(handler=run_explain)


def _prose(text: str) -> str:
    return textwrap.fill(
        " ".join(text.split()), width=88, initial_indent="    ", subsequent_indent="    "
    )


def _indent(block: str) -> str:
    return "\n".join(
        f"    {line}" if line.strip() else "" for line in block.strip("\n").splitlines()
    )


def run_explain(args: argparse.Namespace) -> int:
    """``vrb-compile explain CODE``: rationale, hint, bad and good example."""
    code = args.code.strip().upper()
    if code not in RULES:
        raise UsageError(
            f"unknown rule code {args.code!r}; run 'vrb-compile rules' for the list of codes"
        )
    rule = get_rule(code)
    parts = [
        f"{rule.code} {rule.name} ({rule.severity})",
        rule.summary,
        f"Why:\n{_prose(rule.rationale)}",
        f"Instead:\n{_prose(rule.hint)}",
    ]
    if rule.bad:
        parts.append(f"Rejected:\n{_indent(rule.bad)}")
    if rule.good:
        parts.append(f"Accepted:\n{_indent(rule.good)}")
    if rule.code != "VRB001":  # a file that does not parse cannot carry a suppression
        parts.append(f"Suppress one line with:  # vrb: ignore[{rule.code}]")
    _write("\n\n".join(parts) + "\n", None)
    return EXIT_OK


# --------------------------------------------------------------------------- build, graph


def _add_compile_options(parser: argparse.ArgumentParser) -> None:
    config = parser.add_mutually_exclusive_group()
    config.add_argument(
        "--config", type=_path, metavar="FILE", help="read the configuration from FILE"
    )
    config.add_argument("--no-config", action="store_true", help="ignore every configuration file")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not write the cache (the check run first never reads it)",
    )
    parser.set_defaults(select=None, ignore=None, jobs=None, cache=False)


def _add_build(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "build",
        help="check, then write each workflow's step graph and a manifest",
        description="Check the paths; if there is no error, write DIR/<workflow>.graph.json, "
        "DIR/manifest.json and DIR/versions/<workflow>/<hash>.graph.json (kept forever). "
        "Exit status: 0 built, 1 check errors (nothing written), 2 usage error.",
    )
    parser.add_argument(
        "paths", nargs="+", type=_path, metavar="PATH", help="files or package directories"
    )
    parser.add_argument(
        "--out", required=True, type=_path, metavar="DIR", help="the build directory"
    )
    _add_sign_key_option(parser)
    _add_compile_options(parser)
    parser.set_defaults(handler=run_build)


def _add_sign_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sign-key-file",
        type=_path,
        metavar="FILE",
        help=f"sign every file written with the key in FILE (default: the key in ${ENV_VAR}, "
        "if set); workers given the same key refuse unsigned or forged graphs",
    )


def _report_errors(result: CheckResult) -> int:
    """Print the check's report to stderr when it has errors; the exit status."""
    if not result.errors:
        return EXIT_OK
    sys.stderr.write(render_result(result, "text", color=_wants_color(sys.stderr)))
    sys.stderr.write(f"{PROG}: the check found errors: nothing was compiled\n")
    return EXIT_ERRORS


def _report_warnings(result: CheckResult) -> None:
    """Print the check's warnings (unreachable code ...) to stderr; the build goes on."""
    if result.warnings:
        sys.stderr.write(render_result(result, "text", color=_wants_color(sys.stderr)))


def run_build(args: argparse.Namespace) -> int:
    """``vrb-compile build``: check, lower, write the graphs; 1 if the check has errors."""
    for path in args.paths:
        if not os.path.lexists(path):  # a symlink loop exists: the loader says what is wrong
            raise PathNotFound(path)
    config, _ = build_check_config(args)
    key = GraphKey.resolve(args.sign_key_file)
    result = build_paths(args.paths, args.out, config, key=key)
    if result.check.errors:
        return _report_errors(result.check)
    _report_warnings(result.check)
    lines = []
    for built in result.built:
        state = "new" if built.new_version else "unchanged"
        lines.append(inert(f"{built.name}: {built.path} (graph {built.hash[:12]}, {state})") + "\n")
    signed = f", signed with key {key.key_id}" if key is not None else ""
    lines.append(inert(f"{len(result.built)} graph(s) written to {result.out_dir}{signed}") + "\n")
    _write("".join(lines), None)
    if key is not None:
        unsigned = unsigned_files(result.out_dir, key)
        if unsigned:
            warning = (
                f"{PROG}: warning: {len(unsigned)} file(s) in {result.out_dir} built before are "
                f"not signed with this key (first: {unsigned[0]}); a worker given the key "
                f"refuses them: once you trust them, run `{PROG} sign {result.out_dir} "
                "--sign-key-file FILE`"
            )
            sys.stderr.write(inert(warning) + "\n")
    return EXIT_OK


def _add_sign(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "sign",
        help="sign every graph and the manifest of an existing build directory",
        description="Sign the files of DIR that the key does not verify yet (a build made "
        "before signing was turned on, or under a previous key). Whoever runs it vouches "
        "for every graph in DIR. Exit status: 0 signed, 2 usage error or a file that is not "
        "a valid graph of the place it is in.",
    )
    parser.add_argument(
        "directory", type=_path, metavar="DIR", help="a vrb-compile build directory"
    )
    _add_sign_key_option(parser)
    parser.set_defaults(handler=run_sign)


def run_sign(args: argparse.Namespace) -> int:
    """``vrb-compile sign``: sign an existing build directory."""
    key = GraphKey.resolve(args.sign_key_file)
    if key is None:
        raise UsageError(f"no key to sign with: give --sign-key-file FILE or set ${ENV_VAR}")
    signed = sign_build(args.directory, key)
    done = f"{len(signed)} file(s) in {args.directory} signed with key {key.key_id}"
    _write(inert(done) + "\n", None)
    return EXIT_OK


def _add_graph(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="draw a workflow's step graph (Mermaid, DOT, JSON or HTML)",
        description="Check the paths, lower the workflow and print its graph. With several "
        "workflows in the paths, choose one with --workflow.",
    )
    parser.add_argument(
        "paths", nargs="+", type=_path, metavar="PATH", help="files or package directories"
    )
    parser.add_argument("--workflow", metavar="NAME", help="the workflow to draw")
    parser.add_argument(
        "--format",
        choices=GRAPH_FORMATS,
        default="mermaid",
        help="output format (default: mermaid)",
    )
    parser.add_argument(
        "--output", "-o", type=_path, metavar="FILE", help="write to FILE instead of stdout"
    )
    _add_compile_options(parser)
    parser.set_defaults(handler=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    """``vrb-compile graph``: render one workflow's graph; 1 if the check has errors."""
    for path in args.paths:
        if not os.path.lexists(path):  # a symlink loop exists: the loader says what is wrong
            raise PathNotFound(path)
    config, _ = build_check_config(args)
    compiled = compile_paths(args.paths, config)
    if compiled.check.errors:
        return _report_errors(compiled.check)
    _report_warnings(compiled.check)
    graph = select_graph(compiled.graphs, args.workflow)
    drawing = render(graph, args.format)
    if args.output is None:  # a terminal, maybe: names from the source are shown, not obeyed
        drawing = inert_json(drawing) if args.format == "json" else inert(drawing, keep="\n\t")
    _write(drawing, args.output)
    return EXIT_OK


# --------------------------------------------------------------------------- program

SUBCOMMANDS: list[SubparserAdder] = [
    _add_check,
    _add_rules,
    _add_explain,
    _add_build,
    _add_graph,
    _add_sign,
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand included."""
    parser = _Parser(
        prog=PROG,
        description="Check and compile durable workflows written with the vrb-workflows SDK.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"{PROG}: {inert(message)}\n")
    sys.stderr.flush()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vrb-compile`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status (see the module docstring); never raises for a user mistake.
    """
    try:
        args = build_parser().parse_args(argv)
        handler: Handler = args.handler
        return handler(args)
    except VrbCompileError as exc:
        return _fail(f"error: {_one_line(str(exc))}", EXIT_USAGE)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours; silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"error: {where}{exc.strerror or exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except RecursionError:
        # Each file's parse and analysis report this as VRB001; what reaches here is
        # something joining many files (a chain of star imports thousands deep).
        if os.environ.get("VRB_COMPILE_DEBUG"):
            raise
        return _fail(
            "error: the sources are nested too deeply for vrb-compile (Python's recursion "
            "limit was reached): split the deepest expressions, or the longest chains of "
            "imports or helpers (VRB_COMPILE_DEBUG=1 shows where)",
            EXIT_USAGE,
        )
    except Exception as exc:
        if os.environ.get("VRB_COMPILE_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {_one_line(str(exc))}; this is a bug in "
            f"vrb-compile {_version()}, please report it with the command you ran at {_BUG_URL} "
            "(VRB_COMPILE_DEBUG=1 shows the traceback)",
            EXIT_INTERNAL,
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())
