"""Local stacks: an AWS emulator and PostgreSQL on a developer machine or in CI.

Two independent choices:
- the emulator (``emulators/``): LocalStack 4.14.0 or MiniStack 1.5.33, one file each;
- the backend: ``host`` (no Docker: the emulator as a host process, Lambda functions as host
  subprocesses, PostgreSQL from ``initdb``) or ``compose`` (``docker compose`` runs LocalStack and
  PostgreSQL containers).

Both backends write the same ``stack.env`` so everything downstream (deploy, CLI, tests) is
backend- and emulator-agnostic.
"""
