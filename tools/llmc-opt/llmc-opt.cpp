//===- llmc-opt.cpp - mlir-opt with llmc's dialects and passes ------------===//
#include "llmc/InitAll.h"

#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  llmc::registerAllPasses();
  mlir::DialectRegistry registry;
  llmc::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "llmc optimizer driver\n", registry));
}
