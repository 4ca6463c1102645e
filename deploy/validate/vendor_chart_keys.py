#!/usr/bin/env python3
"""List the keys a Helm chart's values.yaml accepts, for `validate.py` to check a values file.

    vendor_chart_keys.py SOURCE-LABEL values.yaml > schemas/<chart>-values-keys.txt

One dotted path per line. A path ending in `.*` is free-form below it: a map that is empty by
default (labels, env) or one of the chart's `merge`/`patch` escape hatches.
"""

import sys

import yaml


def walk(node, path, out):
    for key, value in node.items():
        here = f"{path}.{key}" if path else str(key)
        if key in ("merge", "patch") or value == {}:
            out.add(f"{here}.*")
        elif isinstance(value, dict):
            out.add(here)
            walk(value, here, out)
        else:
            out.add(here)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    with open(argv[2]) as f:
        values = yaml.safe_load(f)
    keys = set()
    walk(values, "", keys)
    print(f"# keys of {argv[1]}")
    for key in sorted(keys):
        print(key)


if __name__ == "__main__":
    main(sys.argv)
