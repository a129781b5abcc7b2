"""ctypes bindings of the C API of libraries made by `llmc compile`.

Used by the conformance runner and end-to-end tests to drive a compiled
model from Python (see include/llmc/llmc.h for the API itself).
"""
import ctypes
import json

import numpy as np

MAX_RANK = 8
_DTYPES = {1: np.float32, 2: np.float64, 3: np.float16, 5: np.int64, 6: np.int32,
           7: np.int16, 8: np.int8, 9: np.bool_, 10: np.uint8}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_RANK), ("data", ctypes.c_void_p)]


class SamplingParams(ctypes.Structure):
    _fields_ = [("temperature", ctypes.c_float), ("top_k", ctypes.c_int32),
                ("top_p", ctypes.c_float), ("seed", ctypes.c_uint64)]


class LlmcError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"llmc status {status}: {message}")
        self.status = status


class Library:
    """One loaded model library (model + runtime)."""

    def __init__(self, path):
        # dlopen searches the library path for names without a slash.
        path = str(path) if "/" in str(path) else "./" + str(path)
        self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        L = self.lib
        L.llmc_last_error.restype = ctypes.c_char_p
        L.llmc_model_manifest.restype = ctypes.c_char_p
        L.llmc_model_manifest.argtypes = [ctypes.c_void_p]
        L.llmc_model_open.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        L.llmc_model_close.argtypes = [ctypes.c_void_p]
        L.llmc_graph_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(Tensor), ctypes.c_size_t,
                                     ctypes.POINTER(Tensor), ctypes.c_size_t]
        L.llmc_tensor_free.argtypes = [ctypes.POINTER(Tensor)]
        L.llmc_model_vocab_size.argtypes = [ctypes.c_void_p]
        L.llmc_session_create.argtypes = [ctypes.c_void_p, ctypes.c_int32,
                                          ctypes.POINTER(ctypes.c_void_p)]
        L.llmc_session_destroy.argtypes = [ctypes.c_void_p]
        L.llmc_session_reset.argtypes = [ctypes.c_void_p]
        L.llmc_session_append.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32),
                                          ctypes.c_size_t]
        L.llmc_session_logits.argtypes = [ctypes.c_void_p]
        L.llmc_session_logits.restype = ctypes.POINTER(ctypes.c_float)
        self.model = ctypes.c_void_p()
        self._check(L.llmc_model_open(ctypes.byref(self.model)))
        self.manifest = json.loads(L.llmc_model_manifest(self.model).decode())

    def _check(self, status):
        if status != 0:
            raise LlmcError(status, self.lib.llmc_last_error().decode())

    def close(self):
        if self.model:
            self.lib.llmc_model_close(self.model)
            self.model = ctypes.c_void_p()

    def run(self, inputs):
        """Runs a graph (no KV cache) on numpy arrays; returns numpy outputs."""
        # np.ascontiguousarray would turn 0-d arrays into 1-d ones.
        keep = [np.require(a, requirements="C") for a in inputs]
        ins = (Tensor * max(len(keep), 1))()
        for i, a in enumerate(keep):
            if a.ndim > MAX_RANK:
                raise ValueError("rank too large")
            ins[i].dtype = _CODES[a.dtype]
            ins[i].rank = a.ndim
            for d, s in enumerate(a.shape):
                ins[i].shape[d] = s
            ins[i].data = a.ctypes.data if a.size else ctypes.cast(ctypes.pointer(ctypes.c_char()), ctypes.c_void_p).value
        n_out = len(self.manifest["outputs"])
        outs = (Tensor * max(n_out, 1))()
        self._check(self.lib.llmc_graph_run(self.model, ins, len(keep), outs, n_out))
        results = []
        for i in range(n_out):
            t = outs[i]
            shape = tuple(t.shape[d] for d in range(t.rank))
            dt = np.dtype(_DTYPES[t.dtype])
            n = int(np.prod(shape)) if shape else 1
            buf = (ctypes.c_char * (n * dt.itemsize)).from_address(t.data)
            results.append(np.frombuffer(bytes(buf), dtype=dt).reshape(shape))
            self.lib.llmc_tensor_free(ctypes.byref(t))
        return results

    # Causal LM sessions.
    def vocab_size(self):
        return self.lib.llmc_model_vocab_size(self.model)

    def session(self, max_context=2048):
        return Session(self, max_context)


class Session:
    def __init__(self, library, max_context):
        self.library = library
        self.handle = ctypes.c_void_p()
        library._check(library.lib.llmc_session_create(library.model, max_context,
                                                       ctypes.byref(self.handle)))

    def append(self, tokens):
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        self.library._check(self.library.lib.llmc_session_append(self.handle, arr, len(tokens)))
        ptr = self.library.lib.llmc_session_logits(self.handle)
        v = self.library.vocab_size()
        return np.ctypeslib.as_array(ptr, shape=(v,)).copy()

    def close(self):
        if self.handle:
            self.library.lib.llmc_session_destroy(self.handle)
            self.handle = ctypes.c_void_p()


class BatchSeq(ctypes.Structure):
    _fields_ = [("tokens", ctypes.POINTER(ctypes.c_int32)), ("num_tokens", ctypes.c_int32),
                ("position", ctypes.c_int32), ("block_table", ctypes.POINTER(ctypes.c_int32)),
                ("num_blocks", ctypes.c_int32), ("want_logits", ctypes.c_int32)]


class KvPool:
    """A paged KV cache of `num_blocks` blocks and the batched step over it
    (libraries compiled with the batch-step entry)."""

    def __init__(self, library, num_blocks, block_size):
        L = library.lib
        L.llmc_model_has_batch_step.argtypes = [ctypes.c_void_p]
        L.llmc_kv_block_bytes.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        L.llmc_kv_block_bytes.restype = ctypes.c_int64
        L.llmc_kv_pool_create.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32,
                                          ctypes.POINTER(ctypes.c_void_p)]
        L.llmc_kv_pool_destroy.argtypes = [ctypes.c_void_p]
        L.llmc_kv_pool_copy_block.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32]
        L.llmc_batch_step.argtypes = [ctypes.c_void_p, ctypes.POINTER(BatchSeq), ctypes.c_int32,
                                      ctypes.POINTER(ctypes.c_float)]
        self.library = library
        self.block_size = block_size
        self.handle = ctypes.c_void_p()
        library._check(L.llmc_kv_pool_create(library.model, num_blocks, block_size,
                                             ctypes.byref(self.handle)))

    def copy_block(self, src, dst):
        self.library._check(self.library.lib.llmc_kv_pool_copy_block(self.handle, src, dst))

    def step(self, seqs):
        """seqs: list of (tokens, position, block_table, want_logits). Returns
        one logits row per sequence with want_logits, as a [n, vocab] array."""
        arr = (BatchSeq * len(seqs))()
        keep = []
        for i, (tokens, position, table, want) in enumerate(seqs):
            t = (ctypes.c_int32 * max(len(tokens), 1))(*tokens)
            b = (ctypes.c_int32 * max(len(table), 1))(*table)
            keep += [t, b]
            arr[i] = BatchSeq(t, len(tokens), position, b, len(table), int(want))
        n = sum(1 for s in seqs if s[3])
        out = np.zeros((max(n, 1), self.library.vocab_size()), dtype=np.float32)
        self.library._check(self.library.lib.llmc_batch_step(
            self.handle, arr, len(seqs), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))))
        return out[:n]

    def close(self):
        if self.handle:
            self.library.lib.llmc_kv_pool_destroy(self.handle)
            self.handle = ctypes.c_void_p()
