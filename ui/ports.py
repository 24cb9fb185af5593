"""Whether a port is free: for `ui.launch` (the next free port when 8501 is taken) and `ui.replicas`."""

from __future__ import annotations

import socket


def port_is_free(address: str, port: int) -> bool:
    """True when nothing listens on `address:port` (binding it briefly, as the server would)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True
