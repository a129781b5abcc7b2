//===- Regex.cpp - PCRE2 wrapper for pre-tokenizer patterns ---------------===//

#include "Regex.h"

#include "Utf8.h"

#include <cstdio>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace llmc::rt {

namespace {

// Unicode White_Space, as a character-class body.
constexpr const char *kWhiteSpaceBody =
    "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}"
    "\\x{2029}\\x{202f}\\x{205f}\\x{3000}";

// Per-thread PCRE2 match resources (match data for one pair, a JIT stack big
// enough for long whitespace runs).
struct MatchResources {
  pcre2_match_data *data = nullptr;
  pcre2_match_context *context = nullptr;
  pcre2_jit_stack *jitStack = nullptr;
  MatchResources() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jitStack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && jitStack)
      pcre2_jit_stack_assign(context, nullptr, jitStack);
  }
  ~MatchResources() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jitStack);
  }
};

MatchResources &resources() {
  thread_local MatchResources r;
  return r;
}

} // namespace

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code *>(code_)); }

std::string Regex::rewriteWhitespaceClasses(const std::string &p) {
  std::string out;
  out.reserve(p.size() + 64);
  bool inClass = false;
  size_t classStart = 0; // index in p just after '[' or '[^'
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      if (e == 's') {
        if (inClass)
          out += kWhiteSpaceBody;
        else
          out += std::string("[") + kWhiteSpaceBody + "]";
        ++i;
        continue;
      }
      if (e == 'S' && !inClass) {
        out += std::string("[^") + kWhiteSpaceBody + "]";
        ++i;
        continue;
      }
      if (e == 'Q') { // \Q...\E: copy verbatim
        size_t end = p.find("\\E", i + 2);
        size_t stop = end == std::string::npos ? p.size() : end + 2;
        out.append(p, i, stop - i);
        i = stop - 1;
        continue;
      }
      out += c;
      out += e;
      ++i;
      continue;
    }
    if (!inClass) {
      if (c == '[') {
        inClass = true;
        out += c;
        if (i + 1 < p.size() && p[i + 1] == '^') {
          out += '^';
          ++i;
        }
        classStart = i + 1;
        continue;
      }
      out += c;
      continue;
    }
    // Inside a class.
    if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') { // [:alpha:]
      size_t end = p.find(":]", i + 2);
      if (end != std::string::npos) {
        out.append(p, i, end + 2 - i);
        i = end + 1;
        continue;
      }
    }
    if (c == ']' && i != classStart)
      inClass = false;
    out += c;
  }
  return out;
}

std::unique_ptr<Regex> Regex::compile(const std::string &pattern,
                                      std::string *error) {
  std::unique_ptr<Regex> re(new Regex());
  re->pattern_ = rewriteWhitespaceClasses(pattern);
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code *code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(re->pattern_.data()), re->pattern_.size(),
      PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nullptr);
  if (!code) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(errorCode, buffer, sizeof(buffer));
    if (error)
      *error = "invalid regex '" + pattern + "': " +
               reinterpret_cast<const char *>(buffer) + " (at offset " +
               std::to_string(errorOffset) + ")";
    return nullptr;
  }
  re->code_ = code;
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return re;
}

std::unique_ptr<Regex> Regex::literal(const std::string &text,
                                      std::string *error) {
  std::string pattern;
  for (size_t i = 0; i < text.size();) {
    size_t len = utf8::charLen(text, i);
    if (len == 1 && !((text[i] >= '0' && text[i] <= '9') ||
                      (text[i] >= 'a' && text[i] <= 'z') ||
                      (text[i] >= 'A' && text[i] <= 'Z') ||
                      static_cast<unsigned char>(text[i]) >= 0x80)) {
      char buf[16];
      snprintf(buf, sizeof(buf), "\\x{%x}",
               static_cast<unsigned>(static_cast<unsigned char>(text[i])));
      pattern += buf;
    } else {
      pattern.append(text, i, len);
    }
    i += len;
  }
  return compile(pattern, error);
}

void Regex::findAll(std::string_view subject,
                    std::vector<std::pair<size_t, size_t>> &out) const {
  size_t i = 0, n = subject.size();
  while (i < n) {
    // Maximal valid UTF-8 stretch starting at i.
    size_t j = i;
    uint32_t cp;
    while (j < n) {
      size_t len = utf8::decode(subject, j, &cp);
      if (!len)
        break;
      j += len;
    }
    if (j > i)
      findAllValid(subject.substr(i, j - i), i, out);
    // Skip the invalid byte(s).
    i = j;
    while (i < n && utf8::decode(subject, i, &cp) == 0)
      ++i;
  }
}

void Regex::findAllValid(std::string_view subject, size_t base,
                         std::vector<std::pair<size_t, size_t>> &out) const {
  MatchResources &r = resources();
  auto *code = static_cast<pcre2_code *>(code_);
  const auto *s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t n = subject.size(), pos = 0;
  while (pos < n) {
    int rc = jit_ ? pcre2_jit_match(code, s, n, pos, PCRE2_NO_UTF_CHECK, r.data,
                                    r.context)
                  : pcre2_match(code, s, n, pos, PCRE2_NO_UTF_CHECK, r.data,
                                r.context);
    if (rc < 0) // no match (or a resource error: treat the rest as unmatched)
      return;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r.data);
    size_t start = ov[0], end = ov[1];
    if (end > start) {
      out.emplace_back(base + start, base + end);
      pos = end;
    } else {
      // Empty match: move on by one character.
      pos = start + utf8::charLen(subject, start);
    }
  }
}

} // namespace llmc::rt
