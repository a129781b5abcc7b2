//===- TextStream.h - detokenized output with stop strings ------*- C++ -*-===//
//
// Accumulates the text of generated tokens, ends it before the first stop
// string, and hands out only text that can no longer change: a suffix that
// could still grow into a stop string, or an incomplete UTF-8 character, is
// held back until the next token decides it.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_TEXTSTREAM_H
#define LLMC_SERVING_TEXTSTREAM_H

#include <string>
#include <vector>

namespace llmc::serving {

class TextStream {
public:
  explicit TextStream(std::vector<std::string> stops = {});

  /// Appends the bytes of one token. Returns true if the text now contains a
  /// stop string; the text is then cut before it and stays cut.
  bool append(const std::string &bytes);
  bool stopped() const { return stopped_; }

  /// Text that is final and not handed out before.
  std::string takeReady();
  /// Everything not handed out yet (at the end of generation).
  std::string takeAll();

  const std::string &text() const { return text_; }

private:
  std::vector<std::string> stops_;
  size_t maxStop_ = 0;
  std::string text_;
  size_t emitted_ = 0;
  bool stopped_ = false;
};

} // namespace llmc::serving

#endif
