"""The run summary for people: a dozen labelled lines instead of the JSON document.

``summary_rows`` is pure: a summary (the dict ``run.check()`` returns) and its exit reasons in, rows of
styled text out. Two renderers draw them: ``render_plain`` (aligned text: pipes, files, no ``rich``)
and ``render_rich`` (a borderless table with colour, on a terminal). Every piece of text taken from
the summary is stripped of control characters here, because the rich path writes to the terminal
unwrapped (``imagewatch.terminal`` would strip its colours too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from imagewatch.commands.exit_codes import MEANING, ExitCode, worst
from imagewatch.terminal import one_line, strip_controls

Span = tuple[str, str]  # (text, rich style; "" for none)
Line = tuple[Span, ...]
Row = tuple[str, list[Line]]

SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
STATUS_STYLES = {"ok": "bold green", "partial": "bold yellow", "failed": "bold red", "skipped": "bold red"}
MAX_LISTED = 5  # problems, errors, warnings… shown before "…and N more"


def _span(text: object, style: str = "") -> Span:
    return (one_line(text), style)


def _line(*spans: Span) -> Line:
    return tuple(spans)


def _n(number: object) -> str:
    return f"{number:,}" if isinstance(number, int) else str(number)


def _joined(spans: Iterable[Span], separator: str = " · ") -> Line:
    out: list[Span] = []
    for span in spans:
        if out:
            out.append((separator, "dim"))
        out.append(span)
    return tuple(out)


def _listed(items: Sequence[object], style: str = "", mark: str = "") -> list[Line]:
    lines = [_line(_span(f"{mark}{item}", style)) for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(_line(_span(f"…and {len(items) - MAX_LISTED} more", "dim")))
    return lines


def _target(summary: Mapping[str, Any]) -> list[Line]:
    spans = [_span(summary.get("target_name") or summary.get("target") or "?", "bold")]
    if summary.get("target_name"):
        spans.append(_span(f" ({summary.get('target')})", "dim"))
    if summary.get("dry_run"):
        spans.append(_span(" · dry run: nothing sent or recorded", "yellow"))
    if summary.get("run_id"):
        spans.append(_span(f" · run {summary['run_id']}", "dim"))
    return [_line(*spans)]


def _status(summary: Mapping[str, Any], reasons: Mapping[ExitCode, str]) -> list[Line]:
    status = str(summary.get("status") or "?")
    # configuration errors are listed below as they are; the other reasons are not said elsewhere
    why = [
        reason
        for code, reason in reasons.items()
        if code in (ExitCode.HSS, ExitCode.STORE, ExitCode.DELIVERY)
    ]
    spans = [_span(status, STATUS_STYLES.get(status, "bold"))]
    if why:
        spans.append(_span(f" ({'; '.join(why)})"))
    lines = [_line(*spans)]
    lines += _listed(summary.get("errors") or [], "red")
    lines += _listed((summary.get("policies") or {}).get("invalid") or [], "red")
    lines += _listed(summary.get("problems") or [], "yellow")
    return lines


def _read(summary: Mapping[str, Any]) -> list[Line]:
    queries = summary.get("queries") or []
    pages = sum(q.get("pages", 0) for q in queries)
    retries = sum(q.get("retries", 0) for q in queries)
    throttled = sum(q.get("throttled", 0) for q in queries)
    spans: list[Span] = []
    if "records_read" in summary:
        spans.append(_span(f"{_n(summary['records_read'])} records"))
    if "images" in summary:
        spans.append(_span(f"{_n(summary['images'])} distinct images"))
    if not spans:
        spans.append(_span(f"{_n(summary.get('images_evaluated', 0))} records evaluated"))
    listing = f"{len(queries)} listing{'s' if len(queries) != 1 else ''}, {_n(pages)} pages"
    if retries or throttled:
        listing += f", {_n(retries)} retries ({_n(throttled)} throttled)"
    spans.append(_span(listing, "dim"))
    return [_joined(spans)]


def _violations(summary: Mapping[str, Any]) -> list[Line]:
    violations = summary.get("violations") or {}
    by_severity: Mapping[str, int] = violations.get("by_severity") or {}
    if not violations.get("total"):
        return [_line(_span("none", "green"))]
    parts = [
        _span(f"{_n(n)} {severity}", SEVERITY_STYLES.get(severity, "")) for severity, n in by_severity.items()
    ]
    return [_line(_span(f"{_n(violations['total'])}: ", "bold"), *_joined(parts))]


def _alerts(summary: Mapping[str, Any]) -> list[Line]:
    new, resolved, still = (summary.get(key, 0) for key in ("new", "resolved", "still_open"))
    return [
        _joined(
            [
                _span(f"{_n(new)} new", "bold" if new else ""),
                _span(f"{_n(resolved)} resolved", "green" if resolved else ""),
                _span(f"{_n(still)} still open"),
            ]
        )
    ]


def _fleet_rules(rules: Sequence[Mapping[str, Any]]) -> list[Line]:
    lines = []
    for rule in rules:
        passed = bool(rule.get("passed"))
        mark = _span("✓ " if passed else "✗ ", "green" if passed else "bold red")
        text = rule.get("text") or rule.get("title") or ""
        lines.append(_line(mark, _span(rule.get("policy_id", "?"), "bold"), _span(f"  {text}")))
    return lines


def _nothing(summary: Mapping[str, Any], sent: str) -> list[Line]:
    """No digest: quiet because nothing is due, or because no channel took any (see warnings)."""
    quiet = not summary.get("new") and not summary.get("resolved")
    why = " (no new, reminder or resolved alerts)" if quiet else " (no channel took these alerts)"
    return [_line(_span(f"nothing {sent}{why}", "dim" if quiet else "yellow"))]


def _channels(summary: Mapping[str, Any]) -> list[Line]:
    if summary.get("dry_run"):
        digests = summary.get("digests") or []
        if not digests:
            return _nothing(summary, "would be sent")
        return [
            _line(
                _span("→ "),
                _span(d.get("channel", "?"), "bold"),
                _span(f" ({d.get('platform', '?')}): would send"),
            )
            for d in digests
        ]
    outcomes = (summary.get("notifications") or {}).get("channels") or []
    if not outcomes and summary.get("action") == "test-notification":
        return [_line(_span("nothing sent (no channel configured)", "yellow"))]
    if not outcomes:
        return _nothing(summary, "sent")
    lines = []
    for outcome in outcomes:
        ok = bool(outcome.get("ok"))
        counts = ", ".join(f"{_n(n)} {kind}" for kind, n in (outcome.get("alerts") or {}).items())
        detail = outcome.get("detail") or ("delivered" if ok else "failed")
        attempts = outcome.get("attempts", 1)
        tried = f" after {attempts} attempts" if attempts and attempts > 1 else ""
        lines.append(
            _line(
                _span("✓ " if ok else "✗ ", "green" if ok else "bold red"),
                _span(outcome.get("channel", "?"), "bold"),
                _span(f" ({outcome.get('platform', '?')}): {detail}{tried}", "" if ok else "red"),
                _span(f" · {counts}" if counts else "", "dim"),
            )
        )
    return lines


def _subjects(note: Mapping[str, Any]) -> str:
    """The exemption's images by label where the run knew one (not ``uuid@uuid``)."""
    labels = list(note.get("labels") or note.get("subjects") or [])
    shown = ", ".join(str(label) for label in labels[:3])
    return shown + (f" (+{len(labels) - 3} more)" if len(labels) > 3 else "")


def _exemptions(exemptions: Mapping[str, Any]) -> list[Line]:
    lines = [_line(_span(f"{_n(exemptions.get('applied', 0))} records let pass"))]
    for note, verb, style in [
        *((n, "expired", "yellow") for n in exemptions.get("expired") or []),
        *((n, "expires", "") for n in exemptions.get("expiring_soon") or []),
    ]:
        where = f"{note.get('policy_id', '?')}{note.get('pointer', '')}"
        covers = _subjects(note)
        lines.append(
            _line(
                _span(f"{where} {verb} {note.get('expires', '?')}", style),
                _span(f": {covers}" if covers else ""),
            )
        )
    return lines


def _report(report: Mapping[str, Any]) -> list[Line]:
    return [_line(_span(report[name])) for name in ("html", "json", "csv") if report.get(name)]


def summary_rows(summary: Mapping[str, Any], reasons: Mapping[ExitCode, str] | None = None) -> list[Row]:
    """What a person reads after a run, row by row; rows with nothing to say are left out."""
    reasons = reasons or {}
    if summary.get("action") == "test-notification":
        rows: list[Row] = [("target", _target(summary)), ("status", _status(summary, reasons))]
        rows.append(("channels", _channels(summary)))
    else:
        rows = [
            ("target", _target(summary)),
            ("status", _status(summary, reasons)),
            ("read", _read(summary)),
            ("violations", _violations(summary)),
            ("alerts", _alerts(summary)),
        ]
        if summary.get("fleet_rules"):
            rows.append(("fleet rules", _fleet_rules(summary["fleet_rules"])))
        if summary.get("status") != "skipped":
            rows.append(("channels", _channels(summary)))
        exemptions = summary.get("exemptions") or {}
        if exemptions.get("applied") or exemptions.get("expired") or exemptions.get("expiring_soon"):
            rows.append(("exemptions", _exemptions(exemptions)))
    if summary.get("warnings"):
        rows.append(("warnings", _listed(summary["warnings"], "yellow", "! ")))
    if summary.get("report"):
        rows.append(("report", _report(summary["report"])))
    code = worst(list(reasons))
    if code is not ExitCode.OK:
        style = "bold red" if code > ExitCode.VIOLATIONS else "bold"
        why = f" ({reasons[code]})" if code is ExitCode.VIOLATIONS else ""
        rows.append(("exit", [_line(_span(f"{int(code)}: {MEANING[code]}{why}", style))]))
    return rows


def digest_rows(digests: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """For a dry run: each channel's heading and its digest as text, as the platform would show it."""
    from imagewatch.alerts.channels import platform_for, securityhub

    shown = []
    for digest in digests:
        name = str(digest.get("platform"))  # Security Hub is no chat platform, but a dry run shows it too
        platform = securityhub if name == securityhub.NAME else platform_for("https://preview.invalid/", name)
        heading = f"--- would send to channel {digest.get('channel')} ({digest.get('platform')}) ---"
        shown.append((strip_controls(heading), strip_controls(platform.to_text(digest["payload"]))))
    return shown


# -- renderers -------------------------------------------------------------------------------------


def render_plain(rows: Sequence[Row]) -> str:
    """Aligned text: the label column as wide as the widest label, continuation lines indented."""
    width = max((len(label) for label, _ in rows), default=0) + 2
    out = []
    for label, lines in rows:
        for index, line in enumerate(lines or [()]):
            text = "".join(text for text, _ in line)
            out.append(f"{(label if index == 0 else ''):<{width}}{text}".rstrip())
    return "\n".join(out)


def render_rich(
    rows: Sequence[Row], file: IO[str], *, force_terminal: bool | None = None, width: int | None = None
) -> None:
    """The same rows as a borderless two-column table, in colour, on ``file`` (a terminal)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, lines in rows:
        cell = Text()
        for index, line in enumerate(lines):
            if index:
                cell.append("\n")
            for text, style in line:
                cell.append(text, style=style or None)
        table.add_row(label, cell)
    Console(file=file, force_terminal=force_terminal, width=width, highlight=False).print(table)
