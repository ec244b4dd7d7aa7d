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
        .library(name: "PlazaStore", targets: ["PlazaStore"]),
        .library(name: "PlazaPostgres", targets: ["PlazaPostgres"]),
        .library(name: "PlazaPlacement", targets: ["PlazaPlacement"]),
        .library(name: "PlazaAutoscaling", targets: ["PlazaAutoscaling"]),
        .library(name: "PlazaFleet", targets: ["PlazaFleet"]),
        .library(name: "PlazaAuth", targets: ["PlazaAuth"]),
        .library(name: "PlazaServer", targets: ["PlazaServer"]),
        .library(name: "PlazaTesting", targets: ["PlazaTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.1.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.25.0"),
    ],
    targets: [
        // The room/session domain: rooms, presence, chat ordering, the spatial grid. No networking.
        .target(
            name: "PlazaCore",
            swiftSettings: swiftSettings
        ),
        // The wire protocol: frames, error codes, close codes, and their JSON encoding.
        .target(
            name: "PlazaProtocol",
            dependencies: ["PlazaCore"],
            swiftSettings: swiftSettings
        ),
        // Durable state behind one protocol: chat log, schema migrations. SQLite for one machine.
        .target(
            name: "PlazaStore",
            dependencies: [
                "PlazaCore", "PlazaPlacement",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Control-plane decisions: where a room goes. Pure functions of state, time and randomness.
        .target(
            name: "PlazaPlacement",
            swiftSettings: swiftSettings
        ),
        // Fleet autoscaling decisions: CloudWatch-style alarms, step, target-tracking and availability policies.
        // Pure functions of metrics and time, like placement.
        .target(
            name: "PlazaAutoscaling",
            swiftSettings: swiftSettings
        ),
        // The autoscaler at work: pool files, providers (local processes, operator scripts), the reconcile loop
        // with its leader lease, draining and health replacement.
        .target(
            name: "PlazaFleet",
            dependencies: [
                "PlazaCore", "PlazaAutoscaling", "PlazaStore", "PlazaPlacement", "PlazaWebSocketClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL engine of the store, for nodes that share one database.
        .target(
            name: "PlazaPostgres",
            dependencies: [
                "PlazaCore", "PlazaStore", "PlazaPlacement",
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
        // The transport: HTTP API and WebSocket on Hummingbird, metrics, configuration, services.
        .target(
            name: "PlazaServer",
            dependencies: [
                "PlazaCore", "PlazaProtocol", "PlazaStore", "PlazaAuth", "PlazaPostgres", "PlazaPlacement",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Web")],
            swiftSettings: swiftSettings
        ),
        // A minimal WebSocket client with the controls tests and load generators need.
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
                "PlazaWebSocketClient", "PlazaStore", "PlazaPlacement", "PlazaServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test harness shipped as a target: a live server on a free loopback port and real clients.
        .target(
            name: "PlazaTesting",
            dependencies: [
                "PlazaServer", "PlazaCore", "PlazaProtocol", "PlazaWebSocketClient", "PlazaStore", "PlazaPostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "plaza",
            dependencies: [
                "PlazaServer", "PlazaBench", "PlazaFleet", "PlazaPostgres", "PlazaStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PlazaPlacementTests", dependencies: ["PlazaPlacement"], swiftSettings: swiftSettings),
        .testTarget(name: "PlazaAutoscalingTests", dependencies: ["PlazaAutoscaling"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaFleetTests",
            dependencies: [
                "PlazaFleet", "PlazaAutoscaling", "PlazaStore", "PlazaPostgres", "PlazaTesting", "PlazaWebSocketClient",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "PlazaCoreTests", dependencies: ["PlazaCore", "PlazaProtocol"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaStoreTests", dependencies: ["PlazaStore", "PlazaPostgres", "PlazaPlacement", "PlazaTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PlazaServerTests",
            dependencies: [
                "PlazaTesting", "PlazaServer", "PlazaAuth", "PlazaProtocol", "PlazaWebSocketClient", "PlazaBench",
                "PlazaFleet", "PlazaStore", "PlazaPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
