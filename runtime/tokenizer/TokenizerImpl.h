//===- TokenizerImpl.h - Internal state of llmc::rt::Tokenizer ---*- C++ -*-===//
//
// Internal to llmc_tokenizer: the loaded tokenizer.json (normalizers,
// pre-tokenizers, BPE model, added tokens, decoders).
//
//===----------------------------------------------------------------------===//

#ifndef LLMC_RUNTIME_TOKENIZER_TOKENIZERIMPL_H
#define LLMC_RUNTIME_TOKENIZER_TOKENIZERIMPL_H

#include "Regex.h"
#include "Tokenizer.h"

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llmc::rt {

/// How a split keeps the pieces a pattern matched (HF SplitDelimiterBehavior).
enum class SplitBehavior {
  Removed,
  Isolated,
  MergedWithPrevious,
  MergedWithNext,
  Contiguous
};

enum class PrependScheme { Always, First, Never };

struct NormalizerOp {
  enum Kind { Prepend, Replace, Strip } kind;
  explicit NormalizerOp(Kind k) : kind(k) {}
  std::string text;             // Prepend: prefix; Replace: literal pattern
  std::string content;          // Replace: replacement
  std::unique_ptr<Regex> regex; // Replace with a Regex pattern
  bool left = false, right = false; // Strip
};

struct PreTokenizerOp {
  enum Kind { Split, ByteLevel, Metaspace } kind;
  explicit PreTokenizerOp(Kind k) : kind(k) {}
  std::unique_ptr<Regex> regex; // Split / ByteLevel(use_regex)
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool addPrefixSpace = false;      // ByteLevel
  std::string replacement;          // Metaspace
  PrependScheme prependScheme = PrependScheme::Always;
  bool split = true;                // Metaspace
};

struct DecoderOp {
  enum Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind;
  explicit DecoderOp(Kind k) : kind(k) {}
  std::string pattern, content;     // Replace
  uint32_t stripChar = ' ';         // Strip
  size_t start = 0, stop = 0;       // Strip
  std::string replacement;          // Metaspace
  PrependScheme prependScheme = PrependScheme::Always;
};

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, singleWord = false,
       normalized = true;
};

/// Byte trie over added-token contents, for leftmost-longest matching.
class TokenTrie {
public:
  void insert(std::string_view s, int32_t value);
  bool empty() const { return nodes_.size() == 1; }
  bool mayStartWith(unsigned char c) const { return first_[c]; }
  /// Longest entry that is a prefix of text[pos..]: {length, value} or {0,-1}.
  std::pair<size_t, int32_t> longest(std::string_view text, size_t pos) const;

private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;
    int32_t value = -1;
  };
  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_{};
};

/// A pre-token: a piece of (normalized) text and whether it starts at offset
/// 0 of the original input (for Metaspace prepend_scheme "first").
struct Piece {
  std::string text;
  bool atOrigin = false;
};

struct Tokenizer::Impl {
  // --- BPE model -------------------------------------------------------
  std::vector<std::string> idToToken; // vocabulary form; empty for holes
  std::unordered_map<std::string_view, int32_t> vocab; // views into idToToken
  // (left id << 32 | right id) -> {rank, merged id}
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;
  bool byteLevel = false;                 // pre-tokenizer has ByteLevel
  std::array<int32_t, 256> byteLevelIds{}; // byte -> id of its byte-level char
  bool byteFallback = false;
  std::array<int32_t, 256> byteTokenIds{}; // byte -> id of "<0xXX>"
  int32_t unkId = -1;
  bool fuseUnk = false;
  bool ignoreMerges = false;

  // --- added tokens ----------------------------------------------------
  std::vector<AddedToken> added;
  std::unordered_map<std::string_view, int32_t> addedByContent; // -> id
  TokenTrie rawTrie;  // index into `added`, tokens with normalized=false
  TokenTrie normTrie; // tokens with normalized=true
  std::vector<uint8_t> special;     // per id
  std::vector<int32_t> addedIndex;  // per id: index into `added` or -1

  // --- pipeline --------------------------------------------------------
  std::vector<NormalizerOp> normalizers;
  std::vector<PreTokenizerOp> preTokenizers;
  bool hasDecoder = false;
  std::vector<DecoderOp> decoders;

  std::vector<std::string> tokenTexts; // per id, raw bytes
  int32_t vocabSize = 0;
  int32_t bos = -1, eos = -1;
  bool addBos = false;
  std::string chatTemplate;

  // --- word cache ------------------------------------------------------
  mutable std::mutex cacheMutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  // Loading (TokenizerLoad.cpp); throws std::runtime_error.
  void load(std::string_view jsonText);
  void finish();

  // Encoding (Tokenizer.cpp).
  void encodeSegment(std::string_view text, bool atOrigin,
                     std::vector<int32_t> &out) const;
  void normalize(std::string &s) const;
  void preTokenize(std::vector<Piece> &pieces) const;
  void encodeWord(std::string_view word, std::vector<int32_t> &out) const;
  void bpe(std::string_view word, std::vector<int32_t> &out) const;
  std::string decodeTokens(std::vector<std::string> tokens) const;
  std::string singleTokenText(int32_t id) const;
};

/// GPT-2 byte-level alphabet: the code point that stands for byte b.
uint32_t byteToCodePoint(unsigned char b);
/// Inverse of byteToCodePoint; -1 if cp is not in the alphabet.
int byteFromCodePoint(uint32_t cp);

} // namespace llmc::rt

#endif // LLMC_RUNTIME_TOKENIZER_TOKENIZERIMPL_H
