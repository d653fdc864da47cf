# `make bench` overrides, applied after envs/local.tfvars:
#   tidewater deploy --var-file bench/bench.tfvars   (or: make deploy DEPLOY_ARGS="--var-file bench/bench.tfvars")
# envs/local.tfvars is tuned for fast test feedback (30 s timeouts, 512 MB /tmp); the benchmark sends
# a 1,000,000-row file (~100 MB) to one invocation and 30 files of 100,000 rows through the queue.

# One invocation may take as long as AWS allows: the 1M-row file is processed in a single invocation,
# and a batch of 10 of the report's 100,000-row files runs one after the other in one invocation.
processor_timeout_seconds = 900

# At least the function timeout, or a message reappears (and is processed twice) while its batch
# still runs.
ingest_queue_visibility_timeout_seconds = 960

# The processor streams a file through /tmp and accepts objects up to about half of the free space:
# 2 GB leaves room for the 1M-row CSV, its staging files and the Parquet output.
processor_ephemeral_storage_mb = 2048

# The 30-day report aggregates 3M+ events; a slow report should be measured, not time out.
reporter_timeout_seconds = 300
