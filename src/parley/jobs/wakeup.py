"""RabbitMQ wake-ups: a committed job is announced on a fanout exchange so every replica's worker looks at
the outbox at once instead of at its next poll. The message carries nothing the outbox does not: losing one
(RabbitMQ down, a replica restarting) costs at most a poll interval, never a job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

_logger = structlog.get_logger("parley.jobs")
_CONNECT_ERRORS = (OSError, TimeoutError, aiormq.exceptions.AMQPError)
# A wake-up older than this is worthless (the worker has polled since): let RabbitMQ drop it.
_WAKEUP_TTL_SECONDS = 30


class AmqpWakeup:
    """One connection per worker: publishes wake-ups and (when `consume`) calls `on_wake` for each received."""

    def __init__(
        self, url: str, *, exchange: str, on_wake: Callable[[], None], consume: bool, connect_timeout: float = 5.0
    ) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._exchange_name = exchange
        self._on_wake = on_wake
        self._consume = consume
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._exchange is not None and self._connection is not None and not self._connection.is_closed

    async def start(self) -> None:
        """Connect now if RabbitMQ answers; otherwise keep trying in the background (workers poll meanwhile)."""
        if not await self._connect():
            self._retry_task = asyncio.create_task(self._keep_trying())

    async def _connect(self) -> bool:
        connection: AbstractRobustConnection | None = None
        try:
            connection = await aio_pika.connect_robust(self._url, timeout=self._connect_timeout)
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self._exchange_name, aio_pika.ExchangeType.FANOUT)
            if self._consume:
                queue = await channel.declare_queue(exclusive=True, auto_delete=True)
                await queue.bind(exchange)
                await queue.consume(self._received, no_ack=True)
        except _CONNECT_ERRORS as exc:
            _logger.warning("jobs_rabbitmq_unavailable", error=f"{type(exc).__name__}: {exc}")
            if connection is not None:
                with contextlib.suppress(*_CONNECT_ERRORS):
                    await connection.close()
            return False
        self._connection, self._exchange = connection, exchange
        return True

    async def _keep_trying(self) -> None:
        delay = 1.0
        while not await self._connect():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _received(self, message: AbstractIncomingMessage) -> None:
        self._on_wake()

    def publish(self, kind: str) -> bool:
        """Announce a committed job of `kind` (fire and forget); False when not connected."""
        if not self.connected:
            return False
        task = asyncio.get_running_loop().create_task(self._publish(kind))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)
        return True

    async def _publish(self, kind: str) -> None:
        assert self._exchange is not None
        try:
            await self._exchange.publish(
                aio_pika.Message(kind.encode(), expiration=_WAKEUP_TTL_SECONDS), routing_key=""
            )
        except _CONNECT_ERRORS as exc:
            _logger.warning("jobs_wakeup_not_published", error=f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=2)
        if self._connection is not None:
            with contextlib.suppress(*_CONNECT_ERRORS):
                await self._connection.close()
        self._connection = self._exchange = None
