import Testing
import Foundation
import JWTKit
import PlazaTesting
import PlazaBench
import PlazaProtocol
import PlazaWebSocketClient

/// `plaza secrets` as an operator runs it: the files it writes start `plaza serve` and a fleet; it never prints
/// or replaces a secret unasked; `rotate` keeps tokens signed before it valid until they expire.
@Suite(.serialized) struct SecretsTests {
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func configuration(_ folder: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("plaza.json"))) as! [String: Any]
    }

    @Test func theFilesArePrivateNoSecretIsPrintedAndNothingIsReplacedUnasked() async throws {
        let out = try Self.folder()
        defer { try? FileManager.default.removeItem(at: out) }
        let first = try await PlazaProcess.run(["secrets", "--out", out.path], directory: out)
        #expect(first.status == 0, "\(first.output)")
        let config = out.appendingPathComponent("plaza.json"), env = out.appendingPathComponent("plaza.env")
        for file in [config, env] {
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file.lastPathComponent) has mode \(String(mode ?? 0, radix: 8))")
        }
        let written = try String(contentsOf: env, encoding: .utf8)
        let values = written.split(separator: "\n").compactMap { $0.split(separator: "=", maxSplits: 1).last.map(String.init) }
        #expect(values.count == 3)
        for value in values {
            #expect(value.count == 64)
            #expect(!first.output.contains(value), "a secret was printed")
        }
        #expect(first.output.contains("plaza serve --config \(config.path)"))
        let before = try Data(contentsOf: config)
        let second = try await PlazaProcess.run(["secrets", "--out", out.path], directory: out)
        #expect(second.status != 0)
        #expect(second.output.contains("already exist: nothing was written"))
        #expect(try Data(contentsOf: config) == before)
        #expect(try String(contentsOf: env, encoding: .utf8) == written)
        let forced = try await PlazaProcess.run(["secrets", "--out", out.path, "--force"], directory: out)
        #expect(forced.status == 0)
        #expect(try Data(contentsOf: config) != before)
    }

    @Test func theSecretsStartServeAndRotationDropsNoOne() async throws {
        let out = try Self.folder()
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(try await PlazaProcess.run(["secrets", "--out", out.path], directory: out).status == 0)
        let executable = try PlazaExecutable.path()
        let data = out.appendingPathComponent("data").path
        let settings = ["PLAZA_AUTH_TOKEN_TTL": "6"]
        var server = try await BenchServer.start(
            executable: executable, arguments: ["serve", "--config", out.appendingPathComponent("plaza.json").path, "--data-dir", data],
            environment: settings)
        let before = try await HTTP.join(server.baseURL, "party", name: "Ann")
        #expect(before.status == 200, "\(before.text)")
        let token = try #require(before.json.string("token"))
        let adminToken = try #require((Self.configuration(out)["auth"] as? [String: Any])?["adminToken"] as? String)
        #expect(try await HTTP.request("GET", server.baseURL + "/api/v1/rooms", bearer: adminToken).status == 200)
        server.stop()

        let rotated = try await PlazaProcess.run(["secrets", "rotate", "--out", out.path], directory: out)
        #expect(rotated.status == 0, "\(rotated.output)")
        let auth = try #require(Self.configuration(out)["auth"] as? [String: Any])
        #expect((auth["previousSecrets"] as? [String])?.count == 1)
        let env = try String(contentsOf: out.appendingPathComponent("plaza.env"), encoding: .utf8)
        #expect(env.contains("PLAZA_AUTH_PREVIOUS_SECRETS="))
        server = try await BenchServer.start(
            executable: executable, arguments: ["serve", "--config", out.appendingPathComponent("plaza.json").path, "--data-dir", data],
            environment: settings)
        defer { server.stop() }
        // The token from before the rotation renews: same participant, a token signed with the new secret.
        let renewed = try await HTTP.join(server.baseURL, "party", name: "Ann", bearer: token)
        #expect(renewed.status == 200, "\(renewed.text)")
        #expect(renewed.json.string("participant") == before.json.string("participant"))
        // A token signed with a secret never configured is refused.
        let stranger = JWTKeyCollection()
        await stranger.add(hmac: HMACKey(from: String(repeating: "x", count: 64)), digestAlgorithm: .sha256)
        struct Claims: JWTPayload {
            var sub: SubjectClaim, name: String, room: String, exp: ExpirationClaim
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let forged = try await stranger.sign(
            Claims(sub: .init(value: "g-forged"), name: "Eve", room: "party", exp: .init(value: Date().addingTimeInterval(600))))
        #expect(try await HTTP.join(server.baseURL, "party", name: "Eve", bearer: forged).status == 401)
        // Until it expires: then the old token is refused like any expired one.
        try await Task.sleep(for: .seconds(7))
        #expect(try await HTTP.join(server.baseURL, "party", name: "Ann", bearer: token).status == 401)
    }

    @Test func theFleetSecretsStartADirectoryAndANode() async throws {
        let out = try Self.folder()
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(try await PlazaProcess.run(["secrets", "--for", "fleet", "--out", out.path], directory: out).status == 0)
        let store = try #require(Self.configuration(out)["store"] as? String)
        let password = try #require(URLComponents(string: store)?.password)
        #expect(try String(contentsOf: out.appendingPathComponent("plaza.env"), encoding: .utf8).contains("POSTGRES_PASSWORD=\(password)"))
        // The test's PostgreSQL listens elsewhere than the generated URL's 5432: the same user and password, its port.
        var database = try #require(URLComponents(string: try PostgresServer.shared().createDatabase()))
        database.password = password
        let config = out.appendingPathComponent("plaza.json").path
        let timings = FleetProcessTests.fastTimings
        let directory = try await BenchServer.start(
            executable: try PlazaExecutable.path(), arguments: ["directory", "--config", config, "--store", database.string!],
            environment: timings)
        defer { directory.stop() }
        let port = try LoopbackPort.free()
        let node = try await BenchServer.start(
            executable: try PlazaExecutable.path(),
            arguments: ["node", "--config", config, "--store", database.string!, "--node-id", "n-1", "--public-url", "http://127.0.0.1:\(port)"],
            port: port, environment: timings)
        defer { node.stop() }
        var joined = try await HTTP.join(directory.baseURL, "party", name: "Ann")
        for _ in 0..<50 where joined.status != 200 {
            try await Task.sleep(for: .milliseconds(100))  // the node's first heartbeat
            joined = try await HTTP.join(directory.baseURL, "party", name: "Ann")
        }
        #expect(joined.status == 200, "\(joined.text)")
        let client = try await TestClient.connect(url: try #require(joined.json.string("url")))
        let welcome = try await client.hello(try #require(joined.json.string("token")))
        #expect(welcome.string("type") == "welcome", "a token the directory signed is accepted by the node")
        client.close()
    }
}
