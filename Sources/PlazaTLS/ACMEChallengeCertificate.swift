import NIOSSL
import X509
import SwiftASN1
import Crypto
import Foundation

/// The self-signed certificate that answers a TLS-ALPN-01 challenge (RFC 8737): for the domain alone, with the
/// SHA-256 of the key authorization in a critical `acmeIdentifier` extension, served only over `acme-tls/1`.
enum ACMEChallengeCertificate {
    static let alpnProtocol = "acme-tls/1"
    /// id-pe-acmeIdentifier.
    static let acmeIdentifier: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 1, 31]

    static func context(domain: String, keyAuthorization: String, now: Date) throws -> NIOSSLContext {
        let key = P256.Signing.PrivateKey()
        let digest = Array(SHA256.hash(data: Data(keyAuthorization.utf8)))
        var serializer = DER.Serializer()
        try serializer.serialize(ASN1OctetString(contentBytes: digest[...]))
        let name = try DistinguishedName { CommonName(domain) }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(7 * 86_400), issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.dnsName(domain)])
                Certificate.Extension(oid: acmeIdentifier, critical: true, value: serializer.serializedBytes[...])
            },
            issuerPrivateKey: .init(key))
        var certificateDER = DER.Serializer()
        try certificateDER.serialize(certificate)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: certificateDER.serializedBytes, format: .der))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)))
        configuration.applicationProtocols = [alpnProtocol]
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}
