//===- Tokenizer.h - Hugging Face tokenizer.json BPE tokenizer --*- C++ -*-===//
//
// The tokenizer of the llmc runtime. It loads a Hugging Face `tokenizer.json`
// whose model is BPE, either
//   * byte-level BPE (GPT-2 style: pre-tokenizer ByteLevel, possibly preceded
//     by Split/Digits), or
//   * SentencePiece-style BPE (Llama style: normalizer Prepend("▁") +
//     Replace(" ", "▁") or a Metaspace pre-tokenizer, byte fallback),
// and encodes/decodes exactly like the `tokenizers` library does for these
// configurations (see runtime/tokenizer/README.md for the supported subset).
//
// Files written by python/llmc_tools/gguf_tokenizer.py also carry an `llmc`
// object (BOS/EOS ids, chat template) that the HF library ignores.
//
// A Tokenizer is immutable after loading; encode/decode may be called from
// several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef LLMC_RUNTIME_TOKENIZER_TOKENIZER_H
#define LLMC_RUNTIME_TOKENIZER_TOKENIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llmc::rt {

class Tokenizer {
public:
  ~Tokenizer();
  Tokenizer(const Tokenizer &) = delete;
  Tokenizer &operator=(const Tokenizer &) = delete;

  /// Loads a HF tokenizer.json (byte-level BPE or SentencePiece-style BPE with
  /// byte fallback). On failure returns null and sets *error (if non-null) to
  /// a message naming the offending part of the file.
  static std::unique_ptr<Tokenizer> fromJson(std::string_view jsonText,
                                             std::string *error);
  static std::unique_ptr<Tokenizer> fromFile(const std::string &path,
                                             std::string *error);

  /// Encodes UTF-8 text. Added tokens written in the text (e.g.
  /// "<|im_start|>") map to their ids. Bytes that are not valid UTF-8 are
  /// encoded as their byte tokens (byte-level vocabularies or byte fallback),
  /// so decode() gives the input back; a byte or character the vocabulary
  /// cannot represent at all becomes the unk token, or is dropped if there is
  /// none (as in the `tokenizers` library). `addBos` prepends bosId() (if
  /// there is one).
  std::vector<int32_t> encode(std::string_view text, bool addBos) const;

  /// Decodes ids to text like the `tokenizers` library's decoder does
  /// (`decode(ids, skip_special_tokens=skipSpecial)`), except that bytes that
  /// do not form valid UTF-8 are passed through unchanged instead of being
  /// replaced by U+FFFD. Out-of-range ids are ignored.
  std::string decode(const std::vector<int32_t> &ids,
                     bool skipSpecial = false) const;

  /// The raw bytes of one token, for streaming output: byte-level characters
  /// and <0xXX> byte tokens turned back into bytes, "▁" into a space, added
  /// tokens as their content. No leading-space stripping is applied. Empty
  /// for an out-of-range id. A multi-byte UTF-8 character may be split over
  /// several tokens.
  std::string tokenText(int32_t id) const;

  /// Token id of the string in the vocabulary (model vocab or added tokens),
  /// -1 if absent.
  int32_t tokenId(std::string_view token) const;

  int32_t bosId() const; ///< -1 if unknown
  int32_t eosId() const; ///< -1 if unknown
  int32_t vocabSize() const;
  /// Whether the model expects BOS at the start of a prompt (llmc.add_bos_token
  /// or a TemplateProcessing post-processor that starts with BOS).
  bool addBosByDefault() const;
  const std::string &chatTemplate() const; ///< empty if none
  bool isSpecial(int32_t id) const;

  struct Impl;

private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace llmc::rt

#endif // LLMC_RUNTIME_TOKENIZER_TOKENIZER_H
