"""VRB106: network I/O in a workflow body."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["RULES", "TABLE"]

TABLE = CallTable(
    code="VRB106",
    reason=lambda q: "does network I/O; it repeats on every replay and its answer can change",
    hint="move the request into a step (steps are retried and their results recorded)",
    prefixes=(
        "socket",
        "ssl",
        "urllib.request",
        "http.client",
        "requests",
        "httpx",
        "aiohttp",
        "smtplib",
        "ftplib",
        "poplib",
        "imaplib",
        "telnetlib",
        "xmlrpc.client",
        "websockets",
        "grpc",
        "boto3",
        "botocore",
    ),
)

RULES = (
    RuleInfo(
        code="VRB106",
        name="network-io",
        severity=Severity.ERROR,
        summary="network I/O in a workflow body",
        rationale="A request in the body runs again on every replay and may get another answer.",
        hint=TABLE.hint,
        bad=workflow_module("    return requests.get(order['url']).json()\n", "import requests\n"),
        good=workflow_module("    return await charge(order['amount'])\n"),
        valid=(
            workflow_module(
                "    return urllib.parse.quote(order['id'])\n", "import urllib.parse\n"
            ),
        ),
        invalid=(
            workflow_module("    return requests.get(order['url'])\n", "import requests\n"),
            workflow_module(
                "    return urlopen(order['url'])\n", "from urllib.request import urlopen\n"
            ),
            workflow_module("    return httpx.post(order['url'])\n", "import httpx\n"),
        ),
    ),
)
