public import PlazaProtocol
import Foundation
import PlazaHTTPClient

/// An HTTP response: status and the body parsed as JSON (`.null` when empty or not JSON).
public struct HTTPResult: Sendable {
    public var status: Int
    public var json: JSONValue
    public var text: String
    public var contentType: String?
    /// `Retry-After`, on a "busy" answer.
    public var retryAfter: String?
}

/// The tests' HTTP client: one request at a time, to any base URL (a server, a directory, a proxy).
public enum HTTP {
    public static func request(
        _ method: String, _ url: String, body: String? = nil, bearer: String? = nil
    ) async throws -> HTTPResult {
        let answer = try await HTTPCall.json(.init(rawValue: method), url, body: body, bearer: bearer).send()
        return HTTPResult(
            status: answer.status, json: JSONValue.parse(answer.body) ?? .null, text: answer.text,
            contentType: answer.headers.first(name: "Content-Type"), retryAfter: answer.headers.first(name: "Retry-After"))
    }

    /// `POST /api/v1/join` at `base` for `room` as `name`.
    public static func join(_ base: String, _ room: String, name: String, bearer: String? = nil) async throws -> HTTPResult {
        try await request("POST", base + "/api/v1/join", body: #"{"room":"\#(room)","name":"\#(name)"}"#, bearer: bearer)
    }
}

/// A shipped configuration file with test addresses and timings put in: each key of `replacements` replaced by
/// its value. Throws if a key is missing, so a test notices when the shipped file changed under it.
public func substituting(_ replacements: [(String, String)], in text: String) throws -> String {
    try replacements.reduce(text) { text, pair in
        guard text.contains(pair.0) else { throw TestFailure("the configuration has no '\(pair.0)'") }
        return text.replacingOccurrences(of: pair.0, with: pair.1)
    }
}

/// Stops a child process: SIGTERM, then SIGKILL if it has not exited after 10 s. Foundation reaps it.
func stop(_ process: Process) {
    guard process.isRunning else { return }
    process.terminate()
    let deadline = Date().addingTimeInterval(10)
    while process.isRunning, Date() < deadline { usleep(50_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

/// Polls `condition` every 50 ms until it holds or `timeout` seconds pass; returns whether it held. For waiting
/// on what a server does in the background (a heartbeat, a health check) instead of sleeping a fixed time.
public func eventually(timeout: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
