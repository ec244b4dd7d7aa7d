public import NIOCore
import NIOSSL

/// The first handler of an https connection: it puts NIOSSL's server handler in its place with the context of the
/// certificate in service, or, while a TLS-ALPN-01 challenge is pending, reads the ClientHello first and gives the
/// ACME validator (which offers only `acme-tls/1`) the challenge certificate.
public final class TLSAcceptHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private let certificates: ServingCertificates
    private var buffered: ByteBuffer?

    public init(certificates: ServingCertificates) {
        self.certificates = certificates
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil, !certificates.hasALPNChallenges {
            return handOver(context, to: certificates.context(serverName: nil, protocols: []), bytes: incoming)
        }
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let bytes = buffered!
        switch ClientHello.read(bytes.readableBytesView) {
        case .incomplete:
            return
        case .invalid:
            handOver(context, to: certificates.context(serverName: nil, protocols: []), bytes: bytes)
        case .hello(let hello):
            handOver(context, to: certificates.context(serverName: hello.serverName, protocols: hello.protocols), bytes: bytes)
        }
    }

    private func handOver(_ context: ChannelHandlerContext, to sslContext: NIOSSLContext?, bytes: ByteBuffer) {
        buffered = nil
        guard let sslContext else {
            // No certificate yet (the first one is being obtained): nothing can be served.
            context.close(promise: nil)
            return
        }
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext), position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
