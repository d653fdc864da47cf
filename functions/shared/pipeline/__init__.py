"""Shared code of the tidewater Lambda functions, copied into every function zip as `pipeline`.

Pure logic (contracts, parsing, validation, transformation, event parsing) lives in modules with no
AWS or database dependency so unit tests call it directly; `s3io` and `db` hold the effects, and
`ingest` wires them together for one S3 object.
"""
