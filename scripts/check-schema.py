#!/usr/bin/env python3
"""Validates pipeline files against the JSON Schema `crmflow schema` writes, with the reference validator (jsonschema).
Usage: check-schema.py SCHEMA.json FILE.yaml...   Prints one line per file; exit 1 when any file does not validate.

YAML is read as YAML 1.2 reads it (as the YAML language server does): only true/false are booleans, so keys such as
`on:` stay strings (PyYAML's default YAML 1.1 would turn them into True)."""
import json, re, sys
import jsonschema, yaml


class Loader(yaml.SafeLoader):
    pass


Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
# Dates stay text, as in JSON.
Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"] for k, v in Loader.yaml_implicit_resolvers.items()}

schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
bad = 0
for path in sys.argv[2:]:
    doc = yaml.load(open(path, encoding="utf-8"), Loader=Loader)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        bad += 1
        for e in errors[:10]:
            # An anyOf error says only "not valid under any": name the closest alternative's own error instead.
            while e.context:
                e = max(e.context, key=lambda x: (len(x.absolute_path), x.validator != "type"))
            print(f"{path}: {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}")
    else:
        print(f"{path}: valid")
sys.exit(1 if bad else 0)
