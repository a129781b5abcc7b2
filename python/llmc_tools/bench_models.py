"""Benchmark inputs: the models, and the files each engine runs, made in a work dir.

For one model the speed benchmark needs, from ONE float32 checkpoint:
  model.onnx (+ model.onnx.data)  ONNX Runtime and `llmc compile` input
  model-f32.gguf / model-f16.gguf llama.cpp's input (write_gguf.py)
  llmc-<variant>.so               `llmc compile model.onnx` with the variant's flags
Each file is remade only when what it was made from changed: a stamp file
next to it records its inputs (source file, exporter sources, llmc binary,
flags). A failed compile is recorded (first line of llmc's error) instead of
stopping the benchmark, so that flags the compiler does not have yet show up
as a table cell.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent
# Sources whose change changes the exported ONNX or written GGUF.
_EXPORT_SOURCES = ["checkpoint.py", "export_onnx.py", "llama_onnx.py", "onnx_graph.py",
                   "qk_layout.py", "synthetic_llama.py", "write_gguf.py"]


@dataclass(frozen=True)
class ModelSpec:
    key: str  # --model value
    label: str  # table label
    kind: str  # "gguf" (a file to load) or "synthetic" (a synthetic_llama preset)
    preset: str = ""  # synthetic preset
    tokenizer_gguf: bool = False  # copy the source GGUF's tokenizer into written GGUFs


MODELS = {
    "smollm2": ModelSpec("smollm2", "SmolLM2-135M", "gguf", tokenizer_gguf=True),
    "tinyllama": ModelSpec("tinyllama", "TinyLlama-1.1B shape (random)", "synthetic",
                           preset="tinyllama-1.1b"),
    # The tiny real model in shared/, for the CI smoke test.
    "stories260k": ModelSpec("stories260k", "stories260K", "gguf", tokenizer_gguf=True),
}


def source_gguf(spec: ModelSpec, work: Path) -> Path | None:
    """The model file a GGUF spec loads (fetched for SmolLM2 if not cached)."""
    if spec.key == "smollm2":
        from .fetch_smollm2 import fetch_smollm2

        cache = Path(os.environ.get("LLMC_SMOL_CACHE", "/tmp/smol"))
        try:
            return fetch_smollm2(cache)
        except Exception:  # noqa: BLE001 - unwritable/absent cache: fetch into the work dir
            return fetch_smollm2(work / "cache")
    if spec.key == "stories260k":
        shared = Path(os.environ.get("LLMC_SHARED", PKG_DIR.parents[2] / "shared"))
        path = shared / "models/stories260K-gguf/stories260K.gguf"
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing (set LLMC_SHARED to the shared/ data folder)")
        return path
    return None


def _file_id(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _sources_hash() -> str:
    h = hashlib.sha256()
    for name in _EXPORT_SOURCES:
        h.update((PKG_DIR / name).read_bytes())
    return h.hexdigest()[:16]


class Stamps:
    """Remembers what each artifact was made from (json next to the artifacts)."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}

    def fresh(self, artifact: Path, key: str) -> bool:
        return artifact.exists() and self.data.get(artifact.name) == key

    def record(self, artifact: Path, key: str) -> None:
        self.data[artifact.name] = key
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))

    def forget(self, artifact: Path) -> None:
        self.data.pop(artifact.name, None)
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))


@dataclass
class Prepared:
    """Where a model's files are, plus what the roofline needs about its shape."""
    spec: ModelSpec
    dir: Path
    onnx: Path
    gguf: dict[str, Path] = field(default_factory=dict)  # "f32"/"f16" -> path
    config: dict = field(default_factory=dict)
    tied: bool = True


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def prepare_model(spec: ModelSpec, work: Path, gguf_types=("f32", "f16"), seed: int = 0) -> Prepared:
    """Exports the ONNX graph and the GGUFs (types in gguf_types) into work/<model>/."""
    from .checkpoint import load_checkpoint

    d = work / spec.key
    d.mkdir(parents=True, exist_ok=True)
    stamps = Stamps(d / "stamps.json")
    src = source_gguf(spec, work)
    src_key = _file_id(src) if src else f"synthetic:{spec.preset}:seed={seed}"
    key = f"{src_key}|{_sources_hash()}"
    onnx_path = d / "model.onnx"
    ggufs = {t: d / f"model-{t}.gguf" for t in gguf_types}
    todo_gguf = [t for t, p in ggufs.items() if not stamps.fresh(p, key)]
    meta_path = d / "model.json"
    need_onnx = not stamps.fresh(onnx_path, key) or not meta_path.is_file()

    if need_onnx or todo_gguf:
        t0 = time.time()
        if src:
            log(f"loading {src}")
            ckpt = load_checkpoint(src)
        else:
            from .synthetic_llama import synthetic_checkpoint

            log(f"making random weights for {spec.preset} (seed {seed})")
            ckpt = synthetic_checkpoint(spec.preset, seed=seed)
        from .write_gguf import write_gguf

        for t in todo_gguf:  # before the ONNX build, which holds a second copy of the weights
            log(f"writing {ggufs[t].name}")
            write_gguf(ckpt, ggufs[t], t, tokenizer_from=src if spec.tokenizer_gguf else None,
                       name=spec.label)
            stamps.record(ggufs[t], key)
        if need_onnx:
            from .export_onnx import build, save

            log(f"exporting {onnx_path.name}")
            stamps.forget(onnx_path)
            model = build(ckpt, style="optimum")
            c = ckpt.config
            meta = {"config": {k: getattr(c, k) for k in ("dim", "hidden_dim", "n_layers", "n_heads",
                                                         "n_kv_heads", "vocab_size")},
                    "tied_embeddings": ckpt.tied_embeddings}
            del ckpt
            big = sum(len(t.raw_data) for t in model.graph.initializer) > (1 << 30)
            save(model, onnx_path, external_data=big)
            del model
            meta_path.write_text(json.dumps(meta, indent=1))
            stamps.record(onnx_path, key)
        log(f"prepared {spec.key} in {time.time() - t0:.0f} s")
    meta = json.loads(meta_path.read_text())
    return Prepared(spec, d, onnx_path, ggufs, meta["config"], meta["tied_embeddings"])


@dataclass
class Compiled:
    name: str  # variant name
    flags: list[str]
    path: Path
    error: str | None = None  # "compile failed: <first line>" when it failed
    seconds: float = 0.0


def _first_error_line(text: str) -> str:
    """The first line that says what went wrong (linker noise such as "in function
    `_init':" or collect2's summary skipped), else the first line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    telling = re.compile(r"error|unknown|relocation truncated|overflow|cannot|failed", re.I)
    pick = next((ln for ln in lines if telling.search(ln) and not ln.startswith("collect2")),
                lines[0] if lines else "no output")
    return pick.split("  Try:")[0][:200]  # cl::opt's hint repeats the binary path


def compile_variant(llmc: Path, prep: Prepared, name: str, flags: list[str],
                    timeout: float = 3600) -> Compiled:
    """`llmc compile model.onnx -o llmc-<name>.so FLAGS`, unless already made from the same inputs."""
    out = prep.dir / f"llmc-{name}.so"
    stamps = Stamps(prep.dir / "stamps.json")
    key = f"{_file_id(prep.onnx)}|{_file_id(llmc)}|{' '.join(flags)}"
    failed_key = "FAILED|" + key
    if stamps.fresh(out, key):
        return Compiled(name, flags, out)
    prev = stamps.data.get(out.name + ".error")
    if prev and prev.startswith(failed_key + "|"):  # same inputs failed before: do not retry
        return Compiled(name, flags, out, error=prev[len(failed_key) + 1:])
    cmd = [str(llmc), "compile", str(prep.onnx), "-o", str(out), *flags]
    log("compiling: " + " ".join(cmd[1:]))
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        out.with_suffix(".log").write_text(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")  # whole error
        err = None if r.returncode == 0 and out.is_file() else \
            f"compile failed: {_first_error_line(r.stderr + r.stdout)}"
        permanent = True
    except subprocess.TimeoutExpired:
        err = f"compile failed: timed out after {timeout:.0f} s"
        permanent = False  # a busy machine may finish next time
    secs = time.time() - t0
    if err:
        log(f"{name}: {err}")
        out.unlink(missing_ok=True)
        stamps.forget(out)
        if permanent:
            stamps.data[out.name + ".error"] = f"{failed_key}|{err}"
            stamps.path.write_text(json.dumps(stamps.data, indent=1, sort_keys=True))
        return Compiled(name, flags, out, error=err, seconds=secs)
    stamps.data.pop(out.name + ".error", None)
    stamps.record(out, key)
    log(f"{name}: compiled in {secs:.0f} s")
    return Compiled(name, flags, out, seconds=secs)
