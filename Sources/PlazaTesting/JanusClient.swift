import Foundation
import PlazaHTTPClient

/// A participant's side of Janus through its HTTP API (`JanusServer.apiURL`), as far as tests need it: a session
/// opened with a stored token, the VideoRoom plugin attached, requests sent and their events read by long poll.
public struct JanusClient: Sendable {
    public let apiURL: String
    public let token: String
    public let session: Int64
    public let handle: Int64

    /// A refusal: Janus's code (403 a token it does not admit, 433 a wrong pin, …) and reason.
    public struct Refused: Error, Equatable, CustomStringConvertible {
        public var code: Int
        public var reason: String
        public var description: String { "janus \(code): \(reason)" }
    }

    /// Opens a session with `token` and attaches the VideoRoom plugin.
    public static func open(apiURL: String, token: String) async throws -> JanusClient {
        let session = try await call(apiURL, ["janus": "create", "token": token])
        let handle = try await call("\(apiURL)/\(session)", ["janus": "attach", "plugin": "janus.plugin.videoroom", "token": token])
        return JanusClient(apiURL: apiURL, token: token, session: session, handle: handle)
    }

    /// Joins VideoRoom room `room` with `pin` as a publisher (no media) named `display`, giving the session's token
    /// for the room's own list; its id in the room.
    public func joinAsPublisher(room: Int64, pin: String, display: String) async throws -> Int64 {
        let event = try await request(["request": "join", "ptype": "publisher", "room": room, "pin": pin, "display": display, "token": token])
        guard event["videoroom"] as? String == "joined", let id = (event["id"] as? NSNumber)?.int64Value else {
            throw Refused(code: 0, reason: "unexpected answer: \(event)")
        }
        return id
    }

    /// Sends a VideoRoom request and returns the plugin's answer (its `plugindata.data`), synchronous or by event.
    public func request(_ body: [String: Any]) async throws -> [String: Any] {
        let answer = try await Self.post("\(apiURL)/\(session)/\(handle)", ["janus": "message", "body": body, "token": token])
        var data = (answer["plugindata"] as? [String: Any])?["data"] as? [String: Any]
        if data == nil {
            // Asynchronous: the answer comes as an event on the session.
            for _ in 0..<20 where data == nil {
                let poll = try await HTTPCall(.GET, "\(apiURL)/\(session)?maxev=1&token=\(token)", timeout: .seconds(40)).send()
                let event = try JSONSerialization.jsonObject(with: poll.body) as? [String: Any] ?? [:]
                try Self.check(event)
                data = (event["plugindata"] as? [String: Any])?["data"] as? [String: Any]
            }
        }
        guard let data else { throw Refused(code: 0, reason: "no answer from the plugin") }
        if let code = data["error_code"] as? Int { throw Refused(code: code, reason: data["error"] as? String ?? "refused") }
        return data
    }

    /// A keepalive on the session (refused once the token is taken back).
    public func keepAlive() async throws {
        _ = try await Self.post("\(apiURL)/\(session)", ["janus": "keepalive", "token": token])
    }

    private static func call(_ url: String, _ body: [String: Any]) async throws -> Int64 {
        let answer = try await post(url, body)
        guard let id = ((answer["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value else {
            throw Refused(code: 0, reason: "no id in \(answer)")
        }
        return id
    }

    private static func post(_ url: String, _ body: [String: Any]) async throws -> [String: Any] {
        var body = body
        body["transaction"] = UUID().uuidString
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let answer = try await HTTPCall.json(.POST, url, body: json, timeout: .seconds(10)).send()
        let object = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any] ?? [:]
        try check(object)
        return object
    }

    private static func check(_ object: [String: Any]) throws {
        guard object["janus"] as? String == "error" else { return }
        let error = object["error"] as? [String: Any]
        throw Refused(code: error?["code"] as? Int ?? 0, reason: error?["reason"] as? String ?? "error")
    }
}
