"""Copy the Serve config kept at ``configs/serve/app.yaml`` into the RayService's ``serveConfigV2``,
and production's (``configs/serve/app.prod.yaml``) into the prod overlay's patch of it.

``serve build serving.app:build_app -o configs/serve/app.yaml`` writes the config that
``serve deploy`` uses; the RayService in ``cluster/base/rayservice.yaml`` must deploy exactly the
same applications, or the cluster would run something no test has seen. This script
rewrites only the ``serveConfigV2`` block of the manifest (comments and the rest stay as
written). ``http_options`` and ``grpc_options`` are not copied: on Kubernetes, KubeRay owns
the ports (Serve on 8000, behind the serve Service).

Usage (from the repository root)::

    python cluster/sync_serve_config.py          # rewrite cluster/base/rayservice.yaml and the prod patch
    python cluster/sync_serve_config.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_YAML = REPO_ROOT / "configs" / "serve" / "app.yaml"
RAYSERVICE_YAML = REPO_ROOT / "cluster" / "base" / "rayservice.yaml"
PROD_APP_YAML = REPO_ROOT / "configs" / "serve" / "app.prod.yaml"
PROD_PATCH_YAML = REPO_ROOT / "cluster" / "overlays" / "prod" / "rayservice-serve-config.yaml"
PROD_PATCH_HEADER = """# JSON patch (RFC 6902) of RayService efp-forecast in prod: production's Serve config, two
# replicas at least of every deployment on the request path (configs/serve/deployments.prod.yaml,
# built into configs/serve/app.prod.yaml). Written by `python cluster/sync_serve_config.py`.
"""
#: Top-level keys of the `serve build` output that a RayService carries over.
CARRIED_KEYS = ("proxy_location", "logging_config", "applications")
_BLOCK_START = re.compile(r"^(?P<indent> *)serveConfigV2: \|[-+]?\s*$")


def serve_config_v2(app_yaml: Path = APP_YAML) -> str:
    """The serveConfigV2 text for the config at ``app_yaml``."""
    with app_yaml.open(encoding="utf-8") as handle:
        built: dict[str, Any] = yaml.safe_load(handle) or {}
    if not built.get("applications"):
        raise SystemExit(f"{app_yaml}: no 'applications' in the serve build output")
    carried = {key: built[key] for key in CARRIED_KEYS if key in built}
    return yaml.safe_dump(carried, sort_keys=False, default_flow_style=False)


def replace_block(manifest_text: str, config_text: str) -> str:
    """``manifest_text`` with the literal block under ``serveConfigV2: |`` replaced."""
    lines = manifest_text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = _BLOCK_START.match(line)
        if match is None:
            continue
        body_indent = " " * (len(match["indent"]) + 2)
        end = index + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith(body_indent)):
            end += 1
        body = [body_indent + text + "\n" if text else "\n" for text in config_text.splitlines()]
        return "".join(lines[: index + 1] + body + lines[end:])
    raise SystemExit(f"{RAYSERVICE_YAML}: no 'serveConfigV2: |' block found")


def prod_patch(app_yaml: Path = PROD_APP_YAML) -> str:
    """The prod overlay's patch: replace serveConfigV2 with production's config."""
    body = "".join(f"    {line}\n" if line else "\n" for line in serve_config_v2(app_yaml).splitlines())
    return PROD_PATCH_HEADER + "- op: replace\n  path: /spec/serveConfigV2\n  value: |\n" + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the manifests are up to date")
    args = parser.parse_args(argv)
    stale = 0
    current = RAYSERVICE_YAML.read_text(encoding="utf-8")
    targets = [(RAYSERVICE_YAML, current, replace_block(current, serve_config_v2()), APP_YAML),
               (PROD_PATCH_YAML, PROD_PATCH_YAML.read_text(encoding="utf-8") if PROD_PATCH_YAML.exists() else "",
                prod_patch(), PROD_APP_YAML)]
    for path, have, wanted, source in targets:
        where, origin = path.relative_to(REPO_ROOT), source.relative_to(REPO_ROOT)
        if wanted == have:
            print(f"{where}: serveConfigV2 matches {origin}")
        elif args.check:
            print(f"{where}: serveConfigV2 is out of date; run {Path(__file__).name}")
            stale += 1
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"{where}: serveConfigV2 rewritten from {origin}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
