import Foundation
import NIOCore

/// The page and everything it loads (script, style, the hex map and its licence, the OpenAPI file), read once from
/// the module's resources at start: the binary serves all of it, with no CDN and no build step.
struct StaticFiles: Sendable {
    struct File: Sendable {
        var body: ByteBuffer
        var contentType: String
    }

    let files: [String: File]

    /// Reads every file of the resources folder; fails when the folder is missing (a broken install).
    static func load() throws -> StaticFiles {
        guard let folder = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw StaticFilesError(message: "the page's files are missing from the results-web bundle")
        }
        var files: [String: File] = [:]
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        for name in names where !name.hasPrefix(".") {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            files[name] = File(body: ByteBuffer(bytes: data), contentType: contentType(of: name))
        }
        guard files["index.html"] != nil else {
            throw StaticFilesError(message: "index.html is missing from the results-web bundle")
        }
        return StaticFiles(files: files)
    }

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last.map(String.init) {
        case "html": return "text/html; charset=utf-8"
        case "js": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json", "hexjson": return "application/json; charset=utf-8"
        case "yaml": return "application/yaml; charset=utf-8"
        case "png": return "image/png"
        case "svg": return "image/svg+xml"
        default: return "text/plain; charset=utf-8"
        }
    }
}

struct StaticFilesError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
