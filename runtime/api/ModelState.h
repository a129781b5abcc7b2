//===- ModelState.h - the opened model, shared by the C API files -*- C++ -*-===//
#ifndef LLMC_RUNTIME_MODELSTATE_H
#define LLMC_RUNTIME_MODELSTATE_H

#include "llmc/llmc.h"

#include "Manifest.h"
#include "../tokenizer/Tokenizer.h"

#include <memory>
#include <string>

struct llmc_model {
  llmc::rt::Manifest manifest;
  std::unique_ptr<llmc::rt::Tokenizer> tokenizer;
  bool causal = false;
  int inputIds = -1, attentionMask = -1, positionIds = -1, logits = -1;
  bool logitsLastOnly = false; // `logits` is [batch, 1, vocab] (--logits=last)
  int32_t vocab = 0;
};

namespace llmc::rt {
/// Records `msg` as the calling thread's llmc_last_error() and returns `s`.
llmc_status setError(llmc_status s, std::string msg);
/// 64-byte aligned memory (free with std::free).
void *alignedAlloc(size_t bytes);
} // namespace llmc::rt

#endif
