//===- TextStream.cpp - detokenized output with stop strings --------------===//
#include "TextStream.h"

#include <algorithm>

using namespace llmc::serving;

TextStream::TextStream(std::vector<std::string> stops) {
  for (auto &s : stops)
    if (!s.empty()) { // an empty stop string would match everywhere: ignored
      maxStop_ = std::max(maxStop_, s.size());
      stops_.push_back(std::move(s));
    }
}

bool TextStream::append(const std::string &bytes) {
  if (stopped_)
    return true;
  size_t old = text_.size();
  text_ += bytes;
  // A new match must end inside the new bytes, so it starts at most
  // maxStop_ - 1 bytes before them.
  size_t from = old >= maxStop_ ? old - maxStop_ + 1 : 0;
  size_t best = std::string::npos;
  for (const auto &s : stops_)
    best = std::min(best, text_.find(s, from));
  if (best == std::string::npos)
    return false;
  text_.resize(std::max(best, emitted_)); // emitted text never overlaps a stop string
  stopped_ = true;
  return true;
}

namespace {
// Length of a UTF-8 sequence from its lead byte (0 for a continuation byte).
size_t utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}
} // namespace

std::string TextStream::takeReady() {
  size_t end = text_.size();
  if (!stopped_) {
    // Hold back the longest suffix that is a proper prefix of a stop string.
    size_t hold = 0;
    for (const auto &s : stops_)
      for (size_t k = std::min(s.size() - 1, end - emitted_); k > hold; --k)
        if (text_.compare(end - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
    end -= hold;
    // Hold back an incomplete UTF-8 character at the end (at most 3 bytes).
    for (size_t back = 1; back <= 3 && back <= end - emitted_; ++back) {
      size_t len = utf8Length((unsigned char)text_[end - back]);
      if (len == 0)
        continue; // continuation byte: keep looking for the lead byte
      if (len > back)
        end -= back;
      break;
    }
  }
  std::string out = text_.substr(emitted_, end - emitted_);
  emitted_ = end;
  return out;
}

std::string TextStream::takeAll() {
  std::string out = text_.substr(emitted_);
  emitted_ = text_.size();
  return out;
}
