"""The plux plugin LocalStack finds through the ``localstack.lambda.runtime_executor`` entry point
(declared in pyproject.toml) and selects with ``LAMBDA_RUNTIME_EXECUTOR=process``."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "process"

    def load(self, *args, **kwargs):
        # Imported here, not at module level: plux loads plugin classes while LocalStack starts,
        # and the executor only matters once the Lambda service is used.
        from tidewater.executor.executor import ProcessRuntimeExecutor

        return ProcessRuntimeExecutor
