public import Hummingbird
public import PlazaProtocol
import Foundation

/// An HTTP API error: a status and a stable code, rendered as `{"error":{"code":…,"message":…}}`. Errors that
/// also end WebSockets are `Refusal`s, which become one of these with the status their mapping gives.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: ErrorCode
    public var message: String
    /// Seconds the caller should wait before trying again (`Retry-After`), for an answer that says "busy".
    public var retryAfter: Int?
    /// Fields the answer carries besides its body (`Allow` on a 405, `Upgrade` on a 426).
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, retryAfter: Int? = nil, headers: HTTPFields = [:]
    ) {
        (self.status, self.code, self.message, self.retryAfter, self.headers) = (status, code, message, retryAfter, headers)
    }

    /// The HTTP answer to `refusal`.
    public init(_ refusal: Refusal) {
        self.init(HTTPResponse.Status(code: refusal.status), refusal.code, refusal.message, retryAfter: refusal.retryAfter)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Self.render(status: status, code: code, message: message)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        response.headers.append(contentsOf: headers)
        return response
    }

    public static func render(status: HTTPResponse.Status, code: ErrorCode, message: String) -> Response {
        var w = JSONWriter()
        w.raw("{\"error\":{\"code\":")
        w.string(code.rawValue)
        w.raw(",\"message\":")
        w.string(message)
        w.raw("}}")
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    public static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, .unauthorized, message) }
}

/// Runs a store call for a request: any failure of the store is `503 store_unavailable` with `message`.
@discardableResult
public func storeCall<T>(message: String = "the store is unreachable", _ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch {
        throw APIError(Refusal.storeUnavailable(message))
    }
}

/// Gives every error, including the router's own 404 and 405, the documented JSON shape.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let refusal as Refusal {
            throw APIError(refusal)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: throw APIError(.notFound, .notFound, "no such resource")
            case .methodNotAllowed: throw APIError(.methodNotAllowed, .invalidRequest, "method not allowed")
            case .contentTooLarge: throw APIError(.contentTooLarge, .invalidRequest, "request body too large")
            case .badRequest: throw APIError(.badRequest, .invalidRequest, error.body ?? "bad request")
            default: throw APIError(error.status, .internal, error.body ?? "request failed")
            }
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, .internal, "internal error")
        }
    }
}
