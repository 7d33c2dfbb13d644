"""create_app(): routers, pure-ASGI middleware, error handlers and the lifespan that starts and stops every
backend (the database, embedded or external; Redis when `REDIS_URL` is set)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio.to_thread
import structlog
from fastapi import FastAPI

from parley import __version__
from parley.analytics.endpoints import router as analytics_router
from parley.anthropic_api.endpoints import router as anthropic_router
from parley.anthropic_api.errors import anthropic_error_response, for_anthropic_clients
from parley.api_keys.endpoints import router as api_keys_router
from parley.audit.checkpoints import CheckpointSchedule
from parley.audit.endpoints import router as audit_router
from parley.audit.signing import configured_signer
from parley.auth.endpoints import router as auth_router
from parley.auth.security import Security
from parley.auth.throttle import LoginThrottle, redis_storage
from parley.batches import tasks as batch_tasks
from parley.batches.endpoints import router as batches_router
from parley.batches.lines import LineRunner
from parley.bootstrap import ensure_first_admin
from parley.chat.drain import Drain
from parley.chat.endpoints import router as chat_router
from parley.chat.engine import ChatEngine
from parley.chat.grounding import Grounder
from parley.chat.images import ChatImages
from parley.chat.injection import InjectionScreen
from parley.chat.privacy import PromptPrivacy
from parley.chat.relay import RunRelay
from parley.config import Settings
from parley.conversations.endpoints import message_router as messages_router
from parley.conversations.endpoints import router as conversations_router
from parley.crypto.factory import open_crypto
from parley.crypto.keyring import Crypto
from parley.db import (
    Database,
    EmbeddedPostgres,
    create_engine,
    serves_data_dir,
    start_embedded_postgres,
    verify_database,
)
from parley.embeddings import Embedder, create_embedder
from parley.errors import install_error_handlers
from parley.files.endpoints import router as files_router
from parley.files.service import DELETE_BYTES_JOB
from parley.files.tasks import StoredFileDeletion
from parley.gdpr import tasks as gdpr_tasks
from parley.gdpr.endpoints import admin_router as admin_gdpr_router
from parley.gdpr.endpoints import router as gdpr_router
from parley.gdpr.tombstones import Tombstones
from parley.groups.admin_endpoints import router as admin_groups_router
from parley.groups.endpoints import router as groups_router
from parley.health.endpoints import router as health_router
from parley.identity.admin_endpoints import router as admin_sso_router
from parley.identity.endpoints import router as identity_router
from parley.identity.oidc import OIDCProviders
from parley.identity.saml import SAMLProviders, key_pair_if_needed
from parley.identity.saml_endpoints import router as saml_router
from parley.images.loader import ImageLoader
from parley.ingestion.tasks import JOB_KIND as INGEST_FILE_JOB
from parley.ingestion.tasks import IngestionTask
from parley.jobs import JobWorker
from parley.kit.asgi import RequestContextMiddleware
from parley.kit.hsts import StrictTransportSecurityMiddleware
from parley.kit.logs import configure_logging
from parley.kit.request_guard import BodyLimits, RequestGuardMiddleware
from parley.knowledge_bases.endpoints import conversation_router as conversation_knowledge_bases_router
from parley.knowledge_bases.endpoints import router as knowledge_bases_router
from parley.llm.admin_endpoints import router as admin_models_router
from parley.llm.catalogue_sync import CatalogueSync
from parley.llm.registry import ModelRegistry
from parley.llm.response_cache import MemoryResponseCache, ResponseCache
from parley.llm.router import Router
from parley.metrics import runtime as metrics_runtime
from parley.migrations.runner import upgrade_to_head
from parley.openai_api.completions import router as openai_completions_router
from parley.openai_api.embeddings import router as openai_embeddings_router
from parley.openai_api.endpoints import router as openai_router
from parley.openai_api.errors import openai_error_response
from parley.openai_api.open_streams import OpenStreams
from parley.plans import service as plans_service
from parley.plans.admin_endpoints import router as admin_plans_router
from parley.policy.plans import load_plan_file
from parley.policy.rates import RateLimiter
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Ledger, MemoryLedger
from parley.read_replica import ReadReplica
from parley.reports.endpoints import admin_router as admin_reports_router
from parley.reports.endpoints import router as reports_router
from parley.responses_api.endpoints import router as responses_router
from parley.roles.endpoints import router as admin_roles_router
from parley.scim.admin_endpoints import router as admin_scim_router
from parley.scim.endpoints import router as scim_router
from parley.scim.errors import PREFIX as SCIM_PREFIX
from parley.scim.errors import scim_error_response
from parley.storage import Storage, open_storage
from parley.usage.endpoints import router as usage_router
from parley.users.admin_endpoints import router as admin_users_router
from parley.users.endpoints import router as users_router
from parley.web.api_docs import router as api_docs_router
from parley.web.spa import SinglePageApp

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from parley.redis_client import RedisClient
    from parley.tracing.setup import Tracing

_logger = structlog.get_logger("parley.app")


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """The app for `settings`. `span_exporter` (tests) receives every span, as if an OTLP endpoint were set."""
    settings = settings or Settings()
    # Traces (README, "Traces"): only with an OTLP endpoint; otherwise the SDK is not even imported.
    tracing = _start_tracing(settings, span_exporter)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        url = settings.database_url
        if url is None:
            embedded = await anyio.to_thread.run_sync(start_embedded_postgres, settings.resolved_data_dir)
            url = embedded.url
        database: Database | None = None
        registry: ModelRegistry | None = None
        model_catalogue: CatalogueSync | None = None
        engine: ChatEngine | None = None
        open_streams: OpenStreams | None = None
        redis: RedisClient | None = None
        storage: Storage | None = None
        crypto: Crypto | None = None
        jobs: JobWorker | None = None
        embedder: Embedder | None = None
        ingestion: IngestionTask | None = None
        drain: Drain | None = None
        metrics: metrics_runtime.MetricsRuntime | None = None
        checkpoints: CheckpointSchedule | None = None
        try:
            await verify_database(url)
            # With DATABASE_READ_URL, also the read replica (README, "Read replicas"), started after migrations.
            database = Database(
                create_engine(url, settings),
                replica=ReadReplica.from_settings(settings),
                region=settings.region,  # multi-region: recorded on new data (README, "Multi-region")
                region_urls=settings.regions,
            )
            if tracing is not None:
                tracing.instrument_database(database)
            await upgrade_to_head(database.engine)
            await database.start()
            app.state.database = database
            # Encryption at rest (README, "Encryption at rest"): the KEK is checked usable before anything runs.
            crypto = await open_crypto(settings, database.engine)
            app.state.crypto = crypto
            # Uploads sealed with their owner's data key (README, "Encryption at rest").
            storage = await open_storage(settings, crypto=crypto)
            app.state.storage = storage
            # Handlers are registered here and below; the worker starts once all of them are.
            jobs = JobWorker(database, settings.jobs, rabbitmq_url=settings.rabbitmq_url)
            jobs.register(DELETE_BYTES_JOB, StoredFileDeletion(storage))
            app.state.jobs = jobs
            app.state.security = Security.from_settings(settings)
            # Rate limits count in the sign-in throttle's storage (replaced by the Redis one below, with REDIS_URL).
            app.state.rate_limiter = RateLimiter(app.state.security.login_throttle.storage)
            async with database.session() as session:
                await ensure_first_admin(session, app.state.security, settings)
            async with database.session() as session:
                seeded = await plans_service.seed(session, app.state.plan_seeds)
            if seeded:
                _logger.info("plans_seeded", plans=seeded)
            relay: RunRelay | None = None
            response_cache: ResponseCache = MemoryResponseCache(max_bytes=settings.llm.response_cache_max_mib << 20)
            quota_ledger: Ledger = MemoryLedger(
                quotas_service.loader(database), refresh_seconds=settings.limits.ledger_refresh_seconds
            )
            if settings.redis_url is not None:
                # Imported only here: a single Parley process never loads the Redis client.
                from parley.chat.redis_relay import RedisRelay
                from parley.llm.redis_response_cache import RedisResponseCache
                from parley.quotas.redis_ledger import RedisLedger
                from parley.redis_client import connect

                redis = connect(settings.redis_url, cluster=settings.redis_cluster)
                relay = RedisRelay(redis, prefix=settings.redis_key_prefix, settings=settings.llm)
                response_cache = RedisResponseCache(redis, prefix=settings.redis_key_prefix)
                quota_ledger = RedisLedger(
                    redis,
                    prefix=settings.redis_key_prefix,
                    load=quotas_service.loader(database),
                    refresh_seconds=settings.limits.ledger_refresh_seconds,
                )
                limits = redis_storage(
                    settings.redis_url,
                    key_prefix=f"{settings.redis_key_prefix}:limits",
                    connection_pool=getattr(redis, "connection_pool", None),  # a cluster client has none
                    cluster=settings.redis_cluster,
                )
                if settings.redis_cluster:
                    # Its own cluster client maps the slots on its first command: one now, not a burst of them.
                    await limits.check()
                app.state.security.login_throttle = LoginThrottle(settings.auth, limits)
                app.state.rate_limiter = RateLimiter(app.state.security.login_throttle.storage)
            # The models file seeds the catalogue; admins' entries in the database lie over it, and every replica
            # follows their changes within seconds (README, "Models").
            model_catalogue = CatalogueSync(database, settings.load_model_catalog(), crypto=crypto)
            registry = ModelRegistry(await model_catalogue.load(), data_dir=settings.resolved_data_dir)
            await registry.start()
            await model_catalogue.start(registry)
            app.state.model_catalogue = model_catalogue
            app.state.models = registry
            app.state.response_cache = response_cache
            app.state.quota_ledger = quota_ledger
            app.state.router = Router(registry, settings.llm, response_cache=response_cache)
            # The bundled embedding model is checked to be installed here and loaded on first use.
            prompt_privacy = PromptPrivacy(settings.privacy, crypto=crypto)
            embedder = create_embedder(settings.embeddings, detector=prompt_privacy.detector)
            app.state.embedder = embedder
            grounder = Grounder(database, app.state.router, embedder, settings.rag)
            engine = ChatEngine(
                database,
                app.state.router,
                settings.llm,
                quota_ledger=quota_ledger,
                relay=relay,
                grounder=grounder,
                reservation_seconds=settings.limits.reservation_seconds,
                privacy=prompt_privacy,
                images=ChatImages(database, storage, settings.images),
                injection=InjectionScreen(settings.safety),
            )
            app.state.chat_engine = engine
            engine.image_hosts = tuple(settings.safety.image_hosts)
            await engine.start()
            # SIGTERM drains this replica first (chat.drain): installed only under a server that handles it.
            drain = Drain(engine, timeout_seconds=settings.drain_timeout_seconds)
            app.state.drain = drain
            drain.install()
            open_streams = OpenStreams(database)
            app.state.open_streams = open_streams
            await open_streams.start()
            ingestion = IngestionTask(database, storage, embedder, settings)
            jobs.register(INGEST_FILE_JOB, ingestion, on_give_up=ingestion.give_up)
            # GDPR (README, "Your data"): exports built and expired, erased accounts' zips deleted, retention.
            gdpr_tasks.register_jobs(jobs, database, storage, settings.gdpr, seeds=app.state.plan_seeds)
            await gdpr_tasks.schedule_retention(database)
            # The Batch API's lines (README, "Batches"): through the same objects as the /v1 endpoints.
            batch_lines = LineRunner(
                database,
                app.state.router,
                engine,
                app.state.rate_limiter,
                quota_ledger,
                app.state.plan_seeds,
                embedder,
                settings.embeddings,
                settings.limits,
                ImageLoader(settings.images),
            )
            batch_tasks.register_jobs(jobs, database, storage, crypto, batch_lines, settings.batches)
            await jobs.start()
            # Signed checkpoints of the audit chain (README, "Audit trail").
            checkpoints = CheckpointSchedule(
                database,
                app.state.audit_signer,
                interval_seconds=settings.audit.checkpoint_interval_seconds,
            )
            app.state.audit_checkpoints = checkpoints
            await checkpoints.start()
            metrics = metrics_runtime.MetricsRuntime(settings, database, app.state.router, job_kinds=jobs.kinds)
            app.state.metrics = metrics
            await metrics.start()
            _logger.info(
                "parley_started",
                version=__version__,
                # True too when `parley serve` started the embedded server and passed its URL in.
                embedded_database=embedded is not None or await serves_data_dir(database, settings.resolved_data_dir),
                redis=redis is not None,
                models=registry.names,
            )
            # Everything loaded at start-up lives as long as the process: keep it out of the garbage collector's
            # full passes, which otherwise pause every open stream at once.
            gc.collect()
            gc.freeze()
            yield
        finally:
            if drain is not None:
                drain.uninstall()
            if checkpoints is not None:
                await checkpoints.stop()
            if metrics is not None:
                await metrics.stop()
            if jobs is not None:
                await jobs.stop()
            if ingestion is not None:
                # Readers of jobs the stop had to leave behind: killed, so no child outlives the server.
                ingestion.close()
            if open_streams is not None:
                await open_streams.aclose()
            if engine is not None:
                await engine.stop()
            if embedder is not None:
                await embedder.aclose()
            if redis is not None:
                await redis.aclose()
            if model_catalogue is not None:
                await model_catalogue.stop()
            if registry is not None:
                await registry.aclose()
            if storage is not None:
                await storage.aclose()
            if crypto is not None:
                await crypto.aclose()
            if database is not None:
                await database.dispose()
            if embedded is not None:
                await anyio.to_thread.run_sync(embedded.stop)
            if tracing is not None:
                # Last, so the spans of the shutdown itself are sent too.
                await anyio.to_thread.run_sync(tracing.shutdown)

    app = FastAPI(
        title="Parley",
        version=__version__,
        summary="Self-hostable enterprise chat",
        lifespan=lifespan,
        # FastAPI's pages load their scripts from a CDN; Parley serves its own (web.api_docs).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # Read here, not in the lifespan: a bad plan file stops start-up before anything is started.
    app.state.plan_seeds = load_plan_file(settings.plans_file)
    app.state.oidc = OIDCProviders(settings.oidc)
    # The key naming erased accounts (README, "Your data"), generated into the data dir on first start if unset.
    app.state.tombstones = Tombstones.from_settings(settings.gdpr, settings.resolved_data_dir)
    # SAML IdPs; Parley's SP key pair is generated into the data dir on first start with one configured.
    app.state.saml = SAMLProviders(settings.saml, key_pair_if_needed(settings.saml, settings.resolved_data_dir))
    # The audit checkpoints' signing key: PARLEY_AUDIT__SIGNING_KEY, or a file created (0600) in the data dir on
    # first start.
    app.state.audit_signer = configured_signer(settings.audit, settings.resolved_data_dir)
    # `/v1/messages` before `/v1/`: the first prefix that matches renders the error.
    install_error_handlers(
        app,
        surfaces={
            "/v1/messages": anthropic_error_response,
            "/v1/models": for_anthropic_clients(openai_error_response),
            "/v1/": openai_error_response,
            SCIM_PREFIX: scim_error_response,
        },
    )
    for router in (
        health_router,
        auth_router,
        identity_router,
        saml_router,
        users_router,
        gdpr_router,
        api_keys_router,
        admin_users_router,
        admin_gdpr_router,
        admin_groups_router,
        admin_plans_router,
        admin_models_router,
        admin_roles_router,
        admin_reports_router,
        admin_scim_router,
        admin_sso_router,
        scim_router,
        groups_router,
        audit_router,
        analytics_router,
        conversations_router,
        messages_router,
        files_router,
        knowledge_bases_router,
        conversation_knowledge_bases_router,
        chat_router,
        reports_router,
        usage_router,
        openai_router,
        openai_embeddings_router,
        batches_router,
        openai_completions_router,
        responses_router,
        anthropic_router,
        api_docs_router,
    ):
        app.include_router(router)
    # Last: everything no API route matched is the web app (or a 404 for API paths).
    app.mount("/", SinglePageApp(cdn_url=settings.web.cdn_url, image_hosts=settings.safety.image_hosts), name="web")
    # Inside the request-id middleware, so its refusals carry the id; before anything reads a body.
    app.add_middleware(RequestGuardMiddleware, body_limits=_body_limits(settings))
    app.add_middleware(RequestContextMiddleware)
    if settings.tls.hsts_max_age_seconds:
        # Only on responses to HTTPS requests (README, "TLS").
        app.add_middleware(
            StrictTransportSecurityMiddleware,
            max_age_seconds=settings.tls.hsts_max_age_seconds,
            include_subdomains=settings.tls.hsts_include_subdomains,
        )
    # /metrics, and the timing of every request (outside every other middleware but the traces').
    metrics_runtime.install(app, settings)
    if tracing is not None:
        from parley.tracing.asgi import ServerSpans

        # Outermost: the access log line and every refusal are inside the request's server span.
        app.add_middleware(ServerSpans, tracer_provider=tracing.provider)
    return app


def _start_tracing(settings: Settings, exporter: SpanExporter | None) -> Tracing | None:
    if exporter is None and not settings.tracing.active:
        return None
    from parley.tracing.setup import Tracing

    return Tracing.start(
        settings.tracing,
        version=__version__,
        environment=settings.environment,
        region=settings.region,
        exporter=exporter,
    )


def _body_limits(settings: Settings) -> BodyLimits:
    """The largest body each route takes (HttpSettings); the upload route streams against the plan's limit."""
    kib = 1024
    return BodyLimits(
        default=settings.http.max_json_body_kib * kib,
        by_prefix={
            "/api/v1/auth/": settings.http.max_auth_body_kib * kib,
            "/api/v1/chat": settings.http.max_chat_body_kib * kib,
            "/v1/": settings.http.max_openai_body_kib * kib,
            "/api/v1/chat/upload": None,
            "/v1/files": None,  # read as a stream against its own limit (`batches.max_file_mib`)
        },
    )


def create_app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory parley.app:create_app_from_environment`."""
    settings = Settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    return create_app(settings)
