// Manifest parsing and symbolic-dim evaluation used to validate inputs and
// size outputs of generated libraries.
#include "api/Manifest.h"

#include <gtest/gtest.h>

using namespace llmc::rt;

TEST(EvalDim, ConstantsSymbolsAndPolynomials) {
  std::map<std::string, int64_t> b{{"s", 7}, {"past_sequence_length", 5}, {"n", 3}};
  EXPECT_EQ(evalDim("576", b), 576);
  EXPECT_EQ(evalDim("s", b), 7);
  EXPECT_EQ(evalDim("past_sequence_length + s", b), 12);
  EXPECT_EQ(evalDim("2*s*n - 4", b), 38);
  EXPECT_EQ(evalDim("-s + 10", b), 3);
}

TEST(EvalDim, UnboundOrMalformedIsAnError) {
  std::map<std::string, int64_t> b{{"s", 7}};
  EXPECT_FALSE(evalDim("t", b).has_value());
  EXPECT_FALSE(evalDim("s +", b).has_value());
  EXPECT_FALSE(evalDim("?", b).has_value());
}

TEST(Manifest, ParsesInputsOutputsAndCache) {
  Manifest m;
  const char *json = R"({"abi_version":1,"entry":"llmc_main",
    "inputs":[{"name":"input_ids","dtype":"i64","dims":["1","s"]}],
    "cache":[{"slot":0,"input":"past.0","output":"present.0","axis":2,"dtype":"f32",
              "dims":["1","3","p","64"]}],
    "outputs":[{"name":"logits","dtype":"f32","dims":["1","s","49152"]}]})";
  ASSERT_EQ(m.parse(json), "");
  ASSERT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].dtype, LLMC_DTYPE_I64);
  ASSERT_EQ(m.cache.size(), 1u);
  EXPECT_EQ(m.cache[0].axis, 2);
  EXPECT_EQ(m.cache[0].outputName, "present.0");
  EXPECT_EQ(m.outputs[0].dims[2], "49152");
}

TEST(Manifest, RejectsOtherAbiAndBadJson) {
  Manifest a, b, c;
  EXPECT_NE(a.parse(R"({"abi_version":2,"inputs":[],"outputs":[],"cache":[]})"), "");
  EXPECT_NE(b.parse("{not json"), "");
  EXPECT_NE(c.parse(R"({"abi_version":1,"inputs":[{"name":"x","dtype":"c64","dims":[]}],"outputs":[],"cache":[]})"), "");
}
