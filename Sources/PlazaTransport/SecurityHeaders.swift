import Hummingbird
import HTTPTypes
import Foundation

/// The headers every answer carries, errors included: what the browser may load and connect to, and what it must
/// not do with the page.
///
/// The web client has no inline script or style, so its policy allows none; the only sources it connects to
/// besides its own origin are the fleet's room servers, which a directory names (`connectSources`), and the media
/// bridge configured (`bridgeSources`).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Origins the page may connect to besides its own, as CSP source expressions (`wss://node-1.example.org`);
    /// nil for a role whose page connects only to its own origin and `bridgeSources`.
    let connectSources: (@Sendable () async -> [String])?
    /// The configured Janus's origin (`media.janusURL`), when there is one.
    let bridgeSources: [String]
    /// `Strict-Transport-Security`'s max-age, for answers that go out over TLS.
    let strictTransportMaxAge: Int?
    /// The fields without other origins, built once: all a room server ever sends.
    private let fixedFields: [(HTTPField.Name, String)]

    init(connectSources: (@Sendable () async -> [String])?, bridgeSources: [String] = [], strictTransportMaxAge: Int?) {
        (self.connectSources, self.bridgeSources, self.strictTransportMaxAge) = (connectSources, bridgeSources, strictTransportMaxAge)
        fixedFields = Self.fields(connectSources: bridgeSources, strictTransportMaxAge: strictTransportMaxAge)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        let fields =
            if let connectSources {
                Self.fields(connectSources: bridgeSources + (await connectSources()), strictTransportMaxAge: strictTransportMaxAge)
            } else {
                fixedFields
            }
        for (name, value) in fields where response.headers[name] == nil { response.headers[name] = value }
        return response
    }

    /// The fields, in the order they are written.
    static func fields(connectSources: [String], strictTransportMaxAge: Int?) -> [(HTTPField.Name, String)] {
        let connect = (["'self'"] + connectSources).joined(separator: " ")
        var fields: [(HTTPField.Name, String)] = [
            (
                .contentSecurityPolicy,
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
                    + "media-src 'self' blob: mediastream:; connect-src \(connect); manifest-src 'self'; base-uri 'none'; "
                    + "form-action 'self'; frame-ancestors 'none'"
            ),
            (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
            (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
            (HTTPField.Name("X-Frame-Options")!, "DENY"),
            (
                HTTPField.Name("Permissions-Policy")!,
                "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()"
            ),
            (HTTPField.Name("Cross-Origin-Opener-Policy")!, "same-origin"),
        ]
        if let strictTransportMaxAge { fields.append((.strictTransportSecurity, "max-age=\(strictTransportMaxAge)")) }
        return fields
    }
}

/// The CSP source expression that lets a page open WebSockets (and HTTP requests) to `url`'s origin: a `ws:`
/// source also matches `http:`, and `wss:` matches `https:`.
public func connectSource(forBaseURL url: String) -> String? {
    guard let components = URLComponents(string: url), let host = components.host, let scheme = components.scheme else { return nil }
    let socketScheme: String
    switch scheme {
    case "https", "wss": socketScheme = "wss"
    case "http", "ws": socketScheme = "ws"
    default: return nil
    }
    let hostPart = host.contains(":") ? "[\(host)]" : host
    return "\(socketScheme)://\(hostPart)" + (components.port.map { ":\($0)" } ?? "")
}
