"""A project-local PostgreSQL cluster: the embedded default when no IOC_DATABASE_URL is given.

PostgreSQL refuses to run as root, and CI and these machines run as root. When we are root the
server binaries run as the unprivileged `postgres` account that Debian's package creates; the
data folder is handed to that account. If that account cannot reach the project folder (a
private temporary clone, say), the cluster lives in a world-traversable folder keyed by the
project path instead, and we say so in the log.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

DATABASE_NAME = "ioc"
SUPERUSER = "ioc"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries not found; run `scripts/setup.sh` (installs Debian's postgresql)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timescaledb_installed(bin_dir: Path) -> bool:
    sharedir = subprocess.run(
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return bool(sharedir) and Path(sharedir, "extension", "timescaledb.control").exists()


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, timescale: bool = False, port: int | None = None) -> None:
        self.bin_dir = find_bin_dir()
        self._run_as = "postgres" if os.geteuid() == 0 else None
        if self._run_as is not None:
            try:
                pwd.getpwnam(self._run_as)
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    "running as root needs the unprivileged 'postgres' account that Debian's postgresql "
                    "package creates; run scripts/setup.sh"
                ) from exc
        self.data_dir = self._usable_data_dir(data_dir.resolve())
        self.timescale = timescale
        self.port = port
        self._started_here = False

    # -- public -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for(DATABASE_NAME)

    def url_for(self, database: str) -> str:
        if self.port is None:
            raise EmbeddedPostgresError("cluster not started")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> str:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        running_port = self._running_port()
        if running_port is not None:
            # Another process of this project (a second `ioc` command) already runs it: share it.
            log.info("embedded PostgreSQL already running on port %s", running_port)
            self.port = running_port
        else:
            self.port = self.port or free_port()
            self._pg_ctl_start()
            self._started_here = True
        self._ensure_database()
        return self.url

    def stop(self) -> None:
        if not self._started_here:
            return
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        self._started_here = False
        log.info("embedded PostgreSQL stopped")

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------

    def _usable_data_dir(self, wanted: Path) -> Path:
        if self._run_as is None or self._account_can_reach(wanted.parent):
            return wanted
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        fallback = Path("/var/tmp") / f"ioc-pgdata-{digest}"
        log.warning("the postgres account cannot reach %s; using %s for the embedded cluster", wanted, fallback)
        return fallback

    def _account_can_reach(self, folder: Path) -> bool:
        folder.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(["runuser", "-u", str(self._run_as), "--", "test", "-x", str(folder)], check=False)
        return probe.returncode == 0

    def _command(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self._run_as, "--", *argv] if self._run_as else argv

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(self._command(argv), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            account = pwd.getpwnam(self._run_as)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        os.chmod(self.data_dir, 0o700)
        log.info("initialising embedded PostgreSQL cluster in %s", self.data_dir)
        self._run([
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions",
        ])  # fmt: skip

    def _running_port(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        with contextlib.suppress(ValueError, IndexError, ProcessLookupError, PermissionError):
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        return None

    def _pg_ctl_start(self) -> None:
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
            "-c fsync=on",
        ]
        if self.timescale:
            if not timescaledb_installed(self.bin_dir):
                raise EmbeddedPostgresError("IOC_EMBEDDED_TIMESCALE is set but timescaledb is not installed")
            options += ["-c shared_preload_libraries=timescaledb", "-c timescaledb.telemetry_level=off"]
        log_file = self.data_dir / "server.log"
        self._run([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log_file),
            "-o", " ".join(options), "-w", "-t", "60", "start",
        ])  # fmt: skip
        log.info("embedded PostgreSQL started on 127.0.0.1:%s (data in %s)", self.port, self.data_dir)

    def _ensure_database(self) -> None:
        import psycopg

        admin_url = self.url_for("postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
                    if exists.fetchone() is None:
                        conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
