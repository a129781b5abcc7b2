// RUN: llmc-opt %s --pass-pipeline='builtin.module(llmc-plan-memory,canonicalize)' | FileCheck %s

// a dies when c is made, so c reuses a's bytes; b is live with both.
// CHECK-LABEL: func.func @reuse
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1024:.*]] = arith.constant 1024 : index
// The arena is freed after the last use of b (its last buffer).
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64, bufferization.manual_deallocation} : memref<2048xi8>
// CHECK: %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<2048xi8> to memref<256xf32>
// CHECK: %[[B:.*]] = memref.view %[[ARENA]][%[[C1024]]][] : memref<2048xi8> to memref<256xf32>
// CHECK: %[[C:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<2048xi8> to memref<256xf32>
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %[[B]], %arg1
// CHECK-NEXT: memref.dealloc %[[ARENA]] {bufferization.manual_deallocation} : memref<2048xi8>
// CHECK-NEXT: call @llmc_rt_note_activation_memory(%{{.*}}, %{{.*}}) : (i64, i64) -> ()
// CHECK-NEXT: return
func.func @reuse(%x: memref<256xf32>, %out: memref<256xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<256xf32>
  memref.copy %x, %a : memref<256xf32> to memref<256xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<256xf32>
  memref.copy %a, %b : memref<256xf32> to memref<256xf32>
  %c = memref.alloc() {alignment = 64 : i64} : memref<256xf32>
  memref.copy %b, %c : memref<256xf32> to memref<256xf32>
  memref.copy %c, %out : memref<256xf32> to memref<256xf32>
  memref.copy %b, %out : memref<256xf32> to memref<256xf32>
  return
}

// Dynamic sizes: offsets are computed at run time from the argument's dims
// (the size computation moves to the top of the function).
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[N:.*]] = memref.dim %arg0, %{{.*}}
// CHECK: arith.maxui
// CHECK: %[[ARENA:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64, bufferization.manual_deallocation} : memref<?xi8>
// CHECK: memref.view %[[ARENA]][%{{.*}}][%[[N]]] : memref<?xi8> to memref<?xf32>
// CHECK: memref.view %[[ARENA]][%{{.*}}][%[[N]]] : memref<?xi8> to memref<?xf32>
func.func @dynamic(%x: memref<?xf32>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %a : memref<?xf32> to memref<?xf32>
  %b = memref.alloc(%n) : memref<?xf32>
  memref.copy %a, %b : memref<?xf32> to memref<?xf32>
  memref.copy %b, %out : memref<?xf32> to memref<?xf32>
  return
}

// Sizes read from memory cannot move to the top: the buffers after the read
// get an arena of their own, allocated after it.
// CHECK-LABEL: func.func @size_from_memory
// CHECK: %[[N:.*]] = memref.load
// CHECK: %[[ARENA:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64, bufferization.manual_deallocation} : memref<?xi8>
// CHECK-COUNT-2: memref.view %[[ARENA]]
func.func @size_from_memory(%sizes: memref<1xindex>, %y: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.load %sizes[%c0] : memref<1xindex>
  %d = memref.alloc(%n) : memref<?xf32>
  memref.copy %y, %d : memref<?xf32> to memref<?xf32>
  %d2 = memref.alloc(%n) : memref<?xf32>
  memref.copy %d, %d2 : memref<?xf32> to memref<?xf32>
  memref.copy %d2, %y : memref<?xf32> to memref<?xf32>
  return
}

// Two segments (the second's sizes are read from memory): the first arena
// is freed as soon as its buffers are dead, before the second is allocated.
// CHECK-LABEL: func.func @two_segments
// CHECK: %[[A1:.*]] = memref.alloc(%{{.*}}) {{.*}}bufferization.manual_deallocation
// CHECK: memref.copy %{{.*}}, %arg2
// CHECK-NEXT: memref.dealloc %[[A1]] {bufferization.manual_deallocation}
// CHECK: memref.load
// CHECK: %[[A2:.*]] = memref.alloc(%{{.*}}) {{.*}}bufferization.manual_deallocation
// CHECK: memref.dealloc %[[A2]] {bufferization.manual_deallocation}
// CHECK: call @llmc_rt_note_activation_memory
func.func @two_segments(%x: memref<?xf32>, %sizes: memref<1xindex>, %y: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %a : memref<?xf32> to memref<?xf32>
  %b = memref.alloc(%n) : memref<?xf32>
  memref.copy %a, %b : memref<?xf32> to memref<?xf32>
  memref.copy %b, %y : memref<?xf32> to memref<?xf32>
  %m = memref.load %sizes[%c0] : memref<1xindex>
  %d = memref.alloc(%m) : memref<?xf32>
  memref.copy %y, %d : memref<?xf32> to memref<?xf32>
  %d2 = memref.alloc(%m) : memref<?xf32>
  memref.copy %d, %d2 : memref<?xf32> to memref<?xf32>
  memref.copy %d2, %y : memref<?xf32> to memref<?xf32>
  return
}

// Negative: a returned buffer and a buffer made inside a loop keep their
// own allocations (and with fewer than two plannable buffers in a segment
// nothing changes).
// CHECK-LABEL: func.func @not_planned
// CHECK-NOT: memref.view
// CHECK-COUNT-2: memref.alloc() : memref<4xf32>
// CHECK-NOT: memref.view
func.func @not_planned(%x: memref<4xf32>, %lb: index, %ub: index) -> memref<4xf32> {
  %c1 = arith.constant 1 : index
  %r = memref.alloc() : memref<4xf32>
  memref.copy %x, %r : memref<4xf32> to memref<4xf32>
  scf.for %i = %lb to %ub step %c1 {
    %t = memref.alloc() : memref<4xf32>
    memref.copy %x, %t : memref<4xf32> to memref<4xf32>
  }
  return %r : memref<4xf32>
}
