# `make chaos` overrides, applied after envs/local.tfvars:
#   tidewater deploy --var-file bench/chaos.tfvars
# Faults are injected in bulk: a killed batch must come back in seconds, not minutes.

# The chaos files are small (the largest, ENOSPC's, ~40 MB takes ~2 s): a batch ends well within this.
processor_timeout_seconds = 10

# At least the function timeout (Terraform checks it): a message of a killed batch is received
# again 10 s later; after max_receive_count (3, envs/local.tfvars) receives it is dead-lettered.
ingest_queue_visibility_timeout_seconds = 10
