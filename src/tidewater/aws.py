"""Clients for a deployed pipeline: AWS clients pointed at the stack, Terraform outputs, the database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import boto3
import psycopg2
from botocore.config import Config

from tidewater.stack.env import EMULATOR_CREDENTIALS, StackEnv, load, state_dir


@dataclass
class Pipeline:
    """A deployed pipeline as seen from this machine."""

    env: StackEnv
    outputs: dict[str, str]
    _clients: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_state(cls, state: Path | None = None) -> Pipeline:
        state = state or state_dir()
        env = load(state)
        outputs_file = state / "outputs.json"
        if not outputs_file.exists():
            raise SystemExit(f"The pipeline is not deployed to this stack ({outputs_file} missing): run `make deploy`.")
        return cls(env, json.loads(outputs_file.read_text()))

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.env.endpoint_url,
                region_name=self.env.region,
                aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
            )
        return self._clients[service]

    @cached_property
    def db(self):
        conn = psycopg2.connect(self.env.database_url, connect_timeout=5)
        conn.autocommit = True
        return conn

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run a read query; returns [] if the schema does not exist yet (nothing processed)."""
        with self.db.cursor() as cur:
            try:
                cur.execute(sql, params)
            except psycopg2.errors.UndefinedTable:
                return []
            return cur.fetchall()

    def queue_depth(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])
