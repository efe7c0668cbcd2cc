-- Background work and what CloudCGM sent to EHRs as the IG's CGM Data Submitter (issue 5). Times are Unix
-- milliseconds (UTC), as in 0001 and 0002.

-- One unit of background work. A worker claims a job by taking its lease (`lease_owner`, `lease_until_ms`);
-- a worker that dies mid-job leaves a lease that lapses, and the next claim takes the job over. The
-- idempotency key makes enqueueing the same work twice a no-op (a clinician's double click, a standing-order
-- window seen by two ticks, an EHR one-time order read again).
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    -- 'submit' (build and POST bundles for one window) | 'sync_orders' (read the EHR's orders).
    kind             TEXT NOT NULL,
    link_id          INTEGER NOT NULL REFERENCES patient_links (id),
    idempotency_key  TEXT NOT NULL UNIQUE,
    -- The kind's parameters as JSON (for 'submit': window, data profiles, bundle timestamp, origin).
    payload          TEXT NOT NULL,
    -- queued → running → done | failed | cancelled; 'waiting' when the EHR connection needs a new launch.
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'done', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after_ms     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until_ms   INTEGER,
    -- Chunks submitted so far and in all, for the progress bar.
    progress_done    INTEGER NOT NULL DEFAULT 0,
    progress_total   INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    -- The clinician's fhirUser, 'standing-order' or 'ehr-order/{id}'.
    requested_by     TEXT NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    finished_at_ms   INTEGER
);
CREATE INDEX jobs_claimable ON jobs (status, run_after_ms);
CREATE INDEX jobs_by_link ON jobs (link_id, created_at_ms);

-- One POST to `[base]/$submit-cgm-bundle`: a chunk of a submit job (NOTES A7). A chunk whose entries were
-- all answered is never sent again by a retry of its job.
CREATE TABLE submissions (
    id               INTEGER PRIMARY KEY,
    job_id           INTEGER NOT NULL REFERENCES jobs (id),
    link_id          INTEGER NOT NULL REFERENCES patient_links (id),
    chunk_index      INTEGER NOT NULL,
    chunk_count      INTEGER NOT NULL,
    -- SHA-256 of the bytes sent: the same chunk rebuilt by a retry is the same bundle.
    bundle_sha256    TEXT NOT NULL,
    entry_count      INTEGER NOT NULL,
    sent_at_ms       INTEGER NOT NULL,
    -- NULL when no answer came (timeout, dropped connection).
    http_status      INTEGER,
    -- 'answered' (every entry has a status) | 'retry' (429, 5xx, no answer) | 'refused' (whole request
    -- refused with an OperationOutcome: 400, 403, 413, 415, 422).
    result           TEXT NOT NULL CHECK (result IN ('answered', 'retry', 'refused')),
    accepted         INTEGER NOT NULL DEFAULT 0,
    rejected         INTEGER NOT NULL DEFAULT 0,
    -- What went wrong, from the OperationOutcome or the transport; never a token or a bundle.
    detail           TEXT
);
CREATE INDEX submissions_by_job ON submissions (job_id, chunk_index);
CREATE INDEX submissions_by_link ON submissions (link_id, sent_at_ms);

-- Every entry's answer (RCV-3): what was sent and whether the receiver took it, and why not.
CREATE TABLE submission_entries (
    submission_id    INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    entry_index      INTEGER NOT NULL,
    resource_type    TEXT NOT NULL,
    -- The IG profile id (cgm-summary, cgm-sensor-reading-mass-per-volume, …).
    profile          TEXT,
    -- Our identifier `system|value` (SUB-7), so an entry can be traced at the receiver.
    identifier       TEXT,
    -- The entry's HTTP status (201, 200, 400, 412, 422, …).
    status           INTEGER NOT NULL,
    location         TEXT,
    -- The entry's OperationOutcome, as text, when it was rejected or warned.
    outcome          TEXT,
    PRIMARY KEY (submission_id, entry_index)
) WITHOUT ROWID;

-- Standing orders (NOTES D1, D2): per link and schedule, when the last window was accepted and where it ended,
-- so the next window starts exactly there (no gaps, no repeats) and the cadence counts from the last success.
CREATE TABLE schedule_state (
    link_id            INTEGER NOT NULL REFERENCES patient_links (id),
    -- cloudcgm::orders::schedule_key: the period and the sorted data profiles.
    schedule_key       TEXT NOT NULL,
    last_success_at_ms INTEGER,
    covered_until_ms   INTEGER,
    PRIMARY KEY (link_id, schedule_key)
) WITHOUT ROWID;

-- EHR one-time orders already turned into a job (NOTES D6): each order version is fulfilled once.
CREATE TABLE fulfilled_orders (
    link_id        INTEGER NOT NULL REFERENCES patient_links (id),
    order_id       TEXT NOT NULL,
    order_version  TEXT NOT NULL,
    job_id         INTEGER NOT NULL REFERENCES jobs (id),
    seen_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (link_id, order_id, order_version)
) WITHOUT ROWID;
