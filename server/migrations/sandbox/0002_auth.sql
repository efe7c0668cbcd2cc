-- The sandbox's SMART authorization server (server/src/sandbox/auth, docs/sandbox-smart.md).
-- Secrets (launch ids, codes, tokens) are stored only as SHA-256 hex digests. Times are Unix seconds.

-- The id_token signing key, generated once per database so restarts keep the kid.
CREATE TABLE auth_signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,         -- RS256
    private_pem TEXT NOT NULL,         -- PKCS#8 PEM
    created_at  INTEGER NOT NULL
);

-- EHR launches (AuthServer::create_launch): single use, 5 minutes, bound to one client.
CREATE TABLE auth_launches (
    id_hash             TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL,
    fhir_user           TEXT NOT NULL,
    patient             TEXT NOT NULL,
    encounter           TEXT,
    need_patient_banner INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    used                INTEGER NOT NULL DEFAULT 0
);

-- Standalone authorizations waiting for the sign-in page; keyed by an opaque id, CSRF token bound to it.
CREATE TABLE auth_pending (
    id             TEXT PRIMARY KEY,
    csrf           TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    state          TEXT,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,      -- already intersected with the client's registration
    expires_at     INTEGER NOT NULL
);

-- Authorization codes: single use, 60 s. `family` links the tokens issued from one code (revoked together).
CREATE TABLE auth_codes (
    code_hash           TEXT PRIMARY KEY,
    family              TEXT NOT NULL,
    client_id           TEXT NOT NULL,
    redirect_uri        TEXT NOT NULL,
    code_challenge      TEXT NOT NULL,
    scope               TEXT NOT NULL,
    patient             TEXT,
    encounter           TEXT,
    fhir_user           TEXT,
    need_patient_banner INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    used                INTEGER NOT NULL DEFAULT 0
);

-- Access and refresh tokens. A refresh token is `used` once rotated; presenting a used one revokes its family.
CREATE TABLE auth_tokens (
    token_hash          TEXT PRIMARY KEY,
    kind                TEXT NOT NULL,  -- 'access' | 'refresh'
    family              TEXT NOT NULL,
    client_id           TEXT NOT NULL,
    scope               TEXT NOT NULL,
    patient             TEXT,
    encounter           TEXT,
    fhir_user           TEXT,
    need_patient_banner INTEGER NOT NULL,
    issued_at           INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    used                INTEGER NOT NULL DEFAULT 0,
    revoked             INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX auth_tokens_by_family ON auth_tokens (family);

-- private_key_jwt assertion ids already seen (replay protection), kept until the assertion expires.
CREATE TABLE auth_assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;

-- Patients each client was ever authorized for (EHR or standalone launch): AuthServer::client_may_act_for,
-- the linkage check for system-level tokens (NOTES B4).
CREATE TABLE auth_client_patients (
    client_id  TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    first_at   INTEGER NOT NULL,
    PRIMARY KEY (client_id, patient_id)
) WITHOUT ROWID;
