public import NIOSSL
import Foundation
import X509
import SwiftASN1

/// A certificate chain and its private key, checked to belong together, with the TLS context that serves them.
public struct CertificatePair: Sendable {
    /// The leaf's validity, Unix seconds.
    public let notBefore: Double
    public let notAfter: Double
    /// The DNS names the leaf covers.
    public let names: [String]
    /// Serves the pair: HTTP/1.1, and `acme-tls/1` only in challenge contexts.
    public let context: NIOSSLContext

    /// Why a pair cannot be served; the message names the file at fault.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads and checks the PEM files at `certificatePath` and `keyPath`.
    public static func load(certificatePath: String, keyPath: String) throws(Problem) -> CertificatePair {
        guard let chain = FileManager.default.contents(atPath: certificatePath) else {
            throw Problem(description: "\(certificatePath): cannot read the certificate file")
        }
        guard let key = FileManager.default.contents(atPath: keyPath) else {
            throw Problem(description: "\(keyPath): cannot read the key file")
        }
        return try make(chainPEM: String(decoding: chain, as: UTF8.self), keyPEM: String(decoding: key, as: UTF8.self),
            certificateName: certificatePath, keyName: keyPath)
    }

    /// Checks a PEM chain (leaf first) and key; `certificateName` and `keyName` name them in errors.
    public static func make(chainPEM: String, keyPEM: String, certificateName: String, keyName: String) throws(Problem) -> CertificatePair {
        let leaf: Certificate
        let chain: [NIOSSLCertificate]
        do {
            let documents = try PEMDocument.parseMultiple(pemString: chainPEM).filter { $0.discriminator == "CERTIFICATE" }
            guard let first = documents.first else { throw Problem(description: "\(certificateName): no certificate in the file") }
            leaf = try Certificate(pemDocument: first)
            chain = try documents.map { try NIOSSLCertificate(bytes: $0.derBytes, format: .der) }
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(description: "\(certificateName): not a PEM certificate chain (\(error))")
        }
        let privateKey: Certificate.PrivateKey
        let sslKey: NIOSSLPrivateKey
        do {
            privateKey = try Certificate.PrivateKey(pemEncoded: keyPEM)
            sslKey = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw Problem(description: "\(keyName): not a PEM private key (\(error))")
        }
        guard privateKey.publicKey == leaf.publicKey else {
            throw Problem(description: "\(keyName) does not match the certificate in \(certificateName)")
        }
        var names: [String] = []
        if let alternatives = try? leaf.extensions.subjectAlternativeNames {
            for case .dnsName(let name) in alternatives { names.append(name) }
        }
        do {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(sslKey))
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = ["http/1.1"]
            let context = try NIOSSLContext(configuration: configuration)
            return CertificatePair(
                notBefore: leaf.notValidBefore.timeIntervalSince1970, notAfter: leaf.notValidAfter.timeIntervalSince1970, names: names,
                context: context)
        } catch {
            throw Problem(description: "\(certificateName): cannot be served (\(error))")
        }
    }
}
