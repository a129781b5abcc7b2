"""Bounded load test of `llmc serve` (and, if installed, llama.cpp's server) on 127.0.0.1.

  python -m llmc_tools.bench_serve --llmc build/bin/llmc --so stories.so \
      [--gguf stories260K.gguf] [--clients 1,4,16,64] [--requests 2]

For each concurrency level, that many closed-loop clients send streaming completions
from one fixed, mixed workload (prompts of ~5 to ~250 tokens, outputs of 16 to 256
tokens, end-of-sequence suppressed so every server generates the same counts) until
`--requests` x clients requests (at least 16) are done or `--time-limit` seconds pass.
Per level it prints requests/s, output tokens/s, time to first token and the time
between tokens (p50/p99, measured by the client from the SSE chunks), and for llmc the
KV blocks (peak used / budget) and the waste (allocated KV slots not holding a token,
averaged over the scheduler's steps, from /metrics).

With --gguf and `llama_cpp.server` importable (PyPI llama-cpp-python[server]) the same
load runs against it on the same weights in the same run; otherwise the table says it
was not measured. Only loopback addresses are contacted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

HOST = "127.0.0.1"
SENTENCES = [
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park with her friends.",
    "One day, she saw a big, red ball under a tree.",
    "Tom and his dog went to the river to look for fish.",
    "The sun was warm and the birds sang happy songs.",
    "Mom said they could bake a cake after lunch.",
]


def workload(n: int) -> list[tuple[str, int]]:
    """n (prompt, max_tokens) pairs: short/medium/long prompts x 16..256 output tokens."""
    prompt_sentences = [1, 4, 12, 25]  # ~10, ~50, ~140, ~290 tokens
    outputs = [16, 64, 128, 256]
    items = []
    for i in range(n):
        k = prompt_sentences[i % len(prompt_sentences)]
        prompt = " ".join(SENTENCES[(i + j) % len(SENTENCES)] for j in range(k))
        items.append((prompt, outputs[(i * 3 + i // 4) % len(outputs)]))
    return items


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Result:
    ttft: float = 0.0
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0
    usage: int | None = None
    ok: bool = False
    error: str = ""


CONTENT = re.compile(rb'"finish_reason":\s*null')
USAGE = re.compile(rb'"completion_tokens":\s*(\d+)')


async def stream_completion(port: int, body: dict, deadline: float) -> Result:
    """POST /v1/completions with stream=true and time the SSE chunks as they arrive.

    A plain asyncio HTTP/1.1 client (chunked transfer decoding, no JSON parsing of
    content chunks) so the client costs little next to the servers on a small machine.
    A chunk with "finish_reason": null carries one piece of text; the usage chunk, if
    any, gives the token count. Gives up (error "time limit") at `deadline`."""
    res = Result()
    t0 = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port),
                                                max(0.1, deadline - t0))
        payload = json.dumps(body).encode()
        writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (HOST.encode(), port, len(payload))
                     + payload)

        async def read_until(sep):
            return await asyncio.wait_for(reader.readuntil(sep), max(0.01, deadline - time.perf_counter()))

        head = await read_until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            res.error = f"HTTP {status}"
            return res
        chunked = b"transfer-encoding: chunked" in head.lower()
        pending = b""
        last = None
        while True:
            if chunked:
                size = int((await read_until(b"\r\n")).strip() or b"0", 16)
                if size == 0:
                    break
                data = await asyncio.wait_for(reader.readexactly(size + 2),
                                              max(0.01, deadline - time.perf_counter()))
                pending += data[:-2]
            else:
                data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.perf_counter()))
                if not data:
                    break
                pending += data
            *lines, pending = pending.split(b"\n")
            now = time.perf_counter()
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                if line.startswith(b"data: [DONE]"):
                    res.ok = True
                    continue
                if CONTENT.search(line):
                    if last is None:
                        res.ttft = now - t0
                    else:
                        res.gaps.append(now - last)
                    last = now
                    res.tokens += 1
                elif (m := USAGE.search(line)):
                    res.usage = int(m.group(1))
            if res.ok:
                break
        if res.usage is not None:
            res.tokens = res.usage
    except asyncio.TimeoutError:
        res.error = "time limit"
    except (OSError, ValueError, asyncio.IncompleteReadError) as e:
        res.error = f"{type(e).__name__}: {e}"
    finally:
        if writer is not None:
            writer.close()
    return res


def scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_level(port, clients, n_requests, time_limit, make_body, llmc_metrics):
    items = workload(n_requests)
    results: list[Result] = []
    deadline = time.perf_counter() + time_limit

    async def drive():
        queue = list(reversed(items))

        async def client():
            while queue and time.perf_counter() < deadline:
                prompt, n = queue.pop()
                results.append(await stream_completion(port, make_body(prompt, n), deadline))

        await asyncio.gather(*(client() for _ in range(clients)))

    peak = [0.0]
    stop = threading.Event()

    def monitor():  # peak KV blocks in use during the level
        while not stop.is_set():
            m = scrape(port)
            peak[0] = max(peak[0], m.get("llmc_kv_blocks_used", 0.0))
            stop.wait(0.05)

    before = scrape(port) if llmc_metrics else {}
    mon = threading.Thread(target=monitor, daemon=True)
    if llmc_metrics:
        mon.start()
    t0 = time.perf_counter()
    asyncio.run(drive())
    wall = time.perf_counter() - t0
    stop.set()
    after = scrape(port) if llmc_metrics else {}
    ok = [r for r in results if r.ok]
    cut = [r for r in results if r.error == "time limit"]
    row = {
        "clients": clients, "requests": len(ok), "cut": len(cut), "errors": len(results) - len(ok) - len(cut),
        "first_error": next((r.error for r in results if not r.ok and r.error != "time limit"), ""),
        "req_s": len(ok) / wall, "tok_s": sum(r.tokens for r in ok) / wall,
        "ttft_p50": pct([r.ttft for r in ok], 0.5), "ttft_p99": pct([r.ttft for r in ok], 0.99),
        "gap_p50": pct([g for r in ok for g in r.gaps], 0.5),
        "gap_p99": pct([g for r in ok for g in r.gaps], 0.99),
        "wall": wall,
    }
    if llmc_metrics and before and after:
        alloc = after["llmc_kv_step_slots_allocated_total"] - before["llmc_kv_step_slots_allocated_total"]
        filled = after["llmc_kv_step_slots_filled_total"] - before["llmc_kv_step_slots_filled_total"]
        row["kv_peak"] = peak[0]
        row["kv_total"] = after["llmc_kv_blocks_total"]
        row["waste"] = 100.0 * (alloc - filled) / alloc if alloc else float("nan")
        row["preempt"] = after["llmc_preemptions_total"] - before["llmc_preemptions_total"]
    return row


def wait_healthy(port, proc, timeout=120, path="/health"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def llama_cpp_available() -> tuple[bool, str]:
    try:
        import llama_cpp  # noqa: F401
        import llama_cpp.server  # noqa: F401
        return True, getattr(llama_cpp, "__version__", "?")
    except Exception as e:  # ImportError or a broken build
        return False, f"{type(e).__name__}: {e}"


def fmt_row(server, r):
    ms = lambda v: f"{v * 1000:8.1f}" if v == v else "     n/a"  # noqa: E731
    kv = (f"{r['kv_peak']:6.0f}/{r['kv_total']:<6.0f} {r['waste']:6.2f}%"
          if "kv_peak" in r else f"{'n/a':>13} {'n/a':>7}")
    err = f"  ({r['errors']} failed: {r['first_error'][:60]})" if r["errors"] else ""
    if r["cut"]:
        err += f"  ({r['cut']} unfinished at the time limit)"
    return (f"{server:<10} {r['clients']:>7} {r['requests']:>8} {r['req_s']:7.2f} {r['tok_s']:9.1f}"
            f" {ms(r['ttft_p50'])} {ms(r['ttft_p99'])} {ms(r['gap_p50'])} {ms(r['gap_p99'])}  {kv}{err}")


HEADER = (f"{'server':<10} {'clients':>7} {'requests':>8} {'req/s':>7} {'out tok/s':>9}"
          f" {'TTFT p50':>8} {'TTFT p99':>8} {'tok p50':>8} {'tok p99':>8}  {'KV peak/total':>13} {'waste':>7}"
          "\n" + " " * 44 + "(milliseconds)" + " " * 26 + "(blocks)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmc", required=True, help="the llmc binary")
    ap.add_argument("--so", required=True, help="library made by `llmc compile --tokenizer`")
    ap.add_argument("--gguf", help="the same weights as GGUF, for llama.cpp's server")
    ap.add_argument("--clients", default="1,4,16,64")
    ap.add_argument("--requests", type=int, default=4, help="requests per client per level (min 16 a level)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per level at most")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="compute threads of each server")
    ap.add_argument("--serve-args", default="", help="extra `llmc serve` flags, e.g. '--block-size 8'")
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    rows = []

    env = dict(os.environ, LLMC_NUM_THREADS=str(args.threads))
    port = free_port()
    cmd = [args.llmc, "serve", args.so, "--port", str(port), "--model-name", "bench",
           "--queue-limit", "1024", *args.serve_args.split()]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(port, proc)
        start_line = proc.stderr.readline().strip()
        print(start_line, file=sys.stderr)
        body = lambda p, n: {"model": "bench", "prompt": p, "max_tokens": n, "temperature": 0,  # noqa: E731
                             "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
        asyncio.run(stream_completion(port, body("warm up", 8), time.perf_counter() + 30))
        for c in levels:
            rows.append(("llmc", run_level(port, c, max(16, args.requests * c), args.time_limit, body, True)))
            print(fmt_row(*rows[-1]), file=sys.stderr)
    finally:
        stop_server(proc)

    have, why = llama_cpp_available()
    llama_note = ""
    if args.gguf and have:
        port = free_port()
        # llama-cpp-python's server; EOS is suppressed with logit_bias (it has no ignore_eos).
        # It serves one request at a time; by default a new request interrupts the
        # running one, which would not be a load test: requests wait their turn instead.
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", args.gguf, "--host", HOST,
               "--port", str(port), "--n_ctx", "2048", "--n_threads", str(args.threads),
               "--model_alias", "bench", "--interrupt_requests", "False"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(port, proc, path="/v1/models")
            body = lambda p, n: {"model": "bench", "prompt": p, "max_tokens": n, "temperature": 0,  # noqa: E731
                                 "stream": True, "logit_bias": {"2": -100.0}}
            asyncio.run(stream_completion(port, body("warm up", 8), time.perf_counter() + 30))
            for c in levels:
                rows.append(("llama.cpp", run_level(port, c, max(16, args.requests * c), args.time_limit,
                                                    body, False)))
                print(fmt_row(*rows[-1]), file=sys.stderr)
        finally:
            stop_server(proc)
        llama_note = (f"llama.cpp: llama-cpp-python {why} server, --n_threads {args.threads} (no parallel "
                      "slots: it runs one request at a time, the others wait)")
    elif not args.gguf:
        llama_note = "llama.cpp: not measured (no --gguf given)"
    else:
        llama_note = f"llama.cpp: not measured (llama_cpp.server not importable: {why})"

    print(HEADER)
    for server, r in rows:
        print(fmt_row(server, r))
    print(llama_note)
    by = {(s, r["clients"]): r for s, r in rows}
    if ("llmc", 1) in by and ("llmc", 16) in by:
        print(f"llmc output tok/s, 16 clients / 1 client: {by['llmc', 16]['tok_s'] / by['llmc', 1]['tok_s']:.2f}x")
    if ("llmc", 16) in by and ("llama.cpp", 16) in by:
        print(f"llmc / llama.cpp output tok/s at 16 clients: "
              f"{by['llmc', 16]['tok_s'] / by['llama.cpp', 16]['tok_s']:.2f}x")
    return 0 if all(r["errors"] == 0 for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
