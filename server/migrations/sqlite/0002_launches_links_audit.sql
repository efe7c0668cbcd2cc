-- EHR launches, practice members, patient links, sharing codes, the patient portal's accounts and the audit
-- log (issue 4). Times are Unix milliseconds (UTC), as in 0001. Every token or secret column holds a sealed
-- value (`v1.{key id}.{nonce}.{ciphertext}`, server/src/crypto) bound to its table, row and column, so a
-- copied value does not open anywhere else; keys live in configuration, never here.

-- Launches between `/launch` and `/callback`, keyed by SHA-256(state): a leaked table gives no usable state.
CREATE TABLE pending_launches (
    state_hash    TEXT PRIMARY KEY,
    -- The sealed PendingLaunch (it carries the PKCE verifier).
    sealed        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- One completed EHR launch: who, for which EHR patient, with which (sealed) tokens. The browser's session
-- holds only this row's id.
CREATE TABLE launches (
    id                   INTEGER PRIMARY KEY,
    -- The registered EHR (configuration), which is also the practice whose links and audit this touches.
    ehr_id               TEXT NOT NULL,
    -- The verified id_token's fhirUser, as the EHR wrote it (relative or absolute).
    fhir_user            TEXT NOT NULL,
    -- The token response's patient context; NULL when the EHR launched without a patient.
    ehr_patient_id       TEXT,
    encounter            TEXT,
    need_patient_banner  INTEGER NOT NULL DEFAULT 0 CHECK (need_patient_banner IN (0, 1)),
    -- The EHR's Patient as read at launch, for the banner and the side-by-side check when linking.
    ehr_patient_name     TEXT,
    ehr_patient_birth    TEXT,
    -- What the EHR granted (not what was asked for): every FHIR call is checked against it.
    granted_scope        TEXT NOT NULL,
    access_token         TEXT NOT NULL,
    refresh_token        TEXT,
    expires_at_ms        INTEGER,
    -- 'active', or 'needs_relaunch' after a refresh failed: shown to admins, never retried blindly.
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_relaunch')),
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL
);

-- Who may use CloudCGM for a practice (one registered EHR is one practice) and as what.
CREATE TABLE practice_members (
    id            INTEGER PRIMARY KEY,
    ehr_id        TEXT NOT NULL,
    fhir_user     TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'clinician')),
    created_at_ms INTEGER NOT NULL,
    CONSTRAINT practice_members_unique UNIQUE (ehr_id, fhir_user)
);

-- A CloudCGM patient linked to a patient of an EHR. Unlinking keeps the row (the audit trail needs it).
CREATE TABLE patient_links (
    id             INTEGER PRIMARY KEY,
    ehr_id         TEXT NOT NULL,
    ehr_patient_id TEXT NOT NULL,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    linked_by      TEXT NOT NULL,
    linked_at_ms   INTEGER NOT NULL,
    -- Set when the identities differed and the clinician confirmed anyway.
    mismatch_reason TEXT,
    unlinked_at_ms INTEGER,
    unlinked_by    TEXT,
    unlink_reason  TEXT
);
-- At most one live link per EHR patient and per CloudCGM patient within an EHR.
CREATE UNIQUE INDEX patient_links_live_ehr_patient
    ON patient_links (ehr_id, ehr_patient_id) WHERE unlinked_at_ms IS NULL;
CREATE UNIQUE INDEX patient_links_live_patient
    ON patient_links (ehr_id, patient_id) WHERE unlinked_at_ms IS NULL;

-- Sharing codes: found by a keyed HMAC of the code (`lookup`); the code itself is kept only sealed, so the
-- patient portal can show it again. Single use, expiring, revocable; a new code revokes the old one.
CREATE TABLE sharing_codes (
    id            INTEGER PRIMARY KEY,
    patient_id    INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    lookup        BLOB NOT NULL UNIQUE,
    sealed_code   TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER,
    revoked_at_ms INTEGER
);
CREATE INDEX sharing_codes_patient ON sharing_codes (patient_id, created_at_ms);

-- The patient portal's sign-in (argon2id PHC strings).
CREATE TABLE portal_accounts (
    patient_id    INTEGER PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Every link, unlink, report view, failed code attempt, sign-in failure and submission. Failed attempts are
-- also what the rate limits count, so limits hold across restarts and nodes.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY,
    at_ms          INTEGER NOT NULL,
    ehr_id         TEXT,
    -- 'Practitioner/…' (with ehr_id), 'patient:{id}' or 'system'.
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    ehr_patient_id TEXT,
    patient_id     INTEGER,
    source_ip      TEXT,
    detail         TEXT
);
CREATE INDEX audit_events_practice ON audit_events (ehr_id, at_ms);
CREATE INDEX audit_events_limits ON audit_events (action, at_ms);
