// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ResultsHub",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ElectionModel", targets: ["ElectionModel"]),
        .library(name: "HubWire", targets: ["HubWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")
    ],
    targets: [
        // zlib from the system (zlib1g-dev): preset dictionaries and raw deflate need the C API itself.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Parties, regions, contests, declarations, validation and the scoreboard. No I/O.
        .target(
            name: "ElectionModel",
            swiftSettings: strictSettings
        ),
        // The embedded default election (4 May 2023 English local elections), shipped as a resource.
        .target(
            name: "ElectionDefaults",
            dependencies: ["ElectionModel"],
            resources: [.copy("Resources/england-2023.json")],
            swiftSettings: strictSettings
        ),
        // Wire protocol v1: frames, messages, compression, state checksum. No I/O beyond ByteBuffer.
        .target(
            name: "HubWire",
            dependencies: [
                "ElectionModel",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Fuzzing (Tools/fuzz/run.sh): the harness is a library so that the tests replay the regression corpus too.
        .target(
            name: "WireFuzzHarness",
            dependencies: ["HubWire", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tools/fuzz/Harness",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FrameFuzzer",
            dependencies: ["WireFuzzHarness"],
            path: "Tools/fuzz/FrameFuzzer",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ElectionModelTests",
            dependencies: ["ElectionModel", "ElectionDefaults"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HubWireTests",
            dependencies: [
                "HubWire",
                "ElectionModel",
                "ElectionDefaults",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                "WireFuzzHarness",
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
