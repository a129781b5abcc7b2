// RUN: llmc-opt %s --llmc-externalize-weights | FileCheck %s

// Blob-initialized globals lose their initializer (external symbols the
// weights object defines); inline dense globals stay as they are.
// CHECK: module attributes {llmc.weights = {llmc_weight_0 = dense_resource<w> : tensor<2xf32>}}
// CHECK: memref.global constant @llmc_weight_0 : memref<2xf32>
// CHECK: memref.global "private" constant @small : memref<2xf32> = dense<[1.000000e+00, 2.000000e+00]>
// CHECK: memref.get_global @llmc_weight_0
module {
  memref.global "private" constant @w : memref<2xf32> = dense_resource<w>
  memref.global "private" constant @small : memref<2xf32> = dense<[1.0, 2.0]>
  func.func @f() -> memref<2xf32> {
    %0 = memref.get_global @w : memref<2xf32>
    return %0 : memref<2xf32>
  }
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040"
    }
  }
#-}
