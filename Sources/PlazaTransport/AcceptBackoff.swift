import NIOCore
import Logging
import PlazaMetrics
#if canImport(Glibc)
import Glibc
#endif

/// Pauses accepting for a second when the listening socket's accept fails for want of files or memory
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), and counts each pause (`plaza_accept_backoffs_total`).
///
/// Without it the event loop spins: the pending connection keeps the listening socket readable, and NIO's own
/// back-off never takes effect because a failed accept leaves the channel's read pending (so no new read, which
/// the back-off would delay, is ever asked for). Turning `autoRead` off takes the socket out of the event loop's
/// interest; turning it back on a second later retries. The counter and a warning tell the operator the open-file
/// limit, or `limits.connections`, is wrong for the load.
final class AcceptBackoff: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private static let exhaustion: Set<Int32> = [EMFILE, ENFILE, ENOBUFS, ENOMEM]
    static let pause: TimeAmount = .seconds(1)
    private let metrics: PlazaMetrics
    private let logger: Logger
    private var lastWarning: NIODeadline?
    private var paused = false

    init(metrics: PlazaMetrics, logger: Logger) { (self.metrics, self.logger) = (metrics, logger) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError, Self.exhaustion.contains(error.errnoCode), !paused,
            let options = context.channel.syncOptions, (try? options.getOption(.autoRead)) == true
        {
            paused = true
            try? options.setOption(.autoRead, value: false)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: Self.pause) {
                let (handler, context) = loopBound.value
                handler.paused = false
                try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            }
            metrics.acceptBackoffs.increment()
            let now = NIODeadline.now()
            if lastWarning.map({ now - $0 >= .seconds(10) }) ?? true {
                lastWarning = now
                logger.warning(
                    "cannot accept connections: out of files or memory; accepting pauses for a second",
                    metadata: ["error": "\(error)", "openFileLimit": "\(OpenFiles.current)"])
            }
        }
        context.fireErrorCaught(error)
    }
}
