import AsyncHTTPClient
import NIOSSL
import NIOHTTP1
import PlazaHTTPClient
import Crypto
import X509
import SwiftASN1
import Foundation

/// An ACME client (RFC 8555) for one certificate order: account, order, one challenge per domain, finalization
/// with a CSR, download. Requests are signed (JWS, ES256) with the account key; every call has a deadline and
/// every poll a bound.
struct ACMEClient {
    let directoryURL: String
    let accountKey: P256.Signing.PrivateKey
    let contact: String?
    let client: HTTPClient
    /// Log lines, each starting `acme:`.
    let log: @Sendable (String) -> Void

    /// A failure, with what the ACME server said when it said something.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Answers one challenge while it is pending: set up before the server is told to validate, torn down after.
    struct Responder: Sendable {
        let kind: ACMEChallengeKind
        let present: @Sendable (_ domain: String, _ token: String, _ keyAuthorization: String) throws -> Void
        let remove: @Sendable (_ domain: String, _ token: String) -> Void
    }

    /// Obtains a certificate for `domains` (the first is the subject) whose key is `certificateKey`; returns its
    /// PEM chain.
    func obtain(domains: [String], certificateKey: P256.Signing.PrivateKey, responder: Responder) async throws -> String {
        var session = try await Session(client: self)
        let account = try await session.account()
        log("acme: account \(account)")
        let (orderURL, order) = try await session.newOrder(domains: domains)
        for authorization in order.authorizations {
            try await session.authorize(authorization, responder: responder)
        }
        let csr = try Self.csr(domains: domains, key: certificateKey)
        var finalized = try await session.postJSON(order.finalize, ["csr": Self.base64URL(csr)]).json
        finalized = try await session.poll(orderURL, until: "valid", failing: ["invalid"], start: finalized, what: "the order")
        guard let certificateURL = finalized["certificate"] as? String else { throw Failure(description: "acme: the valid order names no certificate") }
        let answer = try await session.post(certificateURL, payload: nil, accept: "application/pem-certificate-chain")
        guard answer.status == 200, answer.text.contains("BEGIN CERTIFICATE") else {
            throw Failure(description: "acme: downloading the certificate: \(Self.problem(answer))")
        }
        return answer.text
    }

    // MARK: The protocol

    /// One conversation with the server: its directory, the last nonce and the account URL.
    struct Session {
        let client: ACMEClient
        let directory: [String: Any]
        var nonce: String?
        var accountURL: String?

        init(client: ACMEClient) async throws {
            self.client = client
            let answer = try await client.send(HTTPCall(.GET, client.directoryURL))
            guard answer.status == 200, let directory = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any],
                directory["newNonce"] is String, directory["newAccount"] is String, directory["newOrder"] is String
            else {
                throw Failure(description: "acme: \(client.directoryURL) is not an ACME directory (HTTP \(answer.status))")
            }
            self.directory = directory
        }

        func endpoint(_ name: String) -> String { directory[name] as! String }

        mutating func freshNonce() async throws -> String {
            if let nonce {
                self.nonce = nil
                return nonce
            }
            let answer = try await client.send(HTTPCall(.HEAD, endpoint("newNonce")))
            guard let nonce = answer.headers.first(name: "Replay-Nonce") else {
                throw Failure(description: "acme: the server gave no nonce (HTTP \(answer.status))")
            }
            return nonce
        }

        /// The account of the key, created (terms agreed) if it does not exist.
        mutating func account() async throws -> String {
            var payload: [String: Any] = ["termsOfServiceAgreed": true]
            if let contact = client.contact { payload["contact"] = ["mailto:\(contact)"] }
            let answer = try await post(endpoint("newAccount"), payload: payload, embedKey: true)
            guard answer.status == 200 || answer.status == 201, let location = answer.headers.first(name: "Location") else {
                throw Failure(description: "acme: the account was refused: \(ACMEClient.problem(answer))")
            }
            accountURL = location
            return location
        }

        struct Order {
            var authorizations: [String]
            var finalize: String
        }

        mutating func newOrder(domains: [String]) async throws -> (String, Order) {
            let answer = try await postJSON(endpoint("newOrder"), ["identifiers": domains.map { ["type": "dns", "value": $0] }])
            guard let location = answer.headers.first(name: "Location"), let authorizations = answer.json["authorizations"] as? [String],
                let finalize = answer.json["finalize"] as? String
            else {
                throw Failure(description: "acme: the order was refused: \(ACMEClient.problem(answer))")
            }
            return (location, Order(authorizations: authorizations, finalize: finalize))
        }

        /// Proves one domain with the responder's challenge, unless the server already holds it valid.
        mutating func authorize(_ url: String, responder: Responder) async throws {
            let authorization = try await post(url, payload: nil).jsonOrFail("the authorization")
            let domain = (authorization["identifier"] as? [String: Any])?["value"] as? String ?? "?"
            if authorization["status"] as? String == "valid" { return }
            let challenges = authorization["challenges"] as? [[String: Any]] ?? []
            guard let challenge = challenges.first(where: { $0["type"] as? String == responder.kind.rawValue }),
                let challengeURL = challenge["url"] as? String, let token = challenge["token"] as? String
            else {
                let offered = challenges.compactMap { $0["type"] as? String }.joined(separator: ", ")
                throw Failure(description: "acme: \(domain): the server does not offer \(responder.kind.rawValue) (offers \(offered))")
            }
            let keyAuthorization = token + "." + ACMEClient.thumbprint(client.accountKey.publicKey)
            try responder.present(domain, token, keyAuthorization)
            defer { responder.remove(domain, token) }
            client.log("acme: \(domain): answering \(responder.kind.rawValue)")
            let accepted = try await postJSON(challengeURL, [:])
            guard accepted.status == 200 else { throw Failure(description: "acme: \(domain): \(ACMEClient.problem(accepted))") }
            _ = try await poll(url, until: "valid", failing: ["invalid", "deactivated", "expired", "revoked"], start: nil, what: "\(domain)'s authorization")
            client.log("acme: \(domain): proved")
        }

        /// POST-as-GET `url` until its `status` is `wanted` (or one of `failing`), for at most two minutes.
        mutating func poll(_ url: String, until wanted: String, failing: Set<String>, start: [String: Any]?, what: String) async throws -> [String: Any] {
            var current = start
            let deadline = ContinuousClock.now + .seconds(120)
            var delay = Duration.milliseconds(500)
            while true {
                if let current, let status = current["status"] as? String {
                    if status == wanted { return current }
                    if failing.contains(status) {
                        throw Failure(description: "acme: \(what) is \(status): \(ACMEClient.describeErrors(current))")
                    }
                }
                guard ContinuousClock.now < deadline else { throw Failure(description: "acme: \(what) was not \(wanted) within two minutes") }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
                current = try await post(url, payload: nil).jsonOrFail(what)
            }
        }

        mutating func postJSON(_ url: String, _ payload: [String: Any]) async throws -> HTTPCall.Answer {
            try await post(url, payload: payload)
        }

        /// A signed POST (a POST-as-GET when `payload` is nil), retried with a fresh nonce when the server
        /// refuses the one used (`badNonce`, which servers may send at any time).
        mutating func post(_ url: String, payload: [String: Any]?, embedKey: Bool = false, accept: String? = nil) async throws -> HTTPCall.Answer {
            for _ in 0..<5 {
                var protected: [String: Any] = ["alg": "ES256", "nonce": try await freshNonce(), "url": url]
                if embedKey || accountURL == nil { protected["jwk"] = ACMEClient.jwk(client.accountKey.publicKey) } else { protected["kid"] = accountURL }
                let body = try ACMEClient.jws(protected: protected, payload: payload, key: client.accountKey)
                var headers = [("Content-Type", "application/jose+json")]
                if let accept { headers.append(("Accept", accept)) }
                let answer = try await client.send(HTTPCall(.POST, url, headers: headers, body: body))
                nonce = answer.headers.first(name: "Replay-Nonce")
                if answer.status == 400, (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["type"] as? String
                    == "urn:ietf:params:acme:error:badNonce"
                {
                    continue
                }
                return answer
            }
            throw Failure(description: "acme: the server refused five nonces in a row")
        }
    }

    func send(_ call: HTTPCall) async throws -> HTTPCall.Answer {
        var call = call
        call.timeout = .seconds(20)
        do {
            return try await call.send(using: client)
        } catch {
            throw Failure(description: "acme: cannot reach \(call.url): \(error)")
        }
    }

    // MARK: JWS and keys (RFC 7515, 7517, 7638)

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The public key as a JWK, members in the order RFC 7638 fixes for the thumbprint.
    static func jwkJSON(_ key: P256.Signing.PublicKey) -> String {
        let raw = Array(key.rawRepresentation)
        return #"{"crv":"P-256","kty":"EC","x":"\#(base64URL(raw[0..<32]))","y":"\#(base64URL(raw[32..<64]))"}"#
    }

    static func jwk(_ key: P256.Signing.PublicKey) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(jwkJSON(key).utf8))) as? [String: Any] ?? [:]
    }

    static func thumbprint(_ key: P256.Signing.PublicKey) -> String {
        base64URL(SHA256.hash(data: Data(jwkJSON(key).utf8)))
    }

    /// The flattened JSON serialization of a JWS over `payload` (empty for POST-as-GET).
    static func jws(protected: [String: Any], payload: [String: Any]?, key: P256.Signing.PrivateKey) throws -> [UInt8] {
        let header = base64URL(try JSONSerialization.data(withJSONObject: protected, options: [.sortedKeys, .withoutEscapingSlashes]))
        let body = try payload.map { base64URL(try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes])) } ?? ""
        let signature = try key.signature(for: Data("\(header).\(body)".utf8))
        let document = ["protected": header, "payload": body, "signature": base64URL(signature.rawRepresentation)]
        return Array(try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]))
    }

    /// A PKCS #10 request for `domains`, DER.
    static func csr(domains: [String], key: P256.Signing.PrivateKey) throws -> [UInt8] {
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(domains.map { .dnsName($0) }) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(domains[0]) }, privateKey: .init(key),
            attributes: CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    // MARK: Problems (RFC 7807)

    static func problem(_ answer: HTTPCall.Answer) -> String {
        guard let problem = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] else {
            return "HTTP \(answer.status)"
        }
        let type = (problem["type"] as? String).map { $0.replacingOccurrences(of: "urn:ietf:params:acme:error:", with: "") } ?? "HTTP \(answer.status)"
        return "\(type): \(problem["detail"] as? String ?? "")"
    }

    /// The errors an invalid authorization or order carries (its challenges' `error`s).
    static func describeErrors(_ object: [String: Any]) -> String {
        var errors: [String] = []
        if let error = object["error"] as? [String: Any] { errors.append(describe(error)) }
        for challenge in object["challenges"] as? [[String: Any]] ?? [] {
            if let error = challenge["error"] as? [String: Any] { errors.append(describe(error)) }
        }
        return errors.isEmpty ? "no reason given" : errors.joined(separator: "; ")
    }

    private static func describe(_ error: [String: Any]) -> String {
        let type = (error["type"] as? String ?? "").replacingOccurrences(of: "urn:ietf:params:acme:error:", with: "")
        return "\(type): \(error["detail"] as? String ?? "")"
    }
}

extension HTTPCall.Answer {
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }

    func jsonOrFail(_ what: String) throws -> [String: Any] {
        guard status == 200, let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw ACMEClient.Failure(description: "acme: reading \(what): \(ACMEClient.problem(self))")
        }
        return object
    }
}
