import Testing
import Foundation
@testable import PlazaFleet
import PlazaCore
import PlazaMedia

/// What `plaza janus` writes for Janus, and the keys it reads.
@Suite struct JanusProcessTests {
    static func settings() -> JanusProcess.Settings {
        var settings = JanusProcess.Settings(folder: "/run/plaza janus", adminSecret: "admin \"secret\"")
        settings.roomAdminKey = "room-key"
        return settings
    }

    @Test func writesVideoRoomOnlyTokenAuthAndLoopbackAPIs() {
        let files = Self.settings().files(library: "/nonexistent", apiPort: 4001, adminPort: 4002)
        #expect(Set(files.keys) == ["janus.jcfg", "janus.transport.http.jcfg", "janus.transport.websockets.jcfg", "janus.plugin.videoroom.jcfg"])
        let main = files["janus.jcfg"] ?? ""
        #expect(main.contains("token_auth = true"))
        #expect(main.contains(#"admin_secret = "admin \"secret\"""#), "quoted for Janus's parser")
        #expect(main.contains(#"configs_folder = "/run/plaza janus""#))
        #expect(main.contains(#"rtp_port_range = "20000-20399""#))
        #expect(!main.contains("ice_enforce_list") && !main.contains("nat_1_1_mapping"))
        let http = files["janus.transport.http.jcfg"] ?? ""
        #expect(http.contains("port = 4001 ip = \"127.0.0.1\"") && http.contains("admin_port = 4002 admin_ip = \"127.0.0.1\""))
        #expect(files["janus.transport.websockets.jcfg"]?.contains(#"ws = true ws_port = 8188 ws_ip = "127.0.0.1" wss = false"#) == true)
        #expect(files["janus.plugin.videoroom.jcfg"] == "general: { admin_key = \"room-key\" }\n")
        #expect(Self.settings().webSocketURL == "ws://127.0.0.1:8188")
    }

    @Test func servesWSSWithACertificateAndAnnouncesAPublicAddress() {
        var settings = Self.settings()
        (settings.certificate, settings.key) = ("/etc/plaza/cert.pem", "/etc/plaza/key.pem")
        (settings.webSocketHost, settings.webSocketPort) = ("0.0.0.0", 8989)
        (settings.iceInterfaces, settings.publicIP) = ("eth0", "203.0.113.7")
        let files = settings.files(library: "/nonexistent", apiPort: 4001, adminPort: 4002)
        let webSocket = files["janus.transport.websockets.jcfg"] ?? ""
        #expect(webSocket.contains(#"ws = false wss = true wss_port = 8989 wss_ip = "0.0.0.0""#))
        #expect(webSocket.contains(#"cert_pem = "/etc/plaza/cert.pem" cert_key = "/etc/plaza/key.pem""#))
        #expect(files["janus.jcfg"]?.contains(#"ice_enforce_list = "eth0" nat_1_1_mapping = "203.0.113.7""#) == true)
        #expect(settings.webSocketURL == "wss://127.0.0.1:8989")
    }

    @Test func refusesBadPortsWithTheirKey() throws {
        var configuration = JanusInstanceConfiguration()
        try configuration.validate()
        configuration.rtpPorts = "20000"
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.rtpPorts = "30000-20000"
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.rtpPorts = "20000-20399"
        configuration.port = 70_000
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test func janusInheritsNoneOfPlazasSettings() {
        let environment = JanusProcess.environment(["PATH": "/usr/bin", "PLAZA_MEDIA_JANUS_ADMIN_SECRET": "s", "PLAZA_AUTH_SECRET": "t"])
        #expect(environment == ["PATH": "/usr/bin"])
    }

    @Test func anInstancesFolderIsItsOwnByDefault() throws {
        let settings = try JanusInstanceConfiguration().settings(
            instance: "bridges-1", adminSecret: "s", roomAdminKey: nil, certificate: nil, key: nil)
        #expect(settings.folder.hasSuffix("/plaza-janus-bridges-1"))
    }

    /// Janus reads the plugins it loads from its folder: only a folder of this user's that no one else may write
    /// to will do, and a symbolic link in its place is refused.
    @Test func theFolderMustBeThisUsersAlone() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-janus-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let folder = base + "/made"
        try JanusProcess.ownFolder(folder)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int)
        #expect(mode == 0o700, "made for this user alone")
        try JanusProcess.ownFolder(folder)  // as it is: fine
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder)
        #expect(throws: ProviderError.self) { try JanusProcess.ownFolder(folder) }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: folder)
        #expect(throws: ProviderError.self) { try JanusProcess.ownFolder(base + "/link") }
    }
}

/// How Plaza's rooms and tokens on a Janus name their owner and run, read back whatever the owner's name holds.
@Suite struct JanusMarksTests {
    @Test(arguments: ["local", "rooms-k3x9", "ip-10-0-0-1.ec2.internal-8080", "node:with:colons"])
    func marksNameTheirOwnerAndRun(owner: String) {
        let run = String(randomSecret().prefix(12))
        let token = JanusMarks.tokenPrefix(owner: owner, run: run) + randomSecret()
        #expect(JanusMarks.mark(ofToken: token)?.owner == owner)
        #expect(JanusMarks.mark(ofToken: token)?.run == run)
        let description = JanusMarks.description(owner: owner, run: run)
        #expect(JanusMarks.mark(ofDescription: description)?.owner == owner)
        #expect(JanusMarks.mark(ofDescription: description)?.run == run)
    }

    @Test func whatPlazaDidNotMarkIsNotRead() {
        for token in ["someone-elses", "plaza.", "plaza.a.b", "plaza.owner.not-hex.secret"] {
            #expect(JanusMarks.mark(ofToken: token) == nil, "\(token)")
        }
        for description in [nil, "Demo room", "plaza:", "plaza:owner", "plaza:owner:not hex"] {
            #expect(JanusMarks.mark(ofDescription: description) == nil, "\(description ?? "nil")")
        }
    }
}
