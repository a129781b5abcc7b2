//===- LowerFunctionABI.cpp - memref calling convention of @main ----------===//
//
// Generated libraries export one entry, `llmc_main`, taking a memref
// descriptor per input, per KV-cache slot and per output (C interface:
// `_mlir_ciface_llmc_main(desc*...)`). The runtime learns the order, dtypes
// and symbolic dims from the JSON manifest this pass records.
//
//===----------------------------------------------------------------------===//
#include "../ONNXToLinalg/LoweringUtils.h"
#include "llmc/Conversion/Passes.h"
#include "llmc/Dialect/LLM/LLMDialect.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"

namespace llmc {
#define GEN_PASS_DEF_LOWERFUNCTIONABI
#include "llmc/Conversion/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

std::string dtypeName(Type t) {
  if (t.isF32()) return "f32";
  if (t.isF64()) return "f64";
  if (t.isF16()) return "f16";
  if (t.isBF16()) return "bf16";
  if (t.isInteger(1)) return "bool";
  if (auto it = dyn_cast<IntegerType>(t))
    return (it.isUnsigned() ? "u" : "i") + std::to_string(it.getWidth());
  return "unknown";
}

llvm::json::Array dimsJson(ArrayAttr dims, RankedTensorType type) {
  llvm::json::Array out;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (!type.isDynamicDim(i))
      out.push_back(std::to_string(type.getDimSize(i)));
    else if (dims && i < (int64_t)dims.size())
      out.push_back(cast<StringAttr>(dims[i]).str());
    else
      out.push_back("?");
  }
  return out;
}


/// Identifiers (symbol names) in a dim expression such as "2*s + past".
SmallVector<std::string> dimSymbols(StringRef expr) {
  SmallVector<std::string> out;
  size_t i = 0;
  while (i < expr.size()) {
    if (isalpha((unsigned char)expr[i]) || expr[i] == '_') {
      size_t j = i;
      while (j < expr.size() && expr[j] != ' ' && expr[j] != '*' && expr[j] != '+' &&
             expr[j] != '-')
        ++j;
      out.push_back(expr.slice(i, j).str());
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

/// Calls llmc_rt_rope_store_f32(x, cos, sin, dst, interleaved): dst =
/// rotary(x) with the tables (rank <= 4, broadcasting) as 4-D views. With an
/// int8 `dst` (--kv-cache=int8) it calls llmc_rt_kv_store_q8(x, cos, sin,
/// dst, rope, interleaved) instead, which quantizes the (rotated if cos is
/// set; x stands in for absent tables) rows into codes + a scale, and with a
/// bf16 `dst` (--kv-cache=bf16) llmc_rt_kv_store_bf16 (same arguments),
/// which rounds them to bf16.
void storeRows(OpBuilder &b, Location loc, Value x, Value cos, Value sin, Value dst,
               bool interleaved) {
  auto f32 = b.getF32Type();
  auto anyOf = [&](Type et) {
    return lowering::stridedMemRefType(
        RankedTensorType::get(SmallVector<int64_t>(4, ShapedType::kDynamic), et));
  };
  auto any4 = anyOf(f32);
  const Type dstElement = cast<MemRefType>(dst.getType()).getElementType();
  const bool q8 = dstElement.isInteger(8), bf16 = dstElement.isBF16();
  const bool rope = bool(cos);
  if (!rope)
    cos = sin = x;
  auto view4 = [&](Value t) {
    auto tt = cast<RankedTensorType>(t.getType());
    if (tt.getRank() < 4) {
      SmallVector<int64_t> shape(4 - tt.getRank(), 1);
      shape.append(tt.getShape().begin(), tt.getShape().end());
      SmallVector<Value> dims(4 - tt.getRank(), lowering::indexConst(b, loc, 1));
      for (int64_t i = 0; i < tt.getRank(); ++i)
        dims.push_back(lowering::dimOf(b, loc, t, i));
      t = lowering::reshapeTo(b, loc, t, RankedTensorType::get(shape, f32), dims);
      tt = cast<RankedTensorType>(t.getType());
    }
    Value m = bufferization::ToBufferOp::create(b, loc, lowering::stridedMemRefType(tt), t,
                                                /*readOnly=*/true);
    return memref::CastOp::create(b, loc, any4, m).getResult();
  };
  SmallVector<Value> args{
      view4(x), view4(cos), view4(sin),
      memref::CastOp::create(b, loc, anyOf(dstElement), dst).getResult()};
  if (q8 || bf16)
    args.push_back(arith::ConstantIntOp::create(b, loc, b.getI32Type(), rope));
  args.push_back(arith::ConstantIntOp::create(b, loc, b.getI32Type(), interleaved));
  auto module = dst.getParentRegion()->getParentOfType<ModuleOp>();
  StringRef name =
      q8 ? "llmc_rt_kv_store_q8" : (bf16 ? "llmc_rt_kv_store_bf16" : "llmc_rt_rope_store_f32");
  auto fn = module.lookupSymbol<func::FuncOp>(name);
  if (!fn) {
    OpBuilder mb(module.getBodyRegion());
    fn = func::FuncOp::create(mb, module.getLoc(), name,
                              mb.getFunctionType(llvm::map_to_vector(args, [](Value v) {
                                return v.getType();
                              }),
                                                 {}));
    fn.setPrivate();
    fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }
  func::CallOp::create(b, loc, fn, args);
}

struct LowerFunctionABIPass
    : public llmc::impl::LowerFunctionABIBase<LowerFunctionABIPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>("main");
    if (!main) {
      module.emitError("no func.func @main to lower");
      return signalPassFailure();
    }
    std::optional<llvm::json::Object> manifest = lowerEntry(main, "llmc_main");
    if (!manifest)
      return signalPassFailure();
    // The batch step (llmc-batch-step), if any: same convention, own entry.
    if (auto step = module.lookupSymbol<func::FuncOp>("step")) {
      std::optional<llvm::json::Object> stepManifest = lowerEntry(step, "llmc_step");
      if (!stepManifest)
        return signalPassFailure();
      (*manifest)["step"] = std::move(*stepManifest);
    }
    (*manifest)["abi_version"] = 1;
    if (auto src = module->getAttrOfType<StringAttr>("llmc.source"))
      (*manifest)["source"] = src.str();
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::json::Value(std::move(*manifest));
    module->setAttr("llmc.manifest", StringAttr::get(&getContext(), text));
  }

  /// Builds `entry` (memref arguments, C interface) from `main`, erases
  /// `main` and returns its manifest part: entry, inputs, cache, outputs.
  std::optional<llvm::json::Object> lowerEntry(func::FuncOp main, StringRef entryName) {
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    FunctionType ft = main.getFunctionType();

    // Classify arguments and results.
    SmallVector<unsigned> plainArgs, cacheArgs, plainResults;
    llvm::DenseSet<unsigned> cacheResults;
    for (unsigned i = 0; i < ft.getNumInputs(); ++i)
      (main.getArgAttr(i, "llmc.cache_slot") ? cacheArgs : plainArgs).push_back(i);
    for (unsigned i = 0; i < ft.getNumResults(); ++i) {
      if (main.getResultAttr(i, "llmc.cache_slot"))
        cacheResults.insert(i);
      else
        plainResults.push_back(i);
    }
    for (Type t : ft.getInputs())
      if (!isa<RankedTensorType>(t)) {
        main.emitError("@main arguments must be ranked tensors");
        return std::nullopt;
      }

    SmallVector<Type> newTypes;
    for (unsigned i : plainArgs) {
      auto t = cast<RankedTensorType>(ft.getInput(i));
      newTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
    }
    for (unsigned i : cacheArgs)
      newTypes.push_back(lowering::stridedMemRefType(cast<RankedTensorType>(ft.getInput(i))));
    for (unsigned i : plainResults) {
      auto t = cast<RankedTensorType>(ft.getResult(i));
      newTypes.push_back(MemRefType::get(t.getShape(), t.getElementType()));
    }

    b.setInsertionPoint(main);
    auto entry = func::FuncOp::create(b, main.getLoc(), entryName,
                                      b.getFunctionType(newTypes, {}));
    entry->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    Block *body = entry.addEntryBlock();
    b.setInsertionPointToStart(body);

    // Map old arguments to tensors read from the new buffers.
    IRMapping map;
    unsigned pos = 0;
    for (unsigned i : plainArgs) {
      Value m = body->getArgument(pos++);
      auto tt = cast<RankedTensorType>(ft.getInput(i));
      // KV pools of the batch step are written by paged attention.
      bool pool = bool(main.getArgAttr(i, "llmc.kv_pool"));
      Value t = bufferization::ToTensorOp::create(b, main.getLoc(), tt, m,
                                                  /*restrict=*/true, /*writable=*/pool);
      map.map(main.getArgument(i), t);
    }
    DenseMap<Value, Value> cacheMemref; // old cache arg -> new view arg
    for (unsigned i : cacheArgs)
      cacheMemref[main.getArgument(i)] = body->getArgument(pos++);
    unsigned firstOut = pos;

    // Clone the body, expanding kv_cache_append in place.
    Block &old = main.getBody().front();
    bool ok = true;
    for (Operation &op : old.without_terminator()) {
      auto append = dyn_cast<llm::KVCacheAppendOp>(op);
      if (append && cacheMemref.count(append.getPast())) {
        Location loc = append.getLoc();
        Value past = cacheMemref[append.getPast()];
        auto pastType = cast<MemRefType>(past.getType());
        int64_t rank = pastType.getRank(), axis = append.getAxis();
        Value upd = map.lookupOrDefault(append.getUpdate());
        auto meta = memref::ExtractStridedMetadataOp::create(b, loc, past);
        SmallVector<OpFoldResult> sizes, strides;
        Value pLen, sLen = tensor::DimOp::create(b, loc, upd, axis);
        for (int64_t d = 0; d < rank; ++d) {
          Value sz = meta.getSizes()[d];
          if (d == axis) {
            pLen = sz;
            sz = arith::AddIOp::create(b, loc, sz, sLen);
          }
          if (d != axis && !pastType.isDynamicDim(d))
            sizes.push_back(b.getIndexAttr(pastType.getDimSize(d)));
          else
            sizes.push_back(sz);
          strides.push_back(meta.getStrides()[d]);
        }
        auto full = memref::ReinterpretCastOp::create(
            b, loc, pastType, meta.getBaseBuffer(), OpFoldResult(meta.getOffset()),
            sizes, strides);
        SmallVector<OpFoldResult> offs(rank, b.getIndexAttr(0)), subSizes = sizes,
            ones(rank, b.getIndexAttr(1));
        offs[axis] = pLen;
        subSizes[axis] = sLen;
        auto region = memref::SubViewOp::create(b, loc, full, offs, subSizes, ones);
        // --kv-cache=int8 / bf16: f32 rows into a slot of int8 / bf16 rows.
        const bool narrow = pastType.getElementType().isInteger(8) ||
                            (pastType.getElementType().isBF16() &&
                             cast<RankedTensorType>(upd.getType()).getElementType().isF32());
        if (append.getCos() || narrow) {
          // llmc-fuse-rope: the new keys are rotated on their way into the
          // free rows (runtime/kernels/RopeStore.cpp), never materialized;
          // --kv-cache=int8 / bf16: the new rows are quantized or rounded on
          // their way in (runtime/kernels/KVCacheStore.cpp).
          if (rank != 4) {
            append.emitError("a rotating, int8 or bf16 KV-cache append needs a 4-D cache slot");
            ok = false;
            continue;
          }
          Value cos = append.getCos() ? map.lookupOrDefault(append.getCos()) : Value();
          Value sin = append.getSin() ? map.lookupOrDefault(append.getSin()) : Value();
          storeRows(b, loc, upd, cos, sin, region.getResult(), append.getRopeInterleaved());
        } else {
          auto mat = bufferization::MaterializeInDestinationOp::create(
              b, loc, upd, region.getResult());
          mat.setRestrict(true);
          mat.setWritable(true);
        }
        auto resultType = cast<RankedTensorType>(append.getType());
        Value t = bufferization::ToTensorOp::create(b, loc, resultType, full,
                                                    /*restrict=*/true, /*writable=*/false);
        map.map(append.getResult(), t);
        continue;
      }
      // Shape reads of a slot become reads of the view's dims.
      if (auto dim = dyn_cast<tensor::DimOp>(op); dim && cacheMemref.count(dim.getSource())) {
        Value d = memref::DimOp::create(b, dim.getLoc(), cacheMemref[dim.getSource()],
                                        map.lookupOrDefault(dim.getIndex()));
        map.map(dim.getResult(), d);
        continue;
      }
      for (Value operand : op.getOperands())
        if (cacheMemref.count(operand)) {
          op.emitError("a KV-cache slot may only feed llm.kv_cache_append or shape reads");
          ok = false;
        }
      b.clone(op, map);
    }
    if (!ok)
      return std::nullopt;
    auto ret = cast<func::ReturnOp>(old.getTerminator());
    unsigned outPos = firstOut;
    for (unsigned i : plainResults) {
      Value t = map.lookupOrDefault(ret.getOperand(i));
      auto mat = bufferization::MaterializeInDestinationOp::create(
          b, ret.getLoc(), t, body->getArgument(outPos++));
      mat.setRestrict(true);
      mat.setWritable(true);
    }
    func::ReturnOp::create(b, ret.getLoc());

    // Outputs whose size depends on input *values* (not shapes) cannot be
    // allocated by the caller from the manifest: say so at compile time.
    llvm::StringSet<> known;
    for (unsigned i = 0; i < ft.getNumInputs(); ++i)
      if (auto dims = main.getArgAttrOfType<ArrayAttr>(i, "llmc.dims"))
        for (Attribute d : dims)
          for (auto &sym : dimSymbols(cast<StringAttr>(d).getValue()))
            known.insert(sym);
    for (unsigned i : plainResults) {
      auto dims = main.getResultAttrOfType<ArrayAttr>(i, "llmc.dims");
      auto t = cast<RankedTensorType>(ft.getResult(i));
      for (int64_t d = 0; d < t.getRank(); ++d) {
        if (!t.isDynamicDim(d))
          continue;
        StringRef expr = dims && d < (int64_t)dims.size() ? cast<StringAttr>(dims[d]).getValue() : "?";
        bool computable = expr != "?";
        for (auto &sym : dimSymbols(expr))
          computable &= known.contains(sym);
        if (!computable) {
          auto name = main.getResultAttrOfType<StringAttr>(i, "llmc.name");
          main.emitWarning() << "dim " << d << " of output '" << (name ? name.str() : "?")
                             << "' depends on input values, not only on input shapes; "
                                "llmc_graph_run will refuse to run the model";
          break;
        }
      }
    }

    // Manifest.
    llvm::json::Array inputs, outputs, cache;
    for (unsigned i : plainArgs)
      inputs.push_back(llvm::json::Object{
          {"name", main.getArgAttrOfType<StringAttr>(i, "llmc.name")
                       ? main.getArgAttrOfType<StringAttr>(i, "llmc.name").str()
                       : "input" + std::to_string(i)},
          {"dtype", dtypeName(cast<RankedTensorType>(ft.getInput(i)).getElementType())},
          {"dims", dimsJson(main.getArgAttrOfType<ArrayAttr>(i, "llmc.dims"),
                            cast<RankedTensorType>(ft.getInput(i)))}});
    // Paged KV pools of the batch step: say which cache slot each one holds.
    for (auto [pos, i] : llvm::enumerate(plainArgs))
      if (auto slot = main.getArgAttrOfType<IntegerAttr>(i, "llmc.kv_pool"))
        inputs[pos].getAsObject()->insert({"kv_pool", slot.getInt()});
    for (unsigned i : cacheArgs) {
      int64_t slot = main.getArgAttrOfType<IntegerAttr>(i, "llmc.cache_slot").getInt();
      std::string outName;
      for (unsigned r : cacheResults)
        if (main.getResultAttrOfType<IntegerAttr>(r, "llmc.cache_slot").getInt() == slot)
          if (auto n = main.getResultAttrOfType<StringAttr>(r, "llmc.name"))
            outName = n.str();
      auto t = cast<RankedTensorType>(ft.getInput(i));
      cache.push_back(llvm::json::Object{
          {"slot", slot},
          {"input", main.getArgAttrOfType<StringAttr>(i, "llmc.name").str()},
          {"output", outName},
          {"axis", main.getArgAttrOfType<IntegerAttr>(i, "llmc.cache_axis")
                       ? main.getArgAttrOfType<IntegerAttr>(i, "llmc.cache_axis").getInt()
                       : 2},
          {"dtype", dtypeName(t.getElementType())},
          {"dims", dimsJson(main.getArgAttrOfType<ArrayAttr>(i, "llmc.dims"), t)}});
    }
    for (unsigned i : plainResults)
      outputs.push_back(llvm::json::Object{
          {"name", main.getResultAttrOfType<StringAttr>(i, "llmc.name")
                       ? main.getResultAttrOfType<StringAttr>(i, "llmc.name").str()
                       : "output" + std::to_string(i)},
          {"dtype", dtypeName(cast<RankedTensorType>(ft.getResult(i)).getElementType())},
          {"dims", dimsJson(main.getResultAttrOfType<ArrayAttr>(i, "llmc.dims"),
                            cast<RankedTensorType>(ft.getResult(i)))}});
    llvm::json::Object manifest{{"entry", entryName},
                                {"inputs", std::move(inputs)},
                                {"cache", std::move(cache)},
                                {"outputs", std::move(outputs)}};
    main.erase();
    return manifest;
  }
};
} // namespace
