"""Local stacks: where LocalStack and PostgreSQL come from on a developer machine or in CI.

- ``host``: no Docker; LocalStack runs as a host process, Lambda functions as host subprocesses
  (our executor plugin), PostgreSQL from ``initdb``.
- ``compose``: ``docker compose`` runs LocalStack and PostgreSQL containers.

Both write the same ``stack.env`` so everything downstream (deploy, CLI, tests) is backend-agnostic.
"""
