import Testing
import Foundation
import PlazaTesting

/// The shipped Prometheus configuration (deploy/prometheus) scraping a live node, with the real `prometheus`.
@Suite(.serialized) struct PrometheusTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("deploy/prometheus")

    @Test func theShippedConfigurationScrapesANode() async throws {
        let server = try await TestServer.start()
        let (client, _) = try await server.enter("scraped", name: "Ann")
        // The shipped file, scraping every second instead of every 15 s so the test is quick.
        let shipped = try String(contentsOf: Self.deploy.appendingPathComponent("prometheus.yml"), encoding: .utf8)
        let configuration = shipped.replacingOccurrences(of: "scrape_interval: 15s", with: "scrape_interval: 1s")
            .replacingOccurrences(of: "scrape_timeout: 5s", with: "scrape_timeout: 1s")
        #expect(configuration != shipped)
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
