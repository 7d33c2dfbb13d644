"""Replicas that lose nothing (issue 13): three `parley serve` behind nginx on one PostgreSQL, Redis and RabbitMQ.

Limits hold across replicas, a job runs once, an answer resumes on any replica with Last-Event-ID; a replica
stopped with SIGTERM drains (not ready at once, answers finished or handed over); and a replica killed with -9
in the middle of 20 answers loses none of them: another replica takes each over and its client, reconnecting
through nginx, gets one continuous answer.
"""

from __future__ import annotations

import asyncio
import difflib
import signal
import time
import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from parley.config import Settings
from parley.crypto import content as sealed
from parley.crypto.factory import open_crypto
from parley.llm.providers.scripted import split_tokens
from tests.replicas.conftest import ADMIN_EMAIL, PASSWORD, Cluster, Replica
from tests.sse import Event, parse_events

CHAT = "/api/v1/chat"


async def _sign_in(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _new_user(http: httpx.AsyncClient, *, plan: str | None = None) -> dict[str, str]:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    if plan is not None:
        admin = await _sign_in(http, ADMIN_EMAIL)
        changed = await http.patch(
            f"/api/v1/admin/users/{registered.json()['id']}", json={"subscription_tier": plan}, headers=admin
        )
        assert changed.status_code == 200, changed.text
    return await _sign_in(http, email)


async def _titled_conversation(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A conversation with a title already, so its answer is all the model writes (no title afterwards)."""
    created = await http.post("/api/v1/conversations", json={"title": "replicas"}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@dataclass
class Answer:
    """One client's view of an answer, over as many connections as it took."""

    conversation_id: str | None = None
    events: list[Event] = field(default_factory=list)
    upstreams: list[str] = field(default_factory=list)
    _buffer: str = ""

    def feed(self, chunk: str) -> None:
        self._buffer += chunk
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            for event in parse_events(block + "\n\n"):
                self.events.append(event)
                if event.event == "message":
                    self.conversation_id = event.data["conversation_id"]

    def dropped(self) -> None:
        self._buffer = ""  # a half-received event is received again after Last-Event-ID

    @property
    def last_id(self) -> str:
        return next(e.id for e in reversed(self.events) if e.id is not None)

    @property
    def deltas(self) -> list[str]:
        return [e.data["text"] for e in self.events if e.event == "delta"]

    @property
    def done(self) -> Event | None:
        return next((e for e in self.events if e.event == "done"), None)

    def ids(self) -> list[int]:
        return [int(e.id) for e in self.events if e.id is not None]


async def _read(response: httpx.Response, answer: Answer, *, until_deltas: int | None = None) -> None:
    answer.upstreams.append(response.headers.get("x-upstream", ""))
    async for chunk in response.aiter_text():
        answer.feed(chunk)
        if until_deltas is not None and len(answer.deltas) >= until_deltas:
            return


async def _resume(http: httpx.AsyncClient, headers: dict[str, str], answer: Answer, *, deadline: float) -> None:
    """Reconnect with Last-Event-ID until the answer is done (a replica may be down or the run not found yet)."""
    while answer.done is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"answer {answer.conversation_id} not done; events so far: {len(answer.events)}")
        try:
            async with http.stream(
                "GET", f"{CHAT}/{answer.conversation_id}/stream", headers={**headers, "Last-Event-ID": answer.last_id}
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    await asyncio.sleep(0.3)
                    continue
                await _read(response, answer)
        except httpx.TransportError:
            answer.dropped()
            await asyncio.sleep(0.3)


def _lost_and_duplicated(expected: list[str], received: list[str]) -> tuple[int, int]:
    """Tokens of the expected answer missing from what the client received, and tokens it received too many."""
    lost = duplicated = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, expected, received, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            lost += i2 - i1
        if tag in ("insert", "replace"):
            duplicated += j2 - j1
    return lost, duplicated


async def _messages(cluster: Cluster, message_ids: list[str]) -> dict[str, tuple[str, str | None, dict]]:
    """The stored messages, their text opened (sealed at rest, README "Encryption at rest") with the replicas' own
    key file in their shared data dir."""
    engine = create_async_engine(cluster.database_url)
    crypto = await open_crypto(Settings(data_dir=cluster.workdir / "data"), engine)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, content, finish_reason, metadata FROM messages WHERE id::text = ANY(:ids)"),
                {"ids": message_ids},
            )
            return {
                str(row[0]): (await sealed.open_text(row[1], context=sealed.message_context(row[0])), row[2], row[3])
                for row in rows
            }
    finally:
        await crypto.aclose()
        await engine.dispose()


class TestLimitsAcrossReplicas:
    async def test_a_plan_of_three_requests_a_minute_refuses_the_fourth_whichever_replica_gets_it(self, cluster):
        async with httpx.AsyncClient(base_url=cluster.nginx_url, timeout=30) as http:
            headers = await _new_user(http)  # the free plan here: 3 chat requests a minute
            statuses, upstreams = [], set()
            for n in range(4):
                response = await http.post(
                    CHAT, json={"message": f"hello {n}", "model": "echo", "stream": False}, headers=headers
                )
                statuses.append(response.status_code)
                upstreams.add(response.headers["x-upstream"])
        assert statuses == [200, 200, 200, 429]
        assert len(upstreams) >= 2  # nginx spread them: the count is shared, not per replica


class TestJobsRunOnce:
    async def test_uploads_through_any_replica_are_each_read_once(self, cluster):
        async with httpx.AsyncClient(base_url=cluster.nginx_url, timeout=30) as http:
            headers = await _new_user(http, plan="pro")
            file_ids = []
            for n in range(6):
                body = f"Report {n}. The replicas share one outbox; each upload is read by exactly one worker.\n"
                uploaded = await http.post(
                    f"{CHAT}/upload", files={"file": (f"report-{n}.txt", body.encode(), "text/plain")}, headers=headers
                )
                assert uploaded.status_code == 201, uploaded.text
                file_ids.append(uploaded.json()["id"])
            deadline = time.monotonic() + 120  # the first job of each replica loads the embedding model
            pending = set(file_ids)
            while pending and time.monotonic() < deadline:
                for file_id in list(pending):
                    found = (await http.get(f"/api/v1/files/{file_id}", headers=headers)).json()
                    assert found["status"] != "failed", found
                    if found["status"] == "ready":
                        pending.discard(file_id)
                await asyncio.sleep(0.5)
        assert not pending, f"files not read in time: {pending}"
        engine = create_async_engine(cluster.database_url)
        try:
            async with engine.connect() as connection:
                jobs = (
                    await connection.execute(
                        text(
                            "SELECT payload->>'file_id', status, attempts FROM jobs "
                            "WHERE payload->>'file_id' = ANY(:ids)"
                        ),
                        {"ids": file_ids},
                    )
                ).all()
                chunks = (
                    await connection.execute(
                        text(
                            "SELECT file_id::text, count(*) FROM file_chunks WHERE file_id::text = ANY(:ids) GROUP BY 1"
                        ),
                        {"ids": file_ids},
                    )
                ).all()
        finally:
            await engine.dispose()
        assert sorted(job[0] for job in jobs) == sorted(file_ids)  # one job each
        assert all(job[1] == "done" and job[2] == 1 for job in jobs), jobs  # run once, never again
        assert {row[0] for row in chunks} == set(file_ids) and all(row[1] == 1 for row in chunks)


class TestResumeAnywhere:
    async def test_an_answer_started_on_one_replica_resumes_through_nginx_on_the_others(self, cluster):
        first = cluster.replicas[0]
        question = " ".join(f"r{n}" for n in range(80))  # 4 s at 20 tokens/s
        answer = Answer()
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=30) as direct,
            httpx.AsyncClient(base_url=cluster.nginx_url, timeout=30) as balanced,
        ):
            headers = await _new_user(balanced, plan="pro")
            async with direct.stream(
                "POST", CHAT, json={"message": question, "model": "long"}, headers=headers
            ) as response:
                await _read(response, answer, until_deltas=5)
            # Each reconnection through nginx takes a few more tokens, then drops: round robin moves it along.
            while answer.done is None and len(answer.upstreams) < 8:
                async with balanced.stream(
                    "GET",
                    f"{CHAT}/{answer.conversation_id}/stream",
                    headers={**headers, "Last-Event-ID": answer.last_id},
                ) as response:
                    assert response.status_code == 200
                    answer.dropped()
                    await _read(response, answer, until_deltas=len(answer.deltas) + 10)
            await _resume(balanced, headers, answer, deadline=time.monotonic() + 30)
        assert "".join(answer.deltas) == question
        assert answer.ids() == list(range(1, len(answer.ids()) + 1))  # one stream: no id missing or repeated
        assert {upstream for upstream in answer.upstreams[1:]} - {first.upstream}, answer.upstreams
        assert answer.done.data["finish_reason"] == "stop"


async def _start_answers(
    replica: Replica, headers: dict[str, str], questions: list[str], *, until_deltas: int
) -> tuple[list[Answer], list[asyncio.Task[None]], list[asyncio.Event]]:
    """Start one answer per question on `replica` (one client each, reading on in the background) and return once
    every one has streamed `until_deltas` deltas."""
    answers = [Answer() for _ in questions]
    started = [asyncio.Event() for _ in questions]
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as setup:
        conversations = [await _titled_conversation(setup, headers) for _ in questions]

    async def client(answer: Answer, question: str, conversation_id: str, ready: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=replica.url, timeout=httpx.Timeout(30, read=60)) as http:
            try:
                async with http.stream(
                    "POST",
                    CHAT,
                    json={"message": question, "model": "long", "conversation_id": conversation_id},
                    headers=headers,
                ) as response:
                    assert response.status_code == 200, await response.aread()
                    answer.upstreams.append(replica.upstream)
                    async for chunk in response.aiter_text():
                        answer.feed(chunk)
                        if len(answer.deltas) >= until_deltas:
                            ready.set()
            except httpx.TransportError:
                answer.dropped()  # the replica went away mid-answer
            finally:
                ready.set()

    tasks = [
        asyncio.create_task(client(answer, question, conversation_id, ready))
        for answer, question, conversation_id, ready in zip(answers, questions, conversations, started, strict=True)
    ]
    async with asyncio.timeout(60):
        await asyncio.gather(*(ready.wait() for ready in started))
    return answers, tasks, started


class TestDrainOnSigterm:
    async def test_sigterm_turns_readiness_off_and_every_running_answer_finishes_or_is_handed_over(self, cluster):
        leaving = cluster.replicas[1]
        short = [" ".join(f"s{i}w{n}" for n in range(20)) for i in range(2)]  # 1 s: finish within the drain
        long = [" ".join(f"l{i}w{n}" for n in range(160)) for i in range(2)]  # 8 s: handed over at 4 s
        async with httpx.AsyncClient(base_url=cluster.nginx_url, timeout=30) as balanced:
            headers = await _new_user(balanced, plan="pro")
            answers, tasks, _ = await _start_answers(leaving, headers, short + long, until_deltas=3)
            assert leaving.process is not None
            leaving.process.send_signal(signal.SIGTERM)
            ready_after_term = None
            async with httpx.AsyncClient(base_url=leaving.url, timeout=5) as direct:
                for _ in range(20):
                    ready_after_term = (await direct.get("/readyz")).status_code
                    if ready_after_term == 503:
                        break
                    await asyncio.sleep(0.1)
            assert ready_after_term == 503  # not ready at once, while still serving
            await asyncio.gather(*tasks)
            deadline = time.monotonic() + 45
            for answer in answers:
                await _resume(balanced, headers, answer, deadline=deadline)
        exit_code = await asyncio.to_thread(leaving.process.wait, 60)
        assert exit_code == 0, cluster.tail(leaving)
        for answer, question in zip(answers, short + long, strict=True):
            assert "".join(answer.deltas) == question, (answer.upstreams, answer.events[-3:])
            assert answer.ids() == list(range(1, len(answer.ids()) + 1))
        message_ids = [answer.done.data["message_id"] for answer in answers]
        stored = await _messages(cluster, message_ids)
        assert [stored[m][1] for m in message_ids] == ["stop"] * 4  # none interrupted, none cancelled
        # The short ones finished on the leaving replica; the long ones were handed over at the drain's deadline.
        assert ["handed_over" in stored[m][2] for m in message_ids] == [False, False, True, True]
        assert all(upstream == leaving.upstream for answer in answers[:2] for upstream in answer.upstreams)


class TestHandOver:
    async def test_a_replica_killed_in_the_middle_of_20_answers_loses_none_of_them(self, cluster):
        doomed = cluster.replicas[2]
        questions = [" ".join(f"a{i}w{n}" for n in range(160)) for i in range(20)]  # 8 s each at 20 tokens/s
        async with httpx.AsyncClient(base_url=cluster.nginx_url, timeout=30) as balanced:
            headers = await _new_user(balanced, plan="pro")
            answers, tasks, _ = await _start_answers(doomed, headers, questions, until_deltas=10)
            cluster.kill(doomed)
            killed_at = time.monotonic()
            await asyncio.gather(*tasks)
            before = [len(answer.deltas) for answer in answers]
            deadline = time.monotonic() + 60
            await asyncio.gather(*(_resume(balanced, headers, answer, deadline=deadline) for answer in answers))
            recovered_in = time.monotonic() - killed_at
            usage = (await balanced.get("/api/v1/users/me/usage", headers=headers)).json()["total"]
            limits = (await balanced.get("/api/v1/users/me/limits", headers=headers)).json()

        completed = sum(
            1 for answer in answers if answer.done is not None and answer.done.data["finish_reason"] == "stop"
        )
        lost = duplicated = 0
        for answer, question in zip(answers, questions, strict=True):
            missing, extra = _lost_and_duplicated(split_tokens(question), answer.deltas)
            lost, duplicated = lost + missing, duplicated + extra
        print(
            f"\nhand-over: answers completed {completed}/20, text lost {lost} tokens, duplicated {duplicated} tokens; "
            f"killed after {min(before)}-{max(before)} of 160 tokens, all answers complete "
            f"{recovered_in:.1f} s after the kill"
        )
        assert (completed, lost, duplicated) == (20, 0, 0)
        for answer in answers:
            assert answer.ids() == list(range(1, len(answer.ids()) + 1))  # the ids went on where they stopped
            assert {answer.upstreams[0]} == {doomed.upstream} and doomed.upstream not in answer.upstreams[1:]
        message_ids = [answer.done.data["message_id"] for answer in answers]
        stored = await _messages(cluster, message_ids)
        for answer, question in zip(answers, questions, strict=True):
            content, finish_reason, metadata = stored[answer.done.data["message_id"]]
            assert (content, finish_reason) == (question, "stop")
            assert metadata["handed_over"]["model"] == "long"
        # Billed once: the tokens written before the kill and after it, each counted one time.
        assert usage["completion_tokens"] == sum(len(split_tokens(question)) for question in questions)
        # The killed replica's holds on the user's quotas were ended by the replica that finished its answers.
        assert limits["concurrent_answers"]["running"] == 0
