import ArgumentParser
import ElectionDefaults
import ElectionModel
import Foundation
import HubServer

extension ResultsHubCommand {
    /// `results-hub desks list | add | rotate | revoke | rehash`: edits the desks file, which stores only salted
    /// hashes of the tokens. A new token is shown once, in a file readable by its owner only, beside the desks file.
    /// A running hub takes the change on SIGHUP.
    struct Desks: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, add, rotate or revoke desks in the desks file (a running hub reloads it on SIGHUP).",
            subcommands: [List.self, Add.self, Rotate.self, Revoke.self, Rehash.self])
    }
}

/// Where the desks file is, and the election its regions must belong to.
struct DesksFileOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: "The hub's data directory; the desks file is DIR/desks.json.")
    var dataDirectory = "./hub-data"

    @Option(help: "The desks file, if the hub is started with --desks FILE.")
    var desks: String?

    @Option(help: "Election definition (JSON), to check region ids. Default: the embedded 2023 elections.")
    var election: String?

    var path: String { desks ?? "\(dataDirectory)/desks.json" }

    func load(mustExist: Bool = true) throws -> [StoredDesk] {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !mustExist, !FileManager.default.fileExists(atPath: path) { return [] }
            throw StartupError(
                "cannot read the desks file \(path); check --data or --desks (the hub writes it on its first start)")
        }
        let desks = try DesksFile.decode(data)
        let plain = DesksFile.plainTokenDesks(desks)
        if !plain.isEmpty {
            warn(
                "the desks file \(path) stores plain tokens for \(plain.joined(separator: ", ")); `results-hub desks rehash` stores only their hashes (the tokens stay valid)"
            )
        }
        return desks
    }

    /// Checks the desks against the election, then replaces the file atomically (0600).
    func save(_ desks: [StoredDesk]) throws {
        _ = try DeskDirectory(desks: desks, election: loadElection())
        try StartupChecks.replaceSecretFile(Array(DesksFile.encode(desks)), at: path)
    }

    func loadElection() throws -> Election {
        guard let election else { return try Election.england2023() }
        guard let data = FileManager.default.contents(atPath: election) else {
            throw StartupError("cannot read the election file \(election); check --election")
        }
        return try Election(json: data)
    }

    /// Writes plain credentials, readable by their owner only, to a new file beside the desks file (or `chosen`),
    /// and returns its path.
    func writeNewTokens(_ credentials: [DeskCredential], to chosen: String?) throws -> String {
        try DesksFileOptions.writeNewTokens(credentials, beside: path, to: chosen)
    }

    static func writeNewTokens(_ credentials: [DeskCredential], beside desksFile: String, to chosen: String?) throws
        -> String
    {
        let bytes = Array(DeskDirectory.encode(credentials)) + Array("\n".utf8)
        if let chosen {
            try StartupChecks.writeSecretFile(bytes, to: chosen)
            return chosen
        }
        let directory = URL(fileURLWithPath: desksFile).deletingLastPathComponent().path
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let stem = "\(directory)/desk-tokens-\(formatter.string(from: Date()))"
        // Never over an earlier file the operator has not moved away yet.
        for attempt in 1...100 {
            let candidate = attempt == 1 ? stem + ".json" : stem + "-\(attempt).json"
            guard !FileManager.default.fileExists(atPath: candidate) else { continue }
            try StartupChecks.writeSecretFile(bytes, to: candidate)
            return candidate
        }
        throw StartupError("too many desk-tokens files in \(directory); move them away")
    }
}

private func warn(_ line: String) {
    FileHandle.standardError.write(Data("results-hub: warning: \(line)\n".utf8))
}

private let reloadHint = "a running hub takes the change on SIGHUP: kill -HUP $(pgrep -x results-hub)"

private func tokenHint(_ file: String) -> String {
    "the token is in \(file) (readable by you only); give it to the desk, then move the file off this machine"
}

extension DeskCredential.Regions {
    var text: String {
        switch self {
        case .all: return "*"
        case .some(let ids): return ids.joined(separator: ",")
        }
    }
}

extension ResultsHubCommand.Desks {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each desk's id and regions (never a token).")

        @OptionGroup var file: DesksFileOptions

        func run() throws {
            let desks = try file.load()
            let width = desks.map(\.id.count).max() ?? 0
            for desk in desks.sorted(by: { $0.id < $1.id }) {
                say(desk.id.padding(toLength: width + 2, withPad: " ", startingAt: 0) + desk.regions.text)
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a desk with a new random token, shown once in a new file readable by you only.")

        @OptionGroup var file: DesksFileOptions

        @Argument(help: "The desk's id (1 to 64 bytes).")
        var id: String

        @Option(help: "The regions it may declare for: region ids separated by commas, or * for every region.")
        var regions: String

        @Option(
            help: "Where to write the new token (a new file). Default: desk-tokens-TIME.json beside the desks file.")
        var tokenFile: String?

        func validate() throws {
            guard !id.isEmpty, id.utf8.count <= 64 else { throw ValidationError("the desk id must be 1 to 64 bytes") }
            guard !regions.split(separator: ",").isEmpty else {
                throw ValidationError("--regions needs region ids separated by commas, or * for every region")
            }
        }

        func run() throws {
            var desks = try file.load(mustExist: false)
            guard !desks.contains(where: { $0.id == id }) else {
                throw StartupError(
                    "desk \(id) already exists; `results-hub desks rotate \(id)` gives it a new token")
            }
            let scope: DeskCredential.Regions =
                regions == "*"
                ? .all : .some(regions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            let credential = DeskCredential(id: id, token: DeskDirectory.newToken(), regions: scope)
            desks.append(StoredDesk(credential))
            try file.save(desks)
            let tokens = try file.writeNewTokens([credential], to: tokenFile)
            say("results-hub: added desk \(id) (regions: \(scope.text)) to \(file.path); \(tokenHint(tokens))")
            say("results-hub: \(reloadHint)")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a desk a new token; on reload its connections with the old one are closed.")

        @OptionGroup var file: DesksFileOptions

        @Argument(help: "The desk's id.")
        var id: String

        @Option(
            help: "Where to write the new token (a new file). Default: desk-tokens-TIME.json beside the desks file.")
        var tokenFile: String?

        func run() throws {
            var desks = try file.load()
            guard let index = desks.firstIndex(where: { $0.id == id }) else {
                throw StartupError("no desk \(id) in \(file.path); `results-hub desks list` shows the desks")
            }
            let credential = DeskCredential(id: id, token: DeskDirectory.newToken(), regions: desks[index].regions)
            desks[index] = StoredDesk(credential)
            try file.save(desks)
            let tokens = try file.writeNewTokens([credential], to: tokenFile)
            say("results-hub: rotated the token of desk \(id) in \(file.path); \(tokenHint(tokens))")
            say("results-hub: \(reloadHint)")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a desk; on reload its open connections are closed.")

        @OptionGroup var file: DesksFileOptions

        @Argument(help: "The desk's id.")
        var id: String

        func run() throws {
            var desks = try file.load()
            guard desks.contains(where: { $0.id == id }) else {
                throw StartupError("no desk \(id) in \(file.path); `results-hub desks list` shows the desks")
            }
            desks.removeAll { $0.id == id }
            try file.save(desks)
            say("results-hub: revoked desk \(id) in \(file.path)")
            say("results-hub: \(reloadHint)")
        }
    }

    struct Rehash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Replace the plain tokens of a desks file in the previous format by their hashes (the tokens stay valid)."
        )

        @OptionGroup var file: DesksFileOptions

        func run() throws {
            let desks = try file.load()
            let plain = DesksFile.plainTokenDesks(desks)
            guard !plain.isEmpty else {
                say("results-hub: \(file.path) already stores only hashes")
                return
            }
            try file.save(
                desks.map { desk in
                    guard let token = desk.token else { return desk }
                    return StoredDesk(DeskCredential(id: desk.id, token: token, regions: desk.regions))
                })
            say(
                "results-hub: \(file.path) now stores hashes for \(plain.joined(separator: ", ")); their tokens stay valid"
            )
        }
    }
}
