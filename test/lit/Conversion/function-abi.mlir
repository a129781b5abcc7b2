// RUN: llmc-opt %s --llmc-lower-function-abi | FileCheck %s

// Inputs become read-only buffers, results are written into caller buffers,
// and the KV-cache slot is extended in place: the new entries are written
// behind the past ones in the runtime's buffer (no copy of the past).
// CHECK: module attributes {llmc.manifest = "{\22abi_version\22:1,\22cache\22:[{\22axis\22:2,\22dims\22:[\221\22,\222\22,\22p\22,\224\22],\22dtype\22:\22f32\22,\22input\22:\22past.0\22,\22output\22:\22present.0\22,\22slot\22:0}],\22entry\22:\22llmc_main\22,\22inputs\22:[{\22dims\22:[\221\22,\222\22,\22s\22,\224\22],\22dtype\22:\22f32\22,\22name\22:\22new\22}],\22outputs\22:[{\22dims\22:[\221\22,\222\22,\22p + s\22,\224\22],\22dtype\22:\22f32\22,\22name\22:\22y\22}]}"}
// CHECK-LABEL: func.func @llmc_main(
// CHECK-SAME: %[[NEW:.*]]: memref<1x2x?x4xf32>, %[[PAST:.*]]: memref<1x2x?x4xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[OUT:.*]]: memref<1x2x?x4xf32>)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[NEW]] restrict
// CHECK: %{{.*}}, %[[OFF:.*]], %[[SIZES:.*]]:4, %[[STRIDES:.*]]:4 = memref.extract_strided_metadata %[[PAST]]
// CHECK: %[[FULL:.*]] = memref.reinterpret_cast
// CHECK: %[[REGION:.*]] = memref.subview %[[FULL]]
// CHECK: bufferization.materialize_in_destination %[[T]] in restrict writable %[[REGION]]
// CHECK: %[[ALL:.*]] = bufferization.to_tensor %[[FULL]] restrict
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[OUT]]
// CHECK-NOT: func.func @main
module {
  func.func @main(%new: tensor<1x2x?x4xf32> {llmc.name = "new", llmc.dims = ["1", "2", "s", "4"]},
                  %past: tensor<1x2x?x4xf32> {llmc.name = "past.0", llmc.dims = ["1", "2", "p", "4"], llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64})
      -> (tensor<1x2x?x4xf32> {llmc.name = "present.0", llmc.cache_slot = 0 : i64},
          tensor<1x2x?x4xf32> {llmc.name = "y", llmc.dims = ["1", "2", "p + s", "4"]}) {
    %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
    %y = "onnx.Add"(%all, %all) : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
    return %all, %y : tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>
  }
}
