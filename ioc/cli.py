"""`ioc` — one codebase, several entry points.

  ioc demo       everything in one process on the embedded database, with the simulator
  ioc api        the API + WebSocket process (add --with-alerts to also run the alert engine)
  ioc alerts     the alert engine alone
  ioc migrate    apply migrations and load the locality catalogue, then exit
  ioc simulate   send a simulated dossier stream to a running API
  ioc source     register a data source (streams, localities) and print its API key
  ioc user       create or list accounts (admin, leader, operator, subscriber)
  ioc display    create a wall-display token (read-only, bound to a scope)
  ioc import     import a department's CSV/XLSX report (payout, id_issuance): all rows or none
  ioc connectors poll the configured sources' REST APIs ("changed since" cursors)

With IOC_DATABASE_URL unset, every command starts (or shares) the embedded PostgreSQL cluster
under IOC_DATA_DIR and stops it on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import uvicorn

from ioc.auth import bootstrap
from ioc.auth.accounts import AccountError
from ioc.auth.bootstrap import ensure_demo_admin
from ioc.auth.policy import Role
from ioc.auth.scope import Scope, ScopeError
from ioc.db.embedded import EmbeddedPostgres
from ioc.db.localities import sync_localities
from ioc.db.migrate import apply_migrations
from ioc.localities.catalogue import load_catalogue
from ioc.settings import Settings
from ioc.sources import STREAMS, register_source

log = logging.getLogger("ioc")
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.data_dir / "pgdata", timescale=settings.embedded_timescale) as pg:
        yield pg.url


def prepare_database(url: str) -> None:
    applied = apply_migrations(url)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    loaded = sync_localities(url, load_catalogue())
    if loaded:
        log.info("loaded %d localities", loaded)


def _uvicorn_server(settings: Settings, url: str, *, run_alerts: bool) -> uvicorn.Server:
    from ioc.app import create_app

    app = create_app(settings, url, run_alerts=run_alerts)
    # permessage-deflate costs ~4x memory per connection for little gain on small JSON deltas.
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="info", ws_per_message_deflate=False,
        lifespan="on",
    )  # fmt: skip
    return uvicorn.Server(config)


async def _serve_with(server: uvicorn.Server, *extra: asyncio.Task[None]) -> None:
    try:
        await server.serve()
    finally:
        for task in extra:
            task.cancel()
        for task in extra:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from ingest.simulator.id_issuance import IdIssuanceSimulator, demo_settings, put_targets
    from ingest.simulator.payout import PayoutSimulatorSettings
    from ingest.simulator.runner import run_simulator

    with database(settings) as url:
        prepare_database(url)
        key = register_source(url, "simulator", "Bộ mô phỏng (simulator)", streams=frozenset(STREAMS))
        admin = ensure_demo_admin(url, settings.data_dir)
        id_settings = demo_settings(datetime.now(VN_TZ).date())
        targets_token = bootstrap.access_token_for(url, admin[0] if admin else bootstrap.DEMO_ADMIN, minutes=10)
        server = _uvicorn_server(settings, url, run_alerts=True)
        base = f"http://{settings.host}:{settings.port}"
        sign_in = (
            f"  Đăng nhập / sign in: {admin[0]} / {admin[1]}"
            f"  (lưu tại / kept in {settings.data_dir}/admin-password.txt)\n"
            if admin else "  Đăng nhập bằng tài khoản đã tạo / sign in with an account you created (ioc user create)\n"
        )  # fmt: skip

        async def main() -> None:
            async def simulate() -> None:
                while not server.started:
                    await asyncio.sleep(0.1)
                print(f"\n  IOC đang chạy / IOC is running: {base}/\n{sign_in}", flush=True)
                # The simulated ID-issuance targets are set through the API, as a leader would.
                headers = {"Authorization": f"Bearer {targets_token}"}
                try:
                    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
                        await put_targets(client, IdIssuanceSimulator(id_settings).default_targets())
                except httpx.HTTPError as exc:  # e.g. stopped during start-up: the demo goes on without
                    log.warning("could not set the simulated ID-issuance targets: %s", exc)
                await run_simulator(
                    base,
                    key,
                    rate_per_second=settings.simulate_rate,
                    time_scale=settings.simulate_time_scale,
                    backfill=timedelta(hours=settings.simulate_backfill_hours),
                    volume_scale=settings.simulate_volume_scale,
                    full_volume_live=settings.simulate_full_volume_live,
                    payout=PayoutSimulatorSettings(time_scale=settings.simulate_time_scale),
                    id_issuance=id_settings,
                )

            await _serve_with(server, asyncio.create_task(simulate()))

        asyncio.run(main())


def cmd_api(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings) as url:
        prepare_database(url)
        if args.workers > 1:
            if args.with_alerts:
                raise SystemExit("--with-alerts runs in a single process; start `ioc alerts` beside the workers")
            # Worker processes each keep their own LISTEN connection and hub: no broker needed.
            os.environ["IOC_DATABASE_URL"] = url
            uvicorn.run(
                "ioc.app:app_from_environment", factory=True, workers=args.workers, host=settings.host,
                port=settings.port, ws_per_message_deflate=False, log_level="info",
            )  # fmt: skip
            return
        asyncio.run(_serve_with(_uvicorn_server(settings, url, run_alerts=args.with_alerts)))


def cmd_alerts(settings: Settings, args: argparse.Namespace) -> None:
    import prometheus_client

    from alerts.service import AlertService
    from ingest.reference import CalendarStore
    from ioc.db.pool import make_pool
    from ioc.loop_lag import LoopLagMonitor
    from ioc.metrics import Metrics

    with database(settings) as url:
        prepare_database(url)

        async def main() -> None:
            pool = make_pool(settings, url)
            await pool.open(wait=True, timeout=30)
            calendars = CalendarStore()
            async with pool.connection() as conn:
                await calendars.refresh_if_stale(conn)
            metrics = Metrics()
            if args.metrics_port:
                # Loopback only: the figures of this process (rounds, failures, deliveries, loop lag).
                prometheus_client.start_http_server(args.metrics_port, addr="127.0.0.1", registry=metrics.registry)
            service = AlertService(pool, url, settings, calendars.calendar_for(""), metrics)
            await service.start()
            lag = LoopLagMonitor(metrics.event_loop_lag.labels("alerts"))
            lag.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info(
                "alert service running; rules evaluated on new data and every %.0f s", settings.alert_interval_seconds
            )
            await stop.wait()
            await lag.stop()
            await service.stop()
            await pool.close()

        asyncio.run(main())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings) as url:
        prepare_database(url)
    print("database is up to date")


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    from ingest.simulator.runner import run_simulator

    asyncio.run(run_simulator(
        args.url, args.key, rate_per_second=args.rate, duration=args.duration, time_scale=args.time_scale,
        backfill=timedelta(hours=args.backfill_hours), volume_scale=args.volume_scale,
        full_volume_live=args.full_volume_live,
    ))  # fmt: skip


def scope_from_args(args: argparse.Namespace) -> Scope:
    """--national, or --province / --commune (repeatable), optionally narrowed by --agency / --sector."""
    try:
        return Scope.from_dict({
            "national": args.national, "provinces": args.province or [], "communes": args.commune or [],
            "agencies": args.agency or None, "sectors": args.sector or None,
        })  # fmt: skip
    except ScopeError as exc:
        raise SystemExit(f"scope: {exc}") from exc


def _add_scope_arguments(parser: argparse.ArgumentParser, *, narrowing: bool = True) -> None:
    parser.add_argument("--national", action="store_true", help="every province and commune")
    parser.add_argument("--province", action="append", metavar="CODE", help="a province code (repeatable)")
    parser.add_argument("--commune", action="append", metavar="CODE", help="a commune code (repeatable)")
    if narrowing:
        parser.add_argument("--agency", action="append", metavar="CODE", help="only this agency (repeatable)")
        parser.add_argument("--sector", action="append", metavar="NAME", help="only this sector (repeatable)")


def cmd_source(settings: Settings, args: argparse.Namespace) -> None:
    args.agency = args.sector = None
    scope = scope_from_args(args) if (args.province or args.commune) else Scope.everything()
    with database(settings) as url:
        prepare_database(url)
        streams = frozenset(args.stream or ["dossier"])
        key = register_source(url, args.id, args.name or args.id, args.key, streams=streams, scope=scope)
    print(key)


def cmd_user(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings) as url:
        prepare_database(url)
        if args.action == "list":
            for user in bootstrap.list_users(url):
                state = "disabled" if user.disabled_at else "active"
                print(f"{user.id}\t{user.username}\t{user.role.value}\t{state}\t{user.scope.key}")
            return
        if not args.username or not args.role:
            raise SystemExit("ioc user create USERNAME --role ROLE [scope options]")
        scope = scope_from_args(args)
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else bootstrap.new_password()
        try:
            bootstrap.create_user(url, args.username.lower(), args.name or args.username, Role(args.role), scope,
                                  password)  # fmt: skip
        except AccountError as exc:
            raise SystemExit(str(exc)) from exc
        if not args.password_stdin:
            print(f"mật khẩu / password: {password}")


def cmd_display(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings) as url:
        prepare_database(url)
        token = bootstrap.create_display(url, args.screen_name, scope_from_args(args))
    print(token)


def cmd_import(settings: Settings, args: argparse.Namespace) -> None:
    """Import a department's CSV/XLSX report: every row or none; exit 1 when the file is rejected."""
    import json
    from pathlib import Path

    from ingest.fileimport.console import ConsoleError, describe, import_from_console

    with database(settings) as url:
        prepare_database(url)
        try:
            report = import_from_console(
                url, args.stream, Path(args.file), source_id=args.source,
                mapping_path=Path(args.mapping) if args.mapping else None,
                future_tolerance_seconds=settings.future_tolerance_seconds,
            )  # fmt: skip
        except (ConsoleError, OSError) as exc:
            raise SystemExit(str(exc)) from exc
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.json else describe(report))
    if report.outcome == "rejected":
        raise SystemExit(1)


def cmd_connectors(settings: Settings, args: argparse.Namespace) -> None:
    """Run the polling connectors (configured through /api/v1/admin/connectors)."""
    from ingest.connector.runner import run_process

    with database(settings) as url:
        prepare_database(url)
        results = run_process(url, once=args.once, connector_id=args.connector,
                              future_tolerance_seconds=settings.future_tolerance_seconds)  # fmt: skip
    if args.once and any(r.error for r in results):
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ioc", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="whole product + simulator on the embedded database").set_defaults(fn=cmd_demo)
    api = sub.add_parser("api", help="API and WebSocket process")
    api.add_argument("--with-alerts", action="store_true", help="also run the alert engine in this process")
    api.add_argument("--workers", type=int, default=1, help="API worker processes (one per core)")
    api.set_defaults(fn=cmd_api)
    alerts = sub.add_parser("alerts", help="alert engine process")
    alerts.add_argument("--metrics-port", type=int, default=None,
                        help="serve this process's Prometheus metrics on 127.0.0.1:PORT")  # fmt: skip
    alerts.set_defaults(fn=cmd_alerts)
    sub.add_parser("migrate", help="apply migrations, load localities").set_defaults(fn=cmd_migrate)
    sim = sub.add_parser("simulate", help="send a simulated dossier stream to an API")
    sim.add_argument("--url", default="http://127.0.0.1:8000")
    sim.add_argument("--key", required=True, help="the source's API key")
    sim.add_argument("--rate", type=float, default=50.0, help="events per second")
    sim.add_argument("--time-scale", type=float, default=3600.0, help="simulated seconds per real second")
    sim.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    sim.add_argument("--backfill-hours", type=float, default=168.0,
                     help="how much of the past to replay at --time-scale before running live")
    sim.add_argument("--volume-scale", type=float, default=1.0, help="intake as a multiple of the national volume")
    sim.add_argument("--full-volume-live", action="store_true",
                     help="once caught up, send the full volume instead of the replay's sample")  # fmt: skip
    sim.set_defaults(fn=cmd_simulate)
    src = sub.add_parser("source", help="register a data source (or rotate its key) and print the key")
    src.add_argument("id")
    src.add_argument("--name")
    src.add_argument("--key", help="use this key instead of a random one")
    src.add_argument("--stream", action="append", choices=list(STREAMS), help="streams it may write (default: dossier)")
    _add_scope_arguments(src, narrowing=False)
    src.set_defaults(fn=cmd_source)
    usr = sub.add_parser("user", help="create or list accounts")
    usr.add_argument("action", choices=["create", "list"])
    usr.add_argument("username", nargs="?")
    usr.add_argument("--role", choices=["admin", "leader", "operator", "subscriber"])
    usr.add_argument("--name", help="display name")
    usr.add_argument("--password-stdin", action="store_true", help="read the password from stdin (else one is made)")
    _add_scope_arguments(usr)
    usr.set_defaults(fn=cmd_user)
    dsp = sub.add_parser("display", help="create a wall-display token and print it")
    dsp.add_argument("screen_name")
    _add_scope_arguments(dsp)
    dsp.set_defaults(fn=cmd_display)
    imp = sub.add_parser("import", help="import a CSV/XLSX report file into a stream (all rows or none)")
    imp.add_argument("stream", choices=["payout", "id_issuance"])
    imp.add_argument("file", help="the .csv or .xlsx file")
    imp.add_argument("--source", metavar="ID", help="write as this registered source (default: file-import)")
    imp.add_argument("--mapping", metavar="FILE", help="column mapping overrides (JSON or YAML)")
    imp.add_argument("--json", action="store_true", help="print the whole report as JSON")
    imp.set_defaults(fn=cmd_import)
    con = sub.add_parser("connectors", help="run the polling connectors to sources' REST APIs")
    con.add_argument("--once", action="store_true", help="bring every enabled connector up to date, then exit")
    con.add_argument("--connector", metavar="ID", help="only this connector")
    con.set_defaults(fn=cmd_connectors)
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SIGTERM (docker stop, systemd, timeout) must unwind like Ctrl-C so that the embedded cluster
    # is stopped: uvicorn re-raises the signal after its own shutdown, and the default action
    # would end the process before the `with database(...)` block could stop PostgreSQL.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    settings = Settings()
    started = datetime.now(UTC)
    with contextlib.suppress(KeyboardInterrupt):
        args.fn(settings, args)
    log.debug("ran %s for %s", args.command, datetime.now(UTC) - started)


if __name__ == "__main__":
    main()
    sys.exit(0)
