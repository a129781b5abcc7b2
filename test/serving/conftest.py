"""Fixtures of the serving tests: the end-to-end fixtures (llmc binary, shared data,
reference story) from test/e2e/conftest.py, plus a compiled stories260K with its
tokenizer and a running `llmc serve`.

Environment: as test/e2e (LLMC_BIN, LLMC_SHARED). A missing input fails, never skips.
"""
from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "llmc_e2e_conftest", Path(__file__).resolve().parents[1] / "e2e" / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
llmc = _e2e.llmc
shared_dir = _e2e.shared_dir
stories_gguf = _e2e.stories_gguf
stories_reference_text = _e2e.stories_reference_text


class Server:
    """`llmc serve` on a free port (--port 0; the port is read from its first line)."""

    def __init__(self, binary, so_path, *flags, timeout=60):
        self.cmd = [str(binary), "serve", str(so_path), "--port", "0", *map(str, flags)]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        first = threading.Event()

        def drain():  # keeps the pipe empty; the first line carries the port
            for line in self.proc.stderr:
                self.lines.append(line)
                first.set()
            first.set()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        assert first.wait(timeout), f"no start line from {' '.join(self.cmd)}"
        m = re.search(r"http://127\.0\.0\.1:(\d+)", self.lines[0] if self.lines else "")
        assert m, f"llmc serve did not start:\n{''.join(self.lines)}"
        self.base = f"http://127.0.0.1:{m.group(1)}"
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.time() < deadline, "server never became healthy"
                assert self.proc.poll() is None, f"server exited:\n{''.join(self.lines)}"
                time.sleep(0.05)

    @property
    def start_line(self) -> str:
        return self.lines[0]

    def client(self, **kw):
        import openai

        kw.setdefault("max_retries", 0)  # 429s must reach the test, not be retried
        kw.setdefault("timeout", 120)
        return openai.OpenAI(base_url=self.base + "/v1", api_key="unused", **kw)

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def close(self):
        """SIGTERM must end the server cleanly (exit 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("llmc serve did not stop on SIGTERM")
        self._drain.join(5)
        log = "".join(self.lines)
        assert self.proc.returncode == 0, f"llmc serve exited with {self.proc.returncode}:\n{log}"
        for bad in ("Stack dump", "Segmentation fault", "terminate called", "AddressSanitizer"):
            assert bad not in log, log


@pytest.fixture(scope="session")
def stories_build(tmp_path_factory, llmc, stories_gguf):
    """stories260K exported to ONNX, its tokenizer.json, and the compiled library with it."""
    d = tmp_path_factory.mktemp("stories_serve")
    onnx_path = llmc.export(stories_gguf, d / "stories.onnx")
    llmc.tool("gguf_tokenizer", stories_gguf, "-o", d / "tokenizer.json")
    so = llmc.compile(onnx_path, d / "stories.so", "--tokenizer", d / "tokenizer.json")
    return {"onnx": onnx_path, "tokenizer": d / "tokenizer.json", "so": so}


@pytest.fixture(scope="session")
def make_server(llmc, stories_build):
    servers = []

    def make(*flags):
        s = Server(llmc.binary, stories_build["so"], *flags)
        servers.append(s)
        return s

    yield make
    # Stop every server even if one of them fails its clean-shutdown check.
    errors = []
    for s in servers:
        try:
            s.close()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture(scope="session")
def server(make_server):
    # Two executor threads: the sequences of a step run in parallel sessions.
    return make_server("--model-name", "stories260k", "--executor-threads", "2")


@pytest.fixture(scope="session")
def hf_tokenizer(stories_build):
    """The Hugging Face `tokenizers` library on the same tokenizer.json: the reference tokenizer."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(stories_build["tokenizer"]))


@pytest.fixture(scope="session")
def ort_session(stories_build):
    from llmc_tools.ort_generate import make_session

    return make_session(stories_build["onnx"], threads=1)
