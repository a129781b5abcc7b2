//===- Manifest.cpp - parse the manifest, evaluate symbolic dims ----------===//
#include "Manifest.h"

#include <nlohmann/json.hpp>

#include <cctype>

using namespace llmc::rt;

static bool dtypeFromName(const std::string &n, llmc_dtype &d, size_t &size) {
  static const std::map<std::string, std::pair<llmc_dtype, size_t>> table = {
      {"f32", {LLMC_DTYPE_F32, 4}}, {"f64", {LLMC_DTYPE_F64, 8}},
      {"f16", {LLMC_DTYPE_F16, 2}}, {"bf16", {LLMC_DTYPE_BF16, 2}},
      {"i64", {LLMC_DTYPE_I64, 8}}, {"i32", {LLMC_DTYPE_I32, 4}},
      {"i16", {LLMC_DTYPE_I16, 2}}, {"i8", {LLMC_DTYPE_I8, 1}},
      {"bool", {LLMC_DTYPE_BOOL, 1}}, {"u8", {LLMC_DTYPE_U8, 1}}};
  auto it = table.find(n);
  if (it == table.end())
    return false;
  d = it->second.first;
  size = it->second.second;
  return true;
}

static std::string parseSpec(const nlohmann::json &j, TensorSpec &t) {
  t.name = j.at("name").get<std::string>();
  if (!dtypeFromName(j.at("dtype").get<std::string>(), t.dtype, t.elementSize))
    return "unsupported dtype '" + j.at("dtype").get<std::string>() + "' of '" + t.name + "'";
  for (const auto &d : j.at("dims"))
    t.dims.push_back(d.get<std::string>());
  return "";
}

std::string Manifest::parse(const char *json) {
  try {
    auto j = nlohmann::json::parse(json);
    if (j.value("abi_version", 0) != LLMC_ABI_VERSION)
      return "library ABI version " + std::to_string(j.value("abi_version", 0)) +
             " does not match the runtime's " + std::to_string(LLMC_ABI_VERSION);
    for (const auto &e : j.at("inputs")) {
      TensorSpec t;
      if (auto err = parseSpec(e, t); !err.empty()) return err;
      inputs.push_back(t);
    }
    for (const auto &e : j.at("outputs")) {
      TensorSpec t;
      if (auto err = parseSpec(e, t); !err.empty()) return err;
      outputs.push_back(t);
    }
    for (const auto &e : j.at("cache")) {
      CacheSpec c;
      nlohmann::json spec = {{"name", e.at("input")}, {"dtype", e.at("dtype")}, {"dims", e.at("dims")}};
      if (auto err = parseSpec(spec, c.tensor); !err.empty()) return err;
      c.outputName = e.value("output", "");
      c.axis = e.value("axis", 2);
      cache.push_back(c);
    }
    if (j.contains("step")) {
      const auto &js = j.at("step");
      StepSpec st;
      for (const auto &e : js.at("inputs")) {
        TensorSpec t;
        if (auto err = parseSpec(e, t); !err.empty()) return err;
        st.inputs.push_back(t);
        st.kvPool.push_back(e.value("kv_pool", (int64_t)-1));
      }
      for (const auto &e : js.at("outputs")) {
        TensorSpec t;
        if (auto err = parseSpec(e, t); !err.empty()) return err;
        st.outputs.push_back(t);
      }
      step = std::move(st);
    }
  } catch (const std::exception &ex) {
    return std::string("malformed manifest: ") + ex.what();
  }
  return "";
}

namespace {
struct DimParser {
  const std::string &s;
  size_t i = 0;
  const std::map<std::string, int64_t> &b;
  bool ok = true;

  void skip() { while (i < s.size() && s[i] == ' ') ++i; }
  int64_t factor() {
    skip();
    if (i < s.size() && std::isdigit((unsigned char)s[i])) {
      int64_t v = 0;
      while (i < s.size() && std::isdigit((unsigned char)s[i])) v = v * 10 + (s[i++] - '0');
      return v;
    }
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '*' && s[i] != '+' && s[i] != '-') ++i;
    auto it = b.find(s.substr(start, i - start));
    if (start == i || it == b.end()) { ok = false; return 0; }
    return it->second;
  }
  int64_t term() {
    int64_t v = factor();
    skip();
    while (ok && i < s.size() && s[i] == '*') { ++i; v *= factor(); skip(); }
    return v;
  }
  int64_t expr() {
    skip();
    int64_t sign = 1;
    if (i < s.size() && s[i] == '-') { sign = -1; ++i; }
    int64_t v = sign * term();
    skip();
    while (ok && i < s.size() && (s[i] == '+' || s[i] == '-')) {
      int64_t sg = s[i++] == '+' ? 1 : -1;
      v += sg * term();
      skip();
    }
    if (i != s.size()) ok = false;
    return v;
  }
};
} // namespace

std::optional<int64_t> llmc::rt::evalDim(const std::string &expr,
                                         const std::map<std::string, int64_t> &bindings) {
  DimParser p{expr, 0, bindings};
  int64_t v = p.expr();
  if (!p.ok)
    return std::nullopt;
  return v;
}

std::optional<std::string> llmc::rt::singleSymbol(const std::string &expr) {
  if (expr.empty() || std::isdigit((unsigned char)expr[0]))
    return std::nullopt;
  for (char c : expr)
    if (c == ' ' || c == '*' || c == '+')
      return std::nullopt;
  if (expr == "?")
    return std::nullopt;
  return expr;
}
