"""A password in a store URL never shows: not in an error, a log line, a repr, or the CLI's output.

Properties over generated URLs (:func:`tests.strategies.secret_urls`): the
password in the userinfo, in ``password=``/``sslpassword=``, in libpq's keyword
form; raw (with the separators that make parsers cut it elsewhere) or
percent-encoded; every scheme, bad ports, an IPv6 host without its bracket. Each
URL goes to :func:`runtime.stores.open_store`, to :class:`runtime.Client` and to
the ``vrb`` commands (in process, and a few as real processes, the worker
included); no exception text and no output line may hold the password in any
form, nor the distinctive run of letters at its heart (so no piece of it a
parser cut out either). Then the same against the real PostgreSQL server: a
refused role, a missing database, and an open store's repr and messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings

from runtime import Client
from runtime.cli import main as vrb_main
from runtime.errors import ConfigurationError, VrbError
from runtime.stores import open_store
from runtime.stores._redact import MASK, redact_url, scrub, url_location, url_secrets
from tests.properties import budget
from tests.strategies import SecretURL, secret_urls

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # seconds before a subprocess is declared hung (a safety net, not a measurement)


def _leaks(secret: SecretURL, *texts: str) -> list[tuple[str, str]]:
    """``(form, text)`` for every text that holds a form of the password."""
    return [(form, text) for text in texts for form in secret.forms() if form and form in text]


def _exception_texts(error: BaseException) -> list[str]:
    return [str(error), repr(error), *(str(arg) for arg in error.args)]


# --------------------------------------------------------------------------- the functions

_AWKWARD = [
    # URLs that leaked while this was built (all but the first found by these
    # properties): a space in a password without a scheme, a raw '@' or '&' opening a
    # password option, a ';' or a space in the keyword form, a '://' in a password
    # without a scheme.
    SecretURL(
        "vrb_no_such_user: S3CRETab@127.0.0.1:1/vrb_no_such_db",
        " S3CRETab",
        " S3CRETab",
        "S3CRETab",
    ),
    SecretURL(
        "postgresql://u@127.0.0.1:1/vrb_no_such_db?password=@S3CRETab",
        "@S3CRETab",
        "@S3CRETab",
        "S3CRETab",
    ),
    SecretURL(
        "postgresql://u@127.0.0.1:1/vrb_no_such_db?password=&S3CRETab",
        "&S3CRETab",
        "&S3CRETab",
        "S3CRETab",
    ),
    SecretURL(
        "host=127.0.0.1 password=;S3CRETab dbname=vrb_no_such_db",
        ";S3CRETab",
        ";S3CRETab",
        "S3CRETab",
    ),
    SecretURL(
        "host=127.0.0.1 password=x S3CRETab dbname=vrb_no_such_db",
        "x S3CRETab",
        "x S3CRETab",
        "S3CRETab",
    ),
    SecretURL(
        "vrb_no_such_user:S3CRETab://@127.0.0.1:1/vrb_no_such_db",
        "S3CRETab://",
        "S3CRETab://",
        "S3CRETab",
    ),
    # A raw '@' then a backslash: libpq resolves the rest as a host, and quotes it
    # with the backslash doubled.
    SecretURL(
        "postgresql://vrb_no_such_user:@S3CRETab\\$@127.0.0.1:1/vrb_no_such_db",
        "@S3CRETab\\$",
        "@S3CRETab\\$",
        "S3CRETab",
    ),
]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:S3CRETPW@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:S3C%40RET@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p@ss/w?rd@h/db", "postgresql://u:***@h/db"),
        ("postgresql://:S3CRETPW@[::1]:5432/db", "postgresql://:***@[::1]:5432/db"),
        (
            "postgresql://h/db?sslmode=require&password=S3CRETPW",
            "postgresql://h/db?sslmode=require&password=***",
        ),
        (
            "postgresql://h/db?pass%77ord=S3CRETPW&sslpassword=K3Y",
            "postgresql://h/db?pass%77ord=***&sslpassword=***",
        ),
        ("host=h password=S3CRETPW dbname=db", "host=h password=*** dbname=db"),
        ("host=h password='S3 \\' PW' dbname=db", "host=h password=*** dbname=db"),
        ("u:S3CRETPW@h/db", "u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///vrb.db", "sqlite:///vrb.db"),
        ("memory://", "memory://"),
    ],
)
def test_redact_url_masks_the_password_wherever_it_is_written(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_location_names_user_host_port_and_database_only() -> None:
    url = "postgresql://u:S3CRETPW@h:5432/db?sslmode=require&password=S3CRETPW"
    assert url_location(url) == "postgresql://u@h:5432/db"
    assert url_location("postgresql://:S3CRETPW@[::1]/db") == "postgresql://[::1]/db"


def test_scrub_masks_a_password_a_driver_quotes_and_any_password_option() -> None:
    url = "postgresql://u:S3C%zzRETPW@h/db"
    message = 'invalid percent-encoded token: "S3C%zzRETPW"; conninfo: password=other, port=1'
    # An unquoted value runs to the next space, as libpq reads it: the comma goes too.
    assert scrub(message, url_secrets(url)) == (
        f'invalid percent-encoded token: "{MASK}"; conninfo: password={MASK} port=1'
    )


def test_a_password_that_is_also_the_user_name_is_not_scrubbed_from_the_words_shown() -> None:
    # The location shows the user anyway: masking it would only garble the message.
    assert url_secrets("postgresql://postgres:postgres@h/db") == ()


@settings(max_examples=budget("url_secrets"))
@given(secret_urls())
@example(_AWKWARD[0])
@example(_AWKWARD[1])
@example(_AWKWARD[2])
@example(_AWKWARD[3])
@example(_AWKWARD[4])
@example(_AWKWARD[5])
def test_no_redacted_form_of_a_url_shows_its_password(secret: SecretURL) -> None:
    assert not _leaks(secret, redact_url(secret.url), url_location(secret.url))
    assert scrub(secret.url, url_secrets(secret.url)) != secret.url


# --------------------------------------------------------------------------- open_store, Client


def _refused(open_it: Any, url: str) -> BaseException:
    try:
        opened = open_it(url)
    except VrbError as error:
        return error
    asyncio.run(opened.close())
    raise AssertionError(f"{url!r} opened")


@settings(max_examples=budget("url_secrets_open"))
@given(secret_urls())
@example(_AWKWARD[6])
def test_open_store_refuses_the_url_without_showing_its_password(secret: SecretURL) -> None:
    error = _refused(open_store, secret.url)
    assert not _leaks(secret, *_exception_texts(error)), error
    assert "\n" not in str(error)


@settings(max_examples=budget("url_secrets_open"))
@given(secret_urls())
def test_a_client_refuses_the_url_without_showing_its_password(secret: SecretURL) -> None:
    error = _refused(Client, secret.url)
    assert not _leaks(secret, *_exception_texts(error)), error


# --------------------------------------------------------------------------- the vrb command

_COMMANDS = [
    ["runs", "list"],
    ["runs", "show", "r"],
    ["runs", "history", "r"],
    ["runs", "cancel", "r"],
    ["trigger", "w", "--args", "[]"],
    ["signal", "r", "s"],
    ["stats", "--json"],
]


def _vrb_in_process(argv: list[str]) -> tuple[int, str, str]:
    """``vrb ARGV`` run by its ``main`` in this process: the status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = vrb_main(argv)
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=budget("url_secrets_cli"))
@given(secret_urls())
def test_no_vrb_error_line_shows_the_password(secret: SecretURL) -> None:
    for command in _COMMANDS:
        status, out, err = _vrb_in_process([*command, "--db", secret.url])
        assert status == 2, (command, out, err)
        assert err.startswith("vrb: error: "), err
        assert err.count("\n") == 1, err
        assert not _leaks(secret, out, err), (command, err)


@settings(max_examples=budget("url_secrets_cli"))
@given(secret_urls())
@example(_AWKWARD[0])
@example(_AWKWARD[1])
@example(_AWKWARD[2])
@example(_AWKWARD[3])
@example(_AWKWARD[4])
@example(_AWKWARD[5])
def test_the_environment_url_and_a_url_in_the_wrong_place_do_not_show_either(
    secret: SecretURL,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VRB_DATABASE_URL", secret.url)
        status, out, err = _vrb_in_process(["runs", "list"])
    assert status == 2
    assert not _leaks(secret, out, err), err
    # argparse quotes an argument it does not expect: the URL typed without --db.
    status, out, err = _vrb_in_process(["runs", "list", secret.url])
    assert status == 2
    assert "unrecognized arguments" in err
    assert not _leaks(secret, out, err), err


def _vrb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "VRB_DATABASE_URL"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:S3CRETPW@127.0.0.1:5432/vrb_no_such_db",
        "postgresql://postgres:S3CRETPW@127.0.0.1:1/test?connect_timeout=2",
        "postgresql://postgres:S3CRETPW@127.0.0.1/test?pool_min_size=x",
        "postgresql://postgres:S3C%zzRETPW@127.0.0.1/test",
        "postgresql://postgres:S3CRETPW@[::1/test",
        "postgresql://postgres:pa/ssS3CRETPW@127.0.0.1/test",
        "mysql://postgres:S3CRETPW@127.0.0.1/test",
        "postgres:S3CRETPW@127.0.0.1/test",
        "host=127.0.0.1 password=S3CRETPW dbname=test",
        "sqlite:///vrb.db?password=S3CRETPW",
        "memory://postgres:S3CRETPW@x",
    ],
)
def test_the_vrb_process_and_the_worker_never_print_the_password(url: str) -> None:
    """As a user runs them: ``--db``, ``VRB_DATABASE_URL``, and ``vrb worker``."""
    runs = [
        _vrb("runs", "list", "--db", url),
        _vrb("stats", env={"VRB_DATABASE_URL": url}),
        _vrb("worker", "examples.order_processing", "--db", url),
    ]
    for done in runs:
        assert done.returncode == 2, (done.args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "S3CRET" not in done.stdout + done.stderr, (done.args, done.stderr)
        assert done.stderr.splitlines()[-1].startswith("vrb: error: "), done.stderr


# --------------------------------------------------------------------------- the real server


def _with_password(server: str, password: str, **parts: str) -> str:
    """``server``'s URL with ``password`` in its userinfo, user or database replaced."""
    scheme, _, rest = server.partition("://")
    userinfo, _, location = rest.rpartition("@")
    user = parts.get("user", userinfo.partition(":")[0] or "postgres")
    hostport, _, tail = location.partition("/")
    database, question, query = tail.partition("?")
    database = parts.get("database", database)
    return f"{scheme}://{user}:{password}@{hostport}/{database}{question}{query}"


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"user": "vrb_no_such_user"}, 'role "vrb_no_such_user" does not exist'),
        ({"database": "vrb_no_such_db"}, 'database "vrb_no_such_db" does not exist'),
    ],
    ids=["unknown-role", "missing-database"],
)
def test_a_server_refusal_names_the_server_and_not_the_password(
    postgres_server: str, parts: dict[str, str], expected: str
) -> None:
    url = _with_password(postgres_server, "S3CRETPW", **parts)
    error = _refused(open_store, url)
    for text in _exception_texts(error):
        assert expected in text
        assert "S3CRETPW" not in text
    done = _vrb("runs", "list", "--db", url)
    assert done.returncode == 2
    assert expected in done.stderr
    assert "S3CRETPW" not in done.stdout + done.stderr


def test_an_open_store_never_shows_its_password(postgres_url: str) -> None:
    # The test server trusts every local connection: the password is sent and ignored.
    url = _with_password(postgres_url, "S3CRETPW")
    store = open_store(url)
    assert "S3CRETPW" not in repr(store) + str(store)
    asyncio.run(store.close())
    with pytest.raises(ConfigurationError) as closed:
        asyncio.run(store.get_run("r"))
    assert "is closed" in str(closed.value)
    assert "S3CRETPW" not in str(closed.value) + repr(closed.value)
