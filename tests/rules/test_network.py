"""VRB106: network I/O in a workflow body."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB106"

VALID = [
    Valid(
        "url-parsing", wf("    return urllib.parse.quote(order['id'])\n", "import urllib.parse\n")
    ),
    Valid(
        "urlsplit",
        wf("    return urlsplit(order['url']).netloc\n", "from urllib.parse import urlsplit\n"),
    ),
    Valid(
        "ip-address",
        wf("    return ipaddress.ip_address(order['ip']).is_private\n", "import ipaddress\n"),
    ),
    Valid(
        "request-in-a-step",
        'import requests\nfrom runtime import step\n\n\n@step("get")\nasync def get(u):\n'
        "    return requests.get(u).json()\n",
    ),
    Valid(
        "suppressed",
        wf("    return requests.get('u')  # vrb: ignore[VRB106]\n", "import requests\n"),
    ),
]

INVALID = [
    Invalid(
        "requests", CODE, wf("    return requests.get(order['url'])  # !\n", "import requests\n")
    ),
    Invalid(
        "urlopen",
        CODE,
        wf("    return urlopen(order['url'])  # !\n", "from urllib.request import urlopen\n"),
    ),
    Invalid(
        "httpx-alias", CODE, wf("    return hx.post(order['url'])  # !\n", "import httpx as hx\n")
    ),
    Invalid(
        "http-client",
        CODE,
        wf("    return http.client.HTTPSConnection('h')  # !\n", "import http.client\n"),
    ),
    Invalid(
        "socket",
        CODE,
        wf("    return socket.create_connection(('h', 1))  # !\n", "import socket\n"),
    ),
    Invalid(
        "aiohttp-awaited",
        CODE,
        wf(
            "    return await session.get(order['url'])  # !\n",
            "from aiohttp import request\n",
            extra="import aiohttp\nsession = aiohttp.ClientSession()\n",
        ),
    ),
    Invalid(
        "requests-session-alias",
        CODE,
        wf(
            "    return get(order['url'])  # !\n",
            "import requests\n",
            extra="get = requests.Session().get\n",
        ),
    ),
    Invalid(
        "helper",
        CODE,
        wf(
            "    return fetch(order)\n",
            "import requests\n",
            extra="def fetch(o):\n    return requests.get(o['url']).json()  # !\n\n\n",
        ),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, [CODE])


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostic(check_files: CheckFiles) -> None:
    src = wf("    return requests.get(order['url'])\n", "import requests\n")
    [diag] = only(check_files({"mod.py": src}), CODE)
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 12, 12, 38)
    assert (
        diag.message
        == "requests.get() does network I/O; it repeats on every replay and its answer can change"
    )
    assert diag.hint.startswith("move the request into a step")
