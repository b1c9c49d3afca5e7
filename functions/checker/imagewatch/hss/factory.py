"""Build the HSS client a run uses from its settings: endpoint, project, and the configured auth."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from imagewatch.hss.auth import AkSkAuth, IamPasswordAuth, IamScope, TokenAuth
from imagewatch.hss.client import HssClient
from imagewatch.hss.pacing import DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_RPS
from imagewatch.retry import RetryPolicy
from imagewatch.settings import Settings


def build_auth(settings: Settings, *, clock: Callable[[], float] = time.time) -> httpx.Auth:
    """AK/SK when set, else a ready token, else an IAM password login (Settings checked completeness)."""
    if settings.hss_ak and settings.hss_sk:
        return AkSkAuth(
            settings.hss_ak,
            settings.hss_sk,
            project_id=settings.hss_project_id,
            security_token=settings.hss_security_token,
            clock=clock,
        )
    if settings.hss_auth_token:
        return TokenAuth(settings.hss_auth_token)
    return IamPasswordAuth(
        settings.hss_iam_endpoint or settings.hss_endpoint,
        settings.hss_iam_user or "",
        settings.hss_iam_password or "",
        settings.hss_iam_domain or "",
        IamScope(project_id=settings.hss_project_id),
        clock=clock,
    )


def build_client(
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.time,
    max_in_flight: int | None = None,
    max_rps: float | None = None,
) -> HssClient:
    """The run's client. Paging concurrency and rate: the arguments when given, else the settings
    ``HSS_MAX_IN_FLIGHT`` / ``HSS_MAX_RPS``, else the client's defaults."""
    in_flight = max_in_flight or settings.hss_max_in_flight or DEFAULT_MAX_IN_FLIGHT
    rps = max_rps or settings.hss_max_rps or DEFAULT_MAX_RPS
    return HssClient(
        settings.hss_endpoint,
        settings.hss_project_id,
        build_auth(settings, clock=clock),
        retry=retry,
        sleep=sleep,
        clock=clock,
        max_in_flight=in_flight,
        max_rps=rps,
    )
