import Testing
import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import X509
import Crypto
import PlazaCore
import Logging
@testable import PlazaTLS

/// The first bytes a real TLS client sends: NIOSSL's client handler on an embedded channel.
private func clientHello(serverName: String?, protocols: [String]) throws -> [UInt8] {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.applicationProtocols = protocols
    let context = try NIOSSLContext(configuration: configuration)
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
    channel.pipeline.fireChannelActive()
    var bytes: [UInt8] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
    _ = try? channel.finish()
    return bytes
}

/// A self-signed certificate for `names` and its key, as PEM.
private func selfSigned(_ names: [String], days: Double = 30, key: P256.Signing.PrivateKey = .init()) throws -> (chain: String, key: String) {
    let subject = try DistinguishedName { CommonName(names[0]) }
    let now = Date()
    let certificate = try Certificate(
        version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now.addingTimeInterval(-60),
        notValidAfter: now.addingTimeInterval(days * 86_400), issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
        extensions: try Certificate.Extensions { SubjectAlternativeNames(names.map { .dnsName($0) }) }, issuerPrivateKey: .init(key))
    return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
}

@Suite struct ClientHelloTests {
    @Test func aRealClientHelloGivesItsServerNameAndProtocols() throws {
        let bytes = try clientHello(serverName: "party.example.com", protocols: ["acme-tls/1"])
        #expect(ClientHello.read(bytes) == .hello(ClientHello(serverName: "party.example.com", protocols: ["acme-tls/1"])))
        let browser = try clientHello(serverName: "party.example.com", protocols: ["h2", "http/1.1"])
        #expect(ClientHello.read(browser) == .hello(ClientHello(serverName: "party.example.com", protocols: ["h2", "http/1.1"])))
        let bare = try clientHello(serverName: nil, protocols: [])
        #expect(ClientHello.read(bare) == .hello(ClientHello(serverName: nil, protocols: [])))
    }

    @Test func everyPrefixIsIncompleteAndNothingElseIsAHello() throws {
        let bytes = try clientHello(serverName: "a.example", protocols: ["http/1.1"])
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(ClientHello.read(bytes.prefix(length)) == .incomplete, "prefix of \(length) bytes")
        }
        #expect(ClientHello.read(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == .invalid)
        var corrupt = bytes
        corrupt[5] = 2  // a ServerHello
        #expect(ClientHello.read(corrupt) == .invalid)
    }

    /// Found by the `client-hello` fuzz target: an ALPN list with an empty protocol name, which RFC 7301 forbids.
    @Test func anEmptyProtocolNameMakesTheHelloInvalid() throws {
        let found = "FgMBAL4BAAC6AwMunIYtUz+QsYFwPCxqSdcDqLB/uihoQoaEQ0exyK1RoAAAHsAswDDAK8AvzKnMqMAkwCjAI8AnAJ8AngBrAGcA/wEAAHMAEAAOAAwAAAlhLmV4YW1wbGUACwAEAwABAgAKAAwACgAdABcAHgAZABgAIwAAABAACwAJCGh0dHAvMS4xABYAAAAXAAAADQAqACgEAwUDBgMIBwgAAAAAAAAAAAAAAAAAAAAACAgJCAoICwgECAUIBgQBBQEGAQMDAwEDAgQCBQIGAg=="
        let bytes = Array(try #require(Data(base64Encoded: found)))
        #expect(ClientHello.read(bytes) == .invalid)
    }

    @Test func truncatedFieldsInsideARecordAreInvalidNotACrash() throws {
        let bytes = try clientHello(serverName: "a.example", protocols: ["http/1.1"])
        // Shorten the record and the handshake message consistently, cutting the extensions short.
        for cut in [1, 2, 5, 20, 60] {
            var shortened = Array(bytes.prefix(bytes.count - cut))
            let record = shortened.count - 5, message = record - 4
            (shortened[3], shortened[4]) = (UInt8(record >> 8), UInt8(record & 0xFF))
            (shortened[6], shortened[7], shortened[8]) = (UInt8(message >> 16), UInt8((message >> 8) & 0xFF), UInt8(message & 0xFF))
            #expect(ClientHello.read(shortened) == .invalid, "cut \(cut)")
        }
    }
}

@Suite struct RenewalScheduleTests {
    @Test func renewalIsDueAtTwoThirdsOfTheLifetime() {
        #expect(RenewalSchedule.due(notBefore: 0, notAfter: 90 * 86_400) == 60 * 86_400)
    }

    @Test func retriesBackOffWithJitterAndStopBeforeExpiry() {
        let now = 1_000_000.0
        #expect(RenewalSchedule.retry(after: 1, now: now, notAfter: nil, jitter: 0.5) == now + 60)
        #expect(RenewalSchedule.retry(after: 3, now: now, notAfter: nil, jitter: 0.5) == now + 240)
        #expect(RenewalSchedule.retry(after: 30, now: now, notAfter: nil, jitter: 0.5) == now + 6 * 3600, "capped")
        #expect(RenewalSchedule.retry(after: 1, now: now, notAfter: nil, jitter: 0) == now + 48, "-20%")
        #expect(RenewalSchedule.retry(after: 1, now: now, notAfter: nil, jitter: 1) == now + 72, "+20%")
        #expect(RenewalSchedule.retry(after: 10, now: now, notAfter: now + 600, jitter: 0.5) == now + 540, "a minute before expiry")
        #expect(RenewalSchedule.retry(after: 10, now: now, notAfter: now + 10, jitter: 0.5) == now + 30, "never a busy loop")
    }
}

@Suite struct TLSSettingsTests {
    @Test func settingsThatCannotWorkNameTheirKey() {
        func problem(_ change: (inout TLSSettings) -> Void) -> String? {
            var settings = TLSSettings()
            change(&settings)
            do { try settings.validate() } catch { return error.key }
            return nil
        }
        #expect(problem { _ in } == nil)
        #expect(problem { $0.certificate = "c.pem" } == "tls.key")
        #expect(problem { $0.key = "k.pem" } == "tls.certificate")
        #expect(problem { ($0.certificate, $0.key, $0.domains) = ("c", "k", ["a.example"]) } == "tls.domains")
        #expect(problem { $0.domains = ["*.example.com"] } == "tls.domains")
        #expect(problem { $0.domains = ["party.example.com", "www.party.example.com"] } == nil)
        #expect(problem { $0.challenge = "dns-01" } == "tls.challenge")
        #expect(problem { $0.acmeDirectory = "http://insecure.example/dir" } == "tls.acmeDirectory")
    }
}

@Suite struct CertificatePairTests {
    @Test func aMatchingPairIsServedWithItsNamesAndExpiry() throws {
        let (chain, key) = try selfSigned(["party.example.com", "www.party.example.com"], days: 30)
        let pair = try CertificatePair.make(chainPEM: chain, keyPEM: key, certificateName: "cert.pem", keyName: "key.pem")
        #expect(pair.names == ["party.example.com", "www.party.example.com"])
        #expect(abs(pair.notAfter - Date().addingTimeInterval(30 * 86_400).timeIntervalSince1970) < 5)
    }

    @Test func aKeyOfAnotherCertificateIsRefusedByName() throws {
        let (chain, _) = try selfSigned(["party.example.com"])
        let other = P256.Signing.PrivateKey().pemRepresentation
        #expect(throws: CertificatePair.Problem(description: "key.pem does not match the certificate in cert.pem")) {
            try CertificatePair.make(chainPEM: chain, keyPEM: other, certificateName: "cert.pem", keyName: "key.pem")
        }
        #expect(throws: CertificatePair.Problem.self) {
            try CertificatePair.make(chainPEM: "not a certificate", keyPEM: other, certificateName: "cert.pem", keyName: "key.pem")
        }
    }

    @Test func theValidatorGetsTheChallengeCertificateAndEveryoneElseTheServedOne() throws {
        let (chain, key) = try selfSigned(["party.example.com"])
        let served = try CertificatePair.make(chainPEM: chain, keyPEM: key, certificateName: "c", keyName: "k")
        let certificates = ServingCertificates(pair: served)
        #expect(!certificates.hasALPNChallenges)
        let challenge = try ACMEChallengeCertificate.context(domain: "party.example.com", keyAuthorization: "token.thumbprint", now: Date())
        certificates.setALPNChallenge(challenge, for: "Party.Example.com")
        #expect(certificates.hasALPNChallenges)
        #expect(certificates.context(serverName: "party.example.com", protocols: ["acme-tls/1"]) === challenge)
        #expect(certificates.context(serverName: "party.example.com", protocols: ["http/1.1"]) === served.context)
        #expect(certificates.context(serverName: "other.example.com", protocols: ["acme-tls/1"]) === served.context)
        certificates.setALPNChallenge(nil, for: "party.example.com")
        #expect(!certificates.hasALPNChallenges)
    }
}

@Suite struct ACMEMessageTests {
    @Test func theThumbprintIsTheRFC7638Digest() throws {
        let key = P256.Signing.PrivateKey()
        let raw = Array(key.publicKey.rawRepresentation)
        let jwk = #"{"crv":"P-256","kty":"EC","x":"\#(ACMEClient.base64URL(raw[0..<32]))","y":"\#(ACMEClient.base64URL(raw[32...]))"}"#
        #expect(ACMEClient.thumbprint(key.publicKey) == ACMEClient.base64URL(SHA256.hash(data: Data(jwk.utf8))))
        #expect(!ACMEClient.thumbprint(key.publicKey).contains("="))
    }

    @Test func aSignedRequestVerifiesWithTheAccountKey() throws {
        let key = P256.Signing.PrivateKey()
        let body = try ACMEClient.jws(protected: ["alg": "ES256", "nonce": "n", "url": "https://ca/x"], payload: ["a": 1], key: key)
        let document = try JSONSerialization.jsonObject(with: Data(body)) as! [String: String]
        func decode(_ text: String) -> Data {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while base64.count % 4 != 0 { base64 += "=" }
            return Data(base64Encoded: base64)!
        }
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: decode(document["signature"]!))
        #expect(key.publicKey.isValidSignature(signature, for: Data("\(document["protected"]!).\(document["payload"]!)".utf8)))
        #expect(String(decoding: decode(document["payload"]!), as: UTF8.self) == #"{"a":1}"#)
        let postAsGet = try ACMEClient.jws(protected: ["alg": "ES256"], payload: nil, key: key)
        #expect((try JSONSerialization.jsonObject(with: Data(postAsGet)) as! [String: String])["payload"] == "")
    }

    @Test func theCSRNamesEveryDomain() throws {
        let key = P256.Signing.PrivateKey()
        let der = try ACMEClient.csr(domains: ["party.example.com", "www.party.example.com"], key: key)
        let request = try CertificateSigningRequest(derEncoded: der)
        let extensions = try request.attributes.extensionRequest?.extensions
        let names = try extensions?.subjectAlternativeNames?.compactMap { name -> String? in
            if case .dnsName(let value) = name { return value }
            return nil
        }
        #expect(names == ["party.example.com", "www.party.example.com"])
        #expect(request.publicKey == Certificate.PublicKey(key.publicKey))
    }
}

@Suite struct CertificateFilesTests {
    @Test func oneProcessAtATimeHoldsTheRenewalLock() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-lock-\(UUID().uuidString)/renewal.lock").path
        let first = try #require(FileLock(path: path))
        #expect(FileLock(path: path) == nil, "a second holder, as another process would be, is refused")
        first.release()
        let again = try #require(FileLock(path: path), "free once released")
        again.release()
    }

    @Test func aStoredCertificateFromTheConfiguredServerIsServedWithoutAsking() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-acme-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        var settings = TLSSettings()
        settings.domains = ["party.example.com"]
        settings.acmeDirectory = "https://127.0.0.1:9/directory"  // nothing listens: asking would fail
        let files = CertificateService.Files(settings: settings, dataDirectory: data)
        let (chain, key) = try selfSigned(["party.example.com"])
        try PrivateFile.write(Data(chain.utf8), to: URL(fileURLWithPath: files.certificate))
        try PrivateFile.write(Data(key.utf8), to: URL(fileURLWithPath: files.key))
        // From another ACME server (staging, say): not served, a new one is needed.
        let elsewhere = try CertificateService(settings: settings, dataDirectory: data, logger: .init(label: "test"))
        #expect(elsewhere.certificates.pair == nil)
        try PrivateFile.write(Data(settings.acmeDirectory.utf8), to: URL(fileURLWithPath: data + "/tls/party.example.com/acme-directory"))
        let stored = try CertificateService(settings: settings, dataDirectory: data, logger: .init(label: "test"))
        #expect(stored.certificates.pair?.names == ["party.example.com"])
        // A certificate for other names is not one this configuration asks for.
        settings.domains = ["party.example.com", "www.party.example.com"]
        #expect(try CertificateService(settings: settings, dataDirectory: data, logger: .init(label: "test")).certificates.pair == nil)
    }
}
