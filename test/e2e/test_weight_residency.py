"""LLMC_WEIGHTS: where a compiled library's weights live once it is opened
(runtime/support/WeightResidency.h). Every placement must give the same
logits and the reference story; `private` must leave (almost) none of the
library's read-only data mapped from the file; a bad value is refused with
a message. The default is `private`."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import _env, assert_clean_failure, export_stories

# Runs in a child process (the placement is applied once per process): opens
# the library, scores fixed tokens, and reports how much of the library's
# read-only data is still mapped from its file.
PROBE = r"""
import json, os, sys
from llmc_tools.runtime import Library
path = os.path.realpath(sys.argv[1])
lib = Library(path)
s = lib.session(32)
logits = s.append([1, 300, 42, 7, 99])
file_ro = 0
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) >= 6 and f[5] == path and f[1] == "r--p":
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        file_ro += hi - lo
print(json.dumps({"logits": [float(x) for x in logits], "file_ro_bytes": file_ro}))
"""


@pytest.fixture(scope="module")
def stories_so(llmc, stories_gguf, tmp_path_factory):
    d, onnx_path = export_stories(tmp_path_factory, llmc, stories_gguf, "residency")
    return llmc.compile(onnx_path, d / "stories.so", "--tokenizer", d / "tokenizer.json")


def probe(so, placement):
    env = _env()
    env["LLMC_WEIGHTS"] = placement
    r = subprocess.run([sys.executable, "-c", PROBE, str(so)], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, f"LLMC_WEIGHTS={placement}:\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_placements_give_the_same_logits_and_private_drops_the_file_pages(stories_so):
    mapped = probe(stories_so, "mapped")
    default = probe(stories_so, "")
    locked = probe(stories_so, "locked")
    private = probe(stories_so, "private")
    ref = np.array(mapped["logits"])
    assert ref.size > 100 and np.isfinite(ref).all()
    for name, got in (("default", default), ("locked", locked), ("private", private)):
        np.testing.assert_array_equal(np.array(got["logits"]), ref, err_msg=name)
    # stories260K's weights are ~1 MB of read-only data.
    print(f"file-backed read-only bytes: mapped {mapped['file_ro_bytes']}, "
          f"private {private['file_ro_bytes']}")
    assert mapped["file_ro_bytes"] > 900_000
    # What stays file-backed: pages a segment shares with its neighbours' ends.
    assert private["file_ro_bytes"] <= 8 * 4096, private["file_ro_bytes"]
    assert default["file_ro_bytes"] == private["file_ro_bytes"], "private is the default"


@pytest.mark.parametrize("placement", ["private", "locked"])
def test_generation_follows_the_reference_story(llmc, stories_so, stories_reference_text, placement):
    env = dict(os.environ, LLMC_WEIGHTS=placement)
    r = subprocess.run([str(llmc.binary), "run", str(stories_so), "--prompt", "Once upon a time",
                        "--bos", "-n", "30"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    text = "Once upon a time" + r.stdout.rstrip("\n")
    assert stories_reference_text.startswith(text), text


def test_unknown_placement_is_refused(llmc, stories_so):
    env = dict(os.environ, LLMC_WEIGHTS="hugepages")
    r = subprocess.run([str(llmc.binary), "run", str(stories_so), "--prompt", "Once", "-n", "3"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert_clean_failure(r, "LLMC_WEIGHTS=hugepages", "expected mapped, locked or private")
