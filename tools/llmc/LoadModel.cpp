//===- LoadModel.cpp - open the model of a library made by `llmc compile` -===//
#include "Commands.h"

namespace llmc::tool {

bool loadModel(const std::string &library, llmc_api &api, llmc_model *&model,
               std::string &error) {
  char err[1024];
  // dlopen searches the library path for names without a slash.
  std::string path = llvm::StringRef(library).contains('/') ? library : "./" + library;
  if (llmc_load(path.c_str(), &api, err, sizeof err) != 0) {
    error = err;
    return false;
  }
  model = nullptr;
  if (api.model_open(&model) != LLMC_OK) {
    error = api.last_error();
    return false;
  }
  return true;
}

} // namespace llmc::tool
