"""LocalStack start-up hook for running several host-mode LocalStacks on one machine.

LocalStack keeps S3 object bodies under a fixed ``/tmp/localstack-s3-storage`` (a path meant for
its container), shared by every LocalStack process on the host: deleting a bucket in one instance
(``terraform destroy``, test teardown) deletes the same-named bucket's data of every other one.
Point it at this instance's own tmp directory before the S3 provider is created.
"""

from __future__ import annotations

import os

from localstack import config
from localstack.runtime import hooks


@hooks.on_infra_start(priority=100)
def isolate_s3_storage() -> None:
    from localstack.services.s3 import provider

    provider.DEFAULT_S3_TMP_DIR = os.path.join(config.dirs.tmp, "s3-storage")
