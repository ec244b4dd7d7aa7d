// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// The packages Plaza builds on, by what they are for.
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let configuration = Target.Dependency.product(name: "Configuration", package: "swift-configuration")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let cryptoExtras = Target.Dependency.product(name: "CryptoExtras", package: "swift-crypto")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioWebSocket = Target.Dependency.product(name: "NIOWebSocket", package: "swift-nio")
let nioHTTPTypes = Target.Dependency.product(name: "NIOHTTPTypes", package: "swift-nio-extras")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let systemPackage = Target.Dependency.product(name: "SystemPackage", package: "swift-system")
let asyncHTTPClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
let histogram = Target.Dependency.product(name: "Histogram", package: "hdrhistogram-swift")
let heap = Target.Dependency.product(name: "HeapModule", package: "swift-collections")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdWebSocket = Target.Dependency.product(name: "HummingbirdWebSocket", package: "hummingbird-websocket")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let jwtKit = Target.Dependency.product(name: "JWTKit", package: "jwt-kit")
let sqliteNIO = Target.Dependency.product(name: "SQLiteNIO", package: "sqlite-nio")
let postgresNIO = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")
let x509 = Target.Dependency.product(name: "X509", package: "swift-certificates")
let asn1 = Target.Dependency.product(name: "SwiftASN1", package: "swift-asn1")

/// A library target of Plaza, importing the targets and products it names.
func library(_ name: String, _ dependencies: [Target.Dependency] = [], resources: [Resource]? = nil) -> Target {
    .target(name: name, dependencies: dependencies, resources: resources, swiftSettings: swiftSettings)
}

/// A test target: `Tests/<name>`.
func tests(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .testTarget(name: name, dependencies: dependencies, swiftSettings: swiftSettings)
}

/// The libraries other packages may use, leaves first.
let libraries = [
    "PlazaCore", "PlazaProtocol", "PlazaFleetModel", "PlazaPlacement", "PlazaAutoscaling", "PlazaStore", "PlazaSQLite",
    "PlazaPostgres", "PlazaMemoryStore", "PlazaAuth", "PlazaRooms", "PlazaMedia", "PlazaTLS", "PlazaTransport", "PlazaDirectory", "PlazaFleet", "PlazaTesting",
    "PlazaSimulation",
]

let package = Package(
    name: "plaza",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "plaza", targets: ["plaza"])] + libraries.map { .library(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.1.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.25.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
    ],
    targets: [
        // Leaves first: each target imports only targets above it. docs/architecture.md draws the graph.

        // The room domain: rooms' pure state, the chat log state machine, the spatial grid, limits, the clock.
        library("PlazaCore"),
        // The wire protocol: frames, error and close codes, their JSON encoding, and reasons mapped to codes.
        library("PlazaProtocol", ["PlazaCore"]),
        // The fleet's vocabulary: node kinds, typed names, reports, the occupancy rule, instances.
        library("PlazaFleetModel", ["PlazaCore"]),
        // Where a room goes: pure functions of the nodes' loads, time and randomness.
        library("PlazaPlacement", ["PlazaFleetModel"]),
        // Fleet autoscaling decisions: CloudWatch-style alarms, step, target-tracking and availability policies,
        // scale-in order. Pure functions of metrics and time, like placement.
        library("PlazaAutoscaling", ["PlazaFleetModel", "PlazaPlacement"]),
        // What `plaza simulate` replays: workloads from trace files or drawn for a synthetic week.
        library("PlazaSimulation", ["PlazaPlacement", "PlazaFleet", "PlazaFleetModel", "PlazaAutoscaling", "PlazaStore", "PlazaMemoryStore", "PlazaCore", logging, histogram, heap]),
        // The stores' protocols, one per concern, and the records they exchange.
        library("PlazaStore", ["PlazaCore", "PlazaFleetModel", "PlazaPlacement"]),
        // The embedded engine of every store: one SQLite file.
        library("PlazaSQLite", ["PlazaStore", "PlazaPlacement", sqliteNIO, logging]),
        // The PostgreSQL engine of every store, for processes of a fleet that share one database.
        library("PlazaPostgres", ["PlazaStore", "PlazaFleetModel", "PlazaPlacement", postgresNIO, logging]),
        // Every store in this process's memory: what `plaza simulate` runs the fleet on.
        library("PlazaMemoryStore", ["PlazaStore", "PlazaPlacement", "PlazaFleetModel", "PlazaCore"]),
        // Room-scoped tokens: issuing our own and verifying an external auth service's.
        library("PlazaAuth", ["PlazaCore", jwtKit, crypto, cryptoExtras]),
        // The process's Prometheus metrics, with bounded labels.
        library("PlazaMetrics", ["PlazaProtocol", prometheus]),
        // Rooms: room actors, the registry, fan-out behind the `Outbound` protocol, the map file. No HTTP, no sockets.
        library(
            "PlazaRooms", ["PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaFleetModel", "PlazaAuth", "PlazaMetrics", logging]),
        // The browser client: HTML, CSS and JavaScript modules served as they are, and the built-in map.
        library("PlazaWebClient", resources: [.copy("Web")]),
        // glibc's allocator controls Swift's Glibc module leaves out (`malloc_trim`).
        .target(name: "CAllocator"),
        // Plaza's one outbound HTTP client, on async-http-client.
        library("PlazaHTTPClient", [asyncHTTPClient, nioCore, nioHTTP1]),
        // Media bridges as Plaza drives them: Janus's Admin API (conference rooms, participants' tokens, load).
        library("PlazaMedia", ["PlazaHTTPClient", crypto]),
        // HTTPS: certificate files reloaded in place, or certificates obtained and renewed over ACME; the certificate
        // chosen per connection (NIOSSL), the TLS-ALPN-01 challenge answered from the ClientHello.
        library(
            "PlazaTLS",
            ["PlazaCore", "PlazaHTTPClient", nioSSL, x509, asn1, crypto, asyncHTTPClient, nioCore, nioHTTP1, logging, serviceLifecycle, unixSignals]),
        // The transport: Hummingbird routes, the WebSocket session and its bounded queue, HTTP errors, the room
        // server role.
        library(
            "PlazaTransport",
            [
                "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaFleetModel", "PlazaPlacement", "PlazaAuth", "PlazaMetrics",
                "PlazaRooms", "PlazaWebClient", "PlazaHTTPClient", "PlazaTLS", "PlazaMedia", "CAllocator", hummingbird, hummingbirdWebSocket, nioHTTPTypes, httpTypes, logging, serviceLifecycle,
            ]),
        // The directory role: the join allocator, the fleet and recording routes, the Prometheus load source.
        library(
            "PlazaDirectory",
            [
                "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaFleetModel", "PlazaPlacement", "PlazaAuth", "PlazaTransport",
                "PlazaHTTPClient", hummingbird, logging, serviceLifecycle,
            ]),
        // The autoscaler at work: pool files, providers (local processes, operator scripts, AWS), the reconcile
        // loop with its leader lease, draining and health replacement; the agent beside media servers.
        library(
            "PlazaFleet",
            [
                "PlazaCore", "PlazaFleetModel", "PlazaAutoscaling", "PlazaStore", "PlazaPlacement", "PlazaHTTPClient", "PlazaMedia",
                "PlazaWebSocketClient", crypto, logging, serviceLifecycle,
            ]),
        // The composition roots: each role put together, stores opened by URL, the configuration tree and its
        // reader. Only the executable and the test harness import it.
        library(
            "PlazaRoles",
            [
                "PlazaCore", "PlazaStore", "PlazaFleetModel", "PlazaPlacement", "PlazaRooms", "PlazaTransport", "PlazaDirectory",
                "PlazaFleet", "PlazaAuth", "PlazaMetrics", "PlazaSQLite", "PlazaPostgres", "PlazaWebClient", "PlazaTLS", configuration, logging,
                serviceLifecycle, unixSignals, nioCore, systemPackage,
            ]),
        // A minimal WebSocket client with the controls load generators and protocol tests need.
        library("PlazaWebSocketClient", [nioCore, nioPosix, nioWebSocket, nioSSL]),
        // Load generators over real WebSockets and HTTP (`plaza bench`).
        library(
            "PlazaBench",
            [
                "PlazaWebSocketClient", "PlazaStore", "PlazaFleetModel", "PlazaPlacement", "PlazaRoles", "PlazaHTTPClient",
                "PlazaTesting", "PlazaTLS", "PlazaFleet", "PlazaProtocol", nioCore, nioPosix, nioHTTP1, nioSSL, x509, asn1, crypto, asyncHTTPClient, logging, histogram,
            ]),
        // Test harness shipped as a target: live roles on free loopback ports, real servers, real clients.
        library(
            "PlazaTesting",
            [
                "PlazaRoles", "PlazaTransport", "PlazaDirectory", "PlazaRooms", "PlazaCore", "PlazaProtocol",
                "PlazaWebSocketClient", "PlazaStore", "PlazaHTTPClient", "PlazaFleet", "PlazaMemoryStore", nioCore, nioPosix, logging,
            ]),
        .executableTarget(
            name: "plaza",
            dependencies: [
                "PlazaRoles", "PlazaBench", "PlazaFleet", "PlazaSimulation", "PlazaDirectory", "PlazaStore", "PlazaFleetModel", "PlazaHTTPClient",
                "PlazaCore", argumentParser, serviceLifecycle, unixSignals, configuration, systemPackage, logging, nioCore,
            ],
            swiftSettings: swiftSettings
        ),
        tests("PlazaCoreTests", ["PlazaCore", "PlazaProtocol"]),
        tests("PlazaPlacementTests", ["PlazaPlacement", "PlazaFleetModel"]),
        tests("PlazaAutoscalingTests", ["PlazaAutoscaling", "PlazaFleetModel"]),
        tests("PlazaSimulationTests", ["PlazaSimulation", "PlazaFleet", "PlazaFleetModel", "PlazaAutoscaling", "PlazaStore", "PlazaTesting", logging]),
        tests("PlazaRoomsTests", ["PlazaRooms", "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaAuth", "PlazaMetrics"]),
        tests("PlazaTransportTests", ["PlazaTransport", "PlazaProtocol"]),
        tests("PlazaTLSTests", ["PlazaTLS", "PlazaCore", nioSSL, nioCore, nioEmbedded, x509, crypto, logging]),
        tests("PlazaStoreTests", ["PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaPlacement", "PlazaFleetModel", "PlazaTesting"]),
        tests(
            "PlazaFleetTests",
            [
                "PlazaFleet", "PlazaAutoscaling", "PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaTesting", "PlazaWebSocketClient",
                "PlazaRoles", "PlazaFleetModel", "PlazaPlacement", "PlazaMedia", hummingbird,
            ]),
        tests(
            "PlazaServerTests",
            [
                "PlazaTesting", "PlazaRoles", "PlazaTransport", "PlazaDirectory", "PlazaRooms", "PlazaAuth", "PlazaProtocol",
                "PlazaWebSocketClient", "PlazaBench", "PlazaFleet", "PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaFleetModel",
                "PlazaCore", "PlazaHTTPClient", "PlazaMedia", hummingbird, jwtKit, cryptoExtras, configuration,
            ]),
    ]
)
