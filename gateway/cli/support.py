"""What makes the command line pleasant: help with defaults, one-line errors.

A person at a terminal should never see a Python traceback for something that
is not a bug: a closed pipe (`check-config | head`), Ctrl-C, or a port that
another program already uses each end in one plain line and a known exit code.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable
from typing import Any

# Exit codes: 2 for a usage or configuration problem (as argparse), 130 for Ctrl-C
# (128 + SIGINT, what shells report), 141 for a closed pipe (128 + SIGPIPE).
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class DefaultsFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help, unless there is no real default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.default in (None, False, argparse.SUPPRESS) or "default" in text
                or not action.option_strings):
            return text
        default = action.default
        if isinstance(default, list | tuple):
            default = " ".join(str(d) for d in default)
        return f"{text} (default: {default})"


class HelpfulParser(argparse.ArgumentParser):
    """Every (sub)command shows each option's default in `--help`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)


def run_quietly(command: Callable[[], int]) -> int:
    """Run one command; a closed pipe or Ctrl-C is an exit code, not a traceback."""
    try:
        result = command()
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("\nprivacy-gateway: stopped (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """Python flushes stdout once more at exit; into a closed pipe that prints an error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def port_problem(exc: OSError, host: str, port: int) -> str | None:
    """One line for a port the gateway cannot listen on, or None for other errors."""
    if exc.errno == errno.EADDRINUSE:
        return (f"privacy-gateway: port {port} on {host} is already in use; stop the program "
                f"that uses it or choose another port with --port (for example --port "
                f"{port + 1})")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (f"privacy-gateway: no permission to listen on port {port}; ports below 1024 "
                "need privileges: choose --port 1024 or higher")
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return (f"privacy-gateway: {host} is not an address of this machine; use --host "
                "127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)")
    return None
