import HummingbirdCore
import NIOCore
import Logging
import PlazaMetrics
import PlazaTLS

/// A Hummingbird child channel with Plaza's `ConnectionGuard` in front of it (closest to the socket, after TLS) and the
/// connection's socket send buffer sized (`limits.socketSendBuffer`), so a client that stops reading holds at most
/// that much kernel memory besides its outbound queue.
struct GuardedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let settings: ConnectionGuard.Settings
    let admission: ConnectionAdmission
    let metrics: PlazaMetrics
    let socketSendBuffer: Int?
    /// With certificates, the connection is https: TLS in front of the guard, which then reads plain HTTP.
    let certificates: ServingCertificates?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let connectionGuard = ConnectionGuard(settings: settings, admission: admission, metrics: metrics)
            try channel.pipeline.syncOperations.addHandlers([connectionGuard, ConnectionGuard.AnswerWatcher(connectionGuard)], position: .first)
            if let certificates {
                try channel.pipeline.syncOperations.addHandler(TLSAcceptHandler(certificates: certificates), position: .first)
            }
            if let socketSendBuffer {
                try channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(socketSendBuffer))
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
