import Testing
import Foundation
import PlazaTesting
import PlazaRoles
import PlazaTransport
import PlazaDirectory
import PlazaFleetModel

/// The shipped Prometheus configuration (deploy/prometheus) scraping a live node, with the real `prometheus`.
@Suite(.serialized) struct PrometheusTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("deploy/prometheus")

    @Test func theShippedConfigurationScrapesANode() async throws {
        let server = try await TestServer.start()
        let (client, _) = try await server.enter("scraped", name: "Ann")
        // The shipped file, scraping every second instead of every 15 s so the test is quick.
        let shipped = try String(contentsOf: Self.deploy.appendingPathComponent("prometheus.yml"), encoding: .utf8)
        let configuration = try substituting(
            [("scrape_interval: 15s", "scrape_interval: 1s"), ("scrape_timeout: 5s", "scrape_timeout: 1s")], in: shipped)
        let prometheus = try PrometheusServer.start(configuration: configuration) { directory in
            try FileManager.default.createDirectory(atPath: directory + "/targets", withIntermediateDirectories: true)
            try #"[{"targets": ["127.0.0.1:\#(server.port)"], "labels": {"region": "test"}}]"#
                .write(toFile: directory + "/targets/nodes.json", atomically: true, encoding: .utf8)
            try "[]".write(toFile: directory + "/targets/directories.json", atomically: true, encoding: .utf8)
        }
        defer { prometheus.stop() }

        var connections: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            connections = try await prometheus.query(#"plaza_connections{job="plaza-node",region="test"}"#)
            if let value = connections.first?["value"] as? [Any], value.last as? String == "1" { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let value = (connections.first?["value"] as? [Any])?.last as? String
        #expect(value == "1", "Prometheus sees the node's one connection: \(connections)")
        let up = try await prometheus.query(#"up{job="plaza-node"}"#)
        #expect((up.first?["value"] as? [Any])?.last as? String == "1")
        client.close()
        try await server.stop()
    }
}

/// A directory taking node load from a real Prometheus (`cluster.loadSource` prometheus).
@Suite(.serialized) struct PrometheusLoadSourceTests {
    @Test func nodesExportTheirLoadAndADirectoryPlacesByPrometheusFigures() async throws {
        let store = try PostgresServer.shared().createDatabase()
        let configure: (inout PlazaConfiguration) -> Void = { configuration in
            ClusterTests.fast(&configuration)
            configuration.roomServer.capacity = 100
        }
        let a = try await TestServer.startNode("node-a", fleetStore: store, configure: configure)
        let b = try await TestServer.startNode("node-b", fleetStore: store, configure: configure)
        let prometheus = try PrometheusServer.start(
            configuration: """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: plaza-node
                    static_configs:
                      - targets: ["127.0.0.1:\(a.port)", "127.0.0.1:\(b.port)"]
                """)
        defer { prometheus.stop() }

        // The default queries give each node's participants and CPU under its id.
        let defaults = PlazaConfiguration().directory
        let (ann, _) = try await a.enter("scraped", name: "Ann")
        func byNode(_ query: String) async throws -> [String: String] {
            var values: [String: String] = [:]
            for series in try await prometheus.query(query) {
                if let node = (series["metric"] as? [String: Any])?["node"] as? String,
                    let value = (series["value"] as? [Any])?.last as? String
                {
                    values[node] = value
                }
            }
            return values
        }
        var participants: [String: String] = [:]
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            participants = try await byNode(defaults.prometheusParticipantsQuery)
            if participants == ["node-a": "1", "node-b": "0"] { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(participants == ["node-a": "1", "node-b": "0"], "Ann is on node-a: \(participants)")
        #expect(Set(try await byNode(defaults.prometheusCPUQuery).keys) == ["node-a", "node-b"])

        // A directory reading Prometheus: here a query saying node-a is at 90 of its 100 participants, while
        // both nodes report next to nothing themselves. New rooms avoid node-a.
        let directory = try await TestServer.startDirectory(fleetStore: store) { configuration in
            ClusterTests.fast(&configuration)
            configuration.directory.loadSource = .prometheus
            configuration.directory.prometheusURL = "http://127.0.0.1:\(prometheus.port)"
            configuration.directory.prometheusInterval = 1
            configuration.directory.prometheusParticipantsQuery = #"label_replace(vector(90), "node", "node-a", "", "")"#
        }
        let source = try #require(directory.directory.prometheus)
        #expect(try await eventually { source.latest != nil }, "the directory read Prometheus")
        var homes: [String: Int] = [:]
        for i in 0..<20 {
            let answer = try await directory.request("POST", "/api/v1/join", body: #"{"room":"p-\#(i)","name":"Bob"}"#)
            homes[answer.json.string("node") ?? "?", default: 0] += 1
        }
        #expect(homes == ["node-b": 20], "placement follows Prometheus: \(homes)")
        ann.close()
        for server in [directory, a, b] { try await server.stop() }
    }
}
