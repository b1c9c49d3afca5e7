"""A real moto server on 127.0.0.1 for AWS stand-ins (DynamoDB, S3, Secrets Manager), and clients for it."""

from __future__ import annotations

import uuid
from typing import Any

import boto3

REGION = "eu-west-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto's own


class MotoServer:
    """``ThreadedMotoServer`` bound to a free loopback port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        host, port = self._server._server.server_address[:2]  # moto exposes no getter
        return f"http://{host}:{port}"

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, **FAKE_CREDENTIALS)


def create_ledger_table(dynamodb: Any) -> str:
    """A table shaped as template.yaml's LedgerTable (target + fingerprint, TTL on expires_at)."""
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "target", "AttributeType": "S"},
            {"AttributeName": "fingerprint", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "target", "KeyType": "HASH"},
            {"AttributeName": "fingerprint", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    return name


def ledger_items(client: object, table: str) -> list[dict]:
    """The ledger's entries in a DynamoDB table (not the leases, not the per-target markers: their
    sort keys start with ``#``)."""
    items = client.scan(TableName=table)["Items"]  # type: ignore[attr-defined]
    return [item for item in items if not item["fingerprint"]["S"].startswith("#")]


def aws_environment(url: str) -> dict[str, str]:
    """The variables that point boto3 at the moto server at ``url`` with moto's own credentials."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
    }
