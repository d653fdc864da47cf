"""`make bench`: see __main__.py and docs/performance.md.

The bench uses the pipeline's own code (its schema, the reports' percentile), which lives in
functions/shared/pipeline and is copied into the function zips as the `pipeline` package; from a
checkout it is importable once functions/shared is on the path.
"""

import sys

from tidewater.stack.env import repo_root

_SHARED = str(repo_root() / "functions" / "shared")
if _SHARED not in sys.path:
    sys.path.append(_SHARED)
