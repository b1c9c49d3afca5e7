"""Security properties of the stack template.yaml creates, checked on the translated template.

``security_problems()`` is the checker: it returns one line per broken property, so a failure says
what is wrong and where. The mutation tests at the bottom break each property in a copy of the
stack and assert the checker notices, so a green run means the properties hold, not that the
checker is blind. Both modes are checked: one target, and many targets (a state machine, its role,
and the function reading each target's credentials secret under a name prefix).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.test_template import (
    EXISTING_KEY,
    EXISTING_SECRET,
    MANY,
    REQUIRED,
    TOPIC,
    Resolver,
    of_type,
    stack,
    translated,
)

# The configuration contract (shared/ARCHITECTURE.md) plus the deployment's additions. Every variable
# the function gets must be one of these.
CONTRACT_NAMES = frozenset(
    {
        "HSS_REGION",
        "HSS_ENDPOINT",
        "HSS_PROJECT_ID",
        "HSS_ENTERPRISE_PROJECT_ID",
        "HSS_AK",
        "HSS_SK",
        "HSS_SECURITY_TOKEN",
        "HSS_AUTH_TOKEN",
        "HSS_IAM_USER",
        "HSS_IAM_PASSWORD",
        "HSS_IAM_DOMAIN",
        "HSS_IAM_ENDPOINT",
        "POLICY_PATH",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "CHANNELS_FILE",
        "STATE_TABLE",
        "STATE_PATH",
        "REPORT_BUCKET",
        "REPORT_PREFIX",
        "REPORT_DIR",
        "SETTINGS_SECRET",
        # added by the deployment
        "POLICY_S3_URI",
        "REPORT_LINK_TTL_SECONDS",
        "LEDGER_TTL_DAYS",
        "SECURITY_HUB",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
)
# Variables whose value is a credential: they belong in the settings secret, never in the environment.
SECRET_VARIABLES = frozenset(
    {
        "HSS_AK",
        "HSS_SK",
        "HSS_SECURITY_TOKEN",
        "HSS_AUTH_TOKEN",
        "HSS_IAM_PASSWORD",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
    }
)
# Literal environment values the template may hard-code (everything else comes from a parameter or
# names a stack resource).
ALLOWED_LITERALS = frozenset({"/opt/policies", "imagewatch"})
# Words that make a parameter name look like it carries a secret value (plurals count too). A name
# ending in "Arn" refers to a secret or key (ExistingSettingsSecretArn) and carries no secret itself;
# so do the names listed below, each with the reason.
SECRET_WORDS = frozenset({"ak", "sk", "secret", "token", "password", "passwd", "webhook", "credential"})
SECRET_REFERENCE_PARAMETERS: dict[str, str] = {
    "TargetSecretsPrefix": "a secret *name* prefix that scopes the IAM grant; no value",
}
# Services that assume this stack's roles; each trust must be limited to this account.
SERVICE_PRINCIPALS = frozenset({"scheduler.amazonaws.com", "states.amazonaws.com"})

# (role, statement Sid) -> why "*" is unavoidable. Otherwise every statement names its resources (the
# state machine keeps no CloudWatch Logs delivery, whose actions would need "*"). A "*" that ends a
# folder prefix (objects under reports/, secrets under imagewatch/targets/) is a scope, checked by
# _wildcard_scope_problems, not a wildcard resource.
WILDCARD_RESOURCE_ALLOWLIST: dict[tuple[str, str], str] = {
    ("StateMachineRole", "PublishAllTargetsComplete"): (
        "cloudwatch:PutMetricData has no resource-level permission; a cloudwatch:namespace "
        "condition confines it to the stack's namespace (asserted in test_template.py)"
    ),
}
# Where a folder prefix may start: after an S3 bucket (its ARN, or the symbol of a stack bucket's
# Arn) or after "secret:" in a Secrets Manager ARN.
_PREFIX_ROOT = re.compile(
    r"^(?:arn:aws[a-z-]*:s3:::[^/*]+/|<[A-Za-z0-9]+\.Arn>/|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)"
)
# Managed policies cannot be inspected here, so none is allowed unless listed with a reason.
MANAGED_POLICY_ALLOWLIST: dict[str, str] = {}


def _words(name: str) -> set[str]:
    words = {w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)}
    return words | {w[:-1] for w in words if w.endswith("s") and len(w) > 3}


def _wildcard_scope_problems(where: str, resource: str) -> list[str]:
    """A "*" in a resource may only close a folder prefix: ``<root><folder>/…/*``."""
    if "*" not in resource or resource == "*":
        return []
    root = _PREFIX_ROOT.match(resource)
    folder = resource[root.end() : -len("/*")] if root else ""
    if resource.count("*") != 1 or not resource.endswith("/*") or not folder:
        return [f"{where}: wildcard resource {resource} is not scoped by a folder prefix"]
    return []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _iam_problems(resolved: dict[str, Any]) -> list[str]:
    problems = []
    for name, role in of_type(resolved, "AWS::IAM::Role").items():
        props = role["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            if arn not in MANAGED_POLICY_ALLOWLIST:
                problems.append(f"{name}: managed policy {arn} (its statements cannot be checked)")
        for trust in props["AssumeRolePolicyDocument"]["Statement"]:
            services = _as_list(trust.get("Principal", {}).get("Service", []))
            for service in sorted(SERVICE_PRINCIPALS & set(services)):
                if "aws:SourceAccount" not in str(trust.get("Condition")):
                    problems.append(f"{name}: {service} trust without an aws:SourceAccount condition")
        documents = [(p["PolicyName"], p["PolicyDocument"]) for p in props.get("Policies", [])]
        for policy in list(of_type(resolved, "AWS::IAM::Policy").values()) + list(
            of_type(resolved, "AWS::IAM::RolePolicy").values()
        ):
            if f"<{name}>" in _as_list(
                policy["Properties"].get("Roles", policy["Properties"].get("RoleName"))
            ):
                documents.append((policy["Properties"]["PolicyName"], policy["Properties"]["PolicyDocument"]))
        for policy_name, document in documents:
            for statement in _as_list(document["Statement"]):
                where = f"{name}/{policy_name}/{statement.get('Sid', '?')}"
                if statement["Effect"] != "Allow":
                    continue
                if "NotResource" in statement or "NotAction" in statement:
                    problems.append(f"{where}: NotResource/NotAction grants by exclusion")
                for resource in _as_list(statement.get("Resource", [])):
                    if resource == "*" and (name, statement.get("Sid")) not in WILDCARD_RESOURCE_ALLOWLIST:
                        problems.append(f"{where}: Resource '*'")
                    problems.extend(_wildcard_scope_problems(where, str(resource)))
                for action in _as_list(statement["Action"]):
                    if action == "*" or action.endswith(":*"):
                        problems.append(f"{where}: wildcard action {action}")
    return problems


def _denies_insecure_transport(document: dict[str, Any], resources: set[str]) -> bool:
    for statement in _as_list(document["Statement"]):
        if (
            statement["Effect"] == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
            and resources <= set(_as_list(statement["Resource"]))
        ):
            return True
    return False


def _resource_policy_problems(resolved: dict[str, Any]) -> list[str]:
    problems = []
    policies = list(of_type(resolved, "AWS::S3::BucketPolicy").values()) + list(
        of_type(resolved, "AWS::SQS::QueuePolicy").values()
    )
    for policy in policies:
        for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            if statement["Effect"] == "Allow" and statement.get("Principal") in ("*", {"AWS": "*"}):
                problems.append(f"resource policy allows Principal '*': {statement.get('Sid')}")
    return problems


def _table_problems(resolved: dict[str, Any]) -> list[str]:
    problems = []
    for name, table in of_type(resolved, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
            problems.append(f"{name}: SSE (KMS) not enabled")
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{name}: point-in-time recovery not enabled")
        ttl = props.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled") is not True or ttl.get("AttributeName") != "expires_at":
            problems.append(f"{name}: TTL not enabled on expires_at")
    return problems


def _bucket_problems(resolved: dict[str, Any]) -> list[str]:
    problems = []
    bucket_policies = of_type(resolved, "AWS::S3::BucketPolicy").values()
    for name, bucket in of_type(resolved, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        algorithms = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
        if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            problems.append(f"{name}: no default encryption")
        block = props.get("PublicAccessBlockConfiguration", {})
        for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(setting) is not True:
                problems.append(f"{name}: {setting} is not true")
        ownership = [r.get("ObjectOwnership") for r in props.get("OwnershipControls", {}).get("Rules", [])]
        if ownership != ["BucketOwnerEnforced"]:
            problems.append(f"{name}: ACLs not disabled (BucketOwnerEnforced)")
        targets = {f"<{name}.Arn>", f"<{name}.Arn>/*"}
        if not any(
            p["Properties"]["Bucket"] == f"<{name}>"
            and _denies_insecure_transport(p["Properties"]["PolicyDocument"], targets)
            for p in bucket_policies
        ):
            problems.append(f"{name}: no bucket policy denying non-TLS access to the bucket and its objects")
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(r.get("ExpirationInDays") for r in rules):
            problems.append(f"{name}: reports never expire")
        if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            problems.append(f"{name}: not versioned (an overwritten or deleted report is lost)")
        elif not any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") for r in rules):
            problems.append(f"{name}: noncurrent report versions never expire")
    return problems


def _queue_problems(resolved: dict[str, Any]) -> list[str]:
    problems = []
    for name, queue in of_type(resolved, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        if props.get("SqsManagedSseEnabled") is not True and not props.get("KmsMasterKeyId"):
            problems.append(f"{name}: not encrypted")
    return problems


# Where each store names its KMS key (None: the service's AWS managed key or own encryption).
_KEY_OF: dict[str, Callable[[dict[str, Any]], Any]] = {
    "AWS::Lambda::Function": lambda p: p.get("KmsKeyArn"),
    "AWS::Logs::LogGroup": lambda p: p.get("KmsKeyId"),
    "AWS::DynamoDB::Table": lambda p: p.get("SSESpecification", {}).get("KMSMasterKeyId"),
    "AWS::S3::Bucket": lambda p: next(
        iter(
            r.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
            for r in p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        ),
        None,
    ),
    "AWS::SecretsManager::Secret": lambda p: p.get("KmsKeyId"),
    "AWS::SQS::Queue": lambda p: p.get("KmsMasterKeyId"),
}


def _kms_problems(resolved: dict[str, Any]) -> list[str]:
    """One key for all or none: a store left on an AWS managed key while the others use KmsKeyArn
    is a half-done switch. Every KMS grant names a key and goes through a service (kms:ViaService),
    and a stack key is usable by the roles that write with it (the function, the scheduler's DLQ)."""
    problems = []
    keys = {
        name: _KEY_OF[r["Type"]](r["Properties"])
        for name, r in resolved["Resources"].items()
        if r["Type"] in _KEY_OF
    }
    used = {k for k in keys.values() if k}
    if len(used) > 1:
        problems.append(f"stores use different KMS keys: {sorted(used)}")
    if used:
        for name in sorted(n for n, k in keys.items() if not k):
            problems.append(f"{name}: not encrypted with the stack's KMS key")
    grants: dict[str, set[str]] = {}
    for name, role in of_type(resolved, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                actions = _as_list(statement["Action"])
                if statement["Effect"] != "Allow" or not any(a.startswith("kms:") for a in actions):
                    continue
                if "kms:ViaService" not in str(statement.get("Condition")):
                    problems.append(f"{name}/{statement.get('Sid')}: KMS use not limited by kms:ViaService")
                grants.setdefault(name, set()).update(_as_list(statement["Resource"]))
    for key in used:
        for role in ("CheckerRole", "SchedulerRole"):
            if key not in grants.get(role, set()):
                problems.append(f"{role}: may not use the stack's KMS key {key}")
    return problems


def _secret_problems(resolved: dict[str, Any]) -> list[str]:
    problems = []
    for name, secret in of_type(resolved, "AWS::SecretsManager::Secret").items():
        value = secret["Properties"].get("SecretString")
        if value not in (None, "{}"):
            problems.append(f"{name}: SecretString holds a value in the template")
    for name in resolved["Parameters"]:
        words = _words(name)
        if words & SECRET_WORDS and not name.endswith("Arn") and name not in SECRET_REFERENCE_PARAMETERS:
            problems.append(f"parameter {name}: its name suggests a secret value")
    return problems


def _secret_variables() -> frozenset[str]:
    """Ours plus whatever the settings module hides as secret (it may learn new ones)."""
    from imagewatch.settings import SECRET_NAMES

    return SECRET_VARIABLES | SECRET_NAMES


def _environment_problems(source: dict[str, Any]) -> list[str]:
    """``source``: the translated template before resolution, to see where each value comes from."""
    problems = []
    for name, function in of_type(source, "AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for variable, value in variables.items():
            if variable not in CONTRACT_NAMES:
                problems.append(f"{name}: {variable} is not a contract variable")
            if variable in _secret_variables():
                problems.append(f"{name}: {variable} carries a secret in the environment")
            problems.extend(f"{name}: {variable} {p}" for p in _origin_problems(value, source))
    return problems


def _origin_problems(value: Any, source: dict[str, Any]) -> list[str]:
    """Environment values come from a parameter, a stack resource or an allowed literal, nothing else."""
    if isinstance(value, str):
        return [] if value in ALLOWED_LITERALS else [f"hard-codes {value!r}"]
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name == "AWS::NoValue":  # the variable is left out
            return []
        if name in source["Parameters"]:
            return _secret_problems({"Parameters": {name: {}}, "Resources": {}})
        return [] if name in source["Resources"] else [f"refers to unknown {name}"]
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        return _origin_problems(value["Fn::If"][1], source) + _origin_problems(value["Fn::If"][2], source)
    return [f"is computed ({value!r}); check where it comes from"]


def security_problems(resolved: dict[str, Any], source: dict[str, Any]) -> list[str]:
    return (
        _iam_problems(resolved)
        + _resource_policy_problems(resolved)
        + _table_problems(resolved)
        + _bucket_problems(resolved)
        + _queue_problems(resolved)
        + _kms_problems(resolved)
        + _secret_problems(resolved)
        + _environment_problems(source)
    )


PARAMETER_SETS = {
    "defaults": {},
    "existing secret + kms": {
        "ExistingSettingsSecretArn": EXISTING_SECRET,
        "ExistingSettingsSecretKmsKeyArn": EXISTING_KEY,
    },
    "policies from s3": {"PolicyS3Uri": "s3://config-bucket/imagewatch/policies/"},
    "alarm topic": {"AlarmTopicArn": TOPIC},
    "customer managed key": {"KmsKeyArn": EXISTING_KEY},
    "security hub": {"SecurityHub": "on"},
    "many targets": MANY,
    "many targets, everything": {
        **MANY,
        "MaxConcurrentTargets": "16",
        "TargetSecretsPrefix": "teams/imagewatch/",
        "ExistingSettingsSecretArn": EXISTING_SECRET,
        "ExistingSettingsSecretKmsKeyArn": EXISTING_KEY,
        "PolicyS3Uri": "s3://config-bucket/imagewatch/policies/",
        "AlarmTopicArn": TOPIC,
        "KmsKeyArn": EXISTING_KEY,
        "SecurityHub": "on",
    },
}


@pytest.mark.parametrize("params", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_stack_has_the_security_properties(params: dict[str, str]) -> None:
    problems = security_problems(stack(**params), translated(**params))
    assert problems == [], "\n".join(problems)


def test_every_allow_statement_names_resources() -> None:
    """The full picture, for a reader: every grant of the function, as (Sid, actions, resources)."""
    resolved = stack(
        PolicyS3Uri="s3://config-bucket/imagewatch/", ExistingSettingsSecretKmsKeyArn=EXISTING_KEY
    )
    grants = {}
    for policy in resolved["Resources"]["CheckerRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            grants[statement["Sid"]] = (
                sorted(_as_list(statement["Action"])),
                _as_list(statement["Resource"]),
            )
    assert grants == {
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], ["<CheckerLogGroup.Arn>"]),
        "LedgerReadWrite": (
            sorted(
                f"dynamodb:{a}"
                for a in (
                    "GetItem",
                    "PutItem",
                    "UpdateItem",
                    "DeleteItem",
                    "Query",
                    "BatchWriteItem",
                    "ConditionCheckItem",
                )
            ),
            ["<LedgerTable.Arn>"],
        ),
        "ReportsWriteAndLink": (
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            ["<ReportBucket.Arn>/reports/*"],
        ),
        "ReadSettingsSecret": (["secretsmanager:GetSecretValue"], ["<SettingsSecret>"]),
        "DecryptSettingsSecretViaSecretsManager": (["kms:Decrypt"], [EXISTING_KEY]),
        "ReadPolicyObjects": (["s3:GetObject"], ["arn:aws:s3:::config-bucket/imagewatch/*"]),
        "ListPolicyPrefix": (["s3:ListBucket"], ["arn:aws:s3:::config-bucket"]),
        "SendToFailureQueue": (["sqs:SendMessage"], ["<FailureQueue.Arn>"]),
    }
    scheduler = resolved["Resources"]["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    assert [(s["Action"], s["Resource"]) for s in scheduler] == [
        ("lambda:InvokeFunction", "<CheckerFunction.Arn>"),
        ("sqs:SendMessage", "<SchedulerDeadLetterQueue.Arn>"),
    ]


def test_every_allow_statement_names_resources_with_many_targets() -> None:
    """With targets: the function's grants are the one-target ones plus the target secrets under the
    prefix; the schedule may start only the state machine; the state machine may invoke only the
    function."""

    def grants(resolved: dict[str, Any], role: str) -> dict[str, tuple[Any, Any]]:
        return {
            statement["Sid"]: (statement["Action"], statement["Resource"])
            for policy in resolved["Resources"][role]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        }

    one, many = stack(), stack(**MANY)
    checker = grants(many, "CheckerRole")
    assert checker.pop("ReadTargetSecrets") == (
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagewatch/targets/*",
    )
    assert checker == grants(one, "CheckerRole")
    assert grants(many, "SchedulerRole") == {
        "StartCheckerStateMachine": ("states:StartExecution", "<CheckerStateMachine>"),
        "DeadLetter": ("sqs:SendMessage", "<SchedulerDeadLetterQueue.Arn>"),
    }
    assert grants(many, "StateMachineRole") == {
        "InvokeChecker": ("lambda:InvokeFunction", "<CheckerFunction.Arn>"),
        "PublishAllTargetsComplete": ("cloudwatch:PutMetricData", "*"),
    }


def test_settings_module_hides_every_secret_variable() -> None:
    """What the template keeps out of the environment, the settings module keeps out of reports."""
    from imagewatch.settings import SECRET_NAMES

    assert SECRET_VARIABLES <= SECRET_NAMES


# --- the checker can fail -------------------------------------------------------------------------


def _statement(resolved: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    (statement,) = [
        s
        for policy in resolved["Resources"][role]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if s.get("Sid") == sid
    ]
    return statement


def _first_statement(resolved: dict[str, Any]) -> dict[str, Any]:
    return resolved["Resources"]["CheckerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]


def _bucket(resolved: dict[str, Any]) -> dict[str, Any]:
    return resolved["Resources"]["ReportBucket"]["Properties"]


def _env(source: dict[str, Any]) -> dict[str, Any]:
    return source["Resources"]["CheckerFunction"]["Properties"]["Environment"]["Variables"]


def _drop_tls_denial(resolved: dict[str, Any]) -> None:
    statements = resolved["Resources"]["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Sid"] != "DenyInsecureTransport"]


Mutation = Callable[[dict[str, Any], dict[str, Any]], None]
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "resource star": (lambda r, s: _first_statement(r).update(Resource="*"), "Resource '*'"),
    "resource star in list": (
        lambda r, s: _first_statement(r).update(Resource=["<LedgerTable.Arn>", "*"]),
        "Resource '*'",
    ),
    "action wildcard": (lambda r, s: _first_statement(r).update(Action="dynamodb:*"), "wildcard action"),
    "managed policy": (
        lambda r, s: r["Resources"]["CheckerRole"]["Properties"].update(
            ManagedPolicyArns=["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
        ),
        "managed policy",
    ),
    "scheduler trust without source account": (
        lambda r, s: r["Resources"]["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][
            0
        ].pop("Condition"),
        "aws:SourceAccount",
    ),
    "table sse off": (
        lambda r, s: r["Resources"]["LedgerTable"]["Properties"].update(
            SSESpecification={"SSEEnabled": False}
        ),
        "SSE",
    ),
    "table pitr off": (
        lambda r, s: r["Resources"]["LedgerTable"]["Properties"].pop("PointInTimeRecoverySpecification"),
        "point-in-time",
    ),
    "table ttl attribute": (
        lambda r, s: r["Resources"]["LedgerTable"]["Properties"]["TimeToLiveSpecification"].update(
            AttributeName="ttl"
        ),
        "TTL",
    ),
    "bucket unencrypted": (lambda r, s: _bucket(r).pop("BucketEncryption"), "encryption"),
    "bucket public policy allowed": (
        lambda r, s: _bucket(r)["PublicAccessBlockConfiguration"].update(BlockPublicPolicy=False),
        "BlockPublicPolicy",
    ),
    "bucket acls": (lambda r, s: _bucket(r).pop("OwnershipControls"), "BucketOwnerEnforced"),
    "bucket tls": (lambda r, s: _drop_tls_denial(r), "non-TLS"),
    "bucket public read": (
        lambda r, s: r["Resources"]["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].append(
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "x",
            }
        ),
        "Principal '*'",
    ),
    "queue unencrypted": (
        lambda r, s: r["Resources"]["FailureQueue"]["Properties"].pop("SqsManagedSseEnabled"),
        "FailureQueue: not encrypted",
    ),
    "bucket unversioned": (lambda r, s: _bucket(r).pop("VersioningConfiguration"), "not versioned"),
    "noncurrent versions kept forever": (
        lambda r, s: _bucket(r)["LifecycleConfiguration"]["Rules"][0].pop("NoncurrentVersionExpiration"),
        "noncurrent report versions never expire",
    ),
    "secret value in template": (
        lambda r, s: r["Resources"]["SettingsSecret"]["Properties"].update(SecretString='{"HSS_SK": "x"}'),
        "SecretString",
    ),
    "secret parameter": (lambda r, s: r["Parameters"].update(HssSk={"Type": "String"}), "parameter HssSk"),
    "secrets parameter (plural)": (
        lambda r, s: r["Parameters"].update(HssSecrets={"Type": "String"}),
        "parameter HssSecrets",
    ),
    "reports whole bucket": (
        lambda r, s: _statement(r, "CheckerRole", "ReportsWriteAndLink").update(
            Resource="<ReportBucket.Arn>/*"
        ),
        "not scoped by a folder prefix",
    ),
    "webhook parameter": (
        lambda r, s: r["Parameters"].update(WebhookUrl={"Type": "String"}),
        "parameter WebhookUrl",
    ),
    "secret env var": (lambda r, s: _env(s).update(HSS_AK={"Ref": "HssRegion"}), "HSS_AK carries a secret"),
    "unknown env var": (lambda r, s: _env(s).update(DEBUG_MODE="1"), "DEBUG_MODE is not a contract variable"),
    "hard-coded env value": (lambda r, s: _env(s).update(HSS_REGION="cn-north-4"), "hard-codes"),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_checker_reports_a_broken_property(mutation: tuple[Mutation, str]) -> None:
    mutate, expected = mutation
    resolved, source = copy.deepcopy(stack()), copy.deepcopy(translated())
    before = security_problems(resolved, source)
    assert not any(expected in p for p in before), f"already reported before the mutation: {before}"
    mutate(resolved, source)
    problems = security_problems(resolved, source)
    assert any(expected in p for p in problems), f"checker missed {expected!r}; it said {problems}"


# Properties only the many-targets stack has, broken the same way.
TARGETS_MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "target secrets: any secret": (
        lambda r, s: _statement(r, "CheckerRole", "ReadTargetSecrets").update(
            Resource="arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"
        ),
        "not scoped by a folder prefix",
    ),
    "target secrets: a name prefix that is not a folder": (
        lambda r, s: _statement(r, "CheckerRole", "ReadTargetSecrets").update(
            Resource="arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagewatch*"
        ),
        "not scoped by a folder prefix",
    ),
    "state machine invokes any function": (
        lambda r, s: _statement(r, "StateMachineRole", "InvokeChecker").update(
            Resource="arn:aws:lambda:eu-west-1:123456789012:function:*"
        ),
        "not scoped by a folder prefix",
    ),
    "schedule starts any state machine": (
        lambda r, s: _statement(r, "SchedulerRole", "StartCheckerStateMachine").update(Resource="*"),
        "SchedulerRole/imagewatch-scheduler/StartCheckerStateMachine: Resource '*'",
    ),
    "state machine role: any action": (
        lambda r, s: _statement(r, "StateMachineRole", "InvokeChecker").update(Action="lambda:*"),
        "wildcard action",
    ),
    "state machine trust without source account": (
        lambda r, s: r["Resources"]["StateMachineRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ][0].pop("Condition"),
        "states.amazonaws.com trust without an aws:SourceAccount condition",
    ),
    "state machine role: managed policy": (
        lambda r, s: r["Resources"]["StateMachineRole"]["Properties"].update(
            ManagedPolicyArns=["arn:aws:iam::aws:policy/service-role/AWSLambdaRole"]
        ),
        "StateMachineRole: managed policy",
    ),
}


@pytest.mark.parametrize("mutation", TARGETS_MUTATIONS.values(), ids=TARGETS_MUTATIONS.keys())
def test_checker_reports_a_broken_property_with_many_targets(mutation: tuple[Mutation, str]) -> None:
    mutate, expected = mutation
    resolved, source = copy.deepcopy(stack(**MANY)), copy.deepcopy(translated(**MANY))
    before = security_problems(resolved, source)
    assert before == [], before
    mutate(resolved, source)
    problems = security_problems(resolved, source)
    assert any(expected in p for p in problems), f"checker missed {expected!r}; it said {problems}"


# With a customer managed key (KmsKeyArn), broken the same way.
KMS_MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "queue back on SSE-SQS": (
        lambda r, s: r["Resources"]["SchedulerDeadLetterQueue"]["Properties"].update(
            SqsManagedSseEnabled=True, KmsMasterKeyId=None
        ),
        "SchedulerDeadLetterQueue: not encrypted with the stack's KMS key",
    ),
    "log group without the key": (
        lambda r, s: r["Resources"]["CheckerLogGroup"]["Properties"].pop("KmsKeyId"),
        "CheckerLogGroup: not encrypted with the stack's KMS key",
    ),
    "table on another key": (
        lambda r, s: r["Resources"]["LedgerTable"]["Properties"]["SSESpecification"].update(
            KMSMasterKeyId="arn:aws:kms:eu-west-1:123456789012:key/other"
        ),
        "stores use different KMS keys",
    ),
    "kms grant without via-service": (
        lambda r, s: _statement(r, "CheckerRole", "UseStackKmsKey").pop("Condition"),
        "CheckerRole/UseStackKmsKey: KMS use not limited by kms:ViaService",
    ),
    "scheduler cannot use the key": (
        lambda r, s: r["Resources"]["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"
        ].pop(),
        "SchedulerRole: may not use the stack's KMS key",
    ),
    "kms grant on any key": (
        lambda r, s: _statement(r, "CheckerRole", "UseStackKmsKey").update(Resource="*"),
        "UseStackKmsKey: Resource '*'",
    ),
}


@pytest.mark.parametrize("mutation", KMS_MUTATIONS.values(), ids=KMS_MUTATIONS.keys())
def test_checker_reports_a_broken_property_with_a_customer_managed_key(
    mutation: tuple[Mutation, str],
) -> None:
    mutate, expected = mutation
    params = {"KmsKeyArn": EXISTING_KEY}
    resolved, source = copy.deepcopy(stack(**params)), copy.deepcopy(translated(**params))
    assert security_problems(resolved, source) == []
    mutate(resolved, source)
    problems = security_problems(resolved, source)
    assert any(expected in p for p in problems), f"checker missed {expected!r}; it said {problems}"


def test_checker_reports_a_wildcard_injected_into_the_template_itself() -> None:
    """End to end: '*' written into template.yaml's statements is caught after translation."""
    source = translated()
    statements = source["Resources"]["CheckerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    statements.append({"Sid": "Oops", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    resolved = Resolver(source, REQUIRED).resolve(source)
    assert "CheckerRole/imagewatch-checker/Oops: Resource '*'" in security_problems(resolved, source)
