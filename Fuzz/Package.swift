// swift-tools-version: 6.0
// libFuzzer targets of Plaza: built only with `-sanitize=fuzzer` (they have no `main`; libFuzzer brings one).
// `Fuzz/run` builds and runs them; see Fuzz/README.md.
import PackageDescription

let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, swiftSettings: swiftSettings)
}

let package = Package(
    name: "plaza-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "plaza", path: ".."),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
    ],
    targets: [
        .target(name: "CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"], swiftSettings: swiftSettings),
        fuzzer("FuzzClientFrame", [.product(name: "PlazaProtocol", package: "plaza")]),
        fuzzer("FuzzMapFile", [.product(name: "PlazaRooms", package: "plaza"), .product(name: "PlazaCore", package: "plaza")]),
        fuzzer("FuzzPoolFile", [.product(name: "PlazaFleet", package: "plaza")]),
        fuzzer("FuzzClientHello", [.product(name: "PlazaTLS", package: "plaza")]),
        fuzzer(
            "FuzzToken",
            [
                .product(name: "PlazaAuth", package: "plaza"), .product(name: "PlazaCore", package: "plaza"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
    ]
)
