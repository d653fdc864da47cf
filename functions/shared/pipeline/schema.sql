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

-- Dataset tables are keyed by (file_id, source_row): a source row is stored once, whatever happens.
-- file_id is the ledger row written in the same transaction; it is deliberately not a FOREIGN KEY:
-- the per-row referential check more than doubled the time to COPY a million events (see
-- docs/performance.md), and nothing ever deletes ledger rows (a superseded file's rows are deleted
-- with its ledger row kept, in the transaction that loads the version replacing it).
CREATE TABLE IF NOT EXISTS housing (
    file_id            bigint           NOT NULL,  -- ingested_files.id
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
    ocean_proximity    text             NOT NULL,
    PRIMARY KEY (file_id, source_row)
);

-- Each file's rows are added in its loading transaction, all of `housing` recomputed when a file's
-- rows are taken out (db.refresh_summary).
CREATE TABLE IF NOT EXISTS housing_summary_statistics (
    ocean_proximity        text        PRIMARY KEY,
    record_count           bigint      NOT NULL,
    avg_median_house_value numeric,
    min_median_house_value numeric,
    max_median_house_value numeric,
    updated_at             timestamptz NOT NULL
);
-- Added after the first release (a DO block: a cold start alters nothing once it exists): the sum
-- behind the average, so a load adds to it instead of reading every row again. NULL in rows written
-- before it existed: the next load recomputes those.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'housing_summary_statistics'
                     AND column_name = 'sum_median_house_value') THEN
        ALTER TABLE housing_summary_statistics ADD COLUMN IF NOT EXISTS sum_median_house_value numeric;
    END IF;
END
$$;

-- One row per loaded retina scan (JSON arrays, usually). patient_id repeats: a patient has many scans.
CREATE TABLE IF NOT EXISTS retina_scans (
    file_id                  bigint           NOT NULL,  -- ingested_files.id
    source_row               integer          NOT NULL,  -- 1-based record of the source file
    patient_id               text             NOT NULL,
    patient_name             text             NOT NULL,
    scan_date                date             NOT NULL,
    retina_thickness_microns double precision NOT NULL,  -- > 0 and <= 1000
    optic_disc_cup_ratio     double precision NOT NULL,  -- 0..1
    diagnosis                text             NOT NULL,
    PRIMARY KEY (file_id, source_row)
);
CREATE INDEX IF NOT EXISTS retina_scans_patient_id ON retina_scans (patient_id);

-- One row per loaded user event. Keys/columns the contract does not name go to `attributes`.
CREATE TABLE IF NOT EXISTS events (
    file_id     bigint      NOT NULL,  -- ingested_files.id
    source_row  integer     NOT NULL,  -- 1-based data row (CSV), line (NDJSON) or element (JSON array)
    "timestamp" timestamptz NOT NULL,
    event_type  text        NOT NULL,
    user_id     text        NOT NULL,
    action      text        NOT NULL,
    attributes  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The UTC date of the event: what outputs are partitioned by and the daily counts group by.
    event_date  date        GENERATED ALWAYS AS ((("timestamp" AT TIME ZONE 'UTC')::date)) STORED,
    PRIMARY KEY (file_id, source_row)
);
CREATE INDEX IF NOT EXISTS events_event_date ON events (event_date);

-- Each file's events are added in its loading transaction (db.refresh_summary).
CREATE TABLE IF NOT EXISTS event_counts_by_type (
    event_type text        NOT NULL,
    event_date date        NOT NULL,  -- UTC
    count      bigint      NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (event_type, event_date)
);
