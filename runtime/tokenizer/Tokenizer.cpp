//===- Tokenizer.cpp - BPE encode/decode ----------------------------------===//
//
// Encoding follows the `tokenizers` library pipeline:
//   1. split out added tokens (leftmost-longest, on the raw text),
//   2. normalize each remaining segment,
//   3. split out normalized added tokens,
//   4. pre-tokenize into words,
//   5. BPE each word: start from characters (bytes for byte-level models,
//      with byte fallback / unk for unknown characters), then repeatedly
//      apply the lowest-ranked merge, leftmost first, using a priority queue.
// Words are cached.
//
//===----------------------------------------------------------------------===//

#include "Tokenizer.h"
#include "TokenizerImpl.h"
#include "Utf8.h"

#include <algorithm>
#include <fstream>
#include <queue>
#include <sstream>
#include <stdexcept>

namespace llmc::rt {

//===----------------------------------------------------------------------===//
// TokenTrie
//===----------------------------------------------------------------------===//

void TokenTrie::insert(std::string_view s, int32_t value) {
  size_t node = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    int32_t nextNode = -1;
    for (auto &[k, v] : nodes_[node].next)
      if (k == c)
        nextNode = v;
    if (nextNode < 0) {
      nextNode = static_cast<int32_t>(nodes_.size());
      nodes_[node].next.emplace_back(c, nextNode);
      nodes_.emplace_back();
    }
    node = static_cast<size_t>(nextNode);
  }
  if (nodes_[node].value < 0) // first registration of a content wins
    nodes_[node].value = value;
  if (!s.empty())
    first_[static_cast<unsigned char>(s[0])] = true;
}

std::pair<size_t, int32_t> TokenTrie::longest(std::string_view text,
                                              size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  size_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    int32_t nextNode = -1;
    for (auto &[k, v] : nodes_[node].next)
      if (k == c) {
        nextNode = v;
        break;
      }
    if (nextNode < 0)
      break;
    node = static_cast<size_t>(nextNode);
    if (nodes_[node].value >= 0)
      best = {i + 1 - pos, nodes_[node].value};
  }
  return best;
}

namespace {

struct Segment {
  size_t begin, end;
  int32_t id; // added token id, or -1 for text
};

bool isWordChar(uint32_t cp) {
  // Approximation of Rust's char::is_alphanumeric() || '_' : ASCII
  // alphanumerics, '_' and every non-ASCII non-whitespace character.
  return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
         (cp >= 'A' && cp <= 'Z') || cp == '_' ||
         (cp >= 0x80 && !utf8::isWhitespace(cp));
}

/// Code point of the character that ends at `end` (end > 0).
uint32_t charBefore(std::string_view s, size_t end, size_t *start) {
  size_t b = end - 1;
  while (b > 0 && end - b < 4 &&
         (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80)
    --b;
  uint32_t cp;
  size_t len = utf8::decode(s, b, &cp);
  if (len != end - b) { // not a valid character: a lone byte
    *start = end - 1;
    return 0xFFFD;
  }
  *start = b;
  return cp;
}

/// Splits `text` around the added tokens of `trie` (HF AddedVocabulary).
void splitAdded(std::string_view text, const TokenTrie &trie,
                const std::vector<AddedToken> &added,
                std::vector<Segment> &segs) {
  size_t segStart = 0, i = 0, n = text.size();
  while (i < n) {
    if (!trie.mayStartWith(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    auto [len, index] = trie.longest(text, i);
    if (!len) {
      ++i;
      continue;
    }
    const AddedToken &tok = added[index];
    size_t ms = i, me = i + len;
    if (tok.singleWord) {
      uint32_t cp;
      size_t prevStart;
      bool okBefore = ms == 0 || !isWordChar(charBefore(text, ms, &prevStart));
      bool okAfter = me == n || !utf8::decode(text, me, &cp) || !isWordChar(cp);
      if (!okBefore || !okAfter) {
        ++i;
        continue;
      }
    }
    if (tok.lstrip) {
      while (ms > segStart) {
        size_t prevStart;
        uint32_t cp = charBefore(text, ms, &prevStart);
        if (prevStart < segStart || !utf8::isWhitespace(cp))
          break;
        ms = prevStart;
      }
    }
    if (tok.rstrip) {
      uint32_t cp;
      while (me < n) {
        size_t l = utf8::decode(text, me, &cp);
        if (!l || !utf8::isWhitespace(cp))
          break;
        me += l;
      }
    }
    if (ms > segStart)
      segs.push_back({segStart, ms, -1});
    segs.push_back({ms, me, tok.id});
    segStart = i = me;
  }
  if (segStart < n)
    segs.push_back({segStart, n, -1});
}

void replaceAll(std::string &s, const std::string &from, const std::string &to) {
  if (from.empty() || s.find(from) == std::string::npos)
    return;
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos;
       pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

/// Applies one Split to a piece, appending the resulting pieces.
void splitPiece(Piece &&piece, const Regex &re, SplitBehavior behavior,
                bool invert, std::vector<Piece> &out,
                std::vector<std::pair<size_t, size_t>> &matches) {
  const std::string &s = piece.text;
  matches.clear();
  re.findAll(s, matches);
  if (matches.empty() && !invert) {
    // Nothing matched: the whole piece is one non-match, kept as it is.
    if (!s.empty())
      out.push_back(std::move(piece));
    return;
  }
  // (range, isMatch) covering the piece.
  struct Part {
    size_t b, e;
    bool match;
  };
  std::vector<Part> parts;
  parts.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (b > prev)
      parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < s.size())
    parts.push_back({prev, s.size(), invert});

  std::vector<std::pair<size_t, size_t>> ranges;
  ranges.reserve(parts.size());
  switch (behavior) {
  case SplitBehavior::Removed:
    for (const Part &p : parts)
      if (!p.match)
        ranges.emplace_back(p.b, p.e);
    break;
  case SplitBehavior::Isolated:
    for (const Part &p : parts)
      ranges.emplace_back(p.b, p.e);
    break;
  case SplitBehavior::MergedWithPrevious: {
    bool prevMatch = false;
    for (const Part &p : parts) {
      if (p.match && !prevMatch && !ranges.empty())
        ranges.back().second = p.e;
      else
        ranges.emplace_back(p.b, p.e);
      prevMatch = p.match;
    }
    break;
  }
  case SplitBehavior::MergedWithNext: {
    bool prevMatch = false;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (it->match && !prevMatch && !ranges.empty())
        ranges.back().first = it->b;
      else
        ranges.emplace_back(it->b, it->e);
      prevMatch = it->match;
    }
    std::reverse(ranges.begin(), ranges.end());
    break;
  }
  case SplitBehavior::Contiguous: {
    bool prevMatch = false;
    for (const Part &p : parts) {
      if (p.match == prevMatch && !ranges.empty())
        ranges.back().second = p.e;
      else
        ranges.emplace_back(p.b, p.e);
      prevMatch = p.match;
    }
    break;
  }
  }
  for (auto [b, e] : ranges)
    if (e > b)
      out.push_back({s.substr(b, e - b), piece.atOrigin && b == 0});
}

} // namespace

//===----------------------------------------------------------------------===//
// Encoding
//===----------------------------------------------------------------------===//

void Tokenizer::Impl::normalize(std::string &s) const {
  for (const NormalizerOp &op : normalizers) {
    switch (op.kind) {
    case NormalizerOp::Prepend:
      if (!s.empty())
        s.insert(0, op.text);
      break;
    case NormalizerOp::Replace:
      if (op.regex) {
        std::vector<std::pair<size_t, size_t>> m;
        op.regex->findAll(s, m);
        if (m.empty())
          break;
        std::string out;
        size_t prev = 0;
        for (auto [b, e] : m) {
          out.append(s, prev, b - prev);
          out += op.content;
          prev = e;
        }
        out.append(s, prev, std::string::npos);
        s.swap(out);
      } else {
        replaceAll(s, op.text, op.content);
      }
      break;
    case NormalizerOp::Strip: {
      size_t b = 0, e = s.size();
      uint32_t cp;
      if (op.left)
        while (b < e) {
          size_t l = utf8::decode(s, b, &cp);
          if (!l || !utf8::isWhitespace(cp))
            break;
          b += l;
        }
      if (op.right)
        while (e > b) {
          size_t start;
          cp = charBefore(s, e, &start);
          if (start < b || !utf8::isWhitespace(cp))
            break;
          e = start;
        }
      s = s.substr(b, e - b);
      break;
    }
    }
  }
}

void Tokenizer::Impl::preTokenize(std::vector<Piece> &pieces) const {
  std::vector<Piece> next;
  std::vector<std::pair<size_t, size_t>> matches;
  for (const PreTokenizerOp &op : preTokenizers) {
    next.clear();
    for (Piece &p : pieces) {
      switch (op.kind) {
      case PreTokenizerOp::Split:
        splitPiece(std::move(p), *op.regex, op.behavior, op.invert, next,
                   matches);
        break;
      case PreTokenizerOp::ByteLevel:
        if (op.addPrefixSpace && (p.text.empty() || p.text[0] != ' '))
          p.text.insert(0, " ");
        if (op.regex)
          splitPiece(std::move(p), *op.regex, SplitBehavior::Isolated, false,
                     next, matches);
        else
          next.push_back(std::move(p));
        break;
      case PreTokenizerOp::Metaspace: {
        replaceAll(p.text, " ", op.replacement);
        bool startsWithRep = p.text.compare(0, op.replacement.size(),
                                            op.replacement) == 0;
        if (!startsWithRep &&
            (op.prependScheme == PrependScheme::Always ||
             (op.prependScheme == PrependScheme::First && p.atOrigin)))
          p.text.insert(0, op.replacement);
        if (op.regex)
          splitPiece(std::move(p), *op.regex, SplitBehavior::MergedWithNext,
                     false, next, matches);
        else
          next.push_back(std::move(p));
        break;
      }
      }
    }
    pieces.swap(next);
  }
}

void Tokenizer::Impl::bpe(std::string_view word,
                          std::vector<int32_t> &out) const {
  struct Sym {
    int32_t id, prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  bool pendingUnk = false; // last symbol pushed is a (fusable) unk
  auto push = [&](int32_t id) {
    int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, true});
    if (n > 0)
      syms[n - 1].next = n;
  };
  auto pushUnk = [&]() {
    if (unkId < 0)
      return; // no unk token: the character is dropped (as HF does)
    if (!(fuseUnk && pendingUnk))
      push(unkId);
    pendingUnk = true;
  };

  if (byteLevel) {
    for (char ch : word) {
      int32_t id = byteLevelIds[static_cast<unsigned char>(ch)];
      if (id >= 0) {
        push(id);
        pendingUnk = false;
      } else {
        pushUnk();
      }
    }
  } else {
    for (size_t i = 0; i < word.size();) {
      size_t len = utf8::charLen(word, i);
      auto it = vocab.find(word.substr(i, len));
      if (it != vocab.end()) {
        push(it->second);
        pendingUnk = false;
      } else {
        bool ok = byteFallback;
        for (size_t k = 0; ok && k < len; ++k)
          ok = byteTokenIds[static_cast<unsigned char>(word[i + k])] >= 0;
        if (ok) {
          for (size_t k = 0; k < len; ++k)
            push(byteTokenIds[static_cast<unsigned char>(word[i + k])]);
          pendingUnk = false;
        } else {
          pushUnk();
        }
      }
      i += len;
    }
  }

  // Merge: lowest rank first, leftmost among equal ranks.
  struct Cand {
    int32_t rank, pos, merged;
  };
  auto later = [](const Cand &a, const Cand &b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(later)> queue(later);
  auto pairAt = [&](int32_t pos) -> const std::pair<int32_t, int32_t> * {
    int32_t nx = syms[pos].next;
    if (nx < 0)
      return nullptr;
    uint64_t key = (static_cast<uint64_t>(syms[pos].id) << 32) |
                   static_cast<uint32_t>(syms[nx].id);
    auto it = merges.find(key);
    return it == merges.end() ? nullptr : &it->second;
  };
  auto consider = [&](int32_t pos) {
    if (const auto *m = pairAt(pos))
      queue.push({m->first, pos, m->second});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i)
    consider(i);
  while (!queue.empty()) {
    Cand c = queue.top();
    queue.pop();
    Sym &s = syms[c.pos];
    if (!s.alive)
      continue;
    const auto *m = pairAt(c.pos);
    if (!m || m->second != c.merged) // stale entry
      continue;
    Sym &r = syms[s.next];
    r.alive = false;
    s.id = c.merged;
    s.next = r.next;
    if (r.next >= 0)
      syms[r.next].prev = c.pos;
    if (s.prev >= 0)
      consider(s.prev);
    consider(c.pos);
  }
  for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next)
    out.push_back(syms[i].id);
}

void Tokenizer::Impl::encodeWord(std::string_view word,
                                 std::vector<int32_t> &out) const {
  if (word.empty())
    return;
  if (ignoreMerges) {
    std::string key;
    if (byteLevel) {
      for (char ch : word)
        utf8::append(key, byteToCodePoint(static_cast<unsigned char>(ch)));
    } else {
      key.assign(word);
    }
    if (auto it = vocab.find(key); it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  constexpr size_t kMaxCachedWord = 64;
  constexpr size_t kMaxCacheEntries = 1 << 18;
  bool cacheable = word.size() <= kMaxCachedWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cacheMutex);
    auto it = cache.find(std::string(word));
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t before = out.size();
  bpe(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cacheMutex);
    if (cache.size() >= kMaxCacheEntries)
      cache.clear();
    cache.emplace(std::string(word),
                  std::vector<int32_t>(out.begin() + before, out.end()));
  }
}

void Tokenizer::Impl::encodeSegment(std::string_view text, bool atOrigin,
                                    std::vector<int32_t> &out) const {
  std::string norm(text);
  normalize(norm);
  std::vector<Segment> segs;
  if (normTrie.empty())
    segs.push_back({0, norm.size(), -1});
  else
    splitAdded(norm, normTrie, added, segs);
  std::vector<Piece> pieces;
  for (const Segment &seg : segs) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    pieces.clear();
    pieces.push_back({norm.substr(seg.begin, seg.end - seg.begin),
                      atOrigin && seg.begin == 0});
    preTokenize(pieces);
    for (const Piece &p : pieces)
      encodeWord(p.text, out);
  }
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

namespace {

/// "<0xXX>" -> byte value, else -1.
int byteTokenValue(const std::string &t) {
  if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>')
    return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    return -1;
  };
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/// Byte-level characters back to bytes; the token unchanged if some
/// character is not in the byte-level alphabet.
std::string fromByteLevel(const std::string &t) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    uint32_t cp;
    size_t len = utf8::decode(t, i, &cp);
    int b = len ? byteFromCodePoint(cp) : -1;
    if (b < 0)
      return t;
    out.push_back(static_cast<char>(b));
    i += len;
  }
  return out;
}

} // namespace

std::string Tokenizer::Impl::decodeTokens(std::vector<std::string> toks) const {
  if (!hasDecoder) {
    std::string out;
    for (size_t i = 0; i < toks.size(); ++i) {
      if (i)
        out += ' ';
      out += toks[i];
    }
    return out;
  }
  for (const DecoderOp &op : decoders) {
    switch (op.kind) {
    case DecoderOp::ByteLevel: {
      std::string all;
      for (const std::string &t : toks)
        all += fromByteLevel(t);
      toks.assign(1, std::move(all));
      break;
    }
    case DecoderOp::Replace:
      for (std::string &t : toks)
        replaceAll(t, op.pattern, op.content);
      break;
    case DecoderOp::ByteFallback: {
      std::vector<std::string> next;
      std::string bytes;
      bool inRun = false;
      for (std::string &t : toks) {
        int b = byteTokenValue(t);
        if (b >= 0) {
          bytes.push_back(static_cast<char>(b));
          inRun = true;
          continue;
        }
        if (inRun) {
          next.push_back(std::move(bytes));
          bytes.clear();
          inRun = false;
        }
        next.push_back(std::move(t));
      }
      if (inRun)
        next.push_back(std::move(bytes));
      toks.swap(next);
      break;
    }
    case DecoderOp::Fuse: {
      std::string all;
      for (const std::string &t : toks)
        all += t;
      toks.assign(1, std::move(all));
      break;
    }
    case DecoderOp::Strip:
      for (std::string &t : toks) {
        size_t b = 0, e = t.size();
        for (size_t k = 0; k < op.start && b < e; ++k) {
          uint32_t cp;
          size_t len = utf8::decode(t, b, &cp);
          if (!len || cp != op.stripChar)
            break;
          b += len;
        }
        for (size_t k = 0; k < op.stop && e > b; ++k) {
          size_t start;
          uint32_t cp = charBefore(t, e, &start);
          if (start < b || cp != op.stripChar)
            break;
          e = start;
        }
        t = t.substr(b, e - b);
      }
      break;
    case DecoderOp::Metaspace:
      for (size_t i = 0; i < toks.size(); ++i)
        // HF drops every replacement character of the first token.
        replaceAll(toks[i], op.replacement,
                   i == 0 && op.prependScheme != PrependScheme::Never ? ""
                                                                       : " ");
      break;
    }
  }
  std::string out;
  for (const std::string &t : toks)
    out += t;
  return out;
}

std::string Tokenizer::Impl::singleTokenText(int32_t id) const {
  if (addedIndex[id] >= 0)
    return added[addedIndex[id]].content;
  std::string t = idToToken[id];
  for (const DecoderOp &op : decoders) {
    switch (op.kind) {
    case DecoderOp::ByteLevel:
      t = fromByteLevel(t);
      break;
    case DecoderOp::Replace:
      replaceAll(t, op.pattern, op.content);
      break;
    case DecoderOp::ByteFallback:
      if (int b = byteTokenValue(t); b >= 0)
        t.assign(1, static_cast<char>(b));
      break;
    case DecoderOp::Metaspace:
      replaceAll(t, op.replacement, " ");
      break;
    case DecoderOp::Fuse:
    case DecoderOp::Strip:
      break;
    }
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::fromJson(std::string_view jsonText,
                                               std::string *error) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->load(jsonText);
  } catch (const std::exception &e) {
    if (error)
      *error = std::string("tokenizer.json: ") + e.what();
    return nullptr;
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::unique_ptr<Tokenizer> Tokenizer::fromFile(const std::string &path,
                                               std::string *error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error)
      *error = "cannot open tokenizer file '" + path + "'";
    return nullptr;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    if (error)
      *error = "cannot read tokenizer file '" + path + "'";
    return nullptr;
  }
  std::string err;
  auto tok = fromJson(buf.str(), &err);
  if (!tok && error)
    *error = path + ": " + err;
  return tok;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text,
                                       bool addBos) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (addBos && impl_->bos >= 0)
    out.push_back(impl_->bos);
  std::vector<Segment> segs;
  if (impl_->rawTrie.empty())
    segs.push_back({0, text.size(), -1});
  else
    splitAdded(text, impl_->rawTrie, impl_->added, segs);
  for (const Segment &seg : segs) {
    if (seg.id >= 0)
      out.push_back(seg.id);
    else
      impl_->encodeSegment(text.substr(seg.begin, seg.end - seg.begin),
                           seg.begin == 0, out);
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids,
                              bool skipSpecial) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= impl_->vocabSize)
      continue;
    if (skipSpecial && impl_->special[id])
      continue;
    int32_t a = impl_->addedIndex[id];
    if (a >= 0)
      toks.push_back(impl_->added[a].content);
    else if (!impl_->idToToken[id].empty())
      toks.push_back(impl_->idToToken[id]);
  }
  return impl_->decodeTokens(std::move(toks));
}

std::string Tokenizer::tokenText(int32_t id) const {
  if (id < 0 || id >= impl_->vocabSize)
    return std::string();
  return impl_->tokenTexts[id];
}

int32_t Tokenizer::tokenId(std::string_view token) const {
  if (auto it = impl_->addedByContent.find(token);
      it != impl_->addedByContent.end())
    return it->second;
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end())
    return it->second;
  return -1;
}

int32_t Tokenizer::bosId() const { return impl_->bos; }
int32_t Tokenizer::eosId() const { return impl_->eos; }
int32_t Tokenizer::vocabSize() const { return impl_->vocabSize; }
bool Tokenizer::addBosByDefault() const { return impl_->addBos; }
const std::string &Tokenizer::chatTemplate() const {
  return impl_->chatTemplate;
}
bool Tokenizer::isSpecial(int32_t id) const {
  return id >= 0 && id < impl_->vocabSize && impl_->special[id];
}

} // namespace llmc::rt
