"""Vendor the browser explorer's third-party assets from the npm registry.

DuckDB-WASM (the "eh" bundle) and the Apache Arrow UMD build it imports are fetched with
``npm pack`` at pinned versions, checked against pinned sha512 integrity values and
extracted into ``vendor/`` next to this file (gitignored; shipped in the wheel when present).
``@duckdb/duckdb-wasm`` 1.28.0 is the last version that reads Parquet without fetching an
extension at runtime (these machines have no internet).

Run before installing the package (``./dev test`` and ``./dev demo`` do)::

    python src/arco/server/static/vendor.py [--force]

Standalone on purpose: it must not import ``arco`` (it runs before the install).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's "sha512-<base64>" of the tarball
    target: str  # directory under vendor/
    files: dict[str, str]  # path inside the tarball -> file name under target


PACKAGES = (
    Package(
        name="@duckdb/duckdb-wasm",
        version="1.28.0",
        integrity="sha512-YaswpEmxr1Sp20/FZbWR7bZBJqj6xQXX2m4LLzYBnA02g4K1yrpxsBWmkxQyMbrH6AHKhcUUqAlaXfA2Rvaa3w==",
        target="duckdb-wasm",
        files={
            "package/dist/duckdb-browser.mjs": "duckdb-browser.mjs",
            "package/dist/duckdb-browser-eh.worker.js": "duckdb-browser-eh.worker.js",
            "package/dist/duckdb-eh.wasm": "duckdb-eh.wasm",
            "package/package.json": "package.json",
        },
    ),
    Package(
        name="apache-arrow",
        version="13.0.0",  # the version duckdb-wasm 1.28.0 depends on (^13.0.0)
        integrity="sha512-3gvCX0GDawWz6KFNC28p65U+zGh/LZ6ZNKWNu74N6CQlKzxeoWHpi4CgEQsgRSEMuyrIIXi1Ea2syja7dwcHvw==",
        target="apache-arrow",
        files={
            "package/Arrow.es2015.min.js": "Arrow.es2015.min.js",
            "package/LICENSE.txt": "LICENSE.txt",
            "package/NOTICE.txt": "NOTICE.txt",
        },
    ),
)

STAMP = "VENDORED.json"


def stamp_of(pkg: Package) -> dict[str, str]:
    return {"name": pkg.name, "version": pkg.version, "integrity": pkg.integrity}


def is_vendored(pkg: Package, root: Path = VENDOR_DIR) -> bool:
    target = root / pkg.target
    try:
        stamp = json.loads((target / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp == stamp_of(pkg) and all((target / n).is_file() for n in pkg.files.values())


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def npm_pack(pkg: Package, workdir: Path) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (on Debian: apt-get install npm)")
    proc = subprocess.run(
        [npm, "pack", f"{pkg.name}@{pkg.version}", "--json", "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm pack {pkg.name}@{pkg.version} failed: {proc.stderr.strip()}")
    filename = str(json.loads(proc.stdout)[0]["filename"])
    return (workdir / filename).read_bytes()


def extract(pkg: Package, tarball: bytes, root: Path = VENDOR_DIR) -> None:
    got = integrity_of(tarball)
    if got != pkg.integrity:
        raise RuntimeError(
            f"{pkg.name}@{pkg.version}: integrity mismatch (pinned {pkg.integrity}, got {got})"
        )
    target = root / pkg.target
    staging = root / f".{pkg.target}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member_name, out_name in pkg.files.items():
            member = tar.getmember(member_name)
            src = tar.extractfile(member) if member.isfile() else None
            if src is None:
                raise RuntimeError(f"{pkg.name}: {member_name} is not a file in the tarball")
            (staging / out_name).write_bytes(src.read())
    (staging / STAMP).write_text(json.dumps(stamp_of(pkg), indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def vendor(force: bool = False, root: Path = VENDOR_DIR) -> list[str]:
    """Fetch and extract every package not yet vendored; returns what was fetched."""
    fetched = []
    for pkg in PACKAGES:
        if not force and is_vendored(pkg, root):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            extract(pkg, npm_pack(pkg, Path(tmp)), root)
        fetched.append(f"{pkg.name}@{pkg.version}")
    return fetched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="fetch even if already vendored")
    args = parser.parse_args(argv)
    try:
        fetched = vendor(force=args.force)
    except (RuntimeError, OSError, ValueError, KeyError, tarfile.TarError) as exc:
        print(f"explorer assets not vendored: {exc}", file=sys.stderr)
        return 1
    if fetched:
        print(f"vendored {', '.join(fetched)} into {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
