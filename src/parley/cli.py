"""`parley serve | migrate | create-admin`."""

from __future__ import annotations

import argparse
import gc
import getpass
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec

# Nothing heavy at module level: `parley serve --workers N` starts each worker process by importing this
# module (multiprocessing's spawn re-runs the `parley` script) before the worker can answer its supervisor's
# health ping, so the commands import what they need when they run (README, "Several processes").
if TYPE_CHECKING:
    from fastapi import FastAPI

    from parley.config import Settings
    from parley.db import EmbeddedPostgres
    from parley.kit.shutdown_deadline import ShutdownDeadline

P = ParamSpec("P")


def _fail(message: str) -> int:
    print(f"parley: error: {message}", file=sys.stderr)
    return 1


def _prepare_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """Start the embedded server when no DATABASE_URL is set, check the server, migrate it."""
    import asyncio

    from parley.db import create_engine, start_embedded_postgres, verify_database
    from parley.migrations.runner import upgrade_to_head

    embedded = None if settings.database_url else start_embedded_postgres(settings.resolved_data_dir)
    url = settings.database_url or (embedded.url if embedded else "")

    async def check_and_migrate() -> None:
        await verify_database(url)
        engine = create_engine(url, settings)
        try:
            await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check_and_migrate())
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return url, embedded


def _settings(args: argparse.Namespace) -> Settings:
    from parley.config import Settings

    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "worker_healthcheck_timeout", None) is not None:
        overrides["worker_healthcheck_timeout_seconds"] = args.worker_healthcheck_timeout
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if getattr(args, "tls_cert", None) and getattr(args, "tls_key", None):
        tls = {"cert_file": Path(args.tls_cert), "key_file": Path(args.tls_key)}
        settings = settings.model_copy(update={"tls": settings.tls.model_copy(update=tls)})
    return settings


# The youngest generation is collected after this many new container objects (CPython's default: 700). A
# streaming server allocates a few per token of every stream and frees nearly all of them at once by reference
# counting: at the default it would run hundreds of collections a second, each with its fixed cost.
_GC_YOUNG_THRESHOLD = 10_000


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from parley.app import create_app
    from parley.db import StartupError
    from parley.kit.http1 import Http1Protocol
    from parley.kit.logs import configure_logging
    from parley.kit.tls import TLSConfig
    from parley.policy.plans import load_plan_file

    settings = _settings(args)
    configure_logging(level=settings.log_level, json=settings.log_json)
    workers: int = args.workers
    if workers < 1:
        return _fail("--workers must be at least 1")
    if workers > 1 and settings.redis_url is None:
        return _fail(
            "--workers above 1 needs REDIS_URL: without Redis the process that runs an answer is the only one "
            "that can resume or stop it, so Parley must run as one process (leave out --workers, or set REDIS_URL)"
        )
    if bool(getattr(args, "tls_cert", None)) != bool(getattr(args, "tls_key", None)):
        return _fail("--tls-cert and --tls-key go together: give both or neither")
    for name, path in (("certificate", settings.tls.cert_file), ("key", settings.tls.key_file)):
        if path is not None and not path.is_file():
            return _fail(f"the TLS {name} {path} is not a readable file")
    try:
        # A bad plan file is reported before the database is started.
        load_plan_file(settings.plans_file)
        url, embedded = _prepare_database(settings)
    except StartupError as exc:
        return _fail(str(exc))
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        options = {
            "host": settings.host,
            "port": settings.port,
            "proxy_headers": True,
            "timeout_keep_alive": settings.keep_alive_seconds,
            "forwarded_allow_ips": settings.forwarded_allow_ips,
            "log_config": None,
            "access_log": False,
            "lifespan": "on",
            # uvicorn's httptools protocol, except that it serves requests offering an HTTP/2 upgrade (Java's
            # HttpClient, curl --http2) with their body instead of losing it.
            "http": Http1Protocol,
            # HTTPS (README, "TLS"): TLS 1.3 only unless PARLEY_TLS__MIN_VERSION=1.2.
            "tls_min_version": settings.tls.min_version,
        }
        if settings.tls.enabled:
            options["ssl_certfile"] = str(settings.tls.cert_file)
            options["ssl_keyfile"] = str(settings.tls.key_file)
        print(
            f"Parley is running on {'https' if settings.tls.enabled else 'http'}://{settings.host}:{settings.port}"
            + (f" ({workers} processes)" if workers > 1 else ""),
            file=sys.stderr,
            flush=True,
        )
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            from parley.metrics.multiprocess import SupervisedMetrics

            _prepare_workers(settings, url)
            # Before the workers start: they must import prometheus-client with its multiprocess directory set.
            metrics = SupervisedMetrics(settings)
            config = TLSConfig(
                "parley.cli:worker_app",
                factory=True,
                workers=workers,
                timeout_worker_healthcheck=settings.worker_healthcheck_timeout_seconds,
                **options,  # type: ignore[arg-type]
            )
            # The supervisor stops its workers on SIGINT/SIGTERM and returns; the embedded database stops below.
            supervisor = Multiprocess(config, sockets=[config.bind_socket()])
            metrics.watch(supervisor)
            # Armed at the first signal, while each worker first drains (chat.drain): the drain's time is added.
            deadline = _deadline(settings, embedded, draining_first=True)
            for name in ("handle_int", "handle_term"):
                setattr(supervisor, name, _arming(deadline, getattr(supervisor, name)))
            try:
                supervisor.run()
            finally:
                metrics.close()
        else:
            app = create_app(settings.model_copy(update={"database_url": url}))
            config = TLSConfig(app, **options)  # type: ignore[arg-type]
            # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the handler that
            # was there before it; a no-op handler there lets this function go on to stop the embedded database.
            for stop_signal in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop_signal, lambda *_: None)
            uvicorn_server = uvicorn.Server(config)
            uvicorn_server.handle_exit = _arming(_deadline(settings, embedded), uvicorn_server.handle_exit)  # type: ignore[method-assign]
            uvicorn_server.run()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _deadline(
    settings: Settings, embedded: EmbeddedPostgres | None, *, draining_first: bool = False
) -> ShutdownDeadline:
    """Armed by the first stop signal: past it the embedded database is stopped and the process exits, however
    the graceful shutdown is doing (it waits for streams, jobs and threads, each bounded on its own). A single
    process arms it once its SIGTERM drain is over; `draining_first`: armed before the drain, which it allows for."""
    from parley.kit.shutdown_deadline import ShutdownDeadline

    seconds = settings.shutdown_timeout_seconds + (settings.drain_timeout_seconds if draining_first else 0)
    return ShutdownDeadline(seconds, on_overrun=embedded.stop if embedded is not None else lambda: None)


def _arming(deadline: ShutdownDeadline, handler: Callable[P, None]) -> Callable[P, None]:
    """`handler` (a stop-signal handler of uvicorn's), arming `deadline` first."""

    def armed(*args: P.args, **kwargs: P.kwargs) -> None:
        deadline.arm()
        handler(*args, **kwargs)

    return armed


def _prepare_workers(settings: Settings, url: str) -> None:
    """What the worker processes must share rather than each create at once: the JWT signing key (a file in
    the data dir when not configured) and the first admin; and the settings they read from the environment."""
    import asyncio

    from parley.auth.security import Security
    from parley.bootstrap import ensure_first_admin
    from parley.db import Database, create_engine

    async def bootstrap() -> None:
        database = Database(create_engine(url, settings), region=settings.region, region_urls=settings.regions)
        try:
            async with database.session() as session:
                await ensure_first_admin(session, Security.from_settings(settings), settings)
        finally:
            await database.dispose()

    asyncio.run(bootstrap())
    os.environ["DATABASE_URL"] = url
    os.environ["PARLEY_DATA_DIR"] = str(settings.resolved_data_dir)


def worker_app() -> FastAPI:
    """The app of one `parley serve --workers N` process (uvicorn's factory): settings from the environment."""
    from parley.app import create_app_from_environment

    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    return create_app_from_environment()


def cmd_migrate(args: argparse.Namespace) -> int:
    from parley.db import StartupError
    from parley.kit.logs import configure_logging

    settings = _settings(args)
    configure_logging(level=settings.log_level, json=settings.log_json)
    try:
        _, embedded = _prepare_database(settings)
    except StartupError as exc:
        return _fail(str(exc))
    if embedded is not None:
        embedded.stop()
    print("parley: database is at the newest migration", file=sys.stderr)
    return 0


def _read_password() -> str | None:
    if sys.stdin.isatty():
        entered = getpass.getpass("Password (leave empty to generate one): ")
    else:
        entered = sys.stdin.readline().rstrip("\r\n")
    return entered or None


def cmd_create_admin(args: argparse.Namespace) -> int:
    import asyncio

    from parley.auth.security import Security
    from parley.db import Database, StartupError, create_engine
    from parley.errors import ParleyError
    from parley.kit.logs import configure_logging
    from parley.users import service as user_service

    settings = _settings(args)
    configure_logging(level="warning", json=settings.log_json)
    password = _read_password()
    try:
        url, embedded = _prepare_database(settings)
    except StartupError as exc:
        return _fail(str(exc))

    async def create() -> tuple[str, str | None]:
        database = Database(create_engine(url, settings), region=settings.region, region_urls=settings.regions)
        security = Security.from_settings(settings)
        try:
            async with database.session() as session:
                user, generated = await user_service.create_admin(
                    session,
                    security.passwords,
                    email=args.email,
                    password=password,
                    password_min_length=settings.auth.password_min_length,
                )
                return user.email, generated
        finally:
            await database.dispose()

    try:
        email, generated = asyncio.run(create())
    except ParleyError as exc:
        return _fail(exc.message)
    finally:
        if embedded is not None:
            embedded.stop()
    print(f"Created admin {email}")
    if generated:
        print(f"Generated password (shown once): {generated}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="Parley, a self-hostable enterprise chat")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (migrates first)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--data-dir", help="where Parley keeps its files (default ./data)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port (default 1); more than 1 needs REDIS_URL, through which they share "
        "running answers (resume, stop)",
    )
    serve.add_argument(
        "--worker-healthcheck-timeout",
        type=int,
        metavar="SECONDS",
        help="with --workers: seconds a worker may take to answer its supervisor's health ping before it is "
        "replaced (default 30; PARLEY_WORKER_HEALTHCHECK_TIMEOUT_SECONDS)",
    )
    serve.add_argument(
        "--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate (chain); needs --tls-key"
    )
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's PEM private key (PARLEY_TLS__KEY_FILE)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema to the newest version")
    migrate.add_argument("--data-dir")
    migrate.set_defaults(handler=cmd_migrate)

    create_admin = commands.add_parser(
        "create-admin", help="create an admin account (password from stdin, or generated and printed once)"
    )
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--data-dir")
    create_admin.set_defaults(handler=cmd_create_admin)
    _add_backup_commands(commands)
    _add_keys_commands(commands)
    _add_audit_commands(commands)
    return parser


def _add_audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`parley audit verify | checkpoint` (parley.audit; README, "Audit trail")."""
    audit = commands.add_parser("audit", help="the tamper-evident audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser(
        "verify",
        help="walk the audit hash chain and its signed checkpoints; exits 1 naming the first edited, deleted or "
        "reordered row (uses DATABASE_URL, or the embedded database of --data-dir)",
    )
    verify.add_argument("--data-dir")
    verify.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="KEY",
        help="also trust checkpoints signed by this Ed25519 key (hex, or a PEM file); repeatable. The data dir's "
        "signing key is always trusted",
    )
    verify.set_defaults(handler=cmd_audit_verify)
    checkpoint = actions.add_parser("checkpoint", help="sign the audit chain's head now")
    checkpoint.add_argument("--data-dir")
    checkpoint.set_defaults(handler=cmd_audit_checkpoint)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from parley.audit.commands import run_verify

    return run_verify(_settings(args), args.public_key)


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from parley.audit.commands import run_checkpoint

    return run_checkpoint(_settings(args))


def _add_keys_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`parley keys rotate | generate | seal-existing` (parley.crypto; README, "Encryption at rest")."""
    keys = commands.add_parser("keys", help="encryption at rest: the key-encryption key")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="wrap every user's data key again under a new key-encryption key, while Parley runs; the old one is "
        "retired once nothing uses it (uses DATABASE_URL, or the embedded database of --data-dir)",
    )
    rotate.add_argument("--data-dir")
    rotate.add_argument(
        "--to",
        metavar="KMS_KEY",
        help="with PARLEY_CRYPTO__PROVIDER=aws-kms: the KMS key (id, ARN or alias) to move to; default: the "
        "configured key, under its newest key material",
    )
    rotate.set_defaults(handler=cmd_keys_rotate)
    generate = actions.add_parser(
        "generate", help="print a new key-encryption key as a name=key entry for PARLEY_CRYPTO__KEYS"
    )
    generate.add_argument("--name", help="the key's name (default: k<today's date>)")
    generate.set_defaults(handler=cmd_keys_generate)
    seal = actions.add_parser(
        "seal-existing",
        help="seal the message text, titles, summaries and chunk text written before encryption at rest, in "
        "batches, beside a running Parley (uses DATABASE_URL, or the embedded database of --data-dir)",
    )
    seal.add_argument("--data-dir")
    seal.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    seal.set_defaults(handler=cmd_keys_seal_existing)


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from parley.crypto.commands import run_rotate

    return run_rotate(_settings(args), target=args.to)


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from parley.crypto.commands import run_generate

    return run_generate(args.name)


def cmd_keys_seal_existing(args: argparse.Namespace) -> int:
    from parley.crypto.commands import run_seal_existing

    if args.batch < 1:
        return _fail("--batch must be at least 1")
    return run_seal_existing(_settings(args), batch=args.batch)


def _add_backup_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`parley backup` / `parley restore` (parley.backup; README, "Backup and restore")."""
    backup = commands.add_parser(
        "backup", help="write one archive of the embedded install: database, stored files and keys"
    )
    backup.add_argument("archive", help="the archive file to write (.tar)")
    backup.add_argument("--data-dir")
    backup.set_defaults(handler=cmd_backup)

    restore = commands.add_parser("restore", help="restore an archive written by `parley backup` into a data dir")
    restore.add_argument("archive", help="the archive file to read")
    restore.add_argument("--data-dir")
    restore.add_argument("--force", action="store_true", help="replace an existing install in the data dir")
    restore.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    from parley.backup.commands import run_backup

    return run_backup(_settings(args), Path(args.archive))


def cmd_restore(args: argparse.Namespace) -> int:
    from parley.backup.commands import run_restore

    return run_restore(_settings(args), Path(args.archive), force=args.force)


# Everything a Parley process creates (uploads, models, keys, logs of the embedded database, temporary files)
# is its users' data: owner-only, whatever umask the shell or service manager handed down.
_PRIVATE_UMASK = 0o077


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    from parley.db import StartupError

    args = build_parser().parse_args(argv)
    os.umask(_PRIVATE_UMASK)
    try:
        code: int = args.handler(args)
    except StartupError as exc:
        code = _fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        code = _fail(f"invalid settings: {problems}")
    except KeyboardInterrupt:
        code = 130
    return code


if __name__ == "__main__":
    sys.exit(main())
