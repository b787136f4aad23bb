"""A network guard for the offline tests: Python imports this at start-up when its folder is on PYTHONPATH.

With CODEGEN_NET_GUARD_LOG set, every attempt to reach an internet address is refused and
recorded there as one JSON line: `socket.socket.connect` / `connect_ex` / `sendto` for
AF_INET and AF_INET6, `socket.create_connection`, and `socket.getaddrinfo` for names that
are not the local host. Unix sockets (asyncio's self-pipe, subprocess pipes) are left
alone. At exit the process adds a line with its offline settings as it ran with them: the
environment, and huggingface_hub's constants when it was imported. Lines are appended, so a
server and the training process it starts share one file.
"""

import atexit
import json
import os
import socket
import sys
import traceback

LOG = os.environ.get("CODEGEN_NET_GUARD_LOG")
INET = (socket.AF_INET, socket.AF_INET6)
LOCAL_NAMES = {None, "", "localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")


class NetworkBlocked(ConnectionRefusedError):
    """Raised instead of opening a connection."""


def _write(entry: dict) -> None:
    entry["pid"] = os.getpid()
    line = json.dumps(entry, default=repr) + "\n"
    # One write of one short line to a file opened for appending: lines of several processes do not mix.
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _blocked(call: str, family, address):
    stack = [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in traceback.extract_stack(limit=14)[:-2]]
    _write({"kind": "attempt", "call": call, "family": str(family), "address": address, "stack": stack})
    return NetworkBlocked(f"offline guard: {call} to {address!r} blocked")


def _install() -> None:
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family in INET:
            raise _blocked("connect", self.family, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if self.family in INET:
            raise _blocked("connect_ex", self.family, address)
        return connect_ex(self, address)

    def guarded_sendto(self, data, *args):
        if self.family in INET:  # UDP needs no connect: telemetry could go this way
            raise _blocked("sendto", self.family, args[-1] if args else None)
        return sendto(self, data, *args)

    def guarded_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOCAL_NAMES:
            raise _blocked("getaddrinfo", None, name)
        return getaddrinfo(host, *args, **kwargs)

    def guarded_create_connection(address, *args, **kwargs):
        raise _blocked("create_connection", None, address)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = (
        guarded_connect, guarded_connect_ex, guarded_sendto)
    socket.getaddrinfo = guarded_getaddrinfo
    socket.create_connection = guarded_create_connection


def _report_settings() -> None:
    entry = {"kind": "settings", "argv": sys.argv[:2], "env": {name: os.environ.get(name) for name in OFFLINE_VARS}}
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        entry["hub_offline"] = constants.HF_HUB_OFFLINE
        entry["hub_telemetry_disabled"] = constants.HF_HUB_DISABLE_TELEMETRY
    _write(entry)


if LOG:
    _install()
    atexit.register(_report_settings)
