import PlazaStore
import Synchronization

/// Every store call answers within `store.timeout`: a database that is down, or stopped and silent, gives a
/// prompt `StoreError.unavailable` instead of a caller that waits as long as TCP does.
///
/// postgres-nio gives up waiting for a connection when the waiting task is cancelled, but not on a query already
/// sent to a server that does not answer. So the call runs in a task of its own, and the caller stops waiting
/// at the deadline; the call is cancelled and ends on its own when the server answers or its connection
/// closes. Whether a write that timed out was stored is then unknown: the chat log asks the store afterwards.
enum StoreDeadline {
    static func run<T: Sendable>(within timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = Task { try await body() }
        let waiter = Waiter<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                waiter.wait(with: continuation)
                let timer = Task {
                    do { try await Task.sleep(for: timeout) } catch { return }  // the call answered first
                    if waiter.resume(with: .failure(StoreError(.unavailable, "the store did not answer within \(timeout)"))) {
                        work.cancel()
                    }
                }
                Task {
                    let result = await work.result
                    waiter.resume(with: result)
                    timer.cancel()
                }
            }
        } onCancel: {
            work.cancel()
        }
    }

    /// The caller's continuation, resumed once: by the call's result or by the deadline, whichever comes first.
    private final class Waiter<T: Sendable>: Sendable {
        private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

        func wait(with continuation: CheckedContinuation<T, any Error>) {
            self.continuation.withLock { $0 = continuation }
        }

        /// Resumes the caller if nothing has; answers whether this did.
        @discardableResult
        func resume(with result: Result<T, any Error>) -> Bool {
            guard let continuation = continuation.withLock({ $0.take() }) else { return false }
            continuation.resume(with: result)
            return true
        }
    }
}
