"""Rooflines, peer ratios, targets and the markdown tables of the speed benchmark.

Rooflines (an upper bound on tokens/s from the machine limits llmc-probe measured,
at the row's thread count):
  decode:  bandwidth / weight bytes read per token, where the weight bytes are
           the matrices every step multiplies (all layers' projections and the
           LM head; the embedding is a row lookup) at the row's precision (4 bytes
           fp32, 2 bytes bf16/f16) plus the norm vectors (fp32). KV cache reads are
           left out (under 3% at these context lengths).
  prefill: peak FLOP/s of the precision / FLOPs per token, with 2 FLOPs per
           weight per token for the layers' projections plus the LM head for
           every position (all logits) or once per prompt (last logits).
           Attention score FLOPs are left out. The bf16 peak is vdpbf16ps where
           the CPU has AVX512_BF16, else the fp32 FMA peak (16-bit weights are
           then widened and multiplied in fp32, by llmc and llama.cpp alike).
"""
from __future__ import annotations

# llmc's precisions (fp32, bf16) and llama.cpp's GGUF types (f32, f16).
PRECISION_CLASS = {"fp32": "fp32", "f32": "fp32", "bf16": "16-bit", "f16": "16-bit"}
BYTES = {"fp32": 4, "f32": 4, "bf16": 2, "f16": 2}


def model_counts(config: dict, tied: bool) -> dict:
    """Parameter counts the rooflines need."""
    dim, hid, nl = config["dim"], config["hidden_dim"], config["n_layers"]
    kv = config["n_kv_heads"] * (dim // config["n_heads"])
    layer_matmul = nl * (2 * dim * dim + 2 * kv * dim + 3 * dim * hid)
    lm_head = config["vocab_size"] * dim
    norms = nl * 2 * dim + dim
    total = layer_matmul + norms + lm_head * (1 if tied else 2)
    return {"layer_matmul": layer_matmul, "lm_head": lm_head, "norms": norms, "total": total}


def peak_for(limits: dict | None, precision: str, threads: int) -> tuple[float | None, str]:
    """(GFLOP/s, which peak) for a precision at a thread count."""
    if not limits:
        return None, "no probe"
    t = str(threads)
    fp32 = limits.get("fp32_fma", {}).get("peak")
    fp32v = fp32.get(t) if isinstance(fp32, dict) else None
    if PRECISION_CLASS[precision] == "fp32":
        return fp32v, "fp32 FMA"
    bf16 = limits.get("bf16_dot", {}).get("peak")
    if isinstance(bf16, dict) and bf16.get(t):
        return bf16[t], "bf16 dot (vdpbf16ps)"
    return fp32v, "fp32 FMA (no AVX512_BF16)"


def bandwidth_for(limits: dict | None, threads: int) -> float | None:
    if not limits:
        return None
    bw = limits.get("read_bandwidth", {}).get(str(threads))
    return bw.get("median") if isinstance(bw, dict) else None


def roofline(row: dict, counts: dict, limits: dict | None) -> tuple[float | None, str]:
    """(max tokens/s, basis) for a result row."""
    prec, t = row["precision"], row["threads"]
    if row["kind"] == "decode":
        bw = bandwidth_for(limits, t)
        if not bw:
            return None, "no bandwidth"
        nbytes = (counts["layer_matmul"] + counts["lm_head"]) * BYTES[prec] + counts["norms"] * 4
        return bw * 1e9 / nbytes, f"{bw:.1f} GB/s / {nbytes / 1e6:.0f} MB"
    peak, which = peak_for(limits, prec, t)
    if not peak:
        return None, which
    n = row["tokens"]
    lm_rows = n if row["logits"] == "all" else 1
    flops = 2 * counts["layer_matmul"] * n + 2 * counts["lm_head"] * lm_rows
    return peak * 1e9 / (flops / n), f"{peak:.0f} GFLOP/s {which}"


def add_ratios_and_rooflines(rows: list[dict], counts: dict, limits: dict | None) -> None:
    """Fills row['vs'] (peer -> ratio) and row['roofline'] in place.

    Peers compare like with like: ORT (fp32, logits for every position) is the
    peer of rows with all logits (any precision: the bf16 target is stated
    against ORT fp32); llama.cpp (logits for the last position) is the peer of
    rows with last logits at the same precision class. Decode compares any rows.
    """
    def find(engine, metric, threads, pclass=None):
        for r in rows:
            if (r["engine"] == engine and r["metric"] == metric and r["threads"] == threads
                    and (pclass is None or PRECISION_CLASS[r["precision"]] == pclass)):
                return r
        return None

    for r in rows:
        bound, basis = roofline(r, counts, limits)
        r["roofline_tps"], r["roofline_basis"] = bound, basis
        r["roofline_fraction"] = r["tps"] / bound if (r["tps"] and bound) else None
        r["vs"] = {}
        decode = r["kind"] == "decode"
        if r["engine"] != "ort" and (decode or r["logits"] == "all"):
            p = find("ort", r["metric"], r["threads"])
            r["vs"]["ORT fp32"] = _ratio(r, p)
        if r["engine"] != "llamacpp" and (decode or r["logits"] == "last"):
            p = find("llamacpp", r["metric"], r["threads"], PRECISION_CLASS[r["precision"]])
            r["vs"]["llama.cpp"] = _ratio(r, p)


def _ratio(r, peer):
    if peer is None or not r["tps"] or not peer["tps"]:
        return None
    return r["tps"] / peer["tps"]


def _fmt_tps(r) -> str:
    return f"{r['tps']:.1f}" if r["tps"] else (r.get("error") or "—")


def _fmt_ratio(r, peer) -> str:
    if peer not in r["vs"]:
        return ""
    v = r["vs"][peer]
    return f"{v:.2f}x" if v else "—"


def _fmt_roof(r) -> str:
    if r["roofline_fraction"] is None:
        return f"— ({r['roofline_basis']})" if r["roofline_tps"] is None else f"bound {r['roofline_tps']:.0f}"
    return f"{100 * r['roofline_fraction']:.0f}% of {r['roofline_tps']:.0f}"


def main_table(rows: list[dict]) -> str:
    out = ["| model | precision | engine | threads | metric | tokens/s | vs ORT fp32 | vs llama.cpp | roofline (tok/s) |",
           "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['precision']} | {r['engine_label']} | {r['threads']} | {r['metric']} | "
                   f"{_fmt_tps(r)} | {_fmt_ratio(r, 'ORT fp32')} | {_fmt_ratio(r, 'llama.cpp')} | {_fmt_roof(r)} |")
    return "\n".join(out)


def limits_lines(limits: dict | None, threads: list[int]) -> str:
    if not limits:
        return "Machine limits: llmc-probe failed, no rooflines."
    parts = []
    for t in threads:
        bw = bandwidth_for(limits, t)
        fp32, _ = peak_for(limits, "fp32", t)
        bf16 = limits.get("bf16_dot", {}).get("peak")
        bf16s = f"{bf16[str(t)]:.0f}" if isinstance(bf16, dict) and str(t) in bf16 else "unsupported"
        vnni = limits.get("int8_vnni", {}).get("peak")
        vnnis = f"{vnni[str(t)]:.0f}" if isinstance(vnni, dict) and str(t) in vnni else "unsupported"
        parts.append(f"{t} thread{'s' if t > 1 else ''}: read {bw or 0:.1f} GB/s, fp32 FMA {fp32 or 0:.0f} GFLOP/s, "
                     f"bf16 dot {bf16s} GFLOP/s, int8 VNNI {vnnis} GOPS")
    cpu = limits.get("cpu", {})
    sig = f" family {cpu['family']} model {cpu['model']}" if "family" in cpu else ""
    return f"Machine limits (llmc-probe, {cpu.get('brand', '?')}{sig}, {cpu.get('logical_cpus', '?')} CPUs): " + \
        "; ".join(parts)


# A probe figure that moved more than this between the probes before and
# after the measurements, or whose samples spread more than this, means the
# host's speed changed during the run (other tenants of a VM's host).
STABILITY_TOLERANCE = 0.20


def _fma_samples(limits: dict, threads: int) -> dict | None:
    """The fastest fp32 FMA variant's {median, min, max} at a thread count."""
    best = None
    for v in limits.get("fp32_fma", {}).get("variants", {}).values():
        s = v.get(str(threads)) if isinstance(v, dict) else None
        if isinstance(s, dict) and "median" in s and (best is None or s["median"] > best["median"]):
            best = s
    return best


def host_stability(before: dict | None, after: dict | None, threads: list[int]) -> tuple[str, bool]:
    """A line comparing llmc-probe before and after the measurements, and
    whether the host looked disturbed (a figure moved or spread more than
    STABILITY_TOLERANCE)."""
    if not before or not after:
        return "Host stability: not measured (llmc-probe did not run twice).", False
    parts, why = [], []
    for t in threads:
        for name, unit, get in (("fp32 FMA", "GFLOP/s", lambda L: _fma_samples(L, t)),
                                ("read", "GB/s", lambda L: L.get("read_bandwidth", {}).get(str(t)))):
            b, a = get(before), get(after)
            if not isinstance(b, dict) or not isinstance(a, dict) or not b.get("median") or not a.get("median"):
                continue
            lo, hi = min(b["min"], a["min"]), max(b["max"], a["max"])
            drift = a["median"] / b["median"] - 1
            spread = hi / lo - 1 if lo > 0 else float("inf")
            label = f"{t} thread{'s' if t > 1 else ''} {name}"
            parts.append(f"{label} {b['median']:.1f} -> {a['median']:.1f} {unit} (samples {lo:.1f}-{hi:.1f})")
            if abs(drift) > STABILITY_TOLERANCE:
                why.append(f"{label} moved {drift:+.0%}")
            if spread > STABILITY_TOLERANCE:
                why.append(f"{label} samples spread {spread:.0%}")
    disturbed = bool(why)
    line = "Host stability (llmc-probe before -> after the measurements): " + "; ".join(parts) + "."
    if disturbed:
        line += (f" **The host's speed changed during this run** ({', '.join(why)}; tolerance "
                 f"{STABILITY_TOLERANCE:.0%}): absolute figures and rooflines are unreliable, ratios "
                 "compare engines measured in the same rounds.")
    else:
        line += f" Steady (within {STABILITY_TOLERANCE:.0%})."
    return line, disturbed


# ------------------------------------------------------------ targets

def targets(rows: list[dict], threads: int, model_key: str) -> list[dict]:
    """The issue's targets (ratios in the same run, at `threads`), met or not."""
    def get(engine, metric, precision=None, logits=None):
        for r in rows:
            if (r["engine"] == engine and r["metric"] == metric and r["threads"] == threads
                    and (precision is None or r["precision"] == precision)
                    and (logits is None or r["logits"] == logits or r["kind"] == "decode")):
                return r
        return None

    out = []

    def check(name, a, b, goal):
        if a is None or b is None or not a["tps"] or not b["tps"]:
            out.append({"target": name, "goal": goal, "value": None, "met": None})
        else:
            v = a["tps"] / b["tps"]
            out.append({"target": name, "goal": goal, "value": v, "met": v >= goal})

    decodes = sorted({r["metric"] for r in rows if r["kind"] == "decode"})
    prefills = sorted({r["metric"] for r in rows if r["kind"] == "prefill"}, key=lambda m: int(m.split()[-1]))
    for m in decodes:
        check(f"{m}: llmc fp32 / llama.cpp F32", get("llmc", m, "fp32"), get("llamacpp", m, "f32"), 1.5)
        check(f"{m}: llmc bf16 / llama.cpp F16", get("llmc", m, "bf16"), get("llamacpp", m, "f16"), 1.5)
        check(f"{m}: llmc fp32 / ORT fp32", get("llmc", m, "fp32"), get("ort", m), 2.0)
        if model_key == "tinyllama":
            for p in ("fp32", "bf16"):
                r = get("llmc", m, p)
                f = r["roofline_fraction"] if r else None
                out.append({"target": f"{m}: llmc {p} fraction of the bandwidth roofline", "goal": 0.75,
                            "value": f, "met": None if f is None else f >= 0.75})
    for m in prefills:
        check(f"{m}: llmc fp32 / ORT fp32 (all logits)", get("llmc", m, "fp32", "all"), get("ort", m), 1.0)
        check(f"{m}: llmc bf16 / ORT fp32 (all logits)", get("llmc", m, "bf16", "all"), get("ort", m), 1.5)
        check(f"{m}: llmc bf16 / llama.cpp F16 (last logits)", get("llmc", m, "bf16", "last"),
              get("llamacpp", m, "f16"), 2.0)
    return out


def targets_lines(tg: list[dict], threads: int) -> str:
    lines = [f"Targets ({threads} threads):"]
    for t in tg:
        if t["value"] is None:
            state, val = "not measured", "—"
        else:
            state = "met" if t["met"] else f"MISSED by {100 * (1 - t['value'] / t['goal']):.0f}%"
            val = f"{t['value']:.2f}x" if t["goal"] >= 1 else f"{100 * t['value']:.0f}%"
        goal = f">= {t['goal']:.1f}x" if t["goal"] >= 1 else f">= {100 * t['goal']:.0f}%"
        lines.append(f"- {t['target']}: {val} (goal {goal}) — {state}")
    return "\n".join(lines)


# ------------------------------------------------------------ ablation

def ablation_table(ab: list[dict], prefill_metric: str, decode_metric: str) -> str:
    full = next((a for a in ab if a["variant"] == "full"), None)

    def cell(a, m):
        v = a["tps"].get(m)
        if not v:
            return a.get("error") or "—", ""
        base = full["tps"].get(m) if full and full is not a else None
        return f"{v:.1f}", (f"{v / base:.2f}x" if base else "")

    out = [f"| variant | how | {prefill_metric} tok/s | vs full | {decode_metric} tok/s | vs full |",
           "|---|---|---:|---:|---:|---:|"]
    for a in ab:
        p, pr = cell(a, prefill_metric)
        d, dr = cell(a, decode_metric)
        out.append(f"| {a['variant']} | {a['how']} | {p} | {pr} | {d} | {dr} |")
    return "\n".join(out)
