-- The sandbox EHR's FHIR resources. Each resource is stored whole, as the JSON the API returns (with id and
-- meta), plus one row per indexed search value. The index is written in the same transaction as the resource,
-- so accepted data is searchable at once (RCV-5).

CREATE TABLE resources (
    type         TEXT NOT NULL,     -- resourceType
    id           TEXT NOT NULL,     -- logical id assigned by the sandbox (client ids are never kept, NOTES B1)
    version      INTEGER NOT NULL,  -- meta.versionId
    last_updated TEXT NOT NULL,     -- meta.lastUpdated, RFC 3339 UTC with milliseconds (sorts as text)
    patient_id   TEXT,              -- the Patient compartment it belongs to; NULL for Practitioner and
                                    -- patient-less Devices. Scope checks of patient/ tokens use it.
    body         TEXT NOT NULL,     -- the resource JSON, decimals as written (NOTES C3)
    PRIMARY KEY (type, id)
) WITHOUT ROWID;

CREATE INDEX resources_by_patient ON resources (patient_id, type, last_updated);

-- Search values. One row per (resource, parameter, value):
--   token parameters (code, category, identifier, status, gender): system + value;
--   string parameters (name, family, given): value lower-cased, matched by prefix;
--   reference parameters (patient, subject): value 'Patient/{id}';
--   date parameters (date, birthdate): lo_ms / hi_ms, the instant range the element covers.
CREATE TABLE search_index (
    type   TEXT NOT NULL,
    id     TEXT NOT NULL,
    param  TEXT NOT NULL,
    system TEXT,
    value  TEXT,
    lo_ms  INTEGER,
    hi_ms  INTEGER,
    FOREIGN KEY (type, id) REFERENCES resources (type, id) ON DELETE CASCADE
);

CREATE INDEX search_index_value ON search_index (type, param, value, system);
CREATE INDEX search_index_date ON search_index (type, param, lo_ms);
CREATE INDEX search_index_resource ON search_index (type, id);

-- One row per $submit-cgm-bundle call that was processed (whole-request failures included), for the
-- patient chart's submission history and for audit. Per-entry outcomes live in submission_entries.
CREATE TABLE submissions (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,          -- RFC 3339 UTC
    client_id   TEXT NOT NULL,
    patient_id  TEXT,                   -- NULL when the request failed before a patient was known
    http_status INTEGER NOT NULL,       -- status of the whole response (200 even when entries were rejected)
    entries     INTEGER NOT NULL,
    created     INTEGER NOT NULL,       -- 201 entries
    matched     INTEGER NOT NULL,       -- 200 entries (conditional-create or duplicate matches, info-only)
    rejected    INTEGER NOT NULL,       -- 4xx entries
    summary     TEXT                    -- short human-readable note (e.g. the whole-request error)
);

CREATE INDEX submissions_by_patient ON submissions (patient_id, received_at);

CREATE TABLE submission_entries (
    submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,     -- position in the request bundle
    resource_type TEXT,
    code          TEXT,                 -- Observation/DiagnosticReport LOINC code when present
    status        INTEGER NOT NULL,
    location      TEXT,
    diagnostics   TEXT,
    PRIMARY KEY (submission_id, idx)
) WITHOUT ROWID;
