"""Write and check ``requirements.lock``, the development set-up pinned with hashes.

``make lock`` runs ``write``: uv resolves pyproject.toml's dependencies plus the extras the Makefile names
(capped by ``lock-constraints.txt``) for one Python version and platform, and the packages to install without
their declared dependencies are pinned on their own. Versions already in the lock are kept where they still fit
(uv reads the old lock as preferences); ``--upgrade`` moves everything to the newest allowed release.

The header records a fingerprint of those inputs. ``make check-lock`` runs ``check``: it recomputes the
fingerprint from the files alone (no network, standard library only) and fails when pyproject.toml's
dependency tables, the extras, the no-deps packages or the caps changed since the lock was written. Parts of
pyproject.toml that cannot change the resolution (version, tool settings, extras not locked, order, spacing)
leave the fingerprint as it is, so the check gives no false failures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the lock is for 3.11 anyway, the check below says so
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINT = "# inputs-sha256: "
TARGET = "# for: "
PYTHON_VERSION = "3.11"  # the machines' Python; the wheels on their disk are built for it
PLATFORM = "x86_64-manylinux_2_28"  # uv's --python-platform: the lock is the same whoever writes it
NO_DEPS_HEADING = "# Installed without their declared dependencies (pinned with --no-deps):"


def _canonical(requirements: list[str]) -> list[str]:
    """Requirement strings with spacing and order removed: neither changes what uv resolves."""
    return sorted("".join(r.split()) for r in requirements)


def fingerprint(
    pyproject: Path, constraints: Path, extras: list[str], no_deps: list[str], python: str, platform_tag: str
) -> str:
    """sha256 of everything the resolution depends on, read from the files (no network)."""
    if tomllib is None:
        sys.exit("tools/lock.py needs Python 3.11 or newer (tomllib); the lock is for Python 3.11")
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    missing = sorted(set(extras) - set(optional))
    if missing:
        sys.exit(f"{pyproject}: [project.optional-dependencies] has no extra {', '.join(missing)} (LOCK_EXTRAS)")
    lines = [line.split("#")[0].strip() for line in constraints.read_text().splitlines()]
    inputs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": _canonical(project.get("dependencies", [])),
        "extras": {name: _canonical(optional[name]) for name in sorted(set(extras))},
        "no-deps": _canonical(no_deps),
        "constraints": _canonical([line for line in lines if line]),
        "target": [python, platform_tag],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def check(lock: Path, expected: str, python: str) -> str | None:
    """Why ``lock`` cannot be installed as it is (``None`` when it can)."""
    if not lock.is_file():
        return f"{lock} is missing: run `make lock`"
    recorded = [line[len(FINGERPRINT) :].strip() for line in lock.read_text().splitlines() if line.startswith(FINGERPRINT)]
    if not recorded:
        return f"{lock} has no '{FINGERPRINT.strip()}' header line: it was not written by `make lock`; run it"
    if recorded[0] != expected:
        return (
            f"{lock} is stale: pyproject.toml's dependencies, the locked extras, the no-deps packages or "
            "lock-constraints.txt changed since it was written; run `make lock` and commit the new lock"
        )
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != python:
        return f"{lock} is for Python {python}, this is Python {running}: run make with PYTHON=python{python}"
    return None


def _uv_compile(uv: str, inputs: list[str], output: Path, args: argparse.Namespace, *extra: str) -> None:
    """One ``uv pip compile`` into ``output`` (seeded with the current lock, whose pins uv then keeps)."""
    lock = Path(args.lock)
    if lock.is_file() and not args.upgrade:
        shutil.copyfile(lock, output)
    command = [uv, "pip", "compile", *inputs, "--generate-hashes", "--no-header", "--quiet"]
    command += ["--python-version", args.python, "--python-platform", args.platform, "--output-file", str(output)]
    command += [*extra, *(["--upgrade"] if args.upgrade else [])]
    subprocess.run(command, check=True, cwd=ROOT)


def write(args: argparse.Namespace, digest: str) -> None:
    """Resolve with uv and replace the lock atomically, header first."""
    uv_version = subprocess.run([args.uv, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        main = Path(tmp, "main.txt")
        extras = [flag for name in args.extras for flag in ("--extra", name)]
        _uv_compile(args.uv, ["pyproject.toml"], main, args, "--constraints", args.constraints, *extras)
        body = main.read_text()
        if args.no_deps:
            wanted, pinned = Path(tmp, "no_deps.in"), Path(tmp, "no_deps.txt")
            wanted.write_text("\n".join(args.no_deps) + "\n")
            _uv_compile(args.uv, [str(wanted)], pinned, args, "--no-deps", "--no-annotate")
            body += f"\n{NO_DEPS_HEADING}\n{pinned.read_text()}"
        header = [
            "# The development set-up, every package pinned with its hashes. Written by `make lock` (tools/lock.py);",
            "# do not edit by hand. Install: pip install --no-deps --require-hashes -r requirements.lock",
            f"# Resolved by {uv_version} from pyproject.toml with extras: {' '.join(args.extras) or '(none)'};",
            f"# capped by {args.constraints}; no-deps packages: {' '.join(args.no_deps) or '(none)'}.",
            f"{TARGET}Python {args.python} on {args.platform}",
            f"{FINGERPRINT}{digest}",
        ]
    staged = Path(f"{args.lock}.tmp")
    staged.write_text("\n".join(header) + "\n" + body)
    os.replace(staged, args.lock)
    print(f"wrote {args.lock}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("--extras", nargs="*", default=[], help="extras of pyproject.toml to lock")
    parser.add_argument("--no-deps", nargs="*", default=[], help="name==version installed without its deps")
    parser.add_argument("--lock", default=str(ROOT / "requirements.lock"))
    parser.add_argument("--pyproject", default=str(ROOT / "pyproject.toml"))
    parser.add_argument("--constraints", default="lock-constraints.txt", help="caps, relative to the repo root")
    parser.add_argument("--python", default=PYTHON_VERSION, help="the Python version the lock is for")
    parser.add_argument("--platform", default=PLATFORM, help="uv's --python-platform")
    parser.add_argument("--uv", default="uv", help="the uv executable (write only)")
    parser.add_argument("--upgrade", action="store_true", help="ignore the current pins (write only)")
    args = parser.parse_args()
    digest = fingerprint(
        Path(args.pyproject), ROOT / args.constraints, args.extras, args.no_deps, args.python, args.platform
    )
    if args.command == "write":
        write(args, digest)
    elif problem := check(Path(args.lock), digest, args.python):
        sys.exit(problem)


if __name__ == "__main__":
    main()
