-- FHIR search (server/src/sandbox/fhir/search.rs, docs/sandbox-fhir-api.md).
--
-- `_sort=date` orders a page by each resource's date row: a lookup by (type, id, param) per matching
-- resource. Without this index SQLite may answer that lookup from search_index_date (type, param, lo_ms),
-- scanning every date row of the type for each resource: minutes for a patient with 26,000 readings. With it
-- the lookup is one covering index seek. The sort subquery names it (INDEXED BY) so the plan cannot drift.
CREATE INDEX search_index_by_resource_param ON search_index (type, id, param, lo_ms);
