"""``EmbeddedStack``: start the services the settings leave unconfigured, stop them on exit.

    with EmbeddedStack(settings) as stack:
        run(stack.settings)                       # URLs filled in
        spawn(argv, env={**os.environ, **stack.env()}, ...)   # workers see the same URLs

Database URL unset -> PostgreSQL; broker URL unset -> Redis; ``llm.base_url`` unset -> the
llama.cpp server. All three are launched first and then awaited, so their start-up overlaps.
Exit stops what was started, in reverse order, also while an exception or KeyboardInterrupt
propagates; a second KeyboardInterrupt during that SIGKILLs what is left.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol

import structlog
from pydantic import SecretStr

from octollm.config.settings import Settings
from octollm.embedded.llm_server import DEFAULT_ALIAS, EmbeddedLLM, launch_llm_server
from octollm.embedded.postgres import EmbeddedPostgres, launch_postgres
from octollm.embedded.processes import ManagedProcess
from octollm.embedded.redis import EmbeddedRedis, launch_redis

__all__ = ["EmbeddedStack", "install_signal_handlers"]

STOP_TIMEOUT_SECONDS = 15.0

log = structlog.get_logger(__name__)


class Service(Protocol):
    name: str
    process: ManagedProcess

    @property
    def url(self) -> str: ...

    def wait_ready(self, timeout: float) -> None: ...

    def stop(self, timeout: float) -> None: ...


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so ``with EmbeddedStack`` cleans up.

    Call it from the main thread of the CLI, before starting the stack.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


class EmbeddedStack:
    """The embedded default services for one ``octollm run``; a context manager."""

    def __init__(self, settings: Settings, *, with_llm: bool = True) -> None:
        self._given = settings
        self._with_llm = with_llm  # False: a run that needs no model (``octollm ingest``)
        self._settings: Settings | None = None
        self._services: list[Service] = []
        self._postgres: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None
        self._llm: EmbeddedLLM | None = None

    @property
    def settings(self) -> Settings:
        """The given settings with the started services' URLs filled in."""
        if self._settings is None:
            raise RuntimeError("EmbeddedStack is not started")
        return self._settings

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """The processes this stack started, by service name."""
        return {service.name: service.process for service in self._services}

    def env(self) -> dict[str, str]:
        """``OCTOLLM_*`` variables that point a worker subprocess at the same services."""
        s = self.settings
        values = {
            "OCTOLLM_DATA_DIR": str(s.data_dir),
            "OCTOLLM_DATABASE__URL": s.database.url,
            "OCTOLLM_BROKER__URL": s.broker.url,
            "OCTOLLM_BROKER__REDIS_URL": s.broker.redis_url,
            "OCTOLLM_BROKER__RESULT_BACKEND": s.broker.result_backend,
            "OCTOLLM_LLM__BASE_URL": s.llm.base_url,
            "OCTOLLM_LLM__MODEL": s.llm.model,
        }
        return {
            key: value.get_secret_value() if isinstance(value, SecretStr) else value
            for key, value in values.items()
            if value is not None
        }

    def start(self) -> EmbeddedStack:
        given = self._given
        timeout = given.embedded.start_timeout_seconds
        data_dir = given.data_dir.expanduser().resolve()
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        launched_at: dict[str, float] = {}
        try:
            # Slowest first: the model loads while Redis and PostgreSQL come up.
            if given.llm.base_url is None and self._with_llm:
                launched_at["llm"] = time.monotonic()
                self._llm = launch_llm_server(
                    log_dir=log_dir,
                    model_path=given.embedded.llm_model_path,
                    threads=given.embedded.llm_threads,
                    n_ctx=given.embedded.llm_context,
                    alias=DEFAULT_ALIAS,
                )
                self._services.append(self._llm)
            if given.broker.url is None:
                launched_at["redis"] = time.monotonic()
                self._redis = launch_redis(data_dir, log_dir=log_dir)
                self._services.append(self._redis)
            if given.database.url is None:
                launched_at["postgres"] = time.monotonic()
                self._postgres = launch_postgres(data_dir, log_dir=log_dir)
                self._services.append(self._postgres)
            deadline = time.monotonic() + timeout
            for service in reversed(self._services):  # quickest first, for honest timings
                service.wait_ready(max(deadline - time.monotonic(), 0.0))
                log.info(
                    "service_started",
                    service=service.name,
                    url=service.url,
                    pid=service.process.pid,
                    seconds=round(time.monotonic() - launched_at[service.name], 3),
                )
        except BaseException:
            self.close()
            raise
        self._settings = self._fill(given, data_dir)
        return self

    def close(self) -> None:
        """Stop every started service, last started first. Safe to call twice."""
        while self._services:
            service = self._services.pop()
            try:
                service.stop(STOP_TIMEOUT_SECONDS)
            except KeyboardInterrupt:  # impatient: kill the rest at once
                service.process.kill()
                for rest in reversed(self._services):
                    rest.process.kill()
                self._services.clear()
                raise
            except OSError as exc:
                log.warning("service_stop_failed", service=service.name, error=repr(exc))
        self._settings = None
        self._postgres = self._redis = self._llm = None

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    install_signal_handlers = staticmethod(install_signal_handlers)

    def _fill(self, given: Settings, data_dir: Path) -> Settings:
        database, broker, llm = given.database, given.broker, given.llm
        if self._postgres is not None:
            database = database.model_copy(update={"url": SecretStr(self._postgres.url)})
        if self._redis is not None:
            update = {"url": SecretStr(self._redis.broker_url)}
            if broker.redis_url is None:
                update["redis_url"] = SecretStr(self._redis.redis_url)
            if broker.result_backend is None:  # Celery wants redis+socket://, not unix://
                update["result_backend"] = SecretStr(self._redis.broker_url)
            broker = broker.model_copy(update=update)
        if self._llm is not None:
            llm = llm.model_copy(update={"base_url": self._llm.base_url, "model": self._llm.alias})
        return given.model_copy(
            update={"data_dir": data_dir, "database": database, "broker": broker, "llm": llm}
        )
