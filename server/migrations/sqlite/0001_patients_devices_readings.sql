-- CloudCGM's own patient records, their CGM devices and raw readings (SQLite).
-- Times are stored as integers (Unix milliseconds, UTC): exact, compact and cheap to range-scan.

CREATE TABLE patients (
    id             INTEGER PRIMARY KEY,
    -- Set only for seeded demo patients, so seeding twice finds the same row instead of a duplicate.
    demo_key       TEXT UNIQUE,
    given_name     TEXT NOT NULL CHECK (length(given_name) > 0),
    family_name    TEXT NOT NULL CHECK (length(family_name) > 0),
    birth_date     TEXT NOT NULL CHECK (date(birth_date) = birth_date),
    sex            TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    -- IANA zone: days, nights and the AGP clock are the patient's local time (METRICS.md).
    time_zone      TEXT NOT NULL,
    -- The unit the patient's devices report in; the report opens in it.
    preferred_unit TEXT NOT NULL DEFAULT 'mg/dL' CHECK (preferred_unit IN ('mg/dL', 'mmol/L')),
    created_at_ms  INTEGER NOT NULL
);

CREATE TABLE devices (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    -- The source's own identifier (serial, model key): re-imports find the same device.
    device_key   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    -- Nominal sampling interval; metrics weight readings by it and de-duplicate with it.
    interval_s   INTEGER NOT NULL CHECK (interval_s BETWEEN 60 AND 3600),
    CONSTRAINT devices_patient_key_unique UNIQUE (patient_id, device_key)
);

-- Clustered on (patient, time): the report's window query is one contiguous range scan, and the primary key
-- makes re-importing the same readings a no-op (INSERT OR IGNORE).
CREATE TABLE readings (
    patient_id INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    at_ms      INTEGER NOT NULL,
    device_id  INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    value      REAL NOT NULL CHECK (value >= 0),
    -- 0 = mg/dL, 1 = mmol/L: kept as measured, converted only for display.
    unit       INTEGER NOT NULL CHECK (unit IN (0, 1)),
    -- NULL = a measured value; 0 = "Low", 1 = "High" sentinel stored at its bound.
    sentinel   INTEGER CHECK (sentinel IN (0, 1)),
    PRIMARY KEY (patient_id, at_ms, device_id)
) WITHOUT ROWID;

CREATE INDEX readings_device ON readings (device_id);
