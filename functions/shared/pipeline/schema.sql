-- tidewater's ledger. The processor applies this file on its first connection in each execution
-- environment, under a session advisory lock so concurrent cold starts do not race; every statement
-- is idempotent. The dataset and summary tables are made from the contracts (tables.py) under the
-- same lock. Names follow docs/architecture.md: other parts (reporter, CLI) read them.

-- The ledger: one row per source object version. Its unique key is what makes loads idempotent, and
-- it commits in the same transaction as the rows it describes.
CREATE TABLE IF NOT EXISTS ingested_files (
    id               bigserial   PRIMARY KEY,
    bucket           text        NOT NULL,
    s3_key           text        NOT NULL,  -- decoded object key
    version_id       text        NOT NULL,  -- S3 VersionId, or the ETag when the bucket is unversioned
    etag             text,
    content_sha256   text,
    size_bytes       bigint,
    dataset          text        NOT NULL,
    -- superseded: a later version of the same key replaced it (contracts with on_new_version: replace)
    status           text        NOT NULL CONSTRAINT ingested_files_status_check
                                 CHECK (status IN ('loaded', 'duplicate', 'quarantined', 'superseded')),
    rows_loaded      integer     NOT NULL DEFAULT 0,
    rows_quarantined integer     NOT NULL DEFAULT 0,
    error            text,                  -- machine-readable reason code; NULL when loaded
    error_detail     text,                  -- the same reason in words, for people
    duplicate_of     bigint      REFERENCES ingested_files (id),
    event_time       timestamptz,           -- S3 event time
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    processed_key    text,                  -- output object in the processed bucket
    quarantine_key   text,                  -- reason.json in the quarantine bucket, when there is one
    CONSTRAINT ingested_files_object_version UNIQUE (bucket, s3_key, version_id)
);

-- Added after the first release (a DO block, so a cold start alters nothing - and takes no lock on
-- the ledger - once they exist):
--   processed_keys / quarantine_keys: every object the file wrote to the processed / quarantine
--     bucket (`tidewater doctor` removes objects no loaded or quarantined file names);
--   superseded_by: the ledger row of the version of the same key that replaced this one;
--   sequencer: the S3 event's sequencer, which orders events of one key (with event_time).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'ingested_files'
                     AND column_name = 'superseded_by') THEN
        ALTER TABLE ingested_files
            ADD COLUMN IF NOT EXISTS processed_keys  text[],
            ADD COLUMN IF NOT EXISTS quarantine_keys text[],
            ADD COLUMN IF NOT EXISTS superseded_by   bigint REFERENCES ingested_files (id),
            ADD COLUMN IF NOT EXISTS sequencer       text,
            DROP CONSTRAINT IF EXISTS ingested_files_status_check,
            ADD CONSTRAINT ingested_files_status_check
                CHECK (status IN ('loaded', 'duplicate', 'quarantined', 'superseded'));
    END IF;
END
$$;

-- Duplicate detection looks for loaded files of a dataset with the same bytes.
CREATE INDEX IF NOT EXISTS ingested_files_loaded_content
    ON ingested_files (dataset, content_sha256) WHERE status = 'loaded';
-- A new version of a key looks for the key's current version (loaded or duplicate) through the
-- unique (bucket, s3_key, version_id) index; replacing it looks for the files that duplicate it.
CREATE INDEX IF NOT EXISTS ingested_files_duplicates ON ingested_files (duplicate_of) WHERE status = 'duplicate';
-- Reports and `tidewater status` look at recent files.
CREATE INDEX IF NOT EXISTS ingested_files_finished_at ON ingested_files (finished_at);

-- Added with the contracts files: the `version` of the contract a file was (last) loaded under.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'ingested_files'
                     AND column_name = 'contract_version') THEN
        ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS contract_version text;
    END IF;
END
$$;
