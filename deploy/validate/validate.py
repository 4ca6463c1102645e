#!/usr/bin/env python3
"""Offline checks of the Kubernetes deployment (`./hub check-deploy`, part of `./hub test`).

1. Renders every overlay under deploy/kubernetes/overlays with `kubectl kustomize`.
2. Validates each rendered object: built-in kinds against the Kubernetes OpenAPI schemas of
   `kubernetes-validate` (strict: unknown fields are errors) for the oldest and the newest
   Kubernetes version we support; custom resources (KEDA, CloudNativePG, Prometheus Operator)
   against the CRD schemas vendored in schemas/ (strict as well). A kind with no schema fails.
3. Checks the NATS Helm values against the keys the chart accepts (schemas/nats-chart-*).
4. Checks what the schemas cannot know, against the hub's own sources and settings:
   * KEDA triggers name the stream and the consumers the hub creates (`<nats_prefix>_jobs`,
     `<nats_prefix>_<kind>`, shared/jobs/src/names.rs), exactly the kinds the scaled worker
     handles (its `const KIND` in worker-*/src), with `lagThreshold` = `jobs.concurrency`, and
     read the headless Service of the NATS release on its monitoring port;
   * every worker of the production overlay is scaled by KEDA and by no other autoscaler, and
     worker-merge and worker-docker scale to zero;
   * every container runs as non-root, on a read-only root filesystem, without privilege
     escalation and with every capability dropped;
   * the gateway reaches nothing outside the cluster, and the workers accept connections only
     from the monitoring namespace.

Exit status 1 with one line per problem when anything fails.
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import jsonschema
import kubernetes_validate
import yaml

# The oldest and the newest Kubernetes release the manifests are checked against.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


class Report:
    """Collects problems; every check adds to it rather than stopping at the first."""

    def __init__(self):
        self.problems = []
        self.checked = 0

    def fail(self, where, message):
        self.problems.append(f"{where}: {message}")


def name_of(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def render(overlay, report):
    """The overlay's objects, or None when kustomize refuses it."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        report.fail(overlay.name, f"kubectl kustomize failed: {result.stderr.strip()}")
        return None
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def custom_schema(schemas, obj):
    """The vendored schema of a custom resource, None for anything else."""
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    if not group or "." not in group:
        return None
    path = schemas / group / f"{obj.get('kind', '').lower()}_{version}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def validate_object(where, obj, schemas, report):
    report.checked += 1
    schema = custom_schema(schemas, obj)
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = "/".join(str(p) for p in error.absolute_path)
            report.fail(f"{where} {name_of(obj)}", f"{path}: {error.message}")
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            report.fail(
                f"{where} {name_of(obj)}",
                f"no schema for {obj.get('apiVersion')} {obj.get('kind')} "
                f"(Kubernetes {version}, and none vendored in {schemas})",
            )
            return
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path)
            report.fail(f"{where} {name_of(obj)}", f"Kubernetes {version}: {path}: {error.message}")
            return


# ---------------------------------------------------------------------------------------------
# the hub's own facts, read from its sources


def job_kinds(repo):
    """JobKind variant → queue name, from the `named!` declaration in hub-model."""
    text = (repo / "shared/model/src/job.rs").read_text()
    block = re.search(r"named!\s*\{[^{}]*?JobKind,[^{}]*?\}", text, re.S)
    if not block:
        raise SystemExit("cannot find the JobKind declaration in shared/model/src/job.rs")
    return dict(re.findall(r"(\w+)\s*=>\s*\"(\w+)\"", block.group(0)))


def worker_kinds(repo, kinds):
    """Worker Deployment name → the queue names its binary handles (`const KIND: JobKind`)."""
    workers = {}
    for crate in sorted(repo.glob("worker-*")):
        found = set()
        for source in crate.glob("src/**/*.rs"):
            for variant in re.findall(r"const KIND: JobKind = JobKind::(\w+);", source.read_text()):
                found.add(kinds[variant])
        if found:
            workers[f"hub-{crate.name}"] = found
    return workers


def hub_settings(repo):
    text = (repo / "deploy/kubernetes/base/hub.toml").read_text()
    settings = tomllib.loads(text)
    return settings.get("nats_prefix", "hub"), settings.get("jobs", {}).get("concurrency", 2)


# ---------------------------------------------------------------------------------------------
# checks of rendered overlays


def pod_specs(obj):
    """(path, pod spec) of a workload object."""
    kind = obj.get("kind")
    spec = obj.get("spec", {})
    if kind == "CronJob":
        return [("spec.jobTemplate.spec.template.spec", spec["jobTemplate"]["spec"]["template"]["spec"])]
    if kind in WORKLOAD_KINDS:
        return [("spec.template.spec", spec["template"]["spec"])]
    return []


def check_security(where, objects, report):
    for obj in objects:
        for _, pod in pod_specs(obj):
            pod_context = pod.get("securityContext", {})
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                context = container.get("securityContext", {})
                label = f"{where} {name_of(obj)} container {container.get('name')}"
                non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
                user = context.get("runAsUser", pod_context.get("runAsUser"))
                if non_root is not True or user in (None, 0):
                    report.fail(label, "must run as a non-root numeric user (runAsNonRoot, runAsUser)")
                if context.get("readOnlyRootFilesystem") is not True:
                    report.fail(label, "root filesystem must be read-only")
                if context.get("allowPrivilegeEscalation") is not False:
                    report.fail(label, "allowPrivilegeEscalation must be false")
                if "ALL" not in context.get("capabilities", {}).get("drop", []):
                    report.fail(label, "must drop ALL capabilities")


def check_network(where, objects, report):
    policies = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "NetworkPolicy"}
    gateway = policies.get("hub-gateway")
    if gateway is None:
        report.fail(where, "no NetworkPolicy hub-gateway")
    else:
        for rule in gateway["spec"].get("egress", []):
            peers = rule.get("to")
            ports = {p.get("port") for p in rule.get("ports", [])}
            if peers is None and ports != {53}:
                report.fail(where, "the gateway may reach any address (only DNS may omit `to`)")
            for peer in peers or []:
                if "ipBlock" in peer:
                    report.fail(where, f"the gateway reaches addresses outside the cluster: {peer}")
    workers = [o for o in objects if o.get("kind") == "Deployment"
               and o["metadata"]["name"].startswith("hub-worker-")]
    for worker in workers:
        labels = worker["spec"]["template"]["metadata"].get("labels", {})
        selecting = [p for p in policies.values() if selects(p["spec"]["podSelector"], labels)]
        if not selecting:
            report.fail(where, f"no NetworkPolicy selects {worker['metadata']['name']}")
        for policy in selecting:
            if "Ingress" not in policy["spec"].get("policyTypes", []):
                report.fail(where, f"{policy['metadata']['name']} leaves ingress to workers open")
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", [{}]):
                    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                    if namespace.get("kubernetes.io/metadata.name") != "monitoring" or "podSelector" in peer:
                        report.fail(where, f"{policy['metadata']['name']}: workers accept {peer}")


def selects(selector, labels):
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and present not in expression["values"]:
            return False
        if operator == "NotIn" and present in expression["values"]:
            return False
        if operator == "Exists" and present is None:
            return False
        if operator == "DoesNotExist" and present is not None:
            return False
    return True


def check_scaling(where, objects, facts, report):
    prefix, concurrency, workers, nats_monitor_port = facts
    deployments = {o["metadata"]["name"] for o in objects if o.get("kind") == "Deployment"}
    scaled = {}
    for obj in objects:
        if obj.get("kind") != "ScaledObject":
            continue
        label = f"{where} {name_of(obj)}"
        target = obj["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            report.fail(label, f"scales {target}, which this overlay does not deploy")
        consumers = set()
        for trigger in obj["spec"].get("triggers", []):
            if trigger.get("type") != "nats-jetstream":
                continue
            meta = trigger["metadata"]
            consumers.add(meta.get("consumer"))
            if meta.get("stream") != f"{prefix}_jobs":
                report.fail(label, f"stream {meta.get('stream')!r}, the hub's is {prefix}_jobs")
            if meta.get("lagThreshold") != str(concurrency):
                report.fail(label, f"lagThreshold {meta.get('lagThreshold')!r} must be "
                                   f"{str(concurrency)!r}, jobs.concurrency of hub.toml")
            endpoint = meta.get("natsServerMonitoringEndpoint", "")
            host, _, port = endpoint.rpartition(":")
            if not host.startswith("nats-headless.") or port != str(nats_monitor_port):
                report.fail(label, f"endpoint {endpoint!r} is not the headless Service of the NATS "
                                   f"release on its monitoring port {nats_monitor_port}")
        expected = {f"{prefix}_{kind}" for kind in workers.get(target, set())}
        if consumers != expected:
            report.fail(label, f"reads consumers {sorted(consumers)}, {target} handles {sorted(expected)}")
        scaled[target] = obj
    if not scaled:
        return
    for worker in workers:
        if worker not in scaled:
            report.fail(where, f"{worker} has no ScaledObject")
    for name in ("hub-worker-merge", "hub-worker-docker"):
        if name in scaled and scaled[name]["spec"].get("minReplicaCount") != 0:
            report.fail(where, f"{name} must scale to zero (minReplicaCount: 0)")
    for obj in objects:
        if obj.get("kind") == "HorizontalPodAutoscaler" and obj["spec"]["scaleTargetRef"]["name"] in scaled:
            report.fail(where, f"{name_of(obj)} fights KEDA over {obj['spec']['scaleTargetRef']['name']}")


# ---------------------------------------------------------------------------------------------
# the NATS Helm values


def check_chart_values(values_file, keys_file, report):
    allowed = set()
    free = []
    for line in keys_file.read_text().splitlines():
        if line and not line.startswith("#"):
            if line.endswith(".*"):
                free.append(line[:-2])
            else:
                allowed.add(line)
    values = yaml.safe_load(values_file.read_text())

    def walk(node, path):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if any(here == f or here.startswith(f + ".") for f in free):
                continue
            if here not in allowed:
                report.fail(values_file.name, f"`{here}` is not a value of the chart ({keys_file.name})")
                continue
            if isinstance(value, dict):
                walk(value, here)

    walk(values, "")
    report.checked += 1
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    repo = args.repo.resolve()
    schemas = repo / "deploy/validate/schemas"
    report = Report()

    kinds = job_kinds(repo)
    workers = worker_kinds(repo, kinds)
    prefix, concurrency = hub_settings(repo)
    values_file = repo / "deploy/kubernetes/overlays/production/nats-values.yaml"
    keys_file = next(schemas.glob("nats-chart-*-values-keys.txt"))
    values = check_chart_values(values_file, keys_file, report)
    monitor_port = values.get("config", {}).get("monitor", {}).get("port", 8222)
    facts = (prefix, concurrency, workers, monitor_port)

    overlays = sorted(p for p in (repo / "deploy/kubernetes/overlays").iterdir() if p.is_dir())
    for overlay in overlays:
        objects = render(overlay, report)
        if objects is None:
            continue
        for obj in objects:
            validate_object(overlay.name, obj, schemas, report)
        check_security(overlay.name, objects, report)
        check_network(overlay.name, objects, report)
        check_scaling(overlay.name, objects, facts, report)
        print(f"{overlay.name}: {len(objects)} objects rendered")
    # Manifests applied by hand next to an overlay.
    for extra in sorted((repo / "deploy/kubernetes").glob("overlays/*/*.example.yaml")):
        for obj in yaml.safe_load_all(extra.read_text()):
            if obj:
                validate_object(extra.name, obj, schemas, report)

    for problem in report.problems:
        print(f"FAIL {problem}")
    print(f"deploy: {report.checked} objects and files checked, {len(report.problems)} problems "
          f"(kinds {sorted(kinds.values())}, workers {dict(sorted((k, sorted(v)) for k, v in workers.items()))})")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
