import Logging
import UnixSignals

/// Runs `work` until SIGTERM or SIGINT, then cancels it and waits for it to finish: how the roles without an
/// HTTP server (`plaza autoscaler`, `plaza agent`) stop cleanly.
func runUntilSignal(logger: Logger, _ work: @escaping @Sendable () async -> Void) async {
    let task = Task { await work() }
    for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
        logger.notice("stopping", metadata: ["signal": "\(signal)"])
        break
    }
    task.cancel()
    await task.value
}
