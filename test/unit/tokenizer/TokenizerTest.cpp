//===- TokenizerTest.cpp - Unit tests for llmc::rt::Tokenizer -------------===//
//
// Small tokenizers are built here as JSON. The tests on real tokenizers read
// these inputs, from the environment variable if set, else from the path
// compiled in by CMake (the CTest fixture llmc_tokenizer_json generates the
// JSON files, see test/tokenizer/TokenizerFixtures.cmake):
//   LLMC_TOK_SMOLLM2_JSON  tokenizer.json converted from SmolLM2-135M GGUF
//   LLMC_TOK_STORIES_JSON  tokenizer.json converted from stories260K.gguf
//   LLMC_WIKI_TEST_RAW     shared/data/wikitext-2-raw/wiki.test.raw
// A missing input is a test failure, never a skip.
//
//===----------------------------------------------------------------------===//

#include "Regex.h"
#include "Tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

using llmc::rt::Tokenizer;
using nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

const char *kMeta = "\xE2\x96\x81"; // U+2581 "▁"

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

/// The GPT-2 byte-level character of byte b (written independently of the
/// library, from the published definition).
std::string byteChar(int b) {
  std::vector<int> direct;
  for (int c = '!'; c <= '~'; ++c)
    direct.push_back(c);
  for (int c = 0xA1; c <= 0xAC; ++c)
    direct.push_back(c);
  for (int c = 0xAE; c <= 0xFF; ++c)
    direct.push_back(c);
  int extra = 0;
  for (int c = 0; c < 256; ++c) {
    bool isDirect = std::find(direct.begin(), direct.end(), c) != direct.end();
    if (c == b)
      return utf8(isDirect ? c : 256 + extra);
    if (!isDirect)
      ++extra;
  }
  return "";
}

json addedToken(int id, const std::string &content, bool special) {
  return {{"id", id},          {"content", content}, {"single_word", false},
          {"lstrip", false},   {"rstrip", false},    {"normalized", false},
          {"special", special}};
}

/// Byte-level BPE: ids 0..255 are the bytes; a few merges spell "hello",
/// " world" and "ll".
json byteLevelJson() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b)
    vocab[byteChar(b)] = b;
  std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"},   {"l", "l"},     {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"},
      {"o", "r"},   {"Ġw", "or"},   {"l", "d"},   {"Ġwor", "ld"}};
  json jm = json::array();
  int id = 256;
  for (auto &[a, b] : merges) {
    vocab[a + b] = id++;
    jm.push_back({a, b});
  }
  // id 265..267: added tokens
  vocab["<|im_start|>"] = 265;
  vocab["<|im_end|>"] = 266;
  vocab["<tool>"] = 267;
  return {
      {"version", "1.0"},
      {"added_tokens",
       {addedToken(265, "<|im_start|>", true), addedToken(266, "<|im_end|>", true),
        addedToken(267, "<tool>", false)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Digits"}, {"individual_digits", true}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", true},
           {"use_regex", true}}}}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", jm},
        {"llmc",
         {{"bos_token_id", 265},
          {"eos_token_id", 266},
          {"chat_template", "TEMPLATE"}}}}},
  };
}

/// SentencePiece-style BPE (HF Llama form) with byte fallback.
json spmJson(bool byteFallback = true) {
  json vocab = json::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  std::string m = kMeta;
  vocab[m] = 259;
  vocab["a"] = 260;
  vocab["b"] = 261;
  vocab["c"] = 262;
  vocab[m + "a"] = 263;
  vocab["ab"] = 264;
  vocab[m + "ab"] = 265;
  vocab["bc"] = 266;
  json merges = json::array({json::array({m, "a"}), json::array({"a", "b"}),
                             json::array({m + "a", "b"}), json::array({"b", "c"})});
  return {
      {"version", "1.0"},
      {"added_tokens",
       {addedToken(0, "<unk>", true), addedToken(1, "<s>", true),
        addedToken(2, "</s>", true)}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", m}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", m}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", json::array()},
        {"special_tokens",
         {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", m}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", byteFallback},
        {"vocab", vocab},
        {"merges", merges}}},
  };
}

std::unique_ptr<Tokenizer> load(const json &j) {
  std::string err;
  auto tok = Tokenizer::fromJson(j.dump(), &err);
  EXPECT_TRUE(tok) << err;
  return tok;
}

std::string loadError(const std::string &text) {
  std::string err;
  auto tok = Tokenizer::fromJson(text, &err);
  EXPECT_FALSE(tok) << "expected a load failure for: " << text.substr(0, 200);
  EXPECT_FALSE(err.empty());
  return err;
}

const std::vector<std::string> &roundTripSamples() {
  static const std::vector<std::string> samples = {
      "",
      "hello world",
      "Hello, World! 12345 67.8",
      "  leading and trailing spaces  ",
      "tabs\tand\nnew\r\nlines\n\n",
      "caf\xC3\xA9 na\xC3\xAFve \xE2\x84\xA2 \xE4\xB8\xAD\xE6\x96\x87",
      "emoji \xF0\x9F\xA4\x97 and zwj \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9",
      "it's they'll we'D",
      "<|im_start|>user\nhi<|im_end|>",
      "<s>not special here</s>",
      std::string("nul\0byte", 8),
      "invalid \xFF\xFE utf8 \xC3 \xE2\x82 end \xED\xA0\x80 surrogate \xC0\xAF",
      "\x80\x80\x80",
  };
  return samples;
}

#ifndef LLMC_TOK_SMOLLM2_JSON_DEFAULT
#define LLMC_TOK_SMOLLM2_JSON_DEFAULT ""
#endif
#ifndef LLMC_TOK_STORIES_JSON_DEFAULT
#define LLMC_TOK_STORIES_JSON_DEFAULT ""
#endif
#ifndef LLMC_WIKI_TEST_RAW_DEFAULT
#define LLMC_WIKI_TEST_RAW_DEFAULT ""
#endif

std::string envPath(const std::string &var) {
  const char *v = std::getenv(var.c_str());
  std::string path = v && *v ? v : "";
  if (path.empty()) {
    if (var == "LLMC_TOK_SMOLLM2_JSON")
      path = LLMC_TOK_SMOLLM2_JSON_DEFAULT;
    else if (var == "LLMC_TOK_STORIES_JSON")
      path = LLMC_TOK_STORIES_JSON_DEFAULT;
    else if (var == "LLMC_WIKI_TEST_RAW")
      path = LLMC_WIKI_TEST_RAW_DEFAULT;
  }
  if (path.empty()) {
    ADD_FAILURE() << "no path for " << var
                  << ": set the environment variable or build with CMake";
    return "";
  }
  std::ifstream f(path);
  if (!f) {
    ADD_FAILURE() << var << ": '" << path
                  << "' cannot be opened (run the tests through ctest, whose "
                     "fixture llmc_tokenizer_json generates it)";
    return "";
  }
  return path;
}

std::unique_ptr<Tokenizer> loadEnv(const char *var) {
  std::string path = envPath(var);
  if (path.empty())
    return nullptr;
  std::string err;
  auto tok = Tokenizer::fromFile(path, &err);
  EXPECT_TRUE(tok) << err;
  return tok;
}

} // namespace

//===----------------------------------------------------------------------===//
// Byte-level BPE
//===----------------------------------------------------------------------===//

TEST(ByteLevelTokenizer, EncodesWithMerges) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("hello world", false), (Ids{259, 264}));
  // "lll": lowest-rank merge "l l" applies leftmost first.
  EXPECT_EQ(tok->encode("lll", false), (Ids{257, 'l'}));
  // Digits are split one by one, the space before them stays alone.
  EXPECT_EQ(tok->encode("hello 12", false), (Ids{259, ' ', '1', '2'}));
}

TEST(ByteLevelTokenizer, EmptyString) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_TRUE(tok->encode("", false).empty());
  EXPECT_EQ(tok->encode("", true), (Ids{265}));
  EXPECT_EQ(tok->decode({}), "");
}

TEST(ByteLevelTokenizer, SpecialTokens) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("<|im_start|>hello<|im_end|>", false),
            (Ids{265, 259, 266}));
  EXPECT_EQ(tok->encode("hello<tool>", false), (Ids{259, 267}));
  // A prefix of a special token is plain text.
  Ids partial = tok->encode("<|im_star", false);
  EXPECT_EQ(partial.size(), 9u);
  EXPECT_EQ(tok->bosId(), 265);
  EXPECT_EQ(tok->eosId(), 266);
  EXPECT_TRUE(tok->isSpecial(265));
  EXPECT_TRUE(tok->isSpecial(266));
  EXPECT_FALSE(tok->isSpecial(267)); // added but not special
  EXPECT_FALSE(tok->isSpecial(0));
  EXPECT_FALSE(tok->isSpecial(-1));
  EXPECT_FALSE(tok->isSpecial(100000));
  EXPECT_EQ(tok->vocabSize(), 268);
  EXPECT_EQ(tok->chatTemplate(), "TEMPLATE");
  EXPECT_EQ(tok->decode({265, 259, 266}), "<|im_start|>hello<|im_end|>");
  EXPECT_EQ(tok->decode({265, 259, 266, 267}, /*skipSpecial=*/true), "hello<tool>");
}

TEST(ByteLevelTokenizer, TokenText) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->tokenText(264), " world");
  EXPECT_EQ(tok->tokenText(265), "<|im_start|>");
  EXPECT_EQ(tok->tokenText(0x0A), "\n");
  EXPECT_EQ(tok->tokenText(0xFF), "\xFF");
  EXPECT_EQ(tok->tokenText(-1), "");
  EXPECT_EQ(tok->tokenText(268), "");
  EXPECT_EQ(tok->tokenId("Ġworld"), 264);
  EXPECT_EQ(tok->tokenId("<tool>"), 267);
  EXPECT_EQ(tok->tokenId("nope"), -1);
}

TEST(ByteLevelTokenizer, RoundTrip) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  for (const std::string &s : roundTripSamples())
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s) << "text: " << s;
}

TEST(ByteLevelTokenizer, InvalidUtf8BecomesByteTokens) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("\xFF", false), (Ids{0xFF}));
  EXPECT_EQ(tok->encode("\xC3", false), (Ids{0xC3}));
  EXPECT_EQ(tok->encode("a\xFFhello", false), (Ids{'a', 0xFF, 259}));
  // Streaming: the bytes of a split character concatenate back.
  Ids ids = tok->encode("\xE4\xB8\xAD", false);
  std::string s;
  for (int32_t id : ids)
    s += tok->tokenText(id);
  EXPECT_EQ(s, "\xE4\xB8\xAD");
}

TEST(ByteLevelTokenizer, DecodeIgnoresOutOfRangeIds) {
  auto tok = load(byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->decode({-5, 259, 100000}), "hello");
}

//===----------------------------------------------------------------------===//
// SentencePiece-style BPE
//===----------------------------------------------------------------------===//

TEST(SpmTokenizer, EncodesLikeSentencePiece) {
  auto tok = load(spmJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("ab", false), (Ids{265}));
  EXPECT_EQ(tok->encode("abc", false), (Ids{265, 262}));
  EXPECT_EQ(tok->encode("a b", false), (Ids{263, 259, 261}));
  EXPECT_EQ(tok->encode("ab", true), (Ids{1, 265}));
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_TRUE(tok->addBosByDefault());
  EXPECT_TRUE(tok->chatTemplate().empty());
  EXPECT_EQ(tok->vocabSize(), 267);
}

TEST(SpmTokenizer, EmptyString) {
  auto tok = load(spmJson());
  ASSERT_TRUE(tok);
  EXPECT_TRUE(tok->encode("", false).empty());
  EXPECT_EQ(tok->encode("", true), (Ids{1}));
}

TEST(SpmTokenizer, ByteFallback) {
  auto tok = load(spmJson());
  ASSERT_TRUE(tok);
  // "é" is not in the vocabulary: its UTF-8 bytes C3 A9.
  EXPECT_EQ(tok->encode("\xC3\xA9", false), (Ids{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok->decode({259, 3 + 0xC3, 3 + 0xA9}), "\xC3\xA9");
  EXPECT_EQ(tok->tokenText(3 + 0x41), "A");
  EXPECT_EQ(tok->tokenText(263), " a");
  EXPECT_EQ(tok->tokenText(1), "<s>");
}

TEST(SpmTokenizer, UnknownWithoutByteFallback) {
  auto tok = load(spmJson(/*byteFallback=*/false));
  ASSERT_TRUE(tok);
  // Consecutive unknown characters fuse into one <unk>.
  EXPECT_EQ(tok->encode("a\xC3\xA9\xC3\xA9", false), (Ids{263, 0}));
  EXPECT_EQ(tok->encode("\xC3\xA9" "a", false), (Ids{259, 0, 260}));
}

TEST(SpmTokenizer, SpecialTokensAndDecode) {
  auto tok = load(spmJson());
  ASSERT_TRUE(tok);
  // Every text segment between added tokens gets the "▁" prefix.
  EXPECT_EQ(tok->encode("a</s>b", false), (Ids{263, 2, 259, 261}));
  EXPECT_EQ(tok->decode({1, 265, 262}), "<s> abc");
  EXPECT_EQ(tok->decode({1, 265, 262}, /*skipSpecial=*/true), "abc");
  EXPECT_EQ(tok->decode({265, 259, 261}), "ab b");
}

TEST(SpmTokenizer, RoundTrip) {
  auto tok = load(spmJson());
  ASSERT_TRUE(tok);
  for (const std::string &s : roundTripSamples()) {
    if (s.find("<s>") != std::string::npos || s.find("</s>") != std::string::npos)
      continue; // decode puts a space after "<s>"/"</s>" segments (as HF does)
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s) << "text: " << s;
  }
}

TEST(SpmTokenizer, InvalidUtf8) {
  auto tok = load(spmJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("\xFF", false), (Ids{259, 3 + 0xFF}));
  EXPECT_EQ(tok->encode("a\xE2\x82", false), (Ids{263, 3 + 0xE2, 3 + 0x82}));
  EXPECT_EQ(tok->decode(tok->encode("\xFF\xFE", false)), "\xFF\xFE");
}

//===----------------------------------------------------------------------===//
// Loading errors
//===----------------------------------------------------------------------===//

TEST(TokenizerErrors, MalformedJson) {
  EXPECT_NE(loadError("{").find("invalid JSON"), std::string::npos);
  EXPECT_NE(loadError("").find("invalid JSON"), std::string::npos);
  EXPECT_NE(loadError("{\"model\": }").find("invalid JSON"), std::string::npos);
  EXPECT_NE(loadError("[]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(loadError("{}").find("missing 'model'"), std::string::npos);
}

TEST(TokenizerErrors, UnsupportedParts) {
  json j = byteLevelJson();
  j["model"]["type"] = "WordPiece";
  EXPECT_NE(loadError(j.dump()).find("unsupported model type 'WordPiece'"),
            std::string::npos);

  j = byteLevelJson();
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_NE(loadError(j.dump()).find("unsupported normalizer type 'NFKC'"),
            std::string::npos);

  j = byteLevelJson();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_NE(loadError(j.dump()).find("pre_tokenizer: unsupported pre-tokenizer type"),
            std::string::npos);

  j = byteLevelJson();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_NE(loadError(j.dump()).find("unsupported decoder type 'WordPiece'"),
            std::string::npos);
}

TEST(TokenizerErrors, BadModelContents) {
  json j = byteLevelJson();
  j["model"]["merges"][0] = {"h", "zz"};
  std::string err = loadError(j.dump());
  EXPECT_NE(err.find("model.merges[0]"), std::string::npos) << err;
  EXPECT_NE(err.find("'zz' is not in the vocabulary"), std::string::npos) << err;

  j = byteLevelJson();
  j["model"]["vocab"]["x"] = "seven";
  err = loadError(j.dump());
  EXPECT_NE(err.find("model.vocab"), std::string::npos) << err;

  j = byteLevelJson();
  j["model"].erase("vocab");
  err = loadError(j.dump());
  EXPECT_NE(err.find("model: missing 'vocab'"), std::string::npos) << err;

  j = byteLevelJson();
  j["model"]["merges"] = "nope";
  err = loadError(j.dump());
  EXPECT_NE(err.find("model.merges: expected array, got string"),
            std::string::npos)
      << err;

  j = byteLevelJson();
  j["added_tokens"][0]["content"] = 5;
  err = loadError(j.dump());
  EXPECT_NE(err.find("added_tokens[0].content"), std::string::npos) << err;

  j = byteLevelJson();
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  err = loadError(j.dump());
  EXPECT_NE(err.find("invalid regex"), std::string::npos) << err;
}

TEST(TokenizerErrors, FileErrors) {
  std::string err;
  EXPECT_FALSE(Tokenizer::fromFile("/nonexistent/tokenizer.json", &err));
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
  // A null error pointer is allowed.
  EXPECT_FALSE(Tokenizer::fromJson("{", nullptr));
}

//===----------------------------------------------------------------------===//
// Pre-tokenizer regex
//===----------------------------------------------------------------------===//

TEST(TokenizerRegex, WhitespaceRewrite) {
  EXPECT_EQ(llmc::rt::Regex::rewriteWhitespaceClasses("a\\sb").find("\\s"),
            std::string::npos);
  std::string err;
  auto re = llmc::rt::Regex::compile("\\s+", &err);
  ASSERT_TRUE(re) << err;
  std::vector<std::pair<size_t, size_t>> m;
  // U+180E is not White_Space; U+0085 and U+3000 are.
  re->findAll("a\xE1\xA0\x8E" "b\xC2\x85" "c\xE3\x80\x80", m);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], (std::pair<size_t, size_t>{5, 7}));
  EXPECT_EQ(m[1], (std::pair<size_t, size_t>{8, 11}));
  // Invalid bytes are never matched, the rest still is.
  m.clear();
  re->findAll(" \xFF ", m);
  EXPECT_EQ(m.size(), 2u);
}

//===----------------------------------------------------------------------===//
// Real tokenizers converted from GGUF
//===----------------------------------------------------------------------===//

TEST(SmolLM2Tokenizer, KnownIds) {
  auto tok = loadEnv("LLMC_TOK_SMOLLM2_JSON");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 49152);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_FALSE(tok->addBosByDefault());
  EXPECT_NE(tok->chatTemplate().find("<|im_start|>"), std::string::npos);
  EXPECT_TRUE(tok->isSpecial(0));
  EXPECT_TRUE(tok->isSpecial(16));
  EXPECT_FALSE(tok->isSpecial(17));
  // Reference ids from the Hugging Face `tokenizers` library.
  EXPECT_EQ(tok->encode("Hello world", false), (Ids{19556, 905}));
  EXPECT_EQ(tok->encode("<|im_start|>user\nWhat is 2+2?<|im_end|>\n", false),
            (Ids{1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198}));
  EXPECT_EQ(tok->encode("Once upon a time, there was a little girl named Lily.",
                        false),
            (Ids{6403, 1980, 253, 655, 28, 665, 436, 253, 1838, 8180, 3365,
                 14176, 30}));
  EXPECT_EQ(tok->encode(" \n = Robert Boulter = \n", false),
            (Ids{3717, 446, 6356, 389, 9226, 352, 446, 3717}));
  EXPECT_EQ(tok->tokenText(905), " world");
  EXPECT_EQ(tok->tokenText(2), "<|im_end|>");
  for (const std::string &s : roundTripSamples()) {
    if (s.find('\xFF') != std::string::npos)
      continue; // see below
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s) << "text: " << s;
  }
  // This vocabulary has no token for the bytes C0, C1, F5..FF (and a few
  // control characters): like HF, such bytes are dropped.
  EXPECT_EQ(tok->decode(tok->encode("a\xFF" "b\xC3", false)), "ab\xC3");
}

TEST(Stories260KTokenizer, KnownIds) {
  auto tok = loadEnv("LLMC_TOK_STORIES_JSON");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 512);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_TRUE(tok->addBosByDefault());
  EXPECT_TRUE(tok->isSpecial(1));
  EXPECT_FALSE(tok->isSpecial(3)); // <0x00> is a byte token, not special
  // Reference ids from the Hugging Face `tokenizers` library / sentencepiece.
  EXPECT_EQ(tok->encode("Hello world", false),
            (Ids{346, 306, 414, 263, 304, 341}));
  EXPECT_EQ(tok->encode("Once upon a time, there was a little girl named Lily.",
                        true),
            (Ids{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                 395, 317, 426}));
  EXPECT_EQ(tok->decode({1, 403, 407, 261, 378}, true), "Once upon a time");
  EXPECT_EQ(tok->tokenText(403), " Once");
  for (const std::string &s : roundTripSamples()) {
    if (s.find("<s>") != std::string::npos)
      continue;
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s) << "text: " << s;
  }
}

TEST(SmolLM2Tokenizer, WikiTestSpeedAndCount) {
  auto tok = loadEnv("LLMC_TOK_SMOLLM2_JSON");
  std::string wikiPath = envPath("LLMC_WIKI_TEST_RAW");
  ASSERT_TRUE(tok);
  ASSERT_FALSE(wikiPath.empty());
  std::ifstream in(wikiPath, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  ASSERT_EQ(text.size(), 1290590u);
  auto t0 = std::chrono::steady_clock::now();
  Ids ids = tok->encode(text, false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                    .count();
  // Count from the HF `tokenizers` library (test/tokenizer/compare_with_hf.py
  // checks every id).
  EXPECT_EQ(ids.size(), 303415u);
  EXPECT_LT(secs, 10.0); // ~0.1-0.4 s in a release build; guards against blow-ups
  EXPECT_EQ(tok->decode(ids), text);
  std::cout << "[ info ] encoded wiki.test.raw in " << secs << " s\n";
}

TEST(Stories260KTokenizer, WikiTestCount) {
  auto tok = loadEnv("LLMC_TOK_STORIES_JSON");
  std::string wikiPath = envPath("LLMC_WIKI_TEST_RAW");
  ASSERT_TRUE(tok);
  ASSERT_FALSE(wikiPath.empty());
  std::ifstream in(wikiPath, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  auto t0 = std::chrono::steady_clock::now();
  Ids ids = tok->encode(text, false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                    .count();
  EXPECT_EQ(ids.size(), 809289u);
  EXPECT_LT(secs, 10.0); // ~0.1-0.4 s in a release build; guards against blow-ups
  EXPECT_EQ(tok->decode(ids), text);
}

TEST(SmolLM2Tokenizer, ConcurrentEncode) {
  auto tok = loadEnv("LLMC_TOK_SMOLLM2_JSON");
  ASSERT_TRUE(tok);
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "The quick brown fox " + std::to_string(i * 7919) + " jumps. ";
  Ids expected = tok->encode(text, false);
  Ids a, b;
  std::thread t1([&] { a = tok->encode(text, false); });
  std::thread t2([&] { b = tok->encode(text, false); });
  t1.join();
  t2.join();
  EXPECT_EQ(a, expected);
  EXPECT_EQ(b, expected);
}
