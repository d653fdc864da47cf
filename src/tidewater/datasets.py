"""The datasets the processor knows: what the first segment of a raw object key must name.

They come from the pipeline's contracts in the work tree (functions/shared/pipeline), the same code
the build puts into the processor zip, so the CLI refuses an upload the processor would quarantine
as `unknown_dataset`.
"""

from __future__ import annotations

import importlib
import sys

from tidewater.stack.env import repo_root


def known_datasets() -> list[str]:
    shared = str(repo_root() / "functions" / "shared")
    if shared not in sys.path:
        sys.path.append(shared)
    contracts = importlib.import_module("pipeline.contracts")
    return sorted(contracts.CONTRACTS)
