// Plaza's one way to make an outbound HTTP call: async-http-client's shared client, with a deadline on every
// call and a bound on every answer. The directory asks Prometheus, the agent asks its media server, the aws
// provider asks the Auto Scaling and CloudWatch APIs, `plaza fleet` asks a directory, and the benchmarks and
// tests set up their runs, all through `HTTPCall`.

public import AsyncHTTPClient
public import NIOHTTP1
import NIOCore
public import Foundation

/// One request and its whole answer.
public struct HTTPCall: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// The whole call, connection included, must finish within this.
    public var timeout: Duration
    /// Largest answer body read; a longer one fails the call.
    public var maximumBody: Int

    public init(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(10),
        maximumBody: Int = 4 << 20
    ) {
        (self.method, self.url, self.headers, self.body, self.timeout) = (method, url, headers, body, timeout)
        self.maximumBody = maximumBody
    }

    /// The answer of an HTTP call.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: Data

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends the request and reads the whole answer. Throws when the server cannot be reached, the deadline
    /// passes or the body is longer than `maximumBody`; an error status is an answer, not a throw.
    public func send(using client: HTTPClient = .shared) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let deadline = TimeAmount.nanoseconds(
            timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        let response = try await client.execute(request, timeout: deadline)
        let body = try await response.body.collect(upTo: maximumBody)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }

    /// A JSON body with its content type.
    public static func json(_ method: HTTPMethod, _ url: String, body: String?, bearer: String? = nil, timeout: Duration = .seconds(10))
        -> HTTPCall
    {
        var headers: [(String, String)] = []
        if body != nil { headers.append(("Content-Type", "application/json")) }
        if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        return HTTPCall(method, url, headers: headers, body: body.map { Array($0.utf8) }, timeout: timeout)
    }
}
