"""``imagewatch emulator``: serve the HSS emulator on 127.0.0.1 until SIGINT or SIGTERM.

The first line on stdout is the base URL (``http://127.0.0.1:PORT``), flushed as soon as the server
accepts connections, so scripts and tests can wait for it. With ``--print-env`` the lines that point
``imagewatch run`` at it follow on stdout (``export HSS_ENDPOINT=…``, every enterprise project
included: issue 14). Status goes to stderr, never a secret: only the documented demo credentials are
ever printed, and only in those lines.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from imagewatch.emulator.auth import (
    DEFAULT_TOKEN_LIFETIME_S,
    DEMO_AK,
    DEMO_IAM_DOMAIN,
    DEMO_IAM_PASSWORD,
    DEMO_IAM_USER,
    DEMO_PROJECT_ID,
    DEMO_SK,
    DEMO_TOKEN,
    Credentials,
)
from imagewatch.emulator.faults import Faults
from imagewatch.emulator.filters import ALL_ENTERPRISE_PROJECTS, DEFAULT_SEMANTICS, SEMANTICS
from imagewatch.emulator.fleet import DEFAULT_FLEET_SIZE, Fleet
from imagewatch.emulator.server import Emulator, check_loopback
from imagewatch.emulator.synthetic import DEFAULT_EP_CYCLE
from imagewatch.terminal import safe_output


def _pair(text: str, what: str) -> tuple[int, int]:
    """``K:M`` as two integers."""
    first, sep, second = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(first), int(second)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: got {text!r}, expected K:M (two integers)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagewatch emulator", description=__doc__.splitlines()[0])
    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed on stdout)")
    net.add_argument(
        "--print-env",
        action="store_true",
        help="after the URL, print the shell lines that point imagewatch at this emulator (stdout)",
    )
    fleet = parser.add_argument_group("fleet")
    fleet.add_argument("--fleet-size", type=int, default=DEFAULT_FLEET_SIZE, help="synthetic records")
    fleet.add_argument("--seed", type=int, default=0, help="synthetic fleet seed (same seed, same records)")
    fleet.add_argument(
        "--now-ms", type=int, default=None, help="the synthetic fleet's 'now' (default: today 00:00Z)"
    )
    fleet.add_argument(
        "--enterprise-projects",
        default=",".join(DEFAULT_EP_CYCLE),
        help="comma-separated cycle of enterprise project ids hosts belong to (default: 60%% in '0')",
    )
    fleet.add_argument("--fleet-file", help="serve records from this JSON file instead of a synthetic fleet")
    fleet.add_argument(
        "--semantics",
        choices=sorted(SEMANTICS),
        default=DEFAULT_SEMANTICS.name,
        help="filter semantics where the API page is silent: doc (default) or sdk (the SDK docstrings)",
    )
    creds = parser.add_argument_group("credentials (defaults are the documented demo ones)")
    creds.add_argument("--project-id", default=DEMO_PROJECT_ID)
    creds.add_argument("--ak", default=DEMO_AK)
    creds.add_argument("--sk", default=DEMO_SK)
    creds.add_argument("--security-token", default=None, help="require this X-Security-Token with the AK/SK")
    creds.add_argument("--token", action="append", default=None, help="accepted X-Auth-Token (repeatable)")
    creds.add_argument("--iam-user", default=DEMO_IAM_USER)
    creds.add_argument("--iam-password", default=DEMO_IAM_PASSWORD)
    creds.add_argument("--iam-domain", default=DEMO_IAM_DOMAIN)
    creds.add_argument("--token-lifetime", type=float, default=DEFAULT_TOKEN_LIFETIME_S, help="seconds")
    faults = parser.add_argument_group("faults (counted in ListImageLocal requests; see docs/emulator.md)")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    faults.add_argument("--throttle", type=int, default=0, metavar="N", help="first N requests get 429")
    faults.add_argument(
        "--retry-after", type=int, default=None, metavar="S", help="Retry-After on those 429s"
    )
    faults.add_argument("--error", action="append", default=[], metavar="STATUS:N", help="N answers of 5xx")
    faults.add_argument("--slow", action="append", default=[], metavar="SECONDS:N", help="N answers delayed")
    faults.add_argument("--reset", type=int, default=0, metavar="N", help="N connections reset, no answer")
    faults.add_argument("--malformed", type=int, default=0, metavar="N", help="N answers with broken JSON")
    faults.add_argument(
        "--corrupt-offset", type=int, default=None, metavar="OFFSET", help="vul_num='many' there"
    )
    faults.add_argument("--expire-token-after", type=int, default=None, metavar="K")
    faults.add_argument(
        "--insert-after", default=None, metavar="K:M", help="after answer K insert M at front"
    )
    faults.add_argument(
        "--delete-after", default=None, metavar="K:M", help="after answer K delete M at front"
    )
    faults.add_argument("--fault", action="append", default=[], metavar="JSON", help="any fault spec as JSON")
    return parser


def export_lines(url: str, credentials: Credentials) -> list[str]:
    """Shell lines that point ``imagewatch run`` at the emulator at ``url``: the endpoint, the project,
    every enterprise project (``all_granted_eps``: without it HSS lists the default project only, 60% of
    the default synthetic fleet) and one way to authenticate. A documented demo credential is printed
    as it is; any other secret only by the flag it came from (a secret is never printed)."""

    def secret(variable: str, value: str | None, demo: str, flag: str) -> str:
        if value == demo:
            return f"export {variable}={shlex.quote(value)}"
        return f"# export {variable}=…  (the {flag} you gave: a secret is not printed)"

    lines = [
        f"export HSS_ENDPOINT={shlex.quote(url)}",
        f"export HSS_PROJECT_ID={shlex.quote(credentials.project_id)}",
        f"export HSS_ENTERPRISE_PROJECT_ID={ALL_ENTERPRISE_PROJECTS}",
    ]
    if credentials.access_key and credentials.secret_key:
        used = ["HSS_AK", "HSS_SK"]
        lines.append(f"export HSS_AK={shlex.quote(credentials.access_key)}")
        lines.append(secret("HSS_SK", credentials.secret_key, DEMO_SK, "--sk"))
        if credentials.security_token:
            used.append("HSS_SECURITY_TOKEN")
            lines.append(secret("HSS_SECURITY_TOKEN", credentials.security_token, "", "--security-token"))
    elif credentials.tokens:
        used = ["HSS_AUTH_TOKEN"]
        lines.append(secret("HSS_AUTH_TOKEN", credentials.tokens[0], DEMO_TOKEN, "--token"))
    elif credentials.iam_user and credentials.iam_password and credentials.iam_domain:
        used = ["HSS_IAM_USER", "HSS_IAM_PASSWORD", "HSS_IAM_DOMAIN", "HSS_IAM_ENDPOINT"]
        lines.append(f"export HSS_IAM_USER={shlex.quote(credentials.iam_user)}")
        lines.append(
            secret("HSS_IAM_PASSWORD", credentials.iam_password, DEMO_IAM_PASSWORD, "--iam-password")
        )
        lines.append(f"export HSS_IAM_DOMAIN={shlex.quote(credentials.iam_domain)}")
        lines.append(f"export HSS_IAM_ENDPOINT={shlex.quote(url)}")
    else:
        used = []
        lines.append("# no credentials: give --ak/--sk, --token or the --iam-* flags")
    from imagewatch.settings import CREDENTIAL_VARIABLES

    # those one flow does not use: left set in a shell, they could win over the ones printed
    unused = [name for name in CREDENTIAL_VARIABLES if name not in used]
    return [*lines, f"unset {' '.join(unused)}"]


def build_faults(args: argparse.Namespace) -> Faults:
    """The startup fault plan from the flags."""
    plan = Faults(latency_ms=args.latency_ms)
    if args.throttle:
        plan.throttle(args.throttle, retry_after=args.retry_after)
    for spec in args.error:
        status, times = _pair(spec, "--error")
        plan.error(status, times)
    for spec in args.slow:
        seconds, _, times = spec.partition(":")
        plan.slow(float(seconds), int(times or 1))
    if args.reset:
        plan.reset(args.reset)
    if args.malformed:
        plan.malformed(args.malformed)
    if args.corrupt_offset is not None:
        plan.corrupt(args.corrupt_offset, times=None)
    if args.expire_token_after is not None:
        plan.expire_token_after(args.expire_token_after)
    for flag, kind in ((args.insert_after, "insert"), (args.delete_after, "delete")):
        if flag is not None:
            after, count = _pair(flag, f"--{kind}-after")
            plan.mutate_after(after, **{kind: count})
    for raw in args.fault:
        plan.arm(json.loads(raw))
    return plan


def build_emulator(args: argparse.Namespace) -> Emulator:
    if args.fleet_file:
        fleet = Fleet.load(args.fleet_file)
    else:
        projects = [ep.strip() for ep in args.enterprise_projects.split(",") if ep.strip()]
        fleet = Fleet.synthetic(args.fleet_size, args.seed, now_ms=args.now_ms, enterprise_projects=projects)
    credentials = Credentials(
        project_id=args.project_id,
        access_key=args.ak or None,
        secret_key=args.sk or None,
        security_token=args.security_token,
        tokens=tuple(args.token) if args.token is not None else (DEMO_TOKEN,),
        iam_user=args.iam_user or None,
        iam_password=args.iam_password or None,
        iam_domain=args.iam_domain or None,
        token_lifetime_s=args.token_lifetime,
    )
    return Emulator(
        fleet,
        credentials,
        build_faults(args),
        host=check_loopback(args.host),
        port=args.port,
        semantics=SEMANTICS[args.semantics],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad arguments. Output as ``imagewatch``'s:
    without terminal control characters."""
    with safe_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        emulator = build_emulator(args)
    except (ValueError, OSError, json.JSONDecodeError, argparse.ArgumentTypeError) as exc:
        print(f"imagewatch emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            emulator.start()
        except OSError as exc:
            print(f"imagewatch emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 2
        print(emulator.url, flush=True)
        if args.print_env:
            print("\n".join(export_lines(emulator.url, emulator.credentials)), flush=True)
        print(
            f"imagewatch emulator: {len(emulator.fleet)} records, project {emulator.project_id!r}, "
            f"AK {emulator.credentials.access_key!r}; Ctrl-C to stop"
            + ("" if args.print_env else " (--print-env prints the lines that point imagewatch at it)"),
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(
        f"imagewatch emulator: stopped after {emulator.stats.requests} requests", file=sys.stderr, flush=True
    )
    return 0
