import NIOCore
import NIOPosix
import Synchronization
import PlazaWebSocketClient

/// A TCP proxy on a free loopback port that a test can cut, as a network partition would: while cut, bytes in
/// either direction are dropped (the connections stay open and silent, nothing is refused) and new connections
/// reach nothing. `restore()` closes what was cut off and lets new connections through again.
public final class TCPProxy: Sendable {
    public let port: Int
    private let core: Core
    private let group: MultiThreadedEventLoopGroup
    private let server: any Channel

    /// Starts a proxy to `host:port`.
    public init(to host: String = "127.0.0.1", port targetPort: Int) async throws {
        let core = Core(host: host, port: targetPort)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let port = try LoopbackPort.free()
        server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { core.accept($0) }
            .bind(host: "127.0.0.1", port: port).get()
        (self.core, self.group, self.port) = (core, group, port)
    }

    /// Drops everything from now on, and leaves every connection hanging.
    public func cut() { core.state.withLock { $0.cut = true } }

    /// Closes the connections that were cut off and lets new ones through.
    public func restore() {
        let channels = core.state.withLock { state in
            state.cut = false
            defer { state.channels = [:] }
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }

    public func stop() async {
        restore()
        try? await server.close()
        try? await group.shutdownGracefully()
    }

    /// The connections and whether they are cut off.
    private final class Core: Sendable {
        let host: String
        let port: Int
        let state = Mutex<(cut: Bool, channels: [ObjectIdentifier: any Channel])>((false, [:]))

        init(host: String, port: Int) { (self.host, self.port) = (host, port) }

        var isCut: Bool { state.withLock { $0.cut } }

        /// A new client connection: connect to the target (unless cut) and pass bytes both ways.
        func accept(_ inbound: any Channel) -> EventLoopFuture<Void> {
            track(inbound)
            if isCut { return inbound.eventLoop.makeSucceededVoidFuture() }  // accepted, never answered
            return ClientBootstrap(group: inbound.eventLoop)
                .channelOption(.autoRead, value: false)
                .connect(host: host, port: port)
                .flatMap { outbound in
                    self.track(outbound)
                    // Reading starts once both relays are in place (the inbound side may not be active yet:
                    // it starts reading when it is).
                    return inbound.pipeline.addHandler(Relay(core: self, peer: outbound))
                        .and(outbound.pipeline.addHandler(Relay(core: self, peer: inbound)))
                        .flatMap { _ in inbound.setOption(.autoRead, value: true) }
                        .flatMap { outbound.setOption(.autoRead, value: true) }
                }
                .flatMapError { _ in inbound.close() }
        }

        private func track(_ channel: any Channel) {
            state.withLock { $0.channels[ObjectIdentifier(channel)] = channel }
            channel.closeFuture.whenComplete { _ in self.state.withLock { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) } }
        }
    }

    /// Forwards what one side reads to the other, unless the proxy is cut.
    private final class Relay: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let core: Core
        let peer: any Channel

        init(core: Core, peer: any Channel) { (self.core, self.peer) = (core, peer) }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !core.isCut else { return }
            peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !core.isCut { peer.close(promise: nil) }
        }
    }
}
