"""``stent-desk``: serve, migrate, load demo data, and inspect or signal executions."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import io
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app import cli_output as out
from app.engine import ExecutionNotFound, ExecutionState, SignalValidationError, Stent
from app.settings import Settings, example_modules

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
STATES = ("pending", "running", "completed", "failed", "cancelled")
DEMO_SETTLE_SECONDS = 5.0
CLI_REVOKER = "stent-desk sessions"  # recorded as who revoked, where a page records an email

# Executions `demo` starts: (workflow, args, initiator). Realistic enough to click through.
DEMO: tuple[tuple[str, list[Any], dict[str, str]], ...] = (
    ("workflows.approval.approval_workflow", ["REQ-2041"], {"email": "marketing@example.com"}),
    ("workflows.approval.approval_workflow", ["REQ-2042"], {"email": "hr@example.com"}),
    (
        "workflows.purchase_approval.purchase_approval",
        [
            {
                "item": "Standing desk",
                "amount": 640.0,
                "currency": "EUR",
                "requester": "ana@example.com",
            }
        ],
        {"email": "ana@example.com"},
    ),
    (
        "workflows.purchase_approval.purchase_approval",
        [
            {
                "item": "Build servers for CI",
                "amount": 18500.0,
                "currency": "EUR",
                "requester": "li@example.com",
            }
        ],
        {"email": "li@example.com"},
    ),
    (
        "workflows.multi_step_approval.multi_step_approval",
        [
            {
                "id": "DOC-311",
                "title": "Vendor contract: Acme Cloud 2025",
                "url": "https://docs.example.com/contracts/311",
            }
        ],
        {"email": "legal@example.com"},
    ),
    (
        "workflows.multi_step_approval.multi_step_approval",
        [
            {
                "id": "DOC-312",
                "title": "Travel policy 2025",
                "url": "https://docs.example.com/policies/312",
            }
        ],
        {"email": "people@example.com"},
    ),
    ("workflows.order_fulfillment.order_fulfillment", ["ORD-10482"], {"email": "shop@example.com"}),
    ("workflows.order_fulfillment.order_fulfillment", ["ORD-10483"], {"email": "shop@example.com"}),
    (
        "workflows.approval_with_timeout.approval_with_timeout",
        ["REQ-2043", 48],
        {"email": "sam@example.com"},
    ),
    (
        "workflows.approval_with_timeout.approval_with_signal_timeout",
        ["REQ-2044", 24],
        {"email": "ops@example.com"},
    ),
    (
        "workflows.webhook_processor.webhook_processor",
        [{"source": "payments", "endpoint": "/hooks/payments"}],
        {"email": "billing@example.com"},
    ),
    (
        "workflows.webhook_processor.webhook_processor",
        [{"source": "crm", "endpoint": "/hooks/crm"}],
        {"email": "sales@example.com"},
    ),
)


class UsageError(Exception):
    """A bad setting, argument or module: the command cannot start (exit status 2)."""


def load_workflows(modules: Sequence[str]) -> None:
    """Import the workflow modules so their durable functions are registered."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(f"cannot import workflow module {module!r}: {exc}") from exc


def executor(settings: Settings, *, run_worker: bool) -> Stent:
    """A ``Stent`` executor configured by the settings (a worker, or a client)."""
    try:
        return Stent(
            settings.database_url,
            max_signal_bytes=settings.max_signal_bytes,
            sqlite_synchronous=settings.sqlite_synchronous,
            run_worker=run_worker,
            lease_seconds=settings.lease_seconds,
            pool_size=settings.database_pool_size,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def display_url(url: str) -> str:
    """The database URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the dashboard (and run the executor in-process) until SIGINT or SIGTERM."""
    from app.server import serve as serve_app
    from app.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-start chatter is noise
    load_workflows(settings.workflow_modules)
    try:
        app = create_app(settings, executor(settings, run_worker=True))
    except ValueError as exc:  # a refused production configuration
        raise UsageError(str(exc)) from exc
    print(
        f"Stent Desk on http://{settings.host}:{settings.port} "
        f"({display_url(settings.database_url)}); Ctrl-C to stop",
        flush=True,
    )
    await serve_app(app, settings.host, settings.port, settings.trusted_proxies)
    print("Stent Desk stopped", flush=True)
    return 0


async def migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the database schema to the head revision."""
    async with executor(settings, run_worker=False):
        pass
    print(f"{display_url(settings.database_url)} is at the head revision")
    return 0


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Start a few executions of each example workflow and let them reach their waits."""
    load_workflows((*settings.workflow_modules, *example_modules()))  # examples even if unset
    rows = []
    async with executor(settings, run_worker=True) as stent:
        for workflow, arguments, initiator in DEMO:
            eid = await stent.start_execution(workflow, args=arguments, initiator=initiator)
            state = await settle(stent, eid, DEMO_SETTLE_SECONDS)
            rows.append((eid, workflow, ", ".join(w.name for w in state.waiting_on) or "-"))
    print(out.table(("ID", "WORKFLOW", "WAITING ON"), rows))
    print(f"\nStarted {len(rows)} executions; `stent-desk serve` resumes them.")
    return 0


async def settle(stent: Stent, eid: str, timeout: float) -> ExecutionState:
    """Poll until the execution waits for a signal or finished (or ``timeout`` passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        state = await stent.state_of(eid)
        if state.waiting_on or state.finished or loop.time() >= deadline:
            return state
        await asyncio.sleep(0.05)


async def list_executions(args: argparse.Namespace, settings: Settings) -> int:
    """Print executions, newest first, as an aligned table."""
    async with executor(settings, run_worker=False) as stent:
        page = await stent.list_executions(
            state=args.state, workflow=args.workflow, waiting=args.waiting, limit=args.limit
        )
    print(out.executions_table(page.items))
    return 0


async def list_workers(args: argparse.Namespace, settings: Settings) -> int:
    """Print the worker processes sharing the database (replicas, restarts, takeovers)."""
    async with executor(settings, run_worker=False) as stent:
        items = await stent.workers()
    print(out.workers_table(items) if items else "No worker process is running.")
    return 0


async def sessions(args: argparse.Namespace, settings: Settings) -> int:
    """Print the live sessions of the dashboard, or end every session of one person."""
    from app.web.sessions import SessionStore
    from app.web.users import UserStore

    async with executor(settings, run_worker=False) as stent:  # migrated, and its clock
        users = UserStore(settings.database_url)
        store = SessionStore(users.engine)
        try:
            if args.revoke:
                count = await store.revoke_person(args.revoke, stent.clock(), CLI_REVOKER)
                print(f"Revoked {count} session{'' if count == 1 else 's'} of {args.revoke}")
                return 0
            records = await store.active(
                stent.clock(), settings.session_idle_timeout, settings.session_absolute_timeout
            )
        finally:
            await users.close()
    print(out.sessions_table(records) if records else "Nobody is logged in.")
    return 0


async def show(args: argparse.Namespace, settings: Settings) -> int:
    """Print one execution with its steps, open waits and signals."""
    async with executor(settings, run_worker=False) as stent:
        try:
            state = await stent.state_of(args.id)
        except ExecutionNotFound as exc:
            return fail(str(exc))
        steps = await stent.steps_of(args.id)
        signals = await stent.signals_of(args.id)
    print(out.execution_text(state))
    print(out.section("Steps", out.steps_table(steps), not steps))
    print(out.section("Open waits", out.waits_table(state.waiting_on), not state.waiting_on))
    print(out.section("Signals", out.signals_table(signals), not signals))
    return 0


async def send(args: argparse.Namespace, settings: Settings) -> int:
    """Send a signal to an execution as a client; print the receipt."""
    try:
        payload = json.loads(args.json)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--json is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise UsageError("--json is nested too deeply") from exc
    load_workflows(settings.workflow_modules)  # their declared signal schemas validate too
    sender = None if args.sender_email is None else {"email": args.sender_email}
    async with executor(settings, run_worker=False) as stent:
        try:
            receipt = await stent.send_signal(
                args.id, args.name, payload, sender=sender, idempotency_key=args.idempotency_key
            )
        except ValueError as exc:
            errors = exc.errors if isinstance(exc, SignalValidationError) else {}
            return fail(str(exc), errors)
    print(out.receipt_text(receipt))
    return 0


def fail(message: str, errors: dict[str, list[str]] | None = None) -> int:
    """Print ``error: message`` and each field's errors to stderr; exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    for path, messages in (errors or {}).items():
        for text in messages:
            print(f"  {path or '(payload)'}: {text}", file=sys.stderr)
    return 1


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand per command, each with ``--database-url``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="overrides STENT_DATABASE_URL")
    parser = argparse.ArgumentParser(prog="stent-desk", description=__doc__)
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    def command(name: str, fn: Command, help: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, parents=[common], help=help, description=help)
        cmd.set_defaults(command=fn)
        return cmd

    command("serve", serve, "run the worker until interrupted")
    command("migrate", migrate, "bring the database to the head revision")
    command("demo", demo, "start a few executions of each example workflow")
    lister = command("list", list_executions, "list executions, newest first")
    lister.add_argument("--state", choices=STATES)
    lister.add_argument("--workflow", help="full workflow name, e.g. workflows.approval.approval")
    waiting = lister.add_mutually_exclusive_group()
    waiting.add_argument("--waiting", dest="waiting", action="store_const", const=True)
    waiting.add_argument("--not-waiting", dest="waiting", action="store_const", const=False)
    lister.add_argument("--limit", type=positive_int, default=50)
    command("workers", list_workers, "list the worker processes sharing the database")
    sessioner = command("sessions", sessions, "list live sessions, or revoke a person's")
    sessioner.add_argument(
        "--revoke", metavar="PERSON", help="end every session of this email or subject"
    )
    shower = command("show", show, "show an execution, its steps, waits and signals")
    shower.add_argument("id")
    sender = command("signal", send, "send a signal to an execution")
    sender.add_argument("id")
    sender.add_argument("name")
    sender.add_argument("--json", required=True, metavar="PAYLOAD", help="the payload as JSON")
    sender.add_argument("--idempotency-key")
    sender.add_argument("--sender-email")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stent-desk`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    run: Command = args.command
    for stream in (sys.stdout, sys.stderr):  # a stored value that is not text still prints
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        return asyncio.run(run(args, settings_for(args)))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def settings_for(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with ``--database-url`` taking precedence."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.database_url:
        settings = dataclasses.replace(settings, database_url=args.database_url)
    return settings


if __name__ == "__main__":
    raise SystemExit(main())
