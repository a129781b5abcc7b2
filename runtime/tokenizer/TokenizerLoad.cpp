//===- TokenizerLoad.cpp - Parse a Hugging Face tokenizer.json ------------===//
//
// Reads the parts of tokenizer.json that llmc supports and rejects the rest
// with a message naming the JSON path, so a tokenizer is never silently
// loaded with different behaviour than the `tokenizers` library.
//
//===----------------------------------------------------------------------===//

#include "TokenizerImpl.h"
#include "Utf8.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <stdexcept>

namespace llmc::rt {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string &where, const std::string &msg) {
  throw std::runtime_error(where + ": " + msg);
}

const char *typeName(const json &j) { return j.type_name(); }

const json *find(const json &obj, const char *key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const json &require(const json &obj, const char *key, const std::string &where,
                    json::value_t type) {
  const json *v = find(obj, key);
  if (!v)
    fail(where, std::string("missing '") + key + "'");
  bool ok = v->type() == type ||
            (type == json::value_t::number_integer && v->is_number_integer()) ||
            (type == json::value_t::number_float && v->is_number());
  if (!ok)
    fail(where + "." + key, std::string("expected ") +
                                json(type).type_name() + ", got " +
                                typeName(*v));
  return *v;
}

std::string getString(const json &obj, const char *key,
                      const std::string &where) {
  return require(obj, key, where, json::value_t::string).get<std::string>();
}

/// Optional member: absent or null -> dflt.
bool optBool(const json &obj, const char *key, bool dflt,
             const std::string &where) {
  const json *v = find(obj, key);
  if (!v || v->is_null())
    return dflt;
  if (!v->is_boolean())
    fail(where + "." + key, std::string("expected boolean, got ") + typeName(*v));
  return v->get<bool>();
}

const json *optString(const json &obj, const char *key,
                      const std::string &where) {
  const json *v = find(obj, key);
  if (!v || v->is_null())
    return nullptr;
  if (!v->is_string())
    fail(where + "." + key, std::string("expected string, got ") + typeName(*v));
  return v;
}

std::string typeOf(const json &j, const std::string &where) {
  if (!j.is_object())
    fail(where, std::string("expected object, got ") + typeName(j));
  return getString(j, "type", where);
}

/// The single character of a string member (Metaspace replacement, Strip).
uint32_t singleChar(const std::string &s, const std::string &where) {
  uint32_t cp = 0;
  size_t len = s.empty() ? 0 : utf8::decode(s, 0, &cp);
  if (!len || len != s.size())
    fail(where, "expected a single character, got '" + s + "'");
  return cp;
}

PrependScheme prependScheme(const json &j, const std::string &where) {
  if (const json *s = optString(j, "prepend_scheme", where)) {
    std::string v = s->get<std::string>();
    if (v == "always")
      return PrependScheme::Always;
    if (v == "first")
      return PrependScheme::First;
    if (v == "never")
      return PrependScheme::Never;
    fail(where + ".prepend_scheme", "unknown value '" + v + "'");
  }
  // Older files: add_prefix_space (default true).
  return optBool(j, "add_prefix_space", true, where) ? PrependScheme::Always
                                                     : PrependScheme::Never;
}

std::unique_ptr<Regex> compileOrFail(const std::string &pattern, bool literal,
                                     const std::string &where) {
  std::string err;
  auto re = literal ? Regex::literal(pattern, &err) : Regex::compile(pattern, &err);
  if (!re)
    fail(where, err);
  return re;
}

/// Reads {"String": s} or {"Regex": r}; returns the text, sets *isRegex.
std::string patternOf(const json &j, const char *key, const std::string &where,
                      bool *isRegex) {
  const json &p = require(j, key, where, json::value_t::object);
  if (const json *s = optString(p, "String", where + "." + key)) {
    *isRegex = false;
    return s->get<std::string>();
  }
  if (const json *r = optString(p, "Regex", where + "." + key)) {
    *isRegex = true;
    return r->get<std::string>();
  }
  fail(where + "." + key, "expected {\"String\": ...} or {\"Regex\": ...}");
}

// The regex ByteLevel(use_regex=true) splits with (GPT-2).
constexpr const char *kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";

void parseNormalizer(Tokenizer::Impl &t, const json &j,
                     const std::string &where) {
  if (j.is_null())
    return;
  std::string type = typeOf(j, where);
  if (type == "Sequence") {
    const json &list = require(j, "normalizers", where, json::value_t::array);
    for (size_t i = 0; i < list.size(); ++i)
      parseNormalizer(t, list[i], where + ".normalizers[" + std::to_string(i) + "]");
  } else if (type == "Prepend") {
    NormalizerOp op{NormalizerOp::Prepend};
    op.text = getString(j, "prepend", where);
    t.normalizers.push_back(std::move(op));
  } else if (type == "Replace") {
    NormalizerOp op{NormalizerOp::Replace};
    bool isRegex = false;
    std::string pattern = patternOf(j, "pattern", where, &isRegex);
    op.content = getString(j, "content", where);
    if (isRegex)
      op.regex = compileOrFail(pattern, false, where + ".pattern");
    else if (pattern.empty())
      fail(where + ".pattern", "empty pattern");
    else
      op.text = pattern;
    t.normalizers.push_back(std::move(op));
  } else if (type == "Strip") {
    NormalizerOp op{NormalizerOp::Strip};
    op.left = optBool(j, "strip_left", true, where);
    op.right = optBool(j, "strip_right", true, where);
    t.normalizers.push_back(std::move(op));
  } else {
    fail(where, "unsupported normalizer type '" + type +
                    "' (supported: Sequence, Prepend, Replace, Strip)");
  }
}

void addSplit(Tokenizer::Impl &t, std::unique_ptr<Regex> re,
              SplitBehavior behavior, bool invert) {
  PreTokenizerOp op{PreTokenizerOp::Split};
  op.regex = std::move(re);
  op.behavior = behavior;
  op.invert = invert;
  t.preTokenizers.push_back(std::move(op));
}

void parsePreTokenizer(Tokenizer::Impl &t, const json &j,
                       const std::string &where) {
  if (j.is_null())
    return;
  std::string type = typeOf(j, where);
  if (type == "Sequence") {
    const json &list = require(j, "pretokenizers", where, json::value_t::array);
    for (size_t i = 0; i < list.size(); ++i)
      parsePreTokenizer(t, list[i],
                        where + ".pretokenizers[" + std::to_string(i) + "]");
    return;
  }
  if (t.byteLevel)
    fail(where, "pre-tokenizer '" + type +
                    "' after ByteLevel is not supported");
  if (type == "ByteLevel") {
    PreTokenizerOp op{PreTokenizerOp::ByteLevel};
    op.addPrefixSpace = optBool(j, "add_prefix_space", true, where);
    if (optBool(j, "use_regex", true, where))
      op.regex = compileOrFail(kGpt2Pattern, false, where);
    t.preTokenizers.push_back(std::move(op));
    t.byteLevel = true;
  } else if (type == "Split") {
    bool isRegex = false;
    std::string pattern = patternOf(j, "pattern", where, &isRegex);
    if (pattern.empty())
      fail(where + ".pattern", "empty pattern");
    std::string b = getString(j, "behavior", where);
    SplitBehavior behavior;
    if (b == "Removed")
      behavior = SplitBehavior::Removed;
    else if (b == "Isolated")
      behavior = SplitBehavior::Isolated;
    else if (b == "MergedWithPrevious")
      behavior = SplitBehavior::MergedWithPrevious;
    else if (b == "MergedWithNext")
      behavior = SplitBehavior::MergedWithNext;
    else if (b == "Contiguous")
      behavior = SplitBehavior::Contiguous;
    else
      fail(where + ".behavior", "unknown split behavior '" + b + "'");
    addSplit(t, compileOrFail(pattern, !isRegex, where + ".pattern"), behavior,
             optBool(j, "invert", false, where));
  } else if (type == "Digits") {
    bool individual = optBool(j, "individual_digits", false, where);
    addSplit(t, compileOrFail("\\p{N}", false, where),
             individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous,
             false);
  } else if (type == "Metaspace") {
    PreTokenizerOp op{PreTokenizerOp::Metaspace};
    op.replacement = "\xE2\x96\x81"; // U+2581
    if (const json *r = optString(j, "replacement", where))
      op.replacement = r->get<std::string>();
    singleChar(op.replacement, where + ".replacement");
    op.prependScheme = prependScheme(j, where);
    op.split = optBool(j, "split", true, where);
    if (op.split)
      op.regex = compileOrFail(op.replacement, true, where);
    t.preTokenizers.push_back(std::move(op));
  } else {
    fail(where, "unsupported pre-tokenizer type '" + type +
                    "' (supported: Sequence, ByteLevel, Split, Digits, "
                    "Metaspace)");
  }
}

void parseDecoder(Tokenizer::Impl &t, const json &j, const std::string &where) {
  if (j.is_null())
    return;
  std::string type = typeOf(j, where);
  if (type == "Sequence") {
    const json &list = require(j, "decoders", where, json::value_t::array);
    for (size_t i = 0; i < list.size(); ++i)
      parseDecoder(t, list[i], where + ".decoders[" + std::to_string(i) + "]");
  } else if (type == "ByteLevel") {
    t.decoders.push_back(DecoderOp{DecoderOp::ByteLevel});
  } else if (type == "ByteFallback") {
    t.decoders.push_back(DecoderOp{DecoderOp::ByteFallback});
  } else if (type == "Fuse") {
    t.decoders.push_back(DecoderOp{DecoderOp::Fuse});
  } else if (type == "Replace") {
    DecoderOp op{DecoderOp::Replace};
    bool isRegex = false;
    op.pattern = patternOf(j, "pattern", where, &isRegex);
    if (isRegex)
      fail(where + ".pattern", "Regex patterns are not supported in decoders");
    if (op.pattern.empty())
      fail(where + ".pattern", "empty pattern");
    op.content = getString(j, "content", where);
    t.decoders.push_back(std::move(op));
  } else if (type == "Strip") {
    DecoderOp op{DecoderOp::Strip};
    op.stripChar = singleChar(getString(j, "content", where), where + ".content");
    op.start = require(j, "start", where, json::value_t::number_integer).get<size_t>();
    op.stop = require(j, "stop", where, json::value_t::number_integer).get<size_t>();
    t.decoders.push_back(std::move(op));
  } else if (type == "Metaspace") {
    DecoderOp op{DecoderOp::Metaspace};
    op.replacement = "\xE2\x96\x81";
    if (const json *r = optString(j, "replacement", where))
      op.replacement = r->get<std::string>();
    singleChar(op.replacement, where + ".replacement");
    op.prependScheme = prependScheme(j, where);
    t.decoders.push_back(std::move(op));
  } else {
    fail(where, "unsupported decoder type '" + type +
                    "' (supported: Sequence, ByteLevel, ByteFallback, Fuse, "
                    "Replace, Strip, Metaspace)");
  }
}

/// BOS from a TemplateProcessing post-processor whose single template
/// starts with a special token; -1 otherwise.
int32_t bosFromPostProcessor(const json &j, bool *found) {
  if (!j.is_object())
    return -1;
  auto type = j.find("type");
  if (type == j.end() || !type->is_string())
    return -1;
  if (*type == "Sequence") {
    auto list = j.find("processors");
    if (list != j.end() && list->is_array())
      for (const json &p : *list) {
        int32_t id = bosFromPostProcessor(p, found);
        if (*found)
          return id;
      }
    return -1;
  }
  if (*type != "TemplateProcessing")
    return -1;
  auto single = j.find("single");
  auto specials = j.find("special_tokens");
  if (single == j.end() || !single->is_array() || single->empty() ||
      specials == j.end() || !specials->is_object())
    return -1;
  const json &first = (*single)[0];
  if (!first.is_object() || !first.contains("SpecialToken"))
    return -1;
  const json &st = first["SpecialToken"];
  if (!st.is_object() || !st.contains("id") || !st["id"].is_string())
    return -1;
  auto entry = specials->find(st["id"].get<std::string>());
  if (entry == specials->end() || !entry->is_object())
    return -1;
  auto ids = entry->find("ids");
  if (ids == entry->end() || !ids->is_array() || ids->size() != 1 ||
      !(*ids)[0].is_number_integer())
    return -1;
  *found = true;
  return (*ids)[0].get<int32_t>();
}

void parseModel(Tokenizer::Impl &t, const json &model) {
  const std::string where = "model";
  if (!model.is_object())
    fail(where, std::string("expected object, got ") + typeName(model));
  if (const json *type = optString(model, "type", where)) {
    if (*type != "BPE")
      fail(where + ".type", "unsupported model type '" +
                                type->get<std::string>() +
                                "' (only BPE is supported)");
  } else if (!model.contains("merges")) {
    fail(where, "no 'type' and no 'merges': only BPE models are supported");
  }
  if (const json *d = find(model, "dropout"); d && !d->is_null()) {
    if (!d->is_number())
      fail(where + ".dropout", "expected number or null");
    if (d->get<double>() > 0.0)
      fail(where + ".dropout", "BPE dropout is not supported");
  }
  for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json *v = optString(model, key, where);
    if (v && !v->get_ref<const std::string &>().empty())
      fail(where + "." + key, "not supported");
  }
  t.byteFallback = optBool(model, "byte_fallback", false, where);
  t.fuseUnk = optBool(model, "fuse_unk", false, where);
  t.ignoreMerges = optBool(model, "ignore_merges", false, where);

  const json &vocab = require(model, "vocab", where, json::value_t::object);
  int32_t maxId = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > (1 << 30))
      fail(where + ".vocab[\"" + it.key() + "\"]", "expected a token id");
    maxId = std::max(maxId, it.value().get<int32_t>());
  }
  t.idToToken.assign(static_cast<size_t>(maxId + 1), std::string());
  std::vector<uint8_t> seen(static_cast<size_t>(maxId + 1), 0);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int32_t id = it.value().get<int32_t>();
    if (seen[id])
      fail(where + ".vocab", "id " + std::to_string(id) + " is used twice");
    seen[id] = 1;
    t.idToToken[id] = it.key();
  }
  for (size_t id = 0; id < t.idToToken.size(); ++id)
    if (seen[id])
      t.vocab.emplace(t.idToToken[id], static_cast<int32_t>(id));

  auto idOf = [&](const std::string &tok, const std::string &w) {
    auto it = t.vocab.find(tok);
    if (it == t.vocab.end())
      fail(w, "token '" + tok + "' is not in the vocabulary");
    return it->second;
  };

  if (const json *unk = optString(model, "unk_token", where))
    t.unkId = idOf(unk->get<std::string>(), where + ".unk_token");

  const json &merges = require(model, "merges", where, json::value_t::array);
  t.merges.reserve(merges.size() * 2);
  for (size_t i = 0; i < merges.size(); ++i) {
    const json &m = merges[i];
    std::string w = where + ".merges[" + std::to_string(i) + "]";
    std::string left, right;
    if (m.is_array()) {
      if (m.size() != 2 || !m[0].is_string() || !m[1].is_string())
        fail(w, "expected a pair of strings");
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else if (m.is_string()) {
      const std::string &s = m.get_ref<const std::string &>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos)
        fail(w, "merge '" + s + "' has no space");
      if (s.find(' ', sp + 1) == std::string::npos) {
        left = s.substr(0, sp);
        right = s.substr(sp + 1);
      } else { // a token with a space: take the cut whose halves exist
        bool ok = false;
        for (; sp != std::string::npos; sp = s.find(' ', sp + 1)) {
          left = s.substr(0, sp);
          right = s.substr(sp + 1);
          if (t.vocab.count(left) && t.vocab.count(right)) {
            ok = true;
            break;
          }
        }
        if (!ok)
          fail(w, "merge '" + s + "' does not name two vocabulary tokens");
      }
    } else {
      fail(w, std::string("expected string or array, got ") + typeName(m));
    }
    int32_t l = idOf(left, w), r = idOf(right, w);
    int32_t merged = idOf(left + right, w);
    uint64_t key = (static_cast<uint64_t>(l) << 32) | static_cast<uint32_t>(r);
    t.merges[key] = {static_cast<int32_t>(i), merged}; // later duplicates win
  }
}

void parseAddedTokens(Tokenizer::Impl &t, const json &root) {
  const json *list = find(root, "added_tokens");
  if (!list || list->is_null())
    return;
  if (!list->is_array())
    fail("added_tokens", std::string("expected array, got ") + typeName(*list));
  for (size_t i = 0; i < list->size(); ++i) {
    const json &a = (*list)[i];
    std::string w = "added_tokens[" + std::to_string(i) + "]";
    if (!a.is_object())
      fail(w, std::string("expected object, got ") + typeName(a));
    AddedToken tok;
    const json &id = require(a, "id", w, json::value_t::number_integer);
    if (id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 30))
      fail(w + ".id", "out of range");
    tok.id = id.get<int32_t>();
    tok.content = getString(a, "content", w);
    if (tok.content.empty())
      fail(w + ".content", "empty");
    tok.special = optBool(a, "special", false, w);
    tok.lstrip = optBool(a, "lstrip", false, w);
    tok.rstrip = optBool(a, "rstrip", false, w);
    tok.singleWord = optBool(a, "single_word", false, w);
    tok.normalized = optBool(a, "normalized", !tok.special, w);
    t.added.push_back(std::move(tok));
  }
}

/// Extra metadata written by llmc's GGUF converter (top level or in model).
void parseLlmcExtras(Tokenizer::Impl &t, const json &root, bool *haveBos,
                     bool *haveEos, bool *haveAddBos) {
  const json *extra = find(root, "llmc");
  if (!extra)
    if (const json *model = find(root, "model"); model && model->is_object())
      extra = find(*model, "llmc");
  if (!extra || extra->is_null())
    return;
  const std::string where = "llmc";
  if (!extra->is_object())
    fail(where, std::string("expected object, got ") + typeName(*extra));
  auto optId = [&](const char *key, int32_t *out, bool *have) {
    const json *v = find(*extra, key);
    if (!v)
      return;
    *have = true;
    if (v->is_null())
      *out = -1;
    else if (v->is_number_integer())
      *out = v->get<int32_t>();
    else
      fail(where + "." + key, "expected integer or null");
  };
  optId("bos_token_id", &t.bos, haveBos);
  optId("eos_token_id", &t.eos, haveEos);
  if (const json *v = find(*extra, "add_bos_token"); v && !v->is_null()) {
    *haveAddBos = true;
    t.addBos = optBool(*extra, "add_bos_token", false, where);
  }
  if (const json *c = optString(*extra, "chat_template", where))
    t.chatTemplate = c->get<std::string>();
}

} // namespace

uint32_t byteToCodePoint(unsigned char b) {
  // Printable bytes stand for themselves; the others are moved, in order, to
  // U+0100 and up.
  auto printable = [](unsigned c) {
    return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) ||
           (c >= 0xAE && c <= 0xFF);
  };
  if (printable(b))
    return b;
  uint32_t n = 0;
  for (unsigned c = 0; c < b; ++c)
    if (!printable(c))
      ++n;
  return 0x100 + n;
}

int byteFromCodePoint(uint32_t cp) {
  static const std::vector<int16_t> table = [] {
    std::vector<int16_t> v(0x100 + 68, -1);
    for (unsigned b = 0; b < 256; ++b)
      v[byteToCodePoint(static_cast<unsigned char>(b))] = static_cast<int16_t>(b);
    return v;
  }();
  return cp < table.size() ? table[cp] : -1;
}

void Tokenizer::Impl::load(std::string_view jsonText) {
  json root;
  try {
    root = json::parse(jsonText.begin(), jsonText.end());
  } catch (const json::parse_error &e) {
    std::string msg = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (size_t p = msg.find("] "); p != std::string::npos && msg[0] == '[')
      msg = msg.substr(p + 2);
    throw std::runtime_error("invalid JSON: " + msg);
  }
  if (!root.is_object())
    fail("tokenizer.json", std::string("expected a JSON object, got ") +
                               typeName(root));
  const json *model = find(root, "model");
  if (!model)
    fail("tokenizer.json", "missing 'model'");
  parseModel(*this, *model);
  parseAddedTokens(*this, root);
  if (const json *n = find(root, "normalizer"))
    parseNormalizer(*this, *n, "normalizer");
  if (const json *p = find(root, "pre_tokenizer"))
    parsePreTokenizer(*this, *p, "pre_tokenizer");
  if (const json *d = find(root, "decoder"); d && !d->is_null()) {
    hasDecoder = true;
    parseDecoder(*this, *d, "decoder");
  }
  bool haveBos = false, haveEos = false, haveAddBos = false;
  parseLlmcExtras(*this, root, &haveBos, &haveEos, &haveAddBos);
  if (const json *pp = find(root, "post_processor"); pp && !pp->is_null()) {
    bool found = false;
    int32_t id = bosFromPostProcessor(*pp, &found);
    if (found) {
      if (!haveBos) {
        bos = id;
        haveBos = true;
      }
      if (!haveAddBos) {
        addBos = true;
        haveAddBos = true;
      }
    }
  }
  if (const json *ct = find(root, "chat_template"); ct && ct->is_string() &&
                                                     chatTemplate.empty())
    chatTemplate = ct->get<std::string>();
  finish();
  // Well-known names when nothing said otherwise.
  auto byName = [&](std::initializer_list<const char *> names) -> int32_t {
    for (const char *n : names)
      if (auto it = addedByContent.find(n); it != addedByContent.end())
        return it->second;
    return -1;
  };
  if (!haveBos)
    bos = byName({"<s>", "<|begin_of_text|>", "<bos>"});
  if (!haveEos)
    eos = byName({"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"});
  for (int32_t *id : {&bos, &eos})
    if (*id >= vocabSize)
      fail("llmc", "special token id " + std::to_string(*id) +
                       " is outside the vocabulary");
}

void Tokenizer::Impl::finish() {
  vocabSize = static_cast<int32_t>(idToToken.size());
  for (const AddedToken &a : added)
    vocabSize = std::max(vocabSize, a.id + 1);
  special.assign(vocabSize, 0);
  addedIndex.assign(vocabSize, -1);
  for (size_t i = 0; i < added.size(); ++i) {
    const AddedToken &a = added[i];
    addedIndex[a.id] = static_cast<int32_t>(i);
    special[a.id] = a.special;
    addedByContent[a.content] = a.id;
    (a.normalized ? normTrie : rawTrie).insert(a.content, static_cast<int32_t>(i));
  }
  for (unsigned b = 0; b < 256; ++b) {
    std::string ch;
    utf8::append(ch, byteToCodePoint(static_cast<unsigned char>(b)));
    auto it = vocab.find(ch);
    byteLevelIds[b] = it == vocab.end() ? -1 : it->second;
    char name[8];
    snprintf(name, sizeof(name), "<0x%02X>", b);
    it = vocab.find(name);
    byteTokenIds[b] = it == vocab.end() ? -1 : it->second;
  }
  tokenTexts.resize(vocabSize);
  for (int32_t id = 0; id < vocabSize; ++id)
    tokenTexts[id] = singleTokenText(id);
}

} // namespace llmc::rt
