import Hummingbird
import Logging

/// The browser client: static files served from `web.root` with no build step, and `/r/{room}` links that
/// open the lobby for a room.
struct WebClient {
    let root: String

    /// Files from `root`; modules are revalidated on every load (ETag) so an upgrade reaches browsers at once.
    func fileMiddleware(logger: Logger) -> FileMiddleware<PlazaRequestContext, LocalFileSystem> {
        FileMiddleware(
            root, cacheControl: .init([(MediaType(type: .any), [.noCache])]), searchForIndexHtml: true, logger: logger)
    }

    func register(on router: Router<PlazaRequestContext>) {
        let fileIO = FileIO()
        let index = root + "/index.html"
        router.get("/r/:room") { _, context in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                body: try await fileIO.loadFile(path: index, context: context))
        }
    }
}
