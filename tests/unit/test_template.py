"""template.yaml, offline: cfn-lint, the SAM transform, and the shape of what it deploys.

Nothing here talks to AWS. The SAM translator turns the template into plain CloudFormation (as
``sam deploy`` does), then a small resolver applies parameter values and Conditions the way
CloudFormation would, so tests can read the stack that a given set of parameters creates. References
to resources resolve to symbols: ``<LedgerTable>`` for a Ref, ``<LedgerTable.Arn>`` for a GetAtt.

Two modes: one target (the default, no ``TargetsJson``) and many targets (``TargetsJson`` set: a
Step Functions state machine invokes the function once per target). The state machine's definition
is read back from the translated template, rendered the way Step Functions renders its paths, and
run once in moto's Amazon States Language interpreter.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

PSEUDO = {
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "imagewatch",
    "AWS::URLSuffix": "amazonaws.com",
}
# The parameters without defaults, as `sam deploy --guided` would be answered.
REQUIRED = {"HssRegion": "cn-north-4", "HssProjectId": "0123456789abcdef0123456789abcdef"}
EXISTING_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagewatch/settings-AbC123"
EXISTING_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"

# cfn-lint's informational I4010 asks for AWS's new "com.aws.cloudformation.Context" metadata on
# every resource (a machine-readable "why"); the template says why in comments instead.
LINT_IGNORED = ["I4010"]

NO_VALUE = object()


def load_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


class StubManagedPolicyLoader:
    """What the translator asks for when a function names managed policies (ours names none)."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        }


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """As after `sam package`: local code paths replaced by S3 URIs (the translator insists)."""
    out = copy.deepcopy(template)
    for name, resource in out["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://artifacts-bucket/{name}.zip"
    return out


def translate(template: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """SAM -> CloudFormation, offline.

    The translator insists on a region from a fresh boto3 session even when AWS::Region is given, so
    it gets one from the environment for the call (and no AWS config or credentials file is read).
    """
    offline = {
        "AWS_DEFAULT_REGION": PSEUDO["AWS::Region"],
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    with mock.patch.dict(os.environ, offline):
        return transform(packaged(template), {**PSEUDO, **params}, StubManagedPolicyLoader())


@functools.cache
def _translated_default_json(params_json: str) -> str:
    return json.dumps(translate(load_template(), json.loads(params_json)))


def translated(**params: str) -> dict[str, Any]:
    """The translated template for ``REQUIRED`` plus ``params`` (cached; callers get a copy)."""
    return json.loads(_translated_default_json(json.dumps({**REQUIRED, **params}, sort_keys=True)))


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    """Defaults plus ``given``, checked as CloudFormation checks them (ValueError when rejected)."""
    values: dict[str, str] = {}
    for name, spec in template["Parameters"].items():
        if name in given:
            value = str(given[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise ValueError(f"{name}: no value and no default")
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            raise ValueError(f"{name}: {value!r} not in AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            raise ValueError(f"{name}: {value!r} does not match AllowedPattern")
        if len(value.encode()) > int(spec.get("MaxLength", 4096)):  # 4,096 bytes: CloudFormation's cap
            raise ValueError(f"{name}: longer than MaxLength")
        if spec["Type"] == "Number":
            number = float(value)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ValueError(f"{name}: {value} < MinValue")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ValueError(f"{name}: {value} > MaxValue")
        values[name] = value
    unknown = set(given) - set(template["Parameters"])
    if unknown:
        raise ValueError(f"unknown parameters: {sorted(unknown)}")
    return values


class Resolver:
    """Just enough of CloudFormation's intrinsic functions to evaluate this template offline."""

    def __init__(self, template: dict[str, Any], params: dict[str, str]) -> None:
        self.params = {**parameter_values(template, params), **PSEUDO}
        self._condition_exprs = template.get("Conditions", {})
        self.conditions: dict[str, bool] = {}
        for name in self._condition_exprs:
            self.conditions[name] = self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self._condition_exprs[name]))
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        return f"<{name}>"

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return f"<{name}>"
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"<{parts[0]}.{parts[1]}>"
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Condition" and isinstance(arg, str) and arg in self._condition_exprs:
                return self.condition(arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, {k: self.value(v) for k, v in variables.items()})
            if key == "Fn::Select":
                return self.value(arg[1])[int(self.value(arg[0]))]
            if key == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.value(arg[1]))
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}

    def resolve(self, template: dict[str, Any]) -> dict[str, Any]:
        resources = {}
        for name, resource in template["Resources"].items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            resources[name] = {**resource, "Properties": self.value(resource.get("Properties", {}))}
        outputs = {
            name: self.value(output["Value"])
            for name, output in template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }
        return {"Parameters": template["Parameters"], "Resources": resources, "Outputs": outputs}


def stack(**params: str) -> dict[str, Any]:
    """The resolved stack for these parameters (translated, Conditions applied)."""
    template = translated(**params)
    return Resolver(template, {**REQUIRED, **params}).resolve(template)


def of_type(resolved: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resolved["Resources"].items() if r["Type"] == kind}


def only(resolved: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = of_type(resolved, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def role_statements(resolved: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    props = resolved["Resources"][role]["Properties"]
    return {
        statement["Sid"]: statement
        for policy in props.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    }


# --- cfn-lint ---------------------------------------------------------------------------------------


def test_cfn_lint_is_clean_in_every_region() -> None:
    from cfnlint.api import ManualArgs, lint
    from cfnlint.helpers import REGIONS

    config = ManualArgs(
        include_checks=["I"], ignore_checks=LINT_IGNORED, include_experimental=True, regions=REGIONS
    )
    matches = lint(TEMPLATE.read_text(), config=config)
    assert matches == [], "cfn-lint:\n" + "\n".join(str(m) for m in matches)


def test_cfn_lint_catches_a_broken_template() -> None:
    from cfnlint.api import lint

    broken = TEMPLATE.read_text().replace("Runtime: python3.12", "Runtime: python2.7", 1)
    assert broken != TEMPLATE.read_text()
    assert lint(broken), "cfn-lint should reject a deprecated runtime: the lint test cannot fail"


# --- the SAM transform --------------------------------------------------------------------------------


ONE_TARGET_STACK = sorted(
    [
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Alarm",
        "AWS::DynamoDB::Table",
        "AWS::IAM::Role",
        "AWS::IAM::Role",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Scheduler::Schedule",
        "AWS::Scheduler::Schedule",
        "AWS::SecretsManager::Secret",
    ]
)


def test_translates_to_the_expected_resources() -> None:
    """Without TargetsJson the stack is the one-target stack, resource for resource."""
    assert sorted(r["Type"] for r in stack()["Resources"].values()) == ONE_TARGET_STACK
    assert not {"CheckerStateMachine", "StateMachineRole", "StateMachineFailedAlarm"} & set(
        stack()["Resources"]
    )


def test_function_runtime_architecture_and_concurrency() -> None:
    resolved = stack()
    _, function = only(resolved, "AWS::Lambda::Function")
    props = function["Properties"]
    runtime = re.fullmatch(r"python3\.(\d+)", props["Runtime"])
    assert runtime and int(runtime.group(1)) >= 12
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "app.lambda_handler"
    assert props["ReservedConcurrentExecutions"] == 1
    assert (props["MemorySize"], props["Timeout"]) == ("1024", "900")
    assert props["EphemeralStorage"] == {"Size": "2048"}  # the run's workspace at 1,000,000 records
    assert props["Role"] == "<CheckerRole.Arn>"
    assert props["LoggingConfig"]["LogGroup"] == "<CheckerLogGroup>"
    layer_name, _ = only(resolved, "AWS::Lambda::LayerVersion")
    assert props["Layers"] == [f"<{layer_name}>"]
    assert (
        ROOT / load_template()["Resources"]["CheckerFunction"]["Properties"]["CodeUri"] / "app.py"
    ).is_file()


def test_memory_and_timeout_are_parameters() -> None:
    props = only(stack(FunctionMemorySize="1024", FunctionTimeout="300"), "AWS::Lambda::Function")[1]
    assert (props["Properties"]["MemorySize"], props["Properties"]["Timeout"]) == ("1024", "300")


def test_log_group_has_bounded_retention() -> None:
    _, group = only(stack(LogRetentionDays="14"), "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == "14"
    assert group["Properties"]["LogGroupName"] == "/aws/lambda/imagewatch-checker"


def test_schedule_sends_the_event_the_handler_accepts() -> None:
    resolved = stack()
    schedule = resolved["Resources"]["CheckerFunctionSchedule"]
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 hour)"
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["State"] == "ENABLED"
    assert "Name" not in props, "a fixed schedule name collides between two stacks"
    target = props["Target"]
    assert target["Arn"] == "<CheckerFunction.Arn>"
    assert target["RoleArn"] == "<SchedulerRole.Arn>"
    assert json.loads(target["Input"]) == {
        "source": "schedule",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    assert 0 <= target["RetryPolicy"]["MaximumRetryAttempts"] <= 5
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600
    dlq = target["DeadLetterConfig"]["Arn"]
    assert dlq == "<SchedulerDeadLetterQueue.Arn>"
    assert resolved["Resources"]["SchedulerDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"

    # The input, with the time Scheduler substitutes, is a valid "schedule" event for the handler.
    from imagewatch.events import parse_event

    request = parse_event(
        json.loads(target["Input"].replace("<aws.scheduler.scheduled-time>", "2026-11-26T08:00:00Z"))
    )
    assert request is not None


def test_schedule_parameters() -> None:
    props = stack(
        ScheduleExpression="cron(0 8 * * ? *)", ScheduleTimezone="Asia/Shanghai", ScheduleState="DISABLED"
    )["Resources"]["CheckerFunctionSchedule"]["Properties"]
    assert props["ScheduleExpression"] == "cron(0 8 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "Asia/Shanghai"
    assert props["State"] == "DISABLED"


def test_async_invocation_retries_are_bounded_and_failures_go_to_a_queue() -> None:
    resolved = stack()
    _, config = only(resolved, "AWS::Lambda::EventInvokeConfig")
    props = config["Properties"]
    assert props["FunctionName"] == "<CheckerFunction>"
    assert props["MaximumRetryAttempts"] == 1
    assert 60 <= props["MaximumEventAgeInSeconds"] <= 3600
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == "<FailureQueue.Arn>"
    assert resolved["Resources"]["FailureQueue"]["Type"] == "AWS::SQS::Queue"
    send = role_statements(resolved, "CheckerRole")["SendToFailureQueue"]
    assert send["Action"] == "sqs:SendMessage"
    assert send["Resource"] == "<FailureQueue.Arn>"


def test_policies_layer_is_built_by_the_makefile_target() -> None:
    """What the target ships is tests/unit/test_template_layer.py's business."""
    source = load_template()["Resources"]["PoliciesLayer"]
    assert source["Properties"]["ContentUri"] == "."
    assert source["Metadata"]["BuildMethod"] == "makefile"
    _, layer = only(stack(), "AWS::Lambda::LayerVersion")
    assert "python3.12" in layer["Properties"]["CompatibleRuntimes"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_function_reads_policies_from_the_layer_mount() -> None:
    env = only(stack(), "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]
    assert env["POLICY_PATH"] == "/opt/policies"
    assert env["POLICY_S3_URI"] == ""


def test_environment_defaults() -> None:
    env = only(stack(), "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]
    assert env == {
        "HSS_REGION": "cn-north-4",
        "HSS_PROJECT_ID": "0123456789abcdef0123456789abcdef",
        "HSS_ENTERPRISE_PROJECT_ID": "",
        "HSS_ENDPOINT": "",
        "POLICY_PATH": "/opt/policies",
        "POLICY_S3_URI": "",
        "STATE_TABLE": "<LedgerTable>",
        "LEDGER_TTL_DAYS": "30",
        "REPORT_BUCKET": "<ReportBucket>",
        "REPORT_PREFIX": "reports/",
        "REPORT_LINK_TTL_SECONDS": "86400",
        "SETTINGS_SECRET": "<SettingsSecret>",
        "POWERTOOLS_SERVICE_NAME": "imagewatch",
        "POWERTOOLS_METRICS_NAMESPACE": "imagewatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_log_levels_stay_in_step() -> None:
    props = only(stack(LogLevel="DEBUG"), "AWS::Lambda::Function")[1]["Properties"]
    assert props["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert props["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    assert props["LoggingConfig"]["LogFormat"] == "JSON"


def test_ledger_table_shape() -> None:
    _, table = only(stack(), "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "target", "KeyType": "HASH"},
        {"AttributeName": "fingerprint", "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        ("target", "S"),
        ("fingerprint", "S"),
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["DeletionProtectionEnabled"] == "true"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    unprotected = only(stack(TableDeletionProtection="false"), "AWS::DynamoDB::Table")[1]
    assert unprotected["Properties"]["DeletionProtectionEnabled"] == "false"


def test_report_bucket_lifecycle_follows_retention() -> None:
    _, bucket = only(stack(ReportRetentionDays="30", ReportVersionRetentionDays="7"), "AWS::S3::Bucket")
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rule, markers = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == "30"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": "7"}
    assert markers == {
        "Id": "remove-expired-delete-markers",
        "Status": "Enabled",
        "ExpiredObjectDeleteMarker": True,
    }
    default = only(stack(), "AWS::S3::Bucket")[1]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert default["NoncurrentVersionExpiration"] == {"NoncurrentDays": "30"}


def test_without_a_key_every_store_uses_aws_managed_keys() -> None:
    resolved = stack()
    props = {name: r["Properties"] for name, r in resolved["Resources"].items()}
    assert "KmsKeyArn" not in props["CheckerFunction"]
    assert "KmsKeyId" not in props["CheckerLogGroup"]
    assert props["LedgerTable"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    (sse,) = props["ReportBucket"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    assert "KmsKeyId" not in props["SettingsSecret"]
    for queue in ("FailureQueue", "SchedulerDeadLetterQueue"):
        assert props[queue]["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in props[queue]
    assert "UseStackKmsKey" not in role_statements(resolved, "CheckerRole")
    assert "DeadLetterKmsKey" not in role_statements(resolved, "SchedulerRole")


def test_a_customer_managed_key_encrypts_every_store() -> None:
    resolved = stack(KmsKeyArn=EXISTING_KEY)
    props = {name: r["Properties"] for name, r in resolved["Resources"].items()}
    assert props["CheckerFunction"]["KmsKeyArn"] == EXISTING_KEY
    assert props["CheckerLogGroup"]["KmsKeyId"] == EXISTING_KEY
    assert props["LedgerTable"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": EXISTING_KEY,
    }
    (sse,) = props["ReportBucket"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": EXISTING_KEY},
        "BucketKeyEnabled": True,
    }
    assert props["SettingsSecret"]["KmsKeyId"] == EXISTING_KEY
    for queue in ("FailureQueue", "SchedulerDeadLetterQueue"):
        assert props[queue]["KmsMasterKeyId"] == EXISTING_KEY and "SqsManagedSseEnabled" not in props[queue]
    use = role_statements(resolved, "CheckerRole")["UseStackKmsKey"]
    assert (use["Action"], use["Resource"]) == (["kms:Decrypt", "kms:GenerateDataKey"], EXISTING_KEY)
    assert use["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [
                f"{service}.eu-west-1.amazonaws.com"
                for service in ("dynamodb", "s3", "secretsmanager", "sqs")
            ]
        }
    }
    dead_letter = role_statements(resolved, "SchedulerRole")["DeadLetterKmsKey"]
    assert (dead_letter["Action"], dead_letter["Resource"]) == (
        ["kms:Decrypt", "kms:GenerateDataKey"],
        EXISTING_KEY,
    )
    assert dead_letter["Condition"] == {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}


def test_created_secret_is_an_empty_placeholder() -> None:
    resolved = stack()
    _, secret = only(resolved, "AWS::SecretsManager::Secret")
    assert json.loads(secret["Properties"]["SecretString"]) == {}
    env = only(resolved, "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]
    assert env["SETTINGS_SECRET"] == "<SettingsSecret>"
    assert role_statements(resolved, "CheckerRole")["ReadSettingsSecret"]["Resource"] == "<SettingsSecret>"
    assert "DecryptSettingsSecretViaSecretsManager" not in role_statements(resolved, "CheckerRole")


def test_existing_secret_replaces_the_created_one() -> None:
    resolved = stack(ExistingSettingsSecretArn=EXISTING_SECRET, ExistingSettingsSecretKmsKeyArn=EXISTING_KEY)
    assert not of_type(resolved, "AWS::SecretsManager::Secret")
    env = only(resolved, "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]
    assert env["SETTINGS_SECRET"] == EXISTING_SECRET
    statements = role_statements(resolved, "CheckerRole")
    assert statements["ReadSettingsSecret"]["Resource"] == EXISTING_SECRET
    decrypt = statements["DecryptSettingsSecretViaSecretsManager"]
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", EXISTING_KEY)
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    assert resolved["Outputs"]["SettingsSecretArn"] == EXISTING_SECRET


def test_policy_s3_access_only_when_configured_and_only_under_the_prefix() -> None:
    assert not {"ReadPolicyObjects", "ListPolicyPrefix"} & set(role_statements(stack(), "CheckerRole"))

    uri = "s3://config-bucket/team/imagewatch/"
    resolved = stack(PolicyS3Uri=uri)
    env = only(resolved, "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]
    assert env["POLICY_S3_URI"] == uri
    statements = role_statements(resolved, "CheckerRole")
    read = statements["ReadPolicyObjects"]
    assert (read["Action"], read["Resource"]) == (
        "s3:GetObject",
        "arn:aws:s3:::config-bucket/team/imagewatch/*",
    )
    listing = statements["ListPolicyPrefix"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", "arn:aws:s3:::config-bucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "team/*"}}


@pytest.mark.parametrize(
    "uri", ["s3://config-bucket", "s3://config-bucket/", "s3://config-bucket/policies", "https://x/y/"]
)
def test_policy_s3_uri_must_name_a_folder(uri: str) -> None:
    with pytest.raises(ValueError, match="PolicyS3Uri"):
        parameter_values(load_template(), {**REQUIRED, "PolicyS3Uri": uri})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HssProjectId", "my-project"),
        ("HssRegion", "https://hss.cn-north-4.myhuaweicloud.com"),
        ("HssEndpoint", "http://127.0.0.1:8080"),
        ("ExistingSettingsSecretArn", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagewatch"),
        ("ReportPrefix", "reports"),
        ("ReportLinkTtlSeconds", "604801"),
        ("KmsKeyArn", "alias/imagewatch"),
        ("KmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:alias/imagewatch"),
        ("ReportVersionRetentionDays", "0"),
    ],
)
def test_parameters_reject_malformed_values(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        parameter_values(load_template(), {**REQUIRED, name: value})


def test_report_prefix_is_one_value_for_code_and_iam() -> None:
    resolved = stack(ReportPrefix="imagewatch/runs/")
    env = only(resolved, "AWS::Lambda::Function")[1]["Properties"]["Environment"]["Variables"]
    assert env["REPORT_PREFIX"] == "imagewatch/runs/"
    reports = role_statements(resolved, "CheckerRole")["ReportsWriteAndLink"]
    assert reports["Resource"] == "<ReportBucket.Arn>/imagewatch/runs/*"


def test_alarms_notify_the_topic_only_when_given() -> None:
    silent = of_type(stack(), "AWS::CloudWatch::Alarm")
    loud = of_type(stack(AlarmTopicArn=TOPIC), "AWS::CloudWatch::Alarm")
    assert (
        set(silent)
        == set(loud)
        == {"FunctionErrorsAlarm", "FailureQueueAlarm", "SchedulerDeadLetterQueueAlarm", "DeadManAlarm"}
    )
    for name, alarm in silent.items():
        assert "AlarmActions" not in alarm["Properties"]
        # silence is what the dead man's switch is for; for the others it is not a failure
        expected = "breaching" if name == "DeadManAlarm" else "notBreaching"
        assert alarm["Properties"]["TreatMissingData"] == expected
    for alarm in loud.values():
        assert alarm["Properties"]["AlarmActions"] == [TOPIC]
        assert alarm["Properties"]["OKActions"] == [TOPIC]


def test_alarms_watch_function_errors_and_both_queues() -> None:
    alarms = of_type(stack(), "AWS::CloudWatch::Alarm")
    errors = alarms["FunctionErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": "<CheckerFunction>"}]
    assert (errors["Threshold"], errors["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    for name, queue in [
        ("FailureQueueAlarm", "FailureQueue"),
        ("SchedulerDeadLetterQueueAlarm", "SchedulerDeadLetterQueue"),
    ]:
        props = alarms[name]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert props["Dimensions"] == [{"Name": "QueueName", "Value": f"<{queue}.QueueName>"}]
        assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_summary_schedule_sends_the_summary_event_weekly_in_the_timezone() -> None:
    from imagewatch.events import parse_event

    props = stack()["Resources"]["SummarySchedule"]["Properties"]
    assert props["ScheduleExpression"] == "cron(0 9 ? * MON *)"
    assert (props["ScheduleExpressionTimezone"], props["State"]) == ("UTC", "ENABLED")
    assert "Name" not in props
    target = props["Target"]
    assert (target["Arn"], target["RoleArn"]) == ("<CheckerFunction.Arn>", "<SchedulerRole.Arn>")
    assert target["DeadLetterConfig"]["Arn"] == "<SchedulerDeadLetterQueue.Arn>"
    event = json.loads(target["Input"].replace("<aws.scheduler.scheduled-time>", "2026-11-30T09:00:00Z"))
    request = parse_event(event)
    assert (request.action, request.trigger) == ("summary", "schedule")
    custom = stack(
        SummaryScheduleExpression="cron(0 8 1 * ? *)",
        SummaryScheduleState="DISABLED",
        ScheduleTimezone="Asia/Shanghai",
    )["Resources"]["SummarySchedule"]["Properties"]
    assert (custom["ScheduleExpression"], custom["State"]) == ("cron(0 8 1 * ? *)", "DISABLED")
    assert custom["ScheduleExpressionTimezone"] == "Asia/Shanghai"


def test_dead_mans_switch_alarms_on_missing_complete_reads() -> None:
    props = stack()["Resources"]["DeadManAlarm"]["Properties"]
    # what report/metrics.py publishes: the service's namespace, service and target dimensions
    assert (props["Namespace"], props["MetricName"]) == ("imagewatch", "CompleteReads")
    assert props["Dimensions"] == [
        {"Name": "service", "Value": "imagewatch"},
        {"Name": "target", "Value": f"cn-north-4/{REQUIRED['HssProjectId']}/0"},  # Settings.default_target()
    ]
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", "7200", 1)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert props["TreatMissingData"] == "breaching"
    assert "AlarmActions" not in props
    loud = stack(AlarmTopicArn=TOPIC, DeadManPeriodSeconds="86400")
    loud_props = loud["Resources"]["DeadManAlarm"]["Properties"]
    assert (loud_props["AlarmActions"], loud_props["OKActions"], loud_props["Period"]) == (
        [TOPIC],
        [TOPIC],
        "86400",
    )
    eps = stack(HssEnterpriseProjectId="all_granted_eps")["Resources"]["DeadManAlarm"]["Properties"]
    assert eps["Dimensions"][1]["Value"].endswith("/all_granted_eps")
    named = stack(**MANY, DeadManTarget="cn-north-4/other/0")["Resources"]["DeadManAlarm"]["Properties"]
    assert named["Dimensions"][1]["Value"] == "cn-north-4/other/0"


def test_dead_man_target_matches_the_functions_own_target_key() -> None:
    from imagewatch.settings import Settings

    env = {
        "HSS_REGION": "cn-north-4",
        "HSS_PROJECT_ID": REQUIRED["HssProjectId"],
        "HSS_AK": "a",
        "HSS_SK": "b",
    }
    props = stack()["Resources"]["DeadManAlarm"]["Properties"]
    assert props["Dimensions"][1]["Value"] == Settings.from_env(env).target


def test_dead_man_period_is_bounded() -> None:
    parameter = load_template()["Parameters"]["DeadManPeriodSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (7200, 3600, 86400)


def test_outputs() -> None:
    outputs = stack()["Outputs"]
    assert outputs["CheckerFunctionName"] == "<CheckerFunction>"
    assert outputs["CheckerFunctionArn"] == "<CheckerFunction.Arn>"
    assert outputs["LedgerTableName"] == "<LedgerTable>"
    assert outputs["ReportBucketName"] == "<ReportBucket>"
    assert outputs["SettingsSecretArn"] == "<SettingsSecret>"
    assert outputs["FailureQueueUrl"] == "<FailureQueue>"
    assert outputs["SchedulerDeadLetterQueueUrl"] == "<SchedulerDeadLetterQueue>"
    assert outputs["ScheduleName"] == "<CheckerFunctionSchedule>"
    assert outputs["CheckerLogGroupName"] == "<CheckerLogGroup>"


def test_resolver_applies_conditions_like_cloudformation() -> None:
    template = {
        "Parameters": {"P": {"Type": "String", "Default": ""}},
        "Conditions": {"HasP": {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}},
        "Resources": {
            "Kept": {"Type": "X", "Properties": {"A": {"Fn::If": ["HasP", "yes", {"Ref": "AWS::NoValue"}]}}},
            "Dropped": {"Type": "X", "Condition": "HasP", "Properties": {}},
        },
    }
    assert Resolver(template, {}).resolve(template)["Resources"] == {"Kept": {"Type": "X", "Properties": {}}}
    with_p = Resolver(template, {"P": "v"}).resolve(template)["Resources"]
    assert with_p["Kept"]["Properties"] == {"A": "yes"} and "Dropped" in with_p


# --- many targets ------------------------------------------------------------------------------------

PROJECT_A = "0123456789abcdef0123456789abcdef"
PROJECT_B = "fedcba9876543210fedcba9876543210"
TARGETS: list[dict[str, str]] = [
    {
        "name": "prod-cn4",
        "region": "cn-north-4",
        "project_id": PROJECT_A,
        "settings_secret": "imagewatch/targets/prod-cn4",
    },
    {
        "name": "payments-ap1",
        "region": "ap-southeast-1",
        "project_id": PROJECT_B,
        "enterprise_project_id": "0",
        "settings_secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
        "imagewatch/targets/payments-AbC123",
    },
]
SCHEDULED_TIME = "2026-11-26T08:00:00Z"
MANY = {"TargetsJson": json.dumps(TARGETS, separators=(",", ":"))}
STATE_MACHINE_ADDITIONS = ["AWS::CloudWatch::Alarm", "AWS::IAM::Role", "AWS::StepFunctions::StateMachine"]


def split_targets(targets: list[dict[str, Any]], size: int = 4096) -> dict[str, str]:
    """A targets list as TargetsJson and its parts, as docs/targets.md's recipe cuts it: compact JSON,
    whole targets per part, each part at most ``size`` bytes (ASCII JSON: characters are bytes). A
    part starts with "[" or "{" and ends with "," or "]", so no tool strips it as a quoted string."""
    parts, part = [], "["
    for index, target in enumerate(targets):
        text = json.dumps(target, separators=(",", ":")) + ("]" if index == len(targets) - 1 else ",")
        if len(part) + len(text) > size:
            parts.append(part)
            part = ""
        part += text
    parts.append(part)
    names = ["TargetsJson", "TargetsJsonPart2", "TargetsJsonPart3", "TargetsJsonPart4"]
    if len(parts) > len(names):
        raise ValueError(f"{len(targets)} targets need {len(parts)} parameters")
    return dict(zip(names, parts, strict=False))


def definition(resolved: dict[str, Any]) -> dict[str, Any]:
    """The state machine's definition as Step Functions reads it: SAM's DefinitionString (JSON text)
    with the DefinitionSubstitutions put in."""
    props = resolved["Resources"]["CheckerStateMachine"]["Properties"]
    text = props["DefinitionString"]
    for key, value in props["DefinitionSubstitutions"].items():
        text = text.replace("${" + key + "}", str(value))
    assert "${" not in text, f"unsubstituted variable left in the definition: {text}"
    return json.loads(text)


def json_path(path: str, data: Any, context: dict[str, Any]) -> Any:
    """The paths this definition uses: ``$``, ``$.a.b``, ``$.a[0]`` and ``$$.…`` (context object)."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    for part in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", rest):
        root = root[part[0]] if part[0] else root[int(part[1])]
    return root


def render(template: Any, data: Any, context: dict[str, Any] | None = None) -> Any:
    """A Parameters/ItemSelector template, rendered like Step Functions: a key ending in ``.$`` takes
    the value of its path (or of ``States.StringToJson('…')``); other values are literal."""
    context = context or {}
    if not isinstance(template, dict):
        return template
    out = {}
    for key, value in template.items():
        if key.endswith(".$"):
            literal = re.fullmatch(r"States\.StringToJson\('([^']*)'\)", value)
            out[key[:-2]] = json.loads(literal.group(1)) if literal else json_path(value, data, context)
        else:
            out[key] = render(value, data, context)
    return out


def schedule_input(resolved: dict[str, Any], scheduled_time: str = SCHEDULED_TIME) -> Any:
    """What the schedule sends, with the time Scheduler substitutes."""
    schedule = resolved["Resources"]["CheckerFunctionSchedule"]
    raw = schedule["Properties"]["Target"]["Input"]
    return json.loads(raw.replace("<aws.scheduler.scheduled-time>", scheduled_time))


def map_item_events(resolved: dict[str, Any]) -> list[Any]:
    """Each Map iteration's payload for the function, from the schedule's input through the states."""
    states = definition(resolved)["States"]
    prepared = render(states["Prepare"]["Parameters"], schedule_input(resolved))
    the_map = states["CheckTargets"]
    items = json_path(the_map["ItemsPath"], prepared, {})
    task = the_map["ItemProcessor"]["States"]["CheckTarget"]
    events = []
    for index, item in enumerate(items):
        selected = render(
            the_map["ItemSelector"], prepared, {"Map": {"Item": {"Index": index, "Value": item}}}
        )
        events.append(render(task["Parameters"], selected)["Payload"])
    return events


def test_targets_mode_adds_the_state_machine_its_role_and_alarm() -> None:
    resolved = stack(**MANY)
    # DeadManAlarm (one target) gives way to TargetsDeadManAlarm (all of them): one alarm as many
    assert sorted(r["Type"] for r in resolved["Resources"].values()) == sorted(
        ONE_TARGET_STACK + STATE_MACHINE_ADDITIONS
    )
    assert "DeadManAlarm" not in resolved["Resources"]
    assert {
        "CheckerStateMachine",
        "StateMachineRole",
        "StateMachineFailedAlarm",
        "SummarySchedule",
        "TargetsDeadManAlarm",
    } <= set(resolved["Resources"])


def test_cfn_lint_is_clean_in_targets_mode() -> None:
    """The template with TargetsJson defaulted to real targets (cfn-lint resolves defaults), and the
    state machine's definition on its own: SAM hands it to CloudFormation as a joined string, which
    cfn-lint does not look into, so it is linted here as a plain CloudFormation definition."""
    from cfnlint.api import ManualArgs, lint

    config = ManualArgs(include_checks=["I"], ignore_checks=LINT_IGNORED, include_experimental=True)
    source = TEMPLATE.read_text()
    defaulted = source.replace(
        '  TargetsJson:\n    Type: String\n    Default: ""',
        f"  TargetsJson:\n    Type: String\n    Default: '{MANY['TargetsJson']}'",
    )
    assert defaulted != source
    assert lint(defaulted, config=config) == []

    def alone(states_language: dict[str, Any]) -> str:
        return json.dumps(
            {
                "AWSTemplateFormatVersion": "2010-09-09",
                "Resources": {
                    "Machine": {
                        "Type": "AWS::StepFunctions::StateMachine",
                        "Properties": {
                            "RoleArn": "arn:aws:iam::123456789012:role/imagewatch-state-machine",
                            "StateMachineType": "STANDARD",
                            "Definition": states_language,
                        },
                    }
                },
            }
        )

    states_language = definition(stack(**MANY))
    matches = lint(alone(states_language), config=config)
    assert matches == [], "cfn-lint:\n" + "\n".join(str(m) for m in matches)
    broken = copy.deepcopy(states_language)
    broken["States"]["CheckTargets"]["Type"] = "Mapp"
    assert lint(alone(broken), config=config), "cfn-lint should reject an unknown state type"


def test_state_machine_is_standard_and_maps_over_the_targets_at_the_concurrency_parameter() -> None:
    resolved = stack(**MANY, MaxConcurrentTargets="7")
    props = resolved["Resources"]["CheckerStateMachine"]["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["RoleArn"] == "<StateMachineRole.Arn>"
    states = definition(resolved)["States"]
    assert definition(resolved)["StartAt"] == "WhichAction"
    prepared = render(states["Prepare"]["Parameters"], schedule_input(resolved))
    the_map = states["CheckTargets"]
    assert the_map["Type"] == "Map"
    assert the_map["ItemProcessor"]["ProcessorConfig"]["Mode"] == "INLINE"
    assert json_path(the_map["ItemsPath"], prepared, {}) == TARGETS
    # MaxConcurrencyPath must find a number (a "7" string would fail the execution).
    assert json_path(the_map["MaxConcurrencyPath"], prepared, {}) == 7
    assert "MaxConcurrency" not in the_map

    task = the_map["ItemProcessor"]["States"]["CheckTarget"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"] == {"FunctionName": "<CheckerFunction.Arn>", "Payload.$": "$"}
    assert task["TimeoutSeconds"] > 900  # the function times out first
    lambda_errors = {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    }
    assert lambda_errors <= set(task["Retry"][0]["ErrorEquals"])
    assert task["Retry"][1] == {"ErrorEquals": ["RunFailedError"], "IntervalSeconds": 60, "MaxAttempts": 1}
    (catch,) = task["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "TargetFailed"
    assert states["TargetsFailed"] == {
        "Type": "Fail",
        "Error": "TargetsFailed",
        "CausePath": "States.JsonToString($.failed)",
    }


def test_each_map_item_is_an_event_the_handler_accepts() -> None:
    from imagewatch.events import parse_event

    events = map_item_events(stack(**MANY))
    assert events == [
        {"source": "schedule", "action": "check", "scheduled_time": SCHEDULED_TIME, "target": target}
        for target in TARGETS
    ]
    for event, target in zip(events, TARGETS, strict=True):
        request = parse_event(event)
        assert (request.trigger, request.scheduled_time, request.target) == (
            "schedule",
            SCHEDULED_TIME,
            target,
        )


def test_schedule_starts_the_state_machine_with_the_targets_as_json() -> None:
    resolved = stack(**MANY)
    schedule = resolved["Resources"]["CheckerFunctionSchedule"]
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == "<CheckerStateMachine>"
    assert target["RoleArn"] == "<SchedulerRole.Arn>"
    assert json.loads(target["Input"]) == {
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "targets": TARGETS,
    }
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": "<SchedulerDeadLetterQueue.Arn>"}
    statements = resolved["Resources"]["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    assert [(s["Sid"], s["Action"], s["Resource"]) for s in statements] == [
        ("StartCheckerStateMachine", "states:StartExecution", "<CheckerStateMachine>"),
        ("DeadLetter", "sqs:SendMessage", "<SchedulerDeadLetterQueue.Arn>"),
    ]


def test_a_hundred_targets_fit_in_the_parameter_parts() -> None:
    """One parameter holds 4,096 bytes (about 30 targets); the parts carry 100 and the schedule's
    input is one JSON array of all of them."""
    hundred = [
        {
            "name": f"team-{n:03d}",
            "region": "cn-north-4",
            "project_id": f"{n:032x}",
            "settings_secret": f"imagewatch/targets/team-{n:03d}",
        }
        for n in range(100)
    ]
    params = split_targets(hundred)
    assert len(params) == 4, "the test should need the parts"
    assert all(len(part) <= 4096 and part[0] in "[{" and part[-1] in ",]" for part in params.values())
    with pytest.raises(ValueError, match="TargetsJson: longer than MaxLength"):
        parameter_values(load_template(), {**REQUIRED, "TargetsJson": json.dumps(hundred)})
    resolved = stack(**params)
    assert schedule_input(resolved)["targets"] == hundred
    assert len(map_item_events(resolved)) == 100


@pytest.mark.parametrize("value", ['{"name": "prod"}', "prod-cn4", "[]", '["prod-cn4"]'])
def test_targets_json_must_be_an_array_of_objects(value: str) -> None:
    with pytest.raises(ValueError, match="TargetsJson"):
        parameter_values(load_template(), {**REQUIRED, "TargetsJson": value})


def test_reserved_concurrency_follows_max_concurrent_targets() -> None:
    def reserved(**params: str) -> Any:
        return only(stack(**params), "AWS::Lambda::Function")[1]["Properties"]["ReservedConcurrentExecutions"]

    assert reserved() == 1
    assert reserved(MaxConcurrentTargets="12") == 1  # no targets: still one run at a time
    assert reserved(**MANY) == "4"
    assert reserved(**MANY, MaxConcurrentTargets="12") == "12"
    for value in ("0", "41"):
        with pytest.raises(ValueError, match="MaxConcurrentTargets"):
            parameter_values(load_template(), {**REQUIRED, **MANY, "MaxConcurrentTargets": value})


def test_target_secrets_are_readable_only_in_targets_mode_and_only_under_the_prefix() -> None:
    assert "ReadTargetSecrets" not in role_statements(stack(), "CheckerRole")
    read = role_statements(stack(**MANY), "CheckerRole")["ReadTargetSecrets"]
    assert (read["Action"], read["Resource"]) == (
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imagewatch/targets/*",
    )
    custom = role_statements(stack(**MANY, TargetSecretsPrefix="teams/imagewatch/"), "CheckerRole")
    assert custom["ReadTargetSecrets"]["Resource"].endswith(":secret:teams/imagewatch/*")
    # The settings secret stays readable: it holds what the targets share (webhooks, channels).
    assert (
        role_statements(stack(**MANY), "CheckerRole")["ReadSettingsSecret"]["Resource"] == "<SettingsSecret>"
    )
    for prefix in ("", "imagewatch", "imagewatch/*", "*"):
        with pytest.raises(ValueError, match="TargetSecretsPrefix"):
            parameter_values(load_template(), {**REQUIRED, **MANY, "TargetSecretsPrefix": prefix})


def test_state_machine_role_may_only_invoke_the_function_and_publish_its_metric() -> None:
    role = stack(**MANY)["Resources"]["StateMachineRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert "ManagedPolicyArns" not in role
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("lambda:InvokeFunction", "<CheckerFunction.Arn>"),
        ("cloudwatch:PutMetricData", "*"),  # no resource-level permission exists for it
    ]
    assert statements[1]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "imagewatch"}}


def test_state_machine_failures_alarm() -> None:
    for params, actions in (({}, None), ({"AlarmTopicArn": TOPIC}, [TOPIC])):
        alarm = stack(**MANY, **params)["Resources"]["StateMachineFailedAlarm"]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": "<CheckerStateMachine>"}]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm.get("AlarmActions") == actions and alarm.get("OKActions") == actions
    # The function's own Errors alarm stays: a failed target is a failed invocation.
    assert "FunctionErrorsAlarm" in stack(**MANY)["Resources"]


def test_outputs_in_targets_mode() -> None:
    assert "StateMachineArn" not in stack()["Outputs"]
    outputs = stack(**MANY)["Outputs"]
    assert outputs["StateMachineArn"] == "<CheckerStateMachine>"
    assert outputs["ScheduleName"] == "<CheckerFunctionSchedule>"


# --- the state machine, run ----------------------------------------------------------------------


def run_state_machine(
    states_language: dict[str, Any], execution_input: Any, invoke: Any, after: Any = None
) -> tuple[dict[str, Any], list[float]]:
    """One execution in moto's Amazon States Language interpreter (LocalStack's), with the Lambda
    invocation answered by ``invoke(payload)`` and retry waits recorded instead of slept; ``after()``
    runs inside the mock once the execution is over (to read what it left in moto's AWS)."""
    import boto3
    from moto import mock_aws
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    def answer(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        assert parameters["FunctionName"] == "arn:aws:lambda:eu-west-1:123456789012:function:checker"
        return invoke(json.loads(parameters["Payload"]))

    waits: list[float] = []
    assert hasattr(lambda_eval_utils, "_invoke_lambda_function"), (
        "moto's interpreter changed: update the stub"
    )
    offline = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    with (
        mock.patch.dict(os.environ, offline),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", answer),
        mock.patch.object(retrier_decl, "time", mock.Mock(sleep=waits.append)),
    ):
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        text = json.dumps(states_language).replace(
            "<CheckerFunction.Arn>", "arn:aws:lambda:eu-west-1:123456789012:function:checker"
        )
        machine = client.create_state_machine(
            name="imagewatch",
            definition=text,
            roleArn="arn:aws:iam::123456789012:role/imagewatch-state-machine",
        )["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))
        for _ in range(200):
            described = client.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                if after is not None:
                    after()
                return described, waits
            time.sleep(0.05)
    raise AssertionError("the execution did not finish")


def summary_for(event: dict[str, Any]) -> dict[str, Any]:
    """What the function answers for a run that went well (the keys the state machine reads, and more)."""
    target = event["target"]
    return {
        "run_id": f"run-{target['name']}",
        "status": "ok",
        "target": f"{target['region']}/{target['project_id']}/0",
        "target_name": target["name"],
        "report": {"json": "https://presigned.example/…"},
    }


def test_state_machine_checks_every_target_and_succeeds_when_all_pass() -> None:
    from imagewatch.events import parse_event

    resolved = stack(**MANY)
    seen: list[dict[str, Any]] = []

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        parse_event(payload)  # the handler would accept it
        seen.append(payload)
        return {"StatusCode": 200, "Payload": summary_for(payload)}

    described, _ = run_state_machine(definition(resolved), schedule_input(resolved), invoke)
    assert described["status"] == "SUCCEEDED", described
    assert sorted(p["target"]["name"] for p in seen) == sorted(t["name"] for t in TARGETS)
    output = json.loads(described["output"])
    assert output["failed"] == []
    assert [item["result"] for item in output["targets"]] == [
        {"run_id": f"run-{t['name']}", "status": "ok", "ledger_target": f"{t['region']}/{t['project_id']}/0"}
        for t in TARGETS
    ]
    assert "presigned" not in described["output"], "report links must not reach the execution history"


def test_one_failing_target_does_not_stop_the_others_and_fails_the_execution_naming_it() -> None:
    from botocore.exceptions import ClientError

    bad = {"name": "broken-eu", "region": "eu-west-101", "project_id": "f" * 32}
    resolved = stack(TargetsJson=json.dumps([TARGETS[0], bad, TARGETS[1]]))
    calls: list[str] = []

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        name = payload["target"]["name"]
        calls.append(name)
        if name == "prod-cn4" and calls.count(name) == 1:  # throttled once: retried
            raise ClientError(
                {
                    "Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 429, "RequestId": "r"},
                },
                "Invoke",
            )
        if name == "broken-eu":  # the handler raised RunFailedError
            error = {
                "errorType": "RunFailedError",
                "errorMessage": "run x failed: APIG.0301",
                "stackTrace": [],
            }
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": error}
        return {"StatusCode": 200, "Payload": summary_for(payload)}

    described, waits = run_state_machine(definition(resolved), schedule_input(resolved), invoke)
    assert described["status"] == "FAILED", described
    assert described["error"] == "TargetsFailed"
    assert json.loads(described["cause"]) == [bad]
    # every target ran; the throttled one was retried, the failed run retried once, a minute later
    assert sorted(calls) == sorted(["prod-cn4", "prod-cn4", "broken-eu", "broken-eu", "payments-ap1"])
    assert 60 in waits


# --- many targets: the summary and the dead man's switch ------------------------------------------


def summary_schedule_input(resolved: dict[str, Any]) -> Any:
    raw = resolved["Resources"]["SummarySchedule"]["Properties"]["Target"]["Input"]
    return json.loads(raw.replace("<aws.scheduler.scheduled-time>", SCHEDULED_TIME))


def test_summary_schedule_with_many_targets_starts_the_state_machine_with_the_summary_action() -> None:
    resolved = stack(**MANY)
    props = resolved["Resources"]["SummarySchedule"]["Properties"]
    assert props["Target"]["Arn"] == "<CheckerStateMachine>"
    assert props["Target"]["RoleArn"] == "<SchedulerRole.Arn>"
    assert summary_schedule_input(resolved) == {
        "action": "summary",
        "scheduled_time": SCHEDULED_TIME,
        "targets": TARGETS,
    }
    assert resolved["Outputs"]["SummaryScheduleName"] == "<SummarySchedule>"


def test_the_state_machine_sends_each_target_its_summary_event_and_publishes_no_read_metric() -> None:
    from imagewatch.events import parse_event

    resolved = stack(**MANY)
    seen: list[dict[str, Any]] = []

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        request = parse_event(payload)  # the handler would accept it, as a scheduled summary
        assert (request.action, request.trigger, request.target) == ("summary", "schedule", payload["target"])
        seen.append(payload)
        return {"StatusCode": 200, "Payload": {**summary_for(payload), "action": "summary"}}

    described, points = run_with_metrics(definition(resolved), summary_schedule_input(resolved), invoke)
    assert described["status"] == "SUCCEEDED", described
    assert sorted(p["target"]["name"] for p in seen) == sorted(t["name"] for t in TARGETS)
    assert {p["action"] for p in seen} == {"summary"}
    assert points == []  # a summary reads nothing: it must not feed the dead man's switch
    assert json.loads(described["output"])["action"] == "summary"


def test_a_check_started_without_an_action_stays_a_check() -> None:
    """Executions started by hand with the documented input (docs/targets.md) carry no action."""
    resolved = stack(**MANY)
    actions: list[str] = []

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        actions.append(payload["action"])
        return {"StatusCode": 200, "Payload": summary_for(payload)}

    described, points = run_with_metrics(definition(resolved), schedule_input(resolved), invoke)
    assert "action" not in schedule_input(resolved)
    assert described["status"] == "SUCCEEDED", described
    assert actions == ["check"] * len(TARGETS)
    assert points == [1.0]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"prod-cn4": "partial"}, 0.0),  # one target's read was incomplete
        ({"payments-ap1": "skipped"}, 0.0),  # one target was not read at all (its lease was held)
        ({"prod-cn4": "failed"}, 0.0),  # one target failed (the execution fails too)
    ],
)
def test_a_check_execution_publishes_zero_unless_every_target_was_read_completely(
    statuses: dict[str, str], expected: float
) -> None:
    resolved = stack(**MANY)

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        status = statuses.get(payload["target"]["name"], "ok")
        if status == "failed":
            error = {"errorType": "RunFailedError", "errorMessage": "run x failed", "stackTrace": []}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": error}
        return {"StatusCode": 200, "Payload": {**summary_for(payload), "status": status}}

    described, points = run_with_metrics(definition(resolved), schedule_input(resolved), invoke)
    assert points == [expected]
    assert described["status"] == ("FAILED" if "failed" in statuses.values() else "SUCCEEDED"), described


def run_with_metrics(
    states_language: dict[str, Any], execution_input: Any, invoke: Any
) -> tuple[dict[str, Any], list[float]]:
    """One execution, and the AllTargetsComplete values it put into (moto's) CloudWatch."""
    import boto3

    points: list[float] = []

    def read_metrics() -> None:
        client = boto3.client("cloudwatch", region_name="eu-west-1")
        found = client.list_metrics(Namespace="imagewatch", MetricName="AllTargetsComplete")["Metrics"]
        for metric in found:
            assert metric["Dimensions"] == [{"Name": "service", "Value": "imagewatch"}]
        if found:
            now = time.time()
            stats = client.get_metric_statistics(
                Namespace="imagewatch",
                MetricName="AllTargetsComplete",
                Dimensions=[{"Name": "service", "Value": "imagewatch"}],
                StartTime=now - 3600,
                EndTime=now + 60,
                Period=60,
                Statistics=["Sum", "SampleCount"],
            )["Datapoints"]
            points.extend(p["Sum"] for p in stats)

    described, _ = run_state_machine(states_language, execution_input, invoke, after=read_metrics)
    return described, points


def test_targets_dead_mans_switch_alarms_when_no_execution_read_every_target() -> None:
    props = stack(**MANY)["Resources"]["TargetsDeadManAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("imagewatch", "AllTargetsComplete")
    assert props["Dimensions"] == [{"Name": "service", "Value": "imagewatch"}]
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", "7200", 1)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert props["TreatMissingData"] == "breaching"
    assert "AlarmActions" not in props
    loud = stack(**MANY, AlarmTopicArn=TOPIC)["Resources"]["TargetsDeadManAlarm"]["Properties"]
    assert (loud["AlarmActions"], loud["OKActions"]) == ([TOPIC], [TOPIC])
    assert "TargetsDeadManAlarm" not in stack()["Resources"]
    # a named target of many keeps its own alarm as well
    both = stack(**MANY, DeadManTarget="cn-north-4/other/0")["Resources"]
    assert {"TargetsDeadManAlarm", "DeadManAlarm"} <= set(both)
