import Foundation
public import NIOSSL
import X509
import SwiftASN1
import Crypto
import AsyncHTTPClient
import PlazaTLS

/// A benchmark over TLS: a self-signed certificate for `localhost` written for the server (`tls.certificate`,
/// `tls.key`), and the clients' trust in it. What a browser does on a party's https page, on loopback.
public struct BenchTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// For WebSocket clients (`wss://`).
    public let clientContext: NIOSSLContext
    let certificatePEM: String

    /// A new certificate and key in `directory`.
    public static func make(in directory: String) throws -> BenchTLS {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("localhost") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86_400), issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions {
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(key))
        let pem = try certificate.serializeAsPEM().pemString
        let certificatePath = directory + "/bench-certificate.pem", keyPath = directory + "/bench-key.pem"
        try PrivateFile.write(Data(pem.utf8), to: URL(fileURLWithPath: certificatePath))
        try PrivateFile.write(Data(key.pemRepresentation.utf8), to: URL(fileURLWithPath: keyPath))
        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem)])
        return BenchTLS(
            certificatePath: certificatePath, keyPath: keyPath, clientContext: try NIOSSLContext(configuration: client),
            certificatePEM: pem)
    }

    /// The server's settings: the certificate, and its plain-HTTP listener on `httpPort` (health checks).
    public func environment(httpPort: Int) -> [String: String] {
        ["PLAZA_TLS_CERTIFICATE": certificatePath, "PLAZA_TLS_KEY": keyPath, "PLAZA_TLS_HTTP_PORT": String(httpPort)]
    }

    /// An HTTP client that trusts the certificate (for setup calls); shut it down after use.
    func httpClient() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)])
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }
}
