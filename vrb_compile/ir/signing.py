"""Signatures of build files: an HMAC-SHA256 under a key the build and the workers share.

A worker verifies the newest graph of each workflow by compiling the module it
imported; an older version's source is gone, so only a signature proves that
``vrb-compile build`` wrote it. Each signed file ``F`` has a ``F.sig`` beside
it, a JSON object::

    {"alg": "HMAC-SHA256", "key_id": "<16 hex>", "mac": "<64 hex>"}

The MAC covers a domain tag, the file's path relative to the build directory
and its bytes: a signed file copied to another place (another workflow's
name, another version's) no longer verifies. ``key_id`` names the key without
revealing it, so a worker can say "signed with another key" rather than
"forged".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from ..errors import VrbCompileError
from ..files import read_regular

__all__ = [
    "ENV_VAR",
    "MIN_KEY_BYTES",
    "SIGNATURE_SUFFIX",
    "GraphKey",
    "GraphKeyError",
    "signature_path",
]

ENV_VAR = "VRB_GRAPH_KEY"
"""The environment variable holding the key itself (not a path)."""

SIGNATURE_SUFFIX = ".sig"
MIN_KEY_BYTES = 32
ALGORITHM = "HMAC-SHA256"
_DOMAIN = b"vrb-graph-signature-v1\0"
_MAX_SIGNATURE_BYTES = 4096
_MAX_KEY_FILE_BYTES = 4096
_MAKE_ONE = "make one with: python -c 'import secrets; print(secrets.token_hex(32))'"


class GraphKeyError(VrbCompileError, ValueError):
    """A graph signing key that cannot be used (missing, unreadable, too short)."""


def signature_path(path: Path) -> Path:
    """Where the signature of ``path`` is kept."""
    return path.with_name(path.name + SIGNATURE_SUFFIX)


class GraphKey:
    """A secret key that signs and verifies build files.

    Args:
        secret: At least :data:`MIN_KEY_BYTES` bytes (surrounding whitespace,
            such as a key file's final newline, is not part of the key).

    Raises:
        GraphKeyError: The key is too short.
    """

    def __init__(self, secret: bytes | str, *, origin: str = "the graph key") -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        raw = raw.strip()
        if len(raw) < MIN_KEY_BYTES:
            raise GraphKeyError(
                f"{origin} is {len(raw)} bytes; a graph signing key needs at least "
                f"{MIN_KEY_BYTES} ({_MAKE_ONE})"
            )
        self._secret = raw
        self.key_id = hashlib.sha256(b"vrb-graph-key-id\0" + raw).hexdigest()[:16]
        """A public name of the key: the same key always has the same id."""

    def __repr__(self) -> str:
        return f"GraphKey(key_id={self.key_id!r})"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> GraphKey:
        """The key held in a file.

        Raises:
            GraphKeyError: The file cannot be read or holds too short a key.
        """
        try:
            data, _ = read_regular(path, _MAX_KEY_FILE_BYTES)
        except OSError as error:
            raise GraphKeyError(
                f"cannot read the graph signing key file {os.fspath(path)}: "
                f"{error.strerror or error}"
            ) from None
        if len(data) > _MAX_KEY_FILE_BYTES:
            raise GraphKeyError(
                f"the graph signing key file {os.fspath(path)} is over "
                f"{_MAX_KEY_FILE_BYTES} bytes: not a key file"
            )
        return cls(data, origin=f"the graph signing key in {os.fspath(path)}")

    @classmethod
    def from_env(cls) -> GraphKey | None:
        """The key in :data:`ENV_VAR`, or ``None`` when it is unset or empty.

        Raises:
            GraphKeyError: It is set to too short a key.
        """
        value = os.environ.get(ENV_VAR, "")
        return cls(value, origin=ENV_VAR) if value.strip() else None

    @classmethod
    def resolve(cls, key_file: str | os.PathLike[str] | None) -> GraphKey | None:
        """The key in ``key_file`` if given, else the one in :data:`ENV_VAR`, else ``None``."""
        return cls.from_file(key_file) if key_file is not None else cls.from_env()

    def _mac(self, relpath: str, data: bytes) -> str:
        message = _DOMAIN + relpath.encode("utf-8", "surrogateescape") + b"\0" + data
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, relpath: str, data: bytes) -> str:
        """The signature file's text for ``data`` filed at ``relpath`` (posix, relative)."""
        document = {"alg": ALGORITHM, "key_id": self.key_id, "mac": self._mac(relpath, data)}
        return json.dumps(document, sort_keys=True) + "\n"

    def verify(self, relpath: str, data: bytes, signature: bytes | None) -> str | None:
        """Why ``signature`` does not prove ``data`` at ``relpath``; ``None`` when it does.

        Args:
            relpath: The file's posix path relative to the build directory.
            data: The file's bytes.
            signature: The signature file's bytes, ``None`` when there is none.
        """
        if signature is None:
            return "it is not signed"
        if len(signature) > _MAX_SIGNATURE_BYTES:
            return "its signature file is not a vrb-compile signature"
        try:
            document = json.loads(signature)
        except (ValueError, UnicodeDecodeError):
            return "its signature file is not a vrb-compile signature"
        if not isinstance(document, dict) or document.get("alg") != ALGORITHM:
            return "its signature file is not a vrb-compile signature"
        mac, key_id = document.get("mac"), document.get("key_id")
        if not isinstance(mac, str) or not isinstance(key_id, str):
            return "its signature file is not a vrb-compile signature"
        if not hmac.compare_digest(mac.encode(), self._mac(relpath, data).encode()):
            if key_id != self.key_id:
                return (
                    f"it is signed with another key ({key_id[:16]!r}; this key is {self.key_id!r})"
                )
            return "its signature does not match its content: it was changed after signing"
        return None
