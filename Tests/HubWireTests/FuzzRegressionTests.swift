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
            data.withUnsafeBytes { WireFuzzHarness.frames($0) }
        }
    }

    @Test func everyVectorRunsThroughTheHarness() throws {
        var count = 0
        for name in ["messages.json", "invalid.json", "compression.json"] {
            for vector in VectorTests.vectors(name) {
                let bytes = try hex(vector["hex"])
                bytes.withUnsafeBytes { WireFuzzHarness.frames($0) }
                count += 1
            }
        }
        #expect(count > 60)
    }
}
