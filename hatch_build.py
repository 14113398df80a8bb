"""Install the dashboard's browser assets (htmx, Chart.js) from the npm registry.

`pip install -e .` (and any wheel build) runs this hook: for each package named in
`src/creditbook/dashboard/assets.json` it reads the version, tarball URL and integrity hash
pinned in `package-lock.json`, downloads the tarball from registry.npmjs.org, refuses it
unless its SHA-512 matches the lock, and extracts the listed files into the git-ignored
`src/creditbook/dashboard/static/vendor/`. Files already there for the pinned versions are
kept (a stamp records what was installed), so reinstalling works offline.

Nothing is committed and nothing comes from a CDN at run time: the app serves these files
itself. Without network access the install goes on with a warning and the dashboard shows a
notice instead of charts; a tarball whose hash does not match fails the build.

Run `python hatch_build.py` to fetch the assets by hand (only the standard library is used).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REGISTRY = "https://registry.npmjs.org/"
MANIFEST = Path("src/creditbook/dashboard/assets.json")
LOCK = Path("package-lock.json")
VENDOR = Path("src/creditbook/dashboard/static/vendor")
STAMP = "installed.json"
WHEEL_VENDOR = "creditbook/dashboard/static/vendor"
DOWNLOAD_TIMEOUT_S = 60
DOWNLOAD_ATTEMPTS = 3
MAX_TARBALL_BYTES = 20 * 1024 * 1024


class IntegrityError(RuntimeError):
    """A downloaded tarball is not the one package-lock.json pins."""


def pinned(root: Path) -> dict[str, dict[str, str]]:
    """Package name → {version, resolved, integrity} for each package the manifest uses."""
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    lock = json.loads((root / LOCK).read_text(encoding="utf-8"))
    packages: dict[str, dict[str, str]] = {}
    for item in manifest["files"]:
        name = item["package"]
        entry = lock["packages"][f"node_modules/{name}"]
        resolved = entry.get("resolved") or default_tarball_url(name, entry["version"])
        if not resolved.startswith(REGISTRY):
            raise IntegrityError(f"{name}: {resolved} is not on {REGISTRY}")
        packages[name] = {
            "version": entry["version"],
            "resolved": resolved,
            "integrity": entry["integrity"],
        }
    return packages


def default_tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def check_integrity(name: str, data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise IntegrityError(f"{name}: unsupported integrity {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise IntegrityError(f"{name}: tarball sha512 {actual} != locked {expected}")


def download(url: str) -> bytes:
    last: Exception | None = None
    for attempt in range(DOWNLOAD_ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                data: bytes = response.read(MAX_TARBALL_BYTES + 1)
            if len(data) > MAX_TARBALL_BYTES:
                raise OSError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
            return data
        except OSError as error:
            last = error
            time.sleep(attempt + 1)
    raise OSError(f"could not download {url}: {last}")


def install(root: Path, *, log: Any = print) -> list[Path]:
    """Fetch, check and extract the pinned assets into the vendor directory.

    Returns the installed files. Raises OSError when the registry cannot be reached and
    IntegrityError when a tarball is not the pinned one.
    """
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    packages = pinned(root)
    vendor = root / VENDOR
    stamp_path = vendor / STAMP
    stamp = json.loads(stamp_path.read_text(encoding="utf-8")) if stamp_path.exists() else {}
    files = [vendor / item["file"] for item in manifest["files"]]
    wanted = {name: package["integrity"] for name, package in packages.items()}
    if stamp == wanted and all(path.is_file() for path in files):
        return files
    vendor.mkdir(parents=True, exist_ok=True)
    for name, package in sorted(packages.items()):
        log(f"creditbook: fetching {name}@{package['version']} from the npm registry")
        data = download(package["resolved"])
        check_integrity(name, data, package["integrity"])
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for item in manifest["files"]:
                if item["package"] != name:
                    continue
                member = archive.extractfile(item["member"])
                if member is None:
                    raise IntegrityError(f"{name}: {item['member']} is not a file")
                target = vendor / item["file"]
                partial = target.with_suffix(target.suffix + ".partial")
                partial.write_bytes(member.read())
                partial.replace(target)
    stamp_path.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return files


try:
    from hatchling.builders.hooks.plugin.interface import (  # type: ignore[import-not-found,unused-ignore]
        BuildHookInterface,
    )
except ImportError:  # run by hand without hatchling: only `install` is needed
    pass
else:

    class DashboardAssetsHook(BuildHookInterface):  # type: ignore[misc,type-arg,unused-ignore]
        """Fetch the assets before a wheel (or an editable install) is built."""

        PLUGIN_NAME = "custom"

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if self.target_name != "wheel":
                return  # the sdist ships package.json and the lock, not the files
            root = Path(self.root)
            try:
                files = install(root, log=self.app.display_info)
            except OSError as error:  # offline: an IntegrityError still fails the build
                self.app.display_warning(
                    f"creditbook: dashboard assets not installed ({error}); the dashboard "
                    "will show a notice instead of charts. Run `python hatch_build.py` "
                    "with access to the npm registry to install them."
                )
                return
            if version != "editable":
                # The vendor directory is git-ignored, so hatch would leave it out.
                for path in files:
                    build_data["force_include"][str(path)] = f"{WHEEL_VENDOR}/{path.name}"


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    try:
        for path in install(here):
            print(f"installed {path.relative_to(here)}")
    except (OSError, IntegrityError) as failure:
        print(f"error: {failure}", file=sys.stderr)
        sys.exit(1)
