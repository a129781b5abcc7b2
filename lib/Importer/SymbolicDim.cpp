//===- SymbolicDim.cpp - integer polynomials over named dimensions --------===//
#include "llmc/Importer/SymbolicDim.h"

#include <algorithm>
#include <sstream>

using namespace llmc;

SymbolicDim SymbolicDim::constant(int64_t c) {
  SymbolicDim d;
  if (c != 0)
    d.terms_[{}] = c;
  return d;
}

SymbolicDim SymbolicDim::symbol(int id) {
  SymbolicDim d;
  d.terms_[{id}] = 1;
  return d;
}

SymbolicDim SymbolicDim::unknown() {
  SymbolicDim d;
  d.unknown_ = true;
  return d;
}

void SymbolicDim::normalize() {
  for (auto it = terms_.begin(); it != terms_.end();)
    it = it->second == 0 ? terms_.erase(it) : std::next(it);
}

bool SymbolicDim::isConstant() const {
  return !unknown_ && (terms_.empty() || (terms_.size() == 1 && terms_.count({})));
}

std::optional<int64_t> SymbolicDim::getConstant() const {
  if (!isConstant())
    return std::nullopt;
  return terms_.empty() ? 0 : terms_.begin()->second;
}

std::optional<int> SymbolicDim::getSymbol() const {
  if (unknown_ || terms_.size() != 1)
    return std::nullopt;
  const auto &[mono, coeff] = *terms_.begin();
  if (mono.size() != 1 || coeff != 1)
    return std::nullopt;
  return mono[0];
}

SymbolicDim SymbolicDim::operator+(const SymbolicDim &o) const {
  if (unknown_ || o.unknown_)
    return unknown();
  SymbolicDim r = *this;
  for (const auto &[m, c] : o.terms_)
    r.terms_[m] += c;
  r.normalize();
  return r;
}

SymbolicDim SymbolicDim::operator-(const SymbolicDim &o) const {
  return *this + o * constant(-1);
}

SymbolicDim SymbolicDim::operator*(const SymbolicDim &o) const {
  if (unknown_ || o.unknown_)
    return unknown();
  SymbolicDim r;
  for (const auto &[m1, c1] : terms_)
    for (const auto &[m2, c2] : o.terms_) {
      Monomial m = m1;
      m.insert(m.end(), m2.begin(), m2.end());
      std::sort(m.begin(), m.end());
      r.terms_[m] += c1 * c2;
    }
  r.normalize();
  return r;
}

// Divides by a single-term divisor (c * monomial); that covers reshape's
// `-1` inference (total / product of the known dims).
SymbolicDim SymbolicDim::exactDiv(const SymbolicDim &o) const {
  if (unknown_ || o.unknown_ || o.terms_.size() != 1)
    return unknown();
  const auto &[dm, dc] = *o.terms_.begin();
  if (dc == 0)
    return unknown();
  SymbolicDim r;
  for (const auto &[m, c] : terms_) {
    if (c % dc != 0)
      return unknown();
    Monomial rest = m;
    for (int s : dm) {
      auto it = std::find(rest.begin(), rest.end(), s);
      if (it == rest.end())
        return unknown();
      rest.erase(it);
    }
    r.terms_[rest] += c / dc;
  }
  r.normalize();
  return r;
}

SymbolicDim SymbolicDim::substitute(int id, const SymbolicDim &value) const {
  if (unknown_)
    return *this;
  SymbolicDim r;
  for (const auto &[m, c] : terms_) {
    SymbolicDim term = constant(c);
    for (int s : m)
      term = term * (s == id ? value : symbol(s));
    r = r + term;
  }
  return r;
}

std::string SymbolicDim::str(const std::vector<std::string> &names) const {
  if (unknown_)
    return "?";
  if (terms_.empty())
    return "0";
  std::ostringstream os;
  bool first = true;
  // Highest-degree terms first reads naturally: "s*p + 3".
  for (auto it = terms_.rbegin(); it != terms_.rend(); ++it) {
    const auto &[m, c] = *it;
    int64_t coeff = c;
    if (!first)
      os << (coeff < 0 ? " - " : " + ");
    else if (coeff < 0)
      os << "-";
    if (coeff < 0)
      coeff = -coeff;
    first = false;
    bool printedCoeff = false;
    if (coeff != 1 || m.empty()) {
      os << coeff;
      printedCoeff = true;
    }
    for (size_t i = 0; i < m.size(); ++i) {
      if (printedCoeff || i > 0)
        os << "*";
      os << (m[i] < (int)names.size() ? names[m[i]] : "s" + std::to_string(m[i]));
    }
  }
  return os.str();
}
