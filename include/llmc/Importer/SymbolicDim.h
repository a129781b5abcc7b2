//===- SymbolicDim.h - integer polynomials over named dimensions -*- C++ -*-===//
//
// ONNX graphs exported from PyTorch compute their reshape targets, masks and
// position tables from `Shape` ops at run time. To give every intermediate a
// ranked type (and to decide broadcasting statically) the importer tracks
// each dimension, and each small integer tensor value, as a polynomial over
// symbols such as `sequence_length`. Polynomials are kept in a canonical form
// so equality is structural.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_IMPORTER_SYMBOLICDIM_H
#define LLMC_IMPORTER_SYMBOLICDIM_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmc {

class SymbolicDim {
public:
  using Monomial = std::vector<int>; // sorted symbol ids; empty = constant

  SymbolicDim() = default; // the constant 0
  static SymbolicDim constant(int64_t c);
  static SymbolicDim symbol(int id);
  /// A value nothing is known about (not even that it is >= 0).
  static SymbolicDim unknown();

  bool isUnknown() const { return unknown_; }
  bool isConstant() const;
  std::optional<int64_t> getConstant() const;
  /// True for a single symbol with coefficient 1 and no constant term.
  std::optional<int> getSymbol() const;

  SymbolicDim operator+(const SymbolicDim &o) const;
  SymbolicDim operator-(const SymbolicDim &o) const;
  SymbolicDim operator*(const SymbolicDim &o) const;
  /// Exact division; unknown() when the quotient is not a polynomial.
  SymbolicDim exactDiv(const SymbolicDim &o) const;
  /// Replaces symbol `id` by `value` in this polynomial.
  SymbolicDim substitute(int id, const SymbolicDim &value) const;

  bool operator==(const SymbolicDim &o) const {
    return unknown_ == o.unknown_ && !unknown_ && terms_ == o.terms_;
  }
  bool operator!=(const SymbolicDim &o) const { return !(*this == o); }

  std::string str(const std::vector<std::string> &names) const;
  const std::map<Monomial, int64_t> &terms() const { return terms_; }

private:
  void normalize();
  std::map<Monomial, int64_t> terms_;
  bool unknown_ = false;
};

} // namespace llmc

#endif
