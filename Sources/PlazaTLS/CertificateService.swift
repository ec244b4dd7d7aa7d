public import ServiceLifecycle
public import Logging
import UnixSignals
import AsyncHTTPClient
import NIOSSL
import Crypto
import Synchronization
import Foundation

/// Keeps a role's certificate in service: certificate files reloaded when they change on disk or on SIGHUP, or
/// a certificate obtained over ACME and renewed at two thirds of its lifetime. A reload or renewal that fails
/// leaves the certificate in service and logs why.
public final class CertificateService: Service {
    public let certificates: ServingCertificates
    private let settings: TLSSettings
    private let files: Files
    private let logger: Logger
    private let served: @Sendable (CertificatePair) -> Void
    /// Listeners running (the https one and the plain one): ACME's validator must find them up.
    private let listeners = Mutex(0)

    /// Tells the service one of its role's listeners is running.
    public func listenerRunning() { listeners.withLock { $0 += 1 } }

    /// Where the certificate and key are read from (and, with ACME, written to).
    public struct Files: Sendable {
        public let certificate: String
        public let key: String
        /// ACME only: the account key, the lock that lets one process at a time renew, and the directory URL of
        /// the ACME server that issued the stored certificate (a staging certificate is not kept for production).
        let accountKey: String?
        let lock: String?
        let issuer: String?

        /// The files of `settings`: its own, or for ACME `<dataDir>/tls/<first domain>/`.
        public init(settings: TLSSettings, dataDirectory: String) {
            if let certificate = settings.certificate, let key = settings.key {
                (self.certificate, self.key, accountKey, lock, issuer) = (certificate, key, nil, nil, nil)
            } else {
                let tls = URL(fileURLWithPath: dataDirectory).appendingPathComponent("tls").standardizedFileURL
                let folder = tls.appendingPathComponent(settings.domains.first?.lowercased() ?? "certificate")
                certificate = folder.appendingPathComponent("certificate.pem").path
                key = folder.appendingPathComponent("key.pem").path
                accountKey = tls.appendingPathComponent("account.pem").path
                lock = folder.appendingPathComponent("renewal.lock").path
                issuer = folder.appendingPathComponent("acme-directory").path
            }
        }
    }

    /// Prepares the certificates before the server listens. With certificate files, a pair that cannot be served
    /// stops the start (the error names the file); with ACME, a stored certificate that still covers the domains
    /// is served at once, and otherwise connections wait for the first one to be obtained.
    public init(
        settings: TLSSettings, dataDirectory: String, logger: Logger, served: @escaping @Sendable (CertificatePair) -> Void = { _ in }
    ) throws {
        (self.settings, self.logger, self.served) = (settings, logger, served)
        files = Files(settings: settings, dataDirectory: dataDirectory)
        certificates = ServingCertificates()
        if settings.usesACME {
            if let pair = try? CertificatePair.load(certificatePath: files.certificate, keyPath: files.key), covers(pair) {
                serve(pair, how: "loaded")
            }
        } else {
            do {
                serve(try CertificatePair.load(certificatePath: files.certificate, keyPath: files.key), how: "loaded")
            } catch {
                throw PrivateFile.Failure(description: "tls: \(error.description)")
            }
        }
    }

    public func run() async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(4))
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let listener = Task {
            for await _ in hangups { continuation.yield(.hangup) }
        }
        let ticker = Task { [reloadInterval = settings.reloadInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(reloadInterval))
                continuation.yield(.tick)
            }
        }
        defer {
            listener.cancel()
            ticker.cancel()
        }
        await cancelWhenGracefulShutdown {
            if self.settings.usesACME {
                // The first attempt waits for both listeners (at most ten seconds): the validator comes at once.
                for _ in 0..<200 where self.listeners.withLock({ $0 }) < 2 { try? await Task.sleep(for: .milliseconds(50)) }
                continuation.yield(.tick)
            }
            await self.serve(events)
        }
    }

    /// Reloads on every change and SIGHUP; with ACME, renews when due, and after a failure again later.
    private func serve(_ events: AsyncStream<Event>) async {
        var watched = fingerprint()
        var nextAttempt = certificates.pair.map { RenewalSchedule.due(notBefore: $0.notBefore, notAfter: $0.notAfter) } ?? 0
        var failures = 0
        for await event in events {
            let now = Date().timeIntervalSince1970
            let current = fingerprint()
            if event == .hangup || current != watched {
                watched = current
                reload(because: event == .hangup ? "SIGHUP" : "the files changed")
                if let pair = certificates.pair, settings.usesACME {
                    nextAttempt = max(nextAttempt, RenewalSchedule.due(notBefore: pair.notBefore, notAfter: pair.notAfter))
                }
            }
            guard settings.usesACME, now >= nextAttempt else { continue }
            switch await renew(now: now) {
            case .renewed(let pair), .renewedElsewhere(let pair):
                failures = 0
                watched = fingerprint()
                nextAttempt = RenewalSchedule.due(notBefore: pair.notBefore, notAfter: pair.notAfter)
            case .busy:
                nextAttempt = now + 5
            case .failed:
                failures += 1
                nextAttempt = RenewalSchedule.retry(
                    after: failures, now: now, notAfter: certificates.pair?.notAfter, jitter: Double.random(in: 0...1))
                logger.notice("acme: next attempt in \(Int(nextAttempt - now)) s")
            }
        }
    }

    private enum Event: Sendable { case tick, hangup }

    // MARK: Files

    /// Changes to either file (its size and modification time, and the inode a rename gives it).
    private func fingerprint() -> [String] {
        [files.certificate, files.key].map { path in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "-" }
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(attributes[.size] ?? 0)/\(modified)/\(attributes[.systemFileNumber] ?? 0)"
        }
    }

    private func reload(because reason: String) {
        do {
            let pair = try CertificatePair.load(certificatePath: files.certificate, keyPath: files.key)
            guard !settings.usesACME || covers(pair) else { return }
            serve(pair, how: "reloaded (\(reason))")
        } catch {
            logger.error("tls: \(error.description); the certificate in service stays (\(expiry(certificates.pair)))")
        }
    }

    private func serve(_ pair: CertificatePair, how: String) {
        certificates.serve(pair)
        served(pair)
        logger.notice("tls: certificate \(how)", metadata: ["names": "\(pair.names.joined(separator: ","))", "notAfter": "\(Self.timestamp(pair.notAfter))"])
    }

    /// Whether a stored certificate is one this configuration asks for: every domain, from the same ACME server.
    private func covers(_ pair: CertificatePair) -> Bool {
        let stored = files.issuer.flatMap { FileManager.default.contents(atPath: $0) }.map { String(decoding: $0, as: UTF8.self) }
        return stored == settings.acmeDirectory
            && Set(settings.domains.map { $0.lowercased() }).isSubset(of: Set(pair.names.map { $0.lowercased() }))
    }

    private func expiry(_ pair: CertificatePair?) -> String {
        guard let pair else { return "none yet" }
        return "expires " + Self.timestamp(pair.notAfter)
    }

    private static func timestamp(_ seconds: Double) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
    }

    // MARK: ACME

    private enum Renewal {
        case renewed(CertificatePair)
        /// Another process sharing the data directory renewed it meanwhile.
        case renewedElsewhere(CertificatePair)
        /// Another process is renewing right now.
        case busy
        case failed
    }

    private func renew(now: Double) async -> Renewal {
        guard let lockPath = files.lock, let accountPath = files.accountKey else { return .failed }
        guard let lock = FileLock(path: lockPath) else { return .busy }
        defer { lock.release() }
        // Renewed by another process while this one waited for the lock?
        if let pair = try? CertificatePair.load(certificatePath: files.certificate, keyPath: files.key), covers(pair),
            RenewalSchedule.due(notBefore: pair.notBefore, notAfter: pair.notAfter) > now
        {
            if certificates.pair?.notAfter != pair.notAfter { serve(pair, how: "loaded (renewed by another process)") }
            return .renewedElsewhere(pair)
        }
        logger.notice("acme: requesting a certificate", metadata: ["domains": "\(settings.domains.joined(separator: ","))", "ca": "\(settings.acmeDirectory)"])
        let client: HTTPClient
        do {
            client = try makeClient()
        } catch {
            logger.error("acme: tls.acmeCA: \(error)")
            return .failed
        }
        do {
            let accountKey = try loadOrCreateAccountKey(accountPath)
            let acme = ACMEClient(
                directoryURL: settings.acmeDirectory, accountKey: accountKey, contact: settings.acmeEmail, client: client,
                log: { [logger] in logger.info("\($0)") })
            let certificateKey = P256.Signing.PrivateKey()
            let chain = try await acme.obtain(domains: settings.domains, certificateKey: certificateKey, responder: responder())
            let pair = try CertificatePair.make(
                chainPEM: chain, keyPEM: certificateKey.pemRepresentation, certificateName: "the certificate from \(settings.acmeDirectory)",
                keyName: "the new key")
            // The issuer first: a process reloading on the certificate's change must find it already written.
            if let issuer = files.issuer { try PrivateFile.write(Data(settings.acmeDirectory.utf8), to: URL(fileURLWithPath: issuer)) }
            try PrivateFile.write(Data(certificateKey.pemRepresentation.utf8), to: URL(fileURLWithPath: files.key))
            try PrivateFile.write(Data(chain.utf8), to: URL(fileURLWithPath: files.certificate))
            serve(pair, how: "obtained")
            try? await client.shutdown()
            return .renewed(pair)
        } catch {
            logger.error("\(Self.acmeLine(error)); the certificate in service stays (\(expiry(certificates.pair)))")
            try? await client.shutdown()
            return .failed
        }
    }

    private static func acmeLine(_ error: any Error) -> String {
        let text = "\(error)"
        return text.hasPrefix("acme:") ? text : "acme: \(text)"
    }

    /// async-http-client, trusting `tls.acmeCA` for the ACME server when it is set.
    private func makeClient() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let path = settings.acmeCA {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(20))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    private func loadOrCreateAccountKey(_ path: String) throws -> P256.Signing.PrivateKey {
        if let data = FileManager.default.contents(atPath: path) {
            return try P256.Signing.PrivateKey(pemRepresentation: String(decoding: data, as: UTF8.self))
        }
        let key = P256.Signing.PrivateKey()
        try PrivateFile.write(Data(key.pemRepresentation.utf8), to: URL(fileURLWithPath: path))
        logger.notice("acme: created an account key", metadata: ["file": "\(path)"])
        return key
    }

    private func responder() -> ACMEClient.Responder {
        let certificates = self.certificates
        switch settings.challengeKind {
        case .http01:
            return ACMEClient.Responder(
                kind: .http01,
                present: { _, token, keyAuthorization in certificates.setHTTPChallenge(keyAuthorization, token: token) },
                remove: { _, token in certificates.setHTTPChallenge(nil, token: token) })
        case .tlsALPN01:
            return ACMEClient.Responder(
                kind: .tlsALPN01,
                present: { domain, _, keyAuthorization in
                    certificates.setALPNChallenge(
                        try ACMEChallengeCertificate.context(domain: domain, keyAuthorization: keyAuthorization, now: Date()), for: domain)
                },
                remove: { domain, _ in certificates.setALPNChallenge(nil, for: domain) })
        }
    }
}

/// An exclusive `flock` on a file, or nil when another process holds it.
struct FileLock {
    private let descriptor: Int32

    init?(path: String) {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return nil }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    func release() {
        close(descriptor)
    }
}
