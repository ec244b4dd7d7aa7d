import Testing
import Foundation
import Configuration
import PlazaCore
import PlazaFleetModel
import PlazaRoles

/// The one configuration reader: every key lands where its component reads it, and the README documents it.
@Suite struct ConfigurationTests {
    func configuration(_ values: [String: ConfigContent]) -> PlazaConfiguration {
        var entries: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in values { entries[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = .init(value, isSecret: false) }
        return PlazaConfiguration(reader: ConfigReader(provider: InMemoryProvider(values: entries)))
    }

    @Test func keysLandInTheirComponents() throws {
        let c = configuration([
            "server.port": .int(9000), "limits.frameBytes": .int(4096), "limits.participantsPerRoom": .int(3),
            "chat.resumeWindow": .int(7), "cluster.leaseTTL": .double(9), "cluster.heartbeatTTL": .double(12),
            "space.spawnX": .double(10), "space.spawnY": .double(20), "media.bridgeRooms": .string("team-, *"),
            "media.bridgeKind": .string("janus"), "agent.kind": .string("jibri"), "cluster.capacity": .int(42),
            "auth.secret": .string(String(repeating: "s", count: 32)), "directory": .string("http://d.example"),
        ])
        #expect(c.http.port == 9000 && c.roomServer.webSocket.frameBytes == 4096)
        #expect(c.roomServer.rooms.limits.participantsPerRoom == 3 && c.roomServer.rooms.resumeWindow == 7)
        #expect(c.roomServer.leaseTTL == 9 && c.directory.leaseTTL == 9, "one lease for node and directory")
        #expect(c.directory.heartbeatTTL == 12 && c.space.spawn == Position(x: 10, y: 20))
        #expect(c.directory.media.bridgeRooms == ["team-", "*"] && c.directory.media.bridgeKind == .janus)
        #expect(c.agent.kind == .jibri && c.roomServer.capacity == 42 && c.agent.registration(id: "j").capacity == 1)
        #expect(c.auth.secret?.count == 32 && c.directoryURL == "http://d.example")
        try c.validate()
        // Defaults: one place for each, the agent's capacity by kind.
        let defaults = configuration([:])
        #expect(defaults.roomServer.capacity == NodeKind.roomServer.defaultCapacity)
        #expect(configuration(["agent.kind": .string("jvb")]).agent.registration(id: "b").capacity == 500)
    }

    @Test func withDomainsThePortIsHTTPSUnlessGiven() {
        #expect(configuration([:]).http.port == 8080)
        let automatic = configuration(["tls.domains": .stringArray(["party.example.com"])])
        #expect(automatic.http.port == 443 && automatic.http.tls.usesACME && automatic.http.tls.httpPort == 80)
        #expect(configuration(["tls.domains": .stringArray(["party.example.com"]), "server.port": .int(8443)]).http.port == 8443)
        let lists = configuration([
            "turn.urls": .stringArray(["turn:a.example:3478?transport=udp"]), "turn.secret": .string("0123456789abcdef"),
            "auth.previousSecrets": .stringArray([String(repeating: "p", count: 32)]), "ice.transportPolicy": .string("relay"),
        ])
        #expect(lists.http.turn.urls.count == 1 && lists.auth.previousSecrets.count == 1 && lists.http.iceTransportPolicy == "relay")
        #expect((try? lists.validate()) != nil)
    }

    @Test func aValueThatCannotWorkNamesItsKey() {
        for (values, key) in [
            (["cluster.loadSource": ConfigContent.string("gossip")], "cluster.loadSource"),
            (["media.bridgeKind": .string("jibri")], "media.bridgeKind"),
            (["limits.frameBytes": .int(10)], "limits.frameBytes"),
            (["cluster.heartbeatInterval": .double(10)], "cluster.leaseTTL"),
            (["cluster.heartbeatInterval": .double(10), "cluster.leaseTTL": .double(20)], "cluster.heartbeatTTL"),
            (["turn.urls": .stringArray(["turn:a.example"])], "turn.secret"),
            (["turn.urls": .stringArray(["http://a.example"]), "turn.secret": .string("0123456789abcdef")], "turn.urls"),
            (["ice.transportPolicy": .string("relay")], "ice.transportPolicy"),
            (["ice.transportPolicy": .string("none")], "ice.transportPolicy"),
            (["auth.previousSecrets": .stringArray(["short"])], "auth.previousSecrets"),
            (["tls.certificate": .string("c.pem")], "tls.key"),
        ] {
            #expect(throws: ConfigurationError.self) { try configuration(values).validate() }
            do { try configuration(values).validate() } catch { #expect(error.key == key) }
        }
        var agent = configuration(["agent.kind": .string("room-server"), "instanceID": .string("x")]).agent
        #expect(throws: ConfigurationError.self) { try agent.validate() }
        agent = configuration(["agent.kind": .string("custom"), "instanceID": .string("x")]).agent
        do { try agent.validate() } catch { #expect(error.key == "agent.api") }
    }

    @Test func everyKeyIsInTheREADMEsTable() throws {
        let readme = try String(contentsOfFile: #filePath.replacingOccurrences(of: "/Tests/PlazaServerTests/ConfigurationTests.swift", with: "/README.md"), encoding: .utf8)
        for name in PlazaConfiguration.keyNames {
            for key in name.split(separator: ",").map({ $0.trimmingWhitespace() }) {
                #expect(readme.contains("| `\(key)`") || readme.contains(", `\(key)`"), "\(key) is not documented")
            }
        }
    }
}
