import Foundation
import Testing
import WireFuzzHarness

/// Every committed fuzz find, and every vector's bytes, go through the fuzz harness on every test run, so that a
/// crash found once stays fixed (the harness also checks that decoded messages round-trip).
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func committedFindsStayFixed() throws {
        let directory = Self.root.appendingPathComponent("Tools/fuzz/regressions")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "README.md" }
        for file in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            // Each find runs through every target: a file named after the target that found it is the usual case,
            // and the others must not crash on it either.
            for target in WireFuzzHarness.Target.allCases { data.withUnsafeBytes { WireFuzzHarness.run(target, $0) } }
        }
    }

    @Test func everyVectorRunsThroughTheHarness() throws {
        var count = 0
        for name in ["messages.json", "invalid.json", "compression.json"] {
            for vector in VectorTests.vectors(name) {
                let bytes = try hex(vector["hex"])
                for target in WireFuzzHarness.Target.allCases {
                    bytes.withUnsafeBytes { WireFuzzHarness.run(target, $0) }
                }
                count += 1
            }
        }
        #expect(count > 60)
    }
}
