//===- Regex.h - PCRE2 wrapper for pre-tokenizer patterns --------*- C++ -*-===//
//
// Internal to llmc_tokenizer. Compiles patterns in UTF + UCP mode (so \p{L},
// \p{N} work on Unicode) with JIT, and rewrites \s / \S to the Unicode
// White_Space set (what the Oniguruma engine of the `tokenizers` library
// uses; PCRE2's own \s also matches U+180E). A \S inside a character class
// keeps PCRE2's meaning.
//
//===----------------------------------------------------------------------===//

#ifndef LLMC_RUNTIME_TOKENIZER_REGEX_H
#define LLMC_RUNTIME_TOKENIZER_REGEX_H

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmc::rt {

class Regex {
public:
  ~Regex();
  Regex(const Regex &) = delete;
  Regex &operator=(const Regex &) = delete;

  /// Compiles `pattern`; on failure returns null and sets *error.
  static std::unique_ptr<Regex> compile(const std::string &pattern,
                                        std::string *error);
  /// Regex matching the literal string `text`.
  static std::unique_ptr<Regex> literal(const std::string &text,
                                        std::string *error);

  /// Appends the [start, end) byte ranges of all non-overlapping, non-empty
  /// matches in `subject`, left to right. Bytes that are not valid UTF-8 are
  /// never part of a match (matching runs on each valid stretch separately).
  void findAll(std::string_view subject,
               std::vector<std::pair<size_t, size_t>> &out) const;

  /// The pattern after the \s rewrite (for diagnostics and tests).
  const std::string &effectivePattern() const { return pattern_; }

  /// Rewrites \s and \S (outside character classes) and \s (inside them).
  static std::string rewriteWhitespaceClasses(const std::string &pattern);

private:
  Regex() = default;
  void findAllValid(std::string_view subject, size_t base,
                    std::vector<std::pair<size_t, size_t>> &out) const;

  std::string pattern_;
  void *code_ = nullptr; // pcre2_code_8*
  bool jit_ = false;
};

} // namespace llmc::rt

#endif // LLMC_RUNTIME_TOKENIZER_REGEX_H
