//===- ONNXOps.td - faithful ONNX import dialect -----------*- tablegen -*-===//
//
// One op per ONNX operator that llmc supports. The importer creates these ops
// with fully inferred result types (static dims, or `?` for symbolic ones),
// keeps ONNX attribute names and value kinds, and turns omitted optional
// inputs into `onnx.NoValue`. Raising patterns rewrite LLM subgraphs of these
// ops into the `llm` dialect; whatever remains is lowered generically to
// linalg/tensor/arith (see lib/Conversion/ONNXToLinalg).
//
//===----------------------------------------------------------------------===//

#ifndef LLMC_DIALECT_ONNX_OPS
#define LLMC_DIALECT_ONNX_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def ONNX_Dialect : Dialect {
  let name = "onnx";
  let summary = "A faithful import of ONNX operators (default domain).";
  let description = [{
    Ops mirror ONNX operators one to one: operand order, attribute names and
    semantics are ONNX's (https://onnx.ai/onnx/operators/). Result types are
    ranked tensors whose shapes the importer inferred symbolically. Missing
    optional operands are `onnx.NoValue` (type `none`).
  }];
  let cppNamespace = "::llmc::onnx";
}

class ONNX_Op<string mnemonic, list<Trait> traits = []>
    : Op<ONNX_Dialect, mnemonic, !listconcat(traits, [Pure])>;

def ONNX_TensorOrNone : AnyTypeOf<[AnyRankedTensor, NoneType]>;

def ONNX_NoValueOp : ONNX_Op<"NoValue"> {
  let summary = "An omitted optional input.";
  let results = (outs NoneType:$none);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class ONNX_UnaryOp<string name> : ONNX_Op<name> {
  let summary = "ONNX " # name # " (elementwise).";
  let arguments = (ins AnyRankedTensor:$X);
  let results = (outs AnyRankedTensor:$Y);
}

class ONNX_BinaryOp<string name> : ONNX_Op<name> {
  let summary = "ONNX " # name # " (elementwise, multidirectional broadcast).";
  let arguments = (ins AnyRankedTensor:$A, AnyRankedTensor:$B);
  let results = (outs AnyRankedTensor:$C);
}

class ONNX_VariadicOp<string name> : ONNX_Op<name> {
  let summary = "ONNX " # name # " (elementwise over N inputs, broadcast).";
  let arguments = (ins Variadic<AnyRankedTensor>:$data_0);
  let results = (outs AnyRankedTensor:$result);
}

def ONNX_AbsOp : ONNX_UnaryOp<"Abs">;
def ONNX_NegOp : ONNX_UnaryOp<"Neg">;
def ONNX_SqrtOp : ONNX_UnaryOp<"Sqrt">;
def ONNX_ReciprocalOp : ONNX_UnaryOp<"Reciprocal">;
def ONNX_ExpOp : ONNX_UnaryOp<"Exp">;
def ONNX_LogOp : ONNX_UnaryOp<"Log">;
def ONNX_TanhOp : ONNX_UnaryOp<"Tanh">;
def ONNX_SigmoidOp : ONNX_UnaryOp<"Sigmoid">;
def ONNX_ReluOp : ONNX_UnaryOp<"Relu">;
def ONNX_CosOp : ONNX_UnaryOp<"Cos">;
def ONNX_SinOp : ONNX_UnaryOp<"Sin">;
def ONNX_ErfOp : ONNX_UnaryOp<"Erf">;
def ONNX_FloorOp : ONNX_UnaryOp<"Floor">;
def ONNX_CeilOp : ONNX_UnaryOp<"Ceil">;
def ONNX_NotOp : ONNX_UnaryOp<"Not">;
def ONNX_IdentityOp : ONNX_UnaryOp<"Identity">;
def ONNX_SoftsignOp : ONNX_UnaryOp<"Softsign">;
def ONNX_SoftplusOp : ONNX_UnaryOp<"Softplus">;
def ONNX_SignOp : ONNX_UnaryOp<"Sign">;

def ONNX_AddOp : ONNX_BinaryOp<"Add">;
def ONNX_SubOp : ONNX_BinaryOp<"Sub">;
def ONNX_MulOp : ONNX_BinaryOp<"Mul">;
def ONNX_DivOp : ONNX_BinaryOp<"Div">;
def ONNX_PowOp : ONNX_BinaryOp<"Pow">;
def ONNX_EqualOp : ONNX_BinaryOp<"Equal">;
def ONNX_LessOp : ONNX_BinaryOp<"Less">;
def ONNX_LessOrEqualOp : ONNX_BinaryOp<"LessOrEqual">;
def ONNX_GreaterOp : ONNX_BinaryOp<"Greater">;
def ONNX_GreaterOrEqualOp : ONNX_BinaryOp<"GreaterOrEqual">;
def ONNX_AndOp : ONNX_BinaryOp<"And">;
def ONNX_OrOp : ONNX_BinaryOp<"Or">;
def ONNX_XorOp : ONNX_BinaryOp<"Xor">;

def ONNX_MaxOp : ONNX_VariadicOp<"Max">;
def ONNX_MinOp : ONNX_VariadicOp<"Min">;
def ONNX_SumOp : ONNX_VariadicOp<"Sum">;
def ONNX_MeanOp : ONNX_VariadicOp<"Mean">;

def ONNX_LeakyReluOp : ONNX_Op<"LeakyRelu"> {
  let arguments = (ins AnyRankedTensor:$X, OptionalAttr<F32Attr>:$alpha);
  let results = (outs AnyRankedTensor:$Y);
}

def ONNX_WhereOp : ONNX_Op<"Where"> {
  let summary = "ONNX Where: select X where condition else Y (broadcast).";
  let arguments = (ins AnyRankedTensor:$condition, AnyRankedTensor:$X,
                   AnyRankedTensor:$Y);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_CastOp : ONNX_Op<"Cast"> {
  let summary = "ONNX Cast to the element type `to` (TensorProto.DataType).";
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$to,
                   OptionalAttr<I64Attr>:$saturate,
                   OptionalAttr<StrAttr>:$round_mode);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_ClipOp : ONNX_Op<"Clip"> {
  let arguments = (ins AnyRankedTensor:$input, ONNX_TensorOrNone:$min,
                   ONNX_TensorOrNone:$max);
  let results = (outs AnyRankedTensor:$output);
}

//===----------------------------------------------------------------------===//
// Contractions, normalisation, reductions
//===----------------------------------------------------------------------===//

def ONNX_MatMulOp : ONNX_Op<"MatMul"> {
  let summary = "ONNX MatMul (numpy matmul semantics, batch broadcast).";
  let arguments = (ins AnyRankedTensor:$A, AnyRankedTensor:$B);
  let results = (outs AnyRankedTensor:$Y);
}

def ONNX_GemmOp : ONNX_Op<"Gemm"> {
  let summary = "ONNX Gemm: alpha * A' x B' + beta * C.";
  let arguments = (ins AnyRankedTensor:$A, AnyRankedTensor:$B,
                   ONNX_TensorOrNone:$C,
                   OptionalAttr<F32Attr>:$alpha, OptionalAttr<F32Attr>:$beta,
                   OptionalAttr<I64Attr>:$transA, OptionalAttr<I64Attr>:$transB);
  let results = (outs AnyRankedTensor:$Y);
}

class ONNX_SoftmaxLikeOp<string name> : ONNX_Op<name> {
  let arguments = (ins AnyRankedTensor:$input, OptionalAttr<I64Attr>:$axis);
  let results = (outs AnyRankedTensor:$output);
}
def ONNX_SoftmaxOp : ONNX_SoftmaxLikeOp<"Softmax">;
def ONNX_LogSoftmaxOp : ONNX_SoftmaxLikeOp<"LogSoftmax">;

// Reductions take `axes` as an input from opset 18 (ReduceSum: 13) and as an
// attribute before; the importer keeps whichever form the model used.
class ONNX_ReduceOp<string name> : ONNX_Op<name> {
  let summary = "ONNX " # name # ".";
  let arguments = (ins AnyRankedTensor:$data, ONNX_TensorOrNone:$axes_input,
                   OptionalAttr<I64ArrayAttr>:$axes,
                   OptionalAttr<I64Attr>:$keepdims,
                   OptionalAttr<I64Attr>:$noop_with_empty_axes);
  let results = (outs AnyRankedTensor:$reduced);
}
def ONNX_ReduceMeanOp : ONNX_ReduceOp<"ReduceMean">;
def ONNX_ReduceSumOp : ONNX_ReduceOp<"ReduceSum">;
def ONNX_ReduceMaxOp : ONNX_ReduceOp<"ReduceMax">;
def ONNX_ReduceMinOp : ONNX_ReduceOp<"ReduceMin">;
def ONNX_ReduceProdOp : ONNX_ReduceOp<"ReduceProd">;
def ONNX_ReduceSumSquareOp : ONNX_ReduceOp<"ReduceSumSquare">;
def ONNX_ReduceL2Op : ONNX_ReduceOp<"ReduceL2">;

//===----------------------------------------------------------------------===//
// Data movement and shapes
//===----------------------------------------------------------------------===//

def ONNX_ReshapeOp : ONNX_Op<"Reshape"> {
  let arguments = (ins AnyRankedTensor:$data, AnyRankedTensor:$shape,
                   OptionalAttr<I64Attr>:$allowzero);
  let results = (outs AnyRankedTensor:$reshaped);
}

def ONNX_TransposeOp : ONNX_Op<"Transpose"> {
  let arguments = (ins AnyRankedTensor:$data, OptionalAttr<I64ArrayAttr>:$perm);
  let results = (outs AnyRankedTensor:$transposed);
}

def ONNX_ConcatOp : ONNX_Op<"Concat"> {
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$concat_result);
}

def ONNX_SliceOp : ONNX_Op<"Slice"> {
  let arguments = (ins AnyRankedTensor:$data, AnyRankedTensor:$starts,
                   AnyRankedTensor:$ends, ONNX_TensorOrNone:$axes,
                   ONNX_TensorOrNone:$steps);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_GatherOp : ONNX_Op<"Gather"> {
  let arguments = (ins AnyRankedTensor:$data, AnyRankedTensor:$indices,
                   OptionalAttr<I64Attr>:$axis);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_UnsqueezeOp : ONNX_Op<"Unsqueeze"> {
  let arguments = (ins AnyRankedTensor:$data, ONNX_TensorOrNone:$axes_input,
                   OptionalAttr<I64ArrayAttr>:$axes);
  let results = (outs AnyRankedTensor:$expanded);
}

def ONNX_SqueezeOp : ONNX_Op<"Squeeze"> {
  let arguments = (ins AnyRankedTensor:$data, ONNX_TensorOrNone:$axes_input,
                   OptionalAttr<I64ArrayAttr>:$axes);
  let results = (outs AnyRankedTensor:$squeezed);
}

def ONNX_FlattenOp : ONNX_Op<"Flatten"> {
  let arguments = (ins AnyRankedTensor:$input, OptionalAttr<I64Attr>:$axis);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_ExpandOp : ONNX_Op<"Expand"> {
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$shape);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_ShapeOp : ONNX_Op<"Shape"> {
  let arguments = (ins AnyRankedTensor:$data, OptionalAttr<I64Attr>:$start,
                   OptionalAttr<I64Attr>:$end);
  let results = (outs AnyRankedTensor:$shape);
}

def ONNX_SizeOp : ONNX_Op<"Size"> {
  let arguments = (ins AnyRankedTensor:$data);
  let results = (outs AnyRankedTensor:$size);
}

def ONNX_ConstantOfShapeOp : ONNX_Op<"ConstantOfShape"> {
  let arguments = (ins AnyRankedTensor:$input, OptionalAttr<ElementsAttr>:$value);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_RangeOp : ONNX_Op<"Range"> {
  let arguments = (ins AnyRankedTensor:$start, AnyRankedTensor:$limit,
                   AnyRankedTensor:$delta);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_TriluOp : ONNX_Op<"Trilu"> {
  let arguments = (ins AnyRankedTensor:$input, ONNX_TensorOrNone:$k,
                   OptionalAttr<I64Attr>:$upper);
  let results = (outs AnyRankedTensor:$output);
}

def ONNX_TileOp : ONNX_Op<"Tile"> {
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$repeats);
  let results = (outs AnyRankedTensor:$output);
}

#endif // LLMC_DIALECT_ONNX_OPS
