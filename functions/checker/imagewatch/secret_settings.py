"""The settings secret: a Secrets Manager secret whose JSON object overlays the environment.

Read once per container and cached for ``SECRET_MAX_AGE_S`` (Powertools Parameters), so rotated
credentials are picked up within minutes without a redeploy, and a run does not pay a Secrets Manager
call. Errors name the secret and the offending key, never a value.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from imagewatch.settings import SettingsError

SECRET_MAX_AGE_S = 300
_PROVIDER: list[Any] = []  # the container's SecretsProvider: its cache is what spares repeated calls
_LOCK = threading.Lock()


def _provider() -> Any:
    from aws_lambda_powertools.utilities import parameters

    from imagewatch import aws

    with _LOCK:
        if not _PROVIDER:
            _PROVIDER.append(parameters.SecretsProvider(boto3_client=aws.client("secretsmanager")))
        return _PROVIDER[0]


def reset() -> None:
    """Forget the provider and its cache (tests that point at another endpoint)."""
    with _LOCK:
        _PROVIDER.clear()


def overlay(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the settings secret's keys on top (``env`` itself when no secret is named)."""
    merged = dict(env)
    secret_id = (env.get("SETTINGS_SECRET") or "").strip()
    if not secret_id:
        return merged
    values = _fetch(secret_id)
    if not isinstance(values, dict):
        raise SettingsError("SETTINGS_SECRET", secret_id, "a secret whose value is a JSON object of settings")
    for key, value in values.items():
        if not isinstance(key, str) or not key.isupper() or not isinstance(value, str):
            raise SettingsError(
                "SETTINGS_SECRET",
                secret_id,
                f"string values under UPPER_CASE setting names (key {key!r} is not)",
            )
    merged.update(values)
    return merged


def _fetch(secret_id: str) -> object:
    from aws_lambda_powertools.utilities import parameters

    try:
        return _provider().get(
            secret_id, max_age=int(os.environ.get("SECRET_MAX_AGE_S", SECRET_MAX_AGE_S)), transform="json"
        )
    except parameters.exceptions.TransformParameterError:
        raise SettingsError("SETTINGS_SECRET", secret_id, "a secret whose value is JSON") from None
    except parameters.exceptions.GetParameterError as exc:
        # Powertools keeps only botocore's message: "An error occurred (Code) when calling …"
        found = re.search(r"\((\w+)\)", str(exc))
        code = found.group(1) if found else "an error"
        raise SettingsError(
            "SETTINGS_SECRET", secret_id, f"a readable secret (Secrets Manager said {code})"
        ) from None
