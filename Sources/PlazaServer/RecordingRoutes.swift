import Hummingbird
import PlazaCore
import PlazaStore
import PlazaProtocol
import PlazaAuth
import Foundation

/// Recordings on a directory: `POST /api/v1/rooms/{room}/recordings` gives the room an idle, healthy recorder
/// (its agent starts Jibri on its next poll), `DELETE` stops it and frees the recorder. A moderator of the room
/// (its room token) or the admin may start and stop one.
struct RecordingRoutes {
    let node: PlazaNode

    func register(on api: RouterGroup<PlazaRequestContext>) {
        api.post("rooms/:room/recordings") { request, context in try await start(request, context) }
        api.delete("rooms/:room/recordings") { request, context in try await stop(request, context) }
    }

    private func authorize(_ request: Request, _ context: PlazaRequestContext) async throws -> (RoomName, any MediaStore, Int64) {
        guard let parameter = context.parameters.get("room"), let room = RoomName(parameter) else {
            throw APIError(.badRequest, .invalidRoom, "invalid room name")
        }
        guard let token = APIRoutes.bearer(request) else {
            throw APIError.unauthorized("send a moderator's room token or the admin token as 'Authorization: Bearer <token>'")
        }
        let api = APIRoutes(node: node)
        if !api.isAdmin(token) {
            let grant = try await api.ownGrant(token)
            guard grant.allows(room), grant.role == .moderator else {
                throw APIError(.forbidden, .forbidden, "only a moderator of the room records it")
            }
        }
        guard let directory = node.directory else {
            throw APIError(.notFound, .notFound, "recordings are assigned by a directory of a fleet")
        }
        return (room, directory.media, directory.policy.heartbeatTTL)
    }

    private func start(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let (room, media, heartbeatTTL) = try await authorize(request, context)
        let outcome = try await storeCall { try await media.startRecording(room, heartbeatTTL: heartbeatTTL, now: wallClockMilliseconds()) }
        guard let outcome else {
            throw APIError(
                .serviceUnavailable, .recordersBusy, "every recorder is busy; try again later",
                retryAfter: node.configuration.media.retryAfter)
        }
        return try Self.json(outcome.recording, status: outcome.started ? .created : .ok)
    }

    private func stop(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let (room, media, _) = try await authorize(request, context)
        let stopped = try await storeCall { try await media.stopRecording(room) }
        guard let stopped else { throw APIError(.notFound, .notFound, "the room is not being recorded") }
        return try Self.json(stopped, status: .ok)
    }

    /// `{"room", "recorder", "startedAt"}`.
    struct Answer: Encodable {
        var room, recorder: String
        var startedAt: Int64
    }

    static func json(_ recording: Recording, status: HTTPResponse.Status) throws -> Response {
        try APIRoutes.json(
            Answer(room: recording.room.rawValue, recorder: recording.recorder, startedAt: recording.startedAt), status: status)
    }
}
