import NIOSSL
import Synchronization

/// The certificates a role serves right now: the pair new connections get, and the short-lived ones that answer
/// ACME challenges. Replacing the pair touches no open connection: each handshake takes the pair current then.
public final class ServingCertificates: Sendable {
    private struct State {
        var pair: CertificatePair?
        /// TLS-ALPN-01: a context per domain, for the validator's connections only.
        var alpnChallenges: [String: NIOSSLContext] = [:]
        /// HTTP-01: key authorizations by token.
        var httpChallenges: [String: String] = [:]
    }

    private let state: Mutex<State>

    public init(pair: CertificatePair? = nil) {
        state = Mutex(State(pair: pair))
    }

    /// The pair in service.
    public var pair: CertificatePair? { state.withLock { $0.pair } }

    /// Puts `pair` in service for every handshake from now on.
    public func serve(_ pair: CertificatePair) { state.withLock { $0.pair = pair } }

    /// Whether any TLS-ALPN-01 challenge is pending (only then are ClientHellos read before the handshake).
    var hasALPNChallenges: Bool { state.withLock { !$0.alpnChallenges.isEmpty } }

    /// The context of a connection that offered `protocols` for `serverName`.
    func context(serverName: String?, protocols: [String]) -> NIOSSLContext? {
        state.withLock { state in
            if protocols.contains(ACMEChallengeCertificate.alpnProtocol), let name = serverName?.lowercased(),
                let challenge = state.alpnChallenges[name]
            {
                return challenge
            }
            return state.pair?.context
        }
    }

    func setALPNChallenge(_ context: NIOSSLContext?, for domain: String) {
        state.withLock { $0.alpnChallenges[domain.lowercased()] = context }
    }

    func setHTTPChallenge(_ keyAuthorization: String?, token: String) {
        state.withLock { $0.httpChallenges[token] = keyAuthorization }
    }

    /// The key authorization for an HTTP-01 `token`, while its challenge is pending.
    public func httpChallengeAnswer(token: String) -> String? { state.withLock { $0.httpChallenges[token] } }
}
