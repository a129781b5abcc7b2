"""Smoke test of the speed benchmark and llmc-probe (fast; runs in CI).

Runs `python -m llmc_tools.bench_speed` on stories260K (shared/) with the
engines llmc and ORT only: CI does not install llama-cpp-python, and the
benchmark must then say that it did not measure llama.cpp. Checks the table's
rows and numbers, the JSON written next to it, and recomputes the decode
roofline and the peer ratios independently (weight bytes from the GGUF's
tensor list, limits from the probe's JSON).

Environment: LLMC_BIN, LLMC_PROBE (binaries), LLMC_SHARED (data folder).
A missing input is a failure, never a skip.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
LLMC_BIN = Path(os.environ.get("LLMC_BIN", REPO / "build/bin/llmc"))
LLMC_PROBE = Path(os.environ.get("LLMC_PROBE", LLMC_BIN.parent / "llmc-probe"))
SHARED = Path(os.environ.get("LLMC_SHARED", REPO.parent / "shared"))
STORIES = SHARED / "models/stories260K-gguf/stories260K.gguf"

THREADS = (1, 2)
PROMPTS = (16, 64)
DECODE = 16


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "python")] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _cpuinfo_fields() -> dict[str, str]:
    """The first CPU's block of /proc/cpuinfo, field name -> value."""
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if not line.strip():
            break
        k, _, v = line.partition(":")
        fields[k.strip()] = v.strip()
    return fields


def _cpu_flags() -> set[str]:
    flags = _cpuinfo_fields().get("flags")
    if flags is None:
        raise AssertionError("no flags line in /proc/cpuinfo")
    return set(flags.split())


@pytest.fixture(scope="module")
def probe_json():
    assert LLMC_PROBE.is_file(), f"llmc-probe missing: {LLMC_PROBE} (set LLMC_PROBE)"
    r = subprocess.run([str(LLMC_PROBE), "--quick", "--threads", "1,2", "--reps", "3",
                        "--bytes", str(256 << 20), "--ms", "20"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_probe_sanity(probe_json):
    d = probe_json
    for t in ("1", "2"):
        bw = d["read_bandwidth"][t]
        assert bw["median"] > 1.0, f"read bandwidth {bw} GB/s at {t} thread(s)"
        assert len(bw["samples"]) == 3 and bw["min"] <= bw["median"] <= bw["max"]
        fp32 = d["fp32_fma"]["peak"][t]
        # > 1 GFLOP/s, and below 64 FLOP/cycle x 6 GHz per thread (no counting bug).
        assert 1.0 < fp32 < 384 * int(t), f"fp32 peak {fp32} GFLOP/s at {t} thread(s)"
    # "unsupported" exactly when the kernel's ISA is missing, as /proc/cpuinfo tells.
    flags = _cpu_flags()
    expect = {"bf16_dot": "avx512_bf16" in flags,
              "int8_vnni": "avx512_vnni" in flags or "avx_vnni" in flags}
    for metric, supported in expect.items():
        peak = d[metric]["peak"]
        if supported:
            assert isinstance(peak, dict) and all(peak[t] > 1.0 for t in ("1", "2")), (metric, peak)
        else:
            assert peak == "unsupported", (metric, peak)
    assert d["cpu"]["features"]["avx512f"] == ("avx512f" in flags)
    assert d["cpu"]["features"]["avx2"] == ("avx2" in flags)
    # Family and model as the kernel decodes them ("cpu family", "model").
    fields = _cpuinfo_fields()
    assert d["cpu"]["family"] == int(fields["cpu family"]), (d["cpu"], fields.get("cpu family"))
    assert d["cpu"]["model"] == int(fields["model"]), (d["cpu"], fields.get("model"))


def test_probe_rejects_too_small_array():
    r = subprocess.run([str(LLMC_PROBE), "--bytes", str(1 << 20)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--bytes" in r.stderr


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    assert LLMC_BIN.is_file(), f"llmc binary missing: {LLMC_BIN} (set LLMC_BIN)"
    assert STORIES.is_file(), f"{STORIES} missing (set LLMC_SHARED)"
    work = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, "-m", "llmc_tools.bench_speed", "--model", "stories260k", "--work", str(work),
           "--engines", "llmc,ort", "--reps", "1", "--threads", ",".join(map(str, THREADS)),
           "--prompts", ",".join(map(str, PROMPTS)), "--decode", str(DECODE), "--decode-prompt", "16",
           "--llmc", str(LLMC_BIN), "--probe", str(LLMC_PROBE), "--quick-probe"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=240)
    print(r.stdout)
    assert r.returncode == 0, f"bench_speed failed:\n{r.stdout}\n{r.stderr}"
    result = json.loads((work / "stories260k/results.json").read_text())
    return r.stdout, result


def _table_rows(stdout: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in stdout.splitlines() if ln.startswith("| stories260K |")]


def test_table_has_every_row_with_positive_numbers(bench):
    stdout, _ = bench
    rows = _table_rows(stdout)
    got = {(r[2], int(r[3]), r[4]): r for r in rows}
    metrics = [f"prefill {p}" for p in PROMPTS] + [f"decode {DECODE}"]
    for t in THREADS:
        for m in metrics:
            for engine in ("llmc fp32 (all logits)", "ORT fp32 (all logits)"):
                row = got.get((engine, t, m))
                assert row, f"missing row {engine} threads={t} {m}:\n{stdout}"
                assert float(row[5]) > 0, row
            # bf16 is measured if the compiler has --precision=bf16, else the cell says why not.
            bf16 = got.get(("llmc bf16 (all logits)", t, m))
            assert bf16, f"missing bf16 row threads={t} {m}"
            assert bf16[5].startswith("compile failed:") or float(bf16[5]) > 0, bf16
            # llmc's ratio to ORT fills the peer column.
            assert got[("llmc fp32 (all logits)", t, m)][6].endswith("x")
    assert len(rows) == len(THREADS) * len(metrics) * 3, stdout
    assert not any("llama.cpp" in r[2] for r in rows), "llama.cpp was not requested"


def test_llamacpp_absence_is_reported(bench):
    stdout, result = bench
    if importlib.util.find_spec("llama_cpp") is None:
        assert "llama-cpp-python is not installed" in stdout
    else:
        assert "llama.cpp: not requested" in stdout
    assert result["notes"], "the notes must say why llama.cpp has no rows"


def test_json_matches_an_independent_roofline_and_ratios(bench):
    stdout, result = bench
    import gguf

    # Weight bytes per decode token from the GGUF's own tensor list: every matrix
    # but the embedding lookup (stories260K has a separate output matrix), norms in fp32.
    reader = gguf.GGUFReader(str(STORIES))
    mats = sum(int(np.prod(t.shape)) for t in reader.tensors
               if len(t.shape) == 2 and t.name != "token_embd.weight")
    vecs = sum(int(np.prod(t.shape)) for t in reader.tensors if len(t.shape) == 1)
    limits = result["limits"]
    assert limits, result["notes"]
    rows = result["rows"]
    for r in rows:
        if r["kind"] != "decode" or r["precision"] != "fp32":
            continue
        bw = limits["read_bandwidth"][str(r["threads"])]["median"]
        expect = bw * 1e9 / (4 * (mats + vecs))
        assert r["roofline_tps"] == pytest.approx(expect, rel=1e-6)
        assert r["roofline_fraction"] == pytest.approx(r["tps"] / expect, rel=1e-6)
    for r in rows:
        if r["engine"] == "llmc" and r["tps"]:
            ort = next(o for o in rows if o["engine"] == "ort" and o["metric"] == r["metric"]
                       and o["threads"] == r["threads"])
            assert r["vs"]["ORT fp32"] == pytest.approx(r["tps"] / ort["tps"])
            assert r["tps"] == pytest.approx(float(np.median(r["samples"])))


def test_host_stability_is_reported(bench):
    stdout, result = bench
    assert result["limits_after"], result["notes"]
    assert isinstance(result["host_disturbed"], bool)
    line = next((ln for ln in stdout.splitlines() if ln.startswith("Host stability")), None)
    assert line, stdout
    for t in THREADS:
        assert f"{t} thread{'s' if t > 1 else ''} fp32 FMA" in line, line
    assert ("**The host's speed changed during this run**" in line) == result["host_disturbed"], line


def _probe(fma, bw, spread=0.01):
    """A probe result with the given 1-thread medians and samples +-spread around them."""
    def stat(m):
        return {"median": m, "min": m * (1 - spread), "max": m * (1 + spread)}
    return {"fp32_fma": {"variants": {"zmm-fma": {"status": "unsupported"},
                                      "ymm-fma": {"status": "ok", "1": stat(fma)}}},
            "read_bandwidth": {"1": stat(bw)}}


def test_host_stability_verdicts():
    sys.path.insert(0, str(REPO / "python"))
    from llmc_tools.bench_report import host_stability

    line, disturbed = host_stability(_probe(90, 17), _probe(88, 17.5), [1])
    assert not disturbed and "Steady" in line and "1 thread fp32 FMA 90.0 -> 88.0 GFLOP/s" in line, line
    # The FMA peak fell by a third between the probes (another tenant on the host).
    line, disturbed = host_stability(_probe(90, 17), _probe(60, 17), [1])
    assert disturbed and "1 thread fp32 FMA moved -33%" in line, line
    # Steady medians, but the samples of one probe spread by 40%.
    line, disturbed = host_stability(_probe(90, 17, spread=0.2), _probe(90, 17), [1])
    assert disturbed and "samples spread" in line, line
    line, disturbed = host_stability(_probe(90, 17), None, [1])
    assert not disturbed and "not measured" in line, line


def test_ablation_rounds_interleave_every_variant(tmp_path):
    """--ablation with --rounds 2: every optimization has its row (causal-mask
    included), each measured once per round (so 2 samples per metric), the
    "1 thread" row at 1 thread, and the no-kernels row skipped as asked."""
    assert LLMC_BIN.is_file(), f"llmc binary missing: {LLMC_BIN} (set LLMC_BIN)"
    assert STORIES.is_file(), f"{STORIES} missing (set LLMC_SHARED)"
    cmd = [sys.executable, "-m", "llmc_tools.bench_speed", "--model", "stories260k", "--work", str(tmp_path),
           "--engines", "llmc", "--precisions", "fp32", "--reps", "2", "--rounds", "2",
           "--threads", "2", "--prompts", "32", "--decode", "8", "--decode-prompt", "8",
           "--ablation", "--ablation-skip", "no-kernels",
           "--llmc", str(LLMC_BIN), "--probe", str(LLMC_PROBE), "--quick-probe"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, f"bench_speed failed:\n{r.stdout}\n{r.stderr}"
    ablation = json.loads((tmp_path / "stories260k/results.json").read_text())["ablation"]
    names = {row["variant"]: row for row in ablation}
    from llmc_tools.bench_speed import ABLATIONS
    expected = {"full", "1 thread", "no runtime kernels"} | {f"no {n}" for n in ABLATIONS}
    assert set(names) == expected
    assert "no causal-mask" in names
    assert names["no runtime kernels"]["error"].startswith("skipped")
    assert names["1 thread"]["threads"] == 1 and names["full"]["threads"] == 2
    for name, row in names.items():
        if name == "no runtime kernels":
            continue
        assert row["error"] is None, (name, row["error"])
        assert len(row["samples"]["prefill_32"]) == 2 and len(row["samples"]["decode_8"]) == 2, name
        assert row["tps"]["prefill 32"] > 0 and row["tps"]["decode 8"] > 0, name
    assert "| no causal-mask | --disable=causal-mask |" in r.stdout
