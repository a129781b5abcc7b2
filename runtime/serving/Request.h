//===- Request.h - what a client asks of the scheduler ----------*- C++ -*-===//
#ifndef LLMC_SERVING_REQUEST_H
#define LLMC_SERVING_REQUEST_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace llmc::serving {

/// Per-request sampling parameters.
struct SamplingParams {
  float temperature = 0.f; ///< <= 0: greedy
  int32_t topK = 0;        ///< <= 0: off
  float topP = 1.f;        ///< >= 1: off
  uint64_t seed = 0;
  int32_t maxTokens = 16;  ///< <= 0: until the end token or the context is full
  /// Generation stops before the first occurrence of any of these in the
  /// detokenized output; the stop string itself is not returned.
  std::vector<std::string> stop;
  bool ignoreEos = false;  ///< do not stop at end-of-sequence tokens
};

enum class FinishReason {
  None,      ///< still running
  Stop,      ///< end token or stop string
  Length,    ///< max_tokens, the context or the KV budget reached
  Cancelled, ///< cancelled by the client or the engine shut down
  Error      ///< the executor failed on this sequence (see StreamEvent::error)
};

const char *finishReasonName(FinishReason r);

/// Output of a request since the previous event.
struct StreamEvent {
  uint64_t id = 0;
  std::vector<int32_t> tokens; ///< generated token ids
  std::string text;            ///< their text (stop strings and a trailing partial UTF-8 character held back)
  FinishReason finish = FinishReason::None; ///< set on the last event of a request
  std::string error;
  int32_t promptTokens = 0;
  int32_t completionTokens = 0; ///< generated so far (the end token not counted)
};

/// Called on the scheduler thread; must not block for long or call back into
/// the scheduler's blocking functions.
using StreamCallback = std::function<void(const StreamEvent &)>;

} // namespace llmc::serving

#endif
