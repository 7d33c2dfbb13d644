"""Background jobs through a transactional outbox: `enqueue` adds a row in the caller's transaction, a
`JobWorker` claims committed rows (`FOR UPDATE SKIP LOCKED`, with a lease) and runs their handler."""

from parley.jobs.outbox import enqueue
from parley.jobs.worker import JobHandler, JobWorker, PermanentJobError

__all__ = ["JobHandler", "JobWorker", "PermanentJobError", "enqueue"]
