#!/bin/sh
# The stand-in's entrypoint: run LocalStack in the foreground, as the official image does.
set -e
exec /opt/code/localstack/.venv/bin/python -m localstack.runtime.main "$@"
