"""Python tools around llmc: checkpoint readers, an ONNX exporter for Llama-style
decoders, and an ONNX Runtime reference generator used to check the compiler."""
