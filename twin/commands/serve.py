"""``twin demo`` and ``twin serve SCENE``: the browser application.

Both accept trame's own flags, which are passed through to trame's parser: ``--server`` (do
not open a browser), ``--port`` (8080), ``--host`` (127.0.0.1), ``--authKeyFile``,
``--timeout`` (seconds the server waits after the last client left; 0 never stops, the
default of ``--kiosk``). A host other than loopback needs ``--authKeyFile``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import ipaddress
import itertools
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.errors import ConfigError

log = logging.getLogger(__name__)

TRAME_FLAGS = "--server, --port N (8080), --host H (127.0.0.1), --authKeyFile F, --timeout S"
DEFAULT_HOST = "127.0.0.1"

_servers = itertools.count()


def register(subparsers: Any) -> None:
    """Add the ``demo`` and ``serve`` subcommands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``twin`` command's subparsers.
    """
    epilog = f"trame's flags are accepted too: {TRAME_FLAGS}."
    demo = subparsers.add_parser(
        "demo",
        help="serve the synthetic demo city with simulated sensors",
        description="Serve the built-in demo: a generated Ludwigshafen with simulated sensors "
        "(no broker or data needed) at http://127.0.0.1:8080.",
        epilog=epilog,
    )
    demo.add_argument(
        "--buildings",
        type=_positive,
        default=20000,
        help="number of generated buildings (default 20000)",
    )
    demo.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    demo.add_argument(
        "--speedup", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    demo.add_argument(
        "--no-cache", action="store_true", help="generate the city even when a cached copy exists"
    )
    _common(demo)
    demo.set_defaults(func=run_demo, accepts_extra=True)

    serve = subparsers.add_parser(
        "serve",
        help="serve a scene file (city, sensor feeds, styles, camera tour)",
        description="Serve the twin described by a scene file (see scenes/*.toml).",
        epilog=epilog,
    )
    serve.add_argument("scene", type=Path, help="scene file (TOML)")
    _common(serve)
    serve.set_defaults(func=run_serve, accepts_extra=True)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kiosk", action="store_true", help="full screen, no controls, automatic camera tour"
    )
    p.add_argument(
        "--local-rendering",
        action="store_true",
        help="render in the browser with vtk.js instead of on the server",
    )
    p.add_argument("--lang", choices=("de", "en"), help="start language (default: the scene's)")
    p.add_argument("--tour-seconds", type=float, help="seconds per tour stop (kiosk)")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def run_demo(args: argparse.Namespace) -> int:
    """Run ``twin demo``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``extra`` holds trame's flags).

    Returns
    -------
    int
        Exit code.
    """
    options = trame_options(args.extra, kiosk=args.kiosk)
    from twin.scene.config import SceneConfig

    cfg = SceneConfig.demo(buildings=args.buildings, seed=args.seed, speedup=args.speedup)

    def build() -> Any:
        from twin.scene.services import start_services_async
        from twin.scene.twin import Twin

        # the database opens on a thread while the city is read from the cache
        services = start_services_async(cfg, start_feeds=False)
        try:
            from twin.app.cache import demo_city

            city, mesh = demo_city(
                buildings=args.buildings, seed=args.seed, use_cache=not args.no_cache
            )
        except BaseException:
            with contextlib.suppress(Exception):
                services.result().close()
            raise
        return Twin.from_config(cfg, start_feeds=False, city=city, mesh=mesh, services=services)

    return _serve(cfg, args, options, build)


def run_serve(args: argparse.Namespace) -> int:
    """Run ``twin serve SCENE``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``extra`` holds trame's flags).

    Returns
    -------
    int
        Exit code.
    """
    options = trame_options(args.extra, kiosk=args.kiosk)
    from twin.scene.config import load_scene

    cfg = load_scene(args.scene)

    def build() -> Any:
        from twin.scene.twin import Twin

        return Twin.from_config(cfg, start_feeds=False)

    return _serve(cfg, args, options, build)


def trame_options(extra: list[str], *, kiosk: bool = False) -> list[str]:
    """Check trame's flags and return them with twin's safe defaults filled in.

    Parameters
    ----------
    extra : list of str
        The flags ``twin`` did not know (trame's).
    kiosk : bool
        Kiosk mode: the server never stops by itself unless ``--timeout`` is given.

    Returns
    -------
    list of str
        Arguments for trame's parser: ``--host 127.0.0.1`` unless a host was given.

    Raises
    ------
    ConfigError
        For unknown flags, a missing ``--authKeyFile``, or a non-loopback ``--host``
        without an auth key file.
    """
    parser = _trame_parser()
    known, unknown = parser.parse_known_args(extra)
    if unknown:
        raise ConfigError(
            f"unrecognized arguments: {' '.join(unknown)} (trame's flags: {TRAME_FLAGS})"
        )
    given = {a.split("=", 1)[0] for a in extra if a.startswith("-")}
    out = list(extra)
    if not given & {"--host", "-i"}:
        out += ["--host", DEFAULT_HOST]
        host = DEFAULT_HOST
    else:
        host = known.host
    if known.authKeyFile and not Path(known.authKeyFile).is_file():
        raise ConfigError(f"--authKeyFile {known.authKeyFile}: no such file")
    if not is_loopback(host) and not known.authKeyFile:
        raise ConfigError(
            f"--host {host} would expose the twin beyond this machine without protection; "
            "give --authKeyFile FILE (a secret the browser sends as ?secret=) or use 127.0.0.1"
        )
    if kiosk and "--timeout" not in given:
        out += ["--timeout", "0"]
    return out


def _trame_parser() -> argparse.ArgumentParser:
    from trame_server.core import Server

    return Server("twin-cli-check").cli


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost).

    Parameters
    ----------
    host : str
        A host name or address.

    Returns
    -------
    bool
        True for loopback addresses and names resolving only to them.
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_port(host: str, port: int) -> None:
    """Make sure the server will be able to listen on ``host:port``.

    Checked before anything is built, so that a port taken by another server is one line
    naming it, not a traceback from the web server seconds later.

    Parameters
    ----------
    host : str
        The address to listen on.
    port : int
        The TCP port (0: any free one, not checked).

    Raises
    ------
    ConfigError
        When the port is in use or the address is not one of this machine.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as err:
        raise ConfigError(f"--host {host}: {err.strerror or err}") from err
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # the web server reuses addresses too: a port in TIME_WAIT is free for it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use (another twin serve?); "
                    "choose another one with --port N"
                ) from err
            raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


def _serve(cfg: Any, args: argparse.Namespace, options: list[str], build: Callable[[], Any]) -> int:
    """Serve the page at once and the scene that ``build`` makes (on a thread) behind it.

    See :mod:`twin.app.boot`: the browser loads trame's scripts while the heavy libraries
    are imported and the City is loaded; a failure in ``build`` stops the server and is
    raised here (one line, exit code 2 from the CLI).
    """
    from trame.app import get_server

    from twin.app.boot import Boot, enable_page_modules, loading_page
    from twin.scene.i18n import DEFAULT_LANGUAGE, LANGUAGES, t

    if args.verbose < 2:
        for name in ("trame_server", "trame_client", "wslink", "aiohttp", "trame_vtk"):
            logging.getLogger(name).setLevel(logging.WARNING)
    lang = args.lang or cfg.language or DEFAULT_LANGUAGE
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    known, _ = _trame_parser().parse_known_args(options)
    check_port(known.host, int(known.port))
    server = get_server(f"twin-serve-{next(_servers)}", client_type="vue3")  # a new one
    enable_page_modules(server)
    loading_page(server, title=cfg.title_in(lang), message=t("app.loading", lang), lang=lang)

    def attach(twin: Any) -> Any:
        from twin.app.app import TwinApp  # imported by build(), on the worker thread

        return TwinApp(
            twin,
            server=server,
            kiosk=args.kiosk,
            local_rendering=args.local_rendering,
            lang=args.lang,
            tour_seconds=args.tour_seconds,
        )

    def build_all() -> Any:
        scene = build()
        try:  # the app's heavy imports (pyvista's plotting, matplotlib) off the server's thread
            importlib.import_module("twin.app.app")
            importlib.import_module("pyvista.plotting")
        except BaseException:
            scene.close()
            raise
        return scene

    # Feeds (simulator, MQTT) start once the first frame is shown (twin.app.startup).
    boot = Boot(server, build_all, attach)
    sys.argv = [sys.argv[0], *options]  # trame parses sys.argv itself
    try:
        boot.run()
    finally:
        if boot.app is not None:
            boot.app.close()
    return 0
