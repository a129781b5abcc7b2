// runtime/api/Calibration.cpp: the Gram matrices accumulated by
// llmc_rt_calibration_observe and written by llmc_calibration_write must
// equal sum_t x_t x_t^T computed here in double (several calls, strided
// inputs, K not a multiple of the tile, more rows than one block), read back
// through include/llmc/CalibrationStats.h.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"

#include "llmc/CalibrationStats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;

extern "C" void _mlir_ciface_llmc_rt_calibration_observe(MemRef<float, 2> *, int64_t, int64_t);
extern "C" int llmc_calibration_write(const char *);
extern "C" void llmc_calibration_reset(void);
extern "C" int64_t llmc_calibration_linears(void);

TEST(Calibration, GramMatricesMatchReference) {
  llmc_calibration_reset();
  struct Call {
    int64_t id, M, K, N;
    unsigned seed;
  };
  // Linear 1 is seen twice (two steps); linear 0 has K = 130 (3 tiles, ragged)
  // and 300 rows (two f32 blocks); linear 3 is never observed.
  std::vector<Call> calls{{1, 5, 64, 8, 1}, {0, 300, 130, 4, 2}, {1, 7, 64, 8, 3}, {2, 1, 3, 2, 4}};
  std::vector<std::vector<double>> ref(3);
  std::vector<int64_t> Ks{130, 64, 3}, tokens{300, 12, 1};
  for (int64_t i = 0; i < 3; ++i)
    ref[i].assign(Ks[i] * Ks[i], 0.0);
  for (const Call &c : calls) {
    const int64_t ld = c.K + 5; // strided rows
    auto x = llmc::test::randomVec(c.M * ld, c.seed);
    auto xd = desc<float, 2>(x.data(), {c.M, c.K}, {ld, 1});
    _mlir_ciface_llmc_rt_calibration_observe(&xd, c.id, c.N);
    for (int64_t t = 0; t < c.M; ++t)
      for (int64_t i = 0; i < c.K; ++i)
        for (int64_t j = 0; j < c.K; ++j)
          ref[c.id][i * c.K + j] += double(x[t * ld + i]) * x[t * ld + j];
  }
  // Make id 3 exist without observing it: the file then says K = 0.
  auto one = llmc::test::randomVec(4, 9);
  auto od = desc<float, 2>(one.data(), {0, 4}, {4, 1});
  _mlir_ciface_llmc_rt_calibration_observe(&od, 4, 1);
  EXPECT_EQ(llmc_calibration_linears(), 5);

  std::string path = testing::TempDir() + "/llmc-calib-test.bin";
  ASSERT_EQ(llmc_calibration_write(path.c_str()), 0);
  llmc::calib::Reader r;
  ASSERT_EQ(r.open(path), "");
  ASSERT_EQ(r.entries().size(), 5u);
  for (int64_t i = 0; i < 3; ++i) {
    const auto &e = r.entries()[i];
    EXPECT_EQ(e.K, Ks[i]);
    EXPECT_EQ(e.tokens, tokens[i]);
    std::vector<double> H;
    ASSERT_TRUE(r.readGram(size_t(i), H));
    for (int64_t k = 0; k < e.K * e.K; ++k)
      ASSERT_NEAR(H[k], ref[i][k], 1e-5 * (1 + std::fabs(ref[i][k]))) << "linear " << i << " element " << k;
  }
  EXPECT_EQ(r.entries()[0].N, 4);
  EXPECT_EQ(r.entries()[3].K, 0); // never observed
  EXPECT_EQ(r.entries()[4].K, 4); // observed with no rows
  EXPECT_EQ(r.entries()[4].tokens, 0);
  std::remove(path.c_str());
  llmc_calibration_reset();
  EXPECT_EQ(llmc_calibration_linears(), 0);
}

TEST(CalibrationStats, RejectsOtherFiles) {
  std::string path = testing::TempDir() + "/llmc-calib-bad.bin";
  std::FILE *f = std::fopen(path.c_str(), "wb");
  std::fputs("not statistics", f);
  std::fclose(f);
  llmc::calib::Reader r;
  EXPECT_NE(r.open(path).find("not a calibration statistics file"), std::string::npos);
  llmc::calib::Reader missing;
  EXPECT_NE(missing.open(path + ".none").find("cannot open"), std::string::npos);
  std::remove(path.c_str());
}
