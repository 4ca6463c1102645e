#!/usr/bin/env python3
"""Turn CustomResourceDefinitions into the JSON schemas `validate.py` checks custom resources with.

    vendor_crd.py SOURCE-LABEL CRD.yaml [CRD.yaml …]

For each served version of each CRD, writes `schemas/<group>/<kind>_<version>.json`: the CRD's
`openAPIV3Schema`, made strict (an object that lists its properties accepts no others, unless
the CRD says `x-kubernetes-preserve-unknown-fields`) so that a misspelt field fails instead of
being pruned silently by the API server. SOURCE-LABEL (e.g. `kedacore/keda v2.20.2
config/crd/bases/keda.sh_scaledobjects.yaml`) is recorded in the schema's `$comment`.

Run it on a machine that has the upstream CRD files; CI only reads the result.
"""

import json
import pathlib
import sys

import yaml


def strict(node):
    """Forbid unknown properties wherever the schema lists the known ones."""
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    label, paths = argv[1], argv[2:]
    out = pathlib.Path(__file__).resolve().parent / "schemas"
    for path in paths:
        for crd in yaml.safe_load_all(pathlib.Path(path).read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = strict(version["schema"]["openAPIV3Schema"])
                schema = {
                    "$comment": f"{group}/{version['name']} {kind}, from {label} (strict)",
                    **schema,
                }
                target = out / group / f"{kind.lower()}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(f"wrote {target.relative_to(out.parent)}")


if __name__ == "__main__":
    main(sys.argv)
