"""Builds and runs everything in one process: PTB, the web server (uvicorn) and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import timedelta

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application

from bot.delivery import undeliverable
from bot.loops import LoopLag, Supervised
from bot.out.outbox import Sender
from bot.out.transports.telegram import TelegramTransport
from bot.out.transports.twilio import SmsTransport, VoiceTransport, make_client
from bot.service import Service
from handlers.intake import Intake, poll_telegram, telegram_dispatcher
from handlers.telegram import commands as telegram_handlers
from handlers.twilio import webhooks as twilio_handlers
from handlers.web import routes as web
from models import inbound, kv
from models.conversations import escalation_count
from models.outbox import backlog, failed_since, outbox_gauges
from scheduling.jobs import rebuild as rebuild_schedules
from scheduling.lease import SchedulerLease
from scheduling.scheduler import build_scheduler

log = logging.getLogger(__name__)


def local_url(settings) -> str:
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
    return f"http://{host}:{settings.http_port}"


SEND_READ_TIMEOUT = 15.0  # seconds, like the Twilio transport's; the default of TETTPA_TELEGRAM_SEND_TIMEOUT


def build_application(token: str, api_url: str, read_timeout: float = SEND_READ_TIMEOUT) -> Application:
    return (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .updater(None)  # we poll ourselves, storing each batch before it is confirmed
        .rate_limiter(AIORateLimiter(max_retries=0))  # the outbox retries; the limiter only paces
        # PTB gives up on an answer after 5 s, but Telegram may still deliver what it was sent: the retry is
        # then a second copy nobody can take back. Waiting longer makes that rarer; it holds up only the
        # Telegram lane, which a Telegram this slow holds up anyway.
        .read_timeout(read_timeout)  # TETTPA_TELEGRAM_SEND_TIMEOUT
        .build()
    )


class Runtime:
    """Everything that runs beside the web server, started and stopped by its lifespan."""

    def __init__(self, service: Service):
        self.service = service
        settings = service.settings
        self.sandbox = None
        self.settles_heap = False  # `tettpa serve` sets it: see settle_heap()
        token, api_url = settings.telegram_token, settings.telegram_api_url
        if settings.sandbox:
            from bot.run.sandbox import Sandbox

            self.sandbox = Sandbox(service)
            token, api_url = self.sandbox.token, f"{local_url(settings)}/sandbox/telegram"
        self.application = (
            build_application(token, api_url, settings.telegram_send_timeout.total_seconds()) if token else None
        )
        transports = {}
        self.intake = Intake(service)
        if self.application is not None:
            telegram_handlers.register(self.application, service)
            transports["telegram"] = TelegramTransport(self.application.bot)
        if settings.twilio_enabled:
            client = make_client(settings)
            transports["sms"] = SmsTransport(client, settings)
            transports["call"] = VoiceTransport(client, settings)
            self.intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
            self.intake.dispatchers["status"] = twilio_handlers.status_dispatcher(service)
        if self.sandbox is not None:  # SMS to and from the Twilio stand-in, whatever credentials are set
            transports["sms"] = self.sandbox.sms_transport(local_url(settings))
            self.intake.dispatchers["sms"] = twilio_handlers.sms_dispatcher(service)
        self.sender = Sender(service, transports, on_permanent=undeliverable)
        service.wake_outbox = self.sender.kick
        self.scheduler = build_scheduler(service)
        self.lease = SchedulerLease(service, self.scheduler, ttl=settings.scheduler_lease,
                                    renew=settings.scheduler_lease_renew.total_seconds())
        if self.sandbox is not None:
            self.sandbox.scheduler, self.sandbox.sending = self.scheduler, True
        self.webhook_secret = hmac.new(
            settings.secret_key.encode(), b"telegram-webhook", hashlib.sha256
        ).hexdigest()
        self.telegram_state = "off" if self.application is None else "starting"
        self.tasks: list[asyncio.Task] = []
        self.lag = LoopLag()
        self.loops: dict[str, Supervised] = {
            "outbox": Supervised("outbox", self.sender.run),
            "intake": Supervised("intake", self.intake.run),
            "lease": Supervised("lease", self.lease.run),
        }
        if self.application is not None:
            self.loops["telegram"] = Supervised("telegram", self._telegram)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # The core queues sends from worker threads; the sender's wake-up is an asyncio event of this loop.
        self.service.wake_outbox = threadsafe(loop, self.sender.kick)
        # From now on a write transaction claims what it queues for this sender and hands it over.
        self.sender.loop = loop
        self.sender.closed = False  # started again after a stop
        self.service.taker = self.sender
        self.lag_task = asyncio.create_task(self.lag.run(), name="loop lag")
        if self.sandbox is not None:
            await self.service.run(self.sandbox.seed)
        # Today's and tomorrow's wake-up rows; what was missed while down is done by the sweep.
        await self.service.run(rebuild_schedules, self.scheduler, self.service)
        if self.settles_heap:
            settle_heap()
        # Paused until this process holds the scheduler lease (one scheduler per database).
        self.scheduler.start(paused=True)
        self.tasks = [asyncio.create_task(loop_.run(), name=name) for name, loop_ in self.loops.items()]

    async def _telegram(self) -> None:
        """Run the Telegram connection once; whatever ends it, /healthz says so, and its supervisor
        (bot/loops.py) starts it again after a back-off."""
        try:
            await self._connect_telegram()  # returns in webhook mode: Telegram calls us from now on
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Any error, not just Telegram's: a dead task with "starting" in /healthz would hide it.
            self.telegram_state = f"failing ({type(exc).__name__})"
            raise

    async def _connect_telegram(self) -> None:
        """Connect to Telegram, retrying until it answers, then poll or register the webhook."""
        settings, delay = self.service.settings, 1.0
        while not self.application._initialized:
            try:
                await self.application.initialize()
            except TelegramError as exc:
                self.telegram_state = f"unreachable ({type(exc).__name__})"
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        # Stored updates are handled from now on: PTB refuses to process any before initialize().
        self.intake.dispatchers["telegram"] = telegram_dispatcher(self.application)
        self.intake.kick()
        username = self.application.bot.username
        try:
            await self.service.write(lambda session: kv.put(session, "telegram_username", username))
            if settings.telegram_updates == "webhook" and not settings.sandbox:
                await self.application.bot.set_webhook(
                    url=f"{settings.public_url}/telegram/webhook", secret_token=self.webhook_secret,
                    allowed_updates=["message", "callback_query"],
                )
                self.telegram_state = "webhook"
                return
            await self.application.bot.delete_webhook()
        except Exception as exc:
            self.telegram_state = f"restarting ({type(exc).__name__})"
            raise
        self.telegram_state = "polling"
        await poll_telegram(self.service, self.application, self.intake, report=self._telegram_report)

    def _telegram_report(self, state: str) -> None:
        self.telegram_state = state

    async def stop(self) -> None:
        if self.service.taker is self.sender:
            self.service.taker = None  # what is queued from now on waits for the next sender as a pending row
        # A transaction that saw the sender running may commit after release_ready below: what it hands over
        # is released, not left claimed (and its chat waiting) until the lease runs out.
        self.sender.closed = True
        for task in [*self.tasks, getattr(self, "lag_task", None)]:
            if task is not None:
                task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.service.run(self.sender.release_ready)
        await asyncio.to_thread(self.sender.join_releases, 10.0)
        self.scheduler.shutdown(wait=False)
        with contextlib.suppress(Exception):
            await self.service.run(self.lease.release)
        if self.application is not None and self.application._initialized:
            with contextlib.suppress(Exception):
                await self.application.shutdown()

    async def metrics(self) -> dict[str, tuple[str, str, float]]:
        """Counters since start and gauges from the database (read in a worker thread, no write lock)."""

        def read(session):
            return (outbox_gauges(session, self.service.now()), escalation_count(session),
                    inbound.stuck_count(session), sum(inbound.parked(session).values()))

        gauges, escalated, stuck, parked = await self.service.read(read)
        return {
            "messages_in_total": ("counter", "Inbound items handled (updates, SMS, status callbacks).",
                                  self.intake.handled),
            "messages_out_total": ("counter", "Sends accepted by Telegram or Twilio.", self.sender.sent),
            "send_retries_total": ("counter", "Sends that failed and will be retried.", self.sender.retried),
            "send_failures_total": ("counter", "Sends given up for good.", self.sender.failed),
            "sends_found_total": ("counter", "Sends found at Twilio after a kill or timeout, so not repeated.",
                                  self.sender.found),
            "sends_unverified_total": ("counter", "Sends made again without a lookup at Twilio, after it failed "
                                       "TETTPA_LOOKUP_ATTEMPTS times (each may be a repeat).", self.sender.unverified),
            "escalations_total": ("counter", "Messages escalated to the second worker (all time).", escalated),
            "outbox_backlog": ("gauge", "Sends waiting or in flight.", gauges["backlog"]),
            "outbox_oldest_age_seconds": ("gauge", "Age of the oldest waiting send.", gauges["oldest_age"]),
            "inbound_stuck": ("gauge", "Inbound items that failed 5 times and are now tried every 10 minutes.",
                              stuck),
            "inbound_parked": ("gauge", "Inbound items that can never be handled, parked with their reason "
                                        "(see /healthz).", parked),
            "scheduler_leader": ("gauge", "1 if this process runs the scheduler.", int(self.lease.held)),
            "event_loop_lag_seconds": ("gauge", "The event loop's worst lag over the last 10 s: how long "
                                       "something held it.", round(self.lag.worst(), 4)),
            "loop_restarts_total": ("counter", "Background loops started again after they failed.",
                                    sum(loop_.restarts for loop_ in self.loops.values())),
        }

    async def status(self, database: bool = True) -> dict:
        """What /healthz shows besides the database; without a database, what needs one is unknown (None)."""
        pending = waiting = stuck = parked = failed = None
        if database:
            # The inbound backlog first: an item's sends commit with its handled mark, so on PostgreSQL (each
            # statement its own snapshot) an item counted as handled here has its sends in the count after.
            waiting, pending, stuck, parked, failed = await self.service.read(
                lambda session: (inbound.backlog(session), backlog(session), inbound.stuck_count(session),
                                 inbound.parked(session), failed_since(session, self.service.now() - timedelta(days=1))))
        return {
            "telegram": self.telegram_state,
            "twilio": "on" if self.service.settings.twilio_enabled else "off",
            "scheduler": ("leader" if self.lease.held else "standby") if self.scheduler.running else "stopped",
            "outbox_backlog": pending,
            # Stored inbound items not handled yet: a few for a moment; a number that grows means trouble.
            "inbound_backlog": waiting,
            # Stored inbound items that keep failing: still tried, every 10 minutes, but someone should look.
            "inbound_stuck": stuck,
            # Items that can never be handled (malformed), by reason: parked, not retried; someone should look.
            "inbound_parked": parked,
            # Sends given up for good in the last day (a relay to a worker among them is also reported).
            "outbox_failed": failed,
            "sandbox": self.sandbox is not None,
            # Each background loop: running, restarting (the error's kind) or done; and how often it restarted.
            "loops": {name: loop_.status() for name, loop_ in self.loops.items()},
            "event_loop_lag_seconds": round(self.lag.worst(), 4),
        }


def threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> Callable[[], None]:
    """`fn` called on `loop`, whichever thread calls the result."""

    def call() -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    return call


def create_app(runtime: Runtime) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes = list(web.routes) + twilio_handlers.routes
    from handlers.web import auth as web_auth
    from handlers.web import dashboard, dashboard_export, dashboard_import
    from handlers.web import oidc as web_oidc

    routes += dashboard.routes + dashboard_export.routes + dashboard_import.routes + web_auth.routes + web_oidc.routes
    if runtime.sandbox is not None:
        from handlers.web import sandbox as sandbox_pages

        routes += sandbox_pages.routes
        routes.append(Mount("/sandbox/telegram", app=runtime.sandbox.telegram.app))
        routes.append(Mount("/sandbox/twilio", app=runtime.sandbox.twilio.app))
    middleware = []
    if runtime.service.settings.public_url.lower().startswith("https://"):
        middleware.append(Middleware(web.StrictTransport))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.runtime = runtime
    return app


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Telegram's URLs carry the bot token.
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler.executors", "apscheduler.scheduler",
                  "twilio.http_client"):  # every Twilio request, headers and account in the URL, at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)


def settle_heap() -> None:
    """What start-up made (modules, mappers, caches, the day's planning) lives as long as the process: moved out
    of the collector's sight, so a full collection scans only what came after. Without it each one scanned
    ~200,000 objects, 75-140 ms of CPU (tracked with gc.callbacks in `tettpa serve` on a county's database),
    an idle service's largest single cost and a pause in whatever was being relayed."""
    gc.collect()  # garbage is not frozen with the rest
    gc.freeze()


def serve(service: Service) -> None:
    configure_logging(service.settings.log_level)
    # What the imports made stays: the full collections of start-up (seven, 740 ms of a county's 3.6 s start,
    # most while the day's wake-ups are planned) then scan only what came after it.
    gc.freeze()
    runtime = Runtime(service)
    runtime.settles_heap = True  # this process is the service's own (tests start many runtimes in one)
    settings = service.settings
    if runtime.sandbox is not None:
        log.info("no credentials: sandbox at %s/sandbox", local_url(settings))
    config = uvicorn.Config(
        create_app(runtime), host=settings.http_host, port=settings.http_port, access_log=False,
        log_level=settings.log_level.lower(), lifespan="on",
        # In the sandbox the bot's own long poll is a request to this server; don't wait it out.
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run()
