// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "plaza",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "plaza", targets: ["plaza"]),
        .library(name: "PlazaCore", targets: ["PlazaCore"]),
        .library(name: "PlazaProtocol", targets: ["PlazaProtocol"]),
        .library(name: "PlazaFleetModel", targets: ["PlazaFleetModel"]),
        .library(name: "PlazaPlacement", targets: ["PlazaPlacement"]),
        .library(name: "PlazaAutoscaling", targets: ["PlazaAutoscaling"]),
        .library(name: "PlazaStore", targets: ["PlazaStore"]),
        .library(name: "PlazaSQLite", targets: ["PlazaSQLite"]),
        .library(name: "PlazaPostgres", targets: ["PlazaPostgres"]),
        .library(name: "PlazaAuth", targets: ["PlazaAuth"]),
        .library(name: "PlazaRooms", targets: ["PlazaRooms"]),
        .library(name: "PlazaTransport", targets: ["PlazaTransport"]),
        .library(name: "PlazaDirectory", targets: ["PlazaDirectory"]),
        .library(name: "PlazaFleet", targets: ["PlazaFleet"]),
        .library(name: "PlazaTesting", targets: ["PlazaTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.1.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.25.0"),
    ],
    targets: [
        // Leaves first: each target imports only targets above it. docs/architecture.md draws the graph.

        // The room domain: rooms' pure state, the chat log state machine, the spatial grid, limits, the clock.
        .target(name: "PlazaCore", swiftSettings: swiftSettings),
        // The wire protocol: frames, error and close codes, their JSON encoding, and reasons mapped to codes.
        .target(name: "PlazaProtocol", dependencies: ["PlazaCore"], swiftSettings: swiftSettings),
        // The fleet's vocabulary: node kinds, typed names, reports, the occupancy rule, instances.
        .target(name: "PlazaFleetModel", dependencies: ["PlazaCore"], swiftSettings: swiftSettings),
        // Where a room goes: pure functions of the nodes' loads, time and randomness.
        .target(name: "PlazaPlacement", dependencies: ["PlazaFleetModel"], swiftSettings: swiftSettings),
        // Fleet autoscaling decisions: CloudWatch-style alarms, step, target-tracking and availability policies,
        // scale-in order. Pure functions of metrics and time, like placement.
        .target(name: "PlazaAutoscaling", dependencies: ["PlazaFleetModel", "PlazaPlacement"], swiftSettings: swiftSettings),
        // The stores' protocols, one per concern, and the records they exchange.
        .target(
            name: "PlazaStore", dependencies: ["PlazaCore", "PlazaFleetModel", "PlazaPlacement"], swiftSettings: swiftSettings),
        // The embedded engine of every store: one SQLite file.
        .target(
            name: "PlazaSQLite",
            dependencies: [
                "PlazaStore", "PlazaPlacement",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL engine of every store, for processes of a fleet that share one database.
        .target(
            name: "PlazaPostgres",
            dependencies: [
                "PlazaStore", "PlazaPlacement",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Room-scoped tokens: issuing our own and verifying an external auth service's.
        .target(
            name: "PlazaAuth",
            dependencies: [
                "PlazaCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The process's Prometheus metrics, with bounded labels.
        .target(
            name: "PlazaMetrics",
            dependencies: ["PlazaProtocol", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: swiftSettings
        ),
        // Rooms: room actors, the registry, fan-out behind the `Outbound` protocol, the map file. No HTTP, no sockets.
        .target(
            name: "PlazaRooms",
            dependencies: [
                "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaFleetModel", "PlazaAuth", "PlazaMetrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
        // The browser client: HTML, CSS and JavaScript modules served as they are, and the built-in map.
        .target(name: "PlazaWebClient", resources: [.copy("Web")], swiftSettings: swiftSettings),
        // Plaza's one outbound HTTP client, on async-http-client.
        .target(
            name: "PlazaHTTPClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The transport: Hummingbird routes, the WebSocket session and its bounded queue, HTTP errors, the room
        // server role.
        .target(
            name: "PlazaTransport",
            dependencies: [
                "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaFleetModel", "PlazaAuth", "PlazaMetrics", "PlazaRooms",
                "PlazaWebClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The directory role: the join allocator, the fleet and recording routes, the Prometheus load source.
        .target(
            name: "PlazaDirectory",
            dependencies: [
                "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaFleetModel", "PlazaPlacement", "PlazaAuth", "PlazaTransport",
                "PlazaHTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The autoscaler at work: pool files, providers (local processes, operator scripts, AWS), the reconcile
        // loop with its leader lease, draining and health replacement; the agent beside media servers.
        .target(
            name: "PlazaFleet",
            dependencies: [
                "PlazaCore", "PlazaFleetModel", "PlazaAutoscaling", "PlazaStore", "PlazaPlacement", "PlazaHTTPClient", "PlazaWebSocketClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The composition roots: each role put together, stores opened by URL. Only the executable and the test
        // harness import it.
        .target(
            name: "PlazaRoles",
            dependencies: [
                "PlazaCore", "PlazaStore", "PlazaFleetModel", "PlazaRooms", "PlazaTransport", "PlazaDirectory", "PlazaFleet",
                "PlazaAuth", "PlazaMetrics", "PlazaSQLite", "PlazaPostgres", "PlazaWebClient",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // A minimal WebSocket client with the controls load generators and protocol tests need.
        .target(
            name: "PlazaWebSocketClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Load generators over real WebSockets and HTTP (`plaza bench`).
        .target(
            name: "PlazaBench",
            dependencies: [
                "PlazaWebSocketClient", "PlazaStore", "PlazaFleetModel", "PlazaPlacement", "PlazaRoles", "PlazaHTTPClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test harness shipped as a target: live roles on free loopback ports, real servers, real clients.
        .target(
            name: "PlazaTesting",
            dependencies: [
                "PlazaRoles", "PlazaTransport", "PlazaDirectory", "PlazaRooms", "PlazaCore", "PlazaProtocol",
                "PlazaWebSocketClient", "PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaHTTPClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "plaza",
            dependencies: [
                "PlazaRoles", "PlazaBench", "PlazaFleet", "PlazaDirectory", "PlazaStore", "PlazaFleetModel", "PlazaHTTPClient",
                "PlazaCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PlazaPlacementTests", dependencies: ["PlazaPlacement", "PlazaFleetModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaAutoscalingTests", dependencies: ["PlazaAutoscaling", "PlazaFleetModel"], swiftSettings: swiftSettings),
        .testTarget(name: "PlazaCoreTests", dependencies: ["PlazaCore", "PlazaProtocol"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaRoomsTests",
            dependencies: ["PlazaRooms", "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaAuth", "PlazaMetrics"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaFleetTests",
            dependencies: [
                "PlazaFleet", "PlazaAutoscaling", "PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaTesting", "PlazaWebSocketClient",
                "PlazaRoles", "PlazaFleetModel", "PlazaPlacement",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaStoreTests",
            dependencies: ["PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaPlacement", "PlazaFleetModel", "PlazaTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaServerTests",
            dependencies: [
                "PlazaTesting", "PlazaRoles", "PlazaTransport", "PlazaDirectory", "PlazaRooms", "PlazaAuth", "PlazaProtocol",
                "PlazaWebSocketClient", "PlazaBench", "PlazaFleet", "PlazaStore", "PlazaSQLite", "PlazaPostgres", "PlazaFleetModel",
                "PlazaCore", "PlazaHTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
