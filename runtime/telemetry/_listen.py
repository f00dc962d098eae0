"""A listening TCP socket for the health endpoint, or one line saying why there is none.

Bound here rather than by the HTTP server, so that a port in use, a host that
is not this machine's or a privileged port is a :class:`ConfigurationError`
the worker reports in one line, before it claims anything (uvicorn itself
logs the error and exits the process).
"""

from __future__ import annotations

import errno
import socket

from ..errors import ConfigurationError

__all__ = ["check_port", "listen"]


def check_port(port: object) -> int:
    """``port`` as a TCP port number (0 picks a free one).

    Raises:
        ConfigurationError: It is not an int from 0 to 65535.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(
            f"health port must be an int from 0 to 65535 (0: any free port), got {port!r}"
        )
    return port


def listen(host: str, port: int, *, backlog: int = 64) -> socket.socket:
    """A non-blocking socket listening on ``host:port``.

    Raises:
        ConfigurationError: The address is in use, not this machine's, or not allowed.
    """
    check_port(port)
    if not isinstance(host, str) or not host.strip():
        raise ConfigurationError(f"health host must be a host name or address, got {host!r}")
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
        raise ConfigurationError(
            f"health host {host!r} does not resolve ({reason}); use 127.0.0.1, 0.0.0.0 "
            "or an address of this machine"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # A port whose last connections linger in TIME_WAIT is reused at once;
        # one that another socket listens on is still refused.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        raise ConfigurationError(_bind_message(error, host, port, where)) from None
    return sock


def _bind_message(error: OSError, host: str, port: int, where: str) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"health port {port} on {host} is already in use; pick another port "
            "(--health-port) or stop the process listening on it"
        )
    if error.errno == errno.EACCES:
        return (
            f"not allowed to listen on {where} for the health endpoint (ports below 1024 "
            "need privileges); pick a port above 1023"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"health host {host!r} is not an address of this machine; use 127.0.0.1, "
            "0.0.0.0 or one of its interfaces' addresses"
        )
    return f"cannot listen on {where} for the health endpoint: {error.strerror or error}"
