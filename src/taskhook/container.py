"""The composition root: one typed container, each dependency a cached property built on first
use (never at import, so a handler pays only for what its route needs). Handlers call
`container()`; tests that change the environment call `reset_container()`, which drops the
instance: there is no list of caches to keep in step.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from taskhook.config import CLIENT_POOL_SIZE, Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests
    from botocore.client import BaseClient
    from pynamodb.models import Model

    from taskhook.adapters.dynamo.connections import DynamoConnectionStore
    from taskhook.adapters.dynamo.expiry import LocalExpiry
    from taskhook.adapters.dynamo.idempotency import PowertoolsIdempotency
    from taskhook.adapters.dynamo.leases import DynamoLeaseStore
    from taskhook.adapters.dynamo.plans import DynamoPlanStore
    from taskhook.adapters.dynamo.rate_limits import DynamoRateLimiter
    from taskhook.adapters.dynamo.task_backfill import TeamPhaseBackfill
    from taskhook.adapters.dynamo.tasks import DynamoApiKeyRepository, DynamoTaskRepository
    from taskhook.adapters.dynamo.team_stats import DynamoTeamStats
    from taskhook.adapters.dynamo.tickets import DynamoTicketStore
    from taskhook.adapters.dynamo.vault import DynamoVaultStore
    from taskhook.adapters.kms import KmsCipher
    from taskhook.adapters.outbound import OutboundPolicy
    from taskhook.adapters.s3 import S3ObjectStore
    from taskhook.adapters.sqs import SqsMessages, SqsNotificationQueue, SqsTaskQueue
    from taskhook.dispatch.stream import ChangeFeed
    from taskhook.dispatch.sweep import Scheduler
    from taskhook.intake.api_keys import ApiKeyService
    from taskhook.intake.callbacks import CallbackService
    from taskhook.intake.client_tokens import ClientTokenService
    from taskhook.intake.function_tasks import FunctionTaskService
    from taskhook.intake.live_tickets import LiveTicketService
    from taskhook.intake.rate_limit import RateGate
    from taskhook.intake.stats import StatsService
    from taskhook.intake.tasks import TaskService
    from taskhook.intake.usage import UsageService
    from taskhook.intake.vault import VaultService
    from taskhook.model.outputs import DownloadLinks
    from taskhook.model.plan import PlanBook
    from taskhook.model.task import Task
    from taskhook.notify.access import CredentialCheck, LiveAccess
    from taskhook.notify.delivery import NotificationDeliverer
    from taskhook.notify.live import LiveFeed
    from taskhook.notify.resend import NotificationResender
    from taskhook.notify.secrets import TeamSecretsService
    from taskhook.notify.tickets import TicketRedeemer
    from taskhook.ports import ApiKey, TaskCounts
    from taskhook.run.executor import Executor
    from taskhook.run.functions.registry import Registry
    from taskhook.run.poll import Poller
    from taskhook.run.provider_outputs import ProviderOutputs
    from taskhook.run.shares import Shares
    from taskhook.run.vault import TokenResolver


class Container:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._clients: dict[str, BaseClient] = {}

    # ---- AWS clients: built one way, one per service ------------------------------------------

    def client(self, service: str) -> BaseClient:
        """The boto3 client for `service`, against AWS_ENDPOINT_URL when set (moto, LocalStack).
        S3 signs with SigV4 (presigned URLs of buckets made since 2020 accept nothing older); the
        WebSocket management API has its own endpoint."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            from taskhook.adapters.session import shared_session

            shared_session()

            kwargs: dict[str, Any] = {"region_name": self.settings.region,
                                      "config": Config(max_pool_connections=CLIENT_POOL_SIZE)}
            endpoint = self.settings.endpoint_url
            if service == "apigatewaymanagementapi":
                endpoint = self.settings.websocket_management_url or None
            if endpoint:
                kwargs["endpoint_url"] = endpoint
            if service == "s3":
                kwargs["config"] = kwargs["config"].merge(Config(signature_version="s3v4"))
            self._clients[service] = boto3.client(service, **kwargs)
        return self._clients[service]

    @cached_property
    def task_model(self) -> type[Model]:
        from taskhook.adapters.dynamo.tables import build_task_model

        cfg = self.settings
        return build_task_model(cfg.tasks_table, cfg.region, cfg.endpoint_url)

    @cached_property
    def api_key_model(self) -> type[Model]:
        from taskhook.adapters.dynamo.tables import build_api_key_model

        cfg = self.settings
        return build_api_key_model(cfg.api_keys_table, cfg.region, cfg.endpoint_url)

    # ---- adapters -----------------------------------------------------------------------------

    @cached_property
    def task_repository(self) -> DynamoTaskRepository:
        from taskhook.adapters.dynamo.tasks import DynamoTaskRepository

        return DynamoTaskRepository(self.task_model, retention_days=self.retention_days)

    def retention_days(self, team_id: str) -> int:
        """Days a finished task of the team is kept: its plan's retentionDays, else the deployment's
        (TASK_RETENTION_DAYS). Read through the plan cache when a task becomes terminal; a throttled
        Teams table with nothing cached gives the longest retention there is rather than fail the
        task's ending: a task kept too long costs a little storage, one deleted too early is lost."""
        from taskhook.model.errors import Busy
        from taskhook.model.retention import MAX_RETENTION_DAYS

        try:
            return self.plan_book.plan_of(team_id).retention_days or self.settings.retention_days
        except Busy:
            return MAX_RETENTION_DAYS

    @cached_property
    def team_stats(self) -> DynamoTeamStats:
        """Each team's task counts by status and usage per day (the TeamStats table)."""
        from taskhook.adapters.dynamo.team_stats import DynamoTeamStats

        return DynamoTeamStats(self.client("dynamodb"), self.settings.team_stats_table)

    @cached_property
    def local_expiry(self) -> LocalExpiry:
        """The local stack's TTL stand-in (infra/runner.py); never used on AWS, where TTL expires rows."""
        from taskhook.adapters.dynamo.expiry import LocalExpiry

        return LocalExpiry(self.client("dynamodb"), self.settings.tasks_table)

    @property
    def task_counts(self) -> TaskCounts:
        """ports.TaskCounts: the list's `pagination.total`, one GetItem of TeamStats (the counters the
        stream keeps, dispatch/counters.py), never a count of the rows."""
        return self.team_stats

    @cached_property
    def team_phase_backfill(self) -> TeamPhaseBackfill:
        """The one-off upgrade of old tasks items (`taskhook upgrade-tasks`, docs/upgrading.md)."""
        from taskhook.adapters.dynamo.task_backfill import TeamPhaseBackfill

        return TeamPhaseBackfill(self.client("dynamodb"), self.settings.tasks_table, self.retention_days)

    @cached_property
    def api_key_repository(self) -> DynamoApiKeyRepository:
        from taskhook.adapters.dynamo.tasks import DynamoApiKeyRepository

        return DynamoApiKeyRepository(self.api_key_model)

    @cached_property
    def outbound_policy(self) -> OutboundPolicy:
        from taskhook.adapters.outbound import OutboundPolicy

        return OutboundPolicy(allow=self.settings.outbound_allow, deny_ports=self.settings.outbound_deny_ports)

    @cached_property
    def outbound_sessions(self) -> Callable[[str], requests.Session]:
        """`outbound_sessions(team)`: the team's requests session for customer URLs (a connection pool
        of its own, adapters/http.py TeamSessions), every connection checked by the outbound policy."""
        from taskhook.adapters.http import TeamSessions

        return TeamSessions(self.outbound_policy)

    @cached_property
    def task_queue(self) -> SqsTaskQueue:
        from taskhook.adapters.sqs import SqsTaskQueue
        from taskhook.model.lanes import Lane

        cfg = self.settings
        urls = {Lane.HIGH: cfg.queue_high_url, Lane.NORMAL: cfg.queue_normal_url, Lane.LOW: cfg.queue_low_url}
        return SqsTaskQueue(self.client("sqs"), urls)

    @cached_property
    def sqs_messages(self) -> SqsMessages:
        from taskhook.adapters.sqs import SqsMessages

        cfg = self.settings
        return SqsMessages(self.client("sqs"), (cfg.queue_high_url, cfg.queue_normal_url, cfg.queue_low_url,
                                                cfg.dlq_url))

    @cached_property
    def stats_service(self) -> StatsService:
        """GET /v1/stats: counts, tasks finished per minute, queue depths."""
        from taskhook.adapters.sqs import SqsQueueDepths
        from taskhook.intake.stats import StatsService

        cfg = self.settings
        urls = {"high": cfg.queue_high_url, "normal": cfg.queue_normal_url, "low": cfg.queue_low_url,
                "deadLetter": cfg.dlq_url}
        return StatsService(self.team_stats, SqsQueueDepths(self.client("sqs"), urls))

    @cached_property
    def notification_queue(self) -> SqsNotificationQueue:
        from taskhook.adapters.sqs import SqsNotificationQueue

        return SqsNotificationQueue(self.client("sqs"), self.settings.notifications_queue_url)

    @cached_property
    def object_store(self) -> S3ObjectStore:
        from taskhook.adapters.s3 import S3ObjectStore

        return S3ObjectStore(self.client("s3"), self.settings.outputs_bucket)

    @cached_property
    def idempotency(self) -> PowertoolsIdempotency:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        from taskhook.adapters.dynamo.idempotency import PowertoolsIdempotency

        persistence = DynamoDBPersistenceLayer(table_name=self.settings.idempotency_table,
                                               boto3_client=self.client("dynamodb"))
        return PowertoolsIdempotency(persistence)

    @cached_property
    def cipher(self) -> KmsCipher:
        """Secrets at rest: encrypted with the template's KMS key (SecretsKey)."""
        from taskhook.adapters.kms import KmsCipher

        return KmsCipher(self.client("kms"), self.settings.secrets_key_id)

    @cached_property
    def connections(self) -> DynamoConnectionStore:
        from taskhook.adapters.dynamo.connections import DynamoConnectionStore

        return DynamoConnectionStore(self.client("dynamodb"), self.settings.connections_table)

    # ---- plans (the API's rate limits and the executor's shares read them) ----------------------

    @cached_property
    def plan_store(self) -> DynamoPlanStore:
        from taskhook.adapters.dynamo.plans import DynamoPlanStore

        return DynamoPlanStore(self.client("dynamodb"), self.settings.teams_table)

    @cached_property
    def plan_book(self) -> PlanBook:
        """Each team's plan in force (its own values, else the deployment's defaults), cached briefly."""
        from taskhook.model.plan import PlanBook, TeamPlan

        cfg = self.settings
        defaults = TeamPlan(rps=cfg.default_rps or None, burst=cfg.default_burst or None,
                            concurrency=cfg.default_concurrency or None, retention_days=cfg.retention_days)
        return PlanBook(self.plan_store.load, defaults)

    @cached_property
    def rate_limiter(self) -> DynamoRateLimiter:
        """Token buckets on the Limits table (a team's API requests; a team's calls to one host)."""
        from taskhook.adapters.dynamo.rate_limits import DynamoRateLimiter

        return DynamoRateLimiter(self.client("dynamodb"), self.settings.limits_table)

    @cached_property
    def rate_gate(self) -> RateGate:
        """Every authenticated REST request's team rate limit (functions/auth.py)."""
        from taskhook.intake.rate_limit import RateGate

        return RateGate(self.plan_book, self.rate_limiter)

    # ---- intake -------------------------------------------------------------------------------

    @cached_property
    def task_service(self) -> TaskService:
        from taskhook.intake.tasks import TaskService
        from taskhook.intake.vault import check_references

        def check_tokens(team_id: str, headers: dict[str, str], host: str | None) -> None:
            # called only for a task that names a token: the Vault table's client is built then
            check_references(self.vault_store, team_id, headers, host)

        return TaskService(self.task_repository, outbound=self.outbound_policy, check_tokens=check_tokens,
                           counts=self.task_counts, queue=self.task_queue)

    @cached_property
    def usage_service(self) -> UsageService:
        """GET /v1/usage: a team's usage per day from TeamStats."""
        from taskhook.intake.usage import UsageService

        return UsageService(self.team_stats)

    @cached_property
    def callback_service(self) -> CallbackService:
        """Finishing waiting tasks: their callback URL, or POST /v1/tasks/{id}/complete."""
        from taskhook.intake.callbacks import CallbackService

        return CallbackService(self.task_repository)

    @cached_property
    def vault_store(self) -> DynamoVaultStore:
        from taskhook.adapters.dynamo.vault import DynamoVaultStore

        return DynamoVaultStore(self.client("dynamodb"), self.settings.vault_table)

    @cached_property
    def vault_service(self) -> VaultService:
        """The Token Vault's API side: values sealed with the template's KMS key (SecretsKey)."""
        from taskhook.intake.vault import VaultService

        return VaultService(self.vault_store, self.cipher)

    @cached_property
    def task_registry(self) -> Registry:
        """The function tasks of the modules TASKHOOK_TASK_MODULES lists, imported on first use."""
        from taskhook.run.functions.registry import load_task_modules

        return load_task_modules(self.settings.task_modules)

    @cached_property
    def function_task_service(self) -> FunctionTaskService:
        from taskhook.intake.function_tasks import FunctionTaskService

        return FunctionTaskService(self.task_repository, self.task_registry, outbound=self.outbound_policy,
                                   queue=self.task_queue)

    @cached_property
    def api_key_service(self) -> ApiKeyService:
        from taskhook.intake.api_keys import ApiKeyService

        return ApiKeyService(self.api_key_repository, on_revoke=self._end_live_connections)

    @cached_property
    def client_token_service(self) -> ClientTokenService:
        from taskhook.intake.client_tokens import ClientTokenService

        return ClientTokenService(self.api_key_repository, on_revoke=self._end_live_connections)

    @cached_property
    def ticket_store(self) -> DynamoTicketStore:
        """WebSocket tickets: rows of the API keys table (adapters/dynamo/tickets.py says why)."""
        from taskhook.adapters.dynamo.tickets import DynamoTicketStore

        return DynamoTicketStore(self.client("dynamodb"), self.settings.api_keys_table)

    @cached_property
    def live_tickets(self) -> LiveTicketService:
        from taskhook.intake.live_tickets import LiveTicketService

        return LiveTicketService(self.ticket_store, self.settings.websocket_url)

    def _end_live_connections(self, credential: ApiKey) -> int:
        """A revoked key or token: its WebSocket connections end now, in whichever process revokes."""
        return self.live_feed.end_connections_of(credential)

    @cached_property
    def download_links(self) -> DownloadLinks:
        from taskhook.model.outputs import DownloadLinks

        return DownloadLinks(lambda: self.object_store, self.settings.download_url_ttl)

    # ---- dispatch and run ---------------------------------------------------------------------

    @cached_property
    def scheduler(self) -> Scheduler:
        from taskhook.dispatch.sweep import Scheduler

        return Scheduler(self.task_repository, self.task_queue, claim_margin=self.settings.claim_margin)

    @cached_property
    def change_feed(self) -> ChangeFeed:
        from taskhook.dispatch.counters import TeamCounters
        from taskhook.dispatch.expired_objects import ExpiredObjects
        from taskhook.dispatch.outbox import TaskOutbox
        from taskhook.dispatch.stream import ChangeFeed
        from taskhook.notify.changes import NotificationFanout

        return ChangeFeed([TaskOutbox(self.task_queue), NotificationFanout(self.notification_queue), self.live_feed],
                          removal_consumers=[ExpiredObjects(self.object_store)],
                          counters=TeamCounters(self.team_stats))

    @cached_property
    def executor(self) -> Executor:
        from taskhook.adapters.http import call_target
        from taskhook.model.attempt import Attempt
        from taskhook.model.errors import Busy
        from taskhook.run.executor import Executor, target_headers
        from taskhook.run.functions.runner import FunctionRunner
        from taskhook.run.vault import TokenUnavailable

        sessions = self.outbound_sessions

        def call(task: Task, timeout: float) -> Any:
            headers = target_headers(task)
            try:
                headers = self.resolved_headers(task, headers)
            except TokenUnavailable as exc:
                return Attempt(None, error=exc.message, blocked=True)  # final: no request made
            except Busy:
                return Attempt(None, error="token vault busy (throttled); retrying")
            return call_target(sessions(task.teamId), task.method, task.targetUrl or "", headers, task.body, timeout)

        functions = FunctionRunner(self.task_registry, progress=self.task_repository, outputs=self.object_store,
                                   interval=self.settings.progress_interval, http=sessions)
        return Executor(self.task_repository, call, bodies=self.object_store, claim_margin=self.settings.claim_margin,
                        functions=functions, shares=self.shares, public_url=self.settings.public_url,
                        poller=self.poller)

    def resolved_headers(self, task: Task, headers: dict[str, str]) -> dict[str, str]:
        """`headers` as sent: `tok_…` references replaced by their secrets, only here, just before a
        request (the submit, a poll, an output download: each to the origin of the task's
        `targetUrl`, whose host a token's `hosts` must allow). Without references, nothing is
        built: no vault read, no KMS client. Raises TokenUnavailable or Busy (run/vault.py)."""
        from taskhook.model.tokens import references
        from taskhook.model.urls import target_host

        if not references(headers):
            return headers
        return self.token_resolver.resolve(task.teamId, headers, target_host(task.targetUrl))

    @cached_property
    def poller(self) -> Poller:
        """A provider job's polls (run/poll.py): through the guarded session; the task's headers (tok_
        resolved) only to its submit URL's origin; outputs copied at completion."""
        from taskhook.adapters.http import call_target
        from taskhook.model.polling import PollSpec
        from taskhook.run.poll import Poller

        sessions = self.outbound_sessions

        def fetch(team: str, method: str, url: str, headers: dict[str, str], timeout: float) -> Any:
            return call_target(sessions(team), method, url, headers, None, timeout)

        def resolve(task: Task) -> dict[str, str]:
            return self.resolved_headers(task, dict(task.headers))

        def copy_outputs(task: Task, result: Any, spec: PollSpec,
                         time_left: Callable[[], float]) -> list[dict[str, Any]]:
            return self.provider_outputs.copy(task, result, spec, time_left)

        return Poller(self.task_repository, fetch, resolve, copy_outputs, results=self.object_store)

    @cached_property
    def provider_outputs(self) -> ProviderOutputs:
        """A provider task's output files copied into the outputs bucket at completion: downloaded
        through the guarded session; the task's headers (tok_ resolved) only to its submit URL's origin."""
        from taskhook.adapters.downloads import SessionDownloader
        from taskhook.model.limits import MAX_OUTPUT_REDIRECTS
        from taskhook.run.provider_outputs import ProviderOutputs

        def headers(task: Task) -> dict[str, str]:
            return self.resolved_headers(task, dict(task.headers))

        return ProviderOutputs(self.object_store, SessionDownloader(self.outbound_sessions, MAX_OUTPUT_REDIRECTS),
                               headers)

    @cached_property
    def lease_store(self) -> DynamoLeaseStore:
        from taskhook.adapters.dynamo.leases import DynamoLeaseStore

        return DynamoLeaseStore(self.client("dynamodb"), self.settings.limits_table)

    @cached_property
    def shares(self) -> Shares:
        """The gate before a claim: each team's executor share and its per-destination limits."""
        from taskhook.run.shares import Shares

        return Shares(self.plan_book.plan_of, self.lease_store, self.rate_limiter)

    @cached_property
    def token_resolver(self) -> TokenResolver:
        """`tok_…` headers resolved just before a call: the row read each time, the decryption cached."""
        from taskhook.run.vault import TokenResolver

        return TokenResolver(self.vault_store, self.cipher)

    # ---- notify -------------------------------------------------------------------------------

    @cached_property
    def team_secrets(self) -> TeamSecretsService:
        from taskhook.adapters.dynamo.team_secrets import DynamoSecretStore
        from taskhook.notify.secrets import TeamSecretsService

        store = DynamoSecretStore(self.client("dynamodb"), self.settings.teams_table, self.cipher)
        return TeamSecretsService(store)

    @cached_property
    def notification_resender(self) -> NotificationResender:
        """POST /v1/tasks/{id}/notifications/{notification_id}/resend."""
        from taskhook.adapters.dynamo.notification_log import DynamoNotificationLog
        from taskhook.notify.resend import NotificationResender

        return NotificationResender(self.task_repository, DynamoNotificationLog(self.task_model),
                                    self.notification_queue)

    @cached_property
    def deliverer(self) -> NotificationDeliverer:
        from taskhook.adapters.dynamo.notification_log import DynamoNotificationLog
        from taskhook.adapters.http import call_target
        from taskhook.notify.delivery import NotificationDeliverer

        sessions = self.outbound_sessions
        ttl = self.settings.download_url_ttl

        def post(team: str, url: str, headers: dict[str, str], body: str, timeout: float) -> Any:
            return call_target(sessions(team), "POST", url, headers, body, timeout)

        return NotificationDeliverer(
            post=post, secrets_for=self.team_secrets.signing_keys,
            log=DynamoNotificationLog(self.task_model),
            presign=lambda key: str(self.object_store.presigned_url(key, ttl)),
        )

    @cached_property
    def live_feed(self) -> LiveFeed:
        from taskhook.adapters.apigateway import ApiGatewayPusher
        from taskhook.notify.live import LiveFeed

        return LiveFeed(self.connections, ApiGatewayPusher(self.client("apigatewaymanagementapi")),
                        self.credential_check)

    @cached_property
    def credential_check(self) -> CredentialCheck:
        from taskhook.notify.access import CredentialCheck

        return CredentialCheck(self.api_key_repository)

    @cached_property
    def ticket_redeemer(self) -> TicketRedeemer:
        from taskhook.notify.tickets import TicketRedeemer

        return TicketRedeemer(self.ticket_store, self.credential_check)

    @cached_property
    def live_access(self) -> LiveAccess:
        from taskhook.notify.access import LiveAccess

        return LiveAccess(self.task_repository, self.connections, self.credential_check, self.live_feed,
                          admit=self.rate_gate.check)


_current: Container | None = None


def container() -> Container:
    """The process's container, made on first use from the environment."""
    global _current
    if _current is None:
        _current = Container()
    return _current


def reset_container() -> None:
    """Drop the container: the next `container()` reads the environment again and builds anew."""
    global _current
    _current = None
