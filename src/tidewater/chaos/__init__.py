"""`make chaos`: faults injected while files flow through a private stack, every invariant checked
after each trial (docs/chaos.md). This file imports nothing: LocalStack loads
`tidewater.chaos.s3_faults` (a start-up hook) in its own venv, where psycopg2 and the rest of the
harness's dependencies are absent."""
