// libFuzzer's entry point for a program that has its own `main` (SwiftPM renames an executable's `main` to
// `<module>_main` and points `main` at it, so libFuzzer's `main` is never linked in).
#pragma once
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
