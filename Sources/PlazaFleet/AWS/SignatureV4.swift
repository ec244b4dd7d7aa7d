import Crypto
#if canImport(Glibc)
import Glibc
#endif
public import Foundation

/// AWS Signature Version 4: signs a request with an access key for one region and service. Verified against
/// AWS's published test suite (Tests/PlazaFleetTests/SignatureV4Tests).
public struct SignatureV4: Sendable {
    /// An access key, its secret and, for temporary credentials, the session token: read from the standard `AWS_*`
    /// variables.
    public struct Credentials: Sendable, Equatable {
        public var accessKeyID: String
        public var secretAccessKey: String
        /// Temporary credentials (an instance role) come with a session token, sent as `X-Amz-Security-Token`.
        public var sessionToken: String?

        public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
            (self.accessKeyID, self.secretAccessKey, self.sessionToken) = (accessKeyID, secretAccessKey, sessionToken)
        }

        /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` from the environment.
        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Credentials? {
            guard let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else { return nil }
            return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        }
    }

    /// A request to sign: method, path, query items (unencoded), headers and body.
    public struct Request: Sendable, Equatable {
        public var method: String
        public var path: String
        public var query: [(String, String)]
        public var headers: [(String, String)]
        public var body: Data

        public init(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)], body: Data = Data()) {
            (self.method, self.path, self.query, self.headers, self.body) = (method, path, query, headers, body)
        }

        public static func == (a: Request, b: Request) -> Bool {
            a.method == b.method && a.path == b.path && a.query.elementsEqual(b.query, by: ==)
                && a.headers.elementsEqual(b.headers, by: ==) && a.body == b.body
        }
    }

    public let credentials: Credentials
    public let region: String
    public let service: String

    public init(credentials: Credentials, region: String, service: String) {
        (self.credentials, self.region, self.service) = (credentials, region, service)
    }

    /// `20150830T123600Z` for `date`: the `X-Amz-Date` header (its first 8 characters are the scope's day).
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var utc = tm()
        gmtime_r(&seconds, &utc)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec)
    }

    /// The canonical request of `request`: method, path, query, headers, signed header names, body hash.
    public static func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        let encoded: [(key: String, value: String)] = request.query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { a, b in a.key != b.key ? a.key < b.key : a.value < b.value }
        let query = sorted.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        var headers: [String: [String]] = [:]
        for (name, value) in request.headers {
            let trimmed = value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            headers[name.lowercased(), default: []].append(trimmed)
        }
        let names = headers.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(headers[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let text = [
            request.method, canonicalPath(request.path), query, canonicalHeaders, signedHeaders,
            hex(SHA256.hash(data: request.body)),
        ].joined(separator: "\n")
        return (text, signedHeaders)
    }

    /// The `Authorization` header for `request` at `amzDate` (its `X-Amz-Date` header).
    public func authorization(_ request: Request, amzDate: String) -> String {
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let (canonical, signedHeaders) = Self.canonicalRequest(request)
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonical.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// Percent-encoding of everything but RFC 3986's unreserved characters, as SigV4 wants.
    public static func encode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    /// The path with `.` and `..` segments resolved, repeated slashes merged and each segment encoded.
    static func canonicalPath(_ path: String) -> String {
        var segments: [String] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(encode(String(segment)))
            }
        }
        let joined = "/" + segments.joined(separator: "/")
        return path.hasSuffix("/") && !segments.isEmpty ? joined + "/" : joined
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
