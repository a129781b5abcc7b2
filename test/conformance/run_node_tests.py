#!/usr/bin/env python3
"""ONNX backend node-test conformance runner for llmc.

Runs the node tests of the installed `onnx` package (one model per test,
`test_data_set_*/input_*.pb` and the expected `output_*.pb`) whose nodes all
use ops llmc claims to support: each model is compiled with `llmc compile
--emit=so`, run through the C API (python/llmc_tools/runtime.py) on every
data set, and compared with the expected outputs.

Where the installed onnx wheel does not ship `onnx/backend/test/data/node`
(onnx >= 1.20 ships only the generators under backend/test/case/node), the
same files are generated once from those generators, with onnx's own
reference outputs, into a cache directory (`--cache-dir`).

Every test runs in its own subprocess (compile + run) under a timeout, so a
crash or hang of llmc or of the compiled library is a failure of that test
only. The exit status is non-zero if a test fails that is not listed in the
expected-failures file, or if a listed test passes (keep the list honest).

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
    import onnx
    m = onnx.load(model_path, load_external_data=False)
    ops = []
    for n in m.graph.node:
        ops.append((n.domain, n.op_type,
                    any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                        for a in n.attribute)))
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    return ops, opset


def discover(node_dir, ops):
    """All tests, each as (name, dir, op types, opset, selected)."""
    tests = []
    for d in sorted(glob.glob(os.path.join(node_dir, "test_*"))):
        mp = os.path.join(d, "model.onnx")
        if not os.path.exists(mp):
            continue
        nodes, opset = model_ops(mp)
        types = sorted({t for _, t, _ in nodes})
        selected = bool(nodes) and all(dom in ("", "ai.onnx") and t in ops and not sub
                                       for dom, t, sub in nodes)
        tests.append(dict(name=os.path.basename(d), dir=d, ops=types, opset=opset,
                          selected=selected, single=len(nodes) == 1))
    return tests


_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


def op_under_test(test, by_name):
    """The operator a node test is about: its single node's op type, or for
    a function-expanded test (`*_expanded`) the op of the test it expands."""
    base = _EXPANDED.sub("", test["name"])
    if base != test["name"] and base in by_name and by_name[base]["single"]:
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
    current_reason = ""
    for raw in open(path):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            continue
        pat, _, reason = line.partition("#")
        entries.append((pat.strip(), reason.strip()))
    return entries


def xfail_reason(name, entries):
    for pat, reason in entries:
        if fnmatch.fnmatchcase(name, pat):
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
        return f"output '{name}' differs: {detail or lines[0] if lines else 'mismatch'}"
    return None


def run_one(test_dir, llmc, work_dir):
    """Compiles and runs one node test; returns a result dict."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model_path = os.path.join(test_dir, "model.onnx")
    so = os.path.join(work_dir, "model.so")
    t0 = time.time()
    proc = subprocess.run([llmc, "compile", model_path, "--emit=so", "-o", so],
                          capture_output=True, text=True, cwd=work_dir)
    t_compile = time.time() - t0
    if proc.returncode != 0:
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            return dict(status="crash", phase="compile",
                        message=f"llmc killed by {sig}: {first_error(proc.stderr)}")
        if "Stack dump" in proc.stderr or "PLEASE submit a bug report" in proc.stderr:
            return dict(status="crash", phase="compile",
                        message=f"llmc crashed: {first_error(proc.stderr)}")
        return dict(status="fail", phase="compile", message=first_error(proc.stderr))

    sys.path.insert(0, os.path.join(ROOT, "python"))
    from llmc_tools.runtime import Library

    model = onnx.load(model_path, load_external_data=False)
    graph_inputs = [i.name for i in model.graph.input]
    graph_outputs = [o.name for o in model.graph.output]
    lib = Library(so)
    try:
        manifest_inputs = [i["name"] for i in lib.manifest["inputs"]]
        manifest_outputs = [o["name"] for o in lib.manifest["outputs"]]
        data_sets = sorted(glob.glob(os.path.join(test_dir, "test_data_set_*")))
        if not data_sets:
            return dict(status="fail", phase="run", message="test has no data sets")
        for ds in data_sets:
            feeds = {}
            for j, name in enumerate(graph_inputs):
                p = os.path.join(ds, f"input_{j}.pb")
                t = onnx.TensorProto()
                with open(p, "rb") as f:
                    t.ParseFromString(f.read())
                feeds[name] = numpy_helper.to_array(t)
            try:
                args = [feeds[n] for n in manifest_inputs]
            except KeyError as e:
                return dict(status="fail", phase="run",
                            message=f"manifest input {e} is not a graph input")
            outs = lib.run(args)
            got = dict(zip(manifest_outputs, outs))
            for j, name in enumerate(graph_outputs):
                t = onnx.TensorProto()
                with open(os.path.join(ds, f"output_{j}.pb"), "rb") as f:
                    t.ParseFromString(f.read())
                expected = numpy_helper.to_array(t)
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
        lib.close()
    return dict(status="pass", compile_seconds=round(t_compile, 2))


def worker_main(test_dir, llmc):
    with tempfile.TemporaryDirectory(prefix="llmc-node-") as work:
        try:
            res = run_one(test_dir, llmc, work)
        except Exception as e:  # noqa: BLE001
            res = dict(status="fail", phase="runner", message=f"{type(e).__name__}: {e}")
    sys.stdout.write("\n@@RESULT " + json.dumps(res) + "\n")
    sys.stdout.flush()
    return 0


def run_in_subprocess(test, llmc, timeout):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", test["dir"], "--llmc", llmc]
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


def write_docs(path, ops, tests, results, xfails, by_name, onnx_version):
    per_op = collections.defaultdict(lambda: collections.Counter())
    expanded = collections.defaultdict(lambda: collections.Counter())
    for t in tests:
        if not t["selected"] or t["name"] not in results:
            continue
        r = results[t["name"]]
        op, is_expanded = op_under_test(t, by_name)
        key = "pass" if r["status"] == "pass" else ("xfail" if r.get("xfail") else "fail")
        if is_expanded:
            expanded[op][key] += 1
        elif op is not None:
            per_op[op][key] += 1
    lines = [
        "# Supported ONNX operators",
        "",
        "<!-- Generated by test/conformance/run_node_tests.py --write-docs; do not edit. -->",
        "",
        "llmc imports the default ONNX domain (opsets 13 to 25) into its `onnx` dialect "
        "and lowers what the LLM raising patterns leave to linalg. The operators below are "
        "the ones the dialect defines (plus `Constant`, which the importer folds). The "
        "counts come from the ONNX backend node tests of onnx "
        f"{onnx_version} whose nodes all use these operators: each model is compiled with "
        "`llmc compile`, run on its data sets through the C API and compared with the "
        "expected outputs (float32: rtol 1e-4, atol 1e-5; float16: 1e-3/1e-3; "
        "float64: 1e-7/1e-9; integers and bools exactly).",
        "",
        "*Expected failures* are the tests listed in `test/conformance/expected_failures.txt`: "
        "llmc rejects them with a compile error naming the unsupported feature "
        "(see *Known limitations*). A *failure* is a test that is neither.",
        "",
        "| Operator | Node tests | Passed | Expected failures | Failed |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    total = collections.Counter()
    for op in sorted(ops):
        c = per_op.get(op, collections.Counter())
        n = sum(c.values())
        total.update(c)
        lines.append(f"| {op} | {n} | {c['pass']} | {c['xfail']} | {c['fail']} |")
    lines.append(f"| **total** | {sum(total.values())} | {total['pass']} | "
                 f"{total['xfail']} | {total['fail']} |")
    other = {op: c for op, c in per_op.items() if op not in ops}
    if expanded or other:
        lines += [
            "",
            "## Function-expanded and composite tests",
            "",
            "Tests of other operators (`*_expanded`: the operator's ONNX function body) "
            "whose nodes only use the operators above:",
            "",
            "| Expanded operator | Node tests | Passed | Expected failures | Failed |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        merged = collections.defaultdict(collections.Counter)
        for op, c in list(expanded.items()) + list(other.items()):
            merged[op or "(composite)"].update(c)
        for op in sorted(merged):
            c = merged[op]
            lines.append(f"| {op} | {sum(c.values())} | {c['pass']} | {c['xfail']} | {c['fail']} |")
    # Known limitations: the expected-failure reasons, with their tests.
    by_reason = collections.defaultdict(list)
    for t in tests:
        r = results.get(t["name"])
        if r and r.get("xfail"):
            by_reason[r["xfail"]].append(t["name"])
    lines += ["", "## Known limitations", ""]
    if by_reason:
        for reason in sorted(by_reason, key=lambda k: (-len(by_reason[k]), k)):
            names = sorted(by_reason[reason])
            shown = ", ".join(f"`{n}`" for n in names[:6])
            more = f" and {len(names) - 6} more" if len(names) > 6 else ""
            lines.append(f"- {reason} ({len(names)} tests: {shown}{more})")
    else:
        lines.append("- none")
    failed = sorted(n for n, r in results.items() if r["status"] != "pass" and not r.get("xfail"))
    if failed:
        lines += ["", "## Failing tests", ""]
        for n in failed:
            lines.append(f"- `{n}`: {results[n]['status']}: {results[n].get('message', '')}")
    lines.append("")
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
    args = ap.parse_args(argv)
    if not args.llmc:
        ap.error("--llmc is required")
    llmc = os.path.abspath(args.llmc)
    if args.worker:
        return worker_main(args.worker, llmc)
    if not os.access(llmc, os.X_OK):
        ap.error(f"--llmc {llmc} is not an executable")

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
    print(f"onnx {onnx.__version__} node tests from {node_dir}: {len(selected)} of "
          f"{len(tests)} use only the {len(ops)} claimed ops", flush=True)

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

    passed = sum(1 for r in results.values() if r["status"] == "pass")
    failed = len(results) - passed
    xfailed = sum(1 for r in results.values() if r["tag"] == "XFAIL")
    xpassed = sum(1 for r in results.values() if r["tag"] == "XPASS")
    unexpected = sorted(n for n, r in results.items() if r["tag"] in ("FAIL", "CRASH", "TIMEOUT"))
    if not args.filter and not args.ops:
        names = {t["name"] for t in selected}
        for pat, _ in xfails:
            if not any(fnmatch.fnmatchcase(n, pat) for n in names):
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
        write_docs(args.write_docs, ops, tests, results, xfails, by_name, onnx.__version__)
        print(f"wrote {args.write_docs}")
    print(f"{passed} passed, {failed} failed")
    return 1 if unexpected or xpass_names else 0


if __name__ == "__main__":
    sys.exit(main())
