// HTTPS for every role that serves clients: certificate files reloaded in place, or certificates obtained and
// renewed over ACME (RFC 8555), served through swift-nio-ssl with the certificate chosen per connection.

public import PlazaCore
import Foundation

/// `tls.*`: whether and how a role serves HTTPS. TLS is on when certificate files or domains are given.
public struct TLSSettings: Sendable {
    /// `tls.certificate` (`--tls-cert`): a PEM file with the certificate and its chain. Reloaded when it changes
    /// on disk or on SIGHUP.
    public var certificate: String?
    /// `tls.key` (`--tls-key`): the PEM private key of `tls.certificate`.
    public var key: String?
    /// `tls.domains` (`--domain`, repeatable; comma-separated in `PLAZA_TLS_DOMAINS`): names to obtain one
    /// certificate for over ACME. Default none.
    public var domains: [String] = []
    /// `tls.acmeDirectory` (`--acme-directory`): the ACME server's directory URL. Default Let's Encrypt.
    public var acmeDirectory = "https://acme-v02.api.letsencrypt.org/directory"
    /// `tls.acmeEmail` (`--acme-email`): the contact the ACME server may write to about the account.
    public var acmeEmail: String?
    /// `tls.acmeCA`: a PEM file of certificates to trust for the ACME server itself (a private CA). Default: the
    /// system's trust store.
    public var acmeCA: String?
    /// `tls.challenge`: how domains are proved, `http-01` (on `tls.httpPort`) or `tls-alpn-01` (on the https
    /// port). Default `http-01`.
    public var challenge = ACMEChallengeKind.http01.rawValue
    /// `tls.httpPort`: the plain-HTTP listener beside the https one: ACME HTTP-01 answers and a redirect to https
    /// for everything else. Default 80.
    public var httpPort = 80
    /// `tls.reloadInterval`: seconds between checks of the certificate files for changes. Default 10.
    public var reloadInterval: Double = 10
    /// `tls.hstsMaxAge`: `Strict-Transport-Security` max-age of https answers, in seconds; 0 sends none.
    /// Default 31536000 (a year).
    public var hstsMaxAge = 31_536_000

    public init() {}

    /// `challenge`, read.
    var challengeKind: ACMEChallengeKind { ACMEChallengeKind(rawValue: challenge) ?? .http01 }

    /// Whether this role serves HTTPS.
    public var isEnabled: Bool { certificate != nil || !domains.isEmpty }
    /// Whether certificates come from ACME rather than from files.
    public var usesACME: Bool { !domains.isEmpty }

    public func validate() throws(ConfigurationError) {
        try ConfigurationError.require((certificate == nil) == (key == nil), certificate == nil ? "tls.certificate" : "tls.key",
            "is needed with \(certificate == nil ? "tls.key" : "tls.certificate")")
        try ConfigurationError.require(
            certificate == nil || domains.isEmpty, "tls.domains", "and tls.certificate exclude each other: certificates come from files or from ACME")
        for domain in domains {
            try ConfigurationError.require(Self.isDomainName(domain), "tls.domains", "'\(domain)' is not a DNS name")
        }
        try ConfigurationError.require(
            URL(string: acmeDirectory)?.scheme == "https", "tls.acmeDirectory", "must be an https URL")
        try ConfigurationError.require(
            ACMEChallengeKind(rawValue: challenge) != nil, "tls.challenge", "must be http-01 or tls-alpn-01")
        try ConfigurationError.require((0...65535).contains(httpPort), "tls.httpPort", "must be 0–65535")
        try ConfigurationError.require(reloadInterval > 0, "tls.reloadInterval", "must be > 0")
        try ConfigurationError.require(hstsMaxAge >= 0, "tls.hstsMaxAge", "must be ≥ 0")
    }

    /// Letters, digits and hyphens in dot-separated labels of 1–63 characters (a leading `*.` is refused: HTTP-01
    /// and TLS-ALPN-01 cannot prove wildcards).
    static func isDomainName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        }
    }
}

/// The ACME challenges Plaza answers.
public enum ACMEChallengeKind: String, Sendable, CaseIterable {
    case http01 = "http-01"
    case tlsALPN01 = "tls-alpn-01"
}
