# The test stacks' settings, applied after envs/local.tfvars (tests/stacks.py; docker/e2e.sh passes
# it to the compose stack's deploy too). A stack you start with `make up` and test with
# TIDEWATER_TEST_STACK=external keeps the settings it was deployed with.

# The daily report every minute, so tests/e2e/test_report.py sees the rule fire.
report_schedule_expression = "rate(1 minute)"

# A failed message comes back after 15 s instead of 30: an outage reaches the DLQ (3 receives) in
# ~45 s. The processor loads every test file in a few seconds, also on a busy CI machine.
processor_timeout_seconds               = 15
ingest_queue_visibility_timeout_seconds = 15
