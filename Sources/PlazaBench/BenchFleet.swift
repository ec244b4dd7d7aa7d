import Foundation
import PlazaWebSocketClient

/// A fleet on one machine for the fleet benchmarks: `plaza directory` and `plaza node` processes on one store,
/// sharing an auth secret. Nodes are `node-0`, `node-1`, … on fixed ports, so a killed node can be started
/// again under its id and address.
struct BenchFleet: Sendable {
    let executable: String
    let store: String
    let environment: [String: String]
    let layout: Layout
    /// Every process over TLS with this certificate (https, wss), or plain.
    let tls: BenchTLS?
    private(set) var directories: [BenchServer] = []
    private(set) var nodes: [String: BenchServer] = [:]
    private let nodePorts: [Int]

    /// How particular processes differ from the rest, for the fault drills.
    struct Layout: Sendable {
        /// Environment variables added for a node or a directory (by index): a skewed clock, say.
        var nodeEnvironment: [Int: [String: String]] = [:]
        var directoryEnvironment: [Int: [String: String]] = [:]
        /// Another URL of the store for a node (by index): through a proxy that a drill cuts.
        var nodeStores: [Int: String] = [:]
        /// How many nodes `start` starts (the rest with `startNode`); all of them when nil.
        var startedNodes: Int?
    }

    static func nodeID(_ index: Int) -> String { "node-\(index)" }

    /// Starts `directories` directories and `nodes` nodes with `environment` (PLAZA_* settings) added; on a
    /// failure the processes already started are stopped.
    static func start(
        executable: String, store: String, nodes: Int, directories: Int, environment: [String: String],
        layout: Layout = Layout(), tls: BenchTLS? = nil
    ) async throws -> BenchFleet {
        let secret = (0..<4).map { _ in UUID().uuidString }.joined()
        var fleet = BenchFleet(
            executable: executable, store: store,
            environment: environment.merging(["PLAZA_AUTH_SECRET": secret]) { $1 }, layout: layout, tls: tls,
            nodePorts: try (0..<nodes).map { _ in try LoopbackPort.free() })
        do {
            for index in 0..<directories {
                let (secure, healthPort) = try fleet.tlsEnvironment()
                fleet.directories.append(
                    try await BenchServer.start(
                        executable: executable, arguments: ["directory", "--store", store], healthPort: healthPort,
                        environment: fleet.environment.merging(layout.directoryEnvironment[index] ?? [:]) { $1 }.merging(secure) { $1 }))
            }
            for index in 0..<(layout.startedNodes ?? nodes) { try await fleet.startNode(index) }
        } catch {
            fleet.stop()
            throw error
        }
        return fleet
    }

    /// The number of nodes, started or not.
    var nodeCount: Int { nodePorts.count }

    /// Starts node `index` (again, after a kill) under its id and port.
    mutating func startNode(_ index: Int) async throws {
        let port = nodePorts[index]
        let (secure, healthPort) = try tlsEnvironment()
        nodes[Self.nodeID(index)] = try await BenchServer.start(
            executable: executable,
            arguments: [
                "node", "--store", layout.nodeStores[index] ?? store, "--node-id", Self.nodeID(index),
                "--public-url", tls == nil ? "http://127.0.0.1:\(port)" : "https://localhost:\(port)",
            ],
            port: port, healthPort: healthPort,
            environment: environment.merging(layout.nodeEnvironment[index] ?? [:]) { $1 }.merging(secure) { $1 })
    }

    /// A process's TLS settings and the port of its plain listener, where its health is checked.
    private func tlsEnvironment() throws -> ([String: String], Int?) {
        guard let tls else { return ([:], nil) }
        let healthPort = try LoopbackPort.free()
        return (tls.environment(httpPort: healthPort), healthPort)
    }

    /// CPU seconds used so far by each process, keyed `directory-N` and by node id.
    func cpuSeconds() -> [String: Double] {
        var seconds: [String: Double] = [:]
        for (index, directory) in directories.enumerated() {
            seconds["directory-\(index)"] = ProcessSample.read(pid: directory.pid)?.cpuSeconds
        }
        for (id, node) in nodes { seconds[id] = ProcessSample.read(pid: node.pid)?.cpuSeconds }
        return seconds
    }

    func stop() {
        for process in directories + nodes.values { process.stop() }
    }
}

/// What `POST /api/v1/join` answered, reduced to what a generated client needs.
struct JoinAnswer: Sendable {
    var token: String
    var node: String?
    var host: String
    var port: Int
    var path: String

    init(status: Int, body: Data) throws {
        guard status == 200, let answer = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let token = answer["token"] as? String, let url = answer["url"] as? String,
            let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { throw BenchError("join answered \(status): \(String(decoding: body.prefix(200), as: UTF8.self))") }
        self.token = token
        self.node = answer["node"] as? String
        (self.host, self.port) = (host, port)
        self.path = components.path
    }
}

/// Per-process CPU over a measured interval: cores used by the directories, by the nodes and by each process
/// (`directory-N`, a node id, or `generator`).
func cpuCores(before: [String: Double], after: [String: Double], elapsed: Double) -> [String: Double] {
    var results: [String: Double] = [:]
    var directories = 0.0, nodes = 0.0
    for (name, end) in after {
        guard let start = before[name] else { continue }
        let cores = (end - start) / elapsed
        results["cpu_cores_\(name)"] = cores
        if name.hasPrefix("directory-") { directories += cores } else if name.hasPrefix("node-") { nodes += cores }
    }
    results["cpu_cores_directories"] = directories
    results["cpu_cores_nodes"] = nodes
    return results
}
