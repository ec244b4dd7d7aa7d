import Hummingbird
import PlazaCore
import PlazaStore
import PlazaProtocol
import PlazaAuth
import PlazaTransport
import PlazaFleetModel
import Foundation

/// Recordings on a directory: `POST /api/v1/rooms/{room}/recordings` gives the room an idle, healthy recorder
/// (its agent starts Jibri on its next poll), `DELETE` stops it and frees the recorder. A moderator of the room
/// (its room token) or the admin may start and stop one.
struct RecordingRoutes {
    let directory: DirectoryServer

    func register(on api: RouterGroup<PlazaRequestContext>) {
        api.post("rooms/:room/recordings") { request, context in try await start(request, context) }
        api.delete("rooms/:room/recordings") { request, context in try await stop(request, context) }
    }

    /// The room, once the request proved it carries the room's moderator token or the admin token.
    private func authorize(_ request: Request, _ context: PlazaRequestContext) async throws -> RoomName {
        let room = try context.room()
        guard let token = request.bearerToken else {
            throw Refusal.unauthorized("send a moderator's room token or the admin token as 'Authorization: Bearer <token>'")
        }
        if !directory.api.isAdmin(token) {
            let grant = try await directory.api.ownGrant(token)
            guard grant.allows(room), grant.role == .moderator else {
                throw Refusal.forbidden("only a moderator of the room records it")
            }
        }
        return room
    }

    private func start(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let room = try await authorize(request, context)
        let (store, heartbeatTTL) = (directory.store, directory.policy.heartbeatTTL)
        let outcome = try await storeCall { try await store.startRecording(room, heartbeatTTL: heartbeatTTL, now: store.fleetTime()) }
        guard let outcome else { throw Refusal.recordersBusy(retryAfter: directory.configuration.media.retryAfter) }
        return try Self.json(outcome.recording, status: outcome.started ? .created : .ok)
    }

    private func stop(_ request: Request, _ context: PlazaRequestContext) async throws -> Response {
        let room = try await authorize(request, context)
        let store = directory.store
        let stopped = try await storeCall { try await store.stopRecording(room) }
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
            Answer(room: recording.room.rawValue, recorder: recording.recorder.rawValue, startedAt: recording.startedAt), status: status)
    }
}
