"""`privacy-gateway`: parse the command line, load the policy, run one command.

Each feature module adds its own sub-commands through an `add_commands(subparsers)`
function listed in `_COMMAND_MODULES`; each platform adapter through its own
(gateway.adapter.Adapter.add_commands). The entry point (privacy_gateway) names
the adapters; commands find them as `args.adapters`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.adapter import Adapter
from gateway.cli.support import EXIT_CONFIG, HelpfulParser, port_problem, run_quietly
from gateway.config.loading import Settings, load_settings
from gateway.policy.model import ConfigError
from gateway.policy.notice import recording_rules

_COMMAND_MODULES: tuple[str, ...] = ("gateway.cli.retention", "gateway.cli.init")

DEFAULT_CONFIG = "config/example.toml"


def load_or_exit(path: str) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"privacy-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.config)
    if args.workers <= 1:
        return _run(settings, args)
    from gateway.web.workers import Supervisor

    if not settings.secrets.has("store.redis_url"):  # workers share state through Redis only
        print("privacy-gateway: --workers needs store.redis_url (the embedded store is per "
              "process)", file=sys.stderr)
        return 2
    return Supervisor(args.workers, lambda: _run(settings, args)).run()


def _run(settings: Settings, args: argparse.Namespace,
         build: Callable[[], web.Application] | None = None,
         socks: list[socket.socket] | None = None) -> int:
    from gateway import logs
    from gateway.web import serving
    from gateway.web.app import create_app

    if socks is None:
        socks = _listen(args)
        if socks is None:
            return EXIT_CONFIG
    logs.configure(args.log_level)
    if settings.policy.gateway.development:
        print("privacy-gateway: DEVELOPMENT MODE — cookies without Secure, not for production",
              file=sys.stderr)
    # Adapters warn about their own risky settings (sha1).
    app = build() if build is not None else create_app(settings, adapters=args.adapters)
    # The app sets its own request-line limit (create_app: Jitsi's 4096-character state and
    # long BBB creates need more than aiohttp's default 8190 bytes).
    serving.run(app, host=args.host, port=args.port, socks=socks,
                print_line=lambda line: print(line, file=sys.stderr))
    return 0


def _listen(args: argparse.Namespace) -> list[socket.socket] | None:
    """The gateway's port, bound before anything is printed: a busy port is one line."""
    from gateway.web import serving

    try:  # workers share the port
        return serving.listen(args.host, args.port,
                              reuse_port=getattr(args, "workers", 1) > 1)
    except OSError as exc:
        problem = port_problem(exc, args.host, args.port)
        if problem is None:
            raise
        print(problem, file=sys.stderr)
        return None


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo.app import build_demo
    from gateway.web.keys import SETTINGS

    config = Path(args.config)
    if not config.exists():
        print(f"privacy-gateway: {config} not found; run from the project folder",
              file=sys.stderr)
        return 2
    socks = _listen(args)
    if socks is None:
        return EXIT_CONFIG
    try:  # every URL of the demo policy follows --host and --port (or --public-url)
        app = build_demo(config, args.host, args.port, args.adapters, public=args.public_url)
    except BaseException as exc:
        for sock in socks:
            sock.close()
        if isinstance(exc, ConfigError):
            print(f"privacy-gateway: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError):  # no free port for the stand-ins on that host
            print(f"privacy-gateway: the demo cannot listen on {args.host}: {exc.strerror}",
                  file=sys.stderr)
            return EXIT_CONFIG
        raise
    settings = app[SETTINGS]
    url = settings.policy.gateway.public_url
    print(f"privacy-gateway demo: open {url}/ and log in with a sample account; create a "
          f"BigBlueButton lesson at {url}/demo/lms.\n"
          "The development identity provider and the BigBlueButton stand-in are NOT FOR "
          "PRODUCTION. Jitsi's pages are on, but no Jitsi server is attached.", file=sys.stderr)
    hint = reach_hint(args.host, args.port, args.public_url)
    if hint:
        print(hint, file=sys.stderr)
    return _run(settings, args, build=lambda: app, socks=socks)


def reach_hint(host: str, port: int, public: str | None) -> str | None:
    """Listening on every interface, links naming localhost: say how a phone gets in."""
    from gateway.demo.policy import wildcard

    if public or not wildcard(host):
        return None
    return ("privacy-gateway demo: every link names localhost, so only this machine can "
            "follow them; to try the demo from a phone or another computer, add "
            f"--public-url http://ADDRESS-OF-THIS-MACHINE:{port}")


def _print_table(name: str, body: dict[str, Any]) -> None:
    scalars = {k: v for k, v in body.items() if not isinstance(v, dict) and not _table_list(v)}
    if scalars or not body:
        print(f"\n[{name}]")
        for key, value in scalars.items():
            print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    for key, value in body.items():
        if isinstance(value, dict):
            _print_table(f"{name}.{key}", value)
        elif _table_list(value):
            for item in value:
                print(f"\n[[{name}.{key}]]")
                for k, v in item.items():
                    print(f"{k} = {json.dumps(v, ensure_ascii=False)}")


def _table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _check_config(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.file)
    print(f"# {settings.source}: valid. Effective policy, defaults included "
          "(secrets are not shown, only where they come from):")
    dumped = settings.policy.model_dump(mode="json")
    for mtype in dumped["meeting_types"].values():
        if mtype["default_purpose"] is None:
            mtype["default_purpose"] = "none"  # how the file says it: TOML has no null
    for section, body in dumped.items():
        _print_table(section, body)
    print("\n# What a recording needs, per meeting type (G11), as the guard enforces it:")
    for rule in recording_rules(settings.policy, "en"):
        print(f"#   {rule}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from gateway.policy.report import render_report

    settings = load_or_exit(args.config)
    print(render_report(settings.policy, args.lang), end="")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: choose one from 1 to "
                                         "65535, for example 8080")
    return port


def _public_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
            or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an address such as http://192.168.1.20:8080 (http or https, "
            "a host name, an optional port, no path)")
    try:
        parts.port  # noqa: B018 (checks the port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} has a port outside 1 to 65535") from None
    return text.rstrip("/")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help="the policy file (secret paths in it are relative to it)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=_port, default=8080, help="port to listen on (1-65535)")
    p.add_argument("--log-level", default="INFO",
                   choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="least severe log level")


def build_parser(adapters: Sequence[Adapter]) -> argparse.ArgumentParser:
    parser = HelpfulParser(prog="privacy-gateway",
                           description="Meeting privacy gateway for schools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func, helptext in (("serve", _serve, "run the gateway"),
                                 ("demo", _demo, "try everything on this machine with the "
                                                 "development IdP (not for production)")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        _add_run_options(p)
        if name == "demo":
            p.add_argument("--public-url", type=_public_url, default=None, metavar="URL",
                           help="the address other devices reach the demo at, for example "
                                "http://192.168.1.20:8080 with --host 0.0.0.0; every link "
                                "uses it (default: localhost, this machine only)")
        if name == "serve":
            p.add_argument("--workers", type=int, default=1, choices=range(1, 65),
                           metavar="N",
                           help="processes sharing the port; more than 1 needs Redis "
                                "(default: 1)")
        p.set_defaults(func=func)
    text = "validate a policy file and print it, defaults included"
    p = sub.add_parser("check-config", help=text, description=text)
    p.add_argument("file", help="the policy file")
    p.set_defaults(func=_check_config)
    text = "print the processing description for a DPIA (G22)"
    p = sub.add_parser("report", help=text, description=text)
    p.add_argument("--config", default=DEFAULT_CONFIG, help="the policy file")
    p.add_argument("--lang", choices=("nl", "en"), default=None,
                   help="language (default: the policy's gateway.default_language)")
    p.set_defaults(func=_report)
    for module in _COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    for adapter in adapters:
        adapter.add_commands(sub)
    parser.set_defaults(adapters=tuple(adapters))
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command's `--help` opens with what it does: its one-line help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                if child.description is None and helps.get(name):
                    child.description = helps[name]
                _describe(child)


def main(argv: Sequence[str] | None = None, *, adapters: Sequence[Adapter]) -> int:
    args = build_parser(adapters).parse_args(argv)
    return run_quietly(lambda: int(args.func(args)))
