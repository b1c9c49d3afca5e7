"""template.yaml's Security Hub switch: off by default and then no trace of it (no variable, no grant);
on, the function gets ``SECURITY_HUB=on`` and may import findings under the account's default product
in its own region — nothing else of Security Hub. (The security properties hold in both states:
test_template_security.py checks the stack with ``SecurityHub=on`` too.)"""

from __future__ import annotations

import pytest

from tests.unit.test_template import (
    MANY,
    REQUIRED,
    load_template,
    only,
    parameter_values,
    role_statements,
    stack,
)

PRODUCT = "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"


def environment(**params: str) -> dict[str, str]:
    return only(stack(**params), "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]


def test_off_by_default_leaves_no_trace() -> None:
    assert load_template()["Parameters"]["SecurityHub"]["Default"] == "off"
    assert "SECURITY_HUB" not in environment()
    assert not [sid for sid in role_statements(stack(), "CheckerRole") if "SecurityHub" in sid]


@pytest.mark.parametrize("params", [{}, MANY], ids=["one target", "many targets"])
def test_on_sets_the_variable_and_grants_the_import_on_the_default_product_only(
    params: dict[str, str],
) -> None:
    resolved = stack(SecurityHub="on", **params)
    assert environment(SecurityHub="on", **params)["SECURITY_HUB"] == "on"
    grant = role_statements(resolved, "CheckerRole")["ImportSecurityHubFindings"]
    assert grant == {
        "Sid": "ImportSecurityHubFindings",
        "Effect": "Allow",
        "Action": "securityhub:BatchImportFindings",
        "Resource": PRODUCT,
    }
    others = [s for s in role_statements(resolved, "CheckerRole").values() if s is not grant]
    assert not [s for s in others if "securityhub" in str(s["Action"])]


def test_only_on_and_off_are_accepted() -> None:
    parameter = load_template()["Parameters"]["SecurityHub"]
    assert parameter["AllowedValues"] == ["off", "on"]
    assert parameter_values(load_template(), {**REQUIRED, "SecurityHub": "on"})["SecurityHub"] == "on"
    with pytest.raises(ValueError, match="SecurityHub: 'true' not in AllowedValues"):
        parameter_values(load_template(), {**REQUIRED, "SecurityHub": "true"})
