-- tidewater's PostgreSQL schema. The processor applies this file on its first connection in each
-- execution environment, under a session advisory lock so concurrent cold starts do not race; every
-- statement is idempotent. Names follow docs/architecture.md: other parts (reporter, CLI) read them.

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
    status           text        NOT NULL CHECK (status IN ('loaded', 'duplicate', 'quarantined')),
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

-- Duplicate detection looks for loaded files of a dataset with the same bytes.
CREATE INDEX IF NOT EXISTS ingested_files_loaded_content
    ON ingested_files (dataset, content_sha256) WHERE status = 'loaded';
-- Reports and `tidewater status` look at recent files.
CREATE INDEX IF NOT EXISTS ingested_files_finished_at ON ingested_files (finished_at);

CREATE TABLE IF NOT EXISTS housing (
    id                 bigserial        PRIMARY KEY,
    file_id            bigint           NOT NULL REFERENCES ingested_files (id),
    source_row         integer          NOT NULL,  -- 1-based data row of the source file, header excluded
    longitude          double precision NOT NULL,
    latitude           double precision NOT NULL,
    housing_median_age integer          NOT NULL,
    total_rooms        integer          NOT NULL,
    total_bedrooms     integer,                    -- missing for some blocks in the published data
    population         integer          NOT NULL,
    households         integer          NOT NULL,
    median_income      double precision NOT NULL,
    median_house_value numeric          NOT NULL,  -- numeric so the summary's averages are exact
    ocean_proximity    text             NOT NULL
);

CREATE INDEX IF NOT EXISTS housing_file_id ON housing (file_id);

-- Recomputed from `housing` in every loading transaction (db.refresh_summary).
CREATE TABLE IF NOT EXISTS housing_summary_statistics (
    ocean_proximity        text        PRIMARY KEY,
    record_count           bigint      NOT NULL,
    avg_median_house_value numeric,
    min_median_house_value numeric,
    max_median_house_value numeric,
    updated_at             timestamptz NOT NULL
);
