// The C target needs one source file; LLVMFuzzerRunDriver comes from the libFuzzer runtime.
