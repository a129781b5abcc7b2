# lit configuration for llmc's regression tests (FileCheck-based).
import os

import lit.formats

config.name = "llmc"
config.test_format = lit.formats.ShTest(not config.llmc_disable_external_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.llmc_obj_root, "test", "lit")
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py"]

config.environment["PYTHONPATH"] = os.path.join(config.llmc_src_root, "python")
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%shared", config.llmc_shared_dir))
for tool in ["llmc", "llmc-opt"]:
    config.substitutions.append(
        ("%" + tool if tool == "llmc" else tool,
         os.path.join(config.llmc_tools_dir, tool)))
config.substitutions.append(("FileCheck", os.path.join(config.llvm_tools_dir, "FileCheck")))
config.substitutions.append(("not ", os.path.join(config.llvm_tools_dir, "not") + " "))
