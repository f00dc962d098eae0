"""Payload codecs: user data encoded (encrypted) before it reaches the store, decoded after.

A :class:`PayloadCodec` turns each user value - a run's input and result, a
step's output, a signal's payload, an error's message and details - into an
*envelope* on its way into the store, and back on its way out, as Temporal's
payload codec and Inngest's encryption middleware do. Give one to the client,
``Client(url, codec=...)``: its calls, the workers built on it and the ``vrb``
command (``--codec MODULE:OBJECT``) all go through it, at the one boundary
between the runtime and the store (:class:`runtime._codec_store.CodecStore`).
Engine metadata - run ids, workflow, step and signal names, keys, seqs,
attempts, times, statuses, graph hashes and error *types* - stays readable, so
claims, timers, statistics and operators keep working without the key.

:class:`AesGcmCodec` is the ready one: AES-256-GCM from ``cryptography``
(``pip install 'vrb-workflows[crypto]'``), key rotation and optional
compression. An envelope is a JSON object whose :data:`MARKER` member names its
scheme, so any tool can tell an encoded value from data without the codec::

    {"$vrb_codec": "aes-256-gcm/1", "key": "k2", "nonce": "...", "data": "..."}

Decisions
---------
* **Async methods.** A codec may call a key service (KMS, Vault) per value, as
  Temporal's codecs do; the store boundary is async anyway. AES-GCM itself runs
  inline: it takes microseconds for a small value, far less than a thread hop.
* **One value at a time, with its place.** :class:`CodecContext` names the run,
  the field and the event key of the value, and :class:`AesGcmCodec` binds them
  into the ciphertext (associated data): an envelope moved to another run, field
  or step fails to decode instead of being read as that value.
* **Every stored value reaches** :meth:`PayloadCodec.decode`, envelopes and
  plaintext alike, so a codec decides whether plaintext (written before it was
  configured, or forged by someone who can write to the database) is accepted.
  :class:`AesGcmCodec` refuses it unless ``allow_plaintext=True``.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic_core import from_json, to_json

from ._json_values import RESERVED_KEY
from .errors import CodecError, ConfigurationError, CorruptValueError, MissingKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEYS_VARIABLE",
    "MARKER",
    "AesGcmCodec",
    "CodecContext",
    "PayloadCodec",
    "describe",
    "is_encoded",
    "load_codec",
]

MARKER = RESERVED_KEY
"""The member of every envelope: its value (a str) names the scheme that wrote it."""

KEYS_VARIABLE = "VRB_CODEC_KEYS"
"""The environment variable :meth:`AesGcmCodec.from_environ` reads keys from."""


@dataclass(frozen=True, slots=True)
class CodecContext:
    """Where a value is stored: what a codec may bind its envelope to.

    Attributes:
        run_id: The run the value belongs to.
        field: Which value of the run: ``"input"``, ``"result"``, ``"error"``
            (the run's own), ``"signal"`` (a sent signal's payload), or
            ``"<event type>.<field>"`` for the other values events hold
            (``"step_completed.output"``, ``"step_failed.error"``...).
        key: The event's key (the step invocation key), ``None`` for run-level values.
    """

    run_id: str
    field: str
    key: str | None = None

    def describe(self) -> str:
        """``the input of run R`` / ``the step_completed.output of run R (event key 'n1')``."""
        where = f"the {self.field} of run {self.run_id}"
        return where if self.key is None else f"{where} (event key {self.key!r})"


@runtime_checkable
class PayloadCodec(Protocol):
    """Encodes user values on their way into a store and decodes them on the way out.

    Both methods must be safe to call concurrently, and ``decode(encode(v, c), c)``
    must equal ``v`` for every JSON value ``v``. A transient failure (a key
    service out of reach) should raise :class:`ConnectionError`: a worker then
    repeats the append rather than giving the run up.
    """

    async def encode(self, value: Any, context: CodecContext) -> dict[str, Any]:
        """Encode a JSON value.

        Args:
            value: A JSON value (checked before it gets here).
            context: Where it will be stored.

        Returns:
            An envelope: a JSON object whose :data:`MARKER` member is a str naming
            the scheme, with a ``"key"`` member naming the key, if there is one
            (tools show it).

        Raises:
            CodecError: It cannot be encoded.
        """
        ...

    async def decode(self, value: Any, context: CodecContext) -> Any:
        """Decode a stored value: an envelope, or plaintext stored without a codec.

        Args:
            value: What the store holds (see :func:`is_encoded`).
            context: Where it is stored.

        Returns:
            The JSON value it encodes (plaintext, if accepted, as it is).

        Raises:
            CodecError: It cannot be decoded or is refused (a
                :class:`MissingKeyError`, a :class:`CorruptValueError`).
        """
        ...


def is_encoded(value: Any) -> bool:
    """Whether a stored value is a codec's envelope (a dict with a str :data:`MARKER`)."""
    return type(value) is dict and isinstance(value.get(MARKER), str)


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def _shown(text: str, limit: int = 64) -> str:
    # Envelopes come from the store: a forged key id must not drive the terminal.
    text = _UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: dict[str, Any]) -> str:
    """What tools print for an envelope they cannot decode: ``<encrypted: key k2>``.

    A scheme without a key shows its name instead: ``<encoded: my-scheme>``.
    """
    key = value.get("key")
    if isinstance(key, str):
        return f"<encrypted: key {_shown(key)}>"
    return f"<encoded: {_shown(str(value.get(MARKER)))}>"


def load_codec(spec: str) -> PayloadCodec:
    """The codec ``MODULE:OBJECT`` names: a codec instance, or a zero-argument factory.

    ``OBJECT`` may be dotted (``runtime.codec:AesGcmCodec.from_environ``). The
    module is imported as ``vrb worker`` imports workflow modules: trust the spec
    as you trust your code.

    Raises:
        ConfigurationError: The spec is malformed, its module or object is
            missing, the factory failed, or the object is not a codec.
    """
    module_name, sep, path = spec.strip().partition(":")
    if not sep or not module_name or not path:
        raise ConfigurationError(
            f"codec {spec!r} is not MODULE:OBJECT; write e.g. "
            "--codec runtime.codec:AesGcmCodec.from_environ or --codec myapp.crypto:codec"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"codec {spec!r}: cannot import module {module_name!r} ({error}); run from the "
            "directory that holds it or install it"
        ) from None
    except Exception as error:
        raise ConfigurationError(
            f"codec {spec!r}: importing module {module_name!r} failed: "
            f"{type(error).__name__}: {' '.join(str(error).split())}"
        ) from None
    for part in path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(f"codec {spec!r}: {module_name!r} has no {path!r}") from None
    if not isinstance(target, PayloadCodec) or isinstance(target, type):
        if not callable(target):
            raise ConfigurationError(
                f"codec {spec!r} is a {type(target).__name__}, not a codec or a factory of one"
            )
        try:
            target = target()
        except (CodecError, ConfigurationError) as error:
            raise ConfigurationError(f"codec {spec!r}: {error}") from None
        except Exception as error:
            raise ConfigurationError(
                f"codec {spec!r}: calling it failed: {type(error).__name__}: "
                f"{' '.join(str(error).split())}"
            ) from None
    if not isinstance(target, PayloadCodec) or isinstance(target, type):
        raise ConfigurationError(
            f"codec {spec!r} gave a {type(target).__name__}, which has no async "
            "encode(value, context) and decode(value, context)"
        )
    return target


# --------------------------------------------------------------------------- AES-GCM


_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NONCE_BYTES = 12
_TAG_BYTES = 16
_RAW = b"\x00"
_ZLIB = b"\x01"
_COMPRESS_FROM = 256
"""Values shorter than this (in JSON bytes) are never compressed: nothing to gain."""
_MAX_INFLATED = 1 << 30
"""The most a compressed value may inflate to (1 GiB), against a crafted bomb."""


class AesGcmCodec:
    """AES-256-GCM encryption of every user value, with key rotation and optional compression.

    Each value is serialised to JSON (as the stores would), optionally
    compressed with zlib, and encrypted with the newest key under a fresh random
    96-bit nonce. The associated data binds the scheme version, the key id and
    the value's :class:`CodecContext` (run, field, event key), so a value cannot be
    altered, or moved to another run or field, without failing to decrypt.

    Rotation: give keys newest first. The newest encrypts; every key given
    decrypts. To rotate, put the new key first on every worker and client
    (old values still decrypt), and drop an old key only once no run you keep
    holds a value under it - a dropped key makes those values unreadable for good.
    With random nonces, encrypt at most about 2**32 values under one key
    (NIST SP 800-38D): rotate well before that.

    Args:
        keys: ``(key id, 32-byte key)`` pairs, or a mapping, newest first. Key
            ids are 1 to 64 characters of ``A-Z a-z 0-9 . _ -`` and are stored
            in plaintext in every envelope.
        compress: Compress values of 256 bytes or more before encrypting them
            (only when that makes them smaller). Off by default: the length of
            a compressed value reveals how repetitive it is, which leaks secrets
            stored in one value beside text an attacker chooses (CRIME).
        allow_plaintext: Decode values stored unencrypted as they are (a store
            that held runs before encryption was turned on). Off by default:
            without it, a plaintext value - written by a client without the
            codec, or by someone who can write to the database - is refused.

    Raises:
        ConfigurationError: No key, a malformed key id, a key that is not 32
            bytes, a repeated id, or ``cryptography`` is not installed.
    """

    SCHEME = "aes-256-gcm/1"
    """The :data:`MARKER` of this codec's envelopes (bumped if their format changes)."""

    def __init__(
        self,
        keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]],
        *,
        compress: bool = False,
        allow_plaintext: bool = False,
    ) -> None:
        aesgcm = _aesgcm_class()
        pairs = list(keys.items() if isinstance(keys, Mapping) else keys)
        if not pairs:
            raise ConfigurationError("AesGcmCodec needs at least one key (newest first)")
        self._ciphers: dict[str, AESGCM] = {}
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ConfigurationError(
                    "AesGcmCodec keys are (key id, 32-byte key) pairs or a {key id: key} mapping"
                )
            key_id, key = pair
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(
                    f"AesGcmCodec key id '{_shown(str(key_id))}' is not 1 to 64 characters of "
                    "A-Z a-z 0-9 . _ - (starting with a letter or digit)"
                )
            if key_id in self._ciphers:
                raise ConfigurationError(f"AesGcmCodec key id {key_id!r} is given twice")
            if isinstance(key, str):
                raise ConfigurationError(
                    f"AesGcmCodec key {key_id!r} is a str; pass its 32 raw bytes "
                    "(base64.b64decode(text) for a key written in base64)"
                )
            if not isinstance(key, bytes | bytearray | memoryview) or len(bytes(key)) != 32:
                raise ConfigurationError(
                    f"AesGcmCodec key {key_id!r} must be 32 bytes (AES-256); "
                    "make one with AesGcmCodec.generate_key()"
                )
            self._ciphers[key_id] = aesgcm(bytes(key))
        self._newest = pairs[0][0]
        self.compress = bool(compress)
        self.allow_plaintext = bool(allow_plaintext)

    @classmethod
    def from_environ(
        cls,
        variable: str = KEYS_VARIABLE,
        *,
        compress: bool = False,
        allow_plaintext: bool = False,
    ) -> AesGcmCodec:
        """A codec whose keys are read from an environment variable.

        The variable holds ``ID=BASE64KEY`` pairs separated by commas, newest
        first: ``VRB_CODEC_KEYS="k2=...,k1=..."``. With no arguments, this is the
        factory ``--codec runtime.codec:AesGcmCodec.from_environ`` names.

        Raises:
            ConfigurationError: The variable is unset, or malformed (the message
                never shows key material).
        """
        text = os.environ.get(variable, "").strip()
        if not text:
            raise ConfigurationError(
                f"{variable} is not set; set it to ID=BASE64KEY pairs, newest first "
                f"(e.g. {variable}=\"k1=$(python -c 'import base64, os; "
                "print(base64.b64encode(os.urandom(32)).decode())')\")"
            )
        pairs: list[tuple[str, bytes]] = []
        for number, item in enumerate(text.split(","), start=1):
            key_id, sep, encoded = item.strip().partition("=")
            if not sep:
                raise ConfigurationError(
                    f"{variable}: entry {number} is not ID=BASE64KEY (pairs separated by commas)"
                )
            try:
                key = base64.b64decode(
                    encoded.strip() + "=" * (-len(encoded.strip()) % 4), validate=True
                )
            except (binascii.Error, ValueError):
                raise ConfigurationError(
                    f"{variable}: the key of '{_shown(key_id.strip())}' is not base64"
                ) from None
            pairs.append((key_id.strip(), key))
        return cls(pairs, compress=compress, allow_plaintext=allow_plaintext)

    @staticmethod
    def generate_key() -> bytes:
        """A fresh random 256-bit key (from the operating system's CSPRNG)."""
        return os.urandom(32)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys held, newest (the one that encrypts) first."""
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        # Never the key material: codecs end up in logs and tracebacks.
        return (
            f"AesGcmCodec(keys={list(self._ciphers)!r}, compress={self.compress}, "
            f"allow_plaintext={self.allow_plaintext})"
        )

    async def encode(self, value: Any, context: CodecContext) -> dict[str, Any]:
        """See :meth:`PayloadCodec.encode`."""
        return self.seal(value, context)

    async def decode(self, value: Any, context: CodecContext) -> Any:
        """See :meth:`PayloadCodec.decode`."""
        return self.open(value, context)

    def seal(self, value: Any, context: CodecContext) -> dict[str, Any]:
        """Encrypt ``value`` under the newest key (the synchronous :meth:`encode`)."""
        text = to_json(value)
        body = _RAW + text
        if self.compress and len(text) >= _COMPRESS_FROM:
            packed = zlib.compress(text, 6)
            if len(packed) < len(text):
                body = _ZLIB + packed
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self._newest
        data = self._ciphers[key_id].encrypt(nonce, body, _associated(key_id, context))
        return {
            MARKER: self.SCHEME,
            "key": key_id,
            "nonce": base64.b64encode(nonce).decode(),
            "data": base64.b64encode(data).decode(),
        }

    def open(self, value: Any, context: CodecContext) -> Any:
        """Decrypt an envelope :meth:`seal` made (the synchronous :meth:`decode`).

        Raises:
            MissingKeyError: Its key is not held.
            CorruptValueError: It was altered, moved or is malformed.
            CodecError: It is plaintext and ``allow_plaintext`` is off.
        """
        where = context.describe()
        if not is_encoded(value):
            if self.allow_plaintext:
                return value
            raise CodecError(
                f"{where} is stored unencrypted and this codec refuses plaintext: it was "
                "written without the codec (a client or worker started without it) or by "
                "someone who can write to the database; pass AesGcmCodec(..., "
                "allow_plaintext=True) while runs stored before encryption finish",
                where,
            )
        scheme = value[MARKER]
        if scheme != self.SCHEME:
            raise CorruptValueError(
                f"{where} was encoded by '{_shown(scheme)}', which AesGcmCodec "
                f"({self.SCHEME}) does not read; configure the codec that wrote it",
                where,
            )
        key_id = value.get("key")
        if set(value) != {MARKER, "key", "nonce", "data"} or not isinstance(key_id, str):
            raise CorruptValueError(
                f"{where} is not a well-formed {self.SCHEME} envelope (its members are "
                f"{', '.join(sorted(_shown(str(k)) for k in value))}); it was altered",
                where,
            )
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise MissingKeyError(where, _shown(key_id), self.key_ids)
        try:
            nonce = base64.b64decode(value["nonce"], validate=True)
            data = base64.b64decode(value["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            nonce = data = b""
        if len(nonce) != _NONCE_BYTES or len(data) < _TAG_BYTES + 1:
            raise CorruptValueError(
                f"{where} (encryption key {key_id!r}) has a malformed nonce or ciphertext; it was altered",
                where,
            )
        from cryptography.exceptions import InvalidTag

        try:
            body = cipher.decrypt(nonce, data, _associated(key_id, context))
        except InvalidTag:
            raise CorruptValueError(
                f"{where} (encryption key {key_id!r}) failed authentication: it was altered or "
                "corrupted, moved from another run or field, or key "
                f"{key_id!r} is not the key it was written with; nothing was decoded",
                where,
            ) from None
        flag, text = body[:1], body[1:]
        try:
            if flag == _ZLIB:
                inflater = zlib.decompressobj()
                text = inflater.decompress(text, _MAX_INFLATED)
                if inflater.unconsumed_tail or not inflater.eof:
                    raise ValueError("compressed value is truncated or too large")
            elif flag != _RAW:
                raise ValueError(f"unknown body format {flag!r}")
            return from_json(text)
        except (ValueError, zlib.error) as error:
            # Authenticated, so written by a holder of the key: not by this codec.
            raise CorruptValueError(
                f"{where} (encryption key {key_id!r}) decrypted to something this codec never writes: "
                f"{error}",
                where,
            ) from None


def _associated(key_id: str, context: CodecContext) -> bytes:
    # A JSON array of strings is unambiguous: no two contexts give the same bytes.
    return json.dumps(
        [AesGcmCodec.SCHEME, key_id, context.run_id, context.field, context.key],
        separators=(",", ":"),
    ).encode()


def _aesgcm_class() -> Callable[[bytes], AESGCM]:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ModuleNotFoundError:
        raise ConfigurationError(
            "AesGcmCodec needs the cryptography package: pip install 'vrb-workflows[crypto]'"
        ) from None
    return AESGCM
