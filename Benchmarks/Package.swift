// swift-tools-version:6.2
import PackageDescription

// The benchmarks are their own package so that the main package, its tests and CI never build ordo-one/benchmark
// or swift-protobuf. Run them with `swift package benchmark` from this folder (see README.md).

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ResultsHubBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named: a bare path takes its identity from the folder, which differs in CI's clone.
        .package(name: "ResultsHub", path: "../"),
        // Only the MallocInterposer trait: the default RuntimeInterposer trait pulls a package that is not available.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        // The runtime library only: `Sources/ResultsProto/results.pb.swift` is generated once and checked in.
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // The journal suite's `FileJournal` takes a `Logger`.
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // The Swift generated from `Proto/results.proto` (README.md has the command). No plugin at build time.
        .target(
            name: "ResultsProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // The data every benchmark uses, built from the embedded 2023 election, and the JSON and protobuf mirrors.
        .target(
            name: "BenchmarkFixtures",
            dependencies: [
                "ResultsProto",
                .product(name: "ElectionDefaults", package: "ResultsHub"),
                .product(name: "ElectionModel", package: "ResultsHub"),
                .product(name: "HubWire", package: "ResultsHub"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        // glibc's count of heap bytes in use (mallinfo2), for the retained-memory benchmark.
        .target(name: "CHeapBytes"),
        // Prints the wire bytes table (deterministic, so README.md quotes it exactly).
        .executableTarget(
            name: "compression-sizes",
            dependencies: [
                "BenchmarkFixtures",
                .product(name: "ElectionModel", package: "ResultsHub"),
                .product(name: "HubWire", package: "ResultsHub"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)

// Benchmark suites: `Benchmarks/<Name>/<Name>.swift`, as ordo-one/benchmark expects.
for (name, extra) in [
    ("CodecBenchmarks", [Target.Dependency]()),
    ("CompressionBenchmarks", []),
    ("HubCoreBenchmarks", [.product(name: "HubCore", package: "ResultsHub")]),
    ("HubMachineBenchmarks", ["CHeapBytes", .product(name: "HubCore", package: "ResultsHub")]),
    // HubJournal is not a product of the main package: the suite imports it through HubServer, which SwiftPM
    // builds and links with it.
    (
        "JournalBenchmarks",
        [
            .product(name: "HubCore", package: "ResultsHub"), .product(name: "HubServer", package: "ResultsHub"),
            .product(name: "Logging", package: "swift-log"),
        ]
    ),
] {
    package.targets.append(
        .executableTarget(
            name: name,
            dependencies: [
                "BenchmarkFixtures",
                "ResultsProto",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ElectionModel", package: "ResultsHub"),
                .product(name: "HubWire", package: "ResultsHub"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ] + extra,
            path: "Benchmarks/\(name)",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
