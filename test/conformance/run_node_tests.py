#!/usr/bin/env python3
"""ONNX backend node-test conformance runner for llmc.

Runs the node tests of the installed `onnx` package (one model per test,
`test_data_set_*/input_*.pb` and the expected `output_*.pb`) whose nodes all
use ops llmc claims to support: each model is compiled with `llmc compile
--emit=so`, run through the C API (python/llmc_tools/runtime.py) on every
data set, and compared with the expected outputs.

Where the installed onnx wheel does not ship `onnx/backend/test/data/node`
(the onnx 1.23 wheel ships only the generators, backend/test/case/node), the
same files are generated once from those generators, with onnx's own
reference outputs, into a cache directory (`--cache-dir`).

Tests that feed shape operands (axes, slice bounds, reshape targets, ...) as
graph inputs, which an ahead-of-time compiler needs as constants, also run
as `<test>@const` variants with those inputs turned into initializers that
hold the data set's values (see CONST_OPERANDS).

Every test runs in its own subprocess (compile + run) under a timeout, so a
crash or hang of llmc or of the compiled library is a failure of that test
only. The exit status is non-zero if a test fails that is not listed in the
expected-failures file, or if a listed test passes (keep the list honest).
The closing line `N passed, M failed` counts those as failed; the line
before it gives the expected failures and unexpected passes.

    run_node_tests.py --llmc build/bin/llmc \
        --xfail test/conformance/expected_failures.txt -j 2
    run_node_tests.py --llmc build/bin/llmc --ops Add,Mul -k bcast -v
    run_node_tests.py --llmc build/bin/llmc --xfail ... --write-docs docs/SupportedOps.md
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ONNX_OPS_TD = os.path.join(ROOT, "dialects", "include", "llmc", "Dialect", "ONNX",
                           "ONNXOps.td")

# Comparison tolerances (np.testing.assert_allclose); integers and bools exact.
TOLERANCES = {
    "float16": dict(rtol=1e-3, atol=1e-3),
    "float32": dict(rtol=1e-4, atol=1e-5),
    "float64": dict(rtol=1e-7, atol=1e-9),
}

# --------------------------------------------------------------------------
# Claimed ops and test discovery
# --------------------------------------------------------------------------


def claimed_ops(td_path=ONNX_OPS_TD):
    """Ops the onnx dialect defines (`def ONNX_<Name>Op : ONNX_*Op<"Name">`),
    plus Constant (folded by the importer), minus the internal NoValue."""
    text = open(td_path).read()
    names = set(re.findall(r'^def\s+ONNX_\w+Op\s*:\s*ONNX_\w*Op<"(\w+)"', text, re.M))
    names.discard("NoValue")
    names.add("Constant")
    return names


def shipped_node_dir():
    import onnx
    d = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    return d if glob.glob(os.path.join(d, "*", "model.onnx")) else None


def generate_node_tests(out_dir):
    """Writes onnx's node test cases in the shipped layout (like
    `python -m onnx.backend.test.cmd_tools generate-data`, node kind only)."""
    import warnings

    import onnx
    from onnx import numpy_helper
    import onnx.backend.test.case.node as node_cases

    stamp = os.path.join(out_dir, "ONNX_VERSION")
    if os.path.exists(stamp) and open(stamp).read().strip() == onnx.__version__:
        return out_dir
    print(f"generating the onnx {onnx.__version__} node tests into {out_dir} ...",
          flush=True)
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases()

    def proto(value, name):
        if isinstance(value, onnx.TensorProto):
            return value
        if isinstance(value, list):
            return numpy_helper.from_list(value, name)
        if isinstance(value, dict):
            return numpy_helper.from_dict(value, name)
        if value is None:
            return numpy_helper.from_optional(value, name)
        return numpy_helper.from_array(value, name)

    for case in cases:
        d = os.path.join(tmp, case.name)
        os.makedirs(d)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(ds)
            for kind, values, infos in (("input", inputs, case.model.graph.input),
                                        ("output", outputs, case.model.graph.output)):
                for j, v in enumerate(values):
                    name = infos[j].name if j < len(infos) else f"{kind}_{j}"
                    try:
                        data = proto(v, name).SerializeToString()
                    except Exception:  # noqa: BLE001 - exotic values: skip the file
                        continue
                    with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(data)
    with open(os.path.join(tmp, "ONNX_VERSION"), "w") as f:
        f.write(onnx.__version__ + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)
    return out_dir


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "llmc", "onnx-node-tests")


def model_ops(model_path):
    """(model, [(domain, op type, has subgraphs)], default-domain opset)."""
    import onnx
    m = onnx.load(model_path, load_external_data=False)
    ops = []
    for n in m.graph.node:
        ops.append((n.domain, n.op_type,
                    any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                        for a in n.attribute)))
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    return m, ops, opset


# Operands llmc needs at compile time (they decide output shapes). The node
# tests feed them as graph inputs; each such test also runs as a `@const`
# variant where those inputs are initializers holding the data set's values,
# so the lowering of these ops is exercised too. The original test stays in
# the run (and fails with llmc's "must be a constant" error).
CONST_OPERANDS = {
    "ReduceMean": {1}, "ReduceSum": {1}, "ReduceMax": {1}, "ReduceMin": {1},
    "ReduceProd": {1}, "ReduceSumSquare": {1}, "ReduceL2": {1},
    "Slice": {1, 2, 3, 4}, "Unsqueeze": {1}, "Squeeze": {1}, "Reshape": {1},
    "Expand": {1}, "Tile": {1}, "ConstantOfShape": {0}, "Range": {0, 1, 2},
}
CONST_SUFFIX = "@const"


def const_inputs(model):
    """Graph inputs that feed a compile-time operand directly."""
    names = {i.name for i in model.graph.input}
    found = []
    for n in model.graph.node:
        for k in CONST_OPERANDS.get(n.op_type, ()):
            if k < len(n.input) and n.input[k] in names and n.input[k] not in found:
                found.append(n.input[k])
    return found


def discover(node_dir, ops):
    """All tests (plus their `@const` variants) as dicts: name, dir, ops,
    opset, selected (all nodes claimed), single (one node), const."""
    tests = []
    for d in sorted(glob.glob(os.path.join(node_dir, "test_*"))):
        mp = os.path.join(d, "model.onnx")
        if not os.path.exists(mp):
            continue
        model, nodes, opset = model_ops(mp)
        types = sorted({t for _, t, _ in nodes})
        selected = bool(nodes) and all(dom in ("", "ai.onnx") and t in ops and not sub
                                       for dom, t, sub in nodes)
        tests.append(dict(name=os.path.basename(d), dir=d, ops=types, opset=opset,
                          selected=selected, single=len(nodes) == 1, const=False))
        if selected and const_inputs(model):
            tests.append(dict(tests[-1], name=tests[-1]["name"] + CONST_SUFFIX, const=True))
    return tests


_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


def op_under_test(test, by_name):
    """The operator a node test is about: its single node's op type, or for
    a function-expanded test (`*_expanded`) the op of the test it expands."""
    name = test["name"].removesuffix(CONST_SUFFIX)
    base = _EXPANDED.sub("", name)
    if base != name and base in by_name and by_name[base]["single"]:
        return by_name[base]["ops"][0], True
    if test["single"] or len([o for o in test["ops"] if o != "Constant"]) == 1:
        return ([o for o in test["ops"] if o != "Constant"] or test["ops"])[0], False
    return None, False


# --------------------------------------------------------------------------
# Expected failures
# --------------------------------------------------------------------------


def read_xfail(path):
    """`pattern  # reason` per line (fnmatch patterns); returns [(pattern, reason)]."""
    entries = []
    if not path:
        return entries
    for raw in open(path):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            continue
        pat, _, reason = line.partition("#")
        entries.append((pat.strip(), reason.strip()))
    return entries


def xfail_match(name, pat):
    """fnmatch, except that a pattern matches a `@const` variant only if it
    says so (`test_slice_*` does not cover `test_slice_neg@const`)."""
    if ("@" in name) != ("@" in pat):
        return False
    return fnmatch.fnmatchcase(name, pat)


def xfail_reason(name, entries):
    for pat, reason in entries:
        if xfail_match(name, pat):
            return reason or "(no reason given)"
    return None


# --------------------------------------------------------------------------
# One test (runs in a worker subprocess)
# --------------------------------------------------------------------------


def first_error(text):
    for line in text.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def compare(expected, actual, name):
    import numpy as np
    if actual.dtype != expected.dtype:
        return f"output '{name}': dtype {actual.dtype}, expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"output '{name}': shape {actual.shape}, expected {expected.shape}"
    tol = TOLERANCES.get(expected.dtype.name)
    try:
        if tol is not None:
            np.testing.assert_allclose(actual, expected, equal_nan=True, **tol)
        else:
            np.testing.assert_array_equal(actual, expected)
    except AssertionError as e:
        lines = [l.strip() for l in str(e).splitlines() if l.strip()]
        detail = "; ".join(l for l in lines if l.startswith(("Mismatched", "Max abs", "Max rel")))
        return f"output '{name}' differs: {(detail or lines[0]) if lines else 'mismatch'}"
    return None


def load_tensor(path):
    import onnx
    from onnx import numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def compile_model(llmc, model_path, so, work_dir):
    """Runs `llmc compile`; returns None or a failure result."""
    proc = subprocess.run([llmc, "compile", model_path, "--emit=so", "-o", so],
                          capture_output=True, text=True, cwd=work_dir)
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        return dict(status="crash", phase="compile",
                    message=f"llmc killed by {sig}: {first_error(proc.stderr)}")
    if "Stack dump" in proc.stderr or "PLEASE submit a bug report" in proc.stderr:
        return dict(status="crash", phase="compile",
                    message=f"llmc crashed: {first_error(proc.stderr)}")
    return dict(status="fail", phase="compile", message=first_error(proc.stderr))


def run_one(test_dir, llmc, work_dir, const=False):
    """Compiles and runs one node test (for `const`, once per data set with
    the compile-time operands baked in); returns a result dict."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    sys.path.insert(0, os.path.join(ROOT, "python"))
    from llmc_tools.runtime import Library

    model_path = os.path.join(test_dir, "model.onnx")
    model = onnx.load(model_path, load_external_data=False)
    graph_inputs = [i.name for i in model.graph.input]
    graph_outputs = [o.name for o in model.graph.output]
    data_sets = sorted(glob.glob(os.path.join(test_dir, "test_data_set_*")))
    if not data_sets:
        return dict(status="fail", phase="run", message="test has no data sets")
    baked = const_inputs(model) if const else []

    lib = None
    try:
        for n, ds in enumerate(data_sets):
            feeds = {}

            def feed(name):
                if name not in feeds:
                    j = graph_inputs.index(name)
                    feeds[name] = load_tensor(os.path.join(ds, f"input_{j}.pb"))
                return feeds[name]

            if lib is None or baked:
                if lib is not None:
                    lib.close()
                    lib = None
                path = model_path
                if baked:
                    m = onnx.ModelProto()
                    m.CopyFrom(model)
                    keep = [i for i in m.graph.input if i.name not in baked]
                    del m.graph.input[:]
                    m.graph.input.extend(keep)
                    for name in baked:
                        m.graph.initializer.append(numpy_helper.from_array(feed(name), name))
                    path = os.path.join(work_dir, f"model_{n}.onnx")
                    onnx.save(m, path)
                so = os.path.join(work_dir, f"model_{n}.so")
                err = compile_model(llmc, path, so, work_dir)
                if err:
                    return err
                lib = Library(so)
            manifest_inputs = [i["name"] for i in lib.manifest["inputs"]]
            manifest_outputs = [o["name"] for o in lib.manifest["outputs"]]
            missing = [name for name in manifest_inputs if name not in graph_inputs]
            if missing:
                return dict(status="fail", phase="run",
                            message=f"manifest input '{missing[0]}' is not a graph input")
            args = [feed(name) for name in manifest_inputs]
            outs = lib.run(args)
            got = dict(zip(manifest_outputs, outs))
            for j, name in enumerate(graph_outputs):
                expected = load_tensor(os.path.join(ds, f"output_{j}.pb"))
                if name not in got:
                    return dict(status="fail", phase="run",
                                message=f"output '{name}' missing from the manifest")
                err = compare(np.asarray(expected), got[name], name)
                if err:
                    return dict(status="fail", phase="compare",
                                message=f"{os.path.basename(ds)}: {err}")
    except Exception as e:  # noqa: BLE001 - report, never stop the run
        return dict(status="fail", phase="run", message=f"{type(e).__name__}: {e}")
    finally:
        if lib is not None:
            lib.close()
    return dict(status="pass")


def worker_main(test_dir, llmc, const):
    with tempfile.TemporaryDirectory(prefix="llmc-node-") as work:
        try:
            res = run_one(test_dir, llmc, work, const)
        except Exception as e:  # noqa: BLE001
            res = dict(status="fail", phase="runner", message=f"{type(e).__name__}: {e}")
    sys.stdout.write("\n@@RESULT " + json.dumps(res) + "\n")
    sys.stdout.flush()
    return 0


def run_in_subprocess(test, llmc, timeout):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", test["dir"], "--llmc", llmc]
    if test.get("const"):
        cmd.append("--worker-const")
    t0 = time.time()
    try:
        # New session: a timeout kills the worker and the llmc it started.
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            return dict(status="timeout", phase="", message=f"timed out after {timeout}s",
                        seconds=round(time.time() - t0, 1))
    except OSError as e:
        return dict(status="fail", phase="runner", message=str(e))
    res = None
    for line in out.splitlines():
        if line.startswith("@@RESULT "):
            res = json.loads(line[len("@@RESULT "):])
    if res is None:
        if p.returncode < 0:
            res = dict(status="crash", phase="run",
                       message=f"killed by {signal.Signals(-p.returncode).name} "
                               f"while running the compiled model")
        else:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            res = dict(status="fail", phase="runner",
                       message=f"worker exited with {p.returncode}: {tail}")
    res["seconds"] = round(time.time() - t0, 1)
    return res


# --------------------------------------------------------------------------
# Docs
# --------------------------------------------------------------------------


# Ops the importer handles outside the `onnx` dialect (lib/Importer/QuantizedOps.cpp).
PREQUANTIZED_SECTION = """## Pre-quantized weights

Not covered by the node tests above (the importer handles them before the `onnx` dialect; see docs/Quantization.md, "Pre-quantized models"):

| Operator | Imported as | Supported | Errors (with the node's location) |
| --- | --- | --- | --- |
| `com.microsoft` MatMulNBits | `llm.quantized_linear` | bits 4 and 8, any block_size that is a multiple of 8 (int4) / 4 (int8), uint8 packed or integral float zero points, g_idx equal to k / block_size, bias; f32 A | bits 2, reordering g_idx, non-integral float zero points, B/scales/zero points of the wrong shape |
| DequantizeLinear (of a constant) -> MatMul | `llm.quantized_linear` | int8/uint8/int4/uint4 weights, per tensor, per output channel (axis 1), blocked along K (axis 0, block_size, opset 21) | scales along K per row (axis 0) or blocked along N, non-constant inputs (activation QDQ) |
| DequantizeLinear (of a constant) -> any other op | f32 constant, with a warning | as above | |

Tests: `test/lit/Importer/prequantized.test`, `test/e2e/test_prequantized.py` (against ONNX Runtime).
"""


def write_docs(path, ops, tests, results, by_name, onnx_version):
    def key(r):
        if r["status"] == "pass":
            return "pass"
        return "xfail" if r.get("xfail") else "fail"

    per_op = collections.defaultdict(collections.Counter)    # op under test
    expanded = collections.defaultdict(collections.Counter)  # *_expanded of other ops
    for t in tests:
        r = results.get(t["name"])
        if not t["selected"] or r is None:
            continue
        op, is_expanded = op_under_test(t, by_name)
        op = op or "(composite)"
        prefix = "const_" if t["const"] else ""
        table = expanded if (is_expanded or op not in ops) else per_op
        table[op][prefix + key(r)] += 1

    def row(op, c):
        n = c["pass"] + c["xfail"] + c["fail"]
        nc = c["const_pass"] + c["const_xfail"] + c["const_fail"]
        const = f"{c['const_pass']}/{nc}" if nc else "-"
        return f"| {op} | {n} | {c['pass']} | {c['xfail']} | {c['fail']} | {const} |"

    header = ["| Node tests | Passed | Expected failures | Failed | `@const` passed |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    lines = [
        "# Supported ONNX operators",
        "",
        "<!-- Generated by test/conformance/run_node_tests.py --write-docs; do not edit. -->",
        "",
        "llmc imports the default ONNX domain (opsets 13 to 25) into its `onnx` dialect "
        "and lowers what the LLM raising patterns leave generically to linalg. The "
        "operators below are the ones the dialect defines, plus `Constant`, which the "
        "importer folds.",
        "",
        f"The counts come from the ONNX backend node tests of onnx {onnx_version} whose "
        "nodes all use these operators. Each model is compiled with `llmc compile`, run on "
        "its data sets through the C API and compared with the expected outputs (float32: "
        "rtol 1e-4, atol 1e-5; float16: 1e-3/1e-3; float64: 1e-7/1e-9; integers and bools "
        "exactly). *Expected failures* are listed with their reason in "
        "`test/conformance/expected_failures.txt` (see *Known limitations*); a *failure* "
        "is a test that neither passes nor is listed there.",
        "",
        "Many node tests pass shape operands (reduction axes, slice bounds, reshape "
        "targets, repeats) as graph inputs, which an ahead-of-time compiler cannot use; "
        "those tests also run as `@const` variants whose shape operands are initializers "
        "holding the test's values.",
        "",
        "Reproduce with `python3 test/conformance/run_node_tests.py --llmc build/bin/llmc "
        "--xfail test/conformance/expected_failures.txt -j 2` (`-k REGEX` selects tests).",
        "",
        "| Operator " + header[0],
        "| --- " + header[1],
    ]
    total = collections.Counter()
    for op in sorted(ops):
        c = per_op.get(op, collections.Counter())
        total.update(c)
        lines.append(row(op, c))
    lines.append(row("**total**", total))
    if expanded:
        lines += [
            "",
            "## Function-expanded tests",
            "",
            "Node tests (`*_expanded`) that run an operator's ONNX function body, "
            "whose nodes only use the operators above (the operator itself may be "
            "one llmc does not claim):",
            "",
            "| Expanded operator " + header[0],
            "| --- " + header[1],
        ]
        for op in sorted(expanded):
            lines.append(row(op, expanded[op]))

    by_reason = collections.defaultdict(list)
    for name, r in results.items():
        if r.get("xfail") and r["status"] != "pass":
            by_reason[r["xfail"]].append(name)
    lines += ["", *PREQUANTIZED_SECTION.rstrip("\n").split("\n")]
    lines += ["", "## Known limitations", ""]
    if not by_reason:
        lines.append("None.")
    for reason in sorted(by_reason, key=lambda k: (-len(by_reason[k]), k)):
        names = sorted(by_reason[reason])
        shown = ", ".join(f"`{n}`" for n in names[:4])
        more = f" and {len(names) - 4} more" if len(names) > 4 else ""
        tests_word = "test" if len(names) == 1 else "tests"
        lines.append(f"- {reason}: {len(names)} {tests_word} ({shown}{more}).")
    failed = sorted(n for n, r in results.items() if key(r) == "fail")
    if failed:
        lines += ["", "## Failing tests", ""]
        for n in failed:
            r = results[n]
            lines.append(f"- `{n}`: {r['status']}: {r.get('message', '')}")
    lines.append("")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmc", help="path to the llmc executable")
    ap.add_argument("--ops", help="comma-separated op types to claim (default: every op "
                                  "the onnx dialect defines, plus Constant)")
    ap.add_argument("--xfail", help="expected-failures file")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-k", "--filter", help="only tests whose name matches this regex")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds per test (compile + run), default 120")
    ap.add_argument("--data-dir", help="node test directory (default: the installed onnx's "
                                       "backend/test/data/node, else generated into --cache-dir)")
    ap.add_argument("--cache-dir", default=default_cache_dir(),
                    help="where to generate the node tests if onnx does not ship them "
                         "(default: %(default)s)")
    ap.add_argument("--write-docs", metavar="PATH", help="write the supported-ops page")
    ap.add_argument("--json", metavar="PATH", help="write all results as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the failure message "
                                                                 "of expected failures too")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-const", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.llmc:
        ap.error("--llmc is required")
    llmc = os.path.abspath(args.llmc)
    args.cache_dir = os.path.abspath(args.cache_dir)  # workers run elsewhere
    if args.worker:
        return worker_main(args.worker, llmc, args.worker_const)
    if not os.access(llmc, os.X_OK):
        ap.error(f"--llmc {llmc} is not an executable")
    if args.write_docs and (args.filter or args.ops):
        ap.error("--write-docs needs the full run (no -k/--ops)")

    import onnx
    ops = set(o.strip() for o in args.ops.split(",")) if args.ops else claimed_ops()
    node_dir = args.data_dir or shipped_node_dir() or generate_node_tests(args.cache_dir)
    tests = discover(node_dir, ops)
    by_name = {t["name"]: t for t in tests}
    selected = [t for t in tests if t["selected"]]
    if args.filter:
        rx = re.compile(args.filter)
        selected = [t for t in selected if rx.search(t["name"])]
    xfails = read_xfail(args.xfail)
    originals = [t for t in tests if not t["const"]]
    print(f"onnx {onnx.__version__} node tests from {node_dir}: "
          f"{sum(t['selected'] for t in originals)} of {len(originals)} use only the "
          f"{len(ops)} claimed ops (+{sum(t['const'] for t in tests)} @const variants); "
          f"running {len(selected)}", flush=True)

    results = {}
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_in_subprocess, t, llmc, args.timeout): t for t in selected}
        done = 0
        for fut in concurrent.futures.as_completed(futures):
            t = futures[fut]
            r = fut.result()
            done += 1
            reason = xfail_reason(t["name"], xfails)
            ok = r["status"] == "pass"
            if reason is not None:
                r["xfail"] = reason
            if ok and reason is None:
                tag = "PASS"
            elif ok:
                tag = "XPASS"
            elif reason is not None:
                tag = "XFAIL"
            else:
                tag = r["status"].upper()
            r["tag"] = tag
            results[t["name"]] = r
            msg = ""
            if tag in ("FAIL", "CRASH", "TIMEOUT") or (tag == "XFAIL" and args.verbose):
                phase = f"[{r.get('phase')}] " if r.get("phase") else ""
                msg = f": {phase}{r.get('message', '')}"
            elif tag == "XPASS":
                msg = f": passes but is listed as an expected failure ({reason})"
            elif tag == "XFAIL":
                msg = f" ({reason})"
            print(f"[{done}/{len(selected)}] {tag:7} {t['name']}{msg}", flush=True)

    # passed + failed + expected failures = tests run; `failed` counts what
    # makes the exit status non-zero (unexpected failures and passes).
    passed = sum(1 for r in results.values() if r["tag"] == "PASS")
    failed = sum(1 for r in results.values() if r["tag"] not in ("PASS", "XFAIL"))
    xfailed = sum(1 for r in results.values() if r["tag"] == "XFAIL")
    xpassed = sum(1 for r in results.values() if r["tag"] == "XPASS")
    unexpected = sorted(n for n, r in results.items() if r["tag"] in ("FAIL", "CRASH", "TIMEOUT"))
    if not args.filter and not args.ops:
        names = {t["name"] for t in selected}
        for pat, _ in xfails:
            if not any(xfail_match(n, pat) for n in names):
                print(f"warning: expected-failure entry '{pat}' matches no selected test")
    if unexpected:
        print(f"\n{len(unexpected)} unexpected failures:")
        for n in unexpected:
            print(f"  {n}: {results[n]['status']}: {results[n].get('message', '')}")
    xpass_names = sorted(n for n, r in results.items() if r["tag"] == "XPASS")
    if xpass_names:
        print(f"\n{len(xpass_names)} unexpected passes (remove them from the expected failures):")
        for n in xpass_names:
            print(f"  {n}")
    print(f"\n{xfailed} expected failures, {xpassed} unexpectedly passed "
          f"({time.time() - t0:.0f}s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    if args.write_docs:
        write_docs(args.write_docs, ops, tests, results, by_name, onnx.__version__)
        print(f"wrote {args.write_docs}")
    print(f"{passed} passed, {failed} failed")
    return 1 if unexpected or xpass_names else 0


if __name__ == "__main__":
    sys.exit(main())
