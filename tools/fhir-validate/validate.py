#!/usr/bin/env python3
"""Independent FHIR R4 (4.0.1) structural validator for JSON resources, built on fhir.resources 6.1.0.

    python validate.py [--expect-invalid] PATH...

Each PATH is a .json file or a directory searched recursively for *.json. Every file is parsed as the R4
resource its resourceType names. Prints one line per file, `OK` or `FAIL` (with its errors indented below),
then a summary; exits 1 if any file fails (with --expect-invalid: if any file passes), 2 on usage errors or
when a PATH holds no .json file at all, so an empty artifacts directory never passes.

fhir.resources (pydantic 1) checks element names (extra elements forbidden), cardinality, required elements,
choice types (one value[x]) and primitive formats, but pydantic coerces JSON types: `"status": 123`,
`"valueBoolean": "true"` and `"valueInteger": "5"` all parse. It also accepts nulls, empty arrays and
objects, and its own Python field names (`class_fhir`, `status__ext`, `resource_type`) as if they were FHIR
element names. The walk in `json_errors` closes those gaps against the same model metadata, following the
JSON representation rules of FHIR R4 (https://hl7.org/fhir/R4/json.html).
"""

import argparse
import decimal
import json
import os
import re
import sys

from fhir.resources import get_fhir_model_class
from fhir.resources import fhirtypes
from pydantic import ValidationError
from pydantic.fields import SHAPE_SINGLETON


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(f"duplicate JSON property {key!r}")
        obj[key] = value
    return obj


def load(path):
    with open(path, encoding="utf-8") as f:
        # Decimals stay exact; duplicate properties are an error in FHIR JSON, not "last one wins".
        return json.load(f, object_pairs_hook=_no_duplicates, parse_float=decimal.Decimal,
                         parse_constant=_not_json)


def _not_json(name):
    raise ValueError(f"{name} is not a JSON number")


def json_kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, decimal.Decimal)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


# The R4 regexes of the date and time primitives (https://hl7.org/fhir/R4/datatypes.html). fhir.resources
# parses them with Python's datetime, which accepts a dateTime without seconds or without a time zone.
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH, _DAY = r"(0[1-9]|1[0-2])", r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
FORMATS = {
    "date": re.compile(f"{_YEAR}(-{_MONTH}(-{_DAY})?)?"),
    "dateTime": re.compile(f"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?"),
    "instant": re.compile(f"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}"),
    "time": re.compile(_TIME),
}
# integer, unsignedInt and positiveInt are 32-bit signed in R4; pydantic takes any Python int.
INT_RANGES = {"integer": (-2**31, 2**31 - 1), "unsignedInt": (0, 2**31 - 1), "positiveInt": (1, 2**31 - 1)}


def _primitive_kind(t):
    """The JSON kind a FHIR primitive type must be written as, or None if t is not a primitive."""
    if t is bool or (isinstance(t, type) and issubclass(t, fhirtypes.Boolean)):
        return "boolean"
    if not (isinstance(t, type) and issubclass(t, fhirtypes.Primitive)):
        return None
    if issubclass(t, fhirtypes.Decimal):
        return "decimal"
    if issubclass(t, int):  # Integer, UnsignedInt, PositiveInt
        return "integer"
    return "string"  # string, code, id, uri, url, canonical, oid, uuid, markdown, xhtml, base64Binary, dates


def _is_resource_type(t):
    return isinstance(t, type) and issubclass(t, fhirtypes.AbstractBaseType)


def _is_complex_type(t):
    return isinstance(t, type) and issubclass(t, fhirtypes.AbstractType)


def json_errors(model, data):
    """FHIR JSON rules pydantic does not enforce, for the resource `data` of class `model`."""
    errors = []
    _walk(model, data, data["resourceType"], errors, resource=True)
    return errors


def _walk(model, obj, where, errors, resource):
    if not obj:
        errors.append(f"{where}: empty object (an element needs a value or children)")
    by_alias = {f.alias: f for f in model.__fields__.values()}
    for key, value in obj.items():
        path = f"{where}.{key}"
        if key == "resourceType" and resource:
            continue
        field = by_alias.get(key)
        if field is None:
            if key in model.__fields__:
                # pydantic populates by field name too: `class_fhir`, `status__ext` would otherwise pass.
                errors.append(f"{path}: not a FHIR element name (the element is "
                              f"{model.__fields__[key].alias!r})")
            continue  # other unknown names: pydantic reports them (extra = forbid)
        if value is None:
            errors.append(f"{path}: null is not allowed (omit the element)")
            continue
        if field.shape == SHAPE_SINGLETON:
            if isinstance(value, list):
                errors.append(f"{path}: an array where a single value is required (max cardinality 1)")
                continue
            _value(field.type_, value, path, errors)
            continue
        if not isinstance(value, list):
            errors.append(f"{path}: {json_kind(value)} where an array is required (repeating element)")
            continue
        if not value:
            errors.append(f"{path}: empty array (omit the element)")
            continue
        nullable = _primitive_kind(field.type_) is not None or key.startswith("_")
        for i, item in enumerate(value):
            if item is None:
                # Only primitive arrays and their `_x` twins may hold nulls, to keep the two aligned.
                if not nullable:
                    errors.append(f"{path}[{i}]: null is not allowed")
                continue
            _value(field.type_, item, f"{path}[{i}]", errors)


def _value(t, v, path, errors):
    kind = _primitive_kind(t)
    if kind is not None:
        got = json_kind(v)
        name = getattr(t, "__visit_name__", "boolean")
        ok = {
            "boolean": got == "boolean",
            "integer": got == "number" and isinstance(v, int) and not isinstance(v, bool),
            "decimal": got == "number",
            "string": got == "string",
        }[kind]
        if not ok:
            want = {"boolean": "true/false", "integer": "an integer number", "decimal": "a number",
                    "string": "a string"}[kind]
            errors.append(f"{path}: JSON {got} where FHIR {name} must be {want}")
        elif kind == "string" and v == "":
            errors.append(f"{path}: empty string (omit the element)")
        elif kind == "string" and name in FORMATS and not FORMATS[name].fullmatch(v):
            errors.append(f"{path}: {v!r} is not an R4 {name}")
        elif kind == "integer" and not INT_RANGES[name][0] <= v <= INT_RANGES[name][1]:
            errors.append(f"{path}: {v} is out of the range of an R4 {name}")
        return
    if _is_resource_type(t):
        if not isinstance(v, dict):
            errors.append(f"{path}: JSON {json_kind(v)} where a resource is required")
            return
        rt = v.get("resourceType")
        if not isinstance(rt, str):
            errors.append(f"{path}: a contained resource needs a resourceType")
            return
        try:
            model = get_fhir_model_class(rt)
        except KeyError:
            errors.append(f"{path}: {rt!r} is not an R4 resource type")
            return
        _walk(model, v, path, errors, resource=True)
        return
    if _is_complex_type(t):
        if not isinstance(v, dict):
            errors.append(f"{path}: JSON {json_kind(v)} where FHIR {t.__resource_type__} must be an object")
            return
        _walk(get_fhir_model_class(t.__resource_type__), v, path, errors, resource=False)


def _loc(loc):
    out = ""
    for part in loc:
        if part == "__root__":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(path):
    """Returns (resourceType or '?', [errors])."""
    try:
        data = load(path)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError and DuplicateKey are ValueErrors
        return "?", [f"not valid JSON: {e}"]
    if not isinstance(data, dict):
        return "?", [f"a resource must be a JSON object, got {json_kind(data)}"]
    rt = data.get("resourceType")
    if not isinstance(rt, str):
        return "?", ["no resourceType string"]
    try:
        model = get_fhir_model_class(rt)
    except KeyError:
        return rt, [f"{rt!r} is not an R4 resource type"]
    errors = json_errors(model, data)
    try:
        model.parse_obj(data)
    except ValidationError as e:
        for err in e.errors():
            loc = _loc(err["loc"])
            msg = f"{rt}.{loc}: {err['msg']}" if loc else f"{rt}: {err['msg']}"
            if msg not in errors:
                errors.append(msg)
    except Exception as e:  # fhir.resources raises a few plain errors (e.g. on malformed nested resources)
        errors.append(f"{rt}: {type(e).__name__}: {e}")
    return rt, errors


def files_under(paths):
    found, missing = [], []
    for p in paths:
        if os.path.isdir(p):
            here = []
            for root, dirs, names in os.walk(p):
                dirs.sort()
                here += [os.path.join(root, n) for n in sorted(names) if n.endswith(".json")]
            if not here:
                missing.append(f"{p}: no .json files")
            found += here
        elif os.path.isfile(p):
            found.append(p)
        else:
            missing.append(f"{p}: no such file or directory")
    return found, missing


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--expect-invalid", action="store_true",
                    help="negative controls: every file must be rejected; one that passes is the failure")
    ap.add_argument("paths", nargs="+", metavar="PATH")
    args = ap.parse_args(argv)
    files, missing = files_under(args.paths)
    for m in missing:
        print(f"fhir-validate: {m}", file=sys.stderr)
    if missing:
        return 2
    bad = 0
    for path in files:
        rt, errors = validate(path)
        if args.expect_invalid:
            if errors:
                print(f"REJECTED {path} ({rt}), as expected:")
                for e in errors:
                    print(f"    {e}")
            else:
                bad += 1
                print(f"FAIL {path} ({rt}): accepted, but this negative control must be rejected")
        elif errors:
            bad += 1
            print(f"FAIL {path} ({rt}): {len(errors)} error(s)")
            for e in errors:
                print(f"    {e}")
        else:
            print(f"OK   {path} ({rt})")
    what = "wrongly accepted" if args.expect_invalid else "failed"
    print(f"fhir-validate: {len(files)} file(s), {bad} {what}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
