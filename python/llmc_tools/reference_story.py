"""The stories260K reference story recorded in shared/DATA.md.

DATA.md quotes the 200-token greedy generation from BOS (llama2.c `run.c`,
`-n 200`) in an indented code block after the words "reference output";
both the exporter tests and the compiled-model tests compare against it.
"""
from __future__ import annotations

import re
from pathlib import Path


def read_reference_story(data_md: Path) -> str:
    text = Path(data_md).read_text(encoding="utf-8")
    m = re.search(r"reference output.*?```\n(.*?)\n\s*```", text, re.S)
    assert m, "reference story block not found in DATA.md"
    lines = m.group(1).split("\n")
    indent = min(len(l) - len(l.lstrip(" ")) for l in lines if l.strip())
    story = "\n".join(l[indent:] for l in lines)
    assert story.startswith("Once upon a time") and story.endswith("so she")
    return story
