#!/usr/bin/env python3
"""Crate boundaries, from `cargo metadata`:

- no service depends on another service (services talk through events and internal HTTP);
  only the `commerce` binary, which composes them, and the test crates may;
- the kernel depends on no I/O crate: it holds pure types only.
"""
import json
import subprocess
import sys

# The kernel's whole dependency list: pure, no I/O.
KERNEL_ALLOWED = {"serde", "thiserror", "uuid", "chrono", "rust_decimal", "proptest", "serde_json"}
COMPOSERS = {"commerce"}


def main():
    meta = json.loads(
        subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps"])
    )
    packages = {p["name"]: p for p in meta["packages"]}
    services = {n for n, p in packages.items() if "/services/" in p["manifest_path"]}
    bad = []
    for name in services - COMPOSERS:
        for dep in packages[name]["dependencies"]:
            if dep["name"] in services and dep.get("kind") != "dev":
                bad.append(f"service `{name}` depends on service `{dep['name']}`")
            if dep["name"] in services and dep.get("kind") == "dev":
                bad.append(f"service `{name}` depends (dev) on service `{dep['name']}`")
    for dep in packages["kernel"]["dependencies"]:
        if dep["name"] not in KERNEL_ALLOWED:
            bad.append(f"kernel depends on `{dep['name']}`, which is not a pure crate")
    if bad:
        print("Crate boundaries broken:")
        print("\n".join(sorted(bad)))
        sys.exit(1)
    print(f"boundaries: {len(services)} services independent; kernel pure")


if __name__ == "__main__":
    main()
