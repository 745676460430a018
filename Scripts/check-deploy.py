#!/usr/bin/env python3
"""Structural check of the Kubernetes manifests under Examples/deploy/.

`kubectl apply --dry-run=client` needs an API server for discovery (it
fails with "connection refused" without one), and none runs here, so this
checks what a client-side dry run would plus what the README promises:
every document has apiVersion/kind/metadata.name; a DaemonSet's selector
matches its pod template's labels; every container has a name and an image;
every volumeMount names a volume; the loader's flags are ones it has; the
tool serves --metrics on all addresses at the port that the container and
the scrape annotation name, and prints --format json.

Usage: Scripts/check-deploy.py [FILE...]   (default: Examples/deploy/*.yaml)
Exit status 1 and one line per problem if any.
"""
import glob
import sys

import yaml

LOADER_FLAGS = {"--format", "--metrics", "--duration", "--btf", "--cgroup",
                "--ifname", "--quiet", "--pid"}


def flag_value(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None


def check_daemonset(doc, where, problems):
    spec = doc.get("spec") or {}
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selector:
        problems.append(f"{where}: spec.selector.matchLabels is empty")
    for k, v in selector.items():
        if labels.get(k) != v:
            problems.append(f"{where}: selector {k}={v} does not match the template's labels")
    pod = tmpl.get("spec") or {}
    volumes = {v.get("name") for v in pod.get("volumes") or []}
    containers = pod.get("containers") or []
    if not containers:
        problems.append(f"{where}: no containers")
    annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
    for c in containers:
        cw = f"{where}: container {c.get('name')!r}"
        if not c.get("name") or not c.get("image"):
            problems.append(f"{cw}: needs a name and an image")
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in volumes:
                problems.append(f"{cw}: volumeMount {m.get('name')!r} names no volume")
        args = [str(a) for a in c.get("args") or []]
        for a in args:
            if a.startswith("--") and a.split("=", 1)[0] not in LOADER_FLAGS:
                problems.append(f"{cw}: {a} is not a loader flag")
        if flag_value(args, "--format") != "json":
            problems.append(f"{cw}: expected --format json")
        metrics = flag_value(args, "--metrics")
        if metrics is None:
            problems.append(f"{cw}: expected --metrics HOST:PORT")
            continue
        host, _, port = metrics.rpartition(":")
        if host in ("", "127.0.0.1", "localhost"):
            problems.append(f"{cw}: --metrics {metrics} is not reachable from outside the pod")
        ports = {str(p.get("containerPort")) for p in c.get("ports") or []}
        if port not in ports:
            problems.append(f"{cw}: --metrics port {port} is not a containerPort ({sorted(ports)})")
        if annotations.get("prometheus.io/port") not in (None, port):
            problems.append(f"{cw}: prometheus.io/port {annotations['prometheus.io/port']} != {port}")


def main(files):
    problems = []
    count = 0
    for f in files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        if not docs:
            problems.append(f"{f}: no documents")
        for i, doc in enumerate(docs):
            count += 1
            where = f"{f}[{i}]"
            for key in ("apiVersion", "kind"):
                if not doc.get(key):
                    problems.append(f"{where}: missing {key}")
            if not (doc.get("metadata") or {}).get("name"):
                problems.append(f"{where}: missing metadata.name")
            if doc.get("kind") == "DaemonSet":
                check_daemonset(doc, where, problems)
    for p in problems:
        print(p)
    if not files:
        print("no manifests given or found")
        return 1
    print(f"{count} documents in {len(files)} files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or sorted(glob.glob("Examples/deploy/*.yaml"))))
