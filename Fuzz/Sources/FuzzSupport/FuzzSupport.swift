// What every fuzz target shares: handing control to libFuzzer from the `main` SwiftPM gives an executable.
public import CFuzzerDriver

/// Runs libFuzzer over `argv` with `callback` as the target; answers libFuzzer's exit status.
public func runFuzzer(
    argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}
