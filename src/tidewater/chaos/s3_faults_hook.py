"""The LocalStack start-up hook of `make chaos`'s S3 errors (what fails, and when: s3_faults.py).

It runs inside LocalStack's process, like tidewater.executor.hooks, and only wraps S3 when
TIDEWATER_CHAOS_S3_FAULTS names a control file (the chaos instance's LocalStack, nobody else's). It
wraps the S3 provider's methods before the provider is created, so the dispatch table LocalStack
builds from them takes the wrapped ones (functools.wraps keeps the @handler attributes it reads).
"""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path

from localstack.runtime import hooks

from tidewater.chaos.s3_faults import CONTROL_VAR, ERRORS, OPERATIONS, Switch, request_target


@hooks.on_infra_start(priority=100)
def inject_s3_errors() -> None:
    control = os.environ.get(CONTROL_VAR)
    if not control:
        return
    from localstack.aws.api import CommonServiceException
    from localstack.services.s3.provider import S3Provider

    switch = Switch(Path(control))

    def wrap(operation: str, method):
        @functools.wraps(method)
        def maybe_failing(self, context, *args, **kwargs):
            bucket, key = request_target(args, kwargs)
            if switch.fails(operation, bucket, key):
                code, message, status = random.choice(ERRORS)  # nosec B311 - fault injection, not security
                raise CommonServiceException(code, message, status_code=status)
            return method(self, context, *args, **kwargs)

        return maybe_failing

    for operation, name in OPERATIONS.items():
        setattr(S3Provider, name, wrap(operation, getattr(S3Provider, name)))
