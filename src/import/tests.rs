//! Importer tests on the real sample files of `tests/fixtures/import/` (provenance in its README).

use super::*;
